/*
 * peer.h: a framed sprex session over a sx_conn, shared by sprexd and the
 * agent. It decodes frames, answers Ping with Pong, sends a Ping every
 * heartbeat interval and closes a peer that was silent for three intervals,
 * and turns framing errors into an Error frame followed by an orderly close.
 *
 * Lifetime: created with sx_peer_create, freed right after on_close, which
 * runs exactly once. Nothing is called after on_close.
 */
#ifndef SX_PEER_H
#define SX_PEER_H

#include <stdint.h>

#include "conn.h"
#include "frame.h"

struct sx_peer;

struct sx_peer_cbs {
	/* TLS is up (a client sends Hello here). May be NULL. */
	void (*on_open)(struct sx_peer *p);
	/* A frame other than Ping/Pong arrived; f is freed after the call. */
	void (*on_frame)(struct sx_peer *p, const Sprex__Frame *f);
	/* Output fell below the low watermark. May be NULL. */
	void (*on_drain)(struct sx_peer *p);
	/* Each heartbeat interval, after the Ping. May be NULL. */
	void (*on_tick)(struct sx_peer *p);
	/* The session is over: reason as for sx_conn, or SX_EPROTO (framing,
	 * an Error frame was sent) or SX_ETIMEDOUT (silent peer). why is a
	 * one-line detail. p is freed when this returns. */
	void (*on_close)(struct sx_peer *p, int reason, const char *why);
};

#define SX_PEER_WHY_MAX 256

/*
 * Creates a session; see sx_conn_create for host, opts and the handle. Frames
 * are limited to SX_FRAME_PREAUTH_MAX until sx_peer_negotiated. Returns 0 and
 * *out, or SX_ENOMEM / SX_ETLS with nothing left to free.
 */
int sx_peer_create(uv_loop_t *loop, SSL_CTX *ctx, int is_server, const char *host,
		   const struct sx_conn_opts *opts, const struct sx_peer_cbs *cbs, void *udata,
		   struct sx_peer **out);

/* The transport, for accept/connect/start and TLS queries. */
struct sx_conn *sx_peer_conn(struct sx_peer *p);

/* Applies what Hello/Welcome agreed: frame limit both ways and heartbeats. */
void sx_peer_negotiated(struct sx_peer *p, uint32_t max_frame, uint32_t heartbeat_ms);

/*
 * Sends one frame. Returns 0; SX_ETOOBIG when it exceeds the agreed maximum
 * (nothing sent, the session goes on); SX_ECLOSED when the session is
 * closing; other errors close the session.
 */
int sx_peer_send(struct sx_peer *p, const Sprex__Frame *f);

/* Sends a frame already encoded by the caller as head then body (a valid
 * Frame encoding together): for a message framed once and sent to many.
 * Returns as sx_peer_send. */
int sx_peer_send_packed(struct sx_peer *p, const uint8_t *head, size_t headlen,
			const uint8_t *body, size_t bodylen);
/* Gathers the frames sent until uncorked into as few writes as possible. */
void sx_peer_cork(struct sx_peer *p, int on);

/* Sends Error(code, message) and closes in order; reason SX_EPROTO unless
 * the code says the peer is not allowed (then SX_EPERM). */
void sx_peer_error(struct sx_peer *p, Sprex__ErrorCode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends GoAway and closes in order once it is written. */
void sx_peer_goaway(struct sx_peer *p, Sprex__GoAwayReason reason, uint32_t retry_after_ms,
		    const char *message);

/* Orderly close with reason and a detail for on_close. */
void sx_peer_close(struct sx_peer *p, int reason, const char *why);

int sx_peer_closing(const struct sx_peer *p);
size_t sx_peer_out_pending(const struct sx_peer *p);
uint32_t sx_peer_max_frame(const struct sx_peer *p);
uint32_t sx_peer_heartbeat_ms(const struct sx_peer *p);
void *sx_peer_udata(const struct sx_peer *p);
void sx_peer_set_udata(struct sx_peer *p, void *udata);

/* The names of enum values for logs. */
const char *sx_goaway_name(Sprex__GoAwayReason r);
const char *sx_error_name(Sprex__ErrorCode c);

#endif
