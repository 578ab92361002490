#!/bin/bash
# test_faults: faults survived. Out of descriptors (a low RLIMIT_NOFILE and
# many connections), the client sheds and keeps running, and says so at a
# bounded rate; so does a lane's worker, and the server's helper. The helper killed
# mid-transfer: the transfer fails visibly and the session comes back. A
# helper that sends garbage after HELLO (the real helper, run by a fake -e
# command that corrupts its output once the session is up): the session
# ends with a clear message and nothing is left.
TB_SUITE=faults
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
BIG_SHA=$(tb_make_file big.bin $((256 << 20))) || tb_die "cannot write big.bin"

# status_num FIELD: that number from the running sluice's --status --json.
status_num() {
	inC "$SLUICE" --status --json 2>/dev/null | "$PY" -c '
import json, sys
print([x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0][sys.argv[2]])' \
		"$SLUICE_PID" "$1" 2>/dev/null
}
# reset_here_now: the running sluice's count of connections reset before they reached the server.
reset_here_now() { status_num reset_here; }
# lowest_free_fd PID: the limit that lets PID open no more (it is on numbers: a gap below counts).
lowest_free_fd() {
	ls "/proc/$1/fd" 2>/dev/null | sort -n | awk '$1 != NR - 1 { print NR - 1; f = 1; exit } END { if (!f && NR) print NR }'
}
SHED_RE="out of file descriptors: refused [0-9]* new connections\{0,1\} here, reset before reaching "

# --- out of descriptors ------------------------------------------------------------
SLUICE_N=$((SLUICE_N + 1))
SLUICE_LOG=$TB/sluice.$SLUICE_N.log
ip netns exec "$NS_C" prlimit --nofile=96:96 "$SLUICE" -F "$TB/ssh_config" -r sshhost 198.51.100.0/24 \
	</dev/null >"$SLUICE_LOG" 2>&1 &
SLUICE_PID=$!
TB_PIDS="$TB_PIDS $SLUICE_PID"
if sluice_wait_ready "http://$L4/"; then
	# 300 connections at once, held 2 s: far more than 96 descriptors.
	held=$(inC "$PY" -c '
import socket, sys, time
socks = []
for i in range(300):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((sys.argv[1], 80))
        socks.append(s)
    except OSError:
        pass
time.sleep(2)
print(len(socks))
' "$L4")
	sleep 1.5
	if proc_alive "$SLUICE_PID" && grep -q "$SHED_RE" "$SLUICE_LOG" &&
		inC curl -sf --max-time 5 -o /dev/null "http://$L4/"; then
		pass fd_exhaustion_sheds_and_lives
	else
		fail fd_exhaustion_sheds_and_lives "alive $(proc_alive "$SLUICE_PID" && echo yes || echo no), $held connected: $(sluice_log_tail 3)"
	fi
	# However many are shed, the log says so once a second at most, and --status counts them.
	lines=$(grep -c "out of file descriptors" "$SLUICE_LOG")
	said=$(grep "$SHED_RE" "$SLUICE_LOG" | sed -E 's/.*refused ([0-9]+) new.*/\1/' | awk '{ n += $1 } END { print n + 0 }')
	shown=$(reset_here_now)
	if [ "$lines" -ge 1 ] && [ "$lines" -le 6 ] && [ "${said:-0}" -ge 1 ] &&
		[ "${shown:-0}" -ge "$said" ]; then
		pass fd_exhaustion_told_once_a_second
	else
		fail fd_exhaustion_told_once_a_second "$held of 300 connected; $lines lines saying ${said:-0}; --status ${shown:-?}"
	fi
	sluice_stop TERM 5
	if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass fd_exhaustion_clean_exit; else
		fail fd_exhaustion_clean_exit "exit $SLUICE_RC, table $(nft_table_count)"
	fi
else
	fail fd_exhaustion_sheds_and_lives "not ready: $SLUICE_WHY"
fi

# --- a lane's worker out of descriptors ---------------------------------------------------
# Two lanes on the LAN; lane 1's worker may open no more descriptors, so the
# sockets sluice hands it are lost on the way (MSG_CTRUNC). They are reset,
# counted in --status and said in the log; the lane and sluice go on.
if sluice_start_case lane_worker_fds_start "http://$L4/" -r sshhost --lanes 2 198.51.100.0/24; then
	for ((i = 0; i < 40; i++)); do
		[ "$(sluice_lanes up | grep -c 1)" = 2 ] && break
		sleep 0.25
	done
	W=$(pgrep -P "$SLUICE_PID" -x sluice-lane1 | head -n 1)
	nfd=$(lowest_free_fd "$W")
	soft=$(prlimit --pid "$W" --nofile --raw --noheadings -o SOFT 2>/dev/null)
	# The soft limit only: raising it back needs no privilege.
	if [ -n "$W" ] && [ "${nfd:-0}" -gt 0 ] && [ -n "$soft" ] && prlimit --pid "$W" --nofile="$nfd:"; then
		# 20 connections that wait for the server to speak first (as ssh's and
		# SMTP's clients do; a socket closed with a request unread resets
		# anyway). Lane 1's lost ones leave it looking empty, so most go
		# there. Each lost one must end cut off (a reset), never with an
		# empty end that looks complete; the others are still waiting.
		ends=$(inC "$PY" -c '
import socket, sys, time
socks, why, early = [], "", 0
for i in range(20):
    # With a timeout the connect is non-blocking and reads SO_ERROR after:
    # a reset that came that fast is a reset.
    try:
        socks.append(socket.create_connection((sys.argv[1], 80), timeout=5))
    except ConnectionResetError:
        early += 1
    except OSError as e:
        why = repr(e)
time.sleep(1.5)
ends = {"reset": early, "empty": 0, "waiting": 0, "other": 20 - len(socks) - early}
for s in socks:
    s.settimeout(0.05)
    try:
        ends["other" if s.recv(100) else "empty"] += 1
    except ConnectionResetError:
        ends["reset"] += 1
    except socket.timeout:
        ends["waiting"] += 1
    except OSError:
        ends["other"] += 1
print(" ".join("%s=%d" % kv for kv in ends.items()))
if why:
    print(why, file=sys.stderr)
' "$L4" 2>"$TB/lane_ends.err")
		sleep 1.2
		shown=$(reset_here_now)
		prlimit --pid "$W" --nofile="$soft:"
		ok=0
		for ((i = 0; i < 6; i++)); do inC curl -sf --max-time 5 -o /dev/null "http://$L4/" && ok=$((ok + 1)); done
		if [ "${shown:-0}" -ge 1 ] && [ "${shown:-0}" -le 20 ] &&
			echo "$ends" | grep -q "^reset=$shown empty=0 waiting=$((20 - shown)) other=0$" &&
			grep -q "$SHED_RE" "$SLUICE_LOG" && [ $ok = 6 ] &&
			[ "$(pgrep -P "$SLUICE_PID" -x sluice-lane1 | head -n 1)" = "$W" ]; then
			pass lane_worker_out_of_fds_counted_and_lives
		else
			fail lane_worker_out_of_fds_counted_and_lives "--status ${shown:-?}, ends '$ends' $(tail -n 1 "$TB/lane_ends.err"), $ok of 6 after, worker $W now '$(pgrep -P "$SLUICE_PID" -x sluice-lane1 | tr '\n' ' ')': $(sluice_log_tail 3)"
		fi
	else
		fail lane_worker_out_of_fds_counted_and_lives "no lane 1 worker to limit (pid '$W', lowest free fd '$nfd'): lanes '$(sluice_lanes up | tr '\n' ' ')'"
	fi
	sluice_stop TERM 5
fi

# --- the server's helper out of descriptors ----------------------------------------------
# The helper may open no more descriptors (its soft limit, set as its own
# user: root here lacks CAP_SYS_RESOURCE). The connections it cannot open
# are reset there: each fails, the log says so, --status counts them, and
# the session goes on once the limit is back. One lane: a second lane's
# helper would not be limited.
if sluice_start_case helper_fds_start "http://$L4/" -r sshhost --lanes 1 198.51.100.0/24; then
	H=$(helpers_in_s | head -n 1)
	hu=$(awk '/^Uid:/ { print $2 }' "/proc/$H/status" 2>/dev/null)
	hg=$(awk '/^Gid:/ { print $2 }' "/proc/$H/status" 2>/dev/null)
	hfd=$(lowest_free_fd "$H")
	asH() { setpriv --reuid="$hu" --regid="$hg" --clear-groups "$@"; }
	hsoft=$(asH prlimit --pid "$H" --nofile --raw --noheadings -o SOFT 2>/dev/null)
	if [ -n "$H" ] && [ -n "$hu" ] && [ "${hfd:-0}" -gt 0 ] && [ -n "$hsoft" ] &&
		asH prlimit --pid "$H" --nofile="$hfd:"; then
		failed=0
		for ((i = 0; i < 5; i++)); do
			inC curl -s --max-time 5 -o /dev/null "http://$L4/" || failed=$((failed + 1))
		done
		sleep 1.5
		shown=$(status_num refused_remote)
		asH prlimit --pid "$H" --nofile="$hsoft:"
		ok=0
		for ((i = 0; i < 6; i++)); do inC curl -sf --max-time 5 -o /dev/null "http://$L4/" && ok=$((ok + 1)); done
		if [ $failed = 5 ] && [ "${shown:-0}" = 5 ] && [ $ok = 6 ] &&
			grep -q "out of file descriptors on .*: its helper reset [0-9]* connections\{0,1\}$" "$SLUICE_LOG" &&
			[ "$(helpers_in_s | head -n 1)" = "$H" ]; then
			pass helper_out_of_fds_told_and_lives
		else
			fail helper_out_of_fds_told_and_lives "$failed of 5 failed, --status ${shown:-?}, $ok of 6 after, helper $H now '$(helpers_in_s | tr '\n' ' ')': $(sluice_log_tail 3)"
		fi
	else
		fail helper_out_of_fds_told_and_lives "no helper to limit (pid '$H', uid '$hu', lowest free fd '$hfd', soft '$hsoft')"
	fi
	sluice_stop TERM 5
fi

# --- the helper killed mid-transfer ----------------------------------------------------
sluice_start_case helper_kill_start "http://$L4/" -r sshhost 198.51.100.0/24 || tb_finish
inC curl -sS --max-time 60 --limit-rate 20M -o "$TB/cut.bin" "http://$L4/big.bin" 2>"$TB/cut.err" &
CURL=$!
TB_PIDS="$TB_PIDS $CURL"
sleep 1.5
killed=""
for p in $(ip netns pids "$NS_S"); do
	case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
	*sluice-helper*--serve*) kill -KILL "$p" && killed="$killed $p" ;;
	esac
done
wait "$CURL"
rc=$?
tb_forget "$CURL"
back=1
for ((i = 0; i < 30; i++)); do inC curl -sf --max-time 2 -o /dev/null "http://$L4/" && back=0 && break; sleep 0.5; done
if [ -n "$killed" ] && [ "$rc" != 0 ] && [ $back = 0 ] && grep -q "dropped: the remote helper exited" "$SLUICE_LOG"; then
	pass helper_killed_fails_visibly_and_heals
else
	fail helper_killed_fails_visibly_and_heals "killed '$killed', curl exit $rc, back $back: $(sluice_log_tail 3)"
fi
sluice_stop TERM 5

# --- garbage after HELLO -------------------------------------------------------------------
# The fake -e command runs the bootstrap here, in C, as the remote would, and
# passes the helper's output through, until half a second after its HELLO:
# then it writes bytes no frame starts with.
mkdir -m 700 "$TB/fakehome"
cat >"$TB/fake_ssh.py" <<'EOF'
import os, subprocess, sys, threading
boot = sys.argv[-1]
env = dict(os.environ, HOME=sys.argv[1])
p = subprocess.Popen(["/bin/sh", "-c", boot], stdin=sys.stdin, stdout=subprocess.PIPE, env=env)
lock = threading.Lock()
def put(b):
    with lock:
        while b:
            b = b[os.write(1, b):]
def garbage():
    put(b"\xee" * 64)
seen, armed = b"", False
while True:
    b = os.read(p.stdout.fileno(), 65536)
    if not b:
        break
    put(b)
    if not armed:
        seen = (seen + b)[-4096:]
        if b"SLUICE\r\n" in seen:
            armed = True
            threading.Timer(0.6, garbage).start()
p.wait()
EOF
sluice_run -e "$PY $TB/fake_ssh.py $TB/fakehome" --no-reconnect -r sshhost 198.51.100.0/24
leftover=$(ip netns pids "$NS_C" | while read -r p; do
	case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in *sluice*) echo "$p" ;; esac
done)
if [ "$SLUICE_RC" = 1 ] && echo "$SLUICE_ERR" | grep -q "protocol error from the remote helper" &&
	echo "$SLUICE_ERR" | grep -q "ready: " && ! nft_table_present && [ -z "$leftover" ]; then
	pass garbage_after_hello_ends_clean
else
	fail garbage_after_hello_ends_clean "exit $SLUICE_RC, table $(nft_table_count), left '$leftover': $(echo "$SLUICE_ERR" | tail -n 3 | tr '\n' '|')"
fi

tb_finish
