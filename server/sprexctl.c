/*
 * sprexctl.c: the operator tool's main, command dispatch and shared helpers.
 *
 *   sprexctl [--db FILE] [--config SPREXD_CONF] COMMAND [ARGS]...
 *
 * Global options come before COMMAND; each command parses its own after it.
 */
#include "ctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "err.h"
#include "srvconf.h"

#ifndef SPREX_VERSION
#define SPREX_VERSION "unknown"
#endif

#define SX_CTL_ERR_MAX 512

/* --- helpers for the command files -------------------------------------- */

int sx_ctl_fail(int status, const char *fmt, ...)
{
	char msg[SX_CTL_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fflush(stdout);   /* keep the order of what was printed before */
	fprintf(stderr, "sprexctl: %s\n", msg);
	return status;
}

void sx_ctl_getopt_reset(void)
{
	optind = 0;   /* glibc: 0 re-initializes completely, not just the index */
	opterr = 0;   /* we print our own one-line messages */
}

int sx_ctl_badopt(const char *cmd, int c, char **argv)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };
	/* An unknown long option (optopt 0) and one missing its argument have
	 * been stepped over, so argv[optind - 1] is as typed; an unknown short
	 * one may sit inside a cluster like "-xh" and is named by its letter. */
	const char *name = shortopt;
	if ((c == ':' || optopt == 0) && optind > 0)
		name = argv[optind - 1];
	if (cmd == NULL) {
		if (c == ':')
			return sx_ctl_fail(EX_USAGE, "option '%s' needs an argument", name);
		return sx_ctl_fail(EX_USAGE, "unknown option '%s' (see sprexctl --help)", name);
	}
	if (c == ':')
		return sx_ctl_fail(EX_USAGE, "%s: option '%s' needs an argument", cmd, name);
	return sx_ctl_fail(EX_USAGE, "%s: unknown option '%s' (see sprexctl %s --help)", cmd,
			   name, cmd);
}

int sx_ctl_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return sx_ctl_fail(EX_IOERR, "cannot write the output");
	return EX_OK;
}

int sx_ctl_help(const char *usage)
{
	printf("Usage: sprexctl [--db FILE] [--config SPREXD_CONF] COMMAND ...\n%s", usage);
	return sx_ctl_flush();
}

int sx_ctl_status(int err)
{
	switch (err) {
	case 0:
		return EX_OK;
	case SX_EINVAL:
	case SX_EEXIST:
	case SX_ENOTFOUND:
		return EX_DATAERR;
	case SX_EBUSY:
	case SX_EAGAIN:
	case SX_ETIMEDOUT:
		return EX_TEMPFAIL;
	case SX_EIO:
		return EX_IOERR;
	case SX_EPERM:
		return EX_NOPERM;
	case SX_ECONFIG:
		return EX_CONFIG;
	case SX_ENOMEM:
		return EX_OSERR;
	default:
		return EX_SOFTWARE;
	}
}

int sx_ctl_open(const struct sx_ctl *ctl, int flags, struct sx_store **out)
{
	char err[SX_CTL_ERR_MAX];
	int rc = sx_store_open(ctl->db, flags, out, err, sizeof err);
	if (rc == 0)
		return EX_OK;
	int create = (flags & SX_STORE_CREATE) != 0;
	int status;
	switch (rc) {
	case SX_ENOTFOUND: status = EX_NOINPUT; break;
	case SX_EEXIST: status = EX_CANTCREAT; break;
	case SX_EPERM: status = create ? EX_CANTCREAT : EX_NOPERM; break;
	case SX_EIO: status = create ? EX_CANTCREAT : EX_IOERR; break;
	case SX_EDB: status = EX_DATAERR; break;   /* not sprex, newer schema, damaged */
	case SX_EINVAL: status = EX_USAGE; break;
	default: status = sx_ctl_status(rc); break;
	}
	return sx_ctl_fail(status, "%s", err);
}

int64_t sx_ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sx_ctl_time(int64_t ms, char out[SX_CTL_TIME])
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, SX_CTL_TIME, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, SX_CTL_TIME, "-");
}

/* --- commands of this file ---------------------------------------------- */

#define INIT_USAGE \
	"  init                    create the database (refuses a file that exists) and\n" \
	"                          its audit signing key DB.audit-key\n"

int sx_ctl_once(const char *cmd, const char *opt, const char **slot, const char *value)
{
	if (*slot != NULL)
		return sx_ctl_fail(EX_USAGE, "%s: %s given twice", cmd, opt);
	*slot = value;
	return 0;
}

int sx_ctl_store_fail(const struct sx_ctl *ctl, struct sx_store *s, int err)
{
	int status = sx_ctl_status(err);
	if (status == EX_DATAERR)
		return sx_ctl_fail(status, "%s", sx_store_errmsg(s));
	return sx_ctl_fail(status, "%s: %s%s", ctl->db, sx_store_errmsg(s),
			   status == EX_TEMPFAIL ? " (try again)" : "");
}

int sx_ctl_operand(const char *cmd, const char **operand, const char *arg)
{
	if (*operand != NULL)
		return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, arg);
	*operand = arg;
	return 0;
}

int sx_ctl_operand_end(const char *cmd, const char *what, int argc, char **argv,
		       const char **operand)
{
	int st;
	for (; optind < argc; optind++)   /* operands after "--" */
		if ((st = sx_ctl_operand(cmd, operand, argv[optind])))
			return st;
	if (*operand == NULL)
		return sx_ctl_fail(EX_USAGE, "%s: missing %s (see sprexctl %s --help)", cmd, what,
				   cmd);
	return -1;
}

int sx_ctl_one_operand(const char *cmd, const char *usage, const char *what, int argc,
		       char **argv, const char **operand)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, st;
	*operand = NULL;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(usage);
		case 1:
			if ((st = sx_ctl_operand(cmd, operand, optarg)))
				return st;
			break;
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	return sx_ctl_operand_end(cmd, what, argc, argv, operand);
}

static int cmd_init(const struct sx_ctl *ctl, int argc, char **argv)
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
			return sx_ctl_help(INIT_USAGE);
		case 1:
			return sx_ctl_fail(EX_USAGE, "init: unexpected argument '%s'", optarg);
		default:
			return sx_ctl_badopt("init", c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "init: unexpected argument '%s'", argv[optind]);
	struct sx_store *s;
	int status = sx_ctl_open(ctl, SX_STORE_CREATE, &s);
	if (status)
		return status;
	/* The audit log's own signing key and origin (docs/audit.md). */
	status = sx_ctl_audit_init(ctl, s);
	sx_store_close(s);
	return status;
}

static const struct sx_ctl_cmd core_cmds[] = {
	{ "init", INIT_USAGE, cmd_init },
	{ NULL, NULL, NULL },
};

/* Every command file's table; a new file adds its table here. */
static const struct sx_ctl_cmd *const cmd_tables[] = {
	core_cmds,
	sx_ctl_member_cmds,
	sx_ctl_ingest_cmds,
	sx_ctl_report_cmds,
	sx_ctl_notice_cmds,
	sx_ctl_stats_cmds,
	sx_ctl_audit_cmds,
};

static const struct sx_ctl_cmd *find_cmd(const char *name)
{
	for (size_t t = 0; t < sizeof cmd_tables / sizeof cmd_tables[0]; t++)
		for (const struct sx_ctl_cmd *c = cmd_tables[t]; c->name != NULL; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static int usage(void)
{
	printf("Usage: sprexctl [--db FILE] [--config SPREXD_CONF] COMMAND [ARGS]...\n"
	       "\n"
	       "Operator tool of sprex, the spam report exchange. It works on the database\n"
	       "FILE, else the db of SPREXD_CONF, else $" SX_CTL_DB_ENV ", else\n"
	       SX_CTL_DB_DEFAULT ".\n"
	       "\n"
	       "Commands:\n");
	for (size_t t = 0; t < sizeof cmd_tables / sizeof cmd_tables[0]; t++)
		for (const struct sx_ctl_cmd *c = cmd_tables[t]; c->name != NULL; c++)
			fputs(c->usage, stdout);
	printf("\n"
	       "Options:\n"
	       "  --db FILE               the database\n"
	       "  --config SPREXD_CONF    sprexd's configuration: its db, and for ingest its\n"
	       "                          message limits and trusted relays\n"
	       "  -h, --help              this text; COMMAND --help for one command\n"
	       "  --version               the version\n"
	       "\n"
	       "Times are UTC (ISO 8601). A member's identity is the SHA-256 of its\n"
	       "certificate's public key (SPKI), never its certificate's name.\n"
	       "\n"
	       "Exit status: 0 done; 64 usage; 65 bad data (name, role, prefix, certificate,\n"
	       "unknown or duplicate member, not a sprex database); 66 database or file\n"
	       "missing; 70 internal error; 71 out of memory; 73 cannot create; 74 I/O error;\n"
	       "75 database busy, try again; 77 permission denied; 78 configuration.\n"
	       "ingest - (an MTA pipe) says 0 stored, 65 unusable message, 75 try again\n"
	       "later, 78 configuration error.\n");
	return sx_ctl_flush();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct sx_ctl ctl = { .db = NULL };
	static struct sx_srvconf conf;   /* large; lives as long as main */
	int c;

	/* Whatever the tool creates is for the operator only. */
	umask(umask(0) | 077);

	sx_ctl_getopt_reset();
	/* "+": stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (optarg[0] == '\0')
				return sx_ctl_fail(EX_USAGE, "--db needs a file name");
			ctl.db = optarg;
			break;
		case 'c':
			if (optarg[0] == '\0')
				return sx_ctl_fail(EX_USAGE, "--config needs a file name");
			ctl.conf_path = optarg;
			break;
		case 'h':
			return usage();
		case 'V':
			printf("sprexctl (sprex) %s\n", SPREX_VERSION);
			return sx_ctl_flush();
		default:
			return sx_ctl_badopt(NULL, c, argv);
		}
	}
	if (ctl.conf_path != NULL) {
		char err[SX_CTL_ERR_MAX];
		if (sx_srvconf_load(&conf, ctl.conf_path, err, sizeof err) != 0) {
			sx_srvconf_finish(&conf);
			return sx_ctl_fail(EX_CONFIG, "%s", err);
		}
		ctl.conf = &conf;
		if (ctl.db == NULL)
			ctl.db = conf.db;
	}
	if (ctl.db == NULL) {
		const char *env = getenv(SX_CTL_DB_ENV);
		if (env != NULL && env[0] == '\0')
			return sx_ctl_fail(EX_CONFIG, "$" SX_CTL_DB_ENV " is set but empty");
		ctl.db = env != NULL ? env : SX_CTL_DB_DEFAULT;
	}
	int status;
	const struct sx_ctl_cmd *cmd = NULL;
	if (optind >= argc)
		status = sx_ctl_fail(EX_USAGE, "no command given (see sprexctl --help)");
	else if ((cmd = find_cmd(argv[optind])) == NULL)
		status = sx_ctl_fail(EX_USAGE, "unknown command '%s' (see sprexctl --help)",
				     argv[optind]);
	else
		status = cmd->run(&ctl, argc - optind, argv + optind);
	if (status == EX_OK)
		status = sx_ctl_flush();
	if (ctl.conf != NULL)
		sx_srvconf_finish(&conf);
	return status;
}
