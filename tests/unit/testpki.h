/*
 * testpki.h: a throw-away PKI for unit tests, made with the OpenSSL API in a
 * mkdtemp() directory: two unrelated CAs, a server certificate for localhost,
 * 127.0.0.1 and ::1, client certificates (one of them revoked, one from the
 * other CA), a current CRL and CRLs that are expired, not yet valid, without
 * nextUpdate or from the other CA, plus a few bad files.
 *
 * Test-only: failures inside fail the running cmocka test (assertions), so
 * call these from a test or a group fixture.
 */
#ifndef SX_TESTPKI_H
#define SX_TESTPKI_H

#include <openssl/ssl.h>

#define SX_TESTPKI_PATH 512

struct sx_testpki {
	char dir[SX_TESTPKI_PATH];
	char ca[SX_TESTPKI_PATH];          /* "sprex test CA" */
	char ca2[SX_TESTPKI_PATH];         /* "unrelated CA" */
	char srv_crt[SX_TESTPKI_PATH], srv_key[SX_TESTPKI_PATH];  /* localhost, by ca */
	char cli_crt[SX_TESTPKI_PATH], cli_key[SX_TESTPKI_PATH];  /* member-1, by ca */
	char rev_crt[SX_TESTPKI_PATH], rev_key[SX_TESTPKI_PATH];  /* member-2, revoked */
	char oth_crt[SX_TESTPKI_PATH], oth_key[SX_TESTPKI_PATH];  /* stranger, by ca2 */
	char crl[SX_TESTPKI_PATH];         /* ca's, current, revokes member-2 */
	char crl_old[SX_TESTPKI_PATH];     /* ca's, expired */
	char crl_oth[SX_TESTPKI_PATH];     /* ca2's */
	char crl_future[SX_TESTPKI_PATH];  /* ca's, not yet valid */
	char crl_nonext[SX_TESTPKI_PATH];  /* ca's, no nextUpdate */
	char chain[SX_TESTPKI_PATH];       /* server certificate followed by ca */
	char enc_key[SX_TESTPKI_PATH];     /* the server key, encrypted ("secret") */
	char junk[SX_TESTPKI_PATH];        /* not PEM */
	char missing[SX_TESTPKI_PATH];     /* a path in dir that does not exist */
};

/*
 * Makes the directory $TMPDIR/sprex-<tag>-XXXXXX (TMPDIR defaults to /tmp)
 * and every file named in k. Returns 0, or SX_EIO when the directory cannot
 * be made (nothing to clean up then). Remove with sx_testpki_finish.
 */
int sx_testpki_init(struct sx_testpki *k, const char *tag);

/* Removes the files and the directory. Returns 0, or SX_EIO when the
 * directory could not be removed. */
int sx_testpki_finish(struct sx_testpki *k);

/* Server context (sx_tlsctx_server) with k's server certificate, verifying
 * clients against k->ca, with crl (may be NULL). Caller frees with
 * SSL_CTX_free. */
void sx_testpki_server_ctx(const struct sx_testpki *k, const char *crl, SSL_CTX **out);

/* Client context (sx_tlsctx_client) presenting crt/key, verifying the
 * server against k->ca. Caller frees with SSL_CTX_free. */
void sx_testpki_client_ctx(const struct sx_testpki *k, const char *crt, const char *key,
			   SSL_CTX **out);

#endif
