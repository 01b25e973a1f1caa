#include "analyze_words.h"

#include <string.h>

#include "err.h"

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z');
}

size_t sx_words_find_one(const uint8_t *s, size_t n, size_t from, const char *word)
{
	size_t l = strlen(word);
	int bound_l = is_alnum((unsigned char)word[0]);
	int bound_r = is_alnum((unsigned char)word[l - 1]);
	/* Only a position whose byte matches the word's first can start it:
	 * memchr (or a two-byte scan for a letter's two cases) finds the next. */
	uint8_t c0 = (uint8_t)lower((unsigned char)word[0]);
	uint8_t c1 = c0 >= 'a' && c0 <= 'z' ? (uint8_t)(c0 - 32) : c0;
	for (size_t i = from; i + l <= n; i++) {
		size_t last = n - l; /* the last position the word can start at */
		if (c0 == c1) {
			const uint8_t *q = memchr(s + i, c0, last - i + 1);
			if (!q)
				break;
			i = (size_t)(q - s);
		} else {
			while (i <= last && s[i] != c0 && s[i] != c1)
				i++;
			if (i > last)
				break;
		}
		size_t k = 0;
		while (k < l && lower(s[i + k]) == lower((unsigned char)word[k]))
			k++;
		if (k < l)
			continue;
		if (bound_l && i > 0 && is_alnum(s[i - 1]))
			continue;
		if (bound_r && i + l < n && is_alnum(s[i + l]))
			continue;
		return i;
	}
	return n;
}

static uint32_t key3(const uint8_t *p)
{
	return (uint32_t)lower(p[0]) << 16 | (uint32_t)lower(p[1]) << 8 | (uint32_t)lower(p[2]);
}

static unsigned bucket_of(uint32_t key)
{
	return (unsigned)((key * 2654435761u) >> 22) & (SX_WORDS_BUCKETS - 1);
}

int sx_words_build(struct sx_wordset *set, const char *const *const *lists,
		   const size_t *counts, size_t nlists)
{
	memset(set->bucket, 0xff, sizeof set->bucket);
	memset(set->start, 0, sizeof set->start);
	set->nwords = 0;
	set->nlists = 0;
	if (nlists > SX_WORDS_LISTS)
		return SX_EINVAL;
	for (size_t li = 0; li < nlists; li++) {
		set->base[li] = set->nwords;
		for (size_t k = 0; k < counts[li]; k++) {
			const char *w = lists[li][k];
			size_t l = strlen(w);
			if (set->nwords >= SX_WORDS_MAX || l < 3 || l > 255)
				return SX_EINVAL;
			unsigned i = set->nwords++;
			set->word[i] = w;
			set->len[i] = (uint8_t)l;
			set->key[i] = key3((const uint8_t *)w);
			set->bound[i] = (uint8_t)(is_alnum((unsigned char)w[0]) |
						  is_alnum((unsigned char)w[l - 1]) << 1);
			set->start[lower((unsigned char)w[0])] = 1;
			unsigned b = bucket_of(set->key[i]);
			set->chain[i] = set->bucket[b];
			set->bucket[b] = (uint16_t)i;
		}
	}
	set->nlists = (unsigned)nlists;
	return 0;
}

/* Does word w occur at s[i] (its first three bytes already match)? */
static int match_at(const struct sx_wordset *set, unsigned w, const uint8_t *s, size_t n,
		    size_t i)
{
	size_t l = set->len[w];
	if (l > n - i)
		return 0;
	const uint8_t *word = (const uint8_t *)set->word[w];
	for (size_t k = 3; k < l; k++)
		if (lower(s[i + k]) != lower(word[k]))
			return 0;
	if ((set->bound[w] & 1) && i > 0 && is_alnum(s[i - 1]))
		return 0;
	if ((set->bound[w] & 2) && i + l < n && is_alnum(s[i + l]))
		return 0;
	return 1;
}

void sx_words_scan(struct sx_wordhits *h, const struct sx_wordset *set, const uint8_t *s,
		   size_t n)
{
	h->set = set;
	h->s = s;
	h->n = n;
	h->nhit = 0;
	memset(h->first, 0xff, sizeof h->first);
	memset(h->cursor, 0xff, sizeof h->cursor);
	/* Offsets are kept in 32 bits: a longer text is searched word by word. */
	h->covered = n > UINT32_MAX ? 0 : n;
	for (size_t i = 0; h->covered == n && i + 3 <= n; i++) {
		if (!set->start[lower(s[i])])
			continue;
		uint32_t key = key3(s + i);
		for (unsigned w = set->bucket[bucket_of(key)]; w != SX_WORDS_NONE;
		     w = set->chain[w]) {
			if (set->key[w] != key || !match_at(set, w, s, n, i))
				continue;
			if (h->nhit == SX_WORDS_HITS_MAX) {
				/* Full: what starts here and after is searched for. */
				while (h->nhit > 0 && h->hit[h->nhit - 1].pos == i)
					h->nhit--;
				h->covered = i;
				break;
			}
			h->hit[h->nhit].pos = (uint32_t)i;
			h->hit[h->nhit].word = (uint16_t)w;
			h->nhit++;
		}
	}
	/* Chain each word's occurrences in text order. */
	for (unsigned j = h->nhit; j-- > 0;) {
		unsigned w = h->hit[j].word;
		h->hit[j].next = h->first[w];
		h->first[w] = (uint16_t)j;
	}
}

size_t sx_words_find(struct sx_wordhits *h, unsigned list, unsigned k, size_t from)
{
	unsigned w = h->set->base[list] + k;
	/* Occurrences before the one last answered lie before it: when from
	 * is not before that one, the walk can start there. */
	unsigned j = h->cursor[w];
	if (j == SX_WORDS_NONE || h->hit[j].pos > from)
		j = h->first[w];
	for (; j != SX_WORDS_NONE; j = h->hit[j].next) {
		if (h->hit[j].pos >= from) {
			h->cursor[w] = (uint16_t)j;
			return h->hit[j].pos;
		}
	}
	if (h->covered >= h->n)
		return h->n;
	return sx_words_find_one(h->s, h->n, from > h->covered ? from : h->covered,
				 h->set->word[w]);
}
