#!/bin/bash
# test_wan: sluice over a long path. The delay line (tests/tools/delayline.c)
# sits between the client and sshd and holds every byte half the round trip
# each way (TB_RTT_MS, 100 ms unless given). First the path itself is
# checked (an ssh banner takes two round trips, a login several), then for
# each way of running sluice: it comes up with its own server inside what
# it routes (0/0), its session crosses the delay line, a request through
# the tunnel takes at least a round trip, and the traffic checks of every
# tunnel suite (64 MiB down and 20 MB up by sha256, half-close, resets)
# pass, plus eight parallel downloads. With lanes (the own transport's
# default on a long path, -e with --lanes 3) more than one is up and the
# parallel downloads use each. Speed is never asserted.
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

# parallel_downloads NAME: eight 8 MiB downloads at once through the tunnel, each by sha256.
parallel_downloads() {
	local i pids=() bad=""
	for ((i = 0; i < 8; i++)); do
		(
			set -o pipefail
			inC curl -sS --max-time 60 "http://$L4/p$i.bin" 2>&1 | sha256sum | cut -d' ' -f1 >"$TB/got$i"
		) &
		pids+=($!)
		TB_PIDS="$TB_PIDS $!"
	done
	for ((i = 0; i < 8; i++)); do
		tb_reap "${pids[$i]}"
		cmp -s "$TB/got$i" "$TB/sha/p$i" || bad="$bad p$i.bin:$(cat "$TB/got$i")"
	done
	if [ -z "$bad" ]; then pass "$1"; else fail "$1" "wrong sha256:$bad"; fi
}

# wan_lanes: the running sluice's lanes from --status --json, one per line:
# "up bytes_in".
wan_lanes() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c '
import json, sys
for t in json.load(sys.stdin):
    if t["pid"] == int(sys.argv[1]):
        for l in t.get("lanes", []):
            print(int(l["up"]), l["bytes_in"])' "$SLUICE_PID" 2>/dev/null
}

# wan_way PREFIX ARGS...: sluice with ARGS (and 0/0 ::/0: its own server is inside
# what it routes) over the long path; case names get PREFIX.
wan_way() {
	local p=$1 n0 t0 ms json i up used lanes
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

	# Lanes: on a long path the own transport opens more than one by
	# itself, a few seconds after ready; -e only when told (--lanes).
	case $p in "" | el_) lanes=1 ;; *) lanes="" ;; esac
	if [ -n "$lanes" ]; then
		# (--status gets no answer while a lane is being opened: the
		# loop waits for its login; the next poll asks again.)
		for ((i = 0; i < 40; i++)); do
			up=$(wan_lanes | awk '$1 == 1' | grep -c .)
			[ "$up" -ge 2 ] && break
			sleep 0.5
		done
		if [ "$up" -ge 2 ]; then pass "${p}lanes_up"; else
			fail "${p}lanes_up" "$up up after $i polls; now '$(wan_lanes | tr '\n' '|')': $(sluice_log_tail 3)"
		fi
	fi

	sluice_alive_or_end "${p}traffic"
	tb_traffic_checks "$p"
	parallel_downloads "${p}parallel_8x8mib"
	if [ -n "$lanes" ] && [ "${up:-0}" -ge 2 ]; then
		# Eight downloads of 8 MiB: each lane up carried at least one.
		used=$(wan_lanes | awk '$1 == 1 && $2 >= 8000000' | grep -c .)
		if [ "$used" -ge "$up" ]; then pass "${p}parallel_spread_over_lanes"; else
			fail "${p}parallel_spread_over_lanes" "lanes '$(wan_lanes | tr '\n' '|')'"
		fi
	fi
	stopped_clean "${p}stopped_clean" TERM
}

wan_way "" -r sshhost
wan_way e_ -r sshhost -e "ssh -F $TB/ssh_config"
wan_way el_ -r sshhost -e "ssh -F $TB/ssh_config" --lanes 3
tb_finish
