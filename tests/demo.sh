#!/bin/bash
# demo.sh (make demo): a throw-away testbed of three network namespaces, a
# tunnel through it, and traffic that gets through only because of sluice.
TB_SUITE=demo
. "$(dirname "$0")/e2e/lib.sh"

[ -x "$SLUICE" ] || {
	echo "demo: $SLUICE not built (run make)" >&2
	exit 1
}

echo "== Building the testbed (client ns $NS_C, ssh host ns $NS_S, lan ns $NS_L)"
tb_up
tb_make_file demo.bin $((256 << 20)) >/dev/null || tb_die "cannot write demo.bin"
cat <<EOF
   client $C4, 2001:db8:1::1
     |  routes 198.51.100.0/24 and 2001:db8:2::/64 via the ssh host
   ssh host $S4, $S6 (sshd; IP forwarding off)
     |
   lan $L4, $L6 (web server)
EOF

echo
echo "== Without the tunnel: curl http://$L4/ from the client"
t0=$(now_ms)
inC curl -sS --connect-timeout 2 -o /dev/null http://$L4/ 2>&1 | sed 's/^/   /'
echo "   (gave up after $(($(now_ms) - t0)) ms: the ssh host does not forward)"

echo
echo "== Starting sluice -r sshhost 198.51.100.0/24 '[2001:db8:2::]/64'"
t0=$(now_ms)
sluice_start -r sshhost -v 198.51.100.0/24 '[2001:db8:2::]/64'
if ! sluice_wait_ready http://$L4/; then
	echo "   sluice did not come up ($SLUICE_WHY); its log:"
	sed 's/^/   /' "$SLUICE_LOG"
	exit 1
fi
echo "   tunnel up after $(($(now_ms) - t0)) ms"
DEMO_TABLE=$(sluice_table)
echo "   nftables in the client ns (table inet $DEMO_TABLE, this tunnel's own):"
inC nft list table inet "$DEMO_TABLE" | sed 's/^/     /'

echo
echo "== Through the tunnel: curl http://$L4/"
inC curl -sS --max-time 10 http://$L4/ | sed 's/^/   /'
echo "== Through the tunnel: curl -g 'http://[$L6]/'"
inC curl -sSg --max-time 10 "http://[$L6]/" | sed 's/^/   /'
echo "== Through the tunnel: ping -c 3 $L4 (UDP and ping go through a TUN)"
inC ping -n -c 3 -i 0.3 -W 5 "$L4" 2>&1 | sed 's/^/   /'

echo
echo "== Downloading 256 MiB through the tunnel"
inC curl -sS --max-time 120 -o /dev/null \
	-w '   %{size_download} bytes in %{time_total} s: %{speed_download} bytes/s\n' \
	http://$L4/demo.bin |
	awk '{ print; printf "   = %.0f Mbit/s\n", $(NF-1) * 8 / 1e6 }'

echo
echo "== Stopping sluice (SIGINT)"
sluice_stop INT 5
echo "   exit status $SLUICE_RC"
ok=1
[ "$SLUICE_RC" = 0 ] || ok=0
if nft_table_present; then
	echo "   table inet $DEMO_TABLE is STILL there"
	ok=0
else
	echo "   table inet $DEMO_TABLE is gone"
fi
echo "== sluice's log"
sed 's/^/   /' "$SLUICE_LOG"

echo
echo "== Tearing down"
tb_down
echo "   done"
[ $ok = 1 ]
