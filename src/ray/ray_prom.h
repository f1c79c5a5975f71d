/*
 * ray_prom.h
 *		Parse the Prometheus text exposition format (version 0.0.4), the body
 *		Ray's metrics agent serves at each node's metrics_export_port.
 *
 * The grammar is the one of Prometheus' own reader (expfmt's TextParser,
 * prometheus/common), which `promtool check metrics` uses: the same bodies
 * are accepted and rejected, and test/unit/test_prom.c checks that against
 * promtool on a shared corpus. A body is parsed whole before anything is
 * returned, so a caller never sees part of a body that later proves bad.
 *
 * PostgreSQL-free: memory comes from a ProtobufCAllocator (NULL: malloc).
 */
#ifndef RAY_PROM_H
#define RAY_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "ray_status.h"

/* Prometheus' MetricType, in its numbering (client_model's dto). */
typedef enum RayPromType
{
	RAY_PROM_COUNTER = 0,
	RAY_PROM_GAUGE = 1,
	RAY_PROM_SUMMARY = 2,
	RAY_PROM_UNTYPED = 3,
	RAY_PROM_HISTOGRAM = 4,
	RAY_PROM_GAUGE_HISTOGRAM = 5
} RayPromType;

/* "counter", "gauge", ...: the lower-case name used in # TYPE lines. */
extern const char *ray_prom_type_name(RayPromType t);

typedef struct RayPromLabel
{
	const char *name;			/* NUL-terminated */
	const char *value;			/* unescaped, NUL-terminated; valid UTF-8 */
	size_t		value_len;		/* may hold NUL bytes, which UTF-8 allows */
} RayPromLabel;

typedef struct RayPromFamily
{
	const char *name;
	RayPromType type;			/* RAY_PROM_UNTYPED until # TYPE or a sample */
	bool		typed;			/* a # TYPE line or a sample fixed the type */
	const char *help;			/* unescaped # HELP text, or NULL */
	size_t		help_len;
	size_t		nsamples;
} RayPromFamily;

typedef struct RayPromSample
{
	const char *name;			/* as written: x, x_total, x_bucket, x_sum... */
	size_t		family;			/* index into RayPromResult.families */
	size_t		label0;			/* first label in RayPromResult.labels */
	size_t		nlabels;		/* in written order, le/quantile included */
	double		value;			/* NaN and +/-Inf are values like any other */
	bool		has_timestamp;
	int64_t		timestamp_ms;
	int			line;			/* 1-based line of the body */
} RayPromSample;

typedef struct RayPromResult
{
	size_t		nfamilies;
	RayPromFamily *families;
	size_t		nsamples;
	RayPromSample *samples;
	size_t		nlabels;
	RayPromLabel *labels;
	int			nlines;			/* lines read */
	void	   *priv;			/* the memory behind all of the above */
} RayPromResult;

/*
 * Parse a whole body. On RAY_OK *out holds every sample (free it with
 * ray_prom_result_free). On RAY_ERR_MALFORMED err holds "line N: what";
 * on RAY_ERR_OOM nothing is returned. *out is NULL unless RAY_OK.
 */
extern RayStatus ray_prom_parse(const char *body, size_t len, ProtobufCAllocator *alloc,
								RayPromResult **out, char *err, size_t errlen);
extern void ray_prom_result_free(RayPromResult *r);

/*
 * Prometheus' float syntax (Go's strconv.ParseFloat without hex or
 * underscores): decimal with optional exponent, [+-]Inf[inity], NaN, any
 * case. Out of range is an error as in Go; underflow reads as 0.
 */
extern bool ray_prom_parse_float(const char *s, size_t n, double *out);

/*
 * Which metrics to keep: patterns is a list separated by commas or blanks,
 * each a glob ('*' any run, '?' one character) over the metric name as
 * written, '!' in front to refuse. The first pattern that matches decides;
 * a name no pattern matches is refused. NULL or empty keeps nothing.
 */
extern bool ray_prom_keep(const char *patterns, const char *name);

/*
 * raydar.metrics_keep's default: Ray's node and resource metrics, then no
 * other of Ray's own (the internal ones of src/ray/stats/metric_defs.cc and
 * the Python client's process_* and python_*), then everything else, which
 * is what users define with ray.util.metrics (exported as ray_<name>).
 * The node metrics are the gauges of Ray's reporter agent
 * (dashboard/modules/reporter/reporter_agent.py, METRICS_GAUGES: node_*,
 * component_*), the public ones metric_defs.cc's "PUBLIC METRICS".
 */
#define RAY_PROM_DEFAULT_KEEP \
	"ray_node_*, ray_component_*, ray_tasks, ray_actors, ray_resources, " \
	"ray_object_store_memory, ray_placement_groups, " \
	"!ray_operation_*, !ray_grpc_*, !ray_object_manager_*, !ray_object_directory_*, " \
	"!ray_pull_manager_*, !ray_push_manager_*, !ray_scheduler_*, !ray_spill_manager_*, " \
	"!ray_gcs_*, !ray_memory_manager_*, !ray_io_context_*, !ray_internal_*, " \
	"!ray_health_check_*, !ray_process_startup_*, !ray_worker_register_*, " \
	"!ray_object_store_dist*, !ray_unintentional_*, !ray_dashboard_*, !ray_raylet_*, " \
	"!process_*, !python_*, *"

/* Whether patterns is a list ray_prom_keep can read; else err says why. */
extern bool ray_prom_keep_valid(const char *patterns, char *err, size_t errlen);

#endif							/* RAY_PROM_H */
