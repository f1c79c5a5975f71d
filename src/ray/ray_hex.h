/*
 * ray_hex.h
 *		Ray's binary IDs as lowercase hex, and hex back to bytes.
 */
#ifndef RAY_HEX_H
#define RAY_HEX_H

#include "ray_buf.h"

/* Lowercase hex of bytes. */
extern void ray_buf_hex(RayBuf *b, const uint8_t *bytes, size_t n);

/* Hex digits to bytes. False if odd length, non-hex, or not want_len bytes. */
extern bool ray_hex_decode(const char *hex, uint8_t *out, size_t want_len);

#endif							/* RAY_HEX_H */
