/*
 * fuzz_redact: the first bytes of the input name a few identifiers, the rest
 * is a spam. Whatever the spam, the redactor returns success or a named
 * refusal; the bytes outside its manifest are the original's, in order; and
 * unless it says it is unsure, the independent leak check finds no
 * identifier in its output, and redacting the output again finds nothing.
 *
 * Input: byte 0 gives the number of identifiers (1 + b % 3); each is then a
 * length byte (2 + b % 30) and that many bytes, each picking a character
 * from an alphabet of address characters and four kanji (so names in
 * Japanese, addresses and local parts all occur).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ident.h"
#include "leak.h"
#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const struct sx_mail_limits lim = {
	.max_size = 256 << 10,
	.max_depth = 8,
	.max_parts = 64,
	.max_headers = 256,
	.max_header_len = 4096,
};

static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789.-_@";
static const char *const kanji[] = { "山", "田", "太", "郎" };

/* Reads the identifiers; returns the offset of the mail. */
static size_t idents(const uint8_t *data, size_t size, struct sx_idset *ids)
{
	size_t off = 1;
	sx_idset_init(ids);
	if (size == 0)
		return 0;
	unsigned k = 1 + data[0] % 3;
	for (unsigned i = 0; i < k && off < size; i++) {
		size_t len = 2 + data[off++] % 30, n = 0;
		char t[3 * 32 + 1];
		for (size_t j = 0; j < len && off < size; j++) {
			unsigned c = data[off++] % (sizeof alpha - 1 + 4);
			if (c < sizeof alpha - 1) {
				t[n++] = alpha[c];
			} else {
				memcpy(t + n, kanji[c - (sizeof alpha - 1)], 3);
				n += 3;
			}
		}
		t[n] = '\0';
		int rc = sx_idset_add_given(ids, t);
		CHECK(rc == 0 || rc == SX_EINVAL);
	}
	return off < size ? off : size;
}

/* The bytes outside the manifest's spans are the original's, in order. */
static void check_manifest(const uint8_t *orig, size_t olen, const uint8_t *out, size_t outlen,
			   const struct sx_redact_result *res)
{
	size_t o = 0, a = 0;
	unsigned total = 0;
	CHECK(res->n <= SX_MANIFEST_MAX);
	for (size_t i = 0; i < res->n; i++) {
		const struct sx_redaction *e = &res->manifest[i];
		CHECK(e->orig_offset >= o && e->offset >= a);
		CHECK(e->orig_offset - o == e->offset - a);
		CHECK(memcmp(orig + o, out + a, e->orig_offset - o) == 0);
		CHECK(e->orig_offset + e->orig_length <= olen);
		CHECK(e->offset + e->length <= outlen);
		CHECK(e->count >= 1);
		total += e->count;
		o = e->orig_offset + e->orig_length;
		a = e->offset + e->length;
	}
	CHECK(olen - o == outlen - a);
	CHECK(memcmp(orig + o, out + a, olen - o) == 0);
	CHECK(total == res->total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sx_idset ids;
	static struct sx_redact_result res, res2;
	struct sx_buf out, again;
	char err[256];

	size_t off = idents(data, size, &ids);
	const uint8_t *mail = data + off;
	size_t len = size - off;
	/* a replacement is at most 25 bytes for a match of at least 1 */
	sx_buf_init(&out, 32 * len + 4096);
	int rc = sx_redact(mail, len, &ids, &lim, &out, &res, err, sizeof err);
	CHECK(rc == 0 || rc == SX_ELIMIT || rc == SX_ETOOBIG || rc == SX_ENOMEM);
	if (rc == 0) {
		check_manifest(mail, len, sx_buf_head(&out), sx_buf_used(&out), &res);
		if (!res.unsure) {
			int v = sx_leak_check(sx_buf_head(&out), sx_buf_used(&out), &ids, &lim,
					      err, sizeof err);
			CHECK(v != SX_LEAK_FOUND);
			sx_buf_init(&again, 32 * sx_buf_used(&out) + 4096);
			rc = sx_redact(sx_buf_head(&out), sx_buf_used(&out), &ids, &lim, &again,
				       &res2, err, sizeof err);
			CHECK(rc != 0 || res2.unsure || res2.total == 0);
			sx_buf_finish(&again);
		}
	}
	sx_buf_finish(&out);
	return 0;
}
