/*
 * ident.h: the identifiers de-personalization removes. Everything that
 * identifies the reporter: the reporter's addresses and display names, every
 * recipient address of the spam (a monitor's trap address included: a
 * published trap is a burned trap) with its local part and display name, and
 * any the operator or submitter named. Values never leave this process: the
 * manifest and logs say what kind of identifier went where, never which.
 */
#ifndef SX_IDENT_H
#define SX_IDENT_H

#include <stddef.h>

#include "mime.h"

enum sx_ident_kind {
	SX_ID_ADDRESS = 0,   /* local@domain */
	SX_ID_LOCALPART,     /* the part before '@' of an identified address */
	SX_ID_NAME,          /* a display name or a name given on the command line */
};

#define SX_IDENTS_MAX 256      /* identifiers per report; more is a refusal */
#define SX_IDENT_LEN_MAX 254   /* longest identifier (an address) in bytes */
/* Local parts and names shorter than this are matched as whole words only,
 * so that "ab" does not erase every "ab" in the spam. */
#define SX_IDENT_SHORT 4

struct sx_ident {
	enum sx_ident_kind kind;
	char text[SX_IDENT_LEN_MAX + 1]; /* UTF-8; addresses and local parts lower case */
	size_t len;
};

struct sx_idset {
	struct sx_ident v[SX_IDENTS_MAX];
	size_t n;
};

/* Empties the set (caller's memory). */
void sx_idset_init(struct sx_idset *s);
/*
 * Adds one identifier (UTF-8, surrounding blanks and quotes trimmed; an
 * address also adds its local part; a name with blanks also adds the name
 * with the blanks removed, as Japanese names are written both ways).
 * Duplicates are ignored. Returns 0, SX_EINVAL (empty or too long),
 * SX_ELIMIT (set full).
 */
int sx_idset_add(struct sx_idset *s, enum sx_ident_kind kind, const char *text, size_t len);
/* Adds an address or a name given by the operator or submitter: text with
 * an '@' is an address, anything else a name. */
int sx_idset_add_given(struct sx_idset *s, const char *text);

/*
 * Collects identifiers from the reporter's message (outer, may be NULL for
 * monitor captures: From, Sender, Reply-To addresses and display names,
 * RFC 2047 decoded) and from the spam (To, Cc, Bcc, Delivered-To,
 * X-Original-To, Envelope-To, X-Apparently-To, X-Rcpt-To, Received "for
 * <...>", every Resent-* address field: addresses, local parts and display
 * names). Returns 0, SX_ELIMIT, SX_ENOMEM.
 */
int sx_ident_collect(const struct sx_mail *outer, const struct sx_mail *spam, struct sx_idset *out);

/* Name of a kind as written in the manifest: "address", "local-part", "name". */
const char *sx_ident_kind_name(enum sx_ident_kind k);

#endif
