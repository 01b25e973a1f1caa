/*
 * conf.h: "key = value" configuration files, driven by a table of keys.
 *
 * Syntax: one "key = value" per line; '#' starts a comment anywhere outside a
 * value's quotes; blank lines ignored; a value may be wrapped in double quotes
 * to keep leading/trailing blanks or '#'. Keys are case-sensitive. A line
 * "[kind name]" opens a section whose keys come from a second table (used for
 * the agent's subscriptions). Every error is one line "FILE:LINE: problem".
 */
#ifndef SX_CONF_H
#define SX_CONF_H

#include <stddef.h>
#include <stdint.h>

#define SX_CONF_LINE_MAX 4096        /* longest line accepted */
#define SX_CONF_FILE_MAX (1u << 20)  /* largest file accepted */

enum sx_conf_type {
	SX_CONF_STR,       /* char *, strdup'ed; freed by sx_conf_free */
	SX_CONF_U32,       /* uint32_t in [min, max] */
	SX_CONF_SIZE,      /* uint64_t bytes; suffixes K, M, G (binary) */
	SX_CONF_DURATION,  /* uint64_t milliseconds; suffixes ms, s, m, h, d; bare = s */
	SX_CONF_BOOL,      /* int: yes/no, true/false, on/off, 1/0 */
	SX_CONF_CUSTOM,    /* parse() decides; may be repeatable */
};

struct sx_conf_key {
	const char *name;
	enum sx_conf_type type;
	size_t offset;            /* of the field inside the target struct */
	uint64_t min, max;        /* for numbers, sizes, durations */
	int required;
	int repeatable;           /* only for SX_CONF_CUSTOM */
	/* For SX_CONF_CUSTOM: store value into the field at offset; on error fill
	 * err (without file:line, added by the caller) and return SX_EINVAL. */
	int (*parse)(void *field, const char *value, char *err, size_t errlen);
};

/* A section header "[kind name]" asks open() for the table and target of the
 * keys that follow; open fills err and returns SX_EINVAL to refuse it. */
struct sx_conf_sections {
	int (*open)(void *conf, const char *kind, const char *name,
		    const struct sx_conf_key **keys, void **target, char *err, size_t errlen);
	/* Called when a section ends (next header or EOF) to check required keys;
	 * may be NULL. */
	int (*close)(void *conf, void *target, char *err, size_t errlen);
};

/*
 * Loads path into conf using keys (terminated by a {NULL} entry); sections may
 * be NULL when the file has none. Unknown keys, repeated non-repeatable keys,
 * bad values and missing required keys are errors. Returns 0, SX_EIO (file
 * unreadable, reason in err) or SX_ECONFIG ("path:line: ..." in err). On error
 * conf may hold partial values: release with sx_conf_free either way.
 */
int sx_conf_load(const char *path, const struct sx_conf_key *keys,
		 const struct sx_conf_sections *sections, void *conf, char *err, size_t errlen);

/* The same over a buffer; name stands for the file in messages. */
int sx_conf_load_buf(const char *name, const char *buf, size_t len, const struct sx_conf_key *keys,
		     const struct sx_conf_sections *sections, void *conf, char *err, size_t errlen);

/* Frees every SX_CONF_STR field of target listed in keys and sets it NULL. */
void sx_conf_free(const struct sx_conf_key *keys, void *target);

/* Value parsers, usable by custom keys. Each returns 0 or SX_EINVAL. */
int sx_conf_parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out);
int sx_conf_parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *out);
int sx_conf_parse_duration(const char *v, uint64_t min, uint64_t max, uint64_t *out);
int sx_conf_parse_bool(const char *v, int *out);
/* A custom-key parser for log levels (error, warning, info, debug) into an
 * int field holding a SX_LOG_* value. */
int sx_conf_parse_log_level(void *field, const char *v, char *err, size_t errlen);

#endif
