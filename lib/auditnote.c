/*
 * auditnote.c: C2SP signed-note checkpoints of the audit log with Ed25519
 * (pure: OpenSSL only, no files), shared by sprexd, sprexctl and sprex-agent.
 */
#include "auditnote.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* The C2SP signed-note signature type of Ed25519. */
#define SIG_TYPE_ED25519 0x01
#define SIG_LEN 64
/* "\u2014 " as UTF-8: an em dash and a space start every signature line. */
#define SIG_PREFIX "\xe2\x80\x94 "

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

int sx_audit_pub_raw(EVP_PKEY *k, uint8_t pub[SX_AUDIT_PUB_LEN])
{
	size_t n = SX_AUDIT_PUB_LEN;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != SX_AUDIT_PUB_LEN)
		return SX_EINVAL;
	return 0;
}

int sx_audit_origin_ok(const char *origin)
{
	size_t n = strlen(origin);
	if (n == 0 || n >= SX_AUDIT_ORIGIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)origin[i] <= 0x20 || origin[i] == '+' || origin[i] == 0x7f)
			return 0;
	return 1;
}

uint32_t sx_audit_key_hash(const char *origin, const uint8_t pub[SX_AUDIT_PUB_LEN])
{
	uint8_t md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	static const uint8_t sep[2] = { 0x0a, SIG_TYPE_ED25519 };
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, origin, strlen(origin)) == 1 &&
		 EVP_DigestUpdate(c, sep, sizeof sep) == 1 &&
		 EVP_DigestUpdate(c, pub, SX_AUDIT_PUB_LEN) == 1 &&
		 EVP_DigestFinal_ex(c, md, &mdlen) == 1;
	EVP_MD_CTX_free(c);
	if (!ok)
		return 0;
	return (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
}

/* Standard base64 with padding; out needs 4 * ceil(n / 3) + 1 bytes. */
static int b64(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	if (outlen < 4 * ((n + 2) / 3) + 1)
		return SX_ETOOBIG;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return 0;
}

/* Decodes exactly want bytes of standard base64 text (len characters). */
static int unb64(const char *in, size_t len, uint8_t *out, size_t want)
{
	uint8_t buf[128];
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof buf)
		return SX_EINVAL;
	int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0)
		return SX_EINVAL;
	size_t pad = (in[len - 1] == '=') + (in[len - 2] == '=');
	if ((size_t)n - pad != want)
		return SX_EINVAL;
	memcpy(out, buf, want);
	return 0;
}

int sx_audit_vkey(const char *origin, const uint8_t pub[SX_AUDIT_PUB_LEN], char *out,
		  size_t outlen)
{
	uint8_t typed[1 + SX_AUDIT_PUB_LEN] = { SIG_TYPE_ED25519 };
	char enc[64];
	memcpy(typed + 1, pub, SX_AUDIT_PUB_LEN);
	if (b64(typed, sizeof typed, enc, sizeof enc))
		return SX_ETOOBIG;
	int n = snprintf(out, outlen, "%s+%08x+%s", origin, sx_audit_key_hash(origin, pub), enc);
	return n < 0 || (size_t)n >= outlen ? SX_ETOOBIG : 0;
}

int sx_audit_note_sign(EVP_PKEY *k, const char *origin, int64_t size,
		       const uint8_t root[SX_AUDIT_NOTE_HASH], char *out, size_t outlen)
{
	if (!sx_audit_origin_ok(origin) || size < 0)
		return SX_EINVAL;
	char rootb64[48];
	b64(root, SX_AUDIT_NOTE_HASH, rootb64, sizeof rootb64);
	int body = snprintf(out, outlen, "%s\n%lld\n%s\n", origin, (long long)size, rootb64);
	if (body < 0 || (size_t)body >= outlen)
		return SX_ETOOBIG;
	uint8_t pub[SX_AUDIT_PUB_LEN], sig[4 + SIG_LEN];
	if (sx_audit_pub_raw(k, pub))
		return SX_EINVAL;
	uint32_t kh = sx_audit_key_hash(origin, pub);
	sig[0] = (uint8_t)(kh >> 24);
	sig[1] = (uint8_t)(kh >> 16);
	sig[2] = (uint8_t)(kh >> 8);
	sig[3] = (uint8_t)kh;
	size_t siglen = SIG_LEN;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(c, sig + 4, &siglen, (const unsigned char *)out,
				(size_t)body) == 1 && siglen == SIG_LEN;
	EVP_MD_CTX_free(c);
	if (!ok)
		return SX_ENOMEM;
	char sigb64[96];
	b64(sig, sizeof sig, sigb64, sizeof sigb64);
	int n = snprintf(out + body, outlen - (size_t)body, "\n" SIG_PREFIX "%s %s\n", origin,
			 sigb64);
	if (n < 0 || (size_t)n >= outlen - (size_t)body)
		return SX_ETOOBIG;
	return 0;
}

static int ed25519_verify(const uint8_t pub[SX_AUDIT_PUB_LEN], const uint8_t *sig,
			  const char *msg, size_t len)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, SX_AUDIT_PUB_LEN);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = k != NULL && c != NULL && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(c, sig, SIG_LEN, (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok;
}

int sx_audit_note_verify(const char *note, const char *origin,
			 const uint8_t pub[SX_AUDIT_PUB_LEN], int64_t *size,
			 uint8_t root[SX_AUDIT_NOTE_HASH], char *err, size_t errlen)
{
	size_t len = strlen(note);
	/* The text ends at the last blank line; signatures follow it. */
	const char *blank = NULL;
	for (const char *p = note; (p = strstr(p, "\n\n")) != NULL; p++)
		blank = p;
	if (len > SX_AUDIT_NOTE_TEXT_MAX || blank == NULL || note[len - 1] != '\n') {
		seterr(err, errlen, "not a signed note");
		return SX_EINVAL;
	}
	size_t body = (size_t)(blank - note) + 1;
	/* The body: origin, size, root (extension lines after it are ignored). */
	char o[SX_AUDIT_ORIGIN_MAX];
	const char *tend = note + body;
	const char *nl1 = memchr(note, '\n', body);
	const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(tend - nl1 - 1)) : NULL;
	const char *nl3 = nl2 ? memchr(nl2 + 1, '\n', (size_t)(tend - nl2 - 1)) : NULL;
	if (nl3 == NULL || (size_t)(nl1 - note) >= sizeof o) {
		seterr(err, errlen, "not a checkpoint (origin, size and root lines wanted)");
		return SX_EINVAL;
	}
	memcpy(o, note, (size_t)(nl1 - note));
	o[nl1 - note] = '\0';
	/* The size in canonical decimal: digits only, no leading zero. */
	long long n = 0;
	size_t digits = (size_t)(nl2 - nl1 - 1);
	int ok = digits >= 1 && digits <= 18 && !(digits > 1 && nl1[1] == '0');
	for (const char *p = nl1 + 1; ok && p < nl2; p++) {
		if (*p < '0' || *p > '9')
			ok = 0;
		else
			n = n * 10 + (*p - '0');
	}
	if (!ok || unb64(nl2 + 1, (size_t)(nl3 - nl2 - 1), root, SX_AUDIT_NOTE_HASH) != 0) {
		seterr(err, errlen, "not a checkpoint (size or root hash line malformed)");
		return SX_EINVAL;
	}
	if (strcmp(o, origin) != 0) {
		seterr(err, errlen, "checkpoint origin is '%s', not '%s'", o, origin);
		return SX_EINVAL;
	}
	/* Signature lines: the one of our key name and key hash decides. */
	uint32_t kh = sx_audit_key_hash(origin, pub);
	int named = 0;
	const char *line = blank + 2;
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		if (end == NULL || strncmp(line, SIG_PREFIX, strlen(SIG_PREFIX)) != 0) {
			seterr(err, errlen, "malformed signature line");
			return SX_EINVAL;
		}
		const char *name = line + strlen(SIG_PREFIX);
		const char *sp = memchr(name, ' ', (size_t)(end - name));
		if (sp != NULL && (size_t)(sp - name) == strlen(origin) &&
		    strncmp(name, origin, (size_t)(sp - name)) == 0) {
			uint8_t sig[4 + SIG_LEN];
			named = 1;
			if (unb64(sp + 1, (size_t)(end - sp - 1), sig, sizeof sig) == 0 &&
			    ((uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 |
			     (uint32_t)sig[2] << 8 | sig[3]) == kh) {
				if (!ed25519_verify(pub, sig + 4, note, body)) {
					seterr(err, errlen, "bad signature");
					return SX_EINVAL;
				}
				*size = n;
				return 0;
			}
		}
		line = end + 1;
	}
	seterr(err, errlen, named ? "signed by another key (key hash differs)"
				  : "no signature by '%s'", origin);
	return SX_EINVAL;
}

int sx_audit_note_origin(const char *note, char *out, size_t outlen)
{
	const char *nl = strchr(note, '\n');
	if (nl == NULL || (size_t)(nl - note) >= outlen)
		return SX_EINVAL;
	memcpy(out, note, (size_t)(nl - note));
	out[nl - note] = '\0';
	return sx_audit_origin_ok(out) ? 0 : SX_EINVAL;
}
