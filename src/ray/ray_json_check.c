/*
 * ray_json_check.c
 *		A strict JSON validator: is this one value jsonb accepts?
 *
 * Profile events' extra_data is JSON text written by Ray's workers; it
 * becomes jsonb only if it is valid, so that a bad value never makes a
 * whole scan fail (it is kept as a JSON string instead).
 */
#include "ray_json_check.h"

#include <stdint.h>
#include <string.h>

#include "ray_utf8.h"

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
			size_t		l = ray_utf8_seq_len(c->p, (size_t) (c->end - c->p));

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
