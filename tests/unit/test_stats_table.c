/*
 * test_stats_table.c: the statistics table and its printers (lib/stats_table.c),
 * shared by sprexctl stats and sprex-agent audit --stats.
 *
 * The printed bytes are the contract (scripts parse them, and the two
 * programs must agree), so every layout is compared whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/stats_table.h"

/* The table printed in fmt; the caller frees. */
static char *print(const struct sx_stats_table *t, enum sx_stats_format fmt, int want_rc)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	assert_non_null(f);
	assert_int_equal(sx_stats_table_print(t, fmt, f), want_rc);
	assert_int_equal(fclose(f), 0);
	return s;
}

static void assert_prints(const struct sx_stats_table *t, enum sx_stats_format fmt,
			  const char *want)
{
	char *got = print(t, fmt, 0);
	assert_string_equal(got, want);
	free(got);
}

static size_t figure(struct sx_stats_table *t, const char *name)
{
	size_t i = 99;
	assert_int_equal(sx_stats_table_figure(t, name, &i), 0);
	return i;
}

static size_t month(struct sx_stats_table *t, const char *m)
{
	size_t i = 99;
	assert_int_equal(sx_stats_table_month(t, m, &i), 0);
	return i;
}

/* Two months of three figures, the middle one not counted, as sprexctl
 * fills it when the deliveries are unknown. */
static void fill_unknown(struct sx_stats_table *t)
{
	assert_int_equal(sx_stats_table_init(t, 4), 0);
	size_t a = figure(t, "reports.public"), d = figure(t, "deliveries.association"),
	       q = figure(t, "quarantined");
	t->unknown[d] = 1;
	size_t m0 = month(t, "2026-09"), m1 = month(t, "2026-10");
	t->v[m0][a] = 1;
	t->v[m0][d] = 77;   /* never printed: unknown wins over any value */
	t->v[m0][q] = 2;
	t->v[m1][a] = 30;
	assert_int_equal(sx_stats_table_note(t, "deliveries are not counted here"), 0);
	t->deliveries_known = 0;
}

static void test_unknown_text(void **state)
{
	(void)state;
	struct sx_stats_table t;
	fill_unknown(&t);
	assert_prints(&t, SX_STATS_TEXT,
		      "FIGURE                            2026-09    2026-10\n"
		      "reports.public                          1         30\n"
		      "deliveries.association                  -          -\n"
		      "quarantined                             2          0\n"
		      "\n"
		      "- : deliveries are not counted here\n");
	sx_stats_table_finish(&t);
}

static void test_unknown_csv(void **state)
{
	(void)state;
	struct sx_stats_table t;
	fill_unknown(&t);
	assert_prints(&t, SX_STATS_CSV,
		      "month,reports.public,deliveries.association,quarantined\r\n"
		      "2026-09,1,,2\r\n"
		      "2026-10,30,,0\r\n");
	sx_stats_table_finish(&t);
}

static void test_unknown_json(void **state)
{
	(void)state;
	struct sx_stats_table t;
	fill_unknown(&t);
	assert_prints(&t, SX_STATS_JSON,
		      "{\"deliveries_known\":false,\"months\":["
		      "{\"month\":\"2026-09\",\"figures\":{\"reports.public\":1,"
		      "\"deliveries.association\":null,\"quarantined\":2}},"
		      "{\"month\":\"2026-10\",\"figures\":{\"reports.public\":30,"
		      "\"deliveries.association\":null,\"quarantined\":0}}],"
		      "\"notes\":[\"deliveries are not counted here\"]}\n");
	/* the agent's layout: no deliveries_known member */
	t.deliveries_known = -1;
	t.unknown[1] = 0;
	t.nnotes = 0;
	assert_prints(&t, SX_STATS_JSON,
		      "{\"months\":["
		      "{\"month\":\"2026-09\",\"figures\":{\"reports.public\":1,"
		      "\"deliveries.association\":77,\"quarantined\":2}},"
		      "{\"month\":\"2026-10\",\"figures\":{\"reports.public\":30,"
		      "\"deliveries.association\":0,\"quarantined\":0}}]}\n");
	sx_stats_table_finish(&t);
}

static void test_notes(void **state)
{
	(void)state;
	struct sx_stats_table t;
	assert_int_equal(sx_stats_table_init(&t, 1), 0);
	figure(&t, "x");
	month(&t, "2026-01");
	for (int i = 0; i < SX_STATS_TABLE_NOTES_MAX; i++)
		assert_int_equal(sx_stats_table_note(&t, i % 2 ? "odd \"one\"" : "even"), 0);
	assert_int_equal(sx_stats_table_note(&t, "one too many"), SX_ETOOBIG);
	assert_int_equal(sx_stats_table_note(&t, NULL), SX_EINVAL);
	assert_int_equal(t.nnotes, SX_STATS_TABLE_NOTES_MAX);
	t.nnotes = 2;
	assert_prints(&t, SX_STATS_TEXT,
		      "FIGURE                            2026-01\n"
		      "x                                       0\n"
		      "\n"
		      "- : even\n"
		      "- : odd \"one\"\n");
	assert_prints(&t, SX_STATS_CSV, "month,x\r\n2026-01,0\r\n");   /* no notes */
	t.deliveries_known = 1;
	assert_prints(&t, SX_STATS_JSON,
		      "{\"deliveries_known\":true,\"months\":[{\"month\":\"2026-01\","
		      "\"figures\":{\"x\":0}}],\"notes\":[\"even\",\"odd \\\"one\\\"\"]}\n");
	sx_stats_table_finish(&t);
}

static void test_zero_months(void **state)
{
	(void)state;
	struct sx_stats_table t;
	assert_int_equal(sx_stats_table_init(&t, 0), 0);
	size_t i;
	assert_int_equal(sx_stats_table_month(&t, "2026-01", &i), SX_ETOOBIG);
	assert_prints(&t, SX_STATS_TEXT, "FIGURE                        \n");
	assert_prints(&t, SX_STATS_CSV, "month\r\n");
	assert_prints(&t, SX_STATS_JSON, "{\"months\":[]}\n");
	figure(&t, "a");
	figure(&t, "b");
	t.unknown[1] = 1;
	t.deliveries_known = 0;
	assert_prints(&t, SX_STATS_TEXT,
		      "FIGURE                        \n"
		      "a                             \n"
		      "b                             \n");
	assert_prints(&t, SX_STATS_CSV, "month,a,b\r\n");
	assert_prints(&t, SX_STATS_JSON, "{\"deliveries_known\":false,\"months\":[]}\n");
	sx_stats_table_finish(&t);
}

static void test_json_clamp(void **state)
{
	(void)state;
	struct sx_stats_table t;
	assert_int_equal(sx_stats_table_init(&t, 1), 0);
	size_t a = figure(&t, "max"), b = figure(&t, "max+1"), c = figure(&t, "u64max");
	size_t m = month(&t, "2026-02");
	t.v[m][a] = INT64_MAX;
	t.v[m][b] = (uint64_t)INT64_MAX + 1;
	t.v[m][c] = UINT64_MAX;
	assert_prints(&t, SX_STATS_JSON,
		      "{\"months\":[{\"month\":\"2026-02\",\"figures\":{"
		      "\"max\":9223372036854775807,\"max+1\":9223372036854775807,"
		      "\"u64max\":9223372036854775807}}]}\n");
	/* text and CSV print the whole unsigned value */
	assert_prints(&t, SX_STATS_CSV,
		      "month,max,max+1,u64max\r\n"
		      "2026-02,9223372036854775807,9223372036854775808,18446744073709551615\r\n");
	assert_prints(&t, SX_STATS_TEXT,
		      "FIGURE                            2026-02\n"
		      "max                             9223372036854775807\n"
		      "max+1                           9223372036854775808\n"
		      "u64max                          18446744073709551615\n");
	sx_stats_table_finish(&t);
}

/* The text column is 9 wide: a tenth digit widens the row, it is never cut. */
static void test_text_column_edge(void **state)
{
	(void)state;
	struct sx_stats_table t;
	assert_int_equal(sx_stats_table_init(&t, 2), 0);
	char name[SX_STATS_TABLE_NAME_MAX];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	size_t a = figure(&t, "nine"), b = figure(&t, name);
	size_t m0 = month(&t, "2026-03"), m1 = month(&t, "2026-04");
	t.v[m0][a] = 999999999;
	t.v[m1][a] = 1000000000;
	t.v[m0][b] = 0;
	t.v[m1][b] = 1;
	assert_prints(&t, SX_STATS_TEXT,
		      "FIGURE                            2026-03    2026-04\n"
		      "nine                            999999999  1000000000\n"
		      "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn          0          1\n");
	sx_stats_table_finish(&t);
}

static void test_limits(void **state)
{
	(void)state;
	struct sx_stats_table t;
	size_t i, j;
	assert_int_equal(sx_stats_table_init(&t, SX_STATS_TABLE_MONTHS_MAX + 1), SX_EINVAL);
	sx_stats_table_finish(&t);
	assert_int_equal(sx_stats_table_init(&t, SX_STATS_TABLE_MONTHS_MAX), 0);
	assert_int_equal(t.deliveries_known, -1);
	/* months: exactly YYYY-MM's length, up to months_max */
	assert_int_equal(sx_stats_table_month(&t, "2026-1", &i), SX_EINVAL);
	assert_int_equal(sx_stats_table_month(&t, "2026-100", &i), SX_EINVAL);
	assert_int_equal(sx_stats_table_month(&t, NULL, &i), SX_EINVAL);
	for (size_t k = 0; k < SX_STATS_TABLE_MONTHS_MAX; k++) {
		assert_int_equal(sx_stats_table_month(&t, "2026-05", &i), 0);
		assert_int_equal(i, k);
	}
	assert_int_equal(sx_stats_table_month(&t, "2026-05", &i), SX_ETOOBIG);
	assert_int_equal(t.nmonths, SX_STATS_TABLE_MONTHS_MAX);
	/* figure names: shorter than SX_STATS_TABLE_NAME_MAX */
	char name[SX_STATS_TABLE_NAME_MAX + 1];
	memset(name, 'f', sizeof name - 1);
	name[SX_STATS_TABLE_NAME_MAX] = '\0';
	assert_int_equal(sx_stats_table_figure(&t, name, &i), SX_ETOOBIG);
	name[SX_STATS_TABLE_NAME_MAX - 1] = '\0';
	assert_int_equal(sx_stats_table_figure(&t, name, &i), 0);
	assert_int_equal(sx_stats_table_figure(&t, NULL, &i), SX_EINVAL);
	/* the same name is the same figure */
	assert_int_equal(sx_stats_table_figure(&t, name, &j), 0);
	assert_int_equal(i, j);
	for (size_t k = 1; k < SX_STATS_TABLE_FIGURES_MAX; k++) {
		char n[16];
		snprintf(n, sizeof n, "f%zu", k);
		assert_int_equal(sx_stats_table_figure(&t, n, &i), 0);
		assert_int_equal(i, k);
		assert_int_equal(t.v[SX_STATS_TABLE_MONTHS_MAX - 1][i], 0);
	}
	assert_int_equal(sx_stats_table_figure(&t, "one-more", &i), SX_ETOOBIG);
	assert_int_equal(sx_stats_table_figure(&t, "f1", &i), 0);   /* a known one still is */
	assert_int_equal(i, 1);
	assert_int_equal(t.nfig, SX_STATS_TABLE_FIGURES_MAX);
	/* a whole century of every figure fits the JSON bound */
	char *s = print(&t, SX_STATS_JSON, 0);
	const char *head = "{\"months\":[{\"month\":\"2026-05\",\"figures\":{\"fffff";
	assert_memory_equal(s, head, strlen(head));
	assert_string_equal(s + strlen(s) - 12, "\"f63\":0}}]}\n");
	free(s);
	assert_int_equal(sx_stats_table_print(&t, (enum sx_stats_format)42, stdout), SX_EINVAL);
	sx_stats_table_finish(&t);
	sx_stats_table_finish(&t);
	assert_null(t.month);
	assert_null(t.v);
}

/* A figure first seen in a later month (the agent's case) is 0 before it. */
static void test_late_figure(void **state)
{
	(void)state;
	struct sx_stats_table t;
	assert_int_equal(sx_stats_table_init(&t, 2), 0);
	size_t m0 = month(&t, "2026-06");
	t.v[m0][figure(&t, "a")] = 5;
	size_t m1 = month(&t, "2026-07");
	t.v[m1][figure(&t, "b")] = 6;
	t.v[m1][figure(&t, "a")] = 7;
	assert_prints(&t, SX_STATS_CSV, "month,a,b\r\n2026-06,5,0\r\n2026-07,7,6\r\n");
	sx_stats_table_finish(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_text),
		cmocka_unit_test(test_unknown_csv),
		cmocka_unit_test(test_unknown_json),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_zero_months),
		cmocka_unit_test(test_json_clamp),
		cmocka_unit_test(test_text_column_edge),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_late_figure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
