/*
 * csv.h: one RFC 4180 field at a time, for the CSV exports (sprexctl audit
 * export, sprex-agent audit).
 */
#ifndef SX_CSV_H
#define SX_CSV_H

#include <stdio.h>

/* Writes s to f as one field, quoted (with doubled quotes) when it holds a
 * comma, a quote, CR or LF; then a comma, or a newline when last is set. */
void sx_csv_field(FILE *f, const char *s, int last);

#endif
