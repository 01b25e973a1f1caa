/*
 * store_sub.c: durable subscriptions (keyed by member and name) and their
 * pending rows (delivered and unacked, or parked).
 *
 * The server keeps the live delivery state in memory and writes it through
 * here, usually inside a batch; every write also works on its own.
 */
#include "store_sqlite.h"

#include <string.h>

#include "err.h"

/* Highest feed number (enum sx_feed in authz.h; the schema checks it too). */
#define SUB_FEED_MAX 4

#define SUB_COLS \
	"id, member, name, feed, filter, position, window_count, window_bytes, created_ms, " \
	"reset_ms"
#define PENDING_SELECT \
	"SELECT p.seq, p.deliveries, p.due_ms, p.parked, p.parked_ms, p.reason, " \
	"coalesce(r.id, '') FROM sub_pending AS p LEFT JOIN reports AS r ON r.seq = p.seq " \
	"WHERE p.sub = ?1 "

static const char *const sub_sql[] = {
	[SX_STMT_SUB_GET] =
		"SELECT " SUB_COLS " FROM subscriptions WHERE member = ?1 AND name = ?2",
	[SX_STMT_SUB_INSERT] =
		"INSERT INTO subscriptions (member, name, feed, filter, position, window_count, "
		"window_bytes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SX_STMT_SUB_RESET] =
		"UPDATE subscriptions SET feed = ?2, filter = ?3, position = ?4, "
		"window_count = ?5, window_bytes = ?6, reset_ms = ?7 WHERE id = ?1",
	[SX_STMT_SUB_ADVANCE] =
		"UPDATE subscriptions SET position = max(position, ?2) WHERE id = ?1",
	[SX_STMT_SUB_EACH] =
		"SELECT " SUB_COLS " FROM subscriptions ORDER BY member, name",
	[SX_STMT_SUB_EACH_MEMBER] =
		"SELECT " SUB_COLS " FROM subscriptions WHERE member = ?1 ORDER BY name",
	/* A parked row stays as it is until replayed. */
	[SX_STMT_PENDING_PUT] =
		"INSERT INTO sub_pending (sub, seq, deliveries, due_ms) VALUES (?1, ?2, ?3, ?4) "
		"ON CONFLICT (sub, seq) DO UPDATE SET deliveries = excluded.deliveries, "
		"due_ms = excluded.due_ms WHERE parked = 0",
	[SX_STMT_PENDING_ACK] =
		"DELETE FROM sub_pending WHERE sub = ?1 AND seq BETWEEN ?2 AND ?3 AND parked = 0",
	[SX_STMT_PENDING_PARK] =
		"INSERT INTO sub_pending (sub, seq, deliveries, due_ms, parked, parked_ms, "
		"reason) VALUES (?1, ?2, ?3, 0, 1, ?4, ?5) ON CONFLICT (sub, seq) DO UPDATE SET "
		"deliveries = excluded.deliveries, due_ms = 0, parked = 1, "
		"parked_ms = excluded.parked_ms, reason = excluded.reason",
	[SX_STMT_PENDING_REPLAY] =
		"UPDATE sub_pending SET parked = 0, parked_ms = 0, reason = '', deliveries = 0, "
		"due_ms = ?2 WHERE sub = ?1 AND parked = 1",
	[SX_STMT_PENDING_REPLAY_SEQ] =
		"UPDATE sub_pending SET parked = 0, parked_ms = 0, reason = '', deliveries = 0, "
		"due_ms = ?2 WHERE sub = ?1 AND seq = ?3 AND parked = 1",
	[SX_STMT_PENDING_DROP] = "DELETE FROM sub_pending WHERE sub = ?1",
	[SX_STMT_PENDING_EACH] = PENDING_SELECT "AND p.parked = 0 ORDER BY p.seq",
	/* parked = 1 spelled out so that the partial index serves it. */
	[SX_STMT_PENDING_EACH_PARKED] = PENDING_SELECT "AND p.parked = 1 ORDER BY p.seq",
};

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, sub_sql[slot], out);
}

/* Non-zero when name is a valid subscription name ([A-Za-z0-9._-], 1..63). */
static int sub_name_ok(const char *name)
{
	size_t n = strnlen(name, SX_SUB_NAME_MAX);
	if (n == 0 || n >= SX_SUB_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* What create and reset both check: feed, filter, position, windows. */
static int check_state(struct sx_store *s, const struct sx_sub *sub)
{
	if (sub->feed < 1 || sub->feed > SUB_FEED_MAX)
		return sx_store_failf(s, SX_EINVAL, "unknown feed %d", sub->feed);
	if (strnlen(sub->filter, SX_FILTER_TEXT_MAX) >= SX_FILTER_TEXT_MAX)
		return sx_store_failf(s, SX_EINVAL, "filter longer than %d bytes",
				      SX_FILTER_TEXT_MAX - 1);
	if (sub->position < 1)
		return sx_store_failf(s, SX_EINVAL, "position %lld is below 1",
				      (long long)sub->position);
	if (sub->window_count == 0 || sub->window_bytes == 0 ||
	    sub->window_bytes > (uint64_t)INT64_MAX)
		return sx_store_failf(s, SX_EINVAL, "window of %u reports, %llu bytes: out of "
				      "range", (unsigned)sub->window_count,
				      (unsigned long long)sub->window_bytes);
	return 0;
}

static int row_sub(struct sx_store *s, sqlite3_stmt *st, struct sx_sub *out)
{
	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(st, 0);
	out->member = sqlite3_column_int64(st, 1);
	int64_t wc = sqlite3_column_int64(st, 6);
	int64_t wb = sqlite3_column_int64(st, 7);
	if (sx_store_col_text(st, 2, out->name, sizeof out->name) ||
	    sx_store_col_text(st, 4, out->filter, sizeof out->filter) || wc < 1 ||
	    wc > (int64_t)UINT32_MAX || wb < 1)
		return sx_store_failf(s, SX_EDB, "malformed subscription row %lld",
				      (long long)out->id);
	out->feed = sqlite3_column_int(st, 3);
	out->position = sqlite3_column_int64(st, 5);
	out->window_count = (uint32_t)wc;
	out->window_bytes = (uint64_t)wb;
	out->created_ms = sqlite3_column_int64(st, 8);
	out->reset_ms = sqlite3_column_int64(st, 9);
	return 0;
}

int sx_store_sub_get(struct sx_store *s, int64_t member, const char *name, struct sx_sub *out)
{
	if (name == NULL || !sub_name_ok(name))
		return sx_store_failf(s, SX_ENOTFOUND, "no subscription of that name");
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_SUB_GET, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, member);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = row_sub(s, st, out);
	else if (rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_ENOTFOUND, "no subscription %s", name);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* Steps a bound write statement; a foreign key it breaks is named by what. */
static int step_write(struct sx_store *s, sqlite3_stmt *st, int rc, int fk_err,
		      const char *what)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int err = 0;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		err = sx_store_failf(s, fk_err, "%s", what);
	else if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int create_write(struct sx_store *s, void *ctx)
{
	struct sx_sub *sub = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_SUB_INSERT, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, sub->member);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, sub->name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, sub->feed);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, sub->filter, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, sub->position);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, sub->window_count);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, (int64_t)sub->window_bytes);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 8, sub->created_ms);
	err = step_write(s, st, rc, SX_EINVAL, "no such member");
	if (err == SX_EEXIST)
		return sx_store_failf(s, SX_EEXIST, "subscription %s already exists", sub->name);
	if (err == 0)
		sub->id = sqlite3_last_insert_rowid(s->db);
	return err;
}

int sx_store_sub_create(struct sx_store *s, struct sx_sub *sub)
{
	if (!sub_name_ok(sub->name))
		return sx_store_failf(s, SX_EINVAL, "subscription names are 1 to %d of "
				      "A-Z a-z 0-9 . _ -", SX_SUB_NAME_MAX - 1);
	int err = check_state(s, sub);
	if (err)
		return err;
	if (sub->member <= 0)
		return sx_store_failf(s, SX_EINVAL, "no such member");
	if (sub->created_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "subscription without a creation time");
	int64_t keep = sub->id;
	if ((err = sx_store_write(s, create_write, sub)))
		sub->id = keep;
	return err;
}

struct reset_args {
	const struct sx_sub *sub;
	int64_t now_ms;
};

static int reset_write(struct sx_store *s, void *ctx)
{
	const struct reset_args *a = ctx;
	const struct sx_sub *sub = a->sub;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_SUB_RESET, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, sub->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, sub->feed);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, sub->filter, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, sub->position);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, sub->window_count);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, (int64_t)sub->window_bytes);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, a->now_ms);
	if ((err = step_write(s, st, rc, SX_EDB, "subscription reset")))
		return err;
	if (sqlite3_changes(s->db) == 0)
		return sx_store_failf(s, SX_ENOTFOUND, "no subscription %lld", (long long)sub->id);
	if ((err = stmt(s, SX_STMT_PENDING_DROP, &st)))
		return err;
	return step_write(s, st, sqlite3_bind_int64(st, 1, sub->id), SX_EDB, "pending drop");
}

int sx_store_sub_reset(struct sx_store *s, const struct sx_sub *sub, int64_t now_ms)
{
	int err = check_state(s, sub);
	if (err)
		return err;
	if (now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "reset without a time");
	struct reset_args a = { sub, now_ms };
	return sx_store_write(s, reset_write, &a);
}

struct advance_args {
	int64_t id;
	int64_t position;
};

static int advance_write(struct sx_store *s, void *ctx)
{
	const struct advance_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_SUB_ADVANCE, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, a->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->position);
	if ((err = step_write(s, st, rc, SX_EDB, "advance")))
		return err;
	if (sqlite3_changes(s->db) == 0)
		return sx_store_failf(s, SX_ENOTFOUND, "no subscription %lld", (long long)a->id);
	return 0;
}

int sx_store_sub_advance(struct sx_store *s, int64_t id, int64_t position)
{
	struct advance_args a = { id, position };
	return sx_store_write(s, advance_write, &a);
}

int sx_store_sub_each(struct sx_store *s, int64_t member, sx_sub_fn fn, void *ctx)
{
	enum sx_stmt slot = member ? SX_STMT_SUB_EACH_MEMBER : SX_STMT_SUB_EACH;
	enum sx_stmt sibling = member ? SX_STMT_SUB_EACH : SX_STMT_SUB_EACH_MEMBER;
	if (s->stmt[sibling] != NULL && sqlite3_stmt_busy(s->stmt[sibling]))
		return sx_store_failf(s, SX_EINVAL, "store statement re-entered from a callback");
	sqlite3_stmt *st;
	int err = stmt(s, slot, &st);
	if (err)
		return err;
	int rc = member ? sqlite3_bind_int64(st, 1, member) : SQLITE_OK;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		struct sx_sub sub;
		if ((err = row_sub(s, st, &sub)) || (err = fn(ctx, &sub)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* --- pending rows ----------------------------------------------------------- */

struct pending_args {
	int64_t sub;
	int64_t seq;
	int64_t first;
	int64_t last;
	uint32_t deliveries;
	int64_t time_ms;              /* due (put), parked (park), now (replay) */
	const char *reason;
	const int64_t *seqs;
	size_t n;
	int64_t count;                /* rows changed */
};

/* ?1..?4 of the put and park statements: the row's key, its deliveries and
 * its time (due or parked). */
static int bind_pending(sqlite3_stmt *st, const struct pending_args *a)
{
	int rc = sqlite3_bind_int64(st, 1, a->sub);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, a->deliveries);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, a->time_ms);
	return rc;
}

static int put_write(struct sx_store *s, void *ctx)
{
	struct pending_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_PENDING_PUT, &st);
	if (err)
		return err;
	int rc = bind_pending(st, a);
	return step_write(s, st, rc, SX_ENOTFOUND, "no such subscription");
}

int sx_store_pending_put(struct sx_store *s, int64_t sub, int64_t seq, uint32_t deliveries,
			 int64_t due_ms)
{
	if (seq < 1)
		return sx_store_failf(s, SX_EINVAL, "seq %lld is below 1", (long long)seq);
	struct pending_args a = { .sub = sub, .seq = seq, .deliveries = deliveries,
				  .time_ms = due_ms };
	return sx_store_write(s, put_write, &a);
}

static int ack_write(struct sx_store *s, void *ctx)
{
	struct pending_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_PENDING_ACK, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, a->sub);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->first);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, a->last);
	if ((err = step_write(s, st, rc, SX_EDB, "ack")) == 0)
		a->count = sqlite3_changes(s->db);
	return err;
}

int sx_store_pending_ack(struct sx_store *s, int64_t sub, int64_t first, int64_t last,
			 int64_t *removed)
{
	struct pending_args a = { .sub = sub, .first = first, .last = last };
	if (removed != NULL)
		*removed = 0;
	if (first > last)
		return 0;   /* an empty range acks nothing */
	int err = sx_store_write(s, ack_write, &a);
	if (err == 0 && removed != NULL)
		*removed = a.count;
	return err;
}

static int park_write(struct sx_store *s, void *ctx)
{
	struct pending_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_PENDING_PARK, &st);
	if (err)
		return err;
	int rc = bind_pending(st, a);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 5, a->reason, -1, SQLITE_STATIC);
	return step_write(s, st, rc, SX_ENOTFOUND, "no such subscription");
}

int sx_store_pending_park(struct sx_store *s, int64_t sub, int64_t seq, uint32_t deliveries,
			  const char *reason, int64_t now_ms)
{
	if (seq < 1)
		return sx_store_failf(s, SX_EINVAL, "seq %lld is below 1", (long long)seq);
	if (now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "park without a time");
	char r[SX_PARK_REASON_MAX];
	sx_store_copy_trunc(r, sizeof r, reason);
	struct pending_args a = { .sub = sub, .seq = seq, .deliveries = deliveries,
				  .time_ms = now_ms, .reason = r };
	return sx_store_write(s, park_write, &a);
}

static int replay_write(struct sx_store *s, void *ctx)
{
	struct pending_args *a = ctx;
	sqlite3_stmt *st;
	a->count = 0;
	size_t rounds = a->n > 0 ? a->n : 1;
	for (size_t i = 0; i < rounds; i++) {
		int err = stmt(s, a->n > 0 ? SX_STMT_PENDING_REPLAY_SEQ : SX_STMT_PENDING_REPLAY,
			       &st);
		if (err)
			return err;
		int rc = sqlite3_bind_int64(st, 1, a->sub);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, a->time_ms);
		if (rc == SQLITE_OK && a->n > 0)
			rc = sqlite3_bind_int64(st, 3, a->seqs[i]);
		if ((err = step_write(s, st, rc, SX_EDB, "replay")))
			return err;
		a->count += sqlite3_changes(s->db);
	}
	return 0;
}

int sx_store_pending_replay(struct sx_store *s, int64_t sub, const int64_t *seqs, size_t n,
			    int64_t now_ms, int64_t *count)
{
	if (count != NULL)
		*count = 0;
	if (n > 0 && seqs == NULL)
		return sx_store_failf(s, SX_EINVAL, "replay of %zu seqs without the seqs", n);
	struct pending_args a = { .sub = sub, .seqs = seqs, .n = n, .time_ms = now_ms };
	int err = sx_store_write(s, replay_write, &a);
	if (err == 0 && count != NULL)
		*count = a.count;
	return err;
}

int sx_store_pending_each(struct sx_store *s, int64_t sub, int parked, sx_pending_fn fn,
			  void *ctx)
{
	enum sx_stmt slot = parked ? SX_STMT_PENDING_EACH_PARKED : SX_STMT_PENDING_EACH;
	sqlite3_stmt *st;
	int err = stmt(s, slot, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, sub);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		struct sx_pending p;
		memset(&p, 0, sizeof p);
		p.seq = sqlite3_column_int64(st, 0);
		int64_t d = sqlite3_column_int64(st, 1);
		p.due_ms = sqlite3_column_int64(st, 2);
		p.parked = sqlite3_column_int(st, 3);
		p.parked_ms = sqlite3_column_int64(st, 4);
		if (d < 0 || d > (int64_t)UINT32_MAX ||
		    sx_store_col_text(st, 5, p.reason, sizeof p.reason) ||
		    sx_store_col_text(st, 6, p.report_id, sizeof p.report_id)) {
			err = sx_store_failf(s, SX_EDB, "malformed pending row %lld",
					     (long long)p.seq);
			break;
		}
		p.deliveries = (uint32_t)d;
		if ((err = fn(ctx, &p)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}
