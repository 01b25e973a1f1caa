/*
 * authz.h: the one policy module. Every path that reads or sends data asks
 * it; nothing else in sprexd decides who may see or do what (DESIGN §1).
 */
#ifndef SX_AUTHZ_H
#define SX_AUTHZ_H

#include "frame.h"
#include "store.h"

/*
 * May a member of role send a frame of this kind once authenticated? Session
 * frames (Ping, Pong, GoAway, Error) are always allowed; the rest follow the
 * "may send" column: vendors and enforcement bodies acks (and subscriptions),
 * ISPs also notice actions, auditors queries, submitters reports.
 */
int sx_authz_may_send(enum sx_role role, Sprex__Frame__MsgCase kind);

#endif
