/*
 * test_state_json.c
 *		The State API JSON reader: rows go back to the GetTaskEventsReply
 *		they came from (so the gRPC decoder derives the same values), and
 *		malformed, truncated, huge, deeply nested or mistyped input is an
 *		error that says what and where.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_dashboard_parse.h"
#include "ray_tasks.h"
#include "tap.h"

/* One FAILED actor task with every column, as the dashboard sends it. */
static const char *ROW =
"{\"task_id\": \"0102030405060708090a0b0c0d0e0f101112131401000000\", \"attempt_number\": 1,"
" \"name\": \"Counter(3).increment\", \"func_or_class_name\": \"Counter.increment\","
" \"state\": \"FAILED\", \"job_id\": \"01000000\", \"actor_id\": \"aabbccddeeff0011aabbccdd01000000\","
" \"type\": \"ACTOR_TASK\", \"language\": \"PYTHON\","
" \"parent_task_id\": \"ffffffffffffffffffffffffffffffffffffffff01000000\","
" \"node_id\": \"11111111111111111111111111111111111111111111111111111111\", \"worker_id\": null,"
" \"placement_group_id\": null, \"worker_pid\": 4242,"
" \"error_type\": \"TASK_EXECUTION_EXCEPTION\", \"error_message\": \"boom\","
" \"required_resources\": {\"CPU\": 1.0, \"GPU\": 0.5},"
" \"runtime_env_info\": {\"serialized_runtime_env\": \"{}\", \"runtime_env_config\": {\"setup_timeout_seconds\": 600, \"eager_install\": true}},"
" \"events\": [{\"state\": \"PENDING_ARGS_AVAIL\", \"created_ms\": 1679440052252.0},"
"   {\"state\": \"RUNNING\", \"created_ms\": 1679440052300.0}, {\"state\": \"FAILED\", \"created_ms\": 1679440052353.0}],"
" \"creation_time_ms\": 1679440052252.0, \"start_time_ms\": 1679440052300.0, \"end_time_ms\": 1679440052353.0,"
" \"profiling_data\": {\"component_type\": \"worker\", \"component_id\": \"abcd\", \"node_ip_address\": \"10.0.0.1\","
"   \"events\": [{\"event_name\": \"task:execute\", \"start_time\": 1679440052252.8652, \"end_time\": 1679440052353.6184,"
"   \"extra_data\": {\"a\": [1, \"x\"]}}]},"
" \"task_log_info\": {\"stdout_file\": \"out\", \"stdout_start\": 5}, \"is_debugger_paused\": false,"
" \"call_site\": \"main.py:3\", \"label_selector\": {\"zone\": \"a\"}}";

static char *
envelope(const char *rows, const char *counts)
{
	size_t		n = strlen(rows) + strlen(counts) + 200;
	char	   *s = malloc(n);

	snprintf(s, n, "{\"result\": true, \"msg\": \"\", \"data\": {\"result\": {%s\"result\": [%s],"
			 " \"partial_failure_warning\": \"\", \"warnings\": null}}}", counts, rows);
	return s;
}

static RayStatus
convert(const char *json, size_t len, const char *version, RayTaskReply **r,
		RayStateCounters *k, char *err, size_t errlen)
{
	RayVersion	v;
	uint8_t    *pb;
	size_t		pblen;
	RayStatus	st;

	ray_version_parse(version, &v);
	*r = NULL;
	st = ray_state_json_tasks(json, len, &v, NULL, NULL, &pb, &pblen, k, err, errlen);
	if (st != RAY_OK)
		return st;
	st = ray_task_reply_decode(pb, pblen, &v, NULL, r, err, errlen);
	free(pb);
	return st;
}

static bool
json_is(RayBuf *b, bool present, const char *want, const char *what)
{
	bool		good = present && b->data && strcmp(b->data, want) == 0;

	ok(good, "%s renders as %s", what, want);
	if (!good)
		tap_diag("  got %s", present && b->data ? b->data : "(absent)");
	ray_buf_reset(b);
	return good;
}

static void
test_full_row(const char *version)
{
	char	   *doc = envelope(ROW, "\"total\": 5, \"num_after_truncation\": 3, \"num_filtered\": 1, ");
	RayTaskReply *r;
	RayStateCounters k;
	char		err[256];
	char		nb[RAY_ENUM_NAME_MAX];
	RayVersion	v;
	RayBuf		b;
	const RayTaskRow *row;

	ray_version_parse(version, &v);
	if (!is_int(convert(doc, strlen(doc), version, &r, &k, err, sizeof(err)), RAY_OK,
				"%s: the full row converts (%s)", version, err))
	{
		free(doc);
		return;
	}
	row = &r->rows[0];
	is_int(r->nrows, 1, "%s: one row", version);
	is_int(k.total, 5, "%s: total", version);
	is_int(k.num_after_truncation, 3, "%s: num_after_truncation", version);
	is_int(k.num_filtered, 1, "%s: num_filtered", version);
	is_int(row->attempt_number, 1, "%s: attempt_number", version);
	ok(strcmp(ray_task_state_text(r, row, nb), "FAILED") == 0, "%s: state FAILED from the events", version);
	is_int(row->events[row->n_events - 1].status,
		   ray_task_status_number(&v, RAY_TS_FAILED), "%s: FAILED has the version's number", version);
	ok(row->has_creation_ms && row->creation_ms == 1679440052252LL, "%s: creation ms", version);
	ok(row->has_start_ms && row->start_ms == 1679440052300LL, "%s: start ms", version);
	ok(row->has_end_ms && row->end_ms == 1679440052353LL, "%s: end ms", version);
	ok(row->name && strcmp(row->name, "Counter(3).increment") == 0, "%s: renamed name kept", version);
	ok(row->su->actor_repr_name && strcmp(row->su->actor_repr_name, "Counter(3)") == 0,
	   "%s: actor_repr_name read back from the renamed name", version);
	ok(strcmp(ray_task_type_text(row, nb), "ACTOR_TASK") == 0, "%s: type", version);
	ok(strcmp(ray_task_language_text(row, nb), "PYTHON") == 0, "%s: language", version);
	ok(row->has_error_type && strcmp(ray_task_error_type_text(r, row, nb), "TASK_EXECUTION_EXCEPTION") == 0,
	   "%s: error_type", version);
	ok(row->error_message && strcmp(row->error_message, "boom") == 0, "%s: error_message", version);
	is_int(row->node_id.len, 28, "%s: node_id bytes", version);
	is_int(row->worker_id.len, 0, "%s: null worker_id is absent", version);
	is_int(row->placement_group_id.len, 0, "%s: null placement group is absent", version);
	ok(row->su->has_worker_pid && row->su->worker_pid == 4242, "%s: worker_pid", version);
	ok(row->su->has_is_debugger_paused && !row->su->is_debugger_paused, "%s: is_debugger_paused", version);
	ok(row->info->call_site && strcmp(row->info->call_site, "main.py:3") == 0, "%s: call_site", version);

	ray_buf_init(&b, NULL);
	json_is(&b, ray_task_json_events(r, row, &b),
			"[{\"state\": \"PENDING_ARGS_AVAIL\", \"created_ms\": 1679440052252}, "
			"{\"state\": \"RUNNING\", \"created_ms\": 1679440052300}, "
			"{\"state\": \"FAILED\", \"created_ms\": 1679440052353}]", "events");
	json_is(&b, ray_task_json_required_resources(row, &b), "{\"CPU\": 1, \"GPU\": 0.5}", "required_resources");
	json_is(&b, ray_task_json_profiling_data(row, &b),
			"{\"component_type\": \"worker\", \"component_id\": \"abcd\", \"node_ip_address\": \"10.0.0.1\", "
			"\"events\": [{\"event_name\": \"task:execute\", \"start_time\": 1679440052252.8652, "
			"\"end_time\": 1679440052353.6184, \"extra_data\": {\"a\":[1,\"x\"]}}]}", "profiling_data");
	json_is(&b, ray_task_json_task_log_info(row, &b), "{\"stdout_file\": \"out\", \"stdout_start\": 5}", "task_log_info");
	json_is(&b, ray_task_json_runtime_env_info(row, &b),
			"{\"serialized_runtime_env\": \"{}\", \"runtime_env_config\": {\"setup_timeout_seconds\": 600, "
			"\"eager_install\": true, \"log_files\": []}}", "runtime_env_info");
	json_is(&b, ray_task_json_label_selector(row, &b), "{\"zone\": \"a\"}", "label_selector");
	ray_buf_free(&b);
	ray_task_reply_free(r);
	free(doc);
}

/* Profile times: an ns is found that divides back to exactly Ray's double. */
static void
test_profile_times(void)
{
	static const double ms[] = {1679440052252.8652, 1795314590147.0001, 0.001, 1.5, 1700000000000.123};
	int			exact = 0;

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
	{
		char		row[512];
		char	   *doc;
		RayTaskReply *r;
		RayStateCounters k;
		char		err[256];

		snprintf(row, sizeof(row), "{\"task_id\": \"00\", \"profiling_data\": {\"component_type\": \"w\","
				 " \"events\": [{\"event_name\": \"e\", \"start_time\": %.17g, \"end_time\": %.17g}]}}", ms[i], ms[i]);
		doc = envelope(row, "");
		if (convert(doc, strlen(doc), "2.40.0", &r, &k, err, sizeof(err)) == RAY_OK)
		{
			exact += ray_ns_to_ms(r->rows[0].ev->profile_events->events[0]->start_time) == ms[i];
			ray_task_reply_free(r);
		}
		free(doc);
	}
	is_int(exact, 5, "every profile time reads back as the same double");
}

/* A minimal row; counters default to the row count; an empty list is fine. */
static void
test_envelopes(void)
{
	RayTaskReply *r;
	RayStateCounters k;
	char		err[256];
	char	   *doc = envelope("{\"task_id\": \"00\"}, {\"task_id\": \"01\", \"attempt_number\": 2}", "");
	const char *failed = "{\"result\": false, \"msg\": \"Failed to query data from GCS\", \"data\": {}}";
	const char *warned = "{\"result\": true, \"msg\": \"\", \"data\": {\"result\": {\"total\": 0, \"result\": [],"
		" \"partial_failure_warning\": \"\", \"warnings\": [\"GCS down\", \"again\"]}}}";
	char		v[64];

	is_int(convert(doc, strlen(doc), "3.0.0.dev0", &r, &k, err, sizeof(err)), RAY_OK, "minimal rows convert");
	if (r)
	{
		is_int(r->nrows, 2, "two rows");
		is_int(k.total, 2, "total defaults to the rows");
		ok(r->rows[1].state == 0, "no events: state NIL");
		ray_task_reply_free(r);
	}
	free(doc);
	is_int(convert(failed, strlen(failed), "2.9.3", &r, &k, err, sizeof(err)), RAY_ERR_RPC,
		   "result false is Ray's error");
	ok(strcmp(err, "Failed to query data from GCS") == 0, "with Ray's msg");
	is_int(convert(warned, strlen(warned), "2.9.3", &r, &k, err, sizeof(err)), RAY_OK, "warnings are not errors");
	ok(k.nwarnings == 2 && strcmp(k.warning, "GCS down") == 0, "warnings counted, the first kept");
	ray_task_reply_free(r);

	is_int(ray_state_json_version("{\"version\": \"4\", \"ray_version\": \"2.40.0\"}", 41, v, sizeof(v), err, sizeof(err)),
		   RAY_OK, "version endpoint");
	ok(strcmp(v, "2.40.0") == 0, "ray_version read");
	is_int(ray_state_json_version("{\"version\": \"4\"}", 16, v, sizeof(v), err, sizeof(err)),
		   RAY_ERR_MALFORMED, "no ray_version is an error");
	ray_state_json_error_message("<html>\nbad gateway", 18, v, sizeof(v));
	ok(strcmp(v, "<html>") == 0, "a non-JSON error body gives its first line");
	ray_state_json_error_message("{\"result\": false, \"msg\": \"limit too big\"}", 41, v, sizeof(v));
	ok(strcmp(v, "limit too big") == 0, "a JSON error body gives its msg");
}

static void
expect_error(const char *json, size_t len, RayStatus want, const char *needle, const char *what)
{
	RayTaskReply *r = NULL;
	RayStateCounters k;
	char		err[256] = "";
	RayStatus	st = convert(json, len, "2.49.2", &r, &k, err, sizeof(err));

	is_int(st, want, "%s: refused", what);
	ok(strstr(err, needle) != NULL, "%s: message says \"%s\" (%s)", what, needle, err);
	if (st == RAY_OK)
		ray_task_reply_free(r);
}

static void
test_bad_input(void)
{
	char	   *good = envelope(ROW, "");
	char	   *deep;
	char	   *wide;
	size_t		n;

	expect_error("", 0, RAY_ERR_MALFORMED, "empty", "empty body");
	expect_error("{", 1, RAY_ERR_MALFORMED, "truncated", "one brace");
	/* Every prefix of a valid document is refused, never a crash. */
	{
		int			refused = 0,
					total = 0;

		for (size_t cut = 1; cut < strlen(good); cut += 7)
		{
			RayTaskReply *r = NULL;
			RayStateCounters k;
			char		err[256];

			total++;
			if (convert(good, cut, "2.49.2", &r, &k, err, sizeof(err)) != RAY_OK)
				refused++;
			else
				ray_task_reply_free(r);
		}
		is_int(refused, total, "all %d truncations of a valid body are refused", total);
	}
	expect_error(good, strlen(good) / 2, RAY_ERR_MALFORMED, "truncated", "half a body");
	expect_error("{\"result\": true} x", 18, RAY_ERR_MALFORMED, "after the JSON value", "trailing data");
	expect_error("[1, 2", 5, RAY_ERR_MALFORMED, "truncated", "open array");
	expect_error("{\"result\": tru}", 15, RAY_ERR_MALFORMED, "invalid JSON at byte", "bad literal");
	expect_error("[]", 2, RAY_ERR_MALFORMED, "not a State API response", "not an envelope");
	expect_error("{\"result\": true, \"data\": {\"result\": null}}", 42, RAY_ERR_MALFORMED,
				 "data.result.result", "no rows array");

	/* 100,000 levels: refused by the pre-scan, not by recursion. */
	n = 100000;
	deep = malloc(2 * n + 1);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	expect_error(deep, 2 * n, RAY_ERR_MALFORMED, "nested deeper than 64", "deeply nested");
	/* Brackets inside strings do not count as nesting. */
	{
		char	   *s = malloc(n + 300);
		char	   *rows;

		snprintf(s, n + 300, "{\"task_id\": \"00\", \"name\": \"%.*s\"}", (int) n, deep);
		rows = envelope(s, "");
		expect_error(rows, strlen(rows), RAY_OK, "", "brackets inside a string");
		free(rows);
		free(s);
	}
	free(deep);
	/* Larger than the limit: refused before a byte is read. */
	expect_error("{}", RAY_STATE_JSON_MAX_BYTES + 1, RAY_ERR_TOO_LARGE, "exceeds", "huge body");
	/* A wide, valid body of many rows converts. */
	{
		size_t		rows = 20000;
		size_t		cap = rows * 64 + 256;
		char	   *list = malloc(cap);
		size_t		len = 0;
		RayTaskReply *r;
		RayStateCounters k;
		char		err[256];

		for (size_t i = 0; i < rows; i++)
			len += snprintf(list + len, cap - len, "%s{\"task_id\": \"%08zx\", \"attempt_number\": 0}",
							i ? ", " : "", i);
		wide = envelope(list, "");
		is_int(convert(wide, strlen(wide), "2.49.2", &r, &k, err, sizeof(err)), RAY_OK, "20,000 rows convert");
		if (r)
		{
			is_int(r->nrows, rows, "with every row");
			ray_task_reply_free(r);
		}
		free(wide);
		free(list);
	}

	/* A row that cannot be named is still an error, saying which row. */
	{
		static const struct
		{
			const char *row;
			const char *needle;
		}			cases[] = {
			{"{\"task_id\": \"zz\"}", "row 1: \"task_id\" is not a hex ID"},
			{"{\"task_id\": \"abc\"}", "\"task_id\" is not a hex ID"},
			{"{\"task_id\": 7}", "\"task_id\" is not a hex ID"},
			{"{\"attempt_number\": 0}", "no task_id"},
			{"{\"task_id\": \"00\"}, 7", "row 2: not a JSON object"},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			char	   *doc = envelope(cases[i].row, "");

			expect_error(doc, strlen(doc), RAY_ERR_MALFORMED, cases[i].needle, cases[i].row);
			free(doc);
		}
	}
	/* A number the build does not know comes back as that number. */
	{
		char	   *doc = envelope("{\"task_id\": \"00\", \"type\": \"7\", \"events\": [{\"state\": \"42\", \"created_ms\": 5}]}", "");
		RayTaskReply *r;
		RayStateCounters k;
		char		err[256];

		if (is_int(convert(doc, strlen(doc), "2.49.2", &r, &k, err, sizeof(err)), RAY_OK, "decimal enum names convert"))
		{
			ok(r->rows[0].info->type == 7 && r->rows[0].state == 42, "as their numbers");
			ray_task_reply_free(r);
		}
		free(doc);
	}
	free(good);
}

/*
 * Every form protobuf's JSON mapping allows (int64/uint64/int32 as numbers
 * or strings, doubles as strings and "NaN"/"Infinity", enums as names or
 * numbers, bools as "true"/"false") reads as the plain form does.
 */
static void
test_proto3_forms(void)
{
	const char *row =
		"{\"task_id\": \"0102030405060708090a0b0c0d0e0f101112131401000000\", \"attempt_number\": \"2\","
		" \"job_id\": \"01000000\", \"type\": 2, \"language\": \"0\", \"worker_pid\": \"4242\","
		" \"name\": \"f\", \"func_or_class_name\": \"f\","
		" \"error_type\": 99, \"error_message\": \"new\","
		" \"required_resources\": {\"CPU\": \"1.5\", \"GPU\": \"Infinity\", \"mem\": \"1e3\"},"
		" \"runtime_env_info\": {\"runtime_env_config\": {\"setup_timeout_seconds\": \"600\", \"eager_install\": \"true\"}},"
		" \"events\": [{\"state\": 1, \"created_ms\": \"1679440052252\"},"
		"   {\"state\": \"8\", \"created_ms\": 1679440052300.0}, {\"state\": \"FAILED\", \"created_ms\": \"1.679440052353e12\"}],"
		" \"task_log_info\": {\"stdout_start\": \"-5\"}, \"is_debugger_paused\": \"false\","
		" \"profiling_data\": {\"component_type\": \"worker\", \"events\": [{\"event_name\": \"x\","
		"   \"start_time\": \"1679440052252.5\", \"end_time\": 1679440052253.25}]}}";
	char	   *doc = envelope(row, "\"total\": \"7\", \"num_after_truncation\": \"1\", \"num_filtered\": 1, ");
	RayTaskReply *r;
	RayStateCounters k;
	char		err[256];
	char		nb[RAY_ENUM_NAME_MAX];

	if (!is_int(convert(doc, strlen(doc), "2.49.2", &r, &k, err, sizeof(err)), RAY_OK,
				"proto3 forms convert (%s)", err))
	{
		free(doc);
		return;
	}
	{
		const RayTaskRow *t = &r->rows[0];
		const Ray__Rpc__TaskInfoEntry *info = t->info;
		const Ray__Rpc__RuntimeEnvConfig *rc = info->runtime_env_info ? info->runtime_env_info->runtime_env_config : NULL;

		is_int(k.nodd, 0, "no odd values among them (%s)", k.odd);
		is_int(k.total, 7, "total as a string");
		is_int(k.num_after_truncation, 1, "num_after_truncation as a string");
		is_int(t->attempt_number, 2, "int32 attempt_number as a string");
		ok(t->su->has_worker_pid && t->su->worker_pid == 4242, "int32 worker_pid as a string");
		ok(strcmp(ray_task_type_text(t, nb), "ACTOR_TASK") == 0, "enum type as a number");
		ok(strcmp(ray_task_language_text(t, nb), "PYTHON") == 0, "enum language as a decimal string");
		ok(t->has_error_type && t->error_type == 99 && strcmp(ray_task_error_type_text(r, t, nb), "99") == 0,
		   "an enum number no version declares is kept as that number");
		is_int(t->n_events, 3, "three events, states as a number, a decimal string and a name");
		ok(strcmp(ray_task_state_text(r, t, nb), "FAILED") == 0, "state FAILED");
		ok(t->has_start_ms && t->start_ms == 1679440052300LL && t->has_creation_ms &&
		   t->creation_ms == 1679440052252LL && t->has_end_ms && t->end_ms == 1679440052353LL,
		   "created_ms as a string, a number and an exponent string");
		ok(info->n_required_resources == 3 && info->required_resources[0]->value == 1.5 &&
		   isinf(info->required_resources[1]->value) && info->required_resources[2]->value == 1000.0,
		   "doubles as strings, \"Infinity\" and exponent form");
		ok(rc && rc->has_setup_timeout_seconds && rc->setup_timeout_seconds == 600 && rc->has_eager_install &&
		   rc->eager_install, "int32 and bool as strings in a nested message");
		ok(t->su->task_log_info && t->su->task_log_info->has_stdout_start &&
		   t->su->task_log_info->stdout_start == -5, "a negative int32 as a string");
		ok(t->su->has_is_debugger_paused && !t->su->is_debugger_paused, "bool \"false\"");
		ok(t->ev->profile_events && t->ev->profile_events->n_events == 1 &&
		   (double) t->ev->profile_events->events[0]->start_time / 1e6 == 1679440052252.5,
		   "a profile time as a string");
		ray_task_reply_free(r);
	}
	free(doc);
}

/* One odd value: the row converts, that field is absent, one counted warning. */
static void
expect_odd(const char *row, const char *needle, int nodd)
{
	char	   *doc = envelope(row, "");
	RayTaskReply *r = NULL;
	RayStateCounters k;
	char		err[256] = "";

	if (is_int(convert(doc, strlen(doc), "2.49.2", &r, &k, err, sizeof(err)), RAY_OK,
			   "odd value read, not refused: %s (%s)", row, err))
	{
		is_int(k.nodd, nodd, "  counted %d", nodd);
		ok(strstr(k.odd, needle) != NULL, "  first says \"%s\" (%s)", needle, k.odd);
		is_int(r->nrows, 1, "  the row is kept");
		ok(k.ncells == (size_t) nodd, "  %d odd cells", nodd);
		ray_task_reply_free(r);
	}
	ray_state_json_free_cells(&k);
	free(doc);
}

static void
test_odd_values(void)
{
	static const struct
	{
		const char *row;
		const char *needle;
	}			cases[] = {
		{"{\"task_id\": \"00\", \"attempt_number\": 1.5}", "row 1: \"attempt_number\" is not an integer"},
		{"{\"task_id\": \"00\", \"attempt_number\": \"one\"}", "\"attempt_number\" is not an integer in [0, 2147483647]: \"one\""},
		{"{\"task_id\": \"00\", \"attempt_number\": -1}", "\"attempt_number\" is not an integer"},
		{"{\"task_id\": \"00\", \"attempt_number\": \"2147483648\"}", "\"attempt_number\" is not an integer"},
		{"{\"task_id\": \"00\", \"job_id\": \"zz\"}", "\"job_id\" is not a hex ID: \"zz\""},
		{"{\"task_id\": \"00\", \"name\": 5}", "\"name\" is not a string: 5"},
		{"{\"task_id\": \"00\", \"type\": \"SOMETIMES_TASK\"}", "\"type\" has an unknown value \"SOMETIMES_TASK\""},
		{"{\"task_id\": \"00\", \"type\": 1.5}", "\"type\" has an unknown value"},
		{"{\"task_id\": \"00\", \"events\": {}}", "\"events\" is not an array"},
		{"{\"task_id\": \"00\", \"events\": [{\"state\": \"RUNNING\"}]}", "events[0]"},
		{"{\"task_id\": \"00\", \"events\": [{\"state\": \"NAPPING\", \"created_ms\": 5}]}", "events[0].state has an unknown value"},
		{"{\"task_id\": \"00\", \"events\": [{\"state\": \"RUNNING\", \"created_ms\": 1.5}]}", "not an integer number of milliseconds"},
		{"{\"task_id\": \"00\", \"required_resources\": {\"CPU\": \"x\"}}", "required_resources[\"CPU\"]"},
		{"{\"task_id\": \"00\", \"required_resources\": {\"CPU\": \"nan\"}}", "required_resources[\"CPU\"]"},
		{"{\"task_id\": \"00\", \"label_selector\": {\"a\": 1}}", "label_selector[\"a\"]"},
		{"{\"task_id\": \"00\", \"worker_pid\": 1e12}", "\"worker_pid\" is not an integer"},
		{"{\"task_id\": \"00\", \"is_debugger_paused\": 1}", "\"is_debugger_paused\" is not a boolean: 1"},
		{"{\"task_id\": \"00\", \"profiling_data\": {\"events\": [{}]}}", "profiling_data.events[0]"},
		{"{\"task_id\": \"00\", \"profiling_data\": []}", "\"profiling_data\" is not an object"},
		{"{\"task_id\": \"00\", \"runtime_env_info\": []}", "\"runtime_env_info\" is not an object"},
		{"{\"task_id\": \"00\", \"runtime_env_info\": {\"uris\": {\"py_modules_uris\": [\"a\", 3]}}}", "\"py_modules_uris\" holds a value"},
		{"{\"task_id\": \"00\", \"error_type\": true}", "\"error_type\" has an unknown value true"},
		{"{\"task_id\": \"00\", \"task_log_info\": {\"stdout_end\": \"12x\"}}", "\"stdout_end\" is not an integer"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_odd(cases[i].row, cases[i].needle, 1);
	/* Several in one row, and rows after it: each counted, the first kept. */
	expect_odd("{\"task_id\": \"00\", \"type\": \"X\", \"worker_pid\": \"y\", \"job_id\": 3,"
			   " \"events\": [{\"state\": \"RUNNING\", \"created_ms\": 5}, {\"state\": \"Z\", \"created_ms\": 6}]}",
			   "row 1: \"job_id\" is not a hex ID: 3", 4);
	/* The field is absent and the rest of the row is read. */
	{
		char	   *doc = envelope("{\"task_id\": \"00\", \"attempt_number\": 3}, {\"task_id\": \"01\","
								   " \"attempt_number\": \"x\", \"type\": \"NOPE\", \"worker_pid\": 77,"
								   " \"events\": [{\"state\": \"RUNNING\", \"created_ms\": \"x\"},"
								   " {\"state\": \"FINISHED\", \"created_ms\": 9}]}", "");
		RayTaskReply *r;
		RayStateCounters k;
		char		err[256];
		char		nb[RAY_ENUM_NAME_MAX];

		if (is_int(convert(doc, strlen(doc), "2.49.2", &r, &k, err, sizeof(err)), RAY_OK, "two rows, one odd"))
		{
			const RayTaskRow *t = &r->rows[1];

			ok(r->nrows == 2 && k.nodd == 3 && strncmp(k.odd, "row 2: ", 7) == 0, "three odd values, first in row 2");
			ok(!t->ev->has_attempt_number && !t->info->has_type && t->su->worker_pid == 77,
			   "attempt_number and type absent, worker_pid read");
			ok(t->n_events == 1 && strcmp(ray_task_state_text(r, t, nb), "FINISHED") == 0,
			   "the bad event is left out, the good one kept");
			ok(k.ncells == 3 && ray_state_json_cell_is_odd(&k, -1, 1, "attempt_number") &&
			   ray_state_json_cell_is_odd(&k, -1, 1, "type") && !ray_state_json_cell_is_odd(&k, -1, 1, "worker_pid") &&
			   !ray_state_json_cell_is_odd(&k, -1, 0, "attempt_number"),
			   "the odd cells: row 2's attempt_number and type, not its worker_pid, not row 1");
			{
				RayStateCounters all;

				memset(&all, 0, sizeof(all));
				ok(ray_state_json_odd_append(&all, &k, 10, NULL) && ray_state_json_odd_append(&all, &k, 20, NULL) &&
				   all.ncells == 6 && ray_state_json_cell_is_odd(&all, -1, 21, "type") &&
				   !ray_state_json_cell_is_odd(&all, -1, 1, "type"), "odd cells of split parts, shifted");
				ray_state_json_free_cells(&all);
			}
			ray_task_reply_free(r);
		}
		ray_state_json_free_cells(&k);
		free(doc);
	}
}

/* The cluster routes: rows back into the GetAll*Reply, read by ray_cluster_reply_decode. */
static RayStateCounters last_k;

static RayClusterReply *
cluster(int kind, const char *rows, const char *version, RayStatus want, const char *needle)
{
	char	   *doc = envelope(rows, "");
	RayVersion	v;
	uint8_t    *pb = NULL;
	size_t		pblen;
	RayStateCounters k;
	char		err[256] = "";
	RayClusterReply *r = NULL;
	RayStatus	st;

	ray_version_parse(version, &v);
	st = ray_state_json_cluster(kind, doc, strlen(doc), &v, NULL, &pb, &pblen, &k, err, sizeof(err));
	ray_state_json_free_cells(&k);
	last_k = k;
	is_int(st, want, "cluster kind %d: %.60s", kind, rows);
	if (needle && st != RAY_OK)
		ok(strstr(err, needle) != NULL, "  message says \"%s\" (%s)", needle, err);
	else if (needle)
		ok(k.nodd == 1 && strstr(k.odd, needle) != NULL, "  one odd value, \"%s\" (%d: %s)", needle, k.nodd, k.odd);
	else
		is_int(k.nodd, 0, "  no odd value (%s)", k.odd);
	if (st == RAY_OK && ray_cluster_reply_decode((RayResourceKind) kind, pb, pblen, &v, NULL, &r, err,
												 sizeof(err)) != RAY_OK)
		ok(0, "the converted reply decodes (%s)", err);
	free(pb);
	free(doc);
	return r;
}

static void
test_cluster(void)
{
	RayClusterReply *r;
	const char *msg;

	r = cluster(RAY_RESOURCE_ACTORS,
				"{\"actor_id\": \"aabbccddeeff0011aabbccdd01000000\", \"class_name\": \"A\", \"state\": \"DEAD\","
				" \"job_id\": \"01000000\", \"pid\": 7, \"required_resources\": {\"CPU\": 1.0},"
				" \"death_cause\": {\"actor_died_error_context\": {\"error_message\": \"gone\", \"pid\": 7}},"
				" \"num_restarts\": 2, \"label_selector\": {\"a\": \"b\"}}", "2.49.2", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__ActorTableData *a = r->rows[0];

		ok(r->nrows == 1 && a->state == 4 && a->pid == 7 && a->num_restarts == 2 &&
		   a->n_required_resources == 1 && a->n_label_selector == 1, "actor: state DEAD, pid, restarts, maps");
		ok(strcmp(ray_actor_death_cause(a, &msg), "actor_died_error_context") == 0 && strcmp(msg, "gone") == 0,
		   "actor: the death cause alternative and its message");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_NODES,
				"{\"node_id\": \"00\", \"state\": \"DEAD\", \"state_message\": \"Terminated due to preemption: spot\"},"
				" {\"node_id\": \"01\", \"state\": \"DEAD\", \"state_message\": \"Unexpected termination\"},"
				" {\"node_id\": \"02\", \"state\": \"DEAD\", \"state_message\": \"killed: by hand\"},"
				" {\"node_id\": \"03\", \"state\": \"ALIVE\", \"state_message\": null}", "2.40.0", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__GcsNodeInfo *const *n = (const Ray__Rpc__GcsNodeInfo *const *) r->rows;

		ok(n[0]->death_info && n[0]->death_info->reason == 3 && strcmp(n[0]->death_info->reason_message, "spot") == 0,
		   "node: reason and message read back from state_message");
		ok(n[1]->death_info && n[1]->death_info->reason == 2 && n[1]->death_info->reason_message == NULL,
		   "node: a reason without a message");
		ok(n[2]->death_info && n[2]->death_info->reason == 0 && strcmp(n[2]->death_info->reason_message, "killed: by hand") == 0,
		   "node: a message without a known reason");
		ok(n[3]->death_info == NULL && n[3]->state == 0, "node: alive, no death info");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_JOBS,
				"{\"type\": \"DRIVER\", \"job_id\": \"01000000\", \"status\": \"SUCCEEDED\", \"start_time\": 5,"
				" \"driver_info\": {\"node_ip_address\": \"10.0.0.1\", \"pid\": \"42\"}},"
				" {\"type\": \"SUBMISSION\", \"job_id\": \"02000000\", \"status\": \"RUNNING\", \"start_time\": 9,"
				" \"metadata\": {\"team\": \"ml\"}, \"driver_exit_code\": null}", "3.0.0.dev0", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__JobTableData *const *j = (const Ray__Rpc__JobTableData *const *) r->rows;

		ok(j[0]->is_dead && j[0]->job_info == NULL && j[0]->driver_pid == 42 && j[0]->has_start_time &&
		   j[0]->start_time == 5, "driver job: dead, no job_info, pid from text, its times");
		ok(!j[1]->is_dead && j[1]->job_info && strcmp(j[1]->job_info->status, "RUNNING") == 0 &&
		   j[1]->job_info->n_metadata == 1 && !j[1]->has_start_time, "submission job: job_info, no driver times");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_WORKERS,
				"{\"worker_id\": \"00\", \"is_alive\": false, \"worker_type\": \"DRIVER\", \"exit_type\": \"SYSTEM_ERROR\","
				" \"pid\": 3, \"start_time_ms\": 0}", "2.9.3", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__WorkerTableData *w = r->rows[0];

		ok(w->worker_type == 1 && w->has_exit_type && w->exit_type == 0 && w->pid == 3,
		   "worker: type, exit type SYSTEM_ERROR (0) present, pid");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_PLACEMENT_GROUPS,
				"{\"placement_group_id\": \"0102\", \"state\": \"PREPARED\", \"bundles\": [{\"bundle_id\":"
				" {\"placement_group_id\": \"0102\", \"bundle_index\": 1}, \"unit_resources\": {\"CPU\": 2},"
				" \"node_id\": null}]}", "2.49.2", RAY_OK, NULL);
	if (r)
	{
		const RayPlacementGroupView *g = r->rows[0];

		ok(g->n_bundles == 1 && g->bundles[0]->bundle_id->bundle_index == 1 && !g->bundles[0]->has_node_id &&
		   strcmp(ray_pg_state_name(&r->version, g->state), "PREPARED") == 0,
		   "placement group: PREPARED by 2.49's numbering, its bundle");
		ray_cluster_reply_free(r);
	}
	/* Odd values in the other routes: that field absent, counted, never a failed scan. */
	r = cluster(RAY_RESOURCE_ACTORS, "{\"actor_id\": \"00\", \"state\": \"NAPPING\", \"pid\": 5}", "2.49.2",
				RAY_OK, "row 1: \"state\" has an unknown value \"NAPPING\"");
	if (r)
	{
		const Ray__Rpc__ActorTableData *a = r->rows[0];

		ok(!a->has_state && a->pid == 5, "actor: unknown state name absent, pid read");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_NODES, "{\"node_id\": \"00\", \"resources_total\": {\"CPU\": \"x\", \"GPU\": \"2\"}}",
				"2.49.2", RAY_OK, "resources_total[\"CPU\"] has the wrong type");
	if (r)
	{
		const Ray__Rpc__GcsNodeInfo *n = r->rows[0];

		ok(n->n_resources_total == 1 && strcmp(n->resources_total[0]->key, "GPU") == 0 &&
		   n->resources_total[0]->value == 2.0, "node: the odd entry left out, \"2\" read as 2");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_PLACEMENT_GROUPS, "{\"placement_group_id\": \"01\", \"bundles\": [3, {\"node_id\": \"02\"}]}",
				"2.49.2", RAY_OK, "bundles[0] is not an object");
	if (r)
	{
		const RayPlacementGroupView *g = r->rows[0];

		ok(g->n_bundles == 1 && g->bundles[0]->has_node_id, "placement group: the odd bundle left out");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_PLACEMENT_GROUPS, "{\"placement_group_id\": \"01\", \"bundles\": [{\"bundle_id\": \"01_0\","
				" \"unit_resources\": {\"CPU\": 1}}]}", "2.49.2", RAY_OK, "\"bundle_id\" is not an object: \"01_0\"");
	if (r)
	{
		const RayPlacementGroupView *g = r->rows[0];

		ok(g->n_bundles == 1 && g->bundles[0]->bundle_id == NULL && g->bundles[0]->n_unit_resources == 1,
		   "placement group: a bundle_id string leaves the bundle without its id");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_JOBS, "{\"job_id\": \"01000000\", \"driver_info\": {\"pid\": \"x\", \"node_ip_address\": \"h\"}}",
				"2.49.2", RAY_OK, "\"pid\" is not an integer");
	if (r)
	{
		const Ray__Rpc__JobTableData *j = r->rows[0];

		ok(!j->has_driver_pid && strcmp(j->driver_ip_address, "h") == 0, "job: pid absent, address read");
		ray_cluster_reply_free(r);
	}
	{
		/* The odd cell names the catalog column it stands for. */
		char	   *doc = envelope("{\"node_id\": \"00\"}, {\"node_id\": \"01\", \"state_message\": 5, \"start_time_ms\": \"x\"}", "");
		RayVersion	v;
		uint8_t    *pb = NULL;
		size_t		pblen;
		RayStateCounters k;
		char		err[128];

		ray_version_parse("2.49.2", &v);
		is_int(ray_state_json_cluster(RAY_RESOURCE_NODES, doc, strlen(doc), &v, NULL, &pb, &pblen, &k, err, sizeof(err)),
			   RAY_OK, "nodes with odd values convert");
		ok(k.nodd == 2 && ray_state_json_cell_is_odd(&k, RAY_RESOURCE_NODES, 1, "death_reason") &&
		   ray_state_json_cell_is_odd(&k, RAY_RESOURCE_NODES, 1, "death_reason_message") &&
		   ray_state_json_cell_is_odd(&k, RAY_RESOURCE_NODES, 1, "start_time") &&
		   !ray_state_json_cell_is_odd(&k, RAY_RESOURCE_NODES, 1, "end_time") &&
		   !ray_state_json_cell_is_odd(&k, RAY_RESOURCE_NODES, 0, "start_time"),
		   "state_message stands for death_reason and its message, start_time_ms for start_time");
		ray_state_json_free_cells(&k);
		free(pb);
		free(doc);
	}
	ray_cluster_reply_free(cluster(RAY_RESOURCE_WORKERS, "{\"worker_id\": \"00\", \"exit_type\": \"GONE\"}", "2.49.2", RAY_OK,
				   "\"exit_type\" has an unknown value \"GONE\""));
	ray_cluster_reply_free(cluster(RAY_RESOURCE_NODES, "{\"node_id\": \"00\", \"start_time_ms\": -5}", "2.49.2", RAY_OK,
				   "\"start_time_ms\" is not an unsigned 64-bit integer: -5"));
	ray_cluster_reply_free(cluster(RAY_RESOURCE_ACTORS, "{\"actor_id\": \"00\", \"num_restarts\": \"-1\"}", "2.49.2", RAY_OK,
				   "\"num_restarts\" is not an unsigned 64-bit integer: \"-1\""));
	/* proto3 forms: uint64/int64 as strings (exact past 2^53), enums as numbers. */
	r = cluster(RAY_RESOURCE_ACTORS,
				"{\"actor_id\": \"00\", \"state\": 2, \"num_restarts\": \"18446744073709551615\","
				" \"num_restarts_due_to_lineage_reconstruction\": \"9007199254740993\", \"pid\": \"70000\","
				" \"is_detached\": \"true\"}, {\"actor_id\": \"01\", \"state\": \"17\"}", "2.49.2", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__ActorTableData *a = r->rows[0];
		const Ray__Rpc__ActorTableData *b = r->rows[1];

		ok(a->state == 2 && a->num_restarts == UINT64_MAX && a->num_restarts_due_to_lineage_reconstruction ==
		   9007199254740993LL && a->pid == 70000 && a->is_detached, "actor: every integer as a string, exact");
		ok(b->has_state && b->state == 17, "actor: an unknown state number is kept");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_PLACEMENT_GROUPS,
				"{\"placement_group_id\": \"01\", \"state\": 2, \"bundles\": [{\"bundle_id\": {\"placement_group_id\": \"01\","
				" \"bundle_index\": \"3\"}, \"unit_resources\": {\"CPU\": \"0.5\"}}]}", "2.49.2", RAY_OK, NULL);
	if (r)
	{
		const RayPlacementGroupView *g = r->rows[0];

		ok(g->n_bundles == 1 && g->bundles[0]->bundle_id->bundle_index == 3 &&
		   g->bundles[0]->unit_resources[0]->value == 0.5 && strcmp(ray_pg_state_name(&r->version, g->state), "CREATED") == 0,
		   "placement group: bundle_index and a resource as strings, state as a number");
		ray_cluster_reply_free(r);
	}
	r = cluster(RAY_RESOURCE_WORKERS,
				"{\"worker_id\": \"00\", \"worker_type\": \"1\", \"exit_type\": 9, \"pid\": \"12\","
				" \"start_time_ms\": \"1700000000000\", \"end_time_ms\": \"0\"}", "2.49.2", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__WorkerTableData *w = r->rows[0];

		ok(w->worker_type == 1 && w->has_exit_type && w->exit_type == 9 && w->pid == 12 &&
		   w->start_time_ms == 1700000000000ULL && w->has_end_time_ms && w->end_time_ms == 0,
		   "worker: enums as numbers (one unknown), times as strings");
		ray_cluster_reply_free(r);
	}
	/* Node death: MessageToDict's death_info, and the GCS's health-check message. */
	r = cluster(RAY_RESOURCE_NODES,
				"{\"node_id\": \"00\", \"state\": 1, \"death_info\": {\"reason\": \"UNEXPECTED_TERMINATION\", \"reason_message\": \"m\"}},"
				" {\"node_id\": \"01\", \"state\": \"DEAD\", \"death_info\": {\"reason\": 4}},"
				" {\"node_id\": \"02\", \"state\": \"DEAD\", \"state_message\": \"health check failed due to missing too many heartbeats\"}",
				"2.49.2", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__GcsNodeInfo *const *n = (const Ray__Rpc__GcsNodeInfo *const *) r->rows;

		ok(n[0]->state == 1 && n[0]->death_info && n[0]->death_info->reason == 2 &&
		   strcmp(n[0]->death_info->reason_message, "m") == 0, "node: death_info by name");
		ok(n[1]->death_info && n[1]->death_info->reason == 4 && n[1]->death_info->reason_message == NULL,
		   "node: death_info reason as a number");
		ok(n[2]->death_info && n[2]->death_info->reason == 2 &&
		   strcmp(n[2]->death_info->reason_message, "health check failed due to missing too many heartbeats") == 0,
		   "node: the GCS's health-check message is UNEXPECTED_TERMINATION (InferDeathInfo)");
		ray_cluster_reply_free(r);
	}
	/* Jobs keep message, metadata and driver_exit_code wherever they are. */
	r = cluster(RAY_RESOURCE_JOBS,
				"{\"type\": \"DRIVER\", \"job_id\": \"01000000\", \"status\": \"SUCCEEDED\", \"message\": \"bye\","
				" \"metadata\": {\"team\": \"ml\"}, \"driver_exit_code\": \"3\", \"start_time\": \"5\"},"
				" {\"job_id\": \"02000000\", \"submission_id\": \"raysubmit_1\", \"status\": \"FAILED\","
				" \"message\": \"Job failed\", \"driver_exit_code\": 1, \"metadata\": {}},"
				" {\"type\": \"DRIVER\", \"job_id\": \"03000000\", \"status\": \"RUNNING\", \"metadata\": {}}",
				"2.49.2", RAY_OK, NULL);
	if (r)
	{
		const Ray__Rpc__JobTableData *const *j = (const Ray__Rpc__JobTableData *const *) r->rows;

		ok(j[0]->job_info && j[0]->job_info->status == NULL && strcmp(j[0]->job_info->message, "bye") == 0 &&
		   j[0]->job_info->n_metadata == 1 && j[0]->job_info->driver_exit_code == 3 && j[0]->start_time == 5,
		   "driver job: message, metadata, exit code kept; no submission status");
		ok(j[1]->job_info && strcmp(j[1]->job_info->status, "FAILED") == 0 && j[1]->is_dead &&
		   strcmp(j[1]->job_info->message, "Job failed") == 0 && j[1]->job_info->driver_exit_code == 1,
		   "a submission_id without a type is a submission job");
		ok(j[2]->job_info == NULL, "a driver job with nothing of a submission has no job_info");
		ray_cluster_reply_free(r);
	}
	{
		char	   *doc = envelope("{\"job_id\": \"01000000\"}, {\"job_id\": null}, {\"job_id\": \"02000000\"},"
								   " {\"job_id\": \"01000000\"}, 5, {\"job_id\": \"\"}", "");
		char	  **ids;
		size_t		n;
		char		err[128];

		is_int(ray_state_json_row_strings(doc, strlen(doc), "job_id", &ids, &n, err, sizeof(err)), RAY_OK,
			   "job ids of a jobs list");
		ok(n == 2 && strcmp(ids[0], "01000000") == 0 && strcmp(ids[1], "02000000") == 0,
		   "distinct, non-empty, in order");
		ray_state_json_free_strings(ids, n);
		is_int(ray_state_json_row_strings("[", 1, "job_id", &ids, &n, err, sizeof(err)), RAY_ERR_MALFORMED,
			   "a bad jobs list is an error");
		free(doc);
	}
	{
		const char *actors = "{\"result\": true, \"data\": {\"result\": {\"result\": ["
			"{\"actor_id\": \"bb\", \"repr_name\": \"B(2)\"}, {\"actor_id\": \"aa\", \"repr_name\": \"A(1)\"},"
			" {\"actor_id\": \"cc\", \"repr_name\": \"\"}]}}}";
		char	   *doc = envelope("{\"task_id\": \"00\", \"type\": \"ACTOR_TASK\", \"actor_id\": \"aa\", \"name\": \"x\"},"
								   " {\"task_id\": \"01\", \"type\": \"ACTOR_TASK\", \"actor_id\": \"cc\", \"name\": \"C(3).f\","
								   " \"func_or_class_name\": \"C.f\"},"
								   " {\"task_id\": \"02\", \"type\": \"ACTOR_CREATION_TASK\", \"actor_id\": \"bb\"}", "");
		RayStateReprs *reprs;
		char		err[128];
		RayVersion	v;
		uint8_t    *pb;
		size_t		pblen;
		RayStateCounters k;
		RayTaskReply *r;

		ray_version_parse("2.49.2", &v);
		is_int(ray_state_json_actor_reprs(actors, strlen(actors), &reprs, err, sizeof(err)), RAY_OK,
			   "actor repr_names read");
		if (is_int(ray_state_json_tasks(doc, strlen(doc), &v, reprs, NULL, &pb, &pblen, &k, err, sizeof(err)),
				   RAY_OK, "tasks with the actors' repr_names")
			&& ray_task_reply_decode(pb, pblen, &v, NULL, &r, err, sizeof(err)) == RAY_OK)
		{
			ok(r->rows[0].su->actor_repr_name && strcmp(r->rows[0].su->actor_repr_name, "A(1)") == 0,
			   "an actor task gets its actor's repr_name");
			ok(r->rows[1].su->actor_repr_name == NULL, "an actor without one gives none, even if the name looks renamed");
			ok(r->rows[2].su->actor_repr_name == NULL, "a creation task gets none");
			ray_task_reply_free(r);
			free(pb);
		}
		ray_state_json_free_reprs(reprs);
		free(doc);
	}
}

int
main(void)
{
	test_full_row("2.9.3");
	test_full_row("2.35.0");
	test_full_row("2.40.0");
	test_full_row("2.49.2");
	test_full_row("3.0.0.dev0");
	test_profile_times();
	test_envelopes();
	test_bad_input();
	test_proto3_forms();
	test_odd_values();
	test_cluster();
	return tap_done();
}
