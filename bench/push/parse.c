/*
 * bench/push/parse.c
 *		What building cJSON's tree in an arena (ray_json_parse_in) saves
 *		the merger's parse of a pushed body, against the tree on malloc
 *		and cJSON_Delete (the road before it), on the same body in the same
 *		run, alternating. Also times the whole ray_event_batch_parse (tree,
 *		checks and conversion) to show the tree's share. Driven by
 *		bench/push/parse.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ray_event_json.h"
#include "ray_json_read.h"

#include "../bench_time.h"

static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0)
		return NULL;
	*len = (size_t) ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	if (buf == NULL || fread(buf, 1, *len, f) != *len)
		return NULL;
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	size_t		len;
	char	   *body;
	int			runs = argc > 2 ? atoi(argv[2]) : 7;
	int			reps = argc > 3 ? atoi(argv[3]) : 50;
	double	   *t_malloc, *t_arena, *t_full;
	RayVersion	v;
	char		err[256];

	if (argc < 2 || (body = slurp(argv[1], &len)) == NULL || runs < 1 || reps < 1)
	{
		fprintf(stderr, "usage: parse BODY.json [RUNS] [REPS]\n");
		return 2;
	}
	t_malloc = calloc(runs, sizeof(double));
	t_arena = calloc(runs, sizeof(double));
	t_full = calloc(runs, sizeof(double));
	ray_version_parse("2.58.0", &v);
	for (int r = 0; r < runs; r++)
	{
		double		t0 = now_ms();

		for (int i = 0; i < reps; i++)
		{
			const char *end;
			cJSON	   *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);

			if (root == NULL)
				return 1;
			cJSON_Delete(root);
		}
		t_malloc[r] = (now_ms() - t0) / reps;
		t0 = now_ms();
		for (int i = 0; i < reps; i++)
		{
			RayArena	a;
			const char *end;
			bool		oom;

			ray_arena_init(&a, NULL);
			if (ray_json_parse_in(&a, body, len, &end, &oom) == NULL)
				return 1;
			ray_arena_free(&a);
		}
		t_arena[r] = (now_ms() - t0) / reps;
		t0 = now_ms();
		for (int i = 0; i < reps; i++)
		{
			RayEventBatch *b;

			if (ray_event_batch_parse(body, len, &v, NULL, &b, err, sizeof(err)) != RAY_OK)
			{
				fprintf(stderr, "parse: %s\n", err);
				return 1;
			}
			ray_event_batch_free(b);
		}
		t_full[r] = (now_ms() - t0) / reps;
	}
	qsort(t_malloc, runs, sizeof(double), cmp_double);
	qsort(t_arena, runs, sizeof(double), cmp_double);
	qsort(t_full, runs, sizeof(double), cmp_double);
	printf("| %zu | %.2f | %.2f (%.2f-%.2f) | %.2f | %.2f | %.2f |\n", len,
		   t_malloc[runs / 2], t_arena[runs / 2], t_arena[0], t_arena[runs - 1], t_full[runs / 2],
		   t_arena[runs / 2] / t_malloc[runs / 2],
		   t_full[runs / 2] / (t_full[runs / 2] - t_arena[runs / 2] + t_malloc[runs / 2]));
	return 0;
}
