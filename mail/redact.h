/*
 * redact.h: removes every identifier from the spam, in every form a reader
 * could decode, keeping every other byte as it came.
 *
 * Header fields: raw text and RFC 2047 encoded-words (B and Q); a changed
 * encoded-word is re-encoded in its own charset and encoding. Bodies of every
 * leaf part: decoded from their transfer encoding and charset (ISO-2022-JP,
 * Shift_JIS, EUC-JP, UTF-8, ...), searched raw, URL-escaped, as HTML
 * character references and as base64 tokens inside URLs, then converted and
 * re-encoded in their own charset and transfer encoding (same line length and
 * line ends). Addresses become "redacted@redacted.invalid", names and local
 * parts "[redacted]", so the result stays valid mail.
 */
#ifndef SX_REDACT_H
#define SX_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ident.h"
#include "mime.h"

#define SX_REDACTED_ADDRESS "redacted@redacted.invalid"
#define SX_REDACTED_TEXT "[redacted]"
#define SX_MANIFEST_MAX 512

/* One changed span of the stored mail. Never holds the removed value. */
struct sx_redaction {
	char part[SX_MIME_PATH];   /* MIME part path ("" = top-level header/body) */
	char where[64];            /* header field name, or "body" */
	char kind[16];             /* "address", "local-part", "name" (the first found) */
	char encoding[24];         /* raw, rfc2047-b, rfc2047-q, quoted-printable, base64,
				    * url, html-entity, url-base64 */
	unsigned count;            /* identifiers removed in this span */
	size_t offset;             /* span in the redacted mail */
	size_t length;
	size_t orig_offset;        /* the span it replaced in the original */
	size_t orig_length;
};

struct sx_redact_result {
	struct sx_redaction manifest[SX_MANIFEST_MAX];
	size_t n;
	unsigned total;            /* identifiers removed */
	/* Set when a part could hide an identifier the redactor cannot see or
	 * rewrite (undecodable transfer encoding, unknown charset, compressed
	 * archive, binary part holding an identifier): the report must be
	 * quarantined. */
	int unsure;
	char unsure_reason[160];
};

/*
 * Redacts spam (len bytes) into out. The spans outside manifest entries are
 * byte-for-byte the original. Returns 0 (check res->unsure), SX_ETOOBIG (out's
 * bound), SX_ELIMIT (parse limits or manifest full), SX_ENOMEM; err says why.
 */
int sx_redact(const uint8_t *spam, size_t len, const struct sx_idset *ids,
	      const struct sx_mail_limits *lim, struct sx_buf *out, struct sx_redact_result *res,
	      char *err, size_t errlen);

#endif
