/*
 * fuzz_state_json.c
 *		libFuzzer target: any bytes as a State API body, through the JSON
 *		reader and on into the task decoder and every jsonb rendering.
 *
 * The first byte picks the version (low 3 bits) and the mode (high bit).
 * In splice mode the rest overwrites part of a complete, valid task list
 * (offset from the next two bytes), so mutations reach every field of a
 * row without a JSON seed corpus (the smoke run seeds with wire vectors).
 * Whatever the reader accepts must decode as a GetTaskEventsReply, the
 * keys-only walk must agree with the full decoder on it, and the rows
 * derived in memory (no packing: what a dashboard_url server uses) must
 * equal the packed path's. The same bytes go through the five cluster
 * routes' readers too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_dashboard_parse.h"
#include "ray_tasks.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const versions[] = {"2.9.3", "2.35.0", "2.40.0", "2.49.2", "3.0.0.dev0"};

static const char BASE[] =
"{\"result\": true, \"msg\": \"\", \"data\": {\"result\": {\"total\": 3, \"num_after_truncation\": 2,"
" \"num_filtered\": 2, \"result\": [{\"task_id\": \"0102030405060708090a0b0c0d0e0f101112131401000000\","
" \"attempt_number\": 1, \"name\": \"A(1).f\", \"func_or_class_name\": \"A.f\", \"state\": \"FAILED\","
" \"job_id\": \"01000000\", \"actor_id\": \"aabbccddeeff0011aabbccdd01000000\", \"type\": \"ACTOR_TASK\","
" \"language\": \"PYTHON\", \"node_id\": \"11111111111111111111111111111111111111111111111111111111\","
" \"worker_pid\": 7, \"error_type\": \"WORKER_DIED\", \"error_message\": \"x\\u001b[31m\","
" \"required_resources\": {\"CPU\": 1.0}, \"runtime_env_info\": {\"serialized_runtime_env\": \"{}\","
" \"uris\": {\"working_dir_uri\": \"w\", \"py_modules_uris\": [\"p\"]}, \"runtime_env_config\":"
" {\"setup_timeout_seconds\": 1, \"eager_install\": false, \"log_files\": [\"l\"]}},"
" \"events\": [{\"state\": \"RUNNING\", \"created_ms\": 1.0}, {\"state\": \"FAILED\", \"created_ms\": 2.0}],"
" \"profiling_data\": {\"component_type\": \"worker\", \"component_id\": \"ab\", \"node_ip_address\": \"n\","
" \"events\": [{\"event_name\": \"e\", \"start_time\": 1.25, \"end_time\": 2.5, \"extra_data\": {\"k\": [1]}}]},"
" \"task_log_info\": {\"stdout_file\": \"o\", \"stderr_end\": 3}, \"is_debugger_paused\": true,"
" \"call_site\": \"c\", \"label_selector\": {\"a\": \"b\"}}, {\"task_id\": \"00\"}],"
" \"partial_failure_warning\": \"w\", \"warnings\": [\"x\"]}}}";

static void
render_all(const RayTaskReply *r)
{
	char		nb[RAY_ENUM_NAME_MAX];
	RayBuf		b;

	ray_buf_init(&b, NULL);
	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *row = &r->rows[i];

		(void) ray_task_state_text(r, row, nb);
		(void) ray_task_type_text(row, nb);
		(void) ray_task_language_text(row, nb);
		(void) ray_task_error_type_text(r, row, nb);
		ray_task_json_required_resources(row, &b);
		ray_task_json_events(r, row, &b);
		ray_task_json_profiling_data(row, &b);
		ray_task_json_runtime_env_info(row, &b);
		ray_task_json_task_log_info(row, &b);
		ray_task_json_label_selector(row, &b);
		ray_buf_reset(&b);
	}
	ray_buf_free(&b);
}

static bool
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The in-memory path on the same body: the same rows as r, the packed path's. */
static void
check_in_memory(const char *json, size_t len, const RayVersion *v, const RayTaskReply *r)
{
	Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayArena	arena;
	RayStateCounters k;
	RayTaskReply *m;
	char		err[256];

	if (ray_state_json_task_events(json, len, v, NULL, NULL, &arena, &msg.events_by_task,
								   &msg.n_events_by_task, &k, err, sizeof(err)) != RAY_OK)
		abort();
	ray_state_json_free_cells(&k);
	if (ray_task_reply_from_events(&msg, v, NULL, &m, err, sizeof(err)) != RAY_OK || m->nrows != r->nrows)
		abort();
	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *a = &r->rows[i];
		const RayTaskRow *b = &m->rows[i];

		if (a->state != b->state || a->attempt_number != b->attempt_number ||
			a->n_events != b->n_events || a->creation_ms != b->creation_ms ||
			a->start_ms != b->start_ms || a->end_ms != b->end_ms ||
			a->has_error_type != b->has_error_type || !same_text(a->name, b->name) ||
			!same_text(a->error_message, b->error_message) ||
			ray__rpc__task_events__get_packed_size(a->ev) != ray__rpc__task_events__get_packed_size(b->ev))
			abort();
	}
	render_all(m);
	ray_task_reply_free(m);
	ray_arena_free(&arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RayVersion	v;
	char	   *json;
	size_t		len;
	uint8_t    *pb;
	size_t		pblen;
	RayStateCounters k;
	RayTaskReply *r;
	RayTaskReply *keys;
	char		err[256];
	char		vt[64];

	if (size < 1)
		return 0;
	ray_version_parse(versions[(data[0] & 0x7f) % 5], &v);
	if ((data[0] & 0x80) && size >= 3)
	{
		size_t		base = sizeof(BASE) - 1;
		size_t		off = ((size_t) data[1] << 8 | data[2]) % base;
		size_t		n = size - 3;

		len = off + n > base ? off + n : base;
		json = malloc(len + 1);
		memcpy(json, BASE, base);
		memcpy(json + off, data + 3, n);
	}
	else
	{
		len = size - 1;
		json = malloc(len + 1);
		memcpy(json, data + 1, len);
	}
	json[len] = '\0';

	(void) ray_state_json_version(json, len, vt, sizeof(vt), err, sizeof(err));
	/* The cluster routes read the same bytes; what they accept must decode. */
	for (int kind = RAY_RESOURCE_ACTORS; kind <= RAY_RESOURCE_PLACEMENT_GROUPS; kind++)
		if (ray_state_json_cluster(kind, json, len, &v, NULL, &pb, &pblen, &k, err, sizeof(err)) == RAY_OK)
		{
			RayClusterReply *cr;

			if (ray_cluster_reply_decode((RayResourceKind) kind, pb, pblen, &v, NULL, &cr, err, sizeof(err)) != RAY_OK)
				abort();
			/* Odd cells name rows that exist. */
			for (size_t i = 0; i < k.ncells; i++)
				if (k.cells[i].row >= cr->nrows || (i > 0 && k.cells[i].row < k.cells[i - 1].row))
					abort();
			ray_cluster_reply_free(cr);
			ray_state_json_free_cells(&k);
			free(pb);
		}
	ray_state_json_error_message(json, len, err, sizeof(err));
	if (ray_state_json_tasks(json, len, &v, NULL, NULL, &pb, &pblen, &k, err, sizeof(err)) != RAY_OK)
	{
		free(json);
		return 0;
	}
	for (size_t i = 0; i < k.ncells; i++)
		if ((int64_t) k.cells[i].row >= k.rows || (int) k.ncells > k.nodd)
			abort();
	ray_state_json_free_cells(&k);
	/* What the reader produced must be a reply the decoder takes whole. */
	if (ray_task_reply_decode(pb, pblen, &v, NULL, &r, err, sizeof(err)) != RAY_OK)
		abort();
	if ((int64_t) r->nrows != k.rows)
		abort();
	check_in_memory(json, len, &v, r);
	free(json);
	render_all(r);
	if (ray_task_reply_decode_keys(pb, pblen, &v, NULL, &keys, err, sizeof(err)) != RAY_OK)
		abort();
	for (size_t i = 0; i < r->nrows; i++)
		if (keys->rows[i].state != r->rows[i].state ||
			keys->rows[i].attempt_number != r->rows[i].attempt_number ||
			keys->rows[i].end_ms != r->rows[i].end_ms)
			abort();
	ray_task_reply_free(keys);
	ray_task_reply_free(r);
	free(pb);
	return 0;
}
