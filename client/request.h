/*
 * request.h: one request over a fresh session, for the agent's one-shot
 * subcommands (parked, action): connect, Hello/Welcome, send, wait for the
 * answer, close.
 */
#ifndef SX_REQUEST_H
#define SX_REQUEST_H

#include <openssl/ssl.h>

#include "agentconf.h"
#include "frame.h"

/* Called for each frame answering the request (same id, or an Error about
 * it). Returns -1 to wait for more, else the command's exit status. */
typedef int (*sx_request_fn)(void *ctx, const Sprex__Frame *f);

/*
 * Sends req (its id is set here) and feeds the answers to fn. Returns fn's
 * exit status, EX_NOPERM when the server refused the session, or
 * EX_TEMPFAIL when the session ended before an answer (safe to retry: the
 * requests are idempotent).
 */
int sx_request_run(const struct sx_agentconf *conf, SSL_CTX *tls, Sprex__Frame *req,
		   sx_request_fn fn, void *ctx);

#endif
