/*
 * ray_arena.h
 *		A bump allocator for values derived while decoding one reply.
 *
 * Decoding a reply makes many small derived values (renamed actor tasks,
 * ANSI-free messages, event arrays). They live exactly as long as the
 * reply, so they come from blocks freed together with it.
 */
#ifndef RAY_ARENA_H
#define RAY_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct RayArenaBlock RayArenaBlock;

typedef struct RayArena
{
	ProtobufCAllocator *alloc;	/* NULL: malloc; kept, so it must outlive the arena */
	RayArenaBlock *head;
	size_t		used;			/* bytes used in head */
	size_t		size;			/* usable bytes in head */
} RayArena;

extern void ray_arena_init(RayArena *a, ProtobufCAllocator *alloc);
/* 8-byte aligned; NULL when out of memory. */
extern void *ray_arena_alloc(RayArena *a, size_t n);
extern char *ray_arena_strndup(RayArena *a, const char *s, size_t n);
extern void ray_arena_free(RayArena *a);

#endif							/* RAY_ARENA_H */
