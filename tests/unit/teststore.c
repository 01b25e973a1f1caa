/*
 * teststore.c: shared fixture of the store's unit tests (teststore.h).
 */
#include "teststore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "server/store_sqlite.h"   /* white-box: the connection, for raw SQL */

#define TS_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TS_MAIL_MAX 256

int ts_setup(void **state)
{
	struct ts_fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/sx-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/sprex.db", f->dir);
	*state = f;
	return 0;
}

int ts_teardown(void **state)
{
	struct ts_fixture *f = *state;
	static const char *const names[] = {
		"sprex.db", "sprex.db-wal", "sprex.db-shm", "sprex.db-journal",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char p[TS_PATH_MAX + 32];
		snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

struct sx_store *ts_open(struct ts_fixture *f, int flags)
{
	struct sx_store *s = NULL;
	int rc = sx_store_open(f->db, flags, &s, f->err, sizeof f->err);
	if (rc != 0)
		fail_msg("open %s: %d %s", f->db, rc, f->err);
	return s;
}

int64_t ts_member(struct sx_store *s, const char *name, enum sx_role role, uint8_t seed)
{
	uint8_t k[SX_SPKI_LEN];
	for (size_t i = 0; i < SX_SPKI_LEN; i++)
		k[i] = (uint8_t)(seed + i * 7);
	struct sx_prefix p = { .addr = { [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0,
					 [14] = 2 }, .len = 120 };
	int isp = role == SX_ROLE_ISP;
	int rc = sx_store_member_add(s, name, role, k, isp ? &p : NULL, isp, TS_NOW);
	if (rc != 0)
		fail_msg("member_add %s: %d %s", name, rc, sx_store_errmsg(s));
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, name, &m), 0);
	return m.id;
}

int64_t ts_report(struct sx_store *s, int64_t received_ms, int64_t isp, const char *marker,
		  char *id)
{
	char mail[TS_MAIL_MAX];
	int n = snprintf(mail, sizeof mail, "Subject: ad\r\n\r\nbuy now %s\r\n",
			 marker ? marker : "");
	assert_true(n > 0 && (size_t)n < sizeof mail);
	struct sx_report_new r = {
		.received_ms = received_ms,
		.source = 2,
		.state = SX_REPORT_READY,
		.source_ip = "192.0.2.7",
		.isp = isp,
		.sha256 = TS_SHA,
		.mail = (const uint8_t *)mail,
		.mail_len = (size_t)n,
	};
	int64_t seq = 0;
	int dup = -1;
	char rid[SX_REPORT_ID_LEN + 1];
	int rc = sx_store_report_add(s, &r, &seq, rid, &dup);
	if (rc != 0)
		fail_msg("report_add: %d %s", rc, sx_store_errmsg(s));
	assert_int_equal(dup, 0);
	if (id != NULL)
		memcpy(id, rid, sizeof rid);
	return seq;
}

int64_t ts_count(struct sx_store *s, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}
