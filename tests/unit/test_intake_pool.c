/*
 * test_intake_pool: jobs run on pool threads give what the same jobs give
 * run one by one, each waited for in any order; the thread count is
 * bounded; a job's ISP table outlives a reload of the context's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "server/intake_pool.h"
#include "teststore.h"

#define JOBS 96

static const char *const reporters[] = { "taro.yamada@example.jp" };

/* Message i: a forwarded spam naming the reporter, different each time, a
 * few of them unusable (empty). */
static char *message(int i, size_t *len)
{
	char *m = NULL;
	if (i % 17 == 5) {
		*len = 0;
		return calloc(1, 1);
	}
	int n = asprintf(&m,
			 "Received: from mx.example.net ([203.0.113.%d]) by mx.example.jp\r\n"
			 "From: \"Deals %d\" <deals%d@spam.example>\r\n"
			 "To: taro.yamada@example.jp\r\n"
			 "Subject: offer %d for you\r\n"
			 "Message-ID: <m%d@spam.example>\r\n"
			 "\r\n"
			 "Dear taro.yamada@example.jp, offer %d: https://spam.example/?u=%d\r\n",
			 i % 250, i, i, i, i, i, i);
	assert_true(n > 0);
	*len = (size_t)n;
	return m;
}

static void test_bounds(void **state)
{
	(void)state;
	struct sx_intake_pool *p = (void *)1;
	assert_int_equal(sx_intake_pool_create(0, &p), SX_EINVAL);
	assert_null(p);
	assert_int_equal(sx_intake_pool_create(SX_INTAKE_POOL_MAX + 1, &p), SX_EINVAL);
	assert_int_equal(sx_intake_pool_create(SX_INTAKE_POOL_MAX, &p), 0);
	sx_intake_pool_destroy(p);
	sx_intake_pool_destroy(NULL);
}

static void test_same_as_one_by_one(void **state)
{
	(void)state;
	struct sx_intake_ctx c;
	memset(&c, 0, sizeof c);
	sx_mail_limits_default(&c.pc.limits);
	char *raw[JOBS];
	struct sx_intake in[JOBS];
	struct sx_intake_job *pooled = calloc(JOBS, sizeof *pooled);
	struct sx_intake_job *alone = calloc(JOBS, sizeof *alone);
	assert_non_null(pooled);
	assert_non_null(alone);
	for (int i = 0; i < JOBS; i++) {
		size_t len;
		raw[i] = message(i, &len);
		in[i] = (struct sx_intake){ .raw = (const uint8_t *)raw[i], .len = len,
					    .source = SX_SRC_PUBLIC, .reporters = reporters,
					    .nreporters = 1 };
	}
	struct sx_intake_pool *p;
	assert_int_equal(sx_intake_pool_create(3, &p), 0);
	for (int i = 0; i < JOBS; i++) {
		sx_intake_job_init(&pooled[i], &c, &in[i]);
		sx_intake_pool_run(p, &pooled[i]);
	}
	/* waited for from the last: the order of waits does not matter */
	for (int i = JOBS - 1; i >= 0; i--)
		sx_intake_pool_wait(p, &pooled[i]);
	sx_intake_pool_destroy(p);
	int refused = 0;
	for (int i = 0; i < JOBS; i++) {
		sx_intake_job_init(&alone[i], &c, &in[i]);
		sx_intake_job_run(&alone[i]);
		assert_int_equal(pooled[i].rc, alone[i].rc);
		assert_string_equal(pooled[i].err, alone[i].err);
		if (alone[i].rc != 0) {
			refused++;
			continue;
		}
		const struct sx_report *a = &pooled[i].rep, *b = &alone[i].rep;
		assert_int_equal(sx_buf_used(&a->mail), sx_buf_used(&b->mail));
		assert_memory_equal(sx_buf_head(&a->mail), sx_buf_head(&b->mail),
				    sx_buf_used(&b->mail));
		assert_string_equal(a->sha256, b->sha256);
		assert_int_equal(a->quarantined, b->quarantined);
		assert_true(a->red.total >= 1); /* the reporter was found and redacted */
		assert_null(memmem(sx_buf_head(&a->mail), sx_buf_used(&a->mail), "taro.yamada",
				   11));
	}
	assert_int_equal(refused, JOBS / 17 + (JOBS % 17 > 5));
	for (int i = 0; i < JOBS; i++) {
		sx_intake_job_finish(&pooled[i]);
		sx_intake_job_finish(&alone[i]);
		free(raw[i]);
	}
	free(pooled);
	free(alone);
	sx_intake_finish(&c);
}

/* A job keeps the ISP table it started with while the context reloads its
 * own (sprexd rereads members while Submits run on the thread pool); the
 * reloaded table routes the next job. ASan would see a freed table read. */
static void test_table_outlives_reload(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct sx_intake_ctx c;
	char err[256];
	assert_int_equal(sx_intake_init(&c, s, NULL, err, sizeof err), 0);
	int64_t isp = ts_member(s, "isp1", SX_ROLE_ISP, 1); /* 192.0.2.0/24, not loaded yet */

	static const char mail[] =
		"Received: from spam.example (spam.example [192.0.2.77]) by mx.example.jp\r\n"
		"From: deals@spam.example\r\nTo: taro.yamada@example.jp\r\nSubject: offer\r\n\r\n"
		"Dear taro.yamada@example.jp\r\n";
	struct sx_intake in = { .raw = (const uint8_t *)mail, .len = sizeof mail - 1,
				.source = SX_SRC_MONITOR, .reporters = reporters, .nreporters = 1 };
	struct sx_intake_job before, after;
	struct sx_intake_pool *p;
	assert_int_equal(sx_intake_pool_create(2, &p), 0);
	sx_intake_job_init(&before, &c, &in);
	assert_int_equal(sx_intake_reload_isps(&c, s), 0); /* the old table's last ref: before */
	sx_intake_job_init(&after, &c, &in);
	sx_intake_pool_run(p, &before);
	sx_intake_pool_run(p, &after);
	sx_intake_pool_wait(p, &before);
	sx_intake_pool_wait(p, &after);
	sx_intake_pool_destroy(p);
	assert_int_equal(before.rc, 0);
	assert_int_equal(after.rc, 0);
	assert_true(before.rep.src.found);
	assert_int_equal(before.rep.isp, 0);     /* routed by the table it started with */
	assert_int_equal(after.rep.isp, isp);    /* and the next one by the new table */
	sx_intake_job_finish(&before);
	sx_intake_job_finish(&after);
	sx_intake_finish(&c);
	sx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_same_as_one_by_one),
		cmocka_unit_test_setup_teardown(test_table_outlives_reload, ts_setup, ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
