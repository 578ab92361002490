/*
 * sshconf: where and how to connect, resolved the way OpenSSH would
 * (`ssh -G`), with the command line's values winning.
 */
#ifndef SLUICE_SSHCONF_H
#define SLUICE_SSHCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SSHCONF_MAX_FILES 16

#define SSHCONF_MAX_OPTIONS 64

enum sshconf_strict {
	SSHCONF_STRICT_YES = 0,
	SSHCONF_STRICT_ACCEPT_NEW,
	SSHCONF_STRICT_NO,
	SSHCONF_STRICT_ASK, /* on a terminal ask, as ssh does; elsewhere as "yes" */
};

struct sshconf {
	char *hostname; /* what to connect to (after HostName) */
	char *user;
	uint16_t port;
	char *identity[SSHCONF_MAX_FILES]; /* ~ expanded, in order */
	size_t n_identity;
	char *known_hosts[SSHCONF_MAX_FILES]; /* UserKnownHostsFile list, ~ expanded */
	size_t n_known_hosts;
	char *global_known_hosts[SSHCONF_MAX_FILES]; /* GlobalKnownHostsFile, ~ expanded */
	size_t n_global_known_hosts;
	char *hostkey_alias; /* HostKeyAlias: the name host keys are looked up and saved under */
	enum sshconf_strict strict;
	int batch;	     /* BatchMode: never ask about a host key */
	int hash_known;	     /* HashKnownHosts: a key we add goes in with its name hashed */
	int connect_timeout; /* seconds, 0 = none */
	int alive_interval;  /* ServerAliveInterval, seconds, 0 = unset */
	int alive_count;     /* ServerAliveCountMax (ssh -G always prints it: 3) */
	/*
	 * Not from ssh -G: the address the last session reached, tried on a
	 * reconnect when the name does not resolve (with --dns, the resolver
	 * is the tunnel that is down).
	 */
	struct sockaddr_storage last_peer;
	socklen_t last_peer_len;
	/*
	 * Not from ssh -G, for a further lane of a session that is up: ask
	 * nothing on the terminal, and connect to last_peer only (the address
	 * the rules exclude) when pin_peer is set.
	 */
	int no_prompt;
	int pin_peer;
	int identities_only; /* IdentitiesOnly: agent keys only when an identity file's .pub has it
			      */
	/*
	 * IdentityAgent: NULL unset (SSH_AUTH_SOCK then), "none" for no agent,
	 * else the socket's path (~ expanded) or "$VAR" / "SSH_AUTH_SOCK" as
	 * ssh takes them.
	 */
	char *identity_agent;
	char *proxyjump;    /* "[user@]host[:port][,...]", NULL when none */
	char *proxycommand; /* with %h %p %r still in it, NULL when none */
	char *config_file;  /* -F as given, so a proxy's ssh reads the same file */
	/*
	 * ControlMaster other than no, or a ControlPath: connections to this
	 * host share a master of the user's, which one of ours must not replace.
	 */
	int control;
	/* Not from ssh -G: the -e command's own -G gave all this (its -F, -o and -S count). */
	int from_cmd;
};

/* Parse the text `ssh -G` prints into c. Unknown keys are ignored. Returns 0 or -errno. */
int sshconf_parse(struct sshconf *c, const char *text);

/* What to ask ssh about; all but host may be NULL/0. */
struct sshconf_query {
	const char *host;
	const char *user;
	uint16_t port;
	const char *config;	    /* -F */
	const char *const *options; /* -o "Key=Value" or "Key Value", before the config */
	size_t n_options;	    /* at most SSHCONF_MAX_OPTIONS */
};

/*
 * Fill c for q->host: run `ssh -G [-F config] [-l user] [-p port] [-o OPT]...
 * host` when ssh is installed, else use defaults (~/.ssh/id_*,
 * ~/.ssh/known_hosts, port 22, the current user) under the -o options.
 * Bounded in time (-ETIMEDOUT, ssh killed). Returns 0 or -errno; -EINVAL
 * when ssh rejected the config or an option, with ssh's own words (escaped,
 * one line) in why when it gave any.
 */
int sshconf_resolve(struct sshconf *c, const struct sshconf_query *q, char *why, size_t whylen);

/* True when the -e command's first word is OpenSSH's ssh (by name), so it takes -G. */
bool sshconf_cmd_is_ssh(const char *cmd);

/*
 * Fill c the way the -e command cmd (split by the shell) would connect to
 * q->host: `CMD -G [-l user] [-p port] -- host`, bounded in time. Only
 * q's host, user and port are passed: the command's own -F and -o decide.
 * Returns 0, -ENOENT when cmd is not there, -ETIMEDOUT (it is killed),
 * -EINVAL when it refused, or -errno; its last line on stderr in why.
 */
int sshconf_resolve_cmd(struct sshconf *c, const char *cmd, const struct sshconf_query *q,
			char *why, size_t whylen);

void sshconf_free(struct sshconf *c);

#endif
