/*
 * ray_tasks.c
 *		GetTaskEventsReply -> task rows, with Ray's dashboard derivation.
 *
 * Why each rule (the Ray dashboard's protobuf_to_task_state_dict, as
 * test/fixtures/ray-wire/README.md writes it down):
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
#include "ray_wire.h"

static void release_row(RayTaskReply *r);

/*
 * Ray's created_ms = ns // 1e6 is CPython float floor division: ns is first
 * rounded to a double, then divided. For |ns| < 2^63 the quotient is below
 * 2^53, where CPython's fmod-based algorithm gives exactly the floor of the
 * double's integer value divided by 10^6, so integer arithmetic on the
 * rounded value reproduces it (the unit tests pin the cases where rounding
 * carries into the next millisecond) without a libm call per event.
 */
int64_t
ray_ns_to_ms_floor(int64_t ns)
{
	double		d = (double) ns;
	int64_t		i;
	int64_t		q;

	/* 2^63 itself is not an int64: only ns near INT64_MAX rounds there. */
	if (d >= 9223372036854775808.0)
		return (int64_t) (9223372036854775808.0 / 1e6);
	i = (int64_t) d;
	q = i / 1000000;
	if (i % 1000000 != 0 && i < 0)
		q--;
	return q;
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

/*
 * From the collected events: sort by TaskStatus number, take the state
 * (the highest) and the creation, start and end times.
 */
static void
finish_events(const RayVersion *v, RayTaskRow *row, int n)
{
	if (n > 1)
		qsort(row->events, (size_t) n, sizeof(RayStateEvent), cmp_event);
	row->n_events = n;
	row->state = n > 0 ? row->events[n - 1].status : 0;

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
			case RAY_TS_FAILED:
				/* FAILED sorts after FINISHED, so it wins if both are present. */
				row->has_end_ms = true;
				row->end_ms = ms;
				break;
			default:
				break;
		}
	}
}

/* The legacy per-state fields of TaskStateUpdate (Ray <= 2.31), in order. */
static const RayTaskState legacy_states[6] = {
	RAY_TS_PENDING_ARGS_AVAIL, RAY_TS_PENDING_NODE_ASSIGNMENT, RAY_TS_SUBMITTED_TO_WORKER,
	RAY_TS_RUNNING, RAY_TS_FINISHED, RAY_TS_FAILED,
};

static bool
derive_events(RayTaskReply *r, RayArena *arena, RayTaskRow *row)
{
	const Ray__Rpc__TaskStateUpdate *su = row->su;
	const RayVersion *v = &r->version;
	int			n = 0;
	const protobuf_c_boolean has[6] = {
		su ? su->has_pending_args_avail_ts : 0, su ? su->has_pending_node_assignment_ts : 0,
		su ? su->has_submitted_to_worker_ts : 0, su ? su->has_running_ts : 0,
		su ? su->has_finished_ts : 0, su ? su->has_failed_ts : 0,
	};
	const int64_t ts[6] = {
		su ? su->pending_args_avail_ts : 0, su ? su->pending_node_assignment_ts : 0,
		su ? su->submitted_to_worker_ts : 0, su ? su->running_ts : 0,
		su ? su->finished_ts : 0, su ? su->failed_ts : 0,
	};

	row->n_events = 0;
	row->events = NULL;
	row->state = 0;
	if (su == NULL)
		return true;

	row->events = ray_arena_alloc(arena, (su->n_state_ts_ns + 6) * sizeof(RayStateEvent));
	if (row->events == NULL)
		return false;

	/* Ray <= 2.31: one field per state; then Ray >= 2.32's map, which wins. */
	for (int i = 0; i < 6; i++)
		if (has[i])
			put_event(row->events, &n, ray_task_status_number(v, legacy_states[i]), ts[i]);
	for (size_t i = 0; i < su->n_state_ts_ns; i++)
		put_event(row->events, &n, su->state_ts_ns[i]->key, su->state_ts_ns[i]->value);
	finish_events(v, row, n);
	return true;
}

/*
 * An ACTOR_TASK whose name is its func_or_class_name and that carries
 * actor_repr_name is shown as "<actor_repr_name>.<method>".
 */
static bool
derive_name(RayArena *arena, RayTaskRow *row)
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
	name = ray_arena_alloc(arena, lrepr + 1 + lmethod + 1);
	if (name == NULL)
		return false;
	memcpy(name, repr, lrepr);
	name[lrepr] = '.';
	memcpy(name + lrepr + 1, method, lmethod + 1);
	row->name = name;
	return true;
}

static bool
derive_error(RayTaskReply *r, RayArena *arena, RayTaskRow *row)
{
	const Ray__Rpc__RayErrorInfo *e = row->su ? row->su->error_info : NULL;

	if (e == NULL ||
		ray_task_status_meaning(&r->version, row->state) != RAY_TS_FAILED)
		return true;
	/* proto3 error_type: absent means 0 (WORKER_DIED), as Ray shows it. */
	row->has_error_type = true;
	row->error_type = e->has_error_type ? e->error_type : 0;
	/*
	 * proto3 error_message likewise: an error_info without one is shown as
	 * "" (protobuf_to_task_state_dict: error_info.get("error_message", "")),
	 * not null; the pushed events' converter gives the same.
	 */
	if (e->error_message == NULL)
		row->error_message = "";
	else
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
			copy = ray_arena_strndup(arena, b.data ? b.data : "", b.len);
			ray_buf_free(&b);
			if (copy == NULL)
				return false;
			row->error_message = copy;
		}
	}
	return true;
}

/*
 * One attempt's row: ids, then Ray's derivation. Derived values come from
 * arena; the row points into ev for everything else.
 */
static bool
derive_row(RayTaskReply *r, RayArena *arena, RayTaskRow *row, const Ray__Rpc__TaskEvents *ev)
{
	const Ray__Rpc__TaskInfoEntry *info = ev->task_info;
	const Ray__Rpc__TaskStateUpdate *su = ev->state_updates;

	memset(row, 0, sizeof(*row));
	row->ev = ev;
	row->info = info;
	row->su = su;
	row->attempt_number = ev->attempt_number;

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
		row->placement_group_id = id_of(info->has_placement_group_id, info->placement_group_id);
		row->node_id = id_of(info->has_node_id, info->node_id);
	}
	if (su)
	{
		/* Where the attempt ran, as reported by its worker, wins. */
		if (su->has_node_id && su->node_id.len > 0)
			row->node_id = id_of(su->has_node_id, su->node_id);
		row->worker_id = id_of(su->has_worker_id, su->worker_id);
	}
	return derive_events(r, arena, row) && derive_name(arena, row) && derive_error(r, arena, row);
}

/*
 * The reply of msg: counters, then each attempt's row. owned: msg came from
 * ray__rpc__get_task_events_reply__unpack and is freed with the reply;
 * otherwise the caller keeps it (and everything it points to) alive until
 * ray_task_reply_free. what names the input in messages.
 */
/* A new, empty reply in an arena of its own (the reply lives in it). */
static RayTaskReply *
reply_new(ProtobufCAllocator *alloc, const RayVersion *v)
{
	RayArena	arena;
	RayTaskReply *r;

	ray_arena_init(&arena, alloc);
	r = ray_arena_alloc(&arena, sizeof(RayTaskReply));
	if (r == NULL)
	{
		ray_arena_free(&arena);
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->arena = arena;
	r->alloc = alloc;
	r->version = *v;
	r->status_message = "";
	return r;
}

/* r->rows for nrows decoded attempts, zeroed; false when out of memory. */
static bool
reply_rows(RayTaskReply *r, size_t nrows)
{
	if (nrows == 0)
		return true;
	r->rows = ray_arena_alloc(&r->arena, nrows * sizeof(RayTaskRow));
	if (r->rows == NULL)
		return false;
	memset(r->rows, 0, nrows * sizeof(RayTaskRow));
	return true;
}

/*
 * Why no reply was made, worded once for every way of decoding one: frees
 * r (the reply under construction, or NULL) and says st about what (the
 * input) of len bytes. Any status but these three is a malformed reply.
 */
static RayStatus
reply_fail(RayTaskReply *r, RayStatus st, const char *what, size_t len, char *err, size_t errlen)
{
	if (r != NULL)
	{
		RayArena	arena = r->arena;

		ray_arena_free(&arena);
	}
	switch (st)
	{
		case RAY_ERR_TOO_LARGE:
			snprintf(err, errlen, "reply of %zu bytes exceeds the %zu-byte limit",
					 len, RAY_MAX_MESSAGE_SIZE);
			break;
		case RAY_ERR_CANCELLED:
			snprintf(err, errlen, "cancelled while decoding %s", what);
			break;
		case RAY_ERR_OOM:
			snprintf(err, errlen, "out of memory decoding %s", what);
			break;
		default:
			st = RAY_ERR_MALFORMED;
			snprintf(err, errlen,
					 "malformed GetTaskEventsReply (%zu bytes): not a valid protobuf message", len);
			break;
	}
	return st;
}

/*
 * The reply of msg: counters, then each attempt's row. owned: msg came from
 * ray__rpc__get_task_events_reply__unpack and is freed with the reply;
 * otherwise the caller keeps it (and everything it points to) alive until
 * ray_task_reply_free. what names the input in messages.
 */
static RayStatus
reply_of_message(Ray__Rpc__GetTaskEventsReply *msg, bool owned, const RayVersion *v,
				 ProtobufCAllocator *alloc, const char *what, RayTaskReply **out,
				 char *err, size_t errlen)
{
	RayTaskReply *r = reply_new(alloc, v);

	if (r == NULL)
		return reply_fail(NULL, RAY_ERR_OOM, what, 0, err, errlen);
	r->msg = owned ? msg : NULL;
	r->status_code = (msg->status && msg->status->has_code) ? msg->status->code : 0;
	r->status_message = (msg->status && msg->status->message) ? msg->status->message : "";
	r->num_profile_task_events_dropped = msg->num_profile_task_events_dropped;
	r->num_status_task_events_dropped = msg->num_status_task_events_dropped;
	r->num_total_stored = msg->num_total_stored;
	r->num_filtered_on_gcs = msg->num_filtered_on_gcs;
	r->num_truncated = msg->num_truncated;

	r->nrows = msg->n_events_by_task;
	if (!reply_rows(r, r->nrows))
		return reply_fail(r, RAY_ERR_OOM, what, 0, err, errlen);
	for (size_t i = 0; i < r->nrows; i++)
	{
		if (!derive_row(r, &r->arena, &r->rows[i], msg->events_by_task[i]))
			return reply_fail(r, RAY_ERR_OOM, what, 0, err, errlen);
		r->rows[i].index = i;
		if (i % RAY_INTERRUPT_EVERY == RAY_INTERRUPT_EVERY - 1 && ray_interrupted())
			return reply_fail(r, RAY_ERR_CANCELLED, what, 0, err, errlen);
	}
	*out = r;
	return RAY_OK;
}

RayStatus
ray_task_reply_decode(const uint8_t *buf, size_t len, const RayVersion *v,
					  ProtobufCAllocator *alloc, RayTaskReply **out,
					  char *err, size_t errlen)
{
	Ray__Rpc__GetTaskEventsReply *msg;
	char		what[96];
	RayStatus	st;

	*out = NULL;
	snprintf(what, sizeof(what), "a GetTaskEventsReply of %zu bytes", len);
	if (len > RAY_MAX_MESSAGE_SIZE)
		return reply_fail(NULL, RAY_ERR_TOO_LARGE, what, len, err, errlen);
	msg = ray__rpc__get_task_events_reply__unpack(alloc, len, buf);
	if (msg == NULL)
		return reply_fail(NULL, RAY_ERR_MALFORMED, what, len, err, errlen);
	st = reply_of_message(msg, true, v, alloc, what, out, err, errlen);
	if (st != RAY_OK)
		ray__rpc__get_task_events_reply__free_unpacked(msg, alloc);
	return st;
}

RayStatus
ray_task_reply_from_events(Ray__Rpc__GetTaskEventsReply *msg, const RayVersion *v,
						   ProtobufCAllocator *alloc, RayTaskReply **out,
						   char *err, size_t errlen)
{
	char		what[96];

	*out = NULL;
	snprintf(what, sizeof(what), "%zu task attempts", msg->n_events_by_task);
	return reply_of_message(msg, false, v, alloc, what, out, err, errlen);
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
	if (reply->slice_data)
		release_row(reply);
	ray_arena_free(&arena);
	if (msg)
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
ray_task_error_type_text(const RayTaskReply *r, const RayTaskRow *row, char *buf)
{
	if (!row->has_error_type)
		return NULL;
	/* Named as the server's version declares it (ray_error_type_name_v). */
	return ray_enum_text(ray_error_type_name_v(&r->version, row->error_type), row->error_type, buf);
}

/* ---------------------------------------------------------------------
 * Keys only: task_id, job_id, attempt_number and the states, from the wire.
 *
 * Protobuf semantics the full decoder gets from protobuf-c, reproduced
 * here: a scalar field seen twice keeps the last value; a message field
 * seen twice is merged (so every state_updates occurrence contributes, its
 * legacy fields last-wins, its map entries appended in order).
 * --------------------------------------------------------------------- */

static RayId
id_slice(const RayWireField *f)
{
	RayId		id;

	id.data = f->len > 0 ? f->data : NULL;
	id.len = f->len;
	return id;
}

/*
 * Copy an id slice into the reply's arena. Key rows are kept after the
 * reply's bytes are freed (a keys-only scan frees a 500 MB reply as soon as
 * it is walked), so nothing in a row may point into those bytes.
 */
static bool
own_id(RayArena *arena, RayId *id)
{
	uint8_t    *copy;

	if (id->len == 0)
		return true;
	copy = ray_arena_alloc(arena, id->len);
	if (copy == NULL)
		return false;
	memcpy(copy, id->data, id->len);
	id->data = copy;
	return true;
}

/* Count map entries in every state_updates occurrence of one TaskEvents. */
static size_t
count_state_entries(const uint8_t *ev, size_t len, bool *bad)
{
	RayWireReader r;
	RayWireField f;
	size_t		n = 0;

	ray_wire_init(&r, ev, len);
	while (ray_wire_next(&r, &f))
		if (f.number == 4 && f.type == RAY_WIRE_LEN)
		{
			RayWireReader s;
			RayWireField g;

			ray_wire_init(&s, f.data, f.len);
			while (ray_wire_next(&s, &g))
				if (g.number == 14 && g.type == RAY_WIRE_LEN)
					n++;
			*bad |= s.error;
		}
	*bad |= r.error;
	return n;
}

/*
 * The ids TaskInfoEntry repeats (task 7, job 6), the fallbacks for a
 * TaskEvents whose top level lacks them: the last of each over every
 * task_info occurrence, as protobuf merges them. Set only when present.
 */
static bool
info_ids(const uint8_t *ev, size_t len, RayId *task_id, RayId *job_id)
{
	RayWireReader rd;
	RayWireField f;

	ray_wire_init(&rd, ev, len);
	while (ray_wire_next(&rd, &f))
		if (f.number == 3 && f.type == RAY_WIRE_LEN)
		{
			RayWireReader s;
			RayWireField g;

			ray_wire_init(&s, f.data, f.len);
			while (ray_wire_next(&s, &g))
				if (g.type == RAY_WIRE_LEN && g.number == 7)
					*task_id = id_slice(&g);
				else if (g.type == RAY_WIRE_LEN && g.number == 6)
					*job_id = id_slice(&g);
			if (s.error)
				return false;
		}
	return !rd.error;
}

static bool
keys_row(RayTaskReply *r, RayTaskRow *row, const uint8_t *ev, size_t len)
{
	RayWireReader rd;
	RayWireField f;
	bool		bad = false;
	size_t		nmap = count_state_entries(ev, len, &bad);
	RayStateEvent *map;
	size_t		imap = 0;
	bool		has_legacy[6] = {false, false, false, false, false, false};
	int64_t		legacy[6] = {0, 0, 0, 0, 0, 0};
	RayId		info_task = {NULL, 0},
				info_job = {NULL, 0};
	bool		has_info = false;
	int			n = 0;

	if (bad)
		return false;
	row->events = ray_arena_alloc(&r->arena, (nmap + 6) * sizeof(RayStateEvent));
	map = ray_arena_alloc(&r->arena, (nmap + 1) * sizeof(RayStateEvent));
	if (row->events == NULL || map == NULL)
		return false;

	ray_wire_init(&rd, ev, len);
	while (ray_wire_next(&rd, &f))
	{
		if (f.number == 1 && f.type == RAY_WIRE_LEN)
			row->task_id = id_slice(&f);
		else if (f.number == 6 && f.type == RAY_WIRE_LEN)
			row->job_id = id_slice(&f);
		else if (f.number == 2 && f.type == RAY_WIRE_VARINT)
			row->attempt_number = (int32_t) f.varint;
		else if (f.number == 3 && f.type == RAY_WIRE_LEN)
			has_info = true;	/* read below, only if an id is missing */
		else if (f.number == 4 && f.type == RAY_WIRE_LEN)
		{
			RayWireReader s;
			RayWireField g;

			ray_wire_init(&s, f.data, f.len);
			while (ray_wire_next(&s, &g))
			{
				if (g.number >= 2 && g.number <= 7 && g.type == RAY_WIRE_VARINT)
				{
					has_legacy[g.number - 2] = true;
					legacy[g.number - 2] = (int64_t) g.varint;
				}
				else if (g.number == 14 && g.type == RAY_WIRE_LEN)
				{
					RayWireReader e;
					RayWireField h;
					int32_t		key = 0;
					int64_t		value = 0;

					ray_wire_init(&e, g.data, g.len);
					while (ray_wire_next(&e, &h))
						if (h.number == 1 && h.type == RAY_WIRE_VARINT)
							key = (int32_t) h.varint;
						else if (h.number == 2 && h.type == RAY_WIRE_VARINT)
							value = (int64_t) h.varint;
					if (e.error || imap >= nmap)
						return false;
					map[imap].status = key;
					map[imap].ns = value;
					imap++;
				}
			}
			if (s.error)
				return false;
		}
	}
	if (rd.error)
		return false;

	/*
	 * TaskInfoEntry repeats the ids (7 and 6): fallbacks when the top level
	 * lacks them. Its other fields are many (names, resources, runtime
	 * env), so it is walked only then; every occurrence, as protobuf merges
	 * them. A damaged task_info is refused only when read, which the full
	 * decoder would refuse too (the fuzzer checks the keys agree wherever
	 * it accepts).
	 */
	if (has_info && (row->task_id.len == 0 || row->job_id.len == 0) &&
		!info_ids(ev, len, &info_task, &info_job))
		return false;

	if (row->task_id.len == 0)
		row->task_id = info_task;
	if (row->job_id.len == 0)
		row->job_id = info_job;
	/* The rows outlive the reply's bytes: the caller may free them now. */
	if (!own_id(&r->arena, &row->task_id) || !own_id(&r->arena, &row->job_id))
		return false;
	for (int i = 0; i < 6; i++)
		if (has_legacy[i])
			put_event(row->events, &n, ray_task_status_number(&r->version, legacy_states[i]),
					  legacy[i]);
	for (size_t i = 0; i < imap; i++)
		put_event(row->events, &n, map[i].status, map[i].ns);
	finish_events(&r->version, row, n);
	return true;
}

/*
 * The task_id and attempt_number keys_row would give, read without the
 * states: the last field 1 and 2 at the top (scalars: last wins), and if the
 * id is empty, the last id (7) of the merged task_info occurrences.
 */
static bool
attempt_key(const uint8_t *ev, size_t len, RayId *task_id, int32_t *attempt)
{
	RayWireReader rd;
	RayWireField f;
	RayId		job_id = {NULL, 0};

	task_id->data = NULL;
	task_id->len = 0;
	*attempt = 0;
	ray_wire_init(&rd, ev, len);
	while (ray_wire_next(&rd, &f))
		if (f.number == 1 && f.type == RAY_WIRE_LEN)
			*task_id = id_slice(&f);
		else if (f.number == 2 && f.type == RAY_WIRE_VARINT)
			*attempt = (int32_t) f.varint;
	if (rd.error)
		return false;
	if (task_id->len > 0)
		return true;
	return info_ids(ev, len, task_id, &job_id);
}

/* The reply's GcsStatus {code = 1, message = 2}, from field f. */
static RayStatus
read_status(RayTaskReply *r, const RayWireField *f)
{
	RayWireReader s;
	RayWireField g;

	ray_wire_init(&s, f->data, f->len);
	while (ray_wire_next(&s, &g))
		if (g.number == 1 && g.type == RAY_WIRE_VARINT)
			r->status_code = (int32_t) g.varint;
		else if (g.number == 2 && g.type == RAY_WIRE_LEN)
		{
			char	   *m = ray_arena_strndup(&r->arena, (const char *) g.data, g.len);

			if (m == NULL)
				return RAY_ERR_OOM;
			r->status_message = m;
		}
	return s.error ? RAY_ERR_MALFORMED : RAY_OK;
}

/* GetTaskEventsReply's counters (fields 3 to 7); other fields are ignored. */
static void
read_counter(RayTaskReply *r, const RayWireField *f)
{
	if (f->type != RAY_WIRE_VARINT)
		return;
	switch (f->number)
	{
		case 3:
			r->num_profile_task_events_dropped = (int32_t) f->varint;
			break;
		case 4:
			r->num_status_task_events_dropped = (int32_t) f->varint;
			break;
		case 5:
			r->num_total_stored = (int64_t) f->varint;
			break;
		case 6:
			r->num_filtered_on_gcs = (int64_t) f->varint;
			break;
		case 7:
			r->num_truncated = (int64_t) f->varint;
			break;
	}
}

/*
 * The collector's question, asked of every attempt before any row is made:
 * *skip gets a bit per attempt (in reply order), set if known() knows it,
 * and r->nknown counts them.
 */
static RayStatus
ask_known(RayTaskReply *r, const uint8_t *buf, size_t len, size_t nslices,
		  RayKnownAttemptFn known, void *known_ctx, uint8_t **skip)
{
	RayWireReader rd;
	RayWireField f;
	size_t		slice = 0;

	*skip = ray_arena_alloc(&r->arena, (nslices + 7) / 8);
	if (*skip == NULL)
		return RAY_ERR_OOM;
	memset(*skip, 0, (nslices + 7) / 8);
	ray_wire_init(&rd, buf, len);
	while (ray_wire_next(&rd, &f))
		if (f.number == 2 && f.type == RAY_WIRE_LEN)
		{
			RayId		id;
			int32_t		attempt;

			if (!attempt_key(f.data, f.len, &id, &attempt))
				return RAY_ERR_MALFORMED;
			if (known(known_ctx, id.data, id.len, attempt, f.len))
			{
				(*skip)[slice / 8] |= (uint8_t) (1u << (slice % 8));
				r->nknown++;
			}
			if (++slice % RAY_INTERRUPT_EVERY == 0 && ray_interrupted())
				return RAY_ERR_CANCELLED;
		}
	return RAY_OK;
}

/*
 * The walk proper: status, counters, and per attempt not skipped either
 * where its bytes are (index_only) or its keys row, in r's arrays.
 */
static RayStatus
read_attempts(RayTaskReply *r, const uint8_t *buf, size_t len, bool index_only,
			  const uint8_t *skip)
{
	RayWireReader rd;
	RayWireField f;
	size_t		slice = 0;
	size_t		i = 0;

	ray_wire_init(&rd, buf, len);
	while (ray_wire_next(&rd, &f))
	{
		switch (f.number)
		{
			case 1:
				if (f.type == RAY_WIRE_LEN)
				{
					RayStatus	st = read_status(r, &f);

					if (st == RAY_ERR_OOM)
						return RAY_ERR_OOM;
					if (st != RAY_OK)
						return RAY_ERR_MALFORMED;
				}
				break;
			case 2:
				if (f.type == RAY_WIRE_LEN)
				{
					if (slice % RAY_INTERRUPT_EVERY == RAY_INTERRUPT_EVERY - 1 &&
						ray_interrupted())
						return RAY_ERR_CANCELLED;
					if (skip != NULL && (skip[slice / 8] & (1u << (slice % 8))))
					{
						slice++;
						break;
					}
					if (index_only)
					{
						r->slice_data[i] = f.data;
						r->slice_len[i] = f.len;
					}
					else
					{
						if (!keys_row(r, &r->rows[i], f.data, f.len))
							return RAY_ERR_MALFORMED;
						r->rows[i].index = slice;
						r->rows[i].entry_len = f.len;
					}
					i++;
					slice++;
				}
				break;
			default:
				read_counter(r, &f);
				break;
		}
	}
	return RAY_OK;
}

/*
 * One walk over the reply's top level: status, counters, and per attempt
 * either its keys (keys_row) or, to index, just where its bytes are. With
 * known, attempts it knows are skipped (ray_task_reply_decode_new_keys).
 */
static RayStatus
walk_reply(const uint8_t *buf, size_t len, const RayVersion *v, ProtobufCAllocator *alloc,
		   bool index_only, RayKnownAttemptFn known, void *known_ctx,
		   RayTaskReply **out, char *err, size_t errlen)
{
	uint8_t    *skip = NULL;	/* with known: bit per attempt, set if known */
	size_t		nslices;
	RayTaskReply *r;
	RayWireReader rd;
	RayWireField f;
	size_t		nrows = 0;
	char		what[96];
	RayStatus	st = RAY_OK;

	*out = NULL;
	snprintf(what, sizeof(what), "a GetTaskEventsReply of %zu bytes", len);
	if (len > RAY_MAX_MESSAGE_SIZE)
		return reply_fail(NULL, RAY_ERR_TOO_LARGE, what, len, err, errlen);

	/* First pass: framing, and the number of attempts. */
	ray_wire_init(&rd, buf, len);
	while (ray_wire_next(&rd, &f))
		if (f.number == 2 && f.type == RAY_WIRE_LEN &&
			++nrows % RAY_INTERRUPT_EVERY == 0 && ray_interrupted())
			return reply_fail(NULL, RAY_ERR_CANCELLED, what, len, err, errlen);
	if (rd.error)
		return reply_fail(NULL, RAY_ERR_MALFORMED, what, len, err, errlen);

	if ((r = reply_new(alloc, v)) == NULL)
		return reply_fail(NULL, RAY_ERR_OOM, what, len, err, errlen);
	nslices = nrows;
	if (known != NULL && nslices > 0)
	{
		/* Ask about every attempt first, so rows are made only for the rest. */
		if ((st = ask_known(r, buf, len, nslices, known, known_ctx, &skip)) != RAY_OK)
			return reply_fail(r, st, what, len, err, errlen);
		nrows -= r->nknown;
	}
	r->nrows = nrows;
	ray_arena_init(&r->row_arena, alloc);
	if (nrows > 0 && index_only)
	{
		r->slice_data = ray_arena_alloc(&r->arena, nrows * sizeof(uint8_t *));
		r->slice_len = ray_arena_alloc(&r->arena, nrows * sizeof(size_t));
		if (r->slice_data == NULL || r->slice_len == NULL)
			st = RAY_ERR_OOM;
	}
	else if (!reply_rows(r, nrows))
		st = RAY_ERR_OOM;
	if (st == RAY_OK)
		st = read_attempts(r, buf, len, index_only, skip);
	if (st != RAY_OK)
		return reply_fail(r, st, what, len, err, errlen);
	*out = r;
	return RAY_OK;
}

RayStatus
ray_task_reply_decode_keys(const uint8_t *buf, size_t len, const RayVersion *v,
						   ProtobufCAllocator *alloc, RayTaskReply **out,
						   char *err, size_t errlen)
{
	return walk_reply(buf, len, v, alloc, false, NULL, NULL, out, err, errlen);
}

RayStatus
ray_task_reply_decode_new_keys(const uint8_t *buf, size_t len, const RayVersion *v,
							   ProtobufCAllocator *alloc, RayKnownAttemptFn known, void *ctx,
							   RayTaskReply **out, char *err, size_t errlen)
{
	return walk_reply(buf, len, v, alloc, false, known, ctx, out, err, errlen);
}

RayStatus
ray_task_reply_index(const uint8_t *buf, size_t len, const RayVersion *v,
					 ProtobufCAllocator *alloc, RayTaskReply **out,
					 char *err, size_t errlen)
{
	return walk_reply(buf, len, v, alloc, true, NULL, NULL, out, err, errlen);
}

static void
release_row(RayTaskReply *r)
{
	if (r->row_ev)
		ray__rpc__task_events__free_unpacked(r->row_ev, r->alloc);
	r->row_ev = NULL;
	ray_arena_free(&r->row_arena);
}

RayStatus
ray_task_reply_row(RayTaskReply *r, size_t i, const RayTaskRow **row, char *err, size_t errlen)
{
	*row = NULL;
	if (r->slice_data == NULL && r->rows != NULL && i < r->nrows)
	{
		*row = &r->rows[i];		/* a reply decoded in full */
		return RAY_OK;
	}
	if (r->slice_data == NULL || i >= r->nrows)
	{
		snprintf(err, errlen, "row %zu is not in this reply", i);
		return RAY_ERR_UNSUPPORTED;
	}
	release_row(r);
	r->row_ev = ray__rpc__task_events__unpack(r->alloc, r->slice_len[i], r->slice_data[i]);
	if (r->row_ev == NULL)
	{
		snprintf(err, errlen, "malformed TaskEvents (attempt %zu of %zu, %zu bytes)",
				 i + 1, r->nrows, r->slice_len[i]);
		return RAY_ERR_MALFORMED;
	}
	if (!derive_row(r, &r->row_arena, &r->row, r->row_ev))
	{
		snprintf(err, errlen, "out of memory decoding attempt %zu", i + 1);
		return RAY_ERR_OOM;
	}
	r->row.index = i;
	*row = &r->row;
	return RAY_OK;
}
