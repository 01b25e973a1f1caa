/*
 * sink_impl.h: what the sink kinds share inside client/ (not for the agent).
 */
#ifndef SX_SINK_IMPL_H
#define SX_SINK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

/* Longest report id a sink accepts as a file name or set key. */
#define SX_SINK_ID_MAX 64

/*
 * Report ids a JSON Lines sink remembers per generation. Two generations
 * are kept: when the current one fills, it becomes the previous one and the
 * oldest is dropped, so memory stays bounded and at least the last
 * SX_SINK_JSONL_IDS ids are known. A redelivery older than that is appended
 * again (readers key by report_id).
 */
#define SX_SINK_JSONL_IDS (1u << 19)

/* One sink kind: its state behind struct sx_sink.impl. */
struct sx_sink_ops {
	int (*create)(const struct sx_sink_conf *conf, void **impl, char *err, size_t errlen);
	void (*destroy)(void *impl);
	enum sx_sink_result (*deliver)(void *impl, const struct sx_delivery *dl, char *err,
				       size_t errlen);
	/* digest sinks only; NULL: nothing to flush */
	int (*flush)(void *impl, int all, unsigned *emitted, char *err, size_t errlen);
};

extern const struct sx_sink_ops sx_sink_maildir_ops;
extern const struct sx_sink_ops sx_sink_jsonl_ops;
extern const struct sx_sink_ops sx_sink_exec_ops;
extern const struct sx_sink_ops sx_sink_arf_maildir_ops;
extern const struct sx_sink_ops sx_sink_arf_exec_ops;
extern const struct sx_sink_ops sx_sink_xarf_jsonl_ops;
extern const struct sx_sink_ops sx_sink_xarf_exec_ops;

/* The XARF JSON Lines writer (sink_xarf.c): appends a finished line whose
 * first member is "sprex_report_id", idempotent by that id. It has the shape
 * of a sink kind; deliver writes dl->d->raw_mail as the line. */
extern const struct sx_sink_ops sx_sink_xarf_lines_ops;

/* A notice sink (sink_notice.c): builds a notice in format fmt (0 ARF, 1
 * XARF) and hands it to the inner sink kind (maildir, exec or the XARF
 * lines writer) as the mail of a Deliver that keeps the report's id and
 * metadata; with digest mode, records and emits digests (sink_digest.c). */
enum sx_notice_fmt { SX_NOTICE_ARF = 0, SX_NOTICE_XARF = 1 };
int sx_sink_notice_create(const struct sx_sink_conf *conf, enum sx_notice_fmt fmt,
			  const struct sx_sink_ops *inner, void **impl, char *err,
			  size_t errlen);
void sx_sink_notice_destroy(void *impl);
enum sx_sink_result sx_sink_notice_deliver(void *impl, const struct sx_delivery *dl, char *err,
					   size_t errlen);
int sx_sink_notice_flush(void *impl, int all, unsigned *emitted, char *err, size_t errlen);

/* Non-zero when id is 1..SX_SINK_ID_MAX characters of [a-z2-7]: safe as a
 * file name and in JSON without escaping. */
int sx_sink_id_ok(const char *id);
/* "public", "monitor", "chain" or "unspecified". */
const char *sx_sink_source_name(int source);
/* Copies at most outlen - 1 bytes of s into out, each control byte (and DEL)
 * replaced by a space, so a value from the wire cannot break a header line,
 * an environment value or a log line. Returns the length written. */
size_t sx_sink_clean(const char *s, char *out, size_t outlen);
/* Writes all n bytes to fd, retrying on EINTR and short writes. Returns 0
 * or -1 with errno set. */
int sx_sink_write_all(int fd, const void *p, size_t n);

/* The digest state file (sink_digest.c): digest.h's state kept durably in
 * PATH, locked through PATH.lock so that the agent and `sprex-agent digest
 * flush` can share it; re-read whenever another process changed it. */
struct sx_digest_file;
struct sx_digest_group;
int sx_digest_file_open(const char *path, struct sx_digest_file **out, char *err, size_t errlen);
void sx_digest_file_close(struct sx_digest_file *f);
/* Records one report, fsynced before it returns 0 (then it may be acked);
 * a report recorded already returns 0 at once. SX_EIO / SX_ENOMEM /
 * SX_EINVAL with one line in err. */
int sx_digest_file_record(struct sx_digest_file *f, const char *ip, int64_t received_ms,
			  const char *id, const uint8_t *hdr, size_t hlen, char *err,
			  size_t errlen);
/* Calls emit for each group due at now_ms (every group when all), forgets
 * those emit returned 0 for and rewrites the file without them (atomically:
 * temporary file, fsync, rename). A failing emit stops the walk; its error
 * is returned with err as emit filled it. *emitted counts the groups sent. */
typedef int (*sx_digest_emit_fn)(void *ctx, const struct sx_digest_group *g, char *err,
				 size_t errlen);
int sx_digest_file_flush(struct sx_digest_file *f, int64_t now_ms, int all,
			 sx_digest_emit_fn emit, void *ctx, unsigned *emitted, char *err,
			 size_t errlen);

#endif
