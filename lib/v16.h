/*
 * v16.h: sixteen bytes at a time, for the scans that pass over most of a
 * text looking for a few byte values (GCC vector extensions, which clang
 * has too: SSE2 on x86-64, lowered to plain code elsewhere). A comparison
 * of two sx_v16 gives each lane 0 or all ones.
 */
#ifndef SX_V16_H
#define SX_V16_H

#include <stdint.h>

typedef uint8_t sx_v16 __attribute__((vector_size(16)));

/* Bit k set when lane k of c (a comparison's result) is set. */
static inline unsigned sx_v16_mask(sx_v16 c)
{
#ifdef __SSE2__
	typedef char sx_v16c __attribute__((vector_size(16)));
	return (unsigned)__builtin_ia32_pmovmskb128((sx_v16c)c);
#else
	unsigned m = 0;
	for (int k = 0; k < 16; k++)
		m |= (unsigned)(c[k] & 1) << k;
	return m;
#endif
}

#endif
