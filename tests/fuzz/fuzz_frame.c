/*
 * fuzz_frame: the input is a byte stream fed to the frame decoder in chunks
 * whose sizes come from the input itself. Every decoded frame is packed,
 * decoded again and packed again: the two packings must be identical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* Packs f into b, which must hold nothing yet. */
static void pack(const Sprex__Frame *f, struct sx_buf *b)
{
	sx_buf_init(b, SX_FRAME_HDR + SX_FRAME_MAX_MAX);
	CHECK(sx_frame_pack(f, SX_FRAME_MAX_MAX, b) == 0);
	CHECK(sx_buf_used(b) == sx_frame_size(f));
}

static void repack(const Sprex__Frame *f)
{
	struct sx_buf a, b;
	struct sx_fdec d;
	Sprex__Frame *g;
	size_t used;

	pack(f, &a);
	sx_fdec_init(&d, SX_FRAME_MAX_MAX);
	int rc = sx_fdec_feed(&d, sx_buf_head(&a), sx_buf_used(&a), &used, &g);
	/*
	 * The budget follows the length, and the canonical packing can be much
	 * shorter than the input (repeated scalars, over-long varints), so the
	 * second decode may run out of budget; nothing else may fail.
	 */
	if (rc == SX_ENOMEM) {
		CHECK(!g);
	} else {
		CHECK(rc == 0 && g && used == sx_buf_used(&a));
		pack(g, &b);
		CHECK(sx_buf_used(&a) == sx_buf_used(&b));
		CHECK(memcmp(sx_buf_head(&a), sx_buf_head(&b), sx_buf_used(&a)) == 0);
		sx_buf_finish(&b);
		sx_frame_free(g);
	}
	CHECK(sx_fdec_idle(&d));
	sx_fdec_finish(&d);
	sx_buf_finish(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sx_fdec d;
	size_t off = 0;
	int rc = 0;

	sx_fdec_init(&d, SX_FRAME_PREAUTH_MAX);
	while (off < size && rc == 0) {
		/* Chunk sizes 1..64, chosen by the byte the chunk starts at. */
		size_t n = 1 + data[off] % 64;
		if (n > size - off)
			n = size - off;
		while (n > 0) {
			Sprex__Frame *f;
			size_t used;
			rc = sx_fdec_feed(&d, data + off, n, &used, &f);
			CHECK(used <= n);
			off += used;
			n -= used;
			if (rc < 0) {
				CHECK(!f && !d.body);
				CHECK(sx_fdec_feed(&d, data, size, &used, &f) == rc && used == 0);
				break;
			}
			if (!f) {
				CHECK(n == 0);
				continue;
			}
			CHECK(used > 0 && f->msg_case != SPREX__FRAME__MSG__NOT_SET);
			CHECK(!d.body && sx_fdec_idle(&d));
			repack(f);
			sx_frame_free(f);
		}
	}
	sx_fdec_finish(&d);
	return 0;
}
