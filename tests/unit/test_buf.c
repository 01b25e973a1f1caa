/*
 * test_buf.c: the bounded byte buffer (lib/buf.c).
 *
 * The bound is the point of the type, so every test checks it at its edge and
 * that a refused append leaves the buffer exactly as it was. The FIFO test runs
 * a long seeded sequence of operations against a trivially correct model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Fills p with bytes that identify their position in a stream starting at seq. */
static void pattern(uint8_t *p, size_t n, size_t seq)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seq + i) * 131u + 7u);
}

/* Checks the invariants every operation must keep. */
static void check_invariants(const struct sx_buf *b)
{
	assert_true(b->off <= b->len);
	assert_true(b->len <= b->cap);
	assert_true(b->cap <= b->max);
	assert_true(sx_buf_used(b) <= b->max);
	if (b->cap == 0)
		assert_null(b->data);
	else
		assert_non_null(b->data);
}

static void test_init_finish(void **state)
{
	struct sx_buf b;
	memset(&b, 0xa5, sizeof b);
	sx_buf_init(&b, 100);
	assert_null(b.data);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 100);
	assert_int_equal(sx_buf_used(&b), 0);

	/* finish on a buffer that never allocated, and twice in a row */
	sx_buf_finish(&b);
	sx_buf_finish(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 100);

	/* finish keeps the bound and the buffer is usable again */
	assert_int_equal(sx_buf_append(&b, "abc", 3), 0);
	sx_buf_finish(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_int_equal(b.max, 100);
	assert_int_equal(sx_buf_append(&b, "xyz", 3), 0);
	assert_memory_equal(sx_buf_head(&b), "xyz", 3);
	sx_buf_finish(&b);
}

/* Snapshot of a buffer, to show a refused call changed nothing. */
struct snap {
	struct sx_buf b;
	uint8_t bytes[4096];
};

static void take(struct snap *s, const struct sx_buf *b)
{
	s->b = *b;
	assert_true(sx_buf_used(b) <= sizeof s->bytes);
	if (sx_buf_used(b))
		memcpy(s->bytes, sx_buf_head(b), sx_buf_used(b));
}

static void same(const struct snap *s, const struct sx_buf *b)
{
	assert_ptr_equal(b->data, s->b.data);
	assert_int_equal(b->off, s->b.off);
	assert_int_equal(b->len, s->b.len);
	assert_int_equal(b->cap, s->b.cap);
	assert_int_equal(b->max, s->b.max);
	if (sx_buf_used(b))
		assert_memory_equal(sx_buf_head(b), s->bytes, sx_buf_used(b));
}

static void test_append_exactly_max(void **state)
{
	enum { MAX = 1000 };
	uint8_t src[MAX + 1];
	pattern(src, sizeof src, 0);
	struct sx_buf b;
	struct snap s;
	sx_buf_init(&b, MAX);

	assert_int_equal(sx_buf_append(&b, src, MAX - 1), 0);
	assert_int_equal(sx_buf_append(&b, src + MAX - 1, 1), 0);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_memory_equal(sx_buf_head(&b), src, MAX);
	check_invariants(&b);

	/* one byte more is refused and the buffer is untouched */
	take(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, 1), SX_ETOOBIG);
	same(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, MAX), SX_ETOOBIG);
	same(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, SIZE_MAX), SX_ETOOBIG);
	same(&s, &b);
	assert_int_equal(sx_buf_reserve(&b, 1), SX_ETOOBIG);
	same(&s, &b);

	/* nothing more is still fine when full */
	assert_int_equal(sx_buf_append(&b, src, 0), 0);
	assert_int_equal(sx_buf_reserve(&b, 0), 0);
	same(&s, &b);
	sx_buf_finish(&b);
}

static void test_single_append_at_edge(void **state)
{
	enum { MAX = 300 };
	uint8_t src[MAX + 1];
	pattern(src, sizeof src, 5);
	struct sx_buf b;
	struct snap s;

	/* max + 1 bytes at once into an empty buffer: refused, nothing allocated */
	sx_buf_init(&b, MAX);
	take(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, MAX + 1), SX_ETOOBIG);
	same(&s, &b);
	assert_null(b.data);
	assert_int_equal(sx_buf_reserve(&b, MAX + 1), SX_ETOOBIG);
	same(&s, &b);

	/* exactly max at once */
	assert_int_equal(sx_buf_append(&b, src, MAX), 0);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_memory_equal(sx_buf_head(&b), src, MAX);
	check_invariants(&b);
	sx_buf_finish(&b);
}

/* The bound is on unread bytes: consumed bytes make room again. */
static void test_bound_counts_unread_only(void **state)
{
	enum { MAX = 512 };
	uint8_t src[MAX];
	pattern(src, sizeof src, 0);
	struct sx_buf b;
	struct snap s;
	sx_buf_init(&b, MAX);

	assert_int_equal(sx_buf_append(&b, src, MAX), 0);
	sx_buf_consume(&b, 100);
	assert_int_equal(sx_buf_used(&b), MAX - 100);
	assert_int_equal(sx_buf_append(&b, src, 100), 0);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_memory_equal(sx_buf_head(&b), src + 100, MAX - 100);
	assert_memory_equal(sx_buf_head(&b) + MAX - 100, src, 100);
	check_invariants(&b);

	take(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, 1), SX_ETOOBIG);
	same(&s, &b);

	/* with a gap at the front, max - used still fits exactly */
	sx_buf_consume(&b, 1);
	take(&s, &b);
	assert_int_equal(sx_buf_append(&b, src, 2), SX_ETOOBIG);
	same(&s, &b);
	assert_int_equal(sx_buf_append(&b, "z", 1), 0);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_int_equal(sx_buf_head(&b)[MAX - 1], 'z');
	check_invariants(&b);
	sx_buf_finish(&b);
}

static void test_max_zero(void **state)
{
	struct sx_buf b;
	sx_buf_init(&b, 0);
	assert_int_equal(sx_buf_append(&b, "x", 1), SX_ETOOBIG);
	assert_int_equal(sx_buf_reserve(&b, 1), SX_ETOOBIG);
	assert_int_equal(sx_buf_reserve(&b, SIZE_MAX), SX_ETOOBIG);
	assert_int_equal(sx_buf_append(&b, "x", 0), 0);
	assert_int_equal(sx_buf_reserve(&b, 0), 0);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_consume(&b, 0);
	sx_buf_reset(&b, 0);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_null(b.data);
	sx_buf_finish(&b);
}

/* A small bound caps the storage too: the buffer never allocates past max. */
static void test_small_max_caps_storage(void **state)
{
	struct sx_buf b;
	for (size_t max = 1; max <= 600; max += 37) {
		sx_buf_init(&b, max);
		assert_int_equal(sx_buf_append(&b, "a", 1), 0);
		check_invariants(&b);
		while (sx_buf_used(&b) < max) {
			assert_int_equal(sx_buf_append(&b, "b", 1), 0);
			check_invariants(&b);
		}
		assert_int_equal(b.cap, max);
		assert_int_equal(sx_buf_append(&b, "c", 1), SX_ETOOBIG);
		sx_buf_finish(&b);
	}
}

/* A huge bound does not mean a huge allocation: storage follows use. */
static void test_large_max_small_growth(void **state)
{
	enum { TOTAL = 1 << 20 };
	uint8_t *src = malloc(TOTAL);
	assert_non_null(src);
	pattern(src, TOTAL, 3);
	struct sx_buf b;
	sx_buf_init(&b, SIZE_MAX);

	assert_int_equal(sx_buf_append(&b, src, 1), 0);
	assert_true(b.cap >= 1);
	assert_true(b.cap <= 4096);
	size_t fed = 1;
	while (fed < TOTAL) {
		size_t n = fed % 7 + 1;
		if (n > TOTAL - fed)
			n = TOTAL - fed;
		assert_int_equal(sx_buf_append(&b, src + fed, n), 0);
		fed += n;
		/* amortised doubling: never more than about twice what is held */
		assert_true(b.cap <= 2 * sx_buf_used(&b) + 4096);
		assert_true(b.cap >= sx_buf_used(&b));
	}
	assert_int_equal(sx_buf_used(&b), TOTAL);
	assert_memory_equal(sx_buf_head(&b), src, TOTAL);

	/* n close to SIZE_MAX must not wrap around the bound check */
	size_t cap = b.cap;
	uint8_t *data = b.data;
	assert_int_equal(sx_buf_reserve(&b, SIZE_MAX), SX_ETOOBIG);
	assert_int_equal(sx_buf_reserve(&b, SIZE_MAX - TOTAL + 1), SX_ETOOBIG);
	assert_int_equal(sx_buf_append(&b, src, SIZE_MAX), SX_ETOOBIG);
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	assert_int_equal(sx_buf_used(&b), TOTAL);

	/* the same at a large but not maximal bound */
	sx_buf_finish(&b);
	sx_buf_init(&b, (size_t)1 << 40);
	assert_int_equal(sx_buf_append(&b, src, 10), 0);
	assert_true(b.cap <= 4096);
	assert_int_equal(sx_buf_reserve(&b, ((size_t)1 << 40) - 9), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 10);
	assert_memory_equal(sx_buf_head(&b), src, 10);
	sx_buf_finish(&b);
	free(src);
}

/* Within the bound but beyond memory: SX_ENOMEM, buffer unchanged. ASan aborts
 * on such a request instead of returning NULL, so this runs without it only. */
static void test_reserve_enomem(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
	skip();
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
	skip();
#endif
#endif
	struct sx_buf b;
	sx_buf_init(&b, SIZE_MAX);
	assert_int_equal(sx_buf_append(&b, "abc", 3), 0);
	uint8_t *data = b.data;
	size_t cap = b.cap;
	assert_int_equal(sx_buf_reserve(&b, SIZE_MAX - 3), SX_ENOMEM);
	assert_int_equal(sx_buf_append(&b, "abc", SIZE_MAX - 3), SX_ENOMEM);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(sx_buf_used(&b), 3);
	assert_memory_equal(sx_buf_head(&b), "abc", 3);
	sx_buf_finish(&b);
#endif
}

static void test_reserve_tail_commit(void **state)
{
	enum { MAX = 256 };
	uint8_t src[MAX];
	pattern(src, sizeof src, 11);
	struct sx_buf b;
	sx_buf_init(&b, MAX);

	assert_int_equal(sx_buf_reserve(&b, 10), 0);
	assert_true(b.cap - b.len >= 10);
	assert_int_equal(sx_buf_used(&b), 0);
	memcpy(sx_buf_tail(&b), src, 10);
	sx_buf_commit(&b, 10);
	assert_int_equal(sx_buf_used(&b), 10);
	assert_memory_equal(sx_buf_head(&b), src, 10);

	/* commit less than reserved */
	assert_int_equal(sx_buf_reserve(&b, 50), 0);
	memcpy(sx_buf_tail(&b), src + 10, 20);
	sx_buf_commit(&b, 20);
	assert_int_equal(sx_buf_used(&b), 30);
	assert_memory_equal(sx_buf_head(&b), src, 30);

	/* reserve up to exactly the bound, then one more is refused */
	assert_int_equal(sx_buf_reserve(&b, MAX - 30 + 1), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 30);
	assert_int_equal(sx_buf_reserve(&b, MAX - 30), 0);
	assert_true(b.cap - b.len >= MAX - 30);
	memcpy(sx_buf_tail(&b), src + 30, MAX - 30);
	sx_buf_commit(&b, MAX - 30);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_memory_equal(sx_buf_head(&b), src, MAX);
	check_invariants(&b);

	/* room that exists only after reclaiming consumed bytes: the unread
	 * bytes move to the front and the tail follows them */
	sx_buf_consume(&b, 200);
	assert_int_equal(sx_buf_reserve(&b, 201), SX_ETOOBIG);
	assert_int_equal(sx_buf_reserve(&b, 200), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(sx_buf_used(&b), MAX - 200);
	assert_memory_equal(sx_buf_head(&b), src + 200, MAX - 200);
	assert_ptr_equal(sx_buf_tail(&b), sx_buf_head(&b) + MAX - 200);
	memcpy(sx_buf_tail(&b), src, 200);
	sx_buf_commit(&b, 200);
	assert_int_equal(sx_buf_used(&b), MAX);
	assert_memory_equal(sx_buf_head(&b), src + 200, MAX - 200);
	assert_memory_equal(sx_buf_head(&b) + MAX - 200, src, 200);
	check_invariants(&b);
	sx_buf_finish(&b);
}

static void test_consume(void **state)
{
	uint8_t src[100];
	pattern(src, sizeof src, 0);
	struct sx_buf b;
	sx_buf_init(&b, 100);

	sx_buf_consume(&b, 0); /* on an empty, unallocated buffer */
	assert_int_equal(sx_buf_used(&b), 0);

	assert_int_equal(sx_buf_append(&b, src, 100), 0);
	sx_buf_consume(&b, 0);
	assert_int_equal(sx_buf_used(&b), 100);
	sx_buf_consume(&b, 1);
	assert_int_equal(sx_buf_used(&b), 99);
	assert_memory_equal(sx_buf_head(&b), src + 1, 99);
	sx_buf_consume(&b, 98);
	assert_int_equal(sx_buf_used(&b), 1);
	assert_int_equal(sx_buf_head(&b)[0], src[99]);

	/* draining the buffer reclaims the whole storage at once */
	sx_buf_consume(&b, 1);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	assert_int_equal(sx_buf_append(&b, src, 100), 0);
	assert_memory_equal(sx_buf_head(&b), src, 100);
	sx_buf_finish(&b);
}

static void test_reset_keep(void **state)
{
	uint8_t src[1000];
	pattern(src, sizeof src, 1);
	struct sx_buf b;
	sx_buf_init(&b, 4096);

	/* reset of a never-used buffer */
	sx_buf_reset(&b, 0);
	assert_null(b.data);
	assert_int_equal(sx_buf_used(&b), 0);

	assert_int_equal(sx_buf_append(&b, src, 1000), 0);
	sx_buf_consume(&b, 10);
	size_t cap = b.cap;
	uint8_t *data = b.data;
	assert_true(cap >= 1000);

	/* keep == cap: the storage stays */
	sx_buf_reset(&b, cap);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.max, 4096);

	/* still usable, without growing */
	assert_int_equal(sx_buf_append(&b, src, 1000), 0);
	assert_ptr_equal(b.data, data);
	assert_memory_equal(sx_buf_head(&b), src, 1000);

	/* keep == cap - 1: released */
	sx_buf_reset(&b, cap - 1);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 4096);

	/* usable again after release, keep = 0 releases any storage */
	assert_int_equal(sx_buf_append(&b, src, 5), 0);
	assert_memory_equal(sx_buf_head(&b), src, 5);
	sx_buf_reset(&b, 0);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);

	/* a large keep never frees */
	assert_int_equal(sx_buf_append(&b, src, 5), 0);
	data = b.data;
	sx_buf_reset(&b, SIZE_MAX);
	assert_ptr_equal(b.data, data);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_finish(&b);
}

/* xorshift64*: the same sequence on every libc. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd(size_t n) /* 0 .. n inclusive */
{
	return (size_t)(rng() % ((uint64_t)n + 1));
}

/* Random appends, reserve/commit, consumes and resets against a plain array
 * model of the FIFO; checks content and bound after every step. */
static void test_fifo_random_model(void **state)
{
	enum { MAX = 1500, STEPS = 200000, CHUNK = 400 };
	static uint8_t model[MAX];
	size_t mlen = 0, seq = 0;
	uint8_t chunk[CHUNK + MAX + 1];
	struct sx_buf b;
	struct snap *s = malloc(sizeof *s);
	assert_non_null(s);
	size_t refused = 0, filled = 0;

	rng_state = 0x5eed5eed12345678ull;
	sx_buf_init(&b, MAX);
	for (unsigned step = 0; step < STEPS; step++) {
		unsigned op = (unsigned)rnd(99);
		if (op < 45) {
			/* append, sometimes past the bound on purpose */
			size_t n = rnd(4) == 0 ? MAX - mlen + rnd(3) : rnd(CHUNK);
			pattern(chunk, n, seq);
			if (mlen + n > MAX) {
				take(s, &b);
				assert_int_equal(sx_buf_append(&b, chunk, n), SX_ETOOBIG);
				same(s, &b);
				refused++;
			} else {
				assert_int_equal(sx_buf_append(&b, chunk, n), 0);
				memcpy(model + mlen, chunk, n);
				mlen += n;
				seq += n;
			}
		} else if (op < 60) {
			/* reserve, write, commit part of it */
			size_t n = rnd(CHUNK);
			if (mlen + n > MAX) {
				assert_int_equal(sx_buf_reserve(&b, n), SX_ETOOBIG);
			} else {
				assert_int_equal(sx_buf_reserve(&b, n), 0);
				assert_true(b.cap - b.len >= n);
				size_t w = rnd(n);
				pattern(chunk, w, seq);
				if (w)
					memcpy(sx_buf_tail(&b), chunk, w);
				sx_buf_commit(&b, w);
				memcpy(model + mlen, chunk, w);
				mlen += w;
				seq += w;
			}
		} else if (op < 98) {
			size_t n = rnd(2) == 0 ? mlen : rnd(mlen);
			sx_buf_consume(&b, n);
			memmove(model, model + n, mlen - n);
			mlen -= n;
		} else {
			sx_buf_reset(&b, rnd(1) ? 0 : MAX);
			mlen = 0;
		}
		if (mlen == MAX)
			filled++;
		check_invariants(&b);
		assert_int_equal(sx_buf_used(&b), mlen);
		if (mlen)
			assert_memory_equal(sx_buf_head(&b), model, mlen);
	}
	/* the sequence really exercised both edges */
	assert_true(refused > 1000);
	assert_true(filled > 100);
	sx_buf_finish(&b);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_finish),
		cmocka_unit_test(test_append_exactly_max),
		cmocka_unit_test(test_single_append_at_edge),
		cmocka_unit_test(test_bound_counts_unread_only),
		cmocka_unit_test(test_max_zero),
		cmocka_unit_test(test_small_max_caps_storage),
		cmocka_unit_test(test_large_max_small_growth),
		cmocka_unit_test(test_reserve_enomem),
		cmocka_unit_test(test_reserve_tail_commit),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_reset_keep),
		cmocka_unit_test(test_fifo_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
