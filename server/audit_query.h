/*
 * audit_query.h: AuditQuery over the wire, for auditor members (docs/audit.md).
 */
#ifndef SX_AUDIT_QUERY_H
#define SX_AUDIT_QUERY_H

#include <stdint.h>

#include "proto/sprex.pb-c.h"

struct sx_session;

/* Most records one query returns; the auditor pages on with since_ms. */
#define SX_AUDIT_QUERY_MAX 10000
/* Months per Stats frame: a year of figures is about 12 KB, below the
 * smallest max_frame a session can negotiate (SX_FRAME_MIN_MAX, 16 KiB). */
#define SX_AUDIT_STATS_MONTHS 12

/*
 * Answers AuditQuery m (request id) of session ss: the matching records as
 * AuditRecord frames in leaf order, the last one with last = true (no match:
 * a single AuditRecord with event "" and last = true), then, when m->stats,
 * the monthly statistics (sx_store_stats) of the months the query's time
 * range touches (since_ms 0: from the first month with data; until_ms 0:
 * to the last) as Stats frames of at most SX_AUDIT_STATS_MONTHS months in
 * month order (none when there are no months), then the latest
 * Checkpoint (tree_size 0 and no note while there is none), then, when
 * 0 < m->proof_from_size <= its tree_size, a ConsistencyProof from that
 * size to the checkpoint's size (empty when equal). A larger
 * proof_from_size gets no proof: the auditor sees the smaller checkpoint
 * (a rollback) and alarms. Records an
 * "audit-query" audit event first. The caller has checked the role
 * (sx_authz: auditors only); a non-auditor is refused here too. Errors are
 * answered with sx_session_error.
 */
void sx_audit_query(struct sx_session *ss, uint64_t id, const Sprex__AuditQuery *m);

#endif
