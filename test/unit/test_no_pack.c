/*
 * test_no_pack.c
 *		The dashboard's rows handed to the derivation in memory give exactly
 *		the rows of the old path, which packed them into the GCS's reply
 *		bytes and decoded those.
 *
 * For every profile of the fixtures, the rows Ray's dashboard derives
 * (expected_tasks.json, cluster/expected.json) are wrapped in a State API
 * envelope and read both ways: ray_state_json_tasks + ray_task_reply_decode
 * (packed) and ray_state_json_task_events + ray_task_reply_from_events (in
 * memory); likewise ray_state_json_cluster + ray_cluster_reply_decode and
 * ray_state_json_cluster_rows + ray_cluster_reply_from_rows. Every derived
 * field, every jsonb rendering and the re-packed bytes of every row must
 * be equal.
 */
#include <cjson/cJSON.h>

#include "ray_cluster.h"
#include "ray_dashboard_parse.h"
#include "ray_enums.h"
#include "ray_tasks.h"
#include "tap.h"
#include "testutil.h"

/* The State API envelope around a JSON array of rows. */
static char *
envelope(const cJSON *rows)
{
	cJSON	   *root = cJSON_CreateObject();
	cJSON	   *data = cJSON_AddObjectToObject(root, "data");
	cJSON	   *res = cJSON_AddObjectToObject(data, "result");
	int			n = cJSON_GetArraySize(rows);
	char	   *s;

	cJSON_AddTrueToObject(root, "result");
	cJSON_AddStringToObject(root, "msg", "");
	cJSON_AddNumberToObject(res, "total", n);
	cJSON_AddNumberToObject(res, "num_after_truncation", n);
	cJSON_AddNumberToObject(res, "num_filtered", n);
	cJSON_AddItemToObject(res, "result", cJSON_Duplicate(rows, 1));
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* Both messages packed: the same bytes, or a diagnostic. */
static bool
same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t		la = a ? protobuf_c_message_get_packed_size(a) : 0;
	size_t		lb = b ? protobuf_c_message_get_packed_size(b) : 0;
	uint8_t    *pa;
	uint8_t    *pb;
	bool		same;

	if ((a == NULL) != (b == NULL) || la != lb)
		return false;
	if (a == NULL)
		return true;
	pa = malloc(la + 1);
	pb = malloc(lb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	same = memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool
same_id(const RayId *a, const RayId *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

typedef bool (*JsonFn) (const RayTaskRow *row, RayBuf *b);

/* One jsonb rendering of both rows: equal presence and text. */
static bool
same_json(JsonFn fn, const RayTaskRow *a, const RayTaskRow *b)
{
	RayBuf		ba,
				bb;
	bool		pa,
				pb,
				same;

	ray_buf_init(&ba, NULL);
	ray_buf_init(&bb, NULL);
	pa = fn(a, &ba);
	pb = fn(b, &bb);
	same = pa == pb && (!pa || same_str(ba.data, bb.data));
	ray_buf_free(&ba);
	ray_buf_free(&bb);
	return same;
}

/* Every value a column is made from. */
static bool
same_row(const RayTaskReply *ra, const RayTaskRow *a, const RayTaskReply *rb, const RayTaskRow *b)
{
	char		na[RAY_ENUM_NAME_MAX],
				nb[RAY_ENUM_NAME_MAX];
	RayBuf		ea,
				eb;
	bool		same;

	if (!same_message(&a->ev->base, &b->ev->base) || a->attempt_number != b->attempt_number ||
		!same_id(&a->task_id, &b->task_id) || !same_id(&a->job_id, &b->job_id) ||
		!same_id(&a->parent_task_id, &b->parent_task_id) || !same_id(&a->actor_id, &b->actor_id) ||
		!same_id(&a->node_id, &b->node_id) || !same_id(&a->worker_id, &b->worker_id) ||
		!same_id(&a->placement_group_id, &b->placement_group_id) ||
		a->state != b->state || a->n_events != b->n_events ||
		(a->n_events > 0 && memcmp(a->events, b->events, sizeof(RayStateEvent) * a->n_events) != 0) ||
		a->has_creation_ms != b->has_creation_ms || a->creation_ms != b->creation_ms ||
		a->has_start_ms != b->has_start_ms || a->start_ms != b->start_ms ||
		a->has_end_ms != b->has_end_ms || a->end_ms != b->end_ms ||
		!same_str(a->name, b->name) || a->has_error_type != b->has_error_type ||
		a->error_type != b->error_type || !same_str(a->error_message, b->error_message))
		return false;
	if (strcmp(ray_task_state_text(ra, a, na), ray_task_state_text(rb, b, nb)) != 0 ||
		strcmp(ray_task_type_text(a, na), ray_task_type_text(b, nb)) != 0 ||
		strcmp(ray_task_language_text(a, na), ray_task_language_text(b, nb)) != 0 ||
		!same_str(ray_task_error_type_text(ra, a, na), ray_task_error_type_text(rb, b, nb)))
		return false;
	ray_buf_init(&ea, NULL);
	ray_buf_init(&eb, NULL);
	same = ray_task_json_events(ra, a, &ea) == ray_task_json_events(rb, b, &eb) &&
		same_str(ea.data, eb.data);
	ray_buf_free(&ea);
	ray_buf_free(&eb);
	return same && same_json(ray_task_json_required_resources, a, b) &&
		same_json(ray_task_json_profiling_data, a, b) &&
		same_json(ray_task_json_runtime_env_info, a, b) &&
		same_json(ray_task_json_task_log_info, a, b) &&
		same_json(ray_task_json_label_selector, a, b);
}

static void
test_tasks(const char *profile)
{
	size_t		len;
	char	   *text = (char *) read_vector(profile, "expected_tasks.json", &len);
	cJSON	   *doc = text ? cJSON_Parse(text) : NULL;
	const cJSON *rows = doc ? cJSON_GetObjectItem(doc, "tasks") : NULL;
	char	   *json;
	RayVersion	v;
	char		vt[64];
	char		err[512];
	uint8_t    *pb;
	size_t		pblen;
	RayStateCounters ka,
				kb;
	RayTaskReply *ra = NULL;
	RayTaskReply *rb = NULL;
	Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayArena	arena;
	size_t		nsame = 0;

	if (!ok(rows != NULL && profile_version(profile, &v, vt, sizeof(vt)), "%s: fixtures read", profile))
		goto out;
	json = envelope(rows);
	is_int(ray_state_json_tasks(json, strlen(json), &v, NULL, NULL, &pb, &pblen, &ka, err, sizeof(err)),
		   RAY_OK, "%s: packed path converts (%s)", profile, err);
	is_int(ray_task_reply_decode(pb, pblen, &v, NULL, &ra, err, sizeof(err)), RAY_OK,
		   "%s: packed path decodes", profile);
	is_int(ray_state_json_task_events(json, strlen(json), &v, NULL, NULL, &arena, &msg.events_by_task,
									  &msg.n_events_by_task, &kb, err, sizeof(err)),
		   RAY_OK, "%s: rows parse into memory (%s)", profile, err);
	is_int(ray_task_reply_from_events(&msg, &v, NULL, &rb, err, sizeof(err)), RAY_OK,
		   "%s: in-memory rows derive", profile);
	if (ra && rb)
	{
		is_int(rb->nrows, cJSON_GetArraySize(rows), "%s: every row", profile);
		is_int(ra->nrows, rb->nrows, "%s: as many rows both ways", profile);
		for (size_t i = 0; i < ra->nrows && i < rb->nrows; i++)
			nsame += same_row(ra, &ra->rows[i], rb, &rb->rows[i]) && rb->rows[i].index == i;
		is_int(nsame, ra->nrows, "%s: every row equal, field by field and packed", profile);
		is_int(ka.nodd, kb.nodd, "%s: the same unreadable values", profile);
		is_int(ka.ncells, kb.ncells, "%s: the same unreadable cells", profile);
	}
	ray_task_reply_free(ra);
	ray_task_reply_free(rb);
	ray_arena_free(&arena);
	ray_state_json_free_cells(&ka);
	ray_state_json_free_cells(&kb);
	free(pb);
	free(json);
out:
	cJSON_Delete(doc);
	free(text);
}

/* A placement group's view, field by field. */
static bool
same_pg(const RayPlacementGroupView *a, const RayPlacementGroupView *b)
{
	if (a->id.len != b->id.len || (a->id.len && memcmp(a->id.data, b->id.data, a->id.len) != 0) ||
		!same_str(a->name, b->name) || a->n_bundles != b->n_bundles ||
		a->has_strategy != b->has_strategy || a->strategy != b->strategy ||
		a->has_state != b->has_state || a->state != b->state ||
		a->has_creator_job_id != b->has_creator_job_id ||
		a->creator_job_id.len != b->creator_job_id.len ||
		a->has_creator_actor_id != b->has_creator_actor_id || a->is_detached != b->is_detached ||
		!same_str(a->ray_namespace, b->ray_namespace) || a->creation_ms != b->creation_ms ||
		a->final_placement_ms != b->final_placement_ms)
		return false;
	for (size_t i = 0; i < a->n_bundles; i++)
		if (!same_message(&a->bundles[i]->base, &b->bundles[i]->base))
			return false;
	return true;
}

static void
test_cluster(const char *profile)
{
	static const char *const keys[] = {"actors", "nodes", "jobs", "workers", "placement_groups"};
	size_t		len;
	char	   *text = (char *) read_vector(profile, "cluster/expected.json", &len);
	cJSON	   *doc = text ? cJSON_Parse(text) : NULL;
	RayVersion	v;
	char		vt[64];

	if (!ok(doc != NULL && profile_version(profile, &v, vt, sizeof(vt)), "%s: cluster fixtures read", profile))
		goto out;
	for (int kind = RAY_RESOURCE_ACTORS; kind <= RAY_RESOURCE_PLACEMENT_GROUPS; kind++)
	{
		const cJSON *rows = cJSON_GetObjectItem(doc, keys[kind]);
		char	   *json = envelope(rows);
		char		err[512];
		uint8_t    *pb = NULL;
		size_t		pblen;
		RayStateCounters ka,
					kb;
		RayClusterReply *ra = NULL;
		RayClusterReply *rb = NULL;
		RayArena	arena;
		void	  **items;
		size_t		n,
					nsame = 0;

		is_int(ray_state_json_cluster(kind, json, strlen(json), &v, NULL, &pb, &pblen, &ka, err, sizeof(err)),
			   RAY_OK, "%s %s: packed path converts (%s)", profile, keys[kind], err);
		is_int(ray_cluster_reply_decode(kind, pb, pblen, &v, NULL, &ra, err, sizeof(err)), RAY_OK,
			   "%s %s: packed path decodes", profile, keys[kind]);
		is_int(ray_state_json_cluster_rows(kind, json, strlen(json), &v, NULL, &arena, &items, &n, &kb,
										   err, sizeof(err)),
			   RAY_OK, "%s %s: rows parse into memory", profile, keys[kind]);
		is_int(ray_cluster_reply_from_rows(kind, items, n, &v, NULL, &rb, err, sizeof(err)), RAY_OK,
			   "%s %s: in-memory rows make a reply", profile, keys[kind]);
		if (ra && rb)
		{
			is_int(rb->nrows, cJSON_GetArraySize(rows), "%s %s: every row", profile, keys[kind]);
			is_int(ra->nrows, rb->nrows, "%s %s: as many rows both ways", profile, keys[kind]);
			ok(ra->pg_v29 == rb->pg_v29, "%s %s: the same layout flag", profile, keys[kind]);
			for (size_t i = 0; i < ra->nrows && i < rb->nrows; i++)
				nsame += kind == RAY_RESOURCE_PLACEMENT_GROUPS
					? same_pg(ra->rows[i], rb->rows[i])
					: same_message(ra->rows[i], rb->rows[i]);
			is_int(nsame, ra->nrows, "%s %s: every row equal", profile, keys[kind]);
			is_int(ka.nodd, kb.nodd, "%s %s: the same unreadable values", profile, keys[kind]);
		}
		ray_cluster_reply_free(ra);
		ray_cluster_reply_free(rb);
		ray_arena_free(&arena);
		ray_state_json_free_cells(&ka);
		ray_state_json_free_cells(&kb);
		free(pb);
		free(json);
	}
out:
	cJSON_Delete(doc);
	free(text);
}

/* A malformed row fails the same way both ways, and leaves nothing behind. */
static void
test_malformed(void)
{
	const char *json = "{\"result\": true, \"msg\": \"\", \"data\": {\"result\": {\"result\": [{\"task_id\": 7}, 3]}}}";
	RayVersion	v;
	RayArena	arena;
	Ray__Rpc__TaskEvents **evs;
	size_t		n;
	RayStateCounters k;
	char		err[512];
	uint8_t    *pb;
	size_t		pblen;
	char		err2[512];

	ray_version_parse("2.40.0", &v);
	is_int(ray_state_json_task_events(json, strlen(json), &v, NULL, NULL, &arena, &evs, &n, &k,
									  err, sizeof(err)), RAY_ERR_MALFORMED, "a row that is not an object fails");
	ok(evs == NULL && n == 0, "and gives no rows");
	is_int(ray_state_json_tasks(json, strlen(json), &v, NULL, NULL, &pb, &pblen, &k, err2, sizeof(err2)),
		   RAY_ERR_MALFORMED, "as the packed path does");
	ok(strcmp(err, err2) == 0, "with the same message (%s)", err);
}

/*
 * 100,000 rows, as a capped dashboard split by job gives them: the
 * in-memory path keeps every one, each equal to the packed path's.
 */
static void
test_scale(void)
{
	const size_t n = 100000;
	size_t		cap = n * 256 + 256;
	char	   *json = malloc(cap);
	size_t		len = 0;
	RayVersion	v;
	RayArena	arena;
	Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayStateCounters k;
	RayTaskReply *rb = NULL;
	RayTaskReply *ra = NULL;
	uint8_t    *pb = NULL;
	size_t		pblen;
	char		err[512];
	size_t		nsame = 0;

	ray_version_parse("2.40.0", &v);
	len += snprintf(json + len, cap - len, "{\"result\": true, \"msg\": \"\", \"data\": {\"result\": {\"result\": [");
	for (size_t i = 0; i < n; i++)
		len += snprintf(json + len, cap - len,
						"%s{\"task_id\": \"%048zx\", \"attempt_number\": %zu, \"job_id\": \"%08zx\","
						" \"name\": \"t\u00e9%zu\", \"events\": [{\"state\": \"FINISHED\", \"created_ms\": %zu.0}]}",
						i ? ", " : "", i, i % 3, i % 7 + 1, i, 1700000000000 + i);
	len += snprintf(json + len, cap - len, "]}}}");
	is_int(ray_state_json_task_events(json, len, &v, NULL, NULL, &arena, &msg.events_by_task,
									  &msg.n_events_by_task, &k, err, sizeof(err)), RAY_OK,
		   "100,000 rows parse into memory (%s)", err);
	is_int(ray_task_reply_from_events(&msg, &v, NULL, &rb, err, sizeof(err)), RAY_OK,
		   "100,000 rows derive");
	is_int(ray_state_json_tasks(json, len, &v, NULL, NULL, &pb, &pblen, &k, err, sizeof(err)), RAY_OK,
		   "the packed path converts them");
	is_int(ray_task_reply_decode(pb, pblen, &v, NULL, &ra, err, sizeof(err)), RAY_OK,
		   "the packed path decodes them");
	if (ra && rb && is_int(rb->nrows, n, "every row kept") && is_int(ra->nrows, n, "both ways"))
	{
		for (size_t i = 0; i < n; i++)
			nsame += same_row(ra, &ra->rows[i], rb, &rb->rows[i]);
		is_int(nsame, n, "every one of 100,000 rows equal");
		ok(rb->rows[n - 1].attempt_number == (int32_t) ((n - 1) % 3) && rb->rows[n - 1].has_end_ms &&
		   rb->rows[n - 1].end_ms == 1700000000000 + (int64_t) (n - 1), "the last row's values");
	}
	ray_task_reply_free(ra);
	ray_task_reply_free(rb);
	ray_arena_free(&arena);
	free(pb);
	free(json);
}

int
main(void)
{
	for (int p = 0; p < NPROFILES; p++)
	{
		test_tasks(PROFILES[p]);
		test_cluster(PROFILES[p]);
	}
	test_malformed();
	test_scale();
	return tap_done();
}
