/*
 * teststore.h: what the store's unit tests share: a database file in a fresh
 * temporary directory, members and reports made to order, raw SQL counts.
 */
#ifndef SX_TESTSTORE_H
#define SX_TESTSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "server/store.h"

#define TS_PATH_MAX 512
#define TS_ERR_MAX 256
#define TS_NOW 1764345600000LL   /* 2025-11-28T16:00:00Z */

struct ts_fixture {
	char dir[TS_PATH_MAX];
	char db[TS_PATH_MAX + 16];
	char err[TS_ERR_MAX];
};

/* cmocka setup and teardown: a fresh directory in $TMPDIR, removed after. */
int ts_setup(void **state);
int ts_teardown(void **state);
/* Opens f's database with flags, failing the test on an error. */
struct sx_store *ts_open(struct ts_fixture *f, int flags);
/* Adds a member (ISP members get 192.0.2.0/24) and returns its id. */
int64_t ts_member(struct sx_store *s, const char *name, enum sx_role role, uint8_t seed);
/* Adds a ready monitor report received at received_ms, attributed to isp
 * (0: none), whose mail contains marker (NULL: none); returns its seq and
 * copies its id into id when id is not NULL. */
int64_t ts_report(struct sx_store *s, int64_t received_ms, int64_t isp, const char *marker,
		  char *id);
/* The integer result of a one-row query on s's connection. */
int64_t ts_count(struct sx_store *s, const char *sql);

#endif
