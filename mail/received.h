/*
 * received.h: the Received chain of a spam, walked from the top (the last
 * hop, added by the receiving side) down past private addresses and trusted
 * relays to the first untrusted public address: the source IP.
 */
#ifndef SX_RECEIVED_H
#define SX_RECEIVED_H

#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "netaddr.h"

#define SX_RELAY_HOST_MAX 256
/* One unfolded Received value examined; a longer one counts as unparsable. */
#define SX_RECEIVED_VALUE_MAX (64 * 1024)
/* Words and comments of one Received value looked at; the rest is ignored. */
#define SX_RECEIVED_ITEMS_MAX 128
/* Clock skew forgiven between a hop and the one above it: the hop below was
 * written earlier, so a later date beyond this is a sign of forgery. */
#define SX_RECEIVED_SKEW_MS (60 * 60 * 1000LL)

/* Relays the center trusts to report their peer truthfully: the receiving
 * carriers' own MTAs. A host entry matches a hop's "by" name, or its "from"
 * name as a suffix when it starts with a dot (".mail.example.jp").
 * The walk passes a hop when its client is a trusted relay: the address lies
 * in a prefix, or the name the receiver looked up (not Sendmail's "may be
 * forged" nor qmail's unchecked name, never the client's own HELO) equals an
 * entry or ends in a ".suffix" entry. A
 * trusted "by" alone vouches for the hop's content, it does not pass the hop:
 * otherwise a spammer's hop at the carrier's MX would be passed and a line
 * the spammer wrote below it would name the source. */
struct sx_relays {
	const struct sx_prefix *prefixes;
	size_t nprefixes;
	const char *const *hosts;
	size_t nhosts;
};

/* One parsed Received field. Text fields are NUL-terminated, truncated to fit. */
struct sx_hop {
	char from_helo[SX_RELAY_HOST_MAX];  /* the name the client gave */
	char from_rdns[SX_RELAY_HOST_MAX];  /* the name the receiver looked up, if shown */
	char by[SX_RELAY_HOST_MAX];
	char with[32];
	uint8_t ip[16];                     /* the client's address, IPv4-mapped for v4 */
	int has_ip;
	uint16_t port;                      /* the client's source port when shown, else 0 */
	int64_t time_ms;                    /* the date after ';', 0 when unparsable */
};

/* Parses one unfolded Received value (Postfix, Sendmail, Exim, qmail,
 * Exchange, Gmail and the Japanese carriers' formats; "[IPv6:...]" too).
 * Returns 0 (fields that were not found are empty), SX_EINVAL when nothing
 * of a Received line could be recognised. */
int sx_received_parse(const uint8_t *value, size_t n, struct sx_hop *out);

/* Non-zero for addresses that cannot be a spam source on the Internet:
 * RFC 1918, loopback, link-local, CGNAT 100.64/10, unique local fc00::/7,
 * unspecified, multicast. Documentation ranges (192.0.2/24, 198.51.100/24,
 * 203.0.113/24, 2001:db8::/32) count as public by design. */
int sx_ip_private(const uint8_t ip[16]);

struct sx_source {
	int found;
	uint8_t ip[16];
	char ip_text[48];
	uint16_t port;
	unsigned hop;            /* index from the top of the chain (0 = topmost) */
	unsigned hops;           /* Received fields seen */
	int forged;              /* a hop below the source is inconsistent */
	char evidence[256];      /* how the source was chosen, for people */
	char forged_evidence[256];
};

/*
 * Finds the source of the message part at index part of m (normally 0, the
 * spam's root). Returns 0 (out->found says whether a source was found; a
 * message without Received fields is not an error) or SX_ENOMEM.
 */
int sx_received_source(const struct sx_mail *m, int part, const struct sx_relays *relays,
		       struct sx_source *out);

#endif
