/*
 * charset_jp.h: Shift_JIS (CP932), EUC-JP and ISO-2022-JP read through
 * tables; private to charset.c (and its tests).
 *
 * The tables are filled, once per process, from the reference reader
 * (sx_charset_ref_to_utf8: iconv plus charset.c's Windows rows), so a table
 * read gives the reference's bytes and count of invalid sequences; where the
 * model could differ, the reference reads.
 */
#ifndef SX_CHARSET_JP_H
#define SX_CHARSET_JP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sx_jp {
	SX_JP_CP932,
	SX_JP_EUCJP,
	SX_JP_JIS, /* ISO-2022-JP as read with ISO-2022-JP-2 */
	SX_JP_COUNT
};

/*
 * Reads a prefix of in (n bytes) in cs, appending UTF-8 to out and adding
 * invalid sequences to *nbad. Returns the bytes read, which the caller has
 * the reference read from its initial state (cs is stateless there, or all
 * of in was read, or none), or SX_ENOMEM / SX_ETOOBIG with out's length and
 * *nbad unspecified (the caller restores them). Reads nothing when the
 * tables cannot be built. Thread-safe.
 */
long sx_jp_to_utf8(enum sx_jp cs, const uint8_t *in, size_t n, struct sx_buf *out,
		   size_t *nbad);

#endif
