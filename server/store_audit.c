/*
 * store_audit.c: the audit log as an RFC 9162 Merkle tree in SQLite.
 *
 * Leaves live in audit (leaf_hash beside the record); every complete subtree
 * of 2^level leaves, level >= 1, is stored in audit_nodes when its last leaf
 * is appended, so that a root or proof reads one row per complete subtree it
 * needs (lib/merkle.c) instead of rehashing the log.
 */
#include "store_sqlite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "merkle.h"

static const char *const audit_sql[] = {
	[SX_STMT_AUDIT_SIZE] = "SELECT coalesce(max(leaf_index) + 1, 0) FROM audit",
	[SX_STMT_AUDIT_INSERT] =
		"INSERT INTO audit (leaf_index, time_ms, event, member, spki, peer, object, "
		"outcome, os_user, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SX_STMT_AUDIT_LEAF] = "SELECT leaf_hash FROM audit WHERE leaf_index = ?1",
	[SX_STMT_AUDIT_NODE] = "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2",
	[SX_STMT_AUDIT_NODE_INSERT] =
		"INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
	[SX_STMT_AUDIT_GET] =
		"SELECT leaf_index, time_ms, event, member, spki, peer, object, outcome, os_user, "
		"leaf_hash FROM audit WHERE leaf_index = ?1",
	/* One statement for every filter: a zero or NULL parameter matches all. */
	[SX_STMT_AUDIT_EACH] =
		"SELECT leaf_index, time_ms, event, member, spki, peer, object, outcome, os_user, "
		"leaf_hash FROM audit WHERE leaf_index >= ?1 "
		"AND (?2 = 0 OR time_ms >= ?2) AND (?3 = 0 OR time_ms < ?3) "
		"AND (?4 IS NULL OR member = ?4) AND (?5 IS NULL OR event = ?5) "
		"ORDER BY leaf_index LIMIT ?6",
	[SX_STMT_AUDIT_CHECK_LEAVES] =
		"SELECT leaf_index, time_ms, event, member, spki, peer, object, outcome, os_user, "
		"leaf_hash FROM audit ORDER BY leaf_index",
	[SX_STMT_AUDIT_CHECK_NODES] =
		"SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx",
	[SX_STMT_AUDIT_CP_INSERT] =
		"INSERT INTO audit_checkpoints (id, tree_size, root, time_ms, note) VALUES "
		"((SELECT coalesce(max(id), 0) + 1 FROM audit_checkpoints), ?1, ?2, ?3, ?4)",
	[SX_STMT_AUDIT_CP_LAST] =
		"SELECT id, tree_size, root, time_ms, note FROM audit_checkpoints "
		"ORDER BY id DESC LIMIT 1",
	[SX_STMT_AUDIT_CP_EACH] =
		"SELECT id, tree_size, root, time_ms, note FROM audit_checkpoints ORDER BY id",
	[SX_STMT_AUDIT_ORIGIN] = "SELECT value FROM meta WHERE key = 'audit_origin'",
	[SX_STMT_AUDIT_SET_ORIGIN] = "INSERT INTO meta (key, value) VALUES ('audit_origin', ?1)",
};

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, audit_sql[slot], out);
}

/* --- records and their encoding ------------------------------------------ */

static const char *const event_kinds[] = {
	"connect", "auth-fail", "subscribe", "attach", "reset", "deliver", "ack", "nak",
	"park", "gap", "replay", "submit", "notice-action", "operator", "purge",
	"quarantine", "audit-query", "checkpoint",
};

int sx_audit_event_ok(const char *kind)
{
	if (kind == NULL)
		return 0;
	for (size_t i = 0; i < sizeof event_kinds / sizeof event_kinds[0]; i++)
		if (strcmp(kind, event_kinds[i]) == 0)
			return 1;
	return 0;
}

/* Length of field f (cap bytes), or -1 when it is unterminated or holds a
 * control character. */
static long field_len(const char *f, size_t cap)
{
	const char *end = memchr(f, '\0', cap);
	if (end == NULL)
		return -1;
	for (const char *p = f; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	return (long)(end - f);
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

size_t sx_audit_encode(const struct sx_audit_rec *r, uint8_t out[SX_AUDIT_LEAF_MAX])
{
	const char *fields[7] = { r->event, r->member, r->spki, r->peer, r->object, r->outcome,
				  r->os_user };
	const size_t caps[7] = { sizeof r->event, sizeof r->member, sizeof r->spki,
				 sizeof r->peer, sizeof r->object, sizeof r->outcome,
				 sizeof r->os_user };
	if (r->time_ms < 1 || !sx_audit_event_ok(r->event))
		return 0;
	size_t n = 0;
	memcpy(out, "SXA1", 4);
	n += 4;
	put_be(out + n, (uint64_t)r->time_ms, 8);
	n += 8;
	for (int i = 0; i < 7; i++) {
		long len = field_len(fields[i], caps[i]);
		if (len < 0)
			return 0;
		put_be(out + n, (uint64_t)len, 4);
		n += 4;
		memcpy(out + n, fields[i], (size_t)len);
		n += (size_t)len;
	}
	/* spki: a fingerprint in lower-case hex or nothing. */
	size_t sl = strlen(r->spki);
	if (sl != 0 && sl != 2 * SX_SPKI_LEN)
		return 0;
	for (size_t i = 0; i < sl; i++)
		if (!((r->spki[i] >= '0' && r->spki[i] <= '9') ||
		      (r->spki[i] >= 'a' && r->spki[i] <= 'f')))
			return 0;
	return n;
}

int sx_audit_leaf_hash(const struct sx_audit_rec *r, uint8_t out[SX_AUDIT_HASH])
{
	uint8_t enc[SX_AUDIT_LEAF_MAX];
	size_t n = sx_audit_encode(r, enc);
	if (n == 0)
		return SX_EINVAL;
	sx_merkle_leaf_hash(enc, n, out);
	return 0;
}

void sx_audit_spki_hex(const uint8_t spki[SX_SPKI_LEN], char out[SX_AUDIT_SPKI_MAX])
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < SX_SPKI_LEN; i++) {
		out[2 * i] = hex[spki[i] >> 4];
		out[2 * i + 1] = hex[spki[i] & 15];
	}
	out[2 * SX_SPKI_LEN] = '\0';
}

/* --- the tree ------------------------------------------------------------- */

int sx_store_audit_size(struct sx_store *s, int64_t *size)
{
	return sx_store_query_int64(s, SX_STMT_AUDIT_SIZE, audit_sql[SX_STMT_AUDIT_SIZE], size);
}

/* lib/merkle's callback: the hash of a complete subtree, from audit for a
 * leaf, from audit_nodes above. */
static int get_node(void *ctx, unsigned level, uint64_t index, uint8_t *out)
{
	struct sx_store *s = ctx;
	sqlite3_stmt *st;
	int err = stmt(s, level == 0 ? SX_STMT_AUDIT_LEAF : SX_STMT_AUDIT_NODE, &st);
	if (err)
		return err;
	int rc;
	if (level == 0) {
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
	} else {
		rc = sqlite3_bind_int(st, 1, (int)level);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SX_AUDIT_HASH)
		memcpy(out, sqlite3_column_blob(st, 0), SX_AUDIT_HASH);
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_EDB, "audit node %u/%llu is missing", level,
				     (unsigned long long)index);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int node_insert(struct sx_store *s, unsigned level, int64_t index, const uint8_t *hash)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_NODE_INSERT, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int(st, 1, (int)level);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, index);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 3, hash, SX_AUDIT_HASH, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int bind_rec(sqlite3_stmt *st, const struct sx_audit_rec *r)
{
	const char *t[7] = { r->event, r->member, r->spki, r->peer, r->object, r->outcome,
			     r->os_user };
	int rc = sqlite3_bind_int64(st, 2, r->time_ms);
	for (int i = 0; i < 7 && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_text(st, 3 + i, t[i], -1, SQLITE_STATIC);
	return rc;
}

/* Right edge of the tree while a run of appends is written: the newest
 * complete node of each level, so that a run needs no reads for the left
 * siblings it combines with. */
struct frontier {
	int64_t n;                         /* next leaf index */
	int64_t idx[64];                   /* per level: index of hash[level], or -1 */
	uint8_t hash[64][SX_AUDIT_HASH];
};

static void frontier_init(struct frontier *f, int64_t n)
{
	f->n = n;
	for (size_t i = 0; i < 64; i++)
		f->idx[i] = -1;
}

/* Appends r as leaf f->n and the nodes it completes. */
static int append_one(struct sx_store *s, struct frontier *f, const struct sx_audit_rec *r)
{
	uint8_t h[SX_AUDIT_HASH];
	if (sx_audit_leaf_hash(r, h) != 0)
		return sx_store_failf(s, SX_EINVAL, "audit record not valid (event '%.23s')",
				      memchr(r->event, '\0', sizeof r->event) ? r->event : "?");
	int64_t n = f->n;
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_INSERT, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, n);
	if (rc == SQLITE_OK)
		rc = bind_rec(st, r);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 10, h, SX_AUDIT_HASH, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err)
		return err;
	f->n = n + 1;
	/* Leaf n completes one subtree per trailing one bit of n; each left
	 * sibling is the newest node of its level, known unless the run began
	 * after it. */
	uint64_t i = (uint64_t)n;
	unsigned level = 0;
	while (i & 1) {
		uint8_t left[SX_AUDIT_HASH];
		if (f->idx[level] == (int64_t)(i - 1))
			memcpy(left, f->hash[level], SX_AUDIT_HASH);
		else if ((err = get_node(s, level, i - 1, left)))
			return err;
		sx_merkle_node_hash(left, h, h);
		level++;
		i >>= 1;
		if ((err = node_insert(s, level, (int64_t)i, h)))
			return err;
	}
	f->idx[level] = (int64_t)i;
	memcpy(f->hash[level], h, SX_AUDIT_HASH);
	return 0;
}

struct run {
	const struct sx_audit_rec *v;
	size_t n;
};

/* The statements of a run of appends, inside the caller's transaction. */
static int append_run(struct sx_store *s, void *ctx)
{
	const struct run *r = ctx;
	int64_t n;
	int err = sx_store_audit_size(s, &n);
	if (err)
		return err;
	struct frontier f;
	frontier_init(&f, n);
	for (size_t i = 0; i < r->n && !err; i++)
		err = append_one(s, &f, &r->v[i]);
	return err;
}

static int append_write(struct sx_store *s, void *ctx)
{
	struct run r = { ctx, 1 };
	return append_run(s, &r);
}

int sx_store_audit_append_many(struct sx_store *s, const struct sx_audit_rec *v, size_t n)
{
	struct run r = { v, n };
	return n ? sx_store_write(s, append_run, &r) : 0;
}

int sx_store_audit_append_in_tx(struct sx_store *s, const struct sx_audit_rec *r)
{
	return append_write(s, (void *)r);
}

int sx_store_audit_append(struct sx_store *s, const struct sx_audit_rec *r)
{
	return sx_store_write(s, append_write, (void *)r);
}

int sx_store_audit_operator(struct sx_store *s, const struct sx_audit_rec *r)
{
	uint8_t h[SX_AUDIT_HASH];
	if (sx_audit_leaf_hash(r, h) != 0 || strcmp(r->event, "operator") != 0)
		return sx_store_failf(s, SX_EINVAL, "operator audit record not valid");
	if (s->audit_pending == NULL && (s->audit_pending = malloc(sizeof *r)) == NULL)
		return sx_store_failf(s, SX_ENOMEM, "out of memory");
	*s->audit_pending = *r;
	s->audit_pending_tx = 0;
	return 0;
}

int sx_store_audit_pending_write(struct sx_store *s)
{
	s->audit_pending_tx = 0;
	if (s->audit_pending == NULL)
		return 0;
	int err = append_write(s, s->audit_pending);
	s->audit_pending_tx = err == 0;
	return err;
}

void sx_store_audit_pending_done(struct sx_store *s)
{
	if (s->audit_pending_tx) {
		free(s->audit_pending);
		s->audit_pending = NULL;
	}
	s->audit_pending_tx = 0;
}

static int flush_write(struct sx_store *s, void *ctx)
{
	(void)s;
	(void)ctx;
	return 0;   /* the commit writes the staged record */
}

int sx_store_audit_operator_flush(struct sx_store *s, const char *outcome)
{
	if (s->audit_pending == NULL)
		return 0;
	if (outcome != NULL)
		sx_store_copy_trunc(s->audit_pending->outcome, sizeof s->audit_pending->outcome,
				    outcome);
	if (s->batch)
		return sx_store_failf(s, SX_EINVAL, "flush the operator record outside a batch");
	return sx_store_write(s, flush_write, NULL);
}

static int check_size(struct sx_store *s, int64_t size)
{
	int64_t n;
	int err = sx_store_audit_size(s, &n);
	if (err)
		return err;
	if (size < 0 || size > n)
		return sx_store_failf(s, SX_EINVAL, "the audit log has %lld records, not %lld",
				      (long long)n, (long long)size);
	return 0;
}

int sx_store_audit_root(struct sx_store *s, int64_t size, uint8_t root[SX_AUDIT_HASH])
{
	int err = check_size(s, size);
	if (err)
		return err;
	return sx_merkle_root(get_node, s, (uint64_t)size, root);
}

int sx_store_audit_inclusion(struct sx_store *s, int64_t index, int64_t size, uint8_t *proof,
			     size_t *n)
{
	*n = 0;
	int err = check_size(s, size);
	if (err)
		return err;
	if (index < 0 || index >= size)
		return sx_store_failf(s, SX_EINVAL, "leaf %lld is not in a tree of %lld",
				      (long long)index, (long long)size);
	return sx_merkle_inclusion(get_node, s, (uint64_t)index, (uint64_t)size, proof,
				   SX_AUDIT_PROOF_MAX, n);
}

int sx_store_audit_consistency(struct sx_store *s, int64_t size1, int64_t size2, uint8_t *proof,
			       size_t *n)
{
	*n = 0;
	int err = check_size(s, size2);
	if (err)
		return err;
	if (size1 < 0 || size1 > size2)
		return sx_store_failf(s, SX_EINVAL, "size %lld is not below %lld",
				      (long long)size1, (long long)size2);
	return sx_merkle_consistency(get_node, s, (uint64_t)size1, (uint64_t)size2, proof,
				     SX_AUDIT_PROOF_MAX, n);
}

/* Reads a row of the record columns (leaf_index .. leaf_hash). 0, or -1 when
 * a column does not fit (a row written around the checks). */
static int read_rec(sqlite3_stmt *st, struct sx_audit_rec *r, uint8_t *leaf_hash)
{
	memset(r, 0, sizeof *r);
	r->leaf_index = sqlite3_column_int64(st, 0);
	r->time_ms = sqlite3_column_int64(st, 1);
	int bad = sx_store_col_text(st, 2, r->event, sizeof r->event) |
		  sx_store_col_text(st, 3, r->member, sizeof r->member) |
		  sx_store_col_text(st, 4, r->spki, sizeof r->spki) |
		  sx_store_col_text(st, 5, r->peer, sizeof r->peer) |
		  sx_store_col_text(st, 6, r->object, sizeof r->object) |
		  sx_store_col_text(st, 7, r->outcome, sizeof r->outcome) |
		  sx_store_col_text(st, 8, r->os_user, sizeof r->os_user);
	memset(leaf_hash, 0, SX_AUDIT_HASH);
	if (sqlite3_column_bytes(st, 9) == SX_AUDIT_HASH)
		memcpy(leaf_hash, sqlite3_column_blob(st, 9), SX_AUDIT_HASH);
	else
		bad = -1;
	return bad ? -1 : 0;
}

int sx_store_audit_get(struct sx_store *s, int64_t index, struct sx_audit_rec *out,
		       uint8_t leaf_hash[SX_AUDIT_HASH])
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_GET, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, index);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (read_rec(st, out, leaf_hash) != 0)
			err = sx_store_failf(s, SX_EDB, "audit record %lld is malformed",
					     (long long)index);
	} else if (rc == SQLITE_DONE) {
		err = sx_store_failf(s, SX_ENOTFOUND, "no audit record %lld", (long long)index);
	} else {
		err = sx_store_fail(s, rc);
	}
	sx_store_stmt_done(st);
	return err;
}

int sx_store_audit_each(struct sx_store *s, const struct sx_audit_filter *f, sx_audit_fn fn,
			void *ctx)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_EACH, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int64(st, 1, f->after);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, f->since_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, f->until_ms);
	if (rc == SQLITE_OK && f->member != NULL)
		rc = sqlite3_bind_text(st, 4, f->member, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && f->event != NULL)
		rc = sqlite3_bind_text(st, 5, f->event, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, f->limit ? (sqlite3_int64)f->limit : -1);
	if (rc != SQLITE_OK) {
		err = sx_store_fail(s, rc);
		sx_store_stmt_done(st);
		return err;
	}
	struct sx_audit_rec r;
	uint8_t h[SX_AUDIT_HASH];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_rec(st, &r, h) != 0) {
			err = sx_store_failf(s, SX_EDB, "audit record %lld is malformed",
					     (long long)sqlite3_column_int64(st, 0));
			break;
		}
		if ((err = fn(ctx, &r, h)) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* --- verification ------------------------------------------------------- */

struct checker {
	sx_audit_problem_fn fn;
	void *ctx;
	int64_t problems;
};

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct checker *c, const char *fmt, ...)
{
	char text[256];
	if (c->problems++ >= SX_AUDIT_PROBLEMS_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (c->fn)
		c->fn(c->ctx, text);
}

/* Whether node (level, idx) exists in a tree of n leaves: its subtree is
 * complete. */
static int node_expected(int64_t level, int64_t idx, int64_t n)
{
	if (level < 1 || level > 62 || idx < 0)
		return 0;
	return (idx + 1) <= (n >> level);
}

int sx_store_audit_check(struct sx_store *s, sx_audit_problem_fn fn, void *ctx, int64_t *size,
			 int64_t *problems)
{
	struct checker c = { fn, ctx, 0 };
	*size = 0;
	*problems = 0;
	if (s->batch)
		return sx_store_failf(s, SX_EINVAL, "no audit check inside a batch");
	/* One read transaction: the leaves and nodes seen belong together even
	 * while sprexd appends. */
	int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sx_store_fail(s, rc);
	sqlite3_stmt *st;
	int err;
	if ((err = stmt(s, SX_STMT_AUDIT_CHECK_LEAVES, &st)))
		goto out;
	int64_t expect = 0;
	struct sx_audit_rec r;
	uint8_t stored[SX_AUDIT_HASH], h[SX_AUDIT_HASH];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		if (idx != expect)
			problem(&c, "leaf %lld: found where leaf %lld belongs (rows missing, "
				"reordered or inserted)", (long long)idx, (long long)expect);
		if (read_rec(st, &r, stored) != 0)
			problem(&c, "leaf %lld: record malformed", (long long)idx);
		else if (sx_audit_leaf_hash(&r, h) != 0)
			problem(&c, "leaf %lld: record not valid", (long long)idx);
		else if (memcmp(h, stored, SX_AUDIT_HASH) != 0)
			problem(&c, "leaf %lld: stored hash does not match the record",
				(long long)idx);
		expect = idx + 1;
	}
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err)
		goto out;
	int64_t n = expect;
	/* Nodes: each recomputed from its two children as stored (children of
	 * level 1 are the leaf hashes, which were just checked against their
	 * records), so a changed node or leaf shows up at its level. */
	if ((err = stmt(s, SX_STMT_AUDIT_CHECK_NODES, &st)))
		goto out;
	int64_t seen = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t level = sqlite3_column_int64(st, 0), idx = sqlite3_column_int64(st, 1);
		if (!node_expected(level, idx, n)) {
			problem(&c, "node %lld/%lld: not part of a tree of %lld leaves",
				(long long)level, (long long)idx, (long long)n);
			continue;
		}
		seen++;
		uint8_t l[SX_AUDIT_HASH], rr[SX_AUDIT_HASH];
		if (sqlite3_column_bytes(st, 2) != SX_AUDIT_HASH) {
			problem(&c, "node %lld/%lld: malformed", (long long)level, (long long)idx);
			continue;
		}
		memcpy(stored, sqlite3_column_blob(st, 2), SX_AUDIT_HASH);
		if (get_node(s, (unsigned)level - 1, (uint64_t)idx * 2, l) != 0 ||
		    get_node(s, (unsigned)level - 1, (uint64_t)idx * 2 + 1, rr) != 0) {
			problem(&c, "node %lld/%lld: a child is missing", (long long)level,
				(long long)idx);
			continue;
		}
		sx_merkle_node_hash(l, rr, h);
		if (memcmp(h, stored, SX_AUDIT_HASH) != 0)
			problem(&c, "node %lld/%lld (leaves %lld..%lld): hash does not match its "
				"children", (long long)level, (long long)idx,
				(long long)(idx << level), (long long)(((idx + 1) << level) - 1));
	}
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err)
		goto out;
	/* A tree of n leaves has n - popcount(n) complete subtrees above the
	 * leaves. */
	int64_t want = n - __builtin_popcountll((unsigned long long)n);
	if (seen != want)
		problem(&c, "nodes: %lld stored for %lld leaves, %lld expected", (long long)seen,
			(long long)n, (long long)want);
	*size = n;
	*problems = c.problems;
out:
	/* Nothing was written: ending the read transaction. */
	sx_store_tx_rollback(s);
	return err;
}

/* --- checkpoints -------------------------------------------------------- */

static int read_cp(struct sx_store *s, sqlite3_stmt *st, struct sx_audit_checkpoint *cp)
{
	memset(cp, 0, sizeof *cp);
	cp->id = sqlite3_column_int64(st, 0);
	cp->tree_size = sqlite3_column_int64(st, 1);
	if (sqlite3_column_bytes(st, 2) == SX_AUDIT_HASH)
		memcpy(cp->root, sqlite3_column_blob(st, 2), SX_AUDIT_HASH);
	cp->time_ms = sqlite3_column_int64(st, 3);
	if (sx_store_col_text(st, 4, cp->note, sizeof cp->note) != 0)
		return sx_store_failf(s, SX_EDB, "audit checkpoint %lld is malformed",
				      (long long)cp->id);
	return 0;
}

int sx_store_audit_checkpoint_last(struct sx_store *s, struct sx_audit_checkpoint *out)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_CP_LAST, &st);
	if (err)
		return err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = read_cp(s, st, out);
	else if (rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_ENOTFOUND, "no audit checkpoint yet");
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_audit_checkpoint_each(struct sx_store *s, sx_audit_cp_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_CP_EACH, &st);
	if (err)
		return err;
	int rc;
	struct sx_audit_checkpoint cp;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = read_cp(s, st, &cp)) || (err = fn(ctx, &cp)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

struct cp_args {
	int64_t now_ms;
	sx_audit_sign_fn sign;
	void *ctx;
	struct sx_audit_checkpoint *out;
};

static int cp_write(struct sx_store *s, void *ctx)
{
	struct cp_args *a = ctx;
	struct sx_audit_checkpoint last, *cp = a->out;
	int64_t n;
	int err = sx_store_audit_size(s, &n);
	if (err)
		return err;
	err = sx_store_audit_checkpoint_last(s, &last);
	if (err == SX_ENOTFOUND)
		last.tree_size = 0;
	else if (err)
		return err;
	if (n <= last.tree_size)
		return sx_store_failf(s, SX_EAGAIN, "the audit log did not grow since the last "
				      "checkpoint (%lld records)", (long long)n);
	memset(cp, 0, sizeof *cp);
	cp->tree_size = n;
	cp->time_ms = a->now_ms;
	if ((err = sx_merkle_root(get_node, s, (uint64_t)n, cp->root)))
		return err;
	if ((err = a->sign(a->ctx, cp)))
		return sx_store_failf(s, err, "signing the audit checkpoint failed");
	sqlite3_stmt *st;
	if ((err = stmt(s, SX_STMT_AUDIT_CP_INSERT, &st)))
		return err;
	int rc = sqlite3_bind_int64(st, 1, cp->tree_size);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 2, cp->root, SX_AUDIT_HASH, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, cp->time_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, cp->note, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	else
		cp->id = sqlite3_last_insert_rowid(s->db);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_audit_checkpoint_new(struct sx_store *s, int64_t now_ms, sx_audit_sign_fn sign,
				  void *ctx, struct sx_audit_checkpoint *out)
{
	if (now_ms < 1)
		return sx_store_failf(s, SX_EINVAL, "checkpoint time must be positive");
	struct cp_args a = { now_ms, sign, ctx, out };
	return sx_store_write(s, cp_write, &a);
}

int sx_store_audit_origin(struct sx_store *s, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	int err = stmt(s, SX_STMT_AUDIT_ORIGIN, &st);
	if (err)
		return err;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sx_store_col_text(st, 0, out, outlen) != 0)
			err = sx_store_failf(s, SX_EDB, "audit origin too long");
	} else if (rc == SQLITE_DONE) {
		err = sx_store_failf(s, SX_ENOTFOUND,
				     "no audit origin set (sprexctl init sets it)");
	} else {
		err = sx_store_fail(s, rc);
	}
	sx_store_stmt_done(st);
	return err;
}

static int origin_write(struct sx_store *s, void *ctx)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_AUDIT_SET_ORIGIN, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_text(st, 1, ctx, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	if (err == SX_EEXIST)
		sx_store_failf(s, err, "the audit origin is already set");
	return err;
}

int sx_store_audit_set_origin(struct sx_store *s, const char *origin)
{
	size_t n = strlen(origin);
	if (n == 0 || n > 255 || strpbrk(origin, " +\t\n\r") != NULL)
		return sx_store_failf(s, SX_EINVAL, "audit origin must be 1..255 bytes without "
				      "spaces or '+'");
	return sx_store_write(s, origin_write, (void *)origin);
}
