/*
 * feed_impl.h: what the engine (feed.c) shares with its request handlers
 * (feed_req.c). Private to those two files.
 */
#ifndef SX_FEED_IMPL_H
#define SX_FEED_IMPL_H

#include <sys/types.h>

#include "feed.h"

/* Wall-clock milliseconds (due times are stored, so they survive restarts). */
int64_t sx_feed_now(void);
/* Opens the iteration's transaction if none is open. 0 or a store error. */
int sx_feed_batch(struct sx_feeds *fd);
/* Queues an audit record of sb's member, session and subscription. */
void sx_feed_audit_sub(struct sx_feeds *fd, const struct sx_subscr *sb, const char *event,
		       const char *outcome, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Queues a park or notice marker for the next commit. 0 or SX_ENOMEM. */
int sx_feed_queue_op(struct sx_feeds *fd, const struct sx_feed_op *op);
/* Memory changed: the store is brought up to date within delivery_commit_interval. */
void sx_feed_touch(struct sx_feeds *fd);
/* Attaches row to ss (loading its unacked reports for redelivery) and sends
 * what it may; supersedes another session holding it. 0, SX_ENOMEM or a
 * store error; *out is the new subscription. */
int sx_feed_attach(struct sx_feeds *fd, struct sx_session *ss, const struct sx_sub *row,
		   const struct sx_filter *filter, uint32_t window_count, uint64_t window_bytes,
		   struct sx_subscr **out);
/* The attached subscription of member with this durable id, or NULL. */
struct sx_subscr *sx_feed_find(struct sx_feeds *fd, int64_t sub_row_id);
/* The session's subscription with handle sub_id, or NULL. */
struct sx_subscr *sx_feed_by_handle(struct sx_session *ss, uint32_t sub_id);
/* Acks first..last on sb (memory and store) and refills its window. */
int sx_feed_ack_range(struct sx_feeds *fd, struct sx_subscr *sb, int64_t first, int64_t last);
/* Index of seq in sb's inflight list, or -1. */
ssize_t sx_feed_inflight_find(const struct sx_subscr *sb, int64_t seq);
/* Parks inflight entry i of sb with reason and tells the session. */
int sx_feed_park(struct sx_feeds *fd, struct sx_subscr *sb, size_t i, const char *reason);
/* Sends what sb may receive now. */
void sx_feed_pump(struct sx_feeds *fd, struct sx_subscr *sb);
/* Reloads sb's unparked pending rows that are not inflight (after a replay). */
int sx_feed_reload_pending(struct sx_feeds *fd, struct sx_subscr *sb);

#endif
