/*
 * fanout-nats: the fan-out workload of bench/fanout.sh against nats-server
 * with JetStream (TLS with a client certificate, `verify: true`; a stream
 * with file storage; one durable push consumer per subscriber, explicit ack).
 *
 *   fanout-nats CONN --throughput --count N --subs M [--tag T]
 *       1. Creates the stream FANOUT_T (subject fanout.T.*, file storage,
 *          limits retention) and publishes N messages to it, waiting for
 *          every publish acknowledgement (the stream has stored them).
 *       2. The clock starts; M subscribers each open a connection and create
 *          a durable push consumer (deliver all, explicit ack, max ack
 *          pending W) and ack every message with natsMsg_Ack; the clock stops
 *          when every subscriber has all N.
 *       Prints "result mode=throughput ... rate=DELIVERIES_PER_S".
 *
 *   fanout-nats CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]
 *       M subscribers attach durable consumers (deliver new); then a publisher
 *       thread publishes (js_PublishAsync) R messages per second for S
 *       seconds with the send time in X-Bench-Sent. Prints p50/p99 of
 *       receive minus send over every delivery.
 *
 *   CONN is --port P --ca PEM --cert PEM --key PEM [--host H] [--window W]
 *   (W: the consumers' MaxAckPending, default 100).
 *
 * libnats gives each connection its own reader thread; the message callbacks
 * of all subscribers run on one shared delivery thread
 * (natsOptions_UseGlobalMessageDelivery), the nearest the library comes to
 * one event loop for every subscriber.
 *
 * Exit status: 0 measured; 1 the run failed; 2 usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "fanout_common.h"

#define PROG "fanout-nats"

struct cfg {
	const char *host, *ca, *cert, *key, *tag;
	int port, window, subs, throughput, latency;
	long count, rate, seconds, drain;
};

struct run;

struct sub {
	struct run *run;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	atomic_long got;
};

struct run {
	const struct cfg *c;
	struct sub *subs;
	int n;
	atomic_long expect;   /* per subscriber; 0 while unknown */
	atomic_long done;
	atomic_long deliveries;
	atomic_long ack_errors;
	int record;
	pthread_mutex_t lock;
	struct fanout_lat lat;
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

static void check(natsStatus s, const char *what)
{
	if (s == NATS_OK)
		return;
	fprintf(stderr, PROG ": %s: %s\n", what, natsStatus_GetText(s));
	nats_PrintLastErrorStack(stderr);
	exit(1);
}

static void jcheck(natsStatus s, jsErrCode jerr, const char *what)
{
	if (s == NATS_OK)
		return;
	fprintf(stderr, PROG ": %s: %s (JetStream error %d)\n", what, natsStatus_GetText(s),
		(int)jerr);
	nats_PrintLastErrorStack(stderr);
	exit(1);
}

static void connect_one(const struct cfg *c, natsConnection **nc, jsCtx **js)
{
	natsOptions *o = NULL;
	char url[300];
	snprintf(url, sizeof url, "tls://%s:%d", c->host, c->port);
	check(natsOptions_Create(&o), "options");
	check(natsOptions_SetURL(o, url), "url");
	check(natsOptions_SetSecure(o, true), "secure");
	check(natsOptions_LoadCATrustedCertificates(o, c->ca), "CA file");
	check(natsOptions_LoadCertificatesChain(o, c->cert, c->key), "client certificate");
	check(natsOptions_SetExpectedHostname(o, "localhost"), "host name");
	check(natsOptions_UseGlobalMessageDelivery(o, true), "global delivery");
	check(natsConnection_Connect(nc, o), "connect");
	natsOptions_Destroy(o);
	jsOptions jo;
	check(jsOptions_Init(&jo), "jetstream options");
	jo.PublishAsync.MaxPending = 1024;
	check(natsConnection_JetStream(js, *nc, &jo), "jetstream context");
}

static void stream_name(const struct cfg *c, char *out, size_t len)
{
	snprintf(out, len, "FANOUT_%s", c->tag);
}

static void subject(const struct cfg *c, const char *kind, char *out, size_t len)
{
	snprintf(out, len, "fanout.%s.%s", c->tag, kind);
}

static void add_stream(const struct cfg *c, jsCtx *js)
{
	char name[128], subj[160];
	stream_name(c, name, sizeof name);
	snprintf(subj, sizeof subj, "fanout.%s.*", c->tag);
	const char *subjects[] = { subj };
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Retention = js_LimitsPolicy;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jcheck(js_AddStream(&si, js, &sc, NULL, &jerr), jerr, "add stream");
	jsStreamInfo_Destroy(si);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct sub *s = closure;
	struct run *r = s->run;
	(void)nc;
	(void)sub;
	if (r->record) {
		uint64_t sent = fanout_sent_ns(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
		uint64_t now = fanout_now_ns();
		if (sent) {
			pthread_mutex_lock(&r->lock);
			fanout_lat_add(&r->lat, sent, now);
			pthread_mutex_unlock(&r->lock);
		}
	}
	if (natsMsg_Ack(msg, NULL) != NATS_OK)
		atomic_fetch_add(&r->ack_errors, 1);
	natsMsg_Destroy(msg);
	atomic_fetch_add(&r->deliveries, 1);
	long got = atomic_fetch_add(&s->got, 1) + 1;
	long want = atomic_load(&r->expect);
	if (want > 0 && got == want)
		atomic_fetch_add(&r->done, 1);
}

static void attach(struct run *r, int i, const char *kind, jsDeliverPolicy policy)
{
	const struct cfg *c = r->c;
	struct sub *s = &r->subs[i];
	char durable[128], subj[160], stream[128];
	snprintf(durable, sizeof durable, "%s-%d", kind, i);
	subject(c, kind, subj, sizeof subj);
	stream_name(c, stream, sizeof stream);
	s->run = r;
	connect_one(c, &s->nc, &s->js);
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.ManualAck = true;
	so.Config.Durable = durable;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.DeliverPolicy = policy;
	so.Config.MaxAckPending = c->window;
	jsErrCode jerr = 0;
	jcheck(js_Subscribe(&s->sub, s->js, subj, on_msg, s, NULL, &so, &jerr), jerr,
	       "subscribe");
	/* Deliveries are counted, never dropped by the client's own limits. */
	check(natsSubscription_SetPendingLimits(s->sub, -1, -1), "pending limits");
}

static void detach_all(struct run *r)
{
	for (int i = 0; i < r->n; i++) {
		struct sub *s = &r->subs[i];
		if (s->sub) {
			natsSubscription_Unsubscribe(s->sub);
			natsSubscription_Destroy(s->sub);
		}
		jsCtx_Destroy(s->js);
		natsConnection_Destroy(s->nc);
	}
	free(r->subs);
}

static void init_run(struct run *r, const struct cfg *c)
{
	r->c = c;
	r->n = c->subs;
	r->subs = calloc((size_t)r->n, sizeof *r->subs);
	if (!r->subs)
		die("out of memory");
	pthread_mutex_init(&r->lock, NULL);
}

/* Waits until every subscriber has its share, or the deadline. */
static int wait_done(struct run *r, double seconds)
{
	uint64_t end = fanout_now_ns() + (uint64_t)(seconds * 1e9);
	while (atomic_load(&r->done) < r->n && fanout_now_ns() < end)
		usleep(1000);
	return atomic_load(&r->done) >= r->n;
}

static natsStatus publish(jsCtx *js, const char *subj, struct fanout_mail *m)
{
	return js_PublishAsync(js, subj, m->buf, (int)m->len, NULL);
}

static int publish_complete(jsCtx *js, double seconds)
{
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = (int64_t)(seconds * 1000);
	natsMsgList pending = { 0 };
	natsStatus s = js_PublishAsyncComplete(js, &po);
	if (s != NATS_OK) {
		fprintf(stderr, PROG ": publish acknowledgements: %s\n", natsStatus_GetText(s));
		if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) {
			fprintf(stderr, PROG ": %d publishes unacknowledged\n", pending.Count);
			natsMsgList_Destroy(&pending);
		}
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ throughput */

static int run_throughput(const struct cfg *c, struct fanout_mail *mail)
{
	natsConnection *pnc = NULL;
	jsCtx *pjs = NULL;
	connect_one(c, &pnc, &pjs);
	add_stream(c, pjs);
	char subj[160];
	subject(c, "tp", subj, sizeof subj);
	uint64_t t0 = fanout_now_ns();
	for (long i = 0; i < c->count; i++) {
		fanout_mail_stamp(mail, (uint64_t)i, fanout_now_ns());
		check(publish(pjs, subj, mail), "publish");
	}
	if (publish_complete(pjs, 120) < 0)
		return 1;
	double pub_s = (double)(fanout_now_ns() - t0) / 1e9;
	printf("prepublished count=%ld seconds=%.3f rate=%.1f\n", c->count, pub_s,
	       (double)c->count / pub_s);
	fflush(stdout);

	struct run r = { 0 };
	init_run(&r, c);
	atomic_store(&r.expect, c->count);
	double cpu0 = fanout_cpu_seconds();
	t0 = fanout_now_ns();
	for (int i = 0; i < r.n; i++)
		attach(&r, i, "tp", js_DeliverAll);
	int ok = wait_done(&r, 300);
	double secs = (double)(fanout_now_ns() - t0) / 1e9;
	/* Acks are written by each connection's flusher; let the last ones go. */
	for (int i = 0; i < r.n; i++)
		natsConnection_FlushTimeout(r.subs[i].nc, 2000);
	double cpu = fanout_cpu_seconds() - cpu0;
	long d = atomic_load(&r.deliveries);
	printf("result mode=throughput subs=%d count=%ld deliveries=%ld expected=%ld seconds=%.3f "
	       "rate=%.1f ack_errors=%ld client_cpu_s=%.2f\n",
	       r.n, c->count, d, (long)r.n * c->count, secs, (double)d / secs,
	       atomic_load(&r.ack_errors), cpu);
	fflush(stdout);
	detach_all(&r);
	jsCtx_Destroy(pjs);
	natsConnection_Destroy(pnc);
	if (!ok)
		fprintf(stderr, PROG ": %ld of %ld deliveries arrived\n", d, (long)r.n * c->count);
	return ok ? 0 : 1;
}

/* --------------------------------------------------------------- latency */

struct pacer {
	const struct cfg *c;
	jsCtx *js;
	struct fanout_mail *mail;
	const char *subj;
	long sent, behind, errors;
	double seconds;
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
		if (publish(pc->js, pc->subj, pc->mail) != NATS_OK) {
			pc->errors++;
			continue;
		}
		pc->sent++;
	}
	pc->seconds = (double)(last - t0) / 1e9;
	return NULL;
}

static int run_latency(const struct cfg *c, struct fanout_mail *mail)
{
	long total = c->rate * c->seconds;
	natsConnection *pnc = NULL;
	jsCtx *pjs = NULL;
	connect_one(c, &pnc, &pjs);
	add_stream(c, pjs);
	struct run r = { .record = 1 };
	init_run(&r, c);
	if (fanout_lat_init(&r.lat, (size_t)total * (size_t)c->subs) < 0)
		die("out of memory");
	for (int i = 0; i < r.n; i++)
		attach(&r, i, "lat", js_DeliverNew);
	char subj[160];
	subject(c, "lat", subj, sizeof subj);
	struct pacer pc = { .c = c, .js = pjs, .mail = mail, .subj = subj };
	double cpu0 = fanout_cpu_seconds();
	pthread_t th;
	if (pthread_create(&th, NULL, pace, &pc) != 0)
		die("pthread_create failed");
	pthread_join(th, NULL);
	int acked = publish_complete(pjs, (double)c->drain) == 0;
	/* Count the subscribers already complete, then wait for the rest. */
	atomic_store(&r.expect, pc.sent);
	long complete = 0;
	for (int i = 0; i < r.n; i++)
		if (atomic_load(&r.subs[i].got) >= pc.sent)
			complete++;
	atomic_fetch_add(&r.done, complete);
	wait_done(&r, (double)c->drain);
	double cpu = fanout_cpu_seconds() - cpu0;
	long d = atomic_load(&r.deliveries), expected = pc.sent * r.n;
	char prefix[512];
	pthread_mutex_lock(&r.lock);
	snprintf(prefix, sizeof prefix,
		 "result mode=latency subs=%d sent=%ld send_seconds=%.3f send_rate=%.1f late_sends=%ld "
		 "pub_acked=%ld deliveries=%ld expected=%ld lost=%ld ack_errors=%ld "
		 "client_cpu_s=%.2f",
		 r.n, pc.sent, pc.seconds,
		 pc.seconds > 0 ? (double)(pc.sent - 1) / pc.seconds : 0.0, pc.behind,
		 acked ? pc.sent : -1L, d, expected, expected - d, atomic_load(&r.ack_errors), cpu);
	fanout_lat_print(&r.lat, prefix);
	pthread_mutex_unlock(&r.lock);
	fflush(stdout);
	detach_all(&r);
	fanout_lat_free(&r.lat);
	jsCtx_Destroy(pjs);
	natsConnection_Destroy(pnc);
	return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " CONN --throughput --count N --subs M [--tag T]\n"
		"       " PROG " CONN --latency --rate R --seconds S --subs M [--drain D] [--tag T]\n"
		"  CONN: --port P --ca PEM --cert PEM --key PEM [--host H] [--window W]\n");
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
		{ "window", required_argument, NULL, 'w' },
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
	struct cfg c = { .host = "127.0.0.1", .tag = "0", .window = 100, .subs = 1,
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
		case 'w': c.window = (int)fanout_parse_long(PROG, "--window", optarg, 1); break;
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
	for (const char *t = c.tag; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '_'))
			die("--tag takes letters, digits and _ only");
	signal(SIGPIPE, SIG_IGN);
	check(nats_Open(-1), "nats_Open");
	struct fanout_mail mail;
	if (fanout_mail_init(&mail) < 0)
		die("cannot build the mail");
	int rc = c.throughput ? run_throughput(&c, &mail) : run_latency(&c, &mail);
	fanout_mail_free(&mail);
	nats_Close();
	return rc;
}
