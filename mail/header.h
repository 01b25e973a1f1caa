/*
 * header.h: RFC 5322 header blocks and MIME structured field values, for the
 * rest of mail/ (mime.h is the public face: sx_mail_field, sx_mail_unfold and
 * sx_mail_param live in header.c too).
 */
#ifndef SX_HEADER_H
#define SX_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "mime.h"

/* Reads the fields of one header block in buf[start .. end). */
struct sx_header_iter {
	const uint8_t *buf;
	size_t pos;      /* next line; at the end, where the body starts */
	size_t end;
	size_t max_len;  /* bound on one field's raw length */
};

void sx_header_iter_init(struct sx_header_iter *it, const uint8_t *buf, size_t start,
			 size_t end, size_t max_len);

/*
 * Reads the next field into *f (f->part is set to 0). Returns 1; 0 at the
 * end of the block, with it->pos after the empty line (CRLF or LF) or, when
 * the block ends without one, at the first line that is neither a field nor
 * a continuation, or at end; SX_ELIMIT when the field, folded, is longer
 * than max_len bytes (it->pos then unspecified).
 */
int sx_header_next(struct sx_header_iter *it, struct sx_hfield *f);

/* Non-zero when p[0 .. n) starts with a field name, optional blanks and a
 * colon (the obsolete syntax allows the blanks). */
int sx_header_is_field(const uint8_t *p, size_t n);

/*
 * Parses the "type/subtype" of a Content-Type value (comments and folding
 * allowed around both) into lower-case type and subtype. Returns 0, or
 * SX_EINVAL when either token is missing or SX_MIME_TOKEN bytes or longer.
 */
int sx_header_ctype(const uint8_t *v, size_t n, char type[SX_MIME_TOKEN],
		    char subtype[SX_MIME_TOKEN]);

/* Copies the first token of v (after comments and blanks), lower-cased, to
 * out ("" when there is none). Returns 0, or SX_EINVAL when it does not fit
 * in size bytes with its NUL. */
int sx_header_token(const uint8_t *v, size_t n, char *out, size_t size);

#endif
