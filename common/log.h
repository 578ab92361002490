/*
 * log: the one place that writes diagnostics to stderr (or syslog later).
 * Modules never print; callers log one line with context.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_TRACE = 4 };

extern int log_verbosity;

void log_init(const char *prog, int verbosity);
/* From now on, to syslog (facility daemon) instead of stderr. */
void log_to_syslog(void);
/*
 * From now on, every line also goes to fd (a --log-file), with a
 * timestamp; there alone when only is true (stderr is no terminal's then).
 */
void log_to_file(int fd, bool only);
/* The --log-file's descriptor (-1 if none), and whether lines go there alone. */
int log_file_fd(bool *only);
/*
 * In a child forked without exec, before it closes the parent's
 * descriptors: let go of syslog's socket (the next line opens its own)
 * and of the terminal's status line, which the parent keeps drawing.
 */
void log_forked(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A status line kept at the bottom of a terminal: written now without a
 * newline, and redrawn under every message until cleared with NULL. Only
 * for a stderr that is a terminal.
 */
void log_status(const char *line);

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) (log_verbosity >= LOG_DEBUG ? log_msg(LOG_DEBUG, __VA_ARGS__) : (void)0)
#define log_trace(...) (log_verbosity >= LOG_TRACE ? log_msg(LOG_TRACE, __VA_ARGS__) : (void)0)

#endif
