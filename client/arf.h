/*
 * arf.h: ISP abuse notices in the Abuse Reporting Format (RFC 5965, with
 * RFC 6650's advice): a multipart/report; report-type=feedback-report of
 * three parts: a self-sufficient human-readable text/plain part, the
 * machine-readable message/feedback-report (Feedback-Type: abuse), and the
 * de-personalized mail as message/rfc822 (its header block only, as
 * text/rfc822-headers, when the mail is over the configured size). Pure:
 * bytes out, no I/O. Line endings follow the mail's (CRLF or LF).
 */
#ifndef SX_ARF_H
#define SX_ARF_H

#include "buf.h"
#include "frame.h"
#include "notice.h"

/*
 * Appends the ARF notice for the delivered report d (meta and manifest are
 * used when present) to out, which the caller initialized with its bound
 * (SX_NOTICE_MAX is a good one). o may be NULL (defaults). Returns 0, or
 * SX_EINVAL (no report id), SX_ETOOBIG (over out's bound), SX_ENOMEM; on
 * failure out may hold a partial notice: discard it.
 */
int sx_arf_build(const Sprex__Deliver *d, const struct sx_notice_opts *o, struct sx_buf *out);

/*
 * Appends the ARF digest notice for g (one source IP, one UTC day, many
 * reports: Incidents: count, first and last seen, every report id) to out.
 * The third part is g's header block as text/rfc822-headers (an empty one
 * when g has none). Returns as sx_arf_build.
 */
int sx_arf_digest(const struct sx_notice_digest *g, const struct sx_notice_opts *o,
		  struct sx_buf *out);

#endif
