/*
 * ray_buf.h
 *		A growable byte buffer, and the text forms raydar gives Ray's data:
 *		lowercase hex IDs, JSON strings and numbers, ANSI-free messages.
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

/* Lowercase hex of bytes. */
extern void ray_buf_hex(RayBuf *b, const uint8_t *bytes, size_t n);

/*
 * A JSON string literal, quotes included. Invalid UTF-8 and NUL (which
 * neither jsonb nor text can hold) become U+FFFD rather than an error.
 */
extern void ray_buf_json_string(RayBuf *b, const char *s, size_t n);

/* Shortest text that reads back as the same double (as Python's repr). */
extern void ray_buf_json_double(RayBuf *b, double d);

/*
 * Ray's remove_ansi_escape_codes: re.sub('\x1b[^m]*m', '', text).
 * Appends s without those sequences.
 */
extern void ray_buf_strip_ansi(RayBuf *b, const char *s, size_t n);

/*
 * True if s is one JSON value that PostgreSQL's jsonb accepts: RFC 8259,
 * valid UTF-8, no \u0000, no lone surrogates, nesting <= max_depth.
 */
extern bool ray_json_valid(const char *s, size_t n, int max_depth);

/*
 * Append s with every invalid UTF-8 sequence and NUL replaced by U+FFFD:
 * Ray's strings should be UTF-8, but a text column must never hold
 * anything else.
 */
extern void ray_buf_utf8_sanitize(RayBuf *b, const char *s, size_t n);

/* True if s is valid UTF-8 without NUL bytes. */
extern bool ray_utf8_valid(const char *s, size_t n);

/* Hex digits to bytes. False if odd length, non-hex, or not want_len bytes. */
extern bool ray_hex_decode(const char *hex, uint8_t *out, size_t want_len);

#endif							/* RAY_BUF_H */
