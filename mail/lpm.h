/*
 * lpm.h: longest-prefix match over IPv4 and IPv6 prefixes (IPv4 lives in the
 * IPv4-mapped IPv6 space, see netaddr.h). Built once from a list, immutable
 * afterwards, so a server can build a new table and swap the pointer.
 */
#ifndef SX_LPM_H
#define SX_LPM_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct sx_lpm;

/*
 * Builds a table mapping each prefix to its value. When the same prefix
 * appears twice, the smaller value wins (deterministic). Returns 0 and *out
 * (free with sx_lpm_destroy), or SX_ENOMEM / SX_EINVAL (a prefix with host
 * bits set or len > 128).
 */
int sx_lpm_build(const struct sx_prefix *prefixes, const int64_t *values, size_t n,
		 struct sx_lpm **out);
/* Frees the table; NULL is fine. */
void sx_lpm_destroy(struct sx_lpm *t);
/* Looks addr up. Returns 0 with *value and *len (the matching prefix length)
 * or SX_ENOTFOUND. */
int sx_lpm_lookup(const struct sx_lpm *t, const uint8_t addr[16], int64_t *value, uint8_t *len);
/* Number of distinct prefixes in the table (0 for NULL). */
size_t sx_lpm_count(const struct sx_lpm *t);

#endif
