#!/bin/bash
# test_udp: UDP and ping through the tunnel. The privileged part makes a TUN
# and policy routing; UDP and echo requests to the routed networks go in,
# the helper sends them from S, and the answers come back with the original
# addresses. Checked against servers in L, which C cannot reach but through
# the tunnel: ping over IPv4 and IPv6 (with the helper's ICMP sockets, and
# with the ping command when ping_group_range forbids them), UDP echo of
# many sizes with contents checked, ECONNREFUSED from a closed port, an
# excluded port left to the normal route, no leak while the session is down, --tcp-only making no TUN, and nothing left
# (device, ip rule, routing table, nft table) after SIGTERM or SIGKILL.
TB_SUITE=udp
. "$(dirname "$0")/lib.sh"
need_sluice
command -v ping >/dev/null || {
	fail ping "ping is not installed (run tests/deps.sh)"
	exit 1
}
tb_up
BIG_SHA=$(tb_make_file big.bin $((16 << 20))) || tb_die "cannot write big.bin"

# A UDP echo server in L on both families: it returns each datagram as it
# came. Port 9004 is the same server, excluded from the tunnel below.
inL "$PY" "$E2E_DIR/udp.py" echo 9002 9004 </dev/null >"$TB/udpecho.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"

# Datagrams are checked with udp.py check (sizes up to a top, contents compared).
# refused.py HOST PORT: a connected UDP socket to a closed port must see ECONNREFUSED.
cat >"$TB/refused.py" <<'EOF'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((host, port))
for _ in range(3):
    s.send(b"anyone?")
    try:
        s.recv(100)
        print("answered")
        sys.exit(1)
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    except socket.timeout:
        continue
print("timeout")
sys.exit(1)
EOF

tuns() { inC ip -o link show type tun 2>/dev/null | awk -F': ' '{ print $2 }'; }
our_rules() { inC ip rule 2>/dev/null | grep -cE 'fwmark|iif sluice'; inC ip -6 rule 2>/dev/null | grep -cE 'fwmark|iif sluice'; }
nothing_left() {
	[ -z "$(tuns)" ] && [ "$(our_rules | tr -d '\n')" = 00 ] && ! nft_table_present
}

# Fail-closed checks: S counts UDP for the lan that reaches it from C other
# than through the tunnel (which brings it as SSH). The excluded port must
# show up there; nothing while the session is cut; the same datagrams under
# --tcp-only (below) are the control that the counter sees them when they leak.
inS nft -f - <<'EOF'
table inet tbleak {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip daddr 198.51.100.0/24 meta l4proto udp counter
		ip daddr 198.51.100.0/24 udp dport 9005 counter
	}
}
EOF
leaked() { inS nft list chain inet tbleak pre | grep -o 'packets [0-9]*' | head -n 1 | awk '{ print $2 }'; }
# Only the session-down datagrams (port 9005), whatever else C sends meanwhile.
leaked_down() { inS nft list chain inet tbleak pre | grep -o 'packets [0-9]*' | sed -n 2p | awk '{ print $2 }'; }

sluice_start -r sshhost -x "$L4:9004" 198.51.100.0/24 '[2001:db8:2::]/64'
if sluice_wait_ready "http://$L4/"; then pass start; else
	fail start "$SLUICE_WHY"
	tb_finish
fi
tun=$(tuns)
if [ -n "$tun" ] && inC ip rule | grep -q "fwmark" && inC ip -6 rule | grep -q "fwmark" &&
	grep -q "UDP and ping" "$SLUICE_LOG"; then
	pass tun_and_rules
else
	fail tun_and_rules "tun '$tun', rules: $(inC ip rule | tr '\n' '|'); $(sluice_log_tail 4)"
fi

# Ping through the tunnel: S's ping_group_range lets the helper's user open ICMP sockets.
inS sysctl -qw net.ipv4.ping_group_range="0 2147483647"
if out=$(inC ping -n -c 3 -i 0.3 -W 3 "$L4" 2>&1) && echo "$out" | grep -q '3 received'; then
	pass ping4
else
	fail ping4 "$(echo "$out" | tail -n 3 | tr '\n' '|'); $(sluice_log_tail 3)"
fi
if out=$(inC ping -6 -n -c 3 -i 0.3 -W 3 "$L6" 2>&1) && echo "$out" | grep -q '3 received'; then
	pass ping6
else
	fail ping6 "$(echo "$out" | tail -n 3 | tr '\n' '|')"
fi
# A host that is not there: no reply is made up.
if inC ping -n -c 2 -i 0.3 -W 2 198.51.100.77 >/dev/null 2>&1; then
	fail ping_absent_host_no_reply "198.51.100.77 answered"
else
	pass ping_absent_host_no_reply
fi

if out=$(inC timeout 60 "$PY" "$E2E_DIR/udp.py" check "$L4" 9002 240 2>&1) && [ "$out" = "ok 240" ]; then
	pass udp4_echo_sizes
else
	fail udp4_echo_sizes "$out"
fi
if out=$(inC timeout 60 "$PY" "$E2E_DIR/udp.py" check "$L6" 9002 120 2>&1) && [ "$out" = "ok 120" ]; then
	pass udp6_echo_sizes
else
	fail udp6_echo_sizes "$out"
fi
# Ten thousand at a moderate rate (one in flight at a time), none lost, none changed.
if out=$(inC timeout 120 "$PY" "$E2E_DIR/udp.py" check "$L4" 9002 10000 1472 2>&1) && [ "$out" = "ok 10000" ]; then
	pass udp4_ten_thousand
else
	fail udp4_ten_thousand "$out"
fi
if out=$(inC timeout 20 "$PY" "$TB/refused.py" "$L4" 9999 2>&1) && [ "$out" = refused ]; then
	pass udp_closed_port_refused
else
	fail udp_closed_port_refused "$out"
fi
# An excluded port is not captured: its datagram takes the normal route,
# where S's counter sees it (S does not forward it, so nobody answers).
before=$(leaked)
inC "$PY" -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"excluded", ("'"$L4"'", 9004))'
for ((i = 0; i < 20; i++)); do [ "$(leaked)" -gt "$before" ] && break; sleep 0.1; done
if [ "$(leaked)" -gt "$before" ]; then
	pass udp_excluded_not_captured
else
	fail udp_excluded_not_captured "S's counter stayed at $(leaked): the excluded datagram went into the tunnel"
fi

# A local flood of UDP at a routed address (for 4 s, as fast as one core
# sends) costs datagrams, not the tunnel: a TCP download beside it arrives
# whole and the session stays up.
inC "$PY" -c 'import os, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
data, end = os.urandom(1400), time.time() + 4
while time.time() < end:
    try:
        s.sendto(data, ("'"$L4"'", 9003))
    except OSError:
        pass' &
FLOOD=$!
TB_PIDS="$TB_PIDS $FLOOD"
got=$(inC curl -sS --max-time 60 "http://$L4/big.bin" | sha256sum | cut -d' ' -f1)
wait "$FLOOD" 2>/dev/null
tb_forget "$FLOOD"
if [ "$got" = "$BIG_SHA" ] && proc_alive "$SLUICE_PID" && ! grep -q "session .*down\|reconnecting" "$SLUICE_LOG"; then
	pass flood_spares_tcp
else
	fail flood_spares_tcp "download $got (want $BIG_SHA); $(sluice_log_tail 3)"
fi

# --status counts them: flows, datagrams each way, pings and their replies.
st=$(inC "$SLUICE" --status --json 2>/dev/null)
if echo "$st" | "$PY" -c 'import json, sys
s = json.load(sys.stdin)[0]
ok = s["udp"] and s["udp_flows"] >= 1 and s["udp_datagrams_in"] >= 10000 and s["udp_datagrams_out"] >= s["udp_datagrams_in"] and s["pings"] >= 6 and s["ping_replies"] >= 6
sys.exit(0 if ok else 1)'; then
	pass status_counts_udp
else
	fail status_counts_udp "$(echo "$st" | tr '
' ' ' | cut -c1-400)"
fi

# SIGUSR1 lists the UDP flows beside the connections.
kill -USR1 "$SLUICE_PID"
for ((i = 0; i < 30; i++)); do grep -q "UDP flow" "$SLUICE_LOG" && break; sleep 0.1; done
if grep -q "UDP flow" "$SLUICE_LOG" && grep -Eq "udp 192\.0\.2\.1 port [0-9]+ -> $L4 port 9002: [0-9]+ datagrams" "$SLUICE_LOG"; then
	pass sigusr1_lists_udp_flows
else
	fail sigusr1_lists_udp_flows "$(grep -i udp "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
fi

# Fail-closed: with the session cut and coming back, nothing reaches S around the tunnel.
udp_dropped() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c 'import json, sys
print(json.load(sys.stdin)[0]["udp_dropped"])' 2>/dev/null
}
before=$(leaked_down)
dropped_before=$(udp_dropped)
kill_sessions
inC "$PY" -c 'import socket,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50):
    s.sendto(b"leak?", ("'"$L4"'", 9005)); time.sleep(0.02)' 2>/dev/null
# The session really was down while they were sent: sluice dropped (some of) them.
dropped=$(udp_dropped)
if [ "$(leaked_down)" = "$before" ] && [ "${dropped:-0}" -gt "${dropped_before:-0}" ] &&
	proc_alive "$SLUICE_PID"; then
	pass session_down_nothing_leaks
else
	fail session_down_nothing_leaks "S saw $(($(leaked_down) - before)) of them for the lan from C; sluice dropped ${dropped_before:-?} -> ${dropped:-?}"
fi

# Without ICMP sockets for the helper's user, the remote's ping command answers.
inS sysctl -qw net.ipv4.ping_group_range="1 0"
sluice_stop TERM 5
sluice_start -r sshhost 198.51.100.0/24
if sluice_wait_ready "http://$L4/" && out=$(inC ping -n -c 2 -i 0.5 -W 8 "$L4" 2>&1) &&
	echo "$out" | grep -q '2 received'; then
	pass ping4_by_command
else
	fail ping4_by_command "$(echo "$out" | tail -n 2 | tr '\n' '|'); ${SLUICE_WHY:-$(sluice_log_tail 3)}"
fi
sluice_stop TERM 5
if [ "$SLUICE_RC" = 0 ] && nothing_left; then pass sigterm_nothing_left; else
	fail sigterm_nothing_left "exit $SLUICE_RC; tuns '$(tuns)', rules $(our_rules | tr '\n' ' '), tables $(nft_table_count)"
fi

sluice_start -r sshhost 198.51.100.0/24
if sluice_wait_ready "http://$L4/" && [ -n "$(tuns)" ]; then
	sluice_stop KILL 2
	for ((i = 0; i < 50; i++)); do nothing_left && break; sleep 0.1; done
	if nothing_left; then pass sigkill_nothing_left; else
		fail sigkill_nothing_left "tuns '$(tuns)', rules $(our_rules | tr '\n' ' '), tables $(nft_table_count)"
	fi
else
	fail sigkill_nothing_left "not ready with a TUN: ${SLUICE_WHY:-no TUN}"
	sluice_stop KILL 2
fi

sluice_start --tcp-only -r sshhost 198.51.100.0/24
before=$(leaked)
if sluice_wait_ready "http://$L4/" && [ -z "$(tuns)" ] && ! inC ping -n -c 1 -W 2 "$L4" >/dev/null 2>&1; then
	pass tcp_only_no_tun
else
	fail tcp_only_no_tun "tuns '$(tuns)'; ${SLUICE_WHY:-}"
fi
inC "$PY" -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("'"$L4"'", 9002))'
if [ "$(leaked)" -gt "$before" ]; then pass leak_counter_sees_uncaptured; else
	fail leak_counter_sees_uncaptured "the counter stayed at $(leaked): the leak check could not have failed"
fi
sluice_stop TERM 5

tb_finish
