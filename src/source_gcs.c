/*
 * source_gcs.c
 *		The GCS source: rows of a resource from one unary gRPC call.
 *
 * One fetch is one request (GetTaskEventsRequest or a GetAll*Request) in
 * the layout of the server's version with the pushed filters and limit
 * (src/ray/ray_requests.c), one call through the backend's channel
 * (connection.c, which may answer from its reply cache), and the reply
 * decoded by the core: task replies are indexed and streamed one attempt at
 * a time, walked for keys only, or walked for the keys of new attempts
 * (source.h, RaydarTaskRows); the other resources are unpacked whole.
 */
#include "raydar.h"

#include "commands/explain.h"
#include "portability/instr_time.h"

#include "ray_cluster.h"
#include "ray_requests.h"
#include "source.h"

static void
report_encode_error(RaydarConn *conn, const char *err)
{
	RayVersion	v;
	const char *vt;

	raydar_conn_version(conn, &v, &vt);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("cannot build a request for Ray %s", vt),
			 errdetail("%s", err),
			 errhint("The server's Ray version may have changed since the query was planned; run it again.")));
}

/* The request for req's filters and limit, in v's layout; "" when empty. */
static void
encode_request(RaydarSourceResult *r, const RayVersion *v, const RaydarSourceRequest *req,
			   uint8_t **out, size_t *outlen)
{
	int			n;
	RayTaskFilter *filters = raydar_source_filters(req->filters, &n);
	char		err[512];
	RayStatus	rs;

	*out = NULL;
	*outlen = 0;
	if (r->res->kind == RAYDAR_TASKS_KIND)
	{
		RayTaskQuery q;

		memset(&q, 0, sizeof(q));
		q.nfilters = n;
		q.filters = filters;
		q.has_limit = req->limit >= 0;
		q.limit = req->limit;
		rs = ray_task_request_encode(&q, v, &r->alloc, out, outlen, err, sizeof(err));
	}
	else
		rs = ray_cluster_request_encode(r->res->kind, filters, n, -1, v, &r->alloc,
										out, outlen, err, sizeof(err));
	if (rs != RAY_OK)
		report_encode_error(r->conn, err);
	if (*out == NULL)
		*out = (uint8_t *) "";
}

/*
 * The GCS counts attempts cut by our own LIMIT in num_truncated, adds 1 per
 * cut attempt with state updates to the status counter and each cut
 * attempt's profile events to the profile counter
 * (GcsTaskManager::HandleGetTaskEvents); those are not lost. The profile
 * events cut are not told apart, so a cut reply says nothing about profile
 * loss.
 */
static void
warn_about_loss(const RayTaskReply *t, int64 limit)
{
	int64		cut = limit >= 0 ? t->num_truncated : 0;
	int64		status_lost = t->num_status_task_events_dropped - cut;
	int64		profile_lost = cut > 0 ? 0 : t->num_profile_task_events_dropped;
	int64		truncated = t->num_truncated - cut;

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
 * Ray 2.58 can send task events to the dashboard's event aggregator instead
 * of the GCS (opt-in, RAY_enable_ray_event=1; docs/transports.md): its GCS
 * then answers every GetTaskEvents with nothing. An unfiltered task scan
 * that found nothing stored and nothing dropped, on a cluster whose jobs
 * are running tasks or that has actors, is taken as that, and said, rather
 * than shown as an empty cluster. Only for 2.58+ servers: before, the mode
 * does not exist and a GCS restart (which loses task events) is the
 * explanation. Costs one or two small calls, only for such empty scans.
 */
const char *
raydar_gcs_task_events_elsewhere(RaydarConn *conn, const RayVersion *v, ProtobufCAllocator *alloc)
{
	const char *evidence = NULL;
	char		err[256];

	if (!ray_version_at_least(v, 2, 58))
		return NULL;
	for (int k = 0; k < 2 && evidence == NULL; k++)
	{
		RayResourceKind kind = k == 0 ? RAY_RESOURCE_JOBS : RAY_RESOURCE_ACTORS;
		uint8_t    *req = NULL;
		size_t		reqlen = 0;
		bytea	   *reply;
		bool		cached;
		RayClusterReply *cr;

		if (ray_cluster_request_encode(kind, NULL, 0, kind == RAY_RESOURCE_ACTORS ? 1 : -1, v, alloc,
									   &req, &reqlen, err, sizeof(err)) != RAY_OK)
			continue;
		reply = raydar_conn_call(conn, ray_cluster_method(kind), req ? req : (const uint8_t *) "",
								 reqlen, &cached);
		if (ray_cluster_reply_decode(kind, (const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ, v,
									 alloc, &cr, err, sizeof(err)) != RAY_OK)
			continue;
		for (size_t i = 0; i < cr->nrows && evidence == NULL; i++)
		{
			const Ray__Rpc__JobTableData *job = cr->rows[i];

			if (kind == RAY_RESOURCE_ACTORS)
				evidence = "actors";
			else if (job->has_is_running_tasks && job->is_running_tasks)
				evidence = "jobs running tasks";
		}
		ray_cluster_reply_free(cr);
	}
	return evidence;
}

/* The FDW's WARNING when raydar_gcs_task_events_elsewhere finds evidence. */
static void
warn_if_task_events_elsewhere(RaydarSourceResult *r, const RayVersion *v)
{
	const char *evidence = raydar_gcs_task_events_elsewhere(r->conn, v, &r->alloc);

	if (evidence != NULL)
		ereport(WARNING,
				(errmsg("the Ray cluster behind server \"%s\" has %s, but its GCS holds no task events",
						raydar_conn_server_name(r->conn), evidence),
				 errdetail("Ray 2.58 and later can send task events to the dashboard's event aggregator "
						   "instead of the GCS (RAY_enable_ray_event=1); the GCS then keeps none. "
						   "A GCS that has just restarted has none either, until workers report again."),
				 errhint("Create a server with dashboard_url, whose task list Ray keeps in that mode, "
						 "or receive the events with raydar's push receiver once it exists.")));
}

/* Decode the reply bytes as r->mode asks. */
static void
decode_reply(RaydarSourceResult *r, const RayVersion *v, const RaydarSourceRequest *req,
			 const uint8_t *buf, size_t len)
{
	char		err[512];
	RayStatus	rs;

	if (r->res->kind != RAYDAR_TASKS_KIND)
		rs = ray_cluster_reply_decode((RayResourceKind) r->res->kind, buf, len, v,
									  &r->alloc, &r->cluster, err, sizeof(err));
	else if (r->mode == RAYDAR_ROWS_KEYS)
		rs = ray_task_reply_decode_keys(buf, len, v, &r->alloc, &r->tasks, err, sizeof(err));
	else if (r->mode == RAYDAR_ROWS_NEW_KEYS)
		rs = ray_task_reply_decode_new_keys(buf, len, v, &r->alloc, req->known, req->known_ctx,
											&r->tasks, err, sizeof(err));
	else
	{
		/*
		 * Stream: index the reply, unpack one attempt per row (peak memory:
		 * the reply plus one attempt).
		 */
		rs = ray_task_reply_index(buf, len, v, &r->alloc, &r->tasks, err, sizeof(err));
		r->full = r->tasks;
	}
	if (rs != RAY_OK)
		raydar_report_core_error(rs, psprintf("decoding the %s reply of Ray GCS at %s (server \"%s\")",
											  strrchr(raydar_resource_method(r->res), '/') + 1,
											  raydar_conn_options(r->conn)->address,
											  raydar_conn_server_name(r->conn)),
								 err);
}

void
raydar_gcs_fetch(RaydarSourceResult *r, const RayVersion *v, const RaydarSourceRequest *req)
{
	bool		tasks = r->res->kind == RAYDAR_TASKS_KIND;
	const char *method = raydar_resource_method(r->res);
	uint8_t    *reqbuf;
	size_t		reqlen;
	bytea	   *reply;
	bool		cached;
	instr_time	start,
				elapsed;
	int32		status_code;
	RaydarSourceCounters *k = &r->counters;

	encode_request(r, v, req, &reqbuf, &reqlen);
	INSTR_TIME_SET_CURRENT(start);
	reply = raydar_conn_call(r->conn, method, reqbuf, reqlen, &cached);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	r->bytes = (const uint8_t *) VARDATA(reply);
	r->nbytes = VARSIZE(reply) - VARHDRSZ;
	k->reply_bytes = (int64) r->nbytes;
	decode_reply(r, v, req, r->bytes, r->nbytes);

	/* The GCS handled the call and answered with its own error. */
	status_code = tasks ? r->tasks->status_code : r->cluster->status_code;
	if (status_code != 0)
	{
		RaydarPeer	peer;

		raydar_conn_peer(r->conn, &peer);
		raydar_report_failure(&peer, RAYDAR_FAIL_RAY_ERROR, 0, strrchr(method, '/') + 1,
							  psprintf("status %d: %s", status_code,
									   tasks ? r->tasks->status_message : r->cluster->status_message));
	}

	/*
	 * Key rows and cluster rows own copies of everything they show
	 * (ray_tasks.h, ray_cluster.h), so the reply's bytes can go at once
	 * unless the cache owns them or rows are read from them later (a
	 * streamed reply, the full rows of new attempts).
	 */
	if (!cached && (!tasks || r->mode == RAYDAR_ROWS_KEYS))
	{
		pfree(reply);
		r->bytes = NULL;
		r->nbytes = 0;
	}

	k->rows = (int64) raydar_source_nrows(r);
	k->from_cache = cached;
	k->call_ms = cached ? 0 : INSTR_TIME_GET_MILLISEC(elapsed);
	if (tasks)
	{
		k->num_total_stored = r->tasks->num_total_stored;
		k->num_filtered_on_gcs = r->tasks->num_filtered_on_gcs;
		k->num_truncated = r->tasks->num_truncated;
		k->num_status_task_events_dropped = r->tasks->num_status_task_events_dropped;
		k->num_profile_task_events_dropped = r->tasks->num_profile_task_events_dropped;
		if (req->warn)
			warn_about_loss(r->tasks, req->limit);
		if (req->warn && k->rows == 0 && req->filters == NIL && req->limit < 0 &&
			k->num_total_stored == 0 && k->num_status_task_events_dropped == 0)
			warn_if_task_events_elsewhere(r, v);
	}
	else
	{
		k->num_total_stored = r->cluster->has_total ? r->cluster->total : k->rows;
		k->num_filtered_on_gcs = r->cluster->num_filtered;
	}
}

void
raydar_gcs_explain(RaydarConn *conn, const RaydarResource *res, const RaydarSourceRequest *req,
				   const char *vtext, ExplainState *es)
{
	StringInfoData buf;
	RayVersion	v;

	ExplainPropertyText("Ray Method", raydar_resource_method(res), es);
	initStringInfo(&buf);
	appendStringInfoString(&buf, vtext);
	if (res->kind == RAYDAR_TASKS_KIND && ray_version_parse(vtext, &v))
		appendStringInfoString(&buf, ray_version_filter_layout(&v) == RAY_FILTERS_PREDICATE
							   ? " ({predicate, value} filters)" : " (scalar filters)");
	ExplainPropertyText("Ray Version", buf.data, es);
	resetStringInfo(&buf);
	raydar_describe_filters(req->filters, &buf);
	ExplainPropertyText("Ray Filters", buf.len > 0 ? buf.data : "none", es);
	if (req->limit >= 0)
		ExplainPropertyInteger("Ray Limit", NULL, req->limit, es);
	else
		ExplainPropertyText("Ray Limit", "none", es);
	ExplainPropertyText("Ray Decode", req->rows == RAYDAR_ROWS_KEYS ? "keys and states only" : "full", es);
}
