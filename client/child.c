/*
 * child: fork/exec and reaping for the client's helper processes (see
 * child.h). The client is single-threaded, so fork is safe here.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/clock.h"

#define STOP_WAIT_MS 2000

/* Children being stopped by child_stop_tick: the next signal, and when it is due. */
static struct later {
	pid_t pid; /* 0: a free slot */
	int next;  /* 0, SIGTERM or SIGKILL: what is sent at due */
	int64_t due;
} later[CHILD_LATER_MAX];

pid_t child_start(const char *const *argv, int io, int err, bool no_tty)
{
	pid_t parent = getpid(), pid = fork();
	sigset_t none;

	if (pid != 0)
		return pid < 0 ? -errno : pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* The parent may have died before the request was in place. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(126);
	if (dup2(io, 0) < 0 || dup2(io, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (no_tty && setsid() < 0)
		_exit(126);
	execvp(argv[0], (char *const *)argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

bool child_reap(pid_t pid, int ms, int *status)
{
	int64_t end = clock_ms() + ms;
	int st = 0;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR)) {
			if (status)
				*status = r == pid ? st : 0;
			return true;
		}
		if (clock_ms() >= end)
			return false;
		usleep(10000);
	}
}

void child_stop(pid_t pid, int grace_ms)
{
	if (pid <= 0 || child_reap(pid, grace_ms, NULL))
		return;
	kill(pid, SIGTERM);
	if (!child_reap(pid, STOP_WAIT_MS, NULL)) {
		kill(pid, SIGKILL);
		child_reap(pid, STOP_WAIT_MS, NULL);
	}
}

void child_stop_later(pid_t pid, int grace_ms)
{
	size_t i;

	if (pid <= 0)
		return;
	for (i = 0; i < CHILD_LATER_MAX; i++)
		if (!later[i].pid) {
			later[i] = (struct later){pid, SIGTERM, clock_ms() + grace_ms};
			return;
		}
	child_stop(pid, grace_ms);
}

void child_stop_tick(void)
{
	int64_t now = clock_ms();
	struct later *l;
	size_t i;

	for (i = 0; i < CHILD_LATER_MAX; i++) {
		l = &later[i];
		if (!l->pid)
			continue;
		if (child_reap(l->pid, 0, NULL)) {
			l->pid = 0;
		} else if (now >= l->due && l->next) {
			kill(l->pid, l->next);
			l->next = l->next == SIGTERM ? SIGKILL : 0;
			l->due = now + STOP_WAIT_MS;
		}
	}
}

void child_stop_all(void)
{
	int64_t end = clock_ms();
	size_t i, left;

	/* child_stop_tick's own schedule, each its grace first, the waits shared. */
	for (i = 0; i < CHILD_LATER_MAX; i++)
		if (later[i].pid && later[i].due + 2 * STOP_WAIT_MS > end)
			end = later[i].due + 2 * STOP_WAIT_MS;
	for (;; usleep(10000)) {
		child_stop_tick();
		for (i = left = 0; i < CHILD_LATER_MAX; i++)
			left += later[i].pid != 0;
		if (!left || clock_ms() >= end)
			break;
	}
	/* Left after a SIGKILL: in the kernel's hands (a D state); not waited for again. */
	for (i = 0; i < CHILD_LATER_MAX; i++)
		later[i].pid = 0;
}

int child_io_open(struct child_io *io)
{
	int ret;

	io->sock[0] = io->sock[1] = io->err[0] = io->err[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io->sock) < 0 ||
	    pipe2(io->err, O_CLOEXEC) < 0) {
		ret = -errno;
		child_io_close(io);
		return ret;
	}
	return 0;
}

int child_io_keep(struct child_io *io, int *sock, int *err)
{
	close(io->sock[1]);
	close(io->err[1]);
	*sock = io->sock[0];
	*err = io->err[0];
	io->sock[0] = io->sock[1] = io->err[0] = io->err[1] = -1;
	if (fcntl(*sock, F_SETFL, O_NONBLOCK) < 0 || fcntl(*err, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

void child_io_close(struct child_io *io)
{
	for (int i = 0; i < 2; i++) {
		if (io->sock[i] >= 0)
			close(io->sock[i]);
		if (io->err[i] >= 0)
			close(io->err[i]);
		io->sock[i] = io->err[i] = -1;
	}
}
