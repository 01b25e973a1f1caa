/*
 * agentsub.h: the agent's subscriptions at run time. On every session it
 * attaches each configured subscription, hands each delivered report to the
 * subscription's sink on a worker thread (one report at a time per
 * subscription, in delivery order), and answers with Ack, Nak (with backoff)
 * or Reject by the sink's verdict. Only after the sink made the report
 * durable is it acked: killed at any point, the agent loses nothing.
 */
#ifndef SX_AGENTSUB_H
#define SX_AGENTSUB_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agentconf.h"
#include "agentconn.h"
#include "sink.h"

#define SX_AGENT_QUEUE_MAX 100000   /* deliveries queued per subscription (the
				     * server's window keeps it far lower) */

struct sx_agentq;                   /* one queued delivery */

struct sx_agentsubs;

struct sx_agentsub_rt {
	struct sx_agentsubs *owner;
	const struct sx_agentsub *conf;
	struct sx_sink *sink;
	uint32_t sub_id;                /* handle on the current session, 0 if none */
	struct sx_agentq *head, *tail;  /* waiting for the sink */
	size_t queued;
	struct sx_agentq *busy;         /* at the sink now (worker thread) */
	uv_work_t work;
	/* from the latest heartbeat */
	uint64_t last_seq, ack_floor, backlog;
	uint32_t pending;
	int stalled;
	uint64_t stored, rejected, naked;
	unsigned reset_done : 1;        /* reset = yes is sent until the first Subscribed */
	unsigned retry : 1;             /* Subscribe refused for a passing reason */
};

struct sx_agentsubs {
	uv_loop_t *loop;
	const struct sx_agentconf *conf;
	struct sx_agentconn *ac;        /* current session, NULL between sessions */
	uint64_t generation;            /* bumped per session: stale verdicts dropped */
	struct sx_agentsub_rt subs[SX_AGENT_SUBS_MAX];
	size_t n;
};

/* Opens every subscription's sink. Returns 0, or the sink's error with one
 * line in err (nothing left open). */
int sx_agentsubs_init(struct sx_agentsubs *as, uv_loop_t *loop, const struct sx_agentconf *conf,
		      char *err, size_t errlen);
/* Closes the sinks; call after the loop ended (no work in flight). */
void sx_agentsubs_finish(struct sx_agentsubs *as);
/* A session is ready: send Subscribe for each subscription. */
void sx_agentsubs_attach(struct sx_agentsubs *as, struct sx_agentconn *ac);
/* A frame for the subscriptions (Subscribed, Deliver, Heartbeat, Gap,
 * Parked, Error answering a Subscribe). Returns 1 when it was one of those. */
int sx_agentsubs_frame(struct sx_agentsubs *as, const Sprex__Frame *f);
/* Each heartbeat interval: sends again the Subscribes the server refused
 * for a passing reason (store busy, server fault). */
void sx_agentsubs_tick(struct sx_agentsubs *as);
/* The session ended: queued deliveries are dropped (the server redelivers
 * them), a report at the sink finishes but is not answered. */
void sx_agentsubs_detach(struct sx_agentsubs *as);

#endif
