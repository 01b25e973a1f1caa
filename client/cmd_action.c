/*
 * sprex-agent action: an ISP says what it did about a notice (a report sent
 * to it on the notices feed). Answered only after the server committed it.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "agent.h"
#include "err.h"
#include "peer.h"
#include "request.h"


static int answered(void *ctx, const Sprex__Frame *f)
{
	(void)ctx;
	if (f->msg_case == SPREX__FRAME__MSG_NOTICE_ACTION_OK) {
		const char *n = sx_action_name((int)f->notice_action_ok->action);
		printf("%s: %s recorded\n", f->notice_action_ok->report_id, n ? n : "action");
		return 0;
	}
	if (f->msg_case != SPREX__FRAME__MSG_ERROR)
		return -1;
	fprintf(stderr, "sprex-agent: action refused: %s: %s\n", sx_error_name(f->error->code),
		f->error->message);
	switch (f->error->code) {
	case SPREX__ERROR_CODE__ERROR_BUSY:
	case SPREX__ERROR_CODE__ERROR_INTERNAL:
		return EX_TEMPFAIL;
	case SPREX__ERROR_CODE__ERROR_FORBIDDEN:
		return EX_NOPERM;
	default:
		return EX_DATAERR;
	}
}

int sx_agent_cmd_action(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "taken", required_argument, NULL, 't' },
		{ "note", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *taken = NULL, *note = "";
	int ch;
	while ((ch = sx_agent_getopt(o, argc, argv, "t:n:", opts)) != -1) {
		if (ch == 't')
			taken = optarg;
		else if (ch == 'n')
			note = optarg;
		else
			return EX_USAGE;
	}
	if (optind + 1 != argc || !taken) {
		fprintf(stderr, "sprex-agent: action --config FILE REPORT_ID --taken ACTION "
				"[--note TEXT]\n");
		return EX_USAGE;
	}
	int a = sx_action_parse(taken);
	if (a == 0) {
		fprintf(stderr, "sprex-agent: unknown action \"%s\"; one of investigating, warning, "
				"suspension, termination, not-our-customer, insufficient-evidence\n",
			taken);
		return EX_USAGE;
	}
	struct sx_agentconf conf;
	SSL_CTX *tls;
	int st = sx_agent_setup(o, &conf, &tls);
	if (st)
		return st;
	Sprex__NoticeAction na = SPREX__NOTICE_ACTION__INIT;
	na.report_id = argv[optind];
	na.action = (Sprex__NoticeActionKind)a;
	na.note = (char *)note;
	Sprex__Frame f = SPREX__FRAME__INIT;
	f.msg_case = SPREX__FRAME__MSG_NOTICE_ACTION;
	f.notice_action = &na;
	st = sx_request_run(&conf, tls, &f, answered, NULL);
	sx_agent_teardown(&conf, tls);
	return st;
}
