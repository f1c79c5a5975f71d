/*
 * collector_status.c
 *		What the collector tells: raydar.collector_status (one row per
 *		tracked server), raydar.collector_errors (the newest messages) and
 *		NOTIFY raydar_progress.
 *
 * A successful poll's status is written in the poll's write transaction
 * (collector_poll.c, the "publish" phase), so the status never claims
 * rows that were not committed; a failed poll's in a transaction of its
 * own, after the failed one was aborted.
 */
#include "raydar.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/snapmgr.h"

#include "collector.h"

/* Bound on raydar.collector_errors. */
#define ERRORS_KEPT 1000

/* Add a row to collector_errors, keeping the newest; inside a transaction with SPI. */
void
collector_record_error(const char *server, const char *message)
{
	Datum		args[2];
	Oid			types[2] = {TEXTOID, TEXTOID};

	args[0] = CStringGetTextDatum(server);
	args[1] = CStringGetTextDatum(message);
	if (SPI_execute_with_args("INSERT INTO raydar.collector_errors (server, message) VALUES ($1, $2)",
							  2, types, args, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute("DELETE FROM raydar.collector_errors WHERE id <= "
					"(SELECT max(id) FROM raydar.collector_errors) - " CppAsString2(ERRORS_KEPT),
					false, 0) != SPI_OK_DELETE)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write to raydar.collector_errors")));
}

/*
 * A successful poll: its counts, in the caller's transaction (with SPI).
 * Failures in a row reset; the lag is that of the newest attempt written,
 * kept from an earlier poll when this one wrote nothing.
 */
void
collector_record_success(const CollectorPollResult *res)
{
	Datum		args[10];
	Oid			types[10] = {TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, INT8OID,
	TEXTOID, INT4OID, INT8OID, TEXTOID};
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	TimestampTz newest_end = 0;

	args[0] = CStringGetTextDatum(res->server);
	args[1] = Int64GetDatum((int64) res->inserted);
	args[2] = Int64GetDatum(res->dropped);
	if (!raydar_ms_to_timestamptz(res->newest_end_ms, &newest_end))
		nulls[3] = 'n';
	args[3] = TimestampTzGetDatum(newest_end);
	args[4] = BoolGetDatum(res->inserted > 0);
	args[5] = Int64GetDatum(res->vanished);
	args[6] = CStringGetTextDatum(res->incarnation);
	args[7] = Int32GetDatum(collector_poll_ms);
	args[8] = Int64GetDatum(res->cap_hidden);
	if (res->warning == NULL)
		nulls[9] = 'n';
	else
		args[9] = CStringGetTextDatum(res->warning);
	if (SPI_execute_with_args("UPDATE raydar.collector_status SET last_poll_at = now(), "
							  "last_success_at = now(), consecutive_failures = 0, "
							  "tasks_ingested = tasks_ingested + $2, dropped_reported = $3, "
							  "vanished = vanished + $6, "
							  "lag = CASE WHEN $5 THEN now() - $4 ELSE lag END, last_error = NULL, "
							  "incarnation_since = CASE WHEN incarnation IS DISTINCT FROM $7 "
							  "THEN now() ELSE incarnation_since END, incarnation = $7, backoff = NULL, "
							  "next_poll_at = now() + make_interval(secs => $8 / 1000.0), "
							  "cap_hidden = $9, last_warning = $10 "
							  "WHERE server = $1", 10, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not update raydar.collector_status")));
}

/*
 * A failed poll: counted in collector_status with the backoff before the
 * next one (delay_ms); written to collector_errors only when its message
 * is new (a server down for an hour is one row, not one per poll). In a
 * transaction of its own.
 */
void
collector_record_failure(const char *server, const char *message, bool is_new, int delay_ms)
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
		collector_record_error(server, message);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* The launcher found no worker slot for a server: its status says so. */
void
collector_record_no_slot(const char *server)
{
	Datum		args[1];
	Oid			types[1] = {TEXTOID};

	ereport(LOG,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("no background worker slot is free for the raydar collector of server \"%s\"",
					server),
			 errhint("Raise max_worker_processes: the collector needs one worker per tracked server, plus one.")));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	args[0] = CStringGetTextDatum(server);
	SPI_execute_with_args("UPDATE raydar.collector_status SET last_error = "
						  "'no background worker is free to poll this server: raise max_worker_processes "
						  "(one per tracked server, plus one) and restart PostgreSQL' WHERE server = $1",
						  1, types, args, NULL, false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
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

/* The distinct job ids of the rows at positions; false past max. */
static bool
distinct_jobs(const RayTaskReply *keys, List *positions, RayId *jobs, int *njobs, int max)
{
	ListCell   *lc;

	foreach(lc, positions)
	{
		const RayId *job = &keys->rows[lfirst_int(lc)].job_id;
		int			j;

		if (job->len == 0)
			continue;
		for (j = 0; j < *njobs; j++)
			if (jobs[j].len == job->len && memcmp(jobs[j].data, job->data, job->len) == 0)
				break;
		if (j < *njobs)
			continue;
		if (*njobs == max)
			return false;
		jobs[(*njobs)++] = *job;
	}
	return true;
}

void
collector_notify_progress(const char *name, const RayTaskReply *keys, List *fresh, List *live)
{
	StringInfoData msg;
	RayId		jobs[MAX_NOTIFY_JOBS];
	int			njobs = 0;
	bool		all;
	RayBuf		hex;
	ProtobufCAllocator alloc;

	all = !distinct_jobs(keys, fresh, jobs, &njobs, MAX_NOTIFY_JOBS) ||
		!distinct_jobs(keys, live, jobs, &njobs, MAX_NOTIFY_JOBS);
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
