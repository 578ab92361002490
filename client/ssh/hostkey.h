/*
 * hostkey: the server's host key against OpenSSH known_hosts files: which key
 * types are on file for a host (to pin the handshake to them), the verdict for
 * the key the server showed, appending a newly accepted key, and the SHA256
 * fingerprint OpenSSH prints.
 */
#ifndef SLUICE_HOSTKEY_H
#define SLUICE_HOSTKEY_H

#include <libssh2.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <stdint.h>

/* "SHA256:" + 43 base64 characters + NUL */
#define HOSTKEY_FP_LEN 51

enum hostkey_verdict { HOSTKEY_MATCH = 0, HOSTKEY_UNKNOWN, HOSTKEY_CHANGED };

/* Base64 without '=' padding, as OpenSSH prints fingerprints. Returns the length or -ENOSPC. */
int hostkey_base64(char *out, size_t outlen, const unsigned char *in, size_t inlen);

/* Decode base64 ('=' padding honoured) into out. The length, or -EINVAL (also when cap is short).
 */
int hostkey_unbase64(unsigned char *out, size_t cap, const char *in, size_t len);

/* "SHA256:..." of a raw key blob (the bytes of the known_hosts base64 field). 0 or -errno. */
int hostkey_fingerprint(char *out, size_t outlen, const unsigned char *blob, size_t len);

/* The name known_hosts uses: "host" on port 22, "[host]:port" elsewhere. 0 or -ENAMETOOLONG. */
int hostkey_name(char *out, size_t outlen, const char *host, uint16_t port);

/* "ssh-ed25519" etc. for a LIBSSH2_HOSTKEY_TYPE_*, NULL when unknown. */
const char *hostkey_type_name(int hostkey_type);

/*
 * Read known_hosts files into kh. Missing files are skipped, and so are lines
 * libssh2 cannot parse (markers, key types it does not know), which would make
 * libssh2_knownhost_readfile drop the rest of the file. Returns the number of
 * entries read or -errno for a file that exists but cannot be read.
 */
int hostkey_load(LIBSSH2_KNOWNHOSTS *kh, const char *const *files, size_t n);

/*
 * The LIBSSH2_METHOD_HOSTKEY preference list for the key types on file for
 * name (in kh, or on a line of files[0..n_files) whose host patterns name
 * it), in OpenSSH's order, keeping only methods in supported[]. Empty when
 * nothing is on file. Returns the number of key types found or -ENOSPC.
 */
int hostkey_methods(LIBSSH2_KNOWNHOSTS *kh, const char *const *files, size_t n_files,
		    const char *name, const char *const *supported, size_t n_supported, char *out,
		    size_t outlen);

/* The verdict for the server's raw key blob of a LIBSSH2_HOSTKEY_TYPE_*, or -errno. */
int hostkey_check(LIBSSH2_KNOWNHOSTS *kh, const char *name, const unsigned char *key, size_t len,
		  int hostkey_type);

/*
 * Where the key on file that differs from key (a CHANGED verdict) is: the
 * index into files[] and the 1-based line. s is any session (libssh2 needs
 * one to parse). 0, -ENOENT when no line has it, or -EINVAL.
 */
int hostkey_locate(LIBSSH2_SESSION *s, const char *const *files, size_t n, const char *name,
		   const unsigned char *key, size_t len, int hostkey_type, size_t *file_index,
		   unsigned long *line_no);

/* A known_hosts file may be trusted: owned by the effective user or root, not world-writable. */
bool hostkey_owner_ok(const struct stat *st);

/* Add name's key to kh in memory only (a key accepted this run but not saved). 0 or -errno. */
int hostkey_remember(LIBSSH2_KNOWNHOSTS *kh, const char *name, const unsigned char *key, size_t len,
		     int hostkey_type);

/*
 * Append "name type key sluice" to file (created 0600, its directory 0700 if
 * missing) without rewriting what is there; with hash (HashKnownHosts), the
 * name as OpenSSH hashes it ("|1|salt|HMAC-SHA1"), under a fresh random
 * salt. 0 or -errno; -EPERM when file is a symlink, has another hard link,
 * is not a regular file, is not owned by the effective user, or anyone may
 * write it.
 */
int hostkey_append(LIBSSH2_KNOWNHOSTS *kh, const char *file, const char *name,
		   const unsigned char *key, size_t len, int hostkey_type, bool hash);

#define HOSTKEY_SALT_LEN 20 /* SHA-1's length, as OpenSSH salts */
#define HOSTKEY_HASH_B64 29 /* 20 bytes in padded base64, and the NUL */

/*
 * name hashed as OpenSSH's known_hosts hashes it: HMAC-SHA1 keyed with salt.
 * Both out in padded base64 (what follows "|1|" and the '|' after it).
 * 0 or -EINVAL.
 */
int hostkey_hash_name(const char *name, const unsigned char salt[HOSTKEY_SALT_LEN],
		      char salt_b64[HOSTKEY_HASH_B64], char hash_b64[HOSTKEY_HASH_B64]);

#endif
