/*
 * test_merkle.c: RFC 9162 tree hashing and proofs (lib/merkle.c) against the
 * RFC 6962 reference test vectors (the eight leaves of the Certificate
 * Transparency reference implementation, as published with transparency-dev's
 * merkle test data), then every (index, size) and (size1, size2) up to 70
 * leaves against a naive recursive model, with corrupted proofs refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/merkle.h"

#define NLEAVES_MAX 70
#define H SX_MERKLE_HASH
#define PMAX SX_MERKLE_PROOF_MAX
#define incl_ok sx_merkle_inclusion_verify
#define cons_ok sx_merkle_consistency_verify

static const char *const ct_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const ct_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct vec {
	uint64_t a, b;              /* leaf index and size, or size1 and size2 */
	size_t n;
	const char *proof[3];
};

static const struct vec inclusion_vecs[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct vec consistency_vecs[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

static void unhex(const char *h, uint8_t *out, size_t *len)
{
	size_t n = strlen(h) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n;
}

static void unhex32(const char *h, uint8_t out[SX_MERKLE_HASH])
{
	size_t n;
	assert_int_equal(strlen(h), 64);
	unhex(h, out, &n);
}

/* The tree the callback serves: leaf hashes, subtrees computed naively. */
struct tree {
	uint8_t leaf[NLEAVES_MAX][SX_MERKLE_HASH];
	uint64_t n;
	unsigned reads;
};

static void naive(const struct tree *t, uint64_t start, uint64_t n, uint8_t *out)
{
	if (n == 1) {
		memcpy(out, t->leaf[start], SX_MERKLE_HASH);
		return;
	}
	uint64_t k = 1;
	while (k < n - k)
		k <<= 1;
	uint8_t l[SX_MERKLE_HASH], r[SX_MERKLE_HASH];
	naive(t, start, k, l);
	naive(t, start + k, n - k, r);
	sx_merkle_node_hash(l, r, out);
}

static int get(void *ctx, unsigned level, uint64_t index, uint8_t *out)
{
	struct tree *t = ctx;
	uint64_t size = (uint64_t)1 << level, start = index << level;
	if (start + size > t->n)
		return SX_ENOTFOUND;   /* only complete subtrees exist */
	t->reads++;
	naive(t, start, size, out);
	return 0;
}

static void ct_tree(struct tree *t)
{
	memset(t, 0, sizeof *t);
	for (size_t i = 0; i < 8; i++) {
		uint8_t d[32];
		size_t n;
		unhex(ct_leaves[i], d, &n);
		sx_merkle_leaf_hash(d, n, t->leaf[i]);
	}
	t->n = 8;
}

static void test_ct_roots(void **state)
{
	(void)state;
	struct tree t;
	ct_tree(&t);
	for (uint64_t size = 0; size <= 8; size++) {
		uint8_t want[SX_MERKLE_HASH], got[SX_MERKLE_HASH];
		unhex32(ct_roots[size], want);
		assert_int_equal(sx_merkle_root(get, &t, size, got), 0);
		assert_memory_equal(got, want, SX_MERKLE_HASH);
	}
}

static void test_ct_inclusion(void **state)
{
	(void)state;
	struct tree t;
	ct_tree(&t);
	for (size_t v = 0; v < sizeof inclusion_vecs / sizeof inclusion_vecs[0]; v++) {
		const struct vec *iv = &inclusion_vecs[v];
		uint8_t proof[PMAX][H] = { { 0 } }, want[3][H];
		size_t n;
		t.n = iv->b;   /* the tree as it was at that size */
		assert_int_equal(sx_merkle_inclusion(get, &t, iv->a, iv->b, proof[0],
						     SX_MERKLE_PROOF_MAX, &n), 0);
		assert_int_equal(n, iv->n);
		for (size_t i = 0; i < n; i++) {
			unhex32(iv->proof[i], want[i]);
			assert_memory_equal(proof[i], want[i], SX_MERKLE_HASH);
		}
		uint8_t root[SX_MERKLE_HASH];
		unhex32(ct_roots[iv->b], root);
		assert_int_equal(incl_ok(t.leaf[iv->a], iv->a, iv->b, want[0], n, root), 0);
		/* Wrong index, size, leaf, a flipped bit, a missing or extra hash. */
		if (iv->b > 1)
			assert_int_equal(incl_ok(t.leaf[iv->a], (iv->a + 1) % iv->b, iv->b,
					 want[0], n, root), SX_EINVAL);
		assert_int_equal(incl_ok(t.leaf[iv->a], iv->a, iv->b * 2, want[0], n, root),
				 SX_EINVAL);
		assert_int_equal(incl_ok(t.leaf[(iv->a + 1) % 8], iv->a, iv->b, want[0], n, root),
				 SX_EINVAL);
		if (n > 0) {
			want[n - 1][0] ^= 8;
			assert_int_equal(incl_ok(t.leaf[iv->a], iv->a, iv->b, want[0], n, root),
					 SX_EINVAL);
			want[n - 1][0] ^= 8;
			assert_int_equal(incl_ok(t.leaf[iv->a], iv->a, iv->b, want[0], n - 1,
					 root), SX_EINVAL);
		}
		assert_int_equal(incl_ok(t.leaf[iv->a], iv->a, iv->b, proof[0], n + 1, root),
				 SX_EINVAL);
	}
	assert_int_equal(sx_merkle_inclusion(get, &t, 1, 1, NULL, 0, &(size_t){ 0 }), SX_EINVAL);
}

static void test_ct_consistency(void **state)
{
	(void)state;
	struct tree t;
	ct_tree(&t);
	for (size_t v = 0; v < sizeof consistency_vecs / sizeof consistency_vecs[0]; v++) {
		const struct vec *cv = &consistency_vecs[v];
		uint8_t proof[PMAX][H] = { { 0 } }, want[3][H];
		size_t n;
		t.n = cv->b;
		assert_int_equal(sx_merkle_consistency(get, &t, cv->a, cv->b, proof[0],
						       SX_MERKLE_PROOF_MAX, &n), 0);
		assert_int_equal(n, cv->n);
		for (size_t i = 0; i < n; i++) {
			unhex32(cv->proof[i], want[i]);
			assert_memory_equal(proof[i], want[i], SX_MERKLE_HASH);
		}
		uint8_t r1[SX_MERKLE_HASH], r2[SX_MERKLE_HASH];
		unhex32(ct_roots[cv->a], r1);
		unhex32(ct_roots[cv->b], r2);
		assert_int_equal(cons_ok(cv->a, cv->b, r1, r2, want[0], n), 0);
		if (n == 0)
			continue;
		assert_int_equal(cons_ok(cv->a, cv->b, r2, r1, want[0], n), SX_EINVAL);
		assert_int_equal(cons_ok(cv->a + 1, cv->b, r1, r2, want[0], n), SX_EINVAL);
		assert_int_equal(cons_ok(cv->a, cv->b, r1, r2, want[0], n - 1), SX_EINVAL);
		assert_int_equal(cons_ok(cv->a, cv->b, r1, r2, want[0], 0), SX_EINVAL);
		for (size_t i = 0; i < n; i++) {
			want[i][0] ^= 16;
			assert_int_equal(cons_ok(cv->a, cv->b, r1, r2, want[0], n), SX_EINVAL);
			want[i][0] ^= 16;
		}
	}
	uint8_t r[SX_MERKLE_HASH] = { 0 };
	uint8_t one[1][SX_MERKLE_HASH] = { { 0 } };
	assert_int_equal(cons_ok(2, 1, r, r, NULL, 0), SX_EINVAL);
	assert_int_equal(cons_ok(0, 1, r, r, one[0], 1), SX_EINVAL);
	assert_int_equal(cons_ok(1, 1, r, r, one[0], 1), SX_EINVAL);
	assert_int_equal(cons_ok(0, 0, r, r, NULL, 0), 0);
}

/* Every index and size pair up to NLEAVES_MAX, proofs checked both ways. */
static void test_all_sizes(void **state)
{
	(void)state;
	static struct tree t;
	memset(&t, 0, sizeof t);
	for (uint64_t i = 0; i < NLEAVES_MAX; i++) {
		uint8_t d[8] = { (uint8_t)i, (uint8_t)(i * 7) };
		sx_merkle_leaf_hash(d, sizeof d, t.leaf[i]);
	}
	t.n = NLEAVES_MAX;
	uint8_t roots[NLEAVES_MAX + 1][SX_MERKLE_HASH];
	for (uint64_t size = 1; size <= NLEAVES_MAX; size++) {
		naive(&t, 0, size, roots[size]);
		uint8_t got[SX_MERKLE_HASH];
		t.n = size;
		t.reads = 0;
		assert_int_equal(sx_merkle_root(get, &t, size, got), 0);
		assert_memory_equal(got, roots[size], SX_MERKLE_HASH);
		assert_true(t.reads <= 8);   /* one per set bit of size */
	}
	for (uint64_t size = 1; size <= NLEAVES_MAX; size++) {
		t.n = size;
		for (uint64_t i = 0; i < size; i++) {
			uint8_t proof[PMAX][H];
			size_t n;
			assert_int_equal(sx_merkle_inclusion(get, &t, i, size, proof[0],
							     SX_MERKLE_PROOF_MAX, &n), 0);
			assert_int_equal(incl_ok(t.leaf[i], i, size, proof[0], n, roots[size]), 0);
			if (size > 1)
				assert_int_equal(incl_ok(t.leaf[i], i, size, proof[0], n,
						 roots[size - 1]), SX_EINVAL);
		}
		for (uint64_t m = 1; m <= size; m++) {
			uint8_t proof[PMAX][H];
			size_t n;
			assert_int_equal(sx_merkle_consistency(get, &t, m, size, proof[0],
							       SX_MERKLE_PROOF_MAX, &n), 0);
			assert_int_equal(cons_ok(m, size, roots[m], roots[size], proof[0], n), 0);
			if (m < size) {
				/* A fork: a different tree of size m does not verify. */
				assert_int_equal(cons_ok(m, size, roots[size], roots[size],
						 proof[0], n), SX_EINVAL);
			}
		}
	}
	/* The bound on the proof buffer is honoured. */
	uint8_t small[2][SX_MERKLE_HASH];
	size_t n;
	t.n = NLEAVES_MAX;
	assert_int_equal(sx_merkle_inclusion(get, &t, 0, NLEAVES_MAX, small[0], 2, &n),
			 SX_ETOOBIG);
	assert_int_equal(n, 0);
	assert_int_equal(sx_merkle_consistency(get, &t, 3, NLEAVES_MAX, small[0], 2, &n),
			 SX_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_roots),
		cmocka_unit_test(test_ct_inclusion),
		cmocka_unit_test(test_ct_consistency),
		cmocka_unit_test(test_all_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
