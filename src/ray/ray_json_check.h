/*
 * ray_json_check.h
 *		A strict JSON validator: is this one value jsonb accepts?
 */
#ifndef RAY_JSON_CHECK_H
#define RAY_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True if s is one JSON value that PostgreSQL's jsonb accepts: RFC 8259,
 * valid UTF-8, no \u0000, no lone surrogates, nesting <= max_depth.
 */
extern bool ray_json_valid(const char *s, size_t n, int max_depth);

#endif							/* RAY_JSON_CHECK_H */
