/*
 * test_digest.c: the daily digest (client/digest.c as pure functions over
 * the state, client/sink_digest.c and the notice sinks over real files):
 * reports of one IP on one day become one notice with the right counts, a
 * restart loses nothing, redelivery counts once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/digest.h"
#include "client/sink.h"
#include "lib/err.h"

#define DAY 86400000LL
#define T0 1764288000000LL   /* 2025-11-28T00:00:00Z */
#define HDR "From: a@b.example\r\nSubject: x\r\n\r\n"

static void test_add_groups(void **state)
{
	(void)state;
	struct sx_digest dg;
	sx_digest_init(&dg);
	assert_int_equal(sx_digest_add(&dg, "192.0.2.7", T0 + 5000, "rb", NULL, 0), 0);
	assert_int_equal(sx_digest_add(&dg, "192.0.2.7", T0 + 1000, "ra", (const uint8_t *)HDR,
				       sizeof HDR - 1), 0);
	assert_int_equal(sx_digest_add(&dg, "192.0.2.7", T0 + DAY - 1, "rc", NULL, 0), 0);
	assert_int_equal(sx_digest_add(&dg, "192.0.2.7", T0 + 1000, "ra", NULL, 0), 0); /* again */
	assert_int_equal(sx_digest_add(&dg, "192.0.2.8", T0 + 2000, "rd", NULL, 0), 0);
	assert_int_equal(sx_digest_add(&dg, "192.0.2.7", T0 + DAY, "re", NULL, 0), 0);
	assert_int_equal(sx_digest_add(&dg, NULL, T0, "rf", NULL, 0), 0);
	assert_int_equal(dg.n, 4);
	const struct sx_digest_group *g = &dg.g[0];
	assert_string_equal(g->day, "2025-11-28");
	assert_string_equal(g->ip, "192.0.2.7");
	assert_int_equal(g->count, 3);
	assert_int_equal(g->first_ms, T0 + 1000);
	assert_int_equal(g->last_ms, T0 + DAY - 1);
	assert_int_equal(g->n_ids, 3);
	assert_string_equal(g->ids[0], "rb");
	assert_null(g->headers);       /* the group's first report had none */
	assert_int_equal(dg.g[1].count, 1);
	assert_string_equal(dg.g[2].day, "2025-11-29");
	assert_string_equal(dg.g[3].ip, "");
	assert_true(sx_digest_has(&dg, "re"));
	assert_false(sx_digest_has(&dg, "rz"));
	assert_int_equal(g->id[0], 'd');
	assert_int_equal(strlen(g->id), 27);
	assert_string_not_equal(dg.g[0].id, dg.g[1].id);
	/* due once the UTC day is over */
	assert_false(sx_digest_due(g, T0 + DAY - 1));
	assert_true(sx_digest_due(g, T0 + DAY));
	/* bad input */
	assert_int_equal(sx_digest_add(&dg, "1.2.3.4", T0, "", NULL, 0), SX_EINVAL);
	assert_int_equal(sx_digest_add(&dg, "1.2 3.4", T0, "rx", NULL, 0), SX_EINVAL);
	assert_int_equal(sx_digest_add(&dg, "1.2.3.4", T0, "r\tx", NULL, 0), SX_EINVAL);
	sx_digest_drop(&dg, 0);
	assert_int_equal(dg.n, 3);
	assert_string_equal(dg.g[0].ip, "192.0.2.8");
	sx_digest_finish(&dg);
}

static void test_lines_round_trip(void **state)
{
	(void)state;
	struct sx_buf b;
	sx_buf_init(&b, 1u << 20);
	assert_int_equal(sx_digest_line(&b, "192.0.2.7", T0 + 1000, "ra", (const uint8_t *)HDR,
					sizeof HDR - 1), 0);
	assert_int_equal(sx_digest_line(&b, "192.0.2.7", T0 + 9000, "rb", NULL, 0), 0);
	assert_int_equal(sx_digest_line(&b, "", T0 + 9000, "rc", NULL, 0), 0);
	size_t whole = sx_buf_used(&b);
	assert_int_equal(sx_buf_append(&b, "R\t123\t1.2.3.4\trtorn", 19), 0); /* torn */
	struct sx_digest dg;
	sx_digest_init(&dg);
	size_t used = 0;
	const char *text = (const char *)sx_buf_head(&b);
	assert_int_equal(sx_digest_load(&dg, text, sx_buf_used(&b), &used), 0);
	assert_int_equal(used, whole);
	assert_int_equal(dg.n, 2);
	assert_int_equal(dg.g[0].count, 2);
	assert_int_equal(dg.g[0].headers_len, sizeof HDR - 1);
	assert_memory_equal(dg.g[0].headers, HDR, sizeof HDR - 1);
	assert_false(sx_digest_has(&dg, "rtorn"));
	/* a rewrite of a group replays to the same group */
	struct sx_buf w;
	sx_buf_init(&w, 1u << 20);
	assert_int_equal(sx_digest_group_lines(&w, &dg.g[0]), 0);
	struct sx_digest again;
	sx_digest_init(&again);
	assert_int_equal(sx_digest_load(&again, (const char *)sx_buf_head(&w), sx_buf_used(&w),
					NULL), 0);
	assert_int_equal(again.n, 1);
	assert_string_equal(again.g[0].id, dg.g[0].id);
	assert_int_equal(again.g[0].count, 2);
	assert_int_equal(again.g[0].first_ms, T0 + 1000);
	assert_int_equal(again.g[0].last_ms, T0 + 9000);
	assert_int_equal(again.g[0].headers_len, sizeof HDR - 1);
	sx_digest_finish(&again);
	sx_digest_finish(&dg);
	/* not a state file */
	sx_digest_init(&dg);
	assert_int_equal(sx_digest_load(&dg, "hello\n", 6, NULL), SX_EINVAL);
	assert_int_equal(sx_digest_load(&dg, "R\tx\t1\tr\t-\n", 10, NULL), SX_EINVAL);
	sx_digest_finish(&dg);
	/* the header block is cut at its bound */
	static uint8_t big[SX_NOTICE_HEADERS_MAX + 10];
	memset(big, 'h', sizeof big);
	sx_buf_reset(&w, 0);
	assert_int_equal(sx_digest_line(&w, "1.2.3.4", T0, "rq", big, sizeof big), 0);
	sx_digest_init(&dg);
	assert_int_equal(sx_digest_load(&dg, (const char *)sx_buf_head(&w), sx_buf_used(&w), NULL),
			 0);
	assert_int_equal(dg.g[0].headers_len, SX_NOTICE_HEADERS_MAX);
	sx_digest_finish(&dg);
	sx_buf_finish(&w);
	sx_buf_finish(&b);
}

/* ---------------------------------------------------------------- over files */

struct fixture {
	char dir[256];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/sx-digest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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

static enum sx_sink_result deliver(struct sx_sink *s, const char *id, const char *ip,
				   int64_t ms, struct fixture *f)
{
	static const char mail[] = "From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
	Sprex__ReportMeta m = SPREX__REPORT_META__INIT;
	m.report_id = (char *)id;
	m.source_ip = (char *)ip;
	m.received_ms = ms;
	m.source = SPREX__SOURCE__SOURCE_MONITOR;
	Sprex__Deliver d = SPREX__DELIVER__INIT;
	d.report_id = (char *)id;
	d.meta = &m;
	d.raw_mail.data = (uint8_t *)mail;
	d.raw_mail.len = sizeof mail - 1;
	struct sx_delivery dl = { "isp", &d };
	return sx_sink_deliver(s, &dl, f->err, sizeof f->err);
}

static size_t count_files(const char *dir, char *name, size_t namelen)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			n++;
			snprintf(name, namelen, "%s/%s", dir, de->d_name);
		}
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	char *s = calloc(1, 1u << 20);
	assert_non_null(s);
	size_t n = fread(s, 1, (1u << 20) - 1, fp);
	s[n] = '\0';
	fclose(fp);
	return s;
}

static void test_arf_maildir_digest(void **state)
{
	struct fixture *f = *state;
	char md[400], newdir[420], file[800];
	snprintf(md, sizeof md, "%s/Maildir", f->dir);
	snprintf(newdir, sizeof newdir, "%s/new", md);
	struct sx_sink_conf c = { .kind = SX_SINK_ARF_MAILDIR, .path = md,
				  .digest = SX_SINK_DIGEST_DAILY };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	/* two reports from one IP on one (past) day, one from another IP */
	assert_int_equal(deliver(s, "raaaa", "192.0.2.7", T0 + 1000, f), SX_SINK_ACK);
	assert_int_equal(deliver(s, "rbbbb", "192.0.2.9", T0 + 2000, f), SX_SINK_ACK);
	/* a restart loses nothing */
	sx_sink_destroy(s);
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	assert_int_equal(deliver(s, "rcccc", "192.0.2.7", T0 + 3000, f), SX_SINK_ACK);
	/* a redelivery counts once */
	assert_int_equal(deliver(s, "raaaa", "192.0.2.7", T0 + 1000, f), SX_SINK_ACK);
	/* the stream has not left that day yet: nothing sent */
	assert_int_equal(count_files(newdir, file, sizeof file), 0);
	/* by the wall clock the day is over: both groups are due */
	unsigned n = 9;
	assert_int_equal(sx_sink_flush(s, 0, &n, f->err, sizeof f->err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count_files(newdir, file, sizeof file), 2);
	/* a report of a later day would have sent them too; none are left */
	assert_int_equal(deliver(s, "rdddd", "192.0.2.7", T0 + 2 * DAY, f), SX_SINK_ACK);
	assert_int_equal(count_files(newdir, file, sizeof file), 2);
	sx_sink_destroy(s);
	/* find the notice for 192.0.2.7 */
	DIR *d = opendir(newdir);
	assert_non_null(d);
	struct dirent *de;
	int seen = 0, files = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%s", newdir, de->d_name);
		char *txt = slurp(file);
		assert_int_equal(de->d_name[0], 'd');
		files++;
		if (strstr(txt, "Source-IP: 192.0.2.7")) {
			seen++;
			assert_non_null(strstr(txt, "Incidents: 2\r\n"));
			assert_non_null(strstr(txt, "X-Sprex-Report-Id: raaaa\r\n"));
			assert_non_null(strstr(txt, "X-Sprex-Report-Id: rcccc\r\n"));
			assert_non_null(strstr(txt, "X-Sprex-First-Seen: 2025-11-28T00:00:01Z"));
			assert_non_null(strstr(txt, "X-Sprex-Last-Seen: 2025-11-28T00:00:03Z"));
		} else {
			assert_non_null(strstr(txt, "Incidents: 1\r\n"));
		}
		free(txt);
	}
	closedir(d);
	assert_int_equal(seen, 1);
	assert_int_equal(files, 2);
	/* the state holds only the open day's report */
	snprintf(file, sizeof file, "%s.digest", md);
	char *st = slurp(file);
	assert_non_null(strstr(st, "\trdddd\t"));
	assert_null(strstr(st, "raaaa"));
	free(st);
}

static void test_xarf_jsonl_digest_today(void **state)
{
	struct fixture *f = *state;
	char path[400];
	snprintf(path, sizeof path, "%s/notices.jsonl", f->dir);
	struct sx_sink_conf c = { .kind = SX_SINK_XARF_JSONL, .path = path,
				  .digest = SX_SINK_DIGEST_DAILY };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	int64_t now = (int64_t)time(NULL) * 1000;
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof id, "rid%c", 'a' + i);
		assert_int_equal(deliver(s, id, "198.51.100.1", now, f), SX_SINK_ACK);
	}
	/* today is not over: nothing due yet */
	unsigned n = 9;
	assert_int_equal(sx_sink_flush(s, 0, &n, f->err, sizeof f->err), 0);
	assert_int_equal(n, 0);
	char *txt = slurp(path);
	assert_string_equal(txt, "");
	free(txt);
	assert_int_equal(sx_sink_flush(s, 1, &n, f->err, sizeof f->err), 0);
	assert_int_equal(n, 1);
	txt = slurp(path);
	assert_non_null(strstr(txt, "\"count\":3"));
	assert_non_null(strstr(txt, "\"report_ids\":[\"rida\",\"ridb\",\"ridc\"]"));
	assert_int_equal(strchr(txt, '\n') - txt + 1, (long)strlen(txt)); /* one line */
	free(txt);
	sx_sink_destroy(s);
}

static void test_conf_errors(void **state)
{
	struct fixture *f = *state;
	struct sx_sink_conf c = { .kind = SX_SINK_ARF_EXEC, .command = "cat",
				  .digest = SX_SINK_DIGEST_DAILY };
	struct sx_sink *s = NULL;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), SX_EINVAL);
	assert_null(s);
	assert_non_null(strstr(f->err, "digest_state"));
	/* a file that is not a digest state */
	char path[400];
	snprintf(path, sizeof path, "%s/bad.digest", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a state\n", fp);
	fclose(fp);
	c.digest_state = path;
	assert_int_equal(sx_sink_create(&c, &s, f->err, sizeof f->err), 0);
	assert_int_equal(deliver(s, "rx", "192.0.2.1", T0, f), SX_SINK_NAK);
	assert_non_null(strstr(f->err, "not a digest state"));
	sx_sink_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_groups),
		cmocka_unit_test(test_lines_round_trip),
		cmocka_unit_test_setup_teardown(test_arf_maildir_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xarf_jsonl_digest_today, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
