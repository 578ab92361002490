# lib.sh: the end-to-end testbed, sourced by tests/e2e/test_*.sh and tests/demo.sh.
#
# Three throw-away network namespaces, named per run:
#
#   C (client: sluice, curl) --veth-- S (ssh host: sshd) --veth-- L (lan: servers)
#   192.0.2.1  2001:db8:1::1          192.0.2.2  2001:db8:1::2
#                                     198.51.100.1 2001:db8:2::1   198.51.100.2 2001:db8:2::2
#                                     203.0.113.1                  203.0.113.2
#
# C routes the lan networks via S, but S does not forward: a packet from C
# reaches L only through the tunnel. S runs a real sshd for an unprivileged
# user "sluicet" that exists only inside S (through /etc/netns/S/). L runs
# netsvc.py: HTTP on :80, a sha256 server on :9000, an echo server on :9001.
#
# Each case prints exactly one line, "PASS name" or "FAIL name: reason".
# Teardown runs from an EXIT trap, so a failing or interrupted script still
# removes its namespaces, processes, /etc/netns dirs and temp dir.

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
SLUICE=${SLUICE:-$ROOT/build/sluice}
PY=${PY:-/usr/bin/python3}
TB_SUITE=${TB_SUITE:-e2e}
TB_SSHD_EXTRA=${TB_SSHD_EXTRA:-} # extra sshd_config lines, e.g. "RekeyLimit 16M"
TB_SSHD_FORWARDING=${TB_SSHD_FORWARDING:-no} # "yes" lets S's sshd be a ProxyJump bastion
# A long path between C and sshd: TB_RTT_MS (and TB_RATE_MBIT, per
# direction) start the delay line (tests/tools/delayline.c) in S, and the
# host aliases of TB/ssh_config go through it. Empty: none. See tb_delayline_start.
TB_RTT_MS=${TB_RTT_MS:-}
TB_RATE_MBIT=${TB_RATE_MBIT:-}
DELAYLINE=${DELAYLINE:-$(dirname "$SLUICE")/tools/delayline}
DL_PORT=2200
TB_SSH_PORT=22 # the port the host aliases name: DL_PORT while a delay line runs
DL_PIDS=""
# A file to bind over /usr/bin/uname in sshd's own mount namespace, so its
# sessions see another machine (tests of other helpers). Empty: none.
TB_SSHD_UNAME=${TB_SSHD_UNAME:-}

TB_ID=sl$$
NS_C=${TB_ID}c
NS_S=${TB_ID}s
NS_L=${TB_ID}l

# Addresses, for the scripts.
C4=192.0.2.1
S4=192.0.2.2
S6=2001:db8:1::2
L4=198.51.100.2
L6=2001:db8:2::2
X4=203.0.113.2

TB=""         # the temp dir, set by tb_up
TB_NS=""      # namespaces we created
TB_PIDS=""    # background processes we started and have not reaped
TB_FAILS=0
TB_DOWN=0
LOGIN_UID=""
TB_ON_DOWN="" # commands tb_down runs after our processes are gone: what a suite made outside TB
INDEX_MARK=""
BIG_SHA=""

# A function that tb_up runs after /etc/netns/ is filled and before sshd
# starts (files added to /etc/netns/S later are not bound into sshd's
# sessions: ip netns exec binds them when it runs). Empty: none.
TB_ETC_HOOK=${TB_ETC_HOOK:-}

SLUICE_PID=""
SLUICE_LOG=""
SLUICE_RC=""
SLUICE_ERR=""
SLUICE_WHY=""
SLUICE_N=0
# A command prefix for the curl that sluice_wait_ready probes with (e.g. a
# setpriv to the user a confined sluice captures for). Empty: root.
TB_CURL_AS=${TB_CURL_AS:-}

inC() { ip netns exec "$NS_C" "$@"; }
inS() { ip netns exec "$NS_S" "$@"; }
inL() { ip netns exec "$NS_L" "$@"; }

pass() { echo "PASS $TB_SUITE.$1"; }
fail() {
	echo "FAIL $TB_SUITE.$1: $2"
	TB_FAILS=$((TB_FAILS + 1))
}

# The script's exit status: non-zero when any case failed.
tb_finish() { exit $((TB_FAILS > 0)); }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# True while pid exists and is not a zombie waiting to be reaped.
proc_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st:0:1}" != Z ]
}

tb_forget() {
	local p out=""
	for p in $TB_PIDS; do
		[ "$p" = "$1" ] || out="$out $p"
	done
	TB_PIDS=$out
}

# wait_port NS PORT [TRIES]: until something listens on TCP PORT in NS (TRIES x 0.1 s).
wait_port() {
	local i
	for ((i = 0; i < ${3:-50}; i++)); do
		ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

tb_die() {
	fail testbed "$1"
	exit 1
}

# True when pid runs in network namespace ns: a guard against signalling a
# recycled pid, since bash reaps background children on its own.
pid_in_ns() {
	local a
	a=$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null) &&
		[ "$a" = "$(stat -L -c %i "/run/netns/$2" 2>/dev/null)" ]
}

tb_down() {
	local ns pid pids i left
	[ "$TB_DOWN" = 1 ] && return 0
	TB_DOWN=1
	trap - EXIT INT TERM HUP
	# Everything that runs in our namespaces was started by us: sshd and its
	# sessions, the lan servers, sluice and whatever it left behind.
	for ns in $TB_NS; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	done
	for ((i = 0; i < 30; i++)); do
		left=""
		for ns in $TB_NS; do
			left="$left$(ip netns pids "$ns" 2>/dev/null)"
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	for ns in $TB_NS; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	done
	# All of them ran in our namespaces and are dead now; this only reaps.
	for pid in $TB_PIDS; do
		{ wait "$pid"; } 2>/dev/null
	done
	TB_PIDS=""
	# The suite's own cleanup (users, sudoers files, files outside TB), once
	# nothing of ours runs any more.
	[ -n "$TB_ON_DOWN" ] && eval "$TB_ON_DOWN"
	for ns in $TB_NS; do
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	TB_NS=""
	# Empty, it is a leftover of ours (or of a run beside us, which cannot tell).
	rmdir /etc/netns 2>/dev/null
	# Root's status sockets and the tunnels' records live on the host's /run:
	# the directories a run made, once nothing of anyone's is left in them.
	if [ -d /run/sluice/instances ] && [ -z "$(ls -A /run/sluice/instances | grep -vx .lock)" ]; then
		rm -f /run/sluice/instances/.lock
		rmdir /run/sluice/instances 2>/dev/null
	fi
	rmdir /run/sluice 2>/dev/null
	[ -n "$TB" ] && [ -d "$TB" ] && rm -rf "$TB"
	return 0
}

tb_netns() {
	local ns
	for ns in "$NS_C" "$NS_S" "$NS_L"; do
		ip netns add "$ns" || return 1
		TB_NS="$TB_NS $ns"
		ip -n "$ns" link set lo up || return 1
		# No duplicate address detection: v6 addresses work at once.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.disable_ipv6=0 || return 1
	done
	# The proof that traffic goes through the tunnel: S routes nothing.
	inS sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 || return 1

	ip -n "$NS_C" link add tos type veth peer name toc netns "$NS_S" || return 1
	ip -n "$NS_S" link add tol type veth peer name tos netns "$NS_L" || return 1

	ip -n "$NS_C" addr add $C4/24 dev tos || return 1
	ip -n "$NS_C" addr add 2001:db8:1::1/64 dev tos nodad || return 1
	ip -n "$NS_S" addr add $S4/24 dev toc || return 1
	ip -n "$NS_S" addr add $S6/64 dev toc nodad || return 1
	ip -n "$NS_S" addr add 198.51.100.1/24 dev tol || return 1
	ip -n "$NS_S" addr add 2001:db8:2::1/64 dev tol nodad || return 1
	ip -n "$NS_S" addr add 203.0.113.1/24 dev tol || return 1
	ip -n "$NS_L" addr add $L4/24 dev tos || return 1
	ip -n "$NS_L" addr add $L6/64 dev tos nodad || return 1
	ip -n "$NS_L" addr add $X4/24 dev tos || return 1
	ip -n "$NS_C" link set tos up || return 1
	ip -n "$NS_S" link set toc up || return 1
	ip -n "$NS_S" link set tol up || return 1
	ip -n "$NS_L" link set tos up || return 1

	ip -n "$NS_C" route add 198.51.100.0/24 via $S4 || return 1
	ip -n "$NS_C" route add 203.0.113.0/24 via $S4 || return 1
	ip -n "$NS_C" -6 route add 2001:db8:2::/64 via $S6 || return 1
	ip -n "$NS_L" route add default via 198.51.100.1 || return 1
	ip -n "$NS_L" -6 route add default via 2001:db8:2::1 || return 1
}

# The login user lives only in S: `ip netns exec` bind-mounts the files of
# /etc/netns/NAME/ over /etc/, so S sees passwd/group/shadow with one more line.
tb_etc() {
	local i gid
	LOGIN_UID=4242
	for ((i = 0; i < 100; i++)); do
		awk -F: -v u=$LOGIN_UID '$3 == u { f = 1 } END { exit !f }' /etc/passwd /etc/group || break
		LOGIN_UID=$((LOGIN_UID + 1))
	done
	[ $i -lt 100 ] || return 1
	gid=$LOGIN_UID
	mkdir -p -m 755 "/etc/netns/$NS_S" "/etc/netns/$NS_C" || return 1
	cp -p /etc/passwd /etc/group /etc/shadow "/etc/netns/$NS_S/" || return 1
	echo "sluicet:x:$LOGIN_UID:$gid:sluice e2e:$TB/home:/bin/sh" >>"/etc/netns/$NS_S/passwd"
	echo "sluicet:x:$gid:" >>"/etc/netns/$NS_S/group"
	# "*": no password, yet not "locked" ("!"), which sshd without PAM refuses.
	echo "sluicet:*:19000:0:99999:7:::" >>"/etc/netns/$NS_S/shadow"
	# C gets a private /etc/hosts, so tests may watch sluice edit it.
	cp -p /etc/hosts "/etc/netns/$NS_C/hosts" || return 1
	mkdir -m 755 "$TB/home" && chown "$LOGIN_UID:$gid" "$TB/home"
}

tb_keys() {
	local k
	for k in ssh_host_ed25519_key:ed25519 ssh_host_ecdsa_key:ecdsa ssh_host_rsa_key:rsa id_ed25519:ed25519 \
		id_wrong:ed25519 other_host_key:ed25519; do
		ssh-keygen -q -t "${k#*:}" -N '' -C "sluice-e2e" -f "$TB/${k%%:*}" </dev/null >/dev/null ||
			return 1
	done
	cp "$TB/id_ed25519.pub" "$TB/authorized_keys" && chmod 644 "$TB/authorized_keys"

	local ed ecdsa rsa other
	ed=$(cut -d' ' -f1,2 "$TB/ssh_host_ed25519_key.pub")
	ecdsa=$(cut -d' ' -f1,2 "$TB/ssh_host_ecdsa_key.pub")
	rsa=$(cut -d' ' -f1,2 "$TB/ssh_host_rsa_key.pub")
	other=$(cut -d' ' -f1,2 "$TB/other_host_key.pub")
	# Port 22: OpenSSH writes bare addresses, v6 included; brackets only with a port.
	printf '%s %s\n%s %s\n' $S4 "$ed" $S6 "$ed" >"$TB/known_hosts"
	# Files with one other key type only, for host key type pinning: the
	# server offers all three and must be asked for the one on file.
	printf '%s %s\n%s %s\n' $S4 "$ecdsa" $S6 "$ecdsa" >"$TB/known_hosts_ecdsa"
	printf '%s %s\n%s %s\n' $S4 "$rsa" $S6 "$rsa" >"$TB/known_hosts_rsa"
	printf '%s %s\n%s %s\n' $S4 "$other" $S6 "$other" >"$TB/known_hosts_changed"
	: >"$TB/known_hosts_empty"
	HOSTKEY_FP=$(ssh-keygen -l -E sha256 -f "$TB/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
}

tb_sshd() {
	cat >"$TB/sshd_config" <<EOF
ListenAddress $S4:22
ListenAddress [$S6]:22
HostKey $TB/ssh_host_ed25519_key
HostKey $TB/ssh_host_ecdsa_key
HostKey $TB/ssh_host_rsa_key
PidFile $TB/sshd.pid
AuthorizedKeysFile $TB/authorized_keys
AllowUsers sluicet
UsePAM no
StrictModes no
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding ${TB_SSHD_FORWARDING:-no}
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ${TB_SSHD_LOGLEVEL:-VERBOSE}
Subsystem sftp internal-sftp
$TB_SSHD_EXTRA
EOF
	# The privsep dir /run/sshd lives on a tmpfs in sshd's private mount
	# namespace (ip netns exec makes one): nothing is left on the host.
	ip netns exec "$NS_S" sh -c 'mount -t tmpfs -o mode=0755,size=1m sluice-e2e /run &&
		mkdir /run/sshd && { [ -z "$3" ] || mount --bind "$3" /usr/bin/uname; } &&
		/usr/sbin/sshd -t -f "$1" && exec /usr/sbin/sshd -D -f "$1" -E "$2"' \
		sh "$TB/sshd_config" "$TB/sshd.log" "$TB_SSHD_UNAME" </dev/null >"$TB/sshd.start.log" 2>&1 &
	SSHD_PID=$!
	TB_PIDS="$TB_PIDS $SSHD_PID"
	wait_port "$NS_S" 22 || return 1
}

tb_ssh_config() {
	local port=""
	[ "$TB_SSH_PORT" = 22 ] || port="
	Port $TB_SSH_PORT"
	cat >"$TB/ssh_config" <<EOF
# sluice e2e: client side, used with -F
Host sshhost
	HostName $S4$port
	IdentityFile $TB/id_ed25519
Host sshhost6
	HostName $S6$port
	IdentityFile $TB/id_ed25519
Host wrongkey
	HostName $S4$port
	IdentityFile $TB/id_wrong
Host deadhost
	HostName 192.0.2.99
	IdentityFile $TB/id_ed25519
	ConnectTimeout 2
EOF
	tb_ssh_defaults "$TB/known_hosts" >>"$TB/ssh_config"
}

# tb_ssh_defaults KNOWN_HOSTS: the "Host *" part every test ssh config ends with.
tb_ssh_defaults() {
	cat <<EOF
Host *
	User sluicet
	UserKnownHostsFile $1
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	IdentitiesOnly yes
	BatchMode yes
	ConnectTimeout 5
EOF
}

tb_servers() {
	mkdir -m 755 "$TB/www" || return 1
	INDEX_MARK="hello from the lan namespace $NS_L"
	echo "$INDEX_MARK" >"$TB/www/index.html"
	ip netns exec "$NS_L" "$PY" "$E2E_DIR/netsvc.py" serve "$TB/www" </dev/null \
		>"$TB/netsvc.log" 2>&1 &
	NETSVC_PID=$!
	TB_PIDS="$TB_PIDS $NETSVC_PID"
	wait_port "$NS_L" 80 && wait_port "$NS_L" 9000 && wait_port "$NS_L" 9001
}

# A file of random bytes in the web root: tb_make_file NAME BYTES; prints its sha256.
tb_make_file() {
	head -c "$2" /dev/urandom >"$TB/www/$1" && sha256sum "$TB/www/$1" | cut -d' ' -f1
}

tb_up() {
	local c
	[ "$(id -u)" = 0 ] || tb_die "needs root (network namespaces, nftables)"
	for c in ip nft ssh ssh-keygen /usr/sbin/sshd curl socat sha256sum "$PY"; do
		command -v "$c" >/dev/null || tb_die "$c not installed (run tests/deps.sh)"
	done
	trap tb_down EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	# Nothing of the caller's environment may steer ssh or curl elsewhere.
	unset SSH_AUTH_SOCK http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
	TB=$(mktemp -d /tmp/sluice-e2e.XXXXXX) || tb_die "mktemp failed"
	# sshd reads authorized_keys as the login user, who must get in here.
	chmod 755 "$TB"
	tb_netns || tb_die "network namespace setup failed"
	tb_etc || tb_die "/etc/netns setup failed"
	if [ -n "$TB_ETC_HOOK" ]; then "$TB_ETC_HOOK" || tb_die "$TB_ETC_HOOK failed"; fi
	tb_keys || tb_die "ssh-keygen failed"
	tb_ssh_config
	tb_sshd || tb_die "sshd did not start: $(tail -n 3 "$TB/sshd.start.log" "$TB/sshd.log" 2>/dev/null | tr '\n' ' ')"
	tb_servers || tb_die "lan servers did not start: $(tail -n 3 "$TB/netsvc.log" | tr '\n' ' ')"
	if [ -n "$TB_RTT_MS" ]; then
		tb_delayline_start "$TB_RTT_MS" "$TB_RATE_MBIT" ||
			tb_die "the delay line did not start: $(tail -n 3 "$TB"/delayline*.log 2>/dev/null | tr '\n' ' ')"
	fi
}

# --- the long path --------------------------------------------------------------
#
# tb_delayline_start RTT_MS [RATE_MBIT]: (re)starts the delay line in S, on
# S4 and S6 port DL_PORT, relaying to sshd on port 22, and points the host
# aliases of TB/ssh_config at it: everything that uses that config (sluice,
# -e ssh, ssh -D, sshuttle, plain ssh) then crosses the long path, and only
# that path. known_hosts files get the "[addr]:port" lines OpenSSH looks up
# for a port other than 22. Its log, a line per connection: TB/delayline4.log.
tb_delayline_start() {
	local f a
	[ -x "$DELAYLINE" ] || {
		echo "delay line $DELAYLINE not built (make tools)" >"$TB/delayline4.log"
		return 1
	}
	tb_delayline_stop
	for a in 4 6; do
		if [ $a = 4 ]; then f=$S4:; else f=[$S6]:; fi
		ip netns exec "$NS_S" "$DELAYLINE" -v -l "$f$DL_PORT" -t "${f}22" -D "$1" ${2:+-R "$2"} \
			</dev/null >"$TB/delayline$a.log" 2>&1 &
		DL_PIDS="$DL_PIDS $!"
		TB_PIDS="$TB_PIDS $!"
	done
	wait_port "$NS_S" $DL_PORT || return 1
	for f in "$TB"/known_hosts*; do
		grep -q "^\[$S4\]:$DL_PORT " "$f" && continue
		awk -v p=$DL_PORT '{ print "[" $1 "]:" p, $2, $3 }' "$f" >"$f.dl" && cat "$f.dl" >>"$f"
		rm -f "$f.dl"
	done
	TB_SSH_PORT=$DL_PORT
	tb_ssh_config
	TB_RTT_MS=$1
	TB_RATE_MBIT=${2:-}
}

# tb_delayline_stop: the host aliases go straight to sshd again. Whatever
# crossed the delay line is reset.
tb_delayline_stop() {
	local p
	for p in $DL_PIDS; do
		pid_in_ns "$p" "$NS_S" && kill -TERM "$p" 2>/dev/null
		{ wait "$p"; } 2>/dev/null
		tb_forget "$p"
	done
	DL_PIDS=""
	TB_RTT_MS=""
	TB_RATE_MBIT=""
	if [ "$TB_SSH_PORT" != 22 ]; then
		TB_SSH_PORT=22
		tb_ssh_config
	fi
}

# --- sluice -----------------------------------------------------------------

have_sluice() { [ -x "$SLUICE" ]; }
# need_sluice: a suite's first check; without the binary it fails and stops.
# need_ping: ping is installed, or the suite ends with one failure saying so.
need_ping() {
	command -v ping >/dev/null && return 0
	fail ping "ping is not installed (run tests/deps.sh)"
	exit 1
}

need_sluice() {
	have_sluice && return 0
	fail build "$SLUICE not built"
	exit 1
}

# sluice_start ARGS...: sluice -F TB/ssh_config ARGS in C, in the background
# (SLUICE_CFG, when set, names another config).
sluice_start() {
	SLUICE_N=$((SLUICE_N + 1))
	SLUICE_LOG=$TB/sluice.$SLUICE_N.log
	ip netns exec "$NS_C" "$SLUICE" -F "${SLUICE_CFG:-$TB/ssh_config}" "$@" </dev/null >"$SLUICE_LOG" 2>&1 &
	SLUICE_PID=$!
	TB_PIDS="$TB_PIDS $SLUICE_PID"
}

# tb_cpu_cage US PERIOD_US: a cgroup of ours whose tasks together get US
# microseconds of CPU in each period (cgroup v1's cpu controller, or v2's where it is
# already enabled below the root: we change no setting of the host's); its
# directory in TB_CAGE. False where none can be made. tb_down removes it,
# once our processes, the only ones in it, are gone.
tb_cpu_cage() {
	local d
	TB_CAGE=""
	if [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		d=/sys/fs/cgroup/cpu/sluice-e2e-$$
		mkdir "$d" 2>/dev/null || return 1
		TB_ON_DOWN="${TB_ON_DOWN:+$TB_ON_DOWN; }tb_cage_remove $d"
		{ echo "$2" >"$d/cpu.cfs_period_us" && echo "$1" >"$d/cpu.cfs_quota_us"; } 2>/dev/null || return 1
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		d=/sys/fs/cgroup/sluice-e2e-$$
		mkdir "$d" 2>/dev/null || return 1
		TB_ON_DOWN="${TB_ON_DOWN:+$TB_ON_DOWN; }tb_cage_remove $d"
		echo "$1 $2" 2>/dev/null >"$d/cpu.max" || return 1
	else
		return 1
	fi
	TB_CAGE=$d
}

# A task killed a moment ago may take a moment more to leave its cgroup.
tb_cage_remove() {
	local i
	for ((i = 0; i < 30; i++)); do
		[ -d "$1" ] || return 0
		rmdir "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# could not remove the cgroup $1" >&2
}

# Each tunnel has a table of its own, inet sluice-PID (its privileged part's pid).
sluice_tables() { inC nft list tables 2>/dev/null | awk '$2 == "inet" && $3 ~ /^sluice(-[0-9]+)?$/ { print $3 }'; }
sluice_table() { sluice_tables | head -n 1; }
nft_table_present() { [ -n "$(sluice_tables)" ]; }
nft_table_count() { sluice_tables | grep -c .; }

# sluice_wait_ready [URL]: until sluice's table is in C and (with URL) a GET
# through it works; at most ~10 s. Fails at once when sluice exits. On
# failure SLUICE_WHY says what happened, with the end of sluice's log.
sluice_wait_ready() {
	local i end=$((SECONDS + 11))
	SLUICE_WHY=""
	for ((i = 0; i < 100 && SECONDS < end; i++)); do
		if ! proc_alive "$SLUICE_PID"; then
			{ wait "$SLUICE_PID"; } 2>/dev/null
			SLUICE_WHY="exited with status $?: $(sluice_log_tail)"
			tb_forget "$SLUICE_PID"
			SLUICE_PID=""
			return 1
		fi
		if nft_table_present; then
			[ $# -eq 0 ] && return 0
			# shellcheck disable=SC2086
			inC $TB_CURL_AS curl -sf --connect-timeout 1 --max-time 2 -o /dev/null "$1" && return 0
		fi
		sleep 0.1
	done
	SLUICE_WHY="not ready within 10 s: $(sluice_log_tail)"
	return 1
}

# zeros_serve: L sends zeros without end to whoever connects to its port 9102.
zeros_serve() {
	inL socat TCP-LISTEN:9102,bind=$L4,reuseaddr,fork SYSTEM:'exec cat /dev/zero' </dev/null >/dev/null 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	wait_port "$NS_L" 9102 || tb_die "the zeros on L's port 9102 did not listen"
}

# zeros_reader FILE: from C, read L's endless zeros (port 9102) through the
# tunnel until FILE.stop appears (at most 60 s, a read waiting 40 s at
# most); FILE gets "bytes bad how": bad counts reads that were not all
# zeros, how is stopped, eof, deadline or an error.
zeros_reader() {
	inC timeout 70 "$PY" -c '
import os, socket, sys, time
path = sys.argv[3]
n, bad, how = 0, 0, "stopped"
end = time.monotonic() + 60
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
    s.settimeout(40)
    zero = bytes(1 << 16)
    while not os.path.exists(path + ".stop"):
        if time.monotonic() > end:
            how = "deadline"
            break
        d = s.recv(1 << 16)
        if not d:
            how = "eof"
            break
        bad += d != zero[:len(d)]
        n += len(d)
except OSError as e:
    how = type(e).__name__
with open(path, "w") as f:
    f.write("%d %d %s\n" % (n, bad, how))' "$L4" 9102 "$1" >/dev/null 2>&1
}

# zeros_start / zeros_stop: zeros_reader into $TB/zeros in the background
# (ZR its pid), and later told to stop and reaped.
zeros_start() {
	rm -f "$TB/zeros" "$TB/zeros.stop"
	zeros_reader "$TB/zeros" &
	ZR=$!
	TB_PIDS="$TB_PIDS $ZR"
}
zeros_stop() {
	touch "$TB/zeros.stop"
	tb_reap "$ZR" >/dev/null
}

# wait_decided SECONDS: until the running sluice's log says how many lanes
# the path takes (one lane, or carrying over N), zeros_start's reader ends,
# or SECONDS pass. False unless it said.
wait_decided() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		grep -Eq "the round trip to .* ms: (one lane|carrying)" "$SLUICE_LOG" && return 0
		proc_alive "$ZR" || return 1
		sleep 0.2
	done
	return 1
}

# sluice_start_case NAME URL ARGS...: start sluice, wait until URL answers through it.
sluice_start_case() {
	local name=$1 url=$2
	shift 2
	sluice_start "$@"
	if sluice_wait_ready "$url"; then
		pass "$name"
		return 0
	fi
	fail "$name" "$SLUICE_WHY"
	sluice_stop KILL 2
	return 1
}

# sluice_alive_or_end CASE: sluice still runs; else one FAIL for CASE and the
# script ends there, rather than sit out the time limits of every later case.
sluice_alive_or_end() {
	proc_alive "$SLUICE_PID" && return 0
	fail "$1" "sluice is gone: $(sluice_log_tail)"
	tb_finish
}

# The start-up progress lines: one per step, ending with "ready:".
PROGRESS_RE='^sluice: (privileged part started|resolving |connecting to |authenticating as |authenticated by |remote helper for .*: cached|uploading the remote helper for |rules installed: |UDP and ping through the tunnel, by |ready: )'

# sluice_ends_clean: the closing cases of a load suite. log_clean: nothing
# but the start-up progress lines in the log; clean_exit: SIGTERM gives 0 and no
# table is left.
sluice_ends_clean() {
	local other
	sluice_alive_or_end log_clean
	other=$(grep -Ev "$PROGRESS_RE" "$SLUICE_LOG")
	if [ -z "$other" ]; then pass log_clean; else fail log_clean "$(echo "$other" | head -n 3 | tr '\n' '|')"; fi
	sluice_stop TERM 5
	if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass clean_exit; else
		fail clean_exit "exit status $SLUICE_RC: $(sluice_log_tail)"
	fi
}

# tb_reap PID: wait for a background client in C (each has its own time
# limit; it is stopped early when sluice dies), forget it; returns its status.
tb_reap() {
	local rc
	while proc_alive "$1"; do
		if ! proc_alive "$SLUICE_PID"; then
			pid_in_ns "$1" "$NS_C" && kill -TERM "$1" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$1"
	rc=$?
	tb_forget "$1"
	return $rc
}

# tb_serve_load PATTERN_PORT HOLD_PORT: netsvc's load servers in L (pattern
# streams and sinks; echo for many connections).
tb_serve_load() {
	ip netns exec "$NS_L" "$PY" "$E2E_DIR/netsvc.py" serve-load "$1" "$2" </dev/null \
		>"$TB/netsvc-load.log" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	if ! wait_port "$NS_L" "$1" || ! wait_port "$NS_L" "$2"; then
		tb_die "serve-load did not start: $(tail -n 3 "$TB/netsvc-load.log" | tr '\n' ' ')"
	fi
}

# The last lines sluice logged, on one line, for a FAIL reason.
sluice_log_tail() { tail -n "${1:-3}" "$SLUICE_LOG" 2>/dev/null | tr '\n' '|'; }

# sluice_stop SIGNAL [SECONDS]: signal sluice, reap it; SLUICE_RC gets its exit
# status, or "timeout" (then it was SIGKILLed). Returns 1 on timeout.
# Bash's "Killed" notice for a deliberate SIGKILL is noise; a crash still
# shows in SLUICE_RC (128 + signal).
sluice_stop() { sluice_stop_ "$@" 2>/dev/null; }
sluice_stop_() {
	local i pid=$SLUICE_PID
	[ -n "$pid" ] || return 1
	pid_in_ns "$pid" "$NS_C" && kill "-$1" "$pid" 2>/dev/null
	for ((i = 0; i < ${2:-5} * 10; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid" && pid_in_ns "$pid" "$NS_C"; then
		kill -KILL "$pid"
		wait "$pid"
		SLUICE_RC=timeout
	else
		wait "$pid"
		SLUICE_RC=$?
	fi
	tb_forget "$pid"
	SLUICE_PID=""
	[ "$SLUICE_RC" != timeout ]
}

# sluice_run ARGS...: run sluice in the foreground (for cases that must fail
# fast); SLUICE_RC gets the exit status (124: still running after 20 s),
# SLUICE_ERR its stderr.
sluice_run() {
	SLUICE_N=$((SLUICE_N + 1))
	SLUICE_LOG=$TB/sluice.$SLUICE_N.log
	timeout -k 2 20 ip netns exec "$NS_C" "$SLUICE" -F "${SLUICE_CFG:-$TB/ssh_config}" "$@" \
		</dev/null >"$SLUICE_LOG.out" 2>"$SLUICE_LOG"
	SLUICE_RC=$?
	SLUICE_ERR=$(cat "$SLUICE_LOG")
}

# --- names: resolvers and private resolver files, for -N, -H and --dns --------
#
# tb_names_etc (as TB_ETC_HOOK) gives S a resolv.conf naming the lan's dnsmasq
# and an /etc/hosts with one more name, and C a resolv.conf naming an address
# nothing answers on, so that C's lookups fail fast unless sluice takes them.
# tb_names_dns starts the resolvers in L; they know only their own records
# and never forward anywhere.

NS4=192.0.2.53 # C's nameserver: on C's link, nobody there
DNS_NAME=onlyremote.test
DNS_A=198.51.100.77
DNS_AAAA=2001:db8:2::77
LAN_NAME=lanhost.corp.test # only in S's /etc/hosts
PTR_NAME=ptronly.example.test # PTR for $X4, and an A record back to it (forward-confirmed)
SPOOF4=203.0.113.3         # a lan address whose PTR names someone else's host
SPOOF_NAME=bank.example.test # ... which resolves to SPOOF_TO, not back to SPOOF4
SPOOF_TO=203.0.113.66
OUT_NAME=outside.example.test # PTR and A for C's own address: confirmed, but not routed
USER_NAME=userpinned.corp.test # in C's own /etc/hosts and in S's: C's line must win
ALT_NS=$X4 # a second resolver, on port ALT_PORT, with other answers
ALT_PORT=5353
ALT_A=203.0.113.77
ALT_AAAA=2001:db8:2::78

tb_names_etc() {
	printf 'nameserver %s\n' $L4 >"/etc/netns/$NS_S/resolv.conf" || return 1
	# sed: the copy ends in a newline even when the original does not.
	# sshhost, the alias C reaches S by, must never come back to C through -H,
	# nor this machine's own name (C's too: the namespaces share it).
	{ sed '$a\' /etc/hosts && echo "$L4 $LAN_NAME ${LAN_NAME%%.*}" && echo "$L4 $USER_NAME" &&
		echo "$L4 sshhost" && echo "$L4 $(hostname)"; } >"/etc/netns/$NS_S/hosts" || return 1
	# Two tries of 1 s: one late UDP reply on a busy 2-core runner must not fail a
	# case (glibc's own default is two tries of 5 s); a proxy that loses
	# queries still fails.
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' $NS4 >"/etc/netns/$NS_C/resolv.conf" || return 1
	chmod 644 "/etc/netns/$NS_S/resolv.conf" "/etc/netns/$NS_S/hosts" "/etc/netns/$NS_C/resolv.conf"
}

# tb_dnsmasq TAG PORT ARGS...: a dnsmasq in L, on the addresses and records in ARGS.
tb_dnsmasq() {
	local tag=$1 port=$2
	shift 2
	# No upstream of any kind: no resolv.conf, no --server, no config file.
	ip netns exec "$NS_L" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-poll \
		--no-hosts --bind-interfaces --port="$port" --user=nobody --group=nogroup \
		--pid-file="$TB/dnsmasq-$tag.pid" --log-queries=extra --log-facility="$TB/dnsmasq-$tag.log" \
		"$@" </dev/null >"$TB/dnsmasq-$tag.start.log" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	wait_port "$NS_L" "$port"
}

tb_names_dns() {
	local c
	for c in dnsmasq dig; do
		command -v $c >/dev/null || tb_die "$c not installed (run tests/deps.sh)"
	done
	tb_dnsmasq lan 53 --listen-address=$L4,$L6 \
		--host-record=$DNS_NAME,$DNS_A,$DNS_AAAA \
		--host-record=$PTR_NAME,$X4 --host-record=$OUT_NAME,$C4 \
		--ptr-record=3.113.0.203.in-addr.arpa,$SPOOF_NAME --address=/$SPOOF_NAME/$SPOOF_TO ||
		tb_die "dnsmasq did not start: $(tail -n 3 "$TB/dnsmasq-lan.start.log" | tr '\n' ' ')"
	tb_dnsmasq alt $ALT_PORT --listen-address=$ALT_NS --host-record=$DNS_NAME,$ALT_A,$ALT_AAAA ||
		tb_die "dnsmasq did not start: $(tail -n 3 "$TB/dnsmasq-alt.start.log" | tr '\n' ' ')"
}

# --- checks shared by the suites that carry traffic ---------------------------

# stopped_clean NAME SIGNAL: sluice exits 0 on SIGNAL, its table is gone and
# nothing of it is left in C.
stopped_clean() {
	local left
	sluice_stop "$2" 5
	left=$(ip netns pids "$NS_C")
	if [ "$SLUICE_RC" != 0 ]; then
		fail "$1" "exit status $SLUICE_RC after SIG$2: $(sluice_log_tail)"
	elif nft_table_present; then
		fail "$1" "table inet $(sluice_table) still in C after SIG$2"
	elif [ -n "$left" ]; then
		fail "$1" "processes left in C: $(ps -o args= -p "$(echo $left | tr ' ' ,)" | tr '\n' '|')"
	else
		pass "$1"
	fi
}

# sluice_lanes FIELD...: the running sluice's lanes from --status --json, one
# per line: those fields, in that order (true and false as 1 and 0, a field
# the lane lacks as 0).
sluice_lanes() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c '
import json, sys
for t in json.load(sys.stdin):
    if t["pid"] == int(sys.argv[1]):
        for l in t.get("lanes", []):
            print(*(int(v) if isinstance(v, bool) else v for v in (l.get(f, 0) for f in sys.argv[2:])))' \
		"$SLUICE_PID" "$@" 2>/dev/null
}

# sluice_lanes_have FIELD: how many of the running sluice's lanes carry FIELD
# at all in --status --json (other tunnels on the machine are not counted).
sluice_lanes_have() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c '
import json, sys
print(sum(1 for t in json.load(sys.stdin) if t["pid"] == int(sys.argv[1])
          for l in t.get("lanes", []) if sys.argv[2] in l))' "$SLUICE_PID" "$1" 2>/dev/null
}

# helpers_in_s: the pids of the helpers that serve in S, oldest first (by start time).
helpers_in_s() {
	local p
	for p in $(ip netns pids "$NS_S"); do
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
		*sluice-helper*--serve*) echo "$(awk '{ print $22 }' "/proc/$p/stat" 2>/dev/null) $p" ;;
		esac
	done | sort -n | awk '{ print $2 }'
}

# ssh_conns: established TCP connections from C to sshd (or to the delay line before it).
ssh_conns() { inC ss -Htn state established "( dport = :$TB_SSH_PORT )" | grep -c .; }

# direct_open_now: how many connections the running sluice's ssh relays (--direct).
direct_open_now() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c '
import json, sys
print([x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0]["direct_open"])' \
		"$SLUICE_PID" 2>/dev/null
}

# cut_download CASE VIA_SSH CMD...: a rate-limited download under way when CMD
# runs is cut off (curl: 56, a reset), not ended as if complete (18: a clean
# close short of Content-Length) nor left hanging (28). VIA_SSH=1: and it must
# be one that --direct handed to ssh, or the case proves nothing about that.
cut_download() {
	local name=$1 via=$2 cpid rc opened=1
	shift 2
	inC curl -sS --max-time 30 --limit-rate 2M -o /dev/null "http://$L4/big.bin" 2>"$TB/cut.err" &
	cpid=$!
	TB_PIDS="$TB_PIDS $cpid"
	sleep 1
	[ "$via" = 1 ] && opened=$(direct_open_now)
	"$@"
	wait "$cpid"
	rc=$?
	tb_forget "$cpid"
	if [ "$opened" != 1 ]; then
		fail "$name" "the download was not ssh's to relay: direct_open '$opened'"
	elif [ $rc = 56 ]; then
		pass "$name"
	else
		fail "$name" "curl exited $rc: $(tr '\n' ' ' <"$TB/cut.err")"
	fi
}

# stop_resets_open CASE [VIA_SSH]: cut_download by SIGTERM to sluice; stopped_clean
# after it collects the exit.
stop_resets_open() { cut_download "$1" "${2:-0}" kill -TERM "$SLUICE_PID"; }

# ns_ps NS FORMAT: ps -o FORMAT of every process in namespace NS; nothing when
# there are none (ps refuses an empty or a zero pid).
ns_ps() {
	local pids
	pids=$(ip netns pids "$1" 2>/dev/null | paste -sd, -)
	[ -z "$pids" ] || ps -o "$2" -p "$pids"
}

# The login user's processes in S: "uid args" lines.
login_procs_in_s() { ns_ps "$NS_S" uid=,args= | awk -v u="$LOGIN_UID" '$1 == u'; }

# kill_sessions: SIGKILL the user's sshd session processes in S (not the listener): the session drops.
kill_sessions() {
	local p
	for p in $(ip netns pids "$NS_S"); do
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
		"sshd: sluicet"*) kill -KILL "$p" 2>/dev/null ;;
		esac
	done
}

# helper_gone NAME: within 3 s of sluice going away, nothing runs as the login user in S.
helper_gone() {
	local i left=""
	for ((i = 0; i < 30; i++)); do
		left=$(login_procs_in_s)
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -z "$left" ]; then pass "$1"; else fail "$1" "still running in S: $(echo "$left" | tr '\n' '|')"; fi
}

# helper_pipes_are NAME "IN OUT": the running helper's stdin and stdout pipes
# hold IN and OUT KiB (F_GETPIPE_SZ on its descriptors, opened through /proc).
helper_pipes_are() {
	local pid got
	pid=$(ns_ps "$NS_S" pid=,comm=,args= | awk '$2 ~ /^sluice-helper/ && / --serve / { print $1; exit }')
	if [ -z "$pid" ]; then
		fail "$1" "no helper runs in S"
		return
	fi
	got=$("$PY" -c 'import fcntl, os, stat, sys
sizes = []
try:
    for fd in (0, 1):
        p = "/proc/%s/fd/%d" % (sys.argv[1], fd)
        if not stat.S_ISFIFO(os.stat(p).st_mode):
            sys.exit("fd %d is not a pipe" % fd)
        f = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        sizes.append(str(fcntl.fcntl(f, 1032) // 1024))  # F_GETPIPE_SZ
        os.close(f)
except OSError as e:
    sys.exit(str(e))
print(" ".join(sizes))' "$pid" 2>&1)
	if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "helper $pid: pipes '$got' KiB, want '$2'"; fi
}

# tb_traffic_checks PREFIX: through a running sluice, a 64 MiB download
# (big.bin, BIG_SHA) and a 20 MB upload checked by sha256, half-close both
# ways (v4 and v6), and a refused port seen as a reset (with and without a
# request in flight). Case names get PREFIX.
tb_traffic_checks() {
	local p=$1 got want out rc t0 dt
	got=$(
		set -o pipefail
		inC curl -sS --max-time 60 http://$L4/big.bin 2>&1 | sha256sum | cut -d' ' -f1
	)
	if [ $? = 0 ] && [ "$got" = "$BIG_SHA" ]; then pass "${p}download_64mib"; else
		fail "${p}download_64mib" "sha256 $got, want $BIG_SHA"
	fi

	head -c 20000000 /dev/urandom >"$TB/up.bin"
	want=$(sha256sum <"$TB/up.bin" | cut -d' ' -f1)
	# socat shuts down its write side at EOF on stdin, then waits (-t) for the answer.
	got=$(inC timeout 60 socat -t 30 -T 30 - TCP:$L4:9000 <"$TB/up.bin" 2>&1)
	if [ "$got" = "$want" ]; then pass "${p}upload_20mb"; else fail "${p}upload_20mb" "sha server said '$got', want $want"; fi
	rm -f "$TB/up.bin"

	out=$(inC timeout 40 "$PY" "$E2E_DIR/netsvc.py" halfclose $L4 9000 3000000 2>&1)
	if [ $? = 0 ]; then pass "${p}half_close"; else fail "${p}half_close" "$out"; fi
	out=$(inC timeout 40 "$PY" "$E2E_DIR/netsvc.py" halfclose $L6 9000 3000000 2>&1)
	if [ $? = 0 ]; then pass "${p}half_close_v6"; else fail "${p}half_close_v6" "$out"; fi

	# Nothing listens on 9999: the client must see the refusal as a reset, and
	# soon; an empty success (curl 52, "Empty reply") is what sshuttle does.
	t0=$(now_ms)
	out=$(inC curl -sS --max-time 5 -o /dev/null http://$L4:9999/ 2>&1)
	rc=$?
	dt=$(($(now_ms) - t0))
	case $rc in
	7 | 55 | 56)
		if [ $dt -lt 3000 ]; then pass "${p}refused_port_resets"; else
			fail "${p}refused_port_resets" "took $dt ms: $out"
		fi
		;;
	*) fail "${p}refused_port_resets" "curl exited $rc after $dt ms, want 56 or 7 (reset): $out" ;;
	esac

	# The same without a request in flight: no unread data to turn a close into a
	# reset by accident, so only a deliberate reset passes.
	out=$(inC timeout 10 "$PY" "$E2E_DIR/netsvc.py" reset $L4 9999 2>&1)
	if [ $? = 0 ]; then pass "${p}refused_port_resets_idle"; else fail "${p}refused_port_resets_idle" "$out"; fi
	out=$(inC timeout 10 "$PY" "$E2E_DIR/netsvc.py" reset $L6 9999 2>&1)
	if [ $? = 0 ]; then pass "${p}refused_port_resets_v6"; else fail "${p}refused_port_resets_v6" "$out"; fi
}
