/*
 * tlsctx.c: the server and client TLS contexts, and SPKI identities.
 *
 * Files are opened with fopen rather than OpenSSL's file helpers so that a
 * missing or unreadable file is reported with errno's text; every message
 * names the configuration key and the path, on one line.
 */
#include "tlsctx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"

/* ALPN wire form: one length-prefixed protocol name. */
static const unsigned char alpn_wire[] = "\x07" SX_ALPN;
_Static_assert(sizeof SX_ALPN - 1 == 7, "alpn_wire length prefix");

__attribute__((format(printf, 4, 5)))
static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return code;
}

/* OpenSSL's reason for the first queued error, for messages. */
static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_error());

	return r != NULL ? r : "unknown OpenSSL error";
}

/* Never prompt for a passphrase: a daemon has no terminal. */
static int no_pass(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* True when the last PEM read failed only because the file ended. */
static int pem_at_end(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static BIO *open_pem(const char *key, const char *path, char *err, size_t errlen)
{
	FILE *f;
	BIO *b;

	if (path == NULL || *path == '\0') {
		errf(err, errlen, 0, "%s is %s", key, path == NULL ? "not set" : "empty");
		return NULL;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		errf(err, errlen, 0, "%s %s: cannot read: %s", key, path, strerror(errno));
		return NULL;
	}
	b = BIO_new_fp(f, BIO_CLOSE);
	if (b == NULL) {
		fclose(f);
		errf(err, errlen, 0, "%s %s: out of memory", key, path);
	}
	return b;
}

static void fmt_time(const ASN1_TIME *a, char *buf, size_t n)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1 ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "(unreadable time)");
}

/* The leaf, then any chain certificates that follow it in the file. */
static int use_cert(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	BIO *b = open_pem("tls_cert", path, err, errlen);
	X509 *x;
	int rc = 0;

	if (b == NULL)
		return SX_ECONFIG;
	x = PEM_read_bio_X509_AUX(b, NULL, no_pass, NULL);
	if (x == NULL) {
		rc = errf(err, errlen, SX_ECONFIG, "tls_cert %s: no PEM certificate", path);
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		rc = errf(err, errlen, SX_ECONFIG, "tls_cert %s: rejected: %s", path,
			  ossl_reason());
		goto out;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(b, NULL, no_pass, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			rc = errf(err, errlen, SX_ECONFIG, "tls_cert %s: chain rejected: %s",
				  path, ossl_reason());
			goto out;
		}
	}
	if (!pem_at_end())
		rc = errf(err, errlen, SX_ECONFIG, "tls_cert %s: bad certificate in chain: %s",
			  path, ossl_reason());
	x = NULL;
out:
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

static int use_key(SSL_CTX *ctx, const struct sx_tls_opts *o, char *err, size_t errlen)
{
	BIO *b = open_pem("tls_key", o->key, err, errlen);
	EVP_PKEY *k;
	int rc = 0;

	if (b == NULL)
		return SX_ECONFIG;
	k = PEM_read_bio_PrivateKey(b, NULL, no_pass, NULL);
	BIO_free(b);
	if (k == NULL)
		return errf(err, errlen, SX_ECONFIG,
			    "tls_key %s: no unencrypted PEM private key", o->key);
	/* Checked before SSL_CTX_use_PrivateKey, whose own mismatch error
	 * would not say which files are involved. */
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), k) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		rc = errf(err, errlen, SX_ECONFIG, "tls_key %s does not match tls_cert %s",
			  o->key, o->cert);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

static int load_ca(const char *path, STACK_OF(X509) **out, char *err, size_t errlen)
{
	BIO *b = open_pem("tls_ca", path, err, errlen);
	STACK_OF(X509) *sk;
	X509 *x;
	int rc = 0;

	*out = NULL;
	if (b == NULL)
		return SX_ECONFIG;
	sk = sk_X509_new_null();
	if (sk == NULL) {
		BIO_free(b);
		return errf(err, errlen, SX_ETLS, "tls_ca %s: out of memory", path);
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_pass, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			rc = errf(err, errlen, SX_ETLS, "tls_ca %s: out of memory", path);
			goto out;
		}
	}
	if (!pem_at_end())
		rc = errf(err, errlen, SX_ECONFIG, "tls_ca %s: bad certificate: %s", path,
			  ossl_reason());
	else if (sk_X509_num(sk) == 0)
		rc = errf(err, errlen, SX_ECONFIG, "tls_ca %s: no PEM certificate", path);
out:
	BIO_free(b);
	ERR_clear_error();
	if (rc != 0)
		sk_X509_pop_free(sk, X509_free);
	else
		*out = sk;
	return rc;
}

/*
 * The CRL must come from one of the CAs and be current now; a CRL without
 * nextUpdate is refused because it could never expire, and expiry is what
 * makes a stale CRL fail handshakes later.
 */
static int add_crl(X509_STORE *st, STACK_OF(X509) *cas, const struct sx_tls_opts *o,
		   char *err, size_t errlen)
{
	BIO *b = open_pem("tls_crl", o->crl, err, errlen);
	const ASN1_TIME *last, *next;
	char when[32];
	X509_CRL *crl;
	X509 *ca;
	int i, signed_ok = 0, rc = 0;

	if (b == NULL)
		return SX_ECONFIG;
	crl = PEM_read_bio_X509_CRL(b, NULL, no_pass, NULL);
	BIO_free(b);
	if (crl == NULL)
		return errf(err, errlen, SX_ECONFIG, "tls_crl %s: no PEM CRL", o->crl);
	for (i = 0; i < sk_X509_num(cas) && !signed_ok; i++) {
		ca = sk_X509_value(cas, i);
		signed_ok = X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0
			    && X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
	}
	last = X509_CRL_get0_lastUpdate(crl);
	next = X509_CRL_get0_nextUpdate(crl);
	if (!signed_ok) {
		rc = errf(err, errlen, SX_ECONFIG, "tls_crl %s: not signed by a CA in tls_ca %s",
			  o->crl, o->ca);
	} else if (next == NULL) {
		rc = errf(err, errlen, SX_ECONFIG, "tls_crl %s: has no nextUpdate", o->crl);
	} else if (X509_cmp_current_time(next) != 1) {
		fmt_time(next, when, sizeof when);
		rc = errf(err, errlen, SX_ECONFIG, "tls_crl %s: expired (nextUpdate %s)",
			  o->crl, when);
	} else if (last == NULL || X509_cmp_current_time(last) != -1) {
		fmt_time(last, when, sizeof when);
		rc = errf(err, errlen, SX_ECONFIG, "tls_crl %s: not yet valid (lastUpdate %s)",
			  o->crl, when);
	} else if (X509_STORE_add_crl(st, crl) != 1 ||
		   X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) != 1) {
		rc = errf(err, errlen, SX_ETLS, "tls_crl %s: %s", o->crl, ossl_reason());
	}
	X509_CRL_free(crl);
	ERR_clear_error();
	return rc;
}

/* A fresh store holding only tls_ca (and the CRL): never default paths. */
static int set_store(SSL_CTX *ctx, const struct sx_tls_opts *o, int server,
		     char *err, size_t errlen)
{
	STACK_OF(X509) *cas;
	X509_STORE *st;
	int i, rc;

	rc = load_ca(o->ca, &cas, err, errlen);
	if (rc != 0)
		return rc;
	st = X509_STORE_new();
	if (st == NULL) {
		rc = errf(err, errlen, SX_ETLS, "tls_ca %s: out of memory", o->ca);
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		if (X509_STORE_add_cert(st, sk_X509_value(cas, i)) != 1) {
			rc = errf(err, errlen, SX_ETLS, "tls_ca %s: %s", o->ca, ossl_reason());
			goto out;
		}
	}
	if (server && o->crl != NULL && (rc = add_crl(st, cas, o, err, errlen)) != 0)
		goto out;
	SSL_CTX_set_cert_store(ctx, st);
	st = NULL;
out:
	X509_STORE_free(st);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

/* Accepts exactly "sprex/1"; anything else gets no_application_protocol. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int i = 0, n;

	while (i < inlen) {
		n = in[i];
		if (n > inlen - i - 1)
			break;
		if (n == alpn_wire[0] && memcmp(in + i + 1, alpn_wire + 1, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += n + 1;
	}
	ERR_raise_data(ERR_LIB_SSL, SSL_R_NO_APPLICATION_PROTOCOL,
		       "client did not offer " SX_ALPN);
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* The ALPN select callback is skipped when the ClientHello has no ALPN at
 * all, so that case is refused here. */
static int client_hello(SSL *ssl, int *al, void *arg)
{
	const unsigned char *ext;
	size_t len;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
				      &ext, &len) == 1)
		return SSL_CLIENT_HELLO_SUCCESS;
	ERR_raise_data(ERR_LIB_SSL, SSL_R_NO_APPLICATION_PROTOCOL, "client sent no ALPN");
	*al = SSL_AD_NO_APPLICATION_PROTOCOL;
	return SSL_CLIENT_HELLO_ERROR;
}

static int build(const struct sx_tls_opts *o, int server, SSL_CTX **out,
		 char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL)
		return errf(err, errlen, SX_ETLS, "cannot create TLS context: %s", ossl_reason());
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		rc = errf(err, errlen, SX_ETLS, "cannot require TLS 1.3: %s", ossl_reason());
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	/* Send exactly the chain in the certificate file. Without NO_AUTO_CHAIN
	 * OpenSSL rebuilds (and verifies) our own chain in every handshake and
	 * sends the root along: a quarter of the handshake's CPU for nothing. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_max_cert_list(ctx, SX_TLS_MAX_CHAIN_BYTES);
	SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				       : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, SX_TLS_MAX_DEPTH);
	if ((rc = use_cert(ctx, o->cert, err, errlen)) != 0 ||
	    (rc = use_key(ctx, o, err, errlen)) != 0 ||
	    (rc = set_store(ctx, o, server, err, errlen)) != 0)
		goto out;
	if (server) {
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
		SSL_CTX_set_client_hello_cb(ctx, client_hello, NULL);
	} else if (SSL_CTX_set_alpn_protos(ctx, alpn_wire, sizeof alpn_wire - 1) != 0) {
		/* set_alpn_protos returns 0 on success */
		rc = errf(err, errlen, SX_ETLS, "cannot set ALPN: %s", ossl_reason());
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int sx_tlsctx_server(const struct sx_tls_opts *o, SSL_CTX **out, char *err, size_t errlen)
{
	return build(o, 1, out, err, errlen);
}

int sx_tlsctx_client(const struct sx_tls_opts *o, SSL_CTX **out, char *err, size_t errlen)
{
	return build(o, 0, out, err, errlen);
}

int sx_spki_of_cert(X509 *x, uint8_t out[SX_SPKI_LEN])
{
	unsigned char *der = NULL;
	unsigned int mdlen = 0;
	int n, ok;

	if (x == NULL)
		return SX_ETLS;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (n <= 0) {
		ERR_clear_error();
		return SX_ETLS;
	}
	ok = EVP_Digest(der, (size_t)n, out, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok == 1 && mdlen == SX_SPKI_LEN ? 0 : SX_ETLS;
}

int sx_spki_of_pem_file(const char *path, uint8_t out[SX_SPKI_LEN], char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	X509 *x;
	int rc;

	if (f == NULL)
		return errf(err, errlen, SX_EIO, "%s: cannot read: %s", path, strerror(errno));
	x = PEM_read_X509(f, NULL, no_pass, NULL);
	fclose(f);
	if (x == NULL)
		return errf(err, errlen, SX_EINVAL, "%s: not a PEM certificate", path);
	rc = sx_spki_of_cert(x, out);
	X509_free(x);
	if (rc != 0)
		return errf(err, errlen, rc, "%s: cannot hash the public key", path);
	return 0;
}

void sx_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sx_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (s == NULL || strlen(s) != 2 * n)
		return SX_EINVAL;
	for (i = 0; i < n; i++) {
		hi = hexval(s[2 * i]);
		lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SX_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int sx_tls_alpn_ok(SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return p != NULL && n == sizeof SX_ALPN - 1 && memcmp(p, SX_ALPN, n) == 0;
}

int sx_tls_cert_revoked(X509 *x, const char *crl_path)
{
	X509_REVOKED *rev = NULL;
	X509_CRL *crl;
	FILE *f;
	int r;

	if (x == NULL || crl_path == NULL)
		return SX_EINVAL;
	f = fopen(crl_path, "re");
	if (f == NULL)
		return SX_EIO;
	crl = PEM_read_X509_CRL(f, NULL, no_pass, NULL);
	fclose(f);
	if (crl == NULL) {
		ERR_clear_error();
		return SX_EINVAL;
	}
	/* 2 means listed as removeFromCRL (a delta CRL lifting a hold). */
	r = X509_CRL_get0_by_cert(crl, &rev, x);
	X509_CRL_free(crl);
	ERR_clear_error();
	return r == 1;
}
