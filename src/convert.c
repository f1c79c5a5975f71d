/*
 * convert.c
 *		Ray values to PostgreSQL Datums, and core errors to ereports.
 */
#include "raydar.h"

#include "fmgr.h"
#include "common/int.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "ray_buf.h"
#include "utils/timestamp.h"

/*
 * Values from Ray that PostgreSQL's types cannot hold (a time past year
 * 294276, a count past int32) become NULL, never an invalid Datum: one
 * stored invalid timestamptz makes its table unreadable and pg_dump fail.
 * Each is counted, and the scan or poll reports the count in one WARNING
 * (raydar_report_out_of_range) rather than one per value.
 */
static int64 out_of_range_count = 0;
static char out_of_range_first[128];

void
raydar_count_out_of_range(const char *what, const char *value)
{
	if (out_of_range_count++ == 0)
		snprintf(out_of_range_first, sizeof(out_of_range_first), "%s = %s", what, value);
}

void
raydar_reset_out_of_range(void)
{
	out_of_range_count = 0;
}

int64
raydar_report_out_of_range(const char *source)
{
	int64		n = out_of_range_count;

	if (n > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg_plural("%lld value from %s was out of range and was read as NULL",
							   "%lld values from %s were out of range and were read as NULL",
							   n, (long long) n, source),
				 errdetail("The first was %s.", out_of_range_first)));
	out_of_range_count = 0;
	return n;
}

/*
 * Unix ms -> timestamptz (PostgreSQL counts us from 2000-01-01). False when
 * the time is outside what timestamptz can hold.
 */
bool
raydar_ms_to_timestamptz(int64 ms, TimestampTz *out)
{
	int64		us;

	if (pg_mul_s64_overflow(ms, 1000, &us) ||
		pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
							&us) ||
		!IS_VALID_TIMESTAMP(us))
		return false;
	*out = (TimestampTz) us;
	return true;
}

/*
 * Ray's strings are UTF-8 by contract, but nothing on the wire enforces it.
 * Invalid sequences become U+FFFD (never an error: one bad task name must
 * not hide the whole cluster), then the text is converted to the database
 * encoding, which errors only for characters that encoding cannot hold.
 */
static char *
utf8_to_server(const char *s, size_t len, size_t *outlen)
{
	char	   *res = (char *) s;

	if (!ray_utf8_valid(s, len))
	{
		RayBuf		b;

		ray_buf_init(&b, NULL);
		ray_buf_utf8_sanitize(&b, s, len);
		if (b.oom)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		res = pnstrdup(b.data, b.len);
		len = b.len;
		ray_buf_free(&b);
	}
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		res = pg_any_to_server(res, (int) len, PG_UTF8);
		len = strlen(res);
	}
	*outlen = len;
	return res;
}

/* A string as the database stores it (sanitized and converted). */
const char *
raydar_server_string(const char *s, size_t len, size_t *outlen)
{
	return utf8_to_server(s, len, outlen);
}

Datum
raydar_text_datum(const char *s)
{
	size_t		len;
	char	   *conv = utf8_to_server(s, strlen(s), &len);

	return PointerGetDatum(cstring_to_text_with_len(conv, (int) len));
}

/* Bytes as a bytea (ids, packed protobuf): a copy in the current context. */
Datum
raydar_bytea_datum(const void *p, size_t n)
{
	bytea	   *b = palloc(VARHDRSZ + n);

	SET_VARSIZE(b, VARHDRSZ + n);
	if (n > 0)
		memcpy(VARDATA(b), p, n);
	return PointerGetDatum(b);
}

/* A one-dimensional array of elem (nulls may be NULL): an SPI argument. */
Datum
raydar_array_datum(Datum *d, bool *nulls, int n, Oid elem)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		byval;
	char		align;

	get_typlenbyvalalign(elem, &typlen, &byval, &align);
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, elem, typlen, byval, align));
}

/* The core's JSON text is UTF-8 and valid jsonb input by construction. */
Datum
raydar_json_to_jsonb(const char *json, size_t len)
{
	size_t		outlen;
	char	   *conv = utf8_to_server(json, len, &outlen);

	return DirectFunctionCall1(jsonb_in, CStringGetDatum(conv));
}

/* Hex of an ID; absent or empty is NULL, as Ray shows it. */
Datum
raydar_hex_datum(const uint8_t *data, size_t len, RayBuf *s, bool *isnull)
{
	if (data == NULL || len == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	ray_buf_reset(s);
	ray_buf_hex(s, data, len);
	if (s->oom)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	return PointerGetDatum(cstring_to_text_with_len(s->data, (int) s->len));
}

Datum
raydar_id_datum(const RayId *id, RayBuf *s, bool *isnull)
{
	return raydar_hex_datum(id->data, id->len, s, isnull);
}

Datum
raydar_nullable_text(const char *v, bool *isnull)
{
	if (v == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return raydar_text_datum(v);
}

/* A time from Ray, in unix ms: NULL when absent or out of range (counted). */
Datum
raydar_nullable_time(bool has, int64 ms, bool *isnull)
{
	TimestampTz t;

	*isnull = true;
	if (!has)
		return (Datum) 0;
	if (!raydar_ms_to_timestamptz(ms, &t))
	{
		char		v[32];

		snprintf(v, sizeof(v), INT64_FORMAT, ms);
		raydar_count_out_of_range("a time in unix milliseconds", v);
		return (Datum) 0;
	}
	*isnull = false;
	return TimestampTzGetDatum(t);
}

/*
 * A small cache of jsonb values by their text. Columns such as
 * required_resources are the same few maps on every row ({"CPU": 1}), and
 * jsonb_in is the costly part of making them.
 *
 * Ownership: the cache owns its entries, in its own context, and nobody
 * else ever points into it: a hit hands out a copy made in the caller's
 * CurrentMemoryContext, so every value lives exactly as long as the memory
 * of the row or batch that asked for it. The cache may therefore empty
 * itself whenever it is full, even while callers keep a whole batch of
 * values (the collector does). Copying a jsonb of a few dozen bytes costs
 * far less than parsing it.
 */
#define JCACHE_SLOTS 64
#define JCACHE_MAX_TEXT 512

typedef struct JsonbCacheEntry
{
	char	   *text;
	size_t		len;
	Datum		value;
} JsonbCacheEntry;

static MemoryContext jcache_cxt = NULL;
static JsonbCacheEntry jcache[JCACHE_SLOTS];
static int	jcache_n = 0;

/* raydar.jsonb_cache_entries: tests force it small to churn the cache. */
static int	jcache_limit = JCACHE_SLOTS;

void
raydar_convert_init(void)
{
	DefineCustomIntVariable("raydar.jsonb_cache_entries",
							"Number of distinct small jsonb values each backend keeps parsed.",
							"A developer setting: 0 turns the cache off; tests set it low "
							"so that entries are replaced all the time.",
							&jcache_limit, JCACHE_SLOTS, 0, JCACHE_SLOTS, PGC_USERSET,
							GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
}

/* The JSON text in s as jsonb, allocated in CurrentMemoryContext. */
Datum
raydar_buf_jsonb(RayBuf *s)
{
	const char *text = s->data ? s->data : "null";
	size_t		len = s->data ? s->len : 4;
	Datum		d;
	MemoryContext old;

	if (s->oom)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (len > JCACHE_MAX_TEXT || jcache_limit == 0)
		return raydar_json_to_jsonb(text, len);
	for (int i = 0; i < jcache_n; i++)
		if (jcache[i].len == len && memcmp(jcache[i].text, text, len) == 0)
			return datumCopy(jcache[i].value, false, -1);

	d = raydar_json_to_jsonb(text, len);
	if (jcache_cxt == NULL)
		jcache_cxt = AllocSetContextCreate(TopMemoryContext, "raydar jsonb cache",
										   ALLOCSET_SMALL_SIZES);
	if (jcache_n >= jcache_limit)
	{
		/* Full: start over (no pointer into the cache exists outside it). */
		MemoryContextReset(jcache_cxt);
		jcache_n = 0;
	}
	old = MemoryContextSwitchTo(jcache_cxt);
	jcache[jcache_n].text = pnstrdup(text, len);
	jcache[jcache_n].len = len;
	jcache[jcache_n].value = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	/* Counted only once the entry is whole: an error above leaves no half entry. */
	jcache_n++;
	return d;
}

/* ---- jsonb built directly, without printing and re-parsing JSON text ---- */

void
raydar_jbv_string(JsonbValue *v, const char *s)
{
	size_t		len;
	const char *conv = utf8_to_server(s ? s : "", s ? strlen(s) : 0, &len);

	v->type = jbvString;
	v->val.string.val = (char *) conv;
	v->val.string.len = (int) len;
}

void
raydar_jbv_int64(JsonbValue *v, int64 i)
{
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(i);
}

/* Through the same shortest round-trip text as the JSON writer. */
void
raydar_jbv_double(JsonbValue *v, double d)
{
	RayBuf		b;
	char		tmp[64];

	ray_buf_init(&b, NULL);
	ray_buf_json_double(&b, d);
	strlcpy(tmp, b.data ? b.data : "null", sizeof(tmp));
	ray_buf_free(&b);
	if (strcmp(tmp, "null") == 0)
	{
		v->type = jbvNull;
		return;
	}
	v->type = jbvNumeric;
	v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(tmp),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
}

void
raydar_jbv_key(JsonbParseState **ps, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = (int) strlen(key);
	pushJsonbValue(ps, WJB_KEY, &k);
}
