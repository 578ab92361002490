#!/bin/bash
# test_many: several tunnels on one machine at once. Two sluices, over two
# addresses of the SSH host, each with a table of its own, both carrying
# traffic; a third that would capture some of the first's network is
# refused with one line naming the first (pid, remote, network), and so is
# a second --dns; SIGKILL of one tunnel (both its processes) leaves the
# other untouched, and its stale record does not stop a new tunnel for the
# same network; two instances run under the systemd unit's own command line;
# two users' tunnels for one network leave each other's connections up.
TB_SUITE=many
TB_ETC_HOOK=tb_names_etc
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up

INST=/run/sluice/instances
# part_of PID: the privileged part a root sluice started, its child.
part_of() { pgrep -P "$1" -f -- '--privileged' | head -n 1; }
index_ok() { inC curl -sf --max-time 5 "http://$1/" 2>/dev/null | grep -qF "$INDEX_MARK"; }
# use N: make tunnel N's pid and log the current ones, for sluice_stop and the log tails.
use() {
	eval "SLUICE_PID=\$PID_$1 SLUICE_LOG=\$LOG_$1"
}

sluice_start -r sshhost 198.51.100.0/24
PID_A=$SLUICE_PID LOG_A=$SLUICE_LOG
if sluice_wait_ready "http://$L4/"; then pass first_up; else
	fail first_up "$SLUICE_WHY"
	tb_finish
fi
sluice_start -r sshhost6 --dns 203.0.113.0/24
PID_B=$SLUICE_PID LOG_B=$SLUICE_LOG
if sluice_wait_ready "http://$X4/"; then pass second_up; else
	fail second_up "$SLUICE_WHY"
	tb_finish
fi
PART_A=$(part_of "$PID_A")
PART_B=$(part_of "$PID_B")
tables=$(sluice_tables | sort | tr '\n' ' ')
want=$(printf 'sluice-%s\n' "$PART_A" "$PART_B" | sort | tr '\n' ' ')
if [ -n "$PART_A" ] && [ -n "$PART_B" ] && [ "$tables" = "$want" ] && index_ok "$L4" &&
	index_ok "$X4"; then
	pass both_carry_own_tables
else
	fail both_carry_own_tables "tables '$tables' (want '$want'); $L4 $(index_ok "$L4" && echo ok), $X4 $(index_ok "$X4" && echo ok)"
fi
if [ -f "$INST/$PART_A" ] && [ -f "$INST/$PART_B" ] && grep -qx "label sshhost6" "$INST/$PART_B"; then
	pass both_recorded
else
	fail both_recorded "$(ls -A "$INST" 2>&1 | tr '\n' ' ')"
fi

# A third whose network lies inside the first's: one line that names it,
# told before any login (sshd accepts no one more).
logins=$(grep -c "Accepted publickey" "$TB/sshd.log")
sluice_run -q -r sshhost 198.51.100.128/25
if [ "$SLUICE_RC" != 0 ] && [ "$SLUICE_RC" != 124 ] && [ "$(echo "$SLUICE_ERR" | wc -l)" = 1 ] &&
	echo "$SLUICE_ERR" | grep -qF "198.51.100.128/25 is routed by another sluice already: pid $PID_A (remote sshhost, uid 0)" &&
	[ "$(nft_table_count)" = 2 ] && index_ok "$L4"; then
	pass overlap_refused_naming_first
else
	fail overlap_refused_naming_first "exit $SLUICE_RC, $(nft_table_count) tables: $(echo "$SLUICE_ERR" | tr '\n' '|')"
fi
if [ "$logins" -gt 0 ] && [ "$(grep -c "Accepted publickey" "$TB/sshd.log")" = "$logins" ]; then
	pass overlap_refused_before_login
else
	fail overlap_refused_before_login "logins before $logins, after $(grep -c "Accepted publickey" "$TB/sshd.log")"
fi
# Another network, but --dns while the second answers DNS: one owner.
sluice_run -q -r sshhost --dns '[2001:db8:2::]/64'
if [ "$SLUICE_RC" != 0 ] && [ "$SLUICE_RC" != 124 ] && [ "$(echo "$SLUICE_ERR" | wc -l)" = 1 ] &&
	echo "$SLUICE_ERR" | grep -qF -- "--dns: sluice pid $PID_B (remote sshhost6, uid 0) answers DNS already" &&
	[ "$(nft_table_count)" = 2 ]; then
	pass second_dns_refused
else
	fail second_dns_refused "exit $SLUICE_RC, $(nft_table_count) tables: $(echo "$SLUICE_ERR" | tr '\n' '|')"
fi
# The same network without --dns, beside both: no clash.
sluice_start -r sshhost '[2001:db8:2::]/64'
PID_C=$SLUICE_PID LOG_C=$SLUICE_LOG
if sluice_wait_ready "http://[$L6]/" && [ "$(nft_table_count)" = 3 ]; then pass third_beside_both; else
	fail third_beside_both "${SLUICE_WHY:-$(nft_table_count) tables}"
fi
use C
sluice_stop TERM 5

# SIGKILL of the first tunnel, both its processes: its table goes with its
# part's socket; the second's table, traffic and record stay.
kill -KILL "$PID_A" "$PART_A" 2>/dev/null
gone_a() { ! sluice_tables | grep -qx "sluice-$PART_A"; }
for ((i = 0; i < 50; i++)); do gone_a && break; sleep 0.1; done
if gone_a && sluice_tables | grep -qx "sluice-$PART_B" && index_ok "$X4" && [ -f "$INST/$PART_B" ] &&
	proc_alive "$PID_B"; then
	pass sigkill_leaves_other
else
	fail sigkill_leaves_other "tables $(sluice_tables | tr '\n' ' '); B alive $(proc_alive "$PID_B" && echo yes)"
fi
use A
sluice_stop KILL 1
# The dead part's record is stale: a new tunnel for its network comes up,
# and the record goes.
stale=no
[ -f "$INST/$PART_A" ] && stale=yes
sluice_start -r sshhost 198.51.100.0/24
PID_A=$SLUICE_PID LOG_A=$SLUICE_LOG
if sluice_wait_ready "http://$L4/" && [ ! -f "$INST/$PART_A" ]; then
	pass stale_record_swept
else
	fail stale_record_swept "record left by the killed part: $stale, now: $(ls -A "$INST" 2>&1 | tr '\n' ' '); ${SLUICE_WHY:-}"
fi
PART_A2=$(part_of "$PID_A")
use A
sluice_stop TERM 5
rc_a=$SLUICE_RC
use B
sluice_stop TERM 5
if [ "$rc_a" = 0 ] && [ "$SLUICE_RC" = 0 ] && ! nft_table_present && [ ! -e "$INST/$PART_A2" ] &&
	[ ! -e "$INST/$PART_B" ]; then
	pass stop_removes_each_own
else
	fail stop_removes_each_own "exits $rc_a $SLUICE_RC, tables $(nft_table_count), records: $(ls -A "$INST" 2>&1 | tr '\n' ' ')"
fi

# Two instances as the templated unit starts them: its ExecStart line, with
# %i for the instance and the unit's argfile directory moved to TB.
exec_start=$(sed -n 's/^ExecStart=@BINDIR@\/sluice //p' "$ROOT/dist/sluice@.service")
mkdir -p "$TB/etc-sluice"
printf -- '-F\n%s\n-r\nsshhost\n198.51.100.0/24\n' "$TB/ssh_config" >"$TB/etc-sluice/office.conf"
printf -- '-F\n%s\n-r\nsshhost6\n203.0.113.0/24\n' "$TB/ssh_config" >"$TB/etc-sluice/lab.conf"
for inst in office lab; do
	args=${exec_start//%i/$inst}
	args=${args//\/etc\/sluice/$TB/etc-sluice}
	# shellcheck disable=SC2086
	ip netns exec "$NS_C" "$SLUICE" $args </dev/null >"$TB/unit-$inst.log" 2>&1 &
	eval "PID_$inst=\$!"
	TB_PIDS="$TB_PIDS $!"
done
up=""
for ((i = 0; i < 100; i++)); do
	index_ok "$L4" && index_ok "$X4" && up=yes && break
	sleep 0.1
done
if [ -n "$exec_start" ] && [ -n "$up" ] && [ "$(nft_table_count)" = 2 ]; then
	pass unit_instances_side_by_side
else
	fail unit_instances_side_by_side "ExecStart '$exec_start': up '$up', $(nft_table_count) tables; $(tail -n 2 "$TB"/unit-*.log | tr '\n' '|')"
fi
for inst in office lab; do
	eval "SLUICE_PID=\$PID_$inst"
	sluice_stop TERM 5
done
if ! nft_table_present; then pass unit_instances_stop_clean; else
	fail unit_instances_stop_clean "tables left: $(sluice_tables | tr '\n' ' ')"
fi

# --- two users' tunnels for one network ---------------------------------------------------
# Root's connections and nobody's, each through a tunnel of its own (their
# rules never meet, so both may route the network). The second's start
# deletes stale conntrack entries for the network; the first's live
# connections, redirected to its live listener, are none of those. Had
# their entries gone, the first packet after (the far side speaking first,
# through the first tunnel's listener) would meet no NAT and reset them.
cat >"$TB/push.py" <<'EOF'
import os, socket, sys, time
if sys.argv[1] == "serve":  # serve PORT GO: one connection; "push" once GO exists
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", int(sys.argv[2])))
    l.listen(1)
    l.settimeout(60)
    c, _ = l.accept()
    end = time.time() + 60
    while not os.path.exists(sys.argv[3]) and time.time() < end:
        time.sleep(0.05)
    c.sendall(b"push\n")
    c.settimeout(10)
    c.recv(1)
else:  # client HOST PORT READY: connect, say so, wait for the push
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
    open(sys.argv[4], "w").close()
    s.settimeout(40)
    try:
        got = s.recv(16)
    except OSError as e:
        got = repr(e).encode()
    print("ok" if got == b"push\n" else "got %r" % got)
EOF
inL "$PY" "$TB/push.py" serve 9010 "$TB/push.go" </dev/null >"$TB/push-serve.log" 2>&1 &
TB_PIDS="$TB_PIDS $!"
wait_port "$NS_L" 9010 || tb_die "push.py did not start: $(cat "$TB/push-serve.log")"
sluice_start -r sshhost --user 0 198.51.100.0/24
PID_R=$SLUICE_PID
if sluice_wait_ready "http://$L4/"; then
	inC "$PY" "$TB/push.py" client $L4 9010 "$TB/push.ready" </dev/null >"$TB/push.out" 2>&1 &
	PUSH=$!
	TB_PIDS="$TB_PIDS $PUSH"
	for ((i = 0; i < 200; i++)); do
		[ -e "$TB/push.ready" ] && break
		sleep 0.1
	done
	sluice_start -r sshhost --user 65534 198.51.100.0/24
	for ((i = 0; i < 150; i++)); do
		grep -q "^sluice: ready: " "$SLUICE_LOG" && break
		proc_alive "$SLUICE_PID" || break
		sleep 0.1
	done
	ready2=$(grep -c "^sluice: ready: " "$SLUICE_LOG")
	touch "$TB/push.go"
	wait "$PUSH"
	tb_forget "$PUSH"
	if [ ! -e "$TB/push.ready" ] || [ "$ready2" != 1 ]; then
		fail users_tunnels_keep_connections "connected: $(ls "$TB/push.ready" 2>&1); second tunnel: $(sluice_log_tail)"
	elif [ "$(cat "$TB/push.out")" = ok ]; then
		pass users_tunnels_keep_connections
	else
		fail users_tunnels_keep_connections "$(cat "$TB/push.out"); second: $(grep 'conntrack' "$SLUICE_LOG")"
	fi
	sluice_stop TERM 5
	SLUICE_PID=$PID_R
	sluice_stop TERM 5
else
	fail users_tunnels_keep_connections "root's tunnel: $SLUICE_WHY"
fi

tb_finish
