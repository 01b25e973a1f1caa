/*
 * sprex-agent: the member's daemon. Keeps one session to sprexd, with
 * reconnects, and (in later subcommands) runs the member's subscriptions.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/rand.h>

#include "agent.h"
#include "agentconn.h"
#include "agentsub.h"
#include "err.h"
#include "log.h"
#include "tlsctx.h"


struct agent {
	uv_loop_t *loop;
	const struct sx_agentconf *conf;
	SSL_CTX *tls;
	struct sx_agentconn *ac;   /* the current attempt, or NULL while waiting */
	struct sx_agentsubs subs;
	uv_timer_t retry;
	uv_signal_t sig_term, sig_int;
	unsigned attempt;          /* failed attempts since the last ready session */
	int stopping;
};

static void connect_now(uv_timer_t *t);

/* Full-jitter exponential backoff: a random delay in [d/2, d] where d
 * doubles per failed attempt from reconnect_min up to reconnect_max; never
 * sooner than the server asked in its GoAway. */
static uint64_t backoff_ms(const struct agent *a, uint32_t retry_after_ms)
{
	uint64_t d = a->conf->reconnect_min_ms;
	for (unsigned i = 0; i < a->attempt && d < a->conf->reconnect_max_ms; i++)
		d *= 2;
	if (d > a->conf->reconnect_max_ms)
		d = a->conf->reconnect_max_ms;
	uint32_t r = 0;
	RAND_bytes((unsigned char *)&r, sizeof r);
	uint64_t ms = d / 2 + (d / 2 ? r % (d / 2 + 1) : 0);
	return ms < retry_after_ms ? retry_after_ms : ms;
}

static void close_handles(struct agent *a)
{
	uv_close((uv_handle_t *)&a->retry, NULL);
	uv_close((uv_handle_t *)&a->sig_term, NULL);
	uv_close((uv_handle_t *)&a->sig_int, NULL);
}

static void run_ready(struct sx_agentconn *ac, const Sprex__Welcome *w)
{
	struct agent *a = sx_agentconn_udata(ac);
	(void)w;
	a->attempt = 0;
	sx_agentsubs_attach(&a->subs, ac);
}

static void run_frame(struct sx_agentconn *ac, const Sprex__Frame *f)
{
	struct agent *a = sx_agentconn_udata(ac);
	sx_agentsubs_frame(&a->subs, f);
}

static void run_tick(struct sx_agentconn *ac)
{
	struct agent *a = sx_agentconn_udata(ac);
	sx_agentsubs_tick(&a->subs);
}

static void run_closed(struct sx_agentconn *ac, int ready, int refused, uint32_t retry_after_ms,
		       const char *why)
{
	struct agent *a = sx_agentconn_udata(ac);
	(void)ready;
	(void)refused;
	(void)why;
	a->ac = NULL;
	sx_agentsubs_detach(&a->subs);
	if (a->stopping) {
		close_handles(a);
		return;
	}
	uint64_t ms = backoff_ms(a, retry_after_ms);
	a->attempt++;
	sx_log_info("state idle: reconnecting in %.1f s", (double)ms / 1000.0);
	uv_timer_start(&a->retry, connect_now, ms, 0);
}

static const struct sx_agentconn_cbs run_cbs = {
	.on_ready = run_ready,
	.on_frame = run_frame,
	.on_tick = run_tick,
	.on_close = run_closed,
};

static void connect_now(uv_timer_t *t)
{
	struct agent *a = t->data;
	if (sx_agentconn_start(a->loop, a->tls, a->conf, &run_cbs, a, &a->ac) < 0) {
		sx_log_err("cannot start a connection attempt");
		a->attempt++;
		uv_timer_start(&a->retry, connect_now, backoff_ms(a, 0), 0);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	if (a->stopping)
		return;
	sx_log_info("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	a->stopping = 1;
	uv_timer_stop(&a->retry);
	if (a->ac)
		sx_agentconn_stop(a->ac, "agent stopping"); /* run_closed finishes */
	else
		close_handles(a);
}

int sx_agent_cmd_run(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	int ch;
	while ((ch = sx_agent_getopt(o, argc, argv, "", opts)) != -1)
		return EX_USAGE;
	if (optind != argc) {
		fprintf(stderr, "sprex-agent: run takes no operands\n");
		return EX_USAGE;
	}
	struct sx_agentconf conf_;
	SSL_CTX *tls;
	int st = sx_agent_setup(o, &conf_, &tls);
	if (st)
		return st;
	const struct sx_agentconf *conf = &conf_;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct agent a = { .loop = &loop, .conf = conf, .tls = tls };
	char err[512];
	if (sx_agentsubs_init(&a.subs, &loop, conf, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		uv_loop_close(&loop);
		sx_agent_teardown(&conf_, tls);
		return EX_CANTCREAT;
	}
	uv_timer_init(&loop, &a.retry);
	uv_signal_init(&loop, &a.sig_term);
	uv_signal_init(&loop, &a.sig_int);
	a.retry.data = a.sig_term.data = a.sig_int.data = &a;
	uv_signal_start(&a.sig_term, on_signal, SIGTERM);
	uv_signal_start(&a.sig_int, on_signal, SIGINT);
	sx_log_info("%s starting; server %s port %u, certificate %s", AGENT_NAME, conf->host,
		    conf->port, conf->tls_cert);
	uv_timer_start(&a.retry, connect_now, 0, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	sx_agentsubs_finish(&a.subs);
	uv_loop_close(&loop);
	sx_log_info("stopped");
	sx_agent_teardown(&conf_, tls);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sprex-agent [run] --config FILE [-v]\n"
		   "       sprex-agent submit --config FILE --source monitor|public|chain\n"
		   "                   [--consent association,isp,enforcement] [--reporter ADDR]...\n"
		   "                   [--id CLIENT_ID] FILE...\n"
		   "       sprex-agent parked list|replay --config FILE --subscription NAME [SEQ...]\n"
		   "       sprex-agent action --config FILE REPORT_ID --taken ACTION [--note TEXT]\n"
		   "       sprex-agent status --config FILE\n"
		   "       sprex-agent audit --config FILE --pubkey PEM [--state FILE] [--since T]\n"
		   "                   [--member NAME] [--event KIND] [--format jsonl|csv]\n"
		   "                   [--stats [--format text|json|csv]]\n"
		   "  -c, --config FILE  agent configuration (see sprex-agent(1))\n"
		   "  -v, --verbose      log debug records (heartbeats)\n"
		   "  -V, --version      print the version\n");
}

int sx_agent_getopt(struct sx_agent_opts *o, int argc, char **argv, const char *optstring,
		    const struct option *longopts)
{
	struct option all[32];
	size_t n = 0;
	for (; longopts[n].name && n < 29; n++)
		all[n] = longopts[n];
	all[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	all[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	char opts[64];
	snprintf(opts, sizeof opts, "c:v%s", optstring);
	int ch;
	while ((ch = getopt_long(argc, argv, opts, all, NULL)) != -1) {
		if (ch == 'c')
			o->config = optarg;
		else if (ch == 'v')
			o->verbose = 1;
		else if (ch == '?') {
			usage(stderr);
			return '?';
		} else
			return ch;
	}
	return -1;
}

int sx_agent_setup(const struct sx_agent_opts *o, struct sx_agentconf *conf, SSL_CTX **tls)
{
	char err[512];
	if (!o->config) {
		fprintf(stderr, "sprex-agent: --config FILE is required\n");
		return EX_USAGE;
	}
	if (sx_agentconf_load(conf, o->config, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		sx_agentconf_finish(conf);
		return EX_CONFIG;
	}
	sx_log_set_level(o->verbose ? SX_LOG_DEBUG : conf->log_level);
	struct sx_tls_opts t = { conf->tls_cert, conf->tls_key, conf->tls_ca, NULL };
	if (sx_tlsctx_client(&t, tls, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		sx_agentconf_finish(conf);
		return EX_CONFIG;
	}
	return 0;
}

void sx_agent_teardown(struct sx_agentconf *conf, SSL_CTX *tls)
{
	SSL_CTX_free(tls);
	sx_agentconf_finish(conf);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct {
		const char *name;
		int (*run)(struct sx_agent_opts *o, int argc, char **argv);
	} cmds[] = {
		{ "run", sx_agent_cmd_run },
		{ "submit", sx_agent_cmd_submit },
		{ "parked", sx_agent_cmd_parked },
		{ "action", sx_agent_cmd_action },
		{ "status", sx_agent_cmd_status },
		{ "digest", sx_agent_cmd_digest },
		{ "audit", sx_agent_cmd_audit },
	};
	struct sx_agent_opts o = { NULL, 0 };
	int ch;
	sx_log_init("sprex-agent", SX_LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+c:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 'v': o.verbose = 1; break;
		case 'V': printf("sprex-agent %s\n", SPREX_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	/* The subcommand sees its own argv, name first, as getopt expects. */
	char *run_argv[] = { "run", NULL };
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	if (sub_argc == 0) {
		sub_argc = 1;
		sub_argv = run_argv;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(sub_argv[0], cmds[i].name) == 0) {
			/* 0, not 1: glibc then forgets the "+" (stop at the first
			 * operand) of the parse above, so a subcommand's options
			 * may follow its operands. */
			optind = 0;
			return cmds[i].run(&o, sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "sprex-agent: unknown command \"%s\"\n", sub_argv[0]);
	usage(stderr);
	return EX_USAGE;
}
