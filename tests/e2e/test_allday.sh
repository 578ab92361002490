#!/bin/bash
# test_allday: running it all day. -D --log-file: every line the daemon
# writes, the start-up's too, is in the file with a timestamp. Without a
# syslog daemon on /dev/log (hidden in a mount namespace when this machine
# has one), --syslog says so and logs to stderr, and -D says its lines
# would be lost. --status shows bytes and rates in the status line's units.
# (--status without XDG_RUNTIME_DIR is tests/unit/test_control.c's.)
TB_SUITE=allday
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
tb_make_file big.bin $((64 << 20)) >/dev/null || tb_die "cannot write big.bin"
PIDF=$TB/sluice.pid
LOGF=$TB/daemon.log
STAMP_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} sluice\[[0-9]+\]: '
# nosyslog CMD...: CMD in C with nothing listening on /dev/log.
nosyslog() {
	if [ -e /dev/log ]; then
		unshare -m --propagation private sh -c 'mount --bind /dev/null /dev/log && exec "$@"' sh \
			ip netns exec "$NS_C" "$@"
	else
		ip netns exec "$NS_C" "$@"
	fi
}

# --- -D --log-file -----------------------------------------------------------------
inC "$SLUICE" -F "$TB/ssh_config" -D --pidfile "$PIDF" --log-file "$LOGF" -r sshhost 198.51.100.0/24 \
	</dev/null >"$TB/d.out" 2>"$TB/d.err"
rc=$?
pid=$(cat "$PIDF" 2>/dev/null)
if [ $rc = 0 ] && grep -Eq "${STAMP_RE}resolving sshhost$" "$LOGF" &&
	grep -Eq "${STAMP_RE}privileged part started" "$LOGF" && grep -Eq "${STAMP_RE}ready: " "$LOGF"; then
	pass logfile_has_startup
else
	fail logfile_has_startup "exit $rc: file: $(head -c 600 "$LOGF" | tr '\n' '|')"
fi
# --- --status units ------------------------------------------------------------------
# Slow enough that the transfer is still open when --status asks: the
# socket buffers on both sides hold several MB, so a fast curl can be done
# (by the tunnel's count) long before its own rate limit says.
inC curl -sS --max-time 60 --limit-rate 1M -o /dev/null "http://$L4/big.bin" 2>/dev/null &
CURL=$!
TB_PIDS="$TB_PIDS $CURL"
for ((i = 0; i < 20; i++)); do
	sleep 0.5
	text=$(inC "$SLUICE" --status)
	[ $i -ge 3 ] && echo "$text" | grep -q " port 80: " && break
done
line=$(echo "$text" | grep "^  connections: ")
if echo "$line" | grep -Eq '^  connections: [0-9]+ open; out [0-9.]+ (B|kB|MB) \([0-9.]+ (B|kB|MB)/s\), in [0-9.]+ (kB|MB|GB) \([0-9.]+ (B|kB|MB)/s\)$' &&
	echo "$text" | grep -Eq "^    $L4 port 80: [0-9.]+ (B|kB|MB) out, [0-9.]+ (B|kB|MB|GB) in, [0-9]+ s$"; then
	pass status_human_units
else
	fail status_human_units "$(echo "$text" | tr '\n' '|')"
fi
kill "$CURL" 2>/dev/null
wait "$CURL" 2>/dev/null
tb_forget "$CURL"
[ -n "$pid" ] && pid_in_ns "$pid" "$NS_C" && kill "$pid"
for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.1; done
bad=$(grep -Ev "$STAMP_RE" "$LOGF")
if [ "$(grep -c . "$LOGF")" -gt 3 ] && [ -z "$bad" ] &&
	grep -Eq "${STAMP_RE}.*(stopp|exit|signal)" "$LOGF"; then
	pass logfile_every_line_stamped
else
	fail logfile_every_line_stamped "unstamped: $(echo "$bad" | head -n 3 | tr '\n' '|'); file: $(tail -n 3 "$LOGF" | tr '\n' '|')"
fi

# --- no syslog ----------------------------------------------------------------------
nosyslog timeout -k 2 20 "$SLUICE" -F "$TB/ssh_config" --syslog -r deadhost 198.51.100.0/24 \
	</dev/null >"$TB/s.out" 2>"$TB/s.err"
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] && grep -q "^sluice: --syslog: no syslog here (/dev/log: .*); logging to stderr$" "$TB/s.err" &&
	grep -q "cannot connect to 192.0.2.99 port 22" "$TB/s.err"; then
	pass syslog_missing_falls_back_to_stderr
else
	fail syslog_missing_falls_back_to_stderr "exit $rc: $(tr '\n' '|' <"$TB/s.err")"
fi
nosyslog timeout -k 2 20 "$SLUICE" -F "$TB/ssh_config" -D -r deadhost 198.51.100.0/24 \
	</dev/null >"$TB/s.out" 2>"$TB/s.err"
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] &&
	grep -q "^sluice: -D: no syslog here (/dev/log: .*): the daemon's lines are lost; give --log-file FILE to keep them$" "$TB/s.err"; then
	pass daemon_without_syslog_says_so
else
	fail daemon_without_syslog_says_so "exit $rc: $(tr '\n' '|' <"$TB/s.err")"
fi
tb_finish
