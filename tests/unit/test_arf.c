/*
 * test_arf.c: the ISP notice builders (client/arf.c, client/xarf.c,
 * client/notice.c): every item an abuse desk needs is in the notice, the
 * structure is RFC 5965's, limits hold at their edge. The integration test
 * parses the same output with Python's email package.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/arf.h"
#include "client/notice.h"
#include "client/xarf.h"
#include "lib/err.h"

#define ID "rabcdefghijklmnopqrstuvwxy"
#define T0 1764288000000LL   /* 2025-11-28T00:00:00Z */

static const char MAIL[] = "Return-Path: <bounce@spam.example>\r\n"
			   "Received: from x ([192.0.2.7]) by mx\r\n"
			   "From: Shop <shop@spam.example>\r\n"
			   "To: [redacted]\r\n"
			   "Subject: buy\r\n\r\nbody line\r\n";

struct report {
	Sprex__Deliver d;
	Sprex__ReportMeta m;
	Sprex__Violation v[2];
	Sprex__Violation *vp[2];
	char *cats[1];
	Sprex__RedactionEntry r;
	Sprex__RedactionEntry *rp[1];
};

static void report_init(struct report *t, const char *mail, size_t len, unsigned port)
{
	memset(t, 0, sizeof *t);
	sprex__deliver__init(&t->d);
	sprex__report_meta__init(&t->m);
	for (int i = 0; i < 2; i++) {
		sprex__violation__init(&t->v[i]);
		t->vp[i] = &t->v[i];
	}
	t->v[0].flag = (char *)"opt-in";
	t->v[0].evidence = (char *)"advertising sent to a monitor address";
	t->v[0].article = (char *)"Art. 3(1)";
	t->v[1].flag = (char *)"spoofing";
	t->v[1].evidence = (char *)"spf=fail\r\nX-Injected: yes";
	t->v[1].article = (char *)"Art. 5";
	sprex__redaction_entry__init(&t->r);
	t->r.part = (char *)"";
	t->r.where = (char *)"To";
	t->r.kind = (char *)"address";
	t->r.encoding = (char *)"raw";
	t->r.count = 1;
	t->rp[0] = &t->r;
	t->cats[0] = (char *)"japanese";
	t->m.report_id = (char *)ID;
	t->m.source = SPREX__SOURCE__SOURCE_MONITOR;
	t->m.received_ms = T0 + 3723000;   /* 01:02:03Z */
	t->m.source_ip = (char *)"192.0.2.7";
	t->m.source_port = port;
	t->m.isp = (char *)"isp-a";
	t->m.n_violations = 2;
	t->m.violations = t->vp;
	t->m.n_categories = 1;
	t->m.categories = t->cats;
	t->m.redaction_count = 1;
	t->m.sha256 = (char *)"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	t->d.seq = 7;
	t->d.report_id = (char *)ID;
	t->d.meta = &t->m;
	t->d.n_manifest = 1;
	t->d.manifest = t->rp;
	t->d.raw_mail.data = (uint8_t *)mail;
	t->d.raw_mail.len = len;
}

static char *build(int xarf, const struct report *t, const struct sx_notice_opts *o, size_t max,
		   int *rc)
{
	struct sx_buf b;
	sx_buf_init(&b, max);
	*rc = xarf ? sx_xarf_build(&t->d, o, &b) : sx_arf_build(&t->d, o, &b);
	char *s = calloc(1, sx_buf_used(&b) + 1);
	assert_non_null(s);
	memcpy(s, sx_buf_head(&b), sx_buf_used(&b));
	sx_buf_finish(&b);
	return s;
}

static void has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static void test_arf_items(void **state)
{
	(void)state;
	struct report t;
	report_init(&t, MAIL, sizeof MAIL - 1, 2525);
	struct sx_notice_opts o = { .reporter_contact = "abuse-reports@center.example",
				    .to = "abuse@isp-a.example",
				    .config_path = "/etc/sprex/agent.conf" };
	int rc;
	char *s = build(0, &t, &o, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	/* structure */
	has(s, "MIME-Version: 1.0\r\n");
	has(s, "Content-Type: multipart/report; report-type=feedback-report;\r\n"
	       "\tboundary=\"=_sprex_" ID "_0\"\r\n");
	has(s, "To: abuse@isp-a.example\r\n");
	has(s, "From: sprex <abuse-reports@center.example>\r\n");
	has(s, "--=_sprex_" ID "_0\r\nContent-Type: text/plain; charset=utf-8\r\n");
	has(s, "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
	       "User-Agent: sprex-agent/");
	has(s, "Version: 1\r\n");
	has(s, "Content-Type: message/rfc822\r\n");
	has(s, MAIL);   /* the whole mail, byte for byte */
	has(s, "\r\n--=_sprex_" ID "_0--\r\n");
	/* machine-readable items */
	has(s, "Source-IP: 192.0.2.7\r\n");
	has(s, "Arrival-Date: Fri, 28 Nov 2025 01:02:03 +0000\r\n");
	has(s, "Original-Mail-From: <bounce@spam.example>\r\n");
	has(s, "Reported-Domain: spam.example\r\n");
	has(s, "X-Sprex-Report-Id: " ID "\r\n");
	has(s, "X-Sprex-Source-Port: 2525\r\n");
	has(s, "X-Sprex-Sha256: 0123456789abcdef");
	has(s, "X-Sprex-Evidence-Source: monitor\r\n");
	has(s, "X-Sprex-Flag: opt-in; article=\"Art. 3(1)\"; evidence=\"advertising");
	/* a CR LF in evidence cannot start a header of its own */
	has(s, "evidence=\"spf=fail  X-Injected: yes\"");
	assert_null(strstr(s, "\r\nX-Injected"));
	has(s, "X-Sprex-Redaction: part=top; where=To; kind=address; encoding=raw; count=1\r\n");
	/* the human-readable part alone is enough to act */
	has(s, "Source IP:        192.0.2.7");
	has(s, "Source port:      2525");
	has(s, "Arrival (UTC):    2025-11-28T01:02:03Z");
	has(s, "Evidence source:  monitor (spam trap)");
	has(s, "opt-in (Art. 3(1) of the Act): advertising sent to a monitor address");
	has(s, "Act on Regulation of");
	has(s, "What we ask:");
	has(s, "sprex-agent action --config /etc/sprex/agent.conf " ID " --taken ACTION");
	has(s, "not-our-customer");
	has(s, "part top, To: 1 x address (raw)");
	free(s);
}

static void test_arf_headers_only(void **state)
{
	(void)state;
	struct report t;
	report_init(&t, MAIL, sizeof MAIL - 1, 0);
	/* at the limit: the whole mail; one byte over: the header block */
	struct sx_notice_opts o = { .message_max = sizeof MAIL - 1 };
	int rc;
	char *s = build(0, &t, &o, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	has(s, "message/rfc822");
	has(s, "body line");
	has(s, "Source port:      not recorded");
	assert_null(strstr(s, "X-Sprex-Source-Port"));
	free(s);
	o.message_max = sizeof MAIL - 2;
	s = build(0, &t, &o, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	has(s, "Content-Type: text/rfc822-headers\r\n");
	has(s, "Subject: buy\r\n\r\n\r\n--=_sprex_");
	assert_null(strstr(s, "body line"));
	assert_null(strstr(s, "message/rfc822"));
	free(s);
}

static void test_arf_lf_and_boundary(void **state)
{
	(void)state;
	static const char lf[] = "From: a@b.example\nSubject: x\n\n--=_sprex_" ID "_0\n";
	struct report t;
	report_init(&t, lf, sizeof lf - 1, 0);
	int rc;
	char *s = build(0, &t, NULL, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	assert_null(strchr(s, '\r'));   /* one line-end convention: the mail's */
	has(s, "boundary=\"=_sprex_" ID "_1\"");
	assert_null(strstr(s, "Content-Transfer-Encoding: 8bit\nContent-Disposition"));
	free(s);
	/* 8-bit mail is declared so */
	static const char eight[] = "From: a@b.example\nSubject: \xe3\x81\x82\n\nx\n";
	report_init(&t, eight, sizeof eight - 1, 0);
	s = build(0, &t, NULL, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	has(s, "Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n");
	has(s, "config FILE " ID);      /* no config path given */
	free(s);
}

static void test_arf_limits(void **state)
{
	(void)state;
	struct report t;
	report_init(&t, MAIL, sizeof MAIL - 1, 0);
	int rc;
	char *s = build(0, &t, NULL, 512, &rc);
	assert_int_equal(rc, SX_ETOOBIG);
	free(s);
	s = build(1, &t, NULL, 512, &rc);
	assert_int_equal(rc, SX_ETOOBIG);
	free(s);
	t.d.report_id = (char *)"";
	s = build(0, &t, NULL, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, SX_EINVAL);
	free(s);
}

static void test_xarf_items(void **state)
{
	(void)state;
	struct report t;
	report_init(&t, MAIL, sizeof MAIL - 1, 2525);
	struct sx_notice_opts o = { .reporter_org = "Center", .reporter_domain = "center.example",
				    .reporter_contact = "abuse-reports@center.example" };
	int rc;
	char *s = build(1, &t, &o, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	assert_null(strchr(s, '\n'));
	assert_memory_equal(s, "{\"sprex_report_id\":\"" ID "\"", 20 + sizeof ID);
	char uuid[37];
	sx_notice_uuid(ID, uuid);
	assert_int_equal(uuid[14], '4');
	assert_true(strchr("89ab", uuid[19]) != NULL);
	char want[80];
	snprintf(want, sizeof want, "\"report_id\":\"%s\"", uuid);
	has(s, want);
	has(s, "\"xarf_version\":\"4.0.0\"");
	has(s, "\"timestamp\":\"2025-11-28T01:02:03Z\"");
	has(s, "\"reporter\":{\"org\":\"Center\",\"contact\":\"abuse-reports@center.example\","
	       "\"domain\":\"center.example\"}");
	has(s, "\"sender\":{");
	has(s, "\"source_identifier\":\"192.0.2.7\"");
	has(s, "\"source_port\":2525");
	has(s, "\"category\":\"messaging\",\"type\":\"spam\"");
	has(s, "\"protocol\":\"smtp\",\"smtp_from\":\"bounce@spam.example\"");
	has(s, "\"evidence_source\":\"spamtrap\"");
	has(s, "\"content_type\":\"message/rfc822\"");
	has(s, "\"hash\":\"sha256:");
	has(s, "\"tags\":[\"sprex-report:" ID "\",\"source:monitor\",\"flag:opt-in\"");
	has(s, "\"sha256\":\"0123456789abcdef");
	has(s, "{\"flag\":\"opt-in\",\"evidence\":\"advertising sent to a monitor address\","
	       "\"article\":\"Art. 3(1)\"}");
	has(s, "\"manifest\":[{\"part\":\"\",\"where\":\"To\",\"kind\":\"address\"");
	has(s, "\"command\":\"sprex-agent action --config FILE " ID " --taken ACTION");
	has(s, "\"requested_action\":");
	free(s);
	/* no port: "smtp" would oblige the schema's source_port */
	report_init(&t, MAIL, sizeof MAIL - 1, 0);
	s = build(1, &t, NULL, SX_NOTICE_MAX, &rc);
	assert_int_equal(rc, 0);
	has(s, "\"protocol\":\"other\"");
	has(s, "\"source_port\":null");   /* only inside "sprex" */
	assert_null(strstr(s, "\"source_port\":0"));
	free(s);
}

static void test_digest_notices(void **state)
{
	(void)state;
	static const char hdr[] = "From: a@b.example\r\nSubject: x\r\n\r\n";
	const char *ids[] = { "raaaa", "rbbbb", "rcccc" };
	struct sx_notice_digest g = { .id = "dabc", .day = "2025-11-28", .source_ip = "192.0.2.7",
				      .count = 3, .first_ms = T0 + 1000, .last_ms = T0 + 7200000,
				      .report_ids = ids, .n_ids = 3,
				      .headers = (const uint8_t *)hdr,
				      .headers_len = sizeof hdr - 1 };
	struct sx_buf b;
	sx_buf_init(&b, SX_NOTICE_MAX);
	assert_int_equal(sx_arf_digest(&g, NULL, &b), 0);
	assert_int_equal(sx_buf_append(&b, "", 1), 0);
	const char *s = (const char *)sx_buf_head(&b);
	has(s, "report-type=feedback-report");
	has(s, "Incidents: 3\r\n");
	has(s, "Source-IP: 192.0.2.7\r\n");
	has(s, "Arrival-Date: Fri, 28 Nov 2025 00:00:01 +0000\r\n");
	has(s, "X-Sprex-First-Seen: 2025-11-28T00:00:01Z\r\n");
	has(s, "X-Sprex-Last-Seen: 2025-11-28T02:00:00Z\r\n");
	has(s, "X-Sprex-Report-Id: rcccc\r\n");
	has(s, "Reports:          3");
	has(s, "Content-Type: text/rfc822-headers\r\n");
	sx_buf_finish(&b);
	sx_buf_init(&b, SX_NOTICE_MAX);
	assert_int_equal(sx_xarf_digest(&g, NULL, &b), 0);
	assert_int_equal(sx_buf_append(&b, "", 1), 0);
	s = (const char *)sx_buf_head(&b);
	has(s, "{\"sprex_report_id\":\"dabc\"");
	has(s, "\"sprex_digest\":{\"day\":\"2025-11-28\",\"source_ip\":\"192.0.2.7\",\"count\":3,"
	       "\"first_seen\":\"2025-11-28T00:00:01Z\",\"last_seen\":\"2025-11-28T02:00:00Z\","
	       "\"report_ids\":[\"raaaa\",\"rbbbb\",\"rcccc\"]}");
	sx_buf_finish(&b);
}

static void test_helpers(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(sx_notice_header_len((const uint8_t *)MAIL, sizeof MAIL - 1),
			 strstr(MAIL, "body") - MAIL);
	assert_int_equal(sx_notice_header_len((const uint8_t *)"A: b", 4), 4);
	assert_int_equal(sx_notice_header_addr((const uint8_t *)MAIL, sizeof MAIL - 1, "from",
					       out, sizeof out), 17);
	assert_string_equal(out, "shop@spam.example");
	/* only the header block counts */
	assert_int_equal(sx_notice_header_addr((const uint8_t *)"A: b\n\nFrom: x\n", 14, "From",
					       out, sizeof out), 0);
	/* bounded */
	assert_int_equal(sx_notice_header_addr((const uint8_t *)MAIL, sizeof MAIL - 1, "From",
					       out, 5), 4);
	sx_notice_day(T0 - 1, out, sizeof out);
	assert_string_equal(out, "2025-11-27");
	sx_notice_rfc5322_time(T0, out, sizeof out);
	assert_string_equal(out, "Fri, 28 Nov 2025 00:00:00 +0000");
	char a[37], b[37];
	sx_notice_uuid("r1", a);
	sx_notice_uuid("r1", b);
	assert_string_equal(a, b);
	sx_notice_uuid("r2", b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arf_items),
		cmocka_unit_test(test_arf_headers_only),
		cmocka_unit_test(test_arf_lf_and_boundary),
		cmocka_unit_test(test_arf_limits),
		cmocka_unit_test(test_xarf_items),
		cmocka_unit_test(test_digest_notices),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
