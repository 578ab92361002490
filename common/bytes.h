/*
 * bytes: bounded big-endian readers and writers. A reader never reads past
 * its end and a writer never writes past its capacity; either only sets
 * its `bad` flag, which stays set, so a caller checks once after a run of
 * calls instead of after each field. Only libc: the static helper links it.
 */
#ifndef SLUICE_BYTES_H
#define SLUICE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct breader {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

struct bwriter {
	uint8_t *p;
	size_t cap, off;
	bool bad;
};

void breader_init(struct breader *r, const void *p, size_t len);
uint8_t breader_u8(struct breader *r);
uint16_t breader_u16(struct breader *r);
uint32_t breader_u32(struct breader *r);
/* Copy n bytes into out (zeroed when the reader runs short). */
void breader_bytes(struct breader *r, void *out, size_t n);
/* Bytes not yet read (0 once bad). */
size_t breader_left(const struct breader *r);

void bwriter_init(struct bwriter *w, void *p, size_t cap);
void bwriter_u8(struct bwriter *w, uint8_t v);
void bwriter_u16(struct bwriter *w, uint16_t v);
void bwriter_u32(struct bwriter *w, uint32_t v);
void bwriter_bytes(struct bwriter *w, const void *p, size_t n);
/* Overwrite 4 bytes at off, already written (a length filled in last). */
void bwriter_put_u32_at(struct bwriter *w, size_t off, uint32_t v);

#endif
