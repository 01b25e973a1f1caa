/*
 * redact_binary.c: parts the redactor cannot rewrite (application, image,
 * audio, video, unknown types). Rewriting bytes inside a file format could
 * corrupt it or miss a copy the format keeps elsewhere, so such a part is
 * only inspected: an identifier in any encoding a program would store text
 * in (UTF-8, ISO-2022-JP, Shift_JIS, EUC-JP, UTF-16 either way round), in
 * any view of it outside pictures and sound (escapes, references, tokens),
 * or a container whose content is compressed and so cannot be inspected,
 * makes the report unsure, which quarantines it for a person.
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
		if (n >= packed_magic[i].len &&
		    memcmp(d, packed_magic[i].magic, packed_magic[i].len) == 0)
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

/* Whether any identifier occurs in d in any form a program stores text in;
 * with forms_only, in any but UTF-8 (which the text search covers). */
static int holds_in(struct rx_ctx *x, const uint8_t *d, size_t n, int forms_only, int *nomem)
{
	if (d == x->clean_p && n == x->clean_n && x->clean_min == 0)
		return 0; /* searched just so already */
	struct rx_edits e;
	sx_rx_edits_init(&e);
	int rc = sx_rx_search_forms(&x->nd, d, n, RX_ENC_RAW, !forms_only, 1, 0, &e);
	int hit = e.n > 0;
	sx_rx_edits_finish(&e);
	if (rc < 0)
		*nomem = 1;
	return hit;
}

static int holds(struct rx_ctx *x, const uint8_t *d, size_t n, int *nomem)
{
	return holds_in(x, d, n, 0, nomem);
}

/* Charset readings of a part's bytes inspected at most. */
#define BIN_READINGS 5

/* Pictures and sound hold text only as it is; anything else may be text a
 * program shows, in some charset, with its escapes and tokens. */
static int is_media(const struct sx_part *p)
{
	return strcmp(p->type, "image") == 0 || strcmp(p->type, "audio") == 0 ||
	       strcmp(p->type, "video") == 0;
}

/* Whether d holds an identifier as it is or, outside media, in any view of
 * any charset reading. */
static int seen(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		int *nomem)
{
	if (holds(x, d, n, nomem))
		return 1;
	if (is_media(p) || *nomem)
		return 0;
	char labels[BIN_READINGS][SX_MIME_TOKEN];
	int nl = sx_rx_charset_readings(x, p, d, n, labels, BIN_READINGS), hit = 0;
	struct sx_buf t;
	sx_buf_init(&t, x->scratch);
	for (int i = 0; i < nl && !hit && !*nomem; i++) {
		struct rx_edits e;
		const uint8_t *v = d;
		size_t vn = n;
		if (labels[i][0]) {
			sx_buf_reset(&t, SIZE_MAX);
			if (sx_charset_to_utf8(labels[i], d, n, &t, NULL) < 0)
				continue;
			v = sx_buf_head(&t);
			vn = sx_buf_used(&t);
		}
		sx_rx_edits_init(&e);
		if (sx_rx_views(x, v, vn, &e) < 0)
			*nomem = 1;
		hit = e.n > 0;
		sx_rx_edits_finish(&e);
	}
	sx_buf_finish(&t);
	return hit;
}

int sx_rx_other_forms(struct rx_ctx *x, const uint8_t *d, size_t n, int *hit)
{
	int nomem = 0;
	*hit = holds_in(x, d, n, 1, &nomem);
	return nomem ? SX_ENOMEM : 0;
}

int sx_rx_inspect(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		  int *hit)
{
	int nomem = 0;
	*hit = seen(x, p, d, n, &nomem);
	return nomem ? SX_ENOMEM : 0;
}

int sx_rx_binary(struct rx_ctx *x, const struct sx_part *p, const uint8_t *d, size_t n,
		 const uint8_t *e, size_t en)
{
	struct sx_buf g;
	int nomem = 0, hit, rc = 0;

	if (packed(p, d, n)) {
		/* Reasons never quote the mail: a media type is the sender's text. */
		sx_rx_unsure(x, "part %s: compressed attachment cannot be inspected", p->path);
		return 0;
	}
	hit = seen(x, p, d, n, &nomem);
	/* A transfer encoding the part does not declare hides nothing either. */
	sx_buf_init(&g, x->scratch);
	if (!hit && p->cte != SX_CTE_BASE64 && sx_rx_looks_b64(e, en)) {
		rc = sx_b64_decode(e, en, 0, &g, NULL);
		if (rc == 0 && packed(p, sx_buf_head(&g), sx_buf_used(&g))) {
			sx_rx_unsure(x, "part %s: compressed attachment cannot be inspected",
				     p->path);
			sx_buf_finish(&g);
			return 0;
		}
		if (rc == 0)
			hit = seen(x, p, sx_buf_head(&g), sx_buf_used(&g), &nomem);
	}
	sx_buf_reset(&g, SIZE_MAX);
	if (!hit && rc == 0 && p->cte != SX_CTE_QP && sx_rx_looks_qp(e, en)) {
		rc = sx_qp_decode(e, en, &g, NULL);
		if (rc == 0)
			hit = seen(x, p, sx_buf_head(&g), sx_buf_used(&g), &nomem);
	}
	sx_buf_finish(&g);
	/* The encoded text itself, as some program might show it, with its
	 * tokens (base64 at every alignment); in a clean base64 block, only long
	 * identifiers are looked for as they stand. */
	if (!hit && rc == 0 && !is_media(p) && (p->cte == SX_CTE_BASE64 || p->cte == SX_CTE_QP)) {
		size_t saved = x->top_min;
		x->top_min = sx_rx_b64_block(e, en) ? RX_B64_RAW_MIN : 0;
		hit = seen(x, p, e, en, &nomem);
		x->top_min = saved;
	}
	if (hit)
		sx_rx_unsure(x, "part %s: identifier in a binary part cannot be rewritten", p->path);
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
	/* markers count at line starts only: from one to the next (memchr) */
	for (size_t i = 0; i + 6 < n;) {
		if (memcmp(p + i, "begin ", 6) == 0) {
			size_t j = i + 6, d = 0;
			while (j < n && p[j] >= '0' && p[j] <= '7')
				j++, d++;
			if (d >= 3 && d <= 4 && j < n && p[j] == ' ')
				return "uuencoded";
		}
		const uint8_t *lf = memchr(p + i, '\n', n - i);
		if (!lf)
			break;
		i = (size_t)(lf - p) + 1;
	}
	for (size_t i = 0; i + 8 <= n;) {
		if (memcmp(p + i, "=ybegin ", 8) == 0)
			return "yEnc";
		const uint8_t *lf = memchr(p + i, '\n', n - i);
		if (!lf)
			break;
		i = (size_t)(lf - p) + 1;
	}
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
