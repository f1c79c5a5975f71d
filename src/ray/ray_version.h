/*
 * ray_version.h
 *		Ray versions and the wire facts that depend on them.
 *
 * Every version-dependent decision (TaskStatus numbering, request filter
 * layout, which filters exist) is answered here and nowhere else, from the
 * version table of Ray's releases (test/fixtures/ray-wire/README.md).
 *
 * PostgreSQL-free: used by the extension, the unit tests and the fuzzer.
 */
#ifndef RAY_VERSION_H
#define RAY_VERSION_H

#include <stdbool.h>

typedef struct RayVersion
{
	int			major;
	int			minor;
	int			patch;
} RayVersion;

/* Layouts of GetTaskEventsRequest.Filters. */
typedef enum RayFilterLayout
{
	RAY_FILTERS_SCALAR,			/* 2.9 .. 2.40: bytes/string scalars, EQUAL only */
	RAY_FILTERS_PREDICATE		/* 2.41+: repeated {predicate, value} */
} RayFilterLayout;

/* Parse "2.9.3", "2.40.0", "3.0.0.dev0", "2.49". False if not a version. */
extern bool ray_version_parse(const char *text, RayVersion *out);

/* a >= major.minor */
extern bool ray_version_at_least(const RayVersion *v, int major, int minor);

/* TaskStatus was renumbered in 2.39 (#48242). */
extern bool ray_version_new_task_status(const RayVersion *v);

/* GetTaskEventsRequest.Filters became {predicate, value} in 2.41 (#48983). */
extern RayFilterLayout ray_version_filter_layout(const RayVersion *v);

/* The scalar layout gained `state` (field 6) in 2.32. */
extern bool ray_version_has_state_filter(const RayVersion *v);

/* Name filters ignore case from 2.32 on; before, they matched exactly. */
extern bool ray_version_name_filter_ignores_case(const RayVersion *v);

#endif							/* RAY_VERSION_H */
