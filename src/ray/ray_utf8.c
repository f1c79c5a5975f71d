/*
 * ray_utf8.c
 *		UTF-8 validation, and replacing what is not valid UTF-8.
 *
 * Ray's strings should be UTF-8, but nothing on the wire enforces it; a
 * text or jsonb column must never hold anything else (nor NUL).
 */
#include "ray_utf8.h"

#include <stdint.h>
#include <string.h>

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF.
 */
size_t
ray_utf8_seq_len(const unsigned char *s, size_t n)
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

/*
 * True if s[0..n) is valid UTF-8 without NUL. Eight bytes at a time while
 * they are ASCII and not NUL (nearly all of Ray's strings: names, ids,
 * states), byte by byte from the first that is not.
 */
bool
ray_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < n)
	{
		size_t		l;

		if (n - i >= 8)
		{
			uint64_t	w;

			memcpy(&w, p + i, 8);
			/* no high bit set, and no zero byte (the classic has-zero test) */
			if ((w & UINT64_C(0x8080808080808080)) == 0 &&
				((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)) == 0)
			{
				i += 8;
				continue;
			}
		}

		if (p[i] == 0)
			return false;
		l = ray_utf8_seq_len(p + i, n - i);
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
		size_t		l = p[i] == 0 ? 0 : ray_utf8_seq_len(p + i, n - i);

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
