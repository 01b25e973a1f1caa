/*
 * store_sqlite.h: what the files of the SQLite store (server/store_*.c) share.
 *
 * Private to the backend: programs include store.h only, so that another
 * backend can serve the same interface. White-box tests may include it.
 */
#ifndef SX_STORE_SQLITE_H
#define SX_STORE_SQLITE_H

#include <sqlite3.h>

#include "store.h"

/* Statements prepared once per handle and finalized by sx_store_close. Each
 * store file owns its slots; a new file adds its own here. */
enum sx_stmt {
	SX_STMT_BEGIN,
	SX_STMT_COMMIT,
	SX_STMT_ROLLBACK,
	SX_STMT_DATA_VERSION,
	SX_STMT_MEMBER_GET,
	SX_STMT_MEMBER_BY_SPKI,
	SX_STMT_MEMBER_INSERT,
	SX_STMT_MEMBER_SET_STATE,
	SX_STMT_MEMBER_REMOVE,
	SX_STMT_MEMBER_EACH,
	SX_STMT_PREFIX_INSERT,
	SX_STMT_PREFIX_DROP,
	SX_STMT_PREFIX_EACH,
	SX_STMT_REPORT_INSERT,
	SX_STMT_REPORT_BY_CLIENT,
	SX_STMT_REPORT_GET,
	SX_STMT_REPORT_MAIL,
	SX_STMT_REPORT_JSON,
	SX_STMT_REPORT_EACH,
	SX_STMT_REPORT_EACH_STATE,
	SX_STMT_REPORT_HEAD,
	SX_STMT_FULL_MANIFEST,
	SX_STMT_FULL_EVIDENCE,
	SX_STMT_FULL_BEFORE,
	SX_STMT_REPORT_SEQ_AT_TIME,
	SX_STMT_SAVEPOINT,
	SX_STMT_RELEASE,
	SX_STMT_ROLLBACK_TO,
	SX_STMT_SUB_GET,
	SX_STMT_SUB_INSERT,
	SX_STMT_SUB_RESET,
	SX_STMT_SUB_ADVANCE,
	SX_STMT_SUB_EACH,
	SX_STMT_SUB_EACH_MEMBER,
	SX_STMT_PENDING_PUT,
	SX_STMT_PENDING_ACK,
	SX_STMT_PENDING_PARK,
	SX_STMT_PENDING_REPLAY,
	SX_STMT_PENDING_REPLAY_SEQ,
	SX_STMT_PENDING_DROP,
	SX_STMT_PENDING_EACH,
	SX_STMT_PENDING_EACH_PARKED,
	SX_STMT_NOTICE_SENT,
	SX_STMT_NOTICE_FIND,
	SX_STMT_NOTICE_ACTION_INSERT,
	SX_STMT_NOTICE_ACTION_COUNT,
	SX_STMT_NOTICE_EACH,
	SX_STMT_NOTICE_EACH_ISP,
	SX_STMT_NOTICE_EACH_OPEN,
	SX_STMT_NOTICE_EACH_ISP_OPEN,
	SX_STMT_PURGE_HORIZON,
	SX_STMT_PURGE_TARGET,
	SX_STMT_PURGE_NOTICES,
	SX_STMT_PURGE_PENDING,
	SX_STMT_PURGE_REPORTS,
	SX_STMT_PURGE_SET_HORIZON,
	SX_STMT_PURGE_CHECKPOINT,
	SX_STMT_AUDIT_SIZE,
	SX_STMT_AUDIT_INSERT,
	SX_STMT_AUDIT_LEAF,
	SX_STMT_AUDIT_NODE,
	SX_STMT_AUDIT_NODE_INSERT,
	SX_STMT_AUDIT_GET,
	SX_STMT_AUDIT_EACH,
	SX_STMT_AUDIT_CHECK_LEAVES,
	SX_STMT_AUDIT_CHECK_NODES,
	SX_STMT_AUDIT_CP_INSERT,
	SX_STMT_AUDIT_CP_LAST,
	SX_STMT_AUDIT_CP_EACH,
	SX_STMT_AUDIT_ORIGIN,
	SX_STMT_AUDIT_SET_ORIGIN,
	SX_STMT_COUNT
};

/* How long a statement waits for another connection's lock before SX_EBUSY. */
#define SX_STORE_BUSY_MS 5000

/* Longest reason kept for sx_store_errmsg. */
#define SX_STORE_ERRMSG_MAX 256

struct sx_store {
	sqlite3 *db;
	int version;                    /* schema version after open */
	int readonly;
	int batch;                      /* inside sx_store_batch_begin .. commit */
	int relaxed;                    /* the batch runs with synchronous = NORMAL */
	sqlite3_stmt *stmt[SX_STMT_COUNT];
	char errmsg[SX_STORE_ERRMSG_MAX];
	struct sx_audit_rec *audit_pending; /* staged operator record, malloc'ed */
	int audit_pending_tx;           /* ... and written in the open transaction */
};

/*
 * Returns in *out the statement of slot, prepared from sql on first use and
 * cached in s. The statement comes reset with no bindings; the caller hands it
 * back with sx_store_stmt_done once finished, so that no read snapshot stays
 * open. A slot already in use (a re-entrant call from an each-callback) gives
 * SX_EINVAL. Returns 0 or a negative sx_err with the reason in s->errmsg.
 */
int sx_store_stmt(struct sx_store *s, enum sx_stmt slot, const char *sql, sqlite3_stmt **out);
/* Runs the one-row, one-column query of slot (prepared from sql) and stores
 * its integer in *out (0 when the query fails). Returns 0 or an sx_err. */
int sx_store_query_int64(struct sx_store *s, enum sx_stmt slot, const char *sql, int64_t *out);
/* Resets st and clears its bindings; NULL is fine. */
void sx_store_stmt_done(sqlite3_stmt *st);

/* Maps an SQLite result code to an sx_err: BUSY/LOCKED to SX_EBUSY, unique
 * and primary key violations to SX_EEXIST, other constraints to SX_EINVAL,
 * READONLY and AUTH to SX_EPERM, NOMEM to SX_ENOMEM, I/O to SX_EIO, the rest
 * to SX_EDB. */
int sx_store_map_rc(int rc);
/* Records sqlite's message for rc in s->errmsg and returns sx_store_map_rc(rc). */
int sx_store_fail(struct sx_store *s, int rc);
/* Records a formatted reason in s->errmsg and returns err. */
int sx_store_failf(struct sx_store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* BEGIN IMMEDIATE: takes the write lock now, so a transaction never fails
 * half-way for a lock it could have waited for. Returns 0, SX_EBUSY, SX_EDB. */
int sx_store_tx_begin(struct sx_store *s);
/* COMMIT; on failure the transaction is rolled back. Returns 0 or an sx_err. */
int sx_store_tx_commit(struct sx_store *s);
/* ROLLBACK when a transaction is open; keeps s->errmsg. */
void sx_store_tx_rollback(struct sx_store *s);

/*
 * Runs fn(s, ctx), the statements of one store write, atomically: in a
 * transaction of its own, or inside an open batch (sx_store_batch_begin) under
 * a savepoint, so that a failed write leaves the batch open with the writes
 * before it in place and none of its own. A batch whose transaction SQLite
 * aborted gives SX_EDB. A read-only handle gives SX_EPERM. Returns fn's
 * result, or the error of beginning or committing.
 */
typedef int (*sx_store_write_fn)(struct sx_store *s, void *ctx);
int sx_store_write(struct sx_store *s, sx_store_write_fn fn, void *ctx);
/* Copies text column i of st into out (outlen bytes with the NUL); 0, or -1
 * when it does not fit. */
int sx_store_col_text(sqlite3_stmt *st, int i, char *out, size_t outlen);
/* Copies the NUL-terminated src into out (outlen > 0 bytes with the NUL),
 * cutting a longer one at a UTF-8 character boundary. */
void sx_store_copy_trunc(char *out, size_t outlen, const char *src);

/* Appends r inside the transaction the caller has open (a store write that
 * records its own event, e.g. a purge). 0 or an sx_err. */
int sx_store_audit_append_in_tx(struct sx_store *s, const struct sx_audit_rec *r);
/* Appends the staged operator record inside the open transaction (called
 * by sx_store_tx_commit before COMMIT). 0 or an sx_err. */
int sx_store_audit_pending_write(struct sx_store *s);
/* After a COMMIT: the staged record, if written, is gone from the stage. */
void sx_store_audit_pending_done(struct sx_store *s);

#endif
