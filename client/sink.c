/*
 * sink.c: the sink dispatch and what every kind shares (the X-Sprex-*
 * header block, report id checks, value cleaning).
 */
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "sink_impl.h"

/* Longest evidence or value quoted in one X-Sprex-* line. */
#define XH_VALUE_MAX 512

struct sx_sink {
	const struct sx_sink_ops *ops;
	void *impl;
};

int sx_sink_create(const struct sx_sink_conf *conf, struct sx_sink **out, char *err,
		   size_t errlen)
{
	const struct sx_sink_ops *ops;
	*out = NULL;
	switch (conf->kind) {
	case SX_SINK_MAILDIR:
		ops = &sx_sink_maildir_ops;
		break;
	case SX_SINK_JSONL:
		ops = &sx_sink_jsonl_ops;
		break;
	case SX_SINK_EXEC:
		ops = &sx_sink_exec_ops;
		break;
	case SX_SINK_ARF_MAILDIR:
		ops = &sx_sink_arf_maildir_ops;
		break;
	case SX_SINK_ARF_EXEC:
		ops = &sx_sink_arf_exec_ops;
		break;
	case SX_SINK_XARF_JSONL:
		ops = &sx_sink_xarf_jsonl_ops;
		break;
	case SX_SINK_XARF_EXEC:
		ops = &sx_sink_xarf_exec_ops;
		break;
	default:
		snprintf(err, errlen, "unknown sink kind %d", (int)conf->kind);
		return SX_EINVAL;
	}
	struct sx_sink *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	s->ops = ops;
	int rc = ops->create(conf, &s->impl, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sx_sink_destroy(struct sx_sink *s)
{
	if (!s)
		return;
	s->ops->destroy(s->impl);
	free(s);
}

enum sx_sink_result sx_sink_deliver(struct sx_sink *s, const struct sx_delivery *dl, char *err,
				    size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!dl || !dl->d) {
		snprintf(err, errlen, "no report");
		return SX_SINK_NAK;
	}
	return s->ops->deliver(s->impl, dl, err, errlen);
}

int sx_sink_flush(struct sx_sink *s, int all, unsigned *emitted, char *err, size_t errlen)
{
	if (emitted)
		*emitted = 0;
	if (errlen)
		err[0] = '\0';
	if (!s->ops->flush)
		return 0;
	return s->ops->flush(s->impl, all, emitted, err, errlen);
}

int sx_sink_id_ok(const char *id)
{
	size_t n = 0;
	if (!id)
		return 0;
	for (; id[n]; n++) {
		char c = id[n];
		if (n >= SX_SINK_ID_MAX || !((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return 0;
	}
	return n > 0;
}

const char *sx_sink_source_name(int source)
{
	switch (source) {
	case SPREX__SOURCE__SOURCE_PUBLIC:
		return "public";
	case SPREX__SOURCE__SOURCE_MONITOR:
		return "monitor";
	case SPREX__SOURCE__SOURCE_CHAIN:
		return "chain";
	default:
		return "unspecified";
	}
}

size_t sx_sink_clean(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	if (outlen == 0)
		return 0;
	for (; s && s[n] && n + 1 < outlen; n++) {
		unsigned char c = (unsigned char)s[n];
		out[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[n] = '\0';
	return n;
}

int sx_sink_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Appends a formatted piece at *pos; returns 0 or SX_ETOOBIG. */
static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *pos, outlen - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen - *pos)
		return SX_ETOOBIG;
	*pos += (size_t)n;
	return 0;
}

/* RFC 5322 date-time in UTC, independent of the locale. */
static void rfc5322_date(int64_t ms, char *out, size_t outlen)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

int sx_sink_xheaders(const Sprex__Deliver *d, char *out, size_t outlen)
{
	char v[XH_VALUE_MAX], e[XH_VALUE_MAX];
	size_t pos = 0;
	const Sprex__ReportMeta *m = d->meta;
	if (outlen == 0)
		return SX_ETOOBIG;
	out[0] = '\0';
	sx_sink_clean(d->report_id, v, sizeof v);
	if (put(out, outlen, &pos, "X-Sprex-Report-Id: %s\r\n", v) < 0 ||
	    put(out, outlen, &pos, "X-Sprex-Seq: %" PRIu64 "\r\n", d->seq) < 0)
		goto toobig;
	if (m) {
		char date[64];
		rfc5322_date(m->received_ms, date, sizeof date);
		if (put(out, outlen, &pos, "X-Sprex-Source: %s\r\n",
			sx_sink_source_name(m->source)) < 0 ||
		    put(out, outlen, &pos, "X-Sprex-Received: %s\r\n", date) < 0)
			goto toobig;
		for (size_t i = 0; i < m->n_violations; i++) {
			const Sprex__Violation *vi = m->violations[i];
			sx_sink_clean(vi->flag, v, sizeof v);
			sx_sink_clean(vi->evidence, e, sizeof e);
			/* one violation per line: later ones are folded with a tab */
			if (put(out, outlen, &pos, "%s%s%s%s%s%s",
				i == 0 ? "X-Sprex-Violations: " : "\t", v, e[0] ? " (" : "", e,
				e[0] ? ")" : "", i + 1 < m->n_violations ? ",\r\n" : "\r\n") < 0)
				goto toobig;
		}
		if (m->source_ip && m->source_ip[0]) {
			sx_sink_clean(m->source_ip, v, sizeof v);
			if (put(out, outlen, &pos, "X-Sprex-Source-IP: %s\r\n", v) < 0)
				goto toobig;
		}
		if (m->isp && m->isp[0]) {
			sx_sink_clean(m->isp, v, sizeof v);
			if (put(out, outlen, &pos, "X-Sprex-ISP: %s\r\n", v) < 0)
				goto toobig;
		}
	}
	if (put(out, outlen, &pos, "X-Sprex-Redactions: %u\r\n",
		m ? (unsigned)m->redaction_count : 0u) < 0)
		goto toobig;
	return (int)pos;
toobig:
	out[0] = '\0';
	return SX_ETOOBIG;
}
