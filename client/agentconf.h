/*
 * agentconf.h: sprex-agent's configuration file (see sprex-agent(1)).
 */
#ifndef SX_AGENTCONF_H
#define SX_AGENTCONF_H

#include <stdint.h>

#include "netaddr.h"

struct sx_agentconf {
	char host[SX_HOST_MAX];   /* from server = host:port */
	uint16_t port;
	char *server_name;        /* name checked in the server certificate; default host */
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	int log_level;            /* SX_LOG_* */
	uint64_t max_frame;
	uint64_t heartbeat_ms;
	uint64_t handshake_timeout_ms;
	uint64_t reconnect_min_ms;
	uint64_t reconnect_max_ms;
};

/* Loads path into conf (defaults first). Returns 0 or SX_EIO / SX_ECONFIG
 * with "path:line: problem" in err; release with sx_agentconf_finish. */
int sx_agentconf_load(struct sx_agentconf *conf, const char *path, char *err, size_t errlen);
void sx_agentconf_finish(struct sx_agentconf *conf);
/* The name to verify in the server certificate. */
const char *sx_agentconf_server_name(const struct sx_agentconf *conf);

#endif
