/*
 * sink_jsonl.c: one JSON object per report, one report per line, appended
 * to a file with a single write() and fsynced before the ack.
 *
 * A crash can leave a torn last line. Opening the file ends such a line
 * with '\n' so the next record starts on a line of its own, and the scan
 * that remembers the ids already stored counts only complete records (a
 * torn line's report was never acked, so its redelivery must be written).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "sink_impl.h"

/* Bytes of a line beyond its base64 mail: metadata, manifest, escaping. */
#define LINE_EXTRA_MAX (8u << 20)
#define SCAN_CHUNK (64u * 1024u)
#define LINE_HEAD "{\"report_id\":\""
#define MAIL_KEY "\"raw_mail\":\""
#define MAIL_KEY_LEN (sizeof MAIL_KEY - 1)

struct idset {
	char **slot;
	size_t cap;   /* power of two, or 0 */
	size_t n;
};

struct jsonl {
	int fd;
	char *path;
	int torn;     /* a failed write may have left a partial line */
	struct idset cur, prev;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int set_has(const struct idset *set, const char *id)
{
	if (set->cap == 0)
		return 0;
	for (size_t i = hash(id) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (!set->slot[i])
			return 0;
		if (strcmp(set->slot[i], id) == 0)
			return 1;
	}
}

static void set_free(struct idset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof *set);
}

/* Inserts into a table with room (load below one half). */
static void set_put(struct idset *set, char *id)
{
	size_t i = hash(id) & (set->cap - 1);
	while (set->slot[i])
		i = (i + 1) & (set->cap - 1);
	set->slot[i] = id;
	set->n++;
}

static int remember(struct jsonl *j, const char *id)
{
	if (set_has(&j->cur, id) || set_has(&j->prev, id))
		return 0;
	if (j->cur.n >= SX_SINK_JSONL_IDS) {
		set_free(&j->prev);
		j->prev = j->cur;
		memset(&j->cur, 0, sizeof j->cur);
	}
	if ((j->cur.n + 1) * 2 > j->cur.cap) {
		struct idset bigger = { NULL, j->cur.cap ? j->cur.cap * 2 : 1024, 0 };
		bigger.slot = calloc(bigger.cap, sizeof *bigger.slot);
		if (!bigger.slot)
			return SX_ENOMEM;
		for (size_t i = 0; i < j->cur.cap; i++)
			if (j->cur.slot[i])
				set_put(&bigger, j->cur.slot[i]);
		free(j->cur.slot);
		j->cur = bigger;
	}
	char *copy = strdup(id);
	if (!copy)
		return SX_ENOMEM;
	set_put(&j->cur, copy);
	return 0;
}

static int is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* Streaming check of one line at a time: a record is complete when it ends
 * in "raw_mail":"BASE64"} with the base64 a multiple of 4 long. Only bytes
 * near the line's start and end are kept, so a line may be any length. */
struct scan {
	char head[sizeof LINE_HEAD + SX_SINK_ID_MAX + 1];
	size_t len;                      /* bytes of the current line */
	unsigned char win[MAIL_KEY_LEN]; /* the last bytes seen, oldest first */
	unsigned char run_key[MAIL_KEY_LEN]; /* bytes before the current base64 run */
	unsigned char quote_key[MAIL_KEY_LEN]; /* ... before the run the last '"' closed */
	size_t run, quote_run;
	unsigned char last, prev;
};

static void scan_byte(struct scan *sc, unsigned char c)
{
	if (sc->len < sizeof sc->head - 1)
		sc->head[sc->len] = (char)c;
	if (is_b64(c)) {
		if (sc->run == 0)
			memcpy(sc->run_key, sc->win, MAIL_KEY_LEN);
		sc->run++;
	} else {
		if (c == '"') {
			if (sc->run == 0)
				memcpy(sc->run_key, sc->win, MAIL_KEY_LEN);
			memcpy(sc->quote_key, sc->run_key, MAIL_KEY_LEN);
			sc->quote_run = sc->run;
		}
		sc->run = 0;
	}
	memmove(sc->win, sc->win + 1, MAIL_KEY_LEN - 1);
	sc->win[MAIL_KEY_LEN - 1] = c;
	sc->prev = sc->last;
	sc->last = c;
	sc->len++;
}

/* At the end of a line: remembers its id when the record is complete. */
static int scan_line_end(struct jsonl *j, struct scan *sc)
{
	int rc = 0;
	size_t hl = sizeof LINE_HEAD - 1;
	size_t kept = sc->len < sizeof sc->head - 1 ? sc->len : sizeof sc->head - 1;
	sc->head[kept] = '\0';
	if (sc->len >= 2 && sc->prev == '"' && sc->last == '}' && sc->quote_run % 4 == 0 &&
	    memcmp(sc->quote_key, MAIL_KEY, MAIL_KEY_LEN) == 0 &&
	    strncmp(sc->head, LINE_HEAD, hl) == 0) {
		char *id = sc->head + hl, *q = strchr(id, '"');
		if (q) {
			*q = '\0';
			if (sx_sink_id_ok(id))
				rc = remember(j, id);
		}
	}
	memset(sc, 0, sizeof *sc);
	return rc;
}

/* Reads the whole file once: the ids of complete records. Returns 0, or
 * SX_EIO / SX_ENOMEM with errno-style text in err. */
static int scan_file(struct jsonl *j, char *err, size_t errlen)
{
	unsigned char *chunk = malloc(SCAN_CHUNK);
	struct scan *sc = calloc(1, sizeof *sc);
	int rc = 0;
	off_t off = 0;
	if (!chunk || !sc) {
		rc = SX_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = pread(j->fd, chunk, SCAN_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: read: %s", j->path, strerror(errno));
			rc = SX_EIO;
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n && rc == 0; i++) {
			if (chunk[i] == '\n')
				rc = scan_line_end(j, sc);
			else
				scan_byte(sc, chunk[i]);
		}
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		off += n;
	}
	/* a last line without '\n' is torn: its report was never acked */
out:
	free(chunk);
	free(sc);
	return rc;
}

/* Ends a torn last line with '\n' so the next record starts cleanly. */
static int repair(struct jsonl *j, char *err, size_t errlen)
{
	struct stat st;
	unsigned char last = '\n';
	if (fstat(j->fd, &st) < 0)
		goto fail;
	if (st.st_size > 0) {
		ssize_t n;
		do
			n = pread(j->fd, &last, 1, st.st_size - 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			goto fail;
	}
	if (last != '\n' && (sx_sink_write_all(j->fd, "\n", 1) < 0 || fsync(j->fd) < 0))
		goto fail;
	j->torn = 0;
	return 0;
fail:
	snprintf(err, errlen, "%s: repairing the last line: %s", j->path, strerror(errno));
	return SX_EIO;
}

static void jsonl_destroy(void *impl)
{
	struct jsonl *j = impl;
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	set_free(&j->cur);
	set_free(&j->prev);
	free(j->path);
	free(j);
}

static int jsonl_create(const struct sx_sink_conf *conf, void **impl, char *err, size_t errlen)
{
	if (!conf->path || !conf->path[0]) {
		snprintf(err, errlen, "jsonl sink needs a path");
		return SX_EINVAL;
	}
	struct jsonl *j = calloc(1, sizeof *j);
	if (!j || !(j->path = strdup(conf->path))) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	j->fd = open(conf->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", conf->path, strerror(errno));
		jsonl_destroy(j);
		return SX_EIO;
	}
	struct stat st;
	if (fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", conf->path);
		jsonl_destroy(j);
		return SX_EIO;
	}
	int rc = scan_file(j, err, errlen);
	if (rc == 0)
		rc = repair(j, err, errlen);
	if (rc < 0) {
		jsonl_destroy(j);
		return rc;
	}
	*impl = j;
	return 0;
}

static const char *consent_name(unsigned bit)
{
	switch (bit) {
	case SPREX__CONSENT__CONSENT_ASSOCIATION:
		return "association";
	case SPREX__CONSENT__CONSENT_ISP:
		return "isp";
	case SPREX__CONSENT__CONSENT_ENFORCEMENT:
		return "enforcement";
	default:
		return NULL;
	}
}

static void str_or_empty(struct sx_json *js, const char *key, const char *v)
{
	sx_json_key(js, key);
	sx_json_str(js, v ? v : "");
}

static void put_meta(struct sx_json *js, const Sprex__ReportMeta *m)
{
	sx_json_key(js, "meta");
	if (!m) {
		sx_json_null(js);
		return;
	}
	sx_json_obj_begin(js);
	str_or_empty(js, "report_id", m->report_id);
	sx_json_key(js, "seq");
	sx_json_int(js, (int64_t)m->seq);
	str_or_empty(js, "source", sx_sink_source_name(m->source));
	sx_json_key(js, "consent");
	sx_json_arr_begin(js);
	for (unsigned bit = 1; bit <= 4; bit <<= 1)
		if (m->consent & bit)
			sx_json_str(js, consent_name(bit));
	sx_json_arr_end(js);
	sx_json_key(js, "received_ms");
	sx_json_int(js, m->received_ms);
	str_or_empty(js, "source_ip", m->source_ip);
	sx_json_key(js, "source_port");
	sx_json_int(js, m->source_port);
	str_or_empty(js, "isp", m->isp);
	str_or_empty(js, "country", m->country);
	sx_json_key(js, "violations");
	sx_json_arr_begin(js);
	for (size_t i = 0; i < m->n_violations; i++) {
		sx_json_obj_begin(js);
		str_or_empty(js, "flag", m->violations[i]->flag);
		str_or_empty(js, "evidence", m->violations[i]->evidence);
		str_or_empty(js, "article", m->violations[i]->article);
		sx_json_obj_end(js);
	}
	sx_json_arr_end(js);
	sx_json_key(js, "categories");
	sx_json_arr_begin(js);
	for (size_t i = 0; i < m->n_categories; i++)
		sx_json_str(js, m->categories[i] ? m->categories[i] : "");
	sx_json_arr_end(js);
	sx_json_key(js, "redaction_count");
	sx_json_int(js, m->redaction_count);
	str_or_empty(js, "sha256", m->sha256);
	sx_json_obj_end(js);
}

static void put_manifest(struct sx_json *js, const Sprex__Deliver *d)
{
	sx_json_key(js, "manifest");
	sx_json_arr_begin(js);
	for (size_t i = 0; i < d->n_manifest; i++) {
		const Sprex__RedactionEntry *e = d->manifest[i];
		sx_json_obj_begin(js);
		str_or_empty(js, "part", e->part);
		str_or_empty(js, "where", e->where);
		str_or_empty(js, "kind", e->kind);
		str_or_empty(js, "encoding", e->encoding);
		sx_json_key(js, "count");
		sx_json_int(js, e->count);
		sx_json_key(js, "offset");
		sx_json_int(js, (int64_t)e->offset);
		sx_json_key(js, "length");
		sx_json_int(js, (int64_t)e->length);
		sx_json_obj_end(js);
	}
	sx_json_arr_end(js);
}

/* The record for d, '\n'-terminated, into line. Returns 0 or an sx_err. */
static int build_line(const struct sx_delivery *dl, struct sx_buf *line)
{
	const Sprex__Deliver *d = dl->d;
	const unsigned char *mail = d->raw_mail.data ? d->raw_mail.data : (const unsigned char *)"";
	size_t mlen = d->raw_mail.len;
	if (mlen > (size_t)(1u << 30))
		return SX_ETOOBIG;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (EVP_Digest(mail, mlen, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return SX_ENOMEM;
	char hex[65];
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	size_t b64len = 4 * ((mlen + 2) / 3);
	char *b64 = malloc(b64len + 1);
	if (!b64)
		return SX_ENOMEM;
	EVP_EncodeBlock((unsigned char *)b64, mail, (int)mlen);

	sx_buf_init(line, b64len + LINE_EXTRA_MAX);
	struct sx_json js;
	sx_json_init(&js, line);
	sx_json_obj_begin(&js);
	str_or_empty(&js, "report_id", d->report_id); /* first: the open-time scan reads it */
	sx_json_key(&js, "seq");
	sx_json_int(&js, (int64_t)d->seq);
	sx_json_key(&js, "delivery_count");
	sx_json_int(&js, d->delivery_count);
	str_or_empty(&js, "subscription", dl->subscription);
	put_meta(&js, d->meta);
	put_manifest(&js, d);
	str_or_empty(&js, "mail_sha256", hex);
	sx_json_key(&js, "raw_mail"); /* last: the scan checks the line ends with it */
	sx_json_strn(&js, b64, b64len);
	sx_json_obj_end(&js);
	int rc = sx_json_finish(&js);
	free(b64);
	if (rc == 0)
		rc = sx_buf_append(line, "\n", 1);
	if (rc < 0)
		sx_buf_finish(line);
	return rc;
}

static enum sx_sink_result jsonl_deliver(void *impl, const struct sx_delivery *dl, char *err,
					 size_t errlen)
{
	struct jsonl *j = impl;
	const Sprex__Deliver *d = dl->d;
	if (!sx_sink_id_ok(d->report_id)) {
		snprintf(err, errlen, "report id is not [a-z2-7]{1,%d}", SX_SINK_ID_MAX);
		return SX_SINK_REJECT;
	}
	if (j->torn && repair(j, err, errlen) < 0)
		return SX_SINK_NAK;
	if (set_has(&j->cur, d->report_id) || set_has(&j->prev, d->report_id))
		return SX_SINK_ACK;
	struct sx_buf line;
	int rc = build_line(dl, &line);
	if (rc < 0) {
		snprintf(err, errlen, "building the record: %s", sx_strerror(rc));
		return SX_SINK_NAK;
	}
	size_t n = sx_buf_used(&line);
	ssize_t w;
	do
		w = write(j->fd, sx_buf_head(&line), n);
	while (w < 0 && errno == EINTR);
	int e = errno;
	sx_buf_finish(&line);
	if (w < 0 || (size_t)w != n) {
		/* part of the line may be in the file: end it before the next one */
		j->torn = 1;
		snprintf(err, errlen, "%s: write: %s", j->path,
			 w < 0 ? strerror(e) : "short write");
		return SX_SINK_NAK;
	}
	if (fsync(j->fd) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", j->path, strerror(errno));
		return SX_SINK_NAK;
	}
	/* stored and durable: out of memory here only costs a duplicate line on
	 * redelivery, so it does not change the outcome */
	(void)remember(j, d->report_id);
	return SX_SINK_ACK;
}

const struct sx_sink_ops sx_sink_jsonl_ops = {
	.create = jsonl_create,
	.destroy = jsonl_destroy,
	.deliver = jsonl_deliver,
};
