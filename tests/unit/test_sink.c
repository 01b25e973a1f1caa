/*
 * test_sink.c: the agent's sinks (client/sink*.c): Maildir, JSON Lines and
 * exec, each against its contract in client/sink.h, in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "client/sink.h"
#include "client/sink_impl.h"
#include "lib/err.h"

#define ERRLEN 512
#define PATHLEN 512
#define ID1 "rabcdefghijklmnopqrstuvwxy"
#define ID2 "r234567abcdefghijklmnopqrs"

static const char MAIL_CRLF[] = "Received: from x by y\r\nSubject: buy\r\n\r\nbody line\r\n";
static const char MAIL_LF[] = "Received: from x by y\nSubject: buy\n\nbody line\n";

/* One report with every metadata field set. */
struct report {
	Sprex__Deliver d;
	Sprex__ReportMeta m;
	Sprex__Violation v[2];
	Sprex__Violation *vp[2];
	char *cats[2];
	Sprex__RedactionEntry r;
	Sprex__RedactionEntry *rp[1];
};

static void report_init(struct report *t, const char *id, const void *mail, size_t len)
{
	memset(t, 0, sizeof *t);
	sprex__deliver__init(&t->d);
	sprex__report_meta__init(&t->m);
	for (int i = 0; i < 2; i++) {
		sprex__violation__init(&t->v[i]);
		t->vp[i] = &t->v[i];
	}
	sprex__redaction_entry__init(&t->r);
	t->v[0].flag = (char *)"labeling";
	t->v[0].evidence = (char *)"no opt-out address";
	t->v[0].article = (char *)"4";
	t->v[1].flag = (char *)"spoofing";
	t->v[1].evidence = (char *)"spf=fail\r\nX-Injected: yes";
	t->v[1].article = (char *)"5";
	t->cats[0] = (char *)"japanese";
	t->cats[1] = (char *)"virus";
	t->r.part = (char *)"1";
	t->r.where = (char *)"To";
	t->r.kind = (char *)"address";
	t->r.encoding = (char *)"raw";
	t->r.count = 2;
	t->r.offset = 10;
	t->r.length = 17;
	t->rp[0] = &t->r;
	t->m.report_id = (char *)id;
	t->m.seq = 42;
	t->m.source = SPREX__SOURCE__SOURCE_MONITOR;
	t->m.consent = 3;
	t->m.received_ms = 1764326400123; /* 2025-11-28 10:40:00.123 UTC, a Friday */
	t->m.source_ip = (char *)"192.0.2.7";
	t->m.source_port = 25;
	t->m.isp = (char *)"isp-a";
	t->m.n_violations = 2;
	t->m.violations = t->vp;
	t->m.n_categories = 2;
	t->m.categories = t->cats;
	t->m.redaction_count = 3;
	t->m.sha256 = (char *)"00ff";
	t->m.country = (char *)"JP";
	t->d.seq = 42;
	t->d.report_id = (char *)id;
	t->d.delivery_count = 1;
	t->d.meta = &t->m;
	t->d.n_manifest = 1;
	t->d.manifest = t->rp;
	t->d.raw_mail.data = (uint8_t *)mail;
	t->d.raw_mail.len = len;
}

struct fixture {
	char dir[256];
	char err[ERRLEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/sx-sink-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	return 0;
}

static void path_in(const struct fixture *f, const char *rel, char *out)
{
	snprintf(out, PATHLEN, "%s/%s", f->dir, rel);
}

/* Reads a whole file (at most max bytes) into a malloc'ed, NUL-terminated
 * buffer; returns its length, or -1 when it cannot be read. */
static long slurp(const char *path, char **out)
{
	FILE *fp = fopen(path, "rb");
	*out = NULL;
	if (!fp)
		return -1;
	size_t cap = 1 << 22;
	char *b = malloc(cap + 1);
	assert_non_null(b);
	size_t n = fread(b, 1, cap, fp);
	fclose(fp);
	b[n] = '\0';
	*out = b;
	return (long)n;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static struct sx_sink *open_sink(struct fixture *f, enum sx_sink_kind kind, const char *rel,
				 const char *command)
{
	char p[PATHLEN];
	path_in(f, rel ? rel : "x", p);
	struct sx_sink_conf c = { .kind = kind, .path = p, .command = command,
					  .exec_timeout_ms = 10000, .exec_output_max = 4096 };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	assert_non_null(s);
	return s;
}

static enum sx_sink_result deliver(struct fixture *f, struct sx_sink *s, struct report *t)
{
	struct sx_delivery dl = { "feed-1", &t->d };
	return sx_sink_deliver(s, &dl, f->err, sizeof f->err);
}

/* ---------------------------------------------------------------- X-Sprex block */

static void test_xheaders(void **state)
{
	(void)state;
	struct report t;
	char out[2048];
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	int n = sx_sink_xheaders(&t.d, out, sizeof out);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	assert_string_equal(out,
		"X-Sprex-Report-Id: " ID1 "\r\n"
		"X-Sprex-Seq: 42\r\n"
		"X-Sprex-Source: monitor\r\n"
		"X-Sprex-Received: Fri, 28 Nov 2025 10:40:00 +0000\r\n"
		"X-Sprex-Violations: labeling (no opt-out address),\r\n"
		"\tspoofing (spf=fail  X-Injected: yes)\r\n"
		"X-Sprex-Source-IP: 192.0.2.7\r\n"
		"X-Sprex-ISP: isp-a\r\n"
		"X-Sprex-Redactions: 3\r\n");
	/* too small: an error, never a truncated block */
	assert_int_equal(sx_sink_xheaders(&t.d, out, 64), SX_ETOOBIG);
	assert_string_equal(out, "");
	/* no metadata: what the frame itself carries */
	t.d.meta = NULL;
	assert_true(sx_sink_xheaders(&t.d, out, sizeof out) > 0);
	assert_string_equal(out, "X-Sprex-Report-Id: " ID1 "\r\nX-Sprex-Seq: 42\r\n"
				 "X-Sprex-Redactions: 0\r\n");
}

/* ---------------------------------------------------------------- Maildir */

static void test_maildir_deliver(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN], *got, xh[2048];
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	path_in(f, "Maildir/new/" ID1, p);
	long n = slurp(p, &got);
	int xn = sx_sink_xheaders(&t.d, xh, sizeof xh);
	assert_int_equal(n, xn + (long)strlen(MAIL_CRLF));
	assert_memory_equal(got, xh, (size_t)xn);
	assert_memory_equal(got + xn, MAIL_CRLF, strlen(MAIL_CRLF)); /* exact bytes */
	free(got);
	struct stat st;
	path_in(f, "Maildir/tmp", p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_nlink, 2); /* tmp/ left empty */

	/* a mail with LF line endings gets an LF block */
	report_init(&t, ID2, MAIL_LF, strlen(MAIL_LF));
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	path_in(f, "Maildir/new/" ID2, p);
	n = slurp(p, &got);
	assert_non_null(got);
	assert_null(strchr(got, '\r'));
	assert_true(strncmp(got, "X-Sprex-Report-Id: " ID2 "\nX-Sprex-Seq: 42\n", 45) == 0);
	assert_string_equal(got + n - strlen(MAIL_LF), MAIL_LF);
	free(got);
	sx_sink_destroy(s);
}

static void test_maildir_redelivery(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN], q[PATHLEN];
	struct stat a, b;
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	path_in(f, "Maildir/new/" ID1, p);
	assert_int_equal(stat(p, &a), 0);
	t.d.delivery_count = 2;
	t.d.raw_mail.len = 5; /* different bytes would show if it rewrote */
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_size, b.st_size);
	assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);

	/* a reader moved it to cur/ with flags: still delivered */
	path_in(f, "Maildir/cur/" ID1 ":2,S", q);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_false(exists(p));
	assert_true(exists(q));
	sx_sink_destroy(s);

	/* a new sink over the same folder sees it too */
	s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_false(exists(p));
	sx_sink_destroy(s);
}

static void test_maildir_stale_tmp(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN], *got;
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	path_in(f, "Maildir/tmp/" ID1, p);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("half a mail", fp);
	fclose(fp);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_false(exists(p));
	path_in(f, "Maildir/new/" ID1, p);
	long n = slurp(p, &got);
	assert_true(n > (long)strlen(MAIL_CRLF));
	assert_string_equal(got + n - (long)strlen(MAIL_CRLF), MAIL_CRLF);
	free(got);
	sx_sink_destroy(s);
}

static void test_maildir_bad_id(void **state)
{
	struct fixture *f = *state;
	struct report t;
	static const char *const bad[] = { "", "../../etc/passwd", "rABC", "r0189", "a/b",
					   "r:2,S", "r.", "r aa" };
	struct sx_sink *s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		report_init(&t, bad[i], MAIL_CRLF, strlen(MAIL_CRLF));
		assert_int_equal(deliver(f, s, &t), SX_SINK_REJECT);
		assert_non_null(strstr(f->err, "report id"));
	}
	char longid[80];
	memset(longid, 'a', 65);
	longid[65] = '\0';
	report_init(&t, longid, MAIL_CRLF, strlen(MAIL_CRLF));
	assert_int_equal(deliver(f, s, &t), SX_SINK_REJECT);
	longid[64] = '\0'; /* SX_SINK_ID_MAX: accepted */
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	char p[PATHLEN];
	path_in(f, "Maildir/new", p);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	sx_sink_destroy(s);
}

static void test_maildir_unwritable(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN];
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_MAILDIR, "Maildir", NULL);
	/* tmp/ replaced by a file: works as root too, unlike chmod */
	path_in(f, "Maildir/tmp", p);
	assert_int_equal(rmdir(p), 0);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(deliver(f, s, &t), SX_SINK_NAK);
	assert_non_null(strstr(f->err, "tmp/" ID1));
	assert_non_null(strstr(f->err, "Not a directory"));
	sx_sink_destroy(s);

	/* a Maildir path that cannot be created */
	path_in(f, "Maildir/tmp/sub", p);
	struct sx_sink_conf c = { .kind = SX_SINK_MAILDIR, .path = p, .command = NULL,
					  .exec_timeout_ms = 0, .exec_output_max = 0 };
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EIO);
	assert_null(s);
	c.path = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EINVAL);
}

/* ---------------------------------------------------------------- JSON Lines */

/* The string value of "key":"..." in line (no escapes expected), malloc'ed. */
static char *json_str(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	const char *e = strchr(p, '"');
	assert_non_null(e);
	return strndup(p, (size_t)(e - p));
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_jsonl_deliver(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN], *got;
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	path_in(f, "feed.jsonl", p);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	long n = slurp(p, &got);
	assert_true(n > 0);
	assert_int_equal(count_lines(got), 1);
	assert_int_equal(got[n - 1], '\n');
	assert_true(strncmp(got, "{\"report_id\":\"" ID1 "\",\"seq\":42,\"delivery_count\":1,"
				 "\"subscription\":\"feed-1\",\"meta\":{", 93) == 0);
	assert_non_null(strstr(got, "\"source\":\"monitor\",\"consent\":[\"association\",\"isp\"]"));
	assert_non_null(strstr(got, "{\"flag\":\"spoofing\",\"evidence\":\"spf=fail\\r\\n"
				    "X-Injected: yes\",\"article\":\"5\"}"));
	assert_non_null(strstr(got, "\"categories\":[\"japanese\",\"virus\"]"));
	assert_non_null(strstr(got, "\"manifest\":[{\"part\":\"1\",\"where\":\"To\",\"kind\":"
				    "\"address\",\"encoding\":\"raw\",\"count\":2,\"offset\":10,"
				    "\"length\":17}]"));
	assert_non_null(strstr(got, "\"country\":\"JP\""));
	/* the mail comes back byte for byte, and its hash matches */
	char *b64 = json_str(got, "raw_mail");
	assert_non_null(b64);
	unsigned char mail[256];
	int ml = EVP_DecodeBlock(mail, (const unsigned char *)b64, (int)strlen(b64));
	size_t padding = strlen(b64) > 1 && b64[strlen(b64) - 1] == '=' ?
				 (b64[strlen(b64) - 2] == '=' ? 2 : 1) : 0;
	assert_int_equal((size_t)ml - padding, strlen(MAIL_CRLF));
	assert_memory_equal(mail, MAIL_CRLF, strlen(MAIL_CRLF));
	char *sha = json_str(got, "mail_sha256");
	unsigned char md[32];
	char hex[65];
	unsigned mdlen;
	EVP_Digest(MAIL_CRLF, strlen(MAIL_CRLF), md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(sha, hex);
	assert_memory_equal(got + n - 3, "\"}\n", 3); /* raw_mail is last */
	free(b64);
	free(sha);
	free(got);

	/* an empty mail is a valid record too */
	report_init(&t, ID2, "", 0);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	n = slurp(p, &got);
	assert_int_equal(count_lines(got), 2);
	assert_memory_equal(got + n - 15, "\"raw_mail\":\"\"}\n", 15);
	free(got);
	sx_sink_destroy(s);
}

static void test_jsonl_redelivery(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN];
	struct stat a, b;
	path_in(f, "feed.jsonl", p);
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &a), 0);
	t.d.delivery_count = 2;
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	sx_sink_destroy(s);
	/* after a restart the ids come from the file */
	s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	report_init(&t, ID2, MAIL_LF, strlen(MAIL_LF));
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_true(b.st_size > a.st_size);
	/* a bad id is parked, not written */
	report_init(&t, "R\"}", MAIL_LF, strlen(MAIL_LF));
	a = b;
	assert_int_equal(deliver(f, s, &t), SX_SINK_REJECT);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	sx_sink_destroy(s);
}

static void test_jsonl_torn_line(void **state)
{
	struct fixture *f = *state;
	struct report t;
	char p[PATHLEN], *got;
	path_in(f, "feed.jsonl", p);
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct sx_sink *s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	sx_sink_destroy(s);
	/* a crash in the middle of the second record, cut inside its manifest
	 * (ending in '}' like a whole record would) */
	FILE *fp = fopen(p, "a");
	assert_non_null(fp);
	fputs("{\"report_id\":\"" ID2 "\",\"seq\":43,\"manifest\":[{\"part\":\"\"}", fp);
	fclose(fp);
	s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	long n = slurp(p, &got);
	assert_int_equal(got[n - 1], '\n'); /* repaired at open */
	assert_int_equal(count_lines(got), 2);
	free(got);
	/* the torn report was never acked: its redelivery is written */
	report_init(&t, ID2, MAIL_LF, strlen(MAIL_LF));
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	n = slurp(p, &got);
	assert_int_equal(count_lines(got), 3);
	char *last = strrchr(got, '\n');
	*last = '\0';
	last = strrchr(got, '\n') + 1;
	assert_true(strncmp(last, "{\"report_id\":\"" ID2 "\",\"seq\":42,", 45) == 0);
	free(got);
	/* the whole one is still known */
	report_init(&t, ID1, MAIL_CRLF, strlen(MAIL_CRLF));
	struct stat a, b;
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	sx_sink_destroy(s);
}

/* An id made of n in base32, 26 characters like the server's. */
static void make_id(unsigned n, char id[27])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	id[0] = 'r';
	for (int i = 25; i >= 1; i--) {
		id[i] = b32[n & 31];
		n >>= 5;
	}
	id[26] = '\0';
}

/* The remembered ids are bounded: the oldest generation is forgotten. */
static void test_jsonl_id_bound(void **state)
{
	struct fixture *f = *state;
	char p[PATHLEN], id[27];
	unsigned n = 2 * SX_SINK_JSONL_IDS + 1;
	path_in(f, "feed.jsonl", p);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	for (unsigned i = 0; i < n; i++) {
		make_id(i, id);
		fprintf(fp, "{\"report_id\":\"%s\",\"raw_mail\":\"\"}\n", id);
	}
	fclose(fp);
	struct sx_sink *s = open_sink(f, SX_SINK_JSONL, "feed.jsonl", NULL);
	struct report t;
	struct stat a, b;
	assert_int_equal(stat(p, &a), 0);
	/* the newest 2 generations less one are known... */
	make_id(SX_SINK_JSONL_IDS, id);
	report_init(&t, id, MAIL_LF, strlen(MAIL_LF));
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	make_id(n - 1, id);
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	/* ...the oldest generation is not: written again */
	make_id(SX_SINK_JSONL_IDS - 1, id);
	t.d.report_id = id;
	assert_int_equal(deliver(f, s, &t), SX_SINK_ACK);
	assert_int_equal(stat(p, &b), 0);
	assert_true(b.st_size > a.st_size);
	sx_sink_destroy(s);
}

static void test_jsonl_open_errors(void **state)
{
	struct fixture *f = *state;
	char p[PATHLEN];
	struct sx_sink *s = NULL;
	struct sx_sink_conf c = { .kind = SX_SINK_JSONL, .path = f->dir, .command = NULL,
					  .exec_timeout_ms = 0, .exec_output_max = 0 };
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EIO);
	assert_null(s);
	path_in(f, "no/such/dir.jsonl", p);
	c.path = p;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EIO);
	assert_non_null(strstr(f->err, "cannot open"));
	c.kind = (enum sx_sink_kind)9;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EINVAL);
	sx_sink_destroy(NULL);
}

/* ---------------------------------------------------------------- exec */

static struct sx_sink *exec_sink(struct fixture *f, const char *command, uint64_t timeout_ms,
				 uint64_t output_max)
{
	struct sx_sink_conf c = { .kind = SX_SINK_EXEC, .path = NULL, .command = command,
					  .exec_timeout_ms = timeout_ms,
					  .exec_output_max = output_max };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	return s;
}

static enum sx_sink_result run(struct fixture *f, const char *command, uint64_t timeout_ms,
			       uint64_t output_max, const void *mail, size_t len)
{
	struct report t;
	report_init(&t, ID1, mail, len);
	struct sx_sink *s = exec_sink(f, command, timeout_ms, output_max);
	enum sx_sink_result r = deliver(f, s, &t);
	sx_sink_destroy(s);
	return r;
}

static void test_exec_status(void **state)
{
	struct fixture *f = *state;
	char cmd[PATHLEN * 2], p[PATHLEN], *got;
	path_in(f, "mail.out", p);
	snprintf(cmd, sizeof cmd, "cat > '%s'", p);
	assert_int_equal(run(f, cmd, 10000, 4096, MAIL_CRLF, strlen(MAIL_CRLF)), SX_SINK_ACK);
	assert_int_equal(slurp(p, &got), (long)strlen(MAIL_CRLF));
	assert_string_equal(got, MAIL_CRLF);
	free(got);

	assert_int_equal(run(f, "cat >/dev/null; echo not for us; exit 65", 10000, 4096,
			     MAIL_CRLF, strlen(MAIL_CRLF)), SX_SINK_REJECT);
	assert_string_equal(f->err, "exit status 65: not for us");
	assert_int_equal(run(f, "echo busy >&2; exit 3", 10000, 4096, MAIL_CRLF,
			     strlen(MAIL_CRLF)), SX_SINK_NAK);
	assert_string_equal(f->err, "exit status 3: busy");
	assert_int_equal(run(f, "kill -TERM $$", 10000, 4096, MAIL_CRLF, strlen(MAIL_CRLF)),
			 SX_SINK_NAK);
	assert_string_equal(f->err, "killed by signal 15 (SIGTERM)");
	assert_int_equal(run(f, "exit 0", 10000, 4096, "", 0), SX_SINK_ACK);

	struct sx_sink_conf c = { .kind = SX_SINK_EXEC, .path = NULL, .command = "",
					  .exec_timeout_ms = 0, .exec_output_max = 0 };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EINVAL);
	assert_null(s);
}

static void test_exec_timeout(void **state)
{
	struct fixture *f = *state;
	/* the shell and what it started are killed as a group */
	assert_int_equal(run(f, "echo started; sleep 30 & sleep 30", 500, 4096, MAIL_CRLF,
			     strlen(MAIL_CRLF)), SX_SINK_NAK);
	/* the output is there unless the shell was slower than the deadline */
	assert_true(strcmp(f->err, "timed out: started") == 0 ||
		    strcmp(f->err, "timed out") == 0);
}

static void test_exec_epipe(void **state)
{
	struct fixture *f = *state;
	size_t len = 4u << 20; /* far more than a pipe holds */
	char *big = malloc(len);
	assert_non_null(big);
	memset(big, 'x', len);
	/* a command that never reads its input: no SIGPIPE kills this process */
	assert_int_equal(run(f, "exit 0", 10000, 4096, big, len), SX_SINK_ACK);
	assert_int_equal(run(f, "head -c 10 >/dev/null; exit 3", 10000, 4096, big, len),
			 SX_SINK_NAK);
	assert_string_equal(f->err, "exit status 3");
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	free(big);
}

static void test_exec_env(void **state)
{
	struct fixture *f = *state;
	char cmd[PATHLEN * 2], p[PATHLEN], *got;
	path_in(f, "env.out", p);
	setenv("SPREX_TEST_SECRET", "agent-only", 1);
	snprintf(cmd, sizeof cmd, "env | LC_ALL=C sort > '%s'", p);
	assert_int_equal(run(f, cmd, 10000, 4096, MAIL_CRLF, strlen(MAIL_CRLF)), SX_SINK_ACK);
	unsetenv("SPREX_TEST_SECRET");
	assert_true(slurp(p, &got) > 0);
	assert_non_null(strstr(got, "SPREX_REPORT_ID=" ID1 "\n"));
	assert_non_null(strstr(got, "SPREX_SEQ=42\n"));
	assert_non_null(strstr(got, "SPREX_SOURCE=monitor\n"));
	assert_non_null(strstr(got, "SPREX_RECEIVED_MS=1764326400123\n"));
	assert_non_null(strstr(got, "SPREX_SOURCE_IP=192.0.2.7\n"));
	assert_non_null(strstr(got, "SPREX_ISP=isp-a\n"));
	assert_non_null(strstr(got, "SPREX_VIOLATIONS=labeling,spoofing\n"));
	assert_non_null(strstr(got, "SPREX_CATEGORIES=japanese,virus\n"));
	assert_non_null(strstr(got, "SPREX_DELIVERY_COUNT=1\n"));
	assert_non_null(strstr(got, "SPREX_SUBSCRIPTION=feed-1\n"));
	assert_non_null(strstr(got, "SPREX_REDACTIONS=3\n"));
	assert_non_null(strstr(got, "SPREX_SHA256=00ff\n"));
	assert_non_null(strstr(got, "PATH="));
	assert_null(strstr(got, "SPREX_TEST_SECRET")); /* a clean environment */
	free(got);
}

static void test_exec_output_bound(void **state)
{
	struct fixture *f = *state;
	const char *cmd = "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done;"
			  " exit 3";
	assert_int_equal(run(f, cmd, 10000, 16, MAIL_CRLF, strlen(MAIL_CRLF)), SX_SINK_NAK);
	/* 16 bytes kept, the newlines shown as blanks */
	assert_string_equal(f->err, "exit status 3: 0123456789 01234");
	assert_int_equal(run(f, cmd, 10000, 0, MAIL_CRLF, strlen(MAIL_CRLF)), SX_SINK_NAK);
	assert_string_equal(f->err, "exit status 3");
}

struct thread_run {
	struct fixture *f;
	enum sx_sink_result r;
	char err[ERRLEN];
};

static char big_y[1 << 20];

static void *thread_main(void *arg)
{
	struct thread_run *tr = arg;
	struct report t;
	report_init(&t, ID2, big_y, sizeof big_y);
	struct sx_sink_conf c = { .kind = SX_SINK_EXEC, .path = NULL, .command = "exit 0",
					  .exec_timeout_ms = 10000, .exec_output_max = 64 };
	struct sx_sink *s = NULL;
	if (sx_sink_create(&c, &s, tr->err, sizeof tr->err) < 0)
		return NULL;
	struct sx_delivery dl = { "t", &t.d };
	tr->r = sx_sink_deliver(s, &dl, tr->err, sizeof tr->err);
	sx_sink_destroy(s);
	return NULL;
}

static void test_exec_threads(void **state)
{
	struct fixture *f = *state;
	struct thread_run tr[4];
	pthread_t th[4];
	memset(big_y, 'y', sizeof big_y);
	for (int i = 0; i < 4; i++) {
		tr[i] = (struct thread_run){ f, SX_SINK_NAK, "" };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &tr[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(tr[i].r, SX_SINK_ACK);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xheaders),
		cmocka_unit_test_setup_teardown(test_maildir_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_redelivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_stale_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_bad_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildir_unwritable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonl_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonl_redelivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonl_torn_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonl_id_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jsonl_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_epipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_output_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
