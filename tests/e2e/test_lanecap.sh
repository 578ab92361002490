#!/bin/bash
# test_lanecap: further lanes against a hardened sshd. With MaxSessions 2,
# -e ssh --lanes 4 gets two sessions through its ControlMaster: the other
# two lanes are refused, not tried again and not opened round the master
# (one SSH connection still), and one line says so; --status shows two up
# and two refused; a download arrives intact. With MaxStartups 1:100:1
# and one unauthenticated connection held open, every further connection
# is dropped before the banner: the lanes the path asks for are tried a
# bounded number of times, then one line says the session carries on with
# lane 0, and the server sees no further attempt. With MaxStartups 2:100:2
# (six lanes at once, two pass), --lanes 6 comes up in full after a few
# quiet retries. Windows and waits are bounded.
TB_SUITE=lanecap
TB_SSHD_EXTRA="MaxSessions 2"
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
MID_SHA=$(tb_make_file mid.bin $((16 << 20))) || tb_die "cannot write mid.bin"

# lanes_now: the running sluice's lanes, one per line: "up refused".
lanes_now() { sluice_lanes up refused; }
lanes_up_count() { lanes_now | awk '$1 == 1' | grep -c .; }
# helpers_n: how many helpers serve in S.
helpers_n() { helpers_in_s | grep -c .; }
# sshd_since N PATTERN: sshd's log lines after line N that match.
sshd_since() { tail -n +"$(($1 + 1))" "$TB/sshd.log" | grep -c -e "$2"; }
# wait_log PATTERN SECONDS: until sluice's log has a line that matches.
wait_log() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		grep -q -e "$1" "$SLUICE_LOG" && return 0
		proc_alive "$SLUICE_PID" || return 1
		sleep 0.3
	done
	return 1
}
download_case() {
	local got
	got=$(inC curl -sS --max-time 30 "http://$L4/mid.bin" 2>&1 | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$MID_SHA" ]; then pass "$1"; else fail "$1" "sha256 $got"; fi
}
# restart_sshd EXTRA: sshd again with other sshd_config lines.
restart_sshd() {
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	tb_forget "$SSHD_PID"
	TB_SSHD_EXTRA=$1
	tb_sshd || tb_die "sshd did not start again with '$1'"
}

# --- -e ssh, MaxSessions 2: two lanes on the master's connection, two refused ---------
base=$(wc -l <"$TB/sshd.log")
sluice_start_case sessions_start "http://$L4/" -r sshhost --lanes 4 -e "ssh -F $TB/ssh_config" 198.51.100.0/24 || tb_finish
LIMIT_RE="lanes: $S4 allows 2 sessions on one connection (MaxSessions); carrying on with 2 lanes of 4"
if wait_log "$LIMIT_RE" 20 && [ "$(grep -c "^sluice: lanes: " "$SLUICE_LOG")" = 1 ] &&
	! grep -q "opening lane" "$SLUICE_LOG"; then
	pass sessions_one_line
else
	fail sessions_one_line "$(grep -e "lane" "$SLUICE_LOG" | tail -n 4 | tr '\n' '|')"
fi
n=$(ssh_conns)
if [ "$n" = 1 ]; then pass sessions_one_connection; else
	fail sessions_one_connection "$n SSH connections from C: the refused lanes logged in beside the master"
fi
# The server's word for each refused session, then nothing more over a window.
refused=$(sshd_since "$base" "no more sessions")
sleep 15
again=$(($(sshd_since "$base" "no more sessions") - refused))
conns=$(sshd_since "$base" "Connection from")
if [ "$refused" -ge 1 ] && [ "$refused" -le 2 ] && [ "$again" = 0 ] && [ "$conns" = 1 ]; then
	pass sessions_not_retried
else
	fail sessions_not_retried "sessions refused at first $refused, in the 15 s after $again; connections $conns"
fi
txt=$(inC "$SLUICE" --status 2>/dev/null)
if [ "$(lanes_up_count)" = 2 ] && [ "$(helpers_n)" = 2 ] &&
	[ "$(echo "$txt" | grep -o "refused by the server" | grep -c .)" = 2 ]; then
	pass sessions_status_true
else
	fail sessions_status_true "lanes '$(lanes_now | tr '\n' '|')', helpers in S $(helpers_n): $(echo "$txt" | grep "lanes:")"
fi
download_case sessions_download
stopped_clean sessions_stop_clean TERM
helper_gone sessions_helpers_gone

# --- MaxStartups 1:100:1 with its one slot held: every further connection is dropped ---
restart_sshd "MaxStartups 1:100:1
LoginGraceTime 300"
# A path of 40 ms asks for lanes a few seconds after lane 0 is up: the slot is taken meanwhile.
tb_delayline_start 40 || tb_die "the delay line did not start: $(tail -n 2 "$TB/delayline4.log" | tr '\n' ' ')"
base=$(wc -l <"$TB/sshd.log")
sluice_start_case startups_start "http://$L4/" -r sshhost 198.51.100.0/24 || tb_finish
# The slot's holder: one process that opens a connection to sshd and says nothing.
ip netns exec "$NS_C" bash -c 'exec 3<>"/dev/tcp/$0/22" && exec sleep 120' "$S4" </dev/null >/dev/null 2>&1 &
HOG=$!
TB_PIDS="$TB_PIDS $HOG"
n=""
if wait_log " ms: carrying the connections over [0-9]* lanes$" 15; then
	n=$(sed -n 's/.* ms: carrying the connections over \([0-9]*\) lanes$/\1/p' "$SLUICE_LOG" | head -n 1)
	# and lane 0 besides them
	[ -n "$n" ] && n=$((n + 1))
fi
LIMIT_RE="lanes: $S4 kept closing further connections before its banner (MaxStartups); carrying on with 1 lane of ${n:-?}"
if [ -z "$n" ]; then
	fail startups_gives_up "the path asked for no further lanes: $(sluice_log_tail 3)"
elif wait_log "$LIMIT_RE" 45 && [ "$(grep -c "^sluice: lanes: " "$SLUICE_LOG")" = 1 ] &&
	! grep -q "opening lane" "$SLUICE_LOG"; then
	pass startups_gives_up
else
	fail startups_gives_up "$(grep -e "lane" "$SLUICE_LOG" | tail -n 4 | tr '\n' '|')"
fi
drops=$(sshd_since "$base" "past MaxStartups")
sleep 10
again=$(($(sshd_since "$base" "past MaxStartups") - drops))
# Each further lane at most LANES_LIMIT_TRIES (4) times, and nothing after the line.
if [ -n "$n" ] && [ "$drops" -ge 1 ] && [ "$drops" -le $(((n - 1) * 4)) ] && [ "$again" = 0 ]; then
	pass startups_bounded
else
	fail startups_bounded "lanes ${n:-?}: $drops connections dropped, $again more in the 10 s after"
fi
txt=$(inC "$SLUICE" --status 2>/dev/null)
if [ -n "$n" ] && [ "$(lanes_up_count)" = 1 ] && [ "$(helpers_n)" = 1 ] &&
	[ "$(echo "$txt" | grep -o "refused by the server" | grep -c .)" = $((n - 1)) ]; then
	pass startups_status_true
else
	fail startups_status_true "lanes '$(lanes_now | tr '\n' '|')', helpers in S $(helpers_n): $(echo "$txt" | grep "lanes:")"
fi
download_case startups_download
pid_in_ns "$HOG" "$NS_C" && kill -TERM "$HOG" 2>/dev/null
tb_reap "$HOG" >/dev/null
stopped_clean startups_stop_clean TERM
helper_gone startups_helpers_gone
tb_delayline_stop

# --- MaxStartups 2:100:2: six lanes at once, two pass; the rest come up on quiet retries ---
restart_sshd "MaxStartups 2:100:2"
base=$(wc -l <"$TB/sshd.log")
sluice_start_case burst_start "http://$L4/" -r sshhost --lanes 6 198.51.100.0/24 || tb_finish
# All six, or (should a lane meet the limit on every try) the one line with the lanes up.
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ] && { [ "$(lanes_up_count)" != 6 ] || [ "$(helpers_n)" != 6 ]; }; do
	proc_alive "$SLUICE_PID" || break
	grep -q "^sluice: lanes: " "$SLUICE_LOG" && break
	sleep 0.5
done
drops=$(sshd_since "$base" "past MaxStartups")
up=$(lanes_up_count)
said=$(grep "^sluice: lanes: " "$SLUICE_LOG")
if [ "$drops" -ge 1 ] && [ "$up" = "$(helpers_n)" ] && ! grep -q "opening lane" "$SLUICE_LOG" &&
	{ { [ "$up" = 6 ] && [ -z "$said" ]; } ||
		[ "$said" = "sluice: lanes: $S4 kept closing further connections before its banner (MaxStartups); carrying on with $up lanes of 6" ]; }; then
	pass burst_all_up_quietly
else
	fail burst_all_up_quietly "$drops dropped; lanes '$(lanes_now | tr '\n' '|')', helpers in S $(helpers_n): $(grep -e "lane" "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
fi
# Five further lanes, each at most LANES_LIMIT_TRIES (4) tries.
if [ "$drops" -le 15 ]; then pass burst_bounded; else fail burst_bounded "$drops connections dropped"; fi
download_case burst_download
stopped_clean burst_stop_clean TERM
helper_gone burst_helpers_gone

tb_finish
