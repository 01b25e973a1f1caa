/*
 * fanout-sprex: the fan-out workload of bench/fanout.sh against sprexd.
 * Every session is a real sprex client: a context from sx_tlsctx_client
 * (TLS 1.3, ALPN sprex/1, client certificate), an sx_peer on libuv, Hello ->
 * Welcome. All subscribers share one event loop in one process.
 *
 *   fanout-sprex --write-mail DIR --count N
 *       Writes N copies of the benchmark mail (distinct Message-IDs) to DIR,
 *       for `sprexctl ingest --source monitor --maildir`.
 *
 *   fanout-sprex CONN --probe
 *       One vendor session sends Subscribe; prints "subscribe ok" and exits
 *       0 on Subscribed, prints "subscribe_error code=NAME message=..." and
 *       exits 3 when the server answers Error (a server without the
 *       subscription engine answers INVALID "not served").
 *
 *   fanout-sprex CONN --throughput --count N --subs M [--tag T]
 *       M vendor sessions (member certificates from --sub-certs FMT) each
 *       Subscribe{name tp-T, feed ASSOCIATION, start earliest, window W} to
 *       the N reports already in the store, and ack what they receive:
 *       consecutive seqs of one read burst become one Ack range, sent from a
 *       uv_check handle after the loop has handled the burst. The clock runs
 *       from the first connect until every subscriber has N deliveries.
 *
 *   fanout-sprex CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]
 *       M vendor sessions Subscribe{name lat-T, start new_only}; then a
 *       publisher process (forked before any loop exists; a submitter member,
 *       --pub-cert/--pub-key) sends Submit{source MONITOR} at R per second for
 *       S seconds, at most --inflight unanswered, each mail stamped with its
 *       send time in X-Bench-Sent. Subscribers record Deliver time minus
 *       send time: ingest (pipeline + commit) to delivery.
 *
 *   fanout-sprex CONN --publish-only --rate R --seconds S
 *       The publisher alone: how many Submits per second this server takes.
 *
 *   CONN is --connect HOST:PORT --ca PEM --sub-certs FMT
 *   [--pub-cert PEM --pub-key PEM] [--window W] [--inflight K] [--host NAME];
 *   FMT holds one %d, replaced by 1..M, and names PEM files without their
 *   extension: FMT.pem, FMT.key (for example pki/sub%d).
 *
 * Exit status: 0 measured; 1 the run failed; 2 usage or setup error;
 * 3 the server refused Subscribe (nothing measured).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "fanout_common.h"
#include "frame.h"
#include "netaddr.h"
#include "peer.h"
#include "tlsctx.h"

#define PROG "fanout-sprex"
#define AGENT "fanout-sprex/" SPREX_VERSION
#define MAX_FRAME (4u * 1024u * 1024u)
#define HEARTBEAT_MS 30000u
#define RANGES_MAX 64
#define EXIT_REFUSED 3

struct cfg {
	const char *connect, *host, *ca, *sub_certs, *pub_cert, *pub_key, *tag, *write_dir;
	int probe, throughput, latency, publish_only;
	int subs, window, inflight;
	long count, rate, seconds, drain;
	struct sockaddr_storage addr;
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static const struct sx_conn_opts conn_opts = {
	.out_high = 4u << 20,
	.out_low = 1u << 20,
	.handshake_ms = 30000,
	.linger_ms = 2000,
};

static SSL_CTX *client_ctx(const struct cfg *c, const char *cert, const char *key)
{
	SSL_CTX *ctx = NULL;
	char err[512];
	struct sx_tls_opts o = { cert, key, c->ca, NULL };
	if (sx_tlsctx_client(&o, &ctx, err, sizeof err) < 0)
		die("%s", err);
	return ctx;
}

static int send_hello(struct sx_peer *p)
{
	uint32_t versions[] = { SX_PROTO_VERSION };
	Sprex__Hello h = SPREX__HELLO__INIT;
	h.n_versions = 1;
	h.versions = versions;
	h.max_frame = MAX_FRAME;
	h.heartbeat_ms = HEARTBEAT_MS;
	h.agent = AGENT;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_HELLO;
	f.hello = &h;
	return sx_peer_send(p, &f);
}

/* ----------------------------------------------------------- subscribers */

struct subs;

struct sub {
	struct subs *all;
	int idx;
	struct sx_peer *peer;
	SSL_CTX *tls;
	uint32_t sub_id;
	int subscribed, closed;
	long got;             /* first deliveries */
	long redelivered;
	uint64_t max_seq;
	/* Acks to send at the end of this loop turn. */
	Sprex__SeqRange ranges[RANGES_MAX];
	Sprex__SeqRange *rptr[RANGES_MAX];
	size_t nranges;
	struct sub *next_dirty;
	int dirty;
};

struct subs {
	const struct cfg *c;
	uv_loop_t loop;
	struct sub *s;
	int n;
	const char *name;
	int new_only;
	long expect;          /* per subscriber; -1 while unknown */
	long nsubscribed, done, deliveries, acks_sent, ack_frames;
	int refused, failed, stopping;
	char why[SX_PEER_WHY_MAX + 128];
	struct sub *dirty;
	uv_check_t check;
	uv_timer_t timer;
	struct fanout_lat lat;
	int record;
	/* latency: the publisher process */
	int go_fd, res_fd;
	pid_t pub_pid;
	char pub_res[512];
	size_t pub_res_len;
	int pub_done;
	uint64_t deadline;
	uint64_t t0, t_end;
};

static void stop_all(struct subs *a);

static void fail(struct subs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct subs *a, const char *fmt, ...)
{
	if (!a->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->why, sizeof a->why, fmt, ap);
		va_end(ap);
	}
	a->failed = 1;
	stop_all(a);
}

static void flush_acks(struct sub *s)
{
	if (s->nranges == 0 || !s->peer)
		return;
	Sprex__Ack ack = SPREX__ACK__INIT;
	ack.sub_id = s->sub_id;
	ack.n_ranges = s->nranges;
	ack.ranges = s->rptr;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_ACK;
	f.ack = &ack;
	int rc = sx_peer_send(s->peer, &f);
	if (rc < 0 && rc != SX_ECLOSED)
		fail(s->all, "subscriber %d: cannot send Ack: %s", s->idx, sx_strerror(rc));
	for (size_t i = 0; i < s->nranges; i++)
		s->all->acks_sent += (long)(s->ranges[i].last - s->ranges[i].first + 1);
	s->all->ack_frames++;
	s->nranges = 0;
}

static void note_ack(struct sub *s, uint64_t seq)
{
	if (s->nranges > 0 && s->ranges[s->nranges - 1].last + 1 == seq) {
		s->ranges[s->nranges - 1].last = seq;
	} else {
		if (s->nranges == RANGES_MAX)
			flush_acks(s);
		Sprex__SeqRange *r = &s->ranges[s->nranges];
		sprex__seq_range__init(r);
		r->first = r->last = seq;
		s->rptr[s->nranges++] = r;
	}
	if (!s->dirty) {
		s->dirty = 1;
		s->next_dirty = s->all->dirty;
		s->all->dirty = s;
	}
}

/* After the loop has handled a turn's reads: one Ack per subscriber. */
static void on_check(uv_check_t *h)
{
	struct subs *a = h->data;
	struct sub *s = a->dirty;
	a->dirty = NULL;
	while (s) {
		struct sub *next = s->next_dirty;
		s->dirty = 0;
		s->next_dirty = NULL;
		flush_acks(s);
		s = next;
	}
}

static void maybe_finish(struct subs *a)
{
	if (a->expect >= 0 && a->done >= a->n && !a->stopping) {
		a->t_end = fanout_now_ns();
		on_check(&a->check); /* the last acks */
		stop_all(a);
	}
}

static void send_subscribe(struct sub *s)
{
	struct subs *a = s->all;
	Sprex__Start st = SPREX__START__INIT;
	if (a->new_only) {
		st.at_case = SPREX__START__AT_NEW_ONLY;
		st.new_only = 1;
	} else {
		st.at_case = SPREX__START__AT_EARLIEST;
		st.earliest = 1;
	}
	Sprex__Subscribe sb = SPREX__SUBSCRIBE__INIT;
	sb.name = (char *)a->name;
	sb.feed = SPREX__FEED__FEED_ASSOCIATION;
	sb.start = &st;
	sb.window_count = (uint32_t)a->c->window;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = (uint64_t)s->idx + 1;
	f.msg_case = SPREX__FRAME__MSG_SUBSCRIBE;
	f.subscribe = &sb;
	int rc = sx_peer_send(s->peer, &f);
	if (rc < 0)
		fail(a, "subscriber %d: cannot send Subscribe: %s", s->idx, sx_strerror(rc));
}

static void sub_open(struct sx_peer *p)
{
	struct sub *s = sx_peer_udata(p);
	int rc = send_hello(p);
	if (rc < 0)
		fail(s->all, "subscriber %d: cannot send Hello: %s", s->idx, sx_strerror(rc));
}

static void on_deliver(struct sub *s, const Sprex__Deliver *d)
{
	struct subs *a = s->all;
	if (d->sub_id != s->sub_id) {
		fail(a, "subscriber %d: Deliver for sub_id %u, not %u", s->idx, d->sub_id,
		     s->sub_id);
		return;
	}
	note_ack(s, d->seq);
	/* A redelivery says so in delivery_count; without it, a seq at or
	 * below the highest seen is taken for one. */
	if (d->delivery_count > 1 || (d->delivery_count == 0 && d->seq <= s->max_seq)) {
		s->redelivered++;
		return;
	}
	if (d->seq > s->max_seq)
		s->max_seq = d->seq;
	/* Throughput counts the first N (seqs 1..N); reports stored after them
	 * (the Submit runs) are acked but not counted. */
	if (a->expect >= 0 && s->got >= a->expect)
		return;
	a->deliveries++;
	if (a->record) {
		uint64_t sent = fanout_sent_ns(d->raw_mail.data, d->raw_mail.len);
		if (sent)
			fanout_lat_add(&a->lat, sent, fanout_now_ns());
	}
	if (++s->got == a->expect) {
		a->done++;
		maybe_finish(a);
	}
}

static void sub_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct sub *s = sx_peer_udata(p);
	struct subs *a = s->all;
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_WELCOME:
		if (f->welcome->role != SPREX__ROLE__ROLE_VENDOR) {
			fail(a, "subscriber %d: member %s is not a vendor", s->idx,
			     f->welcome->member);
			return;
		}
		sx_peer_negotiated(p, f->welcome->max_frame, f->welcome->heartbeat_ms);
		send_subscribe(s);
		return;
	case SPREX__FRAME__MSG_SUBSCRIBED:
		s->sub_id = f->subscribed->sub_id;
		s->subscribed = 1;
		a->nsubscribed++;
		return;
	case SPREX__FRAME__MSG_DELIVER:
		on_deliver(s, f->deliver);
		return;
	case SPREX__FRAME__MSG_ERROR:
		if (!s->subscribed && f->id == (uint64_t)s->idx + 1) {
			if (!a->refused)
				snprintf(a->why, sizeof a->why, "code=%s message=%s",
					 sx_error_name(f->error->code),
					 f->error->message ? f->error->message : "");
			a->refused = 1;
			stop_all(a);
			return;
		}
		fail(a, "subscriber %d: server sent Error %s: %s", s->idx,
		     sx_error_name(f->error->code), f->error->message ? f->error->message : "");
		return;
	case SPREX__FRAME__MSG_GOAWAY:
		fail(a, "subscriber %d: server sent GoAway %s: %s", s->idx,
		     sx_goaway_name(f->goaway->reason), f->goaway->message ? f->goaway->message : "");
		return;
	default:
		/* Heartbeat (subscription state), Gap, Parked: nothing to do. */
		return;
	}
}

static void sub_close(struct sx_peer *p, int reason, const char *why)
{
	struct sub *s = sx_peer_udata(p);
	struct subs *a = s->all;
	s->peer = NULL;
	s->closed = 1;
	if (!a->stopping)
		fail(a, "subscriber %d: session ended: %s: %s", s->idx, sx_strerror(reason), why);
}

static const struct sx_peer_cbs sub_cbs = {
	.on_open = sub_open,
	.on_frame = sub_frame,
	.on_close = sub_close,
};

static void stop_all(struct subs *a)
{
	if (a->stopping)
		return;
	a->stopping = 1;
	for (int i = 0; i < a->n; i++)
		if (a->s[i].peer && !sx_peer_closing(a->s[i].peer))
			sx_peer_close(a->s[i].peer, 0, "benchmark done");
	if (!uv_is_closing((uv_handle_t *)&a->check))
		uv_close((uv_handle_t *)&a->check, NULL);
	if (!uv_is_closing((uv_handle_t *)&a->timer))
		uv_close((uv_handle_t *)&a->timer, NULL);
}

static void start_subs(struct subs *a)
{
	const struct cfg *c = a->c;
	char cert[4096], key[4096];
	const char *pct = strstr(c->sub_certs, "%d");
	a->s = calloc((size_t)a->n, sizeof *a->s);
	if (!a->s)
		die("out of memory");
	a->t0 = fanout_now_ns();
	for (int i = 0; i < a->n; i++) {
		struct sub *s = &a->s[i];
		s->all = a;
		s->idx = i;
		/* FMT with its %d replaced by i + 1. */
		int pl = (int)(pct - c->sub_certs);
		snprintf(cert, sizeof cert, "%.*s%d%s.pem", pl, c->sub_certs, i + 1, pct + 2);
		snprintf(key, sizeof key, "%.*s%d%s.key", pl, c->sub_certs, i + 1, pct + 2);
		s->tls = client_ctx(c, cert, key);
		int rc = sx_peer_create(&a->loop, s->tls, 0, c->host, &conn_opts, &sub_cbs, s,
					&s->peer);
		if (rc < 0)
			die("cannot create a session: %s", sx_strerror(rc));
		sx_conn_connect(sx_peer_conn(s->peer), (const struct sockaddr *)&c->addr);
	}
}

static void init_subs(struct subs *a, const struct cfg *c, int n, const char *name,
		      int new_only, long expect)
{
	memset(a, 0, sizeof *a);
	a->c = c;
	a->n = n;
	a->name = name;
	a->new_only = new_only;
	a->expect = expect;
	a->go_fd = a->res_fd = -1;
	uv_loop_init(&a->loop);
	uv_check_init(&a->loop, &a->check);
	a->check.data = a;
	uv_check_start(&a->check, on_check);
	uv_timer_init(&a->loop, &a->timer);
	a->timer.data = a;
}

static void free_subs(struct subs *a)
{
	uv_run(&a->loop, UV_RUN_DEFAULT);
	uv_loop_close(&a->loop);
	for (int i = 0; i < a->n; i++)
		SSL_CTX_free(a->s[i].tls);
	free(a->s);
}

/* A deadline for the whole run, checked every 100 ms. */
static void on_deadline_tick(uv_timer_t *t)
{
	struct subs *a = t->data;
	if (a->deadline && fanout_now_ns() > a->deadline)
		fail(a, "timed out: %ld of %ld deliveries", a->deliveries,
		     a->expect >= 0 ? a->expect * a->n : -1L);
}

static int run_probe(const struct cfg *c)
{
	struct subs a;
	init_subs(&a, c, 1, "fanout-probe", 1, -1);
	a.deadline = fanout_now_ns() + 20000000000u;
	uv_timer_start(&a.timer, on_deadline_tick, 100, 100);
	start_subs(&a);
	/* Subscribed ends the probe too. */
	while (!a.stopping && a.nsubscribed == 0)
		uv_run(&a.loop, UV_RUN_ONCE);
	stop_all(&a);
	free_subs(&a);
	if (a.refused) {
		printf("subscribe_error %s\n", a.why);
		return EXIT_REFUSED;
	}
	if (a.failed && a.nsubscribed == 0) {
		fprintf(stderr, PROG ": probe: %s\n", a.why);
		return 1;
	}
	printf("subscribe ok\n");
	return 0;
}

static int run_throughput(const struct cfg *c)
{
	char name[128];
	snprintf(name, sizeof name, "tp-%s", c->tag);
	struct subs a;
	init_subs(&a, c, c->subs, name, 0, c->count);
	a.deadline = fanout_now_ns() + 300000000000u;
	uv_timer_start(&a.timer, on_deadline_tick, 100, 100);
	double cpu0 = fanout_cpu_seconds();
	start_subs(&a);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	double cpu = fanout_cpu_seconds() - cpu0;
	long redelivered = 0;
	for (int i = 0; i < a.n; i++)
		redelivered += a.s[i].redelivered;
	free_subs(&a);
	if (a.refused) {
		printf("subscribe_error %s\n", a.why);
		return EXIT_REFUSED;
	}
	double secs = (double)((a.t_end ? a.t_end : fanout_now_ns()) - a.t0) / 1e9;
	printf("result mode=throughput subs=%d count=%ld deliveries=%ld expected=%ld seconds=%.3f "
	       "rate=%.1f redelivered=%ld acked=%ld ack_frames=%ld client_cpu_s=%.2f\n",
	       a.n, c->count, a.deliveries, (long)a.n * c->count, secs,
	       (double)a.deliveries / secs, redelivered, a.acks_sent, a.ack_frames, cpu);
	if (a.failed) {
		fprintf(stderr, PROG ": %s\n", a.why);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- publisher */

struct pub {
	const struct cfg *c;
	uv_loop_t loop;
	SSL_CTX *tls;
	struct sx_peer *peer;
	uv_timer_t timer;
	struct fanout_mail mail;
	int ready, stopping, failed;
	long total, sent, answered, accepted, quarantined, errors, behind;
	uint64_t t0, t_last;
	char why[SX_PEER_WHY_MAX + 128];
};

static void pub_stop(struct pub *p, const char *why)
{
	if (p->stopping)
		return;
	p->stopping = 1;
	if (why && !p->why[0])
		snprintf(p->why, sizeof p->why, "%s", why);
	if (p->peer && !sx_peer_closing(p->peer))
		sx_peer_close(p->peer, 0, "publisher done");
	if (!uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, NULL);
}

static void pub_send_due(struct pub *p)
{
	const struct cfg *c = p->c;
	uint64_t now = fanout_now_ns();
	/* A fixed duration: a server slower than the rate gets fewer reports. */
	if (now >= p->t0 + (uint64_t)c->seconds * 1000000000u)
		p->total = p->sent;
	while (p->sent < p->total && p->sent - p->answered < c->inflight) {
		uint64_t due = p->t0 + (uint64_t)((double)p->sent * 1e9 / (double)c->rate);
		if (due > now)
			break;
		if (now > due + 10000000u)
			p->behind++;
		char id[64];
		snprintf(id, sizeof id, "fanout-%s-%ld", c->tag, p->sent);
		fanout_mail_stamp(&p->mail, (uint64_t)p->sent, now);
		Sprex__Submit sm = SPREX__SUBMIT__INIT;
		sm.client_msg_id = id;
		sm.source = SPREX__SOURCE__SOURCE_MONITOR;
		sm.raw_mail.data = (uint8_t *)p->mail.buf;
		sm.raw_mail.len = p->mail.len;
		Sprex__Frame f = SPREX__FRAME__INIT;
		f.id = (uint64_t)p->sent + 1;
		f.msg_case = SPREX__FRAME__MSG_SUBMIT;
		f.submit = &sm;
		int rc = sx_peer_send(p->peer, &f);
		if (rc < 0) {
			p->failed = 1;
			pub_stop(p, "cannot send Submit");
			return;
		}
		p->sent++;
		p->t_last = now;
		now = fanout_now_ns();
	}
	if (p->sent == p->total && p->answered == p->sent)
		pub_stop(p, NULL);
}

static void pub_tick(uv_timer_t *t)
{
	pub_send_due(t->data);
}

static void pub_open(struct sx_peer *peer)
{
	struct pub *p = sx_peer_udata(peer);
	if (send_hello(peer) < 0) {
		p->failed = 1;
		pub_stop(p, "cannot send Hello");
	}
}

static void pub_frame(struct sx_peer *peer, const Sprex__Frame *f)
{
	struct pub *p = sx_peer_udata(peer);
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_WELCOME:
		if (f->welcome->role != SPREX__ROLE__ROLE_SUBMITTER) {
			p->failed = 1;
			pub_stop(p, "the publisher's member is not a submitter");
			return;
		}
		sx_peer_negotiated(peer, f->welcome->max_frame, f->welcome->heartbeat_ms);
		p->ready = 1;
		return;
	case SPREX__FRAME__MSG_SUBMITTED:
		p->answered++;
		if (f->submitted->quarantined)
			p->quarantined++;
		else
			p->accepted++;
		pub_send_due(p);
		return;
	case SPREX__FRAME__MSG_ERROR:
		p->answered++;
		p->errors++;
		if (!p->why[0])
			snprintf(p->why, sizeof p->why, "Error %s: %s", sx_error_name(f->error->code),
				 f->error->message ? f->error->message : "");
		pub_send_due(p);
		return;
	case SPREX__FRAME__MSG_GOAWAY:
		p->failed = 1;
		pub_stop(p, "server sent GoAway");
		return;
	default:
		return;
	}
}

static void pub_close(struct sx_peer *peer, int reason, const char *why)
{
	struct pub *p = sx_peer_udata(peer);
	p->peer = NULL;
	if (!p->stopping) {
		p->failed = 1;
		snprintf(p->why, sizeof p->why, "session ended: %s: %s", sx_strerror(reason), why);
		pub_stop(p, NULL);
	}
}

static const struct sx_peer_cbs pub_cbs = {
	.on_open = pub_open,
	.on_frame = pub_frame,
	.on_close = pub_close,
};

/* Connects, waits for Welcome, then for a byte (or end of file) on go_fd
 * when there is one, then paces the Submits. Writes one line of results. */
static int run_publisher(const struct cfg *c, int go_fd, FILE *out)
{
	struct pub *p = calloc(1, sizeof *p);
	if (!p || fanout_mail_init(&p->mail) < 0)
		die("out of memory");
	p->c = c;
	p->total = c->rate * c->seconds;
	p->tls = client_ctx(c, c->pub_cert, c->pub_key);
	uv_loop_init(&p->loop);
	uv_timer_init(&p->loop, &p->timer);
	p->timer.data = p;
	int rc = sx_peer_create(&p->loop, p->tls, 0, c->host, &conn_opts, &pub_cbs, p, &p->peer);
	if (rc < 0)
		die("cannot create a session: %s", sx_strerror(rc));
	sx_conn_connect(sx_peer_conn(p->peer), (const struct sockaddr *)&c->addr);
	while (!p->ready && !p->stopping)
		uv_run(&p->loop, UV_RUN_ONCE);
	int go = 1;
	if (p->ready && go_fd >= 0) {
		char b;
		ssize_t n;
		while ((n = read(go_fd, &b, 1)) < 0 && errno == EINTR)
			;
		go = n == 1;
	}
	double cpu0 = fanout_cpu_seconds();
	if (p->ready && go) {
		p->t0 = fanout_now_ns();
		uv_timer_start(&p->timer, pub_tick, 0, 1);
	} else {
		pub_stop(p, go ? NULL : "no go from the subscribers");
	}
	uv_run(&p->loop, UV_RUN_DEFAULT);
	uv_loop_close(&p->loop);
	double secs = (double)(p->t_last - p->t0) / 1e9;
	fprintf(out,
		"publisher sent=%ld accepted=%ld quarantined=%ld errors=%ld send_seconds=%.3f "
		"send_rate=%.1f late_sends=%ld pub_cpu_s=%.2f failed=%d\n",
		p->sent, p->accepted, p->quarantined, p->errors, secs,
		secs > 0 ? (double)(p->sent - 1) / secs : 0.0, p->behind,
		fanout_cpu_seconds() - cpu0, p->failed);
	fflush(out);
	if (p->why[0])
		fprintf(stderr, PROG ": publisher: %s\n", p->why);
	int failed = p->failed || !p->ready;
	SSL_CTX_free(p->tls);
	fanout_mail_free(&p->mail);
	free(p);
	return failed ? 1 : 0;
}

/* --------------------------------------------------------------- latency */

static long field(const char *line, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, " %s=", key);
	const char *p = strstr(line, k);
	return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

/* Reads the publisher's result line as it comes; then the expected count
 * per subscriber is known. */
static void on_lat_tick(uv_timer_t *t)
{
	struct subs *a = t->data;
	if (!a->pub_done && a->res_fd >= 0) {
		ssize_t n = read(a->res_fd, a->pub_res + a->pub_res_len,
				 sizeof a->pub_res - 1 - a->pub_res_len);
		if (n > 0) {
			a->pub_res_len += (size_t)n;
			a->pub_res[a->pub_res_len] = '\0';
		}
		if (n == 0 || strchr(a->pub_res, '\n')) {
			a->pub_done = 1;
			long acc = field(a->pub_res, "accepted");
			if (acc < 0) {
				fail(a, "the publisher failed");
				return;
			}
			a->expect = acc;
			for (int i = 0; i < a->n; i++)
				if (a->s[i].got >= acc)
					a->done++;
			a->deadline = fanout_now_ns() + (uint64_t)a->c->drain * 1000000000u;
			maybe_finish(a);
		}
	}
	if (!a->stopping)
		on_deadline_tick(t);
}

static int run_latency(const struct cfg *c)
{
	int go[2], res[2];
	if (pipe(go) < 0 || pipe(res) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(go[1]);
		close(res[0]);
		FILE *out = fdopen(res[1], "w");
		if (!out)
			_exit(2);
		int rc = run_publisher(c, go[0], out);
		fclose(out);
		_exit(rc);
	}
	close(go[0]);
	close(res[1]);
	fcntl(res[0], F_SETFL, fcntl(res[0], F_GETFL) | O_NONBLOCK);

	char name[128];
	snprintf(name, sizeof name, "lat-%s", c->tag);
	struct subs a;
	init_subs(&a, c, c->subs, name, 1, -1);
	a.record = 1;
	a.go_fd = go[1];
	a.res_fd = res[0];
	a.pub_pid = pid;
	if (fanout_lat_init(&a.lat, (size_t)(c->rate * c->seconds) * (size_t)c->subs) < 0)
		die("out of memory");
	a.deadline = fanout_now_ns() + 60000000000u; /* until every Subscribed */
	uv_timer_start(&a.timer, on_deadline_tick, 100, 100);
	start_subs(&a);
	while (!a.stopping && a.nsubscribed < a.n)
		uv_run(&a.loop, UV_RUN_ONCE);
	double cpu0 = fanout_cpu_seconds();
	if (!a.stopping) {
		/* Everyone is attached: the publisher may start. */
		if (write(go[1], "g", 1) != 1)
			fail(&a, "cannot start the publisher");
		uv_timer_stop(&a.timer);
		a.deadline = fanout_now_ns() + (uint64_t)(c->seconds + 60) * 1000000000u;
		uv_timer_start(&a.timer, on_lat_tick, 50, 50);
		uv_run(&a.loop, UV_RUN_DEFAULT);
	}
	close(go[1]);
	double cpu = fanout_cpu_seconds() - cpu0;
	free_subs(&a);
	/* The publisher's line, if it has not been read yet. */
	fcntl(res[0], F_SETFL, fcntl(res[0], F_GETFL) & ~O_NONBLOCK);
	while (!strchr(a.pub_res, '\n') && a.pub_res_len < sizeof a.pub_res - 1) {
		ssize_t n = read(res[0], a.pub_res + a.pub_res_len,
				 sizeof a.pub_res - 1 - a.pub_res_len);
		if (n <= 0)
			break;
		a.pub_res_len += (size_t)n;
		a.pub_res[a.pub_res_len] = '\0';
	}
	close(res[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (a.refused) {
		printf("subscribe_error %s\n", a.why);
		fanout_lat_free(&a.lat);
		return EXIT_REFUSED;
	}
	long sent = field(a.pub_res, "sent"), acc = field(a.pub_res, "accepted");
	char *nl = strchr(a.pub_res, '\n');
	if (nl)
		*nl = '\0';
	printf("%s\n", a.pub_res);
	long expected = acc > 0 ? acc * a.n : 0;
	const char *tail = strstr(a.pub_res, "send_seconds");
	char prefix[1024];
	snprintf(prefix, sizeof prefix,
		 "result mode=latency subs=%d sent=%ld accepted=%ld deliveries=%ld expected=%ld "
		 "lost=%ld acked=%ld ack_frames=%ld client_cpu_s=%.2f %s",
		 a.n, sent, acc, a.deliveries, expected, expected - a.deliveries, a.acks_sent,
		 a.ack_frames, cpu, tail ? tail : "");
	fanout_lat_print(&a.lat, prefix);
	fanout_lat_free(&a.lat);
	if (a.failed)
		fprintf(stderr, PROG ": %s\n", a.why);
	return a.failed || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ? 1 : 0;
}

/* ------------------------------------------------------------ write-mail */

static int write_mail(const struct cfg *c)
{
	struct fanout_mail m;
	if (fanout_mail_init(&m) < 0)
		die("out of memory");
	char path[4096];
	for (long i = 0; i < c->count; i++) {
		fanout_mail_stamp(&m, (uint64_t)i, 0);
		snprintf(path, sizeof path, "%s/%08ld.eml", c->write_dir, i);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(m.buf, 1, m.len, f) != m.len || fclose(f) != 0)
			die("cannot write %s: %s", path, strerror(errno));
	}
	printf("wrote count=%ld bytes_each=%zu\n", c->count, m.len);
	fanout_mail_free(&m);
	return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --write-mail DIR --count N\n"
		"       " PROG " CONN --probe\n"
		"       " PROG " CONN --throughput --count N --subs M [--tag T]\n"
		"       " PROG " CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]\n"
		"       " PROG " CONN --publish-only --rate R --seconds S [--tag T]\n"
		"  CONN: --connect HOST:PORT --ca PEM --sub-certs FMT [--pub-cert PEM --pub-key PEM]\n"
		"        [--window W] [--inflight K] [--host NAME]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "host", required_argument, NULL, 'H' },
		{ "ca", required_argument, NULL, 'a' },
		{ "sub-certs", required_argument, NULL, 'S' },
		{ "pub-cert", required_argument, NULL, 'c' },
		{ "pub-key", required_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 'T' },
		{ "window", required_argument, NULL, 'w' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "write-mail", required_argument, NULL, 'W' },
		{ "probe", no_argument, NULL, 'p' },
		{ "throughput", no_argument, NULL, 't' },
		{ "latency", no_argument, NULL, 'l' },
		{ "publish-only", no_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "subs", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "drain", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg c = { .host = "localhost", .tag = "0", .subs = 1, .window = 100,
			 .inflight = 64, .count = 1000, .rate = 1000, .seconds = 10, .drain = 10 };
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'C': c.connect = optarg; break;
		case 'H': c.host = optarg; break;
		case 'a': c.ca = optarg; break;
		case 'S': c.sub_certs = optarg; break;
		case 'c': c.pub_cert = optarg; break;
		case 'k': c.pub_key = optarg; break;
		case 'T': c.tag = optarg; break;
		case 'w': c.window = (int)fanout_parse_long(PROG, "--window", optarg, 1); break;
		case 'i': c.inflight = (int)fanout_parse_long(PROG, "--inflight", optarg, 1); break;
		case 'W': c.write_dir = optarg; break;
		case 'p': c.probe = 1; break;
		case 't': c.throughput = 1; break;
		case 'l': c.latency = 1; break;
		case 'o': c.publish_only = 1; break;
		case 'n': c.count = fanout_parse_long(PROG, "--count", optarg, 1); break;
		case 'm': c.subs = (int)fanout_parse_long(PROG, "--subs", optarg, 1); break;
		case 'r': c.rate = fanout_parse_long(PROG, "--rate", optarg, 1); break;
		case 's': c.seconds = fanout_parse_long(PROG, "--seconds", optarg, 1); break;
		case 'd': c.drain = fanout_parse_long(PROG, "--drain", optarg, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || c.subs > 10000) {
		usage(stderr);
		return 2;
	}
	if (c.write_dir)
		return write_mail(&c);
	if (c.probe + c.throughput + c.latency + c.publish_only != 1 || !c.connect || !c.ca) {
		usage(stderr);
		return 2;
	}
	if ((c.probe || c.throughput || c.latency) &&
	    (!c.sub_certs || !strstr(c.sub_certs, "%d") || strchr(strstr(c.sub_certs, "%d") + 2, '%')))
		die("--sub-certs wants a pattern with one %%d, e.g. pki/sub%%d");
	if ((c.latency || c.publish_only) && (!c.pub_cert || !c.pub_key))
		die("--latency and --publish-only need --pub-cert and --pub-key");
	char host[SX_HOST_MAX];
	uint16_t port;
	if (sx_hostport_parse(c.connect, host, sizeof host, &port) < 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&c.addr) != 0 &&
	     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&c.addr) != 0))
		die("--connect wants an IP address and port, not \"%s\"", c.connect);
	signal(SIGPIPE, SIG_IGN);
	if (c.probe)
		return run_probe(&c);
	if (c.throughput)
		return run_throughput(&c);
	if (c.latency)
		return run_latency(&c);
	return run_publisher(&c, -1, stdout);
}
