/*
 * intake.c: arrived bytes to a stored report: idempotency check, the pure
 * pipeline, evidence and manifest as JSON, one store transaction.
 */
#include "intake.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "json.h"

/* Bounds of the JSON kept with a report. Evidence: at most SX_EVIDENCE_MAX
 * entries of short fields; manifest: at most SX_MANIFEST_MAX entries. Each
 * field may grow sixfold by escaping ("\u0001"), which the bounds cover. */
#define SX_INTAKE_EVIDENCE_JSON_MAX ((size_t)64 << 10)
#define SX_INTAKE_MANIFEST_JSON_MAX ((size_t)1 << 20)

struct sx_isp_table {
	atomic_uint refs;
	struct sx_lpm *t;
};

static struct sx_isp_table *table_ref(struct sx_isp_table *tab)
{
	if (tab != NULL)
		atomic_fetch_add_explicit(&tab->refs, 1, memory_order_relaxed);
	return tab;
}

static void table_unref(struct sx_isp_table *tab)
{
	if (tab != NULL && atomic_fetch_sub_explicit(&tab->refs, 1, memory_order_acq_rel) == 1) {
		sx_lpm_destroy(tab->t);
		free(tab);
	}
}

/* Prefixes read from the store before they become an LPM table. */
struct prefix_list {
	struct sx_prefix *p;
	int64_t *v;
	size_t n, cap;
};

static int collect_prefix(void *ctx, int64_t member_id, const struct sx_prefix *p)
{
	struct prefix_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		if (cap > SIZE_MAX / sizeof *l->p)
			return SX_ENOMEM;
		struct sx_prefix *np = realloc(l->p, cap * sizeof *np);
		if (np == NULL)
			return SX_ENOMEM;
		l->p = np;
		int64_t *nv = realloc(l->v, cap * sizeof *nv);
		if (nv == NULL)
			return SX_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->p[l->n] = *p;
	l->v[l->n] = member_id;
	l->n++;
	return 0;
}

int sx_intake_reload_isps(struct sx_intake_ctx *c, struct sx_store *s)
{
	struct prefix_list l = { .p = NULL };
	struct sx_lpm *t = NULL;
	struct sx_isp_table *tab = malloc(sizeof *tab);
	int err = tab == NULL ? SX_ENOMEM : sx_store_prefix_each(s, collect_prefix, &l);
	if (err == 0)
		err = sx_lpm_build(l.p, l.v, l.n, &t);
	free(l.p);
	free(l.v);
	if (err) {
		free(tab);
		return err;
	}
	atomic_init(&tab->refs, 1);
	tab->t = t;
	table_unref(c->tab);
	c->tab = tab;
	c->pc.isps = t;
	return 0;
}

int sx_intake_init(struct sx_intake_ctx *c, struct sx_store *s, const struct sx_srvconf *conf,
		   char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (conf != NULL) {
		c->pc.limits = conf->limits;
		c->pc.relays.prefixes = conf->relay_prefixes;
		c->pc.relays.nprefixes = conf->nrelay_prefixes;
		c->pc.relays.hosts = (const char *const *)conf->relay_hosts;
		c->pc.relays.nhosts = conf->nrelay_hosts;
	} else {
		sx_mail_limits_default(&c->pc.limits);
	}
	int rc = sx_intake_reload_isps(c, s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read the ISP prefixes: %s",
			 rc == SX_ENOMEM ? "out of memory" : sx_store_errmsg(s));
		return rc;
	}
	return 0;
}

void sx_intake_finish(struct sx_intake_ctx *c)
{
	table_unref(c->tab);
	c->tab = NULL;
	c->pc.isps = NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes the evidence of an analysis as a NUL-terminated JSON array into b:
 * {flag, check, where, detail, article} each, flag null for an item that
 * explains a category. */
static int evidence_json(const struct sx_analysis *an, struct sx_buf *b)
{
	struct sx_json j;
	sx_json_init(&j, b);
	sx_json_arr_begin(&j);
	for (unsigned i = 0; i < an->nev && i < SX_EVIDENCE_MAX; i++) {
		const struct sx_evidence *e = &an->ev[i];
		sx_json_obj_begin(&j);
		sx_json_key(&j, "flag");
		if (e->flag != 0)
			sx_json_str(&j, sx_flag_name(e->flag));
		else
			sx_json_null(&j);   /* explains a category ("category.virus") */
		sx_json_key(&j, "check");
		sx_json_strn(&j, e->check, strnlen(e->check, sizeof e->check));
		sx_json_key(&j, "where");
		sx_json_strn(&j, e->where, strnlen(e->where, sizeof e->where));
		sx_json_key(&j, "detail");
		sx_json_strn(&j, e->detail, strnlen(e->detail, sizeof e->detail));
		sx_json_key(&j, "article");
		sx_json_strn(&j, e->article, strnlen(e->article, sizeof e->article));
		sx_json_obj_end(&j);
	}
	sx_json_arr_end(&j);
	int rc = sx_json_finish(&j);
	return rc ? rc : sx_buf_append(b, "", 1);
}

/* Writes the redaction manifest (where and how, never what) likewise. */
static int manifest_json(const struct sx_redact_result *red, struct sx_buf *b)
{
	struct sx_json j;
	sx_json_init(&j, b);
	sx_json_arr_begin(&j);
	for (size_t i = 0; i < red->n && i < SX_MANIFEST_MAX; i++) {
		const struct sx_redaction *m = &red->manifest[i];
		sx_json_obj_begin(&j);
		sx_json_key(&j, "part");
		sx_json_strn(&j, m->part, strnlen(m->part, sizeof m->part));
		sx_json_key(&j, "where");
		sx_json_strn(&j, m->where, strnlen(m->where, sizeof m->where));
		sx_json_key(&j, "kind");
		sx_json_strn(&j, m->kind, strnlen(m->kind, sizeof m->kind));
		sx_json_key(&j, "encoding");
		sx_json_strn(&j, m->encoding, strnlen(m->encoding, sizeof m->encoding));
		sx_json_key(&j, "count");
		sx_json_int(&j, m->count);
		sx_json_key(&j, "offset");
		sx_json_int(&j, (int64_t)m->offset);
		sx_json_key(&j, "length");
		sx_json_int(&j, (int64_t)m->length);
		sx_json_obj_end(&j);
	}
	sx_json_arr_end(&j);
	int rc = sx_json_finish(&j);
	return rc ? rc : sx_buf_append(b, "", 1);
}

/* Fills out from a stored report found by its client id. */
static void result_of_row(const struct sx_report_row *row, struct sx_intake_result *out)
{
	out->seq = row->seq;
	memcpy(out->id, row->id, sizeof out->id);
	out->duplicate = 1;
	out->quarantined = row->state == SX_REPORT_QUARANTINED;
	snprintf(out->reason, sizeof out->reason, "%s", out->quarantined ? row->reason : "");
}

/* The error intake returns for a failed store call: busy and resource
 * problems as they are (the caller may try again), the rest as SX_EDB. */
static int store_err(struct sx_store *s, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, sx_store_errmsg(s));
	switch (rc) {
	case SX_EBUSY:
	case SX_EIO:
	case SX_ENOMEM:
	case SX_EPERM:
		return rc;
	default:
		return SX_EDB;
	}
}

/* Stores a report the pipeline produced. */
static int store(struct sx_store *s, const struct sx_intake *in, int64_t submitter,
		 const char *client_msg_id, const struct sx_report *rep,
		 struct sx_intake_result *out, char *err, size_t errlen)
{
	struct sx_buf ev, mf;
	sx_buf_init(&ev, SX_INTAKE_EVIDENCE_JSON_MAX);
	sx_buf_init(&mf, SX_INTAKE_MANIFEST_JSON_MAX);
	int rc = evidence_json(&rep->an, &ev);
	if (rc == 0)
		rc = manifest_json(&rep->red, &mf);
	if (rc != 0) {
		snprintf(err, errlen, "cannot write the report's JSON: %s", sx_strerror(rc));
		rc = rc == SX_ENOMEM ? SX_ENOMEM : SX_ELIMIT;
		goto out;
	}
	struct sx_report_new r = {
		.received_ms = now_ms(),
		.source = (int)in->source,
		.consent = in->source == SX_SRC_PUBLIC ? in->consent : 0,
		.submitter = submitter,
		.client_msg_id = client_msg_id,
		.state = rep->quarantined ? SX_REPORT_QUARANTINED : SX_REPORT_READY,
		.reason = rep->quarantined ? rep->reason : NULL,
		.source_ip = rep->src.found && rep->src.ip_text[0] ? rep->src.ip_text : NULL,
		.source_port = rep->src.found ? rep->src.port : 0,
		.isp = rep->isp,
		.flags = rep->an.flags,
		.categories = rep->an.categories,
		.evidence_json = (const char *)sx_buf_head(&ev),
		.manifest_json = (const char *)sx_buf_head(&mf),
		.redactions = rep->red.total,
		.subject = rep->subject,
		.sha256 = rep->sha256,
		.mail = sx_buf_head(&rep->mail),
		.mail_len = sx_buf_used(&rep->mail),
	};
	/* A quarantine reason must not be empty: the store takes its presence
	 * for the state. */
	if (r.reason != NULL && r.reason[0] == '\0')
		r.reason = "quarantined";
	int dup = 0;
	rc = sx_store_report_add(s, &r, &out->seq, out->id, &dup);
	if (rc != 0) {
		rc = store_err(s, rc, "cannot store the report", err, errlen);
		goto out;
	}
	if (dup) {
		/* The same key won a race since the check: answer with that one. */
		struct sx_report_row row;
		rc = sx_store_report_by_client(s, submitter, client_msg_id, &row);
		if (rc != 0) {
			rc = store_err(s, rc, "cannot read the stored report", err, errlen);
			goto out;
		}
		result_of_row(&row, out);
		goto out;
	}
	out->quarantined = rep->quarantined;
	snprintf(out->reason, sizeof out->reason, "%s", rep->quarantined ? r.reason : "");
out:
	sx_buf_finish(&ev);
	sx_buf_finish(&mf);
	return rc;
}

/* The key's shape, for both ways in: SX_EINVAL with err when it is unusable. */
static int check_key(int64_t submitter, const char *client_msg_id, char *err, size_t errlen)
{
	if (client_msg_id != NULL &&
	    (client_msg_id[0] == '\0' || strlen(client_msg_id) > SX_CLIENT_ID_MAX)) {
		snprintf(err, errlen, "client message id empty or longer than %d bytes",
			 SX_CLIENT_ID_MAX);
		return SX_EINVAL;
	}
	if (submitter < 0) {
		snprintf(err, errlen, "a submitter is a member id, or 0 for the operator");
		return SX_EINVAL;
	}
	return 0;
}

int sx_intake_lookup(struct sx_store *s, int64_t submitter, const char *client_msg_id,
		     struct sx_intake_result *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int rc = check_key(submitter, client_msg_id, err, errlen);
	if (rc != 0 || client_msg_id == NULL)
		return rc != 0 ? rc : SX_ENOTFOUND;
	struct sx_report_row row;
	rc = sx_store_report_by_client(s, submitter, client_msg_id, &row);
	if (rc == 0) {
		result_of_row(&row, out);
		return 0;
	}
	if (rc != SX_ENOTFOUND)
		return store_err(s, rc, "cannot look the client message id up", err, errlen);
	return rc;
}

void sx_intake_job_init(struct sx_intake_job *j, const struct sx_intake_ctx *c,
			const struct sx_intake *in)
{
	memset(j, 0, sizeof *j);
	j->pc = c->pc;
	j->tab = table_ref(c->tab);
	j->in = *in;
}

void sx_intake_job_run(struct sx_intake_job *j)
{
	j->err[0] = '\0';
	if (j->in.len == 0) {
		snprintf(j->err, sizeof j->err, "empty message");
		j->rc = SX_EINVAL;
		return;
	}
	j->rc = sx_pipeline_run(&j->pc, &j->in, &j->rep, j->err, sizeof j->err);
	if (j->rc != 0 && j->err[0] == '\0')
		snprintf(j->err, sizeof j->err, "%s", sx_strerror(j->rc));
}

int sx_intake_job_store(struct sx_intake_job *j, struct sx_store *s, int64_t submitter,
			const char *client_msg_id, struct sx_intake_result *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	int rc = check_key(submitter, client_msg_id, err, errlen);
	if (rc != 0)
		return rc;
	if (j->rc != 0) {
		snprintf(err, errlen, "%s", j->err);
		return j->rc;
	}
	rc = store(s, &j->in, submitter, client_msg_id, &j->rep, out, err, errlen);
	if (rc != 0)
		memset(out, 0, sizeof *out);
	return rc;
}

void sx_intake_job_finish(struct sx_intake_job *j)
{
	sx_report_finish(&j->rep);
	table_unref(j->tab);
	j->tab = NULL;
}

int sx_intake_submit(struct sx_intake_ctx *c, struct sx_store *s, const struct sx_intake *in,
		     int64_t submitter, const char *client_msg_id, struct sx_intake_result *out,
		     char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* Idempotency first: a resubmission costs one lookup, not a pipeline run. */
	int rc = sx_intake_lookup(s, submitter, client_msg_id, out, err, errlen);
	if (rc != SX_ENOTFOUND)
		return rc;
	struct sx_intake_job j;
	sx_intake_job_init(&j, c, in);
	sx_intake_job_run(&j);
	rc = sx_intake_job_store(&j, s, submitter, client_msg_id, out, err, errlen);
	sx_intake_job_finish(&j);
	return rc;
}
