/*
 * test_agentconf.c: sprex-agent's configuration (client/agentconf.c), above
 * all its [subscription NAME] sections. Errors are compared whole: the
 * file:line and the wording are what a member reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/agentconf.h"
#include "lib/err.h"
#include "mail/analyze.h"

#define ERRLEN 512

#define TOP "server = sprex.example:7443\n" \
	    "tls_cert = /etc/sprex/member.crt\n" \
	    "tls_key = /etc/sprex/member.key\n" \
	    "tls_ca = /etc/sprex/ca.crt\n"

static int load(struct sx_agentconf *c, const char *text, char *err)
{
	err[0] = '\0';
	return sx_agentconf_load_buf(c, "agent.conf", text, strlen(text), err, ERRLEN);
}

static void test_full(void **state)
{
	(void)state;
	struct sx_agentconf c;
	char err[ERRLEN];
	const char *text = TOP
		"status_file = /var/lib/sprex/status\n"
		"\n"
		"[subscription spam-feed]\n"
		"feed = association\n"
		"sources = public, monitor\n"
		"flags = opt-in,labeling , spoofing\n"
		"categories = japanese,virus\n"
		"start = earliest\n"
		"window_count = 100\n"
		"window_bytes = 8M\n"
		"sink = maildir\n"
		"path = /var/spool/sprex/Maildir\n"
		"\n"
		"[subscription archive.v2]\n"
		"feed = chain\n"
		"start = seq:1234\n"
		"sink = jsonl\n"
		"path = \"/var/lib/sprex/chain.jsonl\"\n"
		"reset = yes\n"
		"[subscription Enf_1]\n"
		"feed = enforcement\n"
		"isps = isp-a, isp_b.jp\n"
		"countries = jp, US\n"
		"start = time:2026-11-01T00:00:00Z\n"
		"sink = exec\n"
		"command = sa-learn --spam\n"
		"exec_timeout = 90s\n"
		"exec_output_max = 1K\n"
		"[subscription notices]\n"
		"feed = notices\n"
		"sink = exec\n"
		"command = rspamc learn_spam\n";
	assert_int_equal(load(&c, text, err), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.status_file, "/var/lib/sprex/status");
	assert_int_equal(c.n_subs, 4);

	const struct sx_agentsub *s = &c.subs[0];
	assert_string_equal(s->name, "spam-feed");
	assert_int_equal(s->feed, SPREX__FEED__FEED_ASSOCIATION);
	assert_int_equal(s->sources, SX_AGENT_SRC_PUBLIC | SX_AGENT_SRC_MONITOR);
	assert_int_equal(s->sources, (1u << SPREX__SOURCE__SOURCE_PUBLIC) |
					     (1u << SPREX__SOURCE__SOURCE_MONITOR));
	assert_int_equal(s->flags, SX_FLAG_OPTIN | SX_FLAG_LABELING | SX_FLAG_SPOOFING);
	assert_int_equal(s->flags, 7);
	assert_int_equal(s->categories, SX_CAT_JAPANESE | SX_CAT_VIRUS);
	assert_int_equal(s->categories, 9);
	assert_int_equal(s->start.kind, SX_AGENT_START_EARLIEST);
	assert_int_equal(s->window_count, 100);
	assert_int_equal(s->window_bytes, 8u << 20);
	assert_int_equal(s->sink, SX_SINK_MAILDIR);
	assert_string_equal(s->path, "/var/spool/sprex/Maildir");
	assert_null(s->command);
	assert_int_equal(s->reset, 0);
	assert_int_equal(s->exec_timeout_ms, SX_AGENT_EXEC_TIMEOUT_MS);

	s = &c.subs[1];
	assert_string_equal(s->name, "archive.v2");
	assert_int_equal(s->feed, SPREX__FEED__FEED_CHAIN);
	assert_int_equal(s->sources, 0);
	assert_int_equal(s->start.kind, SX_AGENT_START_SEQ);
	assert_int_equal(s->start.seq, 1234);
	assert_int_equal(s->sink, SX_SINK_JSONL);
	assert_int_equal(s->reset, 1);
	assert_int_equal(s->window_count, 0);

	s = &c.subs[2];
	assert_string_equal(s->name, "Enf_1");
	assert_int_equal(s->isps.n, 2);
	assert_string_equal(s->isps.v[0], "isp-a");
	assert_string_equal(s->isps.v[1], "isp_b.jp");
	assert_int_equal(s->countries.n, 2);
	assert_string_equal(s->countries.v[0], "JP");
	assert_string_equal(s->countries.v[1], "US");
	assert_int_equal(s->start.kind, SX_AGENT_START_TIME);
	assert_int_equal(s->start.time_ms, 1793491200000);
	assert_int_equal(s->exec_timeout_ms, 90000);
	assert_int_equal(s->exec_output_max, 1024);

	s = &c.subs[3];
	assert_int_equal(s->start.kind, SX_AGENT_START_NEW); /* the default */
	assert_int_equal(s->exec_output_max, SX_AGENT_EXEC_OUTPUT_MAX);
	struct sx_sink_conf sc;
	sx_agentsub_sink_conf(s, &sc);
	assert_int_equal(sc.kind, SX_SINK_EXEC);
	assert_string_equal(sc.command, "rspamc learn_spam");
	assert_null(sc.path);
	assert_int_equal(sc.exec_timeout_ms, 60000);
	assert_int_equal(sc.exec_output_max, 4096);
	sx_agentconf_finish(&c);
	assert_int_equal(c.n_subs, 0);
	assert_null(c.status_file);

	/* no subscriptions at all is fine (a submitter) */
	assert_int_equal(load(&c, TOP, err), 0);
	assert_int_equal(c.n_subs, 0);
	assert_null(c.status_file);
	sx_agentconf_finish(&c);
}

struct bad {
	const char *text;   /* after TOP (4 lines) */
	const char *err;
};

static void test_errors(void **state)
{
	(void)state;
	static const struct bad bad[] = {
		{ "[subscription a]\nfeed = vendors\nsink = exec\ncommand = x\n",
		  "agent.conf:6: feed: unknown feed \"vendors\"; expected one of association, notices, "
		  "enforcement, chain" },
		{ "[subscription a]\nfeed = chain\nstart = yesterday\n",
		  "agent.conf:7: start: expected earliest, new, seq:N or "
		  "time:YYYY-MM-DDTHH:MM:SSZ, got \"yesterday\"" },
		{ "[subscription a]\nfeed = chain\nstart = time:2026-02-30T00:00:00Z\n",
		  "agent.conf:7: start: expected earliest, new, seq:N or "
		  "time:YYYY-MM-DDTHH:MM:SSZ, got \"time:2026-02-30T00:00:00Z\"" },
		{ "[subscription a]\nfeed = chain\nstart = time:2026-01-30T00:00:00+09:00\n",
		  "agent.conf:7: start: expected earliest, new, seq:N or "
		  "time:YYYY-MM-DDTHH:MM:SSZ, got \"time:2026-01-30T00:00:00+09:00\"" },
		{ "[subscription a]\nfeed = chain\nstart = seq:-1\n",
		  "agent.conf:7: start: expected earliest, new, seq:N or "
		  "time:YYYY-MM-DDTHH:MM:SSZ, got \"seq:-1\"" },
		{ "[subscription a]\nfeed = chain\nsink = maildir\n\n# nothing else\n",
		  "agent.conf:9: [subscription a]: sink maildir needs path" },
		{ "[subscription a]\nfeed = chain\nsink = jsonl\n[subscription b]\n",
		  "agent.conf:7: [subscription a]: sink jsonl needs path" },
		{ "[subscription a]\nfeed = chain\nsink = exec\n",
		  "agent.conf:7: [subscription a]: sink exec needs command" },
		{ "[subscription a]\nfeed = chain\nsink = exec\ncommand = x\npath = /tmp/x\n",
		  "agent.conf:9: [subscription a]: path is not used by sink exec" },
		{ "[subscription a]\nfeed = chain\nsink = exec\ncommand = x\n"
		  "[subscription a]\nfeed = chain\nsink = exec\ncommand = x\n",
		  "agent.conf:9: [subscription a]: subscription \"a\" defined twice" },
		{ "[subscription a/b]\n",
		  "agent.conf:5: [subscription a/b]: subscription name must be 1..63 bytes of "
		  "[A-Za-z0-9._-]" },
		{ "[subscription]\n",
		  "agent.conf:5: [subscription ]: subscription name must be 1..63 bytes of "
		  "[A-Za-z0-9._-]" },
		{ "[subscription a b]\n",
		  "agent.conf:5: [subscription a b]: subscription name must be 1..63 bytes of "
		  "[A-Za-z0-9._-]" },
		{ "[sub a]\n",
		  "agent.conf:5: [sub a]: unknown section kind \"sub\"; expected subscription" },
		{ "[subscription a]\nsink = exec\ncommand = x\n",
		  "agent.conf:7: required key \"feed\" missing in this section" },
		{ "[subscription a]\nfeed = chain\n",
		  "agent.conf:6: required key \"sink\" missing in this section" },
		{ "[subscription a]\nfeed = chain\nsink = pipe\n",
		  "agent.conf:7: sink: unknown sink \"pipe\"; expected one of maildir, jsonl, exec, "
		  "arf-maildir, arf-exec, xarf-jsonl, xarf-exec" },
		{ "[subscription a]\nfeed = chain\nsources = public,,chain\n",
		  "agent.conf:7: sources: empty item in the list" },
		{ "[subscription a]\nfeed = chain\nflags = opt-in,spam\n",
		  "agent.conf:7: flags: unknown flag \"spam\"; expected one of opt-in, labeling, spoofing" },
		{ "[subscription a]\nfeed = chain\ncategories = english\n",
		  "agent.conf:7: categories: unknown category \"english\"; expected one of japanese, foreign, "
		  "garbled, virus, insufficient" },
		{ "[subscription a]\nfeed = chain\ncountries = JPN\n",
		  "agent.conf:7: countries: \"JPN\" is not an ISO 3166 alpha-2 code" },
		{ "[subscription a]\nfeed = chain\nisps = a b\n",
		  "agent.conf:7: isps: \"a b\" is not a member name ([A-Za-z0-9._-])" },
		{ "[subscription a]\nfeed = chain\nwindow_count = 0\n", NULL },
		{ "[subscription a]\nfeed = chain\nexec_timeout = 10ms\n", NULL },
		{ "[subscription a]\nfeed = chain\nreset = maybe\n", NULL },
		{ "checkpoint_dir = /x\n", "agent.conf:5: unknown key \"checkpoint_dir\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[2048], err[ERRLEN];
		struct sx_agentconf c;
		snprintf(text, sizeof text, "%s%s", TOP, bad[i].text);
		int rc = load(&c, text, err);
		if (rc != SX_ECONFIG || (bad[i].err && strcmp(err, bad[i].err) != 0))
			print_error("case %zu: rc %d, err \"%s\"\n", i, rc, err);
		assert_int_equal(rc, SX_ECONFIG);
		if (bad[i].err)
			assert_string_equal(err, bad[i].err);
		else
			assert_true(strncmp(err, "agent.conf:7: ", 14) == 0);
		sx_agentconf_finish(&c);
	}
}

/* SX_AGENT_SUBS_MAX sections load; one more is refused at its header. */
static void test_limits(void **state)
{
	(void)state;
	size_t cap = 64 * 1024;
	char *text = malloc(cap), err[ERRLEN];
	assert_non_null(text);
	size_t pos = (size_t)snprintf(text, cap, "%s", TOP);
	for (int i = 0; i < SX_AGENT_SUBS_MAX; i++)
		pos += (size_t)snprintf(text + pos, cap - pos,
					"[subscription s%d]\nfeed = chain\nsink = exec\n"
					"command = true\n", i);
	struct sx_agentconf c;
	assert_int_equal(load(&c, text, err), 0);
	assert_int_equal(c.n_subs, SX_AGENT_SUBS_MAX);
	sx_agentconf_finish(&c);
	snprintf(text + pos, cap - pos, "[subscription one-more]\nfeed = chain\n");
	assert_int_equal(load(&c, text, err), SX_ECONFIG);
	assert_string_equal(err, "agent.conf:133: [subscription one-more]: more than 32 "
				 "subscriptions");
	sx_agentconf_finish(&c);

	/* names: 63 bytes accepted, 64 refused */
	char name[80];
	memset(name, 'n', 64);
	name[63] = '\0';
	snprintf(text, cap, "%s[subscription %s]\nfeed = chain\nsink = exec\ncommand = x\n",
		 TOP, name);
	assert_int_equal(load(&c, text, err), 0);
	assert_string_equal(c.subs[0].name, name);
	sx_agentconf_finish(&c);
	name[63] = 'n';
	name[64] = '\0';
	snprintf(text, cap, "%s[subscription %s]\nfeed = chain\nsink = exec\ncommand = x\n",
		 TOP, name);
	assert_int_equal(load(&c, text, err), SX_ECONFIG);
	assert_non_null(strstr(err, "agent.conf:5: "));
	sx_agentconf_finish(&c);

	/* one item: 63 bytes accepted, 64 refused */
	name[63] = '\0';
	snprintf(text, cap, "%s[subscription a]\nfeed = enforcement\nisps = %s\nsink = exec\n"
		 "command = x\n", TOP, name);
	assert_int_equal(load(&c, text, err), 0);
	assert_string_equal(c.subs[0].isps.v[0], name);
	sx_agentconf_finish(&c);
	name[63] = 'n';
	snprintf(text, cap, "%s[subscription a]\nfeed = enforcement\nisps = %s\n", TOP, name);
	assert_int_equal(load(&c, text, err), SX_ECONFIG);
	assert_string_equal(err, "agent.conf:7: isps: item longer than 63 bytes");
	sx_agentconf_finish(&c);

	/* list items: SX_AGENT_LIST_MAX accepted, one more refused */
	pos = (size_t)snprintf(text, cap, "%s[subscription a]\nfeed = enforcement\nisps = ", TOP);
	for (int i = 0; i < SX_AGENT_LIST_MAX; i++)
		pos += (size_t)snprintf(text + pos, cap - pos, "%sisp%d", i ? "," : "", i);
	size_t at = pos;
	snprintf(text + pos, cap - pos, "\nsink = exec\ncommand = x\n");
	assert_int_equal(load(&c, text, err), 0);
	assert_int_equal(c.subs[0].isps.n, SX_AGENT_LIST_MAX);
	sx_agentconf_finish(&c);
	snprintf(text + at, cap - at, ",isp64\nsink = exec\ncommand = x\n");
	assert_int_equal(load(&c, text, err), SX_ECONFIG);
	assert_string_equal(err, "agent.conf:7: isps: more than 64 items");
	sx_agentconf_finish(&c);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
