/*
 * charset.h: character set conversion through iconv, with the aliases
 * Japanese mail needs (Shift_JIS is read as CP932, ISO-2022-JP as
 * ISO-2022-JP-2 which decodes every variant seen in the wild, EUC-JP,
 * UTF-8, ISO-8859-*, Windows-125x).
 */
#ifndef SX_CHARSET_H
#define SX_CHARSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The iconv name sprex uses for a MIME charset label (case-insensitive), or
 * NULL when the label is unknown. */
const char *sx_charset_iconv_name(const char *label);

/* Converts in (in charset label) to UTF-8 appended to out. Invalid sequences
 * become U+FFFD and are counted in *bad (may be NULL). Returns 0, SX_EINVAL
 * (unknown charset), SX_ETOOBIG, SX_ENOMEM. */
int sx_charset_to_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out,
		       size_t *bad);

/* The same with iconv alone: the reference charset_jp.c's tables are
 * filled from and compared with (tests, fuzz_codec). */
int sx_charset_ref_to_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out,
			   size_t *bad);

/* Converts UTF-8 to charset label. Returns 0, SX_EINVAL (unknown charset or
 * a character the charset cannot hold), SX_ETOOBIG, SX_ENOMEM. */
int sx_charset_from_utf8(const char *label, const uint8_t *in, size_t n, struct sx_buf *out);

/* Non-zero when n bytes are valid UTF-8. */
int sx_utf8_valid(const uint8_t *in, size_t n);
/* Closes the iconv descriptors the calling thread keeps for reuse (they are
 * per thread). A thread that converted calls it before it ends, or they
 * leak; the next conversion on the thread opens them again. */
void sx_charset_thread_finish(void);

#endif
