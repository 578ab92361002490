/*
 * progress: how the blocking start-up phases (SSH connect, the bootstrap)
 * tell the user what they are doing, without printing anything themselves:
 * the caller hands them a callback, which gets one line per step.
 */
#ifndef SLUICE_PROGRESS_H
#define SLUICE_PROGRESS_H

struct progress {
	void (*step)(void *arg, const char *line);
	void *arg;
};

/* Format one step line and hand it to p's callback; p or its callback may be NULL. */
void progress_say(const struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
