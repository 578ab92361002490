/*
 * nft_set: subnets to interval set elements. Pure arithmetic on byte
 * strings (network order), no netlink, so the unit tests can pin it down.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nft_internal.h"

size_t nft_addr_len(int family)
{
	if (family == AF_INET)
		return 4;
	if (family == AF_INET6)
		return 16;
	return 0;
}

bool nft_subnet_valid(const struct subnet *s)
{
	size_t alen = nft_addr_len(s->family);

	return alen && s->prefix <= alen * 8 && s->port_lo <= s->port_hi;
}

static int check_list(const struct subnet *list, size_t n)
{
	size_t i;

	if (n && !list)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!nft_subnet_valid(&list[i]))
			return -EINVAL;
	}
	return 0;
}

/* Nameservers are single addresses (a rule each, never a subnet); their ports are ignored. */
static int check_dns(const struct subnet *list, size_t n)
{
	size_t i;

	if (n > NFT_DNS_MAX || (n && !list))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		size_t alen = nft_addr_len(list[i].family);

		if (!alen || list[i].prefix != alen * 8)
			return -EINVAL;
	}
	return 0;
}

int nft_spec_check(const struct fw_spec *spec, bool need_port)
{
	if (need_port && spec->redirect_port == 0)
		return -EINVAL;
	if (need_port && spec->n_dns && spec->dns_port == 0)
		return -EINVAL;
	if (check_dns(spec->dns, spec->n_dns) < 0)
		return -EINVAL;
	if (check_list(spec->include, spec->n_include) < 0)
		return -EINVAL;
	return check_list(spec->exclude, spec->n_exclude);
}

/* The first address of s (host bits cleared, in case the caller left any) and the last. */
static void range_of(const struct subnet *s, struct nft_range *r)
{
	size_t alen = nft_addr_len(s->family);
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < alen; i++) {
		unsigned bits = s->prefix > i * 8 ? s->prefix - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		r->lo[i] = s->addr[i] & mask;
		r->hi[i] = r->lo[i] | (uint8_t)~mask;
	}
}

/* Unused tail bytes are zero for IPv4, so comparing all 16 bytes orders either family. */
static int range_cmp(const void *a, const void *b)
{
	const struct nft_range *x = a, *y = b;

	return memcmp(x->lo, y->lo, sizeof(x->lo));
}

/* a = a + 1 over alen bytes. Returns false when it wrapped past the top. */
static bool addr_inc(uint8_t *a, size_t alen)
{
	size_t i = alen;

	while (i-- > 0) {
		if (++a[i] != 0)
			return true;
	}
	return false;
}

size_t nft_ranges_merge(int family, const struct subnet *list, size_t n, struct nft_range *out)
{
	size_t alen = nft_addr_len(family);
	size_t i, cnt = 0, merged = 0;

	if (!alen)
		return 0;
	for (i = 0; i < n; i++) {
		if (list[i].family != family || !nft_all_ports(&list[i]) ||
		    !nft_subnet_valid(&list[i]))
			continue;
		range_of(&list[i], &out[cnt++]);
	}
	if (cnt == 0)
		return 0;
	qsort(out, cnt, sizeof(*out), range_cmp);

	for (i = 1; i < cnt; i++) {
		struct nft_range *cur = &out[merged];
		uint8_t next[16];

		memcpy(next, cur->hi, sizeof(next));
		/* cur reaches the top: it swallows everything after it. */
		if (!addr_inc(next, alen))
			break;
		/* Overlapping or adjacent: the union is one range, and the kernel rejects overlaps.
		 */
		if (memcmp(out[i].lo, next, alen) <= 0) {
			if (memcmp(out[i].hi, cur->hi, alen) > 0)
				memcpy(cur->hi, out[i].hi, sizeof(cur->hi));
			continue;
		}
		out[++merged] = out[i];
	}
	return merged + 1;
}

size_t nft_ranges_elems(int family, const struct nft_range *r, size_t n, struct nft_elem *out)
{
	static const uint8_t zero[16];
	size_t alen = nft_addr_len(family);
	size_t i, cnt = 0;

	if (!alen || n == 0)
		return 0;
	/*
	 * nft opens a fresh interval set with an end marker at zero when the
	 * first range starts above it; older kernels' rbtree relied on it.
	 */
	if (memcmp(r[0].lo, zero, alen) != 0) {
		memset(&out[cnt], 0, sizeof(out[cnt]));
		out[cnt++].end = true;
	}
	for (i = 0; i < n; i++) {
		memset(&out[cnt], 0, sizeof(out[cnt]));
		memcpy(out[cnt++].key, r[i].lo, alen);

		memset(&out[cnt], 0, sizeof(out[cnt]));
		memcpy(out[cnt].key, r[i].hi, alen);
		/* An interval that runs to the top of the space has no end element, as nft does. */
		if (!addr_inc(out[cnt].key, alen))
			break;
		out[cnt++].end = true;
	}
	return cnt;
}
