/*
 * fuzz_prom.c
 *		libFuzzer target: any bytes as a Prometheus text body.
 *
 * Whatever the reader accepts must be internally consistent (indexes in
 * range, label values valid UTF-8 as Prometheus requires) and must read
 * back the same when written out again: the samples of untyped, counter
 * and gauge families are rendered in canonical text and parsed a second
 * time, and every name, label and value (NaN compared as NaN) must match.
 * The smoke run seeds it with test/unit/prom_corpus.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_buf.h"
#include "ray_prom.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put_value(RayBuf *b, double v)
{
	char		num[40];

	if (isnan(v))
		ray_buf_puts(b, "NaN");
	else if (isinf(v))
		ray_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else
	{
		snprintf(num, sizeof(num), "%.17g", v);
		ray_buf_puts(b, num);
	}
}

/* A label value in the format's escapes: \\ \" \n. */
static void
put_escaped(RayBuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '\\' || s[i] == '"')
			ray_buf_putc(b, '\\');
		if (s[i] == '\n')
		{
			ray_buf_puts(b, "\\n");
			continue;
		}
		ray_buf_putc(b, s[i]);
	}
}

static bool
plain_family(const RayPromResult *r, const RayPromSample *s)
{
	RayPromType t = r->families[s->family].type;

	return t == RAY_PROM_UNTYPED || t == RAY_PROM_COUNTER || t == RAY_PROM_GAUGE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RayPromResult *r = NULL;
	RayPromResult *r2 = NULL;
	char		err[256];
	RayBuf		out;
	size_t		k = 0;

	if (ray_prom_parse((const char *) data, size, NULL, &r, err, sizeof(err)) != RAY_OK)
	{
		if (r != NULL || strncmp(err, "line ", 5) != 0)
			abort();			/* a refusal returns nothing and says where */
		return 0;
	}
	for (size_t i = 0; i < r->nsamples; i++)
	{
		const RayPromSample *s = &r->samples[i];

		if (s->family >= r->nfamilies || s->label0 + s->nlabels > r->nlabels ||
			s->line < 1 || s->line > r->nlines)
			abort();
		for (size_t j = 0; j < s->nlabels; j++)
			if (strlen(r->labels[s->label0 + j].name) == 0)
				abort();
	}

	/* canonical text of the plain samples, read back */
	ray_buf_init(&out, NULL);
	for (size_t i = 0; i < r->nsamples; i++)
	{
		const RayPromSample *s = &r->samples[i];

		if (!plain_family(r, s))
			continue;
		ray_buf_puts(&out, s->name);
		ray_buf_putc(&out, '{');
		for (size_t j = 0; j < s->nlabels; j++)
		{
			const RayPromLabel *l = &r->labels[s->label0 + j];

			ray_buf_puts(&out, l->name);
			ray_buf_puts(&out, "=\"");
			put_escaped(&out, l->value, l->value_len);
			ray_buf_puts(&out, "\",");
		}
		ray_buf_puts(&out, "} ");
		put_value(&out, s->value);
		if (s->has_timestamp)
		{
			ray_buf_putc(&out, ' ');
			ray_buf_int64(&out, s->timestamp_ms);
		}
		ray_buf_putc(&out, '\n');
	}
	if (out.oom)
		abort();
	if (ray_prom_parse(out.data ? out.data : "", out.len, NULL, &r2, err, sizeof(err)) != RAY_OK)
	{
		fprintf(stderr, "canonical text refused: %s\n%s\n", err, out.data);
		abort();
	}
	for (size_t i = 0; i < r->nsamples; i++)
	{
		const RayPromSample *s = &r->samples[i];
		const RayPromSample *t;

		if (!plain_family(r, s))
			continue;
		if (k >= r2->nsamples)
			abort();
		t = &r2->samples[k++];
		if (strcmp(s->name, t->name) != 0 || s->nlabels != t->nlabels ||
			s->has_timestamp != t->has_timestamp ||
			(s->has_timestamp && s->timestamp_ms != t->timestamp_ms) ||
			!(s->value == t->value || (isnan(s->value) && isnan(t->value))))
			abort();
		for (size_t j = 0; j < s->nlabels; j++)
		{
			const RayPromLabel *a = &r->labels[s->label0 + j];
			const RayPromLabel *b = &r2->labels[t->label0 + j];

			if (strcmp(a->name, b->name) != 0 || a->value_len != b->value_len ||
				memcmp(a->value, b->value, a->value_len) != 0)
				abort();
		}
	}
	if (k != r2->nsamples)
		abort();
	ray_buf_free(&out);
	ray_prom_result_free(r);
	ray_prom_result_free(r2);
	return 0;
}
