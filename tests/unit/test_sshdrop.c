/*
 * Unit test for how ssh_connect names a server that hangs up in the
 * handshake: before its banner (sshd past MaxStartups, with a reset or an
 * end, or OpenSSH's own words for it first) is SSH_FAIL_DROPPED, which a
 * further lane may try again later; after its banner it is a failed
 * handshake like any other. A real TCP server on loopback, forked, does
 * each in turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/child.h"
#include "../../client/ssh/ssh.h"
#include "../../client/ssh/sshconf.h"
#include "../../common/log.h"
#include "t.h"

enum how { RESET, END, WORDS, BANNER_RESET, BANNER_END, N_HOW };

/* What came from the client so far, or up to its end with all; -1 on an error. */
static int drain(int c, bool all)
{
	char buf[4096];
	ssize_t n;

	do
		n = read(c, buf, sizeof(buf));
	while (all && n > 0);
	return n < 0 ? -1 : 0;
}

/*
 * The server: one connection per way, in order, each ended as it says. A
 * close with the client's bytes unread is a reset, one with none an end:
 * each way reads what it must for its own.
 */
static void __attribute__((noreturn)) serve(int ls)
{
	static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
	static const char words[] = "Exceeded MaxStartups\r\n"; /* what sshd says as it drops */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int how;

	alarm(20);
	for (how = 0; how < N_HOW; how++) {
		int c = accept(ls, NULL, NULL);

		if (c < 0)
			_exit(1);
		/*
		 * The client's banner first: a reset before it may come before
		 * the client's connect is done, and that is a failed connect.
		 */
		if ((how == RESET || how == END) && drain(c, false) < 0)
			_exit(1);
		if (how == WORDS &&
		    write(c, words, sizeof(words) - 1) != (ssize_t)sizeof(words) - 1)
			_exit(1);
		if (how == BANNER_RESET || how == BANNER_END) {
			if (write(c, banner, sizeof(banner) - 1) != (ssize_t)sizeof(banner) - 1)
				_exit(1);
			/* The client's banner and its first packet come meanwhile. */
			usleep(100000);
		}
		if (how == BANNER_RESET && drain(c, false) < 0)
			_exit(1);
		/* An end: ours first, then the client's, which comes once it gives up. */
		if (how == BANNER_END && (shutdown(c, SHUT_WR) < 0 || drain(c, true) < 0))
			_exit(1);
		if (how == RESET || how == BANNER_RESET)
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
	}
	_exit(0);
}

static void test_dropped_or_not(void)
{
	static const enum ssh_fail want[N_HOW] = {SSH_FAIL_DROPPED, SSH_FAIL_DROPPED,
						  SSH_FAIL_DROPPED, SSH_FAIL_HANDSHAKE,
						  SSH_FAIL_HANDSHAKE};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	struct sshconf cfg;
	char host[] = "127.0.0.1", err[512], kh[] = "/tmp/test_sshdrop.known_hosts.XXXXXX";
	int ls, how, st = -1, kfd;
	pid_t pid;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(ls >= 0);
	CHECK_EQ_INT(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ_INT(listen(ls, 8), 0);
	CHECK_EQ_INT(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	kfd = mkstemp(kh);
	CHECK(kfd >= 0);
	close(kfd);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		serve(ls);
	close(ls);

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = host;
	cfg.port = ntohs(a.sin_port);
	cfg.connect_timeout = 5;
	cfg.no_prompt = 1;
	for (how = 0; how < N_HOW; how++) {
		struct ssh_conn c;
		enum ssh_fail fail = SSH_FAIL_NONE;

		CHECK(ssh_connect(&c, &cfg, NULL, 0, kh, NULL, &fail, err, sizeof(err)) < 0);
		if (getenv("T_SHOW") || fail != want[how])
			fprintf(stderr, "way %d: fail %d, want %d: %s\n", how, (int)fail,
				(int)want[how], err);
		CHECK_EQ_INT(fail, want[how]);
	}
	if (!child_reap(pid, 5000, &st)) {
		kill(pid, SIGKILL);
		child_reap(pid, 5000, NULL);
		CHECK(!"the server did not see every way through");
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(kh);
}

int main(void)
{
	log_init("test_sshdrop", LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	RUN(test_dropped_or_not);
	T_EXIT();
}
