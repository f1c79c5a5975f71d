/*
 * ray_arena.c
 *		Bump allocation in blocks, released all at once.
 */
#include "ray_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE 8192

struct RayArenaBlock
{
	RayArenaBlock *next;
	size_t		pad;			/* keeps data 16-byte aligned */
	char		data[];
};

void
ray_arena_init(RayArena *a, ProtobufCAllocator *alloc)
{
	a->alloc = alloc;
	a->head = NULL;
	a->used = 0;
	a->size = 0;
}

static void *
raw_alloc(RayArena *a, size_t n)
{
	return a->alloc ? a->alloc->alloc(a->alloc->allocator_data, n) : malloc(n);
}

void *
ray_arena_alloc(RayArena *a, size_t n)
{
	void	   *p;

	n = (n + 7) & ~(size_t) 7;
	if (n == 0)
		n = 8;
	if (a->head == NULL || a->size - a->used < n)
	{
		size_t		size = n > ARENA_BLOCK_SIZE / 2 ? n : ARENA_BLOCK_SIZE;
		RayArenaBlock *b;

		if (size > SIZE_MAX - sizeof(RayArenaBlock))
			return NULL;
		b = raw_alloc(a, sizeof(RayArenaBlock) + size);
		if (b == NULL)
			return NULL;
		/*
		 * A big request gets a block of its own behind the head, so the
		 * head's free space stays usable for the small ones that follow.
		 */
		if (size != ARENA_BLOCK_SIZE && a->head != NULL)
		{
			b->next = a->head->next;
			a->head->next = b;
			return b->data;
		}
		b->next = a->head;
		a->head = b;
		a->used = 0;
		a->size = size;
	}
	p = a->head->data + a->used;
	a->used += n;
	return p;
}

char *
ray_arena_strndup(RayArena *a, const char *s, size_t n)
{
	char	   *d = ray_arena_alloc(a, n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void
ray_arena_free(RayArena *a)
{
	RayArenaBlock *b = a->head;

	while (b)
	{
		RayArenaBlock *next = b->next;

		if (a->alloc)
			a->alloc->free(a->alloc->allocator_data, b);
		else
			free(b);
		b = next;
	}
	a->head = NULL;
	a->used = a->size = 0;
}
