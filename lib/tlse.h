/*
 * tlse.h: a TLS engine over memory BIOs. No sockets: ciphertext goes in with
 * sx_tlse_feed and comes out with sx_tlse_out_*, plaintext goes in with
 * sx_tlse_write and out with sx_tlse_read. The transport (conn.c, or a test
 * that joins two engines in memory) moves the ciphertext.
 *
 * Every call clears the OpenSSL error queue before it starts and drains it
 * before it returns, keeping the first error text for sx_tlse_errstr.
 */
#ifndef SX_TLSE_H
#define SX_TLSE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct sx_tlse;

enum sx_tlse_state {
	SX_TLSE_HANDSHAKE = 0,  /* handshake in progress */
	SX_TLSE_OPEN,           /* application data may flow */
	SX_TLSE_CLOSING,        /* we sent close_notify */
	SX_TLSE_CLOSED,         /* peer's close_notify received */
	SX_TLSE_FAILED,         /* fatal error; only destroy is useful */
};

/*
 * Creates an engine for one connection on ctx (reference taken). is_server
 * selects the role; for a client, host (may be NULL) is sent as SNI and
 * checked against the server certificate. Returns 0 and *out, or SX_ENOMEM /
 * SX_ETLS. Free with sx_tlse_destroy.
 */
int sx_tlse_create(SSL_CTX *ctx, int is_server, const char *host, struct sx_tlse **out);
/* Frees the engine and its SSL; NULL is fine. Sends nothing. */
void sx_tlse_destroy(struct sx_tlse *t);

/* Hands n bytes of ciphertext received from the peer to the engine. Returns 0
 * or SX_ENOMEM. Nothing is decrypted until handshake/read is called. */
int sx_tlse_feed(struct sx_tlse *t, const uint8_t *p, size_t n);

/*
 * Advances the handshake with what was fed. Returns 1 once the handshake is
 * complete (and on every later call), 0 when it needs more input (check
 * sx_tlse_out_pending: there may be bytes to send), SX_ETLS on failure (the
 * alert to send, if any, is in the output; sx_tlse_errstr says why).
 */
int sx_tlse_handshake(struct sx_tlse *t);

/*
 * Decrypts into p (up to cap bytes) and sets *got. Returns 0 with *got > 0,
 * SX_EAGAIN when no complete record is buffered, SX_ECLOSED when the peer sent
 * close_notify, SX_ETLS on a record-layer error.
 */
int sx_tlse_read(struct sx_tlse *t, uint8_t *p, size_t cap, size_t *got);

/* Encrypts all n bytes into the output (records of at most 16 KiB). Returns 0,
 * SX_ECLOSED after shutdown, SX_ETLS or SX_ENOMEM. */
int sx_tlse_write(struct sx_tlse *t, const uint8_t *p, size_t n);

/* Queues close_notify. Returns 0 (also when already sent) or SX_ETLS. */
int sx_tlse_shutdown(struct sx_tlse *t);

/*
 * Tells the engine the transport reached EOF. Returns SX_ECLOSED when the
 * peer had sent close_notify (an orderly end), SX_ETRUNC otherwise (the
 * stream was cut: a truncation attack or a crashed peer).
 */
int sx_tlse_eof(struct sx_tlse *t);

/* Ciphertext waiting to be sent. */
size_t sx_tlse_out_pending(const struct sx_tlse *t);
/* Points *p at up to all pending ciphertext (contiguous); returns its length.
 * Valid until the next call on the engine other than sx_tlse_out_consume. */
size_t sx_tlse_out_peek(struct sx_tlse *t, const uint8_t **p);
/* Drops n bytes of pending ciphertext (after they were handed to the socket). */
void sx_tlse_out_consume(struct sx_tlse *t, size_t n);

enum sx_tlse_state sx_tlse_state(const struct sx_tlse *t);
/* First OpenSSL error text of the last failed call, or "" (owned by t). */
const char *sx_tlse_errstr(const struct sx_tlse *t);
/* The underlying SSL, for peer certificate and ALPN queries (owned by t). */
SSL *sx_tlse_ssl(struct sx_tlse *t);
/* Memory held by the engine's BIO buffers, for accounting and benchmarks. */
size_t sx_tlse_buffered(const struct sx_tlse *t);
/* Lets the BIOs drop storage they no longer need (call when idle). */
void sx_tlse_trim(struct sx_tlse *t);

#endif
