/*
 * store_member.c: the member registry (members and ISP prefixes).
 */
#include "store_sqlite.h"

#include <string.h>

#include "err.h"

#define MEMBER_COLS "id, name, role, spki, state, since_ms, until_ms"

static const char *const member_sql[] = {
	[SX_STMT_MEMBER_GET] = "SELECT " MEMBER_COLS " FROM members WHERE name = ?1",
	[SX_STMT_MEMBER_BY_SPKI] = "SELECT name FROM members WHERE spki = ?1 AND state != 2",
	[SX_STMT_MEMBER_INSERT] =
		"INSERT INTO members (name, role, spki, state, since_ms, until_ms, state_ms) "
		"VALUES (?1, ?2, ?3, 0, ?4, 0, ?4)",
	[SX_STMT_MEMBER_SET_STATE] =
		"UPDATE members SET state = ?2, state_ms = ?3 WHERE id = ?1 AND state != 2",
	[SX_STMT_MEMBER_REMOVE] =
		"UPDATE members SET state = 2, until_ms = ?2, state_ms = ?2 "
		"WHERE id = ?1 AND state != 2",
	[SX_STMT_MEMBER_EACH] =
		"SELECT " MEMBER_COLS " FROM members WHERE ?1 OR state != 2 ORDER BY name",
	/* The same prefix given twice is one prefix. */
	[SX_STMT_PREFIX_INSERT] =
		"INSERT OR IGNORE INTO member_prefixes (member_id, addr, len) VALUES (?1, ?2, ?3)",
	[SX_STMT_PREFIX_DROP] = "DELETE FROM member_prefixes WHERE member_id = ?1",
	[SX_STMT_PREFIX_EACH] =
		"SELECT p.member_id, p.addr, p.len FROM member_prefixes AS p "
		"JOIN members AS m ON m.id = p.member_id "
		"WHERE m.state != 2 AND m.role = 2 ORDER BY p.member_id, p.addr, p.len",
};

static int stmt(struct sx_store *s, enum sx_stmt slot, sqlite3_stmt **out)
{
	return sx_store_stmt(s, slot, member_sql[slot], out);
}

static int role_ok(enum sx_role r)
{
	return r >= SX_ROLE_VENDOR && r <= SX_ROLE_SUBMITTER;
}

/* Canonical prefixes only: no bits set past len. */
static int prefix_ok(const struct sx_prefix *p)
{
	if (p->len > 128)
		return 0;
	for (unsigned bit = p->len; bit < 128; bit++)
		if (p->addr[bit / 8] & (0x80u >> (bit % 8)))
			return 0;
	return 1;
}

/* Fills m from a row of MEMBER_COLS. A row the schema should have prevented
 * is reported rather than half-copied. */
static int row_member(struct sx_store *s, sqlite3_stmt *st, struct sx_member *m)
{
	const unsigned char *name = sqlite3_column_text(st, 1);
	int namelen = sqlite3_column_bytes(st, 1);
	const void *spki = sqlite3_column_blob(st, 3);
	int spkilen = sqlite3_column_bytes(st, 3);
	if (name == NULL || namelen <= 0 || namelen >= SX_NAME_MAX || spki == NULL ||
	    spkilen != SX_SPKI_LEN)
		return sx_store_failf(s, SX_EDB, "malformed member row %lld",
				      (long long)sqlite3_column_int64(st, 0));
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	memcpy(m->name, name, (size_t)namelen);
	int role = sqlite3_column_int(st, 2);
	m->role = role_ok((enum sx_role)role) ? (enum sx_role)role : SX_ROLE_NONE;
	memcpy(m->spki, spki, SX_SPKI_LEN);
	m->state = (enum sx_member_state)sqlite3_column_int(st, 4);
	m->since_ms = sqlite3_column_int64(st, 5);
	m->until_ms = sqlite3_column_int64(st, 6);
	return 0;
}

/* Looks name up; 0, SX_ENOTFOUND (reason set) or another error. */
static int lookup(struct sx_store *s, const char *name, struct sx_member *out)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_MEMBER_GET, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = row_member(s, st, out);
	else if (rc == SQLITE_DONE)
		err = sx_store_failf(s, SX_ENOTFOUND, "no member named %s", name);
	else
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* Runs a cached statement that returns no rows; binds are made by the
 * caller. Resets it either way. */
static int step_done(struct sx_store *s, sqlite3_stmt *st, int bindrc)
{
	int rc = bindrc == SQLITE_OK ? sqlite3_step(st) : bindrc;
	int err = rc == SQLITE_DONE ? 0 : sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

/* Inside the caller's transaction: refuses a taken name or a key that belongs
 * to a member that is not removed, naming the holder. */
static int check_free(struct sx_store *s, const char *name, const uint8_t spki[SX_SPKI_LEN])
{
	struct sx_member m;
	int err = lookup(s, name, &m);
	if (err == 0)
		return sx_store_failf(s, SX_EEXIST, m.state == SX_MEMBER_REMOVED ?
				      "member %s was removed; names are not reused" :
				      "member %s already exists", name);
	if (err != SX_ENOTFOUND)
		return err;

	sqlite3_stmt *st;
	if ((err = stmt(s, SX_STMT_MEMBER_BY_SPKI, &st)))
		return err;
	int rc = sqlite3_bind_blob(st, 1, spki, SX_SPKI_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = sx_store_failf(s, SX_EEXIST, "this key already belongs to member %s",
				     (const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

static int insert(struct sx_store *s, const char *name, enum sx_role role,
		  const uint8_t spki[SX_SPKI_LEN], const struct sx_prefix *prefixes,
		  size_t nprefixes, int64_t now_ms)
{
	sqlite3_stmt *st;
	int err = check_free(s, name, spki);
	if (err || (err = stmt(s, SX_STMT_MEMBER_INSERT, &st)))
		return err;
	int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, (int)role);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 3, spki, SX_SPKI_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, now_ms);
	if ((err = step_done(s, st, rc)))
		return err;
	int64_t id = sqlite3_last_insert_rowid(s->db);

	for (size_t i = 0; i < nprefixes; i++) {
		if ((err = stmt(s, SX_STMT_PREFIX_INSERT, &st)))
			return err;
		rc = sqlite3_bind_int64(st, 1, id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_blob(st, 2, prefixes[i].addr, 16, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(st, 3, prefixes[i].len);
		if ((err = step_done(s, st, rc)))
			return err;
	}
	return 0;
}

int sx_store_member_add(struct sx_store *s, const char *name, enum sx_role role,
			const uint8_t spki[SX_SPKI_LEN], const struct sx_prefix *prefixes,
			size_t nprefixes, int64_t now_ms)
{
	if (!sx_member_name_ok(name))
		return sx_store_failf(s, SX_EINVAL, "invalid member name");
	if (!role_ok(role))
		return sx_store_failf(s, SX_EINVAL, "invalid role %d", (int)role);
	if (spki == NULL || now_ms <= 0 || (nprefixes > 0 && prefixes == NULL))
		return sx_store_failf(s, SX_EINVAL, "invalid member arguments");
	if (nprefixes > 0 && role != SX_ROLE_ISP)
		return sx_store_failf(s, SX_EINVAL, "only isp members have prefixes");
	for (size_t i = 0; i < nprefixes; i++)
		if (!prefix_ok(&prefixes[i]))
			return sx_store_failf(s, SX_EINVAL, "prefix %zu is not canonical", i + 1);

	int err = sx_store_tx_begin(s);
	if (err)
		return err;
	if ((err = insert(s, name, role, spki, prefixes, nprefixes, now_ms))) {
		sx_store_tx_rollback(s);
		return err;
	}
	return sx_store_tx_commit(s);
}

/* Finds a member that is not removed, inside the caller's transaction; why
 * is the end of the reason given when it was removed. */
static int lookup_live(struct sx_store *s, const char *name, struct sx_member *m,
		       const char *why)
{
	int err = lookup(s, name, m);
	if (err)
		return err;
	if (m->state == SX_MEMBER_REMOVED)
		return sx_store_failf(s, SX_ENOTFOUND, "member %s %s", name, why);
	return 0;
}

static int set_state(struct sx_store *s, const char *name, enum sx_member_state state,
		     int64_t now_ms)
{
	struct sx_member m;
	sqlite3_stmt *st;
	int err = lookup_live(s, name, &m, state == SX_MEMBER_ACTIVE ?
			      "was removed and cannot be resumed" :
			      "was removed and cannot be suspended");
	if (err || m.state == state)
		return err;   /* already there: keep state_ms of the real change */
	if ((err = stmt(s, SX_STMT_MEMBER_SET_STATE, &st)))
		return err;
	int rc = sqlite3_bind_int64(st, 1, m.id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, (int)state);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, now_ms);
	return step_done(s, st, rc);
}

int sx_store_member_set_state(struct sx_store *s, const char *name,
			      enum sx_member_state state, int64_t now_ms)
{
	if (state != SX_MEMBER_ACTIVE && state != SX_MEMBER_SUSPENDED)
		return sx_store_failf(s, SX_EINVAL, "a member is set active or suspended only");
	if (name == NULL || now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "invalid member arguments");
	int err = sx_store_tx_begin(s);
	if (err)
		return err;
	if ((err = set_state(s, name, state, now_ms))) {
		sx_store_tx_rollback(s);
		return err;
	}
	return sx_store_tx_commit(s);
}

static int remove_member(struct sx_store *s, const char *name, int64_t now_ms)
{
	struct sx_member m;
	sqlite3_stmt *st;
	int err = lookup_live(s, name, &m, "is already removed");
	if (err || (err = stmt(s, SX_STMT_MEMBER_REMOVE, &st)))
		return err;
	int rc = sqlite3_bind_int64(st, 1, m.id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, now_ms);
	if ((err = step_done(s, st, rc)) || (err = stmt(s, SX_STMT_PREFIX_DROP, &st)))
		return err;
	return step_done(s, st, sqlite3_bind_int64(st, 1, m.id));
}

int sx_store_member_remove(struct sx_store *s, const char *name, int64_t now_ms)
{
	if (name == NULL || now_ms <= 0)
		return sx_store_failf(s, SX_EINVAL, "invalid member arguments");
	int err = sx_store_tx_begin(s);
	if (err)
		return err;
	if ((err = remove_member(s, name, now_ms))) {
		sx_store_tx_rollback(s);
		return err;
	}
	return sx_store_tx_commit(s);
}

int sx_store_member_get(struct sx_store *s, const char *name, struct sx_member *out)
{
	if (name == NULL)
		return sx_store_failf(s, SX_EINVAL, "no member name");
	return lookup(s, name, out);
}

int sx_store_member_each(struct sx_store *s, int include_removed, sx_member_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_MEMBER_EACH, &st);
	if (err)
		return err;
	int rc = sqlite3_bind_int(st, 1, include_removed != 0);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		struct sx_member m;
		if ((err = row_member(s, st, &m)) || (err = fn(ctx, &m)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}

int sx_store_prefix_each(struct sx_store *s, sx_prefix_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	int err = stmt(s, SX_STMT_PREFIX_EACH, &st);
	if (err)
		return err;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sx_prefix p;
		const void *addr = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_int(st, 2);
		if (addr == NULL || sqlite3_column_bytes(st, 1) != 16 || len < 0 || len > 128) {
			err = sx_store_failf(s, SX_EDB, "malformed prefix of member %lld",
					     (long long)sqlite3_column_int64(st, 0));
			break;
		}
		memcpy(p.addr, addr, 16);
		p.len = (uint8_t)len;
		if ((err = fn(ctx, sqlite3_column_int64(st, 0), &p)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = sx_store_fail(s, rc);
	sx_store_stmt_done(st);
	return err;
}
