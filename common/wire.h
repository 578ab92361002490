/*
 * wire: the frame format between client and helper, and nothing else.
 *
 * Every frame is a 12-byte header followed by its payload:
 *   u8 type | u8 flags (0) | u16 reserved (0) | u32 stream | u32 length
 * all big-endian. Stream 0 carries session-wide frames. The parser checks
 * every length and every fixed-size payload before anyone reads a field.
 */
#ifndef SLUICE_WIRE_H
#define SLUICE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION	 1
#define WIRE_HDR_LEN	 12
#define WIRE_MAX_PAYLOAD (64 * 1024)
#define WIRE_MAGIC	 "SLUICE\r\n"
#define WIRE_MAGIC_LEN	 8
#define WIRE_HASH_LEN	 32
#define WIRE_CTL_MAX	 (WIRE_HDR_LEN + 64) /* room for any frame but DATA */

enum wire_type {
	WIRE_HELLO =
	    1,	       /* stream 0: magic, u16 version, u16 0, u32 window, u32 features, hash[32] */
	WIRE_OPEN = 2, /* u8 family (4|6), u8 0, u16 port, addr[4|16] */
	WIRE_DATA = 3, /* payload bytes, 1..WIRE_MAX_PAYLOAD */
	WIRE_EOF = 4,  /* sender will send no more data on this stream */
	WIRE_RESET = 5,	 /* u32 errno: stream is gone, reset the local socket */
	WIRE_WINDOW = 6, /* u32 increment of the receiver's credit */
	WIRE_PING = 7,	 /* stream 0: 8 opaque bytes, echoed in PONG */
	WIRE_PONG = 8,
	WIRE_TYPE_MAX = 8,
};

/* Feature bits carried in HELLO; a side uses a feature only when both announce it. */
enum wire_feature { WIRE_F_NONE = 0 };

struct wire_hello {
	uint16_t version;
	uint32_t window;
	uint32_t features;
	uint8_t hash[WIRE_HASH_LEN];
};

struct wire_open {
	int family; /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t addr[16];
};

struct wire_frame {
	uint8_t type;
	uint32_t stream;
	uint32_t len;
	const uint8_t *payload;
	union {
		struct wire_hello hello;
		struct wire_open open;
		uint32_t window; /* WINDOW */
		uint32_t err;	 /* RESET */
	} u;
};

/*
 * Parse one frame from buf. Returns the frame's total length (> 0) when a
 * whole valid frame is there, 0 when more bytes are needed, or -EPROTO for a
 * malformed frame (unknown type, bad field, length out of range).
 */
int wire_parse(const uint8_t *buf, size_t len, struct wire_frame *f);

/* Encoders write a whole frame and return its length (at most WIRE_CTL_MAX). */
size_t wire_put_hdr(uint8_t *p, uint8_t type, uint32_t stream, uint32_t len);
size_t wire_put_hello(uint8_t *p, const struct wire_hello *h);
size_t wire_put_open(uint8_t *p, uint32_t stream, const struct wire_open *o);
size_t wire_put_u32(uint8_t *p, uint8_t type, uint32_t stream, uint32_t v); /* WINDOW, RESET */
size_t wire_put_ping(uint8_t *p, uint8_t type, const uint8_t opaque[8]);    /* PING, PONG */

#endif
