/*
 * test_conn.c: the libuv transport (conn.h) and the framed session (peer.h)
 * over real TCP on 127.0.0.1 and real TLS (testpki.h), both ends in one
 * process and one loop.
 *
 * Each test builds a world: a loop, a listener on an ephemeral port that
 * accepts one connection into the server end, and a client: an sx_conn, an
 * sx_peer, or a raw libuv client that runs its own sx_tlse. Callbacks only
 * record what happened (counts, reasons, frames, an event sequence number)
 * and call the test's hook; the test body drives the loop with run_until()
 * and asserts reasons and ordering, never durations. world_finish() runs the
 * loop until no handle is left and requires uv_loop_close to succeed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "buf.h"
#include "conn.h"
#include "err.h"
#include "frame.h"
#include "peer.h"
#include "testpki.h"
#include "tlse.h"

#define RX_MAX (2u << 20)       /* plaintext an end keeps */
#define BIG (1u << 20)          /* the large round trip */
#define FLOOD_MAX (64u << 20)   /* give up flooding a peer that never fills up */
#define MAX_FRAMES 32
#define GUARD_MS 30000          /* a stalled test fails instead of hanging */

static struct sx_testpki P;
static SSL_CTX *srv_ctx, *cli_ctx, *oth_ctx;
static uint8_t big[BIG];

/* Prime period, so chunk boundaries never line up with it. */
static uint8_t pat(size_t i)
{
	return (uint8_t)(i % 251u);
}

/* ---- the world ---- */

enum kind { NONE, CONN, PEER };
enum ev { EV_OPEN, EV_DATA, EV_DRAIN, EV_FRAME, EV_TICK };

struct world;

struct seen {                   /* one frame an end received */
	int msg;                /* Sprex__Frame__MsgCase */
	uint64_t val;           /* nonce, code, reason, agent length, max_frame */
	unsigned seq;
};

struct end {
	struct world *w;
	enum kind kind;
	int decode;             /* conn end: parse what arrives as frames */
	struct sx_conn *c;      /* conn end, until on_close */
	struct sx_peer *p;      /* peer end, until on_close */
	size_t opened, drains, ticks, nframes, closes, late, rxn;
	unsigned seq_open, seq_data, seq_drain, seq_close;     /* first of each */
	int reason;
	char why[SX_CONN_ERR_MAX + SX_PEER_WHY_MAX];
	char text[64];          /* message of the last Error or GoAway */
	struct sx_buf rx;       /* plaintext received by a conn end */
	struct sx_fdec dec;
	struct seen frames[MAX_FRAMES];
	void (*hook)(struct end *e, enum ev ev, const void *arg, size_t n);
};

struct raw {                    /* a libuv client without sx_conn */
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct sx_tlse *tls;    /* NULL: plain TCP that never sends */
	int used, hangup, hs, draining, rc;
	size_t closed, got, bad; /* got: plaintext read, bad: bytes unlike pat() */
};

struct world {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t guard, nap;
	struct sockaddr_in addr;
	struct sx_conn_opts sopts, copts;
	enum kind srv_kind;
	int stalled;
	unsigned seq;
	size_t napped, flooded;
	struct end srv, cli;
	struct raw raw;
};

/* Counts an event, notes a callback that came after on_close, and keeps the
 * sequence number of the first event of its kind. */
static unsigned stamp(struct end *e, unsigned *first)
{
	unsigned s = ++e->w->seq;

	if (e->closes > 0)
		e->late++;
	if (first != NULL && *first == 0)
		*first = s;
	return s;
}

static void record_frame(struct end *e, const Sprex__Frame *f)
{
	struct seen *s;

	assert_true(e->nframes < MAX_FRAMES);
	s = &e->frames[e->nframes++];
	s->seq = stamp(e, NULL);
	s->msg = (int)f->msg_case;
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_PING:
		s->val = f->ping->nonce;
		break;
	case SPREX__FRAME__MSG_PONG:
		s->val = f->pong->nonce;
		break;
	case SPREX__FRAME__MSG_HELLO:
		s->val = strlen(f->hello->agent);
		break;
	case SPREX__FRAME__MSG_WELCOME:
		s->val = f->welcome->max_frame;
		break;
	case SPREX__FRAME__MSG_ERROR:
		s->val = (uint64_t)f->error->code;
		snprintf(e->text, sizeof e->text, "%s", f->error->message);
		break;
	case SPREX__FRAME__MSG_GOAWAY:
		s->val = (uint64_t)f->goaway->reason;
		snprintf(e->text, sizeof e->text, "%u %s", f->goaway->retry_after_ms,
			 f->goaway->message);
		break;
	default:
		break;
	}
}

static void hook(struct end *e, enum ev ev, const void *arg, size_t n)
{
	if (e->hook != NULL)
		e->hook(e, ev, arg, n);
}

static void c_open(struct sx_conn *c)
{
	struct end *e = sx_conn_udata(c);

	stamp(e, &e->seq_open);
	e->opened++;
	hook(e, EV_OPEN, NULL, 0);
}

static void c_data(struct sx_conn *c, const uint8_t *p, size_t n)
{
	struct end *e = sx_conn_udata(c);
	const uint8_t *q = p;
	size_t left = n, used;
	Sprex__Frame *f;

	stamp(e, &e->seq_data);
	assert_true(n > 0);
	assert_int_equal(sx_buf_append(&e->rx, p, n), 0);
	e->rxn += n;
	while (e->decode && left > 0) {
		assert_int_equal(sx_fdec_feed(&e->dec, q, left, &used, &f), 0);
		q += used;
		left -= used;
		if (f != NULL)
			record_frame(e, f);
		sx_frame_free(f);
	}
	hook(e, EV_DATA, p, n);
}

static void c_drain(struct sx_conn *c)
{
	struct end *e = sx_conn_udata(c);

	stamp(e, &e->seq_drain);
	e->drains++;
	hook(e, EV_DRAIN, NULL, 0);
}

static void c_close(struct sx_conn *c, int reason)
{
	struct end *e = sx_conn_udata(c);

	stamp(e, &e->seq_close);
	e->closes++;
	e->reason = reason;
	snprintf(e->why, sizeof e->why, "%s", sx_conn_errstr(c));
	e->c = NULL;
}

static const struct sx_conn_cbs conn_cbs = {
	.on_open = c_open,
	.on_data = c_data,
	.on_drain = c_drain,
	.on_close = c_close,
};

static void p_open(struct sx_peer *p)
{
	struct end *e = sx_peer_udata(p);

	stamp(e, &e->seq_open);
	e->opened++;
	hook(e, EV_OPEN, NULL, 0);
}

static void p_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct end *e = sx_peer_udata(p);

	record_frame(e, f);
	hook(e, EV_FRAME, f, 0);
}

static void p_drain(struct sx_peer *p)
{
	struct end *e = sx_peer_udata(p);

	stamp(e, &e->seq_drain);
	e->drains++;
	hook(e, EV_DRAIN, NULL, 0);
}

static void p_tick(struct sx_peer *p)
{
	struct end *e = sx_peer_udata(p);

	stamp(e, NULL);
	e->ticks++;
	hook(e, EV_TICK, NULL, 0);
}

static void p_close(struct sx_peer *p, int reason, const char *why)
{
	struct end *e = sx_peer_udata(p);

	stamp(e, &e->seq_close);
	e->closes++;
	e->reason = reason;
	snprintf(e->why, sizeof e->why, "%s", why);
	e->p = NULL;
}

static const struct sx_peer_cbs peer_cbs = {
	.on_open = p_open,
	.on_frame = p_frame,
	.on_drain = p_drain,
	.on_tick = p_tick,
	.on_close = p_close,
};

/* Creates the end's conn or peer; the caller accepts/starts or connects. */
static struct sx_conn *end_create(struct end *e, enum kind kind, int server, SSL_CTX *ctx)
{
	struct world *w = e->w;
	const struct sx_conn_opts *o = server ? &w->sopts : &w->copts;
	const char *host = server ? NULL : "localhost";

	e->kind = kind;
	if (kind == PEER) {
		assert_int_equal(sx_peer_create(&w->loop, ctx, server, host, o, &peer_cbs, e,
						&e->p), 0);
		return sx_peer_conn(e->p);
	}
	assert_int_equal(sx_conn_create(&w->loop, ctx, server, host, o, &conn_cbs, e, &e->c), 0);
	return e->c;
}

/* One connection per world: accept it into the server end, stop listening. */
static void on_connection(uv_stream_t *l, int status)
{
	struct world *w = l->data;
	struct sx_conn *c;

	assert_int_equal(status, 0);
	c = end_create(&w->srv, w->srv_kind, 1, srv_ctx);
	assert_int_equal(uv_accept(l, (uv_stream_t *)sx_conn_tcp(c)), 0);
	sx_conn_start(c);
	uv_close((uv_handle_t *)l, NULL);
}

static void on_guard(uv_timer_t *t)
{
	struct world *w = t->data;

	w->stalled = 1;
}

static void on_nap(uv_timer_t *t)
{
	struct world *w = t->data;

	w->napped++;
}

static void end_init(struct end *e, struct world *w)
{
	e->w = w;
	sx_buf_init(&e->rx, RX_MAX);
	sx_fdec_init(&e->dec, SX_FRAME_MAX_MAX);
}

static void world_init(struct world *w, enum kind srv_kind)
{
	int len = sizeof w->addr;

	memset(w, 0, sizeof *w);
	w->srv_kind = srv_kind;
	w->sopts = (struct sx_conn_opts){ .out_high = 256u << 10, .out_low = 64u << 10,
					  .handshake_ms = 10000, .linger_ms = 2000 };
	w->copts = w->sopts;
	end_init(&w->srv, w);
	end_init(&w->cli, w);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	assert_int_equal(uv_tcp_init(&w->loop, &w->listener), 0);
	w->listener.data = w;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &w->addr), 0);
	assert_int_equal(uv_tcp_bind(&w->listener, (const struct sockaddr *)&w->addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&w->listener, 8, on_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&w->listener, (struct sockaddr *)&w->addr, &len), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->guard), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->nap), 0);
	w->guard.data = w;
	w->nap.data = w;
	assert_int_equal(uv_timer_start(&w->guard, on_guard, GUARD_MS, 0), 0);
	uv_unref((uv_handle_t *)&w->guard);
}

/* Runs the loop until *counter reaches want. */
static void run_until(struct world *w, const size_t *counter, size_t want)
{
	while (*counter < want) {
		if (w->stalled)
			fail_msg("stalled at %zu, waiting for %zu", *counter, want);
		if (uv_run(&w->loop, UV_RUN_ONCE) == 0 && *counter < want)
			fail_msg("loop ran dry at %zu, waiting for %zu", *counter, want);
	}
}

/* Lets the loop run for a while: what must not happen gets its chance. */
static void nap(struct world *w, uint64_t ms)
{
	size_t n = w->napped;

	assert_int_equal(uv_timer_start(&w->nap, on_nap, ms, 0), 0);
	run_until(w, &w->napped, n + 1);
}

static void client_start(struct world *w, enum kind kind, SSL_CTX *ctx)
{
	sx_conn_connect(end_create(&w->cli, kind, 0, ctx), (const struct sockaddr *)&w->addr);
}

/* Waits for every end to close, then for every handle; checks each on_close
 * ran once with nothing after it, and that no handle is left. */
static void world_finish(struct world *w)
{
	struct end *ends[] = { &w->srv, &w->cli };
	size_t i;

	for (i = 0; i < 2; i++)
		if (ends[i]->kind != NONE)
			run_until(w, &ends[i]->closes, 1);
	if (w->raw.used)
		run_until(w, &w->raw.closed, 1);
	uv_close((uv_handle_t *)&w->guard, NULL);
	uv_close((uv_handle_t *)&w->nap, NULL);
	if (!uv_is_closing((uv_handle_t *)&w->listener))
		uv_close((uv_handle_t *)&w->listener, NULL);
	assert_int_equal(uv_run(&w->loop, UV_RUN_DEFAULT), 0);
	for (i = 0; i < 2; i++) {
		if (ends[i]->kind != NONE) {
			assert_int_equal(ends[i]->closes, 1);
			assert_int_equal(ends[i]->late, 0);
		}
		sx_buf_finish(&ends[i]->rx);
		sx_fdec_finish(&ends[i]->dec);
	}
	if (w->raw.used)
		assert_int_equal(w->raw.closed, 1);
	sx_tlse_destroy(w->raw.tls);
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* ---- a raw client: plain TCP, or TLS through its own engine ---- */

struct raw_write {
	uv_write_t req;
	uint8_t data[];
};

static void raw_written(uv_write_t *req, int status)
{
	free(req);      /* req is the first member */
}

static void raw_closed(uv_handle_t *h)
{
	struct raw *r = h->data;

	r->closed++;
}

/* Sends what the engine produced (a copy, freed when written). */
static void raw_flush(struct raw *r)
{
	const uint8_t *p;
	size_t n = sx_tlse_out_peek(r->tls, &p);
	struct raw_write *wr;
	uv_buf_t b;

	if (n == 0)
		return;
	wr = malloc(sizeof *wr + n);
	assert_non_null(wr);
	memcpy(wr->data, p, n);
	sx_tlse_out_consume(r->tls, n);
	b = uv_buf_init((char *)wr->data, (unsigned)n);
	assert_int_equal(uv_write(&wr->req, (uv_stream_t *)&r->tcp, &b, 1, raw_written), 0);
}

/* Decrypts what was fed, checking it against pat(). */
static void raw_drain(struct raw *r)
{
	static uint8_t buf[16 * 1024];
	size_t got, i;
	int rc;

	while ((rc = sx_tlse_read(r->tls, buf, sizeof buf, &got)) == 0) {
		for (i = 0; i < got; i++)
			r->bad += buf[i] != pat(r->got + i);
		r->got += got;
	}
	if (rc != SX_EAGAIN)
		r->rc = rc;
}

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[64 * 1024];

	*b = uv_buf_init(buf, sizeof buf);
}

/* Completes the handshake, then stops reading until raw_resume. */
static void raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct raw *r = s->data;
	int rc;

	if (nread < 0) {
		uv_close((uv_handle_t *)s, raw_closed);
		return;
	}
	if (nread == 0 || r->tls == NULL)
		return;
	assert_int_equal(sx_tlse_feed(r->tls, (const uint8_t *)b->base, (size_t)nread), 0);
	if (!r->hs) {
		rc = sx_tlse_handshake(r->tls);
		assert_true(rc >= 0);
		raw_flush(r);
		if (rc == 0)
			return;
		r->hs = 1;
		if (!r->draining) {
			uv_read_stop(s);
			return;
		}
	}
	raw_drain(r);
}

static void raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;

	assert_int_equal(status, 0);
	if (r->hangup) {
		uv_close((uv_handle_t *)&r->tcp, raw_closed);
		return;
	}
	if (r->tls != NULL) {
		assert_int_equal(sx_tlse_handshake(r->tls), 0);
		raw_flush(r);
	}
	assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
}

/* tls: handshake with the test client certificate; hangup: close as soon as
 * connected. */
static void raw_start(struct world *w, int tls, int hangup)
{
	struct raw *r = &w->raw;

	r->used = 1;
	r->hangup = hangup;
	if (tls)
		assert_int_equal(sx_tlse_create(cli_ctx, 0, "localhost", &r->tls), 0);
	assert_int_equal(uv_tcp_init(&w->loop, &r->tcp), 0);
	r->tcp.data = r;
	r->creq.data = r;
	assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp, (const struct sockaddr *)&w->addr,
					raw_connected), 0);
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
	assert_int_equal(sx_tlse_write(r->tls, p, n), 0);
	raw_flush(r);
}

static void raw_resume(struct raw *r)
{
	r->draining = 1;
	raw_drain(r);
	assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
}

/* ---- frames ---- */

struct msg {                    /* a frame and its message, on the caller's stack */
	Sprex__Frame f;
	union {
		Sprex__Ping ping;
		Sprex__Pong pong;
		Sprex__Hello hello;
		Sprex__Welcome welcome;
	} u;
};

static const Sprex__Frame *ping(struct msg *m, uint64_t nonce)
{
	sprex__frame__init(&m->f);
	sprex__ping__init(&m->u.ping);
	m->u.ping.nonce = nonce;
	m->f.msg_case = SPREX__FRAME__MSG_PING;
	m->f.ping = &m->u.ping;
	return &m->f;
}

static const Sprex__Frame *pong(struct msg *m, uint64_t nonce)
{
	sprex__frame__init(&m->f);
	sprex__pong__init(&m->u.pong);
	m->u.pong.nonce = nonce;
	m->f.msg_case = SPREX__FRAME__MSG_PONG;
	m->f.pong = &m->u.pong;
	return &m->f;
}

static const Sprex__Frame *hello(struct msg *m, char *agent)
{
	sprex__frame__init(&m->f);
	sprex__hello__init(&m->u.hello);
	m->u.hello.agent = agent;
	m->f.msg_case = SPREX__FRAME__MSG_HELLO;
	m->f.hello = &m->u.hello;
	return &m->f;
}

static const Sprex__Frame *welcome(struct msg *m, uint32_t max_frame)
{
	sprex__frame__init(&m->f);
	sprex__welcome__init(&m->u.welcome);
	m->u.welcome.max_frame = max_frame;
	m->f.msg_case = SPREX__FRAME__MSG_WELCOME;
	m->f.welcome = &m->u.welcome;
	return &m->f;
}

/* Sends a Hello whose packed Frame is exactly len bytes; returns what
 * sx_peer_send returned. */
static int send_hello_of(struct sx_peer *p, size_t len)
{
	char *agent = malloc(len + 1);
	struct msg m;
	size_t a;
	int rc;

	assert_non_null(agent);
	memset(agent, 'a', len);
	hello(&m, agent);
	for (a = len; a > 0; a--) {
		agent[a] = '\0';
		if (protobuf_c_message_get_packed_size(&m.f.base) <= len)
			break;
	}
	assert_int_equal(protobuf_c_message_get_packed_size(&m.f.base), len);
	rc = sx_peer_send(p, &m.f);
	free(agent);
	return rc;
}

/* A conn end speaking frames by hand: n frames in one write. */
static void conn_send_frames(struct sx_conn *c, const Sprex__Frame *const *fs, size_t n)
{
	struct sx_buf b;
	size_t i;

	sx_buf_init(&b, 1u << 20);
	for (i = 0; i < n; i++)
		assert_int_equal(sx_frame_pack(fs[i], SX_FRAME_MAX_MAX, &b), 0);
	assert_int_equal(sx_conn_write(c, sx_buf_head(&b), sx_buf_used(&b)), 0);
	sx_buf_finish(&b);
}

static void assert_frame(const struct end *e, size_t i, int msg, uint64_t val)
{
	assert_true(i < e->nframes);
	assert_int_equal(e->frames[i].msg, msg);
	assert_int_equal(e->frames[i].val, val);
}

/* ---- hooks ---- */

static void echo(struct end *e, enum ev ev, const void *arg, size_t n)
{
	if (ev == EV_DATA)
		assert_int_equal(sx_conn_write(e->c, arg, n), 0);
}

/* Writes until far more than out_high waits, with a client that reads nothing. */
static void flood(struct end *e, enum ev ev, const void *arg, size_t n)
{
	static uint8_t chunk[64 * 1024];
	struct world *w = e->w;
	size_t i;

	if (ev != EV_OPEN)
		return;
	while (sx_conn_out_pending(e->c) <= 8 * w->sopts.out_high) {
		assert_true(w->flooded < FLOOD_MAX);
		for (i = 0; i < sizeof chunk; i++)
			chunk[i] = pat(w->flooded + i);
		assert_int_equal(sx_conn_write(e->c, chunk, sizeof chunk), 0);
		w->flooded += sizeof chunk;
	}
}

static void answer_hello(struct end *e, enum ev ev, const void *arg, size_t n)
{
	const Sprex__Frame *f = arg;
	struct msg m;

	if (ev == EV_FRAME && f->msg_case == SPREX__FRAME__MSG_HELLO)
		assert_int_equal(sx_peer_send(e->p, welcome(&m, SX_FRAME_PREAUTH_MAX)), 0);
}

static void small_frames(struct end *e, enum ev ev, const void *arg, size_t n)
{
	if (ev == EV_OPEN)
		sx_peer_negotiated(e->p, SX_FRAME_MIN_MAX, 60000);
}

static void heartbeat_100(struct end *e, enum ev ev, const void *arg, size_t n)
{
	if (ev == EV_OPEN)
		sx_peer_negotiated(e->p, SX_FRAME_PREAUTH_MAX, 100);
}

/* Heartbeats every 50 ms; leaves with GoAway after four of them. */
static void four_ticks(struct end *e, enum ev ev, const void *arg, size_t n)
{
	if (ev == EV_OPEN)
		sx_peer_negotiated(e->p, SX_FRAME_PREAUTH_MAX, 50);
	if (ev == EV_TICK && e->ticks == 4)
		sx_peer_goaway(e->p, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN, 1500, "restart");
}

/* ---- conn ---- */

static void test_roundtrip(void **state)
{
	struct world w;

	world_init(&w, CONN);
	w.srv.hook = echo;
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.cli.opened, 1);
	assert_int_equal(sx_conn_write(w.cli.c, big, BIG), 0);
	run_until(&w, &w.cli.rxn, BIG);
	assert_int_equal(w.srv.opened, 1);
	assert_int_equal(w.srv.rxn, BIG);
	assert_int_equal(w.cli.rxn, BIG);
	assert_memory_equal(sx_buf_head(&w.srv.rx), big, BIG);
	assert_memory_equal(sx_buf_head(&w.cli.rx), big, BIG);
	assert_true(SSL_get0_peer_certificate(sx_conn_ssl(w.srv.c)) != NULL);
	assert_non_null(strstr(sx_conn_peer(w.srv.c), "127.0.0.1:"));
	assert_int_equal(sx_conn_closing(w.cli.c), 0);
	assert_string_equal(sx_conn_errstr(w.cli.c), "");

	sx_conn_close(w.cli.c, 0);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	assert_int_equal(w.cli.reason, 0);
	assert_int_equal(w.srv.reason, SX_ECLOSED);
	world_finish(&w);
}

static void test_orderly_close(void **state)
{
	struct world w;

	world_init(&w, CONN);
	w.srv.hook = echo;
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.cli.opened, 1);
	assert_int_equal(sx_conn_write(w.cli.c, (const uint8_t *)"ping", 4), 0);
	run_until(&w, &w.cli.rxn, 4);

	sx_conn_close(w.cli.c, SX_ELIMIT);
	assert_true(sx_conn_closing(w.cli.c));
	assert_int_equal(sx_conn_write(w.cli.c, (const uint8_t *)"x", 1), SX_ECLOSED);
	sx_conn_close(w.cli.c, SX_EIO);         /* already closing: no effect */
	run_until(&w, &w.cli.closes, 1);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.cli.reason, SX_ELIMIT);
	assert_int_equal(w.srv.reason, SX_ECLOSED);
	assert_string_equal(w.srv.why, "peer closed the session");
	assert_int_equal(w.srv.rxn, 4);
	assert_true(w.srv.seq_data < w.srv.seq_close);
	world_finish(&w);
}

static void test_truncation(void **state)
{
	struct world w;

	world_init(&w, CONN);
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.srv.opened, 1);
	sx_conn_abort(w.cli.c, SX_EPERM, "test abort");
	run_until(&w, &w.cli.closes, 1);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.cli.reason, SX_EPERM);
	assert_string_equal(w.cli.why, "test abort");
	assert_int_equal(w.srv.reason, SX_ETRUNC);
	assert_non_null(strstr(w.srv.why, "truncated"));
	world_finish(&w);
}

/* The same cut made by a raw TLS client closing its socket. */
static void test_truncation_raw(void **state)
{
	struct world w;

	world_init(&w, CONN);
	raw_start(&w, 1, 0);
	run_until(&w, &w.srv.opened, 1);
	uv_close((uv_handle_t *)&w.raw.tcp, raw_closed);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.srv.reason, SX_ETRUNC);
	assert_non_null(strstr(w.srv.why, "truncated"));
	world_finish(&w);
}

static void test_cut_in_handshake(void **state)
{
	struct world w;

	world_init(&w, CONN);
	raw_start(&w, 0, 1);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.srv.opened, 0);
	assert_int_equal(w.srv.reason, SX_ETRUNC);
	assert_non_null(strstr(w.srv.why, "during the handshake"));
	world_finish(&w);
}

static void test_handshake_deadline(void **state)
{
	struct world w;

	world_init(&w, CONN);
	w.sopts.handshake_ms = 200;
	raw_start(&w, 0, 0);    /* connects and says nothing */
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.srv.opened, 0);
	assert_int_equal(w.srv.reason, SX_ETIMEDOUT);
	assert_non_null(strstr(w.srv.why, "handshake not completed"));
	run_until(&w, &w.raw.closed, 1);        /* it saw the server hang up */
	world_finish(&w);
}

static void test_handshake_refused(void **state)
{
	struct world w;

	world_init(&w, CONN);
	client_start(&w, CONN, oth_ctx);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	print_message("    server: %s\n    client (%s): %s\n", w.srv.why,
		      sx_strerror(w.cli.reason), w.cli.why);
	assert_int_equal(w.srv.opened, 0);
	assert_int_equal(w.srv.reason, SX_ETLS);
	assert_non_null(strstr(w.srv.why, "unable to get local issuer certificate"));
	/* TLS 1.3: the client finished its side before the server's verdict,
	 * then reads the alert. */
	assert_int_equal(w.cli.opened, 1);
	assert_int_equal(w.cli.reason, SX_ETLS);
	assert_non_null(strstr(w.cli.why, "unknown ca"));
	world_finish(&w);
}

/* The server queues far more than out_high for a client that reads nothing:
 * it stops reading, so what the client sends meanwhile waits in the socket;
 * once the client reads, on_drain runs and then that data arrives. */
static void check_backpressure(size_t out_high, size_t out_low)
{
	static const char msg[] = "sent while the server does not read";
	const size_t n = sizeof msg - 1;
	struct world w;

	world_init(&w, CONN);
	w.sopts.out_high = out_high;
	w.sopts.out_low = out_low;
	w.srv.hook = flood;
	raw_start(&w, 1, 0);
	run_until(&w, &w.srv.opened, 1);
	assert_true(sx_conn_out_pending(w.srv.c) > out_high);

	raw_send(&w.raw, msg, n);
	nap(&w, 100);
	assert_int_equal(w.srv.rxn, 0);
	assert_int_equal(w.srv.drains, 0);
	assert_true(sx_conn_out_pending(w.srv.c) > out_high);

	raw_resume(&w.raw);
	run_until(&w, &w.srv.rxn, n);
	run_until(&w, &w.raw.got, w.flooded);
	assert_int_equal(w.raw.got, w.flooded);
	assert_int_equal(w.raw.bad, 0);
	assert_int_equal(w.srv.drains, 1);
	assert_true(w.srv.seq_drain < w.srv.seq_data);
	assert_int_equal(w.srv.rxn, n);
	assert_memory_equal(sx_buf_head(&w.srv.rx), msg, n);

	assert_int_equal(sx_tlse_shutdown(w.raw.tls), 0);
	raw_flush(&w.raw);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.raw.closed, 1);
	assert_int_equal(w.srv.reason, SX_ECLOSED);
	assert_int_equal(w.raw.rc, SX_ECLOSED);        /* the server answered in kind */
	world_finish(&w);
}

static void test_backpressure(void **state)
{
	check_backpressure(128u << 10, 32u << 10);
}

/* output_low_water may be 0 (server/srvconf.c): resume once all is written. */
static void test_backpressure_low_zero(void **state)
{
	check_backpressure(128u << 10, 0);
}

/* An orderly close whose output the peer never takes ends after linger_ms,
 * dropping what was queued. */
static void test_linger(void **state)
{
	struct world w;

	world_init(&w, CONN);
	w.sopts.out_high = 128u << 10;
	w.sopts.linger_ms = 100;
	w.srv.hook = flood;
	raw_start(&w, 1, 0);
	run_until(&w, &w.srv.opened, 1);
	sx_conn_close(w.srv.c, 0);
	run_until(&w, &w.srv.closes, 1);
	print_message("    server (%s): %s\n", sx_strerror(w.srv.reason), w.srv.why);
	assert_int_equal(w.srv.reason, SX_ETIMEDOUT);
	assert_non_null(strstr(w.srv.why, "linger"));

	raw_resume(&w.raw);     /* takes what reached the socket, then the cut */
	run_until(&w, &w.raw.closed, 1);
	assert_true(w.raw.got < w.flooded);
	assert_int_equal(w.raw.bad, 0);
	world_finish(&w);
}

static void test_connect_refused(void **state)
{
	struct world w;

	world_init(&w, CONN);
	uv_close((uv_handle_t *)&w.listener, NULL);     /* the port is free again */
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.cli.closes, 1);
	assert_int_equal(w.cli.opened, 0);
	assert_int_equal(w.cli.reason, SX_EIO);
	assert_non_null(strstr(w.cli.why, "connect to 127.0.0.1:"));
	world_finish(&w);
}

/* ---- peer ---- */

/* Ping is answered with Pong and neither reaches on_frame; seen from a conn
 * client that speaks frames by hand. */
static void test_peer_ping(void **state)
{
	char agent[] = "raw";
	struct msg m1, m2, m3;
	const Sprex__Frame *fs[3];
	struct world w;

	world_init(&w, PEER);
	w.srv.hook = answer_hello;
	w.cli.decode = 1;
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.srv.opened, 1);
	fs[0] = ping(&m1, 7);
	fs[1] = pong(&m2, 9);   /* unsolicited: ignored */
	fs[2] = hello(&m3, agent);
	conn_send_frames(w.cli.c, fs, 3);
	run_until(&w, &w.cli.nframes, 2);
	assert_frame(&w.cli, 0, SPREX__FRAME__MSG_PONG, 7);
	assert_frame(&w.cli, 1, SPREX__FRAME__MSG_WELCOME, SX_FRAME_PREAUTH_MAX);
	assert_int_equal(w.srv.nframes, 1);
	assert_frame(&w.srv, 0, SPREX__FRAME__MSG_HELLO, 3);

	sx_conn_close(w.cli.c, 0);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.srv.reason, SX_ECLOSED);
	assert_int_equal(w.cli.nframes, 2);
	world_finish(&w);
}

static void test_peer_frames(void **state)
{
	char agent[] = "peer";
	struct msg m;
	struct world w;

	world_init(&w, PEER);
	w.srv.hook = answer_hello;
	client_start(&w, PEER, cli_ctx);
	run_until(&w, &w.cli.opened, 1);
	assert_int_equal(sx_peer_max_frame(w.cli.p), SX_FRAME_PREAUTH_MAX);
	assert_int_equal(sx_peer_send(w.cli.p, ping(&m, 5)), 0);
	assert_int_equal(sx_peer_send(w.cli.p, hello(&m, agent)), 0);
	run_until(&w, &w.cli.nframes, 1);
	assert_frame(&w.cli, 0, SPREX__FRAME__MSG_WELCOME, SX_FRAME_PREAUTH_MAX);
	assert_int_equal(w.srv.nframes, 1);     /* the Ping went to the peer layer */
	assert_frame(&w.srv, 0, SPREX__FRAME__MSG_HELLO, 4);

	/* One byte over the maximum is refused locally; the session goes on
	 * and a frame of exactly the maximum passes both ends. */
	assert_int_equal(send_hello_of(w.cli.p, SX_FRAME_PREAUTH_MAX + 1), SX_ETOOBIG);
	assert_int_equal(sx_peer_closing(w.cli.p), 0);
	assert_int_equal(send_hello_of(w.cli.p, SX_FRAME_PREAUTH_MAX), 0);
	run_until(&w, &w.cli.nframes, 2);
	assert_int_equal(w.srv.nframes, 2);
	assert_true(w.srv.frames[1].val > SX_FRAME_PREAUTH_MAX - 16);

	sx_peer_goaway(w.cli.p, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN, 1500, "bye");
	assert_true(sx_peer_closing(w.cli.p));
	assert_int_equal(sx_peer_send(w.cli.p, ping(&m, 6)), SX_ECLOSED);
	run_until(&w, &w.cli.closes, 1);
	run_until(&w, &w.srv.closes, 1);
	assert_int_equal(w.cli.reason, 0);
	assert_string_equal(w.cli.why, "sent goaway shutdown: bye");
	assert_int_equal(w.srv.nframes, 3);
	assert_frame(&w.srv, 2, SPREX__FRAME__MSG_GOAWAY, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN);
	assert_string_equal(w.srv.text, "1500 bye");
	assert_int_equal(w.srv.reason, SX_ECLOSED);
	assert_true(w.srv.frames[2].seq < w.srv.seq_close);
	assert_int_equal(w.cli.nframes, 2);
	world_finish(&w);
}

static void test_peer_too_large(void **state)
{
	struct world w;

	world_init(&w, PEER);
	w.srv.hook = small_frames;
	client_start(&w, PEER, cli_ctx);
	run_until(&w, &w.srv.opened, 1);
	assert_int_equal(sx_peer_max_frame(w.srv.p), SX_FRAME_MIN_MAX);
	/* The client still allows 64 KiB, so it sends what the server refuses. */
	assert_int_equal(send_hello_of(w.cli.p, SX_FRAME_MIN_MAX), 0);
	assert_int_equal(send_hello_of(w.cli.p, SX_FRAME_MIN_MAX + 1), 0);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	print_message("    server: %s\n", w.srv.why);
	assert_int_equal(w.srv.reason, SX_EPROTO);
	assert_non_null(strstr(w.srv.why, "frame-too-large"));
	assert_int_equal(w.srv.nframes, 1);     /* the one at the limit */
	assert_int_equal(w.cli.nframes, 1);
	assert_frame(&w.cli, 0, SPREX__FRAME__MSG_ERROR,
		     SPREX__ERROR_CODE__ERROR_FRAME_TOO_LARGE);
	assert_int_equal(w.cli.reason, SX_ECLOSED);
	assert_true(w.cli.frames[0].seq < w.cli.seq_close);
	world_finish(&w);
}

/* A length of 0 is a framing error too: Error(EMPTY_FRAME), then close. */
static void test_peer_empty_frame(void **state)
{
	static const uint8_t zero[SX_FRAME_HDR];
	struct world w;

	world_init(&w, PEER);
	w.cli.decode = 1;
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.srv.opened, 1);
	assert_int_equal(sx_conn_write(w.cli.c, zero, sizeof zero), 0);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	assert_int_equal(w.srv.reason, SX_EPROTO);
	assert_non_null(strstr(w.srv.why, "empty-frame"));
	assert_int_equal(w.srv.nframes, 0);
	assert_int_equal(w.cli.nframes, 1);
	assert_frame(&w.cli, 0, SPREX__FRAME__MSG_ERROR, SPREX__ERROR_CODE__ERROR_EMPTY_FRAME);
	assert_int_equal(w.cli.reason, SX_ECLOSED);
	world_finish(&w);
}

/* A conn client that never sends: three silent intervals end the session. */
static void test_peer_idle(void **state)
{
	struct world w;
	size_t i, pings;

	world_init(&w, PEER);
	w.srv.hook = heartbeat_100;
	w.cli.decode = 1;
	client_start(&w, CONN, cli_ctx);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	print_message("    server: %s\n", w.srv.why);
	assert_int_equal(w.srv.reason, SX_ETIMEDOUT);
	assert_non_null(strstr(w.srv.why, "silent"));
	assert_true(w.cli.nframes >= 1);
	pings = w.cli.nframes - 1;
	for (i = 0; i < pings; i++)
		assert_frame(&w.cli, i, SPREX__FRAME__MSG_PING, i + 1);
	assert_frame(&w.cli, pings, SPREX__FRAME__MSG_GOAWAY, SPREX__GO_AWAY_REASON__GOAWAY_IDLE);
	assert_int_equal(w.srv.ticks, pings);  /* one tick per Ping */
	assert_int_equal(w.cli.reason, SX_ECLOSED);
	world_finish(&w);
}

/* Pongs keep a session alive past three intervals; on_tick runs each one. */
static void test_peer_ticks(void **state)
{
	struct world w;

	world_init(&w, PEER);
	w.srv.hook = four_ticks;
	client_start(&w, PEER, cli_ctx);
	run_until(&w, &w.srv.closes, 1);
	run_until(&w, &w.cli.closes, 1);
	assert_int_equal(w.srv.ticks, 4);
	assert_int_equal(w.srv.reason, 0);
	assert_string_equal(w.srv.why, "sent goaway shutdown: restart");
	assert_int_equal(w.srv.nframes, 0);     /* Pongs stay in the peer layer */
	assert_int_equal(w.cli.nframes, 1);     /* so do Pings */
	assert_frame(&w.cli, 0, SPREX__FRAME__MSG_GOAWAY, SPREX__GO_AWAY_REASON__GOAWAY_SHUTDOWN);
	assert_string_equal(w.cli.text, "1500 restart");
	assert_int_equal(w.cli.reason, SX_ECLOSED);
	assert_int_equal(w.cli.ticks, 0);
	world_finish(&w);
}

static int setup(void **state)
{
	size_t i;

	if (sx_testpki_init(&P, "conn") != 0)
		return -1;
	sx_testpki_server_ctx(&P, P.crl, &srv_ctx);
	sx_testpki_client_ctx(&P, P.cli_crt, P.cli_key, &cli_ctx);
	sx_testpki_client_ctx(&P, P.oth_crt, P.oth_key, &oth_ctx);
	for (i = 0; i < BIG; i++)
		big[i] = pat(i);
	return 0;
}

static int teardown(void **state)
{
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	SSL_CTX_free(oth_ctx);
	return sx_testpki_finish(&P);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_orderly_close),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_raw),
		cmocka_unit_test(test_cut_in_handshake),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_handshake_refused),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_backpressure_low_zero),
		cmocka_unit_test(test_linger),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_peer_ping),
		cmocka_unit_test(test_peer_frames),
		cmocka_unit_test(test_peer_too_large),
		cmocka_unit_test(test_peer_empty_frame),
		cmocka_unit_test(test_peer_idle),
		cmocka_unit_test(test_peer_ticks),
	};

	/* As the programs do: a write to a socket the peer closed is an
	 * error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
