#!/bin/bash
# test_router: router mode, other hosts' traffic through sluice. A fourth
# namespace R sits behind C (its default route goes via C, which forwards):
#
#   R --veth-- C (sluice) --veth-- S (sshd, forwards nothing) --veth-- L
#   192.0.2.254/30  192.0.2.253/30 (a /30 more specific than C's /24 towards S)
#   2001:db8:3::2   2001:db8:3::1
#
# From R: HTTP (IPv4 and IPv6), UDP echo (both families) and ping (both
# families) to L, and IPv4 UDP replies bigger than R's link to small
# requests, which C must fragment. S does not forward, so each can only work through the
# tunnel. The gates: every probe fails without sluice (and S counts it
# arriving from C, so the failure is S not forwarding, not a broken R), and
# again with sluice on loopback listeners only (no router mode); then with
# -l 0.0.0.0 and [::] each works, and S sees none of R's packets to the
# routed networks. R's traffic to an address that is not routed is left to
# the normal route (S counts it, as without sluice). After SIGTERM nothing
# is left in C: no table, no TUN, no fwmark rule.
TB_SUITE=router
. "$(dirname "$0")/lib.sh"
need_sluice
need_ping
tb_up

NS_R=${TB_ID}r
inR() { ip netns exec "$NS_R" "$@"; }
C4R=192.0.2.253
R4=192.0.2.254
C6R=2001:db8:3::1
R6=2001:db8:3::2
PORT=12345

router_netns() {
	ip netns add "$NS_R" || return 1
	TB_NS="$TB_NS $NS_R"
	ip -n "$NS_R" link set lo up || return 1
	inR sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.disable_ipv6=0 || return 1
	ip -n "$NS_C" link add tor type veth peer name toc netns "$NS_R" || return 1
	ip -n "$NS_C" addr add $C4R/30 dev tor || return 1
	ip -n "$NS_C" addr add $C6R/64 dev tor nodad || return 1
	ip -n "$NS_R" addr add $R4/30 dev toc || return 1
	ip -n "$NS_R" addr add $R6/64 dev toc nodad || return 1
	ip -n "$NS_C" link set tor up || return 1
	ip -n "$NS_R" link set toc up || return 1
	ip -n "$NS_R" route add default via $C4R || return 1
	ip -n "$NS_R" -6 route add default via $C6R || return 1
	inC sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}
router_netns || tb_die "namespace R setup failed"

# The R link works and C's /30 wins over its /24 towards S for R's address.
if inR ping -n -c 1 -W 2 $C4R >/dev/null 2>&1 && inR ping -6 -n -c 1 -W 2 $C6R >/dev/null 2>&1 &&
	inC ip route get $R4 | grep -q 'dev tor'; then
	pass r_link
else
	fail r_link "R cannot reach C ($(inC ip route get $R4 | head -n 1))"
	tb_finish
fi

# The helper's ICMP sockets in S (as test_udp does).
inS sysctl -qw net.ipv4.ping_group_range="0 2147483647"

# A UDP echo server in L on both families, port 9002.
inL "$PY" "$E2E_DIR/udp.py" echo 9002 </dev/null >"$TB/udpecho.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"
# And one that answers a number with that many bytes, port 9007.
inL "$PY" "$E2E_DIR/udp.py" sized 9007 </dev/null >"$TB/udpsized.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"

# Datagrams are checked with udp.py check, up to 1400 bytes: no fragments on R's link.
for ((i = 0; i < 30; i++)); do
	[ "$(inL ss -Hlun 'sport = :9002 or sport = :9007' | wc -l)" -ge 4 ] && break
	sleep 0.1
done

# S counts what reaches it from C other than through the tunnel (which
# brings everything as SSH): R's packets to the routed networks, and to
# the address that is not routed ($X4).
inS nft -f - <<EOF
table inet tbrouter {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip saddr $R4 ip daddr 198.51.100.0/24 counter
		ip6 saddr $R6 ip6 daddr 2001:db8:2::/64 counter
		ip saddr $R4 ip daddr $X4 counter
	}
}
EOF
# s_count N: the packets the Nth rule above counted.
s_count() { inS nft list chain inet tbrouter pre | grep -o 'packets [0-9]*' | sed -n "${1}p" | awk '{ print $2 }'; }
s_routed() { echo $(($(s_count 1) + $(s_count 2))); }

# The probes from R; each returns 0 when it worked, with what it saw in OUT.
OUT=""
probe() {
	case $1 in
	http4) OUT=$(inR curl -sS --connect-timeout 3 --max-time 4 http://$L4/ 2>&1) && [ "$OUT" = "$INDEX_MARK" ] ;;
	http6) OUT=$(inR curl -sS -g --connect-timeout 3 --max-time 4 "http://[$L6]/" 2>&1) && [ "$OUT" = "$INDEX_MARK" ] ;;
	udp4) OUT=$(inR timeout 10 "$PY" "$E2E_DIR/udp.py" check $L4 9002 10 1400 2 2>&1) && [ "$OUT" = "ok 10" ] ;;
	udp6) OUT=$(inR timeout 10 "$PY" "$E2E_DIR/udp.py" check $L6 9002 10 1400 2 2>&1) && [ "$OUT" = "ok 10" ] ;;
	ping4) OUT=$(inR ping -n -c 3 -i 0.3 -W 2 $L4 2>&1) && echo "$OUT" | grep -q ' 3 received' ;;
	ping6) OUT=$(inR ping -6 -n -c 3 -i 0.3 -W 2 $L6 2>&1) && echo "$OUT" | grep -q ' 3 received' ;;
	esac
}
PROBES="http4 http6 udp4 udp6 ping4 ping6"
short() { echo "$1" | tail -n 2 | tr '\n' '|'; }

# all_fail PREFIX: every probe fails, and S counted R's packets arriving
# from C: C forwarded them by the normal route, and S dropped them.
all_fail() {
	local p before after
	for p in $PROBES; do
		before=$(s_routed)
		if probe $p; then
			fail "$1_$p" "worked from R: $(short "$OUT")"
			continue
		fi
		after=$(s_routed)
		if [ "$after" -gt "$before" ]; then pass "$1_$p"; else
			fail "$1_$p" "failed, but S saw none of it ($before -> $after): $(short "$OUT")"
		fi
	done
}

tuns() { inC ip -o link show type tun 2>/dev/null | awk -F': ' '{ print $2 }'; }
# Per family: the fwmark rule, and the rule that routes what leaves the TUN by main.
our_rules() { echo "$(inC ip rule | grep -cE 'fwmark|iif sluice')$(inC ip -6 rule | grep -cE 'fwmark|iif sluice')"; }
# What only router mode puts in the table: a redirect on the prerouting
# chain (which is there, empty, in any mode), and the mark_pre chain that
# marks datagrams and pings there for the TUN.
router_chains() {
	local t
	t=$(sluice_table)
	inC nft list chain inet "$t" prerouting 2>/dev/null | grep -q 'redirect to' && printf 'prerouting '
	inC nft list chain inet "$t" mark_pre >/dev/null 2>&1 && printf 'mark_pre '
}

# 1. Without sluice.
all_fail no_sluice

# 2. sluice with loopback listeners only: no router mode.
sluice_start -r sshhost 198.51.100.0/24 '[2001:db8:2::]/64'
if sluice_wait_ready "http://$L4/"; then
	pass start_loopback
	ch=$(router_chains)
	if [ -z "$ch" ]; then pass loopback_no_router_chains; else
		fail loopback_no_router_chains "router mode's chains without it: $ch"
	fi
	all_fail loopback
	stopped_clean stop_loopback TERM
else
	fail start_loopback "$SLUICE_WHY"
	sluice_stop KILL 2
fi

# 3. Router mode.
sluice_start -l 0.0.0.0:$PORT -l "[::]:$PORT" -r sshhost 198.51.100.0/24 '[2001:db8:2::]/64'
if sluice_wait_ready "http://$L4/"; then pass start_router; else
	fail start_router "$SLUICE_WHY"
	tb_finish
fi
ch=$(router_chains)
if [ "$ch" = "prerouting mark_pre " ]; then pass router_chains; else
	fail router_chains "want redirects on prerouting and a mark_pre chain, got '$ch'"
fi

# C counts where forwarded datagrams and pings go (from R into the TUN; out
# of the TUN to R, or back into it), for the reasons of failing cases.
inC nft -f - <<EOF
table inet tbfwd {
	chain cfwd {
		type filter hook forward priority 0; policy accept;
		meta l4proto { udp, icmp, ipv6-icmp } iifname "tor" oifname "$(tuns)" counter
		meta l4proto { udp, icmp, ipv6-icmp } iifname "$(tuns)" oifname "tor" counter
		meta l4proto { udp, icmp, ipv6-icmp } iifname "$(tuns)" oifname "$(tuns)" counter
	}
}
EOF
c_count() { inC nft list chain inet tbfwd cfwd | grep -o 'packets [0-9]*' | sed -n "${1}p" | awk '{ print $2 }'; }
fwd_seen() { echo "C forwarded: R->TUN $(c_count 1), TUN->R $(c_count 2), TUN->TUN $(c_count 3)"; }

before=$(s_routed)
for p in $PROBES; do
	sluice_alive_or_end "router_$p"
	if probe $p; then pass "router_$p"; else
		fail "router_$p" "$(short "$OUT"); $(fwd_seen)"
	fi
done
# Replies bigger than R's link takes (1472 bytes of UDP over IPv4) to
# small requests: C fragments them on the way to R, as a router does with
# a datagram that may be fragmented, rather than drop them.
if OUT=$(inR timeout 30 "$PY" "$E2E_DIR/udp.py" ask $L4 9007 1472 1473 4000 20000 2>&1) && [ "$OUT" = ok ]; then
	pass router_udp4_reply_fragmented
else
	fail router_udp4_reply_fragmented "$(short "$OUT"); $(fwd_seen)"
fi
# None of it went by the normal route.
after=$(s_routed)
if [ "$after" = "$before" ]; then pass router_no_leak; else
	fail router_no_leak "S saw $((after - before)) of R's packets to the lan arrive from C directly"
fi

# Not routed: left to the normal route (S counts it, and S does not forward).
before=$(s_count 3)
if OUT=$(inR curl -sS --connect-timeout 3 --max-time 4 http://$X4/ 2>&1); then
	fail router_unrouted_not_captured "http://$X4/ worked from R: captured"
elif [ "$(s_count 3)" -gt "$before" ]; then
	pass router_unrouted_not_captured
else
	fail router_unrouted_not_captured "failed, but S never saw it: $(short "$OUT")"
fi

# 4. SIGTERM: nothing left in C.
if [ -n "$(tuns)" ] && [ "$(our_rules)" = 22 ]; then pass router_tun_and_rules; else
	fail router_tun_and_rules "tun '$(tuns)', fwmark rules $(our_rules)"
fi
stopped_clean router_sigterm TERM
if [ -z "$(tuns)" ] && [ "$(our_rules)" = 00 ] && ! nft_table_present; then pass router_nothing_left; else
	fail router_nothing_left "tuns '$(tuns)', fwmark rules $(our_rules), tables $(nft_table_count)"
fi
# And R is back to where it was without sluice.
if probe http4; then fail after_stop_http4 "worked from R with sluice gone"; else pass after_stop_http4; fi

tb_finish
