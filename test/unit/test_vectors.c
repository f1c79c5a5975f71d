/*
 * test_vectors.c
 *		Decode Ray's own wire vectors and compare every field of every row,
 *		and every reply counter, with expected_tasks.json.
 *
 * The vectors in test/fixtures/ray-wire were encoded by protoc from Ray's
 * field numbers, and expected_tasks.json holds what Ray's dashboard derives
 * from them; neither was produced by raydar. Passing here proves the
 * decoder against Ray, not against our own protos.
 *
 * Usage:
 *   test_vectors                      all five profiles under RAYDAR_VECTORS
 *   test_vectors REPLY VERSION JSON   one reply (the simulator fidelity test)
 */
#include <cjson/cJSON.h>

#include "ray_enums.h"
#include "ray_tasks.h"
#include "tap.h"
#include "testutil.h"

static cJSON *
json_or_null(bool present, RayBuf *b)
{
	cJSON	   *j;

	if (!present)
		return cJSON_CreateNull();
	if (b->oom)
		return NULL;
	j = cJSON_Parse(b->data);
	return j;
}

static cJSON *
hex_or_null(const RayId *id)
{
	RayBuf		b;
	cJSON	   *j;

	if (id->len == 0)
		return cJSON_CreateNull();
	ray_buf_init(&b, NULL);
	ray_buf_hex(&b, id->data, id->len);
	j = cJSON_CreateString(b.data);
	ray_buf_free(&b);
	return j;
}

static cJSON *
str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *
ms_or_null(bool has, int64_t ms)
{
	return has ? cJSON_CreateNumber((double) ms) : cJSON_CreateNull();
}

/* A decoded row in the schema of expected_tasks.json. */
static cJSON *
row_to_json(const RayTaskReply *r, const RayTaskRow *row, int *json_errors)
{
	cJSON	   *o = cJSON_CreateObject();
	char		nb[RAY_ENUM_NAME_MAX];
	RayBuf		b;
	cJSON	   *j;
	const Ray__Rpc__TaskInfoEntry *info = row->info;
	const Ray__Rpc__TaskStateUpdate *su = row->su;

	ray_buf_init(&b, NULL);
	cJSON_AddItemToObject(o, "task_id", hex_or_null(&row->task_id));
	cJSON_AddNumberToObject(o, "attempt_number", row->ev->attempt_number);
	cJSON_AddItemToObject(o, "name", str_or_null(row->name));
	cJSON_AddStringToObject(o, "state", ray_task_state_text(r, row, nb));
	cJSON_AddItemToObject(o, "job_id", hex_or_null(&row->job_id));
	cJSON_AddItemToObject(o, "actor_id", hex_or_null(&row->actor_id));
	cJSON_AddStringToObject(o, "type", ray_task_type_text(row, nb));
	cJSON_AddItemToObject(o, "func_or_class_name", str_or_null(info ? info->func_or_class_name : NULL));
	cJSON_AddItemToObject(o, "parent_task_id", hex_or_null(&row->parent_task_id));
	cJSON_AddItemToObject(o, "node_id", hex_or_null(&row->node_id));
	cJSON_AddItemToObject(o, "worker_id", hex_or_null(&row->worker_id));
	cJSON_AddItemToObject(o, "worker_pid", su && su->has_worker_pid ?
						  cJSON_CreateNumber(su->worker_pid) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "error_type", str_or_null(ray_task_error_type_text(r, row, nb)));
	cJSON_AddItemToObject(o, "error_message", str_or_null(row->error_message));
	cJSON_AddStringToObject(o, "language", ray_task_language_text(row, nb));
	cJSON_AddItemToObject(o, "placement_group_id", hex_or_null(&row->placement_group_id));
	cJSON_AddItemToObject(o, "creation_time_ms", ms_or_null(row->has_creation_ms, row->creation_ms));
	cJSON_AddItemToObject(o, "start_time_ms", ms_or_null(row->has_start_ms, row->start_ms));
	cJSON_AddItemToObject(o, "end_time_ms", ms_or_null(row->has_end_ms, row->end_ms));
	cJSON_AddItemToObject(o, "actor_repr_name", str_or_null(su ? su->actor_repr_name : NULL));
	cJSON_AddItemToObject(o, "call_site", str_or_null(info ? info->call_site : NULL));
	cJSON_AddItemToObject(o, "serialized_runtime_env",
						  str_or_null(info && info->runtime_env_info ?
									  info->runtime_env_info->serialized_runtime_env : NULL));

	/* The jsonb columns, through the core's own JSON writer. */
#define JSON_COL(key, fn) \
	do { \
		bool present; \
		ray_buf_reset(&b); \
		present = fn; \
		j = json_or_null(present, &b); \
		if (j == NULL) { (*json_errors)++; j = cJSON_CreateString("<invalid JSON>"); } \
		cJSON_AddItemToObject(o, key, j); \
	} while (0)

	JSON_COL("required_resources", ray_task_json_required_resources(row, &b));
	JSON_COL("events", ray_task_json_events(r, row, &b));
	JSON_COL("label_selector", ray_task_json_label_selector(row, &b));
	JSON_COL("_profiling_data", ray_task_json_profiling_data(row, &b));
	JSON_COL("_runtime_env_info", ray_task_json_runtime_env_info(row, &b));
	JSON_COL("_task_log_info", ray_task_json_task_log_info(row, &b));
#undef JSON_COL

	/* expected_tasks.json lists profile events as {event_name, *_ms}. */
	{
		cJSON	   *pd = cJSON_GetObjectItem(o, "_profiling_data");
		cJSON	   *events = cJSON_IsObject(pd) ? cJSON_GetObjectItem(pd, "events") : NULL;
		cJSON	   *out = cJSON_CreateArray();
		cJSON	   *e;

		cJSON_ArrayForEach(e, events)
		{
			cJSON	   *x = cJSON_CreateObject();

			cJSON_AddItemToObject(x, "event_name",
								  cJSON_Duplicate(cJSON_GetObjectItem(e, "event_name"), 1));
			cJSON_AddItemToObject(x, "start_time_ms",
								  cJSON_Duplicate(cJSON_GetObjectItem(e, "start_time"), 1));
			cJSON_AddItemToObject(x, "end_time_ms",
								  cJSON_Duplicate(cJSON_GetObjectItem(e, "end_time"), 1));
			cJSON_AddItemToArray(out, x);
		}
		cJSON_AddItemToObject(o, "profiling_events", out);
	}
	ray_buf_free(&b);
	return o;
}

/* Exact for everything but profile times, which are float ms. */
static int
same(const cJSON *a, const cJSON *b)
{
	return cJSON_Compare(a, b, 1);
}

static const RayTaskRow *
find_row(const RayTaskReply *r, const char *task_id, int attempt)
{
	for (size_t i = 0; i < r->nrows; i++)
	{
		cJSON	   *id = hex_or_null(&r->rows[i].task_id);
		int			match = cJSON_IsString(id) && strcmp(id->valuestring, task_id) == 0 &&
			r->rows[i].ev->attempt_number == attempt;

		cJSON_Delete(id);
		if (match)
			return &r->rows[i];
	}
	return NULL;
}

static void
check_reply(const char *label, const uint8_t *buf, size_t len,
			const RayVersion *v, const char *version_text, cJSON *expected)
{
	RayTaskReply *r;
	char		err[256];
	RayStatus	st = ray_task_reply_decode(buf, len, v, NULL, &r, err, sizeof(err));
	cJSON	   *tasks = cJSON_GetObjectItem(expected, "tasks");
	cJSON	   *want;
	int			nfields = 0;
	int			bad_fields = 0;
	int			json_errors = 0;

	if (!ok(st == RAY_OK, "%s: reply decodes", label))
	{
		tap_diag("  %s", err);
		return;
	}
	is_int(r->status_code, 0, "%s: GcsStatus is OK", label);
	ok(strcmp(version_text, cJSON_GetObjectItem(expected, "ray_version")->valuestring) == 0,
	   "%s: CheckAlive announces ray_version %s", label, version_text);
	is_int(r->num_profile_task_events_dropped,
		   cJSON_GetObjectItem(expected, "num_profile_task_events_dropped")->valuedouble,
		   "%s: num_profile_task_events_dropped", label);
	is_int(r->num_status_task_events_dropped,
		   cJSON_GetObjectItem(expected, "num_status_task_events_dropped")->valuedouble,
		   "%s: num_status_task_events_dropped", label);
	is_int(r->num_truncated, cJSON_GetObjectItem(expected, "num_truncated")->valuedouble,
		   "%s: num_truncated", label);
	is_int(r->nrows, cJSON_GetArraySize(tasks), "%s: one row per expected attempt", label);

	cJSON_ArrayForEach(want, tasks)
	{
		const char *task_id = cJSON_GetObjectItem(want, "task_id")->valuestring;
		int			attempt = cJSON_GetObjectItem(want, "attempt_number")->valueint;
		const RayTaskRow *row = find_row(r, task_id, attempt);
		cJSON	   *got;
		cJSON	   *field;
		int			row_bad = 0;

		if (!ok(row != NULL, "%s: attempt %s/%d decoded", label, task_id, attempt))
			continue;
		got = row_to_json(r, row, &json_errors);
		cJSON_ArrayForEach(field, want)
		{
			cJSON	   *g = cJSON_GetObjectItem(got, field->string);

			nfields++;
			if (g == NULL || !same(g, field))
			{
				char	   *gs = g ? cJSON_PrintUnformatted(g) : strdup("<missing>");
				char	   *ws = cJSON_PrintUnformatted(field);

				tap_diag("  %s %s/%d %s: got %s, want %s", label, task_id, attempt,
						 field->string, gs, ws);
				free(gs);
				free(ws);
				row_bad++;
			}
		}
		bad_fields += row_bad;
		ok(row_bad == 0, "%s: attempt %s/%d: every field matches (%s)", label, task_id,
		   attempt, cJSON_GetObjectItem(want, "name")->valuestring);
		cJSON_Delete(got);
	}
	is_int(json_errors, 0, "%s: every jsonb column is valid JSON", label);
	ok(bad_fields == 0 && nfields > 0, "%s: %d fields compared, %d differ", label, nfields, bad_fields);
	ray_task_reply_free(r);
}

/* The streaming decode gives, row by row, exactly the full decoder's rows. */
static void
check_streaming(const char *label, const uint8_t *buf, size_t len, const RayVersion *v)
{
	RayTaskReply *full,
			   *idx;
	char		err[256];
	int			json_errors = 0;
	int			same_rows = 0;

	if (!ok(ray_task_reply_decode(buf, len, v, NULL, &full, err, sizeof(err)) == RAY_OK &&
			ray_task_reply_index(buf, len, v, NULL, &idx, err, sizeof(err)) == RAY_OK,
			"%s: full decode and index", label))
		return;
	is_int(idx->nrows, full->nrows, "%s: index finds every attempt", label);
	for (size_t i = 0; i < full->nrows && i < idx->nrows; i++)
	{
		const RayTaskRow *row;
		cJSON	   *a,
				   *b;

		if (ray_task_reply_row(idx, i, &row, err, sizeof(err)) != RAY_OK)
			continue;
		a = row_to_json(full, &full->rows[i], &json_errors);
		b = row_to_json(idx, row, &json_errors);
		same_rows += cJSON_Compare(a, b, 1);
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	is_int(same_rows, full->nrows, "%s: every streamed row equals the full decoder's", label);
	ok(idx->num_status_task_events_dropped == full->num_status_task_events_dropped &&
	   idx->num_truncated == full->num_truncated && idx->status_code == full->status_code,
	   "%s: streamed counters equal", label);
	ray_task_reply_free(full);
	ray_task_reply_free(idx);
}

int
main(int argc, char **argv)
{
	if (argc == 4)
	{
		size_t		len,
					jlen;
		uint8_t    *buf = read_file(argv[1], &len);
		uint8_t    *json = read_file(argv[3], &jlen);
		RayVersion	v;
		cJSON	   *expected;

		if (!ok(buf && json && ray_version_parse(argv[2], &v), "inputs readable"))
			return tap_done();
		expected = cJSON_Parse((char *) json);
		/* The file's own version line is the one a server would announce. */
		check_reply(argv[1], buf, len, &v,
					cJSON_GetObjectItem(expected, "ray_version")->valuestring, expected);
		cJSON_Delete(expected);
		free(buf);
		free(json);
		return tap_done();
	}

	for (int p = 0; p < NPROFILES; p++)
	{
		size_t		len,
					jlen;
		uint8_t    *buf = read_vector(PROFILES[p], "get_task_events_reply.bin", &len);
		uint8_t    *json = read_vector(PROFILES[p], "expected_tasks.json", &jlen);
		RayVersion	v;
		char		vt[64];
		cJSON	   *expected;

		if (!ok(buf && json && profile_version(PROFILES[p], &v, vt, sizeof(vt)),
				"%s: vector files readable under %s", PROFILES[p], vectors_dir()))
			continue;
		expected = cJSON_Parse((char *) json);
		if (ok(expected != NULL, "%s: expected_tasks.json parses", PROFILES[p]))
			check_reply(PROFILES[p], buf, len, &v, vt, expected);
		check_streaming(PROFILES[p], buf, len, &v);
		cJSON_Delete(expected);
		free(buf);
		free(json);
	}
	return tap_done();
}
