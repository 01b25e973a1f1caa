/*
 * ingest.c: ingest-bench, reports per second through the intake pipeline.
 *
 *   ingest-bench --pure N [--runs R] [--stages K] [--db PATH]
 *   ingest-bench --durable N --db PATH [--batch B] [--jobs J] [--submitter NAME]
 *   ingest-bench --sqlite-only N --db PATH [--batch B] [--row-size BYTES]
 *
 * It generates, with a fixed seed, an in-memory corpus of N realistic
 * reports of 3 to 10 KB: public reports (a reporter with a Japanese name
 * forwarding the spam to the center, attached as message/rfc822 or inline
 * after a Gmail, Outlook or mobile forward marker) and monitor captures (the
 * spam itself, to a trap address). The spam is UTF-8, ISO-2022-JP or
 * Shift_JIS (iconv), text/plain, text/html or multipart/alternative, 7bit,
 * 8bit, quoted-printable or base64, with 3 to 6 Received hops from
 * documentation addresses, Authentication-Results, List-Unsubscribe and
 * tracking URLs that carry the recipient's address (percent-encoded, in
 * base64, sometimes encoded twice).
 *
 * --pure runs sx_pipeline_run over the corpus on this thread; --stages K then
 * times a replica of its steps one by one over the first K reports. --durable
 * runs sx_intake_submit into the store with a group commit every B reports;
 * with --jobs J > 1 the pipeline runs on J threads (sx_intake_pool, as
 * sprexctl ingest runs it) and this thread stores in order. --sqlite-only adds
 * pre-built rows through sx_store_report_add, the store's ceiling.
 *
 * The generator knows every identifier it put in a report. For a sample of
 * outputs (--verify K) it runs sx_leak_check with those identifiers and a
 * plain search for the address in its ASCII forms. It fails (exit 3) when a
 * sampled ready report still holds one, or when the pipeline quarantines or
 * refuses more than --max-quarantine percent of the corpus: a corpus the
 * redactor cannot handle measures something else.
 *
 * Exit status: 0 measured, checks passed; 1 could not measure; 2 usage;
 * 3 measured, but a check failed (the figures are printed all the same).
 */
#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "codec.h"
#include "err.h"
#include "server/intake.h"
#include "server/intake_pool.h"
#include "leak.h"
#include "lpm.h"
#include "netaddr.h"
#include "pipeline.h"
#include "server/store.h"
#include "tlsctx.h"

#define ERR_MAX 512
#define DEFAULT_SEED 20261128u
#define DEFAULT_BATCH 100u
#define DEFAULT_VERIFY 1000u
#define DEFAULT_MAX_QUARANTINE 3.0
#define DEFAULT_ROW_SIZE 6144u
/* Sizes of the generated reports, bytes. */
#define REPORT_MIN 3000u
#define REPORT_MAX 10240u
/* Identifiers the generator records per report. */
#define TRUTH_MAX 6
/* Distinct quarantine / refusal reasons tallied. */
#define REASONS_MAX 64
/* The center's year (the issue's projection). */
#define YEAR_REPORTS 6000000.0

/* The ISP table pure mode uses without --db; bench/ingest.sh registers the
 * same prefixes with sprexctl, so both modes route alike. */
static const struct {
	const char *prefix;
	int64_t member;
} builtin_isps[] = {
	{ "203.0.113.0/25", 1 },
	{ "2001:db8:a::/48", 1 },
	{ "198.51.100.0/24", 2 },
	{ "203.0.113.128/26", 2 },
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("ingest-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ------------------------------------------------------------ strings */

struct sb {
	char *p;
	size_t n, cap;
};

static void sb_need(struct sb *b, size_t k)
{
	if (b->n + k + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->n + k + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL)
		die("out of memory");
	b->p = p;
	b->cap = cap;
}

static void sb_putn(struct sb *b, const void *p, size_t k)
{
	sb_need(b, k);
	memcpy(b->p + b->n, p, k);
	b->n += k;
	b->p[b->n] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0)
		die("vsnprintf failed");
	sb_need(b, (size_t)k);
	va_start(ap, fmt);
	vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)k;
}

static void sb_clear(struct sb *b)
{
	b->n = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static const char *sb_str(const struct sb *b)
{
	return b->p ? b->p : "";
}

/* ---------------------------------------------------------------- rng */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned below(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static int chance(struct rng *r, unsigned pct)
{
	return below(r, 100) < pct;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, a) ((a)[below((r), NELEM(a))])

/* ----------------------------------------------------------- encodings */

enum cs { CS_UTF8, CS_JIS, CS_SJIS, CS_ASCII };
static const char *const cs_label[] = { "UTF-8", "ISO-2022-JP", "Shift_JIS", "us-ascii" };
static const char *const cs_short[] = { "utf-8", "iso-2022-jp", "shift_jis", "ascii" };
static iconv_t cd_jis = (iconv_t)-1, cd_sjis = (iconv_t)-1;

static void iconv_setup(void)
{
	cd_jis = iconv_open("ISO-2022-JP", "UTF-8");
	/* Shift_JIS as Japanese mail writes it: Microsoft's CP932, which is
	 * also how sprex reads the label. */
	cd_sjis = iconv_open("CP932", "UTF-8");
	if (cd_jis == (iconv_t)-1 || cd_sjis == (iconv_t)-1)
		die("iconv_open: %s", strerror(errno));
}

/* Appends UTF-8 text u converted to cs; every character must convert. */
static void to_cs(enum cs cs, const char *u, size_t n, struct sb *out)
{
	if (cs == CS_UTF8 || cs == CS_ASCII) {
		sb_putn(out, u, n);
		return;
	}
	iconv_t cd = cs == CS_JIS ? cd_jis : cd_sjis;
	iconv(cd, NULL, NULL, NULL, NULL);
	char *in = (char *)u;
	size_t inleft = n;
	int flushed = 0;
	for (;;) {
		sb_need(out, inleft * 2 + 16);
		char *o = out->p + out->n;
		size_t oleft = out->cap - out->n - 1;
		size_t rc = flushed ? 0 : iconv(cd, &in, &inleft, &o, &oleft);
		if (rc != (size_t)-1 && !flushed) {
			/* Back to ASCII at the end (ISO-2022-JP's ESC ( B). */
			rc = iconv(cd, NULL, NULL, &o, &oleft);
			flushed = rc != (size_t)-1;
		}
		out->n = (size_t)(o - out->p);
		out->p[out->n] = '\0';
		if (flushed)
			return;
		if (errno != E2BIG)
			die("iconv to %s cannot convert \"%.30s\": %s", cs_label[cs], in,
			    strerror(errno));
	}
}

static const char b64c[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of p with CRLF every line characters (0: one line); url: the
 * URL-safe alphabet without padding. */
static void b64(const void *pv, size_t n, size_t line, int url, struct sb *out)
{
	const uint8_t *p = pv;
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4];
		for (int k = 0; k < 4; k++) {
			char c = b64c[(v >> (18 - 6 * k)) & 63];
			if (url && c == '+')
				c = '-';
			else if (url && c == '/')
				c = '_';
			q[k] = c;
		}
		size_t keep = 4;
		if (i + 1 >= n)
			keep = 2;
		else if (i + 2 >= n)
			keep = 3;
		if (!url)
			for (size_t k = keep; k < 4; k++)
				q[k] = '=';
		size_t w = url ? keep : 4;
		if (line && col + w > line) {
			sb_puts(out, "\r\n");
			col = 0;
		}
		sb_putn(out, q, w);
		col += w;
	}
	if (line)
		sb_puts(out, "\r\n");
}

/* Quoted-printable, soft breaks at 76, line ends as CRLF. */
static void qp(const void *pv, size_t n, struct sb *out)
{
	const uint8_t *p = pv;
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
			i++, c = '\n';
		if (c == '\n') {
			sb_puts(out, "\r\n");
			col = 0;
			continue;
		}
		int end = i + 1 == n || p[i + 1] == '\r' || p[i + 1] == '\n';
		int lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !end);
		size_t w = lit ? 1 : 3;
		if (col + w > 75) {
			sb_puts(out, "=\r\n");
			col = 0;
		}
		if (lit)
			sb_putc(out, (char)c);
		else
			sb_printf(out, "=%02X", c);
		col += w;
	}
}

static int is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Length of the UTF-8 sequence that starts with c. */
static size_t u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* RFC 2047 encoded-words for UTF-8 text u in charset cs, B or Q, words of
 * at most 10 characters, folded with CRLF SP. ASCII text stays as it is. */
static void ew(enum cs cs, char enc, const char *u, struct sb *out)
{
	if (is_ascii(u)) {
		sb_puts(out, u);
		return;
	}
	if (cs == CS_ASCII)
		cs = CS_UTF8;
	struct sb chunk = { 0 };
	int first = 1;
	for (const char *s = u; *s;) {
		const char *e = s;
		for (int k = 0; k < (enc == 'B' ? 10 : 6) && *e; k++)
			e += u8len((unsigned char)*e);
		sb_clear(&chunk);
		to_cs(cs, s, (size_t)(e - s), &chunk);
		if (!first)
			sb_puts(out, "\r\n ");
		first = 0;
		sb_printf(out, "=?%s?%c?", cs_label[cs], enc);
		if (enc == 'B') {
			b64(chunk.p, chunk.n, 0, 0, out);
		} else {
			for (size_t i = 0; i < chunk.n; i++) {
				unsigned char c = (unsigned char)chunk.p[i];
				if (c == ' ')
					sb_putc(out, '_');
				else if (c > 32 && c < 127 && !strchr("=?_\"()<>,;:.@", c))
					sb_putc(out, (char)c);
				else
					sb_printf(out, "=%02X", c);
			}
		}
		sb_puts(out, "?=");
		s = e;
	}
	sb_free(&chunk);
}

/* Percent-encoding of an address as trackers write it ('@' as %40). */
static void pct(const char *s, int upper, struct sb *out)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_')
			sb_putc(out, (char)c);
		else
			sb_printf(out, upper ? "%%%02X" : "%%%02x", c);
	}
}

/* ------------------------------------------------------------ people */

struct jname {
	const char *family, *given;       /* kanji / kana */
	const char *family_r, *given_r;   /* romaji */
};

static const struct jname names[] = {
	{ "山田", "太郎", "yamada", "taro" },      { "佐藤", "花子", "sato", "hanako" },
	{ "鈴木", "一郎", "suzuki", "ichiro" },    { "高橋", "美咲", "takahashi", "misaki" },
	{ "田中", "健太", "tanaka", "kenta" },     { "伊藤", "さくら", "ito", "sakura" },
	{ "渡辺", "翔太", "watanabe", "shota" },   { "中村", "陽子", "nakamura", "yoko" },
	{ "小林", "大輔", "kobayashi", "daisuke" }, { "加藤", "由美", "kato", "yumi" },
	{ "吉田", "直樹", "yoshida", "naoki" },    { "山本", "真由美", "yamamoto", "mayumi" },
	{ "松本", "浩二", "matsumoto", "koji" },   { "井上", "恵子", "inoue", "keiko" },
	{ "木村", "拓也", "kimura", "takuya" },    { "斎藤", "明美", "saito", "akemi" },
};

static const char *const home_domains[] = {
	"example.jp", "example.ne.jp", "mail.example.co.jp", "isp.example.ne.jp",
	"example.or.jp", "home.example.ne.jp",
};
static const char *const mobile_domains[] = {
	"docomo.example.ne.jp", "ezweb.example.ne.jp", "softbank.example.ne.jp",
	"i.example.com",
};
static const char *const webmail_domains[] = { "gmail.example.com", "outlook.example.com" };
static const char *const trap_domains[] = {
	"mon1.example.ne.jp", "trap.example.jp", "mon2.example.ne.jp", "honeypot.example.or.jp",
};
static const char *const center_addrs[] = {
	"report@dekyo.example.jp", "meiwaku@dekyo.example.jp", "spam-report@dekyo.example.jp",
};
static const char *const carriers[] = {
	"mx.example.ne.jp", "mx01.isp.example.ne.jp", "mail.docomo.example.ne.jp",
	"mx.ezweb.example.ne.jp", "mx-in.example.co.jp", "mta.softbank.example.ne.jp",
};

/* A person: address, its local part, display name (UTF-8, "" when none). */
struct who {
	char addr[128];
	char local[64];
	char name[96];
};

static void set_addr(struct who *w, const char *local, const char *domain)
{
	snprintf(w->local, sizeof w->local, "%s", local);
	snprintf(w->addr, sizeof w->addr, "%s@%s", local, domain);
}

static void person_local(struct rng *r, const struct jname *n, char *out, size_t len)
{
	switch (below(r, 5)) {
	case 0:
		snprintf(out, len, "%s.%s", n->given_r, n->family_r);
		break;
	case 1:
		snprintf(out, len, "%s-%c%02u", n->family_r, n->given_r[0], 60 + below(r, 40));
		break;
	case 2:
		snprintf(out, len, "%s%s%u", n->given_r, n->family_r, 1 + below(r, 99));
		break;
	case 3:
		snprintf(out, len, "%s_%s", n->family_r, n->given_r);
		break;
	default:
		snprintf(out, len, "%c.%s%04u", n->given_r[0], n->family_r, 1960 + below(r, 45));
		break;
	}
}

static void mobile_local(struct rng *r, const struct jname *n, char *out, size_t len)
{
	static const char *const words[] = { "love", "happy", "sky", "blue", "star", "smile" };
	if (chance(r, 50))
		snprintf(out, len, "%s-%s.%02u%02u", n->given_r, PICK(r, words), 1 + below(r, 12),
			 1 + below(r, 28));
	else
		snprintf(out, len, "%s.%s.%u", n->family_r, n->given_r, 100 + below(r, 900));
}

/* ----------------------------------------------------------- content */

enum category { CAT_DATING, CAT_SHOP, CAT_PHISH, CAT_MONEY, CAT_LOTTERY, CAT_ENGLISH, NCAT };

static const char *const cat_name[] = { "dating", "shop", "phish", "money", "lottery", "en" };

/* Sentences by category; {NAME} {ADDR} {LOCAL} {URL} {SHOP} {ITEM} {P1} {P2}
 * {N} are filled in. Every character is in JIS X 0208 (ISO-2022-JP). */
static const char *const s_dating[] = {
	"{NAME}様、はじめまして。突然のメールで驚かせてしまってごめんなさい。",
	"プロフィールを見て、どうしても連絡したくなりました。",
	"今週末、都内でお会いできませんか？お返事はこちらからお願いします。",
	"会員登録は完全無料です。今なら特典ポイント{P1}円分をプレゼント中！",
	"私は都内在住の{N}歳、看護師をしています。お仕事の後でも大丈夫です。",
	"メッセージの続きはサイト内で読めます。写真も載せておきました。",
	"前回のお返事がなかったので、もう一度だけ送らせてください。",
	"{LOCAL}さんのことが気になっています。少しだけお話しできませんか。",
};
static const char *const s_shop[] = {
	"【期間限定】人気ブランド品が最大{N}％オフ！",
	"本日23時59分までの特別セールです。お見逃しなく。",
	"送料無料キャンペーン実施中。今すぐチェックしてください。",
	"会員様だけの特別価格でご案内しております。",
	"在庫がなくなり次第終了となります。お早めにどうぞ。",
	"・{ITEM}　通常価格{P1}円 → 特別価格{P2}円",
	"・{ITEM}　限定{N}個のみ　{P2}円（税込）",
	"ご注文は24時間受け付けております。お支払いは代金引換もご利用いただけます。",
};
static const char *const s_phish[] = {
	"お客様のアカウントに不正なアクセスが検出されました。",
	"本人確認のため、24時間以内に以下のリンクから情報を更新してください。",
	"期限までにご対応いただけない場合、アカウントは停止されます。",
	"ご利用のカードに異常な取引が確認されたため、一時的に利用を制限しております。",
	"ご登録のメールアドレス：{ADDR}",
	"お手数ですが、下記のページよりログインし、ご本人様確認をお願いいたします。",
	"このメールに心当たりのない場合も、必ず確認手続きを行ってください。",
};
static const char *const s_money[] = {
	"スマホだけで毎日{P1}円の副収入！",
	"誰でも簡単に始められる投資術を無料で公開中です。",
	"先着{N}名様限定で、特別セミナーにご招待いたします。",
	"実績者の声：月収が{P2}円アップしました（{N}代・会社員）",
	"元手は一切不要です。空いた時間にできる簡単なお仕事です。",
	"今だけ、登録するだけで{P1}円を必ずお受け取りいただけます。",
};
static const char *const s_lottery[] = {
	"おめでとうございます！{NAME}様が1等{P1}円に当選しました。",
	"賞金の受け取り手続きは下記のページから行えます。",
	"受け取り期限は本日中となっておりますのでご注意ください。",
	"当選番号：{N}-{P2}　当選者様専用ページをご確認ください。",
	"{NAME}様の当選は厳正な抽選により決定いたしました。",
	"手数料は一切かかりません。今すぐお手続きください。",
};
static const char *const s_english[] = {
	"Dear {NAME}, you have been selected for an exclusive offer.",
	"Click here to claim your reward before it expires.",
	"Your mailbox {ADDR} is almost full. Verify your account now to avoid losing mail.",
	"Limited time: {N}% off all luxury watches. Free worldwide shipping.",
	"We noticed an unusual sign-in attempt on your account.",
	"This offer is only valid for {LOCAL} and cannot be transferred.",
	"Reply now and get a free gift worth {P1} JPY with your first order.",
};
static const char *const *const sentences[] = {
	s_dating, s_shop, s_phish, s_money, s_lottery, s_english,
};
static const size_t nsentences[] = {
	NELEM(s_dating), NELEM(s_shop), NELEM(s_phish), NELEM(s_money), NELEM(s_lottery),
	NELEM(s_english),
};
static const char *const subjects[][4] = {
	{ "【無料】{NAME}様へメッセージが届いています", "はじめまして、お会いできませんか？",
	  "{N}歳・看護師です。お返事待っています", "Re: 先日の件" },
	{ "【期間限定】最大{N}％オフの特別セール", "会員様限定のお知らせ",
	  "【送料無料】人気の{ITEM}が特別価格で", "本日最終日！お見逃しなく" },
	{ "【重要】アカウントの確認が必要です", "【緊急】ご利用のカードを制限しました",
	  "ログイン情報の更新のお願い", "【再送】本人確認のお願い" },
	{ "毎日{P1}円の副収入を手にする方法", "【先着{N}名】無料セミナーのご案内",
	  "スマホだけで稼げるお仕事", "今なら登録だけで{P1}円" },
	{ "【当選通知】{NAME}様が当選されました", "おめでとうございます！1等当選のお知らせ",
	  "賞金受け取り手続きのご案内", "【本日期限】当選金のお受け取りについて" },
	{ "Your account will be suspended", "Exclusive offer for {LOCAL}",
	  "You have (1) unclaimed reward", "Final notice: verify your mailbox" },
};
static const char *const senders[][3] = {
	{ "みゆき", "出会いサポート事務局", "恋活ナビ" },
	{ "ブランドアウトレット", "セレクトショップ・ルミエール", "通販モール事務局" },
	{ "カスタマーサポート", "カード会員サービス", "アカウント管理センター" },
	{ "副業サポート", "投資情報センター", "マネーアカデミー事務局" },
	{ "当選通知センター", "プレゼント事務局", "抽選管理委員会" },
	{ "Customer Service", "Rewards Team", "Mail Administrator" },
};
static const char *const items[] = {
	"腕時計", "バッグ", "長財布", "サプリメント", "化粧水", "スニーカー", "ワイヤレスイヤホン",
	"電動歯ブラシ", "美容液", "ダウンジャケット",
};
static const char *const shops[] = {
	"サンプル商事", "ルミエール", "グローバル通販", "ネクストメディア", "ハッピーライフ",
};
static const char *const spam_words[] = {
	"deal", "shop", "club", "info", "news", "mall", "net", "win", "love", "fx",
};
static const char *const spam_tlds[] = { "example.com", "example.net", "example.org" };
static const char *const url_paths[] = {
	"lp", "campaign/sale", "login/verify", "member/entry", "r", "click", "form/confirm",
	"p/top",
};

/* What one spam looks like, fixed before its body is filled. */
struct spam_plan {
	enum category cat;
	enum cs cs;
	enum { LAY_PLAIN, LAY_ALT, LAY_HTML } layout;
	enum { CTE_7BIT, CTE_8BIT, CTE_QP, CTE_B64 } cte_text, cte_html;
	char hdr_enc;                    /* 'B' or 'Q' for encoded-words */
	char sdomain[64];
	char from_addr[128];
	char from_name[96];              /* UTF-8 */
	char subject[256];               /* UTF-8 */
	char camp[16];
	unsigned uid;
	time_t t;
	const struct who *rcpt;
	int name_shown;                  /* To: shows rcpt->name */
	struct sb headers;               /* everything before Content-Type */
	char boundary[48];
};

static const char *const cte_name[] = { "7bit", "8bit", "quoted-printable", "base64" };

static void ip_pick(struct rng *r, char *out, size_t len, int *v6)
{
	unsigned k = below(r, 100);
	*v6 = 0;
	if (k < 35) {
		snprintf(out, len, "203.0.113.%u", 1 + below(r, 126));           /* isp 1 */
	} else if (k < 50) {
		snprintf(out, len, "203.0.113.%u", 129 + below(r, 62));          /* isp 2 */
	} else if (k < 65) {
		snprintf(out, len, "198.51.100.%u", 1 + below(r, 254));          /* isp 2 */
	} else if (k < 75) {
		snprintf(out, len, "2001:db8:a:%x::%x", below(r, 4096), 1 + below(r, 4000));
		*v6 = 1;                                                          /* isp 1 */
	} else if (k < 90) {
		snprintf(out, len, "192.0.2.%u", 1 + below(r, 254));             /* none */
	} else if (k < 95) {
		snprintf(out, len, "203.0.113.%u", 193 + below(r, 62));          /* none */
	} else {
		snprintf(out, len, "2001:db8:ff::%x", 1 + below(r, 4000));
		*v6 = 1;
	}
}

static void rfc_date(time_t t, struct sb *out)
{
	char d[64];
	struct tm tm;
	time_t j = t + 9 * 3600;
	gmtime_r(&j, &tm);
	strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S +0900", &tm);
	sb_puts(out, d);
}

static void jp_date(time_t t, int weekday, struct sb *out)
{
	static const char *const wd[] = { "日", "月", "火", "水", "木", "金", "土" };
	struct tm tm;
	time_t j = t + 9 * 3600;
	gmtime_r(&j, &tm);
	sb_printf(out, "%d年%d月%d日", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	if (weekday)
		sb_printf(out, "(%s)", wd[tm.tm_wday]);
	sb_printf(out, " %d:%02d", tm.tm_hour, tm.tm_min);
}

static void queue_id(struct rng *r, char *out, size_t len)
{
	static const char a[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";
	size_t n = 10 + below(r, 5);
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = a[below(r, sizeof a - 1)];
	out[n] = '\0';
}

/* The display-name form of a header: "Name" <addr> with the name encoded. */
static void mailbox(enum cs cs, char enc, const char *name, const char *addr, struct sb *out)
{
	if (!*name) {
		sb_puts(out, addr);
		return;
	}
	if (is_ascii(name))
		sb_printf(out, "\"%s\" ", name);
	else {
		ew(cs, enc, name, out);
		sb_putc(out, ' ');
	}
	sb_printf(out, "<%s>", addr);
}

/* Expands a template's {TOKENS}. */
static void expand(struct rng *r, const struct spam_plan *sp, const char *tpl, struct sb *out)
{
	const struct who *w = sp->rcpt;
	for (const char *s = tpl; *s;) {
		if (*s != '{') {
			const char *e = strchr(s, '{');
			size_t n = e ? (size_t)(e - s) : strlen(s);
			sb_putn(out, s, n);
			s += n;
			continue;
		}
		const char *e = strchr(s, '}');
		size_t n = (size_t)(e - s - 1);
		const char *t = s + 1;
		if (n == 4 && !memcmp(t, "NAME", 4))
			sb_puts(out, sp->name_shown ? w->name : w->local);
		else if (n == 4 && !memcmp(t, "ADDR", 4))
			sb_puts(out, w->addr);
		else if (n == 5 && !memcmp(t, "LOCAL", 5))
			sb_puts(out, w->local);
		else if (n == 4 && !memcmp(t, "SHOP", 4))
			sb_puts(out, PICK(r, shops));
		else if (n == 4 && !memcmp(t, "ITEM", 4))
			sb_puts(out, PICK(r, items));
		else if (n == 2 && !memcmp(t, "P1", 2))
			sb_printf(out, "%u,%03u", 1 + below(r, 98), below(r, 1000));
		else if (n == 2 && !memcmp(t, "P2", 2))
			sb_printf(out, "%u,%03u", 1 + below(r, 20), below(r, 1000));
		else if (n == 1 && t[0] == 'N')
			sb_printf(out, "%u", 10 + below(r, 80));
		else
			die("template token {%.*s}", (int)n, t);
		s = e + 1;
	}
}

/* A tracking URL; most carry the recipient's address or a token of it. */
static void url(struct rng *r, const struct spam_plan *sp, struct sb *out)
{
	sb_printf(out, "https://%s%s/%s?utm_source=mail&utm_medium=email&utm_campaign=%s&uid=%u",
		  chance(r, 30) ? "click." : "", sp->sdomain, PICK(r, url_paths), sp->camp,
		  sp->uid + below(r, 50));
	unsigned k = below(r, 100);
	if (k < 40) {
		sb_puts(out, "&email=");
		pct(sp->rcpt->addr, chance(r, 30), out);
	} else if (k < 50) {
		sb_puts(out, "&m=");
		b64(sp->rcpt->addr, strlen(sp->rcpt->addr), 0, 1, out);
	} else if (k < 55) {
		/* a redirector wrapping a URL that carries the address: twice encoded */
		struct sb inner = { 0 };
		sb_printf(&inner, "https://%s/lp?e=", sp->sdomain);
		pct(sp->rcpt->addr, 0, &inner);
		sb_puts(out, "&next=");
		pct(sb_str(&inner), 0, out);
		sb_free(&inner);
	} else if (k < 60) {
		sb_printf(out, "&u=%s", sp->rcpt->local);
	}
}

/* Wraps long UTF-8 lines at about width characters. */
static void put_wrapped(const char *line, size_t width, struct sb *out)
{
	size_t col = 0;
	for (const char *s = line; *s;) {
		size_t k = u8len((unsigned char)*s);
		/* Never break inside ASCII words (addresses, URLs). */
		if (col >= width && (unsigned char)*s >= 0x80) {
			sb_puts(out, "\r\n");
			col = 0;
		}
		sb_putn(out, s, k);
		s += k;
		col++;
	}
	sb_puts(out, "\r\n");
}

/* The body text (UTF-8, CRLF) of at least budget bytes. */
static void fill_text(struct rng *r, const struct spam_plan *sp, size_t budget, struct sb *text)
{
	struct sb line = { 0 };
	int en = sp->cat == CAT_ENGLISH;
	unsigned next_s = below(r, (unsigned)nsentences[sp->cat]);
	if (chance(r, 70)) {
		sb_clear(&line);
		expand(r, sp, en ? "Dear {NAME}," : "{NAME}様", &line);
		put_wrapped(sb_str(&line), 36, text);
		sb_puts(text, "\r\n");
	}
	while (text->n < budget) {
		unsigned ns = 2 + below(r, 4), nc = (unsigned)nsentences[sp->cat];
		for (unsigned i = 0; i < ns && text->n < budget; i++) {
			sb_clear(&line);
			expand(r, sp, sentences[sp->cat][next_s], &line);
			next_s = (next_s + 1 + below(r, 2)) % nc;
			put_wrapped(sb_str(&line), en ? 72 : 36, text);
		}
		if (chance(r, 60)) {
			sb_puts(text, en ? "Click here: " : "▼詳しくはこちら\r\n");
			url(r, sp, text);
			sb_puts(text, "\r\n");
		}
		if (chance(r, 15)) {
			sb_clear(&line);
			expand(r, sp, en ? "This message was sent to {ADDR}."
					 : "このメールは{ADDR}宛にお送りしています。", &line);
			put_wrapped(sb_str(&line), 36, text);
		}
		sb_puts(text, "\r\n");
	}
	/* The footer the Act asks for, on most. */
	if (chance(r, 60)) {
		if (en) {
			sb_puts(text, "To unsubscribe: ");
		} else {
			sb_puts(text, "■■■■■■■■■■■■■■■■■■■■\r\n");
			sb_printf(text, "送信者：株式会社%s\r\n", PICK(r, shops));
			sb_puts(text, "住所：〒100-0001 東京都千代田区千代田1-1-1\r\n");
			sb_puts(text, "電話：03-1234-5678\r\n");
			sb_puts(text, "■配信停止をご希望の方はこちら\r\n");
		}
		sb_printf(text, "https://%s/unsub?e=", sp->sdomain);
		pct(sp->rcpt->addr, 0, text);
		sb_printf(text, "&id=%u\r\n", sp->uid);
	}
	sb_free(&line);
}

static void html_escape(const char *s, size_t n, int url_ctx, struct sb *out)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': sb_puts(out, "&amp;"); break;
		case '<': sb_puts(out, "&lt;"); break;
		case '>': sb_puts(out, "&gt;"); break;
		case '"': sb_puts(out, url_ctx ? "%22" : "&quot;"); break;
		default: sb_putc(out, s[i]);
		}
	}
}

/* The HTML version of text: paragraphs, links, a table, a tracking pixel. */
static void make_html(struct rng *r, const struct spam_plan *sp, const char *text,
		      struct sb *html)
{
	sb_printf(html, "<!DOCTYPE html>\r\n<html><head>\r\n<meta http-equiv=\"Content-Type\" "
		  "content=\"text/html; charset=%s\">\r\n", cs_label[sp->cs]);
	sb_puts(html, "<style type=\"text/css\">body{margin:0;padding:0;font-family:sans-serif;}"
		      "\r\n.box{width:600px;margin:0 auto;border:1px solid #ddd;}\r\n"
		      ".btn{display:block;background:#e60012;color:#fff;padding:12px;}</style>\r\n"
		      "</head><body>\r\n<table class=\"box\" width=\"600\" cellpadding=\"0\" "
		      "cellspacing=\"0\"><tr><td>\r\n<p>\r\n");
	for (const char *s = text; *s;) {
		const char *e = strstr(s, "\r\n");
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0) {
			sb_puts(html, "</p>\r\n<p>\r\n");
		} else {
			const char *h = memmem(s, n, "https://", 8);
			if (h) {
				html_escape(s, (size_t)(h - s), 0, html);
				size_t un = n - (size_t)(h - s);
				sb_puts(html, "<a class=\"btn\" href=\"");
				html_escape(h, un, 1, html);
				sb_puts(html, "\" target=\"_blank\">");
				sb_puts(html, sp->cat == CAT_ENGLISH ? "Click here"
								      : "こちらをクリック");
				sb_puts(html, "</a><br>\r\n");
			} else {
				html_escape(s, n, 0, html);
				sb_puts(html, "<br>\r\n");
			}
		}
		s += n + (e ? 2 : 0);
	}
	sb_printf(html, "</p>\r\n<img src=\"https://t.%s/o.gif?c=%s&amp;e=", sp->sdomain,
		  sp->camp);
	pct(sp->rcpt->addr, chance(r, 50), html);
	sb_puts(html, "\" width=\"1\" height=\"1\" alt=\"\">\r\n</td></tr></table>\r\n"
		      "</body></html>\r\n");
}

/* Appends body (UTF-8) converted to the plan's charset in transfer encoding cte. */
static void put_body(const struct spam_plan *sp, int cte, const char *body, struct sb *out)
{
	struct sb raw = { 0 };
	to_cs(sp->cs, body, strlen(body), &raw);
	switch (cte) {
	case CTE_B64:
		b64(raw.p, raw.n, 76, 0, out);
		break;
	case CTE_QP:
		qp(raw.p, raw.n, out);
		break;
	default:
		sb_putn(out, raw.p, raw.n);
	}
	sb_free(&raw);
}

static void part_header(const struct spam_plan *sp, const char *subtype, int cte, struct sb *out)
{
	sb_printf(out, "Content-Type: text/%s; charset=%s\r\nContent-Transfer-Encoding: %s\r\n",
		  subtype, sp->cs == CS_SJIS ? "Shift_JIS" : cs_label[sp->cs], cte_name[cte]);
}

/* Fixes everything about a spam except its body. */
static void plan_spam(struct rng *r, const struct who *rcpt, int monitor, struct spam_plan *sp)
{
	memset(sp, 0, sizeof *sp);
	sp->rcpt = rcpt;
	sp->cat = chance(r, 12) ? CAT_ENGLISH : (enum category)below(r, CAT_ENGLISH);
	if (sp->cat == CAT_ENGLISH) {
		sp->cs = chance(r, 60) ? CS_ASCII : CS_UTF8;
	} else {
		unsigned k = below(r, 100);
		sp->cs = k < 50 ? CS_UTF8 : k < 80 ? CS_JIS : CS_SJIS;
	}
	unsigned k = below(r, 100);
	sp->layout = k < 50 ? LAY_PLAIN : k < 90 ? LAY_ALT : LAY_HTML;
	switch (sp->cs) {
	case CS_UTF8:
		k = below(r, 100);
		sp->cte_text = k < 40 ? CTE_B64 : k < 80 ? CTE_QP : CTE_8BIT;
		sp->cte_html = chance(r, 50) ? CTE_QP : CTE_B64;
		break;
	case CS_JIS:
		sp->cte_text = chance(r, 80) ? CTE_7BIT : CTE_B64;
		sp->cte_html = chance(r, 60) ? CTE_7BIT : CTE_B64;
		break;
	case CS_SJIS:
		k = below(r, 100);
		sp->cte_text = k < 50 ? CTE_B64 : k < 90 ? CTE_8BIT : CTE_QP;
		sp->cte_html = chance(r, 70) ? CTE_B64 : CTE_QP;
		break;
	case CS_ASCII:
		sp->cte_text = chance(r, 70) ? CTE_7BIT : CTE_QP;
		sp->cte_html = CTE_QP;
		break;
	}
	sp->hdr_enc = chance(r, 80) ? 'B' : 'Q';
	snprintf(sp->sdomain, sizeof sp->sdomain, "%s%u.%s", PICK(r, spam_words), below(r, 1000),
		 PICK(r, spam_tlds));
	static const char *const from_locals[] = { "info", "news", "support", "noreply",
						   "campaign", "admin", "service" };
	snprintf(sp->from_addr, sizeof sp->from_addr, "%s@%s", PICK(r, from_locals), sp->sdomain);
	snprintf(sp->from_name, sizeof sp->from_name, "%s", senders[sp->cat][below(r, 3)]);
	snprintf(sp->camp, sizeof sp->camp, "c%u", 1000 + below(r, 9000));
	sp->uid = 100000 + below(r, 900000);
	sp->name_shown = rcpt->name[0] && !monitor && chance(r, 50);
	if (sp->cs == CS_ASCII && sp->name_shown && !is_ascii(rcpt->name))
		sp->cs = CS_UTF8;
	struct sb subj = { 0 };
	expand(r, sp, subjects[sp->cat][below(r, 4)], &subj);
	snprintf(sp->subject, sizeof sp->subject, "%s", sb_str(&subj));
	sb_free(&subj);
	/* 2026-01-01 .. 2026-12-31, JST */
	sp->t = (time_t)1767193200 + (time_t)below(r, 365 * 86400);
	snprintf(sp->boundary, sizeof sp->boundary, "----=_Part_%u_%u.%u", below(r, 100000),
		 below(r, 1000000), 1700000000u + below(r, 90000000));

	/* Received: 0-2 hops inside the carrier (private), the hop from the
	 * source, then 1-3 hops on the sender's side; 3 to 6 in all. */
	struct sb *h = &sp->headers;
	char id[20], ip[64];
	unsigned inner = below(r, 3), below_src = 1 + below(r, 3);
	while (inner + 1 + below_src < 3)
		below_src++;
	while (inner + 1 + below_src > 6)
		below_src--;
	const char *carrier = PICK(r, carriers);
	time_t t = sp->t + 2 + below(r, 30);
	sb_printf(h, "Return-Path: <bounce-%u@%s>\r\n", sp->uid, sp->sdomain);
	if (monitor || chance(r, 40))
		sb_printf(h, "Delivered-To: %s\r\n", rcpt->addr);
	if (monitor)
		sb_printf(h, "X-Original-To: %s\r\n", rcpt->addr);
	for (unsigned i = 0; i < inner; i++) {
		queue_id(r, id, sizeof id);
		sb_printf(h, "Received: from mx%u.%s (mx%u.%s [10.%u.%u.%u])\r\n\tby mbox%u.%s "
			  "(Postfix) with ESMTP id %s\r\n\tfor <%s>; ", i + 1, carrier, i + 1,
			  carrier, below(r, 256), below(r, 256), 1 + below(r, 254), i, carrier, id,
			  rcpt->addr);
		rfc_date(t, h);
		sb_puts(h, "\r\n");
		t -= 1 + below(r, 3);
	}
	int v6;
	ip_pick(r, ip, sizeof ip, &v6);
	queue_id(r, id, sizeof id);
	char helo[96];
	snprintf(helo, sizeof helo, "%s%u.%s", chance(r, 50) ? "mail" : "smtp", below(r, 50),
		 sp->sdomain);
	if (chance(r, 50))
		sb_printf(h, "Received: from %s (%s [%s%s])\r\n", helo, chance(r, 50) ? helo :
			  "unknown", v6 ? "IPv6:" : "", ip);
	else
		sb_printf(h, "Received: from %s (unknown [%s%s])\r\n", helo, v6 ? "IPv6:" : "",
			  ip);
	sb_printf(h, "\tby %s (Postfix) with %s id %s\r\n\tfor <%s>; ", carrier,
		  chance(r, 50) ? "ESMTPS" : "ESMTP", id, rcpt->addr);
	rfc_date(t, h);
	sb_puts(h, "\r\n");
	for (unsigned i = 0; i < below_src; i++) {
		t -= 1 + below(r, 5);
		queue_id(r, id, sizeof id);
		if (i + 1 == below_src)
			sb_printf(h, "Received: from localhost (localhost [127.0.0.1])\r\n\tby %s "
				  "(Postfix) with SMTP id %s; ", helo, id);
		else if (chance(r, 50))
			sb_printf(h, "Received: from web%u.%s ([172.%u.%u.%u])\r\n\tby %s with "
				  "ESMTP id %s; ", i, sp->sdomain, 16 + below(r, 16),
				  below(r, 256), 1 + below(r, 254), helo, id);
		else
			sb_printf(h, "Received: from bulk%u.%s ([192.0.2.%u])\r\n\tby %s with "
				  "ESMTP id %s; ", i, sp->sdomain, 1 + below(r, 254), helo, id);
		rfc_date(t, h);
		sb_puts(h, "\r\n");
	}
	static const char *const spf[] = { "pass", "softfail", "fail", "none", "neutral" };
	static const char *const dkim[] = { "none (no signature)", "fail (bad signature)",
					    "pass header.d=", "neutral" };
	const char *dk = PICK(r, dkim);
	sb_printf(h, "Authentication-Results: %s;\r\n\tspf=%s smtp.mailfrom=bounce-%u@%s;\r\n"
		  "\tdkim=%s%s;\r\n\tdmarc=%s header.from=%s\r\n", carrier, PICK(r, spf), sp->uid,
		  sp->sdomain, dk, strcmp(dk, "pass header.d=") == 0 ? sp->sdomain : "",
		  chance(r, 70) ? "fail" : "none", sp->sdomain);
	sb_puts(h, "From: ");
	mailbox(sp->cs, sp->hdr_enc, sp->from_name, sp->from_addr, h);
	sb_puts(h, "\r\nTo: ");
	mailbox(sp->cs, sp->hdr_enc, sp->name_shown ? rcpt->name : "", rcpt->addr, h);
	sb_puts(h, "\r\nSubject: ");
	ew(sp->cs, sp->hdr_enc, sp->subject, h);
	sb_puts(h, "\r\nDate: ");
	rfc_date(sp->t, h);
	sb_printf(h, "\r\nMessage-ID: <%u.%s.%u@%s>\r\n", (unsigned)sp->t, sp->camp, sp->uid,
		  sp->sdomain);
	static const char *const mailers[] = { "X-Mailer: Microsoft Outlook 16.0\r\n",
					       "X-Mailer: PHPMailer 6.8.0\r\n",
					       "X-Mailer: BlastMail 5.2\r\n", "" };
	sb_puts(h, PICK(r, mailers));
	if (chance(r, 60)) {
		sb_printf(h, "List-Unsubscribe: <https://%s/unsub?e=", sp->sdomain);
		pct(rcpt->addr, 0, h);
		sb_printf(h, "&id=%u>,\r\n <mailto:unsub-%u@%s>\r\n", sp->uid, sp->uid,
			  sp->sdomain);
	}
	sb_puts(h, "MIME-Version: 1.0\r\n");
}

/* The spam with a body of about budget bytes of text: the message in out,
 * its plain text (UTF-8) in text. */
static void build_spam(struct rng *r, struct spam_plan *sp, size_t budget, struct sb *out,
		       struct sb *text)
{
	struct sb html = { 0 };
	sb_clear(out);
	sb_clear(text);
	fill_text(r, sp, budget, text);
	sb_putn(out, sp->headers.p, sp->headers.n);
	switch (sp->layout) {
	case LAY_PLAIN:
		part_header(sp, "plain", sp->cte_text, out);
		sb_puts(out, "\r\n");
		put_body(sp, sp->cte_text, sb_str(text), out);
		break;
	case LAY_HTML:
		make_html(r, sp, sb_str(text), &html);
		part_header(sp, "html", sp->cte_html, out);
		sb_puts(out, "\r\n");
		put_body(sp, sp->cte_html, sb_str(&html), out);
		break;
	case LAY_ALT:
		make_html(r, sp, sb_str(text), &html);
		sb_printf(out, "Content-Type: multipart/alternative;\r\n\tboundary=\"%s\"\r\n\r\n"
			  "This is a multi-part message in MIME format.\r\n\r\n--%s\r\n",
			  sp->boundary, sp->boundary);
		part_header(sp, "plain", sp->cte_text, out);
		sb_puts(out, "\r\n");
		put_body(sp, sp->cte_text, sb_str(text), out);
		sb_printf(out, "\r\n--%s\r\n", sp->boundary);
		part_header(sp, "html", sp->cte_html, out);
		sb_puts(out, "\r\n");
		put_body(sp, sp->cte_html, sb_str(&html), out);
		sb_printf(out, "\r\n--%s--\r\n", sp->boundary);
		break;
	}
	sb_free(&html);
}

/* ------------------------------------------------------------ reports */

enum kind { K_MONITOR, K_ATTACHED, K_ATTACHED_B64, K_GMAIL, K_OUTLOOK, K_MOBILE, NKIND };
static const char *const kind_name[] = {
	"monitor", "attached", "attached-b64", "inline-gmail", "inline-outlook", "inline-mobile",
};

struct truth {
	enum sx_ident_kind kind;
	char *text;
};

struct item {
	uint8_t *raw;
	size_t len;
	enum sx_source_kind source;
	enum kind kind;
	enum cs cs;                      /* the spam's charset */
	char shape[96];                  /* "attached-b64 utf-8/qp alt shop" */
	struct truth truth[TRUTH_MAX];
	unsigned ntruth;
};

static void add_truth(struct item *it, enum sx_ident_kind k, const char *text)
{
	if (!*text || it->ntruth == TRUTH_MAX)
		return;
	for (unsigned i = 0; i < it->ntruth; i++)
		if (it->truth[i].kind == k && strcmp(it->truth[i].text, text) == 0)
			return;
	it->truth[it->ntruth].kind = k;
	it->truth[it->ntruth].text = strdup(text);
	if (it->truth[it->ntruth].text == NULL)
		die("out of memory");
	it->ntruth++;
}

/* A forwarded report's outer headers, up to and including MIME-Version. */
static void outer_headers(struct rng *r, const struct who *rep, enum cs cs, const char *subj_pfx,
			  const struct spam_plan *sp, struct sb *out)
{
	char id[20];
	const char *center = PICK(r, center_addrs);
	time_t t = sp->t + 600 + below(r, 86400);
	queue_id(r, id, sizeof id);
	sb_printf(out, "Return-Path: <%s>\r\n", rep->addr);
	unsigned mua = 1 + below(r, 254);
	sb_printf(out, "Received: from [198.51.100.%u] (unknown [198.51.100.%u])\r\n\tby "
		  "mx.dekyo.example.jp (Postfix) with ESMTPSA id %s\r\n\tfor <%s>; ",
		  mua, mua, id, center);
	rfc_date(t, out);
	sb_puts(out, "\r\nFrom: ");
	if (chance(r, 5) && cs != CS_JIS) /* raw UTF-8 in the header, as some clients do */
		sb_printf(out, "\"%s\" <%s>", rep->name, rep->addr);
	else
		mailbox(cs == CS_JIS ? CS_JIS : CS_UTF8, 'B', rep->name, rep->addr, out);
	sb_printf(out, "\r\nTo: %s\r\nSubject: %s", center, subj_pfx);
	ew(cs == CS_JIS ? CS_JIS : CS_UTF8, 'B', sp->subject, out);
	sb_puts(out, "\r\nDate: ");
	rfc_date(t, out);
	sb_printf(out, "\r\nMessage-ID: <%" PRIu64 ".%s@%s>\r\n", rnd(r) >> 20, id,
		  strchr(rep->addr, '@') + 1);
	static const char *const agents[] = {
		"User-Agent: Mozilla Thunderbird\r\n", "X-Mailer: Microsoft Outlook 16.0\r\n",
		"X-Mailer: iPhone Mail (21A360)\r\n", "",
	};
	sb_puts(out, PICK(r, agents));
	sb_puts(out, "MIME-Version: 1.0\r\n");
}

static const char *const notes[] = {
	"迷惑メールが届きましたので転送します。\r\nよろしくお願いいたします。\r\n",
	"いつもお世話になっております。\r\n下記の迷惑メールを情報提供します。\r\n",
	"毎日のように届いて困っています。対応をお願いします。\r\n",
	"Forwarding a spam I received.\r\n",
};

/* The forwarded header block and the spam's text, as a client quotes it. */
static void inline_block(struct rng *r, enum kind k, const struct spam_plan *sp,
			 const char *text, struct sb *out)
{
	const struct who *w = sp->rcpt;
	struct sb from = { 0 }, to = { 0 };
	if (sp->cat == CAT_ENGLISH || chance(r, 30))
		sb_printf(&from, "%s <%s>", sp->from_name, sp->from_addr);
	else
		sb_printf(&from, "\"%s\" <%s>", sp->from_name, sp->from_addr);
	if (sp->name_shown)
		sb_printf(&to, "%s <%s>", w->name, w->addr);
	else
		sb_printf(&to, "<%s>", w->addr);
	if (k == K_GMAIL) {
		sb_printf(out, "\r\n---------- Forwarded message ---------\r\nFrom: %s\r\nDate: ",
			  sb_str(&from));
		jp_date(sp->t, 1, out);
		sb_printf(out, "\r\nSubject: %s\r\nTo: %s\r\n\r\n\r\n", sp->subject, sb_str(&to));
		sb_puts(out, text);
	} else if (k == K_OUTLOOK) {
		if (chance(r, 60)) {
			sb_printf(out, "\r\n________________________________\r\n差出人: %s\r\n"
				  "送信日時: ", sb_str(&from));
			jp_date(sp->t, 0, out);
			sb_printf(out, "\r\n宛先: %s\r\n件名: %s\r\n\r\n", sb_str(&to),
				  sp->subject);
		} else {
			sb_printf(out, "\r\n-----Original Message-----\r\nFrom: %s\r\nSent: ",
				  sb_str(&from));
			rfc_date(sp->t, out);
			sb_printf(out, "\r\nTo: %s\r\nSubject: %s\r\n\r\n", sb_str(&to),
				  sp->subject);
		}
		sb_puts(out, text);
	} else { /* mobile: quoted with "> " */
		sb_printf(out, "\r\n> ----- 転送メッセージ -----\r\n> From: %s\r\n> To: %s\r\n"
			  "> Subject: %s\r\n> Date: ", sb_str(&from), sb_str(&to), sp->subject);
		rfc_date(sp->t, out);
		sb_puts(out, "\r\n>\r\n");
		for (const char *s = text; *s;) {
			const char *e = strstr(s, "\r\n");
			size_t n = e ? (size_t)(e - s) : strlen(s);
			sb_puts(out, n ? "> " : ">");
			sb_putn(out, s, n);
			sb_puts(out, "\r\n");
			s += n + (e ? 2 : 0);
		}
	}
	sb_free(&from);
	sb_free(&to);
}

/* Builds the report of kind k around the spam into out. */
static void build_report(struct rng *r, enum kind k, const struct who *rep,
			 const struct spam_plan *sp, const struct sb *spam, const char *text,
			 struct sb *out)
{
	sb_clear(out);
	if (k == K_MONITOR) {
		sb_putn(out, spam->p, spam->n);
		return;
	}
	char bnd[48];
	snprintf(bnd, sizeof bnd, "=_fwd_%016" PRIx64, rnd(r));
	const char *note = PICK(r, notes);
	if (k == K_ATTACHED || k == K_ATTACHED_B64) {
		enum cs ocs = chance(r, 30) ? CS_JIS : CS_UTF8;
		outer_headers(r, rep, ocs, chance(r, 50) ? "Fw: " : "Fwd: ", sp, out);
		sb_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", bnd);
		sb_printf(out, "This is a multi-part message in MIME format.\r\n--%s\r\n", bnd);
		sb_printf(out, "Content-Type: text/plain; charset=%s\r\n"
			  "Content-Transfer-Encoding: %s\r\n\r\n", cs_label[ocs],
			  ocs == CS_JIS ? "7bit" : "8bit");
		struct sb n = { 0 };
		sb_printf(&n, "%s\r\n%s\r\n", note, rep->name);
		to_cs(ocs, n.p, n.n, out);
		sb_free(&n);
		sb_printf(out, "\r\n--%s\r\nContent-Type: message/rfc822%s\r\n", bnd,
			  chance(r, 50) ? "; name=\"forwarded message.eml\"" : "");
		sb_puts(out, "Content-Disposition: attachment; "
			     "filename=\"forwarded message.eml\"\r\n");
		if (k == K_ATTACHED_B64) {
			sb_puts(out, "Content-Transfer-Encoding: base64\r\n\r\n");
			b64(spam->p, spam->n, 76, 0, out);
		} else {
			sb_puts(out, "\r\n");
			sb_putn(out, spam->p, spam->n);
			if (spam->n < 2 || memcmp(spam->p + spam->n - 2, "\r\n", 2) != 0)
				sb_puts(out, "\r\n");
		}
		sb_printf(out, "\r\n--%s--\r\n", bnd);
		return;
	}
	/* Inline forwards: the reporter's text holds the spam's text. */
	enum cs ocs = k == K_OUTLOOK && chance(r, 50) ? CS_JIS :
		      k == K_MOBILE && chance(r, 40) ? CS_JIS : CS_UTF8;
	outer_headers(r, rep, ocs, k == K_GMAIL ? "Fwd: " : k == K_OUTLOOK ? "FW: " : "Fw: ", sp,
		      out);
	struct sb body = { 0 };
	sb_printf(&body, "%s\r\n%s\r\n", note, rep->name);
	inline_block(r, k, sp, text, &body);
	struct spam_plan op = *sp;  /* the outer's charset, for put_body */
	op.cs = ocs;
	int cte = ocs == CS_JIS ? CTE_7BIT : k == K_GMAIL ? CTE_QP : chance(r, 50) ? CTE_B64
									     : CTE_8BIT;
	if (k == K_GMAIL && chance(r, 50)) {
		/* Gmail sends both: text/plain first, then text/html. */
		struct sb html = { 0 };
		sb_puts(&html, "<div dir=\"ltr\">");
		for (const char *s = sb_str(&body); *s;) {
			const char *e = strstr(s, "\r\n");
			size_t n = e ? (size_t)(e - s) : strlen(s);
			html_escape(s, n, 0, &html);
			sb_puts(&html, "<br>\r\n");
			s += n + (e ? 2 : 0);
		}
		sb_puts(&html, "</div>\r\n");
		sb_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
			  "\r\n--%s\r\n", bnd, bnd);
		sb_puts(out, "Content-Type: text/plain; charset=\"UTF-8\"\r\n"
			     "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		put_body(&op, CTE_QP, sb_str(&body), out);
		sb_printf(out, "\r\n--%s\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n\r\n", bnd);
		put_body(&op, CTE_QP, sb_str(&html), out);
		sb_printf(out, "\r\n--%s--\r\n", bnd);
		sb_free(&html);
	} else {
		sb_printf(out, "Content-Type: text/plain; charset=\"%s\"\r\n"
			  "Content-Transfer-Encoding: %s\r\n\r\n", cs_label[ocs], cte_name[cte]);
		put_body(&op, cte, sb_str(&body), out);
	}
	sb_free(&body);
}

struct corpus {
	struct item *v;
	size_t n;
	size_t bytes;
	size_t min, max;
	size_t out_of_range;
	size_t per_kind[NKIND];
	size_t per_cs[4];
};

static void make_item(uint64_t seed, size_t i, struct item *it)
{
	struct rng r = { seed ^ (0x5851f42d4c957f2dull * (i + 1)) };
	rnd(&r);
	memset(it, 0, sizeof *it);

	unsigned k = below(&r, 100);
	enum kind kind = k < 40 ? K_MONITOR : k < 60 ? K_ATTACHED : k < 70 ? K_ATTACHED_B64 :
			 k < 82 ? K_GMAIL : k < 94 ? K_OUTLOOK : K_MOBILE;
	it->kind = kind;
	it->source = kind == K_MONITOR ? SX_SRC_MONITOR : SX_SRC_PUBLIC;

	struct who rep, rcpt;
	memset(&rep, 0, sizeof rep);
	memset(&rcpt, 0, sizeof rcpt);
	char local[64];
	if (kind == K_MONITOR) {
		if (chance(&r, 50))
			snprintf(local, sizeof local, "trap-%05u", below(&r, 100000));
		else {
			static const char a[] = "abcdefghijkmnpqrstuvwxyz23456789";
			for (int c = 0; c < 9; c++)
				local[c] = a[below(&r, sizeof a - 1)];
			local[9] = '\0';
		}
		set_addr(&rcpt, local, PICK(&r, trap_domains));
		add_truth(it, SX_ID_ADDRESS, rcpt.addr);
	} else {
		const struct jname *nm = &names[below(&r, NELEM(names))];
		snprintf(rep.name, sizeof rep.name, "%s %s", nm->family, nm->given);
		person_local(&r, nm, local, sizeof local);
		set_addr(&rep, local, kind == K_GMAIL ? webmail_domains[0] :
			 kind == K_OUTLOOK && chance(&r, 50) ? webmail_domains[1] :
			 PICK(&r, home_domains));
		add_truth(it, SX_ID_ADDRESS, rep.addr);
		add_truth(it, SX_ID_NAME, rep.name);
		if (chance(&r, 25)) {  /* the spam came to the reporter's phone */
			mobile_local(&r, nm, local, sizeof local);
			set_addr(&rcpt, local, PICK(&r, mobile_domains));
		} else {
			rcpt = rep;
		}
		/* A list's name for the victim: kanji or romaji. */
		if (chance(&r, 30))
			snprintf(rcpt.name, sizeof rcpt.name, "%c%s %c%s",
				 nm->given_r[0] - 32, nm->given_r + 1, nm->family_r[0] - 32,
				 nm->family_r + 1);
		else
			snprintf(rcpt.name, sizeof rcpt.name, "%s", rep.name);
	}

	struct spam_plan sp;
	plan_spam(&r, &rcpt, kind == K_MONITOR, &sp);
	if (kind != K_MONITOR) {
		add_truth(it, SX_ID_ADDRESS, rcpt.addr);
		/* The recipient's name is an identifier where it was shown. */
		if (sp.name_shown)
			add_truth(it, SX_ID_NAME, rcpt.name);
	}
	it->cs = sp.cs;
	snprintf(it->shape, sizeof it->shape, "%s %s/%s%s %s", kind_name[kind], cs_short[sp.cs],
		 cte_name[sp.layout == LAY_HTML ? sp.cte_html : sp.cte_text],
		 sp.layout == LAY_ALT ? "+html" : sp.layout == LAY_HTML ? " html" : "",
		 cat_name[sp.cat]);

	/* Target size: triangular over 3..10 KB (mean 6.5 KB). */
	size_t target = REPORT_MIN + (below(&r, 3600) + below(&r, 3600)) * (REPORT_MAX - 240 -
								 REPORT_MIN) / 7200;
	uint64_t content_seed = rnd(&r);
	struct sb spam = { 0 }, text = { 0 }, out = { 0 };
	/* Size is close to linear in the text budget: two probes, then the
	 * secant; the body grows in whole paragraphs, so a few tries, and the
	 * closest one is kept. */
	double b0 = 200, b1 = 2000, l0 = 0, l1 = 0;
	size_t budget = 0, best_budget = 0, best_dist = SIZE_MAX;
	for (int attempt = 0; attempt <= 8; attempt++) {
		if (attempt == 0) {
			budget = (size_t)b0;
		} else if (attempt == 1) {
			budget = (size_t)b1;
		} else if (attempt == 8) {
			budget = best_budget;  /* the last build is the one kept */
		} else {
			double slope = (l1 - l0) / (b1 - b0);
			double b = slope > 0.01 ? b1 + ((double)target - l1) / slope : b1 * 1.5;
			budget = b < 0 ? 0 : (size_t)b;
		}
		struct rng cr = { content_seed };
		struct rng orr = { content_seed ^ 0xabcdefull };
		build_spam(&cr, &sp, budget, &spam, &text);
		build_report(&orr, kind, &rep, &sp, &spam, sb_str(&text), &out);
		size_t dist = out.n > target ? out.n - target : target - out.n;
		if (out.n < REPORT_MIN || out.n > REPORT_MAX)
			dist += 1000000;
		if (dist < best_dist)
			best_dist = dist, best_budget = budget;
		if (dist < 600)
			break;
		if (attempt == 8)
			break;
		if (attempt == 0) {
			l0 = (double)out.n;
		} else if (attempt == 1) {
			l1 = (double)out.n;
		} else if (budget != (size_t)b1) {
			b0 = b1, l0 = l1;
			b1 = (double)budget, l1 = (double)out.n;
		}
	}
	it->raw = (uint8_t *)out.p;
	it->len = out.n;
	sb_free(&spam);
	sb_free(&text);
	sb_free(&sp.headers);
}

static void make_corpus(uint64_t seed, size_t n, struct corpus *c)
{
	memset(c, 0, sizeof *c);
	c->v = calloc(n ? n : 1, sizeof *c->v);
	if (c->v == NULL)
		die("out of memory");
	c->n = n;
	c->min = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		struct item *it = &c->v[i];
		make_item(seed, i, it);
		c->bytes += it->len;
		if (it->len < c->min)
			c->min = it->len;
		if (it->len > c->max)
			c->max = it->len;
		if (it->len < REPORT_MIN || it->len > REPORT_MAX)
			c->out_of_range++;
		c->per_kind[it->kind]++;
		c->per_cs[it->cs]++;
	}
}

static void free_corpus(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].raw);
		for (unsigned k = 0; k < c->v[i].ntruth; k++)
			free(c->v[i].truth[k].text);
	}
	free(c->v);
}

static void print_corpus(const struct corpus *c, uint64_t seed)
{
	printf("corpus: %zu reports, %.1f MB, %zu..%zu bytes (mean %.0f), %zu outside %u..%u; "
	       "seed %" PRIu64 "\n", c->n, (double)c->bytes / 1e6, c->n ? c->min : 0, c->max,
	       c->n ? (double)c->bytes / (double)c->n : 0.0, c->out_of_range, REPORT_MIN,
	       REPORT_MAX, seed);
	printf("  kinds:");
	for (int k = 0; k < NKIND; k++)
		printf(" %s %zu", kind_name[k], c->per_kind[k]);
	printf("\n  spam charsets:");
	for (int k = 0; k < 4; k++)
		printf(" %s %zu", cs_short[k], c->per_cs[k]);
	printf("\n");
}

static void dump_item(const char *dir, size_t i, const struct item *it, const char *why)
{
	if (dir == NULL)
		return;
	char path[4096];
	snprintf(path, sizeof path, "%s/%06zu.eml", dir, i);
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	fwrite(it->raw, 1, it->len, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/%06zu.why", dir, i);
	f = fopen(path, "w");
	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "%s\nsource %s\n%s\n", it->shape,
		it->source == SX_SRC_MONITOR ? "monitor" : "public", why);
	fclose(f);
}

/* -------------------------------------------------------- bookkeeping */

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU of every thread of the process (the pipeline threads too). */
static double proc_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct tally {
	char reason[REASONS_MAX][SX_REASON_MAX];
	size_t count[REASONS_MAX];
	char example[REASONS_MAX][3][96];
	size_t nex[REASONS_MAX];
	size_t n, other;
};

/* Counts a reason; numbers (part paths, sizes, offsets) would make each one
 * distinct, so reasons are grouped with every run of digits as "#". */
static void tally_add(struct tally *t, const char *reason, const char *shape)
{
	char key[SX_REASON_MAX];
	size_t k = 0;
	for (const char *s = reason; *s && k + 1 < sizeof key; s++) {
		if (*s >= '0' && *s <= '9') {
			if (k == 0 || key[k - 1] != '#')
				key[k++] = '#';
			continue;
		}
		key[k++] = *s;
	}
	key[k] = '\0';
	size_t i;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->reason[i], key) == 0)
			break;
	if (i == t->n) {
		if (t->n == REASONS_MAX) {
			t->other++;
			return;
		}
		snprintf(t->reason[i], sizeof t->reason[i], "%s", key);
		t->n++;
	}
	t->count[i]++;
	if (t->nex[i] < 3)
		snprintf(t->example[i][t->nex[i]++], sizeof t->example[i][0], "%s", shape);
}

static void tally_print(const struct tally *t, const char *what)
{
	for (size_t i = 0; i < t->n; i++) {
		printf("    %6zu %s: %s\n", t->count[i], what, t->reason[i]);
		for (size_t e = 0; e < t->nex[i]; e++)
			printf("             e.g. %s\n", t->example[i][e]);
	}
	if (t->other)
		printf("    %6zu %s: (further reasons)\n", t->other, what);
}

/* ---------------------------------------------------------- verifying */

struct verify {
	size_t checked;
	size_t leaks_ready;        /* ready reports with an identifier left: a privacy bug */
	size_t leaks_quarantined;  /* quarantined ones (held back, the operator sees them) */
	size_t raw_hits;           /* plain search found an address form */
	size_t undecodable;
	struct tally why;
};

static int ci_contains(const uint8_t *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (k == 0 || k > n)
		return 0;
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k) {
			uint8_t a = h[i + j], b = (uint8_t)needle[j];
			if (a >= 'A' && a <= 'Z')
				a += 32;
			if (b >= 'A' && b <= 'Z')
				b += 32;
			if (a != b)
				break;
			j++;
		}
		if (j == k)
			return 1;
	}
	return 0;
}

/* Checks one output against the identifiers the generator put in. */
static void verify_one(struct verify *v, const struct item *it, const uint8_t *mail, size_t len,
		       int quarantined, const struct sx_mail_limits *lim, const char *dump,
		       size_t idx)
{
	struct sx_idset *ids = calloc(1, sizeof *ids);
	if (ids == NULL)
		die("out of memory");
	sx_idset_init(ids);
	for (unsigned k = 0; k < it->ntruth; k++)
		if (sx_idset_add(ids, it->truth[k].kind, it->truth[k].text,
				 strlen(it->truth[k].text)) < 0)
			die("report %zu: a generated identifier does not fit an sx_idset", idx);
	char why[256] = "";
	int verdict = sx_leak_check(mail, len, ids, lim, why, sizeof why);
	if (verdict < 0)
		die("report %zu: sx_leak_check: %s", idx, sx_strerror(verdict));
	int raw = 0;
	for (unsigned k = 0; k < it->ntruth; k++) {
		if (it->truth[k].kind != SX_ID_ADDRESS)
			continue;
		const char *a = it->truth[k].text;
		const char *at = strchr(a, '@');
		char form[600];
		raw |= ci_contains(mail, len, a);
		snprintf(form, sizeof form, "%.*s%%40%s", (int)(at - a), a, at + 1);
		raw |= ci_contains(mail, len, form);
		snprintf(form, sizeof form, "%.*s%%2540%s", (int)(at - a), a, at + 1);
		raw |= ci_contains(mail, len, form);
		snprintf(form, sizeof form, "%.*s", (int)(at - a), a);
		raw |= strlen(form) >= SX_IDENT_SHORT && ci_contains(mail, len, form);
	}
	v->checked++;
	v->raw_hits += raw;
	if (verdict == SX_LEAK_UNDECODABLE)
		v->undecodable++;
	if (verdict == SX_LEAK_FOUND || raw) {
		if (quarantined) {
			v->leaks_quarantined++;
		} else {
			v->leaks_ready++;
			char r[SX_REASON_MAX];
			snprintf(r, sizeof r, "%s", verdict == SX_LEAK_FOUND ? why
				 : "an address form found by plain search");
			tally_add(&v->why, r, it->shape);
			dump_item(dump, idx, it, r);
		}
	}
	free(ids);
}

static void verify_print(const struct verify *v)
{
	printf("  verified %zu sampled outputs against the generator's identifiers "
	       "(sx_leak_check + plain search):\n", v->checked);
	printf("    ready reports with an identifier left: %zu; quarantined ones with one: %zu;"
	       " undecodable: %zu; plain-search hits: %zu\n", v->leaks_ready, v->leaks_quarantined,
	       v->undecodable, v->raw_hits);
	tally_print(&v->why, "LEAK");
}

/* ------------------------------------------------------------- stores */

static struct sx_store *open_store(const char *db)
{
	struct sx_store *s;
	char err[ERR_MAX];
	int rc = sx_store_open(db, 0, &s, err, sizeof err);
	if (rc != 0)
		die("cannot open %s: %s", db, err);
	return s;
}

static void make_pipeline_conf(const char *db, struct sx_intake_ctx *ic,
			       struct sx_pipeline_conf *pc, struct sx_lpm **own)
{
	*own = NULL;
	if (db) {
		struct sx_store *s = open_store(db);
		char err[ERR_MAX];
		if (sx_intake_init(ic, s, NULL, err, sizeof err) != 0)
			die("sx_intake_init: %s", err);
		sx_store_close(s);
		*pc = ic->pc;
		return;
	}
	memset(ic, 0, sizeof *ic);
	memset(pc, 0, sizeof *pc);
	sx_mail_limits_default(&pc->limits);
	struct sx_prefix p[NELEM(builtin_isps)];
	int64_t v[NELEM(builtin_isps)];
	for (size_t i = 0; i < NELEM(builtin_isps); i++) {
		if (sx_prefix_parse(builtin_isps[i].prefix, &p[i]) != 0)
			die("bad built-in prefix %s", builtin_isps[i].prefix);
		v[i] = builtin_isps[i].member;
	}
	if (sx_lpm_build(p, v, NELEM(builtin_isps), own) != 0)
		die("sx_lpm_build failed");
	pc->isps = *own;
}

/* ------------------------------------------------------------ options */

struct opts {
	enum { M_NONE, M_PURE, M_DURABLE, M_SQLITE } mode;
	size_t n;
	const char *db;
	size_t batch;
	uint64_t seed;
	unsigned runs;
	size_t stages;
	size_t verify;
	double max_q;
	size_t row_size;
	const char *submitter;
	const char *dump;
	unsigned jobs;        /* durable: pipeline threads (intake_pool.h); 1: none */
};

static int check_quarantine(const struct opts *o, size_t n, size_t quarantined, size_t refused,
			    const struct tally *q, const struct tally *f)
{
	double pctq = n ? 100.0 * (double)(quarantined + refused) / (double)n : 0;
	printf("  quarantined %zu (%.2f %%), refused %zu\n", quarantined,
	       n ? 100.0 * (double)quarantined / (double)n : 0.0, refused);
	tally_print(q, "quarantined");
	tally_print(f, "refused");
	if (pctq > o->max_q) {
		printf("FAIL: the pipeline quarantined or refused %.2f %% of the generated corpus "
		       "(more than %.1f %%): the generator makes mail the redactor cannot handle, "
		       "so the figures measure the wrong path. Reasons above%s.\n", pctq,
		       o->max_q, o->dump ? "; the reports are in the --dump folder" : "");
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ --stages */

/* The steps of sx_pipeline_run (mail/pipeline.c), timed one by one. It is a
 * replica: if pipeline.c changes its steps, this must follow. Its total is
 * printed beside the real pipeline's. */
enum stage {
	ST_PARSE_OUTER, ST_UNWRAP, ST_PARSE_SPAM, ST_IDENT, ST_REDACT, ST_LEAK, ST_PARSE_CLEAN,
	ST_RECEIVED, ST_ANALYZE, ST_SUBJECT_DIGEST, NSTAGE
};
static const char *const stage_name[] = {
	"parse outer", "unwrap", "parse spam", "collect idents", "redact", "leak check",
	"parse clean", "received+lpm", "analyze", "subject+sha256",
};

static void stage_replica(const struct sx_pipeline_conf *c, const struct item *it,
			  struct sx_redact_result *red, double acc[NSTAGE])
{
	struct sx_mail *outer = NULL, *spam = NULL, *clean = NULL;
	struct sx_buf sb, mail;
	char err[ERR_MAX];
	size_t bound = it->len + it->len / 2 + 64 * 1024;
	sx_buf_init(&sb, bound);
	sx_buf_init(&mail, bound);
	struct sx_idset *ids = calloc(1, sizeof *ids);
	if (ids == NULL)
		die("out of memory");
	double t0 = cpu_s(), t;
	enum sx_unwrap_how how;
#define LAP(st) (t = cpu_s(), acc[st] += t - t0, t0 = t)
	if (it->source == SX_SRC_MONITOR) {
		LAP(ST_PARSE_OUTER);
		sx_buf_append(&sb, it->raw, it->len);
		LAP(ST_UNWRAP);
	} else {
		if (sx_mail_parse(it->raw, it->len, &c->limits, &outer, err, sizeof err) != 0)
			goto out;
		LAP(ST_PARSE_OUTER);
		if (sx_unwrap(outer, &sb, &how) != 0)
			goto out;
		LAP(ST_UNWRAP);
	}
	if (sx_mail_parse(sx_buf_head(&sb), sx_buf_used(&sb), &c->limits, &spam, err,
			  sizeof err) != 0)
		goto out;
	LAP(ST_PARSE_SPAM);
	sx_idset_init(ids);
	if (sx_ident_collect(outer, spam, ids) != 0)
		goto out;
	LAP(ST_IDENT);
	if (sx_redact(sx_buf_head(&sb), sx_buf_used(&sb), ids, &c->limits, &mail, red, err,
		      sizeof err) != 0)
		goto out;
	LAP(ST_REDACT);
	char why[256];
	sx_leak_check(sx_buf_head(&mail), sx_buf_used(&mail), ids, &c->limits, why, sizeof why);
	LAP(ST_LEAK);
	if (sx_mail_parse(sx_buf_head(&mail), sx_buf_used(&mail), &c->limits, &clean, err,
			  sizeof err) != 0)
		goto out;
	LAP(ST_PARSE_CLEAN);
	struct sx_source src;
	sx_received_source(clean, 0, &c->relays, &src);
	if (src.found && c->isps) {
		int64_t isp;
		uint8_t plen;
		sx_lpm_lookup(c->isps, src.ip, &isp, &plen);
	}
	LAP(ST_RECEIVED);
	struct sx_analysis an;
	sx_analyze(clean, it->source == SX_SRC_MONITOR, &src, &an);
	LAP(ST_ANALYZE);
	{
		unsigned iter = 0;
		const struct sx_hfield *f = sx_mail_field(clean, 0, "Subject", &iter);
		if (f) {
			struct sx_buf raw, txt;
			sx_buf_init(&raw, 64 * 1024);
			sx_buf_init(&txt, 1024);
			if (sx_mail_unfold(clean, f, &raw) == 0)
				sx_2047_decode(sx_buf_head(&raw), sx_buf_used(&raw), NULL, &txt,
					       NULL);
			sx_buf_finish(&raw);
			sx_buf_finish(&txt);
		}
		unsigned char md[32];
		unsigned int mdlen;
		EVP_Digest(sx_buf_head(&mail), sx_buf_used(&mail), md, &mdlen, EVP_sha256(), NULL);
	}
	LAP(ST_SUBJECT_DIGEST);
#undef LAP
out:
	sx_mail_destroy(clean);
	sx_mail_destroy(spam);
	sx_mail_destroy(outer);
	sx_buf_finish(&sb);
	sx_buf_finish(&mail);
	free(ids);
}

/* --------------------------------------------------------------- pure */

static int run_pure(const struct opts *o, const struct corpus *c)
{
	struct sx_intake_ctx ic;
	struct sx_pipeline_conf pc;
	struct sx_lpm *own;
	make_pipeline_conf(o->db, &ic, &pc, &own);
	struct sx_report *rep = malloc(sizeof *rep);
	struct tally *q = calloc(1, sizeof *q), *f = calloc(1, sizeof *f);
	double *rates = calloc(o->runs, sizeof *rates), *cpus = calloc(o->runs, sizeof *cpus);
	double *shares = calloc(o->runs, sizeof *shares);
	if (!rep || !q || !f || !rates || !cpus || !shares)
		die("out of memory");
	char err[ERR_MAX];
	size_t quarantined = 0, refused = 0, routed = 0, sourced = 0;
	printf("pure pipeline: sx_pipeline_run over %zu reports on one thread, %u run(s)%s\n",
	       c->n, o->runs, o->db ? ", ISP table from the store" : ", built-in ISP table");

	/* Warm-up: iconv descriptors, allocator, caches. */
	for (size_t i = 0; i < c->n && i < 200; i++) {
		struct sx_intake in = { .raw = c->v[i].raw, .len = c->v[i].len,
					.source = c->v[i].source };
		sx_pipeline_run(&pc, &in, rep, err, sizeof err);
		sx_report_finish(rep);
	}
	for (unsigned run = 0; run < o->runs; run++) {
		double w0 = mono_s(), c0 = cpu_s();
		for (size_t i = 0; i < c->n; i++) {
			const struct item *it = &c->v[i];
			struct sx_intake in = { .raw = it->raw, .len = it->len,
						.source = it->source };
			int rc = sx_pipeline_run(&pc, &in, rep, err, sizeof err);
			if (run == 0) {
				if (rc != 0) {
					refused++;
					tally_add(f, err, it->shape);
					dump_item(o->dump, i, it, err);
				} else {
					if (rep->quarantined) {
						quarantined++;
						tally_add(q, rep->reason, it->shape);
						dump_item(o->dump, i, it, rep->reason);
					}
					sourced += rep->src.found != 0;
					routed += rep->isp != 0;
				}
			}
			sx_report_finish(rep);
		}
		double w = mono_s() - w0, cp = cpu_s() - c0;
		rates[run] = (double)c->n / w;
		cpus[run] = cp / (double)c->n * 1e6;
		/* the share of a core the thread got: other processes took the rest */
		shares[run] = cp / w;
		printf("  run %u: %9.0f reports/s  %6.1f MB/s   %6.1f us CPU/report   "
		       "(wall %.2f s, CPU %.2f s)\n", run + 1, rates[run],
		       (double)c->bytes / w / 1e6, cpus[run], w, cp);
	}
	/* median */
	for (unsigned a = 0; a < o->runs; a++)
		for (unsigned b = a + 1; b < o->runs; b++) {
			if (rates[b] < rates[a]) {
				double t = rates[a]; rates[a] = rates[b]; rates[b] = t;
			}
			if (cpus[b] < cpus[a]) {
				double t = cpus[a]; cpus[a] = cpus[b]; cpus[b] = t;
			}
			if (shares[b] < shares[a]) {
				double t = shares[a]; shares[a] = shares[b]; shares[b] = t;
			}
		}
	double rate = rates[o->runs / 2], us = cpus[o->runs / 2], share = shares[o->runs / 2];
	printf("  median: %.0f reports/s wall, %.1f us CPU per report (= %.0f reports/s per "
	       "core busy)\n", rate, us, 1e6 / us);
	printf("  source IP found in %zu, routed to an ISP (LPM) in %zu\n", sourced, routed);
	int failed = check_quarantine(o, c->n, quarantined, refused, q, f);

	if (o->stages) {
		size_t ns = o->stages < c->n ? o->stages : c->n;
		double acc[NSTAGE] = { 0 }, tot = 0, real = 0;
		struct sx_redact_result *red = malloc(sizeof *red);
		if (!red)
			die("out of memory");
		for (size_t i = 0; i < ns; i++)
			stage_replica(&pc, &c->v[i], red, acc);
		/* the real pipeline over the same reports, for comparison */
		double c0 = cpu_s();
		for (size_t i = 0; i < ns; i++) {
			struct sx_intake in = { .raw = c->v[i].raw, .len = c->v[i].len,
						.source = c->v[i].source };
			sx_pipeline_run(&pc, &in, rep, err, sizeof err);
			sx_report_finish(rep);
		}
		real = cpu_s() - c0;
		free(red);
		for (int s = 0; s < NSTAGE; s++)
			tot += acc[s];
		printf("  stages over the first %zu reports (a replica of sx_pipeline_run's "
		       "steps, each timed; CPU):\n", ns);
		for (int s = 0; s < NSTAGE; s++)
			printf("    %-15s %8.1f us/report  %5.1f %%\n", stage_name[s],
			       acc[s] / (double)ns * 1e6, tot > 0 ? 100 * acc[s] / tot : 0.0);
		printf("    %-15s %8.1f us/report (sx_pipeline_run over the same: %.1f)\n",
		       "total", tot / (double)ns * 1e6, real / (double)ns * 1e6);
	}

	struct verify *v = calloc(1, sizeof *v);
	if (!v)
		die("out of memory");
	size_t step = o->verify ? (c->n + o->verify - 1) / o->verify : 0;
	for (size_t i = 0; step && i < c->n; i += step) {
		const struct item *it = &c->v[i];
		struct sx_intake in = { .raw = it->raw, .len = it->len, .source = it->source };
		if (sx_pipeline_run(&pc, &in, rep, err, sizeof err) == 0)
			verify_one(v, it, sx_buf_head(&rep->mail), sx_buf_used(&rep->mail),
				   rep->quarantined, &pc.limits, o->dump, i);
		sx_report_finish(rep);
	}
	verify_print(v);
	if (v->leaks_ready) {
		printf("FAIL: %zu ready (distributable) reports still hold an identifier of the "
		       "reporter or the recipient\n", v->leaks_ready);
		failed = 1;
	}
	printf("result mode=pure reports=%zu per_s=%.0f cpu_us=%.1f cpu_share=%.2f mb_per_s=%.1f "
	       "quarantined=%zu refused=%zu leaks=%zu\n", c->n, rate, us, share,
	       rate * (double)c->bytes / (double)c->n / 1e6, quarantined, refused,
	       v->leaks_ready);
	free(v);
	free(rep);
	free(q);
	free(f);
	free(rates);
	free(cpus);
	free(shares);
	sx_lpm_destroy(own);
	sx_intake_finish(&ic);
	return failed;
}

/* ------------------------------------------------------------ durable */

static int64_t lookup_member(struct sx_store *s, const char *name)
{
	struct sx_member m;
	if (sx_store_member_get(s, name, &m) != 0)
		die("no member %s in the store", name);
	return m.id;
}

static int run_durable(const struct opts *o, const struct corpus *c)
{
	struct sx_store *s = open_store(o->db);
	struct sx_intake_ctx ic;
	char err[ERR_MAX];
	if (sx_intake_init(&ic, s, NULL, err, sizeof err) != 0)
		die("sx_intake_init: %s", err);
	int64_t submitter = o->submitter ? lookup_member(s, o->submitter) : 0;
	struct sx_intake_result res;
	struct tally *q = calloc(1, sizeof *q), *f = calloc(1, sizeof *f);
	size_t step = o->verify ? (c->n + o->verify - 1) / o->verify : 0;
	size_t nsample = step ? (c->n + step - 1) / step : 0;
	char (*ids)[SX_REPORT_ID_LEN + 1] = calloc(nsample + 1, sizeof *ids);
	int *sq = calloc(nsample + 1, sizeof *sq);
	if (!q || !f || !ids || !sq)
		die("out of memory");
	size_t quarantined = 0, refused = 0, commits = 0;
	double commit_s = 0, max_commit = 0;
	int64_t seq0 = 0;
	sx_store_head_seq(s, &seq0);
	printf("durable intake: sx_intake_submit over %zu reports into %s, group commit every "
	       "%zu%s\n", c->n, o->db, o->batch,
	       submitter ? " (with a submitter and client message ids: sprexd's Submit path)"
			 : " (sprexctl ingest's path)");
	if (o->jobs > 1)
		printf("  the pipeline on %u threads (sx_intake_pool, as sprexctl ingest --jobs %u), "
		       "reports stored in order by this thread\n", o->jobs, o->jobs);
	char cid[64];
	unsigned tag = (unsigned)time(NULL);
	/* With threads: jobs started up to depth ahead of the one stored. */
	struct sx_intake_pool *pool = NULL;
	size_t depth = o->jobs > 1 ? (size_t)o->jobs * 2 : 1, started = 0;
	struct sx_intake *ins = calloc(depth, sizeof *ins);
	struct sx_intake_job *jobs = calloc(depth, sizeof *jobs);
	if (!ins || !jobs)
		die("out of memory");
	if (o->jobs > 1 && sx_intake_pool_create(o->jobs, &pool) != 0)
		die("cannot start %u pipeline threads", o->jobs);
	double w0 = mono_s(), c0 = cpu_s(), p0 = proc_cpu_s();
	for (size_t i = 0; i < c->n; i++) {
		const struct item *it = &c->v[i];
		if (i % o->batch == 0) {
			int rc = sx_store_batch_begin(s);
			if (rc != 0)
				die("sx_store_batch_begin: %s", sx_store_errmsg(s));
		}
		snprintf(cid, sizeof cid, "bench-%u-%zu", tag, i);
		int rc;
		if (pool == NULL) {
			struct sx_intake in = { .raw = it->raw, .len = it->len, .source = it->source,
						.consent = it->source == SX_SRC_PUBLIC ? 7 : 0 };
			rc = sx_intake_submit(&ic, s, &in, submitter, submitter ? cid : NULL, &res,
					      err, sizeof err);
		} else {
			for (; started < c->n && started < i + depth; started++) {
				const struct item *st = &c->v[started];
				struct sx_intake *in = &ins[started % depth];
				*in = (struct sx_intake){ .raw = st->raw, .len = st->len,
							  .source = st->source,
							  .consent = st->source == SX_SRC_PUBLIC ? 7 : 0 };
				sx_intake_job_init(&jobs[started % depth], &ic, in);
				sx_intake_pool_run(pool, &jobs[started % depth]);
			}
			struct sx_intake_job *j = &jobs[i % depth];
			sx_intake_pool_wait(pool, j);
			/* sprexd looks the key up before the run; a fresh key is
			 * not found, so only the store's own check remains */
			rc = sx_intake_job_store(j, s, submitter, submitter ? cid : NULL, &res, err,
						 sizeof err);
			sx_intake_job_finish(j);
		}
		if (rc != 0 && rc != SX_ETOOBIG && rc != SX_ELIMIT && rc != SX_EINVAL)
			die("report %zu: sx_intake_submit: %s", i, err);
		if (rc != 0) {
			refused++;
			tally_add(f, err, it->shape);
			dump_item(o->dump, i, it, err);
		} else if (res.quarantined) {
			quarantined++;
			tally_add(q, res.reason, it->shape);
			dump_item(o->dump, i, it, res.reason);
		}
		if (step && i % step == 0) {
			memcpy(ids[i / step], rc == 0 ? res.id : "", rc == 0 ? sizeof res.id : 1);
			sq[i / step] = rc == 0 && res.quarantined;
		}
		if ((i + 1) % o->batch == 0 || i + 1 == c->n) {
			double t0 = mono_s();
			rc = sx_store_batch_commit(s);
			double dt = mono_s() - t0;
			if (rc != 0)
				die("sx_store_batch_commit: %s", sx_store_errmsg(s));
			commit_s += dt;
			if (dt > max_commit)
				max_commit = dt;
			commits++;
		}
	}
	double w = mono_s() - w0, cp = cpu_s() - c0, pc = proc_cpu_s() - p0;
	sx_intake_pool_destroy(pool);
	free(ins);
	free(jobs);
	int64_t seq1 = 0;
	sx_store_head_seq(s, &seq1);
	double rate = (double)c->n / w;
	printf("  %.0f reports/s  %.1f MB/s   (wall %.2f s; this thread's CPU %.2f s = %.1f us "
	       "per report; the process's %.2f s = %.1f us)\n", rate, (double)c->bytes / w / 1e6,
	       w, cp, cp / (double)c->n * 1e6, pc, pc / (double)c->n * 1e6);
	printf("  commits: %zu, %.2f ms each on average, %.2f ms at most, %.1f %% of the wall "
	       "time\n", commits, commits ? commit_s / (double)commits * 1e3 : 0.0,
	       max_commit * 1e3, 100 * commit_s / w);
	printf("  stored: seq %" PRId64 "..%" PRId64 " (%" PRId64 " rows)\n", seq0 + 1, seq1,
	       seq1 - seq0);
	struct stat st;
	if (stat(o->db, &st) == 0)
		printf("  database file: %.1f MB\n", (double)st.st_size / 1e6);
	int failed = check_quarantine(o, c->n, quarantined, refused, q, f);

	/* What was stored, read back. */
	struct verify *v = calloc(1, sizeof *v);
	if (!v)
		die("out of memory");
	for (size_t k = 0; k < nsample; k++) {
		if (!ids[k][0])
			continue;
		uint8_t *mail;
		size_t len;
		if (sx_store_report_mail(s, ids[k], &mail, &len) != 0)
			die("cannot read back report %s: %s", ids[k], sx_store_errmsg(s));
		verify_one(v, &c->v[k * step], mail, len, sq[k], &ic.pc.limits, o->dump, k * step);
		free(mail);
	}
	verify_print(v);
	if (v->leaks_ready) {
		printf("FAIL: %zu stored ready reports still hold an identifier\n",
		       v->leaks_ready);
		failed = 1;
	}
	printf("result mode=durable reports=%zu batch=%zu jobs=%u per_s=%.0f cpu_us=%.1f "
	       "commit_ms=%.2f quarantined=%zu refused=%zu leaks=%zu\n", c->n, o->batch,
	       o->jobs > 1 ? o->jobs : 1, rate, pc / (double)c->n * 1e6, commits ? commit_s / (double)commits * 1e3 : 0.0,
	       quarantined, refused, v->leaks_ready);
	free(v);
	free(q);
	free(f);
	free(ids);
	free(sq);
	sx_intake_finish(&ic);
	sx_store_close(s);
	return failed;
}

/* -------------------------------------------------------- sqlite-only */

static int run_sqlite(const struct opts *o)
{
	struct sx_store *s = open_store(o->db);
	size_t n = o->n, rs = o->row_size;
	/* Pre-built rows: mail text of row_size bytes, evidence and manifest
	 * JSON of the usual size, hex SHA-256; all made before the clock. */
	uint8_t *mail = malloc(n * rs + 1);
	char (*sha)[65] = calloc(n ? n : 1, sizeof *sha);
	if (!mail || !sha)
		die("out of memory (%zu rows of %zu bytes)", n, rs);
	struct rng r = { o->seed };
	uint64_t x = 0;
	for (size_t i = 0; i < n * rs; i++) {
		if (i % 8 == 0)
			x = rnd(&r);
		mail[i] = (uint8_t)(32 + ((x >> (8 * (i % 8))) & 0xff) % 95);
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(mail + i * rs, "Received: ", 10);
		unsigned char md[32];
		unsigned int mdlen;
		EVP_Digest(mail + i * rs, rs, md, &mdlen, EVP_sha256(), NULL);
		sx_hex(md, sizeof md, sha[i]);
	}
	static const char evidence[] =
		"[{\"flag\":\"labeling\",\"check\":\"labeling.opt-out\",\"where\":\"body\","
		"\"detail\":\"no opt-out address or URL found\",\"article\":\"Art. 4(1)(iii)\"},"
		"{\"flag\":\"spoofing\",\"check\":\"spoofing.spf\",\"where\":\"Authentication-"
		"Results\",\"detail\":\"spf=fail\",\"article\":\"Art. 5\"}]";
	static const char manifest[] =
		"[{\"part\":\"\",\"where\":\"To\",\"kind\":\"address\",\"encoding\":\"raw\","
		"\"count\":1,\"offset\":812,\"length\":25},{\"part\":\"1\",\"where\":\"body\","
		"\"kind\":\"address\",\"encoding\":\"url\",\"count\":2,\"offset\":2211,"
		"\"length\":25}]";
	printf("sqlite only: sx_store_report_add of %zu pre-built rows of %zu bytes into %s, "
	       "group commit every %zu\n", n, rs, o->db, o->batch);
	size_t commits = 0;
	double commit_s = 0;
	int64_t seq;
	char id[SX_REPORT_ID_LEN + 1];
	int dup;
	double w0 = mono_s(), c0 = cpu_s();
	for (size_t i = 0; i < n; i++) {
		if (i % o->batch == 0 && sx_store_batch_begin(s) != 0)
			die("sx_store_batch_begin: %s", sx_store_errmsg(s));
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		struct sx_report_new row = {
			.received_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			.source = SX_SRC_MONITOR,
			.state = SX_REPORT_READY,
			.source_ip = "203.0.113.45",
			.source_port = 0,
			.isp = 0,
			.flags = SX_FLAG_LABELING | SX_FLAG_SPOOFING,
			.categories = SX_CAT_JAPANESE,
			.evidence_json = evidence,
			.manifest_json = manifest,
			.redactions = 3,
			.subject = "【期間限定】最大80％オフの特別セール",
			.sha256 = sha[i],
			.mail = mail + i * rs,
			.mail_len = rs,
		};
		int rc = sx_store_report_add(s, &row, &seq, id, &dup);
		if (rc != 0)
			die("sx_store_report_add: %s", sx_store_errmsg(s));
		if ((i + 1) % o->batch == 0 || i + 1 == n) {
			double t0 = mono_s();
			if (sx_store_batch_commit(s) != 0)
				die("sx_store_batch_commit: %s", sx_store_errmsg(s));
			commit_s += mono_s() - t0;
			commits++;
		}
	}
	double w = mono_s() - w0, cp = cpu_s() - c0;
	double rate = (double)n / w;
	printf("  %.0f rows/s  %.1f MB/s   (wall %.2f s; CPU %.2f s = %.1f us per row)\n", rate,
	       rate * (double)rs / 1e6, w, cp, cp / (double)n * 1e6);
	printf("  commits: %zu, %.2f ms each on average, %.1f %% of the wall time\n", commits,
	       commits ? commit_s / (double)commits * 1e3 : 0.0, 100 * commit_s / w);
	printf("result mode=sqlite-only rows=%zu row_bytes=%zu batch=%zu per_s=%.0f cpu_us=%.1f "
	       "commit_ms=%.2f\n", n, rs, o->batch, rate, cp / (double)n * 1e6,
	       commits ? commit_s / (double)commits * 1e3 : 0.0);
	free(mail);
	free(sha);
	sx_store_close(s);
	return 0;
}

/* --------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fputs("usage: ingest-bench --pure N [--runs R] [--stages K] [--db PATH]\n"
	      "       ingest-bench --durable N --db PATH [--batch B] [--jobs J] [--submitter NAME]\n"
	      "       ingest-bench --sqlite-only N --db PATH [--batch B] [--row-size BYTES]\n"
	      "  common: [--seed S] [--verify K] [--max-quarantine PCT] [--dump DIR]\n"
	      "  --stages K        time each step over the first K reports (a replica)\n"
	      "  --verify K        outputs checked against the generator's identifiers [1000]\n"
	      "  --max-quarantine  percent quarantined or refused before it fails [3]\n"
	      "  --dump DIR        write quarantined, refused and leaking reports there\n"
	      "  --corpus-only N   generate N reports, print the corpus figures and, with\n"
	      "                    --dump DIR, write them all there\n", f);
}

static size_t num(const char *s, const char *opt)
{
	char *e;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || *e || e == s)
		die("%s: not a number: %s", opt, s);
	return (size_t)v;
}

int main(int argc, char **argv)
{
	struct opts o = { .batch = DEFAULT_BATCH, .seed = DEFAULT_SEED, .runs = 1,
			  .verify = DEFAULT_VERIFY, .max_q = DEFAULT_MAX_QUARANTINE,
			  .row_size = DEFAULT_ROW_SIZE };
	int corpus_only = 0;
	static const struct option lo[] = {
		{ "pure", required_argument, NULL, 'p' },
		{ "durable", required_argument, NULL, 'd' },
		{ "sqlite-only", required_argument, NULL, 'q' },
		{ "db", required_argument, NULL, 'D' },
		{ "batch", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'J' },
		{ "seed", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "stages", required_argument, NULL, 'S' },
		{ "verify", required_argument, NULL, 'v' },
		{ "max-quarantine", required_argument, NULL, 'm' },
		{ "row-size", required_argument, NULL, 'R' },
		{ "submitter", required_argument, NULL, 'u' },
		{ "dump", required_argument, NULL, 'x' },
		{ "corpus-only", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': o.mode = M_PURE; o.n = num(optarg, "--pure"); break;
		case 'd': o.mode = M_DURABLE; o.n = num(optarg, "--durable"); break;
		case 'q': o.mode = M_SQLITE; o.n = num(optarg, "--sqlite-only"); break;
		case 'C': o.mode = M_PURE; corpus_only = 1; o.n = num(optarg, "--corpus-only");
			break;
		case 'D': o.db = optarg; break;
		case 'b': o.batch = num(optarg, "--batch"); break;
		case 'J': o.jobs = (unsigned)num(optarg, "--jobs"); break;
		case 's': o.seed = num(optarg, "--seed"); break;
		case 'r': o.runs = (unsigned)num(optarg, "--runs"); break;
		case 'S': o.stages = num(optarg, "--stages"); break;
		case 'v': o.verify = num(optarg, "--verify"); break;
		case 'm': o.max_q = strtod(optarg, NULL); break;
		case 'R': o.row_size = num(optarg, "--row-size"); break;
		case 'u': o.submitter = optarg; break;
		case 'x': o.dump = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.mode == M_NONE || o.n == 0 || o.batch == 0 || o.runs == 0 ||
	    (o.mode != M_PURE && o.db == NULL) || (o.mode == M_SQLITE && o.row_size < 64)) {
		usage(stderr);
		return 2;
	}
	if (o.dump && mkdir(o.dump, 0700) != 0 && errno != EEXIST)
		die("cannot make %s: %s", o.dump, strerror(errno));

	if (o.mode == M_SQLITE)
		return run_sqlite(&o) ? 3 : 0;

	iconv_setup();
	struct corpus c;
	double g0 = mono_s();
	make_corpus(o.seed, o.n, &c);
	print_corpus(&c, o.seed);
	printf("  generated in %.2f s\n", mono_s() - g0);
	fflush(stdout);
	int failed = 0;
	if (corpus_only) {
		for (size_t i = 0; o.dump && i < c.n; i++)
			dump_item(o.dump, i, &c.v[i], "sample");
	} else if (o.mode == M_PURE) {
		failed = run_pure(&o, &c);
	} else {
		failed = run_durable(&o, &c);
	}
	free_corpus(&c);
	iconv_close(cd_jis);
	iconv_close(cd_sjis);
	return failed ? 3 : 0;
}
