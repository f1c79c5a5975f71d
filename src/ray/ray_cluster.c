/*
 * ray_cluster.c
 *		Replies of GetAllActorInfo, GetAllNodeInfo, GetAllJobInfo,
 *		GetAllWorkerInfo and GetAllPlacementGroup.
 *
 * Version facts (RAY_FACT_PG_TIMESTAMPS_15_16 in ray_version.c): placement
 * groups moved their timestamps from fields 14/15 to 15/16 in 2.10 (a field
 * 14 of type bytes took their place). Every other difference is a field
 * that is simply absent in older versions. The enum names these rows show
 * are in ray_enums.c.
 */
#include "ray_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

const char *
ray_cluster_method(RayResourceKind kind)
{
	switch (kind)
	{
		case RAY_RESOURCE_ACTORS:
			return "/ray.rpc.ActorInfoGcsService/GetAllActorInfo";
		case RAY_RESOURCE_NODES:
			return "/ray.rpc.NodeInfoGcsService/GetAllNodeInfo";
		case RAY_RESOURCE_JOBS:
			return "/ray.rpc.JobInfoGcsService/GetAllJobInfo";
		case RAY_RESOURCE_WORKERS:
			return "/ray.rpc.WorkerInfoGcsService/GetAllWorkerInfo";
		case RAY_RESOURCE_PLACEMENT_GROUPS:
			return "/ray.rpc.PlacementGroupInfoGcsService/GetAllPlacementGroup";
	}
	return NULL;
}

const char *
ray_actor_death_cause(const Ray__Rpc__ActorTableData *a, const char **message)
{
	const Ray__Rpc__ActorDeathCause *dc = a->death_cause;

	*message = NULL;
	if (dc == NULL)
		return NULL;
	/* A oneof, as in Ray: the alternative seen last on the wire is the one set. */
	switch (dc->context_case)
	{
		case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_CREATION_TASK_FAILURE_CONTEXT:
			*message = dc->creation_task_failure_context->formatted_exception_string;
			return "creation_task_failure_context";
		case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_RUNTIME_ENV_FAILED_CONTEXT:
			*message = dc->runtime_env_failed_context->error_message;
			return "runtime_env_failed_context";
		case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_DIED_ERROR_CONTEXT:
			*message = dc->actor_died_error_context->error_message;
			return "actor_died_error_context";
		case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_ACTOR_UNSCHEDULABLE_CONTEXT:
			*message = dc->actor_unschedulable_context->error_message;
			return "actor_unschedulable_context";
		case RAY__RPC__ACTOR_DEATH_CAUSE__CONTEXT_OOM_CONTEXT:
			*message = dc->oom_context->error_message;
			return "oom_context";
		default:
			return NULL;
	}
}

static void
pg_view(const void *row, bool v29, RayPlacementGroupView *out)
{
	memset(out, 0, sizeof(*out));
#define COPY_COMMON(p) \
	do { \
		out->id = (p)->placement_group_id; \
		out->name = (p)->name; \
		out->n_bundles = (p)->n_bundles; \
		out->bundles = (p)->bundles; \
		out->has_strategy = (p)->has_strategy; \
		out->strategy = (p)->strategy; \
		out->has_state = (p)->has_state; \
		out->state = (p)->state; \
		out->has_creator_job_id = (p)->has_creator_job_id; \
		out->creator_job_id = (p)->creator_job_id; \
		out->has_creator_actor_id = (p)->has_creator_actor_id; \
		out->creator_actor_id = (p)->creator_actor_id; \
		out->is_detached = (p)->has_is_detached && (p)->is_detached; \
		out->ray_namespace = (p)->ray_namespace; \
		out->creation_ms = (p)->has_placement_group_creation_timestamp_ms ? \
			(p)->placement_group_creation_timestamp_ms : 0; \
		out->final_placement_ms = (p)->has_placement_group_final_bundle_placement_timestamp_ms ? \
			(p)->placement_group_final_bundle_placement_timestamp_ms : 0; \
	} while (0)
	if (v29)
		COPY_COMMON((const Ray__Rpc__PlacementGroupTableDataV29 *) row);
	else
		COPY_COMMON((const Ray__Rpc__PlacementGroupTableData *) row);
#undef COPY_COMMON
}

static ProtobufCMessage *
unpack(RayResourceKind kind, bool pg_v29, ProtobufCAllocator *alloc, size_t len, const uint8_t *buf)
{
	switch (kind)
	{
		case RAY_RESOURCE_ACTORS:
			return (ProtobufCMessage *) ray__rpc__get_all_actor_info_reply__unpack(alloc, len, buf);
		case RAY_RESOURCE_NODES:
			return (ProtobufCMessage *) ray__rpc__get_all_node_info_reply__unpack(alloc, len, buf);
		case RAY_RESOURCE_JOBS:
			return (ProtobufCMessage *) ray__rpc__get_all_job_info_reply__unpack(alloc, len, buf);
		case RAY_RESOURCE_WORKERS:
			return (ProtobufCMessage *) ray__rpc__get_all_worker_info_reply__unpack(alloc, len, buf);
		case RAY_RESOURCE_PLACEMENT_GROUPS:
			return pg_v29
				? (ProtobufCMessage *) ray__rpc__get_all_placement_group_reply_v29__unpack(alloc, len, buf)
				: (ProtobufCMessage *) ray__rpc__get_all_placement_group_reply__unpack(alloc, len, buf);
	}
	return NULL;
}

/* An empty reply of kind, from alloc (NULL: malloc); NULL if out of memory. */
static RayClusterReply *
new_reply(RayResourceKind kind, const RayVersion *v, ProtobufCAllocator *alloc, char *err, size_t errlen)
{
	RayClusterReply *r = alloc ? alloc->alloc(alloc->allocator_data, sizeof(*r)) : malloc(sizeof(*r));

	if (r == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->version = *v;
	r->alloc = alloc;
	return r;
}

static void
set_status(RayClusterReply *r, const Ray__Rpc__GcsStatus *st)
{
	r->status_code = (st && st->has_code) ? st->code : 0;
	r->status_message = (st && st->message) ? st->message : "";
}

/* The reply's status, rows and counters, wherever its message keeps them. */
static void
index_rows(RayClusterReply *r, ProtobufCMessage *msg)
{
	switch (r->kind)
	{
		case RAY_RESOURCE_ACTORS:
			{
				Ray__Rpc__GetAllActorInfoReply *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_actor_table_data;
				r->rows = (void **) m->actor_table_data;
				r->has_total = m->has_total;
				r->total = m->total;
				r->num_filtered = m->num_filtered;
				break;
			}
		case RAY_RESOURCE_NODES:
			{
				Ray__Rpc__GetAllNodeInfoReply *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_node_info_list;
				r->rows = (void **) m->node_info_list;
				r->has_total = m->has_total;
				r->total = m->total;
				r->num_filtered = m->num_filtered;
				break;
			}
		case RAY_RESOURCE_JOBS:
			{
				Ray__Rpc__GetAllJobInfoReply *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_job_info_list;
				r->rows = (void **) m->job_info_list;
				break;
			}
		case RAY_RESOURCE_WORKERS:
			{
				Ray__Rpc__GetAllWorkerInfoReply *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_worker_table_data;
				r->rows = (void **) m->worker_table_data;
				r->has_total = m->has_total;
				r->total = m->total;
				r->num_filtered = m->num_filtered;
				break;
			}
		case RAY_RESOURCE_PLACEMENT_GROUPS:
			if (r->pg_v29)
			{
				Ray__Rpc__GetAllPlacementGroupReplyV29 *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_placement_group_table_data;
				r->rows = (void **) m->placement_group_table_data;
				r->has_total = m->has_total;
				r->total = m->total;
			}
			else
			{
				Ray__Rpc__GetAllPlacementGroupReply *m = (void *) msg;

				set_status(r, m->status);
				r->nrows = m->n_placement_group_table_data;
				r->rows = (void **) m->placement_group_table_data;
				r->has_total = m->has_total;
				r->total = m->total;
			}
			break;
	}
}

/*
 * Placement groups: one view over both layouts, made once; the rows become
 * the views. False if out of memory.
 */
static bool
make_pg_views(RayClusterReply *r)
{
	ProtobufCAllocator *alloc = r->alloc;
	size_t		bytes = r->nrows * (sizeof(RayPlacementGroupView) + sizeof(void *));
	char	   *block = alloc ? alloc->alloc(alloc->allocator_data, bytes) : malloc(bytes);
	RayPlacementGroupView *views = (RayPlacementGroupView *) block;
	void	  **rows = (void **) (block + r->nrows * sizeof(RayPlacementGroupView));

	if (block == NULL)
		return false;
	for (size_t i = 0; i < r->nrows; i++)
	{
		pg_view(r->rows[i], r->pg_v29, &views[i]);
		rows[i] = &views[i];
	}
	r->owned = block;
	r->rows = rows;
	return true;
}

RayStatus
ray_cluster_reply_decode(RayResourceKind kind, const uint8_t *buf, size_t len,
						 const RayVersion *v, ProtobufCAllocator *alloc,
						 RayClusterReply **out, char *err, size_t errlen)
{
	RayClusterReply *r;
	bool		pg_v29 = kind == RAY_RESOURCE_PLACEMENT_GROUPS &&
		!ray_version_has(v, RAY_FACT_PG_TIMESTAMPS_15_16);
	ProtobufCMessage *msg;

	*out = NULL;
	if (len > RAY_MAX_MESSAGE_SIZE)
	{
		snprintf(err, errlen, "reply of %zu bytes exceeds the %zu-byte limit", len,
				 RAY_MAX_MESSAGE_SIZE);
		return RAY_ERR_TOO_LARGE;
	}
	msg = unpack(kind, pg_v29, alloc, len, buf);
	if (msg == NULL)
	{
		snprintf(err, errlen, "malformed reply to %s (%zu bytes): not a valid protobuf message",
				 ray_cluster_method(kind), len);
		return RAY_ERR_MALFORMED;
	}
	r = new_reply(kind, v, alloc, err, errlen);
	if (r == NULL)
	{
		protobuf_c_message_free_unpacked(msg, alloc);
		return RAY_ERR_OOM;
	}
	r->msg = msg;
	r->pg_v29 = pg_v29;
	index_rows(r, msg);
	if (kind == RAY_RESOURCE_PLACEMENT_GROUPS && r->nrows > 0 && !make_pg_views(r))
	{
		ray_cluster_reply_free(r);
		snprintf(err, errlen, "out of memory");
		return RAY_ERR_OOM;
	}
	*out = r;
	return RAY_OK;
}

RayStatus
ray_cluster_reply_from_rows(RayResourceKind kind, void **rows, size_t nrows, const RayVersion *v,
							ProtobufCAllocator *alloc, RayClusterReply **out, char *err, size_t errlen)
{
	RayClusterReply *r = new_reply(kind, v, alloc, err, errlen);

	*out = NULL;
	if (r == NULL)
		return RAY_ERR_OOM;
	r->status_message = "";
	r->nrows = nrows;
	r->rows = rows;
	/* In-memory rows have the current layout: views made as such. */
	if (kind == RAY_RESOURCE_PLACEMENT_GROUPS && nrows > 0 && !make_pg_views(r))
	{
		ray_cluster_reply_free(r);
		snprintf(err, errlen, "out of memory");
		return RAY_ERR_OOM;
	}
	/* Ray 2.9's layout shares fields 1..12 with the current one. */
	r->pg_v29 = kind == RAY_RESOURCE_PLACEMENT_GROUPS &&
		!ray_version_has(v, RAY_FACT_PG_TIMESTAMPS_15_16);
	*out = r;
	return RAY_OK;
}

void
ray_cluster_reply_free(RayClusterReply *r)
{
	ProtobufCAllocator *alloc;

	if (r == NULL)
		return;
	alloc = r->alloc;
	if (r->owned)
	{
		if (alloc)
			alloc->free(alloc->allocator_data, r->owned);
		else
			free(r->owned);
	}
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, alloc);
	if (alloc)
		alloc->free(alloc->allocator_data, r);
	else
		free(r);
}
