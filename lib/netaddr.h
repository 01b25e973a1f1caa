/*
 * netaddr.h: textual addresses used in configuration and on the command line.
 */
#ifndef SX_NETADDR_H
#define SX_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/* An IPv4 or IPv6 prefix in the IPv6 space: IPv4 is ::ffff:a.b.c.d with
 * len = 96 + the IPv4 length, so one longest-prefix table serves both. */
struct sx_prefix {
	uint8_t addr[16];
	uint8_t len;   /* 0..128 */
};

#define SX_HOST_MAX 256
#define SX_PREFIX_TEXT 64

/* Parses "192.0.2.0/24" or "2001:db8::/32" (a bare address is a host
 * prefix). Bits past the length must be zero. Returns 0 or SX_EINVAL. */
int sx_prefix_parse(const char *s, struct sx_prefix *out);
/* Writes the canonical text of p (IPv4-mapped back to dotted form). */
void sx_prefix_format(const struct sx_prefix *p, char *out, size_t outlen);
/* Non-zero when addr (16 bytes, IPv4-mapped for v4) lies inside p. */
int sx_prefix_contains(const struct sx_prefix *p, const uint8_t addr[16]);

/* Splits "host:port", "[v6]:port" into host (brackets removed) and port
 * 0..65535. Returns 0 or SX_EINVAL. */
int sx_hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
