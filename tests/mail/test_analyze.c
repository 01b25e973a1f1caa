/*
 * test_analyze.c: violation flags and categories (mail/analyze*.c).
 *
 * The corpus in tests/data/analyze is synthetic spam written the way real
 * spam is (UTF-8, ISO-2022-JP and Shift_JIS bodies, base64, quoted-printable,
 * HTML), with example names and documentation addresses. Each case states
 * the exact flags and categories and the exact list of evidence items, each
 * as "check@where", in order.
 */
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
#include "lib/netaddr.h"
#include "mail/analyze.h"
#include "mail/analyze_label.h"
#include "mail/analyze_text.h"
#include "mail/analyze_words.h"
#include "mail/mime.h"
#include "mail/received.h"

struct msg {
	uint8_t *buf;
	size_t len;
	struct sx_mail *m;
};

static void parse(struct msg *x)
{
	char err[200];
	int rc = sx_mail_parse(x->buf, x->len, NULL, &x->m, err, sizeof err);
	if (rc != 0)
		fail_msg("parse failed: %s", err);
}

static void load(const char *rel, struct msg *x)
{
	const char *dir = getenv("SPREX_TESTDATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/analyze/%s", dir ? dir : "tests/data", rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	x->buf = malloc(1 << 20);
	assert_non_null(x->buf);
	x->len = fread(x->buf, 1, 1 << 20, f);
	fclose(f);
	parse(x);
}

static void from_bytes(const void *p, size_t n, struct msg *x)
{
	x->buf = malloc(n + 1);
	assert_non_null(x->buf);
	memcpy(x->buf, p, n);
	x->len = n;
	parse(x);
}

static void unload(struct msg *x)
{
	sx_mail_destroy(x->m);
	free(x->buf);
}

/* The evidence as "check@where;check@where;...". */
static void ev_list(const struct sx_analysis *a, char *out, size_t len)
{
	out[0] = '\0';
	for (unsigned i = 0; i < a->nev; i++) {
		size_t have = strlen(out);
		snprintf(out + have, len - have, "%s%s@%s", i ? ";" : "", a->ev[i].check,
			 a->ev[i].where);
	}
}

static void dump(const struct sx_analysis *a)
{
	for (unsigned i = 0; i < a->nev; i++)
		print_message("  [%u] %s @ %s (%s): %s\n", a->ev[i].flag, a->ev[i].check,
			      a->ev[i].where, a->ev[i].article, a->ev[i].detail);
}

static void expect(const char *name, const struct sx_analysis *a, unsigned flags,
		   unsigned categories, const char *evidence)
{
	char got[2048];
	ev_list(a, got, sizeof got);
	if (a->flags != flags || a->categories != categories || strcmp(got, evidence) != 0) {
		dump(a);
		fail_msg("%s: flags %#x categories %#x evidence \"%s\"; want %#x %#x \"%s\"", name,
			 a->flags, a->categories, got, flags, categories, evidence);
	}
	/* Every flag item carries an article and a detail; the flag of each
	 * item is raised. */
	for (unsigned i = 0; i < a->nev; i++) {
		assert_true(a->ev[i].detail[0] != '\0');
		if (a->ev[i].flag) {
			assert_true(a->ev[i].article[0] != '\0');
			assert_true(a->flags & a->ev[i].flag);
		}
	}
}

static void analyze_file(const char *file, int monitor, struct sx_analysis *a)
{
	struct msg x;
	load(file, &x);
	memset(a, 0x5a, sizeof *a);
	assert_int_equal(sx_analyze(x.m, monitor, NULL, a), 0);
	unload(&x);
}

static const struct sx_evidence *find_ev(const struct sx_analysis *a, const char *check)
{
	for (unsigned i = 0; i < a->nev; i++)
		if (strcmp(a->ev[i].check, check) == 0)
			return &a->ev[i];
	fail_msg("no evidence %s", check);
	static const struct sx_evidence none;
	return &none;
}

static void expect_detail(const struct sx_analysis *a, const char *check, const char *needle)
{
	const struct sx_evidence *e = find_ev(a, check);
	if (!strstr(e->detail, needle))
		fail_msg("%s: \"%s\" not in \"%s\"", check, needle, e->detail);
}

#define F_OPTIN SX_FLAG_OPTIN
#define F_LABEL SX_FLAG_LABELING
#define F_SPOOF SX_FLAG_SPOOFING

/* Name, opt-out statement beside its URL, 〒 address, inquiry address and
 * phone: only opt-in remains, and only for a monitor report. */
static void test_ja_utf8_labeled(void **state)
{
	struct sx_analysis a;
	analyze_file("ja-utf8-labeled.eml", 1, &a);
	expect("monitor", &a, F_OPTIN, SX_CAT_JAPANESE, "opt-in@body;category.japanese@body");
	assert_true(a.advertising);
	expect_detail(&a, "opt-in", "URL host shop.example.jp (body)");
	expect_detail(&a, "opt-in", "(Subject)");
	assert_string_equal(find_ev(&a, "opt-in")->article, "Art. 3(1)");

	analyze_file("ja-utf8-labeled.eml", 0, &a);
	expect("public", &a, 0, SX_CAT_JAPANESE, "category.japanese@body");
	assert_true(a.advertising);
}

static void test_ja_iso2022jp_no_optout(void **state)
{
	struct sx_analysis a;
	analyze_file("ja-iso2022jp-no-optout.eml", 1, &a);
	expect("iso-2022-jp", &a, F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "opt-in@body;labeling.opt-out@body;category.japanese@body");
	expect_detail(&a, "labeling.opt-out", "no opt-out statement");
	assert_int_equal(find_ev(&a, "labeling.opt-out")->flag, SX_FLAG_LABELING);
	assert_string_equal(find_ev(&a, "labeling.opt-out")->article,
			    "Art. 4(ii); Ord. Art. 9(i)");
}

static void test_ja_sjis_no_postal(void **state)
{
	struct sx_analysis a;
	analyze_file("ja-sjis-no-postal.eml", 1, &a);
	expect("shift_jis", &a, F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "opt-in@body;labeling.postal-address@body;category.japanese@body");
	assert_string_equal(find_ev(&a, "labeling.postal-address")->article,
			    "Art. 4(iii); Ord. Art. 9(ii)");
}

/* Every indication is in the markup: a link target, an entity-coded 〒, a
 * mailto. Style and script text do not count. */
static void test_ja_html_labeled(void **state)
{
	struct sx_analysis a;
	analyze_file("ja-html-labeled.eml", 1, &a);
	expect("html", &a, F_OPTIN, SX_CAT_JAPANESE, "opt-in@body;category.japanese@body");
	expect_detail(&a, "opt-in", "mall.example.jp");
}

static void test_en_spf_fail(void **state)
{
	struct sx_analysis a;
	analyze_file("en-spf-fail.eml", 1, &a);
	expect("spf", &a, F_SPOOF | F_OPTIN, SX_CAT_FOREIGN,
	       "spoofing.spf@Authentication-Results;opt-in@body;category.foreign@body");
	expect_detail(&a, "spoofing.spf", "spf=fail reported by mx.example.ne.jp");
	assert_string_equal(find_ev(&a, "spoofing.spf")->article, "Art. 5");
}

/* DKIM and DMARC fail; the comment mentioning "spf=fail" is no result. */
static void test_en_dkim_fail(void **state)
{
	struct sx_analysis a;
	analyze_file("en-dkim-fail.eml", 1, &a);
	expect("dkim", &a, F_SPOOF, SX_CAT_FOREIGN,
	       "spoofing.dkim@Authentication-Results;spoofing.dmarc@Authentication-Results;"
	       "category.foreign@body");
	assert_false(a.advertising);
	expect_detail(&a, "spoofing.dkim", "dkim=fail");
	expect_detail(&a, "spoofing.dmarc", "dmarc=fail");
}

static void test_en_ad_unlabeled(void **state)
{
	struct sx_analysis a;
	analyze_file("en-ad-unlabeled.eml", 1, &a);
	expect("unlabeled", &a, F_OPTIN | F_LABEL, SX_CAT_FOREIGN,
	       "opt-in@body;labeling.sender-name@From;labeling.opt-out@body;"
	       "labeling.postal-address@body;labeling.contact@body;category.foreign@body");
	expect_detail(&a, "opt-in", "pharma.example.net");
	expect_detail(&a, "opt-in", "offer word \"cheap\" (body)");
	expect_detail(&a, "labeling.contact", "no complaint or inquiry contact");
}

/* The chain below the source is invented and the receiver's SPF check
 * failed: two spoofing items, each naming its header. */
static void test_ja_forged_received(void **state)
{
	struct msg x;
	load("ja-forged-received.eml", &x);
	struct sx_prefix p;
	assert_int_equal(sx_prefix_parse("198.51.100.0/24", &p), 0);
	struct sx_relays r = { &p, 1, NULL, 0 };
	struct sx_source src;
	assert_int_equal(sx_received_source(x.m, 0, &r, &src), 0);
	assert_int_equal(src.found, 1);
	assert_string_equal(src.ip_text, "203.0.113.66");
	assert_int_equal(src.forged, 1);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 1, &src, &a), 0);
	expect("forged", &a, F_SPOOF | F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "spoofing.spf@Received-SPF;spoofing.received@Received;opt-in@body;"
	       "labeling.opt-out@body;labeling.postal-address@body;labeling.contact@body;"
	       "category.japanese@body");
	expect_detail(&a, "spoofing.spf", "Received-SPF: fail");
	expect_detail(&a, "spoofing.received", "does not match hop 1 from bulk.example.net");
	/* Without the walk's result there is nothing to say about Received. */
	assert_int_equal(sx_analyze(x.m, 1, NULL, &a), 0);
	expect("no source", &a, F_SPOOF | F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "spoofing.spf@Received-SPF;opt-in@body;labeling.opt-out@body;"
	       "labeling.postal-address@body;labeling.contact@body;category.japanese@body");
	unload(&x);
}

static void test_virus(void **state)
{
	struct sx_analysis a;
	analyze_file("virus.eml", 1, &a);
	expect("virus", &a, 0, SX_CAT_VIRUS | SX_CAT_FOREIGN,
	       "category.virus@part 2;category.virus@part 4;category.foreign@body");
	assert_int_equal(a.ev[0].flag, 0);
	assert_string_equal(a.ev[0].detail, "attachment \"invoice.pdf.exe\": executable extension "
					    ".exe (double extension .pdf.exe)");
	assert_string_equal(a.ev[1].detail, "attachment \"写真.scr\": executable extension .scr");
}

static void test_garbled(void **state)
{
	struct sx_analysis a;
	analyze_file("garbled-unknown-charset.eml", 1, &a);
	expect("unknown charset", &a, 0, SX_CAT_GARBLED, "category.garbled@body");
	expect_detail(&a, "category.garbled", "unknown charset \"x-unknown-jis\"");

	analyze_file("garbled-wrong-charset.eml", 1, &a);
	expect("wrong charset", &a, 0, SX_CAT_GARBLED, "category.garbled@body");
	expect_detail(&a, "category.garbled", "could not be decoded (U+FFFD)");

	analyze_file("garbled-mojibake.eml", 1, &a);
	expect("mojibake", &a, 0, SX_CAT_GARBLED, "category.garbled@body");
	expect_detail(&a, "category.garbled", "look like mojibake");
}

static void test_no_headers(void **state)
{
	struct sx_analysis a;
	analyze_file("no-headers.eml", 1, &a);
	expect("no headers", &a, 0, SX_CAT_INSUFFICIENT | SX_CAT_JAPANESE,
	       "category.insufficient@header;category.japanese@body");
	expect_detail(&a, "category.insufficient", "no header fields");

	/* Header fields, but none that says where the mail came from. */
	static const char only_mime[] =
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
	struct msg x;
	from_bytes(only_mime, sizeof only_mime - 1, &x);
	assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
	expect("mime only", &a, 0, SX_CAT_INSUFFICIENT, "category.insufficient@header");
	expect_detail(&a, "category.insufficient", "no Received, From, Date or Subject");
	unload(&x);

	/* One of them is enough. */
	static const char dated[] = "Date: Mon, 8 Jan 2024 10:00:00 +0000\r\n\r\nhi\r\n";
	from_bytes(dated, sizeof dated - 1, &x);
	assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
	expect("dated", &a, 0, 0, "");
	unload(&x);
}

/* A labeled UTF-8 ad whose opt-out URL sits gap bytes after the statement. */
static void optout_at(size_t gap, struct sx_analysis *a)
{
	char body[2048];
	char filler[512];
	memset(filler, '.', gap);
	filler[gap] = '\0';
	snprintf(body, sizeof body,
		 "From: =?UTF-8?B?5qCq5byP5Lya56S+44K144Oz44OX44Or?= <a@shop.example.jp>\r\n"
		 "Subject: sale\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		 "配信停止%shttp://shop.example.jp/stop\r\n"
		 "無料キャンペーン http://shop.example.jp/\r\n"
		 "〒100-0001 東京都千代田区1-1\r\n"
		 "問い合わせ 03-1234-5678\r\n", filler);
	struct msg x;
	from_bytes(body, strlen(body), &x);
	assert_int_equal(sx_analyze(x.m, 1, NULL, a), 0);
	unload(&x);
}

/* SX_LABEL_NEAR at its edge: 200 bytes between statement and URL is
 * beside, 201 is not. The next URL is further away still. */
static void test_optout_distance_edge(void **state)
{
	struct sx_analysis a;
	optout_at(200, &a);
	expect("200", &a, F_OPTIN, SX_CAT_JAPANESE, "opt-in@body;category.japanese@body");
	optout_at(201, &a);
	expect("201", &a, F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "opt-in@body;labeling.opt-out@body;category.japanese@body");
	expect_detail(&a, "labeling.opt-out", "\"配信停止\" without an address or URL within 200");
}

/* An HTML ad whose only opt-out statement is script text: not shown to the
 * reader, so missing. */
static void test_html_script_hidden(void **state)
{
	static const char text[] =
		"From: Shop <a@shop.example.jp>\r\nSubject: sale\r\n"
		"Content-Type: text/html; charset=utf-8\r\n\r\n"
		"<p>セール <a href=\"https://shop.example.jp/\">こちら</a></p>\r\n"
		"<script>document.write('配信停止 https://shop.example.jp/stop');</script>\r\n"
		"<style>.x{} /* 配信停止 https://shop.example.jp/stop */</style>\r\n"
		"<!-- 配信停止 https://shop.example.jp/stop -->\r\n"
		"<p>〒100-0001 東京都千代田区1-1 お問い合わせ help@shop.example.jp</p>\r\n";
	struct msg x;
	from_bytes(text, sizeof text - 1, &x);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 1, NULL, &a), 0);
	expect("script", &a, F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "opt-in@body;labeling.opt-out@body;category.japanese@body");
	unload(&x);
}

/* SX_ANALYZE_TEXT_MAX at its edge: the opt-out statement is the last thing
 * examined, or its last byte is one too far. */
static void text_cap(size_t extra, struct sx_analysis *a)
{
	static const char head[] =
		"From: =?UTF-8?B?5qCq5byP5Lya56S+44K144Oz44OX44Or?= <a@shop.example.jp>\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"
		"無料キャンペーン http://shop.example.jp/stop\r\n"
		"〒100-0001 東京都千代田区1-1 問い合わせ 03-1234-5678\r\n";
	static const char tail[] = "配信停止";
	const char *body_start = strstr(head, "\r\n\r\n") + 4;
	size_t body_head = strlen(body_start);
	/* Text examined: SX_ANALYZE_TEXT_MAX - 1 bytes of the part. */
	size_t fill = SX_ANALYZE_TEXT_MAX - 1 - body_head - strlen(tail) + extra;
	size_t n = strlen(head) + fill + strlen(tail) + 2;
	char *buf = malloc(n + 1);
	assert_non_null(buf);
	memcpy(buf, head, strlen(head));
	char *p = buf + strlen(head);
	memset(p, ' ', fill);
	/* Keep the URL close to the statement: the filler is one long gap
	 * except for a URL right before the statement. */
	static const char url[] = "https://shop.example.jp/s ";
	memcpy(p + fill - (sizeof url - 1), url, sizeof url - 1);
	memcpy(p + fill, tail, strlen(tail));
	memcpy(p + fill + strlen(tail), "\r\n", 2);
	struct msg x;
	from_bytes(buf, n, &x);
	free(buf);
	assert_int_equal(sx_analyze(x.m, 1, NULL, a), 0);
	unload(&x);
}

static void test_text_cap_edge(void **state)
{
	struct sx_analysis a;
	text_cap(0, &a);
	expect("at cap", &a, F_OPTIN, SX_CAT_JAPANESE, "opt-in@body;category.japanese@body");
	text_cap(1, &a);
	expect("past cap", &a, F_OPTIN | F_LABEL, SX_CAT_JAPANESE,
	       "opt-in@body;labeling.opt-out@body;category.japanese@body");
}

/* More findings than SX_EVIDENCE_MAX: the list stops, the flags do not. */
static void test_evidence_cap(void **state)
{
	struct sx_buf b;
	sx_buf_init(&b, 1 << 20);
	const char *h = "Authentication-Results: mx.example.jp;\r\n"
			" spf=fail; dkim=fail; dmarc=fail\r\n"
			"From: x@example.com\r\nSubject: free\r\n"
			"Content-Type: multipart/mixed; boundary=B\r\n\r\n";
	assert_int_equal(sx_buf_append(&b, h, strlen(h)), 0);
	for (int i = 0; i < 20; i++) {
		char part[200];
		int n = snprintf(part, sizeof part,
				 "--B\r\nContent-Type: application/octet-stream;"
				 " name=\"f%d.exe\"\r\n\r\nMZ\r\n", i);
		assert_int_equal(sx_buf_append(&b, part, (size_t)n), 0);
	}
	assert_int_equal(sx_buf_append(&b, "--B--\r\n", 7), 0);
	struct msg x;
	from_bytes(sx_buf_head(&b), sx_buf_used(&b), &x);
	sx_buf_finish(&b);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 1, NULL, &a), 0);
	assert_int_equal(a.nev, SX_EVIDENCE_MAX);
	assert_int_equal(a.flags, F_SPOOF | F_OPTIN | F_LABEL);
	assert_true(a.categories & SX_CAT_VIRUS);
	assert_string_equal(a.ev[0].check, "spoofing.spf");
	assert_string_equal(a.ev[SX_EVIDENCE_MAX - 1].check, "category.virus");
	unload(&x);
}

static void test_names(void **state)
{
	assert_string_equal(sx_flag_name(SX_FLAG_OPTIN), "opt-in");
	assert_string_equal(sx_flag_name(SX_FLAG_LABELING), "labeling");
	assert_string_equal(sx_flag_name(SX_FLAG_SPOOFING), "spoofing");
	assert_string_equal(sx_flag_name((enum sx_flag)0), "unknown");
	assert_string_equal(sx_category_name(SX_CAT_JAPANESE), "japanese");
	assert_string_equal(sx_category_name(SX_CAT_FOREIGN), "foreign");
	assert_string_equal(sx_category_name(SX_CAT_GARBLED), "garbled");
	assert_string_equal(sx_category_name(SX_CAT_VIRUS), "virus");
	assert_string_equal(sx_category_name(SX_CAT_INSUFFICIENT), "insufficient");
	assert_string_equal(sx_category_name((enum sx_category)64), "unknown");
}

/* Chinese (kanji, no kana) and Korean are foreign; a short Japanese line in
 * English mail does not make it Japanese. */
static void test_language(void **state)
{
	static const struct { const char *body; unsigned cat; } c[] = {
		{ "这是一个测试邮件，请不要回复。我们提供最好的服务和价格。", SX_CAT_FOREIGN },
		{ "안녕하세요 고객님, 특별 할인 행사를 안내해 드립니다.", SX_CAT_FOREIGN },
		{ "Dear customer, we would like to tell you about our new services and prices "
		  "for the coming season. Kind regards. よろしく", SX_CAT_FOREIGN },
		{ "お知らせ: new prices", SX_CAT_JAPANESE },
		{ "ok", 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "From: x@example.com\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", c[i].body);
		struct msg x;
		from_bytes(text, strlen(text), &x);
		struct sx_analysis a;
		assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
		if (a.categories != c[i].cat) {
			dump(&a);
			fail_msg("\"%s\": categories %#x, want %#x", c[i].body, a.categories,
				 c[i].cat);
		}
		unload(&x);
	}
}

/* Japanese without a charset label: raw ISO-2022-JP (7-bit, so it would
 * pass as ASCII) in the body or the subject, and 8-bit Shift_JIS. */
#define JIS "\x1b\x24\x42\x24\x2a\x43\x4e\x24\x69\x24\x3b\x24\x47\x24\x39\x21\x23\x24\x34" \
	"\x33\x4e\x47\x27\x24\x2f\x24\x40\x24\x35\x24\x24\x21\x23\x1b\x28\x42"
#define SJIS "\x82\xa8\x92\x6d\x82\xe7\x82\xb9\x82\xc5\x82\xb7\x81\x42\x82\xb2\x8a\x6d\x94" \
	"\x46\x82\xad\x82\xbe\x82\xb3\x82\xa2\x81\x42"

static void test_unlabelled_japanese(void **state)
{
	static const char *const texts[] = {
		"From: a@example.jp\r\nContent-Type: text/plain\r\n\r\n" JIS "\r\n",
		"From: a@example.jp\r\nSubject: " JIS "\r\n\r\nok\r\n",
		"From: a@example.jp\r\n\r\n" SJIS "\r\n",
		"From: a@example.jp\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
		SJIS "\r\n",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct msg x;
		from_bytes(texts[i], strlen(texts[i]), &x);
		struct sx_analysis a;
		assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
		if (a.categories != SX_CAT_JAPANESE) {
			dump(&a);
			fail_msg("case %zu: categories %#x", i, a.categories);
		}
		unload(&x);
	}
}

/* The labeling evidence of a public (non-monitor) report with this body,
 * as "check;check". */
static void label_case(const char *body, const char *want)
{
	char text[4096];
	snprintf(text, sizeof text,
		 "From: x@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		 body);
	struct msg x;
	from_bytes(text, strlen(text), &x);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
	unload(&x);
	char got[512] = "";
	for (unsigned i = 0; i < a.nev; i++) {
		if (a.ev[i].flag != SX_FLAG_LABELING)
			continue;
		size_t have = strlen(got);
		snprintf(got + have, sizeof got - have, "%s%s", have ? ";" : "", a.ev[i].check);
	}
	if (strcmp(got, want) != 0) {
		dump(&a);
		fail_msg("\"%.60s...\": labeling \"%s\", want \"%s\"", body, got, want);
	}
	assert_int_equal(!!(a.flags & SX_FLAG_LABELING), want[0] != '\0');
}

#define FAR "                                                                      " \
	"                                                                      " \
	"                                                                      "

/* Each indication on its own, with what must not be taken for it. */
static void test_label_details(void **state)
{
	/* Complaint contact by a full-width phone number alone (the URLs are
	 * more than 200 bytes away). */
	label_case("株式会社エー 配信停止 https://a.example.jp/stop 無料" FAR "\n"
		   "〒100-0001 お問い合わせ ０３－１２３４－５６７８", "");
	label_case("株式会社エー 配信停止 https://a.example.jp/stop 無料" FAR "\n"
		   "〒100-0001 お問い合わせ 平日のみ", "labeling.contact");
	/* English address: street and ZIP; a phone number is no postal code. */
	label_case("Example Inc. offer: https://a.example.com/ To unsubscribe reply to "
		   "stop@example.com. 1 Main Street, Springfield, IL 62701. Contact: "
		   "+1 555-010-0199", "");
	label_case("Example Inc. offer: https://a.example.com/ To unsubscribe reply to "
		   "stop@example.com. 1 Main Street, Springfield. Contact: +1 555-010-0199",
		   "labeling.postal-address");
	label_case("Example Ltd. offer https://a.example.com/ unsubscribe: stop@example.com. "
		   "1-2-3 Jingumae, Shibuya-ku, Tokyo 150-0001. Contact help@example.com", "");
	/* "unsubscribe" inside a link is not a statement to the reader. */
	label_case("Example Inc. offer https://a.example.com/unsubscribe?id=1 "
		   "1 Main Street, Springfield, IL 62701. Contact help@example.com",
		   "labeling.opt-out");
	/* A redacted recipient address is not an opt-out address. */
	label_case("株式会社エー 無料 東京都港区1-1 苦情 03-1234-5678\n" FAR
		   "\nこのメールは redacted@redacted.invalid に送信しています。配信停止",
		   "labeling.opt-out");
	label_case("株式会社エー 無料 東京都港区1-1 苦情 03-1234-5678\n" FAR
		   "\n配信停止は stop＠example.jp まで", "");
	/* A prefecture needs a city after it; a sender name in the body. */
	label_case("無料 運営 https://a.example.jp/ 配信停止 苦情 03-1234-5678 大阪府のお客様へ",
		   "labeling.postal-address");
	label_case("無料 https://a.example.jp/ 配信停止 苦情 03-1234-5678 大阪府大阪市",
		   "labeling.sender-name");
}

static unsigned categories_of(const char *body, size_t n)
{
	struct sx_buf b;
	sx_buf_init(&b, 1 << 20);
	const char *h = "From: x@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
	assert_int_equal(sx_buf_append(&b, h, strlen(h)), 0);
	assert_int_equal(sx_buf_append(&b, body, n), 0);
	struct msg x;
	from_bytes(sx_buf_head(&b), sx_buf_used(&b), &x);
	sx_buf_finish(&b);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
	unload(&x);
	return a.categories;
}

static unsigned categories_rep(const char *head, const char *unit, size_t count)
{
	char body[1024];
	size_t n = strlen(head);
	memcpy(body, head, n);
	for (size_t i = 0; i < count; i++) {
		memcpy(body + n, unit, strlen(unit));
		n += strlen(unit);
	}
	return categories_of(body, n);
}

#define FFFD "\xef\xbf\xbd"

/* The category thresholds at their edges (SX_JAPANESE_SHARE_PCT 10,
 * SX_GARBLED_MIN 4, SX_GARBLED_REPLACEMENT_PCT 5, SX_GARBLED_MOJIBAKE_PCT 50,
 * SX_FOREIGN_MIN_LETTERS 8 in analyze.c). */
static void test_category_edges(void **state)
{
	/* 3 kana of 30 letters is 10 %; of 31 it is less. */
	assert_int_equal(categories_rep("あいう ", "a", 27), SX_CAT_JAPANESE);
	assert_int_equal(categories_rep("あいう ", "a", 28), SX_CAT_FOREIGN);
	/* Kana and kanji below the minimum count. */
	assert_int_equal(categories_rep("あ日", "", 0), 0);
	/* 4 U+FFFD of 80 characters is 5 %; of 81 it is less. */
	assert_int_equal(categories_rep(FFFD FFFD FFFD FFFD, "b", 76), SX_CAT_GARBLED);
	assert_int_equal(categories_rep(FFFD FFFD FFFD FFFD, "b", 77), SX_CAT_FOREIGN);
	assert_int_equal(categories_rep(FFFD FFFD FFFD, "", 0), 0);
	/* A run of 4 Latin-1 letters against 4 or 5 Cyrillic ones. */
	assert_int_equal(categories_rep("ÃÃÃÃ ", "Д", 4), SX_CAT_GARBLED);
	assert_int_equal(categories_rep("ÃÃÃÃ ", "Д", 5), SX_CAT_FOREIGN);
	/* Seven letters are not enough to call a language, eight are. */
	assert_int_equal(categories_rep("", "z", 7), 0);
	assert_int_equal(categories_rep("", "z", 8), SX_CAT_FOREIGN);
}

/* SX_ANALYZE_SUBJECT_RAW_MAX at its edge: an offer word ending on the last
 * byte examined counts, one byte later it is cut. */
static void test_subject_cap_edge(void **state)
{
	for (int extra = 0; extra <= 1; extra++) {
		size_t pad = SX_ANALYZE_SUBJECT_RAW_MAX - 5 + (size_t)extra;
		struct sx_buf b;
		sx_buf_init(&b, 1 << 20);
		assert_int_equal(sx_buf_append(&b, "Subject: ", 9), 0);
		assert_int_equal(sx_buf_reserve(&b, pad), 0);
		memset(sx_buf_tail(&b), 'a', pad);
		sx_buf_commit(&b, pad);
		const char *end = " free\r\nFrom: x@example.com\r\n\r\nhello\r\n";
		assert_int_equal(sx_buf_append(&b, end, strlen(end)), 0);
		struct msg x;
		from_bytes(sx_buf_head(&b), sx_buf_used(&b), &x);
		sx_buf_finish(&b);
		struct sx_analysis a;
		assert_int_equal(sx_analyze(x.m, 1, NULL, &a), 0);
		assert_int_equal(a.advertising, !extra);
		unload(&x);
	}
}

/* SX_LABEL_POINTS_MAX at its edge: the opt-out URL is the last point kept,
 * or one too many. */
static void test_points_edge(void **state)
{
	for (int extra = 0; extra <= 1; extra++) {
		struct sx_buf b;
		sx_buf_init(&b, 1 << 20);
		const char *h = "From: x@example.com\r\n"
				"Content-Type: text/plain; charset=utf-8\r\n\r\n"
				"株式会社エー 〒100-0001 苦情 03-1234-5678 無料\r\n";
		assert_int_equal(sx_buf_append(&b, h, strlen(h)), 0);
		for (size_t i = 0; i < SX_LABEL_POINTS_MAX - 1 + (size_t)extra; i++) {
			char u[64];
			int n = snprintf(u, sizeof u, "http://u%zu.example.com/ ", i);
			assert_int_equal(sx_buf_append(&b, u, (size_t)n), 0);
		}
		const char *t = "\r\n" FAR "\r\n配信停止 http://stop.example.com/\r\n";
		assert_int_equal(sx_buf_append(&b, t, strlen(t)), 0);
		struct msg x;
		from_bytes(sx_buf_head(&b), sx_buf_used(&b), &x);
		sx_buf_finish(&b);
		struct sx_analysis a;
		assert_int_equal(sx_analyze(x.m, 0, NULL, &a), 0);
		assert_int_equal(a.flags, extra ? F_LABEL : 0u);
		unload(&x);
	}
}

/* Empty values and parts everywhere: nothing to find, nothing to crash on. */
static void test_empty_values(void **state)
{
	static const char text[] =
		"Authentication-Results:\r\nReceived-SPF:\r\nFrom:\r\nSubject:\r\nDate:\r\n"
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"--B\r\nContent-Type: text/html; charset=shift_jis\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"--B\r\nContent-Type: application/octet-stream; name=\"\"\r\n"
		"Content-Disposition: attachment; filename=\"...\"\r\n\r\n"
		"--B\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
		"--B--\r\n";
	struct msg x;
	from_bytes(text, sizeof text - 1, &x);
	struct sx_analysis a;
	assert_int_equal(sx_analyze(x.m, 1, NULL, &a), 0);
	expect("empty", &a, 0, 0, "");
	unload(&x);
}

/* The label checks over a text given as subject and body directly. */
static void label_words(const char *subject, const char *body, struct sx_label_words *w)
{
	assert_int_equal(sx_label_words_init(w, (const uint8_t *)subject, strlen(subject),
					     (const uint8_t *)body, strlen(body)),
			 0);
}

/* Offer words: case-insensitive whole words, the earliest occurrence wins
 * (on a tie at one offset, the word listed first: "loan" before "loans"),
 * Japanese words match inside Japanese text, the subject before the body. */
static void test_words_semantics(void **state)
{
	static struct sx_label_words w;
	struct sx_ad ad;
	label_words("", "Freedom and a FREE gift, Click here", &w);
	sx_label_advertising(&w, &ad);
	assert_int_equal(ad.keyword, 1);
	assert_string_equal(ad.keyword_text, "free");
	assert_string_equal(ad.keyword_where, "body");
	label_words("", "freedom clicks, then CLICK", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "click");
	label_words("", "LOANS today", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "loans"); /* "loan" is not a whole word there */
	label_words("", "loan loans", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "loan");
	label_words("", "今なら特典付き、無料です", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "特典");
	label_words("セール開催", "free", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "セール");
	assert_string_equal(ad.keyword_where, "Subject");
	label_words("", "50% OFF now", &w);
	sx_label_advertising(&w, &ad);
	assert_string_equal(ad.keyword_text, "% off");
	label_words("", "nothing here 2free", &w);
	sx_label_advertising(&w, &ad);
	assert_int_equal(ad.keyword, 0);

	/* Opt-out words inside a URL or an address do not count; outside they
	 * do, the list order decides between words. */
	struct sx_labels l;
	label_words("", "see https://a.example.com/unsubscribe and stop@example.com", &w);
	sx_label_scan(&w, &l);
	assert_int_equal(l.optout, 0);
	assert_string_equal(l.optout_stmt, "");
	label_words("", "https://a.example.com/unsubscribe, or else REMOVE: stop@example.com", &w);
	sx_label_scan(&w, &l);
	assert_int_equal(l.optout, 1);
	assert_string_equal(l.optout_stmt, "remove");
	assert_string_equal(l.optout_where, "stop@example.com");
	/* Sender names: the first word of the list found, not the earliest. */
	label_words("", "Example Ltd. and Example Inc.", &w);
	sx_label_scan(&w, &l);
	assert_string_equal(l.name, "Inc.");
	label_words("", "（株）エー 〒１００－０００１ 東京都千代田区 お問い合わせ 03-1234-5678", &w);
	sx_label_scan(&w, &l);
	assert_string_equal(l.name, "（株）");
	assert_string_equal(l.postal, "〒100-0001");
	assert_int_equal(l.contact, 1);
	assert_string_equal(l.contact_word, "問い合わせ");
}

static void check_find_all(const uint8_t *s, size_t n, const char *const *words, size_t count)
{
	static struct sx_wordset set;
	static struct sx_wordhits h;
	const char *const *lists[] = { words };
	assert_int_equal(sx_words_build(&set, lists, &count, 1), 0);
	sx_words_scan(&h, &set, s, n);
	for (size_t k = 0; k < count; k++) {
		/* forwards (the cursor) and then from the start again */
		for (size_t pass = 0; pass < 2; pass++)
			for (size_t from = 0; from <= n; from += pass ? 7 : 1)
				assert_int_equal(sx_words_find(&h, 0, (unsigned)k, from),
						 sx_words_find_one(s, n, from, words[k]));
	}
}

/* The one-pass record answers as searching word by word does, also past
 * SX_WORDS_HITS_MAX occurrences (where it falls back to searching). */
static void test_words_match_search(void **state)
{
	static const char *const words[] = {
		"free", "Free gift", "無料", "無料配信", "st.", "(株)", "% off", "loan", "loans",
		"-ku", "〒",
	};
	static const char *const parts[] = {
		"free", "FREE ", "freedom ", "無料", "無料配信", "x", " ", "st.", "ST.x", "(株)",
		"50% OFF", "loans", "loan", "Shibuya-ku", "〒", "\xe3", "1", "Free gift",
	};
	uint8_t buf[8192];
	uint32_t seed = 12345;
	for (int round = 0; round < 4; round++) {
		size_t n = 0;
		for (;;) {
			seed = seed * 1103515245u + 12345u;
			const char *p = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
			size_t l = strlen(p);
			if (n + l > (round == 3 ? sizeof buf : 600))
				break;
			memcpy(buf + n, p, l);
			n += l;
		}
		check_find_all(buf, n, words, sizeof words / sizeof words[0]);
	}
	/* more occurrences than recorded */
	size_t n = 0;
	while (n + 5 <= sizeof buf) {
		memcpy(buf + n, "free ", 5);
		n += 5;
	}
	check_find_all(buf, n, words, sizeof words / sizeof words[0]);
	/* words the matcher cannot take */
	static struct sx_wordset set;
	static const char *const shrt[] = { "ab" };
	const char *const *lists[] = { shrt };
	size_t one = 1;
	assert_int_equal(sx_words_build(&set, lists, &one, 1), SX_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ja_utf8_labeled),
		cmocka_unit_test(test_ja_iso2022jp_no_optout),
		cmocka_unit_test(test_ja_sjis_no_postal),
		cmocka_unit_test(test_ja_html_labeled),
		cmocka_unit_test(test_en_spf_fail),
		cmocka_unit_test(test_en_dkim_fail),
		cmocka_unit_test(test_en_ad_unlabeled),
		cmocka_unit_test(test_ja_forged_received),
		cmocka_unit_test(test_virus),
		cmocka_unit_test(test_garbled),
		cmocka_unit_test(test_no_headers),
		cmocka_unit_test(test_optout_distance_edge),
		cmocka_unit_test(test_html_script_hidden),
		cmocka_unit_test(test_text_cap_edge),
		cmocka_unit_test(test_evidence_cap),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_unlabelled_japanese),
		cmocka_unit_test(test_label_details),
		cmocka_unit_test(test_category_edges),
		cmocka_unit_test(test_subject_cap_edge),
		cmocka_unit_test(test_points_edge),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_words_semantics),
		cmocka_unit_test(test_words_match_search),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
