/*
 * fuzz_mime: the input is a message, parsed with small limits. Every part and
 * header field must lie inside the input and the tree must hold together;
 * every field is looked up, unfolded and searched for parameters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const struct sx_mail_limits lim = {
	.max_size = 256 << 10,
	.max_depth = 8,
	.max_parts = 64,
	.max_headers = 256,
	.max_header_len = 2048,
};

static const char *const params[] = {"charset", "boundary", "filename", "name"};

static int inside(struct sx_span s, size_t lo, size_t hi)
{
	return s.off >= lo && s.off <= hi && s.len <= hi - s.off;
}

static void check_field(const struct sx_mail *m, const struct sx_part *p, unsigned k)
{
	const struct sx_hfield *f = &m->fields[k];
	size_t rend = f->raw.off + f->raw.len;
	struct sx_buf b;

	CHECK(&m->parts[f->part] == p);
	CHECK(inside(f->raw, p->header.off, p->header.off + p->header.len));
	CHECK(inside(f->name, f->raw.off, rend) && inside(f->value, f->raw.off, rend));
	CHECK(f->name.off == f->raw.off && f->name.len > 0);
	CHECK(f->raw.len <= lim.max_header_len);

	sx_buf_init(&b, lim.max_header_len);
	CHECK(sx_mail_unfold(m, f, &b) == 0);
	CHECK(sx_buf_used(&b) <= f->value.len);
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
		/* a bound that conversion to UTF-8 can exceed */
		struct sx_buf o;
		sx_buf_init(&o, 2 * f->value.len + 8);
		int rc = sx_mail_param(m->buf + f->value.off, f->value.len, params[i], &o);
		CHECK(rc == 0 || rc == SX_ENOTFOUND || rc == SX_EINVAL || rc == SX_ETOOBIG ||
		      rc == SX_ENOMEM);
		CHECK(rc == 0 || sx_buf_used(&o) == 0);
		sx_buf_finish(&o);
	}
	sx_buf_finish(&b);

	/* the lookup by name finds this very field, however it is spelled */
	char name[64];
	unsigned it = 0;
	const struct sx_hfield *g;
	if (f->name.len < sizeof name) {
		memcpy(name, m->buf + f->name.off, f->name.len);
		name[f->name.len] = '\0';
		while ((g = sx_mail_field(m, f->part, name, &it)) && g != f)
			;
		CHECK(g == f);
	}
}

static void check_part(const struct sx_mail *m, unsigned i)
{
	const struct sx_part *p = &m->parts[i];
	size_t wend = p->whole.off + p->whole.len;

	CHECK(inside(p->whole, 0, m->len));
	CHECK(p->header.off == p->whole.off);
	CHECK(p->header.off + p->header.len == p->body.off);
	CHECK(inside(p->body, p->whole.off, wend) && p->body.off + p->body.len == wend);
	CHECK(p->depth <= lim.max_depth);
	CHECK(memchr(p->path, '\0', sizeof p->path));
	CHECK(memchr(p->type, '\0', sizeof p->type));
	CHECK(memchr(p->subtype, '\0', sizeof p->subtype));
	CHECK(memchr(p->charset, '\0', sizeof p->charset));
	CHECK(memchr(p->boundary, '\0', sizeof p->boundary));
	if (i == 0) {
		CHECK(p->parent == -1 && p->depth == 0);
		CHECK(p->whole.off == m->junk && wend == m->len);
	} else {
		const struct sx_part *q = &m->parts[p->parent];
		CHECK(p->parent >= 0 && (unsigned)p->parent < i && p->depth == q->depth + 1);
		CHECK(inside(p->whole, q->body.off, q->body.off + q->body.len));
		CHECK(q->is_multipart || q->is_message);
	}
	size_t prev = p->body.off;
	for (int c = p->first_child; c >= 0; c = m->parts[c].next) {
		CHECK((unsigned)c > i && (unsigned)c < m->nparts && m->parts[c].parent == (int)i);
		CHECK(m->parts[c].whole.off >= prev);
		prev = m->parts[c].whole.off + m->parts[c].whole.len;
	}
	CHECK(p->hfirst + p->hcount <= m->nfields);
	for (unsigned k = p->hfirst; k < p->hfirst + p->hcount; k++)
		check_field(m, p, k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sx_mail *m;
	char err[128] = "";
	int rc = sx_mail_parse(data, size, &lim, &m, err, sizeof err);
	if (rc < 0) {
		CHECK(!m && err[0] != '\0');
		CHECK(rc == SX_ELIMIT || rc == SX_ETOOBIG || rc == SX_ENOMEM);
		return 0;
	}
	CHECK(m && (size == 0 || m->buf == data) && m->len == size && m->nparts >= 1);
	CHECK(m->nparts <= lim.max_parts && m->nfields <= lim.max_headers);
	unsigned nfields = 0;
	for (unsigned i = 0; i < m->nparts; i++) {
		check_part(m, i);
		nfields += m->parts[i].hcount;
	}
	CHECK(nfields == m->nfields);
	sx_mail_destroy(m);
	return 0;
}
