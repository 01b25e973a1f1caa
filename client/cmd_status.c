/*
 * sprex-agent status: what the running agent last heard from the server
 * about each subscription (the status_file it rewrites on every heartbeat).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "agent.h"
#include "log.h"

#define STATUS_READ_MAX (64 * 1024)

int sx_agent_cmd_status(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	int ch;
	while ((ch = sx_agent_getopt(o, argc, argv, "", opts)) != -1)
		return EX_USAGE;
	if (optind != argc) {
		fprintf(stderr, "sprex-agent: status takes no operands\n");
		return EX_USAGE;
	}
	struct sx_agentconf conf;
	char err[512];
	if (!o->config) {
		fprintf(stderr, "sprex-agent: --config FILE is required\n");
		return EX_USAGE;
	}
	if (sx_agentconf_load(&conf, o->config, err, sizeof err) < 0) {
		fprintf(stderr, "sprex-agent: %s\n", err);
		sx_agentconf_finish(&conf);
		return EX_CONFIG;
	}
	int st = 0;
	if (!conf.status_file) {
		fprintf(stderr, "sprex-agent: %s sets no status_file, so the agent records no "
				"status\n", o->config);
		st = EX_CONFIG;
	} else {
		FILE *f = fopen(conf.status_file, "r");
		if (!f) {
			fprintf(stderr, "sprex-agent: %s: %s (has the agent had a heartbeat yet?)\n",
				conf.status_file, strerror(errno));
			st = EX_UNAVAILABLE;
		} else {
			static char buf[STATUS_READ_MAX];
			size_t n = fread(buf, 1, sizeof buf, f);
			fclose(f);
			fwrite(buf, 1, n, stdout);
		}
	}
	sx_agentconf_finish(&conf);
	return st;
}
