/*
 * srvconf.h: sprexd's configuration file (see docs/man/sprexd.conf.5).
 */
#ifndef SX_SRVCONF_H
#define SX_SRVCONF_H

#include <stddef.h>
#include <stdint.h>

#include "mime.h"
#include "netaddr.h"

#define SX_LISTEN_MAX 16
#define SX_RELAYS_MAX 256
/* intake_threads at most: libuv's own ceiling on its thread pool. */
#define SX_INTAKE_THREADS_MAX 1024

struct sx_listen {
	char host[SX_HOST_MAX];
	uint16_t port;
	unsigned line;
};

struct sx_srvconf {
	struct sx_listen listen[SX_LISTEN_MAX];
	size_t nlisten;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *tls_crl;              /* optional */
	char *db;
	char *pidfile;              /* optional */
	int log_level;              /* SX_LOG_* */
	uint64_t max_frame;         /* bytes */
	uint64_t heartbeat_ms;
	uint32_t max_connections;
	uint64_t handshake_timeout_ms;
	uint64_t shutdown_timeout_ms;
	uint64_t out_high;          /* per-connection output high watermark, bytes */
	uint64_t out_low;
	uint64_t reload_interval_ms; /* how often member and CRL changes are looked for */
	/* Subscriptions and delivery (docs/subscriptions.md). */
	uint32_t max_subscriptions;  /* per session */
	uint32_t window_count;       /* default unacked reports per subscription */
	uint64_t window_bytes;       /* default unacked bytes per subscription */
	uint32_t window_count_max;   /* a member may ask for up to this */
	uint64_t window_bytes_max;
	uint64_t ack_wait_ms;        /* first redelivery after this; doubles each time */
	uint64_t ack_wait_max_ms;    /* backoff cap */
	uint32_t max_deliveries;     /* then parked */
	uint32_t cache_reports;      /* recent reports kept in memory for live delivery */
	uint64_t cache_bytes;
	uint32_t retention_days;     /* 0: keep forever */
	uint64_t commit_ms;          /* delivery_commit_interval: write-behind period */
	/* Intake (also read by sprexctl ingest --config). */
	uint32_t max_submits;        /* Submits in progress (pipeline or commit) at once */
	uint32_t intake_threads;     /* libuv thread pool size; 0: not set (see sprexd.c) */
	struct sx_mail_limits limits;
	struct sx_prefix relay_prefixes[SX_RELAYS_MAX]; /* trusted_relay CIDRs */
	size_t nrelay_prefixes;
	char *relay_hosts[SX_RELAYS_MAX];                /* trusted_relay host names */
	size_t nrelay_hosts;
	/* Audit log (docs/audit.md). */
	char *audit_key;             /* optional; NULL: "<db>.audit-key" (sx_audit_key_path) */
	uint64_t audit_checkpoint_ms; /* audit_checkpoint_interval */
};

/*
 * Loads path into conf (defaults first, then the file). Returns 0, or
 * SX_EIO / SX_ECONFIG with "path:line: problem" in err. Release with
 * sx_srvconf_finish either way.
 */
int sx_srvconf_load(struct sx_srvconf *conf, const char *path, char *err, size_t errlen);
/* Frees the strings of conf. */
void sx_srvconf_finish(struct sx_srvconf *conf);
#endif
