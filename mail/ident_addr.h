/*
 * ident_addr.h: the address-list grammar identifier collection uses
 * (ident_addr.c); not an API.
 */
#ifndef SX_IDENT_ADDR_H
#define SX_IDENT_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "ident.h"

/* Bound on one unfolded or decoded header value while collecting. */
#define IDENT_VALUE_MAX (64u * 1024u)

/*
 * Adds every address in the unfolded address-list value v (n bytes) with
 * its local part, and the display names beside them (decoded; charset is
 * the part's, for raw 8-bit names). Returns 0, SX_ELIMIT, SX_ENOMEM.
 */
int sx_ident_addresses(struct sx_idset *s, const uint8_t *v, size_t n, const char *charset);
/* Adds one address ("@route:" prefix dropped), or a local part when it has
 * no '@'. Returns 0, SX_ELIMIT. */
int sx_ident_add_addr(struct sx_idset *s, const uint8_t *p, size_t n);

#endif
