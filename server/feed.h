/*
 * feed.h: sprexd's delivery engine. It keeps the subscriptions attached to
 * live sessions, sends each the reports the policy and its filter allow, in
 * seq order and within its window, redelivers what is not acked, parks what
 * cannot be delivered, and writes the durable state through the store, all
 * the writes of one loop iteration in one transaction.
 *
 * Guarantee: at least once. A report is recorded pending in the same
 * transaction that moves the subscription's position past it; a crash before
 * that commit only means the report is sent again.
 */
#ifndef SX_FEED_H
#define SX_FEED_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "filter.h"
#include "frame.h"
#include "rcache.h"
#include "store.h"

struct sx_server;
struct sx_session;

/* A delivered, unacked report of an attached subscription. */
struct sx_inflight {
	int64_t seq;
	char id[SX_REPORT_ID_LEN + 1];
	uint32_t deliveries;
	int64_t due_ms;               /* wall clock: redeliver (or park) at */
	uint32_t bytes;
	uint8_t stored;               /* SX_INF_*: what the store knows of it */
};

enum {
	SX_INF_NEW = 0,               /* not in the store yet */
	SX_INF_STORED = 1,            /* the store's pending row is current */
	SX_INF_STALE = 2,             /* the store's row has old deliveries/due */
};

/* Delivery state (and its audit records) reaches the store at most
 * delivery_commit_interval (default 100 ms) after it changed, in one
 * transaction for everything that changed meanwhile. A report acked within
 * it never costs a pending-row write. */

#define SX_FEED_LAG_MAX 16        /* reports a lagging subscription reads ahead */

/* A subscription attached to a session. */
struct sx_subscr {
	struct sx_subscr *next, *prev;  /* every attached one, in the feed */
	struct sx_subscr *snext;        /* the session's */
	struct sx_session *ss;
	uint32_t sub_id;                /* session-local handle */
	struct sx_sub row;              /* durable row; row.position is live */
	struct sx_filter filter;
	uint32_t window_count;
	uint64_t window_bytes;
	struct sx_inflight *inf;        /* ascending seq */
	size_t ninf, capinf;
	uint64_t inf_bytes;
	struct sx_rentry *lag[SX_FEED_LAG_MAX]; /* read ahead from the store */
	size_t nlag;
	int64_t scan_to;                /* ready reports up to here were examined */
	int64_t last_seq;               /* highest seq delivered */
	unsigned dirty : 1;             /* position to write */
	unsigned stalled : 1;           /* window full */
};

/* A park or a notice marker waiting for the next commit. */
enum { SX_FEED_OP_PARK = 1, SX_FEED_OP_NOTICE = 2 };
struct sx_feed_op {
	int kind;
	int64_t sub;                  /* park: subscription row id; notice: ISP member id */
	int64_t seq;
	uint32_t deliveries;
	int64_t at;
	char reason[SX_PARK_REASON_MAX];
};

struct sx_feeds {
	struct sx_server *srv;
	struct sx_store *store;
	struct sx_rcache cache;
	struct sx_subscr *subs;
	size_t nsubs;
	uv_idle_t idle;                 /* end-of-iteration work: refill, pump, commit */
	uv_timer_t redeliver;
	uv_timer_t retention;
	uv_timer_t commit;              /* write-behind of the delivery state */
	struct sx_feed_op *ops;         /* parks and notices waiting for the next commit */
	size_t nops, capops;
	struct sx_audit_rec *audit;     /* records waiting for the next commit */
	size_t naudit, capaudit;
	int64_t purged_through;
	unsigned batch_open : 1;
	unsigned wake : 1;              /* new reports may be in the store */
	unsigned resync : 1;            /* a commit failed: rewrite every live state */
	unsigned started : 1;
	int handles_open;
};

/* Sets fd up over the server's store (the cache starts at the head).
 * Returns 0 or a store error with the reason in err. */
int sx_feed_init(struct sx_feeds *fd, struct sx_server *srv, char *err, size_t errlen);
/* Starts the timers and the idle handle. */
void sx_feed_start(struct sx_feeds *fd);
/* Flushes, detaches everything and closes the handles (the loop then ends
 * them). */
void sx_feed_stop(struct sx_feeds *fd);
/* Frees the cache; after the loop ended. */
void sx_feed_finish(struct sx_feeds *fd);

/* New reports may have been committed (by this process or another). */
void sx_feed_wake(struct sx_feeds *fd);
/* The store changed under us (another process committed): re-reads the
 * purge horizon and wakes. */
void sx_feed_changed(struct sx_feeds *fd);
/* Commits the writes gathered so far, so the caller may run a transaction
 * of its own. Returns 0 or the store error (logged here). */
int sx_feed_flush(struct sx_feeds *fd);

/* Queues an audit record to be appended in the next commit of the delivery
 * state (the change it records commits there too). A full queue
 * (SX_FEED_AUDIT_MAX) commits at once. 0 or SX_ENOMEM (then logged: the
 * record is lost, which the log cannot show, so this is loud). */
#define SX_FEED_AUDIT_MAX 8192
int sx_feed_audit(struct sx_feeds *fd, const struct sx_audit_rec *r);

/* Session hooks. */
void sx_feed_session_closed(struct sx_feeds *fd, struct sx_session *ss);
void sx_feed_pump_session(struct sx_feeds *fd, struct sx_session *ss);
void sx_feed_heartbeat(struct sx_feeds *fd, struct sx_session *ss);

/* Requests, each answered (or refused with an Error) on the session. */
void sx_feed_subscribe(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		       const Sprex__Subscribe *m);
void sx_feed_ack(struct sx_feeds *fd, struct sx_session *ss, uint64_t id, const Sprex__Ack *m);
void sx_feed_nak(struct sx_feeds *fd, struct sx_session *ss, uint64_t id, const Sprex__Nak *m);
void sx_feed_reject(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		    const Sprex__Reject *m);
void sx_feed_parked(struct sx_feeds *fd, struct sx_session *ss, uint64_t id,
		    const Sprex__ParkedQuery *m);

#endif
