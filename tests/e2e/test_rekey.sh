#!/bin/bash
# test_rekey: bulk transfers while sshd rekeys every 32 MB. libssh2 1.10 has
# known trouble rekeying under non-blocking I/O; a stalled or corrupted
# stream shows up here as a timeout, a byte out of place or a sha256
# mismatch. 1 GB each way (some 30 key exchanges each), then 500 MB both
# ways at once with small requests in between.
TB_SUITE=rekey
TB_SSHD_EXTRA="RekeyLimit 32M"
TB_SSHD_LOGLEVEL=DEBUG1 # for "SSH2_MSG_KEXINIT sent", once per key exchange
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up

PAT_PORT=9002 # netsvc serve-load: pattern streams (generated, never stored)
NSVC="$E2E_DIR/netsvc.py"
GB=1000000000
tb_serve_load $PAT_PORT 9003

# One "KEXINIT sent" per key exchange: the first, then one per 32 MB or so.
kex() { grep -c 'SSH2_MSG_KEXINIT sent' "$TB/sshd.log"; }

# bg OUTFILE ARGS...: a netsvc client in C in the background, BG its pid.
# Each transfer must end within 180 s, and its data must never stop for 30 s.
bg() {
	local out=$1
	shift
	ip netns exec "$NS_C" timeout 200 "$PY" "$NSVC" "$@" --timeout 180 --idle 30 </dev/null >"$out" 2>&1 &
	BG=$!
	TB_PIDS="$TB_PIDS $BG"
}

# client NAME OUTFILE ARGS...: one client from bg, to its end.
client() {
	local name=$1 out=$2
	shift 2
	bg "$out" "$@"
	tb_reap $BG
	if [ $? = 0 ] && grep -q '^ok ' "$out"; then pass "$name"; else fail "$name" "$(head -c 300 "$out")"; fi
}

# rekeyed NAME K0 MIN: at least MIN key exchanges since the count was K0.
rekeyed() {
	local n=$(($(kex) - $2))
	if [ $n -ge $3 ]; then pass "$1"; else fail "$1" "$n key exchanges, want at least $3"; fi
}

sluice_start -r sshhost 198.51.100.0/24
if ! sluice_wait_ready http://$L4/; then
	fail start "$SLUICE_WHY"
	tb_finish
fi
pass start

# Each client checks every byte against the pattern, and the sha256 with the far end.
k0=$(kex)
client download_1gb "$TB/down.out" fetch $L4 $PAT_PORT 21 $GB
rekeyed rekeyed_during_download "$k0" 20
k1=$(kex)
sluice_alive_or_end upload_1gb
client upload_1gb "$TB/up.out" upload $L4 9000 22 $GB
rekeyed rekeyed_during_upload "$k1" 20
echo "# download: $(cat "$TB/down.out"); upload: $(cat "$TB/up.out"); $(($(kex) - k0)) key exchanges"

# Both directions at once, so a rekey lands while writes are in flight both
# ways, and small requests in between must not stall behind it.
k2=$(kex)
sluice_alive_or_end both_directions_at_once
bg "$TB/both.down" fetch $L4 $PAT_PORT 23 $((GB / 2))
down=$BG
bg "$TB/both.up" upload $L4 9000 24 $((GB / 2))
up=$BG
bad=0
gets=0
worst=0
while (proc_alive $down || proc_alive $up) && proc_alive "$SLUICE_PID" && [ $gets -lt 300 ]; do
	t0=$(now_ms)
	out=$(inC curl -sS --max-time 10 "http://$L4/?during$gets" 2>&1)
	t=$(($(now_ms) - t0))
	[ $t -gt $worst ] && worst=$t
	[ "$out" = "$INDEX_MARK" ] || bad=$((bad + 1))
	gets=$((gets + 1))
	sleep 0.1
done
tb_reap $down
drc=$?
tb_reap $up
urc=$?
if [ $drc = 0 ] && [ $urc = 0 ] && grep -q '^ok ' "$TB/both.down" && grep -q '^ok ' "$TB/both.up"; then
	pass both_directions_at_once
else
	fail both_directions_at_once "download rc $drc: $(head -c 200 "$TB/both.down"); upload rc $urc: $(head -c 200 "$TB/both.up")"
fi
if [ $bad = 0 ] && [ $gets -gt 0 ]; then pass gets_during_bulk; else
	fail gets_during_bulk "$bad of $gets GETs failed or took over 10 s"
fi
rekeyed rekeyed_both_ways "$k2" 12
echo "# both ways: $(cat "$TB/both.down"); $(cat "$TB/both.up"); $gets GETs in between, the slowest $worst ms; $(($(kex) - k2)) key exchanges"

n=$(kex)
if [ "$n" -ge 50 ]; then pass sshd_rekeyed; else fail sshd_rekeyed "only $n key exchanges in sshd.log"; fi

# Not a single complaint from sluice through all of it.
sluice_ends_clean

tb_finish
