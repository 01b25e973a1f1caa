/*
 * leak_window.c: where a derived view differs from the view it comes from.
 *
 * URL escapes, HTML references, format=flowed joins and full-width folding
 * change a view in a few places and copy every other byte. The view they
 * come from has been searched as a whole by then, each byte in its
 * context (the word, the line, a placeholder around it): a match in a copied
 * stretch whose lines are copied too was a match there. So a derived view is
 * built with a mark on every byte a change wrote (or beside a byte a change
 * removed), and searched only in windows around the marks: the longest
 * needle and a margin on either side, so that a match touching a change lies
 * in one. A match elsewhere has the parent's bytes around it as far as the
 * rules read (a word's edges, a placeholder, which holds no byte a change
 * reads); and its line is the parent's, or a line of the parent that held
 * the change's source (a '%', '&', 8-bit byte), never a line of base64 text
 * there: the rules reject no more in the parent. Only a format=flowed join
 * makes a new line of two, so its windows take whole lines. leak_views.c
 * decides when a view may be searched so (its search rules no wider than its
 * parent's).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codec.h"
#include "err.h"
#include "leak_impl.h"

/* ---- windows ---- */

static int eol(uint8_t c)
{
	return c == '\n' || c == '\r';
}

/* Start of the line holding p[i], or floor if that comes first: the window
 * before reaches that far. */
static size_t line_start(const uint8_t *p, size_t i, size_t floor)
{
	while (i > floor && !eol(p[i - 1]))
		i--;
	return i;
}

/* End of the line holding p[i], its line end included. */
static size_t line_end(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && !eol(p[i]))
		i++;
	while (i < n && eol(p[i]))
		i++;
	return i;
}

/* p[i] moved back (or forward) off UTF-8 continuation bytes, three at most. */
static size_t char_start(const uint8_t *p, size_t n, size_t i, size_t floor, int fwd)
{
	for (int k = 0; k < 3 && i > floor && i < n && (p[i] & 0xC0) == 0x80; k++)
		i += fwd ? 1 : (size_t)-1;
	return i;
}

static int wins_add(struct lk_wins *w, size_t a, size_t b)
{
	if (w->n && a <= w->v[2 * w->n - 1]) {
		if (b > w->v[2 * w->n - 1])
			w->v[2 * w->n - 1] = b;
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		size_t *v = realloc(w->v, 2 * cap * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[2 * w->n] = a;
	w->v[2 * w->n + 1] = b;
	w->n++;
	return 0;
}

int sx_lk_windows(const uint8_t *p, size_t n, const uint8_t *mark, size_t ext, int lines,
		  struct lk_wins *w)
{
	w->n = 0;
	for (size_t i = 0; i < n;) {
		const uint8_t *m = memchr(mark + i, 1, n - i);
		if (!m)
			break;
		size_t c0 = (size_t)(m - mark), c1 = c0;
		while (c1 < n && mark[c1])
			c1++;
		/* Each byte is looked at once: back to the window before at
		 * most, forward not again inside it. */
		size_t last = w->n ? w->v[2 * w->n - 1] : 0;
		size_t from = c0 > ext ? c0 - ext : 0, to = n - c1 > ext ? c1 + ext : n;
		size_t a = from <= last ? last
			   : lines ? line_start(p, from, last) : char_start(p, n, from, last, 0);
		size_t b = to <= last ? last : lines ? line_end(p, n, to) : char_start(p, n, to, 0, 1);
		int rc = wins_add(w, a, b);
		if (rc < 0)
			return rc;
		i = c1;
	}
	return 0;
}

void sx_lk_wins_finish(struct lk_wins *w)
{
	free(w->v);
	memset(w, 0, sizeof *w);
}

int sx_lk_wins_map(const struct lk_wins *w, const size_t *chg, size_t nchg, struct lk_wins *wp)
{
	size_t c = 0, xe = 0, pe = 0; /* the last change before: ends at xe in x, pe in p */

	wp->n = 0;
	for (size_t k = 0; k < w->n; k++) {
		size_t q[2];
		for (int e = 0; e < 2; e++) {
			/* a change ending where a window starts is a removal there
			 * (at 0: others mark the byte before): its bytes belong in */
			size_t at = w->v[2 * k + (size_t)e];
			while (c < nchg && (e ? chg[2 * c] <= at : chg[2 * c] < at)) {
				xe = chg[2 * c];
				pe = chg[2 * c + 1];
				c++;
			}
			q[e] = pe + (at - xe); /* outside every change: copied */
		}
		if (w->n > wp->cap) {
			size_t *v = realloc(wp->v, 2 * w->n * sizeof *v);
			if (!v)
				return SX_ENOMEM;
			wp->v = v;
			wp->cap = w->n;
		}
		wp->v[2 * k] = q[0];
		wp->v[2 * k + 1] = q[1];
		wp->n++;
	}
	return 0;
}

/* ---- marked transforms ---- */

/* Records a change ending at o in out and i in the input. */
static int change(struct sx_buf *chg, size_t o, size_t i)
{
	size_t v[2] = { o, i };
	return sx_buf_append(chg, v, sizeof v);
}

static int hexd(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Appends n marks of value v. */
static int marks(struct sx_buf *mark, uint8_t v, size_t n)
{
	if (n == 0)
		return 0; /* an empty buffer may have no storage to point into */
	int rc = sx_buf_reserve(mark, n);
	if (rc < 0)
		return rc;
	memset(sx_buf_tail(mark), v, n);
	sx_buf_commit(mark, n);
	return 0;
}

/* Copies p[s, e) unchanged. */
static int copy(const uint8_t *p, size_t s, size_t e, struct sx_buf *out, struct sx_buf *mark)
{
	int rc = sx_buf_append(out, p + s, e - s);
	return rc < 0 ? rc : marks(mark, 0, e - s);
}

/*
 * A change wrote out's bytes from o0 on: they are marked. One that wrote
 * none (a removal) marks the byte before it, whose window covers the byte
 * after it too; at the very start *first is set, and the first byte is
 * marked at the end (mark_first).
 */
static void changed(const struct sx_buf *out, struct sx_buf *mark, size_t o0, int *first)
{
	size_t o1 = sx_buf_used(out);
	if (o1 == 0) {
		*first = 1; /* nothing written yet, no storage to point into */
		return;
	}
	uint8_t *mk = mark->data + mark->off;
	for (size_t k = o0; k < o1; k++)
		mk[k] = 1;
	if (o1 == o0)
		mk[o0 - 1] = 1;
}

static void mark_first(struct sx_buf *mark, int first)
{
	if (first && sx_buf_used(mark))
		mark->data[mark->off] = 1;
}

int sx_lk_pct_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
		     struct sx_buf *chg)
{
	size_t s = 0, i = 0;
	int rc = 0;
	/* escapes as sx_pct_decode finds them, left to right; each run of
	 * them decoded by it, the bytes between copied */
	while (i < n && rc == 0) {
		const uint8_t *pc = memchr(p + i, '%', n - i);
		if (!pc)
			break;
		i = (size_t)(pc - p);
		if (!(i + 2 < n && hexd(p[i + 1]) && hexd(p[i + 2]))) {
			i++;
			continue;
		}
		size_t e = i;
		while (e < n && p[e] == '%' && e + 2 < n && hexd(p[e + 1]) && hexd(p[e + 2]))
			e += 3;
		if ((rc = copy(p, s, i, out, mark)) < 0)
			break;
		size_t o0 = sx_buf_used(out);
		if ((rc = sx_pct_decode(p + i, e - i, out)) < 0 ||
		    (rc = marks(mark, 1, sx_buf_used(out) - o0)) < 0 ||
		    (rc = change(chg, sx_buf_used(out), e)) < 0)
			break;
		s = i = e;
	}
	return rc < 0 ? rc : copy(p, s, n, out, mark);
}

/*
 * An HTML reference is '&', then '#' and digits (or 'x' and hex digits), or
 * a name of letters and digits, and an optional ';': never past the next '&'.
 * Each '&' with the letters, digits, '#' and ';' after it is decoded by
 * sx_html_decode on its own; every other byte is copied, as sx_html_decode
 * copies it.
 */
static size_t ref_slot(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % LK_REF_SLOTS;
}

/* Appends the decoding of the reference slice p (n bytes) to out. */
static int ref_decode(struct lk_refs *rm, const uint8_t *p, size_t n, struct sx_buf *out)
{
	size_t k = ref_slot(p, n), o0 = sx_buf_used(out);
	if (n <= LK_REF_MAX && rm->inn[k] == n && memcmp(rm->in[k], p, n) == 0)
		return sx_buf_append(out, rm->out[k], rm->outn[k]);
	int rc = sx_html_decode(p, n, out);
	size_t got = sx_buf_used(out) - o0;
	if (rc == 0 && n <= LK_REF_MAX && got <= sizeof rm->out[k]) {
		memcpy(rm->in[k], p, n);
		rm->inn[k] = (uint8_t)n;
		memcpy(rm->out[k], sx_buf_head(out) + o0, got);
		rm->outn[k] = (uint8_t)got;
	}
	return rc;
}

int sx_lk_html_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
		      struct sx_buf *chg, struct lk_refs *refs)
{
	size_t s = 0;
	int rc = 0, first = 0;

	for (size_t i = 0; i < n && rc == 0;) {
		const uint8_t *a = memchr(p + i, '&', n - i);
		if (!a)
			break;
		i = (size_t)(a - p);
		size_t e = i + 1;
		while (e < n && (p[e] == '#' || (p[e] >= '0' && p[e] <= '9') ||
				 ((p[e] | 0x20) >= 'a' && (p[e] | 0x20) <= 'z')))
			e++;
		if (e < n && p[e] == ';')
			e++;
		if ((rc = copy(p, s, i, out, mark)) < 0)
			break;
		size_t o0 = sx_buf_used(out);
		if ((rc = ref_decode(refs, p + i, e - i, out)) < 0 ||
		    (rc = marks(mark, 0, sx_buf_used(out) - o0)) < 0)
			break;
		if (sx_buf_used(out) - o0 != e - i ||
		    memcmp(sx_buf_head(out) + o0, p + i, e - i) != 0) {
			changed(out, mark, o0, &first);
			if ((rc = change(chg, sx_buf_used(out), e)) < 0)
				break;
		}
		s = i = e;
	}
	if (rc == 0 && (rc = copy(p, s, n, out, mark)) == 0)
		mark_first(mark, first);
	return rc;
}

int sx_lk_flowed_marked(const uint8_t *p, size_t n, struct sx_buf *out, struct sx_buf *mark,
			struct sx_buf *chg)
{
	size_t s = 0;
	int rc = 0, first = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (p[i] != ' ')
			continue;
		size_t le = i + 1 < n && p[i + 1] == '\n' ? 1
			    : i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n' ? 2 : 0;
		if (!le)
			continue;
		/* the blank kept, the line end after it removed */
		if ((rc = copy(p, s, i + 1, out, mark)) < 0)
			break;
		changed(out, mark, sx_buf_used(out), &first);
		s = i + 1 + le;
		i += le;
		if ((rc = change(chg, sx_buf_used(out), s)) < 0)
			break;
	}
	if (rc == 0 && (rc = copy(p, s, n, out, mark)) == 0)
		mark_first(mark, first);
	return rc;
}
