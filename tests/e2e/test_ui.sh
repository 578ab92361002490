#!/bin/bash
# test_ui: what the user sees. Off a terminal: one progress line per start-up
# step, in order, ending in "ready" with the routed networks, and nothing
# periodic. On a real terminal (a pty made by script(1)): the same lines,
# then a status line that rewrites itself about once a second with the
# uptime, the open connections and the bytes each way, cleared at the end.
# With -q: neither. A failure's error follows the step it happened in.
TB_SUITE=ui
. "$(dirname "$0")/lib.sh"
need_sluice
command -v script >/dev/null || {
	fail script "script(1) is not installed"
	exit 1
}
tb_up
BIG_SHA=$(tb_make_file big.bin $((8 << 20))) || tb_die "cannot write big.bin"
ESC=$(printf '\033')

# steps_in_order LOG: the progress lines appear, in this order.
steps_in_order() {
	awk '
		/^sluice: privileged part started / && s == 0 { s = 1 }
		/^sluice: resolving sshhost$/ && s == 1 { s = 2 }
		/^sluice: connecting to 192\.0\.2\.2 port 22$/ && s == 2 { s = 3 }
		/^sluice: authenticating as sluicet \(host key ssh-ed25519 SHA256:/ && s == 3 { s = 4 }
		/^sluice: authenticated by / && s == 4 { s = 5 }
		/^sluice: (remote helper for x86_64: cached|uploading the remote helper for x86_64 \([0-9]+ KiB\))$/ && s == 5 { s = 6 }
		/^sluice: rules installed: 1 network, / && s == 6 { s = 7 }
		/^sluice: ready: routing 198\.51\.100\.0\/24 through 192\.0\.2\.2$/ && s == 7 { s = 8 }
		END { exit s != 8 }' "$1"
}

# --- off a terminal ------------------------------------------------------------
sluice_start_case plain_start http://$L4/ -r sshhost 198.51.100.0/24 || tb_finish
if steps_in_order "$SLUICE_LOG"; then pass progress_lines_in_order; else
	fail progress_lines_in_order "$(tr '\n' '|' <"$SLUICE_LOG")"
fi
got=$(inC curl -sS --max-time 20 "http://$L4/big.bin" | sha256sum | cut -d' ' -f1)
sleep 2.5
if [ "$got" = "$BIG_SHA" ] && ! grep -q "$ESC" "$SLUICE_LOG" && ! grep -q ' | in ' "$SLUICE_LOG"; then
	pass nothing_periodic_off_a_tty
else
	fail nothing_periodic_off_a_tty "download $got; log: $(tail -n 2 "$SLUICE_LOG" | cat -v | tr '\n' '|')"
fi
sluice_stop TERM 5

# A failure is the line after the step it happened in.
sluice_run -r deadhost 198.51.100.0/24
last_step=$(echo "$SLUICE_ERR" | grep -E "$PROGRESS_RE" | tail -n 1)
errline=$(echo "$SLUICE_ERR" | grep -Ev "$PROGRESS_RE")
if [ "$SLUICE_RC" != 0 ] && [ "$last_step" = "sluice: connecting to 192.0.2.99 port 22" ] &&
	[ "$(echo "$errline" | grep -c .)" = 1 ] && echo "$errline" | grep -q 'cannot connect to 192.0.2.99 port 22'; then
	pass failure_follows_its_step
else
	fail failure_follows_its_step "exit $SLUICE_RC: $(echo "$SLUICE_ERR" | tr '\n' '|')"
fi

# --- on a terminal ---------------------------------------------------------------
# tty_run NAME ARGS: sluice under script(1) in C for a download and a
# connection held about 4 s, then SIGTERM; the terminal's bytes are in TB/NAME.ts.
tty_run() {
	local name=$1 pid i
	shift
	script -qfec "ip netns exec $NS_C $SLUICE -F $TB/ssh_config $*" "$TB/$name.ts" </dev/null >/dev/null 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	SLUICE_PID=$!
	for ((i = 0; i < 100; i++)); do
		nft_table_present && inC curl -sf --max-time 2 -o /dev/null "http://$L4/" && break
		sleep 0.1
	done
	inC curl -sS --max-time 20 "http://$L4/big.bin" 2>"$TB/$name.curl" | sha256sum | cut -d" " -f1 >"$TB/$name.sha"
	# One connection held open for about 4 s, with an echo each half second.
	inC timeout 10 bash -c "exec 3<>/dev/tcp/$L4/9001 && for i in 1 2 3 4 5 6 7 8; do
		echo ping-\$i >&3 && read -r -t 2 line <&3 && sleep 0.5 || exit 1; done" 2>>"$TB/$name.curl"
	pid=$(ip netns pids "$NS_C" | while read -r p; do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "$SLUICE -F $TB/ssh_config $* " ] && echo "$p"
	done)
	[ -n "$pid" ] && kill -TERM $pid
	sluice_stop TERM 5 # script itself: it ends with sluice
}

tty_run tty -r sshhost 198.51.100.0/24
ts=$(cat -v "$TB/tty.ts")
n_redraw=$(echo "$ts" | grep -o '\^\[\[Kup 0:00:[0-9][0-9] | [0-9]* connections\? | out [^|]*| in [^^]*' | wc -l)
busy=$(echo "$ts" | grep -o 'up 0:00:[0-9][0-9] | 1 connection | out [^|]*| in [0-9.]* [kM]B ([0-9.]* [kM]\?B/s)' | tail -n 1)
if [ "$(cat "$TB/tty.sha")" = "$BIG_SHA" ] && [ "$n_redraw" -ge 3 ] && [ -n "$busy" ]; then
	pass status_line_on_a_tty
else
	fail status_line_on_a_tty "download $(cat "$TB/tty.sha") $(cat "$TB/tty.curl"), $n_redraw redraws, busy '$busy': $(echo "$ts" | tail -c 600 | tr '\n' '|')"
fi
echo "# a status line seen: $busy"
# The progress lines are on the terminal too, and the last thing there is
# the stop message on a cleared line, not a status line.
tr '\r' '\n' <"$TB/tty.ts" | sed "s/^$ESC\[K//" >"$TB/tty.lines"
if steps_in_order "$TB/tty.lines" && echo "$ts" | grep -q '\^\[\[Ksluice: stopping on signal 15'; then
	pass progress_and_stop_on_a_tty
else
	fail progress_and_stop_on_a_tty "$(echo "$ts" | head -c 1500 | tr '\n' '|')"
fi

tty_run quiet -q -r sshhost 198.51.100.0/24
if [ "$(cat "$TB/quiet.sha")" = "$BIG_SHA" ] && ! grep -q ' | in ' "$TB/quiet.ts" &&
	! grep -q '^sluice: ' "$TB/quiet.ts"; then
	pass quiet_on_a_tty
else
	fail quiet_on_a_tty "download $(cat "$TB/quiet.sha"): $(cat -v "$TB/quiet.ts" | tail -c 400 | tr '\n' '|')"
fi

tb_finish
