/*
 * priv_main: the privileged part's process (see priv_main.h): the real
 * backend (nftables through fw, /etc/hosts through hosts, the datagram
 * capture's TUN device and policy routing through route/), a non-blocking
 * read-handle-reply loop on stdin and stdout beside a signalfd, the
 * per-user slot, and the cleanup that must run whichever side dies and
 * whatever signal or limit the user passes through sudo.
 */
#include "priv_main.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/fdio.h"
#include "../../common/fdpass.h"
#include "../../common/log.h"
#include "../../common/ratelimit.h"
#include "../services/autohosts.h"
#include "../../firewall/ct.h"
#include "../../route/rtnl.h"
#include "../../route/tun.h"
#include "../services/hosts.h"
#include "instances.h"
#include "priv_server.h"
#include "priv_slot.h"

/* Refused requests logged: this many per interval, the rest counted. */
#define LOG_REFUSALS_BURST 20
#define LOG_REFUSALS_MS	   10000

struct real {
	struct fw *fw;
	/* A confined caller's conntrack reach: flows of its own sockets only. */
	struct ct_owner owner;
	bool confined;
	struct instance self; /* this tunnel, as other parts see it; spec set per request */
	bool warned;	      /* about going without records, once */
	struct rtnl *rtnl;    /* route netlink, or NULL: then no TUN (rtnl_err says why) */
	int rtnl_err;
	bool routed;	 /* our ip rules are in place */
	int tun_ifindex; /* the TUN we made, or 0 */
	char tun_name[IF_NAMESIZE];
};

/*
 * Apply spec with the records' lock held, after checking it against the
 * other tunnels', so that two parts never both pass the check; then record
 * it. A part that cannot keep records (not root: a capability-holding
 * user's child) goes without them, and says so once. Without apply, only
 * the check: nothing is applied or recorded.
 */
static int claim(struct real *r, const struct fw_spec *spec, char *why, size_t whylen,
		 int (*apply)(struct fw *, const struct fw_spec *))
{
	int lock, ret = instances_lock(INSTANCES_DIR, &lock);

	if (ret < 0) {
		if (!r->warned)
			log_warn(
			    "%s: %s; other tunnels on this machine are not checked for overlap",
			    INSTANCES_DIR, strerror(-ret));
		r->warned = true;
		return apply ? apply(r->fw, spec) : 0;
	}
	r->self.spec = *spec;
	ret = instances_check(INSTANCES_DIR, &r->self, why, whylen);
	if (ret == 0 && apply)
		ret = apply(r->fw, spec);
	if (ret == 0 && apply && instances_write(INSTANCES_DIR, &r->self) < 0)
		log_warn("%s: this tunnel's record could not be written", INSTANCES_DIR);
	memset(&r->self.spec, 0, sizeof(r->self.spec));
	close(lock);
	return ret;
}

static int real_install(void *ctx, const struct fw_spec *spec, const char *label, char *why,
			size_t whylen)
{
	struct real *r = ctx;

	snprintf(r->self.label, sizeof(r->self.label), "%s", label);
	return claim(r, spec, why, whylen, fw_install);
}

static int real_update(void *ctx, const struct fw_spec *spec, char *why, size_t whylen)
{
	return claim(ctx, spec, why, whylen, fw_update);
}

static int real_check(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		      size_t whylen)
{
	struct real *r = ctx;

	snprintf(r->self.label, sizeof(r->self.label), "%s", label);
	return claim(r, spec, why, whylen, NULL);
}

/*
 * The rules go explicitly, and so does the device: it would go with the
 * last descriptor, but the user's side holds that and may have made the
 * device persistent (TUNSETPERSIST needs no privilege). Its routes go with it.
 */
static int unroute(struct real *r)
{
	int ret = 0, lr = 0;

	if (r->routed && (ret = rtnl_rules_del(r->rtnl, rtnl_mark(r->self.part))) == 0)
		r->routed = false;
	if (r->tun_ifindex && (lr = rtnl_link_del(r->rtnl, r->tun_ifindex, r->tun_name)) == 0)
		r->tun_ifindex = 0;
	return ret < 0 ? ret : lr;
}

static int real_remove(void *ctx)
{
	struct real *r = ctx;
	int ret = fw_remove(r->fw), ur = unroute(r);

	if (ret == 0)
		instances_remove(INSTANCES_DIR, r->self.part);
	return ret < 0 ? ret : ur;
}

/*
 * Routing before marking: the device, its routes and the rules are in
 * place before the first packet is marked for them. The part keeps no
 * copy of the descriptor once it is sent: the device lives as long as the
 * user's side holds it. A failure names its step in why: its errno alone
 * would read as the firewall's (ENOENT: "our table is gone"), and the
 * device is what a sandbox (a systemd unit's PrivateDevices=) takes away.
 */
static int real_tun(void *ctx, const struct fw_spec *spec, char *name, size_t namelen, int *fd,
		    char *why, size_t whylen)
{
	struct real *r = ctx;
	uint32_t mark = rtnl_mark(r->self.part);
	int tfd = -1, ifindex = 0, ret;

	*fd = -1;
	if (!r->rtnl)
		return r->rtnl_err;
	ret = tun_create(r->self.part, name, namelen, &tfd, &ifindex);
	if (ret < 0) {
		snprintf(why, whylen, "making a TUN device (it needs /dev/net/tun): %s",
			 strerror(-ret));
		return ret;
	}
	ret = rtnl_tun_up(r->rtnl, ifindex);
	if (ret < 0) {
		snprintf(why, whylen, "setting up %s: %s", name, strerror(-ret));
		close(tfd);
		return ret;
	}
	r->tun_ifindex = ifindex;
	snprintf(r->tun_name, sizeof(r->tun_name), "%s", name);
	ret = rtnl_routes_add(r->rtnl, ifindex, mark);
	if (ret == 0)
		ret = rtnl_rules_add(r->rtnl, mark);
	if (ret < 0)
		snprintf(why, whylen, "adding the policy routes for %s: %s", name, strerror(-ret));
	if (ret == 0)
		r->routed = true;
	if (ret == 0)
		ret = fw_capture_datagrams(r->fw, spec, name, mark);
	if (ret < 0) {
		close(tfd);
		unroute(r);
		return ret;
	}
	*fd = tfd;
	return 0;
}

/*
 * The tunnels' rewrites take turns under the lock of their records: root's,
 * so no one else can hold it (anyone can lock /etc/hosts itself). A part
 * holds it only while it works, but one stopped meanwhile (SIGSTOP) holds
 * it until it goes on, and the others wait: no worse than for the records.
 */
static int hosts_turn(void)
{
	int fd, ret = instances_lock(INSTANCES_DIR, &fd);

	return ret < 0 ? ret : fd;
}

/*
 * The one file this process writes, fixed here; nothing names another. Its
 * lines carry this part's pid, so other tunnels' lines stay, and lines of
 * parts that are gone (SIGKILL) go with any rewrite.
 */
static const struct hosts_owner *hosts_owner(void)
{
	static struct hosts_owner own = {.alive = instances_part_alive, .turn = hosts_turn};

	own.id = (uint32_t)getpid();
	return &own;
}

static int real_hosts_write(void *ctx, struct hosts_entry *e, size_t n)
{
	return hosts_write_as(AUTOHOSTS_PATH, hosts_owner(), e, n);
}

static int real_hosts_restore(void *ctx)
{
	int ret = hosts_restore_as(AUTOHOSTS_PATH, hosts_owner());

	return ret == -ENOENT ? 0 : ret;
}

static int real_ct_flush(void *ctx, const struct fw_spec *spec, bool ours)
{
	size_t n = 0;
	struct real *r = ctx;
	int ret = ct_flush(spec, ours ? CT_OURS : CT_STALE, r->confined ? &r->owner : NULL, &n);

	if (ret < 0)
		log_warn("deleting %s conntrack entries: %s", ours ? "our" : "stale",
			 strerror(-ret));
	return ret < 0 ? ret : (int)n;
}

static const struct priv_backend real_backend = {
    .install = real_install,
    .update = real_update,
    .remove = real_remove,
    .hosts_write = real_hosts_write,
    .hosts_restore = real_hosts_restore,
    .ct_flush = real_ct_flush,
    .tun = real_tun,
    .check = real_check,
};

static const char *type_name(uint8_t t)
{
	switch (t) {
	case PRIV_INSTALL:
		return "installing the rules";
	case PRIV_CHECK:
		return "checking the rules against other tunnels'";
	case PRIV_UPDATE:
		return "updating the routed networks";
	case PRIV_HOSTS:
		return "writing " AUTOHOSTS_PATH;
	case PRIV_REMOVE:
		return "removing everything";
	case PRIV_CT_FLUSH:
		return "deleting stale conntrack entries";
	case PRIV_TUN:
		return "capturing datagrams into a TUN device";
	default:
		return "a malformed request";
	}
}

/* Drop the first n of the *have bytes in buf. */
static void consume(uint8_t *buf, size_t *have, size_t n)
{
	*have -= n;
	memmove(buf, buf + n, *have);
}

/*
 * Cut the next request out of the *have bytes in buf and answer it into
 * reply: its length, or 0 when more bytes must come first. A request
 * longer than PRIV_MSG_MAX is answered with -EMSGSIZE and its bytes are
 * skipped as they arrive (*skip), so the channel stays in step.
 */
static size_t next_reply(struct priv_server *s, uint8_t *buf, size_t *have, size_t *skip,
			 uint8_t *reply, struct ratelimit *rl, int *fd)
{
	struct breader r;
	uint32_t len;
	size_t rlen;
	unsigned dropped = 0;
	int status = 0;

	if (*skip) {
		size_t drop = *have < *skip ? *have : *skip;

		consume(buf, have, drop);
		*skip -= drop;
		if (*skip)
			return 0;
	}
	if (*have < PRIV_LEN_BYTES)
		return 0;
	breader_init(&r, buf, PRIV_LEN_BYTES);
	len = breader_u32(&r);
	if (len > PRIV_MSG_MAX) {
		rlen = priv_server_oversized(reply);
		if (ratelimit_allow(rl, clock_ms(), &dropped))
			log_warn("refused a request of %u bytes", len);
		consume(buf, have, PRIV_LEN_BYTES);
		*skip = len;
		return rlen;
	}
	if (*have < PRIV_LEN_BYTES + len)
		return 0;
	rlen = priv_server_handle(s, buf + PRIV_LEN_BYTES, len, reply, &status);
	*fd = priv_server_take_fd(s);
	/*
	 * A reason travels in the reply, for the caller's one line. A user
	 * sending only what is refused must not fill the log (nor block on it).
	 */
	if (status < 0 && !s->why && ratelimit_allow(rl, clock_ms(), &dropped))
		log_warn("%s: refused: %s%s", type_name(len ? buf[PRIV_LEN_BYTES] : 0),
			 strerror(-status), dropped ? " (more refusals not logged)" : "");
	consume(buf, have, PRIV_LEN_BYTES + len);
	return rlen;
}

/*
 * Our end of the channel, and stderr where it is a pipe or socket, never
 * block: a user who stops reading must not hold this process in a write
 * while the signals that end it wait. stderr on a terminal or file is left
 * alone (the flag would reach the user's shell; those do not fill up).
 */
static int output_nonblocking(void)
{
	struct stat st;
	int fd, fl;

	for (fd = 0; fd <= 2; fd++) {
		if (fd == 2 &&
		    (fstat(2, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))))
			continue;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

/*
 * Read and answer requests until the channel ends or a stop signal comes.
 * One reply at a time: while it waits to be sent, no request is read, and
 * the signalfd is watched all along. *fd: a descriptor the reply waiting
 * to go must carry, or -1; the caller closes one left.
 */
static void serve_loop(struct priv_server *s, int sfd, uint8_t *buf, int *fd)
{
	struct ratelimit rl = RATELIMIT_INIT(LOG_REFUSALS_BURST, LOG_REFUSALS_MS);
	uint8_t reply[PRIV_REPLY_MAX];
	size_t have = 0, skip = 0, rlen = 0, sent = 0;
	int ret = output_nonblocking();

	if (ret < 0) {
		log_err("making the channel non-blocking: %s", strerror(-ret));
		return;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		ssize_t n;
		int err = 0;

		if (sent == rlen) {
			sent = 0;
			rlen = next_reply(s, buf, &have, &skip, reply, &rl, fd);
		}
		if (sent < rlen) {
			/* A descriptor goes with the first byte sent, then ours is closed. */
			if (*fd >= 0) {
				n = fdpass_send(1, reply, rlen, fd, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
				err = n < 0 ? (int)-n : 0;
			} else {
				n = write(1, reply + sent, rlen - sent);
				err = n < 0 ? errno : 0;
			}
			if (n > 0) {
				if (*fd >= 0)
					close(*fd);
				*fd = -1;
				sent += (size_t)n;
				continue;
			}
			if (n == 0 || (err != EAGAIN && err != EINTR))
				return; /* the user's side is gone */
			p[1] = (struct pollfd){.fd = 1, .events = POLLOUT};
		} else if (have == PRIV_LEN_BYTES + PRIV_MSG_MAX) {
			return; /* cannot happen: a full buffer holds a whole request */
		}
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			return;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				log_info("stopping on signal %u; removing everything",
					 si.ssi_signo);
			return;
		}
		if (!p[1].revents || sent < rlen)
			continue; /* a write that may go now, or fail and say why */
		n = read(0, buf + have, PRIV_LEN_BYTES + PRIV_MSG_MAX - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return; /* the user's side is gone, however it ended */
		have += (size_t)n;
	}
}

static void serve(struct priv_server *s, int sfd, uint8_t *buf)
{
	int fd = -1;

	serve_loop(s, sfd, buf, &fd);
	if (fd >= 0)
		close(fd);
}

/* Rules of parts killed outright: the devices and routes went with them, these stay. */
static void route_sweep_log(struct real *r)
{
	int ret = rtnl_open(&r->rtnl), n;

	if (ret < 0) {
		r->rtnl_err = ret;
		log_warn("route netlink: %s; UDP and ping will not be captured", strerror(-ret));
		return;
	}
	n = rtnl_sweep(r->rtnl, instances_part_alive, r->self.part);
	if (n > 0)
		log_info("removed %d ip rule%s a killed run left", n, n == 1 ? "" : "s");
	else if (n < 0)
		log_warn("looking for ip rules killed runs left: %s", strerror(-n));
	/* A device outlives its part only if a holder persisted it: never ours to keep. */
	n = rtnl_links_sweep(r->rtnl, instances_part_alive, r->self.part);
	if (n > 0)
		log_info("removed %d TUN device%s a killed run left", n, n == 1 ? "" : "s");
	else if (n < 0)
		log_warn("looking for TUN devices killed runs left: %s", strerror(-n));
}

/*
 * Keep only what the job needs: CAP_NET_ADMIN for nftables. /etc/hosts is
 * root's, and uid 0 writes it as its owner without CAP_DAC_OVERRIDE; a
 * part that is not uid 0 (a capability-holding user's child) keeps
 * CAP_DAC_OVERRIDE if it has it, for the same file. Nothing can be gained
 * back: the bounding set goes too, and no_new_privs is set.
 */
static int confine(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	uint64_t keep = 1ull << CAP_NET_ADMIN, have;
	int cap;

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	have = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	if (geteuid() != 0)
		keep |= have & (1ull << CAP_DAC_OVERRIDE);
	keep &= have;
	for (cap = 0; cap <= 63; cap++) {
		if (keep & (1ull << cap))
			continue;
		/* EINVAL past the kernel's last capability; EPERM without CAP_SETPCAP. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
			return -errno;
	}
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/*
 * No signal ends this process without the clean-up. sudo relays what the
 * user sends it: each signal whose default would end us either comes
 * through the signalfd, to stop the normal way, or is ignored. The
 * terminal's (INT, QUIT, HUP) belong to the user's side, which then closes
 * the channel; job control would leave us stopped holding the rules; a
 * write past the file size limit fails rather than kills. Dispositions
 * come through exec too: one the caller ignored must not be lost.
 */
static int signals_setup(void)
{
	static const int ignored[] = {SIGINT,  SIGQUIT, SIGHUP,	 SIGPIPE,
				      SIGXFSZ, SIGTSTP, SIGTTIN, SIGTTOU};
	static const int stopping[] = {SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM,
				       SIGPROF, SIGXCPU, SIGIO,	  SIGPWR,  SIGSTKFLT};
	sigset_t set;
	size_t i;
	int sig;

	sigemptyset(&set);
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (signal(ignored[i], SIG_IGN) == SIG_ERR)
			return -1;
	for (i = 0; i < sizeof(stopping) / sizeof(stopping[0]); i++)
		if (signal(stopping[i], SIG_DFL) == SIG_ERR || sigaddset(&set, stopping[i]) < 0)
			return -1;
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		if (signal(sig, SIG_DFL) == SIG_ERR || sigaddset(&set, sig) < 0)
			return -1;
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/*
 * Limits pass through sudo, and one low enough would kill this process
 * (SIGXCPU, SIGSEGV on a short stack) or fail it (no memory, no
 * descriptor) halfway through a rewrite. Each below what the job needs is
 * raised while still privileged: up to the hard limit anyone may, past it
 * takes CAP_SYS_RESOURCE (which confine drops after). -EPERM when one stays
 * short: better not to start than to start and die without the clean-up.
 * No core dump keeps what it read.
 */
static int limits_reset(void)
{
	static const struct {
		int res;
		rlim_t need, want;
	} lim[] = {
	    /* /etc/hosts stops at 16 MiB; a CPU limit would end us some day. */
	    {RLIMIT_FSIZE, 32u << 20, RLIM_INFINITY}, {RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY},
	    {RLIMIT_AS, 1u << 30, RLIM_INFINITY},     {RLIMIT_DATA, 1u << 30, RLIM_INFINITY},
	    {RLIMIT_STACK, 8u << 20, 8u << 20},	      {RLIMIT_NOFILE, 64, 64},
	};
	struct rlimit rl, next;
	size_t i;

	for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		if (getrlimit(lim[i].res, &rl) < 0)
			return -errno;
		if (rl.rlim_cur >= lim[i].need)
			continue;
		next.rlim_cur = lim[i].want;
		next.rlim_max = rl.rlim_max > lim[i].want ? rl.rlim_max : lim[i].want;
		if (setrlimit(lim[i].res, &next) == 0)
			continue;
		if (errno != EPERM || rl.rlim_max < lim[i].need)
			return -errno;
		next.rlim_cur = next.rlim_max = rl.rlim_max;
		if (setrlimit(lim[i].res, &next) < 0)
			return -errno;
	}
	next.rlim_cur = next.rlim_max = 0;
	return setrlimit(RLIMIT_CORE, &next) < 0 ? -errno : 0;
}

/* Temporaries a killed rewrite left beside the file: nothing of a live one's. */
static void hosts_sweep_log(void)
{
	/* In turn: another tunnel's temporary has a name for a moment too. */
	int turn = hosts_turn(), n = hosts_sweep(AUTOHOSTS_PATH);

	if (turn >= 0)
		close(turn);
	if (n > 0)
		log_info("removed %d temporary file%s a killed run left beside " AUTOHOSTS_PATH, n,
			 n == 1 ? "" : "s");
	else if (n < 0 && n != -ENOENT)
		log_warn("looking for temporaries beside " AUTOHOSTS_PATH ": %s", strerror(-n));
}

/* One of the caller's PRIV_SLOTS slots, or a clear line and no start. */
static int slot_take(struct priv_slot *slot, uid_t uid)
{
	int ret = priv_slot_take(slot, PRIV_SLOT_DIR, uid, PRIV_SLOTS);

	if (ret == -EUSERS)
		log_err("refusing to start: %d privileged parts of uid %d are running already",
			PRIV_SLOTS, (int)uid);
	else if (ret < 0)
		log_err("taking a slot in " PRIV_SLOT_DIR ": %s", strerror(-ret));
	return ret < 0 ? ret : 0;
}

/*
 * Who is asking: the kernel recorded the uid of whoever made the socket
 * pair on stdin, so nothing the caller says counts (sudo's SUDO_UID may
 * only refuse, never grant). A channel that is not such a pair names no
 * one, and is refused.
 */
static int caller(uint32_t *uid, uint32_t *pid)
{
	struct sockaddr_un me, peer;
	socklen_t len = sizeof(int), mlen = sizeof(me), plen = sizeof(peer);
	struct ucred cr;
	int dom = 0, type = 0;
	const char *sudo_uid = getenv("SUDO_UID");

	/*
	 * Only an unnamed stream pair counts, as socketpair() makes it: on a
	 * socket connected to a listener (a root daemon's, say) SO_PEERCRED
	 * names the listener, and on any other kind it names no one.
	 */
	if (getsockopt(0, SOL_SOCKET, SO_DOMAIN, &dom, &len) < 0 ||
	    getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (dom != AF_UNIX || type != SOCK_STREAM)
		return -ENOTSOCK;
	if (getsockname(0, (struct sockaddr *)&me, &mlen) < 0 ||
	    getpeername(0, (struct sockaddr *)&peer, &plen) < 0)
		return -errno;
	if (mlen != sizeof(sa_family_t) || plen != sizeof(sa_family_t))
		return -EADDRINUSE;
	len = sizeof(cr);
	if (getsockopt(0, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (len != sizeof(cr) || cr.pid <= 0)
		return -EPROTO;
	/* Through sudo, the pair's maker must be who ran sudo. */
	if (sudo_uid && strtoul(sudo_uid, NULL, 10) != cr.uid)
		return -EPERM;
	*uid = cr.uid;
	*pid = (uint32_t)cr.pid;
	return 0;
}

/* Which network namespace this is: rules in another never meet ours. */
static uint64_t netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

int priv_main(bool all_users)
{
	struct priv_server s;
	struct priv_grant grant;
	struct real real = {0};
	struct priv_slot slot = {.fd = -1};
	uint8_t hello[PRIV_LEN_BYTES + PRIV_HELLO_LEN];
	uint32_t uid = (uint32_t)-1;
	char table[FW_TABLE_MAX];
	uint8_t *buf = NULL;
	int sfd = -1, ret, status = 1;

	log_init("privileged part", LOG_INFO);
	if (chdir("/") < 0 || (sfd = signals_setup()) < 0) {
		log_err("setting up: %s", strerror(errno));
		goto out;
	}
	ret = caller(&uid, &real.self.pid);
	if (ret < 0) {
		log_err("stdin is not the socket pair sluice made, so the caller is unknown: %s",
			ret == -EADDRINUSE ? "it is a named socket"
			: ret == -EPERM	   ? "its maker is not who ran sudo"
					   : strerror(-ret));
		goto out;
	}
	ret = priv_grant_for(&grant, uid, all_users, "/etc/resolv.conf");
	if (ret < 0) {
		log_err("reading /etc/resolv.conf: %s", strerror(-ret));
		goto out;
	}
	real.confined = grant.confined;
	real.owner.uid = grant.uid;
	real.self.part = (uint32_t)getpid();
	real.self.uid = uid;
	real.self.netns = netns_id();
	ret = limits_reset();
	if (ret < 0) {
		log_err("the resource limits it was given (ulimit) are too low to run with, and "
			"raising them failed: %s",
			strerror(-ret));
		goto out;
	}
	if (slot_take(&slot, uid) < 0)
		goto out;
	ret = confine();
	if (ret < 0) {
		log_err("dropping capabilities: %s", strerror(-ret));
		goto out;
	}
	hosts_sweep_log();
	route_sweep_log(&real);
	buf = malloc(PRIV_LEN_BYTES + PRIV_MSG_MAX);
	if (!buf) {
		log_err("out of memory");
		goto out;
	}
	snprintf(table, sizeof(table), FW_TABLE_FMT, (unsigned)getpid());
	ret = fw_open(&real.fw, table);
	if (ret < 0) {
		log_err("opening nftables: %s", fw_strerror(ret));
		goto out;
	}
	priv_server_init(&s, &real_backend, &real, &grant);
	ret = priv_put_hello(hello, sizeof(hello), (uint32_t)getpid(), uid,
			     grant.confined ? PRIV_G_CONFINED : 0);
	if (ret < 0 || fd_write_all(1, hello, (size_t)ret) < 0)
		goto out_fw;
	serve(&s, sfd, buf);
	status = 0;
	ret = priv_server_finish(&s);
	if (ret < 0) {
		log_err("removing the firewall rules failed: %s", fw_strerror(ret));
		status = 1;
	}
	/* Said already when the user's side asked to take them away itself. */
	if (s.hosts_err < 0) {
		if (!s.hosts_told)
			log_err("removing our lines from " AUTOHOSTS_PATH " failed: %s",
				strerror(-s.hosts_err));
		status = 1;
	}
out_fw:
	/* Whatever REMOVE said: no rule of ours outlives us. */
	if (unroute(&real) < 0)
		log_err(
		    "deleting our ip rules or TUN failed; the next tunnel to start removes them");
	fw_close(real.fw);
	/* Gone with the table, whatever removing it said. */
	instances_remove(INSTANCES_DIR, real.self.part);
out:
	free(buf);
	rtnl_close(real.rtnl);
	priv_slot_release(&slot, PRIV_SLOT_DIR);
	if (sfd >= 0)
		close(sfd);
	return status;
}
