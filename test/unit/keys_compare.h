/*
 * keys_compare.h
 *		What the keys-only and collector decode paths must agree on, for
 *		the unit tests (test_core.c) and the fuzzer (fuzz_task_reply.c).
 *
 * Header-only: each program includes it once.
 */
#ifndef KEYS_COMPARE_H
#define KEYS_COMPARE_H

#include <stdbool.h>
#include <string.h>

#include "ray_tasks.h"

static inline bool
same_id(RayId a, RayId b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* The fields ray_task_reply_decode_keys sets: ids, attempt, states, times. */
static inline bool
same_key_row(const RayTaskRow *x, const RayTaskRow *y)
{
	if (x->attempt_number != y->attempt_number || x->state != y->state ||
		x->n_events != y->n_events || !same_id(x->task_id, y->task_id) ||
		!same_id(x->job_id, y->job_id) ||
		x->has_creation_ms != y->has_creation_ms || x->creation_ms != y->creation_ms ||
		x->has_start_ms != y->has_start_ms || x->start_ms != y->start_ms ||
		x->has_end_ms != y->has_end_ms || x->end_ms != y->end_ms)
		return false;
	for (int k = 0; k < x->n_events; k++)
		if (x->events[k].status != y->events[k].status || x->events[k].ns != y->events[k].ns)
			return false;
	return true;
}

/* The collector's stand-in RayKnownAttemptFn: ids whose first byte is odd. */
static inline bool
id_is_odd(const uint8_t *task_id, size_t len)
{
	return len > 0 && (task_id[0] & 1);
}

/*
 * fresh, from ray_task_reply_decode_new_keys with a known() that is
 * id_is_odd, against keys from ray_task_reply_decode_keys of the same
 * bytes: the same counters, exactly the unknown attempts, each the keys
 * row at its reply position.
 */
static inline bool
new_keys_agree(const RayTaskReply *keys, const RayTaskReply *fresh)
{
	size_t		j = 0;

	if (fresh->nrows + fresh->nknown != keys->nrows || fresh->status_code != keys->status_code ||
		fresh->num_status_task_events_dropped != keys->num_status_task_events_dropped ||
		fresh->num_total_stored != keys->num_total_stored)
		return false;
	for (size_t i = 0; i < keys->nrows; i++)
	{
		const RayTaskRow *x = &keys->rows[i];

		if (id_is_odd(x->task_id.data, x->task_id.len))
			continue;
		if (j >= fresh->nrows || fresh->rows[j].index != i || !same_key_row(x, &fresh->rows[j]))
			return false;
		j++;
	}
	return j == fresh->nrows;
}

#endif							/* KEYS_COMPARE_H */
