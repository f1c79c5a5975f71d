/*
 * pg_alloc.c
 *		A ProtobufCAllocator backed by a PostgreSQL memory context.
 *
 * Unpacking runs on the backend's own thread, so palloc is allowed here
 * (never from a gRPC or curl thread). MCXT_ALLOC_NO_OOM turns an out of
 * memory into NULL, which the core reports as RAY_ERR_OOM instead of
 * longjmp-ing out of protobuf-c with its state half built. HUGE lets a
 * reply near Ray's 512 MiB limit be held.
 */
#include "raydar.h"

static void *
cxt_alloc(void *data, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) data, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
cxt_free(void *data, void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

void
raydar_allocator_init(ProtobufCAllocator *a, MemoryContext cxt)
{
	a->alloc = cxt_alloc;
	a->free = cxt_free;
	a->allocator_data = cxt;
}
