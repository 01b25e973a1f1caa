/*
 * redact_binary.c: parts the redactor cannot rewrite (application, image,
 * audio, video). Rewriting bytes inside a file format could corrupt it or
 * miss a copy the format keeps elsewhere, so such a part is only inspected:
 * an identifier in any encoding a program would store text in (UTF-8,
 * ISO-2022-JP, Shift_JIS, EUC-JP, UTF-16 either way round), or a container
 * whose content is compressed and so cannot be inspected, makes the report
 * unsure, which quarantines it for a person.
 */
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "codec.h"
#include "err.h"
#include "redact_impl.h"

/* Types whose content is compressed or scattered (OLE sectors). */
static const char *const packed_types[] = {
	"zip", "x-zip", "x-zip-compressed", "gzip", "x-gzip", "x-gtar", "x-compressed",
	"x-rar", "x-rar-compressed", "vnd.rar", "x-7z-compressed", "x-bzip2", "x-bzip",
	"x-xz", "x-lzh", "x-lzh-compressed", "x-lha", "x-tgz", "java-archive", "x-cab",
	"vnd.ms-cab-compressed", "msword", "vnd.ms-excel", "vnd.ms-powerpoint",
	"vnd.ms-outlook", "x-msdownload", "epub+zip", "x-apple-diskimage",
};

static const struct {
	const char *magic;
	size_t len;
} packed_magic[] = {
	{ "PK\x03\x04", 4 }, { "PK\x05\x06", 4 }, { "\x1f\x8b", 2 }, { "Rar!\x1a\x07", 6 },
	{ "7z\xbc\xaf\x27\x1c", 6 }, { "BZh", 3 }, { "\xfd" "7zXZ", 5 },
	{ "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8 }, { "MSCF", 4 },
};

static int packed(const struct sx_part *p, const uint8_t *d, size_t n)
{
	if (strcmp(p->type, "application") == 0) {
		for (size_t i = 0; i < sizeof packed_types / sizeof packed_types[0]; i++)
			if (strcmp(p->subtype, packed_types[i]) == 0)
				return 1;
		/* Office Open XML and OpenDocument are zip files */
		if (strncmp(p->subtype, "vnd.openxmlformats", 18) == 0 ||
		    strncmp(p->subtype, "vnd.oasis.opendocument", 22) == 0 ||
		    strncmp(p->subtype, "vnd.ms-", 7) == 0)
			return 1;
	}
	for (size_t i = 0; i < sizeof packed_magic / sizeof packed_magic[0]; i++)
		if (n >= packed_magic[i].len && memcmp(d, packed_magic[i].magic, packed_magic[i].len) == 0)
			return 1;
	/* A PDF keeps its text in streams, compressed as a rule. */
	if ((n >= 5 && memcmp(d, "%PDF-", 5) == 0) || strcmp(p->subtype, "pdf") == 0) {
		static const char *const filters[] = { "/FlateDecode", "/LZWDecode", "/ObjStm",
						       "/Fl ", "/Fl/", "/Fl]", "/Fl>" };
		for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
			if (memmem(d, n, filters[i], strlen(filters[i])))
				return 1;
	}
	return 0;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* UTF-16 (big-endian when be) of UTF-8 s. */
static size_t utf16(const uint8_t *s, size_t n, int be, uint8_t *out, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp = s[i];
		size_t k = 1;
		if (cp >= 0xf0 && i + 3 < n) {
			cp = ((cp & 7u) << 18) | ((s[i + 1] & 63u) << 12) | ((s[i + 2] & 63u) << 6) |
			     (s[i + 3] & 63u);
			k = 4;
		} else if (cp >= 0xe0 && i + 2 < n) {
			cp = ((cp & 15u) << 12) | ((s[i + 1] & 63u) << 6) | (s[i + 2] & 63u);
			k = 3;
		} else if (cp >= 0xc0 && i + 1 < n) {
			cp = ((cp & 31u) << 6) | (s[i + 1] & 63u);
			k = 2;
		}
		i += k;
		uint16_t u[2];
		size_t un = 1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			u[0] = (uint16_t)(0xd800 + (cp >> 10));
			u[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
			un = 2;
		} else {
			u[0] = (uint16_t)cp;
		}
		for (size_t j = 0; j < un; j++) {
			if (o + 2 > max)
				return 0;
			out[o++] = (uint8_t)(be ? u[j] >> 8 : u[j]);
			out[o++] = (uint8_t)(be ? u[j] : u[j] >> 8);
		}
	}
	return o;
}

/* ISO-2022-JP of s with the designations taken out: the bytes a document
 * holds when the name stands inside other JIS text. */
static size_t jis_bare(const uint8_t *s, size_t n, uint8_t *out, size_t max, size_t scratch)
{
	struct sx_buf b;
	size_t o = 0;
	sx_buf_init(&b, scratch);
	if (sx_charset_from_utf8("iso-2022-jp", s, n, &b) == 0) {
		const uint8_t *p = sx_buf_head(&b);
		size_t bn = sx_buf_used(&b);
		for (size_t i = 0; i < bn && o < max;) {
			if (p[i] == 0x1b) {
				i += (i + 1 < bn && p[i + 1] == '$' && i + 2 < bn && p[i + 2] == '(') ? 4 : 3;
				continue;
			}
			out[o++] = p[i++];
		}
	}
	sx_buf_finish(&b);
	return o;
}

static size_t in_charset(const char *cs, const uint8_t *s, size_t n, uint8_t *out, size_t max,
			 size_t scratch)
{
	struct sx_buf b;
	size_t o = 0;
	sx_buf_init(&b, scratch);
	if (sx_charset_from_utf8(cs, s, n, &b) == 0 && sx_buf_used(&b) <= max) {
		o = sx_buf_used(&b);
		memcpy(out, sx_buf_head(&b), o);
	}
	sx_buf_finish(&b);
	return o;
}

static int ascii_only(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}

static int wordch(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

/* Non-zero when form f (lower case) occurs in hay (lower case); short forms
 * as whole words only. */
static int occurs(const uint8_t *hay, size_t n, const uint8_t *f, size_t fn, int whole)
{
	if (fn == 0 || fn > n)
		return 0;
	const uint8_t *h = hay;
	size_t left = n;
	while (left >= fn) {
		const uint8_t *m = memmem(h, left, f, fn);
		if (!m)
			return 0;
		size_t at = (size_t)(m - hay);
		if (!whole || ((at == 0 || !wordch(hay[at - 1])) &&
			       (at + fn == n || !wordch(hay[at + fn]))))
			return 1;
		h = m + 1;
		left = n - (at + 1);
	}
	return 0;
}

/* Whether any identifier occurs in d in any form a program stores text in;
 * with forms_only, in any but UTF-8 (which the text search covers). */
static int holds_in(struct rx_ctx *x, const uint8_t *d, size_t n, int forms_only, int *nomem)
{
	if (n == 0 || x->nd.n == 0)
		return 0;
	uint8_t *hay = malloc(n);
	if (!hay) {
		*nomem = 1;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		hay[i] = lower(d[i]);
	int hit = 0;
	for (size_t k = 0; k < x->nd.n && !hit; k++) {
		const struct rx_needle *nk = &x->nd.v[k];
		uint8_t f[SX_IDENT_LEN_MAX * 4 + 8];
		size_t fn;
		if (!forms_only)
			hit = occurs(hay, n, nk->s, nk->n, nk->whole);
		/* other forms of short identifiers would match any binary noise */
		if (hit || nk->whole)
			continue;
		for (int be = 0; be < 2 && !hit; be++) {
			fn = utf16(nk->s, nk->n, be, f, sizeof f);
			hit = occurs(hay, n, f, fn, 0);
		}
		if (hit || ascii_only(nk->s, nk->n))
			continue;
		static const char *const cs[] = { "cp932", "euc-jp" };
		for (size_t c = 0; c < 2 && !hit; c++) {
			fn = in_charset(cs[c], nk->s, nk->n, f, sizeof f, x->scratch);
			for (size_t i = 0; i < fn; i++)
				f[i] = lower(f[i]);
			hit = occurs(hay, n, f, fn, 0);
		}
		if (!hit) {
			fn = jis_bare(nk->s, nk->n, f, sizeof f, x->scratch);
			for (size_t i = 0; i < fn; i++)
				f[i] = lower(f[i]);
			hit = fn >= 4 && occurs(hay, n, f, fn, 0);
		}
	}
	free(hay);
	return hit;
}

static int holds(struct rx_ctx *x, const uint8_t *d, size_t n, int *nomem)
{
	return holds_in(x, d, n, 0, nomem);
}

int sx_rx_other_forms(struct rx_ctx *x, const uint8_t *d, size_t n, int *hit)
{
	int nomem = 0;
	*hit = holds_in(x, d, n, 1, &nomem);
	return nomem ? SX_ENOMEM : 0;
}

int sx_rx_binary(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		 const uint8_t *e, size_t en)
{
	struct sx_buf g;
	int nomem = 0, hit, rc = 0;

	if (packed(p, d, n)) {
		sx_rx_unsure(x, "part %s: compressed attachment (%s/%s) cannot be inspected",
			     p->path, p->type, p->subtype);
		return 0;
	}
	hit = holds(x, d, n, &nomem);
	/* A transfer encoding the part does not declare hides nothing either. */
	sx_buf_init(&g, x->scratch);
	if (!hit && p->cte != SX_CTE_BASE64 && sx_rx_looks_b64(e, en)) {
		rc = sx_b64_decode(e, en, 0, &g, NULL);
		if (rc == 0 && packed(p, sx_buf_head(&g), sx_buf_used(&g))) {
			sx_rx_unsure(x, "part %s: compressed attachment (%s/%s) cannot be inspected",
				     p->path, p->type, p->subtype);
			sx_buf_finish(&g);
			return 0;
		}
		if (rc == 0)
			hit = holds(x, sx_buf_head(&g), sx_buf_used(&g), &nomem);
	}
	sx_buf_reset(&g, SIZE_MAX);
	if (!hit && rc == 0 && p->cte != SX_CTE_QP && sx_rx_looks_qp(e, en)) {
		rc = sx_qp_decode(e, en, &g, NULL);
		if (rc == 0)
			hit = holds(x, sx_buf_head(&g), sx_buf_used(&g), &nomem);
	}
	sx_buf_finish(&g);
	if (hit)
		sx_rx_unsure(x, "part %s: identifier in %s/%s part cannot be rewritten", p->path,
			     p->type, p->subtype);
	if (nomem)
		return SX_ENOMEM;
	return rc == SX_ENOMEM ? rc : 0;
}

/* ---- forms inside text nothing rewrites ---- */

static int hexv(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RTF's \'hh bytes and \uN characters, decoded. */
static int rtf_text(const uint8_t *p, size_t n, struct sx_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (p[i] == '\\' && i + 3 < n && p[i + 1] == '\'' && hexv(p[i + 2]) >= 0 &&
		    hexv(p[i + 3]) >= 0) {
			uint8_t b = (uint8_t)(hexv(p[i + 2]) << 4 | hexv(p[i + 3]));
			rc = sx_buf_append(out, &b, 1);
			i += 4;
		} else if (p[i] == '\\' && i + 2 < n && p[i + 1] == 'u' &&
			   (p[i + 2] == '-' || (p[i + 2] >= '0' && p[i + 2] <= '9'))) {
			size_t j = i + 2;
			long v = 0;
			int neg = p[j] == '-';
			j += (size_t)neg;
			while (j < n && p[j] >= '0' && p[j] <= '9' && v < 100000)
				v = v * 10 + (p[j++] - '0');
			if (neg)
				v += 65536;
			uint8_t u[3];
			size_t un;
			if (v < 0x80) {
				u[0] = (uint8_t)v;
				un = 1;
			} else if (v < 0x800) {
				u[0] = (uint8_t)(0xc0 | v >> 6);
				u[1] = (uint8_t)(0x80 | (v & 0x3f));
				un = 2;
			} else {
				v &= 0xffff;
				u[0] = (uint8_t)(0xe0 | v >> 12);
				u[1] = (uint8_t)(0x80 | ((v >> 6) & 0x3f));
				u[2] = (uint8_t)(0x80 | (v & 0x3f));
				un = 3;
			}
			rc = sx_buf_append(out, u, un);
			/* the fallback character after \uN */
			if (j < n && p[j] == ' ')
				j++;
			if (j < n && p[j] == '?')
				j++;
			i = j;
		} else {
			rc = sx_buf_append(out, p + i, 1);
			i++;
		}
	}
	return rc;
}

/* Data encoded inside the text itself: uuencode, yEnc, BinHex. */
static const char *inline_data(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 6 < n; i++) {
		if ((i > 0 && p[i - 1] != '\n') || memcmp(p + i, "begin ", 6) != 0)
			continue;
		size_t j = i + 6, d = 0;
		while (j < n && p[j] >= '0' && p[j] <= '7')
			j++, d++;
		if (d >= 3 && d <= 4 && j < n && p[j] == ' ')
			return "uuencoded";
	}
	for (size_t i = 0; i + 8 <= n; i++)
		if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "=ybegin ", 8) == 0)
			return "yEnc";
	if (memmem(p, n, "(This file must be converted with BinHex", 40))
		return "BinHex";
	return NULL;
}

int sx_rx_text_forms(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n)
{
	const char *what = inline_data(d, n);
	int nomem = 0, rc = 0;
	if (what)
		sx_rx_unsure(x, "part %s: inline %s data cannot be inspected", p->path, what);
	if (strstr(p->subtype, "rtf") || (n >= 5 && memcmp(d, "{\\rtf", 5) == 0)) {
		struct sx_buf t;
		sx_buf_init(&t, x->scratch);
		rc = rtf_text(d, n, &t);
		if (rc == 0 && holds(x, sx_buf_head(&t), sx_buf_used(&t), &nomem))
			sx_rx_unsure(x, "part %s: identifier in RTF escapes cannot be rewritten",
				     p->path);
		sx_buf_finish(&t);
	}
	return nomem ? SX_ENOMEM : rc;
}
