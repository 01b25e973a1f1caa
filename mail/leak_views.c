/*
 * leak_views.c: the views of one byte string the leak check searches.
 *
 * A view is searched (leak_match.c), then, as its flags ask, turned into
 * further views: full-width and invisible characters folded away, base64
 * runs decoded (four alignments each, since a token may start anywhere in a
 * run), URL escapes and HTML references decoded in both orders, HTML
 * rendered without its tags, format=flowed lines joined, and the bytes read
 * in the declared charset and in each Japanese one. Everything a reader
 * could be shown is searched; the price is bounded by the work budget
 * (LK_WORK_FACTOR), and passing it is itself a verdict.
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

static int view_seen(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags,
		     unsigned tdepth);
/*
 * A derived view's parent, as the parent's view() saw it, and the child's
 * changes (leak_window.c): enough to search the child near its changes only
 * and to have its profile from the parent's.
 */
struct lk_from {
	const uint8_t *p;        /* the parent */
	size_t n;
	const struct lk_prof *pf; /* its profile */
	unsigned sf;             /* the rules it was searched with */
	const uint8_t *mark;     /* the child's marks */
	const size_t *chg;       /* the child's changes, nchg pairs */
	size_t nchg;
	int lines;               /* the changes join lines: windows of whole lines */
};

/* What view() saw of a view: its profile and search rules (known 0 when it
 * was not examined, as a repeat). */
struct lk_saw {
	int known;
	unsigned sf;
	struct lk_prof pf;
};

static int view_in(struct lk_ctx *x, const uint8_t *p, size_t n, const char *step,
		   unsigned flags, unsigned tdepth, const struct lk_from *from, struct lk_saw *saw);

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
	char chain[192];
	size_t clen = 0;
	size_t ns = x->nsteps < LK_STEPS_MAX ? x->nsteps : LK_STEPS_MAX;

	chain[0] = '\0';
	for (size_t i = 0; i < ns; i++) {
		int w = snprintf(chain + clen, sizeof chain - clen, "%s%s", clen ? " → " : "",
				 x->steps[i]);
		if (w > 0)
			clen += (size_t)w < sizeof chain - clen ? (size_t)w
								: sizeof chain - 1 - clen;
	}
	x->found = 1;
	snprintf(x->why, x->whylen, "%s (%s%s): %s", x->loc, chain, form_names[nd->form],
		 sx_ident_kind_name(x->ids->v[nd->ident].kind));
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

/* A view b derived by local changes (marks mk, changes chg) from the view
 * parent saw as psaw; searched in full when psaw is not known. saw, when not
 * NULL, gets what b's own view() sees. */
static int view_marked(struct lk_ctx *x, const struct sx_buf *b, const struct sx_buf *mk,
		       const struct sx_buf *chg, const uint8_t *pp, size_t pn,
		       const struct lk_saw *psaw, const char *step, unsigned flags,
		       unsigned tdepth, struct lk_saw *saw)
{
	struct lk_from from = { pp, pn, &psaw->pf, psaw->sf, head(mk),
				(const size_t *)(const void *)head(chg),
				sx_buf_used(chg) / (2 * sizeof(size_t)),
				strcmp(step, "flowed-joined") == 0 };
	return view_in(x, head(b), sx_buf_used(b), step, flags, tdepth,
		       psaw->known ? &from : NULL, saw);
}

/* Whether search rules sf let match more than psf (LONG, none, SHORT). */
static int wider(unsigned sf, unsigned psf)
{
	unsigned r = sf & LK_S_SHORT ? 2 : sf & LK_S_LONG ? 0 : 1;
	unsigned pr = psf & LK_S_SHORT ? 2 : psf & LK_S_LONG ? 0 : 1;
	return r > pr;
}

/* Flags for bytes found inside a token: text gets its escapes decoded,
 * ISO-2022-JP its conversion; binary is searched as it is. */
static unsigned token_flags(const uint8_t *p, size_t n)
{
	struct lk_prof pf;
	unsigned f = LK_V_TOKENS;
	sx_lk_profile(p, n, &pf);
	if (sx_lk_prof_texty(&pf, p, n))
		f |= LK_V_DERIVE;
	if (pf.esc)
		f |= LK_V_CONVERT;
	return f;
}

/* A run of base64 characters (see tokens()). */
struct run {
	size_t end;       /* where the scan goes on */
	size_t m;         /* characters in it */
	size_t lines;     /* lines it spans */
	size_t first;     /* characters on its first line */
	int block;        /* every line as long as the first but a shorter last one */
	int special;      /* '-' or '_' in it */
};

/* Lanes of v in the base64 alphabet (url: the URL-safe one), as sx_lk_cls's
 * LK_C_B64 (LK_C_URL) says: letters, digits and '+' '/' ('-' '_'). */
static inline unsigned b64_lanes(sx_v16 v, int url)
{
	const uint8_t o1 = url ? '-' : '+', o2 = url ? '_' : '/';
	sx_v16 lo = v | 0x20;
	return sx_v16_mask((sx_v16)(((sx_v16)(lo - 'a') < 26) | ((sx_v16)(v - '0') < 10) |
				    (v == o1) | (v == o2)));
}

/*
 * Walks the run starting at p[i] (a character of the alphabet bit), appending
 * its characters to out when out is not NULL. Returns 0 or out's error.
 */
static int run_walk(const uint8_t *p, size_t n, size_t i, unsigned bit, struct run *r,
		    struct sx_buf *out)
{
	size_t j = i;
	int cut = 0;
	unsigned seen = 0;

	*r = (struct run){ 0, 0, 0, 0, 1, 0 };
	for (;;) {
		size_t s = j;
		while (j < n && (sx_lk_cls[p[j]] & bit))
			seen |= sx_lk_cls[p[j++]];
		if (out) {
			int rc = sx_buf_append(out, p + s, j - s);
			if (rc < 0)
				return rc;
		}
		r->m += j - s;
		if (r->lines++ == 0)
			r->first = j - s;
		else if (cut || j - s > r->first)
			r->block = 0;
		else if (j - s < r->first)
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
		if (k < n && (sx_lk_cls[p[k]] & bit))
			j = k;
		else
			break;
	}
	r->end = j;
	r->special = (seen & LK_C_URLSPEC) != 0;
	return 0;
}

/*
 * Decodes the run of base64 characters at p[start] (measured as r) at each
 * alignment it needs and examines what comes out; run and out are scratch.
 */
static int token_run(struct lk_ctx *x, const uint8_t *p, size_t n, size_t start,
		     const struct run *r, int url, unsigned tdepth, struct sx_buf *run,
		     struct sx_buf *out)
{
	struct run again;
	int rc;

	sx_buf_reset(run, SIZE_MAX);
	if ((rc = run_walk(p, n, start, url ? LK_C_URL : LK_C_B64, &again, run)) < 0)
		return rc;
	size_t m = sx_buf_used(run);
	/* Lines of one length, a multiple of four, are an encoder's
	 * block: aligned at its start, the other alignments are noise. */
	size_t shifts = r->block && r->lines >= 3 && r->first % 4 == 0 ? 1 : 4;
	/* The same run (same declared charset, no deeper) was decoded
	 * before, in this view or another: its views are the same
	 * bytes with the same flags, examined already, and are not
	 * made again. They count as if they were (k characters of
	 * the alphabet decode to 6k/8 bytes), so the work bound
	 * gives the verdicts it gave. */
	if (view_seen(x, sx_buf_head(run), m,
		      (url ? LK_V_RUNURL : 0u) | LK_V_RUN | (shifts == 4 ? LK_V_RUN4 : 0u),
		      tdepth)) {
		size_t cost = 0;
		for (size_t shift = 0; shift < shifts; shift++)
			cost += (m - shift) / 8 * 6 + (m - shift) % 8 * 6 / 8;
		if (cost > x->work_max - x->work)
			too_much(x);
		else
			x->work += cost;
		return 0;
	}
	for (size_t shift = 0; shift < shifts && rc == 0; shift++) {
		sx_buf_reset(out, SIZE_MAX);
		rc = sx_b64_decode(sx_buf_head(run) + shift, m - shift, url, out, NULL);
		if (rc == 0 && sx_buf_used(out))
			rc = view_buf(x, out, url ? "url-base64-token" : "base64-token",
				      token_flags(head(out), sx_buf_used(out)), tdepth + 1);
	}
	return rc;
}

/* The first character of the base64 alphabet (url: the URL-safe one) at or
 * after p[i], n when none: what is between runs (Japanese text, markup,
 * replacement characters) is often long. */
static size_t next_b64(const uint8_t *p, size_t n, size_t i, int url)
{
	for (; i <= n && n - i >= 16; i += 16) {
		sx_v16 v;
		memcpy(&v, p + i, 16);
		unsigned m = b64_lanes(v, url);
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
	unsigned bit = url ? LK_C_URL : LK_C_B64;
	while (i < n && !(sx_lk_cls[p[i]] & bit))
		i++;
	return i;
}

/*
 * Lanes of the sixteen bytes at p that no run of base64 characters (see
 * run_walk()) holds or crosses: those outside the alphabet, line ends and
 * blanks ('=' ends a run), and blanks that follow neither a blank nor a line
 * end. A run starting before such a byte ends before it. (p[0] is taken for
 * no blank's predecessor: tokens() asks at a character of the alphabet.)
 */
static inline unsigned run_stops(const uint8_t *p, int url)
{
	sx_v16 v;
	memcpy(&v, p, 16);
	unsigned blank = sx_v16_mask((sx_v16)((v == ' ') | (v == '\t')));
	unsigned soft = blank | sx_v16_mask((sx_v16)((v == '\r') | (v == '\n')));
	return (~(b64_lanes(v, url) | soft) & 0xFFFFu) | (blank & ~(soft << 1));
}

/*
 * Runs of base64 characters, across line ends (a block of encoded lines is
 * one run) but not across blanks or '=' padding, decoded at each of the four
 * alignments: a token in a URL path starts wherever the path put it.
 *
 * In a derived view (w not NULL) only the runs that meet a window: any other
 * is a run of the view it comes from, decoded there. A run holds nothing but
 * the alphabet, line ends, blanks and '=', so the scan for a window starts
 * after the last other byte before it and cuts the runs as a scan from the
 * start would.
 */
static int tokens(struct lk_ctx *x, const uint8_t *p, size_t n, const struct lk_prof *pf,
		  unsigned tdepth, const struct lk_wins *w)
{
	struct sx_buf run, out;
	int rc = 0;

	/* a run holds LK_TOKEN_MIN characters of an alphabet at least */
	if (pf->alpha < LK_TOKEN_MIN)
		return 0;
	sx_lk_get(x, &run, n, 0);
	sx_lk_get(x, &out, n + 16, 0);
	/* URL-safe runs count only with a '-' or '_' in them */
	for (int url = 0; url < (pf->urlspec ? 2 : 1) && rc == 0; url++) {
		unsigned bit = url ? LK_C_URL : LK_C_B64;
		unsigned inrun = bit | LK_C_PAD | LK_C_BLANK | LK_C_EOL;
		size_t i = 0;
		for (size_t k = 0; k < (w ? w->n : 1) && rc == 0 && !x->found && !x->over; k++) {
			size_t a = w ? w->v[2 * k] : 0, b = w ? w->v[2 * k + 1] : n;
			size_t s0 = a;
			while (s0 > i && (sx_lk_cls[p[s0 - 1]] & inrun))
				s0--;
			if (s0 > i)
				i = s0;
			while (i < n && rc == 0 && !x->found && !x->over) {
				/* to the next run without looking at x for every byte;
				 * sixteen at a time when it is not the next one */
				if (i < n && !(sx_lk_cls[p[i]] & bit))
					i = next_b64(p, n, i + 1, url);
				if (i >= b)
					break;
				/* A run of LK_TOKEN_MIN characters spans that many bytes
				 * at least, of the alphabet and line breaks (blanks only
				 * after a line end; '=' ends it): one that cannot hold
				 * the byte that far on is too short, and so is every
				 * run starting before it. */
				size_t e = i + LK_TOKEN_MIN - 1;
				/* The same for each byte up to that one, sixteen at a
				 * time: past the last that no run crosses. */
				if (n - i >= 16) {
					unsigned stop = run_stops(p + i, url) &
							((1u << LK_TOKEN_MIN) - 1);
					if (stop) {
						i += 32 - (size_t)__builtin_clz(stop);
						continue;
					}
				}
				unsigned ce = e < n ? sx_lk_cls[p[e]] : bit;
				if (!(ce & (inrun & ~(unsigned)LK_C_PAD)) ||
				    ((ce & LK_C_BLANK) &&
				     !(sx_lk_cls[p[e - 1]] & (LK_C_BLANK | LK_C_EOL)))) {
					i = e + 1;
					continue;
				}
				/* measured first, copied only when it is a token */
				struct run r;
				size_t start = i;
				run_walk(p, n, start, bit, &r, NULL);
				i = r.end;
				if (r.m < LK_TOKEN_MIN || (url && !r.special) || r.end <= a)
					continue;
				rc = token_run(x, p, n, start, &r, url, tdepth, &run, &out);
			}
		}
	}
	sx_lk_put(x, &run);
	sx_lk_put(x, &out);
	return dec_err(x, rc);
}

/* HTML as shown: comments and tags removed, then references decoded. */
static int render(struct lk_ctx *x, const uint8_t *p, size_t n, struct sx_buf *out)
{
	struct sx_buf t;
	size_t i = 0, s = 0;
	int rc = 0;

	sx_lk_get(x, &t, n, n);
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
	/* white space collapsed, as browsers show it */
	size_t o = 0;
	for (size_t k = 0; rc == 0 && k < sx_buf_used(&t); k++) {
		uint8_t c = t.data[t.off + k];
		int ws = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
		if (ws && o > 0 && t.data[t.off + o - 1] == ' ')
			continue;
		t.data[t.off + o++] = ws ? ' ' : c;
	}
	t.len = t.off + o;
	if (rc == 0)
		rc = sx_html_decode(head(&t), sx_buf_used(&t), out);
	sx_lk_put(x, &t);
	return rc;
}

/* Whether decoding wrote an ESC into b (marks mk): escaped ISO-2022-JP. An
 * ESC the text had already is read in the text's own readings, and the
 * decoded copy differs from those only near its escapes. */
static int made_esc(const struct sx_buf *b, const struct sx_buf *mk)
{
	const uint8_t *p = head(b), *m = head(mk);
	size_t n = sx_buf_used(b);
	for (const uint8_t *q = p; (q = memchr(q, 0x1B, n - (size_t)(q - p))); q++)
		if (m[q - p])
			return 1;
	return 0;
}

/*
 * URL escapes and HTML references, each alone and both in either order, and
 * format=flowed lines joined: each a view of local changes to the view it
 * comes from (p, as its view() saw it: me), searched near them only. HTML
 * rendered is a view of its own.
 */
static int derive(struct lk_ctx *x, const uint8_t *p, size_t n, const struct lk_saw *me,
		  unsigned flags, unsigned tdepth)
{
	struct sx_buf a, b, ma, mb, ca, cb;
	int rc = 0;

	/* nothing to decode, join or render (the tests below, each alone) */
	if (!me->pf.pct && !me->pf.ref && !me->pf.flowed && !((flags & LK_V_HTML) && me->pf.lt))
		return 0;
	struct lk_saw *sa = malloc(sizeof *sa); /* what view() saw of a */
	if (!sa)
		return SX_ENOMEM;
	sa->known = 0;
	/* the decodings are about as long as p (most bytes are copied), as
	 * are their marks; the second ones are made from the first */
	sx_lk_get(x, &a, out_max(n), n);
	sx_lk_get(x, &ma, out_max(n), n);
	sx_lk_get(x, &b, out_max(n), 0);
	sx_lk_get(x, &mb, out_max(n), 0);
	/* a change per input byte at most, two size_t each */
	size_t cmax = out_max(n) < SIZE_MAX / (4 * sizeof(size_t)) ? 2 * sizeof(size_t) * (out_max(n) + 1)
								   : SIZE_MAX;
	sx_lk_get(x, &ca, cmax, 0);
	sx_lk_get(x, &cb, cmax, 0);
	if (me->pf.pct) {
		rc = sx_lk_pct_marked(p, n, &a, &ma, &ca);
		/* escaped ISO-2022-JP (RFC 2231 values, URLs) is read as such */
		if (rc == 0)
			rc = view_marked(x, &a, &ma, &ca, p, n, me, "url-decoded",
					 LK_V_TOKENS | (made_esc(&a, &ma) ? LK_V_CONVERT : 0u),
					 tdepth, sa);
		if (rc == 0 && sx_lk_has_ref(head(&a), sx_buf_used(&a))) {
			rc = sx_lk_html_marked(head(&a), sx_buf_used(&a), &b, &mb, &cb, &x->refs);
			if (rc == 0 && memchr(head(&mb), 1, sx_buf_used(&mb)))
				rc = view_marked(x, &b, &mb, &cb, head(&a), sx_buf_used(&a), sa,
						 "url-decoded → html-decoded", LK_V_TOKENS, tdepth,
						 NULL);
		}
	}
	sx_buf_reset(&a, SIZE_MAX);
	sx_buf_reset(&b, SIZE_MAX);
	sx_buf_reset(&ma, SIZE_MAX);
	sx_buf_reset(&mb, SIZE_MAX);
	sx_buf_reset(&ca, SIZE_MAX);
	sx_buf_reset(&cb, SIZE_MAX);
	sa->known = 0;
	if (rc == 0 && me->pf.ref) {
		rc = sx_lk_html_marked(p, n, &a, &ma, &ca, &x->refs);
		if (rc == 0 && memchr(head(&ma), 1, sx_buf_used(&ma))) {
			rc = view_marked(x, &a, &ma, &ca, p, n, me, "html-decoded", LK_V_TOKENS,
					 tdepth, sa);
			if (rc == 0 && sx_lk_has_pct(head(&a), sx_buf_used(&a))) {
				rc = sx_lk_pct_marked(head(&a), sx_buf_used(&a), &b, &mb, &cb);
				if (rc == 0)
					rc = view_marked(x, &b, &mb, &cb, head(&a), sx_buf_used(&a),
							 sa, "html-decoded → url-decoded",
							 LK_V_TOKENS, tdepth, NULL);
			}
		}
	}
	sx_buf_reset(&a, SIZE_MAX);
	sx_buf_reset(&ma, SIZE_MAX);
	sx_buf_reset(&ca, SIZE_MAX);
	if (rc == 0 && me->pf.flowed) {
		rc = sx_lk_flowed_marked(p, n, &a, &ma, &ca);
		if (rc == 0)
			rc = view_marked(x, &a, &ma, &ca, p, n, me, "flowed-joined", LK_V_TOKENS,
					 tdepth, NULL);
	}
	sx_buf_reset(&a, SIZE_MAX);
	if (rc == 0 && (flags & LK_V_HTML) && me->pf.lt) {
		rc = render(x, p, n, &a);
		if (rc == 0 && !same(&a, p, n))
			rc = view_buf(x, &a, "html-rendered", LK_V_TOKENS, tdepth);
	}
	sx_lk_put(x, &a);
	sx_lk_put(x, &b);
	sx_lk_put(x, &ma);
	sx_lk_put(x, &mb);
	sx_lk_put(x, &ca);
	sx_lk_put(x, &cb);
	free(sa);
	return dec_err(x, rc);
}

/*
 * The bytes read as text: in the declared charset, and in UTF-8, CP932,
 * EUC-JP and ISO-2022-JP wherever that can change anything (8-bit bytes
 * that are not UTF-8 for the first three, an escape for the last). Valid
 * UTF-8 is what a reader guessing a charset takes it for, and text in CP932
 * or EUC-JP is hardly ever valid UTF-8 (a trail byte there is a lead one
 * here); names written in those charsets are found by their own needles.
 * A reading with few replacement characters is a plausible text and gets
 * its escapes decoded as well.
 */
static int convert(struct lk_ctx *x, const uint8_t *p, size_t n, struct lk_prof *pf,
		   unsigned flags, int binary, unsigned tdepth)
{
	static const char *const fixed[4] = { "utf-8", "cp932", "euc-jp", "iso-2022-jp" };
	const char *labels[5] = { x->charset, fixed[0], fixed[1], fixed[2], fixed[3] };
	const char *names[5] = { NULL };
	int has8 = pf->has8, esc = pf->esc;
	/* asked only with 8-bit bytes; the search rules may have asked already */
	int valid = has8 && sx_lk_prof_valid(pf, p, n);

	/* Binary is not text in any charset: its CP932, EUC-JP and UTF-8
	 * names are found by their own needles; only a kanji run of
	 * ISO-2022-JP needs reading, where one starts. */
	if (binary) {
		labels[0] = labels[1] = labels[2] = labels[3] = NULL;
		esc = memmem(p, n, "\x1b$B", 3) || memmem(p, n, "\x1b$@", 3);
		/* except UTF-16 text (a NUL every other byte), as in Word files,
		 * where full-width letters are not found by any needle */
		size_t z[2] = { 0, 0 };
		for (size_t i = 0; i < n; i++)
			z[i & 1] += p[i] == 0;
		if (z[1] * 4 >= n)
			labels[0] = "utf-16le";
		else if (z[0] * 4 >= n)
			labels[0] = "utf-16be";
	}
	struct sx_buf out;
	int rc = 0, got = 0;

	/* the names of our own labels, looked up once a check */
	if (!x->fixed_known) {
		for (size_t i = 0; i < 4; i++)
			x->fixed_names[i] = sx_charset_iconv_name(fixed[i]);
		x->fixed_known = 1;
	}
	for (size_t i = 0; i < 5 && rc == 0 && !x->found && !x->over; i++) {
		const char *label = labels[i];
		if (!label || !label[0] ||
		    !(names[i] = i ? x->fixed_names[i - 1] : sx_charset_iconv_name(label)))
			continue;
		int dup = 0;
		for (size_t k = 0; k < i; k++)
			dup |= names[k] && strcmp(names[k], names[i]) == 0;
		if (dup || ((i >= 1 && i <= 3) && (!has8 || valid)) ||
		    (i == 4 && !esc))
			continue;
		/* Readings that give the bytes back (skipped below when made):
		 * UTF-8 of valid text, and ASCII in charsets that read each
		 * 7-bit byte as itself (checked with iconv for these; ESC is
		 * the one exception of ISO-2022-JP). */
		const char *nm = names[i];
		if ((strcmp(nm, "UTF-8") == 0 && (!has8 || valid)) ||
		    (!has8 && (strcmp(nm, "US-ASCII") == 0 || strcmp(nm, "CP932") == 0 ||
			       strcmp(nm, "EUC-JP") == 0 ||
			       (strcmp(nm, "ISO-2022-JP-2") == 0 && !pf->esc))))
			continue;
		size_t bad = 0;
		if (!got) {
			/* two bytes of a Japanese charset are three of UTF-8 */
			sx_lk_get(x, &out, out_max(n), n + n / 2 + 16);
			got = 1;
		}
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
		/* a label iconv knows is one of ours, safe to name */
		unsigned f = LK_V_TOKENS;
		if (bad * 16 <= sx_buf_used(&out))
			f |= LK_V_DERIVE | (flags & LK_V_HTML);
		rc = view_buf(x, &out, label, f, tdepth);
	}
	if (got)
		sx_lk_put(x, &out);
	return dec_err(x, rc);
}

/* ---- views already examined ---- */

static uint64_t lane(uint64_t h, const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	h = (h ^ w) * 0xFF51AFD7ED558CCDu;
	return h ^ (h >> 32);
}

/* Four lanes over 32-byte blocks: one lane is a chain of multiplies. (Only
 * the index uses the hash; views are compared byte for byte.) */
static uint64_t vhash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15u ^ (uint64_t)n, w;
	size_t i = 0;
	if (n >= 64) {
		uint64_t l[4] = { h, 0x2545F4914F6CDD1Du, 0x94D049BB133111EBu,
				  0xBF58476D1CE4E5B9u };
		for (; i + 32 <= n; i += 32)
			for (int k = 0; k < 4; k++)
				l[k] = lane(l[k], p + i + 8 * k);
		h = l[0] ^ (l[1] << 16 | l[1] >> 48) ^ (l[2] << 32 | l[2] >> 32) ^
		    (l[3] << 48 | l[3] >> 16);
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDu;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p + i, n - i);
	h = (h ^ w) * 0xC4CEB9FE1A85EC53u;
	return h ^ (h >> 29);
}

/*
 * Whether seen (examined, or being examined) covers a view of the same bytes
 * and charset with these flags and token depth. Every step of view() is a
 * function of the bytes, the flags, the token depth and the declared charset
 * alone, and gives more with more flags and a shallower depth: the search
 * (LONGONLY narrows it, so it covers only LONGONLY), the folded copy, the
 * tokens (below LK_TOKEN_DEPTH), derive (HTML adds the rendered text) and
 * convert. So seen's search and derived views include the repeat's.
 */
static int covers(const struct lk_seen *seen, unsigned flags, unsigned tdepth)
{
	if (seen->tdepth > tdepth)
		return 0;
	/* a run covers only the same run, decoded at as many alignments */
	if ((seen->flags ^ flags) & (LK_V_RUN | LK_V_RUNURL))
		return 0;
	if (flags & LK_V_LONGONLY)
		return 1;
	return !(seen->flags & LK_V_LONGONLY) && (flags & ~seen->flags) == 0;
}

static int arena_put(struct lk_memo *m, const void *p, size_t n, size_t *off)
{
	if (n > m->acap - m->alen) {
		size_t cap = m->acap ? m->acap : 65536;
		while (n > cap - m->alen) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		uint8_t *a = realloc(m->arena, cap);
		if (!a)
			return -1;
		m->arena = a;
		m->acap = cap;
	}
	if (n)
		memcpy(m->arena + m->alen, p, n);
	*off = m->alen;
	m->alen += n;
	return 0;
}

static int memo_grow(struct lk_memo *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	struct lk_seen *v = realloc(m->v, cap * sizeof *v);
	if (!v)
		return -1;
	m->v = v;
	m->cap = cap;
	/* the index at most half full */
	uint32_t *slot = calloc(cap * 2, sizeof *slot);
	if (!slot || cap * 2 > UINT32_MAX)
		goto fail;
	free(m->slot);
	m->slot = slot;
	m->smask = cap * 2 - 1;
	for (size_t i = 0; i < m->nv; i++) {
		size_t h = (size_t)m->v[i].h & m->smask;
		while (m->slot[h])
			h = (h + 1) & m->smask;
		m->slot[h] = (uint32_t)(i + 1);
	}
	return 0;
fail:
	free(slot);
	return -1;
}

/*
 * Returns 1 when a view examined before covers this one (byte for byte the
 * same, compared in full, not by hash); otherwise records this one and
 * returns 0. Without memory it records nothing and every view is examined.
 */
static int view_seen(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags,
		     unsigned tdepth)
{
	struct lk_memo *m = &x->memo;
	if (m->off)
		return 0;
	const char *cs = x->charset ? x->charset : "";
	size_t csn = strlen(cs);
	uint64_t h = vhash(p, n);
	size_t same_off = SIZE_MAX, same_cs = SIZE_MAX;
	if (m->nv) {
		for (size_t i = (size_t)h & m->smask; m->slot[i]; i = (i + 1) & m->smask) {
			const struct lk_seen *e = &m->v[m->slot[i] - 1];
			/* n or csn may be 0 with an empty arena: no memcmp on NULL. */
			if (e->h != h || e->n != n || (n && memcmp(m->arena + e->off, p, n) != 0))
				continue;
			same_off = e->off;
			if (e->csn != csn || (csn && memcmp(m->arena + e->cs, cs, csn) != 0))
				continue;
			same_cs = e->cs;
			if (covers(e, flags, tdepth))
				return 1;
		}
	}
	if (m->nv == m->cap && memo_grow(m) < 0)
		goto off;
	struct lk_seen e = { h, same_off, n, same_cs, csn, flags, tdepth };
	if (same_off == SIZE_MAX && arena_put(m, p, n, &e.off) < 0)
		goto off;
	if (same_cs == SIZE_MAX && arena_put(m, cs, csn, &e.cs) < 0)
		goto off;
	m->v[m->nv] = e;
	size_t i = (size_t)h & m->smask;
	while (m->slot[i])
		i = (i + 1) & m->smask;
	m->slot[i] = (uint32_t)(++m->nv);
	return 0;
off:
	m->off = 1; /* an earlier entry still covers what it covered */
	return 0;
}

void sx_lk_memo_finish(struct lk_memo *m)
{
	free(m->v);
	free(m->slot);
	free(m->arena);
	memset(m, 0, sizeof *m);
}

/* ---- scratch storage ---- */

void sx_lk_get(struct lk_ctx *x, struct sx_buf *b, size_t max, size_t want)
{
	struct lk_pool *pl = &x->pool;
	if (want > max)
		want = max;
	if (pl->nb == 0) {
		sx_buf_init(b, max);
	} else {
		/* the smallest that holds want, else the largest: big storage is
		 * kept for big views */
		size_t best = 0;
		for (size_t i = 1; i < pl->nb; i++) {
			size_t c = pl->b[i].cap, bc = pl->b[best].cap;
			if (bc >= want ? c >= want && c < bc : c > bc)
				best = i;
		}
		*b = pl->b[best];
		pl->b[best] = pl->b[--pl->nb];
		b->off = b->len = 0;
		b->max = max;
	}
	if (want > b->cap) {
		/* empty: fresh storage, not a realloc copying what it held */
		free(b->data);
		b->data = NULL;
		b->cap = 0;
		(void)sx_buf_reserve(b, want); /* without memory, the appends say so */
	}
}

void sx_lk_put(struct lk_ctx *x, struct sx_buf *b)
{
	struct lk_pool *pl = &x->pool;
	if (b->data && b->cap <= LK_POOL_KEEP && pl->nb < LK_POOL_MAX)
		pl->b[pl->nb++] = *b;
	else
		sx_buf_finish(b);
	sx_buf_init(b, 0);
}

void sx_lk_wins_get(struct lk_ctx *x, struct lk_wins *w)
{
	struct lk_pool *pl = &x->pool;
	w->n = 0;
	if (pl->nw == 0) {
		w->v = NULL;
		w->cap = 0;
		return;
	}
	pl->nw--;
	w->v = pl->w[pl->nw].v;
	w->cap = pl->w[pl->nw].cap;
}

void sx_lk_wins_put(struct lk_ctx *x, struct lk_wins *w)
{
	struct lk_pool *pl = &x->pool;
	if (w->v && w->cap * 2 * sizeof *w->v <= LK_POOL_KEEP && pl->nw < LK_POOL_MAX) {
		pl->w[pl->nw].v = w->v;
		pl->w[pl->nw].cap = w->cap;
		pl->nw++;
		memset(w, 0, sizeof *w);
	} else {
		sx_lk_wins_finish(w);
	}
}

void sx_lk_pool_finish(struct lk_pool *p)
{
	for (size_t i = 0; i < p->nb; i++)
		sx_buf_finish(&p->b[i]);
	for (size_t i = 0; i < p->nw; i++)
		free(p->w[i].v);
	memset(p, 0, sizeof *p);
}

/*
 * The profile and windows of a derived view (from): its windows around the
 * changes, the same stretches of the parent, and the profile from the
 * parent's. Returns 1 when the view is to be searched in its windows only
 * (w, pf filled), 0 when in full (its rules let more match than its
 * parent's, or its profile needs a whole pass), or SX_ENOMEM.
 */
static int derived(struct lk_ctx *x, const uint8_t *p, size_t n, const struct lk_from *from,
		   struct lk_wins *w, struct lk_prof *pf, unsigned *sf)
{
	struct lk_wins wp;
	sx_lk_wins_get(x, &wp);
	int rc = sx_lk_windows(p, n, from->mark, x->ac.maxlen + LK_WIN_MARGIN, from->lines, w);
	if (rc == 0)
		rc = sx_lk_wins_map(w, from->chg, from->nchg, &wp);
	if (rc == 0) {
		sx_lk_prof_derive(pf, from->pf, p, n, w, from->p, &wp);
		int b64 = sx_lk_prof_b64block(pf);
		if (b64 < 0) {
			rc = 0; /* the longest line is needed: a whole pass */
		} else {
			*sf = sx_lk_prof_texty(pf, p, n) && !b64 ? LK_S_SHORT : 0;
			rc = !wider(*sf, from->sf);
		}
	}
	sx_lk_wins_put(x, &wp);
	return rc;
}

static int view(struct lk_ctx *x, const uint8_t *p, size_t n, unsigned flags, unsigned tdepth,
		const struct lk_from *from, struct lk_saw *saw)
{
	int rc = 0;

	if (n > x->work_max - x->work) {
		too_much(x);
		return 0;
	}
	x->work += n;
	/* A repeat still counts (it was made, and hashing and comparing it
	 * cost as much), but what it would search is searched already, and
	 * so is everything it would derive: neither is made again. */
	if (view_seen(x, p, n, flags, tdepth))
		return 0;

	long k = -1;
	if (flags & LK_V_LONGONLY) {
		/* searched only, for long needles only */
		if ((k = sx_lk_search(&x->ac, p, n, LK_S_LONG)) >= 0)
			found(x, k);
		return 0;
	}
	struct lk_saw me = { 1, 0, { 0 } };
	struct lk_prof *pf = &me.pf;
	/* A derived view is searched near its changes only (leak_window.c),
	 * unless its rules let more match than its parent's did. */
	struct lk_wins w = { NULL, 0, 0 };
	const struct lk_wins *wp = NULL;
	if (from)
		sx_lk_wins_get(x, &w);
	int part = from ? derived(x, p, n, from, &w, pf, &me.sf) : 0;
	if (part < 0) {
		rc = part;
		goto out;
	}
	if (part) {
		wp = &w;
		for (size_t i = 0; i < w.n && k < 0; i++)
			k = sx_lk_search_range(&x->ac, p, n, w.v[2 * i], w.v[2 * i + 1], me.sf);
	} else {
		sx_lk_profile(p, n, pf);
		me.sf = sx_lk_prof_texty(pf, p, n) && !sx_lk_prof_b64block(pf) ? LK_S_SHORT : 0;
		k = sx_lk_search(&x->ac, p, n, me.sf);
	}
	if (saw)
		*saw = me;
	if (k >= 0) {
		found(x, k);
		goto out;
	}
	if (!flags)
		goto out;
	/* Escapes are written in text; binary (a control byte in sixteen)
	 * holds '%' and '&' by chance, and decoding them is work for nothing. */
	int binary = pf->ctrl * 16 > n;

	if (pf->norm) {
		/* folded bytes, marks, changes (at most one per two bytes) */
		struct sx_buf qb, cb;
		sx_lk_get(x, &qb, 2 * n + 1, 2 * n + 1);
		sx_lk_get(x, &cb, (n + 2) * sizeof(size_t), (n + 2) * sizeof(size_t));
		if (qb.cap < 2 * n + 1 || cb.cap < (n + 2) * sizeof(size_t)) {
			rc = SX_ENOMEM;
		} else {
			uint8_t *q = sx_buf_tail(&qb);
			size_t *chg = (size_t *)(void *)sx_buf_tail(&cb);
			size_t nchg = 0;
			size_t qn = sx_lk_normalize(p, n, q, q + n, chg, &nchg);
			struct lk_from fold = { p, n, pf, me.sf, q + n, chg, nchg, 0 };
			rc = view_in(x, q, qn, "full-width/invisible folded",
				     flags & ~(unsigned)LK_V_CONVERT, tdepth, &fold, NULL);
		}
		sx_lk_put(x, &qb);
		sx_lk_put(x, &cb);
		if (rc < 0)
			goto out;
	}
	if (rc == 0 && (flags & LK_V_TOKENS) && tdepth < LK_TOKEN_DEPTH)
		rc = tokens(x, p, n, pf, tdepth, wp);
	if (rc == 0 && (flags & LK_V_DERIVE) && !binary)
		rc = derive(x, p, n, &me, flags, tdepth);
	if (rc == 0 && (flags & LK_V_CONVERT))
		rc = convert(x, p, n, pf, flags, binary, tdepth);
out:
	sx_lk_wins_put(x, &w);
	return rc;
}

static int view_in(struct lk_ctx *x, const uint8_t *p, size_t n, const char *step,
		   unsigned flags, unsigned tdepth, const struct lk_from *from, struct lk_saw *saw)
{
	if (saw)
		saw->known = 0;
	if (x->found || x->over)
		return 0;
	if (x->nsteps < LK_STEPS_MAX)
		x->steps[x->nsteps] = step;
	x->nsteps++;
	int rc = view(x, p, n, flags, tdepth, from, saw);
	x->nsteps--;
	return rc;
}

int sx_lk_view(struct lk_ctx *x, const uint8_t *p, size_t n, const char *step, unsigned flags,
	       unsigned tdepth)
{
	return view_in(x, p, n, step, flags, tdepth, NULL, NULL);
}
