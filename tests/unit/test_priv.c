/*
 * test_priv: the privileged part's protocol and policy (client/priv/),
 * against a backend that records what it was asked to do. Every refused
 * request must leave the backend untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../client/priv/priv_proto.h"
#include "../../client/priv/priv_server.h"
#include "t.h"

struct rec {
	int install, update, remove, write, restore, ct_stale, ct_ours, tun, check;
	int tun_fail;	/* what the tun op returns */
	bool tun_no_fd; /* the tun op succeeds without a descriptor */
	size_t last_n;
	char last_name[320];
	char label[INSTANCE_LABEL_MAX + 1];
	int64_t now;	    /* the clock the rate limits read */
	int fail_with;	    /* what the next backend call returns */
	int hosts_fail;	    /* what hosts_write and hosts_restore return */
	const char *shadow; /* hosts_write marks entries with this name shadowed */
};

static int rec_install(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		       size_t whylen)
{
	struct rec *r = ctx;

	r->install++;
	snprintf(r->label, sizeof(r->label), "%s", label);
	if (r->fail_with == -EADDRINUSE)
		snprintf(why, whylen, "clashes with pid 42");
	return r->fail_with;
}

static int rec_update(void *ctx, const struct fw_spec *spec, char *why, size_t whylen)
{
	struct rec *r = ctx;

	r->update++;
	r->last_n = spec->n_include;
	if (r->fail_with == -EADDRINUSE)
		snprintf(why, whylen, "clashes with pid 42");
	return r->fail_with;
}

static int rec_remove(void *ctx)
{
	((struct rec *)ctx)->remove++;
	return 0;
}

static int rec_write(void *ctx, struct hosts_entry *e, size_t n)
{
	struct rec *r = ctx;
	size_t i;

	r->write++;
	r->last_n = n;
	if (n)
		snprintf(r->last_name, sizeof(r->last_name), "%s %s", e[0].addr, e[0].name);
	for (i = 0; i < n; i++)
		e[i].shadowed = r->shadow && !strcmp(e[i].name, r->shadow);
	return r->hosts_fail;
}

static int rec_restore(void *ctx)
{
	struct rec *r = ctx;

	r->restore++;
	return r->hosts_fail;
}

static int rec_ct(void *ctx, const struct fw_spec *spec, bool ours)
{
	struct rec *r = ctx;

	if (ours)
		r->ct_ours++;
	else
		r->ct_stale++;
	return 7;
}

static int64_t rec_now(void *ctx)
{
	return ((struct rec *)ctx)->now;
}

/* A descriptor of /dev/null stands for the device: the order is what is checked here. */
static int rec_tun(void *ctx, const struct fw_spec *spec, char *name, size_t namelen, int *fd,
		   char *why, size_t whylen)
{
	struct rec *r = ctx;

	r->tun++;
	*fd = -1;
	if (r->tun_fail) {
		snprintf(why, whylen, "no tun here");
		return r->tun_fail;
	}
	snprintf(name, namelen, "sluice4660");
	if (!r->tun_no_fd)
		*fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

static int rec_check(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		     size_t whylen)
{
	struct rec *r = ctx;

	r->check++;
	r->last_n = spec->n_include;
	snprintf(r->label, sizeof(r->label), "%s", label);
	if (r->fail_with == -EADDRINUSE)
		snprintf(why, whylen, "clashes with pid 42");
	return r->fail_with;
}

static const struct priv_backend rec_be = {rec_install, rec_update,  rec_remove,
					   rec_write,	rec_restore, rec_ct,
					   rec_now,	rec_tun,     rec_check};

static struct subnet net4(const char *a, int prefix)
{
	struct subnet s = {.family = AF_INET, .prefix = (uint8_t)prefix, .port_hi = 65535};

	inet_pton(AF_INET, a, s.addr);
	return s;
}

static struct subnet inc[2], exc[1], dns[1];

/* Root's own sluice: no confinement, no nameserver check. */
static const struct priv_grant root_grant;

static struct fw_spec base_spec(void)
{
	inc[0] = net4("198.51.100.0", 24);
	inc[1] = net4("203.0.113.0", 24);
	inc[1].port_lo = inc[1].port_hi = 443;
	exc[0] = net4("198.51.100.128", 25);
	dns[0] = net4("192.0.2.53", 32);
	return (struct fw_spec){.redirect_port = 12300,
				.include = inc,
				.n_include = 2,
				.exclude = exc,
				.n_exclude = 1,
				.dns = dns,
				.n_dns = 1,
				.dns_port = 12301,
				.by_uid = true,
				.uid = 1000};
}

/* Send one whole message (length included) through the server; the reply's status. */
static int handle(struct priv_server *s, const uint8_t *msg, size_t len, uint8_t *bits)
{
	uint8_t out[PRIV_REPLY_MAX];
	size_t n;
	int st = 1;

	n = priv_server_handle(s, msg + PRIV_LEN_BYTES, len - PRIV_LEN_BYTES, out, &st);
	CHECK(n >= PRIV_LEN_BYTES + 6);
	CHECK_EQ_INT(out[PRIV_LEN_BYTES], PRIV_REPLY);
	if (len > PRIV_LEN_BYTES)
		CHECK_EQ_INT(out[PRIV_LEN_BYTES + 1], msg[PRIV_LEN_BYTES]);
	CHECK_EQ_INT((int32_t)((uint32_t)out[6] << 24 | (uint32_t)out[7] << 16 |
			       (uint32_t)out[8] << 8 | out[9]),
		     st);
	if (bits && n > PRIV_LEN_BYTES + 6)
		memcpy(bits, out + PRIV_LEN_BYTES + 6, n - PRIV_LEN_BYTES - 6);
	return st;
}

static uint8_t msg[1 << 16];

static int put_install(void)
{
	struct fw_spec sp = base_spec();

	return priv_put_install(msg, sizeof(msg), &sp, "alice@office:2222");
}

static void test_install_roundtrip(void)
{
	struct fw_spec sp = base_spec();
	struct priv_msg m;
	int n = put_install();

	CHECK(n > 0);
	CHECK_EQ_INT(priv_decode(msg + 4, (size_t)n - 4, &m), 0);
	CHECK_EQ_INT(m.type, PRIV_INSTALL);
	CHECK_EQ_INT(m.spec.redirect_port, 12300);
	CHECK_EQ_INT(m.spec.dns_port, 12301);
	CHECK_EQ_INT(m.spec.n_include, 2);
	CHECK_EQ_INT(m.spec.n_exclude, 1);
	CHECK_EQ_INT(m.spec.n_dns, 1);
	CHECK(m.spec.by_uid && !m.spec.by_gid && m.spec.uid == 1000);
	CHECK(!memcmp(&m.spec.include[1], &sp.include[1], sizeof(struct subnet)));
	CHECK(!memcmp(&m.spec.exclude[0], &sp.exclude[0], sizeof(struct subnet)));
	CHECK(!memcmp(&m.spec.dns[0], &sp.dns[0], sizeof(struct subnet)));
	CHECK_STR(m.label, "alice@office:2222");
	priv_msg_free(&m);
	/* A label is the remote's name as other tunnels will be told it: printable, no blanks. */
	CHECK_EQ_INT(priv_put_install(msg, sizeof(msg), &sp, "a b"), -EINVAL);
	CHECK_EQ_INT(priv_put_install(msg, sizeof(msg), &sp, ""), -EINVAL);
	n = put_install();
	msg[n - 3] = '\n'; /* inside the label: decoding refuses it too */
	CHECK_EQ_INT(priv_decode(msg + 4, (size_t)n - 4, &m), -EINVAL);
}

/* A refusal with a reason carries it in the reply, for the user's one line. */
static void test_refusal_reason(void)
{
	uint8_t out[PRIV_REPLY_MAX];
	struct priv_server s;
	struct rec r = {.fail_with = -EADDRINUSE};
	size_t n;
	int st;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	n = priv_server_handle(&s, msg + 4, (size_t)put_install() - 4, out, &st);
	CHECK_EQ_INT(st, -EADDRINUSE);
	CHECK_EQ_INT(r.install, 1);
	CHECK_STR(r.label, "alice@office:2222");
	CHECK(n == PRIV_LEN_BYTES + 6 + strlen("clashes with pid 42") &&
	      !memcmp(out + PRIV_LEN_BYTES + 6, "clashes with pid 42", n - PRIV_LEN_BYTES - 6));
	/* A plain failure says nothing more. */
	r.fail_with = -EPROTO;
	n = priv_server_handle(&s, msg + 4, (size_t)put_install() - 4, out, &st);
	CHECK_EQ_INT(st, -EPROTO);
	CHECK_EQ_INT(n, PRIV_LEN_BYTES + 6);
	priv_server_finish(&s);
}

/* Every cut of a valid INSTALL, and every extra byte, is refused without a backend call. */
static void test_malformed_install(void)
{
	struct priv_server s;
	struct rec r = {0};
	int n = put_install(), cut;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	for (cut = 0; cut < n - 4; cut++)
		CHECK_EQ_INT(handle(&s, msg, 4 + (size_t)cut, NULL), -EINVAL);
	msg[n] = 0;
	CHECK_EQ_INT(handle(&s, msg, (size_t)n + 1, NULL), -EINVAL);
	CHECK_EQ_INT(r.install, 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.install, 1);
	priv_server_finish(&s);
}

/* Patch one field of a valid INSTALL; it must be refused and change nothing. */
static void refused_with2(size_t off, uint8_t val, size_t off2, uint8_t val2, const char *what)
{
	struct priv_server s;
	struct rec r = {0};
	int n = put_install();

	priv_server_init(&s, &rec_be, &r, &root_grant);
	msg[off] = val;
	msg[off2] = val2;
	if (handle(&s, msg, (size_t)n, NULL) != -EINVAL || r.install) {
		printf("# not refused: %s\n", what);
		CHECK(0);
	}
	priv_server_finish(&s);
	CHECK_EQ_INT(r.remove + r.restore, 0);
}

static void refused_with(size_t off, uint8_t val, const char *what)
{
	refused_with2(off, val, off, val, what);
}

static void test_bad_fields(void)
{
	/* Offsets: 4 length, 1 type, then port(2) dns_port(2) flags(1) uid(4) gid(4) counts(6). */
	size_t sub0 = 4 + 1 + 19;

	refused_with2(5, 0, 6, 0, "redirect port 0");
	refused_with2(7, 0, 8, 0, "nameservers without a DNS port");
	refused_with(9, 0x82, "unknown flag");
	refused_with(9, 0, "uid without --user");
	refused_with(17, 1, "gid without --group");
	refused_with(sub0, 5, "family 5");
	refused_with(sub0 + 1, 33, "prefix 33");
	refused_with(sub0 + 2 + 3, 1, "host bits under /24");
	refused_with(sub0 + 2 + 4, 1, "stray byte after an IPv4 address");
	refused_with(sub0 + 2 + 16 + 3, 0, "port_lo 0 with port_hi 65280");
	refused_with(sub0 + PRIV_SUBNET_LEN + 18, 0x02, "port_lo 443 -> 699 > port_hi 443");
	refused_with(sub0 + 3 * PRIV_SUBNET_LEN + 1, 24, "nameserver not a single address");
	refused_with(4 + 1 + 13, 0xff, "n_include 65280 + 2");
}

static void test_limits(void)
{
	static struct subnet many[PRIV_SUBNETS_MAX + 1];
	struct fw_spec sp = base_spec();
	size_t i, cap = priv_size_spec(&(struct fw_spec){
		      .n_include = PRIV_SUBNETS_MAX + 1, .n_exclude = 1, .n_dns = 1});
	uint8_t *big = malloc(cap);

	for (i = 0; i < PRIV_SUBNETS_MAX + 1; i++)
		many[i] = net4("198.51.100.0", 24);
	sp.include = many;
	sp.n_include = PRIV_SUBNETS_MAX + 1;
	CHECK_EQ_INT(priv_put_install(big, cap, &sp, "office"), -EINVAL);
	sp.n_include = PRIV_SUBNETS_MAX;
	CHECK(priv_put_install(big, cap, &sp, "office") > 0);
	CHECK_EQ_INT(priv_put_install(big, 64, &sp, "office"), -EMSGSIZE);
	free(big);
}

static void test_order(void)
{
	struct priv_server s;
	struct rec r = {0};
	struct fw_spec sp = base_spec();
	struct priv_host h = {.family = AF_INET, .name = "db.example.test"};
	int n;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	inet_pton(AF_INET, "198.51.100.7", h.addr);
	n = priv_put_update(msg, sizeof(msg), &sp);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -ENOENT);
	n = priv_put_hosts(msg, sizeof(msg), &h, 1);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -ENOENT);
	n = priv_put_ct_flush(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -ENOENT);
	CHECK_EQ_INT(r.update + r.write + r.ct_stale + r.ct_ours, 0);
	/* A failed install leaves it uninstalled. */
	r.fail_with = -EPERM;
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), -EPERM);
	r.fail_with = 0;
	n = priv_put_update(msg, sizeof(msg), &sp);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -ENOENT);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), -EALREADY);
	CHECK_EQ_INT(r.install, 2);
	sp.n_include = 1;
	n = priv_put_update(msg, sizeof(msg), &sp);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.update, 1);
	CHECK_EQ_INT(r.last_n, 1);
	/* The stale-entry flush answers with its count; a stray byte is refused. */
	n = priv_put_ct_flush(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 7);
	msg[3]++;
	msg[n] = 0;
	CHECK_EQ_INT(handle(&s, msg, (size_t)n + 1, NULL), -EINVAL);
	CHECK_EQ_INT(r.ct_stale, 1);
	CHECK_EQ_INT(r.ct_ours, 0);
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(r.ct_ours, 1); /* our own entries go with the rules */
	CHECK_EQ_INT(r.restore, 1); /* a killed run's lines, at install; none written since */
	n = priv_put_update(msg, sizeof(msg), &sp);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -ENOENT);
	/* Removing again is harmless and calls nothing. */
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(priv_server_finish(&s), 0);
	CHECK_EQ_INT(r.remove, 1);
}

static int hosts_one(struct priv_server *s, int family, const char *addr, const char *name)
{
	struct priv_host h = {.family = family};
	int n;

	inet_pton(family, addr, h.addr);
	snprintf(h.name, sizeof(h.name), "%s", name);
	n = priv_put_hosts(msg, sizeof(msg), &h, 1);
	if (n < 0)
		return n;
	return handle(s, msg, (size_t)n, NULL);
}

static void test_hosts_policy(void)
{
	struct priv_server s;
	struct rec r = {0};
	struct priv_host h[3] = {{.family = AF_INET, .name = "a.example.test"},
				 {.family = AF_INET, .name = "mine.example.test"},
				 {.family = AF_INET, .name = "c.example.test"}};
	uint8_t bits[8] = {0};
	int n;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	/* Names outside the rule. */
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "Upper.example.test"), -EINVAL);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "a..b"), -EINVAL);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "x y"), -EINVAL);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "1.2.3.4"), -EINVAL);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "localhost"), -EPERM);
	/* Addresses: special, outside the routes, excluded, or routed only on one port. */
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "127.0.0.1", "a.example.test"), -EPERM);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "169.254.1.1", "a.example.test"), -EPERM);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "224.0.0.1", "a.example.test"), -EPERM);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "192.0.2.9", "a.example.test"), -EPERM);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.200", "a.example.test"), -EPERM);
	CHECK_EQ_INT(hosts_one(&s, AF_INET6, "2001:db8::1", "a.example.test"), -EPERM);
	CHECK_EQ_INT(r.write, 0);
	/* One bad entry refuses the whole request. */
	inet_pton(AF_INET, "198.51.100.7", h[0].addr);
	inet_pton(AF_INET, "198.51.100.8", h[1].addr);
	inet_pton(AF_INET, "192.0.2.77", h[2].addr);
	n = priv_put_hosts(msg, sizeof(msg), h, 3);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EPERM);
	CHECK_EQ_INT(r.write, 0);
	/* A good request is written, and the shadowed entry comes back marked. */
	inet_pton(AF_INET, "203.0.113.5", h[2].addr); /* routed on port 443 only: enough */
	r.shadow = "mine.example.test";
	n = priv_put_hosts(msg, sizeof(msg), h, 3);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, bits), 0);
	CHECK_EQ_INT(r.write, 1);
	CHECK_EQ_INT(r.last_n, 3);
	CHECK_STR(r.last_name, "198.51.100.7 a.example.test");
	CHECK_EQ_INT(bits[0], 2);
	/* The end removes both the rules and the lines (after the install's own clean-up). */
	CHECK_EQ_INT(priv_server_finish(&s), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(r.restore, 2);
}

static void test_hosts_malformed(void)
{
	struct priv_server s;
	struct rec r = {0};
	struct priv_host h = {.family = AF_INET, .name = "a.example.test"};
	int n, cut;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	inet_pton(AF_INET, "198.51.100.7", h.addr);
	n = priv_put_hosts(msg, sizeof(msg), &h, 1);
	for (cut = 1; cut < n - 4; cut++)
		CHECK_EQ_INT(handle(&s, msg, 4 + (size_t)cut, NULL), -EINVAL);
	msg[4 + 3] = 5; /* family */
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	msg[4 + 3] = 4;
	msg[4 + 3 + 1 + 8] = 1; /* a byte past the IPv4 address */
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	msg[4 + 3 + 1 + 8] = 0;
	msg[4 + 3 + 1 + 16] = 200; /* name length past the end */
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	msg[4 + 1] = 0xff; /* 65280+ entries announced */
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	CHECK_EQ_INT(r.write, 0);
	/* Unknown request types, an empty body, and replies sent as requests. */
	CHECK_EQ_INT(handle(&s, (const uint8_t *)"\0\0\0\1\x09", 5, NULL), -EINVAL);
	CHECK_EQ_INT(handle(&s, (const uint8_t *)"\0\0\0\0", 4, NULL), -EINVAL);
	n = priv_put_hello(msg, sizeof(msg), 1, 1000, PRIV_G_CONFINED);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	n = priv_put_reply(msg, sizeof(msg), PRIV_INSTALL, 0, NULL, 0, NULL);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EINVAL);
	CHECK_EQ_INT(r.install + r.update + r.remove + r.write, 1);
	priv_server_finish(&s);
}

/* A resolv.conf in a temp file, for the nameserver check. */
static void resolv_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/sluice-test-resolv.XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ_INT(write(fd, text, strlen(text)), (int)strlen(text));
		close(fd);
	}
}

static int check_spec(const struct priv_grant *g, const struct fw_spec *sp, const char *want_why)
{
	const char *why = "unset";
	int ret = priv_grant_check(g, sp, &why);

	CHECK(ret == 0 ? why == NULL : why && strstr(why, want_why));
	if (ret < 0 && why && !strstr(why, want_why))
		printf("# refused for '%s', want '%s'\n", why, want_why);
	return ret;
}

/*
 * The default sudo line: uid 1000's own sockets, no router mode, DNS only
 * to resolv.conf's nameservers or loopback. The --all-users line drops the
 * confinement but keeps the nameserver check; root has neither.
 */
static void test_grant(void)
{
	struct priv_grant g;
	struct fw_spec sp;
	struct subnet other_ns = net4("203.0.113.53", 32), stub = net4("127.0.0.53", 32);
	char path[64];

	resolv_file(path, sizeof(path),
		    "search example\nnameserver 192.0.2.53\n"
		    "nameserver 2001:db8::53 # v6\n");
	CHECK_EQ_INT(priv_grant_for(&g, 1000, false, path), 0);
	CHECK(g.confined && g.ns_checked && g.uid == 1000);
	CHECK_EQ_INT(g.n_ns, 2);
	sp = base_spec();
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);
	sp.prerouting = true;
	CHECK_EQ_INT(check_spec(&g, &sp, "router mode"), -EPERM);
	sp = base_spec();
	sp.by_uid = false;
	CHECK_EQ_INT(check_spec(&g, &sp, "every user"), -EPERM);
	sp.by_uid = true;
	sp.uid = 0;
	CHECK_EQ_INT(check_spec(&g, &sp, "another user"), -EPERM);
	sp = base_spec();
	sp.by_gid = true; /* only narrows what skuid already confines */
	sp.gid = 4242;
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);
	sp = base_spec();
	sp.dns = &other_ns;
	CHECK_EQ_INT(check_spec(&g, &sp, "resolv.conf"), -EACCES);
	sp.dns = &stub;
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);

	/* --all-users: anyone's sockets and router mode, but still resolv.conf's nameservers. */
	CHECK_EQ_INT(priv_grant_for(&g, 1000, true, path), 0);
	CHECK(!g.confined && g.ns_checked);
	sp = base_spec();
	sp.by_uid = false;
	sp.prerouting = true;
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);
	sp.dns = &other_ns;
	CHECK_EQ_INT(check_spec(&g, &sp, "resolv.conf"), -EACCES);

	/* Root, with or without the flag: as before. */
	CHECK_EQ_INT(priv_grant_for(&g, 0, false, path), 0);
	CHECK(!g.confined && !g.ns_checked);
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);

	/* No resolv.conf: a user may still capture DNS to a loopback stub, and nothing else. */
	unlink(path);
	CHECK_EQ_INT(priv_grant_for(&g, 1000, false, path), 0);
	CHECK_EQ_INT(g.n_ns, 0);
	sp = base_spec();
	CHECK_EQ_INT(check_spec(&g, &sp, "resolv.conf"), -EACCES);
	sp.dns = &stub;
	CHECK_EQ_INT(check_spec(&g, &sp, ""), 0);
}

/*
 * CHECK: the INSTALL's encoding under its own type; before INSTALL only,
 * through the same grant, installing nothing; a clash's reason reaches the
 * reply. A backend without it says so.
 */
static void test_check(void)
{
	struct fw_spec sp = base_spec();
	struct priv_grant g = {.uid = 1000, .confined = true};
	struct priv_backend no_check = rec_be;
	struct priv_server s;
	struct priv_msg m;
	struct rec r = {.fail_with = -EADDRINUSE};
	int n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");

	CHECK(n > 0 && n == put_install());
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(priv_decode(msg + 4, (size_t)n - 4, &m), 0);
	CHECK_EQ_INT(m.type, PRIV_CHECK);
	CHECK_EQ_INT(m.spec.n_include, 2);
	CHECK_STR(m.label, "alice@office:2222");
	priv_msg_free(&m);
	/* Cut short: refused before any backend call. */
	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n - 1, NULL), -EINVAL);
	CHECK_EQ_INT(r.check, 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EADDRINUSE);
	CHECK(s.why && !strcmp(s.why, "clashes with pid 42"));
	CHECK_EQ_INT(r.check, 1);
	CHECK_EQ_INT(r.install, 0);
	r.fail_with = 0;
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.check, 2);
	CHECK_EQ_INT(r.install, 0);
	/* Nothing was installed by it: what needs an INSTALL is still refused. */
	CHECK_EQ_INT(handle(&s, msg, (size_t)priv_put_ct_flush(msg, sizeof(msg)), NULL), -ENOENT);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EALREADY);
	CHECK_EQ_INT(r.check, 2);
	priv_server_finish(&s);

	/* Beyond the grant: the same refusal INSTALL gets, and the records are not asked. */
	priv_server_init(&s, &rec_be, &r, &g);
	sp.uid = 0;
	sp.n_dns = 0;
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EPERM);
	CHECK(s.why && strstr(s.why, "another user"));
	CHECK_EQ_INT(r.check, 2);
	priv_server_finish(&s);

	no_check.check = NULL;
	priv_server_init(&s, &no_check, &r, &root_grant);
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EOPNOTSUPP);
	priv_server_finish(&s);
}

/* The server checks every INSTALL against its grant before the backend is called. */
static void test_grant_server(void)
{
	struct priv_server s;
	struct priv_grant g = {.uid = 1000, .confined = true};
	struct fw_spec sp = base_spec();
	struct rec r = {0};
	int n;

	priv_server_init(&s, &rec_be, &r, &g);
	sp.uid = 0;
	sp.n_dns = 0;
	n = priv_put_install(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EPERM);
	CHECK(s.why && strstr(s.why, "another user"));
	CHECK_EQ_INT(r.install, 0);
	/* Refused, so nothing is installed: the requests that need it are refused too. */
	CHECK_EQ_INT(handle(&s, msg, (size_t)priv_put_ct_flush(msg, sizeof(msg)), NULL), -ENOENT);
	sp.uid = 1000;
	n = priv_put_install(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK(s.why == NULL);
	CHECK_EQ_INT(r.install, 1);
	/* Host lines reach every user's lookups: not the default line's to write. */
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "db.example.test"), -EPERM);
	CHECK(s.why && strstr(s.why, "/etc/hosts"));
	CHECK_EQ_INT(r.write, 0);
	priv_server_finish(&s);
}

/*
 * HOSTS and CT_FLUSH past their rate are refused with -EBUSY and reach no
 * backend; the budget comes back with the next window, and REMOVE is never
 * held back.
 */
static void test_rate_limits(void)
{
	struct priv_server s;
	struct rec r = {.now = 1000};
	char name[32];
	int i, n;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	for (i = 0; i < PRIV_HOSTS_BURST; i++) {
		snprintf(name, sizeof(name), "h%d.example.test", i);
		CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", name), 0);
	}
	CHECK_EQ_INT(r.write, PRIV_HOSTS_BURST);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "late.example.test"), -EBUSY);
	CHECK_EQ_INT(r.write, PRIV_HOSTS_BURST);
	CHECK(strstr(r.last_name, "late") == NULL);
	/* A refused request by policy still says why, not busy. */
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "127.0.0.1", "a.example.test"), -EPERM);
	for (i = 0; i < PRIV_CT_BURST; i++) {
		n = priv_put_ct_flush(msg, sizeof(msg));
		CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 7);
	}
	n = priv_put_ct_flush(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EBUSY);
	CHECK_EQ_INT(r.ct_stale, PRIV_CT_BURST);
	/* Just before the window ends: still refused; after it: taken. */
	r.now += PRIV_RATE_MS - 1;
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "late.example.test"), -EBUSY);
	r.now += 1;
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "late.example.test"), 0);
	CHECK_EQ_INT(r.write, PRIV_HOSTS_BURST + 1);
	CHECK_STR(r.last_name, "198.51.100.7 late.example.test");
	n = priv_put_ct_flush(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 7);
	CHECK_EQ_INT(r.ct_stale, PRIV_CT_BURST + 1);
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(priv_server_finish(&s), 0);
}

/*
 * The hosts lines cannot be taken away (a read-only /etc). The user's
 * side's own restore (HOSTS with none) says so, even past the pace of
 * writes, since a stop must not read as busy; REMOVE still takes the rules
 * away and does not report the lines as the rules' failure; the end keeps
 * the failure for the exit status, marked as told. Without that restore
 * (the user's side killed) it is not marked told.
 */
static void test_hosts_restore_fails(void)
{
	struct priv_server s;
	struct rec r = {.now = 1000};
	char name[32];
	int i, n;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	for (i = 0; i < PRIV_HOSTS_BURST; i++) {
		snprintf(name, sizeof(name), "h%d.example.test", i);
		CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", name), 0);
	}
	r.hosts_fail = -EROFS;
	n = priv_put_hosts(msg, sizeof(msg), NULL, 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EROFS);
	CHECK(s.hosts_told);
	/* Unpaced once after a write, not again: the burst is spent. */
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EBUSY);
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(priv_server_finish(&s), 0);
	CHECK_EQ_INT(s.hosts_err, -EROFS);
	CHECK(s.hosts_told);

	r = (struct rec){.now = 1000};
	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	CHECK_EQ_INT(hosts_one(&s, AF_INET, "198.51.100.7", "a.example.test"), 0);
	r.hosts_fail = -EROFS;
	CHECK_EQ_INT(priv_server_finish(&s), 0);
	CHECK_EQ_INT(r.remove, 1);
	CHECK_EQ_INT(s.hosts_err, -EROFS);
	CHECK(!s.hosts_told);
	/* Once the lines can go, they do, and nothing is left to report. */
	r.hosts_fail = 0;
	CHECK_EQ_INT(priv_server_finish(&s), 0);
	CHECK_EQ_INT(s.hosts_err, 0);
}

/*
 * INSTALL, CHECK and UPDATE share a pace: each compares with every other
 * tunnel's networks under the lock they all take. Past it: -EBUSY with a
 * reason, no backend call; REMOVE is never held back; the next window
 * takes them again.
 */
static void test_rules_rate_limit(void)
{
	struct priv_server s;
	struct rec r = {.now = 1000};
	struct fw_spec sp = base_spec();
	int i, n;

	priv_server_init(&s, &rec_be, &r, &root_grant);
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	for (i = 0; i < PRIV_RULES_BURST - 1; i++)
		CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	CHECK_EQ_INT(r.check + r.install, PRIV_RULES_BURST);
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), -EBUSY);
	CHECK(s.why && strstr(s.why, "requests for rules"));
	CHECK_EQ_INT(r.check + r.install, PRIV_RULES_BURST);
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.remove, 1);
	r.now += PRIV_RATE_MS;
	n = priv_put_check(msg, sizeof(msg), &sp, "alice@office:2222");
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(priv_server_finish(&s), 0);
}

static void test_oversized_reply(void)
{
	uint8_t out[PRIV_REPLY_MAX];
	size_t n = priv_server_oversized(out);

	CHECK_EQ_INT(n, PRIV_LEN_BYTES + 6);
	CHECK_EQ_INT(out[4], PRIV_REPLY);
	CHECK_EQ_INT((int32_t)((uint32_t)out[6] << 24 | (uint32_t)out[7] << 16 |
			       (uint32_t)out[8] << 8 | out[9]),
		     -EMSGSIZE);
}

/* Whether fd is open. */
static bool fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/*
 * TUN: only after INSTALL, once per INSTALL, empty; its reply names the
 * device, and the descriptor waits for the caller, or is closed by the
 * next request.
 */
static void test_tun_order(void)
{
	uint8_t out[PRIV_REPLY_MAX], tun[8];
	struct priv_server s;
	struct rec r = {0};
	int n = priv_put_tun(tun, sizeof(tun)), st, fd;
	size_t len;

	CHECK_EQ_INT(n, PRIV_LEN_BYTES + 1);
	priv_server_init(&s, &rec_be, &r, &root_grant);
	CHECK_EQ_INT(handle(&s, tun, (size_t)n, NULL), -ENOENT);
	CHECK_EQ_INT(priv_server_take_fd(&s), -1);
	CHECK_EQ_INT(r.tun, 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	/* A stray byte is refused before the backend. */
	memcpy(msg, tun, (size_t)n);
	msg[3]++;
	msg[n] = 0;
	CHECK_EQ_INT(handle(&s, msg, (size_t)n + 1, NULL), -EINVAL);
	CHECK_EQ_INT(r.tun, 0);
	/*
	 * A backend failure: its status and its reason (not a name), no
	 * descriptor, and it may be asked again.
	 */
	r.tun_fail = -EBUSY;
	len = priv_server_handle(&s, tun + 4, (size_t)n - 4, out, &st);
	CHECK_EQ_INT(st, -EBUSY);
	CHECK(len == PRIV_LEN_BYTES + 6 + 11 &&
	      !memcmp(out + PRIV_LEN_BYTES + 6, "no tun here", 11));
	CHECK_EQ_INT(priv_server_take_fd(&s), -1);
	r.tun_fail = 0;
	len = priv_server_handle(&s, tun + 4, (size_t)n - 4, out, &st);
	CHECK_EQ_INT(st, 0);
	CHECK(len == PRIV_LEN_BYTES + 6 + 10 &&
	      !memcmp(out + PRIV_LEN_BYTES + 6, "sluice4660", 10));
	fd = priv_server_take_fd(&s);
	CHECK(fd_open(fd));
	CHECK_EQ_INT(priv_server_take_fd(&s), -1); /* taken once */
	close(fd);
	CHECK_EQ_INT(handle(&s, tun, (size_t)n, NULL), -EALREADY);
	CHECK_EQ_INT(r.tun, 2); /* the refusal reached no backend */
	/* A descriptor nobody takes is closed by the next request. */
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	n = priv_put_tun(tun, sizeof(tun));
	CHECK_EQ_INT(handle(&s, tun, (size_t)n, NULL), 0);
	fd = s.tun_fd;
	CHECK(fd_open(fd));
	n = priv_put_ct_flush(msg, sizeof(msg));
	handle(&s, msg, (size_t)n, NULL);
	CHECK(!fd_open(fd));
	/* A backend that claims success without a descriptor is a failure. */
	n = priv_put_remove(msg, sizeof(msg));
	CHECK_EQ_INT(handle(&s, msg, (size_t)n, NULL), 0);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	r.tun_no_fd = true;
	n = priv_put_tun(tun, sizeof(tun));
	CHECK_EQ_INT(handle(&s, tun, (size_t)n, NULL), -EIO);
	priv_server_finish(&s);
}

/* A confined grant has its TUN too: the marking rules carry its owner match. */
static void test_tun_confined(void)
{
	struct priv_grant g = {.confined = true, .uid = 1000};
	struct priv_server s;
	struct rec r = {0};
	uint8_t tun[8];
	int n = priv_put_tun(tun, sizeof(tun));

	priv_server_init(&s, &rec_be, &r, &g);
	CHECK_EQ_INT(handle(&s, msg, (size_t)put_install(), NULL), 0);
	CHECK_EQ_INT(handle(&s, tun, (size_t)n, NULL), 0);
	CHECK_EQ_INT(r.tun, 1);
	priv_server_finish(&s);
	CHECK_EQ_INT(s.tun_fd, -1);
}

int main(void)
{
	RUN(test_install_roundtrip);
	RUN(test_malformed_install);
	RUN(test_bad_fields);
	RUN(test_limits);
	RUN(test_order);
	RUN(test_hosts_policy);
	RUN(test_hosts_malformed);
	RUN(test_oversized_reply);
	RUN(test_refusal_reason);
	RUN(test_grant);
	RUN(test_grant_server);
	RUN(test_check);
	RUN(test_rate_limits);
	RUN(test_rules_rate_limit);
	RUN(test_hosts_restore_fails);
	RUN(test_tun_order);
	RUN(test_tun_confined);
	T_EXIT();
}
