/*
 * ray_json_read.h
 *		Reading Ray's JSON with cJSON: the nesting check every body needs
 *		before cJSON sees it, and typed readers of protobuf's JSON mapping
 *		that reject a value out of range with a reason instead of reading
 *		half of it.
 *
 * Shared by the State API reader (ray_dashboard_parse.c, which uses the
 * nesting check) and the Event Export readers (ray_event_json.c for task
 * events, ray_event_entity.c for jobs, actors and nodes). Keys are looked
 * up by their lowerCamelCase name and, failing that, by its snake_case
 * form (Ray's RAY_DASHBOARD_AGGREGATOR_AGENT_PRESERVE_PROTO_FIELD_NAME);
 * a JSON null is an absent key, as protobuf's JSON parser reads it.
 * PostgreSQL-free.
 */
#ifndef RAY_JSON_READ_H
#define RAY_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "ray_arena.h"

/*
 * False (with *where at the offending byte) if s nests deeper than
 * max_depth: cJSON recurses once per level, so a deep input must be refused
 * by a loop, not a stack. *unclosed (may be NULL) says whether the text
 * ends inside a string or an open container: a cut-off body.
 */
extern bool ray_json_depth_ok(const char *s, size_t len, int max_depth, size_t *where,
							  bool *unclosed);

/*
 * cJSON_ParseWithLengthOpts (no null terminator required) with the whole
 * tree allocated in arena: cJSON allocates each value as it parses, and
 * malloc and free of those nodes was much of the time of a large body.
 * The tree goes with ray_arena_free(arena), never cJSON_Delete. *oom says
 * a NULL came from the arena running out. Safe from several threads at
 * once: cJSON's allocator is global, so it is set once to hooks that use
 * the calling thread's arena (or malloc outside a parse).
 */
/*
 * Install those hooks now. Call it before starting a thread that parses,
 * so no thread can be inside cJSON while the hooks are set.
 */
extern void ray_json_threads_init(void);
extern cJSON *ray_json_parse_in(RayArena *arena, const char *json, size_t len, const char **end,
								bool *oom);

/* One value being read: the first reason for rejecting it, and where to allocate. */
typedef struct RayJsonRead
{
	RayArena   *arena;
	char	   *reason;			/* reasonlen bytes, set by the first reject */
	size_t		reasonlen;
	bool		bad;			/* rejected: reason says why */
	bool		oom;
} RayJsonRead;

/* Record the first reason; always false. */
extern bool ray_json_reject(RayJsonRead *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void *ray_json_alloc0(RayJsonRead *c, size_t n);
extern char *ray_json_dup(RayJsonRead *c, const char *s);

/* A member by its camelCase name or its snake_case one; NULL if absent or null. */
extern const cJSON *ray_json_member(const cJSON *obj, const char *camel);

/* An integer in [lo, hi]: a JSON number without fraction (|n| <= 2^53) or a decimal string. */
extern bool ray_json_int_of(const cJSON *m, int64_t lo, int64_t hi, int64_t *out);

/*
 * Typed members; each is true when absent (*has false, or *out NULL) and
 * false (rejected, reason set) when present with the wrong type or range.
 */
extern bool ray_json_string(RayJsonRead *c, const cJSON *obj, const char *key, const char **out);
extern bool ray_json_int(RayJsonRead *c, const cJSON *obj, const char *key, int64_t lo, int64_t hi,
						 bool *has, int64_t *out);
extern bool ray_json_bool(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, bool *out);
extern bool ray_json_double(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, double *out);
/* Ids: base64 of at most cap bytes; absent or "" is no id (*len 0). */
extern bool ray_json_id_raw(RayJsonRead *c, const cJSON *obj, const char *key, uint8_t *buf,
							size_t cap, size_t *len);
/* The same into protobuf bytes from the arena (has false for no id). */
extern bool ray_json_id(RayJsonRead *c, const cJSON *obj, const char *key, protobuf_c_boolean *has,
						ProtobufCBinaryData *out);
/* An RFC 3339 timestamp in Unix ns. */
extern bool ray_json_time(RayJsonRead *c, const cJSON *obj, const char *key, bool *has, int64_t *ns);
/* An enum: a name name_of(n) gives for some n in [0, max), or a number in [0, INT32_MAX]. */
extern bool ray_json_enum(RayJsonRead *c, const cJSON *obj, const char *key,
						  const char *(*name_of) (int), int max, bool *has, int32_t *out);

/*
 * A JSON object of finite numbers (doubles) or strings into a protobuf map
 * field: entries of descriptor d (a map<string, double> or map<string,
 * string> entry), *n and *entries as protobuf-c keeps them.
 */
extern bool ray_json_map(RayJsonRead *c, const cJSON *obj, const char *key, bool doubles,
						 const ProtobufCMessageDescriptor *d, size_t *n, void ***entries);

/* Largest id the readers take (Ray's are 4 to 28 bytes). */
#define RAY_JSON_MAX_ID 64

/*
 * The value readers, exposed for tests: RFC 3339 into Unix ns (false if
 * malformed or outside int64 ns), and base64 (standard or URL-safe,
 * padding optional) of at most cap bytes.
 */
extern bool ray_event_parse_rfc3339(const char *s, int64_t *ns);
extern bool ray_event_base64(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif							/* RAY_JSON_READ_H */
