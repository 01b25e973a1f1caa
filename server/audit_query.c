/*
 * audit_query.c: AuditQuery, streamed from the store to an auditor.
 */
#include "audit_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "feed_impl.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "store_stats.h"

struct stream {
	struct sx_session *ss;
	uint64_t id;
	struct sx_audit_rec held;     /* sent when the next one comes, or as last */
	uint8_t held_hash[SX_AUDIT_HASH];
	int have;
	size_t sent;
};

static void send_rec(struct stream *st, int last)
{
	Sprex__AuditRecord a = SPREX__AUDIT_RECORD__INIT;
	const struct sx_audit_rec *r = &st->held;
	a.leaf_index = (uint64_t)r->leaf_index;
	a.time_ms = r->time_ms;
	a.event = (char *)r->event;
	a.member = (char *)r->member;
	a.spki = (char *)r->spki;
	a.peer = (char *)r->peer;
	a.object = (char *)r->object;
	a.outcome = (char *)r->outcome;
	a.leaf_hash.data = st->held_hash;
	a.leaf_hash.len = st->have ? SX_AUDIT_HASH : 0;
	a.last = last;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = st->id;
	f.msg_case = SPREX__FRAME__MSG_AUDIT_RECORD;
	f.audit_record = &a;
	sx_peer_send(st->ss->peer, &f);
	st->sent++;
}

static int one(void *ctx, const struct sx_audit_rec *r, const uint8_t h[SX_AUDIT_HASH])
{
	struct stream *st = ctx;
	if (st->have)
		send_rec(st, 0);
	st->held = *r;
	memcpy(st->held_hash, h, SX_AUDIT_HASH);
	st->have = 1;
	return 0;
}

static Sprex__ErrorCode code_of(int rc)
{
	return rc == SX_EBUSY ? SPREX__ERROR_CODE__ERROR_BUSY
	       : rc == SX_EINVAL ? SPREX__ERROR_CODE__ERROR_INVALID
				 : SPREX__ERROR_CODE__ERROR_INTERNAL;
}

/* "YYYY-MM" of UTC time ms (>= 0) into out[8]. */
static void month_of(int64_t ms, char out[8])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
		snprintf(out, 8, "9999-12");
	else
		snprintf(out, 8, "%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
			 (unsigned)(tm.tm_mon + 1) % 100u);
}

/* The statistics of the query's months: since_ms's month to the month of
 * the last millisecond before until_ms. Returns as sx_store_stats. */
static int query_stats(struct sx_store *store, const Sprex__AuditQuery *m, struct sx_stats *st)
{
	char from[8], to[8];
	if (m->since_ms > 0)
		month_of(m->since_ms, from);
	if (m->until_ms > 0)
		month_of(m->until_ms - 1, to);
	return sx_store_stats(store, m->since_ms > 0 ? from : NULL, m->until_ms > 0 ? to : NULL,
			      st);
}

/* Sends st as Stats frames of up to SX_AUDIT_STATS_MONTHS months each. */
static void send_stats(struct sx_session *ss, uint64_t id, const struct sx_stats *st)
{
	static Sprex__StatsMonth months[SX_AUDIT_STATS_MONTHS];
	static Sprex__StatsMonth *mp[SX_AUDIT_STATS_MONTHS];
	static Sprex__StatsMonth__FiguresEntry fig[SX_AUDIT_STATS_MONTHS][SX_STAT_COUNT];
	static Sprex__StatsMonth__FiguresEntry *fp[SX_AUDIT_STATS_MONTHS][SX_STAT_COUNT];
	for (size_t first = 0; first < st->n; first += SX_AUDIT_STATS_MONTHS) {
		size_t n = st->n - first < SX_AUDIT_STATS_MONTHS ? st->n - first
								: SX_AUDIT_STATS_MONTHS;
		for (size_t i = 0; i < n; i++) {
			const struct sx_stats_month *sm = &st->months[first + i];
			sprex__stats_month__init(&months[i]);
			months[i].month = (char *)sm->month;
			for (int k = 0; k < SX_STAT_COUNT; k++) {
				sprex__stats_month__figures_entry__init(&fig[i][k]);
				fig[i][k].key = (char *)sx_stat_name((enum sx_stat)k);
				fig[i][k].value = sm->v[k];
				fp[i][k] = &fig[i][k];
			}
			months[i].n_figures = SX_STAT_COUNT;
			months[i].figures = fp[i];
			mp[i] = &months[i];
		}
		Sprex__Stats sf = SPREX__STATS__INIT;
		sf.n_months = n;
		sf.months = mp;
		Sprex__Frame f = SPREX__FRAME__INIT;
		f.id = id;
		f.msg_case = SPREX__FRAME__MSG_STATS;
		f.stats = &sf;
		sx_peer_send(ss->peer, &f);
	}
}

void sx_audit_query(struct sx_session *ss, uint64_t id, const Sprex__AuditQuery *m)
{
	struct sx_store *store = ss->srv->store;
	if (ss->member.role != SX_ROLE_AUDITOR) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_FORBIDDEN,
				 "only auditors may query the audit log");
		return;
	}
	if ((m->event && m->event[0] && !sx_audit_event_ok(m->event)) ||
	    (m->member && strlen(m->member) >= SX_NAME_MAX) || m->since_ms < 0 ||
	    m->until_ms < 0) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
				 "bad audit query (event, member or times)");
		return;
	}
	/* Records of the feed's open batch belong in the answer. */
	sx_feed_flush(&ss->srv->feed);

	struct sx_audit_rec q;
	memset(&q, 0, sizeof q);
	q.time_ms = sx_feed_now();
	snprintf(q.event, sizeof q.event, "audit-query");
	snprintf(q.member, sizeof q.member, "%s", ss->member.name);
	sx_audit_spki_hex(ss->member.spki, q.spki);
	snprintf(q.peer, sizeof q.peer, "%s", ss->peer_addr);
	snprintf(q.object, sizeof q.object, "since=%lld until=%lld member=%.63s event=%.23s "
		 "from=%llu%s", (long long)m->since_ms, (long long)m->until_ms,
		 m->member && m->member[0] ? m->member : "-",
		 m->event && m->event[0] ? m->event : "-",
		 (unsigned long long)m->proof_from_size, m->stats ? " stats" : "");
	for (char *p = q.object; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(q.outcome, sizeof q.outcome, "ok");
	int rc = sx_store_audit_append(store, &q);
	if (rc != 0) {
		sx_session_error(ss, id, code_of(rc), "audit query not possible: %s",
				 sx_store_errmsg(store));
		return;
	}
	/* The statistics before any frame of the answer, so that a range
	 * they refuse (more than SX_STATS_MONTHS_MAX months) is one Error. */
	struct sx_stats stats = { .months = NULL };
	if (m->stats && (rc = query_stats(store, m, &stats)) != 0) {
		sx_session_error(ss, id, code_of(rc), "no statistics: %s",
				 sx_store_errmsg(store));
		return;
	}

	/* The checkpoint first, so that the records and the proof end at a
	 * size the auditor can check against a signature. */
	static struct sx_audit_checkpoint cp;
	int have_cp = sx_store_audit_checkpoint_last(store, &cp) == 0;
	/* A size beyond the latest checkpoint gets no proof: the auditor sees
	 * the smaller checkpoint and raises the rollback alarm itself. */
	int want_proof = have_cp && m->proof_from_size > 0 &&
			 m->proof_from_size <= (uint64_t)cp.tree_size;
	struct sx_audit_filter f;
	memset(&f, 0, sizeof f);
	f.since_ms = m->since_ms;
	f.until_ms = m->until_ms;
	f.member = m->member && m->member[0] ? m->member : NULL;
	f.event = m->event && m->event[0] ? m->event : NULL;
	f.limit = m->limit > 0 && m->limit < SX_AUDIT_QUERY_MAX ? m->limit : SX_AUDIT_QUERY_MAX;
	struct stream st;
	memset(&st, 0, sizeof st);
	st.ss = ss;
	st.id = id;
	rc = sx_store_audit_each(store, &f, one, &st);
	if (rc != 0) {
		sx_stats_finish(&stats);
		sx_session_error(ss, id, code_of(rc), "audit query failed: %s",
				 sx_store_errmsg(store));
		return;
	}
	send_rec(&st, 1);   /* the held one, or the empty marker */
	if (m->stats)
		send_stats(ss, id, &stats);
	sx_stats_finish(&stats);

	/* Always a Checkpoint frame, so the auditor knows the answer's end:
	 * tree_size 0 and no note while the log has no checkpoint yet. */
	Sprex__Checkpoint c = SPREX__CHECKPOINT__INIT;
	if (have_cp) {
		c.tree_size = (uint64_t)cp.tree_size;
		c.root_hash.data = cp.root;
		c.root_hash.len = SX_AUDIT_HASH;
		c.time_ms = cp.time_ms;
		c.note = cp.note;
	}
	Sprex__Frame fr = SPREX__FRAME__INIT;
	fr.id = id;
	fr.msg_case = SPREX__FRAME__MSG_CHECKPOINT;
	fr.checkpoint = &c;
	sx_peer_send(ss->peer, &fr);
	if (want_proof) {
		uint8_t proof[SX_AUDIT_PROOF_MAX * SX_AUDIT_HASH];
		ProtobufCBinaryData hashes[SX_AUDIT_PROOF_MAX];
		size_t n = 0;
		rc = sx_store_audit_consistency(store, (int64_t)m->proof_from_size, cp.tree_size,
						proof, &n);
		if (rc != 0) {
			sx_session_error(ss, id, code_of(rc), "no consistency proof: %s",
					 sx_store_errmsg(store));
			return;
		}
		for (size_t i = 0; i < n; i++) {
			hashes[i].data = proof + i * SX_AUDIT_HASH;
			hashes[i].len = SX_AUDIT_HASH;
		}
		Sprex__ConsistencyProof p = SPREX__CONSISTENCY_PROOF__INIT;
		p.from_size = m->proof_from_size;
		p.to_size = (uint64_t)cp.tree_size;
		p.n_hashes = n;
		p.hashes = hashes;
		Sprex__Frame pf = SPREX__FRAME__INIT;
		pf.id = id;
		pf.msg_case = SPREX__FRAME__MSG_CONSISTENCY_PROOF;
		pf.consistency_proof = &p;
		sx_peer_send(ss->peer, &pf);
	}
	sx_log_info("session %llu: auditor %s: audit query, %zu record(s)",
		    (unsigned long long)ss->id, ss->member.name, st.have ? st.sent : 0);
}
