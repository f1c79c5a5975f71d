/*
 * source.h
 *		Where rows come from: one interface over Ray's GCS (gRPC) and Ray's
 *		dashboard (HTTP), callable from a foreign scan or from any backend
 *		code (the collector).
 *
 * A source turns "this resource, these pushed filters, this limit" into
 * decoded rows plus the counters Ray reported (stored, filtered, truncated,
 * dropped, and over HTTP the rows the dashboard's 10,000-row cap hid), and
 * can describe its request for EXPLAIN. The rows are the core's
 * (RayTaskRow / RayClusterReply rows), so the column getters of the column
 * lists (task_columns.c, cluster_columns.c) read them whichever transport
 * fetched them. Two implementations, one per transport:
 *
 *	 source_gcs.c		one unary call to the GCS (connection.c), the reply
 *						decoded by src/ray (streamed, keys-only or keys of
 *						new attempts)
 *	 source_dashboard.c	GET /api/v0/<resource> from the dashboard
 *						(http_client.c), the JSON parsed into the GCS's
 *						messages (ray_dashboard_parse.c) and derived from them
 *						in memory, the same derivation as for gRPC
 *
 * Everything a fetch returns lives in the memory context current at the
 * call (the result, its reply, its rows), and goes with it; a call that
 * fails raises an ERROR (ereport) and leaks nothing beyond that context.
 * The source decides which transport from the connection; callers never
 * branch on it.
 */
#ifndef RAYDAR_SOURCE_H
#define RAYDAR_SOURCE_H

#include "raydar.h"

#include "ray_cluster.h"
#include "ray_requests.h"
#include "ray_dashboard_parse.h"

struct ExplainState;

/* The dashboard returns at most this many rows (RAY_MAX_LIMIT_FROM_API_SERVER). */
#define RAYDAR_DASHBOARD_MAX_ROWS 10000

/* Which rows of a task reply the caller needs (ignored for other resources). */
typedef enum RaydarTaskRows
{
	RAYDAR_ROWS_FULL,			/* every column; over gRPC streamed one attempt at a time */
	RAYDAR_ROWS_KEYS,			/* only the from_keys columns (ids, states, times) */
	RAYDAR_ROWS_NEW_KEYS		/* keys of the attempts known() does not know, and
								 * full rows of any attempt on demand (collector) */
} RaydarTaskRows;

/* What to fetch. Zero-initialise, then set what applies. */
typedef struct RaydarSourceRequest
{
	List	   *filters;		/* RaydarPushdown.filters: (field, pred, value) lists */
	int64		limit;			/* rows Ray may stop at (tasks only), or -1 */
	RaydarTaskRows rows;
	/* RAYDAR_ROWS_NEW_KEYS: as for ray_task_reply_decode_new_keys */
	RayKnownAttemptFn known;
	void	   *known_ctx;
	bool		actor_reprs;	/* the caller shows actor_repr_name (HTTP fetches actors for it) */
	/*
	 * Raise the WARNINGs a user should see about this fetch (data Ray
	 * dropped or truncated, the dashboard's cap, unreadable values, an
	 * empty GCS whose task events go elsewhere). A caller that reports the
	 * counters its own way (the collector) leaves it false.
	 */
	bool		warn;
} RaydarSourceRequest;

/* Ray's counters for one fetch, whichever transport. */
typedef struct RaydarSourceCounters
{
	int64		rows;			/* rows returned */
	int64		num_total_stored;	/* rows Ray had before filters and limits */
	int64		num_filtered_on_gcs;	/* rows Ray's filters removed */
	int64		num_truncated;	/* rows cut by a limit (Ray's or the dashboard's cap) */
	int64		num_status_task_events_dropped;
	int64		num_profile_task_events_dropped;
	int64		cap_hidden;		/* rows the dashboard's cap hid from this fetch (HTTP;
								 * 0 over gRPC and when a split by job got them all) */
	int			parts;			/* HTTP: requests a capped task scan was split into (0: one) */
	int			capped_parts;	/* HTTP: of those, parts that still filled the cap */
	int64		reply_bytes;	/* bytes received (HTTP: every body of the fetch) */
	bool		from_cache;		/* gRPC: the reply came from connection.c's cache */
	double		call_ms;		/* time waiting for Ray */
} RaydarSourceCounters;

typedef struct RaydarSourceResult RaydarSourceResult;

/*
 * Fetch rows of res (a resource of raydar_resources) from the server behind
 * conn, of version v (raydar_conn_version), as req asks. Checks the server's
 * version first (raydar_conn_check_version). An ERROR when Ray cannot be
 * reached, answers with an error status or sends something unreadable.
 */
extern RaydarSourceResult *raydar_source_fetch(RaydarConn *conn, const RayVersion *v,
											   const RaydarResource *res,
											   const RaydarSourceRequest *req);

/*
 * The collector's entry: raydar_source_fetch of the tasks resource. The
 * rows are raydar_source_task_reply(result)->rows (KEYS, NEW_KEYS), or
 * raydar_source_task_row (FULL); counters via raydar_source_counters.
 */
extern RaydarSourceResult *raydar_source_fetch_tasks(RaydarConn *conn, const RayVersion *v,
													 List *filters, int64 limit,
													 RaydarTaskRows rows,
													 RayKnownAttemptFn known, void *known_ctx);

extern const RaydarSourceCounters *raydar_source_counters(const RaydarSourceResult *r);
extern size_t raydar_source_nrows(const RaydarSourceResult *r);

/*
 * Tasks. The reply is what the column getters take as their first
 * argument; its status and counters are those Ray sent. For KEYS and
 * NEW_KEYS its rows array holds the rows (row->index: the attempt's
 * position in the reply); for FULL read the rows one at a time:
 * raydar_source_task_row(r, i) for i < nrows, valid until the next call.
 * raydar_source_task_attempt gives the full row of the attempt at position
 * index of the reply (a row->index of a NEW_KEYS row), same lifetime; not
 * for a RAYDAR_ROWS_KEYS fetch, which keeps no full rows.
 */
extern const RayTaskReply *raydar_source_task_reply(RaydarSourceResult *r);
extern const RayTaskRow *raydar_source_task_row(RaydarSourceResult *r, size_t i);
extern const RayTaskRow *raydar_source_task_attempt(RaydarSourceResult *r, size_t index);

/*
 * The whole task reply of a NEW_KEYS or FULL fetch, every attempt readable
 * by its position (ray_task_reply_row); over gRPC NEW_KEYS the reply's
 * bytes are indexed on the first call. Same lifetime as the result.
 */
extern RayTaskReply *raydar_source_task_attempts(RaydarSourceResult *r);

/*
 * For an unfiltered task fetch that found nothing stored and nothing
 * dropped: what shows the cluster is running anyway ("actors", "jobs
 * running tasks"), taken as its task events going elsewhere than the GCS
 * (Ray 2.58+, RAY_enable_ray_event=1); NULL when nothing does, or before
 * 2.58. Costs one or two small calls. The rule the FDW warns with.
 */
extern const char *raydar_source_task_events_elsewhere(RaydarSourceResult *r, const RayVersion *v);

/* The other resources: the decoded reply (rows[i] is row i). */
extern const RayClusterReply *raydar_source_cluster_reply(const RaydarSourceResult *r);

/*
 * The value of col for row (at position index of the reply) as the source
 * shows it: col->get's value, or NULL where this transport does not carry
 * the column (raydar_source_carries) or Ray sent a value that could not be
 * read. reply/row as the getters take them. Build tuples with this, not
 * col->get, so both transports give the same rows.
 */
extern Datum raydar_source_value(const RaydarSourceResult *r, const RaydarColumn *col,
								 const void *reply, const void *row, size_t index,
								 RayBuf *scratch, bool *isnull);

/* Free the result now rather than with its memory context. */
extern void raydar_source_free(RaydarSourceResult *r);

/* ----------------------------------------------------------------------
 * Planning and EXPLAIN
 * ---------------------------------------------------------------------- */

/*
 * Narrow pd (raydar_classify_conditions's answer) to what this transport
 * evaluates exactly: conditions it only approximates move to local_conds.
 */
extern void raydar_source_plan(RaydarConn *conn, PlannerInfo *root, RelOptInfo *baserel,
							   const RaydarResource *res, RaydarPushdown *pd);

/* False for a column this transport cannot fill: it shows NULL. */
extern bool raydar_source_carries(RaydarConn *conn, const RaydarResource *res,
								  const RaydarColumn *col);

/*
 * EXPLAIN VERBOSE's description of the request: the transport, the method
 * or route with its query, the version, filters, limit, decode mode.
 * vtext: the version the plan was made for; nothing: a condition no row
 * can satisfy (no request is made).
 */
extern void raydar_source_explain(RaydarConn *conn, const RaydarResource *res,
								  const RaydarSourceRequest *req, const char *vtext,
								  bool nothing, struct ExplainState *es);

/* ----------------------------------------------------------------------
 * For the implementations (source_gcs.c, source_dashboard.c) only
 * ---------------------------------------------------------------------- */

struct RaydarSourceResult
{
	const RaydarResource *res;
	RaydarConn *conn;
	RaydarTaskRows mode;
	RaydarSourceCounters counters;
	ProtobufCAllocator alloc;	/* into the caller's context */
	RayTaskReply *tasks;		/* the rows the mode gives (tasks) */
	RayTaskReply *full;			/* full rows: == tasks (FULL), lazily indexed (gRPC NEW_KEYS) */
	RayClusterReply *cluster;	/* other resources */
	const uint8_t *bytes;		/* gRPC: reply bytes a streamed or lazy decode reads */
	size_t		nbytes;
	RayStateCounters odd;		/* HTTP: values the dashboard sent unreadable */
	bool		http;
};

/* The transport-specific halves; raydar_source_fetch picks one. */
extern void raydar_gcs_fetch(RaydarSourceResult *r, const RayVersion *v,
							 const RaydarSourceRequest *req);
extern void raydar_gcs_explain(RaydarConn *conn, const RaydarResource *res,
							   const RaydarSourceRequest *req, const char *vtext,
							   struct ExplainState *es);
extern void raydar_dashboard_fetch(RaydarSourceResult *r, const RayVersion *v,
								   const RaydarSourceRequest *req);
extern void raydar_dashboard_explain(RaydarConn *conn, const RaydarResource *res,
									 const RaydarSourceRequest *req, const char *vtext,
									 struct ExplainState *es);
extern const char *raydar_gcs_task_events_elsewhere(RaydarConn *conn, const RayVersion *v,
													ProtobufCAllocator *alloc);
extern const char *raydar_dashboard_task_events_elsewhere(RaydarConn *conn, const RayVersion *v);
extern void raydar_dashboard_plan(PlannerInfo *root, RelOptInfo *baserel,
								  const RaydarResource *res, RaydarPushdown *pd);

/* The plan's pushed filters as the core's array (n set; never NULL). */
extern RayTaskFilter *raydar_source_filters(List *filters, int *n);

#endif							/* RAYDAR_SOURCE_H */
