/*
 * Unit tests for ProxyCommand and ProxyJump: %-expansion, the ssh command
 * line a ProxyJump becomes, ssh -G's proxy lines, and a real proxy child
 * (a shell) carrying bytes and explaining its failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../client/ssh/proxy.h"
#include "../../client/ssh/sshconf.h"
#include "t.h"

static void test_expand(void)
{
	char out[128];

	CHECK_EQ_INT(proxy_expand("nc %h %p", "db.example", 2222, "ann", out, sizeof(out)), 0);
	CHECK_STR(out, "nc db.example 2222");
	CHECK_EQ_INT(proxy_expand("%r@%h:%p 100%%", "h", 22, "ann", out, sizeof(out)), 0);
	CHECK_STR(out, "ann@h:22 100%");
	CHECK_EQ_INT(proxy_expand("x %r y", "h", 22, NULL, out, sizeof(out)), 0);
	CHECK_STR(out, "x  y");
	/* Tokens ssh has but we do not know, and a lone '%' at the end, are refused. */
	CHECK_EQ_INT(proxy_expand("nc %n", "h", 22, NULL, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(proxy_expand("nc %", "h", 22, NULL, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(proxy_expand("nc %h", "a-long-host-name", 22, NULL, out, 8), -ENOSPC);
	CHECK_EQ_INT(proxy_expand("abcdefgh", "h", 22, NULL, out, 8), -ENOSPC);
}

static void join(const char *const *argv, int n, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "", argv[i]);
}

static void test_jump_args(void)
{
	char buf[1024], line[512];
	const char *argv[PROXY_ARGS_MAX];
	int n;

	n = proxy_jump_args("bastion", "10.1.2.3", 22, NULL, buf, sizeof(buf), argv);
	join(argv, n, line, sizeof(line));
	CHECK_STR(line, "ssh -W 10.1.2.3:22 -- bastion");
	CHECK(argv[n] == NULL);
	/* Chained: all but the last through ssh's own -J; the config file passed on. */
	n = proxy_jump_args("j1,ann@j2:2022,j3", "inner", 2222, "/etc/cfg", buf, sizeof(buf), argv);
	join(argv, n, line, sizeof(line));
	CHECK_STR(line, "ssh -F /etc/cfg -J j1,ann@j2:2022 -W inner:2222 -- j3");
	/* A port or an IPv6 literal on the last jump: URI form. */
	n = proxy_jump_args("ann@gate:2200", "2001:db8::5", 22, NULL, buf, sizeof(buf), argv);
	join(argv, n, line, sizeof(line));
	CHECK_STR(line, "ssh -W [2001:db8::5]:22 -- ssh://ann@gate:2200");
	n = proxy_jump_args("[2001:db8::1]:22", "h", 22, NULL, buf, sizeof(buf), argv);
	join(argv, n, line, sizeof(line));
	CHECK_STR(line, "ssh -W h:22 -- ssh://[2001:db8::1]:22");
	n = proxy_jump_args("ssh://gate:2", "h", 22, NULL, buf, sizeof(buf), argv);
	join(argv, n, line, sizeof(line));
	CHECK_STR(line, "ssh -W h:22 -- ssh://gate:2");
	/* Nothing that could smuggle an option or a second word. */
	CHECK_EQ_INT(
	    proxy_jump_args("gate -oProxyCommand=x", "h", 22, NULL, buf, sizeof(buf), argv),
	    -EINVAL);
	CHECK_EQ_INT(proxy_jump_args("j1,", "h", 22, NULL, buf, sizeof(buf), argv), -EINVAL);
	CHECK_EQ_INT(proxy_jump_args("gate", "h", 22, NULL, buf, 8, argv), -ENOSPC);
}

static void test_sshconf_proxy_lines(void)
{
	struct sshconf c;

	CHECK_EQ_INT(sshconf_parse(&c, "hostname inner\nport 2222\nuser ann\n"
				       "proxyjump j1,j2\nproxycommand nc %h %p\n"
				       "proxyusefdpass no\n"),
		     0);
	CHECK_STR(c.proxyjump, "j1,j2");
	CHECK_STR(c.proxycommand, "nc %h %p");
	sshconf_free(&c);
	CHECK(c.proxyjump == NULL && c.proxycommand == NULL);
	/* Unset, or "none": no proxy. */
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nproxyusefdpass no\n"), 0);
	CHECK(c.proxyjump == NULL && c.proxycommand == NULL);
	sshconf_free(&c);
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nproxycommand none\nproxyjump NONE\n"), 0);
	CHECK(c.proxyjump == NULL && c.proxycommand == NULL);
	sshconf_free(&c);
}

/* A ProxyCommand that is a shell: it must see the expanded tokens and carry bytes both ways. */
static void test_proxy_command_runs(void)
{
	struct sshconf cfg;
	struct proxy p;
	char err[256], buf[128], words[256];
	ssize_t n;
	size_t got = 0;
	int fd = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "inner.test";
	cfg.port = 2222;
	cfg.user = "ann";
	cfg.proxycommand = "sh -c 'echo at %r@%h:%p; read x; echo got $x'";
	CHECK_EQ_INT(proxy_start(&p, &cfg, &fd, err, sizeof(err)), 0);
	CHECK(p.pid > 0);
	CHECK(write(fd, "ping\n", 5) == 5);
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	CHECK_STR(buf, "at ann@inner.test:2222\ngot ping\n");
	close(fd);
	proxy_stop(&p);
	CHECK(p.pid == 0 && p.err_fd == -1);

	/* One that fails: its last words are what the user gets. */
	cfg.proxycommand = "sh -c 'echo first >&2; echo \"connect to %h port %p: refused\" >&2; "
			   "exit 1'";
	CHECK_EQ_INT(proxy_start(&p, &cfg, &fd, err, sizeof(err)), 0);
	proxy_last_words(&p, words, sizeof(words));
	CHECK_STR(words, "connect to inner.test port 2222: refused");
	CHECK(strstr(p.what, "ProxyCommand") != NULL);
	close(fd);
	proxy_stop(&p);

	/* A bad token is refused before anything runs. */
	cfg.proxycommand = "nc %n";
	CHECK_EQ_INT(proxy_start(&p, &cfg, &fd, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "%-token") != NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_expand);
	RUN(test_jump_args);
	RUN(test_sshconf_proxy_lines);
	RUN(test_proxy_command_runs);
	T_EXIT();
}
