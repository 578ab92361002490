/*
 * priv_client: start the privileged part and talk to it (see
 * priv_client.h).
 */
#include "priv_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/fdio.h"
#include "../../common/fdpass.h"
#include "../../common/log.h"
#include "../../route/tun.h"
#include "../child.h"
#include "priv_main.h"
#include "priv_proto.h"

#define REPLY_WAIT_MS	  10000
#define HELLO_WAIT_MS	  30000
#define HELLO_WAIT_TTY_MS 300000 /* a person typing a password */
#define CLOSE_WAIT_MS	  5000

#define ERR_LINE_MAX 512

struct privc {
	int fd;
	pid_t pid;
	const char *how;
	bool all_users;		    /* entered through the --all-users line */
	bool confined;		    /* its HELLO: only the caller's own sockets */
	uint32_t uid;		    /* its HELLO: the caller, as the kernel told it */
	uint32_t part_pid;	    /* its HELLO: its own pid (through sudo, not ours to know) */
	char why[PRIV_WHY_MAX + 1]; /* the last refusal's reason, if it gave one */
	struct ev_io err_io;	    /* its stderr: relayed to our log a line at a time */
	struct ev_io chan_io;	    /* the channel itself, watched for the part going away */
	bool gone;		    /* the channel closed or fell out of step: nothing is held */
	bool err_watched;	    /* err_io is in the loop */
	struct evloop *loop;
	char line[ERR_LINE_MAX];
	size_t line_len;
};

int privc_privileged(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps & (1ull << 12)) != 0; /* CAP_NET_ADMIN */
}

const char *privc_how(const struct privc *p)
{
	return p->how;
}

void privc_table(const struct privc *p, char *out, size_t len)
{
	snprintf(out, len, FW_TABLE_FMT, p->part_pid);
}

bool privc_confined(const struct privc *p, uint32_t *uid)
{
	*uid = p->uid;
	return p->confined;
}

static int self_path(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);

	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

static bool in_path(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH"), *p, *e;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (e == p)
			continue;
		if (snprintf(out, len, "%.*s/%s", (int)(e - p), p, prog) < (int)len &&
		    access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* Wait until fd is readable, up to ms. 1 ready, 0 timed out, -errno. */
static int wait_in(int fd, int ms)
{
	int64_t end = clock_ms() + ms;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = end - clock_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Descriptors that came with a reply: the first one, and whether any more
 * (closed at once) or a cut-off list came too.
 */
struct got_fds {
	int fd;
	bool extra;
};

/* Like read(), keeping the first descriptor that comes along in got. */
static ssize_t read_fds(int fd, uint8_t *buf, size_t len, struct got_fds *got)
{
	struct fdpass_got in;
	ssize_t n = fdpass_recv(fd, buf, len, 0, &in);
	size_t i;

	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	got->extra |= in.lost;
	for (i = 0; i < in.n; i++) {
		if (got->fd < 0) {
			got->fd = in.fd[i];
		} else {
			close(in.fd[i]);
			got->extra = true;
		}
	}
	return n;
}

/* len bytes; with got, any descriptors that come along are kept there. */
static int read_full(int fd, uint8_t *buf, size_t len, int ms, struct got_fds *got)
{
	size_t have = 0;

	while (have < len) {
		int r = wait_in(fd, ms);
		ssize_t n;

		if (r <= 0)
			return r == 0 ? -ETIME : r;
		n = got ? read_fds(fd, buf + have, len - have, got)
			: read(fd, buf + have, len - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		have += (size_t)n;
	}
	return 0;
}

/* One message from the part: its body, at most cap bytes. Returns the body length or -errno. */
static int read_msg(int fd, uint8_t *body, size_t cap, int ms, struct got_fds *got)
{
	uint8_t hdr[PRIV_LEN_BYTES];
	struct breader r;
	uint32_t len;
	int ret = read_full(fd, hdr, sizeof(hdr), ms, got);

	if (ret < 0)
		return ret;
	breader_init(&r, hdr, sizeof(hdr));
	len = breader_u32(&r);
	if (len == 0 || len > cap)
		return -EPROTO;
	ret = read_full(fd, body, len, ms, got);
	return ret < 0 ? ret : (int)len;
}

static int start_child(struct privc *p, int io, int err)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *const argv[] = {"sluice", PRIV_ARG, p->all_users ? PRIV_ALL_USERS_ARG : NULL,
				      NULL};
		static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(io, 0) < 0 || dup2(io, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		/* A fresh image of ourselves: nothing of this process's state goes along. */
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	p->pid = pid;
	p->how = "a child process";
	return 0;
}

/* What start_sudo ran, for the error: a sudoers line names one exact path. */
static char sudo_ran[PATH_MAX + 64];

static int start_sudo(struct privc *p, int io, int errfd, bool tty, char *err, size_t errlen)
{
	char self[PATH_MAX], tool[PATH_MAX];
	const char *argv[8];
	size_t n = 0;
	pid_t pid;
	int ret = self_path(self, sizeof(self));

	if (ret < 0) {
		snprintf(err, errlen, "cannot find this program's own path: %s", strerror(-ret));
		return ret;
	}
	if (in_path("sudo", tool, sizeof(tool)))
		p->how = "sudo";
	else if (in_path("doas", tool, sizeof(tool)))
		p->how = "doas";
	else {
		snprintf(err, errlen,
			 "needs root for the firewall, and neither sudo nor doas is installed: "
			 "install sudo, or run sluice as root");
		return -ENOENT;
	}
	argv[n++] = tool;
	if (!tty)
		argv[n++] = "-n";
	else if (!strcmp(p->how, "sudo")) {
		argv[n++] = "-p";
		argv[n++] = "[sluice] password for %p (for the firewall rules): ";
	}
	argv[n++] = self;
	argv[n++] = PRIV_ARG;
	if (p->all_users)
		argv[n++] = PRIV_ALL_USERS_ARG;
	argv[n] = NULL;
	snprintf(sudo_ran, sizeof(sudo_ran), "%s%s %s %s%s", p->how, tty ? "" : " -n", self,
		 PRIV_ARG, p->all_users ? " " PRIV_ALL_USERS_ARG : "");
	pid = child_start(argv, io, errfd, false);
	if (pid < 0) {
		snprintf(err, errlen, "cannot run %s: %s", tool, strerror((int)-pid));
		return (int)pid;
	}
	p->pid = pid;
	return 0;
}

/* What it (or sudo) said on stderr before it failed, on one line, for the user (who logs it
 * escaped). */
static void said_before(struct privc *p, char *out, size_t outlen)
{
	char raw[ERR_LINE_MAX], *nl;
	ssize_t n = read(p->err_io.fd, raw, sizeof(raw) - 1);

	out[0] = '\0';
	if (n <= 0)
		return;
	while (n > 0 && raw[n - 1] == '\n')
		n--;
	raw[n] = '\0';
	while ((nl = strchr(raw, '\n')))
		*nl = ';';
	if (n > 0)
		snprintf(out, outlen, ": %s", raw);
}

int privc_start(struct privc **out, bool all_users, char *err, size_t errlen)
{
	struct privc *p;
	uint8_t body[16];
	struct breader r;
	char said[ERR_LINE_MAX + 8];
	bool tty = false;
	int sv[2], ep[2], ret, st = 0;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = p->err_io.fd = p->chan_io.fd = -1;
	p->how = "a child process";
	p->all_users = all_users;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		free(p);
		return ret;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		ret = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(p);
		return ret;
	}
	if (privc_privileged()) {
		ret = start_child(p, sv[1], ep[1]);
		if (ret < 0)
			snprintf(err, errlen, "starting the privileged part: %s", strerror(-ret));
	} else {
		int t = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
		tty = t >= 0;
		if (t >= 0)
			close(t);
		ret = start_sudo(p, sv[1], ep[1], tty, err, errlen);
	}
	close(sv[1]);
	close(ep[1]);
	p->fd = sv[0];
	p->err_io.fd = ep[0];
	if (ret < 0)
		goto fail;
	ret = read_msg(p->fd, body, sizeof(body), tty ? HELLO_WAIT_TTY_MS : HELLO_WAIT_MS, NULL);
	breader_init(&r, body, ret > 0 ? (size_t)ret : 0);
	if (ret == PRIV_HELLO_LEN && breader_u8(&r) == PRIV_HELLO &&
	    breader_u32(&r) == PRIV_VERSION) {
		p->part_pid = breader_u32(&r);
		p->uid = breader_u32(&r);
		p->confined = breader_u8(&r) & PRIV_G_CONFINED;
		*out = p;
		return 0;
	}
	if (ret >= 0)
		ret = -EPROTO;
	close(p->fd);
	p->fd = -1;
	if (ret == -EPIPE && child_reap(p->pid, CLOSE_WAIT_MS, &st) && WIFEXITED(st)) {
		said_before(p, said, sizeof(said));
		snprintf(
		    err, errlen,
		    "the firewall needs root, and the privileged part did not start (`%s` "
		    "exited with status %d%s)%s",
		    strcmp(p->how, "a child process") ? sudo_ran : p->how, WEXITSTATUS(st), said,
		    strcmp(p->how, "a child process") && !tty
			? (all_users
			       ? "; without a terminal there is no password prompt: "
				 "--all-users needs the line `sluice --sudoers-user USER "
				 "--all-users` prints, or root"
			       : "; without a terminal there is no password prompt: allow "
				 "sluice with the line `sluice --sudoers-user USER` prints, "
				 "run by this same path (the line names it), or run it as root")
			: "");
	} else {
		snprintf(err, errlen, "the privileged part did not start (through %s): %s", p->how,
			 ret == -ETIME ? "no answer" : strerror(-ret));
	}
	p->pid = child_reap(p->pid, 0, NULL) ? 0 : p->pid;
fail:
	privc_close(p);
	return ret < 0 ? ret : -EPROTO;
}

/*
 * Send one request and read its reply; for HOSTS, the shadowed bitmap goes
 * to bits. With got, descriptors the reply carries go there, and a
 * success's text to text (textlen bytes, printable only).
 */
static int call_ex(struct privc *p, const uint8_t *msg, size_t len, uint8_t *bits, size_t n_bits,
		   struct got_fds *got, char *text, size_t textlen)
{
	uint8_t body[PRIV_REPLY_MAX];
	struct breader r;
	int ret, status;
	size_t i;

	if (!p || p->fd < 0 || p->gone)
		return -EPIPE;
	p->why[0] = '\0';
	ret = fd_write_all(p->fd, msg, len);
	if (ret < 0) {
		p->gone = true;
		return ret == -ECONNRESET ? -EPIPE : ret;
	}
	ret = read_msg(p->fd, body, sizeof(body), REPLY_WAIT_MS, got);
	if (ret >= 0 && (ret < 6 || body[0] != PRIV_REPLY || body[1] != msg[PRIV_LEN_BYTES]))
		ret = -EPROTO;
	/* A late or odd reply would answer the next request: the channel is no use now. */
	if (ret < 0) {
		p->gone = true;
		return ret;
	}
	breader_init(&r, body + 2, 4);
	status = (int32_t)breader_u32(&r);
	if (bits && status >= 0 && (size_t)ret == 6 + (n_bits + 7) / 8)
		memcpy(bits, body + 6, (n_bits + 7) / 8);
	/* Its reason, printable only: it reaches our log as it is. A refusal carries no bits. */
	p->why[0] = '\0';
	for (i = 6; status < 0 && i < (size_t)ret && i - 6 < PRIV_WHY_MAX; i++) {
		p->why[i - 6] = body[i] >= ' ' && body[i] <= '~' ? (char)body[i] : '?';
		p->why[i - 5] = '\0';
	}
	for (i = 6; text && status == 0 && i < (size_t)ret && i - 6 + 1 < textlen; i++) {
		text[i - 6] = body[i] > ' ' && body[i] <= '~' ? (char)body[i] : '?';
		text[i - 5] = '\0';
	}
	return status;
}

static int call(struct privc *p, const uint8_t *msg, size_t len, uint8_t *bits, size_t n_bits)
{
	return call_ex(p, msg, len, bits, n_bits, NULL, NULL, 0);
}

static int call_spec(struct privc *p, uint8_t type, const struct fw_spec *spec, const char *label)
{
	size_t cap = priv_size_spec(spec);
	uint8_t *buf = malloc(cap);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = type == PRIV_INSTALL ? priv_put_install(buf, cap, spec, label)
	      : type == PRIV_CHECK ? priv_put_check(buf, cap, spec, label)
				   : priv_put_update(buf, cap, spec);
	if (ret > 0)
		ret = call(p, buf, (size_t)ret, NULL, 0);
	free(buf);
	return ret;
}

int privc_install(struct privc *p, const struct fw_spec *spec, const char *label)
{
	return call_spec(p, PRIV_INSTALL, spec, label);
}

int privc_check(struct privc *p, const struct fw_spec *spec, const char *label)
{
	return call_spec(p, PRIV_CHECK, spec, label);
}

int privc_update(struct privc *p, const struct fw_spec *spec)
{
	return call_spec(p, PRIV_UPDATE, spec, NULL);
}

const char *privc_why(const struct privc *p)
{
	return p && p->why[0] ? p->why : NULL;
}

int privc_hosts(struct privc *p, struct hosts_entry *e, size_t n)
{
	uint8_t bits[PRIV_HOSTS_MAX / 8] = {0};
	struct priv_host *h;
	size_t cap = priv_size_hosts(n), i;
	uint8_t *buf;
	int ret = -ENOMEM;

	if (n > PRIV_HOSTS_MAX)
		return -E2BIG;
	h = calloc(n + 1, sizeof(*h));
	buf = malloc(cap);
	if (!h || !buf)
		goto out;
	for (i = 0; i < n; i++) {
		h[i].family = strchr(e[i].addr, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(h[i].family, e[i].addr, h[i].addr) != 1) {
			ret = -EINVAL;
			goto out;
		}
		snprintf(h[i].name, sizeof(h[i].name), "%s", e[i].name);
	}
	ret = priv_put_hosts(buf, cap, h, n);
	if (ret > 0)
		ret = call(p, buf, (size_t)ret, bits, n);
	for (i = 0; ret == 0 && i < n; i++)
		e[i].shadowed = (bits[i / 8] >> (i % 8)) & 1;
out:
	free(h);
	free(buf);
	return ret;
}

int privc_ct_flush(struct privc *p)
{
	uint8_t buf[8];
	int ret = priv_put_ct_flush(buf, sizeof(buf));

	return ret < 0 ? ret : call(p, buf, (size_t)ret, NULL, 0);
}

int privc_tun(struct privc *p, int *fd, char *name, size_t len)
{
	struct got_fds got = {.fd = -1};
	uint8_t buf[8];
	int ret = priv_put_tun(buf, sizeof(buf));

	*fd = -1;
	if (len)
		name[0] = '\0';
	if (ret < 0)
		return ret;
	ret = call_ex(p, buf, (size_t)ret, NULL, 0, &got, name, len);
	/* Exactly one descriptor, of a TUN device attached to the name given. */
	if (ret == 0 && (got.fd < 0 || got.extra || !name[0] || tun_check(got.fd, name) < 0))
		ret = -EPROTO;
	if (ret < 0) {
		if (got.fd >= 0)
			close(got.fd);
		return ret;
	}
	*fd = got.fd;
	return 0;
}

int privc_remove(struct privc *p)
{
	uint8_t buf[8];
	int ret = priv_put_remove(buf, sizeof(buf));

	return ret < 0 ? ret : call(p, buf, (size_t)ret, NULL, 0);
}

/* One of its log lines becomes ours (log_msg escapes it), cut at ERR_LINE_MAX. */
static void relay_line(struct privc *p)
{
	log_warn("%.*s", (int)p->line_len, p->line);
	p->line_len = 0;
}

/* Bytes from its stderr: whole lines are relayed, the rest waits for its newline. */
static void take_stderr(struct privc *p, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\n')
			relay_line(p);
		else if (p->line_len < sizeof(p->line))
			p->line[p->line_len++] = buf[i];
	}
}

/* What it said while going away (it is gone, or nearly): relayed without waiting. */
static void drain_stderr(struct privc *p)
{
	char buf[4096];
	ssize_t n;
	int fl = fcntl(p->err_io.fd, F_GETFL), rounds;

	if (fl < 0 || fcntl(p->err_io.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return;
	for (rounds = 0; rounds < 16 && (n = read(p->err_io.fd, buf, sizeof(buf))) > 0; rounds++)
		take_stderr(p, buf, (size_t)n);
	if (p->line_len)
		relay_line(p);
}

void privc_close(struct privc *p)
{
	if (!p)
		return;
	if (p->loop && p->chan_io.fd >= 0)
		evloop_del(p->loop, &p->chan_io);
	if (p->fd >= 0)
		close(p->fd);
	/* It removes everything on EOF; wait, so that is done when we exit. */
	if (p->pid > 0 && !child_reap(p->pid, CLOSE_WAIT_MS, NULL) &&
	    !strcmp(p->how, "a child process"))
		child_stop(p->pid, 0);
	if (p->err_io.fd >= 0) {
		if (p->err_watched)
			evloop_del(p->loop, &p->err_io);
		drain_stderr(p);
		close(p->err_io.fd);
	}
	free(p);
}

/* Its log lines become ours as they come. */
static void on_stderr(struct ev_io *io, uint32_t events)
{
	struct privc *p = (struct privc *)((char *)io - offsetof(struct privc, err_io));
	char buf[4096];
	ssize_t n;

	n = read(io->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN) {
			if (p->line_len)
				relay_line(p);
			evloop_del(p->loop, io);
			p->err_watched = false;
			/* Its stderr ends when it does. */
			p->gone = true;
		}
		return;
	}
	take_stderr(p, buf, (size_t)n);
}

/* The part never speaks unasked: any event on the channel between calls is its end. */
static void on_channel(struct ev_io *io, uint32_t events)
{
	struct privc *p = (struct privc *)((char *)io - offsetof(struct privc, chan_io));

	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR | EPOLLIN)) {
		p->gone = true;
		evloop_del(p->loop, io);
		p->chan_io.fd = -1;
	}
}

int privc_watch(struct privc *p, struct evloop *loop)
{
	int fl = fcntl(p->err_io.fd, F_GETFL), ret;

	if (fl < 0 || fcntl(p->err_io.fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	p->err_io.cb = on_stderr;
	p->loop = loop;
	ret = evloop_add(loop, &p->err_io, EPOLLIN);
	if (ret < 0)
		return ret;
	p->err_watched = true;
	p->chan_io = (struct ev_io){p->fd, on_channel};
	return evloop_add(loop, &p->chan_io, EPOLLRDHUP);
}

bool privc_gone(const struct privc *p)
{
	return p && p->gone;
}

/* Characters sudoers would read as syntax, or a shell as more than a path. */
static bool sudoers_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("/._-+", *s)))
			return false;
	return true;
}

/* Anyone but root who can replace the program could run anything as root through the line. */
static int path_owned_by_root(const char *path, char *bad, size_t badlen)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	for (;;) {
		if (stat(dir, &st) < 0)
			return -errno;
		/*
		 * Sticky or not: a sticky directory keeps others from replacing
		 * root's file only while it exists. Once it goes (/tmp emptied
		 * at boot), anyone may put their own under the name sudo runs.
		 */
		if (st.st_uid != 0 || st.st_mode & (S_IWGRP | S_IWOTH)) {
			snprintf(bad, badlen, "%s", dir);
			return -EPERM;
		}
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	return stat("/", &st) == 0 && st.st_uid == 0 ? 0 : -EPERM;
}

/*
 * Whom a line names: a user, or "%group" for every member. A leading '-'
 * or '+' would read as an option or a netgroup; the name must also exist,
 * so a typo does not become a line that grants nothing, or someone later.
 */
static int sudoers_who(const char *who, char *err, size_t errlen)
{
	bool group = who[0] == '%';
	const char *name = group ? who + 1 : who;

	if (!*name || !sudoers_safe(name) || name[0] == '-' || name[0] == '+' ||
	    (group ? !getgrnam(name) : !getpwnam(name))) {
		snprintf(err, errlen, "--sudoers-user: no such %s '%s'", group ? "group" : "user",
			 name);
		return -EINVAL;
	}
	return 0;
}

int privc_sudoers_line(const char *who, const char *self, bool all_users, char *out, size_t outlen)
{
	const char *name = who[0] == '%' ? who + 1 : who;
	size_t used;
	int ret;

	/* The comments say what the line grants, in the words of whom it names. */
	if (who[0] == '%' && all_users)
		ret = snprintf(
		    out, outlen,
		    "# Lets members of group %s start sluice's privileged part as root, and\n"
		    "# nothing else, with the power to capture EVERY local user's connections\n"
		    "# (root's too) and other hosts' (router mode): give it only to a group\n"
		    "# whose members you would all trust with that.\n"
		    "# Put it in its own file: visudo -f /etc/sudoers.d/sluice-group-%s-all\n",
		    name, name);
	else if (who[0] == '%')
		ret = snprintf(
		    out, outlen,
		    "# Lets members of group %s start sluice's privileged part as root, and\n"
		    "# nothing else. Each captures only their own connections; root's and\n"
		    "# other users' are never touched, and router mode is refused.\n"
		    "# Put it in its own file: visudo -f /etc/sudoers.d/sluice-group-%s\n",
		    name, name);
	else if (all_users)
		ret = snprintf(
		    out, outlen,
		    "# Lets %s start sluice's privileged part as root, and nothing else, with\n"
		    "# the power to capture EVERY local user's connections (root's too) and\n"
		    "# other hosts' (router mode): give it only to whom you would trust with "
		    "that.\n"
		    "# Put it in its own file: visudo -f /etc/sudoers.d/sluice-%s-all\n",
		    name, name);
	else
		ret = snprintf(
		    out, outlen,
		    "# Lets %s start sluice's privileged part as root, and nothing else. It\n"
		    "# captures only %s's own connections; root's and other users' are never\n"
		    "# touched, and router mode is refused.\n"
		    "# Put it in its own file: visudo -f /etc/sudoers.d/sluice-%s\n",
		    name, name, name);
	if (ret < 0 || (size_t)ret >= outlen)
		return -ENOSPC;
	used = (size_t)ret;
	ret = snprintf(out + used, outlen - used, "%s ALL=(root) NOPASSWD: %s %s%s%s\n", who, self,
		       PRIV_ARG, all_users ? " " : "", all_users ? PRIV_ALL_USERS_ARG : "");
	return ret < 0 || (size_t)ret >= outlen - used ? -ENOSPC : 0;
}

int privc_sudoers(const char *who, bool all_users, char *out, size_t outlen, char *err,
		  size_t errlen)
{
	char self[PATH_MAX], bad[PATH_MAX] = "";
	int ret = sudoers_who(who, err, errlen);

	if (ret < 0)
		return ret;
	ret = self_path(self, sizeof(self));
	if (ret < 0) {
		snprintf(err, errlen, "cannot find this program's own path: %s", strerror(-ret));
		return ret;
	}
	if (!sudoers_safe(self)) {
		snprintf(err, errlen,
			 "--sudoers-user: the path %s has characters sudoers would misread", self);
		return -EINVAL;
	}
	if (path_owned_by_root(self, bad, sizeof(bad)) < 0) {
		snprintf(err, errlen,
			 "--sudoers-user: %s is not root's alone (owned or writable by another "
			 "user), so the line would let that user run anything as root; install "
			 "sluice in a root-owned place first (make install)",
			 bad[0] ? bad : self);
		return -EPERM;
	}
	ret = privc_sudoers_line(who, self, all_users, out, outlen);
	if (ret < 0)
		snprintf(err, errlen, "--sudoers-user: the line is too long");
	return ret;
}

const char *privc_strerror(int err)
{
	switch (err) {
	case -EPIPE:
		return "the privileged part is gone (it removes everything when it exits)";
	case -ETIME:
		return "the privileged part did not answer";
	case -EPERM:
		return "the privileged part refused it";
	default:
		return fw_strerror(err);
	}
}
