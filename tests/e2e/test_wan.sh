#!/bin/bash
# test_wan: sluice over a long path. The delay line (tests/tools/delayline.c)
# sits between the client and sshd and holds every byte half the round trip
# each way (TB_RTT_MS, 100 ms unless given). First the path itself is
# checked (an ssh banner takes two round trips, a login several), then for
# each way of running sluice: it comes up with its own server inside what
# it routes (0/0), its session crosses the delay line, a request through
# the tunnel takes at least a round trip, and the traffic checks of every
# tunnel suite (64 MiB down and 20 MB up by sha256, half-close, resets)
# pass, plus eight parallel downloads. With lanes (the default on a long
# path, 8 at 100 ms, for -e too when its config names no ControlMaster of
# the user's, as the testbed's does not; -e with --lanes 3) all come up, each
# further one a worker process of sluice's that is gone after it, and the
# parallel downloads use each but lane 0, which a path that decides keeps
# for interactive sessions (with --lanes lane 0 takes them too); the own
# transport's lanes are seen opening side by side while a download on lane
# 0 keeps moving, and run their streams in their workers (the parallel
# downloads' connections are seen there). A download that starts with the
# session and never pauses does not keep the path undecided: the lanes open
# while it runs, and it arrives intact. Speed is never asserted.
#
# A new way of running sluice over the long path is one more wan_way line
# at the bottom.
TB_SUITE=wan
TB_RTT_MS=${TB_RTT_MS:-100}
. "$(dirname "$0")/lib.sh"
need_sluice
[ "$TB_RTT_MS" -gt 0 ] 2>/dev/null || tb_die "TB_RTT_MS must be a whole number of ms above 0, not '$TB_RTT_MS'"
tb_up

RTT=$TB_RTT_MS
BIG_SHA=$(tb_make_file big.bin $((64 << 20))) || tb_die "cannot write big.bin"
mkdir "$TB/sha" || tb_die "mkdir failed"
for ((i = 0; i < 8; i++)); do
	tb_make_file "p$i.bin" $(((8 << 20) + i * 4099)) >"$TB/sha/p$i" || tb_die "cannot write p$i.bin"
done

# probe_ms MODE HOST PORT: from C, ms until a TCP peer's first line (MODE
# banner), or for two one-byte echoes on one connection (MODE echo: "first
# second"; the first includes the connection's opening).
probe_ms() {
	inC timeout 20 "$PY" -c '
import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=15)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
if mode == "banner":
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(256)
        if not d:
            sys.exit("closed after %r" % b)
        b += d
    out.append(time.monotonic() - t0)
else:
    for i in range(2):
        s.sendall(b"x")
        if s.recv(16) != b"x":
            sys.exit("no echo")
        out.append(time.monotonic() - t0)
        t0 = time.monotonic()
print(" ".join("%.0f" % (t * 1000) for t in out))' "$@" 2>&1
}

# at_least NAME MS MIN WHAT: MS is a number and at least MIN.
at_least() {
	if [ -n "$2" ] && [ "$2" -eq "$2" ] 2>/dev/null && [ "$2" -ge "$3" ]; then
		pass "$1"
	else
		fail "$1" "$4: '$2' ms, want at least $3 ms"
	fi
}

# --- the path ------------------------------------------------------------------

# The handshake with the delay line is local, but it reaches sshd only 1.5
# round trips later, as a real server's accept: the banner comes after two.
ms=$(probe_ms banner $S4 $DL_PORT)
echo "# ssh banner over the delay line: $ms ms; straight: $(probe_ms banner $S4 22) ms"
at_least path_banner_two_rtt "$ms" $((2 * RTT)) "ssh banner over the delay line"

# A login: TCP, key exchange, auth and a session each cost at least one.
t0=$(now_ms)
out=$(inC timeout 30 ssh -F "$TB/ssh_config" sshhost true 2>&1)
rc=$?
ms=$(($(now_ms) - t0))
echo "# ssh sshhost true: $ms ms"
if [ $rc = 0 ]; then
	at_least path_ssh_login_rtts "$ms" $((4 * RTT)) "ssh sshhost true"
else
	fail path_ssh_login_rtts "ssh exited $rc: $out"
fi

# --- sluice over it ------------------------------------------------------------

# How many connections the delay line has accepted from C so far.
dl_from_c() { grep -c "from $C4:[0-9]* accepted" "$TB/delayline4.log"; }

# held_by_workers: TCP connections in C that a lane worker holds, but its
# own SSH connection: the tunnel's streams, when the worker runs its lane.
held_by_workers() {
	ip netns exec "$NS_C" ss -Htnp state established 2>/dev/null |
		awk -v ssh=":$TB_SSH_PORT" '/"sluice-lane[0-9]+"/ && substr($4, length($4) - length(ssh) + 1) != ssh' |
		grep -c .
}

# parallel_downloads NAME: eight 8 MiB downloads at once through the tunnel,
# each by sha256. HELD: the most connections held_by_workers saw meanwhile.
parallel_downloads() {
	local i pids=() bad="" n
	HELD=0
	for ((i = 0; i < 8; i++)); do
		(
			set -o pipefail
			inC curl -sS --max-time 60 "http://$L4/p$i.bin" 2>&1 | sha256sum | cut -d' ' -f1 >"$TB/got$i"
		) &
		pids+=($!)
		TB_PIDS="$TB_PIDS $!"
	done
	for ((i = 0; i < 50; i++)); do
		n=$(held_by_workers)
		[ "$n" -gt "$HELD" ] && HELD=$n
		[ "$HELD" -ge 8 ] && break
		proc_alive "${pids[7]}" || break
		sleep 0.1
	done
	for ((i = 0; i < 8; i++)); do
		tb_reap "${pids[$i]}"
		cmp -s "$TB/got$i" "$TB/sha/p$i" || bad="$bad p$i.bin:$(cat "$TB/got$i")"
	done
	if [ -z "$bad" ]; then pass "$1"; else fail "$1" "wrong sha256:$bad"; fi
}

# wan_lanes: the running sluice's lanes, one per line: "up bytes_in interactive".
wan_lanes() { sluice_lanes up bytes_in interactive; }

# wan_lanes_state: the running sluice's lanes, one per line: "up opening".
wan_lanes_state() { sluice_lanes up opening; }

# lane_workers: the pids of the running sluice's lane workers: its children
# that name their lane, in comm (sluice-laneN) and in the command line ps
# shows ("sluice: lane N of ..."); the privileged part and -e's ssh do not.
lane_workers() {
	local p n
	for p in $(ps -o pid= --ppid "$SLUICE_PID" 2>/dev/null); do
		n=$(sed -n 's/^sluice-lane\([0-9]*\)$/\1/p' "/proc/$p/comm" 2>/dev/null)
		[ -n "$n" ] && tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1 | grep -q "^sluice: lane $n of " &&
			echo "$p"
	done
}

# echo_ticker FILE: from C, one byte through the tunnel to the echo server
# every 50 ms on one connection, the count of echoes answered kept in FILE,
# until FILE.stop appears (at most 45 s).
echo_ticker() {
	inC timeout 50 "$PY" -c '
import os, socket, sys, time
path = sys.argv[3]
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
n, end = 0, time.monotonic() + 45
while time.monotonic() < end and not os.path.exists(path + ".stop"):
    s.sendall(b"x")
    if s.recv(16) != b"x":
        break
    n += 1
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.replace(path + ".tmp", path)
    time.sleep(0.05)' "$L4" 9001 "$1" >/dev/null 2>&1
}

# lanes_for_rtt MS: the lanes sluice's own transport opens by default on a
# path of MS (client/link/lanes.c): one below 20 ms, else one more per 4 ms, at most 8.
lanes_for_rtt() {
	local n=$((1 + $1 / 4))
	[ "$1" -lt 20 ] && n=1
	[ $n -gt 8 ] && n=8
	echo $n
}

# wan_way PREFIX ARGS...: sluice with ARGS (and 0/0 ::/0: its own server is inside
# what it routes) over the long path; case names get PREFIX.
wan_way() {
	local p=$1 n0 t0 ms json i up used lanes workers=""
	shift
	n0=$(dl_from_c)
	t0=$(now_ms)
	sluice_start_case "${p}start" "http://$L4/" "$@" 0/0 ::/0 || return 1
	echo "# ${p}start: ready in $(($(now_ms) - t0)) ms (including the first request)"

	if [ "$(dl_from_c)" -gt "$n0" ]; then pass "${p}session_crosses_delay_line"; else
		fail "${p}session_crosses_delay_line" "no new connection from $C4 in $(tr '\n' '|' <"$TB/delayline4.log")"
	fi
	# What is excluded is the address and port sluice connects to: the delay line's.
	json=$(inC "$SLUICE" --status --json 2>&1)
	if echo "$json" | "$PY" -c '
import json, sys
t = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0]
sys.exit(sys.argv[2] not in t["excluded"])' "$SLUICE_PID" "$S4/32:$DL_PORT" 2>/dev/null; then
		pass "${p}server_excluded"
	else
		fail "${p}server_excluded" "$(echo "$json" | head -c 400)"
	fi

	# Through the tunnel, a round trip on an open stream crosses the long path too.
	ms=$(probe_ms echo $L4 9001)
	echo "# ${p}echo through the tunnel, new stream then open stream: $ms ms"
	at_least "${p}tunnel_echo_rtt" "${ms#* }" "$RTT" "echo on an open stream"

	# Lanes: on a long path sluice opens more than one by itself, a few
	# seconds after ready (-e too: the testbed's config has no ControlPath). The
	# further lanes log in side by side in worker processes, while an echo
	# on lane 0 (a byte now and then: the round trips still count as quiet)
	# keeps answering, and --status too.
	case $p in "" | e_) lanes=$(lanes_for_rtt "$RTT") ;; el_) lanes=3 ;; *) lanes="" ;; esac
	if [ -n "$lanes" ]; then
		local st n op opening_max=0 polls_opening=0 pairs=0 moved=0 prev="" prev_t t size dpid end
		rm -f "$TB/echoes" "$TB/echoes.stop"
		echo_ticker "$TB/echoes" &
		dpid=$!
		TB_PIDS="$TB_PIDS $dpid"
		end=$((SECONDS + 40))
		for ((i = 0; i < 200 && SECONDS < end; i++)); do
			st=$(wan_lanes_state)
			n=$(echo "$st" | grep -c .)
			up=$(echo "$st" | awk '$1 == 1' | grep -c .)
			op=$(echo "$st" | awk '$2 == 1' | grep -c .)
			[ "$op" -gt "$opening_max" ] && opening_max=$op
			if [ "$op" -ge 1 ]; then
				polls_opening=$((polls_opening + 1))
				size=$(cat "$TB/echoes" 2>/dev/null || echo 0)
				t=$(now_ms)
				if [ -n "$prev" ]; then
					[ $((t - prev_t)) -ge $((RTT + 100)) ] && pairs=$((pairs + 1))
					[ "$size" -gt "$prev" ] && moved=1
				fi
				prev=$size
				prev_t=$t
			else
				prev=""
			fi
			[ "$n" -ge 2 ] && [ "$up" -ge "$n" ] && break
			sleep 0.2
		done
		workers=$(lane_workers)
		touch "$TB/echoes.stop"
		wait "$dpid"
		tb_forget "$dpid"
		if [ "$up" -ge 2 ]; then pass "${p}lanes_up"; else
			fail "${p}lanes_up" "$up up after $i polls; now '$(wan_lanes_state | tr '\n' '|')': $(sluice_log_tail 3)"
		fi
		if [ "$up" -ge "$lanes" ] && [ "$n" -ge "$lanes" ]; then pass "${p}lanes_number"; else
			fail "${p}lanes_number" "$up of $n up, want $lanes at $RTT ms: $(sluice_log_tail 3)"
		fi
		# Each further lane that is up is a worker process of sluice's.
		if [ "$up" -ge 2 ] && [ "$(echo "$workers" | grep -c .)" -ge $((up - 1)) ]; then
			pass "${p}lane_workers"
		else
			fail "${p}lane_workers" "$up lanes up, workers '$(echo $workers)': $(ps -o pid=,args= --ppid "$SLUICE_PID" | tr '\n' '|')"
		fi
		if [ "$p" = "" ]; then
			# Seen opening together, with --status answering meanwhile.
			if [ "$opening_max" -ge 2 ]; then pass "${p}lanes_open_side_by_side"; else
				fail "${p}lanes_open_side_by_side" "at most $opening_max lane(s) seen opening at once in $i polls"
			fi
			# Between two answers in a row that both saw lanes opening, lane 0
			# echoed. Only such pairs count: on a shorter path the lanes open
			# in batches, and a poll between them sees none opening. And
			# only pairs longer than the ticker's turn (an echo, its 50 ms
			# pause, and room) say anything when no echo came.
			if [ "$moved" = 1 ]; then
				pass "${p}lane0_moves_while_lanes_open"
			elif [ "$pairs" -ge 1 ]; then
				fail "${p}lane0_moves_while_lanes_open" "$pairs pair(s) of polls in a row, each over $((RTT + 100)) ms, saw lanes opening; no echo came between any two"
			else
				echo "# ${p}lane0_moves_while_lanes_open: not checked, no two polls in a row over $((RTT + 100)) ms apart saw lanes opening ($polls_opening saw them)"
			fi
		fi
	fi

	sluice_alive_or_end "${p}traffic"
	tb_traffic_checks "$p"
	parallel_downloads "${p}parallel_8x8mib"
	if [ -n "$lanes" ] && [ "${up:-0}" -ge 2 ]; then
		# Eight downloads of 8 MiB: each lane up carried at least one, but the interactive lane.
		used=$(wan_lanes | awk '$1 == 1 && $2 >= 8000000 && $3 == 0' | grep -c .)
		bulk=$(wan_lanes | awk '$1 == 1 && $3 == 0' | grep -c .)
		if [ "$used" -ge "$bulk" ] && [ "$bulk" -ge 2 ]; then pass "${p}parallel_spread_over_lanes"; else
			fail "${p}parallel_spread_over_lanes" "lanes '$(wan_lanes | tr '\n' '|')'"
		fi
		# Our own transport's lanes run in their workers, streams and all: the
		# downloads' connections are the workers', not sluice's loop's. -e's
		# lanes are ssh's descriptors, run here.
		if [ -z "$p" ]; then
			if [ "$HELD" -ge 2 ]; then pass "${p}streams_held_by_lane_workers"; else
				fail "${p}streams_held_by_lane_workers" "at most $HELD of the 8 connections seen in a lane worker: $(ip netns exec "$NS_C" ss -Htnp state established 2>/dev/null | grep -c sluice) held by sluice's processes"
			fi
		fi
		# When the path decided: lane 0 kept for interactive sessions, so the downloads
		# (8 MiB each) left it alone; --lanes fixes the number and keeps none.
		inter=$(wan_lanes | awk '$3 == 1 { print NR - 1, $1, ($2 < 8000000) }' | tr '\n' '|')
		# (and each lane says whether it is that one)
		[ "$(sluice_lanes_have interactive)" = "$(wan_lanes | grep -c .)" ] ||
			inter="no interactive field: $inter"
		case $p in el_) want="" ;; *) want="0 1 1|" ;; esac
		if [ "$inter" = "$want" ]; then pass "${p}interactive_lane_left_alone"; else
			fail "${p}interactive_lane_left_alone" "interactive lanes (lane, up, under 8 MB in) '$inter', want '$want'"
		fi
	fi
	stopped_clean "${p}stopped_clean" TERM
	if [ -n "$lanes" ] && [ -n "$workers" ]; then
		local w left=""
		for w in $workers; do proc_alive "$w" && left="$left $w"; done
		if [ -z "$left" ]; then pass "${p}lane_workers_gone"; else
			fail "${p}lane_workers_gone" "still running:$left"
		fi
	fi
}

# busy_from_start: a download that starts with the session and is held back
# only by the path (L sends zeros without end), so that every round trip
# lane 0 measures is taken behind it. The path decides while it runs (on
# round trips taken while busy: the log says so), the lanes open, and the
# download goes on, all zeros, until the reader stops. A build that waited
# for lane 0 to go quiet decided only after it.
busy_from_start() {
	local dl n="" during=no judged up=0 i got
	sluice_start -r sshhost -v 198.51.100.0/24
	# Once its rules are in: C has a route of its own to the lan, which a
	# connection opened before them would take, past the tunnel.
	sluice_wait_ready || {
		fail busy_start "$SLUICE_WHY"
		return 1
	}
	pass busy_start
	zeros_start
	dl=$ZR
	# (up to 45 s: on two busy cores the CPUs' stall sets many round trips aside)
	wait_decided 45
	proc_alive "$dl" && during=yes
	n=$(sed -n 's/.* ms: carrying the connections over \([0-9]*\) lanes$/\1/p' "$SLUICE_LOG" | head -n 1)
	grep -q "ms: one lane carries the connections" "$SLUICE_LOG" && n=1
	judged=$(grep -c "lane 0 was busy for " "$SLUICE_LOG")
	if [ -z "$n" ] && [ "$during" = no ]; then
		fail busy_path_decided "the download ended first ($(cat "$TB/zeros" 2>/dev/null)), no decision: $(sluice_log_tail 3)"
	elif [ -z "$n" ]; then
		fail busy_path_decided "no decision in 45 s of the download: $(grep -e "round trip" -e "busy" "$SLUICE_LOG" | tr '\n' '|')"
	elif [ "$judged" = 0 ]; then
		echo "# busy_path_decided: not checked, the download paused for three round trips ($(grep "round trip" "$SLUICE_LOG" | tr '\n' '|'))"
	elif [ "$during" = yes ] && { [ "$n" -ge 2 ] || [ "$(lanes_for_rtt "$RTT")" = 1 ]; }; then
		pass busy_path_decided
	else
		fail busy_path_decided "download running: $during; lanes $n: $(grep -e "round trip" -e "busy" "$SLUICE_LOG" | tr '\n' '|')"
	fi
	if [ "${n:-0}" -ge 2 ]; then
		for ((i = 0; i < 100; i++)); do
			up=$(wan_lanes_state | awk '$1 == 1' | grep -c .)
			[ "$up" -ge $((n + 1)) ] && break
			sleep 0.2
		done
		if [ "$up" -ge $((n + 1)) ]; then pass busy_lanes_up; else
			fail busy_lanes_up "$up of $((n + 1)) up: $(wan_lanes_state | tr '\n' '|'): $(sluice_log_tail 3)"
		fi
	fi
	zeros_stop
	got=$(cat "$TB/zeros" 2>/dev/null)
	echo "# busy_from_start: the download read (bytes, reads not all zeros, how it ended): $got"
	case $got in
	"0 "* | "") fail busy_download_intact "read '$got'" ;;
	*" 0 stopped" | *" 0 deadline") pass busy_download_intact ;;
	*) fail busy_download_intact "read '$got'" ;;
	esac
	stopped_clean busy_stopped_clean TERM
}

zeros_serve
busy_from_start
wan_way "" -r sshhost
wan_way e_ -r sshhost -e "ssh -F $TB/ssh_config"
wan_way el_ -r sshhost -e "ssh -F $TB/ssh_config" --lanes 3
tb_finish
