/*
 * ray_json_write.c
 *		JSON strings and numbers written into a RayBuf, as Python's json
 *		module writes them for the dashboard.
 */
#include "ray_json_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_utf8.h"

void
ray_buf_json_string(RayBuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	ray_buf_putc(b, '"');
	while (i < n)
	{
		unsigned char c = p[i];
		size_t		run = i;

		/* Copy the longest run that needs no escaping in one go. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 &&
			   p[run] != '"' && p[run] != '\\')
			run++;
		if (run > i)
		{
			ray_buf_append(b, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\')
		{
			ray_buf_putc(b, '\\');
			ray_buf_putc(b, (char) c);
			i++;
		}
		else if (c == 0)
		{
			ray_buf_puts(b, "\\ufffd");
			i++;
		}
		else if (c < 0x20)
		{
			char		esc[8];

			switch (c)
			{
				case '\n':
					ray_buf_puts(b, "\\n");
					break;
				case '\r':
					ray_buf_puts(b, "\\r");
					break;
				case '\t':
					ray_buf_puts(b, "\\t");
					break;
				case '\b':
					ray_buf_puts(b, "\\b");
					break;
				case '\f':
					ray_buf_puts(b, "\\f");
					break;
				default:
					snprintf(esc, sizeof(esc), "\\u%04x", c);
					ray_buf_puts(b, esc);
			}
			i++;
		}
		else
		{
			size_t		l = ray_utf8_seq_len(p + i, n - i);

			if (l == 0)
			{
				ray_buf_puts(b, "\\ufffd");
				i++;
			}
			else
			{
				ray_buf_append(b, s + i, l);
				i += l;
			}
		}
	}
	ray_buf_putc(b, '"');
}

void
ray_buf_json_double(RayBuf *b, double d)
{
	char		tmp[40];

	if (!isfinite(d))
	{
		/* JSON has no NaN or Infinity; null is what json.dumps can't give. */
		ray_buf_puts(b, "null");
		return;
	}
	/*
	 * Integral values (CPU 1, memory 4294967296) print exactly as integers.
	 * The range check comes first: converting a larger double to int64 is
	 * undefined behaviour (UBSan found it).
	 */
	if (fabs(d) < 1e15 && d == trunc(d) && !(d == 0 && signbit(d)))
	{
		ray_buf_int64(b, (int64_t) d);
		return;
	}
	/* %.15g reads back exactly whenever a <= 15-digit form exists (DBL_DIG). */
	for (int prec = 15; prec <= 17; prec++)
	{
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (prec == 17 || strtod(tmp, NULL) == d)
			break;
	}
	ray_buf_puts(b, tmp);
}
