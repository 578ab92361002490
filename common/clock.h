/*
 * clock: the one monotonic millisecond clock both ends use for timeouts,
 * rates and rate limits. Only libc.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: never jumps with the wall clock. */
int64_t clock_ms(void);

#endif
