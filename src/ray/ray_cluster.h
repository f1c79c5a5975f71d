/*
 * ray_cluster.h
 *		Decode the GCS's replies for actors, nodes, jobs, workers and
 *		placement groups, with the version differences that matter.
 *
 * Rows are the unpacked protobuf messages; what Ray's State API derives
 * (enum names, death causes, the placement-group layout of Ray 2.9) comes
 * from the helpers here. PostgreSQL-free.
 */
#ifndef RAY_CLUSTER_H
#define RAY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ray_gcs.pb-c.h"
#include "ray_enums.h"
#include "ray_status.h"
#include "ray_version.h"

typedef enum RayResourceKind
{
	RAY_RESOURCE_ACTORS,
	RAY_RESOURCE_NODES,
	RAY_RESOURCE_JOBS,
	RAY_RESOURCE_WORKERS,
	RAY_RESOURCE_PLACEMENT_GROUPS
} RayResourceKind;

typedef struct RayClusterReply
{
	RayResourceKind kind;
	RayVersion	version;
	ProtobufCMessage *msg;		/* the unpacked reply */
	ProtobufCAllocator *alloc;
	int32_t		status_code;
	const char *status_message;
	size_t		nrows;
	void	  **rows;			/* ActorTableData*, GcsNodeInfo*, ...;
								 * RayPlacementGroupView* for placement groups */
	bool		pg_v29;			/* Ray 2.9's placement-group layout */
	void	   *owned;			/* arrays made while decoding, freed with the reply */
	bool		has_total;
	int64_t		total;			/* entries before the GCS's filters and limit */
	int64_t		num_filtered;
} RayClusterReply;

/* The gRPC method that lists a resource. */
extern const char *ray_cluster_method(RayResourceKind kind);

/*
 * The reply owns copies of everything it shows (protobuf-c copies strings
 * and bytes when unpacking), so buf may be freed as soon as this returns.
 */
extern RayStatus ray_cluster_reply_decode(RayResourceKind kind, const uint8_t *buf, size_t len,
										  const RayVersion *v, ProtobufCAllocator *alloc,
										  RayClusterReply **out, char *err, size_t errlen);
extern void ray_cluster_reply_free(RayClusterReply *r);

/*
 * A reply over rows built in memory rather than read from the wire (the
 * dashboard's JSON parsed into ActorTableData, GcsNodeInfo, ...: for
 * placement groups PlacementGroupTableData whatever the version), with
 * status OK and no totals. The caller keeps rows and what they point to
 * alive until ray_cluster_reply_free, which frees neither.
 */
extern RayStatus ray_cluster_reply_from_rows(RayResourceKind kind, void **rows, size_t nrows,
											 const RayVersion *v, ProtobufCAllocator *alloc,
											 RayClusterReply **out, char *err, size_t errlen);

/*
 * The alternative of ActorDeathCause that is set ("oom_context", ...), or
 * NULL; *message is its message (formatted_exception_string for a creation
 * task failure), or NULL.
 */
extern const char *ray_actor_death_cause(const Ray__Rpc__ActorTableData *a, const char **message);

/* A placement group, whichever layout its version used: the rows of a
 * placement-group reply are these. */
typedef struct RayPlacementGroupView
{
	ProtobufCBinaryData id;
	const char *name;
	size_t		n_bundles;
	Ray__Rpc__Bundle **bundles;
	protobuf_c_boolean has_strategy;
	int32_t		strategy;
	protobuf_c_boolean has_state;
	int32_t		state;
	protobuf_c_boolean has_creator_job_id;
	ProtobufCBinaryData creator_job_id;
	protobuf_c_boolean has_creator_actor_id;
	ProtobufCBinaryData creator_actor_id;
	protobuf_c_boolean is_detached;
	const char *ray_namespace;
	int64_t		creation_ms;	/* 0: unset */
	int64_t		final_placement_ms;	/* 0: unset */
} RayPlacementGroupView;

#endif							/* RAY_CLUSTER_H */
