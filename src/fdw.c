/*
 * fdw.c
 *		The raydar foreign data wrapper: planning, scanning, EXPLAIN and
 *		IMPORT FOREIGN SCHEMA over Ray's GCS.
 *
 * One scan is one GetTaskEventsRequest: the pushed filters and LIMIT in the
 * layout of the server's version (pushdown.c), one unary call
 * (connection.c), the reply decoded by the core (src/ray) and turned into
 * virtual tuples column by column from the catalog (catalog.c). Only the
 * columns the query uses are built.
 *
 * A dashboard_url server reaches the same data over HTTP (the State API):
 * the JSON rows are turned back into a GetTaskEventsReply by
 * src/ray/ray_state_json.c, and from there the scan is the gRPC one, so
 * both transports give the same rows from one set of column rules.
 */
#include "raydar.h"

#include <malloc.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "http_client.h"
#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_requests.h"
#include "ray_state_json.h"

/* The dashboard returns at most this many rows (RAY_MAX_LIMIT_FROM_API_SERVER). */
#define DASHBOARD_MAX_LIMIT 10000

/* Rows assumed when the server has never been scanned in this backend. */
#define DEFAULT_ROWS 1000.0
/* A call to the GCS costs far more than a local row. */
#define STARTUP_COST 1000.0

/* Indexes into ForeignScan.fdw_private, as postgres_fdw's FdwScanPrivateIndex. */
enum RaydarScanPrivate
{
	PRIV_FILTERS,				/* List of (field, pred, value) */
	PRIV_LIMIT,					/* Integer-as-string: -1 for none */
	PRIV_MATCHES_NOTHING,		/* Integer 0/1 */
	PRIV_VERSION,				/* String: version the plan was made for */
	PRIV_ATTRS,					/* List of Integer attnos to build */
	PRIV_RESOURCE				/* String: the resource's name */
};

/* Planner state, in baserel->fdw_private. */
typedef struct RaydarPlanState
{
	const RaydarResource *resource;
	RaydarPushdown pushdown;
	const char *version_text;
	Bitmapset  *attrs_used;
	bool		whole_row;
} RaydarPlanState;

/* Executor state, in node->fdw_state. */
typedef struct RaydarScanState
{
	const RaydarResource *resource;
	RaydarConn *conn;
	List	   *filters;
	int64		limit;
	bool		matches_nothing;
	const RaydarColumn **colmap;	/* per attribute; NULL: not needed */
	int			natts;
	bool		keys_only;		/* every needed column comes from the keys walk */
	MemoryContext scan_cxt;		/* the reply and its decoded rows */
	MemoryContext row_cxt;		/* one tuple's values */
	RayTaskReply *reply;		/* tasks */
	RayClusterReply *creply;	/* the other resources */
	size_t		nrows;
	size_t		next;
	bool		fetched;
	ProtobufCAllocator alloc;	/* into scan_cxt; outlives fetch() */
	RayBuf		scratch;
	size_t		reply_bytes;	/* size of the reply fetched, for EndForeignScan */
	RayStateCounters odd;		/* HTTP: fields the dashboard sent unreadable (NULL) */
} RaydarScanState;

/* After a scan of a reply this large, return freed memory to the system. */
#define RAYDAR_TRIM_AFTER_BYTES ((size_t) 64 * 1024 * 1024)

/* The counters of this backend's last scan, for raydar.last_scan(). */
typedef struct LastScan
{
	bool		valid;
	char		server[NAMEDATALEN];
	int64		rows;
	int64		num_total_stored;
	int64		num_filtered_on_gcs;
	int64		num_truncated;
	int64		num_status_task_events_dropped;
	int64		num_profile_task_events_dropped;
	int64		reply_bytes;
	bool		from_cache;
	double		call_ms;
} LastScan;

static LastScan last_scan;

PG_FUNCTION_INFO_V1(raydar_fdw_handler);
PG_FUNCTION_INFO_V1(raydar_last_scan);

/* ----------------------------------------------------------------------
 * Planning
 * ---------------------------------------------------------------------- */

static Oid
scan_user(PlannerInfo *root, RelOptInfo *baserel)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
}

/* Every column must be a column of the resource, of the catalog's type. */
static void
check_columns(Relation rel, const RaydarResource *res)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		const RaydarColumn *col;

		if (att->attisdropped)
			continue;
		col = raydar_find_column(res->columns, NameStr(att->attname));
		if (col == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("column \"%s\" of foreign table \"%s\" is not a column of Ray's %s",
							NameStr(att->attname), RelationGetRelationName(rel), res->name),
					 errhint("Create the table with IMPORT FOREIGN SCHEMA ray, or see docs/tasks.md and docs/cluster.md for the columns.")));
		if (att->atttypid != raydar_coltype_oid(col->type))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" must have type %s",
							NameStr(att->attname), RelationGetRelationName(rel),
							raydar_coltype_sql(col->type))));
	}
}

/*
 * The dashboard compares strings ignoring case on every version (its own
 * filter step), so a pushed name condition only narrows: PostgreSQL
 * rechecks it. IDs and state names are pushed in their one exact spelling,
 * which case folding cannot change.
 */
static void
http_recheck_names(PlannerInfo *root, RelOptInfo *baserel, RaydarPushdown *pd)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	List	   *keep = NIL;
	ListCell   *lc;

	foreach(lc, pd->remote_conds)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Bitmapset  *attrs = NULL;
		bool		on_name = false;
		int			k = -1;

		pull_varattnos((Node *) ri->clause, baserel->relid, &attrs);
		while ((k = bms_next_member(attrs, k)) >= 0)
		{
			AttrNumber	attno = k + FirstLowInvalidHeapAttributeNumber;
			char	   *name = attno > 0 ? get_attname(rte->relid, attno, true) : NULL;

			on_name |= name != NULL && strcmp(name, "name") == 0;
		}
		if (on_name)
			pd->local_conds = lappend(pd->local_conds, ri);
		else
			keep = lappend(keep, ri);
	}
	pd->remote_conds = keep;
}

/*
 * Over HTTP, the filters pushed for actors, nodes and jobs go to the
 * dashboard as filter_keys too: with more than 10,000 actors that is what
 * keeps a filtered query under the cap. The dashboard applies some of them
 * in Python with its own matching (case-insensitive strings), so they only
 * narrow: PostgreSQL rechecks every one. is_alive is not sent: how the
 * dashboard compares a boolean to the text "true" is not something to
 * bet rows on, and workers are few.
 */
static void
http_recheck_cluster(RaydarPushdown *pd)
{
	List	   *keep = NIL;
	ListCell   *lc;

	foreach(lc, pd->filters)
		if (intVal(linitial((List *) lfirst(lc))) != RAY_CF_WORKER_ALIVE)
			keep = lappend(keep, lfirst(lc));
	pd->filters = keep;
	pd->local_conds = list_concat(pd->local_conds, pd->remote_conds);
	pd->remote_conds = NIL;
}

static void
raydarGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Relation	rel = table_open(rte->relid, NoLock);
	RaydarPlanState *ps = palloc0(sizeof(RaydarPlanState));
	RaydarConn *conn;
	RayVersion	v;
	double		rows;
	ListCell   *lc;

	ps->resource = raydar_table_resource(table, RelationGetRelationName(rel));
	check_columns(rel, ps->resource);
	table_close(rel, NoLock);

	conn = raydar_get_conn(table->serverid, scan_user(root, baserel));
	raydar_conn_version(conn, &v, &ps->version_text);
	if (ps->resource->kind != RAY_RESOURCE_PLACEMENT_GROUPS)
	{
		raydar_classify_conditions(root, baserel, ps->resource, &v, &ps->pushdown);
		if (raydar_conn_is_http(conn) && ps->resource->kind == RAYDAR_TASKS_KIND)
			http_recheck_names(root, baserel, &ps->pushdown);
		else if (raydar_conn_is_http(conn))
			http_recheck_cluster(&ps->pushdown);
	}
	else
	{
		/* An empty request is valid on every version: PostgreSQL filters. */
		memset(&ps->pushdown, 0, sizeof(ps->pushdown));
		foreach(lc, baserel->baserestrictinfo)
			ps->pushdown.local_conds = lappend(ps->pushdown.local_conds, lfirst(lc));
	}

	/* The columns to build: the output plus those local conditions read. */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &ps->attrs_used);
	foreach(lc, ps->pushdown.local_conds)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, baserel->relid,
					   &ps->attrs_used);
	ps->whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, ps->attrs_used);

	/* Estimate from what this server returned last time, not a constant. */
	rows = raydar_conn_last_rows(conn);
	if (rows < 0)
		rows = DEFAULT_ROWS;
	foreach(lc, ps->pushdown.filters)
	{
		List	   *f = lfirst(lc);

		if (intVal(linitial(f)) == RAY_TF_TASK_ID && intVal(lsecond(f)) == RAY_PRED_EQ)
			rows = Min(rows, 2.0);	/* one task, few attempts */
	}
	rows *= clauselist_selectivity(root, baserel->baserestrictinfo, 0, JOIN_INNER, NULL);
	if (ps->pushdown.matches_nothing)
		rows = 0;
	baserel->rows = clamp_row_est(rows);
	baserel->fdw_private = ps;
}

static void
raydarGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		total = STARTUP_COST + baserel->rows * (cpu_tuple_cost * 10);

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   STARTUP_COST, total, NIL,
													   baserel->lateral_relids, NULL, NIL));
}

/*
 * The LIMIT Ray may apply, or -1. Ray returns an arbitrary subset when it
 * cuts, so a LIMIT is pushed only when it applies to this scan's rows
 * directly: every condition is Ray's, this is the query's only relation,
 * and nothing (ORDER BY, GROUP BY, DISTINCT, aggregates, window functions,
 * set operations, SRFs, WITH TIES) stands between the scan and the LIMIT.
 */
static int64
pushable_limit(PlannerInfo *root, RelOptInfo *baserel, bool all_pushed)
{
	Query	   *parse = root->parse;
	FromExpr   *jt = parse->jointree;
	int64		count,
				offset = 0;

	if (!all_pushed || parse->commandType != CMD_SELECT || parse->limitCount == NULL ||
		parse->limitOption != LIMIT_OPTION_COUNT)
		return -1;
	if (parse->sortClause || parse->groupClause || parse->groupingSets ||
		parse->distinctClause || parse->hasAggs || parse->hasWindowFuncs ||
		parse->hasTargetSRFs || parse->havingQual || parse->setOperations ||
		parse->rowMarks)
		return -1;
	if (jt == NULL || list_length(jt->fromlist) != 1 || !IsA(linitial(jt->fromlist), RangeTblRef) ||
		((RangeTblRef *) linitial(jt->fromlist))->rtindex != (int) baserel->relid)
		return -1;
	if (!IsA(parse->limitCount, Const) || ((Const *) parse->limitCount)->constisnull)
		return -1;
	count = DatumGetInt64(((Const *) parse->limitCount)->constvalue);
	if (parse->limitOffset)
	{
		if (!IsA(parse->limitOffset, Const))
			return -1;
		if (!((Const *) parse->limitOffset)->constisnull)
			offset = DatumGetInt64(((Const *) parse->limitOffset)->constvalue);
	}
	if (count < 0 || offset < 0 || count > PG_INT64_MAX - offset)
		return -1;
	return count + offset;
}

static ForeignScan *
raydarGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
					 ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	RaydarPlanState *ps = (RaydarPlanState *) baserel->fdw_private;
	List	   *local_exprs = NIL;
	List	   *attrs = NIL;
	int64		limit;
	ListCell   *lc;
	int			natts;
	Relation	rel;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (ri->pseudoconstant || list_member_ptr(ps->pushdown.remote_conds, ri))
			continue;
		local_exprs = lappend(local_exprs, ri->clause);
	}
	limit = ps->resource->kind == RAYDAR_TASKS_KIND
		? pushable_limit(root, baserel, local_exprs == NIL) : -1;

	rel = table_open(planner_rt_fetch(baserel->relid, root)->relid, NoLock);
	natts = RelationGetDescr(rel)->natts;
	table_close(rel, NoLock);
	for (int attno = 1; attno <= natts; attno++)
		if (ps->whole_row ||
			bms_is_member(attno - FirstLowInvalidHeapAttributeNumber, ps->attrs_used))
			attrs = lappend_int(attrs, attno);

	return make_foreignscan(tlist, local_exprs, baserel->relid, NIL,
							lappend(list_make5(ps->pushdown.filters,
											   makeString(psprintf(INT64_FORMAT, limit)),
											   makeInteger(ps->pushdown.matches_nothing ? 1 : 0),
											   makeString(pstrdup(ps->version_text)),
											   attrs),
									makeString(pstrdup(ps->resource->name))),
							NIL, NIL, outer_plan);
}

/* ----------------------------------------------------------------------
 * Execution
 * ---------------------------------------------------------------------- */

static int64
plan_limit(ForeignScan *fsplan)
{
	return pg_strtoint64(strVal(list_nth(fsplan->fdw_private, PRIV_LIMIT)));
}

/*
 * The columns a plan builds, mapped to the catalog (NULL where not needed),
 * and whether the keys-only decode fills them all.
 */
static const RaydarResource *
plan_resource(ForeignScan *fsplan)
{
	const char *name = strVal(list_nth(fsplan->fdw_private, PRIV_RESOURCE));
	const RaydarResource *res = raydar_find_resource(name);

	if (res == NULL)
		elog(ERROR, "unknown raydar resource \"%s\" in plan", name);
	return res;
}

static const RaydarColumn **
plan_columns(ForeignScan *fsplan, TupleDesc tupdesc, bool *keys_only)
{
	const RaydarColumn **colmap = palloc0(sizeof(RaydarColumn *) * Max(tupdesc->natts, 1));
	const RaydarResource *res = plan_resource(fsplan);
	ListCell   *lc;

	*keys_only = res->kind == RAYDAR_TASKS_KIND;
	foreach(lc, (List *) list_nth(fsplan->fdw_private, PRIV_ATTRS))
	{
		int			attno = lfirst_int(lc);
		Form_pg_attribute att = TupleDescAttr(tupdesc, attno - 1);

		if (att->attisdropped)
			continue;
		colmap[attno - 1] = raydar_find_column(res->columns, NameStr(att->attname));
		if (colmap[attno - 1] && !colmap[attno - 1]->from_keys)
			*keys_only = false;
	}
	return colmap;
}

static void
raydarBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	RaydarScanState *st;
	Oid			userid;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	raydar_check_sql_version();
	st = palloc0(sizeof(RaydarScanState));
	node->fdw_state = st;
	st->resource = plan_resource(fsplan);
	{
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, node->ss.ps.state);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
	st->conn = raydar_get_conn(table->serverid, userid);
	st->filters = list_nth(fsplan->fdw_private, PRIV_FILTERS);
	st->limit = plan_limit(fsplan);
	st->matches_nothing = intVal(list_nth(fsplan->fdw_private, PRIV_MATCHES_NOTHING)) != 0;
	st->natts = tupdesc->natts;
	st->colmap = plan_columns(fsplan, tupdesc, &st->keys_only);
	/* What Ray's State API does not carry is NULL over HTTP, not a default. */
	if (raydar_conn_is_http(st->conn))
		for (int i = 0; i < tupdesc->natts; i++)
			if (st->colmap[i] && !ray_state_json_has_column(st->resource->kind, st->colmap[i]->name))
				st->colmap[i] = NULL;
	/* Every scan of a plan begins before any row is read. */
	raydar_reset_out_of_range();
	st->scan_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "raydar scan",
										 ALLOCSET_DEFAULT_SIZES);
	st->row_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "raydar row",
										ALLOCSET_DEFAULT_SIZES);
}

static void
warn_about_loss(RaydarScanState *st, const RayTaskReply *r)
{
	/*
	 * The GCS counts attempts cut by our own LIMIT in num_truncated, adds 1
	 * per cut attempt with state updates to the status counter and each cut
	 * attempt's profile events to the profile counter
	 * (GcsTaskManager::HandleGetTaskEvents); those are not lost. The
	 * profile events cut are not told apart, so a cut reply says nothing
	 * about profile loss.
	 */
	int64		cut = st->limit >= 0 ? r->num_truncated : 0;
	int64		status_lost = r->num_status_task_events_dropped - cut;
	int64		profile_lost = cut > 0 ? 0 : r->num_profile_task_events_dropped;
	int64		truncated = r->num_truncated - cut;

	if (status_lost > 0 || profile_lost > 0 || truncated > 0)
		ereport(WARNING,
				(errmsg("Ray reports incomplete task data: %lld task attempts dropped, "
						"%lld profile events dropped, %lld attempts truncated",
						(long long) Max(status_lost, 0), (long long) Max(profile_lost, 0),
						(long long) Max(truncated, 0)),
				 errdetail("The GCS keeps at most task_events_max_num_task_in_gcs attempts "
						   "(100,000 by default) and evicts finished ones first; workers drop "
						   "events when their buffers overflow."),
				 errhint("SELECT * FROM raydar.last_scan() shows the counters.")));
}

/*
 * Ray 2.58 can send task events to the dashboard's event aggregator
 * instead of the GCS (opt-in, RAY_enable_ray_event=1; see
 * shared/ray-event-export.md): its GCS then answers every GetTaskEvents
 * with nothing. An unfiltered task scan that found nothing stored and
 * nothing dropped, on a cluster whose jobs are running tasks or that has
 * actors, is taken as that, and said, rather than shown as an empty
 * cluster. Only for 2.58+ servers: before, the mode does not exist and a
 * GCS restart (which loses task events) is the explanation, told by the
 * collector's vanished accounting. http: the scan went to the dashboard
 * (which then lists no tasks either). Costs one or two small calls, only
 * for such empty scans.
 */
static void
warn_if_task_events_elsewhere(RaydarScanState *st, const RayVersion *v, bool http)
{
	const char *evidence = NULL;
	char		err[256];

	if (!ray_version_at_least(v, 2, 58))
		return;
	if (http)
	{
		char	   *path = psprintf("/api/v0/actors?limit=1&timeout=%d",
									Max((raydar_conn_options(st->conn)->timeout_ms + 999) / 1000, 1));
		size_t		len;
		char	   *body = raydar_conn_http_get(st->conn, path, &len);
		char	  **ids;
		size_t		n;

		if (ray_state_json_row_strings(body, len, "actor_id", &ids, &n, err, sizeof(err)) == RAY_OK)
		{
			if (n > 0)
				evidence = "actors";
			ray_state_json_free_strings(ids, n);
		}
		pfree(body);
	}
	for (int k = 0; !http && k < 2 && evidence == NULL; k++)
	{
		RayResourceKind kind = k == 0 ? RAY_RESOURCE_JOBS : RAY_RESOURCE_ACTORS;
		uint8_t    *req = NULL;
		size_t		reqlen = 0;
		bytea	   *reply;
		bool		cached;
		RayClusterReply *cr;

		if (ray_cluster_request_encode(kind, NULL, 0, kind == RAY_RESOURCE_ACTORS ? 1 : -1, v, &st->alloc,
									   &req, &reqlen, err, sizeof(err)) != RAY_OK)
			continue;
		reply = raydar_conn_call(st->conn, ray_cluster_method(kind), req ? req : (const uint8_t *) "",
								 reqlen, &cached);
		if (ray_cluster_reply_decode(kind, (const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ, v,
									 &st->alloc, &cr, err, sizeof(err)) != RAY_OK)
			continue;
		for (size_t i = 0; i < cr->nrows && evidence == NULL; i++)
		{
			if (kind == RAY_RESOURCE_ACTORS)
				evidence = "actors";
			else if (((const Ray__Rpc__JobTableData *) cr->rows[i])->has_is_running_tasks &&
					 ((const Ray__Rpc__JobTableData *) cr->rows[i])->is_running_tasks)
				evidence = "jobs running tasks";
		}
		ray_cluster_reply_free(cr);
	}
	if (evidence != NULL)
		ereport(WARNING,
				(errmsg("the Ray cluster behind server \"%s\" has %s, but %s no task events",
						raydar_conn_server_name(st->conn), evidence,
						http ? "its dashboard lists" : "its GCS holds"),
				 errdetail("Ray 2.58 and later can send task events to the dashboard's event aggregator "
						   "instead of the GCS (RAY_enable_ray_event=1); the GCS then keeps none. "
						   "A GCS that has just restarted has none either, until workers report again."),
				 errhint(http ? "Check the cluster's RAY_enable_ray_event and task event settings."
						 : "Create a server with dashboard_url, whose task list Ray keeps in that mode, "
						 "or receive the events with raydar's push receiver once it exists.")));
}

/* The plan's pushed filters, (field, predicate, value) lists, as an array. */
static RayTaskFilter *
plan_filters(List *filters, int *n)
{
	RayTaskFilter *out = palloc0(sizeof(RayTaskFilter) * Max(list_length(filters), 1));
	ListCell   *lc;

	*n = 0;
	foreach(lc, filters)
	{
		List	   *f = lfirst(lc);

		out[*n].field = (RayTaskFilterField) intVal(linitial(f));
		out[*n].pred = (RayPredicate) intVal(lsecond(f));
		out[*n].value = strVal(lthird(f));
		(*n)++;
	}
	return out;
}

static void
raise_encode_error(const char *vtext, const char *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("cannot build a request for Ray %s", vtext),
			 errdetail("%s", err),
			 errhint("The server's Ray version may have changed since the query was planned; run it again.")));
}

/* The GetTaskEventsRequest for this scan's pushed filters and limit. */
static void
encode_task_request(RaydarScanState *st, const RayVersion *v, const char *vtext,
					uint8_t **req, size_t *reqlen)
{
	int			n;
	RayTaskFilter *filters = plan_filters(st->filters, &n);
	RayTaskQuery q;
	char		err[512];

	memset(&q, 0, sizeof(q));
	q.nfilters = n;
	q.filters = filters;
	q.has_limit = st->limit >= 0;
	q.limit = st->limit;
	if (ray_task_request_encode(&q, v, &st->alloc, req, reqlen, err, sizeof(err)) != RAY_OK)
		raise_encode_error(vtext, err);
}

/* Actors, nodes, jobs and workers take filters; placement groups an empty request. */
static void
encode_cluster_request(RaydarScanState *st, const RayVersion *v, const char *vtext,
					   uint8_t **req, size_t *reqlen)
{
	int			n;
	RayTaskFilter *filters = plan_filters(st->filters, &n);
	char		err[512];

	if (ray_cluster_request_encode(st->resource->kind, filters, n, -1, v, &st->alloc,
								   req, reqlen, err, sizeof(err)) != RAY_OK)
		raise_encode_error(vtext, err);
	if (*req == NULL)
		*req = (uint8_t *) "";
}

/*
 * The State API path and query of a scan: every row in detail (for tasks
 * also the drivers, as the GCS gives them), the scan's limit or the
 * dashboard's cap, the server's timeout, and the pushed filters.
 */
static char *
http_path(const RaydarResource *res, List *filters, int64 limit, int timeout_ms)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "/api/v0/%s?detail=true&limit=" INT64_FORMAT "&timeout=%d%s",
					 res->name,
					 limit >= 0 ? Min(limit, DASHBOARD_MAX_LIMIT) : DASHBOARD_MAX_LIMIT,
					 Max((timeout_ms + 999) / 1000, 1),
					 res->kind == RAYDAR_TASKS_KIND ? "&exclude_driver=false" : "");
	foreach(lc, filters)
	{
		List	   *f = lfirst(lc);

		/* The State API's keys are the column names the filters test. */
		appendStringInfo(&buf, "&filter_keys=%s&filter_predicates=%s&filter_values=%s",
						 raydar_filter_field_name(intVal(linitial(f))),
						 intVal(lsecond(f)) == RAY_PRED_EQ ? "%3D" : "%21%3D",
						 raydar_http_escape(strVal(lthird(f))));
	}
	return buf.data;
}

/* Report a State API body that could not be turned into a reply. */
static void
report_http_decode(RaydarScanState *st, RayStatus rs, const char *path, const char *err)
{
	const char *url = raydar_conn_options(st->conn)->dashboard_url;

	if (rs == RAY_ERR_RPC)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("the Ray dashboard at %s answered GET %s with an error", url, path),
				 errdetail("Ray said: %s", err)));
	if (rs == RAY_ERR_MALFORMED || rs == RAY_ERR_TOO_LARGE)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("the Ray dashboard at %s sent a response raydar cannot read (server \"%s\")",
						url, raydar_conn_server_name(st->conn)),
				 errdetail("GET %s: %s", path, err),
				 errhint("Check that dashboard_url is the Ray dashboard itself, not a proxy or login page.")));
	raydar_report_core_error(rs, psprintf("reading the State API response of the Ray dashboard at %s (server \"%s\")",
										  url, raydar_conn_server_name(st->conn)),
							 err);
}

/*
 * One list request: GET path, the rows as the GCS's reply bytes (in the
 * scan's context), the envelope's counters, the body's size.
 */
/* Time spent waiting for the dashboard in this scan (raydar.last_scan().call_ms). */
static double http_call_ms;

/* GET path from the server's dashboard, timed into http_call_ms. */
static char *
timed_get(RaydarScanState *st, const char *path, size_t *len)
{
	instr_time	start,
				elapsed;
	char	   *body;

	INSTR_TIME_SET_CURRENT(start);
	body = raydar_conn_http_get(st->conn, path, len);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	http_call_ms += INSTR_TIME_GET_MILLISEC(elapsed);
	return body;
}

static RayStateReprs *http_actor_reprs(RaydarScanState *st, size_t *bytes);

/*
 * reprs: NULL when the scan does not show actor_repr_name; else where the
 * actors' repr_names are kept once fetched, which happens only when the
 * body has an actor task.
 */
static void
http_list(RaydarScanState *st, const RayVersion *v, RayStateReprs **reprs, const char *path,
		  uint8_t **pb, size_t *pblen, RayStateCounters *k, size_t *bytes)
{
	char	   *body;
	size_t		len;
	char		err[512];
	RayStatus	rs;

	body = timed_get(st, path, &len);
	if (reprs && *reprs == NULL && memmem(body, len, "\"ACTOR_TASK\"", 12) != NULL)
		*reprs = http_actor_reprs(st, bytes);
	if (st->resource->kind == RAYDAR_TASKS_KIND)
		rs = ray_state_json_tasks(body, len, v, reprs ? *reprs : NULL, &st->alloc, pb, pblen, k,
								  err, sizeof(err));
	else
		rs = ray_state_json_cluster(st->resource->kind, body, len, v, &st->alloc, pb, pblen, k,
									err, sizeof(err));
	pfree(body);
	if (rs != RAY_OK)
		report_http_decode(st, rs, path, err);
	/* Values raydar could not read are NULL: say so once per request. */
	if (k->nodd > 0)
		ereport(WARNING,
				(errmsg_plural("the Ray dashboard sent %d value raydar could not read; it is shown as NULL",
							   "the Ray dashboard sent %d values raydar could not read; they are shown as NULL",
							   k->nodd, k->nodd),
				 errdetail("First: %s (GET %s).", k->odd, path),
				 errhint("The dashboard may be newer than this raydar; a server with address (the GCS) reads the same rows.")));
	*bytes += len;
}

/* The job ids the dashboard lists (GET /api/v0/jobs), for splitting a task scan. */
static List *
http_job_ids(RaydarScanState *st, size_t *bytes)
{
	char	   *path = psprintf("/api/v0/jobs?detail=true&limit=%d&timeout=%d", DASHBOARD_MAX_LIMIT,
								Max((raydar_conn_options(st->conn)->timeout_ms + 999) / 1000, 1));
	size_t		len;
	char	   *body = timed_get(st, path, &len);
	char	  **ids;
	size_t		n;
	char		err[512];
	RayStatus	rs = ray_state_json_row_strings(body, len, "job_id", &ids, &n, err, sizeof(err));
	List	   *res = NIL;

	pfree(body);
	if (rs != RAY_OK)
		report_http_decode(st, rs, path, err);
	for (size_t i = 0; i < n; i++)
		if (ray_task_filter_id_valid(RAY_TF_JOB_ID, ids[i]))
			res = lappend(res, pstrdup(ids[i]));
	ray_state_json_free_strings(ids, n);
	*bytes += len;
	return res;
}

/*
 * The actors' repr_names (GET /api/v0/actors), which the tasks route lacks:
 * fetched only when the scan shows actor_repr_name. malloc'd (core).
 */
static RayStateReprs *
http_actor_reprs(RaydarScanState *st, size_t *bytes)
{
	char	   *path = psprintf("/api/v0/actors?detail=true&limit=%d&timeout=%d", DASHBOARD_MAX_LIMIT,
								Max((raydar_conn_options(st->conn)->timeout_ms + 999) / 1000, 1));
	size_t		len;
	char	   *body = timed_get(st, path, &len);
	RayStateReprs *reprs;
	char		err[512];
	RayStatus	rs = ray_state_json_actor_reprs(body, len, &reprs, err, sizeof(err));

	pfree(body);
	if (rs != RAY_OK)
		report_http_decode(st, rs, path, err);
	*bytes += len;
	return reprs;
}

static bool
needs_column(RaydarScanState *st, const char *name)
{
	for (int i = 0; i < st->natts; i++)
		if (st->colmap[i] && strcmp(st->colmap[i]->name, name) == 0)
			return true;
	return false;
}

static bool
has_job_filter(List *filters)
{
	ListCell   *lc;

	foreach(lc, filters)
	{
		List	   *f = lfirst(lc);

		if (intVal(linitial(f)) == RAY_TF_JOB_ID && intVal(lsecond(f)) == RAY_PRED_EQ)
			return true;
	}
	return false;
}

/*
 * The request of a scan and, for a task scan that fills the cap, its split
 * by job (see fetch_http).
 */
static void
fetch_http_tasks_or_list(RaydarScanState *st, const RayVersion *v, RayStateReprs **reprs,
						 const char *path, uint8_t **pb_out, size_t *pblen_out, RayStateCounters *k_out,
						 size_t *bytes_out, int *nparts_out, int *capped_out, int64 *cut_out)
{
	int			timeout_ms = raydar_conn_options(st->conn)->timeout_ms;
	uint8_t    *pb;
	size_t		pblen;
	size_t		bytes = *bytes_out;
	RayStateCounters k;
	int			nparts = 0;
	int			capped_parts = 0;
	int64		cut = 0;

	http_list(st, v, reprs, path, &pb, &pblen, &k, &bytes);
	if (st->resource->kind == RAYDAR_TASKS_KIND && st->limit < 0 && k.rows >= DASHBOARD_MAX_LIMIT &&
		!has_job_filter(st->filters))
	{
		List	   *jobs = http_job_ids(st, &bytes);
		StringInfoData all;
		int64		rows = 0;
		ListCell   *lc;
		RayStateCounters odd_parts;

		memset(&odd_parts, 0, sizeof(odd_parts));

		/* One job: its part would be the same request, capped the same way. */
		if (list_length(jobs) < 2)
			jobs = NIL;
		initStringInfo(&all);
		foreach(lc, jobs)
		{
			List	   *filters = lappend(list_copy(st->filters),
										  list_make3(makeInteger(RAY_TF_JOB_ID), makeInteger(RAY_PRED_EQ),
													 makeString(lfirst(lc))));
			uint8_t    *part;
			size_t		partlen;
			RayStateCounters pk;

			http_list(st, v, reprs, http_path(st->resource, filters, -1, timeout_ms), &part, &partlen, &pk, &bytes);
			appendBinaryStringInfo(&all, (const char *) part, (int) partlen);
			pfree(part);
			if (!ray_state_json_odd_append(&odd_parts, &pk, (size_t) rows, &st->alloc))
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			rows += pk.rows;
			nparts++;
			if (pk.rows >= DASHBOARD_MAX_LIMIT)
			{
				capped_parts++;
				cut += Max(pk.total - pk.num_after_truncation, 0);
			}
		}
		/* Only if the parts found at least what the single request did. */
		if (jobs != NIL && rows >= k.rows)
		{
			pfree(pb);
			pb = (uint8_t *) all.data;
			pblen = all.len;
			k.num_after_truncation = k.rows = rows;
			k.total = Max(k.total, rows);
			k.cells = odd_parts.cells;
			k.ncells = odd_parts.ncells;
			k.capcells = odd_parts.capcells;
		}
		else
			nparts = 0;
	}
	*pb_out = pb;
	*pblen_out = pblen;
	*k_out = k;
	*bytes_out = bytes;
	*nparts_out = nparts;
	*capped_out = capped_parts;
	*cut_out = cut;
}

/*
 * A scan over HTTP: GET the rows, turn them into the GCS's reply, then
 * decode as the gRPC path does. Counters come from the envelope.
 *
 * A task scan that fills the dashboard's cap (10,000 rows) and is not
 * already limited to one job is split: once per job the dashboard lists,
 * with job_id = that job added to the pushed filters (the dashboard passes
 * job filters to the GCS, so each part has its own cap). The parts' reply
 * bytes are concatenated, which protobuf reads as one reply holding every
 * part's rows. A part that still fills the cap is reported.
 */
static void
fetch_http(RaydarScanState *st, const RayVersion *v)
{
	const char *url = raydar_conn_options(st->conn)->dashboard_url;
	bool		tasks = st->resource->kind == RAYDAR_TASKS_KIND;
	char	   *path = http_path(st->resource, st->filters, st->limit,
								 raydar_conn_options(st->conn)->timeout_ms);
	uint8_t    *pb;
	size_t		pblen;
	size_t		bytes = 0;
	RayStateCounters k;
	char		err[512];
	RayStatus	rs;
	int			nparts = 0;
	int			capped_parts = 0;
	int64		cut = 0;
	/* static: it must survive a longjmp to PG_FINALLY whatever the compiler keeps in registers */
	static RayStateReprs *reprs;

	http_call_ms = 0;
	reprs = NULL;
	PG_TRY();
	{
		fetch_http_tasks_or_list(st, v, tasks && needs_column(st, "actor_repr_name") ? &reprs : NULL,
								 path, &pb, &pblen, &k, &bytes, &nparts, &capped_parts, &cut);
	}
	PG_FINALLY();
	{
		ray_state_json_free_reprs(reprs);
		reprs = NULL;
	}
	PG_END_TRY();

	if (tasks)
		rs = (st->keys_only ? ray_task_reply_decode_keys : ray_task_reply_index)
			(pb, pblen, v, &st->alloc, &st->reply, err, sizeof(err));
	else
		rs = ray_cluster_reply_decode((RayResourceKind) st->resource->kind, pb, pblen, v,
									  &st->alloc, &st->creply, err, sizeof(err));
	if (rs != RAY_OK)
		raydar_report_core_error(rs, psprintf("decoding the rows of the Ray dashboard at %s", url), err);
	st->reply_bytes = bytes;
	/* As on the gRPC path: only a streamed reply reads its bytes later. */
	if (!(tasks && !st->keys_only))
		pfree(pb);
	st->nrows = tasks ? st->reply->nrows : st->creply->nrows;

	memset(&last_scan, 0, sizeof(last_scan));
	last_scan.valid = true;
	strlcpy(last_scan.server, raydar_conn_server_name(st->conn), sizeof(last_scan.server));
	last_scan.rows = (int64) st->nrows;
	last_scan.reply_bytes = (int64) bytes;
	last_scan.call_ms = http_call_ms;
	last_scan.num_total_stored = k.total;
	st->odd = k;
	/* Ray's num_filtered counts the rows left, not those filtered out. */
	last_scan.num_filtered_on_gcs = nparts > 0 ? 0 : Max(k.num_after_truncation - k.num_filtered, 0);
	last_scan.num_truncated = nparts > 0 ? cut : Max(k.total - k.num_after_truncation, 0);
	if (k.nwarnings > 0)
		ereport(WARNING,
				(errmsg("the Ray dashboard at %s warns: %s", url, k.warning),
				 k.nwarnings > 1 ? errdetail("%d more warnings.", k.nwarnings - 1) : 0));
	if (nparts > 0)
	{
		ereport(DEBUG1,
				(errmsg("raydar: the task scan filled the dashboard's cap; split into %d requests by job",
						nparts)));
		if (capped_parts > 0)
			ereport(WARNING,
					(errmsg("the Ray dashboard returned %d rows, its cap, for %d of %d jobs: their other task attempts are missing",
							DASHBOARD_MAX_LIMIT, capped_parts, nparts),
					 errdetail("The scan was split by job to stay under the cap; those jobs alone exceed it."),
					 errhint("Filter such a job by state or task_id, or use a server with address (the GCS). "
							 "SELECT * FROM raydar.last_scan() shows the counters.")));
	}
	/*
	 * Ray's own CLI warns when total exceeds num_after_truncation. Newer
	 * dashboards count total from the rows the GCS returned, so a reply
	 * that fills the cap is also taken as cut.
	 */
	else if (st->limit < 0 && (k.total > k.num_after_truncation || k.num_after_truncation >= DASHBOARD_MAX_LIMIT))
		ereport(WARNING,
				(errmsg("the Ray dashboard returned %lld of %lld%s %s",
						(long long) k.num_after_truncation,
						(long long) Max(k.total, k.num_after_truncation),
						k.total > k.num_after_truncation ? "" : " or more",
						tasks ? "task attempts" : st->resource->name),
				 tasks ? errdetail("The dashboard returns at most %d rows per request, and the GCS keeps at most "
								   "task_events_max_num_task_in_gcs attempts.", DASHBOARD_MAX_LIMIT)
				 : errdetail("The dashboard returns at most %d rows per request.", DASHBOARD_MAX_LIMIT),
				 errhint("Filter by job_id, state or task_id so each query stays under the cap, or use a "
						 "server with address (the GCS) for whole-cluster scans. "
						 "SELECT * FROM raydar.last_scan() shows the counters.")));
	if (tasks && st->nrows == 0 && st->filters == NIL && st->limit < 0 && k.total == 0)
		warn_if_task_events_elsewhere(st, v, true);
	if (st->filters == NIL && st->limit < 0)
		raydar_conn_set_last_rows(st->conn, (double) st->nrows);
}

static void
fetch(RaydarScanState *st)
{
	bool		tasks = st->resource->kind == RAYDAR_TASKS_KIND;
	const char *method = tasks ? RAYDAR_METHOD_GET_TASK_EVENTS
		: ray_cluster_method((RayResourceKind) st->resource->kind);
	const char *short_method = strrchr(method, '/') + 1;
	RayVersion	v;
	const char *vtext;
	uint8_t    *req = (uint8_t *) "";
	size_t		reqlen = 0;
	size_t		reply_bytes;
	bytea	   *reply;
	char		err[512];
	RayStatus	rs;
	MemoryContext old;
	instr_time	start,
				elapsed;
	bool		cached;
	int32		status_code;
	const char *status_message;

	st->fetched = true;
	st->next = 0;
	st->nrows = 0;
	if (st->matches_nothing)
		return;

	old = MemoryContextSwitchTo(st->scan_cxt);
	raydar_allocator_init(&st->alloc, st->scan_cxt);
	ray_buf_init(&st->scratch, &st->alloc);
	raydar_conn_version(st->conn, &v, &vtext);
	raydar_conn_check_version(st->conn);
	if (raydar_conn_is_http(st->conn))
	{
		fetch_http(st, &v);
		MemoryContextSwitchTo(old);
		return;
	}
	if (tasks)
		encode_task_request(st, &v, vtext, &req, &reqlen);
	else
		encode_cluster_request(st, &v, vtext, &req, &reqlen);

	INSTR_TIME_SET_CURRENT(start);
	reply = raydar_conn_call(st->conn, method, req, reqlen, &cached);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	reply_bytes = VARSIZE(reply) - VARHDRSZ;
	st->reply_bytes = reply_bytes;

	if (tasks)
		/*
		 * Queries such as GROUP BY state need no more than the keys walk
		 * reads; the others stream: index the reply, unpack one attempt per
		 * row (peak memory: the reply plus one attempt).
		 */
		rs = (st->keys_only ? ray_task_reply_decode_keys : ray_task_reply_index)
			((const uint8_t *) VARDATA(reply), reply_bytes, &v, &st->alloc, &st->reply,
			 err, sizeof(err));
	else
		rs = ray_cluster_reply_decode((RayResourceKind) st->resource->kind,
									  (const uint8_t *) VARDATA(reply), reply_bytes, &v,
									  &st->alloc, &st->creply, err, sizeof(err));
	if (rs != RAY_OK)
		raydar_report_core_error(rs, psprintf("decoding the %s reply of Ray GCS at %s (server \"%s\")",
											  short_method, raydar_conn_options(st->conn)->address,
											  raydar_conn_server_name(st->conn)),
								 err);
	status_code = tasks ? st->reply->status_code : st->creply->status_code;
	status_message = tasks ? st->reply->status_message : st->creply->status_message;
	if (status_code != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Ray GCS at %s answered %s with status %d: %s",
						raydar_conn_options(st->conn)->address, short_method, status_code,
						status_message)));
	/*
	 * Key rows and cluster rows own copies of everything they show
	 * (ray_tasks.h, ray_cluster.h), so the reply's bytes can go at once
	 * unless the cache owns them. A streamed reply reads its bytes until
	 * the scan ends: they stay in scan_cxt.
	 */
	if (!cached && !(tasks && !st->keys_only))
		pfree(reply);
	MemoryContextSwitchTo(old);
	st->nrows = tasks ? st->reply->nrows : st->creply->nrows;

	memset(&last_scan, 0, sizeof(last_scan));
	last_scan.valid = true;
	strlcpy(last_scan.server, raydar_conn_server_name(st->conn), sizeof(last_scan.server));
	last_scan.rows = (int64) st->nrows;
	last_scan.reply_bytes = (int64) reply_bytes;
	last_scan.from_cache = cached;
	last_scan.call_ms = cached ? 0 : INSTR_TIME_GET_MILLISEC(elapsed);
	if (tasks)
	{
		last_scan.num_total_stored = st->reply->num_total_stored;
		last_scan.num_filtered_on_gcs = st->reply->num_filtered_on_gcs;
		last_scan.num_truncated = st->reply->num_truncated;
		last_scan.num_status_task_events_dropped = st->reply->num_status_task_events_dropped;
		last_scan.num_profile_task_events_dropped = st->reply->num_profile_task_events_dropped;
		warn_about_loss(st, st->reply);
		if (st->nrows == 0 && st->filters == NIL && st->limit < 0 && st->reply->num_total_stored == 0 &&
			st->reply->num_status_task_events_dropped == 0)
			warn_if_task_events_elsewhere(st, &v, false);
	}
	else
	{
		last_scan.num_total_stored = st->creply->has_total ? st->creply->total : (int64) st->nrows;
		last_scan.num_filtered_on_gcs = st->creply->num_filtered;
	}
	if (st->filters == NIL && st->limit < 0)
		raydar_conn_set_last_rows(st->conn, (double) st->nrows);
}

static TupleTableSlot *
raydarIterateForeignScan(ForeignScanState *node)
{
	RaydarScanState *st = (RaydarScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	const void *reply;
	const void *row;
	size_t		index;
	MemoryContext old;

	if (!st->fetched)
		fetch(st);
	ExecClearTuple(slot);
	if (st->next >= st->nrows)
		return slot;

	if (st->resource->kind == RAYDAR_TASKS_KIND && st->keys_only)
	{
		reply = st->reply;
		row = &st->reply->rows[st->next];
		index = st->reply->rows[st->next].index;
	}
	else if (st->resource->kind == RAYDAR_TASKS_KIND)
	{
		const RayTaskRow *trow;
		char		err[256];
		RayStatus	rs = ray_task_reply_row(st->reply, st->next, &trow, err, sizeof(err));

		if (rs != RAY_OK)
			raydar_report_core_error(rs, psprintf("decoding the GetTaskEvents reply of Ray GCS at %s (server \"%s\")",
												  raydar_conn_options(st->conn)->address,
												  raydar_conn_server_name(st->conn)),
									 err);
		reply = st->reply;
		row = trow;
		index = trow->index;
	}
	else
	{
		reply = st->creply;
		row = st->creply->rows[st->next];
		index = st->next;
	}
	st->next++;
	MemoryContextReset(st->row_cxt);
	old = MemoryContextSwitchTo(st->row_cxt);
	for (int i = 0; i < st->natts; i++)
	{
		const RaydarColumn *col = st->colmap[i];

		slot->tts_isnull[i] = true;
		slot->tts_values[i] = (Datum) 0;
		if (col)
		{
			bool		isnull = false;

			slot->tts_values[i] = col->get(reply, row, &st->scratch, &isnull);
			/* A value the dashboard sent unreadable is NULL, not its default. */
			if (st->odd.ncells > 0 &&
				ray_state_json_cell_is_odd(&st->odd, st->resource->kind, index, col->name))
				isnull = true;
			slot->tts_isnull[i] = isnull;
		}
	}
	MemoryContextSwitchTo(old);
	ExecStoreVirtualTuple(slot);
	return slot;
}

static void
raydarReScanForeignScan(ForeignScanState *node)
{
	RaydarScanState *st = (RaydarScanState *) node->fdw_state;

	/* No parameters are pushed: the same rows serve every rescan. */
	st->next = 0;
}

/*
 * Release the reply and its rows now rather than with the query: a
 * portal or a plan with several scans keeps es_query_cxt long after this
 * scan is done. A large reply came from malloc'd blocks that glibc may keep
 * (grpc's slices, huge pallocs); give them back to the system.
 */
static void
raydarEndForeignScan(ForeignScanState *node)
{
	RaydarScanState *st = (RaydarScanState *) node->fdw_state;

	if (st == NULL)
		return;
	raydar_report_out_of_range(psprintf("Ray at %s (server \"%s\")",
										raydar_conn_endpoint(st->conn),
										raydar_conn_server_name(st->conn)));
	MemoryContextDelete(st->row_cxt);
	MemoryContextDelete(st->scan_cxt);
	st->reply = NULL;
	st->creply = NULL;
	if (st->reply_bytes >= RAYDAR_TRIM_AFTER_BYTES)
		malloc_trim(0);
}

/* ----------------------------------------------------------------------
 * EXPLAIN
 * ---------------------------------------------------------------------- */

static void
raydarExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	List	   *filters = list_nth(fsplan->fdw_private, PRIV_FILTERS);
	int64		limit = plan_limit(fsplan);
	const char *vtext = strVal(list_nth(fsplan->fdw_private, PRIV_VERSION));
	bool		nothing = intVal(list_nth(fsplan->fdw_private, PRIV_MATCHES_NOTHING)) != 0;
	StringInfoData buf;
	RayVersion	v;

	if (!es->verbose)
		return;
	{
		ForeignTable *table = GetForeignTable(RelationGetRelid(node->ss.ss_currentRelation));
		RaydarConn *conn = raydar_get_conn(table->serverid, GetUserId());

		if (raydar_conn_is_http(conn))
		{
			ExplainPropertyText("Ray Transport", "HTTP", es);
			if (nothing)
			{
				ExplainPropertyText("Ray Request", "none: a condition no row can satisfy", es);
				return;
			}
			ExplainPropertyText("Ray Request", psprintf("GET %s",
														http_path(plan_resource(fsplan), filters, limit,
																  raydar_conn_options(conn)->timeout_ms)), es);
			ExplainPropertyText("Ray Version", vtext, es);
			initStringInfo(&buf);
			raydar_describe_filters(filters, &buf);
			ExplainPropertyText("Ray Filters", buf.len > 0 ? buf.data : "none", es);
			return;
		}
	}
	ExplainPropertyText("Ray Transport", "gRPC", es);
	if (nothing)
	{
		ExplainPropertyText("Ray Request", "none: a condition no row can satisfy", es);
		return;
	}
	{
		const RaydarResource *res = plan_resource(fsplan);

		ExplainPropertyText("Ray Method", res->kind == RAYDAR_TASKS_KIND
							? RAYDAR_METHOD_GET_TASK_EVENTS
							: ray_cluster_method((RayResourceKind) res->kind), es);
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, vtext);
	if (plan_resource(fsplan)->kind == RAYDAR_TASKS_KIND && ray_version_parse(vtext, &v))
		appendStringInfoString(&buf, ray_version_filter_layout(&v) == RAY_FILTERS_PREDICATE
							   ? " ({predicate, value} filters)" : " (scalar filters)");
	ExplainPropertyText("Ray Version", buf.data, es);
	resetStringInfo(&buf);
	raydar_describe_filters(filters, &buf);
	ExplainPropertyText("Ray Filters", buf.len > 0 ? buf.data : "none", es);
	if (limit >= 0)
		ExplainPropertyInteger("Ray Limit", NULL, limit, es);
	else
		ExplainPropertyText("Ray Limit", "none", es);
	{
		bool		keys_only;

		(void) plan_columns(fsplan, RelationGetDescr(node->ss.ss_currentRelation), &keys_only);
		ExplainPropertyText("Ray Decode", keys_only ? "keys and states only" : "full", es);
	}
}

/* ----------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA ray
 * ---------------------------------------------------------------------- */

static List *
raydarImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;

	if (strcmp(stmt->remote_schema, "ray") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("Ray has no schema \"%s\"", stmt->remote_schema),
				 errhint("Use IMPORT FOREIGN SCHEMA ray FROM SERVER %s INTO ...;",
						 quote_identifier(server->servername))));

	for (const RaydarResource *res = raydar_resources; res->name; res++)
	{
		const char *name = res->name;
		bool		listed = false;
		ListCell   *lc;
		StringInfoData cmd;

		foreach(lc, stmt->table_list)
			listed |= strcmp(((RangeVar *) lfirst(lc))->relname, name) == 0;
		if ((stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && !listed) ||
			(stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT && listed))
			continue;

		initStringInfo(&cmd);
		appendStringInfo(&cmd, "CREATE FOREIGN TABLE %s (", quote_identifier(name));
		for (const RaydarColumn *c = res->columns; c->name; c++)
			appendStringInfo(&cmd, "%s%s %s", c == res->columns ? "\n  " : ",\n  ",
							 quote_identifier(c->name), raydar_coltype_sql(c->type));
		appendStringInfo(&cmd, "\n) SERVER %s OPTIONS (resource %s)",
						 quote_identifier(server->servername), quote_literal_cstr(name));
		commands = lappend(commands, cmd.data);
	}
	return commands;
}

/* ----------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------- */

Datum
raydar_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = raydarGetForeignRelSize;
	routine->GetForeignPaths = raydarGetForeignPaths;
	routine->GetForeignPlan = raydarGetForeignPlan;
	routine->BeginForeignScan = raydarBeginForeignScan;
	routine->IterateForeignScan = raydarIterateForeignScan;
	routine->ReScanForeignScan = raydarReScanForeignScan;
	routine->EndForeignScan = raydarEndForeignScan;
	routine->ExplainForeignScan = raydarExplainForeignScan;
	routine->ImportForeignSchema = raydarImportForeignSchema;
	PG_RETURN_POINTER(routine);
}

/* raydar.last_scan(): the counters Ray reported for this backend's last scan. */
Datum
raydar_last_scan(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[10];
	bool		nulls[10] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!last_scan.valid)
		PG_RETURN_NULL();
	values[0] = CStringGetTextDatum(last_scan.server);
	values[1] = Int64GetDatum(last_scan.rows);
	values[2] = Int64GetDatum(last_scan.num_total_stored);
	values[3] = Int64GetDatum(last_scan.num_filtered_on_gcs);
	values[4] = Int64GetDatum(last_scan.num_truncated);
	values[5] = Int64GetDatum(last_scan.num_status_task_events_dropped);
	values[6] = Int64GetDatum(last_scan.num_profile_task_events_dropped);
	values[7] = Int64GetDatum(last_scan.reply_bytes);
	values[8] = BoolGetDatum(last_scan.from_cache);
	values[9] = Float8GetDatum(last_scan.call_ms);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
