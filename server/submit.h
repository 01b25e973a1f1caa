/*
 * submit.h: Submit frames from submitter members. The pipeline runs on
 * libuv's thread pool, so a report's millisecond of parsing, redaction and
 * leak check never holds up the loop's deliveries; the reports whose runs
 * end together are stored in one transaction (group commit) and each is
 * answered only after that COMMIT.
 */
#ifndef SX_SUBMIT_H
#define SX_SUBMIT_H

#include <stddef.h>
#include <uv.h>

#include "sprex.pb-c.h"

struct sx_server;
struct sx_session;
struct sx_submit;

struct sx_submits {
	struct sx_server *srv;
	uv_idle_t idle;              /* commits what is ready, once per loop turn */
	struct sx_submit *all;       /* every Submit in progress, doubly linked */
	struct sx_submit *ready, *ready_tail; /* runs done, waiting for the commit */
	size_t n;                    /* in progress: at most conf->max_submits */
	int started, closed;
};

/* Prepares q for srv's loop (an idle handle, open until sx_submits_close). */
void sx_submits_start(struct sx_submits *q, struct sx_server *srv);
/* Closes the idle handle with close_handle (the server's, so the loop knows
 * when everything is closed); Submits still running are answered, or dropped
 * with their session, as their runs end. */
void sx_submits_close(struct sx_submits *q, void (*close_handle)(struct sx_server *,
								 uv_handle_t *));
/* Takes Submit request id of session ss: answers it at once (invalid, busy, a
 * known client message id) or queues its pipeline run. */
void sx_submit_handle(struct sx_session *ss, uint64_t id, const Sprex__Submit *m);
/* The session is closing: its Submits in progress are not answered (nor
 * stored: the submitter, which saw no Submitted, sends them again). */
void sx_submits_detach(struct sx_submits *q, struct sx_session *ss);

#endif
