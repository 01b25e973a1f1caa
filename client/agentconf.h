/*
 * agentconf.h: sprex-agent's configuration file (see sprex-agent(1) and
 * docs/agent.md): top-level connection keys and [subscription NAME]
 * sections, each naming a feed, a filter, a start and a sink.
 */
#ifndef SX_AGENTCONF_H
#define SX_AGENTCONF_H

#include <stdint.h>

#include "netaddr.h"
#include "sink.h"

#define SX_AGENT_SUBS_MAX 32        /* [subscription] sections per file */
#define SX_AGENT_SUB_NAME_MAX 63    /* bytes of [A-Za-z0-9._-] */
#define SX_AGENT_LIST_MAX 64        /* entries in isps or countries */
#define SX_AGENT_LIST_ITEM_MAX 63   /* bytes of one isps/countries entry */
#define SX_AGENT_EXEC_TIMEOUT_MS 60000u
#define SX_AGENT_EXEC_OUTPUT_MAX 4096u

/* Bits of sx_agentsub.sources: 1u << the wire's Source value. */
#define SX_AGENT_SRC_PUBLIC (1u << 1)
#define SX_AGENT_SRC_MONITOR (1u << 2)
#define SX_AGENT_SRC_CHAIN (1u << 3)

enum sx_agent_start {
	SX_AGENT_START_EARLIEST = 1,
	SX_AGENT_START_NEW = 2,
	SX_AGENT_START_SEQ = 3,    /* start_seq */
	SX_AGENT_START_TIME = 4,   /* start_time_ms, from time:YYYY-MM-DDTHH:MM:SSZ */
};

/* A comma list (isps, countries): owned strings. */
struct sx_agent_list {
	char **v;
	size_t n;
};

struct sx_agentsub {
	char name[SX_AGENT_SUB_NAME_MAX + 1];
	int feed;                 /* SPREX__FEED__FEED_*; required */
	uint32_t sources;         /* SX_AGENT_SRC_* bits; 0: what the feed allows */
	uint32_t flags;           /* SX_FLAG_* bits (mail/analyze.h); 0: any */
	uint32_t categories;      /* SX_CAT_* bits; 0: any */
	struct sx_agent_list isps;
	struct sx_agent_list countries; /* ISO 3166 alpha-2, upper case */
	struct {
		enum sx_agent_start kind; /* default SX_AGENT_START_NEW */
		uint64_t seq;
		int64_t time_ms;
	} start;
	uint32_t window_count;    /* 0: server default */
	uint64_t window_bytes;    /* 0: server default */
	int reset;                /* reset = yes: one explicit, audited reset */
	enum sx_sink_kind sink;   /* required */
	char *path;               /* maildir, jsonl: required */
	char *command;            /* exec: required */
	uint64_t exec_timeout_ms;
	uint64_t exec_output_max;
	/* notice sinks (arf-*, xarf-*) only */
	char *reporter_org;       /* default "sprex" */
	char *reporter_contact;   /* ARF From:, XARF reporter.contact */
	char *reporter_domain;
	char *notice_to;          /* ARF To: */
	uint64_t message_max;     /* ARF/XARF: headers only above; 0: default */
	int digest;               /* enum sx_sink_digest: digest = daily | none */
	char *digest_state;       /* default PATH.digest; required for *-exec */
	const char *conf_path;    /* the file this was loaded from (the answer text) */
};

struct sx_agentconf {
	char host[SX_HOST_MAX];   /* from server = host:port */
	uint16_t port;
	char *server_name;        /* name checked in the server certificate; default host */
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	int log_level;            /* SX_LOG_* */
	uint64_t max_frame;
	uint64_t heartbeat_ms;
	uint64_t handshake_timeout_ms;
	uint64_t reconnect_min_ms;
	uint64_t reconnect_max_ms;
	char *status_file;        /* subscription states from heartbeats; NULL: none */
	struct sx_agentsub subs[SX_AGENT_SUBS_MAX];
	size_t n_subs;
	char *path;               /* the file loaded (NULL for a buffer) */
};

/* Loads path into conf (defaults first). Returns 0 or SX_EIO / SX_ECONFIG
 * with "path:line: problem" in err; release with sx_agentconf_finish. */
int sx_agentconf_load(struct sx_agentconf *conf, const char *path, char *err, size_t errlen);
/* The same over a buffer; name stands for the file in messages (tests). */
int sx_agentconf_load_buf(struct sx_agentconf *conf, const char *name, const char *buf,
			  size_t len, char *err, size_t errlen);
/* Frees every string conf owns; conf may be loaded again. */
void sx_agentconf_finish(struct sx_agentconf *conf);
/* The name to verify in the server certificate. */
const char *sx_agentconf_server_name(const struct sx_agentconf *conf);
/* The sink settings of sub, borrowing its strings (valid while conf is). */
void sx_agentsub_sink_conf(const struct sx_agentsub *sub, struct sx_sink_conf *out);

#endif
