/*
 * tlsctx.h: the two TLS configurations sprex allows, and member identity.
 *
 * Both sides: TLS 1.3 only, ALPN "sprex/1", peer verified against one
 * dedicated CA file (never the system store), no session cache, no tickets,
 * no early data, bounded certificate chains.
 */
#ifndef SX_TLSCTX_H
#define SX_TLSCTX_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define SX_ALPN "sprex/1"
#define SX_SPKI_LEN 32
#define SX_SPKI_HEX (SX_SPKI_LEN * 2 + 1)
/* Longest certificate chain a peer may send, in bytes and in certificates. */
#define SX_TLS_MAX_CHAIN_BYTES (32u * 1024u)
#define SX_TLS_MAX_DEPTH 4

struct sx_tls_opts {
	const char *cert;   /* PEM certificate (chain) file */
	const char *key;    /* PEM private key file */
	const char *ca;     /* PEM CA file that verifies the peer */
	const char *crl;    /* PEM CRL file, or NULL (server side only) */
};

/*
 * Builds a server context: client certificate required, verified against
 * o->ca; with o->crl the CRL is loaded and checked for the leaf (a CRL that is
 * missing, unparsable, not signed by the CA or expired makes this fail at
 * build time, and expiry after build fails each handshake). A ClientHello
 * without ALPN "sprex/1" is refused with no_application_protocol.
 * Returns 0 and *out (caller frees with SSL_CTX_free), or SX_ECONFIG / SX_ETLS
 * with a one-line reason naming the file in err.
 */
int sx_tlsctx_server(const struct sx_tls_opts *o, SSL_CTX **out, char *err, size_t errlen);

/*
 * Builds a client context presenting o->cert/o->key and verifying the server
 * against o->ca (hostname checked per connection by sx_tlse_create's host).
 * Returns as sx_tlsctx_server.
 */
int sx_tlsctx_client(const struct sx_tls_opts *o, SSL_CTX **out, char *err, size_t errlen);

/* SHA-256 of the DER SubjectPublicKeyInfo of x into out. Returns 0 or SX_ETLS. */
int sx_spki_of_cert(X509 *x, uint8_t out[SX_SPKI_LEN]);
/* The same for the first certificate in a PEM file. Returns 0, SX_EIO (file,
 * reason in err) or SX_EINVAL (not a PEM certificate). */
int sx_spki_of_pem_file(const char *path, uint8_t out[SX_SPKI_LEN], char *err, size_t errlen);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sx_hex(const uint8_t *p, size_t n, char *out);
/* Parses 2*n hex digits into out; returns 0 or SX_EINVAL. */
int sx_unhex(const char *s, uint8_t *out, size_t n);

/* Non-zero when the peer of ssl negotiated ALPN "sprex/1". */
int sx_tls_alpn_ok(SSL *ssl);
/* Returns 1 when x's serial is listed in the CRL file at path, 0 when not,
 * negative when the CRL cannot be read (callers treat that as revoked). */
int sx_tls_cert_revoked(X509 *x, const char *crl_path);

#endif
