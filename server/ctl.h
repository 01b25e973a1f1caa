/*
 * ctl.h: what sprexctl's command files (ctl_*.c) share with its main.
 *
 * A command file exports a table of commands, ended by an entry whose name is
 * NULL, and sprexctl.c lists the tables. A command prints its results on
 * stdout, reports a failure as one line "sprexctl: ..." on stderr (sx_ctl_fail)
 * and returns a sysexits(3) status.
 */
#ifndef SX_CTL_H
#define SX_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#include "store.h"

/* Where the database is when neither --db nor $SPREX_DB says. */
#define SX_CTL_DB_DEFAULT "/var/lib/sprex/sprex.db"
#define SX_CTL_DB_ENV "SPREX_DB"

struct sx_srvconf;

struct sx_ctl {
	/* database path: --db, else the db of --config, else $SPREX_DB, else
	 * the default */
	const char *db;
	/* sprexd's configuration (--config), loaded by main; NULL without it */
	const struct sx_srvconf *conf;
	const char *conf_path;
};

struct sx_ctl_cmd {
	const char *name;    /* the word after the global options, e.g. "member" */
	const char *usage;   /* its lines for --help: "  synopsis   what it does\n"... */
	/* argv[0] is name. Returns an exit status. */
	int (*run)(const struct sx_ctl *ctl, int argc, char **argv);
};

/* Command tables (ctl_member.c, ...). */
extern const struct sx_ctl_cmd sx_ctl_member_cmds[];
extern const struct sx_ctl_cmd sx_ctl_ingest_cmds[];
extern const struct sx_ctl_cmd sx_ctl_report_cmds[];
extern const struct sx_ctl_cmd sx_ctl_notice_cmds[];
extern const struct sx_ctl_cmd sx_ctl_stats_cmds[];
extern const struct sx_ctl_cmd sx_ctl_audit_cmds[];

/* sprexctl init's audit part (ctl_audit.c): creates the signing key next to
 * the database (or at the audit_key of --config) and sets the log's origin.
 * Returns an exit status. */
int sx_ctl_audit_init(const struct sx_ctl *ctl, struct sx_store *s);
/*
 * Stages the "operator" audit record of the running command on s (ctl_audit.c):
 * the OS user (getpwuid(geteuid())), the command and object given, outcome
 * "ok". It commits with the command's first change; call sx_ctl_audit_done
 * before closing s so a command that changed nothing is recorded too.
 */
void sx_ctl_audit_op(struct sx_store *s, const char *command, const char *object);
/* Writes the staged record if nothing took it, with outcome status (an exit
 * status: 0 "ok", else "failed (status N)"); not for EX_TEMPFAIL (a busy
 * database: nothing changed, and the record would wait for the same lock). */
void sx_ctl_audit_done(struct sx_store *s, int status);

/* A raw Ed25519 signature (SX_AUDIT_SIG_LEN of audit_sign.h). */
#define SX_CTL_SIG_LEN 64
/*
 * Signs data with the audit key (ctl_audit.c: the audit_key of --config,
 * else DB.audit-key): the detached raw Ed25519 signature that openssl
 * pkeyutl -verify -rawin checks. Returns 0, or reports the failure and
 * returns the exit status (66 no key, ...).
 */
int sx_ctl_audit_sign(const struct sx_ctl *ctl, const void *data, size_t len,
		      uint8_t sig[SX_CTL_SIG_LEN]);

/* Prints "sprexctl: <message>" on stderr and returns status. */
int sx_ctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Prepares getopt_long(3) for a new argv. Commands parse with an optstring
 * that starts with "-:" so that operands come back in order as code 1 (what
 * POSIXLY_CORRECT says does not matter) and a missing argument as ':'.
 */
void sx_ctl_getopt_reset(void);
/* Reports the option getopt_long just refused (c is '?' or ':') for command
 * cmd ("member add"; NULL for the global options). Returns EX_USAGE. */
int sx_ctl_badopt(const char *cmd, int c, char **argv);
/* Prints the usage lines of one command for its --help; returns EX_OK, or
 * EX_IOERR when stdout cannot be written. */
int sx_ctl_help(const char *usage);
/* Stores value for an option that may be given once; a second time is a
 * usage error (returns the exit status), else returns 0. */
int sx_ctl_once(const char *cmd, const char *opt, const char **slot, const char *value);
/* Reports a failed store call on stderr: data problems as the store words
 * them, the rest with the database they concern. Returns the exit status. */
int sx_ctl_store_fail(const struct sx_ctl *ctl, struct sx_store *s, int err);
/* Stores arg as the command's single operand; a second one is a usage error
 * (returns the exit status), else returns 0. */
int sx_ctl_operand(const char *cmd, const char **operand, const char *arg);
/* After getopt_long: takes the operands after "--" and checks that one was
 * given (named what). Returns -1 when *operand is set, else the exit status. */
int sx_ctl_operand_end(const char *cmd, const char *what, int argc, char **argv,
		       const char **operand);
/*
 * Parses "CMD OPERAND" where only --help is an option (operands after "--"
 * too). Returns -1 with *operand set, or the exit status to end with: help
 * printed, a missing operand (named what, e.g. "NAME"), an extra one.
 */
int sx_ctl_one_operand(const char *cmd, const char *usage, const char *what, int argc,
		       char **argv, const char **operand);
/* The exit status for an sx_err returned by a store or library call. */
int sx_ctl_status(int err);
/*
 * Opens the store at ctl->db (flags as sx_store_open). Returns 0 and *out, or
 * prints the reason and returns the exit status (66 missing, 73 cannot create,
 * 65 not a usable sprex database, 75 busy, ...). Close with sx_store_close.
 */
int sx_ctl_open(const struct sx_ctl *ctl, int flags, struct sx_store **out);
/* Milliseconds since the epoch, wall clock. */
int64_t sx_ctl_now_ms(void);

/* Room for an ISO 8601 UTC time "2026-11-28T16:18:54Z". */
#define SX_CTL_TIME 32
/* Writes ms as ISO 8601 UTC, or "-" when ms is 0 (not set). */
void sx_ctl_time(int64_t ms, char out[SX_CTL_TIME]);
/* Flushes stdout; returns EX_OK, or EX_IOERR after reporting the failure. */
int sx_ctl_flush(void);

#endif
