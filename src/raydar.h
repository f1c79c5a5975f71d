/*
 * raydar.h
 *		Declarations shared by the PostgreSQL layer of raydar.
 *
 * The PostgreSQL-free core lives in src/ray; this layer turns its plain C
 * rows into tuples and its status codes into ereports.
 */
#ifndef RAYDAR_H
#define RAYDAR_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/memutils.h"

#include <protobuf-c/protobuf-c.h>

#include "ray_status.h"

#define RAYDAR_VERSION "0.1"

/* PG15's fmgr.h has no prototype for it. */
extern void _PG_init(void);

/* pg_alloc.c: protobuf-c and core allocations inside a memory context. */
extern void raydar_allocator_init(ProtobufCAllocator *a, MemoryContext cxt);

/* convert.c: Ray values to Datums. */
extern TimestampTz raydar_ms_to_timestamptz(int64 ms);
extern Datum raydar_text_datum(const char *s);
extern Datum raydar_json_to_jsonb(const char *json, size_t len);
extern void raydar_report_core_error(RayStatus st, const char *what, const char *msg);

#endif							/* RAYDAR_H */
