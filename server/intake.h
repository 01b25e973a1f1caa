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

struct sx_intake_ctx {
	struct sx_pipeline_conf pc;  /* limits, trusted relays, ISP table */
	struct sx_lpm *isps;         /* owned; rebuilt by sx_intake_reload_isps */
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
 * Runs the pipeline over in and stores the report (quarantined or not).
 * submitter is the member id (0 for sprexctl), client_msg_id its idempotency
 * key (NULL for none; given, it needs a submitter and 1..SX_CLIENT_ID_MAX
 * bytes): a key seen before answers with the stored report and duplicate = 1
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
