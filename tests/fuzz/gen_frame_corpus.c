/*
 * gen_frame_corpus: writes the fuzz_frame seed corpus (length-prefixed frame
 * streams) into the folder given as the only argument. The seeds are committed
 * in tests/fuzz/corpus/frame/; run this (ninja gen-frame-corpus) only when the
 * schema changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static const char *dir;

static void put(const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

/* Appends f to b and, when name is set, writes it alone as a seed. */
static void add(struct sx_buf *b, const char *name, Sprex__Frame *f)
{
	struct sx_buf one;

	sx_buf_init(&one, 4096);
	if (sx_frame_pack(f, SX_FRAME_PREAUTH_MAX, &one) != 0 ||
	    sx_buf_append(b, sx_buf_head(&one), sx_buf_used(&one)) != 0) {
		fprintf(stderr, "%s: cannot pack\n", name);
		exit(1);
	}
	if (name)
		put(name, sx_buf_head(&one), sx_buf_used(&one));
	sx_buf_finish(&one);
}

int main(int argc, char **argv)
{
	static const uint8_t mail[] = "From: a@example.org\r\nTo: b@example.net\r\n"
				      "Subject: =?utf-8?B?R3LDvMOfZQ==?=\r\n\r\nHello\r\n";
	struct sx_buf all;
	uint32_t versions[] = { 1, 2 };

	if (argc != 2) {
		fprintf(stderr, "usage: %s folder\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	sx_buf_init(&all, 4096);

	Sprex__Hello hello = SPREX__HELLO__INIT;
	hello.n_versions = 2;
	hello.versions = versions;
	hello.max_frame = 1u << 20;
	hello.heartbeat_ms = 15000;
	hello.agent = "sprex-agent/0.1.0";
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.id = 1;
	f.msg_case = SPREX__FRAME__MSG_HELLO;
	f.hello = &hello;
	add(&all, "hello", &f);

	Sprex__Limits limits = SPREX__LIMITS__INIT;
	limits.max_subscriptions = 16;
	limits.window_count = 100;
	limits.window_bytes = 64u << 20;
	Sprex__Welcome welcome = SPREX__WELCOME__INIT;
	welcome.version = 1;
	welcome.max_frame = 1u << 20;
	welcome.member = "isp-example";
	welcome.role = SPREX__ROLE__ROLE_ISP;
	welcome.limits = &limits;
	welcome.head_seq = 4711;
	f.msg_case = SPREX__FRAME__MSG_WELCOME;
	f.welcome = &welcome;
	add(&all, "welcome", &f);

	Sprex__Violation v = SPREX__VIOLATION__INIT;
	Sprex__Violation *vs[] = { &v };
	v.flag = "opt-in";
	v.evidence = "List-Unsubscribe missing";
	char *cats[] = { "pharma" };
	Sprex__ReportMeta meta = SPREX__REPORT_META__INIT;
	meta.report_id = "01JDB7Z3Q4";
	meta.seq = 4711;
	meta.source = SPREX__SOURCE__SOURCE_PUBLIC;
	meta.consent = 3;
	meta.source_ip = "192.0.2.7";
	meta.n_violations = 1;
	meta.violations = vs;
	meta.n_categories = 1;
	meta.categories = cats;
	Sprex__RedactionEntry re = SPREX__REDACTION_ENTRY__INIT;
	Sprex__RedactionEntry *res[] = { &re };
	re.part = "header";
	re.where = "To";
	re.kind = "address";
	re.encoding = "raw";
	re.count = 1;
	re.offset = 25;
	re.length = 13;
	Sprex__Deliver del = SPREX__DELIVER__INIT;
	del.sub_id = 1;
	del.seq = 4711;
	del.report_id = "01JDB7Z3Q4";
	del.meta = &meta;
	del.n_manifest = 1;
	del.manifest = res;
	del.raw_mail.data = (uint8_t *)mail;
	del.raw_mail.len = sizeof(mail) - 1;
	f.id = 0;
	f.msg_case = SPREX__FRAME__MSG_DELIVER;
	f.deliver = &del;
	add(&all, "deliver", &f);

	Sprex__SeqRange r1 = SPREX__SEQ_RANGE__INIT, r2 = SPREX__SEQ_RANGE__INIT;
	Sprex__SeqRange *rs[] = { &r1, &r2 };
	r1.first = 1;
	r1.last = 4700;
	r2.first = 4711;
	r2.last = 4711;
	Sprex__Ack ack = SPREX__ACK__INIT;
	ack.sub_id = 1;
	ack.n_ranges = 2;
	ack.ranges = rs;
	f.msg_case = SPREX__FRAME__MSG_ACK;
	f.ack = &ack;
	add(&all, "ack", &f);

	Sprex__Start start = SPREX__START__INIT;
	start.at_case = SPREX__START__AT_FROM_TIME_MS;
	start.from_time_ms = -1;
	char *isps[] = { "isp-a", "isp-b" };
	Sprex__Source sources[] = { SPREX__SOURCE__SOURCE_MONITOR };
	Sprex__Filter filter = SPREX__FILTER__INIT;
	filter.n_sources = 1;
	filter.sources = sources;
	filter.n_isps = 2;
	filter.isps = isps;
	Sprex__Subscribe sub = SPREX__SUBSCRIBE__INIT;
	sub.name = "main";
	sub.feed = SPREX__FEED__FEED_ENFORCEMENT;
	sub.filter = &filter;
	sub.start = &start;
	sub.reset = 1;
	f.id = 2;
	f.msg_case = SPREX__FRAME__MSG_SUBSCRIBE;
	f.subscribe = &sub;
	add(&all, "subscribe", &f);

	Sprex__StatsMonth__FiguresEntry fe = SPREX__STATS_MONTH__FIGURES_ENTRY__INIT;
	Sprex__StatsMonth__FiguresEntry *fes[] = { &fe };
	fe.key = "reports";
	fe.value = 12;
	Sprex__StatsMonth month = SPREX__STATS_MONTH__INIT;
	Sprex__StatsMonth *months[] = { &month };
	month.month = "2026-11";
	month.n_figures = 1;
	month.figures = fes;
	Sprex__Stats stats = SPREX__STATS__INIT;
	stats.n_months = 1;
	stats.months = months;
	f.msg_case = SPREX__FRAME__MSG_STATS;
	f.stats = &stats;
	add(&all, "stats", &f);

	uint8_t h[32];
	memset(h, 0xab, sizeof(h));
	ProtobufCBinaryData hashes[] = { { sizeof(h), h }, { sizeof(h), h } };
	Sprex__ConsistencyProof proof = SPREX__CONSISTENCY_PROOF__INIT;
	proof.from_size = 10;
	proof.to_size = 12;
	proof.n_hashes = 2;
	proof.hashes = hashes;
	f.msg_case = SPREX__FRAME__MSG_CONSISTENCY_PROOF;
	f.consistency_proof = &proof;
	add(&all, "proof", &f);

	Sprex__Ping ping = SPREX__PING__INIT;
	ping.nonce = 99;
	f.id = 0;
	f.msg_case = SPREX__FRAME__MSG_PING;
	f.ping = &ping;
	add(&all, NULL, &f);
	put("stream", sx_buf_head(&all), sx_buf_used(&all));

	/* Malformed: the decoder must refuse each. */
	static const uint8_t zero[] = { 0, 0, 0, 0, 0x6a, 0 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x6a, 0 };
	static const uint8_t garbage[] = { 0, 0, 0, 4, 0x6a, 0x05, 0x08, 0xff };
	static const uint8_t empty[] = { 0, 0, 0, 2, 0x08, 0x07 };
	static const uint8_t nested[] = { 0, 0, 0, 10, 0xba, 0x01, 7, 0x12, 0, 0x12, 0,
					  0x12, 0, 0x08 };
	put("bad-zero", zero, sizeof(zero));
	put("bad-huge", huge, sizeof(huge));
	put("bad-garbage", garbage, sizeof(garbage));
	put("bad-empty", empty, sizeof(empty));
	put("bad-nested", nested, sizeof(nested));
	put("bad-truncated", sx_buf_head(&all), sx_buf_used(&all) - 3);
	sx_buf_finish(&all);
	return 0;
}
