/*
 * dial: opens the helper's outgoing connections for the client's OPEN frames.
 */
#ifndef SLUICE_DIAL_H
#define SLUICE_DIAL_H

#include <sys/socket.h>

#include "../common/wire.h"

/* Start a non-blocking connect to dst. Returns the socket or a negative errno. */
int dial_start(const struct wire_open *dst);
/* The same to a full address (a link-local one keeps its scope). */
int dial_addr(const struct sockaddr_storage *ss);

#endif
