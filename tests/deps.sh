#!/bin/bash
# deps.sh: install what the build and the tests need, only when something is
# missing. With everything present it runs no apt at all, so it is fast and
# works offline.
#
# The helpers for other machines need Debian's cross compilers and musl for
# each target architecture (multiarch packages, so those architectures are
# added to dpkg), and the tests run them under qemu-user-static.
set -u

PKGS="build-essential gcc make pkg-config sudo libssh2-1-dev libnftnl-dev libmnl-dev musl-tools
libnetfilter-conntrack-dev conntrack lintian apache2-utils
nftables openssh-server openssh-client iproute2 python3 curl socat iperf3 clang-format clang
libclang-rt-14-dev
dnsmasq-base bind9-dnsutils iputils-ping gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user-static
musl-dev:arm64 musl-dev:armhf"
FOREIGN_ARCHES="arm64 armhf"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$st" in
	*" ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
for a in $FOREIGN_ARCHES; do
	dpkg --print-foreign-architectures | grep -qx "$a" || dpkg --add-architecture "$a" || exit 1
done
# A mirror caught mid-sync fails one index now and then ("File has unexpected
# size"): try again, and go on with what was fetched if it keeps failing.
for try in 1 2 3; do
	apt-get update -q && break
	echo "deps: apt-get update failed (try $try of 3)" >&2
	sleep 5
done
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing || exit 1
