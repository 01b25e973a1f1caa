/*
 * merkle.c: RFC 9162 Merkle tree hashing and proofs over a subtree callback.
 */
#include "merkle.h"

#include <string.h>

#include <openssl/evp.h>

#include "err.h"

static void sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		     const uint8_t *c, size_t clen, uint8_t out[SX_MERKLE_HASH])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned len = 0;
	/* Allocation failure of a 200-byte context: abort rather than hand out
	 * a hash that was never computed. */
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, a, alen) != 1 ||
	    (blen && EVP_DigestUpdate(md, b, blen) != 1) ||
	    (clen && EVP_DigestUpdate(md, c, clen) != 1) ||
	    EVP_DigestFinal_ex(md, out, &len) != 1)
		__builtin_trap();
	EVP_MD_CTX_free(md);
}

void sx_merkle_leaf_hash(const void *data, size_t len, uint8_t out[SX_MERKLE_HASH])
{
	static const uint8_t zero = 0x00;
	sha256_2(&zero, 1, data, len, NULL, 0, out);
}

void sx_merkle_node_hash(const uint8_t left[SX_MERKLE_HASH], const uint8_t right[SX_MERKLE_HASH],
			 uint8_t out[SX_MERKLE_HASH])
{
	static const uint8_t one = 0x01;
	sha256_2(&one, 1, left, SX_MERKLE_HASH, right, SX_MERKLE_HASH, out);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;
	while (k < n - k)
		k <<= 1;
	return k;
}

static unsigned log2_exact(uint64_t n)
{
	unsigned l = 0;
	while (n > 1) {
		n >>= 1;
		l++;
	}
	return l;
}

/* MTH(D[start:start + n]), n >= 1. Every range the RFC's recursions ask for
 * starts at a multiple of its largest power-of-two part, so the complete
 * subtrees are aligned and can be looked up. */
static int mth(sx_merkle_get_fn get, void *ctx, uint64_t start, uint64_t n,
	       uint8_t out[SX_MERKLE_HASH])
{
	if ((n & (n - 1)) == 0 && start % n == 0)
		return get(ctx, log2_exact(n), start / n, out);
	uint64_t k = split(n);
	uint8_t left[SX_MERKLE_HASH];
	int err = get(ctx, log2_exact(k), start / k, left);
	if (err)
		return err;
	if ((err = mth(get, ctx, start + k, n - k, out)))
		return err;
	sx_merkle_node_hash(left, out, out);
	return 0;
}

int sx_merkle_root(sx_merkle_get_fn get, void *ctx, uint64_t size, uint8_t out[SX_MERKLE_HASH])
{
	if (size == 0) {
		sha256_2(NULL, 0, NULL, 0, NULL, 0, out);
		return 0;
	}
	return mth(get, ctx, 0, size, out);
}

struct proof_out {
	uint8_t *h;
	size_t max, n;
};

static int push(struct proof_out *p, sx_merkle_get_fn get, void *ctx, uint64_t start, uint64_t n)
{
	if (p->n >= p->max)
		return SX_ETOOBIG;
	return mth(get, ctx, start, n, p->h + SX_MERKLE_HASH * p->n++);
}

/* PATH(m, D[start:start + n]) appended to p, leaf level first. */
static int path(sx_merkle_get_fn get, void *ctx, uint64_t m, uint64_t start, uint64_t n,
		struct proof_out *p)
{
	if (n <= 1)
		return 0;
	uint64_t k = split(n);
	int err;
	if (m < k) {
		if ((err = path(get, ctx, m, start, k, p)))
			return err;
		return push(p, get, ctx, start + k, n - k);
	}
	if ((err = path(get, ctx, m - k, start + k, n - k, p)))
		return err;
	return push(p, get, ctx, start, k);
}

int sx_merkle_inclusion(sx_merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
			uint8_t *proof, size_t max, size_t *n)
{
	*n = 0;
	if (index >= size)
		return SX_EINVAL;
	struct proof_out p = { proof, max, 0 };
	int err = path(get, ctx, index, 0, size, &p);
	if (!err)
		*n = p.n;
	return err;
}

/* SUBPROOF(m, D[start:start + n], b). */
static int subproof(sx_merkle_get_fn get, void *ctx, uint64_t m, uint64_t start, uint64_t n,
		    int b, struct proof_out *p)
{
	if (m == n)
		return b ? 0 : push(p, get, ctx, start, n);
	uint64_t k = split(n);
	int err;
	if (m <= k) {
		if ((err = subproof(get, ctx, m, start, k, b, p)))
			return err;
		return push(p, get, ctx, start + k, n - k);
	}
	if ((err = subproof(get, ctx, m - k, start + k, n - k, 0, p)))
		return err;
	return push(p, get, ctx, start, k);
}

int sx_merkle_consistency(sx_merkle_get_fn get, void *ctx, uint64_t size1, uint64_t size2,
			  uint8_t *proof, size_t max, size_t *n)
{
	*n = 0;
	if (size1 > size2)
		return SX_EINVAL;
	if (size1 == 0 || size1 == size2)
		return 0;
	struct proof_out p = { proof, max, 0 };
	int err = subproof(get, ctx, size1, 0, size2, 1, &p);
	if (!err)
		*n = p.n;
	return err;
}

static int hash_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, SX_MERKLE_HASH) == 0;
}

int sx_merkle_inclusion_verify(const uint8_t leaf[SX_MERKLE_HASH], uint64_t index, uint64_t size,
			       const uint8_t *proof, size_t n,
			       const uint8_t root[SX_MERKLE_HASH])
{
	if (index >= size)
		return SX_EINVAL;
	uint64_t fn = index, sn = size - 1;
	uint8_t r[SX_MERKLE_HASH];
	memcpy(r, leaf, sizeof r);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return SX_EINVAL;
		if ((fn & 1) || fn == sn) {
			sx_merkle_node_hash(proof + SX_MERKLE_HASH * i, r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			sx_merkle_node_hash(r, proof + SX_MERKLE_HASH * i, r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_eq(r, root) ? 0 : SX_EINVAL;
}

int sx_merkle_consistency_verify(uint64_t size1, uint64_t size2,
				 const uint8_t root1[SX_MERKLE_HASH],
				 const uint8_t root2[SX_MERKLE_HASH],
				 const uint8_t *proof, size_t n)
{
	if (size1 > size2)
		return SX_EINVAL;
	if (size1 == size2)
		return n == 0 && hash_eq(root1, root2) ? 0 : SX_EINVAL;
	if (size1 == 0 || n == 0)
		return SX_EINVAL;
	/* When size1 is a power of two its root is the first node of the path
	 * and the proof leaves it out. */
	size_t i = 0;
	uint8_t fr[SX_MERKLE_HASH], sr[SX_MERKLE_HASH];
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, sizeof fr);
	} else {
		memcpy(fr, proof, sizeof fr);
		i = 1;
	}
	memcpy(sr, fr, sizeof sr);
	uint64_t fn = size1 - 1, sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return SX_EINVAL;
		if ((fn & 1) || fn == sn) {
			sx_merkle_node_hash(proof + SX_MERKLE_HASH * i, fr, fr);
			sx_merkle_node_hash(proof + SX_MERKLE_HASH * i, sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			sx_merkle_node_hash(sr, proof + SX_MERKLE_HASH * i, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_eq(fr, root1) && hash_eq(sr, root2) ? 0 : SX_EINVAL;
}
