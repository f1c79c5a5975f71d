/*
 * tap.h
 *		Minimal TAP producer for the C unit tests (run under prove).
 */
#ifndef RAYDAR_TAP_H
#define RAYDAR_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int	tap_n = 0;
static int	tap_failed = 0;

static inline int
tap_ok(int cond, const char *fmt, ...)
{
	va_list		ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

static inline void
tap_diag(const char *fmt, ...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 && tap_n > 0 ? 0 : 1;
}

#define ok(cond, ...) tap_ok((cond) ? 1 : 0, __VA_ARGS__)
#define is_int(got, want, ...) \
	(tap_ok((long long) (got) == (long long) (want), __VA_ARGS__) ? 1 : \
	 (tap_diag("  got %lld, want %lld", (long long) (got), (long long) (want)), 0))

#endif
