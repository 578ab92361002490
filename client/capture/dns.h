/*
 * dns: the client's end of --dns over UDP. Queries the firewall redirects
 * to our UDP port go through the tunnel as DNS_QUERY frames; answers come
 * back as DNS_REPLY and leave from the same socket, which conntrack makes
 * look as if the nameserver the application asked had answered.
 *
 * Any local user can send to that port, so DNS has a budget of its own
 * (queries and bytes in flight); past it, queries are dropped and counted,
 * and the tunnel's control frames never feel it.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"

#define DNS_PENDING_MAX 1024
/* DNS's own budget: what may be in the tunnel at once, in queries and in bytes. */
#define DNS_INFLIGHT_MAX       256
#define DNS_INFLIGHT_BYTES_MAX (128u << 10)

struct dns_sock {
	struct ev_io io;
	struct dns_proxy *proxy;
};

struct dns_pending {
	uint32_t id; /* 0 = free */
	struct dns_sock *sock;
	struct sockaddr_storage from;
	socklen_t from_len;
	int64_t sent_ms;
	size_t len;
};

struct dns_proxy {
	struct dns_sock s4, s6;
	uint16_t port;
	struct mux *mux; /* NULL while the session is down: queries are dropped */
	bool watched;	 /* the sockets are in the event loop */
	uint32_t next_id;
	struct dns_pending pending[DNS_PENDING_MAX];
	size_t inflight, inflight_bytes;
	uint64_t queries, answered;
	uint64_t dropped;     /* over budget, or the tunnel had no room */
	uint64_t dropped_big; /* over WIRE_DNS_UDP_MAX */
	uint64_t forgotten;   /* no answer in time, or pushed out of the table */
};

/* Bind UDP sockets on 127.0.0.1 and/or ::1 sharing one free port. Returns 0 or -errno. */
int dns_open(struct dns_proxy *d, bool v4, bool v6);
/* Answer through mux from now on (again after dns_detach). Returns 0 or -errno. */
int dns_start(struct dns_proxy *d, struct evloop *loop, struct mux *mux);
/* The session is gone: forget what is in flight, and drop queries until dns_start. */
void dns_detach(struct dns_proxy *d);
/* A DNS_REPLY frame: send the answer to whoever asked. Unknown ids are ignored. */
void dns_answer(struct dns_proxy *d, uint32_t id, const uint8_t *msg, size_t len);
/* Forget queries older than the timeout. Call about once a second. */
void dns_expire(struct dns_proxy *d);
/*
 * Take one query from a local client (the datagram's length; the bytes are
 * already behind a frame header in frame). Returns 0 when it went into the
 * tunnel, or -EMSGSIZE / -ENOBUFS when it was dropped (and counted).
 * Exposed for tests; on_query calls it for each datagram.
 */
int dns_submit(struct dns_proxy *d, struct dns_sock *s, const struct sockaddr_storage *from,
	       socklen_t flen, uint8_t *frame, size_t n);
void dns_close(struct dns_proxy *d, struct evloop *loop);

#endif
