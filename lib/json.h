/*
 * json.h: a small JSON writer into a bounded sx_buf, for metadata, JSON
 * Lines sinks and exports. It writes; it does not parse.
 */
#ifndef SX_JSON_H
#define SX_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SX_JSON_DEPTH 16

struct sx_json {
	struct sx_buf *out;
	int err;                        /* first error; later calls do nothing */
	unsigned depth;
	unsigned char first[SX_JSON_DEPTH]; /* no member written yet at this depth */
};

/* Starts writing into out (appends; out keeps its bound). */
void sx_json_init(struct sx_json *j, struct sx_buf *out);
void sx_json_obj_begin(struct sx_json *j);
void sx_json_obj_end(struct sx_json *j);
void sx_json_arr_begin(struct sx_json *j);
void sx_json_arr_end(struct sx_json *j);
/* An object member's name; the value follows with one of the calls below. */
void sx_json_key(struct sx_json *j, const char *name);
/* A string value: n bytes (taken as UTF-8; invalid bytes become U+FFFD). */
void sx_json_strn(struct sx_json *j, const char *s, size_t n);
void sx_json_str(struct sx_json *j, const char *s);
void sx_json_int(struct sx_json *j, int64_t v);
void sx_json_bool(struct sx_json *j, int v);
void sx_json_null(struct sx_json *j);
/* Returns 0, or the first error (SX_ETOOBIG, SX_ENOMEM, SX_EINVAL for
 * unbalanced nesting). */
int sx_json_finish(struct sx_json *j);

#endif
