/*
 * task_columns.c
 *		The column catalog of the tasks table: name, type, pushdown and how
 *		each value is made from a decoded task row.
 *
 * IMPORT FOREIGN SCHEMA, the column checks at plan time, pushdown and tuple
 * building all read this one table, so a column is added in one place.
 * from_keys marks the columns the keys-only decoder fills: a scan that
 * needs no other column skips unpacking whole messages.
 * Types and derivations are the documented ones (docs/tasks.md, `tasks`
 * columns).
 */
#include "raydar.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_requests.h"

typedef bool (*JsonFn) (const RayTaskRow *row, RayBuf *b);

static Datum
json_value(JsonFn fn, const RayTaskRow *row, RayBuf *s, bool *isnull)
{
	ray_buf_reset(s);
	if (!fn(row, s))
	{
		*isnull = true;
		return (Datum) 0;
	}
	return raydar_buf_jsonb(s);
}

/* A task getter: typed body, generic entry point for the catalog. */
#define GETTER(fn) \
	static Datum fn##_t(const RayTaskReply *r, const RayTaskRow *row, RayBuf *s, bool *isnull); \
	static Datum fn(const void *r, const void *row, RayBuf *s, bool *isnull) \
	{ return fn##_t(r, row, s, isnull); } \
	static Datum fn##_t(const RayTaskReply *r, const RayTaskRow *row, RayBuf *s, bool *isnull)

GETTER(get_task_id) { return raydar_id_datum(&row->task_id, s, isnull); }
GETTER(get_attempt_number) { return Int32GetDatum(row->attempt_number); }
GETTER(get_name) { return raydar_nullable_text(row->name, isnull); }
GETTER(get_state)
{
	char		nb[RAY_ENUM_NAME_MAX];

	return CStringGetTextDatum(ray_task_state_text(r, row, nb));
}
GETTER(get_job_id) { return raydar_id_datum(&row->job_id, s, isnull); }
GETTER(get_actor_id) { return raydar_id_datum(&row->actor_id, s, isnull); }
GETTER(get_type)
{
	char		nb[RAY_ENUM_NAME_MAX];

	return CStringGetTextDatum(ray_task_type_text(row, nb));
}
GETTER(get_func_or_class_name) { return raydar_nullable_text(row->info ? row->info->func_or_class_name : NULL, isnull); }
GETTER(get_parent_task_id) { return raydar_id_datum(&row->parent_task_id, s, isnull); }
GETTER(get_node_id) { return raydar_id_datum(&row->node_id, s, isnull); }
GETTER(get_worker_id) { return raydar_id_datum(&row->worker_id, s, isnull); }
GETTER(get_worker_pid)
{
	*isnull = !(row->su && row->su->has_worker_pid);
	return *isnull ? (Datum) 0 : Int32GetDatum(row->su->worker_pid);
}
GETTER(get_error_type)
{
	char		nb[RAY_ENUM_NAME_MAX];
	const char *t = ray_task_error_type_text(r, row, nb);

	return t ? CStringGetTextDatum(t) : (*isnull = true, (Datum) 0);
}
GETTER(get_error_message) { return raydar_nullable_text(row->error_message, isnull); }
GETTER(get_language)
{
	char		nb[RAY_ENUM_NAME_MAX];

	return CStringGetTextDatum(ray_task_language_text(row, nb));
}
/*
 * jsonb columns: the text of ray_task_json_columns.c through raydar_buf_jsonb, whose
 * cache makes repeated values (required_resources is the same few maps on
 * every row) cheap; events and task_log_info, different on every row, are
 * built as JsonbValues instead, as printing and re-parsing them was most of
 * a full scan's time. Both give the same values (the TAP tests check).
 */
GETTER(get_required_resources) { return json_value(ray_task_json_required_resources, row, s, isnull); }
GETTER(get_runtime_env_info) { return json_value(ray_task_json_runtime_env_info, row, s, isnull); }
GETTER(get_placement_group_id) { return raydar_id_datum(&row->placement_group_id, s, isnull); }
GETTER(get_events)
{
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	JsonbValue *res;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < row->n_events; i++)
	{
		char		nb[RAY_ENUM_NAME_MAX];

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		raydar_jbv_key(&ps, "state");
		raydar_jbv_string(&v, ray_enum_text(ray_task_status_name(&r->version, row->events[i].status),
											row->events[i].status, nb));
		pushJsonbValue(&ps, WJB_VALUE, &v);
		raydar_jbv_key(&ps, "created_ms");
		raydar_jbv_int64(&v, ray_ns_to_ms_floor(row->events[i].ns));
		pushJsonbValue(&ps, WJB_VALUE, &v);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}
GETTER(get_profiling_data) { return json_value(ray_task_json_profiling_data, row, s, isnull); }
GETTER(get_creation_time) { return raydar_nullable_time(row->has_creation_ms, row->creation_ms, isnull); }
GETTER(get_start_time) { return raydar_nullable_time(row->has_start_ms, row->start_ms, isnull); }
GETTER(get_end_time) { return raydar_nullable_time(row->has_end_ms, row->end_ms, isnull); }
GETTER(get_task_log_info)
{
	const Ray__Rpc__TaskLogInfo *li = row->su ? row->su->task_log_info : NULL;
	JsonbParseState *ps = NULL;
	JsonbValue	v;
	JsonbValue *res;

	if (li == NULL)
		return (*isnull = true, (Datum) 0);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
#define STR(field) \
	if (li->field) \
	{ \
		raydar_jbv_key(&ps, #field); \
		raydar_jbv_string(&v, li->field); \
		pushJsonbValue(&ps, WJB_VALUE, &v); \
	}
#define INT(field) \
	if (li->has_##field) \
	{ \
		raydar_jbv_key(&ps, #field); \
		raydar_jbv_int64(&v, li->field); \
		pushJsonbValue(&ps, WJB_VALUE, &v); \
	}
	STR(stdout_file);
	STR(stderr_file);
	INT(stdout_start);
	INT(stdout_end);
	INT(stderr_start);
	INT(stderr_end);
#undef STR
#undef INT
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}
GETTER(get_actor_repr_name) { return raydar_nullable_text(row->su ? row->su->actor_repr_name : NULL, isnull); }
GETTER(get_call_site) { return raydar_nullable_text(row->info ? row->info->call_site : NULL, isnull); }
GETTER(get_label_selector) { return json_value(ray_task_json_label_selector, row, s, isnull); }
GETTER(get_is_debugger_paused)
{
	*isnull = !(row->su && row->su->has_is_debugger_paused);
	return *isnull ? (Datum) 0 : BoolGetDatum(row->su->is_debugger_paused);
}

const RaydarColumn raydar_task_columns[] = {
	{"task_id", RAYDAR_TEXT, RAY_TF_TASK_ID, get_task_id, "task ID, hex", true},
	{"attempt_number", RAYDAR_INT4, -1, get_attempt_number, "attempt, 0 for the first run", true},
	{"name", RAYDAR_TEXT, RAY_TF_NAME, get_name, "task name; actor tasks as <actor repr>.<method>", false},
	{"state", RAYDAR_TEXT, RAY_TF_STATE, get_state, "latest TaskStatus, by the server's version", true},
	{"job_id", RAYDAR_TEXT, RAY_TF_JOB_ID, get_job_id, "job ID, hex", true},
	{"actor_id", RAYDAR_TEXT, RAY_TF_ACTOR_ID, get_actor_id, "actor ID, hex, for actor tasks", false},
	{"type", RAYDAR_TEXT, -1, get_type, "NORMAL_TASK, ACTOR_CREATION_TASK, ACTOR_TASK or DRIVER_TASK", false},
	{"func_or_class_name", RAYDAR_TEXT, -1, get_func_or_class_name, "function or class.method", false},
	{"parent_task_id", RAYDAR_TEXT, -1, get_parent_task_id, "task that submitted this one, hex", false},
	{"node_id", RAYDAR_TEXT, -1, get_node_id, "node the attempt ran on, hex", false},
	{"worker_id", RAYDAR_TEXT, -1, get_worker_id, "worker the attempt ran on, hex", false},
	{"worker_pid", RAYDAR_INT4, -1, get_worker_pid, "worker process ID", false},
	{"error_type", RAYDAR_TEXT, -1, get_error_type, "Ray ErrorType name, only when FAILED", false},
	{"error_message", RAYDAR_TEXT, -1, get_error_message, "error text without ANSI codes, only when FAILED", false},
	{"language", RAYDAR_TEXT, -1, get_language, "PYTHON, JAVA or CPP", false},
	{"required_resources", RAYDAR_JSONB, -1, get_required_resources, "{\"CPU\": 1, ...}", false},
	{"runtime_env_info", RAYDAR_JSONB, -1, get_runtime_env_info, "serialized runtime env, URIs and config", false},
	{"placement_group_id", RAYDAR_TEXT, -1, get_placement_group_id, "placement group, hex", false},
	{"events", RAYDAR_JSONB, -1, get_events, "[{\"state\", \"created_ms\"}] in TaskStatus order", true},
	{"profiling_data", RAYDAR_JSONB, -1, get_profiling_data, "profile events, times in ms", false},
	{"creation_time", RAYDAR_TIMESTAMPTZ, -1, get_creation_time, "PENDING_ARGS_AVAIL time", true},
	{"start_time", RAYDAR_TIMESTAMPTZ, -1, get_start_time, "RUNNING time", true},
	{"end_time", RAYDAR_TIMESTAMPTZ, -1, get_end_time, "FINISHED or FAILED time", true},
	{"task_log_info", RAYDAR_JSONB, -1, get_task_log_info, "stdout/stderr files and offsets", false},
	{"actor_repr_name", RAYDAR_TEXT, -1, get_actor_repr_name, "repr() of the actor", false},
	{"call_site", RAYDAR_TEXT, -1, get_call_site, "where the task was submitted (Ray 2.41+)", false},
	{"label_selector", RAYDAR_JSONB, -1, get_label_selector, "node label selector (Ray 2.48+)", false},
	{"is_debugger_paused", RAYDAR_BOOL, -1, get_is_debugger_paused, "paused in the Ray debugger", false},
	{NULL, RAYDAR_TEXT, -1, NULL, NULL, false}
};

const RaydarResource raydar_resources[] = {
	{"tasks", RAYDAR_TASKS_KIND, raydar_task_columns, "/api/v0/tasks"},
	{"actors", RAY_RESOURCE_ACTORS, raydar_actor_columns, "/api/v0/actors"},
	{"nodes", RAY_RESOURCE_NODES, raydar_node_columns, "/api/v0/nodes"},
	{"jobs", RAY_RESOURCE_JOBS, raydar_job_columns, "/api/v0/jobs"},
	{"workers", RAY_RESOURCE_WORKERS, raydar_worker_columns, "/api/v0/workers"},
	{"placement_groups", RAY_RESOURCE_PLACEMENT_GROUPS, raydar_placement_group_columns,
	"/api/v0/placement_groups"},
	{NULL, 0, NULL, NULL}
};

/* The GCS's gRPC method that lists res (the core knows the cluster ones). */
const char *
raydar_resource_method(const RaydarResource *res)
{
	return res->kind == RAYDAR_TASKS_KIND ? RAYDAR_METHOD_GET_TASK_EVENTS
		: ray_cluster_method((RayResourceKind) res->kind);
}

const RaydarResource *
raydar_find_resource(const char *name)
{
	for (const RaydarResource *r = raydar_resources; r->name; r++)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

int
raydar_ncolumns(const RaydarColumn *cols)
{
	int			n = 0;

	while (cols[n].name)
		n++;
	return n;
}

const RaydarColumn *
raydar_find_column(const RaydarColumn *cols, const char *name)
{
	for (const RaydarColumn *c = cols; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

Oid
raydar_coltype_oid(RaydarColType t)
{
	switch (t)
	{
		case RAYDAR_TEXT:
			return TEXTOID;
		case RAYDAR_INT4:
			return INT4OID;
		case RAYDAR_INT8:
			return INT8OID;
		case RAYDAR_BOOL:
			return BOOLOID;
		case RAYDAR_JSONB:
			return JSONBOID;
		case RAYDAR_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
	}
	return InvalidOid;
}

const char *
raydar_coltype_sql(RaydarColType t)
{
	switch (t)
	{
		case RAYDAR_TEXT:
			return "text";
		case RAYDAR_INT4:
			return "integer";
		case RAYDAR_INT8:
			return "bigint";
		case RAYDAR_BOOL:
			return "boolean";
		case RAYDAR_JSONB:
			return "jsonb";
		case RAYDAR_TIMESTAMPTZ:
			return "timestamptz";
	}
	return "text";
}
