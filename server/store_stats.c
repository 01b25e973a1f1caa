/*
 * store_stats.c: monthly statistics and notice summaries (store_stats.h).
 *
 * Rarely run (an operator's or auditor's query), so the statements are
 * prepared per call rather than cached in the handle's slots. Everything
 * is read inside one savepoint: one snapshot for all figures.
 *
 * Indexes: reports are selected by the received_ms index, audit deliver
 * records by audit_time (time_ms). notices.sent_ms and notice_actions.time_ms
 * have none; with a month range these walk
 * the tables (a schema change for an index is left to a later migration).
 */
#include "store_sqlite.h"
#include "store_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

#define MONTH_SQL(col) "strftime('%Y-%m', " col " / 1000, 'unixepoch')"

static const char *const stat_names[SX_STAT_COUNT] = {
	[SX_STAT_REPORTS_PUBLIC] = "reports.public",
	[SX_STAT_REPORTS_MONITOR] = "reports.monitor",
	[SX_STAT_REPORTS_CHAIN] = "reports.chain",
	[SX_STAT_VIOL_OPTIN] = "violations.opt-in",
	[SX_STAT_VIOL_LABELING] = "violations.labeling",
	[SX_STAT_VIOL_SPOOFING] = "violations.spoofing",
	[SX_STAT_CAT_JAPANESE] = "categories.japanese",
	[SX_STAT_CAT_FOREIGN] = "categories.foreign",
	[SX_STAT_CAT_GARBLED] = "categories.garbled",
	[SX_STAT_CAT_VIRUS] = "categories.virus",
	[SX_STAT_CAT_INSUFFICIENT] = "categories.insufficient",
	[SX_STAT_QUARANTINED] = "quarantined",
	[SX_STAT_DELIV_ASSOCIATION] = "deliveries.association",
	[SX_STAT_DELIV_ENFORCEMENT] = "deliveries.enforcement",
	[SX_STAT_NOTICES_SENT] = "notices.sent",
	[SX_STAT_NOTICES_ISPS] = "notices.isps",
	[SX_STAT_ACT_INVESTIGATING] = "actions.investigating",
	[SX_STAT_ACT_WARNING] = "actions.warning",
	[SX_STAT_ACT_SUSPENSION] = "actions.suspension",
	[SX_STAT_ACT_TERMINATION] = "actions.termination",
	[SX_STAT_ACT_NOT_OUR_CUSTOMER] = "actions.not-our-customer",
	[SX_STAT_ACT_INSUFFICIENT_EVIDENCE] = "actions.insufficient-evidence",
};

const char *sx_stat_name(enum sx_stat i)
{
	return (unsigned)i < SX_STAT_COUNT ? stat_names[i] : "unknown";
}

void sx_stats_finish(struct sx_stats *st)
{
	free(st->months);
	memset(st, 0, sizeof *st);
}

/* "YYYY-MM" -> year * 12 + month - 1; -1 when malformed. */
static int month_index(const char *m)
{
	int y, mo, end = -1;
	if (!m || strlen(m) != 7 || sscanf(m, "%4d-%2d%n", &y, &mo, &end) != 2 || end != 7 ||
	    y < 1970 || y > 9999 || mo < 1 || mo > 12)
		return -1;
	return y * 12 + mo - 1;
}

static int64_t month_start_ms(int idx)
{
	struct tm tm = { .tm_year = idx / 12 - 1900, .tm_mon = idx % 12, .tm_mday = 1 };
	return (int64_t)timegm(&tm) * 1000;
}

static int prepare(struct sx_store *s, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : sx_store_fail(s, rc);
}

/* Calls add(ctx, month index, row) per row of sql bound to [lo, hi). */
typedef void (*row_fn)(struct sx_stats *out, int base, sqlite3_stmt *st);

static int walk(struct sx_store *s, const char *sql, int64_t lo, int64_t hi, struct sx_stats *out,
		int base, row_fn fn)
{
	sqlite3_stmt *st;
	int err = prepare(s, sql, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, lo);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, hi);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			fn(out, base, st);
	}
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sqlite3_finalize(st);
	return err;
}

static struct sx_stats_month *month_of(struct sx_stats *out, int base, sqlite3_stmt *st)
{
	const char *m = (const char *)sqlite3_column_text(st, 0);
	int idx = month_index(m);
	if (idx < base || (size_t)(idx - base) >= out->n)
		return NULL;
	return &out->months[idx - base];
}

static void report_row(struct sx_stats *out, int base, sqlite3_stmt *st)
{
	struct sx_stats_month *m = month_of(out, base, st);
	if (!m)
		return;
	int source = sqlite3_column_int(st, 1), state = sqlite3_column_int(st, 2);
	int64_t flags = sqlite3_column_int64(st, 3), cats = sqlite3_column_int64(st, 4);
	uint64_t n = (uint64_t)sqlite3_column_int64(st, 5);
	if (source >= 1 && source <= 3)
		m->v[SX_STAT_REPORTS_PUBLIC + source - 1] += n;
	if (state == SX_REPORT_QUARANTINED)
		m->v[SX_STAT_QUARANTINED] += n;
	for (int b = 0; b < 3; b++)
		if (flags & (1 << b))
			m->v[SX_STAT_VIOL_OPTIN + b] += n;
	for (int b = 0; b < 5; b++)
		if (cats & (1 << b))
			m->v[SX_STAT_CAT_JAPANESE + b] += n;
}

static void notice_row(struct sx_stats *out, int base, sqlite3_stmt *st)
{
	struct sx_stats_month *m = month_of(out, base, st);
	if (!m)
		return;
	m->v[SX_STAT_NOTICES_SENT] += (uint64_t)sqlite3_column_int64(st, 1);
	m->v[SX_STAT_NOTICES_ISPS] += (uint64_t)sqlite3_column_int64(st, 2);
}

static void action_row(struct sx_stats *out, int base, sqlite3_stmt *st)
{
	struct sx_stats_month *m = month_of(out, base, st);
	int a = sqlite3_column_int(st, 1);
	if (m && a >= 1 && a <= 6)
		m->v[SX_STAT_ACT_INVESTIGATING + a - 1] += (uint64_t)sqlite3_column_int64(st, 2);
}

static void delivery_row(struct sx_stats *out, int base, sqlite3_stmt *st)
{
	struct sx_stats_month *m = month_of(out, base, st);
	const char *feed = (const char *)sqlite3_column_text(st, 1);
	if (!m || !feed)
		return;
	uint64_t n = (uint64_t)sqlite3_column_int64(st, 2);
	if (strcmp(feed, "association") == 0)
		m->v[SX_STAT_DELIV_ASSOCIATION] += n;
	else if (strcmp(feed, "enforcement") == 0)
		m->v[SX_STAT_DELIV_ENFORCEMENT] += n;
}

/*
 * Association and enforcement deliveries per month, from the audit log's
 * deliver records (object "report=ID seq=S sub=NAME feed=F", outcome
 * "delivery N"): first deliveries only, so a redelivery of the same report
 * on the same subscription is not counted again. The feed is the last field
 * of the object. The audit log keeps its records when retention purges the
 * reports, so these figures outlive the report figures of their month.
 */
static const char deliveries_sql[] =
	"SELECT " MONTH_SQL("time_ms") ", substr(object, instr(object, ' feed=') + 6), count(*) "
	"FROM audit WHERE time_ms >= ?1 AND time_ms < ?2 AND event = 'deliver' "
	"AND outcome = 'delivery 1' AND instr(object, ' feed=') > 0 GROUP BY 1, 2";

static int count_deliveries(struct sx_store *s, int64_t lo, int64_t hi, struct sx_stats *out,
			    int base)
{
	return walk(s, deliveries_sql, lo, hi, out, base, delivery_row);
}

/* The first and last month with any data, as indexes; -1 when none. */
static int data_span(struct sx_store *s, int *first, int *last)
{
	static const char sql[] =
		"SELECT min(t), max(t) FROM ("
		"SELECT min(received_ms) AS t FROM reports UNION ALL "
		"SELECT max(received_ms) FROM reports UNION ALL "
		"SELECT min(sent_ms) FROM notices UNION ALL SELECT max(sent_ms) FROM notices "
		"UNION ALL SELECT min(time_ms) FROM notice_actions "
		"UNION ALL SELECT max(time_ms) FROM notice_actions "
		/* by the time index, stopping at the first match */
		"UNION ALL SELECT * FROM (SELECT time_ms FROM audit WHERE event = 'deliver' "
		"  AND outcome = 'delivery 1' ORDER BY time_ms LIMIT 1) "
		"UNION ALL SELECT * FROM (SELECT time_ms FROM audit WHERE event = 'deliver' "
		"  AND outcome = 'delivery 1' ORDER BY time_ms DESC LIMIT 1))";
	sqlite3_stmt *st;
	int err = prepare(s, sql, &st);
	if (err)
		return err;
	*first = *last = -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		for (int i = 0; i < 2; i++) {
			time_t t = (time_t)(sqlite3_column_int64(st, i) / 1000);
			struct tm tm;
			if (gmtime_r(&t, &tm)) {
				int idx = (tm.tm_year + 1900) * 12 + tm.tm_mon;
				*(i ? last : first) = idx;
			}
		}
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = sx_store_fail(s, rc);
	}
	sqlite3_finalize(st);
	return err;
}

int sx_store_stats(struct sx_store *s, const char *from, const char *to, struct sx_stats *out)
{
	memset(out, 0, sizeof *out);
	out->deliveries_known = 1;   /* the audit log is part of every schema */
	int lo_idx = from ? month_index(from) : -1, hi_idx = to ? month_index(to) : -1;
	if ((from && lo_idx < 0) || (to && hi_idx < 0))
		return sx_store_failf(s, SX_EINVAL, "a month is YYYY-MM");
	int rc = sqlite3_exec(s->db, "SAVEPOINT sx_stats", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	int err = 0;
	if (!from || !to) {
		int first, last;
		if ((err = data_span(s, &first, &last)))
			goto out;
		if (first < 0 && (!from || !to))
			goto out;   /* no data and an open end: no months */
		if (!from)
			lo_idx = to && first > hi_idx ? hi_idx : first;
		if (!to)
			hi_idx = last < lo_idx ? lo_idx : last;
	}
	if (lo_idx > hi_idx) {
		err = sx_store_failf(s, SX_EINVAL, "--from is after --to");
		goto out;
	}
	if (hi_idx - lo_idx + 1 > SX_STATS_MONTHS_MAX) {
		err = sx_store_failf(s, SX_EINVAL, "more than %d months", SX_STATS_MONTHS_MAX);
		goto out;
	}
	out->n = (size_t)(hi_idx - lo_idx + 1);
	if (!(out->months = calloc(out->n, sizeof *out->months))) {
		err = SX_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < out->n; i++) {
		int idx = lo_idx + (int)i;
		unsigned y = (unsigned)(idx / 12) % 10000u, mo = (unsigned)(idx % 12) + 1u;
		char *mm = out->months[i].month;
		mm[0] = (char)('0' + y / 1000);
		mm[1] = (char)('0' + y / 100 % 10);
		mm[2] = (char)('0' + y / 10 % 10);
		mm[3] = (char)('0' + y % 10);
		mm[4] = '-';
		mm[5] = (char)('0' + mo / 10);
		mm[6] = (char)('0' + mo % 10);
		mm[7] = '\0';
	}
	int64_t lo = month_start_ms(lo_idx), hi = month_start_ms(hi_idx + 1);
	static const char reports_sql[] =
		"SELECT " MONTH_SQL("received_ms") ", source, state, flags, categories, count(*) "
		"FROM reports WHERE received_ms >= ?1 AND received_ms < ?2 "
		"GROUP BY 1, 2, 3, 4, 5";
	static const char notices_sql[] =
		"SELECT " MONTH_SQL("sent_ms") ", count(*), count(DISTINCT isp) "
		"FROM notices WHERE sent_ms >= ?1 AND sent_ms < ?2 GROUP BY 1";
	static const char actions_sql[] =
		"SELECT " MONTH_SQL("time_ms") ", action, count(*) "
		"FROM notice_actions WHERE time_ms >= ?1 AND time_ms < ?2 GROUP BY 1, 2";
	if ((err = walk(s, reports_sql, lo, hi, out, lo_idx, report_row)) ||
	    (err = walk(s, notices_sql, lo, hi, out, lo_idx, notice_row)) ||
	    (err = walk(s, actions_sql, lo, hi, out, lo_idx, action_row)) ||
	    (err = count_deliveries(s, lo, hi, out, lo_idx)))
		goto out;
out:
	sqlite3_exec(s->db, "RELEASE sx_stats", NULL, NULL, NULL);
	if (err)
		sx_stats_finish(out);
	return err;
}

/* ------------------------------------------------------------ notice summary */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t median(int64_t *v, size_t n)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof *v, cmp_i64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One row per notice, ISPs by name: isp name, member id, acked, actions,
 * first action's delay. */
static const char summary_sql[] =
	"SELECT m.name, n.isp, "
	"NOT EXISTS (SELECT 1 FROM sub_pending AS p JOIN subscriptions AS s ON s.id = p.sub "
	"  WHERE s.member = n.isp AND s.feed = 2 AND p.seq = n.seq), "
	"n.actions, "
	"(SELECT min(a.time_ms) FROM notice_actions AS a WHERE a.seq = n.seq AND a.isp = n.isp) "
	"  - n.sent_ms "
	"FROM notices AS n JOIN members AS m ON m.id = n.isp "
	"WHERE ?1 = 0 OR n.isp = ?1 ORDER BY m.name, n.seq";
static const char summary_actions_sql[] =
	"SELECT action, count(*) FROM notice_actions WHERE isp = ?1 GROUP BY action";

static int finish_isp(struct sx_store *s, struct sx_notice_summary *sum, int64_t isp_id,
		      int64_t *delays, size_t nd, sx_notice_summary_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int err = prepare(s, summary_actions_sql, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, isp_id);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		int a = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
		if (a >= 1 && a <= 6)
			sum->actions[a] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sqlite3_finalize(st);
	if (err)
		return err;
	sum->median_first_ms = median(delays, nd);
	return fn(ctx, sum);
}

int sx_store_notice_summary(struct sx_store *s, int64_t isp, sx_notice_summary_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int rc = sqlite3_exec(s->db, "SAVEPOINT sx_summary", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	int err = prepare(s, summary_sql, &st);
	if (err) {
		sqlite3_exec(s->db, "RELEASE sx_summary", NULL, NULL, NULL);
		return err;
	}
	struct sx_notice_summary sum;
	int64_t cur = 0, *delays = NULL;
	size_t nd = 0, cap = 0;
	memset(&sum, 0, sizeof sum);
	rc = sqlite3_bind_int64(st, 1, isp);
	while (!err && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		int64_t id = sqlite3_column_int64(st, 1);
		if (id != cur) {
			if (cur && (err = finish_isp(s, &sum, cur, delays, nd, fn, ctx)))
				break;
			memset(&sum, 0, sizeof sum);
			nd = 0;
			cur = id;
			if (sx_store_col_text(st, 0, sum.isp, sizeof sum.isp)) {
				err = sx_store_failf(s, SX_EDB, "malformed member name");
				break;
			}
		}
		sum.sent++;
		sum.acked += sqlite3_column_int(st, 2) != 0;
		sum.with_action += sqlite3_column_int64(st, 3) > 0;
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			if (nd == cap) {
				size_t nc = cap ? cap * 2 : 64;
				int64_t *nv = realloc(delays, nc * sizeof *nv);
				if (!nv) {
					err = SX_ENOMEM;
					break;
				}
				delays = nv;
				cap = nc;
			}
			delays[nd++] = sqlite3_column_int64(st, 4);
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sqlite3_finalize(st);
	if (!err && cur)
		err = finish_isp(s, &sum, cur, delays, nd, fn, ctx);
	free(delays);
	sqlite3_exec(s->db, "RELEASE sx_summary", NULL, NULL, NULL);
	return err;
}
