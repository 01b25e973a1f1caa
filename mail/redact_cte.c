/*
 * redact_cte.c: quoted-printable and base64 bodies as layers.
 *
 * Quoted-printable is cut into encoded lines, a soft break joining a line to
 * the next: a change re-encodes the hard lines it touches with the body's
 * own line length and line ends. Base64 is cut into encoded lines when they
 * are regular, each the same number of whole groups: a change re-encodes from
 * its line to the end, the lines before it stay.
 */
#include <string.h>

#include "codec.h"
#include "err.h"
#include "redact_impl.h"

#define QP_WIDTH 76
#define QP_WIDTH_MIN 8
#define QP_WIDTH_MAX 998

/* The body's line end: that of its first line. */
static void measure_eol(const uint8_t *e, size_t n, char eol[3])
{
	const uint8_t *lf = memchr(e, '\n', n);
	if (lf && lf > e && lf[-1] == '\r')
		memcpy(eol, "\r\n", 3);
	else if (lf)
		memcpy(eol, "\n", 2);
	else
		memcpy(eol, "\r\n", 3);
}

/* ---- quoted-printable ---- */

/* Appends one QP token of k characters, breaking the line softly first when
 * it would not fit. */
static int qp_put(struct sx_buf *out, const char *tok, size_t k, size_t *col, size_t width,
		  const char *eol)
{
	int rc = 0;
	if (*col + k > width - 1) {
		rc = sx_buf_append(out, "=", 1);
		if (rc == 0)
			rc = sx_buf_append(out, eol, strlen(eol));
		*col = 0;
	}
	if (rc == 0)
		rc = sx_buf_append(out, tok, k);
	*col += k;
	return rc;
}

/* Quoted-printable with a given line length: the codec's encoder has 76. */
static int qp_encode(const uint8_t *in, size_t n, size_t width, const char *eol,
		     struct sx_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t c = in[i];
		if (c == '\n' || (c == '\r' && i + 1 < n && in[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			rc = sx_buf_append(out, eol, strlen(eol));
			col = 0;
			continue;
		}
		int at_eol = i + 1 == n || in[i + 1] == '\n' ||
			     (in[i + 1] == '\r' && i + 2 < n && in[i + 2] == '\n');
		int lit = (c >= 33 && c <= 126 && c != '=') ||
			  ((c == ' ' || c == '\t') && !at_eol);
		char tok[3] = { (char)c, 0, 0 };
		if (!lit) {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
		}
		rc = qp_put(out, tok, lit ? 1 : 3, &col, width, eol);
	}
	return rc;
}

static int qp_layer_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
			   const uint8_t *in, size_t n, struct sx_buf *out)
{
	const struct rx_cte *ci = l->arg;
	return qp_encode(in, n, ci->width, ci->eol, out);
}

static int build_qp(struct rx_ctx *x, const uint8_t *e, size_t n, struct rx_layer *l,
		    struct rx_cte *ci)
{
	struct sx_buf d;
	size_t widest = 0;
	int rc = 0;

	measure_eol(e, n, ci->eol);
	l->encode = qp_layer_encode;
	l->enc = RX_ENC_QP;
	l->arg = ci;
	sx_buf_init(&d, x->scratch);
	for (size_t ls = 0; ls < n && rc == 0;) {
		const uint8_t *lf = memchr(e + ls, '\n', n - ls);
		size_t next = lf ? (size_t)(lf - e) + 1 : n;
		size_t le = lf ? (size_t)(lf - e) : n;
		if (le > ls && e[le - 1] == '\r')
			le--;
		size_t ce = le;
		while (ce > ls && (e[ce - 1] == ' ' || e[ce - 1] == '\t'))
			ce--;
		int soft = ce > ls && e[ce - 1] == '=';
		if (soft) {
			ce--;
			if (le - ls > widest)
				widest = le - ls;
		}
		sx_buf_reset(&d, SIZE_MAX);
		rc = sx_qp_decode(e + ls, ce - ls, &d, NULL);
		if (rc == 0 && !soft)
			rc = sx_buf_append(&d, e + le, next - le);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&d), sx_buf_used(&d), ls, next - ls,
					     1, 0);
		if (rc == 0 && soft)
			l->seg[l->nseg - 1].join = 1;
		ls = next;
	}
	sx_buf_finish(&d);
	ci->width = widest >= QP_WIDTH_MIN && widest <= QP_WIDTH_MAX ? widest : QP_WIDTH;
	return rc;
}

/* ---- base64 ---- */

static int b64_layer_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
			    const uint8_t *in, size_t n, struct sx_buf *out)
{
	const struct rx_cte *ci = l->arg;
	size_t start = sx_buf_used(out);
	int rc = sx_b64_encode(in, n, ci->width, ci->eol, 0, out);
	/* The last line's end is outside the span: the original one stays. */
	size_t el = strlen(ci->eol);
	if (rc == 0 && sx_buf_used(out) - start >= el &&
	    memcmp(out->data + out->len - el, ci->eol, el) == 0)
		out->len -= el;
	return rc;
}

static int is_b64(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* Regular when every line but the last holds the same whole number of groups
 * and nothing but the alphabet: then each line decodes alone. */
static int b64_regular(const uint8_t *e, size_t n, size_t *len)
{
	size_t L = 0, lines = 0, last_len = 0;
	int ended = 0;
	for (size_t ls = 0; ls < n;) {
		const uint8_t *lf = memchr(e + ls, '\n', n - ls);
		size_t next = lf ? (size_t)(lf - e) + 1 : n;
		size_t le = lf ? (size_t)(lf - e) : n;
		if (le > ls && e[le - 1] == '\r')
			le--;
		size_t k = le - ls;
		if (k == 0) {
			ended = lines > 0;
			ls = next;
			continue;
		}
		if (ended)
			return 0;  /* text after a blank line */
		for (size_t i = ls; i < le; i++)
			if (!is_b64(e[i]) || (e[i] == '=' && i + 2 < le))
				return 0;
		if (lines > 0 && last_len != L)
			return 0;  /* a short line before this one */
		if (lines == 0)
			L = k;
		last_len = k;
		lines++;
		ls = next;
	}
	*len = L;
	return lines > 1 && L % 4 == 0 && L > 0;
}

static int build_b64(struct rx_ctx *x, const uint8_t *e, size_t n, struct rx_layer *l,
		     struct rx_cte *ci)
{
	struct sx_buf d;
	size_t L = 0;
	int rc = 0;

	measure_eol(e, n, ci->eol);
	l->encode = b64_layer_encode;
	l->enc = RX_ENC_B64;
	l->arg = ci;
	l->to_end = 1;
	sx_buf_init(&d, x->scratch);
	if (b64_regular(e, n, &L)) {
		ci->width = L;
		for (size_t ls = 0; ls < n && rc == 0;) {
			const uint8_t *lf = memchr(e + ls, '\n', n - ls);
			size_t next = lf ? (size_t)(lf - e) + 1 : n;
			size_t le = lf ? (size_t)(lf - e) : n;
			if (le > ls && e[le - 1] == '\r')
				le--;
			if (le > ls) {
				sx_buf_reset(&d, SIZE_MAX);
				rc = sx_b64_decode(e + ls, le - ls, 0, &d, NULL);
				if (rc == 0)
					rc = sx_rx_layer_seg(l, sx_buf_head(&d), sx_buf_used(&d),
							     ls, le - ls, 1, 0);
			}
			ls = next;
		}
	} else {
		/* One piece from the first to the last alphabet character. */
		size_t a = 0, b = n;
		while (a < n && !is_b64(e[a]))
			a++;
		while (b > a && !is_b64(e[b - 1]))
			b--;
		const uint8_t *lf = memchr(e + a, '\n', b - a);
		size_t first = lf ? (size_t)(lf - (e + a)) : 0;
		if (first > 0 && e[a + first - 1] == '\r')
			first--;
		ci->width = first;
		if (b > a)
			rc = sx_b64_decode(e + a, b - a, 0, &d, NULL);
		if (rc == 0 && b > a)
			rc = sx_rx_layer_seg(l, sx_buf_head(&d), sx_buf_used(&d), a, b - a, 1, 0);
	}
	sx_buf_finish(&d);
	return rc;
}

/* ---- both ---- */

static int hexdig(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Whether e[i] starts a Q encoded-word ("=?charset?Q?", the label
 * SX_MIME_TOKEN characters at most, as the leak check's guess takes it). */
static int q_word_at(const uint8_t *e, size_t n, size_t i)
{
	if (i + 1 >= n || e[i + 1] != '?')
		return 0;
	size_t c0 = i + 2, c = c0;
	while (c < n && c - c0 < SX_MIME_TOKEN && e[c] != '?' && e[c] > ' ' && e[c] < 0x7F)
		c++;
	return c > c0 && n - c > 2 && e[c] == '?' && (e[c + 1] == 'Q' || e[c + 1] == 'q') &&
	       e[c + 2] == '?';
}

/* As a quoted-printable encoder could have written some line of it: an
 * escape or a soft break in a line where every '=' is one (an encoder
 * writes '=' as =3D; "campaign=c7" in a URL's query is chance) or an
 * encoded-word's delimiter; or a Q encoded-word anywhere (its text is
 * quoted-printable). One pass over the '=' of e. */
int sx_rx_looks_qp(const uint8_t *e, size_t n)
{
	size_t le = 0;          /* the end of the line of the '=' at hand */
	int mark = 0, bare = 0; /* that line holds an escape or soft break; another '=' */
	for (const uint8_t *q = memchr(e, '=', n); q;
	     q = (size_t)(q - e) + 1 < n ? memchr(q + 1, '=', n - (size_t)(q - e) - 1) : NULL) {
		size_t i = (size_t)(q - e);
		if (i >= le) {
			if (mark && !bare)
				return 1;
			const uint8_t *nl = memchr(q, '\n', n - i);
			le = nl ? (size_t)(nl - e) + 1 : n;
			mark = bare = 0;
		}
		if (q_word_at(e, n, i))
			return 1;
		if (i + 2 < n && hexdig(e[i + 1]) && hexdig(e[i + 2])) {
			mark = 1;
			continue;
		}
		size_t j = i + 1;
		while (j < n && (e[j] == ' ' || e[j] == '\t'))
			j++;
		if (j < n && (e[j] == '\n' || e[j] == '\r')) {
			/* a soft break; it marks the text with more after it
			 * (base64 padding ends a body) */
			while (j < n && (e[j] == ' ' || e[j] == '\t' || e[j] == '\r' || e[j] == '\n'))
				j++;
			if (j < n && i > 0 && e[i - 1] != '=')
				mark = 1;
			continue;
		}
		/* an encoded-word's delimiters: its Q text is quoted-printable */
		if ((i + 1 < n && e[i + 1] == '?') || (i > 0 && e[i - 1] == '?'))
			continue;
		bare = 1;
	}
	return mark && !bare;
}

/* Base64 and nothing else, in lines of some length. */
int sx_rx_b64_block(const uint8_t *p, size_t n)
{
	size_t alpha = 0, other = 0, line = 0, longest = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' || c == '\n') {
			line = 0;
			continue;
		}
		if (++line > longest)
			longest = line;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || c == '=' || c == '-' || c == '_')
			alpha++;
		else
			other++;
	}
	return alpha >= 40 && longest >= 40 && other * 50 <= alpha;
}

/* Classes of sx_rx_looks_b64: 1 alphabet (either), 2 blank, 3 line end,
 * 0 anything else. */
static const uint8_t b64_class[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
	['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
	['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
	['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1,
	['/'] = 1, ['='] = 1, ['-'] = 1, ['_'] = 1, [' '] = 2, ['\t'] = 2, ['\r'] = 3,
	['\n'] = 3,
};

int sx_rx_looks_b64(const uint8_t *e, size_t n)
{
	size_t count[4] = { 0, 0, 0, 0 };
	for (size_t i = 0; i < n; i++)
		count[b64_class[e[i]]]++;
	size_t alpha = count[1], blank = count[2], other = count[0];
	/* a little looser than a reader's guess */
	if (alpha < 12 || blank * 50 > alpha || other * 10 > alpha)
		return 0;
	/* but an encoder writes '=' only as padding, at the end of its data:
	 * with more of the alphabet after it, it is quoted-printable's =E3=81
	 * or a URL's query */
	for (const uint8_t *q = e; (q = memchr(q, '=', n - (size_t)(q - e))); q++)
		if ((size_t)(q - e) + 1 < n && q[1] != '=' && b64_class[q[1]] == 1)
			return 0;
	return 1;
}

int sx_rx_cte_layer(struct rx_ctx *x, enum sx_cte cte, const uint8_t *e, size_t n,
		    struct rx_layer *l, struct rx_cte *ci)
{
	memset(ci, 0, sizeof *ci);
	if (cte == SX_CTE_QP)
		return build_qp(x, e, n, l, ci);
	if (cte == SX_CTE_BASE64)
		return build_b64(x, e, n, l, ci);
	return SX_EINVAL;
}

int sx_rx_cte_encode(enum sx_cte cte, const struct rx_cte *ci, const uint8_t *in, size_t n,
		     struct sx_buf *out)
{
	if (cte == SX_CTE_QP)
		return qp_encode(in, n, ci->width, ci->eol, out);
	if (cte == SX_CTE_BASE64)
		return sx_b64_encode(in, n, ci->width, ci->eol, 0, out);
	return sx_buf_append(out, in, n);
}
