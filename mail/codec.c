/*
 * codec.c: base64, quoted-printable, RFC 2047 encoded-words, percent escapes
 * and HTML character references.
 *
 * The decoders serve redaction and its leak check, so they decode whatever a
 * mail reader would show, not only what the RFCs allow: encoded-words in the
 * middle of text, spaces inside their encoded text, adjacent words split in
 * the middle of a character, raw ISO-2022-JP in a header, numeric references
 * without their semicolon. What they had to guess at is counted in *bad.
 *
 * Every function appends to out and, on any error, leaves out holding what it
 * held before the call (its storage may have grown).
 */
#include "codec.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "err.h"
#include "v16.h"

/* RFC 2045 6.7 (5): encoded lines are at most 76 characters. */
#define QP_LINE_MAX 76
/* RFC 2047 2: an encoded-word is at most 75 characters. */
#define EW_MAX 75
/* Longest charset name (with its *lang) an encoded-word may carry. */
#define EW_CHARSET_MAX 64
/* Between the encoded-words sx_2047_encode writes. */
#define EW_FOLD "\r\n "
/* Longest name of an HTML character reference we know. */
#define HTML_NAME_MAX 32

static const char hexdig[] = "0123456789ABCDEF";

/* ---- staged output ---- */

/* Output staged in small blocks, and undone as a whole when anything fails. */
struct sink {
	struct sx_buf *b;
	size_t used0; /* what b held before the call */
	size_t n;     /* staged bytes */
	int rc;
	uint8_t tmp[512];
};

static void sink_open(struct sink *s, struct sx_buf *b)
{
	s->b = b;
	s->used0 = sx_buf_used(b);
	s->n = 0;
	s->rc = 0;
}

static void sink_flush(struct sink *s)
{
	if (s->rc == 0 && s->n)
		s->rc = sx_buf_append(s->b, s->tmp, s->n);
	s->n = 0;
}

static void sink_byte(struct sink *s, uint8_t c)
{
	if (s->n == sizeof s->tmp)
		sink_flush(s);
	s->tmp[s->n++] = c;
}

static void sink_put(struct sink *s, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n > 0) {
		if (s->n == sizeof s->tmp)
			sink_flush(s);
		size_t k = sizeof s->tmp - s->n < n ? sizeof s->tmp - s->n : n;
		memcpy(s->tmp + s->n, q, k);
		s->n += k;
		q += k;
		n -= k;
	}
}

static void sink_cp(struct sink *s, uint32_t cp)
{
	if (cp < 0x80) {
		sink_byte(s, (uint8_t)cp);
	} else if (cp < 0x800) {
		sink_byte(s, (uint8_t)(0xC0 | cp >> 6));
		sink_byte(s, (uint8_t)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		sink_byte(s, (uint8_t)(0xE0 | cp >> 12));
		sink_byte(s, (uint8_t)(0x80 | (cp >> 6 & 0x3F)));
		sink_byte(s, (uint8_t)(0x80 | (cp & 0x3F)));
	} else {
		sink_byte(s, (uint8_t)(0xF0 | cp >> 18));
		sink_byte(s, (uint8_t)(0x80 | (cp >> 12 & 0x3F)));
		sink_byte(s, (uint8_t)(0x80 | (cp >> 6 & 0x3F)));
		sink_byte(s, (uint8_t)(0x80 | (cp & 0x3F)));
	}
}

/* Ends the output: returns 0, or the first error with out restored. */
static int sink_close(struct sink *s)
{
	sink_flush(s);
	if (s->rc < 0)
		s->b->len = s->b->off + s->used0;
	return s->rc;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- base64 ---- */

/* Each byte's value + 1 in the standard alphabet ([0]) and the URL-safe one
 * ([1], '-' and '_' in the places of '+' and '/'); 0: none. */
#define B64_ALNUM                                                                              \
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,           \
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,      \
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,    \
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,                            \
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,    \
	['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,    \
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,    \
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,                            \
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,    \
	['7'] = 60, ['8'] = 61, ['9'] = 62
static const uint8_t b64_vals[2][256] = {
	{ B64_ALNUM, ['+'] = 63, ['/'] = 64 },
	{ B64_ALNUM, ['-'] = 63, ['_'] = 64 },
};
#undef B64_ALNUM

static void b64_tail(struct sink *s, uint32_t acc, unsigned have)
{
	if (have == 2) {
		sink_byte(s, (uint8_t)(acc >> 4));
	} else if (have == 3) {
		sink_byte(s, (uint8_t)(acc >> 10));
		sink_byte(s, (uint8_t)(acc >> 2));
	}
}

int sx_b64_decode(const uint8_t *in, size_t n, int url, struct sx_buf *out, size_t *bad)
{
	struct sink s;
	uint32_t acc = 0;
	unsigned have = 0, pad = 0;
	size_t nbad = 0;

	const uint8_t *vals = b64_vals[url != 0];
	sink_open(&s, out);
	for (size_t i = 0; i < n && s.rc == 0; i++) {
		/* whole quanta of the alphabet, the common case, at once, their
		 * three bytes staged together */
		while (have == 0 && n - i >= 4) {
			int a = vals[in[i]] - 1, b = vals[in[i + 1]] - 1;
			int c = vals[in[i + 2]] - 1, d = vals[in[i + 3]] - 1;
			if ((a | b | c | d) < 0)
				break;
			uint32_t q = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
				     (uint32_t)d;
			if (sizeof s.tmp - s.n < 3)
				sink_flush(&s);
			s.tmp[s.n] = (uint8_t)(q >> 16);
			s.tmp[s.n + 1] = (uint8_t)(q >> 8);
			s.tmp[s.n + 2] = (uint8_t)q;
			s.n += 3;
			pad = 0;
			i += 4;
		}
		if (i == n)
			break;
		int v = vals[in[i]] - 1;
		if (v >= 0) {
			pad = 0;
			acc = acc << 6 | (uint32_t)v;
			if (++have == 4) {
				sink_byte(&s, (uint8_t)(acc >> 16));
				sink_byte(&s, (uint8_t)(acc >> 8));
				sink_byte(&s, (uint8_t)acc);
				acc = 0;
				have = 0;
			}
		} else if (in[i] == '=' && pad) {
			pad--;
		} else if (in[i] == '=' && have >= 2) {
			/* the end of a quantum; more base64 may follow (two
			 * encodings pasted together), so decoding goes on */
			b64_tail(&s, acc, have);
			pad = 3 - have;
			acc = 0;
			have = 0;
		} else {
			nbad++;
		}
	}
	b64_tail(&s, acc, have);
	if (have == 1)
		nbad++; /* six bits make no byte */
	int rc = sink_close(&s);
	if (rc == 0 && bad)
		*bad += nbad;
	return rc;
}

/* Writes the base64 of n bytes (4 * ceil(n / 3) characters) to dst. */
static void b64_block(const uint8_t *in, size_t n, int url, uint8_t *dst)
{
	const char *a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*dst++ = (uint8_t)a[v >> 18];
		*dst++ = (uint8_t)a[v >> 12 & 63];
		*dst++ = (uint8_t)a[v >> 6 & 63];
		*dst++ = (uint8_t)a[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*dst++ = (uint8_t)a[v >> 18];
		*dst++ = (uint8_t)a[v >> 12 & 63];
		*dst++ = i + 1 < n ? (uint8_t)a[v >> 6 & 63] : '=';
		*dst = '=';
	}
}

/*
 * The output size is known in advance, so it is reserved at once: a bound too
 * small fails before any work. eol NULL means CRLF; the last line has no eol.
 */
int sx_b64_encode(const uint8_t *in, size_t n, size_t line_len, const char *eol, int url,
		  struct sx_buf *out)
{
	uint8_t block[4 * 48];
	size_t el, enc, total, col = 0;
	int rc;

	if (!eol)
		eol = "\r\n";
	el = strlen(eol);
	if (n > (SIZE_MAX / 4 - 1) * 3)
		return SX_ETOOBIG;
	enc = (n + 2) / 3 * 4;
	total = enc;
	if (line_len && enc > line_len) {
		size_t breaks = (enc - 1) / line_len;
		if (el && breaks > (SIZE_MAX - enc) / el)
			return SX_ETOOBIG;
		total += breaks * el;
	}
	if (total == 0)
		return 0;
	if ((rc = sx_buf_reserve(out, total)) < 0)
		return rc;
	uint8_t *p = sx_buf_tail(out);
	for (size_t i = 0; i < n; i += 3 * 48) {
		size_t k = n - i < 3 * 48 ? n - i : 3 * 48;
		size_t bn = (k + 2) / 3 * 4;
		b64_block(in + i, k, url, block);
		for (size_t j = 0; j < bn; j++) {
			if (line_len && col == line_len) {
				memcpy(p, eol, el);
				p += el;
				col = 0;
			}
			*p++ = block[j];
			col++;
		}
	}
	sx_buf_commit(out, total);
	return 0;
}

/* ---- quoted-printable ---- */

static bool blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Length of the line end at p (CRLF or LF), 0 when there is none. */
static size_t line_end(const uint8_t *p, size_t n)
{
	if (n >= 1 && p[0] == '\n')
		return 1;
	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	return 0;
}

int sx_qp_decode(const uint8_t *in, size_t n, struct sx_buf *out, size_t *bad)
{
	struct sink s;
	size_t i = 0, nbad = 0;

	sink_open(&s, out);
	while (i < n && s.rc == 0) {
		uint8_t c = in[i];
		if (c == '=') {
			int hi = i + 2 < n ? hexval(in[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(in[i + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				sink_byte(&s, (uint8_t)(hi << 4 | lo));
				i += 3;
				continue;
			}
			/* a soft line break: "=", blanks a transport may have
			 * added, then the line end or the end of the data */
			size_t j = i + 1;
			while (j < n && blank(in[j]))
				j++;
			size_t le = line_end(in + j, n - j);
			if (j == n || le || (in[j] == '\r' && j + 1 == n)) {
				i = j + (le ? le : n - j);
				continue;
			}
			sink_byte(&s, '=');
			nbad++;
			i++;
		} else if (blank(c)) {
			/* RFC 2045 6.7 (3): blanks at the end of a line were added
			 * in transport; an encoder writes real ones as =20 / =09 */
			size_t j = i;
			while (j < n && blank(in[j]))
				j++;
			if (j == n || line_end(in + j, n - j)) {
				i = j;
				continue;
			}
			sink_put(&s, in + i, j - i);
			i = j;
		} else {
			/* a run of bytes that stand for themselves: text, mostly,
			 * looked at sixteen bytes at a time */
			size_t j = i + 1;
			while (n - j >= 16) {
				sx_v16 v;
				memcpy(&v, in + j, 16);
				unsigned m = sx_v16_mask((sx_v16)((v == '=') | (v == ' ') |
								  (v == '\t')));
				if (m) {
					j += (size_t)__builtin_ctz(m);
					break;
				}
				j += 16;
			}
			while (j < n && in[j] != '=' && !blank(in[j]))
				j++;
			sink_put(&s, in + i, j - i);
			i = j;
		}
	}
	int rc = sink_close(&s);
	if (rc == 0 && bad)
		*bad += nbad;
	return rc;
}

static void qp_line(struct sink *s, const uint8_t *p, size_t n, const char *eol, size_t el)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool last = i + 1 == n;
		bool lit = (c >= 33 && c <= 126 && c != '=') || (blank(c) && !last);
		size_t t = lit ? 1 : 3;
		/* a soft break needs its "=" on the line, the last token not */
		if (col + t > (last ? QP_LINE_MAX : QP_LINE_MAX - 1)) {
			sink_byte(s, '=');
			sink_put(s, eol, el);
			col = 0;
		}
		if (lit) {
			sink_byte(s, c);
		} else {
			sink_byte(s, '=');
			sink_byte(s, (uint8_t)hexdig[c >> 4]);
			sink_byte(s, (uint8_t)hexdig[c & 15]);
		}
		col += t;
	}
}

/* eol may be NULL (CRLF), "\r\n" or "\n"; anything else would not decode
 * back, and is SX_EINVAL. A CR not before LF is data, written =0D. */
int sx_qp_encode(const uint8_t *in, size_t n, const char *eol, struct sx_buf *out)
{
	struct sink s;
	size_t i = 0;

	if (!eol)
		eol = "\r\n";
	if (strcmp(eol, "\r\n") != 0 && strcmp(eol, "\n") != 0)
		return SX_EINVAL;
	size_t el = strlen(eol);
	sink_open(&s, out);
	while (i < n && s.rc == 0) {
		const uint8_t *nl = memchr(in + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - in) : n;
		size_t end = nl && e > i && in[e - 1] == '\r' ? e - 1 : e;
		qp_line(&s, in + i, end - i, eol, el);
		if (nl)
			sink_put(&s, eol, el);
		i = nl ? e + 1 : n;
	}
	return sink_close(&s);
}

/* ---- RFC 2047 ---- */

/* Q: the letters, digits and "!*+-/" are safe in every place RFC 2047
 * 5 allows a word (phrase included); everything else is escaped. */
static bool q_safe(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	       || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

int sx_2047_decode_text(char enc, const uint8_t *in, size_t n, struct sx_buf *out, size_t *bad)
{
	struct sink s;
	size_t nbad = 0;

	if (enc == 'B' || enc == 'b')
		return sx_b64_decode(in, n, 0, out, bad);
	if (enc != 'Q' && enc != 'q')
		return SX_EINVAL;
	sink_open(&s, out);
	for (size_t i = 0; i < n && s.rc == 0; i++) {
		int hi, lo;
		if (in[i] == '_') {
			sink_byte(&s, ' ');
		} else if (in[i] == '=' && i + 2 < n && (hi = hexval(in[i + 1])) >= 0
			   && (lo = hexval(in[i + 2])) >= 0) {
			sink_byte(&s, (uint8_t)(hi << 4 | lo));
			i += 2;
		} else {
			if (in[i] == '=')
				nbad++;
			sink_byte(&s, in[i]);
		}
	}
	int rc = sink_close(&s);
	if (rc == 0 && bad)
		*bad += nbad;
	return rc;
}

struct eword {
	char charset[EW_CHARSET_MAX + 1]; /* NUL-terminated, without its *lang */
	char enc;
	const uint8_t *text;
	size_t text_len;
	size_t len; /* the whole word */
};

/*
 * Parses the encoded-word at p: returns 1 and fills *w, 0 when p does not
 * start one, -1 when it starts one that is broken (no "?=", a line end, or
 * another word's "=?" before it). The encoded text runs to the first "?=" and
 * may hold blanks: readers decode such words, so redaction must too.
 */
static int eword_parse(const uint8_t *p, size_t n, struct eword *w)
{
	size_t i = 2, cs_len;

	if (n < 2 || p[0] != '=' || p[1] != '?')
		return 0;
	while (i < n && p[i] > ' ' && p[i] < 0x7F && p[i] != '?')
		i++;
	cs_len = i - 2;
	if (cs_len == 0 || cs_len > EW_CHARSET_MAX || i + 2 >= n || p[i] != '?'
	    || !memchr("BbQq", p[i + 1], 4) || p[i + 2] != '?')
		return 0;
	memcpy(w->charset, p + 2, cs_len);
	w->charset[cs_len] = '\0';
	char *star = strchr(w->charset, '*'); /* RFC 2231 5: charset*lang */
	if (star)
		*star = '\0';
	w->enc = (char)p[i + 1];
	i += 3;
	w->text = p + i;
	for (; i + 1 < n; i++) {
		if (p[i] == '?' && p[i + 1] == '=') {
			w->text_len = (size_t)(p + i - w->text);
			w->len = i + 2;
			return 1;
		}
		if (p[i] == '\r' || p[i] == '\n')
			return -1;
		/* "=?=" is an "=" closing the text, not a new word */
		if (p[i] == '=' && p[i + 1] == '?' && (i + 2 >= n || p[i + 2] != '='))
			return -1;
	}
	return -1;
}

static bool lws(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* State of sx_2047_decode. */
struct hdec {
	struct sx_buf *out;
	const char *fallback;
	size_t nbad;
	/* the run of adjacent words in one charset */
	char charset[EW_CHARSET_MAX + 1];
	bool open;
	size_t run_bad;      /* its words counted in nbad */
	struct sx_buf bytes; /* their decoded bytes, joined */
	struct sx_buf text;  /* their UTF-8, each word converted on its own */
};

/*
 * Emits the run. Words that each decode on their own give their own text
 * (a UTF-16 word starts with its BOM, which joining would turn into U+FEFF).
 * When one does not (some mailers split a character, or an ISO-2022-JP run,
 * between words), readers join adjacent words of one charset before
 * converting, so the text is what the joined bytes say.
 */
static int run_flush(struct hdec *h)
{
	int rc;

	if (!h->open)
		return 0;
	if (h->run_bad)
		rc = sx_charset_to_utf8(h->charset, sx_buf_head(&h->bytes),
					sx_buf_used(&h->bytes), h->out, NULL);
	else
		rc = sx_buf_append(h->out, sx_buf_head(&h->text), sx_buf_used(&h->text));
	sx_buf_reset(&h->bytes, SIZE_MAX);
	sx_buf_reset(&h->text, SIZE_MAX);
	h->open = false;
	h->run_bad = 0;
	return rc;
}

/* Whether ISO-2022 bytes end with a double-byte set designated (ESC $ @,
 * ESC $ A, ESC $ B, ESC $ ( F), which RFC 2047 5 forbids at the end of a
 * word. Other escapes are text to the decoder, and so here. */
static bool ends_shifted(const uint8_t *p, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (p[i] != 0x1B || i + 2 >= n)
			continue;
		if (p[i + 1] == '(')
			return false;
		if (p[i + 1] == '$' && (p[i + 2] == '@' || p[i + 2] == 'A' || p[i + 2] == 'B'
					|| (p[i + 2] == '(' && i + 3 < n)))
			return true;
	}
	return false;
}

/*
 * Text outside encoded-words: raw ISO-2022-JP (old Japanese mailers wrote it
 * unencoded, and Japanese readers show it), UTF-8 when valid, else the
 * fallback charset, else UTF-8 with U+FFFD for what is not; counted when
 * anything had to be replaced.
 */
static int raw_emit(struct hdec *h, const uint8_t *p, size_t n)
{
	const char *cs = NULL;
	size_t b = 0;
	int rc;

	if (n == 0)
		return 0;
	for (size_t i = 0; i + 1 < n && !cs; i++)
		if (p[i] == 0x1B && (p[i + 1] == '$' || p[i + 1] == '('))
			cs = "iso-2022-jp";
	if (!cs && sx_utf8_valid(p, n))
		return sx_buf_append(h->out, p, n);
	if (!cs)
		cs = h->fallback && sx_charset_iconv_name(h->fallback) ? h->fallback : "utf-8";
	rc = sx_charset_to_utf8(cs, p, n, h->out, &b);
	if (rc == 0 && b)
		h->nbad++;
	return rc;
}

/* Decodes w's text into the run (starting one when needed); counts the word
 * when it does not decode cleanly on its own. */
static int word_add(struct hdec *h, const struct eword *w)
{
	size_t before, tb = 0, cb = 0;
	int rc;

	if (h->open && strcasecmp(h->charset, w->charset) != 0 && (rc = run_flush(h)) < 0)
		return rc;
	if (!h->open) {
		memcpy(h->charset, w->charset, sizeof h->charset);
		h->open = true;
	}
	before = sx_buf_used(&h->bytes);
	if ((rc = sx_2047_decode_text(w->enc, w->text, w->text_len, &h->bytes, &tb)) < 0)
		return rc;
	const uint8_t *p = sx_buf_head(&h->bytes) + before;
	size_t n = sx_buf_used(&h->bytes) - before;
	rc = sx_charset_to_utf8(w->charset, p, n, &h->text, &cb);
	if (rc == SX_ENOMEM)
		return rc;
	const char *name = sx_charset_iconv_name(w->charset);
	bool iso2022 = name && strncmp(name, "ISO-2022-", 9) == 0;
	if (tb || cb || rc < 0 || (iso2022 && ends_shifted(p, n))) {
		h->nbad++;
		h->run_bad++;
	}
	return 0;
}

/*
 * Every "=?charset?B|Q?text?=" is decoded wherever it stands (readers do not
 * check that it is a whole word); blanks and line ends between two of them
 * are dropped. A broken word, or one in an unknown charset, stays as text.
 */
int sx_2047_decode(const uint8_t *in, size_t n, const char *fallback_charset, struct sx_buf *out,
		   size_t *bad)
{
	struct hdec h = { .out = out, .fallback = fallback_charset };
	size_t used0 = sx_buf_used(out);
	size_t i = 0, lit = 0;   /* raw text pending from lit */
	bool after_word = false; /* lit is right after a decoded word */
	int rc = 0;

	/* decoded bytes never outnumber the encoded text; a conversion makes
	 * at most four bytes of UTF-8 from one */
	sx_buf_init(&h.bytes, n);
	sx_buf_init(&h.text, n < SIZE_MAX / 8 ? 4 * n + 16 : SIZE_MAX / 2);
	while (i < n && rc == 0) {
		struct eword w;
		int k = eword_parse(in + i, n - i, &w);
		if (k == 0) {
			i++;
			continue;
		}
		if (k < 0 || !sx_charset_iconv_name(w.charset)) {
			h.nbad++;
			i += 2;
			continue;
		}
		if (!(after_word && lws(in + lit, i - lit))) {
			if ((rc = run_flush(&h)) < 0 || (rc = raw_emit(&h, in + lit, i - lit)) < 0)
				break;
		}
		rc = word_add(&h, &w);
		i += w.len;
		lit = i;
		after_word = true;
	}
	if (rc == 0)
		rc = run_flush(&h);
	if (rc == 0)
		rc = raw_emit(&h, in + lit, n - lit);
	sx_buf_finish(&h.bytes);
	sx_buf_finish(&h.text);
	if (rc < 0) {
		out->len = out->off + used0;
		return rc;
	}
	if (bad)
		*bad += h.nbad;
	return 0;
}

/* Length of w's n bytes as encoded text. */
static size_t ew_text_len(char enc, const uint8_t *p, size_t n)
{
	size_t len = 0;
	if (enc == 'B')
		return (n + 2) / 3 * 4;
	for (size_t i = 0; i < n; i++)
		len += p[i] == ' ' || q_safe(p[i]) ? 1 : 3;
	return len;
}

/* Longest chunk one word's charset bytes can take (well past what fits). */
#define EW_CHUNK_MAX (4 * EW_MAX)

/*
 * Greedy: each word takes as many whole characters as fit, converted as one
 * chunk, so a word never ends inside a character and, in ISO-2022-JP, starts
 * and ends in ASCII (the conversion of a chunk always returns to it).
 */
int sx_2047_encode(const uint8_t *utf8, size_t n, const char *charset, char enc,
		   struct sx_buf *out)
{
	struct sx_buf chunk, best, tmp;
	struct sink s;
	size_t i = 0, cl;
	int rc = 0;

	enc = enc == 'b' ? 'B' : enc == 'q' ? 'Q' : enc;
	if ((enc != 'B' && enc != 'Q') || !charset || !sx_charset_iconv_name(charset))
		return SX_EINVAL;
	cl = strlen(charset);
	for (size_t k = 0; k < cl; k++)
		if (charset[k] <= ' ' || charset[k] >= 0x7F || charset[k] == '?')
			return SX_EINVAL;
	if (cl + 7 >= EW_MAX || !sx_utf8_valid(utf8, n))
		return SX_EINVAL;
	size_t room = EW_MAX - cl - 7; /* "=?" charset "?" enc "?" text "?=" */

	sx_buf_init(&chunk, EW_CHUNK_MAX);
	sx_buf_init(&best, EW_CHUNK_MAX);
	sink_open(&s, out);
	while (i < n && rc == 0) {
		size_t j = i;
		sx_buf_reset(&best, SIZE_MAX);
		while (j < n) {
			size_t k = j + 1;
			while (k < n && (utf8[k] & 0xC0) == 0x80)
				k++;
			sx_buf_reset(&chunk, SIZE_MAX);
			rc = sx_charset_from_utf8(charset, utf8 + i, k - i, &chunk);
			const uint8_t *c = sx_buf_head(&chunk);
			size_t tl = rc ? 0 : ew_text_len(enc, c, sx_buf_used(&chunk));
			if (rc == SX_ETOOBIG || tl > room) {
				rc = 0;
				break;
			}
			if (rc < 0)
				break;
			tmp = best;
			best = chunk;
			chunk = tmp;
			j = k;
		}
		if (rc < 0)
			break;
		if (j == i) {
			rc = SX_EINVAL; /* one character does not fit in a word */
			break;
		}
		const uint8_t *b = sx_buf_head(&best);
		size_t bn = sx_buf_used(&best);
		uint8_t text[EW_MAX];
		if (i > 0)
			sink_put(&s, EW_FOLD, strlen(EW_FOLD));
		sink_put(&s, "=?", 2);
		sink_put(&s, charset, cl);
		sink_byte(&s, '?');
		sink_byte(&s, (uint8_t)enc);
		sink_byte(&s, '?');
		if (enc == 'B') {
			b64_block(b, bn, 0, text);
			sink_put(&s, text, (bn + 2) / 3 * 4);
		} else {
			for (size_t k = 0; k < bn; k++) {
				if (b[k] == ' ') {
					sink_byte(&s, '_');
				} else if (q_safe(b[k])) {
					sink_byte(&s, b[k]);
				} else {
					sink_byte(&s, '=');
					sink_byte(&s, (uint8_t)hexdig[b[k] >> 4]);
					sink_byte(&s, (uint8_t)hexdig[b[k] & 15]);
				}
			}
		}
		sink_put(&s, "?=", 2);
		i = j;
	}
	sx_buf_finish(&chunk);
	sx_buf_finish(&best);
	if (rc < 0 && s.rc == 0)
		s.rc = rc;
	return sink_close(&s);
}

/* ---- URLs and HTML ---- */

int sx_pct_decode(const uint8_t *in, size_t n, struct sx_buf *out)
{
	struct sink s;
	int hi, lo;

	sink_open(&s, out);
	for (size_t i = 0; i < n && s.rc == 0; i++) {
		if (in[i] == '%' && i + 2 < n && (hi = hexval(in[i + 1])) >= 0
		    && (lo = hexval(in[i + 2])) >= 0) {
			sink_byte(&s, (uint8_t)(hi << 4 | lo));
			i += 2;
		} else {
			sink_byte(&s, in[i]);
		}
	}
	return sink_close(&s);
}

/* HTML 4 Latin-1 names, U+00A0 to U+00FF. HTML decodes them, like amp lt gt
 * quot, even without their semicolon (the "legacy" names). */
static const char *const latin1_names[96] = {
	"nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect",
	"uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr",
	"deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot",
	"cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
	"Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil",
	"Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
	"ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times",
	"Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
	"agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
	"egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml",
	"eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide",
	"oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
};

struct html_name {
	const char *name;
	uint32_t cp;
	bool legacy; /* decoded without its semicolon too */
};

/*
 * Besides the legacy ones, every HTML 5 name for ASCII punctuation (an address
 * or URL can be spelled with them: &commat; &period; &lowbar; ...), the
 * invisible characters that can split one, and common typography.
 */
static const struct html_name html_names[] = {
	{ "amp", '&', true }, { "AMP", '&', true }, { "lt", '<', true }, { "LT", '<', true },
	{ "gt", '>', true }, { "GT", '>', true }, { "quot", '"', true }, { "QUOT", '"', true },
	{ "COPY", 0xA9, true }, { "REG", 0xAE, true },
	{ "apos", '\'', false }, { "commat", '@', false }, { "period", '.', false },
	{ "lowbar", '_', false }, { "UnderBar", '_', false }, { "plus", '+', false },
	{ "equals", '=', false }, { "percnt", '%', false }, { "num", '#', false },
	{ "excl", '!', false }, { "quest", '?', false }, { "colon", ':', false },
	{ "sol", '/', false }, { "bsol", '\\', false }, { "semi", ';', false },
	{ "comma", ',', false }, { "lpar", '(', false }, { "rpar", ')', false },
	{ "lsqb", '[', false }, { "lbrack", '[', false }, { "rsqb", ']', false },
	{ "rbrack", ']', false }, { "lcub", '{', false }, { "lbrace", '{', false },
	{ "rcub", '}', false }, { "rbrace", '}', false }, { "verbar", '|', false },
	{ "vert", '|', false }, { "VerticalLine", '|', false }, { "ast", '*', false },
	{ "midast", '*', false }, { "Hat", '^', false }, { "grave", '`', false },
	{ "DiacriticalGrave", '`', false }, { "dollar", '$', false }, { "Tab", '\t', false },
	{ "NewLine", '\n', false },
	{ "zwnj", 0x200C, false }, { "zwj", 0x200D, false }, { "lrm", 0x200E, false },
	{ "rlm", 0x200F, false }, { "ensp", 0x2002, false }, { "emsp", 0x2003, false },
	{ "thinsp", 0x2009, false }, { "hyphen", 0x2010, false }, { "dash", 0x2010, false },
	{ "ndash", 0x2013, false }, { "mdash", 0x2014, false }, { "lsquo", 0x2018, false },
	{ "rsquo", 0x2019, false }, { "sbquo", 0x201A, false }, { "ldquo", 0x201C, false },
	{ "rdquo", 0x201D, false }, { "bdquo", 0x201E, false }, { "dagger", 0x2020, false },
	{ "Dagger", 0x2021, false }, { "bull", 0x2022, false }, { "hellip", 0x2026, false },
	{ "permil", 0x2030, false }, { "prime", 0x2032, false }, { "lsaquo", 0x2039, false },
	{ "rsaquo", 0x203A, false }, { "euro", 0x20AC, false }, { "trade", 0x2122, false },
	{ "larr", 0x2190, false }, { "uarr", 0x2191, false }, { "rarr", 0x2192, false },
	{ "darr", 0x2193, false },
};

/* The code point of the n-byte name at p, or 0; legacy_only: only names HTML
 * decodes without a semicolon. */
static uint32_t html_lookup(const uint8_t *p, size_t n, bool legacy_only)
{
	/* Every name is non-empty: comparing the first byte before strlen
	 * skips nearly every entry without measuring it. */
	if (n == 0)
		return 0;
	for (size_t i = 0; i < 96; i++)
		if ((uint8_t)latin1_names[i][0] == p[0] && strlen(latin1_names[i]) == n &&
		    memcmp(latin1_names[i], p, n) == 0)
			return 0xA0 + (uint32_t)i;
	for (size_t i = 0; i < sizeof html_names / sizeof html_names[0]; i++) {
		const struct html_name *h = &html_names[i];
		if ((uint8_t)h->name[0] == p[0] && (h->legacy || !legacy_only) &&
		    strlen(h->name) == n && memcmp(h->name, p, n) == 0)
			return h->cp;
	}
	return 0;
}

static bool alnum(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Decodes the reference at in[i] == '&' as HTML 5 does; returns the bytes it
 * takes, 0 when it is not one. */
static size_t html_ref(struct sink *s, const uint8_t *in, size_t n, size_t i)
{
	size_t j = i + 1;

	if (j < n && in[j] == '#') {
		bool hex = j + 1 < n && (in[j + 1] == 'x' || in[j + 1] == 'X');
		uint32_t v = 0;
		size_t d;
		j += hex ? 2 : 1;
		for (d = j; d < n && (hex ? hexval(in[d]) >= 0 : (in[d] >= '0' && in[d] <= '9'));
		     d++) {
			v = v * (hex ? 16 : 10) + (uint32_t)hexval(in[d]);
			if (v > 0x10FFFF)
				v = 0x110000; /* saturate: stays invalid */
		}
		if (d == j)
			return 0;
		if (d < n && in[d] == ';')
			d++;
		if (v >= 0x80 && v <= 0x9F) {
			/* HTML 5 reads these as windows-1252 */
			uint8_t c = (uint8_t)v;
			sink_flush(s);
			if (s->rc == 0)
				s->rc = sx_charset_to_utf8("windows-1252", &c, 1, s->b, NULL);
			return d - i;
		}
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		sink_cp(s, v);
		return d - i;
	}
	size_t e = j;
	while (e < n && e - j < HTML_NAME_MAX && alnum(in[e]))
		e++;
	if (e == j)
		return 0;
	uint32_t cp;
	if (e < n && in[e] == ';' && (cp = html_lookup(in + j, e - j, false))) {
		sink_cp(s, cp);
		return e + 1 - i;
	}
	/* without the semicolon: the longest legacy name the text starts with
	 * ("&copy2024" is "©2024") */
	for (size_t len = e - j; len >= 2; len--) {
		if ((cp = html_lookup(in + j, len, true))) {
			sink_cp(s, cp);
			return len + 1;
		}
	}
	return 0;
}

int sx_html_decode(const uint8_t *in, size_t n, struct sx_buf *out)
{
	struct sink s;
	size_t i = 0;

	sink_open(&s, out);
	while (i < n && s.rc == 0) {
		size_t k = in[i] == '&' ? html_ref(&s, in, n, i) : 0;
		if (k) {
			i += k;
		} else {
			/* up to the next reference, as it is */
			const uint8_t *amp = memchr(in + i + 1, '&', n - i - 1);
			size_t j = amp ? (size_t)(amp - in) : n;
			sink_put(&s, in + i, j - i);
			i = j;
		}
	}
	return sink_close(&s);
}
