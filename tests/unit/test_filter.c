/*
 * test_filter.c: subscription filters: from the wire, canonical text, strict
 * parsing, limits at their edges, matching, and that a filter only narrows
 * what the policy allows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "mail/analyze.h"
#include "mail/pipeline.h"
#include "server/authz.h"
#include "server/filter.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T_ERR_MAX 128

/* ------------------------------------------------------------ helpers */

static const struct {
	const char *name;
	int64_t id;
} isp_names[] = {
	{ "isp-a", 5 }, { "isp-b", 9 }, { "isp-c", 12 }, { "isp-big", 9999999999LL },
};

static int64_t resolve(void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; i < N(isp_names); i++)
		if (strcmp(isp_names[i].name, name) == 0)
			return isp_names[i].id;
	return 0;
}

/* Resolves "isp<N>" to N + 1000 * (int64_t)ctx (for the limit tests). */
static int64_t resolve_numbered(void *ctx, const char *name)
{
	long n;

	if (sscanf(name, "isp%ld", &n) != 1)
		return 0;
	return (int64_t)n + *(const int64_t *)ctx;
}

static int from_wire(struct sx_filter *f, const Sprex__Source *src, size_t nsrc,
		     unsigned flags, unsigned cats, const char *const *isps, size_t nisps,
		     const char *const *cc, size_t ncc, char *err)
{
	Sprex__Filter w = SPREX__FILTER__INIT;

	w.n_sources = nsrc;
	w.sources = (Sprex__Source *)src;
	w.flags_any = flags;
	w.categories_any = cats;
	w.n_isps = nisps;
	w.isps = (char **)isps;
	w.n_countries = ncc;
	w.countries = (char **)cc;
	err[0] = '\0';
	return sx_filter_from_wire(f, &w, resolve, NULL, err, T_ERR_MAX);
}

static void text_of(const struct sx_filter *f, char *out)
{
	assert_int_equal(sx_filter_text(f, out, SX_FILTER_TEXT_MAX), 0);
}

/* ------------------------------------------------------------ canonical text */

static void test_text_example(void **state)
{
	static const Sprex__Source src[] = { SPREX__SOURCE__SOURCE_MONITOR,
					     SPREX__SOURCE__SOURCE_PUBLIC };
	static const char *const isps[] = { "isp-b", "isp-a" };
	static const char *const cc[] = { "us", "JP" };
	struct sx_filter f;
	char err[T_ERR_MAX], text[SX_FILTER_TEXT_MAX];

	(void)state;
	assert_int_equal(from_wire(&f, src, 2, 3, 4, isps, 2, cc, 2, err), 0);
	text_of(&f, text);
	assert_string_equal(text, "sources=1,2;flags=3;categories=4;isps=5,9;countries=JP,US");
}

static void test_text_empty_parts_omitted(void **state)
{
	static const char *const cc[] = { "jp" };
	struct sx_filter f;
	char err[T_ERR_MAX], text[SX_FILTER_TEXT_MAX];

	(void)state;
	assert_int_equal(sx_filter_from_wire(&f, NULL, resolve, NULL, err, sizeof err), 0);
	text_of(&f, text);
	assert_string_equal(text, "");
	assert_int_equal(from_wire(&f, NULL, 0, 0, 0, NULL, 0, NULL, 0, err), 0);
	text_of(&f, text);
	assert_string_equal(text, "");
	assert_int_equal(from_wire(&f, NULL, 0, SX_FLAG_SPOOFING, 0, NULL, 0, cc, 1, err), 0);
	text_of(&f, text);
	assert_string_equal(text, "flags=4;countries=JP");
	assert_int_equal(from_wire(&f, NULL, 0, 0, SX_CAT_VIRUS, NULL, 0, NULL, 0, err), 0);
	text_of(&f, text);
	assert_string_equal(text, "categories=8");
}

static void test_text_order_and_duplicate_independent(void **state)
{
	static const Sprex__Source s1[] = { 3, 1, 1, 3 }, s2[] = { 1, 3 };
	static const char *const i1[] = { "isp-c", "isp-a", "isp-c", "isp-b", "isp-a" };
	static const char *const i2[] = { "isp-a", "isp-b", "isp-c" };
	static const char *const c1[] = { "us", "JP", "Us", "de", "jp" };
	static const char *const c2[] = { "DE", "JP", "US" };
	struct sx_filter f1, f2;
	char err[T_ERR_MAX], t1[SX_FILTER_TEXT_MAX], t2[SX_FILTER_TEXT_MAX];

	(void)state;
	assert_int_equal(from_wire(&f1, s1, N(s1), 5, 17, i1, N(i1), c1, N(c1), err), 0);
	assert_int_equal(from_wire(&f2, s2, N(s2), 5, 17, i2, N(i2), c2, N(c2), err), 0);
	text_of(&f1, t1);
	text_of(&f2, t2);
	assert_string_equal(t1, t2);
	assert_string_equal(t1, "sources=1,3;flags=5;categories=17;isps=5,9,12;countries=DE,JP,US");
	assert_memory_equal(&f1, &f2, sizeof f1);

	/* sx_filter_text sorts a hand-built filter too */
	memset(&f1, 0, sizeof f1);
	f1.nisps = 3;
	f1.isps[0] = 12, f1.isps[1] = 5, f1.isps[2] = 12;
	f1.ncountries = 2;
	memcpy(f1.countries[0], "US", 3);
	memcpy(f1.countries[1], "JP", 3);
	text_of(&f1, t1);
	assert_string_equal(t1, "isps=5,12;countries=JP,US");
}

static void test_text_errors(void **state)
{
	struct sx_filter f;
	char out[8];
	char big[SX_FILTER_TEXT_MAX];

	(void)state;
	memset(&f, 0, sizeof f);
	f.sources = 1u << SX_SRC_PUBLIC;
	f.flags_any = SX_FLAG_OPTIN;
	/* "sources=1;flags=1" does not fit in 8 */
	assert_int_equal(sx_filter_text(&f, out, sizeof out), SX_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(sx_filter_text(&f, out, 0), SX_ETOOBIG);
	/* exactly fitting: 17 characters and the NUL */
	char exact[18];
	assert_int_equal(sx_filter_text(&f, exact, sizeof exact), 0);
	assert_string_equal(exact, "sources=1;flags=1");
	assert_int_equal(sx_filter_text(&f, exact, sizeof exact - 1), SX_ETOOBIG);

	/* what no filter may hold */
	struct sx_filter bad = f;
	bad.flags_any = 8;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.categories_any = 32;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.sources = 1u << 0;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.nisps = SX_FILTER_ISPS_MAX + 1;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.nisps = 1;
	bad.isps[0] = 0;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.ncountries = 1;
	memcpy(bad.countries[0], "jp", 3);
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
	bad = f;
	bad.ncountries = SX_FILTER_COUNTRIES_MAX + 1;
	assert_int_equal(sx_filter_text(&bad, big, sizeof big), SX_EINVAL);
}

/* ------------------------------------------------------------ parse */

static void test_parse_accepts_canonical(void **state)
{
	static const char *const good[] = {
		"",
		"sources=1",
		"sources=1,2,3",
		"flags=7",
		"categories=31",
		"isps=1",
		"isps=5,9,9223372036854775807",
		"countries=JP",
		"sources=2;flags=1;categories=2;isps=3;countries=AA,ZZ",
		"sources=1,2;flags=3;categories=4;isps=5,9;countries=JP,US",
	};
	struct sx_filter f;
	char text[SX_FILTER_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < N(good); i++) {
		if (sx_filter_parse(&f, good[i]) != 0)
			fail_msg("rejected \"%s\"", good[i]);
		text_of(&f, text);
		assert_string_equal(text, good[i]);
	}
}

static void test_parse_rejects_junk(void **state)
{
	static const char *const bad[] = {
		"x", ";", "=", "=1", "flags", "flags=", "flags=3=3", "unknown=1",
		"sources=", "sources=0", "sources=4", "sources=31", "sources=32", "sources=2,1",
		"sources=1,1", "sources=01", "sources=1,", "sources=,1", "sources=1,,2",
		" sources=1", "sources=1 ", "sources=1;", ";sources=1", "sources=1;;flags=1",
		"SOURCES=1", "flags=0", "flags=8", "flags=+3", "flags=-1", "flags=0x3",
		"flags=4294967296", "flags=99999999999999999999", "categories=0",
		"categories=32", "isps=0", "isps=-1", "isps=9,5", "isps=5,5", "isps=05",
		"isps=9223372036854775808", "isps=18446744073709551616", "countries=us",
		"countries=US,JP", "countries=US,US", "countries=USA", "countries=U",
		"countries=U1", "countries=", "flags=3;sources=1", "sources=1;sources=2",
		"countries=JP;isps=5", "flags=1;flags=1", "sources=1\n", "sources=1\tflags=1",
		"sources=1,flags=1", "isps=5;countries=JP;",
	};
	struct sx_filter f;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		memset(&f, 0xa5, sizeof f);
		if (sx_filter_parse(&f, bad[i]) != SX_EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* rejected: f is the empty filter, never half-parsed */
		struct sx_filter zero;
		memset(&zero, 0, sizeof zero);
		assert_memory_equal(&f, &zero, sizeof f);
	}
	assert_int_equal(sx_filter_parse(&f, NULL), SX_EINVAL);

	/* over-long text, even if it were well formed */
	char longtext[SX_FILTER_TEXT_MAX + 16];
	memset(longtext, 0, sizeof longtext);
	strcpy(longtext, "isps=");
	for (size_t n = strlen(longtext); n + 2 < sizeof longtext - 1; n = strlen(longtext))
		strcat(longtext, "1,");
	assert_int_equal(sx_filter_parse(&f, longtext), SX_EINVAL);
}

/* n ISP ids (1..n) or n country codes (AA, AB, ...) as canonical text. */
static void list_text(char *out, size_t outlen, const char *key, size_t n)
{
	size_t pos = (size_t)snprintf(out, outlen, "%s=", key);

	for (size_t i = 0; i < n; i++) {
		if (key[0] == 'i')
			pos += (size_t)snprintf(out + pos, outlen - pos, "%s%zu", i ? "," : "",
						i + 1);
		else
			pos += (size_t)snprintf(out + pos, outlen - pos, "%s%c%c", i ? "," : "",
						(char)('A' + i / 26), (char)('A' + i % 26));
		assert_true(pos < outlen);
	}
}

static void test_parse_limits_at_edge(void **state)
{
	struct sx_filter f;
	char text[SX_FILTER_TEXT_MAX], again[SX_FILTER_TEXT_MAX];

	(void)state;
	list_text(text, sizeof text, "isps", SX_FILTER_ISPS_MAX);
	assert_int_equal(sx_filter_parse(&f, text), 0);
	assert_int_equal(f.nisps, SX_FILTER_ISPS_MAX);
	text_of(&f, again);
	assert_string_equal(again, text);
	list_text(text, sizeof text, "isps", SX_FILTER_ISPS_MAX + 1);
	assert_int_equal(sx_filter_parse(&f, text), SX_EINVAL);

	list_text(text, sizeof text, "countries", SX_FILTER_COUNTRIES_MAX);
	assert_int_equal(sx_filter_parse(&f, text), 0);
	assert_int_equal(f.ncountries, SX_FILTER_COUNTRIES_MAX);
	text_of(&f, again);
	assert_string_equal(again, text);
	list_text(text, sizeof text, "countries", SX_FILTER_COUNTRIES_MAX + 1);
	assert_int_equal(sx_filter_parse(&f, text), SX_EINVAL);
}

/* ------------------------------------------------------------ from the wire */

static void test_from_wire_rejects(void **state)
{
	static const Sprex__Source s0[] = { 0 }, s4[] = { 4 }, s1[] = { 1 };
	static const char *const unknown_isp[] = { "isp-a", "nobody" };
	static const char *const empty_isp[] = { "" };
	static const char *const bad_cc[][1] = { { "U" }, { "USA" }, { "U1" }, { "" },
						 { "\xc3\xbc" }, { "J " } };
	struct sx_filter f, zero;
	char err[T_ERR_MAX];

	(void)state;
	memset(&zero, 0, sizeof zero);
	assert_int_equal(from_wire(&f, s0, 1, 0, 0, NULL, 0, NULL, 0, err), SX_EINVAL);
	assert_non_null(strstr(err, "source"));
	assert_memory_equal(&f, &zero, sizeof f);
	assert_int_equal(from_wire(&f, s4, 1, 0, 0, NULL, 0, NULL, 0, err), SX_EINVAL);
	for (unsigned bit = 3; bit < 32; bit++) {
		assert_int_equal(from_wire(&f, s1, 1, 1u << bit, 0, NULL, 0, NULL, 0, err),
				 SX_EINVAL);
		assert_non_null(strstr(err, "flag"));
	}
	for (unsigned bit = 5; bit < 32; bit++) {
		assert_int_equal(from_wire(&f, s1, 1, 0, 1u << bit, NULL, 0, NULL, 0, err),
				 SX_EINVAL);
		assert_non_null(strstr(err, "category"));
	}
	assert_int_equal(from_wire(&f, NULL, 0, 0, 0, unknown_isp, 2, NULL, 0, err), SX_EINVAL);
	assert_non_null(strstr(err, "ISP"));
	assert_null(strstr(err, "nobody")); /* the peer's text is not echoed */
	assert_memory_equal(&f, &zero, sizeof f);
	assert_int_equal(from_wire(&f, NULL, 0, 0, 0, empty_isp, 1, NULL, 0, err), SX_EINVAL);
	for (size_t i = 0; i < N(bad_cc); i++) {
		assert_int_equal(from_wire(&f, NULL, 0, 0, 0, NULL, 0, bad_cc[i], 1, err),
				 SX_EINVAL);
		assert_non_null(strstr(err, "country"));
	}

	/* no resolver: no ISP name can be known */
	Sprex__Filter w = SPREX__FILTER__INIT;
	w.n_isps = 1;
	w.isps = (char **)unknown_isp;
	assert_int_equal(sx_filter_from_wire(&f, &w, NULL, NULL, err, sizeof err), SX_EINVAL);
	/* err may be NULL */
	assert_int_equal(sx_filter_from_wire(&f, &w, NULL, NULL, NULL, 0), SX_EINVAL);
}

static void test_from_wire_limits_at_edge(void **state)
{
	char names[SX_FILTER_ISPS_MAX + 1][16];
	char *isps[SX_FILTER_ISPS_MAX + 1];
	char codes[SX_FILTER_COUNTRIES_MAX + 1][3];
	char *cc[SX_FILTER_COUNTRIES_MAX + 1];
	Sprex__Filter w = SPREX__FILTER__INIT;
	struct sx_filter f;
	char err[T_ERR_MAX], text[SX_FILTER_TEXT_MAX];
	int64_t base = 0;

	(void)state;
	for (size_t i = 0; i <= SX_FILTER_ISPS_MAX; i++) {
		snprintf(names[i], sizeof names[i], "isp%zu", i + 1);
		isps[i] = names[i];
	}
	for (size_t i = 0; i <= SX_FILTER_COUNTRIES_MAX; i++) {
		codes[i][0] = (char)('a' + i / 26);
		codes[i][1] = (char)('a' + i % 26);
		codes[i][2] = '\0';
		cc[i] = codes[i];
	}
	w.isps = isps;
	w.countries = cc;
	w.n_isps = SX_FILTER_ISPS_MAX;
	w.n_countries = SX_FILTER_COUNTRIES_MAX;
	assert_int_equal(sx_filter_from_wire(&f, &w, resolve_numbered, &base, err, sizeof err),
			 0);
	assert_int_equal(f.nisps, SX_FILTER_ISPS_MAX);
	assert_int_equal(f.ncountries, SX_FILTER_COUNTRIES_MAX);
	text_of(&f, text);
	w.n_isps = SX_FILTER_ISPS_MAX + 1;
	assert_int_equal(sx_filter_from_wire(&f, &w, resolve_numbered, &base, err, sizeof err),
			 SX_EINVAL);
	assert_non_null(strstr(err, "too many ISPs"));
	w.n_isps = SX_FILTER_ISPS_MAX;
	w.n_countries = SX_FILTER_COUNTRIES_MAX + 1;
	assert_int_equal(sx_filter_from_wire(&f, &w, resolve_numbered, &base, err, sizeof err),
			 SX_EINVAL);
	assert_non_null(strstr(err, "too many countries"));

	/* Full lists of ten-digit member ids still fit the stored text; ids
	 * so large that the text would not fit are refused up front. */
	w.n_countries = SX_FILTER_COUNTRIES_MAX;
	base = 9999999900LL;
	assert_int_equal(sx_filter_from_wire(&f, &w, resolve_numbered, &base, err, sizeof err),
			 0);
	text_of(&f, text);
	struct sx_filter back;
	assert_int_equal(sx_filter_parse(&back, text), 0);
	assert_memory_equal(&back, &f, sizeof f);
	base = 1000000000000000000LL;
	assert_int_equal(sx_filter_from_wire(&f, &w, resolve_numbered, &base, err, sizeof err),
			 SX_EINVAL);
	assert_non_null(strstr(err, "too long"));
}

/* ------------------------------------------------------------ match */

static int match(const struct sx_filter *f, int source, unsigned flags, unsigned cats,
		 int64_t isp, const char *country)
{
	struct sx_filter_report r = { source, flags, cats, isp, country };
	return sx_filter_match(f, &r);
}

static void test_match(void **state)
{
	struct sx_filter f;

	(void)state;
	assert_int_equal(sx_filter_parse(&f, ""), 0);
	assert_true(match(&f, SX_SRC_CHAIN, 0, 0, 0, NULL));
	assert_true(match(NULL, SX_SRC_CHAIN, 0, 0, 0, NULL));
	assert_false(sx_filter_match(&f, NULL));

	assert_int_equal(sx_filter_parse(&f, "sources=1,2"), 0);
	assert_true(match(&f, SX_SRC_PUBLIC, 0, 0, 0, NULL));
	assert_true(match(&f, SX_SRC_MONITOR, 0, 0, 0, NULL));
	assert_false(match(&f, SX_SRC_CHAIN, 0, 0, 0, NULL));
	assert_false(match(&f, 0, 0, 0, 0, NULL));
	assert_false(match(&f, -1, 0, 0, 0, NULL));
	assert_false(match(&f, 99, 0, 0, 0, NULL));

	assert_int_equal(sx_filter_parse(&f, "flags=6"), 0);
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, NULL));
	assert_false(match(&f, SX_SRC_MONITOR, SX_FLAG_OPTIN, 0, 0, NULL));
	assert_true(match(&f, SX_SRC_MONITOR, SX_FLAG_LABELING, 0, 0, NULL));
	assert_true(match(&f, SX_SRC_MONITOR, SX_FLAG_OPTIN | SX_FLAG_SPOOFING, 0, 0, NULL));

	assert_int_equal(sx_filter_parse(&f, "categories=8"), 0);
	assert_false(match(&f, SX_SRC_MONITOR, 7, SX_CAT_JAPANESE, 0, NULL));
	assert_true(match(&f, SX_SRC_MONITOR, 0, SX_CAT_VIRUS | SX_CAT_FOREIGN, 0, NULL));

	assert_int_equal(sx_filter_parse(&f, "isps=5,9"), 0);
	assert_true(match(&f, SX_SRC_MONITOR, 0, 0, 9, NULL));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 12, NULL));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, NULL)); /* no ISP */

	assert_int_equal(sx_filter_parse(&f, "countries=JP,US"), 0);
	assert_true(match(&f, SX_SRC_MONITOR, 0, 0, 0, "JP"));
	assert_true(match(&f, SX_SRC_MONITOR, 0, 0, 0, "us"));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, "DE"));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, NULL)); /* unknown country */
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, ""));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, "JPN"));
	assert_false(match(&f, SX_SRC_MONITOR, 0, 0, 0, "J"));

	/* every part must hold */
	assert_int_equal(sx_filter_parse(&f, "sources=2;flags=1;isps=5;countries=JP"), 0);
	assert_true(match(&f, SX_SRC_MONITOR, SX_FLAG_OPTIN, 0, 5, "JP"));
	assert_false(match(&f, SX_SRC_PUBLIC, SX_FLAG_OPTIN, 0, 5, "JP"));
	assert_false(match(&f, SX_SRC_MONITOR, SX_FLAG_LABELING, 0, 5, "JP"));
	assert_false(match(&f, SX_SRC_MONITOR, SX_FLAG_OPTIN, 0, 9, "JP"));
	assert_false(match(&f, SX_SRC_MONITOR, SX_FLAG_OPTIN, 0, 5, "US"));
}

/* ------------------------------------------------------------ properties */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static const char *const countries[] = { "JP", "US", "DE", "CN", "KR", NULL, "" };
static const int64_t report_isps[] = { 0, 5, 9, 12 };

/* A random valid filter, each part present about half the time. */
static void random_filter(struct sx_filter *f)
{
	memset(f, 0, sizeof *f);
	if (rnd(2))
		f->sources = (rnd(7) + 1) << 1;
	if (rnd(2))
		f->flags_any = rnd(7) + 1;
	if (rnd(2))
		f->categories_any = rnd(31) + 1;
	if (rnd(2)) {
		f->nisps = rnd(4) + 1;
		for (size_t i = 0; i < f->nisps; i++)
			f->isps[i] = report_isps[rnd(3) + 1];
	}
	if (rnd(2)) {
		f->ncountries = rnd(4) + 1;
		for (size_t i = 0; i < f->ncountries; i++)
			memcpy(f->countries[i], countries[rnd(5)], 3);
	}
}

struct rreport {
	struct sx_authz_report a;
	struct sx_filter_report m;
};

static void random_report(struct rreport *r)
{
	memset(r, 0, sizeof *r);
	r->a.source = (int)rnd(5);        /* 0 and 4 unknown */
	r->a.consent = rnd(8);
	r->a.state = (enum sx_report_state)rnd(2);
	r->a.flags = rnd(8);
	r->a.isp = report_isps[rnd(N(report_isps))];
	r->m.source = r->a.source;
	r->m.flags = r->a.flags;
	r->m.categories = rnd(32);
	r->m.isp = r->a.isp;
	r->m.country = countries[rnd(N(countries))];
}

/*
 * A subscription is sent a report when may_receive AND match: the filter can
 * only remove reports the policy allows, never add any. Checked as sets: for
 * each random filter, the delivered set over a sample of reports is a subset
 * of the policy's set; the empty filter gives exactly the policy's set; the
 * filter read back from its canonical text decides every report the same;
 * and adding a part to a filter never lets more through.
 */
static void test_filter_only_narrows(void **state)
{
	enum { FILTERS = 2000, REPORTS = 400 };
	static struct rreport reports[REPORTS];
	static const struct {
		enum sx_role role;
		enum sx_feed feed;
	} subs[] = {
		{ SX_ROLE_VENDOR, SX_FEED_ASSOCIATION }, { SX_ROLE_VENDOR, SX_FEED_CHAIN },
		{ SX_ROLE_ISP, SX_FEED_NOTICES }, { SX_ROLE_ENFORCEMENT, SX_FEED_ENFORCEMENT },
		{ SX_ROLE_AUDITOR, SX_FEED_ASSOCIATION }, { SX_ROLE_VENDOR, SX_FEED_NOTICES },
	};
	struct sx_filter none;
	size_t checked = 0, delivered = 0, narrowed = 0;

	(void)state;
	memset(&none, 0, sizeof none);
	for (size_t i = 0; i < REPORTS; i++)
		random_report(&reports[i]);
	for (size_t k = 0; k < FILTERS; k++) {
		struct sx_filter f, back, more;
		struct sx_member m;
		char text[SX_FILTER_TEXT_MAX];

		random_filter(&f);
		text_of(&f, text);
		assert_int_equal(sx_filter_parse(&back, text), 0);
		/* more: f with one more part, or one list entry fewer */
		more = f;
		if (more.flags_any == 0)
			more.flags_any = rnd(7) + 1;
		else if (more.ncountries == 0)
			memcpy(more.countries[more.ncountries++], "JP", 3);
		else if (more.categories_any == 0)
			more.categories_any = rnd(31) + 1;
		else if (more.nisps == 0)
			more.isps[more.nisps++] = 9;
		else if (more.ncountries > 1)
			more.ncountries--;
		memset(&m, 0, sizeof m);
		m.id = report_isps[rnd(3) + 1];
		m.role = subs[k % N(subs)].role;
		m.state = (enum sx_member_state)rnd(3);
		enum sx_feed feed = subs[k % N(subs)].feed;

		for (size_t i = 0; i < REPORTS; i++) {
			const struct rreport *r = &reports[i];
			int allowed = sx_authz_may_receive(&m, feed, &r->a);
			int hit = sx_filter_match(&f, &r->m);
			int sent = allowed && hit;
			assert_true(!sent || allowed);
			assert_int_equal(allowed && sx_filter_match(&none, &r->m), allowed);
			assert_int_equal(sx_filter_match(&back, &r->m) != 0, hit != 0);
			if (sx_filter_match(&more, &r->m))
				assert_true(hit);
			checked++;
			delivered += (size_t)(sent != 0);
			narrowed += (size_t)(allowed && !hit);
		}
	}
	/* the sample exercises both outcomes */
	assert_true(delivered > 0);
	assert_true(narrowed > 0);
	print_message("filter property: %zu (filter, report) pairs, %zu sent, %zu narrowed away\n",
		      checked, delivered, narrowed);
}

/* Round trip: random filters (lists with duplicates, any order) through
 * text and parse back to the same normalized filter and the same text. */
static void test_round_trip(void **state)
{
	(void)state;
	for (int k = 0; k < 5000; k++) {
		struct sx_filter f, back, again;
		char t1[SX_FILTER_TEXT_MAX], t2[SX_FILTER_TEXT_MAX];

		random_filter(&f);
		text_of(&f, t1);
		assert_int_equal(sx_filter_parse(&back, t1), 0);
		text_of(&back, t2);
		assert_string_equal(t1, t2);
		assert_int_equal(sx_filter_parse(&again, t2), 0);
		assert_memory_equal(&back, &again, sizeof back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_example),
		cmocka_unit_test(test_text_empty_parts_omitted),
		cmocka_unit_test(test_text_order_and_duplicate_independent),
		cmocka_unit_test(test_text_errors),
		cmocka_unit_test(test_parse_accepts_canonical),
		cmocka_unit_test(test_parse_rejects_junk),
		cmocka_unit_test(test_parse_limits_at_edge),
		cmocka_unit_test(test_from_wire_rejects),
		cmocka_unit_test(test_from_wire_limits_at_edge),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_filter_only_narrows),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
