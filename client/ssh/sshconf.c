/*
 * sshconf: asks OpenSSH how it would connect (`ssh -G`), so Host and Match
 * blocks, Include and the system config all count, and reads its answer.
 * Without an ssh binary, falls back to OpenSSH's defaults.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sshconf.h"

#include "../../common/clock.h"
#include "../../common/escape.h"

extern char **environ;

/* `ssh -G` prints a few KiB; anything near this is not ssh talking. */
#define SSH_G_MAX (1024 * 1024)

static const char *const default_identities[] = {"id_ed25519", "id_ecdsa", "id_rsa"};

/*
 * The local user's home, from the password file as OpenSSH takes it, never
 * $HOME: under sudo that can be another user's, and `ssh -G` (which already
 * expanded the config's own paths) ignores it too.
 */
static const char *home_dir(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

static const char *local_user(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw && pw->pw_name ? pw->pw_name : NULL;
}

/* A growable string, for expanding paths. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	char *np;
	size_t cap;

	if (n > PATH_MAX * 4 || b->len + n + 1 > PATH_MAX * 4)
		return -ENAMETOOLONG;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/*
 * Leading "~" or "~user", then, with tokens, the %-escapes OpenSSH 9.2
 * leaves unexpanded in `ssh -G`'s identityfile lines. Other tokens stay as
 * they are: the file will simply not be found.
 */
static int expand_path(const struct sshconf *c, const char *in, int tokens, char **out)
{
	struct buf b = {0};
	const char *p = in;
	int ret = 0;

	*out = NULL;
	if (p[0] == '~') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0) {
			ret = buf_adds(&b, home_dir());
		} else {
			char name[256];
			struct passwd *pw = NULL;

			if (n < sizeof(name)) {
				memcpy(name, p + 1, n);
				name[n] = '\0';
				pw = getpwnam(name);
			}
			/* An unknown ~user stays literal, as the shell leaves it. */
			ret = pw ? buf_adds(&b, pw->pw_dir) : buf_add(&b, p, n + 1);
		}
		p += n + 1;
		if (ret < 0)
			goto out;
	}
	while (*p) {
		size_t n = tokens ? strcspn(p, "%") : strlen(p);
		const char *rep = NULL;

		ret = buf_add(&b, p, n);
		if (ret < 0)
			goto out;
		p += n;
		if (!*p)
			break;
		switch (p[1]) {
		case '%':
			rep = "%";
			break;
		case 'd':
			rep = home_dir();
			break;
		case 'u':
			rep = local_user();
			break;
		case 'h':
			rep = c->hostname;
			break;
		case 'r':
			rep = c->user;
			break;
		}
		if (rep) {
			ret = buf_adds(&b, rep);
			p += 2;
		} else {
			ret = buf_add(&b, p, p[1] ? 2 : 1);
			p += p[1] ? 2 : 1;
		}
		if (ret < 0)
			goto out;
	}
	if (!b.p)
		ret = buf_add(&b, "", 0);
out:
	if (ret < 0)
		free(b.p);
	else
		*out = b.p;
	return ret;
}

static int set_once(char **field, const char *val)
{
	/* ssh prints each key once; should one repeat, the first wins, as in ssh_config. */
	if (*field)
		return 0;
	*field = strdup(val);
	return *field ? 0 : -ENOMEM;
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_timeout(const char *s, int *secs)
{
	char *end;
	long v;

	if (!strcasecmp(s, "none")) {
		*secs = 0;
		return 0;
	}
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > INT_MAX / 1000)
		return -EINVAL;
	*secs = (int)v;
	return 0;
}

static enum sshconf_strict parse_strict(const char *s)
{
	if (!strcasecmp(s, "accept-new"))
		return SSHCONF_STRICT_ACCEPT_NEW;
	if (!strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcasecmp(s, "false"))
		return SSHCONF_STRICT_NO;
	if (!strcasecmp(s, "ask"))
		return SSHCONF_STRICT_ASK;
	/* yes, true, and anything unforeseen: refuse unknown keys. */
	return SSHCONF_STRICT_YES;
}

/* A space separated list of files, the first line that gives one. */
static int parse_files(char *val, char **files, size_t *n)
{
	char *tok, *save;

	if (*n)
		return 0;
	for (tok = strtok_r(val, " \t", &save); tok && *n < SSHCONF_MAX_FILES;
	     tok = strtok_r(NULL, " \t", &save)) {
		files[*n] = strdup(tok);
		if (!files[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

/*
 * One "key value" line. Identity files keep their spaces; known hosts are a
 * space separated list, so a path with a space in it cannot be told apart.
 */
static int parse_line(struct sshconf *c, char *key, char *val)
{
	if (!strcasecmp(key, "hostname"))
		return set_once(&c->hostname, val);
	if (!strcasecmp(key, "user"))
		return set_once(&c->user, val);
	if (!strcasecmp(key, "port"))
		return parse_port(val, &c->port);
	if (!strcasecmp(key, "stricthostkeychecking")) {
		c->strict = parse_strict(val);
		return 0;
	}
	if (!strcasecmp(key, "batchmode")) {
		c->batch = !strcasecmp(val, "yes") || !strcasecmp(val, "true");
		return 0;
	}
	if (!strcasecmp(key, "identitiesonly")) {
		c->identities_only = !strcasecmp(val, "yes") || !strcasecmp(val, "true");
		return 0;
	}
	if (!strcasecmp(key, "identityagent"))
		return set_once(&c->identity_agent, val);
	if (!strcasecmp(key, "hashknownhosts")) {
		c->hash_known = !strcasecmp(val, "yes") || !strcasecmp(val, "true");
		return 0;
	}
	if (!strcasecmp(key, "connecttimeout"))
		return parse_timeout(val, &c->connect_timeout);
	if (!strcasecmp(key, "serveraliveinterval"))
		return parse_timeout(val, &c->alive_interval);
	if (!strcasecmp(key, "serveralivecountmax"))
		return parse_timeout(val, &c->alive_count);
	/* ssh -G says "controlmaster false" and leaves out a ControlPath of "none". */
	if (!strcasecmp(key, "controlmaster")) {
		c->control |= strcasecmp(val, "false") && strcasecmp(val, "no");
		return 0;
	}
	if (!strcasecmp(key, "controlpath")) {
		c->control |= !!strcasecmp(val, "none");
		return 0;
	}
	/* ssh -G leaves these out when unset or "none"; a "none" is honoured all the same. */
	if (!strcasecmp(key, "proxyjump"))
		return strcasecmp(val, "none") ? set_once(&c->proxyjump, val) : 0;
	if (!strcasecmp(key, "proxycommand"))
		return strcasecmp(val, "none") ? set_once(&c->proxycommand, val) : 0;
	if (!strcasecmp(key, "identityfile")) {
		/* Past the limit, keys are dropped: the first ones are the ones tried anyway. */
		if (c->n_identity == SSHCONF_MAX_FILES || !*val)
			return 0;
		c->identity[c->n_identity] = strdup(val);
		if (!c->identity[c->n_identity])
			return -ENOMEM;
		c->n_identity++;
		return 0;
	}
	if (!strcasecmp(key, "userknownhostsfile"))
		return parse_files(val, c->known_hosts, &c->n_known_hosts);
	if (!strcasecmp(key, "globalknownhostsfile"))
		return parse_files(val, c->global_known_hosts, &c->n_global_known_hosts);
	if (!strcasecmp(key, "hostkeyalias"))
		return strcasecmp(val, "none") ? set_once(&c->hostkey_alias, val) : 0;
	return 0;
}

/* Each of paths[0..n) expanded in place (tokens: %-tokens too, else only ~). */
static int expand_each(const struct sshconf *c, char **paths, size_t n, int tokens)
{
	char *p;
	int ret;

	for (size_t i = 0; i < n; i++) {
		ret = expand_path(c, paths[i], tokens, &p);
		if (ret < 0)
			return ret;
		free(paths[i]);
		paths[i] = p;
	}
	return 0;
}

/* Expansion waits until every line is read: %h and %r need hostname and user. */
static int expand_all(struct sshconf *c)
{
	int ret = expand_each(c, c->identity, c->n_identity, 1);

	if (ret == 0 && c->identity_agent && c->identity_agent[0] == '~')
		ret = expand_each(c, &c->identity_agent, 1, 0);
	/* ssh has already expanded the tokens here; a '%' left is a literal one. */
	if (ret == 0)
		ret = expand_each(c, c->known_hosts, c->n_known_hosts, 0);
	if (ret == 0)
		ret = expand_each(c, c->global_known_hosts, c->n_global_known_hosts, 0);
	return ret;
}

void sshconf_free(struct sshconf *c)
{
	size_t i;

	free(c->hostname);
	free(c->user);
	free(c->proxyjump);
	free(c->proxycommand);
	free(c->identity_agent);
	free(c->config_file);
	for (i = 0; i < c->n_identity; i++)
		free(c->identity[i]);
	for (i = 0; i < c->n_known_hosts; i++)
		free(c->known_hosts[i]);
	for (i = 0; i < c->n_global_known_hosts; i++)
		free(c->global_known_hosts[i]);
	free(c->hostkey_alias);
	memset(c, 0, sizeof(*c));
}

int sshconf_parse(struct sshconf *c, const char *text)
{
	char *copy, *line, *next, *key, *val, *end;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->strict = SSHCONF_STRICT_ASK;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		key = line + strspn(line, " \t");
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		end = val + strlen(val);
		while (end > val && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*key)
			continue;
		ret = parse_line(c, key, val);
		if (ret < 0)
			goto out;
	}
	ret = expand_all(c);
out:
	free(copy);
	if (ret < 0)
		sshconf_free(c);
	return ret;
}

/*
 * How long `ssh -G` or `CMD -G` may take: it reads files and prints, it
 * does not connect, so more than this is a command stuck on something else.
 */
#define SSH_G_WAIT_MS 5000

/* Read what the child prints into *buf until its end, for at most wait_ms. */
static int read_bounded(int fd, int wait_ms, char **buf, size_t *len)
{
	size_t cap = 0;
	char *nb;
	ssize_t n;
	int64_t end = clock_ms() + wait_ms, left;
	int r;
	struct pollfd pfd = {fd, POLLIN, 0};

	for (;;) {
		if (cap - *len < 4096) {
			if (cap >= SSH_G_MAX)
				return -E2BIG;
			cap = cap ? cap * 2 : 16384;
			nb = realloc(*buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			*buf = nb;
		}
		left = end - clock_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = read(fd, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
}

/*
 * ssh's last line on stderr (the complaint; it may first say that stdin is
 * no terminal), escaped, into why.
 */
static void ssh_words(int fd, char *why, size_t whylen)
{
	char text[1024];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	char *line, *end;

	if (n <= 0 || !whylen)
		return;
	text[n] = '\0';
	end = text + n;
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	escape_text(why, whylen, line, strlen(line), false);
}

/*
 * Run argv (file searched in PATH) and collect what it prints, within
 * wait_ms. The one way both `ssh -G` and `CMD -G` are asked. -ENOENT means
 * there is no such program; -ETIMEDOUT that it took too long (it is
 * killed); -EINVAL that it exited non-zero, which for `ssh -G` is its
 * verdict on the config, its last line on stderr in why.
 */
static int run_collect(const char *file, char *const argv[], int wait_ms, char **text, char *why,
		       size_t whylen)
{
	posix_spawn_file_actions_t fa;
	char *buf = NULL;
	size_t len = 0;
	int pfd[2] = {-1, -1}, efd = -1, status, ret, fa_ok = 0;
	pid_t pid = -1;

	*text = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	/* Optional: without it ssh's complaint is lost, not the answer. */
	efd = memfd_create("sluice-ssh-G", MFD_CLOEXEC);
	ret = -posix_spawn_file_actions_init(&fa);
	if (ret < 0)
		goto out;
	fa_ok = 1;
	/* ssh's complaints are summed up by its exit status; its stdin is nobody's. */
	ret = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!ret)
		ret = -posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	if (!ret)
		ret = efd >= 0
			  ? -posix_spawn_file_actions_adddup2(&fa, efd, 2)
			  : -posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (ret < 0)
		goto out;
	/* glibc and musl both report a failed exec here, so ENOENT means no such program. */
	ret = -posix_spawnp(&pid, file, &fa, NULL, argv, environ);
	if (ret < 0) {
		pid = -1;
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	ret = read_bounded(pfd[0], wait_ms, &buf, &len);
	/* Closing first lets a still-talking child die of SIGPIPE instead of blocking us. */
	close(pfd[0]);
	pfd[0] = -1;
	/* One that is silent and stuck would never see the SIGPIPE. */
	if (ret == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ret = ret < 0 ? ret : -errno;
			goto out;
		}
	}
	pid = -1;
	if (ret < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (efd >= 0)
			ssh_words(efd, why, whylen);
		/* The shell of `sh -c 'exec CMD'` says 127 when CMD is not there. */
		ret = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EINVAL;
		goto out;
	}
	buf[len] = '\0';
	*text = buf;
	buf = NULL;
	ret = 0;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (efd >= 0)
		close(efd);
	free(buf);
	return ret;
}

/* -l USER and -p PORT as the query has them (port_s: 8 bytes the argv may point into). */
static int put_user_port(char **argv, int argc, const struct sshconf_query *q, char *port_s)
{
	if (q->user) {
		argv[argc++] = "-l";
		argv[argc++] = (char *)q->user;
	}
	if (q->port) {
		snprintf(port_s, 8, "%u", (unsigned)q->port);
		argv[argc++] = "-p";
		argv[argc++] = port_s;
	}
	return argc;
}

/*
 * Run `ssh -G` and collect what it prints. -ENOENT means there is no ssh
 * to ask; any other failure is ssh's verdict on the config, in why.
 */
static int run_ssh_g(const struct sshconf_query *q, char **text, char *why, size_t whylen)
{
	char port_s[8], **argv;
	int argc = 0, ret;

	*text = NULL;
	if (q->n_options > SSHCONF_MAX_OPTIONS)
		return -E2BIG;
	argv = calloc(12 + 2 * q->n_options, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[argc++] = "ssh";
	argv[argc++] = "-G";
	if (q->config) {
		argv[argc++] = "-F";
		argv[argc++] = (char *)q->config;
	}
	argc = put_user_port(argv, argc, q, port_s);
	/* ssh gives them precedence over the config file and rejects unknown keys itself. */
	for (size_t i = 0; i < q->n_options; i++) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)q->options[i];
	}
	/* A host starting with '-' is a host, not an option. */
	argv[argc++] = "--";
	argv[argc++] = (char *)q->host;
	argv[argc] = NULL;
	ret = run_collect("ssh", argv, SSH_G_WAIT_MS, text, why, whylen);
	free(argv);
	return ret;
}

bool sshconf_cmd_is_ssh(const char *cmd)
{
	const char *w, *end, *base;

	w = cmd + strspn(cmd, " \t");
	end = w + strcspn(w, " \t");
	for (base = end; base > w && base[-1] != '/'; base--)
		;
	return end - base == 3 && !strncmp(base, "ssh", 3);
}

/*
 * `CMD -G [-l user] [-p port] -- host` through the shell, so CMD splits as
 * the -e transport splits it and its own -F, -J, -o and -p count.
 */
static int run_cmd_g(const char *cmd, const struct sshconf_query *q, char **text, char *why,
		     size_t whylen)
{
	char script[4096], port_s[8], *argv[16];
	int argc = 0, n;

	*text = NULL;
	n = snprintf(script, sizeof(script), "exec %s \"$@\"", cmd);
	if (n < 0 || (size_t)n >= sizeof(script))
		return -E2BIG;
	argv[argc++] = "/bin/sh";
	argv[argc++] = "-c";
	argv[argc++] = script;
	argv[argc++] = "sluice-ssh-g";
	argv[argc++] = "-G";
	argc = put_user_port(argv, argc, q, port_s);
	argv[argc++] = "--";
	argv[argc++] = (char *)q->host;
	argv[argc] = NULL;
	return run_collect("/bin/sh", argv, SSH_G_WAIT_MS, text, why, whylen);
}

static int dup_into(char **field, const char *val)
{
	*field = strdup(val);
	return *field ? 0 : -ENOMEM;
}

/*
 * The -o options alone, as a config ssh -G would print: "key value" lines
 * (each option is "Key=Value" or "Key Value"). Unknown keys are ignored.
 */
static int parse_options(struct sshconf *c, const struct sshconf_query *q)
{
	struct buf b = {0};
	int ret = buf_add(&b, "", 0);

	for (size_t i = 0; !ret && i < q->n_options; i++) {
		const char *o = q->options[i];
		size_t klen = strcspn(o, "= \t");
		const char *v = o + klen + strspn(o + klen, " \t");

		if (*v == '=')
			v++;
		v += strspn(v, " \t");
		if (strchr(o, '\n'))
			ret = -EINVAL;
		if (!ret)
			ret = buf_add(&b, o, klen);
		if (!ret)
			ret = buf_add(&b, " ", 1);
		if (!ret)
			ret = buf_adds(&b, v);
		if (!ret)
			ret = buf_add(&b, "\n", 1);
	}
	if (!ret)
		ret = sshconf_parse(c, b.p);
	else
		memset(c, 0, sizeof(*c));
	free(b.p);
	return ret;
}

/*
 * What OpenSSH would use with no config at all, trimmed to the key types
 * libssh2 reads, under the -o options, which win as they do in ssh.
 */
static int fill_defaults(struct sshconf *c, const struct sshconf_query *q)
{
	const char *home = home_dir(), *user = q->user;
	char path[PATH_MAX];
	bool given_ids;
	size_t i;
	int n, ret;

	ret = parse_options(c, q);
	if (ret < 0)
		return ret;
	given_ids = c->n_identity > 0;
	if (q->port)
		c->port = q->port;
	if (!c->port)
		c->port = 22;
	if (!user)
		user = c->user ? c->user : local_user();
	if (!user)
		return -ENOENT;
	if (!c->hostname && dup_into(&c->hostname, q->host) < 0)
		return -ENOMEM;
	if (user != c->user) {
		free(c->user);
		if (dup_into(&c->user, user) < 0)
			return -ENOMEM;
	}
	/* An IdentityFile given replaces the default list, as in ssh. */
	for (i = 0; !given_ids && i < sizeof(default_identities) / sizeof(default_identities[0]);
	     i++) {
		n = snprintf(path, sizeof(path), "%s/.ssh/%s", home, default_identities[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		if (dup_into(&c->identity[c->n_identity], path) < 0)
			return -ENOMEM;
		c->n_identity++;
	}
	if (c->n_known_hosts)
		return 0;
	n = snprintf(path, sizeof(path), "%s/.ssh/known_hosts", home);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (dup_into(&c->known_hosts[0], path) < 0)
		return -ENOMEM;
	c->n_known_hosts = 1;
	return 0;
}

/* Fill c from text (NULL: OpenSSH's defaults), the command line's values winning. */
static int fill(struct sshconf *c, const char *text, const struct sshconf_query *q)
{
	const char *host = q->host, *user = q->user, *config = q->config, *me;
	uint16_t port = q->port;
	int ret;

	if (!text)
		return fill_defaults(c, q);
	ret = sshconf_parse(c, text);
	if (ret < 0)
		return ret;
	/* ssh always prints these; should one be missing, ssh's own defaults apply. */
	if (!c->hostname)
		ret = dup_into(&c->hostname, host);
	me = user ? user : local_user();
	if (!ret && !c->user && me)
		ret = dup_into(&c->user, me);
	if (!c->port)
		c->port = port ? port : 22;
	if (!ret && config)
		ret = dup_into(&c->config_file, config);
	return ret;
}

int sshconf_resolve(struct sshconf *c, const struct sshconf_query *q, char *why, size_t whylen)
{
	char *text = NULL;
	int ret;

	memset(c, 0, sizeof(*c));
	if (whylen)
		why[0] = '\0';
	if (!q->host || !*q->host)
		return -EINVAL;
	ret = run_ssh_g(q, &text, why, whylen);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	ret = fill(c, text, q);
	free(text);
	if (ret < 0)
		sshconf_free(c);
	return ret;
}

int sshconf_resolve_cmd(struct sshconf *c, const char *cmd, const struct sshconf_query *q,
			char *why, size_t whylen)
{
	/* The command's own -F and -o decide, not sluice's (which refuses -o with -e). */
	struct sshconf_query cq = {.host = q->host, .user = q->user, .port = q->port};
	char *text = NULL;
	int ret;

	memset(c, 0, sizeof(*c));
	if (whylen)
		why[0] = '\0';
	if (!cq.host || !*cq.host || !cmd)
		return -EINVAL;
	if (strlen(cmd) > 3000)
		return -E2BIG;
	ret = run_cmd_g(cmd, &cq, &text, why, whylen);
	if (ret < 0)
		return ret;
	ret = fill(c, text, &cq);
	free(text);
	if (ret < 0)
		sshconf_free(c);
	else
		c->from_cmd = 1;
	return ret;
}
