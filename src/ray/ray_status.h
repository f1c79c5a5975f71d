/*
 * ray_status.h
 *		Result codes of the PostgreSQL-free core.
 *
 * The core never aborts and never longjmps: every failure is one of these
 * plus a message in a caller-supplied buffer, which the extension turns
 * into an ereport with the right SQLSTATE.
 */
#ifndef RAY_STATUS_H
#define RAY_STATUS_H

#include <stdbool.h>

typedef enum RayStatus
{
	RAY_OK = 0,
	RAY_ERR_MALFORMED,			/* bytes are not the message they claim */
	RAY_ERR_TOO_LARGE,			/* larger than raydar accepts */
	RAY_ERR_OOM,
	RAY_ERR_BAD_ID,				/* an ID of the wrong length or not hex */
	RAY_ERR_UNSUPPORTED,		/* the server's version cannot express it */
	RAY_ERR_CANCELLED,			/* the caller's interrupt check asked to stop */
	RAY_ERR_UNAVAILABLE,		/* could not connect, or the connection broke */
	RAY_ERR_TIMEOUT,			/* a deadline passed */
	RAY_ERR_UNAUTHENTICATED,	/* the server refused our token (or its absence) */
	RAY_ERR_RPC					/* any other gRPC failure */
} RayStatus;

/*
 * Cancellation. The core's loops that grow with a reply (wire walks, row
 * derivation, copying a received reply) ask the process's interrupt check
 * every RAY_INTERRUPT_EVERY items and stop with RAY_ERR_CANCELLED when it
 * says so, freeing what they built: a cancel or statement_timeout takes
 * effect within milliseconds even on a 500 MB reply. The extension installs
 * a check that reads PostgreSQL's pending-interrupt flags; the unit tests
 * and the fuzzer leave it unset (never interrupted).
 */
typedef bool (*RayInterruptFn) (void *arg);

#define RAY_INTERRUPT_EVERY 1024

extern void ray_set_interrupt_check(RayInterruptFn fn, void *arg);
extern bool ray_interrupted(void);

/* Largest reply raydar accepts: Ray's own max_grpc_message_size. */
#define RAY_MAX_MESSAGE_SIZE ((size_t) 512 * 1024 * 1024)

#endif							/* RAY_STATUS_H */
