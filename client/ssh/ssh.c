/*
 * ssh: the blocking phase of the SSH session, in order: TCP connect with a
 * timeout, algorithm preferences (host key types pinned to known_hosts),
 * handshake, host key verdict, authentication. Each step that fails says
 * which one in a single line for the user.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "hostkey.h"
#include "knownpat.h"
#include "ssh.h"

#define DEFAULT_CONNECT_SEC 15
#define BLOCKING_TIMEOUT_MS 30000 /* a silent server must not hang us for good */
#define DISCONNECT_WAIT_MS  2000

/* Fastest first on AES-NI hardware; libssh2 1.10 has only the -ctr ones. */
static const char crypt_pref[] = "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,"
				 "aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";
static const char mac_pref[] = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
			       "hmac-sha2-256,hmac-sha2-512,hmac-sha1-etm@openssh.com,hmac-sha1";

/* OpenSSH's default order, so a first connection shows the key `ssh HOST` would. */
static const char hostkey_pref[] = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
				   "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa";

static const char *const global_known_hosts[] = {"/etc/ssh/ssh_known_hosts",
						 "/etc/ssh/ssh_known_hosts2"};

static int ssh_lib_init(void)
{
	static bool done;

	if (!done) {
		if (libssh2_init(0) != 0)
			return -ENOMEM;
		done = true;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void addr_text(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
	if (getnameinfo(sa, len, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(out, outlen, "?");
}

/* Wait for a non-blocking connect; timeout_ms < 0 waits as long as the kernel does. */
static int connect_wait(int fd, int timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int soerr = 0;

	for (;;) {
		int wait = -1, r;

		if (timeout_ms >= 0) {
			long long left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			wait = (int)left;
		}
		r = poll(&p, 1, wait);
		if (r > 0)
			break;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return soerr ? -soerr : 0;
}

/* One address: connected and blocking in c->fd (0), or -errno. */
static int try_addr(struct ssh_conn *c, const struct sshconf *cfg, const struct progress *pg,
		    const struct sockaddr *sa, socklen_t salen, char *addr, size_t addrlen)
{
	char port[8];
	int fd, r, one = 1;

	snprintf(port, sizeof(port), "%u", (unsigned)(cfg->port ? cfg->port : 22));
	addr_text(sa, salen, addr, addrlen);
	if (strcmp(addr, cfg->hostname))
		progress_say(pg, "connecting to %s (%s) port %s", cfg->hostname, addr, port);
	else
		progress_say(pg, "connecting to %s port %s", addr, port);
	if (salen > sizeof(c->peer))
		return -EAFNOSUPPORT;
	if (pg && pg->connecting && (r = pg->connecting(pg->arg, sa, salen)) < 0)
		return r;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, sa, salen) == 0 ? 0 : -errno;
	/* Unset, ConnectTimeout is not the kernel's two minutes: a reconnect must not hang. */
	if (r == -EINPROGRESS)
		r = connect_wait(
		    fd,
		    (cfg->connect_timeout > 0 ? cfg->connect_timeout : DEFAULT_CONNECT_SEC) * 1000);
	if (r == 0) {
		/* Blocking from here: libssh2 manages the flag itself from now on. */
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
			r = -errno;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	/* Small mux frames must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memcpy(&c->peer, sa, salen);
	c->peer_len = salen;
	c->fd = fd;
	return 0;
}

/* ai is where the last session went (cfg->last_peer). */
static bool same_addr(const struct addrinfo *ai, const struct sshconf *cfg)
{
	return cfg->last_peer_len && ai->ai_addrlen == cfg->last_peer_len &&
	       !memcmp(ai->ai_addr, &cfg->last_peer, ai->ai_addrlen);
}

/*
 * The name's addresses but the one taken: a reconnect may take any of them
 * (that one refused, or the network changed, v4 to v6), and the rules, made
 * once, must already keep each out of the tunnel, or a routed 0/0 would
 * capture the very connection that is to carry it.
 */
static void note_alternates(struct ssh_conn *c, const struct addrinfo *res,
			    const struct addrinfo *used)
{
	const struct addrinfo *ai;

	c->n_alt = 0;
	for (ai = res; ai && c->n_alt < SSH_ALT_MAX; ai = ai->ai_next)
		if (ai != used && ai->ai_addrlen <= sizeof(c->alt[0]) &&
		    (ai->ai_addrlen != used->ai_addrlen ||
		     memcmp(ai->ai_addr, used->ai_addr, ai->ai_addrlen)))
			memcpy(&c->alt[c->n_alt++], ai->ai_addr, ai->ai_addrlen);
}

static int tcp_connect(struct ssh_conn *c, const struct sshconf *cfg, const struct progress *pg,
		       enum ssh_fail *fail, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	char port[8], addr[NI_MAXHOST] = "";
	int r, pass, last = -EHOSTUNREACH;

	snprintf(port, sizeof(port), "%u", (unsigned)(cfg->port ? cfg->port : 22));
	if (cfg->pin_peer && cfg->last_peer_len) {
		r = try_addr(c, cfg, pg, (const struct sockaddr *)&cfg->last_peer,
			     cfg->last_peer_len, addr, sizeof(addr));
		if (r < 0) {
			*fail = SSH_FAIL_CONNECT;
			snprintf(err, errlen, "cannot connect to %s port %s: %s", addr, port,
				 strerror(-r));
		}
		return r;
	}
	r = getaddrinfo(cfg->hostname, port, &hints, &res);
	/*
	 * The name does not resolve now (the network is half up, or with
	 * --dns the resolver is the tunnel that is down): where the last
	 * session went. Only then: a name that resolves is the truth.
	 */
	if (r != 0 && cfg->last_peer_len &&
	    try_addr(c, cfg, pg, (const struct sockaddr *)&cfg->last_peer, cfg->last_peer_len, addr,
		     sizeof(addr)) == 0)
		return 0;
	if (r != 0) {
		*fail = SSH_FAIL_RESOLVE;
		snprintf(err, errlen, "cannot resolve %s: %s", cfg->hostname,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -ENOENT;
	}
	/*
	 * The address the last session reached first, when the name still
	 * has it: the server with our helper cached, and no flapping between
	 * addresses from one reconnect to the next.
	 */
	for (pass = 0; pass < 2; pass++)
		for (ai = res; ai; ai = ai->ai_next) {
			if (same_addr(ai, cfg) != (pass == 0))
				continue;
			r = try_addr(c, cfg, pg, ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr));
			if (r == 0) {
				note_alternates(c, res, ai);
				freeaddrinfo(res);
				return 0;
			}
			last = r;
		}
	freeaddrinfo(res);
	*fail = SSH_FAIL_CONNECT;
	snprintf(err, errlen, "cannot connect to %s port %u: %s", *addr ? addr : cfg->hostname,
		 (unsigned)(cfg->port ? cfg->port : 22), strerror(-last));
	return last;
}

static int supported(LIBSSH2_SESSION *s, int method, const char ***algs)
{
	int n = libssh2_session_supported_algs(s, method, algs);

	if (n <= 0)
		*algs = NULL;
	return n > 0 ? n : 0;
}

/* Set wanted as the preference for method, minus what this libssh2 lacks (it rejects those). */
static void prefer(LIBSSH2_SESSION *s, int method, const char *wanted)
{
	const char **algs;
	int n = supported(s, method, &algs);
	char list[512];
	size_t o = 0;

	list[0] = '\0';
	for (const char *m = wanted; *m;) {
		size_t mlen = strcspn(m, ",");

		for (int i = 0; i < n; i++) {
			if (strlen(algs[i]) != mlen || memcmp(algs[i], m, mlen))
				continue;
			if (o + 1 + mlen + 1 <= sizeof(list)) {
				if (o)
					list[o++] = ',';
				memcpy(list + o, m, mlen);
				o += mlen;
				list[o] = '\0';
			}
			break;
		}
		m += mlen;
		if (*m == ',')
			m++;
	}
	if (o)
		libssh2_session_method_pref(s, method, list);
	if (algs)
		libssh2_free(s, algs);
}

static const char *last_error(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	libssh2_session_last_error(s, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown error";
}

/*
 * Say goodbye only after a completed handshake: before it libssh2 has not
 * been given the socket and would write the message to fd 0.
 */
static void teardown(struct ssh_conn *c, bool handshaken, int reason, const char *why)
{
	if (c->session) {
		libssh2_session_set_blocking(c->session, 1);
		libssh2_session_set_timeout(c->session, DISCONNECT_WAIT_MS);
		if (handshaken)
			libssh2_session_disconnect_ex(c->session, reason, why ? why : "bye", "");
		libssh2_session_free(c->session);
		c->session = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	proxy_stop(&c->proxy);
}

void ssh_disconnect(struct ssh_conn *c, const char *why)
{
	teardown(c, true, SSH_DISCONNECT_BY_APPLICATION, why);
}

struct known {
	LIBSSH2_KNOWNHOSTS *kh;
	const char *files[2 * SSHCONF_MAX_FILES];
	size_t n_files;
	const char *save_to; /* where a newly accepted key goes; NULL: nowhere */
	char name[300];	     /* the host as known_hosts spells it */
	char pinned[256];    /* LIBSSH2_METHOD_HOSTKEY list, empty when nothing is on file */
	size_t pattern_file; /* a CHANGED verdict from a host pattern's line: where */
	unsigned long pattern_line;
};

/*
 * Keys accepted in this run that no file holds (/dev/null, a known_hosts
 * that cannot be written): further lanes and reconnects know them too, as
 * they cannot ask again. Set in the process that asked, before it forks
 * its lane workers.
 */
#define ACCEPTED_MAX 4
static struct accepted {
	char name[300];
	int type;
	unsigned char *key;
	size_t len;
} accepted[ACCEPTED_MAX];

static void accepted_note(const struct sshconf *cfg, const char *name, const char *key, size_t len,
			  int type)
{
	/*
	 * StrictHostKeyChecking no takes any new key anyway: one kept would
	 * only refuse the next backend of a pool behind one name as changed.
	 */
	if (cfg->strict == SSHCONF_STRICT_NO)
		return;
	for (size_t i = 0; i < ACCEPTED_MAX; i++) {
		struct accepted *a = &accepted[i];

		if (a->key && (strcmp(a->name, name) || a->type != type))
			continue;
		free(a->key);
		a->key = malloc(len);
		if (!a->key)
			return;
		memcpy(a->key, key, len);
		a->len = len;
		a->type = type;
		snprintf(a->name, sizeof(a->name), "%s", name);
		return;
	}
}

/*
 * Off port 22, whether the key on file for the bare host counts too (as
 * ssh's "found matching key w/out port"): not with HostKeyAlias, whose
 * name never carries a port.
 */
static bool known_bare(const struct sshconf *cfg)
{
	return cfg->port && cfg->port != 22 && !cfg->hostkey_alias;
}

static int known_load(struct known *k, LIBSSH2_SESSION *s, const struct sshconf *cfg,
		      const char *override, char *err, size_t errlen)
{
	const char **algs;
	int n, r;

	if (override) {
		k->files[k->n_files++] = override;
	} else {
		for (size_t i = 0; i < cfg->n_known_hosts && i < SSHCONF_MAX_FILES; i++)
			k->files[k->n_files++] = cfg->known_hosts[i];
		for (size_t i = 0; i < cfg->n_global_known_hosts && i < SSHCONF_MAX_FILES; i++)
			k->files[k->n_files++] = cfg->global_known_hosts[i];
		if (!cfg->n_global_known_hosts) {
			k->files[k->n_files++] = global_known_hosts[0];
			k->files[k->n_files++] = global_known_hosts[1];
		}
	}
	k->save_to = override ? override : cfg->n_known_hosts ? cfg->known_hosts[0] : NULL;
	/* As ssh: an alias is the name as written, with no [ ]:port whatever the port. */
	if (cfg->hostkey_alias
		? snprintf(k->name, sizeof(k->name), "%s", cfg->hostkey_alias) >=
		      (int)sizeof(k->name)
		: hostkey_name(k->name, sizeof(k->name), cfg->hostname, cfg->port) < 0) {
		snprintf(err, errlen, "host name too long: %s",
			 cfg->hostkey_alias ? cfg->hostkey_alias : cfg->hostname);
		return -ENAMETOOLONG;
	}
	k->kh = libssh2_knownhost_init(s);
	if (!k->kh) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < k->n_files; i++) {
		r = hostkey_load(k->kh, &k->files[i], 1);
		if (r < 0) {
			if (r == -EPERM)
				snprintf(
				    err, errlen,
				    "refusing %s: it is owned by neither you nor root, or anyone "
				    "may write it, so its host keys cannot be trusted",
				    k->files[i]);
			else
				snprintf(err, errlen, "cannot read %s: %s", k->files[i],
					 strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < ACCEPTED_MAX; i++)
		if (accepted[i].key && !strcmp(accepted[i].name, k->name))
			hostkey_remember(k->kh, k->name, accepted[i].key, accepted[i].len,
					 accepted[i].type);
	n = supported(s, LIBSSH2_METHOD_HOSTKEY, &algs);
	r = hostkey_methods(k->kh, k->files, k->n_files, k->name, algs, (size_t)n, k->pinned,
			    sizeof(k->pinned));
	if (algs)
		libssh2_free(s, algs);
	if (r < 0) {
		snprintf(err, errlen, "too many host key types on file for %s", k->name);
		return r;
	}
	return 0;
}

/* s in single quotes for a shell command the user may paste. 0 or -ENAMETOOLONG. */
static int shell_quote(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	if (outlen < 3)
		return -ENAMETOOLONG;
	out[o++] = '\'';
	for (; *s; s++) {
		const char *piece = *s == '\'' ? "'\\''" : NULL;
		size_t n = piece ? strlen(piece) : 1;

		if (o + n + 2 > outlen)
			return -ENAMETOOLONG;
		if (piece)
			memcpy(out + o, piece, n);
		else
			out[o] = *s;
		o += n;
	}
	out[o++] = '\'';
	out[o] = '\0';
	return 0;
}

/*
 * OpenSSH's question for an unknown key: yes, no, or the fingerprint typed
 * back (which proves it was compared). 0 to accept, -EPERM or -errno not.
 */
static int known_ask(struct ssh_conn *c, const struct known *k, const char *fp)
{
	char text[600], addr[NI_MAXHOST] = "", answer[128];
	const char *prompt =
	    "Are you sure you want to continue connecting (yes/no/[fingerprint])? ";
	int r;

	if (c->peer_len)
		addr_text((const struct sockaddr *)&c->peer, c->peer_len, addr, sizeof(addr));
	snprintf(text, sizeof(text),
		 "The authenticity of host '%s%s%s%s' can't be established.\n"
		 "%s key fingerprint is %s.",
		 k->name, *addr ? " (" : "", addr, *addr ? ")" : "", c->hostkey_type, fp);
	for (int i = 0;; i++) {
		r = auth_ask(i ? NULL : text, prompt, answer, sizeof(answer));
		if (r == -EMSGSIZE)
			continue;
		if (r < 0)
			return r;
		if (!strcasecmp(answer, "yes") || !strcmp(answer, fp))
			return 0;
		if (!strcasecmp(answer, "no"))
			return -EPERM;
		prompt = "Please type 'yes', 'no' or the fingerprint: ";
	}
}

/*
 * The lines libssh2 cannot judge (knownpat) against libssh2's verdict r, as
 * OpenSSH weighs them: a revoked key is refused whatever else is on file
 * (for [host]:port or the bare host); a key on any line for the host is
 * accepted; a key of the same type that differs is a changed key. The new
 * verdict, or -EPERM with err for a revoked key.
 */
static int known_patterns(struct ssh_conn *c, struct known *k, const struct sshconf *cfg,
			  const unsigned char *key, size_t klen, int r, enum ssh_fail *fail,
			  char *err, size_t errlen)
{
	struct knownpat_result pat, bare = {0};
	int ret;

	ret =
	    knownpat_scan(k->files, k->n_files, k->name, c->hostkey_type, key, klen, NULL, 0, &pat);
	if (ret == 0 && pat.verdict != KNOWNPAT_REVOKED && known_bare(cfg))
		ret = knownpat_scan(k->files, k->n_files, cfg->hostname, c->hostkey_type, key, klen,
				    NULL, 0, &bare);
	if (ret < 0) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "cannot read the known hosts files: %s", strerror(-ret));
		return ret;
	}
	if (bare.verdict == KNOWNPAT_REVOKED)
		pat = bare;
	if (pat.verdict == KNOWNPAT_REVOKED) {
		*fail = SSH_FAIL_HOSTKEY_CHANGED;
		snprintf(err, errlen,
			 "host key for %s (%s) is REVOKED by %s:%lu; refusing to connect", k->name,
			 c->hostkey, k->files[pat.file], pat.line);
		return -EPERM;
	}
	if (r == HOSTKEY_MATCH || pat.verdict == KNOWNPAT_MATCH ||
	    (r == HOSTKEY_UNKNOWN && bare.verdict == KNOWNPAT_MATCH))
		return HOSTKEY_MATCH;
	if (r == HOSTKEY_UNKNOWN && pat.verdict == KNOWNPAT_CHANGED) {
		k->pattern_file = pat.file;
		k->pattern_line = pat.line;
		return HOSTKEY_CHANGED;
	}
	return r;
}

static int known_verify(struct ssh_conn *c, struct known *k, const struct sshconf *cfg,
			enum ssh_fail *fail, char *err, size_t errlen)
{
	char fp[HOSTKEY_FP_LEN];
	const char *key, *tname;
	size_t klen = 0;
	int ktype = 0, r;

	key = libssh2_session_hostkey(c->session, &klen, &ktype);
	tname = hostkey_type_name(ktype);
	if (!key || !klen || !tname) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "%s presented no usable host key", k->name);
		return -EPROTO;
	}
	r = hostkey_fingerprint(fp, sizeof(fp), (const unsigned char *)key, klen);
	if (r < 0) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "cannot hash the host key of %s: %s", k->name, strerror(-r));
		return r;
	}
	snprintf(c->hostkey, sizeof(c->hostkey), "%s %s", tname, fp);
	snprintf(c->hostkey_type, sizeof(c->hostkey_type), "%s", tname);

	r = hostkey_check(k->kh, k->name, (const unsigned char *)key, klen, ktype);
	if (r >= 0)
		r = known_patterns(c, k, cfg, (const unsigned char *)key, klen, r, fail, err,
				   errlen);
	if (r < 0)
		return r;
	/*
	 * As OpenSSH does ("found matching key w/out port"): a server on
	 * another port whose key is on file for the bare host is the same
	 * machine. Only a match counts; anything else is judged as [host]:port,
	 * and nothing is written either way.
	 */
	if (r == HOSTKEY_UNKNOWN && known_bare(cfg) &&
	    hostkey_check(k->kh, cfg->hostname, (const unsigned char *)key, klen, ktype) ==
		HOSTKEY_MATCH)
		return 0;
	if (r == HOSTKEY_MATCH)
		return 0;
	if (r == HOSTKEY_CHANGED && k->pattern_line) {
		*fail = SSH_FAIL_HOSTKEY_CHANGED;
		snprintf(
		    err, errlen,
		    "host key for %s has CHANGED (%s); refusing to connect (possible "
		    "man-in-the-middle); the old key is on the line for a host pattern at %s:%lu",
		    k->name, c->hostkey, k->files[k->pattern_file], k->pattern_line);
		return -EPERM;
	}
	if (r == HOSTKEY_CHANGED) {
		size_t fi = 0;
		unsigned long line = 0;
		char qname[700], qfile[PATH_MAX * 4 + 3];

		/* Refused even with StrictHostKeyChecking no: safer than ssh, which goes on. */
		*fail = SSH_FAIL_HOSTKEY_CHANGED;
		if (hostkey_locate(c->session, k->files, k->n_files, k->name,
				   (const unsigned char *)key, klen, ktype, &fi, &line) == 0 &&
		    shell_quote(qname, sizeof(qname), k->name) == 0 &&
		    shell_quote(qfile, sizeof(qfile), k->files[fi]) == 0)
			snprintf(err, errlen,
				 "host key for %s has CHANGED (%s); refusing to connect (possible "
				 "man-in-the-middle); the old key is at %s:%lu; if the change is "
				 "expected, remove it with: ssh-keygen -R %s -f %s",
				 k->name, c->hostkey, k->files[fi], line, qname, qfile);
		else
			snprintf(err, errlen,
				 "host key for %s has CHANGED (%s); refusing to connect (possible "
				 "man-in-the-middle; fix %s)",
				 k->name, c->hostkey, k->save_to ? k->save_to : "your known_hosts");
		return -EPERM;
	}
	if (r != HOSTKEY_UNKNOWN) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "cannot check the host key of %s: %s", k->name, strerror(-r));
		return r;
	}
	if (cfg->strict == SSHCONF_STRICT_ASK && !cfg->batch && !cfg->no_prompt &&
	    auth_have_tty()) {
		r = known_ask(c, k, fp);
		if (r < 0) {
			*fail = SSH_FAIL_HOSTKEY_UNKNOWN;
			snprintf(err, errlen, "host key for %s (%s) not accepted%s", k->name,
				 c->hostkey, r == -EINTR ? " (interrupted)" : "");
			return -EPERM;
		}
	} else if (cfg->strict == SSHCONF_STRICT_YES || cfg->strict == SSHCONF_STRICT_ASK) {
		*fail = SSH_FAIL_HOSTKEY_UNKNOWN;
		snprintf(err, errlen,
			 "unknown host key for %s (%s); run sluice on a terminal to confirm it, "
			 "add it to %s, or use -o StrictHostKeyChecking=accept-new",
			 k->name, c->hostkey, k->save_to ? k->save_to : "~/.ssh/known_hosts");
		return -EPERM;
	}
	/* UserKnownHostsFile /dev/null: accepted for this run alone, and silently, as ssh. */
	if (k->save_to && !strcmp(k->save_to, "/dev/null")) {
		accepted_note(cfg, k->name, key, klen, ktype);
		return 0;
	}
	c->hostkey_add_err =
	    k->save_to ? hostkey_append(k->kh, k->save_to, k->name, (const unsigned char *)key,
					klen, ktype, cfg->hash_known)
		       : -ENOENT;
	if (c->hostkey_add_err)
		accepted_note(cfg, k->name, key, klen, ktype);
	c->hostkey_added = c->hostkey_add_err == 0;
	return 0;
}

static int authenticate(struct ssh_conn *c, const struct sshconf *cfg,
			const char *const *extra_identity, size_t n_extra, enum ssh_fail *fail,
			char *err, size_t errlen)
{
	size_t n = 0, cap = n_extra + cfg->n_identity;
	const char **ids = calloc(cap ? cap : 1, sizeof(*ids));
	struct auth_result res;
	int r;

	if (!ids) {
		*fail = SSH_FAIL_AUTH;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap; i++) {
		const char *id = i < n_extra ? extra_identity[i] : cfg->identity[i - n_extra];
		bool dup = false;

		for (size_t j = 0; id && j < n && !dup; j++)
			dup = !strcmp(ids[j], id);
		if (id && *id && !dup)
			ids[n++] = id;
	}
	auth_set_prompts(!cfg->no_prompt);
	r = auth_run(c->session, cfg->user, cfg->hostname, ids, n,
		     &(struct auth_agent){cfg->identities_only, cfg->identity_agent}, &res);
	auth_set_prompts(true);
	free(ids);
	if (r == 0) {
		snprintf(c->auth_used, sizeof(c->auth_used), "%s", res.used);
		return 0;
	}
	*fail = SSH_FAIL_AUTH;
	if (r == -EACCES)
		snprintf(err, errlen,
			 "authentication failed for %s@%s (tried: %s; server accepts: %s)%s",
			 cfg->user, cfg->hostname, *res.tried ? res.tried : "nothing",
			 *res.methods ? res.methods : "nothing",
			 res.rsa_refused && !libssh2_version(0x010b00)
			     ? "; libssh2 before 1.11 signs RSA keys with SHA-1, which OpenSSH "
			       "8.8 and later refuse: use an ed25519 or ecdsa key"
			     : "");
	else if (r == -EINTR)
		snprintf(err, errlen, "authentication for %s@%s interrupted", cfg->user,
			 cfg->hostname);
	else if (r == -EINVAL)
		snprintf(err, errlen, "no user name to log in to %s as", cfg->hostname);
	else
		snprintf(err, errlen, "connection to %s lost during authentication: %s",
			 cfg->hostname, *res.error ? res.error : strerror(-r));
	return r;
}

int ssh_connect(struct ssh_conn *c, const struct sshconf *cfg, const char *const *extra_identity,
		size_t n_extra, const char *known_hosts_override, const struct progress *pg,
		enum ssh_fail *fail, char *err, size_t errlen)
{
	long handshake_ms =
	    cfg->connect_timeout > 0 ? cfg->connect_timeout * 1000L : BLOCKING_TIMEOUT_MS;
	long blocking_ms = handshake_ms > BLOCKING_TIMEOUT_MS ? handshake_ms : BLOCKING_TIMEOUT_MS;
	struct known k = {0};
	int r, reason = SSH_DISCONNECT_BY_APPLICATION;
	bool handshaken = false;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	*fail = SSH_FAIL_NONE;
	if (errlen)
		err[0] = '\0';
	if (!cfg->hostname || !*cfg->hostname) {
		*fail = SSH_FAIL_RESOLVE;
		snprintf(err, errlen, "no host to connect to");
		return -EINVAL;
	}
	r = ssh_lib_init();
	if (r < 0) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "cannot initialise libssh2");
		return r;
	}
	c->proxy.err_fd = -1;
	if (cfg->proxycommand || cfg->proxyjump) {
		/* A ProxyCommand may carry a secret (sshpass -p ...): not its text. */
		if (cfg->proxyjump)
			progress_say(pg, "connecting to %s through ProxyJump %s", cfg->hostname,
				     cfg->proxyjump);
		else
			progress_say(pg, "connecting to %s through its ProxyCommand",
				     cfg->hostname);
		r = proxy_start(&c->proxy, cfg, &c->fd, err, errlen);
		if (r < 0) {
			*fail = SSH_FAIL_CONNECT;
			return r;
		}
	} else {
		r = tcp_connect(c, cfg, pg, fail, err, errlen);
		if (r < 0)
			return r;
	}

	c->session = libssh2_session_init();
	if (!c->session) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	libssh2_session_set_blocking(c->session, 1);
	/* The connect timeout also covers the banner and key exchange, as in ssh. */
	libssh2_session_set_timeout(c->session, handshake_ms);
	prefer(c->session, LIBSSH2_METHOD_CRYPT_CS, crypt_pref);
	prefer(c->session, LIBSSH2_METHOD_CRYPT_SC, crypt_pref);
	prefer(c->session, LIBSSH2_METHOD_MAC_CS, mac_pref);
	prefer(c->session, LIBSSH2_METHOD_MAC_SC, mac_pref);

	r = known_load(&k, c->session, cfg, known_hosts_override, err, errlen);
	if (r < 0) {
		*fail = SSH_FAIL_HOSTKEY_UNKNOWN;
		goto out;
	}
	/*
	 * Ask only for key types already on file, or the server may show
	 * another one of its keys and the check would call it unknown.
	 */
	if (!*k.pinned)
		prefer(c->session, LIBSSH2_METHOD_HOSTKEY, hostkey_pref);
	else if (libssh2_session_method_pref(c->session, LIBSSH2_METHOD_HOSTKEY, k.pinned)) {
		*fail = SSH_FAIL_HANDSHAKE;
		snprintf(err, errlen, "cannot pin host key types %s: %s", k.pinned,
			 last_error(c->session));
		r = -EINVAL;
		goto out;
	}

	r = libssh2_session_handshake(c->session, c->fd);
	if (r) {
		/*
		 * sshd past its MaxStartups hangs up at once, before any banner,
		 * our own banner unread: a reset more often than an end.
		 */
		*fail = SSH_FAIL_HANDSHAKE;
		if (r == LIBSSH2_ERROR_SOCKET_DISCONNECT || r == LIBSSH2_ERROR_SOCKET_RECV ||
		    r == LIBSSH2_ERROR_BANNER_RECV)
			*fail = c->proxy.pid ? SSH_FAIL_PROXY : SSH_FAIL_DROPPED;
		if (*k.pinned)
			snprintf(err, errlen,
				 "SSH handshake with %s failed: %s (host key types limited to "
				 "those on file: %s)",
				 k.name, last_error(c->session), k.pinned);
		else
			snprintf(err, errlen, "SSH handshake with %s failed: %s", k.name,
				 last_error(c->session));
		if (c->proxy.pid) {
			/* Through a proxy the reason is usually the proxy's: say what it said. */
			char words[256];

			proxy_last_words(&c->proxy, words, sizeof(words));
			snprintf(err, errlen, "%s failed%s%s (SSH handshake with %s: %s)",
				 c->proxy.what, *words ? ": " : "", words, k.name,
				 last_error(c->session));
		}
		r = r == LIBSSH2_ERROR_TIMEOUT ? -ETIMEDOUT : -EPROTO;
		goto out;
	}
	handshaken = true;

	r = known_verify(c, &k, cfg, fail, err, errlen);
	if (r < 0) {
		reason = SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE;
		goto out;
	}

	libssh2_session_set_timeout(c->session, blocking_ms);
	progress_say(pg, "authenticating as %s (host key %s)", cfg->user ? cfg->user : "?",
		     c->hostkey);
	r = authenticate(c, cfg, extra_identity, n_extra, fail, err, errlen);
	if (r < 0)
		reason = SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE;
	else
		progress_say(pg, "authenticated by %s", c->auth_used);
out:
	if (k.kh)
		libssh2_knownhost_free(k.kh);
	if (r < 0)
		teardown(c, handshaken, reason, "sluice: giving up");
	return r;
}
