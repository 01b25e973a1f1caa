/*
 * tlse.c: a TLS engine over two memory BIOs.
 *
 * Output is handed out in place: sx_tlse_out_peek points into the write BIO's
 * own storage (BIO_get_mem_data), past the t->wofs bytes the transport has
 * already consumed, so ciphertext is never copied on its way out. When all of
 * it is consumed the BIO is reset. A transport that keeps consuming only part
 * of it would let consumed bytes pile up in front, so once they exceed
 * TLSE_COMPACT and the bytes still pending, they are dropped with BIO_read
 * into a scratch area (amortised O(1) per byte; the mem BIO only advances its
 * read pointer, so a peeked pointer to the pending bytes stays valid).
 *
 * Idle memory: SSL_MODE_RELEASE_BUFFERS frees the record buffers between
 * records, and sx_tlse_trim swaps an empty BIO for a fresh one, since neither
 * BIO_reset nor reading a mem BIO dry gives its storage back.
 */
#include "tlse.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "tlsctx.h"

#define TLSE_ERRLEN 256
/* Consumed output allowed in front of the write BIO before it is dropped. */
#define TLSE_COMPACT (16u * 1024u)

struct sx_tlse {
	SSL *ssl;
	BIO *rbio;      /* ciphertext from the peer; owned by ssl */
	BIO *wbio;      /* ciphertext for the peer; owned by ssl */
	size_t wofs;    /* bytes at the front of wbio already consumed */
	enum sx_tlse_state state;
	int is_server;
	char err[TLSE_ERRLEN];
};

/*
 * Keeps the first queued error (the cause, not its consequences) and, when
 * certificate verification failed, the verdict, then empties the queue.
 */
static void take_error(struct sx_tlse *t, int sslerr, const char *what)
{
	const char *data = NULL;
	int flags = 0;
	unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
	long vr = SSL_get_verify_result(t->ssl);
	size_t n;

	if (e != 0) {
		ERR_error_string_n(e, t->err, sizeof t->err);
		n = strlen(t->err);
		if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0')
			snprintf(t->err + n, sizeof t->err - n, " (%s)", data);
	} else {
		snprintf(t->err, sizeof t->err, "%s failed (SSL error %d)", what, sslerr);
	}
	if (t->state == SX_TLSE_HANDSHAKE && vr != X509_V_OK) {
		n = strlen(t->err);
		snprintf(t->err + n, sizeof t->err - n, "; verify: %s",
			 X509_verify_cert_error_string(vr));
	}
	ERR_clear_error();
}

static int fail(struct sx_tlse *t, int sslerr, const char *what)
{
	take_error(t, sslerr, what);
	t->state = SX_TLSE_FAILED;
	return SX_ETLS;
}

static BIO *new_mem_bio(void)
{
	BIO *b = BIO_new(BIO_s_mem());

	/* Empty means "wait for more" (retry), never end of stream. */
	if (b != NULL)
		BIO_set_mem_eof_return(b, -1);
	return b;
}

/* Bytes of storage a mem BIO holds, used or not. */
static size_t bio_storage(BIO *b)
{
	BUF_MEM *m = NULL;

	BIO_get_mem_ptr(b, &m);
	return m != NULL ? m->max : 0;
}

/* SNI and name check for a DNS name; an address is checked, not sent. */
static int set_host(SSL *ssl, const char *host)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
		return -1;
	return 0;
}

int sx_tlse_create(SSL_CTX *ctx, int is_server, const char *host, struct sx_tlse **out)
{
	struct sx_tlse *t;
	int rc = SX_ENOMEM;

	*out = NULL;
	if (ctx == NULL)
		return SX_ETLS;
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return SX_ENOMEM;
	ERR_clear_error();
	t->is_server = is_server;
	t->ssl = SSL_new(ctx);
	t->rbio = new_mem_bio();
	t->wbio = new_mem_bio();
	if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
	if (is_server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (host != NULL && *host != '\0' && set_host(t->ssl, host) != 0) {
			rc = SX_ETLS;
			goto fail;
		}
	}
	ERR_clear_error();
	*out = t;
	return 0;
fail:
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
	return rc;
}

void sx_tlse_destroy(struct sx_tlse *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

int sx_tlse_feed(struct sx_tlse *t, const uint8_t *p, size_t n)
{
	ERR_clear_error();
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		int w = BIO_write(t->rbio, p, chunk);

		if (w <= 0) {
			take_error(t, 0, "buffering input");
			return SX_ENOMEM;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int sx_tlse_handshake(struct sx_tlse *t)
{
	int r;

	if (t->state == SX_TLSE_FAILED)
		return SX_ETLS;
	if (t->state != SX_TLSE_HANDSHAKE)
		return 1;
	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		ERR_clear_error();
		/* The server refuses a client without ALPN; a client must
		 * equally refuse a server that ignored it. */
		if (!t->is_server && !sx_tls_alpn_ok(t->ssl)) {
			snprintf(t->err, sizeof t->err,
				 "server did not select ALPN " SX_ALPN);
			t->state = SX_TLSE_FAILED;
			return SX_ETLS;
		}
		t->state = SX_TLSE_OPEN;
		return 1;
	}
	r = SSL_get_error(t->ssl, r);
	if (r == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return 0;
	}
	return fail(t, r, "handshake");
}

int sx_tlse_read(struct sx_tlse *t, uint8_t *p, size_t cap, size_t *got)
{
	int r;

	*got = 0;
	if (t->state == SX_TLSE_FAILED)
		return SX_ETLS;
	if (t->state == SX_TLSE_CLOSED)
		return SX_ECLOSED;
	if (t->state == SX_TLSE_HANDSHAKE) {
		r = sx_tlse_handshake(t);
		if (r <= 0)
			return r == 0 ? SX_EAGAIN : r;
	}
	if (cap == 0)
		return SX_EINVAL;
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, p, cap, got) == 1)
		return 0;
	r = SSL_get_error(t->ssl, 0);
	if (r == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return SX_EAGAIN;
	}
	if (r == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		t->state = SX_TLSE_CLOSED;
		return SX_ECLOSED;
	}
	return fail(t, r, "read");
}

int sx_tlse_write(struct sx_tlse *t, const uint8_t *p, size_t n)
{
	size_t w;
	int r;

	if (t->state == SX_TLSE_FAILED)
		return SX_ETLS;
	if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)
		return SX_ECLOSED;
	if (t->state == SX_TLSE_HANDSHAKE) {
		r = sx_tlse_handshake(t);
		if (r <= 0)
			return r == 0 ? SX_EAGAIN : r;
	}
	ERR_clear_error();
	while (n > 0) {
		/* A mem BIO never refuses bytes, so this only fails on a
		 * broken connection or an allocation failure. */
		if (SSL_write_ex(t->ssl, p, n, &w) != 1)
			return fail(t, SSL_get_error(t->ssl, 0), "write");
		p += w;
		n -= w;
	}
	return 0;
}

int sx_tlse_shutdown(struct sx_tlse *t)
{
	if (t->state == SX_TLSE_FAILED)
		return SX_ETLS;
	if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)
		return 0;
	if (t->state == SX_TLSE_HANDSHAKE) {
		/* OpenSSL cannot send close_notify mid-handshake; the
		 * transport just closes. The engine stays usable. */
		snprintf(t->err, sizeof t->err, "shutdown before the handshake completed");
		return SX_ETLS;
	}
	ERR_clear_error();
	if (SSL_shutdown(t->ssl) < 0)
		return fail(t, SSL_get_error(t->ssl, -1), "shutdown");
	ERR_clear_error();
	if (t->state == SX_TLSE_OPEN)
		t->state = SX_TLSE_CLOSING;
	return 0;
}

int sx_tlse_eof(struct sx_tlse *t)
{
	uint8_t b;
	size_t n;

	/* A close_notify fed but not yet read still counts: peeking
	 * processes records up to the first application data. */
	if (!(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) &&
	    (t->state == SX_TLSE_OPEN || t->state == SX_TLSE_CLOSING) &&
	    BIO_ctrl_pending(t->rbio) > 0) {
		ERR_clear_error();
		(void)SSL_peek_ex(t->ssl, &b, 1, &n);
		ERR_clear_error();
	}
	if (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) {
		if (t->state != SX_TLSE_FAILED)
			t->state = SX_TLSE_CLOSED;
		return SX_ECLOSED;
	}
	if (t->state != SX_TLSE_FAILED) {
		snprintf(t->err, sizeof t->err, "transport closed without close_notify");
		t->state = SX_TLSE_FAILED;
	}
	return SX_ETRUNC;
}

size_t sx_tlse_out_pending(const struct sx_tlse *t)
{
	return BIO_ctrl_pending(t->wbio) - t->wofs;
}

size_t sx_tlse_out_peek(struct sx_tlse *t, const uint8_t **p)
{
	char *d = NULL;
	long n = BIO_get_mem_data(t->wbio, &d);

	if (n <= 0 || (size_t)n <= t->wofs) {
		*p = NULL;
		return 0;
	}
	*p = (const uint8_t *)d + t->wofs;
	return (size_t)n - t->wofs;
}

void sx_tlse_out_consume(struct sx_tlse *t, size_t n)
{
	size_t pend = sx_tlse_out_pending(t);
	char scratch[1024];
	int r;

	if (n >= pend) {
		(void)BIO_reset(t->wbio);
		t->wofs = 0;
		return;
	}
	t->wofs += n;
	if (t->wofs < TLSE_COMPACT || t->wofs < pend - n)
		return;
	while (t->wofs > 0) {
		r = BIO_read(t->wbio, scratch,
			     t->wofs < sizeof scratch ? (int)t->wofs : (int)sizeof scratch);
		if (r <= 0)
			break;
		t->wofs -= (size_t)r;
	}
	ERR_clear_error();
}

enum sx_tlse_state sx_tlse_state(const struct sx_tlse *t)
{
	return t->state;
}

const char *sx_tlse_errstr(const struct sx_tlse *t)
{
	return t->err;
}

SSL *sx_tlse_ssl(struct sx_tlse *t)
{
	return t->ssl;
}

/* BIO_get_mem_ptr compacts the BIO, so this may move pending output: like
 * any call other than out_consume, it ends the validity of a peeked pointer. */
size_t sx_tlse_buffered(const struct sx_tlse *t)
{
	return bio_storage(t->rbio) + bio_storage(t->wbio);
}

void sx_tlse_trim(struct sx_tlse *t)
{
	BIO *b;

	/* SSL_set0_[rw]bio free the old BIO (and keep OpenSSL's handshake
	 * buffering BIO, if any, on top of the new one). */
	if (BIO_ctrl_pending(t->rbio) == 0 && bio_storage(t->rbio) > 0 &&
	    (b = new_mem_bio()) != NULL) {
		SSL_set0_rbio(t->ssl, b);
		t->rbio = b;
	}
	if (sx_tlse_out_pending(t) == 0 && bio_storage(t->wbio) > 0 &&
	    (b = new_mem_bio()) != NULL) {
		SSL_set0_wbio(t->ssl, b);
		t->wbio = b;
		t->wofs = 0;
	}
	ERR_clear_error();
}
