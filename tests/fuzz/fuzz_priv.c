/*
 * The privileged part's request handling: a byte stream as the user's side
 * could send it, cut into messages by their length fields and handled in
 * order by the server's order and policy checks, over a backend that only
 * counts. Whatever comes, a reply is always one well-formed message, and
 * nothing but CHECK is called before an INSTALL went through, and CHECK never after.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "../../client/priv/priv_server.h"
#include "fuzz.h"

static int calls, installs;

static int f_install(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		     size_t whylen)
{
	installs++;
	return spec->n_include & 1 ? -EINVAL : 0;
}

static int f_update(void *ctx, const struct fw_spec *spec, char *why, size_t whylen)
{
	calls++;
	return 0;
}

static int f_remove(void *ctx)
{
	return 0;
}

static int f_write(void *ctx, struct hosts_entry *e, size_t n)
{
	size_t i;

	calls++;
	for (i = 0; i < n; i++)
		e[i].shadowed = e[i].name[0] == 'a';
	return 0;
}

static int f_restore(void *ctx)
{
	return 0;
}

static int f_ct(void *ctx, const struct fw_spec *spec, bool ours)
{
	return ours ? 0 : 3;
}

/* A clock that moves a little with each request, so the rate limits both hold and let go. */
static int64_t now;

static int64_t f_now(void *ctx)
{
	return now += 250;
}

/* /dev/null stands for the device; every other one fails, to reach that path too. */
static int f_tun(void *ctx, const struct fw_spec *spec, char *name, size_t namelen, int *fd,
		 char *why, size_t whylen)
{
	calls++;
	if (calls & 1) {
		snprintf(why, whylen, "busy");
		return -EBUSY;
	}
	snprintf(name, namelen, "sluice1");
	*fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

static int f_check(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		   size_t whylen)
{
	struct priv_server *s = ctx;

	if (s->installed)
		abort();
	return spec->n_include & 1 ? -EADDRINUSE : 0;
}

static const struct priv_backend be = {f_install, f_update, f_remove, f_write, f_restore,
				       f_ct,	  f_now,    f_tun,    f_check};

/* Root's grant, so that every request the decoder accepts reaches the policy below it. */
static const struct priv_grant grant;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[PRIV_REPLY_MAX];
	struct priv_server s;
	size_t off = 0;

	calls = installs = 0;
	now = 0;
	priv_server_init(&s, &be, &s, &grant);
	while (size - off >= PRIV_LEN_BYTES) {
		uint32_t len = (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 |
			       (uint32_t)data[off + 2] << 8 | data[off + 3];
		size_t n;
		int st, fd;

		off += PRIV_LEN_BYTES;
		if (len > size - off)
			len = (uint32_t)(size - off);
		n = priv_server_handle(&s, data + off, len, out, &st);
		fd = priv_server_take_fd(&s);
		/* A descriptor goes only with a TUN that succeeded, and that one always has one. */
		if ((fd >= 0) != (len && data[off] == PRIV_TUN && st == 0))
			abort();
		if (fd >= 0)
			close(fd);
		off += len;
		if (n < PRIV_LEN_BYTES + 6 || n > PRIV_REPLY_MAX ||
		    out[PRIV_LEN_BYTES] != PRIV_REPLY)
			abort();
		if (!s.installed && calls && !installs)
			abort();
	}
	priv_server_finish(&s);
	return 0;
}
