#!/bin/bash
# test_rekey: bulk transfers while sshd rekeys every 16 MB. libssh2 1.10 has
# known trouble rekeying under non-blocking I/O; a stalled or corrupted
# stream shows up here as a timeout or a sha256 mismatch.
TB_SUITE=rekey
TB_SSHD_EXTRA="RekeyLimit 16M"
TB_SSHD_LOGLEVEL=DEBUG1 # for "SSH2_MSG_KEXINIT sent", once per key exchange
. "$(dirname "$0")/lib.sh"
have_sluice || {
	fail build "$SLUICE not built"
	exit 1
}
tb_up
BIG_SHA=$(tb_make_file big.bin $((64 << 20))) || tb_die "cannot write big.bin"

sluice_start -r sshhost 198.51.100.0/24
if ! sluice_wait_ready http://$L4/; then
	fail start "$SLUICE_WHY"
	tb_finish
fi
pass start

got=$(
	set -o pipefail
	inC curl -sS --max-time 60 http://$L4/big.bin 2>&1 | sha256sum | cut -d' ' -f1
)
if [ $? = 0 ] && [ "$got" = "$BIG_SHA" ]; then pass download_64mib; else
	fail download_64mib "sha256 $got, want $BIG_SHA"
fi

head -c 50000000 /dev/urandom >"$TB/up.bin"
want=$(sha256sum <"$TB/up.bin" | cut -d' ' -f1)
got=$(inC timeout 60 socat -t 30 -T 30 - TCP:$L4:9000 <"$TB/up.bin" 2>&1)
if [ "$got" = "$want" ]; then pass upload_50mb; else fail upload_50mb "sha server said '$got', want $want"; fi

# Both directions at once, so a rekey lands while writes are in flight.
(
	set -o pipefail
	inC curl -sS --max-time 60 http://$L4/big.bin | sha256sum | cut -d' ' -f1
) >"$TB/down.sha" 2>&1 &
down=$!
got=$(inC timeout 60 socat -t 30 -T 30 - TCP:$L4:9000 <"$TB/up.bin" 2>&1)
wait $down
drc=$?
if [ "$got" = "$want" ] && [ $drc = 0 ] && [ "$(cat "$TB/down.sha")" = "$BIG_SHA" ]; then
	pass both_directions_at_once
else
	fail both_directions_at_once "upload '$got' (want $want), download $(cat "$TB/down.sha") rc $drc"
fi
rm -f "$TB/up.bin"

# One "KEXINIT sent" per key exchange: the first, then one per 16 MB or so.
kex=$(grep -c 'SSH2_MSG_KEXINIT sent' "$TB/sshd.log")
if [ "$kex" -ge 5 ]; then pass sshd_rekeyed; else fail sshd_rekeyed "only $kex key exchanges in sshd.log"; fi

sluice_stop TERM 5
if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass clean_exit; else
	fail clean_exit "exit status $SLUICE_RC: $(sluice_log_tail)"
fi

tb_finish
