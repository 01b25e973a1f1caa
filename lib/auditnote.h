/*
 * auditnote.h: the audit log's checkpoints as C2SP signed notes
 * (tlog-checkpoint text, signed-note Ed25519 signature line), docs/audit.md.
 * Pure: OpenSSL only. Shared by sprexd, sprexctl and sprex-agent.
 */
#ifndef SX_AUDITNOTE_H
#define SX_AUDITNOTE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define SX_AUDIT_NOTE_HASH 32         /* SHA-256 root hash */
#define SX_AUDIT_ORIGIN_MAX 256
#define SX_AUDIT_PUB_LEN 32           /* raw Ed25519 public key */
#define SX_AUDIT_VKEY_MAX 384         /* "origin+hash+base64" verifier key */
#define SX_AUDIT_NOTE_TEXT_MAX 1024   /* longest note accepted */

/* Non-zero when origin may name a log: 1..255 bytes, no spaces, control
 * characters or '+'. */
int sx_audit_origin_ok(const char *origin);

/* The raw public key of k. 0 or SX_EINVAL. */
int sx_audit_pub_raw(EVP_PKEY *k, uint8_t pub[SX_AUDIT_PUB_LEN]);
/* The signed-note key hash: the first 4 bytes of SHA-256(origin || 0x0A ||
 * 0x01 || pub), as a big-endian number. */
uint32_t sx_audit_key_hash(const char *origin, const uint8_t pub[SX_AUDIT_PUB_LEN]);
/* The signed-note verifier key "origin+<8 hex>+<base64(0x01 || pub)>".
 * 0 or SX_ETOOBIG. */
int sx_audit_vkey(const char *origin, const uint8_t pub[SX_AUDIT_PUB_LEN], char *out,
		  size_t outlen);

/*
 * Signs a checkpoint: the note text "origin\n<size>\n<base64 root>\n", a
 * blank line and "\u2014 origin <base64(key hash || signature)>\n". Returns 0,
 * SX_EINVAL (origin with spaces, '+' or newlines), SX_ETOOBIG, SX_ENOMEM.
 */
int sx_audit_note_sign(EVP_PKEY *k, const char *origin, int64_t size,
		       const uint8_t root[SX_AUDIT_NOTE_HASH], char *out, size_t outlen);
/* Copies the first line of note (its origin, unverified) into out. 0, or
 * SX_EINVAL when there is no valid origin line. */
int sx_audit_note_origin(const char *note, char *out, size_t outlen);
/*
 * Verifies note against the key pub of origin and parses it: 0 with *size
 * and root set; else SX_EINVAL with one line in err naming what failed
 * ("not a checkpoint", "origin is X, not Y", "no signature by this key
 * (signed by another key?)", "bad signature").
 */
int sx_audit_note_verify(const char *note, const char *origin,
			 const uint8_t pub[SX_AUDIT_PUB_LEN], int64_t *size,
			 uint8_t root[SX_AUDIT_NOTE_HASH], char *err, size_t errlen);

#endif
