/*
 * no_pack.c
 *		The dashboard's task rows into derived rows, timed in one process:
 *		the old roads (parse, pack into GetTaskEventsReply bytes, then
 *		decode those as the FDW did: the keys walk for count(*), or index
 *		and unpack one attempt per row for full rows) and the current one
 *		(parse, derive from the messages in memory, for both). Built and run
 *		by bench/http/no_pack.sh.
 *
 * The body is the rows of a fixture profile's expected_tasks.json (what
 * Ray's dashboard derives), repeated up to N rows in a State API
 * envelope. Runs alternate between the two ways so that load on the
 * machine falls on both alike; the medians and their ratio are printed.
 *
 * Usage: no_pack FIXTURE_DIR N RUNS
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ray_dashboard_parse.h"
#include "ray_tasks.h"

#include "../bench_time.h"

static char *
read_all(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	long		n;
	char	   *s;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc(n + 1);
	if (fread(s, 1, n, f) != (size_t) n)
		n = 0;
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The fixture's rows repeated to n, in an envelope. */
static char *
make_body(const char *dir, size_t n, RayVersion *v)
{
	char		path[1024];
	char	   *text;
	cJSON	   *doc;
	const cJSON *rows;
	cJSON	   *root = cJSON_CreateObject();
	cJSON	   *res;
	cJSON	   *all = cJSON_CreateArray();
	char	   *s;

	snprintf(path, sizeof(path), "%s/expected_tasks.json", dir);
	text = read_all(path);
	doc = text ? cJSON_Parse(text) : NULL;
	rows = doc ? cJSON_GetObjectItem(doc, "tasks") : NULL;
	if (rows == NULL || cJSON_GetArraySize(rows) == 0 ||
		!ray_version_parse(cJSON_GetObjectItem(doc, "ray_version")->valuestring, v))
	{
		fprintf(stderr, "no_pack: cannot read %s\n", path);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(all, cJSON_Duplicate(cJSON_GetArrayItem(rows, i % cJSON_GetArraySize(rows)), 1));
	cJSON_AddTrueToObject(root, "result");
	cJSON_AddStringToObject(root, "msg", "");
	res = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "data"), "result");
	cJSON_AddNumberToObject(res, "total", (double) n);
	cJSON_AddNumberToObject(res, "num_after_truncation", (double) n);
	cJSON_AddNumberToObject(res, "num_filtered", (double) n);
	cJSON_AddItemToObject(res, "result", all);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	cJSON_Delete(doc);
	free(text);
	return s;
}

/*
 * The old way: parse, pack, decode: keys (the keys walk of count(*)) or
 * streamed (index, then every attempt unpacked and derived, as a scan of
 * full rows did). The rows' count, or 0 on failure.
 */
static size_t
packed(const char *json, size_t len, const RayVersion *v, bool keys)
{
	uint8_t    *pb;
	size_t		pblen;
	RayStateCounters k;
	RayTaskReply *r;
	char		err[512];
	size_t		n = 0;

	if (ray_state_json_tasks(json, len, v, NULL, NULL, &pb, &pblen, &k, err, sizeof(err)) != RAY_OK)
		return 0;
	if ((keys ? ray_task_reply_decode_keys : ray_task_reply_index)
		(pb, pblen, v, NULL, &r, err, sizeof(err)) == RAY_OK)
	{
		const RayTaskRow *row;

		n = r->nrows;
		for (size_t i = 0; !keys && i < r->nrows; i++)
			if (ray_task_reply_row(r, i, &row, err, sizeof(err)) != RAY_OK)
				n = 0;
		ray_task_reply_free(r);
	}
	ray_state_json_free_cells(&k);
	free(pb);
	return n;
}

/* The current way: parse, derive in memory. */
static size_t
in_memory(const char *json, size_t len, const RayVersion *v)
{
	Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayArena	arena;
	RayStateCounters k;
	RayTaskReply *r;
	char		err[512];
	size_t		n = 0;

	if (ray_state_json_task_events(json, len, v, NULL, NULL, &arena, &msg.events_by_task,
								   &msg.n_events_by_task, &k, err, sizeof(err)) != RAY_OK)
		return 0;
	if (ray_task_reply_from_events(&msg, v, NULL, &r, err, sizeof(err)) == RAY_OK)
	{
		n = r->nrows;
		ray_task_reply_free(r);
	}
	ray_state_json_free_cells(&k);
	ray_arena_free(&arena);
	return n;
}

int
main(int argc, char **argv)
{
	size_t		n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	int			runs = argc > 3 ? atoi(argv[3]) : 7;
	RayVersion	v;
	char	   *json;
	size_t		len;
	double	   *tk = calloc(runs, sizeof(double));
	double	   *ts = calloc(runs, sizeof(double));
	double	   *tm = calloc(runs, sizeof(double));

	if (argc < 2 || runs < 1)
	{
		fprintf(stderr, "usage: no_pack FIXTURE_DIR [N] [RUNS]\n");
		return 2;
	}
	json = make_body(argv[1], n, &v);
	len = strlen(json);
	/* One warm-up of each, then alternate. */
	if (packed(json, len, &v, true) != n || packed(json, len, &v, false) != n ||
		in_memory(json, len, &v) != n)
	{
		fprintf(stderr, "no_pack: the three ways do not all give %zu rows\n", n);
		return 1;
	}
	for (int i = 0; i < runs; i++)
	{
		double		t0 = now_ms();

		packed(json, len, &v, true);
		tk[i] = now_ms() - t0;
		t0 = now_ms();
		packed(json, len, &v, false);
		ts[i] = now_ms() - t0;
		t0 = now_ms();
		in_memory(json, len, &v);
		tm[i] = now_ms() - t0;
	}
	qsort(tk, runs, sizeof(double), cmp_double);
	qsort(ts, runs, sizeof(double), cmp_double);
	qsort(tm, runs, sizeof(double), cmp_double);
	printf("| %s | %zu | %zu | %.1f | %.1f | %.1f (%.1f-%.1f) | %.2f | %.2f |\n", argv[1], n, len,
		   tk[runs / 2], ts[runs / 2], tm[runs / 2], tm[0], tm[runs - 1],
		   tm[runs / 2] / tk[runs / 2], tm[runs / 2] / ts[runs / 2]);
	free(tk);
	free(ts);
	free(tm);
	free(json);
	return 0;
}
