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

#include "agentconf.h"
#include "err.h"
#include "log.h"
#include "peer.h"
#include "tlsctx.h"

#define AGENT_NAME "sprex-agent/" SPREX_VERSION

enum agent_state {
	AGENT_IDLE,        /* waiting to (re)connect */
	AGENT_RESOLVING,
	AGENT_CONNECTING,  /* TCP and TLS */
	AGENT_HELLO,       /* Hello sent */
	AGENT_READY,
	AGENT_STOPPING,
};

struct agent {
	uv_loop_t *loop;
	struct sx_agentconf *conf;
	SSL_CTX *tls;
	struct sx_peer *peer;
	uv_getaddrinfo_t gai;
	uv_timer_t retry;
	uv_signal_t sig_term, sig_int;
	enum agent_state state;
	unsigned attempt;          /* failed attempts since the last READY */
	uint64_t retry_after_ms;   /* floor from the server's GoAway */
	int fatal;                 /* exit code once stopped, when not 0 */
	char member[64];
};

static const char *state_name(enum agent_state s)
{
	static const char *const names[] = { "idle", "resolving", "connecting", "hello",
					     "ready", "stopping" };
	return names[s];
}

static void set_state(struct agent *a, enum agent_state s, const char *detail)
{
	a->state = s;
	sx_log_info("state %s%s%s", state_name(s), detail ? ": " : "", detail ? detail : "");
}

static void connect_now(uv_timer_t *t);

/* Full-jitter exponential backoff: a random delay in [d/2, d] where d
 * doubles per failed attempt from reconnect_min up to reconnect_max. */
static uint64_t backoff_ms(struct agent *a)
{
	uint64_t d = a->conf->reconnect_min_ms;
	for (unsigned i = 0; i < a->attempt && d < a->conf->reconnect_max_ms; i++)
		d *= 2;
	if (d > a->conf->reconnect_max_ms)
		d = a->conf->reconnect_max_ms;
	uint32_t r = 0;
	RAND_bytes((unsigned char *)&r, sizeof r);
	uint64_t jittered = d / 2 + (d / 2 ? r % (d / 2 + 1) : 0);
	if (jittered < a->retry_after_ms)
		jittered = a->retry_after_ms;
	return jittered;
}

static void schedule_retry(struct agent *a)
{
	if (a->state == AGENT_STOPPING)
		return;
	uint64_t ms = backoff_ms(a);
	a->attempt++;
	a->retry_after_ms = 0;
	char detail[64];
	snprintf(detail, sizeof detail, "reconnecting in %.1f s", (double)ms / 1000.0);
	set_state(a, AGENT_IDLE, detail);
	uv_timer_start(&a->retry, connect_now, ms, 0);
}

static void send_hello(struct sx_peer *p)
{
	struct agent *a = sx_peer_udata(p);
	uint32_t versions[] = { SX_PROTO_VERSION };
	Sprex__Hello h = SPREX__HELLO__INIT;
	h.n_versions = 1;
	h.versions = versions;
	h.max_frame = (uint32_t)a->conf->max_frame;
	h.heartbeat_ms = (uint32_t)a->conf->heartbeat_ms;
	h.agent = AGENT_NAME;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_HELLO;
	f.hello = &h;
	char detail[128];
	snprintf(detail, sizeof detail, "TLS 1.3 established with %s (%s)",
		 sx_agentconf_server_name(a->conf), sx_conn_peer(sx_peer_conn(p)));
	set_state(a, AGENT_HELLO, detail);
	sx_peer_send(p, &f);
}

static const char *role_name(Sprex__Role r)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&sprex__role__descriptor, (int)r);
	return v ? v->name + 5 : "unknown"; /* past "ROLE_" */
}

static void on_welcome(struct agent *a, struct sx_peer *p, const Sprex__Welcome *w)
{
	if (w->version != SX_PROTO_VERSION || w->max_frame < SX_FRAME_MIN_MAX ||
	    w->max_frame > a->conf->max_frame || w->heartbeat_ms == 0) {
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_INVALID,
			      "unacceptable welcome: version %u, max_frame %u, heartbeat %u ms",
			      w->version, w->max_frame, w->heartbeat_ms);
		return;
	}
	sx_peer_negotiated(p, w->max_frame, w->heartbeat_ms);
	snprintf(a->member, sizeof a->member, "%s", w->member ? w->member : "");
	a->attempt = 0;
	char detail[256];
	snprintf(detail, sizeof detail,
		 "authenticated as member %s (role %s) by %s; protocol %u, max_frame %u, "
		 "heartbeat %u ms",
		 a->member, role_name(w->role), w->server ? w->server : "?", w->version,
		 w->max_frame, w->heartbeat_ms);
	set_state(a, AGENT_READY, detail);
}

static void on_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct agent *a = sx_peer_udata(p);
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_WELCOME:
		if (a->state != AGENT_HELLO) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "unexpected welcome");
			return;
		}
		on_welcome(a, p, f->welcome);
		return;
	case SPREX__FRAME__MSG_ERROR:
		sx_log_err("server refused: %s: %s", sx_error_name(f->error->code),
			   f->error->message ? f->error->message : "");
		sx_peer_close(p, SX_EPERM, "server sent an error");
		return;
	case SPREX__FRAME__MSG_GOAWAY:
		sx_log_warn("server sent goaway %s (retry after %u ms): %s",
			    sx_goaway_name(f->goaway->reason), f->goaway->retry_after_ms,
			    f->goaway->message ? f->goaway->message : "");
		a->retry_after_ms = f->goaway->retry_after_ms;
		sx_peer_close(p, 0, "server sent goaway");
		return;
	default:
		sx_log_debug("ignoring %s frame",
			     protobuf_c_message_descriptor_get_field(&sprex__frame__descriptor,
								     (unsigned)f->msg_case)->name);
	}
}

static void on_tick(struct sx_peer *p)
{
	struct agent *a = sx_peer_udata(p);
	sx_log_debug("heartbeat: ping sent to the server (member %s)", a->member);
}

static void on_close(struct sx_peer *p, int reason, const char *why)
{
	struct agent *a = sx_peer_udata(p);
	a->peer = NULL;
	if (a->state == AGENT_STOPPING) {
		sx_log_info("session closed: %s", why);
		uv_close((uv_handle_t *)&a->retry, NULL);
		uv_close((uv_handle_t *)&a->sig_term, NULL);
		uv_close((uv_handle_t *)&a->sig_int, NULL);
		return;
	}
	if (reason == 0)
		sx_log_warn("session closed: %s", why);
	else
		sx_log_warn("session closed (%s): %s", sx_strerror(reason), why);
	schedule_retry(a);
}

static const struct sx_peer_cbs agent_cbs = {
	.on_open = send_hello,
	.on_frame = on_frame,
	.on_tick = on_tick,
	.on_close = on_close,
};

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct agent *a = req->data;
	if (a->state == AGENT_STOPPING) {
		uv_freeaddrinfo(res);
		uv_close((uv_handle_t *)&a->retry, NULL);
		uv_close((uv_handle_t *)&a->sig_term, NULL);
		uv_close((uv_handle_t *)&a->sig_int, NULL);
		return;
	}
	if (status < 0) {
		sx_log_warn("cannot resolve %s: %s", a->conf->host, uv_strerror(status));
		schedule_retry(a);
		return;
	}
	/* Rotate through the addresses across attempts. */
	size_t n = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		n++;
	struct addrinfo *ai = res;
	for (size_t i = 0; i < a->attempt % n; i++)
		ai = ai->ai_next;
	struct sx_conn_opts opts = {
		.out_high = 4u << 20,
		.out_low = 1u << 20,
		.handshake_ms = a->conf->handshake_timeout_ms,
		.linger_ms = 2000,
	};
	int rc = sx_peer_create(a->loop, a->tls, 0, sx_agentconf_server_name(a->conf), &opts,
				&agent_cbs, a, &a->peer);
	if (rc < 0) {
		sx_log_err("cannot create a session: %s", sx_strerror(rc));
		uv_freeaddrinfo(res);
		schedule_retry(a);
		return;
	}
	set_state(a, AGENT_CONNECTING, NULL);
	sx_conn_connect(sx_peer_conn(a->peer), ai->ai_addr);
	uv_freeaddrinfo(res);
}

static void connect_now(uv_timer_t *t)
{
	struct agent *a = t->data;
	char port[8];
	snprintf(port, sizeof port, "%u", a->conf->port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	a->gai.data = a;
	set_state(a, AGENT_RESOLVING, a->conf->host);
	int rc = uv_getaddrinfo(a->loop, &a->gai, resolved, a->conf->host, port, &hints);
	if (rc < 0) {
		sx_log_warn("cannot resolve %s: %s", a->conf->host, uv_strerror(rc));
		schedule_retry(a);
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	enum agent_state prev = a->state;
	sx_log_info("received %s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	if (prev == AGENT_STOPPING)
		return;
	set_state(a, AGENT_STOPPING, NULL);
	uv_timer_stop(&a->retry);
	if (a->peer) {
		if (prev == AGENT_READY)
			sx_peer_goaway(a->peer, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN, 0,
				       "agent stopping");
		else
			sx_peer_close(a->peer, 0, "agent stopping");
		return; /* on_close finishes */
	}
	if (prev == AGENT_RESOLVING)
		return; /* resolved() finishes */
	uv_close((uv_handle_t *)&a->retry, NULL);
	uv_close((uv_handle_t *)&a->sig_term, NULL);
	uv_close((uv_handle_t *)&a->sig_int, NULL);
}

static int cmd_run(struct sx_agentconf *conf)
{
	struct sx_tls_opts o = { conf->tls_cert, conf->tls_key, conf->tls_ca, NULL };
	char err[512];
	struct agent a = { .conf = conf };
	if (sx_tlsctx_client(&o, &a.tls, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		return EX_CONFIG;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	a.loop = &loop;
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
	uv_loop_close(&loop);
	SSL_CTX_free(a.tls);
	sx_log_info("stopped");
	return a.fatal;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sprex-agent [run] --config FILE [-v]\n"
		   "  -c, --config FILE  agent configuration (see sprex-agent(1))\n"
		   "  -v, --verbose      log debug records (heartbeats)\n"
		   "  -V, --version      print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int verbose = 0, ch;
	sx_log_init("sprex-agent", SX_LOG_INFO);
	while ((ch = getopt_long(argc, argv, "+c:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'v': verbose = 1; break;
		case 'V': printf("sprex-agent %s\n", SPREX_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	const char *cmd = optind < argc ? argv[optind++] : "run";
	/* Options may also follow the subcommand. */
	while ((ch = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'v': verbose = 1; break;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (strcmp(cmd, "run") != 0) {
		fprintf(stderr, "sprex-agent: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return EX_USAGE;
	}
	if (!config || optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	struct sx_agentconf conf;
	char err[512];
	if (sx_agentconf_load(&conf, config, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		sx_agentconf_finish(&conf);
		return EX_CONFIG;
	}
	sx_log_set_level(verbose ? SX_LOG_DEBUG : conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	int rc = cmd_run(&conf);
	sx_agentconf_finish(&conf);
	return rc;
}
