/*
 * audit_sign.c: the Ed25519 audit key files and sprexd's checkpoint timer call
 * (the note format itself is lib/auditnote.c).
 */
#include "audit_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "err.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int sx_audit_key_path(const char *db, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", db, SX_AUDIT_KEY_SUFFIX);
	return n < 0 || (size_t)n >= outlen ? SX_ETOOBIG : 0;
}

int sx_audit_default_origin(char *out, size_t outlen)
{
	char host[128];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	int n = snprintf(out, outlen, "sprex.%s/audit", host);
	if (n < 0 || (size_t)n >= outlen || !sx_audit_origin_ok(out))
		return SX_EINVAL;
	return 0;
}

int sx_audit_key_create(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k == NULL) {
		seterr(err, errlen, "cannot generate an Ed25519 key");
		return SX_ENOMEM;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		EVP_PKEY_free(k);
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return e == EEXIST ? SX_EEXIST : e == EACCES || e == EPERM ? SX_EPERM : SX_EIO;
	}
	FILE *f = fdopen(fd, "w");
	int ok = f != NULL && fchmod(fd, 0600) == 0 &&
		 PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = ok && fflush(f) == 0 && fsync(fd) == 0;
	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	else
		close(fd);
	EVP_PKEY_free(k);
	if (!ok) {
		unlink(path);
		seterr(err, errlen, "%s: cannot write the key", path);
		return SX_EIO;
	}
	return 0;
}

static int open_pem(const char *path, FILE **out, char *err, size_t errlen)
{
	*out = fopen(path, "re");
	if (*out == NULL) {
		int e = errno;
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return e == ENOENT ? SX_ENOTFOUND : e == EACCES || e == EPERM ? SX_EPERM : SX_EIO;
	}
	return 0;
}

int sx_audit_key_load(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	FILE *f;
	*out = NULL;
	int rc = open_pem(path, &f, err, errlen);
	if (rc)
		return rc;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		seterr(err, errlen, "%s: not an Ed25519 private key", path);
		return SX_EINVAL;
	}
	*out = k;
	return 0;
}


int sx_audit_pub_load(const char *path, uint8_t pub[SX_AUDIT_PUB_LEN], char *err, size_t errlen)
{
	FILE *f;
	int rc = open_pem(path, &f, err, errlen);
	if (rc)
		return rc;
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (k == NULL) {
		rewind(f);
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	fclose(f);
	rc = k != NULL ? sx_audit_pub_raw(k, pub) : SX_EINVAL;
	EVP_PKEY_free(k);
	if (rc)
		seterr(err, errlen, "%s: not an Ed25519 key", path);
	return rc;
}

int sx_audit_pub_pem(EVP_PKEY *k, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return SX_ENOMEM;
	int rc = SX_ETOOBIG;
	char *p;
	if (PEM_write_bio_PUBKEY(b, k) == 1) {
		long n = BIO_get_mem_data(b, &p);
		if (n > 0 && (size_t)n < outlen) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
			rc = 0;
		}
	}
	BIO_free(b);
	return rc;
}

int sx_audit_sign_raw(EVP_PKEY *k, const void *data, size_t len, uint8_t sig[SX_AUDIT_SIG_LEN])
{
	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
		return SX_EINVAL;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL)
		return SX_ENOMEM;
	size_t siglen = SX_AUDIT_SIG_LEN;
	/* Ed25519 takes no digest: the whole message goes to one call. */
	int ok = EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(c, sig, &siglen, data, len) == 1 && siglen == SX_AUDIT_SIG_LEN;
	EVP_MD_CTX_free(c);
	return ok ? 0 : SX_ENOMEM;
}

struct sign_ctx {
	EVP_PKEY *k;
	const char *origin;
};

static int sign_cp(void *ctx, struct sx_audit_checkpoint *cp)
{
	struct sign_ctx *c = ctx;
	return sx_audit_note_sign(c->k, c->origin, cp->tree_size, cp->root, cp->note,
				  sizeof cp->note);
}

int sx_audit_checkpoint(struct sx_store *s, EVP_PKEY *k, const char *origin, int64_t now_ms,
			char *note_out, size_t note_len)
{
	char stored[SX_AUDIT_ORIGIN_MAX];
	if (origin == NULL) {
		int err = sx_store_audit_origin(s, stored, sizeof stored);
		if (err)
			return err;
		origin = stored;
	}
	struct sign_ctx c = { k, origin };
	struct sx_audit_checkpoint cp;
	int err = sx_store_audit_checkpoint_new(s, now_ms, sign_cp, &c, &cp);
	if (err == 0 && note_out != NULL)
		snprintf(note_out, note_len, "%s", cp.note);
	return err;
}
