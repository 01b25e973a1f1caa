/*
 * test_codec.c: transfer and text encodings (mail/codec.c).
 *
 * RFC test vectors first, then the breakage real mail carries, then seeded
 * random round trips. Every output is checked at its bound: a bound that fits
 * exactly succeeds, one byte less is SX_ETOOBIG with the buffer as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "mail/charset.h"
#include "mail/codec.h"

#define BIG (1u << 20)

static uint64_t rng = 0x5eed5eed12345678u;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void assert_buf(const struct sx_buf *b, const void *want, size_t n)
{
	assert_int_equal(sx_buf_used(b), n);
	if (n)
		assert_memory_equal(sx_buf_head(b), want, n);
}

static void assert_str(const struct sx_buf *b, const char *want)
{
	assert_buf(b, want, strlen(want));
}

/* The codecs under one signature, for the bound tests. */
enum op { B64D, B64E, B64E_LINES, QPD, QPE, QDEC, HDEC, HENC_B, HENC_Q, PCT, HTML };

static int run(enum op op, const void *in, size_t n, struct sx_buf *out, size_t *bad)
{
	const uint8_t *p = in;
	switch (op) {
	case B64D: return sx_b64_decode(p, n, 0, out, bad);
	case B64E: return sx_b64_encode(p, n, 0, NULL, 0, out);
	case B64E_LINES: return sx_b64_encode(p, n, 4, "\r\n", 0, out);
	case QPD: return sx_qp_decode(p, n, out, bad);
	case QPE: return sx_qp_encode(p, n, "\r\n", out);
	case QDEC: return sx_2047_decode_text('Q', p, n, out, bad);
	case HDEC: return sx_2047_decode(p, n, "shift_jis", out, bad);
	case HENC_B: return sx_2047_encode(p, n, "iso-2022-jp", 'B', out);
	case HENC_Q: return sx_2047_encode(p, n, "utf-8", 'Q', out);
	case PCT: return sx_pct_decode(p, n, out);
	case HTML: return sx_html_decode(p, n, out);
	}
	return SX_EINVAL;
}

/* Output of op on in: a bound that fits exactly succeeds, one byte less is
 * SX_ETOOBIG and leaves what the buffer held (and *bad) unchanged. */
static void bound_edge(enum op op, const char *in)
{
	struct sx_buf b;
	size_t n = strlen(in), need, bad = 0;

	sx_buf_init(&b, BIG);
	assert_int_equal(run(op, in, n, &b, &bad), 0);
	need = sx_buf_used(&b);
	assert_true(need > 0);
	sx_buf_finish(&b);

	sx_buf_init(&b, 2 + need);
	assert_int_equal(sx_buf_append(&b, "xy", 2), 0);
	assert_int_equal(run(op, in, n, &b, &bad), 0);
	assert_int_equal(sx_buf_used(&b), 2 + need);
	sx_buf_finish(&b);

	sx_buf_init(&b, 2 + need - 1);
	assert_int_equal(sx_buf_append(&b, "xy", 2), 0);
	bad = 99;
	assert_int_equal(run(op, in, n, &b, &bad), SX_ETOOBIG);
	assert_buf(&b, "xy", 2);
	assert_int_equal(bad, 99);
	sx_buf_finish(&b);
}

/* ---- base64 ---- */

static void b64_dec(const char *in, int url, const void *want, size_t wn, size_t nbad)
{
	struct sx_buf b;
	size_t bad = 0;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_b64_decode((const uint8_t *)in, strlen(in), url, &b, &bad), 0);
	assert_buf(&b, want, wn);
	assert_int_equal(bad, nbad);
	sx_buf_finish(&b);
}

static void b64_enc(const void *in, size_t n, size_t line, const char *eol, int url,
		    const char *want)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_b64_encode(in, n, line, eol, url, &b), 0);
	assert_str(&b, want);
	sx_buf_finish(&b);
}

/* RFC 4648 10. */
static void test_b64_vectors(void **state)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		b64_enc(vec[i][0], strlen(vec[i][0]), 0, NULL, 0, vec[i][1]);
		b64_enc(vec[i][0], strlen(vec[i][0]), 0, NULL, 1, vec[i][1]);
		b64_dec(vec[i][1], 0, vec[i][0], strlen(vec[i][0]), 0);
		b64_dec(vec[i][1], 1, vec[i][0], strlen(vec[i][0]), 0);
	}
	/* the two alphabets differ in 62 and 63 */
	b64_enc("\xfb\xff\xbf", 3, 0, NULL, 0, "+/+/");
	b64_enc("\xfb\xff\xbf", 3, 0, NULL, 1, "-_-_");
	b64_dec("+/+/", 0, "\xfb\xff\xbf", 3, 0);
	b64_dec("-_-_", 1, "\xfb\xff\xbf", 3, 0);
	b64_dec("+/+/", 1, "", 0, 4);
	b64_dec("-_-_", 0, "", 0, 4);
}

static void test_b64_lenient(void **state)
{
	b64_dec("Zg", 0, "f", 1, 0);                    /* padding missing */
	b64_dec("Zm8", 0, "fo", 2, 0);
	b64_dec("Zm9v\r\nYmFy\r\n", 0, "foobar", 6, 4); /* line ends are skipped, counted */
	b64_dec("Zm 9v\tYm*Fy", 0, "foobar", 6, 3);
	b64_dec("Zg===", 0, "f", 1, 1);                 /* one "=" too many */
	b64_dec("=Zg==", 0, "f", 1, 1);
	b64_dec("Zg=", 0, "f", 1, 0);
	b64_dec("Zg==Zm8=", 0, "ffo", 3, 0);            /* two encodings pasted */
	b64_dec("Zm9vY", 0, "foo", 3, 1);               /* six bits make no byte */
	b64_dec("Zh==", 0, "f", 1, 0);                  /* non-zero spare bits */
	b64_dec("!!!!", 0, "", 0, 4);
}

static void test_b64_lines(void **state)
{
	uint8_t in[58];
	struct sx_buf b;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)i;
	/* 57 bytes are exactly one 76-character line: no line end at all */
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_b64_encode(in, 57, 76, "\r\n", 0, &b), 0);
	assert_int_equal(sx_buf_used(&b), 76);
	assert_null(memchr(sx_buf_head(&b), '\r', 76));
	sx_buf_finish(&b);
	/* 58 bytes: 76 + CRLF + 4 */
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_b64_encode(in, 58, 76, "\r\n", 0, &b), 0);
	assert_int_equal(sx_buf_used(&b), 82);
	assert_memory_equal(sx_buf_head(&b) + 76, "\r\n", 2);
	sx_buf_finish(&b);
	b64_enc("foobar", 6, 4, "\n", 0, "Zm9v\nYmFy");
	b64_enc("foobar", 6, 3, "\r\n", 0, "Zm9\r\nvYm\r\nFy");
	b64_enc("foobar", 6, 1, "", 0, "Zm9vYmFy");
	b64_enc("f", 1, 4, "\n", 0, "Zg==");
}

static void test_b64_bounds(void **state)
{
	bound_edge(B64D, "Zm9vYmFy");
	bound_edge(B64D, "Zm9vYg");
	bound_edge(B64E, "foobar");
	bound_edge(B64E, "fooba");
	bound_edge(B64E_LINES, "foobarfoobar"); /* the line ends count */
}

/* Random bytes through encode and decode, for several line lengths and ends. */
static void test_b64_round_trip(void **state)
{
	static const size_t lines[] = { 0, 76, 64, 4, 5, 1 };
	static const char *const eols[] = { "\r\n", "\n" };
	uint8_t in[700];

	for (int iter = 0; iter < 300; iter++) {
		size_t n = rnd() % sizeof in;
		size_t line = lines[rnd() % 6];
		const char *eol = eols[rnd() % 2];
		int url = (int)(rnd() % 2);
		struct sx_buf e, d;
		size_t bad = 0;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rnd();
		sx_buf_init(&e, BIG);
		sx_buf_init(&d, BIG);
		assert_int_equal(sx_b64_encode(in, n, line, eol, url, &e), 0);
		size_t enc = (n + 2) / 3 * 4;
		size_t breaks = line && enc > line ? (enc - 1) / line : 0;
		assert_int_equal(sx_buf_used(&e), enc + breaks * strlen(eol));
		assert_int_equal(sx_b64_decode(sx_buf_head(&e), sx_buf_used(&e), url, &d, &bad),
				 0);
		assert_buf(&d, in, n);
		assert_int_equal(bad, breaks * strlen(eol));
		sx_buf_finish(&e);
		sx_buf_finish(&d);
	}
}

/* ---- quoted-printable ---- */

static void qp_dec(const char *in, const char *want, size_t nbad)
{
	struct sx_buf b;
	size_t bad = 0;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_qp_decode((const uint8_t *)in, strlen(in), &b, &bad), 0);
	assert_str(&b, want);
	assert_int_equal(bad, nbad);
	sx_buf_finish(&b);
}

static void qp_enc_n(const void *in, size_t n, const char *eol, const char *want)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_qp_encode(in, n, eol, &b), 0);
	assert_str(&b, want);
	sx_buf_finish(&b);
}

static void qp_enc(const char *in, const char *eol, const char *want)
{
	qp_enc_n(in, strlen(in), eol, want);
}

static void test_qp_decode(void **state)
{
	qp_dec("plain text", "plain text", 0);
	qp_dec("a=3Db=C3=A9", "a=b\xc3\xa9", 0);
	qp_dec("lower=3d=c3=a9", "lower=\xc3\xa9", 0);
	/* soft breaks, with CRLF, LF, blanks after the "=", at the very end */
	qp_dec("soft=\r\nbreak", "softbreak", 0);
	qp_dec("soft=\nbreak", "softbreak", 0);
	qp_dec("soft= \t\r\nbreak", "softbreak", 0);
	qp_dec("end=", "end", 0);
	qp_dec("end=  ", "end", 0);
	qp_dec("end=\r", "end", 0);
	/* hard line ends are kept as they are */
	qp_dec("a\r\nb\nc", "a\r\nb\nc", 0);
	/* trailing blanks were added in transport (RFC 2045 6.7 (3)) */
	qp_dec("a  \r\nb \t\nc ", "a\r\nb\nc", 0);
	qp_dec("a =20\r\n", "a  \r\n", 0);
	qp_dec("in the  middle", "in the  middle", 0);
	/* invalid escapes stay as they are, counted */
	qp_dec("=G1", "=G1", 1);
	qp_dec("a=4", "a=4", 1);
	qp_dec("=4G=", "=4G", 1);
	qp_dec("1 = 2", "1 = 2", 1);
	qp_dec("==3D", "==", 1);
	qp_dec("=\rx", "=\rx", 1);
	/* 8-bit and control bytes pass (real mail has them) */
	qp_dec("\xe5\xb1\xb1\t\x01", "\xe5\xb1\xb1\t\x01", 0);
}

/* Lines of the encoded text never pass 76 and never end in a blank. */
static void check_qp_lines(const struct sx_buf *b, const char *eol)
{
	const uint8_t *p = sx_buf_head(b);
	size_t n = sx_buf_used(b), el = strlen(eol), start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !(i + el <= n && memcmp(p + i, eol, el) == 0))
			continue;
		size_t len = i - start;
		assert_true(len <= 76);
		if (len)
			assert_true(p[i - 1] != ' ' && p[i - 1] != '\t');
		/* an escape is never cut: "=" is two hex digits or the soft break */
		for (size_t k = start; k < i; k++) {
			if (p[k] == '=' && k + 1 != i) {
				assert_true(k + 2 < i);
				k += 2;
			}
		}
		if (i < n)
			i += el - 1;
		start = i + 1;
	}
}

static void test_qp_encode(void **state)
{
	char line[200];

	qp_enc("plain", NULL, "plain");
	qp_enc("a=b", "\r\n", "a=3Db");
	qp_enc("caf\xc3\xa9\x01\x7f", "\r\n", "caf=C3=A9=01=7F");
	/* trailing blanks are escaped, inner ones are not */
	qp_enc("a b ", "\r\n", "a b=20");
	qp_enc("tab\t", "\r\n", "tab=09");
	qp_enc("a \r\nb\t\nc", "\r\n", "a=20\r\nb=09\r\nc");
	qp_enc("   ", "\n", "  =20");
	/* line ends become eol; a lone CR is data */
	qp_enc("a\r\nb\nc\n", "\n", "a\nb\nc\n");
	qp_enc("a\r\nb\nc\n", "\r\n", "a\r\nb\r\nc\r\n");
	qp_enc("a\rb\r", "\r\n", "a=0Db=0D");
	qp_enc("\n\n", "\r\n", "\r\n\r\n");
	qp_enc("=", "\r\n", "=3D");

	/* exactly 76 characters: one line */
	memset(line, 'a', 76);
	line[76] = '\0';
	qp_enc(line, "\r\n", line);
	/* 77: 75 and the soft break, then 2 */
	char want[220];
	memset(line, 'a', 77);
	line[77] = '\0';
	memset(want, 'a', 75);
	strcpy(want + 75, "=\r\naa");
	qp_enc(line, "\r\n", want);
	/* an escape that would pass column 75 moves to the next line whole */
	memset(line, 'a', 74);
	strcpy(line + 74, "=b");
	memset(want, 'a', 74);
	strcpy(want + 74, "=\n=3Db");
	qp_enc(line, "\n", want);
	/* ... but the last one of a line may end at column 76 */
	memset(line, 'a', 73);
	strcpy(line + 73, "=");
	memset(want, 'a', 73);
	strcpy(want + 73, "=3D");
	qp_enc(line, "\n", want);
	/* a trailing blank escaped at the edge */
	memset(line, 'a', 75);
	strcpy(line + 75, " ");
	memset(want, 'a', 75);
	strcpy(want + 75, "=\n=20");
	qp_enc(line, "\n", want);
	/* a blank before a soft break is not trailing */
	memset(line, 'a', 74);
	strcpy(line + 74, " bc");
	memset(want, 'a', 74);
	strcpy(want + 74, " =\nbc");
	qp_enc(line, "\n", want);

	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_qp_encode((const uint8_t *)"a", 1, "\r", &b), SX_EINVAL);
	assert_int_equal(sx_qp_encode((const uint8_t *)"a", 1, "", &b), SX_EINVAL);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_finish(&b);
}

static void test_qp_bounds(void **state)
{
	bound_edge(QPD, "a=3Db=\r\nc");
	bound_edge(QPD, "=G1");
	bound_edge(QPE, "a=");
	bound_edge(QPE, "a \r\nb");
	bound_edge(QDEC, "a_b=3D=G");
}

/* What decoding the encoding gives back: the text with its line ends as eol. */
static size_t qp_expect(const uint8_t *in, size_t n, const char *eol, uint8_t *out)
{
	size_t o = 0, el = strlen(eol);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue;
		if (in[i] == '\n') {
			memcpy(out + o, eol, el);
			o += el;
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

static void test_qp_round_trip(void **state)
{
	static const char *const eols[] = { "\r\n", "\n" };
	/* biased towards what is interesting here: blanks, "=", line ends */
	static const uint8_t pick[] = { ' ', '\t', '=', '\r', '\n', 'a', '.', 0, 0xff };
	uint8_t in[600], want[1200];

	for (int iter = 0; iter < 400; iter++) {
		size_t n = rnd() % sizeof in;
		const char *eol = eols[iter % 2];
		for (size_t i = 0; i < n; i++)
			in[i] = rnd() % 3 ? (uint8_t)rnd() : pick[rnd() % sizeof pick];
		struct sx_buf e, d;
		size_t bad = 0;
		sx_buf_init(&e, BIG);
		sx_buf_init(&d, BIG);
		assert_int_equal(sx_qp_encode(in, n, eol, &e), 0);
		check_qp_lines(&e, eol);
		for (size_t i = 0; i < sx_buf_used(&e); i++) {
			uint8_t c = sx_buf_head(&e)[i];
			assert_true((c >= 32 && c < 127) || c == '\r' || c == '\n' || c == '\t');
		}
		assert_int_equal(sx_qp_decode(sx_buf_head(&e), sx_buf_used(&e), &d, &bad), 0);
		assert_int_equal(bad, 0);
		assert_buf(&d, want, qp_expect(in, n, eol, want));
		sx_buf_finish(&e);
		sx_buf_finish(&d);
	}
}

/* ---- RFC 2047 ---- */

static void hdec(const char *in, const char *fallback, const char *want, size_t nbad)
{
	struct sx_buf b;
	size_t bad = 0;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_decode((const uint8_t *)in, strlen(in), fallback, &b, &bad), 0);
	assert_str(&b, want);
	assert_int_equal(bad, nbad);
	sx_buf_finish(&b);
}

/* RFC 2047 8. */
static void test_2047_rfc_examples(void **state)
{
	hdec("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", NULL,
	     "Keith Moore <moore@cs.utk.edu>", 0);
	hdec("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", NULL,
	     "Keld Jørn Simonsen <keld@dkuug.dk>", 0);
	hdec("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", NULL,
	     "André Pirard <PIRARD@vm1.ulg.ac.be>", 0);
	hdec("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= "
	     "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=", NULL,
	     "If you can read this you understand the example.", 0);
	hdec("Nathaniel Borenstein <nsb@thumper.bellcore.com> "
	     "(=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)", NULL,
	     "Nathaniel Borenstein <nsb@thumper.bellcore.com> (םולש ןב ילטפנ)", 0);
	hdec("=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>", NULL,
	     "Olle Järnefors <ojarnef@admin.kth.se>", 0);
	hdec("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>", NULL,
	     "Patrik Fältström <paf@nada.kth.se>", 0);
	hdec("(=?ISO-8859-1?Q?a?=)", NULL, "(a)", 0);
	hdec("(=?ISO-8859-1?Q?a?= b)", NULL, "(a b)", 0);
	hdec("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", NULL, "(ab)", 0);
	hdec("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", NULL, "(ab)", 0);
	hdec("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", NULL, "(ab)", 0);
	hdec("(=?ISO-8859-1?Q?a_b?=)", NULL, "(a b)", 0);
	hdec("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", NULL, "(a b)", 0);
	/* RFC 2231 5: a language after the charset */
	hdec("=?US-ASCII*EN?Q?Keith_Moore?=", NULL, "Keith Moore", 0);
}

static void test_2047_decode_breakage(void **state)
{
	/* lower-case encoding letters, empty text */
	hdec("=?utf-8?b?5bGx55Sw?=", NULL, "山田", 0);
	hdec("a=?utf-8?q?\?=b", NULL, "ab", 0);
	/* words inside text and without blanks around them, as readers decode */
	hdec("foo=?utf-8?q?bar?=baz", NULL, "foobarbaz", 0);
	hdec("=?utf-8?q?a?==?utf-8?q?b?=", NULL, "ab", 0);
	hdec("\"=?utf-8?b?5bGx55Sw?=\" <y@example.jp>", NULL, "\"山田\" <y@example.jp>", 0);
	/* blanks inside the encoded text */
	hdec("=?utf-8?q?taro=40example.jp now?=", NULL, "taro@example.jp now", 0);
	/* a Q text ending in "=" before "?=" */
	hdec("=?utf-8?q?a=?=", NULL, "a=", 1);
	/* unknown charset, broken words: kept as they are, counted */
	hdec("=?x-unknown?q?a?= b", NULL, "=?x-unknown?q?a?= b", 1);
	hdec("=?utf-8?q?never ends", NULL, "=?utf-8?q?never ends", 1);
	hdec("=?utf-8?q?a =?utf-8?q?b?=", NULL, "=?utf-8?q?a b", 1);
	hdec("=?utf-8?x?a?= =?utf-8?q?b?=", NULL, "=?utf-8?x?a?= b", 0);
	hdec("=?utf-8?q?a\r\n?= x", NULL, "=?utf-8?q?a\r\n?= x", 1);
	hdec("=? =?", NULL, "=? =?", 0);
	hdec("=?", NULL, "=?", 0);
	/* broken contents: decoded as far as they go, counted per word */
	hdec("=?utf-8?q?a=ZZ?=", NULL, "a=ZZ", 1);
	hdec("=?utf-8?b?5bGx*55Sw?=", NULL, "山田", 1);
	hdec("=?utf-8?b?/w==?= x", NULL, "\uFFFD x", 1);
	/* blanks between a broken word and a good one stay */
	hdec("=?x-unknown?q?a?= =?utf-8?q?b?=", NULL, "=?x-unknown?q?a?= b", 1);

	/* a charset name of 64 characters is read, 65 is not a word */
	char w[120], cs[70];
	strcpy(cs, "iso_8859-1:");
	memset(cs + 11, '1', 53);
	cs[64] = '\0';
	snprintf(w, sizeof w, "=?%s?q?a?=", cs);
	hdec(w, NULL, "a", 0);
	snprintf(w, sizeof w, "=?%s1?q?a?=", cs);
	hdec(w, NULL, w, 0);
}

/* A character split between two words: readers join adjacent words of one
 * charset, so the text decodes; the words that are broken alone count. */
static void test_2047_split_character(void **state)
{
	/* 山 = E5 B1 B1 split after E5 B1 */
	hdec("=?UTF-8?B?5bE=?= =?UTF-8?B?seeUsA==?=", NULL, "山田", 2);
	hdec("=?utf-8?q?=E5=B1?=\r\n =?UTF-8?Q?=B1?=", NULL, "山", 2);
	/* ISO-2022-JP split inside the double-byte run: the first word does not
	 * return to ASCII, the second alone would read "ED" */
	hdec("=?iso-2022-jp?B?GyRCOzM=?= =?iso-2022-jp?B?RUQbKEI=?=", NULL, "山田", 1);
	/* ESC $ is only a shift in ISO-2022 */
	hdec("=?utf-8?q?=1B$?= =?utf-8?q?B?=", NULL, "\x1b$B", 0);
	/* words that decode on their own are not joined: UTF-16 words each
	 * start with a BOM (FE FF "a", FF FE "b") */
	hdec("=?utf-16?B?/v8AYQ==?= =?utf-16?B?//5iAA==?=", NULL, "ab", 0);
	/* split, then a different charset: the half character cannot join */
	hdec("=?UTF-8?B?5bE=?= =?ISO-8859-1?Q?a?=", NULL, "\uFFFD\uFFFDa", 1);
	/* half a character at the very end */
	hdec("x =?UTF-8?B?5bE=?=", NULL, "x \uFFFD\uFFFD", 1);
	/* Shift_JIS split between lead and trail byte */
	hdec("=?shift_jis?B?jg==?= =?shift_jis?B?Ug==?=", NULL, "山", 1);
}

static void test_2047_raw(void **state)
{
	/* raw UTF-8 */
	hdec("山田 <y@example.jp>", NULL, "山田 <y@example.jp>", 0);
	/* raw Shift_JIS: with a fallback it reads, without it is replaced */
	hdec("\x8e\x52\x93\x63 <y@example.jp>", "shift_jis", "山田 <y@example.jp>", 0);
	hdec("\x8e\x52\x93\x63 <y@example.jp>", NULL,
	     "\uFFFDR\uFFFDc <y@example.jp>", 1);
	hdec("\x8e\x52 =?utf-8?q?x?=", "x-unknown", "\uFFFDR x", 1);
	/* raw ISO-2022-JP, which old Japanese mailers wrote unencoded */
	hdec("\x1b$B;3ED\x1b(B <y@example.jp>", NULL, "山田 <y@example.jp>", 0);
	hdec("=?utf-8?q?a?= \x1b$B;3\x1b(B", NULL, "a 山", 0);
}

struct jcase {
	const char *charset;
	char enc;
};

static const struct jcase jcases[] = {
	{ "utf-8", 'B' }, { "utf-8", 'Q' }, { "iso-2022-jp", 'B' }, { "iso-2022-jp", 'Q' },
	{ "ISO-2022-JP", 'b' }, { "shift_jis", 'B' }, { "shift_jis", 'Q' }, { "euc-jp", 'B' },
	{ "euc-jp", 'Q' }, { "utf-8", 'q' },
};

/* Checks sx_2047_encode's output: words of at most 75 characters, folded
 * with "\r\n ", each decoding cleanly on its own (no character split; in
 * ISO-2022-JP, back in ASCII at its end); then the whole decodes to text. */
static void check_encoded(const struct sx_buf *b, const char *charset, char enc, const char *text)
{
	const uint8_t *p = sx_buf_head(b);
	size_t n = sx_buf_used(b), start = 0;
	char prefix[80];
	int hn = snprintf(prefix, sizeof prefix, "=?%s?%c?", charset, enc == 'b' ? 'B'
			  : enc == 'q' ? 'Q' : enc);

	while (start < n) {
		const uint8_t *f = memchr(p + start, '\r', n - start);
		size_t end = f ? (size_t)(f - p) : n;
		size_t len = end - start;
		assert_true(len <= 75);
		assert_true(len > (size_t)hn + 2);
		assert_memory_equal(p + start, prefix, (size_t)hn);
		assert_memory_equal(p + end - 2, "?=", 2);
		for (size_t i = start; i < end; i++)
			assert_true(p[i] > ' ' && p[i] < 0x7F);

		struct sx_buf raw, u;
		size_t bad = 0;
		sx_buf_init(&raw, BIG);
		sx_buf_init(&u, BIG);
		assert_int_equal(sx_2047_decode_text(prefix[hn - 2], p + start + hn, len - hn - 2,
						     &raw, &bad), 0);
		assert_int_equal(bad, 0);
		assert_int_equal(sx_charset_to_utf8(charset, sx_buf_head(&raw), sx_buf_used(&raw),
						    &u, &bad), 0);
		assert_int_equal(bad, 0);
		if (strcasecmp(charset, "iso-2022-jp") == 0 && sx_buf_used(&raw) >= 3) {
			const uint8_t *r = sx_buf_head(&raw);
			size_t rn = sx_buf_used(&raw);
			/* ends in ASCII: no designation, or ESC ( B as the last one */
			const uint8_t *last = NULL;
			for (size_t i = 0; i + 2 < rn; i++)
				if (r[i] == 0x1B)
					last = r + i;
			if (last)
				assert_true(last[1] == '(' && last[2] == 'B');
		}
		sx_buf_finish(&raw);
		sx_buf_finish(&u);
		if (!f)
			break;
		assert_true(end + 3 <= n);
		assert_memory_equal(p + end, "\r\n ", 3);
		start = end + 3;
	}

	struct sx_buf d;
	size_t bad = 0;
	sx_buf_init(&d, BIG);
	assert_int_equal(sx_2047_decode(p, n, NULL, &d, &bad), 0);
	assert_str(&d, text);
	assert_int_equal(bad, 0);
	sx_buf_finish(&d);
}

static void henc(const char *text, const char *charset, char enc)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_encode((const uint8_t *)text, strlen(text), charset, enc, &b), 0);
	check_encoded(&b, charset, enc, text);
	sx_buf_finish(&b);
}

static void test_2047_encode_japanese(void **state)
{
	static const char *const texts[] = {
		"山田太郎 <taro@example.jp> 迷惑メール",
		"山田太郎",
		"a",
		("【重要】お客様のアカウントは停止されました。至急ご確認ください。"
		 "ＵＲＬ：http://example.jp/?id=taro@example.jp ①②③ ㈱迷惑"),
		"混在 mixed テキスト with ASCII runs between 漢字 and かな, twice 二回",
	};
	for (size_t c = 0; c < sizeof jcases / sizeof jcases[0]; c++)
		for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
			henc(texts[t], jcases[c].charset, jcases[c].enc);
	/* empty text: no word at all */
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_encode((const uint8_t *)"", 0, "utf-8", 'B', &b), 0);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_finish(&b);
}

static void test_2047_encode_shape(void **state)
{
	struct sx_buf b;
	char text[200];

	/* ASCII in Q: 63 characters of text make a word of exactly 75 */
	memset(text, 'x', 100);
	text[100] = '\0';
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_encode((const uint8_t *)text, 100, "utf-8", 'Q', &b), 0);
	assert_int_equal(sx_buf_used(&b), 75 + 3 + 12 + 37);
	assert_memory_equal(sx_buf_head(&b) + 75, "\r\n =?utf-8?Q?", 13);
	sx_buf_finish(&b);
	/* Q escapes what is not safe in a phrase, and writes spaces as "_" */
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a b_c=d?e\"f@g.h", 15, "utf-8", 'Q', &b),
			 0);
	assert_str(&b, "=?utf-8?Q?a_b=5Fc=3Dd=3Fe=22f=40g=2Eh?=");
	sx_buf_finish(&b);
	/* B of a known vector */
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_2047_encode((const uint8_t *)"山田", 6, "iso-2022-jp", 'B', &b), 0);
	assert_str(&b, "=?iso-2022-jp?B?GyRCOzNFRBsoQg==?=");
	sx_buf_finish(&b);
	/* a 4-byte character is never split, whatever the room left */
	for (size_t k = 0; k < 8; k++) {
		memset(text, 'a', k);
		strcpy(text + k, "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀");
		henc(text, "utf-8", 'B');
		henc(text, "utf-8", 'Q');
	}
}

static void test_2047_encode_errors(void **state)
{
	struct sx_buf b;
	char longcs[80];

	sx_buf_init(&b, BIG);
	assert_int_equal(sx_buf_append(&b, "xy", 2), 0);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a", 1, "x-unknown", 'B', &b), SX_EINVAL);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a", 1, NULL, 'B', &b), SX_EINVAL);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a", 1, "utf-8", 'X', &b), SX_EINVAL);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a\xff", 2, "utf-8", 'B', &b), SX_EINVAL);
	assert_int_equal(sx_2047_encode((const uint8_t *)"ab😀", 6, "iso-2022-jp", 'B', &b),
			 SX_EINVAL);
	assert_int_equal(sx_2047_encode((const uint8_t *)"é", 2, "us-ascii", 'Q', &b), SX_EINVAL);
	/* a charset name that leaves no room for a character */
	memset(longcs, 0, sizeof longcs);
	strcpy(longcs, "iso_8859-1:");
	memset(longcs + 11, '1', 60);
	assert_int_equal(sx_2047_encode((const uint8_t *)"a", 1, longcs, 'B', &b), SX_EINVAL);
	assert_buf(&b, "xy", 2);
	sx_buf_finish(&b);
}

static void test_2047_bounds(void **state)
{
	bound_edge(HDEC, "=?utf-8?b?5bGx55Sw?= <y@example.jp>");
	bound_edge(HDEC, "\x8e\x52\x93\x63 =?utf-8?q?x?=");   /* through the fallback */
	bound_edge(HDEC, "=?utf-8?b?5bE=?= =?utf-8?b?sQ==?="); /* a joined run */
	bound_edge(HENC_B, "山田太郎 <taro@example.jp> 迷惑メール");
	bound_edge(HENC_Q, "0123456789012345678901234567890123456789"
			   "012345678901234567890123456789");
}

/* Random Japanese text through encode and decode in each charset. (The wave
 * dash is left out: CP932 and JIS map it to different code points, which
 * test_charset covers.) */
static void test_2047_round_trip_random(void **state)
{
	static const char *const pieces[] = {
		"山", "田", "ア", "ｱ", "①", "㈱", " ", "a", "@", "=", "?", "_", "\"", "ー", "。",
		"<", ">", "taro", ".", "\t",
	};
	char text[400];
	for (int iter = 0; iter < 300; iter++) {
		size_t n = 0, count = rnd() % 60;
		for (size_t i = 0; i < count; i++) {
			const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
			memcpy(text + n, p, strlen(p));
			n += strlen(p);
		}
		text[n] = '\0';
		const struct jcase *c = &jcases[rnd() % (sizeof jcases / sizeof jcases[0])];
		henc(text, c->charset, c->enc);
	}
}

/* ---- percent and HTML ---- */

static void pct(const char *in, const char *want)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_pct_decode((const uint8_t *)in, strlen(in), &b), 0);
	assert_str(&b, want);
	sx_buf_finish(&b);
}

static void html(const char *in, const char *want)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_html_decode((const uint8_t *)in, strlen(in), &b), 0);
	assert_str(&b, want);
	sx_buf_finish(&b);
}

static void test_pct(void **state)
{
	pct("taro%40example.jp", "taro@example.jp");
	pct("%7e%7E%e5%b1%b1", "~~山");
	pct("a+b", "a+b");
	pct("%zz%4%", "%zz%4%");
	pct("%%41", "%A");
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_pct_decode((const uint8_t *)"a%00b", 5, &b), 0);
	assert_buf(&b, "a\0b", 3);
	sx_buf_finish(&b);
	bound_edge(PCT, "%41%42c%zz");
}

static void test_html(void **state)
{
	html("&amp;&lt;&gt;&quot;&apos;", "&<>\"'");
	html("taro&commat;example&period;jp", "taro@example.jp");
	html("&nbsp;&copy;&eacute;&Eacute;&yuml;&iexcl;", "\u00a0©éÉÿ¡");
	html("&#64;&#x40;&#X40;&#0064;", "@@@@");
	html("taro&#64example&#46jp", "taro@example.jp"); /* numeric without ";" */
	html("&#x5c71;&#23665;&#x1F600;", "山山😀");
	html("&#0;&#xD800;&#x110000;&#99999999999999;", "\uFFFD\uFFFD\uFFFD\uFFFD");
	html("&#128;&#x9f;", "€Ÿ");
	html("&amp &lt3 &copy2024 &notit;", "& <3 ©2024 ¬it;"); /* legacy names */
	html("&commat &apos", "&commat &apos");                 /* not legacy */
	html("&unknown; & amp; &; &#; &#x; &", "&unknown; & amp; &; &#; &#x; &");
	html("&AMP;&LT;&lowbar;&zwj;", "&<_\u200d");
	html("&AmP;", "&AmP;"); /* names are case-sensitive */
	html("&&amp;;", "&&;");
	/* names are read up to 32 characters: longer runs can only start with
	 * a legacy name */
	html("&amp0123456789012345678901234567890123456789;",
	     "&0123456789012345678901234567890123456789;");
	html("&a0123456789012345678901234567890123456789;",
	     "&a0123456789012345678901234567890123456789;");
	bound_edge(HTML, "&commat;&#x5c71;&amp&unknown;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_lenient),
		cmocka_unit_test(test_b64_lines),
		cmocka_unit_test(test_b64_bounds),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_qp_decode),
		cmocka_unit_test(test_qp_encode),
		cmocka_unit_test(test_qp_bounds),
		cmocka_unit_test(test_qp_round_trip),
		cmocka_unit_test(test_2047_rfc_examples),
		cmocka_unit_test(test_2047_decode_breakage),
		cmocka_unit_test(test_2047_split_character),
		cmocka_unit_test(test_2047_raw),
		cmocka_unit_test(test_2047_encode_japanese),
		cmocka_unit_test(test_2047_encode_shape),
		cmocka_unit_test(test_2047_encode_errors),
		cmocka_unit_test(test_2047_bounds),
		cmocka_unit_test(test_2047_round_trip_random),
		cmocka_unit_test(test_pct),
		cmocka_unit_test(test_html),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
