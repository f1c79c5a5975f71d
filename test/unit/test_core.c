/*
 * test_core.c
 *		The decoding core's edge cases: malformed and hostile input, values
 *		and fields this build does not know, and the text helpers.
 */
#include <math.h>

#include "ray_buf.h"
#include "ray_enums.h"
#include "ray_tasks.h"
#include "tap.h"
#include "testutil.h"
#include "keys_compare.h"

#define JV(lit, depth) ray_json_valid(lit, sizeof(lit) - 1, depth)

static RayVersion
ver(const char *s)
{
	RayVersion	v = {0, 0, 0};

	ray_version_parse(s, &v);
	return v;
}

static void
test_versions(void)
{
	RayVersion	v;

	ok(ray_version_parse("2.9.3", &v) && v.major == 2 && v.minor == 9 && v.patch == 3, "parse 2.9.3");
	ok(ray_version_parse("3.0.0.dev0", &v) && v.major == 3 && v.minor == 0, "parse 3.0.0.dev0");
	ok(ray_version_parse("2.49", &v) && v.minor == 49 && v.patch == 0, "parse 2.49");
	ok(ray_version_parse("2.40.0rc1", &v) && v.minor == 40, "parse 2.40.0rc1");
	ok(!ray_version_parse("", &v), "empty is not a version");
	ok(!ray_version_parse("banana", &v), "banana is not a version");
	ok(!ray_version_parse("2", &v), "2 is not a version");
	ok(!ray_version_parse("2.x", &v), "2.x is not a version");
	ok(!ray_version_parse("99999999999.1", &v), "overflowing component refused");

	v = ver("2.38.0");
	ok(!ray_version_new_task_status(&v), "2.38 has the old TaskStatus numbers");
	v = ver("2.39.0");
	ok(ray_version_new_task_status(&v), "2.39 has the new TaskStatus numbers");
	v = ver("2.40.0");
	ok(ray_version_filter_layout(&v) == RAY_FILTERS_SCALAR, "2.40 uses scalar filters");
	v = ver("2.41.0");
	ok(ray_version_filter_layout(&v) == RAY_FILTERS_PREDICATE, "2.41 uses predicate filters");
	v = ver("3.0.0.dev0");
	ok(ray_version_filter_layout(&v) == RAY_FILTERS_PREDICATE, "master uses predicate filters");
}

/* The fact table: one row per fact, in order, and each fact's boundary. */
static void
test_version_facts(void)
{
	char		since[16];

	for (int f = 0; f < RAY_FACT_COUNT; f++)
	{
		const RayFactInfo *info = ray_fact_info((RayFact) f);
		RayVersion	at,
					before;

		if (!ok(info != NULL && info->fact == (RayFact) f && info->name && info->what && info->source,
				"fact %d has its row", f))
			continue;
		at = (RayVersion) {info->major, info->minor, 0};
		before = (RayVersion) {info->major, info->minor - 1, 99};
		ok(ray_version_has(&at, info->fact) && !ray_version_has(&before, info->fact),
		   "%s: from %d.%d on, not before", info->name, info->major, info->minor);
	}
	ok(ray_fact_info(RAY_FACT_COUNT) == NULL, "no row past the table");
	ok(strcmp(ray_fact_since(RAY_FACT_SUPPORTED, since, sizeof(since)), "2.9") == 0,
	   "raydar reads Ray 2.9 and later");
	ok(strcmp(ray_fact_since(RAY_FACT_PREDICATE_FILTERS, since, sizeof(since)), "2.41") == 0,
	   "predicate filters since 2.41");
}

static void
test_enums(void)
{
	RayVersion	old = ver("2.35.0"),
				new = ver("2.40.0");
	char		buf[RAY_ENUM_NAME_MAX];

	ok(strcmp(ray_task_status_name(&old, 6), "RUNNING") == 0, "2.35: 6 is RUNNING");
	ok(strcmp(ray_task_status_name(&new, 6), "PENDING_ACTOR_TASK_ARGS_FETCH") == 0,
	   "2.40: 6 is PENDING_ACTOR_TASK_ARGS_FETCH");
	ok(strcmp(ray_task_status_name(&new, 12), "FAILED") == 0, "2.40: 12 is FAILED");
	ok(ray_task_status_name(&old, 12) == NULL, "2.35: 12 is unknown");
	ok(strcmp(ray_enum_text(ray_task_status_name(&old, 12), 12, buf), "12") == 0,
	   "unknown state shows as its number");
	ok(strcmp(ray_enum_text(ray_error_type_name(-3), -3, buf), "-3") == 0,
	   "negative error type shows as its number");
	ok(strcmp(ray_error_type_name(32), "OBJECT_UNRECONSTRUCTABLE_LINEAGE_DISABLED") == 0,
	   "error type 32 (master, 2026) is known");
	ok(ray_error_type_name(33) == NULL, "error type 33 is unknown");
	{
		RayVersion	v249 = ver("2.49.2"),
					v250 = ver("2.50.0"),
					v258 = ver("2.58.0"),
					vm = ver("3.0.0.dev0");

		ok(strcmp(ray_error_type_name_v(&v249, 2), "OBJECT_UNRECONSTRUCTABLE") == 0 &&
		   ray_error_type_name_v(&v249, 27) == NULL, "2.49: 2 is declared, 27 is not");
		ok(ray_error_type_name_v(&v250, 2) == NULL && ray_error_type_name_v(&v258, 2) == NULL &&
		   ray_error_type_name_v(&vm, 2) == NULL, "2.50, 2.58, master: 2 is no longer declared");
		ok(strcmp(ray_error_type_name_v(&v258, 27), "OBJECT_UNRECONSTRUCTABLE_PUT") == 0 &&
		   strcmp(ray_error_type_name_v(&v258, 32), "OBJECT_UNRECONSTRUCTABLE_LINEAGE_DISABLED") == 0 &&
		   strcmp(ray_error_type_name_v(&v258, 3), "TASK_EXECUTION_EXCEPTION") == 0,
		   "2.58: 27..32 and the old ones are declared");
		ok(strcmp(ray_task_status_name(&v258, 13), "GETTING_AND_PINNING_ARGS") == 0 &&
		   strcmp(ray_task_status_name(&v258, 12), "FAILED") == 0, "2.58: 13 is GETTING_AND_PINNING_ARGS, declared after FAILED");
	}
	is_int(ray_task_status_from_name(&old, "finished"), 9, "2.35: 'finished' is 9 (any case)");
	is_int(ray_task_status_from_name(&new, "FINISHED"), 11, "2.40: FINISHED is 11");
	is_int(ray_task_status_from_name(&new, "NOPE"), -1, "unknown state name is -1");
}

static void
test_time(void)
{
	/* Expected values computed by CPython: int(ns // 1e6). */
	is_int(ray_ns_to_ms_floor(1793534400632288614LL), 1793534400632LL, "floor ms");
	is_int(ray_ns_to_ms_floor(1793534400632999999LL), 1793534400632LL, "floor ms below a boundary");
	is_int(ray_ns_to_ms_floor(1793534400999999990LL), 1793534401000LL,
		   "float rounding carries to the next ms, as in Python");
	is_int(ray_ns_to_ms_floor(999999), 0, "sub-ms");
	is_int(ray_ns_to_ms_floor(-1), -1, "negative floors down");
	is_int(ray_ns_to_ms_floor(-1000001), -2, "negative floors down past a boundary");
	ok(ray_ns_to_ms(1793534400632288614LL) == 1793534400632.2886, "profile ms as float");
}

static void
check_json_double(double d, const char *want)
{
	RayBuf		b;

	ray_buf_init(&b, NULL);
	ray_buf_json_double(&b, d);
	ok(strcmp(b.data, want) == 0, "double %s prints as %s (got %s)", want, want, b.data);
	ray_buf_free(&b);
}

static void
test_text(void)
{
	RayBuf		b;

	ray_buf_init(&b, NULL);
	ray_buf_strip_ansi(&b, "\x1b[36mray::f()\x1b[39m (pid=1)", strlen("\x1b[36mray::f()\x1b[39m (pid=1)"));
	ok(strcmp(b.data, "ray::f() (pid=1)") == 0, "ANSI colour codes stripped");
	ray_buf_reset(&b);
	ray_buf_strip_ansi(&b, "a\x1b[1;31;42mb\x1b[0mc", strlen("a\x1b[1;31;42mb\x1b[0mc"));
	ok(strcmp(b.data, "abc") == 0, "multi-parameter codes stripped");
	ray_buf_reset(&b);
	ray_buf_strip_ansi(&b, "x\x1b[2Ky", 6);
	ok(strcmp(b.data, "x\x1b[2Ky") == 0, "ESC with no later m kept, as Ray's regex does");
	ray_buf_reset(&b);
	ray_buf_strip_ansi(&b, "\x1b[", 2);
	ok(b.len == 2, "lone ESC[ kept");

	ray_buf_reset(&b);
	ray_buf_json_string(&b, "a\"b\\c\n\x01", 7);
	ok(strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001\"") == 0, "JSON escapes");
	ray_buf_reset(&b);
	ray_buf_json_string(&b, "ok\xff\xfe" "x\0y", 7);
	ok(strcmp(b.data, "\"ok\\ufffd\\ufffdx\\ufffdy\"") == 0, "invalid UTF-8 and NUL become U+FFFD");
	ok(ray_json_valid(b.data, b.len, 8), "escaped output is valid JSON");
	ray_buf_reset(&b);
	ray_buf_json_string(&b, "训练 ✓", strlen("训练 ✓"));
	ok(strcmp(b.data, "\"训练 ✓\"") == 0, "valid UTF-8 passes through");
	ray_buf_reset(&b);
	ray_buf_hex(&b, (const uint8_t *) "\x01\xab\xff", 3);
	ok(strcmp(b.data, "01abff") == 0, "lowercase hex");
	ray_buf_free(&b);

	check_json_double(1.0, "1");
	check_json_double(0.5, "0.5");
	check_json_double(4294967296.0, "4294967296");
	check_json_double(0.1, "0.1");
	check_json_double(1793534400639.98, "1793534400639.98");
	check_json_double(1.0 / 3.0, "0.3333333333333333");
	check_json_double(NAN, "null");
	check_json_double(2.74306e+303, "2.74306e+303");
	check_json_double(-1e300, "-1e+300");
	check_json_double(1e15, "1e+15");
	check_json_double(-0.0, "-0");

	ok(JV("{}", 8), "{} valid");
	ok(JV(" {\"a\": [1, 2.5e3, -0, true, null, \"x\"]} ", 8), "nested valid");
	ok(!JV("{\"a\":1,}", 8), "trailing comma invalid");
	ok(!JV("[1,]", 8), "trailing comma in array invalid");
	ok(!JV("{\"a\" 1}", 8), "missing colon invalid");
	ok(!JV("01", 8), "leading zero invalid");
	ok(!JV("\"\\u0000\"", 8), "\\u0000 refused (jsonb cannot hold it)");
	ok(!JV("\"\\ud800\"", 8), "lone surrogate refused");
	ok(JV("\"\\ud83d\\ude00\"", 8), "surrogate pair accepted");
	ok(!JV("[[[[[[[[[1]]]]]]]]]", 8), "nesting deeper than the limit refused");
	ok(!JV("1e99999", 8), "huge exponent refused");
	ok(!JV("", 8), "empty refused");
	ok(!JV("{} {}", 8), "two values refused");
	ok(!JV("\"a\xff\"", 8), "invalid UTF-8 in string refused");
	ok(ray_utf8_valid("héllo", strlen("héllo")), "UTF-8 valid");
	{
		RayBuf		u;

		ray_buf_init(&u, NULL);
		ray_buf_utf8_sanitize(&u, "a\xff" "b\0c\xe8\xae", 7);
		ok(strcmp(u.data, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd") == 0 &&
		   ray_utf8_valid(u.data, u.len), "invalid bytes, NUL and a cut sequence become U+FFFD");
		ray_buf_free(&u);
	}
	ok(!ray_utf8_valid("\xc0\xaf", 2), "overlong UTF-8 invalid");
	{
		/* The eight-bytes-at-a-time path: a NUL, a bad byte or a valid
		 * sequence at every offset of a long ASCII string, and its ends. */
		char		s[40];
		bool		nul_ok = true,
					bad_ok = true,
					seq_ok = true;

		for (int at = 0; at < 38; at++)
		{
			memset(s, 'a', sizeof(s));
			s[at] = '\0';
			nul_ok &= !ray_utf8_valid(s, sizeof(s));
			s[at] = (char) 0xff;
			bad_ok &= !ray_utf8_valid(s, sizeof(s));
			s[at] = (char) 0xc3;
			s[at + 1] = (char) 0xa9;	/* é */
			seq_ok &= ray_utf8_valid(s, sizeof(s));
			s[at + 1] = 'a';			/* cut: invalid */
			seq_ok &= !ray_utf8_valid(s, sizeof(s));
		}
		ok(nul_ok, "a NUL at any offset of a long ASCII string is invalid");
		ok(bad_ok, "a bad byte at any offset is invalid");
		ok(seq_ok, "a two-byte sequence at any offset is valid, cut invalid");
		memset(s, 'a', sizeof(s));
		ok(ray_utf8_valid(s, sizeof(s)) && ray_utf8_valid(s, 7) && ray_utf8_valid(s, 9) &&
		   ray_utf8_valid(s, 0), "long, short and empty ASCII strings are valid");
	}
	ok(!ray_utf8_valid("\xed\xa0\x80", 3), "encoded surrogate invalid");
}

/* Pack a reply built in code. */
static uint8_t *
pack_reply(Ray__Rpc__GetTaskEventsReply *m, size_t *len)
{
	uint8_t    *buf = malloc(ray__rpc__get_task_events_reply__get_packed_size(m) + 1);

	*len = ray__rpc__get_task_events_reply__pack(m, buf);
	return buf;
}

static void
test_unknowns(void)
{
	Ray__Rpc__GetTaskEventsReply reply = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	Ray__Rpc__TaskEvents ev = RAY__RPC__TASK_EVENTS__INIT;
	Ray__Rpc__TaskEvents *evp = &ev;
	Ray__Rpc__TaskInfoEntry info = RAY__RPC__TASK_INFO_ENTRY__INIT;
	Ray__Rpc__TaskStateUpdate su = RAY__RPC__TASK_STATE_UPDATE__INIT;
	Ray__Rpc__RayErrorInfo ei = RAY__RPC__RAY_ERROR_INFO__INIT;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry e1 = RAY__RPC__TASK_STATE_UPDATE__STATE_TS_NS_ENTRY__INIT;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry e2 = RAY__RPC__TASK_STATE_UPDATE__STATE_TS_NS_ENTRY__INIT;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry *ents[2] = {&e1, &e2};
	uint8_t		tid[24] = {1};
	uint8_t    *buf;
	uint8_t    *ext;
	size_t		len;
	RayTaskReply *r;
	char		err[256];
	char		nb[RAY_ENUM_NAME_MAX];
	RayVersion	v = ver("2.49.2");
	RayBuf		b;

	ev.has_task_id = true;
	ev.task_id.data = tid;
	ev.task_id.len = 24;
	ev.task_info = &info;
	ev.state_updates = &su;
	info.has_type = true;
	info.type = 7;				/* a TaskType from the future */
	info.has_language = true;
	info.language = 9;
	info.name = "future";
	su.n_state_ts_ns = 2;
	su.state_ts_ns = ents;
	e1.has_key = e1.has_value = true;
	e1.key = 12;				/* FAILED */
	e1.value = 2000000000;
	e2.has_key = e2.has_value = true;
	e2.key = 40;				/* a state from the future, numbered above FAILED */
	e2.value = 3000000000;
	su.error_info = &ei;
	ei.has_error_type = true;
	ei.error_type = 99;
	ei.error_message = "boom";
	reply.n_events_by_task = 1;
	reply.events_by_task = &evp;

	buf = pack_reply(&reply, &len);
	ok(ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err)) == RAY_OK,
	   "reply with unknown enum values decodes");
	ok(strcmp(ray_task_state_text(r, &r->rows[0], nb), "40") == 0, "unknown highest state shows as 40");
	ok(strcmp(ray_task_type_text(&r->rows[0], nb), "7") == 0, "unknown task type shows as 7");
	ok(strcmp(ray_task_language_text(&r->rows[0], nb), "9") == 0, "unknown language shows as 9");
	ok(ray_task_error_type_text(r, &r->rows[0], nb) == NULL,
	   "error hidden: the state is not FAILED, as in Ray");
	ok(r->rows[0].has_end_ms && r->rows[0].end_ms == 2000, "end time from FAILED");
	ray_buf_init(&b, NULL);
	ray_task_json_events(r, &r->rows[0], &b);
	ok(strcmp(b.data, "[{\"state\": \"FAILED\", \"created_ms\": 2000}, "
			  "{\"state\": \"40\", \"created_ms\": 3000}]") == 0,
	   "events list unknown states by number, in number order (%s)", b.data);
	ray_buf_free(&b);
	ray_task_reply_free(r);

	/* Without the unknown state the attempt is FAILED; unknown error type by number. */
	su.n_state_ts_ns = 1;
	free(buf);
	buf = pack_reply(&reply, &len);
	ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err));
	ok(strcmp(ray_task_error_type_text(r, &r->rows[0], nb), "99") == 0, "unknown error type shows as 99");
	ok(strcmp(r->rows[0].error_message, "boom") == 0, "error message shown when FAILED");
	ray_task_reply_free(r);

	/* An error_info without a message: Ray shows "" (proto3), not null. */
	ei.error_message = NULL;
	free(buf);
	buf = pack_reply(&reply, &len);
	ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err));
	ok(r->rows[0].error_message != NULL && r->rows[0].error_message[0] == '\0',
	   "error_info without a message shows an empty message when FAILED");
	ok(strcmp(ray_task_error_type_text(r, &r->rows[0], nb), "99") == 0, "and its error type");
	ray_task_reply_free(r);
	ei.error_message = "boom";

	/*
	 * Unknown fields: append field 99 (varint) and field 100 (bytes) to the
	 * reply, and field 77 inside the TaskEvents; rows must be unchanged.
	 */
	ext = malloc(len + 16);
	memcpy(ext, buf, len);
	ext[len] = 0x98;			/* field 99, varint: tag = 99<<3|0 = 792 */
	ext[len + 1] = 0x06;
	ext[len + 2] = 0x2a;
	ext[len + 3] = 0xa2;		/* field 100, bytes: tag = 802 */
	ext[len + 4] = 0x06;
	ext[len + 5] = 0x02;
	ext[len + 6] = 'h';
	ext[len + 7] = 'i';
	ok(ray_task_reply_decode(ext, len + 8, &v, NULL, &r, err, sizeof(err)) == RAY_OK &&
	   r->nrows == 1 && strcmp(r->rows[0].name, "future") == 0,
	   "unknown top-level fields are skipped");
	if (r)
		ray_task_reply_free(r);
	free(ext);
	free(buf);
}

static void
test_malformed(void)
{
	for (int p = 0; p < NPROFILES; p++)
	{
		size_t		len;
		uint8_t    *buf = read_vector(PROFILES[p], "get_task_events_reply.bin", &len);
		RayVersion	v;
		char		vt[64];
		char		err[256];
		RayTaskReply *r;
		int			errors = 0,
					decoded = 0,
					fewer = 0;
		size_t		full_rows;

		if (!ok(buf && profile_version(PROFILES[p], &v, vt, sizeof(vt)), "%s: vector readable", PROFILES[p]))
			continue;
		ray_task_reply_decode(buf, len, &v, NULL, &r, err, sizeof(err));
		full_rows = r->nrows;
		ray_task_reply_free(r);

		/*
		 * Cut the reply at every length. A protobuf cut between two
		 * top-level fields is itself valid (with fewer rows); any other cut
		 * must be an error. Either way: no crash, no leak (ASan checks).
		 */
		for (size_t cut = 0; cut < len; cut++)
		{
			uint8_t    *copy = malloc(cut ? cut : 1);

			memcpy(copy, buf, cut);
			if (ray_task_reply_decode(copy, cut, &v, NULL, &r, err, sizeof(err)) == RAY_OK)
			{
				decoded++;
				if (r->nrows <= full_rows)
					fewer++;
				ray_task_reply_free(r);
			}
			else
				errors++;
			free(copy);
		}
		ok(errors > 0 && fewer == decoded, "%s: %zu truncations: %d errors, %d valid prefixes, none crashed",
		   PROFILES[p], len, errors, decoded);
		{
			uint8_t    *copy = malloc(len);

			memcpy(copy, buf, len - 1);
			ok(ray_task_reply_decode(copy, len - 1, &v, NULL, &r, err, sizeof(err)) == RAY_ERR_MALFORMED,
			   "%s: cut inside the last field is an error: %s", PROFILES[p], err);
			free(copy);
		}

		/* Every single-byte corruption: no crash. */
		{
			uint8_t    *copy = malloc(len);
			int			bad = 0;

			for (size_t i = 0; i < len; i += 7)
			{
				memcpy(copy, buf, len);
				copy[i] ^= 0xff;
				if (ray_task_reply_decode(copy, len, &v, NULL, &r, err, sizeof(err)) == RAY_OK)
					ray_task_reply_free(r);
				else
					bad++;
			}
			ok(bad > 0, "%s: byte flips survive (%d of %zu refused)", PROFILES[p], bad, (len + 6) / 7);
			free(copy);
		}
		free(buf);
	}

	{
		RayVersion	v = ver("2.49.2");
		RayTaskReply *r;
		char		err[256];
		/* events_by_task(2), length 100, only 2 bytes follow */
		const uint8_t oversized[] = {0x12, 0x64, 0x0a, 0x00};
		/* field 2 declared as varint: wrong wire type for a message */
		const uint8_t wrongtype[] = {0x10, 0x01};
		/* an unterminated varint */
		const uint8_t badvarint[] = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
		uint8_t		garbage[4096];
		unsigned	seed = 12345;
		int			crashes_avoided = 0;

		ok(ray_task_reply_decode(oversized, sizeof(oversized), &v, NULL, &r, err, sizeof(err)) == RAY_ERR_MALFORMED,
		   "length prefix beyond the buffer is an error");
		ok(ray_task_reply_decode(wrongtype, sizeof(wrongtype), &v, NULL, &r, err, sizeof(err)) == RAY_ERR_MALFORMED,
		   "wrong wire type is an error");
		ok(ray_task_reply_decode(badvarint, sizeof(badvarint), &v, NULL, &r, err, sizeof(err)) == RAY_ERR_MALFORMED,
		   "overlong varint is an error");
		ok(ray_task_reply_decode(garbage, RAY_MAX_MESSAGE_SIZE + 1, &v, NULL, &r, err, sizeof(err)) == RAY_ERR_TOO_LARGE,
		   "a reply over 512 MiB is refused before it is read: %s", err);
		for (int i = 0; i < 2000; i++)
		{
			size_t		n = (size_t) (rand_r(&seed) % sizeof(garbage));

			for (size_t k = 0; k < n; k++)
				garbage[k] = (uint8_t) rand_r(&seed);
			if (ray_task_reply_decode(garbage, n, &v, NULL, &r, err, sizeof(err)) == RAY_OK)
				ray_task_reply_free(r);
			crashes_avoided++;
		}
		is_int(crashes_avoided, 2000, "2000 random buffers decoded or refused without a crash");
		ok(ray_task_reply_decode(NULL, 0, &v, NULL, &r, err, sizeof(err)) == RAY_OK && r->nrows == 0,
		   "empty reply decodes to no rows");
		ray_task_reply_free(r);
	}
}

/* The keys-only path equals the full decoder on every vector. */
static int
same_keys(const RayTaskReply *a, const RayTaskReply *b)
{
	if (a->nrows != b->nrows || a->status_code != b->status_code ||
		a->num_status_task_events_dropped != b->num_status_task_events_dropped ||
		a->num_profile_task_events_dropped != b->num_profile_task_events_dropped ||
		a->num_total_stored != b->num_total_stored || a->num_truncated != b->num_truncated ||
		a->num_filtered_on_gcs != b->num_filtered_on_gcs ||
		strcmp(a->status_message, b->status_message) != 0)
		return 0;
	for (size_t i = 0; i < a->nrows; i++)
		if (!same_key_row(&a->rows[i], &b->rows[i]))
			return 0;
	return 1;
}

static void
test_keys_path(void)
{
	static const char *const versions[] = {"2.9.3", "2.35.0", "2.40.0", "2.49.2", "3.0.0.dev0", "2.58.0"};

	for (int p = 0; p < NPROFILES; p++)
	{
		size_t		len;
		uint8_t    *buf = read_vector(PROFILES[p], "get_task_events_reply.bin", &len);
		int			agree = 0;
		char		err[256];

		if (buf == NULL)
			continue;
		/* Every version's reading of these bytes, not only the right one. */
		for (int k = 0; k < 6; k++)
		{
			RayVersion	v = ver(versions[k]);
			RayTaskReply *full,
					   *keys;

			if (ray_task_reply_decode(buf, len, &v, NULL, &full, err, sizeof(err)) == RAY_OK &&
				ray_task_reply_decode_keys(buf, len, &v, NULL, &keys, err, sizeof(err)) == RAY_OK)
			{
				agree += same_keys(full, keys);
				ray_task_reply_free(keys);
			}
			if (full)
				ray_task_reply_free(full);
		}
		is_int(agree, 6, "%s: keys-only decode equals the full decoder under every version", PROFILES[p]);
		{
			RayVersion	v = ver("2.49.2");
			RayTaskReply *keys;

			ok(ray_task_reply_decode_keys(buf, len - 1, &v, NULL, &keys, err, sizeof(err)) == RAY_ERR_MALFORMED,
			   "%s: keys-only decode refuses a reply cut inside a field", PROFILES[p]);
		}
		free(buf);
	}
}

/*
 * RayKnownAttemptFn for the tests: "knows" the attempts keys_compare.h's
 * id_is_odd picks, and counts what it was asked.
 */
typedef struct KnownLog
{
	size_t		asked;
	size_t		said_yes;
} KnownLog;

static bool
knows_odd(void *ctx, const uint8_t *task_id, size_t len, int32_t attempt, size_t entry_len)
{
	KnownLog   *log = ctx;
	bool		yes = id_is_odd(task_id, len);

	log->asked++;
	log->said_yes += yes;
	return yes;
}

/*
 * ray_task_reply_from_events derives the same rows from TaskEvents held in
 * memory as ray_task_reply_decode does from their bytes: every field of
 * every row of every profile, the derived ones (name, error) included.
 */
static bool
same_str(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

static void
test_from_events(void)
{
	for (int p = 0; p < NPROFILES; p++)
	{
		size_t		len;
		uint8_t    *buf = read_vector(PROFILES[p], "get_task_events_reply.bin", &len);
		RayVersion	v = ver("2.49.2");
		Ray__Rpc__GetTaskEventsReply *msg;
		RayTaskReply *wire = NULL,
				   *mem = NULL;
		char		err[256];
		size_t		same = 0;

		if (buf == NULL)
			continue;
		msg = ray__rpc__get_task_events_reply__unpack(NULL, len, buf);
		if (msg == NULL ||
			ray_task_reply_decode(buf, len, &v, NULL, &wire, err, sizeof(err)) != RAY_OK ||
			ray_task_reply_from_events(msg, &v, NULL, &mem, err, sizeof(err)) != RAY_OK)
		{
			ok(0, "%s: from_events: %s", PROFILES[p], err);
			continue;
		}
		for (size_t i = 0; i < wire->nrows && i < mem->nrows; i++)
		{
			const RayTaskRow *a = &wire->rows[i],
					   *b = &mem->rows[i];

			same += same_key_row(a, b) && same_id(a->parent_task_id, b->parent_task_id) &&
				same_id(a->actor_id, b->actor_id) && same_id(a->node_id, b->node_id) &&
				same_id(a->worker_id, b->worker_id) &&
				same_id(a->placement_group_id, b->placement_group_id) &&
				same_str(a->name, b->name) && a->has_error_type == b->has_error_type &&
				a->error_type == b->error_type && same_str(a->error_message, b->error_message) &&
				b->ev == msg->events_by_task[i];
		}
		ok(wire->nrows > 0 && mem->nrows == wire->nrows && same == wire->nrows &&
		   mem->num_total_stored == wire->num_total_stored &&
		   mem->num_status_task_events_dropped == wire->num_status_task_events_dropped,
		   "%s: rows from TaskEvents in memory equal rows from their bytes (%zu of %zu)",
		   PROFILES[p], same, wire->nrows);
		/* The caller keeps msg: freeing the reply must leave it intact. */
		ray_task_reply_free(mem);
		ok(msg->n_events_by_task == wire->nrows, "%s: the reply does not free the caller's events",
		   PROFILES[p]);
		ray_task_reply_free(wire);
		ray__rpc__get_task_events_reply__free_unpacked(msg, NULL);
		free(buf);
	}
}

static void
test_new_keys(void)
{
	for (int p = 0; p < NPROFILES; p++)
	{
		size_t		len;
		uint8_t    *buf = read_vector(PROFILES[p], "get_task_events_reply.bin", &len);
		RayVersion	v = ver("2.49.2");
		RayTaskReply *keys = NULL,
				   *fresh = NULL;
		KnownLog	log = {0, 0};
		char		err[256];

		if (buf == NULL)
			continue;
		if (ray_task_reply_decode_keys(buf, len, &v, NULL, &keys, err, sizeof(err)) != RAY_OK ||
			ray_task_reply_decode_new_keys(buf, len, &v, NULL, knows_odd, &log, &fresh,
										   err, sizeof(err)) != RAY_OK)
			ok(0, "%s: decode_new_keys: %s", PROFILES[p], err);
		else
		{
			ok(log.said_yes > 0 && log.said_yes < keys->nrows,
			   "%s: the test knows some attempts but not all (%zu of %zu)",
			   PROFILES[p], log.said_yes, keys->nrows);
			/* Asked once per attempt, and skipped exactly what it said it knew. */
			ok(log.asked == keys->nrows && fresh->nknown == log.said_yes &&
			   new_keys_agree(keys, fresh),
			   "%s: decode_new_keys skips exactly the known attempts and decodes the rest as keys-only does",
			   PROFILES[p]);
		}
		if (keys)
			ray_task_reply_free(keys);
		if (fresh)
			ray_task_reply_free(fresh);
		free(buf);
	}
}

static void
test_check_alive(void)
{
	char		vt[64];
	int32_t		code;
	char		err[256];
	const uint8_t no_version[] = {0x0a, 0x00};
	const uint8_t garbage[] = {0x12, 0x50, 'x'};

	is_int(ray_check_alive_reply_decode(no_version, sizeof(no_version), vt, sizeof(vt), &code, err, sizeof(err)),
		   RAY_ERR_MALFORMED, "CheckAliveReply without a version is refused");
	is_int(ray_check_alive_reply_decode(garbage, sizeof(garbage), vt, sizeof(vt), &code, err, sizeof(err)),
		   RAY_ERR_MALFORMED, "truncated CheckAliveReply is refused");

	{
		/* status {code: 34, message: "bad"}, no version: the GCS's error wins */
		const uint8_t failed[] = {0x0a, 0x07, 0x08, 0x22, 0x12, 0x03, 'b', 'a', 'd'};
		/* the same with a message that is not UTF-8 */
		const uint8_t failed_bin[] = {0x0a, 0x06, 0x08, 0x22, 0x12, 0x02, 0xff, 0xfe};

		is_int(ray_check_alive_reply_decode(failed, sizeof(failed), vt, sizeof(vt), &code, err, sizeof(err)),
			   RAY_ERR_RPC, "CheckAliveReply with a GcsStatus is the GCS's error");
		is_int(code, 34, "CheckAliveReply's status code is returned");
		ok(strcmp(err, "status 34: bad") == 0, "CheckAliveReply's status message is in err");
		is_int(ray_check_alive_reply_decode(failed_bin, sizeof(failed_bin), vt, sizeof(vt), &code, err, sizeof(err)),
			   RAY_ERR_RPC, "CheckAliveReply with a binary status message is the GCS's error");
		ok(strstr(err, "not valid UTF-8") != NULL, "a binary status message is not copied into err");
	}
}

int
main(void)
{
	test_versions();
	test_version_facts();
	test_enums();
	test_time();
	test_text();
	test_unknowns();
	test_malformed();
	test_keys_path();
	test_new_keys();
	test_from_events();
	test_check_alive();
	return tap_done();
}
