/*
 * session.h: one member's connection to sprexd, from the TLS handshake to the
 * close: identity by certificate key, Hello/Welcome negotiation, and dispatch
 * of the member's requests.
 */
#ifndef SX_SESSION_H
#define SX_SESSION_H

#include <stdarg.h>
#include <stdint.h>

#include "peer.h"
#include "store.h"

struct sx_server;
struct sx_subscr;

enum sx_session_state {
	SX_SESSION_TLS = 0,    /* handshake in progress */
	SX_SESSION_HELLO,      /* authenticated, waiting for Hello */
	SX_SESSION_READY,      /* Welcome sent */
	SX_SESSION_CLOSING,
};

struct sx_session {
	struct sx_session *next, *prev;
	struct sx_server *srv;
	struct sx_peer *peer;
	uint64_t id;
	enum sx_session_state state;
	struct sx_member member;  /* copied from the snapshot at authentication */
	char peer_addr[64];
	unsigned hello_ticks;     /* heartbeat intervals spent waiting for Hello */
	struct sx_subscr *subs;   /* attached subscriptions (feed.c) */
	unsigned nsubs;
	uint32_t next_sub_id;
	unsigned quiet : 1;       /* the refusal was logged already */
	unsigned spki_known : 1;  /* spki holds the peer's key (an unknown one too) */
	uint8_t spki[SX_SPKI_LEN];
};

/* Accepts one pending connection on listener and starts its handshake. A
 * failure is logged here and leaves nothing behind. */
void sx_session_accept(struct sx_server *srv, uv_stream_t *listener);

/* Sends GoAway and closes the session once it is written. */
void sx_session_goaway(struct sx_session *ss, Sprex__GoAwayReason reason, uint32_t retry_after_ms,
		       const char *message);

/* Answers request id with an Error frame; the session goes on. */
void sx_session_error(struct sx_session *ss, uint64_t id, Sprex__ErrorCode code, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* Fills r with an audit record of the session (time, member, SPKI, peer
 * address) for event, outcome and the object formatted from fmt. */
void sx_session_audit_vrec(const struct sx_session *ss, struct sx_audit_rec *r, const char *event,
			   const char *outcome, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
void sx_session_audit_rec(const struct sx_session *ss, struct sx_audit_rec *r, const char *event,
			  const char *outcome, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Queues such a record for the delivery state's next commit (feed.h). */
void sx_session_audit(struct sx_session *ss, const char *event, const char *outcome,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Closes the session at once (shutdown deadline passed). */
void sx_session_abort(struct sx_session *ss, const char *why);

#endif
