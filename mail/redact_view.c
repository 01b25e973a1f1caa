/*
 * redact_view.c: every way a reader could see a decoded text, searched once
 * (the rounds are redact_text.c).
 *
 * Views of a text: as it is; URL escapes decoded; HTML references decoded;
 * both, in either order; HTML rendered (tags and comments gone, references
 * decoded); full-width ASCII folded, as it is and in each of those (where
 * that joins a run long enough to be a token); and in each of these every
 * base64 token (a run of base64
 * characters, standard or URL-safe, at least RX_B64_TOKEN_MIN long, wherever
 * it stands, going on across line breaks as in a base64 body) decoded at
 * each of its four alignments, itself searched with
 * its URL escapes decoded and its own tokens, one level deep. A view is a
 * layer over the one it came from, so a match in it becomes an edit of the
 * text by lowering through the chain.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "redact_impl.h"
#include "v16.h"

#define CHAIN_MAX 6

/*
 * Where a view can show what the text the views start from does not: the
 * spans [v[2k], v[2k + 1]) of the view (empty ones mark a seam, where bytes
 * of the text were left out) whose bytes are not that text's own bytes in
 * the same order. Elsewhere the view repeats the text, whose own search
 * finds whatever is there, so a view is searched around its dirty spans
 * only. all: the whole view counts as dirty (a decoded token; a text with
 * characters the matcher skips unseen, so that a match has no bounded
 * length; a text searched with a raised shortest needle).
 */
struct dirty {
	size_t *v;
	size_t n, cap;    /* spans */
	int all;
};

struct chain {
	const struct rx_layer *l[CHAIN_MAX];
	const struct dirty *d[CHAIN_MAX + 1]; /* d[k]: of the view over l[k - 1] */
	size_t n;
	int fresh;         /* the text at the bottom is searched whole: no view of
			    * it was searched before */
};

static void dirty_finish(struct dirty *d)
{
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

static int dirty_add(struct dirty *d, size_t a, size_t b)
{
	if (d->n > 0 && a <= d->v[2 * d->n - 1]) {
		if (b > d->v[2 * d->n - 1])
			d->v[2 * d->n - 1] = b;
		if (a < d->v[2 * d->n - 2])
			d->v[2 * d->n - 2] = a;
		return 0;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		size_t *v = realloc(d->v, cap * 2 * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[2 * d->n] = a;
	d->v[2 * d->n + 1] = b;
	d->n++;
	return 0;
}

/* The dirty spans of the view l makes of a view with dirty spans pd. */
static int dirty_of(const struct rx_layer *l, const struct dirty *pd, struct dirty *out)
{
	int rc = 0;
	size_t pk = 0;
	out->all = pd->all;
	if (out->all)
		return 0;
	for (size_t k = 0; k < l->nseg && rc == 0; k++) {
		const struct rx_seg *s = &l->seg[k];
		size_t pe = s->p_off + s->p_len;
		if (s->coded) {
			rc = dirty_add(out, s->c_off, s->c_off + s->c_len);
			continue;
		}
		int seam = k == 0 ? s->p_off != 0 :
			   (!l->seg[k - 1].coded &&
			    l->seg[k - 1].p_off + l->seg[k - 1].p_len != s->p_off);
		if (seam)
			rc = dirty_add(out, s->c_off, s->c_off);
		/* the parent's dirty spans that meet this one, seams at its ends
		 * included */
		if (pk > 0 && pd->v[2 * (pk - 1)] > s->p_off)
			pk = 0;
		while (pk < pd->n && pd->v[2 * pk + 1] < s->p_off)
			pk++;
		for (size_t q = pk; q < pd->n && pd->v[2 * q] <= pe && rc == 0; q++) {
			size_t a = pd->v[2 * q] > s->p_off ? pd->v[2 * q] : s->p_off;
			size_t b = pd->v[2 * q + 1] < pe ? pd->v[2 * q + 1] : pe;
			rc = dirty_add(out, s->c_off + (a - s->p_off), s->c_off + (b - s->p_off));
		}
		if (k + 1 == l->nseg && pe != l->plen && rc == 0)
			rc = dirty_add(out, s->c_off + s->c_len, s->c_off + s->c_len);
	}
	return rc;
}

/* Non-zero when t[a, b) and the bytes a match's word boundaries look at
 * meet no dirty span of d. */
static int clean(const struct dirty *d, size_t a, size_t b)
{
	if (d->all)
		return 0;
	a = a >= 2 ? a - 2 : 0;
	b += 2;
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->v[2 * mid + 1] < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == d->n || d->v[2 * lo] > b;
}

/* Lowers edits of the chain's top text down to the text it starts from. */
static int lower_chain(struct rx_ctx *x, const struct chain *ch, struct rx_edits *e,
		       struct rx_edits *out)
{
	int rc = 0;
	for (size_t k = ch->n; k-- > 0 && rc == 0 && e->n > 0;) {
		struct rx_edits low;
		sx_rx_edits_init(&low);
		rc = sx_rx_lower(x, ch->l[k], e, &low);
		sx_rx_edits_finish(e);
		*e = low;
	}
	if (rc == 0)
		rc = sx_rx_edits_move(out, e);
	sx_rx_edits_finish(e);
	return rc;
}

/* The windows of a view t (n bytes) with dirty spans d where a match can
 * start that the text itself does not show: each span widened by what a
 * match reaches back (UTF-8 needles into wu, the others into wo) and by
 * the word boundary after it. */
static int windows(struct rx_ctx *x, const struct dirty *d, const uint8_t *t, size_t n,
		   struct dirty *wu, struct dirty *wo)
{
	int rc = 0;
	for (size_t k = 0; k < d->n && rc == 0; k++) {
		size_t a = d->v[2 * k], b = d->v[2 * k + 1] + 3 < n ? d->v[2 * k + 1] + 3 : n;
		size_t au = sx_rx_back(&x->nd, t, a);
		size_t ao = a > x->nd.maxo ? a - x->nd.maxo : 0;
		rc = dirty_add(wu, au > 2 ? au - 2 : 0, b);
		if (rc == 0)
			rc = dirty_add(wo, ao > 2 ? ao - 2 : 0, b);
	}
	return rc;
}

static int search_view(struct rx_ctx *x, const struct chain *ch, const uint8_t *t, size_t n,
		       uint8_t enc, struct rx_edits *out)
{
	struct rx_edits e;
	const struct dirty *d = ch->d[ch->n];
	int rc;
	sx_rx_edits_init(&e);
	if (ch->n == 0 && ch->fresh && t == x->clean_p && n == x->clean_n &&
	    x->top_min >= x->clean_min) {
		rc = 0; /* this very text was searched so, and held nothing */
	} else if ((ch->n == 0 && ch->fresh) || d->all) {
		rc = sx_rx_search_forms(&x->nd, t, n, enc, 1, 1, ch->n == 0 ? x->top_min : 0, &e);
	} else {
		struct dirty wu = { NULL, 0, 0, 0 }, wo = { NULL, 0, 0, 0 };
		rc = windows(x, d, t, n, &wu, &wo);
		if (rc == 0)
			rc = sx_rx_search_win(&x->nd, t, n, enc, wu.v, wu.n, wo.v, wo.n, &e);
		dirty_finish(&wu);
		dirty_finish(&wo);
	}
	if (rc == 0 && e.n > 0)
		return lower_chain(x, ch, &e, out);
	sx_rx_edits_finish(&e);
	return rc;
}

/* The next index at or after i where t holds c, n when none: the scans below
 * look at nothing but such bytes. */
static size_t next_of(const uint8_t *t, size_t n, size_t i, uint8_t c)
{
	const uint8_t *q = i < n ? memchr(t + i, c, n - i) : NULL;
	return q ? (size_t)(q - t) : n;
}

/* ---- URL escapes ---- */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int pct_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		      const uint8_t *in, size_t n, struct sx_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };
		int rc = plain ? sx_buf_append(out, &c, 1) : sx_buf_append(out, e, 3);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * A view builder's step: the bytes of t from *run up to at as they are, then
 * rn bytes r (none: the bytes are left out) in place of t[at, at + len).
 * *run moves past them. Returns 0 or the layer's error.
 */
static int seg_swap(struct rx_layer *l, const uint8_t *t, size_t *run, size_t at, size_t len,
		    const uint8_t *r, size_t rn)
{
	int rc = at > *run ? sx_rx_layer_seg(l, t + *run, at - *run, *run, at - *run, 0, 0) : 0;
	if (rc == 0)
		rc = sx_rx_layer_seg(l, r, rn, at, len, 1, 0);
	*run = at + len;
	return rc;
}

/* The last step: the rest of t from run as it is. */
static int seg_rest(struct rx_layer *l, const uint8_t *t, size_t n, size_t run)
{
	return n > run ? sx_rx_layer_seg(l, t + run, n - run, run, n - run, 0, 0) : 0;
}

static int build_pct(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	size_t run = 0;
	int rc = 0;
	l->encode = pct_encode;
	l->enc = RX_ENC_URL;
	for (size_t i = next_of(t, n, 0, '%'); i < n && rc == 0; i = next_of(t, n, i, '%')) {
		if (i + 2 < n && hexval(t[i + 1]) >= 0 && hexval(t[i + 2]) >= 0) {
			uint8_t b = (uint8_t)(hexval(t[i + 1]) * 16 + hexval(t[i + 2]));
			rc = seg_swap(l, t, &run, i, 3, &b, 1);
			i = run;
		} else {
			i++;
		}
	}
	if (rc == 0)
		rc = seg_rest(l, t, n, run);
	return rc;
}

/* ---- HTML character references ---- */

static int html_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		       const uint8_t *in, size_t n, struct sx_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		const char *r = NULL;
		switch (in[i]) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		default: break;
		}
		int rc = r ? sx_buf_append(out, r, strlen(r)) : sx_buf_append(out, in + i, 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Length of a character reference candidate at t[i] == '&', 0 when none. */
static size_t ref_len(const uint8_t *t, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j < n && t[j] == '#') {
		j++;
		int hexa = j < n && (t[j] | 0x20) == 'x';
		if (hexa)
			j++;
		size_t d = j;
		while (j < n && j - d < 8 &&
		       (hexa ? hexval(t[j]) >= 0 : (t[j] >= '0' && t[j] <= '9')))
			j++;
		if (j == d)
			return 0;
		if (j < n && t[j] == ';')
			j++;
		return j - i;
	}
	size_t d = j;
	while (j < n && j - d < 32 && is_alnum(t[j]))
		j++;
	if (j == d || j >= n || t[j] != ';')
		return 0;
	return j + 1 - i;
}

static int build_html(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	struct sx_buf d;
	size_t run = 0;
	int rc = 0;
	l->encode = html_encode;
	l->enc = RX_ENC_HTML;
	sx_buf_init(&d, 64);
	for (size_t i = next_of(t, n, 0, '&'); i < n && rc == 0; i = next_of(t, n, i, '&')) {
		size_t r = ref_len(t, n, i);
		if (r == 0) {
			i++;
			continue;
		}
		sx_buf_reset(&d, SIZE_MAX);
		/* A numeric reference without its ';' is still one to a browser. */
		const uint8_t *ref = t + i;
		uint8_t tmp[48];
		size_t rn = r;
		if (ref[r - 1] != ';' && r + 1 <= sizeof tmp) {
			memcpy(tmp, ref, r);
			tmp[r] = ';';
			ref = tmp;
			rn = r + 1;
		}
		int drc = sx_html_decode(ref, rn, &d);
		if (drc < 0 || (sx_buf_used(&d) == rn && memcmp(sx_buf_head(&d), ref, rn) == 0) ||
		    sx_buf_used(&d) == 0) {
			i++;
			continue;
		}
		rc = seg_swap(l, t, &run, i, r, sx_buf_head(&d), sx_buf_used(&d));
		i = run;
	}
	if (rc == 0)
		rc = seg_rest(l, t, n, run);
	sx_buf_finish(&d);
	return rc;
}

/* ---- HTML as rendered: tags and comments gone ---- */

static int tags_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		       const uint8_t *in, size_t n, struct sx_buf *out)
{
	return sx_buf_append(out, in, n);
}

/* Length of a tag or comment at t[i] == '<', 0 when it starts none. */
static size_t tag_len(const uint8_t *t, size_t n, size_t i)
{
	if (i + 4 <= n && memcmp(t + i, "<!--", 4) == 0) {
		const uint8_t *e = memmem(t + i + 4, n - i - 4, "-->", 3);
		return e ? (size_t)(e + 3 - (t + i)) : n - i;
	}
	if (i + 1 < n && (((t[i + 1] | 0x20) >= 'a' && (t[i + 1] | 0x20) <= 'z') ||
			  t[i + 1] == '/' || t[i + 1] == '!' || t[i + 1] == '?')) {
		const uint8_t *e = memchr(t + i, '>', n - i);
		return e ? (size_t)(e + 1 - (t + i)) : n - i;
	}
	return 0;
}

/* The text between tags; the tags are left out of the child, so a match
 * across one ("taro.<b>yamada</b>@...") replaces it with the rest. */
static int build_tags(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	size_t run = 0;
	int rc = 0, any = 0;
	l->encode = tags_encode;
	l->enc = RX_ENC_HTML;
	for (size_t i = next_of(t, n, 0, '<'); i < n && rc == 0; i = next_of(t, n, i, '<')) {
		size_t k = tag_len(t, n, i);
		if (k == 0) {
			i++;
			continue;
		}
		if (i > run)
			rc = sx_rx_layer_seg(l, t + run, i - run, run, i - run, 0, 0);
		any = 1;
		i += k;
		run = i;
	}
	if (rc == 0)
		rc = seg_rest(l, t, n, run);
	/* nothing left out: the view is the text itself */
	if (rc == 0 && !any)
		l->nseg = 0;
	return rc;
}

/* ---- full-width letters as ASCII ---- */

/* The ASCII a full-width form at t[i] shows (U+FF01..U+FF5E), 0 when none. */
static uint8_t fw_at(const uint8_t *t, size_t n, size_t i)
{
	if (t[i] != 0xef || i + 3 > n || (t[i + 1] != 0xbc && t[i + 1] != 0xbd) ||
	    (t[i + 2] & 0xc0) != 0x80)
		return 0;
	unsigned cp = (0xfu << 12) | ((unsigned)(t[i + 1] & 0x3f) << 6) | (t[i + 2] & 0x3fu);
	return cp >= 0xff01 && cp <= 0xff5e ? (uint8_t)(cp - 0xfee0) : 0;
}

/* A rewrite writes the new text in plain ASCII. */
static int fold_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		       const uint8_t *in, size_t n, struct sx_buf *out)
{
	return sx_buf_append(out, in, n);
}

/* The character build_fold changes at t[i]: its length, and in *c the
 * ASCII it becomes (0: it goes, as an invisible one does); 0 when none. */
static size_t fold_char(const uint8_t *t, size_t n, size_t i, uint8_t *c)
{
	if ((*c = fw_at(t, n, i)) != 0)
		return 3;
	return sx_rx_invisible_at(t, n, i);
}

/* Where the next character build_fold changes may start: its lead bytes are
 * 0xc2, 0xe2 and 0xef. Japanese text is mostly other leads (kana and kanji),
 * so the scan compares sixteen bytes at once. */
static size_t next_fold(const uint8_t *t, size_t n, size_t i)
{
	for (; n - i >= 16 && i < n; i += 16) {
		sx_v16 v;
		memcpy(&v, t + i, 16);
		unsigned m = sx_v16_mask((sx_v16)((v == 0xef) | (v == 0xe2) | (v == 0xc2)));
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
	for (; i < n; i++)
		if (t[i] == 0xef || t[i] == 0xe2 || t[i] == 0xc2)
			return i;
	return n;
}

/*
 * The text with full-width ASCII as ASCII, in its own case, and without
 * the characters readers do not show: the matcher folds and skips them by
 * itself, but a base64 token spelled partly in full-width ("ｔａB0YX...") or
 * split by a soft hyphen is only a token once they are folded.
 */
static int build_fold(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	size_t run = 0;
	int rc = 0;
	l->encode = fold_encode;
	l->enc = RX_ENC_RAW;
	for (size_t i = next_fold(t, n, 0); i < n && rc == 0; i = next_fold(t, n, i)) {
		uint8_t c;
		size_t k = fold_char(t, n, i, &c);
		if (k == 0) {
			i++;
			continue;
		}
		rc = seg_swap(l, t, &run, i, k, &c, c ? 1 : 0);
		i = run;
	}
	if (rc == 0)
		rc = seg_rest(l, t, n, run);
	return rc;
}

/* Length of a format=flowed soft break's line end at t[i] (after a blank),
 * 0 when t[i] starts none. */
static size_t flowed_at(const uint8_t *t, size_t n, size_t i)
{
	if (i == 0 || t[i - 1] != ' ')
		return 0;
	if (t[i] == '\n')
		return 1;
	return t[i] == '\r' && i + 1 < n && t[i + 1] == '\n' ? 2 : 0;
}

/*
 * The text with the line ends after a blank removed, the blank kept: lines
 * of format=flowed text as a reader joins them (and as the leak check does
 * whatever the label says), so a run of base64 cut there is one token.
 */
static int build_flowed(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	size_t run = 0;
	int rc = 0;
	l->encode = fold_encode;
	l->enc = RX_ENC_RAW;
	for (size_t i = next_of(t, n, 0, ' '); i < n && rc == 0; i = next_of(t, n, i, ' ')) {
		size_t k = ++i < n ? flowed_at(t, n, i) : 0;
		if (k == 0)
			continue;
		rc = seg_swap(l, t, &run, i, k, t + i, 0);
		i = run;
	}
	if (rc == 0)
		rc = seg_rest(l, t, n, run);
	return rc;
}

/* Whether t holds a soft break of build_flowed. */
static int has_flowed(const uint8_t *t, size_t n)
{
	for (size_t i = next_of(t, n, 0, ' '); i < n; i = next_of(t, n, i, ' '))
		if (++i < n && flowed_at(t, n, i))
			return 1;
	return 0;
}

/* ---- base64 tokens ---- */

struct tokinfo {
	int url;  /* URL-safe alphabet */
	int pad;  /* the token ended in '=' */
};

/* Value of each byte in base64, either alphabet; -1: none. */
static const signed char b64vals[256] = {
	['A'] = 0, ['B'] = 1, ['C'] = 2, ['D'] = 3, ['E'] = 4, ['F'] = 5, ['G'] = 6,
	['H'] = 7, ['I'] = 8, ['J'] = 9, ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
	['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
	['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25,
	['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32,
	['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
	['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46,
	['v'] = 47, ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51,
	['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55, ['4'] = 56, ['5'] = 57, ['6'] = 58,
	['7'] = 59, ['8'] = 60, ['9'] = 61,
	['+'] = 62, ['-'] = 62, ['/'] = 63, ['_'] = 63,
};

/* b64vals marks "none" as 0 too ('A' is 0): this tells them apart. */
static const uint8_t b64set[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1, ['-'] = 1, ['/'] = 1, ['_'] = 1,
};

static int b64val(uint8_t c)
{
	return b64set[c] ? b64vals[c] : -1;
}

static int tok_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		      const uint8_t *in, size_t n, struct sx_buf *out)
{
	const struct tokinfo *ti = l->arg;
	int at_end = last + 1 == l->nseg;
	struct sx_buf tmp;
	int rc;

	/* Inside a run the groups after this one must keep their alignment:
	 * the new content is padded with blanks to whole groups. */
	sx_buf_init(&tmp, x->scratch);
	rc = sx_buf_append(&tmp, in, n);
	while (rc == 0 && !at_end && sx_buf_used(&tmp) % 3 != 0)
		rc = sx_buf_append(&tmp, " ", 1);
	size_t start = sx_buf_used(out);
	if (rc == 0)
		rc = sx_b64_encode(sx_buf_head(&tmp), sx_buf_used(&tmp), 0, "\r\n", ti->url, out);
	sx_buf_finish(&tmp);
	if (rc < 0)
		return rc;
	/* The padding as the token had it, and nothing else but the alphabet. */
	size_t o = out->off + start, e = out->len;
	size_t w = o;
	for (size_t i = o; i < e; i++) {
		uint8_t c = out->data[i];
		if (c == '=' || c == '\r' || c == '\n')
			continue;
		if (ti->url && c == '+')
			c = '-';
		if (ti->url && c == '/')
			c = '_';
		out->data[w++] = c;
	}
	out->len = w;
	while (rc == 0 && at_end && ti->pad && (sx_buf_used(out) - start) % 4 != 0)
		rc = sx_buf_append(out, "=", 1);
	return rc;
}

static int view_all(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, uint8_t enc,
		    int tok, struct rx_edits *out);

static int b64ch(uint8_t c)
{
	return b64set[c];
}

int sx_rx_b64ch(uint8_t c)
{
	return b64set[c];
}

/* Whether t[i] can be inside a run: a character, or a byte of a break. */
static int in_run(uint8_t c)
{
	return b64ch(c) || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

/* Non-zero when b (n bytes) holds a base64 run long enough to be a token:
 * counted across line breaks, so never fewer than tokens() finds. */
static int has_run(const uint8_t *b, size_t n)
{
	size_t m = 0;
	int eol = 0; /* blanks after a line break are inside a run */
	for (size_t i = 0; i < n;) {
		if (m == 0) {
			/* none can start at or before the last byte that ends
			 * runs in the next RX_B64_TOKEN_MIN: on from after it */
			if (n - i < RX_B64_TOKEN_MIN)
				return 0;
			size_t q = i + RX_B64_TOKEN_MIN;
			while (q > i && in_run(b[q - 1]))
				q--;
			if (q > i) {
				i = q;
				continue;
			}
		}
		if (b64ch(b[i])) {
			eol = 0;
			if (++m >= RX_B64_TOKEN_MIN)
				return 1;
		} else if (b[i] == '\r' || b[i] == '\n') {
			eol = 1;
		} else if (!(eol && (b[i] == ' ' || b[i] == '\t'))) {
			m = 0;
		}
		i++;
	}
	return 0;
}

/* Non-zero when b (n bytes) holds a URL escape build_pct decodes: a '%'
 * alone makes no view (noise decoded from a long run holds one almost
 * always). */
static int has_escape(const uint8_t *b, size_t n)
{
	for (size_t i = next_of(b, n, 0, '%'); i < n; i = next_of(b, n, i + 1, '%'))
		if (i + 2 < n && hexval(b[i + 1]) >= 0 && hexval(b[i + 2]) >= 0)
			return 1;
	return 0;
}

/*
 * Whether the decoding of the run at pos[0 .. m) of t at alignment a can
 * show anything: a match, a token of its own while levels are left, or a
 * URL escape. Most runs are words and decode to noise; building their
 * layer is what costs.
 */
static int token_worth(struct rx_ctx *x, const uint8_t *val, size_t m, size_t a, int tok)
{
	uint8_t small[3 * 256];
	size_t need = (m - a) / 4 * 3 + 3, bn = 0;
	uint8_t *buf = need <= sizeof small ? small : malloc(need);
	if (!buf)
		return 1; /* no memory to judge: take the whole layer */
	for (size_t g = a; g < m; g += 4) {
		size_t k = m - g < 4 ? m - g : 4;
		if (k < 2)
			break;
		uint32_t v = 0;
		for (size_t q = 0; q < 4; q++)
			v = v << 6 | (q < k ? (uint32_t)val[g + q] : 0);
		buf[bn++] = (uint8_t)(v >> 16);
		buf[bn++] = (uint8_t)(v >> 8);
		buf[bn++] = (uint8_t)v;
		bn -= 4 - k;
	}
	/* a settled text's views include all a token's view searches */
	int worth = !sx_rx_settled(x, buf, bn) &&
		    (has_escape(buf, bn) || (tok - 1 > 0 && has_run(buf, bn)) ||
		     sx_rx_hit(&x->nd, buf, bn));
	if (buf != small)
		free(buf);
	return worth;
}

/*
 * Searches the decodings of one run: its characters at pos[0 .. m) of t
 * (line breaks may stand between them, as in a base64 body), padding up to
 * t[r2].
 */
static int token_run(struct rx_ctx *x, struct chain *ch, const uint8_t *t, const size_t *pos,
		     size_t m, size_t r2, int tok, struct rx_edits *out)
{
	size_t r1 = pos[m - 1] + 1;
	struct tokinfo ti = { 1, r2 > r1 };
	int rc = 0, std = 0, safe = 0;
	/* the characters' values, looked up once for the four alignments */
	uint8_t small[512];
	uint8_t *val = m <= sizeof small ? small : malloc(m);
	if (!val)
		return SX_ENOMEM;
	for (size_t i = 0; i < m; i++) {
		uint8_t c = t[pos[i]];
		std |= c == '+' || c == '/';
		safe |= c == '-' || c == '_';
		val[i] = (uint8_t)b64val(c);
	}
	ti.url = safe || !std;
	/* a token may start anywhere in the run: all four alignments */
	for (size_t a = 0; a < 4 && rc == 0 && a + 2 <= m; a++) {
		if (!token_worth(x, val, m, a, tok)) {
			continue;
		}
		struct rx_layer l;
		sx_rx_layer_init(&l, t, r2, x->scratch);
		l.encode = tok_encode;
		l.enc = RX_ENC_URLB64;
		l.arg = &ti;
		for (size_t g = a; g < m && rc == 0; g += 4) {
			size_t k = m - g < 4 ? m - g : 4;
			if (k < 2)
				break;
			uint32_t v = 0;
			for (size_t q = 0; q < 4; q++)
				v = v << 6 | (q < k ? (uint32_t)val[g + q] : 0);
			uint8_t b[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
			size_t p0 = pos[g], p1 = pos[g + k - 1] + 1;
			if (g + k == m)
				p1 = r2; /* the padding goes with the last group */
			rc = sx_rx_layer_seg(&l, b, k - 1, p0, p1 - p0, 1, 0);
		}
		if (rc == 0 && l.nseg > 0 && ch->n < CHAIN_MAX) {
			static const struct dirty all = { NULL, 0, 0, 1 };
			ch->l[ch->n++] = &l;
			ch->d[ch->n] = &all;
			rc = view_all(x, ch, sx_buf_head(&l.c), sx_buf_used(&l.c), RX_ENC_URLB64,
				      tok - 1, out);
			ch->n--;
		}
		sx_rx_layer_finish(&l);
	}
	if (val != small)
		free(val);
	return rc;
}

/* Length of the line break at t[j], with the blanks that fold a header
 * line or indent a body after it, followed by more base64; 0 when none. A
 * reader unfolding a field joins the runs on either side of a fold. A break
 * is up to two line-end bytes in any order, as the leak check takes them:
 * unfolding keeps a bare CR before the fold's CRLF ("\r\r\n\t" reads as
 * "\r\t"), and a decoder skips them all. */
static size_t run_break(const uint8_t *t, size_t n, size_t j)
{
	size_t k = j;
	while (k < n && k - j < 2 && (t[k] == '\r' || t[k] == '\n'))
		k++;
	if (k == j)
		return 0;
	while (k < n && (t[k] == ' ' || t[k] == '\t'))
		k++;
	return k < n && b64ch(t[k]) ? k - j : 0;
}


/* Where the scan for runs can go on at r: a byte before it that no run,
 * line break inside a run or padding takes, so that the scan is in the
 * same state at r whatever came before. */
static size_t restart_at(const uint8_t *t, size_t from, size_t r)
{
	while (r > from && (in_run(t[r - 1]) || t[r - 1] == '='))
		r--;
	return r;
}

/*
 * A run is decoded in both alphabets at once ('-' and '+' alike are 62), but
 * a reader decoding one alphabet stops at the other's characters: the run
 * "...eWF-tYWRh..." is also the standard run "tYWRh...", whose decoding
 * starts elsewhere (an identifier in it can stand at the start of a text
 * instead of after a byte that joins it to a word). Each alphabet's own
 * sub-runs of the run at pos[0 .. m) are searched too; the URL-safe ones only
 * with a '-' or '_' in them, as the leak check takes them.
 */
static int alphabet_runs(struct rx_ctx *x, struct chain *ch, const uint8_t *t, const size_t *pos,
			 size_t m, size_t r2, int tok, struct rx_edits *out)
{
	int rc = 0;
	for (int url = 0; url < 2 && rc == 0; url++) {
		uint8_t o1 = url ? '+' : '-', o2 = url ? '/' : '_';
		size_t others = 0;
		for (size_t q = 0; q < m; q++)
			others += t[pos[q]] == o1 || t[pos[q]] == o2;
		if (others == 0)
			continue; /* the run is one alphabet's already */
		size_t s = 0;
		int special = 0;
		for (size_t q = 0; q <= m && rc == 0; q++) {
			uint8_t c = q < m ? t[pos[q]] : 0;
			if (q < m && c != o1 && c != o2) {
				special |= c == '-' || c == '_';
				continue;
			}
			if (q - s >= RX_B64_TOKEN_MIN && (!url || special))
				rc = token_run(x, ch, t, pos + s, q - s, q == m ? r2 : pos[q - 1] + 1,
					       tok, out);
			s = q + 1;
			special = 0;
		}
	}
	return rc;
}

/*
 * Where the scan at i can go on in a view that repeats the text it comes
 * from outside its dirty spans (d, not all): the runs in a clean stretch
 * are runs of that text too, and were searched there. wq: the first dirty
 * span that can still matter, advanced here.
 */
static size_t skip_clean(const struct dirty *d, const uint8_t *t, size_t n, size_t i,
			 size_t *wq)
{
	while (*wq < d->n && d->v[2 * *wq + 1] + 8 <= i)
		(*wq)++;
	if (*wq == d->n)
		return n;
	size_t a = d->v[2 * *wq];
	if (a < i + 64)
		return i;
	return restart_at(t, i, a - 16);
}

static int tokens(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, int tok,
		  struct rx_edits *out)
{
	const struct dirty *d = ch->d[ch->n];
	/* a view over the text, or the text once more after a round: its clean
	 * runs were searched before */
	int again = (ch->n > 0 || !ch->fresh) && !d->all;
	size_t *pos = NULL, cap = 0, wq = 0, hold = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (again && i >= hold) {
			size_t r = skip_clean(d, t, n, i, &wq);
			if (r > i) {
				i = r;
				continue;
			}
			/* near a dirty span: nothing to skip before its end */
			hold = wq < d->n ? d->v[2 * wq + 1] + 8 : n;
		}
		/* A run that becomes a token spans RX_B64_TOKEN_MIN bytes or
		 * more from where it starts, none of them a byte that ends
		 * runs: no such run starts at or before the last one of those
		 * in the next RX_B64_TOKEN_MIN bytes (shorter runs are passed
		 * over anyway). Not past where skip_clean looks again. */
		size_t lim = again && hold < n ? hold : n;
		if (lim >= i && lim - i >= RX_B64_TOKEN_MIN) {
			size_t q = i + RX_B64_TOKEN_MIN;
			while (q > i && in_run(t[q - 1]))
				q--;
			if (q > i) {
				i = q;
				continue;
			}
		}
		if (!b64ch(t[i])) {
			/* up to the next run, or to where skip_clean looks again */
			size_t stop = again && hold < n ? hold : n;
			for (i++; i < stop && !b64ch(t[i]); i++) {
				/* eight bytes of non-ASCII text (none a token
				 * character) at a time */
				uint64_t w;
				while (stop - i > 8) {
					memcpy(&w, t + i + 1, 8);
					if ((w & 0x8080808080808080u) != 0x8080808080808080u)
						break;
					i += 8;
				}
			}
			continue;
		}
		size_t j = i, m = 0, br;
		for (;;) {
			size_t j0 = j;
			while (j < n && b64ch(t[j]))
				j++;
			m += j - j0;
			if ((br = run_break(t, n, j)) > 0)
				j += br;
			else
				break;
		}
		size_t k = j;
		while (k < n && k - j < 2 && t[k] == '=')
			k++;
		/* A run whose bytes, and three either side, the text itself has
		 * (the scan is then in the same state there) is a run of that
		 * text too, and was searched there. */
		if (m >= RX_B64_TOKEN_MIN && !(again && clean(d, i > 0 ? i - 1 : 0, k + 3))) {
			if (m > cap) {
				size_t *np = realloc(pos, m * sizeof *np);
				if (!np) {
					rc = SX_ENOMEM;
					break;
				}
				pos = np;
				cap = m;
			}
			size_t q = 0;
			for (size_t p = i; p < j; p++)
				if (b64ch(t[p]))
					pos[q++] = p;
			/* what its decodings show depends on its bytes, the levels
			 * left and the depth of the chain only */
			unsigned key = (unsigned)tok << 8 | (unsigned)ch->n;
			if (sx_rx_run_clean(&x->runs, t + i, k - i, key)) {
				i = k > i ? k : i + 1;
				continue;
			}
			size_t before = out->n;
			int unsure = x->res->unsure;
			rc = token_run(x, ch, t, pos, m, k, tok, out);
			if (rc == 0)
				rc = alphabet_runs(x, ch, t, pos, m, k, tok, out);
			if (rc == 0 && out->n == before && !unsure && !x->res->unsure)
				sx_rx_run_add(&x->runs, t + i, k - i, key);
		}
		i = k > i ? k : i + 1;
	}
	free(pos);
	return rc;
}

/* ---- all views ---- */

/* Token levels: a token, and a token inside a decoded token, no deeper. */
#define TOKEN_LEVELS 2

typedef int (*build_fn)(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l);

static int derived(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, build_fn build,
		   uint8_t enc, int tok, int depth, struct rx_edits *out);

/*
 * Searches t (the top of ch), its base64 tokens while tok levels are left,
 * and, inside a token, its URL escapes.
 */
static int view_all(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, uint8_t enc,
		    int tok, struct rx_edits *out)
{
	int rc = search_view(x, ch, t, n, enc, out);
	if (rc == 0 && tok > 0)
		rc = tokens(x, ch, t, n, tok, out);
	if (rc == 0 && enc == RX_ENC_URLB64)
		rc = derived(x, ch, t, n, build_pct, RX_ENC_URLB64, tok, 2, out);
	return rc;
}

/* The byte each build needs to have anything to decode. */
/* Token characters, full-width ones counted as one, from t[i] on (ahead)
 * or ending at t[i] (back), across line breaks and the blanks after them
 * as tokens() goes (run_break): at least the count tokens() would see,
 * never fewer. */
static size_t fold_run(const uint8_t *t, size_t n, size_t i, int ahead)
{
	size_t m = 0;
	int eol = 0; /* blanks after a line break are inside a run (run_break) */
	while (ahead ? i < n : i > 0) {
		if (ahead) {
			size_t v = sx_rx_invisible_at(t, n, i);
			if (v) {
				i += v;
				continue;
			}
			uint8_t c = fw_at(t, n, i);
			int blank = t[i] == ' ' || t[i] == '\t';
			if (!b64ch(c) && !b64ch(t[i]) && t[i] != '\r' && t[i] != '\n' &&
			    !(eol && blank))
				break;
			m += !c && (t[i] == '\r' || t[i] == '\n' || blank) ? 0 : 1;
			eol = !c && (t[i] == '\r' || t[i] == '\n' || (eol && blank));
			i += c ? 3 : 1;
		} else {
			size_t v = i >= 3 && sx_rx_invisible_at(t, n, i - 3) == 3 ? 3
				   : i >= 2 && sx_rx_invisible_at(t, n, i - 2) == 2 ? 2 : 0;
			if (v) {
				i -= v;
				continue;
			}
			if (t[i - 1] == ' ' || t[i - 1] == '\t') {
				size_t b = i - 1;
				while (b > 0 && (t[b - 1] == ' ' || t[b - 1] == '\t'))
					b--;
				if (b == 0 || (t[b - 1] != '\r' && t[b - 1] != '\n'))
					break;
				i = b;
				continue;
			}
			uint8_t c = i >= 3 ? fw_at(t, n, i - 3) : 0;
			if (!b64ch(c) && !b64ch(t[i - 1]) && t[i - 1] != '\r' && t[i - 1] != '\n')
				break;
			m += t[i - 1] != '\r' && t[i - 1] != '\n';
			i -= c ? 3 : 1;
		}
	}
	return m;
}

/* Whether folding full-width characters, or dropping invisible ones, makes
 * a run long enough to be a token that holds one of them. */
static int fold_worth(const uint8_t *t, size_t n)
{
	for (size_t i = next_fold(t, n, 0); i < n; i = next_fold(t, n, i + 1)) {
		uint8_t c;
		size_t k = fold_char(t, n, i, &c);
		if (k == 0 || (c && !b64ch(c)))
			continue;
		/* a folded character, or an invisible one that joins two runs */
		if (fold_run(t, n, i, 0) + fold_run(t, n, i, 1) >= RX_B64_TOKEN_MIN)
			return 1;
	}
	return 0;
}

static int worth(build_fn build, const uint8_t *t, size_t n)
{
	if (build == build_pct)
		return has_escape(t, n); /* a '%' alone decodes nothing */
	if (build == build_html)
		return memchr(t, '&', n) != NULL;
	if (build == build_fold)
		return fold_worth(t, n);
	if (build == build_flowed)
		return has_flowed(t, n);
	return memchr(t, '<', n) != NULL;
}

/*
 * The view build makes of t, searched with its tokens; at depth 1 also the
 * other decodings on top of it (URL escapes inside references and back;
 * references in the rendered text).
 */
static int derived(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, build_fn build,
		   uint8_t enc, int tok, int depth, struct rx_edits *out)
{
	struct rx_layer l;
	int rc;
	if (ch->n >= CHAIN_MAX || !worth(build, t, n))
		return 0;
	sx_rx_layer_init(&l, t, n, x->scratch);
	rc = build(x, t, n, &l);
	struct dirty d = { NULL, 0, 0, 0 };
	if (rc == 0 && l.nseg > 0 && (build == build_tags || sx_rx_layer_coded(&l)))
		rc = dirty_of(&l, ch->d[ch->n], &d);
	if (rc == 0 && l.nseg > 0 && (build == build_tags || sx_rx_layer_coded(&l))) {
		ch->l[ch->n++] = &l;
		ch->d[ch->n] = &d;
		const uint8_t *c = sx_buf_head(&l.c);
		size_t cn = sx_buf_used(&l.c);
		rc = view_all(x, ch, c, cn, enc, tok, out);
		if (rc == 0 && depth == 1 && build == build_pct)
			rc = derived(x, ch, c, cn, build_html, RX_ENC_HTML, tok, 2, out);
		if (rc == 0 && depth == 1 && build != build_pct)
			rc = derived(x, ch, c, cn, build_pct, RX_ENC_URL, tok, 2, out);
		if (rc == 0 && depth == 1 && build == build_tags)
			rc = derived(x, ch, c, cn, build_html, RX_ENC_HTML, tok, 2, out);
		if (rc == 0 && depth == 1 && build != build_fold)
			rc = derived(x, ch, c, cn, build_fold, RX_ENC_RAW, tok, 2, out);
		ch->n--;
	}
	dirty_finish(&d);
	sx_rx_layer_finish(&l);
	return rc;
}

int sx_rx_views(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_edits *out)
{
	return sx_rx_views_in(x, t, n, NULL, 0, out);
}

int sx_rx_views_in(struct rx_ctx *x, const uint8_t *t, size_t n, const size_t *spans,
		   size_t nspans, struct rx_edits *out)
{
	struct chain ch = { { NULL }, { NULL }, 0, 1 };
	/* Without spans the text is searched whole, and is clean in every view
	 * but where a match can have no bounded length, or the text's own
	 * search skips short needles: then every view is searched whole. */
	struct dirty root = { NULL, 0, 0, x->top_min > 0 || sx_rx_invisible(t, n) };
	if (spans && !root.all) {
		root.v = (size_t *)spans;
		root.n = nspans;
		ch.n = 0;
	} else {
		spans = NULL;
	}
	ch.d[0] = &root;
	ch.fresh = spans == NULL;
	int rc = view_all(x, &ch, t, n, RX_ENC_RAW, TOKEN_LEVELS, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_pct, RX_ENC_URL, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_html, RX_ENC_HTML, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_tags, RX_ENC_HTML, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_fold, RX_ENC_RAW, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_flowed, RX_ENC_RAW, TOKEN_LEVELS, 2, out);
	if (rc == 0)
		sx_rx_edits_select(out);
	return rc;
}
