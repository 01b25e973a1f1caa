/*
 * merkle.h: the RFC 9162 (Certificate Transparency v2) Merkle tree hash over
 * SHA-256: leaf hashes H(0x00 || data), interior nodes H(0x01 || left ||
 * right), the root of n leaves, inclusion and consistency proofs and their
 * verification (RFC 9162 sections 2.1.1 to 2.1.4).
 *
 * Pure: the tree itself is not held here. Every computation asks the caller
 * for the hashes of complete subtrees (2^level leaves starting at leaf
 * index * 2^level) through a callback, so that a store which keeps those
 * nodes serves a root or a proof in O(log^2 n) reads at most, O(log n) for
 * most sizes.
 */
#ifndef SX_MERKLE_H
#define SX_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define SX_MERKLE_HASH 32        /* SHA-256 */
/* Longest proof for any tree below 2^64 leaves: one hash per level, and one
 * more for a consistency proof. */
#define SX_MERKLE_PROOF_MAX 65

/* A proof is n hashes back to back: proof + i * SX_MERKLE_HASH is the i-th. */

/*
 * Fills out with the hash of the complete subtree of 2^level leaves that
 * starts at leaf index << level (level 0: the leaf hash of leaf index).
 * Returns 0, or a negative sx_err that the caller's computation returns.
 */
typedef int (*sx_merkle_get_fn)(void *ctx, unsigned level, uint64_t index, uint8_t *out);

/* H(0x00 || data). data may be NULL when len is 0. */
void sx_merkle_leaf_hash(const void *data, size_t len, uint8_t out[SX_MERKLE_HASH]);
/* H(0x01 || left || right). out may alias left or right. */
void sx_merkle_node_hash(const uint8_t left[SX_MERKLE_HASH], const uint8_t right[SX_MERKLE_HASH],
			 uint8_t out[SX_MERKLE_HASH]);

/* Root of the first size leaves (size 0: SHA-256 of nothing). Returns 0 or
 * the callback's error. */
int sx_merkle_root(sx_merkle_get_fn get, void *ctx, uint64_t size, uint8_t out[SX_MERKLE_HASH]);

/*
 * Inclusion proof of leaf index in the tree of the first size leaves, leaf
 * level first (RFC 9162 2.1.3.1). Writes at most max hashes (max * SX_MERKLE_HASH bytes) to proof
 * and
 * their count to *n. Returns 0, SX_EINVAL (index >= size), SX_ETOOBIG (max
 * too small), or the callback's error.
 */
int sx_merkle_inclusion(sx_merkle_get_fn get, void *ctx, uint64_t index, uint64_t size,
			uint8_t *proof, size_t max, size_t *n);
/* Checks an inclusion proof (RFC 9162 2.1.3.2). Returns 0 when leaf is leaf
 * index of the tree of size leaves with that root, else SX_EINVAL. */
int sx_merkle_inclusion_verify(const uint8_t leaf[SX_MERKLE_HASH], uint64_t index, uint64_t size,
			       const uint8_t *proof, size_t n,
			       const uint8_t root[SX_MERKLE_HASH]);

/*
 * Consistency proof from the tree of size1 leaves to that of size2 (RFC 9162
 * 2.1.4.1); empty when size1 is 0 or equal to size2. Returns 0, SX_EINVAL
 * (size1 > size2), SX_ETOOBIG, or the callback's error.
 */
int sx_merkle_consistency(sx_merkle_get_fn get, void *ctx, uint64_t size1, uint64_t size2,
			  uint8_t *proof, size_t max, size_t *n);
/*
 * Checks a consistency proof (RFC 9162 2.1.4.2): 0 when the tree with root2
 * of size2 leaves extends the tree with root1 of size1 leaves, else
 * SX_EINVAL. Equal sizes need equal roots and an empty proof; size1 0 with a
 * larger size2 proves nothing and is refused.
 */
int sx_merkle_consistency_verify(uint64_t size1, uint64_t size2,
				 const uint8_t root1[SX_MERKLE_HASH],
				 const uint8_t root2[SX_MERKLE_HASH],
				 const uint8_t *proof, size_t n);

#endif
