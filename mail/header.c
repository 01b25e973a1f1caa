/*
 * header.c: header fields. A block is split into fields by line; values are
 * only read through the tolerant grammar below (comments, quoted strings,
 * folding anywhere), and RFC 2231 parameters are put together here.
 */
#include "header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "codec.h"
#include "err.h"

static int is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* A byte of a field name (RFC 5322 ftext). */
static int is_ftext(uint8_t c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* A byte of an RFC 2045 token: printable ASCII except tspecials. */
static int is_token(uint8_t c)
{
	return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* Position after the line starting at p: past its LF, or end. */
static size_t line_end(const uint8_t *buf, size_t p, size_t end)
{
	const uint8_t *nl = memchr(buf + p, '\n', end - p);
	return nl ? (size_t)(nl - buf) + 1 : end;
}

/* Length of the field name p starts with, its colon at *colon; 0 if none. */
static size_t field_name(const uint8_t *p, size_t n, size_t *colon)
{
	size_t i = 0;
	while (i < n && is_ftext(p[i]))
		i++;
	size_t len = i;
	while (i < n && is_blank(p[i]))
		i++;
	if (len == 0 || i == n || p[i] != ':')
		return 0;
	*colon = i;
	return len;
}

int sx_header_is_field(const uint8_t *p, size_t n)
{
	size_t colon;
	return field_name(p, n, &colon) > 0;
}

void sx_header_iter_init(struct sx_header_iter *it, const uint8_t *buf, size_t start,
			 size_t end, size_t max_len)
{
	it->buf = buf;
	it->pos = start;
	it->end = end;
	it->max_len = max_len;
}

int sx_header_next(struct sx_header_iter *it, struct sx_hfield *f)
{
	const uint8_t *b = it->buf;
	size_t start = it->pos, end = it->end, colon;
	if (start >= end)
		return 0;
	size_t le = line_end(b, start, end);
	size_t n = le - start;
	/* The empty line; a lone CR at the very end counts as one too. */
	if ((n == 1 && b[start] == '\n') || (n == 1 && b[start] == '\r' && le == end) ||
	    (n == 2 && b[start] == '\r' && b[start + 1] == '\n')) {
		it->pos = le;
		return 0;
	}
	size_t nlen = field_name(b + start, n, &colon);
	if (nlen == 0)
		return 0;
	/* Continuation lines start with a blank (a blank-only line is obs-FWS). */
	size_t q = le;
	while (q < end && is_blank(b[q])) {
		if (q - start > it->max_len)
			return SX_ELIMIT;
		q = line_end(b, q, end);
	}
	if (q - start > it->max_len)
		return SX_ELIMIT;
	size_t vend = q;
	if (vend > start && b[vend - 1] == '\n') {
		vend--;
		if (vend > start + colon + 1 && b[vend - 1] == '\r')
			vend--;
	}
	size_t v = start + colon + 1;
	while (v < vend && (is_blank(b[v]) || b[v] == '\r' || b[v] == '\n'))
		v++;
	f->raw = (struct sx_span){start, q - start};
	f->name = (struct sx_span){start, nlen};
	f->value = (struct sx_span){v, vend - v};
	f->part = 0;
	it->pos = q;
	return 1;
}

/*
 * The structured-value grammar, lenient: positions in v[0 .. n), every
 * helper returns a position <= n and makes progress when it can.
 */

/* Skips blanks, line ends and (nested) comments. */
static size_t skip_cfws(const uint8_t *v, size_t n, size_t p)
{
	size_t depth = 0;
	while (p < n) {
		uint8_t c = v[p];
		if (depth > 0) {
			if (c == '\\') {
				p += 2;
				continue;
			}
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (!is_blank(c) && c != '\r' && c != '\n') {
			break;
		}
		p++;
	}
	return p < n ? p : n;
}

/* p at an opening quote: returns the position after the closing one (or n)
 * and in *cend where the content ends. */
static size_t skip_quoted(const uint8_t *v, size_t n, size_t p, size_t *cend)
{
	p++;
	while (p < n && v[p] != '"')
		p += v[p] == '\\' ? 2 : 1;
	if (p >= n) {
		*cend = n;
		return n;
	}
	*cend = p;
	return p + 1;
}

/* Moves to the next ';' outside quoted strings and comments, or n. */
static size_t skip_to_semi(const uint8_t *v, size_t n, size_t p)
{
	size_t cend;
	while (p < n && v[p] != ';') {
		if (v[p] == '"')
			p = skip_quoted(v, n, p, &cend);
		else if (v[p] == '(')
			p = skip_cfws(v, n, p);
		else
			p++;
	}
	return p;
}

static size_t token_len(const uint8_t *v, size_t n, size_t p)
{
	size_t s = p;
	while (p < n && is_token(v[p]))
		p++;
	return p - s;
}

static int copy_lower(const uint8_t *p, size_t len, char *out, size_t size)
{
	if (len >= size)
		return SX_EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	out[len] = '\0';
	return 0;
}

int sx_header_ctype(const uint8_t *v, size_t n, char type[SX_MIME_TOKEN],
		    char subtype[SX_MIME_TOKEN])
{
	size_t p = skip_cfws(v, n, 0);
	size_t tl = token_len(v, n, p), t = p;
	p = skip_cfws(v, n, p + tl);
	if (tl == 0 || p == n || v[p] != '/')
		return SX_EINVAL;
	p = skip_cfws(v, n, p + 1);
	size_t sl = token_len(v, n, p);
	if (sl == 0 || tl >= SX_MIME_TOKEN || sl >= SX_MIME_TOKEN)
		return SX_EINVAL;
	copy_lower(v + t, tl, type, SX_MIME_TOKEN);
	copy_lower(v + p, sl, subtype, SX_MIME_TOKEN);
	return 0;
}

int sx_header_token(const uint8_t *v, size_t n, char *out, size_t size)
{
	size_t p = skip_cfws(v, n, 0);
	return copy_lower(v + p, token_len(v, n, p), out, size);
}

const struct sx_hfield *sx_mail_field(const struct sx_mail *m, int part, const char *name,
				      unsigned *iter)
{
	if (!m || part < 0 || (unsigned)part >= m->nparts)
		return NULL;
	const struct sx_part *p = &m->parts[part];
	size_t len = strlen(name);
	for (unsigned i = *iter; i < p->hcount; i++) {
		const struct sx_hfield *f = &m->fields[p->hfirst + i];
		if (f->name.len == len &&
		    strncasecmp((const char *)m->buf + f->name.off, name, len) == 0) {
			*iter = i + 1;
			return f;
		}
	}
	*iter = p->hcount;
	return NULL;
}

int sx_mail_unfold(const struct sx_mail *m, const struct sx_hfield *f, struct sx_buf *out)
{
	const uint8_t *v = m->buf + f->value.off;
	size_t n = f->value.len, used = sx_buf_used(out), run = 0;
	int rc = 0;
	const uint8_t *nl;
	while (rc == 0 && run < n && (nl = memchr(v + run, '\n', n - run))) {
		size_t e = (size_t)(nl - v);
		size_t next = e + 1;
		if (e > run && v[e - 1] == '\r')
			e--;
		rc = sx_buf_append(out, v + run, e - run);
		run = next;
	}
	if (rc == 0)
		rc = sx_buf_append(out, v + run, n - run);
	if (rc < 0)
		out->len = out->off + used;
	return rc;
}

/* One parameter value: the quoted string's content or the bare token. */
struct pval {
	size_t off, len;
	unsigned set : 1;
	unsigned quoted : 1;
	unsigned ext : 1;    /* name* or name*N*: charset and percent-encoding */
};

/*
 * From p (at a ';' or n) reads the next "attribute = value". Returns 1 with
 * the attribute's span and the value, 0 at the end; *pp moves on. Pieces
 * that are not parameters are skipped up to the next ';'.
 */
static int next_param(const uint8_t *v, size_t n, size_t *pp, struct sx_span *attr,
		      struct pval *val)
{
	size_t p = *pp, cend;
	while (p < n) {
		p = skip_cfws(v, n, p + 1);
		size_t a = p;
		while (p < n && is_token(v[p]))
			p++;
		*attr = (struct sx_span){a, p - a};
		p = skip_cfws(v, n, p);
		if (attr->len == 0 || p == n || v[p] != '=') {
			p = skip_to_semi(v, n, p);
			continue;
		}
		p = skip_cfws(v, n, p + 1);
		memset(val, 0, sizeof *val);
		val->set = 1;
		if (p < n && v[p] == '"') {
			size_t q = skip_quoted(v, n, p, &cend);
			val->off = p + 1;
			val->len = cend - (p + 1);
			val->quoted = 1;
			p = q;
		} else {
			size_t s = p;
			while (p < n && v[p] != ';' && v[p] != '(')
				p++;
			size_t e = p;
			while (e > s && (is_blank(v[e - 1]) || v[e - 1] == '\r' ||
					 v[e - 1] == '\n'))
				e--;
			val->off = s;
			val->len = e - s;
		}
		*pp = skip_to_semi(v, n, p);
		return 1;
	}
	*pp = n;
	return 0;
}

/* Appends a value with quoting undone and folding line ends dropped. */
static int unquote(const uint8_t *v, const struct pval *pv, struct sx_buf *out)
{
	size_t i = pv->off, end = pv->off + pv->len, run = i;
	int rc = 0;
	while (rc == 0 && i < end) {
		uint8_t c = v[i];
		if (c != '\r' && c != '\n' && !(pv->quoted && c == '\\')) {
			i++;
			continue;
		}
		rc = sx_buf_append(out, v + run, i - run);
		if (rc == 0 && c == '\\' && i + 1 < end)
			rc = sx_buf_append(out, v + ++i, 1);
		run = ++i;
	}
	return rc ? rc : sx_buf_append(out, v + run, end - run);
}

/*
 * Puts sections sec[0 .. nsec) together into out: extended ones are
 * percent-decoded, the charset named by the first converts the whole (a
 * multi-byte character or an ISO-2022-JP escape may span sections).
 */
static int join(const uint8_t *v, size_t n, const struct pval *sec, size_t nsec,
		struct sx_buf *out)
{
	char cs[SX_MIME_TOKEN] = "";
	struct sx_buf raw, tmp;
	int rc = 0;
	sx_buf_init(&raw, n);
	sx_buf_init(&tmp, n);
	for (size_t i = 0; rc == 0 && i < nsec; i++) {
		if (!sec[i].set) {
			rc = SX_EINVAL;
			break;
		}
		sx_buf_reset(&tmp, n);
		rc = unquote(v, &sec[i], sec[i].ext ? &tmp : &raw);
		if (rc < 0 || !sec[i].ext)
			continue;
		size_t len = sx_buf_used(&tmp);
		if (len == 0) {
			rc = i == 0 ? SX_EINVAL : 0;   /* the first needs its quotes */
			continue;
		}
		const uint8_t *s = sx_buf_head(&tmp);
		if (i == 0) {
			const uint8_t *q1 = memchr(s, '\'', len), *q2 = NULL;
			if (q1)
				q2 = memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - s));
			if (!q2 || (size_t)(q1 - s) >= sizeof cs) {
				rc = SX_EINVAL;
				break;
			}
			memcpy(cs, s, (size_t)(q1 - s));
			cs[q1 - s] = '\0';
			len -= (size_t)(q2 + 1 - s);
			s = q2 + 1;
		}
		if (len > 0)
			rc = sx_pct_decode(s, len, &raw);
	}
	/* (an empty sx_buf has no head pointer to offer) */
	size_t rn = sx_buf_used(&raw);
	const uint8_t *r = rn ? sx_buf_head(&raw) : (const uint8_t *)"";
	if (rc == 0 && cs[0])
		rc = sx_charset_to_utf8(cs, r, rn, out, NULL);
	else if (rc == 0)
		rc = sx_buf_append(out, r, rn);
	sx_buf_finish(&raw);
	sx_buf_finish(&tmp);
	return rc;
}

/* How attribute a relates to name: 0 not at all, 1 name, 2 name*, 3 name*N,
 * 4 name*N*, -1 a malformed section number. */
static int match_attr(const uint8_t *a, size_t alen, const char *name, size_t nlen,
		      size_t *section)
{
	if (alen < nlen || strncasecmp((const char *)a, name, nlen) != 0)
		return 0;
	if (alen == nlen)
		return 1;
	if (a[nlen] != '*')
		return 0;
	a += nlen + 1;
	alen -= nlen + 1;
	if (alen == 0)
		return 2;
	int ext = a[alen - 1] == '*';
	size_t dl = alen - (size_t)ext, num = 0;
	for (size_t i = 0; i < dl; i++) {
		if (a[i] < '0' || a[i] > '9')
			return 0;
		num = num * 10 + (size_t)(a[i] - '0');
	}
	if (dl == 0)
		return 0;
	/* RFC 2231: no leading zeros; nine digits is more than any value holds. */
	if ((dl > 1 && a[0] == '0') || dl > 9)
		return -1;
	*section = num;
	return 3 + ext;
}

int sx_mail_param(const uint8_t *value, size_t len, const char *name, struct sx_buf *out)
{
	struct pval plain = {0}, star = {0}, pv, one[4] = {{0}}, *sec = one;
	struct sx_span attr;
	size_t nlen = strlen(name), nsec = 0, p, num, used = sx_buf_used(out);
	int bad = 0, rc;

	/* First pass: which forms are there, and how many sections. */
	p = skip_to_semi(value, len, 0);
	while (next_param(value, len, &p, &attr, &pv)) {
		int k = match_attr(value + attr.off, attr.len, name, nlen, &num);
		if (k == 1 && !plain.set)
			plain = pv;
		else if (k == 2 && !star.set)
			star = pv, star.ext = 1;
		else if (k >= 3 || k < 0)
			nsec++;
	}
	if (!plain.set && !star.set && nsec == 0)
		return SX_ENOTFOUND;

	/* Second pass: section N goes to sec[N]; contiguous from 0 or malformed. */
	if (nsec > sizeof one / sizeof one[0] && !(sec = calloc(nsec, sizeof *sec)))
		return SX_ENOMEM;
	p = skip_to_semi(value, len, 0);
	while (nsec > 0 && next_param(value, len, &p, &attr, &pv)) {
		int k = match_attr(value + attr.off, attr.len, name, nlen, &num);
		if (k < 0 || (k >= 3 && (num >= nsec || sec[num].set))) {
			bad = 1;
		} else if (k >= 3) {
			sec[num] = pv;
			sec[num].ext = k == 4;
		}
	}

	rc = SX_EINVAL;
	if (star.set)
		rc = join(value, len, &star, 1, out);
	if (rc == SX_EINVAL && nsec > 0 && !bad) {
		out->len = out->off + used;
		rc = join(value, len, sec, nsec, out);
	}
	if (rc == SX_EINVAL && plain.set) {
		out->len = out->off + used;
		rc = unquote(value, &plain, out);
	}
	if (rc < 0)
		out->len = out->off + used;
	if (sec != one)
		free(sec);
	return rc;
}
