/*
 * ray_enums.c
 *		Ray's enum tables (Ray's common.proto, per version).
 *
 * TaskStatus is the only table whose numbers depend on the version: Ray
 * 2.39 inserted two states at 6 and 7 and shifted RUNNING..FAILED by two.
 * TaskType and Language never changed. ErrorType gained 27..32 after
 * 2.49 and at the same time dropped 2 (OBJECT_UNRECONSTRUCTABLE) without
 * reserving it: a 2.58 server may still send 2 from an old worker, and
 * its dashboard shows it as the number (test/fixtures/ray-wire/ray-2.58).
 * The exact release is not pinned down (somewhere in 2.50..2.58): 2.50 is
 * taken as the boundary.
 */
#include "ray_enums.h"

#include <stdio.h>
#include <strings.h>

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* Ray <= 2.38 */
static const char *const task_status_old[] = {
	"NIL", "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
	"PENDING_OBJ_STORE_MEM_AVAIL", "PENDING_ARGS_FETCH",
	"SUBMITTED_TO_WORKER", "RUNNING", "RUNNING_IN_RAY_GET",
	"RUNNING_IN_RAY_WAIT", "FINISHED", "FAILED",
};

/* Ray >= 2.39; 13 appeared on master in Oct 2025 (about 2.51). */
static const char *const task_status_new[] = {
	"NIL", "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
	"PENDING_OBJ_STORE_MEM_AVAIL", "PENDING_ARGS_FETCH",
	"SUBMITTED_TO_WORKER", "PENDING_ACTOR_TASK_ARGS_FETCH",
	"PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY", "RUNNING",
	"RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT", "FINISHED", "FAILED",
	"GETTING_AND_PINNING_ARGS",
};

static const char *const task_type_names[] = {
	"NORMAL_TASK", "ACTOR_CREATION_TASK", "ACTOR_TASK", "DRIVER_TASK",
};

static const char *const language_names[] = {"PYTHON", "JAVA", "CPP"};

static const char *const error_type_names[] = {
	"WORKER_DIED", "ACTOR_DIED", "OBJECT_UNRECONSTRUCTABLE",
	"TASK_EXECUTION_EXCEPTION", "OBJECT_IN_PLASMA", "TASK_CANCELLED",
	"ACTOR_CREATION_FAILED", "RUNTIME_ENV_SETUP_FAILED", "OBJECT_LOST",
	"OWNER_DIED", "OBJECT_DELETED", "DEPENDENCY_RESOLUTION_FAILED",
	"OBJECT_UNRECONSTRUCTABLE_MAX_ATTEMPTS_EXCEEDED",
	"OBJECT_UNRECONSTRUCTABLE_LINEAGE_EVICTED", "OBJECT_FETCH_TIMED_OUT",
	"LOCAL_RAYLET_DIED", "TASK_PLACEMENT_GROUP_REMOVED",
	"ACTOR_PLACEMENT_GROUP_REMOVED", "TASK_UNSCHEDULABLE_ERROR",
	"ACTOR_UNSCHEDULABLE_ERROR", "OUT_OF_DISK_ERROR", "OBJECT_FREED",
	"OUT_OF_MEMORY", "NODE_DIED", "END_OF_STREAMING_GENERATOR",
	"ACTOR_UNAVAILABLE",		/* 2.11 */
	"GENERATOR_TASK_FAILED_FOR_OBJECT_RECONSTRUCTION",	/* 2.48 */
	"OBJECT_UNRECONSTRUCTABLE_PUT",		/* 27..32: master, Jan 2026 */
	"OBJECT_UNRECONSTRUCTABLE_RETRIES_DISABLED",
	"OBJECT_UNRECONSTRUCTABLE_BORROWED",
	"OBJECT_UNRECONSTRUCTABLE_REF_NOT_FOUND",
	"OBJECT_UNRECONSTRUCTABLE_TASK_CANCELLED",
	"OBJECT_UNRECONSTRUCTABLE_LINEAGE_DISABLED",
};

static const char *
lookup(const char *const *table, int n, int number)
{
	return (number >= 0 && number < n) ? table[number] : NULL;
}

#define NAME(table, v) lookup(table, lengthof(table), v)

static void
status_table(const RayVersion *v, const char *const **table, int *n)
{
	if (ray_version_new_task_status(v))
	{
		*table = task_status_new;
		*n = lengthof(task_status_new);
	}
	else
	{
		*table = task_status_old;
		*n = lengthof(task_status_old);
	}
}

const char *
ray_task_status_name(const RayVersion *v, int number)
{
	const char *const *table;
	int			n;

	status_table(v, &table, &n);
	return lookup(table, n, number);
}

int
ray_task_status_from_name(const RayVersion *v, const char *name)
{
	const char *const *table;
	int			n;

	status_table(v, &table, &n);
	for (int i = 0; i < n; i++)
		if (strcasecmp(table[i], name) == 0)
			return i;
	return -1;
}

int
ray_task_status_number(const RayVersion *v, RayTaskState st)
{
	bool		new_numbers = ray_version_new_task_status(v);

	switch (st)
	{
		case RAY_TS_NIL:
			return 0;
		case RAY_TS_PENDING_ARGS_AVAIL:
			return 1;
		case RAY_TS_PENDING_NODE_ASSIGNMENT:
			return 2;
		case RAY_TS_SUBMITTED_TO_WORKER:
			return 5;
		case RAY_TS_RUNNING:
			return new_numbers ? 8 : 6;
		case RAY_TS_FINISHED:
			return new_numbers ? 11 : 9;
		case RAY_TS_FAILED:
			return new_numbers ? 12 : 10;
		case RAY_TS_OTHER:
			break;
	}
	return -1;
}

RayTaskState
ray_task_status_meaning(const RayVersion *v, int number)
{
	static const RayTaskState fixed[] = {
		RAY_TS_PENDING_ARGS_AVAIL, RAY_TS_PENDING_NODE_ASSIGNMENT,
		RAY_TS_SUBMITTED_TO_WORKER, RAY_TS_RUNNING, RAY_TS_FINISHED,
		RAY_TS_FAILED, RAY_TS_NIL,
	};

	for (int i = 0; i < lengthof(fixed); i++)
		if (ray_task_status_number(v, fixed[i]) == number)
			return fixed[i];
	return RAY_TS_OTHER;
}

const char *
ray_task_type_name(int number)
{
	return lookup(task_type_names, lengthof(task_type_names), number);
}

const char *
ray_language_name(int number)
{
	return lookup(language_names, lengthof(language_names), number);
}

const char *
ray_error_type_name(int number)
{
	return lookup(error_type_names, lengthof(error_type_names), number);
}

const char *
ray_error_type_name_v(const RayVersion *v, int number)
{
	bool		split = ray_version_has(v, RAY_FACT_ERROR_TYPE_27_32);

	if ((split && number == 2) || (!split && number >= 27))
		return NULL;
	return ray_error_type_name(number);
}

/*
 * The GCS's other enums (Ray's gcs.proto): actors, nodes, workers and
 * placement groups. Only PlacementGroupState depends on the version
 * (RAY_FACT_PG_STATE_PREPARED).
 */
static const char *const actor_states[] = {
	"DEPENDENCIES_UNREADY", "PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD",
};
static const char *const node_states[] = {"ALIVE", "DEAD"};
static const char *const death_reasons[] = {
	"UNSPECIFIED", "EXPECTED_TERMINATION", "UNEXPECTED_TERMINATION",
	"AUTOSCALER_DRAIN_PREEMPTED", "AUTOSCALER_DRAIN_IDLE",
};
static const char *const worker_types[] = {"WORKER", "DRIVER", "SPILL_WORKER", "RESTORE_WORKER"};
static const char *const exit_types[] = {
	"SYSTEM_ERROR", "INTENDED_SYSTEM_EXIT", "USER_ERROR", "INTENDED_USER_EXIT",
	"NODE_OUT_OF_MEMORY",
};
static const char *const pg_strategies[] = {"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"};
static const char *const pg_states_old[] = {"PENDING", "CREATED", "REMOVED", "RESCHEDULING"};
static const char *const pg_states_new[] = {"PENDING", "PREPARED", "CREATED", "REMOVED", "RESCHEDULING"};

const char *ray_actor_state_name(int v) { return NAME(actor_states, v); }
const char *ray_node_state_name(int v) { return NAME(node_states, v); }
const char *ray_node_death_reason_name(int v) { return NAME(death_reasons, v); }
const char *ray_worker_type_name(int v) { return NAME(worker_types, v); }
const char *ray_worker_exit_type_name(int v) { return NAME(exit_types, v); }
const char *ray_pg_strategy_name(int v) { return NAME(pg_strategies, v); }

const char *
ray_pg_state_name(const RayVersion *ver, int v)
{
	return ray_version_has(ver, RAY_FACT_PG_STATE_PREPARED)
		? NAME(pg_states_new, v) : NAME(pg_states_old, v);
}

const char *
ray_enum_text(const char *name, int number, char *buf)
{
	if (name != NULL)
		return name;
	snprintf(buf, RAY_ENUM_NAME_MAX, "%d", number);
	return buf;
}
