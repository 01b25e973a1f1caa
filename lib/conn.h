/*
 * conn.h: a TLS connection on a libuv TCP handle. It pumps a sx_tlse: reads
 * ciphertext into it, writes what it produces (one uv_write in flight at a
 * time), enforces the handshake deadline, and applies backpressure: while more
 * than out_high bytes wait to be sent it stops reading, and it resumes (and
 * calls on_drain) once they fall below out_low.
 *
 * Lifetime: sx_conn_create allocates; the connection is freed right after its
 * on_close callback, which runs exactly once, from libuv's close callback,
 * whatever ended the connection. Nothing is called after on_close.
 */
#ifndef SX_CONN_H
#define SX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

struct sx_conn;

struct sx_conn_cbs {
	/* The handshake completed. */
	void (*on_open)(struct sx_conn *c);
	/* Plaintext arrived; p is valid only during the call. */
	void (*on_data)(struct sx_conn *c, const uint8_t *p, size_t n);
	/* Pending output fell below out_low after having exceeded out_high. May be NULL. */
	void (*on_drain)(struct sx_conn *c);
	/* The connection is gone. reason: 0 after our own orderly close,
	 * SX_ECLOSED peer's orderly close, SX_ETRUNC cut without close_notify,
	 * SX_ETLS, SX_ETIMEDOUT (handshake or linger), SX_EIO, SX_ENOMEM.
	 * sx_conn_errstr(c) holds the detail. c is freed when this returns. */
	void (*on_close)(struct sx_conn *c, int reason);
};

struct sx_conn_opts {
	size_t out_high;        /* stop reading above this many unsent bytes */
	size_t out_low;         /* resume reading below this */
	uint64_t handshake_ms;  /* deadline from start to completed handshake */
	uint64_t linger_ms;     /* how long an orderly close may wait for the peer */
};

#define SX_CONN_ERR_MAX 256

/*
 * Allocates a connection whose TCP handle is initialised on loop but not yet
 * connected: the caller then either uv_accept()s into sx_conn_tcp(c) and calls
 * sx_conn_start, or calls sx_conn_connect. host is the expected server name
 * (clients only; may be NULL on servers). Returns 0 and *out, or SX_ENOMEM /
 * SX_ETLS; on failure nothing is left to free.
 */
int sx_conn_create(uv_loop_t *loop, SSL_CTX *ctx, int is_server, const char *host,
		   const struct sx_conn_opts *opts, const struct sx_conn_cbs *cbs, void *udata,
		   struct sx_conn **out);

/* The TCP handle, for uv_accept. */
uv_tcp_t *sx_conn_tcp(struct sx_conn *c);

/* Starts reading and the handshake deadline on an accepted handle. On failure
 * the connection is closed (on_close follows). */
void sx_conn_start(struct sx_conn *c);

/* Connects to addr and then starts. A failure to connect ends in on_close
 * with SX_EIO and the reason in sx_conn_errstr. */
void sx_conn_connect(struct sx_conn *c, const struct sockaddr *addr);

/*
 * Encrypts n bytes of plaintext and queues them. Returns 0, or SX_ECLOSED when
 * the connection is closing (nothing queued), SX_ETLS / SX_ENOMEM (the
 * connection is then closed). Queued output is bounded only by the caller's
 * use of sx_conn_out_pending / on_drain.
 */
int sx_conn_write(struct sx_conn *c, const uint8_t *p, size_t n);

/* Bytes queued and not yet written to the socket. */
size_t sx_conn_out_pending(const struct sx_conn *c);
/* Non-zero while reading is stopped because output is above out_high. */
int sx_conn_read_paused(const struct sx_conn *c);
/* Corked, writes gather in the TLS engine's output and go to the socket
 * only when uncorked: a burst of frames costs one system call, not one
 * each. Output still counts for sx_conn_out_pending. */
void sx_conn_cork(struct sx_conn *c, int on);

/* Orderly close: stop reading, send close_notify after what is queued, close
 * once it is written or after linger_ms. reason is passed to on_close. */
void sx_conn_close(struct sx_conn *c, int reason);

/* Immediate close: queued output is dropped. */
void sx_conn_abort(struct sx_conn *c, int reason, const char *why);

/* Non-zero once close or abort was called or the peer went away. */
int sx_conn_closing(const struct sx_conn *c);

void *sx_conn_udata(const struct sx_conn *c);
void sx_conn_set_udata(struct sx_conn *c, void *udata);
/* The SSL of the connection (peer certificate, ALPN). */
SSL *sx_conn_ssl(struct sx_conn *c);
/* "address:port" of the peer (filled at start/connect), for logs. */
const char *sx_conn_peer(const struct sx_conn *c);
/* Detail of the error that ended (or is ending) the connection, or "". */
const char *sx_conn_errstr(const struct sx_conn *c);
/* Bytes of memory held for this connection outside OpenSSL's own state. */
size_t sx_conn_buffered(const struct sx_conn *c);

#endif
