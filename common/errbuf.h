/*
 * errbuf: the one-line reason a parser hands back to its caller, which
 * decides whether and how to show it. Modules never print themselves.
 */
#ifndef SLUICE_ERRBUF_H
#define SLUICE_ERRBUF_H

#include <stddef.h>

/* Format into err (when err is not NULL) and return ret, so `return errbuf_set(...)` reads well. */
int errbuf_set(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
