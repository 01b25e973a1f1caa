/*
 * ctl_stats.c: sprexctl's monthly statistics ("stats"), as a table, JSON,
 * CSV or an SVG chart of the monthly trends (hand-written SVG 1.1: no
 * script, no external resources; it opens in any browser).
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "stats_table.h"
#include "store_stats.h"

#define STATS_USAGE \
	"  stats [--from YYYY-MM] [--to YYYY-MM] [--format text|json|csv|svg]\n" \
	"                          monthly figures: reports by source, violations,\n" \
	"                          categories, quarantined, deliveries, ISP notices and\n" \
	"                          distinct ISPs, ISP actions; svg draws the trends\n"

/* Shown only for statistics without delivery figures (sx_stats.deliveries_known 0;
 * the store of this version always counts them from the audit log). */
#define DELIVERIES_NOTE \
	"association and enforcement deliveries are counted from the audit log, " \
	"not available here"

static int deliv(enum sx_stat i)
{
	return i == SX_STAT_DELIV_ASSOCIATION || i == SX_STAT_DELIV_ENFORCEMENT;
}

/* --- text, csv, json ----------------------------------------------------------- */

_Static_assert(SX_STATS_MONTHS_MAX <= SX_STATS_TABLE_MONTHS_MAX, "every month fits the table");
_Static_assert(SX_STAT_COUNT <= SX_STATS_TABLE_FIGURES_MAX, "every figure fits the table");

/* The store's figures as the table both sprexctl and sprex-agent print.
 * Returns 0 or SX_ENOMEM; finish t either way. */
static int to_table(const struct sx_stats *st, struct sx_stats_table *t)
{
	int rc = sx_stats_table_init(t, st->n);
	size_t f, k;
	for (int i = 0; i < SX_STAT_COUNT && rc == 0; i++) {
		rc = sx_stats_table_figure(t, sx_stat_name((enum sx_stat)i), &f);
		if (rc == 0)
			t->unknown[f] = deliv((enum sx_stat)i) && !st->deliveries_known;
	}
	for (size_t m = 0; m < st->n && rc == 0; m++) {
		rc = sx_stats_table_month(t, st->months[m].month, &k);
		for (int i = 0; i < SX_STAT_COUNT && rc == 0; i++)
			t->v[k][i] = st->months[m].v[i];   /* figure i is column i */
	}
	if (rc == 0 && !st->deliveries_known)
		rc = sx_stats_table_note(t, DELIVERIES_NOTE);
	t->deliveries_known = st->deliveries_known != 0;
	return rc;
}

/* --- svg --------------------------------------------------------------------- */

#define SVG_W 960
#define PANEL_H 250
#define TOP 60
#define PLOT_X0 80
#define PLOT_X1 690
#define LEGEND_X 712

struct panel {
	const char *title;
	enum sx_stat series[6];
	size_t n;
};

static const struct panel panels[] = {
	{ "Reports received, by source", { SX_STAT_REPORTS_PUBLIC, SX_STAT_REPORTS_MONITOR,
	  SX_STAT_REPORTS_CHAIN, SX_STAT_QUARANTINED }, 4 },
	{ "Violation flags", { SX_STAT_VIOL_OPTIN, SX_STAT_VIOL_LABELING, SX_STAT_VIOL_SPOOFING },
	  3 },
	{ "Categories", { SX_STAT_CAT_JAPANESE, SX_STAT_CAT_FOREIGN, SX_STAT_CAT_GARBLED,
	  SX_STAT_CAT_VIRUS, SX_STAT_CAT_INSUFFICIENT }, 5 },
	{ "Deliveries and ISP notices", { SX_STAT_DELIV_ASSOCIATION, SX_STAT_DELIV_ENFORCEMENT,
	  SX_STAT_NOTICES_SENT, SX_STAT_NOTICES_ISPS }, 4 },
	{ "ISP actions", { SX_STAT_ACT_INVESTIGATING, SX_STAT_ACT_WARNING, SX_STAT_ACT_SUSPENSION,
	  SX_STAT_ACT_TERMINATION, SX_STAT_ACT_NOT_OUR_CUSTOMER,
	  SX_STAT_ACT_INSUFFICIENT_EVIDENCE }, 6 },
};
#define NPANELS (sizeof panels / sizeof panels[0])

/* Colour-blind-safe palette (Okabe-Ito). */
static const char *const colours[] = { "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
				       "#56B4E9" };

/* The smallest 1, 2 or 5 times a power of ten at or above v (at least 5). */
static uint64_t nice_max(uint64_t v)
{
	if (v < 5)
		return 5;
	uint64_t p = 1;
	while (p <= v / 10)
		p *= 10;
	for (;;) {
		if (p >= v)
			return p;
		if (2 * p >= v)
			return 2 * p;
		if (5 * p >= v)
			return 5 * p;
		p *= 10;
	}
}

static double x_of(size_t m, size_t n)
{
	if (n <= 1)
		return (PLOT_X0 + PLOT_X1) / 2.0;
	return PLOT_X0 + (double)m * (PLOT_X1 - PLOT_X0) / (double)(n - 1);
}

/* The y of value v in a plot from y0 (top, ymax) to y1 (bottom, 0). */
static double y_of(uint64_t v, uint64_t ymax, int y0, int y1)
{
	return y1 - (double)v * (y1 - y0) / (double)ymax;
}

static void svg_panel(const struct sx_stats *st, const struct panel *p, int top)
{
	int y0 = top + 40, y1 = top + PANEL_H - 50;   /* plot area, y0 at the top */
	uint64_t max = 0;
	for (size_t s = 0; s < p->n; s++)
		for (size_t m = 0; m < st->n; m++)
			if (st->months[m].v[p->series[s]] > max)
				max = st->months[m].v[p->series[s]];
	uint64_t ymax = nice_max(max);
	printf("<g>\n<text x=\"%d\" y=\"%d\" font-size=\"16\" font-weight=\"bold\">%s</text>\n",
	       PLOT_X0, top + 24, p->title);
	/* grid and y labels: five steps */
	for (int k = 0; k <= 5; k++) {
		double y = y1 - (double)k * (y1 - y0) / 5.0;
		printf("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n",
		       PLOT_X0, y, PLOT_X1, y, k ? "#dddddd" : "#333333");
		printf("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%" PRIu64
		       "</text>\n", PLOT_X0 - 8, y + 4, ymax / 5 * (uint64_t)k);
	}
	printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\"/>\n", PLOT_X0, y0,
	       PLOT_X0, y1);
	printf("<text transform=\"translate(%d %d) rotate(-90)\" text-anchor=\"middle\" "
	       "font-size=\"12\">count per month</text>\n", PLOT_X0 - 55, (y0 + y1) / 2);
	/* x labels: at most 12 */
	size_t step = st->n > 12 ? (st->n + 11) / 12 : 1;
	for (size_t m = 0; m < st->n; m += step)
		printf("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">"
		       "%s</text>\n", x_of(m, st->n), y1 + 18, st->months[m].month);
	printf("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">month (UTC)"
	       "</text>\n", (PLOT_X0 + PLOT_X1) / 2, y1 + 38);
	for (size_t s = 0; s < p->n; s++) {
		enum sx_stat f = p->series[s];
		const char *c = colours[s % 6];
		int unknown = deliv(f) && !st->deliveries_known;
		if (!unknown && st->n > 1) {
			printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
			       "points=\"", c);
			for (size_t m = 0; m < st->n; m++)
				printf("%s%.1f,%.1f", m ? " " : "", x_of(m, st->n),
				       y_of(st->months[m].v[f], ymax, y0, y1));
			printf("\"/>\n");
		}
		for (size_t m = 0; m < st->n && !unknown; m++)
			printf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
			       "<title>%s %s: %" PRIu64 "</title></circle>\n", x_of(m, st->n),
			       y_of(st->months[m].v[f], ymax, y0, y1), c, st->months[m].month,
			       sx_stat_name(f), st->months[m].v[f]);
		int ly = y0 + 4 + (int)s * 22;
		printf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
		       "stroke-width=\"3\"%s/>\n", LEGEND_X, ly, LEGEND_X + 24, ly, c,
		       unknown ? " stroke-dasharray=\"4 3\"" : "");
		printf("<text x=\"%d\" y=\"%d\" font-size=\"12\">%s%s</text>\n", LEGEND_X + 30,
		       ly + 4, sx_stat_name(f), unknown ? " (n/a)" : "");
	}
	printf("</g>\n");
}

static void print_svg(const struct sx_stats *st)
{
	int h = TOP + (int)NPANELS * PANEL_H + (st->deliveries_known ? 10 : 30);
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	       "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
	       "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, "
	       "sans-serif\">\n", SVG_W, h, SVG_W, h);
	printf("<title>sprex monthly statistics</title>\n");
	printf("<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	printf("<text x=\"%d\" y=\"32\" font-size=\"20\" font-weight=\"bold\">sprex monthly "
	       "statistics, %s to %s</text>\n", PLOT_X0, st->n ? st->months[0].month : "-",
	       st->n ? st->months[st->n - 1].month : "-");
	for (size_t i = 0; i < NPANELS; i++)
		svg_panel(st, &panels[i], TOP + (int)i * PANEL_H);
	if (!st->deliveries_known)
		printf("<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#555555\">n/a: %s"
		       "</text>\n", PLOT_X0, h - 12, DELIVERIES_NOTE);
	printf("</svg>\n");
}

/* text, json or csv: sprex-agent audit --stats prints the same table. */
static int print_table(const struct sx_stats *st, const char *format)
{
	static const char cmd[] = "stats";
	enum sx_stats_format fmt = strcmp(format, "text") == 0 ? SX_STATS_TEXT
				   : strcmp(format, "csv") == 0 ? SX_STATS_CSV
				   : SX_STATS_JSON;
	struct sx_stats_table t;
	int status = 0, rc = to_table(st, &t);
	if (rc != 0)
		status = sx_ctl_fail(EX_OSERR, "%s: %s", cmd, sx_strerror(rc));
	else if (sx_stats_table_print(&t, fmt, stdout) < 0)
		status = sx_ctl_fail(EX_SOFTWARE, "%s: statistics too large for JSON", cmd);
	sx_stats_table_finish(&t);
	return status;
}

/* --- command ------------------------------------------------------------------- */

static int cmd_stats(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "stats";
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL, *format = NULL;
	int c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(STATS_USAGE);
		case 'f':
			if ((status = sx_ctl_once(cmd, "--from", &from, optarg)))
				return status;
			break;
		case 't':
			if ((status = sx_ctl_once(cmd, "--to", &to, optarg)))
				return status;
			break;
		case 'F':
			if ((status = sx_ctl_once(cmd, "--format", &format, optarg)))
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
	if (!format)
		format = "text";
	if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "csv") &&
	    strcmp(format, "svg"))
		return sx_ctl_fail(EX_USAGE, "%s: --format is text, json, csv or svg, not '%s'",
				   cmd, format);
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, SX_STORE_READONLY, &s)))
		return status;
	struct sx_stats st;
	int rc = sx_store_stats(s, from, to, &st);
	if (rc == SX_EINVAL) {
		status = sx_ctl_fail(EX_USAGE, "%s: %s", cmd, sx_store_errmsg(s));
	} else if (rc != 0) {
		status = sx_ctl_store_fail(ctl, s, rc);
	} else {
		if (strcmp(format, "svg") == 0)
			print_svg(&st);
		else
			status = print_table(&st, format);
		sx_stats_finish(&st);
	}
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

const struct sx_ctl_cmd sx_ctl_stats_cmds[] = {
	{ "stats", STATS_USAGE, cmd_stats },
	{ NULL, NULL, NULL },
};
