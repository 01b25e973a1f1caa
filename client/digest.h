/*
 * digest.h: daily digest of ISP notices, as pure functions over a state.
 *
 * A digest subscription records each report under (source IP, UTC day)
 * instead of sending a notice for it; once the day is over (or on an
 * explicit flush) one notice per group goes out with the count, first and
 * last seen and every report id. The state is kept in a small append-only
 * text file by sink_digest.c; this module only parses and formats its lines
 * and keeps the groups in memory, so it is tested without files or network.
 *
 * State file lines (tab-separated, '\n'-terminated):
 *   R <received_ms> <ip or -> <report id> <base64 header block or ->
 * A torn last line (no '\n') is ignored: its report was never acked.
 */
#ifndef SX_DIGEST_H
#define SX_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "notice.h"

#define SX_DIGEST_GROUPS_MAX 100000u   /* open (IP, day) groups */
#define SX_DIGEST_IDS_MAX 1000000u     /* report ids per group */
#define SX_DIGEST_IP_MAX 48            /* with the NUL */
#define SX_DIGEST_ID_MAX 64            /* report id bytes, as sinks accept */
#define SX_DIGEST_LINE_MAX (SX_NOTICE_HEADERS_MAX * 2u)
#define SX_DIGEST_DAY_MS 86400000LL

struct sx_digest_group {
	char day[11];                 /* YYYY-MM-DD, UTC */
	char ip[SX_DIGEST_IP_MAX];    /* "" when unknown */
	char id[28];                  /* the digest notice's id: "d" + 26 base32 */
	uint64_t count;
	int64_t first_ms, last_ms;
	char **ids;                   /* report ids in arrival order */
	size_t n_ids, cap_ids;
	uint8_t *headers;             /* the first report's header block, or NULL */
	size_t headers_len;
};

struct sx_digest {
	struct sx_digest_group *g;
	size_t n, cap;
};

void sx_digest_init(struct sx_digest *dg);
/* Frees every group; dg may be used again after sx_digest_init. */
void sx_digest_finish(struct sx_digest *dg);

/*
 * Replays state file bytes into dg (added to what it holds). *used (may be
 * NULL) gets the bytes of complete lines. Returns 0, SX_EINVAL (a complete
 * line that is not a record: the file is not a digest state) or SX_ENOMEM /
 * SX_ETOOBIG (a limit above).
 */
int sx_digest_load(struct sx_digest *dg, const char *buf, size_t len, size_t *used);

/* Non-zero when report id is recorded in dg already. */
int sx_digest_has(const struct sx_digest *dg, const char *id);

/*
 * Records one report: the group of (ip, UTC day of received_ms) gets it; a
 * new group keeps hdr (the report's header block, cut to
 * SX_NOTICE_HEADERS_MAX) and derives its id from day, ip and this first
 * report id. ip NULL or "" is unknown. A report id already recorded changes
 * nothing. Returns 0, SX_EINVAL (id empty, over SX_DIGEST_ID_MAX or with
 * blanks; ip with blanks or too long), SX_ETOOBIG, SX_ENOMEM.
 */
int sx_digest_add(struct sx_digest *dg, const char *ip, int64_t received_ms, const char *id,
		  const uint8_t *hdr, size_t hlen);

/* Appends the state file line that sx_digest_load turns into the same
 * sx_digest_add. Returns 0, SX_EINVAL as sx_digest_add, SX_ETOOBIG,
 * SX_ENOMEM. */
int sx_digest_line(struct sx_buf *out, const char *ip, int64_t received_ms, const char *id,
		   const uint8_t *hdr, size_t hlen);

/* Appends the lines that record group g whole (for rewriting the file
 * without the groups already emitted). */
int sx_digest_group_lines(struct sx_buf *out, const struct sx_digest_group *g);

/* Non-zero when g is due at now_ms: its UTC day is over. */
int sx_digest_due(const struct sx_digest_group *g, int64_t now_ms);

/* Removes group i (emitted), keeping the others' order. */
void sx_digest_drop(struct sx_digest *dg, size_t i);

/* A notice view of g (borrowing g's memory); report_ids points into g. */
void sx_digest_view(const struct sx_digest_group *g, struct sx_notice_digest *v);

#endif
