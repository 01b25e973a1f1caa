/*
 * redact_text.c: one decoded text redacted round after round.
 *
 * A replacement can join text into a new identifier, or reveal one a view
 * could only see once its neighbour changed, so the views are searched again
 * on the changed text until a round finds nothing (at most RX_ROUNDS). The
 * text is kept as pieces: runs of the original, and replacements that know
 * the span of the original they stand for, so that the final edits are
 * edits of the original text however many rounds it took.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact_impl.h"

struct piece {
	size_t o_off, o_len;  /* extent in the original text */
	uint8_t *data;        /* replacement bytes (owned), NULL: original bytes */
	size_t dlen;
	unsigned count;
	uint8_t kind, enc, addr;
};

struct pieces {
	struct piece *v;
	size_t n, cap;
};

static void pieces_finish(struct pieces *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].data);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

static int pieces_push(struct pieces *p, const struct piece *q)
{
	if (q->o_len == 0 && !q->data)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct piece *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = *q;
	return 0;
}

static size_t plen(const struct piece *q)
{
	return q->data ? q->dlen : q->o_len;
}

static const uint8_t *pbytes(const uint8_t *orig, const struct piece *q)
{
	return q->data ? q->data : orig + q->o_off;
}

static int pieces_text(const uint8_t *orig, const struct pieces *p, struct sx_buf *out)
{
	int rc = 0;
	sx_buf_reset(out, SIZE_MAX);
	for (size_t i = 0; i < p->n && rc == 0; i++)
		rc = sx_buf_append(out, pbytes(orig, &p->v[i]), plen(&p->v[i]));
	return rc;
}

/* Index of the piece holding current offset c, given start offsets cs. */
static size_t piece_at(const size_t *cs, size_t n, size_t c)
{
	size_t lo = 0, hi = n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (cs[mid] <= c)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Applies edits of the current text (cur, sorted, disjoint) to the pieces.
 * A replacement piece an edit touches is absorbed whole, so every piece
 * stays either original bytes or one replacement with its original extent.
 */
static int pieces_apply(const uint8_t *orig, struct pieces *p, const uint8_t *cur,
			const struct rx_edits *e, size_t scratch)
{
	struct pieces np = { NULL, 0, 0 };
	size_t *cs = malloc((p->n + 1) * sizeof *cs);
	struct sx_buf d;
	int rc = 0;

	if (!cs)
		return SX_ENOMEM;
	cs[0] = 0;
	for (size_t i = 0; i < p->n; i++)
		cs[i + 1] = cs[i] + plen(&p->v[i]);
	sx_buf_init(&d, scratch);

	size_t pi = 0;    /* next piece not yet copied */
	size_t pcut = 0;  /* bytes of piece pi already consumed (identity split) */
	for (size_t i = 0; i < e->n && rc == 0;) {
		size_t a = piece_at(cs, p->n, e->v[i].off);
		size_t A = p->v[a].data ? cs[a] : e->v[i].off;
		size_t j = i, B, b;
		for (;;) {
			const struct rx_edit *f = &e->v[j];
			b = piece_at(cs, p->n, f->off + f->len - 1);
			B = p->v[b].data ? cs[b + 1] : f->off + f->len;
			if (j + 1 < e->n && e->v[j + 1].off < B)
				j++;
			else
				break;
		}
		/* pieces before the group */
		for (; pi < a && rc == 0; pi++, pcut = 0) {
			struct piece q = p->v[pi];
			q.o_off += pcut;
			q.o_len -= pcut;
			if (q.data) {
				rc = pieces_push(&np, &q);
				p->v[pi].data = NULL;
			} else {
				rc = pieces_push(&np, &q);
			}
		}
		if (rc < 0)
			break;
		/* the untouched head of an identity piece */
		struct piece g = { 0, 0, NULL, 0, 0, 0, 0, 0 };
		if (!p->v[a].data && A > cs[a] + pcut) {
			struct piece q = { p->v[a].o_off + pcut, A - cs[a] - pcut, NULL, 0, 0, 0,
					   0, 0 };
			rc = pieces_push(&np, &q);
		}
		g.o_off = p->v[a].data ? p->v[a].o_off : p->v[a].o_off + (A - cs[a]);
		size_t o_end = p->v[b].data ? p->v[b].o_off + p->v[b].o_len :
				p->v[b].o_off + (B - cs[b]);
		g.o_len = o_end - g.o_off;
		/* the group's bytes */
		sx_buf_reset(&d, SIZE_MAX);
		size_t at = A;
		int first = 1;
		for (size_t k = i; k <= j && rc == 0; k++) {
			const struct rx_edit *f = &e->v[k];
			rc = sx_buf_append(&d, cur + at, f->off - at);
			if (rc == 0)
				rc = sx_buf_append(&d, f->data, f->dlen);
			at = f->off + f->len;
			g.count += f->count;
			g.addr |= f->addr;
			if (first && !(p->v[a].data && A < e->v[i].off)) {
				g.kind = f->kind;
				g.enc = f->enc;
			}
			first = 0;
		}
		if (rc == 0)
			rc = sx_buf_append(&d, cur + at, B - at);
		for (size_t k = a; k <= b; k++) {
			if (!p->v[k].data)
				continue;
			g.count += p->v[k].count;
			g.addr |= p->v[k].addr;
		}
		if (p->v[a].data && A < e->v[i].off) {
			g.kind = p->v[a].kind;
			g.enc = p->v[a].enc;
		}
		if (rc < 0)
			break;
		g.dlen = sx_buf_used(&d);
		g.data = malloc(g.dlen ? g.dlen : 1);
		if (!g.data) {
			rc = SX_ENOMEM;
			break;
		}
		memcpy(g.data, sx_buf_head(&d), g.dlen);
		rc = pieces_push(&np, &g);
		if (rc < 0) {
			free(g.data);
			break;
		}
		for (size_t k = a; k <= b; k++) {
			free(p->v[k].data);
			p->v[k].data = NULL;
		}
		/* the rest of the last piece, when identity */
		pi = b;
		pcut = B - cs[b];
		if (p->v[b].data || pcut >= p->v[b].o_len) {
			pi = b + 1;
			pcut = 0;
		}
		i = j + 1;
	}
	for (; pi < p->n && rc == 0; pi++, pcut = 0) {
		struct piece q = p->v[pi];
		q.o_off += pcut;
		q.o_len -= pcut;
		rc = pieces_push(&np, &q);
		p->v[pi].data = NULL;
	}
	free(cs);
	sx_buf_finish(&d);
	if (rc < 0) {
		pieces_finish(&np);
		return rc;
	}
	pieces_finish(p);
	*p = np;
	return 0;
}

/* The replacement pieces as edits of the original text. */
static int pieces_edits(const struct pieces *p, struct rx_edits *out)
{
	int rc = 0;
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		const struct piece *q = &p->v[i];
		if (!q->data)
			continue;
		rc = sx_rx_edits_add(out, q->o_off, q->o_len, q->data, q->dlen, q->count, q->kind,
				     q->enc, q->addr);
	}
	return rc;
}

/* The spans of the current text the replacements hold, as pairs. */
static int pieces_spans(const struct pieces *p, size_t **v, size_t *nv)
{
	size_t k = 0, at = 0;
	size_t *s = malloc((p->n + 1) * 2 * sizeof *s);
	if (!s)
		return SX_ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		size_t l = plen(&p->v[i]);
		if (p->v[i].data) {
			if (k > 0 && s[2 * k - 1] == at) {
				s[2 * k - 1] = at + l;
			} else {
				s[2 * k] = at;
				s[2 * k + 1] = at + l;
				k++;
			}
		}
		at += l;
	}
	free(*v);
	*v = s;
	*nv = k;
	return 0;
}

int sx_rx_text(struct rx_ctx *x, const uint8_t *t, size_t n, struct rx_edits *out)
{
	return sx_rx_text_since(x, t, n, NULL, 0, out, NULL);
}

int sx_rx_text_since(struct rx_ctx *x, const uint8_t *t, size_t n, const uint8_t *prev,
		     size_t prevn, struct rx_edits *out, struct sx_buf *final)
{
	struct pieces p = { NULL, 0, 0 };
	struct sx_buf cur;
	struct piece all = { 0, n, NULL, 0, 0, 0, 0, 0 };
	size_t *spans = NULL, nspans = 0;
	int rc, round, settled = 0;

	if (final)
		sx_buf_reset(final, SIZE_MAX);
	if (n == 0 || x->nd.n == 0)
		return 0;
	if (prev) {
		/* t is prev with one stretch changed: only that stretch is new */
		size_t a = 0, z = 0, m = n < prevn ? n : prevn;
		while (a < m && t[a] == prev[a])
			a++;
		while (z < m - a && t[n - 1 - z] == prev[prevn - 1 - z])
			z++;
		if (a == n && n == prevn) {
			/* the same text: nothing to find */
			return final ? sx_buf_append(final, t, n) : 0;
		}
		spans = malloc(2 * sizeof *spans);
		if (!spans)
			return SX_ENOMEM;
		spans[0] = a;
		spans[1] = n - z;
		nspans = 1;
	}
	rc = pieces_push(&p, &all);
	sx_buf_init(&cur, x->scratch);
	/* the text as the rounds leave it: t itself until a round changes it
	 * (a copy of t would be the same bytes within the same bound) */
	const uint8_t *ct = t;
	size_t cn = n;
	for (round = 0; rc == 0; round++) {
		struct rx_edits e;
		sx_rx_edits_init(&e);
		if (round > 0 || n > x->scratch) {
			rc = pieces_text(t, &p, &cur);
			ct = sx_buf_head(&cur);
			cn = sx_buf_used(&cur);
		}
		/* after the first round only what a replacement changed is new */
		if (rc == 0 && round > 0)
			rc = pieces_spans(&p, &spans, &nspans);
		if (rc == 0)
			rc = sx_rx_views_in(x, ct, cn, spans, nspans, &e);
		if (rc == 0 && e.n == 0)
			settled = 1;
		if (rc == 0 && e.n > 0 && round == RX_ROUNDS) {
			sx_rx_unsure(x, "part %s: identifiers keep reappearing after %d rounds",
				     x->path, RX_ROUNDS);
			sx_rx_edits_finish(&e);
			break;
		}
		if (rc == 0 && e.n > 0)
			rc = pieces_apply(t, &p, ct, &e, x->scratch);
		size_t found = e.n;
		sx_rx_edits_finish(&e);
		if (found == 0)
			break;
	}
	if (rc == 0)
		rc = pieces_edits(&p, out);
	if (rc == 0 && final && settled)
		rc = sx_buf_append(final, ct, cn);
	free(spans);
	sx_buf_finish(&cur);
	pieces_finish(&p);
	return rc;
}

int sx_rx_compose(struct rx_ctx *x, const uint8_t *t, size_t n, const struct rx_edits *first,
		  const struct rx_edits *then, struct rx_edits *out)
{
	struct pieces p = { NULL, 0, 0 };
	struct sx_buf cur;
	struct piece all = { 0, n, NULL, 0, 0, 0, 0, 0 };
	int rc = pieces_push(&p, &all);

	sx_buf_init(&cur, x->scratch);
	if (rc == 0 && n > 0 && first->n > 0)
		rc = pieces_apply(t, &p, t, first, x->scratch);
	if (rc == 0)
		rc = pieces_text(t, &p, &cur);
	if (rc == 0 && sx_buf_used(&cur) > 0 && then->n > 0)
		rc = pieces_apply(t, &p, sx_buf_head(&cur), then, x->scratch);
	if (rc == 0)
		rc = pieces_edits(&p, out);
	sx_buf_finish(&cur);
	pieces_finish(&p);
	return rc;
}

void sx_rx_settled_add(struct rx_ctx *x, const uint8_t *t, size_t n)
{
	if (n == 0 || x->nsettled == RX_SETTLED_MAX || x->top_min > 0 || x->res->unsure ||
	    sx_rx_settled(x, t, n))
		return;
	uint8_t *c = malloc(n);
	if (!c)
		return;
	memcpy(c, t, n);
	x->settled[x->nsettled] = c;
	x->settled_n[x->nsettled++] = n;
}

int sx_rx_settled(const struct rx_ctx *x, const uint8_t *t, size_t n)
{
	for (size_t i = 0; i < x->nsettled; i++)
		if (x->settled_n[i] == n && memcmp(x->settled[i], t, n) == 0)
			return 1;
	return 0;
}

void sx_rx_settled_finish(struct rx_ctx *x)
{
	for (size_t i = 0; i < x->nsettled; i++)
		free(x->settled[i]);
	x->nsettled = 0;
}
