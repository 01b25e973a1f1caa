/*
 * sink.h: where sprex-agent puts a delivered report. Each sink is
 * synchronous and blocking (it writes and fsyncs, or runs a command and
 * waits): the agent calls it from a worker thread, one report at a time per
 * subscription, and acks, naks or rejects by what it returns. A sink is
 * idempotent by report id, so a redelivered report is harmless.
 */
#ifndef SX_SINK_H
#define SX_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

enum sx_sink_kind {
	SX_SINK_MAILDIR = 1,  /* one file per report id in DIR/{tmp,new,cur} */
	SX_SINK_JSONL = 2,    /* one JSON object per line in FILE, appended */
	SX_SINK_EXEC = 3,     /* a command per report: mail on stdin, metadata in env */
};

/* What a sink was told to do (from the agent's configuration). */
struct sx_sink_conf {
	enum sx_sink_kind kind;
	const char *path;             /* Maildir folder or JSON Lines file */
	const char *command;          /* exec: run with /bin/sh -c */
	uint64_t exec_timeout_ms;     /* exec: killed (SIGKILL) after this; counts as nak */
	uint64_t exec_output_max;     /* exec: bytes of its stdout/stderr kept for the log */
};

/* The outcome the agent turns into Ack, Reject or Nak. */
enum sx_sink_result {
	SX_SINK_ACK = 0,      /* stored (or already stored): ack */
	SX_SINK_REJECT = 1,   /* bad for this member (exec exit 65): park at once */
	SX_SINK_NAK = 2,      /* try again later (any other failure) */
};

/* One delivered report, borrowed from the Deliver frame. */
struct sx_delivery {
	const char *subscription;     /* the subscription's name */
	const Sprex__Deliver *d;      /* seq, report id, delivery count, meta, manifest, mail */
};

struct sx_sink;

/*
 * Opens a sink: Maildir creates DIR, tmp/, new/, cur/ (0700) when missing;
 * JSON Lines opens FILE for appending (0600, created when missing); exec
 * checks nothing but the command's presence. Returns 0 and *out, or
 * SX_EINVAL / SX_EIO / SX_ENOMEM with one line in err; free with
 * sx_sink_destroy.
 */
int sx_sink_create(const struct sx_sink_conf *conf, struct sx_sink **out, char *err,
		   size_t errlen);
/* Closes and frees; NULL is fine. */
void sx_sink_destroy(struct sx_sink *s);

/*
 * Hands one report to the sink; blocks until it is durable (fsync of the
 * file and its folder) or the command exited. Returns the outcome; for
 * SX_SINK_NAK and SX_SINK_REJECT err holds one line saying why (exit status,
 * errno text, timeout). Thread-safe for distinct sinks; one call at a time
 * per sink.
 */
enum sx_sink_result sx_sink_deliver(struct sx_sink *s, const struct sx_delivery *dl, char *err,
				    size_t errlen);

/* Writes the X-Sprex-* header block (report id, seq, source, received time,
 * violation flags, source IP, ISP, redaction count), CRLF-terminated lines,
 * into out (at most outlen bytes, NUL-terminated). Returns its length, or
 * SX_ETOOBIG. Used by the Maildir sink; exported for tests. */
int sx_sink_xheaders(const Sprex__Deliver *d, char *out, size_t outlen);

#endif
