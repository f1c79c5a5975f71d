/*
 * fdw.c
 *		The raydar foreign data wrapper's callbacks: planning, scanning,
 *		EXPLAIN and IMPORT FOREIGN SCHEMA, and raydar.last_scan().
 *
 * As in postgres_fdw.c, this file holds only the callbacks. The rows come
 * from a source (source.h: the GCS over gRPC or the dashboard over HTTP),
 * fetched once per scan with the pushed filters and LIMIT (pushdown.c), and
 * become virtual tuples column by column from the resource's column list
 * (task_columns.c, cluster_columns.c). Only the columns the query uses are
 * built.
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

#include "ray_cluster.h"
#include "ray_requests.h"
#include "source.h"

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
	MemoryContext scan_cxt;		/* the fetched rows */
	MemoryContext row_cxt;		/* one tuple's values */
	RaydarSourceResult *result; /* NULL until the first row is asked for */
	size_t		nrows;
	size_t		next;
	bool		fetched;
	ProtobufCAllocator alloc;	/* into scan_cxt, for scratch */
	RayBuf		scratch;
	size_t		reply_bytes;	/* size of what was fetched, for EndForeignScan */
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
		raydar_source_plan(conn, root, baserel, ps->resource, &ps->pushdown);
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

/* The resource a plan scans. */
static const RaydarResource *
plan_resource(ForeignScan *fsplan)
{
	const char *name = strVal(list_nth(fsplan->fdw_private, PRIV_RESOURCE));
	const RaydarResource *res = raydar_find_resource(name);

	if (res == NULL)
		elog(ERROR, "unknown raydar resource \"%s\" in plan", name);
	return res;
}

/*
 * The columns a plan builds, mapped to the column list (NULL where not
 * needed), and whether the keys-only decode fills them all.
 */
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
	/* Every scan of a plan begins before any row is read. */
	raydar_reset_out_of_range();
	st->scan_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "raydar scan",
										 ALLOCSET_DEFAULT_SIZES);
	st->row_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "raydar row",
										ALLOCSET_DEFAULT_SIZES);
}

/* The counters of this backend's last scan, for raydar.last_scan(). */
static void
remember_scan(RaydarScanState *st, const RaydarSourceCounters *k)
{
	memset(&last_scan, 0, sizeof(last_scan));
	last_scan.valid = true;
	strlcpy(last_scan.server, raydar_conn_server_name(st->conn), sizeof(last_scan.server));
	last_scan.rows = k->rows;
	last_scan.num_total_stored = k->num_total_stored;
	last_scan.num_filtered_on_gcs = k->num_filtered_on_gcs;
	last_scan.num_truncated = k->num_truncated;
	last_scan.num_status_task_events_dropped = k->num_status_task_events_dropped;
	last_scan.num_profile_task_events_dropped = k->num_profile_task_events_dropped;
	last_scan.reply_bytes = k->reply_bytes;
	last_scan.from_cache = k->from_cache;
	last_scan.call_ms = k->call_ms;
}

/* The source's request for this scan. */
static void
scan_request(RaydarScanState *st, RaydarSourceRequest *req)
{
	memset(req, 0, sizeof(*req));
	req->filters = st->filters;
	req->limit = st->limit;
	/*
	 * Queries such as GROUP BY state need no more than the keys walk reads;
	 * the others stream.
	 */
	req->rows = st->keys_only ? RAYDAR_ROWS_KEYS : RAYDAR_ROWS_FULL;
	req->warn = true;
	for (int i = 0; i < st->natts; i++)
		if (st->colmap[i] && strcmp(st->colmap[i]->name, "actor_repr_name") == 0)
			req->actor_reprs = true;
}

static void
fetch(RaydarScanState *st)
{
	RayVersion	v;
	const char *vtext;
	RaydarSourceRequest req;
	const RaydarSourceCounters *k;
	MemoryContext old;

	st->fetched = true;
	st->next = 0;
	st->nrows = 0;
	if (st->matches_nothing)
		return;

	old = MemoryContextSwitchTo(st->scan_cxt);
	raydar_allocator_init(&st->alloc, st->scan_cxt);
	ray_buf_init(&st->scratch, &st->alloc);
	raydar_conn_version(st->conn, &v, &vtext);
	scan_request(st, &req);
	st->result = raydar_source_fetch(st->conn, &v, st->resource, &req);
	MemoryContextSwitchTo(old);

	k = raydar_source_counters(st->result);
	st->nrows = raydar_source_nrows(st->result);
	st->reply_bytes = (size_t) k->reply_bytes;
	remember_scan(st, k);
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

	if (st->resource->kind == RAYDAR_TASKS_KIND)
	{
		const RayTaskRow *trow = raydar_source_task_row(st->result, st->next);

		reply = raydar_source_task_reply(st->result);
		row = trow;
		index = trow->index;
	}
	else
	{
		const RayClusterReply *cr = raydar_source_cluster_reply(st->result);

		reply = cr;
		row = cr->rows[st->next];
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

			slot->tts_values[i] = raydar_source_value(st->result, col, reply, row, index,
													  &st->scratch, &isnull);
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
	st->result = NULL;
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
	ForeignTable *table;
	RaydarSourceRequest req;
	bool		keys_only;

	if (!es->verbose)
		return;
	table = GetForeignTable(RelationGetRelid(node->ss.ss_currentRelation));
	(void) plan_columns(fsplan, RelationGetDescr(node->ss.ss_currentRelation), &keys_only);
	memset(&req, 0, sizeof(req));
	req.filters = list_nth(fsplan->fdw_private, PRIV_FILTERS);
	req.limit = plan_limit(fsplan);
	req.rows = keys_only ? RAYDAR_ROWS_KEYS : RAYDAR_ROWS_FULL;
	raydar_source_explain(raydar_get_conn(table->serverid, GetUserId()), plan_resource(fsplan), &req,
						  strVal(list_nth(fsplan->fdw_private, PRIV_VERSION)),
						  intVal(list_nth(fsplan->fdw_private, PRIV_MATCHES_NOTHING)) != 0, es);
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
