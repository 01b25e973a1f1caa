/*
 * redact_charset.c: the text of a body in a charset other than UTF-8, as a
 * layer. ISO-2022-JP is converted line by line, carrying its shift state
 * from line to line as a reader does; other charsets word by word. A change
 * converts back what it touches; the rest stays as it came. Which readings
 * a body gets: its declared charset, the bytes as they are, and each
 * Japanese charset where the bytes are not UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "err.h"
#include "redact_impl.h"
#include "v16.h"

/* ISO-2022-JP designations a line can end in (0: ASCII). */
static const char *const jis_states[] = {
	"", "\x1b(J", "\x1b$@", "\x1b$B", "\x1b$(D", "\x1b(I", "\x1b$(Q", "\x1b$(O",
};
#define JIS_NSTATES (sizeof jis_states / sizeof jis_states[0])

/* The state after the designations in line (from state st). */
static unsigned jis_scan(const uint8_t *p, size_t n, unsigned st)
{
	for (size_t i = 0; i + 2 < n; i++) {
		if (p[i] != 0x1b)
			continue;
		if (p[i + 1] == '(' && p[i + 2] == 'B') {
			st = 0;
			continue;
		}
		for (unsigned k = 1; k < JIS_NSTATES; k++) {
			size_t kl = strlen(jis_states[k]);
			if (i + kl <= n && memcmp(p + i, jis_states[k], kl) == 0) {
				st = k;
				break;
			}
		}
	}
	return st;
}

static int cs_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		     const uint8_t *in, size_t n, struct sx_buf *out)
{
	const struct rx_charset *ci = l->arg;
	size_t start = sx_buf_used(out);
	int rc = sx_charset_from_utf8(ci->label, in, n, out);
	unsigned st = l->seg[last].info;
	if (rc < 0 || !ci->jis || st == 0 || st >= JIS_NSTATES)
		return rc;
	/* The original line ended shifted and the next one relies on it. */
	const char *esc = jis_states[st];
	size_t el = strlen(esc), u = sx_buf_used(out) - start;
	const uint8_t *b = sx_buf_head(out) + start;
	size_t cut = u;
	if (cut > 0 && b[cut - 1] == '\n')
		cut--;
	if (cut > 0 && b[cut - 1] == '\r')
		cut--;
	size_t tail = u - cut;
	rc = sx_buf_reserve(out, el);
	if (rc < 0)
		return rc;
	uint8_t *w = out->data + out->off + start + cut;
	memmove(w + el, w, tail);
	memcpy(w, esc, el);
	out->len += el;
	return 0;
}

static int is_utf8_label(const char *label)
{
	const char *n = sx_charset_iconv_name(label);
	return strcasecmp(label, "utf-8") == 0 || strcasecmp(label, "utf8") == 0 ||
	       (n && strcasecmp(n, "UTF-8") == 0);
}

static int is_wide_label(const char *label)
{
	return strncasecmp(label, "utf-16", 6) == 0 || strncasecmp(label, "utf-32", 6) == 0 ||
	       strncasecmp(label, "ucs-", 4) == 0 || strcasecmp(label, "unicode") == 0;
}

/* Appends label to the readings unless there or full. */
static void reading(char labels[][SX_MIME_TOKEN], size_t *k, size_t max, const char *label)
{
	for (size_t i = 0; i < *k; i++)
		if (strcasecmp(labels[i], label) == 0)
			return;
	if (*k < max)
		snprintf(labels[(*k)++], SX_MIME_TOKEN, "%s", label);
}

int sx_rx_charset_readings(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
			   char labels[][SX_MIME_TOKEN], size_t max)
{
	int eight = 0, esc = memchr(d, 0x1b, n) != NULL;
	size_t k = 0;
	for (size_t i = 0; i < n && !eight; i++)
		eight = d[i] >= 0x80;
	if (p->charset[0] && strcasecmp(p->charset, "us-ascii") != 0 &&
	    strcasecmp(p->charset, "ascii") != 0 && !is_utf8_label(p->charset)) {
		if (sx_charset_iconv_name(p->charset))
			reading(labels, &k, max, p->charset);
		else
			sx_rx_unsure(x, "part %s: unknown charset", p->path); /* not quoted */
	}
	/*
	 * Labels are often wrong, and a reader may guess: the bytes as they are
	 * too (UTF-8, and the search knows the Japanese forms), and each
	 * Japanese charset where the bytes are not UTF-8, even where it reads
	 * them with losses (a change in a word it cannot read back then makes
	 * the result unsure).
	 */
	reading(labels, &k, max, "");
	/* us-ascii with 8-bit bytes is windows-1252 to browsers, Thunderbird
	 * and the leak check: a soft hyphen (0xAD) there is invisible and joins
	 * what stands on either side of it. */
	if (eight && (strcasecmp(p->charset, "us-ascii") == 0 || strcasecmp(p->charset, "ascii") == 0))
		reading(labels, &k, max, p->charset);
	if (esc)
		reading(labels, &k, max, "iso-2022-jp");
	if (eight && !sx_utf8_valid(d, n)) {
		reading(labels, &k, max, "cp932");
		reading(labels, &k, max, "euc-jp");
	}
	return (int)k;
}

/* A hash of the label and the bytes, eight at a time (a hit is compared
 * byte for byte all the same). */
static uint64_t conv_hash(const char *label, const uint8_t *in, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15u;
	uint64_t h = n * k;
	for (const char *c = label; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211u;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, in + i, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	uint64_t w = 0;
	memcpy(&w, in + i, n - i);
	h = (h ^ w) * k;
	return h ^ h >> 32;
}

void sx_rx_convs_finish(struct rx_ctx *x)
{
	struct rx_convs *c = &x->convs;
	for (size_t i = 0; c->v && i < RX_CONV_SLOTS; i++)
		free(c->v[i].in);
	free(c->v);
	c->v = NULL;
	c->bytes = 0;
}

/*
 * Appends to out what sx_charset_to_utf8 makes of in (n bytes) in label:
 * the same bytes in the same charset convert alike (the converter keeps no
 * state from one call to the next), so a conversion made before is copied.
 * Keeping one is best effort: no memory, or the bound, keeps nothing.
 */
static int to_utf8(struct rx_ctx *x, const char *label, const uint8_t *in, size_t n,
		   struct sx_buf *out)
{
	struct rx_convs *c = &x->convs;
	if (n == 0 || n > RX_CONV_IN_MAX)
		return sx_charset_to_utf8(label, in, n, out, NULL);
	if (!c->v)
		c->v = calloc(RX_CONV_SLOTS, sizeof *c->v);
	uint64_t h = conv_hash(label, in, n);
	struct rx_conv *e = c->v ? &c->v[h % RX_CONV_SLOTS] : NULL;
	if (e && e->in && e->hash == h && e->inn == n && strcmp(e->label, label) == 0 &&
	    memcmp(e->in, in, n) == 0)
		return sx_buf_append(out, e->in + n, e->outn);
	size_t start = sx_buf_used(out);
	int rc = sx_charset_to_utf8(label, in, n, out, NULL);
	if (rc < 0 || !e)
		return rc;
	size_t on = sx_buf_used(out) - start;
	size_t ll = strlen(label) + 1;
	if (c->bytes + n + on + ll > RX_CONV_BYTES && !(e->in && e->inn + e->outn + strlen(e->label) + 1 >= n + on + ll))
		return 0;
	uint8_t *b = malloc(n + on + ll);
	if (!b)
		return 0;
	memcpy(b, in, n);
	memcpy(b + n, sx_buf_head(out) + start, on);
	memcpy(b + n + on, label, ll);
	if (e->in)
		c->bytes -= e->inn + e->outn + strlen(e->label) + 1;
	free(e->in);
	e->in = b;
	e->inn = n;
	e->outn = on;
	e->hash = h;
	e->label = (const char *)b + n + on;
	c->bytes += n + on + ll;
	return 0;
}

static int blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * A stateless charset (Shift_JIS, EUC-JP, ISO-8859-*, ...) word by word:
 * blanks and line ends are never part of a multi-byte character there, so a
 * change converts back only the words it touches, and bytes a word cannot be
 * read in spoil only that word.
 */
static int words(struct rx_ctx *x, const uint8_t *d, size_t n, struct rx_layer *l,
		 struct rx_charset *ci, struct sx_buf *t)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		size_t j = i;
		int b = blank(d[i]), plain = 1;
		/* sixteen bytes at a time: a line of Japanese text is one word */
		while (n - j >= 16) {
			sx_v16 v;
			memcpy(&v, d + j, 16);
			unsigned bl = sx_v16_mask((sx_v16)((v == ' ') | (v == '\t') | (v == '\r') |
							   (v == '\n')));
			unsigned end = (b ? ~bl : bl) & 0xFFFFu;
			unsigned k = end ? (unsigned)__builtin_ctz(end) : 16;
			if (sx_v16_mask((sx_v16)(v >= 0x80)) & ((1u << k) - 1))
				plain = 0;
			j += k;
			if (end)
				break;
		}
		while (j < n && blank(d[j]) == b) {
			plain &= d[j] < 0x80;
			j++;
		}
		if (plain) {
			rc = sx_rx_layer_seg(l, d + i, j - i, i, j - i, 0, 0);
		} else {
			sx_buf_reset(t, SIZE_MAX);
			rc = to_utf8(x, ci->label, d + i, j - i, t);
			if (rc == 0)
				rc = sx_rx_layer_seg(l, sx_buf_head(t), sx_buf_used(t), i, j - i,
						     1, 0);
		}
		i = j;
	}
	return rc;
}

int sx_rx_charset_layer(struct rx_ctx *x, const uint8_t *d, size_t n, struct rx_layer *l,
			struct rx_charset *ci)
{
	struct sx_buf t;
	unsigned st = 0;
	int rc = 0;

	const char *iname = sx_charset_iconv_name(ci->label);
	ci->jis = iname && strstr(iname, "2022") != NULL;
	l->encode = cs_encode;
	l->enc = RX_ENC_RAW;
	l->arg = ci;
	sx_buf_init(&t, x->scratch);
	if (is_wide_label(ci->label)) {
		rc = sx_charset_to_utf8(ci->label, d, n, &t, NULL);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&t), sx_buf_used(&t), 0, n, 1, 0);
		sx_buf_finish(&t);
		return rc;
	}
	if (!ci->jis) {
		rc = words(x, d, n, l, ci, &t);
		sx_buf_finish(&t);
		return rc;
	}
	for (size_t ls = 0; ls < n && rc == 0;) {
		const uint8_t *lf = memchr(d + ls, '\n', n - ls);
		size_t next = lf ? (size_t)(lf - d) + 1 : n;
		int plain = st == 0;
		for (size_t i = ls; i < next && plain; i++)
			plain = d[i] < 0x80 && d[i] != 0x1b;
		if (plain) {
			rc = sx_rx_layer_seg(l, d + ls, next - ls, ls, next - ls, 0, 0);
			ls = next;
			continue;
		}
		sx_buf_reset(&t, SIZE_MAX);
		uint8_t *line = NULL;
		const uint8_t *src = d + ls;
		size_t sn = next - ls;
		if (ci->jis && st != 0) {
			/* the line goes on in the previous line's shift state */
			size_t el = strlen(jis_states[st]);
			line = malloc(sn + el);
			if (!line) {
				rc = SX_ENOMEM;
				break;
			}
			memcpy(line, jis_states[st], el);
			memcpy(line + el, src, sn);
			src = line;
			sn += el;
		}
		rc = to_utf8(x, ci->label, src, sn, &t);
		free(line);
		if (ci->jis)
			st = jis_scan(d + ls, next - ls, st);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&t), sx_buf_used(&t), ls, next - ls, 1,
					     st);
		ls = next;
	}
	sx_buf_finish(&t);
	return rc;
}
