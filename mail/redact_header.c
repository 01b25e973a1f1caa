/*
 * redact_header.c: one header field as a layer over its value.
 *
 * The value is cut into plain ASCII (identity), runs of RFC 2047
 * encoded-words (decoded; a change re-encodes the run in its own charset and
 * B or Q) and runs of raw ISO-2022-JP (decoded; a change converts the run
 * back). Raw 8-bit text is searched as it is, in every form the search
 * knows, and then read word by word in the part's charset and each Japanese
 * one (a change converts the word back). Line ends of folding are left out
 * of the decoded text, so a name folded between its words is still found.
 * The field name is never touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "codec.h"
#include "err.h"
#include "redact_impl.h"

#define HDR_RUNS_MAX 64
#define HDR_CHARSET_MAX 64

struct hrun {
	char charset[HDR_CHARSET_MAX]; /* as the field wrote it (encoded-words) or guessed */
	char enc;                      /* 'B', 'Q', or 0 for raw text in charset */
	int lf;                        /* the field's line ends are bare LF */
	int bytes;                     /* encoded-words read as bytes, not in their charset */
};

/* The reading of a field that takes its encoded-words' bytes as they are. */
#define HDR_BYTES "=bytes"
/* The reading of a field as the text it is, encoded-words undecoded. */
#define HDR_RAW "=raw"
/* The value as its bytes, folds kept: where a fold joins two base64 runs
 * into one for a reader of the raw lines (and for the leak check), the
 * unfolded text has a blank between them. */
#define HDR_FOLDS "=folds"

struct hdr {
	struct hrun runs[HDR_RUNS_MAX];
	size_t nruns;
};

static int is_lwsp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parses an encoded-word at v[i] the way the codec's decoder (and readers)
 * take one: its text runs to the first "?=" and may hold blanks, but no line
 * end and no start of another word. Returns its end, 0 when there is none;
 * sets the charset (without an RFC 2231 language), the encoding and the text.
 */
static size_t eword(const uint8_t *v, size_t n, size_t i, char *cs, char *enc, size_t *t0,
		    size_t *t1)
{
	if (i + 2 > n || v[i] != '=' || v[i + 1] != '?')
		return 0;
	size_t j = i + 2, c0 = j;
	while (j < n && v[j] > ' ' && v[j] < 0x7f && v[j] != '?')
		j++;
	size_t cl = j - c0;
	if (cl == 0 || cl >= HDR_CHARSET_MAX || j + 3 > n || v[j] != '?')
		return 0;
	const uint8_t *star = memchr(v + c0, '*', cl);
	if (star)
		cl = (size_t)(star - (v + c0));
	if (cl == 0)
		return 0;
	memcpy(cs, v + c0, cl);
	cs[cl] = '\0';
	char e = (char)(v[j + 1] & ~0x20);
	if ((e != 'B' && e != 'Q') || v[j + 2] != '?')
		return 0;
	*enc = e;
	j += 3;
	*t0 = j;
	for (; j + 1 < n; j++) {
		if (v[j] == '?' && v[j + 1] == '=') {
			*t1 = j;
			return j + 2;
		}
		if (v[j] == '\r' || v[j] == '\n')
			return 0;
		if (v[j] == '=' && v[j + 1] == '?' && (j + 2 >= n || v[j + 2] != '='))
			return 0;
	}
	return 0;
}

/* One encoded-word holding bytes as they are, under the label they had. */
static int word_of_bytes(const struct hrun *r, const uint8_t *in, size_t n, struct sx_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char head[HDR_CHARSET_MAX + 8];
	int k = snprintf(head, sizeof head, "=?%s?%c?", r->charset, r->enc);
	int rc = sx_buf_append(out, head, (size_t)k);
	if (rc == 0 && r->enc == 'B')
		rc = sx_b64_encode(in, n, 0, "\r\n", 0, out);
	for (size_t i = 0; rc == 0 && r->enc == 'Q' && i < n; i++) {
		uint8_t c = in[i];
		int plain = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
			    c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
		char e[3] = { '=', hex[c >> 4], hex[c & 15] };
		rc = c == ' ' ? sx_buf_append(out, "_", 1) :
		     plain ? sx_buf_append(out, &c, 1) : sx_buf_append(out, e, 3);
	}
	if (rc == 0)
		rc = sx_buf_append(out, "?=", 2);
	return rc;
}

static int hdr_encode(struct rx_ctx *x, const struct rx_layer *l, size_t first, size_t last,
		      const uint8_t *in, size_t n, struct sx_buf *out)
{
	const struct hdr *h = l->arg;
	size_t k = first;
	while (k < last && !l->seg[k].coded)
		k++;
	const struct hrun *r = &h->runs[l->seg[k].info];
	size_t start = sx_buf_used(out);
	int rc;

	if (r->enc == 0)
		return sx_charset_from_utf8(r->charset, in, n, out);
	if (r->bytes)
		return word_of_bytes(r, in, n, out);
	rc = sx_2047_encode(in, n, r->charset, r->enc, out);
	if (rc == SX_EINVAL) {
		out->len = out->off + start;
		rc = sx_2047_encode(in, n, "utf-8", r->enc, out);
	}
	if (rc < 0 || !r->lf)
		return rc;
	/* The field's own line ends in the folding. */
	size_t w = out->off + start;
	for (size_t i = w; i < out->len; i++)
		if (!(out->data[i] == '\r' && i + 1 < out->len && out->data[i + 1] == '\n'))
			out->data[w++] = out->data[i];
	out->len = w;
	return 0;
}

/* The index of the run description (charset, encoding), shared by every
 * run alike. */
static int add_run(struct hdr *h, const char *cs, char enc, int lf, int bytes, unsigned *info)
{
	for (size_t i = 0; i < h->nruns; i++) {
		const struct hrun *r = &h->runs[i];
		if (r->enc == enc && r->lf == lf && r->bytes == bytes &&
		    strcmp(r->charset, cs) == 0) {
			*info = (unsigned)i;
			return 0;
		}
	}
	if (h->nruns == HDR_RUNS_MAX)
		return SX_ELIMIT;
	struct hrun *r = &h->runs[h->nruns];
	snprintf(r->charset, sizeof r->charset, "%s", cs);
	r->enc = enc;
	r->lf = lf;
	r->bytes = bytes;
	*info = (unsigned)h->nruns++;
	return 0;
}

/* Decodes the run of encoded-words starting at v[i]; returns its end. */
static int ewords(struct rx_ctx *x, struct hdr *h, struct rx_layer *l, const uint8_t *v, size_t n,
		  size_t i, int lf, int as_bytes, size_t *end)
{
	char cs[HDR_CHARSET_MAX], cs0[HDR_CHARSET_MAX], enc, enc0 = 0;
	struct sx_buf raw, txt;
	size_t t0, t1, j = i, e, last = i;
	int rc = 0, known = 1;

	sx_buf_init(&raw, x->scratch);
	sx_buf_init(&txt, x->scratch);
	cs0[0] = '\0';
	while ((e = eword(v, n, j, cs, &enc, &t0, &t1)) != 0 && rc == 0) {
		if (enc0 == 0)
			enc0 = enc;
		if (!as_bytes && cs0[0] && strcasecmp(cs, cs0) != 0) {
			/* another charset: convert what the previous one held */
			rc = sx_charset_to_utf8(cs0, sx_buf_head(&raw), sx_buf_used(&raw), &txt,
						NULL);
			sx_buf_reset(&raw, SIZE_MAX);
		}
		if (!sx_charset_iconv_name(cs))
			known = 0;
		memcpy(cs0, cs, sizeof cs0);
		if (rc == 0)
			rc = sx_2047_decode_text(enc, v + t0, t1 - t0, &raw, NULL);
		last = e;
		j = e;
		while (j < n && is_lwsp(v[j]))
			j++;
		if (j == n)
			break;
	}
	if (rc == 0 && as_bytes) {
		/* the bytes themselves, whatever the labels say */
		rc = sx_buf_append(&txt, sx_buf_head(&raw), sx_buf_used(&raw));
		known = 1;
	} else if (rc == 0 && known) {
		rc = sx_charset_to_utf8(cs0, sx_buf_head(&raw), sx_buf_used(&raw), &txt, NULL);
	}
	*end = last;
	if (rc == 0 && !known) {
		/* Cannot be read, so cannot be vouched for: searched as it is. */
		sx_rx_unsure(x, "part %s: header encoded-word in unknown charset", x->path);
		rc = sx_rx_layer_seg(l, v + i, last - i, i, last - i, 0, 0);
	} else if (rc == SX_EINVAL) {
		sx_rx_unsure(x, "part %s: header encoded-word cannot be decoded", x->path);
		rc = sx_rx_layer_seg(l, v + i, last - i, i, last - i, 0, 0);
	} else if (rc == 0) {
		unsigned info;
		rc = add_run(h, cs0, enc0, lf, as_bytes, &info);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&txt), sx_buf_used(&txt), i,
					     last - i, 1, info);
		if (rc == 0)
			l->seg[l->nseg - 1].enc = enc0 == 'B' ? RX_ENC_2047B : RX_ENC_2047Q;
	}
	sx_buf_finish(&raw);
	sx_buf_finish(&txt);
	return rc;
}

/*
 * Raw ISO-2022-JP in the field (old Japanese mailers wrote it unencoded),
 * from v[i] to past the return to ASCII on its line, decoded. Other raw
 * 8-bit text stays as it is: the search knows the Japanese forms of every
 * identifier, whichever charset wrote them.
 */
static int raw_jis(struct rx_ctx *x, struct hdr *h, struct rx_layer *l, const uint8_t *v, size_t n,
		   size_t i, int lf, size_t *end)
{
	size_t le = i, last = i + 1;
	while (le < n && v[le] != '\r' && v[le] != '\n')
		le++;
	for (size_t k = i; k < le; k++) {
		if (v[k] != 0x1b)
			continue;
		int ascii = k + 2 < le && v[k + 1] == '(' && (v[k + 2] == 'B' || v[k + 2] == 'J');
		last = ascii ? k + 3 : le;
	}
	/* Still in a two-byte set at the end of a folded line: a reader that
	 * unfolds first reads on across the fold, its pairs shifted by the
	 * blank that folded, and finds what this line-by-line reading cannot
	 * vouch for. */
	if (last == le && le < n)
		sx_rx_unsure(x, "part %s: raw ISO-2022-JP in a header runs across a fold",
			     x->path);
	/* An encoded-word inside the run is decoded by readers all the same:
	 * the run ends before it, so that it is searched as one, and such a
	 * field cannot be vouched for. */
	for (size_t k = i + 1; k < last; k++) {
		char cs[HDR_CHARSET_MAX], enc;
		size_t t0, t1;
		if (v[k] == '=' && eword(v, n, k, cs, &enc, &t0, &t1) != 0) {
			sx_rx_unsure(x, "part %s: header encoded-word inside raw ISO-2022-JP",
				     x->path);
			last = k;
			break;
		}
	}
	*end = last;

	struct sx_buf txt;
	size_t bad = 0;
	unsigned info;
	sx_buf_init(&txt, x->scratch);
	int rc = sx_charset_to_utf8("iso-2022-jp", v + i, last - i, &txt, &bad);
	if (rc == 0 && bad == 0) {
		rc = add_run(h, "iso-2022-jp", 0, lf, 0, &info);
		if (rc == 0)
			rc = sx_rx_layer_seg(l, sx_buf_head(&txt), sx_buf_used(&txt), i,
					     last - i, 1, info);
	} else if (rc == 0 || rc == SX_EINVAL) {
		/* A reader decodes what it can of a run with bytes ISO-2022-JP
		 * does not allow and shows the rest: its pairs are text no
		 * rewrite here can reach. */
		if (rc == 0)
			sx_rx_unsure(x, "part %s: raw ISO-2022-JP in a header does not decode",
				     x->path);
		rc = sx_rx_layer_seg(l, v + i, last - i, i, last - i, 0, 0);
	}
	sx_buf_finish(&txt);
	return rc;
}

/* A word of raw 8-bit text from v[i] (to the next blank or line end), read
 * in charset cs: a change converts the word back. */
static int raw_word(struct rx_ctx *x, struct hdr *h, struct rx_layer *l, const uint8_t *v,
		    size_t n, size_t i, const char *cs, int lf, size_t *end)
{
	size_t j = i;
	while (j < n && v[j] != ' ' && v[j] != '\t' && v[j] != '\r' && v[j] != '\n')
		j++;
	*end = j;
	struct sx_buf txt;
	unsigned info;
	sx_buf_init(&txt, x->scratch);
	int rc = sx_charset_to_utf8(cs, v + i, j - i, &txt, NULL);
	if (rc == 0)
		rc = add_run(h, cs, 0, lf, 0, &info);
	if (rc == 0)
		rc = sx_rx_layer_seg(l, sx_buf_head(&txt), sx_buf_used(&txt), i, j - i, 1, info);
	sx_buf_finish(&txt);
	return rc;
}

/* The value as a layer; raw 8-bit words read in cs, or as they are when cs
 * is "". */
static int build(struct rx_ctx *x, struct hdr *h, struct rx_layer *l, const uint8_t *v, size_t n,
		 const char *cs, int lf)
{
	size_t run = 0, i = 0, e, t0, t1;
	char ecs[HDR_CHARSET_MAX], enc;
	int rc = 0;

	if (strcmp(cs, HDR_FOLDS) == 0)
		return sx_rx_layer_seg(l, v, n, 0, n, 0, 0);
	int plain = strcmp(cs, HDR_RAW) == 0;
	while (i < n && rc == 0) {
		uint8_t c = v[i];
		if (plain && c != '\r' && c != '\n') {
			i++;
			continue;
		}
		/* Readers (and sx_mail_unfold) unfold by removing a line end and
		 * a CR right before it: a CR elsewhere is text, and joins a base64
		 * run to the one after the fold ("9Z\r \n\tHRhc..." reads
		 * "9Z\r \tHRhc..."). */
		if (c == '\r' && (i + 1 >= n || v[i + 1] != '\n')) {
			i++;
			continue;
		}
		int ew = c == '=' && eword(v, n, i, ecs, &enc, &t0, &t1) != 0;
		/* in a charset reading, escapes are bytes of the words they are in */
		int reading = cs[0] && cs[0] != '=';
		int raw = (c >= 0x80 || c == 0x1b) && reading;
		if (!(c == '\r' || c == '\n' || ew || c == 0x1b || raw)) {
			i++;
			continue;
		}
		/* a word's ASCII head goes with it */
		size_t w = i;
		while (raw && w > run && v[w - 1] != ' ' && v[w - 1] != '\t' && v[w - 1] != '\r' &&
		       v[w - 1] != '\n')
			w--;
		if (w > run)
			rc = sx_rx_layer_seg(l, v + run, w - run, run, w - run, 0, 0);
		if (rc < 0)
			break;
		if (c == '\r' || c == '\n')
			e = i + 1;  /* folding: left out of the text */
		else if (ew)
			rc = ewords(x, h, l, v, n, i, lf, strcmp(cs, HDR_BYTES) == 0, &e);
		else if (raw)
			rc = raw_word(x, h, l, v, n, w, cs, lf, &e);
		else
			rc = raw_jis(x, h, l, v, n, i, lf, &e);
		if (rc == 0 && e <= i)
			return SX_EAGAIN; /* a reading that does not move on: see header_pass */
		i = run = e;
	}
	if (rc == 0 && n > run)
		rc = sx_rx_layer_seg(l, v + run, n - run, run, n - run, 0, 0);
	return rc;
}

/* One reading of value v: edits of v appended to out. */
static int header_pass(struct rx_ctx *x, const uint8_t *v, size_t n, const char *cs, int lf,
		       struct rx_edits *out)
{
	struct hdr *h = malloc(sizeof *h);
	struct rx_layer l;
	struct rx_edits te;
	int rc;

	if (!h)
		return SX_ENOMEM;
	h->nruns = 0; /* add_run writes each run it counts */
	sx_rx_layer_init(&l, v, n, x->scratch);
	l.encode = hdr_encode;
	l.arg = h;
	l.enc = RX_ENC_RAW;
	sx_rx_edits_init(&te);
	rc = build(x, h, &l, v, n, cs, lf);
	if (rc == SX_ELIMIT || rc == SX_EAGAIN) {
		/* More runs than we keep apart, or a reading that stood still
		 * (never expected; bounded all the same): the field as it is. */
		sx_rx_layer_finish(&l);
		sx_rx_layer_init(&l, v, n, x->scratch);
		h->nruns = 0;
		sx_rx_unsure(x, rc == SX_ELIMIT ? "part %s: header field with too many encoded runs"
						: "part %s: a reading of a header field stood still",
			     x->path);
		rc = sx_rx_layer_seg(&l, v, n, 0, n, 0, 0);
	}
	if (rc == 0)
		rc = sx_rx_text(x, sx_buf_head(&l.c), sx_buf_used(&l.c), &te);
	if (rc == 0 && te.n > 0) {
		sx_rx_edits_sort(&te);
		rc = sx_rx_lower(x, &l, &te, out);
	}
	sx_rx_edits_finish(&te);
	sx_rx_layer_finish(&l);
	free(h);
	return rc;
}

/*
 * Readers (and the leak check) take an encoded-word more loosely than eword:
 * any bytes in the label, line ends and "=?" in the text. One that only the
 * loose reading finds is malformed and is never decoded here: unsure.
 */
static void loose_ewords(struct rx_ctx *x, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (v[i] != '=' || v[i + 1] != '?')
			continue;
		size_t q = i + 2;
		while (q < n && v[q] != '?' && q - (i + 2) < 2 * HDR_CHARSET_MAX)
			q++;
		if (q == i + 2 || q + 2 >= n || v[q] != '?' || v[q + 2] != '?')
			continue;
		char e = (char)(v[q + 1] & ~0x20);
		if (e != 'B' && e != 'Q')
			continue;
		const uint8_t *t = v + q + 3;
		if (!memmem(t, n - (size_t)(t - v), "?=", 2))
			return; /* none further on has an end either */
		char cs[HDR_CHARSET_MAX], enc;
		size_t t0, t1, end = eword(v, n, i, cs, &enc, &t0, &t1);
		if (end == 0) {
			sx_rx_unsure(x, "part %s: malformed header encoded-word", x->path);
			return;
		}
		i = end - 1;
	}
}

/* Readings of a field tried at most. */
#define HDR_READINGS 7

/* Whether a fold in v has base64 characters on either side of it, past the
 * blanks and bare CRs before it: the raw lines then hold runs that the
 * unfolded text splits or joins otherwise ("Z9\r \r\n\tHRhc" unfolds to
 * one run "Z9\r \tHRhc"; as the bytes stand, "HRhc" starts a run). */
static int fold_joins(const uint8_t *v, size_t n)
{
	for (const uint8_t *p = memchr(v, '\n', n); p; p = memchr(p + 1, '\n', n - (size_t)(p + 1 - v))) {
		size_t i = (size_t)(p - v), a = i, b = i + 1;
		while (a > 0 && (v[a - 1] == '\r' || v[a - 1] == ' ' || v[a - 1] == '\t'))
			a--;
		while (b < n && (v[b] == ' ' || v[b] == '\t'))
			b++;
		if (a > 0 && b < n && sx_rx_b64ch(v[a - 1]) && sx_rx_b64ch(v[b]))
			return 1;
	}
	return 0;
}

int sx_rx_header(struct rx_ctx *x, const struct sx_mail *m, const struct sx_hfield *f,
		 struct rx_edits *out)
{
	const uint8_t *v = m->buf + f->value.off;
	size_t n = f->value.len;
	const uint8_t *rawend = m->buf + f->raw.off + f->raw.len;
	int lf = f->raw.len >= 1 && rawend[-1] == '\n' && (f->raw.len < 2 || rawend[-2] != '\r');
	const char *partcs = m->parts[f->part].charset;
	struct rx_edits acc, more, both;
	struct sx_buf cur;
	int rc, eight = 0;

	if (x->nd.n == 0)
		return 0;
	/* The name is never changed; one that names someone, in any view (a
	 * base64 token in a garbled name decodes for readers too), cannot be
	 * vouched for. */
	struct rx_edits nm;
	sx_rx_edits_init(&nm);
	rc = sx_rx_views(x, m->buf + f->name.off, f->name.len, &nm);
	if (nm.n > 0)
		sx_rx_unsure(x, "part %s: identifier in a header field name", x->path);
	sx_rx_edits_finish(&nm);
	if (rc < 0 || n == 0)
		return rc;
	loose_ewords(x, v, n);
	int esc = memchr(v, 0x1b, n) != NULL;
	for (size_t i = 0; i < n && !eight; i++)
		eight = v[i] >= 0x80;

	/*
	 * Raw 8-bit text as it is (the search knows the Japanese forms), then in
	 * the part's charset and each Japanese one (full-width letters, for one,
	 * only show once read), then encoded-words as the bytes they hold
	 * whatever their label says, and as the text they are (a token in a
	 * broken one); each reading over what the ones before made.
	 */
	const char *readings[HDR_READINGS] = { "", NULL, "cp932", "euc-jp", NULL, NULL, NULL };
	if (fold_joins(v, n))
		readings[6] = HDR_FOLDS;
	for (size_t i = 0; i + 1 < n && !readings[4]; i++)
		if ((v[i] == '=' && v[i + 1] == '?') || v[i] == 0x1b)
			readings[4] = HDR_BYTES, readings[5] = HDR_RAW;
	if (partcs[0] && strcasecmp(partcs, "us-ascii") != 0 && sx_charset_iconv_name(partcs) &&
	    strcasecmp(partcs, "cp932") != 0 && strcasecmp(partcs, "euc-jp") != 0)
		readings[1] = partcs;
	sx_rx_edits_init(&acc);
	sx_buf_init(&cur, x->scratch);
	for (size_t r = 0; r < HDR_READINGS && rc == 0; r++) {
		if (!readings[r] || (r > 0 && r < 4 && !eight && !esc))
			continue;
		sx_rx_edits_sort(&acc);
		sx_buf_reset(&cur, SIZE_MAX);
		rc = sx_rx_apply(v, n, &acc, &cur);
		sx_rx_edits_init(&more);
		sx_rx_edits_init(&both);
		if (rc == 0)
			rc = header_pass(x, sx_buf_head(&cur), sx_buf_used(&cur), readings[r], lf,
					 &more);
		if (rc == 0 && more.n > 0) {
			sx_rx_edits_sort(&more);
			rc = sx_rx_compose(x, v, n, &acc, &more, &both);
			sx_rx_edits_finish(&acc);
			acc = both;
			sx_rx_edits_init(&both);
		}
		sx_rx_edits_finish(&more);
		sx_rx_edits_finish(&both);
	}
	sx_buf_finish(&cur);
	for (size_t i = 0; i < acc.n && rc == 0; i++) {
		struct rx_edit *e = &acc.v[i];
		e->off += f->value.off;
		e->part = f->part;
		e->where = m->buf + f->name.off;
		e->wlen = f->name.len;
	}
	if (rc == 0)
		rc = sx_rx_edits_move(out, &acc);
	sx_rx_edits_finish(&acc);
	return rc;
}
