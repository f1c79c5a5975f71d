/*
 * testutil.h
 *		File reading and the vector directory for the C unit tests.
 */
#ifndef RAYDAR_TESTUTIL_H
#define RAYDAR_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_requests.h"
#include "ray_version.h"

static const char *const PROFILES[] = {"ray-2.9", "ray-2.35", "ray-2.40", "ray-2.49", "ray-master", "ray-2.58"};
#define NPROFILES 6

/* RAYDAR_VECTORS, else the fixtures, relative to the repository root. */
static inline const char *
vectors_dir(void)
{
	const char *d = getenv("RAYDAR_VECTORS");

	return d && *d ? d : "test/fixtures/ray-wire";
}

static inline uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
	{
		buf[n] = '\0';
		*len = (size_t) n;
	}
	return buf;
}

static inline uint8_t *
read_vector(const char *profile, const char *file, size_t *len)
{
	char		path[1024];

	snprintf(path, sizeof(path), "%s/%s/%s", vectors_dir(), profile, file);
	return read_file(path, len);
}

/* The version a profile's CheckAlive reply announces. */
static inline int
profile_version(const char *profile, RayVersion *v, char *text, size_t textlen)
{
	size_t		len;
	uint8_t    *buf = read_vector(profile, "check_alive_reply.bin", &len);
	char		err[256];
	int32_t		code;
	RayStatus	st;

	if (buf == NULL)
		return 0;
	st = ray_check_alive_reply_decode(buf, len, text, textlen, &code, err, sizeof(err));
	free(buf);
	return st == RAY_OK && ray_version_parse(text, v);
}

#endif
