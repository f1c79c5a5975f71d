/*
 * test_event_entity.c
 *		Ray's job, actor and node events (Event Export) into fragments of the
 *		GCS rows: each event type in both key styles, merged as the receiver
 *		merges them (definition first, then transitions by time and state,
 *		packed fragments concatenated = protobuf MergeFrom) into the
 *		JobTableData / ActorTableData / GcsNodeInfo the poller reads; the
 *		merge does not depend on arrival order; bad values are rejected with
 *		a reason, never half read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_cluster.h"
#include "ray_event_entity.h"
#include "ray_event_json.h"
#include "tap.h"

static RayVersion v258;

#define JOB_B64 "AQAAAA=="					/* 01000000 */
#define ACTOR_B64 "AQIDBAUGBwgJCgsMDQ4PEA=="	/* 01..10: 16 bytes */
#define NODE_B64 "ERERERERERERERERERERERERERERERERERER"	/* 27 bytes: odd length */
#define WORKER_B64 "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIg=="	/* 28 bytes */

static RayEventBatch *
parse(const char *json)
{
	RayEventBatch *b = NULL;
	char		err[256];

	if (ray_event_batch_parse(json, strlen(json), &v258, NULL, &b, err, sizeof(err)) != RAY_OK)
	{
		tap_diag("parse: %s", err);
		return NULL;
	}
	return b;
}

/* The receiver's order: definitions first, then (time, state). */
static int
part_cmp(const void *a, const void *b)
{
	const RayEntityPart *x = *(RayEntityPart *const *) a;
	const RayEntityPart *y = *(RayEntityPart *const *) b;

	if (x->definition != y->definition)
		return x->definition ? -1 : 1;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return (x->state > y->state) - (x->state < y->state);
}

/*
 * Every entity part of kind in the batches, sorted and merged into one
 * message (freed by the caller with protobuf_c_message_free_unpacked);
 * *packed gets the merged bytes for comparisons.
 */
static ProtobufCMessage *
merge(RayEventBatch **bs, int nb, RayEntityKind kind, uint8_t **packed, size_t *plen)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
		&ray__rpc__job_table_data__descriptor, &ray__rpc__actor_table_data__descriptor,
		&ray__rpc__gcs_node_info__descriptor,
	};
	RayEntityPart *parts[64];
	size_t		n = 0,
				total = 0,
				off = 0;
	uint8_t    *buf;

	for (int i = 0; i < nb; i++)
		for (size_t k = 0; bs[i] && k < bs[i]->n; k++)
		{
			RayEventItem *it = &bs[i]->items[k];

			if (it->kind != RAY_EVENT_ENTITY || it->entity->kind != kind)
				continue;
			for (size_t p = 0; p < it->entity->nparts && n < 64; p++)
				parts[n++] = &it->entity->parts[p];
		}
	qsort(parts, n, sizeof(parts[0]), part_cmp);
	for (size_t i = 0; i < n; i++)
		total += protobuf_c_message_get_packed_size(parts[i]->row);
	buf = malloc(total + 1);
	for (size_t i = 0; i < n; i++)
		off += protobuf_c_message_pack(parts[i]->row, buf + off);
	*packed = buf;
	*plen = off;
	return protobuf_c_message_unpack(desc[kind], NULL, off, buf);
}

#define JOB_DEF(k) \
	"{\"eventId\": \"AAAA\", \"eventType\": \"DRIVER_JOB_DEFINITION_EVENT\", \"sessionName\": \"s\"," \
	" \"" k("driverJobDefinitionEvent", "driver_job_definition_event") "\": {\"" k("jobId", "job_id") "\": \"" JOB_B64 "\"," \
	" \"" k("driverPid", "driver_pid") "\": \"4242\", \"" k("driverNodeId", "driver_node_id") "\": \"" WORKER_B64 "\"," \
	" \"entrypoint\": \"python tr\\u00e4in.py --\\u6f14\", \"config\": {\"" k("serializedRuntimeEnv", "serialized_runtime_env") "\": \"{}\", \"metadata\": {}}}}"
#define JOB_LIFE(k, id, trs) \
	"{\"eventId\": \"" id "\", \"eventType\": \"DRIVER_JOB_LIFECYCLE_EVENT\"," \
	" \"" k("driverJobLifecycleEvent", "driver_job_lifecycle_event") "\": {\"" k("jobId", "job_id") "\": \"" JOB_B64 "\"," \
	" \"" k("stateTransitions", "state_transitions") "\": [" trs "]}}"
#define CAMEL(c, s) c
#define SNAKE(c, s) s

static void
test_jobs(const char *style, bool snake)
{
	const char *body = snake
		? "[" JOB_LIFE(SNAKE, "AAAC", "{\"state\": \"FINISHED\", \"timestamp\": \"2026-02-12T10:05:00.250Z\", \"message\": \"done\","
					  " \"exit_code\": 0, \"submission_job_status\": \"SUCCEEDED\"}") ", "
		JOB_DEF(SNAKE) ", "
		JOB_LIFE(SNAKE, "AAAB", "{\"state\": \"CREATED\", \"timestamp\": \"2026-02-12T10:00:14.469840Z\"}") "]"
		: "[" JOB_LIFE(CAMEL, "AAAC", "{\"state\": \"FINISHED\", \"timestamp\": \"2026-02-12T10:05:00.250Z\", \"message\": \"done\","
					  " \"exitCode\": 0, \"submissionJobStatus\": \"SUCCEEDED\"}") ", "
		JOB_DEF(CAMEL) ", "
		JOB_LIFE(CAMEL, "AAAB", "{\"state\": \"CREATED\", \"timestamp\": \"2026-02-12T10:00:14.469840Z\"}") "]";
	RayEventBatch *b = parse(body);
	uint8_t    *packed;
	size_t		plen;
	Ray__Rpc__JobTableData *j;

	ok(b && b->n == 3 && b->nentity == 3 && b->nother == 3 && b->nrejected == 0,
	   "%s: three job events read as entities (counted as other events too)", style);
	if (b == NULL)
		return;
	ok(b->items[1].entity->kind == RAY_ENTITY_JOB && b->items[1].entity->nparts == 1 &&
	   b->items[1].entity->parts[0].definition, "%s: the definition is one part", style);
	j = (Ray__Rpc__JobTableData *) merge(&b, 1, RAY_ENTITY_JOB, &packed, &plen);
	ok(j != NULL, "%s: the merged fragments parse as a JobTableData", style);
	if (j)
	{
		ok(j->has_job_id && j->job_id.len == 4 && memcmp(j->job_id.data, "\x01\0\0\0", 4) == 0, "%s: job id", style);
		ok(j->has_driver_pid && j->driver_pid == 4242, "%s: driver pid from a string", style);
		ok(strcmp(j->entrypoint, "python tr\xc3\xa4in.py --\xe6\xbc\x94") == 0, "%s: entrypoint in UTF-8", style);
		ok(j->has_start_time && j->start_time == 1770890414469ULL, "%s: start time from CREATED, in ms", style);
		ok(j->has_end_time && j->end_time == 1770890700250ULL, "%s: end time from FINISHED", style);
		ok(j->has_is_dead && j->is_dead, "%s: dead after FINISHED, though it came first", style);
		ok(j->driver_address && j->driver_address->node_id.len == 28, "%s: the driver's node", style);
		ok(j->job_info && strcmp(j->job_info->status, "SUCCEEDED") == 0 && strcmp(j->job_info->message, "done") == 0 &&
		   j->job_info->has_driver_exit_code && j->job_info->driver_exit_code == 0,
		   "%s: a submission job's status, message and exit code (later versions)", style);
		protobuf_c_message_free_unpacked(&j->base, NULL);
	}
	free(packed);
	ray_event_batch_free(b);
}

#define ACTOR_DEF \
	"{\"eventId\": \"BBBA\", \"eventType\": \"ACTOR_DEFINITION_EVENT\", \"actorDefinitionEvent\": {\"actorId\": \"" ACTOR_B64 "\"," \
	" \"jobId\": \"" JOB_B64 "\", \"isDetached\": true, \"name\": \"\\u6f14\\u5458 \\ud83c\\udfad\", \"rayNamespace\": \"ns\"," \
	" \"serializedRuntimeEnv\": \"\", \"className\": \"Counter\", \"requiredResources\": {\"CPU\": 1.0, \"GPU\": 0.5}," \
	" \"placementGroupId\": \"\", \"labelSelector\": {\"zone\": \"eu-1\"}, \"callSite\": \"x.py:3\", \"parentId\": \"\"}}"
#define ACTOR_LIFE(id, trs) \
	"{\"eventId\": \"" id "\", \"eventType\": \"ACTOR_LIFECYCLE_EVENT\", \"actorLifecycleEvent\": {\"actorId\": \"" ACTOR_B64 "\"," \
	" \"stateTransitions\": [" trs "]}}"
#define T(s, t) "{\"state\": \"" s "\", \"timestamp\": \"2026-02-12T10:00:" t "Z\""

static void
test_actors(void)
{
	const char *life1 = ACTOR_LIFE("BBBB", T("PENDING_CREATION", "01") "}, "
								   T("ALIVE", "02") ", \"nodeId\": \"" NODE_B64 "\", \"workerId\": \"" WORKER_B64 "\","
								   " \"reprName\": \"Counter(1)\", \"pid\": 77, \"port\": 10002}");
	const char *life2 = ACTOR_LIFE("BBBC", T("RESTARTING", "03") ", \"restartReason\": \"LINEAGE_RECONSTRUCTION\"}, "
								   T("ALIVE", "04") ", \"nodeId\": \"" NODE_B64 "\", \"workerId\": \"\", \"pid\": 78}");
	const char *life3 = ACTOR_LIFE("BBBD", T("DEAD", "05.5") ", \"nodeId\": \"\", \"pid\": 0,"
								   " \"deathCause\": {\"actorDiedErrorContext\": {\"errorMessage\": \"killed \\u2620\"}}}");
	char	   *in_order = malloc(8192),
			   *reversed = malloc(8192);
	RayEventBatch *a,
			   *r;
	uint8_t    *pa,
			   *pr;
	size_t		la,
				lr;
	Ray__Rpc__ActorTableData *x;
	const char *msg;

	snprintf(in_order, 8192, "[%s, %s, %s, %s]", ACTOR_DEF, life1, life2, life3);
	snprintf(reversed, 8192, "[%s, %s, %s, %s]", life3, life2, life1, ACTOR_DEF);
	a = parse(in_order);
	r = parse(reversed);
	ok(a && r && a->nentity == 4 && r->nentity == 4 && a->nrejected == 0, "actors: four events read, either order");
	if (a == NULL || r == NULL)
		return;
	is_int((int) a->items[2].entity->parts[0].restart_reason, RAY_RESTART_LINEAGE_RECONSTRUCTION,
		   "actors: RESTARTING keeps its reason");
	is_int((int) a->items[1].entity->parts[0].restart_reason, RAY_ENTITY_NO_REASON, "actors: others have none");
	x = (Ray__Rpc__ActorTableData *) merge(&a, 1, RAY_ENTITY_ACTOR, &pa, &la);
	protobuf_c_message_free_unpacked(merge(&r, 1, RAY_ENTITY_ACTOR, &pr, &lr), NULL);
	ok(la == lr && memcmp(pa, pr, la) == 0, "actors: the same row whatever the arrival order");
	ok(x != NULL, "actors: merged into an ActorTableData");
	if (x)
	{
		ok(x->has_state && x->state == 4, "actors: DEAD, the latest transition");
		ok(x->actor_id.len == 16 && x->job_id.len == 4 && x->is_detached, "actors: ids and detached");
		ok(strcmp(x->name, "\xe6\xbc\x94\xe5\x91\x98 \xf0\x9f\x8e\xad") == 0, "actors: a name with a surrogate pair");
		ok(strcmp(x->class_name, "Counter") == 0 && strcmp(x->ray_namespace, "ns") == 0 &&
		   strcmp(x->call_site, "x.py:3") == 0, "actors: class, namespace, call site");
		ok(x->n_required_resources == 2 && x->required_resources[1]->value == 0.5, "actors: required resources");
		ok(x->n_label_selector == 1 && strcmp(x->label_selector[0]->value, "eu-1") == 0, "actors: label selector");
		ok(!x->has_placement_group_id, "actors: an empty placement group id is none");
		ok(x->has_node_id && x->node_id.len == 27, "actors: the node of the last ALIVE, an empty one later does not blank it");
		ok(x->has_pid && x->pid == 78, "actors: pid of the restart; DEAD's 0 does not blank it");
		ok(x->address && x->address->worker_id.len == 28 && x->address->port == 10002,
		   "actors: worker and port of the first ALIVE kept where the restart sent none");
		ok(strcmp(x->repr_name, "Counter(1)") == 0, "actors: repr name");
		ok(x->has_start_time && x->start_time == 1770890404000ULL, "actors: start of the last ALIVE");
		ok(x->has_end_time && x->end_time == 1770890405500ULL, "actors: end at DEAD");
		ok(strcmp(ray_actor_death_cause(x, &msg) ? ray_actor_death_cause(x, &msg) : "", "actor_died_error_context") == 0 &&
		   strcmp(msg, "killed \xe2\x98\xa0") == 0, "actors: the death cause and its message");
		protobuf_c_message_free_unpacked(&x->base, NULL);
	}
	free(pa);
	free(pr);
	ray_event_batch_free(a);
	ray_event_batch_free(r);
	free(in_order);
	free(reversed);
}

static void
test_nodes(void)
{
	RayEventBatch *b = parse("[{\"event_id\": \"CCCA\", \"event_type\": \"NODE_LIFECYCLE_EVENT\", \"node_lifecycle_event\": {\"node_id\": \"" NODE_B64 "\","
							 " \"state_transitions\": [{\"state\": \"DEAD\", \"timestamp\": \"2026-02-12T11:00:00Z\", \"resources\": {},"
							 " \"death_info\": {\"reason\": \"AUTOSCALER_DRAIN_IDLE\", \"reason_message\": \"idle \\u00e9\"}, \"alive_sub_state\": \"UNSPECIFIED\"},"
							 " {\"state\": \"ALIVE\", \"timestamp\": \"2026-02-12T10:00:00Z\", \"resources\": {\"CPU\": 16.0, \"memory\": 1e10,"
							 " \"node:10.0.0.12\": 1.0}, \"alive_sub_state\": \"DRAINING\"}]}},"
							 " {\"event_id\": \"CCCB\", \"event_type\": 7, \"node_definition_event\": {\"node_id\": \"" NODE_B64 "\","
							 " \"node_ip_address\": \"10.0.0.12\", \"labels\": {\"ray.io/node-id\": \"x\"}, \"start_timestamp\": \"2026-02-12T09:59:59.5Z\","
							 " \"hostname\": \"h\\u00f6st\", \"node_name\": \"10.0.0.12\", \"instance_id\": \"\", \"instance_type_name\": \"m5.large\"}}]");
	uint8_t    *p;
	size_t		l;
	Ray__Rpc__GcsNodeInfo *n;

	ok(b && b->nentity == 2 && b->items[0].entity->nparts == 2, "nodes: snake_case keys, a number for the type");
	if (b == NULL)
		return;
	n = (Ray__Rpc__GcsNodeInfo *) merge(&b, 1, RAY_ENTITY_NODE, &p, &l);
	ok(n != NULL, "nodes: merged into a GcsNodeInfo");
	if (n)
	{
		ok(n->has_state && n->state == 1, "nodes: DEAD, the later transition though listed first");
		ok(n->node_id.len == 27 && strcmp(n->node_manager_address, "10.0.0.12") == 0 &&
		   strcmp(n->node_manager_hostname, "h\xc3\xb6st") == 0, "nodes: id, address, host name");
		ok(n->has_start_time_ms && n->start_time_ms == 1770890399500ULL, "nodes: start from the definition");
		ok(n->has_end_time_ms && n->end_time_ms == 1770894000000ULL, "nodes: end at DEAD");
		ok(n->n_resources_total == 3 && n->resources_total[1]->value == 1e10, "nodes: resources of ALIVE, DEAD's {} adds none");
		ok(n->death_info && n->death_info->reason == 4 && strcmp(n->death_info->reason_message, "idle \xc3\xa9") == 0,
		   "nodes: death reason and message");
		ok(n->instance_id == NULL && strcmp(n->instance_type_name, "m5.large") == 0, "nodes: an empty instance id is none");
		ok(n->n_labels == 1, "nodes: labels");
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
	free(p);
	ray_event_batch_free(b);
}

static void
expect_reject(const char *what, const char *event, const char *reason_has)
{
	char		body[4096];
	RayEventBatch *b;

	snprintf(body, sizeof(body), "[%s]", event);
	b = parse(body);
	ok(b && b->n == 1 && b->nrejected == 1 && b->nentity == 0 && b->items[0].entity == NULL &&
	   strstr(b->items[0].reason, reason_has) != NULL,
	   "rejected: %s (%s)", what, b && b->n ? b->items[0].reason : "no batch");
	ray_event_batch_free(b);
}

#define AL(trs) "{\"eventId\": \"DDDD\", \"eventType\": \"ACTOR_LIFECYCLE_EVENT\", \"actorLifecycleEvent\": {\"actorId\": \"" ACTOR_B64 "\", \"stateTransitions\": [" trs "]}}"
#define ND(f) "{\"eventId\": \"DDDD\", \"eventType\": \"NODE_DEFINITION_EVENT\", \"nodeDefinitionEvent\": {\"nodeId\": \"" NODE_B64 "\", " f "}}"
#define JD(f) "{\"eventId\": \"DDDD\", \"eventType\": \"DRIVER_JOB_DEFINITION_EVENT\", \"driverJobDefinitionEvent\": {\"jobId\": \"" JOB_B64 "\", " f "}}"

static void
test_hostile(void)
{
	RayEventBatch *b;

	expect_reject("a job without id", "{\"eventId\": \"DDDD\", \"eventType\": \"DRIVER_JOB_DEFINITION_EVENT\", \"driverJobDefinitionEvent\": {\"jobId\": \"\"}}", "jobId");
	expect_reject("an actor id not base64", "{\"eventId\": \"DDDD\", \"eventType\": \"ACTOR_DEFINITION_EVENT\", \"actorDefinitionEvent\": {\"actorId\": \"!!\"}}", "actorId");
	expect_reject("a node id of 66 bytes", "{\"eventId\": \"DDDD\", \"eventType\": \"NODE_DEFINITION_EVENT\", \"nodeDefinitionEvent\": {\"nodeId\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}", "nodeId");
	expect_reject("driver pid beyond int64", JD("\"driverPid\": \"9223372036854775808\""), "driverPid");
	expect_reject("driver pid a fraction", JD("\"driverPid\": 1.5"), "driverPid");
	expect_reject("entrypoint a number", JD("\"entrypoint\": 5"), "entrypoint");
	expect_reject("an unknown actor state", AL("{\"state\": \"ZOMBIE\", \"timestamp\": \"2026-01-01T00:00:00Z\"}"), "unknown value");
	expect_reject("an actor state number Ray does not have", AL("{\"state\": 9, \"timestamp\": \"2026-01-01T00:00:00Z\"}"), "unknown state 9");
	expect_reject("a transition without time", AL("{\"state\": \"ALIVE\"}"), "no timestamp");
	expect_reject("a transition before 1970", AL("{\"state\": \"ALIVE\", \"timestamp\": \"1969-12-31T23:59:59Z\"}"), "before 1970");
	expect_reject("a negative pid", AL("{\"state\": \"ALIVE\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"pid\": -1}"), "pid");
	expect_reject("a pid beyond uint32", AL("{\"state\": \"ALIVE\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"pid\": 4294967296}"), "pid");
	expect_reject("an unknown restart reason", AL("{\"state\": \"RESTARTING\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"restartReason\": \"BOREDOM\"}"), "restartReason");
	expect_reject("a death cause not an object", AL("{\"state\": \"DEAD\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"deathCause\": \"x\"}"), "deathCause");
	expect_reject("a transition not an object", AL("7"), "not an object");
	expect_reject("stateTransitions an object", "{\"eventId\": \"DDDD\", \"eventType\": \"NODE_LIFECYCLE_EVENT\", \"nodeLifecycleEvent\": {\"nodeId\": \"" NODE_B64 "\", \"stateTransitions\": {}}}", "not an array");
	expect_reject("a resource as a string", "{\"eventId\": \"DDDD\", \"eventType\": \"NODE_LIFECYCLE_EVENT\", \"nodeLifecycleEvent\": {\"nodeId\": \"" NODE_B64 "\", \"stateTransitions\": [{\"state\": \"ALIVE\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"resources\": {\"CPU\": \"16\"}}]}}", "finite number");
	expect_reject("a label not a string", ND("\"labels\": {\"k\": 1}"), "labels");
	expect_reject("an unknown death reason", "{\"eventId\": \"DDDD\", \"eventType\": \"NODE_LIFECYCLE_EVENT\", \"nodeLifecycleEvent\": {\"nodeId\": \"" NODE_B64 "\", \"stateTransitions\": [{\"state\": \"DEAD\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"deathInfo\": {\"reason\": \"METEOR\"}}]}}", "reason");
	expect_reject("a start timestamp not RFC 3339", ND("\"startTimestamp\": \"yesterday\""), "startTimestamp");
	expect_reject("a job state beyond FINISHED", "{\"eventId\": \"DDDD\", \"eventType\": \"DRIVER_JOB_LIFECYCLE_EVENT\", \"driverJobLifecycleEvent\": {\"jobId\": \"" JOB_B64 "\", \"stateTransitions\": [{\"state\": 3, \"timestamp\": \"2026-01-01T00:00:00Z\"}]}}", "unknown state 3");
	expect_reject("an exit code beyond int32", "{\"eventId\": \"DDDD\", \"eventType\": \"DRIVER_JOB_LIFECYCLE_EVENT\", \"driverJobLifecycleEvent\": {\"jobId\": \"" JOB_B64 "\", \"stateTransitions\": [{\"state\": \"FINISHED\", \"timestamp\": \"2026-01-01T00:00:00Z\", \"exitCode\": 2147483648}]}}", "exitCode");
	expect_reject("a payload not an object", "{\"eventId\": \"DDDD\", \"eventType\": \"ACTOR_LIFECYCLE_EVENT\", \"actorLifecycleEvent\": []}", "actorLifecycleEvent");

	/* Accepted: an empty list, a one-byte id, unknown members, a placement group event. */
	b = parse("[{\"eventId\": \"EEEA\", \"eventType\": \"ACTOR_LIFECYCLE_EVENT\", \"actorLifecycleEvent\": {\"actorId\": \"AQ==\", \"stateTransitions\": []}},"
			  " {\"eventId\": \"EEEB\", \"eventType\": \"NODE_DEFINITION_EVENT\", \"nodeDefinitionEvent\": {\"nodeId\": \"AQ\", \"futureField\": {\"a\": [1]}}},"
			  " {\"eventId\": \"EEEC\", \"eventType\": \"PLACEMENT_GROUP_DEFINITION_EVENT\"}]");
	ok(b && b->nentity == 2 && b->nother == 3 && b->nrejected == 0 && b->items[0].entity->nparts == 0 &&
	   b->items[0].entity->id_len == 1 && b->items[1].entity->id_len == 1,
	   "accepted: no transitions, one-byte ids (padded or not), unknown members; placement groups stay other");
	ray_event_batch_free(b);
}

/* 20,000 actor events in one body (two per actor): all read, each its own. */
static void
test_many(void)
{
	size_t		n = 10000;
	size_t		cap = n * 600 + 16;
	char	   *body = malloc(cap);
	size_t		off = 0;
	RayEventBatch *b;
	bool		all = true;

	off += snprintf(body + off, cap - off, "[");
	for (size_t i = 0; i < n; i++)
		off += snprintf(body + off, cap - off,
						"%s{\"eventId\": \"%08zuAA==\", \"eventType\": \"ACTOR_DEFINITION_EVENT\", \"actorDefinitionEvent\":"
						" {\"actorId\": \"%08zu\", \"name\": \"a%zu\", \"className\": \"C\"}},"
						" {\"eventId\": \"%08zuAQ==\", \"eventType\": \"ACTOR_LIFECYCLE_EVENT\", \"actorLifecycleEvent\":"
						" {\"actorId\": \"%08zu\", \"stateTransitions\": [{\"state\": \"ALIVE\", \"timestamp\": \"2026-01-01T00:00:%02zuZ\","
						" \"pid\": %zu}]}}", i ? ", " : "", i, i, i, i, i, i % 60, i + 1);
	off += snprintf(body + off, cap - off, "]");
	b = parse(body);
	ok(b && b->n == 2 * n && b->nentity == 2 * n, "20,000 actor events in one body all read");
	for (size_t i = 0; b && i < n && all; i++)
	{
		Ray__Rpc__ActorTableData *d = (Ray__Rpc__ActorTableData *) b->items[2 * i].entity->parts[0].row;
		Ray__Rpc__ActorTableData *l = (Ray__Rpc__ActorTableData *) b->items[2 * i + 1].entity->parts[0].row;
		char		name[32];

		snprintf(name, sizeof(name), "a%zu", i);
		all = strcmp(d->name, name) == 0 && l->pid == i + 1 && l->state == 2 && d->actor_id.len == 6;
	}
	ok(all, "each with its name, pid and state");
	ray_event_batch_free(b);
	free(body);
}

int
main(void)
{
	ray_version_parse("2.58.0", &v258);
	test_jobs("camelCase", false);
	test_jobs("snake_case", true);
	test_actors();
	test_nodes();
	test_hostile();
	test_many();
	return tap_done();
}
