/*
 * redact_runs.c: base64 runs whose every decoding was searched and held
 * nothing. A report's texts repeat the same runs (each charset reading of a
 * body, the raw encoded body the check reads again, the same tracking URL in
 * the text and the HTML part), and what a run's decodings show depends only
 * on its bytes, on how many token levels are left and on how deep the chain
 * of views above it already is. So a run met again with the same three
 * needs no search. Runs are compared byte for byte; the hash only finds the
 * slot.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact_impl.h"

/* Eight bytes a step: runs are long (a base64 body is one). */
static uint64_t run_hash(const uint8_t *p, size_t n, unsigned key)
{
	uint64_t h = (1469598103934665603ull ^ key) + n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 32);
}

/* The slot of the run, or of the free slot where it would go; NULL when
 * the table is full and the run is not in it. */
static struct rx_run *slot(struct rx_runs *r, const uint8_t *p, size_t n, unsigned key,
			   uint64_t h)
{
	for (size_t k = 0; k < RX_RUNS_SLOTS; k++) {
		struct rx_run *s = &r->v[(h + k) % RX_RUNS_SLOTS];
		if (!s->bytes)
			return s;
		if (s->hash == h && s->n == n && s->key == key && memcmp(s->bytes, p, n) == 0)
			return s;
	}
	return NULL;
}

int sx_rx_run_clean(const struct rx_runs *r, const uint8_t *p, size_t n, unsigned key)
{
	if (r->count == 0)
		return 0;
	struct rx_run *s = slot((struct rx_runs *)r, p, n, key, run_hash(p, n, key));
	return s && s->bytes != NULL;
}

void sx_rx_run_add(struct rx_runs *r, const uint8_t *p, size_t n, unsigned key)
{
	if (n == 0 || r->count >= RX_RUNS_SLOTS / 2 || r->bytes + n > RX_RUNS_BYTES)
		return;
	uint64_t h = run_hash(p, n, key);
	struct rx_run *s = slot(r, p, n, key, h);
	if (!s || s->bytes)
		return;
	uint8_t *c = malloc(n);
	if (!c)
		return; /* best effort: the run is searched again next time */
	memcpy(c, p, n);
	s->bytes = c;
	s->n = n;
	s->key = key;
	s->hash = h;
	r->count++;
	r->bytes += n;
}

void sx_rx_runs_finish(struct rx_runs *r)
{
	if (!r->v)
		return;
	for (size_t i = 0, left = r->count; i < RX_RUNS_SLOTS && left > 0; i++) {
		if (r->v[i].bytes) {
			free(r->v[i].bytes);
			left--;
		}
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

int sx_rx_runs_init(struct rx_runs *r)
{
	memset(r, 0, sizeof *r);
	r->v = calloc(RX_RUNS_SLOTS, sizeof *r->v);
	return r->v ? 0 : SX_ENOMEM;
}
