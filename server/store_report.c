/*
 * store_report.c: reports (the global sequence, report ids, idempotency of
 * submitters, the de-personalized mail with its evidence and manifest) and
 * group commit.
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "err.h"

/* Columns of struct sx_report_row, in row_report's order. */
#define REPORT_COLS \
	"r.seq, r.id, r.received_ms, r.source, r.consent, coalesce(sm.name, ''), " \
	"coalesce(r.client_msg_id, ''), r.state, coalesce(r.reason, ''), " \
	"coalesce(r.source_ip, ''), r.source_port, coalesce(im.name, ''), " \
	"coalesce(r.isp, 0), r.flags, r.categories, r.redactions, r.subject, r.sha256, " \
	"length(r.mail)"
#define REPORT_FROM \
	" FROM reports AS r LEFT JOIN members AS sm ON sm.id = r.submitter " \
	"LEFT JOIN members AS im ON im.id = r.isp "

static const char *const report_sql[] = {
	[SX_STMT_REPORT_INSERT] =
		"INSERT INTO reports (id, received_ms, source, consent, submitter, "
		"client_msg_id, state, reason, source_ip, source_port, isp, flags, categories, "
		"evidence, manifest, redactions, subject, sha256, mail) VALUES (?1, ?2, ?3, ?4, "
		"?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[SX_STMT_REPORT_BY_CLIENT] =
		"SELECT " REPORT_COLS REPORT_FROM
		"WHERE r.submitter IS ?1 AND r.client_msg_id = ?2",
	[SX_STMT_REPORT_GET] = "SELECT " REPORT_COLS REPORT_FROM "WHERE r.id = ?1",
	[SX_STMT_REPORT_MAIL] = "SELECT mail FROM reports WHERE id = ?1",
	[SX_STMT_REPORT_JSON] = "SELECT evidence, manifest FROM reports WHERE id = ?1",
	/* LIMIT -1 is no limit. */
	[SX_STMT_REPORT_EACH] =
		"SELECT " REPORT_COLS REPORT_FROM "WHERE r.seq > ?1 ORDER BY r.seq LIMIT ?2",
	/* A separate statement so that the (state, seq) index serves it. */
	[SX_STMT_REPORT_EACH_STATE] =
		"SELECT " REPORT_COLS REPORT_FROM
		"WHERE r.state = ?3 AND r.seq > ?1 ORDER BY r.seq LIMIT ?2",
	[SX_STMT_REPORT_HEAD] = "SELECT coalesce(max(seq), 0) FROM reports",
	/* Past the last report, the next seq to be issued: sqlite_sequence
	 * remembers the highest ever issued, also once retention deleted it. */
	[SX_STMT_REPORT_SEQ_AT_TIME] =
		"SELECT coalesce((SELECT min(seq) FROM reports WHERE received_ms >= ?1), "
		"(SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'reports') + 1)",
};

/* Random bytes behind a report id; 25 base32 characters carry 125 of them. */
#define ID_RANDOM_BYTES 16
/* Attempts at a fresh id before an id collision is taken for a fault. */
#define ID_TRIES 4

static const char base32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, report_sql[slot], out);
}

int sx_report_id_ok(const char *id)
{
	if (id == NULL || id[0] != 'r')
		return 0;
	size_t n = 1;
	for (; id[n] != '\0'; n++)
		if (n >= SX_REPORT_ID_LEN || strchr(base32, id[n]) == NULL)
			return 0;
	return n == SX_REPORT_ID_LEN;
}

const char *sx_report_state_name(enum sx_report_state st)
{
	switch (st) {
	case SX_REPORT_READY: return "ready";
	case SX_REPORT_QUARANTINED: return "quarantined";
	}
	return "unknown";
}

/* A fresh report id: "r" and the first 125 random bits, 5 bits a character. */
static int new_id(struct sx_store *s, char id[SX_REPORT_ID_LEN + 1])
{
	unsigned char r[ID_RANDOM_BYTES];
	if (RAND_bytes(r, sizeof r) != 1)
		return sx_store_failf(s, SX_EDB, "no random bytes for a report id");
	id[0] = 'r';
	for (size_t i = 0; i < SX_REPORT_ID_LEN - 1; i++) {
		size_t bit = i * 5;
		unsigned v = (unsigned)r[bit / 8] << 8;
		if (bit / 8 + 1 < sizeof r)
			v |= r[bit / 8 + 1];
		id[i + 1] = base32[(v >> (11 - bit % 8)) & 31];
	}
	id[SX_REPORT_ID_LEN] = '\0';
	return 0;
}

static int col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	return sx_store_col_text(st, i, out, outlen);
}

/* Fills r from a row of REPORT_COLS. A row the schema should have prevented
 * is reported rather than half-copied. */
static int row_report(struct sx_store *s, sqlite3_stmt *st, struct sx_report_row *r)
{
	memset(r, 0, sizeof *r);
	r->seq = sqlite3_column_int64(st, 0);
	int64_t len = sqlite3_column_int64(st, 18);
	if (col_text(st, 1, r->id, sizeof r->id) || col_text(st, 5, r->submitter,
							      sizeof r->submitter) ||
	    col_text(st, 6, r->client_msg_id, sizeof r->client_msg_id) ||
	    col_text(st, 8, r->reason, sizeof r->reason) ||
	    col_text(st, 9, r->source_ip, sizeof r->source_ip) ||
	    col_text(st, 11, r->isp, sizeof r->isp) ||
	    col_text(st, 16, r->subject, sizeof r->subject) ||
	    col_text(st, 17, r->sha256, sizeof r->sha256) || len < 0)
		return sx_store_failf(s, SX_EDB, "malformed report row %lld", (long long)r->seq);
	r->received_ms = sqlite3_column_int64(st, 2);
	r->source = sqlite3_column_int(st, 3);
	r->consent = (unsigned)sqlite3_column_int64(st, 4);
	r->state = sqlite3_column_int(st, 7) == SX_REPORT_QUARANTINED ? SX_REPORT_QUARANTINED
								       : SX_REPORT_READY;
	r->source_port = (unsigned)sqlite3_column_int(st, 10);
	r->isp_id = sqlite3_column_int64(st, 12);
	r->flags = (unsigned)sqlite3_column_int64(st, 13);
	r->categories = (unsigned)sqlite3_column_int64(st, 14);
	r->redactions = (unsigned)sqlite3_column_int64(st, 15);
	r->mail_len = (size_t)len;
	return 0;
}

/* Steps a statement bound by the caller that yields at most one report row.
 * Resets it either way. not_found is the reason for SX_ENOTFOUND. */
static int one_row(struct sx_store *s, sqlite3_stmt *st, int bindrc, struct sx_report_row *out,
		   const char *not_found)
{
	int err, rc = bindrc == SQLITE_OK ? sqlite3_step(st) : bindrc;
	if (rc == SQLITE_ROW)
		err = row_report(s, st, out);
	else if (rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_ENOTFOUND, "%s", not_found);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int bind_member(sqlite3_stmt *st, int i, int64_t id)
{
	return id > 0 ? sqlite3_bind_int64(st, i, id) : sqlite3_bind_null(st, i);
}

static int by_client(struct sx_store *s, int64_t submitter, const char *client_msg_id,
		     struct sx_report_row *out)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_REPORT_BY_CLIENT, &st);
	if (err)
		return err;
	int rc = bind_member(st, 1, submitter); /* 0: the operator's, NULL */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, client_msg_id, -1, SQLITE_STATIC);
	return one_row(s, st, rc, out, "no report under this client message id");
}

int sx_store_report_by_client(struct sx_store *s, int64_t submitter, const char *client_msg_id,
			      struct sx_report_row *out)
{
	if (submitter < 0 || client_msg_id == NULL || client_msg_id[0] == '\0')
		return sx_store_failf(s, SX_EINVAL, "no client message id to look up");
	return by_client(s, submitter, client_msg_id, out);
}

/* Non-zero when the optional text t fits a row field of size max (with the
 * NUL), and is not empty when given. */
static int text_fits(const char *t, size_t max)
{
	return t == NULL || (t[0] != '\0' && strlen(t) < max);
}

static int hex64_ok(const char *h)
{
	if (h == NULL || strlen(h) != 64)
		return 0;
	return strspn(h, "0123456789abcdef") == 64;
}

static int check_new(struct sx_store *s, const struct sx_report_new *r)
{
	struct sx_report_row *row = NULL;   /* for the field sizes only */
	if (r == NULL)
		return sx_store_failf(s, SX_EINVAL, "no report");
	if (r->received_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "report without a received time");
	if (r->source < 1 || r->source > 3)
		return sx_store_failf(s, SX_EINVAL, "unknown report source %d", r->source);
	if (r->consent > 7 || (r->consent != 0 && r->source != 1))
		return sx_store_failf(s, SX_EINVAL, "consent is for public reports only");
	if (r->submitter < 0 || r->isp < 0)
		return sx_store_failf(s, SX_EINVAL, "invalid member id");
	if (!text_fits(r->client_msg_id, SX_CLIENT_ID_MAX + 1))
		return sx_store_failf(s, SX_EINVAL, "client message id empty or longer than %d "
				      "bytes", SX_CLIENT_ID_MAX);
	if (r->state != SX_REPORT_READY && r->state != SX_REPORT_QUARANTINED)
		return sx_store_failf(s, SX_EINVAL, "invalid report state %d", (int)r->state);
	if ((r->state == SX_REPORT_QUARANTINED) != (r->reason != NULL) ||
	    !text_fits(r->reason, sizeof row->reason))
		return sx_store_failf(s, SX_EINVAL, "a quarantined report, and only one, has a "
				      "reason of 1 to %zu bytes", sizeof row->reason - 1);
	if (!text_fits(r->source_ip, sizeof row->source_ip) || r->source_port > 65535)
		return sx_store_failf(s, SX_EINVAL, "invalid source address");
	if (r->subject != NULL && strlen(r->subject) >= sizeof row->subject)
		return sx_store_failf(s, SX_EINVAL, "subject longer than %zu bytes",
				      sizeof row->subject - 1);
	if (!hex64_ok(r->sha256))
		return sx_store_failf(s, SX_EINVAL, "sha256 is not 64 lower-case hex digits");
	if (r->mail == NULL || r->mail_len == 0 || r->mail_len > (size_t)INT32_MAX)
		return sx_store_failf(s, SX_EINVAL, "no mail, or too large to store");
	return 0;
}

/* Binds text t, or NULL. */
static int bind_opt(sqlite3_stmt *st, int i, const char *t)
{
	return t ? sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* Binds an optional member id (0: none). */
static int insert(struct sx_store *s, const struct sx_report_new *r, const char *id)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_REPORT_INSERT, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, r->received_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, r->source);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, r->consent);
	if (rc == SQLITE_OK)
		rc = bind_member(st, 5, r->submitter);
	if (rc == SQLITE_OK)
		rc = bind_opt(st, 6, r->client_msg_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 7, (int)r->state);
	if (rc == SQLITE_OK)
		rc = bind_opt(st, 8, r->reason);
	if (rc == SQLITE_OK)
		rc = bind_opt(st, 9, r->source_ip);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 10, r->source_port);
	if (rc == SQLITE_OK)
		rc = bind_member(st, 11, r->isp);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 12, r->flags);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 13, r->categories);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 14, r->evidence_json ? r->evidence_json : "[]", -1,
				       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 15, r->manifest_json ? r->manifest_json : "[]", -1,
				       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 16, r->redactions);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 17, r->subject ? r->subject : "", -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 18, r->sha256, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(st, 19, r->mail, r->mail_len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	err = rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* Inside the caller's transaction: the duplicate check, then the insert. */
static int add(struct sx_store *s, const struct sx_report_new *r, int64_t *seq,
	       char id[SX_REPORT_ID_LEN + 1], int *duplicate)
{
	int err;
	if (r->client_msg_id != NULL) {
		struct sx_report_row row;
		err = by_client(s, r->submitter, r->client_msg_id, &row);
		if (err == 0) {
			*seq = row.seq;
			memcpy(id, row.id, SX_REPORT_ID_LEN + 1);
			*duplicate = 1;
			return 0;
		}
		if (err != SX_ENOTFOUND)
			return err;
	}
	/* The duplicate check ran under the write lock, so a unique violation
	 * here can only be the id: 125 random bits colliding means the random
	 * source is broken, but a retry costs nothing. */
	for (int i = 0; i < ID_TRIES; i++) {
		if ((err = new_id(s, id)))
			return err;
		err = insert(s, r, id);
		if (err != SX_EEXIST)
			break;
	}
	if (err == SX_EEXIST)
		err = sx_store_failf(s, SX_EDB, "report id collisions: the random source is "
				     "broken");
	if (err) {
		id[0] = '\0';
		return err;
	}
	*seq = sqlite3_last_insert_rowid(s->db);
	return 0;
}

struct add_args {
	const struct sx_report_new *r;
	int64_t *seq;
	char *id;
	int *duplicate;
};

static int add_write(struct sx_store *s, void *ctx)
{
	struct add_args *a = ctx;
	return add(s, a->r, a->seq, a->id, a->duplicate);
}

int sx_store_report_add(struct sx_store *s, const struct sx_report_new *r, int64_t *seq,
			char id[SX_REPORT_ID_LEN + 1], int *duplicate)
{
	*seq = 0;
	id[0] = '\0';
	*duplicate = 0;
	int err = check_new(s, r);
	if (err)
		return err;
	struct add_args a = { r, seq, id, duplicate };
	if ((err = sx_store_write(s, add_write, &a))) {
		/* nothing was stored: hand out no seq or id */
		*seq = 0;
		id[0] = '\0';
		*duplicate = 0;
	}
	return err;
}

int sx_store_batch_begin(struct sx_store *s)
{
	if (s->batch)
		return sx_store_failf(s, SX_EINVAL, "a batch is already open");
	int err = sx_store_tx_begin(s);
	if (err == 0)
		s->batch = 1;
	return err;
}

/* synchronous is a connection setting that may change between
 * transactions: NORMAL for a relaxed batch, FULL again right after it. */
static int set_sync(struct sx_store *s, int relaxed)
{
	int rc = sqlite3_exec(s->db, relaxed ? "PRAGMA synchronous = NORMAL"
					     : "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sx_store_fail(s, rc);
}

int sx_store_batch_begin_relaxed(struct sx_store *s)
{
	if (s->batch)
		return sx_store_failf(s, SX_EINVAL, "a batch is already open");
	int err = set_sync(s, 1);
	/* Never waits for another writer: the caller keeps its state and tries
	 * again later rather than stalling (an event loop, say). */
	sqlite3_busy_timeout(s->db, 0);
	if (err == 0)
		err = sx_store_batch_begin(s);
	sqlite3_busy_timeout(s->db, SX_STORE_BUSY_MS);
	if (err) {
		set_sync(s, 0);
		return err;
	}
	s->relaxed = 1;
	return 0;
}

static void end_relaxed(struct sx_store *s)
{
	if (s->relaxed) {
		s->relaxed = 0;
		set_sync(s, 0);
	}
}

int sx_store_batch_commit(struct sx_store *s)
{
	if (!s->batch)
		return sx_store_failf(s, SX_EINVAL, "no batch is open");
	s->batch = 0;
	int err = sx_store_tx_commit(s);
	end_relaxed(s);
	return err;
}

void sx_store_batch_rollback(struct sx_store *s)
{
	if (!s->batch)
		return;
	s->batch = 0;
	sx_store_tx_rollback(s);
	end_relaxed(s);
}

int sx_store_report_get(struct sx_store *s, const char *id, struct sx_report_row *out)
{
	if (!sx_report_id_ok(id))
		return sx_store_failf(s, SX_ENOTFOUND, "no report with this id");
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_REPORT_GET, &st);
	if (err)
		return err;
	return one_row(s, st, sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), out,
		       "no report with this id");
}

/* Returns a malloc'ed copy of n bytes at p with a NUL after them, or NULL. */
static void *dup_nul(const void *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* Steps st (bound to an id) to its row; SX_ENOTFOUND when there is none. The
 * caller resets st. */
static int step_id(struct sx_store *s, sqlite3_stmt *st, const char *id)
{
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return sx_store_failf(s, SX_ENOTFOUND, "no report with this id");
	return sx_store_fail(s, rc);
}

int sx_store_report_mail(struct sx_store *s, const char *id, uint8_t **mail, size_t *len)
{
	*mail = NULL;
	*len = 0;
	if (!sx_report_id_ok(id))
		return sx_store_failf(s, SX_ENOTFOUND, "no report with this id");
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_REPORT_MAIL, &st);
	if (err || (err = step_id(s, st, id))) {
		sx_store_stmt_done(st);
		return err;
	}
	const void *p = sqlite3_column_blob(st, 0);
	int n = sqlite3_column_bytes(st, 0);
	if (p == NULL || n <= 0) {
		/* The schema wants a non-empty blob: NULL with a length is an
		 * allocation that failed. */
		err = n > 0 ? sx_store_failf(s, SX_ENOMEM, "out of memory")
			    : sx_store_failf(s, SX_EDB, "report %s has no mail", id);
	} else if ((*mail = dup_nul(p, (size_t)n)) == NULL) {
		err = sx_store_failf(s, SX_ENOMEM, "out of memory");
	} else {
		*len = (size_t)n;
	}
	sx_store_stmt_done(st);
	return err;
}

int sx_store_report_json(struct sx_store *s, const char *id, char **evidence, char **manifest)
{
	*evidence = NULL;
	*manifest = NULL;
	if (!sx_report_id_ok(id))
		return sx_store_failf(s, SX_ENOTFOUND, "no report with this id");
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_REPORT_JSON, &st);
	if (err || (err = step_id(s, st, id))) {
		sx_store_stmt_done(st);
		return err;
	}
	const unsigned char *ev = sqlite3_column_text(st, 0);
	size_t nev = (size_t)sqlite3_column_bytes(st, 0);
	if (ev != NULL)
		*evidence = dup_nul(ev, nev);
	const unsigned char *mf = sqlite3_column_text(st, 1);
	size_t nmf = (size_t)sqlite3_column_bytes(st, 1);
	if (mf != NULL)
		*manifest = dup_nul(mf, nmf);
	if (*evidence == NULL || *manifest == NULL) {
		/* NOT NULL columns: a NULL is an allocation that failed. */
		err = sx_store_failf(s, SX_ENOMEM, "out of memory");
		free(*evidence);
		free(*manifest);
		*evidence = NULL;
		*manifest = NULL;
	}
	sx_store_stmt_done(st);
	return err;
}

int sx_store_report_each(struct sx_store *s, int64_t after, int state, size_t limit,
			 sx_report_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	enum sx_stmt slot = state < 0 ? SX_STMT_REPORT_EACH : SX_STMT_REPORT_EACH_STATE;
	enum sx_stmt sibling = state < 0 ? SX_STMT_REPORT_EACH_STATE : SX_STMT_REPORT_EACH;
	/* One walk at a time, whichever statement serves it (the contract). */
	if (s->stmt[sibling] != NULL && sqlite3_stmt_busy(s->stmt[sibling]))
		return sx_store_failf(s, SX_EINVAL, "store statement re-entered from a callback");
	int err = stmt(s, slot, &st);
	if (err)
		return err;
	int64_t lim = limit == 0 || limit > (size_t)INT64_MAX ? -1 : (int64_t)limit;
	int rc = sqlite3_bind_int64(st, 1, after);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, lim);
	if (rc == SQLITE_OK && state >= 0)
		rc = sqlite3_bind_int(st, 3, state);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		struct sx_report_row r;
		if ((err = row_report(s, st, &r)) || (err = fn(ctx, &r)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_head_seq(struct sx_store *s, int64_t *seq)
{
	return sx_store_query_int64(s, SX_STMT_REPORT_HEAD, report_sql[SX_STMT_REPORT_HEAD], seq);
}

int sx_store_seq_at_time(struct sx_store *s, int64_t t_ms, int64_t *seq)
{
	sqlite3_stmt *st;
	*seq = 0;
	int err = stmt(s, SX_STMT_REPORT_SEQ_AT_TIME, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, t_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}
