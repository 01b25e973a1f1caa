#include "request.h"

#include <stdio.h>
#include <sysexits.h>

#include "agentconn.h"
#include "log.h"

#define REQUEST_ID 1

struct request {
	Sprex__Frame *req;
	sx_request_fn fn;
	void *ctx;
	int status;                /* -1 until answered */
};

static void on_ready(struct sx_agentconn *ac, const Sprex__Welcome *w)
{
	struct request *r = sx_agentconn_udata(ac);
	(void)w;
	r->req->id = REQUEST_ID;
	if (sx_agentconn_send(ac, r->req) < 0)
		sx_agentconn_stop(ac, "request not sent");
}

static void on_frame(struct sx_agentconn *ac, const Sprex__Frame *f)
{
	struct request *r = sx_agentconn_udata(ac);
	if (f->id != REQUEST_ID || r->status >= 0)
		return; /* heartbeats and the like */
	int st = r->fn(r->ctx, f);
	if (st >= 0) {
		r->status = st;
		sx_agentconn_stop(ac, "request answered");
	}
}

static void on_close(struct sx_agentconn *ac, int ready, int refused, uint32_t retry_after_ms,
		     const char *why)
{
	struct request *r = sx_agentconn_udata(ac);
	(void)ready;
	(void)retry_after_ms;
	if (r->status < 0) {
		fprintf(stderr, "sprex-agent: no answer: %s\n", why);
		r->status = refused ? EX_NOPERM : EX_TEMPFAIL;
	}
}

static const struct sx_agentconn_cbs request_cbs = {
	.on_ready = on_ready,
	.on_frame = on_frame,
	.on_close = on_close,
};

int sx_request_run(const struct sx_agentconf *conf, SSL_CTX *tls, Sprex__Frame *req,
		   sx_request_fn fn, void *ctx)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct request r = { .req = req, .fn = fn, .ctx = ctx, .status = -1 };
	struct sx_agentconn *ac;
	if (sx_agentconn_start(&loop, tls, conf, &request_cbs, &r, &ac) < 0) {
		fprintf(stderr, "sprex-agent: cannot start a connection\n");
		r.status = EX_OSERR;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return r.status;
}
