/*
 * test_store_notice.c: ISP notices and their actions, retention (purge, the
 * horizon, what goes with a purged report, seqs never reissued, the emptied
 * WAL) and sx_store_seq_at_time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "err.h"
#include "server/store.h"
#include "server/store_sqlite.h"   /* white-box: the connection, for raw SQL */
#include "teststore.h"

#define T_MANY 20
#define T_NOTE_MAX 1024            /* store.h: a note is at most 1024 bytes */
#define T_DAY 86400000LL
#define T_FILE_MAX (8 << 20)

struct notices {
	size_t n;
	struct sx_notice_row r[T_MANY];
};

static int collect(void *ctx, const struct sx_notice_row *n)
{
	struct notices *c = ctx;
	assert_true(c->n < T_MANY);
	c->r[c->n++] = *n;
	return 0;
}

static struct notices each(struct sx_store *s, int64_t isp, int open_only)
{
	struct notices c;
	memset(&c, 0, sizeof c);
	int rc = sx_store_notice_each(s, isp, open_only, collect, &c);
	if (rc != 0)
		fail_msg("notice_each: %d %s", rc, sx_store_errmsg(s));
	return c;
}

static void test_sent_once(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp = ts_member(s, "isp1", SX_ROLE_ISP, 1);
	char id[SX_REPORT_ID_LEN + 1];
	int64_t seq = ts_report(s, TS_NOW, isp, NULL, id);

	assert_int_equal(sx_store_notice_sent(s, seq, isp, TS_NOW + 1), 0);
	assert_int_equal(sx_store_notice_sent(s, seq, isp, TS_NOW + 2), 0);   /* redelivery */
	struct notices c = each(s, 0, 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.r[0].report_id, id);
	assert_int_equal(c.r[0].seq, seq);
	assert_string_equal(c.r[0].isp, "isp1");
	assert_int_equal(c.r[0].sent_ms, TS_NOW + 1);
	assert_int_equal(c.r[0].action, 0);
	assert_int_equal(c.r[0].action_ms, 0);
	assert_string_equal(c.r[0].note, "");
	assert_int_equal(c.r[0].actions, 0);

	/* A seq that is not (or no longer) stored records nothing. */
	assert_int_equal(sx_store_notice_sent(s, seq + 1, isp, TS_NOW), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notices"), 1);
	/* Refusals. */
	assert_int_equal(sx_store_notice_sent(s, 0, isp, TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_notice_sent(s, seq, 0, TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_notice_sent(s, seq, isp, 0), SX_EINVAL);
	assert_int_equal(sx_store_notice_sent(s, seq, 9999, TS_NOW), SX_EINVAL);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notices"), 1);
	sx_store_close(s);
}

static void test_action_needs_notice(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp1 = ts_member(s, "isp1", SX_ROLE_ISP, 1);
	int64_t isp2 = ts_member(s, "isp2", SX_ROLE_ISP, 2);
	char sent[SX_REPORT_ID_LEN + 1], unsent[SX_REPORT_ID_LEN + 1];
	int64_t seq = ts_report(s, TS_NOW, isp1, NULL, sent);
	ts_report(s, TS_NOW, isp1, NULL, unsent);
	assert_int_equal(sx_store_notice_sent(s, seq, isp1, TS_NOW), 0);

	assert_int_equal(sx_store_notice_action(s, unsent, isp1, 1, "", TS_NOW), SX_ENOTFOUND);
	/* Another ISP's notice. */
	assert_int_equal(sx_store_notice_action(s, sent, isp2, 1, "", TS_NOW), SX_ENOTFOUND);
	assert_int_equal(sx_store_notice_action(s, "rabcdefghijklmnopqrstuvwxy", isp1, 1, "",
						TS_NOW), SX_ENOTFOUND);
	assert_int_equal(sx_store_notice_action(s, "not-an-id", isp1, 1, "", TS_NOW),
			 SX_ENOTFOUND);
	assert_int_equal(sx_store_notice_action(s, NULL, isp1, 1, "", TS_NOW), SX_ENOTFOUND);
	assert_int_equal(sx_store_notice_action(s, sent, 0, 1, "", TS_NOW), SX_ENOTFOUND);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notice_actions"), 0);
	assert_int_equal(sx_store_notice_action(s, sent, isp1, 1, "", TS_NOW), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notice_actions"), 1);
	sx_store_close(s);
}

static void test_action_bounds(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp = ts_member(s, "isp1", SX_ROLE_ISP, 1);
	char id[SX_REPORT_ID_LEN + 1];
	int64_t seq = ts_report(s, TS_NOW, isp, NULL, id);
	assert_int_equal(sx_store_notice_sent(s, seq, isp, TS_NOW), 0);

	assert_int_equal(sx_store_notice_action(s, id, isp, 0, "", TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_notice_action(s, id, isp, 7, "", TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_notice_action(s, id, isp, -1, "", TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_notice_action(s, id, isp, 1, "", 0), SX_EINVAL);
	char note[T_NOTE_MAX + 2];
	memset(note, 'n', T_NOTE_MAX + 1);
	note[T_NOTE_MAX + 1] = '\0';
	assert_int_equal(sx_store_notice_action(s, id, isp, 1, note, TS_NOW), SX_EINVAL);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notice_actions"), 0);

	assert_int_equal(sx_store_notice_action(s, id, isp, 1, NULL, TS_NOW + 1), 0);
	note[T_NOTE_MAX] = '\0';   /* exactly the limit */
	assert_int_equal(sx_store_notice_action(s, id, isp, 6, note, TS_NOW + 2), 0);
	struct notices c = each(s, isp, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.r[0].action, 6);
	assert_int_equal(c.r[0].action_ms, TS_NOW + 2);
	assert_int_equal(c.r[0].actions, 2);
	/* The listing cuts a long note to its field. */
	assert_int_equal(strlen(c.r[0].note), sizeof c.r[0].note - 1);
	assert_int_equal(ts_count(s, "SELECT max(length(note)) FROM notice_actions"),
			 T_NOTE_MAX);

	/* Latest wins; a multi-byte character is not split. */
	memset(note, 'a', sizeof c.r[0].note - 2);
	memcpy(note + sizeof c.r[0].note - 2, "\xe3\x81\x82", 4);   /* あ across the end */
	assert_int_equal(sx_store_notice_action(s, id, isp, 2, note, TS_NOW + 3), 0);
	c = each(s, isp, 0);
	assert_int_equal(c.r[0].action, 2);
	assert_int_equal(c.r[0].actions, 3);
	assert_int_equal(strlen(c.r[0].note), sizeof c.r[0].note - 2);
	assert_int_equal(sx_store_notice_action(s, id, isp, 3, "warned twice", TS_NOW + 4), 0);
	c = each(s, isp, 0);
	assert_int_equal(c.r[0].action, 3);
	assert_string_equal(c.r[0].note, "warned twice");
	assert_int_equal(c.r[0].actions, 4);
	sx_store_close(s);
}

static void test_each_filters(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp1 = ts_member(s, "isp1", SX_ROLE_ISP, 1);
	int64_t isp2 = ts_member(s, "isp2", SX_ROLE_ISP, 2);
	char ids[6][SX_REPORT_ID_LEN + 1];
	int64_t seqs[6];
	for (int i = 0; i < 6; i++)
		seqs[i] = ts_report(s, TS_NOW + i, i % 2 ? isp2 : isp1, NULL, ids[i]);
	/* Sent out of order; listed in seq order. */
	for (int i = 5; i >= 0; i--)
		assert_int_equal(sx_store_notice_sent(s, seqs[i], i % 2 ? isp2 : isp1, TS_NOW), 0);
	assert_int_equal(sx_store_notice_action(s, ids[0], isp1, 1, "", TS_NOW), 0);
	assert_int_equal(sx_store_notice_action(s, ids[3], isp2, 5, "", TS_NOW), 0);

	struct notices c = each(s, 0, 0);
	assert_int_equal(c.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(c.r[i].seq, seqs[i]);
	c = each(s, isp1, 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.r[0].seq, seqs[0]);
	assert_int_equal(c.r[2].seq, seqs[4]);
	assert_string_equal(c.r[1].isp, "isp1");
	c = each(s, 0, 1);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.r[0].seq, seqs[1]);
	assert_int_equal(c.r[1].seq, seqs[2]);
	assert_int_equal(c.r[2].seq, seqs[4]);
	assert_int_equal(c.r[3].seq, seqs[5]);
	c = each(s, isp2, 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.r[0].seq, seqs[1]);
	assert_int_equal(c.r[1].seq, seqs[5]);
	c = each(s, 9999, 0);
	assert_int_equal(c.n, 0);
	sx_store_close(s);
}

/* --- retention -------------------------------------------------------------- */

/* Non-zero when the file at path contains needle. */
static int file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return 0;
	char *buf = malloc(T_FILE_MAX);
	assert_non_null(buf);
	size_t n = fread(buf, 1, T_FILE_MAX, fp);
	fclose(fp);
	assert_true(n < T_FILE_MAX);
	int found = memmem(buf, n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_purge(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t isp = ts_member(s, "isp1", SX_ROLE_ISP, 1);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 2);
	int64_t horizon = -1;
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 0);

	/* Reports 1..3 on day 0, 4 (received late, seq early) ... */
	char ids[6][SX_REPORT_ID_LEN + 1];
	assert_int_equal(ts_report(s, TS_NOW, isp, "OLD-MARKER-1", ids[0]), 1);
	assert_int_equal(ts_report(s, TS_NOW + 1, isp, "OLD-MARKER-2", ids[1]), 2);
	assert_int_equal(ts_report(s, TS_NOW + 5 * T_DAY, isp, "NEW-MARKER-3", ids[2]), 3);
	assert_int_equal(ts_report(s, TS_NOW + 2, isp, "OLD-MARKER-4", ids[3]), 4);
	assert_int_equal(ts_report(s, TS_NOW + 6 * T_DAY, isp, "NEW-MARKER-5", ids[4]), 5);
	for (int64_t seq = 1; seq <= 5; seq++)
		assert_int_equal(sx_store_notice_sent(s, seq, isp, TS_NOW), 0);
	assert_int_equal(sx_store_notice_action(s, ids[0], isp, 2, "", TS_NOW), 0);
	assert_int_equal(sx_store_notice_action(s, ids[4], isp, 2, "", TS_NOW), 0);
	struct sx_sub sub = {
		.member = v, .name = "a", .feed = 1, .position = 6, .window_count = 10,
		.window_bytes = 1000, .created_ms = TS_NOW,
	};
	assert_int_equal(sx_store_sub_create(s, &sub), 0);
	for (int64_t seq = 1; seq <= 5; seq++)
		assert_int_equal(sx_store_pending_put(s, sub.id, seq, 1, TS_NOW), 0);
	assert_int_equal(sx_store_pending_park(s, sub.id, 2, 1, "poison", TS_NOW), 0);

	/* Nothing was received before the first report. */
	int64_t count = -1;
	assert_int_equal(sx_store_purge(s, TS_NOW, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 0);
	/* Its checkpoint moved everything into the file. */
	assert_true(file_has(f->db, "OLD-MARKER-1"));
	assert_true(file_has(f->db, "OLD-MARKER-4"));

	/* Before TS_NOW + 2 (exclusive): 1 and 2 are received earlier, so
	 * X = 2. Then before day 1: X = 4 (the highest seq received before),
	 * and 3, received later, goes with the prefix. */
	assert_int_equal(sx_store_purge(s, TS_NOW + 2, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 2);
	assert_int_equal(sx_store_purge(s, TS_NOW + T_DAY, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 4);

	struct sx_report_row row;
	for (int i = 0; i < 4; i++)
		assert_int_equal(sx_store_report_get(s, ids[i], &row), SX_ENOTFOUND);
	assert_int_equal(sx_store_report_get(s, ids[4], &row), 0);
	/* Unacked rows of purged reports stay (the server reports them as
	 * gaps); the parked one (seq 2) is gone. */
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending WHERE seq <= 4"), 3);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending WHERE parked = 1"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending"), 4);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notices WHERE seq <= 4"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notice_actions"), 1);
	struct notices c = each(s, 0, 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.r[0].seq, 5);
	/* An action on a purged notice is refused. */
	assert_int_equal(sx_store_notice_action(s, ids[0], isp, 1, "", TS_NOW), SX_ENOTFOUND);

	/* Securely: the content is in neither the file nor the WAL. */
	char wal[TS_PATH_MAX + 32];
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_false(file_has(f->db, "OLD-MARKER"));
	assert_true(file_has(f->db, "NEW-MARKER-5"));

	/* The horizon never moves back. */
	assert_int_equal(sx_store_purge(s, TS_NOW + 1, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 4);
	assert_int_equal(sx_store_purge(s, 0, NULL), 0);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 4);

	/* Everything, then a new report: seqs are not reissued. */
	assert_int_equal(sx_store_purge(s, INT64_MAX, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 5);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notices"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM notice_actions"), 0);
	sx_store_close(s);
	s = ts_open(f, 0);
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, NULL), 6);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 5);
	/* The subscription and its position stay. */
	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.position, 6);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	sx_store_close(s);
}

static void test_seq_at_time(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t seq = -1;
	/* Empty: the first seq to be issued. */
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW, &seq), 0);
	assert_int_equal(seq, 1);
	ts_report(s, TS_NOW, 0, NULL, NULL);            /* 1 */
	ts_report(s, TS_NOW + 10, 0, NULL, NULL);       /* 2 */
	ts_report(s, TS_NOW + 5, 0, NULL, NULL);        /* 3: received out of order */
	ts_report(s, TS_NOW + 20, 0, NULL, NULL);       /* 4 */

	assert_int_equal(sx_store_seq_at_time(s, 0, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW, &seq), 0);   /* at: included */
	assert_int_equal(seq, 1);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW + 1, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW + 6, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW + 11, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW + 20, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(sx_store_seq_at_time(s, TS_NOW + 21, &seq), 0);   /* head + 1 */
	assert_int_equal(seq, 5);

	/* Purged reports do not count; past the last, still the next seq. */
	assert_int_equal(sx_store_purge(s, TS_NOW + 6, NULL), 0);   /* 1..3 */
	assert_int_equal(sx_store_seq_at_time(s, 0, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(sx_store_purge(s, INT64_MAX, NULL), 0);
	assert_int_equal(sx_store_seq_at_time(s, 0, &seq), 0);
	assert_int_equal(seq, 5);
	sx_store_close(s);
}

/* A reader holding a snapshot keeps the WAL: the purge commits and says
 * SX_EBUSY, and the next purge finishes emptying it. */
static void test_purge_checkpoint_busy(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	ts_report(s, TS_NOW, 0, NULL, NULL);
	ts_report(s, TS_NOW + T_DAY, 0, NULL, NULL);
	struct sx_store *reader = ts_open(f, 0);
	assert_int_equal(sqlite3_exec(reader->db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(ts_count(reader, "SELECT count(*) FROM reports"), 2);
	assert_int_equal(sqlite3_busy_timeout(s->db, 0), SQLITE_OK);

	int64_t count = -1, horizon = -1;
	assert_int_equal(sx_store_purge(s, TS_NOW + 1, &count), SX_EBUSY);
	assert_int_equal(count, 1);
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 1);
	assert_int_equal(sqlite3_exec(reader->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sx_store_purge(s, TS_NOW + 1, &count), 0);
	assert_int_equal(count, 0);
	char wal[TS_PATH_MAX + 32];
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_size, 0);
	sx_store_close(reader);
	sx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sent_once, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_action_needs_notice, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_action_bounds, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_each_filters, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_purge, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_seq_at_time, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_purge_checkpoint_busy, ts_setup,
						ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
