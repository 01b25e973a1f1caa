/*
 * store_purge.c: retention. Old reports go with everything that points at
 * them, securely: secure_delete (set at open) zeroes the freed content in the
 * database file, and the TRUNCATE checkpoint after the commit empties the WAL,
 * which still holds the pages as they were before.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <time.h>

#include "err.h"

static const char *const purge_sql[] = {
	[SX_STMT_PURGE_HORIZON] =
		"SELECT coalesce((SELECT value FROM meta WHERE key = 'purged_through'), 0)",
	/* The highest seq received before the cutoff: every seq up to it goes,
	 * so what is purged is always a prefix of the sequence. */
	[SX_STMT_PURGE_TARGET] =
		"SELECT coalesce(max(seq), 0) FROM reports WHERE received_ms < ?1",
	/* Their actions go by the cascade. */
	[SX_STMT_PURGE_NOTICES] = "DELETE FROM notices WHERE seq <= ?1",
	/* sub IN (...) lets the (sub, seq) key serve the range per subscription.
	 * Unacked rows stay: the server turns them into Gap frames, so the
	 * member learns what it never acked is gone. Parked ones are done. */
	[SX_STMT_PURGE_PENDING] =
		"DELETE FROM sub_pending WHERE sub IN (SELECT id FROM subscriptions) "
		"AND seq <= ?1 AND parked = 1",
	[SX_STMT_PURGE_REPORTS] = "DELETE FROM reports WHERE seq <= ?1",
	[SX_STMT_PURGE_SET_HORIZON] =
		"INSERT INTO meta (key, value) VALUES ('purged_through', ?1) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[SX_STMT_PURGE_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",
};

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, purge_sql[slot], out);
}

int sx_store_purged_through(struct sx_store *s, int64_t *seq)
{
	return sx_store_query_int64(s, SX_STMT_PURGE_HORIZON, purge_sql[SX_STMT_PURGE_HORIZON],
				    seq);
}

/* Runs the delete or update of slot with ?1 = x; *changes (may be NULL) gets
 * the rows it changed. */
static int run_x(struct sx_store *s, enum sx_stmt slot, int64_t x, int64_t *changes)
{
	sqlite3_stmt *st;
	int err = stmt(s, slot, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, x);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	else if (changes != NULL)
		*changes = sqlite3_changes(s->db);
	sx_store_stmt_done(st);
	return err;
}

struct purge_args {
	int64_t before_ms;
	int64_t count;
	int64_t now_ms;
};

static int purge_write(struct sx_store *s, void *ctx)
{
	struct purge_args *a = ctx;
	int64_t horizon, x;
	int err = sx_store_purged_through(s, &horizon);
	if (err)
		return err;
	sqlite3_stmt *st;
	if ((err = stmt(s, SX_STMT_PURGE_TARGET, &st)))
		return err;
	int rc = sqlite3_bind_int64(st, 1, a->before_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	x = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc != SQLITE_ROW)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err || x <= horizon)
		return err;   /* the horizon never moves back */
	if ((err = run_x(s, SX_STMT_PURGE_NOTICES, x, NULL)) ||
	    (err = run_x(s, SX_STMT_PURGE_PENDING, x, NULL)) ||
	    (err = run_x(s, SX_STMT_PURGE_REPORTS, x, &a->count)) ||
	    (err = run_x(s, SX_STMT_PURGE_SET_HORIZON, x, NULL)))
		return err;
	/* The retention purge is an audit event of its own, whoever ran it. */
	struct sx_audit_rec r = { .time_ms = a->now_ms > 0 ? a->now_ms : 1 };
	snprintf(r.event, sizeof r.event, "purge");
	snprintf(r.object, sizeof r.object, "seq<=%lld received<%lld", (long long)x,
		 (long long)a->before_ms);
	snprintf(r.outcome, sizeof r.outcome, "deleted %lld reports", (long long)a->count);
	return sx_store_audit_append_in_tx(s, &r);
}

/* Empties the WAL. A reader that holds an old snapshot (sprexd between two
 * reads) keeps the frames alive: SX_EBUSY then, and a later purge finishes
 * the job. */
static int checkpoint(struct sx_store *s)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_PURGE_CHECKPOINT, &st);
	if (err)
		return err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0)
		err = sx_store_failf(s, SX_EBUSY, "the purge is committed, but another "
				     "connection kept the WAL from being emptied; purge again");
	else if (rc != SQLITE_ROW)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_purge(struct sx_store *s, int64_t before_ms, int64_t *count)
{
	if (count != NULL)
		*count = 0;
	if (s->batch)
		return sx_store_failf(s, SX_EINVAL, "no purge inside a batch");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct purge_args a = { before_ms, 0, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 };
	int err = sx_store_write(s, purge_write, &a);
	if (err)
		return err;
	if (count != NULL)
		*count = a.count;
	return checkpoint(s);
}
