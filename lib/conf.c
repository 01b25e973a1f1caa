#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define MAX_KEYS 64 /* per table: enough for every sprex file, checked below */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int sx_conf_parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (*v < '0' || *v > '9')
		return SX_EINVAL;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n < min || n > max)
		return SX_EINVAL;
	*out = n;
	return 0;
}

/* Parses digits followed by a unit from units[]; bare digits take mult[0]. */
static int parse_scaled(const char *v, const char *const units[], const uint64_t mult[],
			uint64_t min, uint64_t max, uint64_t *out)
{
	if (*v < '0' || *v > '9')
		return SX_EINVAL;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno)
		return SX_EINVAL;
	uint64_t m = 0;
	if (*end == '\0') {
		m = mult[0];
	} else {
		for (size_t i = 1; units[i]; i++)
			if (strcmp(end, units[i]) == 0)
				m = mult[i];
	}
	if (m == 0 || n > UINT64_MAX / m)
		return SX_EINVAL;
	n *= m;
	if (n < min || n > max)
		return SX_EINVAL;
	*out = n;
	return 0;
}

int sx_conf_parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	static const char *const units[] = { "", "K", "M", "G", "KiB", "MiB", "GiB", NULL };
	static const uint64_t mult[] = { 1, 1u << 10, 1u << 20, 1u << 30, 1u << 10, 1u << 20,
					 1u << 30 };
	return parse_scaled(v, units, mult, min, max, out);
}

int sx_conf_parse_duration(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	static const char *const units[] = { "", "ms", "s", "m", "h", "d", NULL };
	static const uint64_t mult[] = { 1000, 1, 1000, 60000, 3600000, 86400000 };
	return parse_scaled(v, units, mult, min, max, out);
}

int sx_conf_parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0)
			return *out = 1, 0;
		if (strcmp(v, no[i]) == 0)
			return *out = 0, 0;
	}
	return SX_EINVAL;
}

int sx_conf_parse_log_level(void *field, const char *v, char *err, size_t errlen)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	for (int i = 0; i < 4; i++) {
		if (strcmp(v, names[i]) == 0) {
			*(int *)field = i; /* the SX_LOG_* values, in order */
			return 0;
		}
	}
	snprintf(err, errlen, "expected error, warning, info or debug, got \"%s\"", v);
	return SX_EINVAL;
}

/* Formats a limit for messages: sizes and durations in the unit they were
 * most likely written in. */
static void fmt_range(const struct sx_conf_key *k, char *out, size_t len)
{
	switch (k->type) {
	case SX_CONF_SIZE:
		snprintf(out, len, "a size from %llu to %llu bytes (suffix K, M or G)",
			 (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case SX_CONF_DURATION:
		snprintf(out, len, "a duration from %llums to %llums (suffix ms, s, m, h or d)",
			 (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	default:
		snprintf(out, len, "a whole number from %llu to %llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
	}
}

static int set_value(const struct sx_conf_key *k, void *target, const char *v, char *err,
		     size_t errlen)
{
	char *field = (char *)target + k->offset;
	uint64_t n;
	char range[128];
	switch (k->type) {
	case SX_CONF_STR: {
		if (*v == '\0') {
			snprintf(err, errlen, "%s: empty value", k->name);
			return SX_EINVAL;
		}
		char *dup = strdup(v);
		if (!dup) {
			snprintf(err, errlen, "out of memory");
			return SX_ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = dup;
		return 0;
	}
	case SX_CONF_U32:
	case SX_CONF_SIZE:
	case SX_CONF_DURATION: {
		int rc = k->type == SX_CONF_U32	     ? sx_conf_parse_u64(v, k->min, k->max, &n)
			 : k->type == SX_CONF_SIZE   ? sx_conf_parse_size(v, k->min, k->max, &n)
						     : sx_conf_parse_duration(v, k->min, k->max, &n);
		if (rc < 0) {
			fmt_range(k, range, sizeof range);
			snprintf(err, errlen, "%s: expected %s, got \"%s\"", k->name, range, v);
			return SX_EINVAL;
		}
		if (k->type == SX_CONF_U32)
			*(uint32_t *)field = (uint32_t)n;
		else
			*(uint64_t *)field = n;
		return 0;
	}
	case SX_CONF_BOOL:
		if (sx_conf_parse_bool(v, (int *)field) < 0) {
			snprintf(err, errlen, "%s: expected yes or no, got \"%s\"", k->name, v);
			return SX_EINVAL;
		}
		return 0;
	case SX_CONF_CUSTOM: {
		char why[256] = "";
		if (k->parse(field, v, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s: %s", k->name, why[0] ? why : "bad value");
			return SX_EINVAL;
		}
		return 0;
	}
	}
	return SX_EINVAL;
}

/* Parser state for one table (the top level or the current section). */
struct scope {
	const struct sx_conf_key *keys;
	void *target;
	unsigned seen[MAX_KEYS]; /* line where each key was set, 0 = not yet */
};

static int scope_open(struct scope *sc, const struct sx_conf_key *keys, void *target)
{
	size_t n = 0;
	while (keys[n].name)
		n++;
	if (n > MAX_KEYS)
		return SX_EINVAL;
	sc->keys = keys;
	sc->target = target;
	memset(sc->seen, 0, sizeof sc->seen);
	return 0;
}

/* A missing key has no line of its own: it is reported at the last line of
 * its scope (the section, or the file), like every other error "name:line:". */
static int scope_check_required(const struct scope *sc, const char *name, unsigned line,
				const char *where, char *err, size_t errlen)
{
	for (size_t i = 0; sc->keys[i].name; i++) {
		if (sc->keys[i].required && !sc->seen[i]) {
			snprintf(err, errlen, "%s:%u: required key \"%s\" missing%s", name,
				 line ? line : 1, sc->keys[i].name, where);
			return SX_ECONFIG;
		}
	}
	return 0;
}

/* Trims blanks on both sides in place; returns the new start. */
static char *trim(char *s, char *end)
{
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Splits a line into key and value, handling quotes and comments. Returns 0,
 * 1 for a blank/comment line, or SX_EINVAL with the reason in err. */
static int split_line(char *line, char **key, char **value, char *err, size_t errlen)
{
	char *eq = NULL, *p = line;
	for (; *p && *p != '#'; p++) {
		if (*p == '=') {
			eq = p;
			break;
		}
	}
	if (!eq) {
		char *hash = strchr(line, '#');
		char *s = trim(line, hash ? hash : line + strlen(line));
		if (*s == '\0')
			return 1;
		*key = s;
		*value = NULL; /* maybe a section header: the caller decides */
		return 0;
	}
	*key = trim(line, eq);
	char *v = eq + 1;
	while (is_blank(*v))
		v++;
	if (*v == '"') {
		char *close = strchr(v + 1, '"');
		if (!close) {
			snprintf(err, errlen, "unterminated quoted value");
			return SX_EINVAL;
		}
		char *rest = close + 1;
		while (is_blank(*rest))
			rest++;
		if (*rest && *rest != '#') {
			snprintf(err, errlen, "text after the closing quote");
			return SX_EINVAL;
		}
		*close = '\0';
		*value = v + 1;
	} else {
		char *hash = strchr(v, '#');
		*value = trim(v, hash ? hash : v + strlen(v));
	}
	if (**key == '\0') {
		snprintf(err, errlen, "missing key before '='");
		return SX_EINVAL;
	}
	return 0;
}

static int open_section(char *hdr, const struct sx_conf_sections *sections, void *conf,
			struct scope *sc, char *err, size_t errlen)
{
	size_t n = strlen(hdr);
	if (n < 3 || hdr[n - 1] != ']') {
		snprintf(err, errlen, "malformed section header");
		return SX_EINVAL;
	}
	hdr[n - 1] = '\0';
	char *kind = trim(hdr + 1, hdr + n - 1);
	char *name = kind;
	while (*name && !is_blank(*name))
		name++;
	if (*name)
		*name++ = '\0';
	while (is_blank(*name))
		name++;
	if (!sections) {
		snprintf(err, errlen, "sections are not allowed in this file");
		return SX_EINVAL;
	}
	const struct sx_conf_key *keys;
	void *target;
	char why[256] = "";
	if (sections->open(conf, kind, name, &keys, &target, why, sizeof why) < 0) {
		snprintf(err, errlen, "[%s %s]: %s", kind, name, why[0] ? why : "refused");
		return SX_EINVAL;
	}
	if (scope_open(sc, keys, target) < 0) {
		snprintf(err, errlen, "internal: key table too large");
		return SX_EINVAL;
	}
	return 0;
}

static int close_section(const char *name, unsigned line, const struct sx_conf_sections *sections,
			 void *conf, struct scope *sc, char *err, size_t errlen)
{
	int rc = scope_check_required(sc, name, line, " in this section", err, errlen);
	if (rc < 0)
		return rc;
	char why[256] = "";
	if (sections->close && sections->close(conf, sc->target, why, sizeof why) < 0) {
		snprintf(err, errlen, "%s:%u: %s", name, line, why);
		return SX_ECONFIG;
	}
	return 0;
}

int sx_conf_load_buf(const char *name, const char *buf, size_t len, const struct sx_conf_key *keys,
		     const struct sx_conf_sections *sections, void *conf, char *err, size_t errlen)
{
	struct scope top, sect;
	int in_section = 0;
	if (scope_open(&top, keys, conf) < 0) {
		snprintf(err, errlen, "internal: key table too large");
		return SX_ECONFIG;
	}
	char line[SX_CONF_LINE_MAX + 1];
	unsigned lineno = 0;
	size_t pos = 0;
	while (pos < len) {
		lineno++;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char why[512] = "";
		if (ll > SX_CONF_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line longer than %u bytes", name, lineno,
				 SX_CONF_LINE_MAX);
			return SX_ECONFIG;
		}
		if (memchr(buf + pos, '\0', ll)) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", name, lineno);
			return SX_ECONFIG;
		}
		memcpy(line, buf + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);

		char *key, *value;
		int rc = split_line(line, &key, &value, why, sizeof why);
		if (rc == 1)
			continue;
		if (rc == 0 && !value) {
			if (key[0] != '[') {
				snprintf(why, sizeof why, "expected \"key = value\", got \"%s\"", key);
				rc = SX_EINVAL;
			} else {
				if (in_section && close_section(name, lineno - 1, sections, conf, &sect,
								err, errlen) < 0)
					return SX_ECONFIG;
				rc = open_section(key, sections, conf, &sect, why, sizeof why);
				in_section = rc == 0;
				if (rc == 0)
					continue;
			}
		}
		if (rc < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
			return SX_ECONFIG;
		}
		struct scope *sc = in_section ? &sect : &top;
		size_t i;
		for (i = 0; sc->keys[i].name; i++)
			if (strcmp(sc->keys[i].name, key) == 0)
				break;
		const struct sx_conf_key *k = &sc->keys[i];
		if (!k->name) {
			snprintf(err, errlen, "%s:%u: unknown key \"%s\"%s", name, lineno, key,
				 in_section ? " in this section" : "");
			return SX_ECONFIG;
		}
		if (sc->seen[i] && !k->repeatable) {
			snprintf(err, errlen, "%s:%u: \"%s\" already set at line %u", name, lineno,
				 key, sc->seen[i]);
			return SX_ECONFIG;
		}
		if (set_value(k, sc->target, value, why, sizeof why) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
			return SX_ECONFIG;
		}
		sc->seen[i] = lineno;
	}
	if (in_section && close_section(name, lineno, sections, conf, &sect, err, errlen) < 0)
		return SX_ECONFIG;
	return scope_check_required(&top, name, lineno, "", err, errlen);
}

int sx_conf_load(const char *path, const struct sx_conf_key *keys,
		 const struct sx_conf_sections *sections, void *conf, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return SX_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return SX_EIO;
	}
	if (st.st_size > (off_t)SX_CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, SX_CONF_FILE_MAX);
		close(fd);
		return SX_ECONFIG;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return SX_ENOMEM;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 r < 0 ? strerror(errno) : "file shrank while reading");
			free(buf);
			close(fd);
			return SX_EIO;
		}
		got += (size_t)r;
	}
	close(fd);
	int rc = sx_conf_load_buf(path, buf, len, keys, sections, conf, err, errlen);
	free(buf);
	return rc;
}

void sx_conf_free(const struct sx_conf_key *keys, void *target)
{
	for (size_t i = 0; keys[i].name; i++) {
		if (keys[i].type == SX_CONF_STR) {
			char **f = (char **)((char *)target + keys[i].offset);
			free(*f);
			*f = NULL;
		}
	}
}
