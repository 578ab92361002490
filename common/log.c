/*
 * log: formats and writes diagnostic lines to stderr, prefixed with the
 * program name, filtered by the verbosity chosen on the command line,
 * with control characters escaped; or to syslog, or to a log file with a
 * timestamp each.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "logsys.h"

int log_verbosity = LOG_INFO;
static const char *log_prog = "sluice";
/* The live status line on a terminal, redrawn under each message; "" when none. */
static char log_line[256];
static bool log_syslog;
/* A line of 1 KiB, each byte escaped to at most four. */
#define LOG_SAFE_MAX (1024 * 4)

static int log_fd = -1;
static bool log_fd_only;

void log_to_syslog(void)
{
	logsys_open(log_prog);
	log_syslog = true;
	log_line[0] = '\0';
}

void log_to_file(int fd, bool only)
{
	log_fd = fd;
	log_fd_only = only;
	if (only)
		log_line[0] = '\0';
}

/* One write, so lines of processes sharing the file never interleave mid-line. */
static void file_line(const char *safe)
{
	char line[LOG_SAFE_MAX + 128], stamp[40];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!localtime_r(&ts.tv_sec, &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm))
		stamp[0] = '\0';
	n = snprintf(line, sizeof(line), "%s.%03ld %s[%d]: %s\n", stamp, ts.tv_nsec / 1000000,
		     log_prog, (int)getpid(), safe);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(log_fd, line, (size_t)n) < 0)
		return; /* nowhere left to say so */
}

int log_file_fd(bool *only)
{
	*only = log_fd_only;
	return log_fd;
}

void log_forked(void)
{
	if (log_syslog)
		logsys_close(log_prog);
	log_line[0] = '\0';
}

void log_init(const char *prog, int verbosity)
{
	log_prog = prog;
	log_verbosity = verbosity;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024], safe[LOG_SAFE_MAX];
	va_list ap;
	int n;

	if ((int)lvl > log_verbosity)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/*
	 * Lines carry text from the other end (the helper's stderr, the
	 * bootstrap's errors, names from DNS): escaped here, once, so no caller
	 * can forget it and nothing reaches the terminal as a control sequence.
	 */
	escape_text(safe, sizeof(safe), line, strnlen(line, sizeof(line)), false);
	if (log_syslog) {
		logsys_line((int)lvl, safe);
		return;
	}
	if (log_fd >= 0) {
		file_line(safe);
		if (log_fd_only)
			return;
	}
	/* One write per line so lines from client and helper never interleave mid-line. */
	if (log_line[0])
		fprintf(stderr, "\r\033[K%s: %s\n%s", log_prog, safe, log_line);
	else
		fprintf(stderr, "%s: %s\n", log_prog, safe);
}

void log_status(const char *line)
{
	if (!line || !*line) {
		if (log_line[0])
			fputs("\r\033[K", stderr);
		log_line[0] = '\0';
		return;
	}
	escape_text(log_line, sizeof(log_line), line, strlen(line), false);
	fprintf(stderr, "\r\033[K%s", log_line);
}
