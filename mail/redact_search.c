/*
 * redact_search.c: the identifiers as searched, and the search itself.
 *
 * Matching is ASCII case-insensitive for every kind (DESIGN §2: every
 * occurrence, case-insensitively; a name written "TARO YAMADA" names the
 * same person) and sees full-width ASCII as ASCII, on both sides, so that
 * "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ" is the address it looks like. Identifiers
 * shorter than SX_IDENT_SHORT bytes match whole words only. Characters a
 * reader does not see (soft hyphen, zero widths) inside a match are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact_impl.h"

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Word characters for whole-word matching: any byte of a non-ASCII
 * character counts, so a short Japanese name never matches inside a word. */
static int wordch(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c >= 0x80;
}

/* Length of the full-width-folded character at t[i] and its folded byte. */
static size_t fold_at(const uint8_t *t, size_t n, size_t i, uint8_t *out)
{
	if (t[i] == 0xef && i + 3 <= n && (t[i + 1] == 0xbc || t[i + 1] == 0xbd)) {
		unsigned cp = (0xfu << 12) | ((unsigned)(t[i + 1] & 0x3f) << 6) |
			      (unsigned)(t[i + 2] & 0x3f);
		if (cp >= 0xff01 && cp <= 0xff5e && (t[i + 2] & 0xc0) == 0x80) {
			*out = lower((uint8_t)(cp - 0xfee0));
			return 3;
		}
	}
	if (t[i] == 0xe3 && i + 3 <= n && t[i + 1] == 0x80 && t[i + 2] == 0x80) {
		*out = ' ';
		return 3;
	}
	*out = lower(t[i]);
	return 1;
}

/* Length of a character readers do not show (soft hyphen, zero widths, word
 * joiner, BOM) at t[i], 0 when none: it can split an identifier unseen. */
static size_t invisible_at(const uint8_t *t, size_t n, size_t i)
{
	if (t[i] == 0xc2 && i + 2 <= n && t[i + 1] == 0xad)
		return 2;
	if (i + 3 > n)
		return 0;
	if (t[i] == 0xe2 && t[i + 1] == 0x80 && t[i + 2] >= 0x8b && t[i + 2] <= 0x8d)
		return 3;
	if (t[i] == 0xe2 && t[i + 1] == 0x81 && t[i + 2] == 0xa0)
		return 3;
	if (t[i] == 0xef && t[i + 1] == 0xbb && t[i + 2] == 0xbf)
		return 3;
	return 0;
}

/* Folds UTF-8 s into out (lower case, full-width ASCII and U+3000 to ASCII,
 * invisible characters dropped). */
static size_t fold(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t o = 0, k;
	for (size_t i = 0; i < n;) {
		if ((k = invisible_at(s, n, i)) > 0)
			i += k;
		else
			i += fold_at(s, n, i, &out[o++]);
	}
	return o;
}

static int cmp_needle(const void *a, const void *b)
{
	const struct rx_needle *x = a, *y = b;
	if (x->s[0] != y->s[0])
		return x->s[0] < y->s[0] ? -1 : 1;
	/* longer first, so an address is tried before its local part */
	return x->n > y->n ? -1 : x->n < y->n;
}

int sx_rx_needles_init(struct rx_needles *nd, const struct sx_idset *ids)
{
	memset(nd, 0, sizeof *nd);
	nd->v = calloc(ids->n ? ids->n : 1, sizeof *nd->v);
	if (!nd->v)
		return SX_ENOMEM;
	nd->minlen = SIZE_MAX;
	for (size_t i = 0; i < ids->n; i++) {
		const struct sx_ident *id = &ids->v[i];
		struct rx_needle *k = &nd->v[nd->n];
		if (id->len == 0 || id->len > SX_IDENT_LEN_MAX)
			continue;
		k->n = fold((const uint8_t *)id->text, id->len, k->s);
		if (k->n == 0)
			continue;
		k->kind = (uint8_t)id->kind;
		k->whole = id->len < SX_IDENT_SHORT;
		int dup = 0;
		for (size_t j = 0; j < nd->n && !dup; j++)
			dup = nd->v[j].n == k->n && memcmp(nd->v[j].s, k->s, k->n) == 0;
		if (dup)
			continue;
		if (k->n < nd->minlen)
			nd->minlen = k->n;
		nd->n++;
	}
	qsort(nd->v, nd->n, sizeof *nd->v, cmp_needle);
	size_t j = 0;
	for (unsigned b = 0; b <= 256; b++) {
		while (j < nd->n && nd->v[j].s[0] < b)
			j++;
		nd->start[b] = j;
	}
	return 0;
}

void sx_rx_needles_finish(struct rx_needles *nd)
{
	free(nd->v);
	nd->v = NULL;
	nd->n = 0;
}

/* Length in t of a match of k at i, 0 when none. */
static size_t match_at(const struct rx_needle *k, const uint8_t *t, size_t n, size_t i)
{
	size_t j = i, skip;
	for (size_t m = 0; m < k->n; m++) {
		uint8_t c;
		while (m > 0 && j < n && (skip = invisible_at(t, n, j)) > 0)
			j += skip;
		if (j >= n)
			return 0;
		j += fold_at(t, n, j, &c);
		if (c != k->s[m])
			return 0;
	}
	if (k->whole) {
		if (i > 0 && wordch(t[i - 1]))
			return 0;
		if (j < n && wordch(t[j]))
			return 0;
	}
	return j - i;
}

int sx_rx_search(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		 struct rx_edits *out)
{
	struct rx_edits found;
	int rc = 0;

	if (nd->n == 0 || n < nd->minlen)
		return 0;
	sx_rx_edits_init(&found);
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t c;
		fold_at(t, n, i, &c);
		for (size_t k = nd->start[c]; k < nd->start[c + 1] && rc == 0; k++) {
			const struct rx_needle *nk = &nd->v[k];
			size_t len = match_at(nk, t, n, i);
			if (len == 0)
				continue;
			int addr = nk->kind == SX_ID_ADDRESS;
			const char *ph = addr ? SX_REDACTED_ADDRESS : SX_REDACTED_TEXT;
			rc = sx_rx_edits_add(&found, i, len, ph, strlen(ph), 1, nk->kind, enc,
					     (uint8_t)addr);
		}
	}
	if (rc == 0) {
		sx_rx_edits_select(&found);
		rc = sx_rx_edits_move(out, &found);
	}
	sx_rx_edits_finish(&found);
	return rc;
}
