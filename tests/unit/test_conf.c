/*
 * test_conf.c: the configuration file parser (lib/conf.c).
 *
 * Error messages are compared whole: "name:line: problem" is what operators
 * read, so the line number and the wording are part of the contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/conf.h"
#include "lib/err.h"

#define ERRLEN 512
#define NALLOW 8
#define NSUB 4

struct tsub {
	char *name;   /* from the header, owned by the test */
	char *topic;  /* STR, required */
	char *note;   /* STR */
	uint32_t prio;
	int durable;
};

struct allow_list {
	char names[NALLOW][32];
	int n;
};

struct tconf {
	char *name;
	char *path;
	uint32_t port;
	uint32_t count;
	uint64_t size;
	uint64_t bigsize;
	uint64_t timeout;
	uint64_t bigdur;
	int flag;
	struct allow_list allow;
	int mode;
	int odd;
	int level;
	struct tsub subs[NSUB];
	int nsubs;
	int ncloses;
};

/* CUSTOM, repeatable: collects names into its field. */
static int parse_allow(void *field, const char *value, char *err, size_t errlen)
{
	struct allow_list *a = field;
	if (value[0] < 'a' || value[0] > 'z' || strlen(value) >= sizeof a->names[0]) {
		snprintf(err, errlen, "\"%s\" is not a name", value);
		return SX_EINVAL;
	}
	if (a->n == NALLOW) {
		snprintf(err, errlen, "more than %d names", NALLOW);
		return SX_EINVAL;
	}
	strcpy(a->names[a->n++], value);
	return 0;
}

/* CUSTOM, not repeatable. */
static int parse_mode(void *field, const char *value, char *err, size_t errlen)
{
	int *mode = field;
	if (strcmp(value, "fast") == 0)
		*mode = 1;
	else if (strcmp(value, "slow") == 0)
		*mode = 2;
	else {
		snprintf(err, errlen, "expected fast or slow");
		return SX_EINVAL;
	}
	return 0;
}

/* CUSTOM that refuses without saying why. */
static int parse_odd(void *field, const char *value, char *err, size_t errlen)
{
	uint64_t n;
	if (sx_conf_parse_u64(value, 0, 1000, &n) < 0 || n % 2 == 0)
		return SX_EINVAL;
	*(int *)field = (int)n;
	return 0;
}

#define KEY(n, t, f) .name = (n), .type = (t), .offset = offsetof(struct tconf, f)

static const struct sx_conf_key top_keys[] = {
	{ KEY("name", SX_CONF_STR, name), .required = 1 },
	{ KEY("path", SX_CONF_STR, path) },
	{ KEY("port", SX_CONF_U32, port), .min = 1, .max = 65535 },
	{ KEY("count", SX_CONF_U32, count), .min = 0, .max = UINT32_MAX },
	{ KEY("size", SX_CONF_SIZE, size), .min = 512, .max = 1u << 30 },
	{ KEY("bigsize", SX_CONF_SIZE, bigsize), .min = 0, .max = UINT64_MAX },
	{ KEY("timeout", SX_CONF_DURATION, timeout), .min = 10, .max = 7 * 86400000ull },
	{ KEY("bigdur", SX_CONF_DURATION, bigdur), .min = 0, .max = UINT64_MAX },
	{ KEY("flag", SX_CONF_BOOL, flag) },
	{ KEY("allow", SX_CONF_CUSTOM, allow), .repeatable = 1, .parse = parse_allow },
	{ KEY("mode", SX_CONF_CUSTOM, mode), .parse = parse_mode },
	{ KEY("odd", SX_CONF_CUSTOM, odd), .parse = parse_odd },
	{ KEY("level", SX_CONF_CUSTOM, level), .parse = sx_conf_parse_log_level },
	{ .name = NULL },
};

#define SKEY(n, t, f) .name = (n), .type = (t), .offset = offsetof(struct tsub, f)

static const struct sx_conf_key sub_keys[] = {
	{ SKEY("topic", SX_CONF_STR, topic), .required = 1 },
	{ SKEY("note", SX_CONF_STR, note) },
	{ SKEY("prio", SX_CONF_U32, prio), .min = 0, .max = 9 },
	{ SKEY("durable", SX_CONF_BOOL, durable) },
	{ .name = NULL },
};

static int sub_open(void *conf, const char *kind, const char *name,
		    const struct sx_conf_key **keys, void **target, char *err, size_t errlen)
{
	struct tconf *c = conf;
	if (strcmp(kind, "sub") != 0) {
		snprintf(err, errlen, "unknown section kind \"%s\"", kind);
		return SX_EINVAL;
	}
	if (name[0] == '\0') {
		snprintf(err, errlen, "a subscription needs a name");
		return SX_EINVAL;
	}
	if (c->nsubs == NSUB) {
		snprintf(err, errlen, "more than %d subscriptions", NSUB);
		return SX_EINVAL;
	}
	struct tsub *s = &c->subs[c->nsubs++];
	s->name = strdup(name);
	assert_non_null(s->name);
	*keys = sub_keys;
	*target = s;
	return 0;
}

static int sub_close(void *conf, void *target, char *err, size_t errlen)
{
	struct tconf *c = conf;
	struct tsub *s = target;
	assert_ptr_equal(s, &c->subs[c->nsubs - 1]);
	c->ncloses++;
	if (s->topic && strcmp(s->topic, "reject") == 0) {
		snprintf(err, errlen, "topic \"reject\" is reserved");
		return SX_EINVAL;
	}
	return 0;
}

static const struct sx_conf_sections sections = { .open = sub_open, .close = sub_close };
static const struct sx_conf_sections sections_noclose = { .open = sub_open };

static void conf_release(struct tconf *c)
{
	sx_conf_free(top_keys, c);
	for (int i = 0; i < c->nsubs; i++) {
		sx_conf_free(sub_keys, &c->subs[i]);
		free(c->subs[i].name);
	}
	memset(c, 0, sizeof *c);
}

static int load_n(const char *text, size_t len, struct tconf *c, char *err)
{
	memset(c, 0, sizeof *c);
	strcpy(err, "(untouched)");
	return sx_conf_load_buf("t.conf", text, len, top_keys, &sections, c, err, ERRLEN);
}

static int load(const char *text, struct tconf *c, char *err)
{
	return load_n(text, strlen(text), c, err);
}

/* Loads text, expects SX_ECONFIG and exactly the message want. */
static void expect_err(const char *text, const char *want)
{
	struct tconf c;
	char err[ERRLEN];
	int rc = load(text, &c, err);
	if (rc != SX_ECONFIG || strcmp(err, want) != 0)
		print_error("input:\n%s\nwant: %s\ngot:  %d %s\n", text, want, rc, err);
	assert_int_equal(rc, SX_ECONFIG);
	assert_string_equal(err, want);
	conf_release(&c);
}

/* Loads "name = n\n" + text and expects success. */
static void expect_ok(const char *text, struct tconf *c)
{
	char buf[8192];
	char err[ERRLEN];
	int n = snprintf(buf, sizeof buf, "name = n\n%s", text);
	assert_true(n > 0 && (size_t)n < sizeof buf);
	int rc = load(buf, c, err);
	if (rc != 0)
		print_error("input:\n%s\ngot: %d %s\n", buf, rc, err);
	assert_int_equal(rc, 0);
}

/* Loads "name = n\n<key> = <value>\n" and expects the value refused on line 2
 * with the standard message. */
static void expect_bad_value(const char *key, const char *value, const char *range)
{
	char text[512], want[ERRLEN];
	snprintf(text, sizeof text, "name = n\n%s = %s\n", key, value);
	snprintf(want, sizeof want, "t.conf:2: %s: expected %s, got \"%s\"", key, range, value);
	expect_err(text, want);
}

static void test_all_types(void **state)
{
	struct tconf c;
	char err[ERRLEN];
	const char *text =
		"# a full file\n"
		"name = sprex\n"
		"path = /var/lib/sprex\n"
		"port = 7443\n"
		"count = 4294967295\n"
		"size = 64K\n"
		"bigsize = 3G\n"
		"timeout = 90s\n"
		"bigdur = 2d\n"
		"flag = yes\n"
		"allow = alice\n"
		"allow = bob\n"
		"mode = slow\n"
		"odd = 7\n"
		"level = debug\n";
	assert_int_equal(load(text, &c, err), 0);
	assert_string_equal(c.name, "sprex");
	assert_string_equal(c.path, "/var/lib/sprex");
	assert_int_equal(c.port, 7443);
	assert_int_equal(c.count, UINT32_MAX);
	assert_int_equal(c.size, 64 * 1024);
	assert_int_equal(c.bigsize, 3ull << 30);
	assert_int_equal(c.timeout, 90000);
	assert_int_equal(c.bigdur, 2 * 86400000ull);
	assert_int_equal(c.flag, 1);
	assert_int_equal(c.allow.n, 2);
	assert_string_equal(c.allow.names[0], "alice");
	assert_string_equal(c.allow.names[1], "bob");
	assert_int_equal(c.mode, 2);
	assert_int_equal(c.odd, 7);
	assert_int_equal(c.level, 3);
	assert_int_equal(c.nsubs, 0);
	assert_int_equal(c.ncloses, 0);
	conf_release(&c);
}

/* Keys not in the file keep what the caller put there. */
static void test_defaults_untouched(void **state)
{
	struct tconf c;
	char err[ERRLEN];
	memset(&c, 0, sizeof c);
	c.port = 1234;
	c.timeout = 5;
	c.flag = 7;
	const char *text = "name = x\n";
	assert_int_equal(sx_conf_load_buf("t.conf", text, strlen(text), top_keys, NULL, &c, err,
					  sizeof err), 0);
	assert_int_equal(c.port, 1234);
	assert_int_equal(c.timeout, 5);
	assert_int_equal(c.flag, 7);
	assert_null(c.path);
	conf_release(&c);
}

static void test_syntax(void **state)
{
	struct tconf c;
	char err[ERRLEN];

	/* comments, blank lines, blanks around '=' and at both ends */
	const char *text =
		"\n"
		"# comment\n"
		"   # indented comment\n"
		"\t\n"
		"   \n"
		"name=x\n"
		"  path \t=\t  /a/b  # trailing comment\n"
		"port = 80# no blank before the comment\n"
		"# = not a key\n"
		"#\n";
	assert_int_equal(load(text, &c, err), 0);
	assert_string_equal(c.name, "x");
	assert_string_equal(c.path, "/a/b");
	assert_int_equal(c.port, 80);
	conf_release(&c);

	/* quoted values keep blanks and '#', may be followed by a comment */
	expect_ok("path = \"  a # b = c  \"\n", &c);
	assert_string_equal(c.path, "  a # b = c  ");
	conf_release(&c);
	expect_ok("path = \"#\"   # comment\n", &c);
	assert_string_equal(c.path, "#");
	conf_release(&c);
	expect_ok("path=\"x\"\t\n", &c);
	assert_string_equal(c.path, "x");
	conf_release(&c);
	expect_ok("mode = \"fast\"\n", &c);
	assert_int_equal(c.mode, 1);
	conf_release(&c);
	expect_ok("port = \"443\"\n", &c);
	assert_int_equal(c.port, 443);
	conf_release(&c);

	/* a quote not at the start of the value is an ordinary character */
	expect_ok("path = a\"b\"\n", &c);
	assert_string_equal(c.path, "a\"b\"");
	conf_release(&c);

	/* '=' in a value is kept */
	expect_ok("path = a=b\n", &c);
	assert_string_equal(c.path, "a=b");
	conf_release(&c);

	/* no final newline */
	assert_int_equal(load("name = last", &c, err), 0);
	assert_string_equal(c.name, "last");
	conf_release(&c);

	/* empty buffer and comments only: just the required key is missing */
	expect_err("", "t.conf:1: required key \"name\" missing");
	expect_err("# nothing\n\n", "t.conf:2: required key \"name\" missing");
}

static void test_crlf(void **state)
{
	struct tconf c;
	char err[ERRLEN];
	const char *text =
		"# dos file\r\n"
		"\r\n"
		"name = x\r\n"
		"path = \"a b\"\r\n"
		"port = 8080 # c\r\n"
		"flag = off\r\n"
		"timeout = 5m\r\n"
		"[sub one]\r\n"
		"topic = t\r\n";
	assert_int_equal(load(text, &c, err), 0);
	assert_string_equal(c.name, "x");
	assert_string_equal(c.path, "a b");
	assert_int_equal(c.port, 8080);
	assert_int_equal(c.flag, 0);
	assert_int_equal(c.timeout, 300000);
	assert_int_equal(c.nsubs, 1);
	assert_string_equal(c.subs[0].name, "one");
	assert_string_equal(c.subs[0].topic, "t");
	conf_release(&c);

	/* line numbers count CRLF lines */
	expect_err("name = x\r\n\r\nbogus = 1\r\n", "t.conf:3: unknown key \"bogus\"");
}

static void test_unknown_and_repeated(void **state)
{
	expect_err("name = x\n\n# c\nbogus = 1\n", "t.conf:4: unknown key \"bogus\"");
	/* keys are case-sensitive */
	expect_err("Name = x\n", "t.conf:1: unknown key \"Name\"");
	expect_err("na me = x\n", "t.conf:1: unknown key \"na me\"");

	expect_err("port = 1\n\n# c\nport = 2\n", "t.conf:4: \"port\" already set at line 1");
	expect_err("name = a\nname = b\n", "t.conf:2: \"name\" already set at line 1");
	expect_err("flag = yes\nflag = yes\n", "t.conf:2: \"flag\" already set at line 1");
	expect_err("mode = fast\nmode = fast\n", "t.conf:2: \"mode\" already set at line 1");

	/* a repeatable custom key may appear many times */
	struct tconf c;
	expect_ok("allow = a\nallow = b\nport = 1\nallow = c\n", &c);
	assert_int_equal(c.allow.n, 3);
	assert_string_equal(c.allow.names[2], "c");
	conf_release(&c);
}

static void test_line_syntax_errors(void **state)
{
	expect_err("name = x\nport 80\n", "t.conf:2: expected \"key = value\", got \"port 80\"");
	expect_err("name\n", "t.conf:1: expected \"key = value\", got \"name\"");
	expect_err("  lone # = comment\n", "t.conf:1: expected \"key = value\", got \"lone\"");
	expect_err("name = x\n = 1\n", "t.conf:2: missing key before '='");
	expect_err("=1\n", "t.conf:1: missing key before '='");
	expect_err("\t=\n", "t.conf:1: missing key before '='");
	expect_err("name = x\npath = \"abc\n", "t.conf:2: unterminated quoted value");
	expect_err("path = \"\n", "t.conf:1: unterminated quoted value");
	expect_err("path = \"abc # def\n", "t.conf:1: unterminated quoted value");
	expect_err("path = \"a\" b\n", "t.conf:1: text after the closing quote");
	expect_err("path = \"a\"\"b\"\n", "t.conf:1: text after the closing quote");
	expect_err("path = \"a\"x # c\n", "t.conf:1: text after the closing quote");
}

static void test_str(void **state)
{
	expect_err("name =\n", "t.conf:1: name: empty value");
	expect_err("name = # only a comment\n", "t.conf:1: name: empty value");
	expect_err("name = \"\"\n", "t.conf:1: name: empty value");

	/* a partial result holds allocated strings: released by sx_conf_free
	 * (the leak check under ASan is the assertion) */
	struct tconf c;
	char err[ERRLEN];
	assert_int_equal(load("path = /p\nname = n\nport = 0\n", &c, err), SX_ECONFIG);
	assert_string_equal(c.path, "/p");
	assert_string_equal(c.name, "n");
	sx_conf_free(top_keys, &c);
	assert_null(c.path);
	assert_null(c.name);
	sx_conf_free(top_keys, &c); /* again, on NULL fields */
	assert_null(c.name);

	/* a STR given twice is an error; the first value is kept and freed */
	assert_int_equal(load("path = a\npath = b\n", &c, err), SX_ECONFIG);
	assert_string_equal(c.path, "a");
	conf_release(&c);
}

static void test_u32(void **state)
{
	struct tconf c;
	const char *port = "a whole number from 1 to 65535";
	const char *count = "a whole number from 0 to 4294967295";

	/* min and max accepted, min - 1 and max + 1 refused */
	expect_ok("port = 1\n", &c);
	assert_int_equal(c.port, 1);
	conf_release(&c);
	expect_ok("port = 65535\n", &c);
	assert_int_equal(c.port, 65535);
	conf_release(&c);
	expect_bad_value("port", "0", port);
	expect_bad_value("port", "65536", port);

	expect_ok("count = 0\n", &c);
	assert_int_equal(c.count, 0);
	conf_release(&c);
	expect_ok("count = 4294967295\n", &c);
	assert_int_equal(c.count, UINT32_MAX);
	conf_release(&c);
	expect_bad_value("count", "4294967296", count);
	expect_bad_value("count", "18446744073709551615", count);
	expect_bad_value("count", "18446744073709551616", count);
	expect_bad_value("count", "99999999999999999999", count);

	/* not a number */
	expect_bad_value("port", "-1", port);
	expect_bad_value("port", "+1", port);
	expect_bad_value("port", "1x", port);
	expect_bad_value("port", "0x10", port);
	expect_bad_value("port", "1 2", port);
	expect_bad_value("port", "1.0", port);
	expect_bad_value("port", "1K", port);
	expect_bad_value("port", "x", port);
	expect_err("name = n\nport =\n", "t.conf:2: port: expected a whole number from 1 to 65535,"
					   " got \"\"");
}

static void test_size(void **state)
{
	struct tconf c;
	const char *size = "a size from 512 to 1073741824 bytes (suffix K, M or G)";
	const char *big = "a size from 0 to 18446744073709551615 bytes (suffix K, M or G)";
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "512", 512 },
		{ "1073741824", 1u << 30 },
		{ "1K", 1024 },
		{ "1KiB", 1024 },
		{ "3M", 3u << 20 },
		{ "3MiB", 3u << 20 },
		{ "1G", 1u << 30 },
		{ "1GiB", 1u << 30 },
		{ "1048576K", 1u << 30 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char line[64];
		snprintf(line, sizeof line, "size = %s\n", ok[i].text);
		expect_ok(line, &c);
		assert_int_equal(c.size, ok[i].want);
		conf_release(&c);
	}
	/* range edges, with and without suffix */
	expect_bad_value("size", "511", size);
	expect_bad_value("size", "1073741825", size);
	expect_bad_value("size", "0K", size);
	expect_bad_value("size", "2G", size);
	expect_bad_value("size", "1048577K", size);
	/* junk suffixes */
	static const char *const junk[] = { "1KB", "1k", "1Kib", "1T", "1 K", "K", "1.5M", "-1K",
					    "1K1", "1KK", "0x1K", "1B" };
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		expect_bad_value("size", junk[i], size);

	/* overflow, with and without a suffix */
	expect_ok("bigsize = 18446744073709551615\n", &c);
	assert_int_equal(c.bigsize, UINT64_MAX);
	conf_release(&c);
	expect_ok("bigsize = 17179869183G\n", &c);
	assert_int_equal(c.bigsize, 17179869183ull << 30);
	conf_release(&c);
	expect_ok("bigsize = 0\n", &c);
	assert_int_equal(c.bigsize, 0);
	conf_release(&c);
	expect_bad_value("bigsize", "18446744073709551616", big);
	expect_bad_value("bigsize", "99999999999999999999", big);
	expect_bad_value("bigsize", "17179869184G", big);
	expect_bad_value("bigsize", "18014398509481984K", big);
	expect_bad_value("bigsize", "17592186044416M", big);
}

static void test_duration(void **state)
{
	struct tconf c;
	const char *tmo = "a duration from 10ms to 604800000ms (suffix ms, s, m, h or d)";
	const char *big =
		"a duration from 0ms to 18446744073709551615ms (suffix ms, s, m, h or d)";
	static const struct {
		const char *text;
		uint64_t want;
	} ok[] = {
		{ "10ms", 10 },
		{ "1s", 1000 },
		{ "1", 1000 }, /* bare = seconds */
		{ "45", 45000 },
		{ "2m", 120000 },
		{ "3h", 3 * 3600000ull },
		{ "1d", 86400000 },
		{ "7d", 7 * 86400000ull },
		{ "604800", 604800000 },
		{ "604800s", 604800000 },
		{ "604800000ms", 604800000 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char line[64];
		snprintf(line, sizeof line, "timeout = %s\n", ok[i].text);
		expect_ok(line, &c);
		assert_int_equal(c.timeout, ok[i].want);
		conf_release(&c);
	}
	expect_bad_value("timeout", "9ms", tmo);
	expect_bad_value("timeout", "0", tmo);
	expect_bad_value("timeout", "604800001ms", tmo);
	expect_bad_value("timeout", "604801", tmo);
	expect_bad_value("timeout", "8d", tmo);
	static const char *const junk[] = { "5x", "5sec", "5 s", "s", "-1s", "1.5s", "5S", "5M",
					    "5us", "5mss", "ms", "1s1" };
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		expect_bad_value("timeout", junk[i], tmo);

	expect_ok("bigdur = 18446744073709551615ms\n", &c);
	assert_int_equal(c.bigdur, UINT64_MAX);
	conf_release(&c);
	expect_ok("bigdur = 18446744073709551\n", &c);
	assert_int_equal(c.bigdur, 18446744073709551000ull);
	conf_release(&c);
	expect_ok("bigdur = 0ms\n", &c);
	assert_int_equal(c.bigdur, 0);
	conf_release(&c);
	expect_bad_value("bigdur", "18446744073709551616ms", big);
	expect_bad_value("bigdur", "99999999999999999999", big);
	expect_bad_value("bigdur", "18446744073709552", big);
	expect_bad_value("bigdur", "18446744073709552s", big);
	expect_bad_value("bigdur", "213503982335d", big);
	expect_bad_value("bigdur", "5124095576031h", big);
	expect_bad_value("bigdur", "307445734561826m", big);
	expect_ok("bigdur = 5124095576030h\n", &c);
	assert_int_equal(c.bigdur, 5124095576030ull * 3600000);
	conf_release(&c);
	expect_ok("bigdur = 213503982334d\n", &c);
	assert_int_equal(c.bigdur, 213503982334ull * 86400000);
	conf_release(&c);
}

static void test_bool(void **state)
{
	struct tconf c;
	static const struct {
		const char *text;
		int want;
	} ok[] = {
		{ "yes", 1 }, { "true", 1 }, { "on", 1 }, { "1", 1 },
		{ "no", 0 }, { "false", 0 }, { "off", 0 }, { "0", 0 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char line[64];
		snprintf(line, sizeof line, "flag = %s\n", ok[i].text);
		expect_ok(line, &c);
		assert_int_equal(c.flag, ok[i].want);
		conf_release(&c);
	}
	expect_err("name = n\nflag = maybe\n",
		   "t.conf:2: flag: expected yes or no, got \"maybe\"");
	expect_err("name = n\nflag = 2\n", "t.conf:2: flag: expected yes or no, got \"2\"");
	expect_err("name = n\nflag = y\n", "t.conf:2: flag: expected yes or no, got \"y\"");
	expect_err("name = n\nflag =\n", "t.conf:2: flag: expected yes or no, got \"\"");
}

static void test_custom(void **state)
{
	expect_err("name = n\nallow = a\nallow = 9lives\n",
		   "t.conf:3: allow: \"9lives\" is not a name");
	expect_err("allow = a\nallow = b\nallow = c\nallow = d\nallow = e\nallow = f\n"
		   "allow = g\nallow = h\nallow = i\n",
		   "t.conf:9: allow: more than 8 names");
	expect_err("mode = medium\n", "t.conf:1: mode: expected fast or slow");
	/* the parser gave no reason */
	expect_err("odd = 2\n", "t.conf:1: odd: bad value");
	struct tconf c;
	expect_ok("odd = 999\n", &c);
	assert_int_equal(c.odd, 999);
	conf_release(&c);

	/* the log level parser shipped with conf */
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	for (int i = 0; i < 4; i++) {
		char line[64];
		snprintf(line, sizeof line, "level = %s\n", levels[i]);
		expect_ok(line, &c);
		assert_int_equal(c.level, i);
		conf_release(&c);
	}
	expect_err("level = verbose\n",
		   "t.conf:1: level: expected error, warning, info or debug, got \"verbose\"");
	expect_err("level = Debug\n",
		   "t.conf:1: level: expected error, warning, info or debug, got \"Debug\"");
	expect_err("level = info\nlevel = info\n", "t.conf:2: \"level\" already set at line 1");
}

/* Builds "path = aaa...\n" with a line of exactly linelen bytes (no newline). */
static char *long_line(const char *prefix, size_t linelen, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + linelen + sl + 1);
	assert_non_null(s);
	memcpy(s, prefix, pl);
	memcpy(s + pl, "path = ", 7);
	memset(s + pl + 7, 'a', linelen - 7);
	memcpy(s + pl + linelen, suffix, sl + 1);
	return s;
}

static void test_line_max(void **state)
{
	struct tconf c;
	char err[ERRLEN], want[ERRLEN];

	/* exactly SX_CONF_LINE_MAX: accepted, with or without a final newline */
	char *s = long_line("name = n\n", SX_CONF_LINE_MAX, "\n");
	assert_int_equal(load(s, &c, err), 0);
	assert_int_equal(strlen(c.path), SX_CONF_LINE_MAX - 7);
	conf_release(&c);
	free(s);
	s = long_line("name = n\n", SX_CONF_LINE_MAX, "");
	assert_int_equal(load(s, &c, err), 0);
	assert_int_equal(strlen(c.path), SX_CONF_LINE_MAX - 7);
	conf_release(&c);
	free(s);

	/* one more byte: refused, and the line number is right */
	snprintf(want, sizeof want, "t.conf:2: line longer than %u bytes", SX_CONF_LINE_MAX);
	s = long_line("name = n\n", SX_CONF_LINE_MAX + 1, "\n");
	expect_err(s, want);
	free(s);
	s = long_line("name = n\n", SX_CONF_LINE_MAX + 1, "");
	expect_err(s, want);
	free(s);

	/* a comment line is no exception */
	s = long_line("name = n\n", SX_CONF_LINE_MAX + 1, "\n");
	s[9] = '#';
	expect_err(s, want);
	free(s);
}

static void test_nul_byte(void **state)
{
	struct tconf c;
	char err[ERRLEN];
	static const char a[] = "name = n\npath = a\0b\n";
	assert_int_equal(load_n(a, sizeof a - 1, &c, err), SX_ECONFIG);
	assert_string_equal(err, "t.conf:2: NUL byte in line");
	conf_release(&c);
	static const char b[] = "name = n\n# \0 in a comment\n";
	assert_int_equal(load_n(b, sizeof b - 1, &c, err), SX_ECONFIG);
	assert_string_equal(err, "t.conf:2: NUL byte in line");
	conf_release(&c);
	static const char d[] = "name = n\n\0";
	assert_int_equal(load_n(d, sizeof d - 1, &c, err), SX_ECONFIG);
	assert_string_equal(err, "t.conf:2: NUL byte in line");
	conf_release(&c);
}

static void test_required(void **state)
{
	expect_err("path = x\nport = 1\n", "t.conf:2: required key \"name\" missing");
	expect_err("port = 1", "t.conf:1: required key \"name\" missing");
	/* an error on a line wins over the missing key */
	expect_err("port = 0\n",
		   "t.conf:1: port: expected a whole number from 1 to 65535, got \"0\"");
}

static void test_sections(void **state)
{
	struct tconf c;
	char err[ERRLEN];
	const char *text =
		"name = n\n"
		"port = 5\n"
		"\n"
		"[sub alpha]\n"
		"topic = a.b\n"
		"prio = 9\n"
		"durable = yes\n"
		"\n"
		"  [ sub   beta  ]  # second\n"
		"topic = \"c # d\"\n"
		"note = hi\n"
		"[sub gamma delta]\n"
		"prio = 0\n"
		"topic = g\n";
	assert_int_equal(load(text, &c, err), 0);
	assert_string_equal(c.name, "n");
	assert_int_equal(c.port, 5);
	assert_int_equal(c.nsubs, 3);
	assert_int_equal(c.ncloses, 3);
	assert_string_equal(c.subs[0].name, "alpha");
	assert_string_equal(c.subs[0].topic, "a.b");
	assert_int_equal(c.subs[0].prio, 9);
	assert_int_equal(c.subs[0].durable, 1);
	assert_null(c.subs[0].note);
	assert_string_equal(c.subs[1].name, "beta");
	assert_string_equal(c.subs[1].topic, "c # d");
	assert_string_equal(c.subs[1].note, "hi");
	assert_string_equal(c.subs[2].name, "gamma delta");
	assert_string_equal(c.subs[2].topic, "g");
	assert_int_equal(c.subs[2].prio, 0);
	conf_release(&c);

	/* the close callback is optional */
	memset(&c, 0, sizeof c);
	const char *two = "name = n\n[sub a]\ntopic = t\n[sub b]\ntopic = u\n";
	assert_int_equal(sx_conf_load_buf("t.conf", two, strlen(two), top_keys, &sections_noclose,
					  &c, err, sizeof err), 0);
	assert_int_equal(c.nsubs, 2);
	assert_int_equal(c.ncloses, 0);
	conf_release(&c);

	/* a section at the very start; the same key in two sections is fine */
	expect_ok("[sub a]\ntopic = x\n[sub b]\ntopic = x\n", &c);
	assert_int_equal(c.nsubs, 2);
	conf_release(&c);
}

static void test_section_errors(void **state)
{
	/* keys of one table are not valid in the other */
	expect_err("name = n\n[sub a]\ntopic = t\nport = 1\n",
		   "t.conf:4: unknown key \"port\" in this section");
	expect_err("name = n\n[sub a]\ntopic = t\nname = m\n",
		   "t.conf:4: unknown key \"name\" in this section");
	expect_err("name = n\ntopic = t\n", "t.conf:2: unknown key \"topic\"");
	expect_err("name = n\n[sub a]\ntopic = t\nprio = 1\nprio = 2\n",
		   "t.conf:5: \"prio\" already set at line 4");
	expect_err("name = n\n[sub a]\ntopic = t\nprio = 10\n",
		   "t.conf:4: prio: expected a whole number from 0 to 9, got \"10\"");

	/* required key missing in a section followed by another one: reported
	 * at the last line of the section */
	expect_err("name = n\n[sub a]\nprio = 1\n\n[sub b]\ntopic = t\n",
		   "t.conf:4: required key \"topic\" missing in this section");
	/* ... and in the last section, at the end of the file */
	expect_err("name = n\n[sub a]\ntopic = t\n[sub b]\nprio = 1\n",
		   "t.conf:5: required key \"topic\" missing in this section");
	expect_err("name = n\n[sub a]",
		   "t.conf:2: required key \"topic\" missing in this section");
	/* a section does not satisfy the top level */
	expect_err("[sub a]\ntopic = t\n", "t.conf:2: required key \"name\" missing");

	/* the close callback refusing */
	expect_err("name = n\n[sub a]\ntopic = reject\n[sub b]\ntopic = t\n",
		   "t.conf:3: topic \"reject\" is reserved");
	expect_err("name = n\n[sub a]\ntopic = t\n[sub b]\ntopic = reject\n# end\n",
		   "t.conf:6: topic \"reject\" is reserved");

	/* the open callback refusing */
	expect_err("name = n\n[pub a]\n", "t.conf:2: [pub a]: unknown section kind \"pub\"");
	expect_err("name = n\n[sub]\n", "t.conf:2: [sub ]: a subscription needs a name");
	expect_err("[sub a]\ntopic = t\n[sub b]\ntopic = t\n[sub c]\ntopic = t\n[sub d]\n"
		   "topic = t\n[sub e]\n",
		   "t.conf:9: [sub e]: more than 4 subscriptions");

	/* malformed headers */
	expect_err("name = n\n[sub a\n", "t.conf:2: malformed section header");
	expect_err("name = n\n[]\n", "t.conf:2: malformed section header");
	expect_err("name = n\n[\n", "t.conf:2: malformed section header");
	expect_err("name = n\n[sub a] x\n", "t.conf:2: malformed section header");
	expect_err("name = n\n[sub a]]x\n", "t.conf:2: malformed section header");

	/* a header where the file allows none */
	struct tconf c;
	char err[ERRLEN];
	const char *text = "name = n\n\n[sub a]\ntopic = t\n";
	memset(&c, 0, sizeof c);
	assert_int_equal(sx_conf_load_buf("t.conf", text, strlen(text), top_keys, NULL, &c, err,
					  sizeof err), SX_ECONFIG);
	assert_string_equal(err, "t.conf:3: sections are not allowed in this file");
	conf_release(&c);
}

/* The per-table limit on keys (MAX_KEYS = 64 in conf.c): 64 work, 65 do not. */
static int parse_count(void *field, const char *value, char *err, size_t errlen)
{
	(*(int *)field)++;
	return 0;
}

static void test_key_table_limit(void **state)
{
	enum { N = 65 };
	static char names[N][16];
	static struct sx_conf_key keys[N + 1];
	int hits = 0;
	char err[ERRLEN];
	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "k%u", i);
		keys[i] = (struct sx_conf_key){ .name = names[i], .type = SX_CONF_CUSTOM,
						.parse = parse_count };
	}
	keys[64] = (struct sx_conf_key){ .name = NULL };
	const char *text = "k0 = 1\nk63 = 1\n";
	assert_int_equal(sx_conf_load_buf("t.conf", text, strlen(text), keys, NULL, &hits, err,
					  sizeof err), 0);
	assert_int_equal(hits, 2);
	keys[64] = (struct sx_conf_key){ .name = names[64], .type = SX_CONF_CUSTOM,
					 .parse = parse_count };
	keys[65] = (struct sx_conf_key){ .name = NULL };
	assert_int_equal(sx_conf_load_buf("t.conf", text, strlen(text), keys, NULL, &hits, err,
					  sizeof err), SX_ECONFIG);
	assert_string_equal(err, "internal: key table too large");
}

/* Small errlen: the message is cut, still NUL-terminated. */
static void test_short_err_buffer(void **state)
{
	struct tconf c;
	char err[8];
	const char *text = "bogus = 1\n";
	memset(&c, 0, sizeof c);
	memset(err, 'x', sizeof err);
	assert_int_equal(sx_conf_load_buf("t.conf", text, strlen(text), top_keys, NULL, &c, err,
					  sizeof err), SX_ECONFIG);
	assert_string_equal(err, "t.conf:");
}

static void test_parsers(void **state)
{
	uint64_t n = 42;
	int b = 5;
	assert_int_equal(sx_conf_parse_u64("0", 0, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sx_conf_parse_u64("18446744073709551615", 0, UINT64_MAX, &n), 0);
	assert_int_equal(n, UINT64_MAX);
	n = 42;
	assert_int_equal(sx_conf_parse_u64("18446744073709551616", 0, UINT64_MAX, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_u64("", 0, 10, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_u64(" 1", 0, 10, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_u64("1 ", 0, 10, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_u64("4", 5, 10, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_u64("11", 5, 10, &n), SX_EINVAL);
	assert_int_equal(n, 42); /* untouched on error */
	assert_int_equal(sx_conf_parse_u64("5", 5, 10, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(sx_conf_parse_u64("10", 5, 10, &n), 0);
	assert_int_equal(n, 10);

	assert_int_equal(sx_conf_parse_size("2K", 0, UINT64_MAX, &n), 0);
	assert_int_equal(n, 2048);
	assert_int_equal(sx_conf_parse_size("2", 0, UINT64_MAX, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sx_conf_parse_size("", 0, UINT64_MAX, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_size("1K", 1025, UINT64_MAX, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_size("1K", 0, 1023, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_size("1K", 1024, 1024, &n), 0);
	assert_int_equal(n, 1024);

	assert_int_equal(sx_conf_parse_duration("2", 0, UINT64_MAX, &n), 0);
	assert_int_equal(n, 2000);
	assert_int_equal(sx_conf_parse_duration("2ms", 0, UINT64_MAX, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sx_conf_parse_duration("", 0, UINT64_MAX, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_duration("1s", 1001, UINT64_MAX, &n), SX_EINVAL);
	assert_int_equal(sx_conf_parse_duration("1s", 0, 999, &n), SX_EINVAL);

	assert_int_equal(sx_conf_parse_bool("true", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(sx_conf_parse_bool("off", &b), 0);
	assert_int_equal(b, 0);
	b = 5;
	assert_int_equal(sx_conf_parse_bool("", &b), SX_EINVAL);
	assert_int_equal(sx_conf_parse_bool("yes ", &b), SX_EINVAL);
	assert_int_equal(sx_conf_parse_bool("YES", &b), SX_EINVAL);
	assert_int_equal(b, 5);
}

/* ---- sx_conf_load: files ---- */

struct fixture {
	char dir[256];
	char path[300];
};

static int dir_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/test_conf.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof f->path, "%s/sprex.conf", f->dir);
	*state = f;
	return 0;
}

static int dir_teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static int load_file(const char *path, struct tconf *c, char *err)
{
	memset(c, 0, sizeof *c);
	return sx_conf_load(path, top_keys, &sections, c, err, ERRLEN);
}

static void test_load_file(void **state)
{
	struct fixture *f = *state;
	struct tconf c;
	char err[ERRLEN], want[ERRLEN];
	const char *text = "name = fromfile\nport = 9\n[sub s]\ntopic = t\n";
	write_file(f->path, text, strlen(text));
	assert_int_equal(load_file(f->path, &c, err), 0);
	assert_string_equal(c.name, "fromfile");
	assert_int_equal(c.port, 9);
	assert_int_equal(c.nsubs, 1);
	conf_release(&c);

	/* errors carry the path as the name */
	text = "name = x\nport = 0\n";
	write_file(f->path, text, strlen(text));
	assert_int_equal(load_file(f->path, &c, err), SX_ECONFIG);
	snprintf(want, sizeof want,
		 "%s:2: port: expected a whole number from 1 to 65535, got \"0\"", f->path);
	assert_string_equal(err, want);
	conf_release(&c);

	/* an empty file */
	write_file(f->path, "", 0);
	assert_int_equal(load_file(f->path, &c, err), SX_ECONFIG);
	snprintf(want, sizeof want, "%s:1: required key \"name\" missing", f->path);
	assert_string_equal(err, want);
	conf_release(&c);
}

static void test_load_missing(void **state)
{
	struct fixture *f = *state;
	struct tconf c;
	char err[ERRLEN], want[ERRLEN];
	char path[400];
	snprintf(path, sizeof path, "%s/does-not-exist.conf", f->dir);
	assert_int_equal(load_file(path, &c, err), SX_EIO);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_null(c.name);
	conf_release(&c);

	/* a path through a regular file: open fails even for root */
	write_file(f->path, "name = x\n", 9);
	snprintf(path, sizeof path, "%s/x.conf", f->path);
	assert_int_equal(load_file(path, &c, err), SX_EIO);
	snprintf(want, sizeof want, "%s: cannot open: Not a directory", path);
	assert_string_equal(err, want);
	conf_release(&c);
}

static void test_load_directory(void **state)
{
	struct fixture *f = *state;
	struct tconf c;
	char err[ERRLEN], want[ERRLEN];
	assert_int_equal(load_file(f->dir, &c, err), SX_EIO);
	snprintf(want, sizeof want, "%s: not a regular file", f->dir);
	assert_string_equal(err, want);
	conf_release(&c);
}

static void test_load_unreadable(void **state)
{
	struct fixture *f = *state;
	struct tconf c;
	char err[ERRLEN];
	if (geteuid() == 0)
		skip(); /* root reads anything */
	write_file(f->path, "name = x\n", 9);
	assert_int_equal(chmod(f->path, 0), 0);
	assert_int_equal(load_file(f->path, &c, err), SX_EIO);
	assert_int_equal(strncmp(err, f->path, strlen(f->path)), 0);
	assert_non_null(strstr(err, ": cannot open: "));
	conf_release(&c);
}

/* A file of exactly n bytes: a required key, then comment lines. */
static char *file_of(size_t n)
{
	char *s = malloc(n);
	assert_non_null(s);
	const char *head = "name = big\n";
	size_t hl = strlen(head);
	assert_true(n > hl + 2);
	memcpy(s, head, hl);
	for (size_t i = hl; i < n; i += 100) {
		size_t k = n - i < 100 ? n - i : 100;
		memset(s + i, ' ', k);
		s[i] = '#';
		s[i + k - 1] = '\n';
	}
	return s;
}

static void test_load_file_max(void **state)
{
	struct fixture *f = *state;
	struct tconf c;
	char err[ERRLEN], want[ERRLEN];

	char *s = file_of(SX_CONF_FILE_MAX);
	write_file(f->path, s, SX_CONF_FILE_MAX);
	free(s);
	assert_int_equal(load_file(f->path, &c, err), 0);
	assert_string_equal(c.name, "big");
	conf_release(&c);

	s = file_of(SX_CONF_FILE_MAX + 1);
	write_file(f->path, s, SX_CONF_FILE_MAX + 1);
	free(s);
	assert_int_equal(load_file(f->path, &c, err), SX_ECONFIG);
	snprintf(want, sizeof want, "%s: larger than %u bytes", f->path, SX_CONF_FILE_MAX);
	assert_string_equal(err, want);
	assert_null(c.name);
	conf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_types),
		cmocka_unit_test(test_defaults_untouched),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_unknown_and_repeated),
		cmocka_unit_test(test_line_syntax_errors),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_u32),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_custom),
		cmocka_unit_test(test_line_max),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_key_table_limit),
		cmocka_unit_test(test_short_err_buffer),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test_setup_teardown(test_load_file, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_load_directory, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_load_unreadable, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_load_file_max, dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
