/*
 * test_leak.c: the independent leak check (mail/leak.c, mail/leak_views.c).
 *
 * Every form DESIGN §2 names is planted in a mail built here with the codec
 * and charset functions (never with the redactor) and must be FOUND with the
 * right kind, where and decoding named, and the value nowhere in the reason.
 * Then what must stay CLEAN (clean mail, placeholders, short identifiers
 * inside words), what must be UNDECODABLE (uuencode, archives, PDF streams,
 * unknown charsets), the limits at their edges, and the redactor's corpus of
 * originals when it is there.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "mail/charset.h"
#include "mail/codec.h"
#include "mail/ident.h"
#include "mail/leak.h"
#include "mail/leak_impl.h"
#include "mail/mime.h"
#include "mail/redact.h"
#include "mail/unwrap.h"
#include "guess_edges.h"

#define WHY 256

static struct sx_idset ids;

static int setup(void **state)
{
	(void)state;
	sx_idset_init(&ids);
	assert_int_equal(sx_idset_add(&ids, SX_ID_ADDRESS, "taro@example.jp", 15), 0);
	assert_int_equal(sx_idset_add_given(&ids, "hanako.suzuki@example.com"), 0);
	assert_int_equal(sx_idset_add_given(&ids, "山田 太郎"), 0);
	assert_int_equal(sx_idset_add_given(&ids, "Hanako Suzuki"), 0);
	return 0;
}

/* ---- builders ---- */

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static char *bufstr(struct sx_buf *b)
{
	char *s = malloc(sx_buf_used(b) + 1);
	assert_non_null(s);
	if (sx_buf_used(b))
		memcpy(s, sx_buf_head(b), sx_buf_used(b));
	s[sx_buf_used(b)] = '\0';
	sx_buf_finish(b);
	return s;
}

/* Base64 of n bytes, lines of 76 (0: one line), CRLF. */
static char *b64(const void *p, size_t n, int url, size_t line)
{
	struct sx_buf b;
	sx_buf_init(&b, 4 * n + 64);
	assert_int_equal(sx_b64_encode(p, n, line, "\r\n", url, &b), 0);
	return bufstr(&b);
}

static char *b64s(const char *s)
{
	return b64(s, strlen(s), 0, 76);
}

/* utf8 in charset label; *n gets the length (the result is NUL-terminated). */
static char *conv(const char *label, const char *utf8, size_t *n)
{
	struct sx_buf b;
	sx_buf_init(&b, 8 * strlen(utf8) + 64);
	assert_int_equal(sx_charset_from_utf8(label, (const uint8_t *)utf8, strlen(utf8), &b), 0);
	if (n)
		*n = sx_buf_used(&b);
	return bufstr(&b);
}

static char *ew(const char *utf8, const char *cs, char enc)
{
	struct sx_buf b;
	sx_buf_init(&b, 16 * strlen(utf8) + 256);
	assert_int_equal(sx_2047_encode((const uint8_t *)utf8, strlen(utf8), cs, enc, &b), 0);
	return bufstr(&b);
}

static char *qp(const void *p, size_t n)
{
	struct sx_buf b;
	sx_buf_init(&b, 4 * n + 64);
	assert_int_equal(sx_qp_encode(p, n, "\r\n", &b), 0);
	return bufstr(&b);
}

/* A single-part mail with the given content type, transfer encoding and body. */
static char *single(const char *ctype, const char *cte, const char *body)
{
	return xfmt("From: Desk <desk@spam.example>\r\n"
		    "To: redacted@redacted.invalid\r\n"
		    "Subject: offer\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Transfer-Encoding: %s\r\n"
		    "\r\n%s\r\n", ctype, cte, body);
}

/* Text first, then one attachment (part 2). */
static char *attached(const char *ctype, const char *cte, const char *body)
{
	return xfmt("From: Desk <desk@spam.example>\r\n"
		    "To: redacted@redacted.invalid\r\n"
		    "Subject: invoice\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
		    "\r\n"
		    "--b1\r\n"
		    "Content-Type: text/plain; charset=us-ascii\r\n"
		    "\r\n"
		    "See the attachment.\r\n"
		    "--b1\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Transfer-Encoding: %s\r\n"
		    "Content-Disposition: attachment\r\n"
		    "\r\n"
		    "%s\r\n"
		    "--b1--\r\n", ctype, cte, body);
}

/* ---- checks ---- */

/* The reason holds no identifier of s, in any case. */
static void assert_no_value(const char *why, const struct sx_idset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcasestr(why, s->v[i].text))
			fail_msg("reason \"%s\" holds identifier %zu", why, i);
	}
}

static int check_set(const char *m, size_t n, const struct sx_idset *s, char *why)
{
	memset(why, 'x', WHY);
	return sx_leak_check((const uint8_t *)m, n, s, NULL, why, WHY);
}

/* Expects verdict want; frags (NULL-terminated) must all be in the reason. */
static void expect_set(char *m, size_t n, const struct sx_idset *s, int want, ...)
{
	char why[WHY];
	int v = check_set(m, n, s, why);
	if (v != want)
		fail_msg("verdict %d, wanted %d: %s", v, want, v >= 0 ? why : "");
	assert_true(strlen(why) < WHY);
	va_list ap;
	va_start(ap, want);
	for (const char *f; (f = va_arg(ap, const char *));)
		if (!strstr(why, f))
			fail_msg("reason \"%s\" lacks \"%s\"", why, f);
	va_end(ap);
	if (want == SX_LEAK_CLEAN)
		assert_string_equal(why, "");
	assert_no_value(why, s);
	free(m);
}

#define EXPECT(m, want, ...) do { \
	char *m_ = (m); \
	expect_set(m_, strlen(m_), &ids, (want), __VA_ARGS__, (const char *)NULL); \
} while (0)

/* ---- found ---- */

static void test_clean(void **state)
{
	(void)state;
	EXPECT(single("text/plain; charset=us-ascii", "7bit",
		      "Dear customer,\r\nyou won. Write to desk@spam.example today.\r\n"
		      "Readings at example.jp! about ab, hanako-san"),
	       SX_LEAK_CLEAN, "");
}

static void test_raw_header(void **state)
{
	(void)state;
	char *m = xfmt("From: Desk <desk@spam.example>\r\nTo: Taro <Taro@Example.JP>\r\n"
		       "Subject: hi\r\n\r\nbody\r\n");
	EXPECT(m, SX_LEAK_FOUND, "top-level header To (raw): address");
	/* Received "for <...>" */
	m = xfmt("Received: from a by b\r\n\tfor <hanako.suzuki@example.com>; Tue, 2 Jan 2024\r\n"
		 "Subject: hi\r\n\r\nbody\r\n");
	EXPECT(m, SX_LEAK_FOUND, "header Received (raw): address");
	/* a local part alone */
	m = xfmt("Subject: hi\r\nX-Mailer-Id: taro\r\n\r\nbody\r\n");
	EXPECT(m, SX_LEAK_FOUND, "top-level header field #2 (raw): local-part");
	/* known names are given in their usual spelling */
	EXPECT(xfmt("Subject: hi\r\nDELIVERED-TO: taro@example.jp\r\n\r\nbody\r\n"),
	       SX_LEAK_FOUND, "top-level header Delivered-To (raw): address");
}

static void test_rfc2047(void **state)
{
	(void)state;
	static const char *const cs[] = { "UTF-8", "ISO-2022-JP", "Shift_JIS", "EUC-JP" };
	for (size_t i = 0; i < 4; i++) {
		for (int q = 0; q < 2; q++) {
			char *w = ew("お知らせ 山田太郎様へ", cs[i], q ? 'Q' : 'B');
			EXPECT(xfmt("From: Desk <desk@spam.example>\r\nSubject: %s\r\n\r\nx\r\n",
				    w),
			       SX_LEAK_FOUND, "top-level header Subject (", "): name");
			free(w);
		}
	}
	/* the display name split over two words, in the middle of a character */
	EXPECT(xfmt("To: =?UTF-8?B?5bGx55Sw5aSq?= =?UTF-8?B?6YOO?= <x@spam.example>\r\n\r\nx\r\n"),
	       SX_LEAK_FOUND, "header To", "name");
	/* an address in a Q word */
	EXPECT(xfmt("Subject: =?us-ascii?Q?write_to_hanako=2Esuzuki=40example=2Ecom?=\r\n"
		    "\r\nx\r\n"),
	       SX_LEAK_FOUND, "header Subject (rfc2047): address");
}

static void test_raw_8bit_header(void **state)
{
	(void)state;
	static const char *const cs[] = { "cp932", "euc-jp", "iso-2022-jp" };
	for (size_t i = 0; i < 3; i++) {
		size_t n;
		char *raw = conv(cs[i], "お知らせ山田太郎様", &n);
		EXPECT(xfmt("Subject: %s\r\n\r\nx\r\n", raw), SX_LEAK_FOUND,
		       "header Subject (", "name");
		free(raw);
	}
}

static void test_qp_soft_break(void **state)
{
	(void)state;
	EXPECT(single("text/plain; charset=utf-8", "quoted-printable",
		      "Contact: ta=\r\nro@exam=\r\nple.jp for details"),
	       SX_LEAK_FOUND, "top-level body (quoted-printable): address");
	/* the same, labelled 7bit */
	EXPECT(single("text/plain; charset=utf-8", "7bit",
		      "Contact: ta=\r\nro@exam=\r\nple.jp for details"),
	       SX_LEAK_FOUND, "top-level body (quoted-printable (guessed)): address");
	/* a name in QP UTF-8 */
	char *q = qp("本日は山田太郎様にご案内です。", strlen("本日は山田太郎様にご案内です。"));
	EXPECT(single("text/plain; charset=utf-8", "quoted-printable", q), SX_LEAK_FOUND,
	       "top-level body (quoted-printable): name");
	free(q);
}

/*
 * A body labelled 7bit whose quoted-printable decoding differs from it in
 * one line among many: what that line hides is found in the decoding, in
 * its readings and in their tokens and folded copies, however few lines
 * change: whatever narrows the examination of the decoding to where it
 * differs from the raw view must keep these.
 */
static char *filler_around(const char *line, const char *filler, int nfill)
{
	size_t fl = strlen(filler), ll = strlen(line);
	char *s = malloc((size_t)nfill * 2 * fl + ll + 1);
	assert_non_null(s);
	size_t o = 0;
	for (int i = 0; i < nfill; i++, o += fl)
		memcpy(s + o, filler, fl);
	memcpy(s + o, line, ll), o += ll;
	for (int i = 0; i < nfill; i++, o += fl)
		memcpy(s + o, filler, fl);
	s[o] = '\0';
	return s;
}

static void test_qp_guessed_one_line(void **state)
{
	(void)state;
	const char *ascii = "Please read the notice below about your account today.\r\n";
	const char *eucjp = "\xa4\xaa\xc3\xce\xa4\xe9\xa4\xbb\xa4\xc7\xa4\xb9\xa1\xa3 notice\r\n";
	/* a base64 token joined by a soft break */
	char *b = filler_around("id dGFy=\r\nb0BleGFtcGxlLmpw end\r\n", ascii, 30);
	EXPECT(single("text/plain; charset=utf-8", "7bit", b), SX_LEAK_FOUND,
	       "quoted-printable (guessed)", "address");
	free(b);
	/* a Shift_JIS name in escapes */
	b = filler_around("name: =8ER=93c=91=BE=98Y san\r\n", ascii, 30);
	EXPECT(single("text/plain; charset=shift_jis", "7bit", b), SX_LEAK_FOUND,
	       "quoted-printable (guessed)", "name");
	free(b);
	/* a full-width address in escaped UTF-8, among ASCII lines */
	b = filler_around("to =EF=BD=94=EF=BD=81=EF=BD=92=EF=BD=8F=EF=BC=A0=EF=BD=85=EF=BD=98"
			  "=EF=BD=81=EF=BD=8D=EF=BD=90=EF=BD=8C=EF=BD=85=EF=BC=8E=EF=BD=8A=EF=BD=90"
			  " ok\r\n", ascii, 30);
	EXPECT(single("text/plain; charset=utf-8", "7bit", b), SX_LEAK_FOUND,
	       "quoted-printable (guessed)", "address");
	free(b);
	/* a full-width address in escaped EUC-JP, among EUC-JP lines: found
	 * in the euc-jp reading only, folded */
	b = filler_around("to =A3=F4=A3=E1=A3=F2=A3=EF=A1=F7=A3=E5=A3=F8=A3=E1=A3=ED=A3=F0=A3=EC"
			  "=A3=E5=A1=A5=A3=EA=A3=F0 ok\r\n", eucjp, 30);
	EXPECT(single("text/plain; charset=euc-jp", "8bit", b), SX_LEAK_FOUND,
	       "quoted-printable (guessed)", "address");
	free(b);
}

/*
 * Guessed quoted-printable needs a line as an encoder writes one (every '='
 * an escape, a soft break or an encoded-word's delimiter), or a Q
 * encoded-word: '=' in a URL's query is no escape, and the escapes beside it
 * are chance. With one such line the body is decoded whole, the escapes in
 * the URL too.
 */
static void test_qp_guess_encoder_line(void **state)
{
	(void)state;
	/* the address in escapes, in a URL's query among bare '=' */
#define QP_URL "Visit https://shop.example/?utm_medium=email&c=c7&to==74aro=40example.jp now\r\n"
#define GUESSED "top-level body (quoted-printable (guessed)): "
	static const struct {
		const char *body;
		const char *found; /* the reason, NULL: clean */
	} cases[] = {
		{ QP_URL, NULL },                                    /* no line an encoder wrote */
		{ QP_URL "=E3=81=94=E6=A1=88=E5=86=85\r\n", GUESSED "address" },
		{ QP_URL "read on=\r\nbelow\r\n", GUESSED "address" },
		{ QP_URL "=3D=3D=3D\r\n", GUESSED "address" },
		/* an encoded-word's Q text: a header line quoted in a body, say,
		 * and the word even in a URL's line */
		{ "> From: =?UTF-8?Q?=E5=B1=B1=E7=94=B0=E5=A4=AA=E9=83=8E?= <x@spam.example>\r\n",
		  GUESSED "name" },
		{ "https://x.example/?a=b&n==?UTF-8?Q?=E5=B1=B1=E7=94=B0=E5=A4=AA=E9=83=8E?=&k=1\r\n",
		  GUESSED "name" },
		/* an escape beside a bare '=', a soft break ending base64 padding,
		 * a broken escape */
		{ QP_URL "=E3=81=94 a=b\r\n", NULL },
		{ QP_URL "dGFybw==\r\nmore\r\n", NULL },
		{ QP_URL "=4G=\r\n", NULL },
	};
#undef QP_URL
#undef GUESSED
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (cases[i].found)
			EXPECT(single("text/plain; charset=utf-8", "7bit", cases[i].body),
			       SX_LEAK_FOUND, cases[i].found);
		else
			EXPECT(single("text/plain; charset=utf-8", "7bit", cases[i].body),
			       SX_LEAK_CLEAN, "");
	}
}

/* The guesses at their edges, byte for byte (guess_edges.h, shared with
 * test_redact.c). */
static void test_guess_edges(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof guess_edges / sizeof guess_edges[0]; i++) {
		const struct guess_edge *g = &guess_edges[i];
		const uint8_t *t = (const uint8_t *)g->text;
		int got = g->b64 ? sx_lk_looks_b64(t, strlen(g->text)) : sx_lk_looks_qp(t, strlen(g->text));
		if (!got != !g->looks)
			fail_msg("%s guess of \"%s\": %d, wanted %d", g->b64 ? "base64" : "qp",
				 g->text, got, g->looks);
	}
}

static void test_base64_body(void **state)
{
	(void)state;
	char *b = b64s("Dear taro@example.jp, your parcel is waiting at the depot.\r\n");
	EXPECT(single("text/plain; charset=utf-8", "base64", b), SX_LEAK_FOUND,
	       "top-level body (base64): address");
	/* mislabelled: declared 7bit */
	EXPECT(single("text/plain; charset=utf-8", "7bit", b), SX_LEAK_FOUND,
	       "top-level body (base64 (guessed)): address");
	free(b);
	/* short enough to be a token rather than a block */
	b = b64s("taro@example.jp");
	EXPECT(single("text/plain", "7bit", b), SX_LEAK_FOUND, "top-level body (", "address");
	free(b);
}

static void test_url_escapes(void **state)
{
	(void)state;
	EXPECT(single("text/plain", "7bit",
		      "Unsubscribe: https://u.spam.example/?e=%74%61%72%6F%40example.jp&x=1"),
	       SX_LEAK_FOUND, "top-level body (raw → url-decoded): address");
	/* percent-encoded UTF-8 name */
	EXPECT(single("text/plain", "7bit",
		      "https://u.spam.example/?n=%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E"),
	       SX_LEAK_FOUND, "(raw → url-decoded): name");
	/* percent-encoded Shift_JIS name */
	EXPECT(single("text/plain", "7bit", "https://u.spam.example/?n=%8ER%93c%91%BE%98Y"),
	       SX_LEAK_FOUND, "url-decoded", "name");
	/* percent-encoded ISO-2022-JP (its escapes escaped too): read as such
	 * once decoded, here full-width letters, in ASCII text and in
	 * ISO-2022-JP text that has escapes of its own */
	size_t n;
	char *jis = conv("iso-2022-jp", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", &n);
	char *pct = malloc(3 * n + 1);
	assert_non_null(pct);
	for (size_t i = 0; i < n; i++)
		snprintf(pct + 3 * i, 4, "%%%02X", (unsigned char)jis[i]);
	char *b = xfmt("https://u.spam.example/?to=%s&k=1", pct);
	EXPECT(single("text/plain", "7bit", b), SX_LEAK_FOUND,
	       "(raw → url-decoded → iso-2022-jp → full-width/invisible folded): address");
	free(b);
	char *text = conv("iso-2022-jp", "ご案内です。", NULL);
	b = xfmt("%s\r\nhttps://u.spam.example/?to=%s&k=1", text, pct);
	EXPECT(single("text/plain; charset=iso-2022-jp", "7bit", b), SX_LEAK_FOUND,
	       "(raw → url-decoded → iso-2022-jp → full-width/invisible folded): address");
	free(b);
	free(text);
	free(pct);
	free(jis);
	/* inside QP: "=3D" and "%40" */
	EXPECT(single("text/html; charset=utf-8", "quoted-printable",
		      "<a href=3D\"https://u.spam.example/?e=3Dhanako%2Esu=\r\n"
		      "zuki%40example.com\">x</a>"),
	       SX_LEAK_FOUND, "quoted-printable → url-decoded): address");
}

static void test_html_references(void **state)
{
	(void)state;
	EXPECT(single("text/html; charset=utf-8", "7bit",
		      "<p>&#116;&#97;&#114;&#111;&#64;example.jp</p>"),
	       SX_LEAK_FOUND, "(raw → html-decoded): address");
	EXPECT(single("text/html; charset=utf-8", "7bit",
		      "<p>&#x74;&#x61;&#x72;&#x6F;&#x40;example.jp</p>"),
	       SX_LEAK_FOUND, "(raw → html-decoded): address");
	EXPECT(single("text/html; charset=utf-8", "7bit",
		      "<p>&#116;aro&commat;example&period;jp</p>"),
	       SX_LEAK_FOUND, "(raw → html-decoded): address");
	/* a name as references */
	EXPECT(single("text/html", "7bit", "<p>&#23665;&#30000;&#x592A;&#x90CE; 様</p>"),
	       SX_LEAK_FOUND, "html-decoded): name");
	/* escaped twice: %26%2364%3B is &#64; */
	EXPECT(single("text/html", "7bit", "<a href=\"/?e=&#116;aro%26%2364%3Bexample.jp\">x</a>"),
	       SX_LEAK_FOUND, "url-decoded → html-decoded): address");
	/* tags and invisible characters between the letters */
	EXPECT(single("text/html; charset=utf-8", "7bit", "<p>山田<b></b>太郎 様</p>"),
	       SX_LEAK_FOUND, "(raw → html-rendered): name");
	EXPECT(single("text/html; charset=utf-8", "7bit",
		      "<p>Dear Hanako\r\n   <i>Suzuki</i></p>"),
	       SX_LEAK_FOUND, "(raw → html-rendered): name");
	EXPECT(single("text/html; charset=utf-8", "7bit", "<p>Dear Hanako&nbsp;Suzuki</p>"),
	       SX_LEAK_FOUND, "html-decoded → full-width/invisible folded): name");
	EXPECT(single("text/html; charset=utf-8", "7bit", "<p>山田&#8203;太郎 様</p>"),
	       SX_LEAK_FOUND, "html-decoded → full-width/invisible folded): name");
}

static void test_flowed(void **state)
{
	(void)state;
	EXPECT(single("text/plain; charset=utf-8; format=flowed", "7bit",
		      "Your prize is ready for Hanako \r\nSuzuki, claim it now."),
	       SX_LEAK_FOUND, "(raw → flowed-joined): name");
}

static void test_base64_tokens(void **state)
{
	(void)state;
	char *t = b64("taro@example.jp", 15, 1, 0);
	/* in a URL path, where the run starts before the token */
	char *body = xfmt("Track: https://t.spam.example/c/%s/open", t);
	EXPECT(single("text/plain", "7bit", body), SX_LEAK_FOUND, "(raw → ", "token): address");
	free(body);
	free(t);
	/* URL-safe alphabet with - and _ */
	const uint8_t bin[] = "\xfb\xff hanako.suzuki@example.com";
	t = b64(bin, sizeof bin - 1, 1, 0);
	assert_true(strchr(t, '-') || strchr(t, '_'));
	body = xfmt("<a href=\"https://t.spam.example/?d=%s\">open</a>", t);
	EXPECT(single("text/html", "7bit", body), SX_LEAK_FOUND, "token): address");
	free(body);
	free(t);
	/* a token inside a token, once */
	char *inner = b64("id=taro@example.jp", 18, 0, 0);
	char *outer = b64(inner, strlen(inner), 0, 0);
	body = xfmt("https://t.spam.example/r?q=%s", outer);
	EXPECT(single("text/plain", "7bit", body), SX_LEAK_FOUND,
	       "base64-token → base64-token): address");
	free(body);
	free(inner);
	free(outer);
}

static void test_japanese_bodies(void **state)
{
	(void)state;
	static const char *const cs[] = { "iso-2022-jp", "shift_jis", "euc-jp" };
	const char *text = "こんにちは、山田太郎様。ご当選おめでとうございます。";
	for (size_t i = 0; i < 3; i++) {
		size_t n;
		char *raw = conv(cs[i], text, &n);
		char *ct = xfmt("text/plain; charset=%s", cs[i]);
		EXPECT(single(ct, i ? "8bit" : "7bit", raw), SX_LEAK_FOUND, "top-level body (raw",
		       "name");
		/* and mislabelled as UTF-8 */
		EXPECT(single("text/plain; charset=utf-8", "8bit", raw), SX_LEAK_FOUND,
		       "top-level body (raw", "name");
		/* and in base64 */
		char *b = b64(raw, n, 0, 76);
		EXPECT(single(ct, "base64", b), SX_LEAK_FOUND, "top-level body (base64", "name");
		free(b);
		free(ct);
		free(raw);
	}
	/* the name inside a run of kanji, where no escape stands before it */
	char *raw = conv("iso-2022-jp", text, NULL);
	EXPECT(single("text/plain; charset=iso-2022-jp", "7bit", raw), SX_LEAK_FOUND,
	       "top-level body (raw → iso-2022-jp): name");
	free(raw);
}

/*
 * Text is read in CP932 and EUC-JP where its bytes are not UTF-8 (valid
 * UTF-8 cannot hold two of their full-width letters in a row): one such
 * stretch in a UTF-8 text, and the readings are back.
 */
static void test_readings_where_not_utf8(void **state)
{
	(void)state;
	static const char *const cs[] = { "cp932", "euc-jp" };
	for (size_t i = 0; i < 2; i++) {
		size_t n;
		char *fw = conv(cs[i], "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", &n);
		char *b = xfmt("ご案内です。お問い合わせは %s まで。", fw);
		char *want = xfmt("(raw → %s → full-width/invisible folded): address", cs[i]);
		EXPECT(single("text/plain; charset=utf-8", "8bit", b), SX_LEAK_FOUND, want);
		free(want);
		free(b);
		free(fw);
	}
}

static void test_binary_parts(void **state)
{
	(void)state;
	/* a CP932 name in an octet-stream */
	size_t n;
	char *name = conv("cp932", "山田太郎", &n);
	uint8_t bin[300];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)(i * 37 + 11);
	memcpy(bin + 100, name, n);
	char *b = b64(bin, sizeof bin, 0, 76);
	EXPECT(attached("application/octet-stream", "base64", b), SX_LEAK_FOUND,
	       "part 2 body (base64", "name");
	free(b);
	free(name);
	/* UTF-16LE address in a binary part */
	char *u16 = conv("utf-16le", "taro@example.jp", &n);
	memcpy(bin + 50, u16, n);
	b = b64(bin, sizeof bin, 0, 76);
	EXPECT(attached("application/octet-stream", "base64", b), SX_LEAK_FOUND,
	       "part 2 body (base64, as utf-16le): address");
	free(b);
	free(u16);
	/* UTF-16BE in a mislabelled image */
	u16 = conv("utf-16be", "hanako.suzuki@example.com", &n);
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)(i * 37 + 11);
	memcpy(bin + 120, u16, n);
	b = b64(bin, sizeof bin, 0, 76);
	EXPECT(attached("image/jpeg", "base64", b), SX_LEAK_FOUND,
	       "part 2 body (base64, as utf-16be): address");
	free(b);
	free(u16);
	/* UTF-16 text in a binary file, full-width */
	u16 = conv("utf-16le", "\xef\xbb\xbf連絡先 ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", &n);
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)(i % 3 ? 0 : i);
	memcpy(bin + 64, u16, n);
	b = b64(bin, sizeof bin, 0, 76);
	EXPECT(attached("application/msword", "base64", b), SX_LEAK_FOUND,
	       "part 2 body (base64 → utf-16le → full-width/invisible folded): address");
	free(b);
	free(u16);
	/* an image holding nothing is clean, not undecodable */
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)(i * 37 + 11);
	b = b64(bin, sizeof bin, 0, 76);
	EXPECT(attached("image/png", "base64", b), SX_LEAK_CLEAN, "");
	free(b);
}

static void test_full_width(void **state)
{
	(void)state;
	EXPECT(single("text/plain; charset=utf-8", "8bit",
		      "連絡先：ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ まで"),
	       SX_LEAK_FOUND, "(raw → full-width/invisible folded): address");
	/* in ISO-2022-JP */
	char *raw = conv("iso-2022-jp", "連絡先：ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ まで", NULL);
	EXPECT(single("text/plain; charset=iso-2022-jp", "7bit", raw), SX_LEAK_FOUND,
	       "iso-2022-jp → full-width/invisible folded): address");
	free(raw);
	/* a name written with an ideographic space */
	EXPECT(single("text/plain; charset=utf-8", "8bit", "宛先: 山田　太郎 様"), SX_LEAK_FOUND,
	       "name");
}

static void test_rtf_and_params(void **state)
{
	(void)state;
	EXPECT(attached("application/rtf", "7bit",
			"{\\rtf1\\ansi\\ansicpg932 "
			"\\'8e\\'52\\'93\\'63\\'91\\'be\\'98\\'59 \\par}"),
	       SX_LEAK_FOUND, "part 2 body (", "rtf-unescaped", "name");
	/* RFC 2231 file name */
	EXPECT(xfmt("Subject: x\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Disposition: attachment;\r\n"
		    " filename*=UTF-8''%%E5%%B1%%B1%%E7%%94%%B0%%E5%%A4%%AA%%E9%%83%%8E.txt\r\n"
		    "\r\nxx\r\n"),
	       SX_LEAK_FOUND, "header Content-Disposition (", "url-decoded", "name");
}

static void test_nested_message(void **state)
{
	(void)state;
	/* the name only as a Q word in the attached message's header: found by
	 * parsing the decoded part, not in its bytes */
	char *inner = b64s("From: a@spam.example\r\n"
			   "To: =?UTF-8?Q?=E5=B1=B1=E7=94=B0=E5=A4=AA=E9=83=8E?=\r\n"
			   " <x@spam.example>\r\n"
			   "Subject: hi\r\n\r\nhello\r\n");
	EXPECT(attached("message/rfc822", "base64", inner), SX_LEAK_FOUND,
	       "part 2 header To (rfc2047): name");
	free(inner);
	/* in place (7bit): its children are 2.1, 2.2 */
	EXPECT(attached("message/rfc822", "7bit",
			"From: a@spam.example\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/alternative; boundary=\"in\"\r\n\r\n"
			"--in\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
			"--in\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n"
			"\r\nSGkgdGFyb0BleGFtcGxlLmpw\r\n--in--"),
	       SX_LEAK_FOUND, "part 2.2 body (", "address");
}

static void test_preamble_and_junk(void **state)
{
	(void)state;
	EXPECT(xfmt("Subject: x\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		    "Forwarded for hanako.suzuki@example.com\r\n"
		    "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"),
	       SX_LEAK_FOUND, "top-level preamble (raw): address");
	EXPECT(xfmt("Subject: x\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		    "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"
		    "sent to %%74aro%%40example.jp\r\n"),
	       SX_LEAK_FOUND, "top-level epilogue (raw → url-decoded): address");
	EXPECT(xfmt("From taro@example.jp Tue Jan  2 10:00:00 2024\r\nSubject: x\r\n\r\nhi\r\n"),
	       SX_LEAK_FOUND, "text before the first header (raw): address");
}

static void test_reason_withholds_labels(void **state)
{
	(void)state;
	/* field names are the sender's: only known ones are quoted */
	EXPECT(xfmt("Subject: x\r\nX-Taro@Example.JP: yes\r\n\r\nhi\r\n"), SX_LEAK_FOUND,
	       "top-level header field #2 (raw): address");
	char *t = b64s("To: taro@example.jp");
	char *m = xfmt("Subject: x\r\nX-A: 1\r\n%s: yes\r\n\r\nhi\r\n", t);
	char why[WHY];
	assert_int_equal(check_set(m, strlen(m), &ids, why), SX_LEAK_FOUND);
	assert_string_equal(why, "top-level header field #3 (raw → base64-token): address");
	assert_null(strstr(why, t));
	free(m);
	free(t);
	/* a charset label holding one: found in Content-Type first */
	EXPECT(single("text/plain; charset=x-taro", "7bit", "x"), SX_LEAK_FOUND,
	       "top-level header Content-Type (raw): local-part");
}

/* ---- clean ---- */

static void test_placeholders(void **state)
{
	(void)state;
	EXPECT(single("text/plain", "7bit",
		      "Dear [redacted], write to redacted@redacted.invalid or "
		      "REDACTED@redacted.invalid"),
	       SX_LEAK_CLEAN, "");
	/* identifiers the placeholders themselves hold (sx_idset_add refuses
	 * them; a set built another way must still not flag every report) */
	struct sx_idset s;
	sx_idset_init(&s);
	const char *odd[] = { "redacted", "invalid", "redacted.invalid" };
	for (size_t i = 0; i < 3; i++) {
		struct sx_ident *id = &s.v[s.n++];
		id->kind = SX_ID_LOCALPART;
		id->len = strlen(odd[i]);
		memcpy(id->text, odd[i], id->len + 1);
	}
	char *m = single("text/html", "7bit",
			 "To [redacted] at redacted@redacted.invalid, &#91;&#93; [REDACTED]");
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	m = single("text/plain", "7bit", "This line was redacted by the sender.");
	expect_set(m, strlen(m), &s, SX_LEAK_FOUND, "top-level body (raw): local-part",
		   (const char *)NULL);
	/* in UTF-16 as well */
	size_t n;
	char *u = conv("utf-16le", "[redacted] redacted@redacted.invalid", &n);
	char *b = b64(u, n, 0, 76);
	m = attached("application/octet-stream", "base64", b);
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	free(b);
	free(u);
}

static void test_short_identifiers(void **state)
{
	(void)state;
	struct sx_idset s;
	sx_idset_init(&s);
	assert_int_equal(sx_idset_add_given(&s, "ab@example.net"), 0);
	assert_int_equal(sx_idset_add_given(&s, "林"), 0);
	char *m = single("text/plain", "7bit", "Read about it: absolutely fabulous, tab-key.");
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	m = single("text/plain", "7bit", "Hello ab here");
	expect_set(m, strlen(m), &s, SX_LEAK_FOUND, "top-level body (raw): local-part",
		   (const char *)NULL);
	m = single("text/plain; charset=utf-8", "8bit", "小林さん 林業");
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	m = single("text/plain; charset=utf-8", "8bit", "宛先: 林 様");
	expect_set(m, strlen(m), &s, SX_LEAK_FOUND, "name", (const char *)NULL);
	/* not in base64 text nor in binary, where two letters turn up by chance */
	uint8_t bin[4096];
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)((i * 2654435761u) >> 13);
	memcpy(bin + 1000, " ab ", 4);
	char *b = b64(bin, sizeof bin, 0, 76);
	m = attached("image/gif", "base64", b);
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	free(b);
	/* " ab " in base64 text as it stands */
	m = single("text/plain", "base64",
		   "QUJD+ab/QUJDRA+ab/QUJDRA+ab/QUJDRA+ab/QUJDRA+ab/QUJDRA==");
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
}

static void test_empty_set_and_why(void **state)
{
	(void)state;
	struct sx_idset s;
	sx_idset_init(&s);
	char *m = single("text/plain", "7bit", "taro@example.jp");
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, (const char *)NULL);
	m = single("text/plain", "7bit", "taro@example.jp");
	assert_int_equal(sx_leak_check((const uint8_t *)m, strlen(m), &ids, NULL, NULL, 0),
			 SX_LEAK_FOUND);
	char tiny[8];
	assert_int_equal(sx_leak_check((const uint8_t *)m, strlen(m), &ids, NULL, tiny,
				       sizeof tiny), SX_LEAK_FOUND);
	assert_true(strlen(tiny) < sizeof tiny);
	free(m);
}

/* ---- undecodable ---- */

static void test_uuencode(void **state)
{
	(void)state;
	EXPECT(attached("application/octet-stream", "x-uuencode",
			"begin 644 list.txt\r\nM=&%R;T!E>&%M<&QE+FIP\r\n`\r\nend"),
	       SX_LEAK_UNDECODABLE, "part 2 body: its transfer encoding");
	/* inline, in a text part */
	EXPECT(single("text/plain", "7bit",
		      "see below\r\nbegin 644 list.txt\r\nM=&%R;T!E>&%M<&QE+FIP\r\n`\r\nend"),
	       SX_LEAK_UNDECODABLE, "top-level body: inline uuencoded data");
	/* found wins over undecodable */
	EXPECT(attached("application/octet-stream", "x-uuencode", "taro@example.jp"),
	       SX_LEAK_FOUND, "part 2 body (raw): address");
}

static void test_archives(void **state)
{
	(void)state;
	const uint8_t zip[] = "PK\x03\x04\x14\x00\x00\x00\x08\x00compressed-bytes-here";
	char *b = b64(zip, sizeof zip - 1, 0, 76);
	EXPECT(attached("application/zip", "base64", b), SX_LEAK_UNDECODABLE,
	       "compressed attachment application/zip in part 2 cannot be inspected");
	EXPECT(attached("application/octet-stream", "base64", b), SX_LEAK_UNDECODABLE,
	       "compressed attachment application/octet-stream (zip data) in part 2");
	EXPECT(attached("image/png", "base64", b), SX_LEAK_UNDECODABLE, "(zip data) in part 2");
	/* mislabelled: base64 zip declared 7bit */
	EXPECT(attached("application/octet-stream", "7bit", b), SX_LEAK_UNDECODABLE,
	       "(zip data) in part 2");
	free(b);
	EXPECT(attached("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			"base64", "UEsDBBQAAAAIAA=="),
	       SX_LEAK_UNDECODABLE, "compressed attachment application/vnd.openxmlformats");
	const uint8_t gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03zzzz";
	b = b64(gz, sizeof gz - 1, 0, 76);
	EXPECT(attached("application/octet-stream", "base64", b), SX_LEAK_UNDECODABLE,
	       "(gzip data)");
	free(b);
	/* PDF: filtered streams cannot be read, a plain one can */
	b = b64s("%PDF-1.4\n1 0 obj << /Length 5 /Filter /FlateDecode >> stream\nxxxxx\n"
		 "endstream endobj\n%%EOF\n");
	EXPECT(attached("application/pdf", "base64", b), SX_LEAK_UNDECODABLE,
	       "compressed attachment application/pdf in part 2");
	free(b);
	b = b64s("%PDF-1.4\n1 0 obj << /Length 5 /F#69lter /FlateDecode >> stream\nxxxxx\n"
		 "endstream endobj\n%%EOF\n");
	EXPECT(attached("application/octet-stream", "base64", b), SX_LEAK_UNDECODABLE,
	       "(pdf with compressed streams data)");
	free(b);
	b = b64s("%PDF-1.4\n1 0 obj << /Length 20 >> stream\nBT (Hello) Tj ET\nendstream\n"
		 "endobj\n%%EOF\n");
	EXPECT(attached("application/pdf", "base64", b), SX_LEAK_CLEAN, "");
	free(b);
}

static void test_unknown_charset(void **state)
{
	(void)state;
	size_t n;
	char *raw = conv("cp932", "ご案内", &n);
	EXPECT(single("text/plain; charset=x-martian", "8bit", raw), SX_LEAK_UNDECODABLE,
	       "top-level body: 8-bit text in an unknown charset cannot be decoded");
	/* but a name in it is still found through the Japanese forms */
	free(raw);
	raw = conv("cp932", "ご案内 山田太郎様", &n);
	EXPECT(single("text/plain; charset=x-martian", "8bit", raw), SX_LEAK_FOUND,
	       "as cp932): name");
	free(raw);
	EXPECT(single("text/plain; charset=x-martian", "7bit", "plain ascii"), SX_LEAK_CLEAN, "");
	EXPECT(single("text/plain; charset=x-martian", "8bit", "valid utf-8 ü"), SX_LEAK_CLEAN,
	       "");
	/* an encoded-word in an unknown charset */
	EXPECT(xfmt("Subject: =?x-martian?B?gqCCoIKg?=\r\n\r\nx\r\n"), SX_LEAK_UNDECODABLE,
	       "top-level header Subject: 8-bit encoded-word in an unknown charset");
}

/* ---- limits ---- */

static void test_parse_limits(void **state)
{
	(void)state;
	struct sx_mail_limits lim;
	char why[WHY];
	char *m = single("text/plain", "7bit", "hello");
	size_t n = strlen(m);

	sx_mail_limits_default(&lim);
	lim.max_size = n;
	assert_int_equal(sx_leak_check((const uint8_t *)m, n, &ids, &lim, why, sizeof why),
			 SX_LEAK_CLEAN);
	lim.max_size = n - 1;
	assert_int_equal(sx_leak_check((const uint8_t *)m, n, &ids, &lim, why, sizeof why),
			 SX_ELIMIT);
	free(m);

	m = attached("text/plain", "7bit", "x");
	n = strlen(m);
	sx_mail_limits_default(&lim);
	lim.max_parts = 3;
	assert_int_equal(sx_leak_check((const uint8_t *)m, n, &ids, &lim, why, sizeof why),
			 SX_LEAK_CLEAN);
	lim.max_parts = 2;
	assert_int_equal(sx_leak_check((const uint8_t *)m, n, &ids, &lim, why, sizeof why),
			 SX_ELIMIT);
	free(m);

	/* nesting of encoded messages: LK_NEST_MAX (8) opened, the ninth is not */
	char *cur = xfmt("Subject: core\r\n\r\nnothing here\r\n");
	for (int depth = 1; depth <= 9; depth++) {
		char *b = b64s(cur);
		free(cur);
		cur = xfmt("Subject: level\r\nMIME-Version: 1.0\r\n"
			   "Content-Type: message/rfc822\r\n"
			   "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n", b);
		free(b);
		int v = sx_leak_check((const uint8_t *)cur, strlen(cur), &ids, NULL, why,
				      sizeof why);
		assert_int_equal(v, depth <= 8 ? SX_LEAK_CLEAN : SX_LEAK_UNDECODABLE);
		if (depth > 8)
			assert_non_null(strstr(why, "nested more than 8 deep"));
	}
	free(cur);
}

/*
 * The work bound: every view counts, and views multiply. A body of 8-bit
 * bytes between base64 runs is read in four charsets and its runs decoded at
 * four alignments in each reading; past LK_WORK_FACTOR times the mail (plus
 * the floor) the verdict is UNDECODABLE, below it the same content is CLEAN.
 */
static char *heavy(size_t units)
{
	const char unit[] = "\xff\xfe\xfd QUJDREVGR0hJSktMTU5PUFFSU1RVVldY %41 =41";
	size_t un = sizeof unit - 1;
	char *body = malloc(units * un + 1);
	assert_non_null(body);
	for (size_t i = 0; i < units; i++)
		memcpy(body + i * un, unit, un);
	body[units * un] = '\0';
	char *m = single("text/plain; charset=utf-8", "8bit", body);
	free(body);
	return m;
}

static void test_work_bound(void **state)
{
	(void)state;
	char why[WHY];
	char *m = heavy(200);
	assert_int_equal(sx_leak_check((const uint8_t *)m, strlen(m), &ids, NULL, why, sizeof why),
			 SX_LEAK_CLEAN);
	free(m);
	m = heavy(40000);
	assert_int_equal(sx_leak_check((const uint8_t *)m, strlen(m), &ids, NULL, why, sizeof why),
			 SX_LEAK_UNDECODABLE);
	assert_non_null(strstr(why, "too much to inspect"));
	free(m);
}

/* ---- views examined once ---- */

/* Two text parts with the same body bytes and their own content types. */
static char *twin_parts(const char *ct1, const char *ct2, const char *body)
{
	return xfmt("From: Desk <desk@spam.example>\r\n"
		    "To: redacted@redacted.invalid\r\n"
		    "Subject: twins\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
		    "\r\n"
		    "--b1\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n"
		    "\r\n"
		    "%s\r\n"
		    "--b1\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n"
		    "\r\n"
		    "%s\r\n"
		    "--b1--\r\n", ct1, body, ct2, body);
}

/*
 * A view byte-identical to one examined before is skipped only when the
 * earlier one covered it: the same declared charset, and every flag the
 * repeat has. The same bytes read in another charset, or as HTML after
 * plain text, are examined again; decodings that commute (URL escapes and
 * references in either order) are found once.
 */
static void test_repeated_views(void **state)
{
	(void)state;
	struct sx_idset s;
	sx_idset_init(&s);
	assert_int_equal(sx_idset_add_given(&s, "J\xc3\xbcrgen M\xc3\xbcller"), 0);
	const char *latin1 = "Sehr geehrter J\xfcrgen M\xfcller, Sie haben gewonnen.";
	/* as UTF-8 the name is not there ... */
	char *m = single("text/plain; charset=utf-8", "8bit", latin1);
	expect_set(m, strlen(m), &s, SX_LEAK_CLEAN, "", (const char *)NULL);
	/* ... as ISO-8859-1 it is, though the same bytes were read before */
	m = twin_parts("text/plain; charset=utf-8", "text/plain; charset=iso-8859-1", latin1);
	expect_set(m, strlen(m), &s, SX_LEAK_FOUND, "part 2 body", "iso-8859-1", "name",
		   (const char *)NULL);

	/* the tags only hide the name where the part is HTML */
	const char *tagged = "Dear Hana<i></i>ko Suzuki, you won.";
	EXPECT(single("text/plain; charset=us-ascii", "7bit", tagged), SX_LEAK_CLEAN, "");
	EXPECT(twin_parts("text/plain; charset=us-ascii", "text/html; charset=us-ascii", tagged),
	       SX_LEAK_FOUND, "part 2 body (raw → html-rendered): name");

	/* both orders give the same bytes: found in the first */
	EXPECT(single("text/html; charset=utf-8", "7bit",
		      "<a href=\"/?n=Hana%6Bo&#32;Suzuki&amp;x=1\">x</a>"),
	       SX_LEAK_FOUND, "url-decoded → html-decoded): name");
	/* a token repeated in a header and the body is found either way */
	char *tok = b64s("taro@example.jp");
	char *mm = xfmt("From: Desk <desk@spam.example>\r\n"
			"To: redacted@redacted.invalid\r\n"
			"X-Track: %s\r\n"
			"MIME-Version: 1.0\r\n"
			"Content-Type: text/plain\r\n"
			"\r\n"
			"id=%s\r\n", tok, tok);
	free(tok);
	EXPECT(mm, SX_LEAK_FOUND, "(raw → base64-token): address");
}

/* ---- constants at their edges ---- */

/* A set with one address; its local part goes in too. */
static void one_address(struct sx_idset *s, const char *addr)
{
	sx_idset_init(s);
	assert_int_equal(sx_idset_add_given(s, addr), 0);
}

static void expect_body(const struct sx_idset *s, const char *body, int want, const char *frag)
{
	char *m = single("text/plain", "7bit", body);
	expect_set(m, strlen(m), s, want, frag, (const char *)NULL);
}

/* Runs as short as a token may be (LK_TOKEN_MIN characters), and runs
 * whose twelfth byte is a line break or a blank after one: the scan passes
 * over runs too short by that byte, never over these. */
static void test_token_run_edges(void **state)
{
	(void)state;
	struct sx_idset s;
	one_address(&s, "ab@cde.jp"); /* "YWJAY2RlLmpw", twelve characters */
	static const char *const found[] = {
		"x YWJAY2RlLmpw y", "x,YWJAY2RlLmpw", "YWJAY2RlLmpw",
		"a b YWJAY2RlLmpw= c", "YWJAY2RlLm\r\npw", "YWJ\r\n        AY2RlLmpw",
		"YWJAY2RlLmp\n w", "YWJAY2RlLmp\r\n\tw.", "a YW, YWJAY2RlLmpw",
	};
	for (size_t i = 0; i < sizeof found / sizeof found[0]; i++)
		expect_body(&s, found[i], SX_LEAK_FOUND, "base64-token): address");
	/* eleven characters, and twelve cut by a blank, '=' or other bytes */
	static const char *const clean[] = {
		"x YWJAY2RlLmp y", "YWJAY2RlLm pw", "YWJAY2RlLmp=w", "YWJAY2RlLmp.w",
		"YWJAY2R lLmpw",
	};
	for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
		expect_body(&s, clean[i], SX_LEAK_CLEAN, NULL);
}

static void test_edges(void **state)
{
	(void)state;
	struct sx_idset s;

	/* SX_IDENT_SHORT (4): three bytes only as a word, four anywhere */
	one_address(&s, "abc@x.example");
	expect_body(&s, "xabcx", SX_LEAK_CLEAN, "");
	expect_body(&s, "x abc x", SX_LEAK_FOUND, "local-part");
	one_address(&s, "abcd@x.example");
	expect_body(&s, "xabcdx", SX_LEAK_FOUND, "(raw): local-part");

	/* LK_TOKEN_MIN (12): an 11-character run is not decoded, 12 are */
	expect_body(&ids, "code: ICB0YXJvICA end", SX_LEAK_CLEAN, "");
	expect_body(&ids, "code: ICB0YXJvICAg end", SX_LEAK_FOUND, "base64-token): local-part");

	/* LK_TOKEN_DEPTH (2): a token in a token is read, one level more is not */
	char *t1 = b64s("taro@example.jp");
	char *t2 = b64(t1, strlen(t1), 0, 0);
	char *t3 = b64(t2, strlen(t2), 0, 0);
	char *body = xfmt("Please open r?q=%s now, thanks.", t2);
	expect_body(&ids, body, SX_LEAK_FOUND, "base64-token → base64-token): address");
	free(body);
	body = xfmt("Please open r?q=%s now, thanks.", t3);
	expect_body(&ids, body, SX_LEAK_CLEAN, "");
	free(body);
	free(t1);
	free(t2);
	free(t3);

	/* LK_B64_LINE (40) and LK_LONG_MIN (8): in a line of nothing but
	 * base64 characters, 40 long, a needle under 8 bytes is chance */
	one_address(&s, "abcdefg@x.example");
	const char *pre = "Hello there, see the line below:\r\n";
	body = xfmt("%sZm9vYmFyYmF6%scXV4Zm9vYmFyYmF6cXV4Z", pre, "abcdefg");
	assert_int_equal(strlen(body) - strlen(pre), 40);
	expect_body(&s, body, SX_LEAK_CLEAN, "");
	body[strlen(body) - 1] = '\0';
	expect_body(&s, body, SX_LEAK_FOUND, "(raw): local-part");
	free(body);
	one_address(&s, "abcdefgh@x.example");
	body = xfmt("%sZm9vYmFyYmF6%scXV4Zm9vYmFyYmF6cXV4", pre, "abcdefgh");
	assert_int_equal(strlen(body) - strlen(pre), 40);
	expect_body(&s, body, SX_LEAK_FOUND, "(raw): local-part");
	free(body);

	/* SX_IDENT_LEN_MAX (254): the longest identifier is found */
	char big[SX_IDENT_LEN_MAX + 1];
	memset(big, 'n', sizeof big - 1);
	big[SX_IDENT_LEN_MAX] = '\0';
	memcpy(big + SX_IDENT_LEN_MAX - 10, "@x.example", 10);
	one_address(&s, big);
	body = xfmt("to: <%s>", big);
	expect_body(&s, body, SX_LEAK_FOUND, "(raw): address");
	free(body);
}

/* ---- the redactor's corpus ---- */

static uint8_t *load(const char *name, size_t *n)
{
	const char *root = getenv("SPREX_TESTDATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/reports/%s", root ? root : "tests/data", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *b = malloc(1 << 22);
	assert_non_null(b);
	*n = fread(b, 1, 1 << 22, f);
	fclose(f);
	return b;
}

/* The identifiers the pipeline would take: a report's from both the
 * reporter's message and the spam inside it, a capture's from itself. */
static void corpus_ids(const char *name, const uint8_t *b, size_t n, struct sx_idset *s)
{
	struct sx_mail *outer = NULL, *spam = NULL;
	char err[WHY];
	sx_idset_init(s);
	assert_int_equal(sx_mail_parse(b, n, NULL, &outer, err, sizeof err), 0);
	if (strncmp(name, "report-", 7) == 0) {
		struct sx_buf sb;
		enum sx_unwrap_how how;
		sx_buf_init(&sb, 1 << 22);
		assert_int_equal(sx_unwrap(outer, &sb, &how), 0);
		assert_int_equal(sx_mail_parse(sx_buf_head(&sb), sx_buf_used(&sb), NULL, &spam,
					       err, sizeof err), 0);
		assert_int_equal(sx_ident_collect(outer, spam, s), 0);
		sx_mail_destroy(spam);
		sx_buf_finish(&sb);
	} else {
		assert_int_equal(sx_ident_collect(NULL, outer, s), 0);
	}
	sx_mail_destroy(outer);
}

/*
 * Every original sample must be FOUND: its identifiers are there before
 * redaction (the redactor's own tests check that its output is CLEAN here).
 */
static void test_corpus_originals(void **state)
{
	(void)state;
	const char *root = getenv("SPREX_TESTDATA");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/reports", root ? root : "tests/data");
	DIR *d = opendir(dir);
	if (!d) {
		skip();
		return;
	}
	size_t seen = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t ln = strlen(e->d_name), n;
		if (ln < 5 || strcmp(e->d_name + ln - 4, ".eml"))
			continue;
		uint8_t *b = load(e->d_name, &n);
		assert_non_null(b);
		struct sx_idset *s = malloc(sizeof *s);
		corpus_ids(e->d_name, b, n, s);
		char why[WHY];
		int v = sx_leak_check(b, n, s, NULL, why, sizeof why);
		if (v != SX_LEAK_FOUND)
			fail_msg("%s: verdict %d (%s)", e->d_name, v, why);
		assert_no_value(why, s);
		free(s);
		free(b);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
}

/* One mail per leaf part of spam-multi (its header block and body): each
 * carries an identifier in another form, and each must be found alone. */
static void test_corpus_parts(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = load("spam-multi.eml", &n);
	if (!b) {
		skip();
		return;
	}
	struct sx_idset *s = malloc(sizeof *s);
	corpus_ids("spam-multi.eml", b, n, s);
	struct sx_mail *m = NULL;
	char why[WHY];
	assert_int_equal(sx_mail_parse(b, n, NULL, &m, why, sizeof why), 0);
	unsigned leaves = 0;
	for (unsigned i = 1; i < m->nparts; i++) {
		const struct sx_part *p = &m->parts[i];
		if (p->is_multipart)
			continue;
		uint8_t *one = malloc(p->header.len + p->body.len);
		memcpy(one, b + p->header.off, p->header.len);
		memcpy(one + p->header.len, b + p->body.off, p->body.len);
		int v = sx_leak_check(one, p->header.len + p->body.len, s, NULL, why, sizeof why);
		if (v != SX_LEAK_FOUND)
			fail_msg("part %s alone: verdict %d (%s)", p->path, v, why);
		assert_no_value(why, s);
		free(one);
		leaves++;
	}
	assert_true(leaves >= 5);
	sx_mail_destroy(m);
	free(s);
	free(b);
}

/* One mail per recipient field of spam-headers, each found alone. */
static void test_corpus_fields(void **state)
{
	(void)state;
	static const char *const names[] = {
		"Delivered-To", "X-Original-To", "Envelope-To", "X-Apparently-To", "X-Rcpt-To",
		"Resent-From", "Resent-To", "Resent-Cc", "Resent-Sender", "Cc", "Bcc",
		"X-Greeting", "X-Greeting-Q", "X-Greeting-SJIS", "X-Greeting-SJIS-Q",
		"X-Greeting-Raw8",
	};
	size_t n;
	uint8_t *b = load("spam-headers.eml", &n);
	if (!b) {
		skip();
		return;
	}
	struct sx_idset *s = malloc(sizeof *s);
	corpus_ids("spam-headers.eml", b, n, s);
	struct sx_mail *m = NULL;
	char why[WHY];
	assert_int_equal(sx_mail_parse(b, n, NULL, &m, why, sizeof why), 0);
	unsigned checked = 0;
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		unsigned it = 0;
		const struct sx_hfield *f = sx_mail_field(m, 0, names[k], &it);
		if (!f)
			continue;
		char *one = xfmt("%.*s\r\nbody\r\n", (int)f->raw.len,
				 (const char *)b + f->raw.off);
		int v = sx_leak_check((const uint8_t *)one, strlen(one), s, NULL, why, sizeof why);
		if (v != SX_LEAK_FOUND)
			fail_msg("field %s alone: verdict %d (%s)", names[k], v, why);
		assert_no_value(why, s);
		free(one);
		checked++;
	}
	assert_true(checked >= 10);
	sx_mail_destroy(m);
	free(s);
	free(b);
}

/* ---- the automaton and the windows (leak_match.c, leak_window.c) ---- */

/* The needle's identifier text, or "" when no match. */
static const char *hit(const struct lk_ac *ac, const struct sx_idset *set, const char *s)
{
	long k = sx_lk_search(ac, (const uint8_t *)s, strlen(s), LK_S_SHORT);
	return k < 0 ? "" : set->v[ac->nd[k].ident].text;
}

/* The same search through the hash walk only (no table). */
static long hash_search(struct lk_ac *ac, const uint8_t *p, size_t n, unsigned sf)
{
	uint32_t *delta = ac->delta;
	ac->delta = NULL;
	long k = sx_lk_search(ac, p, n, sf);
	ac->delta = delta;
	return k;
}

static void test_automaton_edges(void **state)
{
	(void)state;
	struct sx_idset set;
	struct lk_ac ac;
	sx_idset_init(&set);
	assert_int_equal(sx_idset_add(&set, SX_ID_ADDRESS, "taro@example.jp", 15), 0);
	assert_int_equal(sx_idset_add(&set, SX_ID_NAME, "aro@ex", 6), 0);
	assert_int_equal(sx_idset_add(&set, SX_ID_NAME, "example", 7), 0);
	assert_int_equal(sx_lk_ac_init(&ac, &set), 0);
	assert_non_null(ac.delta); /* a small set gets the table */

	/* empty input, and input of bytes in no needle */
	assert_int_equal(sx_lk_search(&ac, (const uint8_t *)"", 0, LK_S_SHORT), -1);
	assert_string_equal(hit(&ac, &set, "\x01\xff nothing here \x80"), "");
	/* overlapping needles: the longest match around the first one wins */
	assert_string_equal(hit(&ac, &set, "mail taro@example.jp now"), "taro@example.jp");
	assert_string_equal(hit(&ac, &set, "x aro@ex y"), "aro@ex");
	/* a needle ending at the last byte, and one at the first */
	assert_string_equal(hit(&ac, &set, "to taro@example.jp"), "taro@example.jp");
	assert_string_equal(hit(&ac, &set, "taro@example.jp"), "taro@example.jp");
	assert_string_equal(hit(&ac, &set, "an example"), "example");
	/* case folded, ASCII only */
	assert_string_equal(hit(&ac, &set, "TARO@Example.JP"), "taro@example.jp");
	assert_string_equal(hit(&ac, &set, "EXAMPL"), "");
	/* a failure link taken in the middle of a match */
	assert_string_equal(hit(&ac, &set, "taraaro@exampl"), "aro@ex");

	/* a range: matches that lie in it only, the rules reading the whole */
	/* (a longer match within the longest needle's length of the first
	 * one is still taken: the address is further away than that) */
	const char *t = "one example and ........................................ taro@example.jp";
	size_t tn = strlen(t), at = (size_t)(strstr(t, "taro") - t);
	assert_int_equal(sx_lk_search_range(&ac, (const uint8_t *)t, tn, at, tn, LK_S_SHORT) >= 0,
			 1);
	assert_int_equal(sx_lk_search_range(&ac, (const uint8_t *)t, tn, 0, 3, LK_S_SHORT), -1);
	long k = sx_lk_search_range(&ac, (const uint8_t *)t, tn, 4, 11, LK_S_SHORT);
	assert_true(k >= 0);
	assert_string_equal(set.v[ac.nd[k].ident].text, "example");

	/* the table and the hash walk agree, byte for byte */
	const char *const probes[] = { "", "taro@example.jp", "xTARO@EXAMPLE.JPx", "aro@e",
				       "exampleexample", "t a r o", "\xe3\x80\x80taro@example.jp" };
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		const uint8_t *pp = (const uint8_t *)probes[i];
		size_t pn = strlen(probes[i]);
		for (unsigned sf = 0; sf <= LK_S_LONG; sf++)
			assert_int_equal(sx_lk_search(&ac, pp, pn, sf), hash_search(&ac, pp, pn, sf));
	}
	sx_lk_ac_finish(&ac);
}

/* Searches t (n bytes of filler) with word (wl bytes) set off by blanks at
 * at + 1, as the table and as the hash walk; ident is the one to find. */
static void split_probe(struct lk_ac *ac, const struct sx_idset *set, uint8_t *t, size_t n,
			size_t at, const char *word, size_t wl, const char *ident)
{
	if (at + wl + 1 > n)
		return;
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)(i % 7 == 6 ? ' ' : "tarqx@."[i % 7]);
	t[at] = ' ';
	memcpy(t + at + 1, word, wl);
	if (at + 1 + wl < n)
		t[at + 1 + wl] = ' ';
	for (unsigned sf = 0; sf <= LK_S_LONG; sf++) {
		long k = sx_lk_search(ac, t, n, sf);
		assert_int_equal(k, hash_search(ac, t, n, sf));
		if (sf == LK_S_SHORT) {
			assert_true(k >= 0);
			assert_string_equal(set->v[ac->nd[k].ident].text, ident);
		}
	}
}

/* Long views are walked in parts at once (leak_match.c, dfa_next): matches
 * across, at and around every point a walk starts or hands over are found
 * as one walk finds them, the first one first. */
static void test_automaton_split(void **state)
{
	(void)state;
	struct sx_idset set;
	struct lk_ac ac;
	sx_idset_init(&set);
	/* no needle inside another: each match is the first hit of its own */
	assert_int_equal(sx_idset_add(&set, SX_ID_NAME, "hanako.y@example.jp", 19), 0);
	assert_int_equal(sx_idset_add(&set, SX_ID_NAME, "taro", 4), 0);
	assert_int_equal(sx_idset_add(&set, SX_ID_NAME, "kei", 3), 0); /* whole words only */
	assert_int_equal(sx_lk_ac_init(&ac, &set), 0);
	assert_non_null(ac.delta);
	size_t len = ac.maxlen;
	/* the longest needle, the address in UTF-16LE, sets where the later
	 * walks start; shorter ones meet a hand-over anywhere */
	static const char wide[] =
		"h\0a\0n\0a\0k\0o\0.\0y\0@\0e\0x\0a\0m\0p\0l\0e\0.\0j\0p\0";
	const char *const words[] = { wide, "hanako.y@example.jp", "taro", "kei" };
	const size_t wlen[] = { sizeof wide - 1, 19, 4, 3 };
	const char *const ident[] = { "hanako.y@example.jp", "hanako.y@example.jp", "taro",
				      "kei" };
	assert_int_equal(len, sizeof wide - 1);
	for (size_t n = 1024; n <= 4 * 1024 + 7; n += 1543) {
		uint8_t *t = malloc(n);
		assert_non_null(t);
		/* where the walks start and hand over (LK_WALKS parts of q bytes
		 * in leak_match.c), and the halves and quarters of the view */
		size_t q = (n - len) / 4, mid = n / 2;
		size_t starts[] = { 0, q, q + len, 2 * q, 2 * q + len, 3 * q, 3 * q + len,
				    mid - len, mid, mid / 2, mid + mid / 2, n };
		for (size_t si = 0; si < sizeof starts / sizeof starts[0]; si++) {
			/* from len + 2 before the point to len + 2 after it */
			size_t from = starts[si] > len + 2 ? starts[si] - len - 2 : 0;
			for (size_t at = from; at < starts[si] + len + 2; at++)
				for (size_t w = 0; w < 4; w++)
					split_probe(&ac, &set, t, n, at, words[w], wlen[w],
						    ident[w]);
		}
		/* a match at the very end of a part, and one a later walk meets
		 * first, in the middle of its own */
		for (size_t k = 1; k < 4; k++) {
			size_t end = k * q + len; /* where part k - 1 ends */
			for (size_t i = 0; i < n; i++)
				t[i] = (uint8_t)(i % 7 == 6 ? ' ' : "tarqx@."[i % 7]);
			memcpy(t + end - 4, " kei", 4); /* its last byte the last of the part */
			t[end] = ' ';
			memcpy(t + end + q / 2, " taro ", 6);
			long m = sx_lk_search(&ac, t, n, LK_S_SHORT);
			assert_int_equal(m, hash_search(&ac, t, n, LK_S_SHORT));
			assert_true(m >= 0);
			assert_string_equal(set.v[ac.nd[m].ident].text, "kei");
		}
		/* a match in the last part, and an earlier one in the first */
		memset(t, '.', n);
		memcpy(t + n - 20, " taro ", 6);
		assert_int_equal(sx_lk_search(&ac, t, n, LK_S_SHORT),
				 hash_search(&ac, t, n, LK_S_SHORT));
		memcpy(t + 10, " hanako.y@example.jp ", 21);
		long k = sx_lk_search(&ac, t, n, LK_S_SHORT);
		assert_true(k >= 0);
		assert_string_equal(set.v[ac.nd[k].ident].text, "hanako.y@example.jp");
		/* and in a range of it, the rules reading the whole */
		k = sx_lk_search_range(&ac, t, n, 40, n, LK_S_SHORT);
		assert_true(k >= 0);
		assert_string_equal(set.v[ac.nd[k].ident].text, "taro");
		assert_int_equal(sx_lk_search_range(&ac, t, n, 40, n - 20, LK_S_SHORT), -1);
		free(t);
	}
	sx_lk_ac_finish(&ac);
}

/* The leak check's UTF-8 validation (leak_class.c) answers as sx_utf8_valid
 * does: every sequence of three bytes after a lead, and random mixes of
 * ASCII runs (eight at a time) and characters cut anywhere. */
static void test_utf8_valid(void **state)
{
	(void)state;
	uint8_t b[16];
	for (unsigned c0 = 0x80; c0 <= 0xFF; c0++) {
		for (unsigned c1 = 0; c1 <= 0xFF; c1++) {
			for (unsigned c2 = 0x70; c2 <= 0xC5; c2++) {
				b[0] = (uint8_t)c0;
				b[1] = (uint8_t)c1;
				b[2] = (uint8_t)c2;
				b[3] = 0x85;
				for (size_t n = 1; n <= 4; n++)
					assert_int_equal(sx_lk_ascii_or_utf8(b, n) != 0,
							 sx_utf8_valid(b, n) != 0);
			}
		}
	}
	static const uint8_t parts[][4] = {
		{ 'a' }, { 0xE3, 0x81, 0x82 }, { 0xC3, 0xA9 }, { 0xF0, 0x9F, 0x98, 0x80 },
		{ 0xED, 0xA0, 0x80 }, { 0xE0, 0x80, 0x80 }, { 0x80 }, { 0xEF, 0xBF, 0xBD },
	};
	static const size_t plen[] = { 1, 3, 2, 4, 3, 3, 1, 3 };
	uint8_t t[64];
	unsigned r = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 0;
		while (n < sizeof t - 12) {
			r = r * 1103515245u + 12345u;
			size_t k = (r >> 16) % 8;
			/* mostly text, now and then a bad piece */
			if ((k == 4 || k == 5 || k == 6) && (r >> 8) % 4)
				k = 0;
			size_t m = k == 0 ? 1 + (r >> 20) % 11 : plen[k];
			for (size_t j = 0; j < m; j++)
				t[n++] = k == 0 ? (uint8_t)('a' + j) : parts[k][j];
		}
		r = r * 1103515245u + 12345u;
		size_t cut = (r >> 16) % (n + 1);
		assert_int_equal(sx_lk_ascii_or_utf8(t, cut) != 0, sx_utf8_valid(t, cut) != 0);
		assert_int_equal(sx_lk_ascii_or_utf8(t + cut, n - cut) != 0,
				 sx_utf8_valid(t + cut, n - cut) != 0);
	}
}

/* The profile counts U+3000 (E3 80 80) once each, whole ones only, wherever
 * it stands: first, last, cut short at the end, after other E3 and 80 bytes. */
static void test_profile_ideographic_space(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t norm;
	} cases[] = {
		{ "\xe3\x80\x80", 1 },
		{ "a\xe3\x80\x80", 1 },
		{ "\xe3\x80\x80\xe3\x80\x80", 2 },
		{ "\xe3\x80", 0 },
		{ "\xe3\x80\x81\xe3\x80\x82", 0 },  /* 、。 */
		{ "\x80\x80\xe3\x80\x80\x80", 1 },
		{ "\xe3\xe3\x80\x80", 1 },
		{ "\xe3\x81\x82\xe3\x80\x80\xef\xbc\xa1", 2 }, /* あ U+3000 Ａ */
		{ "x\xe3\x80", 0 },
		{ "\x80\x80", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct lk_prof f;
		const uint8_t *p = (const uint8_t *)cases[i].s;
		size_t n = strlen(cases[i].s);
		sx_lk_profile(p, n, &f);
		assert_int_equal(f.norm, cases[i].norm);
		size_t high = 0;
		for (size_t k = 0; k < n; k++)
			high += p[k] >= 0x80;
		assert_int_equal(f.has8, high);
		assert_int_equal(f.ctrl, 0);
	}
}

static void test_automaton_max(void **state)
{
	(void)state;
	struct sx_idset *set = calloc(1, sizeof *set);
	struct lk_ac ac;
	assert_non_null(set);
	sx_idset_init(set);
	/* as many identifiers as a report may have, each as long as one may be */
	char text[SX_IDENT_LEN_MAX + 1];
	for (unsigned i = 0; set->n < SX_IDENTS_MAX; i++) {
		for (size_t k = 0; k < SX_IDENT_LEN_MAX; k++)
			text[k] = (char)('a' + (i * 7 + k * 13 + k / 26) % 26);
		snprintf(text, 8, "%07u", i);
		text[7] = 'q';
		assert_int_equal(sx_idset_add(set, SX_ID_NAME, text, SX_IDENT_LEN_MAX), 0);
	}
	assert_int_equal(sx_lk_ac_init(&ac, set), 0);
	assert_null(ac.delta); /* too large for the table: the hash walk serves */
	const struct sx_ident *last = &set->v[set->n - 1];
	char *s = xfmt("noise %s noise", last->text);
	long k = sx_lk_search(&ac, (const uint8_t *)s, strlen(s), 0);
	assert_true(k >= 0);
	assert_int_equal(ac.nd[k].ident, set->n - 1);
	free(s);
	sx_lk_ac_finish(&ac);
	free(set);
}

/* Marked decodings give what the decoders give, and mark what changed. */
static void test_marked_views(void **state)
{
	(void)state;
	const char *const inputs[] = {
		"", "plain text", "a%41b%4", "%%41%4g%e3%81%82", "&amp;&&lt&#65;&#x42;&#0000067;x",
		"&copy2024 &nosuch; &#; &#x; &#150;", "&ampamp;", "tail &", "a%", "&#37;41",
	};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		const uint8_t *p = (const uint8_t *)inputs[i];
		size_t n = strlen(inputs[i]);
		for (int html = 0; html < 2; html++) {
			struct sx_buf want, out, mark, chg;
			sx_buf_init(&want, 4 * n + 64);
			sx_buf_init(&out, 4 * n + 64);
			sx_buf_init(&mark, 4 * n + 64);
			sx_buf_init(&chg, SIZE_MAX);
			assert_int_equal(html ? sx_html_decode(p, n, &want) : sx_pct_decode(p, n, &want),
					 0);
			static struct lk_refs refs; /* shared: repeats come from it */
			assert_int_equal(html ? sx_lk_html_marked(p, n, &out, &mark, &chg, &refs)
					      : sx_lk_pct_marked(p, n, &out, &mark, &chg), 0);
			assert_int_equal(sx_buf_used(&out), sx_buf_used(&want));
			assert_memory_equal(sx_buf_head(&out), sx_buf_head(&want), sx_buf_used(&out));
			assert_int_equal(sx_buf_used(&mark), sx_buf_used(&out));
			/* unchanged input: nothing marked */
			int changed = sx_buf_used(&out) != n || memcmp(sx_buf_head(&out), p, n) != 0;
			assert_int_equal(memchr(sx_buf_head(&mark), 1, sx_buf_used(&mark)) != NULL,
					 changed && sx_buf_used(&out) > 0);
			/* the changes map the whole output onto the whole input */
			struct lk_wins all = { NULL, 0, 0 }, in = { NULL, 0, 0 };
			size_t whole[2] = { 0, sx_buf_used(&out) };
			all.v = whole;
			all.n = 1;
			assert_int_equal(sx_lk_wins_map(&all, (const size_t *)(const void *)
							  sx_buf_head(&chg),
							  sx_buf_used(&chg) / (2 * sizeof(size_t)), &in),
					 0);
			assert_int_equal(in.v[0], 0);
			assert_int_equal(in.v[1], n);
			sx_lk_wins_finish(&in);
			sx_buf_finish(&want);
			sx_buf_finish(&out);
			sx_buf_finish(&mark);
			sx_buf_finish(&chg);
		}
	}
	/* windows: ext bytes each side, whole characters; or whole lines */
	const char *t = "l0\nl1\nl2 x\nl3\nl4\nl5\nl6\nl7\n\xe3\x81\x82z";
	size_t tn = strlen(t);
	uint8_t mk[64] = { 0 };
	mk[strchr(t, 'x') - t] = 1;
	struct lk_wins w = { NULL, 0, 0 };
	assert_int_equal(sx_lk_windows((const uint8_t *)t, tn, mk, 0, 1, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0], 6);  /* "l2 x\n" */
	assert_int_equal(w.v[1], 11);
	assert_int_equal(sx_lk_windows((const uint8_t *)t, tn, mk, 2, 0, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0], 7);
	assert_int_equal(w.v[1], 12);
	mk[strstr(t, "l6") - t] = 1;
	assert_int_equal(sx_lk_windows((const uint8_t *)t, tn, mk, 3, 1, &w), 0);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.v[1], 14); /* through "l3\n" */
	assert_int_equal(w.v[2], 17); /* from "l5" */
	assert_int_equal(w.v[3], 26); /* through "l7\n": ext reaches it */
	/* near marks merge; an edge never splits a character */
	memset(mk, 0, sizeof mk);
	mk[strstr(t, "l7") - t] = 1;
	assert_int_equal(sx_lk_windows((const uint8_t *)t, tn, mk, 4, 0, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0], 19);
	assert_int_equal(w.v[1], tn - 1); /* past the whole of U+3042 */
	mk[strstr(t, "l5") - t] = 1;
	assert_int_equal(sx_lk_windows((const uint8_t *)t, tn, mk, 4, 0, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0], 13);
	sx_lk_wins_finish(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_raw_header),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_raw_8bit_header),
		cmocka_unit_test(test_qp_soft_break),
		cmocka_unit_test(test_qp_guessed_one_line),
		cmocka_unit_test(test_qp_guess_encoder_line),
		cmocka_unit_test(test_guess_edges),
		cmocka_unit_test(test_base64_body),
		cmocka_unit_test(test_url_escapes),
		cmocka_unit_test(test_html_references),
		cmocka_unit_test(test_flowed),
		cmocka_unit_test(test_base64_tokens),
		cmocka_unit_test(test_japanese_bodies),
		cmocka_unit_test(test_readings_where_not_utf8),
		cmocka_unit_test(test_binary_parts),
		cmocka_unit_test(test_full_width),
		cmocka_unit_test(test_rtf_and_params),
		cmocka_unit_test(test_nested_message),
		cmocka_unit_test(test_preamble_and_junk),
		cmocka_unit_test(test_reason_withholds_labels),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_short_identifiers),
		cmocka_unit_test(test_empty_set_and_why),
		cmocka_unit_test(test_uuencode),
		cmocka_unit_test(test_archives),
		cmocka_unit_test(test_unknown_charset),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_work_bound),
		cmocka_unit_test(test_repeated_views),
		cmocka_unit_test(test_token_run_edges),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_corpus_originals),
		cmocka_unit_test(test_corpus_parts),
		cmocka_unit_test(test_corpus_fields),
		cmocka_unit_test(test_automaton_edges),
		cmocka_unit_test(test_automaton_split),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_profile_ideographic_space),
		cmocka_unit_test(test_automaton_max),
		cmocka_unit_test(test_marked_views),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
