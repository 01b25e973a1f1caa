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
};

extern const struct sx_sink_ops sx_sink_maildir_ops;
extern const struct sx_sink_ops sx_sink_jsonl_ops;
extern const struct sx_sink_ops sx_sink_exec_ops;

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

#endif
