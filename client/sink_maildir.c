/*
 * sink_maildir.c: one file per report, named by its report id, delivered
 * the Maildir way (tmp/, fsync, rename into new/, fsync new/).
 *
 * The name is the bare report id, not a Maildir unique name: the id is
 * unique already, and naming by id is what makes redelivery harmless.
 * Readers rename new/ID to cur/ID:2,FLAGS, so an id counts as delivered when
 * new/ or cur/ holds ID, or ID followed by ':' or ',' (Dovecot's ",S=size").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "sink_impl.h"

/* Room for the X-Sprex-* block: a few lines plus folded violations. */
#define XH_MAX (16u * 1024u)

struct maildir {
	int dirfd;  /* the Maildir folder itself; tmp/new/cur opened below it per call */
};

static int make_dir_at(int at, const char *name, char *err, size_t errlen, const char *shown)
{
	if (mkdirat(at, name, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", shown, strerror(errno));
		return SX_EIO;
	}
	return 0;
}

static int maildir_create(const struct sx_sink_conf *conf, void **impl, char *err, size_t errlen)
{
	if (!conf->path || !conf->path[0]) {
		snprintf(err, errlen, "maildir sink needs a path");
		return SX_EINVAL;
	}
	if (make_dir_at(AT_FDCWD, conf->path, err, errlen, conf->path) < 0)
		return SX_EIO;
	int fd = open(conf->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", conf->path, strerror(errno));
		return SX_EIO;
	}
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < 3; i++) {
		char shown[64];
		snprintf(shown, sizeof shown, "maildir %s/", subs[i]);
		if (make_dir_at(fd, subs[i], err, errlen, shown) < 0) {
			close(fd);
			return SX_EIO;
		}
	}
	struct maildir *md = calloc(1, sizeof *md);
	if (!md) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	md->dirfd = fd;
	*impl = md;
	return 0;
}

static void maildir_destroy(void *impl)
{
	struct maildir *md = impl;
	if (!md)
		return;
	close(md->dirfd);
	free(md);
}

/* 1 when sub/ holds id (bare or with an info/attribute suffix), 0 when not,
 * -1 with errno when sub/ cannot be read. */
static int present_in(int dirfd, const char *sub, const char *id)
{
	char path[SX_SINK_ID_MAX + 8];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", sub, id);
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	size_t n = strlen(id);
	int found = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, id, n) == 0 &&
		    (de->d_name[n] == ':' || de->d_name[n] == ',' || de->d_name[n] == '\0')) {
			found = 1;
			break;
		}
	}
	int e = errno;
	closedir(d);
	if (!found && e) {
		errno = e;
		return -1;
	}
	return found;
}

/* Makes sub/'s entries durable. A redelivery found in new/ or cur/ syncs
 * too: the earlier attempt may have died between its rename and this. */
static enum sx_sink_result sync_dir(int dirfd, const char *sub, char *err, size_t errlen)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "maildir fsync %s/: %s", sub, strerror(e));
		return SX_SINK_NAK;
	}
	close(fd);
	return SX_SINK_ACK;
}

/* The X-Sprex block is built with CRLF; a mail with bare LF line endings
 * gets it with LF so the file keeps one convention. */
static size_t match_eol(char *xh, size_t n, const uint8_t *mail, size_t len)
{
	const uint8_t *nl = memchr(mail, '\n', len);
	if (nl && nl > mail && nl[-1] == '\r')
		return n;
	size_t w = 0;
	for (size_t r = 0; r < n; r++)
		if (xh[r] != '\r')
			xh[w++] = xh[r];
	xh[w] = '\0';
	return w;
}

static enum sx_sink_result maildir_deliver(void *impl, const struct sx_delivery *dl, char *err,
					   size_t errlen)
{
	struct maildir *md = impl;
	const Sprex__Deliver *d = dl->d;
	if (!sx_sink_id_ok(d->report_id)) {
		/* never becomes valid: park it rather than retry forever */
		snprintf(err, errlen, "report id is not [a-z2-7]{1,%d}; not used as a file name",
			 SX_SINK_ID_MAX);
		return SX_SINK_REJECT;
	}
	const char *id = d->report_id;
	for (int i = 0; i < 2; i++) {
		const char *sub = i == 0 ? "new" : "cur";
		int p = present_in(md->dirfd, sub, id);
		if (p < 0) {
			snprintf(err, errlen, "maildir %s/: %s", sub, strerror(errno));
			return SX_SINK_NAK;
		}
		if (p > 0)
			return sync_dir(md->dirfd, sub, err, errlen);
	}

	char *xh = malloc(XH_MAX);
	if (!xh) {
		snprintf(err, errlen, "out of memory");
		return SX_SINK_NAK;
	}
	int xn = sx_sink_xheaders(d, xh, XH_MAX);
	if (xn < 0) {
		free(xh);
		snprintf(err, errlen, "X-Sprex header block larger than %u bytes", XH_MAX);
		return SX_SINK_NAK;
	}
	const uint8_t *mail = d->raw_mail.data ? d->raw_mail.data : (const uint8_t *)"";
	size_t xlen = match_eol(xh, (size_t)xn, mail, d->raw_mail.len);

	char tmp[SX_SINK_ID_MAX + 8], fin[SX_SINK_ID_MAX + 8];
	snprintf(tmp, sizeof tmp, "tmp/%s", id);
	snprintf(fin, sizeof fin, "new/%s", id);
	int fd = openat(md->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* left by an attempt that died before the rename: never delivered */
		if (unlinkat(md->dirfd, tmp, 0) == 0 || errno == ENOENT)
			fd = openat(md->dirfd, tmp,
				    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (fd < 0) {
		snprintf(err, errlen, "maildir %s: %s", tmp, strerror(errno));
		free(xh);
		return SX_SINK_NAK;
	}
	const char *what = "write";
	int ok = sx_sink_write_all(fd, xh, xlen) == 0 &&
		 sx_sink_write_all(fd, mail, d->raw_mail.len) == 0;
	if (ok && (what = "fsync", fsync(fd) < 0))
		ok = 0;
	int e = errno;
	if (close(fd) < 0 && ok) {
		e = errno;
		what = "close";
		ok = 0;
	}
	free(xh);
	if (ok) {
		what = "rename";
		ok = renameat(md->dirfd, tmp, md->dirfd, fin) == 0;
		e = errno;
	}
	if (!ok) {
		unlinkat(md->dirfd, tmp, 0);
		snprintf(err, errlen, "maildir %s %s: %s", what, tmp, strerror(e));
		return SX_SINK_NAK;
	}
	return sync_dir(md->dirfd, "new", err, errlen);
}

const struct sx_sink_ops sx_sink_maildir_ops = {
	.create = maildir_create,
	.destroy = maildir_destroy,
	.deliver = maildir_deliver,
};
