/*
 * fw: the netfilter netlink socket that owns one sluice table. Sends the
 * batches nft_batch.c lays out, reads every ACK, and turns the first error
 * into one errno that fw_strerror can explain.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>

#include "fw.h"
#include "nft_internal.h"

#ifndef NFT_TABLE_F_OWNER
#define NFT_TABLE_F_OWNER 0x2 /* Linux 5.12 */
#endif

/* The kernel answers a batch inside sendmsg(); this only guards against a wedged socket. */
#define FW_ACK_TIMEOUT_MS 5000
/* Big enough for an ACK that echoes a whole message (kernels without NETLINK_CAP_ACK). */
#define FW_RECV_BUF (NFT_MSG_RESERVE + 8192)
/* Socket buffer space per ACK: each one is a separate skb with its own overhead. */
#define FW_RCVBUF_PER_ACK 1024

struct fw {
	char table[FW_TABLE_MAX];
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	uint32_t owner_flag;
	bool owned;
	/* What the rules were built from: fw_update may change sets only. */
	bool installed;
	uint16_t port;
	bool prerouting;
	uint16_t dns_port;    /* 0 when there are no nameservers */
	struct subnet *fixed; /* port-specific includes, port-specific excludes, nameservers */
	size_t n_fixed_inc, n_fixed_exc, n_fixed_dns;
};

struct ack_state {
	const struct nft_batch *b;
	size_t acked;
	int err;
	enum nft_kind kind;
};

int fw_open(struct fw **out, const char *table)
{
	struct fw *fw;
	int one = 1;
	int ret;

	*out = NULL;
	if (strncmp(table, FW_TABLE_NAME, strlen(FW_TABLE_NAME)) != 0 ||
	    strlen(table) >= FW_TABLE_MAX)
		return -EINVAL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	strcpy(fw->table, table);
	/* CLOEXEC: a child that exec'd with this socket would keep our owned table alive. */
	fw->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!fw->nl) {
		ret = -errno;
		free(fw);
		return ret;
	}
	if (mnl_socket_bind(fw->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		mnl_socket_close(fw->nl);
		free(fw);
		return ret;
	}
	/* Error ACKs then carry only the header, not a copy of a possibly large message. */
	(void)mnl_socket_setsockopt(fw->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	fw->portid = mnl_socket_get_portid(fw->nl);
	fw->seq = (uint32_t)time(NULL);
	fw->owner_flag = NFT_TABLE_F_OWNER;
	*out = fw;
	return 0;
}

const char *fw_table(const struct fw *fw)
{
	return fw->table;
}

void fw_close(struct fw *fw)
{
	if (!fw)
		return;
	mnl_socket_close(fw->nl);
	free(fw->fixed);
	free(fw);
}

void fw_set_owner_flag(struct fw *fw, uint32_t flag)
{
	fw->owner_flag = flag;
}

bool fw_is_owned(const struct fw *fw)
{
	return fw->installed && fw->owned;
}

/* Grow a socket buffer to want bytes; the FORCE variant passes rmem_max/wmem_max as root. */
static void grow_buf(int fd, int opt, int opt_force, size_t want)
{
	int cur = 0, val;
	socklen_t len = sizeof(cur);

	if (getsockopt(fd, SOL_SOCKET, opt, &cur, &len) == 0 && cur > 0 && (size_t)cur >= want)
		return;
	val = want > INT_MAX / 2 ? INT_MAX / 2 : (int)want;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &val, sizeof(val)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &val, sizeof(val));
}

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack_state *st = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t seq;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	seq = e->msg.nlmsg_seq;
	/* Only ours: an ACK left over from an earlier batch must not count. */
	if (seq - st->b->seq_first >= st->b->seq_next - st->b->seq_first)
		return MNL_CB_OK;
	st->acked++;
	if (e->error && !st->err) {
		st->err = e->error > 0 ? -e->error : e->error;
		st->kind = nft_batch_kind(st->b, seq);
	}
	return MNL_CB_OK;
}

/*
 * Send the batch and read ACKs until every message has one, or until an
 * error arrived and nothing more is queued (after some failures the kernel
 * answers only the batch as a whole). Returns 0, the first error the kernel
 * reported (with *kind saying which message), or a local -errno.
 */
static int fw_talk(struct fw *fw, struct nft_batch *b, enum nft_kind *kind)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {0};
	struct ack_state st = {.b = b};
	int fd = mnl_socket_get_fd(fw->nl);
	char *buf = NULL;
	ssize_t n;
	int ret = 0;

	*kind = NFT_K_NONE;
	fw->seq = b->seq_next;
	ctl[NLMSG_ERROR] = ack_cb;
	buf = malloc(FW_RECV_BUF);
	if (!buf)
		return -ENOMEM;
	/* netlink refuses a message larger than the send buffer; every ACK must fit in receive. */
	grow_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, b->len + 4096);
	grow_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, 65536 + b->n_acks * FW_RCVBUF_PER_ACK);

	n = mnl_socket_sendto(fw->nl, b->buf, b->len);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if ((size_t)n != b->len) {
		ret = -EMSGSIZE;
		goto out;
	}
	while (st.acked < b->n_acks) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, st.err ? 0 : FW_ACK_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0) {
			ret = st.err ? 0 : -ETIMEDOUT;
			goto out;
		}
		n = mnl_socket_recvfrom(fw->nl, buf, FW_RECV_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		/* ENOBUFS: ACKs were lost, so whether the batch applied is unknown. */
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (mnl_cb_run2(buf, (size_t)n, 0, fw->portid, NULL, &st, ctl, NLMSG_MIN_TYPE) <
		    0) {
			ret = -errno;
			goto out;
		}
	}
out:
	free(buf);
	if (ret == 0 && st.err) {
		ret = st.err;
		*kind = st.kind;
	}
	return ret;
}

/*
 * The kernel's errno made specific: a capability failure answers the batch
 * as a whole, so EPERM on one of our messages means the table is owned by
 * another socket. ENOENT or EOPNOTSUPP on a chain, set or rule means nat,
 * redir, fib or interval-set support is missing.
 */
static int map_error(int err, enum nft_kind kind)
{
	if (err == -EPERM && kind != NFT_K_NONE)
		return -EBUSY;
	if ((err == -ENOENT || err == -EOPNOTSUPP) &&
	    (kind == NFT_K_CHAIN || kind == NFT_K_RULE || kind == NFT_K_SET))
		return -EOPNOTSUPP;
	if (err == -EINVAL && kind != NFT_K_NONE)
		return -EPROTO;
	return err;
}

static int run(struct fw *fw, int (*build)(struct nft_batch *, const struct fw_spec *, uint32_t),
	       const struct fw_spec *spec, uint32_t flags, enum nft_kind *kind)
{
	struct nft_batch b;
	int ret;

	*kind = NFT_K_NONE;
	nft_batch_init(&b, fw->seq);
	b.table = fw->table;
	ret = build(&b, spec, flags);
	if (ret == 0)
		ret = fw_talk(fw, &b, kind);
	nft_batch_free(&b);
	return ret;
}

static int build_install(struct nft_batch *b, const struct fw_spec *spec, uint32_t flags)
{
	return nft_batch_install(b, spec, flags);
}

static int build_update(struct nft_batch *b, const struct fw_spec *spec, uint32_t flags)
{
	return nft_batch_update(b, spec);
}

static int build_remove(struct nft_batch *b, const struct fw_spec *spec, uint32_t flags)
{
	return nft_batch_remove(b);
}

static size_t copy_fixed(struct subnet *dst, const struct subnet *src, size_t n)
{
	size_t i, cnt = 0;

	for (i = 0; i < n; i++) {
		if (!nft_all_ports(&src[i]))
			dst[cnt++] = src[i];
	}
	return cnt;
}

static int remember(struct fw *fw, const struct fw_spec *spec)
{
	size_t n = spec->n_include + spec->n_exclude + spec->n_dns;
	struct subnet *fixed = NULL;

	if (n) {
		fixed = calloc(n, sizeof(*fixed));
		if (!fixed)
			return -ENOMEM;
	}
	free(fw->fixed);
	fw->fixed = fixed;
	fw->n_fixed_inc = n ? copy_fixed(fixed, spec->include, spec->n_include) : 0;
	fw->n_fixed_exc =
	    n ? copy_fixed(fixed + fw->n_fixed_inc, spec->exclude, spec->n_exclude) : 0;
	fw->n_fixed_dns = spec->n_dns;
	if (spec->n_dns)
		memcpy(fixed + fw->n_fixed_inc + fw->n_fixed_exc, spec->dns,
		       spec->n_dns * sizeof(*fixed));
	fw->port = spec->redirect_port;
	fw->prerouting = spec->prerouting;
	fw->dns_port = spec->n_dns ? spec->dns_port : 0;
	return 0;
}

static bool subnet_same(const struct subnet *a, const struct subnet *b)
{
	return a->family == b->family && a->prefix == b->prefix && a->port_lo == b->port_lo &&
	       a->port_hi == b->port_hi && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The same nameservers in the same order; their ports never reach a rule, so they may differ. */
static bool dns_same(const struct subnet *fixed, size_t n_fixed, const struct subnet *list,
		     size_t n)
{
	size_t i;

	if (n != n_fixed)
		return false;
	for (i = 0; i < n; i++) {
		if (fixed[i].family != list[i].family || fixed[i].prefix != list[i].prefix ||
		    memcmp(fixed[i].addr, list[i].addr, sizeof(fixed[i].addr)) != 0)
			return false;
	}
	return true;
}

/* Does list hold exactly the port-specific entries in fixed, in the same order? */
static bool fixed_same(const struct subnet *fixed, size_t n_fixed, const struct subnet *list,
		       size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (nft_all_ports(&list[i]))
			continue;
		if (j == n_fixed || !subnet_same(&fixed[j], &list[i]))
			return false;
		j++;
	}
	return j == n_fixed;
}

int fw_install(struct fw *fw, const struct fw_spec *spec)
{
	uint32_t flags = fw->owner_flag;
	enum nft_kind kind;
	int ret;

	ret = run(fw, build_install, spec, flags, &kind);
	/* Kernels before 5.12 refuse the owner flag (EINVAL), later ones an unknown flag. */
	if (flags && (ret == -EOPNOTSUPP || ret == -EINVAL) && kind == NFT_K_TABLE_OWNED) {
		flags = 0;
		ret = run(fw, build_install, spec, flags, &kind);
	}
	if (ret < 0) {
		/* A failed batch changed nothing, but our old table, if any, is still in place. */
		return map_error(ret, kind);
	}
	fw->installed = true;
	fw->owned = flags != 0;
	return remember(fw, spec);
}

/* Whether spec differs from the installed one only in its all-ports subnets. */
static bool same_rules(const struct fw *fw, const struct fw_spec *spec)
{
	return spec->redirect_port == fw->port && spec->prerouting == fw->prerouting &&
	       (!spec->n_dns || spec->dns_port == fw->dns_port) &&
	       fixed_same(fw->fixed, fw->n_fixed_inc, spec->include, spec->n_include) &&
	       fixed_same(fw->fixed + fw->n_fixed_inc, fw->n_fixed_exc, spec->exclude,
			  spec->n_exclude) &&
	       dns_same(fw->fixed + fw->n_fixed_inc + fw->n_fixed_exc, fw->n_fixed_dns, spec->dns,
			spec->n_dns);
}

int fw_update(struct fw *fw, const struct fw_spec *spec)
{
	enum nft_kind kind;
	int ret;

	if (!fw->installed)
		return -ENOENT;
	/* Before comparing: the lists must be there to be read. */
	ret = nft_spec_check(spec, false);
	if (ret < 0)
		return ret;
	if (!same_rules(fw, spec))
		return -EINVAL;
	ret = run(fw, build_update, spec, 0, &kind);
	return ret < 0 ? map_error(ret, kind) : 0;
}

int fw_capture_datagrams(struct fw *fw, const struct fw_spec *spec, const char *tun, uint32_t mark)
{
	enum nft_kind kind;
	struct nft_batch b;
	int ret;

	if (!fw->installed)
		return -ENOENT;
	ret = nft_spec_check(spec, true);
	if (ret < 0)
		return ret;
	if (!same_rules(fw, spec) || strlen(tun) >= FW_IFNAME_MAX || !tun[0])
		return -EINVAL;
	nft_batch_init(&b, fw->seq);
	b.table = fw->table;
	ret = nft_batch_capture(&b, spec, tun, mark);
	if (ret == 0)
		ret = fw_talk(fw, &b, &kind);
	nft_batch_free(&b);
	return ret < 0 ? map_error(ret, kind) : 0;
}

int fw_remove(struct fw *fw)
{
	enum nft_kind kind;
	int ret;

	ret = run(fw, build_remove, NULL, 0, &kind);
	if (ret == -ENOENT)
		ret = 0;
	if (ret == 0)
		fw->installed = false;
	return ret < 0 ? map_error(ret, kind) : 0;
}

const char *fw_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EPERM:
	case -EACCES:
		return "changing nftables needs root (CAP_NET_ADMIN)";
	case -EBUSY:
		return "our nftables table belongs to another running sluice";
	case -EOPNOTSUPP:
		return "the kernel lacks nftables NAT/redirect support "
		       "(modules nft_chain_nat, nft_redir, nft_fib_inet)";
	case -EPROTONOSUPPORT:
	case -EAFNOSUPPORT:
		return "the kernel has no nf_tables (nftables) support";
	case -ENOENT:
		return "our nftables table is gone (deleted from outside?)";
	case -EINVAL:
		return "invalid firewall spec (bad subnet or port, or fw_update changed more than "
		       "the all-ports subnets)";
	case -EPROTO:
		return "the kernel refused the nftables rules (kernel too old?)";
	case -ETIMEDOUT:
		return "the kernel did not answer the nftables request";
	case -ENOBUFS:
		return "lost nftables replies (netlink receive buffer overflow)";
	case -EMSGSIZE:
		return "too many subnets for one nftables batch";
	case -ENOMEM:
		return "out of memory";
	default:
		return err < 0 ? strerror(-err) : "unknown error";
	}
}
