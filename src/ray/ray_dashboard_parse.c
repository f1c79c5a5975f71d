/*
 * ray_dashboard_parse.c
 *		State API JSON -> GetTaskEventsReply: the inverse of Ray's
 *		protobuf_to_task_state_dict, so both transports share one decoder.
 *
 * What the inverse has to get right, field by field (the forward rules are
 * in test/fixtures/ray-wire/README.md and src/ray/ray_tasks.c):
 *  - events [{state, created_ms}] become state_ts_ns entries; created_ms is
 *    `ns // 1e6`, so ns = created_ms * 1e6 + 500,000 (mid-millisecond)
 *    floors back to the same ms whatever the double rounding of ns;
 *  - state and the *_time_ms keys are derived from the events on both
 *    sides, so they are not read;
 *  - profile times are `ns / 1e6` as doubles: the ns chosen is one that
 *    divides back to exactly the double Ray sent;
 *  - extra_data was parsed by Ray; it goes back as its JSON text, which the
 *    row renderer then emits unchanged;
 *  - the name is already renamed for actor tasks; renaming is idempotent,
 *    so passing actor_repr_name along (when Ray sends it) changes nothing.
 *    Ray's TaskState has no actor_repr_name, so it is read back from a
 *    renamed name, "<repr>.<method>" (infer_repr_name);
 *  - enum names go back to numbers of the server's version; a decimal name
 *    (a number Ray did not know) goes back to that number;
 *  - error_type / error_message exist only for FAILED attempts on both
 *    sides, and node_id / worker_id are the attempt's.
 * A key that is absent or null is the field absent, as in the protobuf.
 */
#include "ray_dashboard_parse.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ray_arena.h"
#include "ray_buf.h"
#include "ray_cluster.h"
#include "ray_enums.h"
#include "ray_gcs.pb-c.h"
#include "ray_json_read.h"
#include "ray_tasks.h"

/* Everything the conversion allocates, freed together. */
struct RayStateReprs
{
	size_t		n;
	char	  **ids;			/* hex actor ids, sorted */
	char	  **reprs;
};

typedef struct Conv
{
	RayArena	arena;
	const RayVersion *v;
	const RayStateReprs *reprs;
	char	   *err;
	size_t		errlen;
	bool		oom;
	size_t		row;			/* 1-based, for messages */
	RayStateCounters *k;		/* where odd values are counted */
	ProtobufCAllocator *alloc;	/* the caller's, for k->cells */
} Conv;

static void fail(Conv *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
fail(Conv *c, const char *fmt,...)
{
	va_list		ap;
	int			n = 0;

	if (c->row > 0)
		n = snprintf(c->err, c->errlen, "row %zu: ", c->row);
	if (n < 0 || (size_t) n >= c->errlen)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
}

/* Odd cells live in the caller's allocator (its memory context) or malloc. */
static void *
cells_alloc(ProtobufCAllocator *alloc, size_t n)
{
	return alloc ? alloc->alloc(alloc->allocator_data, n) : malloc(n);
}

static void
cells_free(ProtobufCAllocator *alloc, void *p)
{
	if (p == NULL)
		return;
	if (alloc)
		alloc->free(alloc->allocator_data, p);
	else
		free(p);
}

static bool
cells_push(RayStateCounters *k, ProtobufCAllocator *alloc, uint32_t row, const char *key)
{
	if (k->ncells == k->capcells)
	{
		size_t		cap = k->capcells ? 2 * k->capcells : 16;
		RayStateOddCell *nc = cells_alloc(alloc, cap * sizeof(RayStateOddCell));

		if (nc == NULL)
			return false;
		if (k->ncells > 0)
			memcpy(nc, k->cells, k->ncells * sizeof(RayStateOddCell));
		cells_free(alloc, k->cells);
		k->cells = nc;
		k->capcells = cap;
	}
	k->cells[k->ncells].row = row;
	snprintf(k->cells[k->ncells].key, sizeof(k->cells[k->ncells].key), "%s", key);
	k->ncells++;
	return true;
}

static void
record_cell(Conv *c, RayStateCounters *k, uint32_t row, const char *key)
{
	if (!cells_push(k, c->alloc, row, key))
		c->oom = true;
}

/*
 * A value of one field that raydar cannot read (a type or range the
 * protobuf JSON mapping does not allow, an enum name this build does not
 * know): the field is left absent, so it shows NULL, and the value is
 * counted for one WARNING per scan. Always returns true (keep reading).
 */
static bool odd(Conv *c, const char *key, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static bool
odd(Conv *c, const char *key, const char *fmt,...)
{
	va_list		ap;
	RayStateCounters *k = c->k;
	int			n = 0;

	if (k == NULL)
		return true;
	if (c->row > 0)
		record_cell(c, k, (uint32_t) (c->row - 1), key);
	if (k->nodd++ > 0)
		return !c->oom;
	if (c->row > 0)
		n = snprintf(k->odd, sizeof(k->odd), "row %zu: ", c->row);
	if (n < 0 || (size_t) n >= sizeof(k->odd))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(k->odd + n, sizeof(k->odd) - n, fmt, ap);
	va_end(ap);
	return !c->oom;
}

static void *
alloc0(Conv *c, size_t n)
{
	void	   *p = ray_arena_alloc(&c->arena, n);

	if (p == NULL)
		c->oom = true;
	else
		memset(p, 0, n);
	return p;
}

static char *
dup(Conv *c, const char *s)
{
	char	   *p = ray_arena_strndup(&c->arena, s, strlen(s));

	if (p == NULL)
		c->oom = true;
	return p;
}

/*
 * The tree being read lives in one arena (ray_json_parse_in): malloc and
 * free of cJSON's nodes was most of the time of a large body. One tree at
 * a time (no call here parses while another tree is alive); release()
 * drops it.
 */
static RayArena json_arena;

static void
release(cJSON *root)
{
	(void) root;
	ray_arena_free(&json_arena);
}

/* Parse with the limits; NULL with err set on any problem. */
static cJSON *
parse(const char *json, size_t len, char *err, size_t errlen, RayStatus *st)
{
	const char *end = NULL;
	cJSON	   *root;
	size_t		where = 0;
	bool		unclosed = false;
	bool		oom = false;

	*st = RAY_ERR_MALFORMED;
	if (json == NULL || len == 0)
	{
		snprintf(err, errlen, "empty response body where JSON was expected");
		return NULL;
	}
	if (len > RAY_STATE_JSON_MAX_BYTES)
	{
		*st = RAY_ERR_TOO_LARGE;
		snprintf(err, errlen, "response of %zu bytes exceeds the %zu-byte limit",
				 len, RAY_STATE_JSON_MAX_BYTES);
		return NULL;
	}
	if (!ray_json_depth_ok(json, len, RAY_STATE_JSON_MAX_DEPTH, &where, &unclosed))
	{
		snprintf(err, errlen, "JSON nested deeper than %d levels (at byte %zu)",
				 RAY_STATE_JSON_MAX_DEPTH, where);
		return NULL;
	}
	ray_arena_init(&json_arena, NULL);
	root = ray_json_parse_in(&json_arena, json, len, &end, &oom);
	if (root == NULL)
	{
		size_t		at = end && end >= json && end <= json + len ? (size_t) (end - json) : len;

		ray_arena_free(&json_arena);
		if (oom)
		{
			*st = RAY_ERR_OOM;
			snprintf(err, errlen, "out of memory reading %zu bytes of JSON", len);
		}
		else if (unclosed || at >= len)
			snprintf(err, errlen, "JSON truncated: the body (%zu bytes) ends inside a value", len);
		else
			snprintf(err, errlen, "invalid JSON at byte %zu of %zu", at, len);
		return NULL;
	}
	/* Only whitespace may follow the value. */
	if (end != NULL)
		while (end < json + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
			end++;
	if (end != NULL && end < json + len)
	{
		snprintf(err, errlen, "unexpected data after the JSON value at byte %zu of %zu",
				 (size_t) (end - json), len);
		release(root);
		return NULL;
	}
	*st = RAY_OK;
	return root;
}

/* ---- typed member access: absent and null are the same ----
 *
 * Each reader takes every form protobuf's JSON mapping allows for its
 * type. A value that is none of them is odd(): the field stays absent.
 */

static const cJSON *
member(const cJSON *obj, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);

	return (m == NULL || cJSON_IsNull(m)) ? NULL : m;
}

/* How a value looks in a message: a string's start, or its JSON type. */
static const char *
shown(const cJSON *m, char *buf, size_t n)
{
	if (cJSON_IsString(m))
		snprintf(buf, n, "\"%.40s\"", m->valuestring);
	else if (cJSON_IsNumber(m))
		snprintf(buf, n, "%.17g", m->valuedouble);
	else if (cJSON_IsBool(m))
		snprintf(buf, n, "%s", cJSON_IsTrue(m) ? "true" : "false");
	else
		snprintf(buf, n, "%s", cJSON_IsArray(m) ? "an array" : "an object");
	return buf;
}

static bool
get_string(Conv *c, const cJSON *obj, const char *key, char **out)
{
	const cJSON *m = member(obj, key);
	char		b[64];

	*out = NULL;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m))
		return odd(c, key, "\"%s\" is not a string: %s", key, shown(m, b, sizeof(b)));
	*out = dup(c, m->valuestring);
	return !c->oom;
}

/* A double, as a number or a string: "1.5", "NaN", "Infinity", "-Infinity". */
static bool
double_value(const cJSON *m, double *out)
{
	char	   *end;

	if (cJSON_IsNumber(m))
	{
		*out = m->valuedouble;
		return true;
	}
	if (!cJSON_IsString(m) || m->valuestring[0] == '\0' || m->valuestring[0] == ' ')
		return false;
	if (strcmp(m->valuestring, "NaN") == 0)
		*out = NAN;
	else if (strcmp(m->valuestring, "Infinity") == 0)
		*out = INFINITY;
	else if (strcmp(m->valuestring, "-Infinity") == 0)
		*out = -INFINITY;
	else
	{
		errno = 0;
		*out = strtod(m->valuestring, &end);
		/* strtod also reads "inf"/"nan", which the mapping spells differently */
		if (*end != '\0' || errno != 0 || !isfinite(*out))
			return false;
	}
	return true;
}

/*
 * An integer in [lo, hi] as the mapping writes int32/int64/uint64: a JSON
 * number without a fraction, or a string of one ("-5", "18446744073709551615",
 * "1e3"). *bits holds the value as two's complement. A number beyond 2^53
 * arrives already rounded by the JSON number type; Ray sends 64-bit values
 * as strings, which are exact.
 */
static bool
int_value(const cJSON *m, int64_t lo, uint64_t hi, uint64_t *bits)
{
	double		d;

	if (cJSON_IsString(m))
	{
		const char *s = m->valuestring;
		char	   *end;

		if (s[0] == '\0' || isspace((unsigned char) s[0]))
			return false;
		errno = 0;
		if (s[0] == '-')
		{
			long long	v = strtoll(s, &end, 10);

			if (*end == '\0' && errno == 0)
			{
				*bits = (uint64_t) v;
				return v >= lo;
			}
		}
		else
		{
			unsigned long long v = strtoull(s, &end, 10);

			if (*end == '\0' && errno == 0)
			{
				*bits = v;
				return v <= hi;
			}
		}
		/* exponent or fraction form: "1e3", "5.0" */
		if (!double_value(m, &d))
			return false;
	}
	else if (cJSON_IsNumber(m))
		d = m->valuedouble;
	else
		return false;
	if (!isfinite(d) || d != floor(d))
		return false;
	if (d < 0)
	{
		if (d < (double) lo || d < -9223372036854775808.0)
			return false;
		*bits = (uint64_t) (int64_t) d;
		return true;
	}
	if (d >= 18446744073709551616.0)
		return false;
	*bits = (uint64_t) d;
	return *bits <= hi && (lo >= 0 || *bits <= (uint64_t) INT64_MAX);
}

static bool
get_int(Conv *c, const cJSON *obj, const char *key, int64_t lo, int64_t hi,
		protobuf_c_boolean *has, int64_t *out)
{
	const cJSON *m = member(obj, key);
	uint64_t	bits;
	char		b[64];

	*has = 0;
	*out = 0;
	if (m == NULL)
		return true;
	if (!int_value(m, lo, (uint64_t) hi, &bits) || (int64_t) bits < lo || (int64_t) bits > hi)
		return odd(c, key, "\"%s\" is not an integer in [%lld, %lld]: %s", key,
				   (long long) lo, (long long) hi, shown(m, b, sizeof(b)));
	*has = 1;
	*out = (int64_t) bits;
	return true;
}

static bool
get_int32(Conv *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, int32_t *out)
{
	int64_t		v;

	if (!get_int(c, obj, key, INT32_MIN, INT32_MAX, has, &v))
		return false;
	*out = (int32_t) v;
	return true;
}

/* uint64: times in ms since the epoch, restart counts. */
static bool
get_u64(Conv *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, uint64_t *out)
{
	const cJSON *m = member(obj, key);
	char		b[64];

	*has = 0;
	*out = 0;
	if (m == NULL)
		return true;
	if (!int_value(m, 0, UINT64_MAX, out))
	{
		*out = 0;
		return odd(c, key, "\"%s\" is not an unsigned 64-bit integer: %s", key, shown(m, b, sizeof(b)));
	}
	*has = 1;
	return true;
}

/* bool: true/false, or the strings "true"/"false" (as protobuf's parsers take). */
static bool
get_bool(Conv *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, protobuf_c_boolean *out)
{
	const cJSON *m = member(obj, key);
	char		b[64];

	*has = 0;
	*out = 0;
	if (m == NULL)
		return true;
	if (cJSON_IsBool(m))
		*out = cJSON_IsTrue(m);
	else if (cJSON_IsString(m) && strcmp(m->valuestring, "true") == 0)
		*out = 1;
	else if (cJSON_IsString(m) && strcmp(m->valuestring, "false") == 0)
		*out = 0;
	else
		return odd(c, key, "\"%s\" is not a boolean: %s", key, shown(m, b, sizeof(b)));
	*has = 1;
	return true;
}

/* Hex text of an ID into bytes; "" is absent. False if it is not hex. */
static bool
id_value(Conv *c, const cJSON *m, protobuf_c_boolean *has, ProtobufCBinaryData *out)
{
	size_t		n;

	if (!cJSON_IsString(m))
		return false;
	n = strlen(m->valuestring);
	if (n == 0)
		return true;
	if (n % 2 != 0 || n > 256)
		return false;
	out->data = alloc0(c, n / 2);
	if (out->data == NULL)
		return true;			/* c->oom says why */
	if (!ray_hex_decode(m->valuestring, out->data, n / 2))
	{
		out->data = NULL;
		return false;
	}
	out->len = n / 2;
	*has = 1;
	return true;
}

/* A hex ID; absent, null or "" is absent (Ray shows absent IDs as null). */
static bool
get_id(Conv *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, ProtobufCBinaryData *out)
{
	const cJSON *m = member(obj, key);
	char		b[64];

	*has = 0;
	out->len = 0;
	out->data = NULL;
	if (m == NULL)
		return true;
	if (!id_value(c, m, has, out))
		return odd(c, key, "\"%s\" is not a hex ID: %s", key, shown(m, b, sizeof(b)));
	return !c->oom;
}

/*
 * True if m is present and an object (or an array); a present value of
 * another type is odd. Callers treat false as the field absent.
 */
static bool
kind_ok(Conv *c, const cJSON *m, bool want_object, const char *key)
{
	char		b[64];

	if (m == NULL)
		return false;
	if (want_object ? cJSON_IsObject(m) : cJSON_IsArray(m))
		return true;
	odd(c, key, "\"%s\" is not %s: %s", key, want_object ? "an object" : "an array", shown(m, b, sizeof(b)));
	return false;
}

/*
 * An enum as the mapping writes it: its name, or its number (a JSON
 * number or a decimal string, the form Ray prints a number its Python
 * does not know in). A name this build does not know is odd.
 */
static bool
enum_value(const cJSON *m, const char *(*name_of) (int), int max, int32_t *out)
{
	uint64_t	bits;

	if (cJSON_IsString(m))
		for (int i = 0; i <= max; i++)
		{
			const char *s = name_of(i);

			if (s && strcmp(s, m->valuestring) == 0)
			{
				*out = i;
				return true;
			}
		}
	if (!int_value(m, INT32_MIN, INT32_MAX, &bits) || (int64_t) bits < INT32_MIN)
		return false;
	*out = (int32_t) (int64_t) bits;
	return true;
}

static bool
get_enum(Conv *c, const cJSON *obj, const char *key, const char *(*name_of) (int), int max,
		 protobuf_c_boolean *has, int32_t *out)
{
	const cJSON *m = member(obj, key);
	char		b[64];

	*has = 0;
	*out = 0;
	if (m == NULL)
		return true;
	if (!enum_value(m, name_of, max, out))
	{
		*out = 0;
		return odd(c, key, "\"%s\" has an unknown value %s", key, shown(m, b, sizeof(b)));
	}
	*has = 1;
	return true;
}

/* ---- the parts of a task row ---- */

static bool
string_array(Conv *c, const cJSON *arr, const char *key, size_t *n, char ***out)
{
	const cJSON *e;
	size_t		i = 0;

	*n = 0;
	*out = NULL;
	if (!kind_ok(c, arr, false, key))
		return true;
	*out = alloc0(c, sizeof(char *) * (size_t) (cJSON_GetArraySize(arr) + 1));
	if (*out == NULL)
		return false;
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsString(e))
		{
			odd(c, key, "\"%s\" holds a value that is not a string", key);
			continue;
		}
		if (((*out)[i++] = dup(c, e->valuestring)) == NULL)
			return false;
	}
	*n = i;
	return true;
}

static bool
runtime_env_info(Conv *c, const cJSON *m, Ray__Rpc__RuntimeEnvInfo **out)
{
	Ray__Rpc__RuntimeEnvInfo *re;
	const cJSON *uris,
			   *cfg;

	*out = NULL;
	if (!kind_ok(c, m, true, "runtime_env_info"))
		return true;
	if ((re = alloc0(c, sizeof(*re))) == NULL)
		return false;
	ray__rpc__runtime_env_info__init(re);
	if (!get_string(c, m, "serialized_runtime_env", &re->serialized_runtime_env))
		return false;
	uris = member(m, "uris");
	if (kind_ok(c, uris, true, "uris"))
	{
		if ((re->uris = alloc0(c, sizeof(*re->uris))) == NULL)
			return false;
		ray__rpc__runtime_env_uris__init(re->uris);
		if (!get_string(c, uris, "working_dir_uri", &re->uris->working_dir_uri) ||
			!string_array(c, member(uris, "py_modules_uris"), "py_modules_uris",
						  &re->uris->n_py_modules_uris, &re->uris->py_modules_uris))
			return false;
	}
	cfg = member(m, "runtime_env_config");
	if (kind_ok(c, cfg, true, "runtime_env_config"))
	{
		Ray__Rpc__RuntimeEnvConfig *rc;

		if ((rc = alloc0(c, sizeof(*rc))) == NULL)
			return false;
		ray__rpc__runtime_env_config__init(rc);
		if (!get_int32(c, cfg, "setup_timeout_seconds", &rc->has_setup_timeout_seconds,
					   &rc->setup_timeout_seconds) ||
			!string_array(c, member(cfg, "log_files"), "log_files", &rc->n_log_files, &rc->log_files) ||
			!get_bool(c, cfg, "eager_install", &rc->has_eager_install, &rc->eager_install))
			return false;
		re->runtime_env_config = rc;
	}
	*out = re;
	return true;
}

/*
 * A JSON object of numbers (or strings) into a protobuf map field. An
 * entry of the wrong type is left out (odd); a non-object is the map absent.
 * Used for tasks here and for actors, nodes, placement groups and jobs below.
 */
#define JSON_MAP_INTO(c, obj, key_, EntryType, init_fn, n_out, arr_out, IS_OK, SET) \
	do { \
		const cJSON *e_; \
		size_t i_ = 0; \
		double d_ = 0; \
		if (!kind_ok((c), (obj), true, (key_))) \
			break; \
		(arr_out) = alloc0((c), sizeof(void *) * (size_t) (cJSON_GetArraySize(obj) + 1)); \
		if ((arr_out) == NULL) \
			return false; \
		cJSON_ArrayForEach(e_, (obj)) \
		{ \
			EntryType *m_ = alloc0((c), sizeof(EntryType)); \
			if (m_ == NULL) \
				return false; \
			if (!(IS_OK)) \
			{ \
				odd((c), (key_), "%s[\"%.64s\"] has the wrong type", (key_), e_->string); \
				continue; \
			} \
			init_fn(m_); \
			if ((m_->key = dup((c), e_->string)) == NULL) \
				return false; \
			SET; \
			(arr_out)[i_++] = m_; \
		} \
		(n_out) = i_; \
		(void) d_; \
	} while (0)
#define NUM_OK double_value(e_, &d_)
#define STR_OK cJSON_IsString(e_)
#define SET_DOUBLE (m_->has_value = 1, m_->value = d_)
#define SET_STRING if ((m_->value = dup((c), e_->valuestring)) == NULL) return false

static bool
required_resources(Conv *c, const cJSON *m, Ray__Rpc__TaskInfoEntry *info)
{
	JSON_MAP_INTO(c, m, "required_resources", Ray__Rpc__TaskInfoEntry__RequiredResourcesEntry,
				  ray__rpc__task_info_entry__required_resources_entry__init,
				  info->n_required_resources, info->required_resources, NUM_OK, SET_DOUBLE);
	return true;
}

static bool
label_selector(Conv *c, const cJSON *m, Ray__Rpc__TaskInfoEntry *info)
{
	JSON_MAP_INTO(c, m, "label_selector", Ray__Rpc__TaskInfoEntry__LabelSelectorEntry,
				  ray__rpc__task_info_entry__label_selector_entry__init,
				  info->n_label_selector, info->label_selector, STR_OK, SET_STRING);
	return true;
}

/* TaskStatus names through the version's table (a function of one int). */
static const RayVersion *status_version;

static const char *
status_name(int n)
{
	return ray_task_status_name(status_version, n);
}

/* ms (an integer) -> an ns whose `ns // 1e6` is ms again. */
static bool
ms_to_ns(Conv *c, double ms, int64_t *ns)
{
	if (!isfinite(ms) || ms != floor(ms) || fabs(ms) > 9.0e12)
	{
		odd(c, "events", "created_ms %.17g is not an integer number of milliseconds", ms);
		return false;
	}
	*ns = (int64_t) ms * 1000000 + 500000;
	if (ray_ns_to_ms_floor(*ns) != (int64_t) ms)
		*ns = (int64_t) ms * 1000000;
	return true;
}

/* A double of ms (Ray's ns / 1e6) -> an ns that divides back to it exactly. */
static int64_t
ms_double_to_ns(double ms)
{
	double		d = ms * 1e6;
	int64_t		base;

	if (!(fabs(d) < 9.0e18))
		return 0;
	base = (int64_t) llround(d);
	for (int64_t k = 0; k <= 4096; k++)
	{
		if ((double) (base + k) / 1e6 == ms)
			return base + k;
		if ((double) (base - k) / 1e6 == ms)
			return base - k;
	}
	return base;
}

static bool
events(Conv *c, const cJSON *m, Ray__Rpc__TaskStateUpdate *su)
{
	const cJSON *e;
	size_t		i = 0,
				n = 0;

	if (!kind_ok(c, m, false, "events"))
		return true;
	su->state_ts_ns = alloc0(c, sizeof(void *) * (size_t) (cJSON_GetArraySize(m) + 1));
	if (su->state_ts_ns == NULL)
		return false;
	status_version = c->v;
	cJSON_ArrayForEach(e, m)
	{
		Ray__Rpc__TaskStateUpdate__StateTsNsEntry *t = alloc0(c, sizeof(*t));
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(e, "state");
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "created_ms");
		int32_t		num;
		double		msd;
		char		b[64];

		if (t == NULL)
			return false;
		/* A bad event is left out; the row keeps its other events. */
		if (!cJSON_IsObject(e) || state == NULL || !double_value(ms, &msd))
		{
			odd(c, "events", "events[%zu] is not {\"state\": name, \"created_ms\": number}", n);
			n++;
			continue;
		}
		/* 30 covers every TaskStatus of every version. */
		if (!enum_value(state, status_name, 30, &num))
		{
			odd(c, "events", "events[%zu].state has an unknown value %s", n++, shown(state, b, sizeof(b)));
			continue;
		}
		n++;
		ray__rpc__task_state_update__state_ts_ns_entry__init(t);
		t->has_key = 1;
		t->key = num;
		t->has_value = 1;
		if (!ms_to_ns(c, msd, &t->value))
			continue;
		su->state_ts_ns[i++] = t;
	}
	su->n_state_ts_ns = i;
	return true;
}

static bool
task_log_info(Conv *c, const cJSON *m, Ray__Rpc__TaskLogInfo **out)
{
	Ray__Rpc__TaskLogInfo *li;

	*out = NULL;
	if (!kind_ok(c, m, true, "task_log_info"))
		return true;
	if ((li = alloc0(c, sizeof(*li))) == NULL)
		return false;
	ray__rpc__task_log_info__init(li);
	if (!get_string(c, m, "stdout_file", &li->stdout_file) ||
		!get_string(c, m, "stderr_file", &li->stderr_file) ||
		!get_int32(c, m, "stdout_start", &li->has_stdout_start, &li->stdout_start) ||
		!get_int32(c, m, "stdout_end", &li->has_stdout_end, &li->stdout_end) ||
		!get_int32(c, m, "stderr_start", &li->has_stderr_start, &li->stderr_start) ||
		!get_int32(c, m, "stderr_end", &li->has_stderr_end, &li->stderr_end))
		return false;
	*out = li;
	return true;
}

/* {} (what Ray shows for a task without profile events) is absent. */
static bool
profiling_data(Conv *c, const cJSON *m, Ray__Rpc__ProfileEvents **out)
{
	Ray__Rpc__ProfileEvents *pe;
	const cJSON *evs,
			   *e;
	size_t		i = 0;

	*out = NULL;
	if (!kind_ok(c, m, true, "profiling_data"))
		return true;
	if (m->child == NULL)
		return true;
	if ((pe = alloc0(c, sizeof(*pe))) == NULL)
		return false;
	ray__rpc__profile_events__init(pe);
	if (!get_string(c, m, "component_type", &pe->component_type) ||
		!get_id(c, m, "component_id", &pe->has_component_id, &pe->component_id) ||
		!get_string(c, m, "node_ip_address", &pe->node_ip_address))
		return false;
	evs = member(m, "events");
	if (kind_ok(c, evs, false, "profiling_data.events"))
	{
		pe->events = alloc0(c, sizeof(void *) * (size_t) (cJSON_GetArraySize(evs) + 1));
		if (pe->events == NULL)
			return false;
		cJSON_ArrayForEach(e, evs)
		{
			Ray__Rpc__ProfileEventEntry *p = alloc0(c, sizeof(*p));
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "start_time");
			const cJSON *et = cJSON_GetObjectItemCaseSensitive(e, "end_time");
			const cJSON *extra;
			double		std,
						etd;

			if (p == NULL)
				return false;
			if (!cJSON_IsObject(e) || !double_value(st, &std) || !double_value(et, &etd))
			{
				odd(c, "profiling_data", "profiling_data.events[%zu] has no numeric start_time and end_time", i);
				continue;
			}
			ray__rpc__profile_event_entry__init(p);
			if (!get_string(c, e, "event_name", &p->event_name))
				return false;
			p->has_start_time = 1;
			p->start_time = ms_double_to_ns(std);
			p->has_end_time = 1;
			p->end_time = ms_double_to_ns(etd);
			extra = cJSON_GetObjectItemCaseSensitive(e, "extra_data");
			if (extra != NULL)
			{
				/* Its JSON text: the renderer emits valid JSON text as is. */
				char	   *text = cJSON_PrintUnformatted(extra);

				if (text == NULL)
				{
					c->oom = true;
					return false;
				}
				p->extra_data = dup(c, text);
				cJSON_free(text);
				if (p->extra_data == NULL)
					return false;
			}
			pe->events[i++] = p;
		}
		pe->n_events = i;
	}
	*out = pe;
	return true;
}

static bool
error_info(Conv *c, const cJSON *row, Ray__Rpc__TaskStateUpdate *su)
{
	Ray__Rpc__RayErrorInfo *e;
	char	   *msg;
	protobuf_c_boolean has_type;
	int32_t		type;

	if (!get_string(c, row, "error_message", &msg) ||
		!get_enum(c, row, "error_type", ray_error_type_name, 255, &has_type, &type))
		return false;
	if (msg == NULL && !has_type)
		return true;
	if ((e = alloc0(c, sizeof(*e))) == NULL)
		return false;
	ray__rpc__ray_error_info__init(e);
	e->error_message = msg;
	e->has_error_type = has_type;
	e->error_type = type;
	su->error_info = e;
	return true;
}

/*
 * An ACTOR_TASK named "<repr>.<method>" (method: the last part of
 * func_or_class_name) that is not its func_or_class_name was renamed by
 * Ray from actor_repr_name = <repr>: the only place the State API keeps it.
 */
static const char *
lookup_repr(const RayStateReprs *r, const char *actor_id)
{
	size_t		lo = 0,
				hi = r ? r->n : 0;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			cmp = strcmp(r->ids[mid], actor_id);

		if (cmp == 0)
			return r->reprs[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool
infer_repr_name(Conv *c, const cJSON *row, Ray__Rpc__TaskInfoEntry *info, Ray__Rpc__TaskStateUpdate *su)
{
	const char *method;
	size_t		lname,
				lmethod;
	const cJSON *aid = member(row, "actor_id");
	const char *repr;

	if (su->actor_repr_name != NULL || !info->has_type || info->type != 2 /* ACTOR_TASK */)
		return true;
	/* The actor's own repr_name, when the caller fetched the actors. */
	if (c->reprs && cJSON_IsString(aid) && (repr = lookup_repr(c->reprs, aid->valuestring)) != NULL)
	{
		su->actor_repr_name = dup(c, repr);
		return !c->oom;
	}
	if (c->reprs || info->name == NULL || info->func_or_class_name == NULL ||
		strcmp(info->name, info->func_or_class_name) == 0)
		return true;
	method = strrchr(info->func_or_class_name, '.');
	method = method ? method + 1 : info->func_or_class_name;
	lname = strlen(info->name);
	lmethod = strlen(method);
	if (lname < lmethod + 2 || info->name[lname - lmethod - 1] != '.' ||
		strcmp(info->name + lname - lmethod, method) != 0)
		return true;
	su->actor_repr_name = ray_arena_strndup(&c->arena, info->name, lname - lmethod - 1);
	if (su->actor_repr_name == NULL)
		c->oom = true;
	return !c->oom;
}

static bool
task_row(Conv *c, const cJSON *row, Ray__Rpc__TaskEvents *ev)
{
	Ray__Rpc__TaskInfoEntry *info = alloc0(c, sizeof(*info));
	Ray__Rpc__TaskStateUpdate *su = alloc0(c, sizeof(*su));
	protobuf_c_boolean has;
	int64_t		v64;
	const cJSON *tid;

	if (info == NULL || su == NULL)
		return false;
	if (!cJSON_IsObject(row))
	{
		fail(c, "not a JSON object");
		return false;
	}
	ray__rpc__task_events__init(ev);
	ray__rpc__task_info_entry__init(info);
	ray__rpc__task_state_update__init(su);
	ev->task_info = info;
	ev->state_updates = su;

	/* The task id names the row: without one there is no row to show. */
	tid = member(row, "task_id");
	if (tid != NULL && !id_value(c, tid, &ev->has_task_id, &ev->task_id))
	{
		fail(c, "\"task_id\" is not a hex ID: \"%.80s\"", cJSON_IsString(tid) ? tid->valuestring : "");
		return false;
	}
	if (c->oom)
		return false;
	if (!ev->has_task_id)
	{
		fail(c, "no task_id");
		return false;
	}
	if (!get_id(c, row, "job_id", &ev->has_job_id, &ev->job_id) ||
		!get_int(c, row, "attempt_number", 0, INT32_MAX, &has, &v64))
		return false;
	ev->has_attempt_number = has;
	ev->attempt_number = (int32_t) v64;

	if (!get_string(c, row, "name", &info->name) ||
		!get_string(c, row, "func_or_class_name", &info->func_or_class_name) ||
		!get_enum(c, row, "type", ray_task_type_name, 63, &info->has_type, &info->type) ||
		!get_enum(c, row, "language", ray_language_name, 63, &info->has_language, &info->language) ||
		!get_id(c, row, "parent_task_id", &info->has_parent_task_id, &info->parent_task_id) ||
		!get_id(c, row, "actor_id", &info->has_actor_id, &info->actor_id) ||
		!get_id(c, row, "placement_group_id", &info->has_placement_group_id, &info->placement_group_id) ||
		!get_string(c, row, "call_site", &info->call_site) ||
		!required_resources(c, member(row, "required_resources"), info) ||
		!label_selector(c, member(row, "label_selector"), info) ||
		!runtime_env_info(c, member(row, "runtime_env_info"), &info->runtime_env_info))
		return false;

	if (!get_id(c, row, "node_id", &su->has_node_id, &su->node_id) ||
		!get_id(c, row, "worker_id", &su->has_worker_id, &su->worker_id) ||
		!get_int32(c, row, "worker_pid", &su->has_worker_pid, &su->worker_pid) ||
		!get_string(c, row, "actor_repr_name", &su->actor_repr_name) ||
		!events(c, member(row, "events"), su) ||
		!error_info(c, row, su) ||
		!task_log_info(c, member(row, "task_log_info"), &su->task_log_info) ||
		!profiling_data(c, member(row, "profiling_data"), &ev->profile_events) ||
		!infer_repr_name(c, row, info, su) ||
		!get_bool(c, row, "is_debugger_paused", &su->has_is_debugger_paused, &su->is_debugger_paused))
		return false;
	return true;
}

static int64_t
counter(const cJSON *obj, const char *key, int64_t dflt)
{
	const cJSON *m = member(obj, key);
	uint64_t	bits;

	if (m == NULL || !int_value(m, INT64_MIN, INT64_MAX, &bits))
		return dflt;
	return (int64_t) bits;
}

static void
add_warning(RayStateCounters *k, const char *w)
{
	if (w == NULL || w[0] == '\0')
		return;
	if (k->nwarnings++ == 0)
		snprintf(k->warning, sizeof(k->warning), "%s", w);
}

/*
 * The rows array of {"result": true, "msg": ..., "data": {"result": {...}}},
 * and the counters. NULL with err set if the envelope is not that.
 */
static const cJSON *
envelope(const cJSON *root, RayStateCounters *k, char *err, size_t errlen, RayStatus *st)
{
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "result");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "msg");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	const cJSON *res;
	const cJSON *rows;
	const cJSON *w;

	*st = RAY_ERR_MALFORMED;
	memset(k, 0, sizeof(*k));
	if (!cJSON_IsObject(root) || !cJSON_IsBool(ok))
	{
		snprintf(err, errlen, "not a State API response: no boolean \"result\" at the top level");
		return NULL;
	}
	if (cJSON_IsFalse(ok))
	{
		*st = RAY_ERR_RPC;
		snprintf(err, errlen, "%s", cJSON_IsString(msg) ? msg->valuestring : "(no message)");
		return NULL;
	}
	res = cJSON_IsObject(data) ? cJSON_GetObjectItemCaseSensitive(data, "result") : NULL;
	rows = cJSON_IsObject(res) ? cJSON_GetObjectItemCaseSensitive(res, "result") : NULL;
	if (!cJSON_IsArray(rows))
	{
		snprintf(err, errlen, "not a State API list response: no array at data.result.result");
		return NULL;
	}
	k->rows = cJSON_GetArraySize(rows);
	k->total = counter(res, "total", k->rows);
	k->num_after_truncation = counter(res, "num_after_truncation", k->rows);
	k->num_filtered = counter(res, "num_filtered", 0);
	w = member(res, "partial_failure_warning");
	if (cJSON_IsString(w))
		add_warning(k, w->valuestring);
	w = member(res, "warnings");
	if (cJSON_IsArray(w))
	{
		const cJSON *e;

		cJSON_ArrayForEach(e, w)
			if (cJSON_IsString(e))
			add_warning(k, e->valuestring);
	}
	*st = RAY_OK;
	return rows;
}

/*
 * Start a conversion of a list response: parse json, read its envelope into
 * counters, and make the array of n rows (the arena from alloc). NULL, with
 * *st and err set, if any of that fails.
 */
static void **
begin_rows(Conv *c, const char *json, size_t len, const RayVersion *v, ProtobufCAllocator *alloc,
		   RayStateCounters *counters, cJSON **root, const cJSON **rows,
		   char *err, size_t errlen, RayStatus *st)
{
	void	  **items;

	memset(counters, 0, sizeof(*counters));
	*root = parse(json, len, err, errlen, st);
	if (*root == NULL)
		return NULL;
	*rows = envelope(*root, counters, err, errlen, st);
	if (*rows == NULL)
	{
		release(*root);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	ray_arena_init(&c->arena, alloc);
	c->v = v;
	c->err = err;
	c->errlen = errlen;
	c->k = counters;
	c->alloc = alloc;
	items = alloc0(c, sizeof(void *) * ((size_t) counters->rows + 1));
	*st = items ? RAY_OK : RAY_ERR_OOM;
	return items;
}

/*
 * Finish a conversion: on success hand the arena to the caller, else free
 * it and the odd cells and say what failed (what: "task", "actor", ...).
 */
static RayStatus
end_rows(Conv *c, cJSON *root, RayStatus st, const char *what, RayArena *arena,
		 char *err, size_t errlen)
{
	RayStateCounters *counters = c->k;

	release(root);
	if (st == RAY_OK && c->oom)
		st = RAY_ERR_OOM;
	if (st == RAY_OK)
	{
		*arena = c->arena;
		return st;
	}
	cells_free(c->alloc, counters->cells);
	counters->cells = NULL;
	counters->ncells = counters->capcells = 0;
	ray_arena_free(&c->arena);
	if (st == RAY_ERR_OOM)
		snprintf(err, errlen, "out of memory converting %lld %s rows", (long long) counters->rows, what);
	else if (st == RAY_ERR_MALFORMED)
	{
		/* The message already says which row and field; say where. */
		char		tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s %s", what, tmp);
	}
	return st;
}

RayStatus
ray_state_json_task_events(const char *json, size_t len, const RayVersion *v,
						   const RayStateReprs *reprs, ProtobufCAllocator *alloc,
						   RayArena *arena, Ray__Rpc__TaskEvents ***events, size_t *nevents,
						   RayStateCounters *counters, char *err, size_t errlen)
{
	RayStatus	st;
	cJSON	   *root;
	const cJSON *rows;
	const cJSON *row;
	Conv		c;
	Ray__Rpc__TaskEvents **evs;
	size_t		n = 0;

	*events = NULL;
	*nevents = 0;
	ray_arena_init(arena, alloc);
	evs = (Ray__Rpc__TaskEvents **) begin_rows(&c, json, len, v, alloc, counters, &root, &rows,
											   err, errlen, &st);
	if (root == NULL || rows == NULL)
		return st;
	c.reprs = reprs;
	cJSON_ArrayForEach(row, rows)
	{
		Ray__Rpc__TaskEvents *ev;

		if (st != RAY_OK)
			break;
		c.row = n + 1;
		ev = alloc0(&c, sizeof(*ev));
		if (ev == NULL || !task_row(&c, row, ev))
			st = c.oom ? RAY_ERR_OOM : RAY_ERR_MALFORMED;
		else
			evs[n++] = ev;
	}
	st = end_rows(&c, root, st, "task", arena, err, errlen);
	if (st == RAY_OK)
	{
		*events = evs;
		*nevents = n;
	}
	return st;
}

/*
 * The packed forms: a reply built from the parsed rows, packed into bytes
 * from alloc, as the GCS would have sent it (the arena the rows live in is
 * freed either way). The sources use the rows directly; these serve the
 * tests and benchmarks that compare both roads. what: "task " or "".
 */
static RayStatus
pack_reply(const ProtobufCMessage *reply, ProtobufCAllocator *alloc, RayArena *arena,
		   uint8_t **out, size_t *outlen, RayStateCounters *counters, const char *what,
		   char *err, size_t errlen)
{
	size_t		size = protobuf_c_message_get_packed_size(reply);
	RayStatus	st = RAY_OK;

	*out = alloc ? alloc->alloc(alloc->allocator_data, size + 1) : malloc(size + 1);
	if (*out == NULL)
	{
		st = RAY_ERR_OOM;
		snprintf(err, errlen, "out of memory converting %lld %srows", (long long) counters->rows, what);
		cells_free(alloc, counters->cells);
		counters->cells = NULL;
		counters->ncells = counters->capcells = 0;
	}
	else
		*outlen = protobuf_c_message_pack(reply, *out);
	ray_arena_free(arena);
	return st;
}

RayStatus
ray_state_json_tasks(const char *json, size_t len, const RayVersion *v,
					 const RayStateReprs *reprs,
					 ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen,
					 RayStateCounters *counters, char *err, size_t errlen)
{
	Ray__Rpc__GetTaskEventsReply reply = RAY__RPC__GET_TASK_EVENTS_REPLY__INIT;
	RayArena	arena;
	RayStatus	st;

	*out = NULL;
	*outlen = 0;
	st = ray_state_json_task_events(json, len, v, reprs, alloc, &arena, &reply.events_by_task,
									&reply.n_events_by_task, counters, err, errlen);
	if (st != RAY_OK)
		return st;
	return pack_reply(&reply.base, alloc, &arena, out, outlen, counters, "task ", err, errlen);
}

RayStatus
ray_state_json_version(const char *json, size_t len, char *version, size_t vlen,
					   char *err, size_t errlen)
{
	RayStatus	st;
	cJSON	   *root = parse(json, len, err, errlen, &st);
	const cJSON *v;

	if (vlen > 0)
		version[0] = '\0';
	if (root == NULL)
		return st;
	v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "ray_version") : NULL;
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
	{
		snprintf(err, errlen, "the version response has no \"ray_version\" string");
		release(root);
		return RAY_ERR_MALFORMED;
	}
	snprintf(version, vlen, "%s", v->valuestring);
	release(root);
	return RAY_OK;
}

void
ray_state_json_error_message(const char *body, size_t len, char *out, size_t outlen)
{
	RayStatus	st;
	char		err[64];
	cJSON	   *root;
	size_t		n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0)
		return;
	root = len <= 1024 * 1024 ? parse(body, len, err, sizeof(err), &st) : NULL;
	if (root)
	{
		const cJSON *msg = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "msg") : NULL;

		if (cJSON_IsString(msg) && msg->valuestring[0] != '\0')
		{
			snprintf(out, outlen, "%s", msg->valuestring);
			release(root);
			return;
		}
		release(root);
	}
	/* Not JSON (a proxy's HTML, aiohttp's text): its first line, printable. */
	n = 0;
	for (size_t i = 0; i < len && n + 1 < outlen && n < 200; i++)
	{
		unsigned char ch = (unsigned char) body[i];

		if (ch == '\n' && n > 0)
			break;
		out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char) ch : ' ';
	}
	out[n] = '\0';
}

/* ---------------------------------------------------------------------
 * actors, nodes, jobs, workers, placement groups
 *
 * The same inversion for the other list routes, into the GetAll*Reply the
 * GCS would have sent. Ray's State API leaves out some of what the GCS
 * has (no_dashboard in the column lists marks what it leaves out); those columns are
 * NULL over HTTP rather than a made-up default.
 * --------------------------------------------------------------------- */

static const RayVersion *pg_version;

static const char *
pg_state_name(int n)
{
	return ray_pg_state_name(pg_version, n);
}

/* death_cause as MessageToDict prints it: {"<alternative>": {...}}. */
static bool
death_cause(Conv *c, const cJSON *m, Ray__Rpc__ActorDeathCause **out)
{
	static const char *const alts[] = {NULL, "creation_task_failure_context", "runtime_env_failed_context",
	"actor_died_error_context", "actor_unschedulable_context", "oom_context"};
	Ray__Rpc__ActorDeathCause *dc;

	*out = NULL;
	if (!kind_ok(c, m, true, "death_cause"))
		return true;
	if ((dc = alloc0(c, sizeof(*dc))) == NULL)
		return false;
	ray__rpc__actor_death_cause__init(dc);
	for (int i = 1; i <= 5; i++)
	{
		const cJSON *alt = member(m, alts[i]);

		if (!kind_ok(c, alt, true, alts[i]))
			continue;
		dc->context_case = (Ray__Rpc__ActorDeathCause__ContextCase) i;
		if (i == 1)
		{
			Ray__Rpc__RayException *x = alloc0(c, sizeof(*x));

			if (x == NULL)
				return false;
			ray__rpc__ray_exception__init(x);
			if (!get_string(c, alt, "formatted_exception_string", &x->formatted_exception_string))
				return false;
			dc->creation_task_failure_context = x;
		}
		else
		{
			Ray__Rpc__ErrorMessageContext *x = alloc0(c, sizeof(*x));

			if (x == NULL)
				return false;
			ray__rpc__error_message_context__init(x);
			if (!get_string(c, alt, "error_message", &x->error_message))
				return false;
			/* Every ErrorMessageContext alternative keeps its message in field 1. */
			dc->actor_died_error_context = x;
		}
		break;
	}
	*out = dc;
	return true;
}

static bool
actor_row(Conv *c, const cJSON *row, Ray__Rpc__ActorTableData *a)
{
	int64_t		pid;
	protobuf_c_boolean has;

	ray__rpc__actor_table_data__init(a);
	if (!get_id(c, row, "actor_id", &a->has_actor_id, &a->actor_id) ||
		!get_string(c, row, "class_name", &a->class_name) ||
		!get_enum(c, row, "state", ray_actor_state_name, 15, &a->has_state, &a->state) ||
		!get_id(c, row, "job_id", &a->has_job_id, &a->job_id) ||
		!get_string(c, row, "name", &a->name) ||
		!get_id(c, row, "node_id", &a->has_node_id, &a->node_id) ||
		!get_int(c, row, "pid", 0, UINT32_MAX, &has, &pid) ||
		!get_string(c, row, "ray_namespace", &a->ray_namespace) ||
		!get_string(c, row, "serialized_runtime_env", &a->serialized_runtime_env) ||
		!death_cause(c, member(row, "death_cause"), &a->death_cause) ||
		!get_bool(c, row, "is_detached", &a->has_is_detached, &a->is_detached) ||
		!get_id(c, row, "placement_group_id", &a->has_placement_group_id, &a->placement_group_id) ||
		!get_string(c, row, "repr_name", &a->repr_name) ||
		!get_u64(c, row, "num_restarts", &a->has_num_restarts, &a->num_restarts) ||
		!get_int(c, row, "num_restarts_due_to_lineage_reconstruction", 0, INT64_MAX,
				 &a->has_num_restarts_due_to_lineage_reconstruction,
				 &a->num_restarts_due_to_lineage_reconstruction) ||
		!get_string(c, row, "call_site", &a->call_site))
		return false;
	a->has_pid = has;
	a->pid = (uint32_t) pid;
	JSON_MAP_INTO(c, member(row, "required_resources"), "required_resources",
				  Ray__Rpc__ActorTableData__RequiredResourcesEntry,
				  ray__rpc__actor_table_data__required_resources_entry__init,
				  a->n_required_resources, a->required_resources, NUM_OK, SET_DOUBLE);
	JSON_MAP_INTO(c, member(row, "label_selector"), "label_selector",
				  Ray__Rpc__ActorTableData__LabelSelectorEntry,
				  ray__rpc__actor_table_data__label_selector_entry__init,
				  a->n_label_selector, a->label_selector, STR_OK, SET_STRING);
	return !c->oom;
}

static const char *
death_reason_name(int n)
{
	return ray_node_death_reason_name(n);
}

/*
 * Ray's list_nodes keeps a node's death_info only as state_message =
 * compose_state_message(reason, message) (python/ray/dashboard/utils.py):
 * "<text>", "<text>: <message>", or just "<message>" for a reason it has
 * no text for (UNSPECIFIED). The texts name the reasons. A message with
 * no text that is the GCS's own for a failed health check is
 * UNEXPECTED_TERMINATION: that is the reason GcsNodeManager::InferDeathInfo
 * (src/ray/gcs/gcs_node_manager.cc) always gives it. A row that carries
 * death_info itself (MessageToDict's {"reason", "reason_message"}, reason
 * a name or a number) is read as it is.
 */
static bool
node_death(Conv *c, const cJSON *row, Ray__Rpc__GcsNodeInfo *n)
{
	static const char *const texts[] = {NULL, "Expected termination", "Unexpected termination",
	"Terminated due to preemption", "Terminated due to idle (no Ray activity)"};
	const cJSON *dm = member(row, "death_info");
	char	   *sm;
	Ray__Rpc__NodeDeathInfo *di;

	if (kind_ok(c, dm, true, "death_info"))
	{
		if ((di = alloc0(c, sizeof(*di))) == NULL)
			return false;
		ray__rpc__node_death_info__init(di);
		if (!get_enum(c, dm, "reason", death_reason_name, 15, &di->has_reason, &di->reason) ||
			!get_string(c, dm, "reason_message", &di->reason_message))
			return false;
		n->death_info = di;
		return true;
	}
	if (!get_string(c, row, "state_message", &sm))
		return false;
	if (sm == NULL)
		return true;
	if ((di = alloc0(c, sizeof(*di))) == NULL)
		return false;
	ray__rpc__node_death_info__init(di);
	di->has_reason = 1;
	di->reason = 0;
	di->reason_message = sm;
	for (int i = 1; i <= 4; i++)
	{
		size_t		l = strlen(texts[i]);

		if (strncmp(sm, texts[i], l) == 0 && (sm[l] == '\0' || strncmp(sm + l, ": ", 2) == 0))
		{
			di->reason = i;
			di->reason_message = sm[l] == '\0' ? NULL : sm + l + 2;
			break;
		}
	}
	if (di->reason == 0 && strncmp(sm, "health check failed", 19) == 0)
		di->reason = 2;			/* UNEXPECTED_TERMINATION */
	n->death_info = di;
	return true;
}

static bool
node_row(Conv *c, const cJSON *row, Ray__Rpc__GcsNodeInfo *n)
{
	ray__rpc__gcs_node_info__init(n);
	if (!get_id(c, row, "node_id", &n->has_node_id, &n->node_id) ||
		!get_string(c, row, "node_ip", &n->node_manager_address) ||
		!get_bool(c, row, "is_head_node", &n->has_is_head_node, &n->is_head_node) ||
		!get_enum(c, row, "state", ray_node_state_name, 15, &n->has_state, &n->state) ||
		!get_string(c, row, "node_name", &n->node_name) ||
		!get_u64(c, row, "start_time_ms", &n->has_start_time_ms, &n->start_time_ms) ||
		!get_u64(c, row, "end_time_ms", &n->has_end_time_ms, &n->end_time_ms) ||
		!node_death(c, row, n))
		return false;
	JSON_MAP_INTO(c, member(row, "resources_total"), "resources_total",
				  Ray__Rpc__GcsNodeInfo__ResourcesTotalEntry,
				  ray__rpc__gcs_node_info__resources_total_entry__init,
				  n->n_resources_total, n->resources_total, NUM_OK, SET_DOUBLE);
	JSON_MAP_INTO(c, member(row, "labels"), "labels", Ray__Rpc__GcsNodeInfo__LabelsEntry,
				  ray__rpc__gcs_node_info__labels_entry__init,
				  n->n_labels, n->labels, STR_OK, SET_STRING);
	return !c->oom;
}

static bool
worker_row(Conv *c, const cJSON *row, Ray__Rpc__WorkerTableData *w)
{
	Ray__Rpc__Address *wa = alloc0(c, sizeof(*wa));
	int64_t		pid;
	protobuf_c_boolean has;

	if (wa == NULL)
		return false;
	ray__rpc__worker_table_data__init(w);
	ray__rpc__address__init(wa);
	w->worker_address = wa;
	if (!get_id(c, row, "worker_id", &wa->has_worker_id, &wa->worker_id) ||
		!get_id(c, row, "node_id", &wa->has_node_id, &wa->node_id) ||
		!get_string(c, row, "ip", &wa->ip_address) ||
		!get_bool(c, row, "is_alive", &w->has_is_alive, &w->is_alive) ||
		!get_enum(c, row, "worker_type", ray_worker_type_name, 15, &w->has_worker_type, &w->worker_type) ||
		!get_enum(c, row, "exit_type", ray_worker_exit_type_name, 15, &w->has_exit_type, &w->exit_type) ||
		!get_string(c, row, "exit_detail", &w->exit_detail) ||
		!get_int(c, row, "pid", 0, UINT32_MAX, &has, &pid) ||
		!get_u64(c, row, "worker_launch_time_ms", &w->has_worker_launch_time_ms, &w->worker_launch_time_ms) ||
		!get_u64(c, row, "worker_launched_time_ms", &w->has_worker_launched_time_ms, &w->worker_launched_time_ms) ||
		!get_u64(c, row, "start_time_ms", &w->has_start_time_ms, &w->start_time_ms) ||
		!get_u64(c, row, "end_time_ms", &w->has_end_time_ms, &w->end_time_ms))
		return false;
	w->has_pid = has;
	w->pid = (uint32_t) pid;
	return true;
}

static bool
pg_row(Conv *c, const cJSON *row, Ray__Rpc__PlacementGroupTableData *g)
{
	const cJSON *bundles = member(row, "bundles");
	const cJSON *b;
	size_t		i = 0,
				n = 0;

	ray__rpc__placement_group_table_data__init(g);
	pg_version = c->v;
	if (!get_id(c, row, "placement_group_id", &g->has_placement_group_id, &g->placement_group_id) ||
		!get_string(c, row, "name", &g->name) ||
		!get_id(c, row, "creator_job_id", &g->has_creator_job_id, &g->creator_job_id) ||
		!get_enum(c, row, "state", pg_state_name, 15, &g->has_state, &g->state) ||
		!get_bool(c, row, "is_detached", &g->has_is_detached, &g->is_detached))
		return false;
	if (!kind_ok(c, bundles, false, "bundles"))
		return true;
	g->bundles = alloc0(c, sizeof(void *) * (size_t) (cJSON_GetArraySize(bundles) + 1));
	if (g->bundles == NULL)
		return false;
	cJSON_ArrayForEach(b, bundles)
	{
		Ray__Rpc__Bundle *x = alloc0(c, sizeof(*x));
		Ray__Rpc__BundleId *bid = alloc0(c, sizeof(*bid));
		const cJSON *id;

		if (x == NULL || bid == NULL)
			return false;
		if (!cJSON_IsObject(b))
		{
			odd(c, "bundles", "bundles[%zu] is not an object", n++);
			continue;
		}
		n++;
		ray__rpc__bundle__init(x);
		ray__rpc__bundle_id__init(bid);
		/* A bundle_id that is not an object: the bundle without its id. */
		id = member(b, "bundle_id");
		if (kind_ok(c, id, true, "bundle_id"))
		{
			if (!get_id(c, id, "placement_group_id", &bid->has_placement_group_id, &bid->placement_group_id) ||
				!get_int32(c, id, "bundle_index", &bid->has_bundle_index, &bid->bundle_index))
				return false;
			x->bundle_id = bid;
		}
		if (!get_id(c, b, "node_id", &x->has_node_id, &x->node_id))
			return false;
		JSON_MAP_INTO(c, member(b, "unit_resources"), "unit_resources",
					  Ray__Rpc__Bundle__UnitResourcesEntry, ray__rpc__bundle__unit_resources_entry__init,
					  x->n_unit_resources, x->unit_resources, NUM_OK, SET_DOUBLE);
		g->bundles[i++] = x;
	}
	g->n_bundles = i;
	return !c->oom;
}

/*
 * JobDetails (python/ray/dashboard/modules/job/utils.py): a driver job
 * (type DRIVER, no job_info: its status is made up from is_dead) or a
 * submission job (type SUBMISSION, or a submission_id: status, message,
 * exit code and metadata are its job_info; its times are the
 * submission's, not the driver's, so they are left out). message,
 * driver_exit_code and metadata are kept whenever the row has them; a
 * driver job's metadata is its job config's.
 */
static bool
job_row(Conv *c, const cJSON *row, Ray__Rpc__JobTableData *j)
{
	const cJSON *type = member(row, "type");
	const cJSON *drv = member(row, "driver_info");
	const cJSON *sid = member(row, "submission_id");
	const cJSON *md = member(row, "metadata");
	bool		submission = (cJSON_IsString(type) && strcasecmp(type->valuestring, "SUBMISSION") == 0) ||
		(cJSON_IsString(sid) && sid->valuestring[0] != '\0');
	char	   *status;
	Ray__Rpc__JobsAPIInfo *ji;

	ray__rpc__job_table_data__init(j);
	if (!get_id(c, row, "job_id", &j->has_job_id, &j->job_id) ||
		!get_string(c, row, "entrypoint", &j->entrypoint) ||
		!get_string(c, row, "status", &status))
		return false;
	if (kind_ok(c, drv, true, "driver_info") &&
		(!get_string(c, drv, "node_ip_address", &j->driver_ip_address) ||
		 !get_int(c, drv, "pid", INT64_MIN, INT64_MAX, &j->has_driver_pid, &j->driver_pid)))
		return false;
	j->has_is_dead = 1;
	j->is_dead = status != NULL && (strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0 ||
									strcmp(status, "STOPPED") == 0);
	if (!submission &&
		(!get_u64(c, row, "start_time", &j->has_start_time, &j->start_time) ||
		 !get_u64(c, row, "end_time", &j->has_end_time, &j->end_time)))
		return false;
	if ((ji = alloc0(c, sizeof(*ji))) == NULL)
		return false;
	ray__rpc__jobs_apiinfo__init(ji);
	if (!get_string(c, row, "message", &ji->message) ||
		!get_string(c, row, "error_type", &ji->error_type) ||
		!get_int32(c, row, "driver_exit_code", &ji->has_driver_exit_code, &ji->driver_exit_code))
		return false;
	JSON_MAP_INTO(c, md, "metadata", Ray__Rpc__JobsAPIInfo__MetadataEntry,
				  ray__rpc__jobs_apiinfo__metadata_entry__init,
				  ji->n_metadata, ji->metadata, STR_OK, SET_STRING);
	if (submission)
	{
		ji->status = status;
		ji->entrypoint = j->entrypoint;
	}
	if (submission || ji->message != NULL || ji->has_driver_exit_code || ji->n_metadata > 0)
		j->job_info = ji;
	return !c->oom;
}

/*
 * The catalog column an odd JSON key stands for, where the name differs
 * (the rest are the same name). A key inside a jsonb column's value
 * (required_resources, a bundle, ...) names no column: that entry is left
 * out of the value instead.
 */
static const struct
{
	int			kind;
	const char *key;
	const char *column;
}			odd_columns[] = {
	{RAY_RESOURCE_NODES, "start_time_ms", "start_time"},
	{RAY_RESOURCE_NODES, "end_time_ms", "end_time"},
	{RAY_RESOURCE_NODES, "state_message", "death_reason"},
	{RAY_RESOURCE_NODES, "state_message", "death_reason_message"},
	{RAY_RESOURCE_NODES, "death_info", "death_reason"},
	{RAY_RESOURCE_NODES, "death_info", "death_reason_message"},
	{RAY_RESOURCE_NODES, "reason", "death_reason"},
	{RAY_RESOURCE_NODES, "reason_message", "death_reason_message"},
	{RAY_RESOURCE_WORKERS, "start_time_ms", "start_time"},
	{RAY_RESOURCE_WORKERS, "end_time_ms", "end_time"},
	{RAY_RESOURCE_WORKERS, "worker_launch_time_ms", "worker_launch_time"},
	{RAY_RESOURCE_WORKERS, "worker_launched_time_ms", "worker_launched_time"},
	{RAY_RESOURCE_JOBS, "pid", "driver_pid"},
	{RAY_RESOURCE_JOBS, "node_ip_address", "driver_ip_address"},
	{RAY_RESOURCE_JOBS, "driver_info", "driver_pid"},
	{RAY_RESOURCE_JOBS, "driver_info", "driver_ip_address"},
	{RAY_RESOURCE_ACTORS, "death_cause", "death_cause_type"},
	{RAY_RESOURCE_ACTORS, "death_cause", "death_cause_message"},
};

static bool
odd_key_is_column(int kind, const char *key, const char *column)
{
	for (size_t i = 0; i < sizeof(odd_columns) / sizeof(odd_columns[0]); i++)
		if (odd_columns[i].kind == kind && strcmp(odd_columns[i].key, key) == 0 &&
			strcmp(odd_columns[i].column, column) == 0)
			return true;
	return strcmp(key, column) == 0;
}

bool
ray_state_json_cell_is_odd(const RayStateCounters *k, int kind, size_t row, const char *column)
{
	size_t		lo = 0,
				hi = k ? k->ncells : 0;

	/* Cells are in row order: find the first of this row. */
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (k->cells[mid].row < row)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; k && lo < k->ncells && k->cells[lo].row == row; lo++)
		if (odd_key_is_column(kind, k->cells[lo].key, column))
			return true;
	return false;
}

bool
ray_state_json_odd_append(RayStateCounters *into, const RayStateCounters *from, size_t row_offset,
						  ProtobufCAllocator *alloc)
{
	for (size_t i = 0; i < from->ncells; i++)
		if (!cells_push(into, alloc, (uint32_t) (from->cells[i].row + row_offset), from->cells[i].key))
			return false;
	return true;
}

void
ray_state_json_free_cells(RayStateCounters *k)
{
	free(k->cells);
	k->cells = NULL;
	k->ncells = k->capcells = 0;
}

static bool cluster_row(Conv *c, int kind, const cJSON *row, void *x);

RayStatus
ray_state_json_cluster_rows(int kind, const char *json, size_t len, const RayVersion *v,
							ProtobufCAllocator *alloc, RayArena *arena, void ***rows_out,
							size_t *nrows, RayStateCounters *counters, char *err, size_t errlen)
{
	RayStatus	st;
	cJSON	   *root;
	const cJSON *rows;
	const cJSON *row;
	Conv		c;
	size_t		i = 0;
	void	  **items;
	static const size_t sizes[] = {sizeof(Ray__Rpc__ActorTableData), sizeof(Ray__Rpc__GcsNodeInfo),
		sizeof(Ray__Rpc__JobTableData), sizeof(Ray__Rpc__WorkerTableData),
	sizeof(Ray__Rpc__PlacementGroupTableData)};
	static const char *const names[] = {"actor", "node", "job", "worker", "placement group"};

	*rows_out = NULL;
	*nrows = 0;
	ray_arena_init(arena, alloc);
	memset(counters, 0, sizeof(*counters));
	if (kind < RAY_RESOURCE_ACTORS || kind > RAY_RESOURCE_PLACEMENT_GROUPS)
	{
		snprintf(err, errlen, "unknown resource kind %d", kind);
		return RAY_ERR_UNSUPPORTED;
	}
	items = begin_rows(&c, json, len, v, alloc, counters, &root, &rows, err, errlen, &st);
	if (root == NULL || rows == NULL)
		return st;
	cJSON_ArrayForEach(row, rows)
	{
		void	   *x;

		if (st != RAY_OK)
			break;
		c.row = i + 1;
		x = alloc0(&c, sizes[kind]);
		if (x == NULL)
			st = RAY_ERR_OOM;
		else if (!cluster_row(&c, kind, row, x))
			st = c.oom ? RAY_ERR_OOM : RAY_ERR_MALFORMED;
		else
			items[i++] = x;
	}
	st = end_rows(&c, root, st, names[kind], arena, err, errlen);
	if (st == RAY_OK)
	{
		*rows_out = items;
		*nrows = i;
	}
	return st;
}

/* One row of a list response into x, the kind's message. */
static bool
cluster_row(Conv *c, int kind, const cJSON *row, void *x)
{
	if (!cJSON_IsObject(row))
	{
		fail(c, "not a JSON object");
		return false;
	}
	switch (kind)
	{
		case RAY_RESOURCE_ACTORS:
			return actor_row(c, row, x);
		case RAY_RESOURCE_NODES:
			return node_row(c, row, x);
		case RAY_RESOURCE_JOBS:
			return job_row(c, row, x);
		case RAY_RESOURCE_WORKERS:
			return worker_row(c, row, x);
		default:
			return pg_row(c, row, x);
	}
}

RayStatus
ray_state_json_cluster(int kind, const char *json, size_t len, const RayVersion *v,
					   ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen,
					   RayStateCounters *counters, char *err, size_t errlen)
{
	RayArena	arena;
	void	  **items;
	size_t		i;
	RayStatus	st;
	ProtobufCMessage *reply = NULL;
	Ray__Rpc__GetAllActorInfoReply ar = RAY__RPC__GET_ALL_ACTOR_INFO_REPLY__INIT;
	Ray__Rpc__GetAllNodeInfoReply nr = RAY__RPC__GET_ALL_NODE_INFO_REPLY__INIT;
	Ray__Rpc__GetAllJobInfoReply jr = RAY__RPC__GET_ALL_JOB_INFO_REPLY__INIT;
	Ray__Rpc__GetAllWorkerInfoReply wr = RAY__RPC__GET_ALL_WORKER_INFO_REPLY__INIT;
	Ray__Rpc__GetAllPlacementGroupReply gr = RAY__RPC__GET_ALL_PLACEMENT_GROUP_REPLY__INIT;

	*out = NULL;
	*outlen = 0;
	st = ray_state_json_cluster_rows(kind, json, len, v, alloc, &arena, &items, &i, counters,
									 err, errlen);
	if (st != RAY_OK)
		return st;
	switch (kind)
	{
		case RAY_RESOURCE_ACTORS:
			ar.n_actor_table_data = i;
			ar.actor_table_data = (Ray__Rpc__ActorTableData **) items;
			reply = &ar.base;
			break;
		case RAY_RESOURCE_NODES:
			nr.n_node_info_list = i;
			nr.node_info_list = (Ray__Rpc__GcsNodeInfo **) items;
			reply = &nr.base;
			break;
		case RAY_RESOURCE_JOBS:
			jr.n_job_info_list = i;
			jr.job_info_list = (Ray__Rpc__JobTableData **) items;
			reply = &jr.base;
			break;
		case RAY_RESOURCE_WORKERS:
			wr.n_worker_table_data = i;
			wr.worker_table_data = (Ray__Rpc__WorkerTableData **) items;
			reply = &wr.base;
			break;
		default:
			/* Fields 1..12 are the same in Ray 2.9's layout; no 13+ is sent. */
			gr.n_placement_group_table_data = i;
			gr.placement_group_table_data = (Ray__Rpc__PlacementGroupTableData **) items;
			reply = &gr.base;
			break;
	}
	return pack_reply(reply, alloc, &arena, out, outlen, counters, "", err, errlen);
}

RayStatus
ray_state_json_row_strings(const char *json, size_t len, const char *key, char ***out, size_t *n,
						   char *err, size_t errlen)
{
	RayStatus	st;
	RayStateCounters k;
	cJSON	   *root;
	const cJSON *rows;
	const cJSON *row;

	*out = NULL;
	*n = 0;
	root = parse(json, len, err, errlen, &st);
	if (root == NULL)
		return st;
	rows = envelope(root, &k, err, errlen, &st);
	if (rows != NULL)
	{
		*out = calloc((size_t) k.rows + 1, sizeof(char *));
		if (*out == NULL)
			st = RAY_ERR_OOM;
		cJSON_ArrayForEach(row, rows)
		{
			const cJSON *v = cJSON_IsObject(row) ? member(row, key) : NULL;
			bool		seen = false;

			if (st != RAY_OK || !cJSON_IsString(v) || v->valuestring[0] == '\0')
				continue;
			for (size_t i = 0; i < *n && !seen; i++)
				seen = strcmp((*out)[i], v->valuestring) == 0;
			if (seen)
				continue;
			if (((*out)[*n] = strdup(v->valuestring)) == NULL)
				st = RAY_ERR_OOM;
			else
				(*n)++;
		}
		if (st == RAY_ERR_OOM)
			snprintf(err, errlen, "out of memory reading \"%s\" of %lld rows", key, (long long) k.rows);
	}
	release(root);
	if (st != RAY_OK)
	{
		ray_state_json_free_strings(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return st;
}

void
ray_state_json_free_strings(char **strings, size_t n)
{
	if (strings == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(strings[i]);
	free(strings);
}

static int
cmp_repr(const void *a, const void *b)
{
	return strcmp(((char *const *) a)[0], ((char *const *) b)[0]);
}

RayStatus
ray_state_json_actor_reprs(const char *json, size_t len, RayStateReprs **out, char *err, size_t errlen)
{
	RayStatus	st;
	RayStateCounters k;
	cJSON	   *root;
	const cJSON *rows;
	const cJSON *row;
	RayStateReprs *r;
	char	  **pairs;
	size_t		n = 0;

	*out = NULL;
	root = parse(json, len, err, errlen, &st);
	if (root == NULL)
		return st;
	rows = envelope(root, &k, err, errlen, &st);
	if (rows == NULL)
	{
		release(root);
		return st;
	}
	r = calloc(1, sizeof(RayStateReprs));
	pairs = calloc(2 * (size_t) k.rows + 2, sizeof(char *));
	if (r == NULL || pairs == NULL)
		st = RAY_ERR_OOM;
	cJSON_ArrayForEach(row, rows)
	{
		const cJSON *id = cJSON_IsObject(row) ? member(row, "actor_id") : NULL;
		const cJSON *repr = cJSON_IsObject(row) ? member(row, "repr_name") : NULL;

		if (st != RAY_OK || !cJSON_IsString(id) || !cJSON_IsString(repr) || repr->valuestring[0] == '\0')
			continue;
		pairs[2 * n] = strdup(id->valuestring);
		pairs[2 * n + 1] = strdup(repr->valuestring);
		if (pairs[2 * n] == NULL || pairs[2 * n + 1] == NULL)
			st = RAY_ERR_OOM;
		n++;
	}
	release(root);
	if (r)
	{
		r->n = n;
		r->ids = calloc(n + 1, sizeof(char *));
		r->reprs = calloc(n + 1, sizeof(char *));
		if (r->ids == NULL || r->reprs == NULL)
			st = RAY_ERR_OOM;
	}
	if (st == RAY_OK)
	{
		qsort(pairs, n, 2 * sizeof(char *), cmp_repr);
		for (size_t i = 0; i < n; i++)
		{
			r->ids[i] = pairs[2 * i];
			r->reprs[i] = pairs[2 * i + 1];
		}
		free(pairs);
		*out = r;
		return RAY_OK;
	}
	if (pairs)
		for (size_t i = 0; i < 2 * n; i++)
			free(pairs[i]);
	free(pairs);
	if (r)
	{
		free(r->ids);
		free(r->reprs);
		free(r);
	}
	snprintf(err, errlen, "out of memory reading %lld actors", (long long) k.rows);
	return RAY_ERR_OOM;
}

void
ray_state_json_free_reprs(RayStateReprs *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
	{
		free(r->ids[i]);
		free(r->reprs[i]);
	}
	free(r->ids);
	free(r->reprs);
	free(r);
}
