/*
 * sprexd: the spam report exchange server.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "server.h"
#include "srvconf.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sprexd --config FILE [-n] [-f] [-v]\n"
		   "  -c, --config FILE  configuration file (see sprexd.conf(5))\n"
		   "  -n, --check        check the configuration, print \"configuration OK\", exit\n"
		   "  -f, --foreground   stay in the foreground, log to stderr\n"
		   "  -v, --verbose      log debug records\n"
		   "  -V, --version      print the version\n");
}

/* Detaches from the terminal. The parent waits on a pipe until the child says
 * it is serving (exit 0) or the child exits with its own code, so a failure to
 * start is still reported on the operator's terminal. Returns the write end
 * of the pipe in the child. */
static int daemonize(void)
{
	int fds[2];
	if (pipe(fds) < 0) {
		sx_log_err("pipe: %s", strerror(errno));
		exit(EX_OSERR);
	}
	pid_t pid = fork();
	if (pid < 0) {
		sx_log_err("fork: %s", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		close(fds[1]);
		char c;
		ssize_t r;
		while ((r = read(fds[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (r == 1)
			_exit(0);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : EX_SOFTWARE);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

static void detach_stdio(int ready_fd)
{
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	sx_log_use_syslog();
	(void)!write(ready_fd, "1", 1);
	close(ready_fd);
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		sx_log_err("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'f' },   { "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int check = 0, foreground = 0, verbose = 0, ch;
	sx_log_init("sprexd", SX_LOG_INFO);
	while ((ch = getopt_long(argc, argv, "c:nfvVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n': check = 1; break;
		case 'f': foreground = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("sprexd %s\n", SPREX_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}

	struct sx_srvconf conf;
	char err[512];
	if (sx_srvconf_load(&conf, config, err, sizeof err) < 0) {
		sx_log_err("%s", err);
		sx_srvconf_finish(&conf);
		return EX_CONFIG;
	}
	sx_log_set_level(verbose ? SX_LOG_DEBUG : conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Submit frames hold reporters' originals in memory: no core file, no
	 * ptrace by other users. */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (check) {
		/* Everything a start would open, except the ports. */
		struct sx_tls_opts o = { conf.tls_cert, conf.tls_key, conf.tls_ca, conf.tls_crl };
		SSL_CTX *ctx;
		struct sx_store *st;
		int rc = sx_tlsctx_server(&o, &ctx, err, sizeof err);
		if (rc == 0) {
			SSL_CTX_free(ctx);
			rc = sx_store_open(conf.db, SX_STORE_READONLY, &st, err, sizeof err);
			if (rc == 0)
				sx_store_close(st);
		}
		if (rc < 0)
			sx_log_err("%s", err);
		else
			printf("configuration OK\n");
		sx_srvconf_finish(&conf);
		return rc < 0 ? EX_CONFIG : 0;
	}

	/* Submit's pipelines run on libuv's thread pool, which reads its size
	 * from the environment at first use (4 unless set): intake_threads
	 * sets it, else an operator's UV_THREADPOOL_SIZE stands, else one
	 * thread per CPU. */
	const char *pool = getenv("UV_THREADPOOL_SIZE");
	unsigned threads = conf.intake_threads;
	if (!threads && !(pool && *pool))
		threads = uv_available_parallelism();
	if (threads) {
		char v[16];
		snprintf(v, sizeof v, "%u", threads);
		setenv("UV_THREADPOOL_SIZE", v, 1);
		pool = getenv("UV_THREADPOOL_SIZE");
	}
	/* what libuv makes of the variable, for the log */
	long pool_n = pool ? strtol(pool, NULL, 10) : 4;
	pool_n = pool_n < 1 ? 1 : pool_n > SX_INTAKE_THREADS_MAX ? SX_INTAKE_THREADS_MAX : pool_n;

	int ready_fd = foreground ? -1 : daemonize();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct sx_server srv;
	int rc = sx_server_init(&srv, &loop, &conf, err, sizeof err);
	if (rc < 0) {
		sx_log_err("%s", err);
		uv_loop_close(&loop);
		sx_srvconf_finish(&conf);
		return rc == SX_EIO ? EX_OSERR : EX_CONFIG;
	}
	sx_server_start(&srv);
	if (conf.pidfile && write_pidfile(conf.pidfile) < 0) {
		sx_server_stop(&srv);
		uv_run(&loop, UV_RUN_DEFAULT);
		sx_server_finish(&srv);
		uv_loop_close(&loop);
		sx_srvconf_finish(&conf);
		return EX_CANTCREAT;
	}
	sx_log_info("sprexd %s serving (database %s, %zu members, intake on %ld threads)",
		    SPREX_VERSION, conf.db, sx_members_count(srv.members), pool_n);
	if (ready_fd >= 0)
		detach_stdio(ready_fd);
	uv_run(&loop, UV_RUN_DEFAULT);
	sx_server_finish(&srv);
	if (uv_loop_close(&loop) != 0)
		sx_log_warn("event loop closed with handles still open");
	if (conf.pidfile)
		unlink(conf.pidfile);
	sx_log_info("stopped");
	sx_srvconf_finish(&conf);
	return 0;
}
