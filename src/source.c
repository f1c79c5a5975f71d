/*
 * source.c
 *		The transport-independent half of the source interface (source.h):
 *		picking the transport of a connection, reading rows and values out
 *		of a fetch's result whichever transport filled it.
 */
#include "raydar.h"

#include "commands/explain.h"

#include "source.h"

RaydarSourceResult *
raydar_source_fetch(RaydarConn *conn, const RayVersion *v, const RaydarResource *res,
					const RaydarSourceRequest *req)
{
	RaydarSourceResult *r = palloc0(sizeof(RaydarSourceResult));

	r->res = res;
	r->conn = conn;
	r->mode = res->kind == RAYDAR_TASKS_KIND ? req->rows : RAYDAR_ROWS_FULL;
	r->http = raydar_conn_is_http(conn);
	raydar_allocator_init(&r->alloc, CurrentMemoryContext);
	raydar_conn_check_version(conn);
	if (r->http)
		raydar_dashboard_fetch(r, v, req);
	else
		raydar_gcs_fetch(r, v, req);
	return r;
}

RaydarSourceResult *
raydar_source_fetch_tasks(RaydarConn *conn, const RayVersion *v, List *filters, int64 limit,
						  RaydarTaskRows rows, RayKnownAttemptFn known, void *known_ctx)
{
	RaydarSourceRequest req;

	memset(&req, 0, sizeof(req));
	req.filters = filters;
	req.limit = limit;
	req.rows = rows;
	req.known = known;
	req.known_ctx = known_ctx;
	req.actor_reprs = rows != RAYDAR_ROWS_KEYS;
	return raydar_source_fetch(conn, v, raydar_find_resource("tasks"), &req);
}

const RaydarSourceCounters *
raydar_source_counters(const RaydarSourceResult *r)
{
	return &r->counters;
}

size_t
raydar_source_nrows(const RaydarSourceResult *r)
{
	if (r->tasks)
		return r->tasks->nrows;
	return r->cluster ? r->cluster->nrows : 0;
}

const RayTaskReply *
raydar_source_task_reply(RaydarSourceResult *r)
{
	return r->tasks;
}

/* Report a row the core could not decode (a streamed reply's damage). */
static void
row_error(RaydarSourceResult *r, RayStatus rs, const char *err)
{
	raydar_report_core_error(rs, psprintf("decoding the GetTaskEvents reply of Ray at %s (server \"%s\")",
										  raydar_conn_endpoint(r->conn),
										  raydar_conn_server_name(r->conn)),
							 err);
}

/* Row i of reply t: in its rows array, or unpacked from a streamed reply. */
static const RayTaskRow *
reply_row(RaydarSourceResult *r, RayTaskReply *t, size_t i)
{
	const RayTaskRow *row;
	char		err[256];
	RayStatus	rs;

	if (i >= t->nrows)
		elog(ERROR, "task attempt %zu is not in a reply of %zu", i, t->nrows);
	if (t->rows != NULL)
		return &t->rows[i];
	rs = ray_task_reply_row(t, i, &row, err, sizeof(err));
	if (rs != RAY_OK)
		row_error(r, rs, err);
	return row;
}

const RayTaskRow *
raydar_source_task_row(RaydarSourceResult *r, size_t i)
{
	return reply_row(r, r->tasks, i);
}

RayTaskReply *
raydar_source_task_attempts(RaydarSourceResult *r)
{
	if (r->full == NULL && r->bytes == NULL)
		elog(ERROR, "a keys-only fetch keeps no full rows");
	if (r->full == NULL)
	{
		/* gRPC keys of new attempts: index the same bytes once. */
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(r));
		char		err[256];
		RayStatus	rs = ray_task_reply_index(r->bytes, r->nbytes, &r->tasks->version, &r->alloc,
											  &r->full, err, sizeof(err));

		MemoryContextSwitchTo(old);
		if (rs != RAY_OK)
			row_error(r, rs, err);
	}
	return r->full;
}

const RayTaskRow *
raydar_source_task_attempt(RaydarSourceResult *r, size_t index)
{
	return reply_row(r, raydar_source_task_attempts(r), index);
}

const char *
raydar_source_task_events_elsewhere(RaydarSourceResult *r, const RayVersion *v)
{
	if (r->http)
		return raydar_dashboard_task_events_elsewhere(r->conn, v);
	return raydar_gcs_task_events_elsewhere(r->conn, v, &r->alloc);
}

const RayClusterReply *
raydar_source_cluster_reply(const RaydarSourceResult *r)
{
	return r->cluster;
}

Datum
raydar_source_value(const RaydarSourceResult *r, const RaydarColumn *col, const void *reply,
					const void *row, size_t index, RayBuf *scratch, bool *isnull)
{
	*isnull = false;
	/* What the dashboard does not carry, or sent unreadable, is NULL, not a default. */
	if (r->http && (col->no_dashboard ||
					(r->odd.ncells > 0 &&
					 ray_state_json_cell_is_odd(&r->odd, r->res->kind, index, col->name))))
	{
		*isnull = true;
		return (Datum) 0;
	}
	return col->get(reply, row, scratch, isnull);
}

void
raydar_source_free(RaydarSourceResult *r)
{
	if (r == NULL)
		return;
	/* Over HTTP the keys of new attempts are a view of the full reply. */
	if (r->tasks != r->full && !r->http)
		ray_task_reply_free(r->tasks);
	ray_task_reply_free(r->full);
	ray_cluster_reply_free(r->cluster);
	pfree(r);
}

void
raydar_source_plan(RaydarConn *conn, PlannerInfo *root, RelOptInfo *baserel,
				   const RaydarResource *res, RaydarPushdown *pd)
{
	if (raydar_conn_is_http(conn))
		raydar_dashboard_plan(root, baserel, res, pd);
}

bool
raydar_source_carries(RaydarConn *conn, const RaydarResource *res, const RaydarColumn *col)
{
	return !(raydar_conn_is_http(conn) && col->no_dashboard);
}

void
raydar_source_explain(RaydarConn *conn, const RaydarResource *res, const RaydarSourceRequest *req,
					  const char *vtext, bool nothing, ExplainState *es)
{
	bool		http = raydar_conn_is_http(conn);

	ExplainPropertyText("Ray Transport", http ? "HTTP" : "gRPC", es);
	if (nothing)
	{
		ExplainPropertyText("Ray Request", "none: a condition no row can satisfy", es);
		return;
	}
	if (http)
		raydar_dashboard_explain(conn, res, req, vtext, es);
	else
		raydar_gcs_explain(conn, res, req, vtext, es);
}

RayTaskFilter *
raydar_source_filters(List *filters, int *n)
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
