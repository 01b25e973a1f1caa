/*
 * sink_notice.c: what the ISP notice sinks (ARF and XARF, to a Maildir, a
 * command or a JSON Lines file) share: build the notice from the delivered
 * report and hand it to an inner sink kind as the mail of a Deliver that
 * keeps the report's id and metadata, so the inner kind's idempotency by
 * report id, durability and exit-status rules apply unchanged. In digest
 * mode the report is only recorded (sink_digest.c) and one notice per
 * (source IP, UTC day) goes out once the day is over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arf.h"
#include "digest.h"
#include "err.h"
#include "sink_impl.h"
#include "xarf.h"

struct notice {
	enum sx_notice_fmt fmt;
	const struct sx_sink_ops *inner;
	void *inner_impl;
	struct sx_notice_opts opts;
	char *strs[5];                /* owned copies behind opts */
	struct sx_digest_file *digest;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sx_sink_notice_destroy(void *impl)
{
	struct notice *n = impl;
	if (!n)
		return;
	if (n->inner_impl)
		n->inner->destroy(n->inner_impl);
	sx_digest_file_close(n->digest);
	for (size_t i = 0; i < sizeof n->strs / sizeof n->strs[0]; i++)
		free(n->strs[i]);
	free(n);
}

static const char *keep(struct notice *n, size_t i, const char *s, int *oom)
{
	if (!s)
		return NULL;
	if (!(n->strs[i] = strdup(s)))
		*oom = 1;
	return n->strs[i];
}

int sx_sink_notice_create(const struct sx_sink_conf *conf, enum sx_notice_fmt fmt,
			  const struct sx_sink_ops *inner, void **impl, char *err,
			  size_t errlen)
{
	struct notice *n = calloc(1, sizeof *n);
	int oom = 0;
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	n->fmt = fmt;
	n->inner = inner;
	n->opts.reporter_org = keep(n, 0, conf->reporter_org, &oom);
	n->opts.reporter_contact = keep(n, 1, conf->reporter_contact, &oom);
	n->opts.reporter_domain = keep(n, 2, conf->reporter_domain, &oom);
	n->opts.to = keep(n, 3, conf->notice_to, &oom);
	n->opts.config_path = keep(n, 4, conf->config_path, &oom);
	n->opts.message_max = conf->message_max;
	if (oom) {
		sx_sink_notice_destroy(n);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	int rc = inner->create(conf, &n->inner_impl, err, errlen);
	if (rc < 0) {
		n->inner_impl = NULL;
		sx_sink_notice_destroy(n);
		return rc;
	}
	if (conf->digest == SX_SINK_DIGEST_DAILY) {
		char def[4096];
		const char *state = conf->digest_state;
		if (!state || !state[0]) {
			if (!conf->path || !conf->path[0]) {
				snprintf(err, errlen, "digest mode needs a digest_state file");
				sx_sink_notice_destroy(n);
				return SX_EINVAL;
			}
			snprintf(def, sizeof def, "%s.digest", conf->path);
			state = def;
		}
		if ((rc = sx_digest_file_open(state, &n->digest, err, errlen)) < 0) {
			sx_sink_notice_destroy(n);
			return rc;
		}
	}
	*impl = n;
	return 0;
}

/* Hands notice bytes to the inner kind as the mail of a copy of d. */
static enum sx_sink_result pass(struct notice *n, const struct sx_delivery *dl,
				const Sprex__Deliver *d, struct sx_buf *notice, char *err,
				size_t errlen)
{
	Sprex__Deliver copy = *d;
	copy.raw_mail.data = (uint8_t *)sx_buf_head(notice);
	copy.raw_mail.len = sx_buf_used(notice);
	struct sx_delivery inner = { dl->subscription, &copy };
	return n->inner->deliver(n->inner_impl, &inner, err, errlen);
}

struct emit_ctx {
	struct notice *n;
	const char *subscription;
};

static int emit(void *cv, const struct sx_digest_group *g, char *err, size_t errlen)
{
	struct emit_ctx *c = cv;
	struct notice *n = c->n;
	struct sx_notice_digest v;
	sx_digest_view(g, &v);
	struct sx_notice_opts o = n->opts;
	o.now_ms = wall_ms();
	struct sx_buf notice;
	sx_buf_init(&notice, SX_NOTICE_MAX);
	int rc = n->fmt == SX_NOTICE_ARF ? sx_arf_digest(&v, &o, &notice)
					 : sx_xarf_digest(&v, &o, &notice);
	if (rc == 0 && n->fmt == SX_NOTICE_XARF)
		rc = sx_buf_append(&notice, "\n", 1);
	if (rc < 0) {
		sx_buf_finish(&notice);
		snprintf(err, errlen, "building digest %s: %s", g->id, sx_strerror(rc));
		return rc;
	}
	Sprex__ReportMeta meta = SPREX__REPORT_META__INIT;
	meta.report_id = (char *)g->id;
	meta.received_ms = g->last_ms;
	meta.source_ip = (char *)g->ip;
	Sprex__Deliver d = SPREX__DELIVER__INIT;
	d.report_id = (char *)g->id;
	d.delivery_count = 1;
	d.meta = &meta;
	struct sx_delivery dl = { c->subscription, &d };
	enum sx_sink_result r = pass(n, &dl, &d, &notice, err, errlen);
	sx_buf_finish(&notice);
	return r == SX_SINK_ACK ? 0 : SX_EIO;
}

int sx_sink_notice_flush(void *impl, int all, unsigned *emitted, char *err, size_t errlen)
{
	struct notice *n = impl;
	if (!n->digest)
		return 0;
	struct emit_ctx c = { n, "digest" };
	return sx_digest_file_flush(n->digest, wall_ms(), all, emit, &c, emitted, err, errlen);
}

enum sx_sink_result sx_sink_notice_deliver(void *impl, const struct sx_delivery *dl, char *err,
					   size_t errlen)
{
	struct notice *n = impl;
	const Sprex__Deliver *d = dl->d;
	if (!sx_sink_id_ok(d->report_id)) {
		snprintf(err, errlen, "report id is not [a-z2-7]{1,%d}", SX_SINK_ID_MAX);
		return SX_SINK_REJECT;
	}
	if (n->digest) {
		const Sprex__ReportMeta *m = d->meta;
		const uint8_t *mail = d->raw_mail.data ? d->raw_mail.data : (const uint8_t *)"";
		char ip[SX_DIGEST_IP_MAX];
		sx_sink_clean(m && m->source_ip ? m->source_ip : "", ip, sizeof ip);
		for (char *c = ip; *c; c++)
			if (*c == ' ')
				*c = '_';
		int rc = sx_digest_file_record(n->digest, ip, m ? m->received_ms : 0, d->report_id,
					       mail, sx_notice_header_len(mail, d->raw_mail.len),
					       err, errlen);
		if (rc < 0)
			return SX_SINK_NAK;
		/* Recorded and durable: the ack is due whatever the digests of
		 * finished days do now (they are tried again next time). The
		 * reports' own received times are the clock here, so a backlog
		 * of an earlier day, delivered late, still ends in one digest:
		 * a day is over for the stream once a later day's report came. */
		char ferr[256];
		struct emit_ctx c = { n, dl->subscription };
		if (m && m->received_ms > 0)
			(void)sx_digest_file_flush(n->digest, m->received_ms, 0, emit, &c, NULL,
						   ferr, sizeof ferr);
		return SX_SINK_ACK;
	}
	struct sx_notice_opts o = n->opts;
	o.now_ms = wall_ms();
	struct sx_buf notice;
	sx_buf_init(&notice, SX_NOTICE_MAX);
	int rc = n->fmt == SX_NOTICE_ARF ? sx_arf_build(d, &o, &notice)
					 : sx_xarf_build(d, &o, &notice);
	if (rc == 0 && n->fmt == SX_NOTICE_XARF)
		rc = sx_buf_append(&notice, "\n", 1);
	if (rc < 0) {
		sx_buf_finish(&notice);
		snprintf(err, errlen, "building the notice: %s", sx_strerror(rc));
		/* too big never changes; anything else may pass later */
		return rc == SX_ETOOBIG ? SX_SINK_REJECT : SX_SINK_NAK;
	}
	enum sx_sink_result r = pass(n, dl, d, &notice, err, errlen);
	sx_buf_finish(&notice);
	return r;
}
