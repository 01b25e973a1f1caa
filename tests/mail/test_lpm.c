/*
 * test_lpm.c: longest-prefix match (mail/lpm.c).
 *
 * Every lookup is checked against a linear scan over the same prefixes with a
 * bit-by-bit model (longest length wins, on equal prefixes the smaller value),
 * on random tables drawn from a fixed seed so nesting, siblings and duplicates
 * all occur, and at every prefix's first and last address and their
 * neighbours.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/netaddr.h"
#include "mail/lpm.h"

/* "a.b.c.d" becomes ::ffff:a.b.c.d, anything else is parsed as IPv6. */
static void addr(const char *s, uint8_t out[16])
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return;
	}
	if (inet_pton(AF_INET6, s, out) != 1)
		fail_msg("bad test address \"%s\"", s);
}

/* "a.b.c.d/n" or "v6/n", built without the code under test. */
static struct sx_prefix pfx(const char *s)
{
	char host[64];
	const char *slash = strchr(s, '/');
	assert_non_null(slash);
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	struct sx_prefix p;
	addr(host, p.addr);
	unsigned n = (unsigned)atoi(slash + 1);
	p.len = (uint8_t)(strchr(host, ':') ? n : 96 + n);
	return p;
}

static unsigned bit(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1u;
}

static void set_bit(uint8_t *a, unsigned i, unsigned v)
{
	uint8_t m = (uint8_t)(0x80u >> (i % 8));
	a[i / 8] = (uint8_t)(v ? a[i / 8] | m : a[i / 8] & ~m);
}

static int model_contains(const struct sx_prefix *p, const uint8_t a[16])
{
	for (unsigned i = 0; i < p->len; i++)
		if (bit(p->addr, i) != bit(a, i))
			return 0;
	return 1;
}

/* The brute-force answer: returns 0 when nothing matches. */
static int model_lookup(const struct sx_prefix *ps, const int64_t *vs, size_t n,
			const uint8_t a[16], int64_t *value, uint8_t *len)
{
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (!model_contains(&ps[i], a))
			continue;
		if (!found || ps[i].len > *len || (ps[i].len == *len && vs[i] < *value)) {
			*len = ps[i].len;
			*value = vs[i];
			found = 1;
		}
	}
	return found;
}

static void expect(const struct sx_lpm *t, const char *a, int64_t want_value, int want_len)
{
	uint8_t b[16];
	addr(a, b);
	int64_t v = -12345;
	uint8_t l = 255;
	int rc = sx_lpm_lookup(t, b, &v, &l);
	if (want_len < 0) {
		if (rc != SX_ENOTFOUND)
			fail_msg("%s: expected no match, got value %lld /%u", a, (long long)v, l);
		return;
	}
	if (rc != 0)
		fail_msg("%s: expected value %lld, got %s", a, (long long)want_value,
			 sx_strerror(rc));
	if (v != want_value || l != want_len)
		fail_msg("%s: expected %lld /%d, got %lld /%u", a, (long long)want_value, want_len,
			 (long long)v, l);
}

static struct sx_lpm *build(const char *const *texts, const int64_t *values, size_t n)
{
	struct sx_prefix ps[32];
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++)
		ps[i] = pfx(texts[i]);
	struct sx_lpm *t = NULL;
	assert_int_equal(sx_lpm_build(ps, values, n, &t), 0);
	assert_non_null(t);
	return t;
}

static void test_empty(void **state)
{
	struct sx_lpm *t = NULL;
	assert_int_equal(sx_lpm_build(NULL, NULL, 0, &t), 0);
	assert_int_equal(sx_lpm_count(t), 0);
	expect(t, "192.0.2.1", 0, -1);
	expect(t, "2001:db8::1", 0, -1);
	expect(t, "::", 0, -1);
	sx_lpm_destroy(t);
	sx_lpm_destroy(NULL);
	assert_int_equal(sx_lpm_count(NULL), 0);
}

/* ::/0 matches everything; the IPv4 default route only the mapped space. */
static void test_default_routes(void **state)
{
	const char *p[] = { "::/0", "0.0.0.0/0" };
	const int64_t v[] = { 1, 2 };
	struct sx_lpm *t = build(p, v, 2);
	assert_int_equal(sx_lpm_count(t), 2);
	expect(t, "::", 1, 0);
	expect(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, 0);
	expect(t, "2001:db8::1", 1, 0);
	expect(t, "0.0.0.0", 2, 96);
	expect(t, "255.255.255.255", 2, 96);
	expect(t, "::fffe:ffff:ffff", 1, 0);   /* just below the mapped space */
	expect(t, "::1:0:0:0", 1, 0);          /* just above */
	sx_lpm_destroy(t);

	const char *q[] = { "0.0.0.0/0" };
	t = build(q, v, 1);
	expect(t, "198.51.100.7", 1, 96);
	expect(t, "2001:db8::1", 0, -1);
	sx_lpm_destroy(t);
}

static void test_host_routes(void **state)
{
	const char *p[] = { "2001:db8::1/128", "192.0.2.1/32", "2001:db8::/127", "192.0.2.0/31" };
	const int64_t v[] = { 10, 20, 30, 40 };
	struct sx_lpm *t = build(p, v, 4);
	expect(t, "2001:db8::1", 10, 128);
	expect(t, "2001:db8::", 30, 127);
	expect(t, "2001:db8::2", 0, -1);
	expect(t, "192.0.2.1", 20, 128);
	expect(t, "192.0.2.0", 40, 127);
	expect(t, "192.0.2.2", 0, -1);
	sx_lpm_destroy(t);

	/* A host route alone, at the very ends of the space. */
	const char *q[] = { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/128" };
	t = build(q, v, 2);
	expect(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 10, 128);
	expect(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0, -1);
	expect(t, "::", 20, 128);
	expect(t, "::1", 0, -1);
	sx_lpm_destroy(t);
}

/* The same prefix twice: the smaller value wins whatever the order. */
static void test_duplicates(void **state)
{
	const char *p[] = { "198.51.100.0/24", "198.51.100.0/24", "2001:db8::/32",
			    "2001:db8::/32", "2001:db8::/32" };
	const int64_t v1[] = { 7, 3, 5, -2, 9 };
	struct sx_lpm *t = build(p, v1, 5);
	assert_int_equal(sx_lpm_count(t), 2);
	expect(t, "198.51.100.200", 3, 120);
	expect(t, "2001:db8:1::1", -2, 32);
	sx_lpm_destroy(t);

	const int64_t v2[] = { 3, 7, -2, 9, 5 };
	t = build(p, v2, 5);
	expect(t, "198.51.100.200", 3, 120);
	expect(t, "2001:db8:1::1", -2, 32);
	sx_lpm_destroy(t);
}

/* Nesting, in an order that forces splits above existing nodes. */
static void test_nesting(void **state)
{
	const char *p[] = { "10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.128/25",
			    "10.1.3.0/24", "2001:db8:aa::/48", "2001:db8::/32",
			    "2001:db8:aa:bb::/64", "2001:db8:ab::/48" };
	const int64_t v[] = { 24, 8, 16, 25, 124, 48, 32, 64, 148 };
	struct sx_lpm *t = build(p, v, 9);
	assert_int_equal(sx_lpm_count(t), 9);
	expect(t, "10.1.2.1", 24, 120);
	expect(t, "10.1.2.129", 25, 121);
	expect(t, "10.1.3.9", 124, 120);
	expect(t, "10.1.4.9", 16, 112);
	expect(t, "10.200.0.1", 8, 104);
	expect(t, "11.0.0.1", 0, -1);
	expect(t, "2001:db8:aa:bb::5", 64, 64);
	expect(t, "2001:db8:aa:bc::5", 48, 48);
	expect(t, "2001:db8:ab::5", 148, 48);
	expect(t, "2001:db8:ac::5", 32, 32);
	expect(t, "2001:db9::", 0, -1);
	sx_lpm_destroy(t);
}

static void test_invalid(void **state)
{
	struct sx_prefix ps[2] = { pfx("192.0.2.0/24"), pfx("192.0.2.1/24") }; /* host bit set */
	int64_t v[2] = { 1, 2 };
	struct sx_lpm *t = (struct sx_lpm *)&v; /* must be reset */
	assert_int_equal(sx_lpm_build(ps, v, 2, &t), SX_EINVAL);
	assert_null(t);
	ps[1] = pfx("2001:db8::/32");
	ps[1].len = 129;
	assert_int_equal(sx_lpm_build(ps, v, 2, &t), SX_EINVAL);
	assert_null(t);
	ps[1].len = 128;
	assert_int_equal(sx_lpm_build(ps, v, 2, &t), 0);
	sx_lpm_destroy(t);
}

static uint64_t rng_state = 0x5eed5eed12345678ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Bases the random prefixes grow from, so that they nest and collide. */
static uint8_t bases[8][16];

static void random_prefix(struct sx_prefix *p)
{
	memcpy(p->addr, bases[rnd() % 8], 16);
	int v4 = rnd() % 2;
	unsigned len;
	if (v4) {
		memset(p->addr, 0, 10);
		p->addr[10] = p->addr[11] = 0xff;
		len = 96 + (unsigned)(rnd() % 33);
	} else {
		len = (unsigned)(rnd() % 129);
	}
	/* Perturb a few bits near the end so siblings appear. */
	for (int k = rnd() % 3; k > 0 && len >= 8; k--)
		set_bit(p->addr, len - 1 - (unsigned)(rnd() % 8), (unsigned)(rnd() % 2));
	for (unsigned i = len; i < 128; i++)
		set_bit(p->addr, i, 0);
	p->len = (uint8_t)len;
}

static void check_addr(const struct sx_lpm *t, const struct sx_prefix *ps, const int64_t *vs,
		       size_t n, const uint8_t a[16])
{
	int64_t mv = 0, v = 0;
	uint8_t ml = 0, l = 0;
	int want = model_lookup(ps, vs, n, a, &mv, &ml);
	int rc = sx_lpm_lookup(t, a, &v, &l);
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, a, text, sizeof text);
	if (!want) {
		if (rc != SX_ENOTFOUND)
			fail_msg("%s: model has no match, table gives %lld /%u", text,
				 (long long)v, l);
		return;
	}
	if (rc != 0 || v != mv || l != ml)
		fail_msg("%s: model %lld /%u, table rc %d %lld /%u", text, (long long)mv, ml, rc,
			 (long long)v, l);
}

static void test_random_model(void **state)
{
	static const size_t sizes[] = { 1, 2, 10, 100, 1000, 2000 };
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];
		for (int b = 0; b < 8; b++)
			for (int i = 0; i < 16; i++)
				bases[b][i] = (uint8_t)rnd();
		struct sx_prefix *ps = calloc(n, sizeof *ps);
		int64_t *vs = calloc(n, sizeof *vs);
		assert_non_null(ps);
		assert_non_null(vs);
		for (size_t i = 0; i < n; i++) {
			random_prefix(&ps[i]);
			vs[i] = (int64_t)(rnd() % 50) - 10; /* small range: equal values too */
		}
		/* Some exact duplicates with other values. */
		for (size_t i = 0; i + 1 < n; i += 7) {
			ps[i + 1] = ps[i];
			vs[i + 1] = (int64_t)(rnd() % 50) - 10;
		}
		struct sx_lpm *t = NULL;
		assert_int_equal(sx_lpm_build(ps, vs, n, &t), 0);
		size_t distinct = 0;
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < i && !(ps[j].len == ps[i].len &&
					  memcmp(ps[j].addr, ps[i].addr, 16) == 0))
				j++;
			distinct += j == i;
		}
		assert_int_equal(sx_lpm_count(t), distinct);

		/* Each prefix's edges and their neighbours. */
		size_t step = n > 300 ? n / 300 : 1;
		for (size_t i = 0; i < n; i += step) {
			uint8_t first[16], last[16];
			memcpy(first, ps[i].addr, 16);
			memcpy(last, ps[i].addr, 16);
			for (unsigned k = ps[i].len; k < 128; k++)
				set_bit(last, k, 1);
			check_addr(t, ps, vs, n, first);
			check_addr(t, ps, vs, n, last);
			for (int k = 15; k >= 0 && ++last[k] == 0; k--)
				;
			for (int k = 15; k >= 0 && first[k]-- == 0; k--)
				;
			check_addr(t, ps, vs, n, first);
			check_addr(t, ps, vs, n, last);
		}
		/* Random addresses near the bases and anywhere. */
		for (int r = 0; r < 1000; r++) {
			uint8_t a[16];
			if (r % 2) {
				memcpy(a, bases[rnd() % 8], 16);
				if (r % 4 == 1) {
					memset(a, 0, 10);
					a[10] = a[11] = 0xff;
				}
				for (unsigned k = 96 + (unsigned)(rnd() % 32); k < 128; k++)
					set_bit(a, k, (unsigned)(rnd() % 2));
			} else {
				for (int k = 0; k < 16; k++)
					a[k] = (uint8_t)rnd();
			}
			check_addr(t, ps, vs, n, a);
		}
		sx_lpm_destroy(t);
		free(ps);
		free(vs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_default_routes),
		cmocka_unit_test(test_host_routes),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_random_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
