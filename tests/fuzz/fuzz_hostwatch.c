/*
 * The helper's hostwatch parsers (hosts(5), /proc/net/arp, /proc/net/tcp
 * and tcp6; the first byte chooses), and the short-name rule over the
 * pairs that come out.
 */
#include <sys/socket.h>

#include "../../server/hostwatch_parse.h"
#include "fuzz.h"

#define PAIRS 64

static struct hostwatch_pair pairs[PAIRS];
static size_t n_pairs;

static int on_name(int family, const uint8_t *addr, const char *name, void *arg)
{
	if (n_pairs < PAIRS && strlen(name) <= HOSTWATCH_NAME_MAX) {
		pairs[n_pairs].family = family;
		memcpy(pairs[n_pairs].addr, addr, 16);
		strcpy(pairs[n_pairs].name, name);
		n_pairs++;
	}
	return 0;
}

static int on_addr(int family, const uint8_t *addr, void *arg)
{
	return family == AF_INET || family == AF_INET6 ? 0 : (abort(), 0);
}

static int on_short(size_t i, const char *short_name, void *arg)
{
	return i < n_pairs ? 0 : (abort(), 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;

	if (size < 1)
		return 0;
	n_pairs = 0;
	memset(pairs, 0, sizeof(pairs));
	switch (data[0] & 3) {
	case 0:
		hostwatch_parse_hosts(text, size - 1, on_name, NULL);
		hostwatch_shorts(pairs, n_pairs, on_short, NULL);
		break;
	case 1:
		hostwatch_parse_arp(text, size - 1, on_addr, NULL);
		break;
	case 2:
		hostwatch_parse_tcp(text, size - 1, AF_INET, on_addr, NULL);
		break;
	default:
		hostwatch_parse_tcp(text, size - 1, AF_INET6, on_addr, NULL);
		break;
	}
	return 0;
}
