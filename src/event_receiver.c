/*
 * event_receiver.c
 *		The push receiver: a background worker that serves Ray's Event Export
 *		(HTTP POST of RayEvent JSON arrays) with libmicrohttpd and makes each
 *		body durable in raydar.event_spool before answering 200. The merger
 *		(event_merge.c, a second worker started with this one) drains the
 *		spool into the history tables.
 *
 * Threads: libmicrohttpd's threads (one per connection) never call
 * PostgreSQL. Each reads a body, compresses it (pack_body), queues it,
 * wakes the worker through a pipe and waits. The worker's loop takes every queued body, checks its cluster
 * and token (from a cache), and appends the bodies to the spool in one
 * short transaction (group commit: one fsync serves every POST that arrived
 * together); after the commit it sets each body's HTTP status and wakes the
 * threads, which answer, and sets the merger's latch. So a 200 means
 * durable, and acknowledging never waits behind merging. A body not
 * committed within raydar.event_receiver_reply_timeout is answered 503 with
 * Retry-After (Ray resends it; the eventIds make the resend a no-op if it
 * did commit).
 *
 * Status codes: 200 for every body spooled, whatever it holds (bad events
 * are kept in raydar.event_rejects by the merger; Ray would resend a 4xx
 * forever and stall the node); 404 for an unregistered cluster, 403 for a
 * wrong token (a misconfiguration, logged once per cluster); 503 with
 * Retry-After when PostgreSQL cannot take the write or the spool holds more
 * than raydar.event_spool_max (the merger is behind: Ray keeps the batch,
 * so memory and disk stay bounded).
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
#ifdef USE_LZ4
#include <lz4.h>
#endif

#include "access/toast_internals.h"

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
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "event_push.h"
#include "ray_event_json.h"

PGDLLEXPORT void raydar_event_receiver_main(Datum arg);

/* Settings */
static char *receiver_listen = NULL;
static char *receiver_tls_cert = NULL;
static char *receiver_tls_key = NULL;
static int	receiver_reply_timeout_ms = 2500;
int			event_receiver_retention_s = 3600;
int			event_rejects_max = 10000;
int			event_spool_max_mb = 1024;
int			event_merge_chunk_kb = 16384;
int			event_merge_delay_ms = 100;
int			event_definition_wait_s = 300;
int			event_job_end_wait_s = 15;
int			event_worker_death_wait_s = 1;
int			event_session_wait_s = 30;

EventPushShared *event_push_shared = NULL;

/* One POST body, from its thread to the worker and back. */
typedef struct PushRequest
{
	struct PushRequest *next;
	char		cluster[64];
	char		token[256];
	char		node[64];		/* the sender's address */
	char	   *body;			/* malloc; NULL once packed */
	size_t		len;			/* the body's length as received */
	size_t		cap;
	struct varlena *packed;		/* malloc: the body as an lz4 varlena */
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
	free(r->packed);
	free(r);
}

/*
 * Compress r's body, here in its connection's thread, into the varlena
 * PostgreSQL's own lz4 column compression makes (toast_compress_datum),
 * which the spool's INSERT stores as it is and every reader decompresses.
 * JSON shrinks severalfold (the simulator's 16-fold): the spool's TOAST
 * chunks, its WAL and the merger's reads shrink with it, and the worker's
 * loop, which spools every connection's bodies, neither compresses nor
 * copies them. bench/push/run.sh, same hour: 43,000 attempts/s
 * acknowledged and p99 40-75 ms at 10,000/s, against 17,000-19,000 and
 * 280-350 ms raw (docs/performance.md). A body that does not shrink, or
 * a server built without lz4, is stored raw.
 */
static void
pack_body(PushRequest *r)
{
#ifdef USE_LZ4
	int			bound;
	int			n;
	struct varlena *v;

	if (r->too_large || r->len < 4096 || r->len > VARLENA_EXTSIZE_MASK)
		return;
	bound = LZ4_compressBound((int) r->len);
	v = malloc(VARHDRSZ_COMPRESSED + (size_t) bound);
	if (v == NULL)
		return;
	n = LZ4_compress_default(r->body, (char *) v + VARHDRSZ_COMPRESSED, (int) r->len, bound);
	/* toast_compress_datum's rule: keep it only if it saves something. */
	if (n <= 0 || (size_t) n + VARHDRSZ_COMPRESSED >= r->len - 2)
	{
		free(v);
		return;
	}
	SET_VARSIZE_COMPRESSED(v, VARHDRSZ_COMPRESSED + n);
	TOAST_COMPRESS_SET_SIZE_AND_COMPRESS_METHOD(v, r->len, TOAST_LZ4_COMPRESSION_ID);
	r->packed = v;
	free(r->body);
	r->body = NULL;
	r->cap = 0;
#endif
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
	pack_body(r);
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

/* ---- shared memory, settings, the two workers ---- */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
push_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(EventPushShared)));
}

static void
push_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	event_push_shared = ShmemInitStruct("raydar event push", sizeof(EventPushShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&event_push_shared->spool_bytes, 0);
		pg_atomic_init_u64(&event_push_shared->spool_bodies, 0);
		pg_atomic_init_u32(&event_push_shared->counted, 0);
		pg_atomic_init_u32(&event_push_shared->merger_procno, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
define_merge_settings(void)
{
	DefineCustomIntVariable("raydar.event_receiver_retention",
							"How long the push receiver remembers event ids and merged attempts after their last event.",
							NULL, &event_receiver_retention_s, 3600, 60, 30 * 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_rejects_max",
							"Rejected events kept in raydar.event_rejects (the newest).",
							NULL, &event_rejects_max, 10000, 0, 10000000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_spool_max",
							"Largest backlog of pushed bodies not yet merged; beyond it POSTs are answered 503.",
							"Ray keeps a batch answered 503 and sends it again.",
							&event_spool_max_mb, 1024, 1, 1024 * 1024, PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_merge_chunk",
							"Spooled body bytes the merger stores in one transaction.",
							NULL, &event_merge_chunk_kb, 16384, 64, 1024 * 1024, PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_merge_delay",
							"Shortest time between the starts of two drains of the spool while it holds less than raydar.event_merge_chunk.",
							"Under a steady load, bodies wait up to this long to be merged together: fewer, larger transactions.",
							&event_merge_delay_ms, 100, 0, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_definition_wait",
							"How long a finished pushed attempt waits for its definition event before it is stored without it.",
							NULL, &event_definition_wait_s, 300, 1, 7 * 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	/* Ray's gcs_mark_task_failed_on_job_done_delay_ms, 15000 (ray_config_def.h). */
	DefineCustomIntVariable("raydar.event_job_end_wait",
							"How long after a pushed job's end its unfinished attempts are marked FAILED, as Ray's GCS does.",
							"-1: never.", &event_job_end_wait_s, 15, -1, 7 * 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	/* Ray's gcs_mark_task_failed_on_worker_dead_delay_ms, 1000 (ray_config_def.h). */
	DefineCustomIntVariable("raydar.event_worker_death_wait",
							"How long after a pushed worker's death the attempts it left unfinished are marked FAILED, as Ray's GCS does.",
							"-1: never.", &event_worker_death_wait_s, 1, -1, 7 * 86400, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raydar.event_session_wait",
							"How long a new session of a polled cluster waits for the collector to see its run.",
							NULL, &event_session_wait_s, 30, 0, 3600, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

void
raydar_event_receiver_init(void)
{
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
	DefineCustomIntVariable("raydar.event_receiver_reply_timeout",
							"Longest a POST waits for its batch to commit before it is answered 503.",
							NULL, &receiver_reply_timeout_ms, 2500, 100, 60000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	define_merge_settings();
	if (receiver_listen == NULL || receiver_listen[0] == '\0')
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = push_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = push_shmem_startup;
	raydar_register_worker("raydar_event_receiver_main", "raydar event receiver", 1);
	raydar_register_worker("raydar_event_merger_main", "raydar event merger", 1);
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

/* ---- what both workers use ---- */

void
event_push_reject(const char *cluster, const char *node, const char *reason, const char *event, size_t len)
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

bool
event_push_transient(int sqlerrcode)
{
	int			cls = ERRCODE_TO_CATEGORY(sqlerrcode);

	return cls == ERRCODE_INSUFFICIENT_RESOURCES || cls == ERRCODE_OPERATOR_INTERVENTION ||
		cls == ERRCODE_TRANSACTION_ROLLBACK || cls == ERRCODE_CONNECTION_EXCEPTION ||
		cls == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ||
		sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION || sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		sqlerrcode == ERRCODE_UNDEFINED_TABLE || sqlerrcode == ERRCODE_IO_ERROR ||
		sqlerrcode == ERRCODE_DISK_FULL;
}

bool
event_push_extension_ready(void)
{
	bool		ready;
	Oid			nsp;

	StartTransactionCommand();
	nsp = get_namespace_oid("raydar", true);
	ready = OidIsValid(nsp) && OidIsValid(get_relname_relid("event_spool", nsp));
	CommitTransactionCommand();
	return ready;
}

void
event_push_worker_begin(const char *name, const char *synchronous_commit)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(GetConfigOptionByName("raydar.database", NULL, false), NULL, 0);
	SetConfigOption("synchronous_commit", synchronous_commit, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", name, PGC_USERSET, PGC_S_SESSION);
}

/* ---- the receiver's worker: the ack path ---- */

/*
 * Registered clusters, cached: the ack path is then one INSERT. An entry is
 * trusted for CLUSTER_TTL; a miss or a refusal is always read again, so a
 * cluster registered a moment ago is accepted at once, and a token changed
 * or a cluster unregistered takes effect within CLUSTER_TTL.
 */
#define CLUSTER_TTL (2 * USECS_PER_SEC)

typedef struct ClusterEntry
{
	char		cluster[64];	/* key */
	bool		has_token;
	uint8		token_sha256[PG_SHA256_DIGEST_LENGTH];
	TimestampTz read_at;
} ClusterEntry;

static HTAB *clusters = NULL;

/* Read cluster's registration into the cache; NULL if it is not registered. */
static ClusterEntry *
read_cluster(const char *cluster)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1];
	bool		isnull;
	Datum		h;
	ClusterEntry *e;

	a[0] = CStringGetTextDatum(cluster);
	if (SPI_execute_with_args("SELECT token_sha256 FROM raydar.event_clusters WHERE cluster = $1",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_clusters");
	if (SPI_processed == 0)
	{
		hash_search(clusters, cluster, HASH_REMOVE, NULL);
		return NULL;
	}
	e = hash_search(clusters, cluster, HASH_ENTER, NULL);
	h = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	e->has_token = !isnull;
	memset(e->token_sha256, 0, sizeof(e->token_sha256));
	if (!isnull)
	{
		bytea	   *want = DatumGetByteaPP(h);

		if (VARSIZE_ANY_EXHDR(want) == PG_SHA256_DIGEST_LENGTH)
			memcpy(e->token_sha256, VARDATA_ANY(want), PG_SHA256_DIGEST_LENGTH);
	}
	e->read_at = GetCurrentTimestamp();
	return e;
}

static bool
token_matches(const ClusterEntry *e, const char *token)
{
	uint8		got[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;

	if (!e->has_token)
		return token[0] == '\0';
	if (token[0] == '\0')
		return false;
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) token, strlen(token)) < 0 ||
		pg_cryptohash_final(ctx, got, sizeof(got)) < 0)
		elog(ERROR, "could not compute a SHA-256");
	pg_cryptohash_free(ctx);
	return memcmp(e->token_sha256, got, sizeof(got)) == 0;
}

/* 0 if r's cluster and token are accepted, else the HTTP status to answer. */
static int
admit(PushRequest *r)
{
	ClusterEntry *e;
	bool		found;

	if (clusters == NULL)
	{
		HASHCTL		hc;

		memset(&hc, 0, sizeof(hc));
		hc.keysize = sizeof(((ClusterEntry *) 0)->cluster);
		hc.entrysize = sizeof(ClusterEntry);
		clusters = hash_create("raydar pushed clusters", 16, &hc, HASH_ELEM | HASH_STRINGS);
	}
	e = hash_search(clusters, r->cluster, HASH_FIND, &found);
	if (e == NULL || GetCurrentTimestamp() - e->read_at > CLUSTER_TTL || !token_matches(e, r->token))
		e = read_cluster(r->cluster);
	if (e == NULL)
	{
		report_once(r->cluster, "unknown");
		return MHD_HTTP_NOT_FOUND;
	}
	if (!token_matches(e, r->token))
	{
		report_once(r->cluster, "token");
		return MHD_HTTP_FORBIDDEN;
	}
	return 0;
}

/*
 * The spool's INSERT, planned once and kept. Generic, so that its $3 stays
 * a parameter: a custom plan folds parameters into constants, and
 * makeConst decompresses a varlena, which would undo pack_body.
 */
static SPIPlanPtr spool_plan = NULL;

/* Append r's body to the spool (NULL body: larger than read; the merger rejects it). */
static void
spool_body(PushRequest *r)
{
	Datum		a[3];
	char		nulls[3] = {' ', ' ', ' '};

	if (spool_plan == NULL)
	{
		Oid			t[3] = {TEXTOID, TEXTOID, BYTEAOID};
		SPIPlanPtr	p = SPI_prepare_cursor("INSERT INTO raydar.event_spool (cluster, node, body) VALUES ($1, $2, $3)",
										   3, t, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not plan the insert into raydar.event_spool: %s",
				 SPI_result_code_string(SPI_result));
		spool_plan = p;
	}

	a[0] = CStringGetTextDatum(r->cluster);
	a[1] = CStringGetTextDatum(r->node);
	if (r->too_large)
	{
		nulls[2] = 'n';
		a[2] = (Datum) 0;
	}
	else if (r->packed)
		a[2] = PointerGetDatum(r->packed);
	else
	{
		bytea	   *b = palloc(VARHDRSZ + r->len);

		SET_VARSIZE(b, VARHDRSZ + r->len);
		if (r->len > 0)
			memcpy(VARDATA(b), r->body, r->len);
		a[2] = PointerGetDatum(b);
	}
	if (SPI_execute_plan(spool_plan, a, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into raydar.event_spool");
	if (!r->too_large && !r->packed)
		pfree(DatumGetPointer(a[2]));
}

/*
 * Check and spool the bodies of batch in one transaction: each body's
 * status, and the bytes and bodies spooled. An error spools nothing.
 */
static void
spool_batch(PushRequest *batch, uint64 *bytes, uint64 *bodies)
{
	uint64		backlog = pg_atomic_read_u64(&event_push_shared->spool_bytes);
	uint64		limit = (uint64) event_spool_max_mb * 1024 * 1024;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar event receiver: spooling events");
	for (PushRequest *r = batch; r; r = r->next)
	{
		r->status = admit(r);
		if (r->status != 0)
			continue;
		if (backlog + *bytes + r->len > limit && backlog + *bytes > 0)
		{
			/* The merger is behind: Ray keeps the batch and resends it. */
			r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
			continue;
		}
		spool_body(r);
		r->status = MHD_HTTP_OK;
		*bytes += r->too_large ? 0 : r->len;
		(*bodies)++;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

static void
wake_merger(void)
{
	uint32		procno = pg_atomic_read_u32(&event_push_shared->merger_procno);

	if (procno > 0)
		SetLatch(&ProcGlobal->allProcs[procno - 1].procLatch);
}

/* Set each body's status done and wake the threads. */
static void
answer_batch(PushRequest *batch)
{
	pthread_mutex_lock(&queue_mu);
	for (PushRequest *r = batch, *next; r; r = next)
	{
		next = r->next;
		r->done = true;
		if (r->abandoned)
			req_free(r);
	}
	pthread_cond_broadcast(&queue_cv);
	pthread_mutex_unlock(&queue_mu);
}

/* Take every queued body, spool them in one transaction, answer them. */
static void
process_queue(void)
{
	PushRequest *batch;
	MemoryContext work = CurrentMemoryContext;
	uint64		bytes = 0;
	uint64		bodies = 0;

	pthread_mutex_lock(&queue_mu);
	batch = queue_head;
	queue_head = queue_tail = NULL;
	pthread_mutex_unlock(&queue_mu);
	if (batch == NULL)
		return;
	PG_TRY();
	{
		spool_batch(batch, &bytes, &bodies);
	}
	PG_CATCH();
	{
		ErrorData  *edata = raydar_worker_recover(work, false);

		pgstat_report_activity(STATE_IDLE, NULL);
		/* Nothing was spooled: every body of the batch is resent by Ray. */
		ereport(LOG, (errmsg("raydar event receiver: events answered 503: %s", edata->message)));
		FreeErrorData(edata);
		bytes = bodies = 0;
		for (PushRequest *r = batch; r; r = r->next)
			r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(work);
	if (bodies > 0)
	{
		pg_atomic_add_fetch_u64(&event_push_shared->spool_bytes, bytes);
		pg_atomic_add_fetch_u64(&event_push_shared->spool_bodies, bodies);
		wake_merger();
	}
	answer_batch(batch);
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

/*
 * What the spool holds: when the receiver starts (after a restart, bodies
 * acknowledged before it; the merger drains nothing before this is set),
 * and again every SPOOL_RECOUNT, so that the counters cannot drift (a
 * spool emptied by DROP EXTENSION, a recount racing a drain).
 */
static void
count_spool(void)
{
	bool		isnull;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("SELECT count(*), coalesce(sum(octet_length(body)), 0)::bigint FROM raydar.event_spool",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_spool");
	pg_atomic_write_u64(&event_push_shared->spool_bodies,
						(uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	pg_atomic_write_u64(&event_push_shared->spool_bytes,
						(uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pg_atomic_write_u32(&event_push_shared->counted, 1);
	wake_merger();
}

#define SPOOL_RECOUNT (10 * USECS_PER_SEC)

void
raydar_event_receiver_main(Datum arg)
{
	struct MHD_Daemon *d;
	MemoryContext work;
	char		drain[256];
	TimestampTz counted_at = 0;

	/* Durable before the 200, whatever the server's default. */
	event_push_worker_begin("raydar event receiver", "on");

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
		if (!event_push_extension_ready())
		{
			answer_all(MHD_HTTP_SERVICE_UNAVAILABLE);
			continue;
		}
		if (pg_atomic_read_u32(&event_push_shared->counted) == 0 ||
			GetCurrentTimestamp() - counted_at > SPOOL_RECOUNT)
		{
			count_spool();
			counted_at = GetCurrentTimestamp();
		}
		process_queue();
		MemoryContextReset(work);
		/* its spool inserts, for autovacuum (a worker reports only when asked) */
		pgstat_report_stat(false);
	}
	pthread_mutex_lock(&queue_mu);
	receiver_stopping = true;
	pthread_mutex_unlock(&queue_mu);
	answer_all(MHD_HTTP_SERVICE_UNAVAILABLE);
	MHD_stop_daemon(d);
	proc_exit(0);
}
