/*
 * store.h: everything sprex keeps durably, behind one interface.
 *
 * SQLite is the embedded backend (store_sqlite.c): WAL, synchronous=FULL,
 * secure_delete, foreign keys, versioned migrations, database and journal
 * files created 0600. A store handle is used by one thread.
 */
#ifndef SX_STORE_H
#define SX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "tlsctx.h"

struct sx_store;

enum sx_role {
	SX_ROLE_NONE = 0,
	SX_ROLE_VENDOR = 1,
	SX_ROLE_ISP = 2,
	SX_ROLE_ENFORCEMENT = 3,
	SX_ROLE_AUDITOR = 4,
	SX_ROLE_SUBMITTER = 5,
};

#define SX_NAME_MAX 64   /* member names: [A-Za-z0-9._-], 1..63 bytes */

enum sx_member_state {
	SX_MEMBER_ACTIVE = 0,
	SX_MEMBER_SUSPENDED = 1,
	SX_MEMBER_REMOVED = 2,   /* kept for the public registry's "until" */
};

struct sx_member {
	int64_t id;
	char name[SX_NAME_MAX];
	enum sx_role role;
	uint8_t spki[SX_SPKI_LEN];
	enum sx_member_state state;
	int64_t since_ms;         /* added */
	int64_t until_ms;         /* removed, or 0 */
};

enum sx_store_flags {
	SX_STORE_CREATE = 1,      /* create the file and the schema (sprexctl init) */
	SX_STORE_READONLY = 2,
};

/*
 * Opens the database at path. Without SX_STORE_CREATE the file must exist
 * and hold a sprex schema, which is migrated to the current version. With it,
 * an existing file is refused (SX_EEXIST). Returns 0 and *out, or SX_EDB /
 * SX_EIO / SX_EEXIST / SX_ENOTFOUND / SX_EPERM (file permissions) / SX_EBUSY /
 * SX_EINVAL with a one-line reason in err. SX_STORE_READONLY opens without
 * migrating (an older schema is refused) and mutations then give SX_EPERM.
 * Close with sx_store_close.
 */
int sx_store_open(const char *path, int flags, struct sx_store **out, char *err, size_t errlen);
/* Closes the database; NULL is fine. */
void sx_store_close(struct sx_store *s);
/* Schema version the file is at after open. */
int sx_store_schema_version(struct sx_store *s);
/* A one-line reason for the last failure of a call on s, e.g. "member x
 * already exists" (owned by s, valid until the next call). */
const char *sx_store_errmsg(struct sx_store *s);

/*
 * Returns a counter that changes whenever another connection committed to the
 * database (PRAGMA data_version), so a running server notices sprexctl's
 * changes without re-reading tables. Its own commits do not change it.
 * Returns 0 or SX_EDB.
 */
int sx_store_data_version(struct sx_store *s, uint64_t *out);

/* Member registry. Names are unique forever (a removed name is not reused);
 * a key (SPKI) belongs to at most one member that is not removed. */

/* Adds a member; prefixes only for SX_ROLE_ISP (else SX_EINVAL), canonical
 * (no bits set past len), a repeated one stored once. now_ms > 0. Returns 0,
 * SX_EEXIST (name or key taken), SX_EINVAL, SX_EBUSY, SX_EDB. */
int sx_store_member_add(struct sx_store *s, const char *name, enum sx_role role,
			const uint8_t spki[SX_SPKI_LEN], const struct sx_prefix *prefixes,
			size_t nprefixes, int64_t now_ms);
/* Sets a member active or suspended (the state it has already: no change).
 * Returns 0, SX_ENOTFOUND (no such member, or removed), SX_EINVAL (any other
 * state), SX_EBUSY, SX_EDB. */
int sx_store_member_set_state(struct sx_store *s, const char *name,
			      enum sx_member_state state, int64_t now_ms);
/* Marks a member removed (until = now) and drops its prefixes. Returns 0,
 * SX_ENOTFOUND (no such member, or already removed), SX_EBUSY, SX_EDB. */
int sx_store_member_remove(struct sx_store *s, const char *name, int64_t now_ms);
/* Looks a member up by name (removed ones included). 0, SX_ENOTFOUND or SX_EDB. */
int sx_store_member_get(struct sx_store *s, const char *name, struct sx_member *out);

/* Calls fn for each member in name order; fn returning non-zero stops the
 * walk and that value is returned. include_removed selects removed members.
 * fn must not walk the store again (SX_EINVAL); it may look members up. */
typedef int (*sx_member_fn)(void *ctx, const struct sx_member *m);
int sx_store_member_each(struct sx_store *s, int include_removed, sx_member_fn fn, void *ctx);

/* Calls fn for each prefix of each ISP member that is not removed (suspended
 * ones included), ordered by member id; stops as sx_store_member_each. */
typedef int (*sx_prefix_fn)(void *ctx, int64_t member_id, const struct sx_prefix *p);
int sx_store_prefix_each(struct sx_store *s, sx_prefix_fn fn, void *ctx);

/* Role names as used on the command line and in docs. */
const char *sx_role_name(enum sx_role r);
/* Parses a role name; returns SX_ROLE_NONE when unknown. */
enum sx_role sx_role_parse(const char *s);
const char *sx_member_state_name(enum sx_member_state st);
/* Non-zero when name is a valid member name. */
int sx_member_name_ok(const char *name);

#endif
