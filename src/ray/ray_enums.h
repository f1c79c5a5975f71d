/*
 * ray_enums.h
 *		Names of Ray's enum values, by version: every enum table raydar
 *		knows (tasks, errors, actors, nodes, workers, placement groups).
 *
 * The proto declares enum-typed fields as int32 so that values this build
 * has never heard of survive decoding; this file turns numbers into the
 * names Ray's State API shows, and a number it does not know into its
 * decimal text, as the contract requires.
 */
#ifndef RAY_ENUMS_H
#define RAY_ENUMS_H

#include <stdbool.h>
#include "ray_version.h"

/* Task states we derive things from, by meaning rather than number. */
typedef enum RayTaskState
{
	RAY_TS_NIL,
	RAY_TS_PENDING_ARGS_AVAIL,
	RAY_TS_PENDING_NODE_ASSIGNMENT,
	RAY_TS_SUBMITTED_TO_WORKER,
	RAY_TS_RUNNING,
	RAY_TS_FINISHED,
	RAY_TS_FAILED,
	RAY_TS_OTHER				/* any other state, known or not */
} RayTaskState;

/* Buffer big enough for any name or a decimal int32. */
#define RAY_ENUM_NAME_MAX 64

/*
 * TaskStatus: the version's number for a state, and the meaning of a number.
 * ray_task_status_number returns -1 if the version has no such state.
 */
extern int	ray_task_status_number(const RayVersion *v, RayTaskState st);
extern RayTaskState ray_task_status_meaning(const RayVersion *v, int number);

/*
 * Name of a value, or NULL if this build does not know it. The *_text
 * variants never fail: unknown values come back as decimal text in buf.
 */
extern const char *ray_task_status_name(const RayVersion *v, int number);
extern const char *ray_task_type_name(int number);
extern const char *ray_language_name(int number);
extern const char *ray_error_type_name(int number);
/*
 * The same as server version v declares it: from 2.50 ErrorType has
 * 27..32 and no longer 2 (Ray's common.proto; the 2.58 vectors), before
 * 2.50 it has no 27..32. A number v does not declare has no name.
 */
extern const char *ray_error_type_name_v(const RayVersion *v, int number);

/* The GCS's other enums (gcs.proto). */
extern const char *ray_actor_state_name(int v);
extern const char *ray_node_state_name(int v);
extern const char *ray_node_death_reason_name(int v);
extern const char *ray_worker_type_name(int v);
extern const char *ray_worker_exit_type_name(int v);
extern const char *ray_pg_strategy_name(int v);
extern const char *ray_pg_state_name(const RayVersion *ver, int v);	/* renumbered in 2.36 */

extern const char *ray_enum_text(const char *name, int number, char *buf);

/* Reverse lookup for the state filter: number for a name, -1 if unknown. */
extern int	ray_task_status_from_name(const RayVersion *v, const char *name);

#endif							/* RAY_ENUMS_H */
