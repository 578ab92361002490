#!/bin/bash
# test_reach: other ways to the SSH host.
#   -e 'ssh -F cfg': the tunnel over OpenSSH's own client: bulk both ways
#     with sha256 checks, half-close, a refused port seen as a reset, a
#     clean SIGTERM; a command that fails (wrong key, not found) says so in
#     one line and leaves nothing behind.
#   --direct: the same checks with each connection in a channel of ssh's
#     ControlMaster, whose bytes sluice never reads; a refused channel is a
#     reset; a reconnect brings a new master; stopping resets what is open;
#     a command that starts no master is one line.
#   A bastion: S's sshd lets TCP through, and a second sshd listens only on
#     127.0.0.1:2222 inside S, with a host key of its own. sluice reaches it
#     with ProxyJump through the first, with a ProxyCommand, and with -e
#     over ssh's own ProxyJump; the host key is checked against the inner
#     server's name ([127.0.0.1]:2222), so the outer one's key on file would
#     not do. A proxy that cannot connect gives one clear line. Run from
#     a terminal with --lanes 3, only the first lane's ProxyCommand has it;
#     one that must ask fails on the further lanes, and after a few tries
#     one line in its words says sluice carries on with the first.
#   The command line from an @FILE and from SLUICE_ARGS.
TB_SUITE=reach
TB_SSHD_FORWARDING=yes
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
BIG_SHA=$(tb_make_file big.bin $((64 << 20))) || tb_die "cannot write big.bin"
NET=198.51.100.0/24

# nothing_left CASE: no table in C and no sluice, ssh or helper process anywhere in the testbed.
nothing_left() {
	local left
	left="$(ns_ps "$NS_C" args=)$(login_procs_in_s)"
	if nft_table_present; then fail "$1" "table inet $(sluice_table) left in C"; elif [ -n "$left" ]; then
		fail "$1" "left running: $(echo "$left" | tr '\n' '|')"
	else pass "$1"; fi
}

# one_line_error CASE PATTERN: sluice_run failed with one error line on stderr
# (besides the progress lines) matching PATTERN.
one_line_error() {
	local lines
	lines=$(printf '%s\n' "$SLUICE_ERR" | grep -Ev "$PROGRESS_RE" | grep -c .)
	if [ "$SLUICE_RC" = 0 ] || [ "$SLUICE_RC" = 124 ]; then
		fail "$1" "exit status $SLUICE_RC, want a failure: $SLUICE_ERR"
	elif [ "$lines" != 1 ]; then
		fail "$1" "$lines lines on stderr, want 1: $(echo "$SLUICE_ERR" | tr '\n' '|')"
	elif ! echo "$SLUICE_ERR" | grep -Eq -- "$2"; then
		fail "$1" "stderr '$SLUICE_ERR' does not match '$2'"
	else
		pass "$1"
	fi
}

# --- -e over OpenSSH ------------------------------------------------------------
ECMD="ssh -F $TB/ssh_config"
if sluice_start_case e_start http://$L4/ -r sshhost -v -e "$ECMD" $NET '[2001:db8:2::]/64'; then
	if grep -q "transport command: $ECMD" "$SLUICE_LOG"; then pass e_transport_is_command; else
		fail e_transport_is_command "no 'transport command' line: $(sluice_log_tail)"
	fi
	# The tunnel rides on an ssh child of sluice's, not on libssh2.
	# (With sluice's own ControlMaster options before the host, when the config names none.)
	if pgrep -P "$SLUICE_PID" -f "^ssh -F $TB/ssh_config( -o [^ ]+)* sshhost" >/dev/null; then pass e_ssh_child_runs; else
		fail e_ssh_child_runs "no ssh child of sluice's: $(ps -o pid,args --ppid "$SLUICE_PID" | tr '\n' '|')"
	fi
	# OpenSSH queues deeply itself: the helper's stdout pipe is deep too.
	helper_pipes_are e_helper_pipes_deep "1024 1024"
	tb_traffic_checks e_
	stopped_clean e_sigterm_clean_exit TERM
	helper_gone e_remote_helper_exits
	nothing_left e_nothing_left
fi

# --- --direct: ssh itself relays each connection, in a channel of its own -------
# master_socket: the ControlPath sluice gave its ssh child (--direct).
master_socket() { pgrep -a -P "$SLUICE_PID" ssh | sed -n 's/.*ControlPath=\([^ ]*\).*/\1/p' | head -n 1; }
# bytes_read_by PID: what it has read and written so far (sockets included).
bytes_read_by() { awk '/^(rchar|wchar):/ { n += $2 } END { print n + 0 }' "/proc/$1/io" 2>/dev/null; }
if sluice_start_case d_start http://$L4/ -r sshhost -v -e "$ECMD" --direct $NET '[2001:db8:2::]/64'; then
	ctl=$(master_socket)
	if [ -n "$ctl" ] && [ -S "$ctl" ]; then pass d_master_listens; else
		fail d_master_listens "no ControlMaster socket '$ctl': $(pgrep -a -P "$SLUICE_PID" | tr '\n' '|')"
	fi
	io0=$(bytes_read_by "$SLUICE_PID")
	tb_traffic_checks d_
	io1=$(bytes_read_by "$SLUICE_PID")
	# 64 MiB down and 20 MB up passed the checks above: relayed by sluice, they
	# would count here twice over.
	if [ -n "$io0" ] && [ -n "$io1" ] && [ $((io1 - io0)) -lt $((8 << 20)) ]; then
		pass d_bytes_bypass_sluice
	else
		fail d_bytes_bypass_sluice "sluice read and wrote $((io1 - io0)) bytes while 84 MB moved"
	fi
	# --status counts what ssh relays. The refused ports were refused channels,
	# reset at once: with channels opening, none was tried again through the tunnel.
	check=$(inC "$SLUICE" --status --json 2>&1 | "$PY" -c '
import json, sys
t = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])][0]
assert t["direct_opened"] >= 4 and t["direct_refused"] >= 3 and t["direct_fell_back"] == 0, t
print("ok", t["direct_opened"], t["direct_refused"])' "$SLUICE_PID" 2>&1)
	if [ "${check%% *}" = ok ]; then pass d_status_counts; else fail d_status_counts "$check"; fi
	# The session killed on the server: the next one has a master of its own, in a new directory.
	kill_sessions
	for ((i = 0; i < 150; i++)); do
		grep -q "reconnected to" "$SLUICE_LOG" && break
		sleep 0.1
	done
	ctl2=$(master_socket)
	io0=$(bytes_read_by "$SLUICE_PID")
	got=$(
		set -o pipefail
		inC curl -sS --max-time 60 http://$L4/big.bin 2>&1 | sha256sum | cut -d' ' -f1
	)
	io1=$(bytes_read_by "$SLUICE_PID")
	if ! grep -q "reconnected to" "$SLUICE_LOG"; then
		fail d_reconnect_new_master "no reconnect within 15 s: $(sluice_log_tail)"
	elif [ -z "$ctl2" ] || [ "$ctl2" = "$ctl" ] || [ ! -S "$ctl2" ] || [ -e "${ctl%/*}" ]; then
		fail d_reconnect_new_master "master socket '$ctl' then '$ctl2'"
	elif [ "$got" != "$BIG_SHA" ] || [ $((io1 - io0)) -ge $((8 << 20)) ]; then
		fail d_reconnect_new_master "sha256 $got; sluice moved $((io1 - io0)) bytes itself"
	else
		pass d_reconnect_new_master
	fi
	ctl=$ctl2
	# The master killed under a download: cut off, not ended as if complete; a new session follows.
	cut_download d_master_killed_resets 1 pkill -KILL -P "$SLUICE_PID" -x ssh
	for ((i = 0; i < 150; i++)); do
		[ "$(grep -c "reconnected to" "$SLUICE_LOG")" -ge 2 ] && break
		sleep 0.1
	done
	ctl=$(master_socket)
	stop_resets_open d_stop_resets_open 1
	stopped_clean d_sigterm_clean_exit TERM
	if [ -n "$ctl" ] && [ ! -e "${ctl%/*}" ]; then pass d_ctl_dir_removed; else
		fail d_ctl_dir_removed "'${ctl%/*}' is still there"
	fi
	nothing_left d_nothing_left
fi
# ssh takes the first -o it is given: the command's own ControlMaster=no wins, so no master.
sluice_run -r sshhost -e "$ECMD -o ControlMaster=no" --direct $NET
one_line_error d_no_master_error "--direct: the -e command started no ControlMaster"
nothing_left d_no_master_nothing_left

sluice_run -r wrongkey -e "$ECMD" $NET
one_line_error e_wrong_key_error "-e command .*exit 255.*Permission denied"
nothing_left e_wrong_key_nothing_left
sluice_run -r sshhost -e "/nonexistent/ssh -F $TB/ssh_config" $NET
one_line_error e_command_not_found "-e command .*exit 127"
sluice_run -r sshhost -e "$ECMD" -i "$TB/id_ed25519" $NET
one_line_error e_refuses_identity "-i and --known-hosts do not apply with -e"

# --- a bastion ------------------------------------------------------------------
# The inner sshd: loopback only, its own host key, the same login user.
sed -e "s|^ListenAddress .*||" -e "s|^HostKey .*||" -e "s|^PidFile .*|PidFile $TB/inner.pid|" \
	"$TB/sshd_config" >"$TB/inner_config"
printf 'ListenAddress 127.0.0.1:2222\nHostKey %s\n' "$TB/other_host_key" >>"$TB/inner_config"
ip netns exec "$NS_S" sh -c 'mount -t tmpfs -o mode=0755,size=1m sluice-e2e-inner /run &&
	mkdir /run/sshd && /usr/sbin/sshd -t -f "$1" && exec /usr/sbin/sshd -D -f "$1" -E "$2"' \
	sh "$TB/inner_config" "$TB/inner.log" </dev/null >"$TB/inner.start.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"
inner_up() { inS ss -Hltn 'sport = :2222' | grep -q .; }
for ((i = 0; i < 50; i++)); do inner_up && break; sleep 0.1; done
inner_up || tb_die "inner sshd did not start: $(tail -n 3 "$TB/inner.start.log" "$TB/inner.log" | tr '\n' ' ')"

# Known hosts for the inner server under its own name; the outer one's stay.
cp "$TB/known_hosts" "$TB/known_hosts_inner"
echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$TB/other_host_key.pub")" >>"$TB/known_hosts_inner"
cat >"$TB/ssh_config_jump" <<EOF
Host inner
	HostName 127.0.0.1
	Port 2222
	ProxyJump sshhost
Host innerpc
	HostName 127.0.0.1
	Port 2222
	ProxyCommand ssh -F $TB/ssh_config_jump -W %h:%p sshhost
Host innerpctty
	HostName 127.0.0.1
	Port 2222
	ProxyCommand sh -c 'if sh -c ": </dev/tty" 2>/dev/null; then echo tty; else echo none; fi >>$TB/proxy.tty; exec ssh -F $TB/ssh_config_jump -W %h:%p sshhost'
Host innerpcask
	HostName 127.0.0.1
	Port 2222
	ProxyCommand sh -c 'sh -c ": </dev/tty" 2>/dev/null || { echo "cannot ask for the one-time code: no terminal" >&2; exit 1; }; exec ssh -F $TB/ssh_config_jump -W %h:%p sshhost'
Host innerbad
	HostName 127.0.0.1
	Port 2223
	ProxyJump sshhost
Host innerdeadjump
	HostName 127.0.0.1
	Port 2222
	ProxyJump deadhost
Host sshhost
	HostName $S4
Host deadhost
	HostName 192.0.2.99
	ConnectTimeout 2
Host *
	IdentityFile $TB/id_ed25519
EOF
tb_ssh_defaults "$TB/known_hosts_inner" >>"$TB/ssh_config_jump"

# through_inner CASE: a checksummed download works, and the inner sshd
# logged the login since inner_fresh.
inner_fresh() { : >"$TB/inner.log"; }
through_inner() {
	local got
	got=$(
		set -o pipefail
		inC curl -sS --max-time 60 http://$L4/big.bin 2>&1 | sha256sum | cut -d' ' -f1
	)
	if [ "$got" != "$BIG_SHA" ]; then
		fail "$1" "sha256 $got, want $BIG_SHA"
		return
	fi
	if grep -q "Accepted publickey for sluicet from 127.0.0.1" "$TB/inner.log"; then
		pass "$1"
	else
		fail "$1" "the inner sshd saw no login: $(tail -n 2 "$TB/inner.log" | tr '\n' '|')"
	fi
}

SLUICE_CFG=$TB/ssh_config_jump
inner_fresh
if sluice_start_case jump_start http://$L4/ -r inner -v $NET; then
	through_inner jump_download_64mib
	# The proxy is an ssh -W child; nothing here knows the server's address.
	if grep -q "transport ssh: cipher" "$SLUICE_LOG"; then pass jump_is_libssh2; else
		fail jump_is_libssh2 "no libssh2 transport line: $(sluice_log_tail)"
	fi
	stopped_clean jump_sigterm_clean_exit TERM
	nothing_left jump_nothing_left
fi
inner_fresh
if sluice_start_case proxycommand_start http://$L4/ -r innerpc -v $NET; then
	through_inner proxycommand_download_64mib
	# Its text may hold a secret (sshpass -p): the log says that one runs, not what.
	if grep -q "through its ProxyCommand" "$SLUICE_LOG" && ! grep -qF -- "-W %h:%p" "$SLUICE_LOG"; then
		pass proxycommand_text_not_logged
	else
		fail proxycommand_text_not_logged "$(grep -i proxycommand "$SLUICE_LOG" | head -n 2 | tr '\n' '|')"
	fi
	stopped_clean proxycommand_sigterm_clean_exit TERM
fi

# sluice_start_pty ARGS...: as sluice_start, but with a terminal of its own (a
# pty) as its controlling terminal, as when run from a shell; its output
# still goes to the log. SLUICE_PID is sluice's; PTY_PID the process that
# holds the terminal and ends with sluice's exit status.
sluice_start_pty() {
	local i
	SLUICE_N=$((SLUICE_N + 1))
	SLUICE_LOG=$TB/sluice.$SLUICE_N.log
	SLUICE_PID=""
	rm -f "$TB/pty.pid"
	ip netns exec "$NS_C" "$PY" -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.execv(sys.argv[3], sys.argv[3:])
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("%d\n" % pid)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
try:
    while os.read(fd, 4096):
        pass
except OSError:
    pass
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))' \
		"$SLUICE_LOG" "$TB/pty.pid" "$SLUICE" -F "${SLUICE_CFG:-$TB/ssh_config}" "$@" </dev/null >/dev/null 2>&1 &
	PTY_PID=$!
	TB_PIDS="$TB_PIDS $PTY_PID"
	for ((i = 0; i < 50; i++)); do
		[ -s "$TB/pty.pid" ] && SLUICE_PID=$(cat "$TB/pty.pid") && break
		sleep 0.1
	done
	TB_PIDS="$TB_PIDS $SLUICE_PID"
}

# sluice_stop_pty: SIGTERM to sluice started by sluice_start_pty; SLUICE_RC its exit status.
sluice_stop_pty() {
	pid_in_ns "$SLUICE_PID" "$NS_C" && kill -TERM "$SLUICE_PID" 2>/dev/null
	tb_reap "$PTY_PID"
	SLUICE_RC=$?
	tb_forget "$SLUICE_PID"
	SLUICE_PID=""
}

# Only the first lane's login may ask on the terminal, at start: a further
# lane's ProxyCommand runs without one, in a session of its own. A proxy
# that needs to ask fails there; after a few tries sluice says so, in the
# proxy's words, goes on with the lanes it has, and tries again slowly.
rm -f "$TB/proxy.tty"
sluice_start_pty -r innerpctty -v --lanes 3 $NET
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c . "$TB/proxy.tty" 2>/dev/null)" -ge 3 ] && [ "$(sluice_lanes up | grep -c '^1$')" = 3 ] && break
	proc_alive "$SLUICE_PID" || break
	sleep 0.2
done
runs=$(tr '\n' ' ' <"$TB/proxy.tty" 2>/dev/null)
if [ "$(head -n 1 "$TB/proxy.tty" 2>/dev/null)" != tty ]; then
	echo "# proxycommand_lanes_no_tty: not checked, the first lane's proxy had no terminal either ($runs)"
elif [ "$runs" = "tty none none " ] && [ "$(sluice_lanes up | grep -c '^1$')" = 3 ]; then
	pass proxycommand_lanes_no_tty
else
	fail proxycommand_lanes_no_tty "proxies saw '$runs', lanes '$(sluice_lanes up | tr '\n' '|')': $(sluice_log_tail 3)"
fi
sluice_stop_pty
if [ "$SLUICE_RC" = 0 ] && ! nft_table_present; then pass proxycommand_pty_stop_clean; else
	fail proxycommand_pty_stop_clean "exit status $SLUICE_RC: $(sluice_log_tail 3)"
fi

sluice_start_pty -r innerpcask -v --lanes 3 $NET
# (four tries, 2, 4 and 8 s apart)
for ((i = 0; i < 200; i++)); do
	grep -q "carrying on with" "$SLUICE_LOG" && break
	proc_alive "$SLUICE_PID" || break
	sleep 0.2
done
if ! grep -q "ready: " "$SLUICE_LOG"; then
	echo "# proxycommand_asks_lane_fails: not checked, the first lane did not come up: $(sluice_log_tail 2)"
elif grep -q "lanes: lane [12] to .* did not open through the proxy 4 times (ProxyCommand sh failed: cannot ask for the one-time code: no terminal .*); a further lane runs it without a terminal, so one that asks for anything fails there; carrying on with 1 lane, trying again every 10 min" "$SLUICE_LOG" &&
	[ "$(sluice_lanes up | grep -c '^1$')" = 1 ] && [ "$(inC curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$L4/")" = 200 ]; then
	pass proxycommand_asks_lane_fails
else
	fail proxycommand_asks_lane_fails "lanes '$(sluice_lanes up | tr '\n' '|')': $(grep -e "lane" "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
fi
sluice_stop_pty

inner_fresh
if sluice_start_case e_jump_start http://$L4/ -r inner -v -e "ssh -F $TB/ssh_config_jump" $NET; then
	through_inner e_jump_download_64mib
	stopped_clean e_jump_sigterm_clean_exit TERM
fi

# The target's name is what the key is checked against: with only the outer
# server's keys on file, the inner one is unknown, and said to be.
sed -i '/^\[127.0.0.1\]:2222 /d' "$TB/known_hosts_inner"
sluice_run -r inner $NET
one_line_error jump_hostkey_is_targets "unknown host key for \[127\.0\.0\.1\]:2222"
echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$TB/other_host_key.pub")" >>"$TB/known_hosts_inner"

sluice_run -r innerbad $NET
one_line_error jump_cannot_connect "ProxyJump sshhost failed: .*(refused|open failed|forwarding failed)"
nothing_left jump_cannot_connect_nothing_left
sluice_run -r innerdeadjump $NET
one_line_error jump_dead_bastion "ProxyJump deadhost failed.*(timed out|unreachable|No route)"
SLUICE_CFG=

# --- the command line from a file, and from SLUICE_ARGS ------------------------
printf '# the lan, through S\n-r sshhost\n\n%s\n' "$NET" >"$TB/args"
if SLUICE_ARGS="-v" sluice_start_case argfile_start http://$L4/ @"$TB/args"; then
	if grep -q 'SSH session to sluicet@' "$SLUICE_LOG"; then pass argfile_env_taken; else
		fail argfile_env_taken "SLUICE_ARGS=-v gave no -v log line: $(sluice_log_tail)"
	fi
	stopped_clean argfile_sigterm_clean_exit TERM
fi
sluice_run @"$TB/no-such-args"
one_line_error argfile_missing "@$TB/no-such-args: No such file"

tb_finish
