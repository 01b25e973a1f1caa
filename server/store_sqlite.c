/*
 * store_sqlite.c: opening, configuring and migrating the SQLite store, and the
 * helpers the other store files share (statement cache, transactions, errors).
 */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* PRAGMA application_id of every sprex database: "SPRX" in ASCII. */
#define SX_STORE_APP_ID 0x53505258
/* Longest path suffix sqlite adds next to the database ("-journal"). */
#define SX_STORE_SUFFIX_MAX 16

/*
 * Schema versions. migrations[i] takes a database from user_version i to i + 1
 * in one transaction. Append only: a released script is never edited. A
 * script that rebuilds a table (SQLite's ALTER TABLE procedure) will need
 * foreign_keys off around its transaction and a foreign_key_check before
 * COMMIT: give struct sx_migration a flag for it then.
 */
struct sx_migration {
	const char *sql;
};

static const struct sx_migration migrations[] = {
	/* 1: meta and the member registry. */
	{ "CREATE TABLE meta (\n"
	  "	key TEXT PRIMARY KEY NOT NULL,\n"
	  "	value\n"
	  ");\n"
	  "INSERT INTO meta (key, value) VALUES ('created_ms',\n"
	  "	CAST(round((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER));\n"
	  "CREATE TABLE members (\n"
	  "	id INTEGER PRIMARY KEY,\n"
	  "	name TEXT UNIQUE NOT NULL CHECK (length(name) BETWEEN 1 AND 63),\n"
	  "	role INTEGER NOT NULL CHECK (role >= 1),\n"
	  "	spki BLOB NOT NULL CHECK (typeof(spki) = 'blob' AND length(spki) = 32),\n"
	  "	state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),\n"
	  "	since_ms INTEGER NOT NULL,\n"
	  "	until_ms INTEGER NOT NULL DEFAULT 0,\n"
	  "	state_ms INTEGER,\n"
	  "	CHECK ((state = 2) = (until_ms > 0))\n"
	  ");\n"
	  /* A key identifies one member that is not removed; a removed member's
	   * key may be registered again under a new name. */
	  "CREATE UNIQUE INDEX members_live_spki ON members (spki) WHERE state != 2;\n"
	  "CREATE TABLE member_prefixes (\n"
	  "	member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,\n"
	  "	addr BLOB NOT NULL CHECK (typeof(addr) = 'blob' AND length(addr) = 16),\n"
	  "	len INTEGER NOT NULL CHECK (len BETWEEN 0 AND 128),\n"
	  "	PRIMARY KEY (member_id, addr, len)\n"
	  ") WITHOUT ROWID;\n" },
	/* 2: reports. AUTOINCREMENT: seq is the cursor every feed resumes from,
	 * so a purged seq must never be issued again. NULL submitters (sprexctl
	 * ingest) are distinct for UNIQUE, so only submitters are idempotent. */
	{ "CREATE TABLE reports (\n"
	  "	seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	  "	id TEXT UNIQUE NOT NULL CHECK (length(id) = 26 AND substr(id, 1, 1) = 'r'\n"
	  "		AND NOT substr(id, 2) GLOB '*[^a-z2-7]*'),\n"
	  "	received_ms INTEGER NOT NULL CHECK (received_ms > 0),\n"
	  "	source INTEGER NOT NULL CHECK (source IN (1, 2, 3)),\n"
	  "	consent INTEGER NOT NULL DEFAULT 0 CHECK (consent BETWEEN 0 AND 7\n"
	  "		AND (source = 1 OR consent = 0)),\n"
	  "	submitter INTEGER REFERENCES members (id),\n"
	  "	client_msg_id TEXT\n"
	  "		CHECK (length(CAST(client_msg_id AS BLOB)) BETWEEN 1 AND 128),\n"
	  "	state INTEGER NOT NULL CHECK (state IN (0, 1)),\n"
	  "	reason TEXT CHECK (length(CAST(reason AS BLOB)) BETWEEN 1 AND 255),\n"
	  "	source_ip TEXT CHECK (length(CAST(source_ip AS BLOB)) BETWEEN 2 AND 47),\n"
	  "	source_port INTEGER NOT NULL DEFAULT 0\n"
	  "		CHECK (source_port BETWEEN 0 AND 65535),\n"
	  "	isp INTEGER REFERENCES members (id),\n"
	  "	flags INTEGER NOT NULL DEFAULT 0 CHECK (flags >= 0),\n"
	  "	categories INTEGER NOT NULL DEFAULT 0 CHECK (categories >= 0),\n"
	  "	evidence TEXT NOT NULL DEFAULT '[]',\n"
	  "	manifest TEXT NOT NULL DEFAULT '[]',\n"
	  "	redactions INTEGER NOT NULL DEFAULT 0 CHECK (redactions >= 0),\n"
	  "	subject TEXT NOT NULL DEFAULT ''\n"
	  "		CHECK (length(CAST(subject AS BLOB)) <= 255),\n"
	  "	sha256 TEXT NOT NULL CHECK (length(sha256) = 64\n"
	  "		AND NOT sha256 GLOB '*[^0-9a-f]*'),\n"
	  "	mail BLOB NOT NULL CHECK (typeof(mail) = 'blob' AND length(mail) > 0),\n"
	  "	UNIQUE (submitter, client_msg_id),\n"
	  "	CHECK ((state = 1) = (reason IS NOT NULL))\n"
	  ");\n"
	  "CREATE INDEX reports_received ON reports (received_ms);\n"
	  /* Quarantine listings walk one state in seq order. */
	  "CREATE INDEX reports_state ON reports (state, seq);\n" },
	/* 3: durable subscriptions, their pending rows, ISP notices and their
	 * actions, and the purge horizon. Members are never deleted (removal
	 * marks them), so subscriptions and notices need no cascade from them.
	 * Pending rows may outlive their report for a moment (purged between
	 * delivery and write-through): no foreign key to reports there.
	 * notices.actions counts notice_actions, so that open notices have an
	 * index of their own. */
	{ "CREATE TABLE subscriptions (\n"
	  "	id INTEGER PRIMARY KEY,\n"
	  "	member INTEGER NOT NULL REFERENCES members (id),\n"
	  "	name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 63\n"
	  "		AND NOT name GLOB '*[^A-Za-z0-9._-]*'),\n"
	  "	feed INTEGER NOT NULL CHECK (feed BETWEEN 1 AND 4),\n"
	  "	filter TEXT NOT NULL DEFAULT ''\n"
	  "		CHECK (length(CAST(filter AS BLOB)) <= 511),\n"
	  "	position INTEGER NOT NULL CHECK (position >= 1),\n"
	  "	window_count INTEGER NOT NULL CHECK (window_count BETWEEN 1 AND 4294967295),\n"
	  "	window_bytes INTEGER NOT NULL CHECK (window_bytes >= 1),\n"
	  "	created_ms INTEGER NOT NULL CHECK (created_ms > 0),\n"
	  "	reset_ms INTEGER NOT NULL DEFAULT 0 CHECK (reset_ms >= 0),\n"
	  "	UNIQUE (member, name)\n"
	  ");\n"
	  "CREATE TABLE sub_pending (\n"
	  "	sub INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,\n"
	  "	seq INTEGER NOT NULL CHECK (seq >= 1),\n"
	  "	deliveries INTEGER NOT NULL DEFAULT 0\n"
	  "		CHECK (deliveries BETWEEN 0 AND 4294967295),\n"
	  "	due_ms INTEGER NOT NULL DEFAULT 0,\n"
	  "	parked INTEGER NOT NULL DEFAULT 0 CHECK (parked IN (0, 1)),\n"
	  "	parked_ms INTEGER NOT NULL DEFAULT 0 CHECK (parked_ms >= 0),\n"
	  "	reason TEXT NOT NULL DEFAULT '' CHECK (length(CAST(reason AS BLOB)) <= 127),\n"
	  "	CHECK ((parked = 1) = (parked_ms > 0)),\n"
	  "	PRIMARY KEY (sub, seq)\n"
	  ") WITHOUT ROWID;\n"
	  /* Parked rows are listed and replayed apart from the window. */
	  "CREATE INDEX sub_pending_parked ON sub_pending (sub, seq) WHERE parked = 1;\n"
	  "CREATE TABLE notices (\n"
	  "	seq INTEGER NOT NULL REFERENCES reports (seq),\n"
	  "	isp INTEGER NOT NULL REFERENCES members (id),\n"
	  "	sent_ms INTEGER NOT NULL CHECK (sent_ms > 0),\n"
	  "	actions INTEGER NOT NULL DEFAULT 0 CHECK (actions >= 0),\n"
	  "	PRIMARY KEY (seq, isp)\n"
	  ") WITHOUT ROWID;\n"
	  "CREATE INDEX notices_isp ON notices (isp, seq);\n"
	  "CREATE INDEX notices_open ON notices (seq, isp) WHERE actions = 0;\n"
	  "CREATE TABLE notice_actions (\n"
	  "	id INTEGER PRIMARY KEY,\n"
	  "	seq INTEGER NOT NULL,\n"
	  "	isp INTEGER NOT NULL,\n"
	  "	action INTEGER NOT NULL CHECK (action BETWEEN 1 AND 6),\n"
	  "	note TEXT NOT NULL DEFAULT '' CHECK (length(CAST(note AS BLOB)) <= 1024),\n"
	  "	time_ms INTEGER NOT NULL CHECK (time_ms > 0),\n"
	  "	FOREIGN KEY (seq, isp) REFERENCES notices (seq, isp) ON DELETE CASCADE\n"
	  ");\n"
	  /* The cascade's child lookup, and the latest action of a notice. */
	  "CREATE INDEX notice_actions_notice ON notice_actions (seq, isp, id);\n"
	  "INSERT INTO meta (key, value) VALUES ('purged_through', 0);\n" },
	/* 4: the audit log (docs/audit.md). Leaves are appended at the next
	 * index only, so neither a gap nor INSERT OR REPLACE (whose delete fires
	 * no trigger) can rewrite history; nodes and checkpoints are append-only
	 * too. An attacker with the file can drop the triggers: that is what
	 * the signed checkpoints and sprexctl audit verify are for. */
	{ "CREATE TABLE audit (\n"
	  "	leaf_index INTEGER PRIMARY KEY CHECK (leaf_index >= 0),\n"
	  "	time_ms INTEGER NOT NULL CHECK (time_ms > 0),\n"
	  "	event TEXT NOT NULL CHECK (length(CAST(event AS BLOB)) BETWEEN 1 AND 23),\n"
	  "	member TEXT NOT NULL DEFAULT '' CHECK (length(CAST(member AS BLOB)) <= 63),\n"
	  "	spki TEXT NOT NULL DEFAULT '' CHECK (length(CAST(spki AS BLOB)) IN (0, 64)),\n"
	  "	peer TEXT NOT NULL DEFAULT '' CHECK (length(CAST(peer AS BLOB)) <= 63),\n"
	  "	object TEXT NOT NULL DEFAULT '' CHECK (length(CAST(object AS BLOB)) <= 255),\n"
	  "	outcome TEXT NOT NULL DEFAULT '' CHECK (length(CAST(outcome AS BLOB)) <= 255),\n"
	  "	os_user TEXT NOT NULL DEFAULT '' CHECK (length(CAST(os_user AS BLOB)) <= 63),\n"
	  "	leaf_hash BLOB NOT NULL CHECK (typeof(leaf_hash) = 'blob'\n"
	  "		AND length(leaf_hash) = 32)\n"
	  ");\n"
	  "CREATE INDEX audit_time ON audit (time_ms);\n"
	  "CREATE TRIGGER audit_append_only BEFORE INSERT ON audit\n"
	  "	WHEN NEW.leaf_index IS NOT (SELECT coalesce(max(leaf_index) + 1, 0) FROM audit)\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit records are appended at the next index only'); END;\n"
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit records cannot be changed'); END;\n"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit records cannot be deleted'); END;\n"
	  "CREATE TABLE audit_nodes (\n"
	  "	level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 63),\n"
	  "	idx INTEGER NOT NULL CHECK (idx >= 0),\n"
	  "	hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),\n"
	  "	PRIMARY KEY (level, idx)\n"
	  ") WITHOUT ROWID;\n"
	  "CREATE TRIGGER audit_nodes_append_only BEFORE INSERT ON audit_nodes\n"
	  "	WHEN EXISTS (SELECT 1 FROM audit_nodes WHERE level = NEW.level AND idx = NEW.idx)\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit nodes cannot be replaced'); END;\n"
	  "CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit nodes cannot be changed'); END;\n"
	  "CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit nodes cannot be deleted'); END;\n"
	  "CREATE TABLE audit_checkpoints (\n"
	  "	id INTEGER PRIMARY KEY,\n"
	  "	tree_size INTEGER NOT NULL CHECK (tree_size >= 1),\n"
	  "	root BLOB NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),\n"
	  "	time_ms INTEGER NOT NULL CHECK (time_ms > 0),\n"
	  "	note TEXT NOT NULL CHECK (length(CAST(note AS BLOB)) BETWEEN 1 AND 1023)\n"
	  ");\n"
	  "CREATE TRIGGER audit_checkpoints_append_only BEFORE INSERT ON audit_checkpoints\n"
	  "	WHEN NEW.id <= (SELECT max(id) FROM audit_checkpoints)\n"
	  "		OR NEW.tree_size <= (SELECT max(tree_size) FROM audit_checkpoints)\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit checkpoints are appended only, growing'); END;\n"
	  "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit checkpoints cannot be changed'); END;\n"
	  "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints\n"
	  "	BEGIN SELECT RAISE(ABORT, 'audit checkpoints cannot be deleted'); END;\n" },
	/* 5: sprexctl ingest's idempotency key. UNIQUE (submitter,
	 * client_msg_id) takes NULLs as distinct, so the operator's keys (no
	 * submitter) get an index of their own. */
	{ "CREATE UNIQUE INDEX reports_operator_key ON reports (client_msg_id)\n"
	  "	WHERE submitter IS NULL;\n" },
};

#define SX_STORE_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static const char *const core_sql[] = {
	[SX_STMT_BEGIN] = "BEGIN IMMEDIATE",
	[SX_STMT_COMMIT] = "COMMIT",
	[SX_STMT_ROLLBACK] = "ROLLBACK",
	[SX_STMT_DATA_VERSION] = "PRAGMA data_version",
	[SX_STMT_SAVEPOINT] = "SAVEPOINT sx_write",
	[SX_STMT_RELEASE] = "RELEASE sx_write",
	[SX_STMT_ROLLBACK_TO] = "ROLLBACK TO sx_write",
};

int sx_store_map_rc(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return SX_EEXIST;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SX_EBUSY;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return SX_EINVAL;
	case SQLITE_READONLY:
	case SQLITE_AUTH:
	case SQLITE_PERM:
		return SX_EPERM;
	case SQLITE_NOMEM:
		return SX_ENOMEM;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
		return SX_EIO;
	default:
		return SX_EDB;
	}
}

int sx_store_fail(struct sx_store *s, int rc)
{
	snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
	return sx_store_map_rc(rc);
}

int sx_store_failf(struct sx_store *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

int sx_store_stmt(struct sx_store *s, enum sx_stmt slot, const char *sql, sqlite3_stmt **out)
{
	*out = NULL;
	if ((unsigned)slot >= SX_STMT_COUNT)
		return sx_store_failf(s, SX_EINVAL, "statement slot %d out of range", (int)slot);
	sqlite3_stmt *st = s->stmt[slot];
	if (st == NULL) {
		int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return sx_store_fail(s, rc);
		s->stmt[slot] = st;
	} else if (sqlite3_stmt_busy(st)) {
		/* Resetting it would cut short the walk that is using it. */
		return sx_store_failf(s, SX_EINVAL, "store statement re-entered from a callback");
	}
	*out = st;
	return 0;
}

void sx_store_stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs one cached statement that returns no rows. */
static int run_core(struct sx_store *s, enum sx_stmt slot)
{
	sqlite3_stmt *st;
	int err = sx_store_stmt(s, slot, core_sql[slot], &st);
	if (err)
		return err;
	int rc = sqlite3_step(st);
	err = rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_tx_begin(struct sx_store *s)
{
	return run_core(s, SX_STMT_BEGIN);
}

int sx_store_tx_commit(struct sx_store *s)
{
	/* A staged operator record commits with the first change of its
	 * command (sx_store_audit_operator). */
	int err = s->audit_pending ? sx_store_audit_pending_write(s) : 0;
	if (!err)
		err = run_core(s, SX_STMT_COMMIT);
	if (err)
		sx_store_tx_rollback(s);
	else
		sx_store_audit_pending_done(s);
	return err;
}

void sx_store_tx_rollback(struct sx_store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;   /* SQLite already rolled back (or nothing began) */
	char keep[sizeof s->errmsg];
	memcpy(keep, s->errmsg, sizeof keep);
	run_core(s, SX_STMT_ROLLBACK);
	memcpy(s->errmsg, keep, sizeof keep);
}

int sx_store_write(struct sx_store *s, sx_store_write_fn fn, void *ctx)
{
	int err;
	if (s->readonly)
		return sx_store_failf(s, SX_EPERM, "the database is open read-only");
	if (!s->batch) {
		if ((err = sx_store_tx_begin(s)))
			return err;
		if ((err = fn(s, ctx)) == 0)
			return sx_store_tx_commit(s);
		sx_store_tx_rollback(s);
		return err;
	}
	/* SQLite aborts the whole transaction on some errors; writing on in
	 * autocommit mode would commit outside the batch. */
	if (sqlite3_get_autocommit(s->db))
		return sx_store_failf(s, SX_EDB, "the batch's transaction was aborted; roll the "
				      "batch back");
	if ((err = run_core(s, SX_STMT_SAVEPOINT)))
		return err;
	if ((err = fn(s, ctx)) == 0)
		return run_core(s, SX_STMT_RELEASE);
	if (!sqlite3_get_autocommit(s->db)) {
		char keep[sizeof s->errmsg];
		memcpy(keep, s->errmsg, sizeof keep);
		/* ROLLBACK TO keeps the savepoint open: release it too. */
		if (run_core(s, SX_STMT_ROLLBACK_TO) == 0)
			run_core(s, SX_STMT_RELEASE);
		memcpy(s->errmsg, keep, sizeof keep);
	}
	return err;
}

int sx_store_col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	if (t == NULL)
		n = 0;
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	if (n > 0)
		memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return 0;
}

void sx_store_copy_trunc(char *out, size_t outlen, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= outlen) {
		n = outlen - 1;
		/* Back off over continuation bytes to the start of a character,
		 * which is then dropped with them. */
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(out, src, n);
	out[n] = '\0';
}

/* --- opening ------------------------------------------------------------ */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Runs a statement that yields at most one row and returns its first column
 * as an integer (0 when there is no row). */
static int query_int(struct sx_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	*out = 0;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	int err = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sqlite3_finalize(st);
	return err;
}

/* The same for a text result, copied into out. */
static int query_text(struct sx_store *s, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
	int err = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sqlite3_finalize(st);
	return err;
}

static int exec(struct sx_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	snprintf(s->errmsg, sizeof s->errmsg, "%s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return sx_store_map_rc(rc);
}

/* Connection settings that write nothing, made before the file is trusted. */
static int configure(struct sx_store *s)
{
	static const int off_ops[] = {
		SQLITE_DBCONFIG_TRUSTED_SCHEMA,   /* no SQL functions run from the schema */
		SQLITE_DBCONFIG_DQS_DML,          /* "x" is an identifier, never a string */
		SQLITE_DBCONFIG_DQS_DDL,
		SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
	};
	int rc;
	sqlite3_extended_result_codes(s->db, 1);
	for (size_t i = 0; i < sizeof off_ops / sizeof off_ops[0]; i++) {
		rc = sqlite3_db_config(s->db, off_ops[i], 0, (int *)NULL);
		if (rc != SQLITE_OK)
			return sx_store_fail(s, rc);
	}
	/* Defensive: no writable_schema or other ways to corrupt the file by SQL. */
	rc = sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	rc = sqlite3_busy_timeout(s->db, SX_STORE_BUSY_MS);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	return 0;
}

/* Sets a pragma and checks that the connection reports the wanted value. */
static int pragma_set(struct sx_store *s, const char *set, const char *get, int64_t want)
{
	int64_t got;
	int err = exec(s, set);
	if (!err)
		err = query_int(s, get, &got);
	if (err)
		return err;
	if (got != want)
		return sx_store_failf(s, SX_EDB, "%s did not take effect (%lld)", set,
				      (long long)got);
	return 0;
}

static int pragmas(struct sx_store *s)
{
	char mode[32];
	/* Read-only handles cannot switch modes; the file must already be WAL. */
	int err = query_text(s, s->readonly ? "PRAGMA journal_mode"
				     : "PRAGMA journal_mode = WAL", mode, sizeof mode);
	if (err)
		return err;
	if (strcmp(mode, "wal") != 0)
		return sx_store_failf(s, SX_EDB, "journal_mode is %s, not wal", mode);
	if ((err = pragma_set(s, "PRAGMA synchronous = FULL", "PRAGMA synchronous", 2)) ||
	    (err = pragma_set(s, "PRAGMA secure_delete = ON", "PRAGMA secure_delete", 1)) ||
	    (err = pragma_set(s, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1)) ||
	    (err = pragma_set(s, "PRAGMA trusted_schema = OFF", "PRAGMA trusted_schema", 0)) ||
	    /* Statement journals (every write under a savepoint, every insert
	     * a trigger may abort) in memory: no temporary file gets page
	     * images of reports, and no system call per statement. */
	    (err = pragma_set(s, "PRAGMA temp_store = MEMORY", "PRAGMA temp_store", 2)))
		return err;
	return 0;
}

/* Takes the database from version from to from + 1 inside the caller's
 * transaction. */
static int migrate_one(struct sx_store *s, int from)
{
	char sql[64];
	int err = exec(s, migrations[from].sql);
	if (err)
		return err;
	if (from == 0) {
		snprintf(sql, sizeof sql, "PRAGMA application_id = %d", SX_STORE_APP_ID);
		if ((err = exec(s, sql)))
			return err;
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", from + 1);
	return exec(s, sql);
}

/* Applies the next missing migration, if any, in its own transaction; *v is
 * the version found. Another process may be migrating too, so the version is
 * read again under the write lock and nothing is done if it moved. */
static int migrate_next(struct sx_store *s, int64_t *v)
{
	int64_t locked;
	int err = query_int(s, "PRAGMA user_version", v);
	if (err || *v >= SX_STORE_VERSION)
		return err;
	if ((err = sx_store_tx_begin(s)))
		return err;
	if (!(err = query_int(s, "PRAGMA user_version", &locked)) && locked == *v)
		err = migrate_one(s, (int)*v);
	if (err) {
		sx_store_tx_rollback(s);
		return err;
	}
	return sx_store_tx_commit(s);
}

static int migrate(struct sx_store *s, const char *path, char *err, size_t errlen)
{
	int64_t v = 0;
	int e;
	while (!(e = migrate_next(s, &v)) && v < SX_STORE_VERSION)
		;
	if (e) {
		seterr(err, errlen, "%s: migrating to schema version %lld failed: %s", path,
		       (long long)v + 1, s->errmsg);
		return e;
	}
	if (v > SX_STORE_VERSION) {   /* a newer sprex migrated it meanwhile */
		seterr(err, errlen, "%s has schema version %lld, newer than this sprex knows "
		       "(%d); use a newer sprex", path, (long long)v, SX_STORE_VERSION);
		return SX_EDB;
	}
	return 0;
}

/* Refuses files that are not sprex databases and versions this build does not
 * know, before anything is written to them. */
static int check_identity(struct sx_store *s, const char *path, int created, int64_t *version,
			  char *err, size_t errlen)
{
	int64_t app, v;
	int e = query_int(s, "PRAGMA application_id", &app);
	if (!e)
		e = query_int(s, "PRAGMA user_version", &v);
	if (e == SX_EDB || e == SX_EINVAL) {
		seterr(err, errlen, "%s is not a sprex database (%s)", path, s->errmsg);
		return SX_EDB;
	}
	if (e) {
		seterr(err, errlen, "%s: %s", path, s->errmsg);
		return e;
	}
	if (created ? (app != 0 || v != 0) : app != SX_STORE_APP_ID) {
		seterr(err, errlen, "%s is not a sprex database", path);
		return SX_EDB;
	}
	if (v > SX_STORE_VERSION) {
		seterr(err, errlen, "%s has schema version %lld, newer than this sprex knows "
		       "(%d); use a newer sprex", path, (long long)v, SX_STORE_VERSION);
		return SX_EDB;
	}
	if (v < SX_STORE_VERSION && s->readonly) {
		seterr(err, errlen, "%s has schema version %lld and needs migrating to %d; "
		       "open it read-write once", path, (long long)v, SX_STORE_VERSION);
		return SX_EDB;
	}
	*version = v;
	return 0;
}

/* Removes a database file this open created, with its journals. */
static void unlink_created(const char *path)
{
	static const char *const suffixes[] = { "-wal", "-shm", "-journal" };
	size_t n = strlen(path);
	char *p = malloc(n + SX_STORE_SUFFIX_MAX);
	if (p != NULL) {
		for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
			snprintf(p, n + SX_STORE_SUFFIX_MAX, "%s%s", path, suffixes[i]);
			unlink(p);
		}
		free(p);
	}
	unlink(path);
}

/* Creates path as an empty 0600 file; O_EXCL makes "already there" atomic.
 * SQLite gives -wal and -shm the database file's mode, so they are 0600 too. */
static int create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		if (e == EEXIST)
			seterr(err, errlen, "%s already exists", path);
		else
			seterr(err, errlen, "%s: %s", path, strerror(e));
		return e == EEXIST ? SX_EEXIST : e == EACCES || e == EPERM ? SX_EPERM : SX_EIO;
	}
	/* The process umask may have cleared bits of 0600; set exactly 0600. */
	if (fchmod(fd, 0600) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return SX_EIO;
	}
	if (close(fd) != 0) {
		int e = errno;
		unlink(path);
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return SX_EIO;
	}
	return 0;
}

static int check_exists(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		if (e == ENOENT) {
			seterr(err, errlen, "database %s does not exist (run sprexctl init)",
			       path);
			return SX_ENOTFOUND;
		}
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return e == EACCES || e == EPERM ? SX_EPERM : SX_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s is not a sprex database (not a regular file)", path);
		return SX_EDB;
	}
	return 0;
}

int sx_store_open(const char *path, int flags, struct sx_store **out, char *err, size_t errlen)
{
	*out = NULL;
	seterr(err, errlen, "%s", "");
	if (path == NULL || path[0] == '\0') {
		seterr(err, errlen, "no database path");
		return SX_EINVAL;
	}
	if ((flags & SX_STORE_CREATE) && (flags & SX_STORE_READONLY)) {
		seterr(err, errlen, "%s: cannot create a database read-only", path);
		return SX_EINVAL;
	}
	int created = 0, e;
	if (flags & SX_STORE_CREATE) {
		if ((e = create_file(path, err, errlen)))
			return e;
		created = 1;
	} else if ((e = check_exists(path, err, errlen))) {
		return e;
	}

	struct sx_store *s = calloc(1, sizeof *s);
	if (s == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		e = SX_ENOMEM;
		goto fail;
	}
	s->readonly = (flags & SX_STORE_READONLY) != 0;
	/* Never SQLITE_OPEN_CREATE: the file exists by now, and an open must not
	 * leave an empty database behind a mistyped path. */
	int oflags = (s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
		     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
	int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		e = s->db ? sx_store_fail(s, rc) : SX_ENOMEM;
		int sys = s->db ? sqlite3_system_errno(s->db) : 0;
		if (sys == EACCES || sys == EPERM)
			e = SX_EPERM;
		seterr(err, errlen, "%s: %s", path, s->db ? s->errmsg : "out of memory");
		goto fail;
	}
	int64_t v = 0;
	if ((e = configure(s))) {
		seterr(err, errlen, "%s: %s", path, s->errmsg);
		goto fail;
	}
	if ((e = check_identity(s, path, created, &v, err, errlen)))
		goto fail;
	if ((e = pragmas(s))) {
		seterr(err, errlen, "%s: %s", path, s->errmsg);
		goto fail;
	}
	if (v < SX_STORE_VERSION && (e = migrate(s, path, err, errlen)))
		goto fail;
	s->version = SX_STORE_VERSION;
	s->errmsg[0] = '\0';
	*out = s;
	return 0;
fail:
	sx_store_close(s);
	if (created)
		unlink_created(path);
	return e;
}

void sx_store_close(struct sx_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < SX_STMT_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	/* close_v2 also completes if a statement escaped the cache by mistake. */
	sqlite3_close_v2(s->db);
	free(s->audit_pending);
	free(s);
}

int sx_store_schema_version(struct sx_store *s)
{
	return s->version;
}

const char *sx_store_errmsg(struct sx_store *s)
{
	return s->errmsg;
}

int sx_store_query_int64(struct sx_store *s, enum sx_stmt slot, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	*out = 0;
	int err = sx_store_stmt(s, slot, sql, &st);
	if (err)
		return err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_data_version(struct sx_store *s, uint64_t *out)
{
	int64_t v;
	int err = sx_store_query_int64(s, SX_STMT_DATA_VERSION, core_sql[SX_STMT_DATA_VERSION], &v);
	*out = (uint64_t)v;
	return err ? SX_EDB : 0;
}

/* --- names ---------------------------------------------------------------- */

static const char *const role_names[] = {
	[SX_ROLE_NONE] = "none",
	[SX_ROLE_VENDOR] = "vendor",
	[SX_ROLE_ISP] = "isp",
	[SX_ROLE_ENFORCEMENT] = "enforcement",
	[SX_ROLE_AUDITOR] = "auditor",
	[SX_ROLE_SUBMITTER] = "submitter",
};

const char *sx_role_name(enum sx_role r)
{
	if ((unsigned)r < sizeof role_names / sizeof role_names[0])
		return role_names[r];
	return "unknown";
}

enum sx_role sx_role_parse(const char *s)
{
	if (s == NULL)
		return SX_ROLE_NONE;
	for (size_t i = SX_ROLE_VENDOR; i < sizeof role_names / sizeof role_names[0]; i++)
		if (strcmp(s, role_names[i]) == 0)
			return (enum sx_role)i;
	return SX_ROLE_NONE;
}

const char *sx_member_state_name(enum sx_member_state st)
{
	switch (st) {
	case SX_MEMBER_ACTIVE: return "active";
	case SX_MEMBER_SUSPENDED: return "suspended";
	case SX_MEMBER_REMOVED: return "removed";
	}
	return "unknown";
}

static int is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int sx_member_name_ok(const char *name)
{
	if (name == NULL || !is_alnum((unsigned char)name[0]))
		return 0;
	size_t n = 0;
	for (; name[n] != '\0'; n++) {
		unsigned char c = (unsigned char)name[n];
		if (n >= SX_NAME_MAX - 1)
			return 0;
		if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	return 1;
}
