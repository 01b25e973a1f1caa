/*
 * sink_xarf.c: the XARF notice sinks. "xarf-jsonl" appends one XARF v4
 * object per line to a file (one write, fsync before the ack), idempotent by
 * report id; "xarf-exec" runs a command per notice with the XARF JSON (one
 * line) on standard input, with the exec sink's exit-status rules.
 *
 * The JSON Lines writer remembers the ids of the complete lines it finds
 * when it opens the file (each line starts {"sprex_report_id":"ID"); a torn
 * last line, whose report was never acked, is ended with '\n' so the next
 * record starts on a line of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "sink_impl.h"

#define HEAD "{\"sprex_report_id\":\""
#define HEAD_LEN (sizeof HEAD - 1)
#define SCAN_CHUNK (64u * 1024u)
/* Ids remembered; beyond it the oldest half is forgotten (a redelivery that
 * old is appended again; readers key by sprex_report_id). */
#define IDS_MAX (1u << 20)

struct lines {
	int fd;
	char *path;
	int torn;
	char **slot;          /* open addressing, power-of-two cap */
	size_t cap, n;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int has(const struct lines *l, const char *id)
{
	if (!l->cap)
		return 0;
	for (size_t i = hash(id) & (l->cap - 1);; i = (i + 1) & (l->cap - 1)) {
		if (!l->slot[i])
			return 0;
		if (strcmp(l->slot[i], id) == 0)
			return 1;
	}
}

static void forget_all(struct lines *l)
{
	for (size_t i = 0; i < l->cap; i++)
		free(l->slot[i]);
	free(l->slot);
	l->slot = NULL;
	l->cap = l->n = 0;
}

static int remember(struct lines *l, const char *id)
{
	if (has(l, id))
		return 0;
	if (l->n >= IDS_MAX)
		forget_all(l);
	if ((l->n + 1) * 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		char **slot = calloc(cap, sizeof *slot);
		if (!slot)
			return SX_ENOMEM;
		for (size_t i = 0; i < l->cap; i++) {
			if (!l->slot[i])
				continue;
			size_t k = hash(l->slot[i]) & (cap - 1);
			while (slot[k])
				k = (k + 1) & (cap - 1);
			slot[k] = l->slot[i];
		}
		free(l->slot);
		l->slot = slot;
		l->cap = cap;
	}
	char *copy = strdup(id);
	if (!copy)
		return SX_ENOMEM;
	size_t k = hash(id) & (l->cap - 1);
	while (l->slot[k])
		k = (k + 1) & (l->cap - 1);
	l->slot[k] = copy;
	l->n++;
	return 0;
}

static void lines_destroy(void *impl)
{
	struct lines *l = impl;
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	forget_all(l);
	free(l->path);
	free(l);
}

/* One line's first bytes and its last byte decide: complete lines start
 * with HEAD and end with '}'. */
static int scan(struct lines *l, char *err, size_t errlen)
{
	char head[HEAD_LEN + SX_SINK_ID_MAX + 2];
	size_t hn = 0;
	unsigned char last = '\n';
	off_t off = 0;
	char *chunk = malloc(SCAN_CHUNK);
	if (!chunk) {
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	for (;;) {
		ssize_t r = pread(l->fd, chunk, SCAN_CHUNK, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: read: %s", l->path, strerror(errno));
			free(chunk);
			return SX_EIO;
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			unsigned char c = (unsigned char)chunk[i];
			if (c != '\n') {
				if (hn < sizeof head - 1)
					head[hn++] = (char)c;
				last = c;
				continue;
			}
			head[hn] = '\0';
			if (last == '}' && strncmp(head, HEAD, HEAD_LEN) == 0) {
				char *id = head + HEAD_LEN, *q = strchr(id, '"');
				if (q) {
					*q = '\0';
					if (sx_sink_id_ok(id) && remember(l, id) < 0) {
						free(chunk);
						snprintf(err, errlen, "out of memory");
						return SX_ENOMEM;
					}
				}
			}
			hn = 0;
			last = '\n';
		}
		off += r;
	}
	free(chunk);
	l->torn = last != '\n';
	return 0;
}

static int repair(struct lines *l, char *err, size_t errlen)
{
	if (sx_sink_write_all(l->fd, "\n", 1) < 0 || fsync(l->fd) < 0) {
		snprintf(err, errlen, "%s: ending a torn line: %s", l->path, strerror(errno));
		return SX_EIO;
	}
	l->torn = 0;
	return 0;
}

static int lines_create(const struct sx_sink_conf *conf, void **impl, char *err, size_t errlen)
{
	if (!conf->path || !conf->path[0]) {
		snprintf(err, errlen, "xarf-jsonl sink needs a path");
		return SX_EINVAL;
	}
	struct lines *l = calloc(1, sizeof *l);
	if (!l || !(l->path = strdup(conf->path))) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	l->fd = open(conf->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (l->fd < 0 || fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: cannot open as a regular file: %s", conf->path,
			 l->fd < 0 ? strerror(errno) : "not a regular file");
		lines_destroy(l);
		return SX_EIO;
	}
	int rc = scan(l, err, errlen);
	if (rc == 0 && l->torn)
		rc = repair(l, err, errlen);
	if (rc < 0) {
		lines_destroy(l);
		return rc;
	}
	*impl = l;
	return 0;
}

static enum sx_sink_result lines_deliver(void *impl, const struct sx_delivery *dl, char *err,
					 size_t errlen)
{
	struct lines *l = impl;
	const Sprex__Deliver *d = dl->d;
	if (l->torn && repair(l, err, errlen) < 0)
		return SX_SINK_NAK;
	if (has(l, d->report_id))
		return SX_SINK_ACK;
	const uint8_t *p = d->raw_mail.data;
	size_t n = d->raw_mail.len;
	if (!p || n < HEAD_LEN || memcmp(p, HEAD, HEAD_LEN) != 0 || p[n - 1] != '\n') {
		snprintf(err, errlen, "not an XARF line");
		return SX_SINK_REJECT;
	}
	ssize_t w;
	do
		w = write(l->fd, p, n);
	while (w < 0 && errno == EINTR);
	if (w < 0 || (size_t)w != n) {
		l->torn = 1;
		snprintf(err, errlen, "%s: write: %s", l->path, w < 0 ? strerror(errno) : "short");
		return SX_SINK_NAK;
	}
	if (fsync(l->fd) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", l->path, strerror(errno));
		return SX_SINK_NAK;
	}
	(void)remember(l, d->report_id); /* durable already: a failure costs a duplicate */
	return SX_SINK_ACK;
}

const struct sx_sink_ops sx_sink_xarf_lines_ops = {
	.create = lines_create,
	.destroy = lines_destroy,
	.deliver = lines_deliver,
};

static int xarf_jsonl_create(const struct sx_sink_conf *conf, void **impl, char *err,
			     size_t errlen)
{
	return sx_sink_notice_create(conf, SX_NOTICE_XARF, &sx_sink_xarf_lines_ops, impl, err,
				     errlen);
}

static int xarf_exec_create(const struct sx_sink_conf *conf, void **impl, char *err,
			    size_t errlen)
{
	return sx_sink_notice_create(conf, SX_NOTICE_XARF, &sx_sink_exec_ops, impl, err, errlen);
}

const struct sx_sink_ops sx_sink_xarf_jsonl_ops = {
	.create = xarf_jsonl_create,
	.destroy = sx_sink_notice_destroy,
	.deliver = sx_sink_notice_deliver,
	.flush = sx_sink_notice_flush,
};

const struct sx_sink_ops sx_sink_xarf_exec_ops = {
	.create = xarf_exec_create,
	.destroy = sx_sink_notice_destroy,
	.deliver = sx_sink_notice_deliver,
	.flush = sx_sink_notice_flush,
};
