/*
 * ray_requests.c
 *		GetTaskEventsRequest in both filter layouts; CheckAlive reply.
 */
#include "ray_requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_buf.h"
#include "ray_cluster.h"
#include "ray_gcs.pb-c.h"
#include "ray_utf8.h"

#define MAX_ID_LEN 28
#define MAX_TASK_FILTERS 64

/* The member at byte offset off of a protobuf-c message, as a type. */
#define AT(msg, off, type) ((type *) ((char *) (msg) + (off)))

static const char *const field_names[] = {"job_id", "task_id", "actor_id", "name", "state"};

size_t
ray_task_filter_id_len(RayTaskFilterField field)
{
	switch (field)
	{
		case RAY_TF_JOB_ID:
			return 4;
		case RAY_TF_TASK_ID:
			return 24;
		case RAY_TF_ACTOR_ID:
			return 16;
		default:
			return 0;
	}
}

bool
ray_task_filter_supported(RayTaskFilterField field, RayPredicate pred, const RayVersion *v)
{
	if (field == RAY_TF_STATE && !ray_version_has_state_filter(v))
		return false;
	if (pred == RAY_PRED_NE && ray_version_filter_layout(v) != RAY_FILTERS_PREDICATE)
		return false;
	return pred == RAY_PRED_EQ || pred == RAY_PRED_NE;
}

bool
ray_task_filter_id_valid(RayTaskFilterField field, const char *value)
{
	uint8_t		tmp[MAX_ID_LEN];
	size_t		len = ray_task_filter_id_len(field);

	return len > 0 && value != NULL && ray_hex_decode(value, tmp, len);
}

static void *
xalloc(ProtobufCAllocator *alloc, size_t n)
{
	return alloc ? alloc->alloc(alloc->allocator_data, n) : malloc(n);
}

/*
 * Check every filter before building anything: the version can take it,
 * IDs are well formed, and the scalar layout gets at most one value for
 * its single-valued fields.
 */
static RayStatus
validate(const RayTaskQuery *q, const RayVersion *v, char *err, size_t errlen)
{
	int			seen[5] = {0, 0, 0, 0, 0};
	bool		scalar = ray_version_filter_layout(v) == RAY_FILTERS_SCALAR;

	if (q->nfilters > MAX_TASK_FILTERS)
	{
		snprintf(err, errlen, "too many task filters (%d)", q->nfilters);
		return RAY_ERR_UNSUPPORTED;
	}
	if (q->has_limit && q->limit < 0)
	{
		snprintf(err, errlen, "limit %lld is negative", (long long) q->limit);
		return RAY_ERR_UNSUPPORTED;
	}
	for (int i = 0; i < q->nfilters; i++)
	{
		const RayTaskFilter *f = &q->filters[i];

		if ((int) f->field < 0 || (int) f->field > RAY_TF_STATE || f->value == NULL)
		{
			snprintf(err, errlen, "filter %d is incomplete", i);
			return RAY_ERR_UNSUPPORTED;
		}
		if (!ray_task_filter_supported(f->field, f->pred, v))
		{
			snprintf(err, errlen, "Ray %d.%d cannot filter tasks by %s %s",
					 v->major, v->minor, field_names[f->field],
					 f->pred == RAY_PRED_NE ? "<>" : "=");
			return RAY_ERR_UNSUPPORTED;
		}
		if (ray_task_filter_id_len(f->field) > 0 &&
			!ray_task_filter_id_valid(f->field, f->value))
		{
			snprintf(err, errlen, "%s \"%.80s\" is not %zu hex-encoded bytes",
					 field_names[f->field], f->value,
					 ray_task_filter_id_len(f->field));
			return RAY_ERR_BAD_ID;
		}
		if (scalar && f->field != RAY_TF_TASK_ID && seen[f->field]++ > 0)
		{
			snprintf(err, errlen, "Ray %d.%d takes one %s filter per request",
					 v->major, v->minor, field_names[f->field]);
			return RAY_ERR_UNSUPPORTED;
		}
	}
	return RAY_OK;
}

/* Decoded ID bytes live in one scratch block freed after packing. */
static ProtobufCBinaryData
id_bytes(const RayTaskFilter *f, uint8_t *scratch)
{
	ProtobufCBinaryData d;

	d.len = ray_task_filter_id_len(f->field);
	d.data = scratch;
	(void) ray_hex_decode(f->value, scratch, d.len);
	return d;
}

static RayStatus
pack(const ProtobufCMessage *m, ProtobufCAllocator *alloc,
	 uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	size_t		n = protobuf_c_message_get_packed_size(m);

	*out = xalloc(alloc, n > 0 ? n : 1);
	if (*out == NULL)
	{
		snprintf(err, errlen, "out of memory encoding a request");
		return RAY_ERR_OOM;
	}
	*outlen = protobuf_c_message_pack(m, *out);
	return RAY_OK;
}

/*
 * What both layouts share, at the same field numbers in both: the
 * request's limit (3) and filters (4), and the filters' exclude_driver (5).
 * The filters are sent when they hold anything, as Ray's client does.
 */
static RayStatus
pack_request(ProtobufCMessage *req, ProtobufCMessage *filters, const RayTaskQuery *q,
			 ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *limit = protobuf_c_message_descriptor_get_field(req->descriptor, 3);
	const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field(req->descriptor, 4);
	const ProtobufCFieldDescriptor *xd = protobuf_c_message_descriptor_get_field(filters->descriptor, 5);

	*AT(filters, xd->quantifier_offset, protobuf_c_boolean) = q->has_exclude_driver;
	*AT(filters, xd->offset, protobuf_c_boolean) = q->exclude_driver;
	if (q->nfilters > 0 || q->has_exclude_driver)
		*AT(req, fs->offset, ProtobufCMessage *) = filters;
	*AT(req, limit->quantifier_offset, protobuf_c_boolean) = q->has_limit;
	*AT(req, limit->offset, int64_t) = q->limit;
	return pack(req, alloc, out, outlen, err, errlen);
}

/* Ray 2.9 .. 2.40's layout: one field per filter, task ids repeated. */
static void
fill_scalar(const RayTaskQuery *q, Ray__Rpc__GetTaskEventsRequestLegacy__Filters *filters,
			uint8_t *scratch)
{
	for (int i = 0; i < q->nfilters; i++)
	{
		const RayTaskFilter *f = &q->filters[i];
		uint8_t    *s = scratch + (size_t) i * MAX_ID_LEN;

		switch (f->field)
		{
			case RAY_TF_JOB_ID:
				filters->has_job_id = true;
				filters->job_id = id_bytes(f, s);
				break;
			case RAY_TF_TASK_ID:
				filters->task_ids[filters->n_task_ids++] = id_bytes(f, s);
				break;
			case RAY_TF_ACTOR_ID:
				filters->has_actor_id = true;
				filters->actor_id = id_bytes(f, s);
				break;
			case RAY_TF_NAME:
				filters->name = (char *) f->value;
				break;
			case RAY_TF_STATE:
				filters->state = (char *) f->value;
				break;
		}
	}
}

/*
 * Ray 2.41's layout: one repeated {predicate = 1, value = 2} message per
 * field. The five messages have that one shape, so a table names each
 * field's member of Filters and protobuf-c's descriptors locate the rest:
 * there is no block per message to keep in step.
 */
static const char *const predicate_members[] = {
	[RAY_TF_JOB_ID] = "job_filters",
	[RAY_TF_TASK_ID] = "task_filters",
	[RAY_TF_ACTOR_ID] = "actor_filters",
	[RAY_TF_NAME] = "task_name_filters",
	[RAY_TF_STATE] = "state_filters",
};
#define NMEMBERS (sizeof(predicate_members) / sizeof(predicate_members[0]))

/* Storage for any one of the five filter messages. */
typedef union PredicateFilter
{
	ProtobufCMessage base;
	Ray__Rpc__GetTaskEventsRequest__Filters__JobIdFilter job;
	Ray__Rpc__GetTaskEventsRequest__Filters__TaskIdFilter task;
	Ray__Rpc__GetTaskEventsRequest__Filters__ActorIdFilter actor;
	Ray__Rpc__GetTaskEventsRequest__Filters__TaskNameFilter name;
	Ray__Rpc__GetTaskEventsRequest__Filters__StateFilter state;
} PredicateFilter;

/* The member of Filters that holds a field's filters. */
static const ProtobufCFieldDescriptor *
predicate_member(RayTaskFilterField field)
{
	return protobuf_c_message_descriptor_get_field_by_name(
		&ray__rpc__get_task_events_request__filters__descriptor, predicate_members[field]);
}

/* Fill m as f's filter message and append it to its member of filters. */
static void
add_predicate_filter(Ray__Rpc__GetTaskEventsRequest__Filters *filters, const RayTaskFilter *f,
					 PredicateFilter *m, uint8_t *scratch)
{
	const ProtobufCFieldDescriptor *list = predicate_member(f->field);
	const ProtobufCMessageDescriptor *d = list->descriptor;
	const ProtobufCFieldDescriptor *pred = protobuf_c_message_descriptor_get_field(d, 1);
	const ProtobufCFieldDescriptor *val = protobuf_c_message_descriptor_get_field(d, 2);
	size_t	   *n = AT(filters, list->quantifier_offset, size_t);
	ProtobufCMessage **arr = *AT(filters, list->offset, ProtobufCMessage **);

	protobuf_c_message_init(d, m);

	/*
	 * EQUAL is 0, proto3's default: Ray never puts it on the wire, so we
	 * set the predicate only for NOT_EQUAL.
	 */
	*AT(m, pred->quantifier_offset, protobuf_c_boolean) = f->pred != RAY_PRED_EQ;
	*AT(m, pred->offset, int32_t) = (int32_t) f->pred;
	if (val->type == PROTOBUF_C_TYPE_BYTES)
	{
		*AT(m, val->quantifier_offset, protobuf_c_boolean) = true;
		*AT(m, val->offset, ProtobufCBinaryData) = id_bytes(f, scratch);
	}
	else
		*AT(m, val->offset, char *) = (char *) f->value;
	arr[(*n)++] = &m->base;
}

/* msgs: storage for a message per filter; lists: for each member's list. */
static void
fill_predicate(const RayTaskQuery *q, Ray__Rpc__GetTaskEventsRequest__Filters *filters,
			   PredicateFilter *msgs, ProtobufCMessage *(*lists)[MAX_TASK_FILTERS], uint8_t *scratch)
{
	for (size_t k = 0; k < NMEMBERS; k++)
		*AT(filters, predicate_member((RayTaskFilterField) k)->offset, ProtobufCMessage **) = lists[k];
	for (int i = 0; i < q->nfilters; i++)
		add_predicate_filter(filters, &q->filters[i], &msgs[i],
							 scratch + (size_t) i * MAX_ID_LEN);
}

RayStatus
ray_task_request_encode(const RayTaskQuery *q, const RayVersion *v,
						ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen,
						char *err, size_t errlen)
{
	uint8_t		scratch[MAX_TASK_FILTERS * MAX_ID_LEN];
	Ray__Rpc__GetTaskEventsRequestLegacy scalar = RAY__RPC__GET_TASK_EVENTS_REQUEST_LEGACY__INIT;
	Ray__Rpc__GetTaskEventsRequestLegacy__Filters scalar_filters =
		RAY__RPC__GET_TASK_EVENTS_REQUEST_LEGACY__FILTERS__INIT;
	ProtobufCBinaryData task_ids[MAX_TASK_FILTERS];
	Ray__Rpc__GetTaskEventsRequest predicate = RAY__RPC__GET_TASK_EVENTS_REQUEST__INIT;
	Ray__Rpc__GetTaskEventsRequest__Filters predicate_filters =
		RAY__RPC__GET_TASK_EVENTS_REQUEST__FILTERS__INIT;
	PredicateFilter msgs[MAX_TASK_FILTERS];
	ProtobufCMessage *lists[NMEMBERS][MAX_TASK_FILTERS];
	RayStatus	st;

	*out = NULL;
	*outlen = 0;
	st = validate(q, v, err, errlen);
	if (st != RAY_OK)
		return st;
	if (ray_version_filter_layout(v) == RAY_FILTERS_PREDICATE)
	{
		fill_predicate(q, &predicate_filters, msgs, lists, scratch);
		return pack_request(&predicate.base, &predicate_filters.base, q, alloc, out, outlen,
							err, errlen);
	}
	scalar_filters.task_ids = task_ids;
	fill_scalar(q, &scalar_filters, scratch);
	return pack_request(&scalar.base, &scalar_filters.base, q, alloc, out, outlen, err, errlen);
}

RayStatus
ray_check_alive_reply_decode(const uint8_t *buf, size_t len, char *version, size_t vlen,
							 int32_t *status_code, char *err, size_t errlen)
{
	Ray__Rpc__CheckAliveReply *msg;
	RayStatus	st = RAY_OK;

	version[0] = '\0';
	*status_code = 0;
	msg = ray__rpc__check_alive_reply__unpack(NULL, len, buf);
	if (msg == NULL)
	{
		snprintf(err, errlen, "malformed CheckAliveReply (%zu bytes)", len);
		return RAY_ERR_MALFORMED;
	}
	if (msg->status && msg->status->has_code)
		*status_code = msg->status->code;
	if (*status_code != 0)
	{
		/*
		 * The GCS answered with its own error (a gRPC OK carrying a
		 * GcsStatus): that, not the absent version, is what went wrong.
		 */
		const char *m = msg->status->message ? msg->status->message : "";

		snprintf(err, errlen, "status %d: %s", (int) *status_code,
				 ray_utf8_valid(m, strlen(m)) ? m : "(a message that is not valid UTF-8)");
		st = RAY_ERR_RPC;
	}
	else if (msg->ray_version == NULL || msg->ray_version[0] == '\0')
	{
		snprintf(err, errlen, "CheckAliveReply carries no ray_version");
		st = RAY_ERR_MALFORMED;
	}
	else if (strlen(msg->ray_version) >= vlen)
	{
		snprintf(err, errlen, "ray_version in CheckAliveReply is too long");
		st = RAY_ERR_MALFORMED;
	}
	else
		strcpy(version, msg->ray_version);
	ray__rpc__check_alive_reply__free_unpacked(msg, NULL);
	return st;
}

/* ---------------------------------------------------------------------
 * GetAllActorInfoRequest (same on every version), GetAllNodeInfoRequest
 * (none before 2.36; Filters in 2.36..2.48; selectors from 2.49),
 * GetAllJobInfoRequest (job_or_submission_id from 2.37) and
 * GetAllWorkerInfoRequest (Filters.is_alive from 2.36).
 * --------------------------------------------------------------------- */

size_t
ray_cluster_filter_id_len(int field)
{
	switch (field)
	{
		case RAY_CF_ACTOR_ID:
			return 16;
		case RAY_CF_ACTOR_JOB_ID:
			return 4;
		case RAY_CF_NODE_ID:
			return 28;
		case RAY_CF_JOB_ID:
			return 4;
		default:
			return 0;
	}
}

bool
ray_cluster_filter_supported(int field, const RayVersion *v)
{
	if (field == RAY_CF_NODE_ID || field == RAY_CF_NODE_STATE)
		return ray_version_has(v, RAY_FACT_NODE_REQUEST_FILTERS);
	if (field == RAY_CF_WORKER_ALIVE)
		return ray_version_has(v, RAY_FACT_WORKER_ALIVE_FILTER);
	if (field == RAY_CF_JOB_ID)
		return ray_version_has(v, RAY_FACT_JOB_ID_FILTER);
	return field == RAY_CF_ACTOR_ID || field == RAY_CF_ACTOR_JOB_ID || field == RAY_CF_ACTOR_STATE;
}

int
ray_cluster_state_number(int field, const char *name)
{
	const char *(*namer) (int) = field == RAY_CF_ACTOR_STATE ? ray_actor_state_name
		: field == RAY_CF_NODE_STATE ? ray_node_state_name : NULL;

	if (namer == NULL || name == NULL)
		return -1;
	for (int i = 0; i < 8; i++)
		if (namer(i) && strcmp(namer(i), name) == 0)
			return i;
	return -1;
}

/*
 * Check the filters of a list request before encoding any: each is one the
 * version can take, at most one per slot, and its value is well formed.
 * Decoded IDs go to ids[0] (actor or node id) and ids[1] (an actor's job).
 */
static RayStatus
validate_cluster_filters(int kind, const RayTaskFilter *filters, int nfilters,
						 const RayVersion *v, uint8_t ids[2][MAX_ID_LEN],
						 char *err, size_t errlen)
{
	bool		seen[3] = {false, false, false};

	for (int i = 0; i < nfilters; i++)
	{
		const RayTaskFilter *f = &filters[i];
		size_t		idlen = ray_cluster_filter_id_len((int) f->field);
		int			slot = (int) f->field % 100;

		if (f->pred != RAY_PRED_EQ || !ray_cluster_filter_supported((int) f->field, v) ||
			slot > 2 || seen[slot])
		{
			snprintf(err, errlen, "Ray %d.%d cannot take this filter on %s",
					 v->major, v->minor, kind == RAY_RESOURCE_ACTORS ? "actors" : "nodes");
			return RAY_ERR_UNSUPPORTED;
		}
		seen[slot] = true;
		if (idlen > 0 && (int) f->field != RAY_CF_JOB_ID &&
			!ray_hex_decode(f->value, ids[slot == 0 ? 0 : 1], idlen))
		{
			snprintf(err, errlen, "\"%.80s\" is not %zu hex-encoded bytes", f->value, idlen);
			return RAY_ERR_BAD_ID;
		}
		if ((int) f->field == RAY_CF_WORKER_ALIVE)
		{
			if (strcmp(f->value, "true") != 0 && strcmp(f->value, "false") != 0)
			{
				snprintf(err, errlen, "is_alive filter \"%.20s\" is not true or false", f->value);
				return RAY_ERR_UNSUPPORTED;
			}
		}
		else if ((int) f->field == RAY_CF_JOB_ID)
		{
			uint8_t		tmp[4];

			if (!ray_hex_decode(f->value, tmp, 4))
			{
				snprintf(err, errlen, "\"%.80s\" is not a job id", f->value);
				return RAY_ERR_BAD_ID;
			}
		}
		else if (idlen == 0 && ray_cluster_state_number((int) f->field, f->value) < 0)
		{
			snprintf(err, errlen, "\"%.80s\" is not a state", f->value);
			return RAY_ERR_UNSUPPORTED;
		}
	}
	return RAY_OK;
}

/* GetAllActorInfoRequest: the same on every version. */
static RayStatus
encode_actors(const RayTaskFilter *filters, int nfilters, int64_t limit,
			  uint8_t ids[2][MAX_ID_LEN], ProtobufCAllocator *alloc,
			  uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Ray__Rpc__GetAllActorInfoRequest req = RAY__RPC__GET_ALL_ACTOR_INFO_REQUEST__INIT;
	Ray__Rpc__GetAllActorInfoRequest__Filters fl = RAY__RPC__GET_ALL_ACTOR_INFO_REQUEST__FILTERS__INIT;

	for (int i = 0; i < nfilters; i++)
	{
		const RayTaskFilter *f = &filters[i];

		if ((int) f->field == RAY_CF_ACTOR_ID)
		{
			fl.has_actor_id = true;
			fl.actor_id.data = ids[0];
			fl.actor_id.len = 16;
		}
		else if ((int) f->field == RAY_CF_ACTOR_JOB_ID)
		{
			fl.has_job_id = true;
			fl.job_id.data = ids[1];
			fl.job_id.len = 4;
		}
		else
		{
			fl.has_state = true;
			fl.state = ray_cluster_state_number((int) f->field, f->value);
		}
	}
	if (nfilters > 0)
		req.filters = &fl;
	req.has_limit = limit >= 0;
	req.limit = limit;
	return pack(&req.base, alloc, out, outlen, err, errlen);
}

/*
 * A node request's filters, validated: whether one names a node (its id is
 * in ids[0]) and the state number asked for, -1 for none.
 */
static void
node_filters(const RayTaskFilter *filters, int nfilters, bool *by_id, int *state)
{
	*by_id = false;
	*state = -1;
	for (int i = 0; i < nfilters; i++)
	{
		if ((int) filters[i].field == RAY_CF_NODE_ID)
			*by_id = true;
		else
			*state = ray_cluster_state_number(RAY_CF_NODE_STATE, filters[i].value);
	}
}

/*
 * GetAllNodeInfoRequest with fields, in the version's layout: from 2.49
 * node_selectors and state_filter (RAY_FACT_NODE_SELECTORS), in 2.36..2.48
 * Filters {node_id, state}. The layouts are incompatible on the wire.
 */
static RayStatus
encode_nodes(const RayTaskFilter *filters, int nfilters, int64_t limit, bool selectors,
			 uint8_t ids[2][MAX_ID_LEN], ProtobufCAllocator *alloc,
			 uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Ray__Rpc__GetAllNodeInfoRequest req = RAY__RPC__GET_ALL_NODE_INFO_REQUEST__INIT;
	Ray__Rpc__GetAllNodeInfoRequest__NodeSelector sel = RAY__RPC__GET_ALL_NODE_INFO_REQUEST__NODE_SELECTOR__INIT;
	Ray__Rpc__GetAllNodeInfoRequest__NodeSelector *selp = &sel;
	Ray__Rpc__GetAllNodeInfoRequestV236 old = RAY__RPC__GET_ALL_NODE_INFO_REQUEST_V236__INIT;
	Ray__Rpc__GetAllNodeInfoRequestV236__Filters fl = RAY__RPC__GET_ALL_NODE_INFO_REQUEST_V236__FILTERS__INIT;
	ProtobufCBinaryData id = {28, ids[0]};
	bool		by_id;
	int			state;

	node_filters(filters, nfilters, &by_id, &state);
	if (selectors)
	{
		req.has_limit = limit >= 0;
		req.limit = limit;
		if (by_id)
		{
			sel.has_node_id = true;
			sel.node_id = id;
			req.n_node_selectors = 1;
			req.node_selectors = &selp;
		}
		req.has_state_filter = state >= 0;
		req.state_filter = state;
		return pack(&req.base, alloc, out, outlen, err, errlen);
	}
	old.has_limit = limit >= 0;
	old.limit = limit;
	if (by_id)
	{
		fl.has_node_id = true;
		fl.node_id = id;
	}
	fl.has_state = state >= 0;
	fl.state = state;
	if (nfilters > 0)
		old.filters = &fl;
	return pack(&old.base, alloc, out, outlen, err, errlen);
}

/* GetAllJobInfoRequest: 2.37+, one id, matched against job and submission ids. */
static RayStatus
encode_jobs(const RayTaskFilter *filters, int nfilters, ProtobufCAllocator *alloc,
			uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Ray__Rpc__GetAllJobInfoRequest req = RAY__RPC__GET_ALL_JOB_INFO_REQUEST__INIT;

	req.job_or_submission_id = (char *) filters[0].value;
	if (nfilters > 1)
	{
		snprintf(err, errlen, "GetAllJobInfo takes one job id");
		return RAY_ERR_UNSUPPORTED;
	}
	return pack(&req.base, alloc, out, outlen, err, errlen);
}

/* GetAllWorkerInfoRequest: Filters.is_alive, 2.36+. */
static RayStatus
encode_workers(const RayTaskFilter *filters, int nfilters, ProtobufCAllocator *alloc,
			   uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	Ray__Rpc__GetAllWorkerInfoRequest req = RAY__RPC__GET_ALL_WORKER_INFO_REQUEST__INIT;
	Ray__Rpc__GetAllWorkerInfoRequest__Filters fl = RAY__RPC__GET_ALL_WORKER_INFO_REQUEST__FILTERS__INIT;

	if (nfilters > 1)
	{
		snprintf(err, errlen, "GetAllWorkerInfo takes one liveness filter");
		return RAY_ERR_UNSUPPORTED;
	}
	fl.has_is_alive = true;
	fl.is_alive = strcmp(filters[0].value, "true") == 0;
	req.filters = &fl;
	return pack(&req.base, alloc, out, outlen, err, errlen);
}

RayStatus
ray_cluster_request_encode(int kind, const RayTaskFilter *filters, int nfilters,
						   int64_t limit, const RayVersion *v, ProtobufCAllocator *alloc,
						   uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	uint8_t		ids[2][MAX_ID_LEN];
	RayStatus	st;

	*out = NULL;
	*outlen = 0;
	st = validate_cluster_filters(kind, filters, nfilters, v, ids, err, errlen);
	if (st != RAY_OK)
		return st;
	if (kind == RAY_RESOURCE_ACTORS)
		return encode_actors(filters, nfilters, limit, ids, alloc, out, outlen, err, errlen);
	if (kind == RAY_RESOURCE_NODES)
	{
		/* Before 2.36 the request had no fields: send it empty. */
		if ((nfilters == 0 && limit < 0) || !ray_version_has(v, RAY_FACT_NODE_REQUEST_FILTERS))
			return pack(&(Ray__Rpc__GetAllNodeInfoRequest) RAY__RPC__GET_ALL_NODE_INFO_REQUEST__INIT.base,
						alloc, out, outlen, err, errlen);
		return encode_nodes(filters, nfilters, limit, ray_version_has(v, RAY_FACT_NODE_SELECTORS),
							ids, alloc, out, outlen, err, errlen);
	}
	if (kind == RAY_RESOURCE_JOBS && nfilters > 0)
		return encode_jobs(filters, nfilters, alloc, out, outlen, err, errlen);
	if (kind == RAY_RESOURCE_WORKERS && nfilters > 0)
		return encode_workers(filters, nfilters, alloc, out, outlen, err, errlen);
	/* Otherwise (no filter, or placement groups): the empty request. */
	if (nfilters > 0 || limit >= 0)
	{
		snprintf(err, errlen, "this list call takes no filters");
		return RAY_ERR_UNSUPPORTED;
	}
	return RAY_OK;
}
