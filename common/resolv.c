/*
 * resolv: a minimal resolv.conf reader: only "nameserver" lines matter here.
 */
#include "resolv.h"

#include <stdint.h>

#include "sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESOLV_MAX_FILE (64 * 1024)

static int parse_addr(const char *s, size_t n, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], *scope;
	unsigned idx = 0;
	uint8_t a[16];

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		return sa_make(ss, AF_INET, a, 53) ? 0 : -EINVAL;
	/*
	 * A link-local nameserver with its interface (fe80::1%wlan0, as
	 * NetworkManager writes one from a router advertisement): the resolver
	 * uses it, so it counts, with the interface as its scope. One on an
	 * interface this machine does not have is of no use to anyone here.
	 */
	scope = strchr(buf, '%');
	if (scope) {
		*scope++ = '\0';
		idx = if_nametoindex(scope);
		if (!idx) {
			char *end, name[IF_NAMESIZE];
			unsigned long v = strtoul(scope, &end, 10);

			if (!*scope || *end || v == 0 || v > 0xffffffffUL ||
			    !if_indextoname((unsigned)v, name))
				return -EINVAL;
			idx = (unsigned)v;
		}
	}
	if (inet_pton(AF_INET6, buf, a) == 1 && sa_make(ss, AF_INET6, a, 53)) {
		((struct sockaddr_in6 *)ss)->sin6_scope_id = idx;
		return 0;
	}
	return -EINVAL;
}

size_t resolv_parse(const char *text, struct sockaddr_storage *out, size_t max)
{
	const char *p = text, *end, *a;
	size_t n = 0, alen;

	while (*p && n < max) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) > 10 && strncmp(p, "nameserver", 10) == 0 &&
		    (p[10] == ' ' || p[10] == '\t')) {
			a = p + 10;
			while (a < end && (*a == ' ' || *a == '\t'))
				a++;
			alen = strcspn(a, " \t\r\n#;");
			if (a + alen > end)
				alen = (size_t)(end - a);
			if (parse_addr(a, alen, &out[n]) == 0)
				n++;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}

int resolv_read(const char *path, struct sockaddr_storage *out, size_t max)
{
	static char buf[RESOLV_MAX_FILE + 1];
	size_t len = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < RESOLV_MAX_FILE && (r = read(fd, buf + len, RESOLV_MAX_FILE - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	return (int)resolv_parse(buf, out, max);
}
