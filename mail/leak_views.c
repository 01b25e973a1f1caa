/*
 * leak_views.c: the needles, their automaton, and the views of one byte
 * string the leak check searches.
 *
 * Every identifier becomes several needles (UTF-8, full-width folded, CP932,
 * EUC-JP, ISO-2022-JP, UTF-16LE/BE), so that one pass over any view finds it
 * however the bytes were meant; one Aho-Corasick automaton holds them all and
 * costs the same per byte whatever their number. Matching is ASCII
 * case-insensitive for every kind: DESIGN §2 asks for every occurrence
 * case-insensitively, and a name in capitals names the same person.
 *
 * A view is searched, then, as its flags ask, turned into further views:
 * full-width and invisible characters folded away, base64 runs decoded (four
 * alignments each, since a token may start anywhere in a run), URL escapes
 * and HTML references decoded in both orders, HTML rendered without its
 * tags, and the bytes read in the declared charset and in each Japanese one.
 * Everything a reader could be shown is searched; the price is bounded by
 * the work budget (LK_WORK_FACTOR), and passing it is itself a verdict.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "charset.h"
#include "codec.h"
#include "err.h"
#include "leak_impl.h"
#include "redact.h"

/* Bytes one identifier's needles take at most (every form, escapes included). */
#define LK_FORMS_BYTES 3072u
#define LK_FORMS 7u

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static int wordch(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_' || c >= 0x80;
}

static int b64ch(uint8_t c, int url)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == (url ? '-' : '+') || c == (url ? '_' : '/');
}

/* ---- full-width and invisible characters ---- */

/* Length of a full-width ASCII character (U+FF01..U+FF5E) or U+3000 at p[i],
 * 0 when none; *c gets its ASCII. */
static size_t fw_at(const uint8_t *p, size_t n, size_t i, uint8_t *c)
{
	if (i + 3 > n)
		return 0;
	if (p[i] == 0xEF && p[i + 1] == 0xBC && p[i + 2] >= 0x81 && p[i + 2] <= 0xBF) {
		*c = (uint8_t)(p[i + 2] - 0x81 + 0x21);
		return 3;
	}
	if (p[i] == 0xEF && p[i + 1] == 0xBD && p[i + 2] >= 0x80 && p[i + 2] <= 0x9E) {
		*c = (uint8_t)(p[i + 2] - 0x80 + 0x60);
		return 3;
	}
	if (p[i] == 0xE3 && p[i + 1] == 0x80 && p[i + 2] == 0x80) {
		*c = ' ';
		return 3;
	}
	return 0;
}

/* Length of a character readers do not show (soft hyphen, zero widths, word
 * joiner, BOM) at p[i], 0 when none: it can split an identifier unseen. */
static size_t invisible_at(const uint8_t *p, size_t n, size_t i)
{
	if (i + 2 <= n && p[i] == 0xC2 && p[i + 1] == 0xAD)
		return 2;
	if (i + 3 > n)
		return 0;
	if (p[i] == 0xE2 && p[i + 1] == 0x80 && p[i + 2] >= 0x8B && p[i + 2] <= 0x8D)
		return 3;
	if (p[i] == 0xE2 && p[i + 1] == 0x81 && p[i + 2] == 0xA0)
		return 3;
	if (p[i] == 0xEF && p[i + 1] == 0xBB && p[i + 2] == 0xBF)
		return 3;
	return 0;
}

static int has_normalizable(const uint8_t *p, size_t n)
{
	uint8_t c;
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0xC2 && (fw_at(p, n, i, &c) || invisible_at(p, n, i)))
			return 1;
	return 0;
}

/* Folds full-width ASCII and drops invisible characters; out holds n bytes. */
static size_t normalize(const uint8_t *p, size_t n, uint8_t *out)
{
	size_t o = 0, k;
	uint8_t c;
	for (size_t i = 0; i < n;) {
		if ((k = fw_at(p, n, i, &c))) {
			out[o++] = c;
			i += k;
		} else if ((k = invisible_at(p, n, i))) {
			i += k;
		} else {
			out[o++] = p[i++];
		}
	}
	return o;
}

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
		uint8_t c = lower(b[i]);
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

/* Adds the form of id in charset label, when it can be written and is long
 * enough not to turn up in any binary by chance. */
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
				if (n >= 3 && b[n - 3] == 0x1B && b[n - 2] == '(' && b[n - 1] == 'B')
					n -= 3;
			}
		}
		if (n >= LK_ENC_MIN)
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
		    (rc = form_add(st, f, &nf, folded, normalize(t, id->len, folded),
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
	free(queue);
	return 0;
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
	memset(ac, 0, sizeof *ac);
}

/* ---- matching ---- */

enum { S_SHORT = 1, S_LONG = 2 };

/* Whether the match [s, e) stands as a word of its own. */
static int whole_word(const uint8_t *p, size_t n, size_t s, size_t e, uint8_t form)
{
	if (form == LK_F_UTF16LE || form == LK_F_UTF16BE) {
		int le = form == LK_F_UTF16LE;
		if (s >= 2 && wordch(le ? (unsigned)p[s - 2] | (unsigned)p[s - 1] << 8
					: (unsigned)p[s - 2] << 8 | p[s - 1]))
			return 0;
		if (e + 2 <= n && wordch(le ? (unsigned)p[e] | (unsigned)p[e + 1] << 8
					    : (unsigned)p[e] << 8 | p[e + 1]))
			return 0;
		return 1;
	}
	return !(s > 0 && wordch(p[s - 1])) && !(e < n && wordch(p[e]));
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
	const uint8_t spell[2] = { wide ? LK_F_UTF16LE : LK_F_UTF8, wide ? LK_F_UTF16BE : LK_F_UTF8 };

	for (size_t i = 0; i < sizeof ph / sizeof ph[0]; i++) {
		size_t len = strlen(ph[i]) * (wide ? 2 : 1);
		if (len < e - s)
			continue;
		for (size_t b = 0; b < (wide ? 2u : 1u); b++) {
			for (size_t q = e >= len ? e - len : 0; q <= s && q + len <= n; q++) {
				size_t k = 0;
				while (k < len &&
				       lower(p[q + k]) == lower(ph_byte(ph[i], k, spell[b])))
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
		else if (pad || !(b64ch(p[k], 0) || b64ch(p[k], 1)))
			lm->b64 = 0;
	}
	return lm->b64;
}

/*
 * Returns the needle of the first match the rules accept, or -1. A longer
 * match may still end later ("taro" is found before "taro@example.jp"
 * ends), so the scan goes on for the longest needle's length and keeps the
 * longest match: the reason names the kind a reader would see.
 */
static long search(const struct lk_ac *ac, const uint8_t *p, size_t n, unsigned sf)
{
	uint32_t st = 0;
	long best = -1;
	size_t stop = n;
	struct line_memo lm = { 0, 0, 0 };

	for (size_t i = 0; i < stop; i++) {
		uint8_t c = lower(p[i]);
		uint32_t g;
		while (!(g = go_edge(ac, st, c)) && st)
			st = ac->fail[st];
		st = g;
		for (uint32_t t = ac->term[st] >= 0 ? st : ac->dict[st]; t; t = ac->dict[t]) {
			const struct lk_needle *nd = &ac->nd[ac->term[t]];
			size_t e = i + 1, s = e - nd->n;
			if ((sf & S_LONG) && nd->n < LK_LONG_MIN)
				continue;
			if (nd->whole && (!(sf & S_SHORT) || !whole_word(p, n, s, e, nd->form)))
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

/* ---- character classes ---- */

/*
 * Text a reader shows as such: valid UTF-8, few control characters and
 * replacement characters. Only there are short identifiers searched: in
 * binary, two given bytes between two non-word bytes are every few kilobytes.
 */
static int texty(const uint8_t *p, size_t n)
{
	size_t bad = 0;

	if (!sx_utf8_valid(p, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1B) ||
		    c == 0x7F)
			bad++;
		else if (c == 0xEF && i + 2 < n && p[i + 1] == 0xBF && p[i + 2] == 0xBD)
			bad++;
	}
	return bad * 32 <= n;
}


/* Counts base64 characters (either alphabet, '=' too), blanks inside lines,
 * other bytes, and the longest line. */
static void b64_stats(const uint8_t *p, size_t n, size_t *alpha, size_t *blank, size_t *other,
		      size_t *longest)
{
	size_t line = 0;
	*alpha = *blank = *other = *longest = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' || c == '\n') {
			line = 0;
			continue;
		}
		if (++line > *longest)
			*longest = line;
		if (b64ch(c, 0) || b64ch(c, 1) || c == '=')
			(*alpha)++;
		else if (c == ' ' || c == '\t')
			(*blank)++;
		else
			(*other)++;
	}
}

int sx_lk_b64block(const uint8_t *p, size_t n)
{
	size_t alpha, blank, other, longest;
	b64_stats(p, n, &alpha, &blank, &other, &longest);
	return alpha >= 40 && longest >= 40 && (blank + other) * 50 <= alpha;
}

int sx_lk_looks_b64(const uint8_t *p, size_t n)
{
	size_t alpha, blank, other, longest;
	b64_stats(p, n, &alpha, &blank, &other, &longest);
	return alpha >= 16 && blank * 100 <= alpha && other * 20 <= alpha;
}

static int hexd(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int sx_lk_looks_qp(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '=')
			continue;
		if (i + 2 < n && hexd(p[i + 1]) && hexd(p[i + 2]))
			return 1;
		/* a soft break with more text after it (base64 padding ends a body) */
		size_t j = i + 1;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j < n && (p[j] == '\n' || (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n'))) {
			j += p[j] == '\r' ? 2 : 1;
			while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
				j++;
			if (j < n && i > 0 && p[i - 1] != '=')
				return 1;
		}
	}
	return 0;
}

int sx_lk_ascii_or_utf8(const uint8_t *p, size_t n)
{
	return sx_utf8_valid(p, n);
}

static int has_pct(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++)
		if (p[i] == '%' && hexd(p[i + 1]) && hexd(p[i + 2]))
			return 1;
	return 0;
}

static int has_ref(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '&' && (p[i + 1] == '#' || wordch(p[i + 1])))
			return 1;
	return 0;
}

/* ---- reasons ---- */

void sx_lk_undecodable(struct lk_ctx *x, const char *fmt, ...)
{
	va_list ap;
	if (x->undecodable || x->found || x->over)
		return;
	x->undecodable = 1;
	va_start(ap, fmt);
	vsnprintf(x->why, x->whylen, fmt, ap);
	va_end(ap);
}

static void too_much(struct lk_ctx *x)
{
	x->over = 1;
	snprintf(x->why, x->whylen,
		 "too much to inspect: decoded views pass %u times the mail's size (at %s)",
		 LK_WORK_FACTOR, x->loc);
}

static const char *const form_names[] = {
	"", ", full-width folded", ", as cp932", ", as euc-jp", ", as iso-2022-jp",
	", as utf-16le", ", as utf-16be",
};

static void found(struct lk_ctx *x, long k)
{
	const struct lk_needle *nd = &x->ac.nd[k];
	x->found = 1;
	snprintf(x->why, x->whylen, "%s (%s%s): %s", x->loc, x->chain, form_names[nd->form],
		 sx_ident_kind_name(x->ids->v[nd->ident].kind));
}

void sx_lk_label(const struct lk_ctx *x, const uint8_t *label, size_t n, char *out,
		 size_t outlen)
{
	const char *word = NULL;
	if (n == 0)
		word = "(empty)";
	else if (n > LK_LABEL_MAX)
		word = "(long label)";
	for (size_t i = 0; !word && i < n; i++)
		if (label[i] < 0x21 || label[i] > 0x7E)
			word = "(unprintable label)";
	for (size_t i = 0; !word && i < x->ids->n; i++) {
		const struct sx_ident *id = &x->ids->v[i];
		for (size_t s = 0; !word && id->len && s + id->len <= n; s++) {
			size_t k = 0;
			while (k < id->len && lower(label[s + k]) == lower((uint8_t)id->text[k]))
				k++;
			if (k == id->len)
				word = "(label withheld)";
		}
	}
	if (word)
		snprintf(out, outlen, "%s", word);
	else
		snprintf(out, outlen, "%.*s", (int)n, (const char *)label);
}

/* ---- the views ---- */

static const uint8_t *head(const struct sx_buf *b)
{
	return sx_buf_used(b) ? sx_buf_head(b) : (const uint8_t *)"";
}

static int same(const struct sx_buf *b, const uint8_t *p, size_t n)
{
	return sx_buf_used(b) == n && (n == 0 || memcmp(sx_buf_head(b), p, n) == 0);
}

/* An output bound a decoder should never reach; reaching it is too much work. */
static size_t out_max(size_t n)
{
	return n > (SIZE_MAX - 4096) / 4 ? SIZE_MAX : 4 * n + 4096;
}

/* Maps a decoder's error: SX_ETOOBIG is a budget verdict, not a failure. */
static int dec_err(struct lk_ctx *x, int rc)
{
	if (rc == SX_ETOOBIG) {
		too_much(x);
		return 0;
	}
	return rc;
}

static int view_buf(struct lk_ctx *x, const struct sx_buf *b, const char *step, unsigned flags,
		    unsigned tdepth)
{
	return sx_lk_view(x, head(b), sx_buf_used(b), step, flags, tdepth);
}

/* Flags for bytes found inside a token: text gets its escapes decoded,
 * ISO-2022-JP its conversion; binary is searched as it is. */
static unsigned token_flags(const uint8_t *p, size_t n)
{
	unsigned f = LK_V_TOKENS;
	if (texty(p, n))
		f |= LK_V_DERIVE;
	if (memchr(p, 0x1B, n))
		f |= LK_V_CONVERT;
	return f;
}

/*
 * Runs of base64 characters, across line ends (a block of encoded lines is
 * one run) but not across blanks or '=' padding, decoded at each of the four
 * alignments: a token in a URL path starts wherever the path put it.
 */
static int tokens(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned tdepth)
{
	struct sx_buf run, out;
	int rc = 0;

	sx_buf_init(&run, n);
	sx_buf_init(&out, n + 16);
	for (int url = 0; url < 2 && rc == 0; url++) {
		size_t i = 0;
		while (i < n && rc == 0 && !x->found && !x->over) {
			if (!b64ch(p[i], url)) {
				i++;
				continue;
			}
			int special = 0, block = 1, cut = 0;
			size_t j = i, lines = 0, first = 0;
			sx_buf_reset(&run, SIZE_MAX);
			for (;;) {
				size_t s = j;
				while (j < n && b64ch(p[j], url)) {
					special |= p[j] == '-' || p[j] == '_';
					j++;
				}
				if ((rc = sx_buf_append(&run, p + s, j - s)) < 0)
					break;
				if (lines++ == 0)
					first = j - s;
				else if (cut || j - s > first)
					block = 0;
				else if (j - s < first)
					cut = 1; /* the last line, or not a block */
				if (j < n && p[j] == '=') {
					while (j < n && p[j] == '=')
						j++;
					break;
				}
				size_t k = j;
				while (k < n && k - j < 2 && (p[k] == '\r' || p[k] == '\n'))
					k++;
				if (k == j)
					break;
				while (k < n && (p[k] == ' ' || p[k] == '\t'))
					k++;
				if (k < n && b64ch(p[k], url))
					j = k;
				else
					break;
			}
			i = j;
			size_t m = sx_buf_used(&run);
			if (rc < 0 || m < LK_TOKEN_MIN || (url && !special))
				continue;
			/* Lines of one length, a multiple of four, are an encoder's
			 * block: aligned at its start, the other alignments are noise. */
			size_t shifts = block && lines >= 3 && first % 4 == 0 ? 1 : 4;
			for (size_t shift = 0; shift < shifts && rc == 0; shift++) {
				sx_buf_reset(&out, SIZE_MAX);
				rc = sx_b64_decode(sx_buf_head(&run) + shift, m - shift, url, &out,
						   NULL);
				if (rc == 0 && sx_buf_used(&out))
					rc = view_buf(x, &out, url ? "url-base64-token" : "base64-token",
						      token_flags(head(&out), sx_buf_used(&out)),
						      tdepth + 1);
			}
		}
	}
	sx_buf_finish(&run);
	sx_buf_finish(&out);
	return dec_err(x, rc);
}

/* HTML as shown: comments and tags removed, then references decoded. */
static int render(const uint8_t *p, size_t n, struct sx_buf *out)
{
	struct sx_buf t;
	size_t i = 0, s = 0;
	int rc = 0;

	sx_buf_init(&t, n);
	while (i < n && rc == 0) {
		size_t skip = 0;
		if (p[i] == '<' && i + 3 < n && memcmp(p + i, "<!--", 4) == 0) {
			const uint8_t *e = memmem(p + i + 4, n - i - 4, "-->", 3);
			skip = e ? (size_t)(e + 3 - (p + i)) : n - i;
		} else if (p[i] == '<' && i + 1 < n &&
			   (((p[i + 1] | 0x20) >= 'a' && (p[i + 1] | 0x20) <= 'z') ||
			    p[i + 1] == '/' || p[i + 1] == '!' || p[i + 1] == '?')) {
			const uint8_t *e = memchr(p + i, '>', n - i);
			skip = e ? (size_t)(e + 1 - (p + i)) : n - i;
		}
		if (!skip) {
			i++;
			continue;
		}
		rc = sx_buf_append(&t, p + s, i - s);
		i += skip;
		s = i;
	}
	if (rc == 0)
		rc = sx_buf_append(&t, p + s, n - s);
	if (rc == 0)
		rc = sx_html_decode(head(&t), sx_buf_used(&t), out);
	sx_buf_finish(&t);
	return rc;
}

/* URL escapes and HTML references, each alone and both in either order. */
static int derive(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags, unsigned tdepth)
{
	struct sx_buf a, b;
	int rc = 0;

	sx_buf_init(&a, out_max(n));
	sx_buf_init(&b, out_max(n));
	if (has_pct(p, n)) {
		rc = sx_pct_decode(p, n, &a);
		/* escaped ISO-2022-JP (RFC 2231 values, URLs) is read as such */
		if (rc == 0)
			rc = view_buf(x, &a, "url-decoded",
				      LK_V_TOKENS | (memchr(head(&a), 0x1B, sx_buf_used(&a))
							     ? LK_V_CONVERT : 0u), tdepth);
		if (rc == 0 && has_ref(head(&a), sx_buf_used(&a))) {
			rc = sx_html_decode(head(&a), sx_buf_used(&a), &b);
			if (rc == 0 && !same(&b, head(&a), sx_buf_used(&a)))
				rc = view_buf(x, &b, "url-decoded → html-decoded", LK_V_TOKENS,
					      tdepth);
		}
	}
	sx_buf_reset(&a, 0);
	sx_buf_reset(&b, 0);
	if (rc == 0 && has_ref(p, n)) {
		rc = sx_html_decode(p, n, &a);
		if (rc == 0 && !same(&a, p, n)) {
			rc = view_buf(x, &a, "html-decoded", LK_V_TOKENS, tdepth);
			if (rc == 0 && has_pct(head(&a), sx_buf_used(&a))) {
				rc = sx_pct_decode(head(&a), sx_buf_used(&a), &b);
				if (rc == 0)
					rc = view_buf(x, &b, "html-decoded → url-decoded",
						      LK_V_TOKENS, tdepth);
			}
		}
	}
	sx_buf_reset(&a, 0);
	if (rc == 0 && (flags & LK_V_HTML) && memchr(p, '<', n)) {
		rc = render(p, n, &a);
		if (rc == 0 && !same(&a, p, n))
			rc = view_buf(x, &a, "html-rendered", LK_V_TOKENS, tdepth);
	}
	sx_buf_finish(&a);
	sx_buf_finish(&b);
	return dec_err(x, rc);
}

/*
 * The bytes read as text: in the declared charset, and in UTF-8, CP932,
 * EUC-JP and ISO-2022-JP wherever that can change anything (8-bit bytes for
 * the first three, an escape for the last). A reading with few replacement
 * characters is a plausible text and gets its escapes decoded as well.
 */
static int convert(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags, unsigned tdepth)
{
	const char *labels[5] = { x->charset, "utf-8", "cp932", "euc-jp", "iso-2022-jp" };
	const char *names[5] = { NULL };
	int has8 = 0, esc = memchr(p, 0x1B, n) != NULL;
	int valid = sx_utf8_valid(p, n);
	struct sx_buf out;
	int rc = 0;

	for (size_t i = 0; i < n && !has8; i++)
		has8 = p[i] >= 0x80;
	sx_buf_init(&out, out_max(n));
	for (size_t i = 0; i < 5 && rc == 0 && !x->found && !x->over; i++) {
		const char *label = labels[i];
		if (!label || !label[0] || !(names[i] = sx_charset_iconv_name(label)))
			continue;
		int dup = 0;
		for (size_t k = 0; k < i; k++)
			dup |= names[k] && strcmp(names[k], names[i]) == 0;
		if (dup || (i == 1 && (!has8 || valid)) || ((i == 2 || i == 3) && !has8) ||
		    (i == 4 && !esc))
			continue;
		size_t bad = 0;
		sx_buf_reset(&out, SIZE_MAX);
		rc = sx_charset_to_utf8(label, p, n, &out, &bad);
		if (rc == SX_EINVAL) {
			rc = 0; /* iconv lacks it here: nothing to read it with */
			continue;
		}
		if (rc < 0)
			break;
		if (same(&out, p, n))
			continue;
		char step[LK_LABEL_MAX + 8];
		if (i == 0)
			sx_lk_label(x, (const uint8_t *)label, strlen(label), step, sizeof step);
		else
			snprintf(step, sizeof step, "%s", label);
		unsigned f = LK_V_TOKENS;
		if (bad * 16 <= sx_buf_used(&out))
			f |= LK_V_DERIVE | (flags & LK_V_HTML);
		rc = view_buf(x, &out, step, f, tdepth);
	}
	sx_buf_finish(&out);
	return dec_err(x, rc);
}

static size_t chain_push(struct lk_ctx *x, const char *step)
{
	size_t mark = x->clen;
	int w = snprintf(x->chain + x->clen, sizeof x->chain - x->clen, "%s%s",
			 x->clen ? " → " : "", step);
	if (w > 0)
		x->clen += (size_t)w < sizeof x->chain - x->clen ? (size_t)w
								 : sizeof x->chain - 1 - x->clen;
	return mark;
}

static void chain_pop(struct lk_ctx *x, size_t mark)
{
	x->clen = mark;
	x->chain[mark] = '\0';
}

static int view(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags, unsigned tdepth)
{
	int rc = 0;

	if (n > x->work_max - x->work) {
		too_much(x);
		return 0;
	}
	x->work += n;

	unsigned sf = 0;
	if (flags & LK_V_LONGONLY)
		sf = S_LONG;
	else if (texty(p, n) && !sx_lk_b64block(p, n))
		sf = S_SHORT;
	long k = search(&x->ac, p, n, sf);
	if (k >= 0) {
		found(x, k);
		return 0;
	}
	if (!flags || (flags & LK_V_LONGONLY))
		return 0;

	if (has_normalizable(p, n)) {
		uint8_t *q = malloc(n);
		if (!q)
			return SX_ENOMEM;
		rc = sx_lk_view(x, q, normalize(p, n, q), "full-width/invisible folded",
				flags & ~(unsigned)LK_V_CONVERT, tdepth);
		free(q);
	}
	if (rc == 0 && (flags & LK_V_TOKENS) && tdepth < LK_TOKEN_DEPTH)
		rc = tokens(x, p, n, tdepth);
	if (rc == 0 && (flags & LK_V_DERIVE))
		rc = derive(x, p, n, flags, tdepth);
	if (rc == 0 && (flags & LK_V_CONVERT))
		rc = convert(x, p, n, flags, tdepth);
	return rc;
}

int sx_lk_view(struct lk_ctx *x, const uint8_t *p, size_t n, const char *step, unsigned flags,
	       unsigned tdepth)
{
	if (x->found || x->over)
		return 0;
	size_t mark = chain_push(x, step);
	int rc = view(x, p, n, flags, tdepth);
	chain_pop(x, mark);
	return rc;
}
