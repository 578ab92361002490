# shellcheck shell=bash
# wan.sh: the long-path and keystroke-echo rows of make bench, sourced by
# tests/bench.sh (it uses that file's clients, parsers and notes).
#
# Long path ("wan"): the delay line (tests/tools/delayline.c, started by
# tb_delayline_start in tests/e2e/lib.sh) sits between the client namespace
# and sshd and holds every byte half the round trip each way; the client
# namespace reaches sshd, and only sshd, through it. For each RTT in
# BENCH_RTTS and each way in BENCH_TOOLS: start to the first answered
# request, one iperf3 stream down and up, eight streams down and up and the
# fairness between those eight (Jain's index over their receiver rates,
# with the slowest and fastest), the round trips a new connection through
# the tunnel takes before its first byte (curl's time to first byte less its
# connect, the median of five, in RTTs), wrk -c1's p99 while iperf3 -R runs
# through the same tunnel, and last, on the same client, 10,000 idle
# connections held through the tunnel: wrk's requests/s and errors beside
# them and the whole client's PSS with them held and just before. The
# raw OpenSSH channel (default cipher, as -e and ssh -D use) moves zeros
# each way, counted for 5 s after the first second.
#
# Keystroke echo ("echo"): an sshd on the lan host; `ssh lanhost cat`
# through the tunnel, one line every 20 ms on a fixed clock
# (tests/bench/echo.py), echo time per line, p50 and p99, idle and while
# iperf3 -R runs through the same tunnel; and that download's speed with
# and without the echo beside it. For each RTT in BENCH_ECHO_RTTS (0: no
# delay line, the testbed as the other rows see it).
#
# Knobs: BENCH_RTTS="30 100", BENCH_ECHO_RTTS="0 30", ECHO_SECONDS=5,
# BENCH_RATE_MBIT (a rate on the delay line, each way; default none).

BENCH_RTTS=${BENCH_RTTS:-30 100}
BENCH_ECHO_RTTS=${BENCH_ECHO_RTTS:-0 30}
ECHO_SECONDS=${ECHO_SECONDS:-5}
BENCH_RATE_MBIT=${BENCH_RATE_MBIT:-}
WAN_WRK_CONNS=100 # wrk's connections beside the 10,000 idle ones
ECHO_INTERVAL_MS=20

declare -A W # W[rtt.tool.col]: a cell of the long-path and echo tables
WRTT=0       # the round trip the rows now run at

# One readable name per way, for the tables.
way_name() {
	case $1 in
	raw) echo "raw OpenSSH channel" ;;
	sluice) echo "sluice" ;;
	sluice-e) echo "sluice -e ssh" ;;
	sluice-d) echo "sluice -e ssh --direct" ;;
	sshd) echo "ssh -D + redsocks" ;;
	sshuttle) echo "sshuttle" ;;
	*) echo "$1" ;;
	esac
}

# wan_path RTT: the delay line at RTT (0: none).
wan_path() {
	WRTT=$1
	if [ "$1" = 0 ]; then
		tb_delayline_stop
		return 0
	fi
	tb_delayline_start "$1" "$BENCH_RATE_MBIT" && return 0
	note "the delay line did not start at $1 ms: $(tail -n 2 "$TB/delayline4.log" | tr '\n' ' ')"
	return 1
}

# After a row: mark the cell when the client died during it.
wan_check() {
	cl_alive && return 0
	W[$WRTT.$CL.$1]="${W[$WRTT.$CL.$1]:-fail} died"
	note "$CL died during \"$1\" at $WRTT ms: $(cl_log_tail 2)"
}

# wan_iperf COL ARGS...: iperf3 for 5 s after 1 s of ramp, Mbit/s at the receiver.
wan_iperf() {
	local col=$1 out=$TB/bench/w$WRTT.$CL.$1.json v
	shift
	timeout 40 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -O 1 -t 5 -J "$@" >"$out" 2>&1
	v=$(iperf_mbps <"$out")
	W[$WRTT.$CL.$col]=${v:-fail}
	[ -n "$v" ] || note "$CL $col at $WRTT ms: iperf3: $(iperf_error <"$out")"
	case " $* " in *" -P "*) W[$WRTT.$CL.${col}f]=$(iperf_fairness <"$out") ;; esac
}

# A new connection's request to its first byte, in round trips: the median of five.
wan_newconn() {
	local i out=$TB/bench/w$WRTT.$CL.nc.txt v
	: >"$out"
	for ((i = 0; i < 5; i++)); do
		inC curl -s -o /dev/null --max-time 10 -w '%{time_connect} %{time_starttransfer}\n' "$URL" >>"$out"
	done
	v=$(awk '$2 > 0 { printf "%.1f\n", ($2 - $1) * 1000 }' "$out" | sort -n |
		awk -v rtt="$WRTT" '{ d[n++] = $1 } END { if (n >= 3) printf "%.1f (%.0f ms)\n", d[int(n / 2)] / rtt, d[int(n / 2)] }')
	W[$WRTT.$CL.nc]=${v:-fail}
	[ -n "$v" ] || note "$CL new connections at $WRTT ms: $(tr '\n' ' ' <"$out")"
}

# wrk -c1 (timeout 10 s: a long path's queue may hold a request past wrk's 2 s) during iperf3 -R.
wan_p99_loaded() {
	local out=$TB/bench/w$WRTT.$CL.p99l.txt bout=$TB/bench/w$WRTT.$CL.bulk.json bpid v b
	timeout 40 ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -R -t 9 -J >"$bout" 2>&1 &
	bpid=$!
	sleep 2
	timeout 30 ip netns exec "$NS_C" wrk -c1 -t1 -d5s --timeout 10s --latency "$URL" >"$out" 2>&1
	wait $bpid
	v=$(wrk_p99_ms "$out")
	b=$(iperf_mbps <"$bout")
	W[$WRTT.$CL.p99l]="${v:-fail} (${b:-fail})"
	if [ -n "$v" ]; then
		note "$CL p99 loaded at $WRTT ms: wrk $(wrk_dist "$out")"
	else
		note "$CL p99 loaded at $WRTT ms: $(tail -n 2 "$out" | tr '\n' ' ')"
	fi
}

# 10,000 idle connections held through the tunnel over the path (bench.sh's
# idle_open: every wait bounded, so a tool that cannot open them all shows
# how many it did, or fail): the whole client's PSS with them held (and just
# before they opened), and wrk's requests/s beside them, WAN_WRK_CONNS
# keep-alive connections for 5 s (timeout 10 s, as wan_p99_loaded).
wan_idle10k() {
	local n=10000 k=$WRTT.$CL p0 t0=$SECONDS
	p0=$(client_pss_mib)
	if idle_open $n "$TB/bench/w$WRTT.$CL.idle.txt" 30; then
		W[$k.i10km]="$(client_pss_mib "$IDLE_PID") ($p0)"
		[ "$IDLE_UP" -ge "$n" ] || W[$k.i10km]="${W[$k.i10km]} $IDLE_UP up"
		note "$CL 10k idle at $WRTT ms: $IDLE_OK connected in ${IDLE_SECS}s, $IDLE_FAIL failed${IDLE_WHY:+ ($IDLE_WHY)}; $IDLE_UP established at the lan server"
		if cl_alive; then
			wrk_conns "$CL 10k idle at $WRTT ms, wrk" "$WAN_WRK_CONNS" 20 "$TB/bench/w$WRTT.$CL.i10k.txt" \
				-d5s --timeout 10s
			W[$k.i10k]=$WRK_CELL
		fi
	else
		W[$k.i10k]=fail
		W[$k.i10km]=fail
		note "$CL 10k idle at $WRTT ms: no ready line within 40 s: $(tail -n 2 "$IDLE_OUT" | tr '\n' ' ')"
	fi
	idle_close "$CL 10k idle at $WRTT ms"
	note "$CL 10k idle at $WRTT ms: the row took $((SECONDS - t0)) s"
}

# sluice (its own transport, and -e when the config names no master of the
# user's) opens its further lanes after ready, once it has measured the
# path (lane 0 keeps interactive sessions, the others the rest): the rows
# wait for them (at most 20 s), as a user's transfer a few seconds in would
# find them, and the notes say how many. A tunnel whose number is fixed
# keeps one lane: 10 s without more ends the wait.
wan_lanes_settle() {
	local st i n=1 up=1 inter=0
	for ((i = 0; i < 40; i++)); do
		# (sluice_lanes, tests/e2e/lib.sh: the way's pid is SLUICE_PID)
		st=$(sluice_lanes up interactive | awk '{ n++; up += $1; i += $2 } END { print n + 0, up + 0, i + 0 }')
		read -r n up inter <<<"$st"
		[ "$n" -ge 1 ] || { n=1 up=1 inter=0; }
		if [ "$n" -ge 2 ]; then
			[ "$up" -ge "$n" ] && break
		elif [ $i -ge 20 ]; then
			break
		fi
		sleep 0.5
	done
	note "$CL at $WRTT ms: $up lane(s) up of $n, $inter of them for interactive sessions, when the rows began"
}

wan_tool() {
	local t0 t1
	CL=$1
	say "$CL at $WRTT ms: starting"
	t0=$(now_ms)
	cl_start
	if ! cl_ready; then
		note "$CL at $WRTT ms: did not come up: $(cl_log_tail 5)"
		cl_stop
		return 1
	fi
	t1=$(now_ms)
	W[$WRTT.$CL.start]=$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f\n", ms / 1000 }')
	# -e decides its lanes from the path too, when the config names no master of the user's.
	case $CL in sluice | sluice-e) wan_lanes_settle ;; esac
	cl_ensure "download at $WRTT ms" || return 1
	say "$CL at $WRTT ms: download, upload, 8 streams each way"
	wan_iperf dl -R
	wan_check dl
	cl_ensure "upload at $WRTT ms" || return 1
	wan_iperf ul
	wan_check ul
	cl_ensure "8 streams down at $WRTT ms" || return 1
	wan_iperf dl8 -R -P 8
	wan_check dl8
	cl_ensure "8 streams up at $WRTT ms" || return 1
	wan_iperf ul8 -P 8
	wan_check ul8
	cl_ensure "new connections at $WRTT ms" || return 1
	say "$CL at $WRTT ms: new connections, p99 loaded"
	wan_newconn
	wan_check nc
	cl_ensure "p99 loaded at $WRTT ms" || return 1
	wan_p99_loaded
	wan_check p99l
	cl_ensure "10k idle connections at $WRTT ms" || return 1
	say "$CL at $WRTT ms: 10,000 idle connections"
	wan_idle10k
	wan_check i10k
	cl_stop
}

# The raw channel: zeros through plain ssh, counted at the receiving end
# (rate.py; on the ssh host for the upload, from TB, which its user can read).
wan_raw() {
	local v
	cp "$BENCH_SRC/rate.py" "$TB/rate.py" && chmod 644 "$TB/rate.py"
	say "raw OpenSSH channel at $WRTT ms"
	v=$(timeout 40 ip netns exec "$NS_C" ssh -F "$TB/ssh_config" sshhost 'head -c 64G /dev/zero' \
		</dev/null 2>"$TB/bench/w$WRTT.raw.dl.err" | "$PY" "$BENCH_SRC/rate.py" 1 5)
	case $v in
	[0-9]*) W[$WRTT.raw.dl]=$v ;;
	*)
		W[$WRTT.raw.dl]=fail
		note "raw download at $WRTT ms: $v $(head -c 200 "$TB/bench/w$WRTT.raw.dl.err")"
		;;
	esac
	v=$(head -c 64G /dev/zero | timeout 40 ip netns exec "$NS_C" ssh -F "$TB/ssh_config" sshhost \
		"python3 $TB/rate.py 1 5" 2>"$TB/bench/w$WRTT.raw.ul.err")
	case $v in
	[0-9]*) W[$WRTT.raw.ul]=$v ;;
	*)
		W[$WRTT.raw.ul]=fail
		note "raw upload at $WRTT ms: $v $(head -c 200 "$TB/bench/w$WRTT.raw.ul.err")"
		;;
	esac
}

# A cell: its figure, "-" for a way or row not run, "fail" for one that ran without one.
wcell() {
	local k=$1.$2.$3
	if [ -n "${W[$k]:-}" ]; then
		echo "${W[$k]}"
	elif [ "$2" = raw ]; then
		case $3 in dl | ul) echo fail ;; *) echo - ;; esac
	else
		case " $BENCH_TOOLS " in *" $2 "*) echo fail ;; *) echo - ;; esac
	fi
}

# The leading number of a cell, or nothing.
lead() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+/) print v + 0 }'; }

# sluice's own transport against the better of ssh -D + redsocks and --direct, for a column.
wan_ratio() {
	local s a b
	s=$(lead "$(wcell "$1" sluice "$2")")
	a=$(lead "$(wcell "$1" sshd "$2")")
	b=$(lead "$(wcell "$1" sluice-d "$2")")
	awk -v s="$s" -v a="$a" -v b="$b" 'BEGIN {
		m = (a != "" && (b == "" || a + 0 > b + 0)) ? a : b
		if (s == "" || m == "" || m + 0 == 0) print "-"; else printf "%.2fx\n", s / m
	}'
}

wan_table() {
	local rtt t
	echo
	echo "long path: the delay line between client and sshd${BENCH_RATE_MBIT:+, $BENCH_RATE_MBIT Mbit/s each way}; Mbit/s but where said"
	local f='%-6s %-24s %-9s %-9s %-9s %-9s %-15s %-15s %-15s %-8s %-21s %-16s %s\n'
	# shellcheck disable=SC2059 # one format for the head and the rows
	printf "$f" RTT way download upload "8 down" "8 up" "fair 8 down" "fair 8 up" \
		"new conn RTTs" "start s" "p99 loaded ms (bulk)" "10k idle: req/s" "PSS MiB (before)"
	for rtt in $BENCH_RTTS; do
		for t in raw $BENCH_TOOLS; do
			# shellcheck disable=SC2059
			printf "$f" "$rtt ms" "$(way_name "$t")" \
				"$(wcell "$rtt" "$t" dl)" "$(wcell "$rtt" "$t" ul)" "$(wcell "$rtt" "$t" dl8)" \
				"$(wcell "$rtt" "$t" ul8)" "$(wcell "$rtt" "$t" dl8f)" "$(wcell "$rtt" "$t" ul8f)" \
				"$(wcell "$rtt" "$t" nc)" "$(wcell "$rtt" "$t" start)" \
				"$(wcell "$rtt" "$t" p99l)" "$(wcell "$rtt" "$t" i10k)" "$(wcell "$rtt" "$t" i10km)"
		done
		printf '%-6s %-24s %-9s %-9s %-9s %-9s\n' "$rtt ms" "sluice/best(-D,--direct)" \
			"$(wan_ratio "$rtt" dl)" "$(wan_ratio "$rtt" ul)" "$(wan_ratio "$rtt" dl8)" "$(wan_ratio "$rtt" ul8)"
	done
}

# --- keystroke echo -------------------------------------------------------------

# An sshd on the lan host, for the user of the ssh host (its own /etc/netns
# files), on L4:22 with the ssh host's keys; TB/ssh_config_lan names it "lanhost".
echo_lan_sshd() {
	mkdir -p -m 755 "/etc/netns/$NS_L" &&
		cp -p "/etc/netns/$NS_S/passwd" "/etc/netns/$NS_S/group" "/etc/netns/$NS_S/shadow" \
			"/etc/netns/$NS_L/" || return 1
	grep -v -e '^ListenAddress ' -e '^PidFile ' "$TB/sshd_config" >"$TB/sshd_lan_config"
	printf 'ListenAddress %s:22\nPidFile %s/sshd_lan.pid\n' $L4 "$TB" >>"$TB/sshd_lan_config"
	ip netns exec "$NS_L" sh -c 'mount -t tmpfs -o mode=0755,size=1m sluice-e2e /run &&
		mkdir /run/sshd && /usr/sbin/sshd -t -f "$1" && exec /usr/sbin/sshd -D -f "$1" -E "$2"' \
		sh "$TB/sshd_lan_config" "$TB/sshd_lan.log" </dev/null >"$TB/sshd_lan.start.log" 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	wait_port "$NS_L" 22 || return 1
	printf '%s %s\n' $L4 "$(cut -d' ' -f1,2 "$TB/ssh_host_ed25519_key.pub")" >"$TB/known_hosts_lan"
	{
		printf 'Host lanhost\n\tHostName %s\n\tIdentityFile %s/id_ed25519\n' $L4 "$TB"
		tb_ssh_defaults "$TB/known_hosts_lan"
	} >"$TB/ssh_config_lan"
}

# echo_run OUT: echo.py for ECHO_SECONDS through ssh lanhost cat; ECHO_READY passes
# through. Each line's send time and echo time go to OUT with .txt as .samples.txt.
echo_run() {
	ECHO_SAMPLES=${1%.txt}.samples.txt timeout $((ECHO_SECONDS + 70)) "$PY" "$BENCH_SRC/echo.py" "$ECHO_SECONDS" $ECHO_INTERVAL_MS \
		ip netns exec "$NS_C" ssh -F "$TB/ssh_config_lan" lanhost cat >"$1" 2>&1
}

# "p50/p99" of echo.py's line in FILE, or nothing; lost lines noted.
echo_cell() {
	awk '$1 == "n" && $3 == "p50" { printf "%s/%s%s\n", $4, $6, ($10 > 0 ? " lost " $10 : "") }' "$1"
}

# iperf3 -R for ECHO_SECONDS + 1 s after 1 s of ramp (the echo's window), Mbit/s.
echo_bulk() { timeout $((ECHO_SECONDS + 40)) ip netns exec "$NS_C" iperf3 -c $L4 -p 5201 -R -O 1 \
	-t $((ECHO_SECONDS + 1)) -J >"$1" 2>&1; }

echo_tool() {
	local k=$WRTT.$1 b=$TB/bench/e$WRTT.$1 epid bpid v i
	CL=$1
	say "$CL at $WRTT ms: keystroke echo, idle and under a download"
	cl_start
	if ! cl_ready; then
		note "$CL at $WRTT ms: did not come up for the echo: $(cl_log_tail 5)"
		cl_stop
		return 1
	fi
	# (on a LAN the echo's own login opens sluice's second lane, for the download)
	case $CL in sluice | sluice-e) [ "$WRTT" != 0 ] && wan_lanes_settle ;; esac
	echo_run "$b.idle.txt"
	W[$k.eidle]=$(echo_cell "$b.idle.txt")
	[ -n "${W[$k.eidle]}" ] || note "$CL echo idle at $WRTT ms: $(head -c 200 "$b.idle.txt")"

	cl_ensure "download alone at $WRTT ms" || return 1
	echo_bulk "$b.bulk0.json"
	W[$k.bulk0]=$(iperf_mbps <"$b.bulk0.json")
	[ -n "${W[$k.bulk0]}" ] || note "$CL download alone at $WRTT ms: $(iperf_error <"$b.bulk0.json")"

	# The echo logs in first; the download starts then, and the lines a second later.
	cl_ensure "echo under a download at $WRTT ms" || return 1
	rm -f "$b.ready" "$b.ready.go"
	ECHO_READY=$b.ready echo_run "$b.bulk.txt" &
	epid=$!
	for ((i = 0; i < 300; i++)); do
		[ -e "$b.ready" ] && break
		proc_alive $epid || break
		sleep 0.1
	done
	echo_bulk "$b.bulk1.json" &
	bpid=$!
	sleep 1
	touch "$b.ready.go"
	wait $epid
	wait $bpid
	W[$k.ebulk]=$(echo_cell "$b.bulk.txt")
	[ -n "${W[$k.ebulk]}" ] || note "$CL echo under a download at $WRTT ms: $(head -c 200 "$b.bulk.txt")"
	v=$(iperf_mbps <"$b.bulk1.json")
	W[$k.bulk1]=$v
	[ -n "$v" ] || note "$CL download beside the echo at $WRTT ms: $(iperf_error <"$b.bulk1.json")"
	if [ -n "$v" ] && [ -n "${W[$k.bulk0]}" ]; then
		W[$k.bulk1]="$v ($(awk -v a="$v" -v b="${W[$k.bulk0]}" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'))"
	fi
	cl_stop
}

echo_table() {
	local rtt t
	echo
	echo "keystroke echo: ssh lanhost cat through the tunnel, a line every $ECHO_INTERVAL_MS ms for $ECHO_SECONDS s; ms p50/p99"
	printf '%-34s' figure
	for t in $BENCH_TOOLS; do printf ' %-16s' "$(way_name "$t" | sed 's/sluice -e ssh/-e ssh/')"; done
	echo
	for rtt in $BENCH_ECHO_RTTS; do
		for r in "eidle:idle p50/p99" "ebulk:under a download p50/p99" "bulk0:download alone Mbit/s" \
			"bulk1:download beside echo (ratio)"; do
			printf '%-34s' "$rtt ms: ${r#*:}"
			for t in $BENCH_TOOLS; do printf ' %-16s' "$(wcell "$rtt" "$t" "${r%%:*}")"; done
			echo
		done
	done
}

# --- the sections ----------------------------------------------------------------

wan_main() {
	local rtt t
	NOTES=()
	for rtt in $BENCH_RTTS; do
		wan_path "$rtt" || continue
		wan_raw
		for t in $BENCH_TOOLS; do
			wan_tool "$t" || cl_stop
		done
	done
	wan_path 0
	wan_table
	note "the delay line's TCP handshake is local; it connects to sshd 1.5 round trips after it accepts, so a first answer takes two"
	note "fair 8 down and up: Jain's index over the 8 streams' receiver rates (1 = equal shares), slowest-fastest stream Mbit/s"
	note "10k idle: 10,000 idle connections held through the tunnel; req/s (errors) of wrk -c$WAN_WRK_CONNS -d5s beside them; the whole client's PSS with them held (before they opened)"
	note "8 streams: iperf3 -P 8; new conn: curl's time to first byte less its connect, median of 5, in round trips"
	print_notes
}

echo_main() {
	local rtt t
	NOTES=()
	if ! echo_lan_sshd; then
		echo "bench: the lan host's sshd did not start: $(tail -n 3 "$TB/sshd_lan.start.log" "$TB/sshd_lan.log" 2>/dev/null | tr '\n' ' ')" >&2
		return 1
	fi
	for rtt in $BENCH_ECHO_RTTS; do
		wan_path "$rtt" || continue
		for t in $BENCH_TOOLS; do
			echo_tool "$t" || cl_stop
		done
	done
	wan_path 0
	echo_table
	note "echo: each line's time from its write to ssh's stdin to its echo on ssh's stdout; lines on a fixed clock"
	note "download: iperf3 -R for $((ECHO_SECONDS + 1)) s after 1 s of ramp; the echo runs from its start to its end"
	print_notes
}

print_notes() {
	local n
	echo "notes:"
	for n in "${NOTES[@]}"; do
		echo "  - $n"
	done
}
