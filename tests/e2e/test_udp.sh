#!/bin/bash
# test_udp: UDP and ping through the tunnel. The privileged part makes a TUN
# and policy routing; UDP and echo requests to the routed networks go in,
# the helper sends them from S, and the answers come back with the original
# addresses. Checked against servers in L, which C cannot reach but through
# the tunnel: ping over IPv4 and IPv6 (with the helper's ICMP sockets, and
# with the ping command when ping_group_range forbids them), UDP echo of
# many sizes with contents checked, ECONNREFUSED from a closed port, a port
# unreachable about an answer kept in the tunnel, an excluded port left to
# the normal route, no leak while the session is down,
# dig to a DNS server in L (not a nameserver of C's), 0/0 leaving C's
# broadcasts and multicast on its segment, --user capturing that
# user's UDP and ping and nobody else's, --tcp-only making no TUN, and
# nothing left (device, ip rule, routing table, nft table) after SIGTERM or
# SIGKILL.
TB_SUITE=udp
. "$(dirname "$0")/lib.sh"
need_sluice
need_ping
tb_up
BIG_SHA=$(tb_make_file big.bin $((16 << 20))) || tb_die "cannot write big.bin"

# A UDP echo server in L on both families: it returns each datagram as it
# came. Port 9004 is the same server, excluded from the tunnel below; 9006
# is for the --user cases alone.
inL "$PY" "$E2E_DIR/udp.py" echo 9002 9004 9006 </dev/null >"$TB/udpecho.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"

# A DNS server in L, on its own records only: dig asks it by address, so
# it is no nameserver of C's, and --dns is never given here.
for c in dnsmasq dig; do
	command -v $c >/dev/null || tb_die "$c not installed (run tests/deps.sh)"
done
DIG_NAME=udp.lan.test
tb_dnsmasq lan 53 --listen-address=$L4,$L6 --host-record=$DIG_NAME,198.51.100.99,2001:db8:2::99 ||
	tb_die "dnsmasq did not start: $(tail -n 3 "$TB/dnsmasq-lan.start.log" | tr '\n' ' ')"

# The user of the --user cases, known in C only (as sluicet is in S): a
# useradd would replace the host's /etc/passwd under other runs' sshd.
UID_U=4300
for ((i = 0; i < 100; i++)); do
	awk -F: -v u=$UID_U '$3 == u { f = 1 } END { exit !f }' /etc/passwd /etc/group || break
	UID_U=$((UID_U + 1))
done
[ $i -lt 100 ] || tb_die "no free uid for the --user cases"
U=sluiceu
{ cp -p /etc/passwd /etc/group "/etc/netns/$NS_C/" &&
	echo "$U:x:$UID_U:$UID_U:sluice e2e user:/nonexistent:/bin/sh" >>"/etc/netns/$NS_C/passwd" &&
	echo "$U:x:$UID_U:" >>"/etc/netns/$NS_C/group"; } || tb_die "cannot add $U to C's /etc/passwd"
asU() { inC setpriv --reuid="$UID_U" --regid="$UID_U" --clear-groups "$@"; }

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
# Only what arrives from C (on S's link "toc"): the lan's answers to the
# helper's sockets come to S's own lan address, inside 198.51.100.0/24 too.
inS nft -f - <<'EOF'
table inet tbleak {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname != "toc" return
		ip daddr 198.51.100.0/24 meta l4proto udp counter
		ip daddr 198.51.100.0/24 udp dport 9005 counter
		ip daddr 198.51.100.0/24 udp dport 9006 counter
		ip6 daddr 2001:db8:2::/64 udp dport 9006 counter
		ip daddr 198.51.100.0/24 icmp type echo-request counter
		ip6 daddr 2001:db8:2::/64 icmpv6 type echo-request counter
		ip daddr 198.51.100.0/24 icmp type destination-unreachable counter
		ip6 daddr 2001:db8:2::/64 icmpv6 type destination-unreachable counter
	}
}
EOF
# s_count N: what the Nth rule above counted.
s_count() { inS nft list chain inet tbleak pre | grep -o 'packets [0-9]*' | sed -n "${1}p" | awk '{ print $2 }'; }
leaked() { s_count 1; }
# The port unreachables C sends the lan around the tunnel, both families, as one line.
leaked_unreach() { echo "$(s_count 7) $(s_count 8)"; }
# Only the session-down datagrams (port 9005), whatever else C sends meanwhile.
leaked_down() { s_count 2; }
# The --user cases' datagrams (port 9006) and pings, both families, as one line.
s_user() { echo "$(s_count 3) $(s_count 4) $(s_count 5) $(s_count 6)"; }

# st FIELD...: those fields of our sluice's --status --json, on one line.
# By pid: --status lists every tunnel on the machine, other runs' too.
st() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c 'import json, sys
s = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0]
print(" ".join(str(s[k]).lower() for k in sys.argv[2:]))' "$SLUICE_PID" "$@" 2>/dev/null
}

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
# dig to the DNS server in L, over each family, by UDP: answered through
# the tunnel (its datagram counters move, and dnsmasq saw the query come
# from S's lan address, where the helper sends from).
for fam in 4 6; do
	if [ $fam = 4 ]; then srv=$L4 from=198.51.100.1 qtype=A want=198.51.100.99; else
		srv=$L6 from=2001:db8:2::1 qtype=AAAA want=2001:db8:2::99
	fi
	read -r udp_on out0 in0 <<<"$(st udp udp_datagrams_out udp_datagrams_in)"
	got=$(inC dig +short +notcp +time=2 +tries=2 @"$srv" $DIG_NAME $qtype 2>&1)
	read -r _ out1 in1 <<<"$(st udp udp_datagrams_out udp_datagrams_in)"
	if [ "$udp_on" != true ]; then
		fail dig${fam}_lan_server "the tunnel does not carry UDP (status: udp '$udp_on')"
	elif [ "$got" = "$want" ] && [ "${out1:-0}" -gt "${out0:-0}" ] && [ "${in1:-0}" -gt "${in0:-0}" ] &&
		grep -q "query\[$qtype\] $DIG_NAME from $from\$" "$TB/dnsmasq-lan.log"; then
		pass dig${fam}_lan_server
	else
		fail dig${fam}_lan_server "dig said '$got' (want $want); datagrams out $out0 -> $out1, in $in0 -> $in1; dnsmasq: $(grep "query\[$qtype\]" "$TB/dnsmasq-lan.log" | tail -n 1)"
	fi
done

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

# Someone else's marks: a datagram an admin's rule marked (as a socket's
# SO_MARK would) is left to the routing that mark chose, and S's counter
# sees it. One with a mark of some sluice's (a dead one's, as an old flow's
# restored mark would be) is carried like an unmarked one, which goes first
# as the control: carried, so the check can fail. The admin's chain runs
# before ours (-150).
inC nft -f - <<'EOF'
table inet tbadmin {
	chain out {
		type route hook output priority -180; policy accept;
		udp dport 9007 meta mark set 0x77
		udp dport 9008 meta mark set 0x51fffffe
	}
}
EOF
send_udp() { inC "$PY" -c 'import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"marked?", (sys.argv[1], int(sys.argv[2])))' "$L4" "$1"; }
before=$(leaked)
out0=$(st udp_datagrams_out)
send_udp 9003
sleep 0.5
out1=$(st udp_datagrams_out)
ctl_leaked=$(($(leaked) - before))
send_udp 9007
send_udp 9008
for ((i = 0; i < 20; i++)); do [ "$(leaked)" -gt $((before + ctl_leaked)) ] && break; sleep 0.1; done
sleep 0.5
out2=$(st udp_datagrams_out)
inC nft delete table inet tbadmin
if [ "$ctl_leaked" != 0 ] || [ "${out1:-0}" -le "${out0:-0}" ]; then
	fail udp_others_marks_kept "the unmarked control was not carried: datagrams out ${out0:-?} -> ${out1:-?}, $ctl_leaked reached S"
elif [ "$(($(leaked) - before))" = 1 ] && [ "$out2" = $((out1 + 1)) ]; then
	pass udp_others_marks_kept
else
	fail udp_others_marks_kept "S saw $(($(leaked) - before)) (want 1: the admin's), datagrams out $out1 -> $out2 (want +1: the one with a sluice mark)"
fi

# An answer that comes back to a socket closed since: C's kernel answers it
# with a port unreachable. That error goes into the tunnel with its flow,
# never out by C's own link to the far address (S would count it). Counted
# in C too, wherever it goes, so that the check needs the error made.
inC nft -f - <<'EOF'
table inet tbunreach {
	chain post {
		type filter hook postrouting priority 0; policy accept;
		icmp type destination-unreachable ip daddr 198.51.100.0/24 counter
		icmpv6 type destination-unreachable ip6 daddr 2001:db8:2::/64 counter
	}
}
EOF
c_unreach() { inC nft list chain inet tbunreach post | grep -o 'packets [0-9]*' | awk '{ printf "%s ", $2 }'; }
s_before=$(leaked_unreach)
for h in "$L4" "$L6"; do
	inC "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"gone before the answer", (sys.argv[1], 9002))
s.close()' "$h"
done
sleep 1
made=$(c_unreach)
inC nft delete table inet tbunreach
if [ "$made" = "0 0 " ]; then
	echo "# udp_unreachable_stays_in_tunnel: both answers came before their sockets closed: not checked"
elif [ "$(leaked_unreach)" = "$s_before" ]; then
	pass udp_unreachable_stays_in_tunnel
else
	fail udp_unreachable_stays_in_tunnel "C made $made port unreachables (v4 v6); S saw $s_before -> $(leaked_unreach) of them"
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
s = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0]
ok = s["udp"] and s["udp_flows"] >= 1 and s["udp_datagrams_in"] >= 10000 and s["udp_datagrams_out"] >= s["udp_datagrams_in"] and s["pings"] >= 6 and s["ping_replies"] >= 6
sys.exit(0 if ok else 1)' "$SLUICE_PID"; then
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
udp_dropped() { st udp_dropped; }
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
sluice_start -r sshhost 0/0 ::/0
if sluice_wait_ready "http://$L4/" && out=$(inC ping -n -c 2 -i 0.5 -W 8 "$L4" 2>&1) &&
	echo "$out" | grep -q '2 received'; then
	pass ping4_by_command
else
	fail ping4_by_command "$(echo "$out" | tail -n 2 | tr '\n' '|'); ${SLUICE_WHY:-$(sluice_log_tail 3)}"
fi

# 0/0 takes in C's own segment too, yet what C broadcasts or multicasts
# there stays there (the local routing table decides those before our
# marks), so a LAN's discovery (mDNS, SSDP, NetBIOS, Wake-on-LAN) keeps
# working. Documentation groups stand in for those: 233.252.0.1
# (MCAST-TEST-NET) and ff02::db8:0:1 (RFC 6676), and the segment's own
# broadcast. S listens on the segment; a unicast datagram to L (which only
# the tunnel reaches) first shows that UDP is captured in this session,
# and an nft counter of C's that none of the others went into the TUN.
cat >"$TB/lancast.py" <<'EOF'
import select, socket, struct, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
V4 = ["192.0.2.255", "233.252.0.1"]
V6 = "ff02::db8:0:1"
if mode == "listen":
    addr, dev = sys.argv[3], sys.argv[4]
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.bind(("0.0.0.0", port))
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(V4[1]) + socket.inet_aton(addr))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::", port))
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                  socket.inet_pton(socket.AF_INET6, V6) + struct.pack("@I", socket.if_nametoindex(dev)))
    print("ready", flush=True)
    got, end = set(), time.time() + 8
    while len(got) < 3 and time.time() < end:
        for s in select.select([s4, s6], [], [], 0.2)[0]:
            got.add(s.recv(100).decode())
    print(" ".join(sorted(got)), flush=True)
else:
    src, dev = sys.argv[3], sys.argv[4]
    for dst in V4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind((src, 0))
        s.sendto(dst.encode(), (dst, port))
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(V6.encode(), (V6 + "%" + dev, port))
EOF
tun=$(tuns | head -n 1)
uni=$(inC timeout 20 "$PY" "$E2E_DIR/udp.py" check "$L4" 9002 3 2>&1)
if [ "$uni" != "ok 3" ] || [ -z "$tun" ] ||
	! printf 'table inet tbcast {\n chain post {\n  type filter hook postrouting priority 0;\n  oifname "%s" udp dport 9010 counter\n }\n}\n' "$tun" | inC nft -f -; then
	fail lan_broadcast_multicast_stay "the gate failed: unicast to L said '$uni', TUN '$tun'"
else
	inS timeout 15 "$PY" "$TB/lancast.py" listen 9010 "$S4" toc >"$TB/lancast.log" 2>&1 &
	lpid=$!
	for ((i = 0; i < 50; i++)); do grep -q ready "$TB/lancast.log" && break; sleep 0.1; done
	inC "$PY" "$TB/lancast.py" send 9010 "$C4" tos 2>&1
	wait "$lpid"
	got=$(tail -n 1 "$TB/lancast.log")
	into_tun=$(inC nft list chain inet tbcast post | grep -o 'packets [0-9]*' | awk '{ print $2 }')
	if [ "$got" = "192.0.2.255 233.252.0.1 ff02::db8:0:1" ] && [ "$into_tun" = 0 ]; then
		pass lan_broadcast_multicast_stay
	else
		fail lan_broadcast_multicast_stay "S got '$got'; into the TUN: ${into_tun:-?}"
	fi
	inC nft delete table inet tbcast
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

# --user: U's datagrams and pings go through the tunnel, root's do not
# (they take the normal route: S counts them, the tunnel's counters stay).
inS sysctl -qw net.ipv4.ping_group_range="0 2147483647"
TB_CURL_AS="setpriv --reuid=$UID_U --regid=$UID_U --clear-groups"
sluice_start -r sshhost --user "$U" 198.51.100.0/24 '[2001:db8:2::]/64'
if sluice_wait_ready "http://$L4/"; then
	read -r udp_on out0 pings0 <<<"$(st udp udp_datagrams_out pings)"
	s0=$(s_user)
	inC "$PY" -c 'import socket, time
for host, fam in (("'"$L4"'", socket.AF_INET), ("'"$L6"'", socket.AF_INET6)):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(5):
        s.sendto(b"root", (host, 9006)); time.sleep(0.01)'
	inC ping -n -c 2 -i 0.2 -W 1 "$L4" >/dev/null 2>&1
	r4=$?
	inC ping -6 -n -c 2 -i 0.2 -W 1 "$L6" >/dev/null 2>&1
	r6=$?
	want="$(($(echo "$s0" | cut -d' ' -f1) + 5)) $(($(echo "$s0" | cut -d' ' -f2) + 5)) $(($(echo "$s0" | cut -d' ' -f3) + 2)) $(($(echo "$s0" | cut -d' ' -f4) + 2))"
	for ((i = 0; i < 20; i++)); do [ "$(s_user)" = "$want" ] && break; sleep 0.1; done
	s1=$(s_user)
	read -r _ out1 pings1 <<<"$(st udp udp_datagrams_out pings)"
	if [ "$udp_on" != true ]; then
		fail user_other_udp_ping_not_captured "the tunnel does not carry UDP (status: udp '$udp_on')"
	elif [ "$s1" = "$want" ] && [ "$out1" = "$out0" ] && [ "$pings1" = "$pings0" ] && [ $r4 != 0 ] && [ $r6 != 0 ]; then
		pass user_other_udp_ping_not_captured
	else
		fail user_other_udp_ping_not_captured "S counted (udp4 udp6 ping4 ping6) $s0 -> $s1, want $want; tunnel datagrams $out0 -> $out1, pings $pings0 -> $pings1; root's pings exited $r4 $r6"
	fi
	# U's, the same ways: answered, and none of it seen by S.
	s0=$(s_user)
	o4=$(asU timeout 30 "$PY" "$E2E_DIR/udp.py" check "$L4" 9006 20 1400 2>&1)
	o6=$(asU timeout 30 "$PY" "$E2E_DIR/udp.py" check "$L6" 9006 20 1400 2>&1)
	p4=$(asU ping -n -c 3 -i 0.3 -W 3 "$L4" 2>&1 | grep -c 'bytes from')
	p6=$(asU ping -6 -n -c 3 -i 0.3 -W 3 "$L6" 2>&1 | grep -c 'bytes from')
	read -r _ out2 pings2 <<<"$(st udp udp_datagrams_out pings)"
	if [ "$o4 $o6 $p4 $p6" = "ok 20 ok 20 3 3" ] && [ "$(s_user)" = "$s0" ] &&
		[ "$out2" -ge $((out1 + 40)) ] && [ "$pings2" -ge $((pings1 + 6)) ]; then
		pass user_own_udp_ping_captured
	else
		fail user_own_udp_ping_captured "udp '$o4' '$o6', ping replies $p4 $p6; S counted $s0 -> $(s_user); tunnel datagrams $out1 -> $out2, pings $pings1 -> $pings2"
	fi
	sluice_stop TERM 5
else
	fail user_start "$SLUICE_WHY"
	sluice_stop KILL 2
fi
TB_CURL_AS=""

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
