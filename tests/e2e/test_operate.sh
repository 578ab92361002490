#!/bin/bash
# test_operate: sluice as a service. -D returns once the tunnel works, with
# a pid file and a status socket that killing the pid removes; a failure
# before that is a non-zero exit with the error. The systemd protocol is
# spoken to a datagram socket standing in for systemd (READY=1 only once
# the tunnel carries traffic, STATUS=, WATCHDOG=1, STOPPING=1). --status
# --json shows a transfer in progress; another user is refused on the
# status socket. A pid file path that cannot be is one line and a non-zero
# exit. The shipped unit's sandbox, emulated, runs a tunnel with UDP and
# ping.
TB_SUITE=operate
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
BIG_SHA=$(tb_make_file big.bin $((64 << 20))) || tb_die "cannot write big.bin"
PIDF=$TB/sluice.pid
# dsluice ARGS: sluice -D in C, in the foreground; its exit status and stderr.
dsluice() {
	inC "$SLUICE" -F "$TB/ssh_config" "$@" </dev/null >"$TB/d.out" 2>"$TB/d.err"
}
sluices() { for p in $(ip netns pids "$NS_C"); do
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$SLUICE" ] && echo "$p"
done; }

# --- -D and --pidfile ------------------------------------------------------------
# A pid file left by a process that is gone is replaced.
sleep 0 &
dead=$!
wait $dead
echo "$dead" >"$PIDF"
dsluice -D --pidfile "$PIDF" -r sshhost 198.51.100.0/24
rc=$?
# At once, with no wait: the tunnel works the moment -D returns.
got=$(inC curl -s --max-time 5 http://$L4/)
pid=$(cat "$PIDF" 2>/dev/null)
if [ $rc = 0 ] && [ "$got" = "$INDEX_MARK" ] && [ -n "$pid" ] && proc_alive "$pid" &&
	[ "$(readlink "/proc/$pid/exe")" = "$SLUICE" ] && [ -S "/run/sluice/$pid.sock" ]; then
	pass daemon_ready_on_return
else
	fail daemon_ready_on_return "exit $rc, GET '$got', pid '$pid', socket $(ls /run/sluice 2>&1 | tr '\n' ' '): $(tr '\n' '|' <"$TB/d.err")"
fi
if grep -q "replaced a stale file (pid $dead is gone)" "$TB/d.err"; then pass pidfile_stale_replaced; else
	fail pidfile_stale_replaced "$(tr '\n' '|' <"$TB/d.err")"
fi
# The daemon's stdio is detached, and it is in /.
if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd")" = / ] &&
	[ "$(readlink "/proc/$pid/fd/2")" = /dev/null ] && [ "$(readlink "/proc/$pid/fd/0")" = /dev/null ]; then
	pass daemon_detached
else
	fail daemon_detached "cwd $(readlink "/proc/$pid/cwd"), stderr $(readlink "/proc/$pid/fd/2")"
fi
# A second one with the same pid file is refused, and leaves the first alone.
dsluice -D --pidfile "$PIDF" -r sshhost 198.51.100.0/24
rc=$?
if [ $rc != 0 ] && grep -q "already running there (pid $pid)" "$TB/d.err" && [ "$(cat "$PIDF")" = "$pid" ] &&
	inC curl -sf --max-time 5 -o /dev/null http://$L4/; then
	pass pidfile_in_use_refused
else
	fail pidfile_in_use_refused "exit $rc: $(tr '\n' '|' <"$TB/d.err")"
fi

# A FIFO as the pid file: one clear line and a non-zero exit at once, not a
# root process blocked in open() for ever. deadhost: an old build that got
# past the pid file would still end on its own.
mkfifo "$TB/fifo.pid"
t0=$(now_ms)
timeout -k 2 10 ip netns exec "$NS_C" "$SLUICE" -F "$TB/ssh_config" --pidfile "$TB/fifo.pid" \
	-r deadhost 198.51.100.0/24 </dev/null >"$TB/d.out" 2>"$TB/d.err"
rc=$?
took=$(($(now_ms) - t0))
if [ $rc != 0 ] && [ $rc != 124 ] && [ $took -lt 5000 ] && [ "$(wc -l <"$TB/d.err")" = 1 ] &&
	grep -q "^sluice: --pidfile $TB/fifo.pid: refused: it exists and is not a regular file$" "$TB/d.err" &&
	[ -p "$TB/fifo.pid" ]; then
	pass pidfile_fifo_refused
else
	fail pidfile_fifo_refused "exit $rc after $took ms: $(tr '\n' '|' <"$TB/d.err")"
fi
# --log-file as root: not through a symlink (its target is not created), and
# not in a directory others may write (TB itself is root's, 0700). Another
# network than the daemon's: a clash with it would end these before the
# connect they look for.
ln -s "$TB/log.target" "$TB/log.link"
mkdir -m 1777 "$TB/pub"
dsluice --log-file "$TB/log.link" -r deadhost 203.0.113.0/24
rc=$?
if [ $rc != 0 ] && [ ! -e "$TB/log.target" ] && [ "$(wc -l <"$TB/d.err")" = 1 ] &&
	grep -q "log.link: refused: it is a symbolic link" "$TB/d.err"; then
	pass logfile_symlink_refused
else
	fail logfile_symlink_refused "exit $rc, target $(ls "$TB/log.target" 2>&1): $(tr '\n' '|' <"$TB/d.err")"
fi
dsluice --log-file "$TB/pub/sluice.log" -r deadhost 203.0.113.0/24
rc=$?
if [ $rc != 0 ] && [ ! -e "$TB/pub/sluice.log" ] &&
	grep -q "refused: its directory is writable by users other than root" "$TB/d.err"; then
	pass logfile_shared_dir_refused
else
	fail logfile_shared_dir_refused "exit $rc, file $(ls "$TB/pub/sluice.log" 2>&1): $(tr '\n' '|' <"$TB/d.err")"
fi
# A file in a root-only directory is the normal case: created, and sluice
# goes on (to fail at connecting: the log takes over only once it works).
dsluice --log-file "$TB/sluice.log" -r deadhost 203.0.113.0/24
rc=$?
if [ $rc != 0 ] && [ "$(stat -c %u:%a "$TB/sluice.log" 2>&1)" = 0:640 ] &&
	grep -q "cannot connect to 192.0.2.99 port 22" "$TB/d.err"; then
	pass logfile_root_dir_used
else
	fail logfile_root_dir_used "exit $rc, file $(stat -c %u:%a "$TB/sluice.log" 2>&1): $(tr '\n' '|' <"$TB/d.err")"
fi

# --- --status ---------------------------------------------------------------------------
inC curl -sS --max-time 60 --limit-rate 8M -o /dev/null "http://$L4/big.bin" 2>/dev/null &
CURL=$!
TB_PIDS="$TB_PIDS $CURL"
sleep 2
json=$(inC "$SLUICE" --status --json 2>"$TB/status.err")
rc=$?
check=$(echo "$json" | "$PY" -c '
import json, sys
a = json.load(sys.stdin)
t = [x for x in a if x["pid"] == int(sys.argv[1])]
assert len(t) == 1, "not listed"
t = t[0]
assert t["state"] == "up" and t["transport"] == "ssh" and "cipher" in t["detail"], t
assert t["routed"] == ["198.51.100.0/24"], t["routed"]
assert any(x.startswith("192.0.2.2/32") for x in t["excluded"]), t["excluded"]
assert t["connections"] >= 1 and t["bytes_in"] > 1000000, t
top = t["top"][0]
assert top["address"] == sys.argv[2] and top["port"] == 80 and top["bytes_in"] > 1000000, top
print("ok", t["connections"], t["bytes_in"], t["rate_in"])
' "$pid" "$L4" 2>&1)
if [ $rc = 0 ] && [ "${check%% *}" = ok ]; then pass status_json_shows_transfer; else
	fail status_json_shows_transfer "exit $rc: $check; $(echo "$json" | head -c 400)"
fi
echo "# --status --json during the download: connections, bytes in, rate in: ${check#ok }"
text=$(inC "$SLUICE" --status)
if echo "$text" | grep -q "^sluice (pid $pid): connected to sluicet@$S4 port 22 (sshhost)" &&
	echo "$text" | grep -q "    $L4 port 80: "; then
	pass status_text
else
	fail status_text "$(echo "$text" | tr '\n' '|')"
fi
kill "$CURL" 2>/dev/null
wait "$CURL" 2>/dev/null
tb_forget "$CURL"
# Another user: opened up by hand so that only SO_PEERCRED stands in the way.
ask() { # ask as-uid: the reply's length
	setpriv --reuid="$1" --regid="$1" --clear-groups "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
d = b""
try:
    s.sendall(b"json\n")
    while True:
        b = s.recv(4096)
        if not b: break
        d += b
except (ConnectionResetError, BrokenPipeError):
    pass
print(len(d))' "/run/sluice/$pid.sock" 2>&1
}
chmod 711 /run/sluice
chmod 666 "/run/sluice/$pid.sock"
other=$(ip netns exec "$NS_C" bash -c "$(declare -f ask); PY=$PY; pid=$pid; ask 65534")
mine=$(ip netns exec "$NS_C" bash -c "$(declare -f ask); PY=$PY; pid=$pid; ask 0")
chmod 700 /run/sluice
chmod 600 "/run/sluice/$pid.sock"
if [ "$other" = 0 ] && [ "${mine:-0}" -gt 100 ]; then pass status_other_user_refused; else
	fail status_other_user_refused "another uid got '$other' bytes, root '$mine'"
fi

# Killing the pid removes the rules, the pid file and the socket.
kill "$pid"
gone() { ! proc_alive "$pid" && ! nft_table_present && [ ! -e "$PIDF" ] && [ ! -e "/run/sluice/$pid.sock" ] &&
	[ -z "$(sluices)" ]; }
for ((i = 0; i < 50; i++)); do gone && break; sleep 0.1; done
if gone; then pass daemon_kill_removes_everything; else
	fail daemon_kill_removes_everything "alive $(proc_alive "$pid" && echo yes), table $(nft_table_count), pidfile $(ls "$PIDF" 2>&1), socket $(ls /run/sluice 2>&1 | tr '\n' ' ')"
fi

# A failure before the tunnel works: a non-zero exit, the error on stderr, nothing left.
dsluice -D --pidfile "$PIDF" -r deadhost 198.51.100.0/24
rc=$?
if [ $rc != 0 ] && grep -q "cannot connect to 192.0.2.99 port 22" "$TB/d.err" && [ ! -e "$PIDF" ] &&
	! nft_table_present && [ -z "$(sluices)" ]; then
	pass daemon_failure_before_ready
else
	fail daemon_failure_before_ready "exit $rc, pidfile $(ls "$PIDF" 2>&1): $(tr '\n' '|' <"$TB/d.err")"
fi
# A pid file path that cannot be: one line saying so, a non-zero exit, nothing left.
long=$(printf 'p%.0s' {1..300})
dsluice --pidfile "$long" -r sshhost 198.51.100.0/24
rc=$?
if [ $rc != 0 ] && [ "$(grep -c . "$TB/d.err")" = 1 ] && grep -q -- "--pidfile p*: the path is too long" "$TB/d.err" &&
	! nft_table_present && [ -z "$(sluices)" ]; then
	pass pidfile_too_long_told
else
	fail pidfile_too_long_told "exit $rc: $(tr '\n' '|' <"$TB/d.err")"
fi

# --- sd_notify ---------------------------------------------------------------------------
# The stand-in for systemd: on READY=1 it tries the tunnel at once, so READY
# before the tunnel works would show as a failed GET.
cat >"$TB/notify.py" <<'EOF'
import socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
out = open(sys.argv[2], "w")
end = time.time() + 60
while time.time() < end:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        break
    out.write(msg.replace("\n", "|") + "\n")
    if "READY=1" in msg:
        r = subprocess.run(["curl", "-sf", "--max-time", "5", "-o", "/dev/null", sys.argv[3]])
        out.write("GET-AT-READY %d\n" % r.returncode)
    out.flush()
    if "STOPPING=1" in msg:
        break
EOF
inC "$PY" "$TB/notify.py" "$TB/notify.sock" "$TB/notify.log" "http://$L4/" &
NPY=$!
TB_PIDS="$TB_PIDS $NPY"
wait_file() { for ((i = 0; i < 50; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_file "$TB/notify.sock"
SLUICE_N=$((SLUICE_N + 1))
SLUICE_LOG=$TB/sluice.$SLUICE_N.log
ip netns exec "$NS_C" env NOTIFY_SOCKET="$TB/notify.sock" WATCHDOG_USEC=1000000 \
	"$SLUICE" -F "$TB/ssh_config" -r sshhost 198.51.100.0/24 </dev/null >"$SLUICE_LOG" 2>&1 &
SLUICE_PID=$!
TB_PIDS="$TB_PIDS $SLUICE_PID"
sluice_wait_ready "http://$L4/" || fail notify_start "$SLUICE_WHY"
inC curl -s --max-time 5 -o /dev/null http://$L4/ # a connection: STATUS changes
sleep 3
sluice_stop TERM 5
wait "$NPY"
tb_forget "$NPY"
log=$(cat "$TB/notify.log")
# Start-up feeds the watchdog step by step; the first other message must be READY.
first=$(echo "$log" | grep -v '^WATCHDOG=1$' | head -n 1)
if echo "$first" | grep -q '^READY=1|STATUS=connected to ' && echo "$log" | grep -qx 'GET-AT-READY 0'; then
	pass notify_ready_after_tunnel
else
	fail notify_ready_after_tunnel "$(echo "$log" | tr '\n' '/')"
fi
if echo "$log" | grep -q '^STATUS=connected to 192.0.2.2, [0-9]* connection' &&
	[ "$(echo "$log" | grep -c '^WATCHDOG=1$')" -ge 2 ] && [ "$(echo "$log" | tail -n 1)" = STOPPING=1 ] &&
	[ "$SLUICE_RC" = 0 ]; then
	pass notify_status_watchdog_stopping
else
	fail notify_status_watchdog_stopping "exit $SLUICE_RC: $(echo "$log" | tr '\n' '/')"
fi


# --- the systemd unit's sandbox ------------------------------------------------------------
# No systemd runs here, so the shipped unit's sandbox is emulated from its own
# settings (unit_sandbox.sh): a read-only system but for what it lets sluice
# write, the devices and kernel settings it gives, CAP_NET_ADMIN alone. Run
# as under the unit (root), the tunnel comes up, carries UDP and ping too,
# and a stop leaves nothing.
our_ip_rules() { { inC ip -4 rule; inC ip -6 rule; } 2>/dev/null | grep -cE 'fwmark|iif sluice'; }
inL "$PY" "$E2E_DIR/udp.py" echo 9002 </dev/null >"$TB/udpecho.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"
SLUICE_N=$((SLUICE_N + 1))
SLUICE_LOG=$TB/sluice.$SLUICE_N.log
# Not through inC: a function run in the background is a shell of its own,
# and SLUICE_PID must be sluice's (ip netns exec, unshare and setpriv exec).
ip netns exec "$NS_C" unshare -m --propagation private bash "$E2E_DIR/unit_sandbox.sh" \
	"$ROOT/dist/sluice@.service" "$SLUICE" -F "$TB/ssh_config" -r sshhost 198.51.100.0/24 </dev/null >"$SLUICE_LOG" 2>&1 &
SLUICE_PID=$!
TB_PIDS="$TB_PIDS $SLUICE_PID"
if sluice_wait_ready "http://$L4/"; then
	pass unit_sandbox_tunnel
	out=$(inC timeout 10 "$PY" "$E2E_DIR/udp.py" check $L4 9002 5 1400 2 2>&1)
	if grep -q "UDP and ping through the tunnel" "$SLUICE_LOG" && [ "$out" = "ok 5" ] &&
		inC ping -c 1 -W 3 $L4 >/dev/null 2>&1; then
		pass unit_sandbox_udp_ping
	else
		fail unit_sandbox_udp_ping "udp: $out; $(grep -m1 "UDP and ping" "$SLUICE_LOG")"
	fi
	sluice_stop TERM 5
	if [ "$SLUICE_RC" = 0 ] && ! nft_table_present && [ "$(our_ip_rules)" = 0 ] &&
		[ -z "$(inC ip -o link show | grep -o 'sluice[0-9]*')" ]; then
		pass unit_sandbox_stop_clean
	else
		fail unit_sandbox_stop_clean "exit $SLUICE_RC, table $(nft_table_count), ip rules $(our_ip_rules): $(sluice_log_tail)"
	fi
elif [ -z "$SLUICE_PID" ] && grep -q '^unit_sandbox: ' "$SLUICE_LOG"; then
	echo "# unit_sandbox: $(grep -m1 '^unit_sandbox: ' "$SLUICE_LOG" | cut -d' ' -f2-): not checked"
else
	fail unit_sandbox_tunnel "$SLUICE_WHY"
	sluice_stop KILL 2
fi

tb_finish
