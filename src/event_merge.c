/*
 * event_merge.c
 *		The push receiver's merger: a background worker ("raydar event
 *		merger", started with the receiver) that drains raydar.event_spool
 *		into task_history / task_live, job, actor and node history.
 *
 * The receiver (event_receiver.c) acknowledges a POST once its body is a
 * committed spool row; merging is here, in another process, so that an
 * acknowledgement never waits behind a merge and the two use two cores.
 * Each drain takes the oldest spool rows (in id order, which is the
 * receiver's commit order, so each node's bodies stay in order) up to
 * raydar.event_merge_chunk bytes, and in ONE transaction parses them,
 * deduplicates on eventId, merges, writes, counts and deletes the spool
 * rows: a body's effects and the removal of its spool row commit together,
 * so a crash of either worker at any point loses and repeats nothing.
 *
 * The chunk's bodies are first tried together in one subtransaction (one
 * set of statements per cluster and incarnation); if that fails, each body
 * alone, so that one body's failure is that body's: kept in event_rejects
 * (it is not a passing condition; Ray already has its 200). When PostgreSQL
 * cannot take writes the whole drain is rolled back and tried again later:
 * the bodies wait in the spool.
 *
 * Sessions: Ray's events name their session; rows are stored under the
 * incarnation the session is bound to (raydar.event_sessions). A cluster
 * also polled binds a new session to the poller's incarnation, but only to
 * one no other session holds: after a Ray restart the poller may not yet
 * have seen the new run, and binding then would depend on whether a body
 * or a poll came first. Such a session's bodies wait in the spool until the
 * poller sees the run, at most raydar.event_session_wait (then the session
 * is its own incarnation). Of a cluster only pushed, task_live shows the
 * newest session's attempts (end_earlier_sessions).
 *
 * While a chunk is written, a thread parses the next chunk's bodies
 * (parse_ahead, src/ray/ray_parse_ahead.h); the next drain takes them
 * parsed. The thread calls no PostgreSQL function.
 */
#include "raydar.h"

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_attempts.h"
#include "event_entities.h"
#include "event_push.h"
#include "ray_parse_ahead.h"

PGDLLEXPORT void raydar_event_merger_main(Datum arg);

/*
 * The thread that parses the next chunk's bodies while this one is
 * written (src/ray/ray_parse_ahead.h); NULL if it could not start, then
 * every body is parsed when its chunk is read.
 */
static RayParseAhead *parse_ahead = NULL;

/* One spooled body of a drain. */
typedef struct SpoolBody
{
	int64		id;
	char	   *cluster;
	char	   *node;			/* the sender's address; the node id once parsed */
	char	   *body;			/* NULL: it was larger than the receiver reads */
	size_t		len;
	bool		ahead;			/* body and b are parse_ahead's (borrowed) */
	TimestampTz received_at;
	PushClusterInfo *ci;
	RayEventBatch *b;			/* NULL: not a JSON array (rejected whole) */
	ProtobufCAllocator alloc;	/* b's, when parsed here: b keeps a pointer to it */
	char		err[256];
	char	  **incs;			/* per item: the incarnation of its session */
	int			ndup;			/* duplicate events */
} SpoolBody;

/* The attempts of a drain's bodies, per cluster (merged together). */
typedef struct ChunkCluster
{
	const char *cluster;
	PushClusterInfo *ci;
	AttemptKey *keys;
	int			n;
	int			cap;
} ChunkCluster;

typedef struct Chunk
{
	SpoolBody  *bodies;
	int			n;
	ChunkCluster *c;
	int			nc;
	int			seq;			/* arrival order across the chunk */
	List	   *infos;			/* (cluster name, PushClusterInfo) cache */
	List	   *sessions;		/* "cluster\nsession" -> incarnation cache */
	List	   *session_incs;
} Chunk;


void
event_push_cluster_info(const char *cluster, PushClusterInfo *ci)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1];
	bool		isnull;
	HeapTuple	tup;

	memset(ci, 0, sizeof(*ci));
	ray_version_parse("2.58", &ci->v);
	a[0] = CStringGetTextDatum(cluster);
	if (SPI_execute_with_args("SELECT (SELECT ray_version FROM raydar.event_clusters WHERE cluster = $1), "
							  "EXISTS (SELECT 1 FROM raydar.tracked_servers WHERE server_name::text = $1), "
							  "(SELECT incarnation FROM raydar.event_sessions WHERE cluster = $1 "
							  "ORDER BY first_seen DESC, session_name DESC LIMIT 1)",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read raydar.event_clusters");
	tup = SPI_tuptable->vals[0];
	{
		Datum		v = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);

		/* Unregistered since its bodies were acknowledged: still merged. */
		ci->found = !isnull;
		if (!isnull && !ray_version_parse(TextDatumGetCString(v), &ci->v))
			ray_version_parse("2.58", &ci->v);
	}
	ci->polled = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	{
		Datum		inc = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);

		ci->live_inc = isnull ? NULL : TextDatumGetCString(inc);
	}
}

static PushClusterInfo *
chunk_cluster_info(Chunk *c, const char *cluster)
{
	ListCell   *lc;
	PushClusterInfo *ci;

	foreach(lc, c->infos)
		if (strcmp(((SpoolBody *) lfirst(lc))->cluster, cluster) == 0)
			return ((SpoolBody *) lfirst(lc))->ci;
	ci = palloc(sizeof(*ci));
	event_push_cluster_info(cluster, ci);
	return ci;
}

/*
 * A new session of a push-only cluster ends the earlier ones' live
 * attempts: Ray runs one session per cluster, and the attempts an earlier
 * one left pending or running will never finish (Ray's GCS, gone with that
 * session, marked nothing; the new one knows nothing of them). They leave
 * task_live as they do when the poller sees a new incarnation
 * (collector_poll.c, clear_live), and their events stay in event_attempts
 * until the retention. The attempts of a job whose end, or of a worker
 * whose death, is merged but not yet marked stay for that marking
 * (event_attempts_fail_ended_jobs, _fail_dead_workers), which moves them to
 * history as Ray's GCS did before the restart.
 */
static void
end_earlier_sessions(const char *cluster, const char *session, const char *inc)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		a[2];

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	if (SPI_execute_with_args("DELETE FROM raydar.task_live l WHERE l.cluster = $1 AND l.incarnation <> $2 "
							  "AND NOT EXISTS (SELECT 1 FROM raydar.event_job_ends j WHERE j.cluster = l.cluster "
							  "AND j.incarnation = l.incarnation AND j.job_id = decode(l.job_id, 'hex') "
							  "AND j.marked_at IS NULL) "
							  "AND NOT EXISTS (SELECT 1 FROM raydar.event_worker_deaths w WHERE w.cluster = l.cluster "
							  "AND w.incarnation = l.incarnation AND w.worker_id = decode(l.worker_id, 'hex') "
							  "AND w.marked_at IS NULL)",
							  2, t, a, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not end the live attempts of earlier sessions");
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("raydar event merger: cluster \"%s\" started session \"%s\"; " UINT64_FORMAT
						" attempts its earlier sessions left pending or running were removed from raydar.task_live",
						cluster, session, SPI_processed),
				 errdetail("A Ray cluster runs one session at a time: those attempts will not finish, and Ray keeps no record of them."),
				 errhint("Their events stay in raydar.event_attempts for raydar.event_receiver_retention.")));
}

/*
 * The incarnation a session's rows go under (see the header), or NULL when
 * it must wait for the poller to see its run. A session bound here becomes
 * the cluster's newest (ci->live_inc).
 */
static char *
bind_session(const char *cluster, PushClusterInfo *ci, const char *session, TimestampTz since)
{
	Oid			t[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		a[3];
	bool		isnull;
	char	   *inc = NULL;

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(session);
	if (SPI_execute_with_args("SELECT incarnation FROM raydar.event_sessions WHERE cluster = $1 AND session_name = $2",
							  2, t, a, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_sessions");
	if (SPI_processed == 1)
		return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (ci->polled)
	{
		if (SPI_execute_with_args("SELECT s.incarnation FROM raydar.collector_status s "
								  "WHERE s.server::text = $1 AND coalesce(s.incarnation, '') <> '' "
								  "AND NOT EXISTS (SELECT 1 FROM raydar.event_sessions e "
								  "WHERE e.cluster = $1 AND e.incarnation = s.incarnation)",
								  1, t, a, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read raydar.collector_status");
		if (SPI_processed == 1)
			inc = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		else if (GetCurrentTimestamp() - since < (int64) event_session_wait_s * USECS_PER_SEC)
			return NULL;
		else
			ereport(LOG,
					(errmsg("raydar event merger: session \"%s\" of cluster \"%s\" stored under its own name",
							session, cluster),
					 errdetail("The collector has not seen a new run of the cluster within raydar.event_session_wait.")));
	}
	if (inc == NULL)
		inc = pstrdup(session);
	a[2] = CStringGetTextDatum(inc);
	/* clock_timestamp: sessions bound in one transaction stay ordered (live_inc). */
	if (SPI_execute_with_args("INSERT INTO raydar.event_sessions (cluster, session_name, incarnation, first_seen) "
							  "VALUES ($1, $2, $3, clock_timestamp())", 3, t, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into raydar.event_sessions");
	if (!ci->polled)
		end_earlier_sessions(cluster, session, inc);
	ci->live_inc = inc;
	return inc;
}

/* Bind the sessions of body's events: false if one must wait. */
static bool
body_sessions(Chunk *c, SpoolBody *sb)
{
	const char *last = NULL;
	char	   *inc = NULL;

	if (sb->b == NULL)
		return true;
	sb->incs = palloc0(sizeof(char *) * (sb->b->n + 1));
	for (size_t i = 0; i < sb->b->n; i++)
	{
		RayEventItem *it = &sb->b->items[i];
		ListCell   *lk,
				   *li;
		char	   *key;

		if (it->kind == RAY_EVENT_REJECTED)
			continue;
		/* A body is one node's: one session, looked up once. */
		if (last == NULL || strcmp(last, it->session_name) != 0)
		{
			key = psprintf("%s\n%s", sb->cluster, it->session_name);
			inc = NULL;
			forboth(lk, c->sessions, li, c->session_incs)
				if (strcmp(lfirst(lk), key) == 0)
					inc = lfirst(li);
			if (inc == NULL)
			{
				inc = bind_session(sb->cluster, sb->ci, it->session_name, sb->received_at);
				if (inc == NULL)
					return false;
				c->sessions = lappend(c->sessions, key);
				c->session_incs = lappend(c->session_incs, inc);
			}
			last = it->session_name;
		}
		sb->incs[i] = inc;
	}
	return true;
}

/*
 * The spool rows after id $2, in id order, up to $1 bytes of bodies (at
 * least one row): a chunk. %s: the columns; %s: a further condition.
 */
#define SPOOL_CHUNK_SQL \
	"SELECT %s FROM (" \
	"SELECT *, sum(coalesce(octet_length(body), 0)) OVER (ORDER BY id) AS upto FROM (" \
	"SELECT id, cluster, node, body, received_at FROM raydar.event_spool WHERE id > $2 " \
	"ORDER BY id LIMIT 1000) s0) s1 " \
	"WHERE upto - coalesce(octet_length(body), 0) < $1 %s ORDER BY id"

/*
 * Read the oldest spool rows, up to raydar.event_merge_chunk bytes (at
 * least one), into c.
 */
static void
read_spool(Chunk *c, MemoryContext cxt)
{
	Oid			t[3] = {INT8OID, INT8OID, INT8ARRAYOID};
	Datum		a[3];
	MemoryContext old;
	int64	   *held = NULL;
	int			nheld = 0;
	Datum	   *hd;

	if (parse_ahead != NULL)
	{
		int64		none;

		nheld = (int) ray_parse_ahead_held(parse_ahead, &none, 0);
		held = palloc(sizeof(int64) * (nheld + 1));
		nheld = (int) ray_parse_ahead_held(parse_ahead, held, nheld);
	}
	hd = palloc(sizeof(Datum) * (nheld + 1));
	for (int i = 0; i < nheld; i++)
		hd[i] = Int64GetDatum(held[i]);
	a[0] = Int64GetDatum((int64) event_merge_chunk_kb * 1024);
	a[1] = Int64GetDatum(PG_INT64_MIN);	/* from the first */
	a[2] = raydar_array_datum(hd, NULL, nheld, INT8OID);

	/*
	 * The bodies parse_ahead holds are not read again (nor decompressed):
	 * octet_length reads a compressed value's size from its header.
	 */
	if (SPI_execute_with_args(psprintf(SPOOL_CHUNK_SQL,
									   "id, cluster, node, CASE WHEN id = ANY($3) THEN NULL ELSE body END, "
									   "received_at, body IS NULL, octet_length(body)", ""),
							  3, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_spool");
	old = MemoryContextSwitchTo(cxt);
	c->n = (int) SPI_processed;
	c->bodies = palloc0(sizeof(SpoolBody) * (c->n + 1));
	for (int i = 0; i < c->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		SpoolBody  *sb = &c->bodies[i];
		bool		isnull;
		Datum		d;

		sb->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		sb->cluster = TextDatumGetCString(SPI_getbinval(tup, td, 2, &isnull));
		sb->node = TextDatumGetCString(SPI_getbinval(tup, td, 3, &isnull));
		d = SPI_getbinval(tup, td, 4, &isnull);
		if (isnull)
		{
			bool		too_large = DatumGetBool(SPI_getbinval(tup, td, 6, &isnull));

			/* held by parse_ahead (taken in drain_chunk), or too large: none */
			if (!too_large)
			{
				sb->ahead = true;
				sb->len = (size_t) DatumGetInt32(SPI_getbinval(tup, td, 7, &isnull));
			}
		}
		else
		{
			bytea	   *b = DatumGetByteaPP(d);

			sb->len = VARSIZE_ANY_EXHDR(b);
			sb->body = palloc(sb->len + 1);
			memcpy(sb->body, VARDATA_ANY(b), sb->len);
			sb->body[sb->len] = '\0';
			if ((Pointer) b != DatumGetPointer(d))
				pfree(b);
		}
		sb->received_at = DatumGetTimestampTz(SPI_getbinval(tup, td, 5, &isnull));
	}
	MemoryContextSwitchTo(old);
}

/* Name the body's node by the reporting node's id when Ray sends one. */
static void
name_node(SpoolBody *sb)
{
	if (sb->b != NULL && sb->b->n > 0 && sb->b->items[0].node_id_len > 0)
	{
		char	   *hex = palloc(2 * sb->b->items[0].node_id_len + 1);

		for (size_t i = 0; i < sb->b->items[0].node_id_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", sb->b->items[0].node_id[i]);
		sb->node = hex;
	}
}

/* Parse body here (in the transaction's memory). */
static void
parse_body(SpoolBody *sb)
{
	if (sb->body == NULL)
		return;
	raydar_allocator_init(&sb->alloc, CurrentMemoryContext);
	if (ray_event_batch_parse(sb->body, sb->len, &sb->ci->v, &sb->alloc, &sb->b, sb->err,
							  sizeof(sb->err)) != RAY_OK)
		sb->b = NULL;
	name_node(sb);
}

/*
 * A body parse_ahead holds, taken for this drain (read_spool asked which it
 * holds, and only this process drops them). One the thread could not parse
 * for lack of memory is parsed here, in the transaction's memory, as any
 * body read from the spool.
 */
static void
take_body(SpoolBody *sb)
{
	const RayParsedBody *pb = ray_parse_ahead_take(parse_ahead, sb->id, &sb->ci->v);

	if (pb == NULL)
		elog(ERROR, "spooled body %lld is no longer parsed ahead", (long long) sb->id);
	if (pb->status != RAY_ERR_OOM)
	{
		sb->body = pb->body;
		sb->len = pb->len;
		sb->b = pb->batch;
		strlcpy(sb->err, pb->err, sizeof(sb->err));
		name_node(sb);
		return;
	}
	sb->ahead = false;
	sb->len = pb->len;
	sb->body = palloc(sb->len + 1);
	memcpy(sb->body, pb->body, sb->len + 1);
	parse_body(sb);
}

/*
 * Hand the bodies after the chunk (up to another chunk's bytes) to
 * parse_ahead, so that they are parsed while this chunk is written. Only
 * when it holds none already and more is spooled: at most one chunk ahead.
 */
static void
parse_next_ahead(Chunk *c)
{
	Oid			t[2] = {INT8OID, INT8OID};
	Datum		a[2];
	const char *last_cluster = NULL;
	PushClusterInfo *last_ci = NULL;

	if (parse_ahead == NULL || c->n == 0 || ray_parse_ahead_last(parse_ahead) >= 0 ||
		pg_atomic_read_u64(&event_push_shared->spool_bodies) <= (uint64) c->n)
		return;
	a[0] = Int64GetDatum((int64) event_merge_chunk_kb * 1024);
	a[1] = Int64GetDatum(c->bodies[c->n - 1].id);
	if (SPI_execute_with_args(psprintf(SPOOL_CHUNK_SQL, "id, cluster, body", "AND body IS NOT NULL"),
							  2, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_spool");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		SPITupleTable *tt = SPI_tuptable;
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		char	   *cluster = TextDatumGetCString(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
		Datum		d = SPI_getbinval(tup, tt->tupdesc, 3, &isnull);
		bytea	   *b = DatumGetByteaPP(d);
		bool		queued;

		if (last_cluster == NULL || strcmp(cluster, last_cluster) != 0)
		{
			last_ci = chunk_cluster_info(c, cluster);
			last_cluster = cluster;
		}
		queued = ray_parse_ahead_submit(parse_ahead, id, &last_ci->v, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		if ((Pointer) b != DatumGetPointer(d))
			pfree(b);
		if (!queued)
			break;				/* out of memory: the rest is parsed when read */
	}
}

/*
 * How many of the chunk's bodies this drain merges; the rest are handed to
 * parse_ahead. While the merger keeps up, each drain finds only what was
 * spooled during the one before, and parse_next_ahead, run once the chunk
 * is read, finds nothing after it: the merger's own thread parsed most
 * bodies while the other one idled (at 15,000 attempts a second, 435 of
 * 1,200 bodies were parsed ahead, and in a profile the parse was a fifth
 * of the merger's own thread). So a drain merges the bodies at the
 * chunk's start that parse_ahead holds (none to parse: one too large has
 * no body) and hands it the rest, which it parses while this drain
 * writes; the next drain takes them parsed. Holding none, a drain of two
 * or more bodies merges the first half, parsing it here, while the thread
 * parses the other half. A single body is merged at once: nothing waits for a thread
 * that has nothing to overlap with. Bodies stay in id order: the rest are
 * the next drain's first. Behind a backlog (more is spooled than the chunk
 * read) the whole chunk is merged, as parse_next_ahead has the next one
 * parsed: halving every chunk there would write more attempts twice.
 */
static int
bodies_to_merge(Chunk *c)
{
	int			p = 0;

	if (parse_ahead == NULL || c->n < 2 ||
		pg_atomic_read_u64(&event_push_shared->spool_bodies) > (uint64) c->n)
		return c->n;
	while (p < c->n && (c->bodies[p].ahead || c->bodies[p].body == NULL))
		p++;
	if (p == c->n)
		return c->n;
	if (p == 0)
		p = (c->n + 1) / 2;
	for (int i = p; i < c->n; i++)
	{
		SpoolBody  *sb = &c->bodies[i];

		if (sb->ahead || sb->body == NULL)
			continue;
		/* out of memory: it and the rest are parsed when read again */
		if (!ray_parse_ahead_submit(parse_ahead, sb->id, &chunk_cluster_info(c, sb->cluster)->v,
									sb->body, sb->len))
			break;
	}
	return p;
}

/*
 * Which of the body's job, actor and node events are new (first occurrence
 * in the body too). Task events are deduplicated per attempt when merged
 * (event_attempts.c): they are left fresh here.
 */
static bool
deduplicated_by_id(const RayEventItem *it)
{
	return it->kind != RAY_EVENT_TASK && it->kind != RAY_EVENT_REJECTED;
}

static bool *
new_events(const char *cluster, RayEventBatch *b, int *ndup)
{
	bool	   *fresh = palloc0(sizeof(bool) * (b->n + 1));
	Datum	   *ids = palloc(sizeof(Datum) * (b->n + 1));
	int			n = 0;
	int			nfresh = 0;
	Oid			t[2] = {TEXTOID, BYTEAARRAYOID};
	Datum		a[2];
	HASHCTL		hc;
	HTAB	   *ins;

	*ndup = 0;
	for (size_t i = 0; i < b->n; i++)
	{
		fresh[i] = b->items[i].kind == RAY_EVENT_TASK;
		if (deduplicated_by_id(&b->items[i]))
			ids[n++] = raydar_bytea_datum(b->items[i].event_id, b->items[i].event_id_len);
	}
	if (n == 0)
		return fresh;
	a[0] = CStringGetTextDatum(cluster);
	a[1] = raydar_array_datum(ids, NULL, n, BYTEAOID);

	/*
	 * One statement for the body's ids; ON CONFLICT DO NOTHING also skips
	 * an id repeated within the body. The ids it inserted are matched back
	 * to the events here (a hash of them: the first event with an inserted
	 * id is the fresh one) rather than by a join in SQL, which the planner
	 * could plan as a nested loop over both lists.
	 */
	if (SPI_execute_with_args("INSERT INTO raydar.event_ids (cluster, event_id) SELECT $1, id "
							  "FROM unnest($2::bytea[]) AS x(id) ON CONFLICT DO NOTHING RETURNING event_id",
							  2, t, a, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into raydar.event_ids");
	memset(&hc, 0, sizeof(hc));
	hc.keysize = RAY_EVENT_MAX_ID + 1;	/* length byte, then the id */
	hc.entrysize = hc.keysize;
	hc.hcxt = CurrentMemoryContext;
	ins = hash_create("raydar pushed event ids", Max(SPI_processed, 16), &hc,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull);
		uint8		key[RAY_EVENT_MAX_ID + 1] = {0};
		bytea	   *id;
		size_t		len;

		if (isnull)
			continue;
		id = DatumGetByteaPP(d);
		len = VARSIZE_ANY_EXHDR(id);
		if (len > RAY_EVENT_MAX_ID)
			continue;
		key[0] = (uint8) len;
		memcpy(key + 1, VARDATA_ANY(id), len);
		hash_search(ins, key, HASH_ENTER, NULL);
	}
	for (size_t i = 0; i < b->n; i++)
	{
		uint8		key[RAY_EVENT_MAX_ID + 1] = {0};
		bool		found;

		if (!deduplicated_by_id(&b->items[i]) || b->items[i].event_id_len > RAY_EVENT_MAX_ID)
			continue;
		key[0] = (uint8) b->items[i].event_id_len;
		memcpy(key + 1, b->items[i].event_id, b->items[i].event_id_len);
		/* removed once claimed: a repeat of the id later in the body is a duplicate */
		hash_search(ins, key, HASH_REMOVE, &found);
		if (found)
		{
			fresh[i] = true;
			nfresh++;
		}
	}
	hash_destroy(ins);
	*ndup = n - nfresh;
	return fresh;
}

static ChunkCluster *
chunk_cluster(Chunk *c, const char *cluster, PushClusterInfo *ci)
{
	for (int i = 0; i < c->nc; i++)
		if (strcmp(c->c[i].cluster, cluster) == 0)
			return &c->c[i];
	c->c = c->c ? repalloc(c->c, sizeof(ChunkCluster) * (c->nc + 1)) : palloc(sizeof(ChunkCluster));
	memset(&c->c[c->nc], 0, sizeof(ChunkCluster));
	c->c[c->nc].cluster = cluster;
	c->c[c->nc].ci = ci;
	return &c->c[c->nc++];
}

/* Add one body's per-node counters to raydar.event_receiver_nodes. */
static void
count_body(const SpoolBody *sb, int ndup)
{
	Oid			t[9] = {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID,
	TIMESTAMPTZOID};
	Datum		a[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', ' '};
	RayEventBatch *b = sb->b;
	int64		newest_ns = 0;
	bool		has_newest = false;
	TimestampTz newest = 0;

	for (size_t i = 0; b != NULL && i < b->n; i++)
		if (b->items[i].has_timestamp && (!has_newest || b->items[i].timestamp_ns > newest_ns))
		{
			newest_ns = b->items[i].timestamp_ns;
			has_newest = true;
		}
	a[0] = CStringGetTextDatum(sb->cluster);
	a[1] = CStringGetTextDatum(sb->node);
	a[2] = Int64GetDatum(b ? (int64) b->n : 0);
	a[3] = Int64GetDatum(b ? (int64) b->ntask : 0);
	a[4] = Int64GetDatum(b ? (int64) b->nother : 0);
	a[5] = Int64GetDatum(b ? (int64) b->nrejected : 1);
	a[6] = Int64GetDatum(ndup);
	if (has_newest && raydar_ms_to_timestamptz(newest_ns / 1000000, &newest))
	{
		a[7] = TimestampTzGetDatum(newest + (newest_ns % 1000000) / 1000);
		nulls[7] = ' ';
	}
	a[8] = TimestampTzGetDatum(sb->received_at);
	/* lag: from the newest event's making to its storing (now: the merge). */
	if (SPI_execute_with_args("INSERT INTO raydar.event_receiver_nodes AS s (cluster, node, batches, events, "
							  "task_events, other_events, rejected, duplicates, last_batch_at, newest_event_at, lag, "
							  "merge_lag) "
							  "VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $9, $8, clock_timestamp() - $8, clock_timestamp() - $9) "
							  "ON CONFLICT (cluster, node) DO UPDATE SET batches = s.batches + 1, "
							  "events = s.events + $3, task_events = s.task_events + $4, "
							  "other_events = s.other_events + $5, rejected = s.rejected + $6, "
							  "duplicates = s.duplicates + $7, last_batch_at = greatest(s.last_batch_at, $9), "
							  "newest_event_at = greatest(s.newest_event_at, $8), "
							  "lag = coalesce(clock_timestamp() - $8, s.lag), merge_lag = clock_timestamp() - $9",
							  9, t, a, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not update raydar.event_receiver_nodes");
}

/*
 * One body: its rejects kept; its fresh job, actor and node events merged
 * now (per session, in arrival order), its task events added to the
 * chunk's clusters (merge_chunk merges and deduplicates them).
 */
static void
process_body(Chunk *c, SpoolBody *sb)
{
	RayEventBatch *b = sb->b;
	ChunkCluster *cc = chunk_cluster(c, sb->cluster, sb->ci);
	bool	   *fresh;
	RayEventItem **others;
	int			nothers = 0;
	const char *others_inc = NULL;

	if (sb->body == NULL)
		event_push_reject(sb->cluster, sb->node,
						  psprintf("body larger than %zu bytes", RAY_EVENT_MAX_BODY), NULL, 0);
	else if (b == NULL)
		event_push_reject(sb->cluster, sb->node, sb->err, sb->body, sb->len);
	for (size_t i = 0; b != NULL && i < b->n; i++)
		if (b->items[i].kind == RAY_EVENT_REJECTED)
			event_push_reject(sb->cluster, sb->node, b->items[i].reason, b->items[i].text,
							  b->items[i].text ? strlen(b->items[i].text) : 0);
	if (b != NULL)
	{
		fresh = new_events(sb->cluster, b, &sb->ndup);
		others = palloc(sizeof(RayEventItem *) * (b->n + 1));
		if (cc->n + (int) b->n > cc->cap)
		{
			cc->cap = Max(cc->cap * 2, cc->n + (int) b->n);
			cc->keys = cc->keys ? repalloc(cc->keys, sizeof(AttemptKey) * cc->cap) :
				palloc(sizeof(AttemptKey) * cc->cap);
		}
		for (size_t i = 0; i < b->n; i++)
		{
			RayEventItem *it = &b->items[i];

			if (it->kind == RAY_EVENT_REJECTED || !fresh[i])
				continue;
			if (others_inc != NULL && sb->incs[i] != others_inc && nothers > 0)
			{
				sb->ndup += event_entities_merge(sb->cluster, others_inc, &sb->ci->v, others, nothers);
				nothers = 0;
			}
			others_inc = sb->incs[i];
			if (it->kind != RAY_EVENT_TASK)
			{
				others[nothers++] = it;
				continue;
			}
			cc->keys[cc->n].item = c->seq++;
			cc->keys[cc->n].inc = sb->incs[i];
			cc->keys[cc->n].te = it->task;
			cc->keys[cc->n].event_id = it->event_id;
			cc->keys[cc->n].event_id_len = it->event_id_len;
			cc->keys[cc->n].ndup = &sb->ndup;
			cc->n++;
		}
		if (nothers > 0)
			sb->ndup += event_entities_merge(sb->cluster, others_inc, &sb->ci->v, others, nothers);
	}
}

/* The chunk's task events, per cluster. */
static void
merge_chunk(Chunk *c)
{
	for (int i = 0; i < c->nc; i++)
		event_attempts_merge(c->c[i].cluster, c->c[i].ci, c->c[i].keys, c->c[i].n);
	c->nc = 0;
	c->seq = 0;
}

/*
 * Run bodies [from, to) of c (merged together) in a subtransaction; on an
 * error, roll it back and return it (copied), else NULL.
 */
static ErrorData *
try_bodies(Chunk *c, int from, int to)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		for (int i = from; i < to; i++)
		{
			c->bodies[i].ndup = 0;
			process_body(c, &c->bodies[i]);
		}
		merge_chunk(c);
		/* counted once merged: the task events' duplicates are known then */
		for (int i = from; i < to; i++)
			count_body(&c->bodies[i], c->bodies[i].ndup);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		SPI_restore_connection();
		c->nc = 0;
		c->seq = 0;
	}
	PG_END_TRY();
	return edata;
}

/* Remove the spool rows of bodies [0, n): consumed with this transaction. */
static void
delete_spooled(Chunk *c, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * (n + 1));
	Oid			t[1] = {INT8ARRAYOID};
	Datum		a[1];

	for (int i = 0; i < n; i++)
		ids[i] = Int64GetDatum(c->bodies[i].id);
	a[0] = raydar_array_datum(ids, NULL, n, INT8OID);
	if (SPI_execute_with_args("DELETE FROM raydar.event_spool WHERE id = ANY($1)", 1, t, a, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from raydar.event_spool");
}

/*
 * Body i failed alone with edata: kept in event_rejects (it is not a
 * passing condition, and Ray already has its 200). False if edata means
 * PostgreSQL cannot take writes: the drain is rolled back and retried.
 */
static bool
reject_failed(Chunk *c, int i, ErrorData *edata)
{
	SpoolBody  *sb = &c->bodies[i];

	if (event_push_transient(edata->sqlerrcode))
	{
		ereport(LOG, (errmsg("raydar event merger: could not store spooled events, will retry: %s",
							 edata->message)));
		return false;
	}
	ereport(LOG, (errmsg("raydar event merger: a batch of cluster \"%s\" could not be stored: %s",
						 sb->cluster, edata->message)));
	event_push_reject(sb->cluster, sb->node, psprintf("could not store the batch: %s", edata->message),
					  sb->body ? sb->body : "", sb->len);
	FreeErrorData(edata);
	return true;
}

/*
 * Store bodies [0, n) of c: together, else one by one. False (and the
 * transaction must be rolled back) when PostgreSQL cannot take the writes.
 */
static bool
store_bodies(Chunk *c, int n)
{
	ErrorData  *edata = try_bodies(c, 0, n);

	if (edata == NULL)
		return true;
	if (n == 1 || event_push_transient(edata->sqlerrcode))
		return reject_failed(c, 0, edata);
	FreeErrorData(edata);
	for (int i = 0; i < n; i++)
		if ((edata = try_bodies(c, i, i + 1)) != NULL && !reject_failed(c, i, edata))
			return false;
	return true;
}

/*
 * One drain: the oldest spooled bodies stored and their spool rows deleted
 * in one transaction. Returns the bodies consumed, 0 when the spool is
 * empty or its first body waits for its session, -1 on a transient error.
 */
static int
drain_chunk(MemoryContext cxt, uint64 *bytes)
{
	Chunk		c = {0};
	int			n;
	int			limit;
	int			nahead = 0;
	bool		ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event merger: merging spooled events");
	raydar_check_sql_version();
	if (parse_ahead != NULL)
		ray_parse_ahead_release(parse_ahead);	/* a drain that ended early */
	read_spool(&c, cxt);
	/* held bodies before the chunk were consumed (the spool is read in order) */
	if (parse_ahead != NULL)
		ray_parse_ahead_drop_below(parse_ahead, c.n > 0 ? c.bodies[0].id : PG_INT64_MAX);
	*bytes = 0;
	limit = bodies_to_merge(&c);
	for (n = 0; n < limit; n++)
	{
		SpoolBody  *sb = &c.bodies[n];

		sb->ci = chunk_cluster_info(&c, sb->cluster);
		c.infos = lappend(c.infos, sb);
		if (sb->ahead)
			take_body(sb);
		else
			parse_body(sb);
		if (!body_sessions(&c, sb))
			break;				/* it and what follows wait: bodies stay in order */
		*bytes += sb->len;
	}
	parse_next_ahead(&c);
	for (int i = 0; i < n; i++)
		nahead += c.bodies[i].ahead;
	if (n > 0)
	{
		ok = store_bodies(&c, n);
		if (ok)
			delete_spooled(&c, n);
	}
	for (int i = 0; i < c.n; i++)
		if (c.bodies[i].b != NULL && !c.bodies[i].ahead)
			ray_event_batch_free(c.bodies[i].b);
	if (parse_ahead != NULL)
		ray_parse_ahead_release(parse_ahead);
	SPI_finish();
	PopActiveSnapshot();
	if (ok)
		CommitTransactionCommand();
	else
		AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (n > 0)
		ereport(DEBUG1, (errmsg_internal("raydar event merger: %s %d bodies, %d of them parsed ahead",
										 ok ? "merged" : "rolled back", n, nahead)));
	return ok ? n : -1;
}

/*
 * Every 10 s (each reads a partial index): the unfinished attempts of
 * workers that died, then of jobs that ended, marked FAILED (Ray's GCS
 * marks a worker's after 1 s, a job's after 15 s); attempts whose
 * definition never came, stored.
 */
static void
settle(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event merger: workers dead, jobs ended, attempts without a definition");
	event_attempts_fail_dead_workers();
	event_attempts_fail_ended_jobs();
	event_attempts_settle_undefined();
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * The merger's periodic work (every minute: it scans event_attempts):
 * forget old event ids and attempts, bound event_rejects.
 */
static void
maintain(void)
{
	Oid			t[2] = {INT4OID, INT4OID};
	Datum		a[2];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event merger: maintenance");
	a[0] = Int32GetDatum(event_receiver_retention_s);
	a[1] = Int32GetDatum(event_rejects_max);
	SPI_execute_with_args("DELETE FROM raydar.event_ids WHERE received_at < now() - make_interval(secs => $1)",
						  1, t, a, NULL, false, 0);

	/*
	 * An attempt stored in history and quiet for the retention keeps only
	 * its key (a tombstone): a very late event for it is then skipped
	 * rather than merged into nothing. Tombstones go after 30 days.
	 */
	SPI_execute_with_args("UPDATE raydar.event_attempts SET events = '\\x', event_ids = '\\x', expired = true "
						  "WHERE in_history AND NOT expired AND updated_at < now() - make_interval(secs => $1)",
						  1, t, a, NULL, false, 0);
	SPI_execute("DELETE FROM raydar.event_attempts WHERE expired AND updated_at < now() - interval '30 days'",
				false, 0);
	/* Jobs, actors and nodes: the same rule (event_entities.c). */
	event_entities_expire(event_receiver_retention_s);
	SPI_execute_with_args("DELETE FROM raydar.event_rejects WHERE id <= "
						  "(SELECT max(id) FROM raydar.event_rejects) - $2", 2, t, a, NULL, false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Attempts merged since the receiver's tables were last ANALYZEd, and how
 * many had been merged then. The merge joins a chunk's keys (unnest) to
 * event_attempts, task_live and task_history; while a new cluster's rows
 * grow from nothing faster than autovacuum analyzes them, the planner
 * believes "cluster = $1 AND incarnation = $2" matches a few rows and
 * hashes the whole incarnation for every chunk, so ingest slowed as the
 * tables grew. Analyzed each time the merged attempts double.
 */
static uint64 merged_at_analyze = 0;

static void
analyze_if_grown(void)
{
	if (event_attempts_merged < Max((uint64) 5000, merged_at_analyze))
		return;
	merged_at_analyze += event_attempts_merged;
	event_attempts_merged = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event merger: ANALYZE");
	/* not worth waiting for */
	SPI_execute("SET LOCAL lock_timeout = '1s'", false, 0);

	/*
	 * A small sample: the plans need the tables' sizes and how many rows an
	 * incarnation has, not fine histograms (autovacuum's own ANALYZE, at
	 * the server's target, replaces these). At the default target (100)
	 * this was 9.5% of the merger's time in a 100,000-attempt drain, 2.5%
	 * at 10.
	 */
	SPI_execute("SET LOCAL default_statistics_target = 10", false, 0);
	/* the key columns only: sorting the jsonb columns' samples was most of it */
	SPI_execute("ANALYZE raydar.event_attempts (cluster, incarnation, task_id, attempt_number), "
				"raydar.task_live (cluster, task_id, attempt_number), "
				"raydar.task_history (cluster, incarnation, task_id, attempt_number)",
				false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Run one of the merger's steps; an error is logged and the loop goes on. */
static bool
run_step(void (*step) (void), const char *what)
{
	MemoryContext old = CurrentMemoryContext;
	bool		ok = true;

	PG_TRY();
	{
		step();
	}
	PG_CATCH();
	{
		ErrorData  *edata = raydar_worker_recover(old, false);

		ereport(LOG, (errmsg("raydar event merger: %s failed: %s", what, edata->message)));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

static void
merger_unpublish(int code, Datum arg)
{
	pg_atomic_write_u32(&event_push_shared->merger_procno, 0);
}

void
raydar_event_merger_main(Datum arg)
{
	MemoryContext work;
	TimestampTz last_maint = 0;
	TimestampTz last_settle = 0;
	TimestampTz last_drain = 0;	/* when the last drain that merged began */
	long		wait_ms = 0;

	/*
	 * Its commits need not wait for the disk: a lost commit leaves its spool
	 * rows in place with none of their effects, and they are merged again.
	 */
	event_push_worker_begin("raydar event merger", "off");
	/*
	 * Each drain allocates and frees about the same tens of MB: kept by
	 * malloc rather than given back to the kernel and faulted in again
	 * (page faults were a fifth of the merger's time).
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);

	/*
	 * The merger writes out dirty buffers itself. With PostgreSQL's
	 * default backend_flush_after (0) those writes pile up in the kernel's
	 * page cache until a checkpoint's fsyncs flush them all at once, and
	 * the receiver's commits, which wait for a WAL fsync on the same disk,
	 * stalled behind them: POST p99 at 10,000 attempts/s was 258-361 ms in
	 * bench/push/run.sh, 77-111 ms with 256kB. So the merger asks the
	 * kernel to write back as it goes, as the checkpointer does
	 * (checkpoint_flush_after), unless the server sets its own value.
	 */
	if (backend_flush_after == 0)
		SetConfigOption("backend_flush_after", "256kB", PGC_USERSET, PGC_S_SESSION);
	raydar_worker_prefer_lz4();

	/*
	 * A chunk's attempts reach its statements as arrays read back through
	 * unnest, whose rows a function scan keeps in a tuplestore: past the
	 * default work_mem (4MB) it spilled to a temporary file, about 4% of
	 * the merger's time in perf. One chunk's worth fits in 64MB (the
	 * chunk is raydar.event_merge_chunk of JSON, 16MB by default).
	 */
	if (work_mem < 64 * 1024)
		SetConfigOption("work_mem", "64MB", PGC_USERSET, PGC_S_SESSION);

	/*
	 * Where the cores are busy, the receiver's acknowledgements go first:
	 * merging is what may lag (the spool absorbs it, bounded by
	 * raydar.event_spool_max), a POST's latency is what Ray waits on.
	 */
	if (setpriority(PRIO_PROCESS, 0, 10) != 0)
		ereport(LOG, (errmsg("raydar event merger: could not lower its CPU priority: %m")));
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	pg_atomic_write_u32(&event_push_shared->merger_procno, (uint32) MyProc->pgprocno + 1);
	on_shmem_exit(merger_unpublish, (Datum) 0);
	work = AllocSetContextCreate(TopMemoryContext, "raydar event merger", ALLOCSET_DEFAULT_SIZES);
	{
		char		err[256];

		if (ray_parse_ahead_start(&parse_ahead, err, sizeof(err)) != RAY_OK)
			ereport(LOG, (errmsg("raydar event merger: bodies are parsed when merged, not ahead: %s", err)));
	}

	while (!ShutdownRequestPending)
	{
		int			n = 0;
		uint64		bytes = 0;
		TimestampTz drain_start;

		if (wait_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = 1000;
		/* Nothing before the receiver has counted the spool (event_push.h). */
		if (pg_atomic_read_u32(&event_push_shared->counted) == 0 || !event_push_extension_ready())
			continue;
		/*
		 * raydar.event_merge_delay: a drain that merged starts the next one
		 * no sooner than the delay after it began, unless a chunk's worth is
		 * spooled. Under a steady load the merger otherwise drains as soon
		 * as a body comes, a few bodies a transaction (469 drains for 1,200
		 * bodies at 15,000 attempts a second, bodies_to_merge halving
		 * them): each drain's fixed statements, and the attempts whose
		 * events fall on both sides of a drain (written twice: live, then
		 * history), cost more than merging early saves. At 15,000 attempts
		 * a second, 100 ms against 0 (three alternated pairs,
		 * docs/performance.md): attempts written twice 0.07-0.09 an attempt
		 * against 0.40-0.47, merger CPU 54-59 us an attempt against 71-74.
		 * A lone body (nothing merged within the delay) is merged at once.
		 */
		if (pg_atomic_read_u64(&event_push_shared->spool_bodies) > 0 &&
			pg_atomic_read_u64(&event_push_shared->spool_bytes) < (uint64) event_merge_chunk_kb * 1024)
		{
			long		left = event_merge_delay_ms - (long) ((GetCurrentTimestamp() - last_drain) / 1000);

			if (left > 0)
			{
				wait_ms = left;
				continue;
			}
		}
		drain_start = GetCurrentTimestamp();
		MemoryContextSwitchTo(work);
		PG_TRY();
		{
			n = drain_chunk(work, &bytes);
		}
		PG_CATCH();
		{
			ErrorData  *edata = raydar_worker_recover(work, false);

			ereport(LOG, (errmsg("raydar event merger: could not drain the spool: %s", edata->message)));
			n = -1;
		}
		PG_END_TRY();
		if (n > 0)
		{
			last_drain = drain_start;
			event_push_spool_sub(&event_push_shared->spool_bytes, bytes);
			event_push_spool_sub(&event_push_shared->spool_bodies, (uint64) n);
			wait_ms = 0;		/* maybe more: drain on */
		}
		else if (n == 0 && pg_atomic_read_u64(&event_push_shared->spool_bodies) > 0)
			wait_ms = 200;		/* a session waits for the collector */
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(work);

		/*
		 * A background worker reports its table statistics only when asked:
		 * without this, autovacuum would never see the spool's dead rows nor
		 * the history tables grow.
		 */
		pgstat_report_stat(false);
		if (n >= 0 && GetCurrentTimestamp() - last_settle > 10 * USECS_PER_SEC)
		{
			run_step(settle, "storing attempts without a definition");
			last_settle = GetCurrentTimestamp();
		}
		if (n >= 0 && GetCurrentTimestamp() - last_maint > 60 * USECS_PER_SEC)
		{
			run_step(maintain, "maintenance");
			last_maint = GetCurrentTimestamp();
		}
		run_step(analyze_if_grown, "ANALYZE");
	}
	proc_exit(0);
}
