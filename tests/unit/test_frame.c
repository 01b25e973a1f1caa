/* Frame codec: chunking, length edges, sticky errors, the unpack budget, pack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "frame.h"

/*
 * Counting malloc. While armed, every byte requested through malloc, calloc or
 * realloc is added up; frees are not subtracted, so the sum bounds the peak.
 * Under ASan the sanitizer's hooks count; otherwise this executable's malloc
 * preempts glibc's (for protobuf-c too) and forwards to it.
 */
static int armed;
static size_t alloc_bytes, alloc_calls;

static void count(size_t n)
{
	if (armed) {
		alloc_bytes += n;
		alloc_calls++;
	}
}

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

#ifdef ASAN
int __sanitizer_install_malloc_and_free_hooks(
	void (*on_malloc)(const volatile void *p, size_t n),
	void (*on_free)(const volatile void *p));

static void asan_malloc(const volatile void *p, size_t n)
{
	count(n);
}

static void asan_free(const volatile void *p)
{
}

static void counting_init(void)
{
	__sanitizer_install_malloc_and_free_hooks(asan_malloc, asan_free);
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
	count(n);
	return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	count(k * n);
	return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	count(n);
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}

static void counting_init(void)
{
}
#endif

static void arm(void)
{
	alloc_bytes = alloc_calls = 0;
	armed = 1;
}

static void disarm(void)
{
	armed = 0;
}

static uint32_t rnd_state;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	rnd_state = seed;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* ---------------------------------------------------------------- sample stream */

#define NSAMPLE 8

/* Several frames of different types, packed back to back. */
struct sample {
	struct sx_buf stream;
	size_t n;
	size_t off[NSAMPLE], len[NSAMPLE];
};

static void sample_add(struct sample *s, Sprex__Frame *f)
{
	size_t before = sx_buf_used(&s->stream);

	assert_int_equal(sx_frame_pack(f, SX_FRAME_PREAUTH_MAX, &s->stream), 0);
	s->off[s->n] = before;
	s->len[s->n] = sx_buf_used(&s->stream) - before;
	assert_int_equal(s->len[s->n], sx_frame_size(f));
	s->n++;
}

static void sample_build(struct sample *s)
{
	static uint8_t mail[300];
	uint32_t versions[] = { 1, 2 };
	sx_buf_init(&s->stream, 1u << 20);
	s->n = 0;
	fill(mail, sizeof(mail), 7);

	Sprex__Hello hello = SPREX__HELLO__INIT;
	hello.n_versions = 2;
	hello.versions = versions;
	hello.max_frame = 1u << 20;
	hello.heartbeat_ms = 15000;
	hello.agent = "sprex-agent/0.1";
	Sprex__Frame f1 = SPREX__FRAME__INIT;
	f1.id = 1;
	f1.msg_case = SPREX__FRAME__MSG_HELLO;
	f1.hello = &hello;
	sample_add(s, &f1);

	Sprex__Ping ping = SPREX__PING__INIT;
	ping.nonce = 0xdeadbeefcafeULL;
	Sprex__Frame f2 = SPREX__FRAME__INIT;
	f2.msg_case = SPREX__FRAME__MSG_PING;
	f2.ping = &ping;
	sample_add(s, &f2);

	Sprex__Violation v1 = SPREX__VIOLATION__INIT, v2 = SPREX__VIOLATION__INIT;
	Sprex__Violation *vs[] = { &v1, &v2 };
	v1.flag = "opt-in";
	v1.evidence = "no consent record";
	v2.flag = "labeling";
	v2.article = "50";
	char *cats[] = { "pharma", "loan" };
	Sprex__ReportMeta meta = SPREX__REPORT_META__INIT;
	meta.report_id = "01JDB7Z3Q4";
	meta.seq = 123456;
	meta.source = SPREX__SOURCE__SOURCE_PUBLIC;
	meta.consent = 3;
	meta.received_ms = 1732800000000;
	meta.source_ip = "192.0.2.7";
	meta.n_violations = 2;
	meta.violations = vs;
	meta.n_categories = 2;
	meta.categories = cats;
	Sprex__RedactionEntry r[3] = { SPREX__REDACTION_ENTRY__INIT,
		SPREX__REDACTION_ENTRY__INIT, SPREX__REDACTION_ENTRY__INIT };
	Sprex__RedactionEntry *rs[] = { &r[0], &r[1], &r[2] };
	for (int i = 0; i < 3; i++) {
		r[i].part = "1.2";
		r[i].where = "To";
		r[i].kind = "address";
		r[i].count = (uint32_t)i + 1;
		r[i].offset = 100u * (unsigned)i;
		r[i].length = 17;
	}
	Sprex__Deliver del = SPREX__DELIVER__INIT;
	del.sub_id = 3;
	del.seq = 123456;
	del.report_id = "01JDB7Z3Q4";
	del.meta = &meta;
	del.n_manifest = 3;
	del.manifest = rs;
	del.raw_mail.data = mail;
	del.raw_mail.len = sizeof(mail);
	Sprex__Frame f3 = SPREX__FRAME__INIT;
	f3.msg_case = SPREX__FRAME__MSG_DELIVER;
	f3.deliver = &del;
	sample_add(s, &f3);

	Sprex__SeqRange sr[2] = { SPREX__SEQ_RANGE__INIT, SPREX__SEQ_RANGE__INIT };
	Sprex__SeqRange *srs[] = { &sr[0], &sr[1] };
	sr[0].first = 1;
	sr[0].last = 10;
	sr[1].first = 12;
	sr[1].last = 12;
	Sprex__Ack ack = SPREX__ACK__INIT;
	ack.sub_id = 3;
	ack.n_ranges = 2;
	ack.ranges = srs;
	Sprex__Frame f4 = SPREX__FRAME__INIT;
	f4.id = 99;
	f4.msg_case = SPREX__FRAME__MSG_ACK;
	f4.ack = &ack;
	sample_add(s, &f4);

	Sprex__StatsMonth__FiguresEntry fe[2] = { SPREX__STATS_MONTH__FIGURES_ENTRY__INIT,
		SPREX__STATS_MONTH__FIGURES_ENTRY__INIT };
	Sprex__StatsMonth__FiguresEntry *fes[] = { &fe[0], &fe[1] };
	fe[0].key = "reports";
	fe[0].value = 4711;
	fe[1].key = "notices";
	fe[1].value = 42;
	Sprex__StatsMonth month = SPREX__STATS_MONTH__INIT;
	Sprex__StatsMonth *months[] = { &month };
	month.month = "2026-11";
	month.n_figures = 2;
	month.figures = fes;
	Sprex__Stats stats = SPREX__STATS__INIT;
	stats.n_months = 1;
	stats.months = months;
	Sprex__Frame f5 = SPREX__FRAME__INIT;
	f5.msg_case = SPREX__FRAME__MSG_STATS;
	f5.stats = &stats;
	sample_add(s, &f5);

	Sprex__Start start = SPREX__START__INIT;
	start.at_case = SPREX__START__AT_FROM_SEQ;
	start.from_seq = 1000;
	char *countries[] = { "DE", "AT" };
	Sprex__Filter filter = SPREX__FILTER__INIT;
	filter.flags_any = 5;
	filter.n_countries = 2;
	filter.countries = countries;
	Sprex__Subscribe sub = SPREX__SUBSCRIBE__INIT;
	sub.name = "main";
	sub.feed = SPREX__FEED__FEED_ENFORCEMENT;
	sub.filter = &filter;
	sub.start = &start;
	Sprex__Frame f6 = SPREX__FRAME__INIT;
	f6.id = 7;
	f6.msg_case = SPREX__FRAME__MSG_SUBSCRIBE;
	f6.subscribe = &sub;
	sample_add(s, &f6);

	Sprex__Error err = SPREX__ERROR__INIT;
	err.code = SPREX__ERROR_CODE__ERROR_UNSUPPORTED_VERSION;
	err.message = "no common version";
	err.n_supported_versions = 1;
	err.supported_versions = versions;
	Sprex__Frame f7 = SPREX__FRAME__INIT;
	f7.msg_case = SPREX__FRAME__MSG_ERROR;
	f7.error = &err;
	sample_add(s, &f7);

	/* An empty message in the oneof is still a message: 2-byte body. */
	Sprex__Pong pong = SPREX__PONG__INIT;
	Sprex__Frame f8 = SPREX__FRAME__INIT;
	f8.msg_case = SPREX__FRAME__MSG_PONG;
	f8.pong = &pong;
	sample_add(s, &f8);
	assert_int_equal(s->len[7], SX_FRAME_HDR + 2);
}

/* The decoded frame packs to exactly the bytes it came from. */
static void expect_frame(Sprex__Frame *f, const struct sample *s, size_t i)
{
	struct sx_buf b;

	sx_buf_init(&b, SX_FRAME_PREAUTH_MAX + SX_FRAME_HDR);
	assert_int_equal(sx_frame_pack(f, SX_FRAME_PREAUTH_MAX, &b), 0);
	assert_int_equal(sx_buf_used(&b), s->len[i]);
	assert_memory_equal(sx_buf_head(&b), sx_buf_head(&s->stream) + s->off[i], s->len[i]);
	sx_buf_finish(&b);
}

/* Returns the next chunk size (1..left) for stream offset off. */
typedef size_t (*chunker)(void *ctx, size_t off, size_t left);

static void decode_chunked(const struct sample *s, chunker next, void *ctx)
{
	const uint8_t *p = sx_buf_head(&s->stream);
	size_t len = sx_buf_used(&s->stream), off = 0, got = 0;
	struct sx_fdec d;

	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	while (off < len) {
		size_t n = next(ctx, off, len - off);
		assert_true(n >= 1 && n <= len - off);
		while (n > 0) {
			size_t used;
			Sprex__Frame *f;
			assert_int_equal(sx_fdec_feed(&d, p + off, n, &used, &f), 0);
			assert_true(used <= n);
			off += used;
			n -= used;
			if (!f) {
				assert_int_equal(n, 0);
				continue;
			}
			assert_true(got < s->n);
			assert_int_equal(off, s->off[got] + s->len[got]);
			expect_frame(f, s, got++);
			sx_frame_free(f);
			/* No per-connection memory between frames. */
			assert_null(d.body);
		}
	}
	assert_int_equal(got, s->n);
	assert_true(sx_fdec_idle(&d));
	sx_fdec_finish(&d);
}

static size_t chunk_one(void *ctx, size_t off, size_t left)
{
	return 1;
}

static size_t chunk_split(void *ctx, size_t off, size_t left)
{
	size_t at = *(size_t *)ctx;
	return off < at ? at - off : left;
}

static size_t chunk_random(void *ctx, size_t off, size_t left)
{
	size_t n = 1 + rnd() % *(uint32_t *)ctx;
	return n < left ? n : left;
}

static void test_chunks_one_byte(void **state)
{
	struct sample s;

	sample_build(&s);
	decode_chunked(&s, chunk_one, NULL);
	sx_buf_finish(&s.stream);
}

static void test_chunks_every_split(void **state)
{
	struct sample s;

	sample_build(&s);
	for (size_t at = 0; at <= sx_buf_used(&s.stream); at++)
		decode_chunked(&s, chunk_split, &at);
	sx_buf_finish(&s.stream);
}

static void test_chunks_random(void **state)
{
	static const uint32_t spans[] = { 3, 17, 97, 1024 };
	struct sample s;

	sample_build(&s);
	rnd_state = 0x5eed1234;
	for (int i = 0; i < 400; i++) {
		uint32_t span = spans[i % 4];
		decode_chunked(&s, chunk_random, &span);
	}
	sx_buf_finish(&s.stream);
}

/* ---------------------------------------------------------------- length edges */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Feeds a stream whose header is bad; checks the error, that it sticks, and
 * that nothing was allocated. */
static void expect_bad_header(uint32_t max, uint32_t len, int want)
{
	uint8_t b[SX_FRAME_HDR + 2] = { 0, 0, 0, 0, 0x6a, 0x00 };
	struct sx_fdec d;
	Sprex__Frame *f;
	size_t used;

	put_be32(b, len);
	sx_fdec_init(&d, max);
	arm();
	assert_int_equal(sx_fdec_feed(&d, b, 3, &used, &f), 0);
	assert_int_equal(used, 3);
	assert_int_equal(sx_fdec_feed(&d, b + 3, sizeof(b) - 3, &used, &f), want);
	disarm();
	assert_int_equal(used, 1);
	assert_null(f);
	assert_null(d.body);
	assert_int_equal(alloc_calls, 0);
	assert_int_equal(d.bad_len, len);
	assert_false(sx_fdec_idle(&d));
	assert_int_equal(sx_fdec_feed(&d, b + 4, 2, &used, &f), want);
	assert_int_equal(used, 0);
	sx_fdec_finish(&d);
}

static void test_len_zero(void **state)
{
	expect_bad_header(SX_FRAME_PREAUTH_MAX, 0, SX_EPROTO);
}

static void test_len_over_max(void **state)
{
	expect_bad_header(SX_FRAME_MIN_MAX, SX_FRAME_MIN_MAX + 1, SX_ETOOBIG);
	expect_bad_header(SX_FRAME_PREAUTH_MAX, SX_FRAME_PREAUTH_MAX + 1, SX_ETOOBIG);
}

static void test_len_all_ones(void **state)
{
	expect_bad_header(SX_FRAME_MAX_MAX, 0xFFFFFFFFu, SX_ETOOBIG);
}

/* A Deliver whose packed body is exactly len bytes; raw_mail is malloc'ed. */
static void deliver_of_size(Sprex__Frame *f, Sprex__Deliver *del, size_t len)
{
	sprex__deliver__init(del);
	del->sub_id = 1;
	del->seq = 77;
	del->report_id = "01JDB7Z3Q4";
	del->raw_mail.data = calloc(len, 1);
	assert_non_null(del->raw_mail.data);
	sprex__frame__init(f);
	f->msg_case = SPREX__FRAME__MSG_DELIVER;
	f->deliver = del;
	del->raw_mail.len = len;
	while (sx_frame_size(f) - SX_FRAME_HDR > len)
		del->raw_mail.len--;
	if (sx_frame_size(f) - SX_FRAME_HDR < len) /* a varint got shorter */
		del->report_id = "01JDB7Z3Q4X";
	assert_int_equal(sx_frame_size(f) - SX_FRAME_HDR, len);
}

static void test_len_exactly_max(void **state)
{
	const uint32_t max = SX_FRAME_MIN_MAX;
	Sprex__Frame frame, *f;
	Sprex__Deliver del;
	struct sx_buf b;
	struct sx_fdec d;
	size_t used;

	deliver_of_size(&frame, &del, max);
	sx_buf_init(&b, SX_FRAME_HDR + max);
	assert_int_equal(sx_frame_pack(&frame, max - 1, &b), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_int_equal(sx_frame_pack(&frame, max, &b), 0);
	assert_int_equal(sx_buf_used(&b), SX_FRAME_HDR + max);

	sx_fdec_init(&d, max);
	assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&b), sx_buf_used(&b), &used, &f), 0);
	assert_int_equal(used, SX_FRAME_HDR + max);
	assert_non_null(f);
	assert_int_equal(f->deliver->raw_mail.len, del.raw_mail.len);
	sx_frame_free(f);
	sx_fdec_finish(&d);

	sx_fdec_init(&d, max - 1);
	assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&b), sx_buf_used(&b), &used, &f),
			 SX_ETOOBIG);
	assert_null(d.body);
	sx_fdec_finish(&d);
	sx_buf_finish(&b);
	free(del.raw_mail.data);
}

static void test_set_max(void **state)
{
	Sprex__Frame frame, *f;
	Sprex__Deliver del;
	struct sx_buf b;
	struct sx_fdec d;
	size_t used;

	deliver_of_size(&frame, &del, 100000);
	sx_buf_init(&b, 1u << 20);
	assert_int_equal(sx_frame_pack(&frame, 1u << 20, &b), 0);

	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&b), sx_buf_used(&b), &used, &f),
			 SX_ETOOBIG);
	sx_fdec_finish(&d);

	/* Raised (after Welcome) before the header arrives: accepted. */
	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	sx_fdec_set_max(&d, 1u << 20);
	assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&b), sx_buf_used(&b), &used, &f), 0);
	assert_non_null(f);
	sx_frame_free(f);
	sx_fdec_finish(&d);
	sx_buf_finish(&b);
	free(del.raw_mail.data);
}

static void test_truncated(void **state)
{
	struct sample s;
	struct sx_fdec d;
	Sprex__Frame *f;
	size_t used;

	sample_build(&s);
	/* Cut inside the header of the second frame, then inside its body. */
	size_t cuts[] = { s.off[1] + 2, s.off[1] + s.len[1] - 1 };
	for (int i = 0; i < 2; i++) {
		sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
		const uint8_t *p = sx_buf_head(&s.stream);
		assert_int_equal(sx_fdec_feed(&d, p, cuts[i], &used, &f), 0);
		assert_non_null(f);
		sx_frame_free(f);
		assert_int_equal(sx_fdec_feed(&d, p + used, cuts[i] - used, &used, &f), 0);
		assert_null(f);
		assert_false(sx_fdec_idle(&d));
		sx_fdec_finish(&d);
		assert_null(d.body);
		assert_true(sx_fdec_idle(&d));
	}
	sx_buf_finish(&s.stream);
}

/* ---------------------------------------------------------------- bad bodies */

static void expect_bad_body(const uint8_t *body, size_t n, int want)
{
	uint8_t b[64];
	struct sx_fdec d;
	Sprex__Frame *f;
	size_t used;

	assert_true(n + SX_FRAME_HDR <= sizeof(b));
	put_be32(b, (uint32_t)n);
	memcpy(b + SX_FRAME_HDR, body, n);
	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	assert_int_equal(sx_fdec_feed(&d, b, SX_FRAME_HDR + n, &used, &f), want);
	assert_int_equal(used, SX_FRAME_HDR + n);
	assert_null(f);
	assert_null(d.body);
	assert_int_equal(d.bad_len, n);
	assert_int_equal(sx_fdec_feed(&d, b, SX_FRAME_HDR + n, &used, &f), want);
	assert_int_equal(used, 0);
	sx_fdec_finish(&d);

	f = (Sprex__Frame *)1;
	assert_int_equal(sx_frame_unpack(body, n, &f), want);
	assert_null(f);
}

static void test_garbage(void **state)
{
	static const uint8_t ff[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* deliver (field 22) claiming 50 bytes, 2 present */
	static const uint8_t cut[] = { 0xb2, 0x01, 50, 0x08, 0x01 };
	/* wire type 7 */
	static const uint8_t wt7[] = { 0x0f, 0x00 };
	/* ping whose nonce varint never ends */
	static const uint8_t var[] = { 0x6a, 0x04, 0x08, 0x80, 0x80, 0x80 };
	/* field number 0 with its tag in two bytes: in the frame, in the ping of
	 * the oneof, in a repeated SeqRange of an ack */
	static const uint8_t zero_top[] = { 0x80, 0x00, 0x05, 0x6a, 0x00 };
	static const uint8_t zero_sub[] = { 0x6a, 0x03, 0x80, 0x00, 0x05 };
	static const uint8_t zero_rep[] = { 0xba, 0x01, 0x05, 0x12, 0x03, 0x80, 0x00, 0x05 };

	expect_bad_body(ff, sizeof(ff), SX_EPROTO);
	expect_bad_body(cut, sizeof(cut), SX_EPROTO);
	expect_bad_body(wt7, sizeof(wt7), SX_EPROTO);
	expect_bad_body(var, sizeof(var), SX_EPROTO);
	expect_bad_body(zero_top, sizeof(zero_top), SX_EPROTO);
	expect_bad_body(zero_sub, sizeof(zero_sub), SX_EPROTO);
	expect_bad_body(zero_rep, sizeof(zero_rep), SX_EPROTO);
}

static void test_empty_frame(void **state)
{
	static const uint8_t id_only[] = { 0x08, 0x05 };
	/* only an unknown field (number 100, varint) */
	static const uint8_t unknown[] = { 0xa0, 0x06, 0x01 };
	Sprex__Frame frame = SPREX__FRAME__INIT;
	struct sx_buf b;

	expect_bad_body(id_only, sizeof(id_only), SX_EPROTO);
	expect_bad_body(unknown, sizeof(unknown), SX_EPROTO);

	/* The encoder refuses to produce what the decoder rejects. */
	sx_buf_init(&b, 1024);
	frame.id = 5;
	assert_int_equal(sx_frame_pack(&frame, SX_FRAME_PREAUTH_MAX, &b), SX_EINVAL);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_finish(&b);
}

static void test_error_sticks(void **state)
{
	struct sample s;
	struct sx_fdec d;
	Sprex__Frame *f;
	size_t used;
	uint8_t bad[] = { 0, 0, 0, 2, 0x0f, 0x00 };

	sample_build(&s);
	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	assert_int_equal(sx_fdec_feed(&d, bad, sizeof(bad), &used, &f), SX_EPROTO);
	assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&s.stream), sx_buf_used(&s.stream),
				      &used, &f), SX_EPROTO);
	assert_int_equal(used, 0);
	assert_null(f);
	sx_fdec_finish(&d);
	sx_buf_finish(&s.stream);
}

/* ---------------------------------------------------------------- budget */

/* Frame{ack{ranges: n empty SeqRange}}: 2 wire bytes per element. */
static size_t empty_ranges(uint8_t *b, size_t n)
{
	size_t i = 0, inner = 2 * n;

	b[i++] = 0xba; /* field 23, length-delimited */
	b[i++] = 0x01;
	for (; inner >= 0x80; inner >>= 7)
		b[i++] = (uint8_t)(inner | 0x80);
	b[i++] = (uint8_t)inner;
	for (size_t k = 0; k < n; k++) {
		b[i++] = 0x12;
		b[i++] = 0x00;
	}
	return i;
}

/* What protobuf-c holds at its peak for this body, charged as frame.c does. */
struct need {
	size_t live, peak;
};

/* The per-allocation header frame.c charges along with each request. */
union alloc_hdr {
	size_t size;
	max_align_t align;
};

static void *need_alloc(void *data, size_t n)
{
	struct need *m = data;
	union alloc_hdr *h = malloc(sizeof(*h) + n);

	assert_non_null(h);
	h->size = sizeof(*h) + n;
	m->live += h->size;
	if (m->live > m->peak)
		m->peak = m->live;
	return h + 1;
}

static void need_free(void *data, void *p)
{
	struct need *m = data;
	union alloc_hdr *h = (union alloc_hdr *)p - 1;

	if (!p)
		return;
	m->live -= h->size;
	free(h);
}

static size_t need_of(const uint8_t *body, size_t len)
{
	struct need m = { 0, 0 };
	ProtobufCAllocator a = { need_alloc, need_free, &m };
	Sprex__Frame *f = sprex__frame__unpack(&a, len, body);

	assert_non_null(f);
	sprex__frame__free_unpacked(f, &a);
	assert_int_equal(m.live, 0);
	return m.peak;
}

static void test_budget_formula(void **state)
{
	assert_int_equal(sx_frame_budget(0), SX_FRAME_BUDGET_BASE);
	assert_int_equal(sx_frame_budget(1000), 1000 * SX_FRAME_BUDGET_MUL + SX_FRAME_BUDGET_BASE);
	assert_int_equal(sx_frame_budget(SIZE_MAX / 2), SIZE_MAX);
}

/* Frame{ack{ranges: n empty}} needs more than its budget from this n on. */
static size_t first_over_budget(uint8_t *b)
{
	size_t lo = 1, hi = 30000;

	/* need grows by over 64 bytes per element, the budget by 16: one edge. */
	while (lo < hi) {
		size_t n = lo + (hi - lo) / 2, len = empty_ranges(b, n);
		if (need_of(b, len) > sx_frame_budget(len))
			hi = n;
		else
			lo = n + 1;
	}
	return lo;
}

/* Unpack succeeds exactly when protobuf-c's peak fits the budget, and never
 * allocates past the budget on the way to failing. */
static void test_budget_edge(void **state)
{
	uint8_t *b = malloc(8 + 2 * 30000);

	assert_non_null(b);
	size_t edge = first_over_budget(b);
	assert_true(edge > 1 && edge < 30000);
	/* The first frame refused is small: about 4 KB. */
	assert_true(empty_ranges(b, edge) < 8192);
	for (size_t n = edge - 3; n <= edge + 3; n++) {
		size_t len = empty_ranges(b, n), need = need_of(b, len);
		Sprex__Frame *f;

		arm();
		int rc = sx_frame_unpack(b, len, &f);
		disarm();
		assert_true(alloc_bytes <= sx_frame_budget(len));
		if (n < edge) {
			/* Everything is freed at the end: the sum is the peak. */
			assert_int_equal(alloc_bytes, need);
			assert_int_equal(rc, 0);
			assert_int_equal(f->ack->n_ranges, n);
			sx_frame_free(f);
		} else {
			assert_int_equal(rc, SX_ENOMEM);
			assert_null(f);
		}
	}
	free(b);
}

static void test_budget_big(void **state)
{
	const size_t n = 30000;
	uint8_t *b = malloc(SX_FRAME_HDR + 8 + 2 * n);
	struct sx_fdec d;
	Sprex__Frame *f;
	size_t used;

	assert_non_null(b);
	size_t len = empty_ranges(b + SX_FRAME_HDR, n);
	assert_true(len <= SX_FRAME_PREAUTH_MAX);
	/* Unbounded, protobuf-c would take over 3 MB for this 60 KB frame. */
	assert_true(need_of(b + SX_FRAME_HDR, len) > 40 * len);

	put_be32(b, (uint32_t)len);
	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	arm();
	int rc = sx_fdec_feed(&d, b, SX_FRAME_HDR + len, &used, &f);
	disarm();
	assert_int_equal(rc, SX_ENOMEM);
	assert_null(f);
	assert_null(d.body);
	/* The body buffer plus the budget, nothing more. */
	assert_true(alloc_bytes <= len + sx_frame_budget(len));
	assert_int_equal(sx_fdec_feed(&d, b, 1, &used, &f), SX_ENOMEM);
	sx_fdec_finish(&d);
	free(b);
}

static void unpack_ok(const Sprex__Frame *f)
{
	struct sx_buf b;
	Sprex__Frame *g;

	sx_buf_init(&b, SX_FRAME_MAX_MAX);
	assert_int_equal(sx_frame_pack(f, SX_FRAME_MAX_MAX, &b), 0);
	size_t len = sx_buf_used(&b) - SX_FRAME_HDR;
	assert_true(need_of(sx_buf_head(&b) + SX_FRAME_HDR, len) <= sx_frame_budget(len));
	assert_int_equal(sx_frame_unpack(sx_buf_head(&b) + SX_FRAME_HDR, len, &g), 0);
	sx_frame_free(g);
	sx_buf_finish(&b);
}

/* Honest frames with long lists of small items fit the budget. */
static void test_budget_honest(void **state)
{
	enum { N = 2000, NP = 10000 };
	static Sprex__Parked pk[NP];
	static Sprex__Parked *pks[NP];
	static Sprex__SeqRange sr[N];
	static Sprex__SeqRange *srs[N];
	static Sprex__SubscriptionState ss[N];
	static Sprex__SubscriptionState *sss[N];
	static Sprex__RedactionEntry re[N];
	static Sprex__RedactionEntry *res[N];
	static char *countries[N];
	static uint8_t mail[2048];

	for (size_t i = 0; i < N; i++) {
		sprex__seq_range__init(&sr[i]);
		sr[i].first = 1000000 + 3 * i;
		sr[i].last = sr[i].first + 1;
		srs[i] = &sr[i];
		sprex__subscription_state__init(&ss[i]);
		ss[i].sub_id = (uint32_t)i + 1;
		ss[i].name = "s";
		ss[i].last_seq = 1000000 + i;
		ss[i].pending = 1;
		sss[i] = &ss[i];
		sprex__redaction_entry__init(&re[i]);
		re[i].part = "1";
		re[i].where = "To";
		re[i].kind = "address";
		re[i].encoding = "raw";
		re[i].count = 1;
		re[i].offset = 10 * i;
		re[i].length = 9;
		res[i] = &re[i];
		countries[i] = "DE";
	}
	for (size_t i = 0; i < NP; i++) {
		sprex__parked__init(&pk[i]);
		pk[i].sub_id = 1;
		pk[i].seq = 1000000 + i;
		pk[i].report_id = "01JDB7Z3Q4ABCDEFGHJKMNPQRS";
		pk[i].delivery_count = 8;
		pk[i].reason = "max deliveries";
		pks[i] = &pk[i];
	}

	Sprex__Ack ack = SPREX__ACK__INIT;
	ack.n_ranges = N;
	ack.ranges = srs;
	Sprex__Frame f1 = SPREX__FRAME__INIT;
	f1.msg_case = SPREX__FRAME__MSG_ACK;
	f1.ack = &ack;
	unpack_ok(&f1);

	Sprex__Heartbeat hb = SPREX__HEARTBEAT__INIT;
	hb.n_subscriptions = N;
	hb.subscriptions = sss;
	Sprex__Frame f2 = SPREX__FRAME__INIT;
	f2.msg_case = SPREX__FRAME__MSG_HEARTBEAT;
	f2.heartbeat = &hb;
	unpack_ok(&f2);

	Sprex__Deliver del = SPREX__DELIVER__INIT;
	del.n_manifest = N;
	del.manifest = res;
	del.raw_mail.data = mail;
	del.raw_mail.len = sizeof(mail);
	Sprex__Frame f3 = SPREX__FRAME__INIT;
	f3.msg_case = SPREX__FRAME__MSG_DELIVER;
	f3.deliver = &del;
	unpack_ok(&f3);

	Sprex__Filter filter = SPREX__FILTER__INIT;
	filter.n_countries = N;
	filter.countries = countries;
	Sprex__Subscribe sub = SPREX__SUBSCRIBE__INIT;
	sub.filter = &filter;
	Sprex__Frame f4 = SPREX__FRAME__INIT;
	f4.msg_case = SPREX__FRAME__MSG_SUBSCRIBE;
	f4.subscribe = &sub;
	unpack_ok(&f4);

	Sprex__ParkedList pl = SPREX__PARKED_LIST__INIT;
	pl.name = "main";
	pl.n_entries = NP;
	pl.entries = pks;
	Sprex__Frame f5 = SPREX__FRAME__INIT;
	f5.msg_case = SPREX__FRAME__MSG_PARKED_LIST;
	f5.parked_list = &pl;
	unpack_ok(&f5);
}

/* ---------------------------------------------------------------- pack */

static void test_pack_refuses(void **state)
{
	Sprex__Frame frame;
	Sprex__Deliver del;
	struct sx_buf b;

	deliver_of_size(&frame, &del, 20000);
	size_t size = sx_frame_size(&frame);

	sx_buf_init(&b, 3 + size);
	assert_int_equal(sx_buf_append(&b, "xyz", 3), 0);
	/* Over max_frame: nothing written. */
	assert_int_equal(sx_frame_pack(&frame, SX_FRAME_MIN_MAX, &b), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 3);
	assert_memory_equal(sx_buf_head(&b), "xyz", 3);
	/* Over the buffer's bound by one byte: nothing written. */
	b.max = 3 + size - 1;
	assert_int_equal(sx_frame_pack(&frame, SX_FRAME_PREAUTH_MAX, &b), SX_ETOOBIG);
	assert_int_equal(sx_buf_used(&b), 3);
	assert_memory_equal(sx_buf_head(&b), "xyz", 3);
	/* Exactly at the bound: written. */
	b.max = 3 + size;
	assert_int_equal(sx_frame_pack(&frame, SX_FRAME_PREAUTH_MAX, &b), 0);
	assert_int_equal(sx_buf_used(&b), 3 + size);
	assert_memory_equal(sx_buf_head(&b), "xyz", 3);
	sx_buf_finish(&b);
	free(del.raw_mail.data);
}

static void test_roundtrip_large_deliver(void **state)
{
	const size_t mail_len = 3u << 20, max = 4u << 20;
	uint8_t *mail = malloc(mail_len);
	Sprex__ReportMeta meta = SPREX__REPORT_META__INIT;
	Sprex__RedactionEntry re = SPREX__REDACTION_ENTRY__INIT;
	Sprex__RedactionEntry *res[] = { &re };
	Sprex__Deliver del = SPREX__DELIVER__INIT;
	Sprex__Frame frame = SPREX__FRAME__INIT, *f = NULL;
	struct sx_buf b;
	struct sx_fdec d;

	assert_non_null(mail);
	fill(mail, mail_len, 42);
	meta.report_id = "01JDB7Z3Q4";
	meta.seq = 1u << 30;
	meta.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	re.part = "header";
	re.where = "From";
	re.kind = "display-name";
	re.encoding = "rfc2047-b";
	re.offset = 12345;
	re.length = 40;
	del.sub_id = 9;
	del.seq = 1u << 30;
	del.report_id = "01JDB7Z3Q4";
	del.delivery_count = 2;
	del.meta = &meta;
	del.n_manifest = 1;
	del.manifest = res;
	del.raw_mail.data = mail;
	del.raw_mail.len = mail_len;
	frame.id = 0xffffffffffffffffULL;
	frame.msg_case = SPREX__FRAME__MSG_DELIVER;
	frame.deliver = &del;

	sx_buf_init(&b, SX_FRAME_HDR + max);
	assert_int_equal(sx_frame_pack(&frame, max, &b), 0);
	sx_fdec_init(&d, max);
	for (size_t off = 0; off < sx_buf_used(&b);) {
		size_t n = sx_buf_used(&b) - off, used;
		if (n > 65536)
			n = 65536;
		assert_null(f);
		assert_int_equal(sx_fdec_feed(&d, sx_buf_head(&b) + off, n, &used, &f), 0);
		off += used;
	}
	assert_non_null(f);
	assert_true(sx_fdec_idle(&d));
	assert_null(d.body);
	assert_int_equal(f->id, frame.id);
	assert_int_equal(f->msg_case, SPREX__FRAME__MSG_DELIVER);
	assert_int_equal(f->deliver->sub_id, 9);
	assert_int_equal(f->deliver->seq, 1u << 30);
	assert_string_equal(f->deliver->report_id, "01JDB7Z3Q4");
	assert_int_equal(f->deliver->delivery_count, 2);
	assert_string_equal(f->deliver->meta->sha256, meta.sha256);
	assert_int_equal(f->deliver->n_manifest, 1);
	assert_string_equal(f->deliver->manifest[0]->encoding, "rfc2047-b");
	assert_int_equal(f->deliver->manifest[0]->offset, 12345);
	assert_int_equal(f->deliver->raw_mail.len, mail_len);
	assert_memory_equal(f->deliver->raw_mail.data, mail, mail_len);
	sx_frame_free(f);
	sx_fdec_finish(&d);
	sx_buf_finish(&b);
	free(mail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunks_one_byte),
		cmocka_unit_test(test_chunks_every_split),
		cmocka_unit_test(test_chunks_random),
		cmocka_unit_test(test_len_zero),
		cmocka_unit_test(test_len_over_max),
		cmocka_unit_test(test_len_all_ones),
		cmocka_unit_test(test_len_exactly_max),
		cmocka_unit_test(test_set_max),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_empty_frame),
		cmocka_unit_test(test_error_sticks),
		cmocka_unit_test(test_budget_formula),
		cmocka_unit_test(test_budget_edge),
		cmocka_unit_test(test_budget_big),
		cmocka_unit_test(test_budget_honest),
		cmocka_unit_test(test_pack_refuses),
		cmocka_unit_test(test_roundtrip_large_deliver),
	};

	counting_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
