/*
 * laneworker: fork a lane's worker, and its result record (see
 * laneworker.h). The client is single-threaded, so fork is safe here.
 */
#include "laneworker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/bytes.h"
#include "../../common/fdio.h"
#include "../../common/fdpass.h"
#include "../../common/log.h"
#include "../child.h"
#include "../proctitle.h"
#include "laneown.h"

#define RECORD_MAGIC 0x736c6e31u /* "sln1" */
/* Closing our ends ends a worker at once; this is for one still in its login's close. */
#define STOP_GRACE_MS 200

/* The record's flags word. */
#define FLAG_FATAL	 1u
#define FLAG_LIMIT_SHIFT 1
#define FLAG_LIMIT	 (3u << FLAG_LIMIT_SHIFT)
#define FLAG_HANDED	 8u
#define FLAGS_KNOWN	 (FLAG_FATAL | FLAG_LIMIT | FLAG_HANDED)
_Static_assert(LANE_LIMIT_PROXY <= 3, "a limit fits its bits");

/* The descriptors a worker keeps, where it keeps them: everything above is closed. */
enum { FD_SOCK = 3, FD_LOG = 4 };

/* A string in a field of cap bytes: its length, then the bytes, zero-padded. */
static void put_str(struct bwriter *w, const char *s, size_t cap)
{
	static const uint8_t zero[512];
	size_t n = strnlen(s, cap - 1);

	bwriter_u16(w, (uint16_t)n);
	bwriter_bytes(w, s, n);
	bwriter_bytes(w, zero, cap - n);
}

static void get_str(struct breader *rd, char *s, size_t cap)
{
	uint8_t field[512];
	size_t n = breader_u16(rd);

	breader_bytes(rd, field, cap);
	/* No room for it, or a NUL inside that would cut the line short of what was said. */
	if (n >= cap || memchr(field, '\0', n)) {
		rd->bad = true;
		n = 0;
	}
	memcpy(s, field, n);
	s[n] = '\0';
}

_Static_assert(sizeof(((struct laneworker_result *)0)->err) <= 512, "a field fits get_str");

size_t laneworker_encode(uint8_t *buf, size_t len, const struct laneworker_result *r)
{
	struct bwriter w;

	bwriter_init(&w, buf, len);
	bwriter_u32(&w, RECORD_MAGIC);
	bwriter_u32(&w, (uint32_t)r->status);
	bwriter_u32(&w, (r->fatal ? FLAG_FATAL : 0u) | (uint32_t)r->limit << FLAG_LIMIT_SHIFT |
			    (r->handed ? FLAG_HANDED : 0u));
	bwriter_u16(&w, r->peer.version);
	bwriter_u32(&w, r->peer.window);
	bwriter_u32(&w, r->peer.features);
	bwriter_bytes(&w, r->peer.hash, WIRE_HASH_LEN);
	put_str(&w, r->detail, sizeof(r->detail));
	put_str(&w, r->err, sizeof(r->err));
	return w.bad || w.off != LANEWORKER_RECORD_LEN ? 0 : w.off;
}

int laneworker_decode(const uint8_t *buf, size_t len, struct laneworker_result *r)
{
	struct breader rd;
	uint32_t flags;

	if (len != LANEWORKER_RECORD_LEN)
		return -EMSGSIZE;
	memset(r, 0, sizeof(*r));
	breader_init(&rd, buf, len);
	if (breader_u32(&rd) != RECORD_MAGIC)
		return -EPROTO;
	r->status = (int)breader_u32(&rd);
	flags = breader_u32(&rd);
	if (r->status > 0 || r->status < -4095 || flags & ~FLAGS_KNOWN ||
	    (flags & FLAG_LIMIT) >> FLAG_LIMIT_SHIFT > LANE_LIMIT_PROXY)
		return -EPROTO;
	r->fatal = flags & FLAG_FATAL;
	r->limit = (enum lane_limit)((flags & FLAG_LIMIT) >> FLAG_LIMIT_SHIFT);
	r->handed = flags & FLAG_HANDED;
	r->peer.version = breader_u16(&rd);
	r->peer.window = breader_u32(&rd);
	r->peer.features = breader_u32(&rd);
	breader_bytes(&rd, r->peer.hash, WIRE_HASH_LEN);
	get_str(&rd, r->detail, sizeof(r->detail));
	get_str(&rd, r->err, sizeof(r->err));
	return rd.bad || breader_left(&rd) ? -EPROTO : 0;
}

/* fd at want, close-on-exec (the worker's own children must not hold it), or -1. */
static int place(int fd, int want)
{
	if (fd < 0 || dup2(fd, want) < 0 || fcntl(want, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return want;
}

/*
 * In the child: a clean signal state, death with the parent, and no
 * descriptor of the parent's but the worker's socket (and the log file),
 * so the priv socket, the listeners and the TUN see only the parent.
 */
static void worker_setup(pid_t parent, int sock)
{
	bool only = false;
	int lf = log_file_fd(&only), s2, l2 = -1, keep;
	sigset_t none;
	int sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and the RT ones glibc keeps just fail */
	/* Writes to a parent gone are errors to handle, not a death. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * What a user or systemd sends every sluice process (Ctrl-C's SIGINT,
	 * SIGHUP, --status's SIGUSR1) is the parent's to act on: it ends the
	 * lanes in order. SIGTERM still ends a worker (laneown_run resets its
	 * streams first).
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(126);
	log_forked();
	/* Above every number the two land on, so neither is closed by the other's dup2. */
	s2 = fcntl(sock, F_DUPFD, 16);
	if (lf >= 0)
		l2 = fcntl(lf, F_DUPFD, 16);
	if (place(s2, FD_SOCK) < 0)
		_exit(126);
	keep = FD_SOCK + 1;
	if (place(l2, FD_LOG) >= 0) {
		log_to_file(FD_LOG, only);
		keep = FD_LOG + 1;
	} else {
		log_to_file(-1, false);
	}
	fd_close_from(keep);
}

/* The record; fds (two, or NULL) ride with its first byte. */
static void write_record(int sock, const uint8_t *p, size_t len, const int *fds)
{
	while (len > 0) {
		ssize_t n = fdpass_send(sock, p, len, fds, fds ? 2 : 0, MSG_NOSIGNAL);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		fds = NULL; /* they went with the first byte */
		p += n;
		len -= (size_t)n;
	}
}

/* Handed over: the lane's bytes no longer pass here. Wait for its process, and end as it did. */
static void __attribute__((noreturn)) worker_wait(pid_t child)
{
	int st;

	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			_exit(LANEWORKER_NO_STATUS);
	if (WIFEXITED(st) && WEXITSTATUS(st) < LANEWORKER_NO_STATUS)
		_exit(WEXITSTATUS(st));
	/* As transport_cmd tells a killed command: 128 + the signal. */
	if (WIFSIGNALED(st) && 128 + WTERMSIG(st) < LANEWORKER_NO_STATUS)
		_exit(128 + WTERMSIG(st));
	_exit(LANEWORKER_NO_STATUS);
}

static void __attribute__((noreturn))
worker_run(laneworker_open_fn open, void *arg, const struct laneown_cfg *own)
{
	struct laneown_cfg cfg = *own;
	struct laneworker_result r;
	uint8_t rec[LANEWORKER_RECORD_LEN];
	struct transport *t = NULL;
	int code, fds[2];

	memset(&r, 0, sizeof(r));
	open(arg, &t, &r);
	if (r.status == 0 && !t)
		r.status = -EINVAL;
	/* Its process dies with us (child_start), and so ends when we are ended. */
	if (r.status == 0 && t->ops->detach && t->child > 0 &&
	    t->ops->detach(t, &fds[0], &fds[1]) == 0)
		r.handed = true;
	write_record(FD_SOCK, rec, laneworker_encode(rec, sizeof(rec), &r), r.handed ? fds : NULL);
	if (r.handed) {
		close(fds[0]);
		close(fds[1]);
		worker_wait(t->child);
	}
	if (r.status < 0) {
		transport_close(t);
		_exit(1);
	}
	cfg.peer_window = r.peer.window;
	code = laneown_run(t, FD_SOCK, &cfg);
	transport_close(t);
	_exit(code);
}

int laneworker_start(struct laneworker *w, laneworker_open_fn open, void *arg,
		     const struct laneown_cfg *own, const char *comm, const char *title)
{
	pid_t parent = getpid(), pid;
	int sp[2], ret;

	memset(w, 0, sizeof(*w));
	w->sock = w->passed_sock = w->passed_err = -1;
	/* Messages each way, the record first: a stream's socket rides on one of its own. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(sp[0]);
		close(sp[1]);
		return ret;
	}
	if (pid == 0) {
		worker_setup(parent, sp[1]);
		proctitle_set(comm, title);
		worker_run(open, arg, own);
	}
	close(sp[1]);
	w->pid = pid;
	w->sock = sp[0];
	if (fcntl(w->sock, F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		laneworker_stop(w);
		return ret;
	}
	return 0;
}

/*
 * Descriptors that came with the record: the first message with exactly
 * two gives the stream and its stderr; any other descriptor is closed.
 */
static void take_fds(struct laneworker *w, struct fdpass_got *in)
{
	if (in->lost)
		w->truncated = true;
	if (in->n == 2 && w->passed_sock < 0) {
		w->passed_sock = in->fd[0];
		w->passed_err = in->fd[1];
		in->n = 0;
	}
	fdpass_close(in);
}

int laneworker_poll(struct laneworker *w, struct laneworker_result *r)
{
	int ret;

	if (w->got < sizeof(w->rec)) {
		struct fdpass_got in;
		/* The record is one message, whole; laneown's come after it. */
		ssize_t n = fdpass_recv(w->sock, w->rec, sizeof(w->rec), MSG_DONTWAIT, &in);

		/* What the kernel dropped for want of room is our limit, not the worker's word. */
		if (n > 0)
			take_fds(w, &in);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return n == -EINTR || n == -EAGAIN ? -EAGAIN : (int)n;
		if ((size_t)n != sizeof(w->rec))
			return -EPROTO;
		w->got = (size_t)n;
	}
	ret = laneworker_decode(w->rec, w->got, r);
	if (ret == 0 && r->handed && w->truncated)
		ret = -EMFILE;
	else if (ret == 0 && r->handed != (w->passed_sock >= 0 && w->passed_err >= 0))
		ret = -EPROTO;
	return ret;
}

int laneworker_exit(struct laneworker *w, int wait_ms, char *how, size_t len)
{
	int st = 0;

	how[0] = '\0';
	if (w->pid <= 0 || !child_reap(w->pid, wait_ms, &st))
		return -EAGAIN;
	w->pid = 0;
	if (WIFSIGNALED(st) && sigabbrev_np(WTERMSIG(st)))
		snprintf(how, len, "killed by SIG%s", sigabbrev_np(WTERMSIG(st)));
	else if (WIFSIGNALED(st))
		snprintf(how, len, "killed by signal %d", WTERMSIG(st));
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		snprintf(how, len, "exited with status %d", WEXITSTATUS(st));
	return 0;
}

void laneworker_stop(struct laneworker *w)
{
	if (w->sock >= 0)
		close(w->sock);
	if (w->passed_sock >= 0)
		close(w->passed_sock);
	if (w->passed_err >= 0)
		close(w->passed_err);
	w->sock = w->passed_sock = w->passed_err = -1;
	if (w->pid > 0) {
		/* In its login it does not read the socket: a TERM ends it there. */
		if (w->got < sizeof(w->rec))
			kill(w->pid, SIGTERM);
		child_stop_later(w->pid, STOP_GRACE_MS);
	}
	w->pid = 0;
}
