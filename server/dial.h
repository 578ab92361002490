/*
 * dial: opens the helper's outgoing connections for the client's OPEN frames.
 */
#ifndef SLUICE_DIAL_H
#define SLUICE_DIAL_H

#include "../common/wire.h"

/* Start a non-blocking connect to dst. Returns the socket or a negative errno. */
int dial_start(const struct wire_open *dst);

#endif
