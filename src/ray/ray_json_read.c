/*
 * ray_json_read.c
 *		Typed readers of protobuf's JSON mapping over cJSON, and the nesting
 *		check (see ray_json_read.h).
 */
#include "ray_json_read.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* map<string, double> and map<string, string> entries: one layout each in protobuf-c. */
typedef struct DoubleEntry
{
	ProtobufCMessage base;
	char	   *key;
	protobuf_c_boolean has_value;
	double		value;
} DoubleEntry;

typedef struct StringEntry
{
	ProtobufCMessage base;
	char	   *key;
	char	   *value;
} StringEntry;

/* Mark the event rejected (the first reason is kept); always false. */
bool
ray_json_reject(RayJsonRead *c, const char *fmt,...)
{
	va_list		ap;

	if (!c->bad)
	{
		va_start(ap, fmt);
		vsnprintf(c->reason, c->reasonlen, fmt, ap);
		va_end(ap);
		c->bad = true;
	}
	return false;
}

void *
ray_json_alloc0(RayJsonRead *c, size_t n)
{
	void	   *p = ray_arena_alloc(c->arena, n);

	if (p == NULL)
		c->oom = true;
	else
		memset(p, 0, n);
	return p;
}

char *
ray_json_dup(RayJsonRead *c, const char *s)
{
	char	   *p = ray_arena_strndup(c->arena, s, strlen(s));

	if (p == NULL)
		c->oom = true;
	return p;
}

/*
 * Nesting check before cJSON sees the text: cJSON recurses once per level,
 * so a deep input must be refused by a loop, not a stack.
 */
bool
ray_json_depth_ok(const char *s, size_t len, int max_depth, size_t *where, bool *unclosed)
{
	int			depth = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		ch = s[i];

		if (in_string)
		{
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		}
		else if (ch == '"')
			in_string = true;
		else if (ch == '[' || ch == '{')
		{
			if (++depth > max_depth)
			{
				*where = i;
				return false;
			}
		}
		else if (ch == ']' || ch == '}')
			depth--;
	}
	/* The end inside a string or an open container: a cut-off body. */
	if (unclosed != NULL)
		*unclosed = in_string || depth > 0;
	return true;
}

/* ---- keys: lowerCamelCase as Ray sends by default, or snake_case ---- */

static void
to_snake(const char *camel, char *out, size_t n)
{
	size_t		o = 0;

	for (const char *p = camel; *p && o + 2 < n; p++)
	{
		if (isupper((unsigned char) *p))
		{
			out[o++] = '_';
			out[o++] = (char) tolower((unsigned char) *p);
		}
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

/*
 * cJSON's allocation hooks are one process-wide setting, so they are set
 * once (pthread_once) and never changed: they allocate in the arena this
 * thread's ray_json_parse_in is filling, or with malloc when none is. The
 * arena is per thread, so two threads may parse at once (the push merger
 * parses ahead in a thread of its own, src/event_parse_ahead.c).
 */
static __thread RayArena *parse_arena;
static __thread bool parse_oom;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void *
parse_malloc(size_t n)
{
	void	   *p;

	if (parse_arena == NULL)
		return malloc(n);
	p = ray_arena_alloc(parse_arena, n);
	if (p == NULL)
		parse_oom = true;
	return p;
}

static void
parse_free(void *p)
{
	if (parse_arena == NULL)
		free(p);
	/* else: freed with the arena */
}

static void
install_hooks(void)
{
	cJSON_Hooks hooks = {parse_malloc, parse_free};

	cJSON_InitHooks(&hooks);
}

void
ray_json_threads_init(void)
{
	pthread_once(&hooks_once, install_hooks);
}

cJSON *
ray_json_parse_in(RayArena *arena, const char *json, size_t len, const char **end, bool *oom)
{
	cJSON	   *root;

	ray_json_threads_init();
	parse_arena = arena;
	parse_oom = false;
	root = cJSON_ParseWithLengthOpts(json, len, end, 0);
	parse_arena = NULL;
	*oom = parse_oom;
	return root;
}

/* A member by its camelCase name or its snake_case one; null is absent. */
const cJSON *
ray_json_member(const cJSON *obj, const char *camel)
{
	const cJSON *m;
	char		snake[96];

	if (!cJSON_IsObject(obj))
		return NULL;
	m = cJSON_GetObjectItemCaseSensitive(obj, camel);
	if (m == NULL)
	{
		to_snake(camel, snake, sizeof(snake));
		if (strcmp(snake, camel) != 0)
			m = cJSON_GetObjectItemCaseSensitive(obj, snake);
	}
	return (m == NULL || cJSON_IsNull(m)) ? NULL : m;
}

/* ---- typed values; false means rejected ---- */

bool
ray_json_string(RayJsonRead *c, const cJSON *obj, const char *key, const char **out)
{
	const cJSON *m = ray_json_member(obj, key);

	*out = NULL;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m))
		return ray_json_reject(c, "\"%s\" is not a string", key);
	*out = ray_json_dup(c, m->valuestring);
	return !c->oom;
}

/* An integer in [lo, hi]: a JSON number without fraction, or a decimal string. */
bool
ray_json_int_of(const cJSON *m, int64_t lo, int64_t hi, int64_t *out)
{
	if (cJSON_IsString(m))
	{
		const char *s = m->valuestring;
		char	   *end;
		long long	v;

		if (s[0] == '\0' || isspace((unsigned char) s[0]))
			return false;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (*end != '\0' || errno != 0 || v < lo || v > hi)
			return false;
		*out = v;
		return true;
	}
	if (cJSON_IsNumber(m))
	{
		double		d = m->valuedouble;

		/* Beyond 2^53 a JSON number is already rounded: Ray sends strings there. */
		if (!isfinite(d) || d != floor(d) || d < (double) lo || d > (double) hi ||
			fabs(d) > 9007199254740992.0)
			return false;
		*out = (int64_t) d;
		return true;
	}
	return false;
}

bool
ray_json_int(RayJsonRead *c, const cJSON *obj, const char *key, int64_t lo, int64_t hi,
		bool *has, int64_t *out)
{
	const cJSON *m = ray_json_member(obj, key);

	*has = false;
	*out = 0;
	if (m == NULL)
		return true;
	if (!ray_json_int_of(m, lo, hi, out))
		return ray_json_reject(c, "\"%s\" is not an integer in [%lld, %lld]", key,
					  (long long) lo, (long long) hi);
	*has = true;
	return true;
}

bool
ray_json_bool(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, bool *out)
{
	const cJSON *m = ray_json_member(obj, key);

	*has = false;
	*out = false;
	if (m == NULL)
		return true;
	if (!cJSON_IsBool(m))
		return ray_json_reject(c, "\"%s\" is not a boolean", key);
	*has = true;
	*out = cJSON_IsTrue(m);
	return true;
}

bool
ray_json_double(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, double *out)
{
	const cJSON *m = ray_json_member(obj, key);

	*has = false;
	*out = 0;
	if (m == NULL)
		return true;
	if (!cJSON_IsNumber(m) || !isfinite(m->valuedouble))
		return ray_json_reject(c, "\"%s\" is not a finite number", key);
	*has = true;
	*out = m->valuedouble;
	return true;
}

static int
b64_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/*
 * Base64 (standard or URL-safe, padding optional, as protobuf's JSON parser
 * accepts) into out (cap bytes). False if not base64 or longer than cap.
 */
bool
ray_event_base64(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t		n = strlen(s);
	uint32_t	acc = 0;
	int			bits = 0;
	size_t		o = 0;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (strlen(s) - n > 2 || n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		int			v = b64_value((unsigned char) s[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (o >= cap)
				return false;
			out[o++] = (uint8_t) (acc >> bits);
		}
	}
	/* Leftover bits must be zero (a canonical encoding). */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return false;
	*len = o;
	return true;
}

/* An id: absent or "" is no id (len 0). */
bool
ray_json_id_raw(RayJsonRead *c, const cJSON *obj, const char *key, uint8_t *buf, size_t cap,
				size_t *len)
{
	const cJSON *m = ray_json_member(obj, key);

	*len = 0;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m))
		return ray_json_reject(c, "\"%s\" is not a base64 string", key);
	if (!ray_event_base64(m->valuestring, buf, cap, len))
		return ray_json_reject(c, "\"%s\" is not base64 of at most %zu bytes", key, cap);
	return true;
}

bool
ray_json_id(RayJsonRead *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, ProtobufCBinaryData *out)
{
	uint8_t		buf[RAY_JSON_MAX_ID];
	size_t		len;

	*has = 0;
	out->len = 0;
	out->data = NULL;
	if (!ray_json_id_raw(c, obj, key, buf, sizeof(buf), &len))
		return false;
	if (len == 0)
		return true;
	out->data = ray_arena_alloc(c->arena, len);
	if (out->data == NULL)
	{
		c->oom = true;
		return false;
	}
	memcpy(out->data, buf, len);
	out->len = len;
	*has = 1;
	return true;
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	/* Howard Hinnant's algorithm: days since 1970-01-01. */
	int64_t		era;
	int64_t		yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|+HH:MM|-HH:MM)" into Unix ns.
 * False if malformed, out of its ranges, or outside int64 ns (1677..2262).
 */
bool
ray_event_parse_rfc3339(const char *s, int64_t *ns)
{
	int			y,
				mo,
				d,
				h,
				mi,
				se,
				oh = 0,
				om = 0;
	int64_t		frac = 0;
	int			nfrac = 0;
	const char *p;
	int64_t		secs;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
		s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
		!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
		(mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) ||
		h > 23 || mi > 59 || se > 59)
		return false;
	p = s + 19;
	if (*p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p))
		{
			if (++nfrac > 9)
				return false;
			frac = frac * 10 + (*p - '0');
			p++;
		}
		if (nfrac == 0)
			return false;
		for (int i = nfrac; i < 9; i++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = *p == '-' ? -1 : 1;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		oh *= sign;
		om *= sign;
		p += 6;
	}
	else
		return false;
	if (*p != '\0')
		return false;
	secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - (oh * 3600 + om * 60);
	/* int64 ns holds 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z */
	if (secs < -9223372037LL || secs > 9223372036LL ||
		(secs == 9223372036LL && frac > 854775807LL) ||
		(secs == -9223372037LL && frac < 145224192LL))
		return false;
	*ns = secs * 1000000000LL + frac;
	return true;
}

bool
ray_json_time(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, int64_t *ns)
{
	const cJSON *m = ray_json_member(obj, key);

	*has = false;
	*ns = 0;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m) || !ray_event_parse_rfc3339(m->valuestring, ns))
		return ray_json_reject(c, "\"%s\" is not an RFC 3339 timestamp in int64 nanoseconds", key);
	*has = true;
	return true;
}

/* An enum: a name that name_of(n) gives for some n in [0, max), or a number. */
bool
ray_json_enum(RayJsonRead *c, const cJSON *obj, const char *key, const char *(*name_of) (int), int max,
		 bool *has, int32_t *out)
{
	const cJSON *m = ray_json_member(obj, key);
	int64_t		v;

	*has = false;
	*out = 0;
	if (m == NULL)
		return true;
	if (cJSON_IsString(m) && !isdigit((unsigned char) m->valuestring[0]) && m->valuestring[0] != '-')
	{
		for (int i = 0; i < max; i++)
		{
			const char *n = name_of(i);

			if (n != NULL && strcmp(n, m->valuestring) == 0)
			{
				*has = true;
				*out = i;
				return true;
			}
		}
		return ray_json_reject(c, "\"%s\" has an unknown value \"%.64s\"", key, m->valuestring);
	}
	/* An unknown number prints as the bare integer (protobuf's mapping). */
	if (!ray_json_int_of(m, 0, INT32_MAX, &v))
		return ray_json_reject(c, "\"%s\" is not an enum name or a number in [0, %d]", key, INT32_MAX);
	*has = true;
	*out = (int32_t) v;
	return true;
}

/*
 * A JSON object of numbers (doubles) or strings into a map field's entries
 * (entry descriptor d); *n and *entries as protobuf-c keeps them.
 */
bool
ray_json_map(RayJsonRead *c, const cJSON *obj, const char *key, bool doubles,
			 const ProtobufCMessageDescriptor *d, size_t *n, void ***entries)
{
	const cJSON *m = ray_json_member(obj, key);
	const cJSON *e;
	size_t		cap = 0;

	*n = 0;
	*entries = NULL;
	if (m == NULL)
		return true;
	if (!cJSON_IsObject(m))
		return ray_json_reject(c, "\"%s\" is not an object", key);
	cJSON_ArrayForEach(e, m) cap++;
	if (cap == 0)
		return true;
	*entries = ray_json_alloc0(c, sizeof(void *) * cap);
	if (*entries == NULL)
		return false;
	cJSON_ArrayForEach(e, m)
	{
		void	   *x;

		if (doubles ? !cJSON_IsNumber(e) || !isfinite(e->valuedouble) : !cJSON_IsString(e))
			return ray_json_reject(c, "\"%s\" entry \"%.64s\" is not a %s", key, e->string,
								   doubles ? "finite number" : "string");
		x = ray_json_alloc0(c, d->sizeof_message);
		if (x == NULL)
			return false;
		protobuf_c_message_init(d, x);
		if (doubles)
		{
			((DoubleEntry *) x)->key = ray_json_dup(c, e->string);
			((DoubleEntry *) x)->has_value = 1;
			((DoubleEntry *) x)->value = e->valuedouble;
		}
		else
		{
			((StringEntry *) x)->key = ray_json_dup(c, e->string);
			((StringEntry *) x)->value = ray_json_dup(c, e->valuestring);
		}
		(*entries)[(*n)++] = x;
	}
	return !c->oom;
}
