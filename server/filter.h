/*
 * filter.h: a subscription's filter. It can only narrow what the policy
 * (authz.h) allows: a report is sent when sx_authz_may_receive AND
 * sx_filter_match both say yes. Stored and compared as canonical text, so
 * that re-attaching with the same filter in another order or spelling is the
 * same subscription, and a different one needs an explicit reset.
 */
#ifndef SX_FILTER_H
#define SX_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "store.h"

#define SX_FILTER_ISPS_MAX 32
#define SX_FILTER_COUNTRIES_MAX 32

struct sx_filter {
	unsigned sources;             /* bit (1 << source) per allowed source; 0 = any */
	unsigned flags_any;           /* report needs one of these flags; 0 = any */
	unsigned categories_any;      /* report needs one of these categories; 0 = any */
	size_t nisps;
	int64_t isps[SX_FILTER_ISPS_MAX];      /* source ISP member ids; none = any */
	size_t ncountries;
	char countries[SX_FILTER_COUNTRIES_MAX][3]; /* ISO 3166 alpha-2, upper case */
};

/* What a filter looks at (metadata only). */
struct sx_filter_report {
	int source;
	unsigned flags;
	unsigned categories;
	int64_t isp;                  /* 0 when none */
	const char *country;          /* "" or NULL when unknown */
};

/*
 * Builds f from the wire's Filter (NULL: no narrowing). isp names are
 * resolved with resolve (returns the member id of an ISP member, or 0 when
 * there is none of that name). Returns 0, or SX_EINVAL with what is wrong in
 * err (unknown source, flag or category bit, unknown ISP, bad country code,
 * too many entries, canonical text longer than SX_FILTER_TEXT_MAX from
 * store.h), so a filter accepted here can always be stored; f is then
 * the empty filter.
 */
int sx_filter_from_wire(struct sx_filter *f, const Sprex__Filter *w,
			int64_t (*resolve)(void *ctx, const char *isp), void *ctx, char *err,
			size_t errlen);
/* Writes the canonical text of f (sorted, deduplicated, "" for no
 * narrowing) into out, NUL-terminated; SX_FILTER_TEXT_MAX bytes suffice for
 * any filter sx_filter_from_wire or sx_filter_parse made. Returns 0,
 * SX_ETOOBIG, or SX_EINVAL when f holds what no filter may (unknown bits, a
 * list over its limit, an id <= 0, a bad country); on error out is "" when
 * outlen > 0. */
int sx_filter_text(const struct sx_filter *f, char *out, size_t outlen);
/* Parses canonical text back into f. Strict: only the exact text
 * sx_filter_text writes is accepted. Returns 0 or SX_EINVAL (f zeroed). */
int sx_filter_parse(struct sx_filter *f, const char *text);
/* Non-zero when r passes f (NULL f: no narrowing). A report with no ISP or
 * no known country fails an ISP or country filter. */
int sx_filter_match(const struct sx_filter *f, const struct sx_filter_report *r);

#endif
