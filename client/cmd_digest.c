/*
 * sprex-agent digest flush: sends the daily digest notices of the digest
 * subscriptions (digest = daily) now, without a server: those of finished
 * UTC days, or every open one with --all. A running agent sends a finished
 * day's digests with the next report of that subscription; run this from
 * cron shortly after midnight UTC so that quiet days go out too. The state
 * is locked, so it is safe while the agent runs.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "agent.h"
#include "err.h"
#include "log.h"
#include "sink.h"

int sx_agent_cmd_digest(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "subscription", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int all = 0, ch;
	const char *only = NULL;
	while ((ch = sx_agent_getopt(o, argc, argv, "as:", opts)) != -1) {
		if (ch == 'a')
			all = 1;
		else if (ch == 's')
			only = optarg;
		else
			return EX_USAGE;
	}
	if (optind + 1 != argc || strcmp(argv[optind], "flush") != 0) {
		fprintf(stderr, "sprex-agent: digest flush --config FILE [--all] "
				"[--subscription NAME]\n");
		return EX_USAGE;
	}
	if (!o->config) {
		fprintf(stderr, "sprex-agent: --config FILE is required\n");
		return EX_USAGE;
	}
	struct sx_agentconf conf;
	char err[512];
	if (sx_agentconf_load(&conf, o->config, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		sx_agentconf_finish(&conf);
		return EX_CONFIG;
	}
	int status = EX_OK, found = 0;
	for (size_t i = 0; i < conf.n_subs; i++) {
		const struct sx_agentsub *sub = &conf.subs[i];
		if (only && strcmp(only, sub->name) != 0)
			continue;
		if (sub->digest != SX_SINK_DIGEST_DAILY) {
			if (only) {
				fprintf(stderr, "sprex-agent: subscription %s has no digest\n",
					sub->name);
				status = EX_USAGE;
			}
			continue;
		}
		found = 1;
		struct sx_sink_conf sc;
		struct sx_sink *s;
		sx_agentsub_sink_conf(sub, &sc);
		if (sx_sink_create(&sc, &s, err, sizeof err) < 0) {
			sx_log_err("subscription %s: %s", sub->name, err);
			status = EX_CANTCREAT;
			continue;
		}
		unsigned n = 0;
		int rc = sx_sink_flush(s, all, &n, err, sizeof err);
		printf("%s: %u digest notice%s sent\n", sub->name, n, n == 1 ? "" : "s");
		if (rc < 0) {
			sx_log_err("subscription %s: %s", sub->name, err);
			status = EX_TEMPFAIL;
		}
		sx_sink_destroy(s);
	}
	if (only && !found && status == EX_OK) {
		fprintf(stderr, "sprex-agent: no digest subscription %s\n", only);
		status = EX_USAGE;
	}
	sx_agentconf_finish(&conf);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return status;
}
