#include "feed_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authz.h"
#include "err.h"
#include "log.h"
#include "server.h"
#include "session.h"

/* Reports loaded into the cache per loop iteration: bounds the time one
 * iteration spends reading while sessions wait. */
#define REFILL_BATCH 512
/* Reports of the recent past loaded per store read at start. */
#define WARM_BATCH 256
/* Ready rows a lagging subscription examines per store read. */
#define LAG_SCAN 256
/* How often due redeliveries are looked for. */
#define REDELIVER_TICK_MS 100
/* First retention purge after start, then every RETENTION_EVERY_MS. */
#define RETENTION_FIRST_MS 5000
#define RETENTION_EVERY_MS 3600000

int64_t sx_feed_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct sx_srvconf *conf(const struct sx_feeds *fd)
{
	return fd->srv->conf;
}

static void idle_cb(uv_idle_t *h);
static void apply_horizon(struct sx_feeds *fd);
static void resync(struct sx_feeds *fd);

int sx_feed_batch(struct sx_feeds *fd)
{
	if (fd->batch_open)
		return 0;
	/* Losing the newest delivery state to a power cut only means reports
	 * are sent again: at least once still holds, and no fsync per loop
	 * iteration is paid for it. */
	int rc = sx_store_batch_begin_relaxed(fd->store);
	if (rc == SX_EBUSY) {
		/* sprexctl holds the write lock: memory keeps the state, the
		 * next commit tick tries again. */
		sx_feed_touch(fd);
		return rc;
	}
	if (rc < 0) {
		sx_log_err("delivery state not written (%s); it will be rewritten",
			   sx_store_errmsg(fd->store));
		fd->resync = 1;
		return rc;
	}
	fd->batch_open = 1;
	sx_feed_touch(fd);
	return 0;
}

static void commit_cb(uv_timer_t *t)
{
	sx_feed_flush(t->data);
}

void sx_feed_touch(struct sx_feeds *fd)
{
	if (fd->started && !uv_is_active((uv_handle_t *)&fd->commit))
		uv_timer_start(&fd->commit, commit_cb, conf(fd)->commit_ms, 0);
}

/* Writes what the store does not know of sb yet: its unacked reports, then
 * its position (one transaction, so a position never passes a report the
 * store does not hold as pending). */
static int write_sub(struct sx_feeds *fd, struct sx_subscr *sb)
{
	for (size_t i = 0; i < sb->ninf; i++) {
		struct sx_inflight *in = &sb->inf[i];
		if (in->stored == SX_INF_STORED)
			continue;
		int rc = sx_feed_batch(fd);
		if (rc == 0)
			rc = sx_store_pending_put(fd->store, sb->row.id, in->seq, in->deliveries,
						  in->due_ms);
		if (rc < 0)
			return rc;
		in->stored = SX_INF_STORED;
	}
	if (!sb->dirty)
		return 0;
	int rc = sx_feed_batch(fd);
	if (rc == 0)
		rc = sx_store_sub_advance(fd->store, sb->row.id, sb->row.position);
	if (rc < 0)
		return rc;
	sb->dirty = 0;
	return 0;
}

/* Parks and notice markers wait in memory, like the audit records, until
 * the commit that carries them succeeds. */
int sx_feed_queue_op(struct sx_feeds *fd, const struct sx_feed_op *op)
{
	if (fd->nops == fd->capops) {
		size_t cap = fd->capops ? fd->capops * 2 : 64;
		struct sx_feed_op *v = realloc(fd->ops, cap * sizeof *v);
		if (!v) {
			sx_log_err("out of memory: a %s of seq %lld is not recorded",
				   op->kind == SX_FEED_OP_PARK ? "park" : "notice",
				   (long long)op->seq);
			return SX_ENOMEM;
		}
		fd->ops = v;
		fd->capops = cap;
	}
	fd->ops[fd->nops++] = *op;
	sx_feed_touch(fd);
	return 0;
}

static int write_ops(struct sx_feeds *fd, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct sx_feed_op *op = &fd->ops[i];
		int rc = sx_feed_batch(fd);
		if (rc == 0 && op->kind == SX_FEED_OP_PARK)
			rc = sx_store_pending_park(fd->store, op->sub, op->seq, op->deliveries,
						   op->reason, op->at);
		else if (rc == 0)
			rc = sx_store_notice_sent(fd->store, op->seq, op->sub, op->at);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int sx_feed_audit(struct sx_feeds *fd, const struct sx_audit_rec *r)
{
	if (fd->naudit == fd->capaudit) {
		size_t cap = fd->capaudit ? fd->capaudit * 2 : 256;
		struct sx_audit_rec *v = realloc(fd->audit, cap * sizeof *v);
		if (!v) {
			sx_log_err("audit: out of memory; a %s record of %s is lost", r->event,
				   r->member);
			return SX_ENOMEM;
		}
		fd->audit = v;
		fd->capaudit = cap;
	}
	fd->audit[fd->naudit++] = *r;
	if (fd->naudit >= SX_FEED_AUDIT_MAX)
		sx_feed_flush(fd);
	else
		sx_feed_touch(fd);
	return 0;
}

/* Appends the queued records into the open batch. On failure the batch is
 * rolled back by the caller and the records stay queued for the retry. */
static int write_audit(struct sx_feeds *fd)
{
	int rc = sx_feed_batch(fd);
	if (rc == 0)
		rc = sx_store_audit_append_many(fd->store, fd->audit, fd->naudit);
	if (rc < 0)
		sx_log_err("audit: %zu records not appended: %s", fd->naudit,
			   sx_store_errmsg(fd->store));
	return rc;
}

int sx_feed_flush(struct sx_feeds *fd)
{
	if (fd->resync)
		resync(fd);
	int rc = 0;
	for (struct sx_subscr *sb = fd->subs; sb && rc == 0; sb = sb->next)
		rc = write_sub(fd, sb);
	size_t nops = fd->nops, naudit = fd->naudit;
	if (rc == 0)
		rc = write_ops(fd, nops);
	if (rc == 0 && naudit)
		rc = write_audit(fd);
	if (rc == 0 && fd->batch_open) {
		fd->batch_open = 0;
		rc = sx_store_batch_commit(fd->store);
		if (rc < 0)
			sx_log_err("delivery state commit failed (%s); it will be rewritten",
				   sx_store_errmsg(fd->store));
	}
	if (rc < 0) {
		/* Nothing of this batch is in the store: what memory thought
		 * stored is written again, the queues stay, and the commit timer
		 * tries again. */
		fd->batch_open = 0;
		sx_store_batch_rollback(fd->store);
		resync(fd);
		return rc;
	}
	/* What the commit's own writers queued meanwhile waits for the next. */
	if (nops) {
		memmove(fd->ops, fd->ops + nops, (fd->nops - nops) * sizeof *fd->ops);
		fd->nops -= nops;
	}
	if (naudit) {
		memmove(fd->audit, fd->audit + naudit, (fd->naudit - naudit) * sizeof *fd->audit);
		fd->naudit -= naudit;
	}
	return 0;
}

/* After a failed commit the store lags memory: write every attached
 * subscription's position and unacked reports again (idempotent). */
static void resync(struct sx_feeds *fd)
{
	fd->resync = 0;
	for (struct sx_subscr *sb = fd->subs; sb; sb = sb->next) {
		/* Stale, not new: the row may exist (an ack must still delete
		 * it), and pending_put is an upsert. */
		for (size_t i = 0; i < sb->ninf; i++)
			sb->inf[i].stored = SX_INF_STALE;
		sb->dirty = 1;
	}
	sx_feed_touch(fd);
}

/* Backoff: ack_wait, doubled per delivery, capped. */
static int64_t due_after(const struct sx_feeds *fd, uint32_t deliveries)
{
	uint64_t wait = conf(fd)->ack_wait_ms;
	for (uint32_t i = 1; i < deliveries && wait < conf(fd)->ack_wait_max_ms; i++)
		wait *= 2;
	if (wait > conf(fd)->ack_wait_max_ms)
		wait = conf(fd)->ack_wait_max_ms;
	return sx_feed_now() + (int64_t)wait;
}

/* The one question asked before every report sent. */
static int may_send(const struct sx_subscr *sb, const struct sx_authz_report *az,
		    const struct sx_filter_report *fr)
{
	return sx_authz_may_receive(&sb->ss->member, (enum sx_feed)sb->row.feed, az) &&
	       sx_filter_match(&sb->filter, fr);
}

static int session_live(const struct sx_subscr *sb)
{
	return sb->ss->state == SX_SESSION_READY && !sx_peer_closing(sb->ss->peer);
}

static int window_full(const struct sx_subscr *sb)
{
	return sb->ninf >= sb->window_count || sb->inf_bytes >= sb->window_bytes;
}

static int out_full(const struct sx_feeds *fd, const struct sx_subscr *sb)
{
	return sx_peer_out_pending(sb->ss->peer) > conf(fd)->out_high;
}

/* ------------------------------------------------------------ inflight */

ssize_t sx_feed_inflight_find(const struct sx_subscr *sb, int64_t seq)
{
	size_t lo = 0, hi = sb->ninf;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sb->inf[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sb->ninf && sb->inf[lo].seq == seq ? (ssize_t)lo : -1;
}

/* Inserts keeping seq order (appends in the common case). */
static int inflight_add(struct sx_subscr *sb, const struct sx_inflight *in)
{
	if (sb->ninf == sb->capinf) {
		size_t cap = sb->capinf ? sb->capinf * 2 : 64;
		struct sx_inflight *v = realloc(sb->inf, cap * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		sb->inf = v;
		sb->capinf = cap;
	}
	size_t i = sb->ninf;
	while (i > 0 && sb->inf[i - 1].seq > in->seq)
		i--;
	memmove(sb->inf + i + 1, sb->inf + i, (sb->ninf - i) * sizeof *sb->inf);
	sb->inf[i] = *in;
	sb->ninf++;
	sb->inf_bytes += in->bytes;
	return 0;
}

static void inflight_remove(struct sx_subscr *sb, size_t i, size_t k)
{
	if (k == 0)
		return; /* also: the array may not exist yet */
	for (size_t j = i; j < i + k; j++)
		sb->inf_bytes -= sb->inf[j].bytes;
	memmove(sb->inf + i, sb->inf + i + k, (sb->ninf - i - k) * sizeof *sb->inf);
	sb->ninf -= k;
}

/* ------------------------------------------------------------ audit */

void sx_feed_audit_sub(struct sx_feeds *fd, const struct sx_subscr *sb, const char *event,
		       const char *outcome, const char *fmt, ...)
{
	struct sx_audit_rec r;
	va_list ap;
	va_start(ap, fmt);
	sx_session_audit_vrec(sb->ss, &r, event, outcome, fmt, ap);
	va_end(ap);
	sx_feed_audit(fd, &r);
}

/* ------------------------------------------------------------ sending */

static void send_gap(struct sx_subscr *sb, int64_t from, int64_t to)
{
	Sprex__Gap g = SPREX__GAP__INIT;
	g.sub_id = sb->sub_id;
	g.from_seq = (uint64_t)from;
	g.to_seq = (uint64_t)to;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_GAP;
	f.gap = &g;
	sx_peer_send(sb->ss->peer, &f);
	sx_feed_audit_sub(&sb->ss->srv->feed, sb, "gap", "purged",
			  "sub=%s seq=%lld..%lld", sb->row.name, (long long)from, (long long)to);
	sx_log_warn("session %llu: member %s: subscription %s: reports %lld..%lld were purged "
		    "before delivery (gap)", (unsigned long long)sb->ss->id, sb->ss->member.name,
		    sb->row.name, (long long)from, (long long)to);
}

int sx_feed_park(struct sx_feeds *fd, struct sx_subscr *sb, size_t i, const char *reason)
{
	struct sx_inflight in = sb->inf[i];
	inflight_remove(sb, i, 1);
	struct sx_feed_op op = { .kind = SX_FEED_OP_PARK, .sub = sb->row.id, .seq = in.seq,
				 .deliveries = in.deliveries, .at = sx_feed_now() };
	snprintf(op.reason, sizeof op.reason, "%s", reason);
	int rc = sx_feed_queue_op(fd, &op);
	Sprex__Parked p = SPREX__PARKED__INIT;
	p.sub_id = sb->sub_id;
	p.seq = (uint64_t)in.seq;
	p.report_id = in.id;
	p.delivery_count = in.deliveries;
	p.reason = (char *)reason;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_PARKED;
	f.parked = &p;
	sx_peer_send(sb->ss->peer, &f);
	sx_feed_audit_sub(fd, sb, "park", reason, "report=%s seq=%lld sub=%s deliveries=%u", in.id,
			  (long long)in.seq, sb->row.name, in.deliveries);
	sx_log_info("session %llu: member %s: subscription %s: report %s (seq %lld) parked "
		    "after %u deliveries: %s", (unsigned long long)sb->ss->id, sb->ss->member.name,
		    sb->row.name, in.id, (long long)in.seq, in.deliveries, reason);
	return rc;
}

/* Sends e as delivery number `deliveries` of entry in (already in the
 * inflight list at index i). A report over the session's frame limit can
 * never be delivered on it: parked at once. */
static int send_report(struct sx_feeds *fd, struct sx_subscr *sb, size_t i,
		       const struct sx_rentry *e)
{
	struct sx_inflight *in = &sb->inf[i];
	uint8_t head[SX_RENTRY_HEAD_MAX];
	size_t hl = sx_rentry_frame_head(e, sb->sub_id, in->deliveries, head);
	int rc = sx_peer_send_packed(sb->ss->peer, head, hl, e->packed, e->packed_len);
	if (rc == SX_ETOOBIG)
		return sx_feed_park(fd, sb, i, "report larger than the session's max_frame");
	if (rc < 0)
		return rc;
	if (in->seq > sb->last_seq)
		sb->last_seq = in->seq;
	char outcome[32];
	snprintf(outcome, sizeof outcome, "delivery %u", in->deliveries);
	sx_feed_audit_sub(fd, sb, "deliver", outcome, "report=%s seq=%lld sub=%s feed=%s",
			  e->row.id, (long long)e->seq, sb->row.name,
			  sx_feed_name((enum sx_feed)sb->row.feed));
	if (in->stored == SX_INF_STORED)
		in->stored = SX_INF_STALE;
	sx_feed_touch(fd);
	if (in->deliveries == 1 && sb->row.feed == SX_FEED_NOTICES) {
		struct sx_feed_op op = { .kind = SX_FEED_OP_NOTICE, .sub = sb->ss->member.id,
					 .seq = in->seq, .at = sx_feed_now() };
		sx_feed_queue_op(fd, &op);
	}
	return 0;
}

/* ------------------------------------------------------------ reading */

struct lag_ctx {
	struct sx_feeds *fd;
	struct sx_subscr *sb;
	size_t rows;
	int64_t last;
	int reached;                    /* saw a report the cache holds */
	int err;
};

static int lag_cb(void *ctx, const struct sx_report_row *r)
{
	struct lag_ctx *x = ctx;
	if (r->seq > x->fd->cache.lo) {
		x->reached = 1;
		return 1;
	}
	x->rows++;
	x->last = r->seq;
	struct sx_authz_report az;
	struct sx_filter_report fr;
	sx_rentry_views(r, &az, &fr);
	if (!may_send(x->sb, &az, &fr))
		return 0;
	struct sx_rentry *e;
	int rc = sx_rentry_load(x->fd->store, r->id, &e);
	if (rc < 0) {
		x->err = rc;
		return 1;
	}
	x->sb->lag[x->sb->nlag++] = e;
	return x->sb->nlag == SX_FEED_LAG_MAX;
}

/* Reads ahead from the store for a subscription behind the cache. */
static int lag_fill(struct sx_feeds *fd, struct sx_subscr *sb)
{
	struct lag_ctx x = { .fd = fd, .sb = sb, .last = sb->row.position - 1 };
	int rc = sx_store_report_each(fd->store, sb->row.position - 1, SX_REPORT_READY, LAG_SCAN,
				      lag_cb, &x);
	if (rc < 0 && rc != 1) {
		sx_log_warn("subscription %s: reading reports failed: %s", sb->row.name,
			    sx_store_errmsg(fd->store));
		return rc;
	}
	if (x.err < 0)
		return x.err;
	/* Everything up to the cache was examined unless the scan stopped
	 * early on its limit or a full read-ahead. */
	if (x.reached || (x.rows < LAG_SCAN && sb->nlag < SX_FEED_LAG_MAX))
		sb->scan_to = fd->cache.lo;
	else
		sb->scan_to = x.last;
	return 0;
}

/* The next report sb may receive, referenced, or NULL for none now. */
static struct sx_rentry *next_report(struct sx_feeds *fd, struct sx_subscr *sb)
{
	for (;;) {
		if (sb->nlag) {
			struct sx_rentry *e = sb->lag[0];
			memmove(sb->lag, sb->lag + 1, (--sb->nlag) * sizeof *sb->lag);
			return e;
		}
		if (sb->scan_to >= sb->row.position) {
			sb->row.position = sb->scan_to + 1;
			sb->dirty = 1;
		}
		if (sb->row.position - 1 >= fd->cache.lo) {
			struct sx_rentry *e = sx_rcache_find(&fd->cache, sb->row.position);
			while (e) {
				if (may_send(sb, &e->az, &e->fr))
					return sx_rentry_ref(e);
				sb->row.position = e->seq + 1;
				sb->dirty = 1;
				e = sx_rcache_find(&fd->cache, sb->row.position);
			}
			if (sb->row.position <= fd->cache.hi) {
				sb->row.position = fd->cache.hi + 1;
				sb->dirty = 1;
			}
			return NULL;
		}
		int64_t before = sb->scan_to;
		if (lag_fill(fd, sb) < 0 || (sb->nlag == 0 && sb->scan_to <= before &&
					     sb->scan_to < sb->row.position))
			return NULL;
	}
}

/* A subscription behind the purge horizon is told, never silently moved. */
static void check_gap(struct sx_feeds *fd, struct sx_subscr *sb)
{
	if (sb->row.position <= fd->purged_through) {
		send_gap(sb, sb->row.position, fd->purged_through);
		sb->row.position = fd->purged_through + 1;
		sb->dirty = 1;
		while (sb->nlag && sb->lag[0]->seq <= fd->purged_through) {
			sx_rentry_unref(sb->lag[0]);
			memmove(sb->lag, sb->lag + 1, (--sb->nlag) * sizeof *sb->lag);
		}
	}
	size_t k = 0;
	while (k < sb->ninf && sb->inf[k].seq <= fd->purged_through)
		k++;
	if (k) {
		send_gap(sb, sb->inf[0].seq, sb->inf[k - 1].seq);
		if (sx_feed_batch(fd) == 0)
			sx_store_pending_ack(fd->store, sb->row.id, sb->inf[0].seq,
					     sb->inf[k - 1].seq, NULL);
		inflight_remove(sb, 0, k);
	}
}

void sx_feed_pump(struct sx_feeds *fd, struct sx_subscr *sb)
{
	if (!session_live(sb))
		return;
	check_gap(fd, sb);
	sx_peer_cork(sb->ss->peer, 1);
	while (!window_full(sb) && !out_full(fd, sb)) {
		struct sx_rentry *e = next_report(fd, sb);
		if (!e)
			break;
		struct sx_inflight in = { .seq = e->seq, .deliveries = 1,
					  .due_ms = due_after(fd, 1),
					  .bytes = (uint32_t)e->packed_len };
		memcpy(in.id, e->row.id, sizeof in.id);
		int rc = inflight_add(sb, &in);
		if (rc == 0) {
			/* Only now may the position pass it. */
			sb->row.position = e->seq + 1;
			sb->dirty = 1;
			rc = send_report(fd, sb, (size_t)sx_feed_inflight_find(sb, e->seq), e);
		}
		sx_rentry_unref(e);
		if (rc < 0)
			break;
	}
	sx_peer_cork(sb->ss->peer, 0);
	sb->stalled = window_full(sb);
}

static void pump_all(struct sx_feeds *fd)
{
	for (struct sx_subscr *sb = fd->subs; sb; sb = sb->next)
		sx_feed_pump(fd, sb);
}

void sx_feed_pump_session(struct sx_feeds *fd, struct sx_session *ss)
{
	for (struct sx_subscr *sb = ss->subs; sb; sb = sb->snext)
		sx_feed_pump(fd, sb);
}

/* ------------------------------------------------------------ redelivery */

/* The report of an inflight entry: from the cache, else the store. */
static int entry_for(struct sx_feeds *fd, const struct sx_inflight *in, struct sx_rentry **out)
{
	if (in->seq > fd->cache.lo) {
		struct sx_rentry *e = sx_rcache_find(&fd->cache, in->seq);
		if (e && e->seq == in->seq) {
			*out = sx_rentry_ref(e);
			return 0;
		}
	}
	return sx_rentry_load(fd->store, in->id, out);
}

static void redeliver_due(struct sx_feeds *fd, struct sx_subscr *sb, int64_t now)
{
	for (size_t i = 0; i < sb->ninf && !out_full(fd, sb);) {
		struct sx_inflight *in = &sb->inf[i];
		if (in->due_ms > now) {
			i++;
			continue;
		}
		if (in->deliveries >= conf(fd)->max_deliveries) {
			char why[96];
			snprintf(why, sizeof why, "not acked after %u deliveries", in->deliveries);
			sx_feed_park(fd, sb, i, why);
			continue;
		}
		int64_t seq = in->seq;
		struct sx_rentry *e;
		int rc = entry_for(fd, in, &e);
		if (rc == SX_ENOTFOUND) {
			/* Purged meanwhile, perhaps by sprexctl before the next
			 * reload: learn the horizon and tell the member in one
			 * Gap; a lone missing report gets its own. */
			apply_horizon(fd);
			if (seq <= fd->purged_through) {
				check_gap(fd, sb);
				i = 0;
				continue;
			}
			send_gap(sb, in->seq, in->seq);
			if (sx_feed_batch(fd) == 0)
				sx_store_pending_ack(fd->store, sb->row.id, in->seq, in->seq, NULL);
			inflight_remove(sb, i, 1);
			continue;
		}
		if (rc < 0) {
			i++; /* this one next tick; the others now */
			continue;
		}
		if (may_send(sb, &e->az, &e->fr)) {
			in->deliveries++;
			in->due_ms = due_after(fd, in->deliveries);
			rc = send_report(fd, sb, i, e);
		} else {
			/* The policy changed its mind (e.g. membership): no resend. */
			if (sx_feed_batch(fd) == 0)
				sx_store_pending_ack(fd->store, sb->row.id, in->seq, in->seq, NULL);
			inflight_remove(sb, i, 1);
		}
		sx_rentry_unref(e);
		if (rc < 0)
			return;
		if (i < sb->ninf && sb->inf[i].seq == seq)
			i++; /* still there (not parked): go on to the next */
	}
}

static void redeliver_sub(struct sx_feeds *fd, struct sx_subscr *sb, int64_t now)
{
	sx_peer_cork(sb->ss->peer, 1);
	redeliver_due(fd, sb, now);
	sx_peer_cork(sb->ss->peer, 0);
}

static void redeliver_cb(uv_timer_t *t)
{
	struct sx_feeds *fd = t->data;
	int64_t now = sx_feed_now();
	for (struct sx_subscr *sb = fd->subs; sb; sb = sb->next)
		if (session_live(sb)) {
			redeliver_sub(fd, sb, now);
			sx_feed_pump(fd, sb); /* parking opened the window */
		}
}

/* ------------------------------------------------------------ attach */

struct sx_subscr *sx_feed_find(struct sx_feeds *fd, int64_t sub_row_id)
{
	for (struct sx_subscr *sb = fd->subs; sb; sb = sb->next)
		if (sb->row.id == sub_row_id)
			return sb;
	return NULL;
}

struct sx_subscr *sx_feed_by_handle(struct sx_session *ss, uint32_t sub_id)
{
	for (struct sx_subscr *sb = ss->subs; sb; sb = sb->snext)
		if (sb->sub_id == sub_id)
			return sb;
	return NULL;
}

static void detach(struct sx_feeds *fd, struct sx_subscr *sb)
{
	/* Its unacked reports must be pending in the store before it goes,
	 * or the position would pass them. */
	write_sub(fd, sb);
	for (size_t i = 0; i < sb->nlag; i++)
		sx_rentry_unref(sb->lag[i]);
	if (sb->prev)
		sb->prev->next = sb->next;
	else
		fd->subs = sb->next;
	if (sb->next)
		sb->next->prev = sb->prev;
	fd->nsubs--;
	struct sx_session *ss = sb->ss;
	for (struct sx_subscr **pp = &ss->subs; *pp; pp = &(*pp)->snext)
		if (*pp == sb) {
			*pp = sb->snext;
			break;
		}
	ss->nsubs--;
	free(sb->inf);
	free(sb);
}

struct load_ctx {
	struct sx_subscr *sb;
	struct sx_feeds *fd;
	int64_t now;
	int err;
};

static int load_cb(void *ctx, const struct sx_pending *p)
{
	struct load_ctx *x = ctx;
	if (sx_feed_inflight_find(x->sb, p->seq) >= 0)
		return 0;
	/* A purged report (no id any more) is below the horizon: the gap
	 * check tells the member. */
	struct sx_inflight in = { .seq = p->seq, .deliveries = p->deliveries, .due_ms = x->now,
				  .stored = SX_INF_STORED };
	memcpy(in.id, p->report_id, sizeof in.id);
	/* Bytes are unknown until resent; count a nominal size so a window of
	 * bytes is not blind to them. */
	in.bytes = 1;
	return x->err = inflight_add(x->sb, &in);
}

int sx_feed_reload_pending(struct sx_feeds *fd, struct sx_subscr *sb)
{
	struct load_ctx x = { .sb = sb, .fd = fd, .now = sx_feed_now() };
	int rc = sx_store_pending_each(fd->store, sb->row.id, 0, load_cb, &x);
	return rc < 0 ? rc : x.err;
}

int sx_feed_attach(struct sx_feeds *fd, struct sx_session *ss, const struct sx_sub *row,
		   const struct sx_filter *filter, uint32_t window_count, uint64_t window_bytes,
		   struct sx_subscr **out)
{
	struct sx_subscr *old = sx_feed_find(fd, row->id);
	if (old) {
		struct sx_session *oss = old->ss;
		sx_log_info("session %llu: member %s: subscription %s taken over by session %llu",
			    (unsigned long long)oss->id, oss->member.name, row->name,
			    (unsigned long long)ss->id);
		sx_feed_session_closed(fd, oss);
		sx_session_goaway(oss, SPREX__GO_AWAY_REASON__GOAWAY_SUPERSEDED, 0,
				  "subscription attached by a newer session");
	}
	/* The old session's state goes to the store first; if the store is
	 * busy it stays as the store had it (older, so only repeats). */
	sx_feed_flush(fd);
	int rc;
	/* A purge by sprexctl may not have reached the reload timer yet. */
	apply_horizon(fd);
	struct sx_subscr *sb = calloc(1, sizeof *sb);
	if (!sb)
		return SX_ENOMEM;
	sb->ss = ss;
	sb->sub_id = ++ss->next_sub_id;
	sb->row = *row;
	/* The caller read the row before the old session's state was written:
	 * the store has the position that goes with the unacked rows loaded
	 * below. */
	struct sx_sub now;
	if (sx_store_sub_get(fd->store, row->member, row->name, &now) == 0 &&
	    now.id == row->id && now.position > sb->row.position)
		sb->row.position = now.position;
	sb->filter = *filter;
	sb->window_count = window_count;
	sb->window_bytes = window_bytes;
	sb->scan_to = sb->row.position - 1;
	sb->last_seq = sb->row.position - 1;
	rc = sx_feed_reload_pending(fd, sb);
	if (rc < 0) {
		free(sb->inf);
		free(sb);
		return rc;
	}
	sb->next = fd->subs;
	if (fd->subs)
		fd->subs->prev = sb;
	fd->subs = sb;
	fd->nsubs++;
	sb->snext = ss->subs;
	ss->subs = sb;
	ss->nsubs++;
	*out = sb;
	return 0;
}

void sx_feed_session_closed(struct sx_feeds *fd, struct sx_session *ss)
{
	while (ss->subs)
		detach(fd, ss->subs);
	sx_feed_flush(fd);
}

int sx_feed_ack_range(struct sx_feeds *fd, struct sx_subscr *sb, int64_t first, int64_t last)
{
	size_t i = 0;
	while (i < sb->ninf && sb->inf[i].seq < first)
		i++;
	size_t k = 0, stored = 0;
	while (i + k < sb->ninf && sb->inf[i + k].seq <= last)
		stored += sb->inf[i + k++].stored != SX_INF_NEW;
	inflight_remove(sb, i, k);
	/* Reports the store never heard of cost nothing to ack; a range past
	 * what is in memory may still name rows of an earlier session. */
	int rc = 0;
	if (stored || k == 0) {
		rc = sx_feed_batch(fd);
		if (rc == 0)
			rc = sx_store_pending_ack(fd->store, sb->row.id, first, last, NULL);
		if (rc < 0)
			fd->resync = 1;
	}
	return rc;
}

/* ------------------------------------------------------------ heartbeat */

void sx_feed_heartbeat(struct sx_feeds *fd, struct sx_session *ss)
{
	if (!ss->subs)
		return;
	Sprex__SubscriptionState st[64], *stp[64];
	Sprex__Heartbeat hb = SPREX__HEARTBEAT__INIT;
	hb.time_ms = sx_feed_now();
	size_t n = 0;
	for (struct sx_subscr *sb = ss->subs; sb && n < 64; sb = sb->snext, n++) {
		Sprex__SubscriptionState *s = &st[n];
		sprex__subscription_state__init(s);
		s->sub_id = sb->sub_id;
		s->name = sb->row.name;
		s->last_seq = (uint64_t)(sb->last_seq > 0 ? sb->last_seq : 0);
		int64_t floor = (sb->ninf ? sb->inf[0].seq : sb->row.position) - 1;
		s->ack_floor = (uint64_t)(floor > 0 ? floor : 0);
		s->pending = (uint32_t)sb->ninf;
		s->stalled = sb->stalled;
		/* An upper bound: reports after the position, not all of which
		 * may match. */
		int64_t back = fd->cache.hi - sb->row.position + 1;
		s->backlog = (uint64_t)(back > 0 ? back : 0);
		stp[n] = s;
	}
	hb.n_subscriptions = n;
	hb.subscriptions = stp;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_HEARTBEAT;
	f.heartbeat = &hb;
	sx_peer_send(ss->peer, &f);
}

/* ------------------------------------------------------------ lifecycle */

static void apply_horizon(struct sx_feeds *fd)
{
	int64_t h = 0;
	if (sx_store_purged_through(fd->store, &h) < 0 || h <= fd->purged_through)
		return;
	fd->purged_through = h;
	sx_rcache_purge(&fd->cache, h);
	fd->wake = 1;
}

static void idle_cb(uv_idle_t *h)
{
	struct sx_feeds *fd = h->data;
	if (fd->wake) {
		fd->wake = 0;
		int more = 0;
		if (sx_rcache_refill(&fd->cache, fd->store, REFILL_BATCH, &more) < 0)
			sx_log_warn("reading new reports failed (%s); retrying",
				    sx_store_errmsg(fd->store));
		fd->wake = more;
		pump_all(fd);
	}
	if (!fd->wake)
		uv_idle_stop(h);
}

void sx_feed_wake(struct sx_feeds *fd)
{
	fd->wake = 1;
	if (fd->started)
		uv_idle_start(&fd->idle, idle_cb);
}

void sx_feed_changed(struct sx_feeds *fd)
{
	apply_horizon(fd);
	sx_feed_wake(fd);
}

static void retention_cb(uv_timer_t *t)
{
	struct sx_feeds *fd = t->data;
	uint32_t days = conf(fd)->retention_days;
	if (!days)
		return;
	if (sx_feed_flush(fd) < 0)
		return;
	int64_t before = sx_feed_now() - (int64_t)days * 86400000;
	int64_t n = 0;
	if (sx_store_purge(fd->store, before, &n) < 0) {
		sx_log_err("retention purge failed: %s", sx_store_errmsg(fd->store));
		return;
	}
	if (n)
		sx_log_info("retention: purged %lld reports older than %u days", (long long)n,
			    days);
	apply_horizon(fd);
	sx_feed_wake(fd);
}

int sx_feed_init(struct sx_feeds *fd, struct sx_server *srv, char *err, size_t errlen)
{
	memset(fd, 0, sizeof *fd);
	fd->srv = srv;
	fd->store = srv->store;
	int64_t head = 0;
	int rc = sx_store_head_seq(fd->store, &head);
	if (rc == 0)
		rc = sx_store_purged_through(fd->store, &fd->purged_through);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the report sequence: %s",
			 sx_store_errmsg(fd->store));
		return rc;
	}
	if (head < fd->purged_through)
		head = fd->purged_through;
	rc = sx_rcache_init(&fd->cache, head, srv->conf->cache_reports, srv->conf->cache_bytes);
	/* The recent past is loaded before the first session: subscribers that
	 * start a little behind then share one framed copy of each report
	 * instead of each reading the store. */
	if (rc < 0) {
		snprintf(err, errlen, "report cache: %s", sx_strerror(rc));
		return rc;
	}
	int wrc = 0;
	for (int more = 1; wrc == 0 && more;)
		wrc = sx_rcache_warm(&fd->cache, fd->store, WARM_BATCH, &more);
	if (wrc < 0) /* a smaller cache only costs store reads */
		sx_log_warn("report cache: loading recent reports stopped early: %s",
			    sx_store_errmsg(fd->store));
	return 0;
}

void sx_feed_start(struct sx_feeds *fd)
{
	uv_loop_t *loop = fd->srv->loop;
	uv_idle_init(loop, &fd->idle);
	uv_timer_init(loop, &fd->redeliver);
	uv_timer_init(loop, &fd->retention);
	uv_timer_init(loop, &fd->commit);
	fd->idle.data = fd->redeliver.data = fd->retention.data = fd->commit.data = fd;
	fd->started = 1;
	sx_log_info("report cache: %zu recent reports in memory (seq %lld..%lld, %.1f MiB)",
		    fd->cache.n, (long long)fd->cache.lo + 1, (long long)fd->cache.hi,
		    (double)fd->cache.bytes / 1048576.0);
	uv_timer_start(&fd->redeliver, redeliver_cb, REDELIVER_TICK_MS, REDELIVER_TICK_MS);
	if (conf(fd)->retention_days)
		uv_timer_start(&fd->retention, retention_cb, RETENTION_FIRST_MS,
			       RETENTION_EVERY_MS);
	if (fd->batch_open || fd->wake)
		uv_idle_start(&fd->idle, idle_cb);
}

static void handle_closed(uv_handle_t *h)
{
	struct sx_feeds *fd = h->data;
	fd->handles_open--;
}

void sx_feed_stop(struct sx_feeds *fd)
{
	if (!fd->started)
		return;
	sx_feed_flush(fd);
	fd->started = 0;
	uv_handle_t *hs[] = { (uv_handle_t *)&fd->idle, (uv_handle_t *)&fd->redeliver,
			      (uv_handle_t *)&fd->retention, (uv_handle_t *)&fd->commit };
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
		fd->handles_open++;
		uv_close(hs[i], handle_closed);
	}
}

void sx_feed_finish(struct sx_feeds *fd)
{
	while (fd->subs)
		detach(fd, fd->subs);
	sx_feed_flush(fd);
	if (fd->naudit || fd->nops)
		sx_log_err("%zu audit records and %zu parks or notices could not be written at "
			   "shutdown", fd->naudit, fd->nops);
	free(fd->ops);
	fd->ops = NULL;
	fd->nops = fd->capops = 0;
	free(fd->audit);
	fd->audit = NULL;
	fd->naudit = fd->capaudit = 0;
	sx_rcache_finish(&fd->cache);
}
