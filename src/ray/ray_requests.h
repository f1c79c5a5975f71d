/*
 * ray_requests.h
 *		Encode requests to the GCS in the layout of the server's version.
 *
 * GetTaskEventsRequest.Filters changed field types under the same numbers
 * in 2.41, and the GCS aborts (RAY_CHECK) on an ID of the wrong length, so
 * the encoder refuses anything the server's version could misread: a bad
 * ID, a predicate or filter the version does not have, or more scalar
 * filters than the old layout can carry. The planner asks
 * ray_task_filter_supported first and keeps the rest as local conditions.
 */
#ifndef RAY_REQUESTS_H
#define RAY_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "ray_status.h"
#include "ray_version.h"

typedef enum RayTaskFilterField
{
	RAY_TF_JOB_ID,
	RAY_TF_TASK_ID,
	RAY_TF_ACTOR_ID,
	RAY_TF_NAME,
	RAY_TF_STATE
} RayTaskFilterField;

typedef enum RayPredicate
{
	RAY_PRED_EQ = 0,			/* ray.rpc.FilterPredicate EQUAL */
	RAY_PRED_NE = 1				/* NOT_EQUAL, 2.41+ */
} RayPredicate;

typedef struct RayTaskFilter
{
	RayTaskFilterField field;
	RayPredicate pred;
	const char *value;			/* hex for IDs, text for name and state */
} RayTaskFilter;

typedef struct RayTaskQuery
{
	bool		has_limit;
	int64_t		limit;
	bool		has_exclude_driver;
	bool		exclude_driver;
	int			nfilters;
	const RayTaskFilter *filters;
} RayTaskQuery;

/* Byte length of an ID field (JobID 4, TaskID 24, ActorID 16); 0 for text. */
extern size_t ray_task_filter_id_len(RayTaskFilterField field);

/* Can a server of version v take this field with this predicate at all? */
extern bool ray_task_filter_supported(RayTaskFilterField field, RayPredicate pred,
									  const RayVersion *v);

/* True if value is a valid ID for field (exact length, hex). */
extern bool ray_task_filter_id_valid(RayTaskFilterField field, const char *value);

/*
 * Encode q for a server of version v. On RAY_OK, *out (from alloc, or
 * malloc if NULL) holds *outlen bytes. RAY_ERR_BAD_ID for a wrong-length or
 * non-hex ID, RAY_ERR_UNSUPPORTED when the version's layout cannot carry q.
 */
extern RayStatus ray_task_request_encode(const RayTaskQuery *q, const RayVersion *v,
										 ProtobufCAllocator *alloc,
										 uint8_t **out, size_t *outlen,
										 char *err, size_t errlen);

/*
 * Filters of the other list calls (GetAllActorInfo, GetAllNodeInfo), in the
 * same RayTaskFilter shape. EQUAL only; one value per field (the GCS takes
 * scalars, and node selectors are ORed, not ANDed).
 */
typedef enum RayClusterFilterField
{
	RAY_CF_ACTOR_ID = 100,		/* 16 bytes */
	RAY_CF_ACTOR_JOB_ID,		/* 4 bytes */
	RAY_CF_ACTOR_STATE,			/* ActorState name */
	RAY_CF_NODE_ID = 200,		/* 28 bytes */
	RAY_CF_NODE_STATE,			/* GcsNodeState name */
	RAY_CF_JOB_ID = 300,		/* job_or_submission_id, 2.37+ (hex text) */
	RAY_CF_WORKER_ALIVE = 400	/* Filters.is_alive, 2.36+ ("true"/"false") */
} RayClusterFilterField;

/* Byte length of an ID field, 0 for a state. */
extern size_t ray_cluster_filter_id_len(int field);

/* Can a server of version v filter on this field at all? */
extern bool ray_cluster_filter_supported(int field, const RayVersion *v);

/* The enum number of a state name for the field, or -1. */
extern int	ray_cluster_state_number(int field, const char *name);

/*
 * Encode the list request for an actor or node scan (kind is a
 * RayResourceKind) with these filters and limit, in the layout of version
 * v. With neither the request is empty, which every version accepts. Nodes
 * take a limit only from 2.36.
 */
extern RayStatus ray_cluster_request_encode(int kind, const RayTaskFilter *filters, int nfilters,
											int64_t limit,	/* -1: none */
											const RayVersion *v, ProtobufCAllocator *alloc,
											uint8_t **out, size_t *outlen,
											char *err, size_t errlen);

/* The empty CheckAlive request is zero bytes on every version. */

/*
 * Decode a CheckAliveReply; copies ray_version into version (size vlen).
 * RAY_ERR_MALFORMED if the bytes are not a CheckAliveReply or carry no
 * version; RAY_ERR_RPC, with *status_code set and err "status N: Ray's
 * message", if the reply carries a non-zero GcsStatus.
 */
extern RayStatus ray_check_alive_reply_decode(const uint8_t *buf, size_t len,
											  char *version, size_t vlen,
											  int32_t *status_code,
											  char *err, size_t errlen);

#endif							/* RAY_REQUESTS_H */
