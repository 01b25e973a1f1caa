/*
 * test_tlse.c: the TLS engine and contexts, two engines joined in memory.
 *
 * The throw-away PKI (testpki.h) is made once for the group: two unrelated
 * CAs, a server certificate, client certificates (one of them revoked), a
 * current CRL, an expired CRL and a CRL from the other CA.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "err.h"
#include "tlsctx.h"
#include "testpki.h"
#include "tlse.h"

/* ---- allocation accounting (OpenSSL's allocations only) ---- */

/* Enough header to keep the caller's block 16-byte aligned. */
#define HDR 16
static size_t live_bytes;

static void *count_malloc(size_t n, const char *file, int line)
{
	unsigned char *p = malloc(n + HDR);

	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof n);
	live_bytes += n;
	return p + HDR;
}

static void count_free(void *q, const char *file, int line)
{
	unsigned char *p = q;
	size_t n;

	if (p == NULL)
		return;
	p -= HDR;
	memcpy(&n, p, sizeof n);
	live_bytes -= n;
	free(p);
}

static void *count_realloc(void *q, size_t n, const char *file, int line)
{
	unsigned char *p = q, *r;
	size_t old;

	if (p == NULL)
		return count_malloc(n, file, line);
	if (n == 0) {
		count_free(q, file, line);
		return NULL;
	}
	p -= HDR;
	memcpy(&old, p, sizeof old);
	r = realloc(p, n + HDR);
	if (r == NULL)
		return NULL;
	memcpy(r, &n, sizeof n);
	live_bytes = live_bytes - old + n;
	return r + HDR;
}

/* ---- test PKI ---- */

static struct sx_testpki P;
static SSL_CTX *srv_ctx, *cli_ctx;

static SSL_CTX *server_ctx(const char *crl)
{
	SSL_CTX *ctx;

	sx_testpki_server_ctx(&P, crl, &ctx);
	return ctx;
}

static SSL_CTX *client_ctx(const char *crt, const char *key)
{
	SSL_CTX *ctx;

	sx_testpki_client_ctx(&P, crt, key, &ctx);
	return ctx;
}

static int setup(void **state)
{
	if (sx_testpki_init(&P, "tlse") != 0)
		return -1;
	srv_ctx = server_ctx(P.crl);
	cli_ctx = client_ctx(P.cli_crt, P.cli_key);
	return 0;
}

static int teardown(void **state)
{
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	return sx_testpki_finish(&P);
}

/* A client context built by hand, for setups sx_tlsctx_client refuses to make. */
static SSL_CTX *hand_client(const char *crt, const char *key, int maxver,
			    const char *alpn, size_t alpnlen)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	assert_non_null(c);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, maxver), 1);
	if (crt != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_file(c, crt, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM), 1);
	}
	assert_int_equal(SSL_CTX_load_verify_file(c, P.ca), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (alpn != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(c, (const unsigned char *)alpn,
							 (unsigned)alpnlen), 0);
	return c;
}

/* ---- two engines joined in memory ---- */

struct pair {
	struct sx_tlse *c, *s;
	int cr, sr;     /* last handshake result of each side */
};

static void pair_open(struct pair *pp, SSL_CTX *cctx, SSL_CTX *sctx, const char *host)
{
	memset(pp, 0, sizeof *pp);
	assert_int_equal(sx_tlse_create(cctx, 0, host, &pp->c), 0);
	assert_int_equal(sx_tlse_create(sctx, 1, NULL, &pp->s), 0);
	assert_int_equal(sx_tlse_state(pp->c), SX_TLSE_HANDSHAKE);
	assert_string_equal(sx_tlse_errstr(pp->c), "");
}

static void pair_close(struct pair *pp)
{
	sx_tlse_destroy(pp->c);
	sx_tlse_destroy(pp->s);
}

/* Moves all pending ciphertext of from into to, chunk bytes at a time. A
 * partial consume must leave the rest where it was (no copying). */
static size_t pump_by(struct sx_tlse *from, struct sx_tlse *to, size_t chunk)
{
	const uint8_t *p, *q = NULL;
	size_t n, moved = 0;

	while ((n = sx_tlse_out_peek(from, &p)) > 0) {
		assert_int_equal(n, sx_tlse_out_pending(from));
		if (q != NULL)
			assert_ptr_equal(p, q);
		if (n > chunk)
			n = chunk;
		assert_int_equal(sx_tlse_feed(to, p, n), 0);
		sx_tlse_out_consume(from, n);
		q = p + n;
		moved += n;
	}
	assert_int_equal(sx_tlse_out_pending(from), 0);
	return moved;
}

static size_t pump(struct sx_tlse *from, struct sx_tlse *to)
{
	return pump_by(from, to, SIZE_MAX);
}

/* Runs both handshakes until both finished or nothing moves any more. */
static void pair_handshake(struct pair *pp)
{
	int i, moved;

	for (i = 0; i < 16; i++) {
		if (pp->cr == 0)
			pp->cr = sx_tlse_handshake(pp->c);
		moved = pump(pp->c, pp->s) > 0;
		if (pp->sr == 0)
			pp->sr = sx_tlse_handshake(pp->s);
		moved |= pump(pp->s, pp->c) > 0;
		if (!moved && (pp->cr != 0 || pp->sr != 0))
			break;
	}
}

static void pair_up(struct pair *pp, const char *host)
{
	pair_open(pp, cli_ctx, srv_ctx, host);
	pair_handshake(pp);
	if (pp->cr != 1 || pp->sr != 1)
		fail_msg("handshake: client %d (%s), server %d (%s)", pp->cr,
			 sx_tlse_errstr(pp->c), pp->sr, sx_tlse_errstr(pp->s));
}

/* Reads everything to has decrypted into buf (up to cap); checks it then
 * needs more input. */
static size_t drain(struct sx_tlse *to, uint8_t *buf, size_t cap)
{
	size_t have = 0, got;
	int rc;

	while ((rc = sx_tlse_read(to, buf + have, cap - have, &got)) == 0) {
		assert_true(got > 0);
		have += got;
	}
	assert_int_equal(rc, SX_EAGAIN);
	return have;
}

static void send_recv(struct sx_tlse *from, struct sx_tlse *to, const char *msg)
{
	uint8_t buf[256];
	size_t n = strlen(msg);

	assert_int_equal(sx_tlse_write(from, (const uint8_t *)msg, n), 0);
	assert_true(sx_tlse_out_pending(from) > n);
	pump(from, to);
	assert_int_equal(drain(to, buf, sizeof buf), n);
	assert_memory_equal(buf, msg, n);
}

/* ---- tests ---- */

static void test_handshake_alpn(void **state)
{
	const unsigned char *alpn;
	unsigned int alpnlen;
	struct pair pp;

	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_state(pp.c), SX_TLSE_OPEN);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_OPEN);
	assert_int_equal(sx_tlse_handshake(pp.c), 1);   /* and on every later call */
	assert_true(sx_tls_alpn_ok(sx_tlse_ssl(pp.c)));
	assert_true(sx_tls_alpn_ok(sx_tlse_ssl(pp.s)));
	SSL_get0_alpn_selected(sx_tlse_ssl(pp.s), &alpn, &alpnlen);
	assert_int_equal(alpnlen, 7);
	assert_memory_equal(alpn, "sprex/1", 7);
	assert_int_equal(SSL_version(sx_tlse_ssl(pp.s)), TLS1_3_VERSION);
	assert_string_equal(SSL_get_servername(sx_tlse_ssl(pp.s), TLSEXT_NAMETYPE_host_name),
			    "localhost");
	send_recv(pp.c, pp.s, "hello from the member");
	send_recv(pp.s, pp.c, "welcome");
	assert_string_equal(sx_tlse_errstr(pp.c), "");
	assert_string_equal(sx_tlse_errstr(pp.s), "");
	pair_close(&pp);
}

static void test_spki(void **state)
{
	uint8_t peer[SX_SPKI_LEN], file[SX_SPKI_LEN], back[SX_SPKI_LEN];
	char hex[SX_SPKI_HEX], err[256];
	struct pair pp;

	pair_up(&pp, "localhost");
	assert_int_equal(sx_spki_of_cert(SSL_get0_peer_certificate(sx_tlse_ssl(pp.s)), peer), 0);
	assert_int_equal(sx_spki_of_pem_file(P.cli_crt, file, err, sizeof err), 0);
	assert_memory_equal(peer, file, SX_SPKI_LEN);
	assert_int_equal(sx_spki_of_cert(SSL_get0_peer_certificate(sx_tlse_ssl(pp.c)), peer), 0);
	assert_int_equal(sx_spki_of_pem_file(P.srv_crt, file, err, sizeof err), 0);
	assert_memory_equal(peer, file, SX_SPKI_LEN);
	assert_int_equal(sx_spki_of_pem_file(P.rev_crt, back, err, sizeof err), 0);
	assert_memory_not_equal(back, file, SX_SPKI_LEN);
	pair_close(&pp);

	sx_hex(file, SX_SPKI_LEN, hex);
	assert_int_equal(strlen(hex), SX_SPKI_HEX - 1);
	assert_int_equal(sx_unhex(hex, back, SX_SPKI_LEN), 0);
	assert_memory_equal(back, file, SX_SPKI_LEN);
	hex[5] = 'G';
	assert_int_equal(sx_unhex(hex, back, SX_SPKI_LEN), SX_EINVAL);
	hex[SX_SPKI_HEX - 2] = '\0';
	assert_int_equal(sx_unhex(hex, back, SX_SPKI_LEN), SX_EINVAL);
	assert_int_equal(sx_unhex("0A", back, 1), 0);
	assert_int_equal(back[0], 10);

	assert_int_equal(sx_spki_of_pem_file(P.missing, file, err, sizeof err), SX_EIO);
	assert_non_null(strstr(err, P.missing));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(sx_spki_of_pem_file(P.junk, file, err, sizeof err), SX_EINVAL);
	assert_non_null(strstr(err, "not a PEM certificate"));
}

/* Feeds ciphertext one byte at a time, advancing the handshake after each. */
static void trickle_hs(struct sx_tlse *from, struct sx_tlse *to, int *res)
{
	const uint8_t *p;

	while (sx_tlse_out_peek(from, &p) > 0) {
		assert_int_equal(sx_tlse_feed(to, p, 1), 0);
		sx_tlse_out_consume(from, 1);
		if (*res == 0)
			*res = sx_tlse_handshake(to);
		assert_true(*res >= 0);
	}
}

/* Feeds one byte at a time and reads after each; returns bytes decrypted. */
static size_t trickle_read(struct sx_tlse *from, struct sx_tlse *to, uint8_t *buf, size_t cap)
{
	const uint8_t *p;
	size_t have = 0, got;
	int rc;

	while (sx_tlse_out_peek(from, &p) > 0) {
		assert_int_equal(sx_tlse_feed(to, p, 1), 0);
		sx_tlse_out_consume(from, 1);
		rc = sx_tlse_read(to, buf + have, cap - have, &got);
		if (rc == 0)
			have += got;
		else
			assert_int_equal(rc, SX_EAGAIN);
	}
	return have;
}

static void test_one_byte(void **state)
{
	static const char up[] = "one byte at a time, up";
	static const char down[] = "and down again";
	uint8_t buf[128];
	struct pair pp;
	int i;

	pair_open(&pp, cli_ctx, srv_ctx, "localhost");
	for (i = 0; i < 8 && (pp.cr != 1 || pp.sr != 1); i++) {
		if (pp.cr == 0)
			pp.cr = sx_tlse_handshake(pp.c);
		trickle_hs(pp.c, pp.s, &pp.sr);
		trickle_hs(pp.s, pp.c, &pp.cr);
	}
	assert_int_equal(pp.cr, 1);
	assert_int_equal(pp.sr, 1);
	assert_int_equal(sx_tlse_write(pp.c, (const uint8_t *)up, sizeof up), 0);
	assert_int_equal(trickle_read(pp.c, pp.s, buf, sizeof buf), sizeof up);
	assert_memory_equal(buf, up, sizeof up);
	assert_int_equal(sx_tlse_write(pp.s, (const uint8_t *)down, sizeof down), 0);
	assert_int_equal(trickle_read(pp.s, pp.c, buf, sizeof buf), sizeof down);
	assert_memory_equal(buf, down, sizeof down);
	pair_close(&pp);
}

static void test_big_write(void **state)
{
	const size_t n = 100 * 1024;
	uint8_t *in = malloc(n), *out = malloc(n + 1);
	const uint8_t *p, *q;
	size_t i, pend, rec, off;
	struct pair pp;

	assert_non_null(in);
	assert_non_null(out);
	for (i = 0; i < n; i++)
		in[i] = (uint8_t)(i * 7 + (i >> 8));
	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_write(pp.c, in, n), 0);
	pend = sx_tlse_out_pending(pp.c);
	assert_true(pend > n);

	/* Records are at most 2^14 bytes of plaintext (+256 of overhead). */
	assert_int_equal(sx_tlse_out_peek(pp.c, &p), pend);
	for (off = 0, rec = 0; off < pend; off += 5 + rec) {
		assert_true(off + 5 <= pend);
		assert_int_equal(p[off], 23);   /* application_data */
		rec = (size_t)p[off + 3] << 8 | p[off + 4];
		assert_true(rec <= 16384 + 256);
	}
	assert_int_equal(off, pend);

	/* Partial consumption leaves the rest where it was: no copying. */
	sx_tlse_out_consume(pp.c, 1000);
	assert_int_equal(sx_tlse_out_peek(pp.c, &q), pend - 1000);
	assert_ptr_equal(q, p + 1000);
	assert_int_equal(sx_tlse_feed(pp.s, p, 1000), 0);
	/* Odd-sized chunks, so consumed bytes pile up and get dropped. */
	pump_by(pp.c, pp.s, 3001);
	assert_int_equal(drain(pp.s, out, n + 1), n);
	assert_memory_equal(in, out, n);

	/* All output went, so trim gives back both BIOs' storage. */
	assert_true(sx_tlse_buffered(pp.s) > 0);
	sx_tlse_trim(pp.c);
	sx_tlse_trim(pp.s);
	assert_int_equal(sx_tlse_buffered(pp.c), 0);
	assert_int_equal(sx_tlse_buffered(pp.s), 0);
	send_recv(pp.s, pp.c, "still fine after trim");
	send_recv(pp.c, pp.s, "both ways");
	pair_close(&pp);
	free(in);
	free(out);
}

static void test_close_notify(void **state)
{
	uint8_t buf[64];
	size_t got;
	struct pair pp;

	/* Client closes first; the server reads the close_notify. */
	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_shutdown(pp.c), 0);
	assert_int_equal(sx_tlse_state(pp.c), SX_TLSE_CLOSING);
	assert_int_equal(sx_tlse_shutdown(pp.c), 0);    /* already sent */
	assert_int_equal(sx_tlse_write(pp.c, (const uint8_t *)"x", 1), SX_ECLOSED);
	pump(pp.c, pp.s);
	assert_int_equal(sx_tlse_read(pp.s, buf, sizeof buf, &got), SX_ECLOSED);
	assert_int_equal(got, 0);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_CLOSED);
	assert_int_equal(sx_tlse_read(pp.s, buf, sizeof buf, &got), SX_ECLOSED);
	assert_int_equal(sx_tlse_eof(pp.s), SX_ECLOSED);
	/* TLS 1.3 close is half-close: the server may still send. */
	send_recv(pp.s, pp.c, "parting words");
	assert_int_equal(sx_tlse_shutdown(pp.s), 0);
	pump(pp.s, pp.c);
	assert_int_equal(sx_tlse_read(pp.c, buf, sizeof buf, &got), SX_ECLOSED);
	assert_int_equal(sx_tlse_state(pp.c), SX_TLSE_CLOSED);
	assert_int_equal(sx_tlse_eof(pp.c), SX_ECLOSED);
	pair_close(&pp);

	/* Server closes first; the client hits EOF before reading it. */
	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_shutdown(pp.s), 0);
	pump(pp.s, pp.c);
	assert_int_equal(sx_tlse_eof(pp.c), SX_ECLOSED);
	assert_int_equal(sx_tlse_state(pp.c), SX_TLSE_CLOSED);
	pair_close(&pp);
}

static void test_truncation(void **state)
{
	uint8_t buf[64];
	const uint8_t *p;
	size_t n;
	struct pair pp;

	/* Cut between records. */
	pair_up(&pp, "localhost");
	send_recv(pp.c, pp.s, "last words");
	assert_int_equal(sx_tlse_eof(pp.s), SX_ETRUNC);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_FAILED);
	assert_true(strlen(sx_tlse_errstr(pp.s)) > 0);
	pair_close(&pp);

	/* Cut inside a record. */
	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_write(pp.s, (const uint8_t *)"half a record", 13), 0);
	n = sx_tlse_out_peek(pp.s, &p);
	assert_int_equal(sx_tlse_feed(pp.c, p, n / 2), 0);
	assert_int_equal(sx_tlse_read(pp.c, buf, sizeof buf, &n), SX_EAGAIN);
	assert_int_equal(sx_tlse_eof(pp.c), SX_ETRUNC);
	pair_close(&pp);

	/* Cut during the handshake. */
	pair_open(&pp, cli_ctx, srv_ctx, "localhost");
	assert_int_equal(sx_tlse_handshake(pp.c), 0);
	pump(pp.c, pp.s);
	assert_int_equal(sx_tlse_eof(pp.s), SX_ETRUNC);
	pair_close(&pp);
}

/* The server must refuse: its handshake fails, saying why containing want;
 * the client learns it from the alert. */
static void expect_refused(SSL_CTX *cctx, const char *what, const char *want)
{
	uint8_t buf[16];
	size_t got;
	struct pair pp;

	pair_open(&pp, cctx, srv_ctx, "localhost");
	pair_handshake(&pp);
	print_message("    %-22s server: %s\n", what, sx_tlse_errstr(pp.s));
	assert_int_equal(pp.sr, SX_ETLS);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_FAILED);
	assert_non_null(strstr(sx_tlse_errstr(pp.s), want));
	assert_int_equal(sx_tlse_handshake(pp.s), SX_ETLS);
	assert_int_equal(sx_tlse_read(pp.s, buf, sizeof buf, &got), SX_ETLS);
	if (pp.cr == 1)   /* TLS 1.3: the client finished before the verdict */
		assert_int_equal(sx_tlse_read(pp.c, buf, sizeof buf, &got), SX_ETLS);
	else
		assert_int_equal(pp.cr, SX_ETLS);
	assert_true(strlen(sx_tlse_errstr(pp.c)) > 0);
	print_message("    %-22s client: %s\n", "", sx_tlse_errstr(pp.c));
	pair_close(&pp);
}

static void test_refusals(void **state)
{
	SSL_CTX *c;

	c = hand_client(NULL, NULL, TLS1_3_VERSION, "\x07sprex/1", 8);
	expect_refused(c, "no client cert", "peer did not return a certificate");
	SSL_CTX_free(c);

	c = client_ctx(P.oth_crt, P.oth_key);
	expect_refused(c, "cert from other CA", "unable to get local issuer certificate");
	SSL_CTX_free(c);

	c = client_ctx(P.rev_crt, P.rev_key);
	expect_refused(c, "revoked cert", "certificate revoked");
	SSL_CTX_free(c);

	c = hand_client(P.cli_crt, P.cli_key, TLS1_2_VERSION, "\x07sprex/1", 8);
	expect_refused(c, "TLS 1.2 only", "unsupported protocol");
	SSL_CTX_free(c);

	c = hand_client(P.cli_crt, P.cli_key, TLS1_3_VERSION, NULL, 0);
	expect_refused(c, "no ALPN", "no application protocol");
	SSL_CTX_free(c);

	c = hand_client(P.cli_crt, P.cli_key, TLS1_3_VERSION, "\x08http/1.1", 9);
	expect_refused(c, "ALPN http/1.1", "no application protocol");
	SSL_CTX_free(c);
}

static void test_expired_crl_at_handshake(void **state)
{
	/* A server built with a good CRL whose CRL then expires must fail
	 * handshakes: model it with a store whose CRL is already stale. */
	SSL_CTX *s = server_ctx(NULL);
	X509_STORE *st = SSL_CTX_get_cert_store(s);
	X509_CRL *crl;
	FILE *f = fopen(P.crl_old, "r");
	struct pair pp;

	assert_non_null(f);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(crl);
	assert_int_equal(X509_STORE_add_crl(st, crl), 1);
	assert_int_equal(X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK), 1);
	X509_CRL_free(crl);
	pair_open(&pp, cli_ctx, s, "localhost");
	pair_handshake(&pp);
	assert_int_equal(pp.sr, SX_ETLS);
	assert_non_null(strstr(sx_tlse_errstr(pp.s), "CRL has expired"));
	pair_close(&pp);
	SSL_CTX_free(s);
}

static void expect_ctx_fail(const struct sx_tls_opts *o, int server, int code,
			    const char *s1, const char *s2)
{
	char err[256] = "";
	SSL_CTX *ctx = NULL;
	int rc = server ? sx_tlsctx_server(o, &ctx, err, sizeof err)
			: sx_tlsctx_client(o, &ctx, err, sizeof err);

	print_message("    %s\n", err);
	assert_int_equal(rc, code);
	assert_null(ctx);
	assert_non_null(strstr(err, s1));
	if (s2 != NULL)
		assert_non_null(strstr(err, s2));
	assert_null(strchr(err, '\n'));
}

static void test_ctx_errors(void **state)
{
	struct sx_tls_opts o;

	o = (struct sx_tls_opts){ P.missing, P.srv_key, P.ca, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_cert", "cannot read: No such file or directory");
	assert_true(strstr(P.missing, "missing.pem") != NULL);
	o = (struct sx_tls_opts){ P.junk, P.srv_key, P.ca, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.junk, "no PEM certificate");
	o = (struct sx_tls_opts){ P.srv_crt, P.cli_key, P.ca, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "does not match", P.cli_key);
	o = (struct sx_tls_opts){ P.srv_crt, P.junk, P.ca, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_key", "private key");
	/* An encrypted key is refused, never prompted for. */
	o = (struct sx_tls_opts){ P.srv_crt, P.enc_key, P.ca, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.enc_key, "no unencrypted PEM private key");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.missing, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_ca", P.missing);
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.junk, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_ca", "no PEM certificate");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, NULL, P.crl };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_ca is not set", NULL);
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.missing };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_crl", "cannot read");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.crl_old };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.crl_old, "expired");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.crl_oth };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.crl_oth, "not signed by a CA");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.junk };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_crl", "no PEM CRL");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.crl_future };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.crl_future, "not yet valid");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, P.crl_nonext };
	expect_ctx_fail(&o, 1, SX_ECONFIG, P.crl_nonext, "no nextUpdate");
	o = (struct sx_tls_opts){ P.srv_crt, P.srv_key, P.ca, "" };
	expect_ctx_fail(&o, 1, SX_ECONFIG, "tls_crl is empty", NULL);
	o = (struct sx_tls_opts){ P.cli_crt, P.srv_key, P.ca, NULL };
	expect_ctx_fail(&o, 0, SX_ECONFIG, "does not match", P.cli_crt);
}

static void test_chain_file(void **state)
{
	struct sx_tls_opts o = { P.chain, P.srv_key, P.ca, P.crl };
	char err[256];
	SSL_CTX *s = NULL;
	STACK_OF(X509) *chain = NULL;
	struct pair pp;

	assert_int_equal(sx_tlsctx_server(&o, &s, err, sizeof err), 0);
	assert_int_equal(SSL_CTX_get0_chain_certs(s, &chain), 1);
	assert_int_equal(sk_X509_num(chain), 1);
	pair_open(&pp, cli_ctx, s, "localhost");
	pair_handshake(&pp);
	assert_int_equal(pp.cr, 1);
	assert_int_equal(pp.sr, 1);
	pair_close(&pp);
	SSL_CTX_free(s);
}

/* A server that ignores ALPN is refused by the client engine. */
static void test_client_requires_alpn(void **state)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	struct pair pp;

	assert_non_null(s);
	assert_int_equal(SSL_CTX_use_certificate_file(s, P.srv_crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(s, P.srv_key, SSL_FILETYPE_PEM), 1);
	pair_open(&pp, cli_ctx, s, "localhost");
	pair_handshake(&pp);
	assert_int_equal(pp.cr, SX_ETLS);
	assert_int_equal(sx_tlse_state(pp.c), SX_TLSE_FAILED);
	assert_non_null(strstr(sx_tlse_errstr(pp.c), "ALPN"));
	pair_close(&pp);
	SSL_CTX_free(s);
}

static void test_host_check(void **state)
{
	static const char *const good[] = { "localhost", "127.0.0.1", "::1", NULL };
	struct pair pp;
	int i;

	for (i = 0; good[i] != NULL; i++) {
		pair_up(&pp, good[i]);
		/* SNI carries names only, never addresses. */
		if (i > 0)
			assert_null(SSL_get_servername(sx_tlse_ssl(pp.s),
						       TLSEXT_NAMETYPE_host_name));
		pair_close(&pp);
	}
	pair_up(&pp, NULL);     /* no name to check: the CA alone decides */
	pair_close(&pp);

	pair_open(&pp, cli_ctx, srv_ctx, "wrong.example");
	pair_handshake(&pp);
	print_message("    client: %s\n", sx_tlse_errstr(pp.c));
	assert_int_equal(pp.cr, SX_ETLS);
	assert_non_null(strstr(sx_tlse_errstr(pp.c), "hostname mismatch"));
	assert_int_equal(pp.sr, SX_ETLS);       /* it got the alert */
	pair_close(&pp);

	pair_open(&pp, cli_ctx, srv_ctx, "127.0.0.2");
	pair_handshake(&pp);
	assert_int_equal(pp.cr, SX_ETLS);
	assert_non_null(strstr(sx_tlse_errstr(pp.c), "IP address mismatch"));
	pair_close(&pp);
}

static void count_tickets(int write_p, int version, int type, const void *buf, size_t len,
			  SSL *ssl, void *arg)
{
	if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_NEWSESSION_TICKET)
		(*(int *)arg)++;
}

static int pick_first(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		      const unsigned char *in, unsigned int inlen, void *arg)
{
	*out = in + 1;
	*outlen = in[0];
	return SSL_TLSEXT_ERR_OK;
}

/* Handshakes, exchanges data and returns how many tickets the client got. */
static int tickets_from(SSL_CTX *sctx, int *resumable)
{
	struct pair pp;
	int n = 0;

	pair_open(&pp, cli_ctx, sctx, "localhost");
	SSL_set_msg_callback(sx_tlse_ssl(pp.c), count_tickets);
	SSL_set_msg_callback_arg(sx_tlse_ssl(pp.c), &n);
	pair_handshake(&pp);
	assert_int_equal(pp.cr, 1);
	assert_int_equal(pp.sr, 1);
	send_recv(pp.s, pp.c, "after the handshake");
	send_recv(pp.c, pp.s, "ack");
	*resumable = SSL_SESSION_is_resumable(SSL_get_session(sx_tlse_ssl(pp.c)));
	assert_int_equal(SSL_session_reused(sx_tlse_ssl(pp.c)), 0);
	pair_close(&pp);
	return n;
}

static void test_no_tickets(void **state)
{
	SSL_CTX *plain = SSL_CTX_new(TLS_server_method());
	int resumable;

	assert_int_equal(tickets_from(srv_ctx, &resumable), 0);
	assert_false(resumable);

	/* The counter works: a stock server hands out its default two. */
	assert_non_null(plain);
	assert_int_equal(SSL_CTX_use_certificate_file(plain, P.srv_crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(plain, P.srv_key, SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_alpn_select_cb(plain, pick_first, NULL);
	assert_int_equal(tickets_from(plain, &resumable), 2);
	assert_true(resumable);
	SSL_CTX_free(plain);
}

static void test_cert_revoked(void **state)
{
	FILE *f;
	X509 *rev, *ok;

	f = fopen(P.rev_crt, "r");
	assert_non_null(f);
	rev = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(P.cli_crt, "r");
	assert_non_null(f);
	ok = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(rev);
	assert_non_null(ok);
	assert_int_equal(sx_tls_cert_revoked(rev, P.crl), 1);
	assert_int_equal(sx_tls_cert_revoked(ok, P.crl), 0);
	assert_true(sx_tls_cert_revoked(ok, P.missing) < 0);
	assert_true(sx_tls_cert_revoked(ok, P.junk) < 0);
	X509_free(rev);
	X509_free(ok);
}

static void test_misuse(void **state)
{
	uint8_t buf[8];
	size_t got;
	struct pair pp;

	sx_tlse_destroy(NULL);
	pair_open(&pp, cli_ctx, srv_ctx, "localhost");
	/* Before the handshake: nothing to read, nothing can be written. */
	assert_int_equal(sx_tlse_read(pp.s, buf, sizeof buf, &got), SX_EAGAIN);
	assert_int_equal(sx_tlse_write(pp.s, buf, 1), SX_EAGAIN);
	assert_int_equal(sx_tlse_shutdown(pp.s), SX_ETLS);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_HANDSHAKE);
	/* Garbage instead of a ClientHello. */
	assert_int_equal(sx_tlse_feed(pp.s, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18), 0);
	assert_int_equal(sx_tlse_handshake(pp.s), SX_ETLS);
	assert_true(strlen(sx_tlse_errstr(pp.s)) > 0);
	pair_close(&pp);

	/* A flipped ciphertext bit is a record-layer error. */
	pair_up(&pp, "localhost");
	assert_int_equal(sx_tlse_write(pp.c, (const uint8_t *)"integrity", 9), 0);
	{
		const uint8_t *p;
		size_t n = sx_tlse_out_peek(pp.c, &p);
		uint8_t copy[64];

		assert_true(n <= sizeof copy);
		memcpy(copy, p, n);
		copy[n - 1] ^= 1;
		assert_int_equal(sx_tlse_feed(pp.s, copy, n), 0);
		sx_tlse_out_consume(pp.c, n);
	}
	assert_int_equal(sx_tlse_read(pp.s, buf, sizeof buf, &got), SX_ETLS);
	assert_int_equal(sx_tlse_state(pp.s), SX_TLSE_FAILED);
	print_message("    bad record: %s\n", sx_tlse_errstr(pp.s));
	assert_true(strlen(sx_tlse_errstr(pp.s)) > 0);
	pair_close(&pp);
}

/* Idle memory of an authenticated connection after trim, both sides. */
static void test_idle_memory(void **state)
{
	size_t base, both, after_client;
	struct pair pp;

	pair_up(&pp, "localhost");      /* warms up one-time caches */
	pair_close(&pp);

	base = live_bytes;
	pair_up(&pp, "localhost");
	send_recv(pp.c, pp.s, "hello");
	send_recv(pp.s, pp.c, "welcome");
	print_message("    BIO storage before trim: client %zu, server %zu\n",
		      sx_tlse_buffered(pp.c), sx_tlse_buffered(pp.s));
	sx_tlse_trim(pp.c);
	sx_tlse_trim(pp.s);
	assert_int_equal(sx_tlse_buffered(pp.c), 0);
	assert_int_equal(sx_tlse_buffered(pp.s), 0);
	both = live_bytes - base;
	sx_tlse_destroy(pp.c);
	after_client = live_bytes - base;
	print_message("    OpenSSL heap held after trim: server engine %zu bytes, "
		      "client engine %zu bytes (plus the engine struct each)\n",
		      after_client, both - after_client);
	/* Budget is 64 KiB per connection with libuv and the session;
	 * the TLS part must stay well inside it. */
	assert_true(after_client < 32 * 1024);
	sx_tlse_destroy(pp.s);
	assert_int_equal(live_bytes, base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_alpn),
		cmocka_unit_test(test_spki),
		cmocka_unit_test(test_one_byte),
		cmocka_unit_test(test_big_write),
		cmocka_unit_test(test_close_notify),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_expired_crl_at_handshake),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_chain_file),
		cmocka_unit_test(test_client_requires_alpn),
		cmocka_unit_test(test_host_check),
		cmocka_unit_test(test_no_tickets),
		cmocka_unit_test(test_cert_revoked),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_idle_memory),
	};

	/* Must precede OpenSSL's first allocation. */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
