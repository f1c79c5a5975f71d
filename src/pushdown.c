/*
 * pushdown.c
 *		Decide which WHERE conditions Ray's GCS evaluates, in the layout of
 *		the server's version, and which stay with PostgreSQL.
 *
 * Only `column = 'literal'` and `column <> 'literal'` on task_id, job_id,
 * actor_id, name and state can go to the GCS (GetTaskEventsRequest.Filters),
 * and only where the GCS's answer is exactly SQL's:
 *
 *  - IDs: SQL shows lowercase hex. A literal that is lowercase hex of the
 *    ID's exact length is pushed. Any other literal can equal no row, so an
 *    `=` on it makes the scan empty without a call: such a literal is never
 *    sent, because the real GCS aborts on an ID of the wrong length.
 *  - state: the GCS compares state names ignoring case. A literal that is
 *    exactly one of the version's state names (upper case) is pushed; any
 *    other stays local (it may still equal an unknown state's number).
 *  - name: the GCS matches the raw TaskInfoEntry.name, ignoring case from
 *    2.32 on, while SQL sees actor tasks renamed to "<repr>.<method>". A
 *    literal without '.' cannot be a renamed name, so `name = 'x'` is
 *    pushed and, where the GCS ignores case, also rechecked locally.
 *    `name <> 'x'` stays local: the GCS would drop rows SQL keeps.
 *  - `<>` needs the {predicate, value} layout (2.41+); state filters need
 *    2.32+; the scalar layout (<= 2.40) carries one job, actor, name and
 *    state each: a second, different `=` on one of those matches nothing.
 *
 * actors and nodes: `=` on actor_id, job_id and state (actors, any version)
 * and node_id and state (nodes, 2.36+), ids and exact state names only as
 * for tasks; one value per field (the GCS takes scalars; node selectors are
 * ORed). jobs: `job_id =` (2.37+, rechecked: the GCS also matches
 * submission ids). workers: `is_alive` (2.36+; `NOT is_alive` stays local).
 *
 * Conditions not pushed stay in local_conds; a LIMIT is pushed only when
 * local_conds is empty (fdw.c).
 */
#include "raydar.h"

#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_requests.h"

/*
 * The column a pushed filter field tests (also the dashboard's filter key):
 * the column whose filter it is in the column lists, the one place that
 * maps columns to request fields.
 */
const char *
raydar_filter_field_name(int field)
{
	for (const RaydarResource *res = raydar_resources; res->name; res++)
		for (const RaydarColumn *c = res->columns; c->name; c++)
			if (c->filter == field)
				return c->name;
	return "?";
}

/* A pushed filter, as a List for fdw_private: (field, predicate, value). */
static List *
make_filter(int field, int pred, const char *value)
{
	return list_make3(makeInteger(field), makeInteger(pred), makeString(pstrdup(value)));
}

static bool
is_lower_hex(const char *s, size_t want_bytes)
{
	size_t		n = strlen(s);

	if (n != want_bytes * 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

typedef enum Verdict
{
	LOCAL,						/* PostgreSQL checks it */
	PUSH,						/* the GCS checks it exactly */
	PUSH_AND_RECHECK,			/* the GCS narrows, PostgreSQL decides */
	NOTHING						/* no row can satisfy it */
} Verdict;

/* Actors and nodes: EQUAL on ids and exact state names, scalars only. */
static Verdict
judge_cluster(int field, int pred, const char *value, const RayVersion *v)
{
	size_t		idlen = ray_cluster_filter_id_len(field);

	if (!ray_cluster_filter_supported(field, v) || pred != RAY_PRED_EQ)
		return LOCAL;
	/*
	 * GcsWorkerManager::HandleGetAllWorkerInfo drops a worker only when
	 * `filters.is_alive && !is_alive`: true narrows exactly, false (the
	 * proto3 default) filters nothing, so `NOT is_alive` stays local.
	 */
	if (field == RAY_CF_WORKER_ALIVE)
		return strcmp(value, "true") == 0 ? PUSH : LOCAL;
	/* The GCS matches submission ids too: it narrows, PostgreSQL decides. */
	if (field == RAY_CF_JOB_ID)
		return is_lower_hex(value, idlen) ? PUSH_AND_RECHECK : NOTHING;
	if (idlen > 0)
		return is_lower_hex(value, idlen) ? PUSH : NOTHING;
	return ray_cluster_state_number(field, value) >= 0 ? PUSH : LOCAL;
}

static Verdict
judge(int field, int pred, const char *value, const RayVersion *v)
{
	size_t		idlen;

	if (field >= RAY_CF_ACTOR_ID)
		return judge_cluster(field, pred, value, v);
	idlen = ray_task_filter_id_len((RayTaskFilterField) field);

	if (!ray_task_filter_supported((RayTaskFilterField) field, (RayPredicate) pred, v))
		return LOCAL;
	if (idlen > 0)
	{
		if (!is_lower_hex(value, idlen))
			return pred == RAY_PRED_EQ ? NOTHING : LOCAL;

		/*
		 * <= 2.40 (scalar filters) the GCS's actor filter only narrows: it
		 * lets tasks without an actor id through (HandleGetTaskEvents in
		 * src/ray/gcs/gcs_task_manager.cc of those releases). Its job
		 * filter is exact unless task ids are given too: see
		 * raydar_classify_conditions.
		 */
		if (field == RAY_TF_ACTOR_ID && ray_version_filter_layout(v) == RAY_FILTERS_SCALAR)
			return PUSH_AND_RECHECK;
		return PUSH;
	}
	if (field == RAY_TF_STATE)
	{
		int			n = ray_task_status_from_name(v, value);

		if (n >= 0 && strcmp(ray_task_status_name(v, n), value) == 0)
			return PUSH;
		return LOCAL;
	}
	/* name */
	if (pred != RAY_PRED_EQ || strchr(value, '.') != NULL)
		return LOCAL;
	return ray_version_name_filter_ignores_case(v) ? PUSH_AND_RECHECK : PUSH;
}

/*
 * If clause is `Var op Const` (either order) on one of our filterable text
 * columns with = or <>, return true and fill field, pred and value.
 */
static bool
match_clause(Expr *clause, RelOptInfo *baserel, TupleDesc tupdesc, const RaydarColumn *columns,
			 int *field, int *pred, char **value)
{
	OpExpr	   *op;
	Node	   *l,
			   *r;
	Var		   *var;
	Const	   *con;
	Oid			func;
	const RaydarColumn *col;

	if (!IsA(clause, OpExpr))
		return false;
	op = (OpExpr *) clause;
	if (list_length(op->args) != 2)
		return false;
	l = strip_implicit_coercions(linitial(op->args));
	r = strip_implicit_coercions(lsecond(op->args));
	if (IsA(l, Var) && IsA(r, Const))
	{
		var = (Var *) l;
		con = (Const *) r;
	}
	else if (IsA(r, Var) && IsA(l, Const))
	{
		var = (Var *) r;
		con = (Const *) l;
	}
	else
		return false;
	if (var->varno != baserel->relid || var->varlevelsup != 0 || var->varattno <= 0 ||
		var->varattno > tupdesc->natts || con->constisnull || con->consttype != TEXTOID)
		return false;

	/* Built-in text = and <> with a deterministic collation only. */
	func = get_opcode(op->opno);
	if (func == F_TEXTEQ)
		*pred = RAY_PRED_EQ;
	else if (func == F_TEXTNE)
		*pred = RAY_PRED_NE;
	else
		return false;
	if (OidIsValid(op->inputcollid) && !get_collation_isdeterministic(op->inputcollid))
		return false;

	col = raydar_find_column(columns, NameStr(TupleDescAttr(tupdesc, var->varattno - 1)->attname));
	if (col == NULL || col->filter < 0)
		return false;
	*field = col->filter;
	*value = TextDatumGetCString(con->constvalue);
	return true;
}

/*
 * `is_alive`, `NOT is_alive` and `is_alive = true/false` on a boolean
 * column with a filter (workers' is_alive): the value as "true"/"false".
 */
static bool
match_bool_clause(Expr *clause, RelOptInfo *baserel, TupleDesc tupdesc,
				  const RaydarColumn *columns, int *field, char **value)
{
	bool		negate = false;
	Var		   *var = NULL;
	const RaydarColumn *col;

	if (IsA(clause, BoolExpr) && ((BoolExpr *) clause)->boolop == NOT_EXPR)
	{
		negate = true;
		clause = linitial(((BoolExpr *) clause)->args);
	}
	if (IsA(clause, Var))
		var = (Var *) clause;
	else if (!negate && IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2 &&
			 get_opcode(((OpExpr *) clause)->opno) == F_BOOLEQ)
	{
		Node	   *l = linitial(((OpExpr *) clause)->args);
		Node	   *r = lsecond(((OpExpr *) clause)->args);
		Const	   *c = (Const *) (IsA(l, Const) ? l : r);

		var = (Var *) (IsA(l, Var) ? l : r);
		if (!IsA(var, Var) || !IsA(c, Const) || c->constisnull)
			return false;
		negate = !DatumGetBool(c->constvalue);
	}
	if (var == NULL || var->varno != baserel->relid || var->varlevelsup != 0 ||
		var->varattno <= 0 || var->varattno > tupdesc->natts || var->vartype != BOOLOID)
		return false;
	col = raydar_find_column(columns, NameStr(TupleDescAttr(tupdesc, var->varattno - 1)->attname));
	if (col == NULL || col->filter < 0)
		return false;
	*field = col->filter;
	*value = pstrdup(negate ? "false" : "true");
	return true;
}

void
raydar_classify_conditions(PlannerInfo *root, RelOptInfo *baserel, const RaydarResource *res,
						   const RayVersion *v, RaydarPushdown *out)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Relation	rel = table_open(rte->relid, NoLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		tasks = res->kind == RAYDAR_TASKS_KIND;
	/* Actors and nodes take one value per field, like old task filters. */
	bool		scalar = !tasks || ray_version_filter_layout(v) == RAY_FILTERS_SCALAR;
	char	   *single[5] = {NULL, NULL, NULL, NULL, NULL};	/* scalar layout EQs */
	List	   *job_conds = NIL;	/* job_id conditions judged exact */
	bool		task_ids = false;	/* a task_id condition is sent */
	ListCell   *lc;

	memset(out, 0, sizeof(*out));
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		int			field,
					pred;
		char	   *value;
		Verdict		verdict;

		pred = RAY_PRED_EQ;
		if (!match_clause(ri->clause, baserel, tupdesc, res->columns, &field, &pred, &value) &&
			!match_bool_clause(ri->clause, baserel, tupdesc, res->columns, &field, &value))
		{
			out->local_conds = lappend(out->local_conds, ri);
			continue;
		}
		verdict = judge(field, pred, value, v);
		if (verdict == NOTHING)
		{
			out->matches_nothing = true;
			out->remote_conds = lappend(out->remote_conds, ri);
			continue;
		}
		if (verdict != LOCAL && scalar && !(tasks && field == RAY_TF_TASK_ID))
		{
			int			slot = field % 100;

			/*
			 * The scalar layout has one slot per field. A second exact
			 * condition on a filled slot is decided here: the same value
			 * adds nothing, another value matches nothing (x = 'a' AND
			 * x = 'b'). A second inexact one stays local.
			 */
			if (single[slot] != NULL)
			{
				if (verdict == PUSH)
				{
					if (strcmp(single[slot], value) != 0)
						out->matches_nothing = true;
					out->remote_conds = lappend(out->remote_conds, ri);
					if (tasks && field == RAY_TF_JOB_ID)
						job_conds = lappend(job_conds, ri);
				}
				else
					out->local_conds = lappend(out->local_conds, ri);
				continue;
			}
			single[slot] = value;
		}
		if (verdict == LOCAL)
		{
			out->local_conds = lappend(out->local_conds, ri);
			continue;
		}
		out->filters = lappend(out->filters, make_filter(field, pred, value));
		if (tasks && field == RAY_TF_TASK_ID)
			task_ids = true;
		if (verdict == PUSH && tasks && field == RAY_TF_JOB_ID)
			job_conds = lappend(job_conds, ri);
		if (verdict == PUSH)
			out->remote_conds = lappend(out->remote_conds, ri);
		else
			out->local_conds = lappend(out->local_conds, ri);
	}

	/*
	 * <= 2.40 (scalar filters) the GCS ignores the job filter when task ids
	 * are given (HandleGetTaskEvents in src/ray/gcs/gcs_task_manager.cc of
	 * those releases): the job filter is still sent, and checked again here.
	 */
	if (tasks && scalar && task_ids)
	{
		foreach(lc, job_conds)
		{
			out->remote_conds = list_delete_ptr(out->remote_conds, lfirst(lc));
			out->local_conds = lappend(out->local_conds, lfirst(lc));
		}
	}
	table_close(rel, NoLock);
}

/* "job_id = '01000000' AND state <> 'RUNNING'", for EXPLAIN. */
void
raydar_describe_filters(List *filters, StringInfo buf)
{
	ListCell   *lc;

	foreach(lc, filters)
	{
		List	   *f = (List *) lfirst(lc);
		int			field = intVal(linitial(f));
		int			pred = intVal(lsecond(f));

		if (buf->len > 0)
			appendStringInfoString(buf, " AND ");
		appendStringInfo(buf, "%s %s %s", raydar_filter_field_name(field), pred == RAY_PRED_EQ ? "=" : "<>",
						 field == RAY_CF_WORKER_ALIVE ? strVal(lthird(f))
						 : quote_literal_cstr(strVal(lthird(f))));
	}
}
