/*
 * test_mime.c: the RFC 5322 / MIME parser (mail/mime.c, mail/header.c).
 *
 * Every parsed message goes through check(), which asserts that every part
 * and field lies inside the buffer and that the tree is consistent (spans
 * nested, header followed by body, fields inside their part's header). The
 * shape of a tree is compared as one string, "[path]type/subtype" per part
 * in document order. Limits are tested at their edge: the message that
 * exactly reaches a limit is accepted, one more is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "mail/mime.h"

#define ERRLEN 256

static int span_in(struct sx_span s, size_t lo, size_t hi)
{
	return s.off >= lo && s.off <= hi && s.len <= hi - s.off;
}

/* The invariants every parse must keep. */
static void check(const struct sx_mail *m)
{
	unsigned nfields = 0;
	assert_non_null(m);
	assert_true(m->nparts >= 1);
	assert_true(m->junk <= m->len);
	for (unsigned i = 0; i < m->nparts; i++) {
		const struct sx_part *p = &m->parts[i];
		size_t wend = p->whole.off + p->whole.len;
		assert_true(span_in(p->whole, 0, m->len));
		assert_true(span_in(p->header, p->whole.off, wend));
		assert_true(span_in(p->body, p->whole.off, wend));
		assert_int_equal(p->header.off, p->whole.off);
		assert_int_equal(p->header.off + p->header.len, p->body.off);
		assert_int_equal(p->body.off + p->body.len, wend);
		assert_true(memchr(p->path, '\0', sizeof p->path) != NULL);
		assert_true(memchr(p->type, '\0', sizeof p->type) != NULL);
		assert_true(memchr(p->subtype, '\0', sizeof p->subtype) != NULL);
		assert_true(memchr(p->charset, '\0', sizeof p->charset) != NULL);
		assert_true(memchr(p->boundary, '\0', sizeof p->boundary) != NULL);
		assert_true(p->type[0] != '\0' && p->subtype[0] != '\0');
		if (i == 0) {
			assert_int_equal(p->parent, -1);
			assert_int_equal(p->depth, 0);
			assert_string_equal(p->path, "");
			assert_int_equal(p->whole.off, m->junk);
			assert_int_equal(wend, m->len);
		} else {
			const struct sx_part *q = &m->parts[p->parent];
			assert_true(p->parent >= 0 && (unsigned)p->parent < i);
			assert_int_equal(p->depth, q->depth + 1);
			assert_true(span_in(p->whole, q->body.off, q->body.off + q->body.len));
			assert_true(q->is_multipart || q->is_message);
		}
		/* children: in order, after their parent, not overlapping */
		size_t prev_end = p->body.off;
		unsigned nchild = 0;
		for (int c = p->first_child; c >= 0; c = m->parts[c].next) {
			assert_true((unsigned)c > i && (unsigned)c < m->nparts);
			assert_int_equal(m->parts[c].parent, (int)i);
			assert_true(m->parts[c].whole.off >= prev_end);
			prev_end = m->parts[c].whole.off + m->parts[c].whole.len;
			nchild++;
		}
		if (p->is_message && p->first_child >= 0) {
			assert_int_equal(nchild, 1);
			assert_int_equal(m->parts[p->first_child].whole.off, p->body.off);
			assert_int_equal(m->parts[p->first_child].whole.len, p->body.len);
			assert_string_equal(m->parts[p->first_child].path, p->path);
		}
		if (!p->is_multipart && !p->is_message)
			assert_int_equal(p->first_child, -1);
		assert_true(p->hfirst + p->hcount <= m->nfields);
		nfields += p->hcount;
		for (unsigned k = p->hfirst; k < p->hfirst + p->hcount; k++) {
			const struct sx_hfield *f = &m->fields[k];
			size_t rend = f->raw.off + f->raw.len;
			assert_int_equal(f->part, (int)i);
			assert_true(span_in(f->raw, p->header.off, p->header.off + p->header.len));
			assert_true(span_in(f->name, f->raw.off, rend));
			assert_true(span_in(f->value, f->raw.off, rend));
			assert_int_equal(f->name.off, f->raw.off);
			assert_true(f->name.len > 0);
			assert_true(f->value.off > f->name.off + f->name.len);
		}
	}
	assert_int_equal(nfields, m->nfields);
	if (m->no_header) {
		assert_int_equal(m->nparts, 1);
		assert_int_equal(m->nfields, 0);
		assert_int_equal(m->junk, 0);
		assert_int_equal(m->parts[0].body.off, 0);
		assert_int_equal(m->parts[0].body.len, m->len);
	}
}

/* "[path]type/subtype" for every part, in order, separated by blanks. */
static const char *shape(const struct sx_mail *m)
{
	static char s[4096];
	size_t n = 0;
	s[0] = '\0';
	for (unsigned i = 0; i < m->nparts && n < sizeof s; i++)
		n += (size_t)snprintf(s + n, sizeof s - n, "%s[%s]%s/%s", i ? " " : "",
				      m->parts[i].path, m->parts[i].type, m->parts[i].subtype);
	return s;
}

static struct sx_mail *parse_lim(const char *s, size_t len, const struct sx_mail_limits *lim)
{
	struct sx_mail *m = NULL;
	char err[ERRLEN] = "";
	int rc = sx_mail_parse((const uint8_t *)s, len, lim, &m, err, sizeof err);
	if (rc != 0)
		print_error("parse: %s: %s\n", sx_strerror(rc), err);
	assert_int_equal(rc, 0);
	check(m);
	return m;
}

static struct sx_mail *parse(const char *s)
{
	return parse_lim(s, strlen(s), NULL);
}

/* Parses s expecting failure rc with error text want. */
static void parse_fail(const char *s, size_t len, const struct sx_mail_limits *lim, int rc,
		       const char *want)
{
	struct sx_mail *m = (struct sx_mail *)&m;
	char err[ERRLEN] = "";
	assert_int_equal(sx_mail_parse((const uint8_t *)s, len, lim, &m, err, sizeof err), rc);
	assert_null(m);
	assert_string_equal(err, want);
}

static void assert_span(const struct sx_mail *m, struct sx_span s, const char *want)
{
	size_t n = strlen(want);
	assert_int_equal(s.len, n);
	assert_memory_equal(m->buf + s.off, want, n);
}

/* The value of the first field called name in part. */
static struct sx_span value_of(const struct sx_mail *m, int part, const char *name)
{
	unsigned it = 0;
	const struct sx_hfield *f = sx_mail_field(m, part, name, &it);
	assert_non_null(f);
	return f->value;
}

/* The index of the part with path and type/subtype; fails when missing. */
static int find(const struct sx_mail *m, const char *path, const char *type)
{
	char t[2 * SX_MIME_TOKEN + 2];
	for (unsigned i = 0; i < m->nparts; i++) {
		snprintf(t, sizeof t, "%s/%s", m->parts[i].type, m->parts[i].subtype);
		if (strcmp(m->parts[i].path, path) == 0 && strcmp(t, type) == 0)
			return (int)i;
	}
	fail_msg("no part [%s]%s in %s", path, type, shape(m));
	return -1;
}

static char *read_data(const char *name, size_t *len)
{
	const char *dir = getenv("SPREX_TESTDATA");
	char path[4096];
	snprintf(path, sizeof path, "%s/mime/%s", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	char *p = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap && !(p = realloc(p, cap = cap ? cap * 2 : 4096)))
			fail_msg("out of memory");
		size_t k = fread(p + n, 1, cap - n, f);
		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	*len = n;
	return p;
}

/* Builds a string with printf pieces (open_memstream). */
struct sb {
	FILE *f;
	char *p;
	size_t n;
};

static void sb_open(struct sb *b)
{
	b->p = NULL;
	b->f = open_memstream(&b->p, &b->n);
	assert_non_null(b->f);
}

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(b->f, fmt, ap);
	va_end(ap);
}

static char *sb_close(struct sb *b, size_t *len)
{
	fclose(b->f);
	if (len)
		*len = b->n;
	return b->p;
}

/* ---- headers ---- */

static void test_simple(void **state)
{
	const char *s =
		"Return-Path: <bounce@example.net>\r\n"
		"From: \"Sender\" <sender@example.net>\r\n"
		"To: victim@example.org\r\n"
		"Subject: Cheap watches\r\n"
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
		"\r\n"
		"Buy now!\r\n";
	struct sx_mail *m = parse(s);
	assert_int_equal(m->nparts, 1);
	assert_int_equal(m->nfields, 5);
	assert_int_equal(m->junk, 0);
	assert_false(m->bare_lf);
	assert_false(m->no_header);
	const struct sx_part *p = &m->parts[0];
	assert_string_equal(shape(m), "[]text/plain");
	assert_int_equal(p->cte, SX_CTE_7BIT);
	assert_string_equal(p->charset, "");
	assert_false(p->is_multipart || p->is_message || p->bad_cte || p->unterminated);
	assert_int_equal(p->header.len, strlen(s) - strlen("Buy now!\r\n"));
	assert_span(m, p->body, "Buy now!\r\n");
	assert_span(m, value_of(m, 0, "subject"), "Cheap watches");
	assert_span(m, value_of(m, 0, "From"), "\"Sender\" <sender@example.net>");
	const struct sx_hfield *f = &m->fields[1];
	assert_span(m, f->raw, "From: \"Sender\" <sender@example.net>\r\n");
	assert_span(m, f->name, "From");
	sx_mail_destroy(m);
	sx_mail_destroy(NULL);
}

static void test_bare_lf(void **state)
{
	struct sx_mail *m = parse("From: a@example.net\nSubject: hi\n\nline 1\nline 2\n");
	assert_true(m->bare_lf);
	assert_int_equal(m->nfields, 2);
	assert_span(m, m->fields[0].raw, "From: a@example.net\n");
	assert_span(m, m->fields[1].value, "hi");
	assert_span(m, m->parts[0].header, "From: a@example.net\nSubject: hi\n\n");
	assert_span(m, m->parts[0].body, "line 1\nline 2\n");
	sx_mail_destroy(m);

	/* CRLF header, one bare LF deep in the body still counts */
	m = parse("Subject: x\r\n\r\nok\r\nbare\nok\r\n");
	assert_true(m->bare_lf);
	assert_span(m, m->parts[0].body, "ok\r\nbare\nok\r\n");
	sx_mail_destroy(m);

	/* the empty line may be LF after CRLF fields */
	m = parse("Subject: x\r\n\nbody");
	assert_span(m, m->parts[0].body, "body");
	assert_span(m, m->fields[0].value, "x");
	sx_mail_destroy(m);
}

static void test_folding(void **state)
{
	const char *s =
		"Subject: a long\r\n"
		" subject\r\n"
		"\tcontinued\r\n"
		"Received: from a.example.net\n"
		"    by b.example.org;\n"
		"    Mon, 1 Jan 2024 00:00:00 +0000\n"
		"X-Empty-First:\r\n"
		" on the next line\r\n"
		"\r\n"
		"body\r\n";
	struct sx_mail *m = parse(s);
	assert_int_equal(m->nfields, 3);
	assert_span(m, m->fields[0].raw, "Subject: a long\r\n subject\r\n\tcontinued\r\n");
	assert_span(m, m->fields[0].value, "a long\r\n subject\r\n\tcontinued");
	assert_span(m, m->fields[1].value,
		    "from a.example.net\n    by b.example.org;\n"
		    "    Mon, 1 Jan 2024 00:00:00 +0000");
	/* leading folding is skipped like leading blanks */
	assert_span(m, m->fields[2].value, "on the next line");
	assert_span(m, m->parts[0].body, "body\r\n");

	struct sx_buf b;
	sx_buf_init(&b, 1024);
	assert_int_equal(sx_mail_unfold(m, &m->fields[0], &b), 0);
	assert_int_equal(sx_buf_used(&b), strlen("a long subject\tcontinued"));
	assert_memory_equal(sx_buf_head(&b), "a long subject\tcontinued", sx_buf_used(&b));
	sx_buf_reset(&b, 0);
	assert_int_equal(sx_mail_unfold(m, &m->fields[1], &b), 0);
	const char *want = "from a.example.net    by b.example.org;"
			   "    Mon, 1 Jan 2024 00:00:00 +0000";
	assert_int_equal(sx_buf_used(&b), strlen(want));
	assert_memory_equal(sx_buf_head(&b), want, strlen(want));
	sx_buf_finish(&b);
	sx_mail_destroy(m);
}

static void test_obsolete_syntax(void **state)
{
	const char *s =
		"Subject : spaced name\r\n"
		"X-Tab\t:tabbed\r\n"
		"X-Empty:\r\n"
		"X-Blank:   \r\n"
		"X-Obs: a\r\n"
		"   \r\n"
		" b\r\n"
		"X-Last:no space\r\n"
		"\r\n"
		"body";
	struct sx_mail *m = parse(s);
	assert_int_equal(m->nfields, 6);
	assert_span(m, m->fields[0].name, "Subject");
	assert_span(m, m->fields[0].value, "spaced name");
	assert_span(m, m->fields[1].name, "X-Tab");
	assert_span(m, m->fields[1].value, "tabbed");
	assert_span(m, m->fields[2].value, "");
	assert_span(m, m->fields[3].value, "");
	assert_span(m, m->fields[4].raw, "X-Obs: a\r\n   \r\n b\r\n");
	assert_span(m, m->fields[5].value, "no space");
	assert_span(m, value_of(m, 0, "SUBJECT"), "spaced name");
	assert_span(m, m->parts[0].body, "body");
	sx_mail_destroy(m);

	/* a header that ends without an empty line, at a line that is no field */
	m = parse("Subject: x\r\nthis is body text\r\nmore\r\n");
	assert_int_equal(m->nfields, 1);
	assert_span(m, m->parts[0].body, "this is body text\r\nmore\r\n");
	sx_mail_destroy(m);

	/* a header with no body at all, last line without line end */
	m = parse("Subject: x\r\nTo: y");
	assert_int_equal(m->nfields, 2);
	assert_span(m, m->fields[1].raw, "To: y");
	assert_span(m, m->fields[1].value, "y");
	assert_int_equal(m->parts[0].body.len, 0);
	sx_mail_destroy(m);
}

static void test_8bit_header(void **state)
{
	/* raw UTF-8 and raw Shift_JIS in values, kept byte for byte */
	const char *s =
		"Subject: \xe6\x9c\xac\xe6\x97\xa5\xe9\x99\x90\xe5\xae\x9a\r\n"
		"From: \x83\x65\x83\x58\x83\x67 <sjis@example.jp>\r\n"
		"X-Nul: a\xff\x80z\r\n"
		"\r\n"
		"\x82\xa0\r\n";
	struct sx_mail *m = parse(s);
	assert_int_equal(m->nfields, 3);
	assert_span(m, m->fields[0].value, "\xe6\x9c\xac\xe6\x97\xa5\xe9\x99\x90\xe5\xae\x9a");
	assert_span(m, m->fields[1].value, "\x83\x65\x83\x58\x83\x67 <sjis@example.jp>");
	assert_span(m, m->fields[2].value, "a\xff\x80z");
	assert_span(m, m->parts[0].body, "\x82\xa0\r\n");
	sx_mail_destroy(m);

	/* a NUL byte in a value is just a byte */
	static const char nul[] = "X-A: a\0b\r\n\r\nx";
	m = parse_lim(nul, sizeof nul - 1, NULL);
	assert_int_equal(m->fields[0].value.len, 3);
	sx_mail_destroy(m);
}

static void test_junk_prefix(void **state)
{
	const char *from = "From spammer@example.net Mon Jan  1 00:00:00 2024\n";
	char s[512];
	snprintf(s, sizeof s, "%sReturn-Path: <x@example.net>\nSubject: hi\n\nbody\n", from);
	struct sx_mail *m = parse(s);
	assert_int_equal(m->junk, strlen(from));
	assert_false(m->no_header);
	assert_int_equal(m->nfields, 2);
	assert_span(m, m->fields[0].name, "Return-Path");
	assert_span(m, m->parts[0].body, "body\n");
	sx_mail_destroy(m);

	/* blank lines and garbage before the header */
	m = parse("\r\n\r\n   \r\n>From someone\r\n\x01\x02garbage\r\nSubject: x\r\n\r\nbody");
	assert_int_equal(m->junk, strlen("\r\n\r\n   \r\n>From someone\r\n\x01\x02garbage\r\n"));
	assert_int_equal(m->nfields, 1);
	sx_mail_destroy(m);
}

static void test_junk_edge(void **state)
{
	struct sb b;
	char *s;

	/* SX_MIME_JUNK_LINES lines of junk are skipped ... */
	sb_open(&b);
	for (unsigned i = 0; i < SX_MIME_JUNK_LINES; i++)
		sb_add(&b, "junk line %u\r\n", i);
	sb_add(&b, "Subject: found\r\n\r\nbody");
	s = sb_close(&b, NULL);
	struct sx_mail *m = parse(s);
	assert_false(m->no_header);
	assert_int_equal(m->nfields, 1);
	assert_span(m, m->parts[0].body, "body");
	sx_mail_destroy(m);
	free(s);

	/* ... one more and the message is all body */
	sb_open(&b);
	for (unsigned i = 0; i <= SX_MIME_JUNK_LINES; i++)
		sb_add(&b, "junk line %u\r\n", i);
	sb_add(&b, "Subject: too late\r\n\r\nbody");
	s = sb_close(&b, NULL);
	m = parse(s);
	assert_true(m->no_header);
	sx_mail_destroy(m);
	free(s);
}

static void test_no_header(void **state)
{
	const char *s = "Hello there,\n\nthis is a spam I got; see below.\nThanks\n";
	struct sx_mail *m = parse(s);
	assert_true(m->no_header);
	assert_int_equal(m->junk, 0);
	assert_string_equal(shape(m), "[]text/plain");
	assert_span(m, m->parts[0].body, s);
	assert_int_equal(m->parts[0].header.len, 0);
	sx_mail_destroy(m);

	/* empty input, with and without a buffer */
	m = parse("");
	assert_true(m->no_header);
	assert_int_equal(m->parts[0].whole.len, 0);
	sx_mail_destroy(m);
	assert_int_equal(sx_mail_parse(NULL, 0, NULL, &m, NULL, 0), 0);
	check(m);
	assert_true(m->no_header);
	sx_mail_destroy(m);

	/* only blank lines; a colon in a line that is no field name */
	m = parse("\r\n\r\n\r\n");
	assert_true(m->no_header);
	sx_mail_destroy(m);
	m = parse("Dear Sir: please read\n");
	assert_true(m->no_header);
	sx_mail_destroy(m);
}

/* ---- multipart ---- */

static const char alternative[] =
	"From: shop@example.net\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative;\r\n"
	"\tboundary=\"==alt==\"\r\n"
	"\r\n"
	"This is a multi-part message in MIME format.\r\n"
	"--==alt==\r\n"
	"Content-Type: text/plain; charset=\"UTF-8\"\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Buy =E2=82=AC\r\n"
	"--==alt==\r\n"
	"Content-Type: text/html; charset=ISO-2022-JP\r\n"
	"\r\n"
	"<p>Buy</p>\r\n"
	"--==alt==--\r\n"
	"epilogue\r\n";

static void test_alternative(void **state)
{
	struct sx_mail *m = parse(alternative);
	assert_string_equal(shape(m), "[]multipart/alternative [1]text/plain [2]text/html");
	const struct sx_part *r = &m->parts[0], *a = &m->parts[1], *b = &m->parts[2];
	assert_true(r->is_multipart);
	assert_false(r->unterminated);
	assert_string_equal(r->boundary, "==alt==");
	assert_int_equal(r->first_child, 1);
	assert_int_equal(a->next, 2);
	assert_int_equal(b->next, -1);
	assert_string_equal(a->charset, "utf-8");
	assert_string_equal(b->charset, "iso-2022-jp");
	assert_int_equal(a->cte, SX_CTE_QP);
	assert_int_equal(b->cte, SX_CTE_7BIT);
	assert_span(m, a->body, "Buy =E2=82=AC");
	assert_span(m, b->body, "<p>Buy</p>");
	assert_int_equal(a->hcount, 2);
	assert_int_equal(m->fields[a->hfirst].part, 1);
	assert_true(strstr((const char *)m->buf + r->body.off, "This is a multi-part") ==
		    (const char *)m->buf + r->body.off);
	sx_mail_destroy(m);
}

static void test_nested_mixed(void **state)
{
	const char *s =
		"Subject: invoice\n"
		"Content-Type: multipart/mixed; boundary=outer\n"
		"\n"
		"--outer\n"
		"Content-Type: multipart/alternative; boundary=inner\n"
		"\n"
		"--inner\n"
		"\n"
		"plain text\n"
		"--inner\n"
		"Content-Type: text/html\n"
		"\n"
		"<b>html</b>\n"
		"--inner--\n"
		"\n"
		"--outer\n"
		"Content-Type: application/pdf; name=\"invoice.pdf\"\n"
		"Content-Disposition: attachment; filename=\"invoice.pdf\"\n"
		"Content-Transfer-Encoding: base64\n"
		"\n"
		"JVBERi0xLjQK\n"
		"--outer\n"
		"Content-Type: image/png\n"
		"Content-Transfer-Encoding: BASE64\n"
		"\n"
		"iVBORw0KGgo=\n"
		"--outer--\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]multipart/alternative [1.1]text/plain "
			    "[1.2]text/html [2]application/pdf [3]image/png");
	int pdf = find(m, "2", "application/pdf");
	assert_int_equal(m->parts[pdf].cte, SX_CTE_BASE64);
	assert_int_equal(m->parts[pdf].depth, 1);
	assert_span(m, m->parts[pdf].body, "JVBERi0xLjQK");
	assert_int_equal(m->parts[find(m, "3", "image/png")].cte, SX_CTE_BASE64);
	int txt = find(m, "1.1", "text/plain");
	assert_int_equal(m->parts[txt].depth, 2);
	assert_int_equal(m->parts[txt].hcount, 0);
	assert_span(m, m->parts[txt].header, "\n");
	assert_span(m, m->parts[txt].body, "plain text");
	/* the epilogue of the inner multipart is a blank line */
	assert_span(m, m->parts[find(m, "1", "multipart/alternative")].body,
		    "--inner\n\nplain text\n--inner\nContent-Type: text/html\n\n<b>html</b>\n"
		    "--inner--\n");

	struct sx_buf b;
	sx_buf_init(&b, 100);
	struct sx_span v = value_of(m, pdf, "content-disposition");
	assert_int_equal(sx_mail_param(m->buf + v.off, v.len, "filename", &b), 0);
	assert_memory_equal(sx_buf_head(&b), "invoice.pdf", sx_buf_used(&b));
	sx_buf_finish(&b);
	sx_mail_destroy(m);
}

static const char forwarded[] =
	"From: reporter@example.org\r\n"
	"Subject: Fwd: spam\r\n"
	"Content-Type: multipart/mixed; boundary=\"fwd\"\r\n"
	"\r\n"
	"--fwd\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"Please look at this.\r\n"
	"--fwd\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Disposition: attachment\r\n"
	"\r\n"
	"Received: from spam.example.net\r\n"
	"From: spammer@example.net\r\n"
	"Subject: You won\r\n"
	"Content-Type: multipart/mixed; boundary=\"spam\"\r\n"
	"\r\n"
	"--spam\r\n"
	"Content-Type: text/plain; charset=Shift_JIS\r\n"
	"\r\n"
	"win\r\n"
	"--spam\r\n"
	"Content-Type: application/zip\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"UEsDBA==\r\n"
	"--spam--\r\n"
	"\r\n"
	"--fwd--\r\n";

static void test_message_rfc822(void **state)
{
	struct sx_mail *m = parse(forwarded);
	assert_string_equal(shape(m), "[]multipart/mixed [1]text/plain [2]message/rfc822 "
			    "[2]multipart/mixed [2.1]text/plain [2.2]application/zip");
	int msg = find(m, "2", "message/rfc822"), inner = find(m, "2", "multipart/mixed");
	assert_true(m->parts[msg].is_message);
	assert_false(m->parts[msg].bad_cte);
	assert_int_equal(m->parts[msg].first_child, inner);
	assert_int_equal(m->parts[inner].parent, msg);
	assert_int_equal(m->parts[inner].depth, 2);
	assert_int_equal(m->parts[inner].hcount, 4);
	assert_span(m, value_of(m, inner, "subject"), "You won");
	assert_span(m, value_of(m, msg, "content-disposition"), "attachment");
	assert_string_equal(m->parts[find(m, "2.1", "text/plain")].charset, "shift_jis");
	assert_int_equal(m->parts[find(m, "2.2", "application/zip")].depth, 3);
	/* the embedded message's own fields belong to it, not to its part */
	unsigned it = 0;
	assert_null(sx_mail_field(m, msg, "Subject", &it));
	it = 0;
	assert_null(sx_mail_field(m, 0, "Received", &it));
	sx_mail_destroy(m);

	/* message/global too, and a message/rfc822 root */
	m = parse("Content-Type: message/global\r\n\r\nSubject: inner\r\n\r\nhello");
	assert_string_equal(shape(m), "[]message/global []text/plain");
	assert_span(m, value_of(m, 1, "Subject"), "inner");
	assert_span(m, m->parts[1].body, "hello");
	sx_mail_destroy(m);

	/* other message subtypes are leaves */
	m = parse("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n");
	assert_false(m->parts[0].is_message);
	assert_int_equal(m->nparts, 1);
	sx_mail_destroy(m);
}

static void test_message_encoded(void **state)
{
	const char *s =
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"U3ViamVjdDogaGkNCg0KYm9keQ0K\r\n"
		"--b\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Subject: =E3=81=82\r\n"
		"\r\n"
		"x\r\n"
		"--b\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: x-uuencode\r\n"
		"\r\n"
		"begin 644 x\r\n"
		"--b\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Transfer-Encoding: 8bit\r\n"
		"\r\n"
		"Subject: \xe3\x81\x82\r\n"
		"\r\n"
		"x\r\n"
		"--b--\r\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]message/rfc822 [2]message/rfc822 "
			    "[3]message/rfc822 [4]message/rfc822 [4]text/plain");
	for (int i = 1; i <= 3; i++) {
		assert_true(m->parts[i].is_message);
		assert_true(m->parts[i].bad_cte);
		assert_int_equal(m->parts[i].first_child, -1);
	}
	assert_int_equal(m->parts[1].cte, SX_CTE_BASE64);
	assert_int_equal(m->parts[2].cte, SX_CTE_QP);
	assert_int_equal(m->parts[3].cte, SX_CTE_OTHER);
	assert_span(m, m->parts[1].body, "U3ViamVjdDogaGkNCg0KYm9keQ0K");
	assert_false(m->parts[4].bad_cte);
	assert_int_equal(m->parts[4].cte, SX_CTE_8BIT);
	assert_int_equal(m->parts[4].first_child, 5);
	sx_mail_destroy(m);
}

static void test_unterminated(void **state)
{
	const char *s =
		"Content-Type: multipart/mixed; boundary=\"xyz\"\n"
		"\n"
		"--xyz\n"
		"\n"
		"first\n"
		"--xyz\n"
		"Content-Type: text/html\n"
		"\n"
		"<p>cut off";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]text/plain [2]text/html");
	assert_true(m->parts[0].unterminated);
	assert_span(m, m->parts[1].body, "first");
	assert_span(m, m->parts[2].body, "<p>cut off");
	sx_mail_destroy(m);

	/* a nested multipart without its end stops at the outer delimiter */
	m = parse("Content-Type: multipart/mixed; boundary=o\n\n"
		  "--o\nContent-Type: multipart/related; boundary=i\n\n--i\n\ninner\n"
		  "--o\n\nsecond\n--o--\n");
	assert_string_equal(shape(m), "[]multipart/mixed [1]multipart/related [1.1]text/plain "
			    "[2]text/plain");
	assert_false(m->parts[0].unterminated);
	assert_true(m->parts[1].unterminated);
	assert_span(m, m->parts[2].body, "inner");
	assert_span(m, m->parts[3].body, "second");
	sx_mail_destroy(m);

	/* no delimiter at all: no children */
	m = parse("Content-Type: multipart/mixed; boundary=nope\n\njust text\n");
	assert_int_equal(m->nparts, 1);
	assert_true(m->parts[0].is_multipart);
	assert_true(m->parts[0].unterminated);
	assert_int_equal(m->parts[0].first_child, -1);
	sx_mail_destroy(m);

	/* only the closing delimiter: no children, terminated */
	m = parse("Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b--\n");
	assert_int_equal(m->nparts, 1);
	assert_false(m->parts[0].unterminated);
	sx_mail_destroy(m);
}

static void test_boundary_not_at_line_start(void **state)
{
	const char *s =
		"Content-Type: multipart/mixed; boundary=\"B64\"\r\n"
		"\r\n"
		"--B64\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"QUJDRA--B64QUJD--B64\r\n"
		"AAAA --B64\r\n"
		" --B64\r\n"
		"--B64x\r\n"
		"--B64--x\r\n"
		"---B64\r\n"
		"--B64--\r\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]text/plain");
	assert_span(m, m->parts[1].body,
		    "QUJDRA--B64QUJD--B64\r\nAAAA --B64\r\n --B64\r\n--B64x\r\n--B64--x\r\n"
		    "---B64");
	sx_mail_destroy(m);
}

static void test_boundary_trailing_blanks(void **state)
{
	const char *s =
		"Content-Type: multipart/mixed; boundary=tb\r\n"
		"\r\n"
		"--tb  \t\r\n"
		"\r\n"
		"one\r\n"
		"--tb\t\r\n"
		"\r\n"
		"two\r\n"
		"--tb--   \r\n"
		"epilogue\r\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]text/plain [2]text/plain");
	assert_false(m->parts[0].unterminated);
	assert_span(m, m->parts[1].body, "one");
	assert_span(m, m->parts[2].body, "two");
	sx_mail_destroy(m);

	/* a delimiter as the very last bytes, with blanks and no line end */
	m = parse("Content-Type: multipart/mixed; boundary=tb\n\n--tb\n\nx\n--tb-- ");
	assert_int_equal(m->nparts, 2);
	assert_false(m->parts[0].unterminated);
	assert_span(m, m->parts[1].body, "x");
	sx_mail_destroy(m);
}

static void test_preamble_epilogue(void **state)
{
	const char *s =
		"Content-Type: multipart/mixed; boundary=\"pe\"\n"
		"\n"
		"preamble line 1\n"
		"--pe-not-a-delimiter\n"
		"--pe\n"
		"Content-Type: text/plain\n"
		"\n"
		"\n"
		"part with a blank first line\n"
		"\n"
		"--pe\n"
		"--pe\n"
		"Subject: no blank line, header then body\n"
		"body starts here\n"
		"--pe\n"
		"no header at all\n"
		"--pe--\n"
		"--pe\n"
		"epilogue that looks like a part\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]text/plain [2]text/plain "
			    "[3]text/plain [4]text/plain");
	assert_span(m, m->parts[1].body, "\npart with a blank first line\n");
	assert_int_equal(m->parts[2].whole.len, 0);   /* empty part between two delimiters */
	assert_int_equal(m->parts[3].hcount, 1);
	assert_span(m, m->parts[3].body, "body starts here");
	assert_int_equal(m->parts[4].hcount, 0);
	assert_span(m, m->parts[4].header, "");
	assert_span(m, m->parts[4].body, "no header at all");
	assert_false(m->parts[0].unterminated);
	sx_mail_destroy(m);
}

static void test_boundary_prefix_nesting(void **state)
{
	/* the inner boundary starts with the outer one (RFC 2046 forbids it;
	 * it happens): "--outer" + "x" is no outer delimiter */
	const char *s =
		"Content-Type: multipart/mixed; boundary=outer\n\n"
		"--outer\n"
		"Content-Type: multipart/alternative; boundary=outerx\n\n"
		"--outerx\n\na\n--outerx\n\nb\n--outerx--\n"
		"--outer\n\nc\n"
		"--outer--\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed [1]multipart/alternative [1.1]text/plain "
			    "[1.2]text/plain [2]text/plain");
	assert_span(m, m->parts[3].body, "b");
	assert_span(m, m->parts[4].body, "c");
	sx_mail_destroy(m);
}

/* A multipart message with one child, delimited by bd. */
static void with_boundary(char *s, size_t size, const char *bd)
{
	snprintf(s, size, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n\nx\n--%s--\n",
		 bd, bd, bd);
}

static void test_boundary_usable(void **state)
{
	char bd[SX_MIME_BOUNDARY + 1], s[512];
	struct sx_mail *m;

	/* SX_MIME_BOUNDARY - 1 bytes: used */
	memset(bd, 'b', SX_MIME_BOUNDARY - 1);
	bd[SX_MIME_BOUNDARY - 1] = '\0';
	with_boundary(s, sizeof s, bd);
	m = parse(s);
	assert_true(m->parts[0].is_multipart);
	assert_int_equal(m->nparts, 2);
	sx_mail_destroy(m);

	/* one more: a leaf that still says multipart */
	memset(bd, 'b', SX_MIME_BOUNDARY);
	bd[SX_MIME_BOUNDARY] = '\0';
	with_boundary(s, sizeof s, bd);
	m = parse(s);
	assert_string_equal(shape(m), "[]multipart/mixed");
	assert_false(m->parts[0].is_multipart);
	assert_string_equal(m->parts[0].boundary, "");
	sx_mail_destroy(m);

	/* missing or empty boundary */
	m = parse("Content-Type: multipart/mixed\n\n--\n\nx\n");
	assert_false(m->parts[0].is_multipart);
	sx_mail_destroy(m);
	m = parse("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n");
	assert_false(m->parts[0].is_multipart);
	sx_mail_destroy(m);

	/* RFC 2231 form of the boundary, with a comment and odd case */
	m = parse("Content-Type: Multipart/Mixed (c) ; BOUNDARY*=''a%20b\n\n"
		  "--a b\n\nx\n--a b--\n");
	assert_string_equal(m->parts[0].boundary, "a b");
	assert_int_equal(m->nparts, 2);
	sx_mail_destroy(m);
}

static void test_digest(void **state)
{
	const char *s =
		"Content-Type: multipart/digest; boundary=d\n"
		"\n"
		"--d\n"
		"\n"
		"Subject: first\n"
		"\n"
		"one\n"
		"--d\n"
		"Content-Type: text/plain\n"
		"\n"
		"not a message\n"
		"--d\n"
		"\n"
		"Subject: third\n"
		"Content-Type: multipart/mixed; boundary=e\n"
		"\n"
		"--e\n"
		"\n"
		"inside\n"
		"--e--\n"
		"--d--\n";
	struct sx_mail *m = parse(s);
	assert_string_equal(shape(m), "[]multipart/digest [1]message/rfc822 [1]text/plain "
			    "[2]text/plain [3]message/rfc822 [3]multipart/mixed [3.1]text/plain");
	assert_true(m->parts[1].is_message);
	assert_span(m, value_of(m, 2, "subject"), "first");
	assert_span(m, m->parts[2].body, "one");
	/* the default inside the digest's messages is text/plain again */
	assert_span(m, m->parts[find(m, "3.1", "text/plain")].body, "inside");
	sx_mail_destroy(m);
}

static void test_content_type_syntax(void **state)
{
	struct sx_mail *m;

	m = parse("Content-Type: (a comment) Text (x) / (y) HTML (z); (c) charset = \"Big5\" "
		  "(traditional)\r\n\r\nx");
	assert_string_equal(shape(m), "[]text/html");
	assert_string_equal(m->parts[0].charset, "big5");
	sx_mail_destroy(m);

	/* a ';' inside a quoted string or comment ends nothing */
	m = parse("Content-Type: multipart/mixed; x=\"a;boundary=no\"; (boundary=no2;)\r\n"
		  " boundary=\"yes;really\"\r\n\r\n--yes;really\r\n\r\nx\r\n--yes;really--\r\n");
	assert_string_equal(m->parts[0].boundary, "yes;really");
	assert_int_equal(m->nparts, 2);
	sx_mail_destroy(m);

	/* invalid: defaults, and the first Content-Type field counts */
	m = parse("Content-Type: text\r\n\r\nx");
	assert_string_equal(shape(m), "[]text/plain");
	sx_mail_destroy(m);
	m = parse("Content-Type: /html\r\nContent-Type: text/html\r\n\r\nx");
	assert_string_equal(shape(m), "[]text/plain");
	sx_mail_destroy(m);
	m = parse("Content-Type:\r\n\r\nx");
	assert_string_equal(shape(m), "[]text/plain");
	sx_mail_destroy(m);

	/* type tokens of SX_MIME_TOKEN - 1 bytes fit, SX_MIME_TOKEN do not */
	char t[SX_MIME_TOKEN + 1], s[256];
	memset(t, 'x', SX_MIME_TOKEN - 1);
	t[SX_MIME_TOKEN - 1] = '\0';
	snprintf(s, sizeof s, "Content-Type: application/%s; charset=%s\r\n\r\n", t, t);
	m = parse(s);
	assert_string_equal(m->parts[0].subtype, t);
	assert_string_equal(m->parts[0].charset, t);
	sx_mail_destroy(m);
	memset(t, 'x', SX_MIME_TOKEN);
	t[SX_MIME_TOKEN] = '\0';
	snprintf(s, sizeof s, "Content-Type: application/%s; charset=%s\r\n\r\n", t, t);
	m = parse(s);
	assert_string_equal(shape(m), "[]text/plain");
	assert_string_equal(m->parts[0].charset, "");
	sx_mail_destroy(m);
}

static void test_cte(void **state)
{
	static const struct {
		const char *value;
		enum sx_cte cte;
		int bad;
	} cases[] = {
		{"7bit", SX_CTE_7BIT, 0},
		{"8BIT", SX_CTE_8BIT, 0},
		{"Binary", SX_CTE_BINARY, 0},
		{"quoted-printable", SX_CTE_QP, 0},
		{" (comment) base64 (more)", SX_CTE_BASE64, 0},
		{"", SX_CTE_7BIT, 0},
		{"x-uuencode", SX_CTE_OTHER, 1},
		{"base-64", SX_CTE_OTHER, 1},
	};
	char s[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(s, sizeof s, "Content-Transfer-Encoding: %s\r\n\r\nx", cases[i].value);
		struct sx_mail *m = parse(s);
		assert_int_equal(m->parts[0].cte, cases[i].cte);
		assert_int_equal(m->parts[0].bad_cte, cases[i].bad);
		sx_mail_destroy(m);
	}
	assert_string_equal(sx_cte_name(SX_CTE_7BIT), "7bit");
	assert_string_equal(sx_cte_name(SX_CTE_8BIT), "8bit");
	assert_string_equal(sx_cte_name(SX_CTE_BINARY), "binary");
	assert_string_equal(sx_cte_name(SX_CTE_QP), "quoted-printable");
	assert_string_equal(sx_cte_name(SX_CTE_BASE64), "base64");
	assert_string_equal(sx_cte_name(SX_CTE_OTHER), "other");

	/* a multipart in base64 is inconsistent, but what can be split is */
	struct sx_mail *m = parse("Content-Type: multipart/mixed; boundary=b\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\n"
				  "--b\r\n\r\nx\r\n--b--\r\n");
	assert_true(m->parts[0].bad_cte);
	assert_true(m->parts[0].is_multipart);
	assert_int_equal(m->nparts, 2);
	sx_mail_destroy(m);
	m = parse("Content-Type: multipart/mixed; boundary=b\r\n"
		  "Content-Transfer-Encoding: 8bit\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
	assert_false(m->parts[0].bad_cte);
	sx_mail_destroy(m);
}

static void test_long_paths(void **state)
{
	/* 24 levels of "1." make a 47-byte path, the most that fits */
	struct sb b;
	size_t len;
	const unsigned levels = 26;
	sb_open(&b);
	for (unsigned i = 0; i < levels; i++)
		sb_add(&b, "Content-Type: multipart/mixed; boundary=\"b%u\"\n\n--b%u\n", i, i);
	sb_add(&b, "\ndeep\n");
	char *s = sb_close(&b, &len);
	struct sx_mail_limits lim;
	sx_mail_limits_default(&lim);
	lim.max_depth = levels;
	struct sx_mail *m = parse_lim(s, len, &lim);
	assert_int_equal(m->nparts, levels + 1);
	const char *p24 = m->parts[24].path, *p25 = m->parts[25].path;
	assert_int_equal(m->parts[24].depth, 24);
	char want[SX_MIME_PATH];
	for (size_t i = 0; i < SX_MIME_PATH - 1; i++)
		want[i] = i % 2 ? '.' : '1';
	want[SX_MIME_PATH - 1] = '\0';
	assert_string_equal(p24, want);
	assert_int_equal(strlen(p25), SX_MIME_PATH - 1);
	assert_memory_equal(p25 + SX_MIME_PATH - 4, "...", 3);
	assert_string_equal(m->parts[26].path, p25);
	assert_span(m, m->parts[26].body, "deep\n");
	sx_mail_destroy(m);
	free(s);
}

/* ---- limits ---- */

static void test_limit_size(void **state)
{
	const char *s = alternative;
	size_t len = strlen(s);
	struct sx_mail_limits lim;
	char want[ERRLEN];
	sx_mail_limits_default(&lim);
	lim.max_size = len;
	sx_mail_destroy(parse_lim(s, len, &lim));
	lim.max_size = len - 1;
	snprintf(want, sizeof want, "message larger than %zu bytes", len - 1);
	parse_fail(s, len, &lim, SX_ETOOBIG, want);
	/* the size is checked before anything else */
	lim.max_parts = 0;
	lim.max_headers = 0;
	parse_fail(s, len, &lim, SX_ETOOBIG, want);
	/* no err buffer is fine */
	struct sx_mail *m;
	assert_int_equal(sx_mail_parse((const uint8_t *)s, len, &lim, &m, NULL, 0), SX_ETOOBIG);
}

static void test_limit_size_default(void **state)
{
	size_t len = SX_MAIL_MAX_SIZE + 1;
	char *s = malloc(len);
	assert_non_null(s);
	memset(s, 'a', len);
	sx_mail_destroy(parse_lim(s, len - 1, NULL));
	parse_fail(s, len, NULL, SX_ETOOBIG, "message larger than 10485760 bytes");
	free(s);
}

/* A multipart nesting whose deepest part sits at depth levels. */
static char *nest(unsigned levels, size_t *len)
{
	struct sb b;
	sb_open(&b);
	sb_add(&b, "Subject: nest\r\n");
	for (unsigned i = 0; i < levels; i++)
		sb_add(&b, "Content-Type: multipart/mixed; boundary=\"b%u\"\r\n\r\n--b%u\r\n",
		       i, i);
	sb_add(&b, "Content-Type: text/plain\r\n\r\nhello\r\n");
	for (unsigned i = levels; i-- > 0;)
		sb_add(&b, "--b%u--\r\n", i);
	return sb_close(&b, len);
}

/* A chain of message/rfc822 whose innermost message sits at depth levels. */
static char *chain(unsigned levels, size_t *len)
{
	struct sb b;
	sb_open(&b);
	for (unsigned i = 0; i < levels; i++)
		sb_add(&b, "Subject: level %u\r\nContent-Type: message/rfc822\r\n\r\n", i);
	sb_add(&b, "Subject: innermost\r\n\r\nhello\r\n");
	return sb_close(&b, len);
}

static void test_limit_depth(void **state)
{
	struct sx_mail_limits lim;
	struct sx_mail *m;
	size_t len;
	char *s;

	sx_mail_limits_default(&lim);
	for (unsigned d = 0; d <= 3; d++) {
		lim.max_depth = d;
		s = nest(d, &len);
		m = parse_lim(s, len, &lim);
		assert_int_equal(m->nparts, d + 1);
		assert_int_equal(m->parts[d].depth, d);
		sx_mail_destroy(m);
		free(s);
		s = nest(d + 1, &len);
		char want[ERRLEN];
		snprintf(want, sizeof want, "MIME nesting deeper than %u levels", d);
		parse_fail(s, len, &lim, SX_ELIMIT, want);
		free(s);
	}

	/* the default, with multiparts and with messages */
	s = nest(SX_MAIL_MAX_DEPTH, &len);
	m = parse_lim(s, len, NULL);
	assert_int_equal(m->parts[m->nparts - 1].depth, 16);
	assert_string_equal(m->parts[m->nparts - 1].path, "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1");
	sx_mail_destroy(m);
	free(s);
	s = nest(SX_MAIL_MAX_DEPTH + 1, &len);
	parse_fail(s, len, NULL, SX_ELIMIT, "MIME nesting deeper than 16 levels");
	free(s);

	s = chain(SX_MAIL_MAX_DEPTH, &len);
	m = parse_lim(s, len, NULL);
	assert_int_equal(m->nparts, SX_MAIL_MAX_DEPTH + 1);
	for (unsigned i = 0; i < m->nparts; i++)
		assert_string_equal(m->parts[i].path, "");
	assert_span(m, value_of(m, (int)m->nparts - 1, "subject"), "innermost");
	sx_mail_destroy(m);
	free(s);
	s = chain(SX_MAIL_MAX_DEPTH + 1, &len);
	parse_fail(s, len, NULL, SX_ELIMIT, "MIME nesting deeper than 16 levels");
	free(s);
}

/* A multipart with n children: n + 1 parts. */
static char *flat(unsigned n, size_t *len)
{
	struct sb b;
	sb_open(&b);
	sb_add(&b, "Content-Type: multipart/mixed; boundary=f\n\n");
	for (unsigned i = 0; i < n; i++)
		sb_add(&b, "--f\n\n%u\n", i);
	sb_add(&b, "--f--\n");
	return sb_close(&b, len);
}

static void test_limit_parts(void **state)
{
	struct sx_mail_limits lim;
	struct sx_mail *m;
	size_t len;
	char *s;

	sx_mail_limits_default(&lim);
	lim.max_parts = 5;
	s = flat(4, &len);
	m = parse_lim(s, len, &lim);
	assert_int_equal(m->nparts, 5);
	assert_string_equal(m->parts[4].path, "4");
	sx_mail_destroy(m);
	free(s);
	s = flat(5, &len);
	parse_fail(s, len, &lim, SX_ELIMIT, "more than 5 MIME parts");
	free(s);

	/* the root is a part */
	lim.max_parts = 1;
	sx_mail_destroy(parse_lim("Subject: x\n\n", 12, &lim));
	lim.max_parts = 0;
	parse_fail("Subject: x\n\n", 12, &lim, SX_ELIMIT, "more than 0 MIME parts");

	/* the default */
	s = flat(SX_MAIL_MAX_PARTS - 1, &len);
	m = parse_lim(s, len, NULL);
	assert_int_equal(m->nparts, 1000);
	assert_string_equal(m->parts[999].path, "999");
	sx_mail_destroy(m);
	free(s);
	s = flat(SX_MAIL_MAX_PARTS, &len);
	parse_fail(s, len, NULL, SX_ELIMIT, "more than 1000 MIME parts");
	free(s);
}

/* A message with n header fields in its root and one in a child part. */
static char *fields(unsigned n, size_t *len)
{
	struct sb b;
	sb_open(&b);
	for (unsigned i = 0; i + 2 < n; i++)
		sb_add(&b, "Received: from host%u.example.net\r\n", i);
	sb_add(&b, "Content-Type: multipart/mixed; boundary=h\r\n\r\n");
	sb_add(&b, "--h\r\nContent-Type: text/plain\r\n\r\nx\r\n--h--\r\n");
	return sb_close(&b, len);
}

static void test_limit_headers(void **state)
{
	struct sx_mail_limits lim;
	struct sx_mail *m;
	size_t len;
	char *s;

	sx_mail_limits_default(&lim);
	lim.max_headers = 10;
	s = fields(10, &len);
	m = parse_lim(s, len, &lim);
	assert_int_equal(m->nfields, 10);
	assert_int_equal(m->parts[0].hcount, 9);
	assert_int_equal(m->parts[1].hcount, 1);
	sx_mail_destroy(m);
	free(s);
	s = fields(11, &len);
	parse_fail(s, len, &lim, SX_ELIMIT, "more than 10 header fields");
	free(s);

	s = fields(SX_MAIL_MAX_HEADERS, &len);
	m = parse_lim(s, len, NULL);
	assert_int_equal(m->nfields, 5000);
	sx_mail_destroy(m);
	free(s);
	s = fields(SX_MAIL_MAX_HEADERS + 1, &len);
	parse_fail(s, len, NULL, SX_ELIMIT, "more than 5000 header fields");
	free(s);
}

/* A message whose field X-Long is n bytes long, line end included; folded
 * into lines of 70 bytes when fold is set. */
static char *long_field(size_t n, int fold, size_t *len)
{
	struct sb b;
	size_t used = strlen("X-Long: ") + 2;
	assert_true(n >= used);
	sb_open(&b);
	sb_add(&b, "Subject: x\r\nX-Long: ");
	for (size_t i = 0; used + i < n; i++) {
		if (fold && i % 70 == 69 && used + i + 3 < n) {
			sb_add(&b, "\r\n ");
			i += 2;
		} else {
			sb_add(&b, "a");
		}
	}
	sb_add(&b, "\r\nTo: y\r\n\r\nbody\r\n");
	return sb_close(&b, len);
}

static void test_limit_header_len(void **state)
{
	struct sx_mail_limits lim;
	struct sx_mail *m;
	size_t len;
	char *s;

	sx_mail_limits_default(&lim);
	lim.max_header_len = 300;
	for (int fold = 0; fold <= 1; fold++) {
		s = long_field(300, fold, &len);
		m = parse_lim(s, len, &lim);
		assert_int_equal(m->fields[1].raw.len, 300);
		assert_int_equal(m->nfields, 3);
		sx_mail_destroy(m);
		free(s);
		s = long_field(301, fold, &len);
		parse_fail(s, len, &lim, SX_ELIMIT, "header field longer than 300 bytes");
		free(s);
	}

	/* the default; and a child part's field counts the same */
	s = long_field(SX_MAIL_MAX_HEADER_LEN, 1, &len);
	sx_mail_destroy(parse_lim(s, len, NULL));
	free(s);
	s = long_field(SX_MAIL_MAX_HEADER_LEN + 1, 1, &len);
	parse_fail(s, len, NULL, SX_ELIMIT, "header field longer than 65536 bytes");
	free(s);
	const char *ct = "Content-Type: multipart/mixed;\r\n boundary=b\r\n";
	const char *c = "Content-Type: multipart/mixed;\r\n boundary=b\r\n\r\n--b\r\n"
			"X-Child: a field longer than the root's Content-Type\r\n\r\n--b--\r\n";
	lim.max_header_len = strlen(ct);
	char want[ERRLEN];
	snprintf(want, sizeof want, "header field longer than %zu bytes", strlen(ct));
	parse_fail(c, strlen(c), &lim, SX_ELIMIT, want);
	lim.max_header_len = strlen("X-Child: a field longer than the root's Content-Type\r\n");
	m = parse_lim(c, strlen(c), &lim);
	assert_int_equal(m->fields[0].raw.len, strlen(ct));
	assert_int_equal(m->fields[1].raw.len, lim.max_header_len);
	sx_mail_destroy(m);
}

/* ---- fields, unfolding, parameters ---- */

static void test_field_iteration(void **state)
{
	const char *s =
		"Received: first\r\n"
		"Subject: s\r\n"
		"RECEIVED: second\r\n"
		"received : third\r\n"
		"Received-SPF: pass\r\n"
		"Content-Type: multipart/mixed; boundary=z\r\n"
		"\r\n"
		"--z\r\n"
		"Received: in a part\r\n"
		"\r\n"
		"--z--\r\n";
	struct sx_mail *m = parse(s);
	const char *want[] = {"first", "second", "third"};
	const struct sx_hfield *f;
	unsigned it = 0, n = 0;
	while ((f = sx_mail_field(m, 0, "received", &it))) {
		assert_true(n < 3);
		assert_span(m, f->value, want[n++]);
		assert_int_equal(f->part, 0);
	}
	assert_int_equal(n, 3);
	assert_null(sx_mail_field(m, 0, "received", &it));   /* stays at the end */
	it = 0;
	f = sx_mail_field(m, 1, "Received", &it);
	assert_non_null(f);
	assert_span(m, f->value, "in a part");
	assert_int_equal(f->part, 1);
	assert_null(sx_mail_field(m, 1, "Received", &it));
	it = 0;
	assert_null(sx_mail_field(m, 0, "Receive", &it));
	it = 0;
	assert_null(sx_mail_field(m, 2, "Received", &it));
	it = 0;
	assert_null(sx_mail_field(m, -1, "Received", &it));
	it = 0;
	assert_non_null(sx_mail_field(m, 0, "received-spf", &it));
	sx_mail_destroy(m);
}

static void test_unfold(void **state)
{
	struct sx_mail *m = parse("Subject: one\r\n two\n\tthree \r\n  four\r\n"
				  "X-Cr: a\rb\r\n\r\n");
	struct sx_buf b;
	sx_buf_init(&b, 64);
	assert_int_equal(sx_buf_append(&b, "<", 1), 0);
	assert_int_equal(sx_mail_unfold(m, &m->fields[0], &b), 0);
	const char *want = "<one two\tthree   four";
	assert_int_equal(sx_buf_used(&b), strlen(want));
	assert_memory_equal(sx_buf_head(&b), want, strlen(want));
	sx_buf_finish(&b);

	/* a lone CR is no line end */
	sx_buf_init(&b, 64);
	assert_int_equal(sx_mail_unfold(m, &m->fields[1], &b), 0);
	assert_int_equal(sx_buf_used(&b), 3);
	assert_memory_equal(sx_buf_head(&b), "a\rb", 3);
	sx_buf_finish(&b);

	/* over the bound: refused, out as it was */
	sx_buf_init(&b, 10);
	assert_int_equal(sx_buf_append(&b, "xy", 2), 0);
	assert_int_equal(sx_mail_unfold(m, &m->fields[0], &b), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 2);
	assert_memory_equal(sx_buf_head(&b), "xy", 2);
	sx_buf_finish(&b);
	sx_mail_destroy(m);
}

/* sx_mail_param on value; returns its result, the value in got (NUL-ended). */
static int param(const char *value, const char *name, char *got, size_t size)
{
	struct sx_buf b;
	sx_buf_init(&b, size - 1);
	assert_int_equal(sx_buf_append(&b, "#", 1), 0);
	int rc = sx_mail_param((const uint8_t *)value, strlen(value), name, &b);
	size_t n = sx_buf_used(&b);
	assert_true(n >= 1);
	assert_int_equal(sx_buf_head(&b)[0], '#');
	if (rc < 0)
		assert_int_equal(n, 1);     /* nothing appended on error */
	memcpy(got, sx_buf_head(&b) + 1, n - 1);
	got[n - 1] = '\0';
	sx_buf_finish(&b);
	return rc;
}

static void assert_param(const char *value, const char *name, const char *want)
{
	char got[256];
	int rc = param(value, name, got, sizeof got);
	if (rc != 0)
		fail_msg("%s in \"%s\": %s", name, value, sx_strerror(rc));
	assert_string_equal(got, want);
}

static void assert_param_rc(const char *value, const char *name, int want)
{
	char got[256];
	assert_int_equal(param(value, name, got, sizeof got), want);
}

static void test_param(void **state)
{
	assert_param("text/plain; charset=us-ascii (Plain text)", "charset", "us-ascii");
	assert_param("text/plain;charset=\"UTF-8\";format=flowed", "CHARSET", "UTF-8");
	assert_param("text/plain; format=flowed; charset=x", "format", "flowed");
	assert_param("attachment; FileName=report.txt", "filename", "report.txt");
	assert_param("attachment; filename=\"a \\\"b\\\" c\\\\.txt\"", "filename",
		     "a \"b\" c\\.txt");
	assert_param("attachment;\r\n filename=\"two\r\n lines.txt\"", "filename",
		     "two lines.txt");
	assert_param("attachment; filename = spaced.txt ; size=3", "filename", "spaced.txt");
	assert_param("attachment; filename=\"\"", "filename", "");
	assert_param("attachment; filename=\"unterminated", "filename", "unterminated");
	assert_param("attachment; x=\"; filename=evil\"; (filename=evil2;) filename=good",
		     "filename", "good");
	assert_param("attachment; filename=first; filename=second", "filename", "first");
	/* RFC 2047 in a parameter is not RFC 2231: left as it is */
	assert_param("attachment; filename=\"=?UTF-8?B?5pel?=\"", "filename", "=?UTF-8?B?5pel?=");

	assert_param_rc("text/plain", "charset", SX_ENOTFOUND);
	assert_param_rc("text/plain; charset", "charset", SX_ENOTFOUND);
	assert_param_rc("attachment; filename=x", "name", SX_ENOTFOUND);
	assert_param_rc("attachment; name=x", "filename", SX_ENOTFOUND);
	assert_param_rc("attachment; filenamex=x", "filename", SX_ENOTFOUND);
	assert_param_rc("attachment; filename*x=x", "filename", SX_ENOTFOUND);
	assert_param_rc("", "filename", SX_ENOTFOUND);
	assert_param_rc("filename=not-a-parameter", "filename", SX_ENOTFOUND);
}

static void test_param_2231(void **state)
{
	/* 日本.pdf in UTF-8, a character split across sections */
	const char *nihon = "\xe6\x97\xa5\xe6\x9c\xac.pdf";
	assert_param("attachment; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf", "filename", nihon);
	assert_param("attachment; filename*0*=utf-8'ja'%E6%97%A5%E6; filename*1*=%9C%AC.pdf",
		     "filename", nihon);
	assert_param("attachment; filename*1*=%9C%AC; filename*2=\".pdf\";\r\n"
		     " filename*0*=UTF-8''%E6%97%A5%E6", "filename", nihon);
	/* テスト.txt in ISO-2022-JP: the escape state runs across sections */
	assert_param("attachment;\r\n"
		     " filename*0*=iso-2022-jp'ja'%1B%24B%25F%259;\r\n"
		     " filename*1*=%25H%1B%28B.txt",
		     "filename", "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88.txt");
	/* plain continuations; % is only special in extended sections */
	assert_param("message/external-body; access-type=URL;\r\n"
		     " URL*0=\"ftp://\"; URL*1=\"example.com/a%20b\"", "url",
		     "ftp://example.com/a%20b");
	/* no charset: bytes as they are */
	assert_param("attachment; filename*=''a%20b%zz", "filename", "a b%zz");
	/* name* wins over name*N, which wins over name */
	assert_param("attachment; filename=\"plain.pdf\"; filename*=UTF-8''%E6%97%A5.pdf",
		     "filename", "\xe6\x97\xa5.pdf");
	assert_param("attachment; filename*0=\"sec\"; filename=\"plain\"; filename*1=tions",
		     "filename", "sections");
	assert_param("attachment; filename*=''star; filename*0=sec", "filename", "star");

	/* malformed: gaps, duplicates, leading zeros, no quotes, unknown charset */
	assert_param_rc("a; filename*0=a; filename*2=c", "filename", SX_EINVAL);
	assert_param_rc("a; filename*1=b", "filename", SX_EINVAL);
	assert_param_rc("a; filename*0=a; filename*0=b", "filename", SX_EINVAL);
	assert_param_rc("a; filename*0=a; filename*01=b", "filename", SX_EINVAL);
	assert_param_rc("a; filename*00=a", "filename", SX_EINVAL);
	assert_param_rc("a; filename*=UTF-8%E6%97%A5", "filename", SX_EINVAL);
	assert_param_rc("a; filename*=x-no-such-charset''abc", "filename", SX_EINVAL);
	assert_param_rc("a; filename*0*=x-no-such-charset''abc; filename*1=d", "filename",
			SX_EINVAL);
	/* ... each gives way to the plain form when there is one */
	assert_param("a; filename*0=a; filename*2=c; filename=plain", "filename", "plain");
	assert_param("a; filename*=x-no-such-charset''abc; filename=plain", "filename", "plain");
	assert_param("a; filename*=nocharsetquotes; filename=plain", "filename", "plain");

	/* many sections, in reverse order */
	struct sb b;
	sb_open(&b);
	sb_add(&b, "attachment");
	for (int i = 39; i >= 0; i--)
		sb_add(&b, "; filename*%d=%c", i, 'a' + i % 26);
	char *v = sb_close(&b, NULL), got[256];
	assert_int_equal(param(v, "filename", got, sizeof got), 0);
	assert_string_equal(got, "abcdefghijklmnopqrstuvwxyzabcdefghijklmn");
	free(v);

	/* over the bound of out: refused, out as it was */
	assert_int_equal(param("a; filename=\"12345678\"", "filename", got, 9), SX_ETOOBIG);
	assert_int_equal(param("a; filename=\"1234567\"", "filename", got, 9), 0);
	assert_string_equal(got, "1234567");
	assert_int_equal(param("a; filename*=utf-8''%E6%97%A5%E6%97%A5%E6%97%A5", "filename", got,
			       9), SX_ETOOBIG);
}

/* ---- files in tests/data/mime ---- */

static void test_data_files(void **state)
{
	static const struct {
		const char *file;
		const char *shape;
	} files[] = {
		{"simple.eml", "[]text/plain"},
		{"mbox-from.eml", "[]multipart/alternative [1]text/plain [2]text/html"},
		{"forwarded-rfc822.eml", "[]multipart/mixed [1]text/plain [2]message/rfc822 "
		 "[2]multipart/alternative [2.1]text/plain [2.2]text/html"},
		{"forwarded-base64.eml", "[]multipart/mixed [1]text/plain [2]message/rfc822"},
		{"nested-attachments.eml", "[]multipart/mixed [1]multipart/related "
		 "[1.1]multipart/alternative [1.1.1]text/plain [1.1.2]text/html [1.2]image/gif "
		 "[2]application/octet-stream"},
		{"digest.eml", "[]multipart/digest [1]message/rfc822 [1]text/plain "
		 "[2]message/rfc822 [2]text/plain"},
		{"unterminated.eml",
		 "[]multipart/mixed [1]text/plain [2]application/octet-stream"},
		{"iso2022jp.eml", "[]multipart/mixed [1]text/plain [2]application/octet-stream"},
		{"no-header.eml", "[]text/plain"},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		size_t len;
		char *s = read_data(files[i].file, &len);
		struct sx_mail *m = parse_lim(s, len, NULL);
		if (strcmp(shape(m), files[i].shape) != 0)
			fail_msg("%s: %s", files[i].file, shape(m));
		struct sx_buf b;
		sx_buf_init(&b, 1024);
		if (strcmp(files[i].file, "mbox-from.eml") == 0) {
			assert_true(m->junk > 0);
			assert_true(m->bare_lf);
		} else if (strcmp(files[i].file, "forwarded-base64.eml") == 0) {
			assert_int_equal(m->parts[2].first_child, -1);
			assert_true(m->parts[2].bad_cte);
		} else if (strcmp(files[i].file, "unterminated.eml") == 0) {
			assert_true(m->parts[0].unterminated);
		} else if (strcmp(files[i].file, "no-header.eml") == 0) {
			assert_true(m->no_header);
		} else if (strcmp(files[i].file, "iso2022jp.eml") == 0) {
			struct sx_span v = value_of(m, 2, "Content-Disposition");
			assert_int_equal(sx_mail_param(m->buf + v.off, v.len, "filename", &b), 0);
			/* 請求書.zip */
			const char *want = "\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8.zip";
			assert_int_equal(sx_buf_used(&b), strlen(want));
			assert_memory_equal(sx_buf_head(&b), want, strlen(want));
			assert_string_equal(m->parts[1].charset, "iso-2022-jp");
		} else if (strcmp(files[i].file, "nested-attachments.eml") == 0) {
			int att = find(m, "2", "application/octet-stream");
			struct sx_span v = value_of(m, att, "Content-Disposition");
			assert_int_equal(sx_mail_param(m->buf + v.off, v.len, "filename", &b), 0);
			const char *want = "r\xc3\xa9sum\xc3\xa9 2024.doc";
			assert_int_equal(sx_buf_used(&b), strlen(want));
			assert_memory_equal(sx_buf_head(&b), want, strlen(want));
		}
		sx_buf_finish(&b);
		sx_mail_destroy(m);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_obsolete_syntax),
		cmocka_unit_test(test_8bit_header),
		cmocka_unit_test(test_junk_prefix),
		cmocka_unit_test(test_junk_edge),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_alternative),
		cmocka_unit_test(test_nested_mixed),
		cmocka_unit_test(test_message_rfc822),
		cmocka_unit_test(test_message_encoded),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_boundary_not_at_line_start),
		cmocka_unit_test(test_boundary_trailing_blanks),
		cmocka_unit_test(test_preamble_epilogue),
		cmocka_unit_test(test_boundary_prefix_nesting),
		cmocka_unit_test(test_boundary_usable),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_content_type_syntax),
		cmocka_unit_test(test_cte),
		cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_limit_size),
		cmocka_unit_test(test_limit_size_default),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_limit_headers),
		cmocka_unit_test(test_limit_header_len),
		cmocka_unit_test(test_field_iteration),
		cmocka_unit_test(test_unfold),
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_param_2231),
		cmocka_unit_test(test_data_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
