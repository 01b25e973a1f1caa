/*
 * stats_table.c: the monthly statistics table and its text, CSV and JSON
 * layouts (stats_table.h).
 */
#include "stats_table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"

int sx_stats_table_init(struct sx_stats_table *t, size_t months_max)
{
	memset(t, 0, sizeof *t);
	t->deliveries_known = -1;
	if (months_max > SX_STATS_TABLE_MONTHS_MAX)
		return SX_EINVAL;
	if (months_max == 0)
		return 0;
	t->month = malloc(months_max * sizeof *t->month);
	t->v = malloc(months_max * sizeof *t->v);
	if (!t->month || !t->v) {
		sx_stats_table_finish(t);
		return SX_ENOMEM;
	}
	t->months_max = months_max;
	return 0;
}

void sx_stats_table_finish(struct sx_stats_table *t)
{
	free(t->month);
	free(t->v);
	t->month = NULL;
	t->v = NULL;
	t->nmonths = t->months_max = 0;
}

int sx_stats_table_figure(struct sx_stats_table *t, const char *name, size_t *index)
{
	if (!name)
		return SX_EINVAL;
	for (size_t i = 0; i < t->nfig; i++) {
		if (strcmp(t->names[i], name) == 0) {
			*index = i;
			return 0;
		}
	}
	size_t len = strlen(name);
	if (t->nfig == SX_STATS_TABLE_FIGURES_MAX || len >= SX_STATS_TABLE_NAME_MAX)
		return SX_ETOOBIG;
	memcpy(t->names[t->nfig], name, len + 1);
	t->unknown[t->nfig] = 0;   /* its values: each month's row is zeroed whole */
	*index = t->nfig++;
	return 0;
}

int sx_stats_table_month(struct sx_stats_table *t, const char *month, size_t *index)
{
	if (!month || strlen(month) != SX_STATS_TABLE_MONTH_LEN)
		return SX_EINVAL;
	if (t->nmonths == t->months_max)
		return SX_ETOOBIG;
	size_t k = t->nmonths++;
	memcpy(t->month[k], month, SX_STATS_TABLE_MONTH_LEN + 1);
	memset(t->v[k], 0, sizeof t->v[k]);
	*index = k;
	return 0;
}

int sx_stats_table_note(struct sx_stats_table *t, const char *note)
{
	if (!note)
		return SX_EINVAL;
	if (t->nnotes == SX_STATS_TABLE_NOTES_MAX)
		return SX_ETOOBIG;
	t->notes[t->nnotes++] = note;
	return 0;
}

static void print_text(const struct sx_stats_table *t, FILE *out)
{
	fprintf(out, "%-30s", "FIGURE");
	for (size_t m = 0; m < t->nmonths; m++)
		fprintf(out, "  %9s", t->month[m]);
	fputc('\n', out);
	for (size_t i = 0; i < t->nfig; i++) {
		fprintf(out, "%-30s", t->names[i]);
		for (size_t m = 0; m < t->nmonths; m++) {
			if (t->unknown[i])
				fprintf(out, "  %9s", "-");
			else
				fprintf(out, "  %9" PRIu64, t->v[m][i]);
		}
		fputc('\n', out);
	}
	if (t->nnotes)
		fputc('\n', out);
	for (size_t i = 0; i < t->nnotes; i++)
		fprintf(out, "- : %s\n", t->notes[i]);
}

static void print_csv(const struct sx_stats_table *t, FILE *out)
{
	fputs("month", out);
	for (size_t i = 0; i < t->nfig; i++)
		fprintf(out, ",%s", t->names[i]);
	fputs("\r\n", out);
	for (size_t m = 0; m < t->nmonths; m++) {
		fputs(t->month[m], out);
		for (size_t i = 0; i < t->nfig; i++) {
			if (t->unknown[i])
				fputc(',', out);   /* unknown, not zero */
			else
				fprintf(out, ",%" PRIu64, t->v[m][i]);
		}
		fputs("\r\n", out);
	}
}

static int print_json(const struct sx_stats_table *t, FILE *out)
{
	struct sx_buf b;
	struct sx_json j;
	sx_buf_init(&b, SX_STATS_TABLE_JSON_MAX);
	sx_json_init(&j, &b);
	sx_json_obj_begin(&j);
	if (t->deliveries_known >= 0) {
		sx_json_key(&j, "deliveries_known");
		sx_json_bool(&j, t->deliveries_known);
	}
	sx_json_key(&j, "months");
	sx_json_arr_begin(&j);
	for (size_t m = 0; m < t->nmonths; m++) {
		sx_json_obj_begin(&j);
		sx_json_key(&j, "month");
		sx_json_str(&j, t->month[m]);
		sx_json_key(&j, "figures");
		sx_json_obj_begin(&j);
		for (size_t i = 0; i < t->nfig; i++) {
			sx_json_key(&j, t->names[i]);
			uint64_t v = t->v[m][i];
			if (t->unknown[i])
				sx_json_null(&j);
			else
				sx_json_int(&j, v > INT64_MAX ? INT64_MAX : (int64_t)v);
		}
		sx_json_obj_end(&j);
		sx_json_obj_end(&j);
	}
	sx_json_arr_end(&j);
	if (t->nnotes) {
		sx_json_key(&j, "notes");
		sx_json_arr_begin(&j);
		for (size_t i = 0; i < t->nnotes; i++)
			sx_json_str(&j, t->notes[i]);
		sx_json_arr_end(&j);
	}
	sx_json_obj_end(&j);
	int rc = sx_json_finish(&j);
	if (rc == 0) {
		fwrite(sx_buf_head(&b), 1, sx_buf_used(&b), out);
		fputc('\n', out);
	}
	sx_buf_finish(&b);
	return rc;
}

int sx_stats_table_print(const struct sx_stats_table *t, enum sx_stats_format fmt, FILE *out)
{
	switch (fmt) {
	case SX_STATS_TEXT:
		print_text(t, out);
		return 0;
	case SX_STATS_CSV:
		print_csv(t, out);
		return 0;
	case SX_STATS_JSON:
		return print_json(t, out);
	}
	return SX_EINVAL;
}
