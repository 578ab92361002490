/*
 * addrpolicy: the table of special ranges and the two ways to judge a
 * network against it (inside one, or touching one).
 */
#include "addrpolicy.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

struct special {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
	const char *what;
};

static const struct special specials[] = {
    {AF_INET, {0}, 8, "unspecified (0.0.0.0/8)"},
    {AF_INET, {127}, 8, "loopback (127.0.0.0/8)"},
    {AF_INET, {169, 254}, 16, "link-local (169.254.0.0/16)"},
    {AF_INET, {224}, 4, "multicast (224.0.0.0/4)"},
    {AF_INET, {255, 255, 255, 255}, 32, "broadcast (255.255.255.255)"},
    {AF_INET, {240}, 4, "reserved (240.0.0.0/4)"},
    {AF_INET6, {0}, 128, "unspecified (::)"},
    {AF_INET6, {[15] = 1}, 128, "loopback (::1)"},
    {AF_INET6, {[10] = 0xff, 0xff}, 96, "IPv4-mapped (::ffff:0:0/96)"},
    {AF_INET6, {0xfe, 0x80}, 10, "link-local (fe80::/10)"},
    {AF_INET6, {0xff}, 8, "multicast (ff00::/8)"},
};

bool addrpolicy_prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

const char *addrpolicy_net(int family, const uint8_t *addr, unsigned prefix, bool overlap)
{
	unsigned bits = family == AF_INET ? 32 : 128;
	size_t i;

	if (family != AF_INET && family != AF_INET6)
		return "unknown family";
	if (prefix > bits)
		prefix = bits;
	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		const struct special *s = &specials[i];
		unsigned common = prefix < s->prefix ? prefix : s->prefix;

		if (s->family != family)
			continue;
		/* Two prefixes share addresses exactly when they agree on the shorter one. */
		if (overlap
			? addrpolicy_prefix_match(addr, s->addr, common)
			: prefix >= s->prefix && addrpolicy_prefix_match(addr, s->addr, s->prefix))
			return s->what;
	}
	return NULL;
}

const char *addrpolicy_addr(int family, const uint8_t *addr)
{
	return addrpolicy_net(family, addr, family == AF_INET ? 32 : 128, false);
}
