#include "agentconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

#define AGENT_NAME "sprex-agent/" SPREX_VERSION

struct sx_agentconn {
	uv_loop_t *loop;
	SSL_CTX *tls;
	const struct sx_agentconf *conf;
	struct sx_agentconn_cbs cbs;
	void *udata;
	uv_getaddrinfo_t gai;
	struct sx_peer *peer;
	int resolving;
	int ready;
	int refused;
	int stopping;
	unsigned hello_ticks;      /* heartbeat intervals spent waiting for Welcome */
	uint32_t retry_after_ms;
	char member[64];
	char why[SX_PEER_WHY_MAX];
};

static void finish(struct sx_agentconn *ac, const char *why)
{
	ac->cbs.on_close(ac, ac->ready, ac->refused, ac->retry_after_ms,
			 why && *why ? why : ac->why);
	free(ac);
}

static void send_hello(struct sx_peer *p)
{
	struct sx_agentconn *ac = sx_peer_udata(p);
	uint32_t versions[] = { SX_PROTO_VERSION };
	Sprex__Hello h = SPREX__HELLO__INIT;
	h.n_versions = 1;
	h.versions = versions;
	h.max_frame = (uint32_t)ac->conf->max_frame;
	h.heartbeat_ms = (uint32_t)ac->conf->heartbeat_ms;
	h.agent = AGENT_NAME;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_HELLO;
	f.hello = &h;
	sx_log_info("state hello: TLS 1.3 established with %s (%s)",
		    sx_agentconf_server_name(ac->conf), sx_conn_peer(sx_peer_conn(p)));
	/* Heartbeats from now on bound the wait for Welcome too. */
	sx_peer_negotiated(p, SX_FRAME_PREAUTH_MAX, (uint32_t)ac->conf->heartbeat_ms);
	sx_peer_send(p, &f);
}

static const char *role_name(Sprex__Role r)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&sprex__role__descriptor, (int)r);
	return v ? v->name + 5 : "UNKNOWN"; /* past "ROLE_" */
}

static void on_welcome(struct sx_agentconn *ac, struct sx_peer *p, const Sprex__Welcome *w)
{
	if (w->version != SX_PROTO_VERSION || w->max_frame < SX_FRAME_MIN_MAX ||
	    w->max_frame > ac->conf->max_frame || w->heartbeat_ms == 0) {
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_INVALID,
			      "unacceptable welcome: version %u, max_frame %u, heartbeat %u ms",
			      w->version, w->max_frame, w->heartbeat_ms);
		return;
	}
	sx_peer_negotiated(p, w->max_frame, w->heartbeat_ms);
	snprintf(ac->member, sizeof ac->member, "%s", w->member ? w->member : "");
	ac->ready = 1;
	sx_log_info("state ready: authenticated as member %s (role %s) by %s; protocol %u, "
		    "max_frame %u, heartbeat %u ms",
		    ac->member, role_name(w->role), w->server ? w->server : "?", w->version,
		    w->max_frame, w->heartbeat_ms);
	ac->cbs.on_ready(ac, w);
}

static void on_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct sx_agentconn *ac = sx_peer_udata(p);
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_WELCOME:
		if (ac->ready) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "unexpected welcome");
			return;
		}
		on_welcome(ac, p, f->welcome);
		return;
	case SPREX__FRAME__MSG_ERROR:
		/* Before Welcome an Error is a refusal; after it, it answers a
		 * request and the caller decides. */
		if (ac->ready && ac->cbs.on_frame && f->error->code != SPREX__ERROR_CODE__ERROR_PROTOCOL) {
			ac->cbs.on_frame(ac, f);
			return;
		}
		sx_log_err("server refused: %s: %s", sx_error_name(f->error->code),
			   f->error->message ? f->error->message : "");
		ac->refused = 1;
		sx_peer_close(p, SX_EPERM, "server sent an error");
		return;
	case SPREX__FRAME__MSG_GOAWAY:
		sx_log_warn("server sent goaway %s (retry after %u ms): %s",
			    sx_goaway_name(f->goaway->reason), f->goaway->retry_after_ms,
			    f->goaway->message ? f->goaway->message : "");
		ac->retry_after_ms = f->goaway->retry_after_ms;
		sx_peer_close(p, 0, "server sent goaway");
		return;
	default:
		if (ac->ready && ac->cbs.on_frame)
			ac->cbs.on_frame(ac, f);
		else
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "unexpected frame before welcome");
	}
}

static void on_tick(struct sx_peer *p)
{
	struct sx_agentconn *ac = sx_peer_udata(p);
	if (!ac->ready) {
		if (++ac->hello_ticks >= 3)
			sx_peer_close(p, SX_ETIMEDOUT, "no welcome within 3 heartbeat intervals");
		return;
	}
	sx_log_debug("heartbeat: ping sent to the server (member %s)", ac->member);
	if (ac->cbs.on_tick)
		ac->cbs.on_tick(ac);
}

static void on_close(struct sx_peer *p, int reason, const char *why)
{
	struct sx_agentconn *ac = sx_peer_udata(p);
	ac->peer = NULL;
	if (reason == 0 || ac->stopping)
		sx_log_info("session closed: %s", why);
	else
		sx_log_warn("session closed (%s): %s", sx_strerror(reason), why);
	finish(ac, why);
}

static const struct sx_peer_cbs agentconn_cbs = {
	.on_open = send_hello,
	.on_frame = on_frame,
	.on_tick = on_tick,
	.on_close = on_close,
};

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sx_agentconn *ac = req->data;
	ac->resolving = 0;
	if (ac->stopping || status < 0) {
		char why[SX_PEER_WHY_MAX + SX_HOST_MAX];
		snprintf(why, sizeof why, "cannot resolve %s: %s", ac->conf->host,
			 ac->stopping ? "stopped" : uv_strerror(status));
		if (!ac->stopping)
			sx_log_warn("%s", why);
		uv_freeaddrinfo(res);
		finish(ac, why);
		return;
	}
	struct sx_conn_opts opts = {
		.out_high = 4u << 20,
		.out_low = 1u << 20,
		.handshake_ms = ac->conf->handshake_timeout_ms,
		.linger_ms = 2000,
	};
	int rc = sx_peer_create(ac->loop, ac->tls, 0, sx_agentconf_server_name(ac->conf), &opts,
				&agentconn_cbs, ac, &ac->peer);
	if (rc < 0) {
		uv_freeaddrinfo(res);
		finish(ac, sx_strerror(rc));
		return;
	}
	sx_log_info("state connecting");
	sx_conn_connect(sx_peer_conn(ac->peer), res->ai_addr);
	uv_freeaddrinfo(res);
}

int sx_agentconn_start(uv_loop_t *loop, SSL_CTX *tls, const struct sx_agentconf *conf,
		       const struct sx_agentconn_cbs *cbs, void *udata, struct sx_agentconn **out)
{
	struct sx_agentconn *ac = calloc(1, sizeof *ac);
	if (!ac)
		return SX_ENOMEM;
	ac->loop = loop;
	ac->tls = tls;
	ac->conf = conf;
	ac->cbs = *cbs;
	ac->udata = udata;
	ac->gai.data = ac;
	char port[8];
	snprintf(port, sizeof port, "%u", conf->port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	sx_log_info("state resolving: %s", conf->host);
	int rc = uv_getaddrinfo(loop, &ac->gai, resolved, conf->host, port, &hints);
	if (rc < 0) {
		free(ac);
		return SX_EIO;
	}
	ac->resolving = 1;
	*out = ac;
	return 0;
}

int sx_agentconn_send(struct sx_agentconn *ac, const Sprex__Frame *f)
{
	if (!ac->ready || !ac->peer)
		return SX_EAGAIN;
	return sx_peer_send(ac->peer, f);
}

void sx_agentconn_stop(struct sx_agentconn *ac, const char *why)
{
	if (ac->stopping)
		return;
	ac->stopping = 1;
	if (ac->resolving) {
		uv_cancel((uv_req_t *)&ac->gai); /* resolved() finishes */
		return;
	}
	if (!ac->peer)
		return;
	if (ac->ready)
		sx_peer_goaway(ac->peer, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN, 0, why);
	else
		sx_peer_close(ac->peer, 0, why);
}

void *sx_agentconn_udata(const struct sx_agentconn *ac)
{
	return ac->udata;
}

const char *sx_agentconn_member(const struct sx_agentconn *ac)
{
	return ac->member;
}

size_t sx_agentconn_out_pending(const struct sx_agentconn *ac)
{
	return ac->peer ? sx_peer_out_pending(ac->peer) : 0;
}
