/*
 * ray_utf8.h
 *		UTF-8 validation, and replacing what is not valid UTF-8.
 */
#ifndef RAY_UTF8_H
#define RAY_UTF8_H

#include "ray_buf.h"

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF.
 */
extern size_t ray_utf8_seq_len(const unsigned char *s, size_t n);

/* True if s is valid UTF-8 without NUL bytes. */
extern bool ray_utf8_valid(const char *s, size_t n);

/*
 * Append s with every invalid UTF-8 sequence and NUL replaced by U+FFFD:
 * Ray's strings should be UTF-8, but a text column must never hold
 * anything else.
 */
extern void ray_buf_utf8_sanitize(RayBuf *b, const char *s, size_t n);

#endif							/* RAY_UTF8_H */
