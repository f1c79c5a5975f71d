/*
 * ray_tasks.h
 *		Decode a GetTaskEventsReply into task rows, as Ray's State API does.
 *
 * One row per TaskEvents entry (one per task attempt). The row keeps a
 * pointer to the unpacked protobuf for plain fields and adds what Ray's
 * dashboard derives (protobuf_to_task_state_dict): the state, the ordered
 * state events, creation/start/end times, the actor-task name and the
 * error fields that are shown only for FAILED attempts. The rules are in
 * test/fixtures/ray-wire/README.md.
 *
 * PostgreSQL-free: the extension, the unit tests and the fuzzer share it.
 */
#ifndef RAY_TASKS_H
#define RAY_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray_gcs.pb-c.h"
#include "ray_arena.h"
#include "ray_buf.h"
#include "ray_status.h"
#include "ray_version.h"

/* One TaskStatus present in state_ts_ns (or the legacy *_ts fields). */
typedef struct RayStateEvent
{
	int32_t		status;			/* TaskStatus number, by the version */
	int64_t		ns;				/* unix ns, as Ray sent it */
} RayStateEvent;

/* An ID field: absent or empty means SQL NULL. */
typedef struct RayId
{
	const uint8_t *data;
	size_t		len;			/* 0: null */
} RayId;

typedef struct RayTaskRow
{
	size_t		index;			/* the attempt's position in the reply */
	size_t		entry_len;		/* its TaskEvents bytes (keys passes only) */

	/* NULL in rows from ray_task_reply_decode_keys, or if Ray sent none */
	const Ray__Rpc__TaskEvents *ev;
	const Ray__Rpc__TaskInfoEntry *info;
	const Ray__Rpc__TaskStateUpdate *su;

	int32_t		attempt_number;

	RayId		task_id;
	RayId		job_id;
	RayId		parent_task_id;
	RayId		actor_id;
	RayId		node_id;
	RayId		worker_id;
	RayId		placement_group_id;

	int32_t		state;			/* highest TaskStatus present; 0 (NIL) if none */
	int			n_events;
	RayStateEvent *events;		/* ascending TaskStatus number */

	bool		has_creation_ms;
	bool		has_start_ms;
	bool		has_end_ms;
	int64_t		creation_ms;	/* PENDING_ARGS_AVAIL */
	int64_t		start_ms;		/* RUNNING */
	int64_t		end_ms;			/* FAILED, else FINISHED */

	const char *name;			/* after the actor-task naming rule */

	/* Only when state is FAILED (Ray's rule), else absent. */
	bool		has_error_type;
	int32_t		error_type;
	const char *error_message;	/* ANSI codes removed; NULL if absent */
} RayTaskRow;

typedef struct RayTaskReply
{
	Ray__Rpc__GetTaskEventsReply *msg;
	RayVersion	version;

	int32_t		status_code;	/* GcsStatus.code: 0 = OK */
	const char *status_message; /* "" if none */

	int64_t		num_profile_task_events_dropped;
	int64_t		num_status_task_events_dropped;
	int64_t		num_total_stored;
	int64_t		num_filtered_on_gcs;
	int64_t		num_truncated;

	size_t		nrows;
	RayTaskRow *rows;			/* NULL for a reply from ray_task_reply_index */
	size_t		nknown;			/* attempts ray_task_reply_decode_new_keys skipped */

	ProtobufCAllocator *alloc;
	RayArena	arena;

	/* ray_task_reply_index: each attempt's bytes, and the row in hand. */
	const uint8_t **slice_data;
	size_t	   *slice_len;
	Ray__Rpc__TaskEvents *row_ev;
	RayArena	row_arena;
	RayTaskRow	row;
} RayTaskReply;

/*
 * Decode buf (a serialized GetTaskEventsReply) for a server of version v.
 * On RAY_OK *out holds the reply (free it with ray_task_reply_free);
 * otherwise *out is NULL and err says what was wrong. alloc may be NULL
 * (malloc). A non-zero GcsStatus is not a decoding error: check
 * status_code.
 */
extern RayStatus ray_task_reply_decode(const uint8_t *buf, size_t len,
									   const RayVersion *v,
									   ProtobufCAllocator *alloc,
									   RayTaskReply **out,
									   char *err, size_t errlen);
extern void ray_task_reply_free(RayTaskReply *reply);

/*
 * The rows of a GetTaskEventsReply built in memory rather than read from
 * the wire: the dashboard's JSON parsed into TaskEvents, or events pushed
 * by Ray's aggregator merged per attempt. Rows are derived exactly as by
 * ray_task_reply_decode. The caller keeps msg, and everything it points to,
 * alive until ray_task_reply_free (which does not free msg).
 */
extern RayStatus ray_task_reply_from_events(Ray__Rpc__GetTaskEventsReply *msg,
											const RayVersion *v,
											ProtobufCAllocator *alloc,
											RayTaskReply **out,
											char *err, size_t errlen);

/*
 * Like ray_task_reply_decode, but reads only the keys and states: in each
 * row only task_id, job_id, attempt_number, the events and what derives
 * from them (state, creation/start/end) are set; ev, info and su are NULL.
 * It walks the wire bytes without unpacking (src/ray/ray_wire.c), so it is
 * much cheaper, for queries that need nothing else (the collector uses
 * ray_task_reply_decode_new_keys, below).
 * On valid input it gives exactly the full decoder's values for those
 * fields (the fuzzer checks this). The rows own copies of their ids, so buf
 * may be freed as soon as this returns (a keys-only scan of a 500 MB reply
 * frees it at once).
 */
extern RayStatus ray_task_reply_decode_keys(const uint8_t *buf, size_t len,
											const RayVersion *v,
											ProtobufCAllocator *alloc,
											RayTaskReply **out,
											char *err, size_t errlen);

/*
 * The collector's keys pass: ray_task_reply_decode_keys for the attempts the
 * caller does not know yet. Of every attempt only task_id and attempt_number
 * are read first (the values the full decoder would give), and
 * known(ctx, task_id, len, attempt, entry_len) decides (entry_len: the
 * size of the attempt's TaskEvents bytes, which grows with every event Ray
 * adds, so that a caller can tell an attempt that changed since it saw
 * it): for a known attempt nothing else is read and no row is made; the
 * others are decoded as by ray_task_reply_decode_keys. rows then holds
 * only those, in reply order, each with its position in the reply in
 * row->index and that size in row->entry_len; nknown counts the
 * skipped. An idle poll of a full GCS is then one lookup per attempt.
 * Bytes inside a known attempt beyond its keys are not read, so damage
 * there is not seen (the attempt needs nothing from them). The task_id
 * passed to known() points into buf and is valid only during the call.
 */
typedef bool (*RayKnownAttemptFn) (void *ctx, const uint8_t *task_id, size_t len,
								   int32_t attempt, size_t entry_len);
extern RayStatus ray_task_reply_decode_new_keys(const uint8_t *buf, size_t len,
												const RayVersion *v,
												ProtobufCAllocator *alloc,
												RayKnownAttemptFn known, void *ctx,
												RayTaskReply **out,
												char *err, size_t errlen);

/*
 * Streaming decode, for scans: index the reply (status, counters and where
 * each attempt's bytes are, without unpacking anything), then unpack and
 * derive one attempt at a time. Peak memory is the reply plus one attempt,
 * not the whole unpacked reply. buf must outlive the reply. The row from
 * ray_task_reply_row is valid until the next call or ray_task_reply_free.
 * ray_task_reply_row also reads a reply decoded in full (ray_task_reply_decode
 * or _from_events): then it returns rows[i], valid as long as the reply.
 */
extern RayStatus ray_task_reply_index(const uint8_t *buf, size_t len, const RayVersion *v,
									  ProtobufCAllocator *alloc, RayTaskReply **out,
									  char *err, size_t errlen);
extern RayStatus ray_task_reply_row(RayTaskReply *r, size_t i, const RayTaskRow **row,
									char *err, size_t errlen);

/* Ray's `created_ms = ns // 1e6`: Python float floor division, exactly. */
extern int64_t ray_ns_to_ms_floor(int64_t ns);

/* Ray's profile times: `ns / 1e6` as a double. */
extern double ray_ns_to_ms(int64_t ns);

/*
 * Text of the row's enum columns. Unknown numbers come back as decimal
 * text in buf (RAY_ENUM_NAME_MAX bytes).
 */
extern const char *ray_task_state_text(const RayTaskReply *r, const RayTaskRow *row, char *buf);
extern const char *ray_task_type_text(const RayTaskRow *row, char *buf);
extern const char *ray_task_language_text(const RayTaskRow *row, char *buf);
extern const char *ray_task_error_type_text(const RayTaskReply *r, const RayTaskRow *row, char *buf);

/*
 * JSON renderings of the jsonb columns, appended to b. Each returns false
 * (and appends nothing) when the column is NULL for this row.
 */
extern bool ray_task_json_required_resources(const RayTaskRow *row, RayBuf *b);
extern bool ray_task_json_events(const RayTaskReply *r, const RayTaskRow *row, RayBuf *b);
extern bool ray_task_json_profiling_data(const RayTaskRow *row, RayBuf *b);
extern bool ray_task_json_runtime_env_info(const RayTaskRow *row, RayBuf *b);
extern bool ray_task_json_task_log_info(const RayTaskRow *row, RayBuf *b);
extern bool ray_task_json_label_selector(const RayTaskRow *row, RayBuf *b);

#endif							/* RAY_TASKS_H */
