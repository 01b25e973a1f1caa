/*
 * mime.h: RFC 5322 + MIME parsing over a byte buffer, pure (no I/O).
 *
 * The parser never copies the message: every part and header field is a span
 * of the caller's buffer, which must outlive the sx_mail. Real-world breakage
 * is the normal case: bare LF, missing closing boundaries, junk before the
 * first header, 8-bit bytes in headers. What can be parsed is; nothing is read
 * outside the buffer. Limits are explicit and checked before work is done.
 */
#ifndef SX_MIME_H
#define SX_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The default limits (sx_mail_limits_default). */
#define SX_MAIL_MAX_SIZE ((size_t)10 << 20)
#define SX_MAIL_MAX_DEPTH 16u
#define SX_MAIL_MAX_PARTS 1000u
#define SX_MAIL_MAX_HEADERS 5000u
#define SX_MAIL_MAX_HEADER_LEN ((size_t)64 << 10)

/*
 * Lines skipped before the root's first header field (an mbox "From " line,
 * blank lines, garbage); a message whose first SX_MIME_JUNK_LINES + 1 lines
 * hold no header field is all body (no_header). Only the root skips junk.
 */
#define SX_MIME_JUNK_LINES 8u

struct sx_mail_limits {
	size_t max_size;         /* whole message, bytes (default 10 MiB) */
	unsigned max_depth;      /* multipart / message nesting (default 16) */
	unsigned max_parts;      /* parts in the whole tree (default 1000) */
	unsigned max_headers;    /* header fields in the whole tree (default 5000) */
	size_t max_header_len;   /* one header field, folded, bytes (default 64 KiB) */
};

/* Fills l with the defaults above. */
void sx_mail_limits_default(struct sx_mail_limits *l);

enum sx_cte {
	SX_CTE_7BIT = 0, /* also when absent */
	SX_CTE_8BIT,
	SX_CTE_BINARY,
	SX_CTE_QP,
	SX_CTE_BASE64,
	SX_CTE_OTHER,    /* x-uuencode and the like: opaque */
};

/* A byte range of the message buffer. */
struct sx_span {
	size_t off;
	size_t len;
};

struct sx_hfield {
	struct sx_span raw;    /* the whole field: name, colon, folded value, line end */
	struct sx_span name;   /* field name without the colon */
	struct sx_span value;  /* after the colon and leading blanks (folding
				* included), up to (not including) the final
				* line end; still folded */
	int part;              /* index of the part whose header holds the field */
};

#define SX_MIME_TOKEN 64
#define SX_MIME_BOUNDARY 80    /* RFC 2046 allows 70; we accept a little more */
#define SX_MIME_PATH 48

struct sx_part {
	int parent;              /* part index, -1 for the root */
	int first_child;         /* -1 when none */
	int next;                /* next sibling, -1 when none */
	unsigned depth;          /* root = 0 */
	/*
	 * IMAP numbering (RFC 3501 6.4.5): "" is the root, "1", "1.2" its
	 * descendants. The message parsed out of a message/rfc822 part shares
	 * that part's path, so its own children are "2.1", "2.2" as in IMAP;
	 * paths are unique otherwise. A path longer than SX_MIME_PATH - 1 is cut
	 * and ends in "...", and that part's descendants share it.
	 */
	char path[SX_MIME_PATH];
	struct sx_span whole;    /* header + body */
	struct sx_span header;   /* header block including the blank line; a
				  * block without one ends at the first line
				  * that is neither a field nor a continuation */
	struct sx_span body;     /* body bytes (for multipart: preamble..epilogue) */
	unsigned hfirst;         /* first header field index in sx_mail.fields */
	unsigned hcount;
	/* Lower case; when Content-Type is absent or invalid, text/plain, or
	 * message/rfc822 for a child of a multipart/digest (RFC 2046 5.1.5). */
	char type[SX_MIME_TOKEN];
	char subtype[SX_MIME_TOKEN];
	char charset[SX_MIME_TOKEN]; /* lower case parameter value, "" when absent
				      * (or too long to be a charset) */
	char boundary[SX_MIME_BOUNDARY]; /* multipart only; see is_multipart */
	enum sx_cte cte;
	/* A multipart with a usable boundary (present, 1 to SX_MIME_BOUNDARY - 1
	 * bytes, no line end): its body was split into children. Without one the
	 * part is a leaf whose type still says multipart. */
	unsigned is_multipart : 1;
	/*
	 * message/rfc822 (or global): its body is its only child, parsed as a
	 * message. Only with a 7bit, 8bit or binary transfer encoding: a
	 * message part in base64 or quoted-printable (seen in the wild; bad_cte
	 * set) or an unknown encoding cannot be parsed in place, so it has no
	 * child (first_child -1) and the caller decodes the body and parses it
	 * as a message of its own.
	 */
	unsigned is_message : 1;
	unsigned unterminated : 1;   /* multipart without its closing boundary */
	unsigned bad_cte : 1;        /* transfer encoding unknown or inconsistent */
};

struct sx_mail {
	const uint8_t *buf;      /* the caller's buffer */
	size_t len;
	struct sx_part *parts;   /* parts[0] is the root (the message itself) */
	unsigned nparts;
	struct sx_hfield *fields;
	unsigned nfields;
	size_t junk;             /* bytes skipped before the first header line
				  * (parts[0].whole starts there) */
	unsigned bare_lf : 1;    /* LF without CR seen */
	unsigned no_header : 1;  /* nothing that looked like a header: the whole
				  * buffer is the root's body, type text/plain */
};

/*
 * Parses buf. Returns 0 and *out (free with sx_mail_destroy); SX_ETOOBIG when
 * len exceeds lim->max_size; SX_ELIMIT when depth, parts, header count or a
 * header field's length exceeds its limit; SX_ENOMEM. On error err names the
 * limit or problem in one line. lim may be NULL for the defaults.
 *
 * parts[] is in document order (a part before its children). Multipart
 * bodies are split on delimiter lines (RFC 2046 5.1.1: "--boundary", then
 * optional blanks and the line end; the line end before it belongs to the
 * delimiter); the preamble and epilogue belong to no child. When the closing
 * delimiter is missing the last child runs to the end of the multipart's body
 * (unterminated). The time taken is linear in len per nesting level; there is
 * no recursion.
 */
int sx_mail_parse(const uint8_t *buf, size_t len, const struct sx_mail_limits *lim,
		  struct sx_mail **out, char *err, size_t errlen);
/* Frees m (not the buffer); NULL is fine. */
void sx_mail_destroy(struct sx_mail *m);

/*
 * Finds the next header field called name (case-insensitive) in part p's
 * header, starting at *iter (set it to 0 first). Returns the field or NULL.
 */
const struct sx_hfield *sx_mail_field(const struct sx_mail *m, int part, const char *name,
				      unsigned *iter);

/* Appends the unfolded value of f (line ends of folding removed, leading
 * blanks of continuation lines kept) to out. Returns 0 or the sx_buf error. */
int sx_mail_unfold(const struct sx_mail *m, const struct sx_hfield *f, struct sx_buf *out);

/*
 * Looks up parameter name (case-insensitive) in a structured header value
 * such as Content-Type or Content-Disposition, with RFC 2231 continuations
 * (name*0, name*1*) and charset/percent encoding handled. The value is
 * appended to out as UTF-8 when a charset was given (converted), as is
 * otherwise. When a parameter comes in several forms, name* wins over
 * name*0, name*1... which win over plain name; a form that is malformed
 * (sections missing, no charset quotes, unknown charset) gives way to the
 * next. RFC 2047 encoded-words in a plain value are left as they are.
 * Returns 0, SX_ENOTFOUND, SX_EINVAL (malformed), or the sx_buf error; on
 * error out is left as it was.
 */
int sx_mail_param(const uint8_t *value, size_t len, const char *name, struct sx_buf *out);

/* Returns a static name for cte ("base64", "quoted-printable", ...). */
const char *sx_cte_name(enum sx_cte cte);

#endif
