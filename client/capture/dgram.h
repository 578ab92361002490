/*
 * dgram: the client's end of UDP and ping through the tunnel. The kernel
 * routes UDP and echo requests for the routed networks into the tunnel's
 * TUN (see route/); this module reads them from it, keeps a flow per UDP
 * 4-tuple and an entry per echo in flight, carries them to the helper as
 * WIRE_UDP and WIRE_ECHO frames, and writes the answers back into the TUN
 * as IP packets with the original addresses: replies, and ICMP errors for
 * what the remote reports (a closed port there is a port unreachable here,
 * so the application sees ECONNREFUSED).
 *
 * Datagrams wait only in the mux's small datagram queue (mux_send_dgram),
 * which shares the tunnel with TCP: with the session down, or that queue
 * full, they are dropped and counted. The routes keep pointing at the
 * TUN meanwhile, so nothing leaves around the tunnel (fail-closed).
 */
#ifndef SLUICE_DGRAM_H
#define SLUICE_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/evloop.h"
#include "../../common/ippkt.h"
#include "../../common/mux.h"
#include "../../common/wire.h"

#define DGRAM_FLOWS_MAX	   4096	  /* UDP flows at once; the longest idle goes first */
#define DGRAM_ECHOES_MAX   1024	  /* echo requests awaiting a reply */
#define DGRAM_IDLE_MS	   30000  /* a flow never answered, as conntrack's UDP timeout */
#define DGRAM_ANSWERED_MS  180000 /* a flow that was answered */
#define DGRAM_ECHO_WAIT_MS 10000
#define DGRAM_READS	   64 /* packets taken from the TUN per wakeup, so others get their turn */

#define DGRAM_FRAME_MAX                                                                            \
	(WIRE_HDR_LEN + WIRE_MAX_PAYLOAD > IPPKT_HDR_V6 + WIRE_UDP_MAX                             \
	     ? WIRE_HDR_LEN + WIRE_MAX_PAYLOAD                                                     \
	     : IPPKT_HDR_V6 + WIRE_UDP_MAX)

struct dgram_flow {
	uint32_t id; /* 0: free; else (generation << 13) | (slot + 1) */
	uint8_t version;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	bool answered;
	int64_t last_ms;
	int32_t next; /* the hash chain: next slot, or -1 */
	uint64_t tx_bytes, rx_bytes, tx_dgrams, rx_dgrams;
};

struct dgram_echo {
	uint32_t id; /* as a flow's */
	uint8_t version;
	uint8_t src[16], dst[16];
	uint16_t echo_id, seq;
	int64_t sent_ms;
};

struct dgram_stats {
	size_t flows;
	uint64_t tx_dgrams, rx_dgrams, tx_bytes, rx_bytes;
	uint64_t echoes, echo_replies;
	uint64_t dropped; /* no session, no room in the tunnel, the TUN full, or the helper short */
	uint64_t not_carried;  /* neither UDP nor an echo request, or malformed */
	uint64_t errors;       /* ICMP errors written for what the remote reported */
	uint64_t too_big;      /* "too big" errors from the remote, not passed on */
	uint64_t tun_errors;   /* the TUN failed a read: it is no longer read */
	uint64_t refused_here; /* flows ended by this side's port unreachable about an answer */
};

/* Why a flow ended, for the -v line. */
enum dgram_end { DGRAM_END_IDLE, DGRAM_END_FULL, DGRAM_END_REMOTE, DGRAM_END_LOCAL };

struct dgram {
	struct ev_io io; /* the TUN */
	bool tun_dead;	 /* a read failed: out of the loop */
	/* A flow ended (not on detach or close, where they all go): -v's line. NULL: none. */
	void (*ended)(void *arg, const struct dgram_flow *f, enum dgram_end why, int64_t now_ms);
	void *ended_arg;
	struct evloop *loop;
	struct mux *mux;	 /* NULL while the session is down */
	int64_t (*now_ms)(void); /* the clock; tests set their own */
	struct dgram_flow flows[DGRAM_FLOWS_MAX];
	int32_t buckets[DGRAM_FLOWS_MAX];
	uint16_t free_slots[DGRAM_FLOWS_MAX];
	size_t n_free;
	struct dgram_echo echoes[DGRAM_ECHOES_MAX];
	uint32_t gen; /* generation counter for ids */
	size_t next_echo;
	uint16_t ip_id;
	struct dgram_stats st;
	uint8_t pkt[IPPKT_MAX]; /* one packet read from the TUN */
	/* One frame, or one packet to write: the largest is an IPv6 reply of WIRE_UDP_MAX. */
	uint8_t frame[DGRAM_FRAME_MAX];
};

/* Set d up around an open TUN fd (non-blocking is set here). Returns 0 or -errno. */
int dgram_init(struct dgram *d, struct evloop *loop, int fd);
/* Close the TUN and forget every flow. */
void dgram_close(struct dgram *d);

/* The session is up: carry datagrams through mux from now on. */
void dgram_attach(struct dgram *d, struct mux *mux);
/* The session is gone: flows are forgotten (the helper's went with it); datagrams drop. */
void dgram_detach(struct dgram *d);

/*
 * A frame from the helper: UDP, UDP_ERR, UDP_CLOSE, ECHO or ECHO_ERR.
 * Returns 0, or -EPROTO for a frame that breaks the protocol (the session
 * ends). A frame about a flow or echo we no longer know is ignored.
 */
int dgram_frame(struct dgram *d, const struct wire_frame *f);

/* Expire idle flows (telling the helper) and unanswered echoes. Call about once a second. */
void dgram_expire(struct dgram *d);

/* One packet as if read from the TUN (tests; the reader calls it for each packet). */
void dgram_packet(struct dgram *d, const uint8_t *pkt, size_t len);

void dgram_get_stats(const struct dgram *d, struct dgram_stats *st);

/* Call cb for each open flow (SIGUSR1's table). Returns how many there are. */
size_t dgram_each_flow(const struct dgram *d, void (*cb)(void *arg, const struct dgram_flow *f),
		       void *arg);

#endif
