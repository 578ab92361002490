/*
 * bytes: the bounded readers and writers (see bytes.h).
 */
#include "bytes.h"

#include <string.h>

void breader_init(struct breader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static const uint8_t *take(struct breader *r, size_t n)
{
	const uint8_t *at;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	at = r->p + r->off;
	r->off += n;
	return at;
}

uint8_t breader_u8(struct breader *r)
{
	const uint8_t *b = take(r, 1);

	return b ? b[0] : 0;
}

uint16_t breader_u16(struct breader *r)
{
	const uint8_t *b = take(r, 2);

	return b ? (uint16_t)(b[0] << 8 | b[1]) : 0;
}

uint32_t breader_u32(struct breader *r)
{
	const uint8_t *b = take(r, 4);

	return b ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : 0;
}

void breader_bytes(struct breader *r, void *out, size_t n)
{
	const uint8_t *b = take(r, n);

	if (b)
		memcpy(out, b, n);
	else if (n)
		memset(out, 0, n);
}

size_t breader_left(const struct breader *r)
{
	return r->bad ? 0 : r->len - r->off;
}

void bwriter_init(struct bwriter *w, void *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->off = 0;
	w->bad = false;
}

static uint8_t *room(struct bwriter *w, size_t n)
{
	uint8_t *at;

	if (w->bad || w->cap - w->off < n) {
		w->bad = true;
		return NULL;
	}
	at = w->p + w->off;
	w->off += n;
	return at;
}

void bwriter_u8(struct bwriter *w, uint8_t v)
{
	uint8_t *b = room(w, 1);

	if (b)
		b[0] = v;
}

void bwriter_u16(struct bwriter *w, uint16_t v)
{
	uint8_t *b = room(w, 2);

	if (b) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	}
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

void bwriter_u32(struct bwriter *w, uint32_t v)
{
	uint8_t *b = room(w, 4);

	if (b)
		put32(b, v);
}

void bwriter_bytes(struct bwriter *w, const void *p, size_t n)
{
	uint8_t *b = room(w, n);

	if (b && n)
		memcpy(b, p, n);
}

void bwriter_put_u32_at(struct bwriter *w, size_t off, uint32_t v)
{
	if (w->bad || off > w->off || w->off - off < 4) {
		w->bad = true;
		return;
	}
	put32(w->p + off, v);
}
