/*
 * test_charset.c: charset labels and conversions (mail/charset.c).
 *
 * Japanese mail is the point: ISO-2022-JP, Shift_JIS (as CP932, NEC and IBM
 * rows included) and EUC-JP must read to the same UTF-8 and write back to the
 * bytes a Japanese mailer writes. Broken input must be counted, never loop, and
 * every bound is checked at its edge with the buffer left as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "mail/charset.h"
#include "mail/charset_jp.h"

#define BIG (1u << 20)

/* The sample every Japanese charset must carry both ways. */
static const char name_utf8[] = "山田太郎 <taro@example.jp> 迷惑メール";
static const char name_jis[] =
	"\x1b$B;3EDB@O:\x1b(B <taro@example.jp> \x1b$BLBOG%a!<%k\x1b(B";
static const char name_sjis[] =
	"\x8e\x52\x93\x63\x91\xbe\x98\x59 <taro@example.jp> "
	"\x96\xc0\x98\x66\x83\x81\x81\x5b\x83\x8b";
static const char name_euc[] =
	"\xbb\xb3\xc5\xc4\xc2\xc0\xcf\xba <taro@example.jp> "
	"\xcc\xc2\xcf\xc7\xa5\xe1\xa1\xbc\xa5\xeb";

static void assert_buf(const struct sx_buf *b, const void *want, size_t n)
{
	assert_int_equal(sx_buf_used(b), n);
	if (n)
		assert_memory_equal(sx_buf_head(b), want, n);
}

/* Reads n bytes of label; checks the UTF-8 and the count of bad sequences. */
static void read_ok(const char *label, const void *in, size_t n, const char *want, size_t nbad)
{
	struct sx_buf b;
	size_t bad = 0;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_charset_to_utf8(label, in, n, &b, &bad), 0);
	assert_buf(&b, want, strlen(want));
	assert_int_equal(bad, nbad);
	sx_buf_finish(&b);
}

static void write_ok(const char *label, const char *utf8, const void *want, size_t n)
{
	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_charset_from_utf8(label, (const uint8_t *)utf8, strlen(utf8), &b), 0);
	assert_buf(&b, want, n);
	sx_buf_finish(&b);
}

/* Both ways, and the bytes read back to the text. */
static void both_ways(const char *label, const char *utf8, const void *bytes, size_t n)
{
	write_ok(label, utf8, bytes, n);
	read_ok(label, bytes, n, utf8, 0);
}

static void test_names(void **state)
{
	static const struct {
		const char *label, *name;
	} cases[] = {
		{ "utf-8", "UTF-8" }, { "UTF8", "UTF-8" },
		{ "us-ascii", "US-ASCII" }, { "ASCII", "US-ASCII" },
		{ "shift_jis", "CP932" }, { "Shift_JIS", "CP932" }, { "SJIS", "CP932" },
		{ "x-sjis", "CP932" }, { "MS_Kanji", "CP932" }, { "Windows-31J", "CP932" },
		{ "cp932", "CP932" },
		{ "iso-2022-jp", "ISO-2022-JP-2" }, { "ISO-2022-JP", "ISO-2022-JP-2" },
		{ "iso-2022-jp-1", "ISO-2022-JP-2" }, { "iso-2022-jp-2", "ISO-2022-JP-2" },
		{ "iso-2022-jp-3", "ISO-2022-JP-3" },
		{ "euc-jp", "EUC-JP" }, { "X-EUC-JP", "EUC-JP" },
		{ "iso-8859-1", "ISO-8859-1" }, { "ISO8859-2", "ISO-8859-2" },
		{ "iso_8859-1:1987", "ISO-8859-1" }, { "iso-8859-11", "ISO-8859-11" },
		{ "iso-8859-16", "ISO-8859-16" }, { "latin1", "ISO-8859-1" },
		{ "windows-1250", "CP1250" }, { "WINDOWS-1258", "CP1258" }, { "cp1252", "CP1252" },
		{ "koi8-r", "KOI8-R" }, { "gb2312", "GB18030" }, { "GBK", "GB18030" },
		{ "gb18030", "GB18030" }, { "big5", "BIG5" }, { "euc-kr", "CP949" },
		{ "ks_c_5601-1987", "CP949" }, { "utf-16", "UTF-16" },
	};
	static const char *const unknown[] = {
		"", "x-unknown", "iso-8859-0", "iso-8859-12", "iso-8859-17", "iso-8859-01",
		"iso-8859-", "iso-8859-1:", "windows-1259", "windows-125", "cp12500",
		"utf-8 ", "shift_jis2", "iso-2022-jp-4",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(sx_charset_iconv_name(cases[i].label), cases[i].name);
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		assert_null(sx_charset_iconv_name(unknown[i]));
	assert_null(sx_charset_iconv_name(NULL));
}

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		size_t n;
		int ok;
	} cases[] = {
		{ "", 0, 1 },
		{ "plain", 5, 1 },
		{ "\x00", 1, 1 },
		{ "\xc2\x80", 2, 1 },              /* U+0080 */
		{ "\xdf\xbf", 2, 1 },              /* U+07FF */
		{ "\xe0\xa0\x80", 3, 1 },          /* U+0800 */
		{ "\xef\xbf\xbf", 3, 1 },          /* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, 1 },      /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },      /* U+10FFFF */
		{ "\xc0\x80", 2, 0 },              /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },              /* overlong */
		{ "\xe0\x9f\xbf", 3, 0 },          /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 },      /* overlong */
		{ "\xed\xa0\x80", 3, 0 },          /* U+D800 */
		{ "\xed\xbf\xbf", 3, 0 },          /* U+DFFF */
		{ "\xed\x9f\xbf", 3, 1 },          /* U+D7FF */
		{ "\xf4\x90\x80\x80", 4, 0 },      /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xff", 1, 0 },
		{ "\x80", 1, 0 },                  /* lone continuation */
		{ "\xe5\xb1", 2, 0 },              /* truncated */
		{ "\xe5\xb1\xb1\xe7\x94", 5, 0 },  /* truncated at the end */
		{ "\xe5\x41\xb1", 3, 0 },          /* ASCII in the middle */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(sx_utf8_valid((const uint8_t *)cases[i].s, cases[i].n),
				 cases[i].ok);
	assert_true(sx_utf8_valid((const uint8_t *)name_utf8, strlen(name_utf8)));
	/* The same in longer text, which is read sixteen bytes at a time: each
	 * case after k ASCII bytes and j kana (its bytes in every lane, after
	 * a block of five kana or not, cut at the block's end), then kana and
	 * ASCII, which start with no continuation byte. */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (size_t k = 0; k < 16; k++) {
			for (size_t j = 0; j <= 6; j++) {
				uint8_t t[96];
				size_t n = 0;
				memset(t, 'a', k);
				n += k;
				for (size_t q = 0; q < j; q++, n += 3)
					memcpy(t + n, "\xe3\x81\x82", 3);
				memcpy(t + n, cases[i].s, cases[i].n);
				n += cases[i].n;
				for (size_t q = 0; q < 5; q++, n += 3)
					memcpy(t + n, "\xe3\x81\x82", 3);
				memset(t + n, 'b', 16);
				n += 16;
				assert_int_equal(sx_utf8_valid(t, n), cases[i].ok);
			}
		}
	}
}

static void test_japanese_round_trips(void **state)
{
	both_ways("iso-2022-jp", name_utf8, name_jis, strlen(name_jis));
	both_ways("shift_jis", name_utf8, name_sjis, strlen(name_sjis));
	both_ways("euc-jp", name_utf8, name_euc, strlen(name_euc));
	both_ways("utf-8", name_utf8, name_utf8, strlen(name_utf8));
	/* every alias reads the same */
	read_ok("ISO-2022-JP-2", name_jis, strlen(name_jis), name_utf8, 0);
	read_ok("windows-31j", name_sjis, strlen(name_sjis), name_utf8, 0);
	read_ok("x-euc-jp", name_euc, strlen(name_euc), name_utf8, 0);
	/* ISO-2022-JP written back is plain ISO-2022-JP: JIS X 0208 and ASCII */
	both_ways("iso-2022-jp", "abc", "abc", 3);
	both_ways("iso-2022-jp", "", "", 0);
	both_ways("iso-2022-jp", "ア", "\x1b$B%\"\x1b(B", 8);
	/* JIS X 0201 Roman, which ISO-2022-JP allows, reads as JIS X 0201 */
	read_ok("iso-2022-jp", "\x1b(J\\~\x1b(B\\~", 10, "¥‾\\~", 0);
	/* ISO-2022-JP-2 extras read through the same label */
	read_ok("iso-2022-jp", "\x1b$(D+1\x1b(B", 9, "é", 0);
}

/* The rows Windows adds to JIS X 0208: NEC specials (row 13) and the
 * NEC-selected IBM extensions (rows 89-92), and CP932's own mappings. */
static void test_windows_rows(void **state)
{
	/* ① ㈱ Ⅰ № in Shift_JIS (CP932) */
	both_ways("shift_jis", "①㈱Ⅰ№", "\x87\x40\x87\x8a\x87\x54\x87\x82", 8);
	/* CP932: 0x5C and 0x7E are ASCII, 0x8160 is FULLWIDTH TILDE */
	both_ways("shift_jis", "\\~～", "\\~\x81\x60", 4);
	/* IBM extensions read from both places; written with the IBM code */
	read_ok("cp932", "\xfa\x5c\xed\x40", 4, "纊纊", 0);
	both_ways("cp932", "ⅰ", "\xfa\x40", 2);
	/* half-width katakana */
	both_ways("shift_jis", "ｱｲ", "\xb1\xb2", 2);

	/* the same rows in ISO-2022-JP, as Windows writes them */
	both_ways("iso-2022-jp", "①㈱", "\x1b$B-!-j\x1b(B", 10);
	both_ways("iso-2022-jp", "山①田",
		  "\x1b$B;3\x1b(B\x1b$B-!\x1b(B\x1b$BED\x1b(B", 24);
	both_ways("iso-2022-jp", "①a", "\x1b$B-!\x1b(Ba", 9);
	both_ways("iso-2022-jp", "ⅰ", "\x1b$B|q\x1b(B", 8); /* row 92 */
	read_ok("iso-2022-jp", "\x1b$By!\x1b(B", 8, "纊", 0); /* row 89 */
	both_ways("iso-2022-jp", "ｱ", "\x1b(I1\x1b(B", 7);
	both_ways("iso-2022-jp", "ｱｲa", "\x1b(I12\x1b(Ba", 9);
	both_ways("iso-2022-jp", "①ｱ", "\x1b$B-!\x1b(I1\x1b(B", 12);
	/* FULLWIDTH TILDE (from CP932 text) goes to the JIS wave dash */
	write_ok("iso-2022-jp", "～", "\x1b$B!A\x1b(B", 8);
	read_ok("iso-2022-jp", "\x1b$B!A\x1b(B", 8, "〜", 0);
	/* ISO-2022-JP-3 has row 13 itself */
	read_ok("iso-2022-jp-3", "\x1b$(O-!\x1b(B", 9, "①", 0);
	read_ok("iso-2022-jp-3", "\x1b$B-!\x1b(B", 8, "①", 0);

	/* and in EUC-JP */
	both_ways("euc-jp", "①㈱", "\xad\xa1\xad\xea", 4);
	both_ways("euc-jp", "ⅰ", "\xfc\xf1", 2);
	both_ways("euc-jp", "ｱ", "\x8e\xb1", 2);
}

static void test_invalid_counted(void **state)
{
	read_ok("utf-8", "a\xff" "b", 3, "a\uFFFD" "b", 1);
	read_ok("utf-8", "\xe5\xb1" "a", 3, "\uFFFD\uFFFD" "a", 2);
	read_ok("utf-8", "\xed\xa0\x80", 3, "\uFFFD\uFFFD\uFFFD", 3);
	read_ok("utf-8", "\xc0\xaf", 2, "\uFFFD\uFFFD", 2);
	/* Shift_JIS: a bad lead is one replacement, the next byte is read again */
	read_ok("shift_jis", "\x82 a", 3, "\uFFFD a", 1);
	read_ok("shift_jis", "a\x82", 2, "a\uFFFD", 1);        /* cut at the end */
	read_ok("shift_jis", "\xa0\x82\xa0", 3, "\uFFFDあ", 1);
	/* EUC-JP: an unassigned pair is one replacement */
	read_ok("euc-jp", "\xa9\xa1x", 3, "\uFFFDx", 1);
	read_ok("euc-jp", "\xa4\xa2\x8f", 3, "あ\uFFFD", 1);
	/* ISO-2022-JP: an unassigned pair (row 85) keeps the pairs after it aligned */
	read_ok("iso-2022-jp", "\x1b$B;3u!ED\x1b(B", 12, "山\uFFFD田", 1);
	/* 8-bit bytes (raw Shift_JIS labelled ISO-2022-JP) */
	read_ok("iso-2022-jp", "a\x82\xa0" "b", 4, "a\uFFFD\uFFFD" "b", 2);
	/* cut in a pair, and in an escape sequence */
	read_ok("iso-2022-jp", "\x1b$B;3;", 6, "山\uFFFD", 1);
	read_ok("iso-2022-jp", "a\x1b$", 3, "a\uFFFD", 1);
	/* windows-1252 leaves five bytes undefined */
	read_ok("windows-1252", "\x80\x81" "a", 3, "€\uFFFD" "a", 1);
	/* UTF-16 cut in a unit */
	read_ok("utf-16le", "a\x00" "b", 3, "a\uFFFD", 1);
	/* the counter adds up */
	struct sx_buf b;
	size_t bad = 5;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_charset_to_utf8("utf-8", (const uint8_t *)"\xff", 1, &b, &bad), 0);
	assert_int_equal(bad, 6);
	assert_int_equal(sx_charset_to_utf8("utf-8", (const uint8_t *)"\xff", 1, &b, NULL), 0);
	sx_buf_finish(&b);
}

/* us-ascii: UTF-8 where valid, windows-1252 for other 8-bit bytes. */
static void test_us_ascii(void **state)
{
	read_ok("us-ascii", "plain", 5, "plain", 0);
	read_ok("us-ascii", "\xe5\xb1\xb1", 3, "山", 0);
	read_ok("us-ascii", "caf\xe9", 4, "café", 0);
	read_ok("us-ascii", "\x80\x93\x94", 3, "€“”", 0);
	read_ok("us-ascii", "\xe5\xb1\xb1\xe9", 4, "山é", 0);
	read_ok("us-ascii", "\x81\x8d\x8f\x90\x9d", 5,
		"\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD", 5);
	write_ok("us-ascii", "plain", "plain", 5);

	struct sx_buf b;
	sx_buf_init(&b, BIG);
	assert_int_equal(sx_charset_from_utf8("us-ascii", (const uint8_t *)"é", 2, &b),
			 SX_EINVAL);
	assert_int_equal(sx_buf_used(&b), 0);
	sx_buf_finish(&b);
}

static void test_other_charsets(void **state)
{
	both_ways("iso-8859-1", "café", "caf\xe9", 4);
	both_ways("iso-8859-15", "€", "\xa4", 1);
	both_ways("windows-1252", "€", "\x80", 1);
	both_ways("koi8-r", "Привет", "\xf0\xd2\xc9\xd7\xc5\xd4", 6);
	both_ways("gb2312", "中文", "\xd6\xd0\xce\xc4", 4);
	both_ways("big5", "中文", "\xa4\xa4\xa4\xe5", 4);
	both_ways("euc-kr", "한국", "\xc7\xd1\xb1\xb9", 4);
	both_ways("utf-16be", "a山", "\x00" "a" "\x5c\x71", 4);
	both_ways("utf-7", "a山b", "a+XHE-b", 7);
	/* UTF-16: the BOM decides, none means BE; written BE with a BOM, so a
	 * leading ZWNBSP survives; each text sniffed anew */
	both_ways("utf-16", "a", "\xfe\xff\x00" "a", 4);
	both_ways("utf-16", "\ufeff" "a", "\xfe\xff\xfe\xff\x00" "a", 6);
	read_ok("utf-16", "\xff\xfe" "b\x00", 4, "b", 0);
	read_ok("utf-16", "\x00" "b", 2, "b", 0);
	read_ok("utf-16", "\xff\xfe" "b\x00", 4, "b", 0);
	read_ok("utf-16le", "\xff\xfe" "b\x00", 4, "\ufeff" "b", 0);
	/* GB18030 reads what GB2312 cannot hold */
	read_ok("gb2312", "\x81\x30\x81\x30", 4, "\xc2\x80", 0);
}

static void test_errors(void **state)
{
	struct sx_buf b;
	size_t bad = 0;

	sx_buf_init(&b, BIG);
	assert_int_equal(sx_buf_append(&b, "keep", 4), 0);
	assert_int_equal(sx_charset_to_utf8("x-unknown", (const uint8_t *)"a", 1, &b, &bad),
			 SX_EINVAL);
	assert_int_equal(sx_charset_from_utf8("x-unknown", (const uint8_t *)"a", 1, &b),
			 SX_EINVAL);
	assert_int_equal(sx_charset_to_utf8(NULL, (const uint8_t *)"a", 1, &b, &bad),
			 SX_EINVAL);
	/* characters the charset cannot hold */
	assert_int_equal(sx_charset_from_utf8("iso-8859-1", (const uint8_t *)"a山", 4, &b),
			 SX_EINVAL);
	assert_int_equal(sx_charset_from_utf8("iso-2022-jp", (const uint8_t *)"山😀", 7, &b),
			 SX_EINVAL);
	assert_int_equal(sx_charset_from_utf8("shift_jis", (const uint8_t *)"é", 2, &b),
			 SX_EINVAL);
	assert_int_equal(sx_charset_from_utf8("iso-2022-jp", (const uint8_t *)"a\x1b(Bb", 5, &b),
			 SX_EINVAL);
	/* input that is not UTF-8 */
	assert_int_equal(sx_charset_from_utf8("utf-8", (const uint8_t *)"a\xff", 2, &b),
			 SX_EINVAL);
	assert_int_equal(sx_charset_from_utf8("shift_jis", (const uint8_t *)"\xed\xa0\x80", 3, &b),
			 SX_EINVAL);
	assert_buf(&b, "keep", 4);
	assert_int_equal(bad, 0);
	sx_buf_finish(&b);
}

static int convert(const char *label, int write, const void *in, size_t n, struct sx_buf *b,
		   size_t *bad)
{
	if (write)
		return sx_charset_from_utf8(label, in, n, b);
	return sx_charset_to_utf8(label, in, n, b, bad);
}

/* Output n bytes long: a bound of n fits, n - 1 fails and leaves the prefix. */
static void bound_edge(const char *label, int write, const void *in, size_t n)
{
	struct sx_buf b;
	size_t need, bad = 0;
	int rc;

	sx_buf_init(&b, BIG);
	rc = convert(label, write, in, n, &b, &bad);
	assert_int_equal(rc, 0);
	need = sx_buf_used(&b);
	sx_buf_finish(&b);

	sx_buf_init(&b, 3 + need);
	assert_int_equal(sx_buf_append(&b, "pre", 3), 0);
	rc = convert(label, write, in, n, &b, &bad);
	assert_int_equal(rc, 0);
	assert_int_equal(sx_buf_used(&b), 3 + need);
	sx_buf_finish(&b);

	sx_buf_init(&b, 3 + need - 1);
	assert_int_equal(sx_buf_append(&b, "pre", 3), 0);
	bad = 7;
	rc = convert(label, write, in, n, &b, &bad);
	assert_int_equal(rc, SX_ETOOBIG);
	assert_buf(&b, "pre", 3);
	assert_int_equal(bad, 7);
	sx_buf_finish(&b);
}

static void test_bounds(void **state)
{
	bound_edge("iso-2022-jp", 1, name_utf8, strlen(name_utf8)); /* the last ESC ( B */
	bound_edge("iso-2022-jp", 1, "山①", 6);                     /* the injected ESC ( B */
	bound_edge("iso-2022-jp", 0, name_jis, strlen(name_jis));
	bound_edge("shift_jis", 1, name_utf8, strlen(name_utf8));
	bound_edge("shift_jis", 0, name_sjis, strlen(name_sjis));
	bound_edge("euc-jp", 1, "①", 3);
	bound_edge("euc-jp", 0, "\xad\xa1", 2);
	bound_edge("utf-8", 1, name_utf8, strlen(name_utf8));
	bound_edge("utf-8", 0, "a\xff", 2);   /* the replacement */
	bound_edge("us-ascii", 0, "a\xe9", 2); /* the windows-1252 character */
	bound_edge("us-ascii", 1, "abc", 3);
	bound_edge("utf-16", 1, "a", 1);      /* the BOM counts */
}

/* Inputs larger than the conversion's staging block, both ways. */
static void test_long(void **state)
{
	enum { N = 5000 };
	static const char *const labels[] = { "iso-2022-jp", "shift_jis", "euc-jp", "utf-16" };
	char *text = malloc(N * 4 + 1);
	size_t n = 0;
	assert_non_null(text);
	for (size_t i = 0; i < N; i++) {
		const char *c = i % 7 == 6 ? "a" : i % 5 == 4 ? "①" : "山";
		memcpy(text + n, c, strlen(c));
		n += strlen(c);
	}
	for (size_t l = 0; l < 4; l++) {
		struct sx_buf e, d;
		size_t bad = 0;
		sx_buf_init(&e, BIG);
		sx_buf_init(&d, BIG);
		assert_int_equal(sx_charset_from_utf8(labels[l], (const uint8_t *)text, n, &e), 0);
		assert_int_equal(sx_charset_to_utf8(labels[l], sx_buf_head(&e), sx_buf_used(&e),
						    &d, &bad), 0);
		assert_int_equal(bad, 0);
		assert_buf(&d, text, n);
		sx_buf_finish(&e);
		sx_buf_finish(&d);
	}
	/* a long run of invalid bytes terminates, one replacement each */
	memset(text, 0xff, N);
	struct sx_buf d;
	size_t bad = 0;
	sx_buf_init(&d, BIG);
	assert_int_equal(sx_charset_to_utf8("euc-jp", (const uint8_t *)text, N, &d, &bad), 0);
	assert_int_equal(bad, N);
	assert_int_equal(sx_buf_used(&d), 3 * N);
	sx_buf_finish(&d);
	free(text);
}

/* More charsets in turn than the descriptor cache holds: evictions must not
 * disturb the results. */
static void test_cache_churn(void **state)
{
	for (int round = 0; round < 4; round++) {
		both_ways("iso-2022-jp", name_utf8, name_jis, strlen(name_jis));
		both_ways("shift_jis", name_utf8, name_sjis, strlen(name_sjis));
		both_ways("euc-jp", name_utf8, name_euc, strlen(name_euc));
		both_ways("koi8-r", "Привет", "\xf0\xd2\xc9\xd7\xc5\xd4", 6);
		both_ways("gb2312", "中文", "\xd6\xd0\xce\xc4", 4);
		both_ways("big5", "中文", "\xa4\xa4\xa4\xe5", 4);
		both_ways("euc-kr", "한국", "\xc7\xd1\xb1\xb9", 4);
		both_ways("iso-8859-15", "€", "\xa4", 1);
		both_ways("windows-1251", "Я", "\xdf", 1);
		both_ways("iso-2022-jp", "①", "\x1b$B-!\x1b(B", 8);
	}
}

/* ---- the table readers (charset_jp.c) against the reference (iconv) ---- */

static const char *const jp_labels[] = { "shift_jis", "euc-jp", "iso-2022-jp" };

/* Both readers on in: the same UTF-8 and the same count; a mismatch names the input. */
static void same_as_ref(const char *label, const uint8_t *in, size_t n)
{
	struct sx_buf a, r;
	size_t abad = 0, rbad = 0;

	sx_buf_init(&a, BIG);
	sx_buf_init(&r, BIG);
	assert_int_equal(sx_charset_to_utf8(label, in, n, &a, &abad), 0);
	assert_int_equal(sx_charset_ref_to_utf8(label, in, n, &r, &rbad), 0);
	if (abad != rbad || sx_buf_used(&a) != sx_buf_used(&r)
	    || memcmp(sx_buf_head(&a), sx_buf_head(&r), sx_buf_used(&a)) != 0) {
		char hex[3 * 64 + 1] = "";
		for (size_t i = 0; i < n && i < 64; i++)
			snprintf(hex + 3 * i, 4, "%02x ", in[i]);
		fail_msg("%s: tables and reference differ on %zu bytes: %s", label, n, hex);
	}
	sx_buf_finish(&a);
	sx_buf_finish(&r);
}

/* p (pn bytes) between prefix and suffix (NUL-terminated). */
static void framed(const char *label, const char *prefix, const uint8_t *p, size_t pn,
		   const char *suffix)
{
	uint8_t q[64];
	size_t a = strlen(prefix), z = strlen(suffix);
	memcpy(q, prefix, a);
	memcpy(q + a, p, pn);
	memcpy(q + a + pn, suffix, z);
	same_as_ref(label, q, a + pn + z);
}

/* The tables are filled only once SX_JP_FILL_AFTER bytes were read in the
 * charset (a one-message process never pays for them); runs first, before
 * anything else read Shift_JIS. */
static void test_tables_filled_after(void **state)
{
	uint8_t *big = malloc(SX_JP_FILL_AFTER);
	struct sx_buf b;
	size_t bad = 0;
	assert_non_null(big);
	memset(big, 'a', SX_JP_FILL_AFTER);
	sx_buf_init(&b, 2 * SX_JP_FILL_AFTER);
	assert_int_equal(sx_jp_to_utf8(SX_JP_CP932, big, SX_JP_FILL_AFTER - 1, &b, &bad), 0);
	assert_int_equal(sx_buf_used(&b), 0);
	assert_int_equal(sx_jp_to_utf8(SX_JP_CP932, big, 1, &b, &bad), 1);
	assert_int_equal(sx_buf_used(&b), 1);
	sx_buf_finish(&b);
	free(big);
	/* the comparisons below are of the tables */
	for (int cs = 0; cs < SX_JP_COUNT; cs++)
		sx_jp_fill((enum sx_jp)cs);
}

/* Every one- and two-byte input, alone and inside a text (where the tables,
 * not the reference, read it): Shift_JIS and EUC-JP. */
static void test_tables_every_pair(void **state)
{
	static const char *const after[] = { "", "zz\n", "\xa4\xa2\n", "\x82\xa0z" };
	for (size_t l = 0; l < 2; l++) {
		for (unsigned c = 0; c < 256; c++) {
			for (unsigned d = 0; d < 256; d++) {
				uint8_t p[2] = { (uint8_t)c, (uint8_t)d };
				for (size_t k = 0; k < 4; k++)
					framed(jp_labels[l], k == 3 ? "a" : "", p, 2, after[k]);
			}
			uint8_t b = (uint8_t)c;
			framed(jp_labels[l], "", &b, 1, "");
			framed(jp_labels[l], "", &b, 1, "zz");
		}
	}
}

/* EUC-JP's three-byte characters (0x8F, JIS X 0212), every continuation. */
static void test_tables_euc_three(void **state)
{
	for (unsigned c = 0; c < 256; c++) {
		for (unsigned d = 0; d < 256; d++) {
			uint8_t p[3] = { 0x8F, (uint8_t)c, (uint8_t)d };
			framed("euc-jp", "", p, 3, "zz\n");
			framed("euc-jp", "", p, 3, "");
		}
	}
}

/* ISO-2022-JP: every pair in each set, plain and after each designation. */
static void test_tables_jis(void **state)
{
	static const char *const sets[] = { "", "\x1b(B", "\x1b(J", "\x1b(I", "\x1b$B", "\x1b$@",
					    "\x1b$A", "\x1b$(D", "\x1b.A\x1bN" };
	for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
		for (unsigned c = 0; c < 256; c++) {
			for (unsigned d = 0; d < 256; d++) {
				uint8_t p[2] = { (uint8_t)c, (uint8_t)d };
				framed("iso-2022-jp", sets[s], p, 2, "\x1b(Bz");
				if (s == 0 || s == 4)
					framed("iso-2022-jp", sets[s], p, 2, "");
			}
		}
	}
}

/* Random texts built from the pieces the readers branch on. */
static void test_tables_random(void **state)
{
	static const char *const pieces[] = {
		"\x1b(B", "\x1b(J", "\x1b(I", "\x1b$B", "\x1b$@", "\x1b$A", "\x1b", "\x1b$",
		"\x1b(", "\n", "\r\n", "\x0e", "\x0f", "\x8e", "\x8f", "\xa4\xa2", "\x82\xa0",
		";3", "!!", "~", "\\", " ", "a", "\xff", "\x80", "\xa0", "\xfd", "\xed\x40",
		"\xfa\x40", "\xad\xa1", "\xe3\x81\x82", "\xef\xbd\x81", "\x7f", "\x00",
	};
	enum { NP = sizeof pieces / sizeof pieces[0] };
	uint32_t x = 20261129;
	for (int round = 0; round < 30000; round++) {
		uint8_t q[128];
		size_t n = 0;
		x = x * 1103515245u + 12345u;
		size_t k = 1 + (x >> 16) % 24;
		for (size_t i = 0; i < k; i++) {
			x = x * 1103515245u + 12345u;
			unsigned v = x >> 16;
			if (v % 4 == 0) {
				q[n++] = (uint8_t)(v >> 4);
				continue;
			}
			const char *pc = pieces[(v >> 2) % NP];
			size_t pl = pc[0] ? strlen(pc) : 1;
			memcpy(q + n, pc, pl);
			n += pl;
		}
		for (size_t l = 0; l < 3; l++)
			same_as_ref(jp_labels[l], q, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_filled_after),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_japanese_round_trips),
		cmocka_unit_test(test_windows_rows),
		cmocka_unit_test(test_invalid_counted),
		cmocka_unit_test(test_us_ascii),
		cmocka_unit_test(test_other_charsets),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_cache_churn),
		cmocka_unit_test(test_tables_every_pair),
		cmocka_unit_test(test_tables_euc_three),
		cmocka_unit_test(test_tables_jis),
		cmocka_unit_test(test_tables_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
