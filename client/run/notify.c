/*
 * notify: sd_notify's datagrams (see notify.h).
 */
#include "notify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len;
static int64_t watchdog_ms, last_pet;

void notify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET"), *w = getenv("WATCHDOG_USEC");
	size_t n;

	if (p && (p[0] == '/' || p[0] == '@') && (n = strlen(p)) < sizeof(addr.sun_path)) {
		addr.sun_family = AF_UNIX;
		memcpy(addr.sun_path, p, n);
		/* '@' names an abstract socket: a leading NUL, and no terminator counted. */
		if (p[0] == '@')
			addr.sun_path[0] = '\0';
		addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (p[0] == '/'));
	}
	if (w && atoll(w) > 0)
		watchdog_ms = atoll(w) / 1000;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

void notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, n;

	if (!addr_len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, msg, strnlen(msg, sizeof(msg)), MSG_NOSIGNAL, (struct sockaddr *)&addr,
	       addr_len);
	close(fd);
}

void notify_pet(void)
{
	if (watchdog_ms)
		notify_send("WATCHDOG=1");
}

void notify_tick(int64_t now_ms)
{
	if (!watchdog_ms || now_ms - last_pet < watchdog_ms / 2)
		return;
	last_pet = now_ms;
	notify_send("WATCHDOG=1");
}
