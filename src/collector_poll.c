/*
 * collector_poll.c
 *		One poll of one tracked server, as named phases.
 *
 * collector_poll_server runs the phases in order; each hands the next what
 * it found in a Poll. Network I/O never happens inside a transaction, so
 * no snapshot or lock is held while Ray is slow:
 *
 *	 resolve	(short transaction) the server, the role that tracked it
 *				(whose user mapping is used) and its connection
 *	 fetch		(no transaction) which start of the cluster answers and
 *				which Ray version it runs (collector_cluster.c), then every
 *				task attempt Ray holds, through the source interface over
 *				gRPC or the dashboard (source.h); of attempts this worker
 *				already wrote only the id, attempt and size are read
 *	 classify	(no transaction) which attempts are terminal and new, which
 *				terminal and changed since written, which still live
 *	 store		(the write transaction) those into task_history and the
 *				live ones into task_live (history_store.c), the reply
 *				indexed once
 *	 publish	(same transaction) collector_status, collector_errors and
 *				NOTIFY raydar_progress, then commit
 *	 remember	(no transaction) what was committed, into the worker's
 *				memory (collector_seen.c)
 *
 * then jobs, actors and nodes (collector_entities.c). An ERROR in any
 * phase ends the poll; collector_worker.c records it and aborts.
 */
#include "raydar.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "collector.h"
#include "history_store.h"
#include "ray_enums.h"
#include "source.h"

/* What the phases of one poll hand each other. */
typedef struct Poll
{
	const char *name;
	uint32		sno;			/* collector_server_no(name) */
	RaydarConn *conn;			/* resolve */
	TrackedServer *ts;			/* the worker's memory of the server, or NULL */
	RayVersion	v;				/* fetch: the version decoded with */
	char	   *inc;			/* fetch: the cluster's incarnation */
	char	   *old_inc;		/* fetch: the one before, when it changed */
	RaydarSourceResult *src;	/* fetch: the reply */
	const RayTaskReply *keys;	/* fetch: its attempts not written before */
	List	   *fresh;			/* classify: terminal, not written by this worker */
	List	   *changed;		/* classify: terminal, written, changed since */
	List	   *written;		/* classify: both, in key order */
	List	   *live;			/* classify: not yet terminal */
	uint64		live_fp;		/* classify: identifies the live set */
	bool		capped;			/* fetch: the dashboard's cap hid attempts */
	bool		rewrite_live;	/* store: task_live rewritten */
	CollectorPollResult res;	/* store, publish: what collector_status shows */
	instr_time	t_start,
				t_fetch,
				t_keys,
				t_done;
} Poll;

/*
 * The role whose user mapping (and so token) the collector uses for a
 * server: the one that tracked it, which raydar.track() checked for USAGE
 * on the server and a user mapping. Checked again at every poll, inside
 * the caller's transaction: a role dropped, or that lost USAGE or its
 * mapping, stops the collection with an error rather than reading the
 * cluster through someone else's token.
 */
static Oid
tracking_role(const char *name, ForeignServer *server)
{
	Datum		a[1];
	Oid			t[1] = {TEXTOID};
	char	   *role;
	Oid			roleid;

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	a[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT tracked_by::text FROM raydar.tracked_servers WHERE server_name = $1",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" is no longer tracked", name)));
	role = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	roleid = get_role_oid(role, true);
	role = MemoryContextStrdup(TopTransactionContext, role);
	PopActiveSnapshot();
	SPI_finish();
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer exists", role, name),
				 errhint("Track it again as a role with USAGE on the server and a user mapping: SELECT raydar.track('%s');",
						 name)));
	if (pg_foreign_server_aclcheck(server->serverid, roleid, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer has USAGE on it", role, name),
				 errhint("GRANT USAGE ON FOREIGN SERVER %s TO %s, or track it again as another role.",
						 quote_identifier(name), quote_identifier(role))));
	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(roleid),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer has a user mapping for it", role, name),
				 errhint("CREATE USER MAPPING FOR %s SERVER %s;", quote_identifier(role), quote_identifier(name))));
	return roleid;
}

/* Resolve: the server and its connection; catalog lookups need a transaction. */
static void
poll_resolve(Poll *p)
{
	ForeignServer *server;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	server = GetForeignServerByName(p->name, true);
	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tracked server \"%s\" does not exist", p->name),
				 errhint("SELECT raydar.untrack('%s');", p->name)));
	p->conn = raydar_get_conn(server->serverid, tracking_role(p->name, server));
	CommitTransactionCommand();
	/* Commit leaves TopMemoryContext current: the poll's memory is ours. */
	MemoryContextSwitchTo(collector_cycle_cxt);
}

/*
 * A cluster that answers with every list empty may have moved its task
 * events out of the GCS (Ray 2.58+): the source's rule (the one the FDW
 * warns with) says whether the cluster shows otherwise.
 */
static void
check_events_elsewhere(Poll *p)
{
	const RaydarSourceCounters *k = raydar_source_counters(p->src);
	const char *evidence;

	if (p->keys->nrows + p->keys->nknown > 0 || k->num_total_stored > 0 ||
		k->num_status_task_events_dropped > 0)
		return;
	evidence = raydar_source_task_events_elsewhere(p->src, &p->v);
	if (evidence == NULL)
		return;
	if (raydar_conn_is_http(p->conn))
		p->res.warning = psprintf("the cluster has %s, but its dashboard lists no task events: "
								  "nothing is collected (check RAY_enable_ray_event and the "
								  "cluster's task event settings)", evidence);
	else
		p->res.warning = psprintf("the cluster has %s, but its GCS holds no task events: Ray 2.58 "
								  "and later can send them to the dashboard's event aggregator "
								  "instead (RAY_enable_ray_event=1), and nothing is collected; "
								  "track a server with dashboard_url instead", evidence);
}

/*
 * What collector_status says of a task fetch that filled the dashboard's
 * cap. Up to Ray 2.40 the dashboard's total counts what the GCS stores, so
 * the hidden attempts are counted exactly; later dashboards count only the
 * rows the GCS returned, and the number is not known.
 */
static char *
cap_warning(const RaydarSourceCounters *k)
{
	if (k->cap_hidden > 0)
		return psprintf("the Ray dashboard's cap of %d rows per request hid %lld task attempts "
						"from this poll (%d of %d jobs alone exceed it); they are collected once "
						"they are visible, and attempts evicted meanwhile are lost",
						RAYDAR_DASHBOARD_MAX_ROWS, (long long) k->cap_hidden,
						k->capped_parts, Max(k->parts, 1));
	return psprintf("the Ray dashboard returned its cap of %d rows per request (%d of %d jobs alone "
					"fill it); how many task attempts it hid this dashboard does not say; they are "
					"collected once they are visible, and attempts evicted meanwhile are lost",
					RAYDAR_DASHBOARD_MAX_ROWS, Max(k->capped_parts, 1), Max(k->parts, 1));
}

/*
 * Fetch: which start of the cluster answers, its version, then the task
 * attempts, outside any transaction. A cluster started anew reuses task
 * ids: what this worker remembers of the old one must not hide the new
 * one's attempts.
 */
static void
poll_fetch(Poll *p)
{
	const RaydarSourceCounters *k;

	p->inc = collector_identify(p->conn, p->name, p->ts, &p->v);
	if (p->ts != NULL && p->ts->incarnation[0] != '\0' && strcmp(p->ts->incarnation, p->inc) != 0)
	{
		p->old_inc = pstrdup(p->ts->incarnation);
		collector_forget_server(p->name);
		p->ts->has_live_fp = false;
	}
	pgstat_report_activity(STATE_RUNNING, "raydar collector: fetching task attempts");
	INSTR_TIME_SET_CURRENT(p->t_start);
	p->src = raydar_source_fetch_tasks(p->conn, &p->v, NIL, -1, RAYDAR_ROWS_NEW_KEYS,
									   collector_written_before, &p->sno);
	INSTR_TIME_SET_CURRENT(p->t_fetch);
	p->keys = raydar_source_task_reply(p->src);
	k = raydar_source_counters(p->src);
	p->res.dropped = k->num_status_task_events_dropped;
	p->res.cap_hidden = k->cap_hidden;
	p->capped = raydar_conn_is_http(p->conn) &&
		(k->capped_parts > 0 ||
		 (k->parts == 0 && p->keys->nrows + p->keys->nknown >= RAYDAR_DASHBOARD_MAX_ROWS));
	if (p->capped)
		p->res.warning = cap_warning(k);
	else
		check_events_elsewhere(p);
}

static bool
terminal(const RayTaskReply *r, const RayTaskRow *row)
{
	RayTaskState st = ray_task_status_meaning(&r->version, row->state);

	return (st == RAY_TS_FINISHED || st == RAY_TS_FAILED) && row->has_end_ms &&
		row->task_id.len > 0;
}

/*
 * Classify: the attempts the fetch returned (those this worker did not
 * write, or that changed since), as fresh, changed or live, each list in
 * key order; the live set's fingerprint (ids, attempts, states, events).
 */
static void
poll_classify(Poll *p)
{
	const RayTaskReply *keys = p->keys;

	for (size_t i = 0; i < keys->nrows; i++)
	{
		const RayTaskRow *row = &keys->rows[i];

		if (terminal(keys, row))
		{
			if (collector_written_any(p->sno, row))
				p->changed = lappend_int(p->changed, (int) i);
			else
				p->fresh = lappend_int(p->fresh, (int) i);
		}
		else if (row->task_id.len > 0)
		{
			p->live = lappend_int(p->live, (int) i);
			p->live_fp = hash_combine64(p->live_fp, hash_bytes_extended(row->task_id.data,
																		(int) row->task_id.len, 0));
			p->live_fp = hash_combine64(p->live_fp, (uint64) row->attempt_number << 32 |
										(uint32) row->state);
			p->live_fp = hash_combine64(p->live_fp, (uint64) row->n_events);
		}
	}
	/* In the poll's memory, not the write transaction's: remember uses them. */
	p->fresh = history_store_key_order(keys, p->fresh);
	p->changed = history_store_key_order(keys, p->changed);
	p->written = list_concat_copy(p->fresh, p->changed);
	p->live = history_store_key_order(keys, p->live);
	INSTR_TIME_SET_CURRENT(p->t_keys);
}

/* Is (id, len, attempt) among rows, a list in history_store_key_order's order? */
static bool
in_key_list(const RayTaskReply *keys, List *rows, const uint8 *id, size_t len, int32 attempt)
{
	int			lo = 0,
				hi = list_length(rows) - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const RayTaskRow *r = &keys->rows[list_nth_int(rows, mid)];
		int			c = memcmp(r->task_id.data, id, Min(r->task_id.len, len));

		if (c == 0 && r->task_id.len != len)
			c = r->task_id.len < len ? -1 : 1;
		if (c == 0)
			c = (r->attempt_number > attempt) - (r->attempt_number < attempt);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Empty a server's task_live and return how many of its rows vanished:
 * attempts the last poll saw pending or running that this reply holds
 * neither live nor as a newly terminal attempt. task_live always holds the
 * live set of the last successful poll (both are written in one
 * transaction), so this counts attempts Ray evicted or forgot before they
 * finished, across worker restarts too. The rows deleted (few: what was in
 * flight) are looked up in the poll's lists, rather than sending every
 * fresh attempt to SQL.
 */
static int64
clear_live(Poll *p)
{
	Datum		args[1];
	Oid			types[1] = {TEXTOID};
	int64		vanished = 0;
	char		id[64];

	args[0] = CStringGetTextDatum(p->name);
	if (SPI_execute_with_args("DELETE FROM raydar.task_live WHERE cluster = $1 "
							  "RETURNING task_id, attempt_number",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not clear raydar.task_live")));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		t = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		int32		attempt = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		text	   *hex = DatumGetTextPP(t);
		size_t		hexlen = VARSIZE_ANY_EXHDR(hex);
		size_t		len;

		if (hexlen > 2 * sizeof(id))
		{
			vanished++;			/* not an id this worker wrote */
			continue;
		}
		len = hex_decode(VARDATA_ANY(hex), hexlen, id);
		if (!in_key_list(p->keys, p->live, (uint8 *) id, len, attempt) &&
			!in_key_list(p->keys, p->fresh, (uint8 *) id, len, attempt))
			vanished++;
	}
	return vanished;
}

/* The reply positions of keys' rows at positions. */
static List *
reply_positions(const RayTaskReply *keys, List *positions)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, positions)
		out = lappend_int(out, (int) keys->rows[lfirst_int(lc)].index);
	return out;
}

/* A stored value as the source shows it (HistoryValueFn; ctx: the fetch). */
static Datum
source_value(void *ctx, const RaydarColumn *col, RayTaskReply *attempts, const RayTaskRow *row,
			 RayBuf *scratch, bool *isnull)
{
	return raydar_source_value((RaydarSourceResult *) ctx, col, attempts, row, row->index,
							   scratch, isnull);
}

/*
 * Store: in the write transaction, the terminal attempts into history and,
 * when the live set changed since last written, the live ones into
 * task_live. The reply is indexed once, only when something is written.
 */
static void
poll_store(Poll *p)
{
	TrackedServer *ts = p->ts;
	RayTaskReply *attempts = NULL;
	ListCell   *lc;

	p->rewrite_live = ts == NULL || !ts->has_live_fp || ts->live_fp != p->live_fp;
	if (p->written != NIL || p->rewrite_live)
		attempts = raydar_source_task_attempts(p->src);
	if (p->written != NIL)
	{
		/*
		 * A worker that does not know what it wrote must merge, unless
		 * history holds nothing of this incarnation of the cluster (a first
		 * track, or a cluster started anew): then plain inserts are safe,
		 * and about a third cheaper for a full GCS.
		 */
		bool		known = collector_is_verified(p->name) ||
			history_store_is_empty(p->name, p->inc);

		foreach(lc, p->written)
			p->res.newest_end_ms = Max(p->res.newest_end_ms, p->keys->rows[lfirst_int(lc)].end_ms);
		history_store_add_partitions(p->keys, p->written);
		p->res.inserted = history_store_write_with(known ? HISTORY_NEW : HISTORY_MERGE, p->name, p->inc,
												   attempts, reply_positions(p->keys, p->fresh),
												   source_value, p->src);
		/* Changed attempts replace their row (it may move partitions). */
		p->res.inserted += history_store_write_with(HISTORY_MERGE, p->name, p->inc, attempts,
													reply_positions(p->keys, p->changed),
													source_value, p->src);
	}
	if (p->rewrite_live)
	{
		p->res.vanished = clear_live(p);
		/* Rows the dashboard's cap hid are not told from vanished ones: not counted. */
		if (p->capped)
			p->res.vanished = 0;
		history_store_write_with(HISTORY_LIVE, p->name, p->inc, attempts,
								 reply_positions(p->keys, p->live), source_value, p->src);
	}
}

/*
 * Publish: the status row, what collector_errors should keep (a new start
 * of the cluster, vanished attempts, a new warning), NOTIFY; then commit,
 * which makes the rows, the status and the notification visible at once.
 */
static void
poll_publish(Poll *p)
{
	const char *last_warning = p->ts ? p->ts->last_warning : NULL;

	p->res.server = p->name;
	p->res.incarnation = p->inc;
	collector_record_success(&p->res);
	if (p->old_inc != NULL)
		collector_record_error(p->name, psprintf("the cluster started anew: incarnation %s follows %s; "
												 "history keeps both apart", p->inc, p->old_inc));
	if (p->res.vanished > 0)
		collector_record_error(p->name, psprintf("%lld task attempts seen pending or running vanished from the GCS "
												 "before finishing: Ray evicted them (raise "
												 "RAY_task_events_max_num_task_in_gcs or poll more often) "
												 "or the cluster restarted; their outcome is lost",
												 (long long) p->res.vanished));
	if (p->res.warning != NULL &&
		(last_warning == NULL || strcmp(last_warning, p->res.warning) != 0))
		collector_record_error(p->name, p->res.warning);
	if (p->res.inserted > 0 || p->rewrite_live)
		collector_notify_progress(p->name, p->keys, p->written, p->rewrite_live ? p->live : NIL);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(collector_cycle_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Remember: only what is committed is marked as written. */
static void
poll_remember(Poll *p)
{
	TrackedServer *ts = collector_find_tracked(p->name);

	collector_mark_written(p->sno, p->keys, p->written, list_length(p->fresh));
	if (ts != NULL)
	{
		if (p->rewrite_live)
		{
			ts->has_live_fp = true;
			ts->live_fp = p->live_fp;
		}
		strlcpy(ts->incarnation, p->inc, sizeof(ts->incarnation));
		if (ts->last_warning)
			pfree(ts->last_warning);
		ts->last_warning = p->res.warning ? MemoryContextStrdup(TopMemoryContext, p->res.warning) : NULL;
	}
	collector_set_verified(p->name, true);
	INSTR_TIME_SET_CURRENT(p->t_done);
}

void
collector_poll_server(const char *name)
{
	Poll		p;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.sno = collector_server_no(name);
	raydar_reset_out_of_range();

	poll_resolve(&p);
	p.ts = collector_find_tracked(name);
	poll_fetch(&p);
	poll_classify(&p);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar collector: writing task_history");
	poll_store(&p);
	poll_publish(&p);			/* commits */
	poll_remember(&p);

	collector_poll_entities(name, p.inc, p.conn, &p.v);
	/* Values PostgreSQL cannot hold were stored as NULL: say so, once a poll. */
	raydar_report_out_of_range(psprintf("Ray at %s (tracked server \"%s\")",
										raydar_conn_endpoint(p.conn), name));
	INSTR_TIME_SUBTRACT(p.t_done, p.t_keys);
	INSTR_TIME_SUBTRACT(p.t_keys, p.t_fetch);
	INSTR_TIME_SUBTRACT(p.t_fetch, p.t_start);
	elog(DEBUG1, "raydar collector: server \"%s\": %zu attempts in the reply, %d new, %llu written; "
		 "fetch %.1f ms, keys %.1f ms, decode+write %.1f ms",
		 name, p.keys->nrows + p.keys->nknown, list_length(p.fresh),
		 (unsigned long long) p.res.inserted, INSTR_TIME_GET_MILLISEC(p.t_fetch),
		 INSTR_TIME_GET_MILLISEC(p.t_keys), INSTR_TIME_GET_MILLISEC(p.t_done));
}
