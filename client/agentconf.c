#include "agentconf.h"

#include <stdio.h>
#include <string.h>

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
	{ NULL, 0, 0, 0, 0, 0, 0, NULL },
};

int sx_agentconf_load(struct sx_agentconf *conf, const char *path, char *err, size_t errlen)
{
	memset(conf, 0, sizeof *conf);
	conf->log_level = SX_LOG_INFO;
	conf->max_frame = 16u << 20;
	conf->heartbeat_ms = 30000;
	conf->handshake_timeout_ms = 10000;
	conf->reconnect_min_ms = 1000;
	conf->reconnect_max_ms = 60000;
	int rc = sx_conf_load(path, agent_keys, NULL, conf, err, errlen);
	if (rc < 0)
		return rc;
	if (conf->reconnect_min_ms > conf->reconnect_max_ms) {
		snprintf(err, errlen, "%s: reconnect_min must not exceed reconnect_max", path);
		return SX_ECONFIG;
	}
	return 0;
}

void sx_agentconf_finish(struct sx_agentconf *conf)
{
	sx_conf_free(agent_keys, conf);
}

const char *sx_agentconf_server_name(const struct sx_agentconf *conf)
{
	return conf->server_name ? conf->server_name : conf->host;
}
