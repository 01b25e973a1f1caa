/*
 * agentconn.h: one session attempt from the agent to sprexd: resolve the
 * server name, connect, TLS 1.3 (server certificate checked against the CA
 * and the server name), Hello, Welcome. Used by the long-running agent (with
 * reconnects around it) and by the one-shot subcommands. Logs each state
 * change in one line.
 *
 * Lifetime: sx_agentconn_start allocates; on_close runs exactly once, however
 * the attempt ends, and the connection is freed when it returns.
 */
#ifndef SX_AGENTCONN_H
#define SX_AGENTCONN_H

#include <stdint.h>

#include <uv.h>

#include "agentconf.h"
#include "peer.h"

struct sx_agentconn;

struct sx_agentconn_cbs {
	/* Welcome received and checked: the session is ready. */
	void (*on_ready)(struct sx_agentconn *ac, const Sprex__Welcome *w);
	/* A frame after Welcome (Error and GoAway are handled here, then the
	 * session closes). May be NULL. */
	void (*on_frame)(struct sx_agentconn *ac, const Sprex__Frame *f);
	/* Each heartbeat interval. May be NULL. */
	void (*on_tick)(struct sx_agentconn *ac);
	/* The attempt is over. ready tells whether Welcome was ever received;
	 * retry_after_ms is the server's GoAway hint (0 when none); refused is
	 * set when the server refused us with an Error (unknown member,
	 * suspended). */
	void (*on_close)(struct sx_agentconn *ac, int ready, int refused, uint32_t retry_after_ms,
			 const char *why);
};

/* Starts an attempt. Returns 0 and *out, or SX_ENOMEM / SX_EIO with nothing
 * started (on_close is then not called). */
int sx_agentconn_start(uv_loop_t *loop, SSL_CTX *tls, const struct sx_agentconf *conf,
		       const struct sx_agentconn_cbs *cbs, void *udata, struct sx_agentconn **out);
/* Sends a frame once ready. Returns as sx_peer_send, SX_EAGAIN before ready. */
int sx_agentconn_send(struct sx_agentconn *ac, const Sprex__Frame *f);
/* Ends the attempt: GoAway(shutdown) first when ready, else just close. */
void sx_agentconn_stop(struct sx_agentconn *ac, const char *why);
void *sx_agentconn_udata(const struct sx_agentconn *ac);
/* The member name the server welcomed us as ("" before ready). */
const char *sx_agentconn_member(const struct sx_agentconn *ac);
/* Unacknowledged output bytes, for flow control. */
size_t sx_agentconn_out_pending(const struct sx_agentconn *ac);

#endif
