/*
 * opts: turns the client's argv into a struct opts, checking every value
 * and naming the bad one in a one-line message. Nothing here touches the
 * network, except resolving host names given as subnets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/errbuf.h"
#include "../common/hostname.h"
#include "../common/sockaddr.h"
#include "opts.h"
#include "ssh/sshconf.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0"
#endif
/* The commit built, "-dirty" when the tree had changes; "" outside git. */
#ifndef SLUICE_COMMIT
#define SLUICE_COMMIT ""
#endif

/* A host name subnet can expand to this many addresses at most. */
#define SUBNET_BATCH 256
/* -X FILE: a list of networks, not a place to read the whole disk from. */
#define EXCLUDE_FILE_MAX (1 << 20)

enum {
	OPT_KNOWN_HOSTS = 0x100,
	OPT_DNS,
	OPT_SEED_HOSTS,
	OPT_NS_HOSTS,
	OPT_TO_NS,
	OPT_NO_V6,
	OPT_USER,
	OPT_GROUP,
	OPT_SUDOERS,
	OPT_NO_RECONNECT,
	OPT_PIDFILE,
	OPT_SYSLOG,
	OPT_LOG_FILE,
	OPT_STATUS,
	OPT_JSON,
	OPT_RECONNECT_MAX,
	OPT_DIRECT,
	OPT_ALL_USERS,
	OPT_TCP_ONLY,
	OPT_LANES,
	OPT_INTERACTIVE,
};

static const char short_opts[] = ":r:x:X:l:F:i:o:e:vqVhNHD";

static const struct option long_opts[] = {
    {"remote", required_argument, NULL, 'r'},
    {"exclude", required_argument, NULL, 'x'},
    {"exclude-from", required_argument, NULL, 'X'},
    {"listen", required_argument, NULL, 'l'},
    {"ssh-config", required_argument, NULL, 'F'},
    {"identity", required_argument, NULL, 'i'},
    {"ssh-option", required_argument, NULL, 'o'},
    {"ssh-cmd", required_argument, NULL, 'e'},
    {"direct", no_argument, NULL, OPT_DIRECT},
    {"lanes", required_argument, NULL, OPT_LANES},
    {"interactive-ports", required_argument, NULL, OPT_INTERACTIVE},
    {"known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {"auto-nets", no_argument, NULL, 'N'},
    {"auto-hosts", no_argument, NULL, 'H'},
    {"dns", no_argument, NULL, OPT_DNS},
    {"seed-hosts", required_argument, NULL, OPT_SEED_HOSTS},
    {"ns-hosts", required_argument, NULL, OPT_NS_HOSTS},
    {"to-ns", required_argument, NULL, OPT_TO_NS},
    {"disable-ipv6", no_argument, NULL, OPT_NO_V6},
    {"user", required_argument, NULL, OPT_USER},
    {"group", required_argument, NULL, OPT_GROUP},
    {"sudoers-user", required_argument, NULL, OPT_SUDOERS},
    {"all-users", no_argument, NULL, OPT_ALL_USERS},
    {"tcp-only", no_argument, NULL, OPT_TCP_ONLY},
    {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
    {"daemon", no_argument, NULL, 'D'},
    {"pidfile", required_argument, NULL, OPT_PIDFILE},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"status", no_argument, NULL, OPT_STATUS},
    {"json", no_argument, NULL, OPT_JSON},
    {"reconnect-max", required_argument, NULL, OPT_RECONNECT_MAX},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "usage: sluice [options] -r [user@]host[:port] SUBNET...\n"
    "       sluice @FILE ...   (arguments from FILE, one per line; SLUICE_ARGS is read first)\n"
    "\n"
    "Route TCP connections to SUBNETs through an SSH connection to host.\n"
    "\n"
    "SUBNET is IP[/WIDTH][:PORT[-PORT]] or a host name (all of its addresses):\n"
    "  10.1.0.0/16  192.0.2.7  0/0  10.0.0.0/8:8000-9000\n"
    "  [2001:db8::]/64  [::]/0  [2001:db8::1]:443\n"
    "\n"
    "options:\n"
    "  -r, --remote [USER@]HOST[:PORT]\n"
    "                          SSH server to tunnel through (IPv6: [2001:db8::1]:22)\n"
    "  -x, --exclude SUBNET    do not route SUBNET (repeatable)\n"
    "  -X, --exclude-from FILE do not route the SUBNETs in FILE, one a line ('#'\n"
    "                          starts a comment; repeatable)\n"
    "  -l, --listen [IP:]PORT  where the local proxy listens (repeatable or\n"
    "                          comma separated); a bare PORT means 127.0.0.1 and\n"
    "                          ::1; default: both, on a free port\n"
    "  -F, --ssh-config FILE   ssh_config file to read instead of ~/.ssh/config\n"
    "  -i, --identity FILE     private key to try first (repeatable)\n"
    "      --known-hosts FILE  known_hosts file to check the server's key against\n"
    "  -o, --ssh-option KEY=VALUE\n"
    "                          an ssh_config option, as ssh -o takes it (repeatable;\n"
    "                          wins over the config file), e.g.\n"
    "                          -o StrictHostKeyChecking=accept-new\n"
    "  -e, --ssh-cmd CMD       reach the server with CMD instead of sluice's own SSH\n"
    "                          client: CMD [-p PORT] [-l USER] HOST COMMAND is run by\n"
    "                          /bin/sh, and CMD owns host keys and authentication\n"
    "                          (e.g. 'ssh', 'ssh -J bastion', 'ssh -o ControlPath=...')\n"
    "      --direct            with -e ssh: each connection gets an SSH channel of its\n"
    "                          own, relayed by ssh itself (uses the server's TCP\n"
    "                          forwarding; bulk throughput over latency)\n"
    "      --lanes N           carry the connections over N SSH sessions, each with\n"
    "                          a window of its own (1 to 8; default: 1 on a short\n"
    "                          path, up to 8 on a long one; with -e, 1 when its\n"
    "                          config has a ControlMaster or ControlPath)\n"
    "      --interactive-ports PORT[-PORT][,...]|none\n"
    "                          connections to these ports (where people type) stay\n"
    "                          on the first lane, the others go to further lanes\n"
    "                          (default: " OPTS_INTERACTIVE_DEFAULT ")\n"
    "  -N, --auto-nets         also route the networks the server has routes to\n"
    "  -H, --auto-hosts        put host names the server knows into /etc/hosts\n"
    "      --seed-hosts NAME[,NAME]\n"
    "                          names for -H to resolve on the server\n"
    "      --dns               answer DNS (UDP and TCP) through the server's resolver\n"
    "      --ns-hosts IP[,IP]  capture DNS to these servers (default: resolv.conf's)\n"
    "      --to-ns IP[:PORT]   resolver on the server side (default: its resolv.conf's)\n"
    "      --disable-ipv6      capture no IPv6 at all (-N and --dns skip it too)\n"
    "      --tcp-only          carry TCP (and --dns) only: no UDP or ping through the\n"
    "                          tunnel, and no TUN device\n"
    "      --user USER         capture only this user's connections (name or uid)\n"
    "      --group GROUP       capture only this group's connections (name or gid)\n"
    "      --all-users         not root: capture every user's connections, and allow\n"
    "                          router mode (needs the admin's --all-users sudo line;\n"
    "                          without it only your own connections are captured)\n"
    "  -D, --daemon            go to the background once the tunnel works (exit 0),\n"
    "                          or exit non-zero with the error if it does not\n"
    "      --pidfile FILE      write the pid there (created exclusively; removed on exit)\n"
    "      --syslog            log to syslog (daemon facility); -D implies it\n"
    "      --log-file FILE     log to FILE (appended) instead\n"
    "      --status [--json]   show the running sluice tunnels this user may see, and exit\n"
    "      --no-reconnect      exit when the SSH session drops (default: reconnect,\n"
    "                          keeping the rules, so nothing leaks meanwhile)\n"
    "      --reconnect-max SECONDS\n"
    "                          give up reconnecting after this long (default: never)\n"
    "      --sudoers-user USER|%GROUP\n"
    "                          print the sudoers line that lets USER (or each member\n"
    "                          of GROUP) start sluice's privileged part without a\n"
    "                          password, and exit (it captures the caller's own\n"
    "                          connections; with --all-users, a second line that\n"
    "                          captures everyone's)\n"
    "  -v, --verbose           more output (repeatable)\n"
    "  -q, --quiet             errors only\n"
    "  -V, --version           print the version and exit\n"
    "  -h, --help              print this help and exit\n";

/*
 * n bytes of decimal digits, nothing else (strtoul would take blanks, '+'
 * and '-'), at most max. 0 or -1.
 */
static int parse_digits(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_port(const char *s, size_t n, int allow_zero, uint16_t *port)
{
	uint32_t v;

	if (parse_digits(s, n, 65535, &v) < 0 || (v == 0 && !allow_zero))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int opts_parse_ports(const char *arg, struct opts_ports *r, size_t max, size_t *n)
{
	struct opts_ports got[OPTS_MAX_PORTS];
	const char *p = arg;
	size_t k = 0;

	if (max > OPTS_MAX_PORTS)
		max = OPTS_MAX_PORTS;
	if (!strcmp(arg, "none")) {
		*n = 0;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		if (k == max || subnet_parse_port_range(p, len, &got[k].lo, &got[k].hi) < 0)
			return -EINVAL;
		k++;
		if (!p[len])
			break;
		p += len + 1;
	}
	memcpy(r, got, k * sizeof(got[0]));
	*n = k;
	return 0;
}

void opts_format_ports(const struct opts_ports *r, size_t n, char *buf, size_t len)
{
	size_t i, at = 0;
	int w;

	if (!len)
		return;
	buf[0] = '\0';
	if (!n)
		snprintf(buf, len, "none");
	for (i = 0; i < n && at < len; i++) {
		if (r[i].lo == r[i].hi)
			w = snprintf(buf + at, len - at, "%s%u", i ? "," : "", r[i].lo);
		else
			w = snprintf(buf + at, len - at, "%s%u-%u", i ? "," : "", r[i].lo, r[i].hi);
		if (w < 0)
			return;
		at += (size_t)w;
	}
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* [user@]host[:port]; an IPv6 host needs brackets to carry a port. */
static int parse_remote(struct opts *o, const char *arg, char *err, size_t errlen)
{
	const char *at = strrchr(arg, '@'), *host = at ? at + 1 : arg, *end, *colon;
	size_t host_len;

	if (o->remote_host)
		return errbuf_set(err, errlen, -EINVAL, "-r given twice");
	if (at == arg)
		return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': empty user name", arg);

	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end)
			return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': missing ']'",
					  arg);
		host++;
		host_len = (size_t)(end - host);
		end++;
		if (*end && *end != ':')
			return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': unexpected '%s'",
					  arg, end);
	} else {
		colon = strchr(host, ':');
		/* Two colons or more: a bare IPv6 address, which cannot carry a port. */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		host_len = colon ? (size_t)(colon - host) : strlen(host);
		end = host + host_len;
	}
	if (host_len == 0)
		return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': empty host", arg);
	if (memchr(host, ' ', host_len) || memchr(host, '\t', host_len))
		return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': spaces in host", arg);
	/* The host and user become words of an ssh command line (-e, ssh -G): never options. */
	if (host[0] == '-' || arg[0] == '-')
		return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': starts with '-'", arg);
	if (*end == ':' && parse_port(end + 1, strlen(end + 1), 0, &o->remote_port) < 0)
		return errbuf_set(err, errlen, -EINVAL, "bad remote '%s': port must be 1-65535",
				  arg);

	o->remote_host = dup_n(host, host_len);
	if (at)
		o->remote_user = dup_n(arg, (size_t)(at - arg));
	if (!o->remote_host || (at && !o->remote_user))
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

/* --user/--group: a name from the password or group file, or a number. */
static int parse_owner(struct opts *o, bool user, const char *arg, char *err, size_t errlen)
{
	uint32_t v;

	/* (uid_t)-1 means "no change" to the kernel: never a real owner. */
	if (parse_digits(arg, strlen(arg), UINT32_MAX - 1, &v) < 0) {
		struct passwd *pw = user ? getpwnam(arg) : NULL;
		struct group *gr = user ? NULL : getgrnam(arg);

		if (user ? !pw : !gr)
			return errbuf_set(err, errlen, -EINVAL, "no such %s '%s'",
					  user ? "user" : "group", arg);
		v = user ? pw->pw_uid : gr->gr_gid;
	}
	if (user) {
		o->by_uid = true;
		o->uid = (uint32_t)v;
	} else {
		o->by_gid = true;
		o->gid = (uint32_t)v;
	}
	return 0;
}

static int add_subnets(struct subnet **list, size_t *n, const char *arg, const char *what,
		       char *err, size_t errlen)
{
	struct subnet tmp[SUBNET_BATCH], *grown;
	char why[128];
	int got;

	got = subnet_parse_err(arg, tmp, SUBNET_BATCH, why, sizeof(why));
	if (got < 0)
		return errbuf_set(err, errlen, got, "bad %s '%s': %s", what, arg, why);
	if ((size_t)got > OPTS_MAX_SUBNETS - *n)
		return errbuf_set(err, errlen, -ENOSPC, "too many subnets (at most %d)",
				  OPTS_MAX_SUBNETS);
	grown = realloc(*list, (*n + (size_t)got) * sizeof(**list));
	if (!grown)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	memcpy(grown + *n, tmp, (size_t)got * sizeof(*tmp));
	*list = grown;
	*n += (size_t)got;
	return 0;
}

/*
 * -X FILE: each line as one -x, so a list kept for sshuttle works here. A
 * subnet never holds '#', so a comment may also end a line. The error
 * names the file and line, since the subnet alone may not say where it is.
 */
static int add_exclude_file(struct opts *o, const char *path, char *err, size_t errlen)
{
	char *line = NULL, *text, *end, why[256];
	size_t cap = 0, lineno = 0;
	struct stat st;
	ssize_t n;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f)
		return errbuf_set(err, errlen, -errno, "-X %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)EXCLUDE_FILE_MAX) {
		ret = errbuf_set(err, errlen, -EINVAL, "-X %s: not a regular file of at most 1 MiB",
				 path);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)n)) {
			ret =
			    errbuf_set(err, errlen, -EINVAL, "-X %s:%zu: a NUL byte", path, lineno);
			goto out;
		}
		end = strchr(line, '#');
		if (!end)
			end = line + n;
		*end = '\0';
		for (text = line; *text == ' ' || *text == '\t'; text++)
			;
		while (end > text && strchr(" \t\r\n", end[-1]))
			*--end = '\0';
		if (!*text)
			continue;
		ret = add_subnets(&o->exclude, &o->n_exclude, text, "subnet", why, sizeof(why));
		if (ret < 0) {
			ret = errbuf_set(err, errlen, ret, "-X %s:%zu: %s", path, lineno, why);
			goto out;
		}
	}
	if (ferror(f))
		ret = errbuf_set(err, errlen, -EIO, "-X %s: read error", path);
out:
	free(line);
	fclose(f);
	return ret;
}

static int add_listen(struct opts *o, int family, const void *addr, uint16_t port, char *err,
		      size_t errlen)
{
	struct sockaddr_storage *ss;

	if (o->n_listen == OPTS_MAX_LISTEN)
		return errbuf_set(err, errlen, -ENOSPC, "too many listen addresses (at most %d)",
				  OPTS_MAX_LISTEN);
	ss = &o->listen[o->n_listen++];
	sa_make(ss, family, addr, port);
	return 0;
}

/* One [IP:]PORT item of a -l list; IPv6 addresses need brackets. */
static int parse_listen_one(struct opts *o, const char *item, size_t len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *orig = item, *port_s = NULL, *end = item + len;
	size_t host_len, port_len = 0;
	unsigned char addr[16];
	uint16_t port = 0;
	int family = AF_INET, ret;

	if (len == 0)
		return errbuf_set(err, errlen, -EINVAL, "bad listen address '': empty");
	if (item[0] == '[') {
		const char *close = memchr(item, ']', len);

		if (!close)
			return errbuf_set(err, errlen, -EINVAL,
					  "bad listen address '%.*s': missing ']'", (int)len, item);
		family = AF_INET6;
		item++;
		host_len = (size_t)(close - item);
		if (close + 1 < end && close[1] != ':')
			return errbuf_set(err, errlen, -EINVAL,
					  "bad listen address '%.*s': unexpected text after ']'",
					  (int)len, orig);
		if (close + 1 < end) {
			port_s = close + 2;
			port_len = (size_t)(end - port_s);
		}
	} else {
		const char *colon = memchr(item, ':', len);

		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return errbuf_set(
			    err, errlen, -EINVAL,
			    "bad listen address '%.*s': put IPv6 addresses in brackets", (int)len,
			    item);
		if (colon) {
			host_len = (size_t)(colon - item);
			port_s = colon + 1;
			port_len = (size_t)(end - port_s);
		} else if (strspn(item, "0123456789") >= len) {
			host_len = 0;
			port_s = item;
			port_len = len;
		} else {
			host_len = len;
		}
	}

	if (port_s && parse_port(port_s, port_len, 1, &port) < 0)
		return errbuf_set(err, errlen, -EINVAL,
				  "bad listen address '%.*s': port must be 0-65535", (int)len,
				  orig);

	if (host_len == 0 && family == AF_INET) {
		/* A bare port: loopback of both families, as the default is. */
		struct in_addr lo4 = {htonl(INADDR_LOOPBACK)};

		ret = add_listen(o, AF_INET, &lo4, port, err, errlen);
		if (ret < 0)
			return ret;
		return add_listen(o, AF_INET6, &in6addr_loopback, port, err, errlen);
	}
	if (host_len >= sizeof(host))
		goto bad_ip;
	memcpy(host, item, host_len);
	host[host_len] = '\0';
	if (inet_pton(family, host, addr) != 1)
		goto bad_ip;
	return add_listen(o, family, addr, port, err, errlen);

bad_ip:
	return errbuf_set(err, errlen, -EINVAL, "bad listen address '%.*s': not an %s address",
			  (int)len, orig, family == AF_INET ? "IPv4" : "IPv6");
}

static int parse_listen(struct opts *o, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;
	int ret;

	for (;;) {
		size_t len = strcspn(p, ",");

		ret = parse_listen_one(o, p, len, err, errlen);
		if (ret < 0)
			return ret;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* A literal address with an optional port (IPv6 in brackets), as for --to-ns and --ns-hosts. */
static int parse_addr_port(const char *arg, size_t len, const char *what, struct subnet *out,
			   char *err, size_t errlen)
{
	char buf[SUBNET_STRLEN], *host = buf, *port = NULL, *c;

	if (len == 0 || len >= sizeof(buf))
		goto bad;
	memcpy(buf, arg, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		c = strchr(buf, ']');
		if (!c || (c[1] && c[1] != ':'))
			goto bad;
		*c = '\0';
		host = buf + 1;
		port = c[1] ? c + 2 : NULL;
	} else if ((c = strchr(buf, ':')) && !strchr(c + 1, ':')) {
		*c = '\0';
		port = c + 1;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET, out->prefix = 32;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6, out->prefix = 128;
	else
		goto bad;
	out->port_lo = 53;
	if (port && parse_port(port, strlen(port), 0, &out->port_lo) < 0)
		goto bad;
	out->port_hi = out->port_lo;
	return 0;
bad:
	return errbuf_set(err, errlen, -EINVAL, "bad %s '%.*s': want IP[:PORT], IPv6 in brackets",
			  what, (int)len, arg);
}

static int parse_ns_hosts(struct opts *o, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;
	int ret;

	for (;;) {
		size_t len = strcspn(p, ",");
		if (o->n_ns_hosts == OPTS_MAX_NS)
			return errbuf_set(err, errlen, -ENOSPC, "too many --ns-hosts (at most %d)",
					  OPTS_MAX_NS);
		ret =
		    parse_addr_port(p, len, "nameserver", &o->ns_hosts[o->n_ns_hosts], err, errlen);
		if (ret < 0)
			return ret;
		o->n_ns_hosts++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int parse_seeds(struct opts *o, const char *arg, char *err, size_t errlen)
{
	char *p, *save = NULL;

	free(o->seed_buf);
	o->seed_buf = strdup(arg);
	o->n_seed_hosts = 0;
	if (!o->seed_buf)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	for (p = strtok_r(o->seed_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (o->n_seed_hosts == OPTS_MAX_SEEDS)
			return errbuf_set(err, errlen, -ENOSPC,
					  "too many --seed-hosts (at most %d)", OPTS_MAX_SEEDS);
		char nm[HOSTNAME_MAX + 1];

		if (strlen(p) > 253 ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789.-_") != strlen(p))
			return errbuf_set(err, errlen, -EINVAL, "bad seed host '%s'", p);
		/* The remote's line for it could only hide this end's own: never written. */
		if (hostname_norm(p, strlen(p), nm, sizeof(nm)) == 0 && hostname_local(nm))
			return errbuf_set(
			    err, errlen, -EINVAL,
			    "bad seed host '%s': the name means this machine wherever "
			    "it is looked up",
			    p);
		o->seed_hosts[o->n_seed_hosts++] = p;
	}
	return 0;
}

/*
 * -o "Key=Value", "Key Value" or "Key = Value": a keyword of letters and
 * digits, then a value. Whether ssh knows the keyword, ssh -G says later.
 */
static int add_ssh_opt(struct opts *o, const char *arg, char *err, size_t errlen)
{
	size_t klen = strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	const char *v = arg + klen + strspn(arg + klen, " \t");

	if (*v == '=')
		v++;
	v += strspn(v, " \t");
	if (o->n_ssh_opt == OPTS_MAX_SSH_OPT)
		return errbuf_set(err, errlen, -ENOSPC, "too many -o (at most %d)",
				  OPTS_MAX_SSH_OPT);
	if (klen == 0 || v == arg + klen || !*v)
		return errbuf_set(err, errlen, -EINVAL, "bad -o '%s': want KEY=VALUE", arg);
	for (const char *p = arg; *p; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return errbuf_set(err, errlen, -EINVAL,
					  "bad -o: control characters in '%.*s'", (int)klen, arg);
	o->ssh_opt[o->n_ssh_opt++] = arg;
	return 0;
}

/*
 * getopt's complaint, in our words. A long option always advances optind
 * past itself; a short one inside a cluster ("-vz") may not, so only a
 * "--" element is trusted to be the culprit.
 */
static int bad_option(int c, char **argv, char *err, size_t errlen)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int is_long = !strncmp(arg, "--", 2), name_len = (int)strcspn(arg, "=");

	if (c == ':') {
		if (is_long)
			return errbuf_set(err, errlen, -EINVAL, "option '%.*s' needs a value",
					  name_len, arg);
		return errbuf_set(err, errlen, -EINVAL, "option '-%c' needs a value", optopt);
	}
	if (optopt == 0 && is_long)
		return errbuf_set(err, errlen, -EINVAL, "unknown option '%.*s'", name_len, arg);
	if (is_long && (optopt >= 0x100 || strchr(short_opts + 1, optopt)))
		return errbuf_set(err, errlen, -EINVAL, "option '%.*s' takes no value", name_len,
				  arg);
	if (optopt > ' ' && optopt < 0x7f)
		return errbuf_set(err, errlen, -EINVAL, "unknown option '-%c'", optopt);
	return errbuf_set(err, errlen, -EINVAL, "unknown option '%s'", arg);
}

void opts_free(struct opts *o)
{
	free(o->remote_user);
	free(o->remote_host);
	free(o->include);
	free(o->exclude);
	free(o->seed_buf);
	memset(o, 0, sizeof(*o));
}

static int parse(struct opts *o, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	bool interactive_given = false;
	int c, ret;

	/* 0, not 1: glibc then also forgets the state of a previous, unfinished parse. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ret = parse_remote(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case 'x':
			ret =
			    add_subnets(&o->exclude, &o->n_exclude, optarg, "exclude", err, errlen);
			if (ret < 0)
				return ret;
			break;
		case 'X':
			ret = add_exclude_file(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case 'l':
			ret = parse_listen(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case 'F':
			o->ssh_config = optarg;
			break;
		case 'i':
			if (o->n_identity == OPTS_MAX_IDENT)
				return errbuf_set(err, errlen, -ENOSPC, "too many -i (at most %d)",
						  OPTS_MAX_IDENT);
			o->identity[o->n_identity++] = optarg;
			break;
		case OPT_KNOWN_HOSTS:
			o->known_hosts = optarg;
			break;
		case 'o':
			ret = add_ssh_opt(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case 'e':
			if (!*optarg)
				return errbuf_set(err, errlen, -EINVAL, "-e needs a command");
			o->ssh_cmd = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'N':
			o->auto_nets = true;
			break;
		case 'H':
			o->auto_hosts = true;
			break;
		case OPT_DNS:
			o->dns = true;
			break;
		case OPT_SEED_HOSTS:
			ret = parse_seeds(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case OPT_NS_HOSTS:
			ret = parse_ns_hosts(o, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_NO_V6:
			o->no_ipv6 = true;
			break;
		case OPT_USER:
		case OPT_GROUP:
			ret = parse_owner(o, c == OPT_USER, optarg, err, errlen);
			if (ret < 0)
				return ret;
			break;
		case OPT_ALL_USERS:
			o->all_users = true;
			break;
		case OPT_TCP_ONLY:
			o->tcp_only = true;
			break;
		case OPT_SUDOERS:
			o->sudoers_user = optarg;
			break;
		case OPT_NO_RECONNECT:
			o->no_reconnect = true;
			break;
		case 'D':
			o->daemon = true;
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case OPT_LOG_FILE:
			o->log_file = optarg;
			break;
		case OPT_STATUS:
			o->status = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LANES: {
			uint32_t v;
			if (parse_digits(optarg, strlen(optarg), OPTS_MAX_LANES, &v) < 0 || v == 0)
				return errbuf_set(
				    err, errlen, -EINVAL,
				    "--lanes: '%s' is not a number of lanes (1 to %d)", optarg,
				    OPTS_MAX_LANES);
			o->lanes = v;
			break;
		}
		case OPT_INTERACTIVE:
			if (opts_parse_ports(optarg, o->interactive, OPTS_MAX_PORTS,
					     &o->n_interactive) < 0)
				return errbuf_set(
				    err, errlen, -EINVAL,
				    "--interactive-ports: '%s' is not 'none' or a list "
				    "of ports and ranges (PORT[-PORT], 1 to 65535, at most "
				    "%d, comma separated)",
				    optarg, OPTS_MAX_PORTS);
			interactive_given = true;
			break;
		case OPT_RECONNECT_MAX: {
			uint32_t v;
			if (parse_digits(optarg, strlen(optarg), 30u * 24 * 3600, &v) < 0 || v == 0)
				return errbuf_set(
				    err, errlen, -EINVAL,
				    "--reconnect-max: '%s' is not a number of seconds "
				    "(1 to 2592000)",
				    optarg);
			o->reconnect_max = v;
			break;
		}
		case OPT_TO_NS:
			ret = parse_addr_port(optarg, strlen(optarg), "--to-ns", &o->to_ns, err,
					      errlen);
			if (ret < 0)
				return ret;
			o->has_to_ns = true;
			break;
		case 'V':
			fprintf(out, "sluice %s%s%s%s\n", SLUICE_VERSION,
				*SLUICE_COMMIT ? " (git " : "", SLUICE_COMMIT,
				*SLUICE_COMMIT ? ")" : "");
			return OPTS_EXIT_OK;
		case 'h':
			fputs(usage_text, out);
			return OPTS_EXIT_OK;
		default:
			return bad_option(c, argv, err, errlen);
		}
	}

	for (; optind < argc; optind++) {
		const char *arg = argv[optind];
		size_t before = o->n_include, i, k;

		ret = add_subnets(&o->include, &o->n_include, arg, "subnet", err, errlen);
		if (ret < 0)
			return ret;
		/*
		 * --disable-ipv6: a name's IPv6 addresses are dropped; an IPv6
		 * literal (brackets, or two colons: a name never has them) is an
		 * error below.
		 */
		if (o->no_ipv6 && arg[0] != '[' && strchr(arg, ':') == strrchr(arg, ':')) {
			for (i = k = before; i < o->n_include; i++)
				if (o->include[i].family != AF_INET6)
					o->include[k++] = o->include[i];
			o->n_include = k;
			if (k == before)
				return errbuf_set(
				    err, errlen, -EINVAL,
				    "subnet '%s' has only IPv6 addresses, and IPv6 is "
				    "disabled",
				    arg);
		}
	}
	if (o->json && !o->status)
		return errbuf_set(err, errlen, -EINVAL, "--json goes with --status");
	if (o->sudoers_user || o->status)
		return OPTS_RUN; /* nothing else is used */
	if (o->syslog && o->log_file)
		return errbuf_set(err, errlen, -EINVAL,
				  "--syslog and --log-file exclude each other");
	if (!o->remote_host)
		return errbuf_set(err, errlen, -EINVAL, "-r is required");
	if (o->ssh_cmd && (o->n_identity || o->known_hosts))
		return errbuf_set(err, errlen, -EINVAL,
				  "-i and --known-hosts do not apply with -e: the command "
				  "chooses keys and checks host keys itself");
	if (o->ssh_cmd && o->n_ssh_opt)
		return errbuf_set(err, errlen, -EINVAL,
				  "-o does not apply with -e: give it to the command "
				  "(e.g. -e 'ssh -o %s')",
				  o->ssh_opt[0]);
	if (o->direct && !o->ssh_cmd)
		return errbuf_set(err, errlen, -EINVAL,
				  "--direct needs -e: OpenSSH's ssh relays the connections");
	if (o->ssh_cmd && o->lanes > 1 && !sshconf_cmd_is_ssh(o->ssh_cmd))
		return errbuf_set(err, errlen, -EINVAL,
				  "--lanes with -e needs OpenSSH's ssh: further lanes go through "
				  "its ControlMaster");
	if (o->direct && o->lanes > 1)
		return errbuf_set(err, errlen, -EINVAL,
				  "--lanes does not apply with --direct: each connection has an "
				  "SSH channel of its own there");
	if (interactive_given && o->ssh_cmd && !sshconf_cmd_is_ssh(o->ssh_cmd))
		return errbuf_set(
		    err, errlen, -EINVAL,
		    "--interactive-ports with -e needs OpenSSH's ssh: further lanes go "
		    "through its ControlMaster");
	if (interactive_given && (o->direct || o->lanes))
		return errbuf_set(err, errlen, -EINVAL,
				  "--interactive-ports does not apply with %s",
				  o->direct ? "--direct: each connection has an SSH channel of its "
					      "own there"
					    : "--lanes: every lane then takes any connection");
	if (!o->n_include && !o->auto_nets)
		return errbuf_set(err, errlen, -EINVAL, "no subnets given (and no -N)");
	if (o->no_ipv6) {
		char s[SUBNET_STRLEN] = "?";
		size_t i;

		for (i = 0; i < o->n_include && o->include[i].family != AF_INET6; i++)
			;
		if (i < o->n_include) {
			subnet_format(&o->include[i], s, sizeof(s));
			return errbuf_set(err, errlen, -EINVAL,
					  "IPv6 subnet %s given with --disable-ipv6", s);
		}
		for (i = 0; i < o->n_ns_hosts; i++)
			if (o->ns_hosts[i].family == AF_INET6)
				return errbuf_set(err, errlen, -EINVAL,
						  "an IPv6 --ns-hosts given with --disable-ipv6");
	}
	return OPTS_RUN;
}

int opts_parse(struct opts *o, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
	int ret;

	memset(o, 0, sizeof(*o));
	if (err && errlen)
		err[0] = '\0';
	ret = opts_parse_ports(OPTS_INTERACTIVE_DEFAULT, o->interactive, OPTS_MAX_PORTS,
			       &o->n_interactive);
	if (ret < 0)
		return ret;
	ret = parse(o, argc, argv, out, err, errlen);
	/* Nothing to run: leave nothing for the caller to free. */
	if (ret != OPTS_RUN)
		opts_free(o);
	return ret;
}
