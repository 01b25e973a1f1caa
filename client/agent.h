/*
 * agent.h: what sprex-agent's subcommands (agent.c, submit.c, ...) share.
 */
#ifndef SX_AGENT_H
#define SX_AGENT_H

#include <getopt.h>

#include <openssl/ssl.h>

#include "agentconf.h"

#define AGENT_NAME "sprex-agent/" SPREX_VERSION

/* Options every subcommand accepts, before or after its name. */
struct sx_agent_opts {
	const char *config;
	int verbose;
};

/* Consumes -c/--config and -v/--verbose for a subcommand whose own options
 * are in longopts/optstring; returns the getopt result like getopt_long but
 * never the common options. */
int sx_agent_getopt(struct sx_agent_opts *o, int argc, char **argv, const char *optstring,
		    const struct option *longopts);

/* Loads the configuration and the TLS context; logs the reason on failure
 * and returns the exit status (0 on success). Free with sx_agent_teardown. */
int sx_agent_setup(const struct sx_agent_opts *o, struct sx_agentconf *conf, SSL_CTX **tls);
void sx_agent_teardown(struct sx_agentconf *conf, SSL_CTX *tls);

/* Subcommands: argv[0] is the subcommand's name; return an exit status. */
int sx_agent_cmd_run(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_submit(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_parked(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_action(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_status(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_digest(struct sx_agent_opts *o, int argc, char **argv);
int sx_agent_cmd_audit(struct sx_agent_opts *o, int argc, char **argv);

#endif
