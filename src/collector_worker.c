/*
 * collector_worker.c
 *		A per-server collector worker: polls one tracked server on its own
 *		schedule, so a slow, failing or unreachable cluster delays only
 *		itself.
 *
 * The loop is worker_spi's: wait on the latch until the next poll is due
 * (or raydar.track() wakes it through the launcher), reload the settings
 * on SIGHUP, check that its server is still tracked, poll it
 * (collector_poll.c). One bad poll does not stop it: the error is caught,
 * the transaction aborted, and the failure recorded (collector_status.c);
 * failures in a row back the next poll off. SIGTERM stops it (die); it
 * exits by itself when its server is no longer tracked.
 */
#include "raydar.h"

#include <malloc.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "collector.h"

PGDLLEXPORT void raydar_collector_server_main(Datum arg);

/*
 * After failures in a row, the wait before the next poll: the interval,
 * doubled per failure, at most a minute (or the interval, if longer).
 */
#define BACKOFF_CAP_MS 60000

int
collector_backoff_ms(int failures)
{
	int64		d = collector_poll_ms;

	for (int i = 0; i < failures && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	return (int) Max(Min(d, BACKOFF_CAP_MS), collector_poll_ms);
}

/* This worker's last error message: a failure that repeats it is not logged again. */
static char *last_failure = NULL;

/* A failed poll, caught: logged when its message is new, recorded, forgiven. */
static void
poll_failed(const char *name, ErrorData *edata, int failures_before)
{
	bool		is_new = last_failure == NULL || strcmp(last_failure, edata->message) != 0;

	if (is_new)
	{
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("the raydar collector could not poll server \"%s\": %s", name, edata->message),
				 errdetail("Failures in a row with this message are counted in raydar.collector_status, not logged again.")));
		if (last_failure)
			pfree(last_failure);
		last_failure = MemoryContextStrdup(TopMemoryContext, edata->message);
	}
	/* Whatever went wrong, the next poll writes with ON CONFLICT again. */
	collector_set_verified(name, false);
	collector_record_failure(name, edata->message, is_new,
							 collector_backoff_ms(failures_before + 1));
}

/*
 * One poll of the server; false if it failed (the error is recorded, the
 * transaction aborted).
 */
static bool
poll_one(const char *name, int failures_before)
{
	MemoryContext ccxt = CurrentMemoryContext;
	bool		ok = true;

	PG_TRY();
	{
		collector_poll_server(name);
	}
	PG_CATCH();
	{
		ErrorData  *edata = raydar_worker_recover(ccxt, false);

		poll_failed(name, edata, failures_before);
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

/* Is name still tracked? Also brings the worker's memory in line. */
static bool
still_tracked(const char *name, bool *known)
{
	volatile bool tracked = false;

	*known = true;
	PG_TRY();
	{
		ListCell   *lc;

		foreach(lc, collector_tracked_servers(true))
			if (strcmp((char *) lfirst(lc), name) == 0)
				tracked = true;
	}
	PG_CATCH();
	{
		raydar_worker_recover(collector_cycle_cxt, true);
		*known = false;
	}
	PG_END_TRY();
	return tracked;
}

/* The process's setup: signals, database, memory. */
static void
worker_start(const char *name)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(collector_database, NULL, 0);
	pgstat_report_appname(psprintf("raydar collector %s", name));
	raydar_worker_prefer_lz4();

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

	collector_cycle_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector poll",
												ALLOCSET_DEFAULT_SIZES);
	collector_seen_init();
}

/*
 * The worker's main function; its server's name is in bgw_extra. Polls
 * start every poll_interval, counted from the start of the last one, not
 * from its end: a poll that took 600 ms of a 1 s interval is followed
 * 400 ms later, so the lag stays near the interval under load (a poll that
 * overran is followed at once). After failures the wait doubles up to a
 * minute (collector_backoff_ms), and resets on success.
 */
void
raydar_collector_server_main(Datum arg)
{
	char		name[NAMEDATALEN];
	TimestampTz next_poll;
	int			failures = 0;

	strlcpy(name, MyBgworkerEntry->bgw_extra, sizeof(name));
	worker_start(name);
	next_poll = GetCurrentTimestamp();	/* a new server is polled at once */
	for (;;)
	{
		long		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_poll);
		int			rc = 0;
		bool		woken;
		bool		known;
		TimestampTz start;

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

		MemoryContextReset(collector_cycle_cxt);
		MemoryContextSwitchTo(collector_cycle_cxt);
		if (!still_tracked(name, &known))
		{
			if (!known)
				continue;		/* could not tell: the error is logged, try again */
			proc_exit(0);		/* untracked: the launcher starts none again */
		}
		MemoryContextSwitchTo(collector_cycle_cxt);
		if (poll_one(name, failures))
			failures = 0;
		else
		{
			/* Backoff counts from the end of the failed poll: a wait, not a rate. */
			failures++;
			next_poll = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													collector_backoff_ms(failures));
		}
		MemoryContextSwitchTo(TopMemoryContext);
	}
}
