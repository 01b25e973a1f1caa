/*
 * test_store.c: the SQLite store: files, schema guard, pragmas, member registry.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "server/store.h"
#include "server/store_sqlite.h"   /* white-box: the connection, for pragmas */

#define T_PATH_MAX 512
#define T_ERR_MAX 256
#define T_NOW 1764345600000LL   /* 2025-11-28T16:00:00Z */

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
	snprintf(f->dir, sizeof f->dir, "%s/sx-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/sprex.db", f->dir);
	*state = f;
	return 0;
}

static void unlink_in(const struct fixture *f, const char *name)
{
	char p[T_PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/%s", f->dir, name);
	unlink(p);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"sprex.db", "sprex.db-wal", "sprex.db-shm", "sprex.db-journal",
		"other.db", "other.db-wal", "other.db-shm", "other.db-journal", "text",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unlink_in(f, names[i]);
	assert_int_equal(rmdir(f->dir), 0);   /* nothing else was left behind */
	free(f);
	return 0;
}

static struct sx_store *open_ok(struct fixture *f, int flags)
{
	struct sx_store *s = NULL;
	int rc = sx_store_open(f->db, flags, &s, f->err, sizeof f->err);
	if (rc != 0)
		fail_msg("open %s: %d %s", f->db, rc, f->err);
	assert_non_null(s);
	return s;
}

static struct sx_store *create_ok(struct fixture *f)
{
	return open_ok(f, SX_STORE_CREATE);
}

static void key(uint8_t spki[SX_SPKI_LEN], uint8_t seed)
{
	for (size_t i = 0; i < SX_SPKI_LEN; i++)
		spki[i] = (uint8_t)(seed + i * 7);
}

/* 192.0.2.0/24 style prefix as ::ffff:a.b.c.d / 96 + len. */
static struct sx_prefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	struct sx_prefix p = { .addr = { [10] = 0xff, [11] = 0xff, [12] = a, [13] = b, [14] = c,
					 [15] = d }, .len = (uint8_t)(96 + len) };
	return p;
}

static int64_t pragma_int(struct sx_store *s, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Runs sql on a plain SQLite connection to path (not through the store). */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void assert_mode_0600(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* --- files and schema guard --------------------------------------------- */

static void test_files_are_0600(void **state)
{
	struct fixture *f = *state;
	/* A permissive umask must not widen the files that hold reports. */
	mode_t old = umask(0);
	struct sx_store *s = create_ok(f);
	uint8_t k[SX_SPKI_LEN];
	key(k, 1);
	assert_int_equal(sx_store_member_add(s, "a", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	umask(old);

	char p[T_PATH_MAX + 32];
	assert_mode_0600(f->db);
	snprintf(p, sizeof p, "%s-wal", f->db);
	assert_mode_0600(p);
	snprintf(p, sizeof p, "%s-shm", f->db);
	assert_mode_0600(p);
	assert_true(sx_store_schema_version(s) >= 1);
	sx_store_close(s);
}

static void test_init_refuses_existing(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	sx_store_close(s);
	assert_int_equal(sx_store_open(f->db, SX_STORE_CREATE, &s, f->err, sizeof f->err),
			 SX_EEXIST);
	assert_null(s);
	assert_non_null(strstr(f->err, "already exists"));

	/* Any file in the way, sprex or not, is left alone. */
	char text[T_PATH_MAX + 32];
	snprintf(text, sizeof text, "%s/text", f->dir);
	FILE *fp = fopen(text, "w");
	assert_non_null(fp);
	fputs("not a database\n", fp);
	fclose(fp);
	assert_int_equal(sx_store_open(text, SX_STORE_CREATE, &s, f->err, sizeof f->err),
			 SX_EEXIST);
	struct stat st;
	assert_int_equal(stat(text, &st), 0);
	assert_int_equal(st.st_size, 15);
}

static void test_open_missing(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = NULL;
	assert_int_equal(sx_store_open(f->db, 0, &s, f->err, sizeof f->err), SX_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(f->err, "does not exist (run sprexctl init)"));
	/* ...and opening did not create it. */
	assert_int_equal(access(f->db, F_OK), -1);
	assert_int_equal(sx_store_open("", 0, &s, f->err, sizeof f->err), SX_EINVAL);
	assert_int_equal(sx_store_open(f->db, SX_STORE_CREATE | SX_STORE_READONLY, &s, f->err,
				       sizeof f->err), SX_EINVAL);
	assert_int_equal(access(f->db, F_OK), -1);
}

static void test_open_not_sprex(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = NULL;
	char other[T_PATH_MAX + 32];
	snprintf(other, sizeof other, "%s/other.db", f->dir);
	raw_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");

	assert_int_equal(sx_store_open(other, 0, &s, f->err, sizeof f->err), SX_EDB);
	assert_null(s);
	assert_non_null(strstr(f->err, "is not a sprex database"));
	/* Refused before anything was written: still a rollback-journal file
	 * (header bytes 18 and 19 are 1, WAL would make them 2). */
	FILE *fp = fopen(other, "rb");
	assert_non_null(fp);
	unsigned char hdr[20];
	assert_int_equal(fread(hdr, 1, sizeof hdr, fp), sizeof hdr);
	fclose(fp);
	assert_int_equal(hdr[18], 1);
	assert_int_equal(hdr[19], 1);

	/* Not SQLite at all, and an empty file. */
	char text[T_PATH_MAX + 32];
	snprintf(text, sizeof text, "%s/text", f->dir);
	fp = fopen(text, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database at all\n", fp);
	fclose(fp);
	assert_int_equal(sx_store_open(text, 0, &s, f->err, sizeof f->err), SX_EDB);
	assert_non_null(strstr(f->err, "is not a sprex database"));
	fp = fopen(text, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(sx_store_open(text, 0, &s, f->err, sizeof f->err), SX_EDB);
	assert_non_null(strstr(f->err, "is not a sprex database"));
	/* A directory is not one either. */
	assert_int_equal(sx_store_open(f->dir, 0, &s, f->err, sizeof f->err), SX_EDB);
}

static void test_open_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	int v = sx_store_schema_version(s);
	sx_store_close(s);

	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
	raw_exec(f->db, sql);
	s = NULL;
	assert_int_equal(sx_store_open(f->db, 0, &s, f->err, sizeof f->err), SX_EDB);
	assert_null(s);
	assert_non_null(strstr(f->err, "newer than this sprex knows"));
}

static void test_migrates_older(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	int64_t app = pragma_int(s, "PRAGMA application_id");
	int v = sx_store_schema_version(s);
	sx_store_close(s);

	/* A sprex database at version 0: marked as sprex, nothing in it yet. */
	char other[T_PATH_MAX + 32], sql[64];
	snprintf(other, sizeof other, "%s/other.db", f->dir);
	snprintf(sql, sizeof sql, "PRAGMA application_id = %lld", (long long)app);
	raw_exec(other, sql);

	/* read-only cannot migrate, so it refuses */
	assert_int_equal(sx_store_open(other, SX_STORE_READONLY, &s, f->err, sizeof f->err),
			 SX_EDB);
	assert_non_null(strstr(f->err, "needs migrating"));
	s = NULL;
	assert_int_equal(sx_store_open(other, 0, &s, f->err, sizeof f->err), 0);
	assert_int_equal(sx_store_schema_version(s), v);
	assert_int_equal(pragma_int(s, "PRAGMA user_version"), v);
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM sqlite_schema WHERE name IN "
				       "('members', 'member_prefixes', 'meta')"), 3);
	sx_store_close(s);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	int v = sx_store_schema_version(s);
	uint8_t k[SX_SPKI_LEN];
	key(k, 9);
	assert_int_equal(sx_store_member_add(s, "keep", SX_ROLE_AUDITOR, k, NULL, 0, T_NOW), 0);
	sx_store_close(s);

	s = open_ok(f, 0);
	assert_int_equal(sx_store_schema_version(s), v);
	assert_int_equal(pragma_int(s, "PRAGMA user_version"), v);
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM meta WHERE key = 'created_ms' "
				       "AND value > 0"), 1);
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, "keep", &m), 0);
	assert_int_equal(m.role, SX_ROLE_AUDITOR);
	assert_memory_equal(m.spki, k, SX_SPKI_LEN);
	sx_store_close(s);
}

static void test_pragmas(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	sx_store_close(s);
	s = open_ok(f, 0);   /* settings are per connection: check a reopened one */

	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(pragma_int(s, "PRAGMA synchronous"), 2);   /* FULL */
	assert_int_equal(pragma_int(s, "PRAGMA secure_delete"), 1);
	assert_int_equal(pragma_int(s, "PRAGMA foreign_keys"), 1);
	assert_int_equal(pragma_int(s, "PRAGMA trusted_schema"), 0);
	assert_true(pragma_int(s, "PRAGMA busy_timeout") > 0);
	assert_int_not_equal(pragma_int(s, "PRAGMA application_id"), 0);
	sx_store_close(s);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k[SX_SPKI_LEN];
	key(k, 3);
	assert_int_equal(sx_store_member_add(s, "ro", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	sx_store_close(s);

	s = open_ok(f, SX_STORE_READONLY);
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, "ro", &m), 0);
	key(k, 4);
	assert_int_equal(sx_store_member_add(s, "rw", SX_ROLE_VENDOR, k, NULL, 0, T_NOW),
			 SX_EPERM);
	assert_int_equal(sx_store_member_get(s, "rw", &m), SX_ENOTFOUND);
	sx_store_close(s);
}

/* --- member registry ---------------------------------------------------- */

struct names {
	char v[8][SX_NAME_MAX];
	struct sx_member m[8];
	size_t n;
	size_t stop_after;   /* 0: never */
};

static int collect(void *ctx, const struct sx_member *m)
{
	struct names *c = ctx;
	assert_true(c->n < 8);
	memcpy(c->v[c->n], m->name, SX_NAME_MAX);
	c->m[c->n] = *m;
	c->n++;
	return c->stop_after && c->n == c->stop_after ? 42 : 0;
}

static void test_member_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k1[SX_SPKI_LEN], k2[SX_SPKI_LEN];
	key(k1, 1);
	key(k2, 2);
	struct sx_prefix pfx[] = { v4(192, 0, 2, 0, 24), v4(198, 51, 100, 0, 24) };

	assert_int_equal(sx_store_member_add(s, "vendor-1", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW),
			 0);
	assert_int_equal(sx_store_member_add(s, "isp.example", SX_ROLE_ISP, k2, pfx, 2,
					     T_NOW + 1), 0);

	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, "isp.example", &m), 0);
	assert_string_equal(m.name, "isp.example");
	assert_int_equal(m.role, SX_ROLE_ISP);
	assert_int_equal(m.state, SX_MEMBER_ACTIVE);
	assert_int_equal(m.since_ms, T_NOW + 1);
	assert_int_equal(m.until_ms, 0);
	assert_memory_equal(m.spki, k2, SX_SPKI_LEN);
	assert_int_equal(sx_store_member_get(s, "nobody", &m), SX_ENOTFOUND);
	assert_non_null(strstr(sx_store_errmsg(s), "no member named nobody"));

	struct names c = { .n = 0 };
	assert_int_equal(sx_store_member_each(s, 0, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "isp.example");   /* name order */
	assert_string_equal(c.v[1], "vendor-1");

	/* suspend, idempotently, then resume */
	assert_int_equal(sx_store_member_set_state(s, "vendor-1", SX_MEMBER_SUSPENDED, T_NOW + 2),
			 0);
	assert_int_equal(sx_store_member_set_state(s, "vendor-1", SX_MEMBER_SUSPENDED, T_NOW + 3),
			 0);
	assert_int_equal(sx_store_member_get(s, "vendor-1", &m), 0);
	assert_int_equal(m.state, SX_MEMBER_SUSPENDED);
	assert_int_equal(pragma_int(s, "SELECT state_ms FROM members WHERE name = 'vendor-1'"),
			 T_NOW + 2);
	assert_int_equal(sx_store_member_set_state(s, "vendor-1", SX_MEMBER_ACTIVE, T_NOW + 4), 0);
	assert_int_equal(sx_store_member_get(s, "vendor-1", &m), 0);
	assert_int_equal(m.state, SX_MEMBER_ACTIVE);
	assert_int_equal(sx_store_member_set_state(s, "vendor-1", SX_MEMBER_REMOVED, T_NOW + 5),
			 SX_EINVAL);
	assert_int_equal(sx_store_member_set_state(s, "nobody", SX_MEMBER_SUSPENDED, T_NOW + 5),
			 SX_ENOTFOUND);

	/* remove: the row stays with until, the prefixes go */
	assert_int_equal(sx_store_member_remove(s, "isp.example", T_NOW + 6), 0);
	assert_int_equal(sx_store_member_get(s, "isp.example", &m), 0);
	assert_int_equal(m.state, SX_MEMBER_REMOVED);
	assert_int_equal(m.since_ms, T_NOW + 1);
	assert_int_equal(m.until_ms, T_NOW + 6);
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM member_prefixes"), 0);

	/* a removed member cannot be resumed, suspended or removed again */
	assert_int_equal(sx_store_member_set_state(s, "isp.example", SX_MEMBER_ACTIVE, T_NOW + 7),
			 SX_ENOTFOUND);
	assert_non_null(strstr(sx_store_errmsg(s), "was removed and cannot be resumed"));
	assert_int_equal(sx_store_member_set_state(s, "isp.example", SX_MEMBER_SUSPENDED,
						   T_NOW + 7), SX_ENOTFOUND);
	assert_int_equal(sx_store_member_remove(s, "isp.example", T_NOW + 8), SX_ENOTFOUND);
	assert_non_null(strstr(sx_store_errmsg(s), "is already removed"));
	assert_int_equal(sx_store_member_remove(s, "nobody", T_NOW + 8), SX_ENOTFOUND);
	assert_int_equal(sx_store_member_get(s, "isp.example", &m), 0);
	assert_int_equal(m.until_ms, T_NOW + 6);   /* first removal stands */

	memset(&c, 0, sizeof c);
	assert_int_equal(sx_store_member_each(s, 0, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "vendor-1");
	memset(&c, 0, sizeof c);
	assert_int_equal(sx_store_member_each(s, 1, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.m[0].state, SX_MEMBER_REMOVED);
	assert_int_equal(c.m[0].until_ms, T_NOW + 6);

	/* a callback's non-zero value stops the walk and comes back */
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	assert_int_equal(sx_store_member_each(s, 1, collect, &c), 42);
	assert_int_equal(c.n, 1);
	sx_store_close(s);
}

static void test_member_duplicates(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k1[SX_SPKI_LEN], k2[SX_SPKI_LEN];
	key(k1, 1);
	key(k2, 2);

	assert_int_equal(sx_store_member_add(s, "alice", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW), 0);
	/* same name, other key */
	assert_int_equal(sx_store_member_add(s, "alice", SX_ROLE_AUDITOR, k2, NULL, 0, T_NOW),
			 SX_EEXIST);
	assert_non_null(strstr(sx_store_errmsg(s), "member alice already exists"));
	/* same key, other name */
	assert_int_equal(sx_store_member_add(s, "bob", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW),
			 SX_EEXIST);
	assert_non_null(strstr(sx_store_errmsg(s), "belongs to member alice"));
	/* a suspended member still holds its key */
	assert_int_equal(sx_store_member_set_state(s, "alice", SX_MEMBER_SUSPENDED, T_NOW), 0);
	assert_int_equal(sx_store_member_add(s, "bob", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW),
			 SX_EEXIST);
	/* the failed adds left nothing behind, and no transaction open */
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM members"), 1);
	assert_int_not_equal(sqlite3_get_autocommit(s->db), 0);

	/* once removed, the key may come back under a new name, the name may not */
	assert_int_equal(sx_store_member_remove(s, "alice", T_NOW + 1), 0);
	assert_int_equal(sx_store_member_add(s, "bob", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW + 2), 0);
	assert_int_equal(sx_store_member_add(s, "alice", SX_ROLE_VENDOR, k2, NULL, 0, T_NOW + 2),
			 SX_EEXIST);
	assert_non_null(strstr(sx_store_errmsg(s), "names are not reused"));
	/* and the key is held again by the new member */
	assert_int_equal(sx_store_member_add(s, "carol", SX_ROLE_VENDOR, k1, NULL, 0, T_NOW + 3),
			 SX_EEXIST);
	assert_non_null(strstr(sx_store_errmsg(s), "belongs to member bob"));

	/* the schema enforces the key rule on its own, too */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, "INSERT INTO members (name, role, spki, "
					    "since_ms) VALUES ('dave', 1, ?1, 1)", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, k1, SX_SPKI_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	assert_int_equal(sx_store_map_rc(rc == SQLITE_CONSTRAINT ? sqlite3_extended_errcode(s->db)
							      : rc), SX_EEXIST);
	sx_store_close(s);
}

static void test_member_validation(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k[SX_SPKI_LEN];
	key(k, 5);
	char longest[SX_NAME_MAX], toolong[SX_NAME_MAX + 1];
	memset(longest, 'n', SX_NAME_MAX - 1);
	longest[SX_NAME_MAX - 1] = '\0';
	memset(toolong, 'n', SX_NAME_MAX);
	toolong[SX_NAME_MAX] = '\0';

	static const char *const bad[] = {
		"", "-a", ".a", "_a", "a b", "a/b", "a:b", "a\xc3\xa9", "a\n", "a@b",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_false(sx_member_name_ok(bad[i]));
		assert_int_equal(sx_store_member_add(s, bad[i], SX_ROLE_VENDOR, k, NULL, 0, T_NOW),
				 SX_EINVAL);
	}
	assert_false(sx_member_name_ok(NULL));
	assert_false(sx_member_name_ok(toolong));
	assert_int_equal(sx_store_member_add(s, toolong, SX_ROLE_VENDOR, k, NULL, 0, T_NOW),
			 SX_EINVAL);
	assert_true(sx_member_name_ok("a"));
	assert_true(sx_member_name_ok("0x.A_b-c"));
	assert_true(sx_member_name_ok(longest));
	assert_int_equal(sx_store_member_add(s, longest, SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	struct sx_member m;
	assert_int_equal(sx_store_member_get(s, longest, &m), 0);
	assert_string_equal(m.name, longest);

	/* roles */
	key(k, 6);
	assert_int_equal(sx_store_member_add(s, "r0", SX_ROLE_NONE, k, NULL, 0, T_NOW), SX_EINVAL);
	assert_int_equal(sx_store_member_add(s, "r6", (enum sx_role)6, k, NULL, 0, T_NOW),
			 SX_EINVAL);
	assert_int_equal(sx_store_member_add(s, "t0", SX_ROLE_VENDOR, k, NULL, 0, 0), SX_EINVAL);
	for (int r = SX_ROLE_VENDOR; r <= SX_ROLE_SUBMITTER; r++)
		assert_int_equal(sx_role_parse(sx_role_name((enum sx_role)r)), r);
	assert_string_equal(sx_role_name(SX_ROLE_ENFORCEMENT), "enforcement");
	assert_int_equal(sx_role_parse("ISP"), SX_ROLE_NONE);
	assert_int_equal(sx_role_parse("none"), SX_ROLE_NONE);
	assert_int_equal(sx_role_parse(""), SX_ROLE_NONE);
	assert_int_equal(sx_role_parse(NULL), SX_ROLE_NONE);
	assert_string_equal(sx_member_state_name(SX_MEMBER_SUSPENDED), "suspended");
	assert_string_equal(sx_member_state_name(SX_MEMBER_REMOVED), "removed");

	/* prefixes: isp only, canonical, 0..128 */
	struct sx_prefix p = v4(192, 0, 2, 0, 24);
	for (int r = SX_ROLE_VENDOR; r <= SX_ROLE_SUBMITTER; r++) {
		if (r == SX_ROLE_ISP)
			continue;
		assert_int_equal(sx_store_member_add(s, "p", (enum sx_role)r, k, &p, 1, T_NOW),
				 SX_EINVAL);
		assert_non_null(strstr(sx_store_errmsg(s), "only isp"));
	}
	struct sx_prefix host_bits = v4(192, 0, 2, 1, 24);
	assert_int_equal(sx_store_member_add(s, "p", SX_ROLE_ISP, k, &host_bits, 1, T_NOW),
			 SX_EINVAL);
	struct sx_prefix toolen = { .len = 129 };
	assert_int_equal(sx_store_member_add(s, "p", SX_ROLE_ISP, k, &toolen, 1, T_NOW),
			 SX_EINVAL);
	assert_int_equal(sx_store_member_add(s, "p", SX_ROLE_ISP, k, NULL, 1, T_NOW), SX_EINVAL);
	struct sx_prefix edges[] = {
		{ .len = 0 },                                   /* everything */
		{ .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, .len = 128 },
		v4(192, 0, 2, 0, 24), v4(192, 0, 2, 0, 24),     /* twice: stored once */
	};
	assert_int_equal(sx_store_member_add(s, "p", SX_ROLE_ISP, k, edges, 4, T_NOW), 0);
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM member_prefixes"), 3);
	/* an ISP without prefixes is allowed (it gets no notices) */
	key(k, 7);
	assert_int_equal(sx_store_member_add(s, "bare-isp", SX_ROLE_ISP, k, NULL, 0, T_NOW), 0);
	sx_store_close(s);
}

struct pfx_seen {
	int64_t member[8];
	struct sx_prefix p[8];
	size_t n;
};

static int collect_prefix(void *ctx, int64_t member_id, const struct sx_prefix *p)
{
	struct pfx_seen *c = ctx;
	assert_true(c->n < 8);
	c->member[c->n] = member_id;
	c->p[c->n] = *p;
	c->n++;
	return 0;
}

static int stop_prefix(void *ctx, int64_t member_id, const struct sx_prefix *p)
{
	(void)ctx; (void)member_id; (void)p;
	return -7;
}

static void test_prefix_each(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k[SX_SPKI_LEN];
	struct sx_prefix a[] = { v4(198, 51, 100, 0, 24), v4(192, 0, 2, 0, 25) };
	struct sx_prefix b[] = { { .addr = { 0x20, 0x01, 0x0d, 0xb8 }, .len = 32 } };
	struct sx_prefix c[] = { v4(203, 0, 113, 0, 24) };
	struct sx_member ma, mb;

	key(k, 1);
	assert_int_equal(sx_store_member_add(s, "isp-a", SX_ROLE_ISP, k, a, 2, T_NOW), 0);
	key(k, 2);
	assert_int_equal(sx_store_member_add(s, "isp-b", SX_ROLE_ISP, k, b, 1, T_NOW), 0);
	key(k, 3);
	assert_int_equal(sx_store_member_add(s, "isp-c", SX_ROLE_ISP, k, c, 1, T_NOW), 0);
	assert_int_equal(sx_store_member_get(s, "isp-a", &ma), 0);
	assert_int_equal(sx_store_member_get(s, "isp-b", &mb), 0);
	/* suspended ISPs keep their prefixes; removed ones lose them */
	assert_int_equal(sx_store_member_set_state(s, "isp-b", SX_MEMBER_SUSPENDED, T_NOW), 0);
	assert_int_equal(sx_store_member_remove(s, "isp-c", T_NOW), 0);

	struct pfx_seen seen = { .n = 0 };
	assert_int_equal(sx_store_prefix_each(s, collect_prefix, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.member[0], ma.id);
	assert_memory_equal(&seen.p[0], &a[1], sizeof a[1]);   /* addr order within member */
	assert_int_equal(seen.member[1], ma.id);
	assert_memory_equal(&seen.p[1], &a[0], sizeof a[0]);
	assert_int_equal(seen.member[2], mb.id);
	assert_memory_equal(&seen.p[2], &b[0], sizeof b[0]);

	assert_int_equal(sx_store_prefix_each(s, stop_prefix, NULL), -7);
	/* deleting a member row cascades to its prefixes */
	assert_int_equal(sqlite3_exec(s->db, "DELETE FROM members WHERE name = 'isp-a'", NULL,
				      NULL, NULL), SQLITE_OK);
	assert_int_equal(pragma_int(s, "SELECT count(*) FROM member_prefixes"), 1);
	sx_store_close(s);
}

static int reenter(void *ctx, const struct sx_member *m)
{
	struct sx_store *s = ctx;
	struct sx_member again;
	/* looking up is fine; walking again is refused, not corrupted */
	assert_int_equal(sx_store_member_get(s, m->name, &again), 0);
	return sx_store_member_each(s, 1, collect, NULL);
}

static void test_each_reentry(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s = create_ok(f);
	uint8_t k[SX_SPKI_LEN];
	key(k, 1);
	assert_int_equal(sx_store_member_add(s, "one", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	assert_int_equal(sx_store_member_each(s, 1, reenter, s), SX_EINVAL);
	struct names c = { .n = 0 };
	assert_int_equal(sx_store_member_each(s, 1, collect, &c), 0);
	assert_int_equal(c.n, 1);
	sx_store_close(s);
}

static void test_data_version(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s1 = create_ok(f);
	struct sx_store *s2 = open_ok(f, 0);
	uint64_t v0, v;
	uint8_t k[SX_SPKI_LEN];
	struct sx_member m;
	struct names c = { .n = 0 };

	assert_int_equal(sx_store_data_version(s1, &v0), 0);
	/* our own reads leave it alone */
	assert_int_equal(sx_store_member_each(s1, 1, collect, &c), 0);
	assert_int_equal(sx_store_member_get(s1, "x", &m), SX_ENOTFOUND);
	assert_int_equal(sx_store_data_version(s1, &v), 0);
	assert_true(v == v0);
	/* so do our own commits */
	key(k, 1);
	assert_int_equal(sx_store_member_add(s1, "mine", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	assert_int_equal(sx_store_data_version(s1, &v), 0);
	assert_true(v == v0);
	/* another connection's commit changes it */
	key(k, 2);
	assert_int_equal(sx_store_member_add(s2, "theirs", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	assert_int_equal(sx_store_data_version(s1, &v), 0);
	assert_true(v != v0);
	assert_int_equal(sx_store_member_get(s1, "theirs", &m), 0);
	uint64_t v1 = v;
	assert_int_equal(sx_store_member_set_state(s2, "theirs", SX_MEMBER_SUSPENDED, T_NOW), 0);
	assert_int_equal(sx_store_data_version(s1, &v), 0);
	assert_true(v != v1);
	sx_store_close(s2);
	sx_store_close(s1);
}

static void test_busy(void **state)
{
	struct fixture *f = *state;
	struct sx_store *s1 = create_ok(f);
	struct sx_store *s2 = open_ok(f, 0);
	uint8_t k[SX_SPKI_LEN];
	key(k, 1);
	/* Do not wait the full busy timeout in a test. */
	sqlite3_busy_timeout(s1->db, 1);
	assert_int_equal(sqlite3_exec(s2->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sx_store_member_add(s1, "late", SX_ROLE_VENDOR, k, NULL, 0, T_NOW),
			 SX_EBUSY);
	assert_int_equal(sqlite3_exec(s2->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sx_store_member_add(s1, "late", SX_ROLE_VENDOR, k, NULL, 0, T_NOW), 0);
	sx_store_close(s2);
	sx_store_close(s1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files_are_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_sprex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_older, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_reentry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
