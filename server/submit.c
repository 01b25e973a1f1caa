/*
 * submit.c: Submit frames (submit.h): checked and looked up on the loop, the
 * pipeline on the thread pool, stored and answered on the loop.
 *
 * A Submit holds its own copy of the mail, its reporters and its client
 * message id, so the frame can go as soon as it is taken. Only the loop
 * thread touches the lists; a worker touches nothing but its job.
 */
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "feed.h"
#include "intake.h"
#include "log.h"
#include "server.h"
#include "session.h"

struct sx_submit {
	uv_work_t req;
	struct sx_submits *q;
	struct sx_submit *prev, *next;   /* q->all */
	struct sx_submit *rnext;         /* q->ready */
	struct sx_session *ss;           /* NULL once the session closed */
	uint64_t id;                     /* the Submit frame's */
	char client_id[SX_CLIENT_ID_MAX + 1];
	uint8_t *raw;
	char **reporters;
	size_t nreporters;
	struct sx_intake in;
	struct sx_intake_job job;
	int known;                       /* res is a duplicate found before any run */
	int rc;                          /* the store's answer, set by commit_ready */
	char err[256];
	struct sx_intake_result res;
};

/* Checks the fields of a Submit; returns NULL or what is wrong. */
static const char *submit_invalid(const Sprex__Submit *m)
{
	size_t n = m->client_msg_id ? strlen(m->client_msg_id) : 0;
	if (n == 0 || n > SX_CLIENT_ID_MAX)
		return "client_msg_id must be 1 to 128 bytes";
	for (size_t i = 0; i < n; i++)
		if (m->client_msg_id[i] <= ' ' || m->client_msg_id[i] > '~')
			return "client_msg_id must be printable ASCII without blanks";
	if (m->source < SPREX__SOURCE__SOURCE_PUBLIC || m->source > SPREX__SOURCE__SOURCE_CHAIN)
		return "source must be public, monitor or chain";
	if (m->consent & ~7u)
		return "consent holds unknown bits";
	if (m->consent && m->source != SPREX__SOURCE__SOURCE_PUBLIC)
		return "consent applies to public reports only";
	if (m->raw_mail.len == 0)
		return "raw_mail is empty";
	if (m->n_reporter > 16)
		return "more than 16 reporter identifiers";
	return NULL;
}

static void submit_free(struct sx_submit *w)
{
	struct sx_submits *q = w->q;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->all = w->next;
	if (w->next)
		w->next->prev = w->prev;
	q->n--;
	sx_intake_job_finish(&w->job);
	if (w->raw) {
		/* the reporter's original: no stale copy lingers on the heap */
		explicit_bzero(w->raw, w->in.len);
		free(w->raw);
	}
	for (size_t i = 0; i < w->nreporters; i++)
		free(w->reporters[i]);
	free(w->reporters);
	free(w);
}

/* A new Submit in q's list, with copies of what its run reads; NULL without
 * memory. */
static struct sx_submit *submit_new(struct sx_submits *q, struct sx_session *ss, uint64_t id,
				    const Sprex__Submit *m)
{
	struct sx_submit *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->q = q;
	w->ss = ss;
	w->id = id;
	snprintf(w->client_id, sizeof w->client_id, "%s", m->client_msg_id);
	w->next = q->all;
	if (q->all)
		q->all->prev = w;
	q->all = w;
	q->n++;
	w->raw = malloc(m->raw_mail.len);
	w->reporters = m->n_reporter ? calloc(m->n_reporter, sizeof *w->reporters) : NULL;
	if (w->raw == NULL || (m->n_reporter && w->reporters == NULL)) {
		submit_free(w);
		return NULL;
	}
	memcpy(w->raw, m->raw_mail.data, m->raw_mail.len);
	for (size_t i = 0; i < m->n_reporter; i++) {
		if ((w->reporters[i] = strdup(m->reporter[i])) == NULL) {
			submit_free(w);
			return NULL;
		}
		w->nreporters++;
	}
	w->in = (struct sx_intake){
		.raw = w->raw,
		.len = m->raw_mail.len,
		.source = (enum sx_source_kind)m->source,
		.consent = m->consent,
		.reporters = (const char *const *)w->reporters,
		.nreporters = w->nreporters,
	};
	return w;
}

static void make_ready(struct sx_submits *q, struct sx_submit *w);

static void work_cb(uv_work_t *req)
{
	struct sx_submit *w = req->data;
	sx_intake_job_run(&w->job);
}

static void after_cb(uv_work_t *req, int status)
{
	(void)status; /* never cancelled: every queued run ends here */
	struct sx_submit *w = req->data;
	make_ready(w->q, w);
}

static Sprex__ErrorCode error_code(int rc)
{
	return rc == SX_EBUSY ? SPREX__ERROR_CODE__ERROR_BUSY
	       : rc == SX_ETOOBIG || rc == SX_ELIMIT || rc == SX_EINVAL
		       ? SPREX__ERROR_CODE__ERROR_INVALID
		       : SPREX__ERROR_CODE__ERROR_INTERNAL;
}

void sx_submit_handle(struct sx_session *ss, uint64_t id, const Sprex__Submit *m)
{
	struct sx_server *srv = ss->srv;
	struct sx_submits *q = &srv->submits;
	const char *bad = submit_invalid(m);
	if (bad) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INVALID, "%s", bad);
		return;
	}
	if (q->n >= srv->conf->max_submits || q->closed) {
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_BUSY,
				 "%zu submissions in progress (max_submits_inflight); try again",
				 q->n);
		return;
	}
	struct sx_submit *w = submit_new(q, ss, id, m);
	if (w == NULL) {
		sx_log_err("session %llu: submit: out of memory", (unsigned long long)ss->id);
		sx_session_error(ss, id, SPREX__ERROR_CODE__ERROR_INTERNAL, "out of memory");
		return;
	}
	sx_intake_job_init(&w->job, &srv->intake, &w->in);
	/* Idempotency first: a resubmission costs one lookup, not a run. */
	int rc = sx_intake_lookup(srv->store, ss->member.id, w->client_id, &w->res, w->err,
				  sizeof w->err);
	if (rc == 0) {
		w->known = 1;
		make_ready(q, w);
		return;
	}
	if (rc == SX_ENOTFOUND) {
		w->req.data = w;
		rc = uv_queue_work(srv->loop, &w->req, work_cb, after_cb);
		if (rc == 0)
			return;
		snprintf(w->err, sizeof w->err, "cannot queue the pipeline run: %s",
			 uv_strerror(rc));
		rc = SX_EIO;
	}
	sx_log_warn("session %llu: member %s: submit %.128s refused: %s",
		    (unsigned long long)ss->id, ss->member.name, w->client_id, w->err);
	sx_session_error(ss, id, error_code(rc), "%s", w->err);
	submit_free(w);
}

/* Appends the report's audit records to the open batch. */
static int audit_submit(struct sx_server *srv, const struct sx_submit *w)
{
	struct sx_audit_rec r;
	sx_session_audit_rec(w->ss, &r, "submit", w->res.duplicate ? "duplicate" : "stored",
			     "report=%s seq=%lld client_id=%.80s", w->res.id,
			     (long long)w->res.seq, w->client_id);
	int rc = sx_store_audit_append(srv->store, &r);
	if (rc == 0 && w->res.quarantined && !w->res.duplicate) {
		sx_session_audit_rec(w->ss, &r, "quarantine", "quarantined", "report=%s seq=%lld",
				     w->res.id, (long long)w->res.seq);
		rc = sx_store_audit_append(srv->store, &r);
	}
	return rc;
}

/* Answers one Submit after its batch committed (or failed). */
static void answer(struct sx_server *srv, struct sx_submit *w)
{
	struct sx_session *ss = w->ss;
	if (w->rc < 0) {
		sx_log_warn("session %llu: member %s: submit %.128s refused: %s",
			    (unsigned long long)ss->id, ss->member.name, w->client_id,
			    w->err[0] ? w->err : sx_strerror(w->rc));
		sx_session_audit(ss, "submit", "refused", "client_id=%.80s", w->client_id);
		sx_session_error(ss, w->id, error_code(w->rc), "%s",
				 w->err[0] ? w->err : sx_strerror(w->rc));
		return;
	}
	Sprex__Submitted ok = SPREX__SUBMITTED__INIT;
	ok.client_msg_id = w->client_id;
	ok.report_id = w->res.id;
	ok.seq = (uint64_t)w->res.seq;
	ok.duplicate = w->res.duplicate;
	ok.quarantined = w->res.quarantined;
	ok.reason = w->res.reason;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = w->id;
	f.msg_case = SPREX__FRAME__MSG_SUBMITTED;
	f.submitted = &ok;
	sx_peer_send(ss->peer, &f);
	sx_log_info("session %llu: member %s submitted %s seq %lld%s%s",
		    (unsigned long long)ss->id, ss->member.name, w->res.id,
		    (long long)w->res.seq, w->res.duplicate ? " (duplicate)" : "",
		    w->res.quarantined ? " (quarantined)" : "");
}

/*
 * Stores every ready report in one transaction with its audit records
 * (synchronous FULL; the deliveries' write-behind is committed first), then
 * answers each. A run the pipeline refused is answered INVALID without
 * touching the batch; a store failure fails the whole batch, every Submit in
 * it answered BUSY or INTERNAL, and the submitters send them again.
 */
static void commit_ready(struct sx_submits *q)
{
	struct sx_server *srv = q->srv;
	struct sx_submit *list = q->ready;
	q->ready = q->ready_tail = NULL;
	int stored = 0, any = 0, rc;

	for (struct sx_submit *w = list; w; w = w->rnext)
		any |= w->ss != NULL;
	if (!any)
		goto out;
	sx_feed_flush(&srv->feed);
	rc = sx_store_batch_begin(srv->store);
	for (struct sx_submit *w = list; w && rc == 0; w = w->rnext) {
		if (w->ss == NULL || w->known)
			w->rc = 0;
		else
			w->rc = sx_intake_job_store(&w->job, srv->store, w->ss->member.id,
						    w->client_id, &w->res, w->err, sizeof w->err);
		if (w->rc == SX_ETOOBIG || w->rc == SX_ELIMIT || w->rc == SX_EINVAL)
			continue; /* refused by the pipeline: the batch is untouched */
		rc = w->rc;
		if (rc == 0 && w->ss != NULL)
			rc = audit_submit(srv, w);
		stored |= rc == 0 && w->ss != NULL && !w->res.duplicate && !w->res.quarantined;
	}
	if (rc == 0)
		rc = sx_store_batch_commit(srv->store);
	if (rc < 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", sx_store_errmsg(srv->store));
		sx_store_batch_rollback(srv->store);
		stored = 0;
		for (struct sx_submit *w = list; w; w = w->rnext) {
			if (w->rc == SX_ETOOBIG || w->rc == SX_ELIMIT || w->rc == SX_EINVAL)
				continue;
			w->rc = rc;
			snprintf(w->err, sizeof w->err, "not stored: %.240s", why);
		}
	}
	for (struct sx_submit *w = list; w; w = w->rnext)
		if (w->ss != NULL)
			answer(srv, w);
	if (stored)
		sx_feed_wake(&srv->feed);
out:
	while (list) {
		struct sx_submit *w = list;
		list = w->rnext;
		if (w->ss == NULL)
			sx_log_info("submit %.128s dropped: its session closed before the answer",
				    w->client_id);
		submit_free(w);
	}
}

static void idle_cb(uv_idle_t *h)
{
	struct sx_submits *q = h->data;
	uv_idle_stop(h);
	commit_ready(q);
}

/* A run has ended (or none was needed): its report joins the next commit,
 * which takes every report ready by then. */
static void make_ready(struct sx_submits *q, struct sx_submit *w)
{
	w->rnext = NULL;
	if (q->ready_tail)
		q->ready_tail->rnext = w;
	else
		q->ready = w;
	q->ready_tail = w;
	if (q->closed)
		commit_ready(q);
	else
		uv_idle_start(&q->idle, idle_cb);
}

void sx_submits_start(struct sx_submits *q, struct sx_server *srv)
{
	memset(q, 0, sizeof *q);
	q->srv = srv;
	uv_idle_init(srv->loop, &q->idle); /* always succeeds (libuv) */
	q->idle.data = q;
	q->started = 1;
}

void sx_submits_close(struct sx_submits *q, void (*close_handle)(struct sx_server *,
								 uv_handle_t *))
{
	if (!q->started || q->closed)
		return;
	q->closed = 1;
	uv_idle_stop(&q->idle);
	if (q->ready)
		commit_ready(q);
	close_handle(q->srv, (uv_handle_t *)&q->idle);
}

void sx_submits_detach(struct sx_submits *q, struct sx_session *ss)
{
	for (struct sx_submit *w = q->all; w; w = w->next)
		if (w->ss == ss)
			w->ss = NULL;
}
