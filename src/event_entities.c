/*
 * event_entities.c
 *		Jobs, actors and nodes from pushed Ray events (see event_entities.h).
 *
 * Ray's GCS makes a definition event from the static fields of its job,
 * actor or node row and a lifecycle event per state change, each
 * transition carrying the fields that change with it
 * (src/ray/observability/ray_*_event.cc). ray_event_entity.c reads each
 * definition and each transition back into a fragment of that row. Here:
 *  1. every fragment is kept in raydar.event_entities, keyed by its event id
 *     and place in the event (a resent event adds nothing);
 *  2. each entity touched is rebuilt from all its fragments, definition
 *     first, then transitions by (time, state, event id, place): protobuf
 *     MergeFrom, done by unpacking the packed fragments concatenated, so the
 *     latest transition's state wins and a field set by one transition stays
 *     until another sets it, whatever order the events came in. Actors'
 *     restart counters are the number of RESTARTING transitions (by
 *     reason), as the GCS counts them;
 *  3. the rebuilt rows go through the poller's upsert
 *     (collector_upsert_entities), with the columns the events do not
 *     carry left as stored: NULL for a cluster only pushed, the poll's
 *     values for one also polled. An entity whose definition has not come
 *     yet leaves its definition's columns as stored too, and one with no
 *     transition yet its state's columns.
 * Storage is bounded like event_attempts': an entity whose history row is
 * final and that had no event for the retention keeps only a tombstone in
 * raydar.event_entity_tombstones (event_entities_expire); its later events
 * are skipped, not merged into a row of themselves alone.
 *
 * A worker's death (a worker lifecycle event's DEAD transition,
 * ray_event_worker.c) is kept in raydar.event_worker_deaths, for the
 * merger to mark the attempts the worker left as Ray's GCS does
 * (event_attempts_fail_dead_workers); workers have no history table.
 */
#include "raydar.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "collector.h"
#include "event_entities.h"
#include "ray_enums.h"
#include "ray_event_entity.h"
#include "ray_event_worker.h"

PG_FUNCTION_INFO_V1(raydar_expire_pushed_entities);

/*
 * The final states of the transitions (the job lifecycle's FINISHED, as
 * ray_event_entity.c reads it; ActorTableData.ActorState's and
 * GcsNodeInfo.GcsNodeState's DEAD). The partial index
 * event_entities_final (77_push_entities.sql) has the same predicate.
 */
#define JOB_STATE_FINISHED 2
#define ACTOR_STATE_DEAD 4
#define NODE_STATE_DEAD 1
#define FINAL_TRANSITION "part >= 0 AND ((kind = 'job' AND state = " CppAsString2(JOB_STATE_FINISHED) \
	") OR (kind = 'actor' AND state = " CppAsString2(ACTOR_STATE_DEAD) \
	") OR (kind = 'node' AND state = " CppAsString2(NODE_STATE_DEAD) "))"

/* Entity events merged per statement: bounds the fragments read back at once. */
#define CHUNK 2000

/* What the events of each kind carry, as column names of its history table. */
typedef struct KindColumns
{
	RayResourceKind resource;
	const ProtobufCMessageDescriptor *row;
	const char *const *never;	/* not in any event */
	const char *const *definition;	/* only in the definition */
	const char *const *lifecycle;	/* only in transitions */
} KindColumns;

static const char *const job_never[] = {"driver_ip_address", "metadata", "is_running_tasks", NULL};
static const char *const job_def[] = {"entrypoint", "driver_pid", NULL};
static const char *const job_life[] = {"is_dead", "start_time", "end_time", "status", "message",
"driver_exit_code", NULL};
static const char *const actor_never[] = {"node_ip", "max_restarts", NULL};
static const char *const actor_def[] = {"class_name", "name", "job_id", "ray_namespace", "is_detached",
	"required_resources", "placement_group_id", "call_site", "label_selector", NULL};
static const char *const actor_life[] = {"state", "node_id", "worker_id", "pid", "repr_name",
	"num_restarts", "num_restarts_due_to_lineage_reconstruction", "start_time", "end_time",
"death_cause_type", "death_cause_message", NULL};
static const char *const node_never[] = {"is_head_node", "node_manager_port", "object_manager_port",
"node_type_name", NULL};
static const char *const node_def[] = {"node_ip", "node_name", "hostname", "labels", "start_time",
"instance_id", "instance_type_name", NULL};
static const char *const node_life[] = {"state", "resources_total", "end_time", "death_reason",
"death_reason_message", NULL};

static const KindColumns kinds[RAY_ENTITY_KINDS] = {
	{RAY_RESOURCE_JOBS, &ray__rpc__job_table_data__descriptor, job_never, job_def, job_life},
	{RAY_RESOURCE_ACTORS, &ray__rpc__actor_table_data__descriptor, actor_never, actor_def, actor_life},
	{RAY_RESOURCE_NODES, &ray__rpc__gcs_node_info__descriptor, node_never, node_def, node_life},
};

/* One rebuilt row and which kinds of fragment it had. */
typedef struct Rebuilt
{
	void	   *row;
	bool		has_definition;
	bool		has_lifecycle;
} Rebuilt;


/* The first three arguments of every statement here: cluster, incarnation, kind. */
static void
key_args(Datum *a, const char *cluster, const char *inc, RayEntityKind kind)
{
	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	a[2] = CStringGetTextDatum(ray_entity_kind_name(kind));
}


/* Store the fragments of items[0, n) of kind; their entity ids into *ids. Returns how many ids. */
static int
store_fragments(const char *cluster, const char *inc, RayEntityKind kind,
				RayEventItem *const *items, int n, Datum *ids)
{
	int			cap = 0,
				np = 0,
				nids = 0;
	Datum	   *ent,
			   *evid,
			   *part,
			   *ts,
			   *state,
			   *reason,
			   *frag;
	bool	   *reason_null;
	Oid			t[10] = {TEXTOID, TEXTOID, TEXTOID, BYTEAARRAYOID, BYTEAARRAYOID, INT4ARRAYOID,
	INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, BYTEAARRAYOID};
	Datum		a[10];

	for (int i = 0; i < n; i++)
		if (items[i]->entity->kind == kind)
			cap += items[i]->entity->nparts;
	ent = palloc(sizeof(Datum) * Max(cap, 1));
	evid = palloc(sizeof(Datum) * Max(cap, 1));
	part = palloc(sizeof(Datum) * Max(cap, 1));
	ts = palloc(sizeof(Datum) * Max(cap, 1));
	state = palloc(sizeof(Datum) * Max(cap, 1));
	reason = palloc(sizeof(Datum) * Max(cap, 1));
	reason_null = palloc(sizeof(bool) * Max(cap, 1));
	frag = palloc(sizeof(Datum) * Max(cap, 1));
	for (int i = 0; i < n; i++)
	{
		const RayEntityEvent *ev = items[i]->entity;

		if (ev->kind != kind)
			continue;
		ids[nids++] = raydar_bytea_datum(ev->id, ev->id_len);
		for (size_t p = 0; p < ev->nparts; p++)
		{
			const RayEntityPart *pt = &ev->parts[p];
			size_t		len = protobuf_c_message_get_packed_size(pt->row);
			bytea	   *b = palloc(VARHDRSZ + len);

			SET_VARSIZE(b, VARHDRSZ + len);
			protobuf_c_message_pack(pt->row, (uint8_t *) VARDATA(b));
			ent[np] = ids[nids - 1];
			evid[np] = raydar_bytea_datum(items[i]->event_id, items[i]->event_id_len);
			part[np] = Int32GetDatum(pt->definition ? -1 : (int32) p);
			ts[np] = Int64GetDatum(pt->ts_ns);
			state[np] = Int32GetDatum(pt->state);
			reason[np] = Int32GetDatum(pt->restart_reason);
			reason_null[np] = pt->restart_reason == RAY_ENTITY_NO_REASON;
			frag[np] = PointerGetDatum(b);
			np++;
		}
	}
	if (np == 0)
		return nids;
	key_args(a, cluster, inc, kind);
	a[3] = raydar_array_datum(ent, NULL, np, BYTEAOID);
	a[4] = raydar_array_datum(evid, NULL, np, BYTEAOID);
	a[5] = raydar_array_datum(part, NULL, np, INT4OID);
	a[6] = raydar_array_datum(ts, NULL, np, INT8OID);
	a[7] = raydar_array_datum(state, NULL, np, INT4OID);
	a[8] = raydar_array_datum(reason, reason_null, np, INT4OID);
	a[9] = raydar_array_datum(frag, NULL, np, BYTEAOID);
	/*
	 * A job's FINISHED transition stored for the first time also records
	 * the job's end in event_job_ends, for event_attempts_fail_ended_jobs
	 * (a resent event inserts nothing, so it records nothing again).
	 */
#define INSERT_FRAGMENTS "INSERT INTO raydar.event_entities (cluster, incarnation, kind, entity_id, " \
	"event_id, part, ts_ns, state, restart_reason, fragment) " \
	"SELECT $1, $2, $3, u.* FROM unnest($4, $5, $6, $7, $8, $9, $10) AS u ON CONFLICT DO NOTHING"
	if (SPI_execute_with_args(kind == RAY_ENTITY_JOB ?
							  "WITH ins AS (" INSERT_FRAGMENTS " RETURNING entity_id, part, ts_ns, state) "
							  "INSERT INTO raydar.event_job_ends (cluster, incarnation, job_id, end_ns) "
							  "SELECT $1, $2, entity_id, min(ts_ns) FROM ins "
							  "WHERE part >= 0 AND state = " CppAsString2(JOB_STATE_FINISHED) " GROUP BY entity_id "
							  "ON CONFLICT DO NOTHING" :
							  INSERT_FRAGMENTS,
							  10, t, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into raydar.event_entities");
	return nids;
}

/* Actors: the GCS counts restarts, the events say each one. */
static void
count_restarts(Ray__Rpc__ActorTableData *a, int64 restarts, int64 lineage, int64 preempted)
{
	a->has_num_restarts = 1;
	a->num_restarts = (uint64) restarts;
	a->has_num_restarts_due_to_lineage_reconstruction = 1;
	a->num_restarts_due_to_lineage_reconstruction = lineage;
	a->has_num_restarts_due_to_node_preemption = 1;
	a->num_restarts_due_to_node_preemption = preempted;
}

static bool
same_id(bytea *a, bytea *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* The fragments of one entity, merged as they are read (sorted). */
typedef struct Merging
{
	StringInfoData buf;			/* packed fragments, concatenated */
	bool		has_definition;
	bool		has_lifecycle;
	int64		restarts,
				lineage,
				preempted;
} Merging;

/* The entity in m complete: its row into out, unless its bytes do not parse. */
static void
finish_entity(const char *cluster, RayEntityKind kind, Merging *m, ProtobufCAllocator *alloc,
			  Rebuilt *out, int *nout)
{
	void	   *row = protobuf_c_message_unpack(kinds[kind].row, alloc, m->buf.len,
												(uint8_t *) m->buf.data);

	if (row == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("raydar: the stored events of a pushed %s of cluster \"%s\" do not parse",
						ray_entity_kind_name(kind), cluster),
				 errhint("Delete its rows from raydar.event_entities; its history row is left as stored.")));
		return;
	}
	if (kind == RAY_ENTITY_ACTOR && m->has_lifecycle)
		count_restarts(row, m->restarts, m->lineage, m->preempted);
	out[*nout].row = row;
	out[*nout].has_definition = m->has_definition;
	out[*nout].has_lifecycle = m->has_lifecycle;
	(*nout)++;
}

/* One stored fragment (a row of the SELECT below) into m. */
static void
add_fragment(RayEntityKind kind, HeapTuple tup, TupleDesc td, Merging *m)
{
	bool		isnull;
	bytea	   *f = DatumGetByteaPP(SPI_getbinval(tup, td, 5, &isnull));

	if (DatumGetBool(SPI_getbinval(tup, td, 2, &isnull)))
	{
		bool		no_reason;
		Datum		reason = SPI_getbinval(tup, td, 4, &no_reason);

		m->has_lifecycle = true;
		if (kind == RAY_ENTITY_ACTOR && DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull)) == 3)
		{
			/* RESTARTING; a missing reason is ACTOR_FAILURE (proto3's 0). */
			m->restarts++;
			if (!no_reason && DatumGetInt32(reason) == RAY_RESTART_LINEAGE_RECONSTRUCTION)
				m->lineage++;
			else if (!no_reason && DatumGetInt32(reason) == RAY_RESTART_NODE_PREEMPTION)
				m->preempted++;
		}
	}
	else
		m->has_definition = true;
	appendBinaryStringInfo(&m->buf, VARDATA_ANY(f), VARSIZE_ANY_EXHDR(f));
}

/*
 * Every fragment of the entities ids[0, nids) of kind, merged per entity
 * into out (*nout rows; the caller gives room for nids).
 */
static void
rebuild(const char *cluster, const char *inc, RayEntityKind kind, Datum *ids, int nids,
		Rebuilt *out, int *nout)
{
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, BYTEAARRAYOID};
	Datum		a[4];
	ProtobufCAllocator alloc;
	Merging		m;
	bytea	   *cur = NULL;

	key_args(a, cluster, inc, kind);
	a[3] = raydar_array_datum(ids, NULL, nids, BYTEAOID);
	/* Definitions first, then transitions in time order; ties broken by the event. */
	if (SPI_execute_with_args("SELECT entity_id, part >= 0, state, restart_reason, fragment "
							  "FROM raydar.event_entities WHERE cluster = $1 AND incarnation = $2 "
							  "AND kind = $3 AND entity_id = ANY ($4) "
							  "ORDER BY entity_id, part >= 0, ts_ns, state, event_id, part",
							  4, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_entities");
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	memset(&m, 0, sizeof(m));
	initStringInfo(&m.buf);
	*nout = 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		bytea	   *id = DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

		if (cur == NULL || !same_id(id, cur))
		{
			if (cur != NULL)
				finish_entity(cluster, kind, &m, &alloc, out, nout);
			resetStringInfo(&m.buf);
			m.has_definition = m.has_lifecycle = false;
			m.restarts = m.lineage = m.preempted = 0;
			cur = id;
		}
		add_fragment(kind, tup, SPI_tuptable->tupdesc, &m);
	}
	if (cur != NULL)
		finish_entity(cluster, kind, &m, &alloc, out, nout);
	SPI_freetuptable(SPI_tuptable);
}

/* The columns a row's fragments leave unknown: always, plus a missing definition's or state's. */
static const char **
unknown_columns(const KindColumns *k, bool has_definition, bool has_lifecycle)
{
	const char **u = palloc(sizeof(char *) * 64);
	int			n = 0;

	for (const char *const *c = k->never; *c; c++)
		u[n++] = *c;
	if (!has_definition)
		for (const char *const *c = k->definition; *c; c++)
			u[n++] = *c;
	if (!has_lifecycle)
		for (const char *const *c = k->lifecycle; *c; c++)
			u[n++] = *c;
	Assert(n < 64);
	u[n] = NULL;
	return u;
}

/* The rebuilt rows, upserted in groups of the same unknown columns. */
static void
write_rows(const char *cluster, const char *inc, const RayVersion *v, RayEntityKind kind,
		   Rebuilt *rows, int nrows)
{
	void	  **group = palloc(sizeof(void *) * Max(nrows, 1));

	for (int g = 0; g < 4; g++)
	{
		bool		def = (g & 1) != 0,
					life = (g & 2) != 0;
		int			n = 0;
		RayClusterReply *cr;
		char		err[256];

		for (int i = 0; i < nrows; i++)
			if (rows[i].has_definition == def && rows[i].has_lifecycle == life)
				group[n++] = rows[i].row;
		if (n == 0)
			continue;
		if (ray_cluster_reply_from_rows(kinds[kind].resource, group, n, v, NULL, &cr, err,
										sizeof(err)) != RAY_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("raydar: could not rebuild pushed %s rows: %s", ray_entity_kind_name(kind), err)));
		PG_TRY();
		{
			collector_upsert_entities(cr, cluster, inc,
									  (const char *const *) unknown_columns(&kinds[kind], def, life));
		}
		PG_FINALLY();
		{
			/* The rows are the caller's: free only the reply around them. */
			cr->nrows = 0;
			cr->rows = NULL;
			ray_cluster_reply_free(cr);
		}
		PG_END_TRY();
	}
}

/*
 * Mark in skip[] the items[0, n) of kind whose entity is tombstoned; returns
 * how many it marked.
 */
static int
skip_tombstoned(const char *cluster, const char *inc, RayEntityKind kind,
				RayEventItem *const *items, int n, bool *skip)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	int			nids = 0,
				nskip = 0;
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, BYTEAARRAYOID};
	Datum		a[4];

	for (int i = 0; i < n; i++)
		if (items[i]->entity->kind == kind)
			ids[nids++] = raydar_bytea_datum(items[i]->entity->id, items[i]->entity->id_len);
	if (nids == 0)
		return 0;
	key_args(a, cluster, inc, kind);
	a[3] = raydar_array_datum(ids, NULL, nids, BYTEAOID);
	if (SPI_execute_with_args("SELECT entity_id FROM raydar.event_entity_tombstones WHERE cluster = $1 "
							  "AND incarnation = $2 AND kind = $3 AND entity_id = ANY ($4)",
							  4, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_entity_tombstones");
	/* Few rows, if any: a tombstoned entity's events are rare and late. */
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		bytea	   *id = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1,
													   &isnull));

		for (int i = 0; i < n; i++)
		{
			const RayEntityEvent *ev = items[i]->entity;

			if (!skip[i] && ev->kind == kind && ev->id_len == VARSIZE_ANY_EXHDR(id) &&
				memcmp(ev->id, VARDATA_ANY(id), ev->id_len) == 0)
			{
				skip[i] = true;
				nskip++;
			}
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return nskip;
}

/*
 * The workers' deaths among items into event_worker_deaths; a worker's
 * first death stored is the one (Ray sends one; a resent event inserts
 * nothing).
 */
static void
record_worker_deaths(const char *cluster, const char *incarnation, RayEventItem *const *items, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *ends = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *types = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *details = palloc(sizeof(Datum) * Max(n, 1));
	Oid			t[6] = {TEXTOID, TEXTOID, BYTEAARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		a[6];
	int			k = 0;

	for (int i = 0; i < n; i++)
	{
		const RayWorkerDeath *w = items[i]->kind == RAY_EVENT_WORKER ? items[i]->worker : NULL;

		if (w == NULL || !w->dead)
			continue;
		ids[k] = raydar_bytea_datum(w->worker_id, w->worker_id_len);
		ends[k] = Int64GetDatum(w->end_ms);
		types[k] = Int32GetDatum(w->exit_type);
		details[k] = raydar_text_datum(w->exit_detail);
		k++;
	}
	if (k == 0)
		return;
	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(incarnation);
	a[2] = raydar_array_datum(ids, NULL, k, BYTEAOID);
	a[3] = raydar_array_datum(ends, NULL, k, INT8OID);
	a[4] = raydar_array_datum(types, NULL, k, INT4OID);
	a[5] = raydar_array_datum(details, NULL, k, TEXTOID);
	if (SPI_execute_with_args("INSERT INTO raydar.event_worker_deaths (cluster, incarnation, worker_id, end_ms, "
							  "exit_type, exit_detail) SELECT $1, $2, u.* FROM unnest($3, $4, $5, $6) AS u "
							  "ON CONFLICT DO NOTHING",
							  6, t, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into raydar.event_worker_deaths");
}

int
event_entities_merge(const char *cluster, const char *incarnation,
					 const RayVersion *v, RayEventItem *const *items, int n)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "raydar pushed entities",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RayEventItem **ents = palloc(sizeof(RayEventItem *) * Max(n, 1));
	int			nents = 0,
				nskipped = 0;
	MemoryContext chunk_cxt = AllocSetContextCreate(cxt, "raydar pushed entities chunk",
													ALLOCSET_DEFAULT_SIZES);

	record_worker_deaths(cluster, incarnation, items, n);
	for (int i = 0; i < n; i++)
		if (items[i]->kind == RAY_EVENT_ENTITY && items[i]->entity != NULL)
			ents[nents++] = items[i];
	for (int from = 0; from < nents; from += CHUNK)
	{
		int			m = Min(CHUNK, nents - from);
		bool	   *skip;
		RayEventItem **live;
		int			nlive = 0;

		/* What one chunk reads and rebuilds goes with it. */
		MemoryContextReset(chunk_cxt);
		MemoryContextSwitchTo(chunk_cxt);

		/* A tombstoned entity's events are skipped: they would rebuild its row from themselves alone. */
		skip = palloc0(sizeof(bool) * m);
		live = palloc(sizeof(RayEventItem *) * m);
		for (int k = 0; k < RAY_ENTITY_KINDS; k++)
			nskipped += skip_tombstoned(cluster, incarnation, (RayEntityKind) k, ents + from, m, skip);
		for (int i = 0; i < m; i++)
			if (!skip[i])
				live[nlive++] = ents[from + i];

		for (int k = 0; k < RAY_ENTITY_KINDS; k++)
		{
			Datum	   *ids = palloc(sizeof(Datum) * Max(nlive, 1));
			Rebuilt    *rows = palloc(sizeof(Rebuilt) * Max(nlive, 1));
			int			nids,
						nrows;

			nids = store_fragments(cluster, incarnation, (RayEntityKind) k, live, nlive, ids);
			if (nids == 0)
				continue;
			rebuild(cluster, incarnation, (RayEntityKind) k, ids, nids, rows, &nrows);
			write_rows(cluster, incarnation, v, (RayEntityKind) k, rows, nrows);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return nskipped;
}

/*
 * The entities with a final transition stored whose history row is final
 * (a dead job, a DEAD actor or node: the row the merge or the poll wrote)
 * and that had no event for older_than_s keep only a tombstone;
 * tombstones older than 30 days go. The history rows are not touched.
 * Returns the entities tombstoned.
 */
uint64
event_entities_expire(double older_than_s)
{
	Oid			t[3] = {FLOAT8OID, TEXTOID, TEXTOID};
	Datum		a[3];
	uint64		n;

	a[0] = Float8GetDatum(older_than_s);
	a[1] = CStringGetTextDatum(ray_actor_state_name(ACTOR_STATE_DEAD));
	a[2] = CStringGetTextDatum(ray_node_state_name(NODE_STATE_DEAD));
	/*
	 * Candidates: the entities with a final transition stored (a partial
	 * index: the entities already pruned, and the live ones, are not read).
	 * Of those, the ones quiet for older_than_s (a subquery per candidate,
	 * on the primary key: never a scan of the table) with no history row
	 * that is not final: the row is final, or it is gone (deleted by the
	 * operator's own retention of job_history, actor_history or
	 * node_history), when nothing is left for the fragments to rebuild.
	 * History ids are the entity ids in hex (ray_cluster_reply_from_rows).
	 */
	if (SPI_execute_with_args("WITH quiet AS (SELECT DISTINCT c.cluster, c.incarnation, c.kind, c.entity_id, "
							  "encode(c.entity_id, 'hex') AS id FROM raydar.event_entities c WHERE " FINAL_TRANSITION
							  " AND (SELECT max(r.received_at) FROM raydar.event_entities r WHERE r.cluster = c.cluster "
							  "AND r.incarnation = c.incarnation AND r.kind = c.kind AND r.entity_id = c.entity_id) "
							  "< now() - make_interval(secs => $1)), "
							  "final AS (SELECT q.cluster, q.incarnation, q.kind, q.entity_id FROM quiet q "
							  "WHERE CASE q.kind "
							  "WHEN 'job' THEN NOT EXISTS (SELECT 1 FROM raydar.job_history h WHERE h.cluster = q.cluster "
							  "AND h.incarnation = q.incarnation AND h.job_id = q.id "
							  "AND NOT coalesce(h.is_dead OR h.end_time IS NOT NULL, false)) "
							  "WHEN 'actor' THEN NOT EXISTS (SELECT 1 FROM raydar.actor_history h WHERE h.cluster = q.cluster "
							  "AND h.incarnation = q.incarnation AND h.actor_id = q.id AND h.state IS DISTINCT FROM $2) "
							  "ELSE NOT EXISTS (SELECT 1 FROM raydar.node_history h WHERE h.cluster = q.cluster "
							  "AND h.incarnation = q.incarnation AND h.node_id = q.id AND h.state IS DISTINCT FROM $3) END), "
							  "gone AS (DELETE FROM raydar.event_entities e USING final f WHERE e.cluster = f.cluster "
							  "AND e.incarnation = f.incarnation AND e.kind = f.kind AND e.entity_id = f.entity_id) "
							  "INSERT INTO raydar.event_entity_tombstones (cluster, incarnation, kind, entity_id) "
							  "SELECT * FROM final ON CONFLICT DO NOTHING",
							  3, t, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not expire raydar.event_entities");
	n = SPI_processed;
	if (SPI_execute("DELETE FROM raydar.event_entity_tombstones WHERE expired_at < now() - interval '30 days'",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from raydar.event_entity_tombstones");
	if (SPI_execute("DELETE FROM raydar.event_job_ends WHERE received_at < now() - interval '30 days'",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from raydar.event_job_ends");
	if (SPI_execute("DELETE FROM raydar.event_worker_deaths WHERE received_at < now() - interval '30 days'",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from raydar.event_worker_deaths");
	return n;
}

/* raydar.expire_pushed_entities(older_than interval): event_entities_expire now. */
Datum
raydar_expire_pushed_entities(PG_FUNCTION_ARGS)
{
	Interval   *iv = PG_GETARG_INTERVAL_P(0);
	double		secs = (double) iv->time / USECS_PER_SEC + (double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
	uint64		n;

	if (secs < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Give how long an entity must have had no event, such as '1 hour'.")));
	SPI_connect();
	n = event_entities_expire(secs);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
