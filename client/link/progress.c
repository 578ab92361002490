/*
 * progress: the step callback's formatting (see progress.h).
 */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>

void progress_say(const struct progress *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!p || !p->step)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->step(p->arg, line);
}
