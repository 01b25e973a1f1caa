#include "authz.h"

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
