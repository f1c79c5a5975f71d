/*
 * connection.c
 *		One gRPC channel per (foreign server, user) per backend, the server's
 *		Ray version, the optional reply cache, and errors that say what to do.
 *
 * Modelled on postgres_fdw's connection.c: a hash table in
 * CacheMemoryContext, entries invalidated by syscache callbacks when the
 * server or a user mapping changes, and rebuilt on next use. A channel
 * whose connection failed is dropped at once, so the next query after a GCS
 * restart connects afresh instead of waiting out grpc's reconnect backoff.
 * A dashboard_url server has a curl handle (http_client.c) instead of a
 * channel; curl keeps its connection alive between queries itself.
 */
#include "raydar.h"

#include <malloc.h>

#include "access/xact.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "http_client.h"
#include "ray_grpc.h"
#include "ray_requests.h"
#include "ray_dashboard_parse.h"

/* Replies kept per connection when cache_ttl_ms > 0. */
#define REPLY_CACHE_SLOTS 4

/*
 * A cached reply is read in place by every scan that hits it, possibly
 * while a later scan of the same query evicts it or an invalidation
 * rebuilds the connection. So cached bytes are never freed mid-transaction:
 * each slot's bytes live in a context of their own, and eviction or a
 * rebuild retires that context into TopTransactionContext (retire_context),
 * where it lives until the transaction ends, longer than any scan.
 */
typedef struct ReplyCacheSlot
{
	const char *method;			/* a RAYDAR_METHOD_* constant */
	MemoryContext cxt;			/* request and reply; NULL: empty slot */
	bytea	   *request;
	bytea	   *reply;
	TimestampTz taken_at;
} ReplyCacheSlot;

typedef struct RaydarConnKey
{
	Oid			serverid;
	Oid			userid;
} RaydarConnKey;

struct RaydarConn
{
	RaydarConnKey key;			/* hash key: must be first */
	bool		valid;			/* false: rebuild before use */
	MemoryContext cxt;			/* options, version; the cache's slot contexts */
	RayGrpcChannel *channel;	/* NULL until first call, or after a failure */
	RaydarHttp *http;			/* dashboard_url servers: NULL until first request */
	char	   *server_name;
	RaydarServerOptions opts;
	char	   *token;			/* from the user mapping, or NULL */
	char	   *token_file;		/* the mapping's token_file, or NULL */
	bool		version_known;
	RayVersion	version;
	const char *version_text;
	bool		option_checked; /* ray_version agreed with this connection's cluster */
	bool		warned_version; /* "the cluster does not say" given once */
	double		last_rows;		/* rows the last unfiltered scan returned; -1 unknown */
	ReplyCacheSlot cache[REPLY_CACHE_SLOTS];
};

static HTAB *conn_hash = NULL;
static bool exit_hook_registered = false;

static void
drop_channel(RaydarConn *conn)
{
	if (conn->channel)
	{
		ray_grpc_channel_destroy(conn->channel);
		conn->channel = NULL;
	}
}

static void
drop_http(RaydarConn *conn)
{
	if (conn->http)
	{
		raydar_http_destroy(conn->http);
		conn->http = NULL;
	}
}

/* At backend exit: close channels and join grpc's threads before exit(). */
static void
raydar_conn_shutdown(int code, Datum arg)
{
	HASH_SEQ_STATUS scan;
	RaydarConn *conn;

	if (conn_hash == NULL)
		return;
	hash_seq_init(&scan, conn_hash);
	while ((conn = hash_seq_search(&scan)) != NULL)
	{
		drop_channel(conn);
		drop_http(conn);
	}
	ray_grpc_shutdown();
}

static void
invalidate_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	RaydarConn *conn;

	/* Cheap and rare: invalidate everything, rebuild lazily. */
	hash_seq_init(&scan, conn_hash);
	while ((conn = hash_seq_search(&scan)) != NULL)
		conn->valid = false;
}

/*
 * The token in the user mapping's token_file (Ray 2.54+ with
 * RAY_ENABLE_K8S_TOKEN_AUTH takes a Kubernetes service-account token as
 * the bearer token; kubelet rotates that file, so it is read per call).
 */
static char *
read_token_file(const char *path)
{
	FILE	   *f = AllocateFile(path, "r");
	char	   *buf;
	size_t		n;

	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open token file \"%s\": %m", path),
				 errhint("The user mapping's token_file must be readable by the PostgreSQL server; "
						 "a Kubernetes service-account token is usually "
						 "/var/run/secrets/kubernetes.io/serviceaccount/token.")));
	buf = palloc(65536 + 1);
	n = fread(buf, 1, 65536, f);
	FreeFile(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (n == 0 || strchr(buf, '\n') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token file \"%s\" does not hold one token", path),
				 errhint("The file must hold the token alone, on one line.")));
	return buf;
}

/* The token to send now: token_file's current content, else the token option. */
static char *
current_token(RaydarConn *conn)
{
	return conn->token_file ? read_token_file(conn->token_file) : conn->token;
}

/* The user mapping for (user, server), else PUBLIC's; NULL if neither. */
static char *
lookup_token(Oid userid, Oid serverid, char **token_file)
{
	HeapTuple	tp;
	UserMapping *um;
	ListCell   *cell;

	*token_file = NULL;
	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NULL;
	ReleaseSysCache(tp);
	um = GetUserMapping(userid, serverid);
	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "token_file") == 0)
			*token_file = defGetString(def);
	}
	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "token") == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * Free a context whose contents a running scan may still read (cached
 * replies, a rebuilt connection's option strings): at the end of the
 * transaction, which no scan outlives, or now outside one.
 */
static void
retire_context(MemoryContext cxt)
{
	if (IsTransactionState())
		MemoryContextSetParent(cxt, TopTransactionContext);
	else
		MemoryContextDelete(cxt);
}

static void
build_conn(RaydarConn *conn)
{
	ForeignServer *server = GetForeignServer(conn->key.serverid);
	MemoryContext old;
	RaydarServerOptions opts;
	char	   *token;
	char	   *token_file = NULL;

	drop_channel(conn);
	drop_http(conn);
	/* The old options and cached replies may be in use by a scan. */
	if (conn->cxt)
		retire_context(conn->cxt);
	conn->cxt = AllocSetContextCreate(CacheMemoryContext, "raydar connection",
									  ALLOCSET_SMALL_SIZES);
	raydar_read_server_options(server, &opts);
	token = lookup_token(conn->key.userid, conn->key.serverid, &token_file);

	old = MemoryContextSwitchTo(conn->cxt);
	conn->server_name = pstrdup(server->servername);
	conn->opts = opts;
	conn->opts.address = opts.address ? pstrdup(opts.address) : NULL;
	conn->opts.dashboard_url = opts.dashboard_url ? pstrdup(opts.dashboard_url) : NULL;
	conn->opts.ca_file = opts.ca_file ? pstrdup(opts.ca_file) : NULL;
	conn->opts.client_cert_file = opts.client_cert_file ? pstrdup(opts.client_cert_file) : NULL;
	conn->opts.client_key_file = opts.client_key_file ? pstrdup(opts.client_key_file) : NULL;
	conn->opts.proxy = opts.proxy ? pstrdup(opts.proxy) : NULL;
	conn->opts.version_text = opts.version_text ? pstrdup(opts.version_text) : NULL;
	conn->token = token ? pstrdup(token) : NULL;
	conn->token_file = token_file ? pstrdup(token_file) : NULL;
	if (token_file)
		conn->token = "(token_file)";	/* for messages: a token is sent */
	MemoryContextSwitchTo(old);

	conn->version_known = opts.has_version;
	conn->version = opts.version;
	conn->version_text = conn->opts.version_text;
	conn->option_checked = false;
	conn->warned_version = false;
	conn->last_rows = -1;
	memset(conn->cache, 0, sizeof(conn->cache));
	conn->valid = true;
}

RaydarConn *
raydar_get_conn(Oid serverid, Oid userid)
{
	RaydarConnKey key;
	RaydarConn *conn;
	bool		found;

	if (conn_hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RaydarConnKey);
		ctl.entrysize = sizeof(RaydarConn);
		ctl.hcxt = CacheMemoryContext;
		conn_hash = hash_create("raydar connections", 8, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate_callback, (Datum) 0);
	}
	key.serverid = serverid;
	key.userid = userid;
	conn = hash_search(conn_hash, &key, HASH_ENTER, &found);
	if (!found)
	{
		conn->cxt = NULL;
		conn->channel = NULL;
		conn->http = NULL;
		conn->valid = false;
	}
	if (!conn->valid)
		build_conn(conn);
	return conn;
}

const RaydarServerOptions *
raydar_conn_options(RaydarConn *conn)
{
	return &conn->opts;
}

bool
raydar_conn_is_http(RaydarConn *conn)
{
	return conn->opts.dashboard_url != NULL;
}

/* What the server points at, for messages: the GCS address or the dashboard URL. */
const char *
raydar_conn_endpoint(RaydarConn *conn)
{
	return conn->opts.dashboard_url ? conn->opts.dashboard_url : conn->opts.address;
}

/* The peer behind conn, for report.c. */
void
raydar_conn_peer(RaydarConn *conn, RaydarPeer *peer)
{
	peer->http = conn->opts.dashboard_url != NULL;
	peer->endpoint = raydar_conn_endpoint(conn);
	peer->server = conn->server_name;
	peer->has_token = conn->token != NULL || conn->token_file != NULL;
	peer->connect_timeout_ms = conn->opts.connect_timeout_ms;
	peer->timeout_ms = conn->opts.timeout_ms;
	peer->max_reply_bytes = conn->opts.max_reply_bytes;
}

/*
 * GET path_and_query from the server's dashboard; the body, palloc'd and
 * NUL-terminated, in CurrentMemoryContext. Errors are raised by http_client.c.
 */
char *
raydar_conn_http_get(RaydarConn *conn, const char *path_and_query, size_t *len)
{
	RaydarHttpTarget t;

	if (!exit_hook_registered)
	{
		on_proc_exit(raydar_conn_shutdown, (Datum) 0);
		exit_hook_registered = true;
	}
	if (conn->http == NULL)
		conn->http = raydar_http_create();
	t.base_url = conn->opts.dashboard_url;
	t.server_name = conn->server_name;
	t.token = current_token(conn);
	t.ca_file = conn->opts.ca_file;
	t.tls_verify = conn->opts.tls_verify;
	t.connect_timeout_ms = conn->opts.connect_timeout_ms;
	t.timeout_ms = conn->opts.timeout_ms;
	t.proxy = conn->opts.proxy;
	t.max_body_bytes = conn->opts.max_reply_bytes;
	return raydar_http_get(conn->http, &t, path_and_query, len);
}

const char *
raydar_conn_server_name(RaydarConn *conn)
{
	return conn->server_name;
}

double
raydar_conn_last_rows(RaydarConn *conn)
{
	return conn->last_rows;
}

void
raydar_conn_set_last_rows(RaydarConn *conn, double rows)
{
	conn->last_rows = rows;
}

/* Turn a failed call into an error a Ray user can act on (report.c words it). */
static void
report_call_error(RaydarConn *conn, RayStatus st, const char *method, const char *err)
{
	RaydarPeer	peer;
	RaydarFailure f;

	raydar_conn_peer(conn, &peer);
	switch (st)
	{
		case RAY_ERR_CANCELLED:
			f = RAYDAR_FAIL_CANCELLED;
			break;
		case RAY_ERR_UNAVAILABLE:
			f = RAYDAR_FAIL_CONNECT;
			break;
		case RAY_ERR_TIMEOUT:
			f = RAYDAR_FAIL_TIMEOUT;
			break;
		case RAY_ERR_UNAUTHENTICATED:
			f = RAYDAR_FAIL_CREDENTIALS;
			break;
		case RAY_ERR_TOO_LARGE:
			f = RAYDAR_FAIL_TOO_LARGE;
			break;
		case RAY_ERR_MALFORMED:
			f = RAYDAR_FAIL_MALFORMED;
			break;
		default:
			f = RAYDAR_FAIL_OTHER;
			break;
	}
	raydar_report_failure(&peer, f, 0, method, err);
}

/*
 * A reply is reused only for the same method and the same request bytes:
 * CheckAlive's request and an unfiltered GetTaskEvents are both empty.
 */
static bool
cache_lookup(RaydarConn *conn, const char *method, const uint8_t *req, size_t reqlen,
			 bytea **reply)
{
	TimestampTz now = GetCurrentTimestamp();

	if (conn->opts.cache_ttl_ms <= 0)
		return false;
	for (int i = 0; i < REPLY_CACHE_SLOTS; i++)
	{
		ReplyCacheSlot *s = &conn->cache[i];

		if (s->cxt && strcmp(s->method, method) == 0 &&
			VARSIZE_ANY_EXHDR(s->request) == reqlen &&
			memcmp(VARDATA_ANY(s->request), req, reqlen) == 0 &&
			!TimestampDifferenceExceeds(s->taken_at, now, conn->opts.cache_ttl_ms))
		{
			*reply = s->reply;
			return true;
		}
	}
	return false;
}

static void
cache_store(RaydarConn *conn, const char *method, const uint8_t *req, size_t reqlen,
			bytea *reply)
{
	ReplyCacheSlot *victim = &conn->cache[0];
	MemoryContext old;

	if (conn->opts.cache_ttl_ms <= 0)
		return;
	/* Replace an empty slot, else the oldest. */
	for (int i = 0; i < REPLY_CACHE_SLOTS; i++)
	{
		ReplyCacheSlot *s = &conn->cache[i];

		if (s->cxt == NULL)
		{
			victim = s;
			break;
		}
		if (s->taken_at < victim->taken_at)
			victim = s;
	}
	if (victim->cxt)
		retire_context(victim->cxt);
	victim->cxt = AllocSetContextCreate(conn->cxt, "raydar cached reply",
										ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(victim->cxt);
	victim->request = palloc(VARHDRSZ + reqlen);
	SET_VARSIZE(victim->request, VARHDRSZ + reqlen);
	memcpy(VARDATA(victim->request), req, reqlen);
	victim->reply = palloc_extended(VARSIZE(reply), MCXT_ALLOC_HUGE);
	memcpy(victim->reply, reply, VARSIZE(reply));
	MemoryContextSwitchTo(old);
	victim->method = method;
	victim->taken_at = GetCurrentTimestamp();
}

/*
 * The reply buffer: palloc without ereport (grpc state must be released
 * before any error), with room for a varlena header in front so the bytes
 * become a bytea in place, without a second reply-sized copy.
 */
static void *
reply_alloc(void *data, size_t size)
{
	char	   *p = MemoryContextAllocExtended((MemoryContext) data, VARHDRSZ + size,
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);

	return p ? p + VARHDRSZ : NULL;
}

static void
reply_free(void *data, void *ptr)
{
	if (ptr)
		pfree((char *) ptr - VARHDRSZ);
}

/* A reply this large leaves grpc's freed copy worth trimming (fdw.c's 64 MiB). */
#define RAYDAR_TRIM_CALL_BYTES ((size_t) 64 * 1024 * 1024)

/*
 * One unary call; the reply as a bytea in CurrentMemoryContext (the bytes
 * start at VARDATA). Errors are raised here, after grpc has cleaned up.
 */
bytea *
raydar_conn_call(RaydarConn *conn, const char *method, const uint8_t *req, size_t reqlen,
				 bool *from_cache)
{
	char		err[512];
	RayStatus	st;
	uint8_t    *raw;
	size_t		rawlen;
	bytea	   *reply;
	ProtobufCAllocator alloc;

	*from_cache = false;
	if (conn->opts.address == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("server \"%s\" reaches Ray through its dashboard (dashboard_url), "
						"which cannot make the gRPC call %s", conn->server_name, method),
				 errhint("Use a server with address 'host:6379' (the GCS) for this.")));
	if (cache_lookup(conn, method, req, reqlen, &reply))
	{
		*from_cache = true;
		return reply;
	}

	if (!exit_hook_registered)
	{
		on_proc_exit(raydar_conn_shutdown, (Datum) 0);
		exit_hook_registered = true;
	}
	err[0] = '\0';
	if (conn->channel == NULL)
	{
		/* TLS when any of the files is set: Ray's RAY_USE_TLS GCS. */
		RayGrpcTls	tls = {conn->opts.ca_file, conn->opts.client_cert_file,
		conn->opts.client_key_file};

		conn->channel = ray_grpc_channel_create_tls(conn->opts.address, conn->opts.max_reply_bytes,
													&tls, err, sizeof(err));
		if (conn->channel == NULL)
			report_call_error(conn, RAY_ERR_UNAVAILABLE, method, err);
	}
	st = ray_grpc_connect(conn->channel, conn->opts.connect_timeout_ms,
						  raydar_backend_interrupted, NULL, err, sizeof(err));
	if (st == RAY_OK)
	{
		/* Room for the varlena header in front, so the reply needs no copy. */
		alloc.alloc = reply_alloc;
		alloc.free = reply_free;
		alloc.allocator_data = CurrentMemoryContext;
		st = ray_grpc_unary(conn->channel, method, req, reqlen, current_token(conn),
							conn->opts.timeout_ms, raydar_backend_interrupted, NULL, &alloc,
							&raw, &rawlen, err, sizeof(err));
	}
	if (st != RAY_OK)
	{
		/* A broken or refused connection is rebuilt on the next call. */
		if (st == RAY_ERR_UNAVAILABLE || st == RAY_ERR_TIMEOUT || st == RAY_ERR_CANCELLED)
			drop_channel(conn);

		/*
		 * A call stopped while a reply was arriving or being copied out of
		 * grpc's slices (a cancel, a deadline, a broken connection, a reply
		 * over max_reply_mb) has freed up to a reply's worth of grpc's
		 * memory into glibc's arenas, where it stays (TAP 150 saw ~500 MB
		 * kept after a cancel): EndForeignScan trims only after a scan that
		 * ended well, so give it back here, before the error unwinds.
		 */
		if (st == RAY_ERR_CANCELLED || st == RAY_ERR_TIMEOUT ||
			st == RAY_ERR_UNAVAILABLE || st == RAY_ERR_TOO_LARGE)
			malloc_trim(0);
		report_call_error(conn, st, method, err);
	}
	/*
	 * grpc's copy of a large reply is freed by now but kept by glibc; a scan
	 * cancelled while it walks the reply never reaches EndForeignScan's
	 * trim, so give that copy back at once.
	 */
	if (rawlen >= RAYDAR_TRIM_CALL_BYTES)
		malloc_trim(0);
	reply = (bytea *) ((char *) raw - VARHDRSZ);
	SET_VARSIZE(reply, VARHDRSZ + rawlen);
	cache_store(conn, method, req, reqlen, reply);
	return reply;
}

/*
 * A version text kept for the connection's life: the same text is the same
 * pointer, so a plan that keeps one (fdw.c) never sees it freed, and a
 * cluster that changes version adds one string, not one per statement.
 */
static const char *
keep_version_text(RaydarConn *conn, const char *vt)
{
	if (conn->version_text != NULL && strcmp(conn->version_text, vt) == 0)
		return conn->version_text;
	return MemoryContextStrdup(conn->cxt, vt);
}

/* A dashboard's version: GET /api/version, {"ray_version": "2.40.0", ...}. */
static void
http_version(RaydarConn *conn)
{
	size_t		len;
	char	   *body = raydar_conn_http_get(conn, "/api/version", &len);
	char		vt[64];
	char		err[256];
	RayStatus	st = ray_state_json_version(body, len, vt, sizeof(vt), err, sizeof(err));

	if (st != RAY_OK || !ray_version_parse(vt, &conn->version))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not learn the Ray version of the dashboard at %s", conn->opts.dashboard_url),
				 errdetail("%s", st != RAY_OK ? err : vt),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD ray_version '2.40.0').",
						 quote_identifier(conn->server_name))));
	pfree(body);
	conn->version_text = keep_version_text(conn, vt);
	conn->version_known = true;
}

/*
 * The version CheckAlive reports, in vt and (parsed) v: false if the reply
 * cannot be read (st says so) or does not say one (err says why).
 */
static bool
check_alive_version(RaydarConn *conn, RayVersion *v, char *vt, size_t vtlen, char *err, size_t errlen,
					RayStatus *st)
{
	bool		cached;
	bytea	   *reply = raydar_conn_call(conn, RAYDAR_METHOD_CHECK_ALIVE, (const uint8_t *) "", 0, &cached);
	int32_t		code;

	*st = ray_check_alive_reply_decode((const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ,
									   vt, vtlen, &code, err, errlen);
	/* The GCS's own error, as for any other method (source_gcs.c). */
	if (code != 0)
	{
		RaydarPeer	peer;

		raydar_conn_peer(conn, &peer);
		raydar_report_failure(&peer, RAYDAR_FAIL_RAY_ERROR, 0, "CheckAlive", err);
	}
	if (*st != RAY_OK)
		return false;
	snprintf(err, errlen, "CheckAlive said \"%s\".", vt);
	return ray_version_parse(vt, v);
}

/*
 * Whether the connection to the GCS is new since this was last asked: the
 * first call, after a failure (drop_channel), or after the server went away
 * and grpc reconnected (a GCS restart, as for an in-place upgrade of Ray).
 * What was learnt of the cluster over the old connection, its version, is
 * then asked again. Asking also starts watching the connection.
 */
static bool
connection_new(RaydarConn *conn)
{
	return conn->opts.address != NULL &&
		(conn->channel == NULL || ray_grpc_connection_new(conn->channel));
}

/*
 * At a scan, for a server with a ray_version option: the option must
 * agree with the version the cluster reports (major.minor, what raydar's
 * version facts depend on), else nothing is sent in a layout the cluster
 * cannot take; where the cluster does not say, the option wins, with a
 * WARNING once. Asked once per connection, and again when it is remade
 * (a cluster may be upgraded in place). Not at planning: EXPLAIN with
 * ray_version set needs no network.
 */
void
raydar_conn_check_version(RaydarConn *conn)
{
	RayVersion	v;
	char		vt[64];
	char		err[256];
	RayStatus	st;

	if (!conn->opts.has_version || conn->opts.address == NULL ||
		(conn->option_checked && !connection_new(conn)))
		return;
	if (!check_alive_version(conn, &v, vt, sizeof(vt), err, sizeof(err), &st))
	{
		raydar_report_core_error(st, psprintf("checking the Ray version of server \"%s\"",
											  conn->server_name), err);
		if (!conn->warned_version)
			ereport(WARNING,
					(errmsg("the Ray cluster of server \"%s\" does not say its version; using ray_version '%s'",
							conn->server_name, conn->opts.version_text),
					 errdetail("%s", err)));
		conn->warned_version = true;
	}
	else if (v.major != conn->opts.version.major || v.minor != conn->opts.version.minor)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("server \"%s\" has ray_version '%s', but the cluster runs Ray %s",
						conn->server_name, conn->opts.version_text, vt),
				 errhint("Drop the option to follow the cluster's version: ALTER SERVER %s OPTIONS (DROP ray_version);",
						 quote_identifier(conn->server_name))));
	conn->option_checked = true;
	(void) connection_new(conn);	/* watch the connection the check used */
}

/*
 * The server's Ray version: the ray_version option, else CheckAlive or the
 * dashboard's version endpoint. Kept while the connection lasts, and asked
 * again whenever it is (re)made, before anything is encoded for it: a
 * cluster upgraded or downgraded in place keeps its address but restarts
 * its GCS, so the version is a fact of the connection, not of the session.
 */
void
raydar_conn_version(RaydarConn *conn, RayVersion *v, const char **text)
{
	if (!conn->opts.has_version && conn->version_known && connection_new(conn))
		conn->version_known = false;
	if (!conn->version_known && conn->opts.dashboard_url)
		http_version(conn);
	if (!conn->version_known)
	{
		char		vt[64];
		char		err[256];
		RayStatus	st;

		if (!check_alive_version(conn, &conn->version, vt, sizeof(vt), err, sizeof(err), &st))
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("could not learn the Ray version of %s", conn->opts.address),
					 errdetail("%s", err),
					 errhint("Set it with ALTER SERVER %s OPTIONS (ADD ray_version '2.40.0').",
							 quote_identifier(conn->server_name))));
		conn->version_text = keep_version_text(conn, vt);
		conn->version_known = true;
		(void) connection_new(conn);	/* watch the connection it was learnt on */
	}
	*v = conn->version;
	*text = conn->version_text;
}
