/*
 * redact_search.c: the identifiers as searched, and the search itself.
 *
 * Matching is ASCII case-insensitive for every kind (DESIGN §2: every
 * occurrence, case-insensitively; a name written "TARO YAMADA" names the
 * same person) and sees full-width ASCII as ASCII, on both sides, so that
 * "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ" is the address it looks like. Identifiers
 * shorter than SX_IDENT_SHORT bytes match whole words only. Characters a
 * reader does not see (soft hyphen, zero widths) inside a match are skipped.
 *
 * Bytes are not always UTF-8 where they are searched: a URL escape or a
 * base64 token decodes to whatever charset its writer used, and text with
 * no charset is searched as it is. So every identifier is also searched in
 * its Shift_JIS (CP932), EUC-JP, ISO-2022-JP and UTF-16 forms, and replaced
 * by the placeholder in the same form.
 */
#include <stdlib.h>
#include <string.h>

#include "charset.h"
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
	return sx_rx_invisible_at(t, n, i);
}

size_t sx_rx_invisible_at(const uint8_t *t, size_t n, size_t i)
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

/* Forms of an identifier besides UTF-8: how other charsets store it. */
enum {
	FORM_UTF8 = 0,
	FORM_CP932,
	FORM_EUCJP,
	FORM_JIS,     /* ISO-2022-JP from its first escape, without the return */
	FORM_UTF16LE,
	FORM_UTF16BE,
	FORMS,
};

static int cmp_needle(const void *a, const void *b)
{
	const struct rx_needle *x = a, *y = b;
	if ((x->form != FORM_UTF8) != (y->form != FORM_UTF8))
		return x->form == FORM_UTF8 ? -1 : 1;
	if (x->s[0] != y->s[0])
		return x->s[0] < y->s[0] ? -1 : 1;
	/* longer first, so an address is tried before its local part */
	return x->n > y->n ? -1 : x->n < y->n;
}

/* UTF-16 of UTF-8 s (big-endian when be) into out; 0 when it does not fit. */
static size_t utf16(const uint8_t *s, size_t n, int be, uint8_t *out, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp = s[i];
		size_t k = 1;
		if (cp >= 0xf0 && i + 3 < n) {
			cp = (cp & 7u) << 18 | (s[i + 1] & 63u) << 12 | (s[i + 2] & 63u) << 6 |
			     (s[i + 3] & 63u);
			k = 4;
		} else if (cp >= 0xe0 && i + 2 < n) {
			cp = (cp & 15u) << 12 | (s[i + 1] & 63u) << 6 | (s[i + 2] & 63u);
			k = 3;
		} else if (cp >= 0xc0 && i + 1 < n) {
			cp = (cp & 31u) << 6 | (s[i + 1] & 63u);
			k = 2;
		}
		i += k;
		uint16_t u[2] = { (uint16_t)cp, 0 };
		size_t un = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			u[0] = (uint16_t)(0xd800 + (cp >> 10));
			u[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
			un = 2;
		}
		for (size_t j = 0; j < un; j++) {
			if (o + 2 > max)
				return 0;
			out[o++] = (uint8_t)(be ? u[j] >> 8 : u[j]);
			out[o++] = (uint8_t)(be ? u[j] : u[j] >> 8);
		}
	}
	return o;
}

/* The identifier s (folded UTF-8) in form f into out; 0 when it has none. */
static size_t in_form(int f, const uint8_t *s, size_t n, uint8_t *out, size_t max)
{
	static const char *const cs[] = { NULL, "cp932", "euc-jp", "iso-2022-jp" };
	struct sx_buf b;
	size_t o = 0;
	sx_buf_init(&b, max);
	if (f == FORM_UTF16LE || f == FORM_UTF16BE) {
		o = utf16(s, n, f == FORM_UTF16BE, out, max);
	} else if (sx_charset_from_utf8(cs[f], s, n, &b) == 0) {
		const uint8_t *p = sx_buf_head(&b);
		o = sx_buf_used(&b);
		const uint8_t *esc = memchr(p, 0x1b, o);
		if (f == FORM_JIS) {
			/* from the first escape; the return to ASCII after the
			 * name need not follow it directly */
			size_t e = esc ? (size_t)(esc - p) : o;
			o -= e;
			memmove(out, p + e, o);
			if (o >= 3 && out[o - 3] == 0x1b && out[o - 2] == '(')
				o -= 3;
		} else {
			memcpy(out, p, o);
		}
	}
	sx_buf_finish(&b);
	/* match_at lowers the text byte by byte, every form's bytes included
	 * (太 is 59 2A in UTF-16BE): the needle must be lowered the same way */
	for (size_t i = 0; i < o; i++)
		out[i] = lower(out[i]);
	return o;
}

static int needle_add(struct rx_needles *nd, const uint8_t *s, size_t n, uint8_t kind,
		      uint8_t form, int whole)
{
	if (n == 0)
		return 0;
	for (size_t j = 0; j < nd->n; j++)
		if (nd->v[j].form == form && nd->v[j].n == n && memcmp(nd->v[j].s, s, n) == 0)
			return 0;
	struct rx_needle *k = &nd->v[nd->n++];
	memcpy(k->s, s, n);
	k->n = n;
	k->kind = kind;
	k->form = form;
	k->whole = (uint8_t)whole;
	if (n < nd->minlen)
		nd->minlen = n;
	if (form == FORM_UTF8 && n > nd->maxu)
		nd->maxu = n;
	if (form != FORM_UTF8 && n > nd->maxo)
		nd->maxo = n;
	return 0;
}

/* Marks the pair a, b (lower case) in every case the text may have it, so
 * that the scan looks the text's bytes up as they are. */
static void pair_set(uint8_t *bits, uint8_t a, uint8_t b)
{
	uint8_t as[2] = { a, a >= 'a' && a <= 'z' ? (uint8_t)(a - 32) : a };
	uint8_t bs[2] = { b, b >= 'a' && b <= 'z' ? (uint8_t)(b - 32) : b };
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 2; j++) {
			unsigned k = (unsigned)as[i] << 8 | bs[j];
			bits[k >> 3] |= (uint8_t)(1u << (k & 7));
		}
	}
}

/* The raw bytes a text may hold where a UTF-8 needle has folded byte c
 * (beside c itself): the lead of a full-width form, of U+3000. */
static size_t raw_leads(uint8_t c, uint8_t *out)
{
	size_t n = 0;
	out[n++] = c;
	if (c >= 0x21 && c <= 0x7e)
		out[n++] = 0xef;
	if (c == ' ')
		out[n++] = 0xe3;
	return n;
}

/*
 * Marks the byte pairs a match of UTF-8 needle k can start with: its first
 * character as it is, full-width or U+3000 (whose second byte is then fixed),
 * and when as it is, any raw form of its second byte or the lead of an
 * invisible character match_at skips.
 */
static void prefilter_utf8(struct rx_needles *nd, const struct rx_needle *k)
{
	uint8_t a[3], b[8] = { 0 };
	size_t na = raw_leads(k->s[0], a), nb = 0;
	if (k->n == 1)
		nd->one[k->s[0]] = 1;
	else
		nb = raw_leads(k->s[1], b);
	b[nb++] = 0xc2;
	b[nb++] = 0xe2;
	b[nb++] = 0xef;
	for (size_t i = 0; i < na; i++) {
		if (a[i] == 0xef && i > 0) {
			pair_set(nd->pair, 0xef, 0xbc);
			pair_set(nd->pair, 0xef, 0xbd);
		} else if (a[i] == 0xe3 && i > 0) {
			pair_set(nd->pair, 0xe3, 0x80);
		} else if (k->n == 1) {
			for (unsigned c = 0; c < 256; c++)
				pair_set(nd->pair, a[i], (uint8_t)c);
		} else {
			for (size_t j = 0; j < nb; j++)
				pair_set(nd->pair, a[i], b[j]);
		}
	}
}

int sx_rx_needles_init(struct rx_needles *nd, const struct sx_idset *ids)
{
	memset(nd, 0, sizeof *nd);
	nd->v = calloc(ids->n ? ids->n * FORMS : 1, sizeof *nd->v);
	if (!nd->v)
		return SX_ENOMEM;
	nd->minlen = SIZE_MAX;
	for (size_t i = 0; i < ids->n; i++) {
		const struct sx_ident *id = &ids->v[i];
		uint8_t u[SX_IDENT_LEN_MAX + 1], f[RX_NEEDLE_MAX];
		if (id->len == 0 || id->len > SX_IDENT_LEN_MAX)
			continue;
		size_t un = fold((const uint8_t *)id->text, id->len, u);
		int whole = id->len < SX_IDENT_SHORT;
		int ascii = 1;
		for (size_t k = 0; k < un; k++)
			ascii &= u[k] < 0x80;
		needle_add(nd, u, un, (uint8_t)id->kind, FORM_UTF8, whole);
		for (int form = FORM_CP932; form < FORMS; form++) {
			/* ASCII is ASCII in the Japanese charsets */
			if (ascii && form < FORM_UTF16LE)
				continue;
			size_t fn = in_form(form, u, un, f, sizeof f);
			/* two bytes are in any binary every few kilobytes */
			if (fn < RX_FORM_MIN)
				continue;
			needle_add(nd, f, fn, (uint8_t)id->kind, (uint8_t)form, whole);
		}
	}
	qsort(nd->v, nd->n, sizeof *nd->v, cmp_needle);
	size_t j = 0, nu = 0;
	while (nu < nd->n && nd->v[nu].form == FORM_UTF8)
		nu++;
	for (unsigned b = 0; b <= 256; b++) {
		while (j < nu && nd->v[j].s[0] < b)
			j++;
		nd->start[b] = j;
	}
	j = nu;
	for (unsigned b = 0; b <= 256; b++) {
		while (j < nd->n && nd->v[j].s[0] < b)
			j++;
		nd->fstart[b] = j;
	}
	for (size_t i = 0; i < nd->n; i++) {
		if (nd->v[i].form == FORM_UTF8)
			prefilter_utf8(nd, &nd->v[i]);
		else
			pair_set(nd->fpair, nd->v[i].s[0], nd->v[i].s[1]);
	}
	for (size_t i = 0; i < sizeof nd->apair; i++)
		nd->apair[i] = nd->pair[i] | nd->fpair[i];
	const uint8_t *tabs[3] = { nd->apair, nd->pair, nd->fpair };
	for (unsigned k = 0; k < 3; k++)
		for (unsigned a = 0; a < 256; a++) {
			uint64_t w[4];
			memcpy(w, tabs[k] + (a << 5), sizeof w);
			nd->lead[k][a] = (w[0] | w[1] | w[2] | w[3]) != 0;
		}
	return 0;
}

void sx_rx_needles_finish(struct rx_needles *nd)
{
	free(nd->v);
	nd->v = NULL;
	nd->n = 0;
}

/* The character of form f ending at t[i] (before) or starting at t[j]
 * (after) is a word character. */
static int word_unit(const struct rx_needle *k, const uint8_t *t, size_t n, size_t at, int before)
{
	if (k->form == FORM_UTF16LE || k->form == FORM_UTF16BE) {
		if (before ? at < 2 : at + 2 > n)
			return 0;
		const uint8_t *u = t + (before ? at - 2 : at);
		unsigned c = k->form == FORM_UTF16LE ? (unsigned)u[0] | (unsigned)u[1] << 8 :
						       (unsigned)u[0] << 8 | u[1];
		return c >= 0x80 || wordch((uint8_t)c);
	}
	/* In UTF-8 text the neighbour is what a reader sees: past characters
	 * not shown, full-width ASCII as ASCII ('ａ＠' is "a@", a word and a
	 * sign; the leak check folds them so), U+3000 and U+00A0 as blanks. */
	if (k->form == FORM_UTF8) {
		size_t v;
		if (before) {
			while ((v = at >= 3 && sx_rx_invisible_at(t, n, at - 3) == 3 ? 3
				    : at >= 2 && sx_rx_invisible_at(t, n, at - 2) == 2 ? 2 : 0) > 0)
				at -= v;
		} else {
			while (at < n && (v = sx_rx_invisible_at(t, n, at)) > 0)
				at += v;
		}
		uint8_t c;
		if (before && at >= 3 && fold_at(t, n, at - 3, &c) == 3)
			return wordch(c);
		if (!before && at < n && fold_at(t, n, at, &c) == 3)
			return wordch(c);
		const uint8_t *nb = before ? t + at - 2 : t + at;
		if ((before ? at >= 2 : at + 2 <= n) && nb[0] == 0xc2 && nb[1] == 0xa0)
			return 0;
	}
	if (before ? at == 0 : at >= n)
		return 0;
	return wordch(t[before ? at - 1 : at]);
}

/* Length in t of a match of k at i, 0 when none. */
static size_t match_at(const struct rx_needle *k, const uint8_t *t, size_t n, size_t i)
{
	size_t j = i, skip;
	if (k->form != FORM_UTF8) {
		if (n - i < k->n)
			return 0;
		for (size_t m = 0; m < k->n; m++)
			if (lower(t[i + m]) != k->s[m])
				return 0;
		j = i + k->n;
	} else {
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
	}
	if (k->whole && (word_unit(k, t, n, i, 1) || word_unit(k, t, n, j, 0)))
		return 0;
	return j - i;
}

/* The placeholder as the matched form would hold it. */
static size_t placeholder(const struct rx_needle *k, uint8_t *out, size_t max)
{
	const char *ph = k->kind == SX_ID_ADDRESS ? SX_REDACTED_ADDRESS : SX_REDACTED_TEXT;
	size_t n = strlen(ph), o = 0;
	if (k->form == FORM_UTF16LE || k->form == FORM_UTF16BE)
		return utf16((const uint8_t *)ph, n, k->form == FORM_UTF16BE, out, max);
	if (k->form == FORM_JIS) {
		/* the text goes on in the double-byte set the match started */
		memcpy(out, "\x1b(B", 3);
		memcpy(out + 3, ph, n);
		memcpy(out + 3 + n, "\x1b$B", 3);
		return n + 6;
	}
	memcpy(out + o, ph, n);
	return n;
}

/* What one scan looks for and where its matches go. */
struct scan {
	const struct rx_needles *nd;
	int utf8, others;     /* which needles */
	size_t minlen;        /* shortest needle tried */
	uint8_t enc;
	struct rx_edits *fu;  /* matches of UTF-8 needles; NULL: set hit instead */
	struct rx_edits *fo;  /* of the others */
	int hit;
};

/* Tries the needles of bucket [k0, k1) at t[i]. */
static int try_bucket(struct scan *sc, size_t k0, size_t k1, const uint8_t *t, size_t n, size_t i,
		      struct rx_edits *found)
{
	int rc = 0;
	for (size_t k = k0; k < k1 && rc == 0; k++) {
		const struct rx_needle *nk = &sc->nd->v[k];
		if (nk->n < sc->minlen)
			continue;
		size_t len = match_at(nk, t, n, i);
		if (len == 0)
			continue;
		if (!found) {
			sc->hit = 1;
			return 0;
		}
		uint8_t ph[2 * sizeof SX_REDACTED_ADDRESS + 8];
		size_t pn = placeholder(nk, ph, sizeof ph);
		int addr = nk->kind == SX_ID_ADDRESS;
		rc = sx_rx_edits_add(found, i, len, ph, pn, 1, nk->kind, sc->enc, (uint8_t)addr);
	}
	return rc;
}

static int bit(const uint8_t *bits, unsigned key)
{
	return bits[key >> 3] & (1u << (key & 7));
}

/* Every match that starts in t[i0, i1), t being n bytes, in one pass for
 * both kinds of needle. */
static int search_in(struct scan *sc, const uint8_t *t, size_t n, size_t i0, size_t i1)
{
	const struct rx_needles *nd = sc->nd;
	unsigned which = sc->utf8 && sc->others ? 0 : sc->utf8 ? 1 : 2;
	const uint8_t *bits = which == 0 ? nd->apair : which == 1 ? nd->pair : nd->fpair;
	const uint8_t *lead = nd->lead[which];
	int rc = 0;
	/* where a byte pair can be looked up, no pair may start a match: the
	 * scan runs over such stretches alone, first over the bytes no pair
	 * starts with (four at a time), then the pair */
	size_t pairs = i1 < n ? i1 : n > 0 ? n - 1 : 0;
	for (size_t i = i0; i < i1 && rc == 0 && !sc->hit; i++) {
		for (;;) {
			while (i + 4 <= pairs &&
			       !(lead[t[i]] | lead[t[i + 1]] | lead[t[i + 2]] | lead[t[i + 3]]))
				i += 4;
			while (i < pairs && !lead[t[i]])
				i++;
			if (i >= pairs || bit(bits, (unsigned)t[i] << 8 | t[i + 1]))
				break;
			i++;
		}
		if (i >= i1)
			break;
		unsigned key = 0;
		if (i + 1 < n) {
			key = (unsigned)t[i] << 8 | t[i + 1];
			if (!bit(bits, key))
				continue;
		} else if (!sc->utf8 || !nd->one[lower(t[i])]) {
			continue;
		}
		uint8_t c = lower(t[i]);
		if (sc->utf8 && (i + 1 >= n || bit(nd->pair, key))) {
			uint8_t f;
			fold_at(t, n, i, &f);
			rc = try_bucket(sc, nd->start[f], nd->start[f + 1], t, n, i, sc->fu);
		}
		if (rc == 0 && !sc->hit && sc->others && i + 1 < n && bit(nd->fpair, key))
			rc = try_bucket(sc, nd->fstart[c], nd->fstart[c + 1], t, n, i, sc->fo);
	}
	return rc;
}

int sx_rx_search(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		 struct rx_edits *out)
{
	return sx_rx_search_forms(nd, t, n, enc, 1, 1, 0, out);
}

int sx_rx_search_forms(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		       int utf8, int others, size_t minlen, struct rx_edits *out)
{
	struct rx_edits fu, fo;
	int rc;

	if (nd->n == 0 || n < nd->minlen || (!utf8 && !others))
		return 0;
	sx_rx_edits_init(&fu);
	sx_rx_edits_init(&fo);
	struct scan sc = { nd, utf8, others, minlen, enc, &fu, &fo, 0 };
	rc = search_in(&sc, t, n, 0, n);
	/* UTF-8 matches first, then the other forms' */
	if (rc == 0)
		rc = sx_rx_edits_move(&fu, &fo);
	if (rc == 0) {
		sx_rx_edits_select(&fu);
		rc = sx_rx_edits_move(out, &fu);
	}
	sx_rx_edits_finish(&fu);
	sx_rx_edits_finish(&fo);
	return rc;
}

int sx_rx_search_win(const struct rx_needles *nd, const uint8_t *t, size_t n, uint8_t enc,
		     const size_t *wu, size_t nwu, const size_t *wo, size_t nwo,
		     struct rx_edits *out)
{
	struct rx_edits found;
	int rc = 0;

	if (nd->n == 0 || n < nd->minlen)
		return 0;
	sx_rx_edits_init(&found);
	struct scan su = { nd, 1, 0, 0, enc, &found, NULL, 0 };
	struct scan so = { nd, 0, 1, 0, enc, NULL, &found, 0 };
	for (size_t w = 0; w < nwu && rc == 0; w++)
		rc = search_in(&su, t, n, wu[2 * w], wu[2 * w + 1] < n ? wu[2 * w + 1] : n);
	for (size_t w = 0; w < nwo && rc == 0; w++)
		rc = search_in(&so, t, n, wo[2 * w], wo[2 * w + 1] < n ? wo[2 * w + 1] : n);
	if (rc == 0) {
		sx_rx_edits_select(&found);
		rc = sx_rx_edits_move(out, &found);
	}
	sx_rx_edits_finish(&found);
	return rc;
}

int sx_rx_hit(const struct rx_needles *nd, const uint8_t *t, size_t n)
{
	if (nd->n == 0 || n < nd->minlen)
		return 0;
	struct scan sc = { nd, 1, 1, 0, RX_ENC_RAW, NULL, NULL, 0 };
	search_in(&sc, t, n, 0, n);
	return sc.hit;
}

/* The start of the window for UTF-8 needles before a dirty span at a: back
 * over as many characters as the longest needle has bytes, a full-width
 * character (which one needle byte matches) as three bytes. */
size_t sx_rx_back(const struct rx_needles *nd, const uint8_t *t, size_t a)
{
	for (size_t k = 0; k < nd->maxu && a > 0; k++) {
		if (a >= 3 && ((t[a - 3] == 0xef && (t[a - 2] == 0xbc || t[a - 2] == 0xbd)) ||
			       (t[a - 3] == 0xe3 && t[a - 2] == 0x80 && t[a - 1] == 0x80)))
			a -= 3;
		else
			a--;
	}
	return a;
}

int sx_rx_invisible(const uint8_t *t, size_t n)
{
	/* only these bytes start an invisible character: each looked for on
	 * its own (memchr), which beats a test of every byte (memmem is no
	 * faster: glibc's is not vectorised for short needles) */
	static const uint8_t leads[] = { 0xc2, 0xe2, 0xef };
	if (n == 0)
		return 0;
	for (size_t k = 0; k < sizeof leads; k++) {
		const uint8_t *p = memchr(t, leads[k], n);
		while (p) {
			size_t i = (size_t)(p - t);
			if (invisible_at(t, n, i) > 0)
				return 1;
			p = i + 1 < n ? memchr(p + 1, leads[k], n - i - 1) : NULL;
		}
	}
	return 0;
}
