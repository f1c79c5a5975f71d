/*
 * test_parse_ahead.c
 *		Bodies parsed ahead in a thread (ray_parse_ahead.c) equal the same
 *		bodies parsed in the caller's thread, item by item and byte by byte,
 *		however the take meets the thread (not begun, being parsed, done);
 *		a take for another Ray version parses again; the caller's own
 *		parses while the thread parses are unchanged (cJSON's hooks and the
 *		enum version are per thread); drop and release free what they say.
 *		Bodies are varied: both key styles, states as names and numbers,
 *		unicode and escaped names of odd lengths, job events, rejected
 *		events, a body that is not JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_event_json.h"
#include "ray_parse_ahead.h"
#include "tap.h"

static RayVersion v258,
			v29;

static uint64_t rng = 88172645463325252ULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
b64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		o = 0;

	for (size_t i = 0; i < n; i += 3)
	{
		uint32_t	x = (uint32_t) in[i] << 16 | (uint32_t) (i + 1 < n ? in[i + 1] : 0) << 8 |
			(i + 2 < n ? in[i + 2] : 0);

		out[o++] = tab[x >> 18 & 63];
		out[o++] = tab[x >> 12 & 63];
		out[o++] = i + 1 < n ? tab[x >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[x & 63] : '=';
	}
	out[o] = '\0';
}

/* A name of 1 to 300 bytes: ASCII, two- and three-byte UTF-8, escapes. */
static void
varied_name(char *out)
{
	static const char *const parts[] = {"a", "Zz", "\\u00e9", "\\u4e2d", "\\\"", "\\\\", "\\n", "_", "名", "7"};
	size_t		len = 1 + next_rand() % 120;
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		const char *p = parts[next_rand() % (sizeof(parts) / sizeof(parts[0]))];

		memcpy(out + o, p, strlen(p));
		o += strlen(p);
	}
	out[o] = '\0';
}

/* Names whose numbers differ between Ray 2.9 and 2.58 (ray_enums.c). */
static const char *const later_states[] = {"RUNNING", "FINISHED", "FAILED", "RUNNING_IN_RAY_GET"};

/* One body of n events (body number k), into a malloc'd string. */
static char *
gen_body(int k, int n, size_t *len)
{
	bool		snake = k % 3 == 1;
	size_t		cap = (size_t) n * 4096 + 64;
	char	   *s = malloc(cap);
	size_t		o = 0;

#define K(camel, sn) (snake ? sn : camel)
	o += snprintf(s + o, cap - o, "[");
	for (int i = 0; i < n; i++)
	{
		uint8_t		eid[28],
					tid[24];
		char		eb[48],
					tb[40],
					name[1024];
		uint64_t	r = next_rand();
		int			attempt = (int) (r % 4);

		for (int j = 0; j < 28; j++)
			eid[j] = (uint8_t) next_rand();
		for (int j = 0; j < 24; j++)
			tid[j] = (uint8_t) (j < 8 ? next_rand() % 7 : (uint64_t) j);
		b64(eid, 28, eb);
		b64(tid, 24, tb);
		o += snprintf(s + o, cap - o, "%s", i ? ", " : "");
		switch (r >> 8 & 7)
		{
			case 0:
			case 1:
				varied_name(name);
				o += snprintf(s + o, cap - o,
							  "{\"%s\": \"%s\", \"%s\": \"TASK_DEFINITION_EVENT\", \"%s\": \"session_%d\","
							  " \"%s\": {\"%s\": \"%s\", \"%s\": %d, \"%s\": \"NORMAL_TASK\", \"language\": \"PYTHON\","
							  " \"%s\": \"%s\", \"%s\": {\"CPU\": %d.5}, \"%s\": \"AQAAAA==\"}}",
							  K("eventId", "event_id"), eb, K("eventType", "event_type"),
							  K("sessionName", "session_name"), k % 2,
							  K("taskDefinitionEvent", "task_definition_event"), K("taskId", "task_id"), tb,
							  K("taskAttempt", "task_attempt"), attempt, K("taskType", "task_type"),
							  K("taskName", "task_name"), name, K("requiredResources", "required_resources"),
							  (int) (r % 9), K("jobId", "job_id"));
				break;
			case 2:
			case 3:
			case 4:
				/* a state by name, then one by number (read per Ray version) */
				o += snprintf(s + o, cap - o,
							  "{\"%s\": \"%s\", \"%s\": \"TASK_LIFECYCLE_EVENT\", \"%s\": \"session_%d\","
							  " \"%s\": {\"%s\": \"%s\", \"%s\": \"%d\", \"%s\": ["
							  "{\"state\": %d, \"timestamp\": \"2026-03-0%dT10:00:%02d.%09dZ\"},"
							  " {\"state\": \"%s\", \"timestamp\": \"2026-03-01T10:01:00Z\"}]}}",
							  K("eventId", "event_id"), eb, K("eventType", "event_type"),
							  K("sessionName", "session_name"), k % 2,
							  K("taskLifecycleEvent", "task_lifecycle_event"), K("taskId", "task_id"), tb,
							  K("taskAttempt", "task_attempt"), attempt,
							  K("stateTransitions", "state_transitions"), 1 + (int) (r >> 24 & 3),
							  1 + (int) (r % 9), (int) (r % 60), (int) (r % 1000000000),
							  later_states[r >> 20 & 3]);
				break;
			case 5:
				o += snprintf(s + o, cap - o,
							  "{\"%s\": \"%s\", \"%s\": \"DRIVER_JOB_DEFINITION_EVENT\", \"%s\": \"session_%d\","
							  " \"%s\": {\"%s\": \"AQAAAA==\", \"%s\": \"python run_%d.py\"}}",
							  K("eventId", "event_id"), eb, K("eventType", "event_type"),
							  K("sessionName", "session_name"), k % 2,
							  K("driverJobDefinitionEvent", "driver_job_definition_event"), K("jobId", "job_id"),
							  K("entrypoint", "entrypoint"), (int) (r % 1000));
				break;
			case 6:
				/* rejected: a task id that is not base64 */
				o += snprintf(s + o, cap - o,
							  "{\"%s\": \"%s\", \"%s\": \"TASK_LIFECYCLE_EVENT\", \"%s\": {\"%s\": \"!!%d\"}}",
							  K("eventId", "event_id"), eb, K("eventType", "event_type"),
							  K("taskLifecycleEvent", "task_lifecycle_event"), K("taskId", "task_id"), i);
				break;
			default:
				/* rejected: an unknown type */
				o += snprintf(s + o, cap - o, "{\"%s\": \"%s\", \"%s\": \"NOT_A_TYPE_%d\"}",
							  K("eventId", "event_id"), eb, K("eventType", "event_type"), i);
				break;
		}
	}
	o += snprintf(s + o, cap - o, "]");
#undef K
	if (k % 17 == 5)
		o = o / 2;				/* cut: not JSON */
	*len = o;
	return s;
}

/* Two parses equal: the status, the error, and every item's fields and bytes. */
static bool
same_parse(RayStatus sa, const RayEventBatch *a, const char *ea,
		   RayStatus sb, const RayEventBatch *b, const char *eb)
{
	if (sa != sb || strcmp(ea, eb) != 0 || (a == NULL) != (b == NULL))
		return false;
	if (a == NULL)
		return true;
	if (a->n != b->n || a->ntask != b->ntask || a->nother != b->nother ||
		a->nentity != b->nentity || a->nrejected != b->nrejected)
		return false;
	for (size_t i = 0; i < a->n; i++)
	{
		const RayEventItem *x = &a->items[i],
				   *y = &b->items[i];

		if (x->kind != y->kind || x->index != y->index || x->event_id_len != y->event_id_len ||
			memcmp(x->event_id, y->event_id, x->event_id_len) != 0 ||
			strcmp(x->event_type, y->event_type) != 0 || strcmp(x->session_name, y->session_name) != 0 ||
			x->timestamp_ns != y->timestamp_ns || strcmp(x->reason, y->reason) != 0 ||
			(x->text == NULL) != (y->text == NULL) || (x->text && strcmp(x->text, y->text) != 0))
			return false;
		if (x->kind == RAY_EVENT_TASK)
		{
			size_t		nx = ray__rpc__task_events__get_packed_size(x->task);
			size_t		ny = ray__rpc__task_events__get_packed_size(y->task);
			uint8_t    *px = malloc(nx + 1),
					   *py = malloc(ny + 1);
			bool		eq;

			ray__rpc__task_events__pack(x->task, px);
			ray__rpc__task_events__pack(y->task, py);
			eq = nx == ny && memcmp(px, py, nx) == 0;
			free(px);
			free(py);
			if (!eq)
				return false;
		}
	}
	return true;
}

#define NBODIES 96

static char *bodies[NBODIES];
static size_t lens[NBODIES];

/* Each body parsed for 2.9 before the thread starts. */
static RayEventBatch *ref29[NBODIES];
static RayStatus ref29_st[NBODIES];
static char ref29_err[NBODIES][256];

/* Body i parsed here, for v, equals pb. */
static bool
equals_serial(int i, const RayVersion *v, const RayParsedBody *pb)
{
	RayEventBatch *b = NULL;
	char		err[256] = "";
	RayStatus	st = ray_event_batch_parse(bodies[i], lens[i], v, NULL, &b, err, sizeof(err));
	bool		eq;

	if (st != RAY_OK)
		b = NULL;
	eq = pb != NULL && pb->len == lens[i] && memcmp(pb->body, bodies[i], lens[i]) == 0 &&
		pb->body[lens[i]] == '\0' && same_parse(st, b, err, pb->status, pb->batch, pb->err);
	if (b)
		ray_event_batch_free(b);
	return eq;
}

int
main(void)
{
	RayParseAhead *pa;
	char		err[256];
	int64_t		ids[NBODIES];
	bool		all;
	int			not_json = 0,
				rejected = 0,
				versions_differ = 0;

	ray_version_parse("2.58.0", &v258);
	ray_version_parse("2.9.0", &v29);
	for (int i = 0; i < NBODIES; i++)
		bodies[i] = gen_body(i, 1 + (int) (next_rand() % 300), &lens[i]);

	/* The corpus has what the checks below rely on. */
	for (int i = 0; i < NBODIES; i++)
	{
		RayEventBatch *a = NULL,
				   *b = NULL;
		char		ea[256] = "",
					eb[256] = "";
		RayStatus	sa = ray_event_batch_parse(bodies[i], lens[i], &v258, NULL, &a, ea, sizeof(ea));
		RayStatus	sb = ray_event_batch_parse(bodies[i], lens[i], &v29, NULL, &b, eb, sizeof(eb));

		ref29_st[i] = sb;
		ref29[i] = sb == RAY_OK ? b : NULL;
		strcpy(ref29_err[i], eb);
		not_json += sa != RAY_OK;
		rejected += a != NULL && a->nrejected > 0;
		versions_differ += !same_parse(sa, sa == RAY_OK ? a : NULL, ea, sb, sb == RAY_OK ? b : NULL, eb);
		if (sa == RAY_OK)
			ray_event_batch_free(a);
	}
	ok(not_json >= 4 && rejected >= 40 && versions_differ >= 40,
	   "varied corpus: %d bodies not JSON, %d with rejected events, %d read otherwise by Ray 2.9",
	   not_json, rejected, versions_differ);

	ok(ray_parse_ahead_start(&pa, err, sizeof(err)) == RAY_OK && pa != NULL, "the thread starts");
	ok(ray_parse_ahead_take(pa, 1, &v258) == NULL, "nothing held: take gives NULL");
	ok(ray_parse_ahead_last(pa) == -1, "nothing held: last is -1");

	/* Round 1: all submitted, then taken at once (some not begun, one being parsed, some done). */
	for (int i = 0; i < NBODIES; i++)
		ray_parse_ahead_submit(pa, 100 + i, &v258, bodies[i], lens[i]);
	ok(!ray_parse_ahead_submit(pa, 100, &v258, bodies[0], lens[0]), "an id not above those held is refused");
	ok(ray_parse_ahead_held(pa, ids, NBODIES) == NBODIES && ids[0] == 100 && ids[NBODIES - 1] == 100 + NBODIES - 1,
	   "held: every id, in order");
	all = true;
	for (int i = 0; i < NBODIES; i++)
		all &= equals_serial(i, &v258, ray_parse_ahead_take(pa, 100 + i, &v258));
	ok(all, "taken at once: each of %d bodies equals its parse in this thread", NBODIES);
	ok(ray_parse_ahead_take(pa, 100, &v258) == NULL, "a body is taken once");
	ok(ray_parse_ahead_held(pa, ids, NBODIES) == 0 && ray_parse_ahead_last(pa) == -1, "taken: none held");
	ray_parse_ahead_release(pa);

	/*
	 * Round 2: submitted for 2.58, taken for 2.9 (parsed again for 2.9),
	 * while this thread parses the same bodies for 2.9 as the thread
	 * parses them for 2.58: the enum version and cJSON's arena are per
	 * thread, so neither parse sees the other's.
	 */
	for (int i = 0; i < NBODIES; i++)
		ray_parse_ahead_submit(pa, 1000 + i, &v258, bodies[i], lens[i]);
	all = true;
	for (int i = 0; i < NBODIES; i++)
	{
		RayEventBatch *b = NULL;
		char		e[256] = "";
		RayStatus	st = ray_event_batch_parse(bodies[i], lens[i], &v29, NULL, &b, e, sizeof(e));

		all &= same_parse(ref29_st[i], ref29[i], ref29_err[i], st, st == RAY_OK ? b : NULL, e);
		if (st == RAY_OK)
			ray_event_batch_free(b);
	}
	ok(all, "this thread's parses for 2.9 while the thread parses for 2.58 equal those made alone");
	all = true;
	for (int i = 0; i < NBODIES; i++)
		all &= equals_serial(i, &v29, ray_parse_ahead_take(pa, 1000 + i, &v29));
	ok(all, "taken for another Ray version: each parsed again for it");
	ray_parse_ahead_release(pa);

	/* Round 3: drop and release. */
	for (int i = 0; i < 10; i++)
		ray_parse_ahead_submit(pa, 5000 + i, &v258, bodies[i], lens[i]);
	ok(equals_serial(3, &v258, ray_parse_ahead_take(pa, 5003, &v258)), "one taken from the middle");
	ray_parse_ahead_drop_below(pa, 5005);
	ok(ray_parse_ahead_held(pa, ids, NBODIES) == 5 && ids[0] == 5005 && ids[4] == 5009,
	   "drop_below frees those not taken below it, keeps the rest");
	ok(ray_parse_ahead_take(pa, 5001, &v258) == NULL, "a dropped body is gone");
	{
		const RayParsedBody *pb = ray_parse_ahead_take(pa, 5009, &v258);

		ok(equals_serial(9, &v258, pb) && ray_parse_ahead_last(pa) == 5008,
		   "the last taken: last is the one before");
	}
	ray_parse_ahead_release(pa);
	ok(ray_parse_ahead_held(pa, ids, NBODIES) == 4, "release frees the taken only");
	ray_parse_ahead_drop_below(pa, INT64_MAX);
	ok(ray_parse_ahead_held(pa, ids, NBODIES) == 0, "drop_below(max) frees the rest");

	/* Round 4: many small rounds, taken as they are submitted. */
	all = true;
	for (int round = 0; round < 200; round++)
	{
		int64_t		base = 10000 + (int64_t) round * NBODIES;
		int			m = 1 + round % 7;

		for (int j = 0; j < m; j++)
			ray_parse_ahead_submit(pa, base + j, &v258, bodies[(round + j) % NBODIES], lens[(round + j) % NBODIES]);
		for (int j = 0; j < m; j++)
			all &= equals_serial((round + j) % NBODIES, &v258, ray_parse_ahead_take(pa, base + j, &v258));
		ray_parse_ahead_release(pa);
	}
	ok(all, "200 rounds of submit-then-take: every body equals its parse here");

	/*
	 * Stopping with bodies held, taken and not, frees them: a leak makes
	 * LeakSanitizer fail this program at exit.
	 */
	for (int i = 0; i < NBODIES; i++)
		ray_parse_ahead_submit(pa, 900000 + i, &v258, bodies[i], lens[i]);
	ok(equals_serial(0, &v258, ray_parse_ahead_take(pa, 900000, &v258)), "taken just before the stop");
	ray_parse_ahead_stop(pa);
	for (int i = 0; i < NBODIES; i++)
	{
		free(bodies[i]);
		if (ref29[i])
			ray_event_batch_free(ref29[i]);
	}
	return tap_done();
}
