/*
 * knownpat: the known_hosts lines libssh2 1.10 cannot judge, read as OpenSSH
 * reads them: host patterns ('*', '?', '!', and names in any case) and
 * @revoked markers. libssh2 compares names byte for byte and skips no marker,
 * so without this a wildcard entry never speaks (a changed key would look
 * new, and be accepted where new keys are) and a revoked key is trusted.
 * Lines libssh2 judges itself (plain lower-case names, hashed names without
 * a marker) are left to it.
 */
#ifndef SLUICE_KNOWNPAT_H
#define SLUICE_KNOWNPAT_H

#include <stdbool.h>
#include <stddef.h>

enum knownpat_verdict { KNOWNPAT_NONE = 0, KNOWNPAT_CHANGED, KNOWNPAT_MATCH, KNOWNPAT_REVOKED };

struct knownpat_result {
	enum knownpat_verdict verdict; /* the strongest line's: REVOKED, MATCH, then CHANGED */
	size_t file;		       /* that line's file (index) and line (from 1) */
	unsigned long line;
	unsigned types; /* bit i: a pattern line for the host has a key of type_names[i] */
};

/*
 * Whether the comma-separated patterns in list[0..len) name host, as
 * OpenSSH's match_hostname: case-insensitive, '*' any run and '?' any one
 * character, and a matching "!pattern" vetoes whatever else matches.
 */
bool knownpat_match_list(const char *list, size_t len, const char *host);

/*
 * What the lines libssh2 cannot judge in files[0..n) say about the server's
 * key (raw blob key/klen, type name such as "ssh-ed25519") for name (as
 * known_hosts spells it: "host" or "[host]:port"). type_names[0..n_types)
 * are the key types whose presence on a pattern line for name is reported
 * in res->types, for pinning the handshake. Files that are missing or not
 * regular are skipped. 0 or -errno.
 */
int knownpat_scan(const char *const *files, size_t n, const char *name, const char *type,
		  const unsigned char *key, size_t klen, const char *const *type_names,
		  size_t n_types, struct knownpat_result *res);

#endif
