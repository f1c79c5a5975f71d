/*
 * ray_event_worker.h
 *		Ray's worker lifecycle events (Event Export, 2026, sent by the GCS
 *		with RAY_enable_ray_event=1 when WORKER_LIFECYCLE_EVENT is among the
 *		aggregator's exposable types) read for what raydar uses of them: the
 *		death of a worker.
 *
 * Ray's GCS makes one from the worker's WorkerTableData each time it is
 * written (src/ray/observability/ray_worker_lifecycle_event.cc): ALIVE
 * with the start times, or DEAD with end_time_ms and death_info (exit_type,
 * exit_detail), the same row it then hands to GcsTaskManager::OnWorkerDead,
 * which marks the attempts that worker ran and that have not finished as
 * FAILED (MarkTasksFailedOnWorkerDead in gcs_task_manager.cc). Ray exports
 * nothing of that marking, so the merger does it from this event
 * (event_attempts_fail_dead_workers). Field numbers and names:
 * src/ray/protobuf/public/events_worker_lifecycle_event.proto.
 * PostgreSQL-free.
 */
#ifndef RAY_EVENT_WORKER_H
#define RAY_EVENT_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ray_json_read.h"

/* Ray's event type number of WORKER_LIFECYCLE_EVENT (events_base_event.proto). */
#define RAY_EVENT_TYPE_WORKER_LIFECYCLE 16

/* Largest end_time_ms taken: its value in ns must fit in int64. */
#define RAY_WORKER_MAX_END_MS (INT64_MAX / 1000000)

typedef struct RayWorkerDeath
{
	uint8_t		worker_id[RAY_JSON_MAX_ID];
	size_t		worker_id_len;	/* > 0 */
	bool		dead;			/* the event holds a DEAD transition (else only ALIVE) */
	int64_t		end_ms;			/* DEAD: end_time_ms, Unix ms */
	int32_t		exit_type;		/* DEAD: WorkerExitType number (SYSTEM_ERROR 0 ... NODE_OUT_OF_MEMORY 4) */
	const char *exit_detail;	/* DEAD: "" if none */
} RayWorkerDeath;

/*
 * The payload p of a WORKER_LIFECYCLE_EVENT into a new RayWorkerDeath from
 * c's arena; NULL when rejected (c says why) or out of memory (c->oom). Of
 * several DEAD transitions (Ray sends one), the last one counts.
 */
extern RayWorkerDeath *ray_event_worker_read(RayJsonRead *c, const cJSON *p);

#endif							/* RAY_EVENT_WORKER_H */
