/*
 * ray_version.c
 *		Parse Ray version strings; the table of version facts.
 *
 * A fact's version is the first release branch that carries the change
 * (Ray's releases/x.y branches). A development build of master reports
 * 3.0.0.dev0, which compares above every release. The sources named in
 * the table are files of ray-project/ray; docs/architecture.md lists the
 * same facts for readers of the documentation.
 */
#include "ray_version.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* In RayFact's order: facts[f].fact == f (test_core.c checks it). */
static const RayFactInfo facts[] = {
	{RAY_FACT_SUPPORTED, 2, 9, "RAY_FACT_SUPPORTED",
		"the oldest release whose wire raydar decodes",
	"src/ray/protobuf/gcs_service.proto (releases/2.9.0)"},
	{RAY_FACT_PG_TIMESTAMPS_15_16, 2, 10, "RAY_FACT_PG_TIMESTAMPS_15_16",
		"PlacementGroupTableData: soft_target_node_id at 14, timestamps moved to 15 and 16",
	"src/ray/protobuf/gcs.proto"},
	{RAY_FACT_TASK_STATE_FILTER, 2, 32, "RAY_FACT_TASK_STATE_FILTER",
		"GetTaskEventsRequest.Filters gained string state = 6",
	"src/ray/protobuf/gcs_service.proto"},
	{RAY_FACT_NAME_FILTER_IGNORES_CASE, 2, 32, "RAY_FACT_NAME_FILTER_IGNORES_CASE",
		"task name and state filters compare without case",
	"src/ray/gcs/gcs_server/gcs_task_manager.cc"},
	{RAY_FACT_NODE_REQUEST_FILTERS, 2, 36, "RAY_FACT_NODE_REQUEST_FILTERS",
		"GetAllNodeInfoRequest gained limit and Filters (empty before); replies count total",
	"src/ray/protobuf/gcs_service.proto"},
	{RAY_FACT_WORKER_ALIVE_FILTER, 2, 36, "RAY_FACT_WORKER_ALIVE_FILTER",
		"GetAllWorkerInfoRequest.Filters.is_alive",
	"src/ray/protobuf/gcs_service.proto"},
	{RAY_FACT_PG_STATE_PREPARED, 2, 36, "RAY_FACT_PG_STATE_PREPARED",
		"PlacementGroupState gained PREPARED = 1, shifting CREATED..RESCHEDULING",
	"src/ray/protobuf/gcs.proto"},
	{RAY_FACT_JOB_ID_FILTER, 2, 37, "RAY_FACT_JOB_ID_FILTER",
		"GetAllJobInfoRequest.job_or_submission_id",
	"src/ray/protobuf/gcs_service.proto"},
	{RAY_FACT_TASK_STATUS_RENUMBERED, 2, 39, "RAY_FACT_TASK_STATUS_RENUMBERED",
		"TaskStatus inserted 6 and 7, RUNNING..FAILED moved up by two",
	"src/ray/protobuf/common.proto (#48242)"},
	{RAY_FACT_PREDICATE_FILTERS, 2, 41, "RAY_FACT_PREDICATE_FILTERS",
		"GetTaskEventsRequest.Filters became repeated {predicate, value}",
	"src/ray/protobuf/gcs_service.proto (#48983)"},
	{RAY_FACT_NODE_SELECTORS, 2, 49, "RAY_FACT_NODE_SELECTORS",
		"GetAllNodeInfoRequest: node_selectors and state_filter replace Filters",
	"src/ray/protobuf/gcs_service.proto"},
	{RAY_FACT_ERROR_TYPE_27_32, 2, 50, "RAY_FACT_ERROR_TYPE_27_32",
		"ErrorType gained 27..32 and dropped 2 (boundary taken, somewhere in 2.50..2.58)",
	"src/ray/protobuf/common.proto"},
	{RAY_FACT_TASK_EVENTS_ELSEWHERE, 2, 58, "RAY_FACT_TASK_EVENTS_ELSEWHERE",
		"task events can go to the dashboard's event aggregator instead of the GCS",
	"src/ray/common/ray_config_def.h (enable_core_worker_task_event_to_gcs)"},
};

_Static_assert(lengthof(facts) == RAY_FACT_COUNT, "one row per RayFact");

static bool
parse_component(const char **p, int *out)
{
	long		val = 0;
	int			digits = 0;

	while (isdigit((unsigned char) **p))
	{
		val = val * 10 + (**p - '0');
		if (val > 100000)
			return false;
		(*p)++;
		digits++;
	}
	if (digits == 0)
		return false;
	*out = (int) val;
	return true;
}

bool
ray_version_parse(const char *text, RayVersion *out)
{
	const char *p = text;
	RayVersion	v = {0, 0, 0};

	if (text == NULL)
		return false;
	while (*p == ' ')
		p++;
	if (!parse_component(&p, &v.major) || *p++ != '.' ||
		!parse_component(&p, &v.minor))
		return false;
	if (*p == '.')
	{
		p++;
		if (!parse_component(&p, &v.patch))
			return false;
	}
	/* Anything after the numbers (".dev0", "rc1", "+abc") is a suffix. */
	if (*p != '\0' && *p != '.' && *p != '-' && *p != '+' && !isalpha((unsigned char) *p))
		return false;
	*out = v;
	return true;
}

bool
ray_version_at_least(const RayVersion *v, int major, int minor)
{
	return v->major > major || (v->major == major && v->minor >= minor);
}

const RayFactInfo *
ray_fact_info(RayFact fact)
{
	if ((int) fact < 0 || fact >= RAY_FACT_COUNT)
		return NULL;
	return &facts[fact];
}

bool
ray_version_has(const RayVersion *v, RayFact fact)
{
	const RayFactInfo *f = ray_fact_info(fact);

	return f != NULL && ray_version_at_least(v, f->major, f->minor);
}

const char *
ray_fact_since(RayFact fact, char *buf, int buflen)
{
	const RayFactInfo *f = ray_fact_info(fact);

	snprintf(buf, buflen, "%d.%d", f ? f->major : 0, f ? f->minor : 0);
	return buf;
}

bool
ray_version_new_task_status(const RayVersion *v)
{
	return ray_version_has(v, RAY_FACT_TASK_STATUS_RENUMBERED);
}

RayFilterLayout
ray_version_filter_layout(const RayVersion *v)
{
	return ray_version_has(v, RAY_FACT_PREDICATE_FILTERS) ? RAY_FILTERS_PREDICATE : RAY_FILTERS_SCALAR;
}

bool
ray_version_has_state_filter(const RayVersion *v)
{
	return ray_version_has(v, RAY_FACT_TASK_STATE_FILTER);
}

bool
ray_version_name_filter_ignores_case(const RayVersion *v)
{
	return ray_version_has(v, RAY_FACT_NAME_FILTER_IGNORES_CASE);
}
