/*
 * ray_task_json_columns.c
 *		JSON text of the tasks table's jsonb columns.
 *
 * Shapes follow Ray's State API (`ray list tasks --detail`), with two
 * deliberate choices: times in `events` are integer ms (Ray prints them as
 * floats with .0), and a column Ray leaves empty or absent is SQL NULL
 * except required_resources, which is {} as in Ray.
 */
#include "ray_tasks.h"

#include <string.h>

#include "ray_enums.h"

/* Nesting allowed in a profile event's extra_data before we keep it as text. */
#define EXTRA_DATA_MAX_DEPTH 64

static void
key(RayBuf *b, bool *first, const char *k)
{
	if (!*first)
		ray_buf_puts(b, ", ");
	*first = false;
	ray_buf_json_string(b, k, strlen(k));
	ray_buf_puts(b, ": ");
}

static void
str_member(RayBuf *b, bool *first, const char *k, const char *v)
{
	if (v == NULL)
		return;
	key(b, first, k);
	ray_buf_json_string(b, v, strlen(v));
}

static void
int_member(RayBuf *b, bool *first, const char *k, bool has, int64_t v)
{
	if (!has)
		return;
	key(b, first, k);
	ray_buf_int64(b, v);
}

bool
ray_task_json_required_resources(const RayTaskRow *row, RayBuf *b)
{
	bool		first = true;

	if (row->info == NULL)
		return false;
	ray_buf_putc(b, '{');
	for (size_t i = 0; i < row->info->n_required_resources; i++)
	{
		const Ray__Rpc__TaskInfoEntry__RequiredResourcesEntry *e =
			row->info->required_resources[i];

		key(b, &first, e->key ? e->key : "");
		ray_buf_json_double(b, e->value);
	}
	ray_buf_putc(b, '}');
	return true;
}

bool
ray_task_json_events(const RayTaskReply *r, const RayTaskRow *row, RayBuf *b)
{
	ray_buf_putc(b, '[');
	for (int i = 0; i < row->n_events; i++)
	{
		char		nb[RAY_ENUM_NAME_MAX];
		const char *name = ray_enum_text(ray_task_status_name(&r->version,
															  row->events[i].status),
										 row->events[i].status, nb);

		if (i > 0)
			ray_buf_puts(b, ", ");
		ray_buf_puts(b, "{\"state\": ");
		ray_buf_json_string(b, name, strlen(name));
		ray_buf_puts(b, ", \"created_ms\": ");
		ray_buf_int64(b, ray_ns_to_ms_floor(row->events[i].ns));
		ray_buf_putc(b, '}');
	}
	ray_buf_putc(b, ']');
	return true;
}

bool
ray_task_json_profiling_data(const RayTaskRow *row, RayBuf *b)
{
	const Ray__Rpc__ProfileEvents *pe = row->ev->profile_events;
	bool		first = true;

	if (pe == NULL)
		return false;
	ray_buf_putc(b, '{');
	str_member(b, &first, "component_type", pe->component_type);
	if (pe->has_component_id)
	{
		key(b, &first, "component_id");
		ray_buf_putc(b, '"');
		ray_buf_hex(b, pe->component_id.data, pe->component_id.len);
		ray_buf_putc(b, '"');
	}
	str_member(b, &first, "node_ip_address", pe->node_ip_address);
	key(b, &first, "events");
	ray_buf_putc(b, '[');
	for (size_t i = 0; i < pe->n_events; i++)
	{
		const Ray__Rpc__ProfileEventEntry *e = pe->events[i];
		bool		efirst = true;

		if (i > 0)
			ray_buf_puts(b, ", ");
		ray_buf_putc(b, '{');
		str_member(b, &efirst, "event_name", e->event_name ? e->event_name : "");
		key(b, &efirst, "start_time");
		ray_buf_json_double(b, ray_ns_to_ms(e->start_time));
		key(b, &efirst, "end_time");
		ray_buf_json_double(b, ray_ns_to_ms(e->end_time));
		if (e->extra_data != NULL)
		{
			size_t		n = strlen(e->extra_data);

			key(b, &efirst, "extra_data");
			/* Ray parses it as JSON; text that isn't JSON stays a string. */
			if (ray_json_valid(e->extra_data, n, EXTRA_DATA_MAX_DEPTH))
				ray_buf_append(b, e->extra_data, n);
			else
				ray_buf_json_string(b, e->extra_data, n);
		}
		ray_buf_putc(b, '}');
	}
	ray_buf_puts(b, "]}");
	return true;
}

static void
str_array_member(RayBuf *b, bool *first, const char *k, size_t n, char **v)
{
	key(b, first, k);
	ray_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++)
	{
		if (i > 0)
			ray_buf_puts(b, ", ");
		ray_buf_json_string(b, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
	}
	ray_buf_putc(b, ']');
}

bool
ray_task_json_runtime_env_info(const RayTaskRow *row, RayBuf *b)
{
	const Ray__Rpc__RuntimeEnvInfo *re = row->info ? row->info->runtime_env_info : NULL;
	bool		first = true;

	if (re == NULL)
		return false;
	ray_buf_putc(b, '{');
	str_member(b, &first, "serialized_runtime_env", re->serialized_runtime_env);
	if (re->uris)
	{
		bool		ufirst = true;

		key(b, &first, "uris");
		ray_buf_putc(b, '{');
		str_member(b, &ufirst, "working_dir_uri", re->uris->working_dir_uri);
		str_array_member(b, &ufirst, "py_modules_uris",
						 re->uris->n_py_modules_uris, re->uris->py_modules_uris);
		ray_buf_putc(b, '}');
	}
	if (re->runtime_env_config)
	{
		const Ray__Rpc__RuntimeEnvConfig *c = re->runtime_env_config;
		bool		cfirst = true;

		key(b, &first, "runtime_env_config");
		ray_buf_putc(b, '{');
		int_member(b, &cfirst, "setup_timeout_seconds",
				   c->has_setup_timeout_seconds, c->setup_timeout_seconds);
		if (c->has_eager_install)
		{
			key(b, &cfirst, "eager_install");
			ray_buf_puts(b, c->eager_install ? "true" : "false");
		}
		str_array_member(b, &cfirst, "log_files", c->n_log_files, c->log_files);
		ray_buf_putc(b, '}');
	}
	ray_buf_putc(b, '}');
	return true;
}

bool
ray_task_json_task_log_info(const RayTaskRow *row, RayBuf *b)
{
	const Ray__Rpc__TaskLogInfo *li = row->su ? row->su->task_log_info : NULL;
	bool		first = true;

	if (li == NULL)
		return false;
	ray_buf_putc(b, '{');
	str_member(b, &first, "stdout_file", li->stdout_file);
	str_member(b, &first, "stderr_file", li->stderr_file);
	int_member(b, &first, "stdout_start", li->has_stdout_start, li->stdout_start);
	int_member(b, &first, "stdout_end", li->has_stdout_end, li->stdout_end);
	int_member(b, &first, "stderr_start", li->has_stderr_start, li->stderr_start);
	int_member(b, &first, "stderr_end", li->has_stderr_end, li->stderr_end);
	ray_buf_putc(b, '}');
	return true;
}

bool
ray_task_json_label_selector(const RayTaskRow *row, RayBuf *b)
{
	bool		first = true;

	if (row->info == NULL || row->info->n_label_selector == 0)
		return false;
	ray_buf_putc(b, '{');
	for (size_t i = 0; i < row->info->n_label_selector; i++)
	{
		const Ray__Rpc__TaskInfoEntry__LabelSelectorEntry *e = row->info->label_selector[i];

		key(b, &first, e->key ? e->key : "");
		ray_buf_json_string(b, e->value ? e->value : "", e->value ? strlen(e->value) : 0);
	}
	ray_buf_putc(b, '}');
	return true;
}
