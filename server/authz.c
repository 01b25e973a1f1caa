#include "authz.h"

#include <string.h>

#include "pipeline.h"   /* SX_SRC_*, SX_CONSENT_* */

/* What a role may ask for. Subscription traffic is for the roles that
 * receive feeds; a submitter only submits, an auditor only queries. */
int sx_authz_may_send(enum sx_role role, Sprex__Frame__MsgCase kind)
{
	switch (kind) {
	case SPREX__FRAME__MSG_PING:
	case SPREX__FRAME__MSG_PONG:
	case SPREX__FRAME__MSG_GOAWAY:
	case SPREX__FRAME__MSG_ERROR:
		return 1;
	case SPREX__FRAME__MSG_SUBSCRIBE:
	case SPREX__FRAME__MSG_ACK:
	case SPREX__FRAME__MSG_NAK:
	case SPREX__FRAME__MSG_REJECT:
	case SPREX__FRAME__MSG_PARKED_QUERY:
		return role == SX_ROLE_VENDOR || role == SX_ROLE_ISP || role == SX_ROLE_ENFORCEMENT;
	case SPREX__FRAME__MSG_NOTICE_ACTION:
		return role == SX_ROLE_ISP;
	case SPREX__FRAME__MSG_AUDIT_QUERY:
		return role == SX_ROLE_AUDITOR;
	case SPREX__FRAME__MSG_SUBMIT:
		return role == SX_ROLE_SUBMITTER;
	default:
		return 0; /* server-to-member frames and anything unknown */
	}
}

int sx_authz_may_subscribe(enum sx_role role, enum sx_feed feed)
{
	switch (role) {
	case SX_ROLE_VENDOR:
		return feed == SX_FEED_ASSOCIATION || feed == SX_FEED_CHAIN;
	case SX_ROLE_ISP:
		return feed == SX_FEED_NOTICES;
	case SX_ROLE_ENFORCEMENT:
		return feed == SX_FEED_ENFORCEMENT;
	default:
		return 0; /* auditors, submitters and unknown roles receive nothing */
	}
}

/* Monitor reports go to every feed that takes reports; a public report only
 * where its reporter consented to that use. Chain mail is its own feed. */
static int consented(const struct sx_authz_report *r, unsigned bit)
{
	if (r->source == SX_SRC_MONITOR)
		return 1;
	return r->source == SX_SRC_PUBLIC && (r->consent & bit) != 0;
}

int sx_authz_may_receive(const struct sx_member *m, enum sx_feed feed,
			 const struct sx_authz_report *r)
{
	if (m == NULL || r == NULL)
		return 0;
	if (m->state != SX_MEMBER_ACTIVE)
		return 0;
	if (!sx_authz_may_subscribe(m->role, feed))
		return 0;
	if (r->state != SX_REPORT_READY)
		return 0;
	switch (feed) {
	case SX_FEED_ASSOCIATION:
		return consented(r, SX_CONSENT_ASSOCIATION);
	case SX_FEED_CHAIN:
		return r->source == SX_SRC_CHAIN;
	case SX_FEED_NOTICES:
		/* isp 0 means "no ISP found": it must never match a member. */
		return consented(r, SX_CONSENT_ISP) && r->isp != 0 && r->isp == m->id;
	case SX_FEED_ENFORCEMENT:
		return consented(r, SX_CONSENT_ENFORCEMENT) && r->flags != 0;
	default:
		return 0;
	}
}

int sx_authz_may_act(const struct sx_member *m, int sent_to_m)
{
	if (m == NULL)
		return 0;
	return m->state == SX_MEMBER_ACTIVE && m->role == SX_ROLE_ISP && sent_to_m != 0;
}

static const struct {
	enum sx_feed feed;
	const char *name;
} feed_names[] = {
	{ SX_FEED_ASSOCIATION, "association" },
	{ SX_FEED_NOTICES, "notices" },
	{ SX_FEED_ENFORCEMENT, "enforcement" },
	{ SX_FEED_CHAIN, "chain" },
};

const char *sx_feed_name(enum sx_feed f)
{
	for (size_t i = 0; i < sizeof feed_names / sizeof feed_names[0]; i++)
		if (feed_names[i].feed == f)
			return feed_names[i].name;
	return NULL;
}

enum sx_feed sx_feed_parse(const char *s)
{
	if (s == NULL)
		return SX_FEED_NONE;
	for (size_t i = 0; i < sizeof feed_names / sizeof feed_names[0]; i++)
		if (strcmp(feed_names[i].name, s) == 0)
			return feed_names[i].feed;
	return SX_FEED_NONE;
}
