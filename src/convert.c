/*
 * convert.c
 *		Ray values to PostgreSQL Datums, and core errors to ereports.
 */
#include "raydar.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

/* Unix ms -> timestamptz (PostgreSQL counts us from 2000-01-01). */
TimestampTz
raydar_ms_to_timestamptz(int64 ms)
{
	return (TimestampTz) (ms * 1000 -
						  (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

/* The core's JSON text is valid jsonb input by construction. */
Datum
raydar_json_to_jsonb(const char *json, size_t len)
{
	(void) len;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

void
raydar_report_core_error(RayStatus st, const char *what, const char *msg)
{
	switch (st)
	{
		case RAY_OK:
			return;
		case RAY_ERR_OOM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while %s", what),
					 errdetail("%s", msg)));
			break;
		case RAY_ERR_MALFORMED:
		case RAY_ERR_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("Ray sent a reply raydar cannot read while %s", what),
					 errdetail("%s", msg),
					 errhint("Check that the address is a Ray GCS and that ray_version matches the cluster.")));
			break;
		case RAY_ERR_BAD_ID:
		case RAY_ERR_UNSUPPORTED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot %s", what),
					 errdetail("%s", msg)));
			break;
	}
}
