/*
 * logsys: syslog, facility daemon (see logsys.h).
 */
#include "logsys.h"

#include <syslog.h>

void logsys_open(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void logsys_line(int level, const char *text)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG};

	syslog(prio[level >= 0 && level <= 4 ? level : 4], "%s", text);
}
