/*
 * boot: starts the helper on the remote host over a transport. A tiny
 * POSIX sh script checks the architecture, looks for a cached copy named by
 * its SHA-256, asks for an upload only when it is missing, and execs it; then
 * both sides exchange HELLO.
 */
#ifndef SLUICE_BOOT_H
#define SLUICE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/sha256.h"
#include "../common/wire.h"
#include "transport.h"

/* The helper binary the client carries, and its hash (computed once). */
const uint8_t *boot_helper(size_t *len);
const uint8_t *boot_helper_hash(void);

/* The remote command line; exposed for tests. Returns 0 or -ENOSPC. */
int boot_command(char *buf, size_t len, const char *hash_hex, size_t size, int verbose);

/*
 * Blocking: run the bootstrap over t, upload when asked, exchange HELLO
 * (announcing `stream_window` as our per-stream credit and `features` as
 * what we want). On success *peer is the helper's HELLO and t carries the
 * mux from here on. On failure returns -errno and writes one line for the
 * user into err; the caller closes t.
 */
int boot_start(struct transport *t, uint32_t stream_window, uint32_t features, int verbose,
	       struct wire_hello *peer, char *err, size_t errlen);

#endif
