/*
 * test_store_audit.c: the audit log in the store (server/store_audit.c) and
 * its signed checkpoints (server/audit_sign.c).
 *
 * Roots and proofs from the stored nodes are compared with a recomputation
 * from the records alone for every size up to T_N; the triggers refuse
 * rewrites through SQL; and the tamper cases an attacker with the file could
 * try after dropping the triggers are each found by sx_store_audit_check or
 * by the checkpoints.
 */
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

#include "lib/err.h"
#include "lib/merkle.h"
#include "server/audit_sign.h"
#include "server/store_sqlite.h"   /* white-box: raw SQL as an attacker */
#include "teststore.h"

#define T_N 300

static void rec(struct sx_audit_rec *r, int64_t i, const char *event)
{
	memset(r, 0, sizeof *r);
	r->time_ms = TS_NOW + i;
	snprintf(r->event, sizeof r->event, "%s", event);
	snprintf(r->member, sizeof r->member, "m%lld", (long long)(i % 3));
	snprintf(r->peer, sizeof r->peer, "192.0.2.%lld:4711", (long long)(i % 250));
	snprintf(r->object, sizeof r->object, "seq=%lld sub=main", (long long)i);
	snprintf(r->outcome, sizeof r->outcome, "ok");
}

static void append_n(struct sx_store *s, int64_t from, int64_t n)
{
	struct sx_audit_rec r;
	for (int64_t i = from; i < from + n; i++) {
		rec(&r, i, i % 2 ? "deliver" : "ack");
		assert_int_equal(sx_store_audit_append(s, &r), 0);
	}
}

/* The model: leaf hashes recomputed from the records, subtrees naively. */
struct model {
	uint8_t leaf[T_N + 8][SX_AUDIT_HASH];
	int64_t n;
};

static void naive(const struct model *m, uint64_t start, uint64_t n, uint8_t *out)
{
	if (n == 1) {
		memcpy(out, m->leaf[start], SX_AUDIT_HASH);
		return;
	}
	uint64_t k = 1;
	while (k < n - k)
		k <<= 1;
	uint8_t l[SX_AUDIT_HASH], r[SX_AUDIT_HASH];
	naive(m, start, k, l);
	naive(m, start + k, n - k, r);
	sx_merkle_node_hash(l, r, out);
}

static void sqlx(struct sx_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

static int sql_fails(struct sx_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK;
}

static void test_encoding(void **state)
{
	(void)state;
	struct sx_audit_rec r;
	uint8_t enc[SX_AUDIT_LEAF_MAX];
	memset(&r, 0, sizeof r);
	r.time_ms = 0x0102030405LL;
	snprintf(r.event, sizeof r.event, "ack");
	snprintf(r.member, sizeof r.member, "isp1");
	static const uint8_t want[] = {
		'S', 'X', 'A', '1', 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05,
		0, 0, 0, 3, 'a', 'c', 'k', 0, 0, 0, 4, 'i', 's', 'p', '1',
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	assert_int_equal(sx_audit_encode(&r, enc), sizeof want);
	assert_memory_equal(enc, want, sizeof want);
	/* Length prefixes keep field boundaries: moving a byte changes the hash. */
	uint8_t h1[SX_AUDIT_HASH], h2[SX_AUDIT_HASH];
	snprintf(r.object, sizeof r.object, "ab");
	assert_int_equal(sx_audit_leaf_hash(&r, h1), 0);
	snprintf(r.object, sizeof r.object, "a");
	snprintf(r.outcome, sizeof r.outcome, "b");
	assert_int_equal(sx_audit_leaf_hash(&r, h2), 0);
	assert_memory_not_equal(h1, h2, SX_AUDIT_HASH);
	/* Refused: unknown event, control characters, no time, bad spki,
	 * a field without its NUL. */
	snprintf(r.event, sizeof r.event, "bogus");
	assert_int_equal(sx_audit_encode(&r, enc), 0);
	snprintf(r.event, sizeof r.event, "ack");
	snprintf(r.object, sizeof r.object, "a\nb");
	assert_int_equal(sx_audit_encode(&r, enc), 0);
	snprintf(r.object, sizeof r.object, "x");
	r.time_ms = 0;
	assert_int_equal(sx_audit_encode(&r, enc), 0);
	r.time_ms = 1;
	snprintf(r.spki, sizeof r.spki, "ABCD");
	assert_int_equal(sx_audit_encode(&r, enc), 0);
	uint8_t k[SX_SPKI_LEN] = { 0xab, 0x01 };
	sx_audit_spki_hex(k, r.spki);
	assert_int_equal(strlen(r.spki), 64);
	assert_true(sx_audit_encode(&r, enc) > 0);
	memset(r.peer, 'x', sizeof r.peer);
	assert_int_equal(sx_audit_encode(&r, enc), 0);
	assert_true(sx_audit_event_ok("notice-action"));
	assert_false(sx_audit_event_ok(NULL));
}

static void test_tree_all_sizes(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	static struct model m;
	struct sx_audit_rec r;
	int64_t size = -1;
	assert_int_equal(sx_store_audit_size(s, &size), 0);
	assert_int_equal(size, 0);
	for (int64_t i = 0; i < T_N; i++) {
		rec(&r, i, "deliver");
		assert_int_equal(sx_store_audit_append(s, &r), 0);
		assert_int_equal(sx_audit_leaf_hash(&r, m.leaf[i]), 0);
	}
	m.n = T_N;
	assert_int_equal(sx_store_audit_size(s, &size), 0);
	assert_int_equal(size, T_N);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit_nodes"),
			 T_N - __builtin_popcount(T_N));
	static uint8_t roots[T_N + 1][SX_AUDIT_HASH];
	for (int64_t n = 1; n <= T_N; n++) {
		uint8_t got[SX_AUDIT_HASH];
		naive(&m, 0, (uint64_t)n, roots[n]);
		assert_int_equal(sx_store_audit_root(s, n, got), 0);
		assert_memory_equal(got, roots[n], SX_AUDIT_HASH);
	}
	uint8_t proof[SX_AUDIT_PROOF_MAX * SX_AUDIT_HASH];
	size_t np;
	for (int64_t n = 1; n <= T_N; n += 7) {
		for (int64_t i = 0; i < n; i += 5) {
			assert_int_equal(sx_store_audit_inclusion(s, i, n, proof, &np), 0);
			assert_int_equal(sx_merkle_inclusion_verify(m.leaf[i], (uint64_t)i,
					 (uint64_t)n, proof, np, roots[n]), 0);
		}
		for (int64_t a = 1; a <= n; a += 3) {
			assert_int_equal(sx_store_audit_consistency(s, a, n, proof, &np), 0);
			assert_int_equal(sx_merkle_consistency_verify((uint64_t)a, (uint64_t)n,
								      roots[a], roots[n], proof,
								      np), 0);
		}
	}
	/* Beyond the log: refused. */
	uint8_t root[SX_AUDIT_HASH];
	assert_int_equal(sx_store_audit_root(s, T_N + 1, root), SX_EINVAL);
	assert_int_equal(sx_store_audit_inclusion(s, T_N, T_N, proof, &np), SX_EINVAL);
	assert_int_equal(sx_store_audit_consistency(s, 5, T_N + 1, proof, &np), SX_EINVAL);
	/* The record reads back as written. */
	struct sx_audit_rec back;
	uint8_t h[SX_AUDIT_HASH];
	assert_int_equal(sx_store_audit_get(s, 17, &back, h), 0);
	rec(&r, 17, "deliver");
	r.leaf_index = 17;
	assert_memory_equal(&back, &r, sizeof r);
	assert_memory_equal(h, m.leaf[17], SX_AUDIT_HASH);
	assert_int_equal(sx_store_audit_get(s, T_N, &back, h), SX_ENOTFOUND);
	int64_t count = 0, problems = -1;
	assert_int_equal(sx_store_audit_check(s, NULL, NULL, &count, &problems), 0);
	assert_int_equal(count, T_N);
	assert_int_equal(problems, 0);
	sx_store_close(s);
}

/* Runs of appends (the delivery path) give the same tree as one at a time:
 * runs of every length 1..17 starting at every phase of the right edge. */
static void test_append_many(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	static struct model m;
	static struct sx_audit_rec v[T_N];
	int64_t done = 0;
	for (size_t run = 1; done < T_N; run = run % 17 + 1) {
		size_t n = (size_t)(T_N - done) < run ? (size_t)(T_N - done) : run;
		for (size_t k = 0; k < n; k++) {
			rec(&v[k], done + (int64_t)k, "deliver");
			assert_int_equal(sx_audit_leaf_hash(&v[k], m.leaf[done + (int64_t)k]), 0);
		}
		assert_int_equal(sx_store_batch_begin(s), 0);
		assert_int_equal(sx_store_audit_append_many(s, v, n), 0);
		assert_int_equal(sx_store_batch_commit(s), 0);
		done += (int64_t)n;
	}
	m.n = T_N;
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit_nodes"),
			 T_N - __builtin_popcount(T_N));
	for (int64_t n = 1; n <= T_N; n++) {
		uint8_t want[SX_AUDIT_HASH], got[SX_AUDIT_HASH];
		naive(&m, 0, (uint64_t)n, want);
		assert_int_equal(sx_store_audit_root(s, n, got), 0);
		assert_memory_equal(got, want, SX_AUDIT_HASH);
	}
	int64_t count = 0, problems = -1;
	assert_int_equal(sx_store_audit_check(s, NULL, NULL, &count, &problems), 0);
	assert_int_equal(problems, 0);
	/* A bad record fails the whole run: nothing of it is written. */
	rec(&v[0], T_N, "deliver");
	rec(&v[1], T_N + 1, "no-such-event");
	assert_int_equal(sx_store_audit_append_many(s, v, 2), SX_EINVAL);
	assert_int_equal(sx_store_audit_size(s, &count), 0);
	assert_int_equal(count, T_N);
	sx_store_close(s);
}

static void test_triggers(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	append_n(s, 0, 4);
	assert_true(sql_fails(s, "UPDATE audit SET outcome = 'no' WHERE leaf_index = 1"));
	assert_true(sql_fails(s, "DELETE FROM audit WHERE leaf_index = 3"));
	assert_true(sql_fails(s, "DELETE FROM audit"));
	/* REPLACE deletes without firing delete triggers: refused on insert. */
	assert_true(sql_fails(s, "INSERT OR REPLACE INTO audit (leaf_index, time_ms, event, "
			      "leaf_hash) VALUES (1, 5, 'ack', zeroblob(32))"));
	assert_true(sql_fails(s, "INSERT INTO audit (leaf_index, time_ms, event, leaf_hash) "
			      "VALUES (9, 5, 'ack', zeroblob(32))"));
	assert_true(sql_fails(s, "UPDATE audit_nodes SET hash = zeroblob(32)"));
	assert_true(sql_fails(s, "DELETE FROM audit_nodes"));
	assert_true(sql_fails(s, "INSERT OR REPLACE INTO audit_nodes "
			      "VALUES (1, 0, zeroblob(32))"));
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	assert_int_equal(sx_store_audit_set_origin(s, "sprex.test/audit"), 0);
	assert_int_equal(sx_store_audit_set_origin(s, "sprex.other/audit"), SX_EEXIST);
	assert_int_equal(sx_audit_checkpoint(s, k, NULL, TS_NOW, NULL, 0), 0);
	assert_true(sql_fails(s, "UPDATE audit_checkpoints SET tree_size = 1"));
	assert_true(sql_fails(s, "DELETE FROM audit_checkpoints"));
	assert_true(sql_fails(s, "INSERT INTO audit_checkpoints VALUES (9, 2, zeroblob(32), 1, "
			      "'x')"));
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 4);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit_nodes"), 3);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit_checkpoints"), 1);
	EVP_PKEY_free(k);
	sx_store_close(s);
}

/* Collects check findings. */
struct found {
	char text[8][256];
	int n;
};

static void collect(void *ctx, const char *text)
{
	struct found *fd = ctx;
	if (fd->n < 8)
		snprintf(fd->text[fd->n++], sizeof fd->text[0], "%s", text);
}

static int found_has(const struct found *fd, const char *needle)
{
	for (int i = 0; i < fd->n; i++)
		if (strstr(fd->text[i], needle) != NULL)
			return 1;
	return 0;
}

static int64_t check(struct sx_store *s, struct found *fd)
{
	int64_t size, problems;
	memset(fd, 0, sizeof *fd);
	assert_int_equal(sx_store_audit_check(s, collect, fd, &size, &problems), 0);
	return problems;
}

#define DROP_TRIGGERS \
	"DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; " \
	"DROP TRIGGER audit_append_only; DROP TRIGGER audit_nodes_no_update; " \
	"DROP TRIGGER audit_nodes_no_delete; DROP TRIGGER audit_checkpoints_no_delete;"

static void test_tamper_changed_leaf(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct found fd;
	append_n(s, 0, 20);
	assert_int_equal(check(s, &fd), 0);
	sqlx(s, DROP_TRIGGERS);
	/* The record changed, its hash left alone. */
	sqlx(s, "UPDATE audit SET member = 'someone' WHERE leaf_index = 5");
	assert_true(check(s, &fd) >= 1);
	assert_true(found_has(&fd, "leaf 5: stored hash does not match"));
	/* The hash recomputed too: the node above it no longer matches. */
	struct sx_audit_rec r;
	uint8_t h[SX_AUDIT_HASH];
	assert_int_equal(sx_store_audit_get(s, 5, &r, h), 0);
	assert_int_equal(sx_audit_leaf_hash(&r, h), 0);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, "UPDATE audit SET leaf_hash = ?1 WHERE "
					    "leaf_index = 5", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, h, SX_AUDIT_HASH, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_true(check(s, &fd) >= 1);
	assert_true(found_has(&fd, "node 1/2 (leaves 4..5): hash does not match"));
	sx_store_close(s);
}

static void test_tamper_reordered(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct found fd;
	append_n(s, 0, 16);
	sqlx(s, DROP_TRIGGERS);
	/* Rows 2 and 9 swap places, each with its own (valid) leaf hash. */
	sqlx(s, "UPDATE audit SET leaf_index = 1000 WHERE leaf_index = 2; "
	     "UPDATE audit SET leaf_index = 2 WHERE leaf_index = 9; "
	     "UPDATE audit SET leaf_index = 9 WHERE leaf_index = 1000");
	assert_true(check(s, &fd) >= 2);
	assert_true(found_has(&fd, "node 1/1 (leaves 2..3)"));
	assert_true(found_has(&fd, "node 1/4 (leaves 8..9)"));
	sx_store_close(s);
}

static void test_tamper_truncated(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct found fd;
	append_n(s, 0, 12);
	sqlx(s, DROP_TRIGGERS);
	/* Trailing rows deleted, nodes left: the nodes give it away. */
	sqlx(s, "DELETE FROM audit WHERE leaf_index >= 10");
	assert_true(check(s, &fd) >= 1);
	assert_true(found_has(&fd, "node 1/5: not part of a tree of 10 leaves"));
	/* A gap in the middle. */
	sqlx(s, "DELETE FROM audit WHERE leaf_index = 4");
	check(s, &fd);
	assert_true(found_has(&fd, "leaf 5: found where leaf 4 belongs"));
	sx_store_close(s);
}

static void test_checkpoints(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	assert_non_null(other);
	const char *origin = "sprex.test/audit";
	assert_int_equal(sx_store_audit_set_origin(s, origin), 0);
	char note[SX_AUDIT_NOTE_MAX], err[256];
	/* An empty log gets no checkpoint. */
	assert_int_equal(sx_audit_checkpoint(s, k, NULL, TS_NOW, note, sizeof note), SX_EAGAIN);
	append_n(s, 0, 7);
	assert_int_equal(sx_audit_checkpoint(s, k, NULL, TS_NOW, note, sizeof note), 0);
	assert_int_equal(sx_audit_checkpoint(s, k, NULL, TS_NOW + 1, NULL, 0), SX_EAGAIN);
	assert_int_equal(strncmp(note, "sprex.test/audit\n7\n", 19), 0);
	assert_non_null(strstr(note, "\n\n\xe2\x80\x94 sprex.test/audit "));
	uint8_t pub[SX_AUDIT_PUB_LEN], opub[SX_AUDIT_PUB_LEN], root[SX_AUDIT_HASH],
		have[SX_AUDIT_HASH];
	assert_int_equal(sx_audit_pub_raw(k, pub), 0);
	assert_int_equal(sx_audit_pub_raw(other, opub), 0);
	int64_t size;
	assert_int_equal(sx_audit_note_verify(note, origin, pub, &size, root, err, sizeof err), 0);
	assert_int_equal(size, 7);
	assert_int_equal(sx_store_audit_root(s, 7, have), 0);
	assert_memory_equal(root, have, SX_AUDIT_HASH);
	struct sx_audit_checkpoint cp;
	assert_int_equal(sx_store_audit_checkpoint_last(s, &cp), 0);
	assert_int_equal(cp.tree_size, 7);
	assert_string_equal(cp.note, note);

	/* Signed by another key (same name): refused, and said so. */
	char forged[SX_AUDIT_NOTE_MAX];
	assert_int_equal(sx_audit_note_sign(other, origin, 7, root, forged, sizeof forged), 0);
	assert_int_equal(sx_audit_note_verify(forged, origin, pub, &size, root, err, sizeof err),
			 SX_EINVAL);
	assert_non_null(strstr(err, "another key"));
	/* A changed size or root under the real signature: bad signature. */
	char changed[SX_AUDIT_NOTE_MAX];
	snprintf(changed, sizeof changed, "%s", note);
	changed[strlen(origin) + 1] = '8';
	assert_int_equal(sx_audit_note_verify(changed, origin, pub, &size, root, err, sizeof err),
			 SX_EINVAL);
	assert_string_equal(err, "bad signature");
	assert_int_equal(sx_audit_note_verify(note, "sprex.else/audit", pub, &size, root, err,
					      sizeof err), SX_EINVAL);
	assert_int_equal(sx_audit_note_verify(note, origin, opub, &size, root, err, sizeof err),
			 SX_EINVAL);
	assert_int_equal(sx_audit_note_verify("x\n", origin, pub, &size, root, err, sizeof err),
			 SX_EINVAL);

	/* An older backup: the log has fewer records than a checkpoint an
	 * auditor kept; a rewritten one has a different root at that size. */
	append_n(s, 7, 5);
	assert_int_equal(sx_audit_checkpoint(s, k, NULL, TS_NOW + 2, note, sizeof note), 0);
	assert_int_equal(sx_audit_note_verify(note, origin, pub, &size, root, err, sizeof err), 0);
	assert_int_equal(size, 12);
	sqlx(s, DROP_TRIGGERS);
	sqlx(s, "DELETE FROM audit WHERE leaf_index >= 9; DELETE FROM audit_nodes WHERE "
	     "(idx + 1) << level > 9");
	int64_t n;
	assert_int_equal(sx_store_audit_size(s, &n), 0);
	assert_true(n < size);
	/* The nodes were cleaned up as well: the tree alone looks fine ... */
	struct found fd;
	assert_int_equal(check(s, &fd), 0);
	/* ... but the signed checkpoint of 12 cannot be reached any more. */
	assert_int_equal(sx_store_audit_root(s, size, have), SX_EINVAL);
	/* And the first checkpoint's root still matches the first 7. */
	assert_int_equal(sx_store_audit_root(s, 7, have), 0);

	char vkey[SX_AUDIT_VKEY_MAX];
	assert_int_equal(sx_audit_vkey(origin, pub, vkey, sizeof vkey), 0);
	assert_int_equal(strncmp(vkey, "sprex.test/audit+", 17), 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	sx_store_close(s);
}

static void test_operator_and_batch(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	struct sx_audit_rec r;
	rec(&r, 0, "operator");
	snprintf(r.os_user, sizeof r.os_user, "alice");
	snprintf(r.object, sizeof r.object, "member add member=isp1");
	assert_int_equal(sx_store_audit_operator(s, &r), 0);
	/* Nothing yet: it waits for the command's change. */
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 0);
	ts_member(s, "isp1", SX_ROLE_ISP, 1);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit WHERE event = 'operator' AND "
			      "os_user = 'alice'"), 1);
	/* Only once. */
	ts_member(s, "isp2", SX_ROLE_ISP, 2);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 1);
	assert_int_equal(sx_store_audit_operator_flush(s, "ok"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 1);
	/* A command that changed nothing: the flush writes it with its outcome. */
	assert_int_equal(sx_store_audit_operator(s, &r), 0);
	assert_int_equal(sx_store_audit_operator_flush(s, "failed (status 65)"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit WHERE outcome = "
			      "'failed (status 65)'"), 1);
	/* Not an operator record: refused. */
	rec(&r, 0, "ack");
	assert_int_equal(sx_store_audit_operator(s, &r), SX_EINVAL);

	/* In a batch: the record goes with the batch, or not at all. */
	assert_int_equal(sx_store_batch_begin(s), 0);
	append_n(s, 0, 3);
	sx_store_batch_rollback(s);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(sx_store_batch_begin(s), 0);
	append_n(s, 0, 3);
	struct sx_audit_rec bad;
	rec(&bad, 0, "nope");
	assert_int_equal(sx_store_audit_append(s, &bad), SX_EINVAL);   /* batch stays open */
	append_n(s, 3, 1);
	assert_int_equal(sx_store_batch_commit(s), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit"), 6);
	int64_t size, problems;
	assert_int_equal(sx_store_audit_check(s, NULL, NULL, &size, &problems), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(size, 6);

	/* A purge records itself. */
	ts_report(s, TS_NOW - 1000, 0, NULL, NULL);
	assert_int_equal(sx_store_purge(s, TS_NOW, NULL), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM audit WHERE event = 'purge' AND "
			      "object LIKE 'seq<=1 %' AND outcome = 'deleted 1 reports'"), 1);
	sx_store_close(s);
}

struct counter {
	int64_t n;
	int64_t last;
};

static int count_rec(void *ctx, const struct sx_audit_rec *r, const uint8_t h[SX_AUDIT_HASH])
{
	struct counter *c = ctx;
	uint8_t want[SX_AUDIT_HASH];
	assert_int_equal(sx_audit_leaf_hash(r, want), 0);
	assert_memory_equal(h, want, SX_AUDIT_HASH);
	assert_true(r->leaf_index > c->last);
	c->last = r->leaf_index;
	c->n++;
	return 0;
}

static void test_export_filters(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	append_n(s, 0, 30);   /* even: ack, odd: deliver; member m0..m2 */
	struct sx_audit_filter flt;
	struct counter c;
	memset(&flt, 0, sizeof flt);
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 30);
	flt.event = "deliver";
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 15);
	flt.member = "m1";
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 5);   /* i % 3 == 1 and i odd: 1, 7, 13, 19, 25 */
	memset(&flt, 0, sizeof flt);
	flt.since_ms = TS_NOW + 10;
	flt.until_ms = TS_NOW + 20;
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 10);
	flt.limit = 3;
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 3);
	memset(&flt, 0, sizeof flt);
	flt.after = 28;
	c = (struct counter){ 0, -1 };
	assert_int_equal(sx_store_audit_each(s, &flt, count_rec, &c), 0);
	assert_int_equal(c.n, 2);
	sx_store_close(s);
}

static void test_key_files(void **state)
{
	struct ts_fixture *f = *state;
	char path[TS_PATH_MAX + 32], err[256];
	assert_int_equal(sx_audit_key_path(f->db, path, sizeof path), 0);
	assert_int_equal(sx_audit_key_create(path, err, sizeof err), 0);
	assert_int_equal(sx_audit_key_create(path, err, sizeof err), SX_EEXIST);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	EVP_PKEY *k;
	assert_int_equal(sx_audit_key_load(path, &k, err, sizeof err), 0);
	uint8_t a[SX_AUDIT_PUB_LEN], b[SX_AUDIT_PUB_LEN];
	assert_int_equal(sx_audit_pub_raw(k, a), 0);
	assert_int_equal(sx_audit_pub_load(path, b, err, sizeof err), 0);
	assert_memory_equal(a, b, sizeof a);
	char pem[SX_AUDIT_PEM_MAX];
	assert_int_equal(sx_audit_pub_pem(k, pem, sizeof pem), 0);
	assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
	EVP_PKEY_free(k);
	assert_int_equal(sx_audit_key_load(f->db, &k, err, sizeof err), SX_ENOTFOUND);
	/* The key hash of the signed-note spec: SHA-256(name \n 0x01 key)[:4]. */
	uint8_t zero[SX_AUDIT_PUB_LEN] = { 0 };
	assert_int_not_equal(sx_audit_key_hash("a", zero), sx_audit_key_hash("b", zero));
	/* The verifier key of the Go sumdb/note tests,
	 * "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW". */
	static const uint8_t peter[SX_AUDIT_PUB_LEN] = {
		0x1a, 0x5c, 0xd9, 0x07, 0x14, 0x3c, 0x38, 0x4c, 0x41, 0xe8, 0x30, 0xc5,
		0xbc, 0xe1, 0x2a, 0xa8, 0x81, 0x7e, 0xc5, 0x64, 0x9a, 0xaa, 0xbf, 0x2c,
		0x31, 0x38, 0x8b, 0x35, 0xb2, 0xd7, 0x44, 0xd6,
	};
	assert_int_equal(sx_audit_key_hash("PeterNeumann", peter), 0xc74f20a3u);
	char vk[SX_AUDIT_VKEY_MAX];
	assert_int_equal(sx_audit_vkey("PeterNeumann", peter, vk, sizeof vk), 0);
	assert_string_equal(vk, "PeterNeumann+c74f20a3+"
			    "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test_setup_teardown(test_tree_all_sizes, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_append_many, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_triggers, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_changed_leaf, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_reordered, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_tamper_truncated, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_operator_and_batch, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_export_filters, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_key_files, ts_setup, ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
