/*
 * store_stats.h: monthly statistics and ISP notice summaries, read from the
 * store. Part of the store interface (store.h), kept in a header of its own
 * so that it can grow without touching the core declarations.
 *
 * What the figures can and cannot see:
 *  - Reports, violations, categories and quarantine are counted from the
 *    reports table by received time: reports purged by retention are gone
 *    from these counts.
 *  - Notices and distinct ISPs by the notice's sent time, actions by the
 *    time they were recorded (notices and notice_actions).
 *  - Association and enforcement deliveries are counted from the audit
 *    log's deliver records (first deliveries, "delivery 1", by the feed
 *    named in the record's object), by the time of sending: a
 *    subscription's pending row disappears at the ack, the audit record
 *    stays, and the audit log is not purged with the reports.
 */
#ifndef SX_STORE_STATS_H
#define SX_STORE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The figures of a month, in this order; the names are the keys of the
 * wire's StatsMonth.figures, of JSON and of the CSV header. */
enum sx_stat {
	SX_STAT_REPORTS_PUBLIC,
	SX_STAT_REPORTS_MONITOR,
	SX_STAT_REPORTS_CHAIN,
	SX_STAT_VIOL_OPTIN,
	SX_STAT_VIOL_LABELING,
	SX_STAT_VIOL_SPOOFING,
	SX_STAT_CAT_JAPANESE,
	SX_STAT_CAT_FOREIGN,
	SX_STAT_CAT_GARBLED,
	SX_STAT_CAT_VIRUS,
	SX_STAT_CAT_INSUFFICIENT,
	SX_STAT_QUARANTINED,
	SX_STAT_DELIV_ASSOCIATION,
	SX_STAT_DELIV_ENFORCEMENT,
	SX_STAT_NOTICES_SENT,
	SX_STAT_NOTICES_ISPS,
	SX_STAT_ACT_INVESTIGATING,
	SX_STAT_ACT_WARNING,
	SX_STAT_ACT_SUSPENSION,
	SX_STAT_ACT_TERMINATION,
	SX_STAT_ACT_NOT_OUR_CUSTOMER,
	SX_STAT_ACT_INSUFFICIENT_EVIDENCE,
	SX_STAT_COUNT
};

/* "reports.public", "violations.opt-in", "actions.warning", ... */
const char *sx_stat_name(enum sx_stat i);

#define SX_STATS_MONTHS_MAX 1200   /* a century of months per query */

struct sx_stats_month {
	char month[8];                /* YYYY-MM */
	uint64_t v[SX_STAT_COUNT];
};

struct sx_stats {
	struct sx_stats_month *months; /* malloc'ed, consecutive months */
	size_t n;
	int deliveries_known;         /* 1: delivery figures counted (the audit log) */
};

/*
 * Counts the figures of every month from from to to (inclusive, "YYYY-MM";
 * NULL: the first, respectively last, month with any data), consecutive
 * months with nothing in them included as zeros, in one read snapshot.
 * Returns 0 (out->n may be 0 when there is no data at all), SX_EINVAL (a
 * month that is not YYYY-MM, from after to, more than SX_STATS_MONTHS_MAX
 * months), SX_ENOMEM, SX_EBUSY, SX_EDB. Free with sx_stats_finish.
 */
int sx_store_stats(struct sx_store *s, const char *from, const char *to, struct sx_stats *out);
void sx_stats_finish(struct sx_stats *st);

/* One ISP's notices, for sprexctl notices --summary. */
struct sx_notice_summary {
	char isp[SX_NAME_MAX];
	uint64_t sent;                /* notices recorded */
	uint64_t acked;               /* delivery acked by the ISP's agent */
	uint64_t with_action;         /* at least one action reported */
	uint64_t actions[7];          /* actions recorded, by NoticeActionKind 1..6 */
	int64_t median_first_ms;      /* median time from sent to first action; -1: none */
};
/* Calls fn per ISP member that has notices (only isp when != 0), by name. */
typedef int (*sx_notice_summary_fn)(void *ctx, const struct sx_notice_summary *sum);
int sx_store_notice_summary(struct sx_store *s, int64_t isp, sx_notice_summary_fn fn, void *ctx);

#endif
