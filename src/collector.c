/*
 * collector.c
 *		The background workers that keep every finished task attempt.
 *
 * Ray keeps at most 100,000 task attempts and forgets them with the
 * cluster; the collector polls each tracked server and writes every attempt
 * that reached FINISHED or FAILED into raydar.task_history, once.
 *
 * A launcher (raydar_collector_main, registered at preload) keeps one
 * worker per tracked server (raydar_collector_server_main), so a slow,
 * failing or unreachable cluster delays only itself; a failing server is
 * retried with exponential backoff, capped at a minute.
 *
 * Each poll of a server:
 *   1. a short transaction resolves the server, the role that tracked it
 *      (whose user mapping is used) and its channel (catalog);
 *   2. outside any transaction: which incarnation of the cluster answers
 *      (GetClusterId) and which Ray version it runs (CheckAlive), then
 *      GetTaskEvents, so no snapshot or lock is held during network I/O;
 *   3. a keys pass (ray_task_reply_decode_new_keys) finds terminal
 *      attempts this worker has not written yet, or that changed since,
 *      without unpacking: of an attempt already written only its id,
 *      attempt number and size are read;
 *   4. only those are decoded in full (streaming) and written in one
 *      transaction with the status row: straight into the partitions
 *      (bulk_insert.c) when they are known to be new, else with INSERT ...
 *      ON CONFLICT DO NOTHING, deleting other rows of an attempt whose end
 *      moved (a worker's first poll of a cluster history already holds,
 *      after a crash or restart, and changed attempts), so every attempt
 *      lands once. Listeners hear NOTIFY raydar_progress when it commits.
 *
 * One bad poll does not stop a worker: the error is caught, the
 * transaction aborted, and it is counted in raydar.collector_status (and
 * written to raydar.collector_errors and the log when its message is new).
 * SIGTERM stops a worker (die), SIGHUP reloads the GUCs; the launcher
 * restarts a worker that died, and the postmaster the launcher after 5 s.
 * The model is worker_spi and pg_cron's launcher.
 */
#include "raydar.h"

#include <malloc.h>

#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bswap.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/latch.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "history_store.h"
#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_requests.h"
#include "ray_version.h"
#include "ray_wire.h"

/* GUCs */
static char *collector_database = NULL;
static int	collector_poll_ms = 1000;
static bool collector_enabled = true;

/*
 * After failures in a row, the wait before the next poll: the interval,
 * doubled per failure, at most a minute (or the interval, if longer).
 */
#define BACKOFF_CAP_MS 60000

static int
backoff_ms(int failures)
{
	int64		d = collector_poll_ms;

	for (int i = 0; i < failures && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	return (int) Max(Min(d, BACKOFF_CAP_MS), collector_poll_ms);
}

/* Bound on raydar.collector_errors. */
#define ERRORS_KEPT 1000

/*
 * An attempt already written: the server's number (server_no), the attempt
 * and the whole task id, in 32 bytes. The idle poll looks up every attempt
 * the GCS holds, so the key is small and hashed by seen_hash. Ray's ids are
 * 24 bytes and are kept inline, zero-padded; the length is part of the key,
 * so an id is never truncated or padded into another. A longer id (no Ray
 * version sends one, but the wire allows it) is kept whole elsewhere: the
 * key then points to it (a copy owned by seen_ids_cxt once inserted; a
 * lookup key points into the reply for the lookup only) with its hash.
 */
#define SEEN_INLINE_ID 24

typedef struct SeenKey
{
	uint16		server_no;
	uint16		id_len;
	int32		attempt;
	union
	{
		uint8		bytes[SEEN_INLINE_ID];	/* id_len <= SEEN_INLINE_ID */
		struct
		{
			const uint8 *data;
			uint64		hash;
		}			ext;		/* id_len > SEEN_INLINE_ID */
	}			id;
} SeenKey;

StaticAssertDecl(sizeof(SeenKey) == 32, "SeenKey is four 64-bit words");

static bool seen_equal(const SeenKey *a, const SeenKey *b);
static MemoryContext seen_ids_cxt = NULL;	/* long ids of the set's keys */

/* An entry of the set of written attempts (open addressing, simplehash). */
typedef struct SeenEntry
{
	SeenKey		key;
	uint32		entry_len;		/* size of its TaskEvents when written */
	char		status;			/* simplehash's */
} SeenEntry;

static uint32 seen_hash(const SeenKey *key);

#define SH_PREFIX		seenset
#define SH_ELEMENT_TYPE SeenEntry
#define SH_KEY_TYPE		SeenKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	seen_hash(&(k))
#define SH_EQUAL(tb, a, b)	seen_equal(&(a), &(b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Every attempt this worker wrote, for all servers. simplehash rather than
 * dynahash: an idle poll looks up every attempt the GCS holds (100,000 by
 * default), and open addressing costs about one cache miss per lookup.
 */
static seenset_hash *seen = NULL;

/*
 * Servers whose attempts in history this worker knows: after its first
 * successful poll of a server the in-memory set is exact, and a plain
 * INSERT (about a third cheaper than ON CONFLICT on this table) is safe.
 * A worker that starts, or a poll that fails, falls back to ON CONFLICT.
 */
static List *verified = NIL;

/*
 * A cluster's incarnation: each start of a Ray cluster, known by what Ray
 * reports (cluster_incarnation). Ray's are 56 characters (hex of a 28-byte
 * ClusterID); a longer one is refused, never cut short (two incarnations
 * must not become one).
 */
#define INCARNATION_MAX 200

/*
 * tracked_at of each server as last seen: a server untracked and tracked
 * again (even between two polls) starts with nothing remembered.
 */
typedef struct TrackedServer
{
	char		name[NAMEDATALEN];
	TimestampTz tracked_at;
	bool		has_live_fp;	/* live rows written with this fingerprint */
	uint64		live_fp;
	RayVersion	version;		/* as of the last poll; major 0: unknown */
	bool		warned_version; /* "the option wins" said once */
	char		incarnation[INCARNATION_MAX + 1];	/* as of the last poll; "" unknown */
} TrackedServer;

static List *known_servers = NIL;	/* of TrackedServer, in TopMemoryContext */

/* Forget what this worker remembers of a server. */
/* Server names as small numbers for SeenKey; never shrinks (few servers). */
static List *server_names = NIL;

static uint32
server_no(const char *name)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, server_names)
		if (strcmp(strVal(lfirst(lc)), name) == 0)
			return (uint32) foreach_current_index(lc);
	if (list_length(server_names) > PG_UINT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the raydar collector has seen more than %d server names since it started",
						PG_UINT16_MAX),
				 errhint("Restart the collector: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'raydar collector';")));
	old = MemoryContextSwitchTo(TopMemoryContext);
	server_names = lappend(server_names, makeString(pstrdup(name)));
	MemoryContextSwitchTo(old);
	return (uint32) (list_length(server_names) - 1);
}

/* The four words of the key, mixed: task ids are random bytes already. */
static uint32
seen_hash(const SeenKey *key)
{
	uint64		w[4];
	uint64		h;

	memcpy(w, key, sizeof(w));
	if (key->id_len > SEEN_INLINE_ID)
		w[1] = 0;				/* a pointer, not the id: w[2] is the id's hash */
	h = hash_combine64(hash_combine64(w[0], w[1]), hash_combine64(w[2], w[3]));
	return (uint32) (h ^ (h >> 32));
}

static bool
seen_equal(const SeenKey *a, const SeenKey *b)
{
	if (a->server_no != b->server_no || a->id_len != b->id_len || a->attempt != b->attempt)
		return false;
	if (a->id_len <= SEEN_INLINE_ID)
		return memcmp(a->id.bytes, b->id.bytes, SEEN_INLINE_ID) == 0;
	return a->id.ext.hash == b->id.ext.hash &&
		memcmp(a->id.ext.data, b->id.ext.data, a->id_len) == 0;
}

static void
forget_server(const char *name)
{
	seenset_iterator it;
	SeenEntry  *e;
	uint32		sno = server_no(name);

	/* simplehash allows deleting the current element while iterating. */
	seenset_start_iterate(seen, &it);
	while ((e = seenset_iterate(seen, &it)) != NULL)
		if (e->key.server_no == sno)
		{
			if (e->key.id_len > SEEN_INLINE_ID)
				pfree((void *) e->key.id.ext.data);
			seenset_delete_item(seen, e);
		}
	verified = list_delete(verified, makeString((char *) name));
}

/* Compare the tracked servers with those of the last poll. */
static void
sync_tracked(List *names, List *tracked_ats)
{
	List	   *now_known = NIL;
	ListCell   *a,
			   *b,
			   *lc2;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(a, known_servers)
	{
		TrackedServer *ts = lfirst(a);
		bool		still = false;

		forboth(b, names, lc2, tracked_ats)
			if (strcmp(ts->name, (char *) lfirst(b)) == 0 &&
				ts->tracked_at == *(TimestampTz *) lfirst(lc2))
				still = true;
		if (!still)
			forget_server(ts->name);
	}
	forboth(a, names, b, tracked_ats)
	{
		TrackedServer *ts = palloc0(sizeof(TrackedServer));
		ListCell   *c;

		strlcpy(ts->name, (char *) lfirst(a), NAMEDATALEN);
		ts->tracked_at = *(TimestampTz *) lfirst(b);
		/* Keep the live fingerprint of a server tracked all along. */
		foreach(c, known_servers)
		{
			TrackedServer *old_ts = lfirst(c);

			if (strcmp(old_ts->name, ts->name) == 0 && old_ts->tracked_at == ts->tracked_at)
			{
				ts->has_live_fp = old_ts->has_live_fp;
				ts->live_fp = old_ts->live_fp;
				memcpy(ts->incarnation, old_ts->incarnation, sizeof(ts->incarnation));
				ts->version = old_ts->version;
				ts->warned_version = old_ts->warned_version;
			}
		}
		now_known = lappend(now_known, ts);
	}
	list_free_deep(known_servers);
	known_servers = now_known;
	MemoryContextSwitchTo(old);
}
static MemoryContext cycle_cxt = NULL;

/* Shared memory: how track() finds the worker (see wake_collector_at_commit). */
typedef struct CollectorShared
{
	pg_atomic_uint32 procno;	/* the worker's pgprocno + 1; 0: none */
} CollectorShared;

static CollectorShared *collector_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_at_commit = false;

static void
collector_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CollectorShared)));
}

static void
collector_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	collector_shared = ShmemInitStruct("raydar collector", sizeof(CollectorShared), &found);
	if (!found)
		pg_atomic_init_u32(&collector_shared->procno, 0);
	LWLockRelease(AddinShmemInitLock);
}


PGDLLEXPORT void raydar_collector_main(Datum arg);
PGDLLEXPORT void raydar_collector_server_main(Datum arg);
static void poll_entities(const char *name, const char *inc, RaydarConn *conn,
						  const RayVersion *v);

void
raydar_collector_init(void)
{
	BackgroundWorker worker;

	/*
	 * Reloadable settings always; the postmaster-only one only while
	 * preloading: defining a PGC_POSTMASTER variable when the library is
	 * loaded later (a plain CREATE EXTENSION, no preload) is a FATAL error.
	 */
	DefineCustomIntVariable("raydar.poll_interval",
							"Time between two polls of each tracked Ray cluster.",
							NULL, &collector_poll_ms, 1000, 100, 3600 * 1000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("raydar.collector",
							 "Whether the raydar collector polls tracked clusters.",
							 NULL, &collector_enabled, true, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
	{
		MarkGUCPrefixReserved("raydar");
		return;
	}
	DefineCustomStringVariable("raydar.database",
							   "Database the raydar collector works in.",
							   "CREATE EXTENSION raydar there; the collector then polls the servers raydar.track() names.",
							   &collector_database, "postgres", PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("raydar");

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "raydar");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "raydar_collector_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "raydar collector launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "raydar collector launcher");
	RegisterBackgroundWorker(&worker);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = collector_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = collector_shmem_startup;
}

/*
 * The tracked servers, or NIL while raydar is not installed here. With
 * sync, what this worker remembers is brought in line (sync_tracked).
 */
static List *
tracked_servers(bool sync)
{
	List	   *names = NIL;
	List	   *tracked_ats = NIL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	raydar_check_sql_version();
	/* The table itself, not the extension: an older raydar has none. */
	if (SPI_execute("SELECT 1 WHERE to_regclass('raydar.tracked_servers') IS NOT NULL",
					true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1 &&
		SPI_execute("SELECT server_name, tracked_at FROM raydar.tracked_servers ORDER BY 1",
					true, 0) == SPI_OK_SELECT)
	{
		MemoryContext old = MemoryContextSwitchTo(cycle_cxt);

		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			TimestampTz *at = palloc(sizeof(TimestampTz));

			names = lappend(names, pstrdup(SPI_getvalue(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1)));
			*at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 2, &isnull));
			tracked_ats = lappend(tracked_ats, at);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (sync)
		sync_tracked(names, tracked_ats);
	return names;
}

/*
 * INSERT INTO raydar.task_history (<tasks columns>, cluster)
 *   SELECT $1, u.* FROM unnest($2::text[], $3::integer[], ...) u
 *   [ON CONFLICT DO NOTHING]
 * One execution writes a whole batch: the executor still routes each row
 * to its partition and checks the key.
 */
static TrackedServer *
find_tracked(const char *name)
{
	ListCell   *lc;

	foreach(lc, known_servers)
		if (strcmp(((TrackedServer *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

/*
 * The written-attempts set's key of one attempt. A long id is pointed to,
 * not copied: the key is good while task_id is (see mark_written).
 */
static SeenKey
seen_key(uint32 sno, const uint8_t *task_id, size_t len, int32_t attempt)
{
	SeenKey		key;

	memset(&key, 0, sizeof(key));
	key.server_no = (uint16) sno;
	key.id_len = (uint16) Min(len, PG_UINT16_MAX);
	key.attempt = attempt;
	if (len <= SEEN_INLINE_ID)
		memcpy(key.id.bytes, task_id, len);
	else
	{
		key.id.ext.data = task_id;
		key.id.ext.hash = hash_bytes_extended(task_id, (int) key.id_len, 0);
	}
	return key;
}

/* Remember that this worker wrote the attempt (written_before then skips it). */
static void
mark_written(uint32 sno, const RayTaskRow *row)
{
	bool		found;
	SeenKey		key;
	SeenEntry  *e;

	if (row->task_id.len > PG_UINT16_MAX)
		return;					/* not remembered: written again with ON CONFLICT */
	key = seen_key(sno, row->task_id.data, row->task_id.len, row->attempt_number);
	e = seenset_insert(seen, key, &found);
	e->entry_len = (uint32) Min(row->entry_len, PG_UINT32_MAX);
	if (!found && key.id_len > SEEN_INLINE_ID)
	{
		/* The row's id lives in the poll's memory: the set keeps its own copy. */
		uint8	   *copy = MemoryContextAlloc(seen_ids_cxt, key.id_len);

		memcpy(copy, row->task_id.data, key.id_len);
		e->key.id.ext.data = copy;
	}
}

/*
 * RayKnownAttemptFn for the keys pass: attempts this worker wrote (ctx:
 * server number), as they were then. Ray only adds events to an attempt,
 * so one whose bytes changed size since (it FAILED after it FINISHED, a
 * later end) is decoded again and rewritten (poll_server's "changed").
 */
static bool
written_before(void *ctx, const uint8_t *task_id, size_t len, int32_t attempt, size_t entry_len)
{
	SeenEntry  *e;

	if (len == 0 || len > PG_UINT16_MAX)
		return false;
	e = seenset_lookup(seen, seen_key(*(uint32 *) ctx, task_id, len, attempt));
	return e != NULL && e->entry_len == (uint32) Min(entry_len, PG_UINT32_MAX);
}

/* Did this worker write the attempt of row before, in whatever state? */
static bool
written_any(uint32 sno, const RayTaskRow *row)
{
	return row->task_id.len <= PG_UINT16_MAX &&
		seenset_lookup(seen, seen_key(sno, row->task_id.data, row->task_id.len,
									  row->attempt_number)) != NULL;
}

static bool
terminal(const RayTaskReply *r, const RayTaskRow *row)
{
	RayTaskState st = ray_task_status_meaning(&r->version, row->state);

	return (st == RAY_TS_FINISHED || st == RAY_TS_FAILED) && row->has_end_ms &&
		row->task_id.len > 0;
}

/* Add a row to collector_errors, keeping the newest; inside a transaction with SPI. */
static void
record_error(const char *server, const char *message)
{
	Datum		args[2];
	Oid			types[2] = {TEXTOID, TEXTOID};

	args[0] = CStringGetTextDatum(server);
	args[1] = CStringGetTextDatum(message);
	SPI_execute_with_args("INSERT INTO raydar.collector_errors (server, message) VALUES ($1, $2)",
						  2, types, args, NULL, false, 0);
	SPI_execute("DELETE FROM raydar.collector_errors WHERE id <= "
				"(SELECT max(id) FROM raydar.collector_errors) - " CppAsString2(ERRORS_KEPT),
				false, 0);
}

/*
 * A failed poll: counted in collector_status with the backoff before the
 * next one (delay_ms); written to collector_errors only when its message
 * is new (a server down for an hour is one row, not one per poll).
 */
static void
record_failure(const char *server, const char *message, bool is_new, int delay_ms)
{
	Datum		args[3];
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	args[0] = CStringGetTextDatum(server);
	args[1] = CStringGetTextDatum(message);
	args[2] = Int32GetDatum(delay_ms);
	SPI_execute_with_args("UPDATE raydar.collector_status SET last_poll_at = now(), "
						  "consecutive_failures = consecutive_failures + 1, last_error = $2, "
						  "backoff = make_interval(secs => $3 / 1000.0), "
						  "next_poll_at = now() + make_interval(secs => $3 / 1000.0) "
						  "WHERE server = $1", 3, types, args, NULL, false, 0);
	if (is_new)
		record_error(server, message);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Is (id, len, attempt) among rows, a list in in_key_order's order? */
static bool
in_key_list(const RayTaskReply *keys, List *rows, const uint8 *id, size_t len, int32 attempt)
{
	int			lo = 0,
				hi = list_length(rows) - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const RayTaskRow *r = &keys->rows[list_nth_int(rows, mid)];
		int			c = memcmp(r->task_id.data, id, Min(r->task_id.len, len));

		if (c == 0 && r->task_id.len != len)
			c = r->task_id.len < len ? -1 : 1;
		if (c == 0)
			c = (r->attempt_number > attempt) - (r->attempt_number < attempt);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Empty a server's task_live and return how many of its rows vanished:
 * attempts the last poll saw pending or running that this reply holds
 * neither live nor as a newly terminal attempt. task_live always holds the
 * live set of the last successful poll (both are written in one
 * transaction), so this counts attempts Ray evicted or forgot before they
 * finished, across worker restarts too. live and fresh are keys' rows in
 * in_key_order's order; the rows deleted (few: what was in flight) are
 * looked up in them, rather than sending every fresh attempt to SQL.
 */
static int64
clear_live(const char *name, const RayTaskReply *keys, List *live, List *fresh)
{
	Datum		args[1];
	Oid			types[1] = {TEXTOID};
	int64		vanished = 0;
	char		id[64];

	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("DELETE FROM raydar.task_live WHERE cluster = $1 "
							  "RETURNING task_id, attempt_number",
							  1, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not clear raydar.task_live");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		t = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		int32		attempt = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		text	   *hex = DatumGetTextPP(t);
		size_t		hexlen = VARSIZE_ANY_EXHDR(hex);
		size_t		len;

		if (hexlen > 2 * sizeof(id))
		{
			vanished++;			/* not an id this worker wrote */
			continue;
		}
		len = hex_decode(VARDATA_ANY(hex), hexlen, id);
		if (!in_key_list(keys, live, (uint8 *) id, len, attempt) &&
			!in_key_list(keys, fresh, (uint8 *) id, len, attempt))
			vanished++;
	}
	return vanished;
}

/*
 * raydar._wake_collector(): have the collector poll as soon as the calling
 * transaction commits, not at its next interval, so that raydar.track()
 * shows data at once. At commit, because the worker must see the tracked
 * server: an earlier wake would find nothing new.
 *
 * As ApplyLauncherWakeupAtCommit: the function only sets a flag, and the
 * end-of-transaction callback, which runs after the commit record is
 * written (where an error would become a PANIC), reads the worker's
 * PGPROC number from shared memory and sets its latch: no allocation, no
 * lock, no scan of backend status. The worker publishes its number when it
 * starts and clears it when it exits; a stale number can only set the
 * latch of some other process, a harmless spurious wakeup.
 */
static void
collector_unpublish(int code, Datum arg)
{
	pg_atomic_write_u32(&collector_shared->procno, 0);
}

static void
wake_collector_at_commit(XactEvent event, void *arg)
{
	if (!wake_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT && collector_shared != NULL)
	{
		uint32		procno = pg_atomic_read_u32(&collector_shared->procno);

		if (procno > 0 && procno <= ProcGlobal->allProcCount)
			SetLatch(&ProcGlobal->allProcs[procno - 1].procLatch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
}

PG_FUNCTION_INFO_V1(raydar_wake_collector);

Datum
raydar_wake_collector(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(wake_collector_at_commit, NULL);
		registered = true;
	}
	wake_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * NOTIFY raydar_progress, {"cluster": name, "jobs": [job ids]}: the jobs of
 * the attempts this poll wrote to history or found live (rows are keys'
 * positions). Sent in the write transaction, so listeners hear it on commit,
 * when the rows are visible. A payload must stay under 8000 bytes: past
 * MAX_NOTIFY_JOBS jobs the list is left empty and "all" is true.
 */
#define MAX_NOTIFY_JOBS 200
#define NOTIFY_PAYLOAD_MAX 7900	/* PostgreSQL refuses 8000 bytes and more */

static void
notify_progress(const char *name, const RayTaskReply *keys, List *fresh, List *live)
{
	StringInfoData msg;
	RayId		jobs[MAX_NOTIFY_JOBS];
	int			njobs = 0;
	bool		all = false;
	ListCell   *lc;
	RayBuf		hex;
	ProtobufCAllocator alloc;

	foreach(lc, list_concat_copy(fresh, live))
	{
		const RayId *job = &keys->rows[lfirst_int(lc)].job_id;
		int			j;

		if (job->len == 0)
			continue;
		for (j = 0; j < njobs; j++)
			if (jobs[j].len == job->len && memcmp(jobs[j].data, job->data, job->len) == 0)
				break;
		if (j < njobs)
			continue;
		if (njobs == MAX_NOTIFY_JOBS)
		{
			all = true;
			break;
		}
		jobs[njobs++] = *job;
	}
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	ray_buf_init(&hex, &alloc);
	initStringInfo(&msg);
	appendStringInfoString(&msg, "{\"cluster\": ");
	escape_json(&msg, name);
	appendStringInfoString(&msg, ", \"jobs\": [");
	for (int j = 0; !all && j < njobs; j++)
	{
		ray_buf_reset(&hex);
		ray_buf_hex(&hex, jobs[j].data, jobs[j].len);
		appendStringInfo(&msg, "%s\"%s\"", j > 0 ? ", " : "", hex.data);
	}
	appendStringInfo(&msg, "], \"all\": %s}", all ? "true" : "false");
	if (msg.len >= NOTIFY_PAYLOAD_MAX)
	{
		/* Ids far longer than Ray's 4-byte job ids: say "all" instead. */
		resetStringInfo(&msg);
		appendStringInfoString(&msg, "{\"cluster\": ");
		escape_json(&msg, name);
		appendStringInfoString(&msg, ", \"jobs\": [], \"all\": true}");
	}
	Async_Notify("raydar_progress", msg.data);
}

/*
 * Which start of the cluster this is (docs/operations.md, "Incarnations"):
 * the GCS's ClusterID (NodeInfoGcsService/GetClusterId: 28 bytes made at
 * each cluster start, kept across a GCS restart with fault tolerance), as
 * hex. Fetched outside any transaction. (The collector polls the GCS only;
 * a dashboard's equivalent would be the session_name of GET /api/version.)
 */
static char *
cluster_incarnation(RaydarConn *conn, const char *name)
{
	bool		cached;
	bytea	   *reply = raydar_conn_call(conn, RAYDAR_METHOD_GET_CLUSTER_ID, (const uint8_t *) "", 0, &cached);
	const uint8_t *id = NULL;
	size_t		idlen = 0;
	int64		code = 0;
	RayWireReader rd;
	RayWireField f;
	char	   *out;

	/* GetClusterIdReply {GcsStatus status = 1 {code = 1}; bytes cluster_id = 2} */
	ray_wire_init(&rd, (const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ);
	while (ray_wire_next(&rd, &f))
		if (f.number == 2 && f.type == RAY_WIRE_LEN)
		{
			id = f.data;
			idlen = f.len;
		}
		else if (f.number == 1 && f.type == RAY_WIRE_LEN)
		{
			RayWireReader s;
			RayWireField g;

			ray_wire_init(&s, f.data, f.len);
			while (ray_wire_next(&s, &g))
				if (g.number == 1 && g.type == RAY_WIRE_VARINT)
					code = (int64) g.varint;
		}
	if (rd.error || code != 0 || idlen == 0 || idlen * 2 > INCARNATION_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("Ray GCS of server \"%s\" did not give its cluster id", name),
				 errdetail("GetClusterId answered %s.",
						   rd.error ? "bytes that are not a GetClusterIdReply" :
						   code != 0 ? psprintf("status %lld", (long long) code) :
						   psprintf("an id of %zu bytes", idlen)),
				 errhint("raydar keeps the history of each start of a cluster apart by this id (Ray's ClusterID, 28 bytes).")));
	out = palloc(idlen * 2 + 1);
	for (size_t i = 0; i < idlen; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	return out;
}

/*
 * The Ray version the cluster runs now, asked at every poll (CheckAlive):
 * Ray upgraded or downgraded in place keeps its address, and decoding with
 * the old version's tables would write wrong states. A ray_version option
 * must agree with what the cluster reports (major.minor: what raydar's
 * version facts depend on); where the cluster cannot say, the option wins,
 * with a WARNING once. A change of version is logged (ts: the server's
 * memory, NULL before its first poll).
 */
static void
cluster_version(RaydarConn *conn, const char *name, TrackedServer *ts, RayVersion *v)
{
	const RaydarServerOptions *opts = raydar_conn_options(conn);
	bool		cached;
	bytea	   *reply = raydar_conn_call(conn, RAYDAR_METHOD_CHECK_ALIVE, (const uint8_t *) "", 0, &cached);
	char		vt[64];
	char		err[256];
	int32_t		code;
	RayStatus	st;
	bool		known;

	st = ray_check_alive_reply_decode((const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ,
									  vt, sizeof(vt), &code, err, sizeof(err));
	/* A reply that is not a CheckAliveReply is a bad reply, as for tasks. */
	raydar_report_core_error(st, psprintf("decoding the CheckAlive reply of server \"%s\"", name), err);
	known = ray_version_parse(vt, v);
	if (opts->has_version)
	{
		if (known && (v->major != opts->version.major || v->minor != opts->version.minor))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("server \"%s\" has ray_version '%s', but the cluster runs Ray %s",
							name, opts->version_text, vt),
					 errhint("Drop the option to follow the cluster's version: ALTER SERVER %s OPTIONS (DROP ray_version);",
							 quote_identifier(name))));
		if (!known && ts != NULL && !ts->warned_version)
		{
			ereport(WARNING,
					(errmsg("raydar collector: the cluster of server \"%s\" does not say its Ray version; using ray_version '%s'",
							name, opts->version_text),
					 errdetail("CheckAlive said \"%s\".", vt)));
			ts->warned_version = true;
		}
		*v = opts->version;
	}
	else if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not learn the Ray version of server \"%s\"", name),
				 errdetail("CheckAlive said \"%s\".", vt),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD ray_version '2.40.0').",
						 quote_identifier(name))));
	if (ts != NULL)
	{
		if (ts->version.major != 0 &&
			(ts->version.major != v->major || ts->version.minor != v->minor ||
			 ts->version.patch != v->patch))
			ereport(LOG,
					(errmsg("raydar collector: server \"%s\" now runs Ray %d.%d.%d (was %d.%d.%d)",
							name, v->major, v->minor, v->patch,
							ts->version.major, ts->version.minor, ts->version.patch)));
		ts->version = *v;
	}
}

/*
 * The role whose user mapping (and so token) the collector uses for a
 * server: the one that tracked it, which raydar.track() checked for USAGE
 * on the server and a user mapping. Checked again at every poll, inside
 * the caller's transaction: a role dropped, or that lost USAGE or its
 * mapping, stops the collection with an error rather than reading the
 * cluster through someone else's token.
 */
static Oid
tracking_role(const char *name, ForeignServer *server)
{
	Datum		a[1];
	Oid			t[1] = {TEXTOID};
	char	   *role;
	Oid			roleid;

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	a[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT tracked_by::text FROM raydar.tracked_servers WHERE server_name = $1",
							  1, t, a, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" is no longer tracked", name)));
	role = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	roleid = get_role_oid(role, true);
	role = MemoryContextStrdup(TopTransactionContext, role);
	PopActiveSnapshot();
	SPI_finish();
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer exists", role, name),
				 errhint("Track it again as a role with USAGE on the server and a user mapping: SELECT raydar.track('%s');",
						 name)));
	if (pg_foreign_server_aclcheck(server->serverid, roleid, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer has USAGE on it", role, name),
				 errhint("GRANT USAGE ON FOREIGN SERVER %s TO %s, or track it again as another role.",
						 quote_identifier(name), quote_identifier(role))));
	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(roleid),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that tracked server \"%s\" no longer has a user mapping for it", role, name),
				 errhint("CREATE USER MAPPING FOR %s SERVER %s;", quote_identifier(role), quote_identifier(name))));
	return roleid;
}

/* The reply positions of keys' rows at positions. */
static List *
reply_positions(const RayTaskReply *keys, List *positions)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, positions)
		out = lappend_int(out, (int) keys->rows[lfirst_int(lc)].index);
	return out;
}

/* Must task_live be rewritten: has the live set changed since last written? */
static bool
rewrite_live_needed(const char *name, uint64 live_fp)
{
	TrackedServer *ts = find_tracked(name);

	return ts == NULL || !ts->has_live_fp || ts->live_fp != live_fp;
}

static void
poll_server(const char *name)
{
	ForeignServer *server;
	RaydarConn *conn;
	RayVersion	v;
	bytea	   *reply;
	bool		cached;
	RayTaskReply *keys;
	RayTaskReply *attempts = NULL;	/* the reply, indexed */
	ProtobufCAllocator alloc;
	char		err[512];
	RayStatus	rs;
	List	   *fresh = NIL;		/* terminal attempts this worker did not write */
	List	   *changed = NIL;		/* ... that it wrote, and that changed since */
	List	   *written;		/* both */
	char	   *inc;			/* the cluster's incarnation */
	bool		new_start = false;	/* another than at the last poll */
	List	   *live = NIL;
	uint64		live_fp = 0;
	bool		rewrite_live;
	TrackedServer *ts;
	uint64		inserted = 0;
	int64		vanished = 0;
	uint32		sno = server_no(name);
	instr_time	t0,
				t_fetch,
				t_keys,
				t_done;
	int64		newest_end_ms = 0;
	ListCell   *lc;

	raydar_reset_out_of_range();
	/* 1. The server and its channel: catalog lookups need a transaction. */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	server = GetForeignServerByName(name, true);
	if (server == NULL)
	{
		CommitTransactionCommand();
		ereport(ERROR,
				(errmsg("tracked server \"%s\" does not exist", name),
				 errhint("SELECT raydar.untrack('%s');", name)));
	}
	conn = raydar_get_conn(server->serverid, tracking_role(name, server));
	CommitTransactionCommand();
	/* Commit leaves TopMemoryContext current: the poll's memory is ours. */
	MemoryContextSwitchTo(cycle_cxt);

	/*
	 * 2. Which start of the cluster answers, then the fetch, outside any
	 * transaction. A cluster started anew reuses task ids: what this worker
	 * remembers of the old one must not hide the new one's attempts.
	 */
	pgstat_report_activity(STATE_RUNNING, "raydar collector: GetClusterId");
	inc = cluster_incarnation(conn, name);
	ts = find_tracked(name);
	cluster_version(conn, name, ts, &v);
	if (ts != NULL && ts->incarnation[0] != '\0' && strcmp(ts->incarnation, inc) != 0)
	{
		new_start = true;
		forget_server(name);
		ts->has_live_fp = false;
	}
	pgstat_report_activity(STATE_RUNNING, "raydar collector: GetTaskEvents");
	INSTR_TIME_SET_CURRENT(t0);
	reply = raydar_conn_call(conn, RAYDAR_METHOD_GET_TASK_EVENTS, (const uint8_t *) "", 0, &cached);
	INSTR_TIME_SET_CURRENT(t_fetch);

	/* 3. Which terminal attempts are new: keys and states only. */
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	rs = ray_task_reply_decode_new_keys((const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ,
										&v, &alloc, written_before, &sno, &keys, err, sizeof(err));
	raydar_report_core_error(rs, psprintf("decoding the GetTaskEvents reply of server \"%s\"", name), err);
	if (keys->status_code != 0)
		ereport(ERROR,
				(errmsg("Ray GCS of server \"%s\" answered GetTaskEvents with status %d: %s",
						name, keys->status_code, keys->status_message)));
	for (size_t i = 0; i < keys->nrows; i++)
	{
		const RayTaskRow *row = &keys->rows[i];

		if (terminal(keys, row))
		{
			/*
			 * Attempts this worker wrote were skipped by the keys pass,
			 * unless they changed since.
			 */
			if (written_any(sno, row))
				changed = lappend_int(changed, (int) i);
			else
				fresh = lappend_int(fresh, (int) i);
		}
		else if (row->task_id.len > 0)
		{
			/* What identifies the live set: ids, attempts, states, events. */
			live = lappend_int(live, (int) i);
			live_fp = hash_combine64(live_fp, hash_bytes_extended(row->task_id.data,
																  (int) row->task_id.len, 0));
			live_fp = hash_combine64(live_fp, (uint64) row->attempt_number << 32 |
									 (uint32) row->state);
			live_fp = hash_combine64(live_fp, (uint64) row->n_events);
		}
	}
	/*
	 * Here, before the write transaction, so that the lists live in the
	 * poll's memory: they are used again after the commit.
	 */
	fresh = history_store_key_order(keys, fresh);
	changed = history_store_key_order(keys, changed);
	written = list_concat_copy(fresh, changed);
	live = history_store_key_order(keys, live);
	INSTR_TIME_SET_CURRENT(t_keys);

	/* 4. Those, decoded in full, and the status, in one transaction. */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raydar collector: writing task_history");
	if (written != NIL || rewrite_live_needed(name, live_fp))
	{
		/* The reply, indexed once: each attempt is unpacked as it is written. */
		rs = ray_task_reply_index((const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ,
								  &v, &alloc, &attempts, err, sizeof(err));
		raydar_report_core_error(rs, "indexing a GetTaskEvents reply", err);
	}
	if (written != NIL)
	{
		/*
		 * A worker that does not know what it wrote must merge, unless
		 * history holds nothing of this incarnation of the cluster (a first
		 * track, or a cluster started anew): then plain inserts are safe,
		 * and about a third cheaper for a full GCS.
		 */
		bool		known = list_member(verified, makeString((char *) name)) ||
			history_store_is_empty(name, inc);

		foreach(lc, written)
			newest_end_ms = Max(newest_end_ms, keys->rows[lfirst_int(lc)].end_ms);
		history_store_add_partitions(keys, written);
		inserted = history_store_write(known ? HISTORY_NEW : HISTORY_MERGE, name, inc, attempts,
									   reply_positions(keys, fresh));
		/* Changed attempts replace their row (it may move partitions). */
		inserted += history_store_write(HISTORY_MERGE, name, inc, attempts,
										reply_positions(keys, changed));
	}
	/* The live attempts, rewritten only when their set or states changed. */
	rewrite_live = rewrite_live_needed(name, live_fp);
	if (rewrite_live)
	{
		vanished = clear_live(name, keys, live, fresh);
		history_store_write(HISTORY_LIVE, name, inc, attempts, reply_positions(keys, live));
	}
	{
		Datum		args[8];
		Oid			types[8] = {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, INT8OID, TEXTOID, INT4OID};
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		TimestampTz newest_end = 0;

		args[0] = CStringGetTextDatum(name);
		args[1] = Int64GetDatum((int64) inserted);
		args[2] = Int64GetDatum(keys->num_status_task_events_dropped);
		if (!raydar_ms_to_timestamptz(newest_end_ms, &newest_end))
			nulls[3] = 'n';
		args[3] = TimestampTzGetDatum(newest_end);
		args[4] = BoolGetDatum(inserted > 0);
		args[5] = Int64GetDatum(vanished);
		args[6] = CStringGetTextDatum(inc);
		args[7] = Int32GetDatum(collector_poll_ms);
		SPI_execute_with_args("UPDATE raydar.collector_status SET last_poll_at = now(), "
							  "last_success_at = now(), consecutive_failures = 0, "
							  "tasks_ingested = tasks_ingested + $2, dropped_reported = $3, "
							  "vanished = vanished + $6, "
							  "lag = CASE WHEN $5 THEN now() - $4 ELSE lag END, last_error = NULL, "
							  "incarnation_since = CASE WHEN incarnation IS DISTINCT FROM $7 "
							  "THEN now() ELSE incarnation_since END, incarnation = $7, backoff = NULL, "
							  "next_poll_at = now() + make_interval(secs => $8 / 1000.0) "
							  "WHERE server = $1", 8, types, args, nulls, false, 0);
		if (new_start)
			record_error(name, psprintf("the cluster started anew: incarnation %s follows %s; "
										"history keeps both apart",
										inc, find_tracked(name)->incarnation));
		if (vanished > 0)
			record_error(name, psprintf("%lld task attempts seen pending or running vanished from the GCS "
										"before finishing: Ray evicted them (raise "
										"RAY_task_events_max_num_task_in_gcs or poll more often) "
										"or the cluster restarted; their outcome is lost",
										(long long) vanished));
	}
	if (inserted > 0 || rewrite_live)
		notify_progress(name, keys, written, rewrite_live ? live : NIL);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cycle_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* Only what is committed is marked as written (grown once, not by doubling). */
	if (fresh != NIL)
	{
		uint64		want = pg_nextpower2_64((seen->members + list_length(fresh)) * 2);

		if (want > seen->size)
			seenset_grow(seen, want);
	}
	foreach(lc, written)
		mark_written(sno, &keys->rows[lfirst_int(lc)]);
	if ((ts = find_tracked(name)) != NULL)
	{
		if (rewrite_live)
		{
			ts->has_live_fp = true;
			ts->live_fp = live_fp;
		}
		strlcpy(ts->incarnation, inc, sizeof(ts->incarnation));
	}
	if (!list_member(verified, makeString((char *) name)))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		verified = lappend(verified, makeString(pstrdup(name)));
		MemoryContextSwitchTo(old);
	}

	INSTR_TIME_SET_CURRENT(t_done);
	INSTR_TIME_SUBTRACT(t_done, t_keys);
	INSTR_TIME_SUBTRACT(t_keys, t_fetch);
	INSTR_TIME_SUBTRACT(t_fetch, t0);
	/* The jobs, actors and nodes these attempts belong to. */
	poll_entities(name, inc, conn, &v);
	/* Values PostgreSQL cannot hold were stored as NULL: say so, once a poll. */
	raydar_report_out_of_range(psprintf("Ray at %s (tracked server \"%s\")",
										raydar_conn_endpoint(conn), name));

	elog(DEBUG1, "raydar collector: server \"%s\": %zu attempts in the reply, %d new, %llu written; "
		 "fetch %.1f ms, keys %.1f ms, decode+write %.1f ms",
		 name, keys->nrows + keys->nknown, list_length(fresh), (unsigned long long) inserted,
		 INSTR_TIME_GET_MILLISEC(t_fetch), INSTR_TIME_GET_MILLISEC(t_keys),
		 INSTR_TIME_GET_MILLISEC(t_done));
}

/*
 * jobs, actors and nodes: the latest row per id in raydar.<x>_history.
 * The statement is built from the resource's column catalog, so the history
 * tables follow the foreign tables (a regression test checks the DDL).
 */
typedef struct EntityTable
{
	const char *resource;		/* raydar_resources name */
	const char *table;			/* in schema raydar */
	const char *key;			/* id column */
	SPIPlanPtr	plan;
} EntityTable;

static EntityTable entity_tables[] = {
	{"jobs", "job_history", "job_id", NULL},
	{"actors", "actor_history", "actor_id", NULL},
	{"nodes", "node_history", "node_id", NULL},
};

static SPIPlanPtr
prepare_upsert(EntityTable *et, const RaydarResource *res)
{
	StringInfoData sql,
				cols,
				sets,
				cmp_old,
				cmp_new;
	Oid			types[64];
	int			n = 0;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	initStringInfo(&cols);
	initStringInfo(&sets);
	initStringInfo(&cmp_old);
	initStringInfo(&cmp_new);
	types[n++] = TEXTOID;
	types[n++] = TEXTOID;
	for (const RaydarColumn *c = res->columns; c->name; c++)
	{
		const char *q = quote_identifier(c->name);

		appendStringInfo(&cols, "%s, ", q);
		if (strcmp(c->name, et->key) != 0)
		{
			appendStringInfo(&sets, "%s = excluded.%s, ", q, q);
			appendStringInfo(&cmp_old, "%st.%s", cmp_old.len ? ", " : "", q);
			appendStringInfo(&cmp_new, "%sexcluded.%s", cmp_new.len ? ", " : "", q);
		}
		types[n++] = get_array_type(raydar_coltype_oid(c->type));
	}
	appendStringInfo(&sql, "INSERT INTO raydar.%s AS t (%scluster, incarnation) SELECT u.*, $1, $2 "
					 "FROM unnest(", et->table, cols.data);
	for (int i = 3; i <= n; i++)
		appendStringInfo(&sql, "%s$%d", i > 3 ? ", " : "", i);
	appendStringInfo(&sql, ") AS u ON CONFLICT (cluster, incarnation, %s) DO UPDATE SET %supdated_at = now() "
					 "WHERE (%s) IS DISTINCT FROM (%s)",
					 et->key, sets.data, cmp_old.data, cmp_new.data);
	plan = SPI_prepare(sql.data, n, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the %s upsert: %s", et->table, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static void
poll_entities(const char *name, const char *inc, RaydarConn *conn, const RayVersion *v)
{
	for (int e = 0; e < lengthof(entity_tables); e++)
	{
		EntityTable *et = &entity_tables[e];
		const RaydarResource *res = raydar_find_resource(et->resource);
		bool		cached;
		bytea	   *reply;
		RayClusterReply *r;
		ProtobufCAllocator alloc;
		char		err[512];
		RayStatus	rs;
		int			ncols = raydar_ncolumns(res->columns);
		int			keycol = 0;
		int			nrows = 0;

		/* Outside any transaction, as for tasks. */
		reply = raydar_conn_call(conn, ray_cluster_method((RayResourceKind) res->kind),
								 (const uint8_t *) "", 0, &cached);
		raydar_allocator_init(&alloc, CurrentMemoryContext);
		rs = ray_cluster_reply_decode((RayResourceKind) res->kind, (const uint8_t *) VARDATA(reply),
									  VARSIZE(reply) - VARHDRSZ, v, &alloc, &r, err, sizeof(err));
		raydar_report_core_error(rs, psprintf("decoding the %s of server \"%s\"", res->name, name), err);
		if (r->status_code != 0)
			ereport(ERROR,
					(errmsg("Ray GCS of server \"%s\" answered %s with status %d: %s", name,
							ray_cluster_method((RayResourceKind) res->kind), r->status_code,
							r->status_message)));
		for (const RaydarColumn *c = res->columns; c->name && strcmp(c->name, et->key) != 0; c++)
			keycol++;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (r->nrows > 0)
		{
			Datum	  **cols = palloc(sizeof(Datum *) * ncols);
			bool	  **nulls = palloc(sizeof(bool *) * ncols);
			Datum	   *args = palloc(sizeof(Datum) * (ncols + 2));
			int			dims[1];
			int			lbs[1] = {1};
			RayBuf		scratch;

			if (et->plan == NULL)
				et->plan = prepare_upsert(et, res);
			ray_buf_init(&scratch, &alloc);
			for (int c = 0; c < ncols; c++)
			{
				cols[c] = palloc(sizeof(Datum) * r->nrows);
				nulls[c] = palloc(sizeof(bool) * r->nrows);
			}
			for (size_t i = 0; i < r->nrows; i++)
			{
				int			c = 0;

				for (const RaydarColumn *col = res->columns; col->name; col++, c++)
				{
					nulls[c][nrows] = false;
					cols[c][nrows] = col->get(r, r->rows[i], &scratch, &nulls[c][nrows]);
				}
				if (!nulls[keycol][nrows])	/* no id, no row */
					nrows++;
			}
			dims[0] = nrows;
			args[0] = CStringGetTextDatum(name);
			args[1] = CStringGetTextDatum(inc);
			{
				int			c = 0;

				for (const RaydarColumn *col = res->columns; col->name; col++, c++)
				{
					Oid			elem = raydar_coltype_oid(col->type);
					int16		typlen;
					bool		typbyval;
					char		typalign;

					get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
					args[c + 2] = PointerGetDatum(construct_md_array(cols[c], nulls[c], 1, dims, lbs,
																	 elem, typlen, typbyval, typalign));
				}
			}
			if (nrows > 0 && SPI_execute_plan(et->plan, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not write raydar.%s", et->table);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(cycle_cxt);
	}
}

/*
 * One poll of the server; false if it failed (the error is recorded, the
 * transaction aborted). A failure whose message is the one of the failure
 * before is counted but not logged again; delay_ms is the backoff before
 * the next poll, shown in collector_status.
 */
static char *last_failure = NULL;	/* this worker's last error message */

static bool
poll_one(const char *name, int failures_before)
{
	MemoryContext ccxt = CurrentMemoryContext;
	bool		ok = true;

	PG_TRY();
	{
		poll_server(name);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		is_new;

		/* As PostgresMain's recovery: report, abort, keep going. */
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(ccxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		is_new = last_failure == NULL || strcmp(last_failure, edata->message) != 0;
		if (is_new)
		{
			ereport(LOG,
					(errmsg("raydar collector: polling server \"%s\" failed: %s", name, edata->message),
					 errdetail("Failures in a row with this message are counted in raydar.collector_status, not logged again.")));
			if (last_failure)
				pfree(last_failure);
			last_failure = MemoryContextStrdup(TopMemoryContext, edata->message);
		}
		/* Whatever went wrong, the next poll writes with ON CONFLICT again. */
		verified = list_delete(verified, makeString((char *) name));
		record_failure(name, edata->message, is_new, backoff_ms(failures_before + 1));
		MemoryContextSwitchTo(ccxt);
		ok = false;
	}
	PG_END_TRY();
	if (ok && last_failure)
	{
		pfree(last_failure);
		last_failure = NULL;
	}
	return ok;
}

/*
 * A per-server worker: polls one tracked server on its own schedule, so a
 * slow, failing or unreachable cluster delays only itself. Its name is in
 * bgw_extra. Polls start every poll_interval, counted from the start of
 * the last one, not from its end: a poll that took 600 ms of a 1 s
 * interval is followed 400 ms later, so the lag stays near the interval
 * under load (a poll that overran is followed at once). After failures the
 * wait doubles up to a minute (backoff_ms), and resets on success. It
 * exits when its server is no longer tracked.
 */
void
raydar_collector_server_main(Datum arg)
{
	char		name[NAMEDATALEN];
	TimestampTz next_poll;
	int			failures = 0;

	strlcpy(name, MyBgworkerEntry->bgw_extra, sizeof(name));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(collector_database, NULL, 0);
	pgstat_report_appname(psprintf("raydar collector %s", name));

	/*
	 * Each poll allocates and frees the same tens of MB (the reply, its keys,
	 * batches of rows). By default glibc maps blocks over 128 kB (up to 32 MB
	 * as it adapts) and unmaps them on free, so every poll paid page faults
	 * for all of it again: 10% of a first track's CPU. Keep such blocks on
	 * the heap and up to 256 MB of freed memory in the process for reuse.
	 * This worker only; it holds that memory while it runs.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);

	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector poll",
									  ALLOCSET_DEFAULT_SIZES);
	seen = seenset_create(TopMemoryContext, 4096, NULL);
	seen_ids_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector long ids",
										 ALLOCSET_SMALL_SIZES);

	next_poll = GetCurrentTimestamp();	/* a new server is polled at once */
	for (;;)
	{
		long		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_poll);
		int			rc = 0;
		bool		woken;
		TimestampTz start;
		List	   *servers = NIL;
		bool		still_tracked = true;

		if (wait_ms > 0)
			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* Set by the launcher when raydar.track() commits: poll now. */
		woken = (rc & WL_LATCH_SET) != 0;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			woken = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* A new interval applies from now. */
			next_poll = Min(next_poll,
							TimestampTzPlusMilliseconds(GetCurrentTimestamp(), collector_poll_ms));
		}
		start = GetCurrentTimestamp();
		if (!woken && start < next_poll)
			continue;			/* a reload woke us: wait the rest */
		next_poll = TimestampTzPlusMilliseconds(start, collector_poll_ms);
		if (!collector_enabled)
			continue;

		MemoryContextReset(cycle_cxt);
		MemoryContextSwitchTo(cycle_cxt);
		PG_TRY();
		{
			ListCell   *lc;

			servers = tracked_servers(true);
			still_tracked = false;
			foreach(lc, servers)
				if (strcmp((char *) lfirst(lc), name) == 0)
					still_tracked = true;
		}
		PG_CATCH();
		{
			HOLD_INTERRUPTS();
			MemoryContextSwitchTo(cycle_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			RESUME_INTERRUPTS();
			continue;
		}
		PG_END_TRY();
		if (!still_tracked)
			proc_exit(0);		/* untracked: the launcher starts none again */

		MemoryContextSwitchTo(cycle_cxt);
		if (poll_one(name, failures))
			failures = 0;
		else
		{
			/* Backoff counts from the end of the failed poll: a wait, not a rate. */
			failures++;
			next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms(failures));
		}
		MemoryContextSwitchTo(TopMemoryContext);
	}
}

/*
 * The launcher: keeps one worker (raydar_collector_server_main) running
 * per tracked server, starts one as soon as raydar.track() commits (it
 * wakes this process) and passes that wake on, stops the worker of an
 * untracked server, and restarts one that died (at most every 5 s). It
 * holds no network connection and writes nothing but the status of a
 * server it cannot start a worker for.
 */
typedef struct ServerWorker
{
	char		name[NAMEDATALEN];
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	bool		no_slot;		/* the last start found no free worker slot */
} ServerWorker;

#define RESTART_MS 5000

static List *server_workers = NIL;	/* of ServerWorker, in TopMemoryContext */

static void
note_no_slot(const char *name)
{
	Datum		args[1];
	Oid			types[1] = {TEXTOID};

	ereport(LOG,
			(errmsg("raydar collector: no background worker slot for server \"%s\"", name),
			 errhint("Raise max_worker_processes: the collector needs one worker per tracked server, plus one.")));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	args[0] = CStringGetTextDatum(name);
	SPI_execute_with_args("UPDATE raydar.collector_status SET last_error = "
						  "'no background worker is free to poll this server: raise max_worker_processes "
						  "(one per tracked server, plus one) and restart PostgreSQL' WHERE server = $1",
						  1, types, args, NULL, false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static void
start_server_worker(ServerWorker *sw)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher does */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "raydar");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "raydar_collector_server_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "raydar collector for %s", sw->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "raydar collector");
	StaticAssertStmt(NAMEDATALEN <= BGW_EXTRALEN, "a server name fits bgw_extra");
	strlcpy(worker.bgw_extra, sw->name, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;
	sw->started_at = GetCurrentTimestamp();
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(old);
		if (!sw->no_slot)
			note_no_slot(sw->name);
		sw->no_slot = true;
		return;
	}
	MemoryContextSwitchTo(old);
	sw->no_slot = false;
	if (sw->handle)
		pfree(sw->handle);
	sw->handle = handle;
}

/* Is the worker of sw running (or about to)? Its pid, or 0. */
static pid_t
worker_pid(ServerWorker *sw)
{
	pid_t		pid = 0;
	BgwHandleStatus st;

	if (sw->handle == NULL)
		return 0;
	st = GetBackgroundWorkerPid(sw->handle, &pid);
	if (st == BGWH_STARTED)
		return pid;
	return st == BGWH_NOT_YET_STARTED ? (pid_t) -1 : 0;
}

static void
reconcile_workers(List *names, bool wake)
{
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	/* Workers of servers no longer tracked are stopped. */
	foreach(lc, server_workers)
	{
		ServerWorker *sw = lfirst(lc);
		bool		tracked = false;
		ListCell   *n;

		foreach(n, names)
			if (strcmp((char *) lfirst(n), sw->name) == 0)
				tracked = true;
		if (tracked)
			keep = lappend(keep, sw);
		else
		{
			if (sw->handle)
			{
				TerminateBackgroundWorker(sw->handle);
				pfree(sw->handle);
			}
			pfree(sw);
		}
	}
	list_free(server_workers);
	server_workers = keep;

	/* Every tracked server has a running worker; woken, they poll now. */
	foreach(lc, names)
	{
		ServerWorker *sw = NULL;
		ListCell   *w;
		pid_t		pid;

		foreach(w, server_workers)
			if (strcmp(((ServerWorker *) lfirst(w))->name, (char *) lfirst(lc)) == 0)
				sw = lfirst(w);
		if (sw == NULL)
		{
			sw = palloc0(sizeof(ServerWorker));
			strlcpy(sw->name, (char *) lfirst(lc), NAMEDATALEN);
			server_workers = lappend(server_workers, sw);
			start_server_worker(sw);
			continue;
		}
		pid = worker_pid(sw);
		if (pid == 0 &&
			TimestampDifferenceExceeds(sw->started_at, GetCurrentTimestamp(), RESTART_MS))
			start_server_worker(sw);
		else if (pid > 0 && wake)
		{
			PGPROC	   *proc = BackendPidGetProc(pid);

			if (proc != NULL)
				SetLatch(&proc->procLatch);
		}
	}
	MemoryContextSwitchTo(old);
}

void
raydar_collector_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(collector_database, NULL, 0);
	pgstat_report_appname("raydar collector launcher");
	/* Where track() finds this process to wake it (wake_collector_at_commit). */
	on_shmem_exit(collector_unpublish, (Datum) 0);
	pg_atomic_write_u32(&collector_shared->procno, (uint32) MyProc->pgprocno + 1);

	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector launcher",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		List	   *names = NIL;
		int			rc;
		bool		ok = true;

		MemoryContextReset(cycle_cxt);
		MemoryContextSwitchTo(cycle_cxt);
		PG_TRY();
		{
			names = tracked_servers(false);
		}
		PG_CATCH();
		{
			HOLD_INTERRUPTS();
			MemoryContextSwitchTo(cycle_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			RESUME_INTERRUPTS();
			ok = false;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(cycle_cxt);
		if (ok)
			reconcile_workers(names, false);

		/*
		 * A worker's exit (bgw_notify_pid) or track() sets the latch; else
		 * look again within a second, for restarts and untracks.
		 */
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (rc & WL_LATCH_SET)
		{
			/* Pass a wake on: the tracked servers as of now, polled now. */
			MemoryContextReset(cycle_cxt);
			MemoryContextSwitchTo(cycle_cxt);
			PG_TRY();
			{
				names = tracked_servers(false);
				reconcile_workers(names, true);
			}
			PG_CATCH();
			{
				HOLD_INTERRUPTS();
				MemoryContextSwitchTo(cycle_cxt);
				EmitErrorReport();
				FlushErrorState();
				AbortOutOfAnyTransaction();
				RESUME_INTERRUPTS();
			}
			PG_END_TRY();
		}
	}
}
