/*
 * ray_parse_ahead.h
 *		Event Export bodies parsed in a thread of their own, ahead of their
 *		use: while the push merger writes one chunk of spooled bodies, the
 *		next chunk's are parsed on another core.
 *
 * The caller (src/event_merge.c) submits bodies under their spool ids; the
 * thread parses them in order with ray_event_batch_parse; the caller takes
 * each when it reaches it. A body not yet begun is parsed by the taker
 * itself (it never waits behind a queue), one being parsed is waited for
 * (one body, milliseconds), and one parsed for another Ray version than
 * the taker's is parsed again. Everything an entry holds (its copy of the
 * body, its batch) is owned here until ray_parse_ahead_release(): the
 * caller borrows it for one drain, and an error that leaves the drain
 * early loses nothing, since the next release frees what was taken.
 *
 * Only the caller's thread calls these functions; the thread they start
 * calls nothing but ray_event_batch_parse and libc. PostgreSQL-free.
 */
#ifndef RAY_PARSE_AHEAD_H
#define RAY_PARSE_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray_event_json.h"
#include "ray_status.h"
#include "ray_version.h"

typedef struct RayParseAhead RayParseAhead;

/* One body, parsed (borrowed from the RayParseAhead until its release). */
typedef struct RayParsedBody
{
	int64_t		id;
	char	   *body;			/* a copy, NUL-terminated */
	size_t		len;
	RayVersion	v;				/* the version it was parsed for */
	RayStatus	status;			/* of ray_event_batch_parse */
	RayEventBatch *batch;		/* RAY_OK: its events (malloc'd arena) */
	char		err[256];		/* otherwise: why */
} RayParsedBody;

/* Start the thread; an error (err says why) leaves *out NULL. */
extern RayStatus ray_parse_ahead_start(RayParseAhead **out, char *err, size_t errlen);

/*
 * Queue a body (copied) for the thread. False, with nothing queued, if
 * memory ran out or the id is not above every id already held (ids are
 * the spool's, submitted in order).
 */
extern bool ray_parse_ahead_submit(RayParseAhead *pa, int64_t id, const RayVersion *v,
								   const char *body, size_t len);

/* Ids held and not yet taken, ascending, into ids (at most max); the count. */
extern size_t ray_parse_ahead_held(RayParseAhead *pa, int64_t *ids, size_t max);

/* The largest id held and not yet taken, or -1. */
extern int64_t ray_parse_ahead_last(RayParseAhead *pa);

/*
 * The body submitted as id, parsed for v; NULL if none is held. It stays
 * valid until ray_parse_ahead_release().
 */
extern const RayParsedBody *ray_parse_ahead_take(RayParseAhead *pa, int64_t id, const RayVersion *v);

/* Free the entries not taken whose id is below id (they will never be). */
extern void ray_parse_ahead_drop_below(RayParseAhead *pa, int64_t id);

/* Free every entry taken. */
extern void ray_parse_ahead_release(RayParseAhead *pa);

/* Stop the thread and free everything (tests; a worker just exits). */
extern void ray_parse_ahead_stop(RayParseAhead *pa);

#endif							/* RAY_PARSE_AHEAD_H */
