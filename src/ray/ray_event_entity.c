/*
 * ray_event_entity.c
 *		Job, actor and node events -> fragments of JobTableData,
 *		ActorTableData and GcsNodeInfo (see ray_event_entity.h).
 *
 * The inverse of what Ray's GCS copies into each event
 * (src/ray/observability/ray_*_event.cc, FEB26 and later; field names in
 * src/ray/protobuf/public/events_*_event.proto and shared/ray-event-export.md):
 *  - DriverJobDefinitionEvent: jobId, driverPid, driverNodeId (the driver's
 *    address), entrypoint; config (runtime env, metadata) is JobConfig, which
 *    raydar does not show. DriverJobLifecycleEvent transitions: CREATED sets
 *    start_time, FINISHED sets end_time and is_dead; later versions add the
 *    submission job's message, errorType, exitCode and submissionJobStatus
 *    (job_info), read when set.
 *  - ActorDefinitionEvent: actorId, jobId, isDetached, name, rayNamespace,
 *    serializedRuntimeEnv, className, requiredResources, placementGroupId
 *    (when non-empty), labelSelector, callSite (when present).
 *    ActorLifecycleEvent transitions: state; ALIVE sets nodeId, workerId,
 *    pid, port, reprName and start_time; DEAD sets end_time and deathCause;
 *    RESTARTING carries restartReason (counted by the caller's merge).
 *  - NodeDefinitionEvent: nodeId, nodeIpAddress, labels, startTimestamp,
 *    hostname, nodeName, instanceId, instanceTypeName.
 *    NodeLifecycleEvent transitions: state; ALIVE sets resources
 *    (resources_total); DEAD sets end_time and deathInfo.
 * As in Ray's converter for task events, ids are taken when non-empty and
 * numbers when non-zero, so a transition never blanks what another set.
 */
#include "ray_event_entity.h"

#include <stdio.h>
#include <string.h>

#include "ray_enums.h"

static const char *const job_states[] = {"UNSPECIFIED", "CREATED", "FINISHED"};
static const char *const restart_reasons[] = {"ACTOR_FAILURE", "LINEAGE_RECONSTRUCTION", "NODE_PREEMPTION"};
static const char *const submission_states[] = {
	"SUBMISSION_JOB_STATUS_UNSPECIFIED", "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED",
};

#define NAMES(a, n) ((n) >= 0 && (n) < (int) (sizeof(a) / sizeof((a)[0])) ? (a)[n] : NULL)
static const char *job_state_name(int n) { return NAMES(job_states, n); }
static const char *restart_reason_name(int n) { return NAMES(restart_reasons, n); }
static const char *submission_state_name(int n) { return NAMES(submission_states, n); }

const char *
ray_entity_kind_name(RayEntityKind kind)
{
	switch (kind)
	{
		case RAY_ENTITY_JOB:
			return "job";
		case RAY_ENTITY_ACTOR:
			return "actor";
		case RAY_ENTITY_NODE:
			return "node";
	}
	return "?";
}

/* A new message of descriptor d from the arena. */
static void *
new_msg(RayJsonRead *c, const ProtobufCMessageDescriptor *d)
{
	void	   *m = ray_json_alloc0(c, d->sizeof_message);

	if (m != NULL)
		protobuf_c_message_init(d, m);
	return m;
}

/* A string kept only when non-empty (an empty one is proto3's "not set"). */
static bool
nonempty(RayJsonRead *c, const cJSON *obj, const char *key, char **out)
{
	const char *s;

	if (!ray_json_string(c, obj, key, &s))
		return false;
	if (s != NULL && s[0] != '\0')
		*out = (char *) s;
	return true;
}

/* Unix ns -> the GCS rows' uint64 ms; a time before 1970 is out of range. */
static bool
to_ms(RayJsonRead *c, int64_t ns, const char *what, protobuf_c_boolean *has, uint64_t *ms)
{
	if (ns < 0)
		return ray_json_reject(c, "%s is before 1970", what);
	*has = 1;
	*ms = (uint64_t) (ns / 1000000);
	return true;
}

/* ---- jobs ---- */

static bool
job_definition(RayJsonRead *c, const cJSON *p, Ray__Rpc__JobTableData *j)
{
	bool		has;
	int64_t		pid;
	Ray__Rpc__Address *a;
	const char *s;

	if (!ray_json_int(c, p, "driverPid", INT64_MIN, INT64_MAX, &has, &pid) ||
		!ray_json_string(c, p, "entrypoint", &s))
		return false;
	j->has_driver_pid = has && pid != 0;
	j->driver_pid = pid;
	j->entrypoint = (char *) s;
	a = new_msg(c, &ray__rpc__address__descriptor);
	if (a == NULL || !ray_json_id(c, p, "driverNodeId", &a->has_node_id, &a->node_id))
		return false;
	if (a->has_node_id)
		j->driver_address = a;
	return true;
}

/* A submission job's fields of a transition (later versions), into job_info when any is set. */
static bool
job_info(RayJsonRead *c, const cJSON *t, Ray__Rpc__JobTableData *j)
{
	Ray__Rpc__JobsAPIInfo info = RAY__RPC__JOBS_APIINFO__INIT;
	bool		has_code,
				has_status;
	int64_t		code;
	int32_t		status;

	if (!nonempty(c, t, "message", &info.message) || !nonempty(c, t, "errorType", &info.error_type) ||
		!ray_json_int(c, t, "exitCode", INT32_MIN, INT32_MAX, &has_code, &code) ||
		!ray_json_enum(c, t, "submissionJobStatus", submission_state_name, 6, &has_status, &status))
		return false;
	if (has_status && status > 0 && submission_state_name(status) != NULL)
		info.status = (char *) submission_state_name(status);
	info.has_driver_exit_code = has_code;
	info.driver_exit_code = (int32_t) code;
	if (info.message == NULL && info.error_type == NULL && !has_code && info.status == NULL)
		return true;
	j->job_info = ray_json_alloc0(c, sizeof(info));
	if (j->job_info == NULL)
		return false;
	*j->job_info = info;
	return true;
}

static bool
job_transition(RayJsonRead *c, const cJSON *t, RayEntityPart *part, Ray__Rpc__JobTableData *j)
{
	if (part->state == 1)		/* CREATED */
	{
		if (!to_ms(c, part->ts_ns, "the job's CREATED time", &j->has_start_time, &j->start_time))
			return false;
		j->has_is_dead = 1;
		j->is_dead = 0;
	}
	else if (part->state == 2)	/* FINISHED */
	{
		if (!to_ms(c, part->ts_ns, "the job's FINISHED time", &j->has_end_time, &j->end_time))
			return false;
		j->has_is_dead = 1;
		j->is_dead = 1;
	}
	return job_info(c, t, j);
}

/* ---- actors ---- */

static bool
actor_definition(RayJsonRead *c, const cJSON *p, Ray__Rpc__ActorTableData *a)
{
	bool		has,
				b;
	const char *s;

	if (!ray_json_id(c, p, "jobId", &a->has_job_id, &a->job_id) ||
		!ray_json_bool(c, p, "isDetached", &has, &b))
		return false;
	a->has_is_detached = has;
	a->is_detached = b;
	if (!ray_json_string(c, p, "name", &s))
		return false;
	a->name = (char *) s;
	if (!ray_json_string(c, p, "rayNamespace", &s))
		return false;
	a->ray_namespace = (char *) s;
	if (!ray_json_string(c, p, "serializedRuntimeEnv", &s))
		return false;
	a->serialized_runtime_env = (char *) s;
	if (!ray_json_string(c, p, "className", &s))
		return false;
	a->class_name = (char *) s;
	if (!ray_json_string(c, p, "callSite", &s))
		return false;
	a->call_site = (char *) s;
	if (!ray_json_id(c, p, "placementGroupId", &a->has_placement_group_id, &a->placement_group_id))
		return false;
	return ray_json_map(c, p, "requiredResources", true,
					&ray__rpc__actor_table_data__required_resources_entry__descriptor,
					&a->n_required_resources, (void ***) &a->required_resources) &&
		ray_json_map(c, p, "labelSelector", false,
				 &ray__rpc__actor_table_data__label_selector_entry__descriptor,
				 &a->n_label_selector, (void ***) &a->label_selector);
}

/* ActorDeathCause in JSON: one of its alternatives, each with its message. */
static bool
death_cause(RayJsonRead *c, const cJSON *t, Ray__Rpc__ActorTableData *a)
{
	static const struct
	{
		const char *key;
		Ray__Rpc__ActorDeathCause__ContextCase which;
	}			alts[] = {
		{"runtimeEnvFailedContext", RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_RUNTIME_ENV_FAILED_CONTEXT},
		{"actorDiedErrorContext", RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_DIED_ERROR_CONTEXT},
		{"actorUnschedulableContext", RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_UNSCHEDULABLE_CONTEXT},
		{"oomContext", RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_OOM_CONTEXT},
	};
	const cJSON *dc = ray_json_member(t, "deathCause");
	const cJSON *x;
	Ray__Rpc__ActorDeathCause *out;
	const char *s;

	if (dc == NULL)
		return true;
	if (!cJSON_IsObject(dc))
		return ray_json_reject(c, "\"deathCause\" is not an object");
	out = new_msg(c, &ray__rpc__actor_death_cause__descriptor);
	if (out == NULL)
		return false;
	if ((x = ray_json_member(dc, "creationTaskFailureContext")) != NULL)
	{
		Ray__Rpc__RayException *e = new_msg(c, &ray__rpc__ray_exception__descriptor);

		if (e == NULL || !cJSON_IsObject(x))
			return e == NULL ? false : ray_json_reject(c, "\"creationTaskFailureContext\" is not an object");
		if (!ray_json_string(c, x, "formattedExceptionString", &s))
			return false;
		e->formatted_exception_string = (char *) (s ? s : "");
		out->context_case = RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_CREATION_TASK_FAILURE_CONTEXT;
		out->creation_task_failure_context = e;
	}
	for (size_t i = 0; i < sizeof(alts) / sizeof(alts[0]) && out->context_case == 0; i++)
	{
		Ray__Rpc__ErrorMessageContext *e;

		if ((x = ray_json_member(dc, alts[i].key)) == NULL)
			continue;
		if (!cJSON_IsObject(x))
			return ray_json_reject(c, "\"%s\" is not an object", alts[i].key);
		e = new_msg(c, &ray__rpc__error_message_context__descriptor);
		if (e == NULL || !ray_json_string(c, x, "errorMessage", &s))
			return false;
		e->error_message = (char *) (s ? s : "");
		out->context_case = alts[i].which;
		switch (alts[i].which)
		{
			case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_RUNTIME_ENV_FAILED_CONTEXT:
				out->runtime_env_failed_context = e;
				break;
			case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_DIED_ERROR_CONTEXT:
				out->actor_died_error_context = e;
				break;
			case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_UNSCHEDULABLE_CONTEXT:
				out->actor_unschedulable_context = e;
				break;
			default:
				out->oom_context = e;
				break;
		}
	}
	a->death_cause = out;
	return true;
}

static bool
actor_alive(RayJsonRead *c, const cJSON *t, RayEntityPart *part, Ray__Rpc__ActorTableData *a)
{
	Ray__Rpc__Address *addr = new_msg(c, &ray__rpc__address__descriptor);
	bool		has;
	int64_t		v;

	if (addr == NULL ||
		!ray_json_id(c, t, "nodeId", &a->has_node_id, &a->node_id) ||
		!ray_json_id(c, t, "workerId", &addr->has_worker_id, &addr->worker_id) ||
		!nonempty(c, t, "reprName", &a->repr_name) ||
		!to_ms(c, part->ts_ns, "the actor's ALIVE time", &a->has_start_time, &a->start_time))
		return false;
	if (!ray_json_int(c, t, "pid", 0, UINT32_MAX, &has, &v))
		return false;
	a->has_pid = has && v != 0;
	a->pid = (uint32_t) v;
	if (!ray_json_int(c, t, "port", INT32_MIN, INT32_MAX, &has, &v))
		return false;
	addr->has_port = has && v != 0;
	addr->port = (int32_t) v;
	if (addr->has_worker_id || addr->has_port)
		a->address = addr;
	return true;
}

static bool
actor_transition(RayJsonRead *c, const cJSON *t, RayEntityPart *part, Ray__Rpc__ActorTableData *a)
{
	bool		has;
	int32_t		reason;

	a->has_state = 1;
	a->state = part->state;
	if (part->state == 2)		/* ALIVE */
		return actor_alive(c, t, part, a);
	if (part->state == 3)		/* RESTARTING */
	{
		if (!ray_json_enum(c, t, "restartReason", restart_reason_name, 3, &has, &reason))
			return false;
		part->restart_reason = has ? reason : 0;
	}
	if (part->state == 4)		/* DEAD */
		return to_ms(c, part->ts_ns, "the actor's DEAD time", &a->has_end_time, &a->end_time) &&
			death_cause(c, t, a);
	return true;
}

/* ---- nodes ---- */

static bool
node_definition(RayJsonRead *c, const cJSON *p, Ray__Rpc__GcsNodeInfo *n)
{
	bool		has;
	int64_t		ns;

	if (!nonempty(c, p, "nodeIpAddress", &n->node_manager_address) ||
		!nonempty(c, p, "hostname", &n->node_manager_hostname) ||
		!nonempty(c, p, "nodeName", &n->node_name) ||
		!nonempty(c, p, "instanceId", &n->instance_id) ||
		!nonempty(c, p, "instanceTypeName", &n->instance_type_name) ||
		!ray_json_time(c, p, "startTimestamp", &has, &ns))
		return false;
	/* Ray sends its start_time_ms as a Timestamp: 0 (1970) when unset. */
	if (has && ns > 0 && !to_ms(c, ns, "the node's startTimestamp", &n->has_start_time_ms, &n->start_time_ms))
		return false;
	return ray_json_map(c, p, "labels", false, &ray__rpc__gcs_node_info__labels_entry__descriptor,
					&n->n_labels, (void ***) &n->labels);
}

static bool
node_transition(RayJsonRead *c, const cJSON *t, RayEntityPart *part, Ray__Rpc__GcsNodeInfo *n)
{
	const cJSON *di;
	bool		has;
	int32_t		reason;

	n->has_state = 1;
	n->state = part->state;
	if (part->state == 0)		/* ALIVE */
		return ray_json_map(c, t, "resources", true, &ray__rpc__gcs_node_info__resources_total_entry__descriptor,
						&n->n_resources_total, (void ***) &n->resources_total);
	if (!to_ms(c, part->ts_ns, "the node's DEAD time", &n->has_end_time_ms, &n->end_time_ms))
		return false;
	di = ray_json_member(t, "deathInfo");
	if (di == NULL)
		return true;
	if (!cJSON_IsObject(di))
		return ray_json_reject(c, "\"deathInfo\" is not an object");
	n->death_info = new_msg(c, &ray__rpc__node_death_info__descriptor);
	if (n->death_info == NULL ||
		!ray_json_enum(c, di, "reason", ray_node_death_reason_name, 5, &has, &reason) ||
		!ray_json_string(c, di, "reasonMessage", (const char **) &n->death_info->reason_message))
		return false;
	n->death_info->has_reason = has;
	n->death_info->reason = reason;
	return true;
}

/* ---- events ---- */

static const ProtobufCMessageDescriptor *const row_descriptor[RAY_ENTITY_KINDS] = {
	&ray__rpc__job_table_data__descriptor,
	&ray__rpc__actor_table_data__descriptor,
	&ray__rpc__gcs_node_info__descriptor,
};

/* A fragment holding only the entity's id. */
static ProtobufCMessage *
new_row(RayJsonRead *c, RayEntityEvent *ev)
{
	ProtobufCMessage *m = new_msg(c, row_descriptor[ev->kind]);
	ProtobufCBinaryData id;
	uint8_t    *data;

	if (m == NULL || (data = ray_json_alloc0(c, ev->id_len)) == NULL)
		return NULL;
	memcpy(data, ev->id, ev->id_len);
	id.data = data;
	id.len = ev->id_len;
	switch (ev->kind)
	{
		case RAY_ENTITY_JOB:
			((Ray__Rpc__JobTableData *) m)->has_job_id = 1;
			((Ray__Rpc__JobTableData *) m)->job_id = id;
			break;
		case RAY_ENTITY_ACTOR:
			((Ray__Rpc__ActorTableData *) m)->has_actor_id = 1;
			((Ray__Rpc__ActorTableData *) m)->actor_id = id;
			break;
		case RAY_ENTITY_NODE:
			((Ray__Rpc__GcsNodeInfo *) m)->has_node_id = 1;
			((Ray__Rpc__GcsNodeInfo *) m)->node_id = id;
			break;
	}
	return m;
}

static bool
read_definition(RayJsonRead *c, const cJSON *p, RayEntityEvent *ev)
{
	RayEntityPart *part = &ev->parts[0];

	part->definition = true;
	part->state = -1;
	part->restart_reason = RAY_ENTITY_NO_REASON;
	part->row = new_row(c, ev);
	if (part->row == NULL)
		return false;
	ev->nparts = 1;
	switch (ev->kind)
	{
		case RAY_ENTITY_JOB:
			return job_definition(c, p, (Ray__Rpc__JobTableData *) part->row);
		case RAY_ENTITY_ACTOR:
			return actor_definition(c, p, (Ray__Rpc__ActorTableData *) part->row);
		case RAY_ENTITY_NODE:
			return node_definition(c, p, (Ray__Rpc__GcsNodeInfo *) part->row);
	}
	return false;
}

/* One element of stateTransitions into part. */
static bool
read_transition(RayJsonRead *c, const cJSON *t, RayEntityEvent *ev, RayEntityPart *part)
{
	static const char *(*const state_names[RAY_ENTITY_KINDS]) (int) = {
		job_state_name, ray_actor_state_name, ray_node_state_name,
	};
	static const int nstates[RAY_ENTITY_KINDS] = {3, 5, 2};
	bool		has;

	if (!cJSON_IsObject(t))
		return ray_json_reject(c, "a state transition is not an object");
	if (!ray_json_enum(c, t, "state", state_names[ev->kind], nstates[ev->kind], &has, &part->state))
		return false;
	/* A number Ray's proto does not have: no row can show it. */
	if (has && part->state >= nstates[ev->kind])
		return ray_json_reject(c, "a state transition has an unknown state %d", part->state);
	if (!ray_json_time(c, t, "timestamp", &has, &part->ts_ns))
		return false;
	if (!has)
		return ray_json_reject(c, "a state transition has no timestamp");
	part->definition = false;
	part->restart_reason = RAY_ENTITY_NO_REASON;
	part->row = new_row(c, ev);
	if (part->row == NULL)
		return false;
	switch (ev->kind)
	{
		case RAY_ENTITY_JOB:
			return job_transition(c, t, part, (Ray__Rpc__JobTableData *) part->row);
		case RAY_ENTITY_ACTOR:
			return actor_transition(c, t, part, (Ray__Rpc__ActorTableData *) part->row);
		case RAY_ENTITY_NODE:
			return node_transition(c, t, part, (Ray__Rpc__GcsNodeInfo *) part->row);
	}
	return false;
}

static bool
read_lifecycle(RayJsonRead *c, const cJSON *p, RayEntityEvent *ev)
{
	const cJSON *list = ray_json_member(p, "stateTransitions");
	const cJSON *t;
	size_t		n = 0;

	if (list == NULL)
		return true;
	if (!cJSON_IsArray(list))
		return ray_json_reject(c, "\"stateTransitions\" is not an array");
	cJSON_ArrayForEach(t, list) n++;
	if (n == 0)
		return true;
	ev->parts = ray_json_alloc0(c, sizeof(RayEntityPart) * n);
	if (ev->parts == NULL)
		return false;
	cJSON_ArrayForEach(t, list)
	{
		if (!read_transition(c, t, ev, &ev->parts[ev->nparts]))
			return false;
		ev->nparts++;
	}
	return true;
}

RayEntityEvent *
ray_event_entity_read(RayJsonRead *c, int etype, const cJSON *p)
{
	static const char *const id_keys[RAY_ENTITY_KINDS] = {"jobId", "actorId", "nodeId"};
	RayEntityEvent *ev;
	bool		ok;

	if (etype < 5 || etype > 10)
	{
		ray_json_reject(c, "event type %d is not a job, actor or node event", etype);
		return NULL;
	}
	ev = ray_json_alloc0(c, sizeof(*ev));
	if (ev == NULL)
		return NULL;
	/* 5, 6 jobs; 7, 8 nodes; 9, 10 actors; the odd number is the definition. */
	ev->kind = etype <= 6 ? RAY_ENTITY_JOB : etype <= 8 ? RAY_ENTITY_NODE : RAY_ENTITY_ACTOR;
	if (!ray_json_id_raw(c, p, id_keys[ev->kind], ev->id, sizeof(ev->id), &ev->id_len))
		return NULL;
	if (ev->id_len == 0)
	{
		ray_json_reject(c, "the %s event has no \"%s\"", ray_entity_kind_name(ev->kind), id_keys[ev->kind]);
		return NULL;
	}
	if (etype % 2 == 1)
	{
		ev->parts = ray_json_alloc0(c, sizeof(RayEntityPart));
		ok = ev->parts != NULL && read_definition(c, p, ev);
	}
	else
		ok = read_lifecycle(c, p, ev);
	return ok && !c->oom && !c->bad ? ev : NULL;
}
