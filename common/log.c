/*
 * log: formats and writes diagnostic lines to stderr, prefixed with the
 * program name, filtered by the verbosity chosen on the command line,
 * with control characters escaped.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "logsys.h"

int log_verbosity = LOG_INFO;
static const char *log_prog = "sluice";
/* The live status line on a terminal, redrawn under each message; "" when none. */
static char log_line[256];
static bool log_syslog;

void log_to_syslog(void)
{
	logsys_open(log_prog);
	log_syslog = true;
	log_line[0] = '\0';
}

void log_init(const char *prog, int verbosity)
{
	log_prog = prog;
	log_verbosity = verbosity;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024], safe[sizeof(line) * 4];
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
