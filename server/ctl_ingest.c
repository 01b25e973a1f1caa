/*
 * ctl_ingest.c: sprexctl ingest: reports from files, a Maildir or an MTA pipe
 * through the intake pipeline into the store.
 *
 * The reporter's original is read into memory only, wiped before it is freed,
 * and the process makes no core file while it holds one.
 */
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"
#include "tlsctx.h"
#include "intake.h"
#include "intake_pool.h"
#include "srvconf.h"

#define INGEST_USAGE \
	"  ingest --source public|monitor|chain [--consent association,isp,enforcement]\n" \
	"         [--reporter ADDR]... [--jobs N] (FILE... | --maildir DIR | -)\n" \
	"                          de-personalize and store reports: forwarded reports\n" \
	"                          (public; consent for public ones only, none by\n" \
	"                          default), monitor captures or chain mail; --reporter\n" \
	"                          names a further address or name to redact. One line\n" \
	"                          a message: 'FILE: stored ID seq N', 'quarantined ID\n" \
	"                          seq N: why', 'duplicate of ID seq N' (the same\n" \
	"                          message with the same options was ingested before),\n" \
	"                          'refused: why', 'not stored: why'.\n" \
	"                          --maildir reads DIR/new and DIR/cur (left in place).\n" \
	"                          '-' is an MTA pipe: the message on stdin, the line on\n" \
	"                          stderr, exit 0 stored, 65 unusable message, 75 try\n" \
	"                          again later, 78 configuration error. With several\n" \
	"                          messages the exit status is 0 only if all were\n" \
	"                          stored, else the worst (what retrying cannot fix\n" \
	"                          outranks 75); what was stored stays stored.\n" \
	"                          --jobs: threads running the pipeline (default: one\n" \
	"                          per CPU, at most 64); reports are stored in the\n" \
	"                          order given, by one writer\n"

#define SX_CTL_ERR_MAX 512
/* Messages stored in one transaction (group commit), and the raw bytes and
 * the time after which a batch is committed early: the batch holds the write
 * lock while the pipeline runs, and sprexd's Submits wait for it. */
#define SX_INGEST_BATCH 64
#define SX_INGEST_BATCH_BYTES ((size_t)16 << 20)
#define SX_INGEST_BATCH_MS 250
/* Messages read ahead of the one being stored, per pipeline thread: enough
 * to keep every thread busy while the writer commits. Each holds at most
 * max_message_size bytes. */
#define SX_INGEST_AHEAD 2
/* Read size for messages. */
#define SX_INGEST_CHUNK ((size_t)64 << 10)
/* A Maildir's file names, at most (a bound on the listing's memory). */
#define SX_INGEST_MAILDIR_MAX 1000000u

enum outcome_kind { OUT_STORED, OUT_QUARANTINED, OUT_DUPLICATE, OUT_FAILED };

/* One message's result, printed once its batch is committed (or failed). */
struct outcome {
	const char *name;
	enum outcome_kind kind;
	int status;                      /* exit status for this message */
	int64_t seq;
	char id[SX_REPORT_ID_LEN + 1];
	char text[SX_CTL_ERR_MAX];       /* quarantine reason, or "refused: why" */
};

/* A message on its way: read (its bytes wiped when done) and running or run
 * through the pipeline, or already failed (o says why). */
struct pending {
	struct outcome o;
	int read;
	char key[SX_CLIENT_ID_MAX + 1];  /* the idempotency key (ingest_key) */
	uint8_t *raw;
	size_t len, cap;
	struct sx_intake job;
	struct sx_intake_job run;
};

struct ingest {
	const struct sx_ctl *ctl;
	struct sx_store *s;
	struct sx_intake_ctx ic;
	struct sx_intake in;             /* source, consent, reporters; raw per message */
	int pipe;                        /* "-": the MTA's exit codes, the line on stderr */
	int use_batch;                   /* several messages: group commit */
	int batch_open;
	size_t batch_bytes;
	int64_t batch_start_ms;          /* monotonic */
	struct outcome out[SX_INGEST_BATCH];
	size_t nout;
	int worst;
	int stopped;                     /* a store failure: try no further messages */
	size_t tried;                    /* messages taken on */
	struct sx_intake_pool *pool;     /* NULL: the pipeline runs on this thread */
	struct pending **q;              /* read ahead, in order: a ring of depth */
	size_t qhead, qn, depth;
};

/* Severity of an exit status for "the worst code": temporary failures rank
 * below permanent ones, so a batch with both says what retrying cannot fix. */
static int rank(int status)
{
	switch (status) {
	case EX_OK: return 0;
	case EX_TEMPFAIL: return 1;
	case EX_DATAERR: return 2;
	case EX_NOINPUT: return 3;
	case EX_IOERR: return 4;
	case EX_NOPERM: return 5;
	case EX_OSERR: return 6;
	case EX_CONFIG: return 7;
	default: return 8;
	}
}

static void note_status(struct ingest *g, int status)
{
	if (rank(status) > rank(g->worst))
		g->worst = status;
}

/* Exit status for a store or intake failure that is not the message's fault. */
static int failure_status(const struct ingest *g, int err)
{
	if (err == SX_EBUSY)
		return EX_TEMPFAIL;
	if (g->pipe)   /* the MTA keeps the message and tries again */
		return err == SX_EPERM ? EX_CONFIG : EX_TEMPFAIL;
	return sx_ctl_status(err);
}

static int is_refusal(int err)
{
	return err == SX_ETOOBIG || err == SX_ELIMIT || err == SX_EINVAL;
}

static struct outcome *next_outcome(struct ingest *g, const char *name)
{
	struct outcome *o = &g->out[g->nout++];
	memset(o, 0, sizeof *o);
	o->name = name;
	return o;
}

static void fail_outcome(struct outcome *o, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_outcome(struct outcome *o, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof o->text, fmt, ap);
	va_end(ap);
	o->kind = OUT_FAILED;
	o->status = status;
}

static void print_outcome(struct ingest *g, const struct outcome *o)
{
	FILE *f = g->pipe ? stderr : stdout;
	switch (o->kind) {
	case OUT_STORED:
		fprintf(f, "%s: stored %s seq %lld\n", o->name, o->id, (long long)o->seq);
		break;
	case OUT_QUARANTINED:
		fprintf(f, "%s: quarantined %s seq %lld: %s\n", o->name, o->id,
			(long long)o->seq, o->text);
		break;
	case OUT_DUPLICATE:
		fprintf(f, "%s: duplicate of %s seq %lld\n", o->name, o->id, (long long)o->seq);
		break;
	case OUT_FAILED:
		fprintf(f, "%s: %s\n", o->name, o->text);
		break;
	}
	note_status(g, o->status);
}

/*
 * Commits the open batch and prints the outcomes it covers. When the commit
 * fails, what the batch held is reported as not stored and no further
 * message is tried.
 */
static void flush(struct ingest *g)
{
	if (g->batch_open) {
		g->batch_open = 0;
		int rc = sx_store_batch_commit(g->s);
		if (rc != 0) {
			int status = failure_status(g, rc);
			for (size_t i = 0; i < g->nout; i++)
				if (g->out[i].kind != OUT_FAILED)
					fail_outcome(&g->out[i], status, "not stored: %s%s",
						     sx_store_errmsg(g->s),
						     status == EX_TEMPFAIL ? " (try again later)"
									   : "");
			g->stopped = 1;
		}
	}
	for (size_t i = 0; i < g->nout; i++)
		print_outcome(g, &g->out[i]);
	g->nout = 0;
	g->batch_bytes = 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees a message buffer after wiping it: it held the reporter's original. */
static void wipe_free(uint8_t *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

/*
 * Reads fd to its end into a malloc'ed buffer of at most max bytes, starting
 * with room for hint bytes (a file's size + 1 reads it in one go). Returns 0
 * with *out, *len and *cap (the caller wipe_frees cap bytes), SX_ETOOBIG (more
 * than max; the rest is read and dropped when drain is set, so a pipe's
 * writer finishes), SX_EIO (errno kept) or SX_ENOMEM.
 */
static int read_all(int fd, size_t max, size_t hint, int drain, uint8_t **out, size_t *len,
		    size_t *cap)
{
	uint8_t *b = NULL;
	size_t n = 0, c = 0;
	*out = NULL;
	*len = 0;
	*cap = 0;
	for (;;) {
		if (n == c) {
			if (n > max) {
				int saved = 0;
				if (drain) {
					ssize_t r;
					uint8_t sink[4096];
					while ((r = read(fd, sink, sizeof sink)) > 0 ||
					       (r < 0 && errno == EINTR))
						;
					saved = r < 0 ? errno : 0;
				}
				wipe_free(b, c);
				errno = saved;
				return SX_ETOOBIG;
			}
			size_t nc = c == 0 ? (hint > 0 ? hint : SX_INGEST_CHUNK)
				    : c > (max + 1) / 2 ? max + 1 : c * 2;
			if (nc > max + 1)
				nc = max + 1;   /* one byte past max tells "more" */
			uint8_t *nb = malloc(nc);
			if (nb == NULL) {
				wipe_free(b, c);
				return SX_ENOMEM;
			}
			if (n > 0)
				memcpy(nb, b, n);
			wipe_free(b, c);   /* no stale copy of the original lingers */
			b = nb;
			c = nc;
		}
		ssize_t r = read(fd, b + n, c - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			wipe_free(b, c);
			errno = e;
			return SX_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = b;
	*len = n;
	*cap = c;
	return 0;
}

/* A new message at the end of the queue; NULL without memory, said here at
 * once (the line comes ahead of the queue's). */
static struct pending *enqueue(struct ingest *g, const char *name)
{
	struct pending *p = calloc(1, sizeof *p);
	if (p == NULL) {
		fprintf(stderr, "%s: not stored: out of memory\n", name);
		note_status(g, g->pipe ? EX_TEMPFAIL : EX_OSERR);
		return NULL;
	}
	p->o.name = name;
	g->q[(g->qhead + g->qn++) % g->depth] = p;
	return p;
}

/* A message that failed before the pipeline: its outcome waits its turn. */
static void enqueue_fail(struct ingest *g, const char *name, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void enqueue_fail(struct ingest *g, const char *name, int status, const char *fmt, ...)
{
	struct pending *p = enqueue(g, name);
	if (p == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->o.text, sizeof p->o.text, fmt, ap);
	va_end(ap);
	p->o.kind = OUT_FAILED;
	p->o.status = status;
}

/*
 * The operator's idempotency key of a message: "ingest:" and the SHA-256 of
 * the run's source, consent and reporters and the message's bytes, so the
 * same message ingested again with the same options (an MTA that lost the
 * exit status and delivers again) is the report stored the first time, and
 * one ingested again with another --reporter is a new report. Returns 0 or
 * SX_ENOMEM.
 */
static int ingest_key(const struct ingest *g, const uint8_t *raw, size_t len,
		      char out[SX_CLIENT_ID_MAX + 1])
{
	static const char tag[] = "sprex ingest key 1";
	uint8_t opt[2] = { (uint8_t)g->in.source, (uint8_t)g->in.consent }, md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(c, tag, sizeof tag) && EVP_DigestUpdate(c, opt, sizeof opt);
	for (size_t i = 0; ok && i < g->in.nreporters; i++)
		ok = EVP_DigestUpdate(c, g->in.reporters[i], strlen(g->in.reporters[i]) + 1);
	ok = ok && EVP_DigestUpdate(c, "", 1) && EVP_DigestUpdate(c, raw, len) &&
	     EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	if (!ok)
		return SX_ENOMEM;
	memcpy(out, "ingest:", 7);
	sx_hex(md, sizeof md, out + 7);
	return 0;
}

/* Takes the message raw (len bytes, cap allocated, wiped when done) and
 * starts its pipeline run, unless its key names a stored report. */
static void enqueue_read(struct ingest *g, const char *name, uint8_t *raw, size_t len, size_t cap)
{
	struct pending *p = enqueue(g, name);
	if (p == NULL) {
		wipe_free(raw, cap);
		return;
	}
	struct sx_intake_result res;
	char err[SX_CTL_ERR_MAX];
	int rc = ingest_key(g, raw, len, p->key);
	if (rc == 0)
		rc = sx_intake_lookup(g->s, 0, p->key, &res, err, sizeof err);
	else
		snprintf(err, sizeof err, "out of memory");
	if (rc != SX_ENOTFOUND) {
		wipe_free(raw, cap);
		if (rc == 0) {
			p->o.kind = OUT_DUPLICATE;
			p->o.seq = res.seq;
			memcpy(p->o.id, res.id, sizeof p->o.id);
		} else {
			int status = failure_status(g, rc);
			p->o.kind = OUT_FAILED;
			p->o.status = status;
			snprintf(p->o.text, sizeof p->o.text, "not stored: %.460s%s", err,
				 status == EX_TEMPFAIL ? " (try again later)" : "");
		}
		return;
	}
	p->read = 1;
	p->raw = raw;
	p->len = len;
	p->cap = cap;
	p->job = g->in;
	p->job.raw = raw;
	p->job.len = len;
	sx_intake_job_init(&p->run, &g->ic, &p->job);
	if (g->pool != NULL)
		sx_intake_pool_run(g->pool, &p->run);
}

/* Waits for a message's run and frees it. */
static void release(struct ingest *g, struct pending *p)
{
	if (p->read) {
		if (g->pool != NULL)
			sx_intake_pool_wait(g->pool, &p->run);
		sx_intake_job_finish(&p->run);
		wipe_free(p->raw, p->cap);
	}
	free(p);
}

/* Stores one message whose run is done: inside the batch when there are
 * several, else in the store's own transaction. The write lock is taken
 * only once the pipeline is done. */
static void store_one(struct ingest *g, struct pending *p)
{
	struct outcome *o = next_outcome(g, p->o.name);
	if (!p->read) {
		*o = p->o;
		return;
	}
	if (g->pool != NULL)
		sx_intake_pool_wait(g->pool, &p->run);
	else
		sx_intake_job_run(&p->run);
	if (g->use_batch && !g->batch_open && p->run.rc == 0) {
		int rc = sx_store_batch_begin(g->s);
		if (rc != 0) {
			int status = failure_status(g, rc);
			fail_outcome(o, status, "not stored: %s%s", sx_store_errmsg(g->s),
				     status == EX_TEMPFAIL ? " (try again later)" : "");
			g->stopped = 1;
			return;
		}
		g->batch_open = 1;
		g->batch_start_ms = mono_ms();
	}
	struct sx_intake_result res;
	char err[SX_CTL_ERR_MAX];
	int rc = sx_intake_job_store(&p->run, g->s, 0, p->key, &res, err, sizeof err);
	if (rc == 0) {
		o->kind = res.duplicate ? OUT_DUPLICATE : res.quarantined ? OUT_QUARANTINED
									    : OUT_STORED;
		o->seq = res.seq;
		memcpy(o->id, res.id, sizeof o->id);
		snprintf(o->text, sizeof o->text, "%s", res.reason);
		g->batch_bytes += p->len;
	} else if (is_refusal(rc)) {
		fail_outcome(o, EX_DATAERR, "refused: %s", err);
	} else {
		/* The store (or memory) failed: keep what the batch holds if it
		 * still commits, then stop. */
		int status = failure_status(g, rc);
		fail_outcome(o, status, "not stored: %s%s", err,
			     status == EX_TEMPFAIL ? " (try again later)" : "");
		g->stopped = 1;
	}
}

/* Stores the oldest message in the queue, and commits when the batch is
 * full. After a store failure the queue is emptied without storing. */
static void complete_one(struct ingest *g)
{
	struct pending *p = g->q[g->qhead];
	g->qhead = (g->qhead + 1) % g->depth;
	g->qn--;
	if (!g->stopped) {
		g->tried++;
		store_one(g, p);
		if (g->stopped || g->nout == SX_INGEST_BATCH ||
		    g->batch_bytes >= SX_INGEST_BATCH_BYTES ||
		    (g->batch_open && mono_ms() - g->batch_start_ms >= SX_INGEST_BATCH_MS))
			flush(g);
	}
	release(g, p);
}

/* Reads and submits one file. */
static void ingest_file(struct ingest *g, const char *path)
{
	size_t max = g->ic.pc.limits.max_size;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		enqueue_fail(g, path, e == ENOENT ? EX_NOINPUT : e == EACCES ? EX_NOPERM : EX_IOERR,
			     "cannot read: %s", strerror(e));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		enqueue_fail(g, path, EX_NOINPUT, "cannot read: not a regular file");
		close(fd);
		return;
	}
	if ((uint64_t)st.st_size > max) {
		enqueue_fail(g, path, EX_DATAERR, "refused: message of %lld bytes "
			     "exceeds max_message_size (%zu bytes)", (long long)st.st_size, max);
		close(fd);
		return;
	}
	uint8_t *raw;
	size_t len, cap;
	int rc = read_all(fd, max, (size_t)st.st_size + 1, 0, &raw, &len, &cap);
	int e = errno;
	close(fd);
	if (rc == SX_ETOOBIG)   /* it grew while we read */
		enqueue_fail(g, path, EX_DATAERR, "refused: message exceeds "
			     "max_message_size (%zu bytes)", max);
	else if (rc == SX_ENOMEM)
		enqueue_fail(g, path, EX_OSERR, "cannot read: out of memory");
	else if (rc != 0)
		enqueue_fail(g, path, EX_IOERR, "cannot read: %s", strerror(e));
	else if (len == 0)
		enqueue_fail(g, path, EX_DATAERR, "refused: empty message");
	else {
		enqueue_read(g, path, raw, len, cap); /* the queue's now */
		raw = NULL;
	}
	wipe_free(raw, rc == 0 ? cap : 0);
}

/* Reads and submits the message on standard input, named name ("-"). */
static void ingest_stdin(struct ingest *g, const char *name)
{
	size_t max = g->ic.pc.limits.max_size;
	uint8_t *raw;
	size_t len, cap;
	int rc = read_all(STDIN_FILENO, max, 0, 1, &raw, &len, &cap);
	int e = errno;
	if (rc == SX_ETOOBIG)
		enqueue_fail(g, name, EX_DATAERR, "refused: message exceeds "
			     "max_message_size (%zu bytes)", max);
	else if (rc == SX_ENOMEM)
		enqueue_fail(g, name, failure_status(g, rc),
			     "not stored: out of memory (try again later)");
	else if (rc != 0)
		enqueue_fail(g, name, g->pipe ? EX_TEMPFAIL : EX_IOERR,
			     "cannot read standard input: %s", strerror(e));
	else if (len == 0)
		enqueue_fail(g, name, EX_DATAERR, "refused: empty message");
	else {
		enqueue_read(g, name, raw, len, cap); /* the queue's now */
		raw = NULL;
	}
	wipe_free(raw, rc == 0 ? cap : 0);
}

/* Reads one message into the queue unless a store failure stopped the run,
 * storing the oldest while the queue is full. Returns 0, or -1 once stopped. */
typedef void (*source_fn)(struct ingest *g, const char *path);

static int step(struct ingest *g, const char *path, source_fn fn)
{
	while (g->qn > 0 && (g->qn == g->depth || g->stopped))
		complete_one(g);
	if (g->stopped)
		return -1;
	fn(g, path);
	return 0;
}

/* Stores what the queue holds, then commits. */
static void drain(struct ingest *g)
{
	while (g->qn > 0)
		complete_one(g);
	flush(g);
}

/* --- Maildir ------------------------------------------------------------- */

struct maildir_file {
	char *path;
	const char *base;   /* inside path */
};

struct maildir_list {
	struct maildir_file *f;
	size_t n, cap;
};

static int by_name(const void *a, const void *b)
{
	const struct maildir_file *x = a, *y = b;
	int c = strcmp(x->base, y->base);
	return c ? c : strcmp(x->path, y->path);
}

/* Adds the regular files of dir/sub (dot files skipped). A missing sub is
 * fine (*found stays 0). Returns EX_OK or a reported exit status. */
static int maildir_scan(const char *dir, const char *sub, struct maildir_list *l, int *found)
{
	size_t dn = strlen(dir) + strlen(sub) + 2;
	char *d = malloc(dn);
	if (d == NULL)
		return sx_ctl_fail(EX_OSERR, "out of memory");
	snprintf(d, dn, "%s/%s", dir, sub);
	DIR *dp = opendir(d);
	if (dp == NULL) {
		int e = errno;
		free(d);
		if (e == ENOENT)
			return EX_OK;
		return sx_ctl_fail(e == EACCES ? EX_NOPERM : EX_IOERR, "ingest: %s/%s: %s", dir,
				   sub, strerror(e));
	}
	*found = 1;
	int status = EX_OK;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (l->n == SX_INGEST_MAILDIR_MAX) {
			status = sx_ctl_fail(EX_SOFTWARE, "ingest: more than %u files in %s",
					     SX_INGEST_MAILDIR_MAX, d);
			break;
		}
		size_t pn = strlen(d) + strlen(de->d_name) + 2;
		char *p = malloc(pn);
		if (p == NULL || (l->n == l->cap && l->cap > SIZE_MAX / 2 / sizeof *l->f)) {
			free(p);
			status = sx_ctl_fail(EX_OSERR, "out of memory");
			break;
		}
		snprintf(p, pn, "%s/%s", d, de->d_name);
		struct stat st;
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(p);   /* vanished meanwhile, or not a message */
			errno = 0;
			continue;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct maildir_file *nf = realloc(l->f, cap * sizeof *nf);
			if (nf == NULL) {
				free(p);
				status = sx_ctl_fail(EX_OSERR, "out of memory");
				break;
			}
			l->f = nf;
			l->cap = cap;
		}
		l->f[l->n].path = p;
		l->f[l->n].base = p + strlen(d) + 1;
		l->n++;
		errno = 0;
	}
	if (status == EX_OK && errno != 0)
		status = sx_ctl_fail(EX_IOERR, "ingest: %s: %s", d, strerror(errno));
	closedir(dp);
	free(d);
	return status;
}

static void maildir_free(struct maildir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->f[i].path);
	free(l->f);
}

/* --- options ------------------------------------------------------------- */

struct ingest_opts {
	const char *source;
	const char *consent;
	const char *maildir;
	const char **reporters;     /* argc slots */
	size_t nreporters;
	const char **files;         /* argc slots; "-" is stdin */
	size_t nfiles;
	unsigned jobs;              /* pipeline threads */
};

static int parse(int argc, char **argv, struct ingest_opts *o)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "consent", required_argument, NULL, 'c' },
		{ "reporter", required_argument, NULL, 'r' },
		{ "maildir", required_argument, NULL, 'm' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, st;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(INGEST_USAGE);
		case 's':
			if ((st = sx_ctl_once("ingest", "--source", &o->source, optarg)))
				return st;
			break;
		case 'c':
			if ((st = sx_ctl_once("ingest", "--consent", &o->consent, optarg)))
				return st;
			break;
		case 'm':
			if ((st = sx_ctl_once("ingest", "--maildir", &o->maildir, optarg)))
				return st;
			break;
		case 'j': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 ||
			    v < 1 || v > SX_INTAKE_POOL_MAX)
				return sx_ctl_fail(EX_USAGE, "ingest: --jobs needs a number from 1 "
						   "to %d, not '%s'", SX_INTAKE_POOL_MAX, optarg);
			o->jobs = (unsigned)v;
			break;
		}
		case 'r':
			/* Each --reporter used an argv slot, so argc bounds the count. */
			if (optarg[0] == '\0' || strlen(optarg) > SX_IDENT_LEN_MAX)
				return sx_ctl_fail(EX_USAGE, "ingest: --reporter needs an address "
						   "or name of 1 to %d bytes", SX_IDENT_LEN_MAX);
			o->reporters[o->nreporters++] = optarg;
			break;
		case 1:
			o->files[o->nfiles++] = optarg;
			break;
		default:
			return sx_ctl_badopt("ingest", c, argv);
		}
	}
	for (; optind < argc; optind++)   /* operands after "--" */
		o->files[o->nfiles++] = argv[optind];
	return -1;
}

static int parse_source(const char *s, enum sx_source_kind *out)
{
	if (s == NULL)
		return sx_ctl_fail(EX_USAGE, "ingest: missing --source (public, monitor, chain)");
	if (strcmp(s, "public") == 0)
		*out = SX_SRC_PUBLIC;
	else if (strcmp(s, "monitor") == 0)
		*out = SX_SRC_MONITOR;
	else if (strcmp(s, "chain") == 0)
		*out = SX_SRC_CHAIN;
	else
		return sx_ctl_fail(EX_USAGE, "ingest: unknown source '%s' (public, monitor, "
				   "chain)", s);
	return -1;
}

/* Parses "association,isp,enforcement" (any subset, or "none"). */
static int parse_consent(const char *s, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} words[] = {
		{ "association", SX_CONSENT_ASSOCIATION },
		{ "isp", SX_CONSENT_ISP },
		{ "enforcement", SX_CONSENT_ENFORCEMENT },
		{ "none", 0 },
	};
	*out = 0;
	const char *p = s;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i = 0;
		for (; i < sizeof words / sizeof words[0]; i++)
			if (strlen(words[i].name) == n && strncmp(words[i].name, p, n) == 0)
				break;
		if (i == sizeof words / sizeof words[0])
			return sx_ctl_fail(EX_USAGE, "ingest: unknown consent '%.*s' "
					   "(association, isp, enforcement, none)", (int)n, p);
		*out |= words[i].bit;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return -1;
}

static int check_inputs(const struct ingest_opts *o)
{
	int has_stdin = 0;
	for (size_t i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i], "-") == 0)
			has_stdin = 1;
	if (o->maildir != NULL && o->nfiles > 0)
		return sx_ctl_fail(EX_USAGE, "ingest: give FILEs, --maildir DIR or -, not "
				   "several");
	if (has_stdin && o->nfiles > 1)
		return sx_ctl_fail(EX_USAGE, "ingest: '-' (standard input) comes alone");
	if (o->maildir == NULL && o->nfiles == 0)
		return sx_ctl_fail(EX_USAGE, "ingest: nothing to ingest: give FILEs, --maildir "
				   "DIR or - (see sprexctl ingest --help)");
	if (o->maildir != NULL && o->maildir[0] == '\0')
		return sx_ctl_fail(EX_USAGE, "ingest: --maildir needs a directory");
	return -1;
}

/* Opens the store as an MTA wants it: what may pass is 75, what the operator
 * must fix is 78. */
static int open_pipe(const struct sx_ctl *ctl, struct sx_store **s)
{
	char err[SX_CTL_ERR_MAX];
	int rc = sx_store_open(ctl->db, 0, s, err, sizeof err);
	if (rc == 0)
		return EX_OK;
	int status = rc == SX_ENOTFOUND || rc == SX_EPERM || rc == SX_EDB || rc == SX_EINVAL
		? EX_CONFIG : EX_TEMPFAIL;
	return sx_ctl_fail(status, "%s%s", err, status == EX_TEMPFAIL ? " (try again later)" : "");
}

/* The read-ahead queue, and the pipeline threads when there is more than
 * one job. Returns EX_OK or a reported exit status. */
static int start(struct ingest *g, unsigned jobs)
{
	g->depth = jobs > 1 ? (size_t)jobs * SX_INGEST_AHEAD : 1;
	g->q = calloc(g->depth, sizeof *g->q);
	if (g->q == NULL)
		return sx_ctl_fail(g->pipe ? EX_TEMPFAIL : EX_OSERR, "ingest: out of memory");
	if (jobs > 1 && sx_intake_pool_create(jobs, &g->pool) != 0)
		return sx_ctl_fail(g->pipe ? EX_TEMPFAIL : EX_OSERR,
				   "ingest: cannot start %u pipeline threads", jobs);
	return EX_OK;
}

static int run(const struct sx_ctl *ctl, const struct ingest_opts *o, struct ingest *g)
{
	int status = g->pipe ? open_pipe(ctl, &g->s) : sx_ctl_open(ctl, 0, &g->s);
	if (status)
		return status;
	char err[SX_CTL_ERR_MAX];
	sx_ctl_audit_op(g->s, "ingest", g->pipe ? "-" : o->maildir != NULL ? o->maildir : "files");
	int rc = sx_intake_init(&g->ic, g->s, ctl->conf, err, sizeof err);
	if (rc != 0) {
		status = failure_status(g, rc);
		sx_ctl_audit_done(g->s, status);
		sx_store_close(g->s);
		return sx_ctl_fail(status, "%s: %s%s", ctl->db, err,
				   status == EX_TEMPFAIL ? " (try again later)" : "");
	}

	size_t total = 0;
	if (g->pipe) {
		total = 1;
		status = start(g, 1);
		if (status == EX_OK)
			step(g, "-", ingest_stdin);
	} else if (o->maildir != NULL) {
		struct maildir_list l = { .f = NULL };
		int found = 0;
		status = maildir_scan(o->maildir, "new", &l, &found);
		if (status == EX_OK)
			status = maildir_scan(o->maildir, "cur", &l, &found);
		if (status == EX_OK && !found)
			status = sx_ctl_fail(EX_NOINPUT, "ingest: %s is not a Maildir (no new/ or "
					     "cur/)", o->maildir);
		if (status == EX_OK) {
			if (l.n > 0)
				qsort(l.f, l.n, sizeof *l.f, by_name);
			total = l.n;
			g->use_batch = total > 1;
			status = start(g, total > 1 ? o->jobs : 1);
			for (size_t i = 0; status == EX_OK && i < l.n &&
					   step(g, l.f[i].path, ingest_file) == 0; i++)
				;
		}
		drain(g);   /* before the names it prints are freed */
		maildir_free(&l);
	} else {
		total = o->nfiles;
		g->use_batch = total > 1;
		status = start(g, total > 1 ? o->jobs : 1);
		for (size_t i = 0; status == EX_OK && i < o->nfiles &&
				   step(g, o->files[i], ingest_file) == 0; i++)
			;
	}
	drain(g);
	sx_intake_pool_destroy(g->pool);
	free(g->q);
	sx_intake_finish(&g->ic);
	sx_ctl_audit_done(g->s, status ? status : g->worst);
	sx_store_close(g->s);
	if (status)
		return status;
	if (g->stopped && total > g->tried)
		sx_ctl_fail(g->worst, "ingest: stopped after a store failure; %zu message(s) "
			    "not tried", total - g->tried);
	return g->worst;
}

static int cmd_ingest(const struct sx_ctl *ctl, int argc, char **argv)
{
	struct ingest_opts o = { .source = NULL };
	o.reporters = calloc((size_t)argc, sizeof *o.reporters);
	o.files = calloc((size_t)argc, sizeof *o.files);
	struct ingest *g = calloc(1, sizeof *g);
	int status = EX_OSERR;
	if (o.reporters == NULL || o.files == NULL || g == NULL) {
		sx_ctl_fail(status, "out of memory");
		goto out;
	}
	enum sx_source_kind source = SX_SRC_PUBLIC;
	unsigned consent = 0;
	if ((status = parse(argc, argv, &o)) >= 0 ||
	    (status = parse_source(o.source, &source)) >= 0)
		goto out;
	if (o.consent != NULL && source != SX_SRC_PUBLIC) {
		status = sx_ctl_fail(EX_USAGE, "ingest: --consent is for --source public only");
		goto out;
	}
	if ((o.consent != NULL && (status = parse_consent(o.consent, &consent)) >= 0) ||
	    (status = check_inputs(&o)) >= 0)
		goto out;

	/* A core file would put the reporter's original on disk. */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);

	if (o.jobs == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o.jobs = n < 1 ? 1 : n > SX_INTAKE_POOL_MAX ? SX_INTAKE_POOL_MAX : (unsigned)n;
	}
	g->ctl = ctl;
	g->pipe = o.nfiles == 1 && strcmp(o.files[0], "-") == 0;
	g->in.source = source;
	g->in.consent = consent;
	g->in.reporters = o.reporters;
	g->in.nreporters = o.nreporters;
	g->worst = EX_OK;
	status = run(ctl, &o, g);
out:
	free(o.reporters);
	free(o.files);
	free(g);
	return status;
}

const struct sx_ctl_cmd sx_ctl_ingest_cmds[] = {
	{ "ingest", INGEST_USAGE, cmd_ingest },
	{ NULL, NULL, NULL },
};
