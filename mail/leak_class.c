/*
 * leak_class.c: what a view of the leak check is made of, in one pass.
 *
 * Every view is looked at for the same things before it is searched and
 * turned into further views: control and replacement characters (is it
 * text?), the base64 alphabet (is it a block of base64?), full-width and
 * invisible characters (is there anything to fold?), 8-bit bytes, escapes,
 * '%' and '&' escapes, tags and format=flowed line ends. One table-driven
 * pass over the bytes finds them all (struct lk_prof); the rules are the
 * same as when each was a pass of its own.
 */
#include <string.h>

#include "charset.h"
#include "leak_impl.h"

/*
 * Byte classes (LK_C_*): the base64 alphabets, '=', blanks, line ends, and
 * the bytes that need a closer look (LK_C_RARE): control characters (C0 but
 * tab, line ends, form feed and ESC; DEL), ESC, '%', '&', '<', and the lead
 * bytes of full-width, invisible and replacement characters (C2, E2, E3, EF).
 */
#define CLS_ROWS(X) \
	X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) \
	X(0x40) X(0x10) X(0x20) X(0x40) X(0x00) X(0x20) X(0x40) X(0x40) \
	X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) \
	X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) X(0x40) \
	X(0x10) X(0x00) X(0x00) X(0x00) X(0x00) X(0x40) X(0x40) X(0x00) \
	X(0x00) X(0x00) X(0x00) X(0x01) X(0x00) X(0x06) X(0x00) X(0x01) \
	X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x00) X(0x00) X(0x40) X(0x08) X(0x00) X(0x00) \
	X(0x00) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x00) X(0x00) X(0x00) X(0x00) X(0x06) \
	X(0x00) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) X(0x03) \
	X(0x03) X(0x03) X(0x03) X(0x00) X(0x00) X(0x00) X(0x00) X(0x40) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0xc0) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0xc0) X(0xc0) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0xc0) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) X(0x80) \
	/* end */

#define CLS_BYTE(c) c,
const uint8_t sx_lk_cls[256] = { CLS_ROWS(CLS_BYTE) };

/*
 * The same table as what a byte adds to a profile: base64 alphabet or '='
 * (bit 0), blank (16), 8-bit (32), '-' or '_' (48); bit 63 says the byte
 * needs a closer look (a line end, or LK_C_RARE). sx_lk_profile reads the
 * last bytes of a view (fewer than sixteen) through it, and compares every
 * other block of sixteen with the same sets of bytes.
 */
#define INC_SLOW ((uint64_t)1 << 63)
#define CLS_INC(c)                                                                              \
	((uint64_t)(((c) & (LK_C_B64 | LK_C_URL | LK_C_PAD)) != 0) |                            \
	 (uint64_t)(((c) & LK_C_BLANK) != 0) << 16 | (uint64_t)(((c) & LK_C_HIGH) != 0) << 32 | \
	 (uint64_t)(((c) & LK_C_URLSPEC) != 0) << 48 |                                          \
	 (((c) & (LK_C_EOL | LK_C_RARE)) ? INC_SLOW : 0)),
static const uint64_t cls_inc[256] = { CLS_ROWS(CLS_INC) };
/*
 * Flipped in that table for the profile: E3 leads kana, kanji punctuation
 * and U+3000 (E3 80 80), the one of them that counts (norm); that is found
 * at its last byte instead, so the bytes of Japanese text take the fast way.
 */
static const uint64_t inc_flip[256] = { [0x80] = INC_SLOW, [0xE3] = INC_SLOW };


/* ---- full-width and invisible characters ---- */

/* Length of a full-width ASCII character (U+FF01..U+FF5E), U+3000 or U+00A0
 * at p[i], 0 when none; *c gets its ASCII. */
static size_t fw_at(const uint8_t *p, size_t n, size_t i, uint8_t *c)
{
	if (i + 2 <= n && p[i] == 0xC2 && p[i + 1] == 0xA0) {
		*c = ' '; /* no-break space: shown as a blank */
		return 2;
	}
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

/*
 * Whether p[i] may start what fw_at or invisible_at takes (a byte after the
 * lead tells most apart at once: kana and kanji after E3, half-width kana
 * after EF, punctuation after E2, Latin-1 after C2 are none of them).
 */
static int fold_lead(const uint8_t *p, size_t n, size_t i)
{
	uint8_t b = i + 1 < n ? p[i + 1] : 0;
	switch (p[i]) {
	case 0xC2:
		return b == 0xA0 || b == 0xAD;
	case 0xE2:
		return b == 0x80 || b == 0x81;
	case 0xE3:
		return b == 0x80;
	case 0xEF:
		return b == 0xBB || b == 0xBC || b == 0xBD;
	default:
		return 0;
	}
}

/* Blocks of sixteen counted in lanes of a byte before they are emptied. */
#define LK_V16_BLOCKS 255u

/*
 * Where fold_lead may hold first, at or after i: sixteen bytes at a time, a
 * lead and the byte after it compared at once (the scan of sx_lk_normalize
 * goes on from there byte by byte, as before).
 */
/* The lanes of v where fold_lead holds but for E3 (b: the bytes after v's). */
#define FOLD_LEADS(v, b)                                                    \
	((sx_v16)((((v) == 0xC2) & (((b) == 0xA0) | ((b) == 0xAD))) |          \
		  (((v) == 0xE2) & (((b) | 1) == 0x81)) /* 80 or 81 */ |       \
		  (((v) == 0xEF) & ((sx_v16)((b) - 0xBB) < 3)) /* BB to BD */))

static size_t fold_next(const uint8_t *p, size_t n, size_t i)
{
	while (n - i >= 17) {
		sx_v16 v, b;
		memcpy(&v, p + i, 16);
		memcpy(&b, p + i + 1, 16);
		sx_v16 c = FOLD_LEADS(v, b) | (sx_v16)((v == 0xE3) & (b == 0x80));
		unsigned m = sx_v16_mask(c);
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
	return i;
}

size_t sx_lk_normalize(const uint8_t *p, size_t n, uint8_t *out, uint8_t *mark, size_t *chg,
		       size_t *nchg)
{
	size_t o = 0, k;
	int first = 0; /* a character dropped before any byte was written */
	uint8_t c;
	for (size_t i = 0; i < n;) {
		/* every byte up to the next C2, E2, E3 or EF as it is */
		size_t j = fold_next(p, n, i);
		while (j < n && ((sx_lk_cls[p[j]] & (LK_C_RARE | LK_C_HIGH)) != (LK_C_RARE | LK_C_HIGH) ||
				 !fold_lead(p, n, j)))
			j++;
		if (j > i) {
			memcpy(out + o, p + i, j - i);
			if (mark)
				memset(mark + o, 0, j - i);
			o += j - i;
			i = j;
			continue;
		}
		if ((k = fw_at(p, n, i, &c))) {
			if (mark)
				mark[o] = 1;
			out[o++] = c;
			i += k;
			if (chg)
				chg[2 * *nchg] = o, chg[2 * *nchg + 1] = i, ++*nchg;
		} else if ((k = invisible_at(p, n, i))) {
			/* dropped: the byte before it is marked (leak_window.c) */
			if (mark && o > 0)
				mark[o - 1] = 1;
			first |= o == 0;
			i += k;
			if (chg)
				chg[2 * *nchg] = o, chg[2 * *nchg + 1] = i, ++*nchg;
		} else {
			if (mark)
				mark[o] = 0;
			out[o++] = p[i++];
		}
	}
	if (mark && first && o > 0)
		mark[0] = 1;
	return o;
}

/* ---- the profile ---- */

static int hexd(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A byte of class LK_C_RARE at p[i]: what it adds to f. */
static void rare(const uint8_t *p, size_t n, size_t i, struct lk_prof *f)
{
	uint8_t c = p[i], a;
	switch (c) {
	case 0x1B:
		f->esc++;
		return;
	case '%':
		f->pct += i + 2 < n && hexd(p[i + 1]) && hexd(p[i + 2]);
		return;
	case '&':
		f->ref += i + 1 < n && (p[i + 1] == '#' || lk_wordch(p[i + 1]));
		return;
	case '<':
		f->lt++;
		return;
	case 0xC2: case 0xE2: case 0xE3: case 0xEF:
		if (fold_lead(p, n, i))
			f->norm += fw_at(p, n, i, &a) || invisible_at(p, n, i);
		if (c == 0xEF && i + 2 < n && p[i + 1] == 0xBF && p[i + 2] == 0xBD)
			f->fffd++;
		return;
	default:
		f->ctrl++; /* the table marks no other byte */
		return;
	}
}

/*
 * What a byte the count tables call slow (a line end, LK_C_RARE, 0x80 with
 * E3 the other way round) adds to f besides its counts: line lengths and
 * ends, format=flowed, and rare()'s counts. i is in order over p.
 */
static void slow_byte(const uint8_t *p, size_t n, size_t i, struct lk_prof *f, size_t *start,
		      size_t *longest)
{
	if (p[i] == 0x80) {
		/* U+3000 ends here: what rare() counts at its E3 */
		f->norm += i >= 2 && p[i - 1] == 0x80 && p[i - 2] == 0xE3;
		return;
	}
	if (sx_lk_cls[p[i]] & LK_C_EOL) {
		if (i - *start > *longest)
			*longest = i - *start;
		*start = i + 1;
		f->ends++;
		/* a blank before a line end: format=flowed */
		if (i > 0 && p[i - 1] == ' ' && (p[i] == '\n' || (i + 1 < n && p[i + 1] == '\n')))
			f->flowed++;
		return;
	}
	rare(p, n, i, f);
}

static size_t v16_sum(sx_v16 v)
{
	size_t s = 0;
	for (int k = 0; k < 16; k++)
		s += v[k];
	return s;
}

void sx_lk_profile(const uint8_t *p, size_t n, struct lk_prof *f)
{
	size_t start = 0, longest = 0, alpha = 0, blank = 0, high = 0, spec = 0, i = 0;

	memset(f, 0, sizeof *f);
	/*
	 * The counts of every byte, slow or not (a slow byte's count bits are
	 * its class's, as in cls_inc), sixteen bytes at once; a block with a
	 * slow byte in it is then walked for what those add. A lead C2, E2 or
	 * EF adds something only where fold_lead holds, or as the start of
	 * U+FFFD (EF BF BD, counted here): the bytes after each block are read
	 * with it to tell, and only those leads are walked.
	 */
	while (n - i >= 18) {
		sx_v16 ca = { 0 }, cb = { 0 }, ch = { 0 }, cs = { 0 }, cf = { 0 };
		for (unsigned k = 0; k < LK_V16_BLOCKS && n - i >= 18; k++, i += 16) {
			sx_v16 v, b, b2, lo;
			memcpy(&v, p + i, 16);
			memcpy(&b, p + i + 1, 16);
			memcpy(&b2, p + i + 2, 16);
			lo = v | 0x20;
			/* a comparison gives 0 or all ones (-1): subtracting counts */
			sx_v16 spc = (sx_v16)((v == '-') | (v == '_'));
			sx_v16 al = (sx_v16)(((sx_v16)(lo - 'a') < 26) | ((sx_v16)(v - '0') < 10) |
					     (v == '+') | (v == '/') | (v == '=')) | spc;
			sx_v16 bl = (sx_v16)((v == ' ') | (v == '\t'));
			sx_v16 hi = (sx_v16)(v >= 0x80);
			sx_v16 slow = (sx_v16)(((v < 0x20) & (v != '\t') & (v != '\f')) | (v == '%') |
					       (v == '&') | (v == '<') | (v == 0x7F) | (v == 0x80)) |
				      FOLD_LEADS(v, b);
			ca -= al;
			cb -= bl;
			ch -= hi;
			cs -= spc;
			cf -= (sx_v16)((v == 0xEF) & (b == 0xBF) & (b2 == 0xBD));
			for (unsigned m = sx_v16_mask(slow); m; m &= m - 1)
				slow_byte(p, n, i + (size_t)__builtin_ctz(m), f, &start, &longest);
		}
		alpha += v16_sum(ca);
		blank += v16_sum(cb);
		high += v16_sum(ch);
		spec += v16_sum(cs);
		f->fffd += v16_sum(cf);
	}
	/* the last bytes one by one, from the tables */
	for (; i < n; i++) {
		uint64_t v = cls_inc[p[i]] ^ inc_flip[p[i]];
		alpha += v & 1;
		blank += v >> 16 & 1;
		high += v >> 32 & 1;
		spec += v >> 48 & 1;
		if (v & INC_SLOW)
			slow_byte(p, n, i, f, &start, &longest);
	}
	f->longest = n - start > longest ? n - start : longest;
	f->alpha = alpha;
	f->blank = blank;
	f->other = n - f->ends - alpha - blank;
	f->has8 = high;
	f->urlspec = spec;
	f->valid = -1;
}

int sx_lk_prof_b64block(const struct lk_prof *f)
{
	if (f->alpha < 40 || (f->blank + f->other) * 50 > f->alpha)
		return 0;
	return f->longest == LK_UNKNOWN ? -1 : f->longest >= 40;
}

/* The counts of f with m taken out and a put in. */
static void prof_move(struct lk_prof *f, const struct lk_prof *m, const struct lk_prof *a)
{
#define MOVE(k) f->k = f->k - m->k + a->k
	MOVE(ctrl);
	MOVE(fffd);
	MOVE(alpha);
	MOVE(blank);
	MOVE(other);
	MOVE(ends);
	MOVE(has8);
	MOVE(esc);
	MOVE(pct);
	MOVE(ref);
	MOVE(lt);
	MOVE(norm);
	MOVE(flowed);
	MOVE(urlspec);
#undef MOVE
}

void sx_lk_prof_derive(struct lk_prof *f, const struct lk_prof *pf, const uint8_t *x, size_t n,
		       const struct lk_wins *w, const uint8_t *p, const struct lk_wins *wp)
{
	/* windows start and end at characters: with p valid, x's decide */
	int valid = pf->valid == 1;

	*f = *pf;
	for (size_t k = 0; k < w->n; k++) {
		struct lk_prof m, a;
		size_t xa = w->v[2 * k], xb = w->v[2 * k + 1];
		sx_lk_profile(p + wp->v[2 * k], wp->v[2 * k + 1] - wp->v[2 * k], &m);
		sx_lk_profile(x + xa, xb - xa, &a);
		prof_move(f, &m, &a);
		if (valid && a.has8)
			valid = sx_utf8_valid(x + xa, xb - xa);
	}
	f->longest = LK_UNKNOWN;
	f->valid = valid ? 1 : -1;
	(void)n;
}

int sx_lk_prof_valid(struct lk_prof *f, const uint8_t *p, size_t n)
{
	if (f->valid < 0)
		f->valid = !f->has8 || sx_utf8_valid(p, n);
	return f->valid;
}

int sx_lk_prof_texty(struct lk_prof *f, const uint8_t *p, size_t n)
{
	return (f->ctrl + f->fffd) * 32 <= n && sx_lk_prof_valid(f, p, n);
}

int sx_lk_b64block(const uint8_t *p, size_t n)
{
	struct lk_prof f;
	sx_lk_profile(p, n, &f);
	return sx_lk_prof_b64block(&f);
}

/* An encoder writes '=' only as padding, at the end of its data: '=' with
 * more of the alphabet after it (quoted-printable's =E3=81, a URL's query)
 * is not its work. */
static int pad_inside(const uint8_t *p, size_t n)
{
	for (const uint8_t *q = p; (q = memchr(q, '=', n - (size_t)(q - p))); q++) {
		if ((size_t)(q - p) + 1 < n && q[1] != '=' &&
		    (sx_lk_cls[q[1]] & (LK_C_B64 | LK_C_URL)))
			return 1;
	}
	return 0;
}

int sx_lk_looks_b64(const uint8_t *p, size_t n)
{
	struct lk_prof f;
	sx_lk_profile(p, n, &f);
	return f.alpha >= 16 && f.blank * 100 <= f.alpha && f.other * 20 <= f.alpha &&
	       !pad_inside(p, n);
}

/* Whether p[i] starts a Q encoded-word ("=?charset?Q?", the label
 * LK_CHARSET_MAX characters at most, as the redactor's guess takes it). */
static int q_word_at(const uint8_t *p, size_t n, size_t i)
{
	if (i + 1 >= n || p[i + 1] != '?')
		return 0;
	size_t cs = i + 2, k = cs;
	while (k < n && k - cs < LK_CHARSET_MAX && p[k] != '?' && p[k] > ' ' && p[k] < 0x7F)
		k++;
	return k > cs && k + 2 < n && p[k] == '?' && (p[k + 1] | 0x20) == 'q' && p[k + 2] == '?';
}

/*
 * A quoted-printable encoder writes '=' only to start an escape or a soft
 * break, '=' itself as =3D: a line with any other '=' (a URL's query, "a =
 * b") is none of its output, and an escape there is chance ("campaign=c7").
 * An encoded-word's delimiters ("=?", "?=") do not count: its Q text is
 * quoted-printable too (a header line quoted in a body). A line that an
 * encoder could have written and that holds an escape or a soft break marks
 * the text, and so does a Q encoded-word anywhere; it is then decoded whole,
 * every escape in it. One pass over the '=' of p.
 */
int sx_lk_looks_qp(const uint8_t *p, size_t n)
{
	size_t le = 0;          /* the end of the line of the '=' at hand */
	int mark = 0, bare = 0; /* that line holds an escape or soft break; another '=' */
	for (const uint8_t *q = memchr(p, '=', n); q;
	     q = (size_t)(q - p) + 1 < n ? memchr(q + 1, '=', n - (size_t)(q - p) - 1) : NULL) {
		size_t i = (size_t)(q - p);
		if (i >= le) {
			if (mark && !bare)
				return 1;
			const uint8_t *nl = memchr(q, '\n', n - i);
			le = nl ? (size_t)(nl - p) + 1 : n;
			mark = bare = 0;
		}
		/* an encoded-word says what it is wherever it stands */
		if (q_word_at(p, n, i))
			return 1;
		if (i + 2 < n && hexd(p[i + 1]) && hexd(p[i + 2])) {
			mark = 1;
			continue;
		}
		size_t j = i + 1;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j < n && (p[j] == '\n' || (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n'))) {
			/* a soft break (nothing but the line end follows) marks it
			 * with more text after it (base64 padding ends a body) */
			j += p[j] == '\r' ? 2 : 1;
			while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
				j++;
			if (j < n && i > 0 && p[i - 1] != '=')
				mark = 1;
			continue;
		}
		/* an encoded-word's delimiters: its Q text is quoted-printable */
		if ((i + 1 < n && p[i + 1] == '?') || (i > 0 && p[i - 1] == '?'))
			continue;
		bare = 1;
	}
	return mark && !bare;
}

int sx_lk_ascii_or_utf8(const uint8_t *p, size_t n)
{
	return sx_utf8_valid(p, n);
}

int sx_lk_has_pct(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 2 < n; i++)
		if (p[i] == '%' && hexd(p[i + 1]) && hexd(p[i + 2]))
			return 1;
	return 0;
}

int sx_lk_has_ref(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '&' && (p[i + 1] == '#' || lk_wordch(p[i + 1])))
			return 1;
	return 0;
}
