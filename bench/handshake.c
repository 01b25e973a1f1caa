/*
 * handshake-load: a load generator for bench/handshake.sh. It is a real sprex
 * client: the context comes from sx_tlsctx_client (TLS 1.3 only, ALPN
 * sprex/1, client certificate, server verified against the CA and the host
 * name), and each session is an sx_peer on libuv, the stack sprex-agent uses.
 *
 *   handshake-load CONN --handshakes N [--concurrency C] [--procs P]
 *       N sessions, each a new TCP connection, a full handshake (the server has
 *       no session cache and no tickets), Hello -> Welcome, then close_notify.
 *       C sessions in flight at a time, spread over P processes (lib/conn.c
 *       reads into process-wide buffers, so one loop per process, not per
 *       thread). Prints "negotiated ..." (what the first session agreed) and
 *       "result ok=... rate=..." on stdout.
 *
 *   handshake-load CONN --idle N [--concurrency C]
 *       Opens N sessions (C at a time), completes Hello -> Welcome on each,
 *       prints "ready ok=N failed=F", keeps them open and idle (Pings are
 *       answered by sx_peer), and closes them in order once stdin reaches end
 *       of file or SIGTERM/SIGINT arrives. Prints "closed ... lost=L", where L
 *       counts sessions the server ended while they were meant to be idle.
 *
 *   handshake-load --keygen GROUP [--seconds S]
 *       Key-share generation rate for GROUP (X25519, X448, prime256v1, ...),
 *       done as libssl does it for TLS 1.3 (a fresh EVP_PKEY_CTX per key).
 *       openssl speed times ECDH derivation only, so the script takes the
 *       keygen half of each key exchange from here.
 *
 *   handshake-load --inproc N --server-cert PEM --server-key PEM --cert PEM
 *                  --key PEM --ca PEM [--host NAME]
 *       N handshakes between a server and a client engine (lib/tlse) in this
 *       process, over memory, with the contexts sprexd and the agent build.
 *       Prints the CPU time each side spent per handshake: what OpenSSL alone
 *       costs, without sockets, libuv, framing or Hello/Welcome. With
 *       --prebuilt-chain both contexts get SSL_CTX_build_cert_chain(NO_ROOT)
 *       first: what lib/tlsctx.c would save by not letting OpenSSL rebuild
 *       (X509_verify_cert) and send the chain, root included, per handshake.
 *
 *   CONN is --connect HOST:PORT --cert PEM --key PEM --ca PEM [--host NAME];
 *   NAME (default localhost) is what the server certificate must name.
 *
 * Exit status: 0 when every session succeeded, 1 when some failed, 2 on
 * usage or setup errors.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "err.h"
#include "frame.h"
#include "netaddr.h"
#include "peer.h"
#include "tlsctx.h"
#include "tlse.h"

#define AGENT_NAME "handshake-load/" SPREX_VERSION
/* Heartbeat proposed in Hello: the server takes the slower of its own and
 * ours, so idle sessions exchange nothing during a measurement. */
#define IDLE_HEARTBEAT_MS 600000u
#define MAX_PROCS 64
#define INFO_MAX 512

struct cfg {
	const char *connect, *host, *cert, *key, *ca, *keygen, *server_cert, *server_key;
	long handshakes, idle, inproc;
	int concurrency, procs, prebuilt_chain;
	double seconds;
	struct sockaddr_storage addr;
};

/* What one process reports to the parent, followed by ok latencies. */
struct report {
	long ok, failed;
	double t_start, t_end;  /* CLOCK_MONOTONIC, shared by all processes */
	double cpu;             /* this process's user + system seconds */
	char info[INFO_MAX];    /* negotiated parameters of the first session */
	char err[SX_PEER_WHY_MAX + 64]; /* first failure */
};

struct load;

struct slot {
	struct slot *next, *prev;
	struct load *l;
	struct sx_peer *peer;
	uint64_t t0;            /* uv_hrtime at connect */
	int welcomed;
};

struct load {
	const struct cfg *cfg;
	uv_loop_t loop;
	SSL_CTX *tls;
	struct sx_conn_opts opts;
	int idle;               /* keep sessions open after Welcome */
	long todo;              /* sessions still to start */
	long active;
	long lost;              /* idle sessions the server ended */
	int stopping;
	int ready;              /* "ready" was printed */
	struct slot *slots;     /* open sessions, for the idle close */
	float *lat;             /* ms, one per ok session */
	struct report r;
	uv_signal_t sig_term, sig_int;
	uv_async_t eof;         /* stdin reached end of file */
};

/* The stdin watcher may return from read(2) after the loop is gone: it sends
 * only while eof_async is set, under the lock. */
static pthread_mutex_t eof_lock = PTHREAD_MUTEX_INITIALIZER;
static uv_async_t *eof_async;

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void note_error(struct load *l, const char *what, const char *why)
{
	if (l->r.err[0] == '\0')
		snprintf(l->r.err, sizeof l->r.err, "%s: %s", what, why);
}

/* "EC:prime256v1", "ED25519", ... for a certificate's key. */
static void key_name(X509 *x, char *out, size_t len)
{
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	char group[64] = "";
	size_t glen = 0;
	if (!k) {
		snprintf(out, len, "none");
		return;
	}
	if (EVP_PKEY_get_group_name(k, group, sizeof group, &glen) == 1)
		snprintf(out, len, "%s:%s", EVP_PKEY_get0_type_name(k), group);
	else
		snprintf(out, len, "%s:%d", EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k));
	ERR_clear_error();
}

/* What the handshake agreed, from the client's side: enough to choose the
 * matching openssl speed algorithms. */
static void describe(SSL *ssl, char *out, size_t len)
{
	int group = SSL_get_negotiated_group(ssl);
	int sig_type = NID_undef, sig_md = NID_undef;
	char skey[80], ckey[80];
	SSL_get_peer_signature_type_nid(ssl, &sig_type);
	SSL_get_peer_signature_nid(ssl, &sig_md);
	key_name(SSL_get0_peer_certificate(ssl), skey, sizeof skey);
	key_name(SSL_get_certificate(ssl), ckey, sizeof ckey);
	const char *gname = group > 0 ? OBJ_nid2sn(group) : NULL;
	const char *sig = sig_type == EVP_PKEY_EC ? "ecdsa" : sig_type == EVP_PKEY_RSA_PSS
			  ? "rsa_pss" : OBJ_nid2sn(sig_type);
	snprintf(out, len,
		 "version=%s cipher=%s group=%s server_sig=%s+%s server_key=%s client_key=%s",
		 SSL_get_version(ssl), SSL_get_cipher_name(ssl), gname ? gname : "unknown",
		 sig, OBJ_nid2sn(sig_md), skey, ckey);
	ERR_clear_error();
}

static void start_one(struct load *l);
static void maybe_ready(struct load *l);

static void send_hello(struct sx_peer *p)
{
	struct slot *s = sx_peer_udata(p);
	uint32_t versions[] = { SX_PROTO_VERSION };
	Sprex__Hello h = SPREX__HELLO__INIT;
	h.n_versions = 1;
	h.versions = versions;
	h.max_frame = SX_FRAME_MIN_MAX;
	h.heartbeat_ms = IDLE_HEARTBEAT_MS;
	h.agent = AGENT_NAME;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_HELLO;
	f.hello = &h;
	if (s->l->r.info[0] == '\0')
		describe(sx_conn_ssl(sx_peer_conn(p)), s->l->r.info, sizeof s->l->r.info);
	int rc = sx_peer_send(p, &f);
	if (rc < 0)
		sx_peer_close(p, rc, "cannot send hello");
}

static void on_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct slot *s = sx_peer_udata(p);
	struct load *l = s->l;
	if (f->msg_case == SPREX__FRAME__MSG_WELCOME && !s->welcomed) {
		s->welcomed = 1;
		l->lat[l->r.ok++] = (float)((double)(uv_hrtime() - s->t0) / 1e6);
		if (l->idle && !l->stopping) {
			/* This one stays open: the next handshake takes its turn. */
			sx_peer_negotiated(p, f->welcome->max_frame, f->welcome->heartbeat_ms);
			if (l->todo > 0)
				start_one(l);
			maybe_ready(l);
			return;
		}
		sx_peer_close(p, 0, "done");
		return;
	}
	if (f->msg_case == SPREX__FRAME__MSG_ERROR) {
		char why[SX_PEER_WHY_MAX];
		snprintf(why, sizeof why, "server sent error %s: %s",
			 sx_error_name(f->error->code), f->error->message ? f->error->message : "");
		sx_peer_close(p, SX_EPERM, why);
		return;
	}
	if (f->msg_case == SPREX__FRAME__MSG_GOAWAY) {
		sx_peer_close(p, 0, "server sent goaway");
		return;
	}
	/* Nothing else is expected of an idle member. */
}

static void finish_idle_stop(struct load *l)
{
	if (l->active > 0)
		return;
	uv_close((uv_handle_t *)&l->sig_term, NULL);
	uv_close((uv_handle_t *)&l->sig_int, NULL);
	pthread_mutex_lock(&eof_lock);
	eof_async = NULL;
	uv_close((uv_handle_t *)&l->eof, NULL);
	pthread_mutex_unlock(&eof_lock);
}

/* Idle sessions are ready once each one is welcomed or has failed. */
static void maybe_ready(struct load *l)
{
	if (!l->idle || l->ready || l->stopping || l->r.ok + l->r.failed < l->cfg->idle)
		return;
	l->ready = 1;
	l->r.t_end = mono_now();
	printf("ready ok=%ld failed=%ld seconds=%.3f\n", l->r.ok, l->r.failed,
	       l->r.t_end - l->r.t_start);
	fflush(stdout);
	if (l->r.failed > 0)
		fprintf(stderr, "handshake-load: %ld sessions failed; first: %s\n", l->r.failed,
			l->r.err);
}

static void on_close(struct sx_peer *p, int reason, const char *why)
{
	struct slot *s = sx_peer_udata(p);
	struct load *l = s->l;
	int welcomed = s->welcomed;
	if (!welcomed) {
		l->r.failed++;
		note_error(l, sx_strerror(reason), why);
	} else if (l->idle && !l->stopping) {
		l->lost++;
		note_error(l, "idle session ended", why);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		l->slots = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
	l->active--;
	if (l->stopping) {
		finish_idle_stop(l);
		return;
	}
	if (l->todo > 0)
		start_one(l);
	maybe_ready(l);
}

static const struct sx_peer_cbs load_cbs = {
	.on_open = send_hello,
	.on_frame = on_frame,
	.on_close = on_close,
};

static void start_one(struct load *l)
{
	struct slot *s = calloc(1, sizeof *s);
	if (!s) {
		l->todo--;
		l->r.failed++;
		note_error(l, "start", "out of memory");
		return;
	}
	s->l = l;
	int rc = sx_peer_create(&l->loop, l->tls, 0, l->cfg->host, &l->opts, &load_cbs, s,
				&s->peer);
	if (rc < 0) {
		free(s);
		l->todo--;
		l->r.failed++;
		note_error(l, "cannot create a session", sx_strerror(rc));
		return;
	}
	l->todo--;
	l->active++;
	s->next = l->slots;
	if (l->slots)
		l->slots->prev = s;
	l->slots = s;
	s->t0 = uv_hrtime();
	/* A failure to connect ends in on_close, which starts the next one. */
	sx_conn_connect(sx_peer_conn(s->peer), (const struct sockaddr *)&l->cfg->addr);
}

/* ------------------------------------------------------------ idle mode */

static void stop_idle(struct load *l)
{
	if (l->stopping)
		return;
	l->stopping = 1;
	l->todo = 0;
	for (struct slot *s = l->slots; s; s = s->next)
		sx_peer_close(s->peer, 0, "load generator stopping");
	finish_idle_stop(l);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	stop_idle(h->data);
}

static void on_eof(uv_async_t *a)
{
	stop_idle(a->data);
}

/* Blocking read of stdin in its own thread: works for pipes, files, FIFOs
 * and terminals alike, which uv_pipe_open does not. */
static void *stdin_watch(void *arg)
{
	(void)arg;
	char buf[256];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	pthread_mutex_lock(&eof_lock);
	if (eof_async)
		uv_async_send(eof_async);
	pthread_mutex_unlock(&eof_lock);
	return NULL;
}

static int run_load(const struct cfg *c, int idle, long n, int concurrency, struct report *out,
		    float **lat_out)
{
	struct load *l = calloc(1, sizeof *l);
	char err[512];
	if (!l)
		return -1;
	l->cfg = c;
	l->idle = idle;
	l->todo = n;
	l->lat = calloc((size_t)(n > 0 ? n : 1), sizeof *l->lat);
	struct sx_tls_opts o = { c->cert, c->key, c->ca, NULL };
	if (!l->lat || sx_tlsctx_client(&o, &l->tls, err, sizeof err) < 0) {
		fprintf(stderr, "handshake-load: %s\n", l->lat ? err : "out of memory");
		free(l->lat);
		free(l);
		return -1;
	}
	l->opts = (struct sx_conn_opts){
		.out_high = 1u << 20,
		.out_low = 256u * 1024u,
		.handshake_ms = 30000,
		.linger_ms = 2000,
	};
	uv_loop_init(&l->loop);
	pthread_t th;
	int have_thread = 0;
	if (idle) {
		uv_signal_init(&l->loop, &l->sig_term);
		uv_signal_init(&l->loop, &l->sig_int);
		uv_async_init(&l->loop, &l->eof, on_eof);
		eof_async = &l->eof;
		l->sig_term.data = l->sig_int.data = l->eof.data = l;
		uv_signal_start(&l->sig_term, on_signal, SIGTERM);
		uv_signal_start(&l->sig_int, on_signal, SIGINT);
	}
	l->r.t_start = mono_now();
	for (int i = 0; i < concurrency && l->todo > 0; i++)
		start_one(l);
	if (idle)
		have_thread = pthread_create(&th, NULL, stdin_watch, NULL) == 0;
	uv_run(&l->loop, UV_RUN_DEFAULT);
	if (!idle)
		l->r.t_end = mono_now();
	if (idle) {
		printf("closed lost=%ld\n", l->lost);
		fflush(stdout);
		if (l->lost > 0)
			fprintf(stderr, "handshake-load: %ld idle sessions ended early; first: %s\n",
				l->lost, l->r.err);
		/* The watcher may still be blocked in read(2); exit takes it. */
		if (have_thread)
			pthread_detach(th);
	}
	uv_loop_close(&l->loop);
	SSL_CTX_free(l->tls);
	l->r.cpu = cpu_seconds(RUSAGE_SELF);
	*out = l->r;
	*lat_out = l->lat;
	long lost = l->lost;
	free(l);
	return out->failed > 0 || lost > 0 ? 1 : 0;
}

/* ------------------------------------------------------- handshake mode */

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static int run_handshakes(const struct cfg *c)
{
	int procs = c->procs;
	if (procs > c->concurrency)
		procs = c->concurrency;
	if (procs > c->handshakes)
		procs = (int)c->handshakes;
	if (procs < 1)
		procs = 1;
	int fds[MAX_PROCS];
	pid_t pids[MAX_PROCS];
	long share[MAX_PROCS];
	fflush(NULL);
	for (int i = 0; i < procs; i++) {
		share[i] = c->handshakes / procs + (i < c->handshakes % procs);
		int conc = c->concurrency / procs + (i < c->concurrency % procs);
		int p[2];
		if (pipe(p) < 0) {
			perror("handshake-load: pipe");
			return 2;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("handshake-load: fork");
			return 2;
		}
		if (pids[i] == 0) {
			close(p[0]);
			struct report r;
			float *lat = NULL;
			int rc = run_load(c, 0, share[i], conc, &r, &lat);
			if (rc < 0)
				_exit(2);
			if (write_all(p[1], &r, sizeof r) < 0 ||
			    write_all(p[1], lat, (size_t)r.ok * sizeof *lat) < 0)
				_exit(2);
			_exit(rc);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	struct report total = { .t_start = 1e300, .t_end = 0 };
	float *lat = calloc((size_t)c->handshakes, sizeof *lat);
	int bad = lat == NULL;
	for (int i = 0; i < procs; i++) {
		struct report r;
		if (bad || read_all(fds[i], &r, sizeof r) < 0 ||
		    read_all(fds[i], lat + total.ok, (size_t)r.ok * sizeof *lat) < 0) {
			bad = 1;
			close(fds[i]);
			continue;
		}
		close(fds[i]);
		total.ok += r.ok;
		total.failed += r.failed;
		total.cpu += r.cpu;
		if (r.t_start < total.t_start)
			total.t_start = r.t_start;
		if (r.t_end > total.t_end)
			total.t_end = r.t_end;
		if (total.info[0] == '\0')
			memcpy(total.info, r.info, sizeof total.info);
		if (total.err[0] == '\0')
			memcpy(total.err, r.err, sizeof total.err);
	}
	for (int i = 0; i < procs; i++) {
		int st;
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) == 2)
			bad = 1;
	}
	if (bad) {
		fprintf(stderr, "handshake-load: a worker process failed\n");
		free(lat);
		return 2;
	}
	double secs = total.t_end - total.t_start;
	qsort(lat, (size_t)total.ok, sizeof *lat, cmp_float);
	double p50 = total.ok ? lat[(size_t)(total.ok - 1) * 50 / 100] : 0;
	double p99 = total.ok ? lat[(size_t)(total.ok - 1) * 99 / 100] : 0;
	free(lat);
	printf("negotiated %s\n", total.info[0] ? total.info : "nothing");
	printf("result ok=%ld failed=%ld seconds=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "procs=%d concurrency=%d client_cpu_us=%.0f\n",
	       total.ok, total.failed, secs, secs > 0 ? (double)total.ok / secs : 0.0, p50, p99,
	       procs, c->concurrency, total.ok ? total.cpu / (double)total.ok * 1e6 : 0.0);
	if (total.failed > 0) {
		fprintf(stderr, "handshake-load: %ld handshakes failed; first: %s\n", total.failed,
			total.err);
		return 1;
	}
	return 0;
}

/* ----------------------------------------------------------- keygen mode */

static EVP_PKEY *keygen_once(const char *group)
{
	int ecx = strcmp(group, "X25519") == 0 || strcmp(group, "X448") == 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, ecx ? group : "EC", NULL);
	EVP_PKEY *k = NULL;
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
	    (ecx || EVP_PKEY_CTX_set_group_name(ctx, group) == 1))
		EVP_PKEY_keygen(ctx, &k);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static double proc_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_keygen(const struct cfg *c)
{
	EVP_PKEY *k = keygen_once(c->keygen);
	if (!k) {
		fprintf(stderr, "handshake-load: cannot generate a %s key\n", c->keygen);
		ERR_print_errors_fp(stderr);
		return 2;
	}
	EVP_PKEY_free(k);
	long n = 0;
	double t0 = proc_cpu(), t;
	do {
		for (int i = 0; i < 64; i++) {
			EVP_PKEY_free(keygen_once(c->keygen));
			n++;
		}
		t = proc_cpu() - t0;
	} while (t < c->seconds);
	printf("keygen group=%s ops=%ld cpu_seconds=%.3f per_s=%.1f\n", c->keygen, n, t,
	       (double)n / t);
	return 0;
}

/* ----------------------------------------------------------- inproc mode */

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Moves what from produced into to; the receiver pays for the copy. */
static int pump(struct sx_tlse *from, struct sx_tlse *to, double *to_cpu)
{
	const uint8_t *p;
	size_t n = sx_tlse_out_peek(from, &p);
	if (n == 0)
		return 0;
	double t = thread_cpu();
	int rc = sx_tlse_feed(to, p, n);
	*to_cpu += thread_cpu() - t;
	sx_tlse_out_consume(from, n);
	return rc;
}

static int run_inproc(const struct cfg *c)
{
	struct sx_tls_opts so = { c->server_cert, c->server_key, c->ca, NULL };
	struct sx_tls_opts co = { c->cert, c->key, c->ca, NULL };
	SSL_CTX *sctx = NULL, *cctx = NULL;
	char err[512];
	if (sx_tlsctx_server(&so, &sctx, err, sizeof err) < 0 ||
	    sx_tlsctx_client(&co, &cctx, err, sizeof err) < 0) {
		fprintf(stderr, "handshake-load: %s\n", err);
		SSL_CTX_free(sctx);
		return 2;
	}
	int flags = SSL_BUILD_CHAIN_FLAG_NO_ROOT | SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR;
	if (c->prebuilt_chain &&
	    (SSL_CTX_build_cert_chain(sctx, flags) <= 0 ||
	     SSL_CTX_build_cert_chain(cctx, flags) <= 0)) {
		fprintf(stderr, "handshake-load: SSL_CTX_build_cert_chain failed\n");
		SSL_CTX_free(sctx);
		SSL_CTX_free(cctx);
		return 2;
	}
	ERR_clear_error();
	double ts = 0, tc = 0, t;
	char info[INFO_MAX] = "";
	int rc = 0;
	for (long i = 0; i < c->inproc && rc == 0; i++) {
		struct sx_tlse *srv = NULL, *cli = NULL;
		t = thread_cpu();
		rc = sx_tlse_create(sctx, 1, NULL, &srv);
		ts += thread_cpu() - t;
		t = thread_cpu();
		if (rc == 0)
			rc = sx_tlse_create(cctx, 0, c->host, &cli);
		tc += thread_cpu() - t;
		int sdone = 0, cdone = 0;
		for (int round = 0; rc == 0 && !(sdone && cdone); round++) {
			if (round == 16) {
				snprintf(err, sizeof err, "handshake did not finish");
				rc = SX_ETLS;
				break;
			}
			t = thread_cpu();
			int r = sx_tlse_handshake(cli);
			tc += thread_cpu() - t;
			if (r < 0) {
				snprintf(err, sizeof err, "client: %s", sx_tlse_errstr(cli));
				rc = r;
				break;
			}
			cdone = r == 1;
			if ((rc = pump(cli, srv, &ts)) < 0)
				break;
			t = thread_cpu();
			r = sx_tlse_handshake(srv);
			ts += thread_cpu() - t;
			if (r < 0) {
				snprintf(err, sizeof err, "server: %s", sx_tlse_errstr(srv));
				rc = r;
				break;
			}
			sdone = r == 1;
			if ((rc = pump(srv, cli, &tc)) < 0)
				break;
		}
		if (rc == 0 && info[0] == '\0')
			describe(sx_tlse_ssl(cli), info, sizeof info);
		t = thread_cpu();
		sx_tlse_destroy(srv);
		ts += thread_cpu() - t;
		t = thread_cpu();
		sx_tlse_destroy(cli);
		tc += thread_cpu() - t;
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	if (rc < 0) {
		fprintf(stderr, "handshake-load: in-process handshake failed: %s\n", err);
		return 1;
	}
	printf("negotiated %s\n", info);
	printf("inproc handshakes=%ld server_us=%.1f client_us=%.1f prebuilt_chain=%d\n",
	       c->inproc, ts / (double)c->inproc * 1e6, tc / (double)c->inproc * 1e6,
	       c->prebuilt_chain);
	return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: handshake-load CONN --handshakes N [--concurrency C] [--procs P]\n"
		"       handshake-load CONN --idle N [--concurrency C]\n"
		"       handshake-load --keygen GROUP [--seconds S]\n"
		"       handshake-load --inproc N --server-cert PEM --server-key PEM "
		"--cert PEM --key PEM --ca PEM [--prebuilt-chain]\n"
		"  CONN: --connect HOST:PORT --cert PEM --key PEM --ca PEM [--host NAME]\n"
		"  --host NAME      name the server certificate must carry (localhost)\n"
		"  --concurrency C  sessions in flight (default 2 x CPUs)\n"
		"  --procs P        client processes for --handshakes (default CPUs - 1, >= 1)\n"
		"  --seconds S      how long --keygen runs, in CPU seconds (3)\n");
}

static long parse_long(const char *s, const char *what, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min) {
		fprintf(stderr, "handshake-load: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

/* Room for n sessions plus the loop's own descriptors. */
static void raise_nofile(long n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)n + 64;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		fprintf(stderr, "handshake-load: warning: open files limited to %llu\n",
			(unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "host", required_argument, NULL, 'H' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "handshakes", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{ "concurrency", required_argument, NULL, 'j' },
		{ "procs", required_argument, NULL, 'p' },
		{ "keygen", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ "inproc", required_argument, NULL, 'I' },
		{ "server-cert", required_argument, NULL, 'S' },
		{ "server-key", required_argument, NULL, 'K' },
		{ "prebuilt-chain", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	/* One core is left to sprexd, whose event loop uses at most one. */
	struct cfg c = { .host = "localhost", .concurrency = (int)(2 * cpus),
			 .procs = cpus > 1 ? (int)cpus - 1 : 1, .seconds = 3.0 };
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': c.connect = optarg; break;
		case 'H': c.host = optarg; break;
		case 'c': c.cert = optarg; break;
		case 'k': c.key = optarg; break;
		case 'a': c.ca = optarg; break;
		case 'n': c.handshakes = parse_long(optarg, "--handshakes", 1); break;
		case 'i': c.idle = parse_long(optarg, "--idle", 1); break;
		case 'j': c.concurrency = (int)parse_long(optarg, "--concurrency", 1); break;
		case 'p': c.procs = (int)parse_long(optarg, "--procs", 1); break;
		case 'g': c.keygen = optarg; break;
		case 's': c.seconds = (double)parse_long(optarg, "--seconds", 1); break;
		case 'I': c.inproc = parse_long(optarg, "--inproc", 1); break;
		case 'S': c.server_cert = optarg; break;
		case 'K': c.server_key = optarg; break;
		case 'B': c.prebuilt_chain = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || c.concurrency > 100000) {
		usage(stderr);
		return 2;
	}
	if (c.procs > MAX_PROCS)
		c.procs = MAX_PROCS;
	if (c.keygen)
		return run_keygen(&c);
	if (c.inproc > 0) {
		if (!c.server_cert || !c.server_key || !c.cert || !c.key || !c.ca) {
			usage(stderr);
			return 2;
		}
		return run_inproc(&c);
	}
	if (!c.connect || !c.cert || !c.key || !c.ca || (c.handshakes > 0) == (c.idle > 0)) {
		usage(stderr);
		return 2;
	}
	char host[SX_HOST_MAX];
	uint16_t port;
	if (sx_hostport_parse(c.connect, host, sizeof host, &port) < 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&c.addr) != 0 &&
	     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&c.addr) != 0)) {
		fprintf(stderr, "handshake-load: --connect wants an IP address and port, not \"%s\"\n",
			c.connect);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (c.handshakes > 0) {
		raise_nofile(c.concurrency);
		return run_handshakes(&c);
	}
	raise_nofile(c.idle);
	struct report r;
	float *lat = NULL;
	int rc = run_load(&c, 1, c.idle, c.concurrency, &r, &lat);
	free(lat);
	return rc < 0 ? 2 : rc;
}
