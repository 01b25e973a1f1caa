#include "analyze.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_label.h"
#include "analyze_text.h"
#include "buf.h"
#include "codec.h"
#include "err.h"

/* Japanese: kana and kanji at least this share of the letters, with some
 * kana (kanji alone is Chinese as often as not). */
#define SX_JAPANESE_SHARE_PCT 10
#define SX_JAPANESE_MIN_CHARS 3
/* Foreign: not Japanese, with at least this many letters (kanji included:
 * Chinese is foreign). */
#define SX_FOREIGN_MIN_LETTERS 8
/* Garbled: at least this many U+FFFD (or mojibake characters) ... */
#define SX_GARBLED_MIN 4
/* ... making up this share of all characters (U+FFFD) ... */
#define SX_GARBLED_REPLACEMENT_PCT 5
/* ... or of the non-ASCII characters (mojibake). */
#define SX_GARBLED_MOJIBAKE_PCT 50
/* One header field's unfolded value examined. */
#define SX_ANALYZE_FIELD_MAX (64 * 1024)

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Drops a UTF-8 sequence left incomplete by a truncating snprintf. */
static void utf8_fix_tail(char *s)
{
	size_t n = strlen(s), back = 0;
	while (back < 3 && back < n && ((unsigned char)s[n - 1 - back] & 0xc0) == 0x80)
		back++;
	if (back >= n)
		return;
	unsigned char lead = (unsigned char)s[n - 1 - back];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (need > back + 1)
		s[n - 1 - back] = '\0';
}

/* Records one evidence item (flag 0: it explains a category) and raises the
 * flag; when the list is full the flag is still raised. */
static void evidence(struct sx_analysis *a, unsigned flag, const char *check, const char *where,
		     const char *article, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void evidence(struct sx_analysis *a, unsigned flag, const char *check, const char *where,
		     const char *article, const char *fmt, ...)
{
	a->flags |= flag;
	if (a->nev >= SX_EVIDENCE_MAX)
		return;
	struct sx_evidence *e = &a->ev[a->nev++];
	e->flag = (enum sx_flag)flag;
	snprintf(e->check, sizeof e->check, "%s", check);
	snprintf(e->where, sizeof e->where, "%s", where);
	snprintf(e->article, sizeof e->article, "%s", article);
	utf8_fix_tail(e->where);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof e->detail, fmt, ap);
	va_end(ap);
	utf8_fix_tail(e->detail);
}

/* Unfolds f into v. Returns 0, 1 when the value is too long to examine
 * (the field is skipped), or SX_ENOMEM. */
static int field_value(const struct sx_mail *m, const struct sx_hfield *f, struct sx_buf *v)
{
	sx_buf_reset(v, SX_ANALYZE_FIELD_MAX);
	int rc = sx_mail_unfold(m, f, v);
	return rc == SX_ENOMEM ? rc : rc < 0 ? 1 : 0;
}

static int has_field(const struct sx_mail *m, const char *name)
{
	unsigned iter = 0;
	return sx_mail_field(m, 0, name, &iter) != NULL;
}

/* ---- spoofing (Art. 5) ---- */

/* Copies s lower-cased and without its comments (so "(sender IP is ...)"
 * cannot be read as a result) into out, NUL-terminated. */
static int strip_comments(const uint8_t *s, size_t n, struct sx_buf *out)
{
	sx_buf_reset(out, SX_ANALYZE_FIELD_MAX);
	int rc = sx_buf_reserve(out, n + 1);
	if (rc < 0)
		return rc;
	char *o = (char *)sx_buf_tail(out);
	size_t k = 0;
	int depth = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && depth && i + 1 < n) {
			i++;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && depth)
			depth--;
		else if (!depth)
			o[k++] = (char)lower(s[i]);
	}
	o[k] = '\0';
	sx_buf_commit(out, k);
	return 0;
}

/* The result of method ("spf", "dkim", "dmarc") in a comment-free,
 * lower-cased Authentication-Results value, starting at *from. */
static int method_result(const char *s, size_t n, const char *method, size_t *from, char *res,
			 size_t reslen)
{
	size_t l = strlen(method);
	for (size_t i = *from; i + l < n; i++) {
		if (memcmp(s + i, method, l) != 0 || s[i + l] != '=')
			continue;
		if (i > 0 && s[i - 1] != ';' && s[i - 1] != ' ' && s[i - 1] != '\t')
			continue;
		size_t st = i + l + 1, e = st;
		while (e < n && s[e] >= 'a' && s[e] <= 'z')
			e++;
		snprintf(res, reslen, "%.*s", (int)(e - st), s + st);
		*from = e;
		return 1;
	}
	return 0;
}

static int spoofing(const struct sx_mail *m, const struct sx_source *src, struct sx_analysis *a,
		    struct sx_buf *v, struct sx_buf *clean)
{
	static const char *const methods[] = { "spf", "dkim", "dmarc" };
	int done[3] = { 0, 0, 0 };
	unsigned iter = 0;
	const struct sx_hfield *f;
	/* ARC-Authentication-Results is another field name: not read. */
	while ((f = sx_mail_field(m, 0, "Authentication-Results", &iter)) != NULL) {
		int rc = field_value(m, f, v);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		if ((rc = strip_comments(sx_buf_head(v), sx_buf_used(v), clean)) < 0)
			return rc == SX_ENOMEM ? rc : 0;
		const char *c = (const char *)sx_buf_head(clean);
		size_t n = sx_buf_used(clean);
		size_t idl = 0;
		while (idl < n && c[idl] != ';' && c[idl] != ' ' && c[idl] != '\t')
			idl++;
		for (int k = 0; k < 3; k++) {
			size_t from = 0;
			char res[16];
			while (!done[k] &&
			       method_result(c, n, methods[k], &from, res, sizeof res)) {
				int bad = strcmp(res, "fail") == 0 ||
					  (k == 0 && strcmp(res, "softfail") == 0);
				if (!bad)
					continue;
				done[k] = 1;
				char check[32];
				snprintf(check, sizeof check, "spoofing.%s", methods[k]);
				evidence(a, SX_FLAG_SPOOFING, check, "Authentication-Results",
					 "Art. 5", "%s=%s reported by %.*s", methods[k], res,
					 (int)(idl > 60 ? 60 : idl), c);
			}
		}
	}
	iter = 0;
	while ((f = sx_mail_field(m, 0, "Received-SPF", &iter)) != NULL) {
		int rc = field_value(m, f, v);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		const uint8_t *s = sx_buf_head(v);
		size_t n = sx_buf_used(v), i = 0;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		char word[16];
		size_t w = 0;
		while (i < n && w + 1 < sizeof word && lower(s[i]) >= 'a' && lower(s[i]) <= 'z')
			word[w++] = (char)lower(s[i++]);
		word[w] = '\0';
		if (strcmp(word, "fail") == 0 || strcmp(word, "softfail") == 0) {
			evidence(a, SX_FLAG_SPOOFING, "spoofing.spf", "Received-SPF", "Art. 5",
				 "Received-SPF: %s", word);
			break;
		}
	}
	if (src && src->found && src->forged)
		evidence(a, SX_FLAG_SPOOFING, "spoofing.received", "Received", "Art. 5", "%s",
			 src->forged_evidence);
	return 0;
}

/* ---- opt-in (Art. 3) and labeling (Art. 4) ---- */

/* The display name of the From field, decoded, into name ("" if none).
 * An address or a redaction standing where the name goes is no name. */
static int from_name(const struct sx_mail *m, struct sx_buf *v, struct sx_buf *dec, char *name,
		     size_t len)
{
	name[0] = '\0';
	unsigned iter = 0;
	const struct sx_hfield *f = sx_mail_field(m, 0, "From", &iter);
	if (!f)
		return 0;
	int rc = field_value(m, f, v);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	sx_buf_reset(dec, SX_ANALYZE_FIELD_MAX);
	size_t n = sx_buf_used(v);
	if (n > SX_ANALYZE_FIELD_MAX / 4)
		n = SX_ANALYZE_FIELD_MAX / 4;
	rc = sx_2047_decode(sx_buf_head(v), n, "shift_jis", dec, NULL);
	if (rc < 0)
		return rc == SX_ENOMEM ? rc : 0;
	size_t dn = sx_buf_used(dec), st = 0, e = 0;
	if (dn == 0)
		return 0;
	const char *s = (const char *)sx_buf_head(dec);
	const char *lt = memchr(s, '<', dn);
	const char *lp = memchr(s, '(', dn);
	if (lt) {
		e = (size_t)(lt - s);
	} else if (lp) { /* obsolete "addr (Name)" */
		st = (size_t)(lp - s) + 1;
		const char *rp = memchr(lp, ')', dn - st + 1);
		e = rp ? (size_t)(rp - s) : dn;
	}
	while (st < e && (s[st] == ' ' || s[st] == '\t' || s[st] == '"'))
		st++;
	while (e > st && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '"'))
		e--;
	if (e == st || memchr(s + st, '@', e - st) ||
	    (e - st == 10 && memcmp(s + st, "[redacted]", 10) == 0))
		return 0;
	snprintf(name, len, "%.*s", (int)(e - st), s + st);
	utf8_fix_tail(name);
	return 0;
}

static int labeling(const struct sx_mail *m, int monitor, struct sx_label_words *words,
		    struct sx_analysis *a, struct sx_buf *v, struct sx_buf *dec)
{
	struct sx_ad ad;
	sx_label_advertising(words, &ad);
	a->advertising = ad.url || ad.keyword;
	if (!a->advertising)
		return 0;
	if (monitor) {
		char url[96] = "", word[80] = "";
		if (ad.url)
			snprintf(url, sizeof url, "URL host %s (%s)", ad.url_host, ad.url_where);
		if (ad.keyword)
			snprintf(word, sizeof word, "%soffer word \"%s\" (%s)", ad.url ? ", " : "",
				 ad.keyword_text, ad.keyword_where);
		evidence(a, SX_FLAG_OPTIN, "opt-in", ad.url ? ad.url_where : ad.keyword_where,
			 "Art. 3(1)", "advertising sent to a monitor address: %s%s", url, word);
	}

	struct sx_labels labels;
	struct sx_labels *l = &labels;
	sx_label_scan(words, l);
	char name[SX_LABEL_WORD * 2];
	int rc = from_name(m, v, dec, name, sizeof name);
	if (rc < 0)
		return rc;
	if (!name[0] && !l->name[0])
		evidence(a, SX_FLAG_LABELING, "labeling.sender-name", "From", "Art. 4(i)",
			 "no display name in From and no sender name in the body "
			 "(送信者, 運営, 株式会社, Inc., ...)");
	if (!l->optout) {
		if (l->optout_stmt[0])
			evidence(a, SX_FLAG_LABELING, "labeling.opt-out", "body",
				 "Art. 4(ii); Ord. Art. 9(i)",
				 "opt-out statement \"%s\" without an address or URL "
				 "within %d bytes",
				 l->optout_stmt, SX_LABEL_NEAR);
		else
			evidence(a, SX_FLAG_LABELING, "labeling.opt-out", "body",
				 "Art. 4(ii); Ord. Art. 9(i)",
				 "no opt-out statement (配信停止, 受信拒否, unsubscribe, "
				 "...) beside an address or URL");
	}
	if (!l->postal[0])
		evidence(a, SX_FLAG_LABELING, "labeling.postal-address", "body",
			 "Art. 4(iii); Ord. Art. 9(ii)",
			 "no postal address (〒 and code, prefecture and city, or street and "
			 "postal code)");
	if (!l->contact) {
		if (l->contact_word[0])
			evidence(a, SX_FLAG_LABELING, "labeling.contact", "body",
				 "Art. 4(iii); Ord. Art. 9(iii)",
				 "\"%s\" without an address, URL or phone number within %d bytes",
				 l->contact_word, SX_LABEL_NEAR);
		else
			evidence(a, SX_FLAG_LABELING, "labeling.contact", "body",
				 "Art. 4(iii); Ord. Art. 9(iii)",
				 "no complaint or inquiry contact (苦情, 問い合わせ, "
				 "contact, ...)");
	}
	return 0;
}

/* ---- categories ---- */

static const char *const virus_ext[] = {
	"exe", "scr", "pif", "com", "bat", "cmd", "js", "vbs", "jar", "lnk", "iso", "img",
};

/* The attachment name of part p (Content-Disposition filename, else
 * Content-Type name), decoded, into out. Returns 1 when there is one. */
static int part_filename(const struct sx_mail *m, unsigned p, struct sx_buf *v,
			 struct sx_buf *dec, struct sx_buf *out)
{
	static const struct { const char *field, *param; } where[] = {
		{ "Content-Disposition", "filename" }, { "Content-Type", "name" },
	};
	for (size_t k = 0; k < 2; k++) {
		unsigned iter = 0;
		const struct sx_hfield *f = sx_mail_field(m, (int)p, where[k].field, &iter);
		if (!f)
			continue;
		int rc = field_value(m, f, v);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		sx_buf_reset(dec, SX_ANALYZE_FIELD_MAX);
		rc = sx_mail_param(sx_buf_head(v), sx_buf_used(v), where[k].param, dec);
		if (rc == SX_ENOMEM)
			return rc;
		if (rc < 0 || sx_buf_used(dec) == 0)
			continue;
		sx_buf_reset(out, SX_ANALYZE_FIELD_MAX);
		size_t n = sx_buf_used(dec) < 1024 ? sx_buf_used(dec) : 1024;
		/* Mailers put encoded-words in quoted names, against RFC 2047. */
		rc = sx_2047_decode(sx_buf_head(dec), n, "shift_jis", out, NULL);
		if (rc == SX_ENOMEM)
			return rc;
		return rc == 0 && sx_buf_used(out) > 0;
	}
	return 0;
}

static int virus(const struct sx_mail *m, struct sx_analysis *a, struct sx_buf *v,
		 struct sx_buf *dec, struct sx_buf *name)
{
	for (unsigned p = 0; p < m->nparts; p++) {
		const struct sx_part *pt = &m->parts[p];
		if (pt->is_multipart || pt->is_message)
			continue;
		int rc = part_filename(m, p, v, dec, name);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		/* Windows ignores trailing dots and blanks: "x.exe. " runs. */
		const char *s = (const char *)sx_buf_head(name);
		size_t n = sx_buf_used(name);
		while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		const char *dot = memrchr(s, '.', n);
		if (!dot)
			continue;
		size_t el = (size_t)(s + n - dot - 1);
		char ext[8];
		if (el == 0 || el >= sizeof ext)
			continue;
		for (size_t i = 0; i < el; i++)
			ext[i] = (char)lower((unsigned char)dot[1 + i]);
		ext[el] = '\0';
		int hit = 0;
		for (size_t k = 0; k < sizeof virus_ext / sizeof virus_ext[0]; k++)
			hit |= strcmp(ext, virus_ext[k]) == 0;
		if (!hit)
			continue;
		a->categories |= SX_CAT_VIRUS;
		/* "invoice.pdf.exe": the first extension is the disguise. */
		const char *prev = memrchr(s, '.', (size_t)(dot - s));
		char dbl[32] = "";
		if (prev && dot - prev > 1 && dot - prev <= 6)
			snprintf(dbl, sizeof dbl, " (double extension %.*s)",
				 (int)(s + n - prev), prev);
		char where[64];
		snprintf(where, sizeof where, pt->path[0] ? "part %s" : "message", pt->path);
		evidence(a, 0, "category.virus", where, "", "attachment \"%.*s\": executable "
			 "extension .%s%s", (int)(n > 80 ? 80 : n), s, ext, dbl);
	}
	return 0;
}

static void text_categories(const struct sx_analyze_text *t, struct sx_analysis *a)
{
	struct sx_text_stats st;
	memset(&st, 0, sizeof st);
	sx_analyze_text_stats(&st, sx_buf_head(&t->subject), sx_buf_used(&t->subject));
	sx_analyze_text_stats(&st, sx_buf_head(&t->body), sx_buf_used(&t->body));
	size_t jp = st.kana + st.kanji;
	size_t letters = st.latin + st.other_letters + jp;

	int replaced = st.replacement >= SX_GARBLED_MIN &&
		       st.replacement * 100 >= st.chars * SX_GARBLED_REPLACEMENT_PCT;
	int mojibake = st.mojibake >= SX_GARBLED_MIN &&
		       st.mojibake * 100 >= st.nonascii * SX_GARBLED_MOJIBAKE_PCT;
	if (t->bad_charset[0] || t->bad_cte || replaced || mojibake) {
		char where[64];
		snprintf(where, sizeof where, t->bad_part[0] ? "part %s" : "body", t->bad_part);
		a->categories |= SX_CAT_GARBLED;
		if (t->bad_charset[0])
			evidence(a, 0, "category.garbled", where, "", "unknown charset \"%s\"",
				 t->bad_charset);
		else if (t->bad_cte)
			evidence(a, 0, "category.garbled", where, "",
				 "transfer encoding cannot be decoded");
		else if (replaced)
			evidence(a, 0, "category.garbled", "body", "",
				 "%zu of %zu characters could not be decoded (U+FFFD)",
				 st.replacement, st.chars);
		else
			evidence(a, 0, "category.garbled", "body", "",
				 "%zu of %zu non-ASCII characters look like mojibake", st.mojibake,
				 st.nonascii);
	}
	if (st.kana > 0 && jp >= SX_JAPANESE_MIN_CHARS &&
	    jp * 100 >= letters * SX_JAPANESE_SHARE_PCT) {
		a->categories |= SX_CAT_JAPANESE;
		evidence(a, 0, "category.japanese", "body", "",
			 "%zu kana and %zu kanji of %zu letters", st.kana, st.kanji, letters);
	} else if (!replaced && !mojibake && letters >= SX_FOREIGN_MIN_LETTERS) {
		a->categories |= SX_CAT_FOREIGN;
		evidence(a, 0, "category.foreign", "body", "",
			 "%zu letters, %zu of them kana or kanji", letters, jp);
	}
}

int sx_analyze(const struct sx_mail *m, int monitor, const struct sx_source *src,
	       struct sx_analysis *out)
{
	memset(out, 0, sizeof *out);
	struct sx_analyze_text t;
	struct sx_buf v, dec, name;
	sx_buf_init(&v, SX_ANALYZE_FIELD_MAX);
	sx_buf_init(&dec, SX_ANALYZE_FIELD_MAX);
	sx_buf_init(&name, SX_ANALYZE_FIELD_MAX);
	int rc = sx_analyze_text_collect(m, &t);
	/* On the heap: the record of word occurrences is some 15 KB. */
	struct sx_label_words *words = rc == 0 ? malloc(sizeof *words) : NULL;
	if (rc == 0 && !words)
		rc = SX_ENOMEM;
	if (rc == 0)
		rc = sx_label_words_init(words, sx_buf_head(&t.subject), sx_buf_used(&t.subject),
					 sx_buf_head(&t.body), sx_buf_used(&t.body));
	if (rc == 0)
		rc = spoofing(m, src, out, &v, &dec);
	if (rc == 0)
		rc = labeling(m, monitor, words, out, &v, &dec);
	if (rc == 0) {
		if (m->no_header || m->nparts == 0 || m->parts[0].hcount == 0) {
			out->categories |= SX_CAT_INSUFFICIENT;
			evidence(out, 0, "category.insufficient", "header", "",
				 "the message has no header fields");
		} else if (!has_field(m, "Received") && !has_field(m, "From") &&
			   !has_field(m, "Date") && !has_field(m, "Subject")) {
			out->categories |= SX_CAT_INSUFFICIENT;
			evidence(out, 0, "category.insufficient", "header", "",
				 "no Received, From, Date or Subject field");
		}
		rc = virus(m, out, &v, &dec, &name);
	}
	if (rc == 0)
		text_categories(&t, out);
	free(words);
	sx_analyze_text_finish(&t);
	sx_buf_finish(&v);
	sx_buf_finish(&dec);
	sx_buf_finish(&name);
	return rc;
}

const char *sx_flag_name(enum sx_flag f)
{
	switch (f) {
	case SX_FLAG_OPTIN:
		return "opt-in";
	case SX_FLAG_LABELING:
		return "labeling";
	case SX_FLAG_SPOOFING:
		return "spoofing";
	}
	return "unknown";
}

const char *sx_category_name(enum sx_category c)
{
	switch (c) {
	case SX_CAT_JAPANESE:
		return "japanese";
	case SX_CAT_FOREIGN:
		return "foreign";
	case SX_CAT_GARBLED:
		return "garbled";
	case SX_CAT_VIRUS:
		return "virus";
	case SX_CAT_INSUFFICIENT:
		return "insufficient";
	}
	return "unknown";
}
