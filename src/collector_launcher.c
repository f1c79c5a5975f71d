/*
 * collector_launcher.c
 *		The collector's settings, its registration at preload, and the
 *		launcher: one worker per tracked server, started as soon as
 *		raydar.track() commits.
 *
 * As pg_cron's launcher: a background worker registered at preload
 * (raydar_collector_main) keeps a dynamic worker running per tracked
 * server (collector_worker.c), stops the worker of an untracked server and
 * restarts one that died (at most every 5 s); the postmaster restarts the
 * launcher after 5 s. It holds no network connection and writes nothing
 * but the status of a server it cannot start a worker for.
 *
 * raydar.track() wakes it at commit as ApplyLauncherWakeupAtCommit does:
 * the launcher's PGPROC number lives in shared memory, and an
 * end-of-transaction callback sets its latch; the launcher then wakes the
 * server's worker.
 */
#include "raydar.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "collector.h"

/* GUCs */
char	   *collector_database = NULL;
int			collector_poll_ms = 1000;
bool		collector_enabled = true;

MemoryContext collector_cycle_cxt = NULL;

PGDLLEXPORT void raydar_collector_main(Datum arg);

/* Shared memory: how track() finds the launcher (see wake_collector_at_commit). */
typedef struct CollectorShared
{
	pg_atomic_uint32 procno;	/* the launcher's pgprocno + 1; 0: none */
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

/* The settings; at preload also the launcher and the shared memory. */
void
raydar_collector_init(void)
{
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

	raydar_register_worker("raydar_collector_main", "raydar collector launcher", 5);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = collector_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = collector_shmem_startup;
}

/*
 * The tracked servers' names (in collector_cycle_cxt), or NIL while raydar
 * is not installed here. With sync, what the worker remembers is brought
 * in line (collector_sync_tracked). In a transaction of its own.
 */
List *
collector_tracked_servers(bool sync)
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
		MemoryContext old = MemoryContextSwitchTo(collector_cycle_cxt);

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
		collector_sync_tracked(names, tracked_ats);
	return names;
}

/*
 * raydar._wake_collector(): have the collector poll as soon as the calling
 * transaction commits, not at its next interval, so that raydar.track()
 * shows data at once. At commit, because the worker must see the tracked
 * server: an earlier wake would find nothing new.
 *
 * The function only sets a flag. The end-of-transaction callback, which
 * runs after the commit record is written (where an error would become a
 * PANIC), reads the launcher's PGPROC number from shared memory and sets
 * its latch: no allocation, no lock, no scan of backend status. The
 * launcher publishes its number when it starts and clears it when it
 * exits; a stale number can only set the latch of some other process, a
 * harmless spurious wakeup.
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

/* The launcher's view of one server's worker. */
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
			collector_record_no_slot(sw->name);
		sw->no_slot = true;
		return;
	}
	MemoryContextSwitchTo(old);
	sw->no_slot = false;
	if (sw->handle)
		pfree(sw->handle);
	sw->handle = handle;
}

/* Is the worker of sw running (its pid), about to (-1), or not (0)? */
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

/* Workers of servers no longer tracked are stopped. */
static void
stop_untracked(List *names)
{
	List	   *keep = NIL;
	ListCell   *lc;

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
}

/* Every tracked server has a running worker; woken, they poll now. */
static void
reconcile_workers(List *names, bool wake)
{
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	stop_untracked(names);
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

/* One round: the tracked servers as of now, their workers reconciled (woken). */
static void
launcher_round(bool wake)
{
	MemoryContextReset(collector_cycle_cxt);
	MemoryContextSwitchTo(collector_cycle_cxt);
	PG_TRY();
	{
		reconcile_workers(collector_tracked_servers(false), wake);
	}
	PG_CATCH();
	{
		raydar_worker_recover(collector_cycle_cxt, true);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(collector_cycle_cxt);
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

	collector_cycle_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector launcher",
												ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			rc;

		launcher_round(false);

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
		/* Pass a wake on: the tracked servers as of now, polled now. */
		if (rc & WL_LATCH_SET)
			launcher_round(true);
	}
}
