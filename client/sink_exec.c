/*
 * sink_exec.c: runs a command per report: /bin/sh -c COMMAND with the raw
 * mail on standard input and the metadata in a clean environment.
 *
 * Safe in a worker thread: no global state is touched. SIGPIPE is blocked
 * in the calling thread while the mail is written (a command that does not
 * read its input must not kill the agent) and a SIGPIPE it raised is
 * consumed before the mask is restored. The child gets its own process
 * group, so a timeout kills whatever the shell started.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "sink_impl.h"

/* Longest value of one SPREX_* variable. */
#define ENV_VALUE_MAX 1024
#define ENV_COUNT 16
/* While the child runs with its output closed, how often its exit is polled. */
#define REAP_POLL_MS 20
#define EXIT_REJECT 65 /* EX_DATAERR */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct execsink {
	char *command;
	uint64_t timeout_ms;
	size_t output_max;
};

static int exec_create(const struct sx_sink_conf *conf, void **impl, char *err, size_t errlen)
{
	if (!conf->command || !conf->command[0]) {
		snprintf(err, errlen, "exec sink needs a command");
		return SX_EINVAL;
	}
	struct execsink *x = calloc(1, sizeof *x);
	if (!x || !(x->command = strdup(conf->command))) {
		free(x);
		snprintf(err, errlen, "out of memory");
		return SX_ENOMEM;
	}
	x->timeout_ms = conf->exec_timeout_ms ? conf->exec_timeout_ms : 60000;
	x->output_max = (size_t)conf->exec_output_max;
	*impl = x;
	return 0;
}

static void exec_destroy(void *impl)
{
	struct execsink *x = impl;
	if (!x)
		return;
	free(x->command);
	free(x);
}

/* The environment: a fixed array of "NAME=value" strings, each bounded. */
struct env {
	char *v[ENV_COUNT + 1];
	size_t n;
};

static void env_add(struct env *e, const char *name, const char *value)
{
	if (e->n >= ENV_COUNT)
		return;
	size_t nl = strlen(name);
	char *s = malloc(nl + 1 + ENV_VALUE_MAX);
	if (!s)
		return; /* the command sees the variable unset */
	memcpy(s, name, nl);
	s[nl] = '=';
	sx_sink_clean(value ? value : "", s + nl + 1, ENV_VALUE_MAX);
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

static void env_addu(struct env *e, const char *name, uint64_t v)
{
	char num[32];
	snprintf(num, sizeof num, "%" PRIu64, v);
	env_add(e, name, num);
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

/* Joins strings with ',' into out (bounded, truncated). */
static void join(char *out, size_t outlen, size_t n, const char *(*get)(const void *, size_t),
		 const void *ctx)
{
	size_t pos = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && pos + 1 < outlen; i++) {
		int w = snprintf(out + pos, outlen - pos, "%s%s", i ? "," : "", get(ctx, i));
		if (w < 0)
			break;
		pos += (size_t)w < outlen - pos ? (size_t)w : outlen - pos - 1;
	}
}

static const char *viol_at(const void *m, size_t i)
{
	const char *f = ((const Sprex__ReportMeta *)m)->violations[i]->flag;
	return f ? f : "";
}

static const char *cat_at(const void *m, size_t i)
{
	const char *c = ((const Sprex__ReportMeta *)m)->categories[i];
	return c ? c : "";
}

static void build_env(struct env *e, const struct sx_delivery *dl)
{
	const Sprex__Deliver *d = dl->d;
	const Sprex__ReportMeta *m = d->meta;
	char list[ENV_VALUE_MAX];
	const char *path = getenv("PATH");
	const char *home = getenv("HOME");
	memset(e, 0, sizeof *e);
	env_add(e, "PATH", path && path[0] ? path : DEFAULT_PATH);
	if (home && home[0])
		env_add(e, "HOME", home); /* sa-learn keeps its Bayes database there */
	env_add(e, "SPREX_REPORT_ID", d->report_id);
	env_addu(e, "SPREX_SEQ", d->seq);
	env_addu(e, "SPREX_DELIVERY_COUNT", d->delivery_count);
	env_add(e, "SPREX_SUBSCRIPTION", dl->subscription);
	env_add(e, "SPREX_SOURCE", sx_sink_source_name(m ? m->source : 0));
	env_addu(e, "SPREX_RECEIVED_MS", m && m->received_ms > 0 ? (uint64_t)m->received_ms : 0);
	env_add(e, "SPREX_SOURCE_IP", m ? m->source_ip : "");
	env_add(e, "SPREX_ISP", m ? m->isp : "");
	list[0] = '\0';
	if (m)
		join(list, sizeof list, m->n_violations, viol_at, m);
	env_add(e, "SPREX_VIOLATIONS", list);
	list[0] = '\0';
	if (m)
		join(list, sizeof list, m->n_categories, cat_at, m);
	env_add(e, "SPREX_CATEGORIES", list);
	env_addu(e, "SPREX_REDACTIONS", m ? m->redaction_count : 0);
	env_add(e, "SPREX_SHA256", m ? m->sha256 : "");
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Starts the command with stdin from in_r and stdout+stderr into out_w, in
 * a new process group with default signal dispositions. */
static int spawn(const char *command, char *const envp[], int in_r, int out_w, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return rc;
	if ((rc = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return rc;
	}
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	if (!(rc = posix_spawn_file_actions_adddup2(&fa, in_r, 0)) &&
	    !(rc = posix_spawn_file_actions_adddup2(&fa, out_w, 1)) &&
	    !(rc = posix_spawn_file_actions_adddup2(&fa, out_w, 2)) &&
	    !(rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						       POSIX_SPAWN_SETSIGDEF)) &&
	    !(rc = posix_spawnattr_setpgroup(&at, 0)) &&
	    !(rc = posix_spawnattr_setsigmask(&at, &none)) &&
	    !(rc = posix_spawnattr_setsigdefault(&at, &def))) {
		char *argv[] = { (char *)"sh", (char *)"-c", (char *)command, NULL };
		rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, envp);
	}
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* What the run produced, for the outcome line. */
struct run {
	char *out;        /* first output_max bytes of stdout+stderr */
	size_t out_len;
	int status;
	int timed_out;
};

/* Feeds the mail, collects output and waits, all under one deadline; the
 * child is always reaped before it returns. SIGPIPE is blocked by the caller.
 * Returns 0, or -1 with errno when poll or waitpid failed (the child was
 * killed then). */
static int supervise(pid_t pid, int in_w, int out_r, const uint8_t *mail, size_t mlen,
		     uint64_t timeout_ms, size_t output_max, struct run *r)
{
	uint64_t deadline = now_ms() + timeout_ms;
	size_t sent = 0;
	int reaped = 0, failed = 0, kill_group = 0;
	char scratch[4096];
	if (mlen == 0) {
		close(in_w);
		in_w = -1;
	}
	for (;;) {
		struct pollfd p[2];
		nfds_t np = 0;
		int iw = -1, io = -1;
		if (in_w >= 0) {
			p[np] = (struct pollfd){ .fd = in_w, .events = POLLOUT };
			iw = (int)np++;
		}
		if (out_r >= 0) {
			p[np] = (struct pollfd){ .fd = out_r, .events = POLLIN };
			io = (int)np++;
		}
		uint64_t now = now_ms();
		if (now >= deadline) {
			/* also when the shell exited but left something holding the
			 * pipe: that something goes, the exit status still counts */
			r->timed_out = !reaped;
			kill_group = 1;
			break;
		}
		uint64_t left = deadline - now;
		int n = poll(p, np, left > REAP_POLL_MS ? REAP_POLL_MS : (int)left);
		if (n < 0 && errno != EINTR) {
			failed = errno;
			kill_group = 1;
			break;
		}
		if (n > 0 && iw >= 0 && p[iw].revents) {
			ssize_t w = write(in_w, mail + sent, mlen - sent);
			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EINTR && errno != EAGAIN) || sent == mlen) {
				/* EPIPE: the command stopped reading; its exit code decides */
				close(in_w);
				in_w = -1;
			}
		}
		if (n > 0 && io >= 0 && p[io].revents) {
			char *dst = scratch;
			size_t room = sizeof scratch;
			if (r->out_len < output_max) {
				dst = r->out + r->out_len;
				room = output_max - r->out_len;
			}
			ssize_t got = read(out_r, dst, room);
			if (got > 0 && dst != scratch)
				r->out_len += (size_t)got;
			if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
				close(out_r);
				out_r = -1;
			}
		}
		if (!reaped) {
			pid_t w = waitpid(pid, &r->status, WNOHANG);
			if (w == pid) {
				reaped = 1;
			} else if (w < 0 && errno != EINTR) {
				failed = errno;
				kill_group = 1;
				break;
			}
		}
		/* done when the child exited and its output is drained or quiet
		 * (a background process may hold the pipe; it is not waited for) */
		if (reaped && (out_r < 0 || n == 0))
			break;
	}
	if (in_w >= 0)
		close(in_w);
	if (out_r >= 0)
		close(out_r);
	if (kill_group) {
		kill(-pid, SIGKILL);
		if (!reaped)
			kill(pid, SIGKILL);
	}
	while (!reaped) {
		pid_t w = waitpid(pid, &r->status, 0);
		if (w == pid || (w < 0 && errno != EINTR))
			reaped = 1;
	}
	if (failed) {
		errno = failed;
		return -1;
	}
	return 0;
}

static enum sx_sink_result outcome(const struct run *r, char *err, size_t errlen)
{
	char out[1024] = "";
	if (r->out_len) {
		char tmp[sizeof out];
		size_t n = r->out_len < sizeof tmp - 1 ? r->out_len : sizeof tmp - 1;
		memcpy(tmp, r->out, n);
		tmp[n] = '\0';
		/* NULs end it early; control bytes become spaces */
		sx_sink_clean(tmp, out, sizeof out);
		for (size_t e = strlen(out); e > 0 && out[e - 1] == ' '; e--)
			out[e - 1] = '\0';
	}
	const char *sep = out[0] ? ": " : "";
	if (r->timed_out) {
		snprintf(err, errlen, "timed out%s%s", sep, out);
		return SX_SINK_NAK;
	}
	if (WIFEXITED(r->status)) {
		int code = WEXITSTATUS(r->status);
		if (code == 0)
			return SX_SINK_ACK;
		snprintf(err, errlen, "exit status %d%s%s", code, sep, out);
		return code == EXIT_REJECT ? SX_SINK_REJECT : SX_SINK_NAK;
	}
	if (WIFSIGNALED(r->status)) {
		int sig = WTERMSIG(r->status);
		const char *name = sigabbrev_np(sig);
		snprintf(err, errlen, "killed by signal %d (SIG%s)%s%s", sig, name ? name : "?",
			 sep, out);
		return SX_SINK_NAK;
	}
	snprintf(err, errlen, "ended with wait status %d%s%s", r->status, sep, out);
	return SX_SINK_NAK;
}

static enum sx_sink_result exec_deliver(void *impl, const struct sx_delivery *dl, char *err,
					size_t errlen)
{
	struct execsink *x = impl;
	const Sprex__Deliver *d = dl->d;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	struct env env;
	struct run r = { 0 };
	enum sx_sink_result res = SX_SINK_NAK;
	sigset_t pipe_set, old;
	int blocked = 0;

	build_env(&env, dl);
	if (x->output_max && !(r.out = malloc(x->output_max))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	/* was one already pending (raised by someone else)? then leave it */
	sigset_t pending;
	sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) == 0)
		blocked = 1;

	pid_t pid;
	int rc = spawn(x->command, env.v, in[0], out[1], &pid);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (rc != 0) {
		snprintf(err, errlen, "cannot run /bin/sh: %s", strerror(rc));
		goto unmask;
	}
	const uint8_t *mail = d->raw_mail.data ? d->raw_mail.data : (const uint8_t *)"";
	rc = supervise(pid, in[1], out[0], mail, d->raw_mail.len, x->timeout_ms, x->output_max,
		       &r);
	in[1] = out[0] = -1; /* closed by supervise */
	if (rc < 0) {
		snprintf(err, errlen, "supervising the command: %s", strerror(errno));
		goto unmask;
	}
	res = outcome(&r, err, errlen);
unmask:
	if (blocked) {
		sigpending(&pending);
		if (!was_pending && sigismember(&pending, SIGPIPE)) {
			struct timespec zero = { 0, 0 };
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(r.out);
	env_free(&env);
	return res;
}

const struct sx_sink_ops sx_sink_exec_ops = {
	.create = exec_create,
	.destroy = exec_destroy,
	.deliver = exec_deliver,
};
