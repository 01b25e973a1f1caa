/*
 * redact.c: the whole message. Every header field of every part, every leaf
 * body, and every byte that belongs to neither (text before the first
 * header, boundary lines, preambles and epilogues, lines the parser did not
 * take as fields) is searched; the changed spans are written over a copy of
 * the original, and each becomes one manifest entry.
 */
#include "redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact_impl.h"

struct span {
	size_t off, end;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int is_leaf(const struct sx_part *p)
{
	return !p->is_multipart && p->first_child < 0;
}

/* The innermost part whose bytes hold off. */
static int part_of(const struct sx_mail *m, size_t off)
{
	int best = 0;
	for (unsigned i = 0; i < m->nparts; i++) {
		const struct sx_part *p = &m->parts[i];
		if (off >= p->whole.off && off < p->whole.off + p->whole.len &&
		    p->depth >= m->parts[best].depth)
			best = (int)i;
	}
	return best;
}

/* Bytes that are neither a header field nor a leaf body, searched as text. */
static int gaps(struct rx_ctx *x, const struct sx_mail *m, struct rx_edits *out)
{
	size_t ns = 0;
	struct span *s = malloc(((size_t)m->nfields + m->nparts + 1) * sizeof *s);
	int rc = 0;

	if (!s)
		return SX_ENOMEM;
	for (unsigned i = 0; i < m->nfields; i++) {
		s[ns].off = m->fields[i].raw.off;
		s[ns++].end = m->fields[i].raw.off + m->fields[i].raw.len;
	}
	for (unsigned i = 0; i < m->nparts; i++) {
		if (!is_leaf(&m->parts[i]))
			continue;
		s[ns].off = m->parts[i].body.off;
		s[ns++].end = m->parts[i].body.off + m->parts[i].body.len;
	}
	qsort(s, ns, sizeof *s, cmp_span);
	size_t at = 0;
	for (size_t i = 0; i <= ns && rc == 0; i++) {
		size_t upto = i < ns ? s[i].off : m->len;
		if (upto > at) {
			struct rx_edits e;
			sx_rx_edits_init(&e);
			int p = part_of(m, at);
			x->path = m->parts[p].path;
			rc = sx_rx_region(x, m->buf + at, upto - at, &e);
			const struct sx_part *pp = &m->parts[p];
			int in_header = at >= pp->header.off &&
					at < pp->header.off + pp->header.len;
			for (size_t k = 0; k < e.n; k++) {
				e.v[k].off += at;
				e.v[k].part = part_of(m, e.v[k].off);
				e.v[k].where = in_header || at < m->junk ?
					       (const uint8_t *)"header" : NULL;
				e.v[k].wlen = e.v[k].where ? 6 : 0;
			}
			if (rc == 0)
				rc = sx_rx_edits_move(out, &e);
			sx_rx_edits_finish(&e);
		}
		if (i < ns && s[i].end > at)
			at = s[i].end;
	}
	free(s);
	return rc;
}

int sx_rx_mail(struct rx_ctx *x, const uint8_t *buf, size_t len, struct rx_edits *out,
	       char *err, size_t errlen)
{
	struct sx_mail *m = NULL;
	struct rx_edits e;
	int rc = sx_mail_parse(buf, len, x->lim, &m, err, errlen);
	if (rc < 0)
		return rc;
	sx_rx_edits_init(&e);
	for (unsigned i = 0; i < m->nfields && rc == 0; i++) {
		x->path = m->parts[m->fields[i].part].path;
		rc = sx_rx_header(x, m, &m->fields[i], &e);
	}
	for (unsigned i = 0; i < m->nparts && rc == 0; i++) {
		const struct sx_part *p = &m->parts[i];
		/* An encoded multipart shows no boundary, so no parts: its body is
		 * searched raw but cannot be vouched for. */
		if (p->is_multipart && p->first_child < 0 &&
		    (p->cte == SX_CTE_QP || p->cte == SX_CTE_BASE64))
			sx_rx_unsure(x, "part %s: multipart with a transfer encoding", p->path);
		if (is_leaf(p))
			rc = sx_rx_body(x, m, (int)i, &e);
	}
	if (rc == 0)
		rc = gaps(x, m, &e);
	for (size_t i = 0; i < e.n; i++) {
		int p = e.v[i].part >= 0 && (unsigned)e.v[i].part < m->nparts ? e.v[i].part : 0;
		snprintf(e.v[i].path, sizeof e.v[i].path, "%s", m->parts[p].path);
	}
	sx_rx_edits_sort(&e);
	/* Regions are disjoint, so edits are; a broken tree must not make
	 * them overlap: the later one goes and the result is unsure. */
	size_t o = 0;
	for (size_t i = 0; i < e.n; i++) {
		if (o > 0 && e.v[i].off < e.v[o - 1].off + e.v[o - 1].len) {
			sx_rx_unsure(x, "part %s: overlapping changes", e.v[i].path);
			free(e.v[i].data);
			continue;
		}
		e.v[o++] = e.v[i];
	}
	e.n = o;
	if (rc == 0)
		rc = sx_rx_edits_move(out, &e);
	sx_rx_edits_finish(&e);
	if (x->depth == 0 && x->top == NULL)
		x->top = m; /* the last look compares the result with it */
	else
		sx_mail_destroy(m);
	return rc;
}

int sx_rx_apply(const uint8_t *buf, size_t len, const struct rx_edits *e, struct sx_buf *out)
{
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i < e->n && rc == 0; i++) {
		rc = sx_buf_append(out, buf + at, e->v[i].off - at);
		if (rc == 0)
			rc = sx_buf_append(out, e->v[i].data, e->v[i].dlen);
		at = e->v[i].off + e->v[i].len;
	}
	if (rc == 0)
		rc = sx_buf_append(out, buf + at, len - at);
	return rc;
}

struct gapi {
	size_t gap;
	size_t i;
};

static int cmp_gap(const void *a, const void *b)
{
	const struct gapi *x = a, *y = b;
	if (x->gap != y->gap)
		return x->gap < y->gap ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * More changed spans than the manifest holds: the closest neighbours merge
 * (the bytes between them become part of the span), so that the manifest
 * still covers every changed byte.
 */
static int coalesce(const uint8_t *buf, struct rx_edits *e, size_t max)
{
	if (e->n <= max)
		return 0;
	size_t ng = e->n - 1;
	struct gapi *g = malloc(ng * sizeof *g);
	uint8_t *join = calloc(e->n, 1);
	if (!g || !join) {
		free(g);
		free(join);
		return SX_ENOMEM;
	}
	for (size_t i = 0; i < ng; i++) {
		g[i].gap = e->v[i + 1].off - (e->v[i].off + e->v[i].len);
		g[i].i = i;
	}
	qsort(g, ng, sizeof *g, cmp_gap);
	for (size_t k = 0; k < e->n - max; k++)
		join[g[k].i] = 1; /* edit i joins edit i + 1 */
	free(g);
	size_t o = 0;
	int rc = 0;
	for (size_t i = 0; i < e->n && rc == 0;) {
		size_t j = i;
		while (join[j])
			j++;
		struct rx_edit m = e->v[i];
		if (j > i) {
			struct sx_buf d;
			sx_buf_init(&d, SIZE_MAX);
			for (size_t k = i; k <= j && rc == 0; k++) {
				if (k > i) {
					size_t pe = e->v[k - 1].off + e->v[k - 1].len;
					rc = sx_buf_append(&d, buf + pe, e->v[k].off - pe);
					m.count += e->v[k].count;
					m.addr |= e->v[k].addr;
				}
				if (rc == 0)
					rc = sx_buf_append(&d, e->v[k].data, e->v[k].dlen);
			}
			for (size_t k = i; k <= j; k++)
				free(e->v[k].data);
			if (rc < 0) {
				sx_buf_finish(&d);
				m.data = NULL;
				m.dlen = 0;
			} else {
				m.data = d.data + d.off; /* off is 0: nothing was consumed */
				m.dlen = sx_buf_used(&d);
				if (!m.data) {
					m.data = malloc(1);
					rc = m.data ? 0 : SX_ENOMEM;
				}
			}
			m.len = e->v[j].off + e->v[j].len - m.off;
		}
		e->v[o++] = m;
		i = j + 1;
	}
	e->n = o;
	free(join);
	return rc;
}

int sx_redact(const uint8_t *spam, size_t len, const struct sx_idset *ids,
	      const struct sx_mail_limits *lim, struct sx_buf *out, struct sx_redact_result *res,
	      char *err, size_t errlen)
{
	struct rx_ctx x;
	struct rx_edits e;
	int rc;

	memset(res, 0, sizeof *res);
	if (errlen)
		err[0] = '\0';
	memset(&x, 0, sizeof x);
	x.res = res;
	x.lim = lim;
	x.scratch = RX_SCRATCH(len);
	x.path = "";
	rc = sx_rx_needles_init(&x.nd, ids);
	if (rc == 0) {
		rc = sx_rx_runs_init(&x.runs);
		if (rc < 0)
			sx_rx_needles_finish(&x.nd);
	}
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	sx_rx_edits_init(&e);
	rc = sx_rx_mail(&x, spam, len, &e, err, errlen);
	if (rc == 0)
		rc = coalesce(spam, &e, SX_MANIFEST_MAX);
	/* the result, once more, for the forms that are not rewritten */
	if (rc == 0 && x.nd.n > 0) {
		struct sx_buf tmp;
		sx_buf_init(&tmp, out->max);
		rc = sx_rx_apply(spam, len, &e, &tmp);
		if (rc == 0)
			rc = sx_rx_check(&x, sx_buf_head(&tmp), sx_buf_used(&tmp));
		sx_buf_finish(&tmp);
	}
	size_t at = 0, base = sx_buf_used(out);
	for (size_t i = 0; i < e.n && rc == 0; i++) {
		const struct rx_edit *d = &e.v[i];
		struct sx_redaction *r = &res->manifest[res->n++];
		rc = sx_buf_append(out, spam + at, d->off - at);
		memset(r, 0, sizeof *r);
		snprintf(r->part, sizeof r->part, "%s", d->path);
		if (d->where) {
			size_t wl = d->wlen < sizeof r->where ? d->wlen : sizeof r->where - 1;
			memcpy(r->where, d->where, wl);
			r->where[wl] = '\0';
		} else {
			snprintf(r->where, sizeof r->where, "body");
		}
		snprintf(r->kind, sizeof r->kind, "%s", sx_ident_kind_name(d->kind));
		snprintf(r->encoding, sizeof r->encoding, "%s", sx_rx_enc_name(d->enc));
		r->count = d->count;
		r->offset = sx_buf_used(out) - base;
		r->length = d->dlen;
		r->orig_offset = d->off;
		r->orig_length = d->len;
		if (rc == 0)
			rc = sx_buf_append(out, d->data, d->dlen);
		res->total += d->count;
		at = d->off + d->len;
	}
	if (rc == 0)
		rc = sx_buf_append(out, spam + at, len - at);
	if (rc == SX_ETOOBIG && errlen && !err[0])
		snprintf(err, errlen, "redacted mail exceeds the output bound");
	else if (rc == SX_ENOMEM && errlen && !err[0])
		snprintf(err, errlen, "out of memory");
	sx_rx_edits_finish(&e);
	sx_mail_destroy(x.top);
	sx_rx_needles_finish(&x.nd);
	sx_rx_settled_finish(&x);
	sx_rx_runs_finish(&x.runs);
	sx_rx_convs_finish(&x);
	return rc;
}
