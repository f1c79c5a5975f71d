/*
 * pbc_unpack.c: baseline (a) of bench/run.sh.
 *
 * protobuf-c unpacking a GetTaskEventsReply and nothing else: the floor any
 * decoder built on the generated code pays. Reads the reply bytes from a
 * file (the same bytes the simulator sends raydar), then times
 * ray__rpc__get_task_events_reply__unpack + free_unpacked RUNS times and
 * prints the best, the median and the unpack-only best, in ms.
 *
 *   build/pbc_unpack REPLY.bin [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ray_gcs.pb-c.h"

#include "bench_time.h"

int
main(int argc, char **argv)
{
	FILE	   *f;
	long		len;
	uint8_t    *buf;
	int			runs = argc > 2 ? atoi(argv[2]) : 7;
	double	   *total,
			   *unpack;
	size_t		n = 0;

	if (argc < 2 || runs < 1)
	{
		fprintf(stderr, "usage: %s REPLY.bin [RUNS]\n", argv[0]);
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
	{
		perror("fread");
		return 1;
	}
	fclose(f);
	total = calloc(runs, sizeof(double));
	unpack = calloc(runs, sizeof(double));

	/* One warm-up run (page faults of the first malloc arena growth). */
	{
		Ray__Rpc__GetTaskEventsReply *m = ray__rpc__get_task_events_reply__unpack(NULL, len, buf);

		if (m == NULL)
		{
			fprintf(stderr, "not a GetTaskEventsReply\n");
			return 1;
		}
		n = m->n_events_by_task;
		ray__rpc__get_task_events_reply__free_unpacked(m, NULL);
	}
	for (int i = 0; i < runs; i++)
	{
		double		t0 = now_ms(),
					t1,
					t2;
		Ray__Rpc__GetTaskEventsReply *m = ray__rpc__get_task_events_reply__unpack(NULL, len, buf);

		t1 = now_ms();
		ray__rpc__get_task_events_reply__free_unpacked(m, NULL);
		t2 = now_ms();
		unpack[i] = t1 - t0;
		total[i] = t2 - t0;
	}
	qsort(total, runs, sizeof(double), cmp_double);
	qsort(unpack, runs, sizeof(double), cmp_double);
	printf("bytes=%ld events=%zu runs=%d best_ms=%.3f median_ms=%.3f unpack_only_best_ms=%.3f\n",
		   len, n, runs, total[0], total[runs / 2], unpack[0]);
	return 0;
}
