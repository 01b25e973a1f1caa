/*
 * fuzz_codec: every decoder of mail/codec.c and mail/charset.c runs on the
 * input, each also with its output bound one byte short of what it needs
 * (SX_ETOOBIG, buffer untouched) and exactly what it needs (same output).
 * Then round trips, with the first byte choosing the parameters: base64 and
 * quoted-printable encode -> decode must give the input back; the input read
 * in a charset and written back must read the same; and that text through
 * RFC 2047 encode -> decode must come back, in words of at most 75 characters
 * (in the Japanese charsets, after one round: see twins()). And the table
 * readers of the Japanese charsets (charset_jp.c) read the input as iconv does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "charset_jp.h"
#include "codec.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

#define BIG (1u << 22)

static const char *const labels[] = {
	"utf-8", "us-ascii", "iso-2022-jp", "shift_jis", "euc-jp", "iso-2022-jp-2",
	"iso-8859-1", "windows-1252", "gb2312", "big5", "euc-kr", "utf-16", "utf-7", "koi8-r",
};
#define NLABELS (sizeof labels / sizeof labels[0])

enum dec {
	D_B64, D_B64URL, D_QP, D_QTEXT, D_BTEXT, D_HDR, D_HDR_FB, D_PCT, D_HTML, D_CHARSET,
	D_COUNT
};

static int decode(enum dec d, const char *label, const uint8_t *p, size_t n, struct sx_buf *out,
		  size_t *bad)
{
	switch (d) {
	case D_B64: return sx_b64_decode(p, n, 0, out, bad);
	case D_B64URL: return sx_b64_decode(p, n, 1, out, bad);
	case D_QP: return sx_qp_decode(p, n, out, bad);
	case D_QTEXT: return sx_2047_decode_text('Q', p, n, out, bad);
	case D_BTEXT: return sx_2047_decode_text('b', p, n, out, bad);
	case D_HDR: return sx_2047_decode(p, n, NULL, out, bad);
	case D_HDR_FB: return sx_2047_decode(p, n, label, out, bad);
	case D_PCT: return sx_pct_decode(p, n, out);
	case D_HTML: return sx_html_decode(p, n, out);
	case D_CHARSET: return sx_charset_to_utf8(label, p, n, out, bad);
	case D_COUNT: break;
	}
	abort();
}

/* Runs d with a bound of its exact need and one byte less. */
static void decode_edges(enum dec d, const char *label, const uint8_t *p, size_t n)
{
	struct sx_buf full, b;
	size_t bad = 0, bad2 = 0, need;

	sx_buf_init(&full, BIG);
	CHECK(decode(d, label, p, n, &full, &bad) == 0);
	need = sx_buf_used(&full);
	if (d != D_HDR && d != D_HDR_FB && d != D_CHARSET)
		CHECK(need <= n); /* these decoders never grow their input */

	sx_buf_init(&b, 1 + need);
	CHECK(sx_buf_append(&b, "p", 1) == 0);
	CHECK(decode(d, label, p, n, &b, &bad2) == 0);
	CHECK(bad2 == bad);
	CHECK(sx_buf_used(&b) == 1 + need);
	CHECK(memcmp(sx_buf_head(&b) + 1, sx_buf_head(&full), need) == 0);
	sx_buf_finish(&b);

	if (need > 0) {
		sx_buf_init(&b, need);
		CHECK(sx_buf_append(&b, "p", 1) == 0);
		bad2 = 12345;
		CHECK(decode(d, label, p, n, &b, &bad2) == SX_ETOOBIG);
		CHECK(bad2 == 12345);
		CHECK(sx_buf_used(&b) == 1 && sx_buf_head(&b)[0] == 'p');
		sx_buf_finish(&b);
	}
	sx_buf_finish(&full);
}

static void b64_round(const uint8_t *p, size_t n, uint8_t sel)
{
	static const size_t lines[] = { 0, 76, 64, 4, 3, 1, 5, 72 };
	const char *eol = sel & 8 ? "\n" : sel & 16 ? "" : "\r\n";
	size_t line = lines[sel & 7], bad = 0;
	int url = sel >> 7;
	struct sx_buf e, d;

	sx_buf_init(&e, BIG);
	sx_buf_init(&d, BIG);
	CHECK(sx_b64_encode(p, n, line, eol, url, &e) == 0);
	size_t enc = (n + 2) / 3 * 4;
	size_t breaks = line && enc > line ? (enc - 1) / line : 0;
	CHECK(sx_buf_used(&e) == enc + breaks * strlen(eol));
	CHECK(sx_b64_decode(sx_buf_head(&e), sx_buf_used(&e), url, &d, &bad) == 0);
	CHECK(sx_buf_used(&d) == n && (n == 0 || memcmp(sx_buf_head(&d), p, n) == 0));
	CHECK(bad == breaks * strlen(eol));
	sx_buf_finish(&e);
	sx_buf_finish(&d);
}

static void qp_round(const uint8_t *p, size_t n, uint8_t sel)
{
	const char *eol = sel & 1 ? "\n" : "\r\n";
	size_t el = strlen(eol), bad = 0;
	struct sx_buf e, d, want;

	sx_buf_init(&e, BIG);
	sx_buf_init(&d, BIG);
	sx_buf_init(&want, BIG);
	CHECK(sx_qp_encode(p, n, eol, &e) == 0);
	/* lines of at most 76 printable characters, no blank at their end */
	const uint8_t *q = sx_buf_head(&e);
	size_t en = sx_buf_used(&e), start = 0;
	for (size_t i = 0; i <= en; i++) {
		if (i < en && !(i + el <= en && memcmp(q + i, eol, el) == 0)) {
			CHECK(q[i] >= 33 ? q[i] < 127 : q[i] == ' ' || q[i] == '\t');
			continue;
		}
		CHECK(i - start <= 76);
		CHECK(i == start || (q[i - 1] != ' ' && q[i - 1] != '\t'));
		i += i < en ? el - 1 : 0;
		start = i + 1;
	}
	CHECK(sx_qp_decode(q, en, &d, &bad) == 0);
	CHECK(bad == 0);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			continue;
		CHECK(sx_buf_append(&want, p[i] == '\n' ? eol : (const char *)p + i,
				    p[i] == '\n' ? el : 1) == 0);
	}
	CHECK(sx_buf_used(&d) == sx_buf_used(&want));
	CHECK(sx_buf_used(&d) == 0
	      || memcmp(sx_buf_head(&d), sx_buf_head(&want), sx_buf_used(&d)) == 0);
	sx_buf_finish(&e);
	sx_buf_finish(&d);
	sx_buf_finish(&want);
}

static int same(const struct sx_buf *a, const struct sx_buf *b)
{
	return sx_buf_used(a) == sx_buf_used(b)
	       && (sx_buf_used(a) == 0
		   || memcmp(sx_buf_head(a), sx_buf_head(b), sx_buf_used(a)) == 0);
}

/*
 * The JIS X 0208 rows Windows adds hold twins of characters in the standard
 * rows (NEC-selected U+FFE2 beside JIS U+00AC): read from EUC-JP or
 * ISO-2022-JP and written back they come back as the twin, once.
 */
static int twins(const char *label)
{
	return strstr(label, "jp") != NULL;
}

/* Text written and read back (w and r: a charset or encoded-words) is the
 * same text; for twins(label), from the second round on (again: first). A
 * text the charset cannot hold is SX_EINVAL, nothing else fails. */
typedef int (*write_fn)(const char *label, char enc, const struct sx_buf *x, struct sx_buf *e);
typedef int (*read_fn)(const char *label, const struct sx_buf *e, struct sx_buf *y, size_t *bad);

static void round_trip(const char *label, char enc, const struct sx_buf *x, write_fn w, read_fn r,
		       int again)
{
	struct sx_buf e, y;
	size_t bad = 0;

	sx_buf_init(&e, BIG);
	sx_buf_init(&y, BIG);
	int rc = w(label, enc, x, &e);
	CHECK(rc == 0 || rc == SX_EINVAL);
	if (rc == 0) {
		CHECK(r(label, &e, &y, &bad) == 0);
		CHECK(bad == 0);
		if (again && twins(label))
			round_trip(label, enc, &y, w, r, 0);
		else
			CHECK(same(x, &y));
	}
	sx_buf_finish(&e);
	sx_buf_finish(&y);
}

static int charset_write(const char *label, char enc, const struct sx_buf *x, struct sx_buf *e)
{
	return sx_charset_from_utf8(label, sx_buf_head(x), sx_buf_used(x), e);
}

static int charset_read(const char *label, const struct sx_buf *e, struct sx_buf *y, size_t *bad)
{
	return sx_charset_to_utf8(label, sx_buf_head(e), sx_buf_used(e), y, bad);
}

/* Encoded-words: at most 75 printable characters, "\r\n " between them. */
static int hdr_write(const char *label, char enc, const struct sx_buf *x, struct sx_buf *e)
{
	int rc = sx_2047_encode(sx_buf_head(x), sx_buf_used(x), label, enc, e);
	if (rc < 0)
		return rc;
	const uint8_t *q = sx_buf_head(e);
	size_t n = sx_buf_used(e), start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && q[i] != '\r') {
			CHECK(q[i] > ' ' && q[i] < 127);
			continue;
		}
		CHECK(i - start <= 75);
		if (i < n) {
			CHECK(i + 2 < n && q[i + 1] == '\n' && q[i + 2] == ' ');
			i += 2;
		}
		start = i + 1;
	}
	return 0;
}

static int hdr_read(const char *label, const struct sx_buf *e, struct sx_buf *y, size_t *bad)
{
	return sx_2047_decode(sx_buf_head(e), sx_buf_used(e), NULL, y, bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sx_buf x;
	size_t bad = 0;

	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	const char *label = labels[sel % NLABELS];

	for (int d = 0; d < D_COUNT; d++)
		decode_edges((enum dec)d, label, p, n);

	/* sx_utf8_valid agrees with the UTF-8 reader */
	sx_buf_init(&x, BIG);
	CHECK(sx_charset_to_utf8("utf-8", p, n, &x, &bad) == 0);
	CHECK(sx_utf8_valid(p, n) == (bad == 0));
	CHECK(sx_utf8_valid(sx_buf_head(&x), sx_buf_used(&x)));
	if (bad == 0)
		CHECK(sx_buf_used(&x) == n && (n == 0 || memcmp(sx_buf_head(&x), p, n) == 0));
	sx_buf_finish(&x);

	/* the Japanese charsets' table readers give what iconv gives */
	static const char *const jp[] = { "shift_jis", "euc-jp", "iso-2022-jp" };
	for (int cs = 0; cs < SX_JP_COUNT; cs++)
		sx_jp_fill((enum sx_jp)cs); /* at once, not after a megabyte */
	for (size_t l = 0; l < 3; l++) {
		struct sx_buf r;
		size_t tbad = 0, rbad = 0;
		sx_buf_init(&x, BIG);
		sx_buf_init(&r, BIG);
		CHECK(sx_charset_to_utf8(jp[l], p, n, &x, &tbad) == 0);
		CHECK(sx_charset_ref_to_utf8(jp[l], p, n, &r, &rbad) == 0);
		CHECK(tbad == rbad && same(&x, &r));
		sx_buf_finish(&x);
		sx_buf_finish(&r);
	}

	b64_round(p, n, sel);
	qp_round(p, n, sel);

	/* text the charset can carry: the input read in it */
	bad = 0;
	sx_buf_init(&x, BIG);
	CHECK(sx_charset_to_utf8(label, p, n, &x, &bad) == 0);
	CHECK(sx_utf8_valid(sx_buf_head(&x), sx_buf_used(&x)));
	if (bad == 0)
		round_trip(label, 0, &x, charset_write, charset_read, 1);
	round_trip(label, sel & 0x40 ? 'Q' : 'B', &x, hdr_write, hdr_read, 1);
	if (sx_utf8_valid(p, n)) {
		struct sx_buf raw = { (uint8_t *)p, 0, n, n, n };
		round_trip("utf-8", sel & 0x20 ? 'q' : 'b', &raw, hdr_write, hdr_read, 0);
	}
	sx_buf_finish(&x);
	return 0;
}
