/*
 * test_opts: the client's command line, good and bad, including the exact
 * one-line messages a user sees for a few bad values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "../../client/opts.h"
#include "t.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS     64

static char err[256];
static char out_text[8192];

/*
 * Runs opts_parse on a NULL-terminated list. getopt permutes argv, so it
 * gets a private copy; help and version text land in out_text.
 */
static int parse_list(struct opts *o, const char *const *args)
{
	char *argv[MAX_ARGS + 2];
	FILE *out;
	int argc = 0, ret;

	argv[argc++] = "sluice";
	for (; args[argc - 1]; argc++) {
		if (argc > MAX_ARGS)
			return -E2BIG;
		argv[argc] = (char *)args[argc - 1];
	}
	argv[argc] = NULL;
	memset(out_text, 0, sizeof(out_text));
	out = fmemopen(out_text, sizeof(out_text) - 1, "w");
	if (!out)
		return -ENOMEM;
	ret = opts_parse(o, argc, argv, out, err, sizeof(err));
	fclose(out);
	return ret;
}

#define PARSE(o, ...) parse_list((o), (const char *const[]){__VA_ARGS__, NULL})

static void test_basic(void)
{
	struct opts o;
	char buf[SUBNET_STRLEN];

	CHECK_EQ_INT(PARSE(&o, "-r", "bob@host.test:2222", "10.0.0.0/8", "[2001:db8::]/32:443"),
		     OPTS_RUN);
	CHECK_STR(err, "");
	CHECK_STR(o.remote_user, "bob");
	CHECK_STR(o.remote_host, "host.test");
	CHECK_EQ_INT(o.remote_port, 2222);
	CHECK_EQ_INT(o.n_include, 2);
	CHECK_EQ_INT(subnet_format(&o.include[0], buf, sizeof(buf)), 0);
	CHECK_STR(buf, "10.0.0.0/8");
	CHECK_EQ_INT(subnet_format(&o.include[1], buf, sizeof(buf)), 0);
	CHECK_STR(buf, "[2001:db8::]/32:443");
	CHECK_EQ_INT(o.n_exclude, 0);
	CHECK_EQ_INT(o.n_listen, 0);
	CHECK_EQ_INT(o.n_identity, 0);
	CHECK(o.ssh_config == NULL && o.known_hosts == NULL);
	CHECK(!o.quiet && !o.auto_nets && !o.auto_hosts && !o.dns);
	CHECK_EQ_INT(o.verbose, 0);
	opts_free(&o);
	/* Freeing twice is harmless: opts_free leaves a zeroed struct. */
	opts_free(&o);
	CHECK(o.include == NULL && o.remote_host == NULL);
}

static void test_everything(void)
{
	struct opts o;
	char buf[SUBNET_STRLEN];

	/* Options after positional arguments too, as sshuttle allows. */
	CHECK_EQ_INT(PARSE(&o, "0/0", "-vv", "--remote=host", "-x", "192.0.2.0/24", "--exclude",
			   "[2001:db8::1]", "-F", "/tmp/cfg", "-i", "/k1", "--identity", "/k2",
			   "--known-hosts", "/kh", "-v", "-q", "-N", "--auto-hosts", "--dns",
			   "--ssh-config", "/tmp/cfg2"),
		     OPTS_RUN);
	CHECK_STR(err, "");
	CHECK_STR(o.remote_host, "host");
	CHECK(o.remote_user == NULL);
	CHECK_EQ_INT(o.remote_port, 0);
	CHECK_EQ_INT(o.n_include, 1);
	CHECK_EQ_INT(o.n_exclude, 2);
	CHECK_EQ_INT(subnet_format(&o.exclude[0], buf, sizeof(buf)), 0);
	CHECK_STR(buf, "192.0.2.0/24");
	CHECK_EQ_INT(subnet_format(&o.exclude[1], buf, sizeof(buf)), 0);
	CHECK_STR(buf, "[2001:db8::1]/128");
	CHECK_STR(o.ssh_config, "/tmp/cfg2");
	CHECK_EQ_INT(o.n_identity, 2);
	CHECK_STR(o.identity[0], "/k1");
	CHECK_STR(o.identity[1], "/k2");
	CHECK_STR(o.known_hosts, "/kh");
	CHECK_EQ_INT(o.verbose, 3);
	CHECK(o.quiet && o.auto_nets && o.auto_hosts && o.dns);
	opts_free(&o);

	/* -N stands in for subnets. */
	CHECK_EQ_INT(PARSE(&o, "-N", "-r", "h"), OPTS_RUN);
	CHECK_EQ_INT(o.n_include, 0);
	CHECK(o.auto_nets);
	opts_free(&o);

	/* "--" ends the options. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.n_include, 1);
	opts_free(&o);
}

static const struct {
	const char *arg, *user, *host;
	int port;
} remotes[] = {
    {"host", NULL, "host", 0},
    {"host:22", NULL, "host", 22},
    {"alice@192.0.2.1", "alice", "192.0.2.1", 0},
    {"alice@192.0.2.1:65535", "alice", "192.0.2.1", 65535},
    {"user@[2001:db8::1]:2222", "user", "2001:db8::1", 2222},
    {"[2001:db8::1]", NULL, "2001:db8::1", 0},
    {"2001:db8::1", NULL, "2001:db8::1", 0},
    {"u@2001:db8::1", "u", "2001:db8::1", 0},
    {"a@b@host", "a@b", "host", 0},
    {"first.last@host.test", "first.last", "host.test", 0},
};

static void test_ssh_option(void)
{
	static const char *const bad[] = {
	    "StrictHostKeyChecking", "=no", "Port=", "Port =  ", "Us-er=x", "User=a\nHost b"};
	struct opts o;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-o", "StrictHostKeyChecking=accept-new", "--ssh-option",
			   "Port 2222", "-oUser = bob", "10/8"),
		     OPTS_RUN);
	CHECK_EQ_INT(o.n_ssh_opt, 3);
	CHECK_STR(o.ssh_opt[0], "StrictHostKeyChecking=accept-new");
	CHECK_STR(o.ssh_opt[1], "Port 2222");
	CHECK_STR(o.ssh_opt[2], "User = bob");
	opts_free(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(PARSE(&o, "-r", "h", "-o", bad[i], "10/8"), -EINVAL);
		CHECK(strstr(err, "-o") != NULL);
	}
	/* The command checks its own host keys: the option would silently do nothing. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "ssh", "-o", "Port=2", "10/8"), -EINVAL);
	CHECK(strstr(err, "-o does not apply with -e") != NULL);
}

static void test_remote(void)
{
	struct opts o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(remotes); i++) {
		CHECK_EQ_INT(PARSE(&o, "-r", remotes[i].arg, "10/8"), OPTS_RUN);
		if (remotes[i].user)
			CHECK_STR(o.remote_user, remotes[i].user);
		else
			CHECK(o.remote_user == NULL);
		CHECK_STR(o.remote_host, remotes[i].host);
		CHECK_EQ_INT(o.remote_port, remotes[i].port);
		opts_free(&o);
	}
}

static const struct {
	const char *arg, *msg;
} bad_remotes[] = {
    {"", "bad remote '': empty host"},
    {"@host", "bad remote '@host': empty user name"},
    {"user@", "bad remote 'user@': empty host"},
    {":22", "bad remote ':22': empty host"},
    {"host:0", "bad remote 'host:0': port must be 1-65535"},
    {"host:70000", "bad remote 'host:70000': port must be 1-65535"},
    {"host:", "bad remote 'host:': port must be 1-65535"},
    {"host:22x", "bad remote 'host:22x': port must be 1-65535"},
    {"[2001:db8::1", "bad remote '[2001:db8::1': missing ']'"},
    {"[2001:db8::1]x", "bad remote '[2001:db8::1]x': unexpected 'x'"},
    {"[]:22", "bad remote '[]:22': empty host"},
    {"my host", "bad remote 'my host': spaces in host"},
    /* Never an option of the ssh command line it ends up in. */
    {"-oProxyCommand=x", "bad remote '-oProxyCommand=x': starts with '-'"},
    {"-lroot@host", "bad remote '-lroot@host': starts with '-'"},
    {"user@-host", "bad remote 'user@-host': starts with '-'"},
};

static void test_remote_bad(void)
{
	struct opts o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad_remotes); i++) {
		CHECK_EQ_INT(PARSE(&o, "-r", bad_remotes[i].arg, "10/8"), -EINVAL);
		CHECK_STR(err, bad_remotes[i].msg);
		CHECK(o.remote_host == NULL && o.include == NULL);
	}
	CHECK_EQ_INT(PARSE(&o, "-r", "a", "-r", "b", "10/8"), -EINVAL);
	CHECK_STR(err, "-r given twice");
}

static void check_sa(const struct sockaddr_storage *ss, const char *want_addr, int want_port)
{
	char a[INET6_ADDRSTRLEN] = "";
	int port = -1;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
	}
	CHECK_STR(a, want_addr);
	CHECK_EQ_INT(port, want_port);
}

static void test_listen(void)
{
	struct opts o;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-l", "1234", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.n_listen, 2);
	check_sa(&o.listen[0], "127.0.0.1", 1234);
	check_sa(&o.listen[1], "::1", 1234);
	opts_free(&o);

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-l", "0.0.0.0:1234", "--listen", "[::]:1234", "10/8"),
		     OPTS_RUN);
	CHECK_EQ_INT(o.n_listen, 2);
	check_sa(&o.listen[0], "0.0.0.0", 1234);
	check_sa(&o.listen[1], "::", 1234);
	opts_free(&o);

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-l", "192.0.2.1,[2001:db8::1],0", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.n_listen, 4);
	check_sa(&o.listen[0], "192.0.2.1", 0);
	check_sa(&o.listen[1], "2001:db8::1", 0);
	check_sa(&o.listen[2], "127.0.0.1", 0);
	check_sa(&o.listen[3], "::1", 0);
	opts_free(&o);

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-l", "127.0.0.1:0,[::1]:65535", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.n_listen, 2);
	check_sa(&o.listen[0], "127.0.0.1", 0);
	check_sa(&o.listen[1], "::1", 65535);
	opts_free(&o);
}

static const struct {
	const char *arg, *msg;
} bad_listen[] = {
    {"", "bad listen address '': empty"},
    {"1234,", "bad listen address '': empty"},
    {"70000", "bad listen address '70000': port must be 0-65535"},
    {"127.0.0.1:x", "bad listen address '127.0.0.1:x': port must be 0-65535"},
    {"127.0.0.1:", "bad listen address '127.0.0.1:': port must be 0-65535"},
    {"1.2.3:80", "bad listen address '1.2.3:80': not an IPv4 address"},
    {"localhost:80", "bad listen address 'localhost:80': not an IPv4 address"},
    {"::1", "bad listen address '::1': put IPv6 addresses in brackets"},
    {"[::1", "bad listen address '[::1': missing ']'"},
    {"[::1]80", "bad listen address '[::1]80': unexpected text after ']'"},
    {"[1.2.3.4]:80", "bad listen address '[1.2.3.4]:80': not an IPv6 address"},
    {"1,2,3", "too many listen addresses (at most 4)"},
};

static void test_listen_bad(void)
{
	struct opts o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad_listen); i++) {
		CHECK_EQ_INT(PARSE(&o, "-r", "h", "-l", bad_listen[i].arg, "10/8"),
			     i + 1 == ARRAY_LEN(bad_listen) ? -ENOSPC : -EINVAL);
		CHECK_STR(err, bad_listen[i].msg);
	}
}

static void test_errors(void)
{
	struct opts o;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10.0.0.0/33"), -EINVAL);
	CHECK_STR(err, "bad subnet '10.0.0.0/33': prefix length must be 0-32");
	CHECK(o.include == NULL && o.remote_host == NULL);

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-x", "[::]/200"), -EINVAL);
	CHECK_STR(err, "bad exclude '[::]/200': prefix length must be 0-128");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8:9-8"), -EINVAL);
	CHECK_STR(err, "bad subnet '10/8:9-8': port range 9-8 is backwards");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "not a subnet"), -EINVAL);
	CHECK_STR(err, "bad subnet 'not a subnet': not an address or host name");

	CHECK_EQ_INT(
	    PARSE(&o, "-r", "h", "-H", "--seed-hosts", "dc1.corp.local,app.localhost", "10/8"),
	    -EINVAL);
	CHECK_STR(err, "bad seed host 'app.localhost': the name means this machine wherever it is "
		       "looked up");

	CHECK_EQ_INT(PARSE(&o, "10/8"), -EINVAL);
	CHECK_STR(err, "-r is required");

	CHECK_EQ_INT(PARSE(&o, "-r", "h"), -EINVAL);
	CHECK_STR(err, "no subnets given (and no -N)");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--bogus", "10/8"), -EINVAL);
	CHECK_STR(err, "unknown option '--bogus'");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--bogus=1", "10/8"), -EINVAL);
	CHECK_STR(err, "unknown option '--bogus'");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-z", "10/8"), -EINVAL);
	CHECK_STR(err, "unknown option '-z'");

	/* Stops inside a cluster, after a long option: the culprit is still -z. */
	CHECK_EQ_INT(PARSE(&o, "--dns", "-vzv", "-r", "h", "10/8"), -EINVAL);
	CHECK_STR(err, "unknown option '-z'");

	CHECK_EQ_INT(PARSE(&o, "10/8", "-r"), -EINVAL);
	CHECK_STR(err, "option '-r' needs a value");

	CHECK_EQ_INT(PARSE(&o, "10/8", "-vr"), -EINVAL);
	CHECK_STR(err, "option '-r' needs a value");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--known-hosts"), -EINVAL);
	CHECK_STR(err, "option '--known-hosts' needs a value");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--remote"), -EINVAL);
	CHECK_STR(err, "option '--remote' needs a value");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--dns=yes"), -EINVAL);
	CHECK_STR(err, "option '--dns' takes no value");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--quiet=1"), -EINVAL);
	CHECK_STR(err, "option '--quiet' takes no value");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-i", "1", "-i", "2", "-i", "3", "-i", "4", "-i",
			   "5", "-i", "6", "-i", "7", "-i", "8", "-i", "9", "-i", "10", "-i", "11",
			   "-i", "12", "-i", "13", "-i", "14", "-i", "15", "-i", "16", "-i", "17"),
		     -ENOSPC);
	CHECK_STR(err, "too many -i (at most 16)");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--direct"), -EINVAL);
	CHECK_STR(err, "--direct needs -e: OpenSSH's ssh relays the connections");

	/* After all those half-finished parses, a clean one still works. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.n_include, 1);
	CHECK(!o.direct);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "ssh", "--direct", "10/8"), OPTS_RUN);
	CHECK(o.direct);
	opts_free(&o);
}

/* --lanes: a small count, only for sluice's own client. */
static void test_lanes(void)
{
	struct opts o;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.lanes, 0);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "3", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.lanes, 3);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes=8", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.lanes, 8);
	opts_free(&o);
	/* Through -e, further lanes go through OpenSSH's ControlMaster. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "ssh -J b", "--lanes", "2", "10/8"), OPTS_RUN);
	CHECK_EQ_INT(o.lanes, 2);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "nc", "--lanes", "1", "10/8"), OPTS_RUN);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "nc", "--lanes", "2", "10/8"), -EINVAL);
	CHECK_STR(err, "--lanes with -e needs OpenSSH's ssh: further lanes go through its "
		       "ControlMaster");

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "0", "10/8"), -EINVAL);
	CHECK_STR(err, "--lanes: '0' is not a number of lanes (1 to 8)");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "9", "10/8"), -EINVAL);
	CHECK_STR(err, "--lanes: '9' is not a number of lanes (1 to 8)");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "2x", "10/8"), -EINVAL);
	CHECK_STR(err, "--lanes: '2x' is not a number of lanes (1 to 8)");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "-1", "10/8"), -EINVAL);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "ssh", "--direct", "--lanes", "2", "10/8"),
		     -EINVAL);
}

/* --interactive-ports: a list of ports and ranges, or none; the default without it. */
static void test_interactive_ports(void)
{
	struct opts_ports r[OPTS_MAX_PORTS];
	char buf[OPTS_PORTS_TEXT];
	struct opts o;
	size_t i, n;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8"), OPTS_RUN);
	opts_format_ports(o.interactive, o.n_interactive, buf, sizeof(buf));
	CHECK_STR(buf, OPTS_INTERACTIVE_DEFAULT);
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--interactive-ports", "2222,60000-60010,22", "10/8"),
		     OPTS_RUN);
	CHECK_EQ_INT((int)o.n_interactive, 3);
	CHECK_EQ_INT(o.interactive[1].lo, 60000);
	CHECK_EQ_INT(o.interactive[1].hi, 60010);
	opts_format_ports(o.interactive, o.n_interactive, buf, sizeof(buf));
	CHECK_STR(buf, "2222,60000-60010,22");
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--interactive-ports=none", "10/8"), OPTS_RUN);
	CHECK_EQ_INT((int)o.n_interactive, 0);
	opts_format_ports(o.interactive, o.n_interactive, buf, sizeof(buf));
	CHECK_STR(buf, "none");
	opts_free(&o);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--interactive-ports", "65535", "10/8"), OPTS_RUN);
	opts_free(&o);

	static const char *const bad[] = {"",	   "0",	 "65536", "22,", ",22", "22,,23",  "9-8",
					  "1-2-3", "-5", "5-",	  "22 ", "+22", "none,22", "x"};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(opts_parse_ports(bad[i], r, OPTS_MAX_PORTS, &n), -EINVAL);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--interactive-ports", "9-8", "10/8"), -EINVAL);
	CHECK_STR(err, "--interactive-ports: '9-8' is not 'none' or a list of ports and ranges "
		       "(PORT[-PORT], 1 to 65535, at most 16, comma separated)");
	/* At most OPTS_MAX_PORTS ranges. */
	CHECK_EQ_INT(
	    opts_parse_ports("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", r, OPTS_MAX_PORTS, &n), 0);
	CHECK_EQ_INT((int)n, 16);
	CHECK_EQ_INT(
	    opts_parse_ports("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", r, OPTS_MAX_PORTS, &n),
	    -EINVAL);
	/* A list refused leaves the one before it as it was. */
	CHECK_EQ_INT(opts_parse_ports("7,8-9", r, OPTS_MAX_PORTS, &n), 0);
	CHECK_EQ_INT(opts_parse_ports("1,2,x", r, OPTS_MAX_PORTS, &n), -EINVAL);
	CHECK_EQ_INT((int)n, 2);
	CHECK_EQ_INT(r[0].lo, 7);
	CHECK_EQ_INT(r[1].hi, 9);
	/* The longest list there is fits the text. */
	{
		static const char longest[] =
		    "65534-65535,65534-65535,65534-65535,65534-65535,65534-65535,65534-65535,"
		    "65534-65535,65534-65535,65534-65535,65534-65535,65534-65535,65534-65535,"
		    "65534-65535,65534-65535,65534-65535,65534-65535";
		CHECK_EQ_INT(opts_parse_ports(longest, r, OPTS_MAX_PORTS, &n), 0);
		opts_format_ports(r, n, buf, sizeof(buf));
		CHECK_STR(buf, longest);
	}
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "nc", "--interactive-ports", "22", "10/8"),
		     -EINVAL);
	CHECK_STR(err,
		  "--interactive-ports with -e needs OpenSSH's ssh: further lanes go through its "
		  "ControlMaster");
	/* It only means something when the lanes split. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "--lanes", "2", "--interactive-ports", "22", "10/8"),
		     -EINVAL);
	CHECK_STR(err, "--interactive-ports does not apply with --lanes: every lane then takes any "
		       "connection");
	CHECK_EQ_INT(
	    PARSE(&o, "-r", "h", "-e", "ssh", "--direct", "--interactive-ports", "22", "10/8"),
	    -EINVAL);
	CHECK_STR(err,
		  "--interactive-ports does not apply with --direct: each connection has an SSH "
		  "channel of its own there");
	/* With -e the lanes split as they do for sluice's own client. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "-e", "ssh", "--interactive-ports", "2222", "10/8"),
		     OPTS_RUN);
	opts_free(&o);
}

static void test_help_version(void)
{
	static const char *const names[] = {
	    "--remote",	    "--exclude",    "--listen",
	    "--ssh-config", "--identity",   "--known-hosts",
	    "--verbose",    "--quiet",	    "--version",
	    "--help",	    "--auto-nets",  "--auto-hosts",
	    "--dns",	    "-r,",	    "-x,",
	    "-l,",	    "-F,",	    "-i,",
	    "-v,",	    "-q,",	    "-V,",
	    "-h,",	    "-N,",	    "-H,",
	    "-o,",	    "--ssh-option", "--exclude-from",
	    "-X,",	    "--lanes",	    "--interactive-ports",
	};
	struct opts o;
	regex_t re;
	size_t i;

	CHECK_EQ_INT(PARSE(&o, "--version"), OPTS_EXIT_OK);
	CHECK(!strncmp(out_text, "sluice ", 7));
	CHECK(out_text[7] && strchr(out_text, '\n') == out_text + strlen(out_text) - 1);
	CHECK_EQ_INT(PARSE(&o, "-V"), OPTS_EXIT_OK);
	CHECK(!strncmp(out_text, "sluice ", 7));
	/* The package's version first (0.N), then, from git, the commit. */
	CHECK(regcomp(&re, "^sluice 0\\.[0-9]+( \\(git [0-9a-f]+(-dirty)?\\))?\n$",
		      REG_EXTENDED | REG_NOSUB) == 0);
	CHECK(regexec(&re, out_text, 0, NULL, 0) == 0);
	regfree(&re);

	/* Help wins over missing -r, and over what was parsed before it. */
	CHECK_EQ_INT(PARSE(&o, "10/8", "-x", "10.1/16", "-h"), OPTS_EXIT_OK);
	CHECK(o.include == NULL && o.exclude == NULL);
	CHECK(!strncmp(out_text, "usage: sluice ", 14));
	for (i = 0; i < ARRAY_LEN(names); i++) {
		if (!strstr(out_text, names[i]))
			printf("  help lacks %s\n", names[i]);
		CHECK(strstr(out_text, names[i]) != NULL);
	}
	CHECK_EQ_INT(PARSE(&o, "--help"), OPTS_EXIT_OK);
	CHECK(!strncmp(out_text, "usage: sluice ", 14));
}

/* "localhost" comes from /etc/hosts: no DNS. */
static void test_hostname_subnet(void)
{
	struct opts o;
	size_t i;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "localhost", "-x", "localhost:22"), OPTS_RUN);
	CHECK(o.n_include >= 1 && o.n_include <= 2);
	CHECK_EQ_INT(o.n_exclude, o.n_include);
	for (i = 0; i < o.n_include; i++) {
		CHECK(o.include[i].prefix == 32 || o.include[i].prefix == 128);
		CHECK(subnet_all_ports(&o.include[i]));
		CHECK_EQ_INT(o.exclude[i].port_lo, 22);
	}
	opts_free(&o);
}

static void test_many_subnets(void)
{
	const size_t n = OPTS_MAX_SUBNETS + 1;
	char **argv = calloc(n + 4, sizeof(*argv)), (*names)[20] = calloc(n, sizeof(*names));
	struct opts o;
	size_t i;
	FILE *out = fopen("/dev/null", "w");

	CHECK(argv && names && out);
	if (!argv || !names || !out)
		goto out;
	argv[0] = "sluice";
	argv[1] = "-r";
	argv[2] = "h";
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "10.%zu.%zu.0/24", i / 256, i % 256);
		argv[3 + i] = names[i];
	}
	CHECK_EQ_INT(opts_parse(&o, (int)(n + 2), argv, out, err, sizeof(err)), OPTS_RUN);
	CHECK_EQ_INT(o.n_include, OPTS_MAX_SUBNETS);
	CHECK_EQ_INT(o.include[OPTS_MAX_SUBNETS - 1].addr[1], (OPTS_MAX_SUBNETS - 1) / 256);
	opts_free(&o);

	CHECK_EQ_INT(opts_parse(&o, (int)(n + 3), argv, out, err, sizeof(err)), -ENOSPC);
	CHECK_STR(err, "too many subnets (at most 4096)");
	CHECK(o.include == NULL);
out:
	if (out)
		fclose(out);
	free(names);
	free(argv);
}

/* A temp file holding text; its path in path (at least 32 bytes). 0 or -1. */
static int write_temp(char *path, size_t len, const char *text)
{
	FILE *f;
	int fd;

	snprintf(path, len, "/tmp/sluice-test-opts.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* -X FILE: one -x per line, comments and blank lines skipped, in order with -x. */
static void test_exclude_from(void)
{
	char path[64], want[128], buf[SUBNET_STRLEN];
	struct opts o;

	CHECK_EQ_INT(write_temp(path, sizeof(path),
				"# office networks\n"
				"\n"
				"  10.1.0.0/16  \n"
				"192.0.2.7:443 # the web server\r\n"
				"\t[2001:db8::]/64\n"
				"   # indented comment\n"
				"198.51.100.0/24"),
		     0);
	CHECK_EQ_INT(
	    PARSE(&o, "-r", "h", "10/8", "-x", "10.9.0.0/16", "-X", path, "--exclude-from", path),
	    OPTS_RUN);
	CHECK_EQ_INT(o.n_exclude, 9);
	if (o.n_exclude == 9) {
		CHECK_EQ_INT(subnet_format(&o.exclude[0], buf, sizeof(buf)), 0);
		CHECK_STR(buf, "10.9.0.0/16");
		CHECK_EQ_INT(subnet_format(&o.exclude[1], buf, sizeof(buf)), 0);
		CHECK_STR(buf, "10.1.0.0/16");
		CHECK_EQ_INT(subnet_format(&o.exclude[2], buf, sizeof(buf)), 0);
		CHECK_STR(buf, "192.0.2.7/32:443");
		CHECK_EQ_INT(subnet_format(&o.exclude[3], buf, sizeof(buf)), 0);
		CHECK_STR(buf, "[2001:db8::]/64");
		CHECK_EQ_INT(subnet_format(&o.exclude[8], buf, sizeof(buf)), 0);
		CHECK_STR(buf, "198.51.100.0/24");
	}
	opts_free(&o);
	unlink(path);

	/* Only comments: nothing excluded, and no error. */
	CHECK_EQ_INT(write_temp(path, sizeof(path), "# nothing yet\n\n"), 0);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-X", path), OPTS_RUN);
	CHECK_EQ_INT(o.n_exclude, 0);
	opts_free(&o);
	unlink(path);

	/* A bad line: the file and its line number, then -x's own reason. */
	CHECK_EQ_INT(write_temp(path, sizeof(path), "10.1.0.0/16\n# fine\n10.0.0.0/33\n"), 0);
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-X", path), -EINVAL);
	snprintf(want, sizeof(want),
		 "-X %s:3: bad subnet '10.0.0.0/33': prefix length must be 0-32", path);
	CHECK_STR(err, want);
	CHECK(o.exclude == NULL);
	unlink(path);

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-X", "/nonexistent/sluice-x"), -ENOENT);
	CHECK_STR(err, "-X /nonexistent/sluice-x: No such file or directory");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-X", "/tmp"), -EINVAL);
	CHECK_STR(err, "-X /tmp: not a regular file of at most 1 MiB");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "-X"), -EINVAL);
	CHECK_STR(err, "option '-X' needs a value");
}

/* The numbers of --reconnect-max and --user: digits only, in range. */
static void test_numbers(void)
{
	static const char *const bad[] = {"0",	"-5", "+5",	 " 5",
					  "5s", "",   "2592001", "99999999999"};
	struct opts o;
	size_t i;

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--reconnect-max", "2592000"), OPTS_RUN);
	CHECK_EQ_INT(o.reconnect_max, 2592000);
	opts_free(&o);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--reconnect-max", bad[i]), -EINVAL);
		CHECK(strstr(err, "is not a number of seconds (1 to 2592000)") != NULL);
	}

	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--user", "4294967294"), OPTS_RUN);
	CHECK(o.by_uid && o.uid == 4294967294u);
	opts_free(&o);
	/* Not a number (too big, or signed): looked up as a name, and there is none. */
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--user", "4294967295"), -EINVAL);
	CHECK_STR(err, "no such user '4294967295'");
	CHECK_EQ_INT(PARSE(&o, "-r", "h", "10/8", "--group", "+7"), -EINVAL);
	CHECK_STR(err, "no such group '+7'");
}

int main(void)
{
	RUN(test_basic);
	RUN(test_everything);
	RUN(test_ssh_option);
	RUN(test_remote);
	RUN(test_remote_bad);
	RUN(test_listen);
	RUN(test_listen_bad);
	RUN(test_errors);
	RUN(test_help_version);
	RUN(test_hostname_subnet);
	RUN(test_many_subnets);
	RUN(test_numbers);
	RUN(test_lanes);
	RUN(test_interactive_ports);
	RUN(test_exclude_from);
	T_EXIT();
}
