/*
 * logsys: syslog, facility daemon (see logsys.h).
 */
#include "logsys.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

void logsys_open(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void logsys_close(const char *ident)
{
	closelog();
	/* glibc's closelog forgets the ident too; this connects at the next line. */
	openlog(ident, LOG_PID, LOG_DAEMON);
}

void logsys_line(int level, const char *text)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG};

	syslog(prio[level >= 0 && level <= 4 ? level : 4], "%s", text);
}

int logsys_check(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	int fd, ret = -ENOENT;

	/* glibc tries a datagram socket, then a stream one: either will do. */
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
		close(fd);
		if (ret == 0 || ret != -EPROTOTYPE)
			break;
	}
	return ret;
}
