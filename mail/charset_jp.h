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

/*
 * Bytes the reference reads in a charset before its tables are filled:
 * filling them takes 1 to 8 ms, more than a whole message's readings, and
 * `sprexctl ingest -` runs one message per process.
 */
#define SX_JP_FILL_AFTER ((size_t)1 << 20)

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
 * *nbad unspecified (the caller restores them). Reads nothing until the
 * process has read SX_JP_FILL_AFTER bytes in cs, or when the
 * tables cannot be built. Thread-safe.
 */
long sx_jp_to_utf8(enum sx_jp cs, const uint8_t *in, size_t n, struct sx_buf *out,
		   size_t *nbad);

/* Fills cs's tables now, so that every later read goes through them (tests,
 * fuzz_codec). Thread-safe. */
void sx_jp_fill(enum sx_jp cs);

#endif
