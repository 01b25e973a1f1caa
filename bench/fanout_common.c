/* fanout_common.c: see fanout_common.h. */
#include "fanout_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define SEQ_DIGITS 10
#define SENT_DIGITS 20
#define TARGET_SIZE 6144u

/* A monitor capture: the trap address is the recipient, the spam is
 * Japanese (a "side income" offer) in UTF-8, text and HTML alternatives,
 * with the tracking parameters that carry the recipient's address. */
static const char *const head_fmt =
	"Return-Path: <bounce-7f3a9c@mailer.shop-example.net>\r\n"
	"Delivered-To: trap-0417@monitor.example.jp\r\n"
	"X-Original-To: trap-0417@monitor.example.jp\r\n"
	"Received: from mx-in02.monitor.example.jp (mx-in02.monitor.example.jp [10.20.0.12])\r\n"
	"\tby store01.monitor.example.jp (Postfix) with ESMTPS id 4Zk9Qm3x2Fz1\r\n"
	"\tfor <trap-0417@monitor.example.jp>; Sat, 28 Nov 2026 09:14:07 +0900 (JST)\r\n"
	"Received: from mail.shop-example.net (mail.shop-example.net [203.0.113.77])\r\n"
	"\tby mx-in02.monitor.example.jp (Postfix) with ESMTP id 4Zk9Qm1Hc4z9\r\n"
	"\tfor <trap-0417@monitor.example.jp>; Sat, 28 Nov 2026 09:14:06 +0900 (JST)\r\n"
	"Received: from localhost (unknown [198.51.100.23])\r\n"
	"\tby mail.shop-example.net (Postfix) with ESMTPA id 8C1F2A0044\r\n"
	"\tfor <trap-0417@monitor.example.jp>; Sat, 28 Nov 2026 09:14:05 +0900 (JST)\r\n"
	"Authentication-Results: mx-in02.monitor.example.jp; spf=softfail\r\n"
	"\tsmtp.mailfrom=shop-example.net; dkim=none; dmarc=fail header.from=shop-example.net\r\n"
	"Date: Sat, 28 Nov 2026 09:14:05 +0900\r\n"
	"From: =?UTF-8?B?5Ymv5Y+O5YWl44K144Od44O844OI5LqL5YuZ5bGA?= <info@shop-example.net>\r\n"
	"To: trap-0417@monitor.example.jp\r\n"
	"Subject: =?UTF-8?B?44CQ6YeN6KaB44CR5pyI5Y+OMzDkuIflhobjgpLnm67mjIfjgZnmlrnms5U=?=\r\n"
	"Message-ID: <%0*u.fanout.7f3a9c@mail.shop-example.net>\r\n"
	FANOUT_SENT_HEADER "%0*u\r\n"
	"List-Unsubscribe: <https://shop-example.net/u?e=trap-0417%%40monitor.example.jp&c=77>\r\n"
	"X-Mailer: BulkSender Pro 5.2\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"=_b7f3a9c_alt\"\r\n"
	"\r\n"
	"--=_b7f3a9c_alt\r\n"
	"Content-Type: text/plain; charset=UTF-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n";

static const char *const text_para =
	"trap-0417様\r\n"
	"\r\n"
	"いつもご利用ありがとうございます。副収入サポート事務局です。\r\n"
	"スマホ1台、1日10分の作業で月収30万円を目指せる方法をご案内します。\r\n"
	"今なら先着100名様限定で、初期費用0円でお始めいただけます。\r\n"
	"詳しくはこちら: https://shop-example.net/lp?utm_source=mail&utm_medium=email"
	"&utm_campaign=side77&uid=trap-0417%40monitor.example.jp\r\n"
	"\r\n";

static const char *const html_head =
	"--=_b7f3a9c_alt\r\n"
	"Content-Type: text/html; charset=UTF-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"<html><head><meta charset=\"UTF-8\"></head><body>\r\n";

static const char *const html_para =
	"<p>trap-0417様</p><p>副収入サポート事務局です。<b>スマホ1台で月収30万円</b>"
	"を目指せる方法を<a href=\"https://shop-example.net/lp?utm_source=mail&amp;"
	"utm_campaign=side77&amp;uid=trap-0417%40monitor.example.jp\">今すぐ確認</a>。</p>\r\n";

static const char *const tail =
	"<img src=\"https://track.shop-example.net/o.gif?e=trap-0417%40monitor.example.jp\""
	" width=\"1\" height=\"1\" alt=\"\">\r\n"
	"<p style=\"font-size:10px\">配信停止は<a href=\"https://shop-example.net/u?"
	"e=trap-0417%40monitor.example.jp\">こちら</a></p>\r\n"
	"</body></html>\r\n"
	"\r\n"
	"--=_b7f3a9c_alt--\r\n";

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = (*cap ? *cap * 2 : 8192);
		while (c < *len + n + 1)
			c *= 2;
		char *b = realloc(*buf, c);
		if (!b)
			return -1;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

int fanout_mail_init(struct fanout_mail *m)
{
	char head[4096];
	/* head_fmt is a constant of this file with exactly these two fields;
	 * -O0 builds cannot see through the pointer, so say so here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int hn = snprintf(head, sizeof head, head_fmt, SEQ_DIGITS, 0u, SENT_DIGITS, 0u);
#pragma GCC diagnostic pop
	if (hn < 0 || (size_t)hn >= sizeof head)
		return -1;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = append(&buf, &len, &cap, head, (size_t)hn);
	/* Text and HTML grow together until the mail reaches its size. */
	size_t per = strlen(text_para) + strlen(html_para);
	size_t fixed = (size_t)hn + strlen(html_head) + strlen(tail);
	size_t reps = fixed < TARGET_SIZE ? (TARGET_SIZE - fixed + per - 1) / per : 1;
	for (size_t i = 0; i < reps && rc == 0; i++)
		rc = append(&buf, &len, &cap, text_para, strlen(text_para));
	if (rc == 0)
		rc = append(&buf, &len, &cap, html_head, strlen(html_head));
	for (size_t i = 0; i < reps && rc == 0; i++)
		rc = append(&buf, &len, &cap, html_para, strlen(html_para));
	if (rc == 0)
		rc = append(&buf, &len, &cap, tail, strlen(tail));
	if (rc < 0) {
		free(buf);
		return -1;
	}
	char *seq = strstr(buf, "Message-ID: <");
	char *sent = strstr(buf, FANOUT_SENT_HEADER);
	if (!seq || !sent) {
		free(buf);
		return -1;
	}
	m->buf = buf;
	m->len = len;
	m->seq_off = (size_t)(seq - buf) + strlen("Message-ID: <");
	m->sent_off = (size_t)(sent - buf) + strlen(FANOUT_SENT_HEADER);
	return 0;
}

void fanout_mail_free(struct fanout_mail *m)
{
	free(m->buf);
	m->buf = NULL;
}

static void put_digits(char *p, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void fanout_mail_stamp(struct fanout_mail *m, uint64_t seq, uint64_t sent_ns)
{
	put_digits(m->buf + m->seq_off, SEQ_DIGITS, seq);
	put_digits(m->buf + m->sent_off, SENT_DIGITS, sent_ns);
}

uint64_t fanout_sent_ns(const void *mail, size_t len)
{
	const char *p = mail, *end = p + len;
	size_t hl = strlen(FANOUT_SENT_HEADER);
	/* Only the header section: a line start, up to the empty line. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;
		if ((size_t)(eol - p) > hl && strncasecmp(p, FANOUT_SENT_HEADER, hl) == 0) {
			uint64_t v = 0;
			for (const char *d = p + hl; d < eol && *d >= '0' && *d <= '9'; d++)
				v = v * 10 + (uint64_t)(*d - '0');
			return v;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

uint64_t fanout_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double fanout_cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int fanout_lat_init(struct fanout_lat *l, size_t cap)
{
	memset(l, 0, sizeof *l);
	l->cap = cap ? cap : 1;
	l->us = malloc(l->cap * sizeof *l->us);
	return l->us ? 0 : -1;
}

void fanout_lat_add(struct fanout_lat *l, uint64_t sent_ns, uint64_t now_ns)
{
	if (l->n == l->cap) {
		l->dropped++;
		return;
	}
	uint64_t us = now_ns > sent_ns ? (now_ns - sent_ns) / 1000u : 0;
	l->us[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

double fanout_lat_pct(struct fanout_lat *l, double p)
{
	if (l->n == 0)
		return 0;
	qsort(l->us, l->n, sizeof *l->us, cmp_u32);
	size_t i = (size_t)((double)(l->n - 1) * p / 100.0);
	return (double)l->us[i] / 1000.0;
}

void fanout_lat_print(struct fanout_lat *l, const char *prefix)
{
	double p50 = fanout_lat_pct(l, 50), p99 = fanout_lat_pct(l, 99);
	double max = l->n ? (double)l->us[l->n - 1] / 1000.0 : 0;
	printf("%s samples=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", prefix, l->n, p50, p99,
	       max);
}

void fanout_lat_free(struct fanout_lat *l)
{
	free(l->us);
	l->us = NULL;
}

long fanout_parse_long(const char *prog, const char *what, const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min) {
		fprintf(stderr, "%s: bad %s \"%s\"\n", prog, what, s);
		exit(2);
	}
	return v;
}
