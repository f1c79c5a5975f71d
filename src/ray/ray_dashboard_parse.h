/*
 * ray_dashboard_parse.h
 *		Read the Ray dashboard's State API JSON (GET /api/v0/<resource>).
 *
 * A dashboard_url server must give exactly the rows an address (gRPC)
 * server gives. The dashboard's task rows are Ray's protobuf_to_task_state_dict
 * of the GCS's TaskEvents, so this file inverts that mapping: it parses the
 * JSON rows back into the GCS's messages (TaskEvents, ActorTableData, ...),
 * which the extension hands in memory to the same derivation
 * (ray_task_reply_from_events in src/ray/ray_tasks.c,
 * ray_cluster_reply_from_rows) and the same column lists
 * (src/task_columns.c, src/cluster_columns.c) as for the gRPC transport.
 * Every column rule therefore exists once; only the inverse mapping lives
 * here. (The functions keep the prefix ray_state_json_: Ray calls this
 * JSON its State API.) The *_tasks and *_cluster variants also pack the
 * messages into the GCS's reply bytes: the fuzzer and the unit tests use
 * them to check the in-memory rows against the wire decoder's.
 *
 * Input is untrusted: size and nesting are limited before parsing (cJSON),
 * and malformed or truncated input is an error with a message that says
 * where, never a crash. Values are read as protobuf's JSON mapping allows
 * them (int64/uint64 and int32 as numbers or decimal strings, doubles also
 * as "NaN"/"Infinity", enums as names or numbers); a value of one field
 * that is none of these is that field absent (NULL), counted in
 * RayStateCounters.nodd, never a failed scan. PostgreSQL-free.
 */
#ifndef RAY_STATE_JSON_H
#define RAY_STATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "ray_arena.h"
#include "ray_gcs.pb-c.h"
#include "ray_status.h"
#include "ray_version.h"

/* Largest response body raydar reads from the dashboard. */
#define RAY_STATE_JSON_MAX_BYTES ((size_t) 256 * 1024 * 1024)
/* Deepest nesting accepted (a task row is about 8 levels deep). */
#define RAY_STATE_JSON_MAX_DEPTH 64

/* A field of one row whose value could not be read: shown NULL. */
typedef struct RayStateOddCell
{
	uint32_t	row;			/* 0-based position among the rows */
	char		key[40];		/* the row's JSON key (or the nested key) */
} RayStateOddCell;

/* The envelope's counters: data.result minus the rows. */
typedef struct RayStateCounters
{
	int64_t		total;			/* rows Ray had before filters and the cap */
	int64_t		num_after_truncation;
	int64_t		num_filtered;	/* rows left after the dashboard's filters (Ray's naming) */
	int64_t		rows;			/* rows in data.result.result */
	int			nwarnings;		/* data.result.warnings and partial_failure_warning */
	char		warning[512];	/* the first of them, truncated */
	int			nodd;			/* field values that could not be read: shown NULL */
	char		odd[256];		/* the first of them, "row N: ..." */
	/* where they are, in row order; from the converter's alloc (or malloc) */
	RayStateOddCell *cells;
	size_t		ncells;
	size_t		capcells;
} RayStateCounters;

/*
 * Decode a GET /api/v0/tasks body for a server of version v (reprs: see
 * ray_state_json_actor_reprs, or NULL) into a
 * serialized GetTaskEventsReply (*out from alloc, or malloc if NULL;
 * *outlen may be 0), and the envelope's counters. RAY_ERR_MALFORMED (or
 * RAY_ERR_TOO_LARGE) with err saying what and where otherwise. An envelope
 * with "result": false is RAY_ERR_RPC with Ray's msg in err.
 */
typedef struct RayStateReprs RayStateReprs;

extern RayStatus ray_state_json_tasks(const char *json, size_t len, const RayVersion *v,
									  const RayStateReprs *reprs,
									  ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen,
									  RayStateCounters *counters, char *err, size_t errlen);

/*
 * The same rows kept in memory, for ray_task_reply_from_events (no packing
 * and unpacking): *events, the n parsed TaskEvents, and everything they
 * point to live in *arena, which this initialises with alloc (NULL:
 * malloc); on RAY_OK free it with ray_arena_free once the rows are no
 * longer read (on failure nothing is left to free but counters->cells).
 */
extern RayStatus ray_state_json_task_events(const char *json, size_t len, const RayVersion *v,
											const RayStateReprs *reprs, ProtobufCAllocator *alloc,
											RayArena *arena, Ray__Rpc__TaskEvents ***events,
											size_t *n, RayStateCounters *counters,
											char *err, size_t errlen);

/*
 * Ray's TaskState has no actor_repr_name; an actor task's is its actor's
 * repr_name. reprs (from a GET /api/v0/actors body) gives ray_state_json_tasks
 * that lookup; with NULL, it is read back from renamed task names only.
 */
extern RayStatus ray_state_json_actor_reprs(const char *json, size_t len, RayStateReprs **out,
											char *err, size_t errlen);
extern void ray_state_json_free_reprs(RayStateReprs *reprs);

/*
 * The same for GET /api/v0/{actors,nodes,jobs,workers,placement_groups}:
 * kind is a RayResourceKind; *out is the GetAll*Reply the GCS would have
 * sent for those rows (decode it with ray_cluster_reply_decode).
 */
extern RayStatus ray_state_json_cluster(int kind, const char *json, size_t len, const RayVersion *v,
										ProtobufCAllocator *alloc, uint8_t **out, size_t *outlen,
										RayStateCounters *counters, char *err, size_t errlen);

/*
 * The same rows kept in memory, for ray_cluster_reply_from_rows: *rows is
 * n ActorTableData*, GcsNodeInfo*, JobTableData*, WorkerTableData* or
 * PlacementGroupTableData* (whatever the version) in *arena, as for
 * ray_state_json_task_events.
 */
extern RayStatus ray_state_json_cluster_rows(int kind, const char *json, size_t len,
											 const RayVersion *v, ProtobufCAllocator *alloc,
											 RayArena *arena, void ***rows, size_t *n,
											 RayStateCounters *counters, char *err, size_t errlen);

/*
 * True if the value of column (a catalog column name) of row was odd in
 * k (a converter's counters), so the row must show it NULL: the
 * converter left the field absent, which some columns show as a default.
 */
extern bool ray_state_json_cell_is_odd(const RayStateCounters *k, int kind, size_t row,
									   const char *column);

/*
 * Append from's odd cells to into's, their rows shifted by row_offset
 * (the rows of a split scan's earlier parts). False if out of memory.
 */
extern bool ray_state_json_odd_append(RayStateCounters *into, const RayStateCounters *from,
									  size_t row_offset, ProtobufCAllocator *alloc);

/* Free k's cells when the converter was given no allocator. */
extern void ray_state_json_free_cells(RayStateCounters *k);

/*
 * The distinct non-empty string values of key over the rows of a list
 * response (the job ids of GET /api/v0/jobs), malloc'd; free them with
 * ray_state_json_free_strings.
 */
extern RayStatus ray_state_json_row_strings(const char *json, size_t len, const char *key,
											char ***out, size_t *n, char *err, size_t errlen);
extern void ray_state_json_free_strings(char **strings, size_t n);

/*
 * The Ray version in a GET /api/version body ({"ray_version": "2.40.0", ...}),
 * copied into version (size vlen).
 */
extern RayStatus ray_state_json_version(const char *json, size_t len,
										char *version, size_t vlen,
										char *err, size_t errlen);

/*
 * The message of an error body (the envelope's "msg", else the start of
 * the body as text), for error reports. Never fails.
 */
extern void ray_state_json_error_message(const char *body, size_t len, char *out, size_t outlen);

#endif							/* RAY_STATE_JSON_H */
