/*
 * analyze_words.h: where the words of fixed lists occur in one text
 * (internal to mail/). The label checks ask for the first occurrence of a
 * word at or after a position many times over; one pass over the text finds
 * every word of every list at once, so each question is answered from that
 * record instead of by searching the text again.
 *
 * A word matches as sx_words_find_one describes: Japanese words as bytes,
 * words starting or ending with an ASCII letter or digit case-insensitively
 * and only as whole words on that side.
 */
#ifndef SX_ANALYZE_WORDS_H
#define SX_ANALYZE_WORDS_H

#include <stddef.h>
#include <stdint.h>

/* Words over all lists of one set. */
#define SX_WORDS_MAX 256
/* Word lists of one set. */
#define SX_WORDS_LISTS 8
/* Occurrences recorded per text; the ones after are searched for directly
 * (the old, slower way), so a text full of keywords costs no more than
 * searching word by word. */
#define SX_WORDS_HITS_MAX 512
/* Hash buckets over a word's first three (case-folded) bytes: a power of 2. */
#define SX_WORDS_BUCKETS 1024

#define SX_WORDS_NONE 0xffff

struct sx_wordset {
	const char *word[SX_WORDS_MAX];
	uint32_t key[SX_WORDS_MAX];    /* first three bytes, ASCII lower-cased */
	uint8_t len[SX_WORDS_MAX];
	uint8_t bound[SX_WORDS_MAX];   /* 1: whole word on the left, 2: on the right */
	uint16_t chain[SX_WORDS_MAX];  /* the next word in the same bucket */
	uint16_t bucket[SX_WORDS_BUCKETS];
	uint8_t start[256];            /* a (lower-cased) byte some word starts with */
	unsigned base[SX_WORDS_LISTS]; /* the first word of each list */
	unsigned nwords, nlists;
};

/* One text's occurrences of the words of a set. */
struct sx_wordhits {
	const struct sx_wordset *set;
	const uint8_t *s;
	size_t n;
	size_t covered; /* every occurrence starting before this is in hit[] */
	struct {
		uint32_t pos;
		uint16_t word;
		uint16_t next; /* the same word's next occurrence, or SX_WORDS_NONE */
	} hit[SX_WORDS_HITS_MAX];
	unsigned nhit;
	uint16_t first[SX_WORDS_MAX];  /* each word's first occurrence in hit[] */
	uint16_t cursor[SX_WORDS_MAX]; /* the occurrence last answered */
};

/* Builds set from nlists lists (lists[i] has counts[i] words). Every word
 * must be 3 to 255 bytes long and there must be at most SX_WORDS_MAX words
 * in at most SX_WORDS_LISTS lists. Returns 0 or SX_EINVAL. */
int sx_words_build(struct sx_wordset *set, const char *const *const *lists,
		   const size_t *counts, size_t nlists);

/* Records in h where the words of set occur in s[0 .. n) (h keeps set and s
 * for the lookups: both must outlive it). */
void sx_words_scan(struct sx_wordhits *h, const struct sx_wordset *set, const uint8_t *s,
		   size_t n);

/* The offset of the first occurrence at or after from of word k of list
 * list, or the text's length when there is none: what sx_words_find_one on
 * the text would answer. */
size_t sx_words_find(struct sx_wordhits *h, unsigned list, unsigned k, size_t from);

/* Finds word in s[from .. n) by searching: Japanese words match as bytes
 * (UTF-8 cannot match inside another character); words starting or ending
 * with an ASCII letter or digit match case-insensitively and only as whole
 * words, so "free" is not found in "freedom". Returns the offset or n. */
size_t sx_words_find_one(const uint8_t *s, size_t n, size_t from, const char *word);

#endif
