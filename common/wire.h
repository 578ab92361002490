/*
 * wire: the frame format between client and helper, and nothing else.
 *
 * Every frame is a 12-byte header followed by its payload:
 *   u8 type | u8 flags | u16 reserved (0) | u32 stream | u32 length
 * all big-endian; flags are 0 but for WIRE_DATA_F_*. Stream 0 carries session-wide frames. The
 * parser checks every length and every fixed-size payload before anyone reads a field.
 */
#ifndef SLUICE_WIRE_H
#define SLUICE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION	 2 /* 2: DATA may carry WIRE_DATA_F_BLOCKED */
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
	WIRE_ROUTES = 9, /* stream 0, helper->client: the remote's routes, replacing the last list;
			    entries of u8 family (4|6), u8 prefix, addr[4|16] */
	WIRE_HOST = 10,	 /* stream 0, helper->client: u8 family, addr[4|16], u8 n, name[n] */
	WIRE_DNS_QUERY = 11, /* stream = query id, client->helper: one DNS message */
	WIRE_DNS_REPLY = 12, /* stream = query id, helper->client: the answer; empty = no answer */
	WIRE_RESOLVER = 13,  /* stream 0, client->helper: use this resolver (OPEN's layout) */
	/*
	 * UDP and ping (WIRE_F_UDP). The layouts of UDP and ECHO differ by
	 * direction, which wire_parse cannot know: it checks what both share,
	 * and the receiver takes the payload apart with wire_udp_req (helper),
	 * wire_udp_reply, wire_echo_req (helper) or wire_echo_reply (client).
	 */
	WIRE_UDP = 14,	     /* stream = flow id; client->helper: u8 family, u8 0, u16 port,
				addr[4|16], datagram; helper->client: the datagram alone */
	WIRE_UDP_ERR = 15,   /* helper->client, stream = flow id: u32 errno, u32 mtu (EMSGSIZE) */
	WIRE_UDP_CLOSE = 16, /* stream = flow id, either way, empty: forget the flow */
	WIRE_ECHO = 17,	     /* stream = echo id; client->helper: u8 family, u8 0, u16 seq,
				addr[4|16], data; helper->client: u16 seq, the reply's data */
	WIRE_ECHO_ERR = 18,  /* helper->client, stream = echo id: u16 seq, u16 0, u32 errno */
	WIRE_TYPE_MAX = 18,
};

/*
 * Feature bits carried in HELLO: the client announces what it wants, the
 * helper what it offers; a feature is on when both say so.
 */
enum wire_feature {
	WIRE_F_ROUTES = 1, /* -N */
	WIRE_F_HOSTS = 2,  /* -H */
	WIRE_F_DNS = 4,	   /* --dns */
	/*
	 * Not a service: the transport drains the helper's stdout in bulk
	 * and queues deeply itself, so the helper may queue deeper there too.
	 */
	WIRE_F_DEEP_OUT = 8,
	WIRE_F_UDP = 16, /* UDP flows and ping */
};

/*
 * DATA flags: the sender used up the stream's credit with this frame and
 * had more to send. The receiver sizes the stream's credit by it.
 */
#define WIRE_DATA_F_BLOCKED 1

/* OPEN flags: connect to the helper's resolver (port and address from RESOLVER or its
 * resolv.conf) instead of the address in the frame. */
#define WIRE_OPEN_F_DNS 1
#define WIRE_DNS_MIN	12 /* a DNS header */
/* A query over UDP larger than this is dropped by either end: 512 bytes classically,
 * about 1232 with EDNS, so anything near this is abuse, not DNS. */
#define WIRE_DNS_UDP_MAX 4096
#define WIRE_NAME_MAX	 253
/* family, 0, port or seq, and the largest address: what precedes a request's data */
#define WIRE_UDP_HDR_MAX 20
/* The largest IPv4 UDP payload (65535 - 20 - 8); an IPv6 flow is held to it too. */
#define WIRE_UDP_MAX 65507
/* Room for any echo a real ping sends, well inside one frame. */
#define WIRE_ECHO_MAX 65000
/* errno values on the wire are positive and below Linux's MAX_ERRNO. */
#define WIRE_ERRNO_MAX 4095

_Static_assert(WIRE_UDP_HDR_MAX + WIRE_UDP_MAX <= WIRE_MAX_PAYLOAD, "UDP must fit one frame");
_Static_assert(WIRE_UDP_HDR_MAX + WIRE_ECHO_MAX <= WIRE_MAX_PAYLOAD, "ECHO must fit one frame");

struct wire_hello {
	uint16_t version;
	uint32_t window;
	uint32_t features;
	uint8_t hash[WIRE_HASH_LEN];
};

struct wire_open {
	int family;    /* AF_INET or AF_INET6 */
	uint8_t flags; /* WIRE_OPEN_F_* */
	uint16_t port;
	uint8_t addr[16];
};

struct wire_host {
	int family;
	uint8_t addr[16];
	char name[WIRE_NAME_MAX + 1]; /* NUL-terminated; characters not yet validated */
};

/* A client->helper UDP (port) or ECHO (seq) request, pointing into the frame. */
struct wire_udp {
	int family; /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t addr[16];
	const uint8_t *data;
	size_t len;
};

struct wire_echo {
	int family; /* AF_INET or AF_INET6; 0 in a reply */
	uint16_t seq;
	uint8_t addr[16];
	const uint8_t *data;
	size_t len;
};

struct wire_frame {
	uint8_t type;
	uint8_t flags; /* WIRE_DATA_F_* on DATA, else 0 */
	uint32_t stream;
	uint32_t len;
	const uint8_t *payload;
	union {
		struct wire_hello hello;
		struct wire_open open; /* OPEN, RESOLVER */
		struct wire_host host; /* HOST */
		uint32_t window;       /* WINDOW */
		uint32_t err;	       /* RESET */
		struct {
			uint32_t err, mtu;
		} udp_err; /* UDP_ERR */
		struct {
			uint16_t seq;
			uint32_t err;
		} echo_err; /* ECHO_ERR */
	} u;
};

/*
 * Parse one frame from buf. Returns the frame's total length (> 0) when a
 * whole valid frame is there, 0 when more bytes are needed, or -EPROTO for a
 * malformed frame (unknown type, bad field, length out of range).
 */
int wire_parse(const uint8_t *buf, size_t len, struct wire_frame *f);

/*
 * Take apart a parsed UDP or ECHO frame by direction. Return 0, or -EPROTO
 * for a bad field (family, reserved byte, address length, size).
 * wire_udp_req returns -EINVAL for a well-formed request to port 0 (u is
 * filled in): an error for that flow alone.
 */
int wire_udp_req(const struct wire_frame *f, struct wire_udp *u);
int wire_udp_reply(const struct wire_frame *f, const uint8_t **data, size_t *len);
int wire_echo_req(const struct wire_frame *f, struct wire_echo *e);
int wire_echo_reply(const struct wire_frame *f, struct wire_echo *e);

/*
 * Encoders write a whole frame into p (cap bytes) and return its length (at
 * most WIRE_CTL_MAX but for UDP and ECHO, which carry data), or 0, writing
 * nothing useful, when it does not fit.
 */
size_t wire_put_hdr(uint8_t *p, size_t cap, uint8_t type, uint32_t stream, uint32_t len);
/* Set the flags of a header already written (WIRE_DATA_F_* on DATA). */
void wire_set_flags(uint8_t *hdr, uint8_t flags);
size_t wire_put_hello(uint8_t *p, size_t cap, const struct wire_hello *h);
size_t wire_put_open(uint8_t *p, size_t cap, uint32_t stream, const struct wire_open *o);
/* WINDOW, RESET */
size_t wire_put_u32(uint8_t *p, size_t cap, uint8_t type, uint32_t stream, uint32_t v);
/* PING, PONG */
size_t wire_put_ping(uint8_t *p, size_t cap, uint8_t type, const uint8_t opaque[8]);
size_t wire_put_resolver(uint8_t *p, size_t cap, const struct wire_open *o);
/* HOST needs WIRE_HDR_LEN + 18 + strlen(name) bytes; name at most WIRE_NAME_MAX. */
size_t wire_put_host(uint8_t *p, size_t cap, const struct wire_host *h);
/* UDP: a request carries u's destination, a reply only the data (at most WIRE_UDP_MAX). */
size_t wire_put_udp_req(uint8_t *p, size_t cap, uint32_t flow, const struct wire_udp *u);
size_t wire_put_udp_reply(uint8_t *p, size_t cap, uint32_t flow, const uint8_t *data, size_t len);
/* mtu only with EMSGSIZE (which the helper no longer sends and the client drops). */
size_t wire_put_udp_err(uint8_t *p, size_t cap, uint32_t flow, uint32_t err, uint32_t mtu);
size_t wire_put_udp_close(uint8_t *p, size_t cap, uint32_t flow);
/* ECHO: e->family, addr and seq in a request; seq alone in a reply (family ignored). */
size_t wire_put_echo_req(uint8_t *p, size_t cap, uint32_t id, const struct wire_echo *e);
size_t wire_put_echo_reply(uint8_t *p, size_t cap, uint32_t id, uint16_t seq, const uint8_t *data,
			   size_t len);
size_t wire_put_echo_err(uint8_t *p, size_t cap, uint32_t id, uint16_t seq, uint32_t err);

/*
 * ROUTES: start with wire_put_hdr(p, cap, WIRE_ROUTES, 0, 0), add entries
 * with wire_routes_add (returns the new length, or 0 when it would pass cap
 * or WIRE_MAX_PAYLOAD), then wire_routes_end to fix the length.
 */
size_t wire_routes_add(uint8_t *p, size_t cap, size_t len, int family, const uint8_t *addr,
		       uint8_t prefix);
void wire_routes_end(uint8_t *p, size_t cap, size_t len);
/* Walk a parsed ROUTES payload: 1 for an entry, 0 at the end (payload already validated). */
int wire_routes_next(const struct wire_frame *f, size_t *off, int *family, uint8_t addr[16],
		     uint8_t *prefix);

#endif
