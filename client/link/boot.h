/*
 * boot: starts the helper on the remote host over a transport. The command
 * itself offers every helper the client carries; a tiny POSIX sh script
 * picks the one for its machine, looks for a cached copy named by
 * its SHA-256, asks for an upload only when it is missing, and execs it;
 * then both sides exchange HELLO.
 */
#ifndef SLUICE_BOOT_H
#define SLUICE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/sha256.h"
#include "../../common/wire.h"
#include "progress.h"
#include "transport.h"

/* One embedded helper: its machine (uname -m, canonical) and its bytes. */
struct boot_blob {
	const char *arch;
	const uint8_t *start, *end;
};

#define BOOT_BLOBS_MAX 8

/* The helpers this client carries (a table the build generates). */
extern const struct boot_blob boot_blobs[];
extern const size_t boot_n_blobs;

/* The helper for a machine whose `uname -m` says machine (aliases known), or NULL. */
const struct boot_blob *boot_blob_for(const char *machine);
/* Its SHA-256, computed once per run. */
void boot_blob_hash(const struct boot_blob *b, uint8_t out[SHA256_LEN]);
/* "x86_64, aarch64, armv7l": the machines served, for messages. */
void boot_arches(char *buf, size_t len);

/*
 * The remote command line, with the offer of every helper we carry (the
 * script picks); exposed for tests. Returns 0 or -ENOSPC.
 */
int boot_command(char *buf, size_t len, int verbose);

/*
 * Blocking, each step waiting at most step_ms (0: the default, 30 s, for a
 * remote slow to start): run the bootstrap over t, upload when asked, exchange HELLO
 * (announcing `stream_window` as our per-stream credit and `features` as
 * what we want), telling pg (may be NULL) whether it uploads. On success *peer is the helper's
 * HELLO, *rep what was done, and t carries the mux from here on. On failure returns -errno and
 * writes one line for the user into err; the caller closes t.
 */
struct boot_report {
	const char *arch; /* the helper chosen */
	size_t uploaded;  /* bytes sent; 0 when the remote had it cached */
	/*
	 * On failure: trying again cannot help. The machine has no helper here,
	 * the bootstrap itself gave up (no private directory), the helper is of
	 * another protocol, or the -e command was not found, refused the login
	 * or the host key.
	 */
	bool fatal;
	/* On failure: the -e command's session was refused by the server (MaxSessions, say). */
	bool refused;
};

int boot_start(struct transport *t, unsigned step_ms, uint32_t stream_window, uint32_t features,
	       int verbose, const struct progress *pg, struct wire_hello *peer,
	       struct boot_report *rep, char *err, size_t errlen);

#endif
