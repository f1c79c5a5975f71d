/*
 * ray_event_worker.c
 *		A worker lifecycle event read for its DEAD transition (see
 *		ray_event_worker.h).
 *
 * The JSON is protobuf's mapping of WorkerLifecycleEvent: workerId
 * (base64), jobId, stateTransitions [{state: ALIVE | DEAD, timestamp,
 * workerLaunchTimeMs, workerLaunchedTimeMs, startTimeMs, endTimeMs,
 * deathInfo: {exitType, exitDetail, memoryUsedBytes}}]. uint64 values come
 * as strings; state and exitType as names or numbers. Ray prints fields
 * without presence even at their default (ray-event-export.md), but a
 * missing one is read as its default, as protobuf's parser does: a
 * transition without "state" is ALIVE (0), a death without "exitType" is
 * SYSTEM_ERROR (0).
 */
#include "ray_event_worker.h"

#include <string.h>

#include "ray_enums.h"

/* WorkerLifecycleEvent.State */
#define WORKER_ALIVE 0
#define WORKER_DEAD 1

static const char *const worker_states[] = {"ALIVE", "DEAD"};

static const char *
worker_state_name(int n)
{
	return n >= 0 && n < (int) (sizeof(worker_states) / sizeof(worker_states[0])) ? worker_states[n] : NULL;
}

/* One transition: a DEAD one fills w. */
static bool
read_transition(RayJsonRead *c, const cJSON *t, RayWorkerDeath *w)
{
	bool		has;
	int32_t		state = WORKER_ALIVE;
	int64_t		end_ms = 0;
	int32_t		exit_type = 0;
	const char *detail = NULL;
	const cJSON *di;

	if (!cJSON_IsObject(t))
		return ray_json_reject(c, "a state transition is not an object");
	if (!ray_json_enum(c, t, "state", worker_state_name, 2, &has, &state))
		return false;
	if (state != WORKER_DEAD)
		return true;			/* ALIVE (or a state added later): nothing raydar uses */
	if (!ray_json_int(c, t, "endTimeMs", 0, RAY_WORKER_MAX_END_MS, &has, &end_ms))
		return false;
	di = ray_json_member(t, "deathInfo");
	if (di != NULL)
	{
		if (!cJSON_IsObject(di))
			return ray_json_reject(c, "\"deathInfo\" is not an object");
		if (!ray_json_enum(c, di, "exitType", ray_worker_exit_type_name, 16, &has, &exit_type) ||
			!ray_json_string(c, di, "exitDetail", &detail))
			return false;
	}
	w->dead = true;
	w->end_ms = end_ms;
	w->exit_type = exit_type;
	w->exit_detail = detail != NULL ? detail : "";
	return true;
}

RayWorkerDeath *
ray_event_worker_read(RayJsonRead *c, const cJSON *p)
{
	RayWorkerDeath *w = ray_json_alloc0(c, sizeof(*w));
	const cJSON *list;
	const cJSON *t;

	if (w == NULL)
		return NULL;
	if (!ray_json_id_raw(c, p, "workerId", w->worker_id, sizeof(w->worker_id), &w->worker_id_len))
		return NULL;
	if (w->worker_id_len == 0)
	{
		ray_json_reject(c, "the worker lifecycle event has no \"workerId\"");
		return NULL;
	}
	list = ray_json_member(p, "stateTransitions");
	if (list != NULL && !cJSON_IsArray(list))
	{
		ray_json_reject(c, "\"stateTransitions\" is not an array");
		return NULL;
	}
	cJSON_ArrayForEach(t, list)
		if (!read_transition(c, t, w))
		return NULL;
	return c->oom || c->bad ? NULL : w;
}
