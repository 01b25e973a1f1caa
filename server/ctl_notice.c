/*
 * ctl_notice.c: sprexctl's ISP notice listing ("notices") and retention
 * ("purge").
 */
#include "ctl.h"
#include "frame.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "store_stats.h"

#define NOTICES_USAGE \
	"  notices [--isp NAME] [--open | --overdue DAYS | --summary]\n" \
	"                          ISP notices: report id, seq, ISP, sent, latest\n" \
	"                          action and when (or open); --open: no action yet;\n" \
	"                          --overdue DAYS: no action DAYS days after sending;\n" \
	"                          --summary: per ISP notices sent, acknowledged,\n" \
	"                          with an action, actions by kind, median time to the\n" \
	"                          first action\n"
#define PURGE_USAGE \
	"  purge --days N | --before TIME\n" \
	"                          delete, securely, the reports received more than N\n" \
	"                          days ago (or before TIME, YYYY-MM-DD[THH:MM:SSZ]),\n" \
	"                          with their pending deliveries and notices\n"

/* Longest retention --days takes: a century, far from int64 overflow. */
#define PURGE_DAYS_MAX 36500
#define DAY_MS 86400000LL

static const char *action_name(int a)
{
	const char *n = sx_action_name(a);
	return n ? n : "unknown";
}

/* --- notices ------------------------------------------------------------------ */

/* Notices sent before this are overdue when they have no action; 0: all. */
struct notice_walk {
	int64_t sent_before;
};

static int notice_one(void *ctx, const struct sx_notice_row *n)
{
	const struct notice_walk *w = ctx;
	if (w->sent_before && n->sent_ms >= w->sent_before)
		return 0;
	char sent[SX_CTL_TIME], at[SX_CTL_TIME];
	sx_ctl_time(n->sent_ms, sent);
	sx_ctl_time(n->action ? n->action_ms : 0, at);
	printf("%-*s  %-8lld  %-16s  %-20s  %-21s  %s\n", SX_REPORT_ID_LEN, n->report_id,
	       (long long)n->seq, n->isp, sent, n->action ? action_name(n->action) : "open", at);
	return ferror(stdout) ? SX_EIO : 0;
}

/* "3d 04:05:06" for a duration in ms, "-" when negative (none). */
static void duration(int64_t ms, char *out, size_t outlen)
{
	if (ms < 0) {
		snprintf(out, outlen, "-");
		return;
	}
	int64_t s = ms / 1000;
	snprintf(out, outlen, "%lldd %02lld:%02lld:%02lld", (long long)(s / 86400),
		 (long long)(s / 3600 % 24), (long long)(s / 60 % 60), (long long)(s % 60));
}

static int summary_one(void *ctx, const struct sx_notice_summary *sum)
{
	(void)ctx;
	char med[48], acts[256];
	size_t pos = 0;
	duration(sum->median_first_ms, med, sizeof med);
	acts[0] = '\0';
	for (int a = 1; a <= 6; a++)
		if (sum->actions[a] && pos < sizeof acts)
			pos += (size_t)snprintf(acts + pos, sizeof acts - pos, "%s%s=%llu",
						pos ? "," : "", action_name(a),
						(unsigned long long)sum->actions[a]);
	printf("%-16s  %8llu  %8llu  %11llu  %-16s  %s\n", sum->isp,
	       (unsigned long long)sum->sent, (unsigned long long)sum->acked,
	       (unsigned long long)sum->with_action, med, pos ? acts : "-");
	return ferror(stdout) ? SX_EIO : 0;
}

/* Parses --overdue DAYS (1..PURGE_DAYS_MAX). Returns -1 with *days set, or
 * the exit status. */
static int parse_overdue(const char *v, int64_t *days)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 ||
	    n > PURGE_DAYS_MAX)
		return sx_ctl_fail(EX_USAGE, "notices: --overdue needs a number of days from 1 "
				   "to %d, not '%s'", PURGE_DAYS_MAX, v);
	*days = n;
	return -1;
}

static int cmd_notices(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "notices";
	static const struct option opts[] = {
		{ "isp", required_argument, NULL, 'i' },
		{ "open", no_argument, NULL, 'o' },
		{ "overdue", required_argument, NULL, 'O' },
		{ "summary", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *isp = NULL, *overdue = NULL;
	int open_only = 0, summary = 0, c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(NOTICES_USAGE);
		case 'i':
			if ((status = sx_ctl_once(cmd, "--isp", &isp, optarg)))
				return status;
			break;
		case 'o':
			open_only = 1;
			break;
		case 'O':
			if ((status = sx_ctl_once(cmd, "--overdue", &overdue, optarg)))
				return status;
			break;
		case 's':
			summary = 1;
			break;
		case 1:
			return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, optarg);
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, argv[optind]);
	if (isp != NULL && !sx_member_name_ok(isp))
		return sx_ctl_fail(EX_DATAERR, "%s: '%s' is not a member name", cmd, isp);
	if (open_only + summary + (overdue != NULL) > 1)
		return sx_ctl_fail(EX_USAGE, "%s: give one of --open, --overdue, --summary", cmd);
	struct notice_walk walk = { 0 };
	if (overdue != NULL) {
		int64_t days = 0;
		if ((status = parse_overdue(overdue, &days)) >= 0)
			return status;
		walk.sent_before = sx_ctl_now_ms() - days * DAY_MS;
		open_only = 1;
	}

	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	int64_t isp_id = 0;
	int rc = 0;
	if (isp != NULL) {
		struct sx_member m;
		rc = sx_store_member_get(s, isp, &m);
		if (rc == SX_ENOTFOUND)
			status = sx_ctl_fail(EX_DATAERR, "%s: no member %s", cmd, isp);
		else if (rc != 0)
			status = sx_ctl_store_fail(ctl, s, rc);
		else if (m.role != SX_ROLE_ISP)
			status = sx_ctl_fail(EX_DATAERR, "%s: %s is not an ISP member (role %s)",
					     cmd, isp, sx_role_name(m.role));
		else
			isp_id = m.id;
	}
	if (status == 0 && summary) {
		printf("%-16s  %8s  %8s  %11s  %-16s  %s\n", "ISP", "SENT", "ACKED", "WITH-ACTION",
		       "MEDIAN-1ST-ACT", "ACTIONS");
		rc = sx_store_notice_summary(s, isp_id, summary_one, NULL);
		if (rc == SX_EIO && ferror(stdout))
			status = sx_ctl_fail(EX_IOERR, "cannot write the output");
		else if (rc != 0)
			status = sx_ctl_store_fail(ctl, s, rc);
	} else if (status == 0) {
		printf("%-*s  %-8s  %-16s  %-20s  %-21s  %s\n", SX_REPORT_ID_LEN, "REPORT", "SEQ",
		       "ISP", "SENT", "ACTION", "AT");
		rc = sx_store_notice_each(s, isp_id, open_only, notice_one, &walk);
		if (rc == SX_EIO && ferror(stdout))
			status = sx_ctl_fail(EX_IOERR, "cannot write the output");
		else if (rc != 0)
			status = sx_ctl_store_fail(ctl, s, rc);
	}
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

/* --- purge --------------------------------------------------------------------- */

/* Parses --days N (1..PURGE_DAYS_MAX). Returns -1 with *days set, or the exit
 * status. */
static int parse_days(const char *v, int64_t *days)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 ||
	    n > PURGE_DAYS_MAX)
		return sx_ctl_fail(EX_USAGE, "purge: --days needs a number of days from 1 to %d, "
				   "not '%s'", PURGE_DAYS_MAX, v);
	*days = n;
	return -1;
}

/* Parses --before as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), rejecting
 * dates that do not exist. Returns -1 with *ms set, or the exit status. */
static int parse_time(const char *v, int64_t *ms)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d" };
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct tm tm, back;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(v, formats[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		struct tm want = tm;
		time_t t = timegm(&tm);
		/* timegm normalizes 02-30 to 03-02: only a date that comes back
		 * the same exists. */
		if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
		    back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
		    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour ||
		    back.tm_min != want.tm_min || back.tm_sec != want.tm_sec || t <= 0)
			break;
		*ms = (int64_t)t * 1000;
		return -1;
	}
	return sx_ctl_fail(EX_USAGE, "purge: --before needs a UTC time YYYY-MM-DD or "
			   "YYYY-MM-DDTHH:MM:SSZ, not '%s'", v);
}

static int cmd_purge(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "purge";
	static const struct option opts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "before", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *days_arg = NULL, *before_arg = NULL;
	int c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(PURGE_USAGE);
		case 'd':
			if ((status = sx_ctl_once(cmd, "--days", &days_arg, optarg)))
				return status;
			break;
		case 'b':
			if ((status = sx_ctl_once(cmd, "--before", &before_arg, optarg)))
				return status;
			break;
		case 1:
			return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, optarg);
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, argv[optind]);
	if ((days_arg == NULL) == (before_arg == NULL))
		return sx_ctl_fail(EX_USAGE, "%s: give either --days N or --before TIME (see "
				   "sprexctl purge --help)", cmd);
	int64_t now = sx_ctl_now_ms(), before = 0, days = 0;
	if (days_arg != NULL) {
		if ((status = parse_days(days_arg, &days)) >= 0)
			return status;
		before = now - days * DAY_MS;
		if (before < 1)
			before = 1;   /* before the epoch: nothing is that old */
	} else {
		if ((status = parse_time(before_arg, &before)) >= 0)
			return status;
		if (before > now)
			return sx_ctl_fail(EX_USAGE, "%s: --before %s is in the future", cmd,
					   before_arg);
	}

	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	int64_t count = 0, horizon = 0;
	char what[SX_AUDIT_OBJECT_MAX], bt[SX_CTL_TIME];
	sx_ctl_time(before, bt);
	snprintf(what, sizeof what, "before=%s", bt);
	sx_ctl_audit_op(s, "purge", what);
	int rc = sx_store_purge(s, before, &count);
	/* SX_EBUSY with a count: committed, only the WAL is not emptied yet. */
	if (rc == 0 || count > 0) {
		char t[SX_CTL_TIME];
		sx_ctl_time(before, t);
		int hrc = sx_store_purged_through(s, &horizon);
		if (hrc != 0 && rc == 0)
			rc = hrc;
		if (hrc == 0)
			printf("purged %lld reports received before %s; horizon: seq %lld\n",
			       (long long)count, t, (long long)horizon);
	}
	if (rc != 0)
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_ctl_audit_done(s, count > 0 ? 0 : status);
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

const struct sx_ctl_cmd sx_ctl_notice_cmds[] = {
	{ "notices", NOTICES_USAGE, cmd_notices },
	{ "purge", PURGE_USAGE, cmd_purge },
	{ NULL, NULL, NULL },
};
