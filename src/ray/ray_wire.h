/*
 * ray_wire.h
 *		A minimal protobuf wire-format reader.
 *
 * For the decode paths that read only a few fields of each task (state
 * counts, the collector's "which attempts are new and terminal"), walking
 * the bytes beats unpacking whole messages with protobuf-c: nothing is
 * allocated and skipped fields cost a length jump. It is lenient by design:
 * anything protobuf-c accepts, it accepts and reads the same way (checked by
 * differential fuzzing), so the two paths never disagree on valid input.
 */
#ifndef RAY_WIRE_H
#define RAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum RayWireType
{
	RAY_WIRE_VARINT = 0,
	RAY_WIRE_FIXED64 = 1,
	RAY_WIRE_LEN = 2,
	RAY_WIRE_FIXED32 = 5
} RayWireType;

typedef struct RayWireField
{
	uint32_t	number;
	RayWireType type;
	uint64_t	varint;			/* VARINT, FIXED64, FIXED32 */
	const uint8_t *data;		/* LEN */
	size_t		len;			/* LEN */
} RayWireField;

typedef struct RayWireReader
{
	const uint8_t *p;
	const uint8_t *end;
	bool		error;			/* set on malformed input; next() then returns false */
} RayWireReader;

static inline void
ray_wire_init(RayWireReader *r, const uint8_t *data, size_t len)
{
	r->p = data;
	r->end = data + len;
	r->error = false;
}

/* Next field, or false at the end (check r->error to tell end from damage). */
extern bool ray_wire_next(RayWireReader *r, RayWireField *f);

#endif							/* RAY_WIRE_H */
