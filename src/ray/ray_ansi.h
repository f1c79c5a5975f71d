/*
 * ray_ansi.h
 *		ANSI colour codes removed from Ray's error messages.
 */
#ifndef RAY_ANSI_H
#define RAY_ANSI_H

#include "ray_buf.h"

/*
 * Ray's remove_ansi_escape_codes: re.sub('\x1b[^m]*m', '', text).
 * Appends s without those sequences.
 */
extern void ray_buf_strip_ansi(RayBuf *b, const char *s, size_t n);

#endif							/* RAY_ANSI_H */
