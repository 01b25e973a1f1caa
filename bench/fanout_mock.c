/*
 * fanout-mock: a stand-in for sprexd's subscription engine, only to check
 * fanout-sprex end to end before the engine lands. It measures nothing and
 * bench/fanout.sh never uses it. It keeps reports in memory, speaks the
 * session layer with lib/peer (the same as sprexd), and serves:
 *
 *   Hello     -> Welcome (role submitter for a certificate whose CN is "pub",
 *                vendor for any other)
 *   Subscribe -> Subscribed, then Deliver frames from the start position,
 *                at most window_count unacked per subscription
 *   Ack       -> frees window room (seq ranges), more Deliver frames
 *   Submit    -> Submitted, the report appended and delivered to every
 *                attached subscription
 *
 *   fanout-mock --cert PEM --key PEM --ca PEM [--preload N]
 *       listens on 127.0.0.1, a port chosen by the system, and prints
 *       "listening on 127.0.0.1:PORT"; --preload stores N copies of the
 *       benchmark mail first. Stops on SIGINT/SIGTERM, printing how many
 *       deliveries were acked ("acked=...").
 *
 * What it checks: a Deliver for a seq that is not outstanding, an Ack
 * for a seq not delivered, a second Subscribe on one session: each ends the
 * session with Error(PROTOCOL), so that fanout-sprex fails loudly.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "err.h"
#include "fanout_common.h"
#include "frame.h"
#include "peer.h"
#include "tlsctx.h"

#define PROG "fanout-mock"
#define MAX_FRAME (4u * 1024u * 1024u)
#define DEFAULT_WINDOW 100u

struct report {
	uint8_t *mail;
	size_t len;
	char id[32];
};

struct sess;

struct mock {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_signal_t sig_int, sig_term;
	SSL_CTX *tls;
	struct report *r;     /* r[seq - 1] */
	size_t n, cap;
	struct sess *sessions;
	uint64_t acked, delivered;
};

struct sess {
	struct mock *mk;
	struct sess *next, *prev;
	struct sx_peer *peer;
	int welcomed, subscribed;
	uint32_t window;
	uint64_t next_seq;    /* next to deliver */
	uint64_t floor;       /* every seq below is acked */
	uint8_t *acked;       /* acked[seq - floor] for seq in [floor, next_seq) */
	size_t acked_cap;
	uint32_t pending;
};

static struct mock M;

static int add_report(const uint8_t *mail, size_t len)
{
	if (M.n == M.cap) {
		size_t c = M.cap ? 2 * M.cap : 1024;
		struct report *r = realloc(M.r, c * sizeof *r);
		if (!r)
			return -1;
		M.r = r;
		M.cap = c;
	}
	struct report *r = &M.r[M.n];
	r->mail = malloc(len);
	if (!r->mail)
		return -1;
	memcpy(r->mail, mail, len);
	r->len = len;
	M.n++;
	snprintf(r->id, sizeof r->id, "rmock%021zu", M.n);
	return 0;
}

static void pump(struct sess *s)
{
	while (s->subscribed && s->pending < s->window && s->next_seq <= M.n &&
	       !sx_peer_closing(s->peer)) {
		size_t off = (size_t)(s->next_seq - s->floor);
		if (off >= s->acked_cap) {
			size_t c = s->acked_cap ? 2 * s->acked_cap : 4096;
			while (c <= off)
				c *= 2;
			uint8_t *a = realloc(s->acked, c);
			if (!a)
				return;
			memset(a + s->acked_cap, 0, c - s->acked_cap);
			s->acked = a;
			s->acked_cap = c;
		}
		struct report *r = &M.r[s->next_seq - 1];
		Sprex__Deliver d = SPREX__DELIVER__INIT;
		d.sub_id = 1;
		d.seq = s->next_seq;
		d.report_id = r->id;
		d.delivery_count = 1;
		d.raw_mail.data = r->mail;
		d.raw_mail.len = r->len;
		Sprex__Frame f = SPREX__FRAME__INIT;
		f.msg_case = SPREX__FRAME__MSG_DELIVER;
		f.deliver = &d;
		if (sx_peer_send(s->peer, &f) < 0)
			return;
		s->next_seq++;
		s->pending++;
		M.delivered++;
	}
}

static void on_ack(struct sess *s, const Sprex__Ack *a)
{
	for (size_t i = 0; i < a->n_ranges; i++) {
		const Sprex__SeqRange *r = a->ranges[i];
		if (r->first > r->last || r->first < s->floor || r->last >= s->next_seq) {
			sx_peer_error(s->peer, SPREX__ERROR_CODE__ERROR_PROTOCOL,
				      "ack %llu-%llu outside the delivered %llu-%llu",
				      (unsigned long long)r->first, (unsigned long long)r->last,
				      (unsigned long long)s->floor,
				      (unsigned long long)(s->next_seq - 1));
			return;
		}
		for (uint64_t q = r->first; q <= r->last; q++) {
			uint8_t *b = &s->acked[q - s->floor];
			if (!*b) {
				*b = 1;
				s->pending--;
				M.acked++;
			}
		}
	}
	/* Slide the floor past what is acked. */
	size_t k = 0;
	while (s->floor + k < s->next_seq && s->acked[k])
		k++;
	if (k > 0) {
		memmove(s->acked, s->acked + k, s->acked_cap - k);
		memset(s->acked + s->acked_cap - k, 0, k);
		s->floor += k;
	}
	pump(s);
}

static int is_pub(struct sx_peer *p)
{
	X509 *x = SSL_get0_peer_certificate(sx_conn_ssl(sx_peer_conn(p)));
	char cn[64] = "";
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
	return strcmp(cn, "pub") == 0;
}

static void on_frame(struct sx_peer *p, const Sprex__Frame *f)
{
	struct sess *s = sx_peer_udata(p);
	if (!s->welcomed) {
		if (f->msg_case != SPREX__FRAME__MSG_HELLO) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "expected hello");
			return;
		}
		uint32_t mf = f->hello->max_frame && f->hello->max_frame < MAX_FRAME
				      ? f->hello->max_frame : MAX_FRAME;
		Sprex__Welcome w = SPREX__WELCOME__INIT;
		w.version = 1;
		w.max_frame = mf;
		w.heartbeat_ms = f->hello->heartbeat_ms ? f->hello->heartbeat_ms : 30000;
		w.member = is_pub(p) ? "pub" : "sub";
		w.role = is_pub(p) ? SPREX__ROLE__ROLE_SUBMITTER : SPREX__ROLE__ROLE_VENDOR;
		w.server = PROG;
		w.head_seq = M.n;
		Sprex__Frame o = SPREX__FRAME__INIT;
		o.msg_case = SPREX__FRAME__MSG_WELCOME;
		o.welcome = &w;
		sx_peer_send(p, &o);
		sx_peer_negotiated(p, mf, w.heartbeat_ms);
		s->welcomed = 1;
		return;
	}
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_SUBSCRIBE: {
		const Sprex__Subscribe *sb = f->subscribe;
		if (s->subscribed) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_PROTOCOL, "one subscription per session");
			return;
		}
		int new_only = sb->start && sb->start->at_case == SPREX__START__AT_NEW_ONLY;
		s->subscribed = 1;
		s->window = sb->window_count ? sb->window_count : DEFAULT_WINDOW;
		s->next_seq = s->floor = new_only ? M.n + 1 : 1;
		Sprex__Subscribed ok = SPREX__SUBSCRIBED__INIT;
		ok.name = sb->name;
		ok.sub_id = 1;
		ok.created = 1;
		ok.position = s->next_seq;
		ok.window_count = s->window;
		Sprex__Frame o = SPREX__FRAME__INIT;
		o.id = f->id;
		o.msg_case = SPREX__FRAME__MSG_SUBSCRIBED;
		o.subscribed = &ok;
		sx_peer_send(p, &o);
		pump(s);
		return;
	}
	case SPREX__FRAME__MSG_ACK:
		on_ack(s, f->ack);
		return;
	case SPREX__FRAME__MSG_SUBMIT: {
		const Sprex__Submit *sm = f->submit;
		if (add_report(sm->raw_mail.data, sm->raw_mail.len) < 0) {
			sx_peer_error(p, SPREX__ERROR_CODE__ERROR_INTERNAL, "out of memory");
			return;
		}
		Sprex__Submitted ok = SPREX__SUBMITTED__INIT;
		ok.client_msg_id = sm->client_msg_id;
		ok.report_id = M.r[M.n - 1].id;
		ok.seq = M.n;
		Sprex__Frame o = SPREX__FRAME__INIT;
		o.id = f->id;
		o.msg_case = SPREX__FRAME__MSG_SUBMITTED;
		o.submitted = &ok;
		sx_peer_send(p, &o);
		for (struct sess *t = M.sessions; t; t = t->next)
			pump(t);
		return;
	}
	default:
		return;
	}
}

static void on_drain(struct sx_peer *p)
{
	pump(sx_peer_udata(p));
}

static void on_close(struct sx_peer *p, int reason, const char *why)
{
	struct sess *s = sx_peer_udata(p);
	(void)reason;
	(void)why;
	if (s->prev)
		s->prev->next = s->next;
	else
		M.sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->acked);
	free(s);
}

static const struct sx_peer_cbs cbs = {
	.on_frame = on_frame,
	.on_drain = on_drain,
	.on_close = on_close,
};

static void on_conn(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	static const struct sx_conn_opts opts = {
		.out_high = 4u << 20, .out_low = 1u << 20, .handshake_ms = 30000, .linger_ms = 2000,
	};
	struct sess *s = calloc(1, sizeof *s);
	if (!s)
		return;
	s->mk = &M;
	if (sx_peer_create(M.loop, M.tls, 1, NULL, &opts, &cbs, s, &s->peer) < 0) {
		free(s);
		return;
	}
	s->next = M.sessions;
	if (M.sessions)
		M.sessions->prev = s;
	M.sessions = s;
	struct sx_conn *c = sx_peer_conn(s->peer);
	if (uv_accept(l, (uv_stream_t *)sx_conn_tcp(c)) != 0) {
		sx_peer_close(s->peer, SX_EIO, "accept failed");
		return;
	}
	sx_conn_start(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	printf("stopping delivered=%llu acked=%llu reports=%zu\n", (unsigned long long)M.delivered,
	       (unsigned long long)M.acked, M.n);
	fflush(stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "preload", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cert = NULL, *key = NULL, *ca = NULL;
	long preload = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'n': preload = fanout_parse_long(PROG, "--preload", optarg, 0); break;
		default: return 2;
		}
	}
	if (!cert || !key || !ca || optind != argc) {
		fprintf(stderr, "usage: " PROG " --cert PEM --key PEM --ca PEM [--preload N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char err[512];
	struct sx_tls_opts o = { cert, key, ca, NULL };
	if (sx_tlsctx_server(&o, &M.tls, err, sizeof err) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	struct fanout_mail mail;
	if (fanout_mail_init(&mail) < 0)
		return 2;
	for (long i = 0; i < preload; i++) {
		fanout_mail_stamp(&mail, (uint64_t)i, 0);
		if (add_report((const uint8_t *)mail.buf, mail.len) < 0)
			return 2;
	}
	fanout_mail_free(&mail);
	M.loop = uv_default_loop();
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", 0, &a);
	uv_tcp_init(M.loop, &M.listener);
	if (uv_tcp_bind(&M.listener, (const struct sockaddr *)&a, 0) != 0 ||
	    uv_listen((uv_stream_t *)&M.listener, 1024, on_conn) != 0) {
		fprintf(stderr, PROG ": cannot listen\n");
		return 2;
	}
	struct sockaddr_storage ss;
	int len = sizeof ss;
	uv_tcp_getsockname(&M.listener, (struct sockaddr *)&ss, &len);
	uv_signal_init(M.loop, &M.sig_int);
	uv_signal_init(M.loop, &M.sig_term);
	uv_signal_start(&M.sig_int, on_signal, SIGINT);
	uv_signal_start(&M.sig_term, on_signal, SIGTERM);
	printf("listening on 127.0.0.1:%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	uv_run(M.loop, UV_RUN_DEFAULT);
	return 0;
}
