# udp.sh: the bench's UDP and ping rows, sourced by tests/bench.sh (whose
# testbed, client helpers and iperf3 server in the lan namespace it uses).
#
# Three ways from the client namespace to the lan, one at a time:
#   sluice           its default: UDP and ping through the TUN
#   sshuttle tproxy  sshuttle's only method that carries UDP; the bench
#                    makes the ip rule and route it needs by hand, as its
#                    documentation asks of the user, and removes them after
#   raw path         no tunnel: the ssh host forwards (IP routing), for this
#                    measurement alone; the reference the overhead is
#                    counted against
# The rows:
#   UDP throughput: iperf3 -u with 1400-byte datagrams at rising rates, 4 s
#     each; the highest rate that lost under 1% (the ladder stops at the
#     first that lost more).
#   UDP request/response: tests/bench/udp_rr.py, one 64-byte datagram in
#     flight at a time to an echo server in the lan, for 5 s.
#   ping: 100 echoes 10 ms apart; the average RTT, and its excess over the
#     raw path's.
# BENCH_ROWS=udp runs these rows alone (bench.sh skips the TCP ones).

UDP_PORT=9100
UDP_RATES=(5 10 25 50 100 200 400 800 1600 3200)
UDP_TMARK=0x1
UDP_TABLE=100
declare -A U # U[way.row]: the cell
UNOTES=()

unote() { UNOTES+=("$*"); }

# iperf3 -u -J on stdin: "loss% Mbit/s-received", or nothing.
udp_iperf_loss() {
	"$PY" -c 'import json, sys
try:
    s = json.load(sys.stdin)["end"]["sum"]
    print("%.2f %.0f" % (s["lost_percent"], s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6))
except Exception:
    pass'
}

# udp_rung WAY RATE TRY: one iperf3 -u run; prints its loss %, or (and
# fails) what went wrong.
udp_rung() {
	local out=$TB/bench/udp.$1.$2.$3.json got
	timeout 30 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -u -b "${2}M" -l 1400 -t 4 -J >"$out" 2>&1
	got=$(udp_iperf_loss <"$out")
	[ -n "$got" ] && echo "${got%% *}" && return 0
	iperf_error <"$out"
	return 1
}

under1() { awk -v l="$1" 'BEGIN { exit !(l < 1) }'; }

# udp_ladder WAY: the throughput cell, each rung's loss in a note. A rung
# that loses 1% or more runs once more (on a busy machine one stall of the
# receiving iperf3 does it), and the ladder stops when the second does too.
udp_ladder() {
	local way=$1 rate loss best="" bestloss="" rungs=""
	for rate in "${UDP_RATES[@]}"; do
		if ! loss=$(udp_rung "$way" "$rate" 1); then
			rungs="$rungs ${rate}M: $loss;"
			break
		fi
		if ! under1 "$loss"; then
			rungs="$rungs ${rate}M ${loss}% then"
			if ! loss=$(udp_rung "$way" "$rate" 2); then
				rungs="$rungs $loss;"
				break
			fi
		fi
		rungs="$rungs ${rate}M ${loss}%;"
		under1 "$loss" || break
		best=$rate
		bestloss=$loss
	done
	if [ -n "$best" ]; then
		U[$way.tput]="$best ($bestloss%)"
	else
		U[$way.tput]="none"
	fi
	unote "$way UDP ladder (offered Mbit/s, loss):$rungs"
}

udp_rr_row() {
	local way=$1 out v n lost
	out=$(timeout 20 ip netns exec "$NS_C" "$PY" "$BENCH_SRC/udp_rr.py" $L4 $UDP_PORT 5 2>&1)
	if [ "${out%% *}" = rr ]; then
		read -r _ v n lost <<<"$out"
		U[$way.rr]=$v
		[ "$lost" = 0 ] || unote "$way req/resp: $lost of $((n + lost)) requests got no answer within 1 s"
	else
		U[$way.rr]=fail
		unote "$way req/resp: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
	fi
}

# The average RTT in ms, and the whole summary in a note.
udp_ping_row() {
	local way=$1 out rtt
	out=$(timeout 20 ip netns exec "$NS_C" ping -n -q -c 100 -i 0.01 -W 1 $L4 2>&1)
	rtt=$(echo "$out" | awk -F'[/ ]+' '/^rtt / { print $8 }')
	if [ -n "$rtt" ]; then
		U[$way.ping]=$rtt
		unote "$way ping: $(echo "$out" | grep -E 'packet loss|^rtt' | tr '\n' ' ')"
	else
		U[$way.ping]=none
		unote "$way ping: no reply: $(echo "$out" | grep 'packet loss')"
	fi
}

udp_rows() {
	say "$1: UDP ladder, request/response, ping"
	udp_ladder "$1"
	udp_rr_row "$1"
	udp_ping_row "$1"
}

udp_raw() {
	inS sysctl -qw net.ipv4.ip_forward=1 || {
		unote "raw path: could not turn forwarding on in the ssh host's namespace"
		return 1
	}
	udp_rows raw
	inS sysctl -qw net.ipv4.ip_forward=0
}

udp_sluice() {
	CL=sluice
	cl_start
	if ! cl_ready; then
		unote "sluice: did not come up: $(cl_log_tail 5)"
		cl_stop
		return 1
	fi
	udp_rows sluice
	cl_check udp
	cl_stop
}

# sshuttle --method tproxy, with the policy routing its documentation tells
# the user to add first (as root, which the bench is).
udp_tproxy() {
	local i pid p
	command -v iptables >/dev/null || {
		unote "sshuttle tproxy: not run: its tproxy method drives iptables, which is not installed"
		return 1
	}
	inC ip route add local default dev lo table $UDP_TABLE &&
		inC ip rule add fwmark $UDP_TMARK lookup $UDP_TABLE || {
		unote "sshuttle tproxy: not run: the ip rule or route it needs could not be added"
		return 1
	}
	CL=sshuttle-tproxy
	CL_N=$((CL_N + 1))
	CL_LOG=$TB/sshuttle.tproxy.$CL_N.log
	ip netns exec "$NS_C" /usr/bin/sshuttle -e "ssh -F $TB/ssh_config" -r sshhost --method tproxy \
		"$SUBNET" </dev/null >"$CL_LOG" 2>&1 &
	CL_PID=$!
	TB_PIDS="$TB_PIDS $CL_PID"
	if cl_ready; then
		udp_rows sshtp
		cl_alive || unote "sshuttle tproxy died during its rows: $(cl_log_tail 2)"
	else
		unote "sshuttle tproxy: did not come up: $(cl_log_tail 5)"
	fi
	pid=$CL_PID
	if proc_alive "$pid" && pid_in_ns "$pid" "$NS_C"; then
		pid_stop "$pid" || unote "sshuttle tproxy: did not exit within 10 s of SIGINT; killed"
	fi
	{ wait "$pid"; } 2>/dev/null
	tb_forget "$pid"
	CL_PID=""
	# Its firewall process removes the rules once it sees EOF.
	for ((i = 0; i < 50; i++)); do
		inC iptables-save 2>/dev/null | grep -q sshuttle || break
		sleep 0.1
	done
	inC iptables-save 2>/dev/null | grep -q sshuttle &&
		unote "sshuttle tproxy: left iptables rules behind (flushed)"
	# iptables-nft leaves its emptied tables: not sshuttle's doing, cleared alike.
	inC nft flush ruleset
	inC ip rule del fwmark $UDP_TMARK lookup $UDP_TABLE
	inC ip route flush table $UDP_TABLE
	for p in $(ip netns pids "$NS_C"); do
		pid_in_ns "$p" "$NS_C" && kill -KILL "$p" 2>/dev/null
	done
}

udp_cell() { echo "${U[$1.$2]:--}"; }

udp_row() { # label key [ratio: 1 for sluice/sshuttle]
	local a b c
	a=$(udp_cell sluice "$2")
	b=$(udp_cell sshtp "$2")
	c=$(udp_cell raw "$2")
	printf '%-34s %-14s %-16s %-14s %s\n' "$1" "$a" "$b" "$c" \
		"$([ "${3:-0}" = 1 ] && ratio "$a" "$b" || echo -)"
}

udp_print_table() {
	local n w
	for w in sluice sshtp raw; do
		if [[ ${U[$w.ping]:-} =~ ^[0-9.]+$ && ${U[raw.ping]:-} =~ ^[0-9.]+$ ]]; then
			U[$w.pingx]=$(awk -v a="${U[$w.ping]}" -v b="${U[raw.ping]}" 'BEGIN { printf "%.3f\n", a - b }')
		fi
	done
	echo
	printf '%-34s %-14s %-16s %-14s %s\n' "UDP and ping" sluice "sshuttle tproxy" "raw path" "sl/sshtl"
	udp_row "UDP Mbit/s at <1% loss (loss)" tput 1
	udp_row "UDP req/resp per s (1 in flight)" rr 1
	udp_row "ping RTT avg ms" ping
	udp_row "  ping ms over the raw path" pingx
	echo
	echo "raw path: no tunnel, the ssh host forwarding (IP routing) for that measurement alone"
	echo "UDP Mbit/s: iperf3 -u, 1400-byte datagrams, 4 s per rate, rates ${UDP_RATES[*]} Mbit/s in turn"
	echo "  until one loses 1% or more; the cell is the highest offered rate that lost less"
	echo "notes:"
	for n in "${UNOTES[@]}"; do
		echo "  - $n"
	done
}

# The UDP and ping rows for every way BENCH_TOOLS allows (sluice, sshuttle),
# and the raw path.
bench_udp() {
	local t0=$SECONDS
	inL "$PY" "$ROOT/tests/e2e/udp.py" echo $UDP_PORT </dev/null >"$TB/bench/udpecho.log" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	# The helper's ICMP sockets (systemd's default range; Debian's own is "1 0",
	# where the helper falls back to running ping, one process per echo).
	inS sysctl -qw net.ipv4.ping_group_range="0 2147483647"
	unote "the ssh host allows ICMP sockets (net.ipv4.ping_group_range 0 2147483647): sluice's helper pings by them"
	say "raw path (the ssh host forwarding): UDP and ping"
	udp_raw
	case " $BENCH_TOOLS " in *" sluice "*) udp_sluice ;; esac
	case " $BENCH_TOOLS " in *" sshuttle "*) udp_tproxy ;; esac
	[ -n "${U[sshtp.ping]:-}" ] && [ "${U[sshtp.ping]}" = none ] &&
		unote "sshuttle carries no ICMP with any method: its pings leave by the normal route, which the ssh host does not forward"
	unote "UDP rows took $((SECONDS - t0)) s"
}
