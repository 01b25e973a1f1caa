#include "lpm.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/*
 * A path-compressed binary trie over the 128-bit space. A node stands for a
 * prefix (key, len); its children extend it by at least one bit, the next bit
 * (key bit len) choosing the side. Only prefixes from the list and the
 * branching points between them get a node, so there are at most 2n + 1
 * nodes, and a lookup visits at most 129 of them (lengths strictly grow).
 * Nodes live in one array and point at each other by index: the table is a
 * single allocation that is never written after the build.
 */

#define NIL UINT32_MAX

struct node {
	uint8_t key[16];    /* bits past len are zero */
	uint8_t len;
	uint8_t has_value;
	uint32_t child[2];
	int64_t value;
};

struct sx_lpm {
	struct node *nodes; /* nodes[0] is the root, ::/0, with or without a value */
	uint32_t nnodes;
	size_t count;       /* distinct prefixes */
};

static unsigned bit_at(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1u;
}

/* Number of leading bits a and b share, at most limit. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned limit)
{
	unsigned i = 0;
	while (i < limit && i / 8 < 16 && a[i / 8] == b[i / 8])
		i += 8;
	if (i > limit)
		i = limit;
	while (i < limit && bit_at(a, i) == bit_at(b, i))
		i++;
	return i;
}

/* Non-zero when the first len bits of key and addr agree. */
static int covers(const struct node *nd, const uint8_t addr[16])
{
	unsigned full = nd->len / 8, rest = nd->len % 8;
	if (memcmp(nd->key, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (nd->key[full] & mask) == (addr[full] & mask);
}

static int host_bits_clear(const struct sx_prefix *p)
{
	for (unsigned i = p->len; i < 128; i++)
		if (bit_at(p->addr, i))
			return 0;
	return 1;
}

static uint32_t node_new(struct sx_lpm *t, const uint8_t *addr, unsigned len)
{
	uint32_t i = t->nnodes++;
	struct node *nd = &t->nodes[i];
	memset(nd, 0, sizeof *nd);
	/* Copy only the prefix bits so keys stay canonical (host bits zero). */
	unsigned full = len / 8, rest = len % 8;
	memcpy(nd->key, addr, full);
	if (rest)
		nd->key[full] = (uint8_t)(addr[full] & (0xffu << (8 - rest)));
	nd->len = (uint8_t)len;
	nd->child[0] = nd->child[1] = NIL;
	return i;
}

static void node_set(struct sx_lpm *t, struct node *nd, int64_t value)
{
	if (!nd->has_value) {
		nd->has_value = 1;
		nd->value = value;
		t->count++;
	} else if (value < nd->value) {
		nd->value = value; /* duplicates: the smaller value wins */
	}
}

static void insert(struct sx_lpm *t, const struct sx_prefix *p, int64_t value)
{
	uint32_t cur = 0;
	for (;;) {
		struct node *nd = &t->nodes[cur];
		if (nd->len == p->len) {
			node_set(t, nd, value);
			return;
		}
		unsigned side = bit_at(p->addr, nd->len);
		uint32_t c = nd->child[side];
		if (c == NIL) {
			uint32_t leaf = node_new(t, p->addr, p->len);
			node_set(t, &t->nodes[leaf], value);
			t->nodes[cur].child[side] = leaf;
			return;
		}
		struct node *cn = &t->nodes[c];
		unsigned lim = cn->len < p->len ? cn->len : p->len;
		unsigned common = common_bits(cn->key, p->addr, lim);
		if (common == cn->len) {
			cur = c;    /* the child is a prefix of p: descend */
			continue;
		}
		/* p and the child part ways (or p is a prefix of the child) at bit
		 * common: a node for the first common bits goes between them. */
		uint32_t mid = node_new(t, p->addr, common);
		struct node *mn = &t->nodes[mid];
		mn->child[bit_at(t->nodes[c].key, common)] = c;
		if (common == p->len) {
			node_set(t, mn, value);
		} else {
			uint32_t leaf = node_new(t, p->addr, p->len);
			node_set(t, &t->nodes[leaf], value);
			t->nodes[mid].child[bit_at(p->addr, common)] = leaf;
		}
		t->nodes[cur].child[side] = mid;
		return;
	}
}

int sx_lpm_build(const struct sx_prefix *prefixes, const int64_t *values, size_t n,
		 struct sx_lpm **out)
{
	*out = NULL;
	for (size_t i = 0; i < n; i++)
		if (prefixes[i].len > 128 || !host_bits_clear(&prefixes[i]))
			return SX_EINVAL;
	/* Each insertion adds at most two nodes. */
	if (n > (UINT32_MAX - 2) / 2 || n > (SIZE_MAX / sizeof(struct node) - 1) / 2)
		return SX_ENOMEM;
	struct sx_lpm *t = calloc(1, sizeof *t);
	if (!t)
		return SX_ENOMEM;
	t->nodes = malloc((2 * n + 1) * sizeof *t->nodes);
	if (!t->nodes) {
		free(t);
		return SX_ENOMEM;
	}
	static const uint8_t zero[16];
	node_new(t, zero, 0);
	for (size_t i = 0; i < n; i++)
		insert(t, &prefixes[i], values[i]);
	if (t->nnodes < 2 * n + 1) {
		struct node *shrunk = realloc(t->nodes, t->nnodes * sizeof *t->nodes);
		if (shrunk)
			t->nodes = shrunk;
	}
	*out = t;
	return 0;
}

void sx_lpm_destroy(struct sx_lpm *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t);
}

int sx_lpm_lookup(const struct sx_lpm *t, const uint8_t addr[16], int64_t *value, uint8_t *len)
{
	const struct node *best = NULL;
	uint32_t cur = 0;
	while (cur != NIL) {
		const struct node *nd = &t->nodes[cur];
		if (!covers(nd, addr))
			break;
		if (nd->has_value)
			best = nd;
		if (nd->len == 128)
			break;
		cur = nd->child[bit_at(addr, nd->len)];
	}
	if (!best)
		return SX_ENOTFOUND;
	*value = best->value;
	*len = best->len;
	return 0;
}

size_t sx_lpm_count(const struct sx_lpm *t)
{
	return t ? t->count : 0;
}
