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

/*
 * Answers AuditQuery m (request id) of session ss: the matching records as
 * AuditRecord frames in leaf order, the last one with last = true (no match:
 * a single AuditRecord with event "" and last = true), then the latest
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
