#!/bin/bash
# deps.sh: install what the build and the tests need, only when something is
# missing. With everything present it runs no apt at all, so it is fast and
# works offline.
set -u

PKGS="build-essential gcc make pkg-config libssh2-1-dev libnftnl-dev libmnl-dev musl-tools
nftables openssh-server openssh-client iproute2 python3 curl socat iperf3 clang-format
dnsmasq-base bind9-dnsutils"

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
apt-get update -q || exit 1
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing || exit 1
