/*
 * sshmux: the few messages of OpenSSH's ControlMaster protocol (PROTOCOL.mux
 * in OpenSSH's sources) that --direct speaks: HELLO, NEW_STDIO_FWD and the
 * master's answers to it. Encoding and parsing only; the sockets are
 * direct.c's. Every message is a u32 length and a body of u32 type, u32
 * request id and fields; strings are a u32 length and bytes.
 */
#ifndef SLUICE_SSHMUX_H
#define SLUICE_SSHMUX_H

#include <stddef.h>
#include <stdint.h>

#define SSHMUX_VERSION 4
/* The longest answer we take: ours are a few dozen bytes; anything longer is not one. */
#define SSHMUX_MSG_MAX 256
#define SSHMUX_WHY_MAX 128

enum sshmux_kind {
	SSHMUX_HELLO = 1, /* the master's HELLO, of our version */
	SSHMUX_OPENED,	  /* SESSION_OPENED: the channel is open */
	SSHMUX_REFUSED,	  /* FAILURE or PERMISSION_DENIED, with a reason */
	SSHMUX_OTHER,	  /* a message we did not ask for: ignored */
};

struct sshmux_msg {
	enum sshmux_kind kind;
	uint32_t rid;
	char why[SSHMUX_WHY_MAX]; /* REFUSED: the master's reason, NUL-terminated, as sent */
};

/*
 * Our HELLO, then NEW_STDIO_FWD to host:port as request rid, into buf.
 * Returns the bytes written, or -ENOSPC.
 */
int sshmux_put_open(uint8_t *buf, size_t cap, uint32_t rid, const char *host, uint16_t port);

/*
 * One message from buf: its length (> 0), 0 when more bytes are needed, or
 * -EPROTO (longer than SSHMUX_MSG_MAX, a HELLO of another version, or a
 * body too short for its type).
 */
int sshmux_parse(const uint8_t *buf, size_t len, struct sshmux_msg *m);

#endif
