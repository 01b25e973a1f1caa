#include "analyze_label.h"

#include <stdio.h>
#include <string.h>

#include "analyze_text.h"
#include "analyze_words.h"

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z');
}

/* The word lists, in the order sx_label_words_init gives them to the set. */
enum { LIST_AD, LIST_NAME, LIST_OPTOUT, LIST_CONTACT, LIST_PREFECTURE, LIST_STREET, LIST_MARK };

struct span {
	size_t s, e;
};

struct points {
	struct span url[SX_LABEL_POINTS_MAX];
	struct span mail[SX_LABEL_POINTS_MAX];
	struct span phone[SX_LABEL_POINTS_MAX];
	size_t nurl, nmail, nphone;
};

static int url_char(uint8_t c)
{
	/* A switch, not strchr: this runs for every byte of every URL. */
	switch (c) {
	case '<': case '>': case '"': case '\'': case '(': case ')': case '[': case ']':
	case '{': case '}': case '|': case '\\': case '^': case '`':
		return 0;
	default:
		return c > 0x20 && c < 0x7f;
	}
}

/* The next http(s) URL at or after from: also the "ttp://" spelling spam
 * uses to slip past link filters. Returns 0 and its span, or -1. */
static int next_url(const uint8_t *s, size_t n, size_t from, struct span *u)
{
	/* Found from its "://" (memmem is fast), then checked for the "ttp" or
	 * "ttps" before it: the earliest "://" with one gives the earliest URL. */
	for (size_t c = from; c + 3 <= n; c++) {
		const uint8_t *q = memmem(s + c, n - c, "://", 3);
		if (!q)
			break;
		c = (size_t)(q - s);
		size_t p;
		if (c >= from + 4 && lower(s[c - 4]) == 't' && lower(s[c - 3]) == 't' &&
		    lower(s[c - 2]) == 'p' && lower(s[c - 1]) == 's')
			p = c - 4;
		else if (c >= from + 3 && lower(s[c - 3]) == 't' && lower(s[c - 2]) == 't' &&
			 lower(s[c - 1]) == 'p')
			p = c - 3;
		else
			continue;
		size_t e = c + 3;
		size_t host = e;
		while (e < n && url_char(s[e]))
			e++;
		if (e > host) {
			u->s = p > 0 && lower(s[p - 1]) == 'h' ? p - 1 : p;
			u->e = e;
			return 0;
		}
	}
	return -1;
}

static void url_host(const uint8_t *s, const struct span *u, char *out, size_t outlen)
{
	const uint8_t *p = memmem(s + u->s, u->e - u->s, "://", 3);
	size_t st = p ? (size_t)(p - s) + 3 : u->s;
	size_t e = st;
	while (e < u->e && s[e] != '/' && s[e] != '?' && s[e] != '#' && s[e] != ':')
		e++;
	snprintf(out, outlen, "%.*s", (int)(e - st), (const char *)s + st);
}

static int local_char(uint8_t c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int domain_char(uint8_t c)
{
	return is_alnum(c) || c == '.' || c == '-';
}

/* Mail addresses: "@" or the full-width "＠" Japanese spam writes to
 * dodge harvesters. Addresses at .invalid (redacted recipients) are not a
 * sender's. */
static size_t next_of(const uint8_t *s, size_t n, size_t from, const char *pat, size_t l)
{
	const uint8_t *q = memmem(s + from, n - from, pat, l);
	return q ? (size_t)(q - s) : n;
}

static void find_addresses(const uint8_t *s, size_t n, struct points *pt)
{
	/* The next "@" and "＠" at or after i, found with memmem rather than
	 * byte by byte, and looked for again only once i has passed them. */
	size_t at = next_of(s, n, 0, "@", 1), fw = next_of(s, n, 0, "\xef\xbc\xa0", 3);
	for (size_t i = 0; i < n && pt->nmail < SX_LABEL_POINTS_MAX; i++) {
		if (at < i)
			at = next_of(s, n, i, "@", 1);
		if (fw < i)
			fw = next_of(s, n, i, "\xef\xbc\xa0", 3);
		i = at < fw ? at : fw;
		if (i >= n)
			break;
		size_t at_len = 0;
		if (s[i] == '@')
			at_len = 1;
		else if (i + 3 <= n && memcmp(s + i, "\xef\xbc\xa0", 3) == 0)
			at_len = 3;
		if (!at_len)
			continue;
		size_t a = i;
		while (a > 0 && local_char(s[a - 1]))
			a--;
		size_t e = i + at_len;
		while (e < n && domain_char(s[e]))
			e++;
		while (e > i + at_len && s[e - 1] == '.')
			e--;
		const uint8_t *dom = s + i + at_len;
		size_t dl = e - i - at_len;
		const uint8_t *dot = dl ? memrchr(dom, '.', dl) : NULL;
		if (a == i || !dot || dot == dom)
			continue;
		size_t tld = (size_t)(s + e - dot - 1);
		int alpha = tld >= 2;
		for (const uint8_t *c = dot + 1; c < s + e; c++)
			alpha &= lower(*c) >= 'a' && lower(*c) <= 'z';
		if (!alpha || (dl >= 8 && sx_words_find_one(dom, dl, dl - 8, ".invalid") < dl))
			continue;
		pt->mail[pt->nmail++] = (struct span){ a, e };
		i = e - 1;
	}
}

static int phone_digit(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 0xff10 && c <= 0xff19);
}

static int phone_sep(uint32_t c)
{
	return c == '-' || c == '(' || c == ')' || c == ' ' || (c >= 0x2010 && c <= 0x2015) ||
	       c == 0x2212 || c == 0xff0d || c == 0x30fc || c == 0xff08 || c == 0xff09;
}

/* Phone numbers: 10 to 13 digits (ASCII or full-width) starting with 0 or
 * after "+", in groups separated by hyphens, dashes, brackets or blanks. */
static void find_phones(const uint8_t *s, size_t n, struct points *pt)
{
	size_t i = 0;
	while (i < n && pt->nphone < SX_LABEL_POINTS_MAX) {
		/* Only an ASCII digit or "+", or a full-width one (EF BC xx), can
		 * start a number: other bytes are stepped over one by one, which
		 * reaches every character start decoding would. */
		if (s[i] < 0x80 ? (s[i] < '0' || s[i] > '9') && s[i] != '+' : s[i] != 0xef) {
			i++;
			continue;
		}
		size_t st = i;
		uint32_t c = sx_analyze_text_next(s, n, &i);
		int plus = c == '+' || c == 0xff0b;
		if (!plus && !phone_digit(c))
			continue;
		if (!plus && st > 0 && (is_alnum(s[st - 1]) || s[st - 1] == '.'))
			continue; /* inside a longer token */
		unsigned digits = plus ? 0 : 1, seps = 0, run = 0;
		uint32_t first = plus ? 0 : c, prev = c;
		size_t e = i, j = i;
		while (j < n) {
			size_t k = j;
			uint32_t d = sx_analyze_text_next(s, n, &k);
			if (phone_digit(d)) {
				if (!digits)
					first = d;
				digits++;
				run = 0;
				e = k;
			} else if (phone_sep(d) && run < 2 && !(d == ' ' && prev == ' ')) {
				seps++;
				run++;
			} else {
				break;
			}
			prev = d;
			j = k;
		}
		int zero = first == '0' || first == 0xff10;
		if (digits >= 10 && digits <= 13 && (plus || (zero && seps > 0)))
			pt->phone[pt->nphone++] = (struct span){ st, e };
		i = e > i ? e : i;
	}
}

static void find_points(const uint8_t *s, size_t n, struct points *pt)
{
	pt->nurl = pt->nmail = pt->nphone = 0;
	struct span u;
	for (size_t i = 0; pt->nurl < SX_LABEL_POINTS_MAX && next_url(s, n, i, &u) == 0; i = u.e)
		pt->url[pt->nurl++] = u;
	find_addresses(s, n, pt);
	find_phones(s, n, pt);
}

static size_t gap(size_t a, size_t b, const struct span *sp)
{
	if (b <= sp->s)
		return sp->s - b;
	if (sp->e <= a)
		return a - sp->e;
	return 0;
}

/* The nearest point of the list within SX_LABEL_NEAR of [a, b), or NULL. */
static const struct span *near(const struct span *list, size_t count, size_t a, size_t b)
{
	const struct span *best = NULL;
	size_t bg = SX_LABEL_NEAR + 1;
	for (size_t i = 0; i < count; i++) {
		size_t g = gap(a, b, &list[i]);
		if (g < bg) {
			bg = g;
			best = &list[i];
		}
	}
	return best;
}

static int inside(const struct span *list, size_t count, size_t pos)
{
	for (size_t i = 0; i < count; i++)
		if (pos >= list[i].s && pos < list[i].e)
			return 1;
	return 0;
}

/* A keyword occurrence outside URLs and addresses ("/unsubscribe" in a link
 * is not a statement to the reader). */
static size_t find_text_word(struct sx_wordhits *h, unsigned list, unsigned k, size_t from,
			     const struct points *pt)
{
	size_t p = from;
	while ((p = sx_words_find(h, list, k, p)) < h->n) {
		if (!inside(pt->url, pt->nurl, p) && !inside(pt->mail, pt->nmail, p))
			return p;
		p++;
	}
	return h->n;
}

static void copy_span(char *out, size_t outlen, const uint8_t *s, const struct span *sp)
{
	size_t l = sp->e - sp->s;
	if (l >= outlen)
		l = outlen - 1;
	/* Never cut a UTF-8 sequence in half. */
	while (l > 0 && sp->s + l < sp->e && (s[sp->s + l] & 0xc0) == 0x80)
		l--;
	memcpy(out, s + sp->s, l);
	out[l] = '\0';
}

static const char *const ad_words[] = {
	"無料", "登録", "出会い", "キャンペーン", "今すぐ", "限定", "特典", "割引", "激安",
	"副業", "稼げる", "高収入", "当選", "プレゼント", "セール", "格安", "融資", "即日",
	"クーポン", "free", "offer", "click", "unsubscribe", "viagra", "cialis", "casino",
	"loan", "loans", "discount", "sale", "winner", "prize", "bonus", "cheap", "buy now",
	"limited time", "act now", "promotion", "% off",
};

/* The word of list occurring first in h's text (on a tie the one listed
 * first) into out. Returns 1, or 0 when none occurs. */
static int first_word(struct sx_wordhits *h, unsigned list, const char *const *words,
		      size_t count, char *out, size_t outlen)
{
	size_t n = h->n, best = n, which = 0;
	for (size_t k = 0; k < count; k++) {
		size_t p = sx_words_find(h, list, (unsigned)k, 0);
		if (p < best) {
			best = p;
			which = k;
		}
	}
	if (best >= n)
		return 0;
	snprintf(out, outlen, "%s", words[which]);
	return 1;
}

void sx_label_advertising(struct sx_label_words *w, struct sx_ad *out)
{
	const uint8_t *subject = w->subject.s, *body = w->body.s;
	size_t sn = w->subject.n, bn = w->body.n;
	memset(out, 0, sizeof *out);
	struct span u;
	if (next_url(subject, sn, 0, &u) == 0) {
		out->url = 1;
		out->url_where = "Subject";
		url_host(subject, &u, out->url_host, sizeof out->url_host);
	} else if (next_url(body, bn, 0, &u) == 0) {
		out->url = 1;
		out->url_where = "body";
		url_host(body, &u, out->url_host, sizeof out->url_host);
	}
	const size_t nw = sizeof ad_words / sizeof ad_words[0];
	if (first_word(&w->subject, LIST_AD, ad_words, nw, out->keyword_text,
		       sizeof out->keyword_text)) {
		out->keyword = 1;
		out->keyword_where = "Subject";
	} else if (first_word(&w->body, LIST_AD, ad_words, nw, out->keyword_text,
			      sizeof out->keyword_text)) {
		out->keyword = 1;
		out->keyword_where = "body";
	}
}

static const char *const name_words[] = {
	"送信者", "運営", "発行者", "配信元", "販売元", "事業者", "会社名", "株式会社", "㈱",
	"(株)", "（株）", "有限会社", "合同会社", "Inc.", "Ltd.", "LLC", "Co.,", "Corp.",
	"GmbH", "K.K.",
};

static const char *const optout_words[] = {
	"配信停止", "配信解除", "受信拒否", "登録解除", "購読解除", "配信不要", "配信を停止",
	"受信を拒否", "unsubscribe", "opt-out", "opt out", "optout", "remove",
};

static const char *const contact_words[] = {
	"苦情", "問い合わせ", "問合せ", "問い合せ", "問合わせ", "相談窓口", "連絡先",
	"contact", "inquiries", "inquiry", "enquiries", "enquiry", "complaints",
};

static const char *const prefectures[] = {
	"北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県",
	"栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県",
	"石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県",
	"滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
	"岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
	"佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
};

static const char *const street_words[] = {
	"street", "st.", "avenue", "ave.", "road", "rd.", "boulevard", "blvd", "suite",
	"floor", "building", "bldg", "lane", "drive", "-ku", "-shi", "chome",
};

static const char *const mark_words[] = { "〒" };

#define COUNT(a) (sizeof a / sizeof a[0])

int sx_label_words_init(struct sx_label_words *w, const uint8_t *subject, size_t sn,
			const uint8_t *body, size_t bn)
{
	static const char *const *const lists[] = {
		ad_words, name_words, optout_words, contact_words, prefectures, street_words,
		mark_words,
	};
	static const size_t counts[] = {
		COUNT(ad_words), COUNT(name_words), COUNT(optout_words), COUNT(contact_words),
		COUNT(prefectures), COUNT(street_words), COUNT(mark_words),
	};
	int rc = sx_words_build(&w->set, lists, counts, COUNT(lists));
	if (rc < 0)
		return rc;
	sx_words_scan(&w->subject, &w->set, subject, sn);
	sx_words_scan(&w->body, &w->set, body, bn);
	return 0;
}

/* NNN-NNNN after "〒" (ASCII or full-width digits, any dash). */
static int postal_mark(struct sx_wordhits *h, char *out, size_t outlen)
{
	const uint8_t *s = h->s;
	size_t n = h->n, p = 0;
	while ((p = sx_words_find(h, LIST_MARK, 0, p)) < n) {
		size_t i = p + 3;
		unsigned digits = 0;
		char code[16];
		size_t cl = 0;
		while (i < n && digits < 7) {
			size_t k = i;
			uint32_t c = sx_analyze_text_next(s, n, &k);
			if (phone_digit(c)) {
				code[cl++] = (char)(c >= 0xff10 ? '0' + (c - 0xff10) : c);
				digits++;
				if (digits == 3)
					code[cl++] = '-';
			} else if (!(c == ' ' || c == 0x3000 || (phone_sep(c) && digits == 3))) {
				break;
			}
			i = k;
		}
		if (digits == 7) {
			code[cl] = '\0';
			snprintf(out, outlen, "〒%s", code);
			return 1;
		}
		p++;
	}
	return 0;
}

/* A prefecture followed closely by a city, ward, town, village or county. */
static int postal_prefecture(struct sx_wordhits *h, char *out, size_t outlen)
{
	const uint8_t *s = h->s;
	size_t n = h->n;
	static const char *const city[] = { "市", "区", "町", "村", "郡" };
	for (size_t k = 0; k < sizeof prefectures / sizeof prefectures[0]; k++) {
		size_t p = 0;
		while ((p = sx_words_find(h, LIST_PREFECTURE, (unsigned)k, p)) < n) {
			size_t i = p + strlen(prefectures[k]);
			for (unsigned cp = 0; cp < 12 && i < n; cp++) {
				for (size_t c = 0; c < sizeof city / sizeof city[0]; c++) {
					if (i + 3 <= n && memcmp(s + i, city[c], 3) == 0) {
						struct span sp = { p, i + 3 };
						copy_span(out, outlen, s, &sp);
						return 1;
					}
				}
				sx_analyze_text_next(s, n, &i);
			}
			p++;
		}
	}
	return 0;
}

/* "123 Example Street, Springfield, ST 12345": a street word with a number
 * before it on the line and a postal code (NNNNN, NNNNN-NNNN, NNN-NNNN)
 * after it. */
static int postal_english(struct sx_wordhits *h, char *out, size_t outlen)
{
	const uint8_t *s = h->s;
	size_t n = h->n;
	for (size_t k = 0; k < sizeof street_words / sizeof street_words[0]; k++) {
		size_t p = 0;
		while ((p = sx_words_find(h, LIST_STREET, (unsigned)k, p)) < n) {
			int number = 0;
			for (size_t b = p; b > 0 && p - b < 40 && s[b - 1] != '\n'; b--)
				number |= s[b - 1] >= '0' && s[b - 1] <= '9';
			size_t end = p + 120 < n ? p + 120 : n;
			for (size_t i = p; number && i < end; i++) {
				/* a code stands alone, not inside "555-010-0199" */
				if (s[i] < '0' || s[i] > '9' ||
				    (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '-')))
					continue;
				size_t d = i;
				while (d < n && s[d] >= '0' && s[d] <= '9')
					d++;
				size_t len = d - i, e = d;
				/* ZIP+4 "12345-6789" and Japanese "150-0001" */
				int four = (len == 5 || len == 3) && d + 5 <= n && s[d] == '-';
				for (size_t q = d + 1; four && q < d + 5; q++)
					four = s[q] >= '0' && s[q] <= '9';
				if (four)
					e = d + 5;
				int ok = len == 5 || four;
				if (ok && (e >= n || (!is_alnum(s[e]) && s[e] != '-'))) {
					struct span sp = { i, e };
					char code[16];
					copy_span(code, sizeof code, s, &sp);
					snprintf(out, outlen, "%s ... %s", street_words[k], code);
					return 1;
				}
			}
			p++;
		}
	}
	return 0;
}

void sx_label_scan(struct sx_label_words *w, struct sx_labels *out)
{
	struct sx_wordhits *h = &w->body;
	const uint8_t *s = h->s;
	size_t n = h->n;
	memset(out, 0, sizeof *out);
	struct points pt;
	find_points(s, n, &pt);
	out->urls = (unsigned)pt.nurl;
	out->addresses = (unsigned)pt.nmail;
	out->phones = (unsigned)pt.nphone;

	for (size_t k = 0; k < sizeof name_words / sizeof name_words[0] && !out->name[0]; k++)
		if (find_text_word(h, LIST_NAME, (unsigned)k, 0, &pt) < n)
			snprintf(out->name, sizeof out->name, "%s", name_words[k]);

	for (size_t k = 0; k < sizeof optout_words / sizeof optout_words[0] && !out->optout; k++) {
		const char *wd = optout_words[k];
		size_t p = 0;
		while (!out->optout && (p = find_text_word(h, LIST_OPTOUT, (unsigned)k, p, &pt)) < n) {
			if (!out->optout_stmt[0])
				snprintf(out->optout_stmt, sizeof out->optout_stmt, "%s", wd);
			const struct span *u = near(pt.url, pt.nurl, p, p + strlen(wd));
			const struct span *a = near(pt.mail, pt.nmail, p, p + strlen(wd));
			const struct span *best = !u ? a : !a ? u
				: gap(p, p + strlen(wd), a) < gap(p, p + strlen(wd), u) ? a : u;
			if (best) {
				out->optout = 1;
				snprintf(out->optout_stmt, sizeof out->optout_stmt, "%s", wd);
				copy_span(out->optout_where, sizeof out->optout_where, s, best);
			}
			p++;
		}
	}

	if (!postal_mark(h, out->postal, sizeof out->postal) &&
	    !postal_prefecture(h, out->postal, sizeof out->postal))
		postal_english(h, out->postal, sizeof out->postal);

	for (size_t k = 0; k < sizeof contact_words / sizeof contact_words[0] && !out->contact;
	     k++) {
		const char *wd = contact_words[k];
		size_t p = 0;
		while (!out->contact &&
		       (p = find_text_word(h, LIST_CONTACT, (unsigned)k, p, &pt)) < n) {
			if (!out->contact_word[0])
				snprintf(out->contact_word, sizeof out->contact_word, "%s", wd);
			size_t e = p + strlen(wd);
			if (near(pt.url, pt.nurl, p, e) || near(pt.mail, pt.nmail, p, e) ||
			    near(pt.phone, pt.nphone, p, e)) {
				out->contact = 1;
				snprintf(out->contact_word, sizeof out->contact_word, "%s", wd);
			}
			p++;
		}
	}
}
