/*
 * ctl_member.c: sprexctl's member registry commands ("member ...", "members").
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditnote.h"
#include "buf.h"
#include "err.h"
#include "json.h"

#define ADD_USAGE \
	"  member add NAME --role ROLE --cert PEM [--prefix CIDR]...\n" \
	"                          register a member by the public key of the certificate\n" \
	"                          in PEM; ROLE is vendor, isp, enforcement, auditor or\n" \
	"                          submitter; an isp gives its address ranges, one\n" \
	"                          --prefix each (192.0.2.0/24, 2001:db8::/32)\n"
#define LIST_USAGE \
	"  member list             every member: role, state, since, until, key, prefixes\n"
#define SUSPEND_USAGE \
	"  member suspend NAME     shut a member out (sessions closed) until resumed\n"
#define RESUME_USAGE \
	"  member resume NAME      let a suspended member back in\n"
#define REMOVE_USAGE \
	"  member remove NAME      retire a member for good; its name is not reused, it\n" \
	"                          stays in the public list with its until time\n"
#define PUBLIC_USAGE \
	"  members --public [--format text|json] [--sign SIGFILE]\n" \
	"                          the published list of members that receive data\n" \
	"                          (submitters receive none): name, role, since, until;\n" \
	"                          --sign adds the log's origin and the time, and writes\n" \
	"                          the Ed25519 signature of the exact output, by the\n" \
	"                          audit key, to SIGFILE (raw 64 bytes, for openssl\n" \
	"                          pkeyutl -verify -rawin; docs/audit.md)\n"
#define MEMBER_USAGE ADD_USAGE LIST_USAGE SUSPEND_USAGE RESUME_USAGE REMOVE_USAGE

#define NAME_RULE "letters, digits, '.', '_', '-'; 1 to 63 bytes; first a letter or digit"
#define ROLE_LIST "vendor, isp, enforcement, auditor, submitter"

#define SX_CTL_ERR_MAX 512

/*
 * Parses "CMD NAME" where only --help is an option. Returns -1 with *name
 * set, or the exit status to end with (help printed, or a usage error).
 */
static int parse_name(const char *cmd, const char *usage, int argc, char **argv,
		      const char **name)
{
	int st = sx_ctl_one_operand(cmd, usage, "NAME", argc, argv, name);
	if (st != -1)
		return st;
	if (!sx_member_name_ok(*name))
		return sx_ctl_fail(EX_DATAERR, "%s: invalid member name '%s' (" NAME_RULE ")", cmd,
				   *name);
	return -1;
}

/* Parses a command that takes no operands and only --help. */
static int parse_none(const char *cmd, const char *usage, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(usage);
		case 1:
			return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, optarg);
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, argv[optind]);
	return -1;
}

/* --- member add ------------------------------------------------------------ */

/* Stores an option that may be given once. */
static int add_parse(int argc, char **argv, const char **name, const char **role,
		     const char **cert, struct sx_prefix *pfx, size_t *npfx)
{
	static const char cmd[] = "member add";
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "cert", required_argument, NULL, 'c' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, st;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(ADD_USAGE);
		case 'r':
			if ((st = sx_ctl_once(cmd, "--role", role, optarg)))
				return st;
			break;
		case 'c':
			if ((st = sx_ctl_once(cmd, "--cert", cert, optarg)))
				return st;
			break;
		case 'p':
			/* Each --prefix used an argv slot, so argc bounds *npfx. */
			if (sx_prefix_parse(optarg, &pfx[*npfx]) != 0)
				return sx_ctl_fail(EX_DATAERR, "%s: invalid prefix '%s' (an "
						   "address or ADDRESS/LENGTH with no bits "
						   "set past LENGTH)", cmd, optarg);
			(*npfx)++;
			break;
		case 1:
			if ((st = sx_ctl_operand(cmd, name, optarg)))
				return st;
			break;
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	if ((st = sx_ctl_operand_end(cmd, "NAME", argc, argv, name)) != -1)
		return st;
	if (*role == NULL)
		return sx_ctl_fail(EX_USAGE, "%s: missing --role (" ROLE_LIST ")", cmd);
	if (*cert == NULL)
		return sx_ctl_fail(EX_USAGE, "%s: missing --cert (the member's PEM certificate)",
				   cmd);
	return -1;
}

static int member_add(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "member add";
	const char *name = NULL, *role_s = NULL, *cert = NULL;
	size_t npfx = 0;
	struct sx_prefix *pfx = calloc((size_t)argc, sizeof *pfx);
	if (pfx == NULL)
		return sx_ctl_fail(EX_OSERR, "out of memory");

	int status = add_parse(argc, argv, &name, &role_s, &cert, pfx, &npfx);
	if (status >= 0)
		goto out;
	enum sx_role role = sx_role_parse(role_s);
	status = EX_DATAERR;
	if (!sx_member_name_ok(name)) {
		sx_ctl_fail(status, "%s: invalid member name '%s' (" NAME_RULE ")", cmd, name);
		goto out;
	}
	if (role == SX_ROLE_NONE) {
		sx_ctl_fail(status, "%s: unknown role '%s' (" ROLE_LIST ")", cmd, role_s);
		goto out;
	}
	if (role != SX_ROLE_ISP && npfx > 0) {
		sx_ctl_fail(status, "%s: --prefix is for isp members only", cmd);
		goto out;
	}
	/* Prefixes cannot be added later, and a removed name is never reused:
	 * an isp registered without them would be stuck getting nothing. */
	if (role == SX_ROLE_ISP && npfx == 0) {
		sx_ctl_fail(status, "%s: an isp member needs at least one --prefix", cmd);
		goto out;
	}

	uint8_t spki[SX_SPKI_LEN];
	char err[SX_CTL_ERR_MAX];
	int rc = sx_spki_of_pem_file(cert, spki, err, sizeof err);
	if (rc != 0) {
		/* EIO: the file cannot be read; EINVAL: it holds no certificate. */
		status = sx_ctl_fail(rc == SX_EIO ? EX_NOINPUT : sx_ctl_status(rc), "%s", err);
		goto out;
	}

	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		goto out;
	char what[SX_AUDIT_OBJECT_MAX], fp[SX_AUDIT_SPKI_MAX];
	sx_audit_spki_hex(spki, fp);
	snprintf(what, sizeof what, "member=%s role=%s spki=%s prefixes=%zu", name,
		 sx_role_name(role), fp, npfx);
	sx_ctl_audit_op(s, "member add", what);
	rc = sx_store_member_add(s, name, role, spki, pfx, npfx, sx_ctl_now_ms());
	status = rc ? sx_ctl_store_fail(ctl, s, rc) : EX_OK;
	sx_ctl_audit_done(s, status);
	sx_store_close(s);
out:
	free(pfx);
	return status;
}

/* --- member suspend / resume / remove ------------------------------------- */

static int set_state(const struct sx_ctl *ctl, const char *cmd, const char *usage, int argc,
		     char **argv, int remove, enum sx_member_state state)
{
	const char *name;
	int status = parse_name(cmd, usage, argc, argv, &name);
	if (status >= 0)
		return status;
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	int64_t now = sx_ctl_now_ms();
	char what[SX_AUDIT_OBJECT_MAX];
	snprintf(what, sizeof what, "member=%s", name);
	sx_ctl_audit_op(s, cmd, what);
	int rc = remove ? sx_store_member_remove(s, name, now)
			: sx_store_member_set_state(s, name, state, now);
	status = rc ? sx_ctl_store_fail(ctl, s, rc) : EX_OK;
	sx_ctl_audit_done(s, status);
	sx_store_close(s);
	return status;
}

static int member_suspend(const struct sx_ctl *ctl, int argc, char **argv)
{
	return set_state(ctl, "member suspend", SUSPEND_USAGE, argc, argv, 0,
			 SX_MEMBER_SUSPENDED);
}

static int member_resume(const struct sx_ctl *ctl, int argc, char **argv)
{
	return set_state(ctl, "member resume", RESUME_USAGE, argc, argv, 0, SX_MEMBER_ACTIVE);
}

static int member_remove(const struct sx_ctl *ctl, int argc, char **argv)
{
	return set_state(ctl, "member remove", REMOVE_USAGE, argc, argv, 1, SX_MEMBER_REMOVED);
}

/* --- listing ----------------------------------------------------------------- */

struct member_prefix {
	int64_t member_id;
	struct sx_prefix p;
};

/* The registry read into memory, so that columns can be sized first. */
struct registry {
	struct sx_member *m;
	size_t n, cap;
	struct member_prefix *p;   /* in member id order, as the store walks them */
	size_t np, pcap;
};

/* Returns arr with room for element n (of size elem), reallocated when full,
 * or NULL (arr untouched) when memory runs out. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 64;
	if (ncap < *cap || ncap > SIZE_MAX / elem)
		return NULL;
	void *p = realloc(arr, ncap * elem);
	if (p != NULL)
		*cap = ncap;
	return p;
}

static int add_member(void *ctx, const struct sx_member *m)
{
	struct registry *r = ctx;
	struct sx_member *a = grow(r->m, &r->cap, r->n, sizeof *r->m);
	if (a == NULL)
		return SX_ENOMEM;
	r->m = a;
	r->m[r->n++] = *m;
	return 0;
}

static int add_prefix(void *ctx, int64_t member_id, const struct sx_prefix *p)
{
	struct registry *r = ctx;
	struct member_prefix *a = grow(r->p, &r->pcap, r->np, sizeof *r->p);
	if (a == NULL)
		return SX_ENOMEM;
	r->p = a;
	r->p[r->np].member_id = member_id;
	r->p[r->np].p = *p;
	r->np++;
	return 0;
}

static void registry_free(struct registry *r)
{
	free(r->m);
	free(r->p);
}

/* Reads the registry (removed members included; prefixes when asked; the
 * audit log's origin into origin when not NULL). */
static int registry_load(const struct sx_ctl *ctl, struct registry *r, int prefixes,
			 char *origin, size_t originlen)
{
	struct sx_store *s;
	int status = sx_ctl_open(ctl, 0, &s);
	if (status)
		return status;
	int rc = sx_store_member_each(s, 1, add_member, r);
	if (rc == 0 && prefixes)
		rc = sx_store_prefix_each(s, add_prefix, r);
	if (rc == 0 && origin != NULL)
		rc = sx_store_audit_origin(s, origin, originlen);
	if (rc == SX_ENOMEM)
		status = sx_ctl_fail(EX_OSERR, "out of memory");
	else if (rc)
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_store_close(s);
	return status;
}

/* Index of the first prefix of member id (r->p is in member id order). */
static size_t first_prefix(const struct registry *r, int64_t id)
{
	size_t lo = 0, hi = r->np;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->p[mid].member_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int widest(int w, const char *s)
{
	int n = (int)strlen(s);
	return n > w ? n : w;
}

static int member_list(const struct sx_ctl *ctl, int argc, char **argv)
{
	int status = parse_none("member list", LIST_USAGE, argc, argv);
	if (status >= 0)
		return status;
	struct registry r = { .m = NULL };
	if ((status = registry_load(ctl, &r, 1, NULL, 0))) {
		registry_free(&r);
		return status;
	}

	char t[SX_CTL_TIME];
	int wname = 4, wrole = 4, wstate = 5, wsince = 5, wuntil = 5;
	for (size_t i = 0; i < r.n; i++) {
		wname = widest(wname, r.m[i].name);
		wrole = widest(wrole, sx_role_name(r.m[i].role));
		wstate = widest(wstate, sx_member_state_name(r.m[i].state));
		sx_ctl_time(r.m[i].since_ms, t);
		wsince = widest(wsince, t);
		sx_ctl_time(r.m[i].until_ms, t);
		wuntil = widest(wuntil, t);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wname, "NAME", wrole, "ROLE", wstate,
	       "STATE", wsince, "SINCE", wuntil, "UNTIL", SX_SPKI_HEX - 1, "SPKI-SHA256",
	       "PREFIXES");
	for (size_t i = 0; i < r.n; i++) {
		const struct sx_member *m = &r.m[i];
		char since[SX_CTL_TIME], until[SX_CTL_TIME], hex[SX_SPKI_HEX];
		sx_ctl_time(m->since_ms, since);
		sx_ctl_time(m->until_ms, until);
		sx_hex(m->spki, SX_SPKI_LEN, hex);
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s  ", wname, m->name, wrole,
		       sx_role_name(m->role), wstate, sx_member_state_name(m->state), wsince,
		       since, wuntil, until, hex);
		size_t j = first_prefix(&r, m->id), k = j;
		for (; k < r.np && r.p[k].member_id == m->id; k++) {
			char text[SX_PREFIX_TEXT];
			sx_prefix_format(&r.p[k].p, text, sizeof text);
			printf("%s%s", k > j ? "," : "", text);
		}
		printf("%s\n", k == j ? "-" : "");
	}
	registry_free(&r);
	return sx_ctl_flush();
}

/* Members the public list names: every one that receives data. */
static int published(const struct sx_member *m)
{
	return m->role != SX_ROLE_SUBMITTER;
}

/* What the signed list says about itself: whose it is and when it was
 * made, so that an old list cannot pass for the current one. */
struct list_head {
	const char *origin;           /* NULL: unsigned list, no head */
	char generated[SX_CTL_TIME];
};

static int public_json(const struct registry *r, const struct list_head *h, struct sx_buf *b)
{
	struct sx_json js;
	sx_json_init(&js, b);
	sx_json_obj_begin(&js);
	if (h->origin != NULL) {
		sx_json_key(&js, "origin");
		sx_json_str(&js, h->origin);
		sx_json_key(&js, "generated");
		sx_json_str(&js, h->generated);
	}
	sx_json_key(&js, "members");
	sx_json_arr_begin(&js);
	for (size_t i = 0; i < r->n; i++) {
		const struct sx_member *m = &r->m[i];
		char since[SX_CTL_TIME], until[SX_CTL_TIME];
		if (!published(m))
			continue;
		sx_ctl_time(m->since_ms, since);
		sx_ctl_time(m->until_ms, until);
		sx_json_obj_begin(&js);
		sx_json_key(&js, "name");
		sx_json_str(&js, m->name);
		sx_json_key(&js, "role");
		sx_json_str(&js, sx_role_name(m->role));
		sx_json_key(&js, "since");
		sx_json_str(&js, since);
		sx_json_key(&js, "until");
		if (m->until_ms > 0)
			sx_json_str(&js, until);
		else
			sx_json_null(&js);
		sx_json_obj_end(&js);
	}
	sx_json_arr_end(&js);
	sx_json_obj_end(&js);
	int rc = sx_json_finish(&js);
	return rc == 0 ? sx_buf_append(b, "\n", 1) : rc;
}

/* Appends one formatted line (at most PUBLIC_LINE_MAX bytes) to b. */
#define PUBLIC_LINE_MAX 512
static int bprintf(struct sx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bprintf(struct sx_buf *b, const char *fmt, ...)
{
	char line[PUBLIC_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return SX_ETOOBIG;
	return sx_buf_append(b, line, (size_t)n);
}

static int public_text(const struct registry *r, const struct list_head *h, struct sx_buf *b)
{
	char t[SX_CTL_TIME];
	int wname = 4, wrole = 4, wsince = 5, rc = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (!published(&r->m[i]))
			continue;
		wname = widest(wname, r->m[i].name);
		wrole = widest(wrole, sx_role_name(r->m[i].role));
		sx_ctl_time(r->m[i].since_ms, t);
		wsince = widest(wsince, t);
	}
	if (h->origin != NULL)
		rc = bprintf(b, "# sprex public registry of %s, generated %s\n", h->origin,
			     h->generated);
	/* Suspension is not published: a suspended member is still a member. */
	if (rc == 0)
		rc = bprintf(b, "%-*s  %-*s  %-*s  %s\n", wname, "NAME", wrole, "ROLE", wsince,
			     "SINCE", "UNTIL");
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		char since[SX_CTL_TIME], until[SX_CTL_TIME];
		if (!published(&r->m[i]))
			continue;
		sx_ctl_time(r->m[i].since_ms, since);
		sx_ctl_time(r->m[i].until_ms, until);
		rc = bprintf(b, "%-*s  %-*s  %-*s  %s\n", wname, r->m[i].name, wrole,
			     sx_role_name(r->m[i].role), wsince, since, until);
	}
	return rc;
}

/* Writes the signature file: created or replaced, readable by all (it is
 * published with the list). Returns 0 or the exit status after reporting. */
static int write_sig(const char *path, const uint8_t sig[SX_CTL_SIG_LEN])
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sx_ctl_fail(EX_CANTCREAT, "members: %s: %s", path, strerror(errno));
	ssize_t n = write(fd, sig, SX_CTL_SIG_LEN);
	int e = errno;
	if (close(fd) != 0 && n == SX_CTL_SIG_LEN) {
		e = errno;
		n = -1;
	}
	if (n != SX_CTL_SIG_LEN)
		return sx_ctl_fail(EX_IOERR, "members: %s: %s", path,
				   n < 0 ? strerror(e) : "short write");
	return 0;
}

/* The published list can grow to this many bytes (about 100000 members). */
#define PUBLIC_LIST_MAX (16u << 20)

static int members_public(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "public", no_argument, NULL, 'P' },
		{ "format", required_argument, NULL, 'F' },
		{ "sign", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, public = 0, status;
	const char *format = NULL, *sigfile = NULL;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(PUBLIC_USAGE);
		case 'P':
			public = 1;
			break;
		case 'F':
			if ((status = sx_ctl_once("members", "--format", &format, optarg)))
				return status;
			break;
		case 'S':
			if ((status = sx_ctl_once("members", "--sign", &sigfile, optarg)))
				return status;
			break;
		case 1:
			return sx_ctl_fail(EX_USAGE, "members: unexpected argument '%s'", optarg);
		default:
			return sx_ctl_badopt("members", c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "members: unexpected argument '%s'", argv[optind]);
	if (!public)
		return sx_ctl_fail(EX_USAGE, "members: say --public for the published list "
				   "('member list' shows everything)");
	if (format && strcmp(format, "text") && strcmp(format, "json"))
		return sx_ctl_fail(EX_USAGE, "members: --format is text or json, not '%s'",
				   format);
	if (sigfile && sigfile[0] == '\0')
		return sx_ctl_fail(EX_USAGE, "members: --sign needs a file name");

	struct registry r = { .m = NULL };
	char origin[SX_AUDIT_ORIGIN_MAX];
	struct list_head head = { .origin = NULL };
	status = registry_load(ctl, &r, 0, sigfile ? origin : NULL, sizeof origin);
	if (status) {
		registry_free(&r);
		return status;
	}
	if (sigfile) {
		head.origin = origin;
		sx_ctl_time(sx_ctl_now_ms(), head.generated);
	}
	/* The whole list in memory first: the signature covers exactly the
	 * bytes written to stdout. */
	struct sx_buf b;
	sx_buf_init(&b, PUBLIC_LIST_MAX);
	int rc = format && strcmp(format, "json") == 0 ? public_json(&r, &head, &b)
						       : public_text(&r, &head, &b);
	registry_free(&r);
	if (rc != 0) {
		sx_buf_finish(&b);
		return rc == SX_ENOMEM ? sx_ctl_fail(EX_OSERR, "out of memory")
				       : sx_ctl_fail(EX_SOFTWARE, "members: list too large");
	}
	if (sigfile) {
		uint8_t sig[SX_CTL_SIG_LEN];
		status = sx_ctl_audit_sign(ctl, sx_buf_head(&b), sx_buf_used(&b), sig);
		if (status == 0)
			status = write_sig(sigfile, sig);
		if (status) {
			sx_buf_finish(&b);
			return status;
		}
	}
	fwrite(sx_buf_head(&b), 1, sx_buf_used(&b), stdout);
	sx_buf_finish(&b);
	return sx_ctl_flush();
}

/* --- dispatch ------------------------------------------------------------------ */

static const struct sx_ctl_cmd member_subs[] = {
	{ "add", ADD_USAGE, member_add },
	{ "list", LIST_USAGE, member_list },
	{ "suspend", SUSPEND_USAGE, member_suspend },
	{ "resume", RESUME_USAGE, member_resume },
	{ "remove", REMOVE_USAGE, member_remove },
	{ NULL, NULL, NULL },
};

static int cmd_member(const struct sx_ctl *ctl, int argc, char **argv)
{
	if (argc < 2)
		return sx_ctl_fail(EX_USAGE, "member: missing subcommand (add, list, suspend, "
				   "resume, remove)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return sx_ctl_help(MEMBER_USAGE);
	for (const struct sx_ctl_cmd *c = member_subs; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->run(ctl, argc - 1, argv + 1);
	return sx_ctl_fail(EX_USAGE, "member: unknown subcommand '%s' (see sprexctl member "
			   "--help)", argv[1]);
}

const struct sx_ctl_cmd sx_ctl_member_cmds[] = {
	{ "member", MEMBER_USAGE, cmd_member },
	{ "members", PUBLIC_USAGE, members_public },
	{ NULL, NULL, NULL },
};
