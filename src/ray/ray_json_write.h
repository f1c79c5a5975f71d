/*
 * ray_json_write.h
 *		JSON strings and numbers written into a RayBuf.
 */
#ifndef RAY_JSON_WRITE_H
#define RAY_JSON_WRITE_H

#include "ray_buf.h"

/*
 * A JSON string literal, quotes included. Invalid UTF-8 and NUL (which
 * neither jsonb nor text can hold) become U+FFFD rather than an error.
 */
extern void ray_buf_json_string(RayBuf *b, const char *s, size_t n);

/* Shortest text that reads back as the same double (as Python's repr). */
extern void ray_buf_json_double(RayBuf *b, double d);

#endif							/* RAY_JSON_WRITE_H */
