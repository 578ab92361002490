/*
 * priv_proto: encode and strictly decode the privileged part's messages
 * (see priv_proto.h).
 */
#include "priv_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static uint8_t fam_code(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
}

/* A network exactly as the firewall takes it: no stray address bytes, no host bits. */
static bool subnet_ok(const struct subnet *s)
{
	size_t alen = s->family == AF_INET ? 4 : 16, i;
	unsigned bits = s->family == AF_INET ? 32 : 128;

	if (s->prefix > bits)
		return false;
	for (i = alen; i < 16; i++)
		if (s->addr[i])
			return false;
	for (i = 0; i < alen; i++) {
		unsigned first = (unsigned)i * 8;
		uint8_t keep = first >= s->prefix ? 0
			       : s->prefix - first >= 8
				   ? 0xff
				   : (uint8_t)(0xff << (8 - (s->prefix - first)));
		if (s->addr[i] & ~keep)
			return false;
	}
	/* Every port, or a range of real ports. */
	return (s->port_lo == 0 && s->port_hi == 65535) ||
	       (s->port_lo >= 1 && s->port_lo <= s->port_hi);
}

static void get_subnet(struct breader *r, struct subnet *s)
{
	uint8_t fam = breader_u8(r);

	memset(s, 0, sizeof(*s));
	s->family = fam == 4 ? AF_INET : fam == 6 ? AF_INET6 : 0;
	s->prefix = breader_u8(r);
	breader_bytes(r, s->addr, 16);
	s->port_lo = breader_u16(r);
	s->port_hi = breader_u16(r);
	if (!s->family || !subnet_ok(s))
		r->bad = true;
}

static void put_subnet(struct bwriter *w, const struct subnet *s)
{
	uint8_t addr[16] = {0};

	memcpy(addr, s->addr, s->family == AF_INET ? 4 : 16);
	bwriter_u8(w, fam_code(s->family));
	bwriter_u8(w, s->prefix);
	bwriter_bytes(w, addr, 16);
	bwriter_u16(w, s->port_lo);
	bwriter_u16(w, s->port_hi);
	if (!fam_code(s->family))
		w->bad = true;
}

static int decode_lists(struct breader *r, struct priv_msg *m, size_t n_inc, size_t n_exc,
			size_t n_dns)
{
	size_t i, n = n_inc + n_exc + n_dns;

	if (n_inc > PRIV_SUBNETS_MAX || n_exc > PRIV_SUBNETS_MAX || n_dns > PRIV_DNS_MAX ||
	    breader_left(r) < n * PRIV_SUBNET_LEN)
		return -EINVAL;
	m->subnets = calloc(n + 1, sizeof(*m->subnets));
	if (!m->subnets)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		get_subnet(r, &m->subnets[i]);
	/* A nameserver is one address; the firewall matches it whole. */
	for (i = n_inc + n_exc; i < n; i++)
		if (m->subnets[i].prefix != (m->subnets[i].family == AF_INET ? 32 : 128))
			r->bad = true;
	m->spec.include = m->subnets;
	m->spec.n_include = n_inc;
	m->spec.exclude = m->subnets + n_inc;
	m->spec.n_exclude = n_exc;
	m->spec.dns = n_dns ? m->subnets + n_inc + n_exc : NULL;
	m->spec.n_dns = n_dns;
	return r->bad ? -EINVAL : 0;
}

static int decode_install(struct breader *r, struct priv_msg *m)
{
	uint8_t flags, len;
	int ret;
	size_t n_inc, n_exc, n_dns;

	m->spec.redirect_port = breader_u16(r);
	m->spec.dns_port = breader_u16(r);
	flags = breader_u8(r);
	m->spec.uid = breader_u32(r);
	m->spec.gid = breader_u32(r);
	n_inc = breader_u16(r);
	n_exc = breader_u16(r);
	n_dns = breader_u16(r);
	if (r->bad || flags & ~(PRIV_F_PREROUTING | PRIV_F_BY_UID | PRIV_F_BY_GID))
		return -EINVAL;
	m->spec.prerouting = flags & PRIV_F_PREROUTING;
	m->spec.by_uid = flags & PRIV_F_BY_UID;
	m->spec.by_gid = flags & PRIV_F_BY_GID;
	/* Fields that mean nothing must be zero, so no message has two spellings. */
	if (m->spec.redirect_port == 0 || (!n_dns && m->spec.dns_port) ||
	    (n_dns && !m->spec.dns_port) || (!m->spec.by_uid && m->spec.uid) ||
	    (!m->spec.by_gid && m->spec.gid))
		return -EINVAL;
	ret = decode_lists(r, m, n_inc, n_exc, n_dns);
	if (ret < 0)
		return ret;
	len = breader_u8(r);
	/* Before reading: the buffer holds INSTANCE_LABEL_MAX, a length byte says up to 255. */
	if (len > INSTANCE_LABEL_MAX)
		return -EINVAL;
	breader_bytes(r, m->label, len);
	return r->bad || breader_left(r) || !instance_label_valid(m->label, len) ? -EINVAL : 0;
}

static int decode_hosts(struct breader *r, struct priv_msg *m)
{
	size_t n = breader_u16(r), i;

	if (r->bad || n > PRIV_HOSTS_MAX || breader_left(r) < n * 19)
		return -EINVAL;
	m->hosts = calloc(n + 1, sizeof(*m->hosts));
	if (!m->hosts)
		return -ENOMEM;
	m->n_hosts = n;
	for (i = 0; i < n && !r->bad; i++) {
		struct priv_host *h = &m->hosts[i];
		char raw[256];
		uint8_t fam = breader_u8(r), len;

		h->family = fam == 4 ? AF_INET : fam == 6 ? AF_INET6 : 0;
		breader_bytes(r, h->addr, 16);
		len = breader_u8(r);
		breader_bytes(r, raw, len);
		if (r->bad || !h->family ||
		    (fam == 4 && memcmp(h->addr + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12)))
			return -EINVAL;
		/* Only the normal form passes: what is written is exactly what was sent. */
		if (hostname_norm(raw, len, h->name, sizeof(h->name)) < 0 ||
		    strlen(h->name) != len || memcmp(h->name, raw, len))
			return -EINVAL;
	}
	return r->bad || breader_left(r) ? -EINVAL : 0;
}

int priv_decode(const uint8_t *body, size_t len, struct priv_msg *m)
{
	struct breader r;
	int ret;

	memset(m, 0, sizeof(*m));
	breader_init(&r, body, len);
	m->type = breader_u8(&r);
	switch (r.bad ? 0 : m->type) {
	case PRIV_INSTALL:
	case PRIV_CHECK:
		ret = decode_install(&r, m);
		break;
	case PRIV_UPDATE: {
		size_t n_inc = breader_u16(&r), n_exc = breader_u16(&r);
		ret = r.bad ? -EINVAL : decode_lists(&r, m, n_inc, n_exc, 0);
		if (ret == 0 && breader_left(&r))
			ret = -EINVAL;
		break;
	}
	case PRIV_HOSTS:
		ret = decode_hosts(&r, m);
		break;
	case PRIV_REMOVE:
	case PRIV_CT_FLUSH:
	case PRIV_TUN:
		ret = breader_left(&r) ? -EINVAL : 0;
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0)
		priv_msg_free(m);
	return ret;
}

void priv_msg_free(struct priv_msg *m)
{
	uint8_t type = m->type;

	free(m->subnets);
	free(m->hosts);
	memset(m, 0, sizeof(*m));
	m->type = type;
}

static void begin(struct bwriter *w, uint8_t *buf, size_t cap, uint8_t type)
{
	bwriter_init(w, buf, cap);
	bwriter_u32(w, 0);
	bwriter_u8(w, type);
}

static int end(struct bwriter *w)
{
	if (w->bad || w->off - PRIV_LEN_BYTES > PRIV_MSG_MAX)
		return -EMSGSIZE;
	bwriter_put_u32_at(w, 0, (uint32_t)(w->off - PRIV_LEN_BYTES));
	return (int)w->off;
}

static void put_lists(struct bwriter *w, const struct fw_spec *s, bool with_dns)
{
	size_t i;

	for (i = 0; i < s->n_include; i++)
		put_subnet(w, &s->include[i]);
	for (i = 0; i < s->n_exclude; i++)
		put_subnet(w, &s->exclude[i]);
	for (i = 0; with_dns && i < s->n_dns; i++)
		put_subnet(w, &s->dns[i]);
}

size_t priv_size_spec(const struct fw_spec *spec)
{
	return PRIV_LEN_BYTES + 32 + 1 + INSTANCE_LABEL_MAX +
	       (spec->n_include + spec->n_exclude + spec->n_dns) * PRIV_SUBNET_LEN;
}

size_t priv_size_hosts(size_t n)
{
	return PRIV_LEN_BYTES + 3 + n * (18 + HOSTNAME_MAX);
}

static int put_install(uint8_t *buf, size_t cap, uint8_t type, const struct fw_spec *s,
		       const char *label)
{
	size_t len = strlen(label);
	struct bwriter w;

	if (s->n_include > PRIV_SUBNETS_MAX || s->n_exclude > PRIV_SUBNETS_MAX ||
	    s->n_dns > PRIV_DNS_MAX || !instance_label_valid(label, len))
		return -EINVAL;
	begin(&w, buf, cap, type);
	bwriter_u16(&w, s->redirect_port);
	bwriter_u16(&w, s->n_dns ? s->dns_port : 0);
	bwriter_u8(&w, (s->prerouting ? PRIV_F_PREROUTING : 0) | (s->by_uid ? PRIV_F_BY_UID : 0) |
			   (s->by_gid ? PRIV_F_BY_GID : 0));
	bwriter_u32(&w, s->by_uid ? s->uid : 0);
	bwriter_u32(&w, s->by_gid ? s->gid : 0);
	bwriter_u16(&w, (uint16_t)s->n_include);
	bwriter_u16(&w, (uint16_t)s->n_exclude);
	bwriter_u16(&w, (uint16_t)s->n_dns);
	put_lists(&w, s, true);
	bwriter_u8(&w, (uint8_t)len);
	bwriter_bytes(&w, label, len);
	return end(&w);
}

int priv_put_install(uint8_t *buf, size_t cap, const struct fw_spec *s, const char *label)
{
	return put_install(buf, cap, PRIV_INSTALL, s, label);
}

int priv_put_check(uint8_t *buf, size_t cap, const struct fw_spec *s, const char *label)
{
	return put_install(buf, cap, PRIV_CHECK, s, label);
}

int priv_put_update(uint8_t *buf, size_t cap, const struct fw_spec *s)
{
	struct bwriter w;

	if (s->n_include > PRIV_SUBNETS_MAX || s->n_exclude > PRIV_SUBNETS_MAX)
		return -EINVAL;
	begin(&w, buf, cap, PRIV_UPDATE);
	bwriter_u16(&w, (uint16_t)s->n_include);
	bwriter_u16(&w, (uint16_t)s->n_exclude);
	put_lists(&w, s, false);
	return end(&w);
}

int priv_put_hosts(uint8_t *buf, size_t cap, const struct priv_host *h, size_t n)
{
	struct bwriter w;
	size_t i;

	if (n > PRIV_HOSTS_MAX)
		return -EINVAL;
	begin(&w, buf, cap, PRIV_HOSTS);
	bwriter_u16(&w, (uint16_t)n);
	for (i = 0; i < n; i++) {
		size_t len = strnlen(h[i].name, sizeof(h[i].name));
		uint8_t addr[16] = {0};

		if (!fam_code(h[i].family) || len > HOSTNAME_MAX)
			return -EINVAL;
		memcpy(addr, h[i].addr, h[i].family == AF_INET ? 4 : 16);
		bwriter_u8(&w, fam_code(h[i].family));
		bwriter_bytes(&w, addr, 16);
		bwriter_u8(&w, (uint8_t)len);
		bwriter_bytes(&w, h[i].name, len);
	}
	return end(&w);
}

int priv_put_remove(uint8_t *buf, size_t cap)
{
	struct bwriter w;

	begin(&w, buf, cap, PRIV_REMOVE);
	return end(&w);
}

int priv_put_ct_flush(uint8_t *buf, size_t cap)
{
	struct bwriter w;

	begin(&w, buf, cap, PRIV_CT_FLUSH);
	return end(&w);
}

int priv_put_tun(uint8_t *buf, size_t cap)
{
	struct bwriter w;

	begin(&w, buf, cap, PRIV_TUN);
	return end(&w);
}

int priv_put_hello(uint8_t *buf, size_t cap, uint32_t pid, uint32_t uid, uint8_t flags)
{
	struct bwriter w;

	begin(&w, buf, cap, PRIV_HELLO);
	bwriter_u32(&w, PRIV_VERSION);
	bwriter_u32(&w, pid);
	bwriter_u32(&w, uid);
	bwriter_u8(&w, flags);
	return end(&w);
}

int priv_put_reply(uint8_t *buf, size_t cap, uint8_t type, int status, const uint8_t *shadowed,
		   size_t n_bits, const char *why)
{
	struct bwriter w;

	begin(&w, buf, cap, PRIV_REPLY);
	bwriter_u8(&w, type);
	bwriter_u32(&w, (uint32_t)status);
	if (shadowed)
		bwriter_bytes(&w, shadowed, (n_bits + 7) / 8);
	else if ((status < 0 || (type == PRIV_TUN && status == 0)) && why)
		bwriter_bytes(&w, why, strnlen(why, PRIV_WHY_MAX));
	return end(&w);
}
