#include "agentsub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "log.h"

/* Retry delays asked for with Nak: 1 s doubling per delivery, at most 5 min. */
#define NAK_BASE_MS 1000u
#define NAK_MAX_MS 300000u
#define STATUS_MAX (64 * 1024)

struct sx_agentq {
	struct sx_agentq *next;
	Sprex__Deliver *d;              /* unpacked copy, owned */
	uint64_t generation;
	enum sx_sink_result result;
	char err[256];
};

int sx_agentsubs_init(struct sx_agentsubs *as, uv_loop_t *loop, const struct sx_agentconf *conf,
		      char *err, size_t errlen)
{
	memset(as, 0, sizeof *as);
	as->loop = loop;
	as->conf = conf;
	for (size_t i = 0; i < conf->n_subs; i++) {
		struct sx_agentsub_rt *s = &as->subs[i];
		s->conf = &conf->subs[i];
		struct sx_sink_conf sc;
		sx_agentsub_sink_conf(s->conf, &sc);
		char why[256];
		int rc = sx_sink_create(&sc, &s->sink, why, sizeof why);
		if (rc < 0) {
			snprintf(err, errlen, "subscription %s: %s", s->conf->name, why);
			sx_agentsubs_finish(as);
			return rc;
		}
		s->work.data = s;
		s->owner = as;
		as->n = i + 1;
	}
	return 0;
}

static void q_free(struct sx_agentq *q)
{
	if (!q)
		return;
	sprex__deliver__free_unpacked(q->d, NULL);
	free(q);
}

static void drop_queue(struct sx_agentsub_rt *s)
{
	while (s->head) {
		struct sx_agentq *q = s->head;
		s->head = q->next;
		q_free(q);
	}
	s->tail = NULL;
	s->queued = 0;
}

void sx_agentsubs_finish(struct sx_agentsubs *as)
{
	for (size_t i = 0; i < as->n; i++) {
		drop_queue(&as->subs[i]);
		sx_sink_destroy(as->subs[i].sink);
		as->subs[i].sink = NULL;
	}
	as->n = 0;
}

static void send_subscribe(struct sx_agentsubs *as, size_t i);

void sx_agentsubs_attach(struct sx_agentsubs *as, struct sx_agentconn *ac)
{
	as->ac = ac;
	as->generation++;
	for (size_t i = 0; i < as->n; i++)
		send_subscribe(as, i);
}

void sx_agentsubs_tick(struct sx_agentsubs *as)
{
	for (size_t i = 0; as->ac && i < as->n; i++)
		if (as->subs[i].retry) {
			as->subs[i].retry = 0;
			send_subscribe(as, i);
		}
}

static void send_subscribe(struct sx_agentsubs *as, size_t i)
{
	{
		const struct sx_agentsub *c = as->subs[i].conf;
		Sprex__Filter flt = SPREX__FILTER__INIT;
		Sprex__Source srcs[3];
		size_t ns = 0;
		for (int v = SPREX__SOURCE__SOURCE_PUBLIC; v <= SPREX__SOURCE__SOURCE_CHAIN; v++)
			if (c->sources & (1u << v))
				srcs[ns++] = (Sprex__Source)v;
		flt.n_sources = ns;
		flt.sources = srcs;
		flt.flags_any = c->flags;
		flt.categories_any = c->categories;
		flt.n_isps = c->isps.n;
		flt.isps = c->isps.v;
		flt.n_countries = c->countries.n;
		flt.countries = c->countries.v;
		Sprex__Start st = SPREX__START__INIT;
		switch (c->start.kind) {
		case SX_AGENT_START_EARLIEST:
			st.at_case = SPREX__START__AT_EARLIEST;
			st.earliest = 1;
			break;
		case SX_AGENT_START_SEQ:
			st.at_case = SPREX__START__AT_FROM_SEQ;
			st.from_seq = c->start.seq;
			break;
		case SX_AGENT_START_TIME:
			st.at_case = SPREX__START__AT_FROM_TIME_MS;
			st.from_time_ms = c->start.time_ms;
			break;
		default:
			st.at_case = SPREX__START__AT_NEW_ONLY;
			st.new_only = 1;
		}
		Sprex__Subscribe sub = SPREX__SUBSCRIBE__INIT;
		sub.name = (char *)c->name;
		sub.feed = (Sprex__Feed)c->feed;
		sub.filter = &flt;
		sub.start = &st;
		sub.window_count = c->window_count;
		sub.window_bytes = c->window_bytes;
		/* Once per run of the agent, not on every reconnect: a second
		 * reset would throw away what the outage left unacked. */
		sub.reset = c->reset && !as->subs[i].reset_done;
		Sprex__Frame f = SPREX__FRAME__INIT;
		f.id = i + 1;
		f.msg_case = SPREX__FRAME__MSG_SUBSCRIBE;
		f.subscribe = &sub;
		sx_agentconn_send(as->ac, &f);
	}
}

static struct sx_agentsub_rt *by_handle(struct sx_agentsubs *as, uint32_t sub_id)
{
	for (size_t i = 0; i < as->n; i++)
		if (sub_id && as->subs[i].sub_id == sub_id)
			return &as->subs[i];
	return NULL;
}

static struct sx_agentsub_rt *by_name(struct sx_agentsubs *as, const char *name)
{
	for (size_t i = 0; i < as->n; i++)
		if (name && strcmp(as->subs[i].conf->name, name) == 0)
			return &as->subs[i];
	return NULL;
}

static void start_next(struct sx_agentsubs *as, struct sx_agentsub_rt *s);

static void work_cb(uv_work_t *w)
{
	struct sx_agentsub_rt *s = w->data;
	struct sx_agentq *q = s->busy;
	struct sx_delivery dl = { .subscription = s->conf->name, .d = q->d };
	q->result = sx_sink_deliver(s->sink, &dl, q->err, sizeof q->err);
}

static void answer(struct sx_agentsubs *as, struct sx_agentsub_rt *s, const struct sx_agentq *q)
{
	const Sprex__Deliver *d = q->d;
	Sprex__Frame f = SPREX__FRAME__INIT;
	Sprex__Ack ack = SPREX__ACK__INIT;
	Sprex__SeqRange r = SPREX__SEQ_RANGE__INIT, *rp = &r;
	Sprex__Nak nak = SPREX__NAK__INIT;
	Sprex__Reject rej = SPREX__REJECT__INIT;
	switch (q->result) {
	case SX_SINK_ACK:
		r.first = r.last = d->seq;
		ack.sub_id = s->sub_id;
		ack.n_ranges = 1;
		ack.ranges = &rp;
		f.msg_case = SPREX__FRAME__MSG_ACK;
		f.ack = &ack;
		s->stored++;
		sx_log_debug("subscription %s: report %s (seq %llu) stored", s->conf->name,
			     d->report_id, (unsigned long long)d->seq);
		break;
	case SX_SINK_REJECT:
		rej.sub_id = s->sub_id;
		rej.seq = d->seq;
		rej.reason = (char *)q->err;
		f.msg_case = SPREX__FRAME__MSG_REJECT;
		f.reject = &rej;
		s->rejected++;
		sx_log_warn("subscription %s: report %s rejected by the sink: %s", s->conf->name,
			    d->report_id, q->err);
		break;
	default: {
		uint64_t delay = NAK_BASE_MS;
		for (uint32_t i = 1; i < d->delivery_count && delay < NAK_MAX_MS; i++)
			delay *= 2;
		nak.sub_id = s->sub_id;
		nak.seq = d->seq;
		nak.delay_ms = (uint32_t)(delay > NAK_MAX_MS ? NAK_MAX_MS : delay);
		f.msg_case = SPREX__FRAME__MSG_NAK;
		f.nak = &nak;
		s->naked++;
		sx_log_warn("subscription %s: report %s not stored (delivery %u), retry in %u ms: %s",
			    s->conf->name, d->report_id, d->delivery_count, nak.delay_ms, q->err);
	}
	}
	sx_agentconn_send(as->ac, &f);
}

static void after_cb(uv_work_t *w, int status)
{
	struct sx_agentsub_rt *s = w->data;
	struct sx_agentsubs *as = s->owner;
	struct sx_agentq *q = s->busy;
	s->busy = NULL;
	/* A verdict for an earlier session is dropped: the server redelivers
	 * what that session left unacked, and the sink is idempotent. */
	if (status == 0 && as->ac && q->generation == as->generation && s->sub_id)
		answer(as, s, q);
	q_free(q);
	start_next(as, s);
}

static void start_next(struct sx_agentsubs *as, struct sx_agentsub_rt *s)
{
	if (s->busy || !s->head)
		return;
	s->busy = s->head;
	s->head = s->head->next;
	if (!s->head)
		s->tail = NULL;
	s->queued--;
	if (uv_queue_work(as->loop, &s->work, work_cb, after_cb) < 0) {
		q_free(s->busy);
		s->busy = NULL;
	}
}

/* Copies the Deliver out of the frame (freed after on_frame returns). */
static Sprex__Deliver *copy_deliver(const Sprex__Deliver *d)
{
	size_t n = protobuf_c_message_get_packed_size(&d->base);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return NULL;
	protobuf_c_message_pack(&d->base, buf);
	Sprex__Deliver *c = sprex__deliver__unpack(NULL, n, buf);
	free(buf);
	return c;
}

static void on_deliver(struct sx_agentsubs *as, const Sprex__Deliver *d)
{
	struct sx_agentsub_rt *s = by_handle(as, d->sub_id);
	if (!s) {
		sx_log_warn("delivery for unknown subscription handle %u ignored", d->sub_id);
		return;
	}
	if (s->queued >= SX_AGENT_QUEUE_MAX) {
		sx_log_warn("subscription %s: queue full (%d), report %s left for redelivery",
			    s->conf->name, SX_AGENT_QUEUE_MAX, d->report_id);
		return;
	}
	struct sx_agentq *q = calloc(1, sizeof *q);
	if (q)
		q->d = copy_deliver(d);
	if (!q || !q->d) {
		free(q);
		sx_log_err("subscription %s: out of memory; report %s left for redelivery",
			   s->conf->name, d->report_id);
		return;
	}
	q->generation = as->generation;
	if (s->tail)
		s->tail->next = q;
	else
		s->head = q;
	s->tail = q;
	s->queued++;
	start_next(as, s);
}

/* The status file: what the latest heartbeat said, per subscription, as one
 * JSON object, replaced atomically so a reader never sees half of it. */
static void write_status(struct sx_agentsubs *as, int64_t time_ms)
{
	const char *path = as->conf->status_file;
	if (!path)
		return;
	struct sx_buf b;
	sx_buf_init(&b, STATUS_MAX);
	struct sx_json j;
	sx_json_init(&j, &b);
	sx_json_obj_begin(&j);
	sx_json_key(&j, "time_ms");
	sx_json_int(&j, time_ms);
	sx_json_key(&j, "member");
	sx_json_str(&j, as->ac ? sx_agentconn_member(as->ac) : "");
	sx_json_key(&j, "subscriptions");
	sx_json_arr_begin(&j);
	for (size_t i = 0; i < as->n; i++) {
		const struct sx_agentsub_rt *s = &as->subs[i];
		sx_json_obj_begin(&j);
		sx_json_key(&j, "name");
		sx_json_str(&j, s->conf->name);
		sx_json_key(&j, "attached");
		sx_json_bool(&j, s->sub_id != 0);
		sx_json_key(&j, "last_seq");
		sx_json_int(&j, (int64_t)s->last_seq);
		sx_json_key(&j, "ack_floor");
		sx_json_int(&j, (int64_t)s->ack_floor);
		sx_json_key(&j, "pending");
		sx_json_int(&j, s->pending);
		sx_json_key(&j, "stalled");
		sx_json_bool(&j, s->stalled);
		sx_json_key(&j, "backlog");
		sx_json_int(&j, (int64_t)s->backlog);
		sx_json_key(&j, "stored");
		sx_json_int(&j, (int64_t)s->stored);
		sx_json_key(&j, "rejected");
		sx_json_int(&j, (int64_t)s->rejected);
		sx_json_key(&j, "naked");
		sx_json_int(&j, (int64_t)s->naked);
		sx_json_obj_end(&j);
	}
	sx_json_arr_end(&j);
	sx_json_obj_end(&j);
	if (sx_json_finish(&j) == 0 && sx_buf_append(&b, "\n", 1) == 0) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, b.data + b.off, sx_buf_used(&b));
			int ok = w == (ssize_t)sx_buf_used(&b);
			close(fd);
			if (!ok || rename(tmp, path) < 0)
				sx_log_warn("status file %s not written: %s", path, strerror(errno));
		} else {
			sx_log_warn("status file %s not written: %s", tmp, strerror(errno));
		}
	}
	sx_buf_finish(&b);
}

static void on_heartbeat(struct sx_agentsubs *as, const Sprex__Heartbeat *hb)
{
	for (size_t i = 0; i < hb->n_subscriptions; i++) {
		const Sprex__SubscriptionState *st = hb->subscriptions[i];
		struct sx_agentsub_rt *s = by_handle(as, st->sub_id);
		if (!s)
			continue;
		s->last_seq = st->last_seq;
		s->ack_floor = st->ack_floor;
		s->pending = st->pending;
		s->stalled = st->stalled;
		s->backlog = st->backlog;
		sx_log_debug("subscription %s: last seq %llu, ack floor %llu, %u pending%s",
			     s->conf->name, (unsigned long long)st->last_seq,
			     (unsigned long long)st->ack_floor, st->pending,
			     st->stalled ? ", stalled" : "");
	}
	write_status(as, hb->time_ms);
}

int sx_agentsubs_frame(struct sx_agentsubs *as, const Sprex__Frame *f)
{
	switch (f->msg_case) {
	case SPREX__FRAME__MSG_SUBSCRIBED: {
		struct sx_agentsub_rt *s = by_name(as, f->subscribed->name);
		if (!s)
			return 1;
		s->sub_id = f->subscribed->sub_id;
		s->reset_done = 1;
		sx_log_info("subscription %s %s at seq %llu (window %u reports, %llu bytes)",
			    s->conf->name, f->subscribed->created ? "created" : "attached",
			    (unsigned long long)f->subscribed->position, f->subscribed->window_count,
			    (unsigned long long)f->subscribed->window_bytes);
		return 1;
	}
	case SPREX__FRAME__MSG_DELIVER:
		on_deliver(as, f->deliver);
		return 1;
	case SPREX__FRAME__MSG_HEARTBEAT:
		on_heartbeat(as, f->heartbeat);
		return 1;
	case SPREX__FRAME__MSG_GAP: {
		struct sx_agentsub_rt *s = by_handle(as, f->gap->sub_id);
		sx_log_warn("subscription %s: reports %llu..%llu were purged by retention before "
			    "they reached us (gap)", s ? s->conf->name : "?",
			    (unsigned long long)f->gap->from_seq, (unsigned long long)f->gap->to_seq);
		return 1;
	}
	case SPREX__FRAME__MSG_PARKED: {
		struct sx_agentsub_rt *s = by_handle(as, f->parked->sub_id);
		sx_log_warn("subscription %s: report %s (seq %llu) parked after %u deliveries: %s; "
			    "see sprex-agent parked", s ? s->conf->name : "?", f->parked->report_id,
			    (unsigned long long)f->parked->seq, f->parked->delivery_count,
			    f->parked->reason);
		return 1;
	}
	case SPREX__FRAME__MSG_ERROR:
		if (f->id >= 1 && f->id <= as->n) {
			int passing = f->error->code == SPREX__ERROR_CODE__ERROR_BUSY ||
				      f->error->code == SPREX__ERROR_CODE__ERROR_INTERNAL;
			sx_log_err("subscription %s refused by the server: %s: %s%s",
				   as->subs[f->id - 1].conf->name, sx_error_name(f->error->code),
				   f->error->message,
				   passing ? "; trying again at the next heartbeat" : "");
			as->subs[f->id - 1].retry = passing;
			return 1;
		}
		sx_log_warn("server error: %s: %s", sx_error_name(f->error->code),
			    f->error->message);
		return 1;
	default:
		return 0;
	}
}

void sx_agentsubs_detach(struct sx_agentsubs *as)
{
	as->ac = NULL;
	as->generation++;
	for (size_t i = 0; i < as->n; i++) {
		drop_queue(&as->subs[i]);
		as->subs[i].sub_id = 0;
	}
}
