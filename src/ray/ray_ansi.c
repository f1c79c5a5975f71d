/*
 * ray_ansi.c
 *		ANSI colour codes removed from Ray's error messages.
 */
#include "ray_ansi.h"

#include <string.h>

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
