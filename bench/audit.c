/*
 * audit.c: what the audit log costs the store's delivery writes.
 *
 *   audit-bench [DELIVERIES [BATCH]]
 *
 * Writes DELIVERIES pending rows (sx_store_pending_put, as the feed's
 * write-through does) in batches of BATCH (one fsync each), once without and
 * once with one sx_store_audit_append per delivery in the same batch, and
 * prints deliveries per second for both and the ratio. A fresh database in
 * $TMPDIR each run, removed after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, struct sx_store *s)
{
	fprintf(stderr, "audit-bench: %s: %s\n", what, s ? sx_store_errmsg(s) : "");
	return 1;
}

static int run(const char *dir, int audit, long n, long batch, double *rate)
{
	char path[512], err[256];
	snprintf(path, sizeof path, "%s/audit-bench-%d.db", dir, audit);
	struct sx_store *s;
	if (sx_store_open(path, SX_STORE_CREATE, &s, err, sizeof err) != 0) {
		fprintf(stderr, "audit-bench: %s\n", err);
		return 1;
	}
	uint8_t spki[SX_SPKI_LEN] = { 1, 2, 3 };
	struct sx_sub sub;
	memset(&sub, 0, sizeof sub);
	if (sx_store_member_add(s, "vendor1", SX_ROLE_VENDOR, spki, NULL, 0, 1) != 0)
		return die("member", s);
	struct sx_member m;
	sx_store_member_get(s, "vendor1", &m);
	sub.member = m.id;
	snprintf(sub.name, sizeof sub.name, "main");
	sub.feed = 1;
	sub.position = 1;
	sub.window_count = 1000;
	sub.window_bytes = 1 << 20;
	sub.created_ms = 1;
	if (sx_store_sub_create(s, &sub) != 0)
		return die("subscription", s);
	struct sx_audit_rec r;
	memset(&r, 0, sizeof r);
	snprintf(r.event, sizeof r.event, "deliver");
	snprintf(r.member, sizeof r.member, "vendor1");
	sx_audit_spki_hex(spki, r.spki);
	snprintf(r.peer, sizeof r.peer, "192.0.2.1:40000");
	snprintf(r.outcome, sizeof r.outcome, "delivery 1");
	/* As sprexd does: the batch's records are appended as one run
	 * (sx_store_audit_append_many) before the commit. */
	struct sx_audit_rec *run_v = calloc((size_t)batch, sizeof *run_v);
	if (!run_v)
		return die("memory", s);
	double t0 = now_s();
	for (long i = 1; i <= n;) {
		if (sx_store_batch_begin(s) != 0)
			return die("begin", s);
		size_t nrun = 0;
		for (long k = 0; k < batch && i <= n; k++, i++) {
			if (sx_store_pending_put(s, sub.id, i, 1, i + 30000) != 0)
				return die("pending", s);
			if (audit) {
				r.time_ms = 1764345600000LL + i;
				snprintf(r.object, sizeof r.object,
					 "report=rabcdefghijklmnopqrstuvwxy seq=%ld sub=main", i);
				run_v[nrun++] = r;
			}
		}
		if (nrun && sx_store_audit_append_many(s, run_v, nrun) != 0)
			return die("audit", s);
		if (sx_store_batch_commit(s) != 0)
			return die("commit", s);
	}
	free(run_v);
	*rate = (double)n / (now_s() - t0);
	sx_store_close(s);
	static const char *const sfx[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		char p[560];
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		unlink(p);
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	long batch = argc > 2 ? atol(argv[2]) : 64;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (n < 1 || batch < 1) {
		fprintf(stderr, "usage: audit-bench [DELIVERIES [BATCH]]\n");
		return 2;
	}
	double plain, audited;
	if (run(dir, 0, n, batch, &plain) || run(dir, 1, n, batch, &audited))
		return 1;
	printf("deliveries %ld, batch %ld\n", n, batch);
	printf("without audit: %.0f deliveries/s\n", plain);
	printf("with audit:    %.0f deliveries/s (%.1f%% of without)\n", audited,
	       100.0 * audited / plain);
	return 0;
}
