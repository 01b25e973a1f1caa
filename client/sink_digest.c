/*
 * sink_digest.c: the digest state file of a notice sink in digest mode.
 *
 * The file holds one line per recorded report (digest.h). A report is
 * acked only after its line is fsynced, so an agent killed at any point
 * loses nothing: the worst case is a report recorded twice (redelivered
 * before its ack), which the state ignores by report id. Emitted groups are
 * removed by rewriting the file (temporary file, fsync, rename, fsync of the
 * folder); a crash before the rename sends that digest again, under the
 * same digest id, which the Maildir and JSON Lines writers recognise.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "err.h"
#include "sink_impl.h"

/* Largest state file read back (a day's reports are far below it). */
#define STATE_MAX (256u << 20)

struct sx_digest_file {
	char *path, *lock_path, *tmp_path;
	int lockfd;
	struct sx_digest dg;
	/* what the state was read from: reload when the file changed */
	int loaded;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

int sx_digest_file_open(const char *path, struct sx_digest_file **out, char *err, size_t errlen)
{
	*out = NULL;
	struct sx_digest_file *f = calloc(1, sizeof *f);
	size_t n = strlen(path);
	if (!f || !(f->path = strdup(path)) || !(f->lock_path = malloc(n + 6)) ||
	    !(f->tmp_path = malloc(n + 5))) {
		if (f) {
			free(f->path);
			free(f->lock_path);
		}
		free(f);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	snprintf(f->lock_path, n + 6, "%s.lock", path);
	snprintf(f->tmp_path, n + 5, "%s.tmp", path);
	sx_digest_init(&f->dg);
	f->lockfd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f->lockfd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", f->lock_path, strerror(errno));
		sx_digest_file_close(f);
		return SX_EIO;
	}
	*out = f;
	return 0;
}

void sx_digest_file_close(struct sx_digest_file *f)
{
	if (!f)
		return;
	if (f->lockfd >= 0)
		close(f->lockfd);
	sx_digest_finish(&f->dg);
	free(f->path);
	free(f->lock_path);
	free(f->tmp_path);
	free(f);
}

static int lock(struct sx_digest_file *f, char *err, size_t errlen)
{
	while (flock(f->lockfd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "%s: lock: %s", f->lock_path, strerror(errno));
		return SX_EIO;
	}
	return 0;
}

static void unlock(struct sx_digest_file *f)
{
	flock(f->lockfd, LOCK_UN);
}

static void remember_stat(struct sx_digest_file *f, const struct stat *st)
{
	f->loaded = 1;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime = st->st_mtim;
}

/* Opens the state (creating it) and brings f->dg up to date with it; a torn
 * last line is cut off. Returns the fd (O_APPEND) or a negative sx_err. */
static int sync_state(struct sx_digest_file *f, char *err, size_t errlen)
{
	int fd = open(f->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", f->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SX_EIO;
	}
	if (f->loaded && st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
	    st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
		return fd;
	if ((uint64_t)st.st_size > STATE_MAX) {
		snprintf(err, errlen, "%s: larger than %u bytes", f->path, STATE_MAX);
		close(fd);
		return SX_EIO;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	sx_digest_finish(&f->dg);
	sx_digest_init(&f->dg);
	size_t used = 0;
	int rc = sx_digest_load(&f->dg, buf, got, &used);
	free(buf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: not a digest state file (%s)", f->path,
			 sx_strerror(rc));
		close(fd);
		f->loaded = 0;
		return rc;
	}
	if (used < got && (ftruncate(fd, (off_t)used) < 0 || fsync(fd) < 0)) {
		snprintf(err, errlen, "%s: cutting a torn line: %s", f->path, strerror(errno));
		close(fd);
		f->loaded = 0;
		return SX_EIO;
	}
	if (fstat(fd, &st) == 0)
		remember_stat(f, &st);
	return fd;
}

int sx_digest_file_record(struct sx_digest_file *f, const char *ip, int64_t received_ms,
			  const char *id, const uint8_t *hdr, size_t hlen, char *err,
			  size_t errlen)
{
	int rc = lock(f, err, errlen);
	if (rc < 0)
		return rc;
	int fd = sync_state(f, err, errlen);
	if (fd < 0) {
		unlock(f);
		return fd;
	}
	if (sx_digest_has(&f->dg, id))
		goto done;
	struct sx_buf line;
	sx_buf_init(&line, SX_DIGEST_LINE_MAX + 256);
	rc = sx_digest_line(&line, ip, received_ms, id, hdr, hlen);
	if (rc == 0)
		rc = sx_digest_add(&f->dg, ip, received_ms, id, hdr, hlen);
	if (rc < 0) {
		snprintf(err, errlen, "recording report %s: %s", id, sx_strerror(rc));
		sx_buf_finish(&line);
		goto fail;
	}
	if (sx_sink_write_all(fd, sx_buf_head(&line), sx_buf_used(&line)) < 0 ||
	    fsync(fd) < 0) {
		snprintf(err, errlen, "%s: write: %s", f->path, strerror(errno));
		sx_buf_finish(&line);
		rc = SX_EIO;
		goto fail;
	}
	sx_buf_finish(&line);
	struct stat st;
	if (fstat(fd, &st) == 0)
		remember_stat(f, &st);
	else
		f->loaded = 0;
done:
	close(fd);
	unlock(f);
	return 0;
fail:
	f->loaded = 0;   /* memory may be ahead of the file: read it again */
	close(fd);
	unlock(f);
	return rc;
}

/* Writes the state of f->dg to PATH.tmp and renames it over PATH. */
static int rewrite(struct sx_digest_file *f, char *err, size_t errlen)
{
	struct sx_buf all;
	sx_buf_init(&all, STATE_MAX);
	int rc = 0;
	for (size_t i = 0; i < f->dg.n && rc == 0; i++)
		rc = sx_digest_group_lines(&all, &f->dg.g[i]);
	if (rc < 0) {
		sx_buf_finish(&all);
		snprintf(err, errlen, "%s: rewriting: %s", f->path, sx_strerror(rc));
		return rc;
	}
	int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && sx_sink_write_all(fd, sx_buf_head(&all), sx_buf_used(&all)) == 0 &&
		 fsync(fd) == 0;
	int e = errno;
	if (fd >= 0 && close(fd) < 0 && ok) {
		ok = 0;
		e = errno;
	}
	sx_buf_finish(&all);
	if (ok && rename(f->tmp_path, f->path) < 0) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		unlink(f->tmp_path);
		snprintf(err, errlen, "%s: rewriting: %s", f->path, strerror(e));
		return SX_EIO;
	}
	char *copy = strdup(f->path);
	if (copy) {
		int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(copy);
	}
	return 0;
}

int sx_digest_file_flush(struct sx_digest_file *f, int64_t now_ms, int all,
			 sx_digest_emit_fn emit, void *ctx, unsigned *emitted, char *err,
			 size_t errlen)
{
	unsigned sent = 0;
	if (emitted)
		*emitted = 0;
	int rc = lock(f, err, errlen);
	if (rc < 0)
		return rc;
	int fd = sync_state(f, err, errlen);
	if (fd < 0) {
		unlock(f);
		return fd;
	}
	close(fd);
	for (size_t i = 0; i < f->dg.n;) {
		if (!all && !sx_digest_due(&f->dg.g[i], now_ms)) {
			i++;
			continue;
		}
		rc = emit(ctx, &f->dg.g[i], err, errlen);
		if (rc < 0)
			break;
		sx_digest_drop(&f->dg, i);
		sent++;
	}
	if (sent) {
		char werr[256];
		int wrc = rewrite(f, werr, sizeof werr);
		f->loaded = 0;   /* read back what is on disk next time */
		if (wrc < 0 && rc == 0) {
			rc = wrc;
			snprintf(err, errlen, "%s", werr);
		}
	}
	unlock(f);
	if (emitted)
		*emitted = sent;
	return rc;
}
