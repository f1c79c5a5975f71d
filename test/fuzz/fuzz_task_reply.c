/*
 * fuzz_task_reply.c
 *		libFuzzer target: any bytes, any version, through the whole decoder.
 *
 * The first input byte picks the version (2.9, 2.35, 2.40, 2.49, master) so
 * both TaskStatus tables and both timestamp layouts are exercised; the rest
 * is the reply. Every derived value and every jsonb rendering of every row
 * is produced, so a bad pointer anywhere in the row path is found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ray_enums.h"
#include "ray_requests.h"
#include "ray_tasks.h"
#include "keys_compare.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const versions[] = {"2.9.3", "2.35.0", "2.40.0", "2.49.2", "3.0.0.dev0"};

/* The collector's RayKnownAttemptFn, stood in for by a rule on the id. */
static bool
knows_odd(void *ctx, const uint8_t *task_id, size_t len, int32_t attempt, size_t entry_len)
{
	return id_is_odd(task_id, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RayVersion	v;
	RayTaskReply *r;
	RayTaskReply *keys;
	char		err[256];
	char		nb[RAY_ENUM_NAME_MAX];
	char		vt[64];
	int32_t		code;
	RayBuf		b;

	if (size < 1)
		return 0;
	ray_version_parse(versions[data[0] % 5], &v);

	/* The same bytes as a CheckAliveReply must be just as safe. */
	(void) ray_check_alive_reply_decode(data + 1, size - 1, vt, sizeof(vt), &code, err, sizeof(err));

	if (ray_task_reply_decode(data + 1, size - 1, &v, NULL, &r, err, sizeof(err)) != RAY_OK)
	{
		/* The keys-only paths may accept more, but must never crash. */
		if (ray_task_reply_decode_keys(data + 1, size - 1, &v, NULL, &keys, err, sizeof(err)) == RAY_OK)
			ray_task_reply_free(keys);
		if (ray_task_reply_decode_new_keys(data + 1, size - 1, &v, NULL, knows_odd, NULL,
										   &keys, err, sizeof(err)) == RAY_OK)
			ray_task_reply_free(keys);

		return 0;
	}

	/*
	 * Differential: whatever the full decoder accepts, the keys-only walk
	 * accepts too, with the same ids, attempts, states, events and times.
	 */
	if (ray_task_reply_decode_keys(data + 1, size - 1, &v, NULL, &keys, err, sizeof(err)) != RAY_OK)
		abort();
	if (keys->nrows != r->nrows || keys->status_code != r->status_code ||
		strcmp(keys->status_message, r->status_message) != 0 ||
		keys->num_status_task_events_dropped != r->num_status_task_events_dropped ||
		keys->num_total_stored != r->num_total_stored)
		abort();
	for (size_t i = 0; i < r->nrows; i++)
		if (!same_key_row(&r->rows[i], &keys->rows[i]))
			abort();

	/*
	 * Differential: the collector's pass, "knowing" attempts whose id starts
	 * with an odd byte, decodes the others exactly as the keys-only walk.
	 */
	{
		RayTaskReply *fresh;

		if (ray_task_reply_decode_new_keys(data + 1, size - 1, &v, NULL, knows_odd, NULL,
										   &fresh, err, sizeof(err)) != RAY_OK ||
			!new_keys_agree(keys, fresh))
			abort();
		ray_task_reply_free(fresh);
	}
	ray_task_reply_free(keys);

	/* Differential: the streaming decode gives the same rows, one by one. */
	{
		RayTaskReply *idx;

		if (ray_task_reply_index(data + 1, size - 1, &v, NULL, &idx, err, sizeof(err)) != RAY_OK ||
			idx->nrows != r->nrows)
			abort();
		for (size_t i = 0; i < r->nrows; i++)
		{
			const RayTaskRow *x = &r->rows[i];
			const RayTaskRow *y;

			if (ray_task_reply_row(idx, i, &y, err, sizeof(err)) != RAY_OK ||
				x->state != y->state || x->n_events != y->n_events ||
				x->has_end_ms != y->has_end_ms || x->end_ms != y->end_ms ||
				x->has_error_type != y->has_error_type ||
				(x->name == NULL) != (y->name == NULL) ||
				(x->name && strcmp(x->name, y->name) != 0) ||
				(x->error_message == NULL) != (y->error_message == NULL) ||
				(x->error_message && strcmp(x->error_message, y->error_message) != 0))
				abort();
		}
		ray_task_reply_free(idx);
	}
	ray_buf_init(&b, NULL);
	for (size_t i = 0; i < r->nrows; i++)
	{
		const RayTaskRow *row = &r->rows[i];
		const char *et;

		ray_buf_reset(&b);
		ray_buf_hex(&b, row->task_id.data ? row->task_id.data : (const uint8_t *) "", row->task_id.len);
		ray_buf_puts(&b, ray_task_state_text(r, row, nb));
		ray_buf_puts(&b, ray_task_type_text(row, nb));
		ray_buf_puts(&b, ray_task_language_text(row, nb));
		if ((et = ray_task_error_type_text(r, row, nb)) != NULL)
			ray_buf_puts(&b, et);
		if (row->name)
			ray_buf_puts(&b, row->name);
		if (row->error_message)
			ray_buf_puts(&b, row->error_message);

		/* Every jsonb column must be JSON that jsonb would accept. */
#define CHECK_JSON(call) \
		do { \
			ray_buf_reset(&b); \
			if ((call) && !b.oom && !ray_json_valid(b.data, b.len, 128)) \
				abort(); \
		} while (0)
		CHECK_JSON(ray_task_json_required_resources(row, &b));
		CHECK_JSON(ray_task_json_events(r, row, &b));
		CHECK_JSON(ray_task_json_profiling_data(row, &b));
		CHECK_JSON(ray_task_json_runtime_env_info(row, &b));
		CHECK_JSON(ray_task_json_task_log_info(row, &b));
		CHECK_JSON(ray_task_json_label_selector(row, &b));
#undef CHECK_JSON
	}
	ray_buf_free(&b);
	ray_task_reply_free(r);
	return 0;
}
