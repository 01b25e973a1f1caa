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

/* ------------------------------------------------------------ reports */

#define SX_REPORT_ID_LEN 26      /* "r" + 25 lower-case base32 characters */
#define SX_CLIENT_ID_MAX 128     /* a submitter's own message id */

enum sx_report_state {
	SX_REPORT_READY = 0,        /* distributable (subject to policy) */
	SX_REPORT_QUARANTINED = 1,  /* stored for the operator, sent to no one */
};

/* What intake stores for one report; every pointer is borrowed. */
struct sx_report_new {
	int64_t received_ms;
	int source;                 /* enum sx_source_kind (mail/pipeline.h) */
	unsigned consent;           /* consent bits */
	int64_t submitter;          /* member id, 0 for sprexctl ingest */
	const char *client_msg_id;  /* idempotency key per submitter (0 too), or NULL */
	enum sx_report_state state;
	const char *reason;         /* quarantine reason or NULL */
	const char *source_ip;      /* text, or NULL when unknown */
	unsigned source_port;
	int64_t isp;                /* member id, 0 when none */
	unsigned flags;             /* violation flag bits */
	unsigned categories;        /* category bits */
	const char *evidence_json;  /* JSON array of the flags' evidence */
	const char *manifest_json;  /* JSON array of the redaction manifest */
	unsigned redactions;        /* identifiers removed */
	const char *subject;        /* decoded subject of the redacted mail, UTF-8 */
	const char *sha256;         /* hex of the stored mail */
	const uint8_t *mail;        /* the de-personalized mail */
	size_t mail_len;
};

/* A stored report's metadata (the mail is fetched separately). */
struct sx_report_row {
	int64_t seq;
	char id[SX_REPORT_ID_LEN + 1];
	int64_t received_ms;
	int source;
	unsigned consent;
	char submitter[SX_NAME_MAX];   /* "" for sprexctl ingest */
	char client_msg_id[SX_CLIENT_ID_MAX + 1];
	enum sx_report_state state;
	char reason[256];
	char source_ip[48];
	unsigned source_port;
	char isp[SX_NAME_MAX];         /* "" when none */
	int64_t isp_id;
	unsigned flags;
	unsigned categories;
	unsigned redactions;
	char subject[256];
	char sha256[65];
	size_t mail_len;
};

/*
 * Stores a report in its own transaction (or the caller's, see
 * sx_store_batch_begin) and assigns the next seq and a new report id. With
 * client_msg_id set (submitter 0: the operator's key), a second add of the
 * same pair stores nothing and returns the first one's seq and id with
 * *duplicate = 1.
 * A seq is never issued twice, not even after its report was deleted; an id
 * is "r" and 25 lower-case base32 characters (125 bits from RAND_bytes) and
 * never changes. reason is given exactly for quarantined reports, consent
 * only for public ones; mail_len > 0; text fields must fit sx_report_row.
 * Returns 0, SX_EBUSY (try again later), SX_EINVAL (reason in errmsg),
 * SX_EPERM (read-only), SX_EIO, SX_ENOMEM, SX_EDB. Inside a batch a failed
 * add leaves the batch open and the adds before it in place.
 */
int sx_store_report_add(struct sx_store *s, const struct sx_report_new *r, int64_t *seq,
			char id[SX_REPORT_ID_LEN + 1], int *duplicate);
/* Group commit: adds between begin and commit share one transaction (one
 * fsync); report adds, subscription and pending writes, notice records and
 * reads may run in between (not purge, member changes or another begin).
 * Returns as sx_store_tx_begin / commit; begin inside a batch is SX_EINVAL.
 * A batch whose transaction SQLite had to abort (I/O error, disk full)
 * fails every later add and the commit with SX_EDB: roll it back. */
int sx_store_batch_begin(struct sx_store *s);
/* A batch whose commit does not wait for the disk (synchronous = NORMAL in
 * WAL mode): atomic, and durable against a crash of the process, but the
 * last such commits may be lost to a power failure (until the next full
 * commit or checkpoint). For state whose loss only repeats work, such as
 * delivery positions under at-least-once; never for a commit a peer is told
 * about. The next batch or transaction is FULL again. It does not wait for
 * another writer's lock: SX_EBUSY at once, so that a caller on an event loop
 * tries again later instead of stalling. */
int sx_store_batch_begin_relaxed(struct sx_store *s);
int sx_store_batch_commit(struct sx_store *s);
/* Ends the batch, discarding its adds; no batch open is fine. */
void sx_store_batch_rollback(struct sx_store *s);
/* Looks a report up by id. Returns 0, SX_ENOTFOUND, SX_EBUSY or SX_EDB. */
int sx_store_report_get(struct sx_store *s, const char *id, struct sx_report_row *out);
/* Looks up the report a submitter stored under its client_msg_id (the
 * idempotency check before the pipeline runs); submitter 0 is the operator
 * (sprexctl ingest's keys). Returns 0, SX_ENOTFOUND, SX_EINVAL (a negative
 * submitter or no client id), SX_EBUSY or SX_EDB. */
int sx_store_report_by_client(struct sx_store *s, int64_t submitter, const char *client_msg_id,
			      struct sx_report_row *out);
/* Copies the stored mail of report id into a malloc'ed buffer (*mail, *len;
 * the caller frees). Returns 0 or SX_ENOTFOUND / SX_ENOMEM / SX_EDB. */
int sx_store_report_mail(struct sx_store *s, const char *id, uint8_t **mail, size_t *len);
/* Fetches the evidence and manifest JSON of report id:
 * *evidence and *manifest are malloc'ed NUL-terminated strings the caller
 * frees (both NULL on failure). Returns 0, SX_ENOTFOUND, SX_ENOMEM, SX_EDB. */
int sx_store_report_json(struct sx_store *s, const char *id, char **evidence, char **manifest);
/* Walks reports with seq > after in seq order, only those in state (or all
 * when state < 0), at most limit (0: no limit). fn returning non-zero stops
 * the walk and that value is returned; fn must not walk reports again
 * (SX_EINVAL), it may look reports up. */
typedef int (*sx_report_fn)(void *ctx, const struct sx_report_row *r);
int sx_store_report_each(struct sx_store *s, int64_t after, int state, size_t limit,
			 sx_report_fn fn, void *ctx);
/* Highest seq stored, 0 when none. Returns 0 or SX_EBUSY / SX_EDB. */
int sx_store_head_seq(struct sx_store *s, int64_t *seq);
/* The first seq received at or after t_ms, or head + 1 when none (a
 * subscription starting "from time" resolves it once). head is the highest
 * seq ever issued, so after a purge of every report it is still the next seq
 * to come. 0, SX_EBUSY, SX_EDB. */
int sx_store_seq_at_time(struct sx_store *s, int64_t t_ms, int64_t *seq);
/* Non-zero when id has the form of a report id (SX_REPORT_ID_LEN). */
int sx_report_id_ok(const char *id);
/* Name of a report state as printed: "ready", "quarantined". */
const char *sx_report_state_name(enum sx_report_state st);

/* ------------------------------------------------------------ subscriptions
 *
 * A durable subscription is keyed by (member, name). Its delivery state is
 * position (the next seq not yet considered: every report below it was
 * delivered or did not match) plus one pending row per delivered, unacked or
 * parked report. Acked = below position and not pending. The server keeps
 * the live state in memory and writes it through these calls, grouped in
 * sx_store_batch_begin .. commit (one fsync per loop iteration).
 */

#define SX_SUB_NAME_MAX 64        /* [A-Za-z0-9._-], 1..63 bytes */
#define SX_FILTER_TEXT_MAX 512    /* canonical filter text (server/filter.h) */
#define SX_PARK_REASON_MAX 128

struct sx_sub {
	int64_t id;                   /* assigned by sx_store_sub_create */
	int64_t member;               /* member id */
	char name[SX_SUB_NAME_MAX];
	int feed;                     /* enum sx_feed (authz.h) */
	char filter[SX_FILTER_TEXT_MAX]; /* canonical text, "" = no narrowing */
	int64_t position;             /* next seq to consider, >= 1 */
	uint32_t window_count;
	uint64_t window_bytes;
	int64_t created_ms;
	int64_t reset_ms;             /* last explicit reset, 0 if never */
};

/* Looks up (member, name). 0, SX_ENOTFOUND, SX_EBUSY, SX_EDB. */
int sx_store_sub_get(struct sx_store *s, int64_t member, const char *name, struct sx_sub *out);
/* Creates sub (id ignored on input, set on success; created_ms must be > 0).
 * Returns 0, SX_EEXIST (the member has one of that name), SX_EINVAL (bad
 * name, feed, window, filter length, position, creation time, or no such
 * member; reason in errmsg), SX_EBUSY, SX_EDB. Windows are 1.., bytes at most
 * INT64_MAX. */
int sx_store_sub_create(struct sx_store *s, struct sx_sub *sub);
/* The explicit reset: replaces feed, filter, position and windows of sub->id
 * with sub's, sets reset_ms, and drops every pending and parked row. Returns
 * 0, SX_ENOTFOUND, SX_EINVAL, SX_EBUSY, SX_EDB. */
int sx_store_sub_reset(struct sx_store *s, const struct sx_sub *sub, int64_t now_ms);
/* Moves the position of subscription id forward to position (never back:
 * a smaller value is ignored). 0, SX_ENOTFOUND, SX_EBUSY, SX_EDB. */
int sx_store_sub_advance(struct sx_store *s, int64_t id, int64_t position);
/* Calls fn for each subscription of member (every member when member is 0)
 * in (member, name) order; stops as sx_store_member_each. */
typedef int (*sx_sub_fn)(void *ctx, const struct sx_sub *sub);
int sx_store_sub_each(struct sx_store *s, int64_t member, sx_sub_fn fn, void *ctx);

struct sx_pending {
	int64_t seq;
	uint32_t deliveries;          /* times sent so far */
	int64_t due_ms;               /* redeliver at (unparked rows) */
	int parked;
	int64_t parked_ms;            /* 0 unless parked */
	char reason[SX_PARK_REASON_MAX]; /* why parked, "" otherwise */
	char report_id[SX_REPORT_ID_LEN + 1]; /* "" when the report was purged */
};

/* Records a delivery of seq on subscription sub: inserts the pending row or
 * updates deliveries and due_ms of an unparked one. 0, SX_EBUSY, SX_EDB;
 * SX_ENOTFOUND when there is no subscription sub, SX_EINVAL for seq < 1. */
int sx_store_pending_put(struct sx_store *s, int64_t sub, int64_t seq, uint32_t deliveries,
			 int64_t due_ms);
/* Acks first..last (inclusive): deletes the unparked pending rows in the
 * range; *removed (may be NULL) says how many. Idempotent. 0, SX_EBUSY, SX_EDB. */
int sx_store_pending_ack(struct sx_store *s, int64_t sub, int64_t first, int64_t last,
			 int64_t *removed);
/* Parks seq (inserting the row if needed) with reason (truncated to fit,
 * at a UTF-8 character boundary; NULL is ""). now_ms > 0. 0, SX_EBUSY,
 * SX_EDB; SX_ENOTFOUND (no subscription sub), SX_EINVAL (seq < 1, now_ms). */
int sx_store_pending_park(struct sx_store *s, int64_t sub, int64_t seq, uint32_t deliveries,
			  const char *reason, int64_t now_ms);
/* Unparks the parked rows of sub (only seqs[0..n) when n > 0): deliveries 0,
 * due now. *count (may be NULL) is how many. 0, SX_EBUSY, SX_EDB. */
int sx_store_pending_replay(struct sx_store *s, int64_t sub, const int64_t *seqs, size_t n,
			    int64_t now_ms, int64_t *count);
/* Calls fn for the pending rows of sub in seq order: parked ones when
 * parked != 0, else the unparked ones; report_id filled from reports. */
typedef int (*sx_pending_fn)(void *ctx, const struct sx_pending *p);
int sx_store_pending_each(struct sx_store *s, int64_t sub, int parked, sx_pending_fn fn,
			  void *ctx);

/* ------------------------------------------------------------ notices */

/* Records that report seq was delivered to ISP member isp on the notices
 * feed (the first delivery only; later ones change nothing; a seq no longer
 * stored, purged meanwhile, records nothing). 0, SX_EBUSY, SX_EDB; SX_EINVAL
 * for no such member or a seq, isp or now_ms below 1. */
int sx_store_notice_sent(struct sx_store *s, int64_t seq, int64_t isp, int64_t now_ms);
/* Records an action of isp on report id. SX_ENOTFOUND when that report was
 * never sent to isp on the notices feed (or is gone). action is 1..6 (the
 * wire's NoticeActionKind), note at most 1024 bytes (SX_EINVAL otherwise).
 * 0, SX_ENOTFOUND, SX_EINVAL, SX_EBUSY, SX_EDB. */
int sx_store_notice_action(struct sx_store *s, const char *report_id, int64_t isp, int action,
			   const char *note, int64_t now_ms);

struct sx_notice_row {
	char report_id[SX_REPORT_ID_LEN + 1];
	int64_t seq;
	char isp[SX_NAME_MAX];
	int64_t sent_ms;
	int action;                   /* latest action, 0 when none */
	int64_t action_ms;
	char note[256];               /* latest action's note, truncated */
	unsigned actions;             /* how many actions recorded */
};
/* Calls fn for each notice in seq order, only those of ISP member isp when
 * isp != 0, only those without any action when open_only. */
typedef int (*sx_notice_fn)(void *ctx, const struct sx_notice_row *n);
int sx_store_notice_each(struct sx_store *s, int64_t isp, int open_only, sx_notice_fn fn,
			 void *ctx);

/* ------------------------------------------------------------ retention */

/* Deletes, securely, every report with seq <= X where X is the highest seq
 * received before before_ms (so purged seqs are always a prefix), with
 * their parked rows and their notices (and the notices' actions). Unacked
 * pending rows stay, their report_id reading "", so that the server can tell
 * the subscription what it lost (Gap). Records X as the purge horizon, then checkpoints the WAL
 * (TRUNCATE) after the commit. *count (may be NULL) gets the reports
 * deleted. 0, SX_EBUSY, SX_EDB, SX_EIO, SX_EPERM (read-only), SX_EINVAL
 * (inside a batch). SX_EBUSY with *count set (and the horizon moved) means
 * the purge committed but a reader kept the WAL from being emptied: purge
 * again later to finish (a purge with nothing to delete still checkpoints). */
int sx_store_purge(struct sx_store *s, int64_t before_ms, int64_t *count);
/* The purge horizon: every seq <= *seq is gone (0: nothing purged yet). */
int sx_store_purged_through(struct sx_store *s, int64_t *seq);

/* ------------------------------------------------------------ delivery reads */

struct sx_manifest_item {
	char part[32];
	char where[64];
	char kind[16];
	char encoding[24];
	unsigned count;
	uint64_t offset, length;
};

struct sx_evidence_item {
	char flag[16];                /* "" for a category's evidence */
	char check[40];
	char where[64];
	char detail[160];
	char article[48];
};

/* A report as a delivery needs it. Filled by sx_store_report_full; release
 * with sx_report_full_finish. */
struct sx_report_full {
	struct sx_report_row row;
	uint8_t *mail;                /* malloc'ed, mail_len bytes */
	size_t mail_len;
	struct sx_manifest_item *manifest; /* malloc'ed */
	size_t nmanifest;
	struct sx_evidence_item *evidence; /* malloc'ed */
	size_t nevidence;
};

/* Loads report id whole: metadata, mail, manifest and evidence (decoded from
 * their stored JSON by SQLite). Returns 0, SX_ENOTFOUND, SX_ENOMEM, SX_EBUSY
 * or SX_EDB; on failure out holds nothing to free. */
int sx_store_report_full(struct sx_store *s, const char *id, struct sx_report_full *out);
/* Walks ready (distributable) reports with seq < before in descending seq
 * order, at most limit; fn as for sx_store_report_each. */
int sx_store_report_before(struct sx_store *s, int64_t before, size_t limit, sx_report_fn fn,
			   void *ctx);
/* Frees what sx_store_report_full allocated; a zeroed struct is fine. */
void sx_report_full_finish(struct sx_report_full *f);

/* Role names as used on the command line and in docs. */
const char *sx_role_name(enum sx_role r);
/* Parses a role name; returns SX_ROLE_NONE when unknown. */
enum sx_role sx_role_parse(const char *s);
const char *sx_member_state_name(enum sx_member_state st);
/* Non-zero when name is a valid member name. */
int sx_member_name_ok(const char *name);

/* ------------------------------------------------------------ audit
 *
 * The audit log (DESIGN section 4, docs/audit.md): one record per event,
 * appended in the same transaction as the change it records, as the leaves
 * of an RFC 9162 Merkle tree. Records, interior nodes and checkpoints cannot
 * be updated or deleted through SQL (triggers). No record holds mail content
 * or a reporter's identifier: callers put report ids, seqs, subscription
 * names and reasons in object and outcome, never addresses or text of mail.
 */

#define SX_AUDIT_EVENT_MAX 24     /* event kind, e.g. "deliver" */
#define SX_AUDIT_SPKI_MAX 65      /* lower-case hex SHA-256, or "" */
#define SX_AUDIT_PEER_MAX 64      /* "192.0.2.1:4711", "[2001:db8::1]:4711" */
#define SX_AUDIT_OBJECT_MAX 256   /* "report=r... seq=12 sub=main" */
#define SX_AUDIT_OUTCOME_MAX 256  /* "ok", "refused: unknown key", ... */
#define SX_AUDIT_USER_MAX 64      /* operating-system user of an operator command */
#define SX_AUDIT_HASH 32
#define SX_AUDIT_NOTE_MAX 1024    /* a signed checkpoint note */
#define SX_AUDIT_PROOF_MAX 65     /* hashes in the longest proof */

/*
 * One audit record. Every text field is NUL-terminated within its array and
 * holds no control character (bytes below 0x20 and 0x7f); empty means "not
 * applicable". event is one of the kinds of sx_audit_event_ok: connect,
 * auth-fail, subscribe, attach, reset, deliver, ack, nak, park, gap, replay,
 * submit, notice-action, operator, purge, quarantine, audit-query,
 * checkpoint.
 */
struct sx_audit_rec {
	int64_t leaf_index;               /* set by reads; ignored by append */
	int64_t time_ms;                  /* UTC milliseconds, > 0 */
	char event[SX_AUDIT_EVENT_MAX];
	char member[SX_NAME_MAX];
	char spki[SX_AUDIT_SPKI_MAX];
	char peer[SX_AUDIT_PEER_MAX];
	char object[SX_AUDIT_OBJECT_MAX];
	char outcome[SX_AUDIT_OUTCOME_MAX];
	char os_user[SX_AUDIT_USER_MAX];
};

/* Non-zero when kind is a known event kind. */
int sx_audit_event_ok(const char *kind);

/*
 * Longest canonical encoding of a record (the leaf data hashed into the
 * tree): "SXA1", the time as 8 bytes big-endian, then each of event,
 * member, spki, peer, object, outcome, os_user as a 4-byte big-endian length
 * and its bytes (docs/audit.md).
 */
#define SX_AUDIT_LEAF_MAX (4 + 8 + 7 * 4 + SX_AUDIT_EVENT_MAX + SX_NAME_MAX + SX_AUDIT_SPKI_MAX + \
			   SX_AUDIT_PEER_MAX + SX_AUDIT_OBJECT_MAX + SX_AUDIT_OUTCOME_MAX + \
			   SX_AUDIT_USER_MAX)
/* Encodes r canonically into out (SX_AUDIT_LEAF_MAX bytes); returns the
 * length, or 0 when r is not valid (a field unterminated, a control
 * character, an unknown event, time_ms < 1). */
size_t sx_audit_encode(const struct sx_audit_rec *r, uint8_t out[SX_AUDIT_LEAF_MAX]);
/* The leaf hash of r: SHA-256(0x00 || encoding). 0 or SX_EINVAL. */
int sx_audit_leaf_hash(const struct sx_audit_rec *r, uint8_t out[SX_AUDIT_HASH]);
/* Writes the SPKI fingerprint as lower-case hex into out. */
void sx_audit_spki_hex(const uint8_t spki[SX_SPKI_LEN], char out[SX_AUDIT_SPKI_MAX]);

/*
 * Appends r as the next leaf, with the interior nodes it completes, in its
 * own transaction or inside the caller's batch (sx_store_batch_begin), so
 * that the record commits exactly with the change it records. Call it
 * once per event, after the change's own store calls and before the batch
 * commit. Returns 0, SX_EINVAL (r not valid; reason in errmsg), SX_EPERM
 * (read-only), SX_EBUSY, SX_EDB.
 */
int sx_store_audit_append(struct sx_store *s, const struct sx_audit_rec *r);
/* Appends v[0..n) in order as one write (all or none), with the interior
 * nodes they complete computed from an in-memory right edge: the cheap way
 * for many records at once. Returns as sx_store_audit_append. */
int sx_store_audit_append_many(struct sx_store *s, const struct sx_audit_rec *v, size_t n);

/*
 * Operator commands: stages r (event "operator") to be appended in the
 * transaction of the next commit on s (a write of its own, a member change,
 * a batch commit, a purge), so that the command and its record commit
 * together; only once. Returns 0 or SX_EINVAL / SX_ENOMEM. A second call
 * replaces a record not yet written.
 */
int sx_store_audit_operator(struct sx_store *s, const struct sx_audit_rec *r);
/* Writes the staged operator record in a transaction of its own if no commit
 * took it (a command that changed nothing or failed), with outcome (NULL:
 * keep). Nothing staged: 0. Returns as sx_store_audit_append. */
int sx_store_audit_operator_flush(struct sx_store *s, const char *outcome);

/* Leaves in the log (the tree size). 0, SX_EBUSY, SX_EDB. */
int sx_store_audit_size(struct sx_store *s, int64_t *size);
/* Root of the first size leaves (size <= the tree size, else SX_EINVAL),
 * from the stored nodes. 0, SX_EINVAL, SX_EDB (a node missing). */
int sx_store_audit_root(struct sx_store *s, int64_t size, uint8_t root[SX_AUDIT_HASH]);
/* Inclusion proof of leaf index in the tree of size leaves: *n hashes of
 * SX_AUDIT_HASH bytes into proof (room for SX_AUDIT_PROOF_MAX). */
int sx_store_audit_inclusion(struct sx_store *s, int64_t index, int64_t size, uint8_t *proof,
			     size_t *n);
/* Consistency proof from size1 to size2 leaves (size1 <= size2 <= size). */
int sx_store_audit_consistency(struct sx_store *s, int64_t size1, int64_t size2, uint8_t *proof,
			       size_t *n);
/* The record at leaf index, with its stored leaf hash. 0, SX_ENOTFOUND, SX_EDB. */
int sx_store_audit_get(struct sx_store *s, int64_t index, struct sx_audit_rec *out,
		       uint8_t leaf_hash[SX_AUDIT_HASH]);

/* Filters of an export walk; zero values do not filter. */
struct sx_audit_filter {
	int64_t since_ms;             /* time_ms >= since_ms */
	int64_t until_ms;             /* time_ms < until_ms */
	int64_t after;                /* leaf_index >= after */
	const char *member;           /* exact member name */
	const char *event;            /* exact event kind */
	size_t limit;                 /* at most this many records */
};
/* Calls fn for each record matching f in leaf order (the stored leaf hash
 * with it); fn returning non-zero stops and that value is returned. fn must
 * not walk the log again (SX_EINVAL); it may append. */
typedef int (*sx_audit_fn)(void *ctx, const struct sx_audit_rec *r,
			   const uint8_t leaf_hash[SX_AUDIT_HASH]);
int sx_store_audit_each(struct sx_store *s, const struct sx_audit_filter *f, sx_audit_fn fn,
			void *ctx);

/*
 * Recomputes the whole tree: every leaf hash from its record, every stored
 * node from its children, leaf indexes without gaps, no node missing or
 * extra. Calls problem(ctx, text) once per finding (e.g. "leaf 17: stored
 * hash does not match the record"), at most SX_AUDIT_PROBLEMS_MAX times, and
 * sets *problems to their number (counting past the cap) and *size to the
 * leaves seen, all in one read transaction. Returns 0 (problems or not), a
 * database error, or SX_EINVAL inside a batch.
 */
#define SX_AUDIT_PROBLEMS_MAX 100
typedef void (*sx_audit_problem_fn)(void *ctx, const char *text);
int sx_store_audit_check(struct sx_store *s, sx_audit_problem_fn problem, void *ctx,
			 int64_t *size, int64_t *problems);

struct sx_audit_checkpoint {
	int64_t id;                   /* order of writing */
	int64_t tree_size;
	uint8_t root[SX_AUDIT_HASH];
	int64_t time_ms;
	char note[SX_AUDIT_NOTE_MAX]; /* the signed note as published */
};
/*
 * Produces a checkpoint if the tree grew since the last one: in one write
 * transaction reads the size and root, calls sign(ctx, cp) to fill cp->note
 * (tree_size, root, time_ms set), and stores cp. Returns 0 with *out set,
 * SX_EAGAIN when the tree did not grow (nothing written; an empty tree never
 * gets a checkpoint), sign's error, or a store error.
 */
typedef int (*sx_audit_sign_fn)(void *ctx, struct sx_audit_checkpoint *cp);
int sx_store_audit_checkpoint_new(struct sx_store *s, int64_t now_ms, sx_audit_sign_fn sign,
				  void *ctx, struct sx_audit_checkpoint *out);
/* The latest checkpoint stored. 0, SX_ENOTFOUND, SX_EDB. */
int sx_store_audit_checkpoint_last(struct sx_store *s, struct sx_audit_checkpoint *out);
/* Calls fn for each stored checkpoint, oldest first; stops as the others. */
typedef int (*sx_audit_cp_fn)(void *ctx, const struct sx_audit_checkpoint *cp);
int sx_store_audit_checkpoint_each(struct sx_store *s, sx_audit_cp_fn fn, void *ctx);
/* The log's origin (checkpoint first line, key name), set once at init:
 * "sprex.<name>/audit". get: 0 or SX_ENOTFOUND; set: SX_EEXIST when set. */
int sx_store_audit_origin(struct sx_store *s, char *out, size_t outlen);
int sx_store_audit_set_origin(struct sx_store *s, const char *origin);

#endif
