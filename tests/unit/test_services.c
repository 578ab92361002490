/*
 * test_services: the helper's -H seeds. The client sends them before its
 * own loop runs, which can be after the helper's first tick has started
 * the hostwatch child: a late seed must start the child again with it, not
 * end the session as a protocol error. And names that come while the
 * session's control queue is full wait for room: the child reports each
 * once, so one dropped would never reach the client.
 *
 * Runs in network and mount namespaces of its own (it needs root), so the
 * child's lookups reach nothing: only lo, and that down, and NSS from files.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <unistd.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "../../common/wire.h"
#include "../../server/services.h"
#include "t.h"

/* This process's children, space-separated, as the kernel lists them. */
static void children(char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	out[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
}

static int seed(struct services *s, const char *name)
{
	uint8_t frame[WIRE_HDR_LEN + 32 + WIRE_NAME_MAX];
	struct wire_host h = {.family = AF_INET};
	struct wire_frame f;
	size_t n;

	snprintf(h.name, sizeof(h.name), "%s", name);
	n = wire_put_host(frame, sizeof(frame), &h);
	if (!n || wire_parse(frame, n, &f) <= 0)
		return -EINVAL;
	return services_ctl(s, &f);
}

/* The helper's -H service on a mux of its own that no one reads: the mux, or NULL. */
static struct mux *hosts_start(struct evloop *loop, struct services **s)
{
	static const struct mux_ops none;
	struct mux *m;

	CHECK_EQ_INT(evloop_init(loop), 0);
	m = mux_new(loop, 256 << 10, 64 << 10, &none, NULL);
	CHECK(m != NULL);
	if (m)
		CHECK_EQ_INT(services_start(s, loop, m, WIRE_F_HOSTS), 0);
	return m;
}

static void test_late_seed_restarts_hostwatch(void)
{
	struct evloop loop;
	struct mux *m;
	struct services *s = NULL;
	char before[256], after[256];

	m = hosts_start(&loop, &s);
	if (!m)
		return;
	/* A seed before the first tick is simply taken. */
	CHECK_EQ_INT(seed(s, "early.test"), 0);
	services_tick(s);
	children(before, sizeof(before));
	CHECK(before[0] != '\0');
	/* After it: taken too, and the child is another one after the next tick. */
	CHECK_EQ_INT(seed(s, "late.test"), 0);
	services_tick(s);
	children(after, sizeof(after));
	CHECK(after[0] != '\0' && strcmp(before, after) != 0);
	CHECK(strchr(after, ' ') == strrchr(after, ' ')); /* one child, "PID " */
	services_free(s);
	children(after, sizeof(after));
	CHECK_EQ_INT(after[0], '\0');
	mux_free(m);
	evloop_close(&loop);
}

/*
 * Run the loop for about ms as the helper's own does, pumping after each
 * turn, but ticking every 100 ms rather than every second.
 */
static void run_for(struct evloop *loop, struct services *s, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		evloop_run_once(loop, 20);
		services_pump(s);
		if (i % 5 == 4)
			services_tick(s);
	}
}

/* Take what m queued; count the HOST frames for names "name-N.test" not seen yet (N < 64). */
static int drain_hosts(struct mux *m, uint8_t *seen)
{
	static uint8_t buf[1 << 20];
	size_t have = 0, len, off = 0;
	const uint8_t *p;
	struct wire_frame f;
	int n, got = 0;
	unsigned i;

	for (;;) {
		mux_fill(m);
		p = mux_out_peek(m, &len);
		if (!len || have + len > sizeof(buf))
			break;
		memcpy(buf + have, p, len);
		have += len;
		mux_out_consume(m, len);
	}
	while ((n = wire_parse(buf + off, have - off, &f)) > 0) {
		off += (size_t)n;
		if (f.type == WIRE_HOST && sscanf(f.u.host.name, "name-%u.test", &i) == 1 &&
		    i < 64 && !seen[i]) {
			seen[i] = 1;
			got++;
		}
	}
	return got;
}

/* A burst of DNS replies fills the control queue while the child reports 40 names. */
static void test_names_wait_for_room(void)
{
	static uint8_t frame[WIRE_HDR_LEN + 1024];
	uint8_t seen[64] = {0};
	struct evloop loop;
	struct mux *m;
	struct services *s = NULL;
	int got, fills = 0, i;

	m = hosts_start(&loop, &s);
	if (!m)
		return;
	wire_put_hdr(frame, sizeof(frame), WIRE_DNS_REPLY, 1, 1024);
	while (fills < 100000 && mux_send_ctl(m, frame, sizeof(frame)) == 0)
		fills++;
	/* The gate: the queue is full, so a HOST frame would be refused now. */
	CHECK(fills > 0 && fills < 100000);
	run_for(&loop, s, 2000);
	/* Room again: what waited goes out, and the child goes on. */
	got = drain_hosts(m, seen);
	for (i = 0; i < 50 && got < 40; i++) {
		run_for(&loop, s, 100);
		got += drain_hosts(m, seen);
	}
	CHECK_EQ_INT(got, 40);
	services_free(s);
	mux_free(m);
	evloop_close(&loop);
}

/* Bind a file holding text over path, in this process's own mount namespace. */
static int cover(const char *path, const char *text)
{
	char tmp[] = "/tmp/test_services.XXXXXX";
	int fd = mkstemp(tmp), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    mount(tmp, path, NULL, MS_BIND, NULL) < 0)
		ret = -errno;
	close(fd);
	unlink(tmp); /* the mount keeps it */
	return ret;
}

int main(void)
{
	/*
	 * No network but a loopback that is down, and name lookups from files
	 * alone: nscd, or an NSS module that asks a daemon over a unix socket
	 * (systemd-resolved), would otherwise reach the real network.
	 */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    (access("/etc/nsswitch.conf", F_OK) == 0 &&
	     cover("/etc/nsswitch.conf", "hosts: files\nnetworks: files\n") < 0) ||
	    (access("/etc/resolv.conf", F_OK) == 0 && cover("/etc/resolv.conf", "") < 0) ||
	    /* glibc asks nscd before nsswitch.conf: hide its socket too */
	    (access("/run/nscd", F_OK) == 0 && mount("none", "/run/nscd", "tmpfs", 0, NULL) < 0)) {
		printf("FAIL setup: network and mount namespaces of its own (needs root): %s\n",
		       strerror(errno));
		return 1;
	}
	RUN(test_late_seed_restarts_hostwatch);
	{
		static char hosts[40 * 48];
		size_t off = 0;

		for (int i = 0; i < 40; i++)
			off += (size_t)snprintf(hosts + off, sizeof(hosts) - off,
						"198.51.100.%d name-%d.test\n", i + 1, i);
		if (cover("/etc/hosts", hosts) < 0) {
			printf("FAIL setup: cannot cover /etc/hosts: %s\n", strerror(errno));
			return 1;
		}
	}
	RUN(test_names_wait_for_room);
	T_EXIT();
}
