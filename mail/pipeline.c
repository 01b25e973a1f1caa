#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codec.h"
#include "err.h"
#include "leak.h"
#include "tlsctx.h"

/* Redaction may lengthen the mail (placeholders, re-encoding); this much
 * headroom over the input is allowed before the report is refused. */
static size_t mail_bound(size_t in_len)
{
	return in_len + in_len / 2 + 64 * 1024;
}

static void quarantine(struct sx_report *r, const char *why)
{
	if (!r->quarantined)
		snprintf(r->reason, sizeof r->reason, "%s", why);
	r->quarantined = 1;
}

static void decode_subject(const struct sx_mail *m, struct sx_report *r)
{
	unsigned it = 0;
	const struct sx_hfield *f = sx_mail_field(m, 0, "Subject", &it);
	if (!f)
		return;
	struct sx_buf raw, text;
	sx_buf_init(&raw, 64 * 1024);
	sx_buf_init(&text, 4 * sizeof r->subject);
	if (sx_mail_unfold(m, f, &raw) == 0 &&
	    sx_2047_decode(sx_buf_head(&raw), sx_buf_used(&raw), NULL, &text, NULL) == 0) {
		size_t n = sx_buf_used(&text);
		if (n >= sizeof r->subject) {
			n = sizeof r->subject - 1;
			/* Never cut a UTF-8 sequence in half. */
			while (n > 0 && (sx_buf_head(&text)[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(r->subject, sx_buf_head(&text), n);
		r->subject[n] = '\0';
	}
	sx_buf_finish(&raw);
	sx_buf_finish(&text);
}

static void digest(struct sx_report *r)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(sx_buf_head(&r->mail), sx_buf_used(&r->mail), md, &mdlen, EVP_sha256(), NULL);
	sx_hex(md, sizeof md, r->sha256);
}

/* Where the spam is: a monitor capture is the spam itself; a forwarded
 * report (public or chain) carries it inside the reporter's message. */
static int find_spam(const struct sx_pipeline_conf *c, const struct sx_intake *in,
		     struct sx_mail **outer, struct sx_buf *spam, struct sx_report *r, char *err,
		     size_t errlen)
{
	if (in->source == SX_SRC_MONITOR) {
		r->how = SX_UNWRAP_NONE;
		return sx_buf_append(spam, in->raw, in->len);
	}
	int rc = sx_mail_parse(in->raw, in->len, &c->limits, outer, err, errlen);
	if (rc < 0)
		return rc;
	rc = sx_unwrap(*outer, spam, &r->how);
	if (rc < 0)
		snprintf(err, errlen, "cannot extract the spam: %s", sx_strerror(rc));
	return rc;
}

int sx_pipeline_run(const struct sx_pipeline_conf *c, const struct sx_intake *in,
		    struct sx_report *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	sx_buf_init(&r->mail, mail_bound(in->len));
	if (in->len > c->limits.max_size) {
		snprintf(err, errlen, "message of %zu bytes exceeds the limit of %zu bytes", in->len,
			 c->limits.max_size);
		return SX_ETOOBIG;
	}
	if (in->source < SX_SRC_PUBLIC || in->source > SX_SRC_CHAIN) {
		snprintf(err, errlen, "unknown report source %d", (int)in->source);
		return SX_EINVAL;
	}

	struct sx_mail *outer = NULL, *spam = NULL, *clean = NULL;
	struct sx_buf spam_bytes;
	struct sx_idset *ids = calloc(1, sizeof *ids); /* large: keep it off the stack */
	sx_buf_init(&spam_bytes, mail_bound(in->len));
	int rc = ids ? 0 : SX_ENOMEM;
	if (rc == 0)
		rc = find_spam(c, in, &outer, &spam_bytes, r, err, errlen);
	if (rc == 0)
		rc = sx_mail_parse(sx_buf_head(&spam_bytes), sx_buf_used(&spam_bytes), &c->limits,
				   &spam, err, errlen);
	if (rc < 0)
		goto out;

	sx_idset_init(ids);
	rc = sx_ident_collect(outer, spam, ids);
	for (size_t i = 0; rc == 0 && i < in->nreporters; i++) {
		rc = sx_idset_add_given(ids, in->reporters[i]);
		if (rc == SX_EINVAL) {
			snprintf(err, errlen, "reporter identifier %zu is empty or too long", i + 1);
			goto out;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s", rc == SX_ELIMIT
			 ? "more identifiers than the redactor accepts"
			 : sx_strerror(rc));
		goto out;
	}
	r->idents = ids->n;

	/* Redaction may make the mail longer than the input limit allows; the
	 * redactor's own re-parse, the leak check and analysis get room for it. */
	struct sx_mail_limits after = c->limits;
	after.max_size = mail_bound(in->len);
	rc = sx_redact(sx_buf_head(&spam_bytes), sx_buf_used(&spam_bytes), ids, &after, &r->mail,
		       &r->red, err, errlen);
	if (rc < 0)
		goto out;
	if (r->red.unsure)
		quarantine(r, r->red.unsure_reason);
	if (in->source != SX_SRC_MONITOR && ids->n == 0)
		quarantine(r, "no reporter identifier found: the redaction cannot be vouched for");

	char why[SX_REASON_MAX - 40];
	int verdict = sx_leak_check(sx_buf_head(&r->mail), sx_buf_used(&r->mail), ids, &after,
				    why, sizeof why);
	if (verdict < 0) {
		rc = verdict;
		snprintf(err, errlen, "leak check failed: %s", sx_strerror(rc));
		goto out;
	}
	if (verdict == SX_LEAK_FOUND) {
		char q[SX_REASON_MAX];
		snprintf(q, sizeof q, "leak check found an identifier: %s", why);
		quarantine(r, q);
	} else if (verdict == SX_LEAK_UNDECODABLE) {
		char q[SX_REASON_MAX];
		snprintf(q, sizeof q, "leak check cannot decode: %s", why);
		quarantine(r, q);
	}

	/* Analysis reads only the de-personalized mail. */
	rc = sx_mail_parse(sx_buf_head(&r->mail), sx_buf_used(&r->mail), &after, &clean, err,
			   errlen);
	if (rc < 0)
		goto out;
	rc = sx_received_source(clean, 0, &c->relays, &r->src);
	if (rc == 0 && r->src.found && c->isps)
		sx_lpm_lookup(c->isps, r->src.ip, &r->isp, &r->isp_len);
	if (rc == 0)
		rc = sx_analyze(clean, in->source == SX_SRC_MONITOR, &r->src, &r->an);
	if (rc < 0) {
		snprintf(err, errlen, "analysis failed: %s", sx_strerror(rc));
		goto out;
	}
	decode_subject(clean, r);
	digest(r);
out:
	sx_mail_destroy(clean);
	sx_mail_destroy(spam);
	sx_mail_destroy(outer);
	/* The spam bytes still hold identifiers: do not leave them in freed memory. */
	sx_buf_finish_wipe(&spam_bytes);
	if (ids)
		explicit_bzero(ids, sizeof *ids);
	free(ids);
	return rc;
}

void sx_report_finish(struct sx_report *r)
{
	sx_buf_finish(&r->mail);
}
