/*
 * sprex-agent audit: an auditor member fetches audit records, and checks that
 * the server's log only ever grew: the latest checkpoint must carry a valid
 * signature of the log's key, and a consistency proof must lead to it from
 * the checkpoint stored by the previous run (docs/audit.md). Any mismatch is
 * an alarm and a non-zero exit; only a verified checkpoint is stored.
 *
 *   sprex-agent audit --config FILE --pubkey PEM [--state FILE] [--since T]
 *                     [--member NAME] [--event KIND] [--format jsonl|csv]
 *   sprex-agent audit ... --stats [--format text|json|csv]
 *
 * With --stats the monthly statistics (Stats frames) are printed instead of
 * the records, in the layout of sprexctl stats; the checkpoint is checked
 * all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "agent.h"
#include "auditnote.h"
#include "buf.h"
#include "csv.h"
#include "err.h"
#include "json.h"
#include "merkle.h"
#include "peer.h"
#include "request.h"
#include "stats_table.h"

#define STATE_SUFFIX ".audit-checkpoint"
#define PATH_LEN 4096
#define LINE_MAX_BYTES 4096
/* The alarm's exit status: the log cannot be trusted. */
#define EX_ALARM EX_DATAERR

struct audit_run {
	int csv;
	int stats;                      /* --stats, printed as stats_fmt */
	enum sx_stats_format stats_fmt;
	struct sx_stats_table st;       /* figure names in the order of the first month */
	const char *origin;            /* pinned by the stored checkpoint, else the new one's */
	char origin_buf[SX_AUDIT_ORIGIN_MAX];
	uint8_t pub[SX_AUDIT_PUB_LEN];
	int64_t old_size;               /* 0: no stored checkpoint */
	uint8_t old_root[SX_MERKLE_HASH];
	int64_t new_size;
	uint8_t new_root[SX_MERKLE_HASH];
	char note[SX_AUDIT_NOTE_TEXT_MAX + 1];
	int records_done, checkpoint_done, want_proof;
	uint64_t records;
	int status;                     /* alarm status once raised */
};

static int alarm_(struct audit_run *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int alarm_(struct audit_run *a, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "sprex-agent: AUDIT ALARM: %s\n", msg);
	a->status = EX_ALARM;
	return EX_ALARM;
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

static void print_record(struct audit_run *a, const Sprex__AuditRecord *r)
{
	char h[2 * SX_MERKLE_HASH + 1] = "";
	if (r->leaf_hash.len == SX_MERKLE_HASH)
		hex(r->leaf_hash.data, SX_MERKLE_HASH, h);
	if (a->csv) {
		char idx[24], ms[24];
		snprintf(idx, sizeof idx, "%" PRIu64, r->leaf_index);
		snprintf(ms, sizeof ms, "%" PRId64, r->time_ms);
		const char *f[] = { idx, ms, r->event, r->member, r->spki, r->peer, r->object,
				    r->outcome, h };
		for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
			sx_csv_field(stdout, f[i] ? f[i] : "", i + 1 == sizeof f / sizeof f[0]);
		return;
	}
	struct sx_buf b;
	struct sx_json j;
	sx_buf_init(&b, LINE_MAX_BYTES);
	sx_json_init(&j, &b);
	sx_json_obj_begin(&j);
	sx_json_key(&j, "leaf_index");
	sx_json_int(&j, (int64_t)r->leaf_index);
	sx_json_key(&j, "time_ms");
	sx_json_int(&j, r->time_ms);
	const char *names[] = { "event", "member", "spki", "peer", "object", "outcome",
				"leaf_hash" };
	const char *vals[] = { r->event, r->member, r->spki, r->peer, r->object, r->outcome, h };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		sx_json_key(&j, names[i]);
		sx_json_str(&j, vals[i] ? vals[i] : "");
	}
	sx_json_obj_end(&j);
	if (sx_json_finish(&j) == 0) {
		fwrite(b.data + b.off, 1, b.len - b.off, stdout);
		putchar('\n');
	}
	sx_buf_finish(&b);
}

/* The Checkpoint frame: signature, then rollback and fork checks. */
static int got_checkpoint(struct audit_run *a, const Sprex__Checkpoint *c)
{
	char err[256];
	a->checkpoint_done = 1;
	if (c->tree_size == 0 || c->note == NULL || c->note[0] == '\0') {
		if (a->old_size > 0)
			return alarm_(a, "the server has no checkpoint, but one of %" PRId64
				      " records was verified before (rollback)", a->old_size);
		fprintf(stderr, "sprex-agent: audit: the server has no checkpoint yet\n");
		return 0;
	}
	if (strlen(c->note) > SX_AUDIT_NOTE_TEXT_MAX)
		return alarm_(a, "checkpoint too long");
	if (a->origin == NULL) {
		/* First run: the origin comes with the first checkpoint signed by
		 * the key we were given, and is pinned from then on. */
		if (sx_audit_note_origin(c->note, a->origin_buf, sizeof a->origin_buf) != 0)
			return alarm_(a, "checkpoint without an origin line");
		a->origin = a->origin_buf;
	}
	int64_t size;
	uint8_t root[SX_MERKLE_HASH];
	if (sx_audit_note_verify(c->note, a->origin, a->pub, &size, root, err, sizeof err) != 0)
		return alarm_(a, "checkpoint of %" PRIu64 " records does not verify: %s",
			      c->tree_size, err);
	if ((uint64_t)size != c->tree_size ||
	    (c->root_hash.len == SX_MERKLE_HASH &&
	     memcmp(c->root_hash.data, root, SX_MERKLE_HASH) != 0))
		return alarm_(a, "checkpoint fields differ from its signed note");
	a->new_size = size;
	memcpy(a->new_root, root, sizeof root);
	snprintf(a->note, sizeof a->note, "%s", c->note);
	if (size < a->old_size)
		return alarm_(a, "rollback: the server's latest checkpoint has %" PRId64
			      " records, one of %" PRId64 " was verified before", size,
			      a->old_size);
	if (size == a->old_size && memcmp(root, a->old_root, SX_MERKLE_HASH) != 0)
		return alarm_(a, "fork: two different signed roots for %" PRId64 " records", size);
	return 0;
}

static int got_proof(struct audit_run *a, const Sprex__ConsistencyProof *p)
{
	uint8_t hashes[SX_MERKLE_PROOF_MAX * SX_MERKLE_HASH];
	if ((int64_t)p->from_size != a->old_size || (int64_t)p->to_size != a->new_size ||
	    p->n_hashes > SX_MERKLE_PROOF_MAX)
		return alarm_(a, "consistency proof for the wrong sizes (%" PRIu64 " to %"
			      PRIu64 ")", p->from_size, p->to_size);
	for (size_t i = 0; i < p->n_hashes; i++) {
		if (p->hashes[i].len != SX_MERKLE_HASH)
			return alarm_(a, "malformed consistency proof");
		memcpy(hashes + i * SX_MERKLE_HASH, p->hashes[i].data, SX_MERKLE_HASH);
	}
	if (sx_merkle_consistency_verify((uint64_t)a->old_size, (uint64_t)a->new_size,
					 a->old_root, a->new_root, hashes, p->n_hashes) != 0)
		return alarm_(a, "fork or rewritten history: the log of %" PRId64 " records does "
			      "not extend the verified one of %" PRId64, a->new_size, a->old_size);
	return 0;
}

/* A Stats frame: its months appended to a->st. Returns -1 (more frames
 * follow) or an exit status for a malformed answer. */
static int got_stats(struct audit_run *a, const Sprex__Stats *s)
{
	struct sx_stats_table *st = &a->st;
	for (size_t i = 0; i < s->n_months; i++) {
		const Sprex__StatsMonth *m = s->months[i];
		size_t k, fi;
		if (sx_stats_table_month(st, m->month, &k) != 0) {
			fprintf(stderr, "sprex-agent: audit: malformed or too many statistics "
				"months\n");
			return EX_PROTOCOL;
		}
		for (size_t j = 0; j < m->n_figures; j++) {
			if (sx_stats_table_figure(st, m->figures[j]->key, &fi) != 0) {
				fprintf(stderr, "sprex-agent: audit: malformed statistics "
					"figure\n");
				return EX_PROTOCOL;
			}
			st->v[k][fi] = m->figures[j]->value;
		}
	}
	return -1;
}

static int on_frame(void *ctx, const Sprex__Frame *f)
{
	struct audit_run *a = ctx;
	int st;
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_ERROR:
		fprintf(stderr, "sprex-agent: audit: %s: %s\n", sx_error_name(f->error->code),
			f->error->message);
		return f->error->code == SPREX__ERROR_CODE__ERROR_FORBIDDEN ? EX_NOPERM
		       : f->error->code == SPREX__ERROR_CODE__ERROR_BUSY ? EX_TEMPFAIL
									  : EX_UNAVAILABLE;
	case SPREX__FRAME__MSG_AUDIT_RECORD:
		if (f->audit_record->event && f->audit_record->event[0]) {
			if (!a->stats)
				print_record(a, f->audit_record);
			a->records++;
		}
		a->records_done = f->audit_record->last;
		return -1;
	case SPREX__FRAME__MSG_CHECKPOINT:
		if ((st = got_checkpoint(a, f->checkpoint)) != 0)
			return st;
		/* A proof comes when we asked from a size the server has reached. */
		a->want_proof = a->old_size > 0 && a->new_size >= a->old_size;
		return a->want_proof ? -1 : 0;
	case SPREX__FRAME__MSG_STATS:
		return a->stats ? got_stats(a, f->stats) : -1;
	case SPREX__FRAME__MSG_CONSISTENCY_PROOF:
		if (!a->checkpoint_done)
			return alarm_(a, "consistency proof before the checkpoint");
		return got_proof(a, f->consistency_proof);
	default:
		return -1;
	}
}

static int load_pub(const char *path, uint8_t pub[SX_AUDIT_PUB_LEN])
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		fprintf(stderr, "sprex-agent: audit: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	int rc = k != NULL ? sx_audit_pub_raw(k, pub) : SX_EINVAL;
	EVP_PKEY_free(k);
	if (rc != 0) {
		fprintf(stderr, "sprex-agent: audit: %s: not an Ed25519 public key "
			"(sprexctl audit pubkey prints it)\n", path);
		return EX_DATAERR;
	}
	return 0;
}

/* Reads and verifies the stored checkpoint; a missing file is a first run. */
static int load_state(struct audit_run *a, const char *path)
{
	char note[SX_AUDIT_NOTE_TEXT_MAX + 2], err[256];
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "sprex-agent: audit: %s: %s\n", path, strerror(errno));
		return EX_IOERR;
	}
	size_t n = fread(note, 1, sizeof note - 1, f);
	fclose(f);
	note[n] = '\0';
	if (n > SX_AUDIT_NOTE_TEXT_MAX ||
	    sx_audit_note_origin(note, a->origin_buf, sizeof a->origin_buf) != 0 ||
	    sx_audit_note_verify(note, a->origin_buf, a->pub, &a->old_size, a->old_root, err,
				 sizeof err) != 0) {
		fprintf(stderr, "sprex-agent: AUDIT ALARM: the stored checkpoint %s does not "
			"verify with the given key\n", path);
		return EX_ALARM;
	}
	a->origin = a->origin_buf;
	return 0;
}

/* Replaces the state file atomically with the verified note. */
static int store_state(const struct audit_run *a, const char *path)
{
	char tmp[PATH_LEN + 8];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return EX_SOFTWARE;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(a->note);
	int ok = fd >= 0 && write(fd, a->note, len) == (ssize_t)len && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "sprex-agent: audit: cannot store %s: %s\n", path,
			strerror(errno));
		unlink(tmp);
		return EX_IOERR;
	}
	return 0;
}

static int parse_since(const char *v, int64_t *ms)
{
	struct tm tm;
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d" };
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(v, formats[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		time_t t = timegm(&tm);
		if (t < 0)
			break;
		*ms = (int64_t)t * 1000;
		return 0;
	}
	fprintf(stderr, "sprex-agent: audit: --since needs YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n");
	return EX_USAGE;
}

int sx_agent_cmd_audit(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pubkey", required_argument, NULL, 'k' },
		{ "state", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "member", required_argument, NULL, 'm' },
		{ "event", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'f' },
		{ "stats", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pubkey = NULL, *state = NULL, *since = NULL, *member = NULL, *event = NULL,
		   *format = NULL;
	int ch, stats = 0;
	while ((ch = sx_agent_getopt(o, argc, argv, "", opts)) != -1) {
		switch (ch) {
		case 'k': pubkey = optarg; break;
		case 's': state = optarg; break;
		case 'S': since = optarg; break;
		case 'm': member = optarg; break;
		case 'e': event = optarg; break;
		case 'f': format = optarg; break;
		case 't': stats = 1; break;
		default: return EX_USAGE;
		}
	}
	if (optind != argc || !pubkey || !o->config) {
		fprintf(stderr, "sprex-agent: audit --config FILE --pubkey PEM [--state FILE] "
			"[--since T] [--member NAME] [--event KIND] [--format jsonl|csv]\n"
			"       sprex-agent audit ... --stats [--format text|json|csv]\n");
		return EX_USAGE;
	}
	static struct audit_run a;
	memset(&a, 0, sizeof a);
	if (stats) {
		a.stats = 1;
		if (!format || strcmp(format, "text") == 0) {
			a.stats_fmt = SX_STATS_TEXT;
		} else if (strcmp(format, "json") == 0) {
			a.stats_fmt = SX_STATS_JSON;
		} else if (strcmp(format, "csv") == 0) {
			a.stats_fmt = SX_STATS_CSV;
		} else {
			fprintf(stderr, "sprex-agent: audit: --format is text, json or csv with "
				"--stats\n");
			return EX_USAGE;
		}
	} else if (format && strcmp(format, "csv") == 0) {
		a.csv = 1;
	} else if (format && strcmp(format, "jsonl") != 0) {
		fprintf(stderr, "sprex-agent: audit: --format is jsonl or csv\n");
		return EX_USAGE;
	}
	char state_buf[PATH_LEN];
	if (!state) {
		if (snprintf(state_buf, sizeof state_buf, "%s%s", o->config, STATE_SUFFIX) >=
		    (int)sizeof state_buf)
			return EX_USAGE;
		state = state_buf;
	}
	int64_t since_ms = 0;
	int st;
	if ((since && (st = parse_since(since, &since_ms))) || (st = load_pub(pubkey, a.pub)) ||
	    (st = load_state(&a, state)))
		return st;

	if (a.stats && sx_stats_table_init(&a.st, SX_STATS_TABLE_MONTHS_MAX) != 0) {
		sx_stats_table_finish(&a.st);
		fprintf(stderr, "sprex-agent: audit: out of memory\n");
		return EX_OSERR;
	}
	struct sx_agentconf conf;
	SSL_CTX *tls;
	if ((st = sx_agent_setup(o, &conf, &tls))) {
		sx_stats_table_finish(&a.st);
		return st;
	}
	Sprex__AuditQuery q = SPREX__AUDIT_QUERY__INIT;
	q.since_ms = since_ms;
	q.member = (char *)(member ? member : "");
	q.event = (char *)(event ? event : "");
	q.proof_from_size = (uint64_t)a.old_size;
	q.stats = a.stats != 0;
	if (a.stats)
		q.limit = 1;   /* the records are not printed: keep the answer short */
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_AUDIT_QUERY;
	f.audit_query = &q;
	if (a.csv)
		printf("leaf_index,time_ms,event,member,spki,peer,object,outcome,leaf_hash\n");
	st = sx_request_run(&conf, tls, &f, on_frame, &a);
	sx_agent_teardown(&conf, tls);
	/* Printed once the answer ended with its checkpoint; the figures are not
	 * part of the signed log, only the answer's end is checked. */
	if (a.stats && st == 0 && a.checkpoint_done &&
	    sx_stats_table_print(&a.st, a.stats_fmt, stdout) != 0)
		st = EX_SOFTWARE;
	size_t months = a.st.nmonths;
	sx_stats_table_finish(&a.st);
	if (fflush(stdout) != 0 && st == 0)
		st = EX_IOERR;
	if (a.status)
		return a.status;
	if (st)
		return st;
	if (a.new_size > 0 && (st = store_state(&a, state)))
		return st;
	fprintf(stderr, "sprex-agent: audit: %" PRIu64 " %s; checkpoint of %" PRId64
		" records verified%s\n", a.stats ? (uint64_t)months : a.records,
		a.stats ? "month(s) of statistics" : "record(s)", a.new_size,
		a.old_size ? ", consistent with the stored one" : " and stored (first run)");
	return 0;
}
