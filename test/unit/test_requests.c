/*
 * test_requests.c
 *		GetTaskEventsRequest encodings against Ray's, per version profile,
 *		and the refusals that keep a real GCS from aborting.
 *
 * The requests/NAME.bin files were encoded by protoc from Ray's field numbers for each
 * version; cases.json names the limit and filters of each. We build the
 * same query, encode it for the profile's version, and want the same bytes.
 */
#include <cjson/cJSON.h>

#include "ray_cluster.h"
#include "ray_requests.h"
#include "tap.h"
#include "testutil.h"

static void
check_cases(const char *profile)
{
	size_t		jlen;
	uint8_t    *json = read_vector(profile, "requests/cases.json", &jlen);
	cJSON	   *cases = json ? cJSON_Parse((char *) json) : NULL;
	cJSON	   *c;
	RayVersion	v;
	char		vt[64];

	if (!ok(cases != NULL && profile_version(profile, &v, vt, sizeof(vt)),
			"%s: cases.json and version readable", profile))
		return;

	cJSON_ArrayForEach(c, cases)
	{
		RayTaskFilter filters[8];
		RayTaskQuery q = {0};
		cJSON	   *x;
		char		file[128];
		size_t		wlen;
		uint8_t    *want;
		uint8_t    *got;
		size_t		glen;
		char		err[256];
		RayStatus	st;

		if ((x = cJSON_GetObjectItem(c, "limit")))
		{
			q.has_limit = true;
			q.limit = (int64_t) x->valuedouble;
		}
		if ((x = cJSON_GetObjectItem(c, "exclude_driver")))
		{
			q.has_exclude_driver = true;
			q.exclude_driver = cJSON_IsTrue(x);
		}
#define FILTER(key, fld) \
		if ((x = cJSON_GetObjectItem(c, key))) \
			filters[q.nfilters++] = (RayTaskFilter) {fld, RAY_PRED_EQ, x->valuestring}
		FILTER("job", RAY_TF_JOB_ID);
		FILTER("task", RAY_TF_TASK_ID);
		FILTER("actor", RAY_TF_ACTOR_ID);
		FILTER("name", RAY_TF_NAME);
		FILTER("state", RAY_TF_STATE);
#undef FILTER
		q.filters = filters;

		snprintf(file, sizeof(file), "requests/%s.bin", c->string);
		want = read_vector(profile, file, &wlen);
		st = ray_task_request_encode(&q, &v, NULL, &got, &glen, err, sizeof(err));
		if (!ok(st == RAY_OK, "%s %s: encodes", profile, c->string))
		{
			tap_diag("  %s", err);
			free(want);
			continue;
		}
		ok(want != NULL && glen == wlen && memcmp(got, want, wlen) == 0,
		   "%s %s: %zu bytes, identical to Ray's", profile, c->string, glen);
		free(got);
		free(want);
	}
	cJSON_Delete(cases);
	free(json);
}

static RayStatus
encode1(const char *version, RayTaskFilterField f, RayPredicate p, const char *value)
{
	RayVersion	v;
	RayTaskFilter filter = {f, p, value};
	RayTaskQuery q = {0};
	uint8_t    *out;
	size_t		len;
	char		err[256];
	RayStatus	st;

	ray_version_parse(version, &v);
	q.nfilters = 1;
	q.filters = &filter;
	st = ray_task_request_encode(&q, &v, NULL, &out, &len, err, sizeof(err));
	free(out);
	return st;
}

static void
check_refusals(void)
{
	static const char *const versions[] = {"2.9.3", "2.35.0", "2.40.0", "2.49.2", "3.0.0.dev0", "2.58.0"};
	const char *task24 = "0123456789abcdef0123456789abcdef0123456789abcdef";

	for (int i = 0; i < 6; i++)
	{
		const char *ver = versions[i];

		/* The GCS RAY_CHECKs ID sizes: none of these may leave raydar. */
		is_int(encode1(ver, RAY_TF_JOB_ID, RAY_PRED_EQ, "010000"), RAY_ERR_BAD_ID,
			   "%s: 3-byte job id refused", ver);
		is_int(encode1(ver, RAY_TF_JOB_ID, RAY_PRED_EQ, "0100000000"), RAY_ERR_BAD_ID,
			   "%s: 5-byte job id refused", ver);
		is_int(encode1(ver, RAY_TF_TASK_ID, RAY_PRED_EQ, "abcd"), RAY_ERR_BAD_ID,
			   "%s: 2-byte task id refused", ver);
		is_int(encode1(ver, RAY_TF_ACTOR_ID, RAY_PRED_EQ, task24), RAY_ERR_BAD_ID,
			   "%s: a task id as actor id refused", ver);
		is_int(encode1(ver, RAY_TF_TASK_ID, RAY_PRED_EQ,
					   "zz23456789abcdef0123456789abcdef0123456789abcdef"), RAY_ERR_BAD_ID,
			   "%s: non-hex task id refused", ver);
		is_int(encode1(ver, RAY_TF_JOB_ID, RAY_PRED_EQ, "0100000"), RAY_ERR_BAD_ID,
			   "%s: odd-length hex refused", ver);
		is_int(encode1(ver, RAY_TF_TASK_ID, RAY_PRED_EQ, task24), RAY_OK,
			   "%s: 24-byte task id accepted", ver);
		is_int(encode1(ver, RAY_TF_JOB_ID, RAY_PRED_EQ, "0A000000"), RAY_OK,
			   "%s: upper-case hex accepted", ver);
	}
	/* Predicates and filters that older layouts do not have. */
	is_int(encode1("2.40.0", RAY_TF_NAME, RAY_PRED_NE, "f"), RAY_ERR_UNSUPPORTED,
		   "2.40: NOT_EQUAL refused (scalar layout)");
	is_int(encode1("2.41.0", RAY_TF_NAME, RAY_PRED_NE, "f"), RAY_OK,
		   "2.41: NOT_EQUAL accepted");
	is_int(encode1("2.9.3", RAY_TF_STATE, RAY_PRED_EQ, "FINISHED"), RAY_ERR_UNSUPPORTED,
		   "2.9: state filter refused (added in 2.32)");
	is_int(encode1("2.32.0", RAY_TF_STATE, RAY_PRED_EQ, "FINISHED"), RAY_OK,
		   "2.32: state filter accepted");

	/* The scalar layout holds one job id; the predicate layout many. */
	{
		RayTaskFilter two[2] = {{RAY_TF_JOB_ID, RAY_PRED_EQ, "01000000"},
		{RAY_TF_JOB_ID, RAY_PRED_EQ, "02000000"}};
		RayTaskQuery q = {0};
		RayVersion	v;
		uint8_t    *out;
		size_t		len;
		char		err[256];

		q.nfilters = 2;
		q.filters = two;
		ray_version_parse("2.40.0", &v);
		is_int(ray_task_request_encode(&q, &v, NULL, &out, &len, err, sizeof(err)),
			   RAY_ERR_UNSUPPORTED, "2.40: two job filters refused");
		free(out);
		ray_version_parse("2.49.2", &v);
		is_int(ray_task_request_encode(&q, &v, NULL, &out, &len, err, sizeof(err)),
			   RAY_OK, "2.49: two job filters accepted");
		free(out);
	}

	/* NOT_EQUAL goes on the wire as predicate 1 (EQUAL, 0, is left out). */
	{
		RayTaskFilter ne = {RAY_TF_STATE, RAY_PRED_NE, "RUNNING"};
		RayTaskQuery q = {0};
		RayVersion	v;
		uint8_t    *out;
		size_t		len;
		char		err[256];
		/* filters(4){ state_filters(6){ predicate(1)=1, state(2)="RUNNING" } } */
		const uint8_t want[] = {0x22, 0x0d, 0x32, 0x0b, 0x08, 0x01, 0x12, 0x07,
		'R', 'U', 'N', 'N', 'I', 'N', 'G'};

		q.nfilters = 1;
		q.filters = &ne;
		ray_version_parse("2.49.2", &v);
		ray_task_request_encode(&q, &v, NULL, &out, &len, err, sizeof(err));
		ok(len == sizeof(want) && memcmp(out, want, len) == 0,
		   "2.49: state <> RUNNING encodes as predicate NOT_EQUAL");
		free(out);
	}
}

/* cluster/requests: actors filtered by job and state, nodes by state. */
static void
check_cluster_cases(const char *profile)
{
	RayVersion	v;
	char		vt[64];
	char		file[256];
	char		err[256];
	uint8_t    *got;
	size_t		glen,
				wlen;
	uint8_t    *want;
	RayTaskFilter actor_f[2] = {{(RayTaskFilterField) RAY_CF_ACTOR_JOB_ID, RAY_PRED_EQ, "01000000"},
	{(RayTaskFilterField) RAY_CF_ACTOR_STATE, RAY_PRED_EQ, "ALIVE"}};
	RayTaskFilter node_f[1] = {{(RayTaskFilterField) RAY_CF_NODE_STATE, RAY_PRED_EQ, "ALIVE"}};

	if (!ok(profile_version(profile, &v, vt, sizeof(vt)), "%s: version", profile))
		return;
	snprintf(file, sizeof(file), "cluster/requests/actors_job_alive.bin");
	want = read_vector(profile, file, &wlen);
	ok(ray_cluster_request_encode(RAY_RESOURCE_ACTORS, actor_f, 2, 100, &v, NULL, &got, &glen,
								  err, sizeof(err)) == RAY_OK &&
	   want && glen == wlen && memcmp(got, want, wlen) == 0,
	   "%s: actors job_id = and state = ALIVE, limit 100: Ray's bytes", profile);
	free(got);
	free(want);
	/*
	 * Before 2.36 GetAllNodeInfo took no filter: the planner keeps the
	 * condition local and sends the empty request the vector shows.
	 */
	want = read_vector(profile, "cluster/requests/nodes_alive.bin", &wlen);
	if (ray_cluster_filter_supported(RAY_CF_NODE_STATE, &v))
		ok(ray_cluster_request_encode(RAY_RESOURCE_NODES, node_f, 1, 100, &v, NULL, &got, &glen,
									  err, sizeof(err)) == RAY_OK &&
		   want && glen == wlen && memcmp(got, want, wlen) == 0,
		   "%s: nodes state = ALIVE, limit 100 in the version's layout", profile);
	else
	{
		is_int(ray_cluster_request_encode(RAY_RESOURCE_NODES, node_f, 1, 100, &v, NULL, &got, &glen,
										  err, sizeof(err)), RAY_ERR_UNSUPPORTED,
			   "%s: no node filter exists: refused", profile);
		free(got);
		ok(ray_cluster_request_encode(RAY_RESOURCE_NODES, NULL, 0, -1, &v, NULL, &got, &glen,
									  err, sizeof(err)) == RAY_OK && want && glen == 0 && wlen == 0,
		   "%s: the planner's request is empty, as the vector", profile);
	}
	free(got);
	free(want);
}

int
main(void)
{
	for (int p = 0; p < NPROFILES; p++)
		check_cases(PROFILES[p]);
	check_refusals();
	for (int p = 0; p < NPROFILES; p++)
		check_cluster_cases(PROFILES[p]);
	{
		RayVersion	v;
		RayTaskFilter bad = {(RayTaskFilterField) RAY_CF_NODE_ID, RAY_PRED_EQ, "abcd"};
		uint8_t    *got;
		size_t		glen;
		char		err[256];

		ray_version_parse("2.49.2", &v);
		is_int(ray_cluster_request_encode(RAY_RESOURCE_NODES, &bad, 1, -1, &v, NULL, &got, &glen,
										  err, sizeof(err)), RAY_ERR_BAD_ID,
			   "a 2-byte node id is refused before it can reach a GCS");
		free(got);
	}
	return tap_done();
}
