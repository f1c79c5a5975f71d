/*
 * core_harness.c: raydar's decoding core outside PostgreSQL, for profiling.
 *
 * Times, over the same reply bytes, the stages a full scan goes through
 * that do not need PostgreSQL:
 *   unpack   protobuf-c unpack (inside ray_task_reply_decode)
 *   decode   ray_task_reply_decode: unpack + the dashboard derivation
 *   render   decode + what the tasks getters format per row before handing
 *            it to PostgreSQL: hex of the 6 ID columns, the enum names and
 *            the JSON text of events/required_resources/task_log_info/...
 * It does NOT include jsonb_in, text datums or COPY's output functions;
 * those are only in the backend (see perf in bench/run.sh's profile mode).
 *
 *   build/core_harness REPLY.bin RAY_VERSION [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>

#include "ray_tasks.h"
#include "ray_enums.h"

#include "bench_time.h"

static size_t sink;

static void
render(const RayTaskReply *r, RayBuf *b)
{
	char		nb[RAY_ENUM_NAME_MAX];

	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *row = &r->rows[i];
		const RayId *ids[] = {&row->task_id, &row->job_id, &row->actor_id,
		&row->parent_task_id, &row->node_id, &row->worker_id, &row->placement_group_id};

		for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++)
		{
			ray_buf_reset(b);
			if (ids[k]->len)
				ray_buf_hex(b, ids[k]->data, ids[k]->len);
			sink += b->len;
		}
		sink += strlen(ray_task_state_text(r, row, nb));
		sink += strlen(ray_task_type_text(row, nb));
		sink += strlen(ray_task_language_text(row, nb));
		ray_buf_reset(b);
		ray_task_json_events(r, row, b);
		sink += b->len;
		ray_buf_reset(b);
		ray_task_json_required_resources(row, b);
		sink += b->len;
		ray_buf_reset(b);
		ray_task_json_runtime_env_info(row, b);
		ray_buf_reset(b);
		ray_task_json_profiling_data(row, b);
		ray_buf_reset(b);
		ray_task_json_task_log_info(row, b);
		ray_buf_reset(b);
		ray_task_json_label_selector(row, b);
		sink += b->len;
	}
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	long		len;
	uint8_t    *buf;
	RayVersion	v;
	int			runs = argc > 3 ? atoi(argv[3]) : 5;
	double	   *t_dec,
			   *t_all;
	char		err[512];
	RayBuf		b;

	if (argc < 3 || runs < 1 || !ray_version_parse(argv[2], &v))
	{
		fprintf(stderr, "usage: %s REPLY.bin RAY_VERSION [RUNS]\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0)
	{
		perror(argv[1]);
		return 1;
	}
	rewind(f);
	buf = malloc(len ? len : 1);
	if (fread(buf, 1, len, f) != (size_t) len)
		return 1;
	fclose(f);
	t_dec = calloc(runs, sizeof(double));
	t_all = calloc(runs, sizeof(double));
	ray_buf_init(&b, NULL);
	{
		/* Heap the decoded reply holds (protobuf-c structures + rows). */
		RayTaskReply *r;
		size_t		before = mallinfo2().uordblks;

		if (ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err)) != RAY_OK)
		{
			fprintf(stderr, "decode: %s\n", err);
			return 1;
		}
		printf("decoded_heap_bytes=%zu reply_bytes=%ld ", mallinfo2().uordblks - before, len);
		ray_task_reply_free(r);
	}
	for (int i = -1; i < runs; i++)		/* -1: warm-up */
	{
		RayTaskReply *r;
		double		t0 = now_ms(),
					t1,
					t2;

		if (ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err)) != RAY_OK)
		{
			fprintf(stderr, "decode: %s\n", err);
			return 1;
		}
		t1 = now_ms();
		render(r, &b);
		t2 = now_ms();
		ray_task_reply_free(r);
		if (i >= 0)
		{
			t_dec[i] = t1 - t0;
			t_all[i] = t2 - t0;
		}
	}
	qsort(t_dec, runs, sizeof(double), cmp_double);
	qsort(t_all, runs, sizeof(double), cmp_double);
	printf("decode_best_ms=%.3f decode_render_best_ms=%.3f (sink %zu)\n",
		   t_dec[0], t_all[0], sink);
	return 0;
}
