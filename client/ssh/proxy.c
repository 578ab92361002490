/*
 * proxy: the proxy child and the two ways of naming it (see proxy.h).
 */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../child.h"

#define WORDS_WAIT_MS 1000

int proxy_expand(const char *tmpl, const char *host, uint16_t port, const char *user, char *out,
		 size_t outlen)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		char num[8];
		const char *rep = NULL;
		size_t n;

		if (*p != '%') {
			if (o + 1 >= outlen)
				return -ENOSPC;
			out[o++] = *p;
			continue;
		}
		switch (*++p) {
		case 'h':
			rep = host;
			break;
		case 'p':
			snprintf(num, sizeof(num), "%u", (unsigned)port);
			rep = num;
			break;
		case 'r':
			rep = user ? user : "";
			break;
		case '%':
			rep = "%";
			break;
		default:
			/* Including a '%' at the very end: ssh refuses those too. */
			return -EINVAL;
		}
		n = strlen(rep);
		if (o + n >= outlen)
			return -ENOSPC;
		memcpy(out + o, rep, n);
		o += n;
	}
	if (o >= outlen)
		return -ENOSPC;
	out[o] = '\0';
	return 0;
}

/* The length of a command's first word (its program), at most 200. */
static int prog_len(const char *cmd)
{
	size_t n = strcspn(cmd, " \t");

	return (int)(n < 200 ? n : 200);
}

/* Copy s into buf at *o as one NUL-terminated argument; NULL when it does not fit. */
static const char *arg(char *buf, size_t buflen, size_t *o, const char *s, size_t n)
{
	char *at = buf + *o;

	if (*o + n + 1 > buflen)
		return NULL;
	memcpy(at, s, n);
	at[n] = '\0';
	*o += n + 1;
	return at;
}

int proxy_jump_args(const char *jumps, const char *host, uint16_t port, const char *config,
		    char *buf, size_t buflen, const char *argv[PROXY_ARGS_MAX])
{
	const char *last = strrchr(jumps, ','), *dest;
	char target[300];
	size_t o = 0;
	int n = 0, w;

	last = last ? last + 1 : jumps;
	if (!*last || !*host || strpbrk(jumps, " \t\n"))
		return -EINVAL;
	/* An IPv6 literal needs brackets before its port. */
	w = snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		     (unsigned)port);
	if (w < 0 || (size_t)w >= sizeof(target))
		return -ENOSPC;
	if (!(argv[n++] = arg(buf, buflen, &o, "ssh", 3)))
		return -ENOSPC;
	if (config) {
		argv[n++] = "-F";
		if (!(argv[n++] = arg(buf, buflen, &o, config, strlen(config))))
			return -ENOSPC;
	}
	if (last != jumps) {
		/* Every jump but the last, in order, is ssh's own -J. */
		argv[n++] = "-J";
		if (!(argv[n++] = arg(buf, buflen, &o, jumps, (size_t)(last - 1 - jumps))))
			return -ENOSPC;
	}
	argv[n++] = "-W";
	if (!(argv[n++] = arg(buf, buflen, &o, target, strlen(target))))
		return -ENOSPC;
	/*
	 * "user@host:port" and "[v6]:port" are destinations only in URI form
	 * (ssh's own ProxyJump parser knows them; its command line does not).
	 * "ssh://..." already is one; a bare IPv6 literal is passed as it is.
	 */
	dest = last;
	if (strncmp(last, "ssh://", 6) && strchr(last, ':') &&
	    (last[0] == '[' || strchr(last, ':') == strrchr(last, ':'))) {
		w = snprintf(target, sizeof(target), "ssh://%s", last);
		if (w < 0 || (size_t)w >= sizeof(target))
			return -ENOSPC;
		dest = target;
	}
	argv[n++] = "--";
	if (!(argv[n++] = arg(buf, buflen, &o, dest, strlen(dest))))
		return -ENOSPC;
	argv[n] = NULL;
	return n;
}

int proxy_start(struct proxy *p, const struct sshconf *cfg, int *fd, char *err, size_t errlen)
{
	char buf[4096], cmd[4096];
	const char *argv[PROXY_ARGS_MAX];
	int sp[2] = {-1, -1}, r;

	memset(p, 0, sizeof(*p));
	p->err_fd = -1;
	if (cfg->proxycommand) {
		r = proxy_expand(cfg->proxycommand, cfg->hostname, cfg->port, cfg->user, cmd + 5,
				 sizeof(cmd) - 5);
		if (r < 0) {
			/* Its program alone, as below: the rest may hold a secret with a '%' in it.
			 */
			const char *prog = cfg->proxycommand + strspn(cfg->proxycommand, " \t");

			snprintf(err, errlen, "cannot use the ProxyCommand (%.*s ...): %s",
				 prog_len(prog), prog,
				 r == -EINVAL ? "unknown %-token (sluice knows %h %p %r %%)"
					      : "too long");
			return r;
		}
		/* exec: the shell makes way for the proxy, so stopping it stops the proxy. */
		memcpy(cmd, "exec ", 5);
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = cmd;
		argv[3] = NULL;
		/* Its program alone: the rest may hold a secret, and this goes into messages. */
		snprintf(p->what, sizeof(p->what), "ProxyCommand %.*s",
			 prog_len(cmd + 5 + strspn(cmd + 5, " \t")),
			 cmd + 5 + strspn(cmd + 5, " \t"));
	} else {
		r = proxy_jump_args(cfg->proxyjump, cfg->hostname, cfg->port, cfg->config_file, buf,
				    sizeof(buf), argv);
		if (r < 0) {
			snprintf(err, errlen, "cannot use ProxyJump %s", cfg->proxyjump);
			return r;
		}
		snprintf(p->what, sizeof(p->what), "ProxyJump %.200s", cfg->proxyjump);
		/* A login that must not ask (a further lane) must not ask at the jump host either.
		 */
		if (cfg->no_prompt) {
			for (r = 0; argv[r]; r++)
				;
			if (r + 2 >= PROXY_ARGS_MAX) {
				snprintf(err, errlen, "cannot use ProxyJump %s", cfg->proxyjump);
				return -ENOSPC;
			}
			memmove(argv + 3, argv + 1, (size_t)r * sizeof(argv[0]));
			argv[1] = "-o";
			argv[2] = "BatchMode=yes";
		}
	}
	p->err_fd = memfd_create("sluice-proxy-stderr", MFD_CLOEXEC);
	if (p->err_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		r = -errno;
		goto fail;
	}
	/*
	 * A login that must not ask: ProxyJump's ssh has BatchMode above, but a
	 * ProxyCommand is anyone's program, and may ask on /dev/tty (a
	 * password, a second factor) while the user types into something else,
	 * several lanes at once. Without a terminal it cannot: it fails, and
	 * the lane is tried again slowly (lanes.c, LANE_LIMIT_PROXY).
	 */
	p->pid = child_start(argv, sp[1], p->err_fd, cfg->no_prompt);
	if (p->pid < 0) {
		r = p->pid;
		p->pid = 0;
		goto fail;
	}
	close(sp[1]);
	*fd = sp[0];
	return 0;
fail:
	snprintf(err, errlen, "starting %s: %s", p->what, strerror(-r));
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
	proxy_stop(p);
	return r;
}

static bool reaped(struct proxy *p, int ms)
{
	if (p->pid > 0 && child_reap(p->pid, ms, NULL))
		p->pid = 0;
	return p->pid == 0;
}

void proxy_last_words(struct proxy *p, char *out, size_t outlen)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	char *line, *end;

	out[0] = '\0';
	if (p->err_fd < 0 || outlen == 0)
		return;
	/* A proxy that failed usually says why and exits: give it a moment to do both. */
	reaped(p, WORDS_WAIT_MS);
	size = lseek(p->err_fd, 0, SEEK_END);
	if (size <= 0)
		return;
	n = pread(p->err_fd, buf, sizeof(buf) - 1,
		  size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	line = strrchr(buf, '\n');
	snprintf(out, outlen, "%s", line ? line + 1 : buf);
}

void proxy_stop(struct proxy *p)
{
	child_stop(p->pid, 100);
	p->pid = 0;
	if (p->err_fd >= 0)
		close(p->err_fd);
	p->err_fd = -1;
}
