/*
 * analyze_text.h: the readable text of a spam for analyze.c (internal to
 * mail/): the decoded subject and the decoded text of its text parts,
 * HTML reduced to its text with link targets kept, all UTF-8 and bounded.
 */
#ifndef SX_ANALYZE_TEXT_H
#define SX_ANALYZE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"

/* Decoded body text examined per message; the rest is not looked at. */
#define SX_ANALYZE_TEXT_MAX (256 * 1024)
/* Raw (unfolded) subject examined; decoded it takes at most 3 bytes per byte. */
#define SX_ANALYZE_SUBJECT_RAW_MAX (4 * 1024)
#define SX_ANALYZE_SUBJECT_MAX (3 * SX_ANALYZE_SUBJECT_RAW_MAX + 64)

struct sx_analyze_text {
	struct sx_buf subject;  /* UTF-8 */
	struct sx_buf body;     /* UTF-8; parts separated by a line end */
	unsigned text_parts;    /* text leaves decoded */
	int truncated;          /* SX_ANALYZE_TEXT_MAX was reached */
	/* the first text part that could not be decoded, and why */
	char bad_part[SX_MIME_PATH];
	char bad_charset[SX_MIME_TOKEN]; /* an unknown charset label, or "" */
	int bad_cte;            /* an opaque transfer encoding (x-uuencode, ...) */
};

/* Fills t from m (t need not be initialised). Returns 0 or SX_ENOMEM; on
 * either, release t with sx_analyze_text_finish. */
int sx_analyze_text_collect(const struct sx_mail *m, struct sx_analyze_text *t);
/* Frees what t holds. */
void sx_analyze_text_finish(struct sx_analyze_text *t);

/* Character counts over UTF-8 text, for the language and garbling tests. */
struct sx_text_stats {
	size_t chars;         /* code points other than white space */
	size_t nonascii;      /* of those, outside ASCII */
	size_t latin;         /* ASCII letters */
	size_t kana;          /* hiragana, katakana, half-width katakana */
	size_t kanji;         /* CJK unified ideographs */
	size_t other_letters; /* Latin-1 and extended Latin, Greek, Cyrillic, Hangul, ... */
	size_t replacement;   /* U+FFFD */
	size_t mojibake;      /* C1 controls, private use, runs of 3+ Latin-1 symbols */
};

/* Adds the counts of text[0 .. n) to st (invalid UTF-8 counts as U+FFFD). */
void sx_analyze_text_stats(struct sx_text_stats *st, const uint8_t *text, size_t n);

/* Decodes one code point at s[*i] (s[*i .. n) non-empty), advancing *i; an
 * invalid sequence gives U+FFFD and advances one byte. */
uint32_t sx_analyze_text_next(const uint8_t *s, size_t n, size_t *i);

#endif
