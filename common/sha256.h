/*
 * sha256: a small SHA-256 so the static helper can name and check its own
 * binary without a crypto library; the client uses the same code to name the
 * copy it carries.
 */
#ifndef SLUICE_SHA256_H
#define SLUICE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX (2 * SHA256_LEN + 1)

struct sha256 {
	uint32_t h[8];
	uint64_t total;
	uint8_t block[64];
	size_t fill;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);
void sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void sha256_hex(const uint8_t d[SHA256_LEN], char out[SHA256_HEX]);
/* Hash a whole file. Returns 0 or -errno. */
int sha256_file(const char *path, uint8_t out[SHA256_LEN]);

#endif
