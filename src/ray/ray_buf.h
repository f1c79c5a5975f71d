/*
 * ray_buf.h
 *		A growable byte buffer, and (through the headers included at the
 *		end) the text forms raydar gives Ray's data: lowercase hex IDs,
 *		valid UTF-8, JSON strings and numbers, ANSI-free messages.
 *
 * PostgreSQL-free. Memory comes from a ProtobufCAllocator so the extension
 * can route it into a memory context and the tests into malloc. A buffer
 * that fails to grow sets `oom` and ignores further appends; callers check
 * once at the end instead of after every append.
 */
#ifndef RAY_BUF_H
#define RAY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

typedef struct RayBuf
{
	char	   *data;			/* always NUL-terminated when cap > 0 */
	size_t		len;
	size_t		cap;
	ProtobufCAllocator *alloc;	/* NULL: malloc */
	bool		oom;
} RayBuf;

extern void ray_buf_init(RayBuf *b, ProtobufCAllocator *alloc);
extern void ray_buf_free(RayBuf *b);
extern void ray_buf_reset(RayBuf *b);
extern void ray_buf_append(RayBuf *b, const char *s, size_t n);
extern void ray_buf_puts(RayBuf *b, const char *s);
extern void ray_buf_putc(RayBuf *b, char c);
extern void ray_buf_int64(RayBuf *b, int64_t v);

/*
 * Room for `extra` more bytes and the NUL; false (and `oom` set) if the
 * buffer cannot grow. For writers that fill data[len..] themselves.
 */
extern bool ray_buf_reserve(RayBuf *b, size_t extra);

/* One include gives a decoder every text form. */
#include "ray_ansi.h"
#include "ray_hex.h"
#include "ray_json_check.h"
#include "ray_json_write.h"
#include "ray_utf8.h"

#endif							/* RAY_BUF_H */
