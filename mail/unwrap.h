/*
 * unwrap.h: finds the spam inside a forwarded report. The reporter's message
 * (outer) carries it as a message/rfc822 attachment (possibly base64
 * encoded), or inline after a forward marker of a common mail client or
 * webmail (Japanese and English). The outer message is the reporter's: its
 * addresses and names are identifiers, its hops are not the spam's.
 */
#ifndef SX_UNWRAP_H
#define SX_UNWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"

enum sx_unwrap_how {
	SX_UNWRAP_ATTACHED = 1,  /* message/rfc822 part */
	SX_UNWRAP_INLINE = 2,    /* text after a forward marker */
	SX_UNWRAP_NONE = 3,      /* nothing recoverable: the outer body is all there is */
};

/*
 * Extracts the spam from the parsed outer message into spam (bytes of a
 * message that sx_mail_parse can read; for inline forwards the quoted
 * header lines and the decoded body text). Returns 0 with *how, or SX_ETOOBIG
 * / SX_ENOMEM.
 */
int sx_unwrap(const struct sx_mail *outer, struct sx_buf *spam, enum sx_unwrap_how *how);

#endif
