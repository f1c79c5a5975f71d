/*
 * fuzz_event_json.c
 *		libFuzzer target: any bytes as an Event Export POST body, through the
 *		RayEvent reader, the merge by concatenated packed TaskEvents (what the
 *		receiver stores) and on into the row derivation.
 *
 * The first byte picks splice mode (high bit): the rest then overwrites part
 * of a valid body holding every task payload in both shapes and the job,
 * actor and node events, so mutations reach every field without a seed
 * corpus. Whatever the reader accepts must pack, unpack back from the
 * concatenation and derive rows; an entity's parts must pack and their
 * concatenation unpack as the GCS row they are fragments of.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ray_event_entity.h"
#include "ray_event_json.h"
#include "ray_event_worker.h"
#include "ray_tasks.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char BASE[] =
"[{\"eventId\": \"AAAA\", \"eventType\": \"TASK_DEFINITION_EVENT\", \"sessionName\": \"s\","
" \"timestamp\": \"2026-02-12T10:00:14.469840Z\", \"taskDefinitionEvent\": {\"taskId\": \"AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA\","
" \"taskAttempt\": 1, \"taskType\": \"ACTOR_CREATION_TASK\", \"language\": \"PYTHON\", \"taskFunc\":"
" {\"pythonFunctionDescriptor\": {\"className\": \"a.B\", \"functionName\": \"f\"}}, \"taskName\": \"n\","
" \"requiredResources\": {\"CPU\": 1.0}, \"jobId\": \"AQAAAA==\", \"placementGroupId\": \"////\","
" \"labelSelector\": {\"k\": \"v\"}, \"callSite\": \"x\", \"runtimeEnvInfo\": {\"serializedRuntimeEnv\": \"{}\"}}},"
" {\"event_id\": \"AAAB\", \"event_type\": \"TASK_EXECUTION_EVENT\", \"task_execution_event\": {\"task_id\":"
" \"AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA\", \"task_attempt\": \"1\", \"task_state\": {\"8\": \"2026-02-12T10:00:15Z\"},"
" \"worker_pid\": 5, \"node_id\": \"ERER\"}},"
" {\"eventId\": \"AAAC\", \"eventType\": 2, \"taskLifecycleEvent\": {\"taskId\": \"AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA\","
" \"taskAttempt\": 1, \"stateTransitions\": [{\"state\": \"FAILED\", \"timestamp\": \"2026-02-12T10:00:16.1+01:00\"}],"
" \"rayErrorInfo\": {\"errorType\": \"WORKER_DIED\", \"errorMessage\": \"boom\"}, \"actorReprName\": \"B(1)\"}},"
" {\"eventId\": \"AAAD\", \"eventType\": \"TASK_PROFILE_EVENT\", \"taskProfileEvents\": {\"taskId\":"
" \"AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA\", \"attemptNumber\": 1, \"profileEvents\": {\"componentType\": \"worker\","
" \"events\": [{\"startTime\": \"1\", \"endTime\": \"2\", \"eventName\": \"e\", \"extraData\": \"{}\"}]}}},"
" {\"eventId\": \"AAAE\", \"eventType\": \"DRIVER_JOB_DEFINITION_EVENT\", \"driverJobDefinitionEvent\": {\"jobId\": \"AQAAAA==\","
" \"driverPid\": \"42\", \"driverNodeId\": \"ERER\", \"entrypoint\": \"python x.py\"}},"
" {\"eventId\": \"AAAF\", \"eventType\": \"DRIVER_JOB_LIFECYCLE_EVENT\", \"driverJobLifecycleEvent\": {\"jobId\": \"AQAAAA==\","
" \"stateTransitions\": [{\"state\": \"FINISHED\", \"timestamp\": \"2026-02-12T10:00:16Z\", \"message\": \"m\", \"exitCode\": 1,"
" \"submissionJobStatus\": \"FAILED\"}, {\"state\": \"CREATED\", \"timestamp\": \"2026-02-12T10:00:15Z\"}]}},"
" {\"event_id\": \"AAAG\", \"event_type\": \"ACTOR_DEFINITION_EVENT\", \"actor_definition_event\": {\"actor_id\": \"AQIDBAUGBwgJCgsMDQ4PEA==\","
" \"job_id\": \"AQAAAA==\", \"is_detached\": false, \"name\": \"n\", \"class_name\": \"C\", \"required_resources\": {\"CPU\": 1.0},"
" \"label_selector\": {\"k\": \"v\"}, \"call_site\": \"c\", \"placement_group_id\": \"////\"}},"
" {\"eventId\": \"AAAH\", \"eventType\": 10, \"actorLifecycleEvent\": {\"actorId\": \"AQIDBAUGBwgJCgsMDQ4PEA==\", \"stateTransitions\":"
" [{\"state\": \"ALIVE\", \"timestamp\": \"2026-02-12T10:00:15Z\", \"nodeId\": \"ERER\", \"workerId\": \"IiIi\", \"pid\": 7, \"port\": 9,"
" \"reprName\": \"r\"}, {\"state\": \"RESTARTING\", \"timestamp\": \"2026-02-12T10:00:16Z\", \"restartReason\": \"NODE_PREEMPTION\"},"
" {\"state\": \"DEAD\", \"timestamp\": \"2026-02-12T10:00:17Z\", \"deathCause\": {\"creationTaskFailureContext\":"
" {\"formattedExceptionString\": \"x\"}}}]}},"
" {\"eventId\": \"AAAI\", \"eventType\": \"NODE_DEFINITION_EVENT\", \"nodeDefinitionEvent\": {\"nodeId\": \"ERER\", \"nodeIpAddress\": \"1.2.3.4\","
" \"labels\": {\"a\": \"b\"}, \"startTimestamp\": \"2026-02-12T10:00:00Z\", \"hostname\": \"h\", \"nodeName\": \"n\"}},"
" {\"eventId\": \"AAAJ\", \"eventType\": \"NODE_LIFECYCLE_EVENT\", \"nodeLifecycleEvent\": {\"nodeId\": \"ERER\", \"stateTransitions\":"
" [{\"state\": \"ALIVE\", \"timestamp\": \"2026-02-12T10:00:00Z\", \"resources\": {\"CPU\": 4.0}}, {\"state\": \"DEAD\","
" \"timestamp\": \"2026-02-12T10:01:00Z\", \"deathInfo\": {\"reason\": \"EXPECTED_TERMINATION\", \"reasonMessage\": \"bye\"}}]}}]";

/* Every part of an entity event packs, and the parts concatenated read back as the row. */
/* A worker's death as the merger uses it: an id, and a range-checked end. */
static void
check_worker(const RayWorkerDeath *w)
{
	if (w == NULL || w->worker_id_len == 0 || w->worker_id_len > RAY_JSON_MAX_ID)
		abort();
	if (w->dead && (w->end_ms < 0 || w->end_ms > RAY_WORKER_MAX_END_MS || w->exit_type < 0 ||
					w->exit_detail == NULL || strlen(w->exit_detail) > (size_t) -1 / 2))
		abort();
}

static void
check_entity(const RayEntityEvent *ev)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
		&ray__rpc__job_table_data__descriptor, &ray__rpc__actor_table_data__descriptor,
		&ray__rpc__gcs_node_info__descriptor,
	};
	size_t		total = 0,
				off = 0;
	uint8_t    *buf;
	ProtobufCMessage *m;

	if (ev->id_len == 0 || (int) ev->kind < 0 || ev->kind >= RAY_ENTITY_KINDS)
		abort();				/* an entity always has its id and a kind */
	for (size_t p = 0; p < ev->nparts; p++)
		total += protobuf_c_message_get_packed_size(ev->parts[p].row);
	buf = malloc(total ? total : 1);
	for (size_t p = 0; p < ev->nparts; p++)
		off += protobuf_c_message_pack(ev->parts[p].row, buf + off);
	if (off != total)
		abort();
	m = protobuf_c_message_unpack(desc[ev->kind], NULL, total, buf);
	if (m == NULL)
		abort();
	protobuf_c_message_free_unpacked(m, NULL);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RayVersion	v;
	char	   *body;
	size_t		len;
	char		err[256];
	RayEventBatch *b = NULL;
	uint8_t    *buf;
	size_t		total = 0,
				off = 0;

	if (size < 1)
		return 0;
	ray_version_parse(data[0] & 1 ? "2.49.2" : "2.58.0", &v);
	if (data[0] & 0x80)
	{
		size_t		at;

		len = sizeof(BASE) - 1;
		body = malloc(len);
		memcpy(body, BASE, len);
		at = size >= 3 ? ((size_t) data[1] << 8 | data[2]) % len : 0;
		for (size_t i = 3; i < size && at < len; i++)
			body[at++] = (char) data[i];
	}
	else
	{
		len = size - 1;
		body = malloc(len ? len : 1);
		memcpy(body, data + 1, len);
	}
	if (ray_event_batch_parse(body, len, &v, NULL, &b, err, sizeof(err)) == RAY_OK)
	{
		/* Every accepted task event, packed and concatenated: one merged attempt. */
		for (size_t i = 0; i < b->n; i++)
			if (b->items[i].kind == RAY_EVENT_TASK)
				total += ray__rpc__task_events__get_packed_size(b->items[i].task);
			else if (b->items[i].kind == RAY_EVENT_REJECTED && b->items[i].reason[0] == '\0')
				abort();		/* a rejected event always says why */
			else if (b->items[i].kind == RAY_EVENT_ENTITY)
				check_entity(b->items[i].entity);
			else if (b->items[i].kind == RAY_EVENT_WORKER)
				check_worker(b->items[i].worker);
		buf = malloc(total ? total : 1);
		for (size_t i = 0; i < b->n; i++)
			if (b->items[i].kind == RAY_EVENT_TASK)
				off += ray__rpc__task_events__pack(b->items[i].task, buf + off);
		if (off != total)
			abort();
		if (total > 0)
		{
			Ray__Rpc__TaskEvents *te = ray__rpc__task_events__unpack(NULL, total, buf);
			Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
			RayTaskReply *r = NULL;

			if (te == NULL)
				abort();		/* what we packed must read back */
			msg.n_events_by_task = 1;
			msg.events_by_task = &te;
			if (ray_task_reply_from_events(&msg, &v, NULL, &r, err, sizeof(err)) == RAY_OK)
				ray_task_reply_free(r);
			ray__rpc__task_events__free_unpacked(te, NULL);
		}
		free(buf);
		ray_event_batch_free(b);
	}
	free(body);
	return 0;
}
