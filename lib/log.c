#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "sprex";
static int log_level = SX_LOG_INFO;
static int log_syslog;

void sx_log_init(const char *progname, int level)
{
	log_prog = progname;
	log_level = level;
}

void sx_log_set_level(int level)
{
	log_level = level;
}

int sx_log_enabled(int level)
{
	return level <= log_level;
}

void sx_log_use_syslog(void)
{
	openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

static const char *level_name(int level)
{
	switch (level) {
	case SX_LOG_ERR: return "error";
	case SX_LOG_WARN: return "warning";
	case SX_LOG_INFO: return "info";
	default: return "debug";
	}
}

void sx_log(int level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	if (log_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(prio[level < 0 ? 0 : level > 3 ? 3 : level], "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per record so concurrent writers do not interleave lines. */
	fprintf(stderr, "%s.%03ldZ %s[%ld] %s: %s\n", when, ts.tv_nsec / 1000000L, log_prog,
		(long)getpid(), level_name(level), msg);
}
