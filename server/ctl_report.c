/*
 * ctl_report.c: sprexctl's report commands ("report show", "report raw",
 * "quarantine list").
 *
 * Subjects, reasons and evidence come from spam: every text is printed with
 * control characters and bidirectional overrides escaped, so a report cannot
 * drive the operator's terminal.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "err.h"
#include "pipeline.h"

#define SHOW_USAGE \
	"  report show ID          a report's metadata: source, consent, state, source\n" \
	"                          address and ISP, flags with their evidence,\n" \
	"                          categories, redaction manifest, subject, digest, size\n"
#define RAW_USAGE \
	"  report raw ID           the stored (de-personalized) mail, byte for byte\n"
#define REPORT_USAGE SHOW_USAGE RAW_USAGE
#define QLIST_USAGE \
	"  quarantine list [--after SEQ] [--limit N]\n" \
	"                          quarantined reports: seq, id, received, source, why\n"

#define ID_RULE "'r' and 25 characters a-z, 2-7"
/* Fields of one JSON object in the evidence or manifest, and their size. */
#define JSON_FIELDS 8
#define JSON_KEY_MAX 16
#define JSON_VALUE_MAX 512

/* --- safe text ------------------------------------------------------------ */

/* Length of the UTF-8 sequence at p (1..4) and its code point, or 0. */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned c = p[0];
	size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
		   : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (v < least[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* Code points a terminal acts on or that reorder text (Trojan Source). */
static int unsafe_cp(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F ||
	       cp == 0x061C;
}

/* Prints n bytes of s with unsafe code points as \uXXXX and invalid bytes as
 * \xNN. */
static void put_safe_n(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		uint32_t cp = 0;
		size_t len = utf8_next(p + i, n - i, &cp);
		if (len == 0) {
			printf("\\x%02x", p[i]);
			i++;
		} else if (unsafe_cp(cp)) {
			printf("\\u%04" PRIx32, cp);
			i += len;
		} else {
			fwrite(p + i, 1, len, stdout);
			i += len;
		}
	}
}

static void put_safe(const char *s)
{
	put_safe_n(s, strlen(s));
}

/* --- the JSON kept with a report ------------------------------------------ */

/*
 * A reader for exactly what intake writes: an array of flat objects whose
 * values are strings, integers, booleans or null. Values come back as text.
 */
struct jobj {
	char key[JSON_FIELDS][JSON_KEY_MAX];
	char val[JSON_FIELDS][JSON_VALUE_MAX];
	unsigned n;
};

struct jreader {
	const char *p;
	const char *end;
};

static void jws(struct jreader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int jeat(struct jreader *r, char c)
{
	jws(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return 1;
	}
	return 0;
}

static int hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
			   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
		if (d == 16)
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Appends code point cp as UTF-8 to out (size max, *n used); drops what does
 * not fit. */
static void put_cp(char *out, size_t max, size_t *n, uint32_t cp)
{
	char b[4];
	size_t len;
	if (cp < 0x80) {
		b[0] = (char)cp;
		len = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		len = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		len = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		len = 4;
	}
	if (*n + len < max) {
		memcpy(out + *n, b, len);
		*n += len;
	}
}

/* Reads a string into out (truncated to fit, NUL-terminated). */
static int jstring(struct jreader *r, char *out, size_t max)
{
	size_t n = 0;
	if (!jeat(r, '"'))
		return -1;
	while (r->p < r->end && *r->p != '"') {
		uint32_t cp;
		if (*r->p != '\\') {
			if (n + 1 < max)
				out[n++] = *r->p;
			r->p++;
			continue;
		}
		if (r->end - r->p < 2)
			return -1;
		char e = r->p[1];
		r->p += 2;
		switch (e) {
		case '"': case '\\': case '/': cp = (unsigned char)e; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (r->end - r->p < 4 || hex4(r->p, &cp))
				return -1;
			r->p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->p >= 6 &&
			    r->p[0] == '\\' && r->p[1] == 'u') {
				uint32_t lo;
				if (hex4(r->p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					r->p += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			break;
		default:
			return -1;
		}
		put_cp(out, max, &n, cp);
	}
	if (r->p >= r->end)
		return -1;
	r->p++;
	out[n] = '\0';
	return 0;
}

/* Reads a scalar that is not a string as its text. */
static int jscalar(struct jreader *r, char *out, size_t max)
{
	jws(r);
	size_t n = strspn(r->p, "-+.0123456789eEtruefalsn");
	if (n == 0 || n >= max || r->p + n > r->end)
		return -1;
	memcpy(out, r->p, n);
	out[n] = '\0';
	r->p += n;
	return 0;
}

static int jobject(struct jreader *r, struct jobj *o)
{
	memset(o, 0, sizeof *o);
	if (!jeat(r, '{'))
		return -1;
	if (jeat(r, '}'))
		return 0;
	do {
		char key[JSON_KEY_MAX], val[JSON_VALUE_MAX];
		jws(r);
		if (jstring(r, key, sizeof key) || !jeat(r, ':'))
			return -1;
		jws(r);
		if (r->p < r->end && *r->p == '"' ? jstring(r, val, sizeof val)
						  : jscalar(r, val, sizeof val))
			return -1;
		if (o->n < JSON_FIELDS) {
			memcpy(o->key[o->n], key, sizeof key);
			memcpy(o->val[o->n], val, sizeof val);
			o->n++;
		}
	} while (jeat(r, ','));
	return jeat(r, '}') ? 0 : -1;
}

static const char *jget(const struct jobj *o, const char *key)
{
	for (unsigned i = 0; i < o->n; i++)
		if (strcmp(o->key[i], key) == 0)
			return o->val[i];
	return "";
}

typedef void (*jobj_fn)(const struct jobj *o, void *ctx);

/* Calls fn for each object of the array in json. Returns 0 or -1 (not the
 * shape intake writes; what was read before was printed). */
static int jarray_each(const char *json, jobj_fn fn, void *ctx)
{
	struct jreader r = { json, json + strlen(json) };
	struct jobj *o = malloc(sizeof *o);
	if (o == NULL)
		return -1;
	int rc = -1;
	if (!jeat(&r, '['))
		goto out;
	if (jeat(&r, ']')) {
		rc = 0;
		goto out;
	}
	do {
		if (jobject(&r, o))
			goto out;
		fn(o, ctx);
	} while (jeat(&r, ','));
	if (jeat(&r, ']')) {
		jws(&r);
		rc = r.p == r.end ? 0 : -1;
	}
out:
	free(o);
	return rc;
}

/* --- names ------------------------------------------------------------------ */

static const char *source_name(int source)
{
	switch (source) {
	case SX_SRC_PUBLIC: return "public";
	case SX_SRC_MONITOR: return "monitor";
	case SX_SRC_CHAIN: return "chain";
	}
	return "unknown";
}

static void put_consent(unsigned consent)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ SX_CONSENT_ASSOCIATION, "association" },
		{ SX_CONSENT_ISP, "isp" },
		{ SX_CONSENT_ENFORCEMENT, "enforcement" },
	};
	const char *sep = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (consent & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = ",";
		}
	}
	if (*sep == '\0')
		printf("none");
}

/* Prints the names of the bits set in v (name(bit), or the bit in hex). */
static void put_bits(unsigned v, const char *(*name)(unsigned bit))
{
	const char *sep = "";
	for (unsigned i = 0; i < 32; i++) {
		unsigned bit = 1u << i;
		if (!(v & bit))
			continue;
		const char *n = name(bit);
		if (n != NULL && strcmp(n, "unknown") != 0)
			printf("%s%s", sep, n);
		else
			printf("%s0x%x", sep, bit);
		sep = ",";
	}
	if (*sep == '\0')
		printf("none");
}

static const char *flag_name(unsigned bit)
{
	return sx_flag_name((enum sx_flag)bit);
}

static const char *category_name(unsigned bit)
{
	return sx_category_name((enum sx_category)bit);
}

/* --- report show --------------------------------------------------------- */

/* Parses "CMD ID" where only --help is an option. Returns -1 with *id set,
 * or the exit status to end with. */
static int parse_id(const char *cmd, const char *usage, int argc, char **argv, const char **id)
{
	int st = sx_ctl_one_operand(cmd, usage, "ID", argc, argv, id);
	if (st != -1)
		return st;
	if (!sx_report_id_ok(*id))
		return sx_ctl_fail(EX_DATAERR, "%s: invalid report id (" ID_RULE ")", cmd);
	return -1;
}

/* Prints one evidence item: those of flags (ctx NULL) or, with ctx set,
 * those that explain a category (flag null). */
static void show_evidence(const struct jobj *o, void *ctx)
{
	const char *flag = jget(o, "flag");
	int category = strcmp(flag, "null") == 0 || flag[0] == '\0';
	if (category != (ctx != NULL))
		return;
	printf("  ");
	if (!category) {
		put_safe(flag);
		printf("  ");
	}
	put_safe(jget(o, "check"));
	printf("  ");
	put_safe(jget(o, "where"));
	printf(": ");
	put_safe(jget(o, "detail"));
	if (jget(o, "article")[0] != '\0') {
		printf(" (");
		put_safe(jget(o, "article"));
		printf(")");
	}
	printf("\n");
}

static void show_manifest(const struct jobj *o, void *ctx)
{
	(void)ctx;
	const char *part = jget(o, "part");
	printf("  part ");
	put_safe(part[0] != '\0' ? part : "root");
	printf("  ");
	put_safe(jget(o, "where"));
	printf("  ");
	put_safe(jget(o, "kind"));
	printf("  ");
	put_safe(jget(o, "encoding"));
	printf("  x");
	put_safe(jget(o, "count"));
	printf("  at ");
	put_safe(jget(o, "offset"));
	printf(" length ");
	put_safe(jget(o, "length"));
	printf("\n");
}

/* Prints the lines of one JSON array, or says it cannot. */
static void show_json(const char *json, jobj_fn fn, void *ctx)
{
	if (jarray_each(json, fn, ctx) != 0)
		printf("  (unreadable: %zu bytes of JSON)\n", strlen(json));
}

static void show(const struct sx_report_row *r, const char *evidence, const char *manifest)
{
	char t[SX_CTL_TIME];
	sx_ctl_time(r->received_ms, t);
	printf("id          %s\n", r->id);
	printf("seq         %lld\n", (long long)r->seq);
	printf("received    %s\n", t);
	printf("source      %s\n", source_name(r->source));
	printf("consent     ");
	if (r->source == SX_SRC_PUBLIC)
		put_consent(r->consent);
	else
		printf("-");
	printf("\nsubmitter   ");
	if (r->submitter[0] != '\0') {
		put_safe(r->submitter);
		printf(" (client id ");
		put_safe(r->client_msg_id);
		printf(")");
	} else {
		printf("- (sprexctl ingest)");
	}
	printf("\nstate       %s", sx_report_state_name(r->state));
	if (r->state == SX_REPORT_QUARANTINED) {
		printf(": ");
		put_safe(r->reason);
	}
	printf("\nsource ip   ");
	if (r->source_ip[0] != '\0') {
		put_safe(r->source_ip);
		if (r->source_port != 0)
			printf(" port %u", r->source_port);
	} else {
		printf("unknown");
	}
	printf("\nisp         ");
	if (r->isp[0] != '\0')
		put_safe(r->isp);
	else
		printf("-");
	printf("\nflags       ");
	put_bits(r->flags, flag_name);
	printf("\n");
	show_json(evidence, show_evidence, NULL);
	printf("categories  ");
	put_bits(r->categories, category_name);
	printf("\n");
	int categories = 1;
	show_json(evidence, show_evidence, &categories);
	printf("redactions  %u\n", r->redactions);
	show_json(manifest, show_manifest, NULL);
	printf("subject     ");
	put_safe(r->subject);
	printf("\nsha256      %s\n", r->sha256);
	printf("size        %zu bytes\n", r->mail_len);
}

static int report_show(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "report show";
	const char *id;
	int status = parse_id(cmd, SHOW_USAGE, argc, argv, &id);
	if (status >= 0)
		return status;
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	struct sx_report_row r;
	char *evidence = NULL, *manifest = NULL;
	int rc = sx_store_report_get(s, id, &r);
	if (rc == 0)
		rc = sx_store_report_json(s, id, &evidence, &manifest);
	if (rc == SX_ENOTFOUND)
		status = sx_ctl_fail(EX_DATAERR, "%s: no report %s", cmd, id);
	else if (rc != 0)
		status = sx_ctl_store_fail(ctl, s, rc);
	else
		show(&r, evidence, manifest);
	free(evidence);
	free(manifest);
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

static int report_raw(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "report raw";
	const char *id;
	int status = parse_id(cmd, RAW_USAGE, argc, argv, &id);
	if (status >= 0)
		return status;
	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	uint8_t *mail = NULL;
	size_t len = 0;
	int rc = sx_store_report_mail(s, id, &mail, &len);
	if (rc == SX_ENOTFOUND)
		status = sx_ctl_fail(EX_DATAERR, "%s: no report %s", cmd, id);
	else if (rc == SX_ENOMEM)
		status = sx_ctl_fail(EX_OSERR, "out of memory");
	else if (rc != 0)
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_store_close(s);
	if (rc == 0 && fwrite(mail, 1, len, stdout) != len)
		status = sx_ctl_fail(EX_IOERR, "cannot write the output");
	free(mail);
	return status ? status : sx_ctl_flush();
}

/* --- quarantine list ------------------------------------------------------- */

static int parse_count(const char *cmd, const char *opt, const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 0)
		return sx_ctl_fail(EX_USAGE, "%s: %s needs a number, not '%s'", cmd, opt, v);
	*out = n;
	return -1;
}

static int list_one(void *ctx, const struct sx_report_row *r)
{
	(void)ctx;
	char t[SX_CTL_TIME];
	sx_ctl_time(r->received_ms, t);
	printf("%-8lld  %s  %-20s  %-7s  ", (long long)r->seq, r->id, t, source_name(r->source));
	put_safe(r->reason);
	printf("\n");
	return ferror(stdout) ? SX_EIO : 0;
}

static int quarantine_list(const struct sx_ctl *ctl, int argc, char **argv)
{
	static const char cmd[] = "quarantine list";
	static const struct option opts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t after = 0, limit = 0;
	int c, status;
	sx_ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return sx_ctl_help(QLIST_USAGE);
		case 'a':
			if ((status = parse_count(cmd, "--after", optarg, &after)) >= 0)
				return status;
			break;
		case 'l':
			if ((status = parse_count(cmd, "--limit", optarg, &limit)) >= 0)
				return status;
			break;
		case 1:
			return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, optarg);
		default:
			return sx_ctl_badopt(cmd, c, argv);
		}
	}
	if (optind < argc)
		return sx_ctl_fail(EX_USAGE, "%s: unexpected argument '%s'", cmd, argv[optind]);

	struct sx_store *s;
	if ((status = sx_ctl_open(ctl, 0, &s)))
		return status;
	printf("%-8s  %-*s  %-20s  %-7s  %s\n", "SEQ", SX_REPORT_ID_LEN, "ID", "RECEIVED",
	       "SOURCE", "REASON");
	int rc = sx_store_report_each(s, after, SX_REPORT_QUARANTINED, (size_t)limit, list_one,
				      NULL);
	if (rc == SX_EIO && ferror(stdout))
		status = sx_ctl_fail(EX_IOERR, "cannot write the output");
	else if (rc != 0)
		status = sx_ctl_store_fail(ctl, s, rc);
	sx_store_close(s);
	return status ? status : sx_ctl_flush();
}

/* --- dispatch ---------------------------------------------------------------- */

static const struct sx_ctl_cmd report_subs[] = {
	{ "show", SHOW_USAGE, report_show },
	{ "raw", RAW_USAGE, report_raw },
	{ NULL, NULL, NULL },
};

static int cmd_report(const struct sx_ctl *ctl, int argc, char **argv)
{
	if (argc < 2)
		return sx_ctl_fail(EX_USAGE, "report: missing subcommand (show, raw)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return sx_ctl_help(REPORT_USAGE);
	for (const struct sx_ctl_cmd *c = report_subs; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->run(ctl, argc - 1, argv + 1);
	return sx_ctl_fail(EX_USAGE, "report: unknown subcommand '%s' (see sprexctl report "
			   "--help)", argv[1]);
}

static int cmd_quarantine(const struct sx_ctl *ctl, int argc, char **argv)
{
	if (argc < 2)
		return sx_ctl_fail(EX_USAGE, "quarantine: missing subcommand (list)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return sx_ctl_help(QLIST_USAGE);
	if (strcmp(argv[1], "list") == 0)
		return quarantine_list(ctl, argc - 1, argv + 1);
	return sx_ctl_fail(EX_USAGE, "quarantine: unknown subcommand '%s' (see sprexctl "
			   "quarantine --help)", argv[1]);
}

const struct sx_ctl_cmd sx_ctl_report_cmds[] = {
	{ "report", REPORT_USAGE, cmd_report },
	{ "quarantine", QLIST_USAGE, cmd_quarantine },
	{ NULL, NULL, NULL },
};
