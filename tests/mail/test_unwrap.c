/*
 * test_unwrap.c: finding the spam inside a forwarded report (mail/unwrap.c).
 *
 * Attached forwards must come out byte for byte (after their transfer
 * encoding); inline forwards of each client's marker must come out as a
 * message whose header holds the quoted fields under their English names.
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
#include "mail/codec.h"
#include "mail/mime.h"
#include "mail/unwrap.h"

#define SPAM_MAX (4u << 20)

static uint8_t *load(const char *name, size_t *len)
{
	const char *dir = getenv("SPREX_TESTDATA");
	char path[512];
	snprintf(path, sizeof path, "%s/reports/%s", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *b = malloc(SPAM_MAX);
	assert_non_null(b);
	*len = fread(b, 1, SPAM_MAX, f);
	fclose(f);
	return b;
}

struct unwrapped {
	struct sx_buf spam;
	enum sx_unwrap_how how;
	struct sx_mail *m;   /* the spam, parsed */
};

static void unwrap_buf(const uint8_t *buf, size_t len, struct unwrapped *u)
{
	struct sx_mail *outer = NULL;
	char err[128];
	assert_int_equal(sx_mail_parse(buf, len, NULL, &outer, err, sizeof err), 0);
	sx_buf_init(&u->spam, SPAM_MAX);
	assert_int_equal(sx_unwrap(outer, &u->spam, &u->how), 0);
	sx_mail_destroy(outer);
	u->m = NULL;
	assert_int_equal(sx_mail_parse(sx_buf_head(&u->spam), sx_buf_used(&u->spam), NULL, &u->m,
				       err, sizeof err), 0);
}

static void unwrap_str(const char *s, struct unwrapped *u)
{
	/* LF line ends become CRLF */
	size_t n = 0, k = strlen(s);
	uint8_t *b = malloc(2 * k + 1);
	for (size_t i = 0; i < k; i++) {
		if (s[i] == '\n')
			b[n++] = '\r';
		b[n++] = (uint8_t)s[i];
	}
	unwrap_buf(b, n, u);
	free(b);
}

static void done(struct unwrapped *u)
{
	sx_mail_destroy(u->m);
	sx_buf_finish(&u->spam);
}

/* The unfolded value of the spam's field name ("" when absent). */
static const char *field(struct unwrapped *u, const char *name)
{
	static char v[1024];
	unsigned it = 0;
	const struct sx_hfield *f = sx_mail_field(u->m, 0, name, &it);
	struct sx_buf b;
	v[0] = '\0';
	if (!f)
		return v;
	sx_buf_init(&b, sizeof v - 1);
	assert_int_equal(sx_mail_unfold(u->m, f, &b), 0);
	memcpy(v, sx_buf_head(&b), sx_buf_used(&b));
	v[sx_buf_used(&b)] = '\0';
	sx_buf_finish(&b);
	return v;
}

static int body_has(struct unwrapped *u, const char *needle)
{
	const struct sx_part *p = &u->m->parts[0];
	return memmem(u->m->buf + p->body.off, p->body.len, needle, strlen(needle)) != NULL;
}

static void test_attached(void **state)
{
	size_t n, sn;
	uint8_t *b = load("report-attached.eml", &n);
	uint8_t *spam = load("spam-multi.eml", &sn);
	struct unwrapped u;
	unwrap_buf(b, n, &u);
	assert_int_equal(u.how, SX_UNWRAP_ATTACHED);
	/* the attachment byte for byte */
	assert_int_equal(sx_buf_used(&u.spam), sn);
	assert_memory_equal(sx_buf_head(&u.spam), spam, sn);
	assert_string_equal(field(&u, "Message-ID"), "<20240105095958.99AA@shop.example.com>");
	done(&u);
	free(b);
	free(spam);
}

static void test_attached_base64(void **state)
{
	size_t n, sn;
	uint8_t *b = load("report-attached-b64.eml", &n);
	uint8_t *spam = load("spam-headers.eml", &sn);
	struct unwrapped u;
	unwrap_buf(b, n, &u);
	assert_int_equal(u.how, SX_UNWRAP_ATTACHED);
	assert_int_equal(sx_buf_used(&u.spam), sn);
	assert_memory_equal(sx_buf_head(&u.spam), spam, sn);
	done(&u);
	free(b);
	free(spam);
}

static void test_attached_nested(void **state)
{
	/* the first message/rfc822 anywhere in the tree, also quoted-printable */
	struct unwrapped u;
	unwrap_str("From: r@example.jp\nContent-Type: multipart/mixed; boundary=o\n\n"
		   "--o\nContent-Type: multipart/alternative; boundary=i\n\n"
		   "--i\nContent-Type: text/plain\n\nnote\n--i\n"
		   "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
		   "Subject: caf=C3=A9\nTo: a@example.jp\n\nbody=\n text\n--i--\n--o--\n", &u);
	assert_int_equal(u.how, SX_UNWRAP_ATTACHED);
	assert_string_equal(field(&u, "Subject"), "café");
	assert_true(body_has(&u, "body text"));
	done(&u);
}

static void test_inline_gmail(void **state)
{
	size_t n;
	uint8_t *b = load("report-inline-gmail.eml", &n);
	struct unwrapped u;
	unwrap_buf(b, n, &u);
	assert_int_equal(u.how, SX_UNWRAP_INLINE);
	assert_string_equal(field(&u, "From"), "Lucky Draw <winner@lotto.example.com>");
	assert_string_equal(field(&u, "To"), "Taro Yamada <taro.yamada@example.jp>");
	assert_string_equal(field(&u, "Subject"), "You won 1,000,000 yen");
	assert_string_equal(field(&u, "Date"), "Sun, Jan 7, 2024 at 9:15 AM");
	assert_string_equal(field(&u, "Content-Type"), "text/plain; charset=utf-8");
	assert_true(body_has(&u, "Claim at https://lotto.example.com/claim?id=42"));
	/* the reporter's own words before the marker are not the spam */
	assert_false(body_has(&u, "Please look at this spam"));
	done(&u);
	free(b);
}

static void test_inline_outlook_jp(void **state)
{
	size_t n;
	uint8_t *b = load("report-inline-outlook-jp.eml", &n);
	struct unwrapped u;
	unwrap_buf(b, n, &u);
	assert_int_equal(u.how, SX_UNWRAP_INLINE);
	/* ISO-2022-JP text, labels in Japanese: UTF-8 under English names */
	assert_string_equal(field(&u, "From"), "出会いサイト <info@deai.example.net>");
	assert_string_equal(field(&u, "Date"), "2024年1月8日 10:30");
	assert_string_equal(field(&u, "To"), "山田 太郎 <taro.yamada@example.jp>");
	assert_string_equal(field(&u, "Subject"), "【無料】素敵な出会い");
	assert_true(body_has(&u, "今すぐ登録"));
	done(&u);
	free(b);
}

/* One marker line of each client, and the block it introduces. */
static void test_markers(void **state)
{
	static const char *const markers[] = {
		"---------- Forwarded message ---------",
		"-------- Original Message --------",
		"-------- Forwarded Message --------",
		"-----Original Message-----",
		"Begin forwarded message:",
		"----- Forwarded Message -----",
		"-------- 転送メッセージ --------",
		"---------- 転送されたメッセージ ----------",
		"----- 転送メッセージ -----",
		"________________________________",
	};
	for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
		char msg[1024];
		struct unwrapped u;
		snprintf(msg, sizeof msg,
			 "From: r@example.jp\nContent-Type: text/plain; charset=utf-8\n\n"
			 "see below\n\n%s\nSubject: \tOffer %zu\nDate: \tMon, 8 Jan 2024\n"
			 "From: \tShop <s@shop.example.com>\nTo: \tr@example.jp\n\nBuy now %zu\n",
			 markers[i], i, i);
		unwrap_str(msg, &u);
		print_message("marker %zu\n", i);
		assert_int_equal(u.how, SX_UNWRAP_INLINE);
		char want[64];
		snprintf(want, sizeof want, "Offer %zu", i);
		assert_string_equal(field(&u, "Subject"), want);
		assert_string_equal(field(&u, "To"), "r@example.jp");
		snprintf(want, sizeof want, "Buy now %zu", i);
		assert_true(body_has(&u, want));
		done(&u);
	}
}

static void test_inline_variants(void **state)
{
	struct unwrapped u;
	/* Outlook JP labels, full-width colons, 送信者 beside 差出人, CC */
	unwrap_str("From: r@example.jp\nContent-Type: text/plain; charset=utf-8\n\n"
		   "-----Original Message-----\n差出人：Shop <s@shop.example.com>\n"
		   "送信者: bulk@shop.example.com\n送信日時: 2024年1月8日 10:30\n"
		   "宛先: r@example.jp\nCC: c@example.jp\n件名：セール\n\nbody\n", &u);
	assert_int_equal(u.how, SX_UNWRAP_INLINE);
	assert_string_equal(field(&u, "From"), "Shop <s@shop.example.com>");
	assert_string_equal(field(&u, "Sender"), "bulk@shop.example.com");
	assert_string_equal(field(&u, "Cc"), "c@example.jp");
	assert_string_equal(field(&u, "Subject"), "セール");
	assert_string_equal(field(&u, "Date"), "2024年1月8日 10:30");
	done(&u);

	/* quoted with "> ", a folded To, and a Content-Type of its own */
	unwrap_str("From: r@example.jp\n\nfyi\n> ----- Forwarded Message -----\n"
		   "> From: Shop <s@shop.example.com>\n> To: a@example.jp,\n>  b@example.jp\n"
		   "> Subject: quoted\n> Content-Type: text/plain; charset=us-ascii\n>\n"
		   "> quoted body\n", &u);
	assert_int_equal(u.how, SX_UNWRAP_INLINE);
	assert_string_equal(field(&u, "To"), "a@example.jp, b@example.jp");
	assert_string_equal(field(&u, "Content-Type"), "text/plain; charset=us-ascii");
	assert_true(body_has(&u, "quoted body"));
	assert_false(body_has(&u, "> quoted"));
	done(&u);

	/* HTML only: tags go, references are decoded */
	unwrap_str("From: r@example.jp\nContent-Type: text/html; charset=utf-8\n\n"
		   "<div>fyi</div><div>---------- Forwarded message ---------<br>"
		   "From: <strong>Shop</strong> &lt;s@shop.example.com&gt;<br>"
		   "Subject: html one<br>To: &lt;r@example.jp&gt;<br><br>Sale &amp; more</div>\n",
		   &u);
	assert_int_equal(u.how, SX_UNWRAP_INLINE);
	assert_string_equal(field(&u, "From"), "Shop <s@shop.example.com>");
	assert_string_equal(field(&u, "Subject"), "html one");
	assert_true(body_has(&u, "Sale & more"));
	done(&u);

	/* a marker followed by no header block is no forward */
	unwrap_str("From: r@example.jp\n\n-----Original Message-----\njust text\n", &u);
	assert_int_equal(u.how, SX_UNWRAP_NONE);
	done(&u);
}

static void test_none(void **state)
{
	size_t n;
	uint8_t *b = load("report-none.eml", &n);
	struct unwrapped u;
	unwrap_buf(b, n, &u);
	assert_int_equal(u.how, SX_UNWRAP_NONE);
	/* no header at all: the outer body is the body */
	assert_int_equal(u.m->nfields, 0);
	assert_true(body_has(&u, "I keep getting spam from spam.example.com"));
	assert_null(memmem(sx_buf_head(&u.spam), sx_buf_used(&u.spam), "taro", 4));
	done(&u);
	free(b);
}

static void test_bound(void **state)
{
	size_t n;
	uint8_t *b = load("report-attached.eml", &n);
	struct sx_mail *outer = NULL;
	struct sx_buf spam;
	enum sx_unwrap_how how;
	char err[128];
	assert_int_equal(sx_mail_parse(b, n, NULL, &outer, err, sizeof err), 0);
	sx_buf_init(&spam, 100);
	assert_int_equal(sx_unwrap(outer, &spam, &how), SX_ETOOBIG);
	sx_buf_finish(&spam);
	sx_mail_destroy(outer);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attached),
		cmocka_unit_test(test_attached_base64),
		cmocka_unit_test(test_attached_nested),
		cmocka_unit_test(test_inline_gmail),
		cmocka_unit_test(test_inline_outlook_jp),
		cmocka_unit_test(test_markers),
		cmocka_unit_test(test_inline_variants),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
