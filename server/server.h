/*
 * server.h: sprexd's process-wide state: listeners, sessions, the member
 * snapshot, the TLS context, and the timers that notice operator changes.
 */
#ifndef SX_SERVER_H
#define SX_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <uv.h>

#include "feed.h"
#include "intake.h"
#include "members.h"
#include "srvconf.h"
#include "store.h"
#include "submit.h"
#include "tlsctx.h"

#define SX_LISTENERS_MAX (SX_LISTEN_MAX * 4) /* a name may resolve to several addresses */
#define SX_SERVER_NAME "sprexd/" SPREX_VERSION

struct sx_session;

struct sx_server {
	uv_loop_t *loop;
	const struct sx_srvconf *conf;
	struct sx_store *store;
	SSL_CTX *tls;                 /* current context; sessions hold their own reference */
	int crl_ok;                   /* 0: the configured CRL is unusable, refuse everyone */
	struct timespec crl_mtime;
	struct sx_members *members;
	struct sx_intake_ctx intake;  /* pipeline settings and the ISP prefix table */
	int intake_ready;
	struct sx_feeds feed;          /* subscriptions and delivery */
	struct sx_submits submits;     /* Submit frames in progress */
	int feed_ready;
	uint64_t data_version;
	uv_tcp_t listeners[SX_LISTENERS_MAX];
	size_t nlisteners;
	uv_timer_t reload_timer;
	uv_timer_t checkpoint_timer;  /* signs audit checkpoints */
	EVP_PKEY *audit_key;
	uv_timer_t stop_timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	time_t crl_next_update;       /* the loaded CRL's nextUpdate */
	struct sx_session *sessions;  /* doubly linked */
	size_t nsessions;
	uint64_t next_session_id;
	int stopping;
	int handles_open;             /* server-owned handles not yet closed */
};

/*
 * Opens the store, builds the TLS context and binds every listen address.
 * On failure everything opened is released and err holds one line; returns
 * SX_ECONFIG (a file or value in the configuration is unusable), SX_EIO
 * (bind failed), SX_EDB.
 */
int sx_server_init(struct sx_server *s, uv_loop_t *loop, const struct sx_srvconf *conf, char *err,
		   size_t errlen);
/* Starts accepting, the reload timer and the signal handlers. */
int sx_server_start(struct sx_server *s);
/* Stops accepting, sends GoAway to every session and closes them, bounded
 * by shutdown_timeout. The loop ends when everything is closed. */
void sx_server_stop(struct sx_server *s);
/* Releases what init acquired; call after the loop has ended. */
void sx_server_finish(struct sx_server *s);

/* Session bookkeeping, used by session.c. */
void sx_server_session_add(struct sx_server *s, struct sx_session *ss);
void sx_server_session_remove(struct sx_server *s, struct sx_session *ss);

#endif
