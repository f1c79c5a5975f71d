/*
 * ray_buf.c
 *		Growable buffer, hex, JSON text and ANSI stripping for decoded rows.
 */
#include "ray_buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ray_buf_init(RayBuf *b, ProtobufCAllocator *alloc)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->alloc = alloc;
	b->oom = false;
}

static void *
buf_alloc(RayBuf *b, size_t n)
{
	return b->alloc ? b->alloc->alloc(b->alloc->allocator_data, n) : malloc(n);
}

static void
buf_release(RayBuf *b, void *p)
{
	if (p == NULL)
		return;
	if (b->alloc)
		b->alloc->free(b->alloc->allocator_data, p);
	else
		free(p);
}

void
ray_buf_free(RayBuf *b)
{
	buf_release(b, b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
ray_buf_reset(RayBuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static bool
buf_reserve(RayBuf *b, size_t extra)
{
	size_t		need;
	size_t		newcap;
	char	   *nd;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	newcap = b->cap ? b->cap : 64;
	while (newcap < need)
	{
		if (newcap > SIZE_MAX / 2)
		{
			b->oom = true;
			return false;
		}
		newcap *= 2;
	}
	nd = buf_alloc(b, newcap);
	if (nd == NULL)
	{
		b->oom = true;
		return false;
	}
	if (b->len)
		memcpy(nd, b->data, b->len);
	buf_release(b, b->data);
	b->data = nd;
	b->cap = newcap;
	return true;
}

void
ray_buf_append(RayBuf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
ray_buf_puts(RayBuf *b, const char *s)
{
	ray_buf_append(b, s, strlen(s));
}

void
ray_buf_putc(RayBuf *b, char c)
{
	ray_buf_append(b, &c, 1);
}

void
ray_buf_int64(RayBuf *b, int64_t v)
{
	char		tmp[24];
	int			n = snprintf(tmp, sizeof(tmp), "%lld", (long long) v);

	ray_buf_append(b, tmp, (size_t) n);
}

void
ray_buf_hex(RayBuf *b, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	if (!buf_reserve(b, n * 2))
		return;
	for (size_t i = 0; i < n; i++)
	{
		b->data[b->len++] = digits[bytes[i] >> 4];
		b->data[b->len++] = digits[bytes[i] & 0xf];
	}
	b->data[b->len] = '\0';
}

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF.
 */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef)
	{
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;			/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;			/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4)
	{
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
			(s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;			/* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;			/* above U+10FFFF */
		return 4;
	}
	return 0;
}

bool
ray_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < n)
	{
		size_t		l;

		if (p[i] == 0)
			return false;
		l = utf8_seq_len(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

void
ray_buf_utf8_sanitize(RayBuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < n)
	{
		size_t		l = p[i] == 0 ? 0 : utf8_seq_len(p + i, n - i);

		if (l == 0)
		{
			ray_buf_puts(b, "\xef\xbf\xbd");	/* U+FFFD */
			i++;
		}
		else
		{
			ray_buf_append(b, s + i, l);
			i += l;
		}
	}
}

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
			size_t		l = utf8_seq_len(p + i, n - i);

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

void
ray_buf_strip_ansi(RayBuf *b, const char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		const char *esc = memchr(s + i, '\x1b', n - i);
		const char *m;

		if (esc == NULL)
		{
			ray_buf_append(b, s + i, n - i);
			return;
		}
		/* '\x1b[^m]*m': an ESC with no later 'm' is kept as it is. */
		m = memchr(esc, 'm', n - (size_t) (esc - s));
		if (m == NULL)
		{
			ray_buf_append(b, s + i, n - i);
			return;
		}
		ray_buf_append(b, s + i, (size_t) (esc - (s + i)));
		i = (size_t) (m - s) + 1;
	}
}

bool
ray_hex_decode(const char *hex, uint8_t *out, size_t want_len)
{
	size_t		n = strlen(hex);

	if (n != want_len * 2)
		return false;
	for (size_t i = 0; i < want_len; i++)
	{
		int			v = 0;

		for (int k = 0; k < 2; k++)
		{
			char		c = hex[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return false;
		}
		out[i] = (uint8_t) v;
	}
	return true;
}

/* ---- strict JSON validation (for profile events' extra_data) ---- */

typedef struct JsonCursor
{
	const unsigned char *p;
	const unsigned char *end;
	int			depth;
	int			max_depth;
} JsonCursor;

static bool json_value(JsonCursor *c);

static void
json_ws(JsonCursor *c)
{
	while (c->p < c->end &&
		   (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
hex4(const unsigned char *p)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		unsigned char ch = p[i];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v |= ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v |= ch - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static bool
json_string(JsonCursor *c)
{
	c->p++;						/* opening quote */
	while (c->p < c->end)
	{
		unsigned char ch = *c->p;

		if (ch == '"')
		{
			c->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch == '\\')
		{
			if (c->end - c->p < 2)
				return false;
			ch = c->p[1];
			if (ch == 'u')
			{
				int			u;

				if (c->end - c->p < 6 || (u = hex4(c->p + 2)) < 0 || u == 0)
					return false;
				c->p += 6;
				if (u >= 0xdc00 && u <= 0xdfff)
					return false;	/* lone low surrogate */
				if (u >= 0xd800 && u <= 0xdbff)
				{
					int			lo;

					if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
						(lo = hex4(c->p + 2)) < 0xdc00 || lo > 0xdfff)
						return false;
					c->p += 6;
				}
				continue;
			}
			if (strchr("\"\\/bfnrt", ch) == NULL || ch == '\0')
				return false;
			c->p += 2;
			continue;
		}
		{
			size_t		l = utf8_seq_len(c->p, (size_t) (c->end - c->p));

			if (l == 0)
				return false;
			c->p += l;
		}
	}
	return false;
}

static bool
json_digits(JsonCursor *c, int *count)
{
	*count = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
	{
		c->p++;
		(*count)++;
	}
	return *count > 0;
}

static bool
json_number(JsonCursor *c)
{
	int			n;

	if (*c->p == '-')
		c->p++;
	if (c->p >= c->end)
		return false;
	if (*c->p == '0')
		c->p++;
	else if (!json_digits(c, &n))
		return false;
	if (c->p < c->end && *c->p == '.')
	{
		c->p++;
		if (!json_digits(c, &n))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
	{
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		/* numeric's exponent range is limited; keep to what jsonb takes. */
		if (!json_digits(c, &n) || n > 4)
			return false;
	}
	return true;
}

static bool
json_literal(JsonCursor *c, const char *lit)
{
	size_t		n = strlen(lit);

	if ((size_t) (c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool
json_container(JsonCursor *c, char close)
{
	if (++c->depth > c->max_depth)
		return false;
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == close)
	{
		c->p++;
		c->depth--;
		return true;
	}
	/* One member per turn; after a comma another member must follow. */
	for (;;)
	{
		if (close == '}')
		{
			json_ws(c);
			if (c->p >= c->end || *c->p != '"' || !json_string(c))
				return false;
			json_ws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return false;
		}
		if (!json_value(c))
			return false;
		json_ws(c);
		if (c->p >= c->end)
			return false;
		if (*c->p == ',')
		{
			c->p++;
			continue;
		}
		if (*c->p != close)
			return false;
		c->p++;
		break;
	}
	c->depth--;
	return true;
}

static bool
json_value(JsonCursor *c)
{
	json_ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p)
	{
		case '{':
			return json_container(c, '}');
		case '[':
			return json_container(c, ']');
		case '"':
			return json_string(c);
		case 't':
			return json_literal(c, "true");
		case 'f':
			return json_literal(c, "false");
		case 'n':
			return json_literal(c, "null");
		default:
			return json_number(c);
	}
}

bool
ray_json_valid(const char *s, size_t n, int max_depth)
{
	JsonCursor	c;

	c.p = (const unsigned char *) s;
	c.end = c.p + n;
	c.depth = 0;
	c.max_depth = max_depth;
	if (!json_value(&c))
		return false;
	json_ws(&c);
	return c.p == c.end;
}
