#include "peer.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct sx_peer {
	struct sx_conn *conn;
	uv_timer_t hb;           /* heartbeat timer; closed after the conn */
	struct sx_peer_cbs cbs;
	void *udata;
	struct sx_fdec dec;
	uint32_t max_frame;      /* for frames we send */
	uint32_t hb_ms;          /* 0 until negotiated */
	uint64_t last_rx;        /* uv_now of the last received bytes */
	uint64_t nonce;
	int reason;
	char why[SX_PEER_WHY_MAX];
};

static void set_why(struct sx_peer *p, const char *why)
{
	if (why && why[0] && p->why[0] == '\0')
		snprintf(p->why, sizeof p->why, "%s", why);
}

static void hb_close_cb(uv_handle_t *h)
{
	struct sx_peer *p = h->data;
	p->cbs.on_close(p, p->reason, p->why);
	sx_fdec_finish(&p->dec);
	free(p);
}

static void conn_close(struct sx_conn *c, int reason)
{
	struct sx_peer *p = sx_conn_udata(c);
	/* A reason we set before closing (protocol, idle) wins over the conn's. */
	if (p->reason == 0)
		p->reason = reason;
	set_why(p, sx_conn_errstr(c));
	if (p->why[0] == '\0' && reason == 0)
		set_why(p, "closed");
	p->conn = NULL;
	uv_close((uv_handle_t *)&p->hb, hb_close_cb);
}

/* Streams a packed frame into TLS in 16 KiB pieces, so a large raw mail is
 * encrypted from its own buffer instead of being copied whole first. */
struct sink {
	ProtobufCBuffer base;
	struct sx_conn *conn;
	int rc;
	size_t n;
	uint8_t stage[16 * 1024];
};

static void sink_flush(struct sink *s)
{
	if (s->rc == 0 && s->n > 0)
		s->rc = sx_conn_write(s->conn, s->stage, s->n);
	s->n = 0;
}

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
	struct sink *s = (struct sink *)b;
	if (s->rc)
		return;
	if (len > sizeof s->stage - s->n) {
		sink_flush(s);
		if (len >= sizeof s->stage) {
			if (s->rc == 0)
				s->rc = sx_conn_write(s->conn, data, len);
			return;
		}
	}
	memcpy(s->stage + s->n, data, len);
	s->n += len;
}

int sx_peer_send(struct sx_peer *p, const Sprex__Frame *f)
{
	if (!p->conn || sx_conn_closing(p->conn))
		return SX_ECLOSED;
	size_t len = protobuf_c_message_get_packed_size(&f->base);
	if (len > p->max_frame || len == 0)
		return SX_ETOOBIG;
	struct sink s = { .base = { .append = sink_append }, .conn = p->conn };
	uint8_t hdr[SX_FRAME_HDR] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
				      (uint8_t)(len >> 8), (uint8_t)len };
	sink_append(&s.base, sizeof hdr, hdr);
	protobuf_c_message_pack_to_buffer(&f->base, &s.base);
	sink_flush(&s);
	return s.rc;
}

int sx_peer_send_packed(struct sx_peer *p, const uint8_t *head, size_t headlen,
			const uint8_t *body, size_t bodylen)
{
	if (!p->conn || sx_conn_closing(p->conn))
		return SX_ECLOSED;
	size_t len = headlen + bodylen;
	if (len > p->max_frame || len == 0)
		return SX_ETOOBIG;
	struct sink s = { .base = { .append = sink_append }, .conn = p->conn };
	uint8_t hdr[SX_FRAME_HDR] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
				      (uint8_t)(len >> 8), (uint8_t)len };
	sink_append(&s.base, sizeof hdr, hdr);
	sink_append(&s.base, headlen, head);
	sink_append(&s.base, bodylen, body);
	sink_flush(&s);
	return s.rc;
}

void sx_peer_cork(struct sx_peer *p, int on)
{
	if (p->conn)
		sx_conn_cork(p->conn, on);
}

void sx_peer_close(struct sx_peer *p, int reason, const char *why)
{
	if (!p->conn || sx_conn_closing(p->conn))
		return;
	if (p->reason == 0)
		p->reason = reason;
	set_why(p, why);
	sx_conn_close(p->conn, reason);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t len)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	if (!ev)
		return "unknown";
	/* "ERROR_UNKNOWN_MEMBER" -> "unknown-member" */
	const char *n = strchr(ev->name, '_');
	n = n ? n + 1 : ev->name;
	size_t i = 0;
	for (; n[i] && i + 1 < len; i++)
		buf[i] = n[i] == '_' ? '-' : (char)tolower((unsigned char)n[i]);
	buf[i] = '\0';
	return buf;
}

const char *sx_goaway_name(Sprex__GoAwayReason r)
{
	static char buf[32];
	return enum_name(&sprex__go_away_reason__descriptor, (int)r, buf, sizeof buf);
}

const char *sx_error_name(Sprex__ErrorCode c)
{
	static char buf[32];
	return enum_name(&sprex__error_code__descriptor, (int)c, buf, sizeof buf);
}

void sx_peer_error(struct sx_peer *p, Sprex__ErrorCode code, const char *fmt, ...)
{
	char msg[SX_PEER_WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	Sprex__Error e = SPREX__ERROR__INIT;
	e.code = code;
	e.message = msg;
	uint32_t versions[] = { SX_PROTO_VERSION };
	if (code == SPREX__ERROR_CODE__ERROR_UNSUPPORTED_VERSION) {
		e.n_supported_versions = 1;
		e.supported_versions = versions;
	}
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_ERROR;
	f.error = &e;
	sx_peer_send(p, &f);
	char why[SX_PEER_WHY_MAX + 32];
	snprintf(why, sizeof why, "sent error %s: %s", sx_error_name(code), msg);
	int perm = code == SPREX__ERROR_CODE__ERROR_UNKNOWN_MEMBER ||
		   code == SPREX__ERROR_CODE__ERROR_SUSPENDED ||
		   code == SPREX__ERROR_CODE__ERROR_FORBIDDEN;
	sx_peer_close(p, perm ? SX_EPERM : SX_EPROTO, why);
}

void sx_peer_goaway(struct sx_peer *p, Sprex__GoAwayReason reason, uint32_t retry_after_ms,
		    const char *message)
{
	Sprex__GoAway g = SPREX__GO_AWAY__INIT;
	g.reason = reason;
	g.retry_after_ms = retry_after_ms;
	g.message = (char *)(message ? message : "");
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_GOAWAY;
	f.goaway = &g;
	sx_peer_send(p, &f);
	char why[SX_PEER_WHY_MAX];
	snprintf(why, sizeof why, "sent goaway %s%s%s", sx_goaway_name(reason),
		 message && *message ? ": " : "", message ? message : "");
	sx_peer_close(p, 0, why);
}

/* Maps a decoder error to the Error frame the peer gets. */
static void framing_error(struct sx_peer *p, int rc)
{
	if (rc == SX_ETOOBIG)
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_FRAME_TOO_LARGE,
			      "frame length %u exceeds the maximum %u", p->dec.bad_len,
			      p->dec.max_frame);
	else if (rc == SX_EPROTO && p->dec.bad_len == 0)
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_EMPTY_FRAME, "frame length 0");
	else if (rc == SX_ENOMEM)
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL,
			      "frame exceeds the decoding memory budget");
	else
		sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL,
			      "frame is not a valid sprex.Frame");
}

static void answer_ping(struct sx_peer *p, const Sprex__Ping *ping)
{
	Sprex__Pong pong = SPREX__PONG__INIT;
	pong.nonce = ping->nonce;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_PONG;
	f.pong = &pong;
	sx_peer_send(p, &f);
}

static void conn_data(struct sx_conn *c, const uint8_t *data, size_t n)
{
	struct sx_peer *p = sx_conn_udata(c);
	p->last_rx = uv_now(p->hb.loop);
	while (n > 0 && !sx_conn_closing(c)) {
		size_t used;
		Sprex__Frame *f;
		int rc = sx_fdec_feed(&p->dec, data, n, &used, &f);
		if (rc < 0) {
			framing_error(p, rc);
			return;
		}
		data += used;
		n -= used;
		if (!f)
			continue;
		if (f->msg_case == SPREX__FRAME__MSG_PING)
			answer_ping(p, f->ping);
		else if (f->msg_case != SPREX__FRAME__MSG_PONG)
			p->cbs.on_frame(p, f);
		sx_frame_free(f);
	}
}

static void conn_open(struct sx_conn *c)
{
	struct sx_peer *p = sx_conn_udata(c);
	p->last_rx = uv_now(p->hb.loop);
	if (p->cbs.on_open)
		p->cbs.on_open(p);
}

static void conn_drain(struct sx_conn *c)
{
	struct sx_peer *p = sx_conn_udata(c);
	if (p->cbs.on_drain)
		p->cbs.on_drain(p);
}

static void hb_cb(uv_timer_t *t)
{
	struct sx_peer *p = t->data;
	if (!p->conn || sx_conn_closing(p->conn))
		return;
	/* While we do not read (our output is above its high watermark) the
	 * peer's silence proves nothing: the clock starts again when reading
	 * resumes. Memory stays bounded by the watermark meanwhile. */
	if (sx_conn_read_paused(p->conn))
		p->last_rx = uv_now(t->loop);
	uint64_t silent = uv_now(t->loop) - p->last_rx;
	if (silent >= 3ull * p->hb_ms) {
		char why[96];
		snprintf(why, sizeof why, "peer silent for %llu ms (3 heartbeat intervals)",
			 (unsigned long long)silent);
		p->reason = SX_ETIMEDOUT;
		set_why(p, why);
		sx_peer_goaway(p, SPREX__GO_AWAY_REASON__GOAWAY_IDLE, 0, "no traffic for 3 heartbeat intervals");
		return;
	}
	Sprex__Ping ping = SPREX__PING__INIT;
	ping.nonce = ++p->nonce;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_PING;
	f.ping = &ping;
	sx_peer_send(p, &f);
	if (p->cbs.on_tick && p->conn && !sx_conn_closing(p->conn))
		p->cbs.on_tick(p);
}

static const struct sx_conn_cbs peer_conn_cbs = {
	.on_open = conn_open,
	.on_data = conn_data,
	.on_drain = conn_drain,
	.on_close = conn_close,
};

int sx_peer_create(uv_loop_t *loop, SSL_CTX *ctx, int is_server, const char *host,
		   const struct sx_conn_opts *opts, const struct sx_peer_cbs *cbs, void *udata,
		   struct sx_peer **out)
{
	struct sx_peer *p = calloc(1, sizeof *p);
	if (!p)
		return SX_ENOMEM;
	int rc = sx_conn_create(loop, ctx, is_server, host, opts, &peer_conn_cbs, p, &p->conn);
	if (rc < 0) {
		free(p);
		return rc;
	}
	uv_timer_init(loop, &p->hb);
	p->hb.data = p;
	p->cbs = *cbs;
	p->udata = udata;
	p->max_frame = SX_FRAME_PREAUTH_MAX;
	sx_fdec_init(&p->dec, SX_FRAME_PREAUTH_MAX);
	*out = p;
	return 0;
}

struct sx_conn *sx_peer_conn(struct sx_peer *p)
{
	return p->conn;
}

void sx_peer_negotiated(struct sx_peer *p, uint32_t max_frame, uint32_t heartbeat_ms)
{
	p->max_frame = max_frame;
	sx_fdec_set_max(&p->dec, max_frame);
	p->hb_ms = heartbeat_ms;
	p->last_rx = uv_now(p->hb.loop);
	uv_timer_start(&p->hb, hb_cb, heartbeat_ms, heartbeat_ms);
}

int sx_peer_closing(const struct sx_peer *p)
{
	return !p->conn || sx_conn_closing(p->conn);
}

size_t sx_peer_out_pending(const struct sx_peer *p)
{
	return p->conn ? sx_conn_out_pending(p->conn) : 0;
}

uint32_t sx_peer_max_frame(const struct sx_peer *p)
{
	return p->max_frame;
}

uint32_t sx_peer_heartbeat_ms(const struct sx_peer *p)
{
	return p->hb_ms;
}

void *sx_peer_udata(const struct sx_peer *p)
{
	return p->udata;
}

void sx_peer_set_udata(struct sx_peer *p, void *udata)
{
	p->udata = udata;
}
