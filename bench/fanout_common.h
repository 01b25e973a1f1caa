/*
 * fanout_common.h: what the three fan-out load generators (bench/fanout_*.c,
 * run by bench/fanout.sh) share: the spam mail they publish, the send
 * timestamp it carries, latency samples and the result line.
 *
 * The mail is one realistic ~6 KB Japanese spam capture (monitor source: a
 * trap address in Delivered-To/X-Original-To/To, Received hops from the
 * documentation ranges, multipart/alternative text + HTML with tracking URLs).
 * Two fixed-width fields are patched in place for each message, so every
 * message has the same size and a distinct identity:
 *
 *   Message-ID: <0000000042.fanout....@mail.example.net>   (the sequence)
 *   X-Bench-Sent: 00001234567890123456                     (CLOCK_MONOTONIC ns)
 *
 * CLOCK_MONOTONIC is one clock for every process of the machine, so the
 * receive-minus-send difference is meaningful across processes on one host.
 */
#ifndef SX_FANOUT_COMMON_H
#define SX_FANOUT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define FANOUT_SENT_HEADER "X-Bench-Sent: "

struct fanout_mail {
	char *buf;
	size_t len;
	size_t seq_off;   /* offset of the 10 sequence digits */
	size_t sent_off;  /* offset of the 20 timestamp digits */
};

/* Builds the mail (about 6 KB). Returns 0, or -1 out of memory. */
int fanout_mail_init(struct fanout_mail *m);
void fanout_mail_free(struct fanout_mail *m);
/* Writes seq and sent_ns into the mail's fixed-width fields. */
void fanout_mail_stamp(struct fanout_mail *m, uint64_t seq, uint64_t sent_ns);

/* The X-Bench-Sent value of a delivered mail (searched in its header
 * section), or 0 when there is none. */
uint64_t fanout_sent_ns(const void *mail, size_t len);

uint64_t fanout_now_ns(void);       /* CLOCK_MONOTONIC */
double fanout_cpu_seconds(void);    /* user + system of this process (and its threads) */

/* Latency samples in microseconds. Not thread-safe: the caller locks. */
struct fanout_lat {
	uint32_t *us;
	size_t n, cap;
	uint64_t dropped;   /* samples beyond cap */
};
int fanout_lat_init(struct fanout_lat *l, size_t cap);
void fanout_lat_add(struct fanout_lat *l, uint64_t sent_ns, uint64_t now_ns);
/* Sorts and returns the p-th percentile (0..100) in ms; 0 when empty. */
double fanout_lat_pct(struct fanout_lat *l, double p);
void fanout_lat_free(struct fanout_lat *l);

/* Prints one "latency ..." line of key=value fields from l (sorted). */
void fanout_lat_print(struct fanout_lat *l, const char *prefix);

/* Parses a non-negative integer option or exits 2 with a message. */
long fanout_parse_long(const char *prog, const char *what, const char *s, long min);

#endif
