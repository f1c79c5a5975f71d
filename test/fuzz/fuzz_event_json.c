/*
 * fuzz_event_json.c
 *		libFuzzer target: any bytes as an Event Export POST body, through the
 *		RayEvent reader, the merge by concatenated packed TaskEvents (what the
 *		receiver stores) and on into the row derivation.
 *
 * The first byte picks splice mode (high bit): the rest then overwrites part
 * of a valid body holding every task payload in both shapes, so mutations
 * reach every field without a seed corpus. Whatever the reader accepts must
 * pack, unpack back from the concatenation and derive rows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ray_event_json.h"
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
" \"events\": [{\"startTime\": \"1\", \"endTime\": \"2\", \"eventName\": \"e\", \"extraData\": \"{}\"}]}}}]";

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
