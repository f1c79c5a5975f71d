/*
 * ray_grpc.h
 *		A unary gRPC client on grpc's core C API, safe inside a PostgreSQL
 *		backend.
 *
 * Rules it follows (network code inside a PostgreSQL backend):
 *  - grpc_init runs lazily, on first use, never at load time: under
 *    shared_preload_libraries load time is the postmaster, which forks
 *    every backend and must never own grpc threads.
 *  - every grpc call that may start a library thread runs with all signals
 *    blocked, so grpc's threads inherit a full mask and PostgreSQL's signal
 *    handlers only ever run on the backend's own thread;
 *  - every wait is a loop of 100 ms ticks; after each tick the caller's
 *    interrupt check decides whether to cancel, so query cancel and
 *    statement_timeout act within about 100 ms;
 *  - nothing here calls PostgreSQL, ereports or longjmps: a cancelled or
 *    failed call is cleaned up before returning a RayStatus, and the
 *    caller raises the error afterwards.
 */
#ifndef RAY_GRPC_H
#define RAY_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "ray_status.h"

typedef struct RayGrpcChannel RayGrpcChannel;

/* Milliseconds between interrupt checks while waiting. */
#define RAY_GRPC_TICK_MS 100

/*
 * A channel to host:port, never through a proxy. Replies over
 * max_reply_bytes (0 or more than Ray's 512 MiB: 512 MiB) are refused by
 * grpc as they arrive, with RAY_ERR_TOO_LARGE.
 */
extern RayGrpcChannel *ray_grpc_channel_create(const char *target, size_t max_reply_bytes,
											   char *err, size_t errlen);

/*
 * TLS to the GCS (Ray's RAY_USE_TLS): PEM files, read when the channel is
 * made. ca_file verifies the GCS's certificate (NULL: grpc's default
 * roots); cert_file + key_file are the client certificate a GCS with
 * RAY_USE_TLS requires (mutual TLS). All NULL: plaintext.
 */
typedef struct RayGrpcTls
{
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
} RayGrpcTls;

/* As ray_grpc_channel_create, over TLS when tls names any file. */
extern RayGrpcChannel *ray_grpc_channel_create_tls(const char *target, size_t max_reply_bytes,
												   const RayGrpcTls *tls,
												   char *err, size_t errlen);
extern void ray_grpc_channel_destroy(RayGrpcChannel *ch);

/* grpc's version string, for raydar.build_info(). */
extern const char *ray_grpc_version(void);

/* Release grpc (joins its threads) if it was started; at process exit. */
extern void ray_grpc_shutdown(void);

/*
 * Wait until the channel is connected, at most timeout_ms.
 * RAY_ERR_UNAVAILABLE if the server refuses or cannot be reached,
 * RAY_ERR_TIMEOUT if nothing happened in time, RAY_ERR_CANCELLED if
 * interrupted.
 */
extern RayStatus ray_grpc_connect(RayGrpcChannel *ch, int timeout_ms,
								  RayInterruptFn interrupted, void *arg,
								  char *err, size_t errlen);

/*
 * Whether the channel's connection may be a new one since the last time
 * this was asked: true the first time, and after the connection left READY
 * (the server restarted or went away; grpc reconnects on its own). A
 * connected channel is watched, on a completion queue of its own, so a
 * restart is seen even when the reconnect already happened.
 */
extern bool ray_grpc_connection_new(RayGrpcChannel *ch);

/*
 * One unary call. `bearer` (may be NULL) is sent as
 * "authorization: Bearer <bearer>". On RAY_OK the reply bytes are in
 * *reply (allocated with alloc, or malloc if NULL; *reply_len may be 0).
 */
extern RayStatus ray_grpc_unary(RayGrpcChannel *ch, const char *method,
								const uint8_t *request, size_t request_len,
								const char *bearer, int timeout_ms,
								RayInterruptFn interrupted, void *arg,
								ProtobufCAllocator *alloc,
								uint8_t **reply, size_t *reply_len,
								char *err, size_t errlen);

#endif							/* RAY_GRPC_H */
