/*
 * leak.c: the independent leak check (leak.h), the walk over a message.
 *
 * Exhaustive rather than structural: every header field is read raw,
 * unfolded and RFC 2047 decoded (its 8-bit bytes in every Japanese charset,
 * each encoded-word's bytes on their own too); every leaf body raw, in its
 * declared transfer encoding and, when it looks like one, in base64 and
 * quoted-printable whatever it is labelled; multipart preambles and
 * epilogues, junk before the first header and, for long identifiers, the
 * whole message as it is. Encoded message parts are parsed and walked in
 * their turn. leak_views.c turns each of these into all its further views.
 *
 * What cannot be read is said, not skipped: an unknown transfer encoding,
 * 8-bit text in an unknown charset, a compressed container (archives, PDF
 * with filtered streams, Office files, TNEF) or inline uuencode/BinHex/yEnc
 * makes the verdict UNDECODABLE unless an identifier is found first. Images,
 * audio and video are searched as bytes only: text drawn in pixels is not
 * found, and cannot be.
 */
#include "leak.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "charset.h"
#include "codec.h"
#include "err.h"
#include "leak_impl.h"

/* snprintf for names and places: a cut is marked "...". */
static void put(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void put(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (w >= 0 && (size_t)w >= outlen && outlen >= 4)
		memcpy(out + outlen - 4, "...", 4);
}

/* The part's path as the report names it, encoded message parts included. */
static void part_path(const struct lk_ctx *x, const struct sx_part *p, char *out, size_t outlen)
{
	if (x->prefix[0] && p->path[0])
		put(out, outlen, "%s.%s", x->prefix, p->path);
	else
		put(out, outlen, "%s", x->prefix[0] ? x->prefix : p->path);
}

/* "part 1.2" or "top-level", for the reasons. */
static void part_name(const struct lk_ctx *x, const struct sx_part *p, char *out, size_t outlen)
{
	char path[sizeof x->prefix + SX_MIME_PATH + 2];
	part_path(x, p, path, sizeof path);
	if (path[0])
		put(out, outlen, "part %s", path);
	else
		put(out, outlen, "top-level");
}

static int stopped(const struct lk_ctx *x)
{
	return x->found || x->over;
}

static const uint8_t *bhead(const struct sx_buf *b)
{
	return sx_buf_used(b) ? sx_buf_head(b) : (const uint8_t *)"";
}

static int has8(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Reasons name what the mail itself names only from lists of our own: a
 * field name, media type or charset label is the sender's text, and one
 * could spell an identifier in a form no check can rule out (the name of a
 * field can be the base64 of an address). Anything else is named by place.
 */
static const char *const known_fields[] = {
	"Return-Path", "Received", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject",
	"Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition", "Content-ID", "Content-Description",
	"Content-Location", "Content-Language", "Delivered-To", "X-Original-To", "Envelope-To",
	"X-Apparently-To", "X-Rcpt-To", "X-Envelope-To", "X-Envelope-From", "X-Forwarded-To",
	"X-Forwarded-For", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Bcc", "Resent-Date", "Resent-Message-ID", "Return-Receipt-To",
	"Disposition-Notification-To", "Errors-To", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Id", "List-Post", "List-Help", "Authentication-Results",
	"ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal", "DKIM-Signature",
	"Received-SPF", "X-Mailer", "User-Agent", "X-Priority", "Importance", "Precedence",
	"Organization", "Comments", "Keywords", "Thread-Topic", "Thread-Index", "X-Sender",
	"X-Originating-IP", "Feedback-ID", "Auto-Submitted", "X-Spam-Status", "X-Spam-Flag",
};

/* The field's name when it is a known one, else its place in its header. */
static void field_name(const struct sx_mail *m, const struct sx_hfield *f, char *out,
		       size_t outlen)
{
	const char *p = (const char *)m->buf + f->name.off;
	for (size_t i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++) {
		if (strlen(known_fields[i]) == f->name.len &&
		    strncasecmp(known_fields[i], p, f->name.len) == 0) {
			put(out, outlen, "%s", known_fields[i]);
			return;
		}
	}
	size_t idx = (size_t)(f - m->fields) - m->parts[f->part].hfirst;
	put(out, outlen, "field #%zu", idx + 1);
}

static const char *const known_media[] = {
	"application/octet-stream", "application/pdf", "application/msword",
	"application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/rtf",
	"application/x-msdownload", "application/x-dosexec", "text/plain", "text/html",
	"image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp",
	"audio/mpeg", "video/mp4", "message/rfc822",
};

static const char *const top_types[] = {
	"application", "audio", "font", "image", "message", "model", "multipart", "text",
	"video",
};

/* The part's media type when it is a known one, else its top-level type. */
static const char *media_name(const struct sx_part *part, char *out, size_t outlen)
{
	char type[2 * SX_MIME_TOKEN + 2];
	snprintf(type, sizeof type, "%s/%s", part->type, part->subtype);
	for (size_t i = 0; i < sizeof known_media / sizeof known_media[0]; i++)
		if (strcmp(type, known_media[i]) == 0)
			return known_media[i];
	for (size_t i = 0; i < sizeof top_types / sizeof top_types[0]; i++) {
		if (strcmp(part->type, top_types[i]) == 0) {
			put(out, outlen, "%s/(other)", top_types[i]);
			return out;
		}
	}
	return "(unknown type)";
}

/* ---- header fields ---- */

/*
 * The bytes of every encoded-word on their own, joined: an identifier in an
 * encoded-word in an unknown charset is still found in its CP932, EUC-JP,
 * UTF-16 or UTF-8 form, and one that cannot be is reported.
 */
static int header_words(struct lk_ctx *x, const uint8_t *u, size_t n)
{
	struct sx_buf w, t;
	int rc = 0;

	sx_lk_get(x, &w, n + 16, 0);
	sx_lk_get(x, &t, n + 16, 0);
	for (size_t i = 0; i + 1 < n && rc == 0; i++) {
		if (u[i] != '=' || u[i + 1] != '?')
			continue;
		size_t cs = i + 2, q1 = cs;
		while (q1 < n && u[q1] != '?' && q1 - cs <= LK_CHARSET_MAX)
			q1++;
		if (q1 + 2 >= n || u[q1] != '?' || q1 == cs || u[q1 + 2] != '?')
			continue;
		char enc = (char)(u[q1 + 1] & ~0x20);
		if (enc != 'B' && enc != 'Q')
			continue;
		const uint8_t *text = u + q1 + 3;
		const uint8_t *end = memmem(text, n - (size_t)(text - u), "?=", 2);
		if (!end)
			continue;
		sx_buf_reset(&t, SIZE_MAX);
		rc = sx_2047_decode_text(enc, text, (size_t)(end - text), &t, NULL);
		if (rc == 0)
			rc = sx_buf_append(&w, bhead(&t), sx_buf_used(&t));
		char label[LK_CHARSET_MAX + 4];
		size_t ln = 0;
		while (cs + ln < q1 && u[cs + ln] != '*')
			label[ln] = (char)u[cs + ln], ln++;
		label[ln] = '\0';
		if (rc == 0 && !sx_charset_iconv_name(label) &&
		    !sx_lk_ascii_or_utf8(bhead(&t), sx_buf_used(&t)))
			sx_lk_undecodable(x, "%s: 8-bit encoded-word in an unknown charset cannot "
					  "be decoded", x->loc);
		i = (size_t)(end - u) + 1;
	}
	if (rc == 0 && sx_buf_used(&w))
		rc = sx_lk_view(x, bhead(&w), sx_buf_used(&w), "rfc2047 words", 0, 0);
	sx_lk_put(x, &w);
	sx_lk_put(x, &t);
	if (rc == SX_ETOOBIG) {
		sx_lk_undecodable(x, "%s: a decoding passed its bound", x->loc);
		rc = 0;
	}
	return rc;
}

static int header(struct lk_ctx *x, const struct sx_mail *m, const struct sx_hfield *f)
{
	static const char *const fallbacks[] = { "cp932", "euc-jp" };
	char who[sizeof x->prefix + SX_MIME_PATH + 8], name[32];
	struct sx_buf u, d;
	int rc;

	part_name(x, &m->parts[f->part], who, sizeof who);
	field_name(m, f, name, sizeof name);
	put(x->loc, sizeof x->loc, "%s header %s", who, name);
	x->charset = "";

	rc = sx_lk_view(x, m->buf + f->raw.off, f->raw.len, "raw", LK_V_TOKENS, 0);
	sx_lk_get(x, &u, f->value.len + 16, f->value.len + 16);
	sx_lk_get(x, &d, 4 * f->value.len + 256, f->value.len + 16);
	if (rc == 0)
		rc = sx_mail_unfold(m, f, &u);
	const uint8_t *up = bhead(&u);
	size_t un = sx_buf_used(&u);
	if (rc == 0)
		rc = sx_lk_view(x, up, un, "unfolded",
				LK_V_TOKENS | LK_V_DERIVE | LK_V_CONVERT, 0);
	if (rc == 0 && !stopped(x))
		rc = sx_2047_decode(up, un, NULL, &d, NULL);
	if (rc == 0 && !(sx_buf_used(&d) == un && memcmp(bhead(&d), up, un) == 0))
		rc = sx_lk_view(x, bhead(&d), sx_buf_used(&d), "rfc2047",
				LK_V_TOKENS | LK_V_DERIVE, 0);
	for (size_t i = 0; i < 2 && rc == 0 && !stopped(x) && has8(up, un) &&
			   !sx_utf8_valid(up, un); i++) {
		char step[48];
		sx_buf_reset(&d, SIZE_MAX);
		rc = sx_2047_decode(up, un, fallbacks[i], &d, NULL);
		put(step, sizeof step, "rfc2047 with 8-bit as %s", fallbacks[i]);
		if (rc == 0)
			rc = sx_lk_view(x, bhead(&d), sx_buf_used(&d), step,
					LK_V_TOKENS | LK_V_DERIVE, 0);
	}
	if (rc == 0 && !stopped(x))
		rc = header_words(x, up, un);
	sx_lk_put(x, &u);
	sx_lk_put(x, &d);
	if (rc == SX_ETOOBIG) { /* bounds sized above: not reached */
		sx_lk_undecodable(x, "%s: a decoding passed its bound", x->loc);
		rc = 0;
	}
	return rc;
}

/* ---- containers and opaque encodings ---- */

static const char *const compressed_types[] = {
	"application/zip", "application/x-zip", "application/x-zip-compressed",
	"application/gzip", "application/x-gzip", "application/x-gunzip", "application/x-tgz",
	"application/x-gtar", "application/x-rar", "application/x-rar-compressed",
	"application/vnd.rar", "application/x-7z-compressed", "application/x-compressed",
	"application/x-compress", "application/x-bzip", "application/x-bzip2",
	"application/x-xz", "application/x-lzma", "application/x-lzh",
	"application/x-lzh-compressed", "application/x-lha", "application/zstd",
	"application/x-zstd", "application/java-archive", "application/x-java-archive",
	"application/vnd.ms-cab-compressed", "application/ms-tnef", "application/vnd.ms-tnef",
	"application/epub+zip", "application/vnd.android.package-archive",
	"application/x-stuffit", "application/x-arj", "application/x-ace-compressed",
};

/* Type prefixes of formats that are zip files inside (Office, OpenDocument). */
static const char *const zip_families[] = {
	"application/vnd.openxmlformats-", "application/vnd.oasis.opendocument.",
	"application/vnd.ms-word.", "application/vnd.ms-excel.", "application/vnd.ms-powerpoint.",
	"application/vnd.apple.",
};

struct magic {
	const char *what;
	const char *bytes;
	size_t n;
	size_t at;
};

static const struct magic magics[] = {
	{ "zip", "PK\x03\x04", 4, 0 }, { "zip", "PK\x05\x06", 4, 0 },
	{ "zip", "PK\x07\x08", 4, 0 }, { "gzip", "\x1f\x8b", 2, 0 },
	{ "compress", "\x1f\x9d", 2, 0 }, { "bzip2", "BZh", 3, 0 },
	{ "xz", "\xfd" "7zXZ\x00", 6, 0 }, { "7z", "7z\xbc\xaf\x27\x1c", 6, 0 },
	{ "rar", "Rar!\x1a\x07", 6, 0 }, { "zstd", "\x28\xb5\x2f\xfd", 4, 0 },
	{ "cab", "MSCF\0\0\0\0", 8, 0 }, { "tnef", "\x78\x9f\x3e\x22", 4, 0 },
	{ "lzh", "-lh", 3, 2 }, { "stuffit", "StuffIt", 7, 0 },
};

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Whether a PDF has streams it does not show as they are: any /Filter, or
 * /Encrypt. Names may spell letters as #xx, and are compared decoded. */
static int pdf_opaque(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '/')
			continue;
		char name[16];
		size_t k = 0, j = i + 1;
		while (j < n && k < sizeof name - 1 && p[j] > 0x20 && p[j] < 0x7F &&
		       !strchr("/[]<>(){}%", p[j])) {
			if (p[j] == '#' && j + 2 < n && hexval(p[j + 1]) >= 0 &&
			    hexval(p[j + 2]) >= 0) {
				name[k++] = (char)(hexval(p[j + 1]) << 4 | hexval(p[j + 2]));
				j += 3;
				continue;
			}
			name[k++] = (char)p[j++];
		}
		name[k] = '\0';
		if (strcmp(name, "Filter") == 0 || strcmp(name, "Encrypt") == 0)
			return 1;
	}
	return 0;
}

/* The format of compressed data at p, or NULL. Zip is also looked for
 * anywhere in non-text parts: self-extracting archives put it after a stub. */
static const char *compressed_magic(const uint8_t *p, size_t n, int anywhere)
{
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
		const struct magic *g = &magics[i];
		if (n >= g->at + g->n && memcmp(p + g->at, g->bytes, g->n) == 0)
			return g->what;
	}
	/* a local file header: version needed below 0x40, high byte 0 */
	for (size_t off = 0; anywhere && off + 6 <= n;) {
		const uint8_t *q = memmem(p + off, n - off, "PK\x03\x04", 4);
		if (!q)
			break;
		size_t at = (size_t)(q - p);
		if (at + 6 <= n && q[4] < 0x40 && q[5] == 0)
			return "zip";
		off = at + 1;
	}
	size_t head = n < 1024 ? n : 1024;
	if (memmem(p, head, "%PDF-", 5) && pdf_opaque(p, n))
		return "pdf with compressed streams";
	return NULL;
}

/* Reports a part whose content (c, cn bytes) cannot be inspected. */
static void containers(struct lk_ctx *x, const struct sx_part *part, const char *who,
		       const uint8_t *c, size_t cn)
{
	char type[2 * SX_MIME_TOKEN + 2], named[SX_MIME_TOKEN + 16];
	const char *declared = NULL, *what = NULL;

	snprintf(type, sizeof type, "%s/%s", part->type, part->subtype);
	for (size_t i = 0; !declared && i < sizeof compressed_types / sizeof compressed_types[0];
	     i++)
		if (strcmp(type, compressed_types[i]) == 0)
			declared = compressed_types[i];
	for (size_t i = 0; !declared && i < sizeof zip_families / sizeof zip_families[0]; i++) {
		if (strncmp(type, zip_families[i], strlen(zip_families[i])) == 0) {
			snprintf(named, sizeof named, "%s*", zip_families[i]);
			declared = named;
		}
	}
	if ((strcmp(type, "application/pdf") == 0 || strcmp(type, "application/x-pdf") == 0) &&
	    pdf_opaque(c, cn))
		declared = "application/pdf";
	if (!declared)
		what = compressed_magic(c, cn, strcmp(part->type, "text") != 0);
	if (declared)
		sx_lk_undecodable(x, "compressed attachment %s in %s cannot be inspected",
				  declared, who);
	else if (what)
		sx_lk_undecodable(x, "compressed attachment %s (%s data) in %s cannot be "
				  "inspected", media_name(part, named, sizeof named), what, who);
}

/* Whether text at p holds a line starting with prefix (n bytes). */
static int line_starts(const uint8_t *p, size_t len, const char *prefix, size_t n)
{
	for (const uint8_t *q = p; q && (size_t)(q - p) + n <= len;) {
		if (memcmp(q, prefix, n) == 0)
			return 1;
		q = memchr(q, '\n', len - (size_t)(q - p));
		if (q)
			q++;
	}
	return 0;
}

/*
 * Encodings readers decode inside a text body: uuencode ("begin 644 name"
 * followed by an "M" line), BinHex and yEnc. The codecs sprex has do not
 * read them, so what they carry is unseen.
 */
static const char *inline_encoding(const uint8_t *p, size_t n)
{
	for (const uint8_t *q = p; (q = memmem(q, n - (size_t)(q - p), "begin ", 6)); q++) {
		if (q != p && q[-1] != '\n')
			continue;
		size_t i = (size_t)(q - p) + 6, d = 0;
		while (i < n && p[i] >= '0' && p[i] <= '7')
			i++, d++;
		if (d >= 3 && d <= 4 && i < n && p[i] == ' ') {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			if (nl && (size_t)(nl - p) + 1 < n && nl[1] == 'M')
				return "uuencoded";
		}
		if ((size_t)(q - p) + 6 >= n)
			break;
	}
	if (memmem(p, n, "(This file must be converted with BinHex", 40))
		return "BinHex";
	if (line_starts(p, n, "=ybegin ", 8))
		return "yEnc";
	return NULL;
}

/* ---- bodies ---- */

static int is_media(const struct sx_part *p)
{
	if (strcmp(p->type, "image") && strcmp(p->type, "audio") && strcmp(p->type, "video"))
		return 0;
	/* SVG and other XML images are text */
	return !strstr(p->subtype, "xml") && !strstr(p->subtype, "svg");
}

/* RTF escapes (\'hh bytes, \uN characters) decoded; everything else kept. */
static int rtf_unescape(const uint8_t *p, size_t n, struct sx_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (p[i] == '\\' && i + 3 < n && p[i + 1] == '\'') {
			if (hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0) {
				uint8_t b = (uint8_t)(hexval(p[i + 2]) << 4 | hexval(p[i + 3]));
				rc = sx_buf_append(out, &b, 1);
				i += 4;
				continue;
			}
		}
		if (p[i] == '\\' && i + 2 < n && p[i + 1] == 'u' &&
		    (p[i + 2] == '-' || (p[i + 2] >= '0' && p[i + 2] <= '9'))) {
			size_t j = i + 2;
			long v = 0;
			int neg = p[j] == '-';
			j += neg;
			while (j < n && p[j] >= '0' && p[j] <= '9' && v < 100000)
				v = v * 10 + (p[j++] - '0');
			if (neg)
				v = 65536 - v;
			if (v > 0 && v < 0x10000 && !(v >= 0xD800 && v <= 0xDFFF)) {
				uint8_t u[3];
				size_t k;
				if (v < 0x80) {
					u[0] = (uint8_t)v, k = 1;
				} else if (v < 0x800) {
					u[0] = (uint8_t)(0xC0 | v >> 6);
					u[1] = (uint8_t)(0x80 | (v & 0x3F)), k = 2;
				} else {
					u[0] = (uint8_t)(0xE0 | v >> 12);
					u[1] = (uint8_t)(0x80 | (v >> 6 & 0x3F));
					u[2] = (uint8_t)(0x80 | (v & 0x3F)), k = 3;
				}
				rc = sx_buf_append(out, u, k);
				i = j;
				if (i < n && p[i] == ' ')
					i++;
				if (i < n && p[i] == '?') /* the \uc1 fallback */
					i++;
				continue;
			}
		}
		rc = sx_buf_append(out, p + i, 1);
		i++;
	}
	return rc;
}

static int walk(struct lk_ctx *x, const struct sx_mail *m, const struct sx_mail_limits *lim);

/* A message/rfc822 part in base64 or quoted-printable: parsed from its
 * decoded bytes c and walked as a message of its own. */
static int nested(struct lk_ctx *x, const struct sx_part *part, const char *who,
		  const uint8_t *c, size_t cn, const struct sx_mail_limits *lim)
{
	struct sx_mail *m2 = NULL;
	char err[128], saved[sizeof x->prefix];
	int rc;

	if (x->nest >= LK_NEST_MAX) {
		sx_lk_undecodable(x, "%s: encoded messages nested more than %u deep", who,
				  LK_NEST_MAX);
		return 0;
	}
	rc = sx_mail_parse(c, cn, lim, &m2, err, sizeof err);
	if (rc == SX_ENOMEM)
		return rc;
	if (rc < 0) {
		sx_lk_undecodable(x, "%s: encoded message passes the parse limits", who);
		return 0;
	}
	memcpy(saved, x->prefix, sizeof saved);
	char path[sizeof x->prefix];
	part_path(x, part, path, sizeof path);
	memcpy(x->prefix, path, sizeof path);
	/* x->charset may point into m2's parts while it is walked: give the
	 * outer part's label back before m2 goes. */
	const char *saved_charset = x->charset;
	x->nest++;
	rc = walk(x, m2, lim);
	x->nest--;
	x->charset = saved_charset;
	memcpy(x->prefix, saved, sizeof saved);
	sx_mail_destroy(m2);
	return rc;
}

static int leaf(struct lk_ctx *x, const struct sx_mail *m, int idx,
		const struct sx_mail_limits *lim)
{
	const struct sx_part *part = &m->parts[idx];
	const uint8_t *b = m->buf + part->body.off;
	size_t n = part->body.len;
	char who[sizeof x->prefix + SX_MIME_PATH + 8];
	struct sx_buf dec, g;
	int rc = 0;

	part_name(x, part, who, sizeof who);
	put(x->loc, sizeof x->loc, "%s body", who);
	x->charset = part->charset;
	int media = is_media(part);
	int text = strcmp(part->type, "text") == 0;
	unsigned full = media ? 0u : LK_V_TOKENS | LK_V_DERIVE | LK_V_CONVERT;
	if (!media && strstr(part->subtype, "html"))
		full |= LK_V_HTML;

	/* Raw base64 is searched through its decoding; as it stands only for
	 * long needles (a mislabelled text that merely looks like it). */
	rc = sx_lk_view(x, b, n, "raw", sx_lk_b64block(b, n) ? LK_V_LONGONLY : full, 0);

	sx_lk_get(x, &dec, n + 16,
		  part->cte == SX_CTE_QP || part->cte == SX_CTE_BASE64 ? n + 16 : 0);
	sx_lk_get(x, &g, n + 16, 0);
	const uint8_t *c = b;
	size_t cn = n;
	if (rc == 0 && (part->cte == SX_CTE_QP || part->cte == SX_CTE_BASE64)) {
		rc = part->cte == SX_CTE_QP ? sx_qp_decode(b, n, &dec, NULL)
					    : sx_b64_decode(b, n, 0, &dec, NULL);
		c = bhead(&dec);
		cn = sx_buf_used(&dec);
		if (rc == 0)
			rc = sx_lk_view(x, c, cn, sx_cte_name(part->cte), full, 0);
	} else if (part->cte == SX_CTE_OTHER) {
		sx_lk_undecodable(x, "%s body: its transfer encoding (not 7bit, 8bit, binary, "
				  "quoted-printable or base64) cannot be decoded", who);
	}
	/* A mislabelled part must not hide anything: both decodings are tried
	 * whatever the label says, when the bytes look like them. */
	if (rc == 0 && !stopped(x) && part->cte != SX_CTE_BASE64 && sx_lk_looks_b64(b, n)) {
		rc = sx_b64_decode(b, n, 0, &g, NULL);
		if (rc == 0)
			rc = sx_lk_view(x, bhead(&g), sx_buf_used(&g), "base64 (guessed)", full,
					0);
		if (rc == 0)
			containers(x, part, who, bhead(&g), sx_buf_used(&g));
	}
	sx_buf_reset(&g, SIZE_MAX);
	if (rc == 0 && !stopped(x) && part->cte != SX_CTE_QP && sx_lk_looks_qp(b, n)) {
		rc = sx_qp_decode(b, n, &g, NULL);
		if (rc == 0)
			rc = sx_lk_view(x, bhead(&g), sx_buf_used(&g),
					"quoted-printable (guessed)", full, 0);
	}
	sx_buf_reset(&g, SIZE_MAX);
	if (rc == 0 && !stopped(x) && !media &&
	    (strstr(part->subtype, "rtf") || (cn >= 5 && memcmp(c, "{\\rtf", 5) == 0))) {
		rc = rtf_unescape(c, cn, &g);
		if (rc == 0)
			rc = sx_lk_view(x, bhead(&g), sx_buf_used(&g), "rtf-unescaped", full, 0);
	}
	if (rc == 0 && !stopped(x)) {
		containers(x, part, who, c, cn);
		const char *enc = media ? NULL : inline_encoding(c, cn);
		if (enc)
			sx_lk_undecodable(x, "%s body: inline %s data cannot be decoded", who,
					  enc);
		if (text && part->charset[0] && !sx_charset_iconv_name(part->charset) &&
		    !sx_lk_ascii_or_utf8(c, cn))
			sx_lk_undecodable(x, "%s body: 8-bit text in an unknown charset cannot be "
					  "decoded", who);
	}
	if (rc == 0 && !stopped(x) && part->is_message && part->first_child < 0 &&
	    (part->cte == SX_CTE_QP || part->cte == SX_CTE_BASE64))
		rc = nested(x, part, who, c, cn, lim);
	sx_lk_put(x, &dec);
	sx_lk_put(x, &g);
	if (rc == SX_ETOOBIG) { /* bounds sized above: not reached */
		sx_lk_undecodable(x, "%s body: a decoding passed its bound", who);
		rc = 0;
	}
	return rc;
}

/* A multipart's preamble and epilogue: no reader is meant to show them, but
 * many do (and non-MIME readers show everything). */
static int gaps(struct lk_ctx *x, const struct sx_mail *m, int idx)
{
	const struct sx_part *part = &m->parts[idx];
	const unsigned full = LK_V_TOKENS | LK_V_DERIVE | LK_V_CONVERT;
	size_t start = part->body.off, end = part->body.off + part->body.len;
	char who[sizeof x->prefix + SX_MIME_PATH + 8];
	int rc = 0;

	part_name(x, part, who, sizeof who);
	x->charset = "";
	int c = part->first_child, last = -1;
	size_t pre_end = c >= 0 ? m->parts[c].whole.off : end;
	for (; c >= 0; c = m->parts[c].next)
		last = c;
	if (pre_end > start) {
		put(x->loc, sizeof x->loc, "%s preamble", who);
		rc = sx_lk_view(x, m->buf + start, pre_end - start, "raw", full, 0);
	}
	if (rc == 0 && last >= 0) {
		size_t post = m->parts[last].whole.off + m->parts[last].whole.len;
		if (post < end) {
			put(x->loc, sizeof x->loc, "%s epilogue", who);
			rc = sx_lk_view(x, m->buf + post, end - post, "raw", full, 0);
		}
	}
	return rc;
}

static int walk(struct lk_ctx *x, const struct sx_mail *m, const struct sx_mail_limits *lim)
{
	int rc = 0;

	for (unsigned i = 0; i < m->nfields && rc == 0 && !stopped(x); i++)
		rc = header(x, m, &m->fields[i]);
	for (unsigned i = 0; i < m->nparts && rc == 0 && !stopped(x); i++) {
		const struct sx_part *p = &m->parts[i];
		if (p->is_multipart)
			rc = gaps(x, m, (int)i);
		else if (!(p->is_message && p->first_child >= 0))
			rc = leaf(x, m, (int)i, lim);
	}
	if (rc == 0 && !stopped(x) && m->junk) {
		put(x->loc, sizeof x->loc, "%s text before the first header",
			 x->prefix[0] ? "encoded message's" : "the");
		x->charset = "";
		rc = sx_lk_view(x, m->buf, m->junk, "raw",
				LK_V_TOKENS | LK_V_DERIVE | LK_V_CONVERT, 0);
	}
	/* Whatever the structure missed (blank lines, delimiters, a field the
	 * parser did not take), for needles too long to occur by chance. */
	if (rc == 0 && !stopped(x)) {
		put(x->loc, sizeof x->loc, "%s as a whole",
			 x->prefix[0] ? "encoded message" : "message");
		rc = sx_lk_view(x, m->buf, m->len, "raw", LK_V_LONGONLY, 0);
	}
	return rc;
}

int sx_leak_check(const uint8_t *mail, size_t len, const struct sx_idset *ids,
		  const struct sx_mail_limits *lim, char *why, size_t whylen)
{
	char dummy[256];
	struct sx_mail *m = NULL;
	struct lk_ctx *x = NULL;
	int rc;

	if (!why || whylen == 0) {
		why = dummy;
		whylen = sizeof dummy;
	}
	why[0] = '\0';
	rc = sx_mail_parse(mail, len, lim, &m, why, whylen);
	if (rc < 0)
		return rc == SX_ETOOBIG ? SX_ELIMIT : rc; /* leak.h: size is a limit too */
	if (!ids || ids->n == 0) {
		sx_mail_destroy(m);
		return SX_LEAK_CLEAN; /* nothing that could leak */
	}
	x = calloc(1, sizeof *x);
	if (!x) {
		sx_mail_destroy(m);
		return SX_ENOMEM;
	}
	x->ids = ids;
	x->why = why;
	x->whylen = whylen;
	x->charset = "";
	x->work_max = len > (SIZE_MAX - LK_WORK_FLOOR) / LK_WORK_FACTOR
			      ? SIZE_MAX
			      : len * LK_WORK_FACTOR + LK_WORK_FLOOR;
	rc = sx_lk_ac_init(&x->ac, ids);
	if (rc == 0)
		rc = walk(x, m, lim);
	if (rc == 0)
		rc = x->found ? SX_LEAK_FOUND
		     : x->over || x->undecodable ? SX_LEAK_UNDECODABLE : SX_LEAK_CLEAN;
	if (rc == SX_LEAK_CLEAN)
		why[0] = '\0';
	sx_lk_ac_finish(&x->ac);
	sx_lk_memo_finish(&x->memo);
	sx_lk_pool_finish(&x->pool);
	free(x);
	sx_mail_destroy(m);
	return rc;
}
