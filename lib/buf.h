/*
 * buf.h: a growable byte buffer with a hard upper bound fixed at init.
 *
 * Bytes live in data[off .. len). Appending never lets len - off exceed max;
 * consumed bytes at the front are reclaimed lazily, so a FIFO costs amortised
 * O(1) per byte.
 */
#ifndef SX_BUF_H
#define SX_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sx_buf {
	uint8_t *data;
	size_t off;  /* first unread byte */
	size_t len;  /* one past the last byte */
	size_t cap;  /* allocated bytes */
	size_t max;  /* bound on len - off */
};

/* Prepares an empty buffer on the caller's memory; allocates nothing. */
void sx_buf_init(struct sx_buf *b, size_t max);
/* Frees the storage; the buffer may be init'ed again. */
void sx_buf_finish(struct sx_buf *b);
/* Overwrites the storage with zeros, then frees it: for buffers that held a
 * reporter's original or identifiers. */
void sx_buf_finish_wipe(struct sx_buf *b);
/* Number of unread bytes. */
static inline size_t sx_buf_used(const struct sx_buf *b) { return b->len - b->off; }
/* First unread byte (valid until the next append); never NULL, so an empty
 * buffer can be handed to memcpy and friends with length 0. */
static inline const uint8_t *sx_buf_head(const struct sx_buf *b)
{
	return b->data ? b->data + b->off : (const uint8_t *)"";
}
/* Ensures room for n more bytes; returns 0, SX_ETOOBIG past max, SX_ENOMEM. */
int sx_buf_reserve(struct sx_buf *b, size_t n);
/* Appends n bytes; returns 0, SX_ETOOBIG (nothing appended) or SX_ENOMEM. */
int sx_buf_append(struct sx_buf *b, const void *p, size_t n);
/* Returns a pointer to n writable bytes at the tail (after sx_buf_reserve), and
 * commits them with sx_buf_commit once written. */
static inline uint8_t *sx_buf_tail(struct sx_buf *b) { return b->data + b->len; }
static inline void sx_buf_commit(struct sx_buf *b, size_t n) { b->len += n; }
/* Drops n unread bytes from the front (n <= used). */
void sx_buf_consume(struct sx_buf *b, size_t n);
/* Empties the buffer and, when it holds more than keep bytes of storage,
 * releases it: idle connections should not pin their peak. */
void sx_buf_reset(struct sx_buf *b, size_t keep);

#endif
