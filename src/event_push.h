/*
 * event_push.h
 *		What the push receiver's two background workers share: the
 *		receiver (event_receiver.c: HTTP, and the spool it appends to before
 *		answering 200) and the merger (event_merge.c and event_attempts.c:
 *		drains the spool into task_history / task_live).
 *
 * The spool (raydar.event_spool) is the hand-over: a body is acknowledged
 * once its spool row has committed; the merger consumes spool rows in id
 * (that is, commit) order and deletes them in the transaction that stores
 * their effects, so every acknowledged body is merged exactly once across
 * crashes of either worker.
 */
#ifndef RAYDAR_EVENT_PUSH_H
#define RAYDAR_EVENT_PUSH_H

#include "postgres.h"

#include "port/atomics.h"
#include "ray_version.h"

/* Shared memory of the two workers (reset with the rest on a crash restart). */
typedef struct EventPushShared
{
	/*
	 * Bytes and bodies in raydar.event_spool: the receiver adds what it
	 * committed, the merger subtracts what it consumed. Valid once counted
	 * is set: the receiver counts the table when it starts, and the merger
	 * drains nothing before that, so no subtraction races the count.
	 */
	pg_atomic_uint64 spool_bytes;
	pg_atomic_uint64 spool_bodies;
	pg_atomic_uint32 counted;
	/* The merger's pgprocno + 1 (0: not running): its latch is set to wake it. */
	pg_atomic_uint32 merger_procno;
} EventPushShared;

extern EventPushShared *event_push_shared;

/*
 * Take what the merger consumed off the spool counters, never below zero:
 * the receiver recounts the table every few seconds, and a recount between
 * a drain's commit and this subtraction must not wrap the counters.
 */
static inline void
event_push_spool_sub(pg_atomic_uint64 *counter, uint64 n)
{
	uint64		old = pg_atomic_read_u64(counter);

	while (!pg_atomic_compare_exchange_u64(counter, &old, old > n ? old - n : 0))
		;
}

/* Settings (event_receiver.c defines them; the merger reads them). */
extern int	event_receiver_retention_s;
extern int	event_rejects_max;
extern int	event_spool_max_mb;
extern int	event_merge_chunk_kb;
extern int	event_merge_delay_ms;
extern int	event_definition_wait_s;
extern int	event_job_end_wait_s;
extern int	event_worker_death_wait_s;
extern int	event_session_wait_s;

/* A cluster as the merger needs it. */
typedef struct PushClusterInfo
{
	bool		found;
	RayVersion	v;
	bool		polled;			/* also a tracked foreign server: task_live is the poller's */

	/*
	 * The incarnation of the cluster's newest session (NULL before its
	 * first): only its attempts are shown live. A Ray cluster runs one
	 * session at a time, so an older session's attempts that were pending
	 * or running will not finish (see bind_session in event_merge.c).
	 */
	char	   *live_inc;
} PushClusterInfo;

/*
 * The cluster's Ray version, whether it is also polled, and its newest
 * session's incarnation (SPI connected).
 */
extern void event_push_cluster_info(const char *cluster, PushClusterInfo *ci);

/* Keep a rejected event or body in raydar.event_rejects (SPI connected). */
extern void event_push_reject(const char *cluster, const char *node, const char *reason,
							  const char *event, size_t len);

/* An error that means "PostgreSQL cannot take writes now" (retry later). */
extern bool event_push_transient(int sqlerrcode);

/* Is raydar (with the receiver's tables) installed in this database? */
extern bool event_push_extension_ready(void);

/*
 * A push worker's start: signals, the connection to raydar.database, its
 * application_name and its synchronous_commit.
 */
extern void event_push_worker_begin(const char *name, const char *synchronous_commit);

#endif							/* RAYDAR_EVENT_PUSH_H */
