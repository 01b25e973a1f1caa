/*
 * intake.h: from arrived bytes to a stored report, for both intake channels
 * (sprexctl ingest and Submit frames in sprexd). It runs the pure pipeline
 * (mail/pipeline.h), then stores the result with its manifest and evidence in
 * one transaction. The reporter's original is only ever in memory.
 */
#ifndef SX_INTAKE_H
#define SX_INTAKE_H

#include <stdint.h>

#include "pipeline.h"
#include "srvconf.h"
#include "store.h"

/* An ISP prefix table shared by the context and every job that reads it:
 * freed with its last holder, so a reload never pulls a table from under a
 * pipeline running on another thread. */
struct sx_isp_table;

struct sx_intake_ctx {
	struct sx_pipeline_conf pc;  /* limits, trusted relays; pc.isps is tab's */
	struct sx_isp_table *tab;    /* a reference; replaced by sx_intake_reload_isps */
};

/*
 * One message's pipeline run, detached from the context so that it can run
 * on any thread while the context's owner goes on (and reloads the ISP
 * table). The caller's intake (in) and the bytes it points to must outlive
 * the job.
 */
struct sx_intake_job {
	struct sx_pipeline_conf pc;  /* a copy; pc.isps belongs to tab */
	struct sx_isp_table *tab;    /* a reference, dropped by finish */
	struct sx_intake in;
	struct sx_report rep;
	int rc;                      /* the run's result: 0 or a refusal */
	char err[SX_REASON_MAX];
	/* intake_pool.c's, under its lock */
	struct sx_intake_job *qnext;
	int done;
};

struct sx_intake_result {
	int64_t seq;
	char id[SX_REPORT_ID_LEN + 1];
	int duplicate;               /* (submitter, client id) seen before */
	int quarantined;
	char reason[SX_REASON_MAX];
};

/*
 * Prepares intake: limits and trusted relays from conf (NULL: defaults, no
 * relays; conf must outlive ctx), the ISP prefix table from the store.
 * Returns 0 or an error with the reason in err.
 */
int sx_intake_init(struct sx_intake_ctx *c, struct sx_store *s, const struct sx_srvconf *conf,
		   char *err, size_t errlen);
/* Rebuilds the ISP table after a member change. Returns 0 or the store's
 * error (the old table stays). */
int sx_intake_reload_isps(struct sx_intake_ctx *c, struct sx_store *s);
/* Frees what init built. */
void sx_intake_finish(struct sx_intake_ctx *c);

/*
 * Prepares a job for in on the context's thread: takes a reference to the
 * current ISP table. Cannot fail. Release with sx_intake_job_finish.
 */
void sx_intake_job_init(struct sx_intake_job *j, const struct sx_intake_ctx *c,
			const struct sx_intake *in);
/* Runs the pure pipeline: on any thread, touching nothing but the job and
 * the bytes of its intake. The result is in j->rc and j->err. */
void sx_intake_job_run(struct sx_intake_job *j);
/*
 * Stores the report a run produced (quarantined or not); a refused run is
 * returned as its refusal. submitter and client_msg_id as for
 * sx_intake_submit, whose returns these are; the caller has looked the key
 * up before the run, and a key that won a race since answers duplicate = 1.
 */
int sx_intake_job_store(struct sx_intake_job *j, struct sx_store *s, int64_t submitter,
			const char *client_msg_id, struct sx_intake_result *out, char *err,
			size_t errlen);
/* Frees the report and drops the table reference; the intake's bytes stay
 * the caller's. */
void sx_intake_job_finish(struct sx_intake_job *j);

/*
 * Looks (submitter, client_msg_id) up: 0 with out filled and duplicate = 1
 * when it was seen before, SX_ENOTFOUND when not, or the store's error (err
 * says why). For callers that run the pipeline elsewhere; sx_intake_submit
 * does this itself.
 */
int sx_intake_lookup(struct sx_store *s, int64_t submitter, const char *client_msg_id,
		     struct sx_intake_result *out, char *err, size_t errlen);

/*
 * Runs the pipeline over in and stores the report (quarantined or not).
 * submitter is the member id (0 for sprexctl), client_msg_id its idempotency
 * key (NULL for none; given, 1..SX_CLIENT_ID_MAX bytes, per submitter, the
 * operator's apart): a key seen before answers with the stored report and duplicate = 1
 * without running the pipeline. Inside a store batch the report joins the
 * batch (stored once the caller commits). Returns 0; SX_EBUSY (store busy:
 * try again later); SX_ETOOBIG / SX_ELIMIT / SX_EINVAL (the message is not
 * usable, err says why; an empty message is SX_EINVAL); SX_EIO / SX_EPERM /
 * SX_ENOMEM / SX_EDB (the store failed, err says why).
 */
int sx_intake_submit(struct sx_intake_ctx *c, struct sx_store *s, const struct sx_intake *in,
		     int64_t submitter, const char *client_msg_id, struct sx_intake_result *out,
		     char *err, size_t errlen);

#endif
