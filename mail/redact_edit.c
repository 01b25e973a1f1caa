/*
 * redact_edit.c: edit lists and layers, and lowering an edit of a decoded
 * text to an edit of the text it was decoded from.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact_impl.h"

static const char *const enc_names[] = {
	"raw", "rfc2047-b", "rfc2047-q", "quoted-printable", "base64", "url", "html-entity",
	"url-base64",
};

const char *sx_rx_enc_name(uint8_t enc)
{
	return enc < sizeof enc_names / sizeof enc_names[0] ? enc_names[enc] : "raw";
}

void sx_rx_unsure(struct rx_ctx *x, const char *fmt, ...)
{
	if (x->res->unsure)
		return;
	x->res->unsure = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->res->unsure_reason, sizeof x->res->unsure_reason, fmt, ap);
	va_end(ap);
}

void sx_rx_edits_init(struct rx_edits *e)
{
	e->v = NULL;
	e->n = e->cap = 0;
}

void sx_rx_edits_finish(struct rx_edits *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].data);
	free(e->v);
	sx_rx_edits_init(e);
}

static int grow(struct rx_edits *e, size_t more)
{
	if (e->n + more <= e->cap)
		return 0;
	size_t cap = e->cap ? e->cap : 16;
	while (cap < e->n + more)
		cap *= 2;
	struct rx_edit *v = realloc(e->v, cap * sizeof *v);
	if (!v)
		return SX_ENOMEM;
	e->v = v;
	e->cap = cap;
	return 0;
}

int sx_rx_edits_add(struct rx_edits *e, size_t off, size_t len, const void *data, size_t dlen,
		    unsigned count, uint8_t kind, uint8_t enc, uint8_t addr)
{
	if (grow(e, 1) < 0)
		return SX_ENOMEM;
	uint8_t *d = malloc(dlen ? dlen : 1);
	if (!d)
		return SX_ENOMEM;
	if (dlen)
		memcpy(d, data, dlen);
	struct rx_edit *x = &e->v[e->n++];
	memset(x, 0, sizeof *x);
	x->off = off;
	x->len = len;
	x->data = d;
	x->dlen = dlen;
	x->count = count;
	x->kind = kind;
	x->enc = enc;
	x->addr = addr;
	x->part = -1;
	return 0;
}

int sx_rx_edits_move(struct rx_edits *to, struct rx_edits *from)
{
	if (from->n == 0) {
		sx_rx_edits_finish(from);
		return 0;
	}
	if (grow(to, from->n) < 0)
		return SX_ENOMEM;
	memcpy(to->v + to->n, from->v, from->n * sizeof *from->v);
	to->n += from->n;
	free(from->v);
	sx_rx_edits_init(from);
	return 0;
}

static int cmp_edit(const void *a, const void *b)
{
	const struct rx_edit *x = a, *y = b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return 0;
}

void sx_rx_edits_sort(struct rx_edits *e)
{
	if (e->n > 1)
		qsort(e->v, e->n, sizeof *e->v, cmp_edit);
}

static int overlaps(const struct rx_edit *a, const struct rx_edit *b)
{
	return a->off < b->off + b->len && b->off < a->off + a->len;
}

void sx_rx_edits_select(struct rx_edits *e)
{
	sx_rx_edits_sort(e);
	/* keep[i]: 1 kept, 0 undecided, -1 dropped */
	signed char *keep = calloc(e->n ? e->n : 1, 1);
	if (!keep) {
		/* No memory to choose: keep the greedy choice by position. */
		size_t o = 0, end = 0;
		for (size_t i = 0; i < e->n; i++) {
			if (o > 0 && e->v[i].off < end) {
				free(e->v[i].data);
				continue;
			}
			end = e->v[i].off + e->v[i].len;
			e->v[o++] = e->v[i];
		}
		e->n = o;
		return;
	}
	/* Addresses first: greedy by position among them. */
	size_t last = SIZE_MAX;
	for (size_t i = 0; i < e->n; i++) {
		if (!e->v[i].addr)
			continue;
		if (last != SIZE_MAX && overlaps(&e->v[last], &e->v[i]))
			continue;
		keep[i] = 1;
		last = i;
	}
	/* Then the rest where they overlap nothing kept. Kept edits are
	 * disjoint and sorted, so only neighbours by position can overlap. */
	last = SIZE_MAX;
	for (size_t i = 0; i < e->n; i++) {
		if (keep[i] == 1) {
			last = i;
			continue;
		}
		if (e->v[i].addr)
			continue;
		int ok = last == SIZE_MAX || !overlaps(&e->v[last], &e->v[i]);
		for (size_t j = i + 1; ok && j < e->n && e->v[j].off < e->v[i].off + e->v[i].len;
		     j++)
			if (keep[j] == 1)
				ok = 0;
		if (ok) {
			keep[i] = 1;
			last = i;
		}
	}
	size_t o = 0;
	for (size_t i = 0; i < e->n; i++) {
		if (keep[i] == 1)
			e->v[o++] = e->v[i];
		else
			free(e->v[i].data);
	}
	e->n = o;
	free(keep);
}

void sx_rx_layer_init(struct rx_layer *l, const uint8_t *p, size_t plen, size_t max)
{
	memset(l, 0, sizeof *l);
	l->p = p;
	l->plen = plen;
	sx_buf_init(&l->c, max);
}

void sx_rx_layer_finish(struct rx_layer *l)
{
	sx_buf_finish(&l->c);
	free(l->seg);
	l->seg = NULL;
	l->nseg = l->cap = 0;
}

int sx_rx_layer_seg(struct rx_layer *l, const void *c, size_t cn, size_t p_off, size_t p_len,
		    int coded, unsigned info)
{
	size_t c_off = sx_buf_used(&l->c);
	/* Adjacent identity spans that are adjacent in the parent too merge. */
	if (!coded && cn > 0 && l->nseg > 0) {
		struct rx_seg *s = &l->seg[l->nseg - 1];
		if (!s->coded && !s->join && s->p_off + s->p_len == p_off && s->c_len > 0) {
			int rc = sx_buf_append(&l->c, c, cn);
			if (rc < 0)
				return rc;
			s->c_len += cn;
			s->p_len += p_len;
			return 0;
		}
	}
	if (l->nseg == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rx_seg *v = realloc(l->seg, cap * sizeof *v);
		if (!v)
			return SX_ENOMEM;
		l->seg = v;
		l->cap = cap;
	}
	int rc = sx_buf_append(&l->c, c, cn);
	if (rc < 0)
		return rc;
	struct rx_seg *s = &l->seg[l->nseg++];
	s->c_off = c_off;
	s->c_len = cn;
	s->p_off = p_off;
	s->p_len = p_len;
	s->coded = coded ? 1 : 0;
	s->join = 0;
	s->info = info;
	s->enc = RX_ENC_RAW;
	return 0;
}

size_t sx_rx_layer_find(const struct rx_layer *l, size_t c)
{
	size_t lo = 0, hi = l->nseg;
	/* last segment with c_off <= c */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->seg[mid].c_off <= c)
			lo = mid;
		else
			hi = mid;
	}
	while (lo > 0 && l->seg[lo].c_len == 0)
		lo--;
	return lo;
}

int sx_rx_layer_coded(const struct rx_layer *l)
{
	for (size_t i = 0; i < l->nseg; i++)
		if (l->seg[i].coded)
			return 1;
	return 0;
}

/* Parent offset of child offset c at the start (end = 0) or end of a range. */
static size_t p_at(const struct rx_layer *l, size_t si, size_t c, int end)
{
	const struct rx_seg *s = &l->seg[si];
	if (s->coded)
		return end ? s->p_off + s->p_len : s->p_off;
	return s->p_off + (c - s->c_off);
}

/* Widens [*first, *last] to what must be rewritten together. */
static void widen(const struct rx_layer *l, size_t *first, size_t *last)
{
	while (*first > 0 && l->seg[*first].coded && l->seg[*first - 1].join)
		(*first)--;
	while (*last + 1 < l->nseg && l->seg[*last].join)
		(*last)++;
	if (l->to_end && l->seg[*first].coded)
		*last = l->nseg - 1;
}

int sx_rx_lower(struct rx_ctx *x, const struct rx_layer *l, const struct rx_edits *in,
		struct rx_edits *out)
{
	const uint8_t *c = sx_buf_head(&l->c);
	size_t clen = sx_buf_used(&l->c);
	struct sx_buf nc, np;
	int rc = 0;

	sx_buf_init(&nc, x->scratch);
	sx_buf_init(&np, x->scratch);
	for (size_t i = 0; i < in->n && rc == 0;) {
		const struct rx_edit *e = &in->v[i];
		if (e->len == 0 || e->off + e->len > clen) {
			i++;
			continue;
		}
		size_t first = sx_rx_layer_find(l, e->off);
		size_t last = sx_rx_layer_find(l, e->off + e->len - 1);
		widen(l, &first, &last);
		size_t g0 = l->seg[first].coded ? l->seg[first].c_off : e->off;
		size_t g1 = l->seg[last].coded ? l->seg[last].c_off + l->seg[last].c_len :
			    e->off + e->len;
		size_t j = i + 1;
		/* Later edits that start inside the group join it. */
		while (j < in->n && in->v[j].off < g1) {
			const struct rx_edit *f = &in->v[j];
			if (f->off + f->len > clen)
				break;
			size_t fl = sx_rx_layer_find(l, f->off + f->len - 1);
			if (fl > last) {
				size_t ff = fl;
				last = fl;
				widen(l, &ff, &last);
				g1 = l->seg[last].coded ? l->seg[last].c_off + l->seg[last].c_len :
					  f->off + f->len;
			} else if (f->off + f->len > g1) {
				g1 = f->off + f->len;
			}
			j++;
		}
		/* The group's new child text. */
		sx_buf_reset(&nc, SIZE_MAX);
		size_t at = g0;
		unsigned count = 0;
		uint8_t enc = RX_ENC_RAW, addr = 0, kind = e->kind;
		for (size_t k = i; k < j && rc == 0; k++) {
			const struct rx_edit *f = &in->v[k];
			if (f->off < at)
				continue; /* overlapping input: keep the first */
			rc = sx_buf_append(&nc, c + at, f->off - at);
			if (rc == 0)
				rc = sx_buf_append(&nc, f->data, f->dlen);
			at = f->off + f->len;
			count += f->count;
			addr |= f->addr;
			if (enc == RX_ENC_RAW)
				enc = f->enc;
		}
		if (rc == 0 && g1 > at)
			rc = sx_buf_append(&nc, c + at, g1 - at);
		if (rc < 0)
			break;
		int coded = 0;
		uint8_t lenc = RX_ENC_RAW;
		for (size_t k = first; k <= last; k++) {
			coded |= l->seg[k].coded;
			if (l->seg[k].coded && lenc == RX_ENC_RAW)
				lenc = l->seg[k].enc;
		}
		if (lenc == RX_ENC_RAW)
			lenc = l->enc;
		size_t p0 = p_at(l, first, g0, 0);
		size_t p1 = p_at(l, last, g1, 1);
		if (!coded) {
			rc = sx_rx_edits_add(out, p0, p1 - p0, sx_buf_head(&nc), sx_buf_used(&nc),
					     count, kind, enc, addr);
		} else {
			sx_buf_reset(&np, SIZE_MAX);
			int erc = l->encode(x, l, first, last, sx_buf_head(&nc), sx_buf_used(&nc),
					    &np);
			if (erc == SX_ENOMEM) {
				rc = erc;
			} else if (erc < 0) {
				sx_rx_unsure(x, "part %s: cannot re-encode a changed %s span (%s)",
					     x->path, sx_rx_enc_name(lenc), sx_strerror(erc));
			} else {
				if (enc == RX_ENC_RAW)
					enc = lenc;
				rc = sx_rx_edits_add(out, p0, p1 - p0, sx_buf_head(&np),
						     sx_buf_used(&np), count, kind, enc, addr);
			}
		}
		i = j;
	}
	sx_buf_finish(&nc);
	sx_buf_finish(&np);
	return rc;
}
