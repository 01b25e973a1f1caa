#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_query.h"
#include "authz.h"
#include "err.h"
#include "feed.h"
#include "feed_impl.h"
#include "log.h"
#include "notice.h"
#include "server.h"
#include "submit.h"

static void session_open(struct sx_peer *p);
static void session_frame(struct sx_peer *p, const Sprex__Frame *f);
static void session_close(struct sx_peer *p, int reason, const char *why);
static void session_tick(struct sx_peer *p);
static void session_drain(struct sx_peer *p);

static const struct sx_peer_cbs session_cbs = {
	.on_open = session_open,
	.on_frame = session_frame,
	.on_close = session_close,
	.on_tick = session_tick,
	.on_drain = session_drain,
};

void sx_session_accept(struct sx_server *srv, uv_stream_t *listener)
{
	const struct sx_srvconf *cf = srv->conf;
	struct sx_conn_opts opts = {
		.out_high = cf->out_high,
		.out_low = cf->out_low,
		.handshake_ms = cf->handshake_timeout_ms,
		.linger_ms = 2000,
	};
	struct sx_session *ss = calloc(1, sizeof *ss);
	if (!ss) {
		sx_log_err("accept: out of memory");
		return;
	}
	int rc = sx_peer_create(srv->loop, srv->tls, 1, NULL, &opts, &session_cbs, ss, &ss->peer);
	if (rc < 0) {
		sx_log_err("accept: cannot create a session: %s", sx_strerror(rc));
		free(ss);
		return;
	}
	ss->srv = srv;
	ss->id = ++srv->next_session_id;
	sx_server_session_add(srv, ss);

	struct sx_conn *c = sx_peer_conn(ss->peer);
	rc = uv_accept(listener, (uv_stream_t *)sx_conn_tcp(c));
	if (rc < 0) {
		sx_conn_abort(c, SX_EIO, uv_strerror(rc));
		return;
	}
	sx_conn_start(c); /* also fills in the peer address */
	snprintf(ss->peer_addr, sizeof ss->peer_addr, "%s", sx_conn_peer(c));
	if (srv->nsessions > cf->max_connections) {
		sx_log_warn("session %llu: refused %s: max_connections (%u) reached",
			    (unsigned long long)ss->id, ss->peer_addr, cf->max_connections);
		ss->quiet = 1;
		sx_conn_abort(c, SX_ELIMIT, "max_connections reached");
		return;
	}
	if (!srv->crl_ok) {
		sx_log_warn("session %llu: refused %s: the configured CRL is unusable (fail-closed)",
			    (unsigned long long)ss->id, ss->peer_addr);
		ss->quiet = 1;
		sx_conn_abort(c, SX_ETLS, "CRL unusable");
		return;
	}
	sx_log_debug("session %llu: connection from %s", (unsigned long long)ss->id, ss->peer_addr);
}

/* Identity: the SHA-256 of the certificate's public key, never its names. */
static void session_open(struct sx_peer *p)
{
	struct sx_session *ss = sx_peer_udata(p);
	struct sx_server *srv = ss->srv;
	SSL *ssl = sx_conn_ssl(sx_peer_conn(p));
	X509 *cert = SSL_get0_peer_certificate(ssl);
	uint8_t spki[SX_SPKI_LEN];
	char hex[SX_SPKI_HEX];
	if (!cert || sx_spki_of_cert(cert, spki) < 0 || !sx_tls_alpn_ok(ssl)) {
		sx_peer_close(p, SX_ETLS, "no usable client certificate or ALPN");
		return;
	}
	sx_hex(spki, SX_SPKI_LEN, hex);
	memcpy(ss->spki, spki, sizeof ss->spki);
	ss->spki_known = 1;
	/* The handshake was verified against the context it started with; when
	 * the CRL changed meanwhile, ask the new one too. */
	if (srv->conf->tls_crl && SSL_get_SSL_CTX(ssl) != srv->tls &&
	    sx_tls_cert_revoked(cert, srv->conf->tls_crl) != 0) {
		sx_log_warn("session %llu: %s: certificate revoked by a CRL loaded during the handshake",
			    (unsigned long long)ss->id, ss->peer_addr);
		sx_session_audit(ss, "auth-fail", "revoked", "handshake");
		ss->quiet = 1;
		sx_peer_close(p, SX_ETLS, "certificate revoked");
		return;
	}
	const struct sx_member *m = sx_members_by_spki(srv->members, spki);
	if (!m) {
		sx_log_warn("session %llu: %s: certificate key %s is not registered",
			    (unsigned long long)ss->id, ss->peer_addr, hex);
		sx_session_audit(ss, "auth-fail", "unknown key", "handshake");
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_UNKNOWN_MEMBER,
			      "certificate key %s is not registered", hex);
		return;
	}
	if (m->state == SX_MEMBER_SUSPENDED) {
		sx_log_warn("session %llu: %s: member %s is suspended", (unsigned long long)ss->id,
			    ss->peer_addr, m->name);
		sx_session_audit(ss, "auth-fail", "suspended", "handshake member=%s", m->name);
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_SUSPENDED, "member %s is suspended",
			      m->name);
		return;
	}
	ss->member = *m;
	ss->state = SX_SESSION_HELLO;
	/* Heartbeats run before Hello too, so a client that never says it is
	 * closed after three intervals. */
	sx_peer_negotiated(p, SX_FRAME_PREAUTH_MAX, (uint32_t)srv->conf->heartbeat_ms);
	sx_log_debug("session %llu: %s: TLS up, key %s is member %s", (unsigned long long)ss->id,
		     ss->peer_addr, hex, m->name);
}

static Sprex__Role role_to_wire(enum sx_role r)
{
	return (Sprex__Role)r; /* the enums share their values by design */
}

static void handle_hello(struct sx_session *ss, const Sprex__Hello *h)
{
	struct sx_peer *p = ss->peer;
	const struct sx_srvconf *cf = ss->srv->conf;
	uint32_t version = 0;
	for (size_t i = 0; i < h->n_versions; i++)
		if (h->versions[i] == SX_PROTO_VERSION)
			version = SX_PROTO_VERSION;
	if (!version) {
		sx_log_warn("session %llu: member %s: no common protocol version",
			    (unsigned long long)ss->id, ss->member.name);
		sx_session_audit(ss, "auth-fail", "no common protocol version", "hello");
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
			      "no common protocol version; this server speaks %u", SX_PROTO_VERSION);
		return;
	}
	uint32_t max_frame = (uint32_t)cf->max_frame;
	if (h->max_frame && h->max_frame < max_frame)
		max_frame = h->max_frame;
	if (max_frame < SX_FRAME_MIN_MAX) {
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_INVALID,
			      "max_frame %u is below the minimum %u", h->max_frame, SX_FRAME_MIN_MAX);
		return;
	}
	/* The slower of the two proposals wins: neither side is asked to ping
	 * more often than it wants to. */
	uint32_t hb = (uint32_t)cf->heartbeat_ms;
	if (h->heartbeat_ms > hb)
		hb = h->heartbeat_ms > 600000 ? 600000 : h->heartbeat_ms;

	Sprex__Limits limits = SPREX__LIMITS__INIT;
	limits.max_mail_bytes = cf->limits.max_size;
	int64_t head = 0;
	sx_store_head_seq(ss->srv->store, &head);
	Sprex__Welcome w = SPREX__WELCOME__INIT;
	w.head_seq = (uint64_t)head;
	w.version = version;
	w.max_frame = max_frame;
	w.heartbeat_ms = hb;
	w.member = ss->member.name;
	w.role = role_to_wire(ss->member.role);
	w.limits = &limits;
	w.server = SX_SERVER_NAME;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_WELCOME;
	f.welcome = &w;
	if (sx_peer_send(p, &f) < 0)
		return;
	sx_peer_negotiated(p, max_frame, hb);
	ss->state = SX_SESSION_READY;
	sx_session_audit(ss, "connect", "ok", "session");
	sx_log_info("session %llu: member %s (%s) authenticated from %s; agent \"%.64s\", "
		    "protocol %u, max_frame %u, heartbeat %u ms",
		    (unsigned long long)ss->id, ss->member.name, sx_role_name(ss->member.role),
		    ss->peer_addr, h->agent ? h->agent : "", version, max_frame, hb);
}

void sx_session_error(struct sx_session *ss, uint64_t id, Sprex__ErrorCode code, const char *fmt,
		      ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	Sprex__Error e = SPREX__ERROR__INIT;
	e.code = code;
	e.message = msg;
	e.ref = id;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = id;
	f.msg_case = SPREX__FRAME__MSG_ERROR;
	f.error = &e;
	sx_peer_send(ss->peer, &f);
}

/* Control characters become spaces: an audit field holds none. */
static void audit_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

void sx_session_audit_vrec(const struct sx_session *ss, struct sx_audit_rec *r, const char *event,
			   const char *outcome, const char *fmt, va_list ap)
{
	memset(r, 0, sizeof *r);
	r->time_ms = sx_feed_now();
	snprintf(r->event, sizeof r->event, "%s", event);
	snprintf(r->member, sizeof r->member, "%s", ss->member.name);
	if (ss->member.name[0])
		sx_audit_spki_hex(ss->member.spki, r->spki);
	else if (ss->spki_known)
		sx_audit_spki_hex(ss->spki, r->spki);
	snprintf(r->peer, sizeof r->peer, "%s", ss->peer_addr);
	vsnprintf(r->object, sizeof r->object, fmt, ap);
	snprintf(r->outcome, sizeof r->outcome, "%s", outcome);
	audit_clean(r->object);
	audit_clean(r->outcome);
}

void sx_session_audit_rec(const struct sx_session *ss, struct sx_audit_rec *r, const char *event,
			  const char *outcome, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sx_session_audit_vrec(ss, r, event, outcome, fmt, ap);
	va_end(ap);
}

void sx_session_audit(struct sx_session *ss, const char *event, const char *outcome,
		      const char *fmt, ...)
{
	struct sx_audit_rec r;
	va_list ap;
	va_start(ap, fmt);
	sx_session_audit_vrec(ss, &r, event, outcome, fmt, ap);
	va_end(ap);
	sx_feed_audit(&ss->srv->feed, &r);
}

static const char *frame_name(const Sprex__Frame *f)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field(&sprex__frame__descriptor, (unsigned)f->msg_case);
	return fd ? fd->name : "unknown";
}

static void session_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct sx_session *ss = sx_peer_udata(p);
	if (ss->state == SX_SESSION_HELLO) {
		if (f->msg_case != SPREX__FRAME__MSG_HELLO) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL,
				      "expected hello, got %s", frame_name(f));
			return;
		}
		handle_hello(ss, f->hello);
		return;
	}
	if (f->msg_case == SPREX__FRAME__MSG_HELLO || !sx_frame_from_member(f->msg_case)) {
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "unexpected %s frame",
			      frame_name(f));
		return;
	}
	if (!sx_authz_may_send(ss->member.role, f->msg_case)) {
		char msg[128];
		snprintf(msg, sizeof msg, "a %s member may not send %s",
			 sx_role_name(ss->member.role), frame_name(f));
		sx_log_warn("session %llu: member %s: %s", (unsigned long long)ss->id,
			    ss->member.name, msg);
		sx_session_error(ss, f->id, SPREX__ERROR_CODE__ERROR_FORBIDDEN, "%s", msg);
		return;
	}
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_SUBMIT:
		sx_submit_handle(ss, f->id, f->submit);
		return;
	case SPREX__FRAME__MSG_SUBSCRIBE:
		sx_feed_subscribe(&ss->srv->feed, ss, f->id, f->subscribe);
		return;
	case SPREX__FRAME__MSG_ACK:
		sx_feed_ack(&ss->srv->feed, ss, f->id, f->ack);
		return;
	case SPREX__FRAME__MSG_NAK:
		sx_feed_nak(&ss->srv->feed, ss, f->id, f->nak);
		return;
	case SPREX__FRAME__MSG_REJECT:
		sx_feed_reject(&ss->srv->feed, ss, f->id, f->reject);
		return;
	case SPREX__FRAME__MSG_PARKED_QUERY:
		sx_feed_parked(&ss->srv->feed, ss, f->id, f->parked_query);
		return;
	case SPREX__FRAME__MSG_NOTICE_ACTION:
		sx_notice_action(ss, f->id, f->notice_action);
		return;
	case SPREX__FRAME__MSG_AUDIT_QUERY:
		sx_audit_query(ss, f->id, f->audit_query);
		return;
	case SPREX__FRAME__MSG_GOAWAY:
		sx_log_info("session %llu: member %s leaves: %s", (unsigned long long)ss->id,
			    ss->member.name, sx_goaway_name(f->goaway->reason));
		sx_peer_close(p, 0, "peer sent goaway");
		return;
	case SPREX__FRAME__MSG_ERROR:
		sx_log_warn("session %llu: member %s reports error %s: %.200s",
			    (unsigned long long)ss->id, ss->member.name,
			    sx_error_name(f->error->code), f->error->message);
		sx_peer_close(p, SX_EPROTO, "peer sent an error");
		return;
	default:
		/* Allowed for the role but not served by this version: say so
		 * and keep the session. */
		sx_session_error(ss, f->id, SPREX__ERROR_CODE__ERROR_INVALID,
				 "%s is not served by this server version", frame_name(f));
	}
}

static void session_close(struct sx_peer *p, int reason, const char *why)
{
	struct sx_session *ss = sx_peer_udata(p);
	const char *who = ss->member.name[0] ? ss->member.name : "(unauthenticated)";
	if (ss->quiet)
		; /* logged where it was refused */
	else if (ss->state == SX_SESSION_TLS && reason == SX_ETLS) {
		sx_log_warn("session %llu: %s: handshake refused: %s", (unsigned long long)ss->id,
			    ss->peer_addr, why);
		sx_session_audit(ss, "auth-fail", why, "handshake");
	}
	else if (reason == 0 || reason == SX_ECLOSED)
		sx_log_info("session %llu: %s %s closed: %s", (unsigned long long)ss->id, who,
			    ss->peer_addr, why);
	else
		sx_log_info("session %llu: %s %s closed (%s): %s", (unsigned long long)ss->id, who,
			    ss->peer_addr, sx_strerror(reason), why);
	sx_feed_session_closed(&ss->srv->feed, ss);
	sx_submits_detach(&ss->srv->submits, ss);
	sx_server_session_remove(ss->srv, ss);
	free(ss);
}

/* Waiting for Hello is bounded: pings alone do not keep an unnamed session. */
static void session_tick(struct sx_peer *p)
{
	struct sx_session *ss = sx_peer_udata(p);
	if (ss->state == SX_SESSION_HELLO && ++ss->hello_ticks >= 3)
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL,
			      "no hello within 3 heartbeat intervals");
	else if (ss->state == SX_SESSION_READY)
		sx_feed_heartbeat(&ss->srv->feed, ss);
}

/* Output fell below the low watermark: deliveries may go on. */
static void session_drain(struct sx_peer *p)
{
	struct sx_session *ss = sx_peer_udata(p);
	if (ss->state == SX_SESSION_READY)
		sx_feed_pump_session(&ss->srv->feed, ss);
}

void sx_session_goaway(struct sx_session *ss, Sprex__GoAwayReason reason, uint32_t retry_after_ms,
		       const char *message)
{
	ss->state = SX_SESSION_CLOSING;
	sx_peer_goaway(ss->peer, reason, retry_after_ms, message);
}

void sx_session_abort(struct sx_session *ss, const char *why)
{
	struct sx_conn *c = sx_peer_conn(ss->peer);
	if (c)
		sx_conn_abort(c, SX_ETIMEDOUT, why);
}
