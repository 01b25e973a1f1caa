/*
 * redact_body.c: the body of a leaf part. Text goes through two layers,
 * transfer encoding (redact_cte.c) and charset (redact_charset.c), and is
 * searched in all its views; an attached message the parser left closed is
 * opened and redacted as a message of its own; anything else is only
 * inspected (redact_binary.c).
 */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "err.h"
#include "redact_impl.h"

/* ---- the part ---- */

/* Text to a reader: text, message other than an attached message, and a
 * "multipart" the parser could not split (no boundary). */
static int is_text(const struct sx_part *p)
{
	return strcmp(p->type, "text") == 0 ||
	       (strcmp(p->type, "message") == 0 && !p->is_message) ||
	       strcmp(p->type, "multipart") == 0;
}

/* Decodes a whole body in transfer encoding cte. */
static int decode_as(enum sx_cte cte, const uint8_t *e, size_t n, struct sx_buf *d)
{
	switch (cte) {
	case SX_CTE_BASE64:
		return sx_b64_decode(e, n, 0, d, NULL);
	case SX_CTE_QP:
		return sx_qp_decode(e, n, d, NULL);
	default:
		return sx_buf_append(d, e, n);
	}
}

static int decode_all(const struct sx_part *p, const uint8_t *e, size_t n, struct sx_buf *d)
{
	return decode_as(p->cte, e, n, d);
}

/* Charset readings of one decoded body tried at most. */
#define READINGS_MAX 5
/* Rounds over all readings before a body counts as not settling. */
#define READING_ROUNDS 4

/* What one reading (transfer encoding, charset) left of the text after its
 * last pass, when every view of it was searched and held nothing: the next
 * round's pass over that reading looks only at what changed since. */
struct memo {
	enum sx_cte cte;
	char label[SX_MIME_TOKEN];
	struct sx_buf text;
	int used;
	/* the body the last pass read when it found nothing (quiet): the same
	 * body read the same way finds nothing again */
	struct sx_buf in;
	int quiet;
};

struct memos {
	struct memo v[3 * READINGS_MAX];
	size_t n;
};

/* Frees the memos; the texts that settled are kept as such (x). */
static void memos_finish(struct rx_ctx *x, struct memos *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		if (ms->v[i].used)
			sx_rx_settled_add(x, sx_buf_head(&ms->v[i].text),
					  sx_buf_used(&ms->v[i].text));
		sx_buf_finish(&ms->v[i].text);
		sx_buf_finish(&ms->v[i].in);
	}
	ms->n = 0;
}

/* The memo of a reading, made empty when new; NULL when there is no room. */
static struct memo *memo_of(struct rx_ctx *x, struct memos *ms, enum sx_cte cte,
			    const char *label)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->v[i].cte == cte && strcmp(ms->v[i].label, label) == 0)
			return &ms->v[i];
	if (ms->n == sizeof ms->v / sizeof ms->v[0])
		return NULL;
	struct memo *m = &ms->v[ms->n++];
	m->cte = cte;
	size_t ll = strnlen(label, sizeof m->label - 1);
	memcpy(m->label, label, ll);
	m->label[ll] = '\0';
	sx_buf_init(&m->text, x->scratch);
	m->used = 0;
	sx_buf_init(&m->in, x->scratch);
	m->quiet = 0;
	return m;
}

/* The transfer-encoding layer of one body, shared by its charset readings
 * while the body stays the same. */
struct cte_pre {
	struct rx_layer l;
	struct rx_cte ci;
	int rc;
	int built;
};

static void pre_drop(struct cte_pre *pre)
{
	if (pre->built)
		sx_rx_layer_finish(&pre->l);
	pre->built = 0;
}

/* Builds pre for body e (n bytes) in cte unless built. */
static void pre_build(struct rx_ctx *x, struct cte_pre *pre, enum sx_cte cte, const uint8_t *e,
		      size_t n)
{
	if (pre->built || (cte != SX_CTE_QP && cte != SX_CTE_BASE64))
		return;
	sx_rx_layer_init(&pre->l, e, n, x->scratch);
	pre->rc = sx_rx_cte_layer(x, cte, e, n, &pre->l, &pre->ci);
	pre->built = 1;
}

/* What one transfer encoding made of the body as the readings last left it:
 * a round that starts from the same body decodes and classifies it alike. */
struct decoded {
	struct sx_buf cur;    /* the body read */
	struct sx_buf d;      /* decoded */
	char labels[READINGS_MAX][SX_MIME_TOKEN];
	int nl;               /* readings; 0: the body does not look so */
	int valid;
	struct cte_pre pre;   /* the transfer-encoding layer of cur, once built */
};

/* Text through its layers, body e read in transfer encoding cte and charset
 * label ("" for none): appends edits of e to out. pre, when built, is the
 * transfer-encoding layer of e. With memo, only what changed since the text
 * the memo holds is searched, and the memo gets the text this pass leaves. */
static int text_pass(struct rx_ctx *x, const struct sx_part *p, enum sx_cte cte, const char *label,
		     const uint8_t *e, size_t n, const struct cte_pre *pre, struct memo *memo,
		     struct rx_edits *out)
{
	struct rx_layer cte_l, cs;
	struct rx_cte cti;
	struct rx_charset csi;
	struct rx_edits t, m;
	int rc = 0, has_cte = 0, has_cs = 0;
	const uint8_t *d = e;
	size_t dn = n;

	sx_rx_layer_init(&cte_l, e, n, x->scratch);
	sx_rx_edits_init(&t);
	sx_rx_edits_init(&m);
	memset(&csi, 0, sizeof csi);
	const struct rx_layer *cl = &cte_l;
	if (cte == SX_CTE_QP || cte == SX_CTE_BASE64) {
		if (pre && pre->built) {
			cl = &pre->l;
			rc = pre->rc;
		} else {
			rc = sx_rx_cte_layer(x, cte, e, n, &cte_l, &cti);
		}
		has_cte = 1;
		d = sx_buf_head(&cl->c);
		dn = sx_buf_used(&cl->c);
	}
	sx_rx_layer_init(&cs, d, dn, x->scratch);
	if (rc == 0 && label[0]) {
		size_t ll = strnlen(label, sizeof csi.label - 1);
		memcpy(csi.label, label, ll);
		csi.label[ll] = '\0';
		rc = sx_rx_charset_layer(x, d, dn, &cs, &csi);
		if (rc == SX_EINVAL) {
			sx_rx_unsure(x, "part %s: text cannot be read in charset %s", p->path,
				     csi.label);
			rc = 0;
		} else {
			has_cs = 1;
		}
	}
	const uint8_t *txt = has_cs ? sx_buf_head(&cs.c) : d;
	size_t tn = has_cs ? sx_buf_used(&cs.c) : dn;
	/* a memo vouches only while nothing went unsure: an edit refused
	 * may have left an identifier in its text */
	int prior = memo && memo->used && !x->res->unsure;
	if (rc == 0 && memo && !x->res->unsure && sx_rx_settled(x, txt, tn)) {
		/* another reading (a charset that reads these bytes alike) left
		 * this very text, and its views hold nothing */
		sx_buf_reset(&memo->text, SIZE_MAX);
		rc = sx_buf_append(&memo->text, txt, tn);
		memo->used = rc == 0;
	} else if (rc == 0 && memo) {
		struct sx_buf left;
		sx_buf_init(&left, x->scratch);
		rc = sx_rx_text_since(x, txt, tn, prior ? sx_buf_head(&memo->text) : NULL,
				      prior ? sx_buf_used(&memo->text) : 0, &t, &left);
		sx_buf_finish(&memo->text);
		memo->text = left;
		memo->used = rc == 0 && (sx_buf_used(&left) > 0 || tn == 0);
		if (memo->used)
			sx_rx_settled_add(x, sx_buf_head(&left), sx_buf_used(&left));
	} else if (rc == 0) {
		rc = sx_rx_text(x, txt, tn, &t);
	}
	if (rc == 0 && t.n > 0) {
		sx_rx_edits_sort(&t);
		if (has_cs) {
			rc = sx_rx_lower(x, &cs, &t, &m);
			sx_rx_edits_finish(&t);
			t = m;
			sx_rx_edits_init(&m);
		}
		if (rc == 0 && has_cte) {
			rc = sx_rx_lower(x, cl, &t, &m);
			sx_rx_edits_finish(&t);
			t = m;
			sx_rx_edits_init(&m);
		}
	}
	if (rc == 0)
		rc = sx_rx_edits_move(out, &t);
	sx_rx_edits_finish(&t);
	sx_rx_edits_finish(&m);
	sx_rx_layer_finish(&cs);
	sx_rx_layer_finish(&cte_l);
	return rc;
}

/*
 * One round of readings of body e: in its transfer encoding and, when
 * guessing, as quoted-printable or base64 when it looks so without saying
 * so; in each charset reading of the decoded bytes. Each reading is a pass
 * over what the ones before made of the body; their edits of e accumulate
 * in acc. Sets *changed when a reading found anything.
 */
/* The body e with the edits acc (sorted here) in transfer encoding cte into
 * dc: decoded and its readings found, unless dc holds that body already
 * (the charset readings' reasons for unsure are given once then, as they
 * were). */
static int decode_readings(struct rx_ctx *x, const struct sx_part *p, const uint8_t *e, size_t n,
			   struct rx_edits *acc, size_t c, enum sx_cte cte, struct decoded *dc,
			   struct sx_buf *tmp)
{
	int rc;
	sx_rx_edits_sort(acc);
	sx_buf_reset(tmp, SIZE_MAX);
	rc = sx_rx_apply(e, n, acc, tmp);
	if (rc < 0)
		return rc;
	if (dc->valid && sx_buf_used(tmp) == sx_buf_used(&dc->cur) &&
	    memcmp(sx_buf_head(tmp), sx_buf_head(&dc->cur), sx_buf_used(tmp)) == 0)
		return 0;
	pre_drop(&dc->pre);
	struct sx_buf sw = dc->cur;
	dc->cur = *tmp;
	*tmp = sw;
	dc->valid = 0;
	dc->nl = 0;
	sx_buf_reset(&dc->d, SIZE_MAX);
	const uint8_t *b = sx_buf_head(&dc->cur);
	size_t bn = sx_buf_used(&dc->cur);
	if ((c == 1 && !sx_rx_looks_qp(b, bn)) || (c == 2 && !sx_rx_looks_b64(b, bn))) {
		dc->valid = 1;
		return 0;
	}
	rc = decode_as(cte, b, bn, &dc->d);
	if (rc < 0)
		return rc;
	dc->nl = sx_rx_charset_readings(x, p, sx_buf_head(&dc->d), sx_buf_used(&dc->d),
					dc->labels, READINGS_MAX);
	dc->valid = 1;
	return 0;
}

static int readings_round(struct rx_ctx *x, const struct sx_part *p, const uint8_t *e, size_t n,
			  int guess, struct memos *ms, struct decoded *dcs, struct rx_edits *acc,
			  int *changed)
{
	const enum sx_cte ctes[] = { p->cte, SX_CTE_QP, SX_CTE_BASE64 };
	struct rx_edits more, both;
	struct sx_buf tmp;
	int rc = 0;

	sx_buf_init(&tmp, x->scratch);
	for (size_t c = 0; c < (guess ? 3u : 1u) && rc == 0; c++) {
		if (c > 0 && ctes[c] == p->cte)
			continue;
		/* the body as the readings so far left it, decoded, and its
		 * readings: made again only when a reading changed it */
		struct decoded *dc = &dcs[c];
		int stale = 1;
		for (int li = 0, nl = 1; li < nl && rc == 0; li++) {
			if (stale) {
				rc = decode_readings(x, p, e, n, acc, c, ctes[c], dc, &tmp);
				if (rc < 0 || dc->nl == 0)
					break;
				nl = dc->nl;
				stale = 0;
			}
			char (*labels)[SX_MIME_TOKEN] = dc->labels;
			const uint8_t *b = sx_buf_head(&dc->cur);
			size_t bn = sx_buf_used(&dc->cur);
			sx_rx_edits_init(&more);
			sx_rx_edits_init(&both);
			struct memo *mo = memo_of(x, ms, ctes[c], labels[li]);
			int again = mo && mo->quiet && !x->res->unsure && sx_buf_used(&mo->in) == bn &&
				    memcmp(sx_buf_head(&mo->in), b, bn) == 0;
			if (!again) {
				pre_build(x, &dc->pre, ctes[c], b, bn);
				rc = text_pass(x, p, ctes[c], labels[li], b, bn, &dc->pre, mo, &more);
			}
			if (rc == 0 && mo && !again) {
				/* a pass is a function of the body it reads (and of what
				 * nothing changes: the identifiers, the reading) */
				sx_buf_reset(&mo->in, SIZE_MAX);
				mo->quiet = more.n == 0 && !x->res->unsure &&
					    sx_buf_append(&mo->in, b, bn) == 0;
			}
			if (rc == 0 && more.n > 0) {
				sx_rx_edits_sort(&more);
				rc = sx_rx_compose(x, e, n, acc, &more, &both);
				sx_rx_edits_finish(acc);
				*acc = both;
				sx_rx_edits_init(&both);
				*changed = 1;
				stale = 1;
			}
			sx_rx_edits_finish(&more);
			sx_rx_edits_finish(&both);
		}
	}
	sx_buf_finish(&tmp);
	return rc;
}

/*
 * A text body, read every way a reader could, round after round: a
 * re-encoding can spell anew what an earlier reading removed (a short
 * identifier in a quoted-printable escape), so again until a round changes
 * nothing. Then the forms that nothing rewrites are inspected.
 */
static int text_body(struct rx_ctx *x, const struct sx_part *p, const uint8_t *e, size_t n,
		     int guess, struct rx_edits *out)
{
	struct rx_edits acc;
	struct sx_buf cur, d;
	struct memos ms;
	struct decoded dcs[3];
	int rc = 0, changed = 1, round;

	ms.n = 0;
	for (size_t c = 0; c < 3; c++) {
		sx_buf_init(&dcs[c].cur, x->scratch);
		sx_buf_init(&dcs[c].d, x->scratch);
		dcs[c].nl = 0;
		dcs[c].valid = 0;
		dcs[c].pre.built = 0;
	}
	sx_rx_edits_init(&acc);
	for (round = 0; changed && round < READING_ROUNDS && rc == 0; round++) {
		changed = 0;
		rc = readings_round(x, p, e, n, guess, &ms, dcs, &acc, &changed);
	}
	memos_finish(x, &ms);
	if (rc == 0 && changed && round == READING_ROUNDS)
		sx_rx_unsure(x, "part %s: its readings keep changing it", p->path);
	/* what a reader sees of the result, for the forms nothing rewrites:
	 * the last round's decoding when it read this very body */
	sx_rx_edits_sort(&acc);
	sx_buf_init(&cur, x->scratch);
	sx_buf_init(&d, x->scratch);
	if (rc == 0)
		rc = sx_rx_apply(e, n, &acc, &cur);
	const struct decoded *d0 = &dcs[0];
	int same = rc == 0 && d0->valid && d0->nl > 0 && sx_buf_used(&d0->cur) == sx_buf_used(&cur) &&
		   memcmp(sx_buf_head(&d0->cur), sx_buf_head(&cur), sx_buf_used(&cur)) == 0;
	if (rc == 0 && !same)
		rc = decode_all(p, sx_buf_head(&cur), sx_buf_used(&cur), &d);
	if (rc == 0)
		rc = same ? sx_rx_text_forms(x, p, sx_buf_head(&d0->d), sx_buf_used(&d0->d)) :
			    sx_rx_text_forms(x, p, sx_buf_head(&d), sx_buf_used(&d));
	if (rc == 0)
		rc = sx_rx_edits_move(out, &acc);
	sx_rx_edits_finish(&acc);
	sx_buf_finish(&cur);
	sx_buf_finish(&d);
	for (size_t c = 0; c < 3; c++) {
		pre_drop(&dcs[c].pre);
		sx_buf_finish(&dcs[c].cur);
		sx_buf_finish(&dcs[c].d);
	}
	return rc;
}

/* An attached message the parser left closed (transfer-encoded): opened,
 * redacted as a message of its own, and encoded again whole. */
static int message_body(struct rx_ctx *x, const struct sx_mail *m, const struct sx_part *p,
			const uint8_t *e, size_t n, struct rx_edits *out)
{
	struct sx_buf d, nd, ne;
	struct rx_edits sub;
	int rc;

	if (x->depth >= RX_DEPTH_MAX) {
		sx_rx_unsure(x, "part %s: attached messages nested too deep", p->path);
		return 0;
	}
	sx_buf_init(&d, x->scratch);
	sx_buf_init(&nd, x->scratch);
	sx_buf_init(&ne, x->scratch);
	sx_rx_edits_init(&sub);
	rc = decode_all(p, e, n, &d);
	if (rc == 0) {
		char err[128];
		const char *path = x->path;
		x->depth++;
		rc = sx_rx_mail(x, sx_buf_head(&d), sx_buf_used(&d), &sub, err, sizeof err);
		x->depth--;
		x->path = path;
		if (rc == SX_ELIMIT || rc == SX_ETOOBIG) {
			sx_rx_unsure(x, "part %s: attached message cannot be parsed", p->path);
			rc = 0;
		}
	}
	if (rc == 0 && sub.n > 0) {
		unsigned count = 0;
		for (size_t i = 0; i < sub.n; i++)
			count += sub.v[i].count;
		rc = sx_rx_apply(sx_buf_head(&d), sx_buf_used(&d), &sub, &nd);
		/* the body's own line length and ends, and its own ending */
		struct rx_cte ci;
		struct rx_layer l;
		uint8_t enc = p->cte == SX_CTE_BASE64 ? RX_ENC_B64 :
			      p->cte == SX_CTE_QP ? RX_ENC_QP : RX_ENC_RAW;
		sx_rx_layer_init(&l, e, n, x->scratch);
		memset(&ci, 0, sizeof ci);
		memcpy(ci.eol, "\r\n", 3);
		if (rc == 0 && enc != RX_ENC_RAW)
			rc = sx_rx_cte_layer(x, p->cte, e, n, &l, &ci);
		sx_rx_layer_finish(&l);
		if (rc == 0)
			rc = sx_rx_cte_encode(p->cte, &ci, sx_buf_head(&nd), sx_buf_used(&nd),
					      &ne);
		size_t el = strlen(ci.eol);
		int had = n >= el && memcmp(e + n - el, ci.eol, el) == 0;
		int has = sx_buf_used(&ne) >= el &&
			  memcmp(sx_buf_head(&ne) + sx_buf_used(&ne) - el, ci.eol, el) == 0;
		if (rc == 0 && enc == RX_ENC_B64 && had && !has)
			rc = sx_buf_append(&ne, ci.eol, el);
		else if (rc == 0 && enc == RX_ENC_B64 && !had && has)
			ne.len -= el;
		if (rc == 0)
			rc = sx_rx_edits_add(out, 0, n, sx_buf_head(&ne), sx_buf_used(&ne), count,
					     sub.v[0].kind, sub.v[0].enc != RX_ENC_RAW ?
					     sub.v[0].enc : enc, sub.v[0].addr);
	}
	sx_rx_edits_finish(&sub);
	sx_buf_finish(&d);
	sx_buf_finish(&nd);
	sx_buf_finish(&ne);
	return rc;
}

int sx_rx_body(struct rx_ctx *x, const struct sx_mail *m, int pi, struct rx_edits *out)
{
	const struct sx_part *p = &m->parts[pi];
	const uint8_t *e = m->buf + p->body.off;
	size_t n = p->body.len;
	struct rx_edits pe;
	int rc = 0;

	x->path = p->path;
	sx_rx_edits_init(&pe);
	if (p->cte == SX_CTE_OTHER) {
		sx_rx_unsure(x, "part %s: transfer encoding cannot be decoded", p->path);
		/* what can be seen as it is still goes */
		rc = sx_rx_text(x, e, n, &pe);
	} else if (p->is_message && p->first_child < 0) {
		rc = message_body(x, m, p, e, n, &pe);
	} else if (is_text(p)) {
		rc = text_body(x, p, e, n, 1, &pe);
	} else {
		struct sx_buf d;
		sx_buf_init(&d, x->scratch);
		rc = decode_all(p, e, n, &d);
		if (rc == 0)
			rc = sx_rx_binary(x, p, sx_buf_head(&d), sx_buf_used(&d), e, n);
		sx_buf_finish(&d);
	}
	for (size_t i = 0; i < pe.n; i++) {
		pe.v[i].off += p->body.off;
		pe.v[i].part = pi;
		pe.v[i].where = NULL;
	}
	if (rc == 0)
		rc = sx_rx_edits_move(out, &pe);
	sx_rx_edits_finish(&pe);
	return rc;
}

int sx_rx_region(struct rx_ctx *x, const uint8_t *e, size_t n, struct rx_edits *out)
{
	struct sx_part p;
	memset(&p, 0, sizeof p);
	snprintf(p.path, sizeof p.path, "%s", x->path);
	memcpy(p.type, "text", 5);
	memcpy(p.subtype, "plain", 6);
	p.cte = SX_CTE_7BIT;
	return text_body(x, &p, e, n, 0, out);
}
