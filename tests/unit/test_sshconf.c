/*
 * test_sshconf: reading `ssh -G` output (a real capture from OpenSSH 9.2
 * is embedded), path expansion, and resolving through the real ssh with a
 * throw-away config. `ssh -G` only prints; it connects nowhere.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../client/ssh/sshconf.h"
#include "t.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * `ssh -G -F cfg alias` with OpenSSH_9.2p1 Debian-2+deb12u10, HOME=/root,
 * for a Host block with IdentityFile lines holding %-tokens. ssh leaves
 * those unexpanded in identityfile but expands userknownhostsfile.
 */
static const char real_output[] =
    "host alias\n"
    "user carol\n"
    "hostname 192.0.2.9\n"
    "port 2201\n"
    "addressfamily any\n"
    "batchmode no\n"
    "canonicalizefallbacklocal yes\n"
    "canonicalizehostname false\n"
    "checkhostip no\n"
    "compression no\n"
    "controlmaster false\n"
    "enablesshkeysign no\n"
    "clearallforwardings no\n"
    "exitonforwardfailure no\n"
    "fingerprinthash SHA256\n"
    "forwardx11 no\n"
    "forwardx11trusted yes\n"
    "gatewayports no\n"
    "gssapiauthentication no\n"
    "gssapikeyexchange no\n"
    "gssapidelegatecredentials no\n"
    "gssapitrustdns no\n"
    "gssapirenewalforcesrekey no\n"
    "gssapikexalgorithms "
    "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-"
    "group14-sha1-,gss-gex-sha1-\n"
    "hashknownhosts no\n"
    "hostbasedauthentication no\n"
    "identitiesonly no\n"
    "kbdinteractiveauthentication yes\n"
    "nohostauthenticationforlocalhost no\n"
    "passwordauthentication yes\n"
    "permitlocalcommand no\n"
    "proxyusefdpass no\n"
    "pubkeyauthentication true\n"
    "requesttty auto\n"
    "sessiontype default\n"
    "stdinnull no\n"
    "forkafterauthentication no\n"
    "streamlocalbindunlink no\n"
    "stricthostkeychecking accept-new\n"
    "tcpkeepalive yes\n"
    "tunnel false\n"
    "verifyhostkeydns false\n"
    "visualhostkey no\n"
    "updatehostkeys false\n"
    "enableescapecommandline no\n"
    "canonicalizemaxdots 1\n"
    "connectionattempts 1\n"
    "forwardx11timeout 1200\n"
    "numberofpasswordprompts 3\n"
    "serveralivecountmax 3\n"
    "serveraliveinterval 0\n"
    "requiredrsasize 1024\n"
    "ciphers "
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-"
    "gcm@openssh.com\n"
    "hostkeyalgorithms "
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-"
    "cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh."
    "com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-"
    "256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-"
    "nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-"
    "256\n"
    "hostbasedacceptedalgorithms "
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-"
    "cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh."
    "com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-"
    "256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-"
    "nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-"
    "256\n"
    "kexalgorithms "
    "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@"
    "libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-"
    "exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-"
    "group14-sha256\n"
    "casignaturealgorithms "
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@"
    "openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256\n"
    "loglevel INFO\n"
    "macs "
    "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-"
    "etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-"
    "256,hmac-sha2-512,hmac-sha1\n"
    "securitykeyprovider internal\n"
    "pubkeyacceptedalgorithms "
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-"
    "cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openssh."
    "com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-"
    "256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-"
    "nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-"
    "256\n"
    "xauthlocation /usr/bin/xauth\n"
    "identityfile /tmp/x/id\n"
    "identityfile ~/.ssh/%r_%h_%u_%%\n"
    "identityfile %d/keys/%h\n"
    "canonicaldomains none\n"
    "globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2\n"
    "userknownhostsfile /tmp/x/kh /root/kh2 /root/kh_192.0.2.9\n"
    "logverbose none\n"
    "permitremoteopen any\n"
    "addkeystoagent false\n"
    "forwardagent no\n"
    "connecttimeout 7\n"
    "tunneldevice any:any\n"
    "canonicalizePermittedcnames none\n"
    "controlpersist no\n"
    "escapechar ~\n"
    "ipqos lowdelay throughput\n"
    "rekeylimit 0 0\n"
    "streamlocalbindmask 0177\n"
    "syslogfacility USER\n";

static char *saved_home;

static void home_set(const char *h)
{
	if (!saved_home) {
		const char *old = getenv("HOME");

		saved_home = strdup(old ? old : "");
	}
	setenv("HOME", h, 1);
}

static void home_restore(void)
{
	if (saved_home) {
		setenv("HOME", saved_home, 1);
		free(saved_home);
		saved_home = NULL;
	}
}

/* Home as the password file has it: what ~ means, whatever $HOME says (the tests set it). */
static const char *pwhome(void)
{
	struct passwd *pw = getpwuid(getuid());

	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* pwhome() followed by tail, in a rotating static buffer. */
static const char *at_home(const char *tail)
{
	static char bufs[4][512];
	static int i;
	char *b = bufs[i++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s%s", pwhome(), tail);
	return b;
}

static const char *me(void)
{
	struct passwd *pw = getpwuid(geteuid());

	return pw ? pw->pw_name : "?";
}

static void test_parse_real(void)
{
	struct sshconf c;
	char want[512];

	home_set("/home/tester");
	CHECK_EQ_INT(sshconf_parse(&c, real_output), 0);
	CHECK_STR(c.hostname, "192.0.2.9");
	CHECK_STR(c.user, "carol");
	CHECK_EQ_INT(c.port, 2201);
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ACCEPT_NEW);
	CHECK_EQ_INT(c.connect_timeout, 7);
	CHECK_EQ_INT(c.hash_known, 0);
	CHECK_EQ_INT(c.n_identity, 3);
	CHECK_STR(c.identity[0], "/tmp/x/id");
	snprintf(want, sizeof(want), "%s/.ssh/carol_192.0.2.9_%s_%%", pwhome(), me());
	CHECK_STR(c.identity[1], want);
	CHECK_STR(c.identity[2], at_home("/keys/192.0.2.9"));
	CHECK_EQ_INT(c.n_known_hosts, 3);
	CHECK_STR(c.known_hosts[0], "/tmp/x/kh");
	CHECK_STR(c.known_hosts[1], "/root/kh2");
	CHECK_STR(c.known_hosts[2], "/root/kh_192.0.2.9");
	CHECK_EQ_INT(c.control, 0); /* "controlmaster false", no controlpath line */
	CHECK_EQ_INT(c.from_cmd, 0);
	sshconf_free(&c);
	CHECK(c.hostname == NULL && c.n_identity == 0);
	/* Twice is harmless. */
	sshconf_free(&c);
	home_restore();
}

/* The lines `ssh -G -F /dev/null somehost` prints for what we read. */
static const char default_output[] =
    "host somehost\n"
    "hostname somehost\n"
    "port 22\n"
    "stricthostkeychecking ask\n"
    "identityfile ~/.ssh/id_rsa\n"
    "identityfile ~/.ssh/id_ecdsa\n"
    "identityfile ~/.ssh/id_ecdsa_sk\n"
    "identityfile ~/.ssh/id_ed25519\n"
    "identityfile ~/.ssh/id_ed25519_sk\n"
    "identityfile ~/.ssh/id_xmss\n"
    "identityfile ~/.ssh/id_dsa\n"
    "globalknownhostsfile /etc/ssh/ssh_known_hosts "
    "/etc/ssh/ssh_known_hosts2\n"
    "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n"
    "connecttimeout none\n";

static void test_parse_defaults(void)
{
	static const char *const ids[] = {"id_rsa",	   "id_ecdsa", "id_ecdsa_sk", "id_ed25519",
					  "id_ed25519_sk", "id_xmss",  "id_dsa"};
	struct sshconf c;
	char want[256];
	size_t i;

	home_set("/h");
	CHECK_EQ_INT(sshconf_parse(&c, default_output), 0);
	CHECK_STR(c.hostname, "somehost");
	CHECK(c.user == NULL);
	CHECK_EQ_INT(c.port, 22);
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ASK);
	CHECK_EQ_INT(c.connect_timeout, 0);
	CHECK_EQ_INT(c.n_identity, ARRAY_LEN(ids));
	for (i = 0; i < ARRAY_LEN(ids) && i < c.n_identity; i++) {
		snprintf(want, sizeof(want), "%s/.ssh/%s", pwhome(), ids[i]);
		CHECK_STR(c.identity[i], want);
	}
	/* globalknownhostsfile is not ours to read. */
	CHECK_EQ_INT(c.n_known_hosts, 2);
	CHECK_STR(c.known_hosts[0], "/root/.ssh/known_hosts");
	CHECK_STR(c.known_hosts[1], "/root/.ssh/known_hosts2");
	sshconf_free(&c);

	/* Nothing at all: every field at its default. */
	CHECK_EQ_INT(sshconf_parse(&c, ""), 0);
	CHECK(c.hostname == NULL && c.user == NULL && c.port == 0);
	CHECK(c.n_identity == 0 && c.n_known_hosts == 0);
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ASK);
	sshconf_free(&c);
	home_restore();
}

static const struct {
	const char *val;
	enum sshconf_strict want;
} stricts[] = {
    {"yes", SSHCONF_STRICT_YES},      {"true", SSHCONF_STRICT_YES},
    {"ask", SSHCONF_STRICT_ASK},      {"Yes", SSHCONF_STRICT_YES},
    {"whatever", SSHCONF_STRICT_YES}, {"accept-new", SSHCONF_STRICT_ACCEPT_NEW},
    {"no", SSHCONF_STRICT_NO},	      {"off", SSHCONF_STRICT_NO},
    {"false", SSHCONF_STRICT_NO},
};

static void test_strict(void)
{
	struct sshconf c;
	char text[128];
	size_t i;

	for (i = 0; i < ARRAY_LEN(stricts); i++) {
		snprintf(text, sizeof(text), "hostname h\nstricthostkeychecking %s\n",
			 stricts[i].val);
		CHECK_EQ_INT(sshconf_parse(&c, text), 0);
		CHECK_EQ_INT(c.strict, stricts[i].want);
		sshconf_free(&c);
	}
}

static const struct {
	const char *text;
	int ret, port, timeout;
} values[] = {
    {"port 1\nconnecttimeout none\n", 0, 1, 0},
    {"port 65535\nconnecttimeout 0\n", 0, 65535, 0},
    {"port 2222\nconnecttimeout 30\n", 0, 2222, 30},
    {"port 0\n", -EINVAL, 0, 0},
    {"port 65536\n", -EINVAL, 0, 0},
    {"port -1\n", -EINVAL, 0, 0},
    {"port 22x\n", -EINVAL, 0, 0},
    {"port\n", -EINVAL, 0, 0},
    {"connecttimeout 7s\n", -EINVAL, 0, 0},
    {"connecttimeout -1\n", -EINVAL, 0, 0},
    {"connecttimeout 99999999999\n", -EINVAL, 0, 0},
};

static void test_values(void)
{
	struct sshconf c;
	size_t i;

	for (i = 0; i < ARRAY_LEN(values); i++) {
		int ret = sshconf_parse(&c, values[i].text);

		CHECK_EQ_INT(ret, values[i].ret);
		if (ret == 0) {
			CHECK_EQ_INT(c.port, values[i].port);
			CHECK_EQ_INT(c.connect_timeout, values[i].timeout);
		} else {
			/* A failed parse leaves nothing behind. */
			CHECK(c.hostname == NULL && c.n_identity == 0);
		}
		sshconf_free(&c);
	}
}

/* A ControlMaster or ControlPath of the user's, as ssh -G prints them. */
static void test_control(void)
{
	static const struct {
		const char *text;
		int control;
	} cases[] = {
	    {"hostname h\ncontrolmaster false\n", 0},
	    {"hostname h\ncontrolmaster no\ncontrolpath none\n", 0},
	    {"hostname h\ncontrolmaster auto\n", 1},
	    {"hostname h\ncontrolmaster true\n", 1},
	    {"hostname h\ncontrolmaster autoask\n", 1},
	    {"hostname h\ncontrolmaster false\ncontrolpath /tmp/cm-%C\n", 1},
	    {"hostname h\nControlPath /run/x\n", 1},
	};
	struct sshconf c;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		CHECK_EQ_INT(sshconf_parse(&c, cases[i].text), 0);
		CHECK_EQ_INT(c.control, cases[i].control);
		sshconf_free(&c);
	}
}

/* IdentitiesOnly and IdentityAgent, as ssh -G prints them. */
static void test_agent_settings(void)
{
	struct sshconf c;

	home_set("/h");
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nidentitiesonly yes\nidentityagent ~/a.sock\n"),
		     0);
	CHECK_EQ_INT(c.identities_only, 1);
	CHECK_STR(c.identity_agent, at_home("/a.sock"));
	sshconf_free(&c);
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nidentitiesonly no\nidentityagent none\n"), 0);
	CHECK_EQ_INT(c.identities_only, 0);
	CHECK_STR(c.identity_agent, "none");
	sshconf_free(&c);
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nidentityagent $MY_AGENT\n"), 0);
	CHECK_STR(c.identity_agent, "$MY_AGENT");
	sshconf_free(&c);
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\n"), 0);
	CHECK(c.identity_agent == NULL && !c.identities_only);
	sshconf_free(&c);
}

/* GlobalKnownHostsFile (a list, ~ expanded, the first line's) and HostKeyAlias. */
static void test_known_settings(void)
{
	struct sshconf c;

	home_set("/h");
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nglobalknownhostsfile /etc/a ~/b\n"
				       "globalknownhostsfile /etc/c\nhostkeyalias gw-alias\n"),
		     0);
	CHECK_EQ_INT(c.n_global_known_hosts, 2);
	CHECK_STR(c.global_known_hosts[0], "/etc/a");
	CHECK_STR(c.global_known_hosts[1], at_home("/b"));
	CHECK_STR(c.hostkey_alias, "gw-alias");
	sshconf_free(&c);
	CHECK_EQ_INT(sshconf_parse(&c, "hostname h\nhostkeyalias none\n"), 0);
	CHECK(c.hostkey_alias == NULL && c.n_global_known_hosts == 0);
	sshconf_free(&c);
}

/* Odd spacing, CRLF, blank lines, repeated keys, unknown keys. */
static void test_layout(void)
{
	struct sshconf c;

	CHECK_EQ_INT(sshconf_parse(&c, "\n  hostname\t first.test  \r\nHostName second.test\n"
				       "user  u1\nuser u2\nidentityfile /k with space \r\n"
				       "bogus key\nlonely\n\n"
				       "userknownhostsfile \t/a  /b\t/c \n"
				       "userknownhostsfile /ignored\nidentityfile   \n"
				       "identityfile /k2"),
		     0);
	CHECK_STR(c.hostname, "first.test");
	CHECK_STR(c.user, "u1");
	CHECK_EQ_INT(c.n_identity, 2);
	CHECK_STR(c.identity[0], "/k with space");
	CHECK_STR(c.identity[1], "/k2");
	CHECK_EQ_INT(c.n_known_hosts, 3);
	CHECK_STR(c.known_hosts[0], "/a");
	CHECK_STR(c.known_hosts[1], "/b");
	CHECK_STR(c.known_hosts[2], "/c");
	sshconf_free(&c);
}

static void test_limits(void)
{
	struct sshconf c;
	char text[2048], *p = text;
	int i;

	for (i = 0; i < 20; i++)
		p += sprintf(p, "identityfile /id%d\n", i);
	p += sprintf(p, "userknownhostsfile");
	for (i = 0; i < 20; i++)
		p += sprintf(p, " /kh%d", i);
	sprintf(p, "\n");
	CHECK_EQ_INT(sshconf_parse(&c, text), 0);
	CHECK_EQ_INT(c.n_identity, SSHCONF_MAX_FILES);
	CHECK_STR(c.identity[0], "/id0");
	CHECK_STR(c.identity[SSHCONF_MAX_FILES - 1], "/id15");
	CHECK_EQ_INT(c.n_known_hosts, SSHCONF_MAX_FILES);
	CHECK_STR(c.known_hosts[SSHCONF_MAX_FILES - 1], "/kh15");
	sshconf_free(&c);
}

static const struct {
	const char *in, *want; /* in want: @H = our home per passwd, @R = root's, @U = local user */
} expansions[] = {
    {"~", "@H"},
    {"~/", "@H/"},
    {"~/.ssh/id", "@H/.ssh/id"},
    {"~root/k", "@R/k"},
    {"~no_such_user_zz/k", "~no_such_user_zz/k"},
    {"/a~b", "/a~b"},
    {"%d/k", "@H/k"},
    {"/k/%u", "/k/@U"},
    {"/k/%r@%h", "/k/remote@host.test"},
    {"/k/100%%", "/k/100%"},
    {"/k/%x%", "/k/%x%"},
    {"/k/%", "/k/%"},
    {"%%%%", "%%"},
};

static void subst(char *out, size_t len, const char *tmpl)
{
	struct passwd *pw = getpwnam("root");
	const char *root = pw ? pw->pw_dir : "/root";
	char mine[256];

	pw = getpwuid(getuid());
	snprintf(mine, sizeof(mine), "%s", pw ? pw->pw_dir : "/");
	size_t n = 0;

	for (; *tmpl && n + 1 < len; tmpl++) {
		const char *rep = NULL;

		if (tmpl[0] == '@' && tmpl[1] == 'H')
			rep = mine;
		else if (tmpl[0] == '@' && tmpl[1] == 'R')
			rep = root;
		else if (tmpl[0] == '@' && tmpl[1] == 'U')
			rep = me();
		if (rep) {
			n += (size_t)snprintf(out + n, len - n, "%s", rep);
			tmpl++;
		} else {
			out[n++] = *tmpl;
		}
	}
	out[n < len ? n : len - 1] = '\0';
}

static void test_expand(void)
{
	struct sshconf c;
	char text[512], want[512];
	size_t i;

	/* $HOME says otherwise, as it may under sudo: ~ is still the password file's. */
	home_set("/home/t");
	for (i = 0; i < ARRAY_LEN(expansions); i++) {
		snprintf(
		    text, sizeof(text),
		    "user remote\nidentityfile %s\nuserknownhostsfile %s\nhostname host.test\n",
		    expansions[i].in, expansions[i].in);
		CHECK_EQ_INT(sshconf_parse(&c, text), 0);
		subst(want, sizeof(want), expansions[i].want);
		CHECK_EQ_INT(c.n_identity, 1);
		if (c.n_identity == 1 && strcmp(c.identity[0], want))
			printf("  '%s' -> '%s', want '%s'\n", expansions[i].in, c.identity[0],
			       want);
		CHECK_STR(c.identity[0], want);
		/* Known hosts get ~ only: ssh has done the tokens already. */
		if (expansions[i].in[0] == '~') {
			CHECK_STR(c.known_hosts[0], want);
		} else {
			CHECK_STR(c.known_hosts[0], expansions[i].in);
		}
		sshconf_free(&c);
	}

	/* No hostname or user to put in: the token stays. */
	CHECK_EQ_INT(sshconf_parse(&c, "identityfile /k/%h-%r\n"), 0);
	CHECK_STR(c.identity[0], "/k/%h-%r");
	sshconf_free(&c);

	/* Without $HOME, the password file says where home is. */
	unsetenv("HOME");
	CHECK_EQ_INT(sshconf_parse(&c, "identityfile ~/k\n"), 0);
	{
		struct passwd *pw = getpwuid(getuid());

		snprintf(want, sizeof(want), "%s/k", pw ? pw->pw_dir : "/");
		CHECK_STR(c.identity[0], want);
	}
	sshconf_free(&c);
	home_restore();
}

static char tmpdir[64];

static int write_file(const char *name, const char *text, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", tmpdir, name);
	return t_write_file(path, text, strlen(text));
}

static int have_ssh(void)
{
	return system("command -v ssh >/dev/null 2>&1") == 0;
}

/* No -o options: what -F, -l and -p alone give. */
static int resolve(struct sshconf *c, const char *host, const char *user, uint16_t port,
		   const char *config)
{
	struct sshconf_query q = {.host = host, .user = user, .port = port, .config = config};
	char why[256];

	return sshconf_resolve(c, &q, why, sizeof(why));
}

static void test_resolve_real(void)
{
	struct sshconf c;
	char cfg[128];

	if (!have_ssh()) {
		printf("  (no ssh installed: skipped)\n");
		return;
	}
	CHECK_EQ_INT(write_file("config",
				"Host alias\n HostName 192.0.2.9\n Port 2201\n User carol\n"
				" IdentityFile /tmp/x/id\n UserKnownHostsFile /tmp/x/kh\n"
				" StrictHostKeyChecking accept-new\n ConnectTimeout 7\n",
				cfg, sizeof(cfg)),
		     0);

	CHECK_EQ_INT(resolve(&c, "alias", NULL, 0, cfg), 0);
	CHECK_STR(c.hostname, "192.0.2.9");
	CHECK_STR(c.user, "carol");
	CHECK_EQ_INT(c.port, 2201);
	CHECK_EQ_INT(c.n_identity, 1);
	CHECK_STR(c.identity[0], "/tmp/x/id");
	CHECK_EQ_INT(c.n_known_hosts, 1);
	CHECK_STR(c.known_hosts[0], "/tmp/x/kh");
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ACCEPT_NEW);
	CHECK_EQ_INT(c.connect_timeout, 7);
	sshconf_free(&c);

	/* The command line wins over the config. */
	CHECK_EQ_INT(resolve(&c, "alias", "dave", 99, cfg), 0);
	CHECK_STR(c.hostname, "192.0.2.9");
	CHECK_STR(c.user, "dave");
	CHECK_EQ_INT(c.port, 99);
	sshconf_free(&c);

	/* A host no block matches: ssh's defaults. */
	CHECK_EQ_INT(resolve(&c, "other.test", NULL, 0, cfg), 0);
	CHECK_STR(c.hostname, "other.test");
	CHECK_STR(c.user, me());
	CHECK_EQ_INT(c.port, 22);
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ASK);
	CHECK_EQ_INT(c.connect_timeout, 0);
	CHECK(c.n_identity >= 3);
	CHECK(c.n_known_hosts >= 1);
	sshconf_free(&c);
}

static void test_resolve_broken(void)
{
	struct sshconf c;
	char cfg[128], missing[128];

	if (!have_ssh()) {
		printf("  (no ssh installed: skipped)\n");
		return;
	}
	snprintf(missing, sizeof(missing), "%s/no-such-config", tmpdir);
	CHECK_EQ_INT(resolve(&c, "alias", NULL, 0, missing), -EINVAL);
	CHECK(c.hostname == NULL);

	CHECK_EQ_INT(write_file("bad", "Host x\n NoSuchKeyword yes\n", cfg, sizeof(cfg)), 0);
	CHECK_EQ_INT(resolve(&c, "x", NULL, 0, cfg), -EINVAL);

	/* Goes to ssh as a host after "--", never as an option. */
	CHECK_EQ_INT(resolve(&c, "-oProxyCommand=false", NULL, 0, "/dev/null"), -EINVAL);

	CHECK_EQ_INT(resolve(&c, "", NULL, 0, NULL), -EINVAL);
	CHECK_EQ_INT(resolve(&c, NULL, NULL, 0, NULL), -EINVAL);
}

/* -o: before the config file, so it wins; ssh itself refuses a misspelled key. */
static void test_resolve_options(void)
{
	static const char *const opts[] = {
	    "StrictHostKeyChecking=accept-new",
	    "Port 2300",
	    "User=frank",
	    "IdentityFile=/tmp/y/id",
	    "UserKnownHostsFile /tmp/y/kh",
	    "ConnectTimeout = 9",
	    "ServerAliveInterval=11",
	    "ServerAliveCountMax=4",
	    "BatchMode=yes",
	    "HashKnownHosts=yes",
	};
	static const char *const bad[] = {"StrictHostKeyChecknig=no"};
	struct sshconf_query q = {.host = "alias", .options = opts, .n_options = ARRAY_LEN(opts)};
	struct sshconf c;
	char cfg[128], why[256];

	if (!have_ssh()) {
		printf("  (no ssh installed: skipped)\n");
		return;
	}
	CHECK_EQ_INT(write_file("config_o",
				"Host alias\n HostName 192.0.2.9\n Port 2201\n User carol\n"
				" IdentityFile /tmp/x/id\n UserKnownHostsFile /tmp/x/kh\n"
				" StrictHostKeyChecking yes\n ConnectTimeout 7\n",
				cfg, sizeof(cfg)),
		     0);
	q.config = cfg;
	CHECK_EQ_INT(sshconf_resolve(&c, &q, why, sizeof(why)), 0);
	CHECK_STR(c.hostname, "192.0.2.9");
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ACCEPT_NEW);
	CHECK_EQ_INT(c.port, 2300);
	CHECK_STR(c.user, "frank");
	/* IdentityFile adds up, the command line's first. */
	CHECK(c.n_identity >= 1);
	CHECK_STR(c.identity[0], "/tmp/y/id");
	CHECK_EQ_INT(c.n_known_hosts, 1);
	CHECK_STR(c.known_hosts[0], "/tmp/y/kh");
	CHECK_EQ_INT(c.connect_timeout, 9);
	CHECK_EQ_INT(c.alive_interval, 11);
	CHECK_EQ_INT(c.alive_count, 4);
	CHECK_EQ_INT(c.batch, 1);
	CHECK_EQ_INT(c.hash_known, 1);
	sshconf_free(&c);

	q.options = bad;
	q.n_options = 1;
	CHECK_EQ_INT(sshconf_resolve(&c, &q, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "stricthostkeychecknig") != NULL);
	CHECK(strchr(why, '\n') == NULL);
}

static void test_resolve_no_ssh(void)
{
	const char *old = getenv("PATH");
	char *saved = strdup(old ? old : "/usr/bin:/bin");
	struct sshconf c;

	/* An empty directory as the whole PATH: there is no ssh to find. */
	setenv("PATH", tmpdir, 1);
	home_set("/home/nossh");
	CHECK_EQ_INT(resolve(&c, "host.test", NULL, 0, NULL), 0);
	CHECK_STR(c.hostname, "host.test");
	CHECK_STR(c.user, me());
	CHECK_EQ_INT(c.port, 22);
	CHECK_EQ_INT(c.n_identity, 3);
	CHECK_STR(c.identity[0], at_home("/.ssh/id_ed25519"));
	CHECK_STR(c.identity[1], at_home("/.ssh/id_ecdsa"));
	CHECK_STR(c.identity[2], at_home("/.ssh/id_rsa"));
	CHECK_EQ_INT(c.n_known_hosts, 1);
	CHECK_STR(c.known_hosts[0], at_home("/.ssh/known_hosts"));
	CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ASK);
	CHECK_EQ_INT(c.connect_timeout, 0);
	sshconf_free(&c);

	CHECK_EQ_INT(resolve(&c, "host.test", "erin", 2022, "/ignored"), 0);
	CHECK_STR(c.user, "erin");
	CHECK_EQ_INT(c.port, 2022);
	sshconf_free(&c);

	{
		static const char *const opts[] = {"StrictHostKeyChecking accept-new", "Port=2023",
						   "User=gina", "IdentityFile=/k",
						   "UserKnownHostsFile=/kh"};
		struct sshconf_query q = {
		    .host = "host.test", .options = opts, .n_options = ARRAY_LEN(opts)};
		char why[64];

		CHECK_EQ_INT(sshconf_resolve(&c, &q, why, sizeof(why)), 0);
		CHECK_EQ_INT(c.strict, SSHCONF_STRICT_ACCEPT_NEW);
		CHECK_EQ_INT(c.port, 2023);
		CHECK_STR(c.user, "gina");
		CHECK_EQ_INT(c.n_identity, 1);
		CHECK_STR(c.identity[0], "/k");
		CHECK_EQ_INT(c.n_known_hosts, 1);
		CHECK_STR(c.known_hosts[0], "/kh");
		sshconf_free(&c);
	}

	home_restore();
	setenv("PATH", saved, 1);
	free(saved);
}

/* CMD -G with -l and -p only, as the -e transport adds them. */
static int resolve_cmd(struct sshconf *c, const char *cmd, const char *host, const char *user,
		       uint16_t port, char *why, size_t whylen)
{
	struct sshconf_query q = {.host = host, .user = user, .port = port};

	return sshconf_resolve_cmd(c, cmd, &q, why, whylen);
}

/* The -e command's own options decide: `ssh -F cfg -o Port=N` is asked, not plain ssh. */
static void test_resolve_cmd(void)
{
	struct sshconf c;
	char cfg[128], cmd[512], why[256];

	CHECK(sshconf_cmd_is_ssh("ssh"));
	CHECK(sshconf_cmd_is_ssh("  /usr/bin/ssh -F x"));
	CHECK(!sshconf_cmd_is_ssh("sshpass -p x ssh"));
	CHECK(!sshconf_cmd_is_ssh("/usr/bin/ssh-agent ssh"));
	CHECK(!sshconf_cmd_is_ssh(""));
	if (!have_ssh()) {
		printf("  (no ssh installed: skipped)\n");
		return;
	}
	CHECK_EQ_INT(
	    write_file("config", "Host alias\n HostName 192.0.2.9\n Port 2201\n", cfg, sizeof(cfg)),
	    0);
	snprintf(cmd, sizeof(cmd), "ssh -F %s -o User=frank", cfg);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", NULL, 0, why, sizeof(why)), 0);
	CHECK_STR(c.hostname, "192.0.2.9");
	CHECK_EQ_INT(c.port, 2201);
	CHECK_STR(c.user, "frank");
	CHECK_EQ_INT(c.from_cmd, 1);
	CHECK_EQ_INT(c.control, 0);
	sshconf_free(&c);
	/* The command's own -S or -o names a master of the user's. */
	snprintf(cmd, sizeof(cmd), "ssh -F %s -S %s/cm", cfg, tmpdir);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", NULL, 0, why, sizeof(why)), 0);
	CHECK_EQ_INT(c.control, 1);
	sshconf_free(&c);
	snprintf(cmd, sizeof(cmd), "ssh -F %s -o ControlMaster=auto", cfg);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", NULL, 0, why, sizeof(why)), 0);
	CHECK_EQ_INT(c.control, 1);
	sshconf_free(&c);
	/* -p and -l as the -e transport adds them win over the config (not the command's -o). */
	snprintf(cmd, sizeof(cmd), "ssh -F %s", cfg);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", "gina", 2022, why, sizeof(why)), 0);
	CHECK_EQ_INT(c.port, 2022);
	CHECK_STR(c.user, "gina");
	sshconf_free(&c);
	snprintf(cmd, sizeof(cmd), "%s/no-such-ssh -F %s", tmpdir, cfg);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", NULL, 0, why, sizeof(why)), -ENOENT);
	snprintf(cmd, sizeof(cmd), "ssh -F %s/no-such-config", tmpdir);
	CHECK_EQ_INT(resolve_cmd(&c, cmd, "alias", NULL, 0, why, sizeof(why)), -EINVAL);
	CHECK(c.hostname == NULL);
	/* ssh's own words, as with plain ssh -G. */
	CHECK(strstr(why, "no-such-config") != NULL);
	CHECK(strchr(why, '\n') == NULL);
}

/* A command that never answers is killed at the time bound, not waited for. */
static void test_resolve_cmd_stuck(void)
{
	struct sshconf c;
	char hang[128], why[64];
	struct timespec t0, t1;
	long ms;

	CHECK_EQ_INT(write_file("hang", "#!/bin/sh\nexec sleep 60\n", hang, sizeof(hang)), 0);
	CHECK_EQ_INT(chmod(hang, 0755), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ_INT(resolve_cmd(&c, hang, "alias", NULL, 0, why, sizeof(why)), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 4000 && ms < 10000);
	CHECK(c.hostname == NULL);
}

int main(void)
{
	char path[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sshconf.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_parse_real);
	RUN(test_parse_defaults);
	RUN(test_strict);
	RUN(test_values);
	RUN(test_control);
	RUN(test_agent_settings);
	RUN(test_known_settings);
	RUN(test_layout);
	RUN(test_limits);
	RUN(test_expand);
	RUN(test_resolve_real);
	RUN(test_resolve_options);
	RUN(test_resolve_broken);
	RUN(test_resolve_no_ssh);
	RUN(test_resolve_cmd);
	RUN(test_resolve_cmd_stuck);

	snprintf(path, sizeof(path), "%s/config", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config_o", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/hang", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	T_EXIT();
}
