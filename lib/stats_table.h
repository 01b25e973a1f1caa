/*
 * stats_table.h: the monthly statistics as a table of months by named
 * figures, and its three printed layouts (text, CSV, JSON). sprexctl stats
 * fills it from the store, sprex-agent audit --stats from the Stats frames:
 * one printer per layout, so that the two programs print the same bytes.
 */
#ifndef SX_STATS_TABLE_H
#define SX_STATS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SX_STATS_TABLE_MONTHS_MAX 1200   /* a century of months */
#define SX_STATS_TABLE_FIGURES_MAX 64
#define SX_STATS_TABLE_NAME_MAX 48       /* a figure's name with its NUL */
#define SX_STATS_TABLE_MONTH_LEN 7       /* YYYY-MM */
#define SX_STATS_TABLE_NOTES_MAX 4
#define SX_STATS_TABLE_JSON_MAX (64u << 20)

enum sx_stats_format {
	SX_STATS_TEXT,   /* figures as rows, months as columns; "-" for unknown */
	SX_STATS_CSV,    /* a row per month, CRLF; an empty field for unknown */
	SX_STATS_JSON,   /* one object and a newline; null for unknown */
};

/*
 * Figures in the order they were added; every month has a value for each
 * (0 until set). Callers write v[month][figure] and unknown[figure] at
 * indices returned by sx_stats_table_month and sx_stats_table_figure.
 */
struct sx_stats_table {
	size_t nfig, nmonths, months_max;
	char names[SX_STATS_TABLE_FIGURES_MAX][SX_STATS_TABLE_NAME_MAX];
	/* 1: the figure was not counted; printed as unknown, never as 0 */
	unsigned char unknown[SX_STATS_TABLE_FIGURES_MAX];
	char (*month)[SX_STATS_TABLE_MONTH_LEN + 1];     /* malloc'ed, months_max */
	uint64_t (*v)[SX_STATS_TABLE_FIGURES_MAX];       /* malloc'ed, months_max */
	/* Why figures are unknown: text prints them under the table, JSON as
	 * "notes"; borrowed, they must outlive the table. */
	const char *notes[SX_STATS_TABLE_NOTES_MAX];
	size_t nnotes;
	/* JSON's leading "deliveries_known" member: -1 leaves it out, else
	 * false (0) or true (1). */
	int deliveries_known;
};

/* Prepares an empty table with room for months_max months (0 ..
 * SX_STATS_TABLE_MONTHS_MAX) on the caller's memory. Returns 0, SX_EINVAL
 * (months_max too large) or SX_ENOMEM; sx_stats_table_finish is safe after
 * either, and frees what this allocated. */
int sx_stats_table_init(struct sx_stats_table *t, size_t months_max);
/* Frees the months; the table may be init'ed again. Safe twice. */
void sx_stats_table_finish(struct sx_stats_table *t);
/* Sets *index to the figure called name, added (known, 0 in every month)
 * when new; the name is copied. Returns 0, SX_EINVAL (name NULL) or
 * SX_ETOOBIG (SX_STATS_TABLE_FIGURES_MAX figures already, or a name of
 * SX_STATS_TABLE_NAME_MAX bytes or more). */
int sx_stats_table_figure(struct sx_stats_table *t, const char *name, size_t *index);
/* Adds month ("YYYY-MM", copied) after the others, every figure 0, and sets
 * *index to it. Returns 0, SX_EINVAL (NULL or not 7 bytes) or SX_ETOOBIG
 * (months_max months already). */
int sx_stats_table_month(struct sx_stats_table *t, const char *month, size_t *index);
/* Adds a note (borrowed, not copied). Returns 0, SX_EINVAL (NULL) or
 * SX_ETOOBIG (SX_STATS_TABLE_NOTES_MAX notes already). */
int sx_stats_table_note(struct sx_stats_table *t, const char *note);
/*
 * Writes the table to out in format fmt. JSON values above INT64_MAX are
 * written as INT64_MAX (JSON integers here are signed 64-bit). Returns 0,
 * SX_EINVAL (unknown fmt), or for JSON SX_ETOOBIG (more than
 * SX_STATS_TABLE_JSON_MAX bytes) or SX_ENOMEM, in which case nothing is
 * written. Write errors are left to the stream (ferror, fflush).
 */
int sx_stats_table_print(const struct sx_stats_table *t, enum sx_stats_format fmt, FILE *out);

#endif
