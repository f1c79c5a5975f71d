/*
 * cluster_columns.c
 *		Column catalogs of actors, nodes, jobs, workers and placement_groups.
 *
 * Values are what Ray's State API shows: ids as hex (NULL when absent),
 * enums as names (the number when unknown), times as timestamptz (NULL when
 * unset: Ray's 0), maps as jsonb, death causes as the alternative's name and
 * its message. Strings Ray declares without presence (proto3) read as ''
 * when absent, as Ray shows them; optional ones read as NULL.
 */
#include "raydar.h"

#include "utils/builtins.h"

#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_requests.h"

#define ROW(type) const type *x = (const type *) row_
#define GETTER(fn) \
	static Datum fn(const void *reply_ pg_attribute_unused(), const void *row_, \
					RayBuf *s pg_attribute_unused(), bool *isnull pg_attribute_unused())

static Datum
enum_datum(const char *name, int value)
{
	char		nb[RAY_ENUM_NAME_MAX];

	return CStringGetTextDatum(ray_enum_text(name, value, nb));
}

/* proto3 string: absent is '' */
static Datum
str3(const char *v)
{
	return raydar_text_datum(v ? v : "");
}

static Datum
bytes_hex(protobuf_c_boolean has, ProtobufCBinaryData d, RayBuf *s, bool *isnull)
{
	return raydar_hex_datum(has ? d.data : NULL, has ? d.len : 0, s, isnull);
}

/* Ray's times: 0 or absent means never. */
static Datum
ms_time(protobuf_c_boolean has, int64 ms, bool *isnull)
{
	return raydar_nullable_time(has && ms != 0, ms, isnull);
}

/*
 * The uint64 millisecond times of actors, nodes, jobs and workers: a value
 * past INT64_MAX is out of range, not a negative time (a cast would turn
 * 2^64-1 into 1969-12-31).
 */
static Datum
ms_time_u64(protobuf_c_boolean has, uint64 ms, bool *isnull)
{
	if (has && ms > (uint64) PG_INT64_MAX)
	{
		char		v[32];

		snprintf(v, sizeof(v), UINT64_FORMAT, ms);
		raydar_count_out_of_range("a time in unix milliseconds", v);
		*isnull = true;
		return (Datum) 0;
	}
	return ms_time(has, (int64) ms, isnull);
}

/* map<string, double> / map<string, string> as a JSON object. */
#define JSON_MAP(s, n, entries, VALUE) \
	do { \
		ray_buf_reset(s); \
		ray_buf_putc(s, '{'); \
		for (size_t i_ = 0; i_ < (n); i_++) \
		{ \
			const char *k_ = (entries)[i_]->key ? (entries)[i_]->key : ""; \
			if (i_ > 0) \
				ray_buf_puts(s, ", "); \
			ray_buf_json_string(s, k_, strlen(k_)); \
			ray_buf_puts(s, ": "); \
			VALUE; \
		} \
		ray_buf_putc(s, '}'); \
	} while (0)
#define DOUBLE_VALUE(e) ray_buf_json_double(s, (e)->value)
#define STRING_VALUE(e) ray_buf_json_string(s, (e)->value ? (e)->value : "", (e)->value ? strlen((e)->value) : 0)

/* ---------------------------------------------------------------- actors */

GETTER(actor_id) { ROW(Ray__Rpc__ActorTableData); return bytes_hex(x->has_actor_id, x->actor_id, s, isnull); }
GETTER(actor_class_name) { ROW(Ray__Rpc__ActorTableData); return str3(x->class_name); }
GETTER(actor_name) { ROW(Ray__Rpc__ActorTableData); return str3(x->name); }
GETTER(actor_state) { ROW(Ray__Rpc__ActorTableData); return enum_datum(ray_actor_state_name(x->state), x->state); }
GETTER(actor_job_id) { ROW(Ray__Rpc__ActorTableData); return bytes_hex(x->has_job_id, x->job_id, s, isnull); }
GETTER(actor_node_id) { ROW(Ray__Rpc__ActorTableData); return bytes_hex(x->has_node_id, x->node_id, s, isnull); }
GETTER(actor_worker_id)
{
	ROW(Ray__Rpc__ActorTableData);
	return x->address ? bytes_hex(x->address->has_worker_id, x->address->worker_id, s, isnull)
		: (*isnull = true, (Datum) 0);
}
GETTER(actor_node_ip)
{
	ROW(Ray__Rpc__ActorTableData);
	return x->address && x->address->ip_address && x->address->ip_address[0]
		? raydar_text_datum(x->address->ip_address) : (*isnull = true, (Datum) 0);
}
GETTER(actor_pid) { ROW(Ray__Rpc__ActorTableData); return Int64GetDatum((int64) x->pid); }
GETTER(actor_ray_namespace) { ROW(Ray__Rpc__ActorTableData); return str3(x->ray_namespace); }
GETTER(actor_repr_name) { ROW(Ray__Rpc__ActorTableData); return str3(x->repr_name); }
GETTER(actor_is_detached) { ROW(Ray__Rpc__ActorTableData); return BoolGetDatum(x->is_detached); }
GETTER(actor_num_restarts) { ROW(Ray__Rpc__ActorTableData); return Int64GetDatum((int64) x->num_restarts); }
GETTER(actor_num_restarts_lineage)
{
	ROW(Ray__Rpc__ActorTableData);
	return Int64GetDatum(x->num_restarts_due_to_lineage_reconstruction);
}
GETTER(actor_max_restarts) { ROW(Ray__Rpc__ActorTableData); return Int64GetDatum(x->max_restarts); }
GETTER(actor_required_resources)
{
	ROW(Ray__Rpc__ActorTableData);
	JSON_MAP(s, x->n_required_resources, x->required_resources, DOUBLE_VALUE(x->required_resources[i_]));
	return raydar_buf_jsonb(s);
}
GETTER(actor_placement_group_id)
{
	ROW(Ray__Rpc__ActorTableData);
	return bytes_hex(x->has_placement_group_id, x->placement_group_id, s, isnull);
}
GETTER(actor_start_time) { ROW(Ray__Rpc__ActorTableData); return ms_time_u64(x->has_start_time, x->start_time, isnull); }
GETTER(actor_end_time) { ROW(Ray__Rpc__ActorTableData); return ms_time_u64(x->has_end_time, x->end_time, isnull); }
GETTER(actor_death_cause_type)
{
	const char *msg;

	ROW(Ray__Rpc__ActorTableData);
	return raydar_nullable_text(ray_actor_death_cause(x, &msg), isnull);
}
GETTER(actor_death_cause_message)
{
	const char *msg;

	ROW(Ray__Rpc__ActorTableData);
	(void) ray_actor_death_cause(x, &msg);
	return raydar_nullable_text(msg, isnull);
}
GETTER(actor_call_site) { ROW(Ray__Rpc__ActorTableData); return raydar_nullable_text(x->call_site, isnull); }
GETTER(actor_label_selector)
{
	ROW(Ray__Rpc__ActorTableData);
	if (x->n_label_selector == 0)
		return (*isnull = true, (Datum) 0);
	JSON_MAP(s, x->n_label_selector, x->label_selector, STRING_VALUE(x->label_selector[i_]));
	return raydar_buf_jsonb(s);
}

const RaydarColumn raydar_actor_columns[] = {
	{"actor_id", RAYDAR_TEXT, RAY_CF_ACTOR_ID, actor_id, "actor ID, hex", false},
	{"class_name", RAYDAR_TEXT, -1, actor_class_name, "the actor's class", false},
	{"name", RAYDAR_TEXT, -1, actor_name, "name given with .options(name=...), '' if none", false},
	{"state", RAYDAR_TEXT, RAY_CF_ACTOR_STATE, actor_state, "DEPENDENCIES_UNREADY, PENDING_CREATION, ALIVE, RESTARTING or DEAD", false},
	{"job_id", RAYDAR_TEXT, RAY_CF_ACTOR_JOB_ID, actor_job_id, "job that created it, hex", false},
	{"node_id", RAYDAR_TEXT, -1, actor_node_id, "node it runs (or ran) on, hex", false},
	{"worker_id", RAYDAR_TEXT, -1, actor_worker_id, "worker it runs in, hex", false, true},
	{"node_ip", RAYDAR_TEXT, -1, actor_node_ip, "IP address of its worker", false, true},
	{"pid", RAYDAR_INT8, -1, actor_pid, "worker process ID, 0 if never started", false},
	{"ray_namespace", RAYDAR_TEXT, -1, actor_ray_namespace, "namespace", false},
	{"repr_name", RAYDAR_TEXT, -1, actor_repr_name, "repr() of the actor, '' if none", false},
	{"is_detached", RAYDAR_BOOL, -1, actor_is_detached, "outlives its job", false},
	{"num_restarts", RAYDAR_INT8, -1, actor_num_restarts, "times restarted", false},
	{"num_restarts_due_to_lineage_reconstruction", RAYDAR_INT8, -1, actor_num_restarts_lineage, "restarts for lineage reconstruction (Ray 2.37+)", false},
	{"max_restarts", RAYDAR_INT8, -1, actor_max_restarts, "restart limit, -1 for unlimited", false, true},
	{"required_resources", RAYDAR_JSONB, -1, actor_required_resources, "{\"CPU\": 1, ...}", false},
	{"placement_group_id", RAYDAR_TEXT, -1, actor_placement_group_id, "placement group, hex", false},
	{"start_time", RAYDAR_TIMESTAMPTZ, -1, actor_start_time, "when it started", false, true},
	{"end_time", RAYDAR_TIMESTAMPTZ, -1, actor_end_time, "when it died", false, true},
	{"death_cause_type", RAYDAR_TEXT, -1, actor_death_cause_type, "creation_task_failure_context, runtime_env_failed_context, actor_died_error_context, actor_unschedulable_context or oom_context", false},
	{"death_cause_message", RAYDAR_TEXT, -1, actor_death_cause_message, "why it died", false},
	{"call_site", RAYDAR_TEXT, -1, actor_call_site, "where it was created (Ray 2.41+)", false},
	{"label_selector", RAYDAR_JSONB, -1, actor_label_selector, "node label selector (Ray 2.48+)", false},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};

/* ----------------------------------------------------------------- nodes */

GETTER(node_id) { ROW(Ray__Rpc__GcsNodeInfo); return bytes_hex(x->has_node_id, x->node_id, s, isnull); }
GETTER(node_ip) { ROW(Ray__Rpc__GcsNodeInfo); return str3(x->node_manager_address); }
GETTER(node_name) { ROW(Ray__Rpc__GcsNodeInfo); return str3(x->node_name); }
GETTER(node_hostname) { ROW(Ray__Rpc__GcsNodeInfo); return str3(x->node_manager_hostname); }
GETTER(node_state) { ROW(Ray__Rpc__GcsNodeInfo); return enum_datum(ray_node_state_name(x->state), x->state); }
GETTER(node_is_head) { ROW(Ray__Rpc__GcsNodeInfo); return BoolGetDatum(x->is_head_node); }
GETTER(node_resources_total)
{
	ROW(Ray__Rpc__GcsNodeInfo);
	JSON_MAP(s, x->n_resources_total, x->resources_total, DOUBLE_VALUE(x->resources_total[i_]));
	return raydar_buf_jsonb(s);
}
GETTER(node_labels)
{
	ROW(Ray__Rpc__GcsNodeInfo);
	JSON_MAP(s, x->n_labels, x->labels, STRING_VALUE(x->labels[i_]));
	return raydar_buf_jsonb(s);
}
GETTER(node_start_time) { ROW(Ray__Rpc__GcsNodeInfo); return ms_time_u64(x->has_start_time_ms, x->start_time_ms, isnull); }
GETTER(node_end_time) { ROW(Ray__Rpc__GcsNodeInfo); return ms_time_u64(x->has_end_time_ms, x->end_time_ms, isnull); }
GETTER(node_death_reason)
{
	ROW(Ray__Rpc__GcsNodeInfo);
	if (x->death_info == NULL)
		return (*isnull = true, (Datum) 0);
	return enum_datum(ray_node_death_reason_name(x->death_info->reason), x->death_info->reason);
}
GETTER(node_death_reason_message)
{
	ROW(Ray__Rpc__GcsNodeInfo);
	if (x->death_info == NULL)
		return (*isnull = true, (Datum) 0);
	return str3(x->death_info->reason_message);
}
GETTER(node_manager_port) { ROW(Ray__Rpc__GcsNodeInfo); return Int32GetDatum(x->node_manager_port); }
GETTER(node_object_manager_port) { ROW(Ray__Rpc__GcsNodeInfo); return Int32GetDatum(x->object_manager_port); }
GETTER(node_instance_id) { ROW(Ray__Rpc__GcsNodeInfo); return raydar_nullable_text(x->instance_id && x->instance_id[0] ? x->instance_id : NULL, isnull); }
GETTER(node_type_name) { ROW(Ray__Rpc__GcsNodeInfo); return raydar_nullable_text(x->node_type_name && x->node_type_name[0] ? x->node_type_name : NULL, isnull); }
GETTER(node_instance_type_name) { ROW(Ray__Rpc__GcsNodeInfo); return raydar_nullable_text(x->instance_type_name && x->instance_type_name[0] ? x->instance_type_name : NULL, isnull); }

const RaydarColumn raydar_node_columns[] = {
	{"node_id", RAYDAR_TEXT, RAY_CF_NODE_ID, node_id, "node ID, hex", false},
	{"node_ip", RAYDAR_TEXT, -1, node_ip, "the raylet's IP address", false},
	{"node_name", RAYDAR_TEXT, -1, node_name, "node name", false},
	{"hostname", RAYDAR_TEXT, -1, node_hostname, "host name", false, true},
	{"state", RAYDAR_TEXT, RAY_CF_NODE_STATE, node_state, "ALIVE or DEAD", false},
	{"is_head_node", RAYDAR_BOOL, -1, node_is_head, "the head node", false},
	{"resources_total", RAYDAR_JSONB, -1, node_resources_total, "{\"CPU\": 16, ...}", false},
	{"labels", RAYDAR_JSONB, -1, node_labels, "node labels", false},
	{"start_time", RAYDAR_TIMESTAMPTZ, -1, node_start_time, "when it joined", false},
	{"end_time", RAYDAR_TIMESTAMPTZ, -1, node_end_time, "when it died", false},
	{"death_reason", RAYDAR_TEXT, -1, node_death_reason, "EXPECTED_TERMINATION, UNEXPECTED_TERMINATION, AUTOSCALER_DRAIN_PREEMPTED, AUTOSCALER_DRAIN_IDLE (Ray 2.10+)", false},
	{"death_reason_message", RAYDAR_TEXT, -1, node_death_reason_message, "why it died (Ray 2.10+)", false},
	{"node_manager_port", RAYDAR_INT4, -1, node_manager_port, "raylet port", false, true},
	{"object_manager_port", RAYDAR_INT4, -1, node_object_manager_port, "object manager port", false, true},
	{"instance_id", RAYDAR_TEXT, -1, node_instance_id, "cloud instance ID", false, true},
	{"node_type_name", RAYDAR_TEXT, -1, node_type_name, "autoscaler node type", false, true},
	{"instance_type_name", RAYDAR_TEXT, -1, node_instance_type_name, "cloud instance type", false, true},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};

/* ------------------------------------------------------------------ jobs */

GETTER(job_id) { ROW(Ray__Rpc__JobTableData); return bytes_hex(x->has_job_id, x->job_id, s, isnull); }
GETTER(job_is_dead) { ROW(Ray__Rpc__JobTableData); return BoolGetDatum(x->is_dead); }
GETTER(job_driver_ip) { ROW(Ray__Rpc__JobTableData); return str3(x->driver_ip_address); }
GETTER(job_driver_pid) { ROW(Ray__Rpc__JobTableData); return Int64GetDatum(x->driver_pid); }
GETTER(job_start_time) { ROW(Ray__Rpc__JobTableData); return ms_time_u64(x->has_start_time, x->start_time, isnull); }
GETTER(job_end_time) { ROW(Ray__Rpc__JobTableData); return ms_time_u64(x->has_end_time, x->end_time, isnull); }
GETTER(job_entrypoint) { ROW(Ray__Rpc__JobTableData); return str3(x->entrypoint); }
GETTER(job_status) { ROW(Ray__Rpc__JobTableData); return raydar_nullable_text(x->job_info ? x->job_info->status : NULL, isnull); }
GETTER(job_message) { ROW(Ray__Rpc__JobTableData); return raydar_nullable_text(x->job_info ? x->job_info->message : NULL, isnull); }
GETTER(job_driver_exit_code)
{
	ROW(Ray__Rpc__JobTableData);
	if (x->job_info == NULL || !x->job_info->has_driver_exit_code)
		return (*isnull = true, (Datum) 0);
	return Int32GetDatum(x->job_info->driver_exit_code);
}
GETTER(job_metadata)
{
	ROW(Ray__Rpc__JobTableData);
	if (x->job_info == NULL || x->job_info->n_metadata == 0)
		return (*isnull = true, (Datum) 0);
	JSON_MAP(s, x->job_info->n_metadata, x->job_info->metadata, STRING_VALUE(x->job_info->metadata[i_]));
	return raydar_buf_jsonb(s);
}
GETTER(job_is_running_tasks)
{
	ROW(Ray__Rpc__JobTableData);
	*isnull = !x->has_is_running_tasks;
	return BoolGetDatum(x->is_running_tasks);
}

const RaydarColumn raydar_job_columns[] = {
	{"job_id", RAYDAR_TEXT, RAY_CF_JOB_ID, job_id, "job ID, hex", false},
	{"is_dead", RAYDAR_BOOL, -1, job_is_dead, "the job has ended", false},
	{"status", RAYDAR_TEXT, -1, job_status, "submission jobs: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED", false},
	{"entrypoint", RAYDAR_TEXT, -1, job_entrypoint, "the driver's command line", false},
	{"message", RAYDAR_TEXT, -1, job_message, "submission jobs: status message", false},
	{"driver_exit_code", RAYDAR_INT4, -1, job_driver_exit_code, "submission jobs: the driver's exit code", false},
	{"metadata", RAYDAR_JSONB, -1, job_metadata, "submission jobs: metadata", false},
	{"driver_ip_address", RAYDAR_TEXT, -1, job_driver_ip, "where the driver runs", false},
	{"driver_pid", RAYDAR_INT8, -1, job_driver_pid, "driver process ID", false},
	{"start_time", RAYDAR_TIMESTAMPTZ, -1, job_start_time, "when it started", false},
	{"end_time", RAYDAR_TIMESTAMPTZ, -1, job_end_time, "when it ended", false},
	{"is_running_tasks", RAYDAR_BOOL, -1, job_is_running_tasks, "has tasks running (when Ray says)", false, true},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};

/* --------------------------------------------------------------- workers */

GETTER(worker_id)
{
	ROW(Ray__Rpc__WorkerTableData);
	return x->worker_address ? bytes_hex(x->worker_address->has_worker_id, x->worker_address->worker_id, s, isnull)
		: (*isnull = true, (Datum) 0);
}
GETTER(worker_node_id)
{
	ROW(Ray__Rpc__WorkerTableData);
	return x->worker_address ? bytes_hex(x->worker_address->has_node_id, x->worker_address->node_id, s, isnull)
		: (*isnull = true, (Datum) 0);
}
GETTER(worker_ip)
{
	ROW(Ray__Rpc__WorkerTableData);
	return x->worker_address ? str3(x->worker_address->ip_address) : (*isnull = true, (Datum) 0);
}
GETTER(worker_port)
{
	ROW(Ray__Rpc__WorkerTableData);
	return x->worker_address ? Int32GetDatum(x->worker_address->port) : (*isnull = true, (Datum) 0);
}
GETTER(worker_pid) { ROW(Ray__Rpc__WorkerTableData); return Int64GetDatum((int64) x->pid); }
GETTER(worker_type) { ROW(Ray__Rpc__WorkerTableData); return enum_datum(ray_worker_type_name(x->worker_type), x->worker_type); }
GETTER(worker_is_alive) { ROW(Ray__Rpc__WorkerTableData); return BoolGetDatum(x->is_alive); }
GETTER(worker_exit_type)
{
	ROW(Ray__Rpc__WorkerTableData);
	/* optional: present with 0 (SYSTEM_ERROR) is not absent */
	if (!x->has_exit_type)
		return (*isnull = true, (Datum) 0);
	return enum_datum(ray_worker_exit_type_name(x->exit_type), x->exit_type);
}
GETTER(worker_exit_detail) { ROW(Ray__Rpc__WorkerTableData); return raydar_nullable_text(x->exit_detail, isnull); }
GETTER(worker_start_time) { ROW(Ray__Rpc__WorkerTableData); return ms_time_u64(x->has_start_time_ms, x->start_time_ms, isnull); }
GETTER(worker_end_time) { ROW(Ray__Rpc__WorkerTableData); return ms_time_u64(x->has_end_time_ms, x->end_time_ms, isnull); }
GETTER(worker_launch_time) { ROW(Ray__Rpc__WorkerTableData); return ms_time_u64(x->has_worker_launch_time_ms, x->worker_launch_time_ms, isnull); }
GETTER(worker_launched_time) { ROW(Ray__Rpc__WorkerTableData); return ms_time_u64(x->has_worker_launched_time_ms, x->worker_launched_time_ms, isnull); }

const RaydarColumn raydar_worker_columns[] = {
	{"worker_id", RAYDAR_TEXT, -1, worker_id, "worker ID, hex", false},
	{"node_id", RAYDAR_TEXT, -1, worker_node_id, "node it runs on, hex", false},
	{"ip", RAYDAR_TEXT, -1, worker_ip, "IP address", false},
	{"port", RAYDAR_INT4, -1, worker_port, "port", false, true},
	{"pid", RAYDAR_INT8, -1, worker_pid, "process ID", false},
	{"worker_type", RAYDAR_TEXT, -1, worker_type, "WORKER, DRIVER, SPILL_WORKER or RESTORE_WORKER", false},
	{"is_alive", RAYDAR_BOOL, RAY_CF_WORKER_ALIVE, worker_is_alive, "still running", false},
	{"exit_type", RAYDAR_TEXT, -1, worker_exit_type, "SYSTEM_ERROR, INTENDED_SYSTEM_EXIT, USER_ERROR, INTENDED_USER_EXIT or NODE_OUT_OF_MEMORY", false},
	{"exit_detail", RAYDAR_TEXT, -1, worker_exit_detail, "why it exited", false},
	{"start_time", RAYDAR_TIMESTAMPTZ, -1, worker_start_time, "when it started", false},
	{"end_time", RAYDAR_TIMESTAMPTZ, -1, worker_end_time, "when it exited", false},
	{"worker_launch_time", RAYDAR_TIMESTAMPTZ, -1, worker_launch_time, "when its launch was requested", false},
	{"worker_launched_time", RAYDAR_TIMESTAMPTZ, -1, worker_launched_time, "when it was launched", false},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};

/* ------------------------------------------------------ placement groups */

#define PG_VIEW() ROW(RayPlacementGroupView); const RayPlacementGroupView v = *x

GETTER(pg_id) { PG_VIEW(); return raydar_hex_datum(v.id.data, v.id.len, s, isnull); }
GETTER(pg_name) { PG_VIEW(); return str3(v.name); }
GETTER(pg_state)
{
	const RayClusterReply *r = reply_;
	PG_VIEW();

	return enum_datum(ray_pg_state_name(&r->version, v.state), v.state);
}
GETTER(pg_strategy) { PG_VIEW(); return enum_datum(ray_pg_strategy_name(v.strategy), v.strategy); }
GETTER(pg_creator_job_id) { PG_VIEW(); return bytes_hex(v.has_creator_job_id, v.creator_job_id, s, isnull); }
GETTER(pg_creator_actor_id) { PG_VIEW(); return bytes_hex(v.has_creator_actor_id, v.creator_actor_id, s, isnull); }
GETTER(pg_is_detached) { PG_VIEW(); return BoolGetDatum(v.is_detached); }
GETTER(pg_ray_namespace) { PG_VIEW(); return str3(v.ray_namespace); }
GETTER(pg_creation_time) { PG_VIEW(); return ms_time(true, v.creation_ms, isnull); }
GETTER(pg_final_time) { PG_VIEW(); return ms_time(true, v.final_placement_ms, isnull); }
GETTER(pg_bundles)
{
	PG_VIEW();

	ray_buf_reset(s);
	ray_buf_putc(s, '[');
	for (size_t i = 0; i < v.n_bundles; i++)
	{
		const Ray__Rpc__Bundle *b = v.bundles[i];
		RayBuf		res;

		if (i > 0)
			ray_buf_puts(s, ", ");
		ray_buf_puts(s, "{\"bundle_index\": ");
		ray_buf_int64(s, b->bundle_id && b->bundle_id->has_bundle_index ? b->bundle_id->bundle_index : 0);
		ray_buf_puts(s, ", \"node_id\": ");
		if (b->has_node_id && b->node_id.len > 0)
		{
			ray_buf_putc(s, '"');
			ray_buf_hex(s, b->node_id.data, b->node_id.len);
			ray_buf_putc(s, '"');
		}
		else
			ray_buf_puts(s, "null");
		ray_buf_puts(s, ", \"unit_resources\": ");
		/* JSON_MAP resets its buffer: build the map apart, then append it. */
		ray_buf_init(&res, NULL);
		{
			RayBuf	   *s_outer = s;

			s = &res;
			JSON_MAP(s, b->n_unit_resources, b->unit_resources, DOUBLE_VALUE(b->unit_resources[i_]));
			s = s_outer;
		}
		ray_buf_append(s, res.data, res.len);
		ray_buf_free(&res);
		ray_buf_putc(s, '}');
	}
	ray_buf_putc(s, ']');
	return raydar_buf_jsonb(s);
}

const RaydarColumn raydar_placement_group_columns[] = {
	{"placement_group_id", RAYDAR_TEXT, -1, pg_id, "placement group ID, hex", false},
	{"name", RAYDAR_TEXT, -1, pg_name, "name, '' if none", false},
	{"state", RAYDAR_TEXT, -1, pg_state, "PENDING, PREPARED (2.36+), CREATED, REMOVED or RESCHEDULING", false},
	{"strategy", RAYDAR_TEXT, -1, pg_strategy, "PACK, SPREAD, STRICT_PACK or STRICT_SPREAD", false, true},
	{"creator_job_id", RAYDAR_TEXT, -1, pg_creator_job_id, "job that created it, hex", false},
	{"creator_actor_id", RAYDAR_TEXT, -1, pg_creator_actor_id, "actor that created it, hex", false, true},
	{"is_detached", RAYDAR_BOOL, -1, pg_is_detached, "outlives its job", false},
	{"ray_namespace", RAYDAR_TEXT, -1, pg_ray_namespace, "namespace", false, true},
	{"bundles", RAYDAR_JSONB, -1, pg_bundles, "[{\"bundle_index\", \"node_id\", \"unit_resources\"}]", false},
	{"creation_time", RAYDAR_TIMESTAMPTZ, -1, pg_creation_time, "when it was created", false, true},
	{"final_bundle_placement_time", RAYDAR_TIMESTAMPTZ, -1, pg_final_time, "when its last bundle was placed", false, true},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};
