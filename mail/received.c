#include "received.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"

/* ---- small text helpers (no locale) ---- */

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int span_ieq(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n != l)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

static int span_iprefix(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && span_ieq(s, l, lit);
}

/* Non-zero when lit occurs in s[0..n), ASCII case-insensitively. */
static int span_icontains(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	for (size_t i = 0; i + l <= n; i++)
		if (span_ieq(s + i, l, lit))
			return 1;
	return 0;
}

/* Copies a span into a NUL-terminated field, truncating. */
static void put(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Names compare without a trailing root dot ("mx.google.com."). */
static void put_name(char *dst, size_t cap, const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == '.')
		n--;
	put(dst, cap, s, n);
}

/* ---- addresses ---- */

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Parses a bare IPv4 or IPv6 address (an "IPv6:" tag allowed). */
static int ip_parse(const char *s, size_t n, uint8_t ip[16])
{
	char tmp[64];
	if (span_iprefix(s, n, "ipv6:")) {
		s += 5;
		n -= 5;
	}
	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	struct in_addr a4;
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		memcpy(ip, v4mapped, 12);
		memcpy(ip + 12, &a4, 4);
		return 0;
	}
	if (strchr(tmp, ':') && inet_pton(AF_INET6, tmp, ip) == 1)
		return 0;
	return -1;
}

static int port_parse(const char *s, size_t n, uint16_t *port)
{
	if (n == 0 || n > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "[addr]" or "[addr]:port" (also "[IPv6:addr]"). Returns 0 when the
 * literal holds an address. */
static int literal_parse(const char *s, size_t n, uint8_t ip[16], uint16_t *port)
{
	if (n < 2 || s[0] != '[')
		return -1;
	const char *close = memchr(s, ']', n);
	if (!close)
		return -1;
	if (ip_parse(s + 1, (size_t)(close - s - 1), ip) < 0)
		return -1;
	size_t rest = n - (size_t)(close + 1 - s);
	*port = 0;
	if (rest > 1 && close[1] == ':')
		port_parse(close + 2, rest - 1, port);
	return 0;
}

/* "a.b.c.d:port" without brackets (some MTAs write that in comments). */
static int bare_parse(const char *s, size_t n, uint8_t ip[16], uint16_t *port)
{
	*port = 0;
	if (ip_parse(s, n, ip) == 0)
		return 0;
	const char *colon = memchr(s, ':', n);
	if (!colon || memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
		return -1;
	if (ip_parse(s, (size_t)(colon - s), ip) < 0)
		return -1;
	port_parse(colon + 1, n - (size_t)(colon + 1 - s), port);
	return 0;
}

static int is_v4(const uint8_t ip[16])
{
	return memcmp(ip, v4mapped, 12) == 0;
}

int sx_ip_private(const uint8_t ip[16])
{
	if (is_v4(ip)) {
		const uint8_t *a = ip + 12;
		return a[0] == 0 ||                               /* this network */
		       a[0] == 10 ||                              /* RFC 1918 */
		       a[0] == 127 ||                             /* loopback */
		       (a[0] == 169 && a[1] == 254) ||            /* link-local */
		       (a[0] == 172 && (a[1] & 0xf0) == 16) ||    /* RFC 1918 */
		       (a[0] == 192 && a[1] == 168) ||            /* RFC 1918 */
		       (a[0] == 100 && (a[1] & 0xc0) == 64) ||    /* CGNAT */
		       (a[0] & 0xf0) == 224;                      /* multicast */
	}
	static const uint8_t zero[15];
	if (memcmp(ip, zero, 15) == 0 && ip[15] <= 1)
		return 1;                                         /* :: and ::1 */
	return (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||       /* fe80::/10 */
	       (ip[0] & 0xfe) == 0xfc ||                          /* fc00::/7 */
	       ip[0] == 0xff;                                     /* multicast */
}

static void ip_format(const uint8_t ip[16], char *out, size_t outlen)
{
	if (is_v4(ip))
		inet_ntop(AF_INET, ip + 12, out, (socklen_t)outlen);
	else
		inet_ntop(AF_INET6, ip, out, (socklen_t)outlen);
}

/* ---- dates (RFC 5322 with the obsolete syntax) ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned mp = m > 2 ? m - 3 : m + 9;
	unsigned doy = (153 * mp + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

struct cursor {
	const char *s;
	size_t n, i;
};

/* Skips blanks and comments (a zone name often follows as "(JST)"). */
static void skip_cfws(struct cursor *c)
{
	for (;;) {
		while (c->i < c->n && (is_blank((unsigned char)c->s[c->i]) || c->s[c->i] == ','))
			c->i++;
		if (c->i < c->n && c->s[c->i] == '(') {
			int depth = 0;
			do {
				if (c->s[c->i] == '(')
					depth++;
				else if (c->s[c->i] == ')')
					depth--;
				c->i++;
			} while (c->i < c->n && depth > 0);
			continue;
		}
		return;
	}
}

static int read_num(struct cursor *c, unsigned maxdigits, int *out, unsigned *ndigits)
{
	skip_cfws(c);
	unsigned k = 0;
	int v = 0;
	while (c->i < c->n && is_digit((unsigned char)c->s[c->i]) && k < maxdigits) {
		v = v * 10 + (c->s[c->i] - '0');
		c->i++;
		k++;
	}
	if (k == 0)
		return -1;
	if (c->i < c->n && is_digit((unsigned char)c->s[c->i]))
		return -1; /* too many digits */
	*out = v;
	if (ndigits)
		*ndigits = k;
	return 0;
}

static size_t read_word(struct cursor *c, const char **w)
{
	skip_cfws(c);
	size_t st = c->i;
	while (c->i < c->n && is_alpha((unsigned char)c->s[c->i]))
		c->i++;
	*w = c->s + st;
	return c->i - st;
}

static int month_index(const char *w, size_t n)
{
	static const char *const names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					     "jul", "aug", "sep", "oct", "nov", "dec" };
	if (n < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (span_ieq(w, 3, names[i]))
			return i + 1;
	return -1;
}

/* Zone names of RFC 5322 4.3 plus JST, which Japanese MTAs write. Military
 * letters mean "unknown" there, so they count as +0000. */
static int zone_name(const char *w, size_t n, int *minutes)
{
	static const struct { const char *name; int min; } zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
		{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
		{ "JST", 540 },
	};
	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		if (span_ieq(w, n, zones[i].name)) {
			*minutes = zones[i].min;
			return 0;
		}
	}
	if (n == 1) {
		*minutes = 0;
		return 0;
	}
	return -1;
}

static int64_t date_parse(const char *s, size_t n)
{
	struct cursor c = { s, n, 0 };
	const char *w;
	size_t wl = read_word(&c, &w);
	int mon;
	int day, year, hh, mm, ss = 0;
	unsigned ydigits;
	if (wl > 0 && month_index(w, wl) < 0) {
		/* A day name; the comma was skipped as blank. */
		wl = 0;
	} else if (wl > 0) {
		return 0; /* "Jan 8 ..." (asctime order) is not mail date syntax */
	}
	if (read_num(&c, 2, &day, NULL) < 0)
		return 0;
	wl = read_word(&c, &w);
	if ((mon = month_index(w, wl)) < 0)
		return 0;
	if (read_num(&c, 4, &year, &ydigits) < 0)
		return 0;
	if (ydigits == 2)
		year += year < 50 ? 2000 : 1900;  /* RFC 5322 4.3 */
	else if (ydigits == 3)
		year += 1900;
	if (read_num(&c, 2, &hh, NULL) < 0 || c.i >= c.n || c.s[c.i] != ':')
		return 0;
	c.i++;
	if (read_num(&c, 2, &mm, NULL) < 0)
		return 0;
	if (c.i < c.n && c.s[c.i] == ':') {
		c.i++;
		if (read_num(&c, 2, &ss, NULL) < 0)
			return 0;
	}
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (day < 1 || day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap) || hh > 23 ||
	    mm > 59 || ss > 60)
		return 0;
	int zone = 0; /* a missing zone is read as UTC */
	skip_cfws(&c);
	if (c.i < c.n && (c.s[c.i] == '+' || c.s[c.i] == '-')) {
		int sign = c.s[c.i] == '-' ? -1 : 1;
		c.i++;
		int z;
		unsigned zd;
		if (read_num(&c, 4, &z, &zd) < 0)
			return 0;
		if (zd == 2 && c.i < c.n && c.s[c.i] == ':') { /* "+09:00" */
			int zm;
			c.i++;
			if (read_num(&c, 2, &zm, &zd) < 0 || zd != 2)
				return 0;
			z = z * 100 + zm;
			zd = 4;
		}
		if (zd != 4 || z % 100 > 59)
			return 0;
		zone = sign * ((z / 100) * 60 + z % 100);
	} else {
		wl = read_word(&c, &w);
		if (wl > 0 && zone_name(w, wl, &zone) < 0)
			return 0;
	}
	int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
	int64_t secs = days * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)zone * 60;
	return secs * 1000;
}

/* ---- tokens of one Received value ---- */

enum item_kind { IT_WORD, IT_COMMENT };

struct item {
	enum item_kind kind;
	size_t off, len;   /* for a comment: its inside, without the parentheses */
};

/* Index just past a comment starting at s[i] == '(' (nested, with escapes). */
static size_t comment_end(const char *s, size_t n, size_t i)
{
	int depth = 0;
	while (i < n) {
		char ch = s[i];
		if (ch == '\\' && i + 1 < n) {
			i += 2;
			continue;
		}
		i++;
		if (ch == '(')
			depth++;
		else if (ch == ')' && --depth == 0)
			break;
	}
	return i;
}

/* Index just past the word starting at s[i]. */
static size_t word_end(const char *s, size_t n, size_t i)
{
	size_t start = i;
	char close = s[i] == '[' ? ']' : s[i] == '<' ? '>' : s[i] == '"' ? '"' : 0;
	if (close) {
		size_t j = i + 1;
		while (j < n && s[j] != close) {
			if (s[j] == '\\' && j + 1 < n)
				j++;
			j++;
		}
		i = j < n ? j + 1 : n;
		if (close != ']')
			return i;
		/* "[addr]:port" is one word. */
	}
	while (i < n && !is_blank((unsigned char)s[i]) && s[i] != '(' && s[i] != ';')
		i++;
	return i > start ? i : start + 1; /* a stray ';' inside a comment is a word */
}

/* Offset of the ';' that starts the date: the last one outside comments,
 * quotes, brackets. Returns n when there is none. */
static size_t date_split(const char *s, size_t n)
{
	size_t semi = n;
	size_t i = 0;
	while (i < n) {
		if (s[i] == '(') {
			i = comment_end(s, n, i);
		} else if (s[i] == ';') {
			semi = i++;
		} else if (is_blank((unsigned char)s[i])) {
			i++;
		} else {
			i = word_end(s, n, i);
		}
	}
	return semi;
}

static size_t tokenize(const char *s, size_t n, struct item *items, size_t max)
{
	size_t count = 0, i = 0;
	while (i < n && count < max) {
		if (is_blank((unsigned char)s[i]) || s[i] == ';') {
			i++;
		} else if (s[i] == '(') {
			size_t e = comment_end(s, n, i);
			size_t inner_end = e > i + 1 && s[e - 1] == ')' ? e - 1 : e;
			items[count++] = (struct item){ IT_COMMENT, i + 1, inner_end - (i + 1) };
			i = e;
		} else {
			size_t e = word_end(s, n, i);
			items[count++] = (struct item){ IT_WORD, i, e - i };
			i = e;
		}
	}
	return count;
}

enum clause { CL_NONE, CL_FROM, CL_BY, CL_VIA, CL_WITH, CL_ID, CL_FOR };

static enum clause keyword(const char *w, size_t n)
{
	static const struct { const char *kw; enum clause cl; } kws[] = {
		{ "from", CL_FROM }, { "by", CL_BY }, { "via", CL_VIA },
		{ "with", CL_WITH }, { "id", CL_ID }, { "for", CL_FOR },
	};
	for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
		if (span_ieq(w, n, kws[i].kw))
			return kws[i].cl;
	return CL_NONE;
}

/* What the comments after "from W" said. */
struct from_info {
	int has_ip;
	uint8_t ip[16];
	uint16_t port;
	const char *rdns;     /* a name shown beside the bracketed address */
	size_t rdns_len;
	const char *helo_kv;  /* Exim "helo=x" */
	size_t helo_kv_len;
	const char *helo_kw;  /* qmail "HELO x" / "EHLO x" */
	size_t helo_kw_len;
	int literal_in_comment; /* "[addr]" inside the comment */
	int bare_in_comment;    /* a bare address inside the comment */
	int may_be_forged;      /* Sendmail: the name does not resolve back */
};

static int looks_like_name(const char *s, size_t n)
{
	if (n == 0 || s[0] == '[' || s[0] == '<' || s[0] == '"')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (is_alpha((unsigned char)s[i]) || s[i] == '.' || s[i] == '-')
			return 1;
	return 0;
}

/* Reads one comment of the from clause: "rdns [ip]", "[ip]:port helo=x",
 * "port=5678 helo=x", "HELO x", "ip", "user@rdns [ip] (may be forged)". */
static void from_comment(const char *s, size_t n, struct from_info *fi)
{
	const char *prev = NULL;   /* the previous plain token */
	size_t prev_len = 0;
	int expect_helo = 0, expect_port = 0;
	size_t i = 0;
	while (i < n) {
		if (is_blank((unsigned char)s[i]) || s[i] == ',') {
			i++;
			continue;
		}
		if (s[i] == '(') {
			size_t e = comment_end(s, n, i);
			if (span_icontains(s + i, e - i, "may be forged"))
				fi->may_be_forged = 1;
			i = e;
			continue;
		}
		size_t e = word_end(s, n, i);
		const char *t = s + i;
		size_t tl = e - i;
		i = e;
		uint8_t ip[16];
		uint16_t port = 0;
		if (expect_helo) {
			expect_helo = 0;
			fi->helo_kw = t;
			fi->helo_kw_len = tl;
			continue;
		}
		if (expect_port) {
			expect_port = 0;
			if (port_parse(t, tl, &port) == 0 && fi->port == 0)
				fi->port = port;
			continue;
		}
		if (t[0] == '[') {
			if (literal_parse(t, tl, ip, &port) == 0) {
				fi->literal_in_comment = 1;
				if (!fi->has_ip) {
					fi->has_ip = 1;
					memcpy(fi->ip, ip, 16);
					if (port)
						fi->port = port;
					if (prev && looks_like_name(prev, prev_len)) {
						const char *at = memchr(prev, '@', prev_len);
						if (at) { /* Sendmail "ident@rdns" */
							prev_len -= (size_t)(at + 1 - prev);
							prev = at + 1;
						}
						fi->rdns = prev;
						fi->rdns_len = prev_len;
					}
				}
			}
			prev = NULL;
			continue;
		}
		if (span_iprefix(t, tl, "helo=")) {
			fi->helo_kv = t + 5;
			fi->helo_kv_len = tl - 5;
		} else if (span_iprefix(t, tl, "port=")) {
			if (port_parse(t + 5, tl - 5, &port) == 0)
				fi->port = port;
		} else if (span_ieq(t, tl, "helo") || span_ieq(t, tl, "ehlo")) {
			expect_helo = 1;
		} else if (span_ieq(t, tl, "port")) {
			expect_port = 1;
		} else if (bare_parse(t, tl, ip, &port) == 0) {
			fi->bare_in_comment = 1;
			if (!fi->has_ip) {
				fi->has_ip = 1;
				memcpy(fi->ip, ip, 16);
				if (port)
					fi->port = port;
			}
		}
		prev = t;
		prev_len = tl;
	}
}

struct parse_notes {
	int rdns_unverified; /* the name shown is not known to be forward-confirmed */
};

static void append_with(char *dst, size_t cap, const char *w, size_t n)
{
	size_t have = strlen(dst);
	if (have > 0 && have + 1 < cap) {
		dst[have++] = ' ';
		dst[have] = '\0';
	}
	if (have + 1 < cap)
		put(dst + have, cap - have, w, n);
}

static int hop_parse(const char *s, size_t n, struct sx_hop *out, struct parse_notes *notes)
{
	memset(out, 0, sizeof *out);
	memset(notes, 0, sizeof *notes);
	size_t semi = date_split(s, n);
	if (semi < n)
		out->time_ms = date_parse(s + semi + 1, n - semi - 1);

	struct item items[SX_RECEIVED_ITEMS_MAX];
	size_t count = tokenize(s, semi, items, SX_RECEIVED_ITEMS_MAX);

	enum clause cl = CL_NONE;
	int have_value = 0, with_closed = 0, recognised = 0, exim = 0, microsoft = 0;
	const char *from_w = NULL;
	size_t from_wl = 0;
	struct from_info fi;
	memset(&fi, 0, sizeof fi);
	int seen_from = 0, seen_by = 0;

	for (size_t k = 0; k < count; k++) {
		const char *t = s + items[k].off;
		size_t tl = items[k].len;
		if (items[k].kind == IT_COMMENT) {
			if (span_iprefix(t, tl, "exim "))
				exim = 1;
			if (span_iprefix(t, tl, "qmail ") && span_icontains(t, tl, "invoked"))
				recognised = 1;
			if (cl == CL_FROM)
				from_comment(t, tl, &fi);
			if (cl == CL_WITH)
				with_closed = 1;
			continue;
		}
		enum clause kw = keyword(t, tl);
		if (kw != CL_NONE) {
			if ((kw == CL_FROM && seen_from) || (kw == CL_BY && seen_by)) {
				cl = CL_NONE; /* a second from/by is not ours to read */
				continue;
			}
			cl = kw;
			have_value = 0;
			with_closed = 0;
			seen_from |= kw == CL_FROM;
			seen_by |= kw == CL_BY;
			continue;
		}
		if (cl == CL_FROM && !have_value) {
			from_w = t;
			from_wl = tl;
		} else if (cl == CL_BY && !have_value) {
			put_name(out->by, sizeof out->by, t, tl);
		} else if (cl == CL_WITH && !with_closed) {
			append_with(out->with, sizeof out->with, t, tl);
			if (span_ieq(t, tl, "microsoft"))
				microsoft = 1;
		}
		have_value = 1;
	}
	if (!seen_from && !seen_by && !recognised)
		return SX_EINVAL;

	/* Who is who in "from W (comments)": see the formats in received.h. */
	uint8_t wip[16];
	uint16_t wport = 0;
	int w_literal = from_w && from_wl > 0 && from_w[0] == '[' &&
			literal_parse(from_w, from_wl, wip, &wport) == 0;
	if (fi.has_ip) {
		out->has_ip = 1;
		memcpy(out->ip, fi.ip, 16);
		out->port = fi.port;
	} else if (w_literal) {
		/* Exim without a verified name: "[ip] (port=N helo=x)" */
		out->has_ip = 1;
		memcpy(out->ip, wip, 16);
		out->port = wport ? wport : fi.port;
	}
	const char *helo = NULL, *rdns = NULL;
	size_t helo_len = 0, rdns_len = 0;
	if (w_literal) {
		helo = fi.helo_kv ? fi.helo_kv : fi.helo_kw ? fi.helo_kw : from_w;
		helo_len = fi.helo_kv ? fi.helo_kv_len : fi.helo_kw ? fi.helo_kw_len : from_wl;
		if (fi.rdns) {
			rdns = fi.rdns;
			rdns_len = fi.rdns_len;
		}
	} else if (fi.helo_kw) {            /* qmail: W is the looked-up name */
		helo = fi.helo_kw;
		helo_len = fi.helo_kw_len;
		rdns = from_w;
		rdns_len = from_wl;
		/* tcpserver does not check the name against the address */
		notes->rdns_unverified = 1;
	} else if (fi.helo_kv) {            /* Exim: W is the verified name */
		helo = fi.helo_kv;
		helo_len = fi.helo_kv_len;
		rdns = from_w;
		rdns_len = from_wl;
	} else if (fi.rdns) {               /* Postfix, Sendmail, Gmail */
		helo = from_w;
		helo_len = from_wl;
		rdns = fi.rdns;
		rdns_len = fi.rdns_len;
	} else if (fi.literal_in_comment && exim && !microsoft) {
		/* Exim "rdns ([ip])": the name was verified and equals the HELO */
		helo = rdns = from_w;
		helo_len = rdns_len = from_wl;
	} else {
		/* Sendmail "helo ([ip])", Exchange "helo (ip)", qmail "name (ip)":
		 * only the client's own word is certain. */
		helo = from_w;
		helo_len = from_wl;
	}
	if (helo)
		put_name(out->from_helo, sizeof out->from_helo, helo, helo_len);
	if (rdns && !span_ieq(rdns, rdns_len, "unknown"))
		put_name(out->from_rdns, sizeof out->from_rdns, rdns, rdns_len);
	notes->rdns_unverified |= fi.may_be_forged;
	return 0;
}

int sx_received_parse(const uint8_t *value, size_t n, struct sx_hop *out)
{
	struct parse_notes notes;
	return hop_parse((const char *)value, n, out, &notes);
}

/* ---- the chain ---- */

/* Appends "; "-separated notes, marking a cut with "...". */
static void note(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(char *dst, size_t cap, const char *fmt, ...)
{
	size_t have = strlen(dst);
	if (have + 4 >= cap)
		return;
	if (have > 0) {
		memcpy(dst + have, "; ", 3);
		have += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(dst + have, cap - have, fmt, ap);
	va_end(ap);
	if (w >= 0 && (size_t)w >= cap - have)
		memcpy(dst + cap - 4, "...", 4);
}

static int name_eq(const char *a, const char *b)
{
	return a[0] && span_ieq(a, strlen(a), b);
}

/* "mx1" and "mx1.example.net" name the same host. */
static int name_same_host(const char *a, const char *b)
{
	if (!a[0] || !b[0])
		return 0;
	if (name_eq(a, b))
		return 1;
	size_t la = strlen(a), lb = strlen(b);
	if (!strchr(a, '.') && lb > la && b[la] == '.' && span_ieq(b, la, a))
		return 1;
	if (!strchr(b, '.') && la > lb && a[lb] == '.' && span_ieq(a, lb, b))
		return 1;
	return 0;
}

/* The registered part of a name, crudely: the last two labels, or three
 * under a two-letter country code with a short second level (co.jp, ne.jp,
 * co.uk). Enough to tell two organisations apart. */
static const char *org_domain(const char *name)
{
	/* starts[k]: where the k-th label from the end begins */
	const char *starts[4] = { NULL, NULL, NULL, NULL };
	int nl = 0;
	size_t n = strlen(name);
	for (size_t i = n; i > 0 && nl < 4; i--)
		if (name[i - 1] == '.')
			starts[nl++] = name + i;
	if (nl < 4)
		starts[nl++] = name;
	if (nl <= 2)
		return name;
	size_t tld = (size_t)(name + n - starts[0]);
	size_t sld = (size_t)(starts[0] - starts[1] - 1);
	if (tld == 2 && sld <= 3)
		return starts[2];
	return starts[1];
}

static int same_org(const char *a, const char *b)
{
	if (!a[0] || !b[0] || !strchr(a, '.') || !strchr(b, '.'))
		return 0;
	return name_eq(org_domain(a), org_domain(b));
}

/* Whether hop below's "by" fits hop above's "from". Returns 1 when it does or
 * when there is nothing to compare. */
static int by_matches_from(const struct sx_hop *below, const struct sx_hop *above)
{
	if (!below->by[0])
		return 1;
	uint8_t bip[16];
	uint16_t bport;
	int by_is_ip = literal_parse(below->by, strlen(below->by), bip, &bport) == 0 ||
		       ip_parse(below->by, strlen(below->by), bip) == 0;
	if (by_is_ip)
		return !above->has_ip || memcmp(bip, above->ip, 16) == 0;
	const char *names[2] = { above->from_helo, above->from_rdns };
	int any = 0;
	for (int k = 0; k < 2; k++) {
		const char *nm = names[k];
		if (!nm[0] || nm[0] == '[')
			continue; /* a literal HELO names no host */
		any = 1;
		if (name_same_host(below->by, nm) || same_org(below->by, nm))
			return 1;
	}
	return !any;
}

static int host_entry_match(const char *entry, const char *name, int as_suffix)
{
	if (!name[0] || !entry || !entry[0])
		return 0;
	size_t le = strlen(entry), ln = strlen(name);
	if (entry[0] == '.') {
		if (!as_suffix)
			return 0;
		if (ln == le - 1 && span_ieq(name, ln, entry + 1))
			return 1;
		return ln > le && span_ieq(name + ln - le, le, entry);
	}
	return span_ieq(name, ln, entry);
}

/* The entry naming the hop's receiving host, or NULL. */
static const char *trusted_by(const struct sx_relays *r, const struct sx_hop *h)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->nhosts; i++)
		if (host_entry_match(r->hosts[i], h->by, 1))
			return r->hosts[i];
	return NULL;
}

/*
 * Whether the hop's client is one of the trusted relays: its address lies in
 * a trusted prefix, or the name its receiver looked up is a trusted host or
 * under a ".suffix" entry, unless that name is unverified (Sendmail's "may be
 * forged", qmail's unchecked name). The HELO name is the client's own claim
 * and is never trusted.
 */
static int trusted_client(const struct sx_relays *r, const struct sx_hop *h, int rdns_unverified,
			  char *why, size_t whylen)
{
	if (!r)
		return 0;
	for (size_t i = 0; i < r->nprefixes; i++) {
		if (sx_prefix_contains(&r->prefixes[i], h->ip)) {
			char t[SX_PREFIX_TEXT];
			sx_prefix_format(&r->prefixes[i], t, sizeof t);
			snprintf(why, whylen, "prefix %s", t);
			return 1;
		}
	}
	if (rdns_unverified)
		return 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		if (host_entry_match(r->hosts[i], h->from_rdns, 1)) {
			snprintf(why, whylen, "host %s", r->hosts[i]);
			return 1;
		}
	}
	return 0;
}

int sx_received_source(const struct sx_mail *m, int part, const struct sx_relays *relays,
		       struct sx_source *out)
{
	memset(out, 0, sizeof *out);
	if (!m || part < 0 || (unsigned)part >= m->nparts)
		return 0;
	struct sx_buf v;
	sx_buf_init(&v, SX_RECEIVED_VALUE_MAX);
	struct sx_hop hop, above;
	int above_ok = 0;
	unsigned iter = 0, i = 0;
	const struct sx_hfield *f;
	int rc = 0;
	for (; (f = sx_mail_field(m, part, "Received", &iter)) != NULL; i++) {
		sx_buf_reset(&v, SX_RECEIVED_VALUE_MAX);
		int urc = sx_mail_unfold(m, f, &v);
		if (urc == SX_ENOMEM) {
			rc = SX_ENOMEM;
			break;
		}
		struct parse_notes pn;
		int ok = urc == 0 &&
			 hop_parse((const char *)sx_buf_head(&v), sx_buf_used(&v), &hop, &pn) == 0;
		char ipt[48] = "";
		if (ok && hop.has_ip)
			ip_format(hop.ip, ipt, sizeof ipt);

		if (out->found) {
			/* Below the source everything was written by the sender's
			 * side: look for lines that cannot be true. */
			if (!ok) {
				if (!out->forged)
					note(out->forged_evidence, sizeof out->forged_evidence,
					     "hop %u below the source is not a Received line", i);
				out->forged = 1;
				above_ok = 0;
				continue;
			}
			if (above_ok && !by_matches_from(&hop, &above)) {
				const char *name = above.from_rdns[0] ? above.from_rdns
								      : above.from_helo;
				note(out->forged_evidence, sizeof out->forged_evidence,
				     "hop %u by %s does not match hop %u from %s", i, hop.by,
				     i - 1, name);
				out->forged = 1;
			}
			if (above_ok && hop.time_ms && above.time_ms && hop.has_ip &&
			    !sx_ip_private(hop.ip) &&
			    hop.time_ms > above.time_ms + SX_RECEIVED_SKEW_MS) {
				note(out->forged_evidence, sizeof out->forged_evidence,
				     "hop %u (%s) dated %lld min after hop %u", i, ipt,
				     (long long)((hop.time_ms - above.time_ms) / 60000), i - 1);
				out->forged = 1;
			}
			above = hop;
			above_ok = 1;
			continue;
		}
		if (!ok) {
			note(out->evidence, sizeof out->evidence, "hop %u unparsable, skipped", i);
			continue;
		}
		if (!hop.has_ip) {
			note(out->evidence, sizeof out->evidence, "hop %u without client address",
			     i);
			continue;
		}
		if (sx_ip_private(hop.ip)) {
			note(out->evidence, sizeof out->evidence, "hop %u %s private", i, ipt);
			continue;
		}
		char why[SX_RELAY_HOST_MAX + 16];
		if (trusted_client(relays, &hop, pn.rdns_unverified, why, sizeof why)) {
			note(out->evidence, sizeof out->evidence, "hop %u %s trusted relay (%s)",
			     i, ipt, why);
			continue;
		}
		out->found = 1;
		out->hop = i;
		memcpy(out->ip, hop.ip, 16);
		memcpy(out->ip_text, ipt, sizeof out->ip_text);
		out->port = hop.port;
		const char *tb = trusted_by(relays, &hop);
		note(out->evidence, sizeof out->evidence, "source hop %u %s by %s%s", i, ipt,
		     hop.by[0] ? hop.by : "(no by)", tb ? " (trusted relay)" : "");
		above = hop;
		above_ok = 1;
	}
	out->hops = i;
	if (rc == 0 && !out->found)
		note(out->evidence, sizeof out->evidence,
		     i ? "no public untrusted client in %u hops" : "no Received field", i);
	sx_buf_finish(&v);
	return rc;
}
