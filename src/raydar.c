/*
 * raydar.c
 *		Module entry point and SQL functions over the decoding core.
 *
 * _PG_init does no network or thread work: under shared_preload_libraries
 * it runs in the postmaster, which forks every backend: a thread or
 * socket made there would be shared, broken, by all of them.
 */
#include "raydar.h"

#include "access/toast_compression.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "ray_tasks.h"
#include "ray_version.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(raydar_build_info);
PG_FUNCTION_INFO_V1(raydar_decode_task_events);

/*
 * The core's interrupt check (ray_status.h) and the waits in ray_grpc.c:
 * cancel, statement_timeout and shutdown are pending. Only flags are read;
 * the caller raises the error once the core has freed what it built.
 */
bool
raydar_backend_interrupted(void *arg)
{
	return QueryCancelPending || ProcDiePending;
}

/*
 * Register one of raydar's workers started by the postmaster (under
 * shared_preload_libraries): each connects to a database and starts once
 * recovery is over; restart_s is how long after a crash it is restarted.
 */
void
raydar_register_worker(const char *function, const char *name, int restart_s)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_s;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "raydar");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	RegisterBackgroundWorker(&worker);
}

/*
 * The TOAST compression of the rows a worker writes: lz4 where the server
 * has it and its default is still PostgreSQL's own (pglz). History rows
 * over 2 kB are compressed as they are written, and their daily partitions
 * are made LIKE the parent without a compression of their own, so the
 * writer's default_toast_compression decides; pglz_compress was 4.7% of
 * the push merger's time (docs/performance.md). Readers decompress either.
 */
void
raydar_worker_prefer_lz4(void)
{
#ifdef USE_LZ4
	if (default_toast_compression == TOAST_PGLZ_COMPRESSION)
		SetConfigOption("default_toast_compression", "lz4", PGC_USERSET, PGC_S_SESSION);
#endif
}

void
_PG_init(void)
{
	ray_set_interrupt_check(raydar_backend_interrupted, NULL);
	raydar_convert_init();
	raydar_source_dashboard_init();
	/*
	 * GUCs, and the workers when preloaded (they start no threads). The
	 * scraper's GUCs first: the collector reserves the "raydar" prefix.
	 */
	raydar_metrics_scraper_init();
	raydar_event_receiver_init();
	raydar_collector_init();
}

Datum
raydar_build_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char		since[16];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(RAYDAR_VERSION);
	values[1] = CStringGetTextDatum(protobuf_c_version());
	values[2] = CStringGetTextDatum(ray_fact_since(RAY_FACT_SUPPORTED, since, sizeof(since)));
	values[3] = CStringGetTextDatum(psprintf("%s {predicate, value} task filters",
											 ray_fact_since(RAY_FACT_PREDICATE_FILTERS, since, sizeof(since))));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * raydar.decode_task_events(reply bytea, ray_version text): the decoding
 * core as a set-returning function.
 */
Datum
raydar_decode_task_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *reply = PG_GETARG_BYTEA_PP(0);
	char	   *version_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
	RayVersion	version;
	ProtobufCAllocator alloc;
	RayTaskReply *r;
	RayStatus	st;
	char		err[256];
	RayBuf		scratch;
	const RaydarColumn **cols;
	Datum	   *values;
	bool	   *nulls;
	int			natts;

	if (!ray_version_parse(version_text, &version))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a Ray version", version_text),
				 errhint("Use the form major.minor[.patch], for example 2.40.0.")));

	InitMaterializedSRF(fcinfo, 0);
	raydar_reset_out_of_range();
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	st = ray_task_reply_index((const uint8_t *) VARDATA_ANY(reply),
							  VARSIZE_ANY_EXHDR(reply), &version, &alloc, &r,
							  err, sizeof(err));
	raydar_report_core_error(st, "decoding a GetTaskEventsReply", err);
	if (r->status_code != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("Ray answered with status %d: %s", r->status_code,
						r->status_message)));

	/* Each output column is the tasks table's column of that name. */
	natts = rsinfo->setDesc->natts;
	cols = palloc(sizeof(RaydarColumn *) * natts);
	values = palloc(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	for (int c = 0; c < natts; c++)
	{
		const char *name = NameStr(TupleDescAttr(rsinfo->setDesc, c)->attname);

		cols[c] = raydar_find_column(raydar_task_columns, name);
		if (cols[c] == NULL)
			elog(ERROR, "decode_task_events has no tasks column \"%s\"", name);
	}
	ray_buf_init(&scratch, &alloc);
	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *row;

		st = ray_task_reply_row(r, i, &row, err, sizeof(err));
		raydar_report_core_error(st, "decoding a GetTaskEventsReply", err);
		for (int c = 0; c < natts; c++)
		{
			nulls[c] = false;
			values[c] = cols[c]->get(r, row, &scratch, &nulls[c]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ray_buf_free(&scratch);
	ray_task_reply_free(r);
	raydar_report_out_of_range("the reply");
	return (Datum) 0;
}
