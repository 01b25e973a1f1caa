/*
 * ident_addr.c: RFC 5322 address lists, parsed the way lenient readers
 * parse them, not the way the RFC wishes they were written: a field that
 * fails the grammar still yields every address-looking word in it, because
 * missing an identifier is the one failure collection may not have. Groups,
 * quoted and encoded display names (RFC 2047, raw UTF-8, Shift_JIS, EUC-JP,
 * raw ISO-2022-JP), comments (the one after a bare address is its old-style
 * name), angle addresses with obsolete routes, bare addresses.
 */
#include "ident_addr.h"

#include <string.h>
#include <strings.h>

#include "buf.h"
#include "charset.h"
#include "codec.h"
#include "err.h"

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_special(uint8_t c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == ':' || c == ';' ||
	       c == ',' || c == '"' || c == '\\';
}

/* One word of a mailbox: adjacent tokens with no blank or comment between. */
struct word {
	uint8_t text[SX_IDENT_LEN_MAX + 1];
	size_t n;
	int has_at;
	int overflow;
};

struct mailbox {
	struct word words[16];
	size_t nwords;
	int joined;                   /* next token continues the current word */
	uint8_t comment[SX_IDENT_LEN_MAX + 1];
	size_t ncomment;
	uint8_t angle[SX_IDENT_LEN_MAX + 1];
	size_t nangle;
	int has_angle;
	int angle_overflow;
};

static void word_put(struct mailbox *mb, const uint8_t *p, size_t n, int at)
{
	if (!mb->joined || mb->nwords == 0) {
		if (mb->nwords == sizeof mb->words / sizeof mb->words[0])
			return;
		struct word *w = &mb->words[mb->nwords++];
		w->n = 0;
		w->has_at = 0;
		w->overflow = 0;
	}
	struct word *w = &mb->words[mb->nwords - 1];
	if (w->n + n > SX_IDENT_LEN_MAX) {
		w->overflow = 1;
	} else {
		memcpy(w->text + w->n, p, n);
		w->n += n;
	}
	if (at)
		w->has_at = 1;
	mb->joined = 1;
}

/* Skips a comment starting at v[i] == '('; appends its text to out (may be NULL). */
static size_t skip_comment(const uint8_t *v, size_t n, size_t i, uint8_t *out, size_t *on)
{
	int depth = 0;
	for (; i < n; i++) {
		uint8_t c = v[i];
		if (c == '\\' && i + 1 < n) {
			i++;
			c = v[i];
		} else if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return i + 1;
		}
		if (out && *on < SX_IDENT_LEN_MAX)
			out[(*on)++] = c;
	}
	return n;
}

/* Decodes a display name or comment to UTF-8 into dst (NUL-terminated). */
static size_t decode_name(const uint8_t *p, size_t n, const char *cs, char *dst, size_t dmax)
{
	struct sx_buf b;
	size_t out = 0;
	int has_esc = memchr(p, 0x1b, n) != NULL;
	int has_ew = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '=' && p[i + 1] == '?')
			has_ew = 1;

	sx_buf_init(&b, IDENT_VALUE_MAX);
	int rc = -1;
	if (has_esc && !has_ew) {
		rc = sx_charset_to_utf8("iso-2022-jp", p, n, &b, NULL);
	} else if (!has_ew && !sx_utf8_valid(p, n)) {
		/* Raw 8-bit text: the part's charset, then the Japanese guesses. */
		/* us-ascii reads every byte (as windows-1252): no guess at all */
		int useful = cs && *cs && strcasecmp(cs, "us-ascii") != 0 &&
			     strcasecmp(cs, "ascii") != 0 && sx_charset_iconv_name(cs);
		const char *tries[] = { useful ? cs : "cp932", "cp932", "euc-jp" };
		for (size_t t = 0; t < 3 && rc != 0; t++) {
			size_t bad = 0;
			sx_buf_reset(&b, 0);
			rc = sx_charset_to_utf8(tries[t], p, n, &b, &bad);
			if (rc == 0 && bad > 0)
				rc = -1;
		}
	}
	if (rc != 0) {
		sx_buf_reset(&b, 0);
		rc = sx_2047_decode(p, n, cs && *cs ? cs : NULL, &b, NULL);
	}
	if (rc == 0) {
		out = sx_buf_used(&b);
		if (out >= dmax)
			out = 0; /* too long to be one identifier: put would refuse it */
		memcpy(dst, sx_buf_head(&b), out);
	}
	dst[out] = '\0';
	sx_buf_finish(&b);
	return out;
}

static int add_name(struct sx_idset *s, const uint8_t *p, size_t n, const char *cs)
{
	char name[SX_IDENT_LEN_MAX * 4 + 1];
	size_t len = decode_name(p, n, cs, name, sizeof name);
	if (len == 0)
		return 0;
	/* A "name" that is an address ("a@b.example" <a@b.example>) is one. */
	enum sx_ident_kind k = SX_ID_NAME;
	if (memchr(name, '@', len) && !memchr(name, ' ', len))
		k = SX_ID_ADDRESS;
	int rc = sx_idset_add(s, k, name, len);
	return rc == SX_EINVAL ? 0 : rc;
}

int sx_ident_add_addr(struct sx_idset *s, const uint8_t *p, size_t n)
{
	/* An obsolete route "@a,@b:" before the address goes. */
	if (n > 0 && p[0] == '@') {
		const uint8_t *c = memchr(p, ':', n);
		if (!c)
			return 0;
		n -= (size_t)(c + 1 - p);
		p = c + 1;
	}
	int rc;
	if (memchr(p, '@', n))
		rc = sx_idset_add(s, SX_ID_ADDRESS, (const char *)p, n);
	else
		rc = sx_idset_add(s, SX_ID_LOCALPART, (const char *)p, n);
	return rc == SX_EINVAL ? 0 : rc;
}

/* Adds what one mailbox holds: its address and the words beside it as a name. */
static int mailbox_done(struct sx_idset *s, struct mailbox *mb, const char *cs)
{
	uint8_t name[SX_IDENT_LEN_MAX + 1];
	size_t nn = 0;
	int rc = 0, any_addr = mb->has_angle;

	if (mb->has_angle && mb->nangle > 0 && !mb->angle_overflow)
		rc = sx_ident_add_addr(s, mb->angle, mb->nangle);
	for (size_t i = 0; i < mb->nwords && rc == 0; i++) {
		struct word *w = &mb->words[i];
		if (w->has_at && !mb->has_angle) {
			any_addr = 1;
			if (!w->overflow)
				rc = sx_ident_add_addr(s, w->text, w->n);
		} else if (!w->overflow && nn + w->n + 1 <= SX_IDENT_LEN_MAX) {
			if (nn)
				name[nn++] = ' ';
			memcpy(name + nn, w->text, w->n);
			nn += w->n;
		}
	}
	/* Words beside no address are no one's name ("undisclosed recipients"). */
	if (rc == 0 && any_addr && nn > 0)
		rc = add_name(s, name, nn, cs);
	/* The old form "addr (Full Name)". */
	if (rc == 0 && any_addr && mb->ncomment > 0)
		rc = add_name(s, mb->comment, mb->ncomment, cs);
	memset(mb, 0, sizeof *mb);
	return rc;
}

/* Copies a quoted local part "..." (quotes kept) into the angle address. */
static size_t angle_quoted(struct mailbox *mb, const uint8_t *v, size_t n, size_t j)
{
	size_t k = j + 1;
	while (k < n && v[k] != '"')
		k += (v[k] == '\\' && k + 1 < n) ? 2 : 1;
	k = k < n ? k + 1 : n;
	if (mb->nangle + (k - j) <= SX_IDENT_LEN_MAX) {
		memcpy(mb->angle + mb->nangle, v + j, k - j);
		mb->nangle += k - j;
	} else {
		mb->angle_overflow = 1;
	}
	return k;
}

/* Reads "<...>" starting at v[i] == '<'; returns the index after it. */
static size_t parse_angle(struct mailbox *mb, const uint8_t *v, size_t n, size_t i)
{
	size_t j = i + 1;
	mb->has_angle = 1;
	mb->nangle = 0;
	while (j < n && v[j] != '>') {
		if (v[j] == '(') {
			j = skip_comment(v, n, j, NULL, NULL);
		} else if (v[j] == '"') {
			j = angle_quoted(mb, v, n, j);
		} else {
			if (!is_ws(v[j])) {
				if (mb->nangle < SX_IDENT_LEN_MAX)
					mb->angle[mb->nangle++] = v[j];
				else
					mb->angle_overflow = 1;
			}
			j++;
		}
	}
	return j < n ? j + 1 : n;
}

/* Reads a quoted string starting at v[i] == '"' as one word. */
static size_t parse_quoted(struct mailbox *mb, const uint8_t *v, size_t n, size_t i)
{
	uint8_t q[SX_IDENT_LEN_MAX];
	size_t qn = 0, j = i + 1;
	while (j < n && v[j] != '"') {
		if (v[j] == '\\' && j + 1 < n)
			j++;
		if (qn < sizeof q)
			q[qn++] = v[j];
		j++;
	}
	if (!mb->has_angle)
		word_put(mb, q, qn, 0);
	return j < n ? j + 1 : n;
}

/* Raw ISO-2022-JP from the escape at v[i] to past its return to ASCII: its
 * two-byte codes are any printable ASCII, specials included. */
static size_t jis_end(const uint8_t *v, size_t n, size_t i)
{
	for (size_t j = i + 3; j + 2 < n; j++)
		if (v[j] == 0x1b && v[j + 1] == '(')
			return j + 3;
	return n;
}

int sx_ident_addresses(struct sx_idset *s, const uint8_t *v, size_t n, const char *cs)
{
	struct mailbox mb;
	size_t i = 0;

	memset(&mb, 0, sizeof mb);
	while (i < n) {
		uint8_t c = v[i];
		if (is_ws(c)) {
			mb.joined = 0;
			i++;
		} else if (c == '(') {
			/* Only a comment after the address is the old-style name;
			 * one before it is a remark ("(hidden) a@b (Taro)"). */
			int after = mb.has_angle;
			for (size_t k = 0; k < mb.nwords; k++)
				after |= mb.words[k].has_at;
			if (after && mb.ncomment == 0)
				i = skip_comment(v, n, i, mb.comment, &mb.ncomment);
			else
				i = skip_comment(v, n, i, NULL, NULL);
			mb.joined = 0;
		} else if (c == ',' || c == ';') {
			int rc = mailbox_done(s, &mb, cs);
			if (rc < 0)
				return rc;
			i++;
		} else if (c == ':' && !mb.has_angle) {
			/* A group's name is no one's name; its members follow. */
			memset(&mb, 0, sizeof mb);
			i++;
		} else if (c == '<') {
			i = parse_angle(&mb, v, n, i);
			mb.joined = 0;
		} else if (c == '"') {
			i = parse_quoted(&mb, v, n, i);
		} else {
			size_t j = i;
			int at = 0;
			while (j < n && !is_ws(v[j]) && !is_special(v[j])) {
				if (v[j] == '@')
					at = 1;
				j = v[j] == 0x1b ? jis_end(v, n, j) : j + 1;
			}
			if (j == i)
				j = i + 1; /* a stray '>', ')' or '\\' */
			else if (!mb.has_angle)
				word_put(&mb, v + i, j - i, at);
			i = j;
		}
	}
	return mailbox_done(s, &mb, cs);
}
