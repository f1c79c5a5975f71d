/*
 * test_event_json.c
 *		Ray's Event Export JSON into TaskEvents: each payload shape (2.49
 *		taskExecutionEvent.taskState, later taskLifecycleEvent.stateTransitions)
 *		in each key style, merged by concatenating packed TaskEvents (protobuf
 *		MergeFrom), derives the rows the GCS path derives; hostile input is a
 *		rejected event or a failed body with a reason, never a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_enums.h"
#include "ray_event_json.h"
#include "ray_event_worker.h"
#include "ray_tasks.h"
#include "tap.h"

static RayVersion v258;

/* task id: 8 bytes, then the actor id (16): base64 of 24 bytes */
#define TASK_B64 "AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA"	/* 0102..14 01000000 */
#define JOB_B64 "AQAAAA=="
#define NODE_B64 "ERERERERERERERERERERERERERERERERERER"	/* 27 bytes: odd length */

static RayEventBatch *
parse(const char *json, char *err)
{
	RayEventBatch *b = NULL;
	RayStatus	st = ray_event_batch_parse(json, strlen(json), &v258, NULL, &b, err, 256);

	return st == RAY_OK ? b : NULL;
}

/* The rows Ray's merge gives for the task events of batches, in order. */
static Ray__Rpc__GetTaskEventsReply *last_msg;

static RayTaskReply *
merged(RayEventBatch **batches, int nb, uint8_t **bufp)
{
	size_t		total = 0,
				off = 0;
	uint8_t    *buf;
	Ray__Rpc__TaskEvents *te;
	Ray__Rpc__GetTaskEventsReply *msg;
	Ray__Rpc__GetTaskEventsReply init = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayTaskReply *r = NULL;
	char		err[256];

	for (int i = 0; i < nb; i++)
		for (size_t k = 0; k < batches[i]->n; k++)
			if (batches[i]->items[k].kind == RAY_EVENT_TASK)
				total += ray__rpc__task_events__get_packed_size(batches[i]->items[k].task);
	buf = malloc(total + 1);
	for (int i = 0; i < nb; i++)
		for (size_t k = 0; k < batches[i]->n; k++)
			if (batches[i]->items[k].kind == RAY_EVENT_TASK)
				off += ray__rpc__task_events__pack(batches[i]->items[k].task, buf + off);
	te = ray__rpc__task_events__unpack(NULL, off, buf);
	*bufp = buf;
	if (te == NULL)
		return NULL;
	msg = malloc(sizeof(*msg));
	*msg = init;
	msg->n_events_by_task = 1;
	msg->events_by_task = malloc(sizeof(void *));
	msg->events_by_task[0] = te;
	last_msg = msg;
	if (ray_task_reply_from_events(msg, &v258, NULL, &r, err, sizeof(err)) != RAY_OK)
	{
		tap_diag("from_events: %s", err);
		return NULL;
	}
	return r;
}

static void
free_merged(RayTaskReply *r, uint8_t *buf)
{
	/* from_events leaves msg to its caller */
	ray_task_reply_free(r);
	ray__rpc__task_events__free_unpacked(last_msg->events_by_task[0], NULL);
	free(last_msg->events_by_task);
	free(last_msg);
	free(buf);
}

static void
test_feb26(const char *shape_name, bool snake)
{
	char		def[2048],
				own[2048],
				exe[2048];
	char		err[256];
	RayEventBatch *b[3];
	RayTaskReply *r;
	uint8_t    *buf;
	const RayTaskRow *row;
	char		sbuf[RAY_ENUM_NAME_MAX];

#define K(camel, sn) (snake ? sn : camel)
	snprintf(def, sizeof(def),
			 "[{\"%s\": \"ZXZlbnQtMQ==\", \"%s\": \"CORE_WORKER\", \"%s\": \"TASK_DEFINITION_EVENT\","
			 " \"timestamp\": \"2026-02-12T10:00:14.469840Z\", \"severity\": \"INFO\", \"message\": \"\","
			 " \"%s\": \"session_2026\", \"%s\": {\"%s\": \"" TASK_B64 "\", \"%s\": 1,"
			 " \"%s\": \"ACTOR_CREATION_TASK\", \"language\": \"PYTHON\","
			 " \"%s\": {\"%s\": {\"%s\": \"__main__\", \"%s\": \"mod.Counter\", \"%s\": \"__init__\", \"%s\": \"\"}},"
			 " \"%s\": \"Counter.__init__ \\u00e9\\u4e2d\", \"%s\": {\"CPU\": 1.0, \"GPU\": 0.5},"
			 " \"%s\": \"" JOB_B64 "\", \"%s\": \"\", \"%s\": \"////////////////////////\","
			 " \"%s\": {}, \"%s\": \"{}\", \"%s\": \"main.py:3\", \"%s\": {\"zone\": \"a\"}}}]",
			 K("eventId", "event_id"), K("sourceType", "source_type"), K("eventType", "event_type"),
			 K("sessionName", "session_name"), K("taskDefinitionEvent", "task_definition_event"),
			 K("taskId", "task_id"), K("taskAttempt", "task_attempt"), K("taskType", "task_type"),
			 K("taskFunc", "task_func"), K("pythonFunctionDescriptor", "python_function_descriptor"),
			 K("moduleName", "module_name"), K("className", "class_name"),
			 K("functionName", "function_name"), K("functionHash", "function_hash"),
			 K("taskName", "task_name"), K("requiredResources", "required_resources"),
			 K("jobId", "job_id"), K("parentTaskId", "parent_task_id"),
			 K("placementGroupId", "placement_group_id"), K("refIds", "ref_ids"),
			 K("serializedRuntimeEnv", "serialized_runtime_env"), K("callSite", "call_site"),
			 K("labelSelector", "label_selector"));
	if (strcmp(shape_name, "2.49") == 0)
	{
		/* TaskStatus numbers (2.39+): PENDING_ARGS_AVAIL 1, SUBMITTED_TO_WORKER 6, RUNNING 8, FINISHED 11 */
		snprintf(own, sizeof(own),
				 "[{\"%s\": \"ZXZlbnQtMg==\", \"%s\": \"TASK_EXECUTION_EVENT\", \"%s\": \"session_2026\","
				 " \"%s\": {\"%s\": \"" TASK_B64 "\", \"%s\": 1, \"%s\": {\"1\": \"2026-02-12T10:00:14Z\","
				 " \"6\": \"2026-02-12T10:00:14.5Z\"}, \"%s\": \"" NODE_B64 "\", \"%s\": \"\", \"%s\": 0}}]",
				 K("eventId", "event_id"), K("eventType", "event_type"), K("sessionName", "session_name"),
				 K("taskExecutionEvent", "task_execution_event"), K("taskId", "task_id"),
				 K("taskAttempt", "task_attempt"), K("taskState", "task_state"), K("nodeId", "node_id"),
				 K("workerId", "worker_id"), K("workerPid", "worker_pid"));
		snprintf(exe, sizeof(exe),
				 "[{\"%s\": \"ZXZlbnQtMw\", \"%s\": 2, \"%s\": \"session_2026\","
				 " \"%s\": {\"%s\": \"" TASK_B64 "\", \"%s\": \"1\", \"%s\": {\"8\": \"2026-02-12T10:00:15.000001Z\","
				 " \"11\": \"2026-02-12T10:00:16.123456789Z\"}, \"%s\": 4242}}]",
				 K("eventId", "event_id"), K("eventType", "event_type"), K("sessionName", "session_name"),
				 K("taskExecutionEvent", "task_execution_event"), K("taskId", "task_id"),
				 K("taskAttempt", "task_attempt"), K("taskState", "task_state"), K("workerPid", "worker_pid"));
	}
	else
	{
		snprintf(own, sizeof(own),
				 "[{\"%s\": \"ZXZlbnQtMg==\", \"%s\": \"TASK_LIFECYCLE_EVENT\", \"%s\": \"session_2026\","
				 " \"%s\": {\"%s\": \"" TASK_B64 "\", \"%s\": 1, \"%s\": [{\"state\": \"PENDING_ARGS_AVAIL\","
				 " \"timestamp\": \"2026-02-12T10:00:14Z\"}, {\"state\": \"SUBMITTED_TO_WORKER\", \"timestamp\":"
				 " \"2026-02-12T10:00:14.500+00:00\"}], \"%s\": \"" NODE_B64 "\", \"%s\": \"" JOB_B64 "\"}}]",
				 K("eventId", "event_id"), K("eventType", "event_type"), K("sessionName", "session_name"),
				 K("taskLifecycleEvent", "task_lifecycle_event"), K("taskId", "task_id"),
				 K("taskAttempt", "task_attempt"), K("stateTransitions", "state_transitions"),
				 K("nodeId", "node_id"), K("jobId", "job_id"));
		snprintf(exe, sizeof(exe),
				 "[{\"%s\": \"ZXZlbnQtMw==\", \"%s\": \"TASK_LIFECYCLE_EVENT\", \"%s\": \"session_2026\","
				 " \"%s\": {\"%s\": \"" TASK_B64 "\", \"%s\": 1, \"%s\": [{\"state\": \"FINISHED\","
				 " \"timestamp\": \"2026-02-12T11:00:16.123456789+01:00\"}, {\"state\": \"RUNNING\","
				 " \"timestamp\": \"2026-02-12T10:00:15.000001Z\"}], \"%s\": \"4242\", \"%s\": \"Counter(1)\"}}]",
				 K("eventId", "event_id"), K("eventType", "event_type"), K("sessionName", "session_name"),
				 K("taskLifecycleEvent", "task_lifecycle_event"), K("taskId", "task_id"),
				 K("taskAttempt", "task_attempt"), K("stateTransitions", "state_transitions"),
				 K("workerPid", "worker_pid"), K("actorReprName", "actor_repr_name"));
	}
#undef K
	/* Lifecycle before definition, executor before owner: any order merges the same. */
	b[0] = parse(exe, err);
	b[1] = parse(def, err);
	b[2] = parse(own, err);
	if (!ok(b[0] && b[1] && b[2], "%s %s: three bodies parse", shape_name, snake ? "snake" : "camel"))
	{
		tap_diag("%s", err);
		return;
	}
	for (int i = 0; i < 3; i++)
		if (!is_int(b[i]->ntask, 1, "%s %s: body %d is one task event", shape_name, snake ? "snake" : "camel", i))
			tap_diag("reason: %s", b[i]->items[0].reason);
	ok(strcmp(b[1]->items[0].session_name, "session_2026") == 0, "sessionName read");
	ok(b[1]->items[0].has_timestamp && b[1]->items[0].timestamp_ns == 1770890414469840000LL,
	   "timestamp read to the ns");
	is_int(b[0]->items[0].event_id_len, 7, "unpadded base64 eventId read (7 bytes)");
	r = merged(b, 3, &buf);
	if (!ok(r != NULL && r->nrows == 1, "merged into one attempt"))
		return;
	row = &r->rows[0];
	ok(strcmp(ray_task_state_text(r, row, sbuf), "FINISHED") == 0, "state FINISHED (got %s)", sbuf);
	is_int(row->attempt_number, 1, "attempt 1");
	ok(row->has_creation_ms && row->creation_ms == 1770890414000LL, "creation from PENDING_ARGS_AVAIL");
	ok(row->has_start_ms && row->start_ms == 1770890415000LL, "start from RUNNING");
	ok(row->has_end_ms && row->end_ms == 1770890416123LL, "end from FINISHED (offset applied)");
	is_int(row->n_events, 4, "four state events");
	ok(row->info && strcmp(row->info->func_or_class_name, "Counter.__init__") == 0,
	   "CallString keeps the last dotted part of the class");
	ok(row->info && strcmp(row->info->name, "Counter.__init__ \xc3\xa9\xe4\xb8\xad") == 0, "unicode name");
	ok(row->actor_id.len == 16 && memcmp(row->actor_id.data, "\x09\x0a\x0b\x0c", 4) == 0,
	   "actor id of a creation task: bytes 8..24 of its task id");
	ok(row->placement_group_id.len == 18, "nil placement group id kept (Ray copies any non-empty)");
	ok(row->parent_task_id.len == 0, "empty parent id is absent");
	is_int(row->node_id.len, 27, "node id from the owner's event");
	ok(row->su && row->su->has_worker_pid && row->su->worker_pid == 4242, "worker pid (string or number)");
	ok(row->info && row->info->n_required_resources == 2, "required resources");
	if (strcmp(shape_name, "2.49") != 0)
		ok(row->info && row->info->call_site && strcmp(row->info->call_site, "main.py:3") == 0, "call site");
	free_merged(r, buf);
	for (int i = 0; i < 3; i++)
		ray_event_batch_free(b[i]);
}

static void
expect_reject(const char *what, const char *event, const char *reason_part)
{
	char		body[8192];
	char		err[256];
	RayEventBatch *b;

	snprintf(body, sizeof(body), "[%s]", event);
	b = parse(body, err);
	if (!ok(b != NULL && b->n == 1 && b->nrejected == 1, "rejected: %s", what))
	{
		if (b == NULL)
			tap_diag("body failed: %s", err);
		else
			tap_diag("kind %d", b->items[0].kind);
	}
	else
	{
		if (!ok(strstr(b->items[0].reason, reason_part) != NULL, "  reason names it: %s", b->items[0].reason))
			tap_diag("want \"%s\"", reason_part);
		ok(b->items[0].text != NULL, "  and the event's text is kept");
	}
	ray_event_batch_free(b);
}

static void
expect_body_error(const char *what, const char *body, size_t len)
{
	char		err[256] = "";
	RayEventBatch *b = NULL;
	RayStatus	st = ray_event_batch_parse(body, len, &v258, NULL, &b, err, sizeof(err));

	ok(st != RAY_OK && b == NULL && err[0] != '\0', "body refused: %s (%s)", what, err);
}

#define LC(payload) "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_LIFECYCLE_EVENT\", \"taskLifecycleEvent\": " payload "}"

static void
test_hostile(void)
{
	char	   *deep;
	char		err[256];
	RayEventBatch *b;

	expect_body_error("not JSON", "not json", 8);
	expect_body_error("an object, not an array", "{\"eventId\": \"AAAA\"}", 19);
	expect_body_error("truncated", "[{\"eventId\": \"AA", 16);
	expect_body_error("empty", "", 0);
	expect_body_error("trailing garbage", "[] x", 4);
	deep = malloc(20001);
	memset(deep, '[', 20000);
	deep[20000] = '\0';
	expect_body_error("nested 20,000 deep", deep, 20000);
	free(deep);

	b = parse("[]", err);
	ok(b != NULL && b->n == 0, "an empty array is an empty batch");
	ray_event_batch_free(b);

	expect_reject("a number, not an object", "42", "not a JSON object");
	expect_reject("no eventId", "{\"eventType\": \"TASK_DEFINITION_EVENT\"}", "no eventId");
	expect_reject("eventId not base64", "{\"eventId\": \"a*b\", \"eventType\": 1}", "base64");
	expect_reject("eventId too long", "{\"eventId\": \"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\", \"eventType\": 1}", "at most 64");
	expect_reject("eventId with non-zero trailing bits", "{\"eventId\": \"AB==\", \"eventType\": 1}", "base64");
	expect_reject("unknown eventType", "{\"eventId\": \"AAAA\", \"eventType\": \"SOMETHING_NEW\"}", "unknown eventType");
	expect_reject("eventType number out of range", "{\"eventId\": \"AAAA\", \"eventType\": 99}", "unknown eventType");
	expect_reject("no eventType", "{\"eventId\": \"AAAA\"}", "no eventType");
	expect_reject("payload missing", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_DEFINITION_EVENT\"}", "no \"taskDefinitionEvent\"");
	expect_reject("payload not an object", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_LIFECYCLE_EVENT\", \"taskLifecycleEvent\": []}", "no \"taskLifecycleEvent\"");
	expect_reject("no task id", LC("{\"taskAttempt\": 0}"), "no task id");
	expect_reject("attempt negative", LC("{\"taskId\": \"AAAA\", \"taskAttempt\": -1}"), "taskAttempt");
	expect_reject("attempt beyond int32", LC("{\"taskId\": \"AAAA\", \"taskAttempt\": \"2147483648\"}"), "taskAttempt");
	expect_reject("attempt a fraction", LC("{\"taskId\": \"AAAA\", \"taskAttempt\": 1.5}"), "taskAttempt");
	expect_reject("attempt a bool", LC("{\"taskId\": \"AAAA\", \"taskAttempt\": true}"), "taskAttempt");
	expect_reject("worker pid beyond int32", LC("{\"taskId\": \"AAAA\", \"workerPid\": \"99999999999\"}"), "workerPid");
	expect_reject("state name unknown", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"DANCING\", \"timestamp\": \"2026-01-01T00:00:00Z\"}]}"), "unknown value");
	expect_reject("transition without time", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\"}]}"), "no timestamp");
	expect_reject("month 13", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\", \"timestamp\": \"2026-13-01T00:00:00Z\"}]}"), "RFC 3339");
	expect_reject("February 29 of 2025", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\", \"timestamp\": \"2025-02-29T00:00:00Z\"}]}"), "RFC 3339");
	expect_reject("ten fraction digits", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\", \"timestamp\": \"2026-01-01T00:00:00.1234567890Z\"}]}"), "RFC 3339");
	expect_reject("no zone", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\", \"timestamp\": \"2026-01-01T00:00:00\"}]}"), "RFC 3339");
	expect_reject("beyond int64 ns (2263)", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": [{\"state\": \"RUNNING\", \"timestamp\": \"2263-01-01T00:00:00Z\"}]}"), "RFC 3339");
	expect_reject("taskState key not a number", LC("{\"taskId\": \"AAAA\", \"taskState\": {\"RUNNING\": \"2026-01-01T00:00:00Z\"}}"), "TaskStatus number");
	expect_reject("taskState value not a time", LC("{\"taskId\": \"AAAA\", \"taskState\": {\"8\": 5}}"), "RFC 3339");
	expect_reject("stateTransitions an object", LC("{\"taskId\": \"AAAA\", \"stateTransitions\": {}}"), "not an array");
	expect_reject("error type unknown name", LC("{\"taskId\": \"AAAA\", \"rayErrorInfo\": {\"errorType\": \"NOPE\"}}"), "errorType");
	expect_reject("definition without job", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_DEFINITION_EVENT\", \"taskDefinitionEvent\": {\"taskId\": \"AAAA\"}}", "no job id");
	expect_reject("resource NaN as a string", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_DEFINITION_EVENT\", \"taskDefinitionEvent\": {\"taskId\": \"AAAA\", \"jobId\": \"AQAAAA==\", \"requiredResources\": {\"CPU\": \"NaN\"}}}", "finite");
	expect_reject("name not a string", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_DEFINITION_EVENT\", \"taskDefinitionEvent\": {\"taskId\": \"AAAA\", \"jobId\": \"AQAAAA==\", \"taskName\": 7}}", "taskName");
	expect_reject("profile start beyond int64", "{\"eventId\": \"AAAA\", \"eventType\": \"TASK_PROFILE_EVENT\", \"taskProfileEvents\": {\"taskId\": \"AAAA\", \"profileEvents\": {\"events\": [{\"startTime\": \"9223372036854775808\"}]}}}", "startTime");

	/* Accepted: an unknown enum number (printed bare), a known non-task type. */
	b = parse("[" LC("{\"taskId\": \"AAAA\", \"rayErrorInfo\": {\"errorType\": 1000, \"errorMessage\": \"x\"}}") ","
			  "{\"eventId\": \"AAAB\", \"eventType\": \"NODE_DEFINITION_EVENT\", \"nodeDefinitionEvent\": {\"nodeId\": \"" NODE_B64 "\"}},"
			  "{\"eventId\": \"AAAC\", \"eventType\": 17}]", err);
	ok(b && b->ntask == 1 && b->nother == 2 && b->nentity == 1 && b->nrejected == 0 &&
	   b->items[1].kind == RAY_EVENT_ENTITY && b->items[2].kind == RAY_EVENT_OTHER,
	   "an unknown ErrorType number is kept; a node event is an entity, a worker definition other");
	if (b)
		is_int(b->items[0].task->state_updates->error_info->error_type, 1000, "error type 1000 as sent");
	ray_event_batch_free(b);

	/* One bad event does not spoil its neighbours. */
	b = parse("[" LC("{\"taskId\": \"AAAA\"}") ", 7, " LC("{\"taskId\": \"AAAB\"}") "]", err);
	ok(b && b->n == 3 && b->ntask == 2 && b->nrejected == 1 && b->items[1].kind == RAY_EVENT_REJECTED,
	   "a bad event among good ones is rejected alone");
	ray_event_batch_free(b);
}

/* Worker lifecycle events: a worker's death (ray_event_worker.c). */
#define WL(payload) "{\"eventId\": \"AAAA\", \"eventType\": \"WORKER_LIFECYCLE_EVENT\", \"workerLifecycleEvent\": " payload "}"
#define WORKER_B64 "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"	/* 30 bytes of 0xaa */

static const RayWorkerDeath *
worker_of(const char *body, RayEventBatch **bp)
{
	char		err[256];

	*bp = parse(body, err);
	if (*bp == NULL || (*bp)->n != 1 || (*bp)->items[0].kind != RAY_EVENT_WORKER)
		return NULL;
	return (*bp)->items[0].worker;
}

static void
test_worker(void)
{
	RayEventBatch *b;
	const RayWorkerDeath *w;

	w = worker_of("[" WL("{\"workerId\": \"" WORKER_B64 "\", \"jobId\": \"AQAAAA==\", \"stateTransitions\": ["
						 "{\"state\": \"ALIVE\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"workerLaunchTimeMs\": \"1\", \"startTimeMs\": \"3\"},"
						 "{\"state\": \"DEAD\", \"timestamp\": \"2026-01-01T00:00:05Z\", \"endTimeMs\": \"1767225604321\","
						 " \"deathInfo\": {\"exitType\": \"NODE_OUT_OF_MEMORY\", \"exitDetail\": \"killed: 9.5 GB \\u00fcber\", \"memoryUsedBytes\": \"987654321\"}}]}") "]", &b);
	ok(w && w->worker_id_len == 30 && w->worker_id[29] == 0xaa && w->dead && w->end_ms == 1767225604321LL &&
	   w->exit_type == 4 && strcmp(w->exit_detail, "killed: 9.5 GB \xc3\xbc" "ber") == 0,
	   "a DEAD transition: end_time_ms, exit type by name, exit detail (unicode)");
	ok(b && b->nother == 1 && b->ntask == 0 && b->nentity == 0, "a worker event counts as an other event");
	ray_event_batch_free(b);

	w = worker_of("[{\"event_id\": \"AAAA\", \"event_type\": \"WORKER_LIFECYCLE_EVENT\", \"worker_lifecycle_event\": "
				  "{\"worker_id\": \"" WORKER_B64 "\", \"state_transitions\": [{\"state\": 1, \"end_time_ms\": 42,"
				  " \"death_info\": {\"exit_type\": 2, \"exit_detail\": \"\"}}]}}]", &b);
	ok(w && w->dead && w->end_ms == 42 && w->exit_type == 2 && w->exit_detail[0] == '\0',
	   "snake_case keys, the state and exit type as numbers, end_time_ms a JSON number");
	ray_event_batch_free(b);

	w = worker_of("[" WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"endTimeMs\": \"7\"}]}") "]", &b);
	ok(w && w->dead && w->end_ms == 7 && w->exit_type == 0 && w->exit_detail[0] == '\0',
	   "no deathInfo: SYSTEM_ERROR (0) and no detail, protobuf's defaults");
	ray_event_batch_free(b);

	w = worker_of("[" WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"timestamp\": \"2026-01-01T00:00:00Z\"}]}") "]", &b);
	ok(w && !w->dead, "a transition without a state is ALIVE (0): no death");
	ray_event_batch_free(b);
	w = worker_of("[" WL("{\"workerId\": \"" WORKER_B64 "\"}") "]", &b);
	ok(w && !w->dead, "no transitions: no death");
	ray_event_batch_free(b);

	expect_reject("worker without id", WL("{\"stateTransitions\": []}"), "workerId");
	expect_reject("worker end time negative", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"endTimeMs\": \"-1\"}]}"), "endTimeMs");
	expect_reject("worker end time beyond int64 ns", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"endTimeMs\": \"9223372036855\"}]}"), "endTimeMs");
	expect_reject("worker exit type unknown", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"deathInfo\": {\"exitType\": \"EATEN\"}}]}"), "exitType");
	expect_reject("worker state unknown", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"ZOMBIE\"}]}"), "state");
	expect_reject("worker transitions an object", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": {}}"), "not an array");
	expect_reject("worker deathInfo a string", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"deathInfo\": \"x\"}]}"), "deathInfo");
	expect_reject("worker transition a number", WL("{\"workerId\": \"" WORKER_B64 "\", \"stateTransitions\": [5]}"), "not an object");
	expect_reject("worker lifecycle without payload", "{\"eventId\": \"AAAA\", \"eventType\": 16}", "workerLifecycleEvent");
}

static void
test_values(void)
{
	int64_t		ns;
	uint8_t		buf[64];
	size_t		len;

	ok(ray_event_parse_rfc3339("1970-01-01T00:00:00Z", &ns) && ns == 0, "epoch");
	ok(ray_event_parse_rfc3339("1969-12-31T23:59:59.999999999Z", &ns) && ns == -1, "one ns before the epoch");
	ok(ray_event_parse_rfc3339("2024-02-29T12:00:00.5Z", &ns) && ns == 1709208000500000000LL, "leap day, one digit");
	ok(ray_event_parse_rfc3339("2026-02-12T10:00:14.469840Z", &ns) && ns == 1770890414469840000LL, "six digits");
	ok(ray_event_parse_rfc3339("2026-02-12T05:30:14-04:30", &ns) && ns == 1770890414000000000LL, "negative offset");
	ok(ray_event_parse_rfc3339("2262-04-11T23:47:16.854775807Z", &ns) && ns == INT64_MAX, "int64 ns maximum");
	ok(!ray_event_parse_rfc3339("2262-04-11T23:47:17Z", &ns), "one second past it");
	ok(!ray_event_parse_rfc3339("2026-02-12T10:00:14.Z", &ns), "a dot without digits");
	ok(!ray_event_parse_rfc3339("2026-02-12 10:00:14Z", &ns), "a space for T");
	ok(!ray_event_parse_rfc3339("2026-02-12T24:00:00Z", &ns), "hour 24");
	ok(!ray_event_parse_rfc3339("2026-02-12T10:00:14Zjunk", &ns), "junk after the zone");
	ok(!ray_event_parse_rfc3339("+2026-02-12T10:00:14Z", &ns), "a signed year");

	ok(ray_event_base64("AQAAAA==", buf, sizeof(buf), &len) && len == 4 && memcmp(buf, "\x01\0\0\0", 4) == 0,
	   "JobID 01000000");
	ok(ray_event_base64("////////////////////////", buf, sizeof(buf), &len) && len == 18 && buf[17] == 0xff,
	   "nil placement group id");
	ok(ray_event_base64("-_8", buf, sizeof(buf), &len) && len == 2 && buf[0] == 0xfb && buf[1] == 0xff,
	   "URL-safe, unpadded");
	ok(ray_event_base64("", buf, sizeof(buf), &len) && len == 0, "empty");
	ok(!ray_event_base64("A", buf, sizeof(buf), &len), "one character");
	ok(!ray_event_base64("AQ===", buf, sizeof(buf), &len), "three pads");
	ok(!ray_event_base64("AQAAAA==", buf, 3, &len), "longer than the room");
}

/* 100,000 lifecycle events in one body: all read, in order. */
static void
test_large(void)
{
	size_t		n = 100000;
	size_t		cap = n * 220 + 16;
	char	   *body = malloc(cap);
	size_t		off = 0;
	char		err[256];
	RayEventBatch *b;
	bool		all = true;

	off += snprintf(body + off, cap - off, "[");
	for (size_t i = 0; i < n; i++)
	{
		uint8_t		id[6] = {(uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i, 7, 7, 7};
		static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		char		b64[9];

		for (int k = 0; k < 2; k++)
		{
			uint32_t	x = (uint32_t) id[3 * k] << 16 | (uint32_t) id[3 * k + 1] << 8 | id[3 * k + 2];

			b64[4 * k] = tab[x >> 18 & 63];
			b64[4 * k + 1] = tab[x >> 12 & 63];
			b64[4 * k + 2] = tab[x >> 6 & 63];
			b64[4 * k + 3] = tab[x & 63];
		}
		b64[8] = '\0';
		off += snprintf(body + off, cap - off,
						"%s{\"eventId\": \"%s\", \"eventType\": \"TASK_LIFECYCLE_EVENT\", \"taskLifecycleEvent\":"
						" {\"taskId\": \"%s\", \"taskAttempt\": %zu, \"stateTransitions\": [{\"state\": \"RUNNING\","
						" \"timestamp\": \"2026-01-01T00:00:00.%06zuZ\"}]}}",
						i ? ", " : "", b64, b64, i % 3, i % 1000000);
	}
	off += snprintf(body + off, cap - off, "]");
	b = parse(body, err);
	ok(b != NULL && b->n == n && b->ntask == n, "100,000 events in one body all read");
	for (size_t i = 0; b && i < n && all; i++)
		all = b->items[i].task->attempt_number == (int32_t) (i % 3) &&
			b->items[i].task->state_updates->state_ts_ns[0]->value == 1767225600000000000LL + (int64_t) (i % 1000000) * 1000;
	ok(all, "each with its attempt and time");
	ray_event_batch_free(b);
	free(body);
}

int
main(void)
{
	ray_version_parse("2.58.0", &v258);
	test_feb26("feb26", false);
	test_feb26("feb26", true);
	test_feb26("2.49", false);
	test_feb26("2.49", true);
	test_hostile();
	test_worker();
	test_values();
	test_large();
	return tap_done();
}
