/*
 * ray_tasks.c
 *		GetTaskEventsReply -> task rows, with Ray's dashboard derivation.
 *
 * Why each rule (shared/ray-gcs-protocol.md section 6):
 *  - state is the highest TaskStatus number present, because the dashboard
 *    walks the enum in order and keeps the last one it finds;
 *  - the numbers mean different states before and after 2.39, so the
 *    version picks the table;
 *  - up to 2.31 the times were separate fields 2..7, later a map at 14;
 *    we read both, so any version decodes;
 *  - error fields are shown only for FAILED attempts: Ray keeps stale
 *    error_info on attempts that later succeeded.
 */
#include "ray_tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_enums.h"

int64_t
ray_ns_to_ms_floor(int64_t ns)
{
	/* CPython's float_floor_div(float(ns), 1e6), step by step. */
	double		vx = (double) ns;
	double		wx = 1e6;
	double		mod = fmod(vx, wx);
	double		div = (vx - mod) / wx;
	double		floordiv;

	if (mod != 0.0 && ((wx < 0) != (mod < 0)))
		div -= 1.0;
	if (div != 0.0)
	{
		floordiv = floor(div);
		if (div - floordiv > 0.5)
			floordiv += 1.0;
	}
	else
		floordiv = copysign(0.0, vx / wx);
	return (int64_t) floordiv;
}

double
ray_ns_to_ms(int64_t ns)
{
	return (double) ns / 1e6;
}

static RayId
id_of(protobuf_c_boolean has, ProtobufCBinaryData d)
{
	RayId		id = {NULL, 0};

	if (has && d.len > 0)
	{
		id.data = d.data;
		id.len = d.len;
	}
	return id;
}

static int
cmp_event(const void *a, const void *b)
{
	const RayStateEvent *x = a;
	const RayStateEvent *y = b;

	return (x->status > y->status) - (x->status < y->status);
}

/* Add or replace (a later value for the same status wins, as in a map). */
static void
put_event(RayStateEvent *events, int *n, int32_t status, int64_t ns)
{
	for (int i = 0; i < *n; i++)
		if (events[i].status == status)
		{
			events[i].ns = ns;
			return;
		}
	events[*n].status = status;
	events[*n].ns = ns;
	(*n)++;
}

static bool
derive_events(RayTaskReply *r, RayTaskRow *row)
{
	const Ray__Rpc__TaskStateUpdate *su = row->su;
	const RayVersion *v = &r->version;
	size_t		cap;
	int			n = 0;

	row->n_events = 0;
	row->events = NULL;
	row->state = 0;
	if (su == NULL)
		return true;

	cap = su->n_state_ts_ns + 6;
	row->events = ray_arena_alloc(&r->arena, cap * sizeof(RayStateEvent));
	if (row->events == NULL)
		return false;

	/* Ray <= 2.31: one field per state. */
#define LEGACY(field, meaning) \
	if (su->has_##field) \
		put_event(row->events, &n, ray_task_status_number(v, meaning), su->field)
	LEGACY(pending_args_avail_ts, RAY_TS_PENDING_ARGS_AVAIL);
	LEGACY(pending_node_assignment_ts, RAY_TS_PENDING_NODE_ASSIGNMENT);
	LEGACY(submitted_to_worker_ts, RAY_TS_SUBMITTED_TO_WORKER);
	LEGACY(running_ts, RAY_TS_RUNNING);
	LEGACY(finished_ts, RAY_TS_FINISHED);
	LEGACY(failed_ts, RAY_TS_FAILED);
#undef LEGACY

	/* Ray >= 2.32: map<int32, int64> keyed by the version's numbers. */
	for (size_t i = 0; i < su->n_state_ts_ns; i++)
	{
		const Ray__Rpc__TaskStateUpdate__StateTsNsEntry *e = su->state_ts_ns[i];

		put_event(row->events, &n, e->key, e->value);
	}

	if (n > 1)
		qsort(row->events, (size_t) n, sizeof(RayStateEvent), cmp_event);
	row->n_events = n;
	if (n > 0)
		row->state = row->events[n - 1].status;

	for (int i = 0; i < n; i++)
	{
		int64_t		ms = ray_ns_to_ms_floor(row->events[i].ns);

		switch (ray_task_status_meaning(v, row->events[i].status))
		{
			case RAY_TS_PENDING_ARGS_AVAIL:
				row->has_creation_ms = true;
				row->creation_ms = ms;
				break;
			case RAY_TS_RUNNING:
				row->has_start_ms = true;
				row->start_ms = ms;
				break;
			case RAY_TS_FINISHED:
				/* FAILED wins if both are present; it sorts after FINISHED. */
				row->has_end_ms = true;
				row->end_ms = ms;
				break;
			case RAY_TS_FAILED:
				row->has_end_ms = true;
				row->end_ms = ms;
				break;
			default:
				break;
		}
	}
	return true;
}

/*
 * An ACTOR_TASK whose name is its func_or_class_name and that carries
 * actor_repr_name is shown as "<actor_repr_name>.<method>".
 */
static bool
derive_name(RayTaskReply *r, RayTaskRow *row)
{
	const Ray__Rpc__TaskInfoEntry *info = row->info;
	const char *repr = row->su ? row->su->actor_repr_name : NULL;
	const char *method;
	size_t		lrepr;
	size_t		lmethod;
	char	   *name;

	row->name = info ? info->name : NULL;
	if (info == NULL || repr == NULL || repr[0] == '\0' ||
		(info->has_type ? info->type : 0) != 2 /* ACTOR_TASK */ ||
		info->name == NULL || info->func_or_class_name == NULL ||
		strcmp(info->name, info->func_or_class_name) != 0)
		return true;

	method = strrchr(info->name, '.');
	method = method ? method + 1 : info->name;
	lrepr = strlen(repr);
	lmethod = strlen(method);
	name = ray_arena_alloc(&r->arena, lrepr + 1 + lmethod + 1);
	if (name == NULL)
		return false;
	memcpy(name, repr, lrepr);
	name[lrepr] = '.';
	memcpy(name + lrepr + 1, method, lmethod + 1);
	row->name = name;
	return true;
}

static bool
derive_error(RayTaskReply *r, RayTaskRow *row)
{
	const Ray__Rpc__RayErrorInfo *e = row->su ? row->su->error_info : NULL;

	if (e == NULL ||
		ray_task_status_meaning(&r->version, row->state) != RAY_TS_FAILED)
		return true;
	/* proto3 error_type: absent means 0 (WORKER_DIED), as Ray shows it. */
	row->has_error_type = true;
	row->error_type = e->has_error_type ? e->error_type : 0;
	if (e->error_message != NULL)
	{
		size_t		n = strlen(e->error_message);
		RayBuf		b;

		if (memchr(e->error_message, '\x1b', n) == NULL)
			row->error_message = e->error_message;
		else
		{
			char	   *copy;

			ray_buf_init(&b, r->alloc);
			ray_buf_strip_ansi(&b, e->error_message, n);
			if (b.oom)
			{
				ray_buf_free(&b);
				return false;
			}
			copy = ray_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
			ray_buf_free(&b);
			if (copy == NULL)
				return false;
			row->error_message = copy;
		}
	}
	return true;
}

RayStatus
ray_task_reply_decode(const uint8_t *buf, size_t len, const RayVersion *v,
					  ProtobufCAllocator *alloc, RayTaskReply **out,
					  char *err, size_t errlen)
{
	RayTaskReply *r;
	Ray__Rpc__GetTaskEventsReply *msg;
	RayArena	arena;

	*out = NULL;
	if (len > RAY_MAX_MESSAGE_SIZE)
	{
		snprintf(err, errlen, "reply of %zu bytes exceeds the %zu-byte limit",
				 len, RAY_MAX_MESSAGE_SIZE);
		return RAY_ERR_TOO_LARGE;
	}
	msg = ray__rpc__get_task_events_reply__unpack(alloc, len, buf);
	if (msg == NULL)
	{
		snprintf(err, errlen,
				 "malformed GetTaskEventsReply (%zu bytes): not a valid protobuf message",
				 len);
		return RAY_ERR_MALFORMED;
	}

	ray_arena_init(&arena, alloc);
	r = ray_arena_alloc(&arena, sizeof(RayTaskReply));
	if (r == NULL)
		goto oom;
	memset(r, 0, sizeof(*r));
	r->arena = arena;
	r->alloc = alloc;
	r->msg = msg;
	r->version = *v;
	r->status_code = (msg->status && msg->status->has_code) ? msg->status->code : 0;
	r->status_message = (msg->status && msg->status->message) ? msg->status->message : "";
	r->num_profile_task_events_dropped = msg->num_profile_task_events_dropped;
	r->num_status_task_events_dropped = msg->num_status_task_events_dropped;
	r->num_total_stored = msg->num_total_stored;
	r->num_filtered_on_gcs = msg->num_filtered_on_gcs;
	r->num_truncated = msg->num_truncated;

	r->nrows = msg->n_events_by_task;
	if (r->nrows > 0)
	{
		r->rows = ray_arena_alloc(&r->arena, r->nrows * sizeof(RayTaskRow));
		if (r->rows == NULL)
			goto oom_reply;
		memset(r->rows, 0, r->nrows * sizeof(RayTaskRow));
	}

	for (size_t i = 0; i < r->nrows; i++)
	{
		const Ray__Rpc__TaskEvents *ev = msg->events_by_task[i];
		const Ray__Rpc__TaskInfoEntry *info = ev->task_info;
		const Ray__Rpc__TaskStateUpdate *su = ev->state_updates;
		RayTaskRow *row = &r->rows[i];

		row->ev = ev;
		row->info = info;
		row->su = su;

		/* TaskEvents carries task and job ids; TaskInfoEntry repeats them. */
		row->task_id = id_of(ev->has_task_id, ev->task_id);
		if (row->task_id.len == 0 && info)
			row->task_id = id_of(info->has_task_id, info->task_id);
		row->job_id = id_of(ev->has_job_id, ev->job_id);
		if (row->job_id.len == 0 && info)
			row->job_id = id_of(info->has_job_id, info->job_id);
		if (info)
		{
			row->parent_task_id = id_of(info->has_parent_task_id, info->parent_task_id);
			row->actor_id = id_of(info->has_actor_id, info->actor_id);
			row->placement_group_id = id_of(info->has_placement_group_id,
											info->placement_group_id);
			row->node_id = id_of(info->has_node_id, info->node_id);
		}
		if (su)
		{
			/* Where the attempt ran, as reported by its worker, wins. */
			if (su->has_node_id && su->node_id.len > 0)
				row->node_id = id_of(su->has_node_id, su->node_id);
			row->worker_id = id_of(su->has_worker_id, su->worker_id);
		}

		if (!derive_events(r, row) || !derive_name(r, row) || !derive_error(r, row))
			goto oom_reply;
	}

	*out = r;
	return RAY_OK;

oom_reply:
	arena = r->arena;
oom:
	ray_arena_free(&arena);
	ray__rpc__get_task_events_reply__free_unpacked(msg, alloc);
	snprintf(err, errlen, "out of memory decoding a GetTaskEventsReply of %zu bytes", len);
	return RAY_ERR_OOM;
}

void
ray_task_reply_free(RayTaskReply *reply)
{
	Ray__Rpc__GetTaskEventsReply *msg;
	ProtobufCAllocator *alloc;
	RayArena	arena;

	if (reply == NULL)
		return;
	msg = reply->msg;
	alloc = reply->alloc;
	arena = reply->arena;		/* the reply itself lives in the arena */
	ray_arena_free(&arena);
	ray__rpc__get_task_events_reply__free_unpacked(msg, alloc);
}

const char *
ray_task_state_text(const RayTaskReply *r, const RayTaskRow *row, char *buf)
{
	return ray_enum_text(ray_task_status_name(&r->version, row->state), row->state, buf);
}

const char *
ray_task_type_text(const RayTaskRow *row, char *buf)
{
	int			t = (row->info && row->info->has_type) ? row->info->type : 0;

	return ray_enum_text(ray_task_type_name(t), t, buf);
}

const char *
ray_task_language_text(const RayTaskRow *row, char *buf)
{
	int			l = (row->info && row->info->has_language) ? row->info->language : 0;

	return ray_enum_text(ray_language_name(l), l, buf);
}

const char *
ray_task_error_type_text(const RayTaskRow *row, char *buf)
{
	if (!row->has_error_type)
		return NULL;
	return ray_enum_text(ray_error_type_name(row->error_type), row->error_type, buf);
}
