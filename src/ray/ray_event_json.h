/*
 * ray_event_json.h
 *		Ray's Event Export (a POST body of RayEvents, protobuf JSON) turned
 *		into the TaskEvents the GCS would hold, as Ray's own converter does.
 *
 * Ray's aggregator agent POSTs a JSON array of RayEvent objects
 * (/work/shared/ray-event-export.md). Ray itself rebuilds task rows from
 * them in gcs_ray_event_converter.cc: a definition event gives task_info,
 * a lifecycle (2.49: execution) event gives state_updates, a profile event
 * gives profile_events, and the pieces of one (task_id, attempt) are merged
 * with protobuf MergeFrom. This file does the per-event conversion; the
 * merge is the caller's: a serialized TaskEvents appended to another one
 * parses as their MergeFrom (scalars overwrite, maps upsert, repeated
 * fields append), so the receiver merges by concatenating packed bytes.
 * Job, actor and node events become RAY_EVENT_ENTITY items, read by
 * ray_event_entity.c into fragments of the GCS's own rows and merged the
 * same way (src/event_entities.c); a worker lifecycle event is a
 * RAY_EVENT_WORKER item (ray_event_worker.c), for the worker's death.
 *
 * Accepted: lowerCamelCase and snake_case keys; ids as base64 (standard or
 * URL-safe, padding optional); int64 as strings or numbers; enums as names
 * or numbers; RFC 3339 timestamps with 0 to 9 fraction digits and Z or an
 * offset. Every value is range-checked: an event with a value out of range
 * or of the wrong JSON type is rejected with a reason, never half-read. A
 * body that is not a JSON array fails as a whole. PostgreSQL-free.
 */
#ifndef RAY_EVENT_JSON_H
#define RAY_EVENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray_arena.h"
#include "ray_gcs.pb-c.h"
#include "ray_json_read.h"
#include "ray_status.h"
#include "ray_version.h"

/* Largest POST body read (2.49 sends up to 10,000 events, about 10 MB). */
#define RAY_EVENT_MAX_BODY ((size_t) 256 * 1024 * 1024)
/* Largest id accepted (Ray's are 4 to 28 bytes). */
#define RAY_EVENT_MAX_ID 64

typedef enum RayEventKind
{
	RAY_EVENT_TASK,				/* a task event: task holds its TaskEvents */
	RAY_EVENT_ENTITY,			/* a job, actor or node event: entity holds it */
	RAY_EVENT_WORKER,			/* a worker lifecycle event: worker holds it */
	RAY_EVENT_OTHER,			/* a known type raydar does not store */
	RAY_EVENT_REJECTED			/* invalid: reason says why */
} RayEventKind;

typedef struct RayEventItem
{
	RayEventKind kind;
	size_t		index;			/* position in the body's array */
	uint8_t		event_id[RAY_EVENT_MAX_ID];
	size_t		event_id_len;	/* 0: none (only in rejected events) */
	const char *event_type;		/* as sent, or "" */
	const char *session_name;	/* "" if absent */
	uint8_t		node_id[RAY_EVENT_MAX_ID];	/* the reporting node (2026), */
	size_t		node_id_len;	/* 0 if absent */
	bool		has_timestamp;
	int64_t		timestamp_ns;	/* when Ray made the event */
	Ray__Rpc__TaskEvents *task; /* RAY_EVENT_TASK: from the batch's arena */
	struct RayEntityEvent *entity;	/* RAY_EVENT_ENTITY: from the batch's arena */
	struct RayWorkerDeath *worker;	/* RAY_EVENT_WORKER: from the batch's arena */
	char		reason[256];	/* RAY_EVENT_REJECTED */
	char	   *text;			/* RAY_EVENT_REJECTED: the event's JSON (cut at 8 kB) */
} RayEventItem;

typedef struct RayEventBatch
{
	RayArena	arena;			/* everything below */
	size_t		n;
	RayEventItem *items;
	size_t		ntask;
	size_t		nother;			/* not task events (entities included) */
	size_t		nentity;		/* job, actor and node events */
	size_t		nrejected;
} RayEventBatch;

/*
 * Read one POST body. v gives TaskStatus and ErrorType numbers for names.
 * RAY_OK with *out (free with ray_event_batch_free) when the body is a JSON
 * array, whatever its events hold; otherwise an error with err saying what
 * and where (the caller keeps the body as one rejected batch). The batch
 * keeps alloc (NULL: malloc) to free itself: it must outlive the batch.
 */
extern RayStatus ray_event_batch_parse(const char *json, size_t len, const RayVersion *v,
									   ProtobufCAllocator *alloc, RayEventBatch **out,
									   char *err, size_t errlen);
extern void ray_event_batch_free(RayEventBatch *b);

#endif							/* RAY_EVENT_JSON_H */
