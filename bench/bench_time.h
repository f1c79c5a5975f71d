/*
 * bench_time.h
 *		The clock and the median sort the C benchmarks share
 *		(core_harness.c, pbc_unpack.c, http/no_pack.c, push/parse.c).
 */
#ifndef BENCH_TIME_H
#define BENCH_TIME_H

#include <time.h>

/* Monotonic milliseconds. */
static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort comparator of doubles (medians of runs). */
static inline int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

#endif							/* BENCH_TIME_H */
