/*
 * mime.c: the MIME tree of a message. Parts are found in document order with
 * an explicit stack of open containers (multiparts being split, messages
 * being opened) instead of recursion, so nesting costs memory bounded by
 * max_depth, never C stack. A multipart's delimiters are found in one pass
 * over its body, line by line; header fields are read by header.c.
 */
#include "mime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "header.h"

/* f->start before the first delimiter. */
#define IN_PREAMBLE ((size_t)-1)

/* An open container: a multipart whose body is being split, or a message
 * whose one child is still to come. */
struct frame {
	int part;
	int last;       /* last child so far, -1 */
	unsigned n;     /* children so far */
	size_t pos;     /* multipart: next line to look at */
	size_t start;   /* multipart: where the current child began */
	int done;
};

struct ctx {
	const uint8_t *buf;
	size_t len;
	struct sx_mail *m;
	struct sx_mail_limits lim;
	unsigned pcap, fcap;   /* allocated parts and fields */
	struct frame *st;
	unsigned nst, stcap;
	char *err;
	size_t errlen;
};

void sx_mail_limits_default(struct sx_mail_limits *l)
{
	l->max_size = SX_MAIL_MAX_SIZE;
	l->max_depth = SX_MAIL_MAX_DEPTH;
	l->max_parts = SX_MAIL_MAX_PARTS;
	l->max_headers = SX_MAIL_MAX_HEADERS;
	l->max_header_len = SX_MAIL_MAX_HEADER_LEN;
}

const char *sx_cte_name(enum sx_cte cte)
{
	switch (cte) {
	case SX_CTE_7BIT: return "7bit";
	case SX_CTE_8BIT: return "8bit";
	case SX_CTE_BINARY: return "binary";
	case SX_CTE_QP: return "quoted-printable";
	case SX_CTE_BASE64: return "base64";
	case SX_CTE_OTHER: return "other";
	}
	return "other";
}

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, int rc, const char *fmt, ...)
{
	if (c->err && c->errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Makes room for one more element in an array of cap elements of size sz. */
static int grow(void **arr, unsigned *cap, unsigned used, size_t sz)
{
	if (used < *cap)
		return 0;
	unsigned ncap = *cap ? *cap * 2 : 8;
	if (ncap < *cap)
		return SX_ENOMEM;
	void *p = realloc(*arr, (size_t)ncap * sz);
	if (!p)
		return SX_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Child n's path under parent path pp; n == 0 for a message's child, which
 * shares the path. A path that does not fit is cut and ends in "...". */
static void make_path(char *dst, const char *pp, unsigned n)
{
	char tmp[SX_MIME_PATH + 16];
	size_t pl = strlen(pp);
	if (n == 0 || (pl >= 3 && strcmp(pp + pl - 3, "...") == 0)) {
		memcpy(dst, pp, pl + 1);
		return;
	}
	int k = snprintf(tmp, sizeof tmp, "%s%s%u", pp, pl ? "." : "", n);
	if (k >= 0 && (size_t)k < SX_MIME_PATH) {
		memcpy(dst, tmp, (size_t)k + 1);
		return;
	}
	memcpy(dst, tmp, SX_MIME_PATH - 4);
	memcpy(dst + SX_MIME_PATH - 4, "...", 4);
}

/* Appends a part spanning buf[off .. end) under parent (-1 for the root) as
 * its child number n (see make_path). */
static int add_part(struct ctx *c, int parent, size_t off, size_t end, unsigned n, int *idx)
{
	struct sx_mail *m = c->m;
	unsigned depth = parent < 0 ? 0 : m->parts[parent].depth + 1;
	if (depth > c->lim.max_depth)
		return fail(c, SX_ELIMIT, "MIME nesting deeper than %u levels", c->lim.max_depth);
	if (m->nparts >= c->lim.max_parts)
		return fail(c, SX_ELIMIT, "more than %u MIME parts", c->lim.max_parts);
	if (grow((void **)&m->parts, &c->pcap, m->nparts, sizeof *m->parts) < 0)
		return fail(c, SX_ENOMEM, "out of memory");
	struct sx_part *p = &m->parts[m->nparts];
	memset(p, 0, sizeof *p);
	p->parent = parent;
	p->first_child = -1;
	p->next = -1;
	p->depth = depth;
	make_path(p->path, parent < 0 ? "" : m->parts[parent].path, n);
	p->whole = (struct sx_span){off, end - off};
	p->header = (struct sx_span){off, 0};
	p->body = p->whole;
	p->hfirst = m->nfields;
	strcpy(p->type, "text");
	strcpy(p->subtype, "plain");
	*idx = (int)m->nparts++;
	return 0;
}

/*
 * Skips the root's junk: returns where its first header field starts, or
 * len when none starts within the first SX_MIME_JUNK_LINES + 1 lines.
 */
static size_t skip_junk(const uint8_t *b, size_t len)
{
	size_t pos = 0;
	for (unsigned i = 0; i <= SX_MIME_JUNK_LINES && pos < len; i++) {
		if (sx_header_is_field(b + pos, len - pos))
			return pos;
		const uint8_t *nl = memchr(b + pos, '\n', len - pos);
		pos = nl ? (size_t)(nl - b) + 1 : len;
	}
	return len;
}

/* Reads part idx's header block and sets its header and body spans. */
static int read_header(struct ctx *c, int idx)
{
	struct sx_mail *m = c->m;
	struct sx_part *p = &m->parts[idx];
	size_t start = p->whole.off, end = start + p->whole.len;
	struct sx_header_iter it;
	struct sx_hfield f;
	int rc;

	sx_header_iter_init(&it, c->buf, start, end, c->lim.max_header_len);
	while ((rc = sx_header_next(&it, &f)) > 0) {
		if (m->nfields >= c->lim.max_headers)
			return fail(c, SX_ELIMIT, "more than %u header fields",
				    c->lim.max_headers);
		if (grow((void **)&m->fields, &c->fcap, m->nfields, sizeof *m->fields) < 0)
			return fail(c, SX_ENOMEM, "out of memory");
		f.part = idx;
		m->fields[m->nfields++] = f;
	}
	if (rc < 0)
		return fail(c, rc, "header field longer than %zu bytes", c->lim.max_header_len);
	p->hcount = m->nfields - p->hfirst;
	p->header = (struct sx_span){start, it.pos - start};
	p->body = (struct sx_span){it.pos, end - it.pos};
	return 0;
}

/* Copies parameter name of field f into dst (size bytes with the NUL) when
 * it is there and fits, with no NUL or line end in it. */
static int get_param(struct ctx *c, const struct sx_hfield *f, const char *name, char *dst,
		     size_t size)
{
	struct sx_buf b;
	sx_buf_init(&b, size - 1);
	int rc = sx_mail_param(c->buf + f->value.off, f->value.len, name, &b);
	size_t n = sx_buf_used(&b);
	if (rc == 0 && n > 0 && !memchr(sx_buf_head(&b), '\0', n) &&
	    !memchr(sx_buf_head(&b), '\r', n) && !memchr(sx_buf_head(&b), '\n', n)) {
		memcpy(dst, sx_buf_head(&b), n);
		dst[n] = '\0';
	}
	sx_buf_finish(&b);
	return rc == SX_ENOMEM ? fail(c, rc, "out of memory") : 0;
}

static enum sx_cte parse_cte(struct ctx *c, int idx)
{
	static const char *const names[] = {
		[SX_CTE_7BIT] = "7bit", [SX_CTE_8BIT] = "8bit", [SX_CTE_BINARY] = "binary",
		[SX_CTE_QP] = "quoted-printable", [SX_CTE_BASE64] = "base64",
	};
	char tok[SX_MIME_TOKEN];
	unsigned iter = 0;
	const struct sx_hfield *f = sx_mail_field(c->m, idx, "Content-Transfer-Encoding", &iter);
	if (!f)
		return SX_CTE_7BIT;
	if (sx_header_token(c->buf + f->value.off, f->value.len, tok, sizeof tok) < 0)
		return SX_CTE_OTHER;
	if (tok[0] == '\0')
		return SX_CTE_7BIT;
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(tok, names[i]) == 0)
			return (enum sx_cte)i;
	return SX_CTE_OTHER;
}

static int push(struct ctx *c, int idx)
{
	if (grow((void **)&c->st, &c->stcap, c->nst, sizeof *c->st) < 0)
		return fail(c, SX_ENOMEM, "out of memory");
	c->st[c->nst++] = (struct frame){
		.part = idx, .last = -1, .pos = c->m->parts[idx].body.off,
		.start = IN_PREAMBLE,
	};
	return 0;
}

/*
 * Reads part idx: header, type, transfer encoding; a container is pushed so
 * that its children come next. digest: the parent is a multipart/digest,
 * whose children default to message/rfc822 (RFC 2046 5.1.5).
 */
static int parse_part(struct ctx *c, int idx, int digest)
{
	struct sx_mail *m = c->m;
	int rc = read_header(c, idx);
	if (rc < 0)
		return rc;
	struct sx_part *p = &m->parts[idx];
	unsigned iter = 0;
	const struct sx_hfield *ct = sx_mail_field(m, idx, "Content-Type", &iter);
	if (!ct || sx_header_ctype(c->buf + ct->value.off, ct->value.len, p->type,
				   p->subtype) < 0) {
		strcpy(p->type, digest ? "message" : "text");
		strcpy(p->subtype, digest ? "rfc822" : "plain");
	}
	if (ct && ((rc = get_param(c, ct, "charset", p->charset, sizeof p->charset)) < 0 ||
		   (rc = get_param(c, ct, "boundary", p->boundary, sizeof p->boundary)) < 0))
		return rc;
	for (char *s = p->charset; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
	p->cte = parse_cte(c, idx);
	p->bad_cte = p->cte == SX_CTE_OTHER;
	int encoded = p->cte == SX_CTE_QP || p->cte == SX_CTE_BASE64;
	if (strcmp(p->type, "multipart") == 0) {
		p->bad_cte |= encoded;
		if (p->boundary[0] == '\0')
			return 0;
		p->is_multipart = 1;
		return push(c, idx);
	}
	if (strcmp(p->type, "message") == 0 &&
	    (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0)) {
		p->is_message = 1;
		p->bad_cte |= encoded;
		if (p->bad_cte)
			return 0;
		return push(c, idx);
	}
	return 0;
}

/*
 * If the line at p (inside a body ending at e) is a delimiter for boundary
 * bd of length k, returns 1 and sets *close for the closing one. The line
 * must end right after the optional "--" and blanks; reads at most up to e.
 */
static int is_delim(const uint8_t *b, size_t p, size_t e, const char *bd, size_t k, int *close)
{
	if (e - p < k + 2 || b[p] != '-' || b[p + 1] != '-' || memcmp(b + p + 2, bd, k) != 0)
		return 0;
	size_t q = p + 2 + k;
	*close = e - q >= 2 && b[q] == '-' && b[q + 1] == '-';
	if (*close)
		q += 2;
	while (q < e && (b[q] == ' ' || b[q] == '\t'))
		q++;
	return q == e || b[q] == '\n' || (b[q] == '\r' && (q + 1 == e || b[q + 1] == '\n'));
}

/*
 * Finds the next child of the multipart in frame f: returns 1 and its span,
 * or 0 when there is none left. Every line of the body is looked at once.
 */
static int next_in_multipart(struct ctx *c, struct frame *f, size_t *off, size_t *end)
{
	struct sx_part *p = &c->m->parts[f->part];
	const uint8_t *b = c->buf;
	size_t e = p->body.off + p->body.len, k = strlen(p->boundary);
	int close;

	while (!f->done && f->pos < e) {
		size_t line = f->pos;
		const uint8_t *nl = memchr(b + line, '\n', e - line);
		f->pos = nl ? (size_t)(nl - b) + 1 : e;
		if (!is_delim(b, line, e, p->boundary, k, &close))
			continue;
		if (f->start == IN_PREAMBLE) {
			f->start = f->pos;
			f->done = close;
			continue;
		}
		/* The line end before the delimiter belongs to it (RFC 2046). */
		size_t ce = line;
		if (ce > f->start && b[ce - 1] == '\n' && --ce > f->start && b[ce - 1] == '\r')
			ce--;
		*off = f->start;
		*end = ce;
		f->start = f->pos;
		f->done = close;
		return 1;
	}
	if (f->done)
		return 0;
	f->done = 1;
	p->unterminated = 1;
	if (f->start == IN_PREAMBLE)
		return 0;
	*off = f->start;
	*end = e;
	return 1;
}

/* Takes the next child of the innermost open container, or closes it. */
static int step(struct ctx *c)
{
	struct frame *f = &c->st[c->nst - 1];
	struct sx_mail *m = c->m;
	int parent = f->part, idx, rc;
	size_t off, end;
	unsigned n;

	if (m->parts[parent].is_multipart) {
		if (!next_in_multipart(c, f, &off, &end)) {
			c->nst--;
			return 0;
		}
		n = f->n + 1;
	} else {
		if (f->n > 0) {
			c->nst--;
			return 0;
		}
		off = m->parts[parent].body.off;
		end = off + m->parts[parent].body.len;
		n = 0;
	}
	if ((rc = add_part(c, parent, off, end, n, &idx)) < 0)
		return rc;
	if (f->last < 0)
		m->parts[parent].first_child = idx;
	else
		m->parts[f->last].next = idx;
	f->last = idx;
	f->n++;
	/* parse_part may push, moving c->st: f is not used after this. */
	return parse_part(c, idx, m->parts[parent].is_multipart &&
			  strcmp(m->parts[parent].subtype, "digest") == 0);
}

static int parse_root(struct ctx *c)
{
	struct sx_mail *m = c->m;
	const uint8_t *nl;
	size_t pos = 0;
	int idx, rc;

	while (pos < c->len && (nl = memchr(c->buf + pos, '\n', c->len - pos))) {
		pos = (size_t)(nl - c->buf) + 1;
		if (nl == c->buf || nl[-1] != '\r') {
			m->bare_lf = 1;
			break;
		}
	}
	size_t start = skip_junk(c->buf, c->len);
	if (start == c->len) {
		m->no_header = 1;
		return add_part(c, -1, 0, c->len, 0, &idx);
	}
	m->junk = start;
	if ((rc = add_part(c, -1, start, c->len, 0, &idx)) < 0)
		return rc;
	if ((rc = parse_part(c, idx, 0)) < 0)
		return rc;
	while (c->nst > 0)
		if ((rc = step(c)) < 0)
			return rc;
	return 0;
}

int sx_mail_parse(const uint8_t *buf, size_t len, const struct sx_mail_limits *lim,
		  struct sx_mail **out, char *err, size_t errlen)
{
	struct ctx c = {.buf = buf, .len = len, .err = err, .errlen = errlen};
	int rc;

	*out = NULL;
	if (lim)
		c.lim = *lim;
	else
		sx_mail_limits_default(&c.lim);
	if (len > c.lim.max_size)
		return fail(&c, SX_ETOOBIG, "message larger than %zu bytes", c.lim.max_size);
	if (!buf && len > 0)
		return fail(&c, SX_EINVAL, "no buffer");
	if (!buf)
		c.buf = (const uint8_t *)"";
	if (!(c.m = calloc(1, sizeof *c.m)))
		return fail(&c, SX_ENOMEM, "out of memory");
	c.m->buf = c.buf;
	c.m->len = len;
	rc = parse_root(&c);
	free(c.st);
	if (rc < 0) {
		sx_mail_destroy(c.m);
		return rc;
	}
	*out = c.m;
	return 0;
}

void sx_mail_destroy(struct sx_mail *m)
{
	if (!m)
		return;
	free(m->parts);
	free(m->fields);
	free(m);
}
