#include "rcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "err.h"
#include "pipeline.h"

static size_t evidence_text(const struct sx_evidence_item *e, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s: %s%s%s", e->check, e->where, e->detail[0] ? ": " : "",
			 e->detail);
	return n < 0 ? 0 : (size_t)n >= outlen ? outlen - 1 : (size_t)n;
}

void sx_rentry_views(const struct sx_report_row *r, struct sx_authz_report *az,
		     struct sx_filter_report *fr)
{
	*az = (struct sx_authz_report){ .source = r->source, .consent = r->consent,
					.state = r->state, .flags = r->flags, .isp = r->isp_id };
	*fr = (struct sx_filter_report){ .source = r->source, .flags = r->flags,
					 .categories = r->categories, .isp = r->isp_id,
					 .country = "" };
}

/* The protobuf structures one encoding is built from; they point into the
 * loaded report and live only while it is packed. */
struct wire {
	Sprex__ReportMeta meta;
	Sprex__Violation *viol;
	Sprex__Violation **violp;
	char *vtext;                  /* the violations' evidence strings */
	Sprex__RedactionEntry *man;
	Sprex__RedactionEntry **manp;
	char *cats[8];
};

static void wire_finish(struct wire *w)
{
	free(w->viol);
	free(w->violp);
	free(w->vtext);
	free(w->man);
	free(w->manp);
}

static int wire_build(const struct sx_report_full *f, struct wire *w)
{
	const struct sx_report_row *r = &f->row;
	Sprex__ReportMeta *m = &w->meta;
	memset(w, 0, sizeof *w);
	sprex__report_meta__init(m);
	m->report_id = (char *)r->id;
	m->seq = (uint64_t)r->seq;
	m->source = (Sprex__Source)r->source;
	m->consent = r->consent;
	m->received_ms = r->received_ms;
	m->source_ip = (char *)r->source_ip;
	m->source_port = r->source_port;
	m->isp = (char *)r->isp;
	m->redaction_count = r->redactions;
	m->sha256 = (char *)r->sha256;
	m->country = (char *)"";

	size_t nv = 0;
	for (size_t i = 0; i < f->nevidence; i++)
		nv += f->evidence[i].flag[0] != '\0';
	enum { VTEXT = 320 };
	if (nv) {
		w->viol = calloc(nv, sizeof *w->viol);
		w->violp = calloc(nv, sizeof *w->violp);
		w->vtext = malloc(nv * VTEXT);
		if (!w->viol || !w->violp || !w->vtext)
			return SX_ENOMEM;
		size_t k = 0;
		for (size_t i = 0; i < f->nevidence; i++) {
			const struct sx_evidence_item *ev = &f->evidence[i];
			if (!ev->flag[0])
				continue;
			Sprex__Violation *v = &w->viol[k];
			sprex__violation__init(v);
			v->flag = (char *)ev->flag;
			v->evidence = w->vtext + k * VTEXT;
			evidence_text(ev, v->evidence, VTEXT);
			v->article = (char *)ev->article;
			w->violp[k++] = v;
		}
		m->n_violations = nv;
		m->violations = w->violp;
	}
	size_t nc = 0;
	for (unsigned bit = 1; bit <= SX_CAT_INSUFFICIENT && nc < 8; bit <<= 1)
		if (r->categories & bit)
			w->cats[nc++] = (char *)sx_category_name((enum sx_category)bit);
	m->n_categories = nc;
	m->categories = w->cats;

	if (f->nmanifest) {
		w->man = calloc(f->nmanifest, sizeof *w->man);
		w->manp = calloc(f->nmanifest, sizeof *w->manp);
		if (!w->man || !w->manp)
			return SX_ENOMEM;
		for (size_t i = 0; i < f->nmanifest; i++) {
			const struct sx_manifest_item *mi = &f->manifest[i];
			Sprex__RedactionEntry *x = &w->man[i];
			sprex__redaction_entry__init(x);
			x->part = (char *)mi->part;
			x->where = (char *)mi->where;
			x->kind = (char *)mi->kind;
			x->encoding = (char *)mi->encoding;
			x->count = mi->count;
			x->offset = mi->offset;
			x->length = mi->length;
			w->manp[i] = x;
		}
	}
	return 0;
}

/* Encodes the per-report part of every Deliver once (fields 5-7: metadata,
 * manifest, mail); the entry keeps that and the row, nothing else. */
static int pack(struct sx_rentry *e, const struct sx_report_full *f)
{
	struct wire w;
	int rc = wire_build(f, &w);
	if (rc == 0) {
		Sprex__Deliver d = SPREX__DELIVER__INIT;
		d.meta = &w.meta;
		d.n_manifest = f->nmanifest;
		d.manifest = w.manp;
		d.raw_mail.data = f->mail;
		d.raw_mail.len = f->mail_len;
		size_t n = sprex__deliver__get_packed_size(&d);
		e->packed = malloc(n ? n : 1);
		if (e->packed)
			e->packed_len = sprex__deliver__pack(&d, e->packed);
		else
			rc = SX_ENOMEM;
	}
	wire_finish(&w);
	return rc;
}

static size_t varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t sx_rentry_frame_head(const struct sx_rentry *e, uint32_t sub_id, uint32_t delivery_count,
			    uint8_t out[SX_RENTRY_HEAD_MAX])
{
	uint8_t f[48];
	size_t n = 0;
	size_t idlen = strlen(e->row.id);
	/* Deliver fields 1-4 (proto3: zero values are left out). */
	if (sub_id) {
		f[n++] = 0x08;
		n += varint(f + n, sub_id);
	}
	f[n++] = 0x10;
	n += varint(f + n, (uint64_t)e->seq);
	f[n++] = 0x1a;
	n += varint(f + n, idlen);
	memcpy(f + n, e->row.id, idlen);
	n += idlen;
	if (delivery_count) {
		f[n++] = 0x20;
		n += varint(f + n, delivery_count);
	}
	/* Frame field 22 (deliver), length-delimited. */
	size_t h = 0;
	out[h++] = (22 << 3 | 2) | 0x80;
	out[h++] = (22 << 3 | 2) >> 7;
	h += varint(out + h, n + e->packed_len);
	memcpy(out + h, f, n);
	return h + n;
}

int sx_rentry_load(struct sx_store *s, const char *id, struct sx_rentry **out)
{
	*out = NULL;
	struct sx_rentry *e = calloc(1, sizeof *e);
	if (!e)
		return SX_ENOMEM;
	e->refs = 1;
	struct sx_report_full full;
	int rc = sx_store_report_full(s, id, &full);
	if (rc == 0) {
		e->row = full.row;
		e->seq = full.row.seq;
		sx_rentry_views(&e->row, &e->az, &e->fr);
		rc = pack(e, &full);
		e->bytes = sizeof *e + e->packed_len;
		sx_report_full_finish(&full);
	}
	if (rc < 0) {
		sx_rentry_unref(e);
		return rc;
	}
	*out = e;
	return 0;
}

struct sx_rentry *sx_rentry_ref(struct sx_rentry *e)
{
	e->refs++;
	return e;
}

void sx_rentry_unref(struct sx_rentry *e)
{
	if (!e || --e->refs > 0)
		return;
	free(e->packed);
	free(e);
}

int sx_rcache_init(struct sx_rcache *c, int64_t head, size_t max_reports, size_t max_bytes)
{
	memset(c, 0, sizeof *c);
	c->lo = c->hi = head;
	c->max_reports = max_reports ? max_reports : 1;
	c->max_bytes = max_bytes;
	return 0;
}

void sx_rcache_finish(struct sx_rcache *c)
{
	for (size_t i = 0; i < c->n; i++)
		sx_rentry_unref(c->v[i]);
	free(c->v);
	memset(c, 0, sizeof *c);
}

static void drop_front(struct sx_rcache *c, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		c->lo = c->v[i]->seq;
		c->bytes -= c->v[i]->bytes;
		sx_rentry_unref(c->v[i]);
	}
	memmove(c->v, c->v + k, (c->n - k) * sizeof *c->v);
	c->n -= k;
}

static void evict(struct sx_rcache *c)
{
	size_t k = 0;
	size_t bytes = c->bytes;
	while (k < c->n && (c->n - k > c->max_reports || bytes > c->max_bytes))
		bytes -= c->v[k++]->bytes;
	if (k)
		drop_front(c, k);
}

struct refill_ctx {
	struct sx_rcache *c;
	struct sx_store *s;
	size_t left;
	int64_t last;
	int err;
};

static int refill_cb(void *ctx, const struct sx_report_row *r)
{
	struct refill_ctx *x = ctx;
	struct sx_rcache *c = x->c;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct sx_rentry **v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return x->err = SX_ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	struct sx_rentry *e;
	int rc = sx_rentry_load(x->s, r->id, &e);
	if (rc < 0)
		return x->err = rc;
	c->v[c->n++] = e;
	c->bytes += e->bytes;
	c->hi = x->last = r->seq;
	x->left--;
	return 0;
}

int sx_rcache_refill(struct sx_rcache *c, struct sx_store *s, size_t max, int *more)
{
	*more = 0;
	int64_t head;
	int rc = sx_store_head_seq(s, &head);
	if (rc < 0)
		return rc;
	if (head <= c->hi)
		return 0;
	struct refill_ctx x = { .c = c, .s = s, .left = max, .last = c->hi };
	rc = sx_store_report_each(s, c->hi, SX_REPORT_READY, max, refill_cb, &x);
	if (rc == 0 && x.left > 0 && c->hi < head)
		c->hi = head; /* every ready report up to head is loaded */
	else if (rc == 0)
		*more = x.last < head;
	evict(c);
	return rc < 0 ? rc : 0;
}

struct warm_ctx {
	struct sx_store *s;
	struct sx_rentry **v;           /* descending seq */
	size_t n, max;
	size_t bytes, room;
	int err;
};

static int warm_cb(void *ctx, const struct sx_report_row *r)
{
	struct warm_ctx *x = ctx;
	struct sx_rentry *e;
	int rc = sx_rentry_load(x->s, r->id, &e);
	if (rc < 0)
		return x->err = rc;
	x->v[x->n++] = e;
	x->bytes += e->bytes;
	return x->n == x->max || x->bytes >= x->room;
}

int sx_rcache_warm(struct sx_rcache *c, struct sx_store *s, size_t max, int *more)
{
	*more = 0;
	size_t room_n = c->max_reports > c->n ? c->max_reports - c->n : 0;
	size_t room_b = c->max_bytes > c->bytes ? c->max_bytes - c->bytes : 0;
	if (max > room_n)
		max = room_n;
	if (max == 0 || room_b == 0 || c->lo <= 0)
		return 0;
	struct warm_ctx x = { .s = s, .max = max, .room = room_b };
	x.v = calloc(max, sizeof *x.v);
	if (!x.v)
		return SX_ENOMEM;
	int rc = sx_store_report_before(s, c->lo + 1, max, warm_cb, &x);
	if (rc >= 0 && x.err == 0 && c->n + x.n > c->cap) {
		size_t cap = c->n + x.n;
		struct sx_rentry **v = realloc(c->v, cap * sizeof *v);
		if (!v)
			x.err = SX_ENOMEM;
		else {
			c->v = v;
			c->cap = cap;
		}
	}
	if (rc < 0 || x.err < 0) {
		for (size_t i = 0; i < x.n; i++)
			sx_rentry_unref(x.v[i]);
		free(x.v);
		return rc < 0 ? rc : x.err;
	}
	memmove(c->v + x.n, c->v, c->n * sizeof *c->v);
	for (size_t i = 0; i < x.n; i++)
		c->v[i] = x.v[x.n - 1 - i];
	c->n += x.n;
	c->bytes += x.bytes;
	/* Every ready report above the lowest loaded one is now held; fewer
	 * than asked means none is left below. */
	if (x.n == max && x.bytes < room_b) {
		c->lo = c->v[0]->seq - 1;
		*more = 1;
	} else if (x.n < max && x.bytes < room_b) {
		c->lo = 0;
	} else {
		c->lo = x.n ? c->v[0]->seq - 1 : c->lo;
	}
	free(x.v);
	return 0;
}

struct sx_rentry *sx_rcache_find(const struct sx_rcache *c, int64_t seq)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->v[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n ? c->v[lo] : NULL;
}

void sx_rcache_purge(struct sx_rcache *c, int64_t through)
{
	size_t k = 0;
	while (k < c->n && c->v[k]->seq <= through)
		k++;
	if (k)
		drop_front(c, k);
	if (c->lo < through)
		c->lo = through;
	if (c->hi < through)
		c->hi = through;
}
