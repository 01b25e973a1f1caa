/*
 * charset_jp.c: the Japanese charsets read through tables instead of iconv.
 *
 * The leak check reads every text in each Japanese charset, and glibc's
 * iconv spends several nanoseconds a byte in its conversion steps; these
 * readers spend one table load a character.
 *
 * The tables hold what the reference reader (sx_charset_ref_to_utf8) makes
 * of each character alone, asked once per process: there is no second
 * mapping to keep in step with glibc's, and the Windows rows come along.
 * What is modelled beyond the tables is how the reference goes on after an
 * invalid byte, and tests/mail/test_charset.c compares both readers over
 * every input of one and two bytes, every three-byte input of EUC-JP's
 * 0x8F, escape-led ISO-2022-JP and random texts; fuzz_codec compares them on
 * whatever it finds. Where the model could be wrong, the reference reads:
 * the last bytes of a Shift_JIS or EUC-JP text (an incomplete character
 * there is one replacement for the rest) and any ISO-2022-JP text that uses
 * more than ASCII, JIS X 0201 and JIS X 0208 in their plain form.
 */
#include "charset_jp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "err.h"
#include "v16.h"

/*
 * An entry: the UTF-8 of one character (1 to 3 bytes, low byte first) and
 * its length in bits 24-25; 0 when there is no character. E_BAD2: the
 * reference reads the two bytes as one invalid sequence (EUC-JP pairs).
 */
#define E_LEN(e) ((e) >> 24 & 3u)
#define E_BAD2 (1u << 28)

/* JIS X 0208 and EUC-JP's bytes: 94 values from first. */
#define GL94(c) ((unsigned)(c) - 0x21u < 94u)
#define GR94(c) ((unsigned)(c) - 0xA1u < 94u)

/* ISO-2022-JP's single-byte sets; M_KANJI, past them, is JIS X 0208. */
enum jis_set { J_ASCII, J_ROMAN, J_KANA, J_SETS, M_KANJI = J_SETS };

struct jp_tables {
	uint32_t single[256];      /* a byte that is a character alone */
	uint8_t plain[256];        /* ... that is itself in UTF-8 */
	uint8_t nonplain[4];       /* the ASCII bytes not plain, 0x80 for none ... */
	bool vplain;               /* ... when they are all (plain_run) */
	int16_t row[256];          /* lead byte -> index in pair, -1 none */
	uint32_t (*pair)[256];     /* lead, trail */
	uint32_t *pair3;           /* EUC-JP 0x8F t1 t2: 94 x 94 */
	uint32_t jis1[J_SETS][128];
	uint8_t jplain[128];       /* ASCII bytes that read as themselves */
	uint32_t *jis2;            /* JIS X 0208: 94 x 94 */
	bool ok;
};

static struct jp_tables tables[SX_JP_COUNT];
static pthread_once_t once[SX_JP_COUNT] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
					      PTHREAD_ONCE_INIT };
static const char *const labels[SX_JP_COUNT] = { "cp932", "euc-jp", "iso-2022-jp" };

/* ---- building ---- */

/* The entry for one character of UTF-8 (p, n bytes), or 0 when it is not one. */
static uint32_t entry(const uint8_t *p, size_t n)
{
	static const uint8_t want[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4 };
	if (n < 1 || n > 3 || want[p[0] >> 4] != n)
		return 0;
	uint32_t e = (uint32_t)n << 24;
	for (size_t i = 0; i < n; i++)
		e |= (uint32_t)p[i] << (8 * i);
	return e;
}

/*
 * What the reference makes of in (n bytes) followed by tail, which reads as
 * "\n": the entry of the one character before that "\n", E_BAD2 for one
 * replacement and nothing else, or 0. Returns -1 when it could not ask.
 */
static long ask(enum sx_jp cs, const uint8_t *in, size_t n, const char *tail)
{
	static const uint8_t fffd[3] = { 0xEF, 0xBF, 0xBD };
	size_t tn = strlen(tail);
	uint8_t q[16];
	struct sx_buf b;
	size_t bad = 0;
	long e = 0;

	memcpy(q, in, n);
	memcpy(q + n, tail, tn);
	sx_buf_init(&b, 64);
	if (sx_charset_ref_to_utf8(labels[cs], q, n + tn, &b, &bad) < 0) {
		sx_buf_finish(&b);
		return -1;
	}
	const uint8_t *o = sx_buf_head(&b);
	size_t on = sx_buf_used(&b);
	if (on >= 1 && o[on - 1] == '\n') {
		if (bad == 0)
			e = entry(o, on - 1);
		else if (bad == 1 && on - 1 == 3 && memcmp(o, fffd, 3) == 0)
			e = E_BAD2;
	}
	sx_buf_finish(&b);
	return e;
}

/* Fills the single-byte entries and, for the bytes that are not characters
 * alone, the rows of pairs; -1 when the reference could not be asked. */
static int build_bytes(enum sx_jp cs, struct jp_tables *t)
{
	size_t nrows = 0;

	for (unsigned c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		long e = ask(cs, &b, 1, "\n");
		if (e < 0)
			return -1;
		t->single[c] = e & E_BAD2 ? 0 : (uint32_t)e;
		t->plain[c] = t->single[c] == ((1u << 24) | c);
		t->row[c] = -1;
		if (!t->single[c] && !(cs == SX_JP_EUCJP && c == 0x8F))
			t->row[c] = (int16_t)nrows++;
	}
	/* plain_run's sixteen at a time: no 8-bit byte plain, four ASCII bytes
	 * not plain at most */
	t->vplain = true;
	memset(t->nonplain, 0x80, sizeof t->nonplain);
	for (unsigned c = 0, k = 0; c < 256; c++) {
		if (c >= 0x80 && t->plain[c])
			t->vplain = false;
		else if (c < 0x80 && !t->plain[c] && k < sizeof t->nonplain)
			t->nonplain[k++] = (uint8_t)c;
		else if (c < 0x80 && !t->plain[c])
			t->vplain = false;
	}
	t->pair = calloc(nrows ? nrows : 1, sizeof *t->pair);
	if (!t->pair)
		return -1;
	for (unsigned c = 0; c < 256; c++) {
		for (unsigned d = 0; t->row[c] >= 0 && d < 256; d++) {
			uint8_t p[2] = { (uint8_t)c, (uint8_t)d };
			long e = ask(cs, p, 2, "\n");
			if (e < 0)
				return -1;
			/* one replacement for two bytes: only EUC-JP's unassigned pairs */
			if (e == E_BAD2 && !(cs == SX_JP_EUCJP && GR94(c) && GR94(d)))
				e = 0;
			t->pair[t->row[c]][d] = (uint32_t)e;
		}
	}
	return 0;
}

static int build_pair3(struct jp_tables *t)
{
	t->pair3 = calloc(94 * 94, sizeof *t->pair3);
	if (!t->pair3)
		return -1;
	for (unsigned i = 0; i < 94 * 94; i++) {
		uint8_t p[3] = { 0x8F, (uint8_t)(0xA1 + i / 94), (uint8_t)(0xA1 + i % 94) };
		long e = ask(SX_JP_EUCJP, p, 3, "\n");
		if (e < 0)
			return -1;
		t->pair3[i] = e & E_BAD2 ? 0 : (uint32_t)e;
	}
	return 0;
}

static int build_jis(struct jp_tables *t)
{
	static const char *const designate[J_SETS] = { "\x1b(B", "\x1b(J", "\x1b(I" };

	for (unsigned s = 0; s < J_SETS; s++) {
		for (unsigned c = 0; c < 128; c++) {
			uint8_t p[4];
			memcpy(p, designate[s], 3);
			p[3] = (uint8_t)c;
			long e = c == 0x1B ? 0 : ask(SX_JP_JIS, p, 4, "\x1b(B\n");
			if (e < 0)
				return -1;
			t->jis1[s][c] = e & E_BAD2 ? 0 : (uint32_t)e;
		}
	}
	for (unsigned c = 0; c < 128; c++)
		t->jplain[c] = t->jis1[J_ASCII][c] == ((1u << 24) | c);
	t->jis2 = calloc(94 * 94, sizeof *t->jis2);
	if (!t->jis2)
		return -1;
	for (unsigned i = 0; i < 94 * 94; i++) {
		uint8_t p[5] = { 0x1B, '$', 'B', (uint8_t)(0x21 + i / 94), (uint8_t)(0x21 + i % 94) };
		long e = ask(SX_JP_JIS, p, 5, "\x1b(B\n");
		if (e < 0)
			return -1;
		t->jis2[i] = e & E_BAD2 ? 0 : (uint32_t)e;
	}
	return 0;
}

static void build(enum sx_jp cs)
{
	struct jp_tables *t = &tables[cs];
	int rc = cs == SX_JP_JIS ? build_jis(t) : build_bytes(cs, t);

	if (rc == 0 && cs == SX_JP_EUCJP)
		rc = build_pair3(t);
	if (rc < 0) {
		free(t->pair);
		free(t->pair3);
		free(t->jis2);
		*t = (struct jp_tables){ 0 };
		return;
	}
	t->ok = true;
}

static void build_cp932(void) { build(SX_JP_CP932); }
static void build_eucjp(void) { build(SX_JP_EUCJP); }
static void build_jis_once(void) { build(SX_JP_JIS); }

/* ---- reading ---- */

/* Output gathered on the stack and appended to the buffer in blocks. */
struct out {
	struct sx_buf *b;
	size_t k;
	uint8_t tmp[4096];
};

static int flush(struct out *o)
{
	int rc = sx_buf_append(o->b, o->tmp, o->k);
	o->k = 0;
	return rc;
}

static int put(struct out *o, uint32_t e)
{
	int rc;
	if (o->k > sizeof o->tmp - 4 && (rc = flush(o)) < 0)
		return rc;
	/* little-endian store of up to 3 bytes; only E_LEN(e) count */
	o->tmp[o->k] = (uint8_t)e;
	o->tmp[o->k + 1] = (uint8_t)(e >> 8);
	o->tmp[o->k + 2] = (uint8_t)(e >> 16);
	o->k += E_LEN(e);
	return 0;
}

static int put_run(struct out *o, const uint8_t *p, size_t n)
{
	int rc;
	if (n > sizeof o->tmp - o->k) {
		if ((rc = flush(o)) < 0)
			return rc;
		if (n > sizeof o->tmp)
			return sx_buf_append(o->b, p, n);
	}
	memcpy(o->tmp + o->k, p, n);
	o->k += n;
	return 0;
}

static const uint32_t fffd = 0xBDBFEFu | 3u << 24;

/* The end of the run of plain bytes from in[j]: the ASCII text between
 * Japanese words and lines, sixteen bytes at a time where it can be. */
static size_t plain_run(const struct jp_tables *t, const uint8_t *in, size_t n, size_t j)
{
	while (t->vplain && n - j >= 16) {
		sx_v16 v;
		memcpy(&v, in + j, 16);
		unsigned m = sx_v16_mask((sx_v16)((v >= 0x80) | (v == t->nonplain[0]) |
						  (v == t->nonplain[1]) | (v == t->nonplain[2]) |
						  (v == t->nonplain[3])));
		if (m)
			return j + (size_t)__builtin_ctz(m);
		j += 16;
	}
	while (j < n && t->plain[in[j]])
		j++;
	return j;
}

/* Shift_JIS and EUC-JP: stateless; the last two bytes are left to the reference. */
static long read_bytes(const struct jp_tables *t, bool euc, const uint8_t *in, size_t n,
		       struct out *o, size_t *nbad)
{
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		uint8_t c = in[i];
		if (t->plain[c]) {
			size_t j = plain_run(t, in, n, i + 1);
			rc = put_run(o, in + i, j - i);
			i = j;
			continue;
		}
		if (t->single[c]) {
			rc = put(o, t->single[c]);
			i++;
			continue;
		}
		if (n - i < 3)
			break;
		uint32_t e = 0;
		size_t len = 2;
		if (euc && c == 0x8F) {
			len = 3;
			if (GR94(in[i + 1]) && GR94(in[i + 2]))
				e = t->pair3[(in[i + 1] - 0xA1) * 94 + (in[i + 2] - 0xA1)];
		} else if (t->row[c] >= 0) {
			e = t->pair[t->row[c]][in[i + 1]];
		}
		if (e & E_BAD2 || !e) {
			/* the reference's replacement: one byte on, or the pair */
			(*nbad)++;
			rc = put(o, fffd);
			i += e ? 2 : 1;
			continue;
		}
		rc = put(o, e);
		i += len;
	}
	return rc < 0 ? rc : (long)i;
}

/* ISO-2022-JP: all of in, or nothing when it uses more than the tables know. */
static long read_jis(const struct jp_tables *t, const uint8_t *in, size_t n, struct out *o)
{
	enum jis_set mode = J_ASCII;
	size_t i = 0;
	int rc = 0;

	while (i < n && rc == 0) {
		uint8_t c = in[i];
		if (c == 0x1B) {
			if (n - i < 3)
				return 0;
			uint8_t a = in[i + 1], b = in[i + 2];
			if (a == '(' && b == 'B')
				mode = J_ASCII;
			else if (a == '(' && b == 'J')
				mode = J_ROMAN;
			else if (a == '(' && b == 'I')
				mode = J_KANA;
			else if (a == '$' && (b == 'B' || b == '@'))
				mode = M_KANJI;
			else
				return 0;
			i += 3;
			continue;
		}
		if (c >= 0x80)
			return 0;
		if (mode == M_KANJI) {
			if (n - i < 2 || !GL94(c) || !GL94(in[i + 1]))
				return 0;
			uint32_t e = t->jis2[(c - 0x21) * 94 + (in[i + 1] - 0x21)];
			if (!e)
				return 0;
			rc = put(o, e);
			i += 2;
			continue;
		}
		if (mode == J_ASCII && t->jplain[c]) {
			size_t j = i + 1;
			while (j < n && in[j] < 0x80 && t->jplain[in[j]])
				j++;
			rc = put_run(o, in + i, j - i);
			i = j;
			continue;
		}
		uint32_t e = t->jis1[mode][c];
		if (!e)
			return 0;
		rc = put(o, e);
		i++;
	}
	return rc < 0 ? rc : (long)i;
}

static void (*const builders[SX_JP_COUNT])(void) = { build_cp932, build_eucjp, build_jis_once };

static _Atomic size_t read_by_ref[SX_JP_COUNT];

void sx_jp_fill(enum sx_jp cs)
{
	atomic_store(&read_by_ref[cs], SX_JP_FILL_AFTER);
	pthread_once(&once[cs], builders[cs]);
}

long sx_jp_to_utf8(enum sx_jp cs, const uint8_t *in, size_t n, struct sx_buf *out,
		   size_t *nbad)
{
	const struct jp_tables *t = &tables[cs];
	size_t used0 = sx_buf_used(out), bad = 0;
	struct out o;
	long r;
	int rc;

	if (atomic_load_explicit(&read_by_ref[cs], memory_order_relaxed) < SX_JP_FILL_AFTER &&
	    atomic_fetch_add_explicit(&read_by_ref[cs], n, memory_order_relaxed) + n <
		    SX_JP_FILL_AFTER)
		return 0;
	if (pthread_once(&once[cs], builders[cs]) != 0 || !t->ok)
		return 0;
	o.b = out;
	o.k = 0;
	if (cs == SX_JP_JIS)
		r = read_jis(t, in, n, &o);
	else
		r = read_bytes(t, cs == SX_JP_EUCJP, in, n, &o, &bad);
	if (r > 0 && (rc = flush(&o)) < 0)
		r = rc;
	if (r <= 0) {
		/* nothing read (the reference reads all) or an error */
		out->len = out->off + used0;
		return r;
	}
	*nbad += bad;
	return r;
}
