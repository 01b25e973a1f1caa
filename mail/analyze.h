/*
 * analyze.h: violation flags and categories for people to judge, never
 * verdicts. Flags follow the Act on Regulation of Transmission of Specified
 * Electronic Mail (特定電子メール法); each carries the evidence that raised it.
 */
#ifndef SX_ANALYZE_H
#define SX_ANALYZE_H

#include <stddef.h>

#include "mime.h"
#include "received.h"

enum sx_flag {
	SX_FLAG_OPTIN = 1 << 0,     /* advertising mail to a monitor address (Art. 3) */
	SX_FLAG_LABELING = 1 << 1,  /* required indications missing (Art. 4) */
	SX_FLAG_SPOOFING = 1 << 2,  /* sender information falsified (Art. 5) */
};

enum sx_category {
	SX_CAT_JAPANESE = 1 << 0,
	SX_CAT_FOREIGN = 1 << 1,
	SX_CAT_GARBLED = 1 << 2,
	SX_CAT_VIRUS = 1 << 3,
	SX_CAT_INSUFFICIENT = 1 << 4, /* no headers recovered */
};

#define SX_EVIDENCE_MAX 16

/* One finding. Items with flag 0 explain a category instead of a flag
 * ("category.virus", "category.garbled", ...); flag items come first. */
struct sx_evidence {
	enum sx_flag flag;   /* 0 for a category item */
	char check[40];      /* e.g. "labeling.opt-out", "spoofing.spf" */
	char where[64];      /* header name or "body" */
	char detail[160];    /* what was (not) found */
	char article[48];    /* e.g. "Art. 4(1)(iii)" */
};

struct sx_analysis {
	unsigned flags;      /* enum sx_flag bits */
	unsigned categories; /* enum sx_category bits */
	struct sx_evidence ev[SX_EVIDENCE_MAX];
	unsigned nev;
	int advertising;     /* the mail looks like advertising (URLs, offers) */
};

/*
 * Analyses the spam m (already de-personalized). monitor is non-zero when
 * the report came from a monitor receiver (so the opt-in flag applies to
 * advertising). src is the result of sx_received_source (may be NULL).
 * Returns 0 or SX_ENOMEM (SX_EINVAL only if a built-in word list no longer
 * fits the word matcher, a programming error test_analyze catches).
 */
int sx_analyze(const struct sx_mail *m, int monitor, const struct sx_source *src,
	       struct sx_analysis *out);

/* Names for flags and categories as used in metadata, docs and filters. */
const char *sx_flag_name(enum sx_flag f);
const char *sx_category_name(enum sx_category c);

#endif
