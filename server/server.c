#include "server.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "log.h"
#include "audit_sign.h"
#include "feed_impl.h"
#include "session.h"

static void build_tls_opts(const struct sx_srvconf *cf, struct sx_tls_opts *o)
{
	o->cert = cf->tls_cert;
	o->key = cf->tls_key;
	o->ca = cf->tls_ca;
	o->crl = cf->tls_crl;
}

static int crl_stat(const struct sx_srvconf *cf, struct timespec *mtime)
{
	struct stat st;
	if (!cf->tls_crl || stat(cf->tls_crl, &st) < 0)
		return -1;
	*mtime = st.st_mtim;
	return 0;
}

/* nextUpdate of the CRL at path, or 0 when it cannot be read. */
static time_t crl_next_update(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	time_t t = 0;
	struct tm tm;
	const ASN1_TIME *next = crl ? X509_CRL_get0_nextUpdate(crl) : NULL;
	if (next && ASN1_TIME_to_tm(next, &tm) == 1)
		t = timegm(&tm);
	X509_CRL_free(crl);
	ERR_clear_error();
	return t;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct sx_server *s = listener->data;
	if (status < 0) {
		sx_log_warn("accept: %s", uv_strerror(status));
		return;
	}
	sx_session_accept(s, listener);
}

static int bind_one(struct sx_server *s, const struct sx_listen *l, const struct sockaddr *sa,
		    char *err, size_t errlen)
{
	if (s->nlisteners == SX_LISTENERS_MAX) {
		snprintf(err, errlen, "listen %s:%u: too many addresses", l->host, l->port);
		return SX_ECONFIG;
	}
	uv_tcp_t *t = &s->listeners[s->nlisteners];
	uv_tcp_init(s->loop, t);
	t->data = s;
	s->nlisteners++;
	int rc = uv_tcp_bind(t, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)t, 511, on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "listen %s:%u: %s", l->host, l->port, uv_strerror(rc));
		return SX_EIO;
	}
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";
	uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len);
	int port;
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		sx_log_info("listening on [%s]:%d", host, port);
	} else {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		sx_log_info("listening on %s:%d", host, port);
	}
	return 0;
}

static int bind_all(struct sx_server *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->conf->nlisten; i++) {
		const struct sx_listen *l = &s->conf->listen[i];
		struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
					  .ai_socktype = SOCK_STREAM };
		struct addrinfo *res;
		char port[8];
		snprintf(port, sizeof port, "%u", l->port);
		int g = getaddrinfo(l->host, port, &hints, &res);
		if (g != 0) {
			snprintf(err, errlen, "listen %s:%u: %s", l->host, l->port, gai_strerror(g));
			return SX_ECONFIG;
		}
		int rc = 0;
		for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next)
			rc = bind_one(s, l, ai->ai_addr, err, errlen);
		freeaddrinfo(res);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void close_cb(uv_handle_t *h)
{
	struct sx_server *s = h->data;
	s->handles_open--;
}

static void close_handle(struct sx_server *s, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return;
	h->data = s;
	s->handles_open++;
	uv_close(h, close_cb);
}

static void close_listeners(struct sx_server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		close_handle(s, (uv_handle_t *)&s->listeners[i]);
}

int sx_server_init(struct sx_server *s, uv_loop_t *loop, const struct sx_srvconf *conf, char *err,
		   size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->conf = conf;
	s->crl_ok = 1;
	struct sx_tls_opts o;
	build_tls_opts(conf, &o);
	int rc = sx_tlsctx_server(&o, &s->tls, err, errlen);
	if (rc < 0)
		return SX_ECONFIG;
	crl_stat(conf, &s->crl_mtime);
	if (conf->tls_crl)
		s->crl_next_update = crl_next_update(conf->tls_crl);
	rc = sx_store_open(conf->db, 0, &s->store, err, errlen);
	if (rc < 0)
		goto fail;
	rc = sx_members_load(s->store, &s->members);
	if (rc == 0)
		rc = sx_store_data_version(s->store, &s->data_version);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read members: %s", conf->db,
			 sx_store_errmsg(s->store));
		goto fail;
	}
	rc = sx_intake_init(&s->intake, s->store, conf, err, errlen);
	if (rc < 0)
		goto fail;
	s->intake_ready = 1;
	char keypath[4096];
	const char *kp = conf->audit_key;
	if (!kp && sx_audit_key_path(conf->db, keypath, sizeof keypath) == 0)
		kp = keypath;
	rc = kp ? sx_audit_key_load(kp, &s->audit_key, err, errlen) : SX_ECONFIG;
	if (rc < 0) {
		rc = SX_ECONFIG;
		goto fail;
	}
	rc = sx_feed_init(&s->feed, s, err, errlen);
	if (rc < 0)
		goto fail;
	s->feed_ready = 1;
	rc = bind_all(s, err, errlen);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	close_listeners(s);
	/* Let the listeners' close callbacks run so the loop can be closed. */
	uv_run(loop, UV_RUN_DEFAULT);
	if (s->feed_ready)
		sx_feed_finish(&s->feed);
	EVP_PKEY_free(s->audit_key);
	if (s->intake_ready)
		sx_intake_finish(&s->intake);
	sx_members_destroy(s->members);
	sx_store_close(s->store);
	SSL_CTX_free(s->tls);
	memset(s, 0, sizeof *s);
	return rc == SX_EIO ? SX_EIO : rc == SX_EDB ? SX_EDB : SX_ECONFIG;
}

/* Applies the new member snapshot to live sessions: suspended and removed
 * members are told and closed. */
static void apply_members(struct sx_server *s)
{
	for (struct sx_session *ss = s->sessions, *next; ss; ss = next) {
		next = ss->next;
		if (ss->state != SX_SESSION_HELLO && ss->state != SX_SESSION_READY)
			continue;
		const struct sx_member *m = sx_members_by_id(s->members, ss->member.id);
		if (!m) {
			sx_log_info("session %llu: member %s was removed; closing",
				    (unsigned long long)ss->id, ss->member.name);
			sx_session_goaway(ss, SPREX__GO_AWAY_REASON__GOAWAY_REMOVED, 0,
					  "member removed by the operator");
		} else if (m->state == SX_MEMBER_SUSPENDED) {
			sx_log_info("session %llu: member %s was suspended; closing",
				    (unsigned long long)ss->id, ss->member.name);
			sx_session_goaway(ss, SPREX__GO_AWAY_REASON__GOAWAY_SUSPENDED, 0,
					  "member suspended by the operator");
		} else {
			ss->member = *m;
		}
	}
}

/* Fail-closed: with no usable CRL nobody may stay, since nobody can be shown
 * not to be revoked. */
static void close_all_sessions(struct sx_server *s, Sprex__GoAwayReason reason, const char *why)
{
	for (struct sx_session *ss = s->sessions, *next; ss; ss = next) {
		next = ss->next;
		if (ss->state != SX_SESSION_CLOSING)
			sx_session_goaway(ss, reason, 0, why);
	}
}

/* A changed CRL file gives a new TLS context; live sessions whose
 * certificate it lists are closed. A CRL that becomes missing, unparsable or
 * expired refuses every handshake and closes every session. */
static void check_crl(struct sx_server *s)
{
	struct timespec mt = { 0, 0 };
	int present = crl_stat(s->conf, &mt) == 0;
	int same = mt.tv_sec == s->crl_mtime.tv_sec && mt.tv_nsec == s->crl_mtime.tv_nsec;
	int expired = s->crl_ok && s->crl_next_update && time(NULL) >= s->crl_next_update;
	if (same && !expired)
		return; /* unchanged file, unchanged verdict */
	s->crl_mtime = mt;
	struct sx_tls_opts o;
	build_tls_opts(s->conf, &o);
	SSL_CTX *ctx;
	char err[256];
	if (!present || sx_tlsctx_server(&o, &ctx, err, sizeof err) < 0) {
		if (!present)
			snprintf(err, sizeof err, "tls_crl %s: missing", s->conf->tls_crl);
		if (s->crl_ok) {
			sx_log_err("CRL unusable, refusing every handshake and closing every "
				   "session until fixed: %s", err);
			close_all_sessions(s, SPREX__GO_AWAY_REASON__GOAWAY_REVOKED,
					   "the server's CRL is unusable");
		}
		s->crl_ok = 0;
		return;
	}
	SSL_CTX_free(s->tls);
	s->tls = ctx;
	s->crl_next_update = crl_next_update(s->conf->tls_crl);
	if (!s->crl_ok)
		sx_log_info("CRL usable again; accepting handshakes");
	else
		sx_log_info("CRL %s reloaded", s->conf->tls_crl);
	s->crl_ok = 1;
	for (struct sx_session *ss = s->sessions, *next; ss; ss = next) {
		next = ss->next;
		struct sx_conn *c = sx_peer_conn(ss->peer);
		X509 *cert = c ? SSL_get0_peer_certificate(sx_conn_ssl(c)) : NULL;
		if (ss->state == SX_SESSION_CLOSING || !cert)
			continue;
		if (sx_tls_cert_revoked(cert, s->conf->tls_crl) != 0) {
			sx_log_info("session %llu: certificate of %s revoked; closing",
				    (unsigned long long)ss->id, ss->member.name);
			sx_session_goaway(ss, SPREX__GO_AWAY_REASON__GOAWAY_REVOKED, 0,
					  "certificate revoked");
		}
	}
}

static void reload_now(struct sx_server *s);

static void reload_cb(uv_timer_t *t)
{
	struct sx_server *s = t->data;
	reload_now(s);
}

static void reload_now(struct sx_server *s)
{
	if (s->conf->tls_crl)
		check_crl(s);
	uint64_t v;
	if (sx_store_data_version(s->store, &v) < 0 || v == s->data_version)
		return;
	struct sx_members *m;
	int rc = sx_members_load(s->store, &m);
	if (rc < 0) {
		/* Busy store: try again next tick; the old snapshot stays. */
		sx_log_warn("member reload failed (%s), retrying", sx_store_errmsg(s->store));
		return;
	}
	s->data_version = v;
	sx_members_destroy(s->members);
	s->members = m;
	sx_log_debug("member registry reloaded: %zu active or suspended members",
		     sx_members_count(m));
	if (sx_intake_reload_isps(&s->intake, s->store) < 0)
		sx_log_warn("ISP prefix table not rebuilt (%s); the previous one stays",
			    sx_store_errmsg(s->store));
	apply_members(s);
	sx_feed_changed(&s->feed);
}

/* A signed checkpoint of the audit log, when it grew. */
static void checkpoint_now(struct sx_server *s)
{
	int rc = sx_audit_checkpoint(s->store, s->audit_key, NULL, sx_feed_now(), NULL, 0);
	if (rc < 0 && rc != SX_EAGAIN)
		sx_log_err("audit checkpoint failed: %s", sx_store_errmsg(s->store));
}

static void checkpoint_cb(uv_timer_t *t)
{
	struct sx_server *s = t->data;
	/* What the write-behind holds belongs in this checkpoint. */
	sx_feed_flush(&s->feed);
	checkpoint_now(s);
}

static void maybe_done(struct sx_server *s)
{
	if (!s->stopping || s->nsessions > 0)
		return;
	uv_timer_stop(&s->stop_timer);
	close_handle(s, (uv_handle_t *)&s->stop_timer);
	close_handle(s, (uv_handle_t *)&s->reload_timer);
	close_handle(s, (uv_handle_t *)&s->sig_term);
	close_handle(s, (uv_handle_t *)&s->sig_int);
	close_handle(s, (uv_handle_t *)&s->sig_hup);
	close_handle(s, (uv_handle_t *)&s->checkpoint_timer);
	sx_submits_close(&s->submits, close_handle);
	sx_feed_stop(&s->feed);
	checkpoint_now(s); /* the last records of this run are signed */
}

static void stop_timer_cb(uv_timer_t *t)
{
	struct sx_server *s = t->data;
	sx_log_warn("shutdown: %zu sessions still open after %llu ms; closing them",
		    s->nsessions, (unsigned long long)s->conf->shutdown_timeout_ms);
	for (struct sx_session *ss = s->sessions, *next; ss; ss = next) {
		next = ss->next;
		sx_session_abort(ss, "shutdown deadline passed");
	}
}

void sx_server_stop(struct sx_server *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	sx_log_info("shutting down: no new connections, GoAway to %zu sessions", s->nsessions);
	close_listeners(s);
	for (struct sx_session *ss = s->sessions, *next; ss; ss = next) {
		next = ss->next;
		sx_session_goaway(ss, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN, 5000,
				  "server shutting down");
	}
	uv_timer_start(&s->stop_timer, stop_timer_cb, s->conf->shutdown_timeout_ms, 0);
	maybe_done(s);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct sx_server *s = h->data;
	if (signum == SIGHUP) {
		/* Members and the CRL are reread anyway; HUP just does it now
		 * (and must not kill the server, as its default action would). */
		sx_log_info("received SIGHUP: rereading the member registry and CRL now");
		s->data_version = 0;
		reload_now(s);
		return;
	}
	sx_log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	sx_server_stop(s);
}

int sx_server_start(struct sx_server *s)
{
	uv_timer_init(s->loop, &s->reload_timer);
	uv_timer_init(s->loop, &s->checkpoint_timer);
	s->checkpoint_timer.data = s;
	uv_timer_start(&s->checkpoint_timer, checkpoint_cb, s->conf->audit_checkpoint_ms,
		       s->conf->audit_checkpoint_ms);
	uv_timer_init(s->loop, &s->stop_timer);
	uv_signal_init(s->loop, &s->sig_term);
	uv_signal_init(s->loop, &s->sig_int);
	uv_signal_init(s->loop, &s->sig_hup);
	s->reload_timer.data = s->stop_timer.data = s;
	s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
	uv_timer_start(&s->reload_timer, reload_cb, s->conf->reload_interval_ms,
		       s->conf->reload_interval_ms);
	uv_signal_start(&s->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&s->sig_int, signal_cb, SIGINT);
	uv_signal_start(&s->sig_hup, signal_cb, SIGHUP);
	sx_feed_start(&s->feed);
	sx_submits_start(&s->submits, s);
	return 0;
}

void sx_server_finish(struct sx_server *s)
{
	EVP_PKEY_free(s->audit_key);
	s->audit_key = NULL;
	if (s->feed_ready)
		sx_feed_finish(&s->feed);
	s->feed_ready = 0;
	if (s->intake_ready)
		sx_intake_finish(&s->intake);
	s->intake_ready = 0;
	sx_members_destroy(s->members);
	sx_store_close(s->store);
	SSL_CTX_free(s->tls);
	s->members = NULL;
	s->store = NULL;
	s->tls = NULL;
}

void sx_server_session_add(struct sx_server *s, struct sx_session *ss)
{
	ss->prev = NULL;
	ss->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = ss;
	s->sessions = ss;
	s->nsessions++;
}

void sx_server_session_remove(struct sx_server *s, struct sx_session *ss)
{
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	s->nsessions--;
	maybe_done(s);
}
