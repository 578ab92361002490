#!/bin/bash
# test_load: correctness under load. Nothing here is timed beyond generous
# bounds; every case checks that the bytes arrive intact and that one
# stream's trouble stays its own:
#   - 64 concurrent transfers, both directions, each checked by sha256;
#   - a reader that stalls (and a sink that stalls) must not hold up other
#     streams, and the stalled stream is intact once it moves again;
#   - 1000 idle connections held open, all of them established at the far
#     end, traffic on some, then closed without leaks or log noise;
#   - sluice's memory stays bounded while 1 GiB goes through a stream that
#     first stalled.
TB_SUITE=load
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up

PAT_PORT=9002  # netsvc serve-load: pattern streams and sinks
HOLD_PORT=9003 # netsvc serve-load: echo for many connections
NSVC="$E2E_DIR/netsvc.py"
RSS_LIMIT_KB=$((64 << 10))

tb_serve_load $PAT_PORT $HOLD_PORT

# Files of 1-8 MiB (and odd sizes) for the parallel downloads.
mkdir "$TB/sha" || tb_die "mkdir failed"
for ((i = 0; i < 32; i++)); do
	tb_make_file "f$i.bin" $((((i % 8) + 1) * 1048576 + i * 4099)) >"$TB/sha/f$i" ||
		tb_die "cannot write f$i.bin"
done
SHA32=$(tb_make_file big32.bin $((32 << 20))) || tb_die "cannot write big32.bin"

# wait_file FILE TENTHS: until FILE exists, at most TENTHS x 0.1 s, while sluice runs.
wait_file() {
	local i
	for ((i = 0; i < $2; i++)); do
		[ -e "$1" ] && return 0
		proc_alive "$SPID" || return 1
		sleep 0.1
	done
	return 1
}

# bg OUTFILE CMD...: run CMD in C in the background; BG gets its pid.
bg() {
	local out=$1
	shift
	ip netns exec "$NS_C" "$@" </dev/null >"$out" 2>&1 &
	BG=$!
	TB_PIDS="$TB_PIDS $BG"
}

# gets N: N sequential GETs of the index page, each within 5 s; prints how many failed.
gets() {
	local i bad=0 out
	for ((i = 0; i < $1; i++)); do
		out=$(inC curl -sS --max-time 5 "http://$L4/?get$i" 2>&1)
		[ "$out" = "$INDEX_MARK" ] || bad=$((bad + 1))
		proc_alive "$SPID" || break
	done
	echo $bad
}

# down32: the 32 MiB file through the tunnel; prints its sha256.
down32() {
	(
		set -o pipefail
		inC curl -sS --max-time 60 "http://$L4/big32.bin" 2>&1 | sha256sum | cut -d' ' -f1
	)
}

# gets_ok NAME N: N GETs through the tunnel all answer within 5 s each.
gets_ok() {
	local bad
	bad=$(gets "$2")
	if [ "$bad" = 0 ]; then pass "$1"; else fail "$1" "$bad of $2 GETs failed or took over 5 s"; fi
}

# down32_ok NAME: the 32 MiB download arrives intact.
down32_ok() {
	local got
	got=$(down32)
	if [ "$got" = "$SHA32" ]; then pass "$1"; else fail "$1" "sha256 $got, want $SHA32"; fi
}

# established NS PORT: TCP connections in NS whose local port is PORT.
established() { ip netns exec "$1" ss -Htn state established "( sport = :$2 )" | wc -l; }

# queue NS COLUMN FILTER: the Recv-Q (1) or Send-Q (2) of the first matching connection.
queue() { ip netns exec "$1" ss -Htn state established "$3" | awk -v c="$2" 'NR == 1 { print $c }'; }

# sluice's own pid: `ip netns exec` execs in place, so $! is sluice itself;
# checked, not assumed.
sluice_real_pid() {
	[ "$(cat "/proc/$SLUICE_PID/comm" 2>/dev/null)" = sluice ] && echo "$SLUICE_PID"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

sluice_start -r sshhost 198.51.100.0/24
if ! sluice_wait_ready http://$L4/; then
	fail start "$SLUICE_WHY"
	tb_finish
fi
pass start
SPID=$(sluice_real_pid)
[ -n "$SPID" ] || tb_die "pid $SLUICE_PID is $(cat "/proc/$SLUICE_PID/comm" 2>/dev/null), not sluice"

# --- 64 concurrent transfers, mixed directions ---------------------------------
# xargs runs each batch's 32 jobs at once, and both batches run together.
seq 0 31 >"$TB/ids"
bg "$TB/mixed.down" timeout 150 xargs -a "$TB/ids" -P 32 -I{} sh -c \
	'got=$(curl -sS --max-time 120 "http://$1/f$3.bin" | sha256sum | cut -d" " -f1)
	if [ "$got" = "$(cat "$2/sha/f$3")" ]; then echo "ok $3"; else echo "bad $3: $got"; fi' \
	sh $L4 "$TB" {}
down=$BG
bg "$TB/mixed.up" timeout 150 xargs -a "$TB/ids" -P 32 -I{} sh -c \
	'echo "$4 $("$1" "$2" upload "$3" 9000 $((100 + $4)) $(((($4 % 8) + 1) * 1048576 + $4 * 7919)) --timeout 120 2>&1)"' \
	sh "$PY" "$NSVC" $L4 {}
up=$BG
# The peak number of transfers open at once at the servers, for the record.
peak=0
while (proc_alive $down || proc_alive $up) && proc_alive "$SPID"; do
	n=$(ip netns exec "$NS_L" ss -Htn state established '( sport = :80 or sport = :9000 )' | wc -l)
	[ "$n" -gt "$peak" ] && peak=$n
	sleep 0.2
done
tb_reap $down
tb_reap $up
sluice_alive_or_end parallel_64_mixed
nd=$(grep -c '^ok ' "$TB/mixed.down")
nu=$(grep -c '^[0-9]* ok ' "$TB/mixed.up")
if [ "$nd" = 32 ] && [ "$nu" = 32 ]; then
	pass parallel_64_mixed
else
	fail parallel_64_mixed "$nd of 32 downloads, $nu of 32 uploads intact (peak $peak open): $(grep -hv 'ok ' "$TB/mixed.down" "$TB/mixed.up" | head -n 2 | tr '\n' '|')"
fi
echo "# parallel_64_mixed: up to $peak transfers open at once at the servers"

# --- a reader that stalls ------------------------------------------------------
sluice_alive_or_end stalled_reader_blocks_its_server
# The client asks for 256 MiB and reads nothing: every buffer on the way fills
# up, and the server in L blocks. Other streams must not notice.
bg "$TB/stall.out" timeout 200 "$PY" "$NSVC" fetch $L4 $PAT_PORT 11 $((256 << 20)) \
	--read $((64 << 20)) --wait "$TB/stall.go" --ready "$TB/stall.ready" --timeout 180 --idle 30
stall=$BG
sq=""
if wait_file "$TB/stall.ready" 100; then
	# Stalled end to end: the server's send queue in L is not empty and stays so.
	for ((i = 0; i < 100; i++)); do
		sq=$(queue "$NS_L" 2 "( sport = :$PAT_PORT )")
		sleep 0.2
		[ -n "$sq" ] && [ "$sq" -gt 0 ] && [ "$sq" = "$(queue "$NS_L" 2 "( sport = :$PAT_PORT )")" ] && break
		sq=""
	done
fi
if [ -n "$sq" ]; then
	pass stalled_reader_blocks_its_server
	rq=$(queue "$NS_C" 1 "( dport = :$PAT_PORT )")
	echo "# stalled reader: Recv-Q $rq in C, Send-Q $sq at the server in L"
else
	fail stalled_reader_blocks_its_server "the server's send queue never filled: $(cat "$TB/stall.out")"
fi
gets_ok gets_while_reader_stalled 20
down32_ok download_while_reader_stalled
touch "$TB/stall.go"
tb_reap $stall
rc=$?
if [ $rc = 0 ] && grep -q '^ok ' "$TB/stall.out"; then pass stalled_reader_intact; else
	fail stalled_reader_intact "rc $rc: $(cat "$TB/stall.out")"
fi

# --- a sink that stalls -----------------------------------------------------------
sluice_alive_or_end upload_while_sink_stalled
# The same upstream: the server reads nothing until released, the client's
# sends block; other uploads must still go through.
bg "$TB/sink.out" timeout 200 "$PY" "$NSVC" sink $L4 $PAT_PORT s1 12 $((64 << 20)) \
	--ready "$TB/sink.ready" --timeout 180
sink=$BG
if wait_file "$TB/sink.ready" 200; then
	out=$(inC timeout 90 "$PY" "$NSVC" upload $L4 9000 13 $((32 << 20)) --timeout 60 --idle 30 2>&1)
	if [ $? = 0 ]; then pass upload_while_sink_stalled; else fail upload_while_sink_stalled "$out"; fi
	gets_ok gets_while_sink_stalled 5
else
	fail upload_while_sink_stalled "the sink's sends never blocked: $(cat "$TB/sink.out")"
fi
out=$(inC "$PY" "$NSVC" release $L4 $PAT_PORT s1 2>&1) || fail sink_release "$out"
tb_reap $sink
rc=$?
if [ $rc = 0 ] && grep -q '^ok ' "$TB/sink.out"; then pass stalled_sink_intact; else
	fail stalled_sink_intact "rc $rc: $(cat "$TB/sink.out")"
fi

# --- 1000 idle connections ------------------------------------------------------------
sluice_alive_or_end idle_1000_established
log0=$(wc -l <"$SLUICE_LOG")
fd0=$(nfds "$SPID")
bg "$TB/hold.out" timeout 200 bash -c 'ulimit -n 4096 && exec "$@"' sh "$PY" "$NSVC" hold $L4 $HOLD_PORT 1000 \
	--ready "$TB/hold.ready" --go "$TB/hold.go" --timeout 180
hold=$BG
n=0
if wait_file "$TB/hold.ready" 900; then
	# Each stream is opened at L once its OPEN went through; give them time.
	for ((i = 0; i < 100; i++)); do
		n=$(established "$NS_L" $HOLD_PORT)
		[ "$n" -ge 1000 ] && break
		sleep 0.2
	done
	fdh=$(nfds "$SPID")
	if [ "$n" = 1000 ]; then pass idle_1000_established; else
		fail idle_1000_established "$n of 1000 established at L"
	fi
	gets_ok gets_with_1000_open 10
	down32_ok download_with_1000_open
else
	fail idle_1000_established "the client did not get its connections up: $(cat "$TB/hold.out")"
fi
touch "$TB/hold.go"
tb_reap $hold
rc=$?
if [ $rc = 0 ] && grep -q '^ok ' "$TB/hold.out"; then pass idle_1000_all_alive; else
	fail idle_1000_all_alive "rc $rc: $(cat "$TB/hold.out")"
fi
# Closing them closes them at L, and sluice gives back every descriptor.
for ((i = 0; i < 100; i++)); do
	n=$(established "$NS_L" $HOLD_PORT)
	fd1=$(nfds "$SPID")
	[ "$n" = 0 ] && [ "$fd1" -le "$fd0" ] && break
	sleep 0.2
done
if [ "$n" = 0 ]; then pass idle_1000_closed_at_l; else fail idle_1000_closed_at_l "$n still established at L"; fi
# Only where sluice's own loop held them: on a LAN no lane worker takes any
# (a few may still be closing when fd0 is taken).
if [ -z "${fdh:-}" ]; then
	echo "# idle_1000_no_fd_leak: the 1000 never came up: not checked"
elif [ "$fdh" -lt $((fd0 + 900)) ]; then
	fail idle_1000_no_fd_leak "sluice held $fdh fds with the 1000 open, $fd0 before: they were not its own"
elif [ "$fd1" -le "$fd0" ]; then pass idle_1000_no_fd_leak; else
	fail idle_1000_no_fd_leak "sluice had $fd0 fds before, ${fdh:-?} while holding, $fd1 after"
fi
echo "# idle_1000: sluice fds $fd0 before, ${fdh:-?} while holding, $fd1 after"
new=$(tail -n +$((log0 + 1)) "$SLUICE_LOG")
if [ -z "$new" ]; then pass idle_1000_log_quiet; else
	fail idle_1000_log_quiet "sluice logged: $(echo "$new" | head -n 3 | tr '\n' '|')"
fi

# --- memory: 1 GiB through a stream that first stalls ---------------------------------
sluice_alive_or_end stalled_1gib_intact
max=$(status_kb "$SPID" VmRSS)
rss0=$max
bg "$TB/mem.out" timeout 200 "$PY" "$NSVC" fetch $L4 $PAT_PORT 14 $((1 << 30)) \
	--wait "$TB/mem.go" --ready "$TB/mem.ready" --timeout 180 --idle 30
mem=$BG
samples=""
sample() {
	local r
	r=$(status_kb "$SPID" VmRSS)
	[ -n "$r" ] || return
	samples="$samples $r"
	[ "$r" -gt "$max" ] && max=$r
}
if wait_file "$TB/mem.ready" 100; then
	for ((i = 0; i < 6; i++)); do
		sleep 0.5
		sample
	done
fi
touch "$TB/mem.go"
# Sampled while the stream drains (the client ends within its own 180 s).
while proc_alive $mem && proc_alive "$SPID"; do
	sleep 0.5
	sample
done
tb_reap $mem
rc=$?
hwm=$(status_kb "$SPID" VmHWM)
if [ $rc = 0 ] && grep -q '^ok ' "$TB/mem.out"; then pass stalled_1gib_intact; else
	fail stalled_1gib_intact "rc $rc: $(cat "$TB/mem.out")"
fi
if [ "$max" -lt $RSS_LIMIT_KB ] && [ "${hwm:-0}" -lt $RSS_LIMIT_KB ]; then pass rss_bounded; else
	fail rss_bounded "VmRSS up to $max kB, VmHWM $hwm kB, limit $RSS_LIMIT_KB kB"
fi
echo "# memory: VmRSS $rss0 kB before, $(status_kb "$SPID" VmRSS) kB after, at most $max kB in $(echo $samples | wc -w) samples; VmHWM $hwm kB; $(cat "$TB/mem.out")"

# Nothing but the start line in sluice's log after all of the above.
sluice_ends_clean

tb_finish
