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
	/* ISP notices (client/arf.h, client/xarf.h), optionally as daily digests */
	SX_SINK_ARF_MAILDIR = 4,  /* one ARF message per report id in DIR, Maildir way */
	SX_SINK_ARF_EXEC = 5,     /* a command per notice: ARF on stdin, metadata in env */
	SX_SINK_XARF_JSONL = 6,   /* one XARF v4 object per line in FILE, appended */
	SX_SINK_XARF_EXEC = 7,    /* a command per notice: XARF JSON on stdin */
};

/* Notice sinks: one notice per report, or one per (source IP, UTC day). */
enum sx_sink_digest {
	SX_SINK_DIGEST_NONE = 0,
	SX_SINK_DIGEST_DAILY = 1,
};

/* What a sink was told to do (from the agent's configuration). */
struct sx_sink_conf {
	enum sx_sink_kind kind;
	const char *path;             /* Maildir folder or JSON Lines file */
	const char *command;          /* exec: run with /bin/sh -c */
	uint64_t exec_timeout_ms;     /* exec: killed (SIGKILL) after this; counts as nak */
	uint64_t exec_output_max;     /* exec: bytes of its stdout/stderr kept for the log */
	/* notice sinks only (kinds 4..7); NULL or 0: defaults (client/notice.h) */
	const char *reporter_org;
	const char *reporter_contact;
	const char *reporter_domain;
	const char *notice_to;        /* ARF To: */
	const char *config_path;      /* the agent's configuration, for the answer text */
	uint64_t message_max;         /* ARF: attach only the headers above this */
	enum sx_sink_digest digest;
	const char *digest_state;     /* digest state file; NULL: PATH.digest */
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

/*
 * Digest sinks: sends the digest notices that are due (their UTC day is
 * over), or every one when all is non-zero, and forgets them. *emitted (may
 * be NULL) gets how many went out. Another sink or process working on the
 * same state file waits (the state is locked). A sink without digest mode
 * does nothing. Returns 0, or SX_EIO / SX_ENOMEM / SX_EINVAL with one line
 * in err (what was sent before the failure stays sent).
 */
int sx_sink_flush(struct sx_sink *s, int all, unsigned *emitted, char *err, size_t errlen);

/* Writes the X-Sprex-* header block (report id, seq, source, received time,
 * violation flags, source IP, ISP, redaction count), CRLF-terminated lines,
 * into out (at most outlen bytes, NUL-terminated). Returns its length, or
 * SX_ETOOBIG. Used by the Maildir sink; exported for tests. */
int sx_sink_xheaders(const Sprex__Deliver *d, char *out, size_t outlen);

#endif
