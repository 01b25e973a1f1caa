/*
 * filter.c: a subscription's filter, from the wire, to and from its canonical
 * text, and the match. Policy is not decided here (authz.c is): a filter only
 * narrows.
 */
#include "filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"    /* SX_FLAG_*, SX_CAT_* */
#include "err.h"
#include "pipeline.h"   /* SX_SRC_* */

#define SOURCES_KNOWN ((1u << SX_SRC_PUBLIC) | (1u << SX_SRC_MONITOR) | (1u << SX_SRC_CHAIN))
#define FLAGS_KNOWN ((unsigned)(SX_FLAG_OPTIN | SX_FLAG_LABELING | SX_FLAG_SPOOFING))
#define CATS_KNOWN ((unsigned)(SX_CAT_JAPANESE | SX_CAT_FOREIGN | SX_CAT_GARBLED | \
			       SX_CAT_VIRUS | SX_CAT_INSUFFICIENT))

static void seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "filter: %s", msg);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_cc(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Sorts and deduplicates the lists in place, so that equal sets are equal
 * structs and the text is canonical. */
static void normalize(struct sx_filter *f)
{
	size_t n = 0;

	qsort(f->isps, f->nisps, sizeof f->isps[0], cmp_i64);
	for (size_t i = 0; i < f->nisps; i++)
		if (n == 0 || f->isps[n - 1] != f->isps[i])
			f->isps[n++] = f->isps[i];
	for (size_t i = n; i < f->nisps; i++)
		f->isps[i] = 0;
	f->nisps = n;
	qsort(f->countries, f->ncountries, sizeof f->countries[0], cmp_cc);
	n = 0;
	for (size_t i = 0; i < f->ncountries; i++)
		if (n == 0 || strcmp(f->countries[n - 1], f->countries[i]) != 0)
			memcpy(f->countries[n++], f->countries[i], 3);
	for (size_t i = n; i < f->ncountries; i++)
		memset(f->countries[i], 0, 3);
	f->ncountries = n;
}

static int is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* Two ASCII letters, either case, into out as upper case. */
static int country_norm(char out[3], const char *s)
{
	if (s == NULL || strlen(s) != 2)
		return SX_EINVAL;
	for (int i = 0; i < 2; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!is_upper(c))
			return SX_EINVAL;
		out[i] = c;
	}
	out[2] = '\0';
	return 0;
}

/* Whether f holds only what a filter may hold (text and match rely on it). */
static int valid(const struct sx_filter *f)
{
	if ((f->sources & ~SOURCES_KNOWN) != 0 || (f->flags_any & ~FLAGS_KNOWN) != 0 ||
	    (f->categories_any & ~CATS_KNOWN) != 0)
		return 0;
	if (f->nisps > SX_FILTER_ISPS_MAX || f->ncountries > SX_FILTER_COUNTRIES_MAX)
		return 0;
	for (size_t i = 0; i < f->nisps; i++)
		if (f->isps[i] <= 0)
			return 0;
	for (size_t i = 0; i < f->ncountries; i++)
		if (!is_upper(f->countries[i][0]) || !is_upper(f->countries[i][1]) ||
		    f->countries[i][2] != '\0')
			return 0;
	return 1;
}

int sx_filter_from_wire(struct sx_filter *f, const Sprex__Filter *w,
			int64_t (*resolve)(void *ctx, const char *isp), void *ctx, char *err,
			size_t errlen)
{
	memset(f, 0, sizeof *f);
	if (w == NULL)
		return 0;
	for (size_t i = 0; i < w->n_sources; i++) {
		int s = (int)w->sources[i];
		if (s != SX_SRC_PUBLIC && s != SX_SRC_MONITOR && s != SX_SRC_CHAIN) {
			seterr(err, errlen, "unknown source");
			goto fail;
		}
		f->sources |= 1u << s;
	}
	if ((w->flags_any & ~FLAGS_KNOWN) != 0) {
		seterr(err, errlen, "unknown violation flag bit");
		goto fail;
	}
	f->flags_any = w->flags_any;
	if ((w->categories_any & ~CATS_KNOWN) != 0) {
		seterr(err, errlen, "unknown category bit");
		goto fail;
	}
	f->categories_any = w->categories_any;
	/* The limits count entries as sent, duplicates included: the peer's
	 * list is bounded before any work is done on it. */
	if (w->n_isps > SX_FILTER_ISPS_MAX) {
		seterr(err, errlen, "too many ISPs");
		goto fail;
	}
	for (size_t i = 0; i < w->n_isps; i++) {
		int64_t id = resolve != NULL && w->isps[i] != NULL ? resolve(ctx, w->isps[i]) : 0;
		if (id <= 0) {
			/* The peer's name is not quoted back: it is unchecked input. */
			seterr(err, errlen, "unknown ISP");
			goto fail;
		}
		f->isps[f->nisps++] = id;
	}
	if (w->n_countries > SX_FILTER_COUNTRIES_MAX) {
		seterr(err, errlen, "too many countries");
		goto fail;
	}
	for (size_t i = 0; i < w->n_countries; i++) {
		if (country_norm(f->countries[f->ncountries], w->countries[i]) != 0) {
			seterr(err, errlen, "country is not two letters");
			goto fail;
		}
		f->ncountries++;
	}
	normalize(f);
	{
		char text[SX_FILTER_TEXT_MAX];
		if (sx_filter_text(f, text, sizeof text) != 0) {
			seterr(err, errlen, "canonical text too long");
			goto fail;
		}
	}
	return 0;
fail:
	memset(f, 0, sizeof *f);
	return SX_EINVAL;
}

/* Appends to out at *pos; SX_ETOOBIG when it does not fit with its NUL. */
static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= outlen)
		return SX_ETOOBIG;
	va_start(ap, fmt);
	n = vsnprintf(out + *pos, outlen - *pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen - *pos)
		return SX_ETOOBIG;
	*pos += (size_t)n;
	return 0;
}

/* Starts a part: its separator, then key=. */
static int part(char *out, size_t outlen, size_t *pos, const char *key)
{
	return put(out, outlen, pos, "%s%s=", *pos > 0 ? ";" : "", key);
}

int sx_filter_text(const struct sx_filter *f, char *out, size_t outlen)
{
	struct sx_filter c;
	size_t pos = 0;
	int rc = 0;

	if (out == NULL || outlen == 0)
		return SX_ETOOBIG;
	out[0] = '\0';
	if (f == NULL || !valid(f))
		return SX_EINVAL;
	c = *f;
	normalize(&c);
	if (c.sources != 0) {
		const char *sep = "";
		rc = part(out, outlen, &pos, "sources");
		for (int s = 0; rc == 0 && s < 32; s++)
			if (c.sources & (1u << s)) {
				rc = put(out, outlen, &pos, "%s%d", sep, s);
				sep = ",";
			}
	}
	if (rc == 0 && c.flags_any != 0) {
		rc = part(out, outlen, &pos, "flags");
		if (rc == 0)
			rc = put(out, outlen, &pos, "%u", c.flags_any);
	}
	if (rc == 0 && c.categories_any != 0) {
		rc = part(out, outlen, &pos, "categories");
		if (rc == 0)
			rc = put(out, outlen, &pos, "%u", c.categories_any);
	}
	if (rc == 0 && c.nisps > 0) {
		rc = part(out, outlen, &pos, "isps");
		for (size_t i = 0; rc == 0 && i < c.nisps; i++)
			rc = put(out, outlen, &pos, "%s%lld", i ? "," : "", (long long)c.isps[i]);
	}
	if (rc == 0 && c.ncountries > 0) {
		rc = part(out, outlen, &pos, "countries");
		for (size_t i = 0; rc == 0 && i < c.ncountries; i++)
			rc = put(out, outlen, &pos, "%s%s", i ? "," : "", c.countries[i]);
	}
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

/* A positive decimal number without sign or leading zero, at most max,
 * spanning exactly [s, e). */
static int number(const char *s, const char *e, unsigned long long max, unsigned long long *v)
{
	unsigned long long x = 0;

	if (s == e || *s == '0')
		return SX_EINVAL;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return SX_EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (x > (max - d) / 10)
			return SX_EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static const char *const keys[] = { "sources", "flags", "categories", "isps", "countries" };

/* One key=value part spanning [s, e); *next_key enforces the canonical order
 * and that each key appears at most once. */
static int parse_part(struct sx_filter *f, const char *s, const char *e, size_t *next_key)
{
	const char *eq = memchr(s, '=', (size_t)(e - s));
	size_t k;
	unsigned long long v;

	if (eq == NULL || eq + 1 == e)
		return SX_EINVAL;
	for (k = *next_key; k < sizeof keys / sizeof keys[0]; k++)
		if (strlen(keys[k]) == (size_t)(eq - s) && memcmp(keys[k], s, (size_t)(eq - s)) == 0)
			break;
	if (k == sizeof keys / sizeof keys[0])
		return SX_EINVAL;
	*next_key = k + 1;
	s = eq + 1;
	if (k == 1 || k == 2) {
		if (number(s, e, 0xffffffffULL, &v) != 0)
			return SX_EINVAL;
		if (k == 1)
			f->flags_any = (unsigned)v;
		else
			f->categories_any = (unsigned)v;
		return 0;
	}
	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		const char *ie = c != NULL ? c : e;
		if (k == 0) {
			if (number(s, ie, 31, &v) != 0)
				return SX_EINVAL;
			f->sources |= 1u << v;
		} else if (k == 3) {
			if (f->nisps == SX_FILTER_ISPS_MAX || number(s, ie, INT64_MAX, &v) != 0)
				return SX_EINVAL;
			f->isps[f->nisps++] = (int64_t)v;
		} else {
			if (f->ncountries == SX_FILTER_COUNTRIES_MAX || ie - s != 2 ||
			    !is_upper(s[0]) || !is_upper(s[1]))
				return SX_EINVAL;
			memcpy(f->countries[f->ncountries], s, 2);
			f->countries[f->ncountries++][2] = '\0';
		}
		if (c != NULL && c + 1 == e)
			return SX_EINVAL; /* trailing comma */
		s = c != NULL ? c + 1 : e;
	}
	return 0;
}

int sx_filter_parse(struct sx_filter *f, const char *text)
{
	char again[SX_FILTER_TEXT_MAX];
	size_t next_key = 0;
	const char *s;

	memset(f, 0, sizeof *f);
	if (text == NULL || strlen(text) >= SX_FILTER_TEXT_MAX)
		return SX_EINVAL;
	for (s = text; *s != '\0';) {
		const char *e = strchr(s, ';');
		if (e == NULL)
			e = s + strlen(s);
		if (parse_part(f, s, e, &next_key) != 0)
			goto fail;
		if (*e == ';' && e[1] == '\0')
			goto fail; /* trailing separator */
		s = *e == ';' ? e + 1 : e;
	}
	/* Strict: only the canonical spelling of a valid filter is accepted
	 * (sorted, no duplicates, known bits), so stored text compares as a
	 * string. */
	if (sx_filter_text(f, again, sizeof again) != 0 || strcmp(again, text) != 0)
		goto fail;
	return 0;
fail:
	memset(f, 0, sizeof *f);
	return SX_EINVAL;
}

int sx_filter_match(const struct sx_filter *f, const struct sx_filter_report *r)
{
	if (f == NULL)
		return 1;
	if (r == NULL)
		return 0;
	if (f->sources != 0 &&
	    (r->source < 0 || r->source > 31 || (f->sources & (1u << r->source)) == 0))
		return 0;
	if (f->flags_any != 0 && (r->flags & f->flags_any) == 0)
		return 0;
	if (f->categories_any != 0 && (r->categories & f->categories_any) == 0)
		return 0;
	if (f->nisps > 0) {
		size_t i;
		size_t n = f->nisps < SX_FILTER_ISPS_MAX ? f->nisps : SX_FILTER_ISPS_MAX;
		if (r->isp == 0)
			return 0;
		for (i = 0; i < n && f->isps[i] != r->isp; i++)
			;
		if (i == n)
			return 0;
	}
	if (f->ncountries > 0) {
		size_t i;
		size_t n = f->ncountries < SX_FILTER_COUNTRIES_MAX ? f->ncountries
								  : SX_FILTER_COUNTRIES_MAX;
		char cc[3];
		if (r->country == NULL || country_norm(cc, r->country) != 0)
			return 0; /* unknown country: not inside any country filter */
		for (i = 0; i < n && strcmp(f->countries[i], cc) != 0; i++)
			;
		if (i == n)
			return 0;
	}
	return 1;
}
