/*
 * ray_event_entity.h
 *		Ray's job, actor and node events (Event Export, FEB26+, sent by the
 *		GCS with RAY_enable_ray_event=1) as pieces of the GCS rows the poller
 *		reads: JobTableData, ActorTableData and GcsNodeInfo.
 *
 * Ray's GCS makes these events from exactly those rows
 * (src/ray/observability/ray_{driver_job,actor,node}_{definition,lifecycle}_event.cc):
 * a definition event copies the static fields, a lifecycle event holds
 * state transitions, each with the fields that change with that state. So
 * each definition and each transition is read back into a fragment of the
 * row it came from (only what it sets), and the row is the definition's
 * fragment merged (protobuf MergeFrom: packed fragments concatenated) with
 * the transitions' in time order; the caller sorts and merges
 * (src/event_entities.c). PostgreSQL-free.
 */
#ifndef RAY_EVENT_ENTITY_H
#define RAY_EVENT_ENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ray_gcs.pb-c.h"
#include "ray_json_read.h"

typedef enum RayEntityKind
{
	RAY_ENTITY_JOB,
	RAY_ENTITY_ACTOR,
	RAY_ENTITY_NODE
} RayEntityKind;

#define RAY_ENTITY_KINDS 3

/* No restart reason (the part is not a RESTARTING transition). */
#define RAY_ENTITY_NO_REASON (-1)

/* One definition, or one state transition of a lifecycle event. */
typedef struct RayEntityPart
{
	bool		definition;
	int32_t		state;			/* the transition's state (the GCS row's number); -1: definition */
	int64_t		ts_ns;			/* the transition's time; 0 for a definition */
	int32_t		restart_reason; /* actors' RESTARTING: RestartReason; else RAY_ENTITY_NO_REASON */
	ProtobufCMessage *row;		/* the fragment: JobTableData, ActorTableData or GcsNodeInfo */
} RayEntityPart;

typedef struct RayEntityEvent
{
	RayEntityKind kind;
	uint8_t		id[RAY_JSON_MAX_ID];	/* job, actor or node id */
	size_t		id_len;			/* > 0 */
	size_t		nparts;			/* >= 1 for a definition; may be 0 for a lifecycle */
	RayEntityPart *parts;
} RayEntityEvent;

/*
 * The payload p of an event of type number etype (5..10) into a new
 * RayEntityEvent from c's arena; NULL when rejected (c says why) or out of
 * memory (c->oom).
 */
extern RayEntityEvent *ray_event_entity_read(RayJsonRead *c, int etype, const cJSON *p);

/* The kind's name as raydar.event_entities.kind holds it: job, actor, node. */
extern const char *ray_entity_kind_name(RayEntityKind kind);

/* Actors' RestartReason: ACTOR_FAILURE, LINEAGE_RECONSTRUCTION, NODE_PREEMPTION. */
#define RAY_RESTART_LINEAGE_RECONSTRUCTION 1
#define RAY_RESTART_NODE_PREEMPTION 2

#endif							/* RAY_EVENT_ENTITY_H */
