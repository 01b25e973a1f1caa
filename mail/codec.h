/*
 * codec.h: the transfer and text encodings mail uses, pure functions over
 * bytes. Decoders are lenient where real mail is broken (they skip what they
 * cannot use and say so through *bad); encoders produce what RFC 2045/2047
 * require. Every output goes to a bounded sx_buf: an output over its bound is
 * SX_ETOOBIG, never a silent cut.
 */
#ifndef SX_CODEC_H
#define SX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Base64 (RFC 4648 alphabet; also the URL-safe one when url is non-zero).
 * Non-alphabet bytes (line ends, blanks, junk) are skipped and counted in
 * *bad (may be NULL); missing padding is tolerated. */
int sx_b64_decode(const uint8_t *in, size_t n, int url, struct sx_buf *out, size_t *bad);
/* Encodes with line_len characters per line (0: one line) separated by eol. */
int sx_b64_encode(const uint8_t *in, size_t n, size_t line_len, const char *eol, int url,
		  struct sx_buf *out);

/* Quoted-printable body decoding (RFC 2045 6.7): soft line breaks removed,
 * invalid escapes kept literally and counted in *bad. */
int sx_qp_decode(const uint8_t *in, size_t n, struct sx_buf *out, size_t *bad);
/* Quoted-printable encoding with lines of at most 76 characters, soft breaks,
 * eol as the line end; input line ends (CRLF or LF) become eol. */
int sx_qp_encode(const uint8_t *in, size_t n, const char *eol, struct sx_buf *out);

/* One RFC 2047 encoded-word's encoded text: Q (underscore = space) or B. */
int sx_2047_decode_text(char enc, const uint8_t *in, size_t n, struct sx_buf *out, size_t *bad);

/*
 * Decodes an unfolded header value to UTF-8: encoded-words are decoded and
 * their charset converted, blanks between adjacent encoded-words dropped
 * (RFC 2047 6.2), broken words kept literally; raw 8-bit text is taken as
 * UTF-8 when valid, else tried as fallback_charset (may be NULL). Returns 0
 * or SX_ETOOBIG / SX_ENOMEM; *bad (may be NULL) counts words that could not
 * be decoded.
 */
int sx_2047_decode(const uint8_t *in, size_t n, const char *fallback_charset, struct sx_buf *out,
		   size_t *bad);

/* Encodes UTF-8 text as encoded-words in charset with encoding 'B' or 'Q',
 * each word at most 75 characters, words separated by "\r\n " folding. */
int sx_2047_encode(const uint8_t *utf8, size_t n, const char *charset, char enc, struct sx_buf *out);

/* Percent-decoding (URLs): %XX decoded, '+' kept, invalid escapes kept. */
int sx_pct_decode(const uint8_t *in, size_t n, struct sx_buf *out);
/* HTML character references: &#NN; &#xHH; and the named ones mail uses
 * (at least amp, lt, gt, quot, apos, nbsp, commat, period, and the full
 * HTML 4 Latin-1 set), decoded to UTF-8; unknown ones kept literally. */
int sx_html_decode(const uint8_t *in, size_t n, struct sx_buf *out);

#endif
