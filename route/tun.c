/*
 * tun: create and set up one tunnel's TUN device (see tun.h).
 */
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_tun.h>
#include <unistd.h>

int tun_create(uint32_t id, char *name, size_t len, int *fd, int *ifindex)
{
	struct ifreq ifr;
	int tfd = -1, sock = -1, ret;

	*fd = -1;
	memset(&ifr, 0, sizeof(ifr));
	if ((size_t)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TUN_NAME_FMT, id) >=
		sizeof(ifr.ifr_name) ||
	    strlen(ifr.ifr_name) >= len)
		return -ENAMETOOLONG;
	/*
	 * EXCL: the name is ours alone. Without it TUNSETIFF attaches to an
	 * existing device of that name, such as one a user persisted
	 * (TUNSETPERSIST, TUNSETOWNER) through a descriptor we gave out. Its
	 * 0x8000 is the sign bit of the short field: the cast keeps the bits.
	 */
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL);
	tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	if (ioctl(tfd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		goto out;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		ret = -errno;
		goto out;
	}
	ifr.ifr_mtu = TUN_MTU;
	if (ioctl(sock, SIOCSIFMTU, &ifr) < 0 || ioctl(sock, SIOCGIFINDEX, &ifr) < 0) {
		ret = -errno;
		goto out;
	}
	*ifindex = ifr.ifr_ifindex;
	snprintf(name, len, "%s", ifr.ifr_name);
	*fd = tfd;
	tfd = -1;
	ret = 0;
out:
	if (sock >= 0)
		close(sock);
	if (tfd >= 0)
		close(tfd);
	return ret;
}

int tun_check(int fd, const char *name)
{
	struct ifreq ifr;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENOTTY;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	if (!(ifr.ifr_flags & IFF_TUN) || !(ifr.ifr_flags & IFF_NO_PI) ||
	    strncmp(ifr.ifr_name, name, sizeof(ifr.ifr_name)) != 0)
		return -EINVAL;
	return 0;
}
