/*
 * test_ident.c: the identifier set and its collection (mail/ident.c).
 *
 * Collection is tested field by field on small messages: every address-list
 * form RFC 5322 allows (and some it does not), Received "for", Resent-*,
 * encoded and raw 8-bit display names. The set is tested at its limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "mail/ident.h"
#include "mail/mime.h"
#include "mail/redact.h"

static int has(const struct sx_idset *s, enum sx_ident_kind k, const char *text)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].kind == k && strcmp(s->v[i].text, text) == 0)
			return 1;
	return 0;
}

static void dump(const struct sx_idset *s)
{
	for (size_t i = 0; i < s->n; i++)
		print_message("  %s [%s]\n", sx_ident_kind_name(s->v[i].kind), s->v[i].text);
}

/* Collects from a spam made of the given header lines (LF ends become CRLF). */
static void collect_spam(const char *hdr, struct sx_idset *s)
{
	char buf[4096];
	size_t n = 0;
	for (const char *p = hdr; *p && n + 2 < sizeof buf; p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	memcpy(buf + n, "\r\nbody\r\n", 8);
	n += 8;
	struct sx_mail *m = NULL;
	char err[128];
	assert_int_equal(sx_mail_parse((const uint8_t *)buf, n, NULL, &m, err, sizeof err), 0);
	sx_idset_init(s);
	assert_int_equal(sx_ident_collect(NULL, m, s), 0);
	sx_mail_destroy(m);
}

static void test_add_trim_lower(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	sx_idset_init(s);
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, " \"Taro.Yamada@Example.JP\" ", 26), 0);
	assert_int_equal(s->n, 2);
	assert_true(has(s, SX_ID_ADDRESS, "taro.yamada@example.jp"));
	assert_true(has(s, SX_ID_LOCALPART, "taro.yamada"));
	/* duplicates, also in another case, are ignored */
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, "TARO.YAMADA@EXAMPLE.JP", 22), 0);
	assert_int_equal(s->n, 2);
	/* names keep their case and get the variant without blanks */
	assert_int_equal(sx_idset_add_given(s, "Taro Yamada"), 0);
	assert_true(has(s, SX_ID_NAME, "Taro Yamada"));
	assert_true(has(s, SX_ID_NAME, "TaroYamada"));
	/* U+3000 is a blank too */
	assert_int_equal(sx_idset_add_given(s, "\xe3\x80\x80山田\xe3\x80\x80太郎 "), 0);
	assert_true(has(s, SX_ID_NAME, "山田\xe3\x80\x80太郎"));
	assert_true(has(s, SX_ID_NAME, "山田太郎"));
	/* text with '@' given on the command line is an address */
	assert_int_equal(sx_idset_add_given(s, "hanako@example.com"), 0);
	assert_true(has(s, SX_ID_ADDRESS, "hanako@example.com"));
	assert_true(has(s, SX_ID_LOCALPART, "hanako"));
	free(s);
}

static void test_add_refusals(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	char big[SX_IDENT_LEN_MAX + 2];
	sx_idset_init(s);
	assert_int_equal(sx_idset_add(s, SX_ID_NAME, "  \"\" ", 5), SX_EINVAL);
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, "noat", 4), SX_EINVAL);
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, "@example.jp", 11), SX_EINVAL);
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, "taro@", 5), SX_EINVAL);
	/* the longest identifier is accepted, one byte more is refused */
	memset(big, 'a', sizeof big);
	assert_int_equal(sx_idset_add(s, SX_ID_NAME, big, SX_IDENT_LEN_MAX), 0);
	assert_int_equal(sx_idset_add(s, SX_ID_NAME, big, SX_IDENT_LEN_MAX + 1), SX_EINVAL);
	/* what the redactor writes is never an identifier */
	size_t n = s->n;
	assert_int_equal(sx_idset_add_given(s, SX_REDACTED_ADDRESS), 0);
	assert_int_equal(sx_idset_add_given(s, SX_REDACTED_TEXT), 0);
	assert_int_equal(sx_idset_add_given(s, "Redacted"), 0);
	assert_int_equal(sx_idset_add_given(s, "invalid"), 0);
	assert_int_equal(s->n, n);
	free(s);
}

static void test_add_limit(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	char t[32];
	sx_idset_init(s);
	for (int i = 0; i < SX_IDENTS_MAX; i++) {
		snprintf(t, sizeof t, "name-%04d", i);
		assert_int_equal(sx_idset_add(s, SX_ID_NAME, t, strlen(t)), 0);
	}
	assert_int_equal(s->n, SX_IDENTS_MAX);
	assert_int_equal(sx_idset_add(s, SX_ID_NAME, "one-more", 8), SX_ELIMIT);
	/* a duplicate is no addition, even when full */
	assert_int_equal(sx_idset_add(s, SX_ID_NAME, "name-0000", 9), 0);
	/* an address needs two places: the local part no longer fits */
	sx_idset_init(s);
	for (int i = 0; i < SX_IDENTS_MAX - 1; i++) {
		snprintf(t, sizeof t, "n%d", i);
		assert_int_equal(sx_idset_add(s, SX_ID_NAME, t, strlen(t)), 0);
	}
	assert_int_equal(sx_idset_add(s, SX_ID_ADDRESS, "a.b@example.jp", 14), SX_ELIMIT);
	free(s);
}

static void test_address_lists(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	collect_spam("To: \"Yamada, Taro\" <Taro.Yamada@example.jp>, hanako@example.com,\n"
		     " <bare@example.net>, Group: a1@example.org,\n"
		     " \"Q \\\"x\\\" R\" <a2@example.org>;\n"
		     "Cc: undisclosed-recipients:;\n"
		     "Bcc: (remark) old@example.com (Old Style Name)\n"
		     "Delivered-To: dt@example.jp\n"
		     "X-Original-To: xot@example.jp\n"
		     "Envelope-To: et@example.jp\n"
		     "X-Apparently-To: xat@example.jp\n"
		     "X-Rcpt-To: <xrt@example.jp>, <xrt2@example.jp>\n"
		     "From: spammer@spam.example.com\n"
		     "Subject: not an address: x@y.example", s);
	dump(s);
	const char *addrs[] = { "taro.yamada@example.jp", "hanako@example.com", "bare@example.net",
				"a1@example.org", "a2@example.org", "old@example.com",
				"dt@example.jp", "xot@example.jp", "et@example.jp",
				"xat@example.jp", "xrt@example.jp", "xrt2@example.jp" };
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
		assert_true(has(s, SX_ID_ADDRESS, addrs[i]));
	assert_true(has(s, SX_ID_LOCALPART, "taro.yamada"));
	assert_true(has(s, SX_ID_NAME, "Yamada, Taro"));
	assert_true(has(s, SX_ID_NAME, "Q \"x\" R"));
	assert_true(has(s, SX_ID_NAME, "Old Style Name"));
	/* group names, remarks, the sender and the subject are no identifiers */
	assert_false(has(s, SX_ID_NAME, "Group"));
	assert_false(has(s, SX_ID_NAME, "undisclosed-recipients"));
	assert_false(has(s, SX_ID_NAME, "remark"));
	assert_false(has(s, SX_ID_ADDRESS, "spammer@spam.example.com"));
	assert_false(has(s, SX_ID_ADDRESS, "x@y.example"));
	free(s);
}

static void test_route_and_comments(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	collect_spam("To: Taro <@relay1.example,@relay2.example:taro (home) @ example.jp>\n"
		     "Cc: \"quoted local\"@example.jp, Name (c) <x (y) @example.jp>", s);
	dump(s);
	assert_true(has(s, SX_ID_ADDRESS, "taro@example.jp"));
	assert_false(has(s, SX_ID_ADDRESS, "@relay1.example,@relay2.example:taro@example.jp"));
	assert_true(has(s, SX_ID_ADDRESS, "\"quoted local\"@example.jp") ||
		    has(s, SX_ID_ADDRESS, "quoted local@example.jp"));
	assert_true(has(s, SX_ID_ADDRESS, "x@example.jp"));
	assert_true(has(s, SX_ID_NAME, "Name"));
	free(s);
}

static void test_encoded_names(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	/* 山田 太郎 in UTF-8 B, ISO-2022-JP B (quoted), Shift_JIS Q, raw UTF-8 */
	collect_spam("To: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <a@example.jp>\n"
		     "Cc: \"=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=\" <b@example.jp>,\n"
		     " =?Shift_JIS?Q?=8D=B2=93=A1?= <c@example.jp>\n"
		     "Bcc: 鈴木 花子 <d@example.jp>", s);
	dump(s);
	assert_true(has(s, SX_ID_NAME, "山田 太郎"));
	assert_true(has(s, SX_ID_NAME, "山田太郎"));
	assert_true(has(s, SX_ID_NAME, "山田"));
	assert_true(has(s, SX_ID_NAME, "佐藤"));
	assert_true(has(s, SX_ID_NAME, "鈴木 花子"));
	assert_true(has(s, SX_ID_NAME, "鈴木花子"));
	free(s);
}

static void test_raw_8bit_name(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	/* 山田太郎 in Shift_JIS and in raw ISO-2022-JP */
	collect_spam("To: \x8eR\x93" "c\x91\xbe\x98Y <a@example.jp>\n"
		     "Cc: \x1b$B;3ED\x1b(B <b@example.jp>", s);
	dump(s);
	assert_true(has(s, SX_ID_NAME, "山田太郎"));
	assert_true(has(s, SX_ID_NAME, "山田"));
	free(s);
}

static void test_received_for(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	collect_spam("Received: from a.example (a.example [192.0.2.1])\n"
		     "\tby mx.example.jp with ESMTP id 1\n"
		     "\tfor <Rcpt1@Example.JP>; Fri, 5 Jan 2024 10:00:00 +0900\n"
		     "Received: from b.example by c.example for rcpt2@example.jp;\n"
		     " Fri, 5 Jan 2024\n"
		     "Received: by d.example (8.15) for <localonly>; Fri, 5 Jan 2024\n"
		     "Received: by e.example for multiple recipients; Fri, 5 Jan 2024\n"
		     "Received: from formosa.example by performer.example; Fri, 5 Jan 2024\n"
		     "Received: by f.example (envelope-from x@f.example)\n"
		     " (for rcpt3@example.jp)", s);
	dump(s);
	assert_true(has(s, SX_ID_ADDRESS, "rcpt1@example.jp"));
	assert_true(has(s, SX_ID_ADDRESS, "rcpt2@example.jp"));
	assert_true(has(s, SX_ID_ADDRESS, "rcpt3@example.jp"));
	assert_true(has(s, SX_ID_LOCALPART, "localonly"));
	assert_false(has(s, SX_ID_LOCALPART, "multiple"));
	assert_false(has(s, SX_ID_ADDRESS, "x@f.example"));
	assert_int_equal(s->n, 7);
	free(s);
}

static void test_resent(void **state)
{
	struct sx_idset *s = malloc(sizeof *s);
	collect_spam("Resent-From: Hanako <rf@example.com>\n"
		     "Resent-Sender: rs@example.com\n"
		     "Resent-To: rt@example.com\n"
		     "Resent-Cc: rc@example.com\n"
		     "Resent-Bcc: rb@example.com", s);
	const char *a[] = { "rf@example.com", "rs@example.com", "rt@example.com", "rc@example.com",
			    "rb@example.com" };
	for (size_t i = 0; i < 5; i++)
		assert_true(has(s, SX_ID_ADDRESS, a[i]));
	assert_true(has(s, SX_ID_NAME, "Hanako"));
	free(s);
}

static void test_outer_and_placeholders(void **state)
{
	const char *outer = "From: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro@example.jp>\r\n"
			    "Sender: sender@example.jp\r\n"
			    "Reply-To: \"Reply Me\" <reply@example.jp>\r\n"
			    "To: report@consult.example.jp\r\n\r\nbody\r\n";
	/* a spam redacted before: its placeholders are no identifiers */
	const char *spam = "To: [redacted] <redacted@redacted.invalid>\r\n"
			   "Cc: \"redacted\" <redacted@example.jp>\r\n\r\nbody\r\n";
	struct sx_mail *mo = NULL, *ms = NULL;
	struct sx_idset *s = malloc(sizeof *s);
	char err[128];
	assert_int_equal(sx_mail_parse((const uint8_t *)outer, strlen(outer), NULL, &mo, err,
				       sizeof err), 0);
	assert_int_equal(sx_mail_parse((const uint8_t *)spam, strlen(spam), NULL, &ms, err,
				       sizeof err), 0);
	sx_idset_init(s);
	assert_int_equal(sx_ident_collect(mo, ms, s), 0);
	dump(s);
	assert_true(has(s, SX_ID_ADDRESS, "taro@example.jp"));
	assert_true(has(s, SX_ID_NAME, "山田 太郎"));
	assert_true(has(s, SX_ID_ADDRESS, "sender@example.jp"));
	assert_true(has(s, SX_ID_ADDRESS, "reply@example.jp"));
	assert_true(has(s, SX_ID_NAME, "Reply Me"));
	/* the outer To is the center's, not the reporter's */
	assert_false(has(s, SX_ID_ADDRESS, "report@consult.example.jp"));
	/* an address with a placeholder local part still counts; the part does not */
	assert_true(has(s, SX_ID_ADDRESS, "redacted@example.jp"));
	assert_false(has(s, SX_ID_LOCALPART, "redacted"));
	assert_false(has(s, SX_ID_ADDRESS, "redacted@redacted.invalid"));
	assert_false(has(s, SX_ID_NAME, "[redacted]"));
	/* monitor captures have no outer message */
	sx_idset_init(s);
	assert_int_equal(sx_ident_collect(NULL, ms, s), 0);
	assert_int_equal(s->n, 1);
	sx_mail_destroy(mo);
	sx_mail_destroy(ms);
	free(s);
}

static void test_collect_limit(void **state)
{
	/* more recipients than the set holds is a refusal, not a silent cut */
	char *hdr = malloc(SX_IDENTS_MAX * 40 + 16);
	size_t n = 0;
	n += (size_t)sprintf(hdr + n, "To: ");
	for (int i = 0; i < SX_IDENTS_MAX; i++)
		n += (size_t)sprintf(hdr + n, "%sr%d@example.jp", i ? ",\r\n " : "", i);
	n += (size_t)sprintf(hdr + n, "\r\n\r\nbody\r\n");
	struct sx_mail *m = NULL;
	struct sx_idset *s = malloc(sizeof *s);
	char err[128];
	assert_int_equal(sx_mail_parse((const uint8_t *)hdr, n, NULL, &m, err, sizeof err), 0);
	sx_idset_init(s);
	assert_int_equal(sx_ident_collect(NULL, m, s), SX_ELIMIT);
	sx_mail_destroy(m);
	free(s);
	free(hdr);
}

static void test_kind_names(void **state)
{
	assert_string_equal(sx_ident_kind_name(SX_ID_ADDRESS), "address");
	assert_string_equal(sx_ident_kind_name(SX_ID_LOCALPART), "local-part");
	assert_string_equal(sx_ident_kind_name(SX_ID_NAME), "name");
	assert_string_equal(sx_ident_kind_name((enum sx_ident_kind)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_trim_lower),
		cmocka_unit_test(test_add_refusals),
		cmocka_unit_test(test_add_limit),
		cmocka_unit_test(test_address_lists),
		cmocka_unit_test(test_route_and_comments),
		cmocka_unit_test(test_encoded_names),
		cmocka_unit_test(test_raw_8bit_name),
		cmocka_unit_test(test_received_for),
		cmocka_unit_test(test_resent),
		cmocka_unit_test(test_outer_and_placeholders),
		cmocka_unit_test(test_collect_limit),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
