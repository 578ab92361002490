/*
 * opts: the client's command line, parsed and validated before anything on
 * the machine or the network is touched.
 */
#ifndef SLUICE_OPTS_H
#define SLUICE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "../common/subnet.h"

#define OPTS_MAX_SUBNETS 4096
#define OPTS_MAX_LISTEN	 4
#define OPTS_MAX_IDENT	 16
#define OPTS_MAX_NS	 8
#define OPTS_MAX_SEEDS	 64
#define OPTS_MAX_SSH_OPT 64 /* SSHCONF_MAX_OPTIONS */
#define OPTS_MAX_LANES	 8  /* SESSION_LANES_MAX less one */
#define OPTS_MAX_PORTS	 16 /* ranges in --interactive-ports */

/* Where people type by default: ssh, telnet, RDP, and VNC's displays :0 to :9. */
#define OPTS_INTERACTIVE_DEFAULT "22,23,3389,5900-5909"

/* The longest text opts_format_ports makes: OPTS_MAX_PORTS of ",65535-65535", and a NUL. */
#define OPTS_PORTS_TEXT (OPTS_MAX_PORTS * 12)

/* A range of TCP ports, both ends in, host byte order. */
struct opts_ports {
	uint16_t lo, hi;
};

struct opts {
	/* -r [user@]host[:port]; IPv6 literal hosts in brackets. */
	char *remote_user;    /* NULL when not given */
	char *remote_host;    /* NULL when -r is missing */
	uint16_t remote_port; /* 0 when not given */

	struct subnet *include; /* routed networks, positional args */
	size_t n_include;
	struct subnet *exclude; /* -x/--exclude and -X/--exclude-from, repeatable */
	size_t n_exclude;

	/* -l/--listen [IP:]PORT, repeatable or comma separated. Empty: 127.0.0.1 and ::1 on an
	 * automatically chosen port. A bare PORT means 127.0.0.1 and ::1 on that port. */
	struct sockaddr_storage listen[OPTS_MAX_LISTEN];
	size_t n_listen;

	const char *ssh_config;		      /* -F */
	const char *identity[OPTS_MAX_IDENT]; /* -i, repeatable, in order */
	size_t n_identity;
	const char *known_hosts;	       /* --known-hosts FILE */
	const char *ssh_opt[OPTS_MAX_SSH_OPT]; /* -o "Key=Value" or "Key Value", in order */
	size_t n_ssh_opt;
	const char *ssh_cmd; /* -e/--ssh-cmd CMD: the command transport instead of libssh2 */
	bool direct; /* --direct: each connection in its own channel of -e's ssh, which relays it */
	unsigned lanes; /* --lanes N: SSH sessions that carry the streams; 0: the path decides */
	/* --interactive-ports LIST: kept on lane 0 when the lanes split (client/link/lanes.h) */
	struct opts_ports interactive[OPTS_MAX_PORTS];
	size_t n_interactive; /* 0: none */

	int verbose;		  /* count of -v */
	bool quiet;		  /* -q */
	const char *sudoers_user; /* --sudoers-user USER|%GROUP: print the line, exit */
	bool no_reconnect;	  /* --no-reconnect: exit when the session drops */
	bool daemon;		  /* -D: background once the tunnel works */
	const char *pidfile;	  /* --pidfile FILE */
	bool syslog;		  /* --syslog (implied by -D without --log-file) */
	const char *log_file;	  /* --log-file FILE */
	bool status, json;	  /* --status [--json]: ask the running ones and exit */
	unsigned reconnect_max;	  /* --reconnect-max SECONDS: give up after; 0 = never */

	bool auto_nets;	     /* -N: route the remote's networks */
	bool auto_hosts;     /* -H: put the remote's host names in /etc/hosts */
	bool dns;	     /* --dns: answer local DNS through the remote's resolver */
	bool no_ipv6;	     /* --disable-ipv6: capture no IPv6 (and -N, --dns skip it) */
	bool by_uid, by_gid; /* --user/--group: capture only sockets of this owner */
	bool all_users;	     /* --all-users: the privileged part's wider entry point */
	bool tcp_only;	     /* --tcp-only: no TUN, so no UDP or ping */
	uint32_t uid, gid;
	char *seed_buf; /* --seed-hosts NAME[,NAME]: names for hostwatch to resolve */
	const char *seed_hosts[OPTS_MAX_SEEDS];
	size_t n_seed_hosts;
	struct subnet
	    ns_hosts[OPTS_MAX_NS]; /* --ns-hosts IP[,IP]: capture these, not resolv.conf's */
	size_t n_ns_hosts;
	struct subnet to_ns; /* --to-ns IP[:PORT]: the remote resolver to use */
	bool has_to_ns;
};

enum opts_result { OPTS_RUN = 0, OPTS_EXIT_OK = 1 };

/*
 * Parse argv. Returns OPTS_RUN, OPTS_EXIT_OK (after writing --help or
 * --version text to out), or a negative errno with a one-line message that
 * names the bad value in err.
 */
int opts_parse(struct opts *o, int argc, char **argv, FILE *out, char *err, size_t errlen);
void opts_free(struct opts *o);

/*
 * A list of TCP ports, "none" or PORT[-PORT] comma separated (ports 1 to
 * 65535, low end first), into at most max ranges. 0, or -EINVAL with r
 * and *n untouched.
 */
int opts_parse_ports(const char *arg, struct opts_ports *r, size_t max, size_t *n);
/* r's n ranges in the form opts_parse_ports reads back ("none" for none); len OPTS_PORTS_TEXT holds
 * any. */
void opts_format_ports(const struct opts_ports *r, size_t n, char *buf, size_t len);

#endif
