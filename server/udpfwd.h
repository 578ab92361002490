/*
 * udpfwd: the helper's side of UDP and ping through the tunnel
 * (WIRE_F_UDP). It owns the UDP flows (flow id -> one connected UDP socket,
 * expired like conntrack), the outstanding echo requests with their ICMP
 * sockets, and the `ping` children used when ICMP sockets are not allowed.
 * Everything it sends goes out whole frames through one callback.
 */
#ifndef SLUICE_UDPFWD_H
#define SLUICE_UDPFWD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/evloop.h"
#include "../common/wire.h"

#define UDPFWD_FLOWS_MAX   4096
#define UDPFWD_IDLE_MS	   (30 * 1000)	/* a flow that never got an answer */
#define UDPFWD_ANSWERED_MS (180 * 1000) /* a flow that did */
#define UDPFWD_ECHOES_MAX  1024		/* outstanding echo requests */
#define UDPFWD_ECHO_WAIT   (10 * 1000)	/* then an echo is lost, as a ping is */
#define UDPFWD_PING_RUN	   8		/* `ping` children at once */
#define UDPFWD_PING_QUEUE  16		/* waiting for one of them; more are dropped */

/* Queue one whole frame towards the client: 0, or -ENOBUFS (the frame is dropped). */
typedef int (*udpfwd_send_fn)(void *ctx, const uint8_t *frame, size_t len);

enum udpfwd_echo_way {
	UDPFWD_ECHO_NONE,    /* no echo sent yet: not decided */
	UDPFWD_ECHO_SOCKET,  /* unprivileged ICMP sockets */
	UDPFWD_ECHO_COMMAND, /* the remote's own ping command */
};

struct udpfwd_stats {
	size_t flows, echoes;
	uint64_t out_dropped; /* frames the send callback refused */
	uint64_t in_dropped;  /* datagrams and echoes the socket could not take */
	uint64_t evicted;     /* flows closed to make room */
	uint64_t refused;     /* destinations the helper does not send to */
};

struct udpfwd;

struct udpfwd *udpfwd_new(struct evloop *loop, udpfwd_send_fn send, void *ctx);
/* Closes every socket and stops every ping child, without frames. */
void udpfwd_free(struct udpfwd *u);
/* A client frame: UDP, UDP_CLOSE or ECHO. 0, or -EPROTO for a malformed one. */
int udpfwd_frame(struct udpfwd *u, const struct wire_frame *f);
/* Expiry of flows and echoes, reaping of ping children. Call about once a second. */
void udpfwd_tick(struct udpfwd *u);
void udpfwd_get_stats(const struct udpfwd *u, struct udpfwd_stats *st);
/* How echoes go out, once the first one went (the owner logs it once). */
enum udpfwd_echo_way udpfwd_echo_way(const struct udpfwd *u);

/* Tests: the clock (ms, monotonic), the flow cap, and forcing the ping command. */
void udpfwd_set_clock(struct udpfwd *u, int64_t (*now_ms)(void));
void udpfwd_set_flows_max(struct udpfwd *u, size_t max);
void udpfwd_force_command(struct udpfwd *u, const char *ping_path);

#endif
