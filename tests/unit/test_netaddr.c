/*
 * test_netaddr.c: prefixes and host:port strings (lib/netaddr.c).
 *
 * Addresses in tests are built with inet_pton directly, never through the code
 * under test, and prefix membership is checked against a bit-by-bit model at
 * every prefix length.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/netaddr.h"

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

static struct sx_prefix pfx(const char *s)
{
	struct sx_prefix p;
	memset(&p, 0xee, sizeof p);
	if (sx_prefix_parse(s, &p) != 0)
		fail_msg("\"%s\" refused", s);
	return p;
}

static int in(const struct sx_prefix *p, const char *a)
{
	uint8_t b[16];
	addr(a, b);
	return sx_prefix_contains(p, b);
}

static void expect_prefix(const char *text, const char *want_addr, unsigned want_len)
{
	uint8_t want[16];
	addr(want_addr, want);
	struct sx_prefix p = pfx(text);
	assert_memory_equal(p.addr, want, 16);
	assert_int_equal(p.len, want_len);
}

static void test_parse_v4(void **state)
{
	expect_prefix("192.0.2.0/24", "192.0.2.0", 96 + 24);
	expect_prefix("10.0.0.0/8", "10.0.0.0", 96 + 8);
	expect_prefix("172.16.0.0/12", "172.16.0.0", 96 + 12);
	expect_prefix("0.0.0.0/0", "0.0.0.0", 96);
	expect_prefix("255.255.255.255/32", "255.255.255.255", 128);
	expect_prefix("128.0.0.0/1", "128.0.0.0", 97);
	expect_prefix("192.0.2.254/31", "192.0.2.254", 96 + 31);
	/* a bare address is a host prefix */
	expect_prefix("192.0.2.1", "192.0.2.1", 128);
	expect_prefix("0.0.0.0", "0.0.0.0", 128);
	/* the mapped form typed as IPv6 is the same prefix */
	expect_prefix("::ffff:192.0.2.0/120", "192.0.2.0", 120);
}

static void test_parse_v6(void **state)
{
	expect_prefix("2001:db8::/32", "2001:db8::", 32);
	expect_prefix("2001:db8:8000::/33", "2001:db8:8000::", 33);
	expect_prefix("fe80::/10", "fe80::", 10);
	expect_prefix("::/0", "::", 0);
	expect_prefix("8000::/1", "8000::", 1);
	expect_prefix("2001:db8::1/128", "2001:db8::1", 128);
	expect_prefix("2001:db8::2/127", "2001:db8::2", 127);
	expect_prefix("::/128", "::", 128);
	/* a bare address is a host prefix */
	expect_prefix("2001:db8::1", "2001:db8::1", 128);
	expect_prefix("::1", "::1", 128);
	expect_prefix("::", "::", 128);
}

static void test_every_length(void **state)
{
	char s[64];
	struct sx_prefix p;
	for (unsigned n = 0; n <= 32; n++) {
		snprintf(s, sizeof s, "0.0.0.0/%u", n);
		assert_int_equal(sx_prefix_parse(s, &p), 0);
		assert_int_equal(p.len, 96 + n);
	}
	for (unsigned n = 0; n <= 128; n++) {
		snprintf(s, sizeof s, "::/%u", n);
		assert_int_equal(sx_prefix_parse(s, &p), 0);
		assert_int_equal(p.len, n);
	}
	/* one past the end of each family */
	assert_int_equal(sx_prefix_parse("0.0.0.0/33", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("192.0.2.1/33", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::/129", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::1/129", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("0.0.0.0/128", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::/999", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::/1000", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::/4294967424", &p), SX_EINVAL); /* 2^32 + 128 */
	assert_int_equal(sx_prefix_parse("0.0.0.0/4294967328", &p), SX_EINVAL);
	assert_int_equal(sx_prefix_parse("::/18446744073709551744", &p), SX_EINVAL);
}

static void test_host_bits(void **state)
{
	struct sx_prefix p;
	static const char *const bad[] = {
		"192.0.2.1/24",
		"192.0.2.128/24",
		"192.0.2.1/31",      /* the last bit */
		"10.0.1.0/23",       /* the first bit past the length */
		"128.0.0.0/0",
		"10.0.0.0/1",
		"0.0.0.1/0",
		"2001:db8::1/32",
		"2001:db8:4000::/33",
		"2001:db8::1/127",
		"::1/0",
		"8000::/0",
		"fec0::/9",
		"::ffff:192.0.2.1/120",
		"::ffff:0:0/95",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sx_prefix_parse(bad[i], &p) != SX_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
	/* the same bits are fine when inside the length */
	pfx("192.0.2.128/25");
	pfx("10.0.2.0/23");
	pfx("192.0.2.1/32");
	pfx("2001:db8:4000::/34");
	pfx("2001:db8::1/128");
	pfx("fe80::/9");
}

static void test_junk(void **state)
{
	struct sx_prefix p;
	static const char *const bad[] = {
		"",
		"/",
		"/24",
		"abc",
		"192.0.2.0/",
		"192.0.2.0/x",
		"192.0.2.0/-1",
		"192.0.2.0/+8",
		"192.0.2.0/ 8",
		"192.0.2.0/8 ",
		"192.0.2.0/0x8",
		"192.0.2.0/24x",
		"192.0.2.0/24/24",
		"192.0.2.0//24",
		"192.0.2.0/0024",
		" 192.0.2.0/24",
		"192.0.2.0/24 ",
		"192.0.2.0 /24",
		"192.0.2.0\t",
		"x192.0.2.0/24",
		"192.0.2.0x/24",
		"192.0.2/24",
		"192.0.2.0.0/24",
		"256.0.0.0/8",
		"1.2.3.4.",
		"2001:db8:::/32",
		"2001:db8::/32 ",
		"2001:db8::g/128",
		"[::1]",
		"[::1]/128",
		"::1%lo",
		"1:2:3:4:5:6:7:8:9",
		"::/",
		"::/ 64",
		"0x7f000001",
		/* longer than any address */
		"00000000000000000000000000000000000000000000000000000000000000000000000/0",
		"1111:2222:3333:4444:5555:6666:7777:8888:1111:2222:3333:4444:5555:6666:7777:8888",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (sx_prefix_parse(bad[i], &p) != SX_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	}
}

static void test_format(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		/* IPv4 printed dotted, with its own length */
		{ "192.0.2.0/24", "192.0.2.0/24" },
		{ "10.0.0.0/8", "10.0.0.0/8" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "255.255.255.255", "255.255.255.255/32" },
		{ "192.0.2.1", "192.0.2.1/32" },
		{ "10.0.2.0/23", "10.0.2.0/23" },
		{ "::ffff:192.0.2.0/120", "192.0.2.0/24" },
		{ "::ffff:c000:200/120", "192.0.2.0/24" },
		{ "::ffff:0:0/96", "0.0.0.0/0" },
		{ "::ffff:10.0.0.1", "10.0.0.1/32" },
		/* IPv6 canonical (RFC 5952): lower case, no leading zeros, the
		 * longest run of zero groups compressed, the first on a tie, a
		 * single zero group not compressed */
		{ "2001:db8::/32", "2001:db8::/32" },
		{ "2001:DB8::/32", "2001:db8::/32" },
		{ "2001:0db8:0000:0000:0000::/64", "2001:db8::/64" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1/128" },
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1/128" },
		{ "::", "::/128" },
		{ "::/0", "::/0" },
		{ "::1", "::1/128" },
		{ "::/96", "::/96" },
		{ "fe80::/10", "fe80::/10" },
		{ "8000::/1", "8000::/1" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[SX_PREFIX_TEXT];
		struct sx_prefix p = pfx(cases[i].in), q;
		memset(out, 'x', sizeof out);
		sx_prefix_format(&p, out, sizeof out);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("\"%s\" printed \"%s\", want \"%s\"", cases[i].in, out,
				 cases[i].out);
		/* the printed form reads back as the same prefix */
		q = pfx(out);
		assert_memory_equal(q.addr, p.addr, 16);
		assert_int_equal(q.len, p.len);
	}
}

static void test_format_short_buffer(void **state)
{
	struct sx_prefix p = pfx("192.0.2.0/24");
	char out[16];
	memset(out, 'x', sizeof out);
	sx_prefix_format(&p, out, 13); /* "192.0.2.0/24" is 12 */
	assert_string_equal(out, "192.0.2.0/24");
	memset(out, 'x', sizeof out);
	sx_prefix_format(&p, out, 12);
	assert_string_equal(out, "192.0.2.0/2");
	assert_int_equal(out[12], 'x');
	sx_prefix_format(&p, out, 1);
	assert_string_equal(out, "");
}

/* A prefix, the address just below it, its first and last addresses and the
 * one just above (NULL where there is none). */
struct bounds {
	const char *prefix, *below, *first, *last, *above;
};

static void check_bounds(const struct bounds *b)
{
	struct sx_prefix p = pfx(b->prefix);
	if (b->below && in(&p, b->below))
		fail_msg("%s contains %s", b->prefix, b->below);
	if (!in(&p, b->first))
		fail_msg("%s lacks %s", b->prefix, b->first);
	if (!in(&p, b->last))
		fail_msg("%s lacks %s", b->prefix, b->last);
	if (b->above && in(&p, b->above))
		fail_msg("%s contains %s", b->prefix, b->above);
}

static void test_contains_boundaries(void **state)
{
	static const struct bounds cases[] = {
		{ "10.0.2.0/23", "10.0.1.255", "10.0.2.0", "10.0.3.255", "10.0.4.0" },
		{ "192.0.2.128/25", "192.0.2.127", "192.0.2.128", "192.0.2.255", "192.0.3.0" },
		{ "172.16.0.0/12", "172.15.255.255", "172.16.0.0", "172.31.255.255",
		  "172.32.0.0" },
		{ "10.0.0.4/30", "10.0.0.3", "10.0.0.4", "10.0.0.7", "10.0.0.8" },
		{ "10.0.0.6/31", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8" },
		{ "100.64.0.0/10", "100.63.255.255", "100.64.0.0", "100.127.255.255",
		  "100.128.0.0" },
		{ "0.0.0.0/1", NULL, "0.0.0.0", "127.255.255.255", "128.0.0.0" },
		{ "128.0.0.0/1", "127.255.255.255", "128.0.0.0", "255.255.255.255", NULL },
		{ "192.0.2.7/32", "192.0.2.6", "192.0.2.7", "192.0.2.7", "192.0.2.8" },
		{ "0.0.0.0/0", NULL, "0.0.0.0", "255.255.255.255", NULL },
		{ "2001:db8::/33", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::",
		  "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", "2001:db8:8000::" },
		{ "fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::",
		  "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::" },
		{ "2001:db8::80/121", "2001:db8::7f", "2001:db8::80", "2001:db8::ff",
		  "2001:db8::100" },
		{ "2001:db8::2/127", "2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4" },
		{ "2001:db8::1/128", "2001:db8::", "2001:db8::1", "2001:db8::1", "2001:db8::2" },
		{ "2001:db8:0:8::/61", "2001:db8:0:7:ffff:ffff:ffff:ffff", "2001:db8:0:8::",
		  "2001:db8:0:f:ffff:ffff:ffff:ffff", "2001:db8:0:10::" },
		{ "8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL },
		{ "::/0", NULL, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_bounds(&cases[i]);
}

/* 128-bit helpers for the model. */
static int bit(const uint8_t a[16], unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static void set_bit(uint8_t a[16], unsigned i, int v)
{
	uint8_t m = (uint8_t)(0x80u >> (i % 8));
	a[i / 8] = v ? (uint8_t)(a[i / 8] | m) : (uint8_t)(a[i / 8] & ~m);
}

/* a -= 1 or a += 1; returns 0 when it wrapped (no such address). */
static int step(uint8_t a[16], int up)
{
	for (int i = 15; i >= 0; i--) {
		if (up ? a[i] != 0xff : a[i] != 0) {
			a[i] = (uint8_t)(up ? a[i] + 1 : a[i] - 1);
			return 1;
		}
		a[i] = up ? 0 : 0xff;
	}
	return 0;
}

static int model_contains(const struct sx_prefix *p, const uint8_t a[16])
{
	for (unsigned i = 0; i < p->len; i++)
		if (bit(p->addr, i) != bit(a, i))
			return 0;
	return 1;
}

static uint64_t rng_state = 0x0123456789abcdefull;

static uint8_t rnd8(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint8_t)((rng_state * 0x2545f4914f6cdd1dull) >> 56);
}

/* For every length of both families, on random bases: the first and last
 * address are inside, their neighbours outside (for IPv4 even at /0: the
 * neighbours are not IPv4-mapped), random addresses agree with a bit-by-bit
 * model. The prefixes go through parse and so are real ones. */
static void test_contains_model(void **state)
{
	for (int round = 0; round < 20; round++) {
		for (int v4 = 0; v4 <= 1; v4++) {
			unsigned bits = v4 ? 32 : 128, base = v4 ? 96 : 0;
			for (unsigned n = 0; n <= bits; n++) {
				uint8_t a[16], first[16], last[16], nb[16];
				addr("::ffff:0:0", a);
				for (unsigned i = base / 8; i < 16; i++)
					a[i] = rnd8();
				memcpy(first, a, 16);
				memcpy(last, a, 16);
				for (unsigned i = base + n; i < 128; i++) {
					set_bit(first, i, 0);
					set_bit(last, i, 1);
				}
				char text[INET6_ADDRSTRLEN], s[SX_PREFIX_TEXT];
				if (v4)
					inet_ntop(AF_INET, first + 12, text, sizeof text);
				else
					inet_ntop(AF_INET6, first, text, sizeof text);
				snprintf(s, sizeof s, "%s/%u", text, n);
				struct sx_prefix p = pfx(s);
				assert_int_equal(p.len, base + n);
				assert_memory_equal(p.addr, first, 16);

				assert_true(sx_prefix_contains(&p, first));
				assert_true(sx_prefix_contains(&p, last));
				assert_true(sx_prefix_contains(&p, a));
				for (int up = 0; up <= 1; up++) {
					memcpy(nb, up ? last : first, 16);
					if (!step(nb, up))
						continue; /* ::/0 has no neighbours */
					assert_false(model_contains(&p, nb));
					if (sx_prefix_contains(&p, nb))
						fail_msg("%s contains its neighbour", s);
				}
				for (int k = 0; k < 8; k++) {
					uint8_t r[16];
					memcpy(r, first, 16);
					/* flip bits from just inside the length on */
					for (unsigned i = base + (n ? n - 1 : 0); i < 128; i++)
						set_bit(r, i, rnd8() & 1);
					assert_int_equal(!!sx_prefix_contains(&p, r),
							 model_contains(&p, r));
				}
			}
		}
	}
}

static void test_v4_mapped(void **state)
{
	struct sx_prefix all4 = pfx("0.0.0.0/0"), ten = pfx("10.0.0.0/8"), h = pfx("10.1.2.3");
	static const char *const not_mapped[] = {
		"::",
		"::1",
		"::10.1.2.3",          /* IPv4-compatible, not mapped */
		"::fffe:10.1.2.3",
		"::1:ffff:10.1.2.3",
		"ffff::ffff:10.1.2.3",
		"64:ff9b::10.1.2.3",   /* NAT64 */
		"2001:db8::a01:203",
		"::ffff:0:a01:203",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	for (size_t i = 0; i < sizeof not_mapped / sizeof not_mapped[0]; i++) {
		if (in(&all4, not_mapped[i]) || in(&ten, not_mapped[i]) || in(&h, not_mapped[i]))
			fail_msg("a v4 prefix contains %s", not_mapped[i]);
	}
	/* the mapped form, however written, is a v4 address */
	assert_true(in(&all4, "::ffff:10.1.2.3"));
	assert_true(in(&ten, "::ffff:10.1.2.3"));
	assert_true(in(&ten, "::ffff:a01:203"));
	assert_true(in(&h, "::ffff:10.1.2.3"));
	assert_true(in(&all4, "0.0.0.0"));
	assert_true(in(&all4, "255.255.255.255"));

	/* v6 prefixes and v4 addresses */
	struct sx_prefix doc = pfx("2001:db8::/32"), mapped = pfx("::ffff:0:0/96"),
			 zero96 = pfx("::/96"), any = pfx("::/0");
	assert_false(in(&doc, "10.1.2.3"));
	assert_true(in(&mapped, "10.1.2.3"));
	assert_true(in(&mapped, "0.0.0.0"));
	assert_false(in(&mapped, "::10.1.2.3"));
	assert_false(in(&zero96, "10.1.2.3"));
	assert_true(in(&any, "10.1.2.3"));
	assert_true(in(&any, "::1"));
}

static void expect_hostport(const char *s, const char *want_host, unsigned want_port)
{
	char host[SX_HOST_MAX];
	uint16_t port = 12345;
	memset(host, 'x', sizeof host);
	if (sx_hostport_parse(s, host, sizeof host, &port) != 0)
		fail_msg("\"%s\" refused", s);
	assert_string_equal(host, want_host);
	assert_int_equal(port, want_port);
}

static void test_hostport(void **state)
{
	expect_hostport("127.0.0.1:7443", "127.0.0.1", 7443);
	expect_hostport("[::1]:7443", "::1", 7443);
	expect_hostport("[2001:db8::1]:443", "2001:db8::1", 443);
	expect_hostport("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80);
	expect_hostport("localhost:0", "localhost", 0);
	expect_hostport("host:65535", "host", 65535);
	expect_hostport("h:1", "h", 1);
	expect_hostport("sprex.example.org:7443", "sprex.example.org", 7443);
}

static void test_hostport_bad(void **state)
{
	static const char *const bad[] = {
		"host:65536",
		"host:99999",
		"host:100000",
		"host:4294967297",
		"::1:80",          /* bare IPv6 needs brackets */
		"::1",
		"2001:db8::1:443",
		"a:b:80",
		"host",            /* missing port */
		"host:",
		"[::1]:",
		"[::1]",           /* brackets without port */
		"[::1]80",
		"[::1]x:80",
		"[::1",
		"[::1:80",
		"",                /* empty host */
		":",
		":80",
		"[]:80",
		"host:8o",         /* non-digit port */
		"host:-1",
		"host:+80",
		"host: 80",
		"host:80 ",
		"host:0x50",
		"host:http",
		"host:80:81",
		"[::1]:80:81",
		"[::1]:80]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char host[SX_HOST_MAX];
		uint16_t port = 12345;
		if (sx_hostport_parse(bad[i], host, sizeof host, &port) != SX_EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(port, 12345);
	}
}

/* The host buffer is the bound: hostlen - 1 characters fit, hostlen do not. */
static void test_hostport_host_length(void **state)
{
	char s[SX_HOST_MAX + 16], host[SX_HOST_MAX];
	uint16_t port;

	memset(s, 'h', SX_HOST_MAX - 1);
	strcpy(s + SX_HOST_MAX - 1, ":80");
	assert_int_equal(sx_hostport_parse(s, host, sizeof host, &port), 0);
	assert_int_equal(strlen(host), SX_HOST_MAX - 1);
	assert_int_equal(port, 80);

	memset(s, 'h', SX_HOST_MAX);
	strcpy(s + SX_HOST_MAX, ":80");
	assert_int_equal(sx_hostport_parse(s, host, sizeof host, &port), SX_EINVAL);

	/* bracketed, and a small caller buffer */
	char small[4];
	assert_int_equal(sx_hostport_parse("[::1]:1", small, sizeof small, &port), 0);
	assert_string_equal(small, "::1");
	assert_int_equal(sx_hostport_parse("[::12]:1", small, sizeof small, &port), SX_EINVAL);
	assert_int_equal(sx_hostport_parse("abc:1", small, sizeof small, &port), 0);
	assert_string_equal(small, "abc");
	assert_int_equal(sx_hostport_parse("abcd:1", small, sizeof small, &port), SX_EINVAL);
	assert_int_equal(sx_hostport_parse("a:1", small, 0, &port), SX_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_every_length),
		cmocka_unit_test(test_host_bits),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_short_buffer),
		cmocka_unit_test(test_contains_boundaries),
		cmocka_unit_test(test_contains_model),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_hostport_bad),
		cmocka_unit_test(test_hostport_host_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
