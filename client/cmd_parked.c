/*
 * sprex-agent parked list|replay: the reports the server parked for one of
 * the member's subscriptions (too many failed deliveries, or rejected by a
 * sink), and putting them back in the queue.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "agent.h"
#include "err.h"
#include "peer.h"
#include "request.h"

#define PARKED_SEQS_MAX 1000

static int print_list(void *ctx, const Sprex__Frame *f)
{
	(void)ctx;
	if (f->msg_case == SPREX__FRAME__MSG_ERROR) {
		fprintf(stderr, "sprex-agent: parked: %s: %s\n", sx_error_name(f->error->code),
			f->error->message);
		return f->error->code == SPREX__ERROR_CODE__ERROR_NOT_FOUND ? EX_DATAERR
		       : f->error->code == SPREX__ERROR_CODE__ERROR_BUSY ? EX_TEMPFAIL
									  : EX_UNAVAILABLE;
	}
	if (f->msg_case != SPREX__FRAME__MSG_PARKED_LIST)
		return -1;
	const Sprex__ParkedList *pl = f->parked_list;
	if (pl->replayed)
		printf("replayed %u parked reports of %s\n", pl->replayed, pl->name);
	for (size_t i = 0; i < pl->n_entries; i++) {
		const Sprex__Parked *p = pl->entries[i];
		printf("%s seq %" PRIu64 " deliveries %u: %s\n", p->report_id, p->seq,
		       p->delivery_count, p->reason);
	}
	if (!pl->n_entries && !pl->replayed)
		printf("no parked reports in %s\n", pl->name);
	return 0;
}

int sx_agent_cmd_parked(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "subscription", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	int ch;
	while ((ch = sx_agent_getopt(o, argc, argv, "s:", opts)) != -1) {
		if (ch == 's')
			name = optarg;
		else
			return EX_USAGE;
	}
	if (optind >= argc || (strcmp(argv[optind], "list") && strcmp(argv[optind], "replay"))) {
		fprintf(stderr, "sprex-agent: parked list|replay --subscription NAME [SEQ...]\n");
		return EX_USAGE;
	}
	int replay = strcmp(argv[optind++], "replay") == 0;
	if (!name) {
		fprintf(stderr, "sprex-agent: parked: --subscription NAME is required\n");
		return EX_USAGE;
	}
	size_t n = (size_t)(argc - optind);
	if (n && !replay) {
		fprintf(stderr, "sprex-agent: parked list takes no seqs\n");
		return EX_USAGE;
	}
	if (n > PARKED_SEQS_MAX) {
		fprintf(stderr, "sprex-agent: at most %d seqs per replay\n", PARKED_SEQS_MAX);
		return EX_USAGE;
	}
	uint64_t seqs[PARKED_SEQS_MAX];
	for (size_t i = 0; i < n; i++) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[optind + i], &end, 10);
		if (errno || *end || v == 0 || argv[optind + i][0] == '-') {
			fprintf(stderr, "sprex-agent: \"%s\" is not a seq\n", argv[optind + i]);
			return EX_USAGE;
		}
		seqs[i] = v;
	}
	struct sx_agentconf conf;
	SSL_CTX *tls;
	int st = sx_agent_setup(o, &conf, &tls);
	if (st)
		return st;
	Sprex__ParkedQuery q = SPREX__PARKED_QUERY__INIT;
	q.name = (char *)name;
	q.replay = replay && n == 0;
	q.n_seqs = n;
	q.seqs = seqs;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_PARKED_QUERY;
	f.parked_query = &q;
	st = sx_request_run(&conf, tls, &f, print_list, NULL);
	sx_agent_teardown(&conf, tls);
	return st;
}
