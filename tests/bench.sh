#!/bin/bash
# bench.sh (make bench): sluice (its own libssh2 transport, -e over OpenSSH,
# and -e with --direct), ssh -D with redsocks, sshuttle and the raw SSH
# channel side by side, measured in one run on the e2e testbed
# (tests/e2e/lib.sh), printed as one table with ratios.
#
# The lan namespace runs nginx (:8080) and an iperf3 server; the client
# namespace runs one tunnel at a time and the load generators (iperf3, wrk,
# ab, tests/bench/idle_conns.py). The raw channel is plain ssh from the
# client namespace to the ssh host, once with the cipher and MAC that
# libssh2 1.10 negotiates (aes128-ctr, hmac-sha2-256) and once with
# OpenSSH's defaults (what -e and ssh -D use).
#
# Fairness between streams: iperf3 -P 8 -J, and Jain's index over the
# eight streams' receiver rates with the slowest and fastest stream
# (iperf_fairness), here for a download and in wan.sh each way. Memory:
# the whole client's PSS (client_pss_mib), idle and with 10,000 idle
# connections held open by tests/bench/idle_conns.py (idle_open and
# idle_close, which wan.sh uses too, over the long path).
#
# "-e --direct" is sluice handing each connection to the ControlMaster of
# its -e ssh (client/cmd/direct.c), which relays it in a channel of its own.
#
# "ssh -D + redsocks" is the hand-built OpenSSH alternative: ssh -D as a
# SOCKS5 proxy, redsocks (redirector iptables: it reads SO_ORIGINAL_DST) in
# front of it, and an nft redirect of the routed subnet to redsocks.
#
# A row that fails for one tool prints "fail" (and what happened, under the
# table) instead of ending the run. Every wait is bounded; the whole run
# takes about ten minutes. Knobs: BENCH_TOOLS="sluice sluice-e sluice-d sshd sshuttle",
# BENCH_ROWS="lan udp wan echo" (the table above; the UDP and ping rows of
# tests/bench/udp.sh; the long-path and keystroke-echo tables of
# tests/bench/wan.sh, which has its own knobs).
TB_SUITE=bench
. "$(dirname "${BASH_SOURCE[0]}")/e2e/lib.sh"

BENCH_SRC=$ROOT/tests/bench
. "$BENCH_SRC/udp.sh"
BENCH_TOOLS=${BENCH_TOOLS:-sluice sluice-e sluice-d sshd sshuttle}
BENCH_ROWS=${BENCH_ROWS:-lan udp wan echo}
# ssh -D needs TCP forwarding on the ssh host.
TB_SSHD_FORWARDING=yes
REDSOCKS_PORT=12345
SOCKS_PORT=1080
NGX_PORT=8080
URL=http://$L4:$NGX_PORT/small.html
SUBNET=198.51.100.0/24
RAW_CIPHER=(-c aes128-ctr -m hmac-sha2-256)

declare -A R       # R[tool.row]: the cell
NOTES=()           # lines printed under the table
BENCH_POLICY_RC="" # a policy-rc.d of ours to remove
CL=""              # the tool being measured
CL_PID=""
CL_PID2="" # redsocks, for the sshd tool
CL_LOG=""
CL_N=0
NOFILE=1024        # the descriptor limit everything here inherits

say() { echo "bench: $*" >&2; }
note() { NOTES+=("$*"); }

# --- tools --------------------------------------------------------------------

pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' ok installed$'; }

# Installs what is missing; with everything present it runs no apt at all.
bench_deps() {
	local missing="" ngx=nginx-light
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
		pkg_ok nginx-light || pkg_ok nginx || missing="$missing NGINX"
	}
	command -v wrk >/dev/null || missing="$missing wrk"
	command -v ab >/dev/null || missing="$missing apache2-utils"
	command -v iperf3 >/dev/null || missing="$missing iperf3"
	[ -x /usr/bin/sshuttle ] || missing="$missing sshuttle"
	command -v redsocks >/dev/null || missing="$missing redsocks"
	command -v iptables >/dev/null || missing="$missing iptables" # sshuttle's tproxy method
	[ -z "$missing" ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	say "installing:$missing"
	# A mirror caught mid-sync fails one index now and then: try again, then
	# go on with what was fetched.
	local try
	for try in 1 2 3; do
		apt-get update -q >/dev/null && break
		sleep 5
	done
	case "$missing" in
	*NGINX*)
		apt-cache show nginx-light 2>/dev/null | grep -q '^Version:' || ngx=nginx
		missing=${missing/NGINX/$ngx}
		;;
	esac
	# Package scripts must not start a system nginx outside our namespaces.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
			BENCH_POLICY_RC=/usr/sbin/policy-rc.d
	fi
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	local rc=$?
	[ -n "$BENCH_POLICY_RC" ] && rm -f "$BENCH_POLICY_RC" && BENCH_POLICY_RC=""
	return $rc
}

bench_cleanup() {
	[ -n "$BENCH_POLICY_RC" ] && rm -f "$BENCH_POLICY_RC"
	tb_down
}

# --- the testbed's extra servers --------------------------------------------

# Many connections in flight: deep backlogs and the whole port range, in our
# namespaces only.
bench_sysctl() {
	local ns
	for ns in "$NS_C" "$NS_S" "$NS_L"; do
		ip netns exec "$ns" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
			net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 || return 1
	done
}

bench_nginx() {
	local d=$TB/bench m
	mkdir -m 755 "$d" "$d/www" "$d/tmp" || return 1
	head -c 600 /dev/zero | tr '\0' x >"$d/www/small.html"
	chmod 644 "$d/www/small.html"
	{
		cat <<EOF
# bench: nginx in the lan namespace, everything under $d
user nobody nogroup;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $d/nginx.pid;
error_log $d/nginx.err warn;
events {
	worker_connections $((NOFILE > 30100 ? 30000 : NOFILE - 100));
	multi_accept on;
}
http {
	access_log off;
	sendfile on;
	tcp_nodelay on;
	keepalive_timeout 300s;
	keepalive_requests 1000000;
	client_header_timeout 300s;
	default_type application/octet-stream;
	client_body_temp_path $d/tmp/body;
EOF
		# Every temp path inside our dir: nginx chowns them at start.
		for m in proxy fastcgi uwsgi scgi; do
			nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
				echo "	${m}_temp_path $d/tmp/$m;"
		done
		cat <<EOF
	server {
		listen $L4:$NGX_PORT backlog=65535;
		root $d/www;
	}
}
EOF
	} >"$d/nginx.conf"
	ip netns exec "$NS_L" nginx -e "$d/nginx.err" -c "$d/nginx.conf" -g "daemon off;" \
		</dev/null >"$d/nginx.out" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	wait_port "$NS_L" $NGX_PORT 50 || {
		say "nginx did not start: $(tail -n 3 "$d/nginx.out" "$d/nginx.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	}
	ip netns exec "$NS_L" iperf3 -s -B $L4 -p 5201 </dev/null >"$d/iperf3.log" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	wait_port "$NS_L" 5201 50
}

# --- parsing ------------------------------------------------------------------

# iperf3 -J output on stdin: the receiver's Mbit/s, or nothing.
iperf_mbps() {
	"$PY" -c 'import json, sys
try:
    d = json.load(sys.stdin)
    print("%.0f" % (d["end"]["sum_received"]["bits_per_second"] / 1e6))
except Exception:
    pass'
}

# iperf3 -J output of a run of several streams on stdin: Jain's fairness
# index over the streams' receiver rates, (sum x)^2 / (n * sum x^2), 1 when
# all got the same, and the slowest and fastest stream in Mbit/s:
# "0.99 (181-204)". Nothing for one stream or no result.
iperf_fairness() {
	"$PY" -c 'import json, sys
try:
    r = [s["receiver"]["bits_per_second"] / 1e6 for s in json.load(sys.stdin)["end"]["streams"]]
    q = sum(x * x for x in r)
    f = lambda x: "%.0f" % x if x >= 10 else "%.2g" % x
    if len(r) > 1 and q > 0:
        print("%.2f (%s-%s)" % (sum(r) ** 2 / (len(r) * q), f(min(r)), f(max(r))))
except Exception:
    pass'
}

iperf_error() {
	"$PY" -c 'import json, sys
try:
    print(json.load(sys.stdin).get("error", "no result"))
except Exception:
    print("no output")'
}

# wrk's "99%" line in FILE, in ms.
wrk_p99_ms() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
		if (f > 0) printf "%.2f\n", v * f
	}' "$1"
}

# The whole distribution, for a note: p99 alone hides whether it is a tail.
wrk_dist() {
	awk '$1 ~ /^(50|90|99)%$/ { d = d " p" substr($1, 1, length($1) - 1) " " $2 }
	     $1 == "Latency" && NF == 5 { m = $4 }
	     / requests in / { n = $1 }
	     END { printf "%s, max %s, %s requests\n", substr(d, 2), m, n }' "$1"
}

wrk_rps() { awk '$1 == "Requests/sec:" { printf "%.0f\n", $2 }' "$1"; }

# Socket errors plus non-2xx/3xx responses.
wrk_errors() {
	awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
	     /Non-2xx or 3xx responses:/ { n += $NF }
	     END { print n + 0 }' "$1"
}

wrk_error_lines() { grep -E 'Socket errors|Non-2xx|requests in' "$1" | sed 's/^ *//' | tr '\n' ';'; }

kib_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }

pss_of() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }

# The memory of every process in C but those named (the load generators):
# the whole client, e.g. sshuttle's firewall process and ssh as well. A sum
# of RSS would count a library page once per process that maps it (sluice's
# root part runs the same binary); PSS splits each shared page among its
# users, so the sum is what the processes hold together.
tree_kib() {
	local p t=0 k
	for p in $(ip netns pids "$NS_C" 2>/dev/null); do
		case " $* " in *" $p "*) continue ;; esac
		k=$(pss_of "$p")
		t=$((t + ${k:-0}))
	done
	echo $t
}

# --- the client under test ----------------------------------------------------

cl_start() {
	case $CL in
	sluice)
		sluice_start -r sshhost "$SUBNET"
		CL_PID=$SLUICE_PID
		CL_LOG=$SLUICE_LOG
		;;
	sluice-e)
		sluice_start -r sshhost -e "ssh -F $TB/ssh_config" "$SUBNET"
		CL_PID=$SLUICE_PID
		CL_LOG=$SLUICE_LOG
		;;
	sluice-d)
		sluice_start -r sshhost -e "ssh -F $TB/ssh_config" --direct "$SUBNET"
		CL_PID=$SLUICE_PID
		CL_LOG=$SLUICE_LOG
		;;
	sshd)
		CL_N=$((CL_N + 1))
		CL_LOG=$TB/sshd.$CL_N.log
		cat >"$TB/redsocks.conf" <<-EOF
			base { log_debug = off; log_info = off; log = "file:$TB/redsocks.$CL_N.log";
			       daemon = off; redirector = iptables; rlimit_nofile = $NOFILE; }
			redsocks { local_ip = 127.0.0.1; local_port = $REDSOCKS_PORT;
			           ip = 127.0.0.1; port = $SOCKS_PORT; type = socks5; }
		EOF
		ip netns exec "$NS_C" ssh -F "$TB/ssh_config" -N -D 127.0.0.1:$SOCKS_PORT sshhost \
			</dev/null >"$CL_LOG" 2>&1 &
		CL_PID=$!
		TB_PIDS="$TB_PIDS $CL_PID"
		wait_port "$NS_C" $SOCKS_PORT 100 || return 0
		ip netns exec "$NS_C" redsocks -c "$TB/redsocks.conf" </dev/null >>"$CL_LOG" 2>&1 &
		CL_PID2=$!
		TB_PIDS="$TB_PIDS $CL_PID2"
		wait_port "$NS_C" $REDSOCKS_PORT 100 || return 0
		inC nft -f - <<-EOF
			table ip bench_redsocks {
				chain out {
					type nat hook output priority -100; policy accept;
					ip daddr $SUBNET meta l4proto tcp redirect to :$REDSOCKS_PORT
				}
			}
		EOF
		;;
	sshuttle)
		CL_N=$((CL_N + 1))
		CL_LOG=$TB/sshuttle.$CL_N.log
		# ip netns exec, not inC: $! must be sshuttle itself.
		ip netns exec "$NS_C" /usr/bin/sshuttle -e "ssh -F $TB/ssh_config" -r sshhost --method nft "$SUBNET" \
			</dev/null >"$CL_LOG" 2>&1 &
		CL_PID=$!
		TB_PIDS="$TB_PIDS $CL_PID"
		;;
	esac
}

cl_alive() { [ -n "$CL_PID" ] && proc_alive "$CL_PID" && { [ -z "$CL_PID2" ] || proc_alive "$CL_PID2"; }; }

# The end of the client's log on one line, without Python's ^^^ markers.
cl_log_tail() { grep -v '^[ ^~]*$' "$CL_LOG" 2>/dev/null | tail -n "${1:-3}" | tr -s ' ' | tr '\n' '|'; }

# Until the first GET through the tunnel works; at most ~20 s. A connect
# made before the rules exist would wait for a SYN that S drops, so curl
# tries only once a table is in C.
cl_ready() {
	local end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		cl_alive || return 1
		if [ -n "$(inC nft list tables 2>/dev/null)" ] &&
			inC curl -sf --connect-timeout 1 --max-time 3 -o /dev/null "$URL"; then
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# pid_stop PID: a process of C's, SIGINT, then SIGKILL after 10 s. Returns 1
# when it had to be killed.
pid_stop() {
	local i
	pid_in_ns "$1" "$NS_C" && kill -INT "$1" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		proc_alive "$1" || return 0
		sleep 0.1
	done
	pid_in_ns "$1" "$NS_C" && kill -KILL "$1" 2>/dev/null
	return 1
}

# Stops the client (SIGINT, then SIGKILL after 10 s) and checks that it left
# no rules and no processes in C; cleans up after it if it did.
# Bash's "Killed" notice for a deliberate SIGKILL is noise; the notes say it.
cl_stop() { cl_stop_ 2>/dev/null; }
cl_stop_() {
	local i pid=$CL_PID left
	# The hand-built tunnel is taken apart by hand: its redirect, then redsocks.
	if [ "$CL" = sshd ]; then
		inC nft delete table ip bench_redsocks 2>/dev/null
		if [ -n "$CL_PID2" ] && pid_in_ns "$CL_PID2" "$NS_C"; then
			kill -TERM "$CL_PID2" 2>/dev/null
			{ wait "$CL_PID2"; } 2>/dev/null
			tb_forget "$CL_PID2"
		fi
		CL_PID2=""
	fi
	if [ -n "$pid" ]; then
		if ! pid_stop "$pid"; then
			note "$CL: did not exit within 10 s of SIGINT; killed"
			sleep 0.2
		fi
		# Never a wait that could block: what still runs is left to tb_down.
		if proc_alive "$pid"; then
			note "$CL: pid $pid still running after SIGKILL"
		else
			{ wait "$pid"; } 2>/dev/null
			tb_forget "$pid"
		fi
	fi
	CL_PID=""
	SLUICE_PID=""
	# sshuttle's firewall process removes its rules once it sees EOF.
	for ((i = 0; i < 50; i++)); do
		[ -z "$(inC nft list tables 2>/dev/null)$(ip netns pids "$NS_C")" ] && return 0
		sleep 0.1
	done
	left=$(inC nft list tables 2>/dev/null | tr '\n' ' ')
	if [ -n "$left" ]; then
		note "$CL: left nft tables behind after it stopped: $left(flushed)"
		inC nft flush ruleset
	fi
	left=$(ip netns pids "$NS_C" | tr '\n' ' ')
	if [ -n "$left" ]; then
		note "$CL: left processes behind in C: $left(killed)"
		# shellcheck disable=SC2086 # a list of pids
		kill -KILL $left 2>/dev/null
		sleep 0.2
	fi
}

# Before a row: a client that died or stopped answering is restarted.
cl_ensure() {
	if cl_alive && inC curl -sf --connect-timeout 2 --max-time 5 -o /dev/null "$URL"; then
		return 0
	fi
	if cl_alive; then
		note "$CL: not answering before \"$1\"; restarted"
	else
		note "$CL: not running before \"$1\"; restarted"
	fi
	cl_stop
	cl_start
	cl_ready && return 0
	note "$CL: restart failed: $(cl_log_tail)"
	return 1
}

# After a row: mark the cell when the client died during it.
cl_check() {
	cl_alive && return 0
	R[$CL.$1]="${R[$CL.$1]:-fail} died"
	note "$CL died during \"$1\": $(cl_log_tail 2)"
}

# --- the rows -----------------------------------------------------------------

# m_iperf ROW [ARGS]: iperf3 for 5 s (1 s of slow start left out); -R for a
# download. With -P, ROW"f" is the streams' fairness.
m_iperf() {
	local row=$1 out=$TB/bench/$CL.$1.json v
	shift
	timeout 30 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -O 1 -t 5 -J "$@" >"$out" 2>&1
	v=$(iperf_mbps <"$out")
	if [ -n "$v" ]; then
		R[$CL.$row]=$v
	else
		R[$CL.$row]=fail
		note "$CL $row: iperf3: $(iperf_error <"$out")"
	fi
	case " $* " in *" -P "*) R[$CL.${row}f]=$(iperf_fairness <"$out") ;; esac
}

# Every process's CPU ticks so far, "pid ticks" a line (utime + stime).
cpu_ticks() {
	local p s
	for p in /proc/[0-9]*; do
		read -r s <"$p/stat" 2>/dev/null || continue
		set -- ${s##*) }
		echo "${p#/proc/} $((${12} + ${13}))"
	done
}

# iperf3 paced at 2.5 Gbit/s ($2 is -R for a download): the CPU all processes
# used meanwhile (the tunnel's, both iperf3s, the kernel's work done for them),
# in % of one core. At one rate for all, it is the cost per byte, which the
# throughput rows cannot show once both cores are busy.
m_cpu_paced() {
	local row=$1 out=$TB/bench/$CL.$1.json ip t0 t1 v
	timeout 30 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -t 7 -b 2500M -J ${2:+"$2"} >"$out" 2>&1 &
	ip=$!
	sleep 2
	cpu_ticks | sort >"$TB/cpu0"
	t0=$(now_ms)
	sleep 4
	cpu_ticks | sort >"$TB/cpu1"
	t1=$(now_ms)
	wait $ip
	v=$(iperf_mbps <"$out")
	if [ -z "$v" ]; then
		R[$CL.$row]=fail
		note "$CL $row: iperf3: $(iperf_error <"$out")"
		return
	fi
	R[$CL.$row]="$(join "$TB/cpu0" "$TB/cpu1" | awk -v ms=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
		'{ d += $3 - $2 } END { printf "%.0f\n", d / hz / (ms / 1000) * 100 }') ($v)"
}

m_p99_idle() {
	local out=$TB/bench/$CL.p99i.txt v
	timeout 20 ip netns exec "$NS_C" wrk -c1 -t1 -d5s --latency "$URL" >"$out" 2>&1
	v=$(wrk_p99_ms "$out")
	R[$CL.p99i]=${v:-fail}
	if [ -n "$v" ]; then
		note "$CL p99 idle: wrk $(wrk_dist "$out")"
	else
		note "$CL p99 idle: $(tail -n 2 "$out" | tr '\n' ' ')"
	fi
}

# The same wrk while iperf3 -R saturates the same tunnel.
m_p99_loaded() {
	local out=$TB/bench/$CL.p99l.txt bout=$TB/bench/$CL.bulk.json bpid v b
	timeout 30 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -R -t 9 -J >"$bout" 2>&1 &
	bpid=$!
	sleep 2
	timeout 20 ip netns exec "$NS_C" wrk -c1 -t1 -d5s --latency "$URL" >"$out" 2>&1
	wait $bpid
	v=$(wrk_p99_ms "$out")
	b=$(iperf_mbps <"$bout")
	R[$CL.p99l]="${v:-fail} (${b:-fail})"
	if [ -n "$v" ]; then
		note "$CL p99 loaded: wrk $(wrk_dist "$out")"
	else
		note "$CL p99 loaded: $(tail -n 2 "$out" | tr '\n' ' ')"
	fi
	[ -n "$b" ] || note "$CL p99 loaded, bulk: iperf3: $(iperf_error <"$bout")"
}

# wrk_conns LABEL N LIMIT OUT [WRK ARGS]: wrk -t2 with N keep-alive
# connections, killed after LIMIT s. WRK_CELL is "req/s (e errors)", or
# fail; LABEL heads the note of what went wrong.
wrk_conns() {
	local label=$1 n=$2 limit=$3 out=$4 rc v e
	shift 4
	timeout "$limit" ip netns exec "$NS_C" wrk -c"$n" -t2 "$@" "$URL" >"$out" 2>&1
	rc=$?
	v=$(wrk_rps "$out")
	e=$(wrk_errors "$out")
	if [ -n "$v" ]; then
		WRK_CELL="$v (e $e)"
		[ "$e" = 0 ] || note "$label: $(wrk_error_lines "$out")"
	else
		WRK_CELL=fail
		note "$label: wrk exited $rc (124: still running after $limit s): $(tail -n 2 "$out" | tr '\n' ' ')"
	fi
}

# wrk with N keep-alive connections for 10 s.
m_conns() {
	wrk_conns "$CL $1" "$2" 60 "$TB/bench/$CL.$1.txt" -d10s
	R[$CL.$1]=$WRK_CELL
}

m_ab() {
	local out=$TB/bench/$CL.ab.txt rc v f
	timeout 90 ip netns exec "$NS_C" ab -q -r -s 10 -c 20 -n 20000 "$URL" >"$out" 2>&1
	rc=$?
	v=$(awk '/^Requests per second:/ { printf "%.0f\n", $4 }' "$out")
	f=$(awk '/^Failed requests:/ { print $3 }' "$out")
	if [ -n "$v" ]; then
		R[$CL.ab]="$v (f $f)"
		[ "${f:-0}" = 0 ] || note "$CL ab: $(grep -E '^(Complete|Failed) requests|Non-2xx|Exceptions' "$out" | tr -s ' ' | tr '\n' ';')"
	else
		R[$CL.ab]=fail
		note "$CL ab: exited $rc (124: over 90 s): $(tail -n 2 "$out" | tr '\n' ' ')"
	fi
}

# The connections nginx has established, at the lan end of the tunnel.
lan_conns() { inL ss -Htn state established "( sport = :$NGX_PORT )" | wc -l; }

IDLE_PID="" # idle_conns.py, between idle_open and idle_close
IDLE_OUT=""

# idle_open N OUT SETTLE: tests/bench/idle_conns.py opens N idle
# connections to nginx through the tunnel and holds them. Waits for its
# ready line (at most 40 s; its connect phase gives up after 30), then for
# the far ends at the lan server, as the proxy accepts before it connects:
# at most SETTLE s, and no more than 5 s without one more. Sets IDLE_OK,
# IDLE_FAIL, IDLE_SECS, IDLE_WHY (from the ready line) and IDLE_UP (at the
# lan server); returns 1 without a ready line. idle_close ends it either way.
idle_open() {
	local n=$1 out=$2 settle=$3 i last=-1 still=0
	IDLE_OUT=$out IDLE_OK=0 IDLE_FAIL=0 IDLE_SECS="" IDLE_WHY="" IDLE_UP=0
	ip netns exec "$NS_C" "$PY" "$BENCH_SRC/idle_conns.py" $L4 $NGX_PORT "$n" 120 </dev/null >"$out" 2>&1 &
	IDLE_PID=$!
	TB_PIDS="$TB_PIDS $IDLE_PID"
	for ((i = 0; i < 400; i++)); do
		grep -qs '^ready' "$out" && break
		proc_alive "$IDLE_PID" || break
		cl_alive || break
		sleep 0.1
	done
	grep -qs '^ready' "$out" || return 1
	read -r _ IDLE_OK IDLE_FAIL IDLE_SECS IDLE_WHY < <(grep '^ready' "$out")
	for ((i = 0; i < settle * 10; i++)); do
		IDLE_UP=$(lan_conns)
		[ "$IDLE_UP" -ge "$IDLE_OK" ] && break
		cl_alive || break
		if [ "$IDLE_UP" -gt "$last" ]; then
			last=$IDLE_UP still=0
		else
			still=$((still + 1))
			[ $still -ge 50 ] && break
		fi
		sleep 0.1
	done
	sleep 1
	IDLE_UP=$(lan_conns)
	return 0
}

# idle_close LABEL: ends idle_conns.py (SIGTERM, SIGKILL after 5 s), notes
# the held connections the far end closed, and waits (at most 10 s) for the
# lan server's connections to go, so that the next row starts without them.
idle_close() {
	local i d
	if [ -n "$IDLE_PID" ] && proc_alive "$IDLE_PID" && pid_in_ns "$IDLE_PID" "$NS_C"; then
		kill -TERM "$IDLE_PID" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			proc_alive "$IDLE_PID" || break
			sleep 0.1
		done
		proc_alive "$IDLE_PID" && kill -KILL "$IDLE_PID" 2>/dev/null
	fi
	if [ -n "$IDLE_PID" ]; then
		{ wait "$IDLE_PID"; } 2>/dev/null
		tb_forget "$IDLE_PID"
	fi
	IDLE_PID=""
	d=$(awk '/^dropped/ { print $2 }' "$IDLE_OUT")
	[ -n "$d" ] && [ "$d" != 0 ] && note "$1: $d of the held connections were closed by the far end"
	for ((i = 0; i < 100; i++)); do
		[ "$(lan_conns)" -lt 10 ] && break
		sleep 0.1
	done
}

# The whole client's memory in MiB PSS (tree_kib), the load generators
# given by pid left out: one function for the LAN and the long-path rows.
client_pss_mib() { mib "$(tree_kib "$@")"; }

# 10,000 idle connections held through the tunnel; the client's RSS then.
m_idle() {
	local n=10000 k
	if idle_open $n "$TB/bench/$CL.idle.txt" 10; then
		k=$(kib_of "$CL_PID")
		if [ -n "$k" ]; then
			R[$CL.rss10k]=$(mib "$k")
			R[$CL.rss10kt]=$(client_pss_mib "$IDLE_PID")
		else
			R[$CL.rss10k]=fail
		fi
		note "$CL 10k idle: $IDLE_OK connected in ${IDLE_SECS}s, $IDLE_FAIL failed${IDLE_WHY:+ ($IDLE_WHY)}; $IDLE_UP established at the lan server"
		[ "$IDLE_UP" -ge "$n" ] || R[$CL.rss10k]="${R[$CL.rss10k]} ($IDLE_UP up)"
	else
		R[$CL.rss10k]=fail
		note "$CL 10k idle: no ready line: $(tail -n 2 "$IDLE_OUT" | tr '\n' ' ')"
	fi
	idle_close "$CL 10k idle"
}

bench_tool() {
	local t0 t1 k
	CL=$1
	say "$CL: starting"
	t0=$(now_ms)
	cl_start
	if ! cl_ready; then
		note "$CL: did not come up: $(cl_log_tail 5)"
		cl_stop
		return 1
	fi
	t1=$(now_ms)
	R[$CL.ttfb]=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f\n", ms / 1000 }')
	sleep 1
	k=$(kib_of "$CL_PID")
	R[$CL.rss0]=$(mib "${k:-0}")
	R[$CL.rss0t]=$(client_pss_mib)

	cl_ensure download || return 1
	say "$CL: download"
	m_iperf dl -R
	cl_check dl
	cl_ensure upload || return 1
	say "$CL: upload"
	m_iperf ul
	cl_check ul
	cl_ensure "8 streams down" || return 1
	say "$CL: 8 streams down"
	m_iperf dl8 -R -P 8
	cl_check dl8
	cl_ensure "CPU at 2.5 Gbit/s" || return 1
	say "$CL: CPU at 2.5 Gbit/s, down and up"
	m_cpu_paced cpud -R
	cl_check cpud
	m_cpu_paced cpuu ""
	cl_check cpuu
	cl_ensure "p99 idle" || return 1
	say "$CL: p99 idle"
	m_p99_idle
	cl_check p99i
	cl_ensure "p99 loaded" || return 1
	say "$CL: p99 loaded"
	m_p99_loaded
	cl_check p99l
	cl_ensure "new conns/s" || return 1
	say "$CL: ab -c20 -n20000"
	m_ab
	cl_check ab
	cl_ensure "2k conns" || return 1
	say "$CL: wrk -c2000"
	m_conns c2k 2000
	cl_check c2k
	cl_ensure "10k conns" || return 1
	say "$CL: wrk -c10000"
	m_conns c10k 10000
	cl_check c10k

	# A fresh client: what the load rows left behind would blur the figure.
	say "$CL: restarting; 10,000 idle connections"
	cl_stop
	cl_start
	if cl_ready; then
		m_idle
		cl_check rss10k
	else
		note "$CL: restart for the idle connections failed: $(cl_log_tail)"
	fi
	say "$CL: stopping"
	cl_stop
}

# The raw channel: 1 GiB each way through plain ssh, wall clock (the ssh
# handshake included; its time alone is noted). bench_raw KEY [ssh options].
bench_raw() {
	local key=$1 t0 t1 hs
	shift
	local ssh=(ssh -F "$TB/ssh_config" "$@" sshhost)
	say "raw ssh ($key): handshake, download, upload"
	t0=$(now_ms)
	timeout 20 ip netns exec "$NS_C" "${ssh[@]}" true </dev/null
	t1=$(now_ms)
	hs=$((t1 - t0))
	t0=$(now_ms)
	if timeout 60 ip netns exec "$NS_C" "${ssh[@]}" 'head -c 1G /dev/zero' </dev/null >/dev/null 2>"$TB/bench/$key.dl"; then
		t1=$(now_ms)
		R[$key.dl]=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f\n", 8 * 1073741824 / (ms / 1000) / 1e6 }')
	else
		R[$key.dl]=fail
		note "$key download: $(head -c 200 "$TB/bench/$key.dl")"
	fi
	t0=$(now_ms)
	if head -c 1G /dev/zero | timeout 60 ip netns exec "$NS_C" "${ssh[@]}" 'cat >/dev/null' >"$TB/bench/$key.ul" 2>&1; then
		t1=$(now_ms)
		R[$key.ul]=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f\n", 8 * 1073741824 / (ms / 1000) / 1e6 }')
	else
		R[$key.ul]=fail
		note "$key upload: $(head -c 200 "$TB/bench/$key.ul")"
	fi
	note "$key: OpenSSH client ${*:-(default cipher and MAC)}, 1 GiB each way, wall clock including the handshake (${hs} ms alone)"
}

# --- the table ----------------------------------------------------------------

# The ratio of two cells' leading numbers, or "-".
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+/ || b !~ /^[0-9.]+/) { print "-"; exit }
		a += 0; b += 0
		if (b == 0) { print "-"; exit }
		printf "%.2fx\n", a / b
	}'
}

# A tool that ran but has no figure for a row failed before it (see the notes).
cell() {
	case " $BENCH_TOOLS " in
	*" $1 "*) echo "${R[$1.$2]:-fail}" ;;
	*) echo - ;;
	esac
}

# The columns: each tool, the two raw channels, then the ratios the targets name.
COLS=(sluice sluice-e sluice-d sshd sshuttle raw rawd)
HEADS=(sluice "sluice -e" "-e --direct" "ssh -D+rdsks" sshuttle "raw ctr" "raw dflt")

# The best of sluice's ways for a row (higher, or lower for ms/MiB/s).
best() {
	awk -v low="$2" 'BEGIN {
		for (i = 3; i < ARGC; i++) {
			v = ARGV[i]
			if (v !~ /^[0-9.]+/) continue
			if (b == "" || (low ? v + 0 < b + 0 : v + 0 > b + 0)) b = v
		}
		print (b == "" ? ARGV[3] : b)
	}' "$1" "$2" "$(cell sluice "$1")" "$(cell sluice-e "$1")" "$(cell sluice-d "$1")"
}

row() { # label key [low: 1 when lower is better, - for no ratios]
	local c v out=() i
	for c in "${COLS[@]}"; do
		case $c in
		raw | rawd) v=${R[$c.$2]:--} ;;
		*) v=$(cell "$c" "$2") ;;
		esac
		out+=("$v")
	done
	printf '%-30s' "$1"
	for ((i = 0; i < ${#out[@]}; i++)); do printf ' %-13s' "${out[$i]}"; done
	if [ "${3:-}" = - ]; then
		printf ' %-9s %-9s %-9s %s\n' - - - -
		return
	fi
	printf ' %-9s %-9s %-9s %s\n' "$(ratio "${out[0]}" "${out[4]}")" "$(ratio "${out[0]}" "${out[5]}")" \
		"$(ratio "${out[1]}" "${out[6]}")" "$(ratio "$(best "$2" "${3:-0}")" "${out[3]}")"
}

print_table() {
	local n h
	echo
	printf '%-30s' figure
	for h in "${HEADS[@]}"; do printf ' %-13s' "$h"; done
	printf ' %-9s %-9s %-9s %s\n' "sl/sshtl" "sl/raw" "-e/rawd" "best/ssh-D"
	row "download Mbit/s" dl
	row "upload Mbit/s" ul
	row "8 streams down Mbit/s" dl8
	row "  fairness (slowest-fastest)" dl8f -
	row "CPU % at 2.5G down (Mbit/s)" cpud 1
	row "CPU % at 2.5G up (Mbit/s)" cpuu 1
	row "p99 idle ms" p99i 1
	row "p99 loaded ms (bulk Mbit/s)" p99l 1
	row "2k conns req/s (errors)" c2k
	row "10k conns req/s (errors)" c10k
	row "new conns/s (ab -c20) (failed)" ab
	row "RSS idle MiB" rss0 1
	row "RSS at 10k idle conns MiB" rss10k 1
	row "  whole client, idle MiB PSS" rss0t 1
	row "  whole client, 10k MiB PSS" rss10kt 1
	row "start to first byte s" ttfb 1
	echo
	echo "columns: sluice = its own libssh2 transport; sluice -e = -e 'ssh' (OpenSSH, default cipher);"
	echo "  -e --direct = the same with --direct (ssh relays each connection in a channel of its own);"
	echo "  ssh -D+rdsks = ssh -D with redsocks; raw ctr / raw dflt = the OpenSSH channel alone"
	echo "CPU %: every process's CPU time while iperf3 ran paced at 2.5 Gbit/s, in % of one core (lower is"
	echo "  better; a tool that cannot reach the pace shows the rate it reached)"
	echo "fairness: Jain's index over the 8 streams' receiver rates (1 = equal shares), and the slowest"
	echo "  and fastest stream's Mbit/s"
	echo "ratios: the first named divided by the second (for ms, MiB and s lower is better); best = the"
	echo "  best of sluice's three ways for that row"
	echo "notes:"
	for n in "${NOTES[@]}"; do
		echo "  - $n"
	done
}

# The long-path and keystroke-echo rows.
. "$BENCH_SRC/wan.sh"

# bench_rows NAME: NAME is in BENCH_ROWS (spaces or commas).
bench_rows() {
	case " ${BENCH_ROWS//,/ } " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

# --- main ---------------------------------------------------------------------

bench_main() {
	[ "$(id -u)" = 0 ] || {
		echo "bench: needs root (network namespaces, nftables)" >&2
		exit 1
	}
	[ -x "$SLUICE" ] || {
		echo "bench: $SLUICE not built (run make)" >&2
		exit 1
	}
	bench_deps || {
		echo "bench: could not install nginx, wrk, apache2-utils, iperf3, sshuttle, redsocks" >&2
		bench_cleanup
		exit 1
	}

	# 10,000 connections need more descriptors than the default 1024 everywhere:
	# sshd (and so the remote helper) inherits this shell's limits.
	# Raising the hard limit needs CAP_SYS_RESOURCE, which a container may lack.
	ulimit -Hn 1048576 2>/dev/null
	NOFILE=$(ulimit -Hn)
	[ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ] && NOFILE=65536
	ulimit -Sn "$NOFILE"
	[ "$NOFILE" -ge 10100 ] ||
		note "the descriptor limit is $NOFILE: the 10k connection rows cannot reach 10,000"

	cat <<-EOF
	sluice bench, $(date -u '+%Y-%m-%d %H:%M:%S UTC')
	machine: $(nproc) cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)
	versions: sluice $("$SLUICE" -V 2>&1 | head -n 1), sshuttle $(/usr/bin/sshuttle -V 2>&1), $(ssh -V 2>&1), libssh2 $(dpkg-query -W -f='${Version}' libssh2-1 2>/dev/null)
	fd limit: $NOFILE; testbed: client ns -> ssh host ns (sshd, IP forwarding off) -> lan ns (nginx :$NGX_PORT, iperf3); one tunnel at a time
	EOF

	TB_SSHD_LOGLEVEL=${TB_SSHD_LOGLEVEL:-INFO}
	tb_up
	trap bench_cleanup EXIT
	bench_sysctl || tb_die "sysctl in the namespaces failed"
	bench_nginx || tb_die "nginx or iperf3 did not start in the lan namespace"

	BENCH_T0=$SECONDS
	if bench_rows lan; then
		bench_raw raw "${RAW_CIPHER[@]}"
		bench_raw rawd
		for t in $BENCH_TOOLS; do
			bench_tool "$t" || cl_stop
		done
		note "sshuttle runs with its defaults (system ssh: -F testbed config, default cipher) but --method nft, given; its own pick is nat"
		note "ssh -D + redsocks: ssh -F testbed config (default cipher) -N -D, redsocks 'redirector = iptables', an nft redirect of $SUBNET"
		note "wrk: 2 threads, 10 s, default 2 s timeout; errors = socket errors + non-2xx; ab: HTTP/1.0, no keep-alive"
		note "bench took $((SECONDS - BENCH_T0)) s after the testbed came up"
		print_table
	fi
	if bench_rows udp; then
		bench_udp
		udp_print_table
	fi
	bench_rows wan && wan_main
	bench_rows echo && echo_main
	echo "bench: $((SECONDS - BENCH_T0)) s after the testbed came up"
	# The raw outputs of the last run, for a second look.
	rm -rf "$ROOT/build/bench" && mkdir -p "$ROOT/build/bench" &&
		cp "$TB"/bench/*.txt "$TB"/bench/*.json "$TB"/sluice.*.log "$TB"/sshuttle.*.log "$TB"/sshd.*.log \
			"$ROOT/build/bench/" 2>/dev/null
	echo "raw outputs: build/bench/"
	bench_cleanup
}

# Sourced (to reuse the functions above in a one-off experiment), it runs nothing.
[ "${BASH_SOURCE[0]}" != "$0" ] || bench_main "$@"
