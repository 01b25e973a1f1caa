/*
 * charset.c: MIME charset labels to iconv names, and conversion loops that
 * never give up on broken input.
 *
 * Reading is lenient because a mail reader shows something for every byte,
 * and redaction must see what the reader shows: an invalid sequence becomes
 * U+FFFD, is counted, and decoding goes on one byte further (two inside an
 * ISO-2022-JP double-byte run, so the pairs after it stay aligned). Writing is
 * strict: a character the charset cannot hold is SX_EINVAL, never a silent '?'.
 *
 * Decisions (see also the alias table):
 * - "us-ascii" (and "ascii") input is read byte by byte: valid UTF-8
 *   sequences as UTF-8 (mailers that label UTF-8 text us-ascii are common),
 *   any other 8-bit byte as windows-1252, which is what the WHATWG Encoding
 *   Standard, and so browsers and Thunderbird, make of us-ascii. Neither is
 *   counted as invalid; only the five bytes windows-1252 leaves undefined
 *   (0x81 0x8D 0x8F 0x90 0x9D) become U+FFFD and are counted. Writing
 *   us-ascii accepts ASCII only.
 * - "iso-2022-jp" is read with glibc's ISO-2022-JP-2, which reads plain
 *   ISO-2022-JP (and JIS X 0201 Roman and katakana, JIS X 0212, ...), and
 *   written with ISO-2022-JP so the output is plain ISO-2022-JP.
 *   "iso-2022-jp-3" is read and written as ISO-2022-JP-3: ISO-2022-JP-2
 *   passes JIS X 0213 escapes through as text.
 * - Windows writes the NEC special characters (row 13: ① ㈱ Ⅰ ...) and the
 *   NEC-selected IBM extensions (rows 89-92) in ISO-2022-JP and EUC-JP, and
 *   Japanese readers show them; glibc's JIS X 0208 tables lack those rows. A
 *   double-byte code glibc rejects is therefore read through its Shift_JIS
 *   form in CP932, and a character glibc cannot write is written as the JIS
 *   code CP932 gives it (in ISO-2022-JP, half-width katakana as ESC ( I),
 *   as Windows' CP50221 does. Plain ISO-2022-JP text is unaffected. A few
 *   characters have twins there and come back as the standard one once
 *   (FULLWIDTH TILDE as WAVE DASH, NEC-selected U+FFE2 as U+00AC).
 * - Chinese and Korean labels are read with the superset Windows readers use
 *   (GB18030, CP949) and written with the labelled charset.
 * - "utf-16": the BOM is read here (none means big-endian, RFC 2781) and
 *   written big-endian after a BOM. Also known: utf-7, utf-16be/le, koi8-u,
 *   windows-874, tis-620, big5-hkscs (spam uses them; readers decode them).
 * - Text holding ESC cannot be written in ISO-2022-JP (SX_EINVAL): it would
 *   read as, or break, an escape sequence.
 *
 * On any error the output buffer holds what it held before the call (its
 * storage may have grown).
 *
 * iconv descriptors are cached per thread (CD_SLOTS of them, least recently
 * used evicted); sprex converts on one thread, and a thread that exits leaves
 * its descriptors open.
 */
#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "charset_jp.h"
#include "err.h"
#include "v16.h"

enum kind {
	K_ICONV, /* iconv both ways */
	K_UTF8,  /* no conversion: validated, invalid bytes replaced */
	K_ASCII, /* us-ascii: see the top of the file */
	K_JIS,   /* ISO-2022-JP family: iconv plus the Windows rows */
	K_EUCJP, /* EUC-JP: iconv plus the Windows rows */
	K_UTF16, /* UTF-16: the BOM handled here (see sx_charset_to_utf8) */
};

struct alias {
	const char *label; /* lower case */
	const char *dec;   /* iconv name for reading */
	const char *enc;   /* iconv name for writing */
	enum kind kind;
};

static const struct alias aliases[] = {
	{ "utf-8", "UTF-8", "UTF-8", K_UTF8 },
	{ "utf8", "UTF-8", "UTF-8", K_UTF8 },
	{ "unicode-1-1-utf-8", "UTF-8", "UTF-8", K_UTF8 },
	{ "us-ascii", "US-ASCII", "US-ASCII", K_ASCII },
	{ "ascii", "US-ASCII", "US-ASCII", K_ASCII },
	{ "ansi_x3.4-1968", "US-ASCII", "US-ASCII", K_ASCII },
	{ "iso646-us", "US-ASCII", "US-ASCII", K_ASCII },
	{ "csascii", "US-ASCII", "US-ASCII", K_ASCII },
	{ "shift_jis", "CP932", "CP932", K_ICONV },
	{ "shift-jis", "CP932", "CP932", K_ICONV },
	{ "sjis", "CP932", "CP932", K_ICONV },
	{ "x-sjis", "CP932", "CP932", K_ICONV },
	{ "ms_kanji", "CP932", "CP932", K_ICONV },
	{ "csshiftjis", "CP932", "CP932", K_ICONV },
	{ "windows-31j", "CP932", "CP932", K_ICONV },
	{ "cswindows31j", "CP932", "CP932", K_ICONV },
	{ "cp932", "CP932", "CP932", K_ICONV },
	{ "ms932", "CP932", "CP932", K_ICONV },
	{ "x-ms-cp932", "CP932", "CP932", K_ICONV },
	{ "iso-2022-jp", "ISO-2022-JP-2", "ISO-2022-JP", K_JIS },
	{ "csiso2022jp", "ISO-2022-JP-2", "ISO-2022-JP", K_JIS },
	{ "iso-2022-jp-1", "ISO-2022-JP-2", "ISO-2022-JP", K_JIS },
	{ "iso-2022-jp-2", "ISO-2022-JP-2", "ISO-2022-JP-2", K_JIS },
	{ "csiso2022jp2", "ISO-2022-JP-2", "ISO-2022-JP-2", K_JIS },
	{ "iso-2022-jp-3", "ISO-2022-JP-3", "ISO-2022-JP-3", K_JIS },
	{ "euc-jp", "EUC-JP", "EUC-JP", K_EUCJP },
	{ "x-euc-jp", "EUC-JP", "EUC-JP", K_EUCJP },
	{ "eucjp", "EUC-JP", "EUC-JP", K_EUCJP },
	{ "cseucpkdfmtjapanese", "EUC-JP", "EUC-JP", K_EUCJP },
	{ "latin1", "ISO-8859-1", "ISO-8859-1", K_ICONV },
	{ "l1", "ISO-8859-1", "ISO-8859-1", K_ICONV },
	{ "koi8-r", "KOI8-R", "KOI8-R", K_ICONV },
	{ "cskoi8r", "KOI8-R", "KOI8-R", K_ICONV },
	{ "koi8", "KOI8-R", "KOI8-R", K_ICONV },
	{ "koi8-u", "KOI8-U", "KOI8-U", K_ICONV },
	{ "gb2312", "GB18030", "GB2312", K_ICONV },
	{ "csgb2312", "GB18030", "GB2312", K_ICONV },
	{ "euc-cn", "GB18030", "GB2312", K_ICONV },
	{ "gbk", "GB18030", "GBK", K_ICONV },
	{ "x-gbk", "GB18030", "GBK", K_ICONV },
	{ "cp936", "GB18030", "GBK", K_ICONV },
	{ "windows-936", "GB18030", "GBK", K_ICONV },
	{ "gb18030", "GB18030", "GB18030", K_ICONV },
	{ "big5", "BIG5", "BIG5", K_ICONV },
	{ "csbig5", "BIG5", "BIG5", K_ICONV },
	{ "x-x-big5", "BIG5", "BIG5", K_ICONV },
	{ "big5-hkscs", "BIG5-HKSCS", "BIG5-HKSCS", K_ICONV },
	{ "euc-kr", "CP949", "EUC-KR", K_ICONV },
	{ "cseuckr", "CP949", "EUC-KR", K_ICONV },
	{ "ks_c_5601-1987", "CP949", "CP949", K_ICONV },
	{ "ks_c_5601-1989", "CP949", "CP949", K_ICONV },
	{ "windows-949", "CP949", "CP949", K_ICONV },
	{ "cp949", "CP949", "CP949", K_ICONV },
	{ "windows-874", "CP874", "CP874", K_ICONV },
	{ "cp874", "CP874", "CP874", K_ICONV },
	{ "tis-620", "TIS-620", "TIS-620", K_ICONV },
	{ "utf-7", "UTF-7", "UTF-7", K_ICONV },
	{ "utf-16", "UTF-16", "UTF-16BE", K_UTF16 },
	{ "utf-16be", "UTF-16BE", "UTF-16BE", K_ICONV },
	{ "utf-16le", "UTF-16LE", "UTF-16LE", K_ICONV },
};

static const char *const iso8859[17] = {
	NULL, "ISO-8859-1", "ISO-8859-2", "ISO-8859-3", "ISO-8859-4", "ISO-8859-5",
	"ISO-8859-6", "ISO-8859-7", "ISO-8859-8", "ISO-8859-9", "ISO-8859-10",
	"ISO-8859-11", NULL, "ISO-8859-13", "ISO-8859-14", "ISO-8859-15", "ISO-8859-16",
};

static const char *const cp125x[9] = {
	"CP1250", "CP1251", "CP1252", "CP1253", "CP1254", "CP1255", "CP1256", "CP1257",
	"CP1258",
};

/* Returns what follows prefix at the start of s (case-insensitive), or NULL. */
static const char *skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncasecmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Parses "N" or "N:YEAR" (N in 1..max, no leading zero); returns N or 0. */
static unsigned parse_number(const char *s, unsigned max)
{
	unsigned v = 0;
	if (*s < '1' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v > max)
			return 0;
	}
	if (*s == ':') {
		if (!*++s)
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s ? 0 : v;
}

/* Fills *a for label; returns false when the label is unknown. */
static bool lookup(const char *label, struct alias *a)
{
	static const char *const iso_prefixes[] = { "iso-8859-", "iso8859-", "iso_8859-" };
	static const char *const win_prefixes[] = { "windows-", "cp", "x-cp" };
	const char *rest;

	/* The label found last in the table: a redactor converts word by word,
	 * each word looking up the same label (exact bytes: a case-blind match
	 * needs the walk) */
	static _Thread_local char last[32];
	static _Thread_local size_t last_i; /* index + 1, 0: none */

	if (!label)
		return false;
	if (last_i && strcmp(label, last) == 0) {
		*a = aliases[last_i - 1];
		return true;
	}
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcasecmp(label, aliases[i].label) == 0) {
			*a = aliases[i];
			size_t ll = strlen(label);
			if (ll < sizeof last) {
				memcpy(last, label, ll + 1);
				last_i = i + 1;
			}
			return true;
		}
	}
	for (size_t i = 0; i < 3; i++) {
		rest = skip_prefix(label, iso_prefixes[i]);
		unsigned v = rest ? parse_number(rest, 16) : 0;
		if (v && iso8859[v]) {
			*a = (struct alias){ label, iso8859[v], iso8859[v], K_ICONV };
			return true;
		}
	}
	for (size_t i = 0; i < 3; i++) {
		rest = skip_prefix(label, win_prefixes[i]);
		if (rest && strncmp(rest, "125", 3) == 0 && rest[3] >= '0' && rest[3] <= '8'
		    && !rest[4]) {
			const char *name = cp125x[rest[3] - '0'];
			*a = (struct alias){ label, name, name, K_ICONV };
			return true;
		}
	}
	return false;
}

const char *sx_charset_iconv_name(const char *label)
{
	struct alias a;
	return lookup(label, &a) ? a.dec : NULL;
}

/* ---- iconv descriptor cache ---- */

/*
 * Enough for every pair one call has in use at once (at most three: the main
 * conversion, CP932 for the Windows rows, and the NEC table builder), so the
 * least recently used slot is never one still in use.
 */
#define CD_SLOTS 8

struct cd_slot {
	const char *to;   /* static names from the alias table, NULL when empty */
	const char *from;
	iconv_t cd;
	unsigned long long last;
};

static _Thread_local struct cd_slot cd_cache[CD_SLOTS];
static _Thread_local unsigned long long cd_clock;

/* Returns a descriptor for from -> to in its initial state. */
static int cd_get(const char *to, const char *from, iconv_t *out)
{
	struct cd_slot *victim = NULL;

	for (size_t i = 0; i < CD_SLOTS; i++) {
		struct cd_slot *s = &cd_cache[i];
		if (s->to && strcmp(s->to, to) == 0 && strcmp(s->from, from) == 0) {
			s->last = ++cd_clock;
			iconv(s->cd, NULL, NULL, NULL, NULL);
			*out = s->cd;
			return 0;
		}
		if (!victim || (victim->to && (!s->to || s->last < victim->last)))
			victim = s;
	}
	iconv_t cd = iconv_open(to, from);
	if (cd == (iconv_t)-1)
		return errno == ENOMEM ? SX_ENOMEM : SX_EINVAL;
	if (victim->to)
		iconv_close(victim->cd);
	victim->to = to;
	victim->from = from;
	victim->cd = cd;
	victim->last = ++cd_clock;
	*out = cd;
	return 0;
}

void sx_charset_thread_finish(void)
{
	for (size_t i = 0; i < CD_SLOTS; i++) {
		if (cd_cache[i].to)
			iconv_close(cd_cache[i].cd);
		cd_cache[i] = (struct cd_slot){ NULL, NULL, (iconv_t)-1, 0 };
	}
}

/* ---- UTF-8 ---- */

static const uint8_t replacement[3] = { 0xEF, 0xBF, 0xBD }; /* U+FFFD */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when there is none. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c < 0xE0)
		return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
		return 0;
	if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
		return 0; /* overlong, past U+10FFFF */
	return 4;
}

/*
 * Lanes of the sixteen bytes at p that are ASCII or the characters of
 * Japanese text, from the start: a lead from E1 to EF but ED (whose second
 * byte has no constraint) and two continuation bytes. 16 when all are, or
 * the lane of the first 8-bit byte that is not such a character (or runs
 * past the sixteen), for utf8_seq.
 */
static unsigned v16_utf8_run(const uint8_t *p)
{
	sx_v16 v;
	memcpy(&v, p, 16);
	unsigned hi = sx_v16_mask((sx_v16)(v >= 0x80));
	unsigned lead = sx_v16_mask((sx_v16)((v >= 0xE1) & (v <= 0xEF) & (v != 0xED)));
	unsigned cont = sx_v16_mask((sx_v16)((v & 0xC0) == 0x80));
	/* five such characters at once, the rest lane by lane */
	unsigned k = 0;
	if ((lead & 0x1249u) == 0x1249u && (cont & 0x6DB6u) == 0x6DB6u)
		k = 15;
	for (;;) {
		unsigned h = k < 16 ? hi >> k : 0;
		if (!h)
			return 16; /* ASCII to the end */
		k += (unsigned)__builtin_ctz(h);
		if (k > 13 || !(lead >> k & 1) || (cont >> (k + 1) & 3) != 3)
			return k;
		k += 3;
	}
}

int sx_utf8_valid(const uint8_t *in, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i >= 16) {
			unsigned k = v16_utf8_run(in + i);
			i += k;
			if (k == 16)
				continue;
		}
		size_t k = utf8_seq(in + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* The code point of a valid sequence of len bytes. */
static uint32_t utf8_cp(const uint8_t *p, size_t len)
{
	static const uint8_t lead_mask[5] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	uint32_t cp = p[0] & lead_mask[len];
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3Fu);
	return cp;
}

static int put_cp(struct sx_buf *out, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		u[0] = (uint8_t)(0xE0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return sx_buf_append(out, u, n);
}

/* windows-1252 0x80..0x9F; 0 where it defines nothing. */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

/*
 * Copies valid UTF-8 and replaces every other byte: with U+FFFD (counted) for
 * UTF-8, with its windows-1252 character for us-ascii (see the top).
 */
static int read_utf8(const uint8_t *in, size_t n, bool ascii, struct sx_buf *out, size_t *nbad)
{
	size_t i = 0, run = 0;
	int rc;

	while (i < n) {
		if (in[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(in + i, n - i);
		if (k) {
			i += k;
			continue;
		}
		if ((rc = sx_buf_append(out, in + run, i - run)) < 0)
			return rc;
		uint32_t cp = 0;
		if (ascii)
			cp = in[i] >= 0xA0 ? in[i] : cp1252_c1[in[i] - 0x80];
		if (cp) {
			rc = put_cp(out, cp);
		} else {
			rc = sx_buf_append(out, replacement, sizeof replacement);
			(*nbad)++;
		}
		if (rc < 0)
			return rc;
		run = ++i;
	}
	return sx_buf_append(out, in + run, n - run);
}

/* ---- the Windows rows of JIS X 0208 ---- */

/* Decodes one Shift_JIS code through CP932 into u (4 bytes); returns its length or 0. */
static size_t cp932_decode(const uint8_t s[2], uint8_t u[4])
{
	iconv_t cd;
	if (cd_get("UTF-8", "CP932", &cd) < 0)
		return 0;
	char *ip = (char *)s, *op = (char *)u;
	size_t il = 2, ol = 4;
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il)
		return 0;
	return 4 - ol;
}

/* Reads a JIS X 0208 pair (0x21..0x7E each) the way Windows does; returns the
 * length of its UTF-8 in u, or 0. */
static size_t jis_pair_read(uint8_t j1, uint8_t j2, uint8_t u[4])
{
	uint8_t s[2];
	s[0] = (uint8_t)(((j1 + 1) >> 1) + (j1 <= 0x5E ? 0x70 : 0xB0));
	if (j1 & 1)
		s[1] = (uint8_t)(j2 + (j2 >= 0x60 ? 0x20 : 0x1F));
	else
		s[1] = (uint8_t)(j2 + 0x7E);
	return cp932_decode(s, u);
}

/*
 * CP932 writes the IBM extensions with their IBM codes (0xFA40..0xFC4B), which
 * have no JIS form; most also sit among the NEC-selected codes 0xED40..0xEEFC
 * (JIS rows 89-92), where Windows puts them in ISO-2022-JP. This table maps
 * code points back to those, built on first use.
 */
#define NEC_SEL_MAX (2 * 188)

struct nec_sel {
	uint32_t cp;
	uint8_t s1, s2;
};

static _Thread_local struct nec_sel nec_table[NEC_SEL_MAX];
static _Thread_local size_t nec_count;
static _Thread_local bool nec_ready;

static void nec_build(void)
{
	for (unsigned s1 = 0xED; s1 <= 0xEE; s1++) {
		for (unsigned s2 = 0x40; s2 <= 0xFC; s2++) {
			uint8_t s[2] = { (uint8_t)s1, (uint8_t)s2 }, u[4];
			size_t len = s2 == 0x7F ? 0 : cp932_decode(s, u);
			if (len && nec_count < NEC_SEL_MAX)
				nec_table[nec_count++] =
					(struct nec_sel){ utf8_cp(u, len), s[0], s[1] };
		}
	}
	nec_ready = true;
}

/*
 * The JIS X 0208 pair (*kana == 0) or JIS X 0201 katakana byte (*kana == 1,
 * j[0]) Windows writes for the character u (len bytes of UTF-8). Returns 0,
 * or -1 when it has no such form.
 */
static int jis_char_write(const uint8_t *u, size_t len, uint8_t j[2], int *kana)
{
	iconv_t cd;
	uint8_t s[4];
	char *ip = (char *)u, *op = (char *)s;
	size_t il = len, ol = sizeof s;

	if (cd_get("CP932", "UTF-8", &cd) < 0)
		return -1;
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il)
		return -1;
	size_t sn = sizeof s - ol;
	if (sn == 1 && s[0] >= 0xA1 && s[0] <= 0xDF) {
		*kana = 1;
		j[0] = s[0] & 0x7F;
		return 0;
	}
	if (sn != 2)
		return -1;
	if (s[0] >= 0xFA && s[0] <= 0xFC) {
		uint32_t cp = utf8_cp(u, len);
		size_t i;
		if (!nec_ready)
			nec_build();
		for (i = 0; i < nec_count && nec_table[i].cp != cp; i++)
			;
		if (i == nec_count)
			return -1;
		s[0] = nec_table[i].s1;
		s[1] = nec_table[i].s2;
	}
	if (!((s[0] >= 0x81 && s[0] <= 0x9F) || (s[0] >= 0xE0 && s[0] <= 0xEF)))
		return -1;
	uint8_t row2 = (uint8_t)(s[0] - (s[0] <= 0x9F ? 0x70 : 0xB0)); /* (j1 + 1) / 2 */
	j[0] = (uint8_t)(2 * row2 - 1);
	if (s[1] >= 0x9F) {
		j[0]++;
		j[1] = (uint8_t)(s[1] - 0x7E);
	} else {
		j[1] = (uint8_t)(s[1] - (s[1] >= 0x80 ? 0x20 : 0x1F));
	}
	*kana = 0;
	return 0;
}

/* ---- reading ---- */

enum jis_mode {
	JM_SINGLE, /* ASCII, JIS X 0201 Roman or katakana */
	JM_0208,   /* ESC $ @, ESC $ B */
	JM_OTHER2, /* another double-byte set */
};

/* Follows the G0 designations in p[0..n). */
static enum jis_mode jis_track(const uint8_t *p, size_t n, enum jis_mode m)
{
	for (size_t i = 0; i + 2 < n; i++) {
		if (p[i] != 0x1B)
			continue;
		uint8_t a = p[i + 1], b = p[i + 2];
		if (a == '(')
			m = JM_SINGLE;
		else if (a == '$' && (b == '@' || b == 'B'))
			m = JM_0208;
		else if (a == '$' && (b == 'A' || b == '('))
			m = JM_OTHER2;
	}
	return m;
}

static bool gl(uint8_t c)
{
	return c >= 0x21 && c <= 0x7E;
}

static int read_iconv(const struct alias *a, const uint8_t *in, size_t n, struct sx_buf *out,
		      size_t *nbad)
{
	char tmp[1024];
	iconv_t cd;
	size_t pos = 0, tracked = 0;
	enum jis_mode mode = JM_SINGLE;
	int rc;

	if ((rc = cd_get("UTF-8", a->dec, &cd)) < 0)
		return rc;
	while (pos < n) {
		char *ip = (char *)in + pos, *op = tmp;
		size_t il = n - pos, ol = sizeof tmp;
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		int e = errno;
		size_t took = (n - pos) - il;

		pos += took;
		if ((rc = sx_buf_append(out, tmp, (size_t)(op - tmp))) < 0)
			return rc;
		if (r != (size_t)-1)
			break;
		if (e == E2BIG) {
			if (!took && op == tmp)
				return SX_EINVAL; /* no progress: a converter bug, not a loop */
			continue;
		}
		if (e != EILSEQ) {
			/* incomplete at the end (EINVAL), or anything else: one
			 * replacement for the rest */
			(*nbad)++;
			return sx_buf_append(out, replacement, sizeof replacement);
		}
		size_t skip = 1;
		uint8_t u[4];
		size_t ulen = 0;
		if (a->kind == K_JIS) {
			mode = jis_track(in + tracked, pos - tracked, mode);
			tracked = pos;
			if (mode != JM_SINGLE && pos + 1 < n && gl(in[pos]) && gl(in[pos + 1])) {
				skip = 2;
				if (mode == JM_0208)
					ulen = jis_pair_read(in[pos], in[pos + 1], u);
			}
		} else if (a->kind == K_EUCJP && pos + 1 < n && in[pos] >= 0xA1 && in[pos] <= 0xFE
			   && in[pos + 1] >= 0xA1 && in[pos + 1] <= 0xFE) {
			skip = 2;
			ulen = jis_pair_read(in[pos] & 0x7F, in[pos + 1] & 0x7F, u);
		}
		if (ulen) {
			rc = sx_buf_append(out, u, ulen);
		} else {
			(*nbad)++;
			rc = sx_buf_append(out, replacement, sizeof replacement);
		}
		if (rc < 0)
			return rc;
		pos += skip;
		tracked = pos;
	}
	return 0;
}

/* Which table reader reads a, or SX_JP_COUNT for none. */
static enum sx_jp table_for(const struct alias *a)
{
	if (a->kind == K_ICONV && strcmp(a->dec, "CP932") == 0)
		return SX_JP_CP932;
	if (a->kind == K_EUCJP)
		return SX_JP_EUCJP;
	if (a->kind == K_JIS && strcmp(a->dec, "ISO-2022-JP-2") == 0)
		return SX_JP_JIS;
	return SX_JP_COUNT;
}

static int to_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out,
		   size_t *bad, bool tables)
{
	struct alias a;
	size_t used0 = sx_buf_used(out), nbad = 0;
	int rc;

	if (!lookup(label, &a))
		return SX_EINVAL;
	if (a.kind == K_UTF16) {
		/*
		 * glibc's UTF-16 decoder keeps the byte order of the first BOM
		 * it saw even across a reset, which a cached descriptor would
		 * carry into the next text. RFC 2781 4.3: no BOM means BE.
		 */
		bool be = n >= 2 && in[0] == 0xFE && in[1] == 0xFF;
		bool le = n >= 2 && in[0] == 0xFF && in[1] == 0xFE;
		a.dec = le ? "UTF-16LE" : "UTF-16BE";
		if (be || le) {
			in += 2;
			n -= 2;
		}
	}
	enum sx_jp jp = tables ? table_for(&a) : SX_JP_COUNT;
	long done = 0;
	if (jp != SX_JP_COUNT)
		done = sx_jp_to_utf8(jp, in, n, out, &nbad);
	if (done < 0)
		rc = (int)done;
	else if ((size_t)done == n)
		rc = 0;
	else if (a.kind == K_UTF8 || a.kind == K_ASCII)
		rc = read_utf8(in, n, a.kind == K_ASCII, out, &nbad);
	else
		rc = read_iconv(&a, in + done, n - (size_t)done, out, &nbad);
	if (rc < 0) {
		out->len = out->off + used0;
		return rc;
	}
	if (bad)
		*bad += nbad;
	return 0;
}

int sx_charset_to_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out,
		       size_t *bad)
{
	return to_utf8(label, in, n, out, bad, true);
}

int sx_charset_ref_to_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out,
			   size_t *bad)
{
	return to_utf8(label, in, n, out, bad, false);
}

/* ---- writing ---- */

static const uint8_t esc_ascii[3] = { 0x1B, '(', 'B' };

/* Appends the bytes that return cd to its initial state. */
static int flush_state(iconv_t cd, struct sx_buf *out)
{
	char tmp[64], *op = tmp;
	size_t ol = sizeof tmp;
	if (iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1)
		return SX_EINVAL;
	return sx_buf_append(out, tmp, (size_t)(op - tmp));
}

static int write_iconv(const struct alias *a, const uint8_t *in, size_t n, struct sx_buf *out)
{
	char tmp[1024];
	iconv_t cd;
	size_t pos = 0;
	int rc;
	/*
	 * K_JIS: after characters written by jis_char_write, the output is in the
	 * set they need while cd, flushed before them, is in ASCII; the next
	 * characters then go one at a time so that ESC ( B can be put in front of
	 * the first one iconv writes.
	 */
	enum pend { P_NONE, P_KANJI, P_KANA } pend = P_NONE;

	if ((rc = cd_get(a->enc, "UTF-8", &cd)) < 0)
		return rc;
	while (pos < n) {
		char *ip = (char *)in + pos, *op = tmp;
		size_t il = pend ? utf8_seq(in + pos, n - pos) : n - pos, ol = sizeof tmp;
		size_t avail = il;
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		int e = errno;
		size_t took = avail - il;

		if (pend && took) {
			if ((rc = sx_buf_append(out, esc_ascii, sizeof esc_ascii)) < 0)
				return rc;
			pend = P_NONE;
		}
		pos += took;
		if ((rc = sx_buf_append(out, tmp, (size_t)(op - tmp))) < 0)
			return rc;
		if (r != (size_t)-1)
			continue;
		if (e == E2BIG) {
			if (!took && op == tmp)
				return SX_EINVAL;
			continue;
		}
		if (e != EILSEQ || (a->kind != K_JIS && a->kind != K_EUCJP))
			return SX_EINVAL;
		size_t k = utf8_seq(in + pos, n - pos);
		uint8_t j[2], b[4];
		int kana;
		if (!k || jis_char_write(in + pos, k, j, &kana) < 0)
			return SX_EINVAL;
		if (a->kind == K_EUCJP) {
			b[0] = kana ? 0x8E : (uint8_t)(j[0] | 0x80);
			b[1] = (uint8_t)((kana ? j[0] : j[1]) | 0x80);
			rc = sx_buf_append(out, b, 2);
		} else {
			enum pend want = kana ? P_KANA : P_KANJI;
			if (!pend && (rc = flush_state(cd, out)) < 0)
				return rc;
			size_t bn = 0;
			if (pend != want) {
				b[0] = 0x1B;
				b[1] = kana ? '(' : '$';
				b[2] = kana ? 'I' : 'B';
				if ((rc = sx_buf_append(out, b, 3)) < 0)
					return rc;
			}
			b[bn++] = j[0];
			if (!kana)
				b[bn++] = j[1];
			rc = sx_buf_append(out, b, bn);
			pend = want;
		}
		if (rc < 0)
			return rc;
		pos += k;
	}
	if (pend && (rc = sx_buf_append(out, esc_ascii, sizeof esc_ascii)) < 0)
		return rc;
	return flush_state(cd, out);
}

int sx_charset_from_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out)
{
	struct alias a;
	size_t used0 = sx_buf_used(out);
	int rc;

	if (!lookup(label, &a) || !sx_utf8_valid(in, n))
		return SX_EINVAL;
	/* ISO-2022-JP has no way to write ESC as text: it would read as an
	 * escape sequence, or break the one after it */
	if (a.kind == K_JIS && memchr(in, 0x1B, n))
		return SX_EINVAL;
	if (a.kind == K_UTF8) {
		rc = sx_buf_append(out, in, n);
	} else if (a.kind == K_ASCII) {
		rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = in[i] < 0x80 ? 0 : SX_EINVAL;
		if (rc == 0)
			rc = sx_buf_append(out, in, n);
	} else {
		/* UTF-16 with a BOM, so that a leading U+FEFF survives reading */
		rc = a.kind == K_UTF16 ? sx_buf_append(out, "\xFE\xFF", 2) : 0;
		if (rc == 0)
			rc = write_iconv(&a, in, n, out);
	}
	if (rc < 0)
		out->len = out->off + used0;
	return rc;
}
