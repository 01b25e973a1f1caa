/*
 * redact_view.c: every way a reader could see a decoded text, searched once
 * (the rounds are redact_text.c).
 *
 * Views of a text: as it is; URL escapes decoded; HTML references decoded;
 * both, in either order; HTML rendered (tags and comments gone, references
 * decoded); and in each of these every base64 token (a run of base64
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

#define CHAIN_MAX 6

struct chain {
	const struct rx_layer *l[CHAIN_MAX];
	size_t n;
};

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

static int search_view(struct rx_ctx *x, const struct chain *ch, const uint8_t *t, size_t n,
		       uint8_t enc, struct rx_edits *out)
{
	struct rx_edits e;
	sx_rx_edits_init(&e);
	int rc = sx_rx_search_forms(&x->nd, t, n, enc, 1, 1, ch->n == 0 ? x->top_min : 0, &e);
	if (rc == 0 && e.n > 0)
		return lower_chain(x, ch, &e, out);
	sx_rx_edits_finish(&e);
	return rc;
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

static int build_pct(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_layer *l)
{
	size_t run = 0;
	int rc = 0;
	l->encode = pct_encode;
	l->enc = RX_ENC_URL;
	for (size_t i = 0; i < n && rc == 0;) {
		if (t[i] == '%' && i + 2 < n && hexval(t[i + 1]) >= 0 && hexval(t[i + 2]) >= 0) {
			if (i > run)
				rc = sx_rx_layer_seg(l, t + run, i - run, run, i - run, 0, 0);
			uint8_t b = (uint8_t)(hexval(t[i + 1]) * 16 + hexval(t[i + 2]));
			if (rc == 0)
				rc = sx_rx_layer_seg(l, &b, 1, i, 3, 1, 0);
			i += 3;
			run = i;
		} else {
			i++;
		}
	}
	if (rc == 0 && n > run)
		rc = sx_rx_layer_seg(l, t + run, n - run, run, n - run, 0, 0);
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
	for (size_t i = 0; i < n && rc == 0;) {
		size_t r = t[i] == '&' ? ref_len(t, n, i) : 0;
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
		if (i > run)
			rc = sx_rx_layer_seg(l, t + run, i - run, run, i - run, 0, 0);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&d), sx_buf_used(&d), i, r, 1, 0);
		i += r;
		run = i;
	}
	if (rc == 0 && n > run)
		rc = sx_rx_layer_seg(l, t + run, n - run, run, n - run, 0, 0);
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
	for (size_t i = 0; i < n && rc == 0;) {
		size_t k = t[i] == '<' ? tag_len(t, n, i) : 0;
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
	if (rc == 0 && n > run)
		rc = sx_rx_layer_seg(l, t + run, n - run, run, n - run, 0, 0);
	/* nothing left out: the view is the text itself */
	if (rc == 0 && !any)
		l->nseg = 0;
	return rc;
}

/* ---- base64 tokens ---- */

struct tokinfo {
	int url;  /* URL-safe alphabet */
	int pad;  /* the token ended in '=' */
};

static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
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

/* Searches the decodings of the run t[r0, r1) (plus its padding up to r2). */
static int b64ch(uint8_t c)
{
	return b64val(c) >= 0;
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
	for (size_t i = 0; i < m; i++) {
		std |= t[pos[i]] == '+' || t[pos[i]] == '/';
		safe |= t[pos[i]] == '-' || t[pos[i]] == '_';
	}
	ti.url = safe || !std;
	/* a token may start anywhere in the run: all four alignments */
	for (size_t a = 0; a < 4 && rc == 0 && a + 2 <= m; a++) {
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
				v = v << 6 | (q < k ? (uint32_t)b64val(t[pos[g + q]]) : 0);
			uint8_t b[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
			size_t p0 = pos[g], p1 = pos[g + k - 1] + 1;
			if (g + k == m)
				p1 = r2; /* the padding goes with the last group */
			rc = sx_rx_layer_seg(&l, b, k - 1, p0, p1 - p0, 1, 0);
		}
		if (rc == 0 && l.nseg > 0 && ch->n < CHAIN_MAX) {
			ch->l[ch->n++] = &l;
			rc = view_all(x, ch, sx_buf_head(&l.c), sx_buf_used(&l.c), RX_ENC_URLB64,
				      tok - 1, out);
			ch->n--;
		}
		sx_rx_layer_finish(&l);
	}
	return rc;
}

/* Length of the line break at t[j] followed by more base64, 0 when none. */
static size_t run_break(const uint8_t *t, size_t n, size_t j)
{
	size_t k = j;
	if (k < n && t[k] == '\r')
		k++;
	if (k < n && t[k] == '\n')
		k++;
	return k > j && k < n && b64ch(t[k]) ? k - j : 0;
}

static int tokens(struct rx_ctx *x, struct chain *ch, const uint8_t *t, size_t n, int tok,
		  struct rx_edits *out)
{
	size_t *pos = NULL, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (!b64ch(t[i])) {
			i++;
			continue;
		}
		size_t j = i, m = 0, br;
		for (;;) {
			if (j < n && b64ch(t[j])) {
				if (m == cap) {
					size_t nc = cap ? cap * 2 : 256;
					size_t *np = realloc(pos, nc * sizeof *np);
					if (!np) {
						rc = SX_ENOMEM;
						break;
					}
					pos = np;
					cap = nc;
				}
				pos[m++] = j++;
			} else if ((br = run_break(t, n, j)) > 0) {
				j += br;
			} else {
				break;
			}
		}
		if (rc < 0)
			break;
		size_t k = j;
		while (k < n && k - j < 2 && t[k] == '=')
			k++;
		if (m >= RX_B64_TOKEN_MIN)
			rc = token_run(x, ch, t, pos, m, k, tok, out);
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
static int worth(build_fn build, const uint8_t *t, size_t n)
{
	if (build == build_pct)
		return memchr(t, '%', n) != NULL;
	if (build == build_html)
		return memchr(t, '&', n) != NULL;
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
	if (rc == 0 && l.nseg > 0 && (build == build_tags || sx_rx_layer_coded(&l))) {
		ch->l[ch->n++] = &l;
		const uint8_t *c = sx_buf_head(&l.c);
		size_t cn = sx_buf_used(&l.c);
		rc = view_all(x, ch, c, cn, enc, tok, out);
		if (rc == 0 && depth == 1 && build == build_pct)
			rc = derived(x, ch, c, cn, build_html, RX_ENC_HTML, tok, 2, out);
		if (rc == 0 && depth == 1 && build != build_pct)
			rc = derived(x, ch, c, cn, build_pct, RX_ENC_URL, tok, 2, out);
		if (rc == 0 && depth == 1 && build == build_tags)
			rc = derived(x, ch, c, cn, build_html, RX_ENC_HTML, tok, 2, out);
		ch->n--;
	}
	sx_rx_layer_finish(&l);
	return rc;
}

int sx_rx_views(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_edits *out)
{
	struct chain ch = { { NULL }, 0 };
	int rc = view_all(x, &ch, t, n, RX_ENC_RAW, TOKEN_LEVELS, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_pct, RX_ENC_URL, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_html, RX_ENC_HTML, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		rc = derived(x, &ch, t, n, build_tags, RX_ENC_HTML, TOKEN_LEVELS, 1, out);
	if (rc == 0)
		sx_rx_edits_select(out);
	return rc;
}
