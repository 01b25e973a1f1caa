/*
 * store_notice.c: ISP notices (which report went to which ISP on the notices
 * feed, first delivery only) and the actions ISPs report on them.
 */
#include "store_sqlite.h"

#include <string.h>

#include "err.h"

/* Wire's NoticeActionKind: 1 investigating .. 6 insufficient evidence. */
#define NOTICE_ACTION_MIN 1
#define NOTICE_ACTION_MAX 6
/* Longest note kept with an action, in bytes. */
#define NOTICE_NOTE_MAX 1024

/* The latest action of each notice, by the (seq, isp, id) index. */
#define NOTICE_SELECT \
	"SELECT r.id, n.seq, m.name, n.sent_ms, coalesce(a.action, 0), " \
	"coalesce(a.time_ms, 0), coalesce(a.note, ''), n.actions " \
	"FROM notices AS n JOIN reports AS r ON r.seq = n.seq " \
	"JOIN members AS m ON m.id = n.isp " \
	"LEFT JOIN notice_actions AS a ON a.id = (SELECT max(x.id) FROM notice_actions AS x " \
	"WHERE x.seq = n.seq AND x.isp = n.isp) "
#define NOTICE_ORDER " ORDER BY n.seq, n.isp"

static const char *const notice_sql[] = {
	/* A report purged since it was read is not recorded: nothing could
	 * be acted on, and the row would outlive the horizon. */
	[SX_STMT_NOTICE_SENT] =
		"INSERT INTO notices (seq, isp, sent_ms) SELECT ?1, ?2, ?3 "
		"WHERE EXISTS (SELECT 1 FROM reports WHERE seq = ?1) "
		"ON CONFLICT (seq, isp) DO NOTHING",
	[SX_STMT_NOTICE_FIND] =
		"SELECT n.seq FROM reports AS r JOIN notices AS n ON n.seq = r.seq AND n.isp = ?2 "
		"WHERE r.id = ?1",
	[SX_STMT_NOTICE_ACTION_INSERT] =
		"INSERT INTO notice_actions (seq, isp, action, note, time_ms) "
		"VALUES (?1, ?2, ?3, ?4, ?5)",
	[SX_STMT_NOTICE_ACTION_COUNT] =
		"UPDATE notices SET actions = actions + 1 WHERE seq = ?1 AND isp = ?2",
	[SX_STMT_NOTICE_EACH] = NOTICE_SELECT NOTICE_ORDER,
	[SX_STMT_NOTICE_EACH_ISP] = NOTICE_SELECT "WHERE n.isp = ?1" NOTICE_ORDER,
	/* actions = 0 spelled out so that the partial index serves it. */
	[SX_STMT_NOTICE_EACH_OPEN] = NOTICE_SELECT "WHERE n.actions = 0" NOTICE_ORDER,
	[SX_STMT_NOTICE_EACH_ISP_OPEN] =
		NOTICE_SELECT "WHERE n.isp = ?1 AND n.actions = 0" NOTICE_ORDER,
};

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, notice_sql[slot], out);
}

struct sent_args {
	int64_t seq;
	int64_t isp;
	int64_t now_ms;
};

static int sent_write(struct sx_store *s, void *ctx)
{
	const struct sent_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_NOTICE_SENT, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, a->seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->isp);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, a->now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		err = sx_store_failf(s, SX_EINVAL, "no such member %lld", (long long)a->isp);
	else if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_notice_sent(struct sx_store *s, int64_t seq, int64_t isp, int64_t now_ms)
{
	if (seq < 1 || isp < 1 || now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "notice needs a seq, an ISP and a time");
	struct sent_args a = { seq, isp, now_ms };
	return sx_store_write(s, sent_write, &a);
}

struct action_args {
	const char *report_id;
	int64_t isp;
	int action;
	const char *note;
	int64_t now_ms;
};

/* Runs a bound statement that returns no rows. */
static int run(struct sx_store *s, sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int action_write(struct sx_store *s, void *ctx)
{
	const struct action_args *a = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_NOTICE_FIND, &st);
	if (err)
		return err;
	int64_t seq = 0;
	int rc = sqlite3_bind_text(st, 1, a->report_id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->isp);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_ENOTFOUND, "report %s was not sent to this ISP as a "
				     "notice", a->report_id);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err)
		return err;

	if ((err = stmt(s, SX_STMT_NOTICE_ACTION_INSERT, &st)))
		return err;
	rc = sqlite3_bind_int64(st, 1, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->isp);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, a->action);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, a->note, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, a->now_ms);
	if ((err = run(s, st, rc)))
		return err;

	if ((err = stmt(s, SX_STMT_NOTICE_ACTION_COUNT, &st)))
		return err;
	rc = sqlite3_bind_int64(st, 1, seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->isp);
	return run(s, st, rc);
}

int sx_store_notice_action(struct sx_store *s, const char *report_id, int64_t isp, int action,
			   const char *note, int64_t now_ms)
{
	if (action < NOTICE_ACTION_MIN || action > NOTICE_ACTION_MAX)
		return sx_store_failf(s, SX_EINVAL, "unknown notice action %d", action);
	if (note == NULL)
		note = "";
	if (strnlen(note, NOTICE_NOTE_MAX + 1) > NOTICE_NOTE_MAX)
		return sx_store_failf(s, SX_EINVAL, "note longer than %d bytes", NOTICE_NOTE_MAX);
	if (now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "action without a time");
	if (!sx_report_id_ok(report_id) || isp < 1)
		return sx_store_failf(s, SX_ENOTFOUND, "no notice of that report for this ISP");
	struct action_args a = { report_id, isp, action, note, now_ms };
	return sx_store_write(s, action_write, &a);
}

int sx_store_notice_each(struct sx_store *s, int64_t isp, int open_only, sx_notice_fn fn,
			 void *ctx)
{
	static const enum sx_stmt slots[2][2] = {
		{ SX_STMT_NOTICE_EACH, SX_STMT_NOTICE_EACH_OPEN },
		{ SX_STMT_NOTICE_EACH_ISP, SX_STMT_NOTICE_EACH_ISP_OPEN },
	};
	/* One walk at a time, whichever statement serves it. */
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 2; j++) {
			sqlite3_stmt *busy = s->stmt[slots[i][j]];
			if (busy != NULL && sqlite3_stmt_busy(busy))
				return sx_store_failf(s, SX_EINVAL, "store statement re-entered "
						      "from a callback");
		}
	sqlite3_stmt *st;
	int err = stmt(s, slots[isp != 0][open_only != 0], &st);
	if (err)
		return err;
	int rc = isp != 0 ? sqlite3_bind_int64(st, 1, isp) : SQLITE_OK;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		struct sx_notice_row n;
		memset(&n, 0, sizeof n);
		n.seq = sqlite3_column_int64(st, 1);
		int64_t count = sqlite3_column_int64(st, 7);
		const unsigned char *note = sqlite3_column_text(st, 6);
		if (sx_store_col_text(st, 0, n.report_id, sizeof n.report_id) ||
		    sx_store_col_text(st, 2, n.isp, sizeof n.isp) || count < 0 ||
		    count > (int64_t)UINT32_MAX) {
			err = sx_store_failf(s, SX_EDB, "malformed notice row %lld",
					     (long long)n.seq);
			break;
		}
		n.sent_ms = sqlite3_column_int64(st, 3);
		n.action = sqlite3_column_int(st, 4);
		n.action_ms = sqlite3_column_int64(st, 5);
		sx_store_copy_trunc(n.note, sizeof n.note, (const char *)note);
		n.actions = (unsigned)count;
		if ((err = fn(ctx, &n)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}
