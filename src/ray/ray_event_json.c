/*
 * ray_event_json.c
 *		RayEvent JSON (Ray's Event Export) -> TaskEvents, as Ray's
 *		gcs_ray_event_converter.cc converts them.
 *
 * Per event (ray-event-export.md, "How Ray merges them back"):
 *  - TASK_DEFINITION_EVENT / ACTOR_TASK_DEFINITION_EVENT -> task_info:
 *    type (ACTOR_TASK for the actor form), name (taskName / actorTaskName),
 *    task, job and parent ids, actor_id (the actor form's actorId; for an
 *    ACTOR_CREATION_TASK bytes 8..24 of the task id, Ray's TaskID::ActorId),
 *    placement_group_id if non-empty, call_site if present, label_selector,
 *    language, runtime env (2.49 runtimeEnvInfo, later serializedRuntimeEnv),
 *    func_or_class_name = CallString(taskFunc / actorFunc),
 *    required_resources; TaskEvents.job_id too.
 *  - TASK_EXECUTION_EVENT (2.49: taskState map number -> time) and
 *    TASK_LIFECYCLE_EVENT (stateTransitions list of {state name, time}) ->
 *    state_updates: node / worker id if non-empty, worker_pid if non-zero,
 *    error info, is_debugger_paused and actor_repr_name if present,
 *    state_ts_ns; TaskEvents.job_id if non-empty. taskLogInfo is not
 *    converted (Ray does not either).
 *  - TASK_PROFILE_EVENT -> profile_events.
 *  - Events with an empty task id, or a definition with an empty job id,
 *    are rejected (Ray skips them silently; raydar keeps them visible).
 * Other known event types (jobs, nodes, actors, placement groups, workers)
 * are RAY_EVENT_OTHER; an unknown type is rejected.
 */
#include "ray_event_json.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ray_enums.h"

#define MAX_DEPTH 64
#define REJECT_TEXT_MAX 8192

typedef struct Conv
{
	RayArena   *arena;
	const RayVersion *v;
	RayEventItem *item;
	bool		bad;			/* item rejected (reason set) */
	bool		oom;
} Conv;

static bool reject(Conv *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Mark the event rejected (the first reason is kept); always false. */
static bool
reject(Conv *c, const char *fmt,...)
{
	va_list		ap;

	if (!c->bad)
	{
		va_start(ap, fmt);
		vsnprintf(c->item->reason, sizeof(c->item->reason), fmt, ap);
		va_end(ap);
		c->bad = true;
	}
	return false;
}

static void *
alloc0(Conv *c, size_t n)
{
	void	   *p = ray_arena_alloc(c->arena, n);

	if (p == NULL)
		c->oom = true;
	else
		memset(p, 0, n);
	return p;
}

static char *
dup(Conv *c, const char *s)
{
	char	   *p = ray_arena_strndup(c->arena, s, strlen(s));

	if (p == NULL)
		c->oom = true;
	return p;
}

/* Nesting check before cJSON sees the text: cJSON recurses once per level. */
static bool
depth_ok(const char *s, size_t len, size_t *where)
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
			if (++depth > MAX_DEPTH)
			{
				*where = i;
				return false;
			}
		}
		else if (ch == ']' || ch == '}')
			depth--;
	}
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

/* A member by its camelCase name or its snake_case one; null is absent. */
static const cJSON *
member(const cJSON *obj, const char *camel)
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

static bool
get_string(Conv *c, const cJSON *obj, const char *key, const char **out)
{
	const cJSON *m = member(obj, key);

	*out = NULL;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m))
		return reject(c, "\"%s\" is not a string", key);
	*out = dup(c, m->valuestring);
	return !c->oom;
}

/* An integer in [lo, hi]: a JSON number without fraction, or a decimal string. */
static bool
int_of(const cJSON *m, int64_t lo, int64_t hi, int64_t *out)
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

static bool
get_int(Conv *c, const cJSON *obj, const char *key, int64_t lo, int64_t hi,
		bool *has, int64_t *out)
{
	const cJSON *m = member(obj, key);

	*has = false;
	*out = 0;
	if (m == NULL)
		return true;
	if (!int_of(m, lo, hi, out))
		return reject(c, "\"%s\" is not an integer in [%lld, %lld]", key,
					  (long long) lo, (long long) hi);
	*has = true;
	return true;
}

static bool
get_bool(Conv *c, const cJSON *obj, const char *key, bool *has, bool *out)
{
	const cJSON *m = member(obj, key);

	*has = false;
	*out = false;
	if (m == NULL)
		return true;
	if (!cJSON_IsBool(m))
		return reject(c, "\"%s\" is not a boolean", key);
	*has = true;
	*out = cJSON_IsTrue(m);
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
static bool
get_id_raw(Conv *c, const cJSON *obj, const char *key, uint8_t *buf, size_t *len)
{
	const cJSON *m = member(obj, key);

	*len = 0;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m))
		return reject(c, "\"%s\" is not a base64 string", key);
	if (!ray_event_base64(m->valuestring, buf, RAY_EVENT_MAX_ID, len))
		return reject(c, "\"%s\" is not base64 of at most %d bytes", key, RAY_EVENT_MAX_ID);
	return true;
}

static bool
get_id(Conv *c, const cJSON *obj, const char *key, protobuf_c_boolean *has, ProtobufCBinaryData *out)
{
	uint8_t		buf[RAY_EVENT_MAX_ID];
	size_t		len;

	*has = 0;
	out->len = 0;
	out->data = NULL;
	if (!get_id_raw(c, obj, key, buf, &len))
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

static bool
get_time(Conv *c, const cJSON *obj, const char *key, bool *has, int64_t *ns)
{
	const cJSON *m = member(obj, key);

	*has = false;
	*ns = 0;
	if (m == NULL)
		return true;
	if (!cJSON_IsString(m) || !ray_event_parse_rfc3339(m->valuestring, ns))
		return reject(c, "\"%s\" is not an RFC 3339 timestamp in int64 nanoseconds", key);
	*has = true;
	return true;
}

/* An enum: a name that name_of(n) gives for some n in [0, max), or a number. */
static bool
get_enum(Conv *c, const cJSON *obj, const char *key, const char *(*name_of) (int), int max,
		 bool *has, int32_t *out)
{
	const cJSON *m = member(obj, key);
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
		return reject(c, "\"%s\" has an unknown value \"%.64s\"", key, m->valuestring);
	}
	/* An unknown number prints as the bare integer (protobuf's mapping). */
	if (!int_of(m, 0, INT32_MAX, &v))
		return reject(c, "\"%s\" is not an enum name or a number in [0, %d]", key, INT32_MAX);
	*has = true;
	*out = (int32_t) v;
	return true;
}

static const RayVersion *enum_version;

static const char *
status_name(int n)
{
	return ray_task_status_name(enum_version, n);
}

static const char *
error_type_name(int n)
{
	return ray_error_type_name_v(enum_version, n);
}

/* ---- payloads ---- */

static const char *
last_dotted(const char *s)
{
	const char *dot = strrchr(s, '.');

	return dot ? dot + 1 : s;
}

/* Ray's FunctionDescriptor CallString. */
static bool
call_string(Conv *c, const cJSON *fd, char **out)
{
	const cJSON *py = member(fd, "pythonFunctionDescriptor");
	const cJSON *java = member(fd, "javaFunctionDescriptor");
	const cJSON *cpp = member(fd, "cppFunctionDescriptor");
	const char *cls = NULL,
			   *fn = NULL;
	size_t		n;

	*out = NULL;
	if (fd == NULL)
		return true;
	if (!cJSON_IsObject(fd))
		return reject(c, "the function descriptor is not an object");
	if (py != NULL)
	{
		if (!get_string(c, py, "className", &cls) || !get_string(c, py, "functionName", &fn))
			return false;
		fn = last_dotted(fn ? fn : "");
		if (cls == NULL || cls[0] == '\0')
		{
			*out = dup(c, fn);
			return !c->oom;
		}
		cls = last_dotted(cls);
	}
	else if (java != NULL)
	{
		if (!get_string(c, java, "className", &cls) || !get_string(c, java, "functionName", &fn))
			return false;
		fn = fn ? fn : "";
		if (cls == NULL || cls[0] == '\0')
		{
			*out = dup(c, fn);
			return !c->oom;
		}
	}
	else if (cpp != NULL)
	{
		if (!get_string(c, cpp, "functionName", &fn))
			return false;
		*out = dup(c, fn ? fn : "");
		return !c->oom;
	}
	else
	{
		*out = dup(c, "");
		return !c->oom;
	}
	n = strlen(cls) + strlen(fn) + 2;
	*out = ray_arena_alloc(c->arena, n);
	if (*out == NULL)
	{
		c->oom = true;
		return false;
	}
	snprintf(*out, n, "%s.%s", cls, fn);
	return true;
}

static bool
required_resources(Conv *c, const cJSON *m, Ray__Rpc__TaskInfoEntry *info)
{
	const cJSON *e;
	size_t		n = 0;

	if (m == NULL)
		return true;
	if (!cJSON_IsObject(m))
		return reject(c, "\"requiredResources\" is not an object");
	cJSON_ArrayForEach(e, m) n++;
	info->required_resources = alloc0(c, sizeof(void *) * (n ? n : 1));
	if (info->required_resources == NULL)
		return false;
	cJSON_ArrayForEach(e, m)
	{
		Ray__Rpc__TaskInfoEntry__RequiredResourcesEntry *r = alloc0(c, sizeof(*r));
		Ray__Rpc__TaskInfoEntry__RequiredResourcesEntry init = RAY__RPC__TASK_INFO_ENTRY__REQUIRED_RESOURCES_ENTRY__INIT;

		if (r == NULL)
			return false;
		*r = init;
		if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
			return reject(c, "resource \"%.64s\" is not a finite number", e->string);
		r->key = dup(c, e->string);
		r->has_value = 1;
		r->value = e->valuedouble;
		info->required_resources[info->n_required_resources++] = r;
	}
	return !c->oom;
}

static bool
label_selector(Conv *c, const cJSON *m, Ray__Rpc__TaskInfoEntry *info)
{
	const cJSON *e;
	size_t		n = 0;

	if (m == NULL)
		return true;
	if (!cJSON_IsObject(m))
		return reject(c, "\"labelSelector\" is not an object");
	cJSON_ArrayForEach(e, m) n++;
	info->label_selector = alloc0(c, sizeof(void *) * (n ? n : 1));
	if (info->label_selector == NULL)
		return false;
	cJSON_ArrayForEach(e, m)
	{
		Ray__Rpc__TaskInfoEntry__LabelSelectorEntry *l = alloc0(c, sizeof(*l));
		Ray__Rpc__TaskInfoEntry__LabelSelectorEntry init = RAY__RPC__TASK_INFO_ENTRY__LABEL_SELECTOR_ENTRY__INIT;

		if (l == NULL)
			return false;
		*l = init;
		if (!cJSON_IsString(e))
			return reject(c, "label \"%.64s\" is not a string", e->string);
		l->key = dup(c, e->string);
		l->value = dup(c, e->valuestring);
		info->label_selector[info->n_label_selector++] = l;
	}
	return !c->oom;
}

/* The TaskEvents of (task_id, attempt) read from payload p. */
static Ray__Rpc__TaskEvents *
new_task_events(Conv *c, const cJSON *p, const char *attempt_key)
{
	Ray__Rpc__TaskEvents *te = alloc0(c, sizeof(*te));
	Ray__Rpc__TaskEvents init = RAY__RPC__TASK_EVENTS__INIT;
	int64_t		attempt;
	bool		has;

	if (te == NULL)
		return NULL;
	*te = init;
	if (!get_id(c, p, "taskId", &te->has_task_id, &te->task_id))
		return NULL;
	if (!te->has_task_id)
	{
		reject(c, "the event has no task id");
		return NULL;
	}
	if (!get_int(c, p, attempt_key, 0, INT32_MAX, &has, &attempt))
		return NULL;
	te->has_attempt_number = 1;
	te->attempt_number = (int32_t) attempt;
	return te;
}

static Ray__Rpc__TaskEvents *
definition(Conv *c, const cJSON *d, bool actor)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, d, "taskAttempt");
	Ray__Rpc__TaskInfoEntry *ti;
	Ray__Rpc__TaskInfoEntry tinit = RAY__RPC__TASK_INFO_ENTRY__INIT;
	bool		has;
	int32_t		v32;
	const char *s;
	const cJSON *rei;

	if (te == NULL)
		return NULL;
	ti = alloc0(c, sizeof(*ti));
	if (ti == NULL)
		return NULL;
	*ti = tinit;
	te->task_info = ti;
	if (!get_id(c, d, "jobId", &ti->has_job_id, &ti->job_id))
		return NULL;
	if (!ti->has_job_id)
	{
		reject(c, "the task definition has no job id");
		return NULL;
	}
	te->has_job_id = 1;
	te->job_id = ti->job_id;
	ti->has_task_id = 1;
	ti->task_id = te->task_id;
	if (actor)
	{
		ti->has_type = 1;
		ti->type = 2;			/* ACTOR_TASK */
	}
	else
	{
		if (!get_enum(c, d, "taskType", ray_task_type_name, 16, &has, &v32))
			return NULL;
		ti->has_type = 1;
		ti->type = v32;
	}
	if (!get_enum(c, d, "language", ray_language_name, 16, &has, &v32))
		return NULL;
	ti->has_language = 1;
	ti->language = v32;
	if (!get_string(c, d, actor ? "actorTaskName" : "taskName", &s))
		return NULL;
	ti->name = (char *) (s ? s : "");
	if (!call_string(c, member(d, actor ? "actorFunc" : "taskFunc"), &ti->func_or_class_name))
		return NULL;
	if (!get_id(c, d, "parentTaskId", &ti->has_parent_task_id, &ti->parent_task_id))
		return NULL;
	if (actor)
	{
		if (!get_id(c, d, "actorId", &ti->has_actor_id, &ti->actor_id))
			return NULL;
	}
	else if (ti->type == 1 && te->task_id.len >= 24)
	{
		/* ACTOR_CREATION_TASK: Ray's TaskID::ActorId(), bytes 8..24. */
		ti->has_actor_id = 1;
		ti->actor_id.data = te->task_id.data + 8;
		ti->actor_id.len = 16;
	}
	if (!get_id(c, d, "placementGroupId", &ti->has_placement_group_id, &ti->placement_group_id))
		return NULL;
	if (!get_string(c, d, "callSite", &s))
		return NULL;
	ti->call_site = (char *) s;
	if (!label_selector(c, member(d, "labelSelector"), ti) ||
		!required_resources(c, member(d, "requiredResources"), ti))
		return NULL;
	/* 2.49: runtimeEnvInfo only when the spec has one; later a plain string. */
	rei = member(d, "runtimeEnvInfo");
	if (rei != NULL && !cJSON_IsObject(rei))
	{
		reject(c, "\"runtimeEnvInfo\" is not an object");
		return NULL;
	}
	if (!get_string(c, rei ? rei : d, "serializedRuntimeEnv", &s))
		return NULL;
	if (s != NULL)
	{
		Ray__Rpc__RuntimeEnvInfo init = RAY__RPC__RUNTIME_ENV_INFO__INIT;

		ti->runtime_env_info = alloc0(c, sizeof(*ti->runtime_env_info));
		if (ti->runtime_env_info == NULL)
			return NULL;
		*ti->runtime_env_info = init;
		ti->runtime_env_info->serialized_runtime_env = (char *) s;
	}
	return c->oom ? NULL : te;
}

static bool
add_state(Conv *c, Ray__Rpc__TaskStateUpdate *su, size_t cap, int32_t state, int64_t ns)
{
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry *e;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry init = RAY__RPC__TASK_STATE_UPDATE__STATE_TS_NS_ENTRY__INIT;

	/* A later transition of the same state in one event wins. */
	for (size_t i = 0; i < su->n_state_ts_ns; i++)
		if (su->state_ts_ns[i]->key == state)
		{
			su->state_ts_ns[i]->value = ns;
			return true;
		}
	if (su->n_state_ts_ns >= cap)
		return reject(c, "too many state transitions");
	e = alloc0(c, sizeof(*e));
	if (e == NULL)
		return false;
	*e = init;
	e->has_key = 1;
	e->key = state;
	e->has_value = 1;
	e->value = ns;
	su->state_ts_ns[su->n_state_ts_ns++] = e;
	return true;
}

static Ray__Rpc__TaskEvents *
lifecycle(Conv *c, const cJSON *p)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, p, "taskAttempt");
	Ray__Rpc__TaskStateUpdate *su;
	Ray__Rpc__TaskStateUpdate sinit = RAY__RPC__TASK_STATE_UPDATE__INIT;
	const cJSON *map = member(p, "taskState");
	const cJSON *list = member(p, "stateTransitions");
	const cJSON *rei = member(p, "rayErrorInfo");
	const cJSON *e;
	size_t		cap = 0;
	bool		has,
				b;
	int64_t		v;
	const char *s;

	if (te == NULL)
		return NULL;
	su = alloc0(c, sizeof(*su));
	if (su == NULL)
		return NULL;
	*su = sinit;
	te->state_updates = su;
	if (!get_id(c, p, "jobId", &te->has_job_id, &te->job_id) ||
		!get_id(c, p, "nodeId", &su->has_node_id, &su->node_id) ||
		!get_id(c, p, "workerId", &su->has_worker_id, &su->worker_id))
		return NULL;
	if (!get_int(c, p, "workerPid", INT32_MIN, INT32_MAX, &has, &v))
		return NULL;
	if (has && v != 0)
	{
		su->has_worker_pid = 1;
		su->worker_pid = (int32_t) v;
	}
	if (!get_bool(c, p, "isDebuggerPaused", &has, &b))
		return NULL;
	su->has_is_debugger_paused = has;
	su->is_debugger_paused = b;
	if (!get_string(c, p, "actorReprName", &s))
		return NULL;
	su->actor_repr_name = (char *) s;
	if (rei != NULL)
	{
		Ray__Rpc__RayErrorInfo init = RAY__RPC__RAY_ERROR_INFO__INIT;
		int32_t		et;

		if (!cJSON_IsObject(rei))
		{
			reject(c, "\"rayErrorInfo\" is not an object");
			return NULL;
		}
		su->error_info = alloc0(c, sizeof(*su->error_info));
		if (su->error_info == NULL)
			return NULL;
		*su->error_info = init;
		if (!get_enum(c, rei, "errorType", error_type_name, 256, &has, &et) ||
			!get_string(c, rei, "errorMessage", &s))
			return NULL;
		su->error_info->has_error_type = has;
		su->error_info->error_type = et;
		su->error_info->error_message = (char *) (s ? s : "");
	}
	if (map != NULL && !cJSON_IsObject(map))
	{
		reject(c, "\"taskState\" is not an object");
		return NULL;
	}
	if (list != NULL && !cJSON_IsArray(list))
	{
		reject(c, "\"stateTransitions\" is not an array");
		return NULL;
	}
	if (map)
		cJSON_ArrayForEach(e, map) cap++;
	if (list)
		cJSON_ArrayForEach(e, list) cap++;
	su->state_ts_ns = alloc0(c, sizeof(void *) * (cap ? cap : 1));
	if (su->state_ts_ns == NULL)
		return NULL;
	if (map)
		cJSON_ArrayForEach(e, map)
	{
		/* 2.49: TaskStatus number (a decimal key) -> Timestamp. */
		char	   *end;
		long		num;
		int64_t		ns;

		errno = 0;
		num = strtol(e->string, &end, 10);
		if (e->string[0] == '\0' || *end != '\0' || errno != 0 || num < 0 || num > INT32_MAX)
		{
			reject(c, "\"taskState\" key \"%.32s\" is not a TaskStatus number", e->string);
			return NULL;
		}
		if (!cJSON_IsString(e) || !ray_event_parse_rfc3339(e->valuestring, &ns))
		{
			reject(c, "\"taskState\" of %ld is not an RFC 3339 timestamp", num);
			return NULL;
		}
		if (!add_state(c, su, cap, (int32_t) num, ns))
			return NULL;
	}
	if (list)
		cJSON_ArrayForEach(e, list)
	{
		int32_t		st;
		int64_t		ns;

		if (!cJSON_IsObject(e))
		{
			reject(c, "a state transition is not an object");
			return NULL;
		}
		if (!get_enum(c, e, "state", status_name, 64, &has, &st))
			return NULL;
		if (!has)
		{
			reject(c, "a state transition has no state");
			return NULL;
		}
		if (!get_time(c, e, "timestamp", &has, &ns))
			return NULL;
		if (!has)
		{
			reject(c, "a state transition has no timestamp");
			return NULL;
		}
		if (!add_state(c, su, cap, st, ns))
			return NULL;
	}
	return c->oom ? NULL : te;
}

static Ray__Rpc__TaskEvents *
profile(Conv *c, const cJSON *p)
{
	Ray__Rpc__TaskEvents *te = new_task_events(c, p, "attemptNumber");
	Ray__Rpc__ProfileEvents *pe;
	Ray__Rpc__ProfileEvents init = RAY__RPC__PROFILE_EVENTS__INIT;
	const cJSON *m;
	const cJSON *evs;
	const cJSON *e;
	size_t		n = 0;
	const char *s;

	if (te == NULL)
		return NULL;
	if (!get_id(c, p, "jobId", &te->has_job_id, &te->job_id))
		return NULL;
	m = member(p, "profileEvents");
	if (m == NULL)
		return te;
	if (!cJSON_IsObject(m))
	{
		reject(c, "\"profileEvents\" is not an object");
		return NULL;
	}
	pe = alloc0(c, sizeof(*pe));
	if (pe == NULL)
		return NULL;
	*pe = init;
	te->profile_events = pe;
	if (!get_string(c, m, "componentType", &s))
		return NULL;
	pe->component_type = (char *) s;
	if (!get_string(c, m, "nodeIpAddress", &s))
		return NULL;
	pe->node_ip_address = (char *) s;
	if (!get_id(c, m, "componentId", &pe->has_component_id, &pe->component_id))
		return NULL;
	evs = member(m, "events");
	if (evs == NULL)
		return te;
	if (!cJSON_IsArray(evs))
	{
		reject(c, "\"events\" is not an array");
		return NULL;
	}
	cJSON_ArrayForEach(e, evs) n++;
	pe->events = alloc0(c, sizeof(void *) * (n ? n : 1));
	if (pe->events == NULL)
		return NULL;
	cJSON_ArrayForEach(e, evs)
	{
		Ray__Rpc__ProfileEventEntry *x = alloc0(c, sizeof(*x));
		Ray__Rpc__ProfileEventEntry xinit = RAY__RPC__PROFILE_EVENT_ENTRY__INIT;
		bool		has;

		if (x == NULL)
			return NULL;
		*x = xinit;
		if (!cJSON_IsObject(e))
		{
			reject(c, "a profile event is not an object");
			return NULL;
		}
		if (!get_int(c, e, "startTime", INT64_MIN, INT64_MAX, &has, &x->start_time))
			return NULL;
		x->has_start_time = has;
		if (!get_int(c, e, "endTime", INT64_MIN, INT64_MAX, &has, &x->end_time))
			return NULL;
		x->has_end_time = has;
		if (!get_string(c, e, "eventName", &s))
			return NULL;
		x->event_name = (char *) s;
		if (!get_string(c, e, "extraData", &s))
			return NULL;
		x->extra_data = (char *) s;
		pe->events[pe->n_events++] = x;
	}
	return c->oom ? NULL : te;
}

/* Event types by name and number (ray-event-export.md); payload key or NULL. */
typedef struct EventType
{
	const char *name;
	int			number;
	const char *payload;		/* a task payload raydar converts, else NULL */
	const char *payload2;		/* the other name of the same payload */
} EventType;

static const EventType event_types[] = {
	{"TASK_DEFINITION_EVENT", 1, "taskDefinitionEvent", NULL},
	{"TASK_EXECUTION_EVENT", 2, "taskExecutionEvent", "taskLifecycleEvent"},
	{"TASK_LIFECYCLE_EVENT", 2, "taskLifecycleEvent", "taskExecutionEvent"},
	{"ACTOR_TASK_DEFINITION_EVENT", 3, "actorTaskDefinitionEvent", NULL},
	{"TASK_PROFILE_EVENT", 4, "taskProfileEvents", NULL},
	{"DRIVER_JOB_DEFINITION_EVENT", 5, NULL, NULL},
	{"DRIVER_JOB_LIFECYCLE_EVENT", 6, NULL, NULL},
	{"NODE_DEFINITION_EVENT", 7, NULL, NULL},
	{"NODE_LIFECYCLE_EVENT", 8, NULL, NULL},
	{"ACTOR_DEFINITION_EVENT", 9, NULL, NULL},
	{"ACTOR_LIFECYCLE_EVENT", 10, NULL, NULL},
	{"PLACEMENT_GROUP_DEFINITION_EVENT", 11, NULL, NULL},
	{"PLACEMENT_GROUP_LIFECYCLE_EVENT", 12, NULL, NULL},
	{"SUBMISSION_JOB_DEFINITION_EVENT", 13, NULL, NULL},
	{"SUBMISSION_JOB_LIFECYCLE_EVENT", 14, NULL, NULL},
	{"PLATFORM_EVENT", 15, NULL, NULL},
	{"WORKER_LIFECYCLE_EVENT", 16, NULL, NULL},
	{"WORKER_DEFINITION_EVENT", 17, NULL, NULL},
};

static const EventType *
event_type(const cJSON *m)
{
	int64_t		n;

	if (cJSON_IsString(m))
	{
		for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
			if (strcmp(event_types[i].name, m->valuestring) == 0)
				return &event_types[i];
	}
	if (int_of(m, 1, 17, &n))
		for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
			if (event_types[i].number == n)
				return &event_types[i];
	return NULL;
}

/* One array element into item. */
static void
convert_event(Conv *c, const cJSON *ev)
{
	RayEventItem *it = c->item;
	const cJSON *m;
	const EventType *et;
	const cJSON *p;
	const char *s;
	bool		has;

	it->kind = RAY_EVENT_REJECTED;
	it->event_type = "";
	it->session_name = "";
	if (!cJSON_IsObject(ev))
	{
		reject(c, "the event is not a JSON object");
		return;
	}
	if (!get_id_raw(c, ev, "eventId", it->event_id, &it->event_id_len))
		return;
	if (it->event_id_len == 0)
	{
		reject(c, "the event has no eventId");
		return;
	}
	if (!get_id_raw(c, ev, "nodeId", it->node_id, &it->node_id_len) ||
		!get_time(c, ev, "timestamp", &it->has_timestamp, &it->timestamp_ns) ||
		!get_string(c, ev, "sessionName", &s))
		return;
	it->session_name = s ? s : "";
	m = member(ev, "eventType");
	if (m == NULL)
	{
		reject(c, "the event has no eventType");
		return;
	}
	if (cJSON_IsString(m))
		it->event_type = dup(c, m->valuestring);
	et = event_type(m);
	if (et == NULL)
	{
		reject(c, "unknown eventType");
		return;
	}
	if (it->event_type[0] == '\0')
		it->event_type = et->name;
	if (et->payload == NULL)
	{
		it->kind = RAY_EVENT_OTHER;
		return;
	}
	p = member(ev, et->payload);
	if (p == NULL && et->payload2)
		p = member(ev, et->payload2);
	if (p == NULL || !cJSON_IsObject(p))
	{
		reject(c, "the %s has no \"%s\" object", et->name, et->payload);
		return;
	}
	switch (et->number)
	{
		case 1:
			it->task = definition(c, p, false);
			break;
		case 3:
			it->task = definition(c, p, true);
			break;
		case 2:
			it->task = lifecycle(c, p);
			break;
		default:
			it->task = profile(c, p);
			break;
	}
	(void) has;
	if (it->task != NULL && !c->bad)
		it->kind = RAY_EVENT_TASK;
	else if (!c->bad)
		reject(c, "out of memory");
}

RayStatus
ray_event_batch_parse(const char *json, size_t len, const RayVersion *v,
					  ProtobufCAllocator *alloc, RayEventBatch **out,
					  char *err, size_t errlen)
{
	RayArena	arena;
	RayEventBatch *b;
	cJSON	   *root;
	const cJSON *ev;
	const char *end = NULL;
	size_t		where = 0;
	size_t		n = 0;

	*out = NULL;
	if (json == NULL || len == 0)
	{
		snprintf(err, errlen, "empty body where a JSON array of events was expected");
		return RAY_ERR_MALFORMED;
	}
	if (len > RAY_EVENT_MAX_BODY)
	{
		snprintf(err, errlen, "body of %zu bytes exceeds the %zu-byte limit", len, RAY_EVENT_MAX_BODY);
		return RAY_ERR_TOO_LARGE;
	}
	if (!depth_ok(json, len, &where))
	{
		snprintf(err, errlen, "JSON nested deeper than %d levels (at byte %zu)", MAX_DEPTH, where);
		return RAY_ERR_MALFORMED;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (root == NULL)
	{
		size_t		at = end && end >= json && end <= json + len ? (size_t) (end - json) : len;

		snprintf(err, errlen, "invalid JSON at byte %zu of %zu", at, len);
		return RAY_ERR_MALFORMED;
	}
	while (end != NULL && end < json + len && isspace((unsigned char) *end))
		end++;
	if (end != NULL && end < json + len)
	{
		snprintf(err, errlen, "unexpected data after the JSON value at byte %zu of %zu",
				 (size_t) (end - json), len);
		cJSON_Delete(root);
		return RAY_ERR_MALFORMED;
	}
	if (!cJSON_IsArray(root))
	{
		snprintf(err, errlen, "the body is not a JSON array of events");
		cJSON_Delete(root);
		return RAY_ERR_MALFORMED;
	}
	cJSON_ArrayForEach(ev, root) n++;
	ray_arena_init(&arena, alloc);
	b = ray_arena_alloc(&arena, sizeof(*b));
	if (b == NULL)
		goto oom;
	memset(b, 0, sizeof(*b));
	b->items = ray_arena_alloc(&arena, sizeof(RayEventItem) * (n ? n : 1));
	if (b->items == NULL)
		goto oom;
	enum_version = v;
	cJSON_ArrayForEach(ev, root)
	{
		RayEventItem *it = &b->items[b->n];
		Conv		c = {&arena, v, it, false, false};

		memset(it, 0, sizeof(*it));
		it->index = b->n;
		convert_event(&c, ev);
		if (c.oom)
			goto oom;
		if (it->kind == RAY_EVENT_REJECTED)
		{
			char	   *t = cJSON_PrintUnformatted(ev);

			if (t != NULL)
			{
				size_t		tl = strlen(t);

				it->text = ray_arena_strndup(&arena, t, tl > REJECT_TEXT_MAX ? REJECT_TEXT_MAX : tl);
				cJSON_free(t);
			}
			b->nrejected++;
		}
		else if (it->kind == RAY_EVENT_TASK)
			b->ntask++;
		else
			b->nother++;
		b->n++;
	}
	cJSON_Delete(root);
	b->arena = arena;
	*out = b;
	return RAY_OK;

oom:
	cJSON_Delete(root);
	ray_arena_free(&arena);
	snprintf(err, errlen, "out of memory reading %zu bytes of events", len);
	return RAY_ERR_OOM;
}

void
ray_event_batch_free(RayEventBatch *b)
{
	RayArena	arena;

	if (b == NULL)
		return;
	arena = b->arena;			/* b itself lives in the arena */
	ray_arena_free(&arena);
}
