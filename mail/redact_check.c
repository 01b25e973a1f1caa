/*
 * redact_check.c: the redactor's last look at its own output.
 *
 * Text is rewritten in the charset it declares (or the one guessed for it),
 * but bytes can be read in others: a name in Shift_JIS inside a part labelled
 * UTF-8, an address in UTF-16 among header bytes. Such forms are not
 * rewritten; where one is seen, the result cannot be vouched for and is
 * unsure. So is an identifier in the raw text of a header or an encoded
 * body that no decoding shows: spelled by the encoding itself ("ab" in
 * "=AB"), or text a base64 decoder skips. UTF-8 forms are otherwise not looked for
 * here: the views cover them, and a miss there is a bug to find, not to
 * paper over.
 */
#include <string.h>

#include "codec.h"
#include "err.h"
#include "redact_impl.h"

/* The bytes of each encoded-word of a header value, joined, as they are
 * before any charset is applied. */
static int word_bytes(struct rx_ctx *x, const uint8_t *v, size_t n, struct sx_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i + 1 < n && rc == 0; i++) {
		if (v[i] != '=' || v[i + 1] != '?')
			continue;
		size_t j = i + 2;
		while (j < n && v[j] != '?')
			j++;
		if (j + 3 > n || v[j + 2] != '?')
			continue;
		char enc = (char)v[j + 1];
		size_t t0 = j + 3, k = t0;
		while (k + 1 < n && !(v[k] == '?' && v[k + 1] == '='))
			k++;
		if (k + 1 >= n)
			break;
		rc = sx_2047_decode_text(enc, v + t0, k - t0, out, NULL);
		if (rc == SX_EINVAL)
			rc = 0;
		i = k + 1;
	}
	return rc;
}

static int look(struct rx_ctx *x, const uint8_t *d, size_t n, const char *path, const char *what)
{
	int hit = 0, rc = sx_rx_other_forms(x, d, n, &hit);
	if (rc == 0 && hit)
		sx_rx_unsure(x, "part %s: identifier in another encoding in %s", path, what);
	return rc;
}

/* Encoded text read as it stands: a short identifier can be spelled by the
 * encoding itself ("ab" in "=AB"), which no rewrite of the content removes. */
static int look_raw(struct rx_ctx *x, const uint8_t *d, size_t n, size_t minlen,
		    const char *path, const char *what)
{
	struct rx_edits e;
	sx_rx_edits_init(&e);
	int rc = sx_rx_search_forms(&x->nd, d, n, RX_ENC_RAW, 1, 1, minlen, &e);
	if (rc == 0 && e.n > 0)
		sx_rx_unsure(x, "part %s: identifier in the raw encoded text of %s", path, what);
	sx_rx_edits_finish(&e);
	return rc;
}

/* The raw encoded text in every view (its tokens, at every alignment, above
 * all): what a decoder did not take is still there to be read. */
static int look_views(struct rx_ctx *x, const struct sx_part *p, const uint8_t *b, size_t n,
		      size_t min)
{
	size_t saved = x->top_min;
	int hit = 0;
	x->top_min = min;
	/* look_raw searched b so and found nothing */
	x->clean_p = b;
	x->clean_n = n;
	x->clean_min = min;
	int rc = sx_rx_inspect(x, p, b, n, &hit);
	x->clean_p = NULL;
	x->top_min = saved;
	if (rc == 0 && hit)
		sx_rx_unsure(x, "part %s: identifier in a reading of the raw encoded body",
			     p->path);
	return rc;
}

/* Base64 (the standard alphabet) and line ends only, '=' only as padding at
 * the end: the decoder took every byte, in the one alignment an encoder's
 * block has, and the decoded body was read in every view already; the raw
 * text's views show nothing more (the other alignments of a block are
 * noise). */
static int whole_block(const uint8_t *b, size_t n)
{
	size_t i = 0;
	while (i < n && ((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z') ||
			 (b[i] >= '0' && b[i] <= '9') || b[i] == '+' || b[i] == '/' ||
			 b[i] == '\r' || b[i] == '\n'))
		i++;
	while (i < n && (b[i] == '=' || b[i] == '\r' || b[i] == '\n'))
		i++;
	return i == n;
}

/* Whether the parts a and b (of ma and mb) are alike: the same place in
 * the tree, type, charset, transfer encoding and header field names. */
static int same_part(const struct sx_mail *ma, const struct sx_part *a, const struct sx_mail *mb,
		     const struct sx_part *b)
{
	if (a->parent != b->parent || a->first_child != b->first_child || a->next != b->next ||
	    a->is_multipart != b->is_multipart || a->cte != b->cte || a->hcount != b->hcount ||
	    strcmp(a->type, b->type) != 0 || strcmp(a->subtype, b->subtype) != 0 ||
	    strcmp(a->charset, b->charset) != 0 || strcmp(a->path, b->path) != 0)
		return 0;
	for (unsigned k = 0; k < a->hcount; k++) {
		const struct sx_hfield *fa = &ma->fields[a->hfirst + k];
		const struct sx_hfield *fb = &mb->fields[b->hfirst + k];
		if (fa->name.len != fb->name.len ||
		    memcmp(ma->buf + fa->name.off, mb->buf + fb->name.off, fa->name.len) != 0)
			return 0;
	}
	return 1;
}

/*
 * A rewrite must not change how the mail parses: re-encoding a body can turn
 * bytes that ended a header into a valid field (its 0xD8 becomes "=D8"), and
 * then a reader sees other parts, charsets and boundaries than the ones the
 * redaction read. The original o (as the redaction parsed it) and the result
 * m, compared part by part.
 */
static void same_shape(struct rx_ctx *x, const struct sx_mail *o, const struct sx_mail *m)
{
	int same = o != NULL && o->nparts == m->nparts && o->no_header == m->no_header &&
		   (o->junk == 0) == (m->junk == 0);
	for (unsigned i = 0; same && i < o->nparts; i++)
		same = same_part(o, &o->parts[i], m, &m->parts[i]);
	if (!same)
		sx_rx_unsure(x, "the redaction changed how the mail parses");
}

/*
 * The checks over mail (len bytes): the whole message at depth 0, an encoded
 * message part's decoded body below it. The parser cannot open a message
 * part in base64 or quoted-printable in place, and the redactor decoded and
 * redacted it as a message of its own (message_body): it is looked at so
 * too, or an identifier spelled by its own encoding ("aa" in a
 * quoted-printable "=AA" of a part inside it) goes unseen.
 */
static int check(struct rx_ctx *x, const uint8_t *mail, size_t len, unsigned depth)
{
	struct sx_mail *m = NULL;
	struct sx_buf d;
	char err[128];
	int rc;

	/* Replacements may have made the mail, and a field, longer than the
	 * limits the original met. */
	struct sx_mail_limits lim;
	if (x->lim)
		lim = *x->lim;
	else
		sx_mail_limits_default(&lim);
	if (lim.max_size < len)
		lim.max_size = len;
	if (lim.max_header_len < len)
		lim.max_header_len = len;
	rc = sx_mail_parse(mail, len, &lim, &m, err, sizeof err);
	if (rc < 0) {
		/* the output outgrew a limit the input met: nothing to vouch with */
		if (rc == SX_ENOMEM)
			return rc;
		sx_rx_unsure(x, depth ? "an attached message cannot be parsed again"
				      : "the redacted mail cannot be parsed again");
		return 0;
	}
	if (depth == 0)
		same_shape(x, x->top, m);
	sx_buf_init(&d, x->scratch);
	if (!x->res->unsure)
		rc = look(x, mail, len, "", "the raw bytes");
	for (unsigned i = 0; i < m->nfields && rc == 0 && !x->res->unsure; i++) {
		const struct sx_hfield *f = &m->fields[i];
		rc = look_raw(x, mail + f->value.off, f->value.len, 0, m->parts[f->part].path,
			      "a header field");
		sx_buf_reset(&d, SIZE_MAX);
		rc = word_bytes(x, mail + f->value.off, f->value.len, &d);
		if (rc == 0 && sx_buf_used(&d) > 0)
			rc = look(x, sx_buf_head(&d), sx_buf_used(&d), m->parts[f->part].path,
				  "an encoded-word");
	}
	for (unsigned i = 0; i < m->nparts && rc == 0 && !x->res->unsure; i++) {
		const struct sx_part *p = &m->parts[i];
		if (p->is_multipart || p->first_child >= 0 ||
		    (p->cte != SX_CTE_QP && p->cte != SX_CTE_BASE64))
			continue;
		sx_buf_reset(&d, SIZE_MAX);
		/* text a decoder skips still shows to whoever reads the raw body;
		 * a clean base64 block spells short strings by chance */
		const uint8_t *b = mail + p->body.off;
		size_t bn = p->body.len;
		size_t min = p->cte == SX_CTE_BASE64 && sx_rx_b64_block(b, bn) ?
			     RX_B64_RAW_MIN : 0;
		rc = look_raw(x, b, bn, min, p->path, "the body");
		if (rc == 0 && !x->res->unsure && !(min && whole_block(b, bn)))
			rc = look_views(x, p, b, bn, min);
		if (rc == 0)
			rc = p->cte == SX_CTE_QP ? sx_qp_decode(b, bn, &d, NULL) :
						   sx_b64_decode(b, bn, 0, &d, NULL);
		if (rc == 0)
			rc = look(x, sx_buf_head(&d), sx_buf_used(&d), p->path, "the body");
		/* the message inside, as the redactor read it (deeper than
		 * RX_DEPTH_MAX it was unsure already) */
		if (rc == 0 && !x->res->unsure && p->is_message && depth + 1 < RX_DEPTH_MAX)
			rc = check(x, sx_buf_head(&d), sx_buf_used(&d), depth + 1);
		/* a base64 body that looks quoted-printable is read so too (the
		 * leak check and a reader of a mislabelled part may): a soft
		 * break there joins what the base64 decoder never shows */
		if (rc == 0 && !x->res->unsure && p->cte == SX_CTE_BASE64 && sx_rx_looks_qp(b, bn)) {
			sx_buf_reset(&d, SIZE_MAX);
			rc = sx_qp_decode(b, bn, &d, NULL);
			if (rc == 0)
				rc = look_raw(x, sx_buf_head(&d), sx_buf_used(&d), min, p->path,
					      "the body read as quoted-printable");
		}
	}
	sx_buf_finish(&d);
	sx_mail_destroy(m);
	return rc;
}

int sx_rx_check(struct rx_ctx *x, const uint8_t *mail, size_t len)
{
	if (x->nd.n == 0 || x->res->unsure)
		return 0;
	return check(x, mail, len, 0);
}
