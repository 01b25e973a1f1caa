/*
 * sprex-agent submit: a submitter (monitor receiver, intake gateway) sends
 * reports. Each file is one Submit; the answer comes only after the server
 * committed it, and a resubmitted file is recognised by its client id (by
 * default the SHA-256 of its bytes), so retrying after a failure is safe.
 * Up to --window Submits are out at once; the lines come in file order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "agent.h"
#include "agentconn.h"
#include "err.h"
#include "log.h"
#include "tlsctx.h"

#define SUBMIT_REPORTERS_MAX 16
/* Submits sent ahead of their answers, by default and at most: the server
 * runs their pipelines side by side and commits them together. */
#define SUBMIT_WINDOW 8
#define SUBMIT_WINDOW_MAX 64

struct submit {
	uv_loop_t *loop;
	char **files;
	size_t nfiles;
	size_t sent;               /* files taken on (sent, or failed to read) */
	size_t printed;            /* files whose line is out, in order */
	size_t inflight;           /* sent, not answered */
	unsigned window;
	char **line;               /* per file: its line once answered */
	unsigned char *answered;   /* per file */
	const char *client_id;     /* --id, single file only */
	Sprex__Source source;
	uint32_t consent;
	char *reporters[SUBMIT_REPORTERS_MAX];
	size_t nreporters;
	uint64_t max_bytes;        /* the negotiated frame limit less overhead */
	int status;                /* worst exit status so far */
	int done;
};

static void worst(struct submit *s, int st)
{
	/* 75 (try again) outranks 65 (this file is bad): the caller retries. */
	if (st == EX_TEMPFAIL || (s->status != EX_TEMPFAIL && st > s->status))
		s->status = st;
}

static int read_file(const char *path, uint64_t max, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	size_t cap = 64 * 1024, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			if (cap > max) {
				break;
			}
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return EX_OSERR;
	}
	if (err) {
		fprintf(stderr, "%s: read error\n", path);
		free(buf);
		return EX_IOERR;
	}
	if (n > max) {
		fprintf(stderr, "%s: larger than the %llu bytes a frame can carry\n", path,
			(unsigned long long)max);
		free(buf);
		return EX_DATAERR;
	}
	if (n == 0) {
		fprintf(stderr, "%s: empty\n", path);
		free(buf);
		return EX_DATAERR;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Prints the lines of the answered files at the head of the list, in the
 * order the files were given. */
static void print_lines(struct submit *s)
{
	for (; s->printed < s->sent && s->answered[s->printed]; s->printed++) {
		if (s->line[s->printed])
			fputs(s->line[s->printed], stdout);
		free(s->line[s->printed]);
		s->line[s->printed] = NULL;
	}
	fflush(stdout);
}

static void send_more(struct sx_agentconn *ac)
{
	struct submit *s = sx_agentconn_udata(ac);
	while (s->sent < s->nfiles && s->inflight < s->window) {
		size_t k = s->sent++;
		const char *path = s->files[k];
		uint8_t *mail;
		size_t len;
		int st = read_file(path, s->max_bytes, &mail, &len);
		if (st) {
			worst(s, st);
			s->answered[k] = 1; /* said on stderr; no line */
			continue;
		}
		char id[SX_SPKI_HEX + 8];
		if (s->client_id) {
			snprintf(id, sizeof id, "%s", s->client_id);
		} else {
			unsigned char md[32];
			EVP_Digest(mail, len, md, NULL, EVP_sha256(), NULL);
			memcpy(id, "sha256:", 7);
			sx_hex(md, sizeof md, id + 7);
		}
		Sprex__Submit sub = SPREX__SUBMIT__INIT;
		sub.client_msg_id = id;
		sub.source = s->source;
		sub.consent = s->consent;
		sub.raw_mail.data = mail;
		sub.raw_mail.len = len;
		sub.n_reporter = s->nreporters;
		sub.reporter = s->reporters;
		Sprex__Frame f = SPREX__FRAME__INIT;
		f.id = k + 1;
		f.msg_case = SPREX__FRAME__MSG_SUBMIT;
		f.submit = &sub;
		int rc = sx_agentconn_send(ac, &f);
		free(mail);
		if (rc == 0) {
			s->inflight++;
			continue;
		}
		fprintf(stderr, "%s: cannot send: %s\n", path, sx_strerror(rc));
		worst(s, rc == SX_ETOOBIG ? EX_DATAERR : EX_TEMPFAIL);
		s->answered[k] = 1;
	}
	print_lines(s);
	if (s->sent == s->nfiles && s->inflight == 0 && !s->done) {
		s->done = 1;
		sx_agentconn_stop(ac, "submissions done");
	}
}

static void on_ready(struct sx_agentconn *ac, const Sprex__Welcome *w)
{
	struct submit *s = sx_agentconn_udata(ac);
	/* Room for the Submit's own fields next to the mail. */
	s->max_bytes = w->max_frame > 64 * 1024 ? w->max_frame - 64 * 1024 : w->max_frame / 2;
	send_more(ac);
}

static void on_frame(struct sx_agentconn *ac, const Sprex__Frame *f)
{
	struct submit *s = sx_agentconn_udata(ac);
	size_t k = (size_t)f->id - 1;
	if (f->id == 0 || k >= s->sent || s->answered[k]) {
		sx_log_warn("ignoring an answer to request %llu", (unsigned long long)f->id);
		return;
	}
	const char *path = s->files[k];
	char *line = NULL;
	int n;
	if (f->msg_case == SPREX__FRAME__MSG_SUBMITTED) {
		const Sprex__Submitted *r = f->submitted;
		if (r->quarantined)
			n = asprintf(&line, "%s: quarantined %s seq %llu%s: %s\n", path,
				     r->report_id, (unsigned long long)r->seq,
				     r->duplicate ? " (duplicate)" : "", r->reason);
		else
			n = asprintf(&line, "%s: %s %s seq %llu\n", path,
				     r->duplicate ? "duplicate" : "stored", r->report_id,
				     (unsigned long long)r->seq);
	} else if (f->msg_case == SPREX__FRAME__MSG_ERROR) {
		const Sprex__Error *e = f->error;
		n = asprintf(&line, "%s: refused: %s: %s\n", path, sx_error_name(e->code),
			     e->message);
		worst(s, e->code == SPREX__ERROR_CODE__ERROR_BUSY       ? EX_TEMPFAIL
			 : e->code == SPREX__ERROR_CODE__ERROR_FORBIDDEN ? EX_NOPERM
			 : e->code == SPREX__ERROR_CODE__ERROR_INTERNAL  ? EX_TEMPFAIL
									  : EX_DATAERR);
	} else {
		return;
	}
	if (n < 0) {
		/* the answer stands; only its line is lost */
		fprintf(stderr, "%s: answered, but out of memory for its line\n", path);
		line = NULL;
		worst(s, EX_OSERR);
	}
	s->line[k] = line;
	s->answered[k] = 1;
	s->inflight--;
	send_more(ac);
}

static void on_close(struct sx_agentconn *ac, int ready, int refused, uint32_t retry_after_ms,
		     const char *why)
{
	struct submit *s = sx_agentconn_udata(ac);
	(void)ready;
	(void)retry_after_ms;
	if (!s->done) {
		/* Files not answered were not stored, or their answer was lost:
		 * both are safe to submit again. */
		print_lines(s);
		for (size_t i = s->printed; i < s->nfiles; i++) {
			if (i < s->sent && s->answered[i]) {
				if (s->line[i])
					fputs(s->line[i], stdout);
			} else {
				printf("%s: not submitted: %s\n", s->files[i], why);
			}
		}
		s->printed = s->nfiles;
		fflush(stdout);
		worst(s, refused ? EX_NOPERM : EX_TEMPFAIL);
	}
}

static const struct sx_agentconn_cbs submit_cbs = {
	.on_ready = on_ready,
	.on_frame = on_frame,
	.on_close = on_close,
};

static int parse_consent(const char *v, uint32_t *out)
{
	static const struct { const char *name; uint32_t bit; } scopes[] = {
		{ "association", SPREX__CONSENT__CONSENT_ASSOCIATION },
		{ "isp", SPREX__CONSENT__CONSENT_ISP },
		{ "enforcement", SPREX__CONSENT__CONSENT_ENFORCEMENT },
	};
	*out = 0;
	while (*v) {
		size_t n = strcspn(v, ",");
		size_t i;
		for (i = 0; i < 3; i++)
			if (strlen(scopes[i].name) == n && strncmp(v, scopes[i].name, n) == 0)
				break;
		if (i == 3)
			return -1;
		*out |= scopes[i].bit;
		v += n + (v[n] == ',');
	}
	return 0;
}

int sx_agent_cmd_submit(struct sx_agent_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "consent", required_argument, NULL, 'C' },
		{ "reporter", required_argument, NULL, 'r' },
		{ "id", required_argument, NULL, 'i' },
		{ "window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct submit s = { .status = 0, .window = SUBMIT_WINDOW };
	const char *source = NULL, *consent = NULL;
	int ch;
	while ((ch = sx_agent_getopt(o, argc, argv, "s:C:r:i:w:", opts)) != -1) {
		switch (ch) {
		case 'w': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end || v < 1 ||
			    v > SUBMIT_WINDOW_MAX) {
				fprintf(stderr, "sprex-agent: --window needs a number from 1 to %d, "
						"not '%s'\n", SUBMIT_WINDOW_MAX, optarg);
				return EX_USAGE;
			}
			s.window = (unsigned)v;
			break;
		}
		case 's': source = optarg; break;
		case 'C': consent = optarg; break;
		case 'i': s.client_id = optarg; break;
		case 'r':
			if (s.nreporters == SUBMIT_REPORTERS_MAX) {
				fprintf(stderr, "sprex-agent: at most %d --reporter\n",
					SUBMIT_REPORTERS_MAX);
				return EX_USAGE;
			}
			s.reporters[s.nreporters++] = optarg;
			break;
		default: return EX_USAGE;
		}
	}
	s.files = argv + optind;
	s.nfiles = (size_t)(argc - optind);
	if (!source || s.nfiles == 0) {
		fprintf(stderr, "sprex-agent: submit needs --source and at least one FILE\n");
		return EX_USAGE;
	}
	if (strcmp(source, "public") == 0)
		s.source = SPREX__SOURCE__SOURCE_PUBLIC;
	else if (strcmp(source, "monitor") == 0)
		s.source = SPREX__SOURCE__SOURCE_MONITOR;
	else if (strcmp(source, "chain") == 0)
		s.source = SPREX__SOURCE__SOURCE_CHAIN;
	else {
		fprintf(stderr, "sprex-agent: --source must be public, monitor or chain\n");
		return EX_USAGE;
	}
	if (consent && (s.source != SPREX__SOURCE__SOURCE_PUBLIC || parse_consent(consent, &s.consent) < 0)) {
		fprintf(stderr, "sprex-agent: --consent is a list of association, isp, enforcement, "
				"for public reports only\n");
		return EX_USAGE;
	}
	if (s.client_id && s.nfiles != 1) {
		fprintf(stderr, "sprex-agent: --id names one FILE\n");
		return EX_USAGE;
	}
	s.line = calloc(s.nfiles, sizeof *s.line);
	s.answered = calloc(s.nfiles, 1);
	if (!s.line || !s.answered) {
		free(s.line);
		free(s.answered);
		fprintf(stderr, "sprex-agent: out of memory\n");
		return EX_OSERR;
	}
	struct sx_agentconf conf;
	SSL_CTX *tls;
	int st = sx_agent_setup(o, &conf, &tls);
	if (st) {
		free(s.line);
		free(s.answered);
		return st;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	s.loop = &loop;
	struct sx_agentconn *ac;
	if (sx_agentconn_start(&loop, tls, &conf, &submit_cbs, &s, &ac) < 0) {
		sx_log_err("cannot start a connection");
		s.status = EX_TEMPFAIL;
	} else {
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&loop);
	sx_agent_teardown(&conf, tls);
	for (size_t i = 0; i < s.nfiles; i++)
		free(s.line[i]);
	free(s.line);
	free(s.answered);
	return s.status;
}
