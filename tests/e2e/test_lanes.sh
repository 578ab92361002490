#!/bin/bash
# test_lanes: one tunnel over several SSH sessions (--lanes). With --lanes 3
# three helpers run in S and --status shows three lanes up; parallel
# downloads and uploads arrive intact (sha256) and every lane carries a
# share; killing one further lane's helper resets only that lane's
# connections while the others finish intact, and the lane comes back
# without the session dropping; killing lane 0's helper heals the whole
# session, all lanes again. Each further lane's worker names its lane in
# ps (comm and command line). The same with -e ssh, whose further lanes
# are sessions through its ControlMaster; a further lane's ssh that says
# why it ended only after its stdout closed still has its say in the log.
# On a LAN the default is one lane, until a connection to the ssh port
# opens: it stays on lane 0, which keeps the interactive sessions from then
# on (an echo through it comes back over it), and one more lane opens for
# the rest (a download beside it goes there); with --lanes every lane takes
# any stream. A LAN behind a download that runs from the first moment is
# still judged a LAN; a slow one (100 Mbit/s through the delay line) that
# the download's queue made look long goes back to one lane once quiet. --interactive-ports 2222 keeps port 2222's sessions on
# lane 0 instead (its first one opens lane 1) and port 22's are then like
# any other: alone they open nothing, beside it they go to lane 1. At 100 ms
# (the delay line) -e ssh opens
# several by itself through a ControlMaster of sluice's own, but keeps one,
# through the user's own master, when its config names a ControlPath.
# After each run nothing is left: no table, no process in C, nothing of the
# login user in S. Waits are bounded.
TB_SUITE=lanes
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
MID_SHA=$(tb_make_file mid.bin $((16 << 20))) || tb_die "cannot write mid.bin"
SLOW_SHA=$(tb_make_file slow.bin $((24 << 20))) || tb_die "cannot write slow.bin"

# lanes_now: the running sluice's lanes, one per line:
# "up connections bytes_in bytes_out drops".
lanes_now() { sluice_lanes up connections bytes_in bytes_out drops; }
# lanes_up_count: how many lanes are up.
lanes_up_count() { lanes_now | awk '$1 == 1' | grep -c .; }
# lane_titles: "comm cmdline" of each of the running sluice's children that
# names itself a lane (comm sluice-laneN), by comm; the cmdline's NULs as '|'.
lane_titles() {
	local p comm
	for p in $(ps -o pid= --ppid "$SLUICE_PID" 2>/dev/null); do
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case $comm in sluice-lane*) echo "$comm $(tr '\0' '|' <"/proc/$p/cmdline" 2>/dev/null)" ;; esac
	done | sort
}
# titles_case NAME N: with N lanes up, each further lane's worker shows its
# lane in comm and cmdline (the title alone), and sluice keeps its own.
titles_case() {
	local want="" i
	for ((i = 1; i < $2; i++)); do want="${want}sluice-lane$i sluice: lane $i of sluicet@sshhost|"$'\n'; done
	if [ "$(lane_titles)"$'\n' = "$want" ] && tr '\0' ' ' <"/proc/$SLUICE_PID/cmdline" | grep -q -- " -r sshhost "; then
		pass "$1"
	else
		fail "$1" "lane workers '$(lane_titles | tr '\n' ',')', children: $(ps -o pid=,comm=,args= --ppid "$SLUICE_PID" | tr '\n' '|')"
	fi
}
# wait_lanes N SECONDS: until N lanes are up and N helpers run in S.
wait_lanes() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		[ "$(lanes_up_count)" = "$1" ] && [ "$(helpers_in_s | grep -c .)" = "$1" ] && return 0
		proc_alive "$SLUICE_PID" || return 1
		sleep 0.3
	done
	return 1
}

# open_total: the connections all the lanes carry now.
open_total() { lanes_now | awk '{ n += $2 } END { print n + 0 }'; }
# wait_open N SECONDS: until the lanes carry N connections in all.
wait_open() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		[ "$(open_total)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
# start_slow: six rate-limited downloads, two a lane, far bigger than what the
# buffers on the way hold at the kill; their results in slow.N. The caller
# waits for the earlier connections to be gone first, and this for all six
# to be open (on a busy machine their start may take longer than their
# placement check would wait): the count per lane is then theirs alone.
start_slow() {
	local i
	pids=""
	for i in 1 2 3 4 5 6; do
		inC sh -c "curl -sS --max-time 40 --limit-rate 2M http://$L4/slow.bin | sha256sum | cut -d' ' -f1" \
			>"$TB/slow.$i" 2>/dev/null &
		pids="$pids $!"
	done
	TB_PIDS="$TB_PIDS $pids"
	wait_open 6 8
	sleep 0.5
}
# slow_results: "intact cut" counts once every download ended.
slow_results() {
	local p i ok=0 cut=0
	for p in $pids; do tb_reap "$p"; done
	for i in 1 2 3 4 5 6; do
		if [ "$(cat "$TB/slow.$i")" = "$SLOW_SHA" ]; then ok=$((ok + 1)); else cut=$((cut + 1)); fi
	done
	echo "$ok $cut"
}
# lanes_traffic PREFIX: with three lanes up, parallel downloads and uploads
# arrive intact and every lane carries a share; one further lane's helper
# killed resets only that lane's connections, and the lane comes back.
lanes_traffic() {
	local p=$1 i bad spread per_lane victim res got end
	head -c 8000000 /dev/urandom >"$TB/up.bin"
	UP_SHA=$(sha256sum <"$TB/up.bin" | cut -d' ' -f1)
	pids=""
	for i in 1 2 3 4 5 6; do
		inC sh -c "curl -sS --max-time 60 http://$L4/mid.bin | sha256sum | cut -d' ' -f1" >"$TB/down.$i" 2>&1 &
		pids="$pids $!"
	done
	for i in 1 2 3; do
		inC timeout 60 socat -t 30 -T 30 - TCP:$L4:9000 <"$TB/up.bin" >"$TB/upres.$i" 2>&1 &
		pids="$pids $!"
	done
	TB_PIDS="$TB_PIDS $pids"
	for i in $pids; do tb_reap "$i"; done
	bad=""
	for i in 1 2 3 4 5 6; do [ "$(cat "$TB/down.$i")" = "$MID_SHA" ] || bad="$bad down$i:$(head -c 80 "$TB/down.$i")"; done
	for i in 1 2 3; do [ "$(cat "$TB/upres.$i")" = "$UP_SHA" ] || bad="$bad up$i:$(head -c 80 "$TB/upres.$i")"; done
	if [ -z "$bad" ]; then pass "${p}parallel_intact"; else fail "${p}parallel_intact" "$bad"; fi
	# Each lane took its share (nine transfers, three a lane): two transfers' worth at least.
	spread=$(lanes_now | awk '$3 + $4 >= 16000000' | grep -c .)
	if [ "$spread" = 3 ]; then pass "${p}spread_over_lanes"; else
		fail "${p}spread_over_lanes" "lanes '$(lanes_now | tr '\n' '|')'"
	fi
	rm -f "$TB/up.bin"

	# One further lane's helper killed while each lane carries two downloads.
	# The earlier transfers' connections must be gone first: one left would
	# count as a download, and the sixth would open after the kill, beside it.
	if ! wait_open 0 30; then
		fail "${p}lane_killed_resets_only_its_own" "earlier connections still open after 30 s: $(open_total)"
	else
		start_slow
		per_lane=$(lanes_now | awk '{ print $2 }' | paste -sd' ')
		victim=$(helpers_in_s | tail -n 1)
	fi
	if [ -z "${per_lane:-}" ]; then
		:
	elif [ "$per_lane" != "2 2 2" ] || [ -z "$victim" ]; then
		fail "${p}lane_killed_resets_only_its_own" "before the kill: connections per lane '$per_lane', helper '$victim'"
		slow_results >/dev/null
	else
		pid_in_ns "$victim" "$NS_S" && kill -KILL "$victim"
		res=$(slow_results)
		if [ "$res" = "4 2" ] && grep -q "lane [12] of the session to $S4 dropped: the remote helper exited" "$SLUICE_LOG" &&
			! grep "the session to $S4 dropped" "$SLUICE_LOG" | grep -vq "^sluice: lane "; then
			pass "${p}lane_killed_resets_only_its_own"
		else
			fail "${p}lane_killed_resets_only_its_own" "intact/cut '$res': $(sluice_log_tail 3)"
		fi
	fi
	if wait_lanes 3 15 && [ "$(lanes_now | awk '{ s += $5 } END { print s }')" = 1 ]; then
		pass "${p}lane_comes_back"
	else
		fail "${p}lane_comes_back" "lanes '$(lanes_now | tr '\n' '|')': $(sluice_log_tail 3)"
	fi
	got=$(inC curl -sS --max-time 30 "http://$L4/mid.bin" 2>&1 | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$MID_SHA" ]; then pass "${p}download_after_lane_back"; else fail "${p}download_after_lane_back" "sha256 $got"; fi
	# Our own transport: a lane's worker killed as the OOM killer would. Its
	# drop says how it ended, and the lane comes back. (-e's workers only
	# wait for ssh: their lane ends with ssh, as the helper's kill showed.)
	[ -z "$p" ] || return 0
	victim=$(ps -o pid=,comm= --ppid "$SLUICE_PID" | awk '$2 == "sluice-lane2" { print $1 }')
	if [ -z "$victim" ] || ! kill -KILL "$victim"; then
		fail worker_killed_told "no worker of lane 2: $(ps -o pid=,comm= --ppid "$SLUICE_PID" | tr '\n' '|')"
		return 0
	fi
	end=$((SECONDS + 10))
	until grep -q "lane 2 of the session to $S4 dropped: .* (killed by SIGKILL); " "$SLUICE_LOG" ||
		[ $SECONDS -ge $end ]; do sleep 0.2; done
	if grep -q "lane 2 of the session to $S4 dropped: .* (killed by SIGKILL); " "$SLUICE_LOG" && wait_lanes 3 15; then
		pass worker_killed_told
	else
		fail worker_killed_told "lanes '$(lanes_now | tr '\n' '|')': $(sluice_log_tail 3)"
	fi
}

# --- three lanes ------------------------------------------------------------------
sluice_start_case start "http://$L4/" -r sshhost -v --lanes 3 198.51.100.0/24 || tb_finish
if wait_lanes 3 15; then pass three_lanes_up; else
	fail three_lanes_up "lanes '$(lanes_now | tr '\n' '|')', helpers in S: $(helpers_in_s | grep -c .): $(sluice_log_tail)"
	sluice_stop KILL 2
	tb_finish
fi
titles_case lane_workers_named 3
txt=$(inC "$SLUICE" --status 2>/dev/null)
if echo "$txt" | grep -q "^  lanes: 3; 0: .*; 1: .*; 2: "; then pass status_shows_lanes; else
	fail status_shows_lanes "$(echo "$txt" | tr '\n' '|')"
fi
# --lanes fixes the number: none of them is kept for interactive sessions (each says so).
if [ "$(sluice_lanes_have interactive)" = 3 ] && [ "$(sluice_lanes interactive | tr '\n' ' ')" = "0 0 0 " ] &&
	! echo "$txt" | grep -q "interactive"; then
	pass fixed_lanes_none_interactive
else
	fail fixed_lanes_none_interactive "interactive '$(sluice_lanes interactive | tr '\n' ' ')': $(echo "$txt" | grep lanes)"
fi

# Our own client: each lane is an SSH connection of its own.
n=$(ssh_conns)
if [ "$n" = 3 ]; then pass three_connections; else fail three_connections "$n SSH connections from C"; fi
lanes_traffic ""

# --- a lane whose login is refused when it reopens: the lanes above it go on ----------------
# Lane 1's SSH connection is cut while logins are refused (authorized_keys
# moved away, as an agent key that expired): lane 1's downloads are reset,
# lane 2's finish, and lane 1 is tried again only after ten minutes (each
# try offers every key: a server's fail2ban would ban the whole tunnel).
if wait_open 0 30; then
	start_slow
	per_lane=$(lanes_now | awk '{ print $2 }' | paste -sd' ')
	w1=$(ps -o pid=,comm= --ppid "$SLUICE_PID" | awk '$2 == "sluice-lane1" { print $1 }')
	port=$(inC ss -tnpH state established "( dport = :22 )" | grep "pid=$w1," | awk '{ split($3, a, ":"); print a[2] }' | head -n 1)
	sshds=$(inS ss -tnpH state established "( sport = :22 and dport = :${port:-0} )" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
	if [ "$per_lane" != "2 2 2" ] || [ -z "$sshds" ]; then
		fail lane_login_refused_others_go_on "connections per lane '$per_lane', lane 1 worker '$w1' port '$port' sshd '$sshds'"
		slow_results >/dev/null
	else
		mv "$TB/authorized_keys" "$TB/authorized_keys.off"
		for p in $sshds; do pid_in_ns "$p" "$NS_S" && kill -KILL "$p"; done
		res=$(slow_results)
		mv "$TB/authorized_keys.off" "$TB/authorized_keys"
		if [ "$res" = "4 2" ] && grep -q "opening lane 1 to $S4 failed: .*authentication failed.*; next try in 600 s" "$SLUICE_LOG"; then
			pass lane_login_refused_others_go_on
		else
			fail lane_login_refused_others_go_on "intact/cut '$res': $(grep -e "lane 1" -e "lane 2" "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
		fi
	fi
else
	fail lane_login_refused_others_go_on "earlier connections still open after 30 s: $(open_total)"
fi

# --- lane 0's helper killed: the whole session heals, lanes and all ----------------------
victim=$(helpers_in_s | head -n 1)
pid_in_ns "$victim" "$NS_S" && kill -KILL "$victim"
end=$((SECONDS + 20))
until grep -q "reconnected to $S4" "$SLUICE_LOG" || [ $SECONDS -ge $end ]; do sleep 0.3; done
if grep "the session to $S4 dropped: the remote helper exited" "$SLUICE_LOG" | grep -vq "^sluice: lane " &&
	grep -q "reconnected to $S4" "$SLUICE_LOG" && wait_lanes 3 15; then
	pass lane0_killed_session_heals
else
	fail lane0_killed_session_heals "lanes '$(lanes_now | tr '\n' '|')': $(sluice_log_tail 3)"
fi
stopped_clean stop_clean TERM
helper_gone helpers_gone

# --- -e ssh: further lanes are sessions through its ControlMaster ------------------------
sluice_start_case cmd_start "http://$L4/" -r sshhost -v --lanes 3 -e "ssh -F $TB/ssh_config" 198.51.100.0/24 || tb_finish
if wait_lanes 3 15; then pass cmd_three_lanes_up; else
	fail cmd_three_lanes_up "lanes '$(lanes_now | tr '\n' '|')', helpers in S: $(helpers_in_s | grep -c .): $(sluice_log_tail)"
	sluice_stop KILL 2
	tb_finish
fi
titles_case cmd_lane_workers_named 3
ctl=$(ns_ps "$NS_C" args= | grep -o 'ControlPath=[^ ]*' | head -n 1)
ctl=${ctl#ControlPath=}
n=$(ssh_conns)
if [ "$n" = 1 ] && [ -S "$ctl" ]; then pass cmd_one_connection; else
	fail cmd_one_connection "$n SSH connections from C, master socket '$ctl'"
fi
lanes_traffic cmd_
stopped_clean cmd_stop_clean TERM
helper_gone cmd_helpers_gone
if [ -n "$ctl" ] && [ ! -e "$(dirname "$ctl")" ]; then pass cmd_master_dir_gone; else
	fail cmd_master_dir_gone "'$ctl' is still there"
fi

# --- -e: a further lane's ssh says why it ended after its stdout closed ------------------
# wrap/ssh (named ssh: --lanes with -e takes OpenSSH's ssh only) runs ssh;
# for a further lane (through the master: ControlMaster=no) it then closes
# its stdout and, a moment later, says on stderr why it ended, as ssh may
# after its stdout. The lane's drop line in the log carries it.
mkdir -p "$TB/wrap"
{
	echo '#!/bin/sh'
	echo "$(command -v ssh) \"\$@\""
	cat <<'EOF'
rc=$?
case " $* " in
*" ControlMaster=no "*)
	exec >/dev/null </dev/null
	sleep 0.3
	echo "lane-ssh: ssh ended with status $rc" >&2
	;;
esac
exit $rc
EOF
} >"$TB/wrap/ssh"
chmod 755 "$TB/wrap/ssh"
sluice_start_case cmd_reason_start "http://$L4/" -r sshhost -v --lanes 2 -e "$TB/wrap/ssh -F $TB/ssh_config" 198.51.100.0/24 || tb_finish
if wait_lanes 2 15; then
	victim=$(helpers_in_s | tail -n 1)
	pid_in_ns "$victim" "$NS_S" && kill -KILL "$victim"
	end=$((SECONDS + 15))
	until grep -q "lane 1 of the session to $S4 dropped" "$SLUICE_LOG" || [ $SECONDS -ge $end ]; do sleep 0.2; done
	if grep -Eq "lane 1 of the session to $S4 dropped: the remote helper exited( with status [0-9]+)?: lane-ssh: ssh ended with status [0-9]+; " "$SLUICE_LOG"; then
		pass cmd_lane_drop_says_why
	else
		fail cmd_lane_drop_says_why "$(grep -e "dropped" -e "lane-ssh" "$SLUICE_LOG" | tr '\n' '|')"
	fi
else
	fail cmd_lane_drop_says_why "lanes '$(lanes_now | tr '\n' '|')', helpers in S: $(helpers_in_s | grep -c .): $(sluice_log_tail)"
fi
stopped_clean cmd_reason_stop_clean TERM
helper_gone cmd_reason_helpers_gone

# --- the default on a LAN: one lane, until someone types -------------------------------
# What an ssh session through the tunnel reaches: a listener on L's ssh port that echoes.
inL socat TCP-LISTEN:22,bind=$L4,reuseaddr,fork SYSTEM:cat </dev/null >/dev/null 2>&1 &
TB_PIDS="$TB_PIDS $!"
wait_port "$NS_L" 22 || tb_die "the echo on L's port 22 did not listen"
sluice_start_case default_start "http://$L4/" -r sshhost -v 198.51.100.0/24 || tb_finish
# Three round trips a second apart decide; give them time, then look.
sleep 5
n=$(lanes_now | grep -c .)
if grep -q "ms: one lane carries the connections" "$SLUICE_LOG" && [ "$n" = 1 ] && [ "$(helpers_in_s | grep -c .)" = 1 ]; then
	pass default_one_lane_on_lan
else
	fail default_one_lane_on_lan "lanes '$(lanes_now | tr '\n' '|')': $(grep "round trip" "$SLUICE_LOG" | tr '\n' '|')"
fi
# A session on the ssh port held open stays on lane 0 and opens lane 1 for the rest.
# (one process that holds the connection and says nothing)
ip netns exec "$NS_C" bash -c 'exec 3<>"/dev/tcp/$0/22" && exec sleep 60' "$L4" </dev/null >/dev/null 2>&1 &
HELD=$!
TB_PIDS="$TB_PIDS $HELD"
wait_lanes 2 20
# lanes_role: "up interactive" of each lane.
lanes_role() { sluice_lanes up interactive | tr '\n' '|'; }
if [ "$(lanes_role)" = "1 1|1 0|" ] && [ "$(helpers_in_s | grep -c .)" = 2 ] &&
	[ "$(lanes_now | sed -n 1p | cut -d' ' -f2)" = 1 ]; then
	pass default_typing_opens_lane1
else
	fail default_typing_opens_lane1 "lanes '$(lanes_role)', helpers in S $(helpers_in_s | grep -c .): $(lanes_now | tr '\n' '|')"
fi
# A download beside it goes to lane 1.
got=$(inC curl -sS --max-time 60 "http://$L4/mid.bin" 2>&1 | sha256sum | cut -d' ' -f1)
# "connections bytes_in" of lane 0 and lane 1
l0=$(lanes_now | sed -n 1p | cut -d' ' -f2,3)
l1=$(lanes_now | sed -n 2p | cut -d' ' -f2,3)
if [ "$got" = "$MID_SHA" ] && [ "$(lanes_role)" = "1 1|1 0|" ] && [ "${l0% *}" = 1 ] &&
	[ "${l0#* }" -lt 1000000 ] && [ "${l1#* }" -ge $((16 << 20)) ]; then
	pass default_download_off_the_interactive_lane
else
	fail default_download_off_the_interactive_lane "download sha256 $got; lanes '$(lanes_role)'; lane 0 '$l0', lane 1 '$l1' (connections bytes_in)"
fi
# echo_through PORT: a line typed through L's echo on PORT; TYPED is what came back, and
# IN0 and IN1 what lane 0 and lane 1 took in meanwhile (the echo's 11 bytes on one of them).
echo_through() {
	local a0 a1 b0 b1
	a0=$(lanes_now | sed -n 1p | cut -d' ' -f3)
	a1=$(lanes_now | sed -n 2p | cut -d' ' -f3)
	TYPED=$(printf 'typed line\n' | inC timeout 10 socat -t 1 - "TCP:$L4:$1" 2>&1)
	b0=$(lanes_now | sed -n 1p | cut -d' ' -f3)
	b1=$(lanes_now | sed -n 2p | cut -d' ' -f3)
	IN0=$((${b0:-0} - ${a0:-0}))
	IN1=$((${b1:-0} - ${a1:-0}))
}
# An echo through the ssh port comes back, over lane 0 (its bytes in grow by it, lane 1's do not).
echo_through 22
if [ "$TYPED" = "typed line" ] && [ "$(lanes_role)" = "1 1|1 0|" ] && [ "$IN0" -ge 11 ] && [ "$IN1" -lt 11 ]; then
	pass default_echo_over_lane0
else
	fail default_echo_over_lane0 "got '$TYPED'; lane 0 took in $IN0 bytes, lane 1 $IN1"
fi
txt=$(inC "$SLUICE" --status 2>/dev/null)
if echo "$txt" | grep -q "^  lanes: 2; 0 (interactive): .*; 1: "; then pass default_status_shows_interactive; else
	fail default_status_shows_interactive "$(echo "$txt" | grep lanes)"
fi
pid_in_ns "$HELD" "$NS_C" && kill -TERM "$HELD" 2>/dev/null
tb_reap "$HELD" >/dev/null
stopped_clean default_stop_clean TERM
helper_gone default_helpers_gone

# --- a busy machine: a LAN is not taken for a long path ------------------------------------
# The helper and two busy loops in a cgroup with 2% of a CPU: the loops spend
# the quota early in each second, and the helper answers a ping only in the
# next, as a far end does on a loaded machine or a container at its quota.
# The kernel's CPU pressure says why those round trips were long: they are
# set aside. Once the loops end, the round trips are short again and decide:
# one lane. A download runs until the cage is in place (its first try may
# beat the rules and go around the tunnel, on C's own route; through the
# tunnel its round trips are not quiet, and six of those would decide);
# a decision that came before the cage is said, and nothing is checked.
if ! cat /proc/pressure/cpu >/dev/null 2>&1; then
	echo "# busy_cpus: this kernel keeps no CPU pressure figures: not checked"
elif ! tb_cpu_cage 20000 1000000; then
	echo "# busy_cpus: no cgroup with a CPU quota can be made here: not checked"
else
	sluice_start -r sshhost -v 198.51.100.0/24
	# (in a process group of its own, ended whole below)
	ip netns exec "$NS_C" setsid bash -c 'for ((i = 0; i < 200; i++)); do
		curl -sf --limit-rate 2M --max-time 60 -o /dev/null "http://$0/mid.bin" && break; sleep 0.05; done' "$L4" \
		</dev/null >/dev/null 2>&1 &
	DL=$!
	TB_PIDS="$TB_PIDS $DL"
	sluice_wait_ready || { fail busy_start "$SLUICE_WHY"; tb_finish; }
	pass busy_start
	BUSY=""
	for i in 1 2; do
		(echo "$BASHPID" >"$TB_CAGE/cgroup.procs" &&
			exec ip netns exec "$NS_C" timeout 60 sh -c 'while :; do :; done') </dev/null >/dev/null 2>&1 &
		BUSY="$BUSY $!"
		TB_PIDS="$TB_PIDS $!"
	done
	helpers=$(helpers_in_s)
	for p in $helpers; do echo "$p" >"$TB_CAGE/cgroup.procs"; done
	# The loops join on their own, a moment after they start.
	want=$(($(echo $helpers | wc -w) + 2))
	for ((i = 0; i < 20; i++)); do
		caged=0
		for p in $helpers $BUSY; do grep -qx "$p" "$TB_CAGE/cgroup.procs" && caged=$((caged + 1)); done
		[ "$caged" = "$want" ] && break
		sleep 0.1
	done
	early=$(grep "the round trip to " "$SLUICE_LOG")
	pid_in_ns "$DL" "$NS_C" && kill -TERM -- "-$DL" 2>/dev/null
	tb_reap "$DL" >/dev/null
	# Six pings, a second apart, while the loops run.
	sleep 6
	aside=$(grep -c "not counted: the CPUs were busy" "$SLUICE_LOG")
	for p in $BUSY; do
		pid_in_ns "$p" "$NS_C" && kill -TERM "$p" 2>/dev/null
		tb_reap "$p" >/dev/null
	done
	end=$((SECONDS + 15))
	while [ $SECONDS -lt $end ] && ! grep -Eq "the round trip to .* ms: (one lane|carrying)" "$SLUICE_LOG"; do
		sleep 0.3
	done
	said=$(grep "the round trip to " "$SLUICE_LOG" | tr '\n' '|')
	if [ -n "$early" ]; then
		echo "# busy_cpus: the path decided before the cage was in place ($early): not checked"
	elif [ -z "$helpers" ] || [ "$caged" != "$want" ]; then
		fail busy_cpus_lan_one_lane "the helper ($helpers) and the two loops: $caged of $want in the cgroup"
	elif grep -q "ms: carrying the connections over" "$SLUICE_LOG"; then
		fail busy_cpus_lan_one_lane "$aside set aside, then: $said"
	elif ! grep -q "ms: one lane carries the connections" "$SLUICE_LOG"; then
		fail busy_cpus_lan_one_lane "no decision within 15 s of the loops' end ($aside set aside): $(sluice_log_tail)"
	elif [ "$aside" = 0 ]; then
		echo "# busy_cpus: no round trip was slowed by the quota ($said): not checked"
	else
		pass busy_cpus_lan_one_lane
	fi
	echo "# busy_cpus: $aside round trips set aside while the loops ran"
	stopped_clean busy_stop_clean TERM
	helper_gone busy_helpers_gone
fi

# --- a LAN behind a download from the first moment: still one lane ---------------------------
# Round trips taken behind a transfer that never pauses are long by what the
# queues hold; the path decides on the shortest of them, and a LAN stays a
# LAN. Only a decision taken on such round trips (the log says so) is judged.
zeros_serve
sluice_start -r sshhost -v 198.51.100.0/24
if ! sluice_wait_ready; then
	fail busy_lan_start "$SLUICE_WHY"
else
	pass busy_lan_start
	zeros_start
	wait_decided 30
	zeros_stop
	said=$(grep -e "the round trip to " -e "lane 0 was busy" "$SLUICE_LOG" | tr '\n' '|')
	if ! grep -q "lane 0 was busy for " "$SLUICE_LOG"; then
		echo "# busy_lan_one_lane: not checked, quiet round trips decided ($said; read $(cat "$TB/zeros" 2>/dev/null))"
	elif grep -q "ms: one lane carries the connections" "$SLUICE_LOG" && [ "$(lanes_now | grep -c .)" = 1 ]; then
		pass busy_lan_one_lane
	else
		fail busy_lan_one_lane "$said lanes '$(lanes_now | tr '\n' '|')'"
	fi
	stopped_clean busy_lan_stop_clean TERM
fi

# --- --interactive-ports: the user's list decides, not the default ------------------------
# An ssh on another port (L's 2222 echoes too); port 22 is then like any other.
inL socat TCP-LISTEN:2222,bind=$L4,reuseaddr,fork SYSTEM:cat </dev/null >/dev/null 2>&1 &
TB_PIDS="$TB_PIDS $!"
wait_port "$NS_L" 2222 || tb_die "the echo on L's port 2222 did not listen"
sluice_start_case ports_start "http://$L4/" -r sshhost -v --interactive-ports 2222 198.51.100.0/24 || tb_finish
sleep 5
# A session to port 22, held as long as the one above was: no second lane.
ip netns exec "$NS_C" bash -c 'exec 3<>"/dev/tcp/$0/22" && exec sleep 60' "$L4" </dev/null >/dev/null 2>&1 &
HELD=$!
TB_PIDS="$TB_PIDS $HELD"
# (the lanes split at once in lanes_pick, when they do; lane 1's login is what takes time)
sleep 2
if grep -q "ms: one lane carries the connections" "$SLUICE_LOG" && [ "$(lanes_now | grep -c .)" = 1 ] &&
	[ "$(lanes_now | cut -d' ' -f2)" = 1 ] && [ "$(sluice_lanes up interactive | tr '\n' '|')" = "1 0|" ]; then
	pass ports_default_not_kept
else
	fail ports_default_not_kept "lanes '$(lanes_role)': $(lanes_now | tr '\n' '|'): $(grep "round trip" "$SLUICE_LOG" | tr '\n' '|')"
fi
pid_in_ns "$HELD" "$NS_C" && kill -TERM "$HELD" 2>/dev/null
tb_reap "$HELD" >/dev/null
# One to 2222 opens lane 1 and keeps lane 0; an echo there crosses lane 0.
ip netns exec "$NS_C" bash -c 'exec 3<>"/dev/tcp/$0/2222" && exec sleep 60' "$L4" </dev/null >/dev/null 2>&1 &
HELD=$!
TB_PIDS="$TB_PIDS $HELD"
wait_lanes 2 20
echo_through 2222
if [ "$(lanes_role)" = "1 1|1 0|" ] && [ "$TYPED" = "typed line" ] && [ "$IN0" -ge 11 ] && [ "$IN1" -lt 11 ]; then
	pass ports_listed_kept
else
	fail ports_listed_kept "got '$TYPED'; lanes '$(lanes_role)'; lane 0 took in $IN0 bytes, lane 1 $IN1"
fi
# Port 22 is not on the list: its echo crosses lane 1 now, not lane 0.
echo_through 22
if [ "$TYPED" = "typed line" ] && [ "$(lanes_role)" = "1 1|1 0|" ] && [ "$IN1" -ge 11 ] && [ "$IN0" -lt 11 ]; then
	pass ports_unlisted_over_lane1
else
	fail ports_unlisted_over_lane1 "got '$TYPED'; lane 0 took in $IN0 bytes, lane 1 $IN1"
fi
pid_in_ns "$HELD" "$NS_C" && kill -TERM "$HELD" 2>/dev/null
tb_reap "$HELD" >/dev/null
stopped_clean ports_stop_clean TERM
helper_gone ports_helpers_gone

# --- a slow LAN behind a download from the first moment: one lane once quiet --------------
# 100 Mbit/s and a millisecond each way (the delay line): behind a download
# every round trip waits for what the queues hold, and the path may be
# taken for a long one. Once the download ends, a quiet round trip says
# what it is: back to one lane, the further ones closed, their helpers gone.
if ! tb_delayline_start 1 100; then
	fail slowlan_delay_line "the delay line did not start: $(tail -n 2 "$TB/delayline4.log" | tr '\n' ' ')"
else
	sluice_start -r sshhost -v 198.51.100.0/24
	if ! sluice_wait_ready; then
		fail slowlan_start "$SLUICE_WHY"
	else
		pass slowlan_start
		zeros_start
		wait_decided 45
		zeros_stop
		if ! grep -q "ms: carrying the connections over" "$SLUICE_LOG"; then
			echo "# slowlan_back_to_one_lane: not checked, not taken for a long path ($(grep "round trip to " "$SLUICE_LOG" | tr '\n' '|'))"
		else
			for ((i = 0; i < 150; i++)); do
				grep -q "once quiet (the first ones waited behind a transfer): back to 1 lane$" "$SLUICE_LOG" &&
					[ "$(lanes_now | awk '$1 == 1' | grep -c .)" = 1 ] && [ "$(helpers_in_s | grep -c .)" = 1 ] && break
				sleep 0.2
			done
			if [ "$i" -lt 150 ]; then pass slowlan_back_to_one_lane; else
				fail slowlan_back_to_one_lane "lanes '$(lanes_now | tr '\n' '|')', helpers in S $(helpers_in_s | grep -c .): $(grep -e "round trip" -e "busy" "$SLUICE_LOG" | tr '\n' '|')"
			fi
		fi
		stopped_clean slowlan_stop_clean TERM
	fi
	tb_delayline_stop
fi

# --- -e ssh on a long path: the path decides, through a ControlMaster of sluice's own ----
tb_delayline_start 100 || tb_die "the delay line did not start: $(tail -n 2 "$TB/delayline4.log" | tr '\n' ' ')"
sluice_start_case cmd_wan_start "http://$L4/" -r sshhost -v -e "ssh -F $TB/ssh_config" 198.51.100.0/24 || tb_finish
for ((i = 0; i < 100; i++)); do
	n=$(sed -n 's/.* ms: carrying the connections over \([0-9]*\) lanes$/\1/p' "$SLUICE_LOG" | head -n 1)
	[ -n "$n" ] && break
	proc_alive "$SLUICE_PID" || break
	sleep 0.2
done
# The lanes for bulk, and the interactive lane after them.
if [ "${n:-0}" -ge 2 ] && wait_lanes $((n + 1)) 40; then
	pass cmd_wan_path_opens_lanes
else
	fail cmd_wan_path_opens_lanes "lanes '$(lanes_now | tr '\n' '|')', helpers in S: $(helpers_in_s | grep -c .): $(sluice_log_tail)"
fi
ctl=$(ns_ps "$NS_C" args= | grep -o 'ControlPath=[^ ]*' | head -n 1)
ctl=${ctl#ControlPath=}
n=$(ssh_conns)
if [ "$n" = 1 ] && [ -S "$ctl" ]; then pass cmd_wan_one_connection; else
	fail cmd_wan_one_connection "$n SSH connections from C, master socket '$ctl'"
fi
got=$(inC curl -sS --max-time 60 "http://$L4/mid.bin" 2>&1 | sha256sum | cut -d' ' -f1)
if [ "$got" = "$MID_SHA" ]; then pass cmd_wan_download; else fail cmd_wan_download "sha256 $got"; fi
stopped_clean cmd_wan_stop_clean TERM
helper_gone cmd_wan_helpers_gone

# A ControlPath of the user's: sluice's ssh goes through the user's own master, on one lane.
UCFG=$TB/ssh_config_user_master
UCTL=$TB/user-cm
{
	echo "ControlMaster auto"
	echo "ControlPath $UCTL"
	cat "$TB/ssh_config"
} >"$UCFG"
ip netns exec "$NS_C" ssh -F "$UCFG" -M -N sshhost </dev/null >"$TB/user-master.log" 2>&1 &
MPID=$!
TB_PIDS="$TB_PIDS $MPID"
for ((i = 0; i < 150; i++)); do
	[ -S "$UCTL" ] && break
	proc_alive "$MPID" || break
	sleep 0.1
done
if [ ! -S "$UCTL" ]; then
	fail cmd_user_master_up "the user's master did not listen: $(tail -n 2 "$TB/user-master.log" | tr '\n' ' ')"
elif sluice_start_case cmd_user_master_start "http://$L4/" -r sshhost -v -e "ssh -F $UCFG" 198.51.100.0/24; then
	# Three round trips a second apart would have decided by now, were the path asked.
	sleep 5
	n=$(ssh_conns)
	if [ "$(lanes_now | grep -c .)" = 1 ] && [ "$(helpers_in_s | grep -c .)" = 1 ] && [ "$n" = 1 ] &&
		! ns_ps "$NS_C" args= | grep -q 'sluice-direct' &&
		grep -q -- "-e: one lane: .*ControlMaster or ControlPath of the user's" "$SLUICE_LOG"; then
		pass cmd_user_master_one_lane
	else
		fail cmd_user_master_one_lane "lanes '$(lanes_now | tr '\n' '|')', $n SSH connections from C: $(grep -e '-e: ' "$SLUICE_LOG" | tr '\n' '|')"
	fi
	sluice_stop TERM 5
	if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass cmd_user_master_stop; else
		fail cmd_user_master_stop "exit status $SLUICE_RC: $(sluice_log_tail)"
	fi
fi
pid_in_ns "$MPID" "$NS_C" && kill -TERM "$MPID" 2>/dev/null
tb_reap "$MPID" >/dev/null
left=$(ip netns pids "$NS_C")
if [ -z "$left" ]; then pass cmd_user_master_nothing_left; else
	fail cmd_user_master_nothing_left "processes left in C: $(ps -o args= -p "$(echo $left | tr ' ' ,)" | tr '\n' '|')"
fi
helper_gone cmd_user_master_helpers_gone

tb_finish
