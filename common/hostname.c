/*
 * hostname: the host name rule (see hostname.h).
 */
#include "hostname.h"

#include <errno.h>
#include <string.h>

#define LABEL_MAX 63

int hostname_norm(const char *name, size_t len, char *out, size_t outlen)
{
	size_t i, label = 0;
	int digits_only = 1;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > HOSTNAME_MAX)
		return -EINVAL;
	if (outlen < len + 1)
		return -ENOSPC;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
			digits_only = 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			   c == '_') {
			if (++label > LABEL_MAX)
				return -EINVAL;
			if (c < '0' || c > '9')
				digits_only = 0;
		} else {
			return -EINVAL;
		}
		out[i] = c;
	}
	if (label == 0 || digits_only)
		return -EINVAL;
	out[len] = '\0';
	return 0;
}

/* Whether name is domain or under it (domain without its leading dot). */
static int in_domain(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	return n == d ? strcmp(name, domain) == 0
		      : n > d && name[n - d - 1] == '.' && strcmp(name + n - d, domain) == 0;
}

int hostname_local(const char *name)
{
	static const char *const local[] = {"ip6-localhost", "ip6-loopback", "broadcasthost",
					    "_gateway", "_outbound"};
	size_t i;

	/* localhost, localhost4, localhost6, localhost.localdomain and the like */
	if (strncmp(name, "localhost", 9) == 0 &&
	    (name[9] == '\0' || name[9] == '.' || name[9] == '4' || name[9] == '6'))
		return 1;
	if (in_domain(name, "localhost"))
		return 1;
	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (strcmp(name, local[i]) == 0)
			return 1;
	return 0;
}
