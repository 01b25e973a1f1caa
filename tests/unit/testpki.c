#include "testpki.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "tlsctx.h"

enum kind { CA, SERVER, CLIENT };

static void set_path(const struct sx_testpki *k, char *dst, const char *name)
{
	assert_true(snprintf(dst, SX_TESTPKI_PATH, "%s/%s", k->dir, name) < SX_TESTPKI_PATH);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* issuer NULL makes a self-signed certificate. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
		       long serial, enum kind kind)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ?
					      X509_get_subject_name(issuer) : name), 1);
	if (issuer == NULL) {
		issuer = x;
		ikey = key;
	}
	switch (kind) {
	case CA:
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
		add_ext(x, issuer, NID_subject_key_identifier, "hash");
		break;
	case SERVER:
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
		break;
	case CLIENT:
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "clientAuth");
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
		break;
	}
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static void write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/* pass non-NULL writes the key encrypted. */
static void write_key(const char *path, EVP_PKEY *k, const char *pass)
{
	const EVP_CIPHER *enc = pass != NULL ? EVP_aes_128_cbc() : NULL;
	int passlen = pass != NULL ? (int)strlen(pass) : 0;
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, enc, (const unsigned char *)pass, passlen,
					      NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static void set_time(X509_CRL *crl, long offset, int next)
{
	ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, offset);

	assert_non_null(t);
	assert_int_equal(next ? X509_CRL_set1_nextUpdate(crl, t)
			      : X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
}

/* A CRL by ca valid over [now+last, now+next] (next 0: no nextUpdate),
 * revoking victim if set. */
static void write_crl(const char *path, X509 *ca, EVP_PKEY *cakey, X509 *victim,
		      long last, long next)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r;
	ASN1_TIME *t;
	FILE *f;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
	set_time(crl, last, 0);
	if (next != 0)
		set_time(crl, next, 1);
	if (victim != NULL) {
		r = X509_REVOKED_new();
		t = ASN1_TIME_adj(NULL, time(NULL), 0, -60);
		assert_non_null(r);
		assert_non_null(t);
		assert_int_equal(X509_REVOKED_set_serialNumber(r,
						X509_get_serialNumber(victim)), 1);
		assert_int_equal(X509_REVOKED_set_revocationDate(r, t), 1);
		ASN1_TIME_free(t);
		assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
	}
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, cakey, EVP_sha256()) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	assert_int_equal(fclose(f), 0);
	X509_CRL_free(crl);
}


/* Makes a leaf of kind under ca and writes it with its key (a server key
 * also encrypted, to enc). */
static X509 *leaf(const char *cn, long serial, enum kind kind, X509 *ca, EVP_PKEY *cakey,
		  const char *crt, const char *keypath, const char *enc)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x;

	assert_non_null(k);
	x = make_cert(cn, k, ca, cakey, serial, kind);
	write_cert(crt, x);
	write_key(keypath, k, NULL);
	if (kind == SERVER)
		write_key(enc, k, "secret");
	EVP_PKEY_free(k);
	return x;
}

static void make_pki(const struct sx_testpki *k)
{
	EVP_PKEY *cak = EVP_EC_gen("P-256"), *ca2k = EVP_EC_gen("P-256");
	X509 *ca, *ca2, *srv, *x, *rev;
	FILE *f;

	assert_non_null(cak);
	assert_non_null(ca2k);
	ca = make_cert("sprex test CA", cak, NULL, NULL, 1, CA);
	ca2 = make_cert("unrelated CA", ca2k, NULL, NULL, 1, CA);
	write_cert(k->ca, ca);
	write_cert(k->ca2, ca2);
	srv = leaf("localhost", 2, SERVER, ca, cak, k->srv_crt, k->srv_key, k->enc_key);
	X509_free(leaf("member-1", 10, CLIENT, ca, cak, k->cli_crt, k->cli_key, NULL));
	rev = leaf("member-2", 11, CLIENT, ca, cak, k->rev_crt, k->rev_key, NULL);
	x = leaf("stranger", 12, CLIENT, ca2, ca2k, k->oth_crt, k->oth_key, NULL);
	write_crl(k->crl, ca, cak, rev, -3600, 86400);
	write_crl(k->crl_old, ca, cak, rev, -2 * 86400, -86400);
	write_crl(k->crl_oth, ca2, ca2k, x, -3600, 86400);
	write_crl(k->crl_future, ca, cak, rev, 3600, 86400);
	write_crl(k->crl_nonext, ca, cak, rev, -3600, 0);
	f = fopen(k->chain, "w");       /* leaf followed by its CA */
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, srv), 1);
	assert_int_equal(PEM_write_X509(f, ca), 1);
	assert_int_equal(fclose(f), 0);
	f = fopen(k->junk, "w");
	assert_non_null(f);
	fputs("this is not PEM\n", f);
	assert_int_equal(fclose(f), 0);
	X509_free(x);
	X509_free(rev);
	X509_free(srv);
	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ca2k);
}

int sx_testpki_init(struct sx_testpki *k, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	memset(k, 0, sizeof *k);
	snprintf(k->dir, sizeof k->dir, "%s/sprex-%s-XXXXXX", tmp != NULL ? tmp : "/tmp", tag);
	if (mkdtemp(k->dir) == NULL)
		return SX_EIO;
	set_path(k, k->ca, "ca.pem");
	set_path(k, k->ca2, "ca2.pem");
	set_path(k, k->srv_crt, "server.pem");
	set_path(k, k->srv_key, "server.key");
	set_path(k, k->cli_crt, "client.pem");
	set_path(k, k->cli_key, "client.key");
	set_path(k, k->rev_crt, "revoked.pem");
	set_path(k, k->rev_key, "revoked.key");
	set_path(k, k->oth_crt, "other.pem");
	set_path(k, k->oth_key, "other.key");
	set_path(k, k->crl, "crl.pem");
	set_path(k, k->crl_old, "crl-expired.pem");
	set_path(k, k->crl_oth, "crl-other.pem");
	set_path(k, k->crl_future, "crl-future.pem");
	set_path(k, k->crl_nonext, "crl-nonext.pem");
	set_path(k, k->chain, "chain.pem");
	set_path(k, k->enc_key, "server-enc.key");
	set_path(k, k->junk, "junk.pem");
	set_path(k, k->missing, "missing.pem");
	make_pki(k);
	return 0;
}

int sx_testpki_finish(struct sx_testpki *k)
{
	const char *files[] = { k->ca, k->ca2, k->srv_crt, k->srv_key, k->cli_crt, k->cli_key,
				k->rev_crt, k->rev_key, k->oth_crt, k->oth_key, k->crl, k->crl_old,
				k->crl_oth, k->crl_future, k->crl_nonext, k->chain, k->enc_key,
				k->junk };
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++)
		if (files[i][0] != '\0')
			unlink(files[i]);
	return rmdir(k->dir) == 0 ? 0 : SX_EIO;
}

void sx_testpki_server_ctx(const struct sx_testpki *k, const char *crl, SSL_CTX **out)
{
	struct sx_tls_opts o = { k->srv_crt, k->srv_key, k->ca, crl };
	char err[256];

	*out = NULL;
	if (sx_tlsctx_server(&o, out, err, sizeof err) != 0)
		fail_msg("server ctx: %s", err);
}

void sx_testpki_client_ctx(const struct sx_testpki *k, const char *crt, const char *key,
			   SSL_CTX **out)
{
	struct sx_tls_opts o = { crt, key, k->ca, NULL };
	char err[256];

	*out = NULL;
	if (sx_tlsctx_client(&o, out, err, sizeof err) != 0)
		fail_msg("client ctx: %s", err);
}
