/*
 * authz.h: the one policy module. Every path that reads or sends data asks
 * it; nothing else in sprexd decides who may see or do what (DESIGN §1).
 */
#ifndef SX_AUTHZ_H
#define SX_AUTHZ_H

#include "frame.h"
#include "store.h"

/* Feeds; the values are the wire's Feed enum. */
enum sx_feed {
	SX_FEED_NONE = 0,
	SX_FEED_ASSOCIATION = 1,  /* vendors: consented public, every monitor report */
	SX_FEED_NOTICES = 2,      /* ISPs: reports from their own prefixes */
	SX_FEED_ENFORCEMENT = 3,  /* enforcement: violations */
	SX_FEED_CHAIN = 4,        /* vendors: chain mail */
};

/* What the policy needs to know of a report (nothing of its content). */
struct sx_authz_report {
	int source;                   /* enum sx_source_kind */
	unsigned consent;             /* consent bits; public reports only */
	enum sx_report_state state;
	unsigned flags;               /* violation flag bits */
	int64_t isp;                  /* member id of the source ISP, 0 when none */
};

/*
 * May a member of role send a frame of this kind once authenticated? Session
 * frames (Ping, Pong, GoAway, Error) are always allowed; the rest follow the
 * "may send" column: vendors and enforcement bodies acks (and subscriptions),
 * ISPs also notice actions, auditors queries, submitters reports.
 */
int sx_authz_may_send(enum sx_role role, Sprex__Frame__MsgCase kind);

/* May a member of role subscribe to feed? vendor: association and chain;
 * isp: notices; enforcement: enforcement; nobody else anything. */
int sx_authz_may_subscribe(enum sx_role role, enum sx_feed feed);

/*
 * May member m receive report r on feed? The whole of DESIGN §1: the member
 * must be active, the feed allowed to its role, the report ready (never
 * quarantined) and inside the feed: association = monitor reports and public
 * ones consented for the association; chain = chain mail; notices = monitor
 * and ISP-consented public reports whose source ISP is m itself;
 * enforcement = monitor and enforcement-consented public reports with at
 * least one violation flag. Asked at subscribe time (feed) and again for
 * every report sent.
 */
int sx_authz_may_receive(const struct sx_member *m, enum sx_feed feed,
			 const struct sx_authz_report *r);

/* May ISP member m record an action on a report? sent_to_m says whether the
 * report was delivered to m on the notices feed (the store knows). */
int sx_authz_may_act(const struct sx_member *m, int sent_to_m);

/* Feed names as on the command line and in configuration: "association",
 * "notices", "enforcement", "chain"; NULL for an unknown value. */
const char *sx_feed_name(enum sx_feed f);
/* Parses a feed name; SX_FEED_NONE when unknown. */
enum sx_feed sx_feed_parse(const char *s);

#endif
