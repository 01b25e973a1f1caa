/*
 * notice.c: helpers shared by the ARF and XARF builders and the digest.
 */
#include "notice.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "err.h"

void sx_notice_opts_resolve(const struct sx_notice_opts *o, struct sx_notice_opts *out)
{
	static const struct sx_notice_opts none = { 0 };
	*out = o ? *o : none;
	if (!out->reporter_org || !out->reporter_org[0])
		out->reporter_org = "sprex";
	if (!out->reporter_domain || !out->reporter_domain[0])
		out->reporter_domain = "sprex.invalid";
	if (!out->reporter_contact || !out->reporter_contact[0])
		out->reporter_contact = "postmaster@sprex.invalid";
	if (!out->config_path || !out->config_path[0])
		out->config_path = "FILE";
	if (out->message_max == 0)
		out->message_max = SX_NOTICE_MESSAGE_MAX_DEFAULT;
}

static int utc(int64_t ms, struct tm *tm)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	return gmtime_r(&t, tm) != NULL;
}

void sx_notice_iso_time(int64_t ms, char *out, size_t outlen)
{
	struct tm tm;
	if (!utc(ms, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "1970-01-01T00:00:00Z");
}

void sx_notice_day(int64_t ms, char *out, size_t outlen)
{
	struct tm tm;
	if (!utc(ms, &tm) || strftime(out, outlen, "%Y-%m-%d", &tm) == 0)
		snprintf(out, outlen, "1970-01-01");
}

void sx_notice_rfc5322_time(int64_t ms, char *out, size_t outlen)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (!utc(ms, &tm)) {
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	/* by hand: strftime's %a and %b follow the locale */
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

const char *sx_notice_evidence_source(int source)
{
	switch (source) {
	case SPREX__SOURCE__SOURCE_PUBLIC:
		return "user report";
	case SPREX__SOURCE__SOURCE_MONITOR:
		return "monitor (spam trap)";
	case SPREX__SOURCE__SOURCE_CHAIN:
		return "chain mail";
	default:
		return "unspecified";
	}
}

size_t sx_notice_header_len(const uint8_t *mail, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (mail[i] != '\n')
			continue;
		if (i + 1 < len && mail[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && mail[i + 1] == '\r' && mail[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

size_t sx_notice_header_addr(const uint8_t *mail, size_t len, const char *name, char *out,
			     size_t outlen)
{
	size_t hl = sx_notice_header_len(mail, len), nl = strlen(name);
	if (outlen == 0)
		return 0;
	out[0] = '\0';
	for (size_t i = 0; i < hl;) {
		size_t e = i;
		while (e < hl && mail[e] != '\n')
			e++;
		if (e - i > nl && mail[i + nl] == ':' &&
		    strncasecmp((const char *)mail + i, name, nl) == 0) {
			size_t a = i + nl + 1, b = e;
			const uint8_t *lt = memchr(mail + a, '<', b - a);
			if (lt) {
				a = (size_t)(lt - mail) + 1;
				const uint8_t *gt = memchr(mail + a, '>', b - a);
				if (gt)
					b = (size_t)(gt - mail);
			}
			while (a < b && (mail[a] == ' ' || mail[a] == '\t'))
				a++;
			while (b > a && (mail[b - 1] == ' ' || mail[b - 1] == '\t' ||
					 mail[b - 1] == '\r'))
				b--;
			size_t n = 0;
			for (; a < b && n + 1 < outlen; a++, n++) {
				unsigned char c = mail[a];
				out[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
			}
			out[n] = '\0';
			return n;
		}
		i = e + 1;
	}
	return 0;
}

void sx_notice_uuid(const char *report_id, char out[37])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const char *id = report_id ? report_id : "";
	if (EVP_Digest(id, strlen(id), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
		memset(md, 0, 16);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x40);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	size_t pos = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[pos++] = '-';
		snprintf(out + pos, 3, "%02x", md[i]);
		pos += 2;
	}
	out[36] = '\0';
}

int sx_notice_answer(const struct sx_notice_opts *o, const char *report_id, char *out,
		     size_t outlen)
{
	struct sx_notice_opts r;
	sx_notice_opts_resolve(o, &r);
	int n = snprintf(out, outlen, "sprex-agent action --config %s %s --taken ACTION "
			 "[--note TEXT]", r.config_path, report_id ? report_id : "");
	return n < 0 || (size_t)n >= outlen ? SX_ETOOBIG : n;
}

const char *sx_notice_eol(const uint8_t *mail, size_t len)
{
	const uint8_t *nl = mail ? memchr(mail, '\n', len) : NULL;
	if (!nl || (nl > mail && nl[-1] == '\r'))
		return "\r\n";
	return "\n";
}

int sx_notice_put(struct sx_buf *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return SX_EINVAL;
	int rc = sx_buf_reserve(out, (size_t)n + 1);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)sx_buf_tail(out), (size_t)n + 1, fmt, ap);
	va_end(ap);
	sx_buf_commit(out, (size_t)n);
	return 0;
}

int sx_notice_put_clean(struct sx_buf *out, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int rc = sx_buf_reserve(out, n);
	if (rc < 0)
		return rc;
	char *t = (char *)sx_buf_tail(out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		t[i] = ((c < 0x20 && c != '\t') || c == 0x7f) ? ' ' : (char)c;
	}
	sx_buf_commit(out, n);
	return 0;
}
