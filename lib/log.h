/*
 * log.h: one-line log records for the programs (never called from library code
 * except through the program's own decisions).
 *
 * Records go to stderr as "2026-11-28T16:18:54.123Z prog[pid] level: text",
 * or to syslog once sx_log_use_syslog() was called (daemon mode).
 */
#ifndef SX_LOG_H
#define SX_LOG_H

enum sx_log_level { SX_LOG_ERR = 0, SX_LOG_WARN = 1, SX_LOG_INFO = 2, SX_LOG_DEBUG = 3 };

/* Sets the program name (kept by pointer: must outlive logging) and threshold. */
void sx_log_init(const char *progname, int level);
/* Raises or lowers the threshold. */
void sx_log_set_level(int level);
/* Returns non-zero when records of this level are written. */
int sx_log_enabled(int level);
/* Sends further records to syslog(3) (daemon facility) instead of stderr. */
void sx_log_use_syslog(void);
/* Writes one record; a trailing newline in fmt is not needed. */
void sx_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sx_log_err(...) sx_log(SX_LOG_ERR, __VA_ARGS__)
#define sx_log_warn(...) sx_log(SX_LOG_WARN, __VA_ARGS__)
#define sx_log_info(...) sx_log(SX_LOG_INFO, __VA_ARGS__)
#define sx_log_debug(...) \
	do { if (sx_log_enabled(SX_LOG_DEBUG)) sx_log(SX_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
