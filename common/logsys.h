/*
 * logsys: log's syslog sink, apart because <syslog.h> defines LOG_ERR,
 * LOG_INFO and LOG_DEBUG as macros that clash with log.h's levels.
 */
#ifndef SLUICE_LOGSYS_H
#define SLUICE_LOGSYS_H

void logsys_open(const char *ident);
/*
 * 0 when a syslog daemon listens on /dev/log, else -errno: without one,
 * syslog(3) drops every line without a word (containers).
 */
int logsys_check(void);
/* Close the socket, keeping ident; the next line opens it again. */
void logsys_close(const char *ident);
/* level is log.h's (0 error ... 4 trace). */
void logsys_line(int level, const char *text);

#endif
