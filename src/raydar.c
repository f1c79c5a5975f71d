/*
 * raydar.c
 *		Module entry point and SQL functions over the decoding core.
 *
 * _PG_init does no network or thread work: under shared_preload_libraries
 * it runs in the postmaster, which forks every backend: a thread or
 * socket made there would be shared, broken, by all of them.
 */
#include "raydar.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "ray_enums.h"
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

void
_PG_init(void)
{
	ray_set_interrupt_check(raydar_backend_interrupted, NULL);
	raydar_convert_init();
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

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(RAYDAR_VERSION);
	values[1] = CStringGetTextDatum(protobuf_c_version());
	values[2] = CStringGetTextDatum("2.9");
	values[3] = CStringGetTextDatum("2.41 {predicate, value} task filters");
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

	ray_buf_init(&scratch, &alloc);
	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *row;
		Datum		values[14];
		bool		nulls[14];
		char		nb[RAY_ENUM_NAME_MAX];

		st = ray_task_reply_row(r, i, &row, err, sizeof(err));
		raydar_report_core_error(st, "decoding a GetTaskEventsReply", err);
		memset(nulls, 0, sizeof(nulls));
		values[0] = raydar_id_datum(&row->task_id, &scratch, &nulls[0]);
		values[1] = Int32GetDatum(row->attempt_number);
		values[2] = raydar_nullable_text(row->name, &nulls[2]);
		values[3] = CStringGetTextDatum(ray_task_state_text(r, row, nb));
		values[4] = raydar_id_datum(&row->job_id, &scratch, &nulls[4]);
		values[5] = CStringGetTextDatum(ray_task_type_text(row, nb));
		values[6] = raydar_nullable_text(ray_task_error_type_text(r, row, nb), &nulls[6]);
		values[7] = raydar_nullable_text(row->error_message, &nulls[7]);
		values[8] = raydar_nullable_time(row->has_creation_ms, row->creation_ms, &nulls[8]);
		values[9] = raydar_nullable_time(row->has_start_ms, row->start_ms, &nulls[9]);
		values[10] = raydar_nullable_time(row->has_end_ms, row->end_ms, &nulls[10]);
		ray_buf_reset(&scratch);
		ray_task_json_events(r, row, &scratch);
		values[11] = raydar_buf_jsonb(&scratch);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ray_buf_free(&scratch);
	ray_task_reply_free(r);
	raydar_report_out_of_range("the reply");
	return (Datum) 0;
}
