/*
 * rcache.h: recent distributable reports kept in memory, ready to be framed,
 * so that a report committed once is sent to fifty live subscribers without
 * fifty database reads. Bounded in count and bytes; subscribers behind the
 * cache read the store instead (feed.c).
 */
#ifndef SX_RCACHE_H
#define SX_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "authz.h"
#include "filter.h"
#include "frame.h"
#include "store.h"

/* One report, loaded whole, with its wire metadata built once. Shared by
 * reference: the cache holds one, every user another. */
struct sx_rentry {
	unsigned refs;
	int64_t seq;
	struct sx_report_row row;     /* metadata */
	struct sx_authz_report az;    /* what the policy looks at */
	struct sx_filter_report fr;   /* what filters look at */
	uint8_t *packed;              /* Deliver's meta, manifest and mail, encoded once */
	size_t packed_len;
	size_t bytes;                 /* memory it holds, for the cache bound */
};

#define SX_RENTRY_HEAD_MAX 64

/* Encodes the start of a Frame{deliver} for e: the frame's deliver tag and
 * length, then Deliver's sub_id, seq, report_id and delivery_count; e->packed
 * completes it. Returns the head's length (at most SX_RENTRY_HEAD_MAX). */
size_t sx_rentry_frame_head(const struct sx_rentry *e, uint32_t sub_id, uint32_t delivery_count,
			    uint8_t out[SX_RENTRY_HEAD_MAX]);

/*
 * Loads report id from the store into a new entry with one reference.
 * Returns 0, or as sx_store_report_full; SX_ENOMEM.
 */
int sx_rentry_load(struct sx_store *s, const char *id, struct sx_rentry **out);
/* Drops a reference; the last one frees. NULL is fine. */
void sx_rentry_unref(struct sx_rentry *e);
/* Takes a reference and returns e. */
struct sx_rentry *sx_rentry_ref(struct sx_rentry *e);
/* The policy's and the filters' view of a stored report's metadata. */
void sx_rentry_views(const struct sx_report_row *r, struct sx_authz_report *az,
		     struct sx_filter_report *fr);

struct sx_rcache {
	struct sx_rentry **v;         /* ascending seq; a ring would save memmoves */
	size_t n, cap;
	int64_t lo;                   /* every ready report with lo < seq <= hi is in v */
	int64_t hi;
	size_t bytes;
	size_t max_reports;
	size_t max_bytes;
};

/* Starts empty at head: lo = hi = head. Returns 0 or SX_ENOMEM. */
int sx_rcache_init(struct sx_rcache *c, int64_t head, size_t max_reports, size_t max_bytes);
void sx_rcache_finish(struct sx_rcache *c);
/*
 * Loads ready reports with seq > hi up to the store's head, at most max of
 * them (the rest on the next call); quarantined ones only move hi. Evicts
 * the oldest past the bounds (lo moves up). *more says whether reports are
 * left. Returns 0 or a store error (entries loaded before it stay).
 */
int sx_rcache_refill(struct sx_rcache *c, struct sx_store *s, size_t max, int *more);
/*
 * Warms the cache downwards after a start: loads up to max ready reports
 * below lo while it has room, so subscribers starting at the recent past
 * share one copy instead of each reading the store. *more says whether it
 * would take more. Returns 0 or a store error.
 */
int sx_rcache_warm(struct sx_rcache *c, struct sx_store *s, size_t max, int *more);
/* The first entry with seq >= seq, or NULL when none up to hi. Only valid
 * when seq > lo (else the report may have been evicted). */
struct sx_rentry *sx_rcache_find(const struct sx_rcache *c, int64_t seq);
/* Drops entries with seq <= through (retention) and moves lo/hi up. */
void sx_rcache_purge(struct sx_rcache *c, int64_t through);

#endif
