/*
 * leak_match.c: the needles of the leak check and the search for them.
 *
 * Every identifier becomes several needles (UTF-8, full-width folded, CP932,
 * EUC-JP, ISO-2022-JP, UTF-16LE/BE), so that one pass over any view finds it
 * however its bytes were meant; one Aho-Corasick automaton holds them all and
 * costs the same per byte whatever their number (up to SX_IDENTS_MAX
 * identifiers of SX_IDENT_LEN_MAX bytes). Matching is ASCII case-insensitive
 * for every kind: DESIGN §2 asks for every occurrence case-insensitively, and
 * a name in capitals names the same person. The rules a match must pass
 * (whole words for short identifiers, not inside a placeholder, not chance
 * in base64 text) are here too.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "charset.h"
#include "err.h"
#include "leak_impl.h"
#include "redact.h"

/* Bytes one identifier's needles take at most (every form, escapes included). */
#define LK_FORMS_BYTES 3072u
#define LK_FORMS 7u

/* ---- needles ---- */

struct form_tmp {
	size_t off, n;
	uint8_t form;
};

/* Adds form bytes b (n) for one identifier unless an earlier form of it is
 * the same; lower-cased in the store. */
static int form_add(struct sx_buf *st, struct form_tmp *f, size_t *nf, const uint8_t *b, size_t n,
		    uint8_t form)
{
	if (n == 0)
		return 0;
	size_t off = sx_buf_used(st);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = lk_lower(b[i]);
		int rc = sx_buf_append(st, &c, 1);
		if (rc < 0)
			return rc;
	}
	const uint8_t *s = sx_buf_head(st);
	for (size_t i = 0; i < *nf; i++) {
		if (f[i].n == n && memcmp(s + f[i].off, s + off, n) == 0) {
			st->len -= n;
			return 0;
		}
	}
	f[*nf] = (struct form_tmp){ off, n, form };
	(*nf)++;
	return 0;
}

/* Adds the form of id in charset label, when it can be written. (A short
 * identifier's forms match only as whole words in text, which is UTF-8:
 * its two-byte CP932 "林" never does, and binary cannot set it off.) */
static int form_conv(struct sx_buf *st, struct form_tmp *f, size_t *nf, const struct sx_ident *id,
		     const char *label, uint8_t form)
{
	struct sx_buf t;
	int rc;

	sx_buf_init(&t, 4 * SX_IDENT_LEN_MAX + 64);
	rc = sx_charset_from_utf8(label, (const uint8_t *)id->text, id->len, &t);
	if (rc == SX_EINVAL) {
		rc = 0; /* not writable in label: no such form */
	} else if (rc == 0) {
		const uint8_t *b = sx_buf_used(&t) ? sx_buf_head(&t) : (const uint8_t *)"";
		size_t n = sx_buf_used(&t);
		if (form == LK_F_JIS) {
			/* From the first escape on, without the return to ASCII:
			 * inside a longer run there is no escape around it. */
			const uint8_t *e = memchr(b, 0x1B, n);
			if (!e) {
				n = 0;
			} else {
				n -= (size_t)(e - b);
				b = e;
				if (n >= 3 && b[n - 3] == 0x1B && b[n - 2] == '(' &&
				    b[n - 1] == 'B')
					n -= 3;
			}
		}
		rc = form_add(st, f, nf, b, n, form);
	}
	sx_buf_finish(&t);
	return rc;
}

static int needles_build(struct lk_ac *ac, const struct sx_idset *ids, struct sx_buf *st)
{
	struct form_tmp f[LK_FORMS];
	int rc;

	ac->nd = calloc(ids->n * LK_FORMS + 1, sizeof *ac->nd);
	if (!ac->nd)
		return SX_ENOMEM;
	for (size_t i = 0; i < ids->n; i++) {
		const struct sx_ident *id = &ids->v[i];
		const uint8_t *t = (const uint8_t *)id->text;
		uint8_t folded[SX_IDENT_LEN_MAX];
		size_t nf = 0;

		if (id->len == 0 || id->len > SX_IDENT_LEN_MAX)
			continue;
		if ((rc = form_add(st, f, &nf, t, id->len, LK_F_UTF8)) < 0 ||
		    (rc = form_add(st, f, &nf, folded, sx_lk_normalize(t, id->len, folded, NULL, NULL, NULL),
				   LK_F_FOLDED)) < 0 ||
		    (rc = form_conv(st, f, &nf, id, "cp932", LK_F_CP932)) < 0 ||
		    (rc = form_conv(st, f, &nf, id, "euc-jp", LK_F_EUCJP)) < 0 ||
		    (rc = form_conv(st, f, &nf, id, "iso-2022-jp", LK_F_JIS)) < 0 ||
		    (rc = form_conv(st, f, &nf, id, "utf-16le", LK_F_UTF16LE)) < 0 ||
		    (rc = form_conv(st, f, &nf, id, "utf-16be", LK_F_UTF16BE)) < 0)
			return rc;
		for (size_t k = 0; k < nf; k++) {
			struct lk_needle *nd = &ac->nd[ac->nnd++];
			nd->s = (const uint8_t *)(uintptr_t)f[k].off; /* fixed up below */
			nd->n = f[k].n;
			nd->ident = (uint16_t)i;
			nd->form = f[k].form;
			nd->whole = id->len < SX_IDENT_SHORT;
		}
	}
	/* The store no longer moves: turn offsets into pointers. */
	ac->store = st->data;
	st->data = NULL;
	for (size_t k = 0; k < ac->nnd; k++)
		ac->nd[k].s = ac->store + st->off + (size_t)(uintptr_t)ac->nd[k].s;
	return 0;
}

/* ---- the automaton ---- */

static size_t hslot(const struct lk_ac *ac, uint64_t key)
{
	key *= 0x9E3779B97F4A7C15u;
	return (size_t)(key >> 20) & ac->hmask;
}

static uint32_t go_edge(const struct lk_ac *ac, uint32_t node, uint8_t c)
{
	if (node == 0)
		return ac->root[c];
	uint64_t key = ((uint64_t)node << 8 | c) + 1;
	for (size_t h = hslot(ac, key);; h = (h + 1) & ac->hmask) {
		if (ac->hkey[h] == key)
			return ac->hval[h];
		if (ac->hkey[h] == 0)
			return 0;
	}
}

static void set_edge(struct lk_ac *ac, uint32_t node, uint8_t c, uint32_t child)
{
	if (node == 0) {
		ac->root[c] = child;
		return;
	}
	uint64_t key = ((uint64_t)node << 8 | c) + 1;
	size_t h = hslot(ac, key);
	while (ac->hkey[h] != 0)
		h = (h + 1) & ac->hmask;
	ac->hkey[h] = key;
	ac->hval[h] = child;
}

/*
 * The table form of the automaton: bytes in no needle share class 0 (either
 * case of a letter shares its class); each node's row is its failure node's
 * row with its own children written over it, so a row is complete once the
 * rows before it in breadth-first order (order, nq nodes but the root) are.
 * Too large a table is not built: the search then walks the hash.
 */
static uint32_t entry(const struct lk_ac *ac, uint32_t v)
{
	return v * ac->nclass | (ac->term[v] >= 0 || ac->dict[v] ? LK_HIT : 0u);
}

static int table_build(struct lk_ac *ac, const uint32_t *order, size_t nq)
{
	uint32_t k = 1;
	for (size_t k2 = 0; k2 < ac->nnd; k2++) {
		for (size_t i = 0; i < ac->nd[k2].n; i++) {
			uint8_t c = ac->nd[k2].s[i]; /* lower case already */
			if (!ac->cls[c])
				ac->cls[c] = (uint8_t)(k < 256 ? k++ : 0);
		}
	}
	if (k >= 256)
		return 0; /* more classes than a byte holds: the hash serves */
	for (unsigned c = 'A'; c <= 'Z'; c++)
		ac->cls[c] = ac->cls[c + 32];
	ac->nclass = k;
	if ((size_t)ac->nnodes * k > LK_DFA_MAX)
		return 0;
	/* every row but the root's is written in full below (a copy of its
	 * failure node's row): only the root's needs zeros */
	ac->delta = malloc((size_t)ac->nnodes * k * sizeof *ac->delta);
	if (!ac->delta)
		return SX_ENOMEM;
	memset(ac->delta, 0, k * sizeof *ac->delta);
	/* An entry is the next node's row offset, LK_HIT set when it ends a
	 * needle or has one on its failure chain. */
	for (uint32_t v = ac->first[0]; v; v = ac->sib[v])
		ac->delta[ac->cls[ac->label[v]]] = entry(ac, v);
	for (size_t q = 0; q < nq; q++) {
		uint32_t u = order[q];
		uint32_t *row = ac->delta + (size_t)u * k;
		memcpy(row, ac->delta + (size_t)ac->fail[u] * k, k * sizeof *row);
		for (uint32_t v = ac->first[u]; v; v = ac->sib[v])
			row[ac->cls[ac->label[v]]] = entry(ac, v);
	}
	return 0;
}

int sx_lk_ac_init(struct lk_ac *ac, const struct sx_idset *ids)
{
	struct sx_buf st;
	int rc;

	memset(ac, 0, sizeof *ac);
	sx_buf_init(&st, ids->n * LK_FORMS_BYTES + 16);
	rc = needles_build(ac, ids, &st);
	sx_buf_finish(&st);
	if (rc < 0)
		return rc;

	size_t cap = 1;
	for (size_t k = 0; k < ac->nnd; k++)
		cap += ac->nd[k].n;
	size_t hcap = 16;
	while (hcap < 2 * cap)
		hcap *= 2;
	ac->fail = calloc(cap, sizeof *ac->fail);
	ac->dict = calloc(cap, sizeof *ac->dict);
	ac->term = malloc(cap * sizeof *ac->term);
	ac->first = calloc(cap, sizeof *ac->first);
	ac->sib = calloc(cap, sizeof *ac->sib);
	ac->label = calloc(cap, 1);
	ac->hkey = calloc(hcap, sizeof *ac->hkey);
	ac->hval = calloc(hcap, sizeof *ac->hval);
	if (!ac->fail || !ac->dict || !ac->term || !ac->first || !ac->sib || !ac->label ||
	    !ac->hkey || !ac->hval)
		return SX_ENOMEM;
	ac->hmask = hcap - 1;
	for (size_t i = 0; i < cap; i++)
		ac->term[i] = -1;
	ac->nnodes = 1;

	for (size_t k = 0; k < ac->nnd; k++) {
		const struct lk_needle *nd = &ac->nd[k];
		uint32_t node = 0;
		for (size_t i = 0; i < nd->n; i++) {
			uint32_t next = go_edge(ac, node, nd->s[i]);
			if (!next) {
				next = ac->nnodes++;
				set_edge(ac, node, nd->s[i], next);
				ac->label[next] = nd->s[i];
				ac->sib[next] = ac->first[node];
				ac->first[node] = next;
			}
			node = next;
		}
		if (ac->term[node] < 0)
			ac->term[node] = (int32_t)k; /* the same bytes twice: the first wins */
		if (nd->n > ac->maxlen)
			ac->maxlen = nd->n;
	}

	/* Failure and dictionary links, breadth first. */
	uint32_t *queue = malloc(ac->nnodes * sizeof *queue);
	size_t head = 0, tail = 0;
	if (!queue)
		return SX_ENOMEM;
	for (uint32_t v = ac->first[0]; v; v = ac->sib[v])
		queue[tail++] = v; /* fail and dict already 0 */
	while (head < tail) {
		uint32_t u = queue[head++];
		for (uint32_t v = ac->first[u]; v; v = ac->sib[v]) {
			uint8_t c = ac->label[v];
			uint32_t f = ac->fail[u], g;
			while (!(g = go_edge(ac, f, c)) && f)
				f = ac->fail[f];
			ac->fail[v] = g;
			ac->dict[v] = ac->term[g] >= 0 ? g : ac->dict[g];
			queue[tail++] = v;
		}
	}
	rc = table_build(ac, queue, tail);
	free(queue);
	return rc;
}

void sx_lk_ac_finish(struct lk_ac *ac)
{
	free(ac->nd);
	free(ac->store);
	free(ac->fail);
	free(ac->dict);
	free(ac->term);
	free(ac->first);
	free(ac->sib);
	free(ac->label);
	free(ac->hkey);
	free(ac->hval);
	free(ac->delta);
	memset(ac, 0, sizeof *ac);
}

/* ---- matching ---- */

/* Whether the match [s, e) stands as a word of its own. */
static int whole_word(const uint8_t *p, size_t n, size_t s, size_t e, uint8_t form)
{
	if (form == LK_F_UTF16LE || form == LK_F_UTF16BE) {
		int le = form == LK_F_UTF16LE;
		if (s >= 2 && lk_wordch(le ? (unsigned)p[s - 2] | (unsigned)p[s - 1] << 8
					: (unsigned)p[s - 2] << 8 | p[s - 1]))
			return 0;
		if (e + 2 <= n && lk_wordch(le ? (unsigned)p[e] | (unsigned)p[e + 1] << 8
					    : (unsigned)p[e] << 8 | p[e + 1]))
			return 0;
		return 1;
	}
	return !(s > 0 && lk_wordch(p[s - 1])) && !(e < n && lk_wordch(p[e]));
}

/* Byte k of placeholder ph as the needle's form spells it. */
static uint8_t ph_byte(const char *ph, size_t k, uint8_t form)
{
	if (form == LK_F_UTF16LE)
		return k % 2 ? 0 : (uint8_t)ph[k / 2];
	if (form == LK_F_UTF16BE)
		return k % 2 ? (uint8_t)ph[k / 2] : 0;
	return (uint8_t)ph[k];
}

/*
 * Whether [s, e) lies inside a placeholder the redactor writes: an
 * identifier such as "redacted" would otherwise be found in every
 * replacement, and a report with one would never leave quarantine.
 */
static int in_placeholder(const uint8_t *p, size_t n, size_t s, size_t e, uint8_t form)
{
	static const char *const ph[] = { SX_REDACTED_ADDRESS, SX_REDACTED_TEXT };
	int wide = form == LK_F_UTF16LE || form == LK_F_UTF16BE;
	/* a UTF-16 needle also matches one byte off in the other byte order */
	const uint8_t spell[2] = { wide ? LK_F_UTF16LE : LK_F_UTF8,
				   wide ? LK_F_UTF16BE : LK_F_UTF8 };

	for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++) {
		size_t len = strlen(ph[i]) * (wide ? 2 : 1);
		if (len < e - s)
			continue;
		for (size_t b = 0; b < (wide ? 2u : 1u); b++) {
			for (size_t q = e >= len ? e - len : 0; q <= s && q + len <= n; q++) {
				size_t k = 0;
				while (k < len &&
				       lk_lower(p[q + k]) == lk_lower(ph_byte(ph[i], k, spell[b])))
					k++;
				if (k == len)
					return 1;
			}
		}
	}
	return 0;
}

/* The line search() last looked at. */
struct line_memo {
	size_t a, b;
	int b64;
};

/*
 * Whether [s, e) lies in a line of base64 text: LK_B64_LINE or more
 * characters of the alphabet and nothing else but '=' at its end. Short
 * needles turn up there by chance ("taro" about once per megabyte, case
 * folded), and tokens() reads such lines decoded. Natural text has blanks
 * or punctuation on a line that long.
 */
static int in_b64_line(const uint8_t *p, size_t n, size_t s, size_t e, struct line_memo *lm)
{
	if (lm->b > lm->a && s >= lm->a && e <= lm->b)
		return lm->b64;
	size_t a = s, b = e, pad = 0;
	while (a > 0 && p[a - 1] != '\n' && p[a - 1] != '\r')
		a--;
	while (b < n && p[b] != '\n' && p[b] != '\r')
		b++;
	lm->a = a;
	lm->b = b;
	lm->b64 = b - a >= LK_B64_LINE;
	for (size_t k = a; lm->b64 && k < b; k++) {
		if (p[k] == '=')
			pad++;
		else if (pad || !(lk_b64ch(p[k], 0) || lk_b64ch(p[k], 1)))
			lm->b64 = 0;
	}
	return lm->b64;
}

/* Shortest stretch split between walks (below it, one walk). */
#define LK_SPLIT_MIN 1024u
/* Walks at once over a long stretch. */
#define LK_WALKS 4

/* Walk k alone from p[at] (entry e) to end: the first hit at or after own,
 * or end. */
static size_t walk_on(const struct lk_ac *ac, const uint8_t *p, size_t at, size_t end,
		      size_t own, uint32_t *e)
{
	uint32_t x = *e;
	for (; at < end; at++) {
		x = ac->delta[(x & ~LK_HIT) + ac->cls[p[at]]];
		if ((x & LK_HIT) && at >= own)
			break;
	}
	*e = x;
	return at;
}

/*
 * Walks the table automaton over p[i, stop) from entry *ent, to the first
 * byte whose entry has LK_HIT (*ent that entry), or stop. One walk is a
 * chain of dependent loads; several at once, over parts of the stretch, go
 * nearly as many times as fast. Each walk but the first starts at the root
 * maxlen bytes before its part: a node stands for the last maxlen bytes at
 * most, so from its part on its entries are the ones a single walk from i
 * would have (a hit before its part is an earlier walk's to find, and it is
 * ignored). The first hit of the earliest part that has one is the answer.
 */
static size_t dfa_next(const struct lk_ac *ac, const uint8_t *p, size_t i, size_t stop,
		       uint32_t *ent)
{
	const uint32_t *delta = ac->delta;
	const uint8_t *cls = ac->cls;
	size_t len = ac->maxlen;
	uint32_t e0 = *ent;

	_Static_assert(LK_WALKS == 4, "the walk below is written out for four");
	while (stop - i >= LK_SPLIT_MIN && stop - i > len &&
	       (stop - i - len) / LK_WALKS >= 2 * len + 1) {
		/* walk k reads [i + k q, i + (k + 1) q + len) and owns the part
		 * from i + k q + len (walk 0 all of its stretch) */
		size_t q = (stop - i - len) / LK_WALKS, steps = q + len;
		size_t at[LK_WALKS];
		uint32_t e[LK_WALKS] = { e0, 0, 0, 0 };
		for (size_t k = 0; k < LK_WALKS; k++)
			at[k] = i + k * q;
		for (size_t s = 0; s < steps; s++) {
			e[0] = delta[(e[0] & ~LK_HIT) + cls[p[at[0] + s]]];
			e[1] = delta[(e[1] & ~LK_HIT) + cls[p[at[1] + s]]];
			e[2] = delta[(e[2] & ~LK_HIT) + cls[p[at[2] + s]]];
			e[3] = delta[(e[3] & ~LK_HIT) + cls[p[at[3] + s]]];
			if (!((e[0] | e[1] | e[2] | e[3]) & LK_HIT))
				continue;
			if (e[0] & LK_HIT) {
				*ent = e[0];
				return at[0] + s;
			}
			size_t k = 1;
			while (k < LK_WALKS && !((e[k] & LK_HIT) && s >= len))
				k++;
			if (k == LK_WALKS)
				continue; /* hits before the parts: not theirs */
			/* the walks before k alone to the ends of their parts,
			 * then this hit */
			for (size_t j = 0; j < k; j++) {
				size_t end = at[j] + steps, own = j ? at[j] + len : at[j];
				size_t h = walk_on(ac, p, at[j] + s + 1, end, own, &e[j]);
				if (h < end) {
					*ent = e[j];
					return h;
				}
			}
			*ent = e[k];
			return at[k] + s;
		}
		/* no hit in any part: on from where the last walk is */
		i = at[LK_WALKS - 1] + steps;
		e0 = e[LK_WALKS - 1];
	}
	for (; i < stop; i++) {
		e0 = delta[(e0 & ~LK_HIT) + cls[p[i]]];
		if (e0 & LK_HIT)
			break;
	}
	*ent = e0;
	return i;
}

/*
 * The first match the rules accept, or -1. A longer match may still end
 * later ("taro" is found before "taro@example.jp" ends), so the scan goes on
 * for the longest needle's length (past b if need be) and keeps the longest
 * match: the reason names the kind a reader would see.
 */
long sx_lk_search_range(const struct lk_ac *ac, const uint8_t *p, size_t n, size_t a, size_t b,
			unsigned sf)
{
	uint32_t st = 0;
	long best = -1;
	size_t stop = b < n ? b : n;
	struct line_memo lm = { 0, 0, 0 };

	const uint32_t *delta = ac->delta;
	uint32_t ent = 0;

	for (size_t i = a; i < stop; i++) {
		if (delta) {
			/* to the next node with a match, loads only */
			if ((i = dfa_next(ac, p, i, stop, &ent)) == stop)
				break;
			st = (ent & ~LK_HIT) / ac->nclass;
		} else {
			uint8_t c = lk_lower(p[i]);
			uint32_t g;
			while (!(g = go_edge(ac, st, c)) && st)
				st = ac->fail[st];
			st = g;
		}
		for (uint32_t t = ac->term[st] >= 0 ? st : ac->dict[st]; t; t = ac->dict[t]) {
			const struct lk_needle *nd = &ac->nd[ac->term[t]];
			size_t e = i + 1, s = e - nd->n;
			if ((sf & LK_S_LONG) && nd->n < LK_LONG_MIN)
				continue;
			if (nd->whole && (!(sf & LK_S_SHORT) || !whole_word(p, n, s, e, nd->form)))
				continue;
			if (nd->n < LK_LONG_MIN && in_b64_line(p, n, s, e, &lm))
				continue;
			if (in_placeholder(p, n, s, e, nd->form))
				continue;
			if (best < 0) {
				stop = n - s > ac->maxlen ? s + ac->maxlen : n;
			} else if (ac->nd[best].n >= nd->n) {
				continue;
			}
			best = ac->term[t];
		}
	}
	return best;
}

long sx_lk_search(const struct lk_ac *ac, const uint8_t *p, size_t n, unsigned sf)
{
	return sx_lk_search_range(ac, p, n, 0, n, sf);
}
