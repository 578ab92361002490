#!/bin/bash
# unit_sandbox.sh UNIT CMD...: run CMD (as root) in the file system and
# capabilities that UNIT's sandbox settings give a service, as far as they
# can be had without systemd, in a mount namespace of its own that must
# already be private (unshare -m --propagation private). Read from UNIT:
#   ProtectSystem=strict   every mount read-only but /proc, /sys and /dev
#   ReadWritePaths=        these stay writable
#   RuntimeDirectory=      /run/NAME made, and writable
#   PrivateTmp=yes         /tmp and /var/tmp writable (not emptied: the
#                          testbed's files live there)
#   ProtectKernelTunables= /proc/sys and /sys read-only
#   PrivateDevices=yes     a /dev of the pseudo devices alone
#   DevicePolicy=closed    the same, and each DeviceAllow= node (the unit's
#                          cgroup filter refuses opening the others; here
#                          they are not there)
#   CapabilityBoundingSet= NoNewPrivileges=   by setpriv
# Exits 97 when a setting it cannot give is there, or when it is not in a
# mount namespace of its own, before it changes anything.
set -eu
unit=$1
shift
val() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
no() {
	echo "unit_sandbox: $*" >&2
	exit 97
}
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
	no "not in a mount namespace of its own (run it under unshare -m --propagation private)"

[ "$(val ProtectSystem)" = strict ] || no "ProtectSystem=$(val ProtectSystem) is not emulated"
rw=()
for p in $(val ReadWritePaths); do rw+=("$p"); done
for d in $(val RuntimeDirectory); do
	mkdir -p -m 0700 "/run/$d"
	rw+=("/run/$d")
done
[ "$(val PrivateTmp)" = yes ] && rw+=(/tmp /var/tmp)

# Each writable path a mount of its own (with what is mounted below it),
# so that turning its parent read-only leaves it as it is.
for p in "${rw[@]}"; do
	[ -d "$p" ] || no "$p: no such directory"
	mountpoint -q "$p" || mount --rbind "$p" "$p"
done
keep() {
	local m=$1 p
	case $m in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) return 0 ;; esac
	for p in "${rw[@]}"; do
		case $m in "$p" | "$p"/*) return 0 ;; esac
	done
	return 1
}
# Mount points as the kernel lists them, but namespace handles (nsfs,
# which hold nothing to write) and any with an escaped character (a space:
# \040), which stay as they were.
mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break } }
	     t != "nsfs" && $5 !~ /\\/ { print $5 }' /proc/self/mountinfo | sort -u
}
while read -r m; do
	keep "$m" && continue
	mount -o remount,bind,ro "$m" || no "cannot make $m read-only"
done < <(mounts)
for p in "${rw[@]}"; do
	mount -o remount,bind,rw "$p" || no "cannot make $p writable"
done

if [ "$(val ProtectKernelTunables)" = yes ]; then
	for p in /proc/sys /sys; do
		mount --bind "$p" "$p" && mount -o remount,bind,ro "$p" || no "cannot make $p read-only"
	done
fi
policy=$(val DevicePolicy)
if [ "$(val PrivateDevices)" = yes ] || [ "$policy" = closed ] || [ "$policy" = strict ]; then
	allow=()
	if [ "$(val PrivateDevices)" != yes ]; then
		while read -r node _; do allow+=("$node"); done < <(sed -n 's/^DeviceAllow=//p' "$unit")
	fi
	# The allowed nodes, as the host has them, before /dev is covered.
	keepdir=$(mktemp -d /tmp/unit-sandbox-dev.XXXXXX)
	# Gone also when a step below gives up (the exec at the end runs no trap).
	trap 'rm -rf "$keepdir"' EXIT
	for node in "${allow[@]}"; do
		[ -c "$node" ] || no "DeviceAllow=$node: no such device here"
		mkdir -p "$keepdir$(dirname "$node")"
		cp -a "$node" "$keepdir$node"
	done
	mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
	if [ "$policy" != strict ] || [ "$(val PrivateDevices)" = yes ]; then
		mknod -m 0666 /dev/null c 1 3
		mknod -m 0666 /dev/zero c 1 5
		mknod -m 0666 /dev/full c 1 7
		mknod -m 0666 /dev/random c 1 8
		mknod -m 0666 /dev/urandom c 1 9
		mknod -m 0666 /dev/tty c 5 0
	fi
	for node in "${allow[@]}"; do
		mkdir -p "$(dirname "$node")"
		cp -a "$keepdir$node" "$node"
	done
	rm -rf "$keepdir"
fi

args=()
caps=$(val CapabilityBoundingSet)
if [ -n "$caps" ]; then
	b=-all
	for c in $caps; do b="$b,+$(echo "${c#CAP_}" | tr 'A-Z' 'a-z')"; done
	args+=(--bounding-set "$b" --inh-caps -all)
fi
[ "$(val NoNewPrivileges)" = yes ] && args+=(--no-new-privs)
exec setpriv "${args[@]}" -- "$@"
