/*
 * xarf.h: ISP abuse notices as XARF v4 JSON (the xarf-spec v4 core schema:
 * xarf_version, report_id as a UUID, timestamp, reporter, sender,
 * source_identifier, category "messaging", type "spam"; the messaging/spam
 * type's protocol, with smtp_from and source_port when it is "smtp"). What
 * XARF has no field for (report id, SHA-256, manifest, flags with evidence
 * and article, how to answer) goes in a "sprex" object, which the core
 * schema allows (additionalProperties). One JSON object, no newline inside.
 * Pure: bytes out, no I/O.
 */
#ifndef SX_XARF_H
#define SX_XARF_H

#include "buf.h"
#include "frame.h"
#include "notice.h"

/* XARF's evidence items hold at most this many bytes each (the schema's
 * maximum); a larger mail is attached as its header block. */
#define SX_XARF_EVIDENCE_MAX (5u << 20)

/*
 * Appends the XARF report for the delivered report d to out (bounded by the
 * caller). The first member is "sprex_report_id" (sinks find it there).
 * Returns 0, SX_EINVAL (no report id), SX_ETOOBIG, SX_ENOMEM; on failure out
 * may hold a partial object: discard it.
 */
int sx_xarf_build(const Sprex__Deliver *d, const struct sx_notice_opts *o, struct sx_buf *out);

/* The same for a digest (one IP, one UTC day): "sprex_digest" holds the day,
 * count, first and last seen and the report ids. */
int sx_xarf_digest(const struct sx_notice_digest *g, const struct sx_notice_opts *o,
		   struct sx_buf *out);

#endif
