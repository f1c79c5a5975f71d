/*
 * ray_hex.c
 *		Ray's binary IDs as lowercase hex, and hex back to bytes.
 *
 * IDs are shown as the dashboard shows them (lowercase hex); filters typed
 * in SQL come back through ray_hex_decode, which insists on the exact
 * length, because a GCS aborts on an ID of the wrong length.
 */
#include "ray_hex.h"

#include <string.h>

void
ray_buf_hex(RayBuf *b, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	if (!ray_buf_reserve(b, n * 2))
		return;
	for (size_t i = 0; i < n; i++)
	{
		b->data[b->len++] = digits[bytes[i] >> 4];
		b->data[b->len++] = digits[bytes[i] & 0xf];
	}
	b->data[b->len] = '\0';
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
