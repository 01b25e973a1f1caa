/*
 * test_store_report.c: the store's reports: seq and ids, idempotency of
 * submitters, group commit, listings, the stored mail and JSON, validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "server/store.h"
#include "server/store_sqlite.h"   /* white-box: the connection, for raw SQL */

#define T_PATH_MAX 512
#define T_ERR_MAX 256
#define T_NOW 1764345600000LL   /* 2025-11-28T16:00:00Z */
#define T_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define T_MANY 50

struct fixture {
	char dir[T_PATH_MAX];
	char db[T_PATH_MAX + 16];
	char err[T_ERR_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/sx-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/sprex.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"sprex.db", "sprex.db-wal", "sprex.db-shm", "sprex.db-journal",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char p[T_PATH_MAX + 32];
		snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static struct sx_store *open_ok(struct fixture *f, int flags)
{
	struct sx_store *s = NULL;
	int rc = sx_store_open(f->db, flags, &s, f->err, sizeof f->err);
	if (rc != 0)
		fail_msg("open %s: %d %s", f->db, rc, f->err);
	return s;
}

static int64_t member(struct sx_store *s, const char *name, enum sx_role role, uint8_t seed)
{
	uint8_t k[SX_SPKI_LEN];
	for (size_t i = 0; i < SX_SPKI_LEN; i++)
		k[i] = (uint8_t)(seed + i * 7);
	struct sx_prefix p = { .addr = { [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0,
					 [14] = 2 }, .len = 120 };
	int isp = role == SX_ROLE_ISP;
	assert_int_equal(sx_store_member_add(s, name, role, k, isp ? &p : NULL, isp, T_NOW), 0);
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, name, &m), 0);
	return m.id;
}

static const uint8_t mail_bytes[] = "From: x@example.net\r\nSubject: hi\r\n\r\nbody\0with NUL\r\n";

/* A ready public report from sprexctl ingest. */
static struct sx_report_new report(void)
{
	struct sx_report_new r = {
		.received_ms = T_NOW,
		.source = 1,
		.consent = 3,
		.state = SX_REPORT_READY,
		.source_ip = "192.0.2.7",
		.source_port = 2525,
		.flags = 2,
		.categories = 1,
		.evidence_json = "[{\"flag\":\"labeling\"}]",
		.manifest_json = "[{\"part\":\"\",\"count\":1}]",
		.redactions = 4,
		.subject = "件名",
		.sha256 = T_SHA,
		.mail = mail_bytes,
		.mail_len = sizeof mail_bytes - 1,
	};
	return r;
}

static int64_t add_ok(struct sx_store *s, const struct sx_report_new *r, char *id)
{
	int64_t seq = -1;
	int dup = -1;
	int rc = sx_store_report_add(s, r, &seq, id, &dup);
	if (rc != 0)
		fail_msg("report_add: %d %s", rc, sx_store_errmsg(s));
	assert_int_equal(dup, 0);
	assert_true(sx_report_id_ok(id));
	return seq;
}

static int64_t count(struct sx_store *s, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* --- seq and ids ----------------------------------------------------------- */

static void test_id_format(void **state)
{
	(void)state;
	assert_true(sx_report_id_ok("rabcdefghijklmnopqrstuvwxy"));
	assert_true(sx_report_id_ok("r234567abcdefghijklmnopqrs"));
	assert_false(sx_report_id_ok(NULL));
	assert_false(sx_report_id_ok(""));
	assert_false(sx_report_id_ok("r"));
	assert_false(sx_report_id_ok("rabcdefghijklmnopqrstuvwx"));     /* 25 */
	assert_false(sx_report_id_ok("rabcdefghijklmnopqrstuvwxyz"));   /* 27 */
	assert_false(sx_report_id_ok("xabcdefghijklmnopqrstuvwxy"));
	assert_false(sx_report_id_ok("rABCDEFGHIJKLMNOPQRSTUVWXY"));
	assert_false(sx_report_id_ok("rabcdefghijklmnopqrstuvwx1"));    /* 1 is not base32 */
	assert_false(sx_report_id_ok("rabcdefghijklmnopqrstuvwx8"));
	assert_string_equal(sx_report_state_name(SX_REPORT_READY), "ready");
	assert_string_equal(sx_report_state_name(SX_REPORT_QUARANTINED), "quarantined");
}

static void test_seq_and_ids(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	assert_int_equal(sx_store_schema_version(s), 5);
	int64_t head = -1;
	assert_int_equal(sx_store_head_seq(s, &head), 0);
	assert_int_equal(head, 0);

	static char ids[T_MANY][SX_REPORT_ID_LEN + 1];
	struct sx_report_new r = report();
	int64_t prev = 0;
	for (int i = 0; i < T_MANY; i++) {
		int64_t seq = add_ok(s, &r, ids[i]);
		assert_int_equal(seq, prev + 1);   /* monotonic, no gaps when nothing fails */
		prev = seq;
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
	assert_int_equal(sx_store_head_seq(s, &head), 0);
	assert_int_equal(head, T_MANY);

	/* A purge never lets a seq be issued again, not even the newest. */
	assert_int_equal(sqlite3_exec(s->db, "DELETE FROM reports WHERE seq > 40", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_int_equal(sx_store_head_seq(s, &head), 0);
	assert_int_equal(head, 40);
	char id[SX_REPORT_ID_LEN + 1];
	assert_int_equal(add_ok(s, &r, id), T_MANY + 1);
	sx_store_close(s);

	/* ...across reopening too. */
	s = open_ok(f, 0);
	assert_int_equal(add_ok(s, &r, id), T_MANY + 2);
	/* The id stays the report's: looked up again, same seq. */
	struct sx_report_row row;
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	assert_int_equal(row.seq, T_MANY + 2);
	assert_string_equal(row.id, id);
	sx_store_close(s);
}

/* --- duplicates -------------------------------------------------------------- */

static void test_duplicates(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	int64_t sub = member(s, "gw1", SX_ROLE_SUBMITTER, 1);
	int64_t sub2 = member(s, "gw2", SX_ROLE_SUBMITTER, 2);

	struct sx_report_new r = report();
	r.submitter = sub;
	r.client_msg_id = "<msg-1@gw1>";
	char id1[SX_REPORT_ID_LEN + 1], id2[SX_REPORT_ID_LEN + 1];
	int64_t seq1 = add_ok(s, &r, id1);

	/* The same key again: nothing stored, the first one answered. */
	int64_t seq = 0;
	int dup = 0;
	r.state = SX_REPORT_QUARANTINED;   /* whatever the second says */
	r.reason = "other";
	assert_int_equal(sx_store_report_add(s, &r, &seq, id2, &dup), 0);
	assert_int_equal(dup, 1);
	assert_int_equal(seq, seq1);
	assert_string_equal(id2, id1);
	assert_int_equal(count(s, "SELECT count(*) FROM reports"), 1);

	struct sx_report_row row;
	assert_int_equal(sx_store_report_by_client(s, sub, "<msg-1@gw1>", &row), 0);
	assert_int_equal(row.seq, seq1);
	assert_string_equal(row.id, id1);
	assert_string_equal(row.submitter, "gw1");
	assert_string_equal(row.client_msg_id, "<msg-1@gw1>");
	assert_int_equal(row.state, SX_REPORT_READY);
	assert_int_equal(sx_store_report_by_client(s, sub, "<msg-2@gw1>", &row), SX_ENOTFOUND);
	assert_int_equal(sx_store_report_by_client(s, sub2, "<msg-1@gw1>", &row), SX_ENOTFOUND);
	/* the operator's keys (sprexctl ingest) are a space of their own */
	assert_int_equal(sx_store_report_by_client(s, 0, "<msg-1@gw1>", &row), SX_ENOTFOUND);
	assert_int_equal(sx_store_report_by_client(s, -1, "<msg-1@gw1>", &row), SX_EINVAL);
	assert_int_equal(sx_store_report_by_client(s, sub, NULL, &row), SX_EINVAL);

	/* Keys are per submitter. */
	r = report();
	r.submitter = sub2;
	r.client_msg_id = "<msg-1@gw1>";
	assert_int_equal(add_ok(s, &r, id2), seq1 + 1);
	assert_string_not_equal(id2, id1);

	/* Without a key nothing is a duplicate, with or without a submitter. */
	r = report();
	add_ok(s, &r, id2);
	add_ok(s, &r, id2);
	r.submitter = sub;
	add_ok(s, &r, id2);
	add_ok(s, &r, id2);
	assert_int_equal(count(s, "SELECT count(*) FROM reports"), 6);

	/* The operator's key (no submitter): a second add is the first one,
	 * and the same key of a submitter is another report. */
	r = report();
	r.client_msg_id = "<msg-1@gw1>";
	int64_t oseq = add_ok(s, &r, id1);
	dup = -1;
	assert_int_equal(sx_store_report_add(s, &r, &seq, id2, &dup), 0);
	assert_int_equal(dup, 1);
	assert_int_equal(seq, oseq);
	assert_string_equal(id2, id1);
	assert_int_equal(sx_store_report_by_client(s, 0, "<msg-1@gw1>", &row), 0);
	assert_int_equal(row.seq, oseq);
	assert_string_equal(row.submitter, "");
	assert_int_equal(sx_store_report_by_client(s, sub, "<msg-1@gw1>", &row), 0);
	assert_int_not_equal(row.seq, oseq);
	assert_int_equal(count(s, "SELECT count(*) FROM reports"), 7);

	/* A key at its limit works, one byte more is refused. */
	char key[SX_CLIENT_ID_MAX + 2];
	memset(key, 'k', sizeof key);
	key[SX_CLIENT_ID_MAX] = '\0';
	r.submitter = sub;
	r.client_msg_id = key;
	add_ok(s, &r, id2);
	assert_int_equal(sx_store_report_by_client(s, sub, key, &row), 0);
	assert_string_equal(row.client_msg_id, key);
	key[SX_CLIENT_ID_MAX] = 'k';
	key[SX_CLIENT_ID_MAX + 1] = '\0';
	assert_int_equal(sx_store_report_add(s, &r, &seq, id2, &dup), SX_EINVAL);
	assert_int_equal(seq, 0);
	assert_string_equal(id2, "");
	sx_store_close(s);
}

/* --- group commit -------------------------------------------------------------- */

static void test_batch(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	struct sx_store *other = open_ok(f, 0);
	int64_t sub = member(s, "gw", SX_ROLE_SUBMITTER, 1);
	struct sx_report_new r = report();
	char id[SX_REPORT_ID_LEN + 1], dupid[SX_REPORT_ID_LEN + 1];
	int64_t head, seq;
	int dup;

	assert_int_equal(sx_store_batch_begin(s), 0);
	assert_int_equal(sx_store_batch_begin(s), SX_EINVAL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(add_ok(s, &r, id), i + 1);
	/* A duplicate inside the same batch is found too. */
	r.submitter = sub;
	r.client_msg_id = "k1";
	assert_int_equal(add_ok(s, &r, id), 4);
	assert_int_equal(sx_store_report_add(s, &r, &seq, dupid, &dup), 0);
	assert_int_equal(dup, 1);
	assert_int_equal(seq, 4);
	assert_string_equal(dupid, id);
	/* A failed add leaves the batch and what it holds alone. */
	r.sha256 = "nothex";
	assert_int_equal(sx_store_report_add(s, &r, &seq, dupid, &dup), SX_EINVAL);
	r.sha256 = T_SHA;
	r.isp = 999;   /* no such member: the foreign key refuses it */
	r.client_msg_id = "k2";
	assert_int_equal(sx_store_report_add(s, &r, &seq, dupid, &dup), SX_EINVAL);
	r.isp = 0;

	/* One transaction: another connection sees nothing before the commit. */
	assert_int_equal(sx_store_head_seq(other, &head), 0);
	assert_int_equal(head, 0);
	assert_int_equal(sx_store_batch_commit(s), 0);
	assert_int_equal(sx_store_head_seq(other, &head), 0);
	assert_int_equal(head, 4);
	assert_int_equal(sx_store_batch_commit(s), SX_EINVAL);   /* none open */

	/* Rolled back, a batch leaves nothing. */
	assert_int_equal(sx_store_batch_begin(s), 0);
	r.client_msg_id = "k3";
	add_ok(s, &r, id);
	sx_store_batch_rollback(s);
	sx_store_batch_rollback(s);   /* none open: fine */
	assert_int_equal(sx_store_head_seq(other, &head), 0);
	assert_int_equal(head, 4);
	struct sx_report_row row;
	assert_int_equal(sx_store_report_by_client(other, sub, "k3", &row), SX_ENOTFOUND);

	/* After the batch, adds commit on their own again. */
	assert_true(add_ok(s, &r, id) > 4);
	assert_int_equal(sx_store_report_by_client(other, sub, "k3", &row), 0);

	/* A batch whose transaction SQLite ended under it refuses further adds
	 * instead of committing them one by one. */
	assert_int_equal(sx_store_batch_begin(s), 0);
	assert_int_equal(sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	r.client_msg_id = "k4";
	assert_int_equal(sx_store_report_add(s, &r, &seq, id, &dup), SX_EDB);
	assert_int_equal(sx_store_batch_commit(s), SX_EDB);
	assert_int_equal(sx_store_report_by_client(other, sub, "k4", &row), SX_ENOTFOUND);
	sx_store_close(other);
	sx_store_close(s);
}

static void test_busy(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	struct sx_store *other = open_ok(f, 0);
	sqlite3_busy_timeout(s->db, 1);   /* not the full timeout in a test */
	assert_int_equal(sqlite3_exec(other->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	struct sx_report_new r = report();
	char id[SX_REPORT_ID_LEN + 1];
	int64_t seq;
	int dup;
	assert_int_equal(sx_store_report_add(s, &r, &seq, id, &dup), SX_EBUSY);
	assert_int_equal(sx_store_batch_begin(s), SX_EBUSY);
	/* Reading goes on while another connection writes (WAL). */
	int64_t head;
	assert_int_equal(sx_store_head_seq(s, &head), 0);
	assert_int_equal(sqlite3_exec(other->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sx_store_batch_begin(s), 0);
	assert_int_equal(add_ok(s, &r, id), 1);
	assert_int_equal(sx_store_batch_commit(s), 0);
	sx_store_close(other);
	sx_store_close(s);
}

/* --- listings ------------------------------------------------------------------- */

struct walk {
	int64_t seq[T_MANY];
	size_t n;
	size_t stop_at;       /* return 7 at this many rows (0: never) */
	struct sx_store *s;   /* for the re-entry checks */
	int reenter;
};

static int no_row(void *ctx, const struct sx_report_row *r)
{
	(void)ctx;
	(void)r;
	return 0;
}

static int walk_fn(void *ctx, const struct sx_report_row *r)
{
	struct walk *w = ctx;
	assert_true(w->n < T_MANY);
	w->seq[w->n++] = r->seq;
	if (w->s != NULL) {
		/* Lookups are fine inside a walk; another walk is not. */
		struct sx_report_row row;
		assert_int_equal(sx_store_report_get(w->s, r->id, &row), 0);
		assert_int_equal(row.seq, r->seq);
		w->reenter = sx_store_report_each(w->s, 0, -1, 0, no_row, NULL);
	}
	return w->stop_at != 0 && w->n == w->stop_at ? 7 : 0;
}

static void test_listing(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	char id[SX_REPORT_ID_LEN + 1];
	/* seq 1..10; 2, 5, 6 and 9 quarantined. */
	for (int i = 1; i <= 10; i++) {
		struct sx_report_new r = report();
		if (i == 2 || i == 5 || i == 6 || i == 9) {
			r.state = SX_REPORT_QUARANTINED;
			r.reason = "leak check found an identifier";
		}
		assert_int_equal(add_ok(s, &r, id), i);
	}
	struct walk w = { .n = 0 };
	assert_int_equal(sx_store_report_each(s, 0, SX_REPORT_QUARANTINED, 0, walk_fn, &w), 0);
	assert_int_equal(w.n, 4);
	assert_int_equal(w.seq[0], 2);
	assert_int_equal(w.seq[1], 5);
	assert_int_equal(w.seq[2], 6);
	assert_int_equal(w.seq[3], 9);

	/* after and limit */
	w = (struct walk){ .n = 0 };
	assert_int_equal(sx_store_report_each(s, 5, SX_REPORT_QUARANTINED, 1, walk_fn, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.seq[0], 6);
	w = (struct walk){ .n = 0 };
	assert_int_equal(sx_store_report_each(s, 9, SX_REPORT_QUARANTINED, 0, walk_fn, &w), 0);
	assert_int_equal(w.n, 0);

	/* ready ones, and all */
	w = (struct walk){ .n = 0 };
	assert_int_equal(sx_store_report_each(s, 0, SX_REPORT_READY, 0, walk_fn, &w), 0);
	assert_int_equal(w.n, 6);
	assert_int_equal(w.seq[0], 1);
	assert_int_equal(w.seq[5], 10);
	w = (struct walk){ .n = 0 };
	assert_int_equal(sx_store_report_each(s, 3, -1, 4, walk_fn, &w), 0);
	assert_int_equal(w.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(w.seq[i], 4 + (int64_t)i);

	/* The callback's value stops the walk and comes back. */
	w = (struct walk){ .n = 0, .stop_at = 2 };
	assert_int_equal(sx_store_report_each(s, 0, -1, 0, walk_fn, &w), 7);
	assert_int_equal(w.n, 2);
	w = (struct walk){ .n = 0, .s = s, .reenter = 1 };
	assert_int_equal(sx_store_report_each(s, 0, SX_REPORT_QUARANTINED, 1, walk_fn, &w), 0);
	assert_int_equal(w.reenter, SX_EINVAL);
	/* ...and the walk's statement is usable again afterwards. */
	w = (struct walk){ .n = 0 };
	assert_int_equal(sx_store_report_each(s, 0, -1, 0, walk_fn, &w), 0);
	assert_int_equal(w.n, 10);
	sx_store_close(s);
}

/* --- get, mail, json ------------------------------------------------------------- */

static void test_get_mail_json(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	int64_t sub = member(s, "gw", SX_ROLE_SUBMITTER, 1);
	int64_t isp = member(s, "isp1", SX_ROLE_ISP, 2);

	struct sx_report_new r = report();
	r.submitter = sub;
	r.client_msg_id = "c1";
	r.isp = isp;
	r.state = SX_REPORT_QUARANTINED;
	r.reason = "leak check cannot decode: part 2";
	char id[SX_REPORT_ID_LEN + 1];
	int64_t seq = add_ok(s, &r, id);

	struct sx_report_row row;
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	assert_int_equal(row.seq, seq);
	assert_string_equal(row.id, id);
	assert_int_equal(row.received_ms, T_NOW);
	assert_int_equal(row.source, 1);
	assert_int_equal(row.consent, 3);
	assert_string_equal(row.submitter, "gw");
	assert_string_equal(row.client_msg_id, "c1");
	assert_int_equal(row.state, SX_REPORT_QUARANTINED);
	assert_string_equal(row.reason, r.reason);
	assert_string_equal(row.source_ip, "192.0.2.7");
	assert_int_equal(row.source_port, 2525);
	assert_string_equal(row.isp, "isp1");
	assert_int_equal(row.isp_id, isp);
	assert_int_equal(row.flags, 2);
	assert_int_equal(row.categories, 1);
	assert_int_equal(row.redactions, 4);
	assert_string_equal(row.subject, "件名");
	assert_string_equal(row.sha256, T_SHA);
	assert_int_equal(row.mail_len, sizeof mail_bytes - 1);

	uint8_t *mail = NULL;
	size_t len = 0;
	assert_int_equal(sx_store_report_mail(s, id, &mail, &len), 0);
	assert_int_equal(len, sizeof mail_bytes - 1);
	assert_memory_equal(mail, mail_bytes, len);   /* byte for byte, NUL included */
	free(mail);

	char *ev = NULL, *mf = NULL;
	assert_int_equal(sx_store_report_json(s, id, &ev, &mf), 0);
	assert_string_equal(ev, r.evidence_json);
	assert_string_equal(mf, r.manifest_json);
	free(ev);
	free(mf);

	/* Without evidence or manifest, and no source, submitter or ISP. */
	r = report();
	r.evidence_json = NULL;
	r.manifest_json = NULL;
	r.source_ip = NULL;
	r.source_port = 0;
	r.subject = NULL;
	r.source = 2;
	r.consent = 0;
	add_ok(s, &r, id);
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	assert_string_equal(row.submitter, "");
	assert_string_equal(row.client_msg_id, "");
	assert_string_equal(row.isp, "");
	assert_int_equal(row.isp_id, 0);
	assert_string_equal(row.source_ip, "");
	assert_string_equal(row.reason, "");
	assert_string_equal(row.subject, "");
	assert_int_equal(row.source, 2);
	assert_int_equal(sx_store_report_json(s, id, &ev, &mf), 0);
	assert_string_equal(ev, "[]");
	assert_string_equal(mf, "[]");
	free(ev);
	free(mf);

	/* Unknown and malformed ids. */
	static const char unknown[] = "raaaaaaaaaaaaaaaaaaaaaaaaa";
	assert_int_equal(sx_store_report_get(s, unknown, &row), SX_ENOTFOUND);
	assert_int_equal(sx_store_report_get(s, "nope", &row), SX_ENOTFOUND);
	assert_int_equal(sx_store_report_mail(s, unknown, &mail, &len), SX_ENOTFOUND);
	assert_null(mail);
	assert_int_equal(len, 0);
	assert_int_equal(sx_store_report_json(s, unknown, &ev, &mf), SX_ENOTFOUND);
	assert_null(ev);
	assert_null(mf);
	sx_store_close(s);
}

/* --- validation -------------------------------------------------------------------- */

static void add_refused(struct sx_store *s, const struct sx_report_new *r, int want)
{
	int64_t seq = -1;
	int dup = -1;
	char id[SX_REPORT_ID_LEN + 1] = "x";
	int rc = sx_store_report_add(s, r, &seq, id, &dup);
	if (rc != want)
		fail_msg("report_add gave %d (%s), wanted %d", rc, sx_store_errmsg(s), want);
	assert_int_equal(seq, 0);
	assert_int_equal(dup, 0);
	assert_string_equal(id, "");
	assert_string_not_equal(sx_store_errmsg(s), "");
}

static void test_validation(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	struct sx_report_new r;
	char subject[300];

	add_refused(s, NULL, SX_EINVAL);
	r = report(); r.received_ms = 0; add_refused(s, &r, SX_EINVAL);
	r = report(); r.source = 0; add_refused(s, &r, SX_EINVAL);
	r = report(); r.source = 4; add_refused(s, &r, SX_EINVAL);
	r = report(); r.source = 2; add_refused(s, &r, SX_EINVAL);   /* consent, not public */
	r = report(); r.consent = 8; add_refused(s, &r, SX_EINVAL);
	r = report(); r.reason = "why"; add_refused(s, &r, SX_EINVAL);   /* ready with a reason */
	r = report(); r.state = SX_REPORT_QUARANTINED; add_refused(s, &r, SX_EINVAL);
	r = report(); r.state = SX_REPORT_QUARANTINED; r.reason = "";
	add_refused(s, &r, SX_EINVAL);
	r = report(); r.state = 2; add_refused(s, &r, SX_EINVAL);
	r = report(); r.client_msg_id = ""; add_refused(s, &r, SX_EINVAL);
	r = report(); r.source_ip = ""; add_refused(s, &r, SX_EINVAL);
	r = report(); r.source_port = 65536; add_refused(s, &r, SX_EINVAL);
	r = report(); r.sha256 = NULL; add_refused(s, &r, SX_EINVAL);
	r = report(); r.sha256 = T_SHA "0"; add_refused(s, &r, SX_EINVAL);
	r = report();
	r.sha256 = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
	add_refused(s, &r, SX_EINVAL);
	r = report(); r.mail = NULL; add_refused(s, &r, SX_EINVAL);
	r = report(); r.mail_len = 0; add_refused(s, &r, SX_EINVAL);
	r = report(); r.submitter = 12345; add_refused(s, &r, SX_EINVAL);   /* no such member */
	r = report(); r.isp = -1; add_refused(s, &r, SX_EINVAL);

	/* The subject fits the row at 255 bytes, not at 256. */
	memset(subject, 's', sizeof subject);
	subject[256] = '\0';
	r = report(); r.subject = subject; add_refused(s, &r, SX_EINVAL);
	subject[255] = '\0';
	char id[SX_REPORT_ID_LEN + 1];
	add_ok(s, &r, id);
	struct sx_report_row row;
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	assert_string_equal(row.subject, subject);
	assert_int_equal(count(s, "SELECT count(*) FROM reports"), 1);
	sx_store_close(s);

	/* A read-only handle stores nothing. */
	s = open_ok(f, SX_STORE_READONLY);
	r = report();
	add_refused(s, &r, SX_EPERM);
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	sx_store_close(s);
}

/* A version 1 database (members only) gains the reports table, and what
 * later versions add, on open. */
static void test_migrates_v1(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = open_ok(f, SX_STORE_CREATE);
	member(s, "keep", SX_ROLE_VENDOR, 5);
	assert_int_equal(sqlite3_exec(s->db, "DROP TABLE audit_checkpoints; DROP TABLE audit_nodes; DROP TABLE audit; "
				      "DROP TABLE notice_actions; DROP TABLE notices; "
				      "DROP TABLE sub_pending; DROP TABLE subscriptions; "
				      "DELETE FROM meta WHERE key = 'purged_through'; "
				      "DROP TABLE reports; DELETE FROM sqlite_sequence; "
				      "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sx_store_close(s);

	s = open_ok(f, 0);
	assert_int_equal(sx_store_schema_version(s), 5);
	assert_int_equal(count(s, "SELECT count(*) FROM sqlite_schema WHERE name IN "
			       "('reports', 'reports_received', 'reports_state')"), 3);
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, "keep", &m), 0);
	struct sx_report_new r = report();
	char id[SX_REPORT_ID_LEN + 1];
	assert_int_equal(add_ok(s, &r, id), 1);
	sx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_format),
		cmocka_unit_test_setup_teardown(test_seq_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_mail_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_v1, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
