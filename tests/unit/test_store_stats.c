/*
 * test_store_stats.c: monthly statistics and notice summaries
 * (server/store_stats.c): month ranges and their edges, figures counted
 * from reports, notices and actions, deliveries counted from the audit
 * log's deliver records, the median time to the first action.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "server/store_stats.h"
#include "teststore.h"

#define NOV 1761955200000LL   /* 2025-11-01T00:00:00Z */
#define OCT 1759276800000LL   /* 2025-10-01T00:00:00Z */
#define HOUR 3600000LL

static void test_empty_and_ranges(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct sx_stats st;
	assert_int_equal(sx_store_stats(s, NULL, NULL, &st), 0);
	assert_int_equal(st.n, 0);   /* no data: no months */
	sx_stats_finish(&st);
	assert_int_equal(sx_store_stats(s, "2025-01", "2025-03", &st), 0);
	assert_int_equal(st.n, 3);
	assert_string_equal(st.months[2].month, "2025-03");
	assert_int_equal(st.deliveries_known, 1);
	sx_stats_finish(&st);
	/* year boundary */
	assert_int_equal(sx_store_stats(s, "2025-12", "2026-01", &st), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.months[1].month, "2026-01");
	sx_stats_finish(&st);
	/* the month limit at its edge: 1200 months fit, 1201 do not */
	assert_int_equal(sx_store_stats(s, "1970-01", "2069-12", &st), 0);
	assert_int_equal(st.n, SX_STATS_MONTHS_MAX);
	sx_stats_finish(&st);
	assert_int_equal(sx_store_stats(s, "1970-01", "2070-01", &st), SX_EINVAL);
	assert_int_equal(sx_store_stats(s, "2025-13", NULL, &st), SX_EINVAL);
	assert_int_equal(sx_store_stats(s, "2025-1", NULL, &st), SX_EINVAL);
	assert_int_equal(sx_store_stats(s, "2025-03", "2025-02", &st), SX_EINVAL);
	assert_null(st.months);
	sx_store_close(s);
}

static void test_figures_and_summary(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp = ts_member(s, "isp-a", SX_ROLE_ISP, 1);
	int64_t seq[4];
	char id[4][SX_REPORT_ID_LEN + 1];
	seq[0] = ts_report(s, OCT + HOUR, isp, NULL, id[0]);
	seq[1] = ts_report(s, NOV + HOUR, isp, NULL, id[1]);
	seq[2] = ts_report(s, NOV + 2 * HOUR, isp, NULL, id[2]);
	seq[3] = ts_report(s, NOV + 3 * HOUR, 0, NULL, id[3]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sx_store_notice_sent(s, seq[i], isp, NOV + 10 * HOUR), 0);
	/* first actions 1 h, 3 h after sending; the later action does not count */
	assert_int_equal(sx_store_notice_action(s, id[0], isp, 2, "", NOV + 11 * HOUR), 0);
	assert_int_equal(sx_store_notice_action(s, id[0], isp, 3, "", NOV + 20 * HOUR), 0);
	assert_int_equal(sx_store_notice_action(s, id[1], isp, 5, "", NOV + 13 * HOUR), 0);

	struct sx_stats st;
	assert_int_equal(sx_store_stats(s, NULL, NULL, &st), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.months[0].month, "2025-10");
	assert_int_equal(st.months[0].v[SX_STAT_REPORTS_MONITOR], 1);
	assert_int_equal(st.months[0].v[SX_STAT_NOTICES_SENT], 0);   /* sent in November */
	assert_int_equal(st.months[1].v[SX_STAT_REPORTS_MONITOR], 3);
	assert_int_equal(st.months[1].v[SX_STAT_NOTICES_SENT], 3);
	assert_int_equal(st.months[1].v[SX_STAT_NOTICES_ISPS], 1);
	assert_int_equal(st.months[1].v[SX_STAT_ACT_WARNING], 1);
	assert_int_equal(st.months[1].v[SX_STAT_ACT_SUSPENSION], 1);
	assert_int_equal(st.months[1].v[SX_STAT_ACT_NOT_OUR_CUSTOMER], 1);
	assert_int_equal(st.months[1].v[SX_STAT_REPORTS_PUBLIC], 0);
	sx_stats_finish(&st);
	/* one month only, at its first and last millisecond */
	assert_int_equal(sx_store_stats(s, "2025-10", "2025-10", &st), 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.months[0].v[SX_STAT_REPORTS_MONITOR], 1);
	sx_stats_finish(&st);
	assert_string_equal(sx_stat_name(SX_STAT_ACT_INSUFFICIENT_EVIDENCE),
			    "actions.insufficient-evidence");
	assert_string_equal(sx_stat_name(SX_STAT_COUNT), "unknown");
	sx_store_close(s);
}

/* Appends a deliver record as sprexd writes it. */
static void deliver(struct sx_store *s, int64_t t, const char *member, int seq, const char *feed,
		    const char *outcome)
{
	struct sx_audit_rec r;
	memset(&r, 0, sizeof r);
	r.time_ms = t;
	snprintf(r.event, sizeof r.event, "deliver");
	snprintf(r.member, sizeof r.member, "%s", member);
	snprintf(r.object, sizeof r.object, "report=r%025d seq=%d sub=main feed=%s", seq, seq,
		 feed);
	snprintf(r.outcome, sizeof r.outcome, "%s", outcome);
	assert_int_equal(sx_store_audit_append(s, &r), 0);
}

static void test_deliveries(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	/* October: two association firsts (two members, same report), one
	 * redelivery; one enforcement first */
	deliver(s, OCT + HOUR, "vendor-a", 1, "association", "delivery 1");
	deliver(s, OCT + HOUR, "vendor-b", 1, "association", "delivery 1");
	deliver(s, OCT + 2 * HOUR, "vendor-a", 1, "association", "delivery 2");
	deliver(s, OCT + 2 * HOUR, "police", 1, "enforcement", "delivery 1");
	/* November: notices and chain deliveries are not these figures; an
	 * ack is not a delivery; the last millisecond of November counts */
	deliver(s, NOV + HOUR, "isp-a", 2, "notices", "delivery 1");
	deliver(s, NOV + HOUR, "chain-a", 2, "chain", "delivery 1");
	deliver(s, NOV + 30 * 24 * HOUR - 1, "police", 2, "enforcement", "delivery 1");
	deliver(s, NOV + 30 * 24 * HOUR - 1, "police", 3, "enforcement", "delivery 11");
	struct sx_audit_rec ack;
	memset(&ack, 0, sizeof ack);
	ack.time_ms = NOV + 2 * HOUR;
	snprintf(ack.event, sizeof ack.event, "ack");
	snprintf(ack.object, sizeof ack.object, "sub=main seq=1..2 feed=association");
	snprintf(ack.outcome, sizeof ack.outcome, "delivery 1");
	assert_int_equal(sx_store_audit_append(s, &ack), 0);
	/* December's first millisecond: outside --to 2025-11 */
	deliver(s, NOV + 30 * 24 * HOUR, "vendor-a", 4, "association", "delivery 1");

	struct sx_stats st;
	/* no reports at all: the months come from the deliveries */
	assert_int_equal(sx_store_stats(s, NULL, NULL, &st), 0);
	assert_int_equal(st.n, 3);
	assert_int_equal(st.deliveries_known, 1);
	assert_string_equal(st.months[0].month, "2025-10");
	assert_int_equal(st.months[0].v[SX_STAT_DELIV_ASSOCIATION], 2);
	assert_int_equal(st.months[0].v[SX_STAT_DELIV_ENFORCEMENT], 1);
	assert_int_equal(st.months[1].v[SX_STAT_DELIV_ASSOCIATION], 0);
	assert_int_equal(st.months[1].v[SX_STAT_DELIV_ENFORCEMENT], 1);
	assert_int_equal(st.months[1].v[SX_STAT_NOTICES_SENT], 0);   /* from notices only */
	assert_int_equal(st.months[2].v[SX_STAT_DELIV_ASSOCIATION], 1);
	sx_stats_finish(&st);
	assert_int_equal(sx_store_stats(s, "2025-11", "2025-11", &st), 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.months[0].v[SX_STAT_DELIV_ASSOCIATION], 0);
	assert_int_equal(st.months[0].v[SX_STAT_DELIV_ENFORCEMENT], 1);
	sx_stats_finish(&st);
	sx_store_close(s);
}

struct got {
	struct sx_notice_summary sum[4];
	size_t n;
};

static int collect(void *ctx, const struct sx_notice_summary *sum)
{
	struct got *g = ctx;
	if (g->n < 4)
		g->sum[g->n++] = *sum;
	return 0;
}

static void test_summary(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t a = ts_member(s, "isp-a", SX_ROLE_ISP, 1);
	int64_t b = ts_member(s, "isp-b", SX_ROLE_ISP, 2);
	char id[4][SX_REPORT_ID_LEN + 1];
	int64_t seq[4];
	for (int i = 0; i < 4; i++)
		seq[i] = ts_report(s, NOV + i, a, NULL, id[i]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sx_store_notice_sent(s, seq[i], a, NOV + HOUR), 0);
	assert_int_equal(sx_store_notice_sent(s, seq[3], b, NOV + HOUR), 0);
	assert_int_equal(sx_store_notice_action(s, id[0], a, 1, "", NOV + 2 * HOUR), 0);
	assert_int_equal(sx_store_notice_action(s, id[0], a, 2, "", NOV + 9 * HOUR), 0);
	assert_int_equal(sx_store_notice_action(s, id[1], a, 2, "", NOV + 4 * HOUR), 0);
	struct got g = { .n = 0 };
	assert_int_equal(sx_store_notice_summary(s, 0, collect, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.sum[0].isp, "isp-a");
	assert_int_equal(g.sum[0].sent, 3);
	assert_int_equal(g.sum[0].acked, 3);        /* no pending rows */
	assert_int_equal(g.sum[0].with_action, 2);
	assert_int_equal(g.sum[0].actions[1], 1);
	assert_int_equal(g.sum[0].actions[2], 2);
	assert_int_equal(g.sum[0].median_first_ms, 2 * HOUR);   /* of 1 h and 3 h */
	assert_string_equal(g.sum[1].isp, "isp-b");
	assert_int_equal(g.sum[1].median_first_ms, -1);
	g.n = 0;
	assert_int_equal(sx_store_notice_summary(s, b, collect, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.sum[0].isp, "isp-b");
	sx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_and_ranges, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_figures_and_summary, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_summary, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_deliveries, ts_setup, ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
