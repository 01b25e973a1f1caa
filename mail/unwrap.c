/*
 * unwrap.c: the spam inside a forwarded report.
 *
 * An attached message is taken byte for byte (after its transfer encoding,
 * when the reporter's client encoded it). An inline forward only survives as
 * text: the quoted header block is rebuilt as header lines, with Japanese
 * labels turned into the field names they stand for, so that the result
 * parses as mail and its recipient fields yield identifiers.
 */
#include "unwrap.h"

#include <stdio.h>
#include <string.h>

#include "charset.h"
#include "codec.h"
#include "err.h"

/* Bound on the decoded text of the reporter's message while unwrapping. */
#define UNWRAP_TEXT_MAX (16u * 1024u * 1024u)
/* A header label longer than this is no label. */
#define UNWRAP_LABEL_MAX 76

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ci_eq(const uint8_t *p, size_t n, const char *s)
{
	size_t sn = strlen(s);
	if (n != sn)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(p[i]) != lower((unsigned char)s[i]))
			return 0;
	return 1;
}

static int ci_has(const uint8_t *p, size_t n, const char *s)
{
	size_t sn = strlen(s);
	for (size_t i = 0; sn <= n && i + sn <= n; i++)
		if (ci_eq(p + i, sn, s))
			return 1;
	return 0;
}

static int decode_cte(const struct sx_part *p, const uint8_t *in, size_t n, struct sx_buf *out)
{
	switch (p->cte) {
	case SX_CTE_BASE64:
		return sx_b64_decode(in, n, 0, out, NULL);
	case SX_CTE_QP:
		return sx_qp_decode(in, n, out, NULL);
	default:
		return sx_buf_append(out, in, n);
	}
}

static int attached(const struct sx_mail *m, const struct sx_part *p, struct sx_buf *spam)
{
	return decode_cte(p, m->buf + p->body.off, p->body.len, spam);
}

/* Converts bytes in charset cs (may be "") to UTF-8, guessing when needed. */
static int to_utf8(const char *cs, const uint8_t *in, size_t n, struct sx_buf *out)
{
	size_t bad = 0;
	if (cs && *cs && sx_charset_iconv_name(cs)) {
		int rc = sx_charset_to_utf8(cs, in, n, out, &bad);
		if (rc != SX_EINVAL)
			return rc;
	}
	if (sx_utf8_valid(in, n))
		return sx_buf_append(out, in, n);
	static const char *const guesses[] = { "iso-2022-jp", "cp932", "euc-jp" };
	for (size_t g = 0; g < 3; g++) {
		size_t used = sx_buf_used(out);
		if (g == 0 && !memchr(in, 0x1b, n))
			continue;
		bad = 0;
		int rc = sx_charset_to_utf8(guesses[g], in, n, out, &bad);
		if (rc == 0 && bad == 0)
			return 0;
		if (rc == SX_ETOOBIG || rc == SX_ENOMEM)
			return rc;
		out->len = out->off + used; /* drop the failed attempt */
	}
	return sx_charset_to_utf8("cp932", in, n, out, NULL);
}

/* Rough text of an HTML body: tags gone, block ends as line ends, references decoded. */
static int html_text(const uint8_t *in, size_t n, struct sx_buf *out)
{
	struct sx_buf t;
	int rc = 0;
	sx_buf_init(&t, UNWRAP_TEXT_MAX);
	for (size_t i = 0; i < n && rc == 0;) {
		if (in[i] != '<') {
			size_t j = i;
			while (j < n && in[j] != '<' && in[j] != '\r' && in[j] != '\n')
				j++;
			if (j == i) { /* source line ends are no text line ends */
				i++;
				continue;
			}
			rc = sx_buf_append(&t, in + i, j - i);
			i = j;
			continue;
		}
		size_t j = i;
		while (j < n && in[j] != '>')
			j++;
		const uint8_t *tag = in + i + 1;
		size_t tl = j - i - 1;
		if (tl > 0 && tag[0] == '/')
			tag++, tl--;
		size_t nl = 0;
		while (nl < tl && ((tag[nl] | 32) >= 'a' && (tag[nl] | 32) <= 'z'))
			nl++;
		if (ci_eq(tag, nl, "br") || ci_eq(tag, nl, "p") || ci_eq(tag, nl, "div") ||
		    ci_eq(tag, nl, "tr") || ci_eq(tag, nl, "blockquote") || ci_eq(tag, nl, "li"))
			rc = sx_buf_append(&t, "\n", 1);
		i = j < n ? j + 1 : n;
	}
	if (rc == 0)
		rc = sx_html_decode(sx_buf_head(&t), sx_buf_used(&t), out);
	sx_buf_finish(&t);
	return rc;
}

/* The decoded text of the reporter's first text part (plain preferred). */
static int outer_text(const struct sx_mail *m, struct sx_buf *text)
{
	const struct sx_part *plain = NULL, *html = NULL;
	for (unsigned i = 0; i < m->nparts; i++) {
		const struct sx_part *p = &m->parts[i];
		if (p->is_multipart || p->is_message || p->first_child >= 0)
			continue;
		if (strcmp(p->type, "text") != 0)
			continue;
		if (!plain && strcmp(p->subtype, "plain") == 0)
			plain = p;
		if (!html && strcmp(p->subtype, "html") == 0)
			html = p;
	}
	const struct sx_part *p = plain ? plain : html;
	if (!p)
		return 0;
	struct sx_buf raw, u;
	sx_buf_init(&raw, UNWRAP_TEXT_MAX);
	sx_buf_init(&u, UNWRAP_TEXT_MAX);
	int rc = decode_cte(p, m->buf + p->body.off, p->body.len, &raw);
	if (rc == 0)
		rc = to_utf8(p->charset, sx_buf_head(&raw), sx_buf_used(&raw),
			     p == plain ? text : &u);
	if (rc == 0 && p != plain)
		rc = html_text(sx_buf_head(&u), sx_buf_used(&u), text);
	sx_buf_finish(&raw);
	sx_buf_finish(&u);
	return rc == SX_ETOOBIG ? 0 : rc;
}

struct line {
	const uint8_t *p;
	size_t n;
};

/* Next line of text from *off (line end stripped); 0 at the end. */
static int next_line(const uint8_t *t, size_t n, size_t *off, struct line *l)
{
	if (*off >= n)
		return 0;
	const uint8_t *s = t + *off;
	const uint8_t *e = memchr(s, '\n', n - *off);
	size_t len = e ? (size_t)(e - s) : n - *off;
	*off += len + (e ? 1 : 0);
	if (len > 0 && s[len - 1] == '\r')
		len--;
	l->p = s;
	l->n = len;
	return 1;
}

static void trim(struct line *l)
{
	while (l->n > 0 && (l->p[0] == ' ' || l->p[0] == '\t'))
		l->p++, l->n--;
	while (l->n > 0 && (l->p[l->n - 1] == ' ' || l->p[l->n - 1] == '\t'))
		l->n--;
}

/* Length of the quote prefix ("> ", ">> ") of a line. */
static size_t quote_len(const struct line *l)
{
	size_t i = 0;
	while (i < l->n && (l->p[i] == '>' || (i > 0 && l->p[i] == ' ' && l->p[i - 1] == '>')))
		i++;
	return i;
}

static int is_marker(struct line l)
{
	static const char *const fixed[] = {
		"Begin forwarded message:", "Forwarded message:",
		"転送されたメッセージ:", "転送されたメッセージ：",
		"以下のメッセージを転送します:",
	};
	static const char *const words[] = {
		"forwarded message", "original message", "forward message", "転送",
		"元のメッセージ", "オリジナルメッセージ",
	};
	trim(&l);
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (ci_eq(l.p, l.n, fixed[i]))
			return 1;
	size_t a = 0, b = 0;
	while (a < l.n && l.p[a] == '-')
		a++;
	while (b < l.n - a && l.p[l.n - 1 - b] == '-')
		b++;
	if (a >= 2 && b >= 2) {
		for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
			if (ci_has(l.p + a, l.n - a - b, words[i]))
				return 1;
	}
	/* Outlook's rule line before "From:"/"差出人:". */
	size_t u = 0;
	while (u < l.n && l.p[u] == '_')
		u++;
	return u >= 10 && u == l.n;
}

struct label_map {
	const char *label;
	const char *field;
};

static const struct label_map jp_labels[] = {
	{ "差出人", "From" }, { "送信者", "From" }, { "宛先", "To" },
	{ "件名", "Subject" }, { "日付", "Date" }, { "送信日時", "Date" },
	{ "日時", "Date" }, { "送信日", "Date" },
	{ "返信先", "Reply-To" }, { "ＣＣ", "Cc" }, { "ＢＣＣ", "Bcc" },
	/* English labels clients write that are not field names */
	{ "Sent", "Date" }, { "CC", "Cc" }, { "BCC", "Bcc" },
};

/* The labels that make a block a forwarded header. */
static int is_core(const char *field)
{
	return strcmp(field, "From") == 0 || strcmp(field, "To") == 0 ||
	       strcmp(field, "Subject") == 0 || strcmp(field, "Date") == 0;
}

/*
 * Parses "Label: value" (ASCII or full-width colon). Sets the field name
 * (mapped, or the label itself when it is a field name) and the value.
 */
static int header_line(struct line l, char *field, size_t fmax, struct line *value)
{
	size_t i = 0, colon = 0;
	while (i < l.n && i <= UNWRAP_LABEL_MAX * 3) {
		if (l.p[i] == ':') {
			colon = 1;
			break;
		}
		if (i + 3 <= l.n && l.p[i] == 0xef && l.p[i + 1] == 0xbc && l.p[i + 2] == 0x9a) {
			colon = 3;
			break;
		}
		i++;
	}
	if (!colon || i == 0)
		return 0;
	struct line lab = { l.p, i };
	trim(&lab);
	if (lab.n == 0)
		return 0;
	value->p = l.p + i + colon;
	value->n = l.n - i - colon;
	trim(value);
	for (size_t k = 0; k < sizeof jp_labels / sizeof jp_labels[0]; k++) {
		if (ci_eq(lab.p, lab.n, jp_labels[k].label)) {
			snprintf(field, fmax, "%s", jp_labels[k].field);
			return 1;
		}
	}
	if (lab.n > UNWRAP_LABEL_MAX || lab.n + 1 > fmax)
		return 0;
	for (size_t k = 0; k < lab.n; k++)
		if (lab.p[k] <= ' ' || lab.p[k] >= 0x7f)
			return 0;
	memcpy(field, lab.p, lab.n);
	field[lab.n] = '\0';
	return 1;
}

/* Drops the quote prefix the marker line had ("> "), or as much of it as the
 * line has (a bare ">" is a quoted blank line). */
static void unquote(struct line *l, size_t qlen)
{
	size_t q = quote_len(l);
	if (q > qlen)
		q = qlen;
	l->p += q;
	l->n -= q;
}

static int is_blank(struct line l)
{
	trim(&l);
	return l.n == 0;
}

/* Appends the header block starting at *pos to hdr; returns 1 when it holds
 * a From, To, Subject or Date, 0 when not, or an error. */
static int header_block(const uint8_t *t, size_t n, size_t *pos, size_t qlen, struct sx_buf *hdr)
{
	char field[UNWRAP_LABEL_MAX + 1];
	int core = 0, ctype = 0, from = 0, nhdr = 0, rc = 0;
	struct line l;

	for (;;) {
		size_t o = *pos;
		if (!next_line(t, n, &o, &l))
			break;
		unquote(&l, qlen);
		if (is_blank(l)) {
			*pos = o;
			break;
		}
		struct line v, tl = l;
		trim(&tl);
		if ((l.p[0] == ' ' || l.p[0] == '\t') && nhdr > 0) {
			rc = sx_buf_append(hdr, "\r\n ", 3);
			if (rc == 0)
				rc = sx_buf_append(hdr, tl.p, tl.n);
		} else if (header_line(tl, field, sizeof field, &v)) {
			/* A second "from" label (送信者 beside 差出人) is the sender. */
			if (strcmp(field, "From") == 0 && from++)
				snprintf(field, sizeof field, "Sender");
			core |= is_core(field);
			ctype |= ci_eq((const uint8_t *)field, strlen(field), "Content-Type");
			if (nhdr++ > 0)
				rc = sx_buf_append(hdr, "\r\n", 2);
			if (rc == 0)
				rc = sx_buf_append(hdr, field, strlen(field));
			if (rc == 0)
				rc = sx_buf_append(hdr, ": ", 2);
			if (rc == 0)
				rc = sx_buf_append(hdr, v.p, v.n);
		} else {
			break;
		}
		if (rc < 0)
			return rc;
		*pos = o;
	}
	if (nhdr > 0)
		rc = sx_buf_append(hdr, "\r\n", 2);
	if (rc == 0 && core && !ctype)
		rc = sx_buf_append(hdr, "Content-Type: text/plain; charset=utf-8\r\n", 41);
	return rc < 0 ? rc : core;
}

/*
 * Tries an inline forward whose marker line ends at off. Returns 1 when the
 * lines after it held a header block (spam filled), 0 when not, or an error.
 */
static int inline_at(const uint8_t *t, size_t n, size_t off, size_t qlen, struct sx_buf *spam)
{
	struct sx_buf hdr;
	struct line l;
	size_t pos = off;
	int rc;

	/* Blank lines between the marker and the header block. */
	for (;;) {
		size_t o = pos;
		if (!next_line(t, n, &o, &l))
			return 0;
		unquote(&l, qlen);
		if (!is_blank(l))
			break;
		pos = o;
	}
	sx_buf_init(&hdr, spam->max);
	rc = header_block(t, n, &pos, qlen, &hdr);
	if (rc == 1) {
		rc = sx_buf_append(spam, sx_buf_head(&hdr), sx_buf_used(&hdr));
		if (rc == 0)
			rc = sx_buf_append(spam, "\r\n", 2);
		while (rc == 0 && next_line(t, n, &pos, &l)) {
			unquote(&l, qlen);
			rc = sx_buf_append(spam, l.p, l.n);
			if (rc == 0)
				rc = sx_buf_append(spam, "\r\n", 2);
		}
		rc = rc < 0 ? rc : 1;
	}
	sx_buf_finish(&hdr);
	return rc;
}

static int find_inline(const uint8_t *t, size_t n, struct sx_buf *spam)
{
	size_t off = 0;
	struct line l;
	while (next_line(t, n, &off, &l)) {
		size_t q = quote_len(&l);
		struct line body = { l.p + q, l.n - q };
		if (!is_marker(body))
			continue;
		int rc = inline_at(t, n, off, q, spam);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int headerless(const uint8_t *t, size_t n, struct sx_buf *spam)
{
	size_t off = 0;
	struct line l;
	int rc = sx_buf_append(spam, "\r\n", 2);
	while (rc == 0 && next_line(t, n, &off, &l)) {
		rc = sx_buf_append(spam, l.p, l.n);
		if (rc == 0)
			rc = sx_buf_append(spam, "\r\n", 2);
	}
	return rc;
}

int sx_unwrap(const struct sx_mail *outer, struct sx_buf *spam, enum sx_unwrap_how *how)
{
	for (unsigned i = 0; i < outer->nparts; i++) {
		const struct sx_part *p = &outer->parts[i];
		int msg = p->is_message || (strcmp(p->type, "message") == 0 &&
					    (strcmp(p->subtype, "rfc822") == 0 ||
					     strcmp(p->subtype, "global") == 0));
		if (!msg)
			continue;
		*how = SX_UNWRAP_ATTACHED;
		return attached(outer, p, spam);
	}

	struct sx_buf text;
	sx_buf_init(&text, UNWRAP_TEXT_MAX);
	int rc = outer_text(outer, &text);
	if (rc == 0) {
		rc = find_inline(sx_buf_head(&text), sx_buf_used(&text), spam);
		if (rc == 1) {
			*how = SX_UNWRAP_INLINE;
			rc = 0;
		} else if (rc == 0) {
			*how = SX_UNWRAP_NONE;
			rc = headerless(sx_buf_head(&text), sx_buf_used(&text), spam);
		}
	}
	sx_buf_finish(&text);
	return rc;
}
