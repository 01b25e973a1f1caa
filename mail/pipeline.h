/*
 * pipeline.h: one report's way from the bytes that arrived to a stored, safe
 * report (DESIGN §2 steps 1-3), pure: parse, unwrap, collect identifiers,
 * redact, leak check, analyse. The reporter's original stays in the caller's
 * memory; nothing here touches a disk or a socket.
 */
#ifndef SX_PIPELINE_H
#define SX_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "ident.h"
#include "lpm.h"
#include "mime.h"
#include "received.h"
#include "redact.h"
#include "unwrap.h"

/* Values shared with the wire (sprex.proto Source and Consent). */
enum sx_source_kind { SX_SRC_PUBLIC = 1, SX_SRC_MONITOR = 2, SX_SRC_CHAIN = 3 };
enum sx_consent_bits {
	SX_CONSENT_ASSOCIATION = 1,
	SX_CONSENT_ISP = 2,
	SX_CONSENT_ENFORCEMENT = 4,
};

struct sx_pipeline_conf {
	struct sx_mail_limits limits;
	struct sx_relays relays;
	const struct sx_lpm *isps;     /* prefix -> ISP member id; may be NULL */
};

struct sx_intake {
	const uint8_t *raw;            /* the message as it arrived */
	size_t len;
	enum sx_source_kind source;
	unsigned consent;              /* sx_consent_bits; public reports only */
	const char *const *reporters;  /* extra identifiers given with the report */
	size_t nreporters;
};

#define SX_REASON_MAX 256

struct sx_report {
	struct sx_buf mail;            /* the de-personalized spam (owned) */
	struct sx_redact_result red;
	enum sx_unwrap_how how;
	int quarantined;
	char reason[SX_REASON_MAX];    /* why quarantined */
	struct sx_source src;
	int64_t isp;                   /* ISP member id, 0 when none */
	uint8_t isp_len;               /* matching prefix length */
	struct sx_analysis an;
	char subject[256];             /* decoded subject of the redacted spam, UTF-8 */
	char sha256[65];               /* hex SHA-256 of mail */
	size_t idents;                 /* how many identifiers were looked for */
};

/*
 * Runs the pipeline. Returns 0 with *out filled (a quarantined report is a
 * success: it is stored for the operator and sent to no one), or a refusal:
 * SX_ETOOBIG / SX_ELIMIT (a limit, err names it), SX_EINVAL (not usable as
 * mail), SX_ENOMEM. Release out with sx_report_finish either way.
 */
int sx_pipeline_run(const struct sx_pipeline_conf *conf, const struct sx_intake *in,
		    struct sx_report *out, char *err, size_t errlen);
/* Frees what the report owns. */
void sx_report_finish(struct sx_report *r);

#endif
