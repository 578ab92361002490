/*
 * priv_proto: the messages between the user's sluice and its privileged
 * part, and nothing else. Both sides use it; the privileged side trusts
 * nothing it decodes.
 *
 * A message is a u32 length (big-endian, counting what follows, at most
 * PRIV_MSG_MAX) then a u8 type and its payload. The user's side sends
 * requests; the privileged side sends one HELLO when it is ready, then one
 * REPLY per request, in order.
 *
 *   INSTALL  u16 redirect_port, u16 dns_port, u8 flags, u32 uid, u32 gid,
 *            u16 n_include, u16 n_exclude, u16 n_dns, then the subnets, then
 *            u8 len, label[len]: the remote, for other tunnels' refusals
 *   UPDATE   u16 n_include, u16 n_exclude, then the subnets
 *   HOSTS    u16 n, then n times: u8 family (4|6), addr[16], u8 len, name[len]
 *   REMOVE   (empty): the rules, our /etc/hosts lines and the conntrack entries
 *            of our redirects go
 *   CT_FLUSH (empty): delete stale conntrack entries (TCP to the routed
 *            networks, NATed elsewhere than our port); the reply's status is
 *            how many
 *   CHECK    as INSTALL, before it: would the rules clash with another
 *            tunnel's? (the records' check, nothing applied); so that a
 *            clash is told before the user logs in
 *   TUN      (empty), after INSTALL: capture UDP and ping to the routed networks
 *            into a TUN device of this tunnel's own; its reply carries the
 *            device name as text and, as SCM_RIGHTS ancillary data on its
 *            first byte, the device's descriptor
 *   HELLO    u32 version, u32 pid, u32 caller uid, u8 grant flags: what the
 *            part will do for this caller (PRIV_G_*)
 *   REPLY    u8 request type, u32 status (0 or a negative errno, as int32),
 *            and for HOSTS a bitmap of the entries the user's own lines shadow;
 *            for a refusal, perhaps why, as text (at most PRIV_WHY_MAX bytes);
 *            for a TUN that succeeded, the device's name
 *
 * A subnet is u8 family (4|6), u8 prefix, addr[16], u16 port_lo, u16 port_hi.
 */
#ifndef SLUICE_PRIV_PROTO_H
#define SLUICE_PRIV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/bytes.h"
#include "../../common/hostname.h"
#include "../../firewall/fw.h"
#include "instances.h"

#define PRIV_VERSION	 3
#define PRIV_LEN_BYTES	 4
#define PRIV_MSG_MAX	 (2u << 20)
#define PRIV_SUBNETS_MAX 8192 /* per list: the command line's 4096 and -N's, with room */
#define PRIV_DNS_MAX	 64
#define PRIV_HOSTS_MAX	 4096
#define PRIV_SUBNET_LEN	 22
#define PRIV_WHY_MAX	 256
#define PRIV_REPLY_MAX	 (PRIV_LEN_BYTES + 6 + PRIV_HOSTS_MAX / 8)
#define PRIV_HELLO_LEN	 14 /* its body: type, version, pid, uid, flags */

enum priv_type {
	PRIV_INSTALL = 1,
	PRIV_UPDATE = 2,
	PRIV_HOSTS = 3,
	PRIV_REMOVE = 4,
	PRIV_CT_FLUSH = 5,
	PRIV_TUN = 6,
	PRIV_CHECK = 7,
	PRIV_HELLO = 0x40,
	PRIV_REPLY = 0x41,
};

enum priv_flag {
	PRIV_F_PREROUTING = 1,
	PRIV_F_BY_UID = 2,
	PRIV_F_BY_GID = 4,
};

/*
 * A HELLO's grant flags. CONFINED: the caller is not root and the entry
 * point did not say --all-users, so only the caller's own sockets may be
 * captured (see priv_server.h).
 */
enum priv_grant_flag {
	PRIV_G_CONFINED = 1,
};

struct priv_host {
	int family;
	uint8_t addr[16];
	char name[HOSTNAME_MAX + 1];
};

/* A decoded request. Its arrays are one allocation each, freed by priv_msg_free. */
struct priv_msg {
	uint8_t type;
	struct fw_spec spec; /* INSTALL (all of it), UPDATE (include and exclude) */
	struct subnet *subnets;
	struct priv_host *hosts;
	size_t n_hosts;
	char label[INSTANCE_LABEL_MAX + 1]; /* INSTALL, CHECK */
};

/*
 * Decode one request body (type and payload, without the length). Strict:
 * unknown types and flags, counts over the limits, bad families, prefixes,
 * host bits, port ranges and names, and trailing bytes are all -EINVAL;
 * -ENOMEM when out of memory. On error nothing is left to free.
 */
int priv_decode(const uint8_t *body, size_t len, struct priv_msg *m);
void priv_msg_free(struct priv_msg *m);

/*
 * Encoders write a whole message, length first, and return its size, or
 * -EMSGSIZE when it does not fit cap or PRIV_MSG_MAX, or -EINVAL for what
 * cannot be encoded (a count over its limit, a bad family).
 */
int priv_put_install(uint8_t *buf, size_t cap, const struct fw_spec *spec, const char *label);
int priv_put_check(uint8_t *buf, size_t cap, const struct fw_spec *spec, const char *label);
int priv_put_update(uint8_t *buf, size_t cap, const struct fw_spec *spec);
int priv_put_hosts(uint8_t *buf, size_t cap, const struct priv_host *h, size_t n);
int priv_put_remove(uint8_t *buf, size_t cap);
int priv_put_ct_flush(uint8_t *buf, size_t cap);
int priv_put_tun(uint8_t *buf, size_t cap);
int priv_put_hello(uint8_t *buf, size_t cap, uint32_t pid, uint32_t uid, uint8_t flags);
/*
 * A reply; shadowed (n_bits bits) only for HOSTS, else NULL; why (or NULL)
 * for a refusal, or for a TUN that succeeded its device's name.
 */
int priv_put_reply(uint8_t *buf, size_t cap, uint8_t type, int status, const uint8_t *shadowed,
		   size_t n_bits, const char *why);

/* The encoded size of an INSTALL, CHECK, UPDATE or HOSTS request, for the buffer. */
size_t priv_size_spec(const struct fw_spec *spec);
size_t priv_size_hosts(size_t n);

#endif
