/*
 * ray_event_json.c
 *		RayEvent JSON (Ray's Event Export) -> TaskEvents, as Ray's
 *		gcs_ray_event_converter.cc converts them.
 *
 * Per event (ray-event-export.md, "How Ray merges them back"):
 *  - TASK_DEFINITION_EVENT / ACTOR_TASK_DEFINITION_EVENT -> task_info:
 *    type (ACTOR_TASK for the actor form), name (taskName / actorTaskName),
 *    task, job and parent ids, actor_id (the actor form's actorId; for an
 *    ACTOR_CREATION_TASK bytes 8..24 of the task id, Ray's TaskID::ActorId),
 *    placement_group_id if non-empty, call_site if present, label_selector,
 *    language, runtime env (2.49 runtimeEnvInfo, later serializedRuntimeEnv),
 *    func_or_class_name = CallString(taskFunc / actorFunc),
 *    required_resources; TaskEvents.job_id too.
 *  - TASK_EXECUTION_EVENT (2.49: taskState map number -> time) and
 *    TASK_LIFECYCLE_EVENT (stateTransitions list of {state name, time}) ->
 *    state_updates: node / worker id if non-empty, worker_pid if non-zero,
 *    error info, is_debugger_paused and actor_repr_name if present,
 *    state_ts_ns; TaskEvents.job_id if non-empty. taskLogInfo is not
 *    converted (Ray does not either).
 *  - TASK_PROFILE_EVENT -> profile_events.
 *  - Events with an empty task id, or a definition with an empty job id,
 *    are rejected (Ray skips them silently; raydar keeps them visible).
 * Job, actor and node events are RAY_EVENT_ENTITY, read by
 * ray_event_entity.c into fragments of the GCS rows; worker lifecycle
 * events are RAY_EVENT_WORKER, read by ray_event_worker.c for a worker's
 * death. Other known event types (placement groups, submission jobs,
 * worker definitions, platform events) are RAY_EVENT_OTHER; an unknown
 * type is rejected.
 */
#include "ray_event_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ray_enums.h"
#include "ray_event_entity.h"
#include "ray_event_worker.h"
#include "ray_json_read.h"

#define MAX_DEPTH 64
#define REJECT_TEXT_MAX 8192

/* One event being read: r rejects it into item->reason. */
typedef struct Conv
{
	RayJsonRead r;
	const RayVersion *v;
	RayEventItem *item;
} Conv;

/* The batch being read (per thread: two threads may each read one). */
static __thread const RayVersion *enum_version;

static const char *
status_name(int n)
{
	return ray_task_status_name(enum_version, n);
}

static const char *
error_type_name(int n)
{
	return ray_error_type_name_v(enum_version, n);
}

/* ---- payloads ---- */

static const char *
last_dotted(const char *s)
{
	const char *dot = strrchr(s, '.');

	return dot ? dot + 1 : s;
}

/* Ray's FunctionDescriptor CallString. */
static bool
call_string(Conv *c, const cJSON *fd, char **out)
{
	const cJSON *py = ray_json_member(fd, "pythonFunctionDescriptor");
	const cJSON *java = ray_json_member(fd, "javaFunctionDescriptor");
	const cJSON *cpp = ray_json_member(fd, "cppFunctionDescriptor");
	const char *cls = NULL,
			   *fn = NULL;
	size_t		n;

	*out = NULL;
	if (fd == NULL)
		return true;
	if (!cJSON_IsObject(fd))
		return ray_json_reject(&c->r, "the function descriptor is not an object");
	if (py != NULL)
	{
		if (!ray_json_string(&c->r, py, "className", &cls) || !ray_json_string(&c->r, py, "functionName", &fn))
			return false;
		fn = last_dotted(fn ? fn : "");
		if (cls == NULL || cls[0] == '\0')
		{
			*out = ray_json_dup(&c->r, fn);
			return !c->r.oom;
		}
		cls = last_dotted(cls);
	}
	else if (java != NULL)
	{
		if (!ray_json_string(&c->r, java, "className", &cls) || !ray_json_string(&c->r, java, "functionName", &fn))
			return false;
		fn = fn ? fn : "";
		if (cls == NULL || cls[0] == '\0')
		{
			*out = ray_json_dup(&c->r, fn);
			return !c->r.oom;
		}
	}
	else if (cpp != NULL)
	{
		if (!ray_json_string(&c->r, cpp, "functionName", &fn))
			return false;
		*out = ray_json_dup(&c->r, fn ? fn : "");
		return !c->r.oom;
	}
	else
	{
		*out = ray_json_dup(&c->r, "");
		return !c->r.oom;
	}
	n = strlen(cls) + strlen(fn) + 2;
	*out = ray_arena_alloc(c->r.arena, n);
	if (*out == NULL)
	{
		c->r.oom = true;
		return false;
	}
	snprintf(*out, n, "%s.%s", cls, fn);
	return true;
}

/* The TaskEvents of (task_id, attempt) read from payload p. */
static Ray__Rpc__TaskEvents *
new_task_events(Conv *c, const cJSON *p, const char *attempt_key)
{
	Ray__Rpc__TaskEvents *te = ray_json_alloc0(&c->r, sizeof(*te));
	Ray__Rpc__TaskEvents init = RAY__RPC__TASK_EVENTS__INIT;
	int64_t		attempt;
	bool		has;

	if (te == NULL)
		return NULL;
	*te = init;
	if (!ray_json_id(&c->r, p, "taskId", &te->has_task_id, &te->task_id))
		return NULL;
	if (!te->has_task_id)
	{
		ray_json_reject(&c->r, "the event has no task id");
		return NULL;
	}
	if (!ray_json_int(&c->r, p, attempt_key, 0, INT32_MAX, &has, &attempt))
		return NULL;
	te->has_attempt_number = 1;
	te->attempt_number = (int32_t) attempt;
	return te;
}

static Ray__Rpc__TaskEvents *
definition(Conv *c, const cJSON *d, bool actor)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, d, "taskAttempt");
	Ray__Rpc__TaskInfoEntry *ti;
	Ray__Rpc__TaskInfoEntry tinit = RAY__RPC__TASK_INFO_ENTRY__INIT;
	bool		has;
	int32_t		v32;
	const char *s;
	const cJSON *rei;

	if (te == NULL)
		return NULL;
	ti = ray_json_alloc0(&c->r, sizeof(*ti));
	if (ti == NULL)
		return NULL;
	*ti = tinit;
	te->task_info = ti;
	if (!ray_json_id(&c->r, d, "jobId", &ti->has_job_id, &ti->job_id))
		return NULL;
	if (!ti->has_job_id)
	{
		ray_json_reject(&c->r, "the task definition has no job id");
		return NULL;
	}
	te->has_job_id = 1;
	te->job_id = ti->job_id;
	ti->has_task_id = 1;
	ti->task_id = te->task_id;
	if (actor)
	{
		ti->has_type = 1;
		ti->type = 2;			/* ACTOR_TASK */
	}
	else
	{
		if (!ray_json_enum(&c->r, d, "taskType", ray_task_type_name, 16, &has, &v32))
			return NULL;
		ti->has_type = 1;
		ti->type = v32;
	}
	if (!ray_json_enum(&c->r, d, "language", ray_language_name, 16, &has, &v32))
		return NULL;
	ti->has_language = 1;
	ti->language = v32;
	if (!ray_json_string(&c->r, d, actor ? "actorTaskName" : "taskName", &s))
		return NULL;
	ti->name = (char *) (s ? s : "");
	if (!call_string(c, ray_json_member(d, actor ? "actorFunc" : "taskFunc"), &ti->func_or_class_name))
		return NULL;
	if (!ray_json_id(&c->r, d, "parentTaskId", &ti->has_parent_task_id, &ti->parent_task_id))
		return NULL;
	if (actor)
	{
		if (!ray_json_id(&c->r, d, "actorId", &ti->has_actor_id, &ti->actor_id))
			return NULL;
	}
	else if (ti->type == 1 && te->task_id.len >= 24)
	{
		/* ACTOR_CREATION_TASK: Ray's TaskID::ActorId(), bytes 8..24. */
		ti->has_actor_id = 1;
		ti->actor_id.data = te->task_id.data + 8;
		ti->actor_id.len = 16;
	}
	if (!ray_json_id(&c->r, d, "placementGroupId", &ti->has_placement_group_id, &ti->placement_group_id))
		return NULL;
	if (!ray_json_string(&c->r, d, "callSite", &s))
		return NULL;
	ti->call_site = (char *) s;
	if (!ray_json_map(&c->r, d, "labelSelector", false,
					  &ray__rpc__task_info_entry__label_selector_entry__descriptor,
					  &ti->n_label_selector, (void ***) &ti->label_selector) ||
		!ray_json_map(&c->r, d, "requiredResources", true,
					  &ray__rpc__task_info_entry__required_resources_entry__descriptor,
					  &ti->n_required_resources, (void ***) &ti->required_resources))
		return NULL;
	/* 2.49: runtimeEnvInfo only when the spec has one; later a plain string. */
	rei = ray_json_member(d, "runtimeEnvInfo");
	if (rei != NULL && !cJSON_IsObject(rei))
	{
		ray_json_reject(&c->r, "\"runtimeEnvInfo\" is not an object");
		return NULL;
	}
	if (!ray_json_string(&c->r, rei ? rei : d, "serializedRuntimeEnv", &s))
		return NULL;
	if (s != NULL)
	{
		Ray__Rpc__RuntimeEnvInfo init = RAY__RPC__RUNTIME_ENV_INFO__INIT;

		ti->runtime_env_info = ray_json_alloc0(&c->r, sizeof(*ti->runtime_env_info));
		if (ti->runtime_env_info == NULL)
			return NULL;
		*ti->runtime_env_info = init;
		ti->runtime_env_info->serialized_runtime_env = (char *) s;
	}
	return c->r.oom ? NULL : te;
}

static bool
add_state(Conv *c, Ray__Rpc__TaskStateUpdate *su, size_t cap, int32_t state, int64_t ns)
{
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry *e;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry init = RAY__RPC__TASK_STATE_UPDATE__STATE_TS_NS_ENTRY__INIT;

	/* A later transition of the same state in one event wins. */
	for (size_t i = 0; i < su->n_state_ts_ns; i++)
		if (su->state_ts_ns[i]->key == state)
		{
			su->state_ts_ns[i]->value = ns;
			return true;
		}
	if (su->n_state_ts_ns >= cap)
		return ray_json_reject(&c->r, "too many state transitions");
	e = ray_json_alloc0(&c->r, sizeof(*e));
	if (e == NULL)
		return false;
	*e = init;
	e->has_key = 1;
	e->key = state;
	e->has_value = 1;
	e->value = ns;
	su->state_ts_ns[su->n_state_ts_ns++] = e;
	return true;
}

/* The 2.49 taskState map: TaskStatus number (a decimal key) -> Timestamp. */
static bool
state_map(Conv *c, const cJSON *map, Ray__Rpc__TaskStateUpdate *su, size_t cap)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, map)
	{
		char	   *end;
		long		num;
		int64_t		ns;

		errno = 0;
		num = strtol(e->string, &end, 10);
		if (e->string[0] == '\0' || *end != '\0' || errno != 0 || num < 0 || num > INT32_MAX)
			return ray_json_reject(&c->r, "\"taskState\" key \"%.32s\" is not a TaskStatus number", e->string);
		if (!cJSON_IsString(e) || !ray_event_parse_rfc3339(e->valuestring, &ns))
			return ray_json_reject(&c->r, "\"taskState\" of %ld is not an RFC 3339 timestamp", num);
		if (!add_state(c, su, cap, (int32_t) num, ns))
			return false;
	}
	return true;
}

/* The later stateTransitions list of {state name, timestamp}. */
static bool
state_list(Conv *c, const cJSON *list, Ray__Rpc__TaskStateUpdate *su, size_t cap)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, list)
	{
		int32_t		st;
		int64_t		ns;
		bool		has;

		if (!cJSON_IsObject(e))
			return ray_json_reject(&c->r, "a state transition is not an object");
		if (!ray_json_enum(&c->r, e, "state", status_name, 64, &has, &st))
			return false;
		if (!has)
			return ray_json_reject(&c->r, "a state transition has no state");
		if (!ray_json_time(&c->r, e, "timestamp", &has, &ns))
			return false;
		if (!has)
			return ray_json_reject(&c->r, "a state transition has no timestamp");
		if (!add_state(c, su, cap, st, ns))
			return false;
	}
	return true;
}

/* Both forms of the transitions into su->state_ts_ns. */
static bool
states(Conv *c, const cJSON *p, Ray__Rpc__TaskStateUpdate *su)
{
	const cJSON *map = ray_json_member(p, "taskState");
	const cJSON *list = ray_json_member(p, "stateTransitions");
	const cJSON *e;
	size_t		cap = 0;

	if (map != NULL && !cJSON_IsObject(map))
		return ray_json_reject(&c->r, "\"taskState\" is not an object");
	if (list != NULL && !cJSON_IsArray(list))
		return ray_json_reject(&c->r, "\"stateTransitions\" is not an array");
	if (map)
		cJSON_ArrayForEach(e, map) cap++;
	if (list)
		cJSON_ArrayForEach(e, list) cap++;
	su->state_ts_ns = ray_json_alloc0(&c->r, sizeof(void *) * (cap ? cap : 1));
	if (su->state_ts_ns == NULL)
		return false;
	return (map == NULL || state_map(c, map, su, cap)) &&
		(list == NULL || state_list(c, list, su, cap));
}

/* rayErrorInfo: errorType and errorMessage. */
static bool
error_info(Conv *c, const cJSON *rei, Ray__Rpc__TaskStateUpdate *su)
{
	Ray__Rpc__RayErrorInfo init = RAY__RPC__RAY_ERROR_INFO__INIT;
	int32_t		et;
	bool		has;
	const char *s;

	if (!cJSON_IsObject(rei))
		return ray_json_reject(&c->r, "\"rayErrorInfo\" is not an object");
	su->error_info = ray_json_alloc0(&c->r, sizeof(*su->error_info));
	if (su->error_info == NULL)
		return false;
	*su->error_info = init;
	if (!ray_json_enum(&c->r, rei, "errorType", error_type_name, 256, &has, &et) ||
		!ray_json_string(&c->r, rei, "errorMessage", &s))
		return false;
	su->error_info->has_error_type = has;
	su->error_info->error_type = et;
	su->error_info->error_message = (char *) (s ? s : "");
	return true;
}

static Ray__Rpc__TaskEvents *
lifecycle(Conv *c, const cJSON *p)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, p, "taskAttempt");
	Ray__Rpc__TaskStateUpdate *su;
	Ray__Rpc__TaskStateUpdate sinit = RAY__RPC__TASK_STATE_UPDATE__INIT;
	const cJSON *rei = ray_json_member(p, "rayErrorInfo");
	bool		has,
				b;
	int64_t		v;
	const char *s;

	if (te == NULL)
		return NULL;
	su = ray_json_alloc0(&c->r, sizeof(*su));
	if (su == NULL)
		return NULL;
	*su = sinit;
	te->state_updates = su;
	if (!ray_json_id(&c->r, p, "jobId", &te->has_job_id, &te->job_id) ||
		!ray_json_id(&c->r, p, "nodeId", &su->has_node_id, &su->node_id) ||
		!ray_json_id(&c->r, p, "workerId", &su->has_worker_id, &su->worker_id))
		return NULL;
	if (!ray_json_int(&c->r, p, "workerPid", INT32_MIN, INT32_MAX, &has, &v))
		return NULL;
	if (has && v != 0)
	{
		su->has_worker_pid = 1;
		su->worker_pid = (int32_t) v;
	}
	if (!ray_json_bool(&c->r, p, "isDebuggerPaused", &has, &b))
		return NULL;
	su->has_is_debugger_paused = has;
	su->is_debugger_paused = b;
	if (!ray_json_string(&c->r, p, "actorReprName", &s))
		return NULL;
	su->actor_repr_name = (char *) s;
	if (rei != NULL && !error_info(c, rei, su))
		return NULL;
	if (!states(c, p, su))
		return NULL;
	return c->r.oom ? NULL : te;
}

static Ray__Rpc__TaskEvents *
profile(Conv *c, const cJSON *p)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, p, "attemptNumber");
	Ray__Rpc__ProfileEvents *pe;
	Ray__Rpc__ProfileEvents init = RAY__RPC__PROFILE_EVENTS__INIT;
	const cJSON *m;
	const cJSON *evs;
	const cJSON *e;
	size_t		n = 0;
	const char *s;

	if (te == NULL)
		return NULL;
	if (!ray_json_id(&c->r, p, "jobId", &te->has_job_id, &te->job_id))
		return NULL;
	m = ray_json_member(p, "profileEvents");
	if (m == NULL)
		return te;
	if (!cJSON_IsObject(m))
	{
		ray_json_reject(&c->r, "\"profileEvents\" is not an object");
		return NULL;
	}
	pe = ray_json_alloc0(&c->r, sizeof(*pe));
	if (pe == NULL)
		return NULL;
	*pe = init;
	te->profile_events = pe;
	if (!ray_json_string(&c->r, m, "componentType", &s))
		return NULL;
	pe->component_type = (char *) s;
	if (!ray_json_string(&c->r, m, "nodeIpAddress", &s))
		return NULL;
	pe->node_ip_address = (char *) s;
	if (!ray_json_id(&c->r, m, "componentId", &pe->has_component_id, &pe->component_id))
		return NULL;
	evs = ray_json_member(m, "events");
	if (evs == NULL)
		return te;
	if (!cJSON_IsArray(evs))
	{
		ray_json_reject(&c->r, "\"events\" is not an array");
		return NULL;
	}
	cJSON_ArrayForEach(e, evs) n++;
	pe->events = ray_json_alloc0(&c->r, sizeof(void *) * (n ? n : 1));
	if (pe->events == NULL)
		return NULL;
	cJSON_ArrayForEach(e, evs)
	{
		Ray__Rpc__ProfileEventEntry *x = ray_json_alloc0(&c->r, sizeof(*x));
		Ray__Rpc__ProfileEventEntry xinit = RAY__RPC__PROFILE_EVENT_ENTRY__INIT;
		bool		has;

		if (x == NULL)
			return NULL;
		*x = xinit;
		if (!cJSON_IsObject(e))
		{
			ray_json_reject(&c->r, "a profile event is not an object");
			return NULL;
		}
		if (!ray_json_int(&c->r, e, "startTime", INT64_MIN, INT64_MAX, &has, &x->start_time))
			return NULL;
		x->has_start_time = has;
		if (!ray_json_int(&c->r, e, "endTime", INT64_MIN, INT64_MAX, &has, &x->end_time))
			return NULL;
		x->has_end_time = has;
		if (!ray_json_string(&c->r, e, "eventName", &s))
			return NULL;
		x->event_name = (char *) s;
		if (!ray_json_string(&c->r, e, "extraData", &s))
			return NULL;
		x->extra_data = (char *) s;
		pe->events[pe->n_events++] = x;
	}
	return c->r.oom ? NULL : te;
}

/* Event types by name and number (ray-event-export.md); payload key or NULL. */
typedef struct EventType
{
	const char *name;
	int			number;
	const char *payload;		/* a payload raydar converts, else NULL */
	const char *payload2;		/* the other name of the same payload */
} EventType;

static const EventType event_types[] = {
	{"TASK_DEFINITION_EVENT", 1, "taskDefinitionEvent", NULL},
	{"TASK_EXECUTION_EVENT", 2, "taskExecutionEvent", "taskLifecycleEvent"},
	{"TASK_LIFECYCLE_EVENT", 2, "taskLifecycleEvent", "taskExecutionEvent"},
	{"ACTOR_TASK_DEFINITION_EVENT", 3, "actorTaskDefinitionEvent", NULL},
	{"TASK_PROFILE_EVENT", 4, "taskProfileEvents", NULL},
	{"DRIVER_JOB_DEFINITION_EVENT", 5, "driverJobDefinitionEvent", NULL},
	{"DRIVER_JOB_LIFECYCLE_EVENT", 6, "driverJobLifecycleEvent", NULL},
	{"NODE_DEFINITION_EVENT", 7, "nodeDefinitionEvent", NULL},
	{"NODE_LIFECYCLE_EVENT", 8, "nodeLifecycleEvent", NULL},
	{"ACTOR_DEFINITION_EVENT", 9, "actorDefinitionEvent", NULL},
	{"ACTOR_LIFECYCLE_EVENT", 10, "actorLifecycleEvent", NULL},
	{"PLACEMENT_GROUP_DEFINITION_EVENT", 11, NULL, NULL},
	{"PLACEMENT_GROUP_LIFECYCLE_EVENT", 12, NULL, NULL},
	{"SUBMISSION_JOB_DEFINITION_EVENT", 13, NULL, NULL},
	{"SUBMISSION_JOB_LIFECYCLE_EVENT", 14, NULL, NULL},
	{"PLATFORM_EVENT", 15, NULL, NULL},
	{"WORKER_LIFECYCLE_EVENT", RAY_EVENT_TYPE_WORKER_LIFECYCLE, "workerLifecycleEvent", NULL},
	{"WORKER_DEFINITION_EVENT", 17, NULL, NULL},
};

static const EventType *
event_type(const cJSON *m)
{
	int64_t		n;

	if (cJSON_IsString(m))
	{
		for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
			if (strcmp(event_types[i].name, m->valuestring) == 0)
				return &event_types[i];
	}
	if (ray_json_int_of(m, 1, 17, &n))
		for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
			if (event_types[i].number == n)
				return &event_types[i];
	return NULL;
}

/* One array element into item. */
static void
convert_event(Conv *c, const cJSON *ev)
{
	RayEventItem *it = c->item;
	const cJSON *m;
	const EventType *et;
	const cJSON *p;
	const char *s;

	it->kind = RAY_EVENT_REJECTED;
	it->event_type = "";
	it->session_name = "";
	if (!cJSON_IsObject(ev))
	{
		ray_json_reject(&c->r, "the event is not a JSON object");
		return;
	}
	if (!ray_json_id_raw(&c->r, ev, "eventId", it->event_id, RAY_EVENT_MAX_ID, &it->event_id_len))
		return;
	if (it->event_id_len == 0)
	{
		ray_json_reject(&c->r, "the event has no eventId");
		return;
	}
	if (!ray_json_id_raw(&c->r, ev, "nodeId", it->node_id, RAY_EVENT_MAX_ID, &it->node_id_len) ||
		!ray_json_time(&c->r, ev, "timestamp", &it->has_timestamp, &it->timestamp_ns) ||
		!ray_json_string(&c->r, ev, "sessionName", &s))
		return;
	it->session_name = s ? s : "";
	m = ray_json_member(ev, "eventType");
	if (m == NULL)
	{
		ray_json_reject(&c->r, "the event has no eventType");
		return;
	}
	if (cJSON_IsString(m))
		it->event_type = ray_json_dup(&c->r, m->valuestring);
	et = event_type(m);
	if (et == NULL)
	{
		ray_json_reject(&c->r, "unknown eventType");
		return;
	}
	if (it->event_type[0] == '\0')
		it->event_type = et->name;
	if (et->payload == NULL)
	{
		it->kind = RAY_EVENT_OTHER;
		return;
	}
	p = ray_json_member(ev, et->payload);
	if (p == NULL && et->payload2)
		p = ray_json_member(ev, et->payload2);
	if (p == NULL || !cJSON_IsObject(p))
	{
		ray_json_reject(&c->r, "the %s has no \"%s\" object", et->name, et->payload);
		return;
	}
	if (et->number == RAY_EVENT_TYPE_WORKER_LIFECYCLE)
	{
		it->worker = ray_event_worker_read(&c->r, p);
		if (it->worker != NULL && !c->r.bad)
			it->kind = RAY_EVENT_WORKER;
		else if (!c->r.bad)
			ray_json_reject(&c->r, "out of memory");
		return;
	}
	if (et->number >= 5 && et->number <= 10)
	{
		it->entity = ray_event_entity_read(&c->r, et->number, p);
		if (it->entity != NULL && !c->r.bad)
			it->kind = RAY_EVENT_ENTITY;
		else if (!c->r.bad)
			ray_json_reject(&c->r, "out of memory");
		return;
	}
	switch (et->number)
	{
		case 1:
			it->task = definition(c, p, false);
			break;
		case 3:
			it->task = definition(c, p, true);
			break;
		case 2:
			it->task = lifecycle(c, p);
			break;
		default:
			it->task = profile(c, p);
			break;
	}
	if (it->task != NULL && !c->r.bad)
		it->kind = RAY_EVENT_TASK;
	else if (!c->r.bad)
		ray_json_reject(&c->r, "out of memory");
}

RayStatus
ray_event_batch_parse(const char *json, size_t len, const RayVersion *v,
					  ProtobufCAllocator *alloc, RayEventBatch **out,
					  char *err, size_t errlen)
{
	RayArena	arena;
	RayArena	tree;
	bool		oom = false;
	RayEventBatch *b;
	cJSON	   *root;
	const cJSON *ev;
	const char *end = NULL;
	size_t		where = 0;
	size_t		n = 0;

	*out = NULL;
	if (json == NULL || len == 0)
	{
		snprintf(err, errlen, "empty body where a JSON array of events was expected");
		return RAY_ERR_MALFORMED;
	}
	if (len > RAY_EVENT_MAX_BODY)
	{
		snprintf(err, errlen, "body of %zu bytes exceeds the %zu-byte limit", len, RAY_EVENT_MAX_BODY);
		return RAY_ERR_TOO_LARGE;
	}
	if (!ray_json_depth_ok(json, len, MAX_DEPTH, &where, NULL))
	{
		snprintf(err, errlen, "JSON nested deeper than %d levels (at byte %zu)", MAX_DEPTH, where);
		return RAY_ERR_MALFORMED;
	}
	/* The tree in an arena of its own (ray_json_parse_in), freed at the end. */
	ray_arena_init(&tree, NULL);
	root = ray_json_parse_in(&tree, json, len, &end, &oom);
	if (root == NULL)
	{
		size_t		at = end && end >= json && end <= json + len ? (size_t) (end - json) : len;

		ray_arena_free(&tree);
		if (oom)
		{
			snprintf(err, errlen, "out of memory reading %zu bytes of events", len);
			return RAY_ERR_OOM;
		}
		snprintf(err, errlen, "invalid JSON at byte %zu of %zu", at, len);
		return RAY_ERR_MALFORMED;
	}
	while (end != NULL && end < json + len && isspace((unsigned char) *end))
		end++;
	if (end != NULL && end < json + len)
	{
		snprintf(err, errlen, "unexpected data after the JSON value at byte %zu of %zu",
				 (size_t) (end - json), len);
		ray_arena_free(&tree);
		return RAY_ERR_MALFORMED;
	}
	if (!cJSON_IsArray(root))
	{
		snprintf(err, errlen, "the body is not a JSON array of events");
		ray_arena_free(&tree);
		return RAY_ERR_MALFORMED;
	}
	cJSON_ArrayForEach(ev, root) n++;
	ray_arena_init(&arena, alloc);
	b = ray_arena_alloc(&arena, sizeof(*b));
	if (b == NULL)
		goto oom;
	memset(b, 0, sizeof(*b));
	b->items = ray_arena_alloc(&arena, sizeof(RayEventItem) * (n ? n : 1));
	if (b->items == NULL)
		goto oom;
	enum_version = v;
	cJSON_ArrayForEach(ev, root)
	{
		RayEventItem *it = &b->items[b->n];
		Conv		c = {{&arena, it->reason, sizeof(it->reason), false, false}, v, it};

		memset(it, 0, sizeof(*it));
		it->index = b->n;
		convert_event(&c, ev);
		if (c.r.oom)
			goto oom;
		if (it->kind == RAY_EVENT_REJECTED)
		{
			char	   *t = cJSON_PrintUnformatted(ev);

			if (t != NULL)
			{
				size_t		tl = strlen(t);

				it->text = ray_arena_strndup(&arena, t, tl > REJECT_TEXT_MAX ? REJECT_TEXT_MAX : tl);
				cJSON_free(t);
			}
			b->nrejected++;
		}
		else if (it->kind == RAY_EVENT_TASK)
			b->ntask++;
		else
		{
			/* Jobs, actors, nodes and workers count as other events, stored or not. */
			b->nother++;
			if (it->kind == RAY_EVENT_ENTITY)
				b->nentity++;
		}
		b->n++;
	}
	ray_arena_free(&tree);
	b->arena = arena;
	*out = b;
	return RAY_OK;

oom:
	ray_arena_free(&tree);
	ray_arena_free(&arena);
	snprintf(err, errlen, "out of memory reading %zu bytes of events", len);
	return RAY_ERR_OOM;
}

void
ray_event_batch_free(RayEventBatch *b)
{
	RayArena	arena;

	if (b == NULL)
		return;
	arena = b->arena;			/* b itself lives in the arena */
	ray_arena_free(&arena);
}
