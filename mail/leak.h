/*
 * leak.h: the independent leak check. It decodes a redacted mail by its own
 * path, exhaustively rather than structurally (every header decoded, every
 * part in every transfer encoding and charset that applies, URL escapes, HTML
 * references, every base64-looking run anywhere), and searches each view for
 * every identifier. It shares only the low-level decoders with the redactor.
 */
#ifndef SX_LEAK_H
#define SX_LEAK_H

#include <stddef.h>
#include <stdint.h>

#include "ident.h"
#include "mime.h"

enum sx_leak_verdict {
	SX_LEAK_CLEAN = 0,
	SX_LEAK_FOUND = 1,       /* an identifier survives */
	SX_LEAK_UNDECODABLE = 2, /* a part could hide one and cannot be decoded */
};

/*
 * Checks mail (len bytes) for ids. Returns a verdict >= 0 with why (part,
 * where, form and identifier kind — never the value) filled for FOUND and
 * UNDECODABLE, or a negative error (SX_ENOMEM, SX_ELIMIT).
 */
int sx_leak_check(const uint8_t *mail, size_t len, const struct sx_idset *ids,
		  const struct sx_mail_limits *lim, char *why, size_t whylen);

#endif
