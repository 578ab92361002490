/*
 * priv_server: the order and policy checks of the privileged part (see
 * priv_server.h).
 */
#include "priv_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/addrpolicy.h"
#include "../../common/clock.h"
#include "../services/autohosts.h"

void priv_server_init(struct priv_server *s, const struct priv_backend *be, void *ctx,
		      const struct priv_grant *grant)
{
	memset(s, 0, sizeof(*s));
	s->be = be;
	s->ctx = ctx;
	s->grant = *grant;
	s->hosts_rl = (struct ratelimit)RATELIMIT_INIT(PRIV_HOSTS_BURST, PRIV_RATE_MS);
	s->ct_rl = (struct ratelimit)RATELIMIT_INIT(PRIV_CT_BURST, PRIV_RATE_MS);
	s->rules_rl = (struct ratelimit)RATELIMIT_INIT(PRIV_RULES_BURST, PRIV_RATE_MS);
	s->tun_fd = -1;
}

int priv_server_take_fd(struct priv_server *s)
{
	int fd = s->tun_fd;

	s->tun_fd = -1;
	return fd;
}

static void drop_fd(struct priv_server *s)
{
	if (s->tun_fd >= 0)
		close(s->tun_fd);
	s->tun_fd = -1;
}

static int do_tun(struct priv_server *s)
{
	int fd = -1, ret;

	if (!s->installed)
		return -ENOENT;
	if (s->tun)
		return -EALREADY;
	if (!s->be->tun)
		return -EOPNOTSUPP;
	memset(s->tun_name, 0, sizeof(s->tun_name));
	ret = s->be->tun(s->ctx, &s->inst.spec, s->tun_name, sizeof(s->tun_name), &fd, s->why_buf,
			 sizeof(s->why_buf));
	s->tun_name[sizeof(s->tun_name) - 1] = '\0';
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		s->why = s->why_buf[0] ? s->why_buf : NULL;
		return ret;
	}
	if (fd < 0 || !s->tun_name[0]) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	s->tun = true;
	s->tun_fd = fd;
	return 0;
}

/* Whether one more request limited by rl may go now; a refused one changes nothing. */
static bool rate_ok(struct priv_server *s, struct ratelimit *rl)
{
	unsigned dropped;

	return ratelimit_allow(rl, s->be->now_ms ? s->be->now_ms(s->ctx) : clock_ms(), &dropped);
}

static int do_install(struct priv_server *s, struct priv_msg *m)
{
	int ret;

	if (s->installed)
		return -EALREADY;
	ret = priv_grant_check(&s->grant, &m->spec, &s->why);
	if (ret < 0)
		return ret;
	ret = s->be->install(s->ctx, &m->spec, m->label, s->why_buf, sizeof(s->why_buf));
	if (ret < 0) {
		s->why = s->why_buf[0] ? s->why_buf : NULL;
		return ret;
	}
	/*
	 * A rewrite for no entries takes away what no running tunnel owns:
	 * the lines of parts killed outright, and of older versions. Other
	 * tunnels' lines stay (the backend knows whose are whose).
	 */
	s->be->hosts_restore(s->ctx);
	s->installed = true;
	s->inst = *m; /* keeps the lists */
	memset(m, 0, sizeof(*m));
	return 0;
}

/* The same gate as INSTALL's, so that a check tells no more than the install would. */
static int do_check(struct priv_server *s, struct priv_msg *m)
{
	int ret;

	if (s->installed)
		return -EALREADY;
	if (!s->be->check)
		return -EOPNOTSUPP;
	ret = priv_grant_check(&s->grant, &m->spec, &s->why);
	if (ret < 0)
		return ret;
	ret = s->be->check(s->ctx, &m->spec, m->label, s->why_buf, sizeof(s->why_buf));
	if (ret < 0)
		s->why = s->why_buf[0] ? s->why_buf : NULL;
	return ret;
}

static int do_update(struct priv_server *s, struct priv_msg *m)
{
	struct fw_spec next;
	int ret;

	if (!s->installed)
		return -ENOENT;
	next = s->inst.spec;
	next.include = m->spec.include;
	next.n_include = m->spec.n_include;
	next.exclude = m->spec.exclude;
	next.n_exclude = m->spec.n_exclude;
	ret = s->be->update(s->ctx, &next, s->why_buf, sizeof(s->why_buf));
	if (ret < 0) {
		s->why = s->why_buf[0] ? s->why_buf : NULL;
		return ret;
	}
	s->inst.spec = next;
	free(s->lists);
	s->lists = m->subnets; /* now owned here */
	m->subnets = NULL;
	return 0;
}

/* Why a host line may not be written, or NULL when it may. */
static const char *host_refused(const struct priv_server *s, const struct priv_host *h)
{
	struct autohosts_routes r = {s->inst.spec.include, s->inst.spec.exclude,
				     s->inst.spec.n_include, s->inst.spec.n_exclude};

	if (addrpolicy_addr(h->family, h->addr))
		return "special address";
	if (hostname_local(h->name))
		return "local name";
	/* Some port routed is enough: the user's side applies the stricter rule itself. */
	if (!autohosts_carried(&r, h->family, h->addr, true))
		return "not routed";
	return NULL;
}

static int do_hosts(struct priv_server *s, struct priv_msg *m, uint8_t *shadowed)
{
	size_t i;
	int ret;

	if (!s->installed)
		return -ENOENT;
	ret = priv_grant_hosts(&s->grant, &s->why);
	if (ret < 0)
		return ret;
	for (i = 0; i < m->n_hosts; i++)
		if (host_refused(s, &m->hosts[i]))
			return -EPERM;
	/*
	 * Taking our lines away once after each write is never refused for
	 * the pace: it ends what a (paced) write began, and a stop must not
	 * read as "busy". Once, whatever its result: a restore that keeps
	 * failing is paced like a write.
	 */
	if (m->n_hosts == 0 && s->restore_free)
		s->restore_free = false;
	else if (!rate_ok(s, &s->hosts_rl))
		return -EBUSY;
	else if (m->n_hosts)
		s->restore_free = true;
	if (!s->e && !(s->e = calloc(PRIV_HOSTS_MAX, sizeof(*s->e))))
		return -ENOMEM;
	for (i = 0; i < m->n_hosts; i++) {
		memset(&s->e[i], 0, sizeof(s->e[i]));
		inet_ntop(m->hosts[i].family, m->hosts[i].addr, s->e[i].addr, sizeof(s->e[i].addr));
		memcpy(s->e[i].name, m->hosts[i].name, sizeof(s->e[i].name));
	}
	/* Even a failed write may have left lines: remove them at the end regardless. */
	s->hosts_written = true;
	ret = s->be->hosts_write(s->ctx, s->e, m->n_hosts);
	if (m->n_hosts == 0) {
		s->hosts_written = ret < 0;
		s->hosts_err = ret;
	}
	/* The file's own error (a read-only /etc): the caller's line says it, not ours too. */
	if (ret < 0) {
		snprintf(s->why_buf, sizeof(s->why_buf), "%s", strerror(-ret));
		s->why = s->why_buf;
	}
	for (i = 0; ret == 0 && i < m->n_hosts; i++)
		if (s->e[i].shadowed)
			shadowed[i / 8] |= (uint8_t)(1u << (i % 8));
	return ret;
}

static int do_remove(struct priv_server *s)
{
	int ret = 0, r;

	/* Our own entries first, while the spec still says which they are; a failure here
	 * leaves only entries that die with their flows. */
	if (s->installed)
		s->be->ct_flush(s->ctx, &s->inst.spec, true);
	if (s->installed && (r = s->be->remove(s->ctx)) < 0)
		ret = r;
	/*
	 * The lines are the user's side's to take away first (HOSTS with
	 * none), and its to report: a failure here is not the rules', and is
	 * kept (hosts_err) for one more try, and the exit status, at the end.
	 */
	if (s->hosts_written) {
		s->hosts_err = s->be->hosts_restore(s->ctx);
		s->hosts_written = s->hosts_err < 0;
	}
	if (ret == 0) {
		s->installed = false;
		s->tun = false;
		priv_msg_free(&s->inst);
		free(s->lists);
		s->lists = NULL;
	}
	return ret;
}

size_t priv_server_handle(struct priv_server *s, const uint8_t *body, size_t len, uint8_t *out,
			  int *status)
{
	uint8_t shadowed[PRIV_HOSTS_MAX / 8] = {0};
	uint8_t type = len ? body[0] : 0;
	struct priv_msg m;
	size_t n_hosts = 0;
	int ret;

	s->why = NULL;
	s->why_buf[0] = '\0';
	drop_fd(s);
	ret = priv_decode(body, len, &m);
	if (ret == 0 && (m.type == PRIV_INSTALL || m.type == PRIV_CHECK || m.type == PRIV_UPDATE) &&
	    !rate_ok(s, &s->rules_rl)) {
		snprintf(s->why_buf, sizeof(s->why_buf),
			 "more than %d requests for rules in %d s: refused", PRIV_RULES_BURST,
			 PRIV_RATE_MS / 1000);
		s->why = s->why_buf;
		priv_msg_free(&m);
		ret = -EBUSY;
	} else if (ret == 0) {
		n_hosts = m.n_hosts;
		switch (m.type) {
		case PRIV_INSTALL:
			ret = do_install(s, &m);
			break;
		case PRIV_CHECK:
			ret = do_check(s, &m);
			break;
		case PRIV_UPDATE:
			ret = do_update(s, &m);
			break;
		case PRIV_HOSTS:
			ret = do_hosts(s, &m, shadowed);
			if (m.n_hosts == 0)
				s->hosts_told = ret < 0;
			break;
		case PRIV_REMOVE:
			ret = do_remove(s);
			break;
		case PRIV_CT_FLUSH:
			if (!s->installed)
				ret = -ENOENT;
			else if (!rate_ok(s, &s->ct_rl))
				ret = -EBUSY;
			else
				ret = s->be->ct_flush(s->ctx, &s->inst.spec, false);
			break;
		case PRIV_TUN:
			ret = do_tun(s);
			break;
		}
		priv_msg_free(&m);
	}
	*status = ret;
	return (size_t)priv_put_reply(out, PRIV_REPLY_MAX, type, ret,
				      type == PRIV_HOSTS && ret == 0 ? shadowed : NULL,
				      type == PRIV_HOSTS && ret == 0 ? n_hosts : 0,
				      type == PRIV_TUN && ret == 0 ? s->tun_name : s->why);
}

size_t priv_server_oversized(uint8_t *out)
{
	return (size_t)priv_put_reply(out, PRIV_REPLY_MAX, 0, -EMSGSIZE, NULL, 0, NULL);
}

int priv_server_finish(struct priv_server *s)
{
	int ret = do_remove(s);

	drop_fd(s);
	free(s->e);
	s->e = NULL;
	priv_msg_free(&s->inst);
	free(s->lists);
	s->lists = NULL;
	return ret;
}
