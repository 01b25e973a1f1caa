/*
 * audit_sign.h: the audit log's signing key and its checkpoints as C2SP
 * signed notes (tlog-checkpoint, signed-note with an Ed25519 key), so that
 * auditors read them with standard tools (docs/audit.md).
 *
 * The key is Ed25519, its own (never the TLS key), created by sprexctl init
 * next to the database as DB.audit-key (PEM PKCS#8, mode 0600).
 */
#ifndef SX_AUDIT_SIGN_H
#define SX_AUDIT_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auditnote.h"
#include "store.h"

#define SX_AUDIT_KEY_SUFFIX ".audit-key"
#define SX_AUDIT_PEM_MAX 256          /* public key PEM */
#define SX_AUDIT_SIG_LEN 64           /* a raw Ed25519 signature */

/* Writes "<db>.audit-key" into out. Returns 0 or SX_ETOOBIG. */
int sx_audit_key_path(const char *db, char *out, size_t outlen);
/* The default origin of a new log: "sprex.<host name>/audit" (host name
 * without spaces or '+'). Returns 0 or SX_EINVAL. */
int sx_audit_default_origin(char *out, size_t outlen);

/* Creates a new Ed25519 key at path (refusing one that exists: SX_EEXIST),
 * mode 0600. Returns 0, SX_EEXIST, SX_EIO, SX_EPERM, SX_ENOMEM, with the
 * reason in err. */
int sx_audit_key_create(const char *path, char *err, size_t errlen);
/* Loads the private key at path into *out (free with EVP_PKEY_free).
 * Returns 0, SX_ENOTFOUND, SX_EPERM, SX_EINVAL (not an Ed25519 key), SX_EIO. */
int sx_audit_key_load(const char *path, EVP_PKEY **out, char *err, size_t errlen);
/* Loads a public key (PEM SubjectPublicKeyInfo, or a private key file) as a
 * raw Ed25519 key. Returns 0 or as sx_audit_key_load. */
int sx_audit_pub_load(const char *path, uint8_t pub[SX_AUDIT_PUB_LEN], char *err,
		      size_t errlen);
/* The public key as PEM (what openssl pkeyutl -pubin reads). 0 or SX_ETOOBIG. */
int sx_audit_pub_pem(EVP_PKEY *k, char *out, size_t outlen);

/*
 * Signs len bytes of data with k (pure Ed25519, RFC 8032: the message
 * itself, not a digest of it), the detached signature that
 * `openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in DATA -sigfile SIG`
 * checks (docs/audit.md, "The public registry"). Returns 0, SX_EINVAL (k
 * not an Ed25519 key) or SX_ENOMEM.
 */
int sx_audit_sign_raw(EVP_PKEY *k, const void *data, size_t len, uint8_t sig[SX_AUDIT_SIG_LEN]);

/*
 * sprexd's checkpoint timer (every audit_checkpoint_interval, and at
 * shutdown): signs and stores a checkpoint of the log if it grew since the
 * last one, with the stored origin when origin is NULL. Copies the note into
 * note_out (may be NULL). Returns 0, SX_EAGAIN (the log did not grow:
 * nothing to do), or a store or signing error (reason in sx_store_errmsg).
 */
int sx_audit_checkpoint(struct sx_store *s, EVP_PKEY *k, const char *origin, int64_t now_ms,
			char *note_out, size_t note_len);

#endif
