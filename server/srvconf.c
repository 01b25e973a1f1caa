#include "srvconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "err.h"
#include "frame.h"
#include "log.h"

static int parse_listen(void *field, const char *v, char *err, size_t errlen)
{
	struct sx_srvconf *c = field; /* registered at offset 0: the whole struct */
	if (c->nlisten == SX_LISTEN_MAX) {
		snprintf(err, errlen, "more than %d listen addresses", SX_LISTEN_MAX);
		return SX_EINVAL;
	}
	struct sx_listen *l = &c->listen[c->nlisten];
	if (sx_hostport_parse(v, l->host, sizeof l->host, &l->port) < 0) {
		snprintf(err, errlen, "expected host:port or [ipv6]:port, got \"%s\"", v);
		return SX_EINVAL;
	}
	c->nlisten++;
	return 0;
}

/* A trusted relay is a CIDR (or a bare address) or a host name; names that
 * start with a dot match as suffixes. */
static int parse_relay(void *field, const char *v, char *err, size_t errlen)
{
	struct sx_srvconf *c = field; /* registered at offset 0: the whole struct */
	if (c->nrelay_prefixes + c->nrelay_hosts == SX_RELAYS_MAX) {
		snprintf(err, errlen, "more than %d trusted relays", SX_RELAYS_MAX);
		return SX_EINVAL;
	}
	if (strchr(v, '/') || strchr(v, ':') || strspn(v, "0123456789.") == strlen(v)) {
		if (sx_prefix_parse(v, &c->relay_prefixes[c->nrelay_prefixes]) < 0) {
			snprintf(err, errlen, "expected a CIDR such as 192.0.2.0/24, got \"%s\"", v);
			return SX_EINVAL;
		}
		c->nrelay_prefixes++;
		return 0;
	}
	size_t n = strlen(v);
	if (n >= SX_HOST_MAX || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n) {
		snprintf(err, errlen, "expected a CIDR or a host name, got \"%s\"", v);
		return SX_EINVAL;
	}
	char *dup = strdup(v);
	if (!dup) {
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	for (char *p = dup; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	c->relay_hosts[c->nrelay_hosts++] = dup;
	return 0;
}

/* Size keys write a uint64_t into the size_t limits. */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "size_t must be 64 bits");
_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned must be 32 bits");

#define OFF(f) offsetof(struct sx_srvconf, f)
static const struct sx_conf_key srv_keys[] = {
	{ "listen", SX_CONF_CUSTOM, 0, 0, 0, 1, 1, parse_listen },
	{ "tls_cert", SX_CONF_STR, OFF(tls_cert), 0, 0, 1, 0, NULL },
	{ "tls_key", SX_CONF_STR, OFF(tls_key), 0, 0, 1, 0, NULL },
	{ "tls_ca", SX_CONF_STR, OFF(tls_ca), 0, 0, 1, 0, NULL },
	{ "tls_crl", SX_CONF_STR, OFF(tls_crl), 0, 0, 0, 0, NULL },
	{ "db", SX_CONF_STR, OFF(db), 0, 0, 1, 0, NULL },
	{ "pidfile", SX_CONF_STR, OFF(pidfile), 0, 0, 0, 0, NULL },
	{ "log_level", SX_CONF_CUSTOM, OFF(log_level), 0, 0, 0, 0, sx_conf_parse_log_level },
	{ "max_frame", SX_CONF_SIZE, OFF(max_frame), SX_FRAME_MIN_MAX, SX_FRAME_MAX_MAX, 0, 0, NULL },
	{ "heartbeat", SX_CONF_DURATION, OFF(heartbeat_ms), 1000, 600000, 0, 0, NULL },
	{ "max_connections", SX_CONF_U32, OFF(max_connections), 1, 1000000, 0, 0, NULL },
	{ "handshake_timeout", SX_CONF_DURATION, OFF(handshake_timeout_ms), 100, 300000, 0, 0, NULL },
	{ "shutdown_timeout", SX_CONF_DURATION, OFF(shutdown_timeout_ms), 0, 600000, 0, 0, NULL },
	{ "output_high_water", SX_CONF_SIZE, OFF(out_high), 16384, 1u << 30, 0, 0, NULL },
	{ "output_low_water", SX_CONF_SIZE, OFF(out_low), 0, 1u << 30, 0, 0, NULL },
	{ "reload_interval", SX_CONF_DURATION, OFF(reload_interval_ms), 50, 1000, 0, 0, NULL },
	{ "max_subscriptions", SX_CONF_U32, OFF(max_subscriptions), 1, 64, 0, 0, NULL },
	{ "window_count", SX_CONF_U32, OFF(window_count), 1, 1000000, 0, 0, NULL },
	{ "window_bytes", SX_CONF_SIZE, OFF(window_bytes), 65536, 1u << 30, 0, 0, NULL },
	{ "window_count_max", SX_CONF_U32, OFF(window_count_max), 1, 1000000, 0, 0, NULL },
	{ "window_bytes_max", SX_CONF_SIZE, OFF(window_bytes_max), 65536, 1u << 30, 0, 0, NULL },
	{ "ack_wait", SX_CONF_DURATION, OFF(ack_wait_ms), 100, 86400000, 0, 0, NULL },
	{ "ack_wait_max", SX_CONF_DURATION, OFF(ack_wait_max_ms), 100, 86400000, 0, 0, NULL },
	{ "max_deliveries", SX_CONF_U32, OFF(max_deliveries), 1, 1000, 0, 0, NULL },
	{ "cache_reports", SX_CONF_U32, OFF(cache_reports), 16, 1000000, 0, 0, NULL },
	{ "cache_bytes", SX_CONF_SIZE, OFF(cache_bytes), 1u << 20, 16ull << 30, 0, 0, NULL },
	{ "delivery_commit_interval", SX_CONF_DURATION, OFF(commit_ms), 1, 10000, 0, 0, NULL },
	{ "retention_days", SX_CONF_U32, OFF(retention_days), 0, 36500, 0, 0, NULL },
	{ "trusted_relay", SX_CONF_CUSTOM, 0, 0, 0, 0, 1, parse_relay },
	{ "max_submits_inflight", SX_CONF_U32, OFF(max_submits), 1, 4096, 0, 0, NULL },
	{ "intake_threads", SX_CONF_U32, OFF(intake_threads), 1, SX_INTAKE_THREADS_MAX, 0, 0, NULL },
	{ "max_message_size", SX_CONF_SIZE, OFF(limits.max_size), 1024, 64u << 20, 0, 0, NULL },
	{ "max_mime_depth", SX_CONF_U32, OFF(limits.max_depth), 1, 64, 0, 0, NULL },
	{ "max_mime_parts", SX_CONF_U32, OFF(limits.max_parts), 1, 100000, 0, 0, NULL },
	{ "max_header_fields", SX_CONF_U32, OFF(limits.max_headers), 16, 1000000, 0, 0, NULL },
	{ "max_header_length", SX_CONF_SIZE, OFF(limits.max_header_len), 998, 1u << 20, 0, 0, NULL },
	{ "audit_key", SX_CONF_STR, OFF(audit_key), 0, 0, 0, 0, NULL },
	{ "audit_checkpoint_interval", SX_CONF_DURATION, OFF(audit_checkpoint_ms), 1000, 86400000,
	  0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, 0, NULL },
};

int sx_srvconf_load(struct sx_srvconf *conf, const char *path, char *err, size_t errlen)
{
	memset(conf, 0, sizeof *conf);
	conf->log_level = SX_LOG_INFO;
	conf->max_frame = 16u << 20;
	conf->heartbeat_ms = 30000;
	conf->max_connections = 10000;
	conf->handshake_timeout_ms = 10000;
	conf->shutdown_timeout_ms = 10000;
	conf->out_high = 4u << 20;
	conf->out_low = 1u << 20;
	conf->reload_interval_ms = 250;
	conf->max_subscriptions = 32;
	conf->window_count = 256;
	conf->window_bytes = 8u << 20;
	conf->window_count_max = 10000;
	conf->window_bytes_max = 64u << 20;
	conf->ack_wait_ms = 30000;
	conf->ack_wait_max_ms = 600000;
	conf->max_deliveries = 5;
	conf->cache_reports = 16384;
	conf->cache_bytes = 64u << 20;
	conf->commit_ms = 100;
	conf->max_submits = 16;
	sx_mail_limits_default(&conf->limits);
	conf->audit_checkpoint_ms = 60000;
	int rc = sx_conf_load(path, srv_keys, NULL, conf, err, errlen);
	if (rc < 0)
		return rc;
	if (conf->out_low >= conf->out_high) {
		snprintf(err, errlen, "%s: output_low_water (%llu) must be below output_high_water (%llu)",
			 path, (unsigned long long)conf->out_low, (unsigned long long)conf->out_high);
		return SX_ECONFIG;
	}
	if (conf->window_count > conf->window_count_max ||
	    conf->window_bytes > conf->window_bytes_max) {
		snprintf(err, errlen, "%s: window_count/window_bytes must not exceed "
			 "window_count_max/window_bytes_max", path);
		return SX_ECONFIG;
	}
	if (conf->ack_wait_ms > conf->ack_wait_max_ms) {
		snprintf(err, errlen, "%s: ack_wait must not exceed ack_wait_max", path);
		return SX_ECONFIG;
	}
	return 0;
}

void sx_srvconf_finish(struct sx_srvconf *conf)
{
	sx_conf_free(srv_keys, conf);
	for (size_t i = 0; i < conf->nrelay_hosts; i++)
		free(conf->relay_hosts[i]);
	conf->nrelay_hosts = 0;
}
