/*
 * ident.c: the identifier set and its collection from the reporter's message
 * and the spam's recipient fields (the address grammar is ident_addr.c).
 */
#include "ident.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "ident_addr.h"
#include "redact.h"

static const char *const kind_names[] = { "address", "local-part", "name" };

const char *sx_ident_kind_name(enum sx_ident_kind k)
{
	if ((unsigned)k >= sizeof kind_names / sizeof kind_names[0])
		return "unknown";
	return kind_names[k];
}

void sx_idset_init(struct sx_idset *s)
{
	s->n = 0;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Length of a blank at p (space, tab, line end, U+3000), 0 when none. */
static size_t blank_len(const uint8_t *p, size_t n)
{
	if (n >= 1 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\r' || p[0] == '\n'))
		return 1;
	if (n >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

/* Length of a blank ending at p + n, 0 when none. */
static size_t blank_len_back(const uint8_t *p, size_t n)
{
	if (n >= 1 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
		       p[n - 1] == '\n'))
		return 1;
	if (n >= 3 && p[n - 3] == 0xe3 && p[n - 2] == 0x80 && p[n - 1] == 0x80)
		return 3;
	return 0;
}

static int is_quote(uint8_t c)
{
	return c == '"' || c == '\'';
}

/* Case-insensitive (ASCII) search of needle in hay. */
static int contains_ci(const char *hay, const uint8_t *needle, size_t n)
{
	size_t h = strlen(hay);
	for (size_t i = 0; n <= h && i + n <= h; i++) {
		size_t k = 0;
		while (k < n && lower((unsigned char)hay[i + k]) == lower(needle[k]))
			k++;
		if (k == n)
			return 1;
	}
	return 0;
}

static int same_ci(const struct sx_ident *id, const uint8_t *t, size_t n)
{
	if (id->len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)id->text[i]) != lower(t[i]))
			return 0;
	return 1;
}

/* Stores one trimmed identifier; no variants. */
static int put(struct sx_idset *s, enum sx_ident_kind kind, const uint8_t *t, size_t n)
{
	if (n == 0 || n > SX_IDENT_LEN_MAX)
		return SX_EINVAL;
	/*
	 * Text the redactor itself writes is not an identifier: searching for
	 * it would find every replacement again and quarantine every report.
	 * Short identifiers match whole words only, and every word of the
	 * placeholders is longer, so "Ted" or "Ali" is kept and searched.
	 */
	if (n >= SX_IDENT_SHORT &&
	    (contains_ci(SX_REDACTED_ADDRESS, t, n) || contains_ci(SX_REDACTED_TEXT, t, n)))
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (same_ci(&s->v[i], t, n))
			return 0;
	if (s->n >= SX_IDENTS_MAX)
		return SX_ELIMIT;
	struct sx_ident *id = &s->v[s->n++];
	id->kind = kind;
	for (size_t i = 0; i < n; i++)
		id->text[i] = (char)(kind == SX_ID_NAME ? t[i] : lower(t[i]));
	id->text[n] = '\0';
	id->len = n;
	return 0;
}

int sx_idset_add(struct sx_idset *s, enum sx_ident_kind kind, const char *text, size_t len)
{
	const uint8_t *t = (const uint8_t *)text;
	size_t b;

	/* Trim blanks and quotes, in any order, from both ends. */
	for (;;) {
		if (len > 0 && is_quote(t[0])) {
			t++, len--;
		} else if ((b = blank_len(t, len)) > 0) {
			t += b, len -= b;
		} else {
			break;
		}
	}
	for (;;) {
		if (len > 0 && is_quote(t[len - 1]))
			len--;
		else if ((b = blank_len_back(t, len)) > 0)
			len -= b;
		else
			break;
	}
	if (len == 0 || len > SX_IDENT_LEN_MAX)
		return SX_EINVAL;

	if (kind == SX_ID_ADDRESS) {
		const uint8_t *at = NULL;
		for (size_t i = 0; i < len; i++)
			if (t[i] == '@')
				at = t + i;
		if (!at || at == t || at == t + len - 1)
			return SX_EINVAL;
		int rc = put(s, SX_ID_ADDRESS, t, len);
		if (rc < 0)
			return rc;
		/* The local part, without the quotes a quoted local part carries. */
		size_t ln = (size_t)(at - t);
		const uint8_t *lp = t;
		if (ln >= 2 && lp[0] == '"' && lp[ln - 1] == '"')
			lp++, ln -= 2;
		if (ln == 0)
			return 0;
		rc = put(s, SX_ID_LOCALPART, lp, ln);
		return rc == SX_EINVAL ? 0 : rc;
	}

	int rc = put(s, kind, t, len);
	if (rc < 0 || kind != SX_ID_NAME)
		return rc;

	/* Japanese names are written with and without the blank. */
	uint8_t tight[SX_IDENT_LEN_MAX];
	size_t tn = 0;
	for (size_t i = 0; i < len;) {
		b = blank_len(t + i, len - i);
		if (b > 0) {
			i += b;
		} else {
			tight[tn++] = t[i++];
		}
	}
	if (tn == len || tn == 0)
		return 0;
	rc = put(s, SX_ID_NAME, tight, tn);
	return rc == SX_EINVAL ? 0 : rc;
}

int sx_idset_add_given(struct sx_idset *s, const char *text)
{
	size_t n = strlen(text);
	return sx_idset_add(s, memchr(text, '@', n) ? SX_ID_ADDRESS : SX_ID_NAME, text, n);
}

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int collect_field(struct sx_idset *s, const struct sx_mail *m, const struct sx_hfield *f,
			 int received)
{
	struct sx_buf u;
	int rc;
	const char *cs = m->parts[f->part].charset;

	sx_buf_init(&u, IDENT_VALUE_MAX);
	rc = sx_mail_unfold(m, f, &u);
	if (rc < 0) {
		sx_buf_finish(&u);
		/* A field too long to unfold is searched raw by the redactor; its
		 * addresses are still found in the other fields or given. */
		return rc == SX_ETOOBIG ? 0 : rc;
	}
	const uint8_t *v = sx_buf_head(&u);
	size_t n = sx_buf_used(&u);
	if (!received) {
		rc = sx_ident_addresses(s, v, n, cs);
		sx_buf_finish(&u);
		return rc;
	}
	/* Received: "for <addr>" and "for addr;" anywhere, comments included. */
	rc = 0;
	for (size_t i = 0; i + 3 < n && rc == 0; i++) {
		if (lower(v[i]) != 'f' || lower(v[i + 1]) != 'o' || lower(v[i + 2]) != 'r')
			continue;
		if (i > 0 && !is_ws(v[i - 1]) && v[i - 1] != '(' && v[i - 1] != ';')
			continue;
		size_t j = i + 3;
		if (j >= n || !is_ws(v[j]))
			continue;
		while (j < n && is_ws(v[j]))
			j++;
		int angle = j < n && v[j] == '<';
		if (angle)
			j++;
		size_t k = j;
		while (k < n && !is_ws(v[k]) && v[k] != '>' && v[k] != ';' && v[k] != ')' &&
		       v[k] != '(' && v[k] != ',')
			k++;
		if (k == j)
			continue;
		int has_at = memchr(v + j, '@', k - j) != NULL;
		/* "for <taro>" is a local delivery; "for multiple recipients" is not. */
		if (has_at || (angle && k < n && v[k] == '>'))
			rc = sx_ident_add_addr(s, v + j, k - j);
		i = k;
	}
	sx_buf_finish(&u);
	return rc;
}

static int collect_names(struct sx_idset *s, const struct sx_mail *m, const char *const *names,
			 size_t count, int received)
{
	if (!m || m->nparts == 0)
		return 0;
	for (size_t k = 0; k < count; k++) {
		unsigned it = 0;
		const struct sx_hfield *f;
		while ((f = sx_mail_field(m, 0, names[k], &it)) != NULL) {
			int rc = collect_field(s, m, f, received);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Every field that names a recipient of the spam. */
static const char *const spam_fields[] = {
	"To", "Cc", "Bcc", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
	"X-Apparently-To", "Apparently-To", "X-Rcpt-To", "X-Delivered-To", "X-Original-Recipient",
	"X-Forwarded-To", "Resent-From", "Resent-To", "Resent-Cc", "Resent-Bcc",
	"Resent-Sender", "Resent-Reply-To",
};
/* The reporter's own addresses in the forwarding message. */
static const char *const outer_fields[] = {
	"From", "Sender", "Reply-To", "Return-Path",
};
static const char *const received_field[] = { "Received" };

int sx_ident_collect(const struct sx_mail *outer, const struct sx_mail *spam, struct sx_idset *out)
{
	int rc = collect_names(out, outer, outer_fields,
			       sizeof outer_fields / sizeof outer_fields[0], 0);
	if (rc == 0)
		rc = collect_names(out, spam, spam_fields,
				   sizeof spam_fields / sizeof spam_fields[0], 0);
	if (rc == 0)
		rc = collect_names(out, spam, received_field, 1, 1);
	return rc;
}
