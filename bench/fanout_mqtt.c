/*
 * fanout-mqtt: the fan-out workload of bench/fanout.sh against mosquitto
 * (MQTT 3.1.1 over TLS 1.3 with a client certificate, QoS 1, persistent
 * sessions: clean_session=false).
 *
 *   fanout-mqtt CONN --throughput --count N --subs M [--tag T]
 *       1. M subscribers connect with clean_session=false, subscribe QoS 1 to
 *          the topic and disconnect: the broker keeps their sessions.
 *       2. A publisher sends N messages at QoS 1 and waits for every PUBACK:
 *          the broker now holds N messages queued for each of M sessions.
 *       3. The clock starts; the M subscribers reconnect (their sessions are
 *          present) and receive, each message acked with PUBACK by
 *          libmosquitto; the clock stops when every subscriber has all N.
 *       Prints "result mode=throughput ... rate=DELIVERIES_PER_S".
 *
 *   fanout-mqtt CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]
 *       M subscribers connect (clean_session=false) and subscribe; then a
 *       publisher thread publishes R messages per second for S seconds, each
 *       with its CLOCK_MONOTONIC send time in X-Bench-Sent. Each subscriber
 *       records receive minus send. Waits up to D seconds (10) after the last
 *       publish for the stragglers. Prints "result mode=latency ... p50_ms= p99_ms=".
 *
 *   CONN is --port P --ca PEM --cert PEM --key PEM [--host H] [--inflight W]
 *   (H defaults to 127.0.0.1; the broker's own max_inflight_messages is the
 *   delivery window; --inflight is the publisher's).
 *
 * The subscribers share one thread and one poll(2) loop over their sockets
 * (what OpenSSL has already buffered is read before polling again);
 * the publisher of --latency is a thread of its own (mosquitto_loop_start),
 * so that its pacing does not wait for the subscribers' work.
 *
 * Exit status: 0 measured; 1 the run failed (a client could not connect,
 * deliveries went missing in --throughput); 2 usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/ssl.h>

#include "fanout_common.h"

#define PROG "fanout-mqtt"
#define QOS 1
#define KEEPALIVE 60
#define TOPIC_TP "fanout/throughput"
#define TOPIC_LAT "fanout/latency"

struct cfg {
	const char *host, *ca, *cert, *key, *tag;
	int port, inflight, subs, throughput, latency;
	long count, rate, seconds, drain;
};

struct sub {
	struct mosquitto *m;
	struct run *run;
	int idx;
	int connected, subscribed;
	long got;
};

struct run {
	const struct cfg *c;
	struct sub *subs;
	int n;
	const char *topic;
	long expect;          /* per subscriber; <0 while unknown */
	long done;            /* subscribers with all expected */
	long nsubscribed, nconnected;
	long deliveries;
	int failed;
	struct fanout_lat lat;
	int record;           /* latency samples wanted */
	struct pollfd *pfd;   /* one per subscriber, for pump() */
	int *idx;
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

static struct mosquitto *client(const struct cfg *c, const char *id, int clean, void *ud)
{
	struct mosquitto *m = mosquitto_new(id, clean, ud);
	if (!m)
		die("mosquitto_new %s failed", id);
	int rc = mosquitto_tls_set(m, c->ca, NULL, c->cert, c->key, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_opts_set(m, 1, "tlsv1.3", NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		die("TLS setup: %s", mosquitto_strerror(rc));
	return m;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct sub *s = ud;
	if (rc != 0) {
		fprintf(stderr, PROG ": subscriber %d refused: %s\n", s->idx,
			mosquitto_connack_string(rc));
		s->run->failed = 1;
		return;
	}
	s->connected = 1;
	s->run->nconnected++;
	if (!s->subscribed)
		mosquitto_subscribe(m, NULL, s->run->topic, QOS);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct sub *s = ud;
	(void)m;
	(void)mid;
	if (n < 1 || granted[0] != QOS) {
		fprintf(stderr, PROG ": subscriber %d: QoS %d not granted\n", s->idx, QOS);
		s->run->failed = 1;
		return;
	}
	s->subscribed = 1;
	s->run->nsubscribed++;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct sub *s = ud;
	(void)m;
	(void)rc;
	if (s->connected) {
		s->connected = 0;
		s->run->nconnected--;
	}
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct sub *s = ud;
	struct run *r = s->run;
	(void)m;
	r->deliveries++;
	if (r->record) {
		uint64_t sent = fanout_sent_ns(msg->payload, (size_t)msg->payloadlen);
		if (sent)
			fanout_lat_add(&r->lat, sent, fanout_now_ns());
	}
	if (++s->got == r->expect)
		r->done++;
}

/* One turn of the subscribers' loop: poll every socket, read, write, keep alive. */
static void pump(struct run *r, int timeout_ms)
{
	struct pollfd *pfd = r->pfd;
	int *idx = r->idx, k = 0;
	for (int i = 0; i < r->n; i++) {
		int fd = mosquitto_socket(r->subs[i].m);
		if (fd < 0)
			continue;
		pfd[k].fd = fd;
		pfd[k].events = POLLIN | (mosquitto_want_write(r->subs[i].m) ? POLLOUT : 0);
		pfd[k].revents = 0;
		idx[k++] = i;
	}
	if (k == 0) {
		usleep((useconds_t)timeout_ms * 1000u);
		return;
	}
	if (poll(pfd, (nfds_t)k, timeout_ms) < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	for (int j = 0; j < k; j++) {
		struct mosquitto *m = r->subs[idx[j]].m;
		if (pfd[j].revents & (POLLIN | POLLERR | POLLHUP)) {
			mosquitto_loop_read(m, 64);
			/* A TLS record may hold more packets than one read took;
			 * poll(2) cannot see what OpenSSL has buffered. */
			for (int g = 0; g < 1024 && mosquitto_socket(m) >= 0; g++) {
				SSL *ssl = mosquitto_ssl_get(m);
				if (!ssl || !SSL_has_pending(ssl))
					break;
				mosquitto_loop_read(m, 64);
			}
		}
		if (mosquitto_socket(m) >= 0 && mosquitto_want_write(m))
			mosquitto_loop_write(m, 1);
		mosquitto_loop_misc(m);
	}
}

static void connect_all(struct run *r)
{
	for (int i = 0; i < r->n; i++) {
		int rc = mosquitto_connect(r->subs[i].m, r->c->host, r->c->port, KEEPALIVE);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, PROG ": subscriber %d cannot connect: %s\n", i,
				mosquitto_strerror(rc));
			exit(1);
		}
	}
}

static int wait_for(struct run *r, long *counter, long target, double seconds)
{
	uint64_t end = fanout_now_ns() + (uint64_t)(seconds * 1e9);
	while (*counter < target && !r->failed && fanout_now_ns() < end)
		pump(r, 20);
	return *counter >= target && !r->failed;
}

static void make_subs(struct run *r, const struct cfg *c, const char *kind)
{
	r->c = c;
	r->n = c->subs;
	r->subs = calloc((size_t)r->n, sizeof *r->subs);
	r->pfd = calloc((size_t)r->n, sizeof *r->pfd);
	r->idx = calloc((size_t)r->n, sizeof *r->idx);
	if (!r->subs || !r->pfd || !r->idx)
		die("%s", "out of memory");
	for (int i = 0; i < r->n; i++) {
		char id[128];
		snprintf(id, sizeof id, "fanout-%s-%s-%d", kind, c->tag, i);
		struct sub *s = &r->subs[i];
		s->run = r;
		s->idx = i;
		s->m = client(c, id, 0, s);
		mosquitto_connect_callback_set(s->m, on_connect);
		mosquitto_subscribe_callback_set(s->m, on_subscribe);
		mosquitto_disconnect_callback_set(s->m, on_disconnect);
		mosquitto_message_callback_set(s->m, on_message);
	}
}

static void disconnect_all(struct run *r)
{
	for (int i = 0; i < r->n; i++)
		if (r->subs[i].connected)
			mosquitto_disconnect(r->subs[i].m);
	/* nconnected falls to 0 as each DISCONNECT is written. */
	uint64_t end = fanout_now_ns() + 5000000000u;
	while (r->nconnected > 0 && fanout_now_ns() < end)
		pump(r, 20);
}

static void free_subs(struct run *r)
{
	for (int i = 0; i < r->n; i++)
		mosquitto_destroy(r->subs[i].m);
	free(r->subs);
	free(r->pfd);
	free(r->idx);
}

/* ------------------------------------------------------------- publisher */

struct pub {
	const struct cfg *c;
	struct mosquitto *m;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long acked;
	int connected, refused;
};

static void pub_on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct pub *p = ud;
	(void)m;
	pthread_mutex_lock(&p->lock);
	if (rc == 0)
		p->connected = 1;
	else
		p->refused = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void pub_on_publish(struct mosquitto *m, void *ud, int mid)
{
	struct pub *p = ud;
	(void)m;
	(void)mid;
	pthread_mutex_lock(&p->lock);
	p->acked++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void pub_open(struct pub *p, const struct cfg *c)
{
	char id[128];
	snprintf(id, sizeof id, "fanout-pub-%s", c->tag);
	p->c = c;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->m = client(c, id, 1, p);
	mosquitto_max_inflight_messages_set(p->m, (unsigned)c->inflight);
	mosquitto_connect_callback_set(p->m, pub_on_connect);
	mosquitto_publish_callback_set(p->m, pub_on_publish);
	int rc = mosquitto_connect(p->m, c->host, c->port, KEEPALIVE);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_loop_start(p->m);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, PROG ": publisher cannot connect: %s\n", mosquitto_strerror(rc));
		exit(1);
	}
	pthread_mutex_lock(&p->lock);
	while (!p->connected && !p->refused)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	if (p->refused) {
		fprintf(stderr, PROG ": publisher refused by the broker\n");
		exit(1);
	}
}

/* Waits until n publishes are acked or the deadline passes; returns acked. */
static long pub_wait(struct pub *p, long n, double seconds)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)seconds;
	pthread_mutex_lock(&p->lock);
	while (p->acked < n) {
		if (pthread_cond_timedwait(&p->cond, &p->lock, &dl) == ETIMEDOUT)
			break;
	}
	long a = p->acked;
	pthread_mutex_unlock(&p->lock);
	return a;
}

static void pub_close(struct pub *p)
{
	mosquitto_disconnect(p->m);
	mosquitto_loop_stop(p->m, false);
	mosquitto_destroy(p->m);
}

static int publish(struct pub *p, struct fanout_mail *mail, const char *topic)
{
	int rc = mosquitto_publish(p->m, NULL, topic, (int)mail->len, mail->buf, QOS, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, PROG ": publish: %s\n", mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ throughput */

static int run_throughput(const struct cfg *c, struct fanout_mail *mail)
{
	struct run r = { .topic = TOPIC_TP, .expect = c->count };
	make_subs(&r, c, "tp");
	/* 1. Durable sessions, then offline. */
	connect_all(&r);
	if (!wait_for(&r, &r.nsubscribed, r.n, 30)) {
		fprintf(stderr, PROG ": subscriptions not confirmed\n");
		return 1;
	}
	disconnect_all(&r);
	/* 2. N messages queued for every session. */
	struct pub p = { 0 };
	pub_open(&p, c);
	uint64_t t0 = fanout_now_ns();
	for (long i = 0; i < c->count; i++) {
		fanout_mail_stamp(mail, (uint64_t)i, fanout_now_ns());
		if (publish(&p, mail, r.topic) < 0)
			return 1;
	}
	long acked = pub_wait(&p, c->count, 120);
	double pub_s = (double)(fanout_now_ns() - t0) / 1e9;
	pub_close(&p);
	if (acked < c->count) {
		fprintf(stderr, PROG ": only %ld of %ld publishes acked\n", acked, c->count);
		return 1;
	}
	printf("prepublished count=%ld seconds=%.3f rate=%.1f\n", c->count, pub_s,
	       (double)c->count / pub_s);
	fflush(stdout);
	/* 3. Drain. */
	double cpu0 = fanout_cpu_seconds();
	t0 = fanout_now_ns();
	for (int i = 0; i < r.n; i++) {
		int rc = mosquitto_reconnect(r.subs[i].m);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, PROG ": reconnect %d: %s\n", i, mosquitto_strerror(rc));
			return 1;
		}
	}
	int ok = wait_for(&r, &r.done, r.n, 300);
	/* The last PUBACKs leave with the loop's next writes. */
	for (int i = 0; i < 3; i++)
		pump(&r, 0);
	double secs = (double)(fanout_now_ns() - t0) / 1e9;
	double cpu = fanout_cpu_seconds() - cpu0;
	printf("result mode=throughput subs=%d count=%ld deliveries=%ld expected=%ld seconds=%.3f "
	       "rate=%.1f client_cpu_s=%.2f\n",
	       r.n, c->count, r.deliveries, (long)r.n * c->count, secs,
	       (double)r.deliveries / secs, cpu);
	disconnect_all(&r);
	free_subs(&r);
	if (!ok)
		fprintf(stderr, PROG ": %ld of %ld deliveries arrived\n", r.deliveries,
			(long)r.n * c->count);
	return ok ? 0 : 1;
}

/* --------------------------------------------------------------- latency */

struct pacer {
	struct pub *p;
	struct fanout_mail *mail;
	const struct cfg *c;
	atomic_long sent;
	atomic_int finished;
	double seconds;       /* from the first to the last publish */
	long behind;          /* publishes more than 10 ms late */
};

static void *pace(void *arg)
{
	struct pacer *pc = arg;
	const struct cfg *c = pc->c;
	long total = c->rate * c->seconds;
	uint64_t t0 = fanout_now_ns(), last = t0;
	for (long i = 0; i < total; i++) {
		uint64_t due = t0 + (uint64_t)((double)i * 1e9 / (double)c->rate);
		struct timespec ts = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		last = fanout_now_ns();
		if (last > due + 10000000u)
			pc->behind++;
		fanout_mail_stamp(pc->mail, (uint64_t)i, last);
		if (publish(pc->p, pc->mail, TOPIC_LAT) < 0)
			break;
		atomic_store(&pc->sent, i + 1);
	}
	pc->seconds = (double)(last - t0) / 1e9;
	atomic_store(&pc->finished, 1);
	return NULL;
}

static int run_latency(const struct cfg *c, struct fanout_mail *mail)
{
	long total = c->rate * c->seconds;
	struct run r = { .topic = TOPIC_LAT, .expect = -1, .record = 1 };
	if (fanout_lat_init(&r.lat, (size_t)total * (size_t)c->subs) < 0)
		die("%s", "out of memory");
	make_subs(&r, c, "lat");
	connect_all(&r);
	if (!wait_for(&r, &r.nsubscribed, r.n, 30)) {
		fprintf(stderr, PROG ": subscriptions not confirmed\n");
		return 1;
	}
	struct pub p = { 0 };
	pub_open(&p, c);
	struct pacer pc = { .p = &p, .mail = mail, .c = c };
	double cpu0 = fanout_cpu_seconds();
	pthread_t th;
	if (pthread_create(&th, NULL, pace, &pc) != 0)
		die("%s", "pthread_create failed");
	while (!atomic_load(&pc.finished) && !r.failed)
		pump(&r, 5);
	pthread_join(th, NULL);
	long sent = atomic_load(&pc.sent);
	r.expect = sent;
	for (int i = 0; i < r.n; i++)
		if (r.subs[i].got >= sent)
			r.done++;
	wait_for(&r, &r.done, r.n, (double)c->drain);
	for (int i = 0; i < 3; i++)
		pump(&r, 0);
	long acked = pub_wait(&p, sent, 1);
	double cpu = fanout_cpu_seconds() - cpu0;
	pub_close(&p);
	long expected = sent * r.n;
	char prefix[512];
	snprintf(prefix, sizeof prefix,
		 "result mode=latency subs=%d sent=%ld send_seconds=%.3f send_rate=%.1f late_sends=%ld "
		 "pub_acked=%ld deliveries=%ld expected=%ld lost=%ld client_cpu_s=%.2f",
		 r.n, sent, pc.seconds, pc.seconds > 0 ? (double)(sent - 1) / pc.seconds : 0.0,
		 pc.behind, acked, r.deliveries, expected, expected - r.deliveries, cpu);
	fanout_lat_print(&r.lat, prefix);
	disconnect_all(&r);
	free_subs(&r);
	fanout_lat_free(&r.lat);
	return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " CONN --throughput --count N --subs M [--tag T]\n"
		"       " PROG " CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]\n"
		"  CONN: --port P --ca PEM --cert PEM --key PEM [--host H] [--inflight W]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "tag", required_argument, NULL, 'T' },
		{ "inflight", required_argument, NULL, 'w' },
		{ "throughput", no_argument, NULL, 't' },
		{ "latency", no_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'n' },
		{ "subs", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "drain", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg c = { .host = "127.0.0.1", .tag = "0", .inflight = 100, .subs = 1,
			 .count = 1000, .rate = 1000, .seconds = 10, .drain = 10 };
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': c.host = optarg; break;
		case 'P': c.port = (int)fanout_parse_long(PROG, "--port", optarg, 1); break;
		case 'a': c.ca = optarg; break;
		case 'c': c.cert = optarg; break;
		case 'k': c.key = optarg; break;
		case 'T': c.tag = optarg; break;
		case 'w': c.inflight = (int)fanout_parse_long(PROG, "--inflight", optarg, 1); break;
		case 't': c.throughput = 1; break;
		case 'l': c.latency = 1; break;
		case 'n': c.count = fanout_parse_long(PROG, "--count", optarg, 1); break;
		case 'm': c.subs = (int)fanout_parse_long(PROG, "--subs", optarg, 1); break;
		case 'r': c.rate = fanout_parse_long(PROG, "--rate", optarg, 1); break;
		case 's': c.seconds = fanout_parse_long(PROG, "--seconds", optarg, 1); break;
		case 'd': c.drain = fanout_parse_long(PROG, "--drain", optarg, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !c.port || !c.ca || !c.cert || !c.key ||
	    c.throughput == c.latency || c.subs > 1000) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	struct fanout_mail mail;
	if (fanout_mail_init(&mail) < 0)
		die("%s", "cannot build the mail");
	int rc = c.throughput ? run_throughput(&c, &mail) : run_latency(&c, &mail);
	fanout_mail_free(&mail);
	mosquitto_lib_cleanup();
	return rc;
}
