#include "analyze_text.h"

#include <stdio.h>
#include <string.h>

#include "charset.h"
#include "codec.h"
#include "err.h"

/* One unfolded Subject field read; a longer one is not decoded. */
#define SX_ANALYZE_FIELD_MAX (64 * 1024)

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z');
}

/* Non-zero when s[0 .. n) is lit, ASCII case-insensitively. */
static int span_ieq(const uint8_t *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

/* Case-insensitive search for an ASCII needle; returns its offset or n. */
static size_t find_ci(const uint8_t *s, size_t n, size_t from, const char *needle)
{
	size_t l = strlen(needle);
	for (size_t i = from; i + l <= n; i++) {
		size_t k = 0;
		while (k < l && lower(s[i + k]) == lower((unsigned char)needle[k]))
			k++;
		if (k == l)
			return i;
	}
	return n;
}

/* sx_analyze_text_next, inlined in the per-character loops of this file. */
static inline uint32_t next_cp(const uint8_t *s, size_t n, size_t *i)
{
	uint8_t c = s[*i];
	if (c < 0x80) {
		(*i)++;
		return c;
	}
	unsigned len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	uint32_t cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0fu : c & 0x1fu;
	if (len == 0 || c > 0xf4 || *i + len > n)
		goto bad;
	for (unsigned k = 1; k < len; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			goto bad;
		cp = (cp << 6) | (s[*i + k] & 0x3fu);
	}
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	*i += len;
	return cp;
bad:
	(*i)++;
	return 0xfffd;
}

uint32_t sx_analyze_text_next(const uint8_t *s, size_t n, size_t *i)
{
	return next_cp(s, n, i);
}

/* Upper half of Latin-1 and the symbols Windows-1252 puts at 0x80-0x9f:
 * what Japanese text read in the wrong charset turns into. */
static int latin1_like(uint32_t c)
{
	return (c >= 0x80 && c <= 0xff) || (c >= 0x152 && c <= 0x192) || c == 0x2c6 ||
	       c == 0x2dc || (c >= 0x2013 && c <= 0x203a) || c == 0x20ac || c == 0x2122;
}

static int other_letter(uint32_t c)
{
	return (c >= 0xc0 && c <= 0x24f && c != 0xd7 && c != 0xf7) ||
	       (c >= 0x370 && c <= 0x58f) ||    /* Greek, Cyrillic, Armenian */
	       (c >= 0x590 && c <= 0x6ff) ||    /* Hebrew, Arabic */
	       (c >= 0x900 && c <= 0xe7f) ||    /* Indic, Thai */
	       (c >= 0x1100 && c <= 0x11ff) ||  /* Hangul jamo */
	       (c >= 0x1e00 && c <= 0x1fff) ||  /* Latin and Greek extended */
	       (c >= 0xac00 && c <= 0xd7af);    /* Hangul */
}

void sx_analyze_text_stats(struct sx_text_stats *st, const uint8_t *s, size_t n)
{
	size_t run = 0, run_c1 = 0;
	size_t i = 0;
	while (i <= n) {
		if (i < n && s[i] < 0x80) {
			/* ASCII, the bulk of most text, without decoding: it ends a
			 * Latin-1 run, and a NUL last ends the text as below. */
			uint8_t a = s[i++];
			st->mojibake += run >= 3 ? run : run_c1;
			run = run_c1 = 0;
			if ((a == 0 && i >= n) || a == ' ' || a == '\t' || a == '\r' || a == '\n')
				continue;
			st->chars++;
			st->latin += (a | 0x20) >= 'a' && (a | 0x20) <= 'z';
			continue;
		}
		uint32_t c = i < n ? next_cp(s, n, &i) : 0;
		int end = i >= n && c == 0;
		if (!end && latin1_like(c)) {
			run++;
			run_c1 += c < 0xa0;
		} else {
			/* A run of three or more is mojibake; a lone C1 control is too. */
			st->mojibake += run >= 3 ? run : run_c1;
			run = run_c1 = 0;
		}
		if (end)
			break;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x3000)
			continue;
		st->chars++;
		if (c < 0x80) {
			st->latin += (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
			continue;
		}
		st->nonascii++;
		if ((c >= 0x3041 && c <= 0x30ff) || (c >= 0x31f0 && c <= 0x31ff) ||
		    (c >= 0xff66 && c <= 0xff9f))
			st->kana++;
		else if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
			 (c >= 0xf900 && c <= 0xfaff))
			st->kanji++;
		else if (c == 0xfffd)
			st->replacement++;
		else if (c >= 0xe000 && c <= 0xf8ff)
			st->mojibake++;
		else if (other_letter(c))
			st->other_letters++;
	}
}

/* Tags that break a line: their text must not run into the next. */
static int block_tag(const uint8_t *name, size_t n)
{
	static const char *const tags[] = {
		"br", "p", "div", "tr", "td", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6",
		"hr", "blockquote",
	};
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		if (span_ieq(name, n, tags[i]))
			return 1;
	}
	return 0;
}

/* Appends the href value of the tag s[0 .. n) (no brackets) with blanks around. */
static int tag_href(const uint8_t *s, size_t n, struct sx_buf *out)
{
	size_t i = find_ci(s, n, 0, "href");
	if (i >= n)
		return 0;
	i += 4;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i >= n || s[i] != '=')
		return 0;
	i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	size_t st, e;
	if (i < n && (s[i] == '"' || s[i] == '\'')) {
		uint8_t q = s[i];
		st = ++i;
		while (i < n && s[i] != q)
			i++;
		e = i;
	} else {
		st = i;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			i++;
		e = i;
	}
	int rc = sx_buf_append(out, " ", 1);
	if (rc == 0)
		rc = sx_buf_append(out, s + st, e - st);
	if (rc == 0)
		rc = sx_buf_append(out, " ", 1);
	return rc;
}

/*
 * Reduces HTML to its text, crudely: tags go (a block tag becomes a line
 * end), comments, scripts and styles go with their content, and each link's
 * target is kept in place so URL tests see it. The output is never longer
 * than the input.
 */
static int html_strip(const uint8_t *s, size_t n, struct sx_buf *out)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc == 0) {
		if (s[i] != '<') {
			const uint8_t *lt = memchr(s + i, '<', n - i);
			size_t e = lt ? (size_t)(lt - s) : n;
			rc = sx_buf_append(out, s + i, e - i);
			i = e;
			continue;
		}
		if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
			size_t e = find_ci(s, n, i + 4, "-->");
			i = e < n ? e + 3 : n;
			continue;
		}
		/* The tag ends at the first '>' outside quotes. */
		size_t e = i + 1;
		uint8_t q = 0;
		while (e < n && (q || s[e] != '>')) {
			if (q && s[e] == q)
				q = 0;
			else if (!q && (s[e] == '"' || s[e] == '\''))
				q = s[e];
			e++;
		}
		const uint8_t *tag = s + i + 1;
		size_t tl = e - i - 1;
		size_t ns = tl > 0 && tag[0] == '/' ? 1 : 0;
		size_t nl = 0;
		while (ns + nl < tl && is_alnum(tag[ns + nl]))
			nl++;
		i = e < n ? e + 1 : n;
		int script = !ns && span_ieq(tag, nl, "script");
		if (script || (!ns && span_ieq(tag, nl, "style"))) {
			const char *close = script ? "</script" : "</style";
			size_t c = find_ci(s, n, i, close);
			size_t gt = c < n ? c : n;
			while (gt < n && s[gt] != '>')
				gt++;
			i = gt < n ? gt + 1 : n;
			continue;
		}
		if (block_tag(tag + ns, nl))
			rc = sx_buf_append(out, "\n", 1);
		if (rc == 0 && !ns)
			rc = tag_href(tag, tl, out);
	}
	return rc;
}

static int label_is(const char *label, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(label, names[i]) == 0)
			return 1;
	return 0;
}

static int label_ascii(const char *label)
{
	static const char *const n[] = { "", "us-ascii", "ascii", "ansi_x3.4-1968" };
	return label_is(label, n, sizeof n / sizeof n[0]);
}

static int label_utf8(const char *label)
{
	static const char *const n[] = { "utf-8", "utf8" };
	return label_is(label, n, sizeof n / sizeof n[0]);
}

/* Cuts n so that s[0 .. n) does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const uint8_t *s, size_t n)
{
	size_t back = 0;
	while (back < 3 && back < n && (s[n - 1 - back] & 0xc0) == 0x80)
		back++;
	if (back < n) {
		uint8_t lead = s[n - 1 - back];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (need > back + 1)
			return n - 1 - back;
	}
	return n;
}

static void mark_bad(struct sx_analyze_text *t, const struct sx_part *pt, const char *charset,
		     int cte)
{
	if (t->bad_part[0] || t->bad_charset[0] || t->bad_cte)
		return;
	memcpy(t->bad_part, pt->path, sizeof t->bad_part);
	if (charset)
		snprintf(t->bad_charset, sizeof t->bad_charset, "%s", charset);
	t->bad_cte = cte;
}

/* Keeps ASCII, turns every other byte into U+FFFD: text in a charset
 * nobody knows is garbled for its reader too. */
static int sanitize(const uint8_t *s, size_t n, struct sx_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] < 0x80)
			rc = sx_buf_append(out, s + i, 1);
		else
			rc = sx_buf_append(out, "\xef\xbf\xbd", 3);
	}
	return rc;
}

/* Decodes text leaf p into t->body. dec, utf and strip are scratch. */
static int collect_part(const struct sx_mail *m, const struct sx_part *pt,
			struct sx_analyze_text *t, struct sx_buf *dec, struct sx_buf *utf,
			struct sx_buf *strip)
{
	size_t used = sx_buf_used(&t->body);
	if (used + 16 >= SX_ANALYZE_TEXT_MAX) {
		t->truncated = 1;
		return 0;
	}
	size_t room = SX_ANALYZE_TEXT_MAX - used - 1; /* one byte for the separator */
	const uint8_t *in = m->buf + pt->body.off;
	size_t n = pt->body.len;
	const uint8_t *src = in;
	size_t sn = n;
	int rc = 0;
	sx_buf_reset(dec, SX_ANALYZE_TEXT_MAX);
	sx_buf_reset(utf, SX_ANALYZE_TEXT_MAX);
	sx_buf_reset(strip, SX_ANALYZE_TEXT_MAX);
	dec->max = utf->max = strip->max = room;

	/* Transfer encoding: never more input than can fit decoded. */
	if (pt->cte == SX_CTE_BASE64) {
		size_t in_n = n < room / 3 * 4 ? n : room / 3 * 4;
		t->truncated |= in_n < n;
		rc = sx_b64_decode(in, in_n, 0, dec, NULL);
		src = sx_buf_head(dec);
		sn = sx_buf_used(dec);
	} else if (pt->cte == SX_CTE_QP) {
		size_t in_n = n < room ? n : room;
		t->truncated |= in_n < n;
		rc = sx_qp_decode(in, in_n, dec, NULL);
		src = sx_buf_head(dec);
		sn = sx_buf_used(dec);
	} else if (pt->cte == SX_CTE_OTHER) {
		mark_bad(t, pt, NULL, 1);
		return 0;
	}
	if (rc == SX_ENOMEM)
		return rc;
	if (rc < 0) {
		t->truncated = 1;
		return 0;
	}
	t->text_parts++;
	if (sn == 0)
		return 0;

	/* Character set: UTF-8 as it is, known charsets through iconv, an
	 * unlabelled 8-bit or ISO-2022-JP body guessed the Japanese way. */
	const char *label = pt->charset;
	const char *conv = NULL;
	int unknown = 0;
	int has_esc = memchr(src, 0x1b, sn) != NULL;
	if (label_ascii(label) || label_utf8(label)) {
		if (label_ascii(label) && has_esc)
			conv = "iso-2022-jp";
		else if (!sx_utf8_valid(src, sn))
			conv = label_utf8(label) ? "utf-8" : "shift_jis";
	} else if (!sx_charset_iconv_name(label)) {
		unknown = 1;
	} else {
		conv = label;
	}
	const uint8_t *text = src;
	size_t tn = sn;
	if (conv) {
		/* UTF-8 takes at most three bytes per input byte. */
		size_t in_n = sn < room / 3 ? sn : room / 3;
		t->truncated |= in_n < sn;
		rc = sx_charset_to_utf8(conv, src, in_n, utf, NULL);
		if (rc == SX_EINVAL) {
			unknown = 1;
			sx_buf_reset(utf, SX_ANALYZE_TEXT_MAX);
		} else if (rc < 0) {
			return rc == SX_ENOMEM ? rc : 0;
		}
	}
	if (unknown) {
		mark_bad(t, pt, label, 0);
		size_t in_n = sn < room / 3 ? sn : room / 3;
		if ((rc = sanitize(src, in_n, utf)) < 0)
			return rc == SX_ENOMEM ? rc : 0;
	}
	if (conv || unknown) {
		text = sx_buf_head(utf);
		tn = sx_buf_used(utf);
	}
	if (tn > room) {
		t->truncated = 1;
		tn = utf8_cut(text, room);
	}

	if (strcmp(pt->subtype, "html") == 0) {
		if ((rc = html_strip(text, tn, strip)) == 0)
			rc = sx_html_decode(sx_buf_head(strip), sx_buf_used(strip), &t->body);
	} else {
		rc = sx_buf_append(&t->body, text, tn);
	}
	if (rc == 0)
		rc = sx_buf_append(&t->body, "\n", 1);
	if (rc == SX_ENOMEM)
		return rc;
	if (rc < 0)
		t->truncated = 1;
	return 0;
}

static int collect_subject(const struct sx_mail *m, struct sx_analyze_text *t,
			   const char *fallback, struct sx_buf *raw)
{
	unsigned iter = 0;
	const struct sx_hfield *f = sx_mail_field(m, 0, "Subject", &iter);
	if (!f)
		return 0;
	sx_buf_reset(raw, SX_ANALYZE_TEXT_MAX);
	raw->max = SX_ANALYZE_FIELD_MAX;
	int rc = sx_mail_unfold(m, f, raw);
	if (rc < 0)
		return rc == SX_ENOMEM ? rc : 0;
	const uint8_t *s = sx_buf_head(raw);
	size_t n = sx_buf_used(raw);
	if (n > SX_ANALYZE_SUBJECT_RAW_MAX)
		n = SX_ANALYZE_SUBJECT_RAW_MAX;
	/* Raw ISO-2022-JP (no encoded-words) is 7-bit and would pass as ASCII. */
	if (memchr(s, 0x1b, n) && find_ci(s, n, 0, "=?") == n)
		rc = sx_charset_to_utf8("iso-2022-jp", s, n, &t->subject, NULL);
	else
		rc = sx_2047_decode(s, n, fallback, &t->subject, NULL);
	return rc == SX_ENOMEM ? rc : 0;
}

int sx_analyze_text_collect(const struct sx_mail *m, struct sx_analyze_text *t)
{
	memset(t, 0, sizeof *t);
	sx_buf_init(&t->subject, SX_ANALYZE_SUBJECT_MAX);
	sx_buf_init(&t->body, SX_ANALYZE_TEXT_MAX);
	struct sx_buf dec, utf, strip;
	sx_buf_init(&dec, SX_ANALYZE_TEXT_MAX);
	sx_buf_init(&utf, SX_ANALYZE_TEXT_MAX);
	sx_buf_init(&strip, SX_ANALYZE_TEXT_MAX);

	/* An 8-bit subject is most likely in the charset of the text. */
	const char *fallback = "shift_jis";
	for (unsigned p = 0; p < m->nparts; p++) {
		const struct sx_part *pt = &m->parts[p];
		if (!pt->is_multipart && !pt->is_message && strcmp(pt->type, "text") == 0 &&
		    pt->charset[0] && !label_ascii(pt->charset) &&
		    sx_charset_iconv_name(pt->charset)) {
			fallback = pt->charset;
			break;
		}
	}
	int rc = collect_subject(m, t, fallback, &dec);
	for (unsigned p = 0; rc == 0 && p < m->nparts; p++) {
		const struct sx_part *pt = &m->parts[p];
		if (pt->is_multipart || pt->is_message || strcmp(pt->type, "text") != 0)
			continue;
		rc = collect_part(m, pt, t, &dec, &utf, &strip);
	}
	sx_buf_finish(&dec);
	sx_buf_finish(&utf);
	sx_buf_finish(&strip);
	return rc;
}

void sx_analyze_text_finish(struct sx_analyze_text *t)
{
	sx_buf_finish(&t->subject);
	sx_buf_finish(&t->body);
}
