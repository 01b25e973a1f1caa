#include "agentconf.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze.h"
#include "conf.h"
#include "err.h"
#include "frame.h"
#include "log.h"

static int parse_server(void *field, const char *v, char *err, size_t errlen)
{
	struct sx_agentconf *c = field; /* registered at offset 0: the whole struct */
	if (sx_hostport_parse(v, c->host, sizeof c->host, &c->port) < 0 || c->port == 0) {
		snprintf(err, errlen, "expected host:port or [ipv6]:port, got \"%s\"", v);
		return SX_EINVAL;
	}
	return 0;
}

#define OFF(f) offsetof(struct sx_agentconf, f)
static const struct sx_conf_key agent_keys[] = {
	{ "server", SX_CONF_CUSTOM, 0, 0, 0, 1, 0, parse_server },
	{ "server_name", SX_CONF_STR, OFF(server_name), 0, 0, 0, 0, NULL },
	{ "tls_cert", SX_CONF_STR, OFF(tls_cert), 0, 0, 1, 0, NULL },
	{ "tls_key", SX_CONF_STR, OFF(tls_key), 0, 0, 1, 0, NULL },
	{ "tls_ca", SX_CONF_STR, OFF(tls_ca), 0, 0, 1, 0, NULL },
	{ "log_level", SX_CONF_CUSTOM, OFF(log_level), 0, 0, 0, 0, sx_conf_parse_log_level },
	{ "max_frame", SX_CONF_SIZE, OFF(max_frame), SX_FRAME_MIN_MAX, SX_FRAME_MAX_MAX, 0, 0, NULL },
	{ "heartbeat", SX_CONF_DURATION, OFF(heartbeat_ms), 1000, 600000, 0, 0, NULL },
	{ "handshake_timeout", SX_CONF_DURATION, OFF(handshake_timeout_ms), 100, 300000, 0, 0, NULL },
	{ "reconnect_min", SX_CONF_DURATION, OFF(reconnect_min_ms), 10, 60000, 0, 0, NULL },
	{ "reconnect_max", SX_CONF_DURATION, OFF(reconnect_max_ms), 10, 60000, 0, 0, NULL },
	{ "status_file", SX_CONF_STR, OFF(status_file), 0, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, 0, NULL },
};
#undef OFF

/* ---------------------------------------------------------------- subscriptions */

struct word {
	const char *name;
	uint32_t value;
};

static const struct word feeds[] = {
	{ "association", SPREX__FEED__FEED_ASSOCIATION },
	{ "notices", SPREX__FEED__FEED_NOTICES },
	{ "enforcement", SPREX__FEED__FEED_ENFORCEMENT },
	{ "chain", SPREX__FEED__FEED_CHAIN },
	{ NULL, 0 },
};
static const struct word sources[] = {
	{ "public", SX_AGENT_SRC_PUBLIC },
	{ "monitor", SX_AGENT_SRC_MONITOR },
	{ "chain", SX_AGENT_SRC_CHAIN },
	{ NULL, 0 },
};
static const struct word flags[] = {
	{ "opt-in", SX_FLAG_OPTIN },
	{ "labeling", SX_FLAG_LABELING },
	{ "spoofing", SX_FLAG_SPOOFING },
	{ NULL, 0 },
};
static const struct word categories[] = {
	{ "japanese", SX_CAT_JAPANESE },
	{ "foreign", SX_CAT_FOREIGN },
	{ "garbled", SX_CAT_GARBLED },
	{ "virus", SX_CAT_VIRUS },
	{ "insufficient", SX_CAT_INSUFFICIENT },
	{ NULL, 0 },
};
static const struct word sinks[] = {
	{ "maildir", SX_SINK_MAILDIR },
	{ "jsonl", SX_SINK_JSONL },
	{ "exec", SX_SINK_EXEC },
	{ "arf-maildir", SX_SINK_ARF_MAILDIR },
	{ "arf-exec", SX_SINK_ARF_EXEC },
	{ "xarf-jsonl", SX_SINK_XARF_JSONL },
	{ "xarf-exec", SX_SINK_XARF_EXEC },
	{ NULL, 0 },
};

/* "a, b, c" -> items without blanks; returns the count or SX_EINVAL. */
#define ITEMS_MAX SX_AGENT_LIST_MAX
static int split_list(const char *v, char items[][SX_AGENT_LIST_ITEM_MAX + 1], char *err,
		      size_t errlen)
{
	int n = 0;
	const char *p = v;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *end = e;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		size_t len = (size_t)(end - p);
		if (len == 0) {
			snprintf(err, errlen, "empty item in the list");
			return SX_EINVAL;
		}
		if (len > SX_AGENT_LIST_ITEM_MAX) {
			snprintf(err, errlen, "item longer than %d bytes", SX_AGENT_LIST_ITEM_MAX);
			return SX_EINVAL;
		}
		if (n == ITEMS_MAX) {
			snprintf(err, errlen, "more than %d items", ITEMS_MAX);
			return SX_EINVAL;
		}
		memcpy(items[n], p, len);
		items[n][len] = '\0';
		n++;
		if (!*e)
			return n;
		p = e + 1;
	}
}

static int lookup(const struct word *w, const char *name, uint32_t *out)
{
	for (; w->name; w++) {
		if (strcmp(w->name, name) == 0) {
			*out = w->value;
			return 0;
		}
	}
	return SX_EINVAL;
}

/* "expected one of a, b, c" */
static void expected(const struct word *w, const char *what, const char *got, char *err,
		     size_t errlen)
{
	size_t pos = 0;
	int n = snprintf(err, errlen, "unknown %s \"%s\"; expected one of ", what, got);
	if (n < 0 || (size_t)n >= errlen)
		return;
	pos = (size_t)n;
	for (const struct word *p = w; p->name && pos < errlen; p++) {
		n = snprintf(err + pos, errlen - pos, "%s%s", p == w ? "" : ", ", p->name);
		if (n < 0)
			return;
		pos += (size_t)n;
	}
}

static int parse_word(const struct word *w, const char *what, const char *v, uint32_t *out,
		      char *err, size_t errlen)
{
	if (lookup(w, v, out) < 0) {
		expected(w, what, v, err, errlen);
		return SX_EINVAL;
	}
	return 0;
}

static int parse_bits(const struct word *w, const char *what, const char *v, uint32_t *out,
		      char *err, size_t errlen)
{
	char items[ITEMS_MAX][SX_AGENT_LIST_ITEM_MAX + 1];
	int n = split_list(v, items, err, errlen);
	if (n < 0)
		return n;
	uint32_t bits = 0;
	for (int i = 0; i < n; i++) {
		uint32_t b;
		if (parse_word(w, what, items[i], &b, err, errlen) < 0)
			return SX_EINVAL;
		bits |= b;
	}
	*out = bits;
	return 0;
}

static int parse_feed(void *field, const char *v, char *err, size_t errlen)
{
	uint32_t f;
	if (parse_word(feeds, "feed", v, &f, err, errlen) < 0)
		return SX_EINVAL;
	*(int *)field = (int)f;
	return 0;
}

static int parse_sink(void *field, const char *v, char *err, size_t errlen)
{
	uint32_t k;
	if (parse_word(sinks, "sink", v, &k, err, errlen) < 0)
		return SX_EINVAL;
	*(enum sx_sink_kind *)field = (enum sx_sink_kind)k;
	return 0;
}

static int parse_digest(void *field, const char *v, char *err, size_t errlen)
{
	static const struct word modes[] = {
		{ "none", SX_SINK_DIGEST_NONE },
		{ "daily", SX_SINK_DIGEST_DAILY },
		{ NULL, 0 },
	};
	uint32_t m;
	if (parse_word(modes, "digest", v, &m, err, errlen) < 0)
		return SX_EINVAL;
	*(int *)field = (int)m;
	return 0;
}

static int parse_sources(void *field, const char *v, char *err, size_t errlen)
{
	return parse_bits(sources, "source", v, field, err, errlen);
}

static int parse_flags(void *field, const char *v, char *err, size_t errlen)
{
	return parse_bits(flags, "flag", v, field, err, errlen);
}

static int parse_categories(void *field, const char *v, char *err, size_t errlen)
{
	return parse_bits(categories, "category", v, field, err, errlen);
}

static int store_list(struct sx_agent_list *l, char items[][SX_AGENT_LIST_ITEM_MAX + 1], int n,
		      char *err, size_t errlen)
{
	l->v = calloc((size_t)n, sizeof *l->v);
	if (!l->v)
		goto oom;
	for (int i = 0; i < n; i++) {
		if (!(l->v[i] = strdup(items[i])))
			goto oom;
		l->n++;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return SX_EINVAL;
}

/* Member names as sprexctl accepts them: printable, no blanks or commas. */
static int parse_isps(void *field, const char *v, char *err, size_t errlen)
{
	char items[ITEMS_MAX][SX_AGENT_LIST_ITEM_MAX + 1];
	int n = split_list(v, items, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		for (const char *c = items[i]; *c; c++) {
			if (!isalnum((unsigned char)*c) && !strchr("._-", *c)) {
				snprintf(err, errlen,
					 "\"%s\" is not a member name ([A-Za-z0-9._-])",
					 items[i]);
				return SX_EINVAL;
			}
		}
	}
	return store_list(field, items, n, err, errlen);
}

static int parse_countries(void *field, const char *v, char *err, size_t errlen)
{
	char items[ITEMS_MAX][SX_AGENT_LIST_ITEM_MAX + 1];
	int n = split_list(v, items, err, errlen);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		char *c = items[i];
		if (strlen(c) != 2 || !isalpha((unsigned char)c[0]) ||
		    !isalpha((unsigned char)c[1])) {
			snprintf(err, errlen, "\"%s\" is not an ISO 3166 alpha-2 code", c);
			return SX_EINVAL;
		}
		c[0] = (char)toupper((unsigned char)c[0]);
		c[1] = (char)toupper((unsigned char)c[1]);
	}
	return store_list(field, items, n, err, errlen);
}

/* YYYY-MM-DDTHH:MM:SSZ, UTC only, checked by a round trip. */
static int parse_utc(const char *v, int64_t *ms)
{
	int y, mo, d, h, mi, s, end = -1;
	if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &end) != 6 ||
	    end < 0 || v[end] != '\0' || strlen(v) != 20)
		return SX_EINVAL;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = s };
	time_t t = timegm(&tm);
	struct tm back;
	if (y < 1970 || !gmtime_r(&t, &back) || back.tm_year != y - 1900 ||
	    back.tm_mon != mo - 1 || back.tm_mday != d || back.tm_hour != h ||
	    back.tm_min != mi || back.tm_sec != s)
		return SX_EINVAL;
	*ms = (int64_t)t * 1000;
	return 0;
}

static int parse_start(void *field, const char *v, char *err, size_t errlen)
{
	struct sx_agentsub *sub = field; /* registered at offset 0 */
	if (strcmp(v, "earliest") == 0) {
		sub->start.kind = SX_AGENT_START_EARLIEST;
	} else if (strcmp(v, "new") == 0) {
		sub->start.kind = SX_AGENT_START_NEW;
	} else if (strncmp(v, "seq:", 4) == 0) {
		if (sx_conf_parse_u64(v + 4, 0, INT64_MAX, &sub->start.seq) < 0)
			goto bad;
		sub->start.kind = SX_AGENT_START_SEQ;
	} else if (strncmp(v, "time:", 5) == 0) {
		if (parse_utc(v + 5, &sub->start.time_ms) < 0)
			goto bad;
		sub->start.kind = SX_AGENT_START_TIME;
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "expected earliest, new, seq:N or time:YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", v);
	return SX_EINVAL;
}

#define SOFF(f) offsetof(struct sx_agentsub, f)
static const struct sx_conf_key sub_keys[] = {
	{ "feed", SX_CONF_CUSTOM, SOFF(feed), 0, 0, 1, 0, parse_feed },
	{ "sources", SX_CONF_CUSTOM, SOFF(sources), 0, 0, 0, 0, parse_sources },
	{ "flags", SX_CONF_CUSTOM, SOFF(flags), 0, 0, 0, 0, parse_flags },
	{ "categories", SX_CONF_CUSTOM, SOFF(categories), 0, 0, 0, 0, parse_categories },
	{ "isps", SX_CONF_CUSTOM, SOFF(isps), 0, 0, 0, 0, parse_isps },
	{ "countries", SX_CONF_CUSTOM, SOFF(countries), 0, 0, 0, 0, parse_countries },
	{ "start", SX_CONF_CUSTOM, 0, 0, 0, 0, 0, parse_start },
	{ "window_count", SX_CONF_U32, SOFF(window_count), 1, 1000000, 0, 0, NULL },
	{ "window_bytes", SX_CONF_SIZE, SOFF(window_bytes), 1024, 1ull << 30, 0, 0, NULL },
	{ "reset", SX_CONF_BOOL, SOFF(reset), 0, 0, 0, 0, NULL },
	{ "sink", SX_CONF_CUSTOM, SOFF(sink), 0, 0, 1, 0, parse_sink },
	{ "path", SX_CONF_STR, SOFF(path), 0, 0, 0, 0, NULL },
	{ "command", SX_CONF_STR, SOFF(command), 0, 0, 0, 0, NULL },
	{ "exec_timeout", SX_CONF_DURATION, SOFF(exec_timeout_ms), 100, 86400000, 0, 0, NULL },
	{ "exec_output_max", SX_CONF_SIZE, SOFF(exec_output_max), 0, 1u << 20, 0, 0, NULL },
	{ "reporter_org", SX_CONF_STR, SOFF(reporter_org), 0, 0, 0, 0, NULL },
	{ "reporter_contact", SX_CONF_STR, SOFF(reporter_contact), 0, 0, 0, 0, NULL },
	{ "reporter_domain", SX_CONF_STR, SOFF(reporter_domain), 0, 0, 0, 0, NULL },
	{ "notice_to", SX_CONF_STR, SOFF(notice_to), 0, 0, 0, 0, NULL },
	{ "message_max", SX_CONF_SIZE, SOFF(message_max), 1024, 64u << 20, 0, 0, NULL },
	{ "digest", SX_CONF_CUSTOM, SOFF(digest), 0, 0, 0, 0, parse_digest },
	{ "digest_state", SX_CONF_STR, SOFF(digest_state), 0, 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, 0, NULL },
};
#undef SOFF

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > SX_AGENT_SUB_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

static int sub_open(void *cv, const char *kind, const char *name, const struct sx_conf_key **keys,
		    void **target, char *err, size_t errlen)
{
	struct sx_agentconf *c = cv;
	if (strcmp(kind, "subscription") != 0) {
		snprintf(err, errlen, "unknown section kind \"%s\"; expected subscription", kind);
		return SX_EINVAL;
	}
	if (!name_ok(name)) {
		snprintf(err, errlen, "subscription name must be 1..%d bytes of [A-Za-z0-9._-]",
			 SX_AGENT_SUB_NAME_MAX);
		return SX_EINVAL;
	}
	for (size_t i = 0; i < c->n_subs; i++) {
		if (strcmp(c->subs[i].name, name) == 0) {
			snprintf(err, errlen, "subscription \"%s\" defined twice", name);
			return SX_EINVAL;
		}
	}
	if (c->n_subs == SX_AGENT_SUBS_MAX) {
		snprintf(err, errlen, "more than %d subscriptions", SX_AGENT_SUBS_MAX);
		return SX_EINVAL;
	}
	struct sx_agentsub *s = &c->subs[c->n_subs++];
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->start.kind = SX_AGENT_START_NEW;
	s->exec_timeout_ms = SX_AGENT_EXEC_TIMEOUT_MS;
	s->exec_output_max = SX_AGENT_EXEC_OUTPUT_MAX;
	*keys = sub_keys;
	*target = s;
	return 0;
}

static const char *sink_name(enum sx_sink_kind k)
{
	for (const struct word *w = sinks; w->name; w++)
		if (w->value == (uint32_t)k)
			return w->name;
	return "?";
}

static int sub_close(void *cv, void *target, char *err, size_t errlen)
{
	(void)cv;
	const struct sx_agentsub *s = target;
	const char *kind = sink_name(s->sink);
	int exec = s->sink == SX_SINK_EXEC || s->sink == SX_SINK_ARF_EXEC ||
		   s->sink == SX_SINK_XARF_EXEC;
	int notice = s->sink >= SX_SINK_ARF_MAILDIR;
	if (!exec && (!s->path || !s->path[0])) {
		snprintf(err, errlen, "[subscription %s]: sink %s needs path", s->name, kind);
		return SX_EINVAL;
	}
	if (exec && (!s->command || !s->command[0])) {
		snprintf(err, errlen, "[subscription %s]: sink %s needs command", s->name, kind);
		return SX_EINVAL;
	}
	/* a key the sink ignores is a mistake worth hearing about */
	if (exec && s->path) {
		snprintf(err, errlen, "[subscription %s]: path is not used by sink %s", s->name,
			 kind);
		return SX_EINVAL;
	}
	if (!exec && s->command) {
		snprintf(err, errlen, "[subscription %s]: command is only used by the exec sinks",
			 s->name);
		return SX_EINVAL;
	}
	if (!notice && (s->reporter_org || s->reporter_contact || s->reporter_domain ||
			s->notice_to || s->message_max || s->digest || s->digest_state)) {
		snprintf(err, errlen, "[subscription %s]: notice keys (reporter_*, notice_to, "
			 "message_max, digest*) are only used by the arf-* and xarf-* sinks",
			 s->name);
		return SX_EINVAL;
	}
	if (s->digest_state && !s->digest) {
		snprintf(err, errlen, "[subscription %s]: digest_state without digest = daily",
			 s->name);
		return SX_EINVAL;
	}
	if (s->digest && exec && (!s->digest_state || !s->digest_state[0])) {
		snprintf(err, errlen, "[subscription %s]: digest = daily with sink %s needs "
			 "digest_state", s->name, kind);
		return SX_EINVAL;
	}
	return 0;
}

static const struct sx_conf_sections sub_sections = { .open = sub_open, .close = sub_close };

/* ---------------------------------------------------------------- loading */

static void defaults(struct sx_agentconf *conf)
{
	memset(conf, 0, sizeof *conf);
	conf->log_level = SX_LOG_INFO;
	conf->max_frame = 16u << 20;
	conf->heartbeat_ms = 30000;
	conf->handshake_timeout_ms = 10000;
	conf->reconnect_min_ms = 1000;
	conf->reconnect_max_ms = 60000;
}

static int check(struct sx_agentconf *conf, const char *name, char *err, size_t errlen)
{
	if (conf->reconnect_min_ms > conf->reconnect_max_ms) {
		snprintf(err, errlen, "%s: reconnect_min must not exceed reconnect_max", name);
		return SX_ECONFIG;
	}
	return 0;
}

int sx_agentconf_load(struct sx_agentconf *conf, const char *path, char *err, size_t errlen)
{
	defaults(conf);
	int rc = sx_conf_load(path, agent_keys, &sub_sections, conf, err, errlen);
	if (rc < 0)
		return rc;
	if (!(conf->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	for (size_t i = 0; i < conf->n_subs; i++)
		conf->subs[i].conf_path = conf->path;
	return check(conf, path, err, errlen);
}

int sx_agentconf_load_buf(struct sx_agentconf *conf, const char *name, const char *buf,
			  size_t len, char *err, size_t errlen)
{
	defaults(conf);
	int rc = sx_conf_load_buf(name, buf, len, agent_keys, &sub_sections, conf, err, errlen);
	return rc < 0 ? rc : check(conf, name, err, errlen);
}

static void list_free(struct sx_agent_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void sx_agentconf_finish(struct sx_agentconf *conf)
{
	sx_conf_free(agent_keys, conf);
	for (size_t i = 0; i < conf->n_subs; i++) {
		sx_conf_free(sub_keys, &conf->subs[i]);
		list_free(&conf->subs[i].isps);
		list_free(&conf->subs[i].countries);
	}
	conf->n_subs = 0;
	free(conf->path);
	conf->path = NULL;
}

const char *sx_agentconf_server_name(const struct sx_agentconf *conf)
{
	return conf->server_name ? conf->server_name : conf->host;
}

void sx_agentsub_sink_conf(const struct sx_agentsub *sub, struct sx_sink_conf *out)
{
	memset(out, 0, sizeof *out);
	out->kind = sub->sink;
	out->path = sub->path;
	out->command = sub->command;
	out->exec_timeout_ms = sub->exec_timeout_ms;
	out->exec_output_max = sub->exec_output_max;
	out->reporter_org = sub->reporter_org;
	out->reporter_contact = sub->reporter_contact;
	out->reporter_domain = sub->reporter_domain;
	out->notice_to = sub->notice_to;
	out->config_path = sub->conf_path;
	out->message_max = sub->message_max;
	out->digest = (enum sx_sink_digest)sub->digest;
	out->digest_state = sub->digest_state;
}
