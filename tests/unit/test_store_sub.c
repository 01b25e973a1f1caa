/*
 * test_store_sub.c: durable subscriptions and their pending rows in the
 * store: create and look up, names and limits at their edges, reset, the
 * position that never goes back, put/ack/park/replay, seq order, the cascade,
 * group commit with report adds, and the migration from schema version 2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "server/store.h"
#include "server/store_sqlite.h"   /* white-box: the connection, for raw SQL */
#include "teststore.h"

#define T_MANY 20

static struct sx_sub sub_new(int64_t member, const char *name)
{
	struct sx_sub sub;
	memset(&sub, 0, sizeof sub);
	sub.member = member;
	snprintf(sub.name, sizeof sub.name, "%s", name);
	sub.feed = 1;
	sub.position = 1;
	sub.window_count = 100;
	sub.window_bytes = 1 << 20;
	sub.created_ms = TS_NOW;
	return sub;
}

static int64_t create_ok(struct sx_store *s, struct sx_sub *sub)
{
	int rc = sx_store_sub_create(s, sub);
	if (rc != 0)
		fail_msg("sub_create %s: %d %s", sub->name, rc, sx_store_errmsg(s));
	assert_true(sub->id > 0);
	return sub->id;
}

/* Collects pending rows. */
struct rows {
	size_t n;
	struct sx_pending p[T_MANY];
};

static int collect(void *ctx, const struct sx_pending *p)
{
	struct rows *r = ctx;
	assert_true(r->n < T_MANY);
	r->p[r->n++] = *p;
	return 0;
}

static struct rows pending(struct sx_store *s, int64_t sub, int parked)
{
	struct rows r;
	memset(&r, 0, sizeof r);
	assert_int_equal(sx_store_pending_each(s, sub, parked, collect, &r), 0);
	return r;
}

/* --- subscriptions ---------------------------------------------------------- */

static void test_create_get(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	int64_t w = ts_member(s, "vendor2", SX_ROLE_VENDOR, 2);

	struct sx_sub a = sub_new(v, "main");
	a.id = 999;   /* ignored on input */
	a.feed = 4;
	snprintf(a.filter, sizeof a.filter, "sources=2");
	a.position = 42;
	a.window_count = UINT32_MAX;
	a.window_bytes = (uint64_t)INT64_MAX;
	create_ok(s, &a);
	assert_int_not_equal(a.id, 999);

	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "main", &got), 0);
	assert_int_equal(got.id, a.id);
	assert_int_equal(got.member, v);
	assert_string_equal(got.name, "main");
	assert_int_equal(got.feed, 4);
	assert_string_equal(got.filter, "sources=2");
	assert_int_equal(got.position, 42);
	assert_int_equal(got.window_count, UINT32_MAX);
	assert_true(got.window_bytes == (uint64_t)INT64_MAX);
	assert_int_equal(got.created_ms, TS_NOW);
	assert_int_equal(got.reset_ms, 0);

	/* Names are per member; lookups are exact. */
	struct sx_sub b = sub_new(w, "main");
	create_ok(s, &b);
	assert_int_not_equal(b.id, a.id);
	assert_int_equal(sx_store_sub_get(s, v, "Main", &got), SX_ENOTFOUND);
	assert_int_equal(sx_store_sub_get(s, v, "other", &got), SX_ENOTFOUND);
	assert_int_equal(sx_store_sub_get(s, v, "", &got), SX_ENOTFOUND);
	assert_int_equal(sx_store_sub_get(s, v, "bad name", &got), SX_ENOTFOUND);
	assert_int_equal(sx_store_sub_get(s, 9999, "main", &got), SX_ENOTFOUND);
	sx_store_close(s);

	/* Durable: there after reopening. */
	s = ts_open(f, 0);
	assert_int_equal(sx_store_sub_get(s, w, "main", &got), 0);
	assert_int_equal(got.id, b.id);
	sx_store_close(s);
}

static void test_duplicate(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "feed.1");
	create_ok(s, &a);
	struct sx_sub b = sub_new(v, "feed.1");
	b.feed = 2;
	b.id = 77;
	assert_int_equal(sx_store_sub_create(s, &b), SX_EEXIST);
	assert_non_null(strstr(sx_store_errmsg(s), "feed.1"));
	assert_int_equal(b.id, 77);   /* untouched on failure */
	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "feed.1", &got), 0);
	assert_int_equal(got.feed, 1);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM subscriptions"), 1);
	sx_store_close(s);
}

static void create_refused(struct sx_store *s, struct sx_sub *sub, int want)
{
	int rc = sx_store_sub_create(s, sub);
	if (rc != want)
		fail_msg("sub_create %s: got %d, want %d (%s)", sub->name, rc, want,
			 sx_store_errmsg(s));
	if (want == SX_EINVAL)
		assert_true(sx_store_errmsg(s)[0] != '\0');
}

static void test_limits(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub sub;

	/* Names: 1..63 bytes of [A-Za-z0-9._-]. */
	sub = sub_new(v, "");
	memset(sub.name, 'n', SX_SUB_NAME_MAX - 1);
	sub.name[SX_SUB_NAME_MAX - 1] = '\0';
	create_ok(s, &sub);
	sub = sub_new(v, "");
	memset(sub.name, 'm', SX_SUB_NAME_MAX);   /* 64 bytes, no room for the NUL */
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "x");
	create_ok(s, &sub);
	sub = sub_new(v, "AZaz09._-");
	create_ok(s, &sub);
	static const char *const bad[] = { "", "a b", "a/b", "a\tb", "ä", "a:b", "a\x7f", "*" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sub = sub_new(v, bad[i]);
		create_refused(s, &sub, SX_EINVAL);
	}

	/* Feeds 1..4. */
	sub = sub_new(v, "feed0");
	sub.feed = 0;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "feed5");
	sub.feed = 5;
	create_refused(s, &sub, SX_EINVAL);
	for (int feed = 1; feed <= 4; feed++) {
		char name[16];
		snprintf(name, sizeof name, "feed%d", feed);
		sub = sub_new(v, name);
		sub.feed = feed;
		create_ok(s, &sub);
	}

	/* Filter text up to SX_FILTER_TEXT_MAX - 1 bytes. */
	sub = sub_new(v, "filter-max");
	memset(sub.filter, 'f', SX_FILTER_TEXT_MAX - 1);
	sub.filter[SX_FILTER_TEXT_MAX - 1] = '\0';
	create_ok(s, &sub);
	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "filter-max", &got), 0);
	assert_int_equal(strlen(got.filter), SX_FILTER_TEXT_MAX - 1);
	sub = sub_new(v, "filter-over");
	memset(sub.filter, 'f', SX_FILTER_TEXT_MAX);
	create_refused(s, &sub, SX_EINVAL);

	/* Position >= 1, windows >= 1, bytes within SQLite's integers. */
	sub = sub_new(v, "pos0");
	sub.position = 0;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "posneg");
	sub.position = -1;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "wc0");
	sub.window_count = 0;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "wc1");
	sub.window_count = 1;
	sub.window_bytes = 1;
	create_ok(s, &sub);
	sub = sub_new(v, "wb0");
	sub.window_bytes = 0;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(v, "wbover");
	sub.window_bytes = (uint64_t)INT64_MAX + 1;
	create_refused(s, &sub, SX_EINVAL);

	/* A creation time and a member that exists. */
	sub = sub_new(v, "t0");
	sub.created_ms = 0;
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(0, "nomember");
	create_refused(s, &sub, SX_EINVAL);
	sub = sub_new(9999, "nomember");
	create_refused(s, &sub, SX_EINVAL);

	assert_int_equal(ts_count(s, "SELECT count(*) FROM subscriptions"), 9);
	/* The schema holds the same line without the C checks. */
	assert_int_not_equal(sqlite3_exec(s->db, "INSERT INTO subscriptions (member, name, feed, "
					  "position, window_count, window_bytes, created_ms) "
					  "VALUES (1, 'a b', 1, 1, 1, 1, 1)", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(s->db, "INSERT INTO subscriptions (member, name, feed, "
					  "position, window_count, window_bytes, created_ms) "
					  "VALUES (1, 'ok', 5, 1, 1, 1, 1)", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(s->db, "INSERT INTO subscriptions (member, name, feed, "
					  "position, window_count, window_bytes, created_ms) "
					  "VALUES (1, 'ok', 1, 0, 1, 1, 1)", NULL, NULL, NULL),
			     SQLITE_OK);
	sx_store_close(s);
}

static void test_reset(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a"), b = sub_new(v, "b");
	create_ok(s, &a);
	create_ok(s, &b);
	for (int64_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(sx_store_pending_put(s, a.id, seq, 1, TS_NOW), 0);
		assert_int_equal(sx_store_pending_put(s, b.id, seq, 1, TS_NOW), 0);
	}
	assert_int_equal(sx_store_pending_park(s, a.id, 2, 5, "poison", TS_NOW), 0);
	assert_int_equal(sx_store_sub_advance(s, a.id, 4), 0);

	struct sx_sub r = a;
	r.feed = 3;
	snprintf(r.filter, sizeof r.filter, "flags=1");
	r.position = 2;   /* a reset may move back: it is explicit */
	r.window_count = 7;
	r.window_bytes = 4096;
	snprintf(r.name, sizeof r.name, "ignored");
	assert_int_equal(sx_store_sub_reset(s, &r, TS_NOW + 5), 0);

	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.feed, 3);
	assert_string_equal(got.filter, "flags=1");
	assert_int_equal(got.position, 2);
	assert_int_equal(got.window_count, 7);
	assert_int_equal(got.window_bytes, 4096);
	assert_int_equal(got.created_ms, TS_NOW);
	assert_int_equal(got.reset_ms, TS_NOW + 5);
	assert_int_equal(pending(s, a.id, 0).n, 0);
	assert_int_equal(pending(s, a.id, 1).n, 0);
	/* The other subscription keeps its rows. */
	assert_int_equal(pending(s, b.id, 0).n, 3);

	/* Refusals change nothing. */
	r.feed = 0;
	assert_int_equal(sx_store_sub_reset(s, &r, TS_NOW + 6), SX_EINVAL);
	r.feed = 1;
	r.position = 0;
	assert_int_equal(sx_store_sub_reset(s, &r, TS_NOW + 6), SX_EINVAL);
	r.position = 1;
	assert_int_equal(sx_store_sub_reset(s, &r, 0), SX_EINVAL);
	r.id = 9999;
	assert_int_equal(sx_store_sub_reset(s, &r, TS_NOW + 6), SX_ENOTFOUND);
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.reset_ms, TS_NOW + 5);
	assert_int_equal(got.feed, 3);
	sx_store_close(s);
}

static void test_advance(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	struct sx_sub got;
	assert_int_equal(sx_store_sub_advance(s, a.id, 10), 0);
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.position, 10);
	assert_int_equal(sx_store_sub_advance(s, a.id, 9), 0);   /* never back */
	assert_int_equal(sx_store_sub_advance(s, a.id, 0), 0);
	assert_int_equal(sx_store_sub_advance(s, a.id, INT64_MIN), 0);
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.position, 10);
	assert_int_equal(sx_store_sub_advance(s, a.id, 10), 0);
	assert_int_equal(sx_store_sub_advance(s, a.id, 11), 0);
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.position, 11);
	assert_int_equal(sx_store_sub_advance(s, 9999, 12), SX_ENOTFOUND);
	sx_store_close(s);
}

struct subs {
	size_t n;
	char names[T_MANY][SX_SUB_NAME_MAX];
	int64_t members[T_MANY];
	int stop_at;
};

static int collect_sub(void *ctx, const struct sx_sub *sub)
{
	struct subs *r = ctx;
	assert_true(r->n < T_MANY);
	snprintf(r->names[r->n], sizeof r->names[r->n], "%s", sub->name);
	r->members[r->n] = sub->member;
	r->n++;
	return r->stop_at > 0 && (int)r->n == r->stop_at ? 42 : 0;
}

static void test_sub_each(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	int64_t w = ts_member(s, "vendor2", SX_ROLE_VENDOR, 2);
	static const char *const names[] = { "zeta", "alpha", "Mid" };
	for (size_t i = 0; i < 3; i++) {
		struct sx_sub a = sub_new(w, names[i]);
		create_ok(s, &a);
		a = sub_new(v, names[i]);
		create_ok(s, &a);
	}
	struct subs r;
	memset(&r, 0, sizeof r);
	assert_int_equal(sx_store_sub_each(s, 0, collect_sub, &r), 0);
	assert_int_equal(r.n, 6);
	/* (member, name) order, names in byte order. */
	assert_int_equal(r.members[0], v);
	assert_string_equal(r.names[0], "Mid");
	assert_string_equal(r.names[1], "alpha");
	assert_string_equal(r.names[2], "zeta");
	assert_int_equal(r.members[3], w);
	assert_string_equal(r.names[3], "Mid");

	memset(&r, 0, sizeof r);
	assert_int_equal(sx_store_sub_each(s, w, collect_sub, &r), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.members[2], w);
	assert_string_equal(r.names[2], "zeta");

	memset(&r, 0, sizeof r);
	r.stop_at = 2;
	assert_int_equal(sx_store_sub_each(s, 0, collect_sub, &r), 42);
	assert_int_equal(r.n, 2);

	memset(&r, 0, sizeof r);
	assert_int_equal(sx_store_sub_each(s, 9999, collect_sub, &r), 0);
	assert_int_equal(r.n, 0);
	sx_store_close(s);
}

/* --- pending rows ----------------------------------------------------------- */

static void test_pending_put_ack(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	char id1[SX_REPORT_ID_LEN + 1];
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, id1), 1);

	/* Out of order in, seq order out. */
	static const int64_t seqs[] = { 5, 1, 4, 2, 3 };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(sx_store_pending_put(s, a.id, seqs[i], 1, TS_NOW + seqs[i]), 0);
	struct rows r = pending(s, a.id, 0);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(r.p[i].seq, (int64_t)i + 1);
		assert_int_equal(r.p[i].deliveries, 1);
		assert_int_equal(r.p[i].due_ms, TS_NOW + (int64_t)i + 1);
		assert_int_equal(r.p[i].parked, 0);
		assert_int_equal(r.p[i].parked_ms, 0);
		assert_string_equal(r.p[i].reason, "");
	}
	/* report_id from the report; "" where there is none (purged). */
	assert_string_equal(r.p[0].report_id, id1);
	assert_string_equal(r.p[1].report_id, "");

	/* A second delivery updates the row. */
	assert_int_equal(sx_store_pending_put(s, a.id, 3, UINT32_MAX, TS_NOW + 100), 0);
	r = pending(s, a.id, 0);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.p[2].deliveries, UINT32_MAX);
	assert_int_equal(r.p[2].due_ms, TS_NOW + 100);

	/* Ranges are inclusive; acks are idempotent. */
	int64_t removed = -1;
	assert_int_equal(sx_store_pending_ack(s, a.id, 2, 3, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(sx_store_pending_ack(s, a.id, 2, 3, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(sx_store_pending_ack(s, a.id, 5, 4, &removed), 0);   /* empty */
	assert_int_equal(removed, 0);
	assert_int_equal(sx_store_pending_ack(s, a.id, 5, 5, NULL), 0);
	r = pending(s, a.id, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.p[0].seq, 1);
	assert_int_equal(r.p[1].seq, 4);
	/* Another subscription's ack touches nothing here. */
	assert_int_equal(sx_store_pending_ack(s, a.id + 1, 1, INT64_MAX, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(sx_store_pending_ack(s, a.id, INT64_MIN, INT64_MAX, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(pending(s, a.id, 0).n, 0);

	/* Refusals. */
	assert_int_equal(sx_store_pending_put(s, a.id, 0, 1, TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_pending_put(s, 9999, 1, 1, TS_NOW), SX_ENOTFOUND);
	assert_int_equal(sx_store_pending_put(s, a.id, 1, 1, TS_NOW), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending"), 1);
	sx_store_close(s);
}

static void test_park_replay(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	for (int64_t seq = 1; seq <= 5; seq++)
		assert_int_equal(sx_store_pending_put(s, a.id, seq, 3, TS_NOW), 0);

	/* Park an existing row and one never put. */
	assert_int_equal(sx_store_pending_park(s, a.id, 2, 8, "bad mail", TS_NOW + 1), 0);
	assert_int_equal(sx_store_pending_park(s, a.id, 9, 1, NULL, TS_NOW + 2), 0);
	/* A later delivery record does not unpark. */
	assert_int_equal(sx_store_pending_put(s, a.id, 2, 9, TS_NOW + 50), 0);
	/* Acks do not remove parked rows. */
	int64_t removed = -1;
	assert_int_equal(sx_store_pending_ack(s, a.id, 1, 10, &removed), 0);
	assert_int_equal(removed, 4);
	struct rows r = pending(s, a.id, 1);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.p[0].seq, 2);
	assert_int_equal(r.p[0].parked, 1);
	assert_int_equal(r.p[0].deliveries, 8);
	assert_int_equal(r.p[0].parked_ms, TS_NOW + 1);
	assert_string_equal(r.p[0].reason, "bad mail");
	assert_int_equal(r.p[1].seq, 9);
	assert_string_equal(r.p[1].reason, "");
	assert_int_equal(pending(s, a.id, 0).n, 0);

	/* Reasons are cut to fit, at a character boundary. */
	char reason[SX_PARK_REASON_MAX + 8];
	memset(reason, 'r', SX_PARK_REASON_MAX - 1);
	reason[SX_PARK_REASON_MAX - 1] = '\0';
	assert_int_equal(sx_store_pending_park(s, a.id, 10, 1, reason, TS_NOW), 0);
	memset(reason, 'r', SX_PARK_REASON_MAX + 4);
	reason[SX_PARK_REASON_MAX + 4] = '\0';
	assert_int_equal(sx_store_pending_park(s, a.id, 11, 1, reason, TS_NOW), 0);
	memset(reason, 'r', SX_PARK_REASON_MAX - 2);
	memcpy(reason + SX_PARK_REASON_MAX - 2, "\xc3\xa9", 3);   /* é straddles the end */
	assert_int_equal(sx_store_pending_park(s, a.id, 12, 1, reason, TS_NOW), 0);
	r = pending(s, a.id, 1);
	assert_int_equal(r.n, 5);
	assert_int_equal(strlen(r.p[2].reason), SX_PARK_REASON_MAX - 1);
	assert_int_equal(strlen(r.p[3].reason), SX_PARK_REASON_MAX - 1);
	assert_int_equal(strlen(r.p[4].reason), SX_PARK_REASON_MAX - 2);

	/* Refusals. */
	assert_int_equal(sx_store_pending_park(s, a.id, 0, 1, "x", TS_NOW), SX_EINVAL);
	assert_int_equal(sx_store_pending_park(s, a.id, 3, 1, "x", 0), SX_EINVAL);
	assert_int_equal(sx_store_pending_park(s, 9999, 3, 1, "x", TS_NOW), SX_ENOTFOUND);

	/* Replay of chosen seqs: only the parked ones among them count. */
	int64_t count = -1;
	const int64_t pick[] = { 9, 3, 9999 };
	assert_int_equal(sx_store_pending_replay(s, a.id, pick, 3, TS_NOW + 7, &count), 0);
	assert_int_equal(count, 1);
	r = pending(s, a.id, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.p[0].seq, 9);
	assert_int_equal(r.p[0].deliveries, 0);
	assert_int_equal(r.p[0].due_ms, TS_NOW + 7);
	assert_int_equal(r.p[0].parked_ms, 0);
	assert_int_equal(pending(s, a.id, 1).n, 4);
	assert_int_equal(sx_store_pending_replay(s, a.id, NULL, 2, TS_NOW, &count), SX_EINVAL);

	/* Replay of all. */
	assert_int_equal(sx_store_pending_replay(s, a.id, NULL, 0, TS_NOW + 8, &count), 0);
	assert_int_equal(count, 4);
	assert_int_equal(pending(s, a.id, 1).n, 0);
	r = pending(s, a.id, 0);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < r.n; i++)
		assert_string_equal(r.p[i].reason, "");
	assert_int_equal(sx_store_pending_replay(s, a.id, NULL, 0, TS_NOW, NULL), 0);
	/* Replayed rows ack like any other. */
	assert_int_equal(sx_store_pending_ack(s, a.id, 1, 100, &removed), 0);
	assert_int_equal(removed, 5);
	sx_store_close(s);
}

/* The schema's cascade: deleting a subscription (no API does yet) takes its
 * pending rows along and leaves the others. */
static void test_cascade(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a"), b = sub_new(v, "b");
	create_ok(s, &a);
	create_ok(s, &b);
	assert_int_equal(sx_store_pending_put(s, a.id, 1, 1, TS_NOW), 0);
	assert_int_equal(sx_store_pending_park(s, a.id, 2, 1, "x", TS_NOW), 0);
	assert_int_equal(sx_store_pending_put(s, b.id, 1, 1, TS_NOW), 0);
	char sql[128];
	snprintf(sql, sizeof sql, "DELETE FROM subscriptions WHERE id = %lld", (long long)a.id);
	assert_int_equal(sqlite3_exec(s->db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending"), 1);
	assert_int_equal(pending(s, b.id, 0).n, 1);
	/* And a member with subscriptions cannot vanish under them. */
	assert_int_not_equal(sqlite3_exec(s->db, "DELETE FROM members", NULL, NULL, NULL),
			     SQLITE_OK);
	sx_store_close(s);
}

/* --- group commit ---------------------------------------------------------- */

static void test_batch(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	struct sx_store *other = ts_open(f, 0);

	/* Rolled back: none of it stays. */
	assert_int_equal(sx_store_batch_begin(s), 0);
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, NULL), 1);
	assert_int_equal(sx_store_pending_put(s, a.id, 1, 1, TS_NOW), 0);
	assert_int_equal(sx_store_sub_advance(s, a.id, 2), 0);
	struct sx_sub b = sub_new(v, "b");
	create_ok(s, &b);
	sx_store_batch_rollback(s);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM reports"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sub_pending"), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM subscriptions"), 1);
	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	assert_int_equal(got.position, 1);

	/* Committed together, and seen by others only then. */
	uint64_t dv0, dv1;
	assert_int_equal(sx_store_data_version(other, &dv0), 0);
	assert_int_equal(sx_store_batch_begin(s), 0);
	int64_t seq = ts_report(s, TS_NOW, 0, NULL, NULL);
	assert_int_equal(sx_store_pending_put(s, a.id, seq, 1, TS_NOW), 0);
	assert_int_equal(sx_store_sub_advance(s, a.id, seq + 1), 0);
	/* A failed write inside leaves the batch open and the writes before it. */
	struct sx_sub dup = sub_new(v, "a");
	assert_int_equal(sx_store_sub_create(s, &dup), SX_EEXIST);
	assert_int_equal(sx_store_pending_put(s, 9999, seq, 1, TS_NOW), SX_ENOTFOUND);
	assert_int_equal(sx_store_pending_park(s, a.id, seq + 1, 1, "later", TS_NOW), 0);
	assert_int_equal(ts_count(other, "SELECT count(*) FROM sub_pending"), 0);
	assert_int_equal(sx_store_data_version(other, &dv1), 0);
	assert_true(dv1 == dv0);
	assert_int_equal(sx_store_batch_commit(s), 0);
	assert_int_equal(sx_store_data_version(other, &dv1), 0);
	assert_true(dv1 != dv0);
	assert_int_equal(ts_count(other, "SELECT count(*) FROM sub_pending"), 2);
	assert_int_equal(ts_count(other, "SELECT count(*) FROM reports"), 1);
	assert_int_equal(sx_store_sub_get(other, v, "a", &got), 0);
	assert_int_equal(got.position, seq + 1);
	/* No purge inside a batch. */
	assert_int_equal(sx_store_batch_begin(s), 0);
	assert_int_equal(sx_store_purge(s, TS_NOW + 1, NULL), SX_EINVAL);
	assert_int_equal(sx_store_batch_commit(s), 0);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM reports"), 1);
	sx_store_close(other);
	sx_store_close(s);
}

static void test_readonly(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	sx_store_close(s);
	s = ts_open(f, SX_STORE_READONLY);
	struct sx_sub b = sub_new(v, "b");
	assert_int_equal(sx_store_sub_create(s, &b), SX_EPERM);
	assert_int_equal(sx_store_sub_advance(s, a.id, 5), SX_EPERM);
	assert_int_equal(sx_store_pending_put(s, a.id, 1, 1, TS_NOW), SX_EPERM);
	assert_int_equal(sx_store_purge(s, TS_NOW, NULL), SX_EPERM);
	struct sx_sub got;
	assert_int_equal(sx_store_sub_get(s, v, "a", &got), 0);
	sx_store_close(s);
}

/* --- migration ----------------------------------------------------------------- */

/* A version 2 database with members and reports gains the version 3 tables
 * on open, and keeps its data. */
static void test_migrates_v2(void **state)
{
	struct ts_fixture *f = *state;
	struct sx_store *s = ts_open(f, SX_STORE_CREATE);
	int64_t v = ts_member(s, "vendor1", SX_ROLE_VENDOR, 1);
	char id[SX_REPORT_ID_LEN + 1];
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, id), 1);
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, NULL), 2);
	/* Back to exactly what version 2 created. */
	assert_int_equal(sqlite3_exec(s->db, "DROP INDEX reports_operator_key; "
				      "DROP TABLE audit_checkpoints; DROP TABLE audit_nodes; DROP TABLE audit; "
				      "DROP TABLE notice_actions; DROP TABLE notices; "
				      "DROP TABLE sub_pending; DROP TABLE subscriptions; "
				      "DELETE FROM meta WHERE key = 'purged_through'; "
				      "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sx_store_close(s);

	/* Read-only cannot migrate. */
	struct sx_store *ro = NULL;
	assert_int_equal(sx_store_open(f->db, SX_STORE_READONLY, &ro, f->err, sizeof f->err),
			 SX_EDB);
	assert_null(ro);

	s = ts_open(f, 0);
	assert_int_equal(sx_store_schema_version(s), 5);
	assert_int_equal(ts_count(s, "PRAGMA user_version"), 5);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM sqlite_schema WHERE name IN "
				  "('subscriptions', 'sub_pending', 'sub_pending_parked', "
				  "'notices', 'notices_isp', 'notices_open', 'notice_actions', "
				  "'notice_actions_notice')"), 8);
	int64_t horizon = -1;
	assert_int_equal(sx_store_purged_through(s, &horizon), 0);
	assert_int_equal(horizon, 0);
	struct sx_report_row row;
	assert_int_equal(sx_store_report_get(s, id, &row), 0);
	assert_int_equal(row.seq, 1);
	struct sx_sub a = sub_new(v, "a");
	create_ok(s, &a);
	assert_int_equal(sx_store_pending_put(s, a.id, 2, 1, TS_NOW), 0);
	assert_int_equal(ts_report(s, TS_NOW, 0, NULL, NULL), 3);
	assert_int_equal(ts_count(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	sx_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_limits, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_reset, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_advance, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_sub_each, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_pending_put_ack, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_park_replay, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_cascade, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_batch, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_readonly, ts_setup, ts_teardown),
		cmocka_unit_test_setup_teardown(test_migrates_v2, ts_setup, ts_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
