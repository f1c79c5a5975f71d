/*
 * ray_buf.c
 *		A growable byte buffer whose memory comes from a ProtobufCAllocator.
 *
 * The text forms written into it live in files of their own: ray_hex.c,
 * ray_utf8.c, ray_json_write.c, ray_ansi.c; ray_json_check.c validates JSON.
 */
#include "ray_buf.h"

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

bool
ray_buf_reserve(RayBuf *b, size_t extra)
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
	if (!ray_buf_reserve(b, n))
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
