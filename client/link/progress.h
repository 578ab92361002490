/*
 * progress: how the blocking start-up phases (SSH connect, the bootstrap)
 * tell the user what they are doing, without printing anything themselves:
 * the caller hands them a callback, which gets one line per step. The
 * connect also says where it is about to go, for a caller whose rules must
 * be ready for that address first.
 */
#ifndef SLUICE_PROGRESS_H
#define SLUICE_PROGRESS_H

#include <sys/socket.h>

struct progress {
	void (*step)(void *arg, const char *line);
	/* Optional: before a TCP connect to sa. Negative (-errno): that address is skipped. */
	int (*connecting)(void *arg, const struct sockaddr *sa, socklen_t salen);
	void *arg;
};

/* Format one step line and hand it to p's callback; p or its callback may be NULL. */
void progress_say(const struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
