/*
 * event_attempts.h
 *		Merging pushed task events per (cluster, incarnation, task_id,
 *		attempt) into raydar.event_attempts, and writing the merged attempts'
 *		rows to task_history / task_live through history_store.c.
 *
 * All functions need a transaction, an active snapshot and SPI_connect
 * (the merger's drain transaction); errors are ERRORs.
 */
#ifndef RAYDAR_EVENT_ATTEMPTS_H
#define RAYDAR_EVENT_ATTEMPTS_H

#include "event_push.h"
#include "ray_event_json.h"

/* One task event of a drained chunk. */
typedef struct AttemptKey
{
	int			item;			/* arrival order within the chunk */
	const char *inc;			/* the incarnation its session is bound to */
	const Ray__Rpc__TaskEvents *te;
	const uint8_t *event_id;
	size_t		event_id_len;
	int		   *ndup;			/* its body's duplicate counter */
} AttemptKey;

/*
 * Merge the task events keys[0, n) of cluster (any incarnations, any
 * order: sorted here, arrival order kept per attempt) and write the rows
 * of the attempts they touch. Task events are deduplicated here, per
 * attempt (event_attempts.event_ids holds a 64-bit hash of each event id
 * merged into the attempt): an attempt's row is read and written anyway,
 * where a separate id table cost four random index inserts per attempt.
 * A duplicate adds one to *ndup of its key.
 */
extern void event_attempts_merge(const char *cluster, const PushClusterInfo *ci,
								 AttemptKey *keys, int n);

/*
 * Attempts that are FINISHED or FAILED but whose definition has not
 * arrived within raydar.event_definition_wait: stored in task_history as
 * Ray shows them (empty definition fields). Returns how many.
 */
extern uint64 event_attempts_settle_undefined(void);

/*
 * Jobs whose FINISHED arrived raydar.event_job_end_wait ago
 * (raydar.event_job_ends): their attempts that are neither FINISHED nor
 * FAILED marked FAILED as Ray's GCS marks them when a job ends. Returns
 * how many attempts.
 */
extern uint64 event_attempts_fail_ended_jobs(void);

/*
 * Mark FAILED, as Ray's GCS does when a worker dies, the attempts each
 * pushed dead worker (raydar.event_worker_deaths) left neither FINISHED
 * nor FAILED, once raydar.event_worker_death_wait has passed since its
 * death was merged and no body of its cluster received before then is
 * still spooled; once per worker. Skips polled clusters (the poller keeps
 * the GCS's own marks). SPI connected, in a transaction. Returns the
 * attempts marked.
 */
extern uint64 event_attempts_fail_dead_workers(void);

/* Attempts merged since the merger last ANALYZEd (it resets it). */
extern uint64 event_attempts_merged;

#endif							/* RAYDAR_EVENT_ATTEMPTS_H */
