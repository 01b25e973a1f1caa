#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int addr_parse(const char *s, uint8_t addr[16], int *is_v4)
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(addr, v4mapped, 12);
		memcpy(addr + 12, &a4, 4);
		*is_v4 = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*is_v4 = 0;
		return 0;
	}
	return SX_EINVAL;
}

int sx_prefix_parse(const char *s, struct sx_prefix *out)
{
	char host[SX_PREFIX_TEXT];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof host)
		return SX_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';

	int is_v4;
	if (addr_parse(host, out->addr, &is_v4) < 0)
		return SX_EINVAL;
	unsigned long len = is_v4 ? 32 : 128;
	if (slash) {
		char *end;
		const char *d = slash + 1;
		if (*d < '0' || *d > '9' || strlen(d) > 3)
			return SX_EINVAL;
		len = strtoul(d, &end, 10);
		if (*end != '\0' || len > (is_v4 ? 32u : 128u))
			return SX_EINVAL;
	}
	out->len = (uint8_t)(is_v4 ? 96 + len : len);
	/* Host bits set means the operator typed something other than they meant. */
	for (unsigned bit = out->len; bit < 128; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return SX_EINVAL;
	return 0;
}

void sx_prefix_format(const struct sx_prefix *p, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];
	if (p->len >= 96 && memcmp(p->addr, v4mapped, 12) == 0) {
		inet_ntop(AF_INET, p->addr + 12, host, sizeof host);
		snprintf(out, outlen, "%s/%u", host, p->len - 96u);
	} else {
		inet_ntop(AF_INET6, p->addr, host, sizeof host);
		snprintf(out, outlen, "%s/%u", host, (unsigned)p->len);
	}
}

int sx_prefix_contains(const struct sx_prefix *p, const uint8_t addr[16])
{
	unsigned full = p->len / 8, rest = p->len % 8;
	if (memcmp(p->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (p->addr[full] & mask) == (addr[full] & mask);
}

int sx_hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *hs, *he, *colon;
	if (s[0] == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (!he || he[1] != ':')
			return SX_EINVAL;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return SX_EINVAL; /* a bare IPv6 address needs brackets */
		hs = s;
		he = colon;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= hostlen)
		return SX_EINVAL;
	const char *ps = colon + 1;
	if (*ps == '\0' || strlen(ps) > 5)
		return SX_EINVAL;
	unsigned long v = 0;
	for (const char *c = ps; *c; c++) {
		if (*c < '0' || *c > '9')
			return SX_EINVAL;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v > 65535)
		return SX_EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}
