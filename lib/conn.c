#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tlse.h"

/* Reads land in one process-wide buffer: libuv calls alloc_cb and read_cb
 * back to back for one handle, and the engine copies what it is fed, so an
 * idle connection pins no read buffer. */
static uint8_t read_buf[64 * 1024];
/* Decrypted records are handed to on_data from here (a record is <= 16 KiB). */
static uint8_t plain_buf[16 * 1024];

/* Buffers at or below TRIM_IDLE are given back whenever output drains;
 * between it and TRIM_HUGE they are kept for the next burst. */
#define TRIM_IDLE (64u * 1024u)
#define TRIM_HUGE (2u * 1024u * 1024u)
/* Largest chunk copied out of the engine for one asynchronous uv_write. */
#define WRITE_CHUNK (256u * 1024u)

struct sx_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;       /* handshake deadline, then linger on close */
	uv_write_t wreq;
	uv_connect_t creq;
	struct sx_tlse *tls;
	struct sx_conn_cbs cbs;
	struct sx_conn_opts opts;
	void *udata;
	uint8_t *inflight;      /* bytes handed to uv_write, owned until write_cb */
	size_t inflight_len;
	int handles;            /* handles not yet closed */
	int reason;             /* passed to on_close */
	unsigned open : 1;      /* handshake done */
	unsigned reading : 1;   /* uv_read_start in effect */
	unsigned paused : 1;    /* reading stopped for backpressure */
	unsigned closing : 1;   /* close or abort requested, or the peer left */
	unsigned flush_close : 1; /* close the handles once output is written */
	unsigned shut : 1;      /* handles are being closed */
	unsigned corked : 1;    /* writes gather in the engine until uncorked */
	char peer[64];
	char err[SX_CONN_ERR_MAX];
};

static void flush(struct sx_conn *c);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);

static void set_err(struct sx_conn *c, const char *why)
{
	if (why && c->err[0] == '\0')
		snprintf(c->err, sizeof c->err, "%s", why);
}

static void close_cb(uv_handle_t *h)
{
	struct sx_conn *c = h->data;
	if (--c->handles > 0)
		return;
	c->cbs.on_close(c, c->reason);
	sx_tlse_destroy(c->tls);
	free(c->inflight);
	free(c);
}

void sx_conn_abort(struct sx_conn *c, int reason, const char *why)
{
	if (c->shut)
		return;
	set_err(c, why);
	if (!c->closing)
		c->reason = reason;
	c->closing = 1;
	c->shut = 1;
	uv_close((uv_handle_t *)&c->tcp, close_cb);
	uv_close((uv_handle_t *)&c->timer, close_cb);
}

static void timer_cb(uv_timer_t *t)
{
	struct sx_conn *c = t->data;
	if (c->closing) {
		/* What was queued is dropped: our own close was not orderly after all. */
		if (c->reason == 0)
			c->reason = SX_ETIMEDOUT;
		sx_conn_abort(c, c->reason, "peer did not take our close within the linger time");
		return;
	}
	char why[96];
	snprintf(why, sizeof why, "handshake not completed within %llu ms",
		 (unsigned long long)c->opts.handshake_ms);
	sx_conn_abort(c, SX_ETIMEDOUT, why);
}

static void set_reading(struct sx_conn *c, int on)
{
	if (on == (int)c->reading || c->shut)
		return;
	c->reading = (unsigned)on;
	if (on)
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	else
		uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Ends the connection once what the engine holds (an alert, close_notify)
 * is written, or after linger_ms. */
static void finish(struct sx_conn *c, int reason, const char *why)
{
	if (c->closing)
		return;
	set_err(c, why);
	c->closing = 1;
	c->reason = reason;
	c->flush_close = 1;
	set_reading(c, 0);
	uv_timer_start(&c->timer, timer_cb, c->opts.linger_ms, 0);
	flush(c);
}

void sx_conn_close(struct sx_conn *c, int reason)
{
	if (c->closing)
		return;
	if (c->open)
		sx_tlse_shutdown(c->tls);
	finish(c, reason, NULL);
}

int sx_conn_closing(const struct sx_conn *c)
{
	return c->closing;
}

size_t sx_conn_out_pending(const struct sx_conn *c)
{
	return sx_tlse_out_pending(c->tls) + c->inflight_len;
}

/* Above out_high we stop reading: a peer that does not read what we send
 * cannot make us queue answers to ever more requests. */
static void backpressure(struct sx_conn *c)
{
	size_t pending = sx_conn_out_pending(c);
	if (!c->paused && pending > c->opts.out_high) {
		c->paused = 1;
		set_reading(c, 0);
	} else if (c->paused && (pending < c->opts.out_low || pending == 0)) {
		/* out_low may be 0 (output_low_water allows it): nothing is below
		 * 0, so an empty queue is the low mark. */
		c->paused = 0;
		if (!c->closing) {
			set_reading(c, 1);
			if (c->cbs.on_drain)
				c->cbs.on_drain(c);
		}
	}
}

static void write_cb(uv_write_t *req, int status)
{
	struct sx_conn *c = req->data;
	free(c->inflight);
	c->inflight = NULL;
	c->inflight_len = 0;
	if (c->shut)
		return;
	if (status < 0) {
		char why[128];
		snprintf(why, sizeof why, "write: %s", uv_strerror(status));
		sx_conn_abort(c, SX_EIO, why);
		return;
	}
	flush(c);
}

/* Writes what the engine produced: synchronously while the socket takes it,
 * then one uv_write of a copied chunk at a time. */
static void flush(struct sx_conn *c)
{
	while (!c->shut && !c->inflight) {
		const uint8_t *p;
		size_t n = sx_tlse_out_peek(c->tls, &p);
		if (n == 0)
			break;
		uv_buf_t b = uv_buf_init((char *)p, (unsigned)(n > WRITE_CHUNK ? WRITE_CHUNK : n));
		int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (w > 0) {
			sx_tlse_out_consume(c->tls, (size_t)w);
			continue;
		}
		if (w != UV_EAGAIN) {
			char why[128];
			snprintf(why, sizeof why, "write: %s", uv_strerror(w));
			sx_conn_abort(c, SX_EIO, why);
			return;
		}
		c->inflight = malloc(b.len);
		if (!c->inflight) {
			sx_conn_abort(c, SX_ENOMEM, "out of memory for the write queue");
			return;
		}
		memcpy(c->inflight, p, b.len);
		c->inflight_len = b.len;
		sx_tlse_out_consume(c->tls, b.len);
		b.base = (char *)c->inflight;
		c->wreq.data = c;
		int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
		if (rc < 0) {
			free(c->inflight);
			c->inflight = NULL;
			c->inflight_len = 0;
			char why[128];
			snprintf(why, sizeof why, "write: %s", uv_strerror(rc));
			sx_conn_abort(c, SX_EIO, why);
			return;
		}
	}
	if (c->shut)
		return;
	if (c->flush_close && sx_conn_out_pending(c) == 0) {
		sx_conn_abort(c, c->reason, NULL);
		return;
	}
	backpressure(c);
	/* An idle connection gives its buffers back (idle memory stays small);
	 * one in the middle of a stream of deliveries keeps them, since
	 * freeing (OpenSSL wipes on free) and regrowing them per burst costs
	 * more than the sending. A huge one is given back either way. */
	if (sx_conn_out_pending(c) == 0) {
		size_t held = sx_tlse_buffered(c->tls);
		if (held <= TRIM_IDLE || held >= TRIM_HUGE)
			sx_tlse_trim(c->tls);
	}
}

int sx_conn_write(struct sx_conn *c, const uint8_t *p, size_t n)
{
	if (c->closing || !c->open)
		return SX_ECLOSED;
	int rc = sx_tlse_write(c->tls, p, n);
	if (rc < 0) {
		sx_conn_abort(c, rc, sx_tlse_errstr(c->tls));
		return rc;
	}
	if (!c->corked)
		flush(c);
	return 0;
}

int sx_conn_read_paused(const struct sx_conn *c)
{
	return c->paused;
}

void sx_conn_cork(struct sx_conn *c, int on)
{
	c->corked = on != 0;
	if (!on && c->open)
		flush(c);
}

/* Runs the engine over what was fed: handshake, then records. */
static void process(struct sx_conn *c)
{
	if (!c->open) {
		int rc = sx_tlse_handshake(c->tls);
		if (rc < 0) {
			finish(c, SX_ETLS, sx_tlse_errstr(c->tls)); /* sends the alert */
			return;
		}
		if (rc == 0)
			return;
		c->open = 1;
		uv_timer_stop(&c->timer);
		if (c->cbs.on_open)
			c->cbs.on_open(c);
	}
	while (!c->closing) {
		size_t got;
		int rc = sx_tlse_read(c->tls, plain_buf, sizeof plain_buf, &got);
		if (rc == SX_EAGAIN)
			break;
		if (rc == SX_ECLOSED) {
			/* Answer the peer's close_notify with ours, then go. */
			sx_tlse_shutdown(c->tls);
			finish(c, SX_ECLOSED, "peer closed the session");
			return;
		}
		if (rc < 0) {
			finish(c, rc, sx_tlse_errstr(c->tls));
			return;
		}
		c->cbs.on_data(c, plain_buf, got);
	}
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init((char *)read_buf, sizeof read_buf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sx_conn *c = s->data;
	(void)buf;
	if (nread == 0 || c->shut)
		return;
	if (nread == UV_EOF) {
		int rc = sx_tlse_eof(c->tls);
		sx_conn_abort(c, rc, rc == SX_ECLOSED ? "peer closed the session"
			      : c->open ? "connection cut without close_notify (truncated)"
					: "peer closed the connection during the handshake");
		return;
	}
	if (nread < 0) {
		char why[128];
		snprintf(why, sizeof why, "read: %s", uv_strerror((int)nread));
		sx_conn_abort(c, SX_EIO, why);
		return;
	}
	if (sx_tlse_feed(c->tls, read_buf, (size_t)nread) < 0) {
		sx_conn_abort(c, SX_ENOMEM, "out of memory for received data");
		return;
	}
	process(c);
	if (!c->shut)
		flush(c);
}

int sx_conn_create(uv_loop_t *loop, SSL_CTX *ctx, int is_server, const char *host,
		   const struct sx_conn_opts *opts, const struct sx_conn_cbs *cbs, void *udata,
		   struct sx_conn **out)
{
	struct sx_conn *c = calloc(1, sizeof *c);
	if (!c)
		return SX_ENOMEM;
	int rc = sx_tlse_create(ctx, is_server, host, &c->tls);
	if (rc < 0) {
		free(c);
		return rc;
	}
	if (uv_tcp_init(loop, &c->tcp) < 0) {
		sx_tlse_destroy(c->tls);
		free(c);
		return SX_EIO;
	}
	uv_timer_init(loop, &c->timer); /* cannot fail */
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	c->cbs = *cbs;
	c->opts = *opts;
	c->udata = udata;
	*out = c;
	return 0;
}

uv_tcp_t *sx_conn_tcp(struct sx_conn *c)
{
	return &c->tcp;
}

void sx_conn_start(struct sx_conn *c)
{
	if (c->peer[0] == '\0') {
		struct sockaddr_storage ss;
		int len = sizeof ss;
		char host[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET6) {
				uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
				port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			} else {
				uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
				port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			}
		}
		snprintf(c->peer, sizeof c->peer, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
			 port);
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->timer, timer_cb, c->opts.handshake_ms, 0);
	set_reading(c, 1);
	process(c); /* a client's ClientHello */
	if (!c->shut)
		flush(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct sx_conn *c = req->data;
	if (c->shut)
		return;
	if (status < 0) {
		char why[160];
		snprintf(why, sizeof why, "connect to %s: %s", c->peer, uv_strerror(status));
		sx_conn_abort(c, SX_EIO, why);
		return;
	}
	sx_conn_start(c);
}

void sx_conn_connect(struct sx_conn *c, const struct sockaddr *addr)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (addr->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)addr, host, sizeof host);
		snprintf(c->peer, sizeof c->peer, "[%s]:%d", host,
			 ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
	} else {
		uv_ip4_name((const struct sockaddr_in *)addr, host, sizeof host);
		snprintf(c->peer, sizeof c->peer, "%s:%d", host,
			 ntohs(((const struct sockaddr_in *)addr)->sin_port));
	}
	c->creq.data = c;
	int rc = uv_tcp_connect(&c->creq, &c->tcp, addr, connect_cb);
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof why, "connect to %s: %s", c->peer, uv_strerror(rc));
		sx_conn_abort(c, SX_EIO, why);
	}
}

void *sx_conn_udata(const struct sx_conn *c)
{
	return c->udata;
}

void sx_conn_set_udata(struct sx_conn *c, void *udata)
{
	c->udata = udata;
}

SSL *sx_conn_ssl(struct sx_conn *c)
{
	return sx_tlse_ssl(c->tls);
}

const char *sx_conn_peer(const struct sx_conn *c)
{
	return c->peer;
}

const char *sx_conn_errstr(const struct sx_conn *c)
{
	return c->err;
}

size_t sx_conn_buffered(const struct sx_conn *c)
{
	return c->inflight_len + sx_tlse_buffered(c->tls);
}
