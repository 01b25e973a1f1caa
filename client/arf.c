/*
 * arf.c: RFC 5965 feedback reports for ISP abuse desks.
 *
 * The human-readable part stands on its own (RFC 6650 §3): an abuse desk
 * that reads only it knows what happened, from which IP and port, when (UTC
 * to the second), which flags were raised with which evidence and article of
 * the Act, what we ask and how to answer. The machine-readable part carries
 * the RFC 5965 fields plus X-Sprex-* extension fields (RFC 5965 §3.3 allows
 * "X-" fields) for what the RFC has no field for.
 */
#include "arf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "sink_impl.h"

#ifndef SPREX_VERSION
#define SPREX_VERSION "unknown"
#endif

#define BOUNDARY_MAX 128
#define ADDR_MAX 256

#define P(...) do { if ((rc = sx_notice_put(out, __VA_ARGS__)) < 0) return rc; } while (0)
#define C(s) do { if ((rc = sx_notice_put_clean(out, (s))) < 0) return rc; } while (0)

static int has(const uint8_t *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	return hay && n >= k && memmem(hay, n, needle, k) != NULL;
}

/* A boundary that the carried bytes do not contain. */
static void boundary(const char *id, const uint8_t *mail, size_t len, char *out, size_t outlen)
{
	for (unsigned i = 0;; i++) {
		snprintf(out, outlen, "=_sprex_%s_%u", id, i);
		if (!has(mail, len, out))
			return;
	}
}

/* The domain part of an address, or "". */
static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at && at[1] ? at + 1 : "";
}

static int top_headers(struct sx_buf *out, const struct sx_notice_opts *o, const char *eol,
		       const char *subject_ip, const char *id, const char *bnd,
		       const char *subject_kind)
{
	int rc;
	char date[48];
	sx_notice_rfc5322_time(o->now_ms, date, sizeof date);
	P("From: ");
	C(o->reporter_org);
	P(" <");
	C(o->reporter_contact);
	P(">%s", eol);
	if (o->to && o->to[0]) {
		P("To: ");
		C(o->to);
		P("%s", eol);
	}
	P("Date: %s%s", date, eol);
	P("Subject: %s from ", subject_kind);
	C(subject_ip[0] ? subject_ip : "unknown IP");
	P(" (sprex %s)%s", id, eol);
	P("Message-ID: <%s.arf@", id);
	C(o->reporter_domain);
	P(">%s", eol);
	P("Auto-Submitted: auto-generated%s", eol);
	P("MIME-Version: 1.0%s", eol);
	P("Content-Type: multipart/report; report-type=feedback-report;%s\tboundary=\"%s\"%s%s",
	  eol, bnd, eol, eol);
	P("This is an abuse report in the Abuse Reporting Format (RFC 5965).%s%s", eol, eol);
	return 0;
}

static int text_part_head(struct sx_buf *out, const char *eol, const char *bnd)
{
	int rc;
	P("--%s%s", bnd, eol);
	P("Content-Type: text/plain; charset=utf-8%s", eol);
	P("Content-Transfer-Encoding: 8bit%s%s", eol, eol);
	return 0;
}

static int answer_text(struct sx_buf *out, const struct sx_notice_opts *o, const char *eol,
		       const char *id)
{
	int rc;
	char cmd[1024];
	if (sx_notice_answer(o, id, cmd, sizeof cmd) < 0)
		snprintf(cmd, sizeof cmd, "sprex-agent action --config FILE %s --taken ACTION",
			 id);
	P("How to answer: on the host running your sprex-agent, run%s%s    ", eol, eol);
	C(cmd);
	P("%s%swhere ACTION is one of %s.%s", eol, eol, SX_NOTICE_ACTIONS, eol);
	P("Quote the report id %s in any other correspondence.%s", id, eol);
	return 0;
}

static int text_part(struct sx_buf *out, const Sprex__Deliver *d, const struct sx_notice_opts *o,
		     const char *eol, int headers_only)
{
	int rc;
	const Sprex__ReportMeta *m = d->meta;
	const char *ip = m && m->source_ip ? m->source_ip : "";
	char t[40];
	sx_notice_iso_time(m ? m->received_ms : 0, t, sizeof t);
	P("Dear abuse desk,%s%s", eol, eol);
	P("the mail attached to this report reached us from an address in your network and%s"
	  "was flagged as unsolicited or unlawful bulk mail under the Act on Regulation of%s"
	  "Transmission of Specified Electronic Mail (Japan).%s%s", eol, eol, eol, eol);
	P("  Report id:        %s%s", d->report_id, eol);
	P("  Source IP:        ");
	C(ip[0] ? ip : "unknown");
	P("%s", eol);
	if (m && m->source_port)
		P("  Source port:      %u%s", (unsigned)m->source_port, eol);
	else
		P("  Source port:      not recorded%s", eol);
	P("  Arrival (UTC):    %s%s", t, eol);
	P("  Evidence source:  %s%s", sx_notice_evidence_source(m ? (int)m->source : 0), eol);
	if (m && m->isp && m->isp[0]) {
		P("  Your member name: ");
		C(m->isp);
		P("%s", eol);
	}
	P("  Message SHA-256:  ");
	C(m && m->sha256 && m->sha256[0] ? m->sha256 : "unknown");
	P("%s  (of the attached de-personalized mail, full headers)%s", eol, eol);
	if (m && m->n_categories) {
		P("  Categories:       ");
		for (size_t i = 0; i < m->n_categories; i++) {
			P("%s", i ? ", " : "");
			C(m->categories[i]);
		}
		P("%s", eol);
	}
	P("%sViolation flags (for a person to judge; not a verdict):%s", eol, eol);
	if (!m || m->n_violations == 0)
		P("  none raised%s", eol);
	for (size_t i = 0; m && i < m->n_violations; i++) {
		const Sprex__Violation *v = m->violations[i];
		P("  - ");
		C(v->flag);
		P(" (");
		C(v->article && v->article[0] ? v->article : "article not given");
		P(" of the Act): ");
		C(v->evidence);
		P("%s", eol);
	}
	P("%sDe-personalization: %u identifier(s) of the reporter and the recipients were%s"
	  "removed before this report left the exchange; the values are never sent.%s",
	  eol, m ? (unsigned)m->redaction_count : 0u, eol, eol);
	for (size_t i = 0; i < d->n_manifest; i++) {
		const Sprex__RedactionEntry *e = d->manifest[i];
		P("  - part ");
		C(e->part && e->part[0] ? e->part : "top");
		P(", ");
		C(e->where);
		P(": %u x ", (unsigned)e->count);
		C(e->kind);
		P(" (");
		C(e->encoding);
		P(")%s", eol);
	}
	if (headers_only)
		P("%sThe mail is larger than our notice limit: only its header block is "
		  "attached.%s", eol, eol);
	P("%sWhat we ask: please identify the customer who used this IP address%s", eol, eol);
	P("at the time above, stop the transmission if it breaches your terms or the Act,%s"
	  "and tell us what you did.%s%s", eol, eol, eol);
	return answer_text(out, o, eol, d->report_id);
}

static int feedback_part(struct sx_buf *out, const Sprex__Deliver *d, const char *eol,
			 const char *bnd, const uint8_t *mail, size_t mlen)
{
	int rc;
	const Sprex__ReportMeta *m = d->meta;
	char date[48], addr[ADDR_MAX];
	P("--%s%s", bnd, eol);
	P("Content-Type: message/feedback-report%s%s", eol, eol);
	P("Feedback-Type: abuse%s", eol);
	P("User-Agent: sprex-agent/%s%s", SPREX_VERSION, eol);
	P("Version: 1%s", eol);
	if (sx_notice_header_addr(mail, mlen, "Return-Path", addr, sizeof addr))
		P("Original-Mail-From: <%s>%s", addr, eol);
	if (m) {
		sx_notice_rfc5322_time(m->received_ms, date, sizeof date);
		P("Arrival-Date: %s%s", date, eol);
		if (m->source_ip && m->source_ip[0]) {
			P("Source-IP: ");
			C(m->source_ip);
			P("%s", eol);
		}
	}
	if (sx_notice_header_addr(mail, mlen, "From", addr, sizeof addr) &&
	    domain_of(addr)[0])
		P("Reported-Domain: %s%s", domain_of(addr), eol);
	P("X-Sprex-Report-Id: %s%s", d->report_id, eol);
	if (m) {
		if (m->source_port)
			P("X-Sprex-Source-Port: %u%s", (unsigned)m->source_port, eol);
		P("X-Sprex-Sha256: ");
		C(m->sha256);
		P("%s", eol);
		P("X-Sprex-Evidence-Source: %s%s", sx_sink_source_name((int)m->source), eol);
		for (size_t i = 0; i < m->n_violations; i++) {
			P("X-Sprex-Flag: ");
			C(m->violations[i]->flag);
			P("; article=\"");
			C(m->violations[i]->article);
			P("\"; evidence=\"");
			C(m->violations[i]->evidence);
			P("\"%s", eol);
		}
		P("X-Sprex-Redactions: %u%s", (unsigned)m->redaction_count, eol);
	}
	for (size_t i = 0; i < d->n_manifest; i++) {
		const Sprex__RedactionEntry *e = d->manifest[i];
		P("X-Sprex-Redaction: part=");
		C(e->part && e->part[0] ? e->part : "top");
		P("; where=");
		C(e->where);
		P("; kind=");
		C(e->kind);
		P("; encoding=");
		C(e->encoding);
		P("; count=%u%s", (unsigned)e->count, eol);
	}
	P("X-Sprex-Requested-Action: investigate and stop the transmission; answer with "
	  "sprex-agent action%s", eol);
	P("%s", eol);
	return 0;
}

static int mail_part(struct sx_buf *out, const char *eol, const char *bnd, const uint8_t *mail,
		     size_t mlen, int headers_only)
{
	int rc;
	P("--%s%s", bnd, eol);
	size_t n = headers_only ? sx_notice_header_len(mail, mlen) : mlen;
	P("Content-Type: %s%s", headers_only ? "text/rfc822-headers" : "message/rfc822", eol);
	/* the mail goes as it is: say so when it is not 7bit (RFC 2046 §5.2.1
	 * allows 8bit and binary for message/rfc822) */
	for (size_t i = 0; i < n; i++) {
		if (mail[i] >= 0x80 || mail[i] == 0) {
			P("Content-Transfer-Encoding: %s%s",
			  memchr(mail, 0, n) ? "binary" : "8bit", eol);
			break;
		}
	}
	P("Content-Disposition: inline%s%s", eol, eol);
	if ((rc = sx_buf_append(out, mail, n)) < 0)
		return rc;
	/* the closing delimiter starts on a line of its own */
	if (n == 0 || mail[n - 1] != '\n')
		P("%s", eol);
	P("%s--%s--%s", eol, bnd, eol);
	return 0;
}

int sx_arf_build(const Sprex__Deliver *d, const struct sx_notice_opts *opts, struct sx_buf *out)
{
	int rc;
	struct sx_notice_opts o;
	if (!d || !d->report_id || !d->report_id[0])
		return SX_EINVAL;
	sx_notice_opts_resolve(opts, &o);
	if (o.now_ms == 0 && d->meta)
		o.now_ms = d->meta->received_ms;
	const uint8_t *mail = d->raw_mail.data ? d->raw_mail.data : (const uint8_t *)"";
	size_t mlen = d->raw_mail.len;
	int headers_only = mlen > o.message_max;
	const char *eol = sx_notice_eol(mail, mlen);
	char bnd[BOUNDARY_MAX], id[80];
	sx_sink_clean(d->report_id, id, sizeof id);
	boundary(id, mail, mlen, bnd, sizeof bnd);
	const char *ip = d->meta && d->meta->source_ip ? d->meta->source_ip : "";
	if ((rc = top_headers(out, &o, eol, ip, id, bnd, "Abuse report: spam")) < 0 ||
	    (rc = text_part_head(out, eol, bnd)) < 0 ||
	    (rc = text_part(out, d, &o, eol, headers_only)) < 0 ||
	    (rc = feedback_part(out, d, eol, bnd, mail, mlen)) < 0)
		return rc;
	return mail_part(out, eol, bnd, mail, mlen, headers_only);
}

int sx_arf_digest(const struct sx_notice_digest *g, const struct sx_notice_opts *opts,
		  struct sx_buf *out)
{
	int rc;
	struct sx_notice_opts o;
	if (!g || !g->id || !g->id[0])
		return SX_EINVAL;
	sx_notice_opts_resolve(opts, &o);
	if (o.now_ms == 0)
		o.now_ms = g->last_ms;
	const uint8_t *hdr = g->headers ? g->headers : (const uint8_t *)"";
	const char *eol = sx_notice_eol(hdr, g->headers_len);
	char bnd[BOUNDARY_MAX], first[40], last[40], date[48];
	boundary(g->id, hdr, g->headers_len, bnd, sizeof bnd);
	const char *ip = g->source_ip ? g->source_ip : "";
	if ((rc = top_headers(out, &o, eol, ip, g->id, bnd, "Abuse report digest: spam")) < 0 ||
	    (rc = text_part_head(out, eol, bnd)) < 0)
		return rc;
	sx_notice_iso_time(g->first_ms, first, sizeof first);
	sx_notice_iso_time(g->last_ms, last, sizeof last);
	P("Dear abuse desk,%s%s", eol, eol);
	P("this is the daily digest of the spam reports whose source address lies in your%s"
	  "network (Act on Regulation of Transmission of Specified Electronic Mail, Japan).%s%s",
	  eol, eol, eol);
	P("  Source IP:        ");
	C(ip[0] ? ip : "unknown");
	P("%s", eol);
	P("  Day (UTC):        ");
	C(g->day);
	P("%s", eol);
	P("  Reports:          %" PRIu64 "%s", g->count, eol);
	P("  First seen (UTC): %s%s", first, eol);
	P("  Last seen (UTC):  %s%s", last, eol);
	P("%sReport ids (each can be answered on its own):%s", eol, eol);
	for (size_t i = 0; i < g->n_ids; i++) {
		P("  ");
		C(g->report_ids[i]);
		P("%s", eol);
	}
	P("%sThe header block of the first report is attached. The full reports, with the%s"
	  "evidence and the article of the Act each flag concerns, are available from the%s"
	  "exchange by report id.%s", eol, eol, eol, eol);
	P("%sWhat we ask: please identify the customer who used this IP address on that day,%s"
	  "stop the transmission if it breaches your terms or the Act, and tell us what%s"
	  "you did, per report.%s%s", eol, eol, eol, eol, eol);
	if ((rc = answer_text(out, &o, eol, "REPORT_ID")) < 0)
		return rc;
	/* machine-readable part */
	P("--%s%s", bnd, eol);
	P("Content-Type: message/feedback-report%s%s", eol, eol);
	P("Feedback-Type: abuse%s", eol);
	P("User-Agent: sprex-agent/%s%s", SPREX_VERSION, eol);
	P("Version: 1%s", eol);
	sx_notice_rfc5322_time(g->first_ms, date, sizeof date);
	P("Arrival-Date: %s%s", date, eol);
	if (ip[0]) {
		P("Source-IP: ");
		C(ip);
		P("%s", eol);
	}
	P("Incidents: %" PRIu64 "%s", g->count, eol);
	P("X-Sprex-Digest-Day: ");
	C(g->day);
	P("%s", eol);
	P("X-Sprex-First-Seen: %s%s", first, eol);
	P("X-Sprex-Last-Seen: %s%s", last, eol);
	for (size_t i = 0; i < g->n_ids; i++) {
		P("X-Sprex-Report-Id: ");
		C(g->report_ids[i]);
		P("%s", eol);
	}
	P("%s", eol);
	return mail_part(out, eol, bnd, hdr, g->headers_len, 1);
}
