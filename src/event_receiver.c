/*
 * event_receiver.c
 *		The push receiver: a background worker that serves Ray's Event Export
 *		(HTTP POST of RayEvent JSON arrays) with libmicrohttpd and merges the
 *		task events into raydar.task_history / raydar.task_live.
 *
 * Threads: libmicrohttpd's threads (one per connection) never call
 * PostgreSQL. Each reads a body, queues it, wakes the worker through a pipe
 * and waits. The worker's loop takes every queued body, and in one
 * transaction (one subtransaction per body, so that one body's failure is
 * that body's) validates, deduplicates on eventId, merges and writes; after
 * the commit it sets each body's HTTP status and wakes the threads, which
 * answer. So a 200 means durable. A body the worker has not committed within
 * raydar.event_receiver_reply_timeout is answered 503 with Retry-After (Ray
 * resends it; the eventIds make the resend a no-op if it did commit).
 *
 * Merging (Ray's gcs_ray_event_converter.cc): each task event becomes a
 * TaskEvents (src/ray/ray_event_json.c), packed; an attempt's packed events
 * are appended to what raydar.event_attempts holds for it, which parses as
 * protobuf MergeFrom. The merged attempts are derived into rows by
 * ray_task_reply_from_events and written through history_store.c, the one
 * place a row is built: attempts that are FINISHED or FAILED and have their
 * definition go to task_history (replacing their earlier row, so each is
 * stored once however often it changes), the rest to task_live.
 *
 * Status codes: 200 for every body stored, including bad events (kept in
 * raydar.event_rejects; Ray would resend a 4xx forever and stall the node);
 * 404 for an unregistered cluster, 403 for a wrong token (a misconfiguration,
 * logged once per cluster); 503 with Retry-After when PostgreSQL cannot take
 * the write.
 */
#include "raydar.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_entities.h"
#include "history_store.h"
#include "ray_enums.h"
#include "ray_event_json.h"
#include "ray_tasks.h"

PGDLLEXPORT void raydar_event_receiver_main(Datum arg);

/* Settings */
static char *receiver_listen = NULL;
static char *receiver_tls_cert = NULL;
static char *receiver_tls_key = NULL;
static char *receiver_database = NULL;
static int	receiver_retention_s = 3600;
static int	receiver_rejects_max = 10000;
static int	receiver_reply_timeout_ms = 2500;

/* One POST body, from its thread to the worker and back. */
typedef struct PushRequest
{
	struct PushRequest *next;
	char		cluster[64];
	char		token[256];
	char		node[64];		/* the sender's address */
	char	   *body;			/* malloc */
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		queued;
	bool		done;			/* status set by the worker */
	bool		abandoned;		/* its thread answered 503 and left */
	int			status;
} PushRequest;

static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cv = PTHREAD_COND_INITIALIZER;
static PushRequest *queue_head = NULL;
static PushRequest *queue_tail = NULL;
static int	wake_pipe[2] = {-1, -1};
static volatile bool receiver_stopping = false;

#define MAX_BODY ((size_t) 256 * 1024 * 1024)

/* ---- libmicrohttpd side: no PostgreSQL calls here ---- */

static void
req_free(PushRequest *r)
{
	free(r->body);
	free(r);
}

static enum MHD_Result
answer(struct MHD_Connection *conn, int status)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, "Retry-After", "1");
	ret = MHD_queue_response(conn, (unsigned int) status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* /events/<cluster>[/<token>]: false if the path is not that. */
static bool
parse_path(const char *url, PushRequest *r)
{
	const char *p;
	const char *slash;
	size_t		n;

	if (strncmp(url, "/events/", 8) != 0)
		return false;
	p = url + 8;
	slash = strchr(p, '/');
	n = slash ? (size_t) (slash - p) : strlen(p);
	if (n == 0 || n >= sizeof(r->cluster))
		return false;
	memcpy(r->cluster, p, n);
	r->cluster[n] = '\0';
	if (slash)
	{
		p = slash + 1;
		n = strlen(p);
		while (n > 0 && p[n - 1] == '/')
			n--;
		if (n >= sizeof(r->token) || memchr(p, '/', n) != NULL)
			return false;
		memcpy(r->token, p, n);
		r->token[n] = '\0';
	}
	return true;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	PushRequest *r = *con_cls;
	struct timespec deadline;
	int			status;

	if (r == NULL)
	{
		const union MHD_ConnectionInfo *ci;

		if (strcmp(method, "POST") != 0)
			return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED);
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		if (!parse_path(url, r))
		{
			free(r);
			return answer(conn, MHD_HTTP_NOT_FOUND);
		}
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr)
		{
			const struct sockaddr *sa = ci->client_addr;

			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, r->node, sizeof(r->node));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, r->node, sizeof(r->node));
		}
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		if (!r->too_large && r->len + n > MAX_BODY)
			r->too_large = true;
		if (!r->too_large)
		{
			if (r->len + n + 1 > r->cap)
			{
				size_t		cap = Max(r->cap * 2, r->len + n + 1);
				char	   *b = realloc(r->body, Max(cap, 65536));

				if (b == NULL)
					return MHD_NO;
				r->body = b;
				r->cap = Max(cap, 65536);
			}
			memcpy(r->body + r->len, upload_data, n);
			r->len += n;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* The whole body: to the worker, and wait for its answer. */
	pthread_mutex_lock(&queue_mu);
	if (receiver_stopping)
	{
		pthread_mutex_unlock(&queue_mu);
		return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE);
	}
	r->queued = true;
	if (queue_tail)
		queue_tail->next = r;
	else
		queue_head = r;
	queue_tail = r;
	pthread_mutex_unlock(&queue_mu);
	if (write(wake_pipe[1], "x", 1) < 0 && errno != EAGAIN)
		;						/* the worker also wakes on its timeout */

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += receiver_reply_timeout_ms / 1000;
	deadline.tv_nsec += (long) (receiver_reply_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&queue_mu);
	while (!r->done && !receiver_stopping)
		if (pthread_cond_timedwait(&queue_cv, &queue_mu, &deadline) == ETIMEDOUT)
			break;
	if (r->done)
	{
		status = r->status;
		*con_cls = NULL;
		pthread_mutex_unlock(&queue_mu);
		req_free(r);
	}
	else
	{
		/* The worker frees it when it gets to it (or the process ends). */
		r->abandoned = true;
		*con_cls = NULL;
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		pthread_mutex_unlock(&queue_mu);
	}
	return answer(conn, status);
}

/* A connection that ended before its body was queued. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	PushRequest *r = *con_cls;

	if (r != NULL && !r->queued)
		req_free(r);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* libmicrohttpd's threads must not call elog: their messages are dropped. */
}

/* ---- the worker ---- */

void
raydar_event_receiver_init(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("raydar.event_receiver_listen",
							   "Address and port the push receiver listens on for Ray's Event Export.",
							   "For example '127.0.0.1:8084' or '0.0.0.0:8084'; empty: no receiver.",
							   &receiver_listen, "", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("raydar.event_receiver_tls_cert",
							   "PEM certificate file of the push receiver: with the key, it serves HTTPS.",
							   NULL, &receiver_tls_cert, "", PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("raydar.event_receiver_tls_key",
							   "PEM private key file of the push receiver.",
							   NULL, &receiver_tls_key, "", PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_receiver_retention",
							"How long the push receiver remembers event ids and merged attempts after their last event.",
							NULL, &receiver_retention_s, 3600, 60, 30 * 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_rejects_max",
							"Rejected events kept in raydar.event_rejects (the newest).",
							NULL, &receiver_rejects_max, 10000, 0, 10000000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_receiver_reply_timeout",
							"Longest a POST waits for its batch to commit before it is answered 503.",
							NULL, &receiver_reply_timeout_ms, 2500, 100, 60000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	if (receiver_listen == NULL || receiver_listen[0] == '\0')
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "raydar");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "raydar_event_receiver_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "raydar event receiver");
	snprintf(worker.bgw_type, BGW_MAXLEN, "raydar event receiver");
	RegisterBackgroundWorker(&worker);
}

static char *
read_file(const char *path)
{
	FILE	   *f = AllocateFile(path, "r");
	StringInfoData s;
	char		buf[4096];
	size_t		n;

	if (f == NULL)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not open the push receiver's TLS file \"%s\": %m", path)));
	initStringInfo(&s);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		appendBinaryStringInfo(&s, buf, (int) n);
	FreeFile(f);
	return s.data;
}

static struct MHD_Daemon *
start_http(void)
{
	char	   *spec = pstrdup(receiver_listen);
	char	   *colon = strrchr(spec, ':');
	struct sockaddr_in addr;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	bool		tls = receiver_tls_cert[0] != '\0' || receiver_tls_key[0] != '\0';
	struct MHD_Daemon *d;
	long		port;
	char	   *end;
	sigset_t	all,
				old_mask;

	if (colon == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid raydar.event_receiver_listen: \"%s\"", receiver_listen),
				 errhint("Give an IPv4 address and a port, for example '127.0.0.1:8084'.")));
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	if (*end != '\0' || port < 1 || port > 65535 ||
		inet_pton(AF_INET, spec[0] ? spec : "0.0.0.0", &addr.sin_addr) != 1)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid raydar.event_receiver_listen: \"%s\"", receiver_listen),
				 errhint("Give an IPv4 address and a port, for example '127.0.0.1:8084'.")));
	addr.sin_port = htons((uint16) port);
	if (tls && (receiver_tls_cert[0] == '\0' || receiver_tls_key[0] == '\0'))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("raydar.event_receiver_tls_cert and raydar.event_receiver_tls_key go together")));
	/*
	 * libmicrohttpd's threads inherit this mask: with every signal blocked
	 * there, PostgreSQL's handlers (SIGTERM, SIGHUP, SIGURG for latches) run
	 * only in this thread.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old_mask);
	if (tls)
	{
		char	   *cert = read_file(receiver_tls_cert);
		char	   *key = read_file(receiver_tls_key);

		d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL,
							 MHD_OPTION_SOCK_ADDR, &addr,
							 MHD_OPTION_HTTPS_MEM_CERT, cert,
							 MHD_OPTION_HTTPS_MEM_KEY, key,
							 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							 MHD_OPTION_CONNECTION_LIMIT, 256,
							 MHD_OPTION_CONNECTION_TIMEOUT, 60,
							 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
							 MHD_OPTION_END);
	}
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
							 MHD_OPTION_SOCK_ADDR, &addr,
							 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							 MHD_OPTION_CONNECTION_LIMIT, 256,
							 MHD_OPTION_CONNECTION_TIMEOUT, 60,
							 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
							 MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (d == NULL)
		ereport(FATAL,
				(errmsg("the push receiver could not listen on \"%s\"", receiver_listen),
				 errhint("Is the port in use, or the address not this host's?")));
	ereport(LOG, (errmsg("raydar event receiver listening on %s%s", receiver_listen,
						 tls ? " (TLS)" : "")));
	return d;
}

/* Clusters already reported as unknown or with a wrong token (log once). */
static List *reported = NIL;

static void
report_once(const char *cluster, const char *what)
{
	ListCell   *lc;
	char	   *key = psprintf("%s\n%s", what, cluster);
	MemoryContext old;

	foreach(lc, reported)
		if (strcmp(lfirst(lc), key) == 0)
			return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	reported = lappend(reported, pstrdup(key));
	MemoryContextSwitchTo(old);
	if (strcmp(what, "unknown") == 0)
		ereport(LOG,
				(errmsg("raydar event receiver: events for unregistered cluster \"%s\" answered 404", cluster),
				 errhint("SELECT raydar.receive_events('%s', token => ...); then point Ray at /events/%s/<token>.",
						 cluster, cluster)));
	else
		ereport(LOG,
				(errmsg("raydar event receiver: events for cluster \"%s\" with a wrong or missing token answered 403",
						cluster),
				 errhint("Ray's RAY_DASHBOARD_AGGREGATOR_AGENT_EVENTS_EXPORT_ADDR must end in the token given to raydar.receive_events().")));
}

/* SPI helpers */
static Datum
bytea_datum(const uint8_t *p, size_t n)
{
	bytea	   *b = palloc(VARHDRSZ + n);

	SET_VARSIZE(b, VARHDRSZ + n);
	memcpy(VARDATA(b), p, n);
	return PointerGetDatum(b);
}

static Datum
array_of(Datum *d, bool *nulls, int n, Oid elem)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		byval;
	char		align;

	get_typlenbyvalalign(elem, &typlen, &byval, &align);
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, elem, typlen, byval, align));
}

static void
add_reject(const char *cluster, const char *node, const char *reason, const char *event, size_t len)
{
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		a[4];
	char		n[4] = {' ', ' ', ' ', ' '};

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(node);
	a[2] = CStringGetTextDatum(reason);
	if (event == NULL)
		n[3] = 'n';
	else
		a[3] = PointerGetDatum(cstring_to_text_with_len(event, (int) Min(len, 8192)));
	if (SPI_execute_with_args("INSERT INTO raydar.event_rejects (cluster, node, reason, event) "
							  "VALUES ($1, $2, $3, convert_from(convert_to($4, 'UTF8'), 'UTF8'))",
							  4, t, a, n, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into raydar.event_rejects");
}

typedef struct ClusterInfo
{
	bool		found;
	bool		token_ok;
	RayVersion	v;
	bool		polled;
} ClusterInfo;

static void
cluster_info(PushRequest *r, ClusterInfo *ci)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1];
	bool		isnull;
	HeapTuple	tup;

	memset(ci, 0, sizeof(*ci));
	a[0] = CStringGetTextDatum(r->cluster);
	if (SPI_execute_with_args("SELECT token_sha256, ray_version, "
							  "EXISTS (SELECT 1 FROM raydar.tracked_servers WHERE server_name::text = $1) "
							  "FROM raydar.event_clusters WHERE cluster = $1",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_clusters");
	if (SPI_processed == 0)
		return;
	ci->found = true;
	tup = SPI_tuptable->vals[0];
	{
		Datum		h = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			ci->token_ok = r->token[0] == '\0';
		else
		{
			bytea	   *want = DatumGetByteaPP(h);
			uint8		got[PG_SHA256_DIGEST_LENGTH];
			pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

			if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
				pg_cryptohash_update(ctx, (uint8 *) r->token, strlen(r->token)) < 0 ||
				pg_cryptohash_final(ctx, got, sizeof(got)) < 0)
				elog(ERROR, "could not compute a SHA-256");
			pg_cryptohash_free(ctx);
			ci->token_ok = r->token[0] != '\0' &&
				VARSIZE_ANY_EXHDR(want) == sizeof(got) &&
				memcmp(VARDATA_ANY(want), got, sizeof(got)) == 0;
		}
	}
	if (!ray_version_parse(TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)), &ci->v))
		ray_version_parse("2.58", &ci->v);
	ci->polled = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
}

/* The incarnation rows of session go under (see 76_push.sql). */
static char *
session_incarnation(const char *cluster, const char *session)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		a[2];
	bool		isnull;

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(session);
	if (SPI_execute_with_args("WITH ins AS (INSERT INTO raydar.event_sessions (cluster, session_name, incarnation) "
							  "SELECT $1, $2, coalesce((SELECT nullif(s.incarnation, '') FROM raydar.collector_status s "
							  "JOIN raydar.tracked_servers t ON t.server_name = s.server WHERE s.server::text = $1), $2) "
							  "ON CONFLICT DO NOTHING RETURNING incarnation) "
							  "SELECT incarnation FROM ins UNION ALL "
							  "SELECT incarnation FROM raydar.event_sessions WHERE cluster = $1 AND session_name = $2",
							  2, t, a, NULL, false, 0) != SPI_OK_SELECT || SPI_processed < 1)
		elog(ERROR, "could not read raydar.event_sessions");
	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Which of the batch's event ids are new (first occurrence in the batch too). */
static bool *
new_events(const char *cluster, RayEventBatch *b, int *ndup)
{
	bool	   *fresh = palloc0(sizeof(bool) * (b->n + 1));
	Datum	   *ids = palloc(sizeof(Datum) * (b->n + 1));
	int			n = 0;
	int			nfresh = 0;
	Oid			t[2] = {TEXTOID, BYTEAARRAYOID};
	Datum		a[2];
	HASHCTL		hc;
	HTAB	   *ins;

	*ndup = 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].kind != RAY_EVENT_REJECTED)
			ids[n++] = bytea_datum(b->items[i].event_id, b->items[i].event_id_len);
	if (n == 0)
		return fresh;
	a[0] = CStringGetTextDatum(cluster);
	a[1] = array_of(ids, NULL, n, BYTEAOID);

	/*
	 * One statement for the body's ids; ON CONFLICT DO NOTHING also skips
	 * an id repeated within the body. The ids it inserted are matched back
	 * to the events here (a hash of them: the first event with an inserted
	 * id is the fresh one) rather than by a join in SQL, which the planner
	 * could plan as a nested loop over both lists.
	 */
	if (SPI_execute_with_args("INSERT INTO raydar.event_ids (cluster, event_id) SELECT $1, id "
							  "FROM unnest($2::bytea[]) AS x(id) ON CONFLICT DO NOTHING RETURNING event_id",
							  2, t, a, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into raydar.event_ids");
	memset(&hc, 0, sizeof(hc));
	hc.keysize = RAY_EVENT_MAX_ID + 1;	/* length byte, then the id */
	hc.entrysize = hc.keysize;
	hc.hcxt = CurrentMemoryContext;
	ins = hash_create("raydar pushed event ids", Max(SPI_processed, 16), &hc,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull);
		uint8		key[RAY_EVENT_MAX_ID + 1] = {0};
		bytea	   *id;
		size_t		len;

		if (isnull)
			continue;
		id = DatumGetByteaPP(d);
		len = VARSIZE_ANY_EXHDR(id);
		if (len > RAY_EVENT_MAX_ID)
			continue;
		key[0] = (uint8) len;
		memcpy(key + 1, VARDATA_ANY(id), len);
		hash_search(ins, key, HASH_ENTER, NULL);
	}
	for (size_t i = 0; i < b->n; i++)
	{
		uint8		key[RAY_EVENT_MAX_ID + 1] = {0};
		bool		found;

		if (b->items[i].kind == RAY_EVENT_REJECTED || b->items[i].event_id_len > RAY_EVENT_MAX_ID)
			continue;
		key[0] = (uint8) b->items[i].event_id_len;
		memcpy(key + 1, b->items[i].event_id, b->items[i].event_id_len);
		/* removed once claimed: a repeat of the id later in the body is a duplicate */
		hash_search(ins, key, HASH_REMOVE, &found);
		if (found)
		{
			fresh[i] = true;
			nfresh++;
		}
	}
	hash_destroy(ins);
	*ndup = n - nfresh;
	return fresh;
}

/*
 * Attempts merged since the receiver's tables were last ANALYZEd, and how
 * many had been merged then. The receiver's statements join a batch's keys
 * (unnest) to event_attempts, task_live and task_history; while a new
 * cluster's rows grow from nothing faster than autovacuum analyzes them, the
 * planner believes "cluster = $1 AND incarnation = $2" matches a few rows
 * and hashes the whole incarnation for every batch, so ingest slowed as
 * the tables grew. Analyzed each time the merged attempts double (a
 * handful of times over any run), after the batch is answered.
 */
static uint64 merged_since_analyze = 0;
static uint64 merged_at_analyze = 0;

static void
analyze_if_grown(void)
{
	MemoryContext old = CurrentMemoryContext;

	if (merged_since_analyze < Max((uint64) 5000, merged_at_analyze))
		return;
	merged_at_analyze += merged_since_analyze;
	merged_since_analyze = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "raydar event receiver: ANALYZE");
		/* not worth waiting for: the next POSTs wait behind it */
		SPI_execute("SET LOCAL lock_timeout = '1s'", false, 0);
		/* the key columns only: sorting the jsonb columns' samples was most of it */
		SPI_execute("ANALYZE raydar.event_attempts (cluster, incarnation, task_id, attempt_number), "
					"raydar.task_live (cluster, task_id, attempt_number), "
					"raydar.task_history (cluster, incarnation, task_id, attempt_number)",
					false, 0);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* Only statistics: logged, and ingest goes on (tried again later). */
		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG, (errmsg("raydar event receiver: could not analyze its tables: %s", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	pgstat_report_activity(STATE_IDLE, NULL);
}

typedef struct AttemptKey
{
	int			item;			/* first item of the attempt */
	const char *inc;
	const Ray__Rpc__TaskEvents *te;
} AttemptKey;

static int
cmp_key(const void *a, const void *b)
{
	const AttemptKey *x = a;
	const AttemptKey *y = b;
	int			c = strcmp(x->inc, y->inc);

	if (c != 0)
		return c;
	if (x->te->task_id.len != y->te->task_id.len)
		return x->te->task_id.len < y->te->task_id.len ? -1 : 1;
	c = memcmp(x->te->task_id.data, y->te->task_id.data, x->te->task_id.len);
	if (c != 0)
		return c;
	if (x->te->attempt_number != y->te->attempt_number)
		return x->te->attempt_number < y->te->attempt_number ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);	/* arrival order */
}

static bool
same_attempt(const AttemptKey *x, const AttemptKey *y)
{
	return strcmp(x->inc, y->inc) == 0 && x->te->task_id.len == y->te->task_id.len &&
		memcmp(x->te->task_id.data, y->te->task_id.data, x->te->task_id.len) == 0 &&
		x->te->attempt_number == y->te->attempt_number;
}

/*
 * Merge the attempts of keys[from, to) (one incarnation) into event_attempts
 * and write their rows. Returns nothing; errors are ERRORs.
 */
static void
merge_attempts(const char *cluster, const char *inc, const ClusterInfo *ci,
			   AttemptKey *keys, int from, int to)
{
	int			cap = to - from;
	Datum	   *tids = palloc(sizeof(Datum) * cap);
	Datum	   *atts = palloc(sizeof(Datum) * cap);
	Datum	   *evs = palloc(sizeof(Datum) * cap);
	int			n = 0;
	Oid			t[5] = {TEXTOID, TEXTOID, BYTEAARRAYOID, INT4ARRAYOID, BYTEAARRAYOID};
	Datum		a[5];
	Ray__Rpc__GetTaskEventsReply msg = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	bool	   *was_in_history;
	bool	   *expired;
	RayTaskReply *reply;
	ProtobufCAllocator alloc;
	char		err[512];
	RayStatus	rs;
	List	   *hist = NIL,
			   *live = NIL,
			   *replace = NIL,
			   *moved_live = NIL;
	uint64		nrows;

	for (int i = from; i < to;)
	{
		int			j = i;
		size_t		len = 0,
					off = 0;
		bytea	   *b;

		while (j < to && same_attempt(&keys[i], &keys[j]))
			len += ray__rpc__task_events__get_packed_size(keys[j++].te);
		b = palloc(VARHDRSZ + len);
		SET_VARSIZE(b, VARHDRSZ + len);
		for (int k = i; k < j; k++)
			off += ray__rpc__task_events__pack(keys[k].te, (uint8_t *) VARDATA(b) + off);
		tids[n] = bytea_datum(keys[i].te->task_id.data, keys[i].te->task_id.len);
		atts[n] = Int32GetDatum(keys[i].te->attempt_number);
		evs[n] = PointerGetDatum(b);
		n++;
		i = j;
	}
	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	a[2] = array_of(tids, NULL, n, BYTEAOID);
	a[3] = array_of(atts, NULL, n, INT4OID);
	a[4] = array_of(evs, NULL, n, BYTEAOID);
	/* Appending packed TaskEvents is protobuf's MergeFrom (see the header). */
	if (SPI_execute_with_args("INSERT INTO raydar.event_attempts AS e (cluster, incarnation, task_id, attempt_number, events) "
							  "SELECT $1, $2, u.* FROM unnest($3::bytea[], $4::int[], $5::bytea[]) AS u "
							  "ON CONFLICT (cluster, incarnation, task_id, attempt_number) DO UPDATE "
							  "SET events = CASE WHEN e.expired THEN e.events ELSE e.events || EXCLUDED.events END, "
							  "updated_at = now() "
							  "RETURNING events, in_history, expired",
							  5, t, a, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not merge into raydar.event_attempts");
	nrows = SPI_processed;
	merged_since_analyze += nrows;
	msg.n_events_by_task = nrows;
	msg.events_by_task = palloc(sizeof(void *) * (nrows + 1));
	was_in_history = palloc(sizeof(bool) * (nrows + 1));
	expired = palloc(sizeof(bool) * (nrows + 1));
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	for (uint64 k = 0; k < nrows; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		bool		isnull;
		bytea	   *e = DatumGetByteaPCopy(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

		was_in_history[k] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		expired[k] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
		msg.events_by_task[k] = ray__rpc__task_events__unpack(&alloc, VARSIZE_ANY_EXHDR(e),
															  (uint8_t *) VARDATA_ANY(e));
		if (msg.events_by_task[k] == NULL)
			elog(ERROR, "raydar.event_attempts holds an attempt that does not parse");
	}
	rs = ray_task_reply_from_events(&msg, &ci->v, &alloc, &reply, err, sizeof(err));
	raydar_report_core_error(rs, "deriving pushed task attempts", err);
	for (size_t k = 0; k < reply->nrows; k++)
	{
		const RayTaskRow *row = &reply->rows[k];
		RayTaskState st = ray_task_status_meaning(&reply->version, row->state);
		bool		terminal = row->has_end_ms && (st == RAY_TS_FINISHED || st == RAY_TS_FAILED);

		if (expired[k])
			continue;			/* stored, and forgotten: a late event is not merged */
		if (terminal && row->info != NULL)
		{
			hist = lappend_int(hist, (int) k);
			if (was_in_history[k])
				replace = lappend_int(replace, (int) k);
			else
				moved_live = lappend_int(moved_live, (int) k);
		}
		else
			live = lappend_int(live, (int) k);
	}
	/* A polled cluster's task_live is the poller's. */
	if (!ci->polled)
	{
		history_store_delete(HISTORY_LIVE, cluster, inc, reply, list_concat_copy(live, moved_live));
		history_store_write(HISTORY_LIVE, cluster, inc, reply, live);
	}
	if (hist != NIL)
	{
		Datum	   *ht = palloc(sizeof(Datum) * list_length(hist));
		Datum	   *ha = palloc(sizeof(Datum) * list_length(hist));
		int			m = 0;
		ListCell   *lc;
		Oid			t2[4] = {TEXTOID, TEXTOID, BYTEAARRAYOID, INT4ARRAYOID};
		Datum		a2[4];

		/*
		 * Each attempt's row is replaced as a whole. Unless the poller also
		 * writes this cluster, event_attempts says exactly what history
		 * holds (in_history; expired attempts are skipped above), so the
		 * rest are new to it: the bulk path.
		 */
		history_store_delete(HISTORY_MERGE, cluster, inc, reply, replace);
		history_store_add_partitions(reply, hist);
		history_store_write(ci->polled ? HISTORY_MERGE : HISTORY_NEW, cluster, inc, reply,
							history_store_key_order(reply, hist));
		foreach(lc, hist)
		{
			const RayTaskRow *row = &reply->rows[lfirst_int(lc)];

			ht[m] = bytea_datum(row->task_id.data, row->task_id.len);
			ha[m++] = Int32GetDatum(row->attempt_number);
		}
		a2[0] = CStringGetTextDatum(cluster);
		a2[1] = CStringGetTextDatum(inc);
		a2[2] = array_of(ht, NULL, m, BYTEAOID);
		a2[3] = array_of(ha, NULL, m, INT4OID);
		if (SPI_execute_with_args("UPDATE raydar.event_attempts e SET in_history = true "
								  "FROM unnest($3::bytea[], $4::int[]) AS u(t, a) "
								  "WHERE e.cluster = $1 AND e.incarnation = $2 AND e.task_id = u.t "
								  "AND e.attempt_number = u.a AND NOT e.in_history",
								  4, t2, a2, NULL, false, 0) < 0)
			elog(ERROR, "could not update raydar.event_attempts");
	}
	ray_task_reply_free(reply);
}

/*
 * The attempts of several bodies merged together: one set of statements
 * per cluster for a whole group of bodies rather than per body.
 */
typedef struct GroupCluster
{
	char		cluster[64];
	ClusterInfo ci;
	AttemptKey *keys;
	int			n;
	int			cap;
} GroupCluster;

typedef struct PushGroup
{
	GroupCluster *c;
	int			n;
	int			cap;
	int			seq;			/* arrival order across the group's bodies */
} PushGroup;

static GroupCluster *
group_cluster(PushGroup *g, const char *cluster, const ClusterInfo *ci)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->c[i].cluster, cluster) == 0)
			return &g->c[i];
	if (g->n == g->cap)
	{
		g->cap = g->cap ? g->cap * 2 : 4;
		g->c = g->c ? repalloc(g->c, sizeof(GroupCluster) * g->cap) : palloc(sizeof(GroupCluster) * g->cap);
	}
	memset(&g->c[g->n], 0, sizeof(GroupCluster));
	strlcpy(g->c[g->n].cluster, cluster, sizeof(g->c[g->n].cluster));
	g->c[g->n].ci = *ci;
	return &g->c[g->n++];
}

/* Merge keys[0, n) of cluster: sorted, then per incarnation. */
static void
merge_keys(const char *cluster, const ClusterInfo *ci, AttemptKey *keys, int n)
{
	if (n > 1)
		qsort(keys, n, sizeof(AttemptKey), cmp_key);
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && strcmp(keys[j].inc, keys[i].inc) == 0)
			j++;
		merge_attempts(cluster, keys[i].inc, ci, keys, i, j);
		i = j;
	}
}

static void
flush_group(PushGroup *g)
{
	for (int i = 0; i < g->n; i++)
		merge_keys(g->c[i].cluster, &g->c[i].ci, g->c[i].keys, g->c[i].n);
}

/*
 * One body, inside a subtransaction: its HTTP status. With a group, its
 * attempts are added to the group (flush_group merges them); without, they
 * are merged here.
 */
static int
process_body(PushRequest *r, PushGroup *g)
{
	ClusterInfo ci;
	RayEventBatch *b = NULL;
	char		err[512];
	RayStatus	rs;
	ProtobufCAllocator alloc;
	int			ndup = 0;
	bool	   *fresh;
	AttemptKey *keys;
	int			nkeys = 0;
	int64		newest_ns = 0;
	bool		has_newest = false;
	const char *node = r->node;
	char		nodehex[2 * RAY_EVENT_MAX_ID + 1];
	const char *last_session = NULL;
	char	   *last_inc = NULL;
	RayEventItem **others;		/* fresh job, actor and node events */
	int			nothers = 0;

	cluster_info(r, &ci);
	if (!ci.found)
	{
		report_once(r->cluster, "unknown");
		return MHD_HTTP_NOT_FOUND;
	}
	if (!ci.token_ok)
	{
		report_once(r->cluster, "token");
		return MHD_HTTP_FORBIDDEN;
	}
	if (r->too_large)
	{
		add_reject(r->cluster, node, psprintf("body larger than %zu bytes", MAX_BODY), NULL, 0);
		return MHD_HTTP_OK;
	}
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	rs = ray_event_batch_parse(r->body, r->len, &ci.v, &alloc, &b, err, sizeof(err));
	if (rs != RAY_OK)
	{
		add_reject(r->cluster, node, err, r->body ? r->body : "", r->len);
		b = NULL;
	}
	if (b != NULL && b->n > 0 && b->items[0].node_id_len > 0)
	{
		/* The reporting node (2026): named by its id rather than the address. */
		for (size_t i = 0; i < b->items[0].node_id_len; i++)
			snprintf(nodehex + 2 * i, 3, "%02x", b->items[0].node_id[i]);
		node = nodehex;
	}
	if (b != NULL)
	{
		for (size_t i = 0; i < b->n; i++)
			if (b->items[i].kind == RAY_EVENT_REJECTED)
				add_reject(r->cluster, node, b->items[i].reason, b->items[i].text,
						   b->items[i].text ? strlen(b->items[i].text) : 0);
		fresh = new_events(r->cluster, b, &ndup);
		keys = palloc(sizeof(AttemptKey) * (b->n + 1));
		others = palloc(sizeof(RayEventItem *) * (b->n + 1));
		for (size_t i = 0; i < b->n; i++)
		{
			RayEventItem *it = &b->items[i];

			if (it->has_timestamp && (!has_newest || it->timestamp_ns > newest_ns))
			{
				newest_ns = it->timestamp_ns;
				has_newest = true;
			}
			if (it->kind == RAY_EVENT_REJECTED || !fresh[i])
				continue;
			/* A body is one node's: one session, looked up once. */
			if (last_session == NULL || strcmp(last_session, it->session_name) != 0)
			{
				if (nothers > 0)
					event_entities_merge(r->cluster, last_inc, &ci.v, others, nothers);
				nothers = 0;
				last_session = it->session_name;
				last_inc = session_incarnation(r->cluster, it->session_name);
			}
			if (it->kind != RAY_EVENT_TASK)
			{
				others[nothers++] = it;
				continue;
			}
			keys[nkeys].item = g ? g->seq++ : (int) i;
			keys[nkeys].inc = last_inc;
			keys[nkeys].te = it->task;
			nkeys++;
		}
		if (nothers > 0)
			event_entities_merge(r->cluster, last_inc, &ci.v, others, nothers);
		if (g != NULL)
		{
			GroupCluster *gc = group_cluster(g, r->cluster, &ci);

			if (gc->n + nkeys > gc->cap)
			{
				gc->cap = Max(gc->cap * 2, gc->n + nkeys);
				gc->keys = gc->keys ? repalloc(gc->keys, sizeof(AttemptKey) * gc->cap) :
					palloc(sizeof(AttemptKey) * gc->cap);
			}
			memcpy(gc->keys + gc->n, keys, sizeof(AttemptKey) * nkeys);
			gc->n += nkeys;
		}
		else
			merge_keys(r->cluster, &ci, keys, nkeys);
	}
	{
		Oid			t[8] = {TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID};
		Datum		a[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n'};
		TimestampTz newest = 0;

		a[0] = CStringGetTextDatum(r->cluster);
		a[1] = CStringGetTextDatum(node);
		a[2] = Int64GetDatum(b ? (int64) b->n : 0);
		a[3] = Int64GetDatum(b ? (int64) b->ntask : 0);
		a[4] = Int64GetDatum(b ? (int64) b->nother : 0);
		a[5] = Int64GetDatum(b ? (int64) b->nrejected : 1);
		a[6] = Int64GetDatum(ndup);
		if (has_newest && raydar_ms_to_timestamptz(newest_ns / 1000000, &newest))
		{
			a[7] = TimestampTzGetDatum(newest + (newest_ns % 1000000) / 1000);
			nulls[7] = ' ';
		}
		else
			a[7] = (Datum) 0;
		if (SPI_execute_with_args("INSERT INTO raydar.event_receiver_nodes AS s (cluster, node, batches, events, "
								  "task_events, other_events, rejected, duplicates, last_batch_at, newest_event_at, lag) "
								  "VALUES ($1, $2, 1, $3, $4, $5, $6, $7, now(), $8, now() - $8) "
								  "ON CONFLICT (cluster, node) DO UPDATE SET batches = s.batches + 1, "
								  "events = s.events + $3, task_events = s.task_events + $4, "
								  "other_events = s.other_events + $5, rejected = s.rejected + $6, "
								  "duplicates = s.duplicates + $7, last_batch_at = now(), "
								  "newest_event_at = greatest(s.newest_event_at, $8), "
								  "lag = coalesce(now() - $8, s.lag)",
								  8, t, a, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not update raydar.event_receiver_nodes");
	}
	/* With a group, its keys point into b until flush_group (work memory). */
	if (b != NULL && g == NULL)
		ray_event_batch_free(b);
	return MHD_HTTP_OK;
}

/* An error that means "PostgreSQL cannot take writes now": 503, Ray resends. */
static bool
transient(int sqlerrcode)
{
	int			cls = ERRCODE_TO_CATEGORY(sqlerrcode);

	return cls == ERRCODE_INSUFFICIENT_RESOURCES || cls == ERRCODE_OPERATOR_INTERVENTION ||
		cls == ERRCODE_TRANSACTION_ROLLBACK || cls == ERRCODE_CONNECTION_EXCEPTION ||
		cls == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ||
		sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION || sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_UNDEFINED_TABLE || sqlerrcode == ERRCODE_IO_ERROR ||
		sqlerrcode == ERRCODE_DISK_FULL;
}

static void
maintain(void)
{
	Oid			t[2] = {INT4OID, INT4OID};
	Datum		a[2];

	a[0] = Int32GetDatum(receiver_retention_s);
	a[1] = Int32GetDatum(receiver_rejects_max);
	SPI_execute_with_args("DELETE FROM raydar.event_ids WHERE received_at < now() - make_interval(secs => $1)",
						  1, t, a, NULL, false, 0);
	/*
	 * An attempt stored in history and quiet for the retention keeps only
	 * its key (a tombstone): a very late event for it is then skipped
	 * rather than merged into nothing. Tombstones go after 30 days.
	 */
	SPI_execute_with_args("UPDATE raydar.event_attempts SET events = '\\x', expired = true "
						  "WHERE in_history AND NOT expired AND updated_at < now() - make_interval(secs => $1)",
						  1, t, a, NULL, false, 0);
	SPI_execute("DELETE FROM raydar.event_attempts WHERE expired AND updated_at < now() - interval '30 days'",
				false, 0);
	SPI_execute_with_args("DELETE FROM raydar.event_rejects WHERE id <= "
						  "(SELECT max(id) FROM raydar.event_rejects) - $2", 2, t, a, NULL, false, 0);
}

/* Take every queued body, store them in one transaction, answer them. */
static void
process_queue(void)
{
	PushRequest *batch;
	MemoryContext work = CurrentMemoryContext;
	bool		committed = true;
	bool		grouped = false;
	static TimestampTz last_maint = 0;

	pthread_mutex_lock(&queue_mu);
	batch = queue_head;
	queue_head = queue_tail = NULL;
	pthread_mutex_unlock(&queue_mu);
	if (batch == NULL)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event receiver: storing events");
	raydar_check_sql_version();

	/*
	 * Fast path: every body of the group in one subtransaction, their
	 * attempts merged together. If anything fails, it is rolled back and
	 * each body is stored alone below, so one body's failure is its own.
	 */
	if (batch->next != NULL)
	{
		MemoryContext old = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		PushGroup		g = {0};

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(old);
		PG_TRY();
		{
			for (PushRequest *r = batch; r; r = r->next)
				r->status = process_body(r, &g);
			flush_group(&g);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
			grouped = true;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
			SPI_restore_connection();
		}
		PG_END_TRY();
	}
	for (PushRequest *r = grouped ? NULL : batch; r; r = r->next)
	{
		MemoryContext old = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(old);
		PG_TRY();
		{
			r->status = process_body(r, NULL);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(old);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
			SPI_restore_connection();
			if (transient(edata->sqlerrcode))
			{
				ereport(LOG, (errmsg("raydar event receiver: a batch of cluster \"%s\" answered 503: %s",
									 r->cluster, edata->message)));
				r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
			}
			else
			{
				/* Not a passing condition: kept as a rejected batch, not resent forever. */
				ereport(LOG, (errmsg("raydar event receiver: a batch of cluster \"%s\" could not be stored: %s",
									 r->cluster, edata->message)));
				add_reject(r->cluster, r->node, psprintf("could not store the batch: %s", edata->message),
						   r->body ? r->body : "", r->len);
				r->status = MHD_HTTP_OK;
			}
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	if (GetCurrentTimestamp() - last_maint > 60 * USECS_PER_SEC)
	{
		maintain();
		last_maint = GetCurrentTimestamp();
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(work);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* Committed: the threads may answer. */
	pthread_mutex_lock(&queue_mu);
	for (PushRequest *r = batch, *next; r; r = next)
	{
		next = r->next;
		if (!committed)
			r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		r->done = true;
		if (r->abandoned)
			req_free(r);
	}
	pthread_cond_broadcast(&queue_cv);
	pthread_mutex_unlock(&queue_mu);
	analyze_if_grown();
}

/* Answer everything queued with status (shutdown, or the database not ready). */
static void
answer_all(int status)
{
	pthread_mutex_lock(&queue_mu);
	for (PushRequest *r = queue_head, *next; r; r = next)
	{
		next = r->next;
		r->status = status;
		r->done = true;
		if (r->abandoned)
			req_free(r);
	}
	queue_head = queue_tail = NULL;
	pthread_cond_broadcast(&queue_cv);
	pthread_mutex_unlock(&queue_mu);
}

/* Is raydar (with the receiver's tables) installed in the database? */
static bool
extension_ready(void)
{
	bool		ready;
	Oid			nsp;

	StartTransactionCommand();
	nsp = get_namespace_oid("raydar", true);
	ready = OidIsValid(nsp) && OidIsValid(get_relname_relid("event_clusters", nsp));
	CommitTransactionCommand();
	return ready;
}

void
raydar_event_receiver_main(Datum arg)
{
	struct MHD_Daemon *d;
	MemoryContext work;
	char		drain[256];

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	receiver_database = GetConfigOptionByName("raydar.database", NULL, false);
	BackgroundWorkerInitializeConnection(receiver_database, NULL, 0);
	/* Durable before the 200, whatever the server's default. */
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "raydar event receiver", PGC_USERSET, PGC_S_SESSION);

	if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		ereport(FATAL, (errmsg("could not create a pipe: %m")));
	d = start_http();
	work = AllocSetContextCreate(TopMemoryContext, "raydar event receiver", ALLOCSET_DEFAULT_SIZES);

	while (!ShutdownRequestPending)
	{
		int			rc;

		MemoryContextSwitchTo(work);
		rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   wake_pipe[0], 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (rc & WL_SOCKET_READABLE)
			while (read(wake_pipe[0], drain, sizeof(drain)) > 0)
				;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!extension_ready())
		{
			answer_all(MHD_HTTP_SERVICE_UNAVAILABLE);
			continue;
		}
		process_queue();
		MemoryContextReset(work);
	}
	pthread_mutex_lock(&queue_mu);
	receiver_stopping = true;
	pthread_mutex_unlock(&queue_mu);
	answer_all(MHD_HTTP_SERVICE_UNAVAILABLE);
	MHD_stop_daemon(d);
	proc_exit(0);
}
