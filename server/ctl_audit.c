/*
 * ctl_audit.c: sprexctl audit verify | export | checkpoint | pubkey, the audit
 * part of init, and the operator records of sprexctl's commands.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit_sign.h"
#include "buf.h"
#include "csv.h"
#include "err.h"
#include "json.h"
#include "merkle.h"
#include "srvconf.h"

#define PATH_MAX_LEN 4096
#define ERR_MAX 512

#define AUDIT_USAGE \
	"  audit verify [--checkpoint FILE]... [--key FILE]\n" \
	"                          recompute every audit record, node and checkpoint;\n" \
	"                          with --checkpoint, prove the log extends FILE\n" \
	"  audit export [--since T] [--until T] [--member NAME] [--event KIND]\n" \
	"               [--format jsonl|csv]\n" \
	"                          print audit records (T: YYYY-MM-DD[THH:MM:SS[.mmm]Z])\n" \
	"  audit checkpoint [--sign]\n" \
	"                          print the latest signed checkpoint (--sign: sign a\n" \
	"                          new one first if the log grew)\n" \
	"  audit pubkey [--vkey]   print the audit public key (PEM; --vkey: the\n" \
	"                          signed-note verifier key)\n" \
	"  audit keygen            create the audit key and origin of a database made\n" \
	"                          before the audit log existed\n"

/* --- operator records ------------------------------------------------------ */

void sx_ctl_audit_op(struct sx_store *s, const char *command, const char *object)
{
	struct sx_audit_rec r;
	memset(&r, 0, sizeof r);
	r.time_ms = sx_ctl_now_ms();
	snprintf(r.event, sizeof r.event, "operator");
	struct passwd *pw = getpwuid(geteuid());
	if (pw != NULL && pw->pw_name != NULL)
		snprintf(r.os_user, sizeof r.os_user, "%s", pw->pw_name);
	else
		snprintf(r.os_user, sizeof r.os_user, "uid %lu", (unsigned long)geteuid());
	/* Only printable bytes go into a record. */
	snprintf(r.object, sizeof r.object, "%s%s%s", command, object ? " " : "",
		 object ? object : "");
	for (char *p = r.object; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	for (char *p = r.os_user; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(r.outcome, sizeof r.outcome, "ok");
	/* A record that cannot be staged is reported by the flush. */
	sx_store_audit_operator(s, &r);
}

void sx_ctl_audit_done(struct sx_store *s, int status)
{
	char outcome[32];
	/* A command that failed for a busy database changed nothing, and its
	 * record would wait for the same lock: nothing to record. */
	if (status == EX_TEMPFAIL)
		return;
	if (status == 0)
		snprintf(outcome, sizeof outcome, "ok");
	else
		snprintf(outcome, sizeof outcome, "failed (status %d)", status);
	int rc = sx_store_audit_operator_flush(s, outcome);
	if (rc != 0)
		sx_ctl_fail(EX_OK, "warning: the operator audit record was not written: %s",
			    sx_store_errmsg(s));
}

/* --- keys ------------------------------------------------------------------ */

static int key_path(const struct sx_ctl *ctl, char *out, size_t outlen)
{
	if (ctl->conf != NULL && ctl->conf->audit_key != NULL) {
		snprintf(out, outlen, "%s", ctl->conf->audit_key);
		return 0;
	}
	return sx_audit_key_path(ctl->db, out, outlen);
}

static int audit_init(const struct sx_ctl *ctl, struct sx_store *s, const char *command)
{
	char path[PATH_MAX_LEN], err[ERR_MAX], origin[SX_AUDIT_ORIGIN_MAX];
	if (key_path(ctl, path, sizeof path) != 0)
		return sx_ctl_fail(EX_CANTCREAT, "audit key path too long");
	int rc = sx_audit_key_create(path, err, sizeof err);
	if (rc != 0)
		return sx_ctl_fail(EX_CANTCREAT, "audit key: %s", err);
	if (sx_audit_default_origin(origin, sizeof origin) != 0)
		snprintf(origin, sizeof origin, "sprex.localhost/audit");
	sx_ctl_audit_op(s, command, origin);
	rc = sx_store_audit_set_origin(s, origin);
	if (rc != 0)
		return sx_ctl_store_fail(ctl, s, rc);
	return EX_OK;
}

int sx_ctl_audit_init(const struct sx_ctl *ctl, struct sx_store *s)
{
	return audit_init(ctl, s, "init");
}

static int load_key(const struct sx_ctl *ctl, EVP_PKEY **k)
{
	char path[PATH_MAX_LEN], err[ERR_MAX];
	if (key_path(ctl, path, sizeof path) != 0)
		return sx_ctl_fail(EX_USAGE, "audit key path too long");
	int rc = sx_audit_key_load(path, k, err, sizeof err);
	if (rc != 0)
		return sx_ctl_fail(rc == SX_ENOTFOUND ? EX_NOINPUT : sx_ctl_status(rc),
				   "audit key: %s", err);
	return EX_OK;
}

_Static_assert(SX_CTL_SIG_LEN == SX_AUDIT_SIG_LEN, "ctl.h's signature length");

int sx_ctl_audit_sign(const struct sx_ctl *ctl, const void *data, size_t len,
		      uint8_t sig[SX_CTL_SIG_LEN])
{
	EVP_PKEY *k;
	int status = load_key(ctl, &k);
	if (status)
		return status;
	int rc = sx_audit_sign_raw(k, data, len, sig);
	EVP_PKEY_free(k);
	if (rc != 0)
		return sx_ctl_fail(EX_SOFTWARE, "audit key: cannot sign (%s)", sx_strerror(rc));
	return EX_OK;
}

static int load_pub(const struct sx_ctl *ctl, const char *file, uint8_t pub[SX_AUDIT_PUB_LEN])
{
	char path[PATH_MAX_LEN], err[ERR_MAX];
	if (file == NULL && key_path(ctl, path, sizeof path) != 0)
		return sx_ctl_fail(EX_USAGE, "audit key path too long");
	int rc = sx_audit_pub_load(file ? file : path, pub, err, sizeof err);
	if (rc != 0)
		return sx_ctl_fail(rc == SX_ENOTFOUND ? EX_NOINPUT : EX_DATAERR,
				   "audit key: %s", err);
	return EX_OK;
}

/* --- verify ------------------------------------------------------------ */

struct verify {
	int64_t problems;
	int64_t size;
	const char *origin;
	uint8_t pub[SX_AUDIT_PUB_LEN];
	struct sx_store *s;
	int64_t checkpoints;
	int64_t last_size;
};

static void problem(void *ctx, const char *text)
{
	struct verify *v = ctx;
	(void)v;
	sx_ctl_fail(EX_DATAERR, "audit verify: %s", text);
}

static void vfail(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vfail(struct verify *v, const char *fmt, ...)
{
	char msg[ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	v->problems++;
	sx_ctl_fail(EX_DATAERR, "audit verify: %s", msg);
}

/* Checks one note against the log: signature, then that the log of v->size
 * leaves has the note's root at the note's size. what names it. */
static void check_note(struct verify *v, const char *what, const char *note,
		       int64_t *size_out)
{
	char err[ERR_MAX];
	int64_t size;
	uint8_t root[SX_AUDIT_HASH], have[SX_AUDIT_HASH];
	if (sx_audit_note_verify(note, v->origin, v->pub, &size, root, err, sizeof err) != 0) {
		vfail(v, "%s: %s", what, err);
		return;
	}
	if (size_out)
		*size_out = size;
	if (size > v->size) {
		vfail(v, "%s: checkpoint of %lld records, but the log has only %lld (records "
		      "deleted, or the database restored from an older backup)", what,
		      (long long)size, (long long)v->size);
		return;
	}
	int rc = sx_store_audit_root(v->s, size, have);
	if (rc != 0) {
		vfail(v, "%s: cannot compute the root at size %lld: %s", what, (long long)size,
		      sx_store_errmsg(v->s));
		return;
	}
	if (memcmp(root, have, SX_AUDIT_HASH) != 0) {
		vfail(v, "%s: the log's first %lld records do not hash to the signed root "
		      "(history rewritten)", what, (long long)size);
		return;
	}
	/* The same as an auditor does it: a consistency proof to today's root. */
	uint8_t proof[SX_AUDIT_PROOF_MAX * SX_AUDIT_HASH], now[SX_AUDIT_HASH];
	size_t n;
	if (size > 0 && size < v->size &&
	    (sx_store_audit_root(v->s, v->size, now) != 0 ||
	     sx_store_audit_consistency(v->s, size, v->size, proof, &n) != 0 ||
	     sx_merkle_consistency_verify((uint64_t)size, (uint64_t)v->size, root, now, proof,
					  n) != 0))
		vfail(v, "%s: no valid consistency proof from %lld to %lld records", what,
		      (long long)size, (long long)v->size);
}

static int verify_cp(void *ctx, const struct sx_audit_checkpoint *cp)
{
	struct verify *v = ctx;
	char what[64];
	int64_t size = -1;
	snprintf(what, sizeof what, "checkpoint %lld (size %lld)", (long long)cp->id,
		 (long long)cp->tree_size);
	v->checkpoints++;
	int64_t before = v->problems;
	check_note(v, what, cp->note, &size);
	if (v->problems == before && size != cp->tree_size)
		vfail(v, "%s: the stored size differs from the signed note's %lld", what,
		      (long long)size);
	if (cp->tree_size < v->last_size)
		vfail(v, "%s: smaller than an earlier checkpoint", what);
	v->last_size = cp->tree_size;
	return 0;
}

static int read_note(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return sx_ctl_fail(EX_NOINPUT, "audit verify: cannot open %s", path);
	size_t n = fread(out, 1, outlen - 1, f);
	int big = n == outlen - 1 && fgetc(f) != EOF;
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return sx_ctl_fail(EX_IOERR, "audit verify: cannot read %s", path);
	if (big)
		return sx_ctl_fail(EX_DATAERR, "audit verify: %s: too long for a checkpoint",
				   path);
	out[n] = '\0';
	if (strlen(out) != n)
		return sx_ctl_fail(EX_DATAERR, "audit verify: %s: not a text file", path);
	return EX_OK;
}

#define VERIFY_FILES_MAX 16

static int cmd_verify(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *files[VERIFY_FILES_MAX], *keyfile = NULL;
	size_t nfiles = 0;
	int c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (nfiles >= VERIFY_FILES_MAX)
				return sx_ctl_fail(EX_USAGE, "audit verify: at most %d "
						   "--checkpoint files", VERIFY_FILES_MAX);
			files[nfiles++] = optarg;
			break;
		case 'k':
			if ((status = sx_ctl_once("audit verify", "--key", &keyfile, optarg)))
				return status;
			break;
		case 'h':
			return sx_ctl_help(AUDIT_USAGE);
		case 1:
			return sx_ctl_fail(EX_USAGE, "audit verify: unexpected argument '%s'",
					   optarg);
		default:
			return sx_ctl_badopt("audit verify", c, argv);
		}
	}
	struct verify v;
	memset(&v, 0, sizeof v);
	if ((status = load_pub(ctl, keyfile, v.pub)))
		return status;
	/* Read-only: verify works on a copy or backup and changes nothing. */
	if ((status = sx_ctl_open(ctl, SX_STORE_READONLY, &v.s)))
		return status;
	char origin[SX_AUDIT_ORIGIN_MAX];
	int rc = sx_store_audit_origin(v.s, origin, sizeof origin);
	if (rc == 0)
		rc = sx_store_audit_check(v.s, problem, &v, &v.size, &v.problems);
	if (rc != 0) {
		status = sx_ctl_store_fail(ctl, v.s, rc);
		sx_store_close(v.s);
		return status;
	}
	v.origin = origin;
	rc = sx_store_audit_checkpoint_each(v.s, verify_cp, &v);
	for (size_t i = 0; rc == 0 && i < nfiles; i++) {
		static char note[SX_AUDIT_NOTE_MAX + 1];
		if ((status = read_note(files[i], note, sizeof note))) {
			v.problems++;
			continue;
		}
		check_note(&v, files[i], note, NULL);
	}
	if (rc != 0)
		status = sx_ctl_store_fail(ctl, v.s, rc);
	sx_store_close(v.s);
	if (rc != 0)
		return status;
	if (v.problems > 0) {
		sx_ctl_fail(EX_DATAERR, "audit verify: FAILED: %lld problem(s) in %lld records, "
			    "%lld checkpoints", (long long)v.problems, (long long)v.size,
			    (long long)v.checkpoints);
		return EX_DATAERR;
	}
	printf("audit log ok: %lld records, %lld checkpoints, %zu external checkpoint(s) "
	       "consistent\n", (long long)v.size, (long long)v.checkpoints, nfiles);
	return sx_ctl_flush();
}

/* --- export ---------------------------------------------------------------- */

/* Parses YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS.mmmZ (UTC).
 * Returns -1 with *ms set, or the exit status. */
static int parse_time(const char *opt, const char *v, int64_t *ms)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d" };
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(v, formats[i], &tm);
		if (end == NULL)
			continue;
		int frac = 0;
		if (i == 0) {
			if (end[0] == '.' && end[1] >= '0' && end[1] <= '9' && end[2] >= '0' &&
			    end[2] <= '9' && end[3] >= '0' && end[3] <= '9') {
				frac = (end[1] - '0') * 100 + (end[2] - '0') * 10 + (end[3] - '0');
				end += 4;
			}
			if (*end++ != 'Z')
				continue;
		}
		if (*end != '\0')
			continue;
		time_t t = timegm(&tm);
		if (t == (time_t)-1 || t < 0)
			break;
		*ms = (int64_t)t * 1000 + frac;
		return -1;
	}
	return sx_ctl_fail(EX_USAGE, "audit export: %s needs a UTC time YYYY-MM-DD or "
			   "YYYY-MM-DDTHH:MM:SS[.mmm]Z, not '%s'", opt, v);
}

static void time_ms_text(int64_t ms, char out[SX_CTL_TIME])
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	char base[SX_CTL_TIME];
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(out, SX_CTL_TIME, "-");
	else
		snprintf(out, SX_CTL_TIME, "%.20s.%03dZ", base, (int)(ms % 1000));
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

struct export {
	int csv;
	int64_t count;
};

#define EXPORT_LINE_MAX 4096

static int export_one(void *ctx, const struct sx_audit_rec *r, const uint8_t h[SX_AUDIT_HASH])
{
	struct export *e = ctx;
	char t[SX_CTL_TIME], hh[2 * SX_AUDIT_HASH + 1], idx[24], ms[24];
	time_ms_text(r->time_ms, t);
	hex(h, SX_AUDIT_HASH, hh);
	e->count++;
	if (e->csv) {
		snprintf(idx, sizeof idx, "%lld", (long long)r->leaf_index);
		snprintf(ms, sizeof ms, "%lld", (long long)r->time_ms);
		const char *f[] = { idx, t, ms, r->event, r->member, r->spki, r->peer, r->object,
				    r->outcome, r->os_user, hh };
		for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
			sx_csv_field(stdout, f[i], i + 1 == sizeof f / sizeof f[0]);
		return ferror(stdout) ? SX_EIO : 0;
	}
	struct sx_buf b;
	struct sx_json j;
	sx_buf_init(&b, EXPORT_LINE_MAX);
	sx_json_init(&j, &b);
	sx_json_obj_begin(&j);
	sx_json_key(&j, "leaf_index");
	sx_json_int(&j, r->leaf_index);
	sx_json_key(&j, "time");
	sx_json_str(&j, t);
	sx_json_key(&j, "time_ms");
	sx_json_int(&j, r->time_ms);
	const char *names[] = { "event", "member", "spki", "peer", "object", "outcome", "os_user",
				"leaf_hash" };
	const char *vals[] = { r->event, r->member, r->spki, r->peer, r->object, r->outcome,
			       r->os_user, hh };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		sx_json_key(&j, names[i]);
		sx_json_str(&j, vals[i]);
	}
	sx_json_obj_end(&j);
	int rc = sx_json_finish(&j);
	if (rc == 0) {
		fwrite(b.data + b.off, 1, b.len - b.off, stdout);
		putchar('\n');
		if (ferror(stdout))
			rc = SX_EIO;
	}
	sx_buf_finish(&b);
	return rc;
}

static int cmd_export(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "member", required_argument, NULL, 'm' },
		{ "event", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = NULL, *until = NULL, *format = NULL;
	struct sx_audit_filter f;
	memset(&f, 0, sizeof f);
	int c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			status = sx_ctl_once("audit export", "--since", &since, optarg);
			break;
		case 'u':
			status = sx_ctl_once("audit export", "--until", &until, optarg);
			break;
		case 'm':
			status = sx_ctl_once("audit export", "--member", &f.member, optarg);
			break;
		case 'e':
			status = sx_ctl_once("audit export", "--event", &f.event, optarg);
			break;
		case 'f':
			status = sx_ctl_once("audit export", "--format", &format, optarg);
			break;
		case 'h':
			return sx_ctl_help(AUDIT_USAGE);
		case 1:
			return sx_ctl_fail(EX_USAGE, "audit export: unexpected argument '%s'",
					   optarg);
		default:
			return sx_ctl_badopt("audit export", c, argv);
		}
		if (status)
			return status;
	}
	if (since != NULL && (status = parse_time("--since", since, &f.since_ms)) >= 0)
		return status;
	if (until != NULL && (status = parse_time("--until", until, &f.until_ms)) >= 0)
		return status;
	if (f.event != NULL && !sx_audit_event_ok(f.event))
		return sx_ctl_fail(EX_USAGE, "audit export: unknown event kind '%s'", f.event);
	struct export e = { 0, 0 };
	if (format == NULL || strcmp(format, "jsonl") == 0)
		e.csv = 0;
	else if (strcmp(format, "csv") == 0)
		e.csv = 1;
	else
		return sx_ctl_fail(EX_USAGE, "audit export: --format is jsonl or csv, not '%s'",
				   format);
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	/* Who read the log, and what: the export is an operator command too. */
	char what[SX_AUDIT_OBJECT_MAX];
	snprintf(what, sizeof what, "since=%s until=%s member=%s event=%s", since ? since : "-",
		 until ? until : "-", f.member ? f.member : "-", f.event ? f.event : "-");
	sx_ctl_audit_op(s, "audit export", what);
	sx_ctl_audit_done(s, 0);
	if (e.csv)
		printf("leaf_index,time,time_ms,event,member,spki,peer,object,outcome,os_user,"
		       "leaf_hash\n");
	int rc = sx_store_audit_each(s, &f, export_one, &e);
	status = rc == SX_EIO ? sx_ctl_fail(EX_IOERR, "cannot write the output")
		 : rc ? sx_ctl_store_fail(ctl, s, rc) : EX_OK;
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

/* --- checkpoint, pubkey -------------------------------------------------- */

static int flag_only(const char *cmd, const char *flag, int argc, char **argv, int *set)
{
	static struct option opts[] = {
		{ NULL, no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	opts[0].name = flag;
	int c;
	*set = 0;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			*set = 1;
			break;
		case 'h':
			return sx_ctl_help(AUDIT_USAGE);
		case 1:
			return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, optarg);
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	return -1;
}

static int cmd_checkpoint(const struct sx_ctl *ctl, int argc, char **argv)
{
	int sign, status = flag_only("audit checkpoint", "sign", argc, argv, &sign);
	if (status >= 0)
		return status;
	struct sx_store *s;
	EVP_PKEY *k = NULL;
	if (sign && (status = load_key(ctl, &k)))
		return status;
	if ((status = sx_ctl_open(ctl, sign ? 0 : SX_STORE_READONLY, &s))) {
		EVP_PKEY_free(k);
		return status;
	}
	int rc = 0;
	if (sign) {
		sx_ctl_audit_op(s, "audit checkpoint", "--sign");
		sx_ctl_audit_done(s, 0);
		rc = sx_audit_checkpoint(s, k, NULL, sx_ctl_now_ms(), NULL, 0);
		if (rc == SX_EAGAIN)
			rc = 0;   /* nothing new: print the latest */
	}
	static struct sx_audit_checkpoint cp;
	if (rc == 0)
		rc = sx_store_audit_checkpoint_last(s, &cp);
	if (rc == 0)
		fputs(cp.note, stdout);
	else if (rc == SX_ENOTFOUND)
		status = sx_ctl_fail(EX_NOINPUT, "audit checkpoint: no checkpoint yet%s",
				     sign ? " (the log is empty)" : " (try --sign)");
	else
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_store_close(s);
	EVP_PKEY_free(k);
	return status ? status : sx_ctl_flush();
}

static int cmd_pubkey(const struct sx_ctl *ctl, int argc, char **argv)
{
	int vkey, status = flag_only("audit pubkey", "vkey", argc, argv, &vkey);
	if (status >= 0)
		return status;
	EVP_PKEY *k;
	if ((status = load_key(ctl, &k)))
		return status;
	char out[SX_AUDIT_VKEY_MAX + SX_AUDIT_PEM_MAX];
	int rc;
	if (vkey) {
		struct sx_store *s;
		char origin[SX_AUDIT_ORIGIN_MAX];
		uint8_t pub[SX_AUDIT_PUB_LEN];
		if ((status = sx_ctl_open(ctl, SX_STORE_READONLY, &s))) {
			EVP_PKEY_free(k);
			return status;
		}
		rc = sx_store_audit_origin(s, origin, sizeof origin);
		if (rc != 0)
			status = sx_ctl_store_fail(ctl, s, rc);
		sx_store_close(s);
		if (rc == 0 && (rc = sx_audit_pub_raw(k, pub)) == 0 &&
		    (rc = sx_audit_vkey(origin, pub, out, sizeof out)) == 0)
			printf("%s\n", out);
	} else if ((rc = sx_audit_pub_pem(k, out, sizeof out)) == 0) {
		fputs(out, stdout);
	}
	EVP_PKEY_free(k);
	if (rc != 0 && status == 0)
		status = sx_ctl_fail(EX_SOFTWARE, "audit pubkey: cannot encode the key");
	return status ? status : sx_ctl_flush();
}

static int cmd_keygen(const struct sx_ctl *ctl, int argc, char **argv)
{
	int unused, status = flag_only("audit keygen", "none", argc, argv, &unused);
	if (status >= 0)
		return status;
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	char origin[SX_AUDIT_ORIGIN_MAX];
	int rc = sx_store_audit_origin(s, origin, sizeof origin);
	if (rc == 0)
		status = sx_ctl_fail(EX_CANTCREAT, "audit keygen: %s already has an audit origin "
				     "(%s) and key", ctl->db, origin);
	else if (rc == SX_ENOTFOUND)
		status = audit_init(ctl, s, "audit keygen");
	else
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_store_close(s);
	return status;
}

static int cmd_audit(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct sx_ctl *, int, char **);
	} subs[] = {
		{ "verify", cmd_verify },
		{ "export", cmd_export },
		{ "checkpoint", cmd_checkpoint },
		{ "pubkey", cmd_pubkey },
		{ "keygen", cmd_keygen },
	};
	if (argc < 2)
		return sx_ctl_fail(EX_USAGE,
				   "audit: missing subcommand (see sprexctl audit --help)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return sx_ctl_help(AUDIT_USAGE);
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(ctl, argc - 1, argv + 1);
	return sx_ctl_fail(EX_USAGE, "audit: unknown subcommand '%s' (see sprexctl audit --help)",
			   argv[1]);
}

const struct sx_ctl_cmd sx_ctl_audit_cmds[] = {
	{ "audit", AUDIT_USAGE, cmd_audit },
	{ NULL, NULL, NULL },
};
