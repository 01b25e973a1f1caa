#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void sx_buf_init(struct sx_buf *b, size_t max)
{
	b->data = NULL;
	b->off = b->len = b->cap = 0;
	b->max = max;
}

void sx_buf_finish(struct sx_buf *b)
{
	free(b->data);
	sx_buf_init(b, b->max);
}

void sx_buf_finish_wipe(struct sx_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	sx_buf_finish(b);
}

int sx_buf_reserve(struct sx_buf *b, size_t n)
{
	size_t used = b->len - b->off;
	if (n > b->max - used)
		return SX_ETOOBIG;
	if (b->cap - b->len >= n)
		return 0;
	/* Reclaim consumed space before growing. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, used);
		b->off = 0;
		b->len = used;
		if (b->cap - b->len >= n)
			return 0;
	}
	size_t want = used + n;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	if (cap > b->max)
		cap = b->max > want ? b->max : want;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return SX_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int sx_buf_append(struct sx_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int rc = sx_buf_reserve(b, n);
	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void sx_buf_consume(struct sx_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void sx_buf_reset(struct sx_buf *b, size_t keep)
{
	b->off = b->len = 0;
	if (b->cap > keep) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}
