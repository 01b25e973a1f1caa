/*
 * notice.h: what the ISP notice formats (ARF, XARF) and their digests share:
 * the options a subscription gives them and small pure helpers over a
 * delivered report (times, the mail's header block, the answer text).
 * Nothing here does I/O.
 */
#ifndef SX_NOTICE_H
#define SX_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* Default size above which an ARF notice carries only the mail's header
 * block (text/rfc822-headers) instead of the whole mail. */
#define SX_NOTICE_MESSAGE_MAX_DEFAULT (1u << 20)
/* Hard bound on one notice (ARF or XARF, mail included). */
#define SX_NOTICE_MAX (64u << 20)
/* Longest header block a digest keeps per (IP, day) for its third part. */
#define SX_NOTICE_HEADERS_MAX (16u * 1024u)

/* How a subscription wants its notices written; every pointer is borrowed
 * and may be NULL (a default is used). */
struct sx_notice_opts {
	const char *reporter_org;     /* "sprex" */
	const char *reporter_contact; /* From: of ARF, XARF reporter.contact */
	const char *reporter_domain;  /* XARF reporter.domain */
	const char *to;               /* To: of ARF; NULL: no To: field */
	const char *config_path;      /* shown in the answer command; NULL: "FILE" */
	uint64_t message_max;         /* 0: SX_NOTICE_MESSAGE_MAX_DEFAULT */
	int64_t now_ms;               /* Date: of the notice; 0: received time */
};

/* Resolved defaults of o (NULL is fine) into out. */
void sx_notice_opts_resolve(const struct sx_notice_opts *o, struct sx_notice_opts *out);

/* "2026-11-28T16:18:54Z"; out has at least 32 bytes. */
void sx_notice_iso_time(int64_t ms, char *out, size_t outlen);
/* "Sat, 28 Nov 2026 16:18:54 +0000"; out has at least 40 bytes. */
void sx_notice_rfc5322_time(int64_t ms, char *out, size_t outlen);
/* "2026-11-28" (UTC day of ms); out has at least 11 bytes. */
void sx_notice_day(int64_t ms, char *out, size_t outlen);

/* What an abuse desk calls the evidence source: "monitor (spam trap)",
 * "user report", "chain mail" or "unspecified". */
const char *sx_notice_evidence_source(int source);

/* Length of the mail's header block including the empty line that ends it
 * (the whole mail when it has no body). */
size_t sx_notice_header_len(const uint8_t *mail, size_t len);

/* Copies into out (NUL-terminated, at most outlen - 1 bytes, control bytes
 * replaced) the address inside the first header field name of the mail's
 * header block, e.g. Return-Path: <a@b> -> a@b. Returns its length, 0 when
 * absent or empty. */
size_t sx_notice_header_addr(const uint8_t *mail, size_t len, const char *name, char *out,
			     size_t outlen);

/* A UUID (version 4 layout, RFC 9562) derived from the report id, so the
 * same report always gives the same XARF report_id. out has 37 bytes. */
void sx_notice_uuid(const char *report_id, char out[37]);

/* The command an ISP runs to answer, for report_id: "sprex-agent action
 * --config FILE REPORT_ID --taken ACTION [--note TEXT]". */
int sx_notice_answer(const struct sx_notice_opts *o, const char *report_id, char *out,
		     size_t outlen);

/* One digest notice: the reports of one source IP on one UTC day. Every
 * pointer is borrowed. */
struct sx_notice_digest {
	const char *id;               /* digest id, [a-z2-7], names the notice */
	const char *day;              /* YYYY-MM-DD (UTC) */
	const char *source_ip;
	uint64_t count;               /* reports recorded */
	int64_t first_ms, last_ms;    /* first and last seen (received time) */
	const char *const *report_ids;
	size_t n_ids;
	const uint8_t *headers;       /* the first report's header block, or NULL */
	size_t headers_len;
};

/* "\r\n" when the mail's first line ends so (or the mail is empty), else
 * "\n": a notice keeps the convention of the mail it carries. */
const char *sx_notice_eol(const uint8_t *mail, size_t len);

/* Appends printf-style text to out; 0, SX_ETOOBIG or SX_ENOMEM. */
struct sx_buf;
int sx_notice_put(struct sx_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with control bytes other than tab replaced by spaces (a value
 * from the wire must not break a header line). */
int sx_notice_put_clean(struct sx_buf *out, const char *s);

/* The actions an ISP may report, comma-separated as the command takes them. */
#define SX_NOTICE_ACTIONS \
	"investigating, warning, suspension, termination, not-our-customer, " \
	"insufficient-evidence"

#endif
