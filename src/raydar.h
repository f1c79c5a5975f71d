/*
 * raydar.h
 *		Declarations shared by the PostgreSQL layer of raydar.
 *
 * The PostgreSQL-free core lives in src/ray; this layer turns its plain C
 * rows into tuples and its status codes into ereports.
 */
#ifndef RAYDAR_H
#define RAYDAR_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/memutils.h"

#include <protobuf-c/protobuf-c.h>

#include "foreign/foreign.h"
#include "nodes/pathnodes.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "ray_buf.h"
#include "ray_status.h"
#include "ray_tasks.h"
#include "ray_version.h"

/* The version is default_version in raydar.control; the Makefile passes it. */
#ifndef RAYDAR_VERSION
#error "RAYDAR_VERSION is not defined: build with the Makefile (it reads raydar.control)"
#endif

/* version_check.c: refuse to run against SQL objects of another version. */
extern void raydar_check_sql_version(void);

/* PG15's fmgr.h has no prototype for it. */
extern void _PG_init(void);
extern void raydar_register_worker(const char *function, const char *name, int restart_s);
extern void raydar_worker_prefer_lz4(void);

/* raydar.c: cancel, statement_timeout or shutdown is pending. */
extern bool raydar_backend_interrupted(void *arg);

/* collector_launcher.c: GUCs and, under shared_preload_libraries, the launcher. */
extern void raydar_collector_init(void);
extern void raydar_metrics_scraper_init(void);	/* metrics_scraper.c */
extern void raydar_event_receiver_init(void);	/* event_receiver.c */

/* pg_alloc.c: protobuf-c and core allocations inside a memory context. */
extern void raydar_allocator_init(ProtobufCAllocator *a, MemoryContext cxt);

/* worker_recovery.c: in a background worker's PG_CATCH, abort and go on. */
extern ErrorData *raydar_worker_recover(MemoryContext cxt, bool emit);

/* convert.c: Ray values to Datums. */
extern bool raydar_ms_to_timestamptz(int64 ms, TimestampTz *out);
extern void raydar_count_out_of_range(const char *what, const char *value);
extern void raydar_reset_out_of_range(void);
extern int64 raydar_report_out_of_range(const char *source);
extern Datum raydar_text_datum(const char *s);
extern Datum raydar_bytea_datum(const void *p, size_t n);
extern Datum raydar_array_datum(Datum *d, bool *nulls, int n, Oid elem);
extern Datum raydar_json_to_jsonb(const char *json, size_t len);
extern Datum raydar_hex_datum(const uint8_t *data, size_t len, RayBuf *s, bool *isnull);
extern Datum raydar_id_datum(const RayId *id, RayBuf *s, bool *isnull);
extern Datum raydar_nullable_text(const char *v, bool *isnull);
extern Datum raydar_nullable_time(bool has, int64 ms, bool *isnull);
extern Datum raydar_buf_jsonb(RayBuf *s);
extern void raydar_convert_init(void);
extern void raydar_source_dashboard_init(void);	/* source_dashboard.c's developer GUC */
extern const char *raydar_server_string(const char *s, size_t len, size_t *outlen);

/* report.c: every error raydar raises about Ray, worded in one place. */
typedef enum RaydarFailure
{
	RAYDAR_FAIL_CANCELLED,		/* an interrupt stopped the call */
	RAYDAR_FAIL_CONNECT,		/* could not reach the peer, or the connection broke */
	RAYDAR_FAIL_TIMEOUT,
	RAYDAR_FAIL_TLS,
	RAYDAR_FAIL_CREDENTIALS,	/* the token was refused (or is missing) */
	RAYDAR_FAIL_TOO_LARGE,		/* the reply exceeds max_reply_mb */
	RAYDAR_FAIL_MALFORMED,		/* a reply raydar cannot read: a protocol violation */
	RAYDAR_FAIL_HTTP_STATUS,	/* an HTTP answer other than 2xx */
	RAYDAR_FAIL_RAY_ERROR,		/* Ray answered with its own error */
	RAYDAR_FAIL_BAD_URL,		/* the URL cannot be requested */
	RAYDAR_FAIL_OUT_OF_MEMORY,
	RAYDAR_FAIL_OTHER
} RaydarFailure;

/* Who failed: the GCS (gRPC) or the dashboard (HTTP) of a server. */
typedef struct RaydarPeer
{
	bool		http;
	const char *endpoint;		/* GCS address, or dashboard_url */
	const char *server;			/* the foreign server's name */
	bool		has_token;
	int			connect_timeout_ms;
	int			timeout_ms;
	size_t		max_reply_bytes;
} RaydarPeer;

/*
 * ERROR for failure f of peer: request is the method or GET path (or
 * URL), detail what Ray or the library said; http_status for
 * RAYDAR_FAIL_HTTP_STATUS.
 */
extern void raydar_report_failure(const RaydarPeer *peer, RaydarFailure f, long http_status,
								  const char *request, const char *detail) pg_attribute_noreturn();
/* ERROR for a core status (src/ray) while doing what; RAY_OK returns. */
extern void raydar_report_core_error(RayStatus st, const char *what, const char *msg);

/* Building jsonb directly (task_columns.c's hot columns). */
struct JsonbValue;
struct JsonbParseState;
extern void raydar_jbv_string(struct JsonbValue *v, const char *s);
extern void raydar_jbv_int64(struct JsonbValue *v, int64 i);
extern void raydar_jbv_double(struct JsonbValue *v, double d);
extern void raydar_jbv_key(struct JsonbParseState **ps, const char *key);

typedef struct RaydarResource RaydarResource;

/* option.c */
typedef struct RaydarServerOptions
{
	const char *address;		/* host:port of the GCS, or NULL */
	const char *dashboard_url;	/* http(s)://host:port of the dashboard, no '/' at the end, or NULL */
	const char *ca_file;		/* CA bundle for https (and gRPC TLS), or NULL */
	const char *client_cert_file;	/* mutual TLS to a RAY_USE_TLS GCS, or NULL */
	const char *client_key_file;
	bool		tls_verify;		/* default true */
	bool		has_version;	/* ray_version given: no detection */
	RayVersion	version;
	const char *version_text;
	int			timeout_ms;
	int			connect_timeout_ms;
	int			cache_ttl_ms;
	size_t		max_reply_bytes;	/* max_reply_mb; default Ray's 512 MiB */
	const char *proxy;			/* proxy URL for HTTP, or NULL: none, never the environment's */
} RaydarServerOptions;

extern void raydar_read_server_options(ForeignServer *server, RaydarServerOptions *opts);
extern const RaydarResource *raydar_table_resource(ForeignTable *table, const char *relname);

/* task_columns.c: the one column catalog of each resource. */
typedef enum RaydarColType
{
	RAYDAR_TEXT,
	RAYDAR_INT4,
	RAYDAR_INT8,
	RAYDAR_BOOL,
	RAYDAR_JSONB,
	RAYDAR_TIMESTAMPTZ
} RaydarColType;

/* reply and row are the resource's own types (RayTaskReply / RayTaskRow, ...) */
typedef Datum (*RaydarGetter) (const void *reply, const void *row,
							   RayBuf *scratch, bool *isnull);

typedef struct RaydarColumn
{
	const char *name;
	RaydarColType type;
	int			filter;			/* RayTaskFilterField it pushes down as, or -1 */
	RaydarGetter get;
	const char *doc;			/* one line, for docs and COMMENT ON COLUMN */
	bool		from_keys;		/* computable from ray_task_reply_decode_keys */
	bool		no_dashboard;	/* Ray's State API does not carry it: NULL over HTTP */
} RaydarColumn;

extern const RaydarColumn raydar_task_columns[];
extern const RaydarColumn raydar_actor_columns[];
extern const RaydarColumn raydar_node_columns[];
extern const RaydarColumn raydar_job_columns[];
extern const RaydarColumn raydar_worker_columns[];
extern const RaydarColumn raydar_placement_group_columns[];

/* The resources IMPORT FOREIGN SCHEMA ray creates, and their columns. */
struct RaydarResource
{
	const char *name;			/* table name and `resource` option value */
	int			kind;			/* RayResourceKind, or -1 for tasks */
	const RaydarColumn *columns;
	const char *route;			/* the dashboard's State API route that lists it */
};

#define RAYDAR_TASKS_KIND (-1)
extern const RaydarResource raydar_resources[];
extern const RaydarResource *raydar_find_resource(const char *name);
extern const char *raydar_resource_method(const RaydarResource *res);	/* the GCS's gRPC method */
extern int	raydar_ncolumns(const RaydarColumn *cols);
extern const RaydarColumn *raydar_find_column(const RaydarColumn *cols, const char *name);
extern Oid	raydar_coltype_oid(RaydarColType t);
extern const char *raydar_coltype_sql(RaydarColType t);

/* connection.c: one gRPC channel per server and user, per backend. */
typedef struct RaydarConn RaydarConn;

extern RaydarConn *raydar_get_conn(Oid serverid, Oid userid);
extern const RaydarServerOptions *raydar_conn_options(RaydarConn *conn);
extern const char *raydar_conn_server_name(RaydarConn *conn);
extern bool raydar_conn_is_http(RaydarConn *conn);
extern const char *raydar_conn_endpoint(RaydarConn *conn);
extern void raydar_conn_peer(RaydarConn *conn, RaydarPeer *peer);
extern char *raydar_conn_http_get(RaydarConn *conn, const char *path_and_query, size_t *len);
extern void raydar_conn_version(RaydarConn *conn, RayVersion *v, const char **text);
extern void raydar_conn_check_version(RaydarConn *conn);
extern bytea *raydar_conn_call(RaydarConn *conn, const char *method,
							   const uint8_t *req, size_t reqlen, bool *from_cache);
extern double raydar_conn_last_rows(RaydarConn *conn);
extern void raydar_conn_set_last_rows(RaydarConn *conn, double rows);

#define RAYDAR_METHOD_GET_TASK_EVENTS "/ray.rpc.TaskInfoGcsService/GetTaskEvents"
#define RAYDAR_METHOD_CHECK_ALIVE "/ray.rpc.NodeInfoGcsService/CheckAlive"
#define RAYDAR_METHOD_GET_CLUSTER_ID "/ray.rpc.NodeInfoGcsService/GetClusterId"

/* pushdown.c */
typedef struct RaydarPushdown
{
	List	   *filters;		/* of RaydarFilterNode lists: (field, pred, value) */
	List	   *remote_conds;	/* RestrictInfos fully handled by Ray */
	List	   *local_conds;	/* RestrictInfos PostgreSQL must check */
	bool		matches_nothing;	/* a condition no task can satisfy */
} RaydarPushdown;

extern void raydar_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
									   const RaydarResource *res, const RayVersion *v,
									   RaydarPushdown *out);
extern void raydar_describe_filters(List *filters, StringInfo buf);
extern const char *raydar_filter_field_name(int field);

#endif							/* RAYDAR_H */
