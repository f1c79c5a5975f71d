/*
 * source_dashboard.c
 *		The dashboard source: rows of a resource from Ray's State API over
 *		HTTP (GET /api/v0/<resource>).
 *
 * The dashboard's task rows are Ray's protobuf_to_task_state_dict of the
 * GCS's TaskEvents. ray_dashboard_parse.c parses them back into TaskEvents (and
 * the other resources into the GCS's row messages), and those in-memory
 * messages go straight to the core's derivation (ray_task_reply_from_events,
 * ray_cluster_reply_from_rows): the same rows, from the same column rules,
 * as over gRPC, with no protobuf packing in between.
 *
 * The dashboard returns at most 10,000 rows per request. A task fetch that
 * fills the cap and is not already limited to one job is split: once per
 * job the dashboard lists, with job_id = that job added to the pushed
 * filters (the dashboard passes job filters to the GCS, so each part has its
 * own cap). The rows the cap still hid are counted (cap_hidden).
 */
#include "raydar.h"

#include "commands/explain.h"
#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "portability/instr_time.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "http_client.h"
#include "ray_requests.h"
#include "source.h"

/* One fetch in progress: the parsed rows of every request it made. */
typedef struct DashFetch
{
	RaydarSourceResult *r;
	const RayVersion *v;
	const RaydarSourceRequest *req;
	RayStateReprs *reprs;		/* actors' repr_names, once fetched (malloc'd) */
	bool		want_reprs;
	Ray__Rpc__TaskEvents **events;	/* tasks: every part's rows */
	size_t		nevents;
	size_t		capevents;
	void	  **rows;			/* other resources */
	size_t		nrows;
	RayStateCounters k;			/* the first request's envelope; odd cells of all */
	int64		bytes;
	double		call_ms;
} DashFetch;

static int
timeout_s(RaydarConn *conn)
{
	return Max((raydar_conn_options(conn)->timeout_ms + 999) / 1000, 1);
}

/*
 * The State API path and query of a request: every row in detail (for
 * tasks also the drivers, as the GCS gives them), the limit or the
 * dashboard's cap, the server's timeout, and the pushed filters, whose keys
 * are the names of the columns they test.
 */
static char *
http_path(RaydarConn *conn, const RaydarResource *res, List *filters, int64 limit)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s?detail=true&limit=" INT64_FORMAT "&timeout=%d%s",
					 res->route,
					 limit >= 0 ? Min(limit, RAYDAR_DASHBOARD_MAX_ROWS) : RAYDAR_DASHBOARD_MAX_ROWS,
					 timeout_s(conn), res->kind == RAYDAR_TASKS_KIND ? "&exclude_driver=false" : "");
	foreach(lc, filters)
	{
		List	   *f = lfirst(lc);

		appendStringInfo(&buf, "&filter_keys=%s&filter_predicates=%s&filter_values=%s",
						 raydar_filter_field_name(intVal(linitial(f))),
						 intVal(lsecond(f)) == RAY_PRED_EQ ? "%3D" : "%21%3D",
						 raydar_http_escape(strVal(lthird(f))));
	}
	return buf.data;
}

/* Report a State API body that could not be read. */
static void
report_body(RaydarConn *conn, RayStatus rs, const char *path, const char *err)
{
	RaydarPeer	peer;

	raydar_conn_peer(conn, &peer);
	if (rs == RAY_ERR_RPC)
		raydar_report_failure(&peer, RAYDAR_FAIL_RAY_ERROR, 0, path, err);
	if (rs == RAY_ERR_MALFORMED || rs == RAY_ERR_TOO_LARGE)
		raydar_report_failure(&peer, RAYDAR_FAIL_MALFORMED, 0, path, err);
	raydar_report_core_error(rs, psprintf("reading the State API response of the Ray dashboard at %s (server \"%s\")",
										  peer.endpoint, peer.server),
							 err);
}

/* GET path from the dashboard, timed into f->call_ms, counted in f->bytes. */
static char *
timed_get(DashFetch *f, const char *path, size_t *len)
{
	instr_time	start,
				elapsed;
	char	   *body;

	INSTR_TIME_SET_CURRENT(start);
	body = raydar_conn_http_get(f->r->conn, path, len);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	f->call_ms += INSTR_TIME_GET_MILLISEC(elapsed);
	f->bytes += (int64) *len;
	return body;
}

/* The path that lists every row of resource, up to the cap. */
static char *
list_all_path(DashFetch *f, const char *resource)
{
	return psprintf("%s?detail=true&limit=%d&timeout=%d", raydar_find_resource(resource)->route,
					RAYDAR_DASHBOARD_MAX_ROWS, timeout_s(f->r->conn));
}

/*
 * The actors' repr_names (GET /api/v0/actors), which the tasks route lacks:
 * fetched only when the caller shows actor_repr_name and a body has an
 * actor task. malloc'd (core), freed by the fetch.
 */
static void
fetch_actor_reprs(DashFetch *f)
{
	char	   *path = list_all_path(f, "actors");
	size_t		len;
	char	   *body = timed_get(f, path, &len);
	char		err[512];
	RayStatus	rs = ray_state_json_actor_reprs(body, len, &f->reprs, err, sizeof(err));

	pfree(body);
	if (rs != RAY_OK)
		report_body(f->r->conn, rs, path, err);
}

/* Values raydar could not read are NULL: say so once per request. */
static void
warn_odd(const RayStateCounters *k, const char *path)
{
	if (k->nodd > 0)
		ereport(WARNING,
				(errmsg_plural("the Ray dashboard sent %d value raydar could not read; it is shown as NULL",
							   "the Ray dashboard sent %d values raydar could not read; they are shown as NULL",
							   k->nodd, k->nodd),
				 errdetail("First: %s (GET %s).", k->odd, path),
				 errhint("The dashboard may be newer than this raydar; a server with address (the GCS) reads the same rows.")));
}

/*
 * One list request: GET path, its rows appended to f's (task rows shifted
 * after the earlier parts' for the odd cells), its envelope in *k.
 */
static void
list_request(DashFetch *f, const char *path, RayStateCounters *k)
{
	RaydarSourceResult *r = f->r;
	char	   *body;
	size_t		len;
	char		err[512];
	RayStatus	rs;
	RayArena	arena;
	void	  **rows;
	size_t		n;

	body = timed_get(f, path, &len);
	if (f->want_reprs && f->reprs == NULL && memmem(body, len, "\"ACTOR_TASK\"", 12) != NULL)
		fetch_actor_reprs(f);
	/* The rows live in the arena, from r->alloc: in the caller's context. */
	if (r->res->kind == RAYDAR_TASKS_KIND)
		rs = ray_state_json_task_events(body, len, f->v, f->reprs, &r->alloc, &arena,
										(Ray__Rpc__TaskEvents ***) &rows, &n, k, err, sizeof(err));
	else
		rs = ray_state_json_cluster_rows(r->res->kind, body, len, f->v, &r->alloc, &arena,
										 &rows, &n, k, err, sizeof(err));
	pfree(body);
	if (rs != RAY_OK)
		report_body(r->conn, rs, path, err);
	if (f->req->warn)
		warn_odd(k, path);
	if (r->res->kind != RAYDAR_TASKS_KIND)
	{
		f->rows = rows;
		f->nrows = n;
		return;
	}
	if (!ray_state_json_odd_append(&f->k, k, f->nevents, &r->alloc))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (f->nevents + n > f->capevents)
	{
		f->capevents = Max(f->nevents + n, f->capevents * 2);
		f->events = f->events ? repalloc_huge(f->events, sizeof(void *) * f->capevents)
			: palloc_extended(sizeof(void *) * f->capevents, MCXT_ALLOC_HUGE);
	}
	memcpy(f->events + f->nevents, rows, sizeof(void *) * n);
	f->nevents += n;
}

/* The job ids the dashboard lists (GET /api/v0/jobs), for splitting a task fetch. */
static List *
job_ids(DashFetch *f)
{
	char	   *path = list_all_path(f, "jobs");
	size_t		len;
	char	   *body = timed_get(f, path, &len);
	char	  **ids;
	size_t		n;
	char		err[512];
	RayStatus	rs = ray_state_json_row_strings(body, len, "job_id", &ids, &n, err, sizeof(err));
	List	   *res = NIL;

	pfree(body);
	if (rs != RAY_OK)
		report_body(f->r->conn, rs, path, err);
	for (size_t i = 0; i < n; i++)
		if (ray_task_filter_id_valid(RAY_TF_JOB_ID, ids[i]))
			res = lappend(res, pstrdup(ids[i]));
	ray_state_json_free_strings(ids, n);
	return res;
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
 * A task fetch that filled the cap, split by job. Kept only if the parts
 * found at least what the single request did; else the single request's
 * rows stay and the cut is reported as such.
 */
static void
split_by_job(DashFetch *f, RayStateCounters *first)
{
	RaydarSourceCounters *c = &f->r->counters;
	List	   *jobs = job_ids(f);
	Ray__Rpc__TaskEvents **single = f->events;
	size_t		nsingle = f->nevents;
	RayStateCounters odd_single = f->k;
	ListCell   *lc;

	/* One job: its part would be the same request, capped the same way. */
	if (list_length(jobs) < 2)
		return;
	f->events = NULL;
	f->nevents = f->capevents = 0;
	memset(&f->k, 0, sizeof(f->k));
	foreach(lc, jobs)
	{
		List	   *filters = lappend(list_copy(f->req->filters),
									  list_make3(makeInteger(RAY_TF_JOB_ID), makeInteger(RAY_PRED_EQ),
												 makeString(lfirst(lc))));
		RayStateCounters pk;

		list_request(f, http_path(f->r->conn, f->r->res, filters, -1), &pk);
		c->parts++;
		if (pk.rows >= RAYDAR_DASHBOARD_MAX_ROWS)
		{
			c->capped_parts++;
			c->cap_hidden += Max(pk.total - pk.num_after_truncation, 0);
		}
	}
	if ((int64) f->nevents < first->rows)
	{
		f->events = single;
		f->nevents = nsingle;
		f->k = odd_single;
		c->parts = c->capped_parts = 0;
		c->cap_hidden = 0;
		return;
	}
	/* The parts' rows stand for the single request's. */
	first->num_after_truncation = first->rows = (int64) f->nevents;
	first->total = Max(first->total, first->rows);
}

/*
 * raydar.dashboard_packed, a developer setting (off): task rows take the
 * road they took before issue 13, packed into GetTaskEventsReply bytes and
 * decoded from those as gRPC bytes are (keys walked, or indexed and
 * streamed). bench/http/run.sh turns it on to measure, in the same run,
 * what reading the parsed messages in memory saves; the rows are the same
 * either way (test/unit/test_no_pack.c). The collector's keys of new
 * attempts always read them in memory.
 */
static bool dashboard_packed = false;

void
raydar_source_dashboard_init(void)
{
	DefineCustomBoolVariable("raydar.dashboard_packed",
							 "Reads the dashboard's task rows through packed protobuf bytes.",
							 "A developer setting for benchmarks: the old pack-then-decode road "
							 "of the dashboard's rows, to compare with reading them in memory.",
							 &dashboard_packed, false, PGC_USERSET,
							 GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
}

/* msg's rows packed, then decoded from the bytes (raydar.dashboard_packed). */
static RayStatus
derive_packed(DashFetch *f, Ray__Rpc__GetTaskEventsReply *msg, char *err, size_t errlen)
{
	RaydarSourceResult *r = f->r;
	size_t		len = ray__rpc__get_task_events_reply__get_packed_size(msg);
	uint8_t    *buf = palloc_extended(len + 1, MCXT_ALLOC_HUGE);
	RayStatus	rs;

	len = ray__rpc__get_task_events_reply__pack(msg, buf);
	ereport(DEBUG1,
			(errmsg_internal("raydar.dashboard_packed: %zu task rows read through %zu packed bytes",
							 msg->n_events_by_task, len)));
	if (r->mode == RAYDAR_ROWS_KEYS)
	{
		/* Keys rows own their values: the bytes can go. */
		rs = ray_task_reply_decode_keys(buf, len, f->v, &r->alloc, &r->tasks, err, errlen);
		pfree(buf);
		return rs;
	}
	rs = ray_task_reply_index(buf, len, f->v, &r->alloc, &r->tasks, err, errlen);
	r->full = r->tasks;
	r->bytes = buf;
	r->nbytes = len;
	return rs;
}

/* The fetch's rows as the core's reply, in the mode asked. */
static void
derive_rows(DashFetch *f)
{
	RaydarSourceResult *r = f->r;
	char		err[512];
	RayStatus	rs;

	if (r->res->kind == RAYDAR_TASKS_KIND)
	{
		Ray__Rpc__GetTaskEventsReply *msg = palloc(sizeof(*msg));

		ray__rpc__get_task_events_reply__init(msg);
		msg->n_events_by_task = f->nevents;
		msg->events_by_task = f->events;
		if (dashboard_packed && r->mode != RAYDAR_ROWS_NEW_KEYS)
			rs = derive_packed(f, msg, err, sizeof(err));
		else
		{
			rs = ray_task_reply_from_events(msg, f->v, &r->alloc, &r->full, err, sizeof(err));
			r->tasks = r->full;
		}
	}
	else
		rs = ray_cluster_reply_from_rows((RayResourceKind) r->res->kind, f->rows, f->nrows, f->v,
										 &r->alloc, &r->cluster, err, sizeof(err));
	if (rs != RAY_OK)
		raydar_report_core_error(rs, psprintf("decoding the rows of the Ray dashboard at %s",
											  raydar_conn_options(r->conn)->dashboard_url), err);
}

/*
 * The collector's keys of new attempts: the rows known() does not know, as
 * ray_task_reply_decode_new_keys gives them over gRPC. An attempt's size is
 * that of its TaskEvents as the GCS would send it, which grows with every
 * event, as the wire size does.
 */
static void
select_new_keys(RaydarSourceResult *r, const RaydarSourceRequest *req)
{
	RayTaskReply *keys = palloc(sizeof(RayTaskReply));

	*keys = *r->full;
	keys->rows = palloc_extended(sizeof(RayTaskRow) * Max(r->full->nrows, 1), MCXT_ALLOC_HUGE);
	keys->nrows = 0;
	keys->nknown = 0;
	for (size_t i = 0; i < r->full->nrows; i++)
	{
		const RayTaskRow *row = &r->full->rows[i];
		size_t		size = row->ev ? ray__rpc__task_events__get_packed_size(row->ev) : 0;

		if (req->known(req->known_ctx, row->task_id.data, row->task_id.len, row->attempt_number, size))
			keys->nknown++;
		else
		{
			keys->rows[keys->nrows] = *row;
			keys->rows[keys->nrows++].entry_len = size;
		}
	}
	r->tasks = keys;
}

static int
cut_detail(bool tasks)
{
	if (tasks)
		return errdetail("The dashboard returns at most %d rows per request, and the GCS keeps at most "
						 "task_events_max_num_task_in_gcs attempts.", RAYDAR_DASHBOARD_MAX_ROWS);
	return errdetail("The dashboard returns at most %d rows per request.", RAYDAR_DASHBOARD_MAX_ROWS);
}

static int
cut_hint(void)
{
	return errhint("Filter by job_id, state or task_id so each query stays under the cap, or use a "
				   "server with address (the GCS) for whole-cluster scans. "
				   "SELECT * FROM raydar.last_scan() shows the counters.");
}

/*
 * Ray's counters from the envelope, and the WARNINGs about the cap. Ray's
 * num_filtered counts the rows left, not those filtered out. Ray's own CLI
 * warns when total exceeds num_after_truncation; newer dashboards count
 * total from the rows the GCS returned, so a reply that fills the cap is
 * also taken as cut.
 */
static void
count_and_warn(DashFetch *f, const RayStateCounters *k)
{
	RaydarSourceResult *r = f->r;
	RaydarSourceCounters *c = &r->counters;
	bool		tasks = r->res->kind == RAYDAR_TASKS_KIND;
	bool		cut = f->req->limit < 0 && (k->total > k->num_after_truncation ||
											k->num_after_truncation >= RAYDAR_DASHBOARD_MAX_ROWS);

	c->rows = (int64) raydar_source_nrows(r);
	c->reply_bytes = f->bytes;
	c->call_ms = f->call_ms;
	c->num_total_stored = k->total;
	c->num_filtered_on_gcs = c->parts > 0 ? 0 : Max(k->num_after_truncation - k->num_filtered, 0);
	if (c->parts == 0)
	{
		c->num_truncated = Max(k->total - k->num_after_truncation, 0);
		c->cap_hidden = f->req->limit < 0 ? c->num_truncated : 0;
	}
	else
		c->num_truncated = c->cap_hidden;
	if (!f->req->warn)
		return;
	if (k->nwarnings > 0)
		ereport(WARNING,
				(errmsg("the Ray dashboard at %s warns: %s",
						raydar_conn_options(r->conn)->dashboard_url, k->warning),
				 k->nwarnings > 1 ? errdetail("%d more warnings.", k->nwarnings - 1) : 0));
	if (c->parts > 0)
	{
		ereport(DEBUG1,
				(errmsg_internal("the task scan filled the dashboard's cap; split into %d requests by job",
								 c->parts)));
		if (c->capped_parts > 0)
			ereport(WARNING,
					(errmsg("the Ray dashboard returned %d rows, its cap, for %d of %d jobs: their other task attempts are missing",
							RAYDAR_DASHBOARD_MAX_ROWS, c->capped_parts, c->parts),
					 errdetail("The scan was split by job to stay under the cap; those jobs alone exceed it."),
					 errhint("Filter such a job by state or task_id, or use a server with address (the GCS). "
							 "SELECT * FROM raydar.last_scan() shows the counters.")));
	}
	else if (cut && k->total > k->num_after_truncation)
		ereport(WARNING,
				(errmsg("the Ray dashboard returned %lld of %lld %s",
						(long long) k->num_after_truncation, (long long) k->total,
						tasks ? "task attempts" : r->res->name),
				 cut_detail(tasks), cut_hint()));
	else if (cut)
		ereport(WARNING,
				(errmsg("the Ray dashboard returned %lld of %lld or more %s",
						(long long) k->num_after_truncation, (long long) k->num_after_truncation,
						tasks ? "task attempts" : r->res->name),
				 cut_detail(tasks), cut_hint()));
}

/*
 * Ray 2.58+ can send task events to the dashboard's event aggregator
 * instead of the GCS (source_gcs.c says more): an unfiltered task fetch
 * that found nothing, on a cluster that has actors, is taken as that.
 */
const char *
raydar_dashboard_task_events_elsewhere(RaydarConn *conn, const RayVersion *v)
{
	char	   *path;
	size_t		len;
	char	   *body;
	char	  **ids;
	size_t		n;
	char		err[256];
	bool		actors = false;

	if (!ray_version_at_least(v, 2, 58))
		return NULL;
	path = psprintf("%s?limit=1&timeout=%d", raydar_find_resource("actors")->route, timeout_s(conn));
	body = raydar_conn_http_get(conn, path, &len);
	if (ray_state_json_row_strings(body, len, "actor_id", &ids, &n, err, sizeof(err)) == RAY_OK)
	{
		actors = n > 0;
		ray_state_json_free_strings(ids, n);
	}
	pfree(body);
	return actors ? "actors" : NULL;
}

/* The FDW's WARNING when raydar_dashboard_task_events_elsewhere finds evidence. */
static void
warn_if_task_events_elsewhere(DashFetch *f)
{
	if (raydar_dashboard_task_events_elsewhere(f->r->conn, f->v) != NULL)
		ereport(WARNING,
				(errmsg("the Ray cluster behind server \"%s\" has actors, but its dashboard lists no task events",
						raydar_conn_server_name(f->r->conn)),
				 errdetail("Ray 2.58 and later can send task events to the dashboard's event aggregator "
						   "instead of the GCS (RAY_enable_ray_event=1); the GCS then keeps none. "
						   "A GCS that has just restarted has none either, until workers report again."),
				 errhint("Check the cluster's RAY_enable_ray_event and task event settings.")));
}

/* The requests of a fetch; f->reprs is freed by the caller whatever happens. */
static void
fetch_rows(DashFetch *f, RayStateCounters *first)
{
	RaydarSourceResult *r = f->r;
	const RaydarSourceRequest *req = f->req;

	list_request(f, http_path(r->conn, r->res, req->filters, req->limit), first);
	if (r->res->kind == RAYDAR_TASKS_KIND && req->limit < 0 &&
		first->rows >= RAYDAR_DASHBOARD_MAX_ROWS && !has_job_filter(req->filters))
		split_by_job(f, first);
	derive_rows(f);
}

void
raydar_dashboard_fetch(RaydarSourceResult *r, const RayVersion *v, const RaydarSourceRequest *req)
{
	DashFetch  *f = palloc0(sizeof(DashFetch));
	RayStateCounters first;

	f->r = r;
	f->v = v;
	f->req = req;
	f->want_reprs = r->res->kind == RAYDAR_TASKS_KIND && req->actor_reprs;
	memset(&first, 0, sizeof(first));
	PG_TRY();
	{
		fetch_rows(f, &first);
	}
	PG_FINALLY();
	{
		ray_state_json_free_reprs(f->reprs);
		f->reprs = NULL;
	}
	PG_END_TRY();
	if (r->res->kind == RAYDAR_TASKS_KIND)
		r->odd = f->k;
	else
		r->odd = first;
	if (r->mode == RAYDAR_ROWS_NEW_KEYS)
		select_new_keys(r, req);
	count_and_warn(f, &first);
	if (req->warn && r->res->kind == RAYDAR_TASKS_KIND && r->counters.rows == 0 &&
		req->filters == NIL && req->limit < 0 && first.total == 0)
		warn_if_task_events_elsewhere(f);
}

void
raydar_dashboard_explain(RaydarConn *conn, const RaydarResource *res, const RaydarSourceRequest *req,
						 const char *vtext, ExplainState *es)
{
	StringInfoData buf;

	ExplainPropertyText("Ray Request",
						psprintf("GET %s", http_path(conn, res, req->filters, req->limit)), es);
	ExplainPropertyText("Ray Version", vtext, es);
	initStringInfo(&buf);
	raydar_describe_filters(req->filters, &buf);
	ExplainPropertyText("Ray Filters", buf.len > 0 ? buf.data : "none", es);
}

/*
 * The dashboard compares strings ignoring case on every version (its own
 * filter step), so a pushed name condition only narrows: PostgreSQL
 * rechecks it. IDs and state names are pushed in their one exact spelling,
 * which case folding cannot change.
 */
static void
recheck_task_names(PlannerInfo *root, RelOptInfo *baserel, RaydarPushdown *pd)
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
 * The filters pushed for actors, nodes and jobs go to the dashboard as
 * filter_keys too: with more than 10,000 actors that is what keeps a
 * filtered query under the cap. The dashboard applies some of them in
 * Python with its own matching (case-insensitive strings), so they only
 * narrow: PostgreSQL rechecks every one. is_alive is not sent: how the
 * dashboard compares a boolean to the text "true" is not something to bet
 * rows on, and workers are few.
 */
static void
recheck_cluster(RaydarPushdown *pd)
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

void
raydar_dashboard_plan(PlannerInfo *root, RelOptInfo *baserel, const RaydarResource *res,
					  RaydarPushdown *pd)
{
	if (res->kind == RAYDAR_TASKS_KIND)
		recheck_task_names(root, baserel, pd);
	else
		recheck_cluster(pd);
}
