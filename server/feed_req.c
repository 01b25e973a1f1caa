/*
 * feed_req.c: the subscription requests of a session (Subscribe, Ack, Nak,
 * Reject, ParkedQuery): checked, decided by the policy, applied through the
 * engine (feed.c), answered.
 */
#include "feed_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "err.h"
#include "log.h"
#include "server.h"
#include "session.h"

#define NAK_DELAY_MAX_MS 3600000u  /* a member may ask for at most an hour */
#define ACK_RANGES_MAX 1024
#define PARKED_LIST_MAX 1000       /* entries in one ParkedList answer */

static int name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (len == 0 || len >= SX_SUB_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int64_t resolve_isp(void *ctx, const char *name)
{
	const struct sx_members *ms = ctx;
	const struct sx_member *m = sx_members_by_name(ms, name);
	return m && m->role == SX_ROLE_ISP ? m->id : 0;
}

/* Where a new subscription starts. */
static int start_position(struct sx_feeds *fd, const Sprex__Start *st, int64_t *pos)
{
	int64_t head = 0;
	int rc = sx_store_head_seq(fd->store, &head);
	if (rc < 0)
		return rc;
	if (head < fd->purged_through)
		head = fd->purged_through; /* everything was purged: seqs go on */
	if (!st || st->at_case == SPREX__START__AT_NEW_ONLY) {
		*pos = head + 1;
		return 0;
	}
	switch (st->at_case) {
	case SPREX__START__AT_EARLIEST:
		*pos = fd->purged_through + 1;
		return 0;
	case SPREX__START__AT_FROM_SEQ:
		/* Compared unsigned first: a huge value must not wrap. */
		*pos = st->from_seq == 0 ? 1
		       : st->from_seq > (uint64_t)head + 1 ? head + 1 : (int64_t)st->from_seq;
		return 0;
	case SPREX__START__AT_FROM_TIME_MS:
		return sx_store_seq_at_time(fd->store, st->from_time_ms, pos);
	default:
		*pos = head + 1;
		return 0;
	}
}

static void store_error(struct sx_session *ss, uint64_t id, int rc, const char *what)
{
	struct sx_store *s = ss->srv->store;
	sx_log_warn("session %llu: member %s: %s failed: %s", (unsigned long long)ss->id,
		    ss->member.name, what, sx_store_errmsg(s));
	sx_session_error(ss, id,
			 rc == SX_EBUSY ? SPREX__ERROR_CODE__ERROR_BUSY
					: SPREX__ERROR_CODE__ERROR_INTERNAL,
			 "%s failed: %s", what, rc == SX_EBUSY ? "store busy, try again" : "server fault");
}

static int create_sub(struct sx_store *s, void *ctx)
{
	return sx_store_sub_create(s, ctx);
}

static int reset_sub(struct sx_store *s, void *ctx)
{
	return sx_store_sub_reset(s, ctx, sx_feed_now());
}

/* Runs change in a transaction of its own (FULL) together with its audit
 * record, after committing the delivery state's write-behind. */
static int with_record(struct sx_feeds *fd, struct sx_session *ss, const char *event,
		       int (*change)(struct sx_store *, void *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static int with_record(struct sx_feeds *fd, struct sx_session *ss, const char *event,
		       int (*change)(struct sx_store *, void *), void *ctx, const char *fmt, ...)
{
	/* The write-behind's own trouble (a busy store) is retried by its
	 * timer; this change waits for the lock in its own transaction. */
	sx_feed_flush(fd);
	int rc = sx_store_batch_begin(fd->store);
	if (rc < 0)
		return rc;
	rc = change(fd->store, ctx);
	if (rc == 0) {
		struct sx_audit_rec r;
		va_list ap;
		va_start(ap, fmt);
		sx_session_audit_vrec(ss, &r, event, "ok", fmt, ap);
		va_end(ap);
		rc = sx_store_audit_append(fd->store, &r);
	}
	if (rc == 0)
		rc = sx_store_batch_commit(fd->store);
	if (rc < 0)
		sx_store_batch_rollback(fd->store);
	return rc;
}

void sx_feed_subscribe(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		       const Sprex__Subscribe *m)
{
	const struct sx_srvconf *cf = ss->srv->conf;
	enum sx_feed feed = (enum sx_feed)m->feed;
	if (!name_ok(m->name)) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
				 "subscription name must be 1 to 63 of [A-Za-z0-9._-]");
		return;
	}
	if (!sx_authz_may_subscribe(ss->member.role, feed)) {
		const char *fn = sx_feed_name(feed);
		sx_log_warn("session %llu: member %s (%s) may not subscribe to feed %s",
			    (unsigned long long)ss->id, ss->member.name,
			    sx_role_name(ss->member.role), fn ? fn : "(unknown)");
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_FORBIDDEN,
				 "a %s member may not subscribe to the %s feed",
				 sx_role_name(ss->member.role), fn ? fn : "unknown");
		return;
	}
	for (struct sx_subscr *sb = ss->subs; sb; sb = sb->snext)
		if (strcmp(sb->row.name, m->name) == 0) {
			sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_CONFLICT,
					 "subscription %s is already attached on this session",
					 m->name);
			return;
		}
	if (ss->nsubs >= cf->max_subscriptions) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_LIMIT,
				 "at most %u subscriptions per session (max_subscriptions)",
				 cf->max_subscriptions);
		return;
	}
	struct sx_filter filter;
	char err[160];
	if (sx_filter_from_wire(&filter, m->filter, resolve_isp, ss->srv->members, err,
				sizeof err) < 0) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID, "filter: %s", err);
		return;
	}
	struct sx_sub want = { .member = ss->member.id, .feed = feed };
	snprintf(want.name, sizeof want.name, "%s", m->name);
	if (sx_filter_text(&filter, want.filter, sizeof want.filter) < 0) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_LIMIT, "filter too long");
		return;
	}
	uint32_t wc = m->window_count ? m->window_count : cf->window_count;
	uint64_t wb = m->window_bytes ? m->window_bytes : cf->window_bytes;
	if (wc > cf->window_count_max)
		wc = cf->window_count_max;
	if (wb > cf->window_bytes_max)
		wb = cf->window_bytes_max;
	want.window_count = wc;
	want.window_bytes = wb;

	struct sx_sub row;
	int created = 0;
	int rc = sx_store_sub_get(fd->store, ss->member.id, m->name, &row);
	if (rc == SX_ENOTFOUND) {
		want.created_ms = sx_feed_now();
		rc = start_position(fd, m->start, &want.position);
		if (rc == 0)
			rc = with_record(fd, ss, "subscribe", create_sub, &want,
					 "sub=%s feed=%s filter=%s position=%lld", want.name,
					 sx_feed_name(feed), want.filter, (long long)want.position);
		row = want;
		created = 1;
	} else if (rc == 0 && (row.feed != want.feed || strcmp(row.filter, want.filter) != 0)) {
		if (!m->reset) {
			sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_CONFLICT,
					 "subscription %s exists with feed %s and filter \"%s\"; "
					 "changing them needs an explicit reset", row.name,
					 sx_feed_name((enum sx_feed)row.feed), row.filter);
			return;
		}
	}
	if (rc == 0 && !created && m->reset) {
		want.id = row.id;
		want.created_ms = row.created_ms;
		rc = start_position(fd, m->start, &want.position);
		if (rc == 0) {
			struct sx_subscr *live = sx_feed_find(fd, row.id);
			if (live) { /* superseded: told, and closed */
				struct sx_session *old = live->ss;
				sx_feed_session_closed(fd, old);
				sx_session_goaway(old, SPREX__GO_AWAY_REASON__GOAWAY_SUPERSEDED, 0,
						  "subscription reset by a newer session");
			}
			rc = with_record(fd, ss, "reset", reset_sub, &want,
					 "sub=%s feed=%s filter=%s position=%lld", want.name,
					 sx_feed_name(feed), want.filter, (long long)want.position);
		}
		if (rc == 0)
			rc = sx_store_sub_get(fd->store, ss->member.id, m->name, &row);
		if (rc == 0)
			sx_log_info("session %llu: member %s reset subscription %s (feed %s, "
				    "filter \"%s\", position %lld)", (unsigned long long)ss->id,
				    ss->member.name, row.name, sx_feed_name(feed), row.filter,
				    (long long)row.position);
	}
	if (rc < 0) {
		store_error(ss, id, rc, "subscribe");
		return;
	}
	struct sx_subscr *sb;
	rc = sx_feed_attach(fd, ss, &row, &filter, wc, wb, &sb);
	if (rc < 0) {
		store_error(ss, id, rc, "attach");
		return;
	}
	Sprex__Subscribed ok = SPREX__SUBSCRIBED__INIT;
	ok.name = sb->row.name;
	ok.sub_id = sb->sub_id;
	ok.created = created;
	ok.position = (uint64_t)sb->row.position;
	ok.window_count = wc;
	ok.window_bytes = wb;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = id;
	f.msg_case = SPREX__FRAME__MSG_SUBSCRIBED;
	f.subscribed = &ok;
	if (!created && !m->reset)
		sx_feed_audit_sub(fd, sb, "attach", "ok", "sub=%s position=%lld unacked=%zu",
				  sb->row.name, (long long)sb->row.position, sb->ninf);
	if (sx_peer_send(ss->peer, &f) < 0)
		return;
	sx_log_info("session %llu: member %s %s subscription %s (feed %s, position %lld, "
		    "%zu unacked)", (unsigned long long)ss->id, ss->member.name,
		    created ? "created" : "attached", sb->row.name, sx_feed_name(feed),
		    (long long)sb->row.position, sb->ninf);
	sx_feed_pump(fd, sb);
}

/* The subscription an Ack/Nak/Reject names: by handle on this session, or
 * by name for any session of the same member. NULL with *row_id set when it
 * exists but is not attached; NULL with *row_id 0 when unknown. */
static struct sx_subscr *target(struct sx_feeds *fd, struct sx_session *ss, uint32_t sub_id,
				const char *name, int64_t *row_id)
{
	*row_id = 0;
	if (sub_id) {
		struct sx_subscr *sb = sx_feed_by_handle(ss, sub_id);
		if (sb || !name || !name[0])
			return sb;
	}
	if (!name || !name[0])
		return NULL;
	struct sx_sub row;
	if (sx_store_sub_get(fd->store, ss->member.id, name, &row) < 0)
		return NULL;
	struct sx_subscr *sb = sx_feed_find(fd, row.id);
	if (sb && sb->ss->member.id != ss->member.id)
		return NULL;
	if (!sb)
		*row_id = row.id;
	return sb;
}

void sx_feed_ack(struct sx_feeds *fd, struct sx_session *ss, uint64_t id, const Sprex__Ack *m)
{
	if (m->n_ranges == 0 || m->n_ranges > ACK_RANGES_MAX) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
				 "an ack holds 1 to %u seq ranges", ACK_RANGES_MAX);
		return;
	}
	for (size_t i = 0; i < m->n_ranges; i++)
		if (m->ranges[i]->first == 0 || m->ranges[i]->first > m->ranges[i]->last ||
		    m->ranges[i]->last > INT64_MAX) {
			sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
					 "ack range %zu is not 1 <= first <= last", i);
			return;
		}
	int64_t row_id;
	struct sx_subscr *sb = target(fd, ss, m->sub_id, m->name, &row_id);
	if (!sb && !row_id) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_NOT_FOUND,
				 "ack for an unknown subscription");
		return;
	}
	char seqs[160] = "";
	size_t used = 0;
	for (size_t i = 0; i < m->n_ranges && used < sizeof seqs - 24; i++) {
		int w = snprintf(seqs + used, sizeof seqs - used, "%s%llu..%llu", i ? "," : "",
				 (unsigned long long)m->ranges[i]->first,
				 (unsigned long long)m->ranges[i]->last);
		used += w > 0 ? (size_t)w : 0;
	}
	if (m->n_ranges > 1 && used >= sizeof seqs - 24)
		snprintf(seqs + used, sizeof seqs - used, ",+%zu ranges", m->n_ranges);
	struct sx_audit_rec r;
	sx_session_audit_rec(ss, &r, "ack", "ok", "sub=%s seq=%s",
			     sb ? sb->row.name : (m->name ? m->name : ""), seqs);
	sx_feed_audit(fd, &r);
	for (size_t i = 0; i < m->n_ranges; i++) {
		int64_t first = (int64_t)m->ranges[i]->first, last = (int64_t)m->ranges[i]->last;
		if (sb) {
			sx_feed_ack_range(fd, sb, first, last);
		} else if (sx_feed_batch(fd) == 0) {
			sx_store_pending_ack(fd->store, row_id, first, last, NULL);
		}
	}
	if (sb)
		sx_feed_pump(fd, sb);
}

static struct sx_subscr *attached_or_error(struct sx_feeds *fd, struct sx_session *ss,
					   uint64_t id, uint32_t sub_id, uint64_t seq,
					   ssize_t *idx)
{
	struct sx_subscr *sb = sx_feed_by_handle(ss, sub_id);
	(void)fd;
	if (!sb) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_NOT_FOUND,
				 "no subscription with handle %u on this session", sub_id);
		return NULL;
	}
	*idx = seq <= INT64_MAX ? sx_feed_inflight_find(sb, (int64_t)seq) : -1;
	if (*idx < 0) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_NOT_FOUND,
				 "seq %llu is not pending on subscription %s",
				 (unsigned long long)seq, sb->row.name);
		return NULL;
	}
	return sb;
}

void sx_feed_nak(struct sx_feeds *fd, struct sx_session *ss, uint64_t id, const Sprex__Nak *m)
{
	ssize_t i;
	struct sx_subscr *sb = attached_or_error(fd, ss, id, m->sub_id, m->seq, &i);
	if (!sb)
		return;
	uint32_t delay = m->delay_ms > NAK_DELAY_MAX_MS ? NAK_DELAY_MAX_MS : m->delay_ms;
	struct sx_inflight *in = &sb->inf[i];
	in->due_ms = sx_feed_now() + delay;
	if (in->stored == SX_INF_STORED)
		in->stored = SX_INF_STALE;
	sx_feed_audit_sub(fd, sb, "nak", "ok", "report=%s seq=%lld sub=%s delay_ms=%u", in->id,
			  (long long)in->seq, sb->row.name, delay);
}

void sx_feed_reject(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		    const Sprex__Reject *m)
{
	ssize_t i;
	struct sx_subscr *sb = attached_or_error(fd, ss, id, m->sub_id, m->seq, &i);
	if (!sb)
		return;
	char why[SX_PARK_REASON_MAX];
	snprintf(why, sizeof why, "rejected by the member: %.100s",
		 m->reason && m->reason[0] ? m->reason : "(no reason given)");
	sx_feed_park(fd, sb, (size_t)i, why);
	sx_feed_pump(fd, sb);
}

struct replay_ctx {
	int64_t sub;
	const int64_t *seqs;
	size_t n;
	int64_t *count;
};

static int replay(struct sx_store *s, void *ctx)
{
	struct replay_ctx *x = ctx;
	return sx_store_pending_replay(s, x->sub, x->seqs, x->n, sx_feed_now(), x->count);
}

struct parked_ctx {
	Sprex__Parked *v;
	Sprex__Parked **pv;
	struct sx_pending *rows;
	size_t n;
};

static int parked_cb(void *ctx, const struct sx_pending *p)
{
	struct parked_ctx *x = ctx;
	if (x->n == PARKED_LIST_MAX)
		return 1;
	x->rows[x->n] = *p;
	Sprex__Parked *e = &x->v[x->n];
	sprex__parked__init(e);
	e->seq = (uint64_t)p->seq;
	e->report_id = x->rows[x->n].report_id;
	e->delivery_count = p->deliveries;
	e->reason = x->rows[x->n].reason;
	x->pv[x->n] = e;
	x->n++;
	return 0;
}

void sx_feed_parked(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		    const Sprex__ParkedQuery *m)
{
	struct sx_sub row;
	sx_feed_flush(fd); /* parks still waiting for the commit belong in the list */
	int rc = name_ok(m->name) ? sx_store_sub_get(fd->store, ss->member.id, m->name, &row)
				  : SX_ENOTFOUND;
	if (rc == SX_ENOTFOUND) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_NOT_FOUND,
				 "no subscription named \"%.63s\"", m->name ? m->name : "");
		return;
	}
	int64_t replayed = 0;
	if (rc == 0 && (m->replay || m->n_seqs)) {
		if (m->n_seqs > PARKED_LIST_MAX) {
			sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID,
					 "at most %u seqs per replay", PARKED_LIST_MAX);
			return;
		}
		int64_t seqs[PARKED_LIST_MAX];
		for (size_t i = 0; i < m->n_seqs; i++)
			seqs[i] = m->seqs[i] > INT64_MAX ? 0 : (int64_t)m->seqs[i];
		struct replay_ctx rx = { row.id, seqs, m->n_seqs, &replayed };
		rc = with_record(fd, ss, "replay", replay, &rx, "sub=%s seqs=%zu%s", row.name,
				 m->n_seqs, m->n_seqs ? "" : " (all parked)");
		struct sx_subscr *sb = sx_feed_find(fd, row.id);
		if (rc == 0 && sb) {
			sx_feed_reload_pending(fd, sb);
			/* redelivered by the next redelivery tick: they are due now */
		}
		if (rc == 0)
			sx_log_info("session %llu: member %s replayed %lld parked reports of %s",
				    (unsigned long long)ss->id, ss->member.name, (long long)replayed,
				    row.name);
	}
	static Sprex__Parked v[PARKED_LIST_MAX];
	static Sprex__Parked *pv[PARKED_LIST_MAX];
	static struct sx_pending rows[PARKED_LIST_MAX];
	struct parked_ctx x = { .v = v, .pv = pv, .rows = rows };
	if (rc == 0)
		rc = sx_store_pending_each(fd->store, row.id, 1, parked_cb, &x);
	if (rc < 0 && rc != 1) {
		store_error(ss, id, rc, "parked query");
		return;
	}
	Sprex__ParkedList pl = SPREX__PARKED_LIST__INIT;
	pl.name = row.name;
	pl.n_entries = x.n;
	pl.entries = pv;
	pl.replayed = (uint32_t)replayed;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = id;
	f.msg_case = SPREX__FRAME__MSG_PARKED_LIST;
	f.parked_list = &pl;
	sx_peer_send(ss->peer, &f);
}
