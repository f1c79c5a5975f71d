/*
 * raydar.c
 *		Module entry point and SQL functions over the decoding core.
 *
 * _PG_init does no network or thread work: under shared_preload_libraries
 * it runs in the postmaster, which forks every backend (see
 * shared/pg-extension-engineering.md, rule R1).
 */
#include "raydar.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "ray_enums.h"
#include "ray_tasks.h"
#include "ray_version.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(raydar_build_info);
PG_FUNCTION_INFO_V1(raydar_decode_task_events);

void
_PG_init(void)
{
	/* Nothing to set up yet; the FDW and collector register here. */
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

static Datum
id_datum(const RayId *id, bool *isnull, RayBuf *scratch)
{
	if (id->len == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	ray_buf_reset(scratch);
	ray_buf_hex(scratch, id->data, id->len);
	return PointerGetDatum(cstring_to_text_with_len(scratch->data, (int) scratch->len));
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	if (s == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return raydar_text_datum(s);
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
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	st = ray_task_reply_decode((const uint8_t *) VARDATA_ANY(reply),
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
		const RayTaskRow *row = &r->rows[i];
		Datum		values[14];
		bool		nulls[14];
		char		nb[RAY_ENUM_NAME_MAX];

		memset(nulls, 0, sizeof(nulls));
		values[0] = id_datum(&row->task_id, &nulls[0], &scratch);
		values[1] = Int32GetDatum(row->ev->attempt_number);
		values[2] = text_or_null(row->name, &nulls[2]);
		values[3] = CStringGetTextDatum(ray_task_state_text(r, row, nb));
		values[4] = id_datum(&row->job_id, &nulls[4], &scratch);
		values[5] = CStringGetTextDatum(ray_task_type_text(row, nb));
		values[6] = text_or_null(ray_task_error_type_text(row, nb), &nulls[6]);
		values[7] = text_or_null(row->error_message, &nulls[7]);
		nulls[8] = !row->has_creation_ms;
		values[8] = TimestampTzGetDatum(raydar_ms_to_timestamptz(row->creation_ms));
		nulls[9] = !row->has_start_ms;
		values[9] = TimestampTzGetDatum(raydar_ms_to_timestamptz(row->start_ms));
		nulls[10] = !row->has_end_ms;
		values[10] = TimestampTzGetDatum(raydar_ms_to_timestamptz(row->end_ms));
		ray_buf_reset(&scratch);
		ray_task_json_events(r, row, &scratch);
		if (scratch.oom)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		values[11] = raydar_json_to_jsonb(scratch.data, scratch.len);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ray_buf_free(&scratch);
	ray_task_reply_free(r);
	return (Datum) 0;
}
