/*
 * log: formats and writes diagnostic lines to stderr, prefixed with the
 * program name, filtered by the verbosity chosen on the command line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int log_verbosity = LOG_INFO;
static const char *log_prog = "sluice";

void log_init(const char *prog, int verbosity)
{
	log_prog = prog;
	log_verbosity = verbosity;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if ((int)lvl > log_verbosity)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so lines from client and helper never interleave mid-line. */
	fprintf(stderr, "%s: %s\n", log_prog, line);
}
