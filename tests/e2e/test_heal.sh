#!/bin/bash
# test_heal: a session that drops comes back by itself, and nothing leaks
# meanwhile. The user's sshd session killed; sshd down for 5 s; port 22
# silently dropped for 20 s (ServerAliveInterval 5); the client stopped for
# 40 s; the client and its lanes stopped together for 20 s (a ^Z), which
# drops nothing and keeps every lane's connections; a server gone during a
# ^Z is found within the wake-up check's 10 s, though bytes that came
# meanwhile wait for sluice; a download cut by an sshd restart fails visibly; authentication
# refused on reconnect ends it; --no-reconnect exits; stale conntrack
# entries of an earlier tunnel are deleted at start; and while the session
# is down, a new connection is held, then reset, and never reaches the lan
# by another path, even with forwarding on in S; a reconnect that takes the
# server's other address, inside the routed networks, is not captured,
# nor one the server's name gained after the start (with -e too); the
# network down for longer than the keepalives allow, awake or waking up
# (with -e too), drops nothing once it returns; and the connection's own
# address gone drops the session before the keepalives would. Waits are
# bounded.
TB_SUITE=heal
. "$(dirname "$0")/lib.sh"
need_sluice
for c in conntrack ab; do
	command -v $c >/dev/null || {
		fail tools "$c is not installed (run tests/deps.sh)"
		exit 1
	}
done
# S answers SSH on a lan address too, for the reconnect that takes it (below).
TB_SSHD_EXTRA="ListenAddress 203.0.113.1:22"
tb_up
BIG_SHA=$(tb_make_file big.bin $((256 << 20))) || tb_die "cannot write big.bin"
SMALL_SHA=$(tb_make_file small.bin $((4 << 20))) || tb_die "cannot write small.bin"
# A config whose keepalives find a silent server in 15 s.
{ sed '/^Host \*/,$d' "$TB/ssh_config"; echo "Host sshhost-alive"; echo "	HostName $S4"
	echo "	IdentityFile $TB/id_ed25519"; echo "	ServerAliveInterval 5"
	tb_ssh_defaults "$TB/known_hosts"; } >"$TB/ssh_config_alive"

get_ok() { inC curl -sf --connect-timeout 3 --max-time 5 -o /dev/null "http://$L4/"; }
# within SECONDS: true once a GET through the tunnel works (polled twice a second).
within() {
	local end=$((SECONDS + $1))
	until get_ok; do
		[ $SECONDS -lt "$end" ] && proc_alive "$SLUICE_PID" || return 1
		sleep 0.5
	done
}
# table_watch: in the background, one line per 0.2 s while the table is missing.
table_watch_start() {
	(while :; do nft_table_present || echo missing; sleep 0.2; done) >"$TB/table.watch" 2>&1 &
	WATCH=$!
	TB_PIDS="$TB_PIDS $WATCH"
}
table_watch_stop() { kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null; tb_forget "$WATCH"; }

# --- the session killed on the server -------------------------------------------
sluice_start_case start http://$L4/ -r sshhost -v 198.51.100.0/24 || tb_finish
table_watch_start
kill_sessions
t0=$SECONDS
if within 15 && grep -q "the session to $S4 dropped: the SSH server closed the connection" "$SLUICE_LOG" &&
	grep -q "reconnected to $S4" "$SLUICE_LOG"; then
	pass session_killed_back
else
	fail session_killed_back "not back within 15 s: $(sluice_log_tail 4)"
fi
echo "# back after about $((SECONDS - t0)) s"

# --- sshd down for 5 s ------------------------------------------------------------
kill "$SSHD_PID" 2>/dev/null
wait "$SSHD_PID" 2>/dev/null
tb_forget "$SSHD_PID"
kill_sessions
sleep 5
get_ok && fail sshd_down_held "a GET went through while sshd was down"
tb_sshd || tb_die "sshd did not start again"
if within 15; then pass sshd_down_back; else fail sshd_down_back "not back within 15 s of sshd's return: $(sluice_log_tail 4)"; fi
table_watch_stop
if [ ! -s "$TB/table.watch" ]; then pass rules_never_left; else
	fail rules_never_left "the table was missing $(grep -c missing "$TB/table.watch") times"
fi

# --- a download cut by an sshd restart fails visibly --------------------------------
inC curl -sS --max-time 60 --limit-rate 20M -o "$TB/cut.bin" "http://$L4/big.bin" 2>"$TB/cut.err" &
CURL=$!
TB_PIDS="$TB_PIDS $CURL"
sleep 1.5
kill_sessions
wait "$CURL"
rc=$?
tb_forget "$CURL"
size=$(stat -c %s "$TB/cut.bin" 2>/dev/null || echo 0)
if [ "$rc" != 0 ] && [ "$size" -lt $((256 << 20)) ] && [ "$size" -gt 0 ]; then
	pass cut_download_fails_visibly
else
	fail cut_download_fails_visibly "curl exit $rc with $size bytes: $(cat "$TB/cut.err")"
fi
echo "# the cut download: curl exit $rc after $size bytes ($(tr '\n' ' ' <"$TB/cut.err"))"
within 15 || fail cut_then_back "not back: $(sluice_log_tail 3)"
got=$(inC curl -sS --max-time 30 "http://$L4/small.bin" | sha256sum | cut -d' ' -f1)
if [ "$got" = "$SMALL_SHA" ]; then pass next_download_intact; else fail next_download_intact "got $got"; fi

# --- the client stopped for 40 s ---------------------------------------------------
kill -STOP "$SLUICE_PID"
sleep 40
kill -CONT "$SLUICE_PID"
if within 30; then pass sigstop_40s_back; else fail sigstop_40s_back "not back within 30 s: $(sluice_log_tail 4)"; fi
sluice_stop TERM 5
if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass stop_after_heals; else
	fail stop_after_heals "exit $SLUICE_RC, table $(nft_table_count)"
fi

# --- silent loss: port 22 dropped in S for 20 s --------------------------------------
SLUICE_CFG=$TB/ssh_config_alive sluice_start_case alive_start http://$L4/ -r sshhost-alive -v 198.51.100.0/24 || tb_finish
inS nft -f - <<'EOF'
table inet tbdrop {
	chain in { type filter hook input priority -10; tcp dport 22 drop; }
	chain out { type filter hook output priority -10; tcp sport 22 drop; }
}
EOF
sleep 20
inS nft delete table inet tbdrop
if within 45 && grep -q "dropped: no answer from the SSH server for 15 s" "$SLUICE_LOG"; then
	pass silent_loss_back_with_cause
else
	fail silent_loss_back_with_cause "$(grep -E 'dropped|reconnect' "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
fi
sluice_stop TERM 5

# held_start N: N echo connections to L through the tunnel, held until $TB/held.go.
held_start() {
	rm -f "$TB/held.up" "$TB/held.go"
	inC timeout 150 "$PY" -c '
import os, socket, sys, time
path, n = sys.argv[2], int(sys.argv[3])
ss = [socket.create_connection((sys.argv[1], 9001), timeout=10) for i in range(n)]
for s in ss:
    s.sendall(b"a")
    assert s.recv(1) == b"a"
open(path + ".up", "w").close()
end = time.monotonic() + 120
while not os.path.exists(path + ".go") and time.monotonic() < end:
    time.sleep(0.1)
ok = 0
for s in ss:
    # After a stop or a link down TCP may have backed off: its next try may take as long again.
    s.settimeout(60)
    try:
        s.sendall(b"b")
        ok += s.recv(1) == b"b"
    except OSError:
        pass
print("ok", ok)' "$L4" "$TB/held" "$1" >"$TB/held.out" 2>&1 &
	HELD=$!
	TB_PIDS="$TB_PIDS $HELD"
	for ((i = 0; i < 100; i++)); do [ -e "$TB/held.up" ] && break; sleep 0.1; done
	[ -e "$TB/held.up" ]
}
held_end() {
	touch "$TB/held.go"
	tb_reap "$HELD"
}

# --- a ^Z for 20 s: sluice and its lane workers stopped together --------------------------
# As a shell stops a job: every process of it, for longer than the keepalives
# (every 5 s, dead after 15 s without an answer) and the lanes' reports (a
# worker silent for 15 s is taken for stuck) allow. What went unread while
# stopped is not the server's silence: nothing is taken for dead, and the
# connections held on every lane still echo afterwards. A download runs
# through it, so that the stop also finds sluice busy, not only waiting,
# and goes on after it.
zeros_serve
SLUICE_CFG=$TB/ssh_config_alive sluice_start_case ctrlz_start http://$L4/ -r sshhost-alive -v --lanes 3 198.51.100.0/24 || tb_finish
for ((i = 0; i < 100; i++)); do
	[ "$(sluice_lanes up | grep -c '^1$')" = 3 ] && break
	sleep 0.2
done
zeros_start
held_start 6
per_lane=$(sluice_lanes up connections | tr '\n' '|')
job="$SLUICE_PID $(ps -o pid= --ppid "$SLUICE_PID" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $job
sleep 20
# shellcheck disable=SC2086
kill -CONT $job
# The keepalive's answer, a round trip on the LAN, comes back within a tick or two.
sleep 3
held_end
sleep 1
zeros_stop
# Seven connections: each lane carries some (the fewest first).
spread=$(echo "$per_lane" | tr '|' '\n' | awk '$1 == 1 && $2 >= 2' | grep -c .)
if [ ! -e "$TB/held.up" ]; then
	fail ctrlz_20s_connections_kept "the six connections did not open: $(cat "$TB/held.out")"
elif [ "$spread" != 3 ]; then
	fail ctrlz_20s_connections_kept "the connections did not spread over three lanes up: '$per_lane'"
elif [ "$(cat "$TB/held.out")" = "ok 6" ] && ! grep -q "dropped" "$SLUICE_LOG" &&
	[ "$(cut -d' ' -f2- "$TB/zeros" 2>/dev/null)" = "0 stopped" ] &&
	grep -q "sluice did not run for 2[0-9] s: checking the session" "$SLUICE_LOG"; then
	pass ctrlz_20s_connections_kept
else
	fail ctrlz_20s_connections_kept "echoes '$(cat "$TB/held.out")', download '$(cat "$TB/zeros" 2>/dev/null)' (connections per lane before: $per_lane): $(grep -e dropped -e "did not run" "$SLUICE_LOG" | tr '\n' '|')"
fi
sluice_stop TERM 5

# --- a ^Z while bytes come, and the server gone meanwhile ------------------------------
# Bytes that reach this machine while sluice is stopped wait in its socket
# and are read at once when it goes on: they are no answer from the
# server. The check on waking must still find the server gone within its
# 10 s, not leave it to the keepalives (ssh's default under BatchMode,
# which this config sets: one every 300 s). A connection through the tunnel, idle when sluice
# stops (so that sluice waits for events, as most of the time), gets a
# burst from L 4 s later; then the user's sshd session and the helper stop
# in S, whose kernel still acknowledges.
inL socat TCP-LISTEN:9103,bind=$L4,reuseaddr,fork SYSTEM:'sleep 4; head -c 1000000 /dev/zero; sleep 60' </dev/null >/dev/null 2>&1 &
TB_PIDS="$TB_PIDS $!"
wait_port "$NS_L" 9103 || tb_die "the burst on L's port 9103 did not listen"
sluice_start_case probe_start http://$L4/ -r sshhost -v 198.51.100.0/24 || tb_finish
inC timeout 60 "$PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 9103), timeout=10)
s.settimeout(50)
try:
    while s.recv(1 << 16):
        pass
except OSError:
    pass' "$L4" >/dev/null 2>&1 &
BURST=$!
TB_PIDS="$TB_PIDS $BURST"
s_session() {
	local p
	for p in $(ip netns pids "$NS_S"); do
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
		"sshd: sluicet"* | *sluice-helper*--serve*) echo "$p" ;;
		esac
	done
}
sleep 1
job="$SLUICE_PID $(ps -o pid= --ppid "$SLUICE_PID" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $job
sleep 7
far=$(s_session | tr '\n' ' ')
# shellcheck disable=SC2086
[ -n "$far" ] && kill -STOP $far
queued=$(inC ss -Htn state established "dst $S4:22" | awk '{ s += $1 } END { print s + 0 }')
sleep 1
# shellcheck disable=SC2086
kill -CONT $job
t0=$SECONDS
for ((i = 0; i < 250; i++)); do
	grep -q "dropped: " "$SLUICE_LOG" && break
	sleep 0.2
done
took=$((SECONDS - t0))
# shellcheck disable=SC2086
[ -n "$far" ] && kill -CONT $far
kill_sessions
tb_reap "$BURST" >/dev/null
echo "# $queued bytes waited in C's socket to sshd during the stop; dropped after ${took} s"
if [ -z "$far" ] || [ "$queued" -lt 65536 ]; then
	fail stale_bytes_no_answer "the burst did not wait in C's buffers during the stop ($queued bytes; far end '$far')"
elif grep -q "dropped: no answer from the SSH server within 10 s of waking up" "$SLUICE_LOG"; then
	pass stale_bytes_no_answer
else
	fail stale_bytes_no_answer "after ${took} s: $(grep -e dropped -e "did not run" "$SLUICE_LOG" | tr '\n' '|')"
fi
sluice_stop TERM 5

# --- authentication refused on reconnect -----------------------------------------------
sluice_start_case auth_start http://$L4/ -r sshhost 198.51.100.0/24 || tb_finish
cp "$TB/authorized_keys" "$TB/authorized_keys.saved"
: >"$TB/authorized_keys"
kill_sessions
for ((i = 0; i < 150; i++)); do proc_alive "$SLUICE_PID" || break; sleep 0.1; done
sluice_stop TERM 1
cp "$TB/authorized_keys.saved" "$TB/authorized_keys"
if [ "$SLUICE_RC" != 0 ] && [ "$SLUICE_RC" != timeout ] && ! nft_table_present &&
	grep -q "trying again cannot help: authentication failed" "$SLUICE_LOG"; then
	pass auth_refused_stops
else
	fail auth_refused_stops "exit $SLUICE_RC, table $(nft_table_count): $(sluice_log_tail 2)"
fi

# --- --no-reconnect -----------------------------------------------------------------------
sluice_start_case noreconnect_start http://$L4/ -r sshhost --no-reconnect 198.51.100.0/24 || tb_finish
kill_sessions
for ((i = 0; i < 100; i++)); do proc_alive "$SLUICE_PID" || break; sleep 0.1; done
sluice_stop TERM 1
if [ "$SLUICE_RC" = 1 ] && ! nft_table_present && ! grep -q "reconnect attempt" "$SLUICE_LOG" &&
	grep -q "dropped: .*(--no-reconnect)" "$SLUICE_LOG"; then
	pass no_reconnect_exits
else
	fail no_reconnect_exits "exit $SLUICE_RC, table $(nft_table_count): $(sluice_log_tail 2)"
fi

# --- stale conntrack entries of an earlier tunnel ------------------------------------------
# 2000 flows to the lan, redirected to a listener that is gone (port 9), as a
# killed tunnel leaves them: a new connection from one of those source ports
# matches the old entry and goes nowhere.
for ((p = 40000; p < 42000; p++)); do
	echo "-I -p tcp -s $C4 -d $L4 --sport $p --dport 80 --state ESTABLISHED -t 600 --dst-nat 127.0.0.1:9"
done | inC conntrack -R - >/dev/null 2>&1 ||
	for ((p = 40000; p < 42000; p++)); do
		inC conntrack -I -p tcp -s $C4 -d $L4 --sport $p --dport 80 --state ESTABLISHED \
			-t 600 --dst-nat 127.0.0.1:9 >/dev/null 2>&1
	done
stale=$(inC conntrack -L -p tcp --dport 80 2>/dev/null | grep -c 'sport=9 ')
inC curl -s --local-port 40123 --connect-timeout 2 -o /dev/null http://$L4/
probe=$?
echo "# $stale stale entries; a connection from one of their ports without sluice: curl exit $probe"
# The admin's own redirect of a local port, in a routed network: a live flow
# through it is not sluice's, and must outlive sluice's start (CT_FLUSH)
# and stop (REMOVE). The server speaks first, every 100 ms: had its entry
# gone, the client would answer its next packet with a reset.
inC ip addr add 198.51.100.77/32 dev lo
inC nft -f - <<EOF
table inet tbadmin {
	chain out {
		type nat hook output priority -100;
		ip daddr 198.51.100.77 tcp dport 8080 redirect to :9101
	}
}
EOF
cat >"$TB/adminflow.py" <<'EOF'
import socket, sys, threading, time, os
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 9101))
srv.listen(1)
def push():
    c, _ = srv.accept()
    try:
        while True:
            c.sendall(b"x")
            time.sleep(0.1)
    except OSError:
        pass
threading.Thread(target=push, daemon=True).start()
cl = socket.create_connection(("198.51.100.77", 8080), timeout=3)
open(sys.argv[1] + ".up", "w").close()
n = 0
try:
    while not os.path.exists(sys.argv[1] + ".stop"):
        if not cl.recv(100):
            raise OSError("closed by the peer")
        n += 1
    print("ok", n)
except OSError as e:
    print("fail after %d reads: %s" % (n, e))
EOF
inC "$PY" "$TB/adminflow.py" "$TB/adminflow" >"$TB/adminflow.out" 2>&1 &
ADMINFLOW=$!
TB_PIDS="$TB_PIDS $ADMINFLOW"
for ((i = 0; i < 50; i++)); do [ -e "$TB/adminflow.up" ] && break; sleep 0.1; done
sluice_start_case stale_start http://$L4/ -r sshhost 198.51.100.0/24 || tb_finish
deleted=$(grep -o 'deleted [0-9]* stale conntrack entries' "$SLUICE_LOG" | grep -o '[0-9]*')
inC curl -s --local-port 40123 --max-time 5 -o /dev/null http://$L4/
after=$?
out=$(inC ab -q -n 6000 -c 50 -s 10 http://$L4/ 2>&1)
failed=$(echo "$out" | awk '/^Failed requests:/ { print $3 }')
complete=$(echo "$out" | awk '/^Complete requests:/ { print $3 }')
if [ "$stale" -ge 2000 ] && [ "$probe" != 0 ] && [ "${deleted:-0}" -ge 2000 ] && [ "$after" = 0 ] &&
	[ "$complete" = 6000 ] && [ "$failed" = 0 ]; then
	pass stale_conntrack_cleared
else
	fail stale_conntrack_cleared "stale $stale, probe $probe, deleted '${deleted:-none}', after $after, ab: $complete complete, $failed failed $(echo "$out" | grep -i error | head -n 2 | tr '\n' '|')"
fi
echo "# ab through sluice after the flush: $complete complete, $failed failed"
sluice_stop TERM 5
left=$(inC conntrack -L -p tcp --dport 80 2>/dev/null | grep -c "dst=$L4")
if [ "$SLUICE_RC" = 0 ] && [ "$left" = 0 ]; then pass own_conntrack_cleared_on_stop; else
	fail own_conntrack_cleared_on_stop "exit $SLUICE_RC; $left entries to $L4:80 left"
fi
sleep 1
admin=$(inC conntrack -L -p tcp --orig-dst 198.51.100.77 --dport 8080 2>/dev/null | grep -c 'sport=9101 ')
touch "$TB/adminflow.stop"
wait "$ADMINFLOW"
tb_forget "$ADMINFLOW"
flow=$(cat "$TB/adminflow.out")
if [ -e "$TB/adminflow.up" ] && [ "${flow%% *}" = ok ] && [ "$admin" = 1 ]; then
	pass admin_redirect_survives_start_stop
else
	fail admin_redirect_survives_start_stop "flow '$(echo "$flow" | tail -n 1)', its entry $admin"
fi
inC nft delete table inet tbadmin
inC ip addr del 198.51.100.77/32 dev lo

# --- while down, nothing leaks ---------------------------------------------------------------
inL nft -f - <<EOF
table inet tbleak {
	chain input {
		type filter hook input priority -10;
		ip saddr $C4 counter
	}
}
EOF
leaked() { inL nft list table inet tbleak | grep -o 'packets [0-9]*' | grep -o '[0-9]*' || echo none; }
sluice_start_case leak_start http://$L4/ -r sshhost 198.51.100.0/24 || tb_finish
inS sysctl -qw net.ipv4.ip_forward=1
kill "$SSHD_PID" 2>/dev/null
wait "$SSHD_PID" 2>/dev/null
tb_forget "$SSHD_PID"
kill_sessions
sleep 1
t0=$SECONDS
inC curl -s --max-time 30 -o /dev/null http://$L4/
rc=$?
held=$((SECONDS - t0))
n_leak=$(leaked)
if [ "$rc" != 0 ] && [ "$held" -ge 8 ] && [ "$held" -le 20 ] && [ "$n_leak" = 0 ] && nft_table_present; then
	pass down_holds_then_resets
else
	fail down_holds_then_resets "curl exit $rc after $held s, $n_leak packets from C at L, table $(nft_table_count)"
fi
sluice_stop TERM 5
# The gate: with the rules gone, the same GET does reach L through S's forwarding.
inC curl -s --max-time 5 -o /dev/null http://$L4/
n_leak=$(leaked)
if [ "$n_leak" != none ] && [ "$n_leak" -gt 0 ]; then pass leak_path_exists; else
	fail leak_path_exists "no packet from C reached L even without sluice: the case above proves nothing"
fi
inS sysctl -qw net.ipv4.ip_forward=0
tb_sshd || tb_die "sshd did not start again"

# --- a reconnect that takes the server's other address --------------------------------------
# dualhost is S under two addresses (C's /etc/hosts): 192.0.2.2, outside the
# routed networks, and 203.0.113.1, inside them. The session starts on the
# first; with that one refused, the reconnect takes the second, which the
# rules must already keep out of the tunnel, or they capture the very SSH
# connection that is to carry it, and the tunnel never comes back.
ed=$(cut -d' ' -f1,2 "$TB/ssh_host_ed25519_key.pub")
printf '%s %s\n' dualhost "$ed" $S4 "$ed" 203.0.113.1 "$ed" >"$TB/known_hosts_dual"
{ sed '/^Host \*/,$d' "$TB/ssh_config"; echo "Host dualhost"; echo "	IdentityFile $TB/id_ed25519"
	tb_ssh_defaults "$TB/known_hosts_dual"; } >"$TB/ssh_config_dual"
printf '%s dualhost\n203.0.113.1 dualhost\n' $S4 >>"/etc/netns/$NS_C/hosts"
# s4_refuse: S refuses SSH on 192.0.2.2 and ends the sessions it has; s4_allow undoes it.
s4_refuse() {
	inS nft -f - <<'EOF'
table inet tbdual {
	chain in {
		type filter hook input priority 0; policy accept;
		ip daddr 192.0.2.2 tcp dport 22 reject with tcp reset
	}
}
EOF
	kill_sessions
}
s4_allow() { inS nft delete table inet tbdual; }
SLUICE_CFG=$TB/ssh_config_dual sluice_start -r dualhost 198.51.100.0/24 203.0.113.0/24
if ! sluice_wait_ready "http://$L4/"; then
	fail reconnect_other_address "$SLUICE_WHY"
elif ! grep -q "connecting to dualhost ($S4)" "$SLUICE_LOG"; then
	echo "# reconnect_other_address: the first session took $(grep -o 'connecting to dualhost ([^)]*)' "$SLUICE_LOG" | head -n 1): not checked"
	sluice_stop TERM 5
else
	s4_refuse
	if within 30 && grep -q "reconnected" "$SLUICE_LOG" &&
		grep -q "connecting to dualhost (203.0.113.1)" "$SLUICE_LOG"; then
		pass reconnect_other_address
	else
		fail reconnect_other_address "$(grep -E 'reconnect|connecting to' "$SLUICE_LOG" | tail -n 4 | tr '\n' '|')"
	fi
	s4_allow
	sluice_stop TERM 5
fi
sed -i '/ dualhost$/d' "/etc/netns/$NS_C/hosts"

# --- a reconnect to an address the server's name gained since the start ----------------
# gainhost is S at 192.0.2.2 alone when sluice starts, so the rules keep
# only that address out. Then the name gains 203.0.113.1, inside the routed
# networks, and the first is refused: the reconnect must keep the new
# address out of the tunnel before it connects there, or the tunnel
# captures its own SSH connection and never comes back.
printf '%s %s\n' gainhost "$ed" $S4 "$ed" 203.0.113.1 "$ed" >"$TB/known_hosts_gain"
{ sed '/^Host \*/,$d' "$TB/ssh_config"; echo "Host gainhost"; echo "	IdentityFile $TB/id_ed25519"
	tb_ssh_defaults "$TB/known_hosts_gain"; } >"$TB/ssh_config_gain"
# gain_case CASE yes|no [ARGS]: with 203.0.113.0/24 routed or not; once
# with our own client, once with -e's ssh. An address no routed network
# holds needs no exclude: none is added, and the reconnect goes there.
gain_case() {
	local name=$1 routed=$2 nets="198.51.100.0/24" in_table=1 said=1 want=00
	shift 2
	[ "$routed" = yes ] && nets="$nets 203.0.113.0/24" && want=11
	printf '%s gainhost\n' $S4 >>"/etc/netns/$NS_C/hosts"
	# shellcheck disable=SC2086
	SLUICE_CFG=$TB/ssh_config_gain sluice_start -r gainhost -v "$@" $nets
	if ! sluice_wait_ready "http://$L4/"; then
		fail "$name" "$SLUICE_WHY"
	else
		printf '203.0.113.1 gainhost\n' >>"/etc/netns/$NS_C/hosts"
		s4_refuse
		within 30
		# Through the rules, a captured connection would show the same peer: the table says.
		inC nft list table inet "$(sluice_table)" | grep -Eq '203\.0\.113\.1([^0-9]|$)' || in_table=0
		grep -q "the SSH server's address 203.0.113.1 is new: kept out of the tunnel, on every port" "$SLUICE_LOG" || said=0
		if grep -q "reconnected" "$SLUICE_LOG" && [ -n "$(inC ss -Htn state established "dst 203.0.113.1:22")" ] &&
			[ "$in_table$said" = "$want" ]; then
			pass "$name"
		else
			fail "$name" "routed $routed, in the table $in_table, said $said: $(grep -E 'reconnect|connecting to|kept out' "$SLUICE_LOG" | tail -n 5 | tr '\n' '|')"
		fi
		s4_allow
	fi
	sluice_stop TERM 5
	sed -i '/ gainhost$/d' "/etc/netns/$NS_C/hosts"
}
gain_case reconnect_new_address yes
gain_case reconnect_new_address_e yes -e "ssh -F $TB/ssh_config_gain"
gain_case reconnect_new_address_unrouted no

# --- the network gone for a while, and back -------------------------------------------
# C's link down (Wi-Fi after a resume, or walking between access points):
# no route to S at all. The SSH connection lives on in the kernel, so the
# session waits for the network instead of taking the silence for a dead
# server, and every connection through the tunnel is kept once it returns.
# Taking the link down drops the routes through it, and its IPv6 address
# (keep_addr_on_down is 0): net_back puts them back.
net_cut() { inC ip link set tos down; }
net_back() {
	inC ip link set tos up
	inC ip addr replace 2001:db8:1::1/64 dev tos nodad
	inC ip route replace 198.51.100.0/24 via $S4
	inC ip route replace 203.0.113.0/24 via $S4
	inC ip -6 route replace 2001:db8:2::/64 via $S6
}
# net_kept CASE: the held connections all echo, and the session never dropped.
net_kept() {
	local i
	# The route's return is seen at the next tick, maybe after the echoes.
	for ((i = 0; i < 30; i++)); do
		grep -q "the route to $S4 is back, " "$SLUICE_LOG" && break
		sleep 0.2
	done
	if [ "$(cat "$TB/held.out")" = "ok $1" ] && ! grep -q "dropped" "$SLUICE_LOG" &&
		grep -q "no route to $S4: the session waits up to 60 s" "$SLUICE_LOG" &&
		grep -q "the route to $S4 is back, " "$SLUICE_LOG"; then
		pass "$2"
	else
		fail "$2" "echoes '$(cat "$TB/held.out")': $(grep -e dropped -e route -e "did not run" "$SLUICE_LOG" | tr '\n' '|')"
	fi
}

# Awake, for longer than the keepalives allow (every 5 s, dead after 15 s
# without an answer), with two lanes: lane 0 and a worker's lane each wait.
SLUICE_CFG=$TB/ssh_config_alive sluice_start_case netdown_start http://$L4/ -r sshhost-alive -v --lanes 2 198.51.100.0/24 || tb_finish
for ((i = 0; i < 100; i++)); do
	[ "$(sluice_lanes up | grep -c '^1$')" = 2 ] && break
	sleep 0.2
done
if ! held_start 4; then
	fail net_down_awake_kept "the connections did not open: $(cat "$TB/held.out")"
else
	per_lane=$(sluice_lanes up connections | tr '\n' '|')
	net_cut
	sleep 25
	net_back
	held_end
	if [ "$(echo "$per_lane" | tr '|' '\n' | awk '$1 == 1 && $2 >= 1' | grep -c .)" != 2 ]; then
		fail net_down_awake_kept "the connections did not spread over both lanes: '$per_lane'"
	else
		net_kept 4 net_down_awake_kept
	fi
fi
sluice_stop TERM 5

# Waking up (a stop of sluice and its children stands in for the suspend)
# into a network that is still down, past the wake-up check's 10 s. With
# -e the connection is ssh's: the route to the server's address is looked
# at instead (ssh's own keepalives, one in 300 s under BatchMode, wait).
# With two lanes, -e's further lane (a session of ssh's ControlMaster, run
# in sluice's loop) must wait with lane 0, not be reset.
# wake_case CASE CONFIG LANES ARGS...
wake_case() {
	local name=$1 cfg=$2 lanes=$3 job i
	shift 3
	SLUICE_CFG=$cfg sluice_start_case "${name}_start" http://$L4/ -v --lanes "$lanes" "$@" 198.51.100.0/24 || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(sluice_lanes up | grep -c '^1$')" = "$lanes" ] && break
		sleep 0.2
	done
	if ! held_start $((2 * lanes)); then
		fail "$name" "the connections did not open: $(cat "$TB/held.out")"
	elif [ "$(sluice_lanes up connections | awk '$1 == 1 && $2 >= 1' | grep -c .)" != "$lanes" ]; then
		fail "$name" "the connections did not spread over $lanes lanes: $(sluice_lanes up connections | tr '\n' '|')"
		held_end
	else
		net_cut
		job="$SLUICE_PID $(ps -o pid= --ppid "$SLUICE_PID" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		kill -STOP $job
		sleep 7
		# shellcheck disable=SC2086
		kill -CONT $job
		sleep 14
		net_back
		held_end
		if ! grep -q "sluice did not run for [0-9]* s: checking the session" "$SLUICE_LOG"; then
			fail "$name" "the stop was not seen: $(sluice_log_tail 4)"
		else
			net_kept $((2 * lanes)) "$name"
		fi
	fi
	sluice_stop TERM 5
}
wake_case net_down_waking_kept "$TB/ssh_config_alive" 1 -r sshhost-alive || tb_finish
wake_case net_down_waking_kept_e "$TB/ssh_config" 2 -r sshhost -e "ssh -F $TB/ssh_config" || tb_finish

# C's address taken away while a route to S remains (a new lease on the
# same network, another network): the SSH connection can never answer
# again. The session is dropped for that reason once the server is quiet
# for a ping interval and the 3 s an address gets to come back, not after
# the keepalives' 15 s, and the reconnect comes from the address C has now.
C4B=192.0.2.9
inC sysctl -qw net.ipv4.conf.tos.promote_secondaries=1
inC ip addr add $C4B/24 dev tos
SLUICE_CFG=$TB/ssh_config_alive sluice_start_case addrgone_start http://$L4/ -r sshhost-alive -v 198.51.100.0/24 || tb_finish
if [ "$(inC ss -Htn state established "dst $S4:22" | awk '{ print $3 }' | sed 's/:[0-9]*$//' | sort -u)" != "$C4" ]; then
	fail addr_gone_drops_fast "the session did not come from $C4 alone: $(inC ss -Htn state established "dst $S4:22" | tr '\n' '|')"
else
	inC ip addr del $C4/24 dev tos
	t0=$SECONDS
	for ((i = 0; i < 150; i++)); do
		grep -q "dropped: " "$SLUICE_LOG" && break
		sleep 0.2
	done
	took=$((SECONDS - t0))
	net_back
	echo "# addr_gone_drops_fast: dropped after ${took} s"
	if grep -q "dropped: this machine no longer has $C4, the address the SSH connection came from" "$SLUICE_LOG" &&
		[ "$took" -lt 15 ] && within 20; then
		pass addr_gone_drops_fast
	else
		fail addr_gone_drops_fast "after ${took} s: $(grep -e dropped -e reconnect "$SLUICE_LOG" | tr '\n' '|')"
	fi
fi
sluice_stop TERM 5
# C4 back as the primary address, for any case that comes after.
inC ip addr add $C4/24 dev tos 2>/dev/null
inC ip addr del $C4B/24 dev tos
net_back

tb_finish
