/*
 * ray_version.h
 *		Ray versions and the wire facts that depend on them.
 *
 * Every version-dependent decision is one named fact (RayFact) with the
 * first Ray release that carries it, in one table (ray_version.c); a caller
 * asks ray_version_has(v, FACT) and never compares version numbers itself.
 * The releases and what changed in each are in docs/architecture.md
 * ("Version facts") and test/fixtures/ray-wire/README.md.
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

/*
 * A change on Ray's wire, true of every release from its first one on.
 * Keep in the order of ray_version.c's table (a unit test checks it).
 */
typedef enum RayFact
{
	RAY_FACT_SUPPORTED,			/* 2.9: the oldest Ray raydar reads */
	RAY_FACT_PG_TIMESTAMPS_15_16,	/* 2.10: placement-group times at 15/16 */
	RAY_FACT_TASK_STATE_FILTER, /* 2.32: scalar Filters.state (field 6) */
	RAY_FACT_NAME_FILTER_IGNORES_CASE,	/* 2.32: name filters ignore case */
	RAY_FACT_NODE_REQUEST_FILTERS,	/* 2.36: GetAllNodeInfoRequest has fields */
	RAY_FACT_WORKER_ALIVE_FILTER,	/* 2.36: GetAllWorkerInfoRequest.Filters */
	RAY_FACT_PG_STATE_PREPARED, /* 2.36: placement-group states renumbered */
	RAY_FACT_JOB_ID_FILTER,		/* 2.37: job_or_submission_id */
	RAY_FACT_TASK_STATUS_RENUMBERED,	/* 2.39: TaskStatus 6, 7 inserted */
	RAY_FACT_PREDICATE_FILTERS, /* 2.41: task Filters are {predicate, value} */
	RAY_FACT_NODE_SELECTORS,	/* 2.49: GetAllNodeInfoRequest.node_selectors */
	RAY_FACT_ERROR_TYPE_27_32,	/* 2.50: ErrorType 27..32 added, 2 dropped */
	RAY_FACT_TASK_EVENTS_ELSEWHERE, /* 2.58: task events may skip the GCS */
	RAY_FACT_COUNT
} RayFact;

/* One row of the table: a fact, its first release, where Ray says so. */
typedef struct RayFactInfo
{
	RayFact		fact;
	int			major;			/* first release that carries it */
	int			minor;
	const char *name;			/* "RAY_FACT_...", for messages and tests */
	const char *what;			/* the change, in a few words */
	const char *source;			/* Ray's file (and pull request) */
} RayFactInfo;

/* Layouts of GetTaskEventsRequest.Filters. */
typedef enum RayFilterLayout
{
	RAY_FILTERS_SCALAR,			/* 2.9 .. 2.40: bytes/string scalars, EQUAL only */
	RAY_FILTERS_PREDICATE		/* 2.41+: repeated {predicate, value} */
} RayFilterLayout;

/* Parse "2.9.3", "2.40.0", "3.0.0.dev0", "2.49". False if not a version. */
extern bool ray_version_parse(const char *text, RayVersion *out);

/* a >= major.minor; callers outside ray_version.c ask ray_version_has. */
extern bool ray_version_at_least(const RayVersion *v, int major, int minor);

/* Does a server of version v carry the fact? */
extern bool ray_version_has(const RayVersion *v, RayFact fact);

/* The table's row for a fact (never NULL for a valid fact). */
extern const RayFactInfo *ray_fact_info(RayFact fact);

/* The fact's first release as "major.minor" into buf (at least 16 bytes). */
extern const char *ray_fact_since(RayFact fact, char *buf, int buflen);

/* Shorthands for the facts asked most often. */
extern bool ray_version_new_task_status(const RayVersion *v);
extern RayFilterLayout ray_version_filter_layout(const RayVersion *v);
extern bool ray_version_has_state_filter(const RayVersion *v);
extern bool ray_version_name_filter_ignores_case(const RayVersion *v);

#endif							/* RAY_VERSION_H */
