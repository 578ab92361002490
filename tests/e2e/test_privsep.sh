#!/bin/bash
# test_privsep: sluice started by an ordinary user. The user's key is only in
# its own ssh-agent, its own ~/.ssh/config and known_hosts name the server,
# and its only sudo right is the line `sluice --sudoers-user` prints. The
# SSH side must run as the user, one small root process (holding
# CAP_NET_ADMIN alone) must hold the firewall and /etc/hosts, and both must be gone after SIGTERM; after a
# SIGKILL of the user's process the root part must clean up by itself, and
# so it must after the signals and limits the user can pass it through sudo,
# and when the user never reads its replies. The
# sudo line must allow nothing else, and the root part must refuse bad
# requests without changing anything. The default line captures the user's
# own connections only: root's and another user's leave as before, and
# router mode, --user root and DNS to a foreign server are refused. The
# admin's --all-users line captures root's connections too.
TB_SUITE=privsep
TB_ETC_HOOK=tb_names_etc
. "$(dirname "$0")/lib.sh"
need_sluice
command -v sudo >/dev/null && command -v visudo >/dev/null || {
	fail sudo "sudo is not installed (run tests/deps.sh)"
	exit 1
}
# The user comes first: useradd replaces /etc/passwd, which would unmount
# the copy that tb_up binds over it for sshd in S.
U=slu$$
SUDOERS=/etc/sudoers.d/sluice-e2e-$$
UHOME="" BINDIR="" STICKY="" UID_U=""
# The cleanup first: whatever is made below goes, also when making the next fails.
TB_ON_DOWN='rm -f "$SUDOERS" "$SUDOERS.tmp"; userdel "$U" 2>/dev/null; for d in "$BINDIR" "$UHOME" "$STICKY"; do [ -z "$d" ] || rm -rf "$d"; done; [ -z "$UID_U" ] || { rm -f /run/sluice/slots/$UID_U.*; rm -rf "/tmp/sluice-$UID_U"; }; rmdir /run/sluice/slots 2>/dev/null'
trap 'eval "$TB_ON_DOWN"' EXIT
UHOME=$(mktemp -d /tmp/sluice-home.XXXXXX) || tb_die "mktemp failed"
# Root's alone all the way up, as its sudoers line demands (/tmp is not).
BINDIR=$(mktemp -d /usr/local/lib/sluice-bin.XXXXXX) || tb_die "mktemp failed"
STICKY=$(mktemp -d /tmp/sluice-sticky.XXXXXX) || tb_die "mktemp failed"
useradd -M -d "$UHOME" -s /bin/sh -U "$U" || tb_die "useradd failed"
# A password too, for the case where sudo asks for one on the terminal.
UPW=pw-$$-$RANDOM
echo "$U:$UPW" | chpasswd || tb_die "chpasswd failed"
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
tb_up
BIG_SHA=$(tb_make_file big.bin $((16 << 20))) || tb_die "cannot write big.bin"
HOSTS_C=/etc/netns/$NS_C/hosts
PRISTINE_SHA=$(sha256sum <"$HOSTS_C")
cp -p "$HOSTS_C" "$TB/hosts.pristine"

# --- the user's agent and its own ssh config; a root-owned copy of sluice ---
chmod 755 "$BINDIR"
cp "$SLUICE" "$BINDIR/sluice" && chmod 755 "$BINDIR/sluice" || tb_die "cannot copy sluice"
chmod 700 "$UHOME"
mkdir -m 700 "$UHOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -C "$U-agent-only" -f "$UHOME/.ssh/agentkey" </dev/null >/dev/null ||
	tb_die "ssh-keygen failed"
cat "$UHOME/.ssh/agentkey.pub" >>"$TB/authorized_keys"
cp "$TB/known_hosts" "$UHOME/.ssh/known_hosts"
cat >"$UHOME/.ssh/config" <<EOF
Host sshhost
	HostName $S4
	User sluicet
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 5
EOF
chown -R "$U:$U" "$UHOME"
# asU CMD...: CMD in C as the user, with its agent, and no terminal.
UENV="HOME=$UHOME USER=$U LOGNAME=$U PATH=/usr/local/bin:/usr/bin:/bin SSH_AUTH_SOCK=$UHOME/agent.sock"
asU() { ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups env -i $UENV "$@" </dev/null; }
asU ssh-agent -a "$UHOME/agent.sock" >/dev/null || tb_die "ssh-agent did not start"
asU ssh-add -q "$UHOME/.ssh/agentkey" 2>/dev/null || tb_die "ssh-add failed"
rm -f "$UHOME/.ssh/agentkey" "$UHOME/.ssh/agentkey.pub"
# The gate for everything below: the user alone can log in to S, by the agent.
if asU ssh -o ControlPath=none sshhost true 2>"$TB/ssh-gate.err"; then pass user_logs_in_by_agent; else
	fail user_logs_in_by_agent "ssh as $U with only its agent failed: $(tail -n 2 "$TB/ssh-gate.err" | tr "\n" "|"); sshd: $(tail -n 2 "$TB/sshd.log" | tr "\n" "|")"
	tb_finish
fi

# --- the sudoers line -------------------------------------------------------
line=$("$BINDIR/sluice" --sudoers-user "$U")
rc=$?
rule=$(echo "$line" | grep -v '^#')
want="$U ALL=(root) NOPASSWD: $BINDIR/sluice --privileged"
if [ $rc = 0 ] && [ "$rule" = "$want" ] && echo "$line" | grep -q '^# .*sudoers.d' &&
	echo "$line" | grep -q "^# .*only $U's own connections"; then
	pass sudoers_line
else
	fail sudoers_line "exit $rc: $(echo "$line" | tr '\n' '|')"
fi
# The wider line is a different one, and says what it gives away.
line_all=$("$BINDIR/sluice" --sudoers-user "$U" --all-users)
rc=$?
rule_all=$(echo "$line_all" | grep -v '^#')
if [ $rc = 0 ] && [ "$rule_all" = "$want --all-users" ] &&
	echo "$line_all" | grep -q "^# .*EVERY local user's connections"; then
	pass sudoers_line_all_users
else
	fail sudoers_line_all_users "exit $rc: $(echo "$line_all" | tr '\n' '|')"
fi
echo "$line" >"$SUDOERS.tmp" && chmod 440 "$SUDOERS.tmp"
if visudo -qcf "$SUDOERS.tmp" >/dev/null 2>&1 && mv "$SUDOERS.tmp" "$SUDOERS"; then
	pass sudoers_line_valid
else
	rm -f "$SUDOERS.tmp"
	fail sudoers_line_valid "visudo -c refused it"
	tb_finish
fi
# A copy the user could replace must not get a line at all.
cp "$SLUICE" "$UHOME/sluice" && chown "$U:$U" "$UHOME/sluice"
out=$("$UHOME/sluice" --sudoers-user "$U" 2>&1)
rc=$?
if [ $rc != 0 ] && echo "$out" | grep -q "not root's alone" && [ "$(echo "$out" | wc -l)" = 1 ]; then
	pass sudoers_refuses_user_owned_copy
else
	fail sudoers_refuses_user_owned_copy "exit $rc: $out"
fi
# Root's own copy, in a root-owned directory, under sticky /tmp: once /tmp is
# emptied anyone could put a program of theirs where the line points.
chmod 755 "$STICKY" && cp "$SLUICE" "$STICKY/sluice" && chmod 755 "$STICKY/sluice"
out=$("$STICKY/sluice" --sudoers-user "$U" 2>&1)
rc=$?
if [ "$(stat -c %a /tmp)" != 1777 ]; then
	echo "# sudoers_refuses_sticky_dir: /tmp is $(stat -c %a /tmp) here, not 1777: not checked"
elif [ $rc != 0 ] && echo "$out" | grep -q "not root's alone" && echo "$out" | grep -q " /tmp" &&
	[ "$(echo "$out" | wc -l)" = 1 ]; then
	pass sudoers_refuses_sticky_dir
else
	fail sudoers_refuses_sticky_dir "exit $rc: $out"
fi
rm -f "$UHOME/sluice"

# --- the line allows the entry point and nothing else -----------------------
# privproto.py MODE CMD...: CMD with one end of a socketpair as its stdin and
# stdout, as sluice starts its part. hello: print the HELLO as hex. bad: a
# run of bad requests, then each reply's type and status. pipe: CMD gets
# pipes instead, and its HELLO (if any) is printed.
cat >"$TB/privproto.py" <<'EOF'
import socket, struct, subprocess, sys
mode, cmd = sys.argv[1], sys.argv[2:]
if mode == "pipe":
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    rd, wr = p.stdout, p.stdin
elif mode == "named":
    # A socket connected to root's listener: its SO_PEERCRED names root.
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.connect(sys.argv[2])
    cmd = sys.argv[3:]
    p = subprocess.Popen(cmd, stdin=a, stdout=a)
    rd = wr = a.makefile("rwb")
else:
    a, b = socket.socketpair()
    p = subprocess.Popen(cmd, stdin=b, stdout=b)
    b.close()
    rd = wr = a.makefile("rwb")
def msg(body): return struct.pack(">I", len(body)) + body
def read_msg():
    hdr = rd.read(4)
    if len(hdr) < 4:
        return b""
    n = struct.unpack(">I", hdr)[0]
    return hdr + rd.read(n)
hello = read_msg()
if mode != "bad":
    print(hello.hex())
else:
    assert hello[4] == 0x40, hello
    reqs = [msg(b"\x02\x00\x00\x00\x00"), msg(b"\x03\x00\x00"), msg(b"\x09"),
            msg(b"\x01\x30\x0c"), struct.pack(">I", 0x7FFFFFF0) + b"\x01" * 4096]
    for r in reqs:
        wr.write(r)
    wr.flush()
    out = []
    for _ in reqs:
        rep = read_msg()[4:]
        out.append("%d:%d" % (rep[1], struct.unpack(">i", rep[2:6])[0]))
    print(" ".join(out))
wr.close()
if mode not in ("pipe", "named"):
    a.close()
print("exit", p.wait())
EOF
# HELLO: length 14, type 0x40, version 3, the part's pid, the caller's uid as
# the kernel saw it, and the grant: confined (1) for the default line.
hello=$(asU "$PY" "$TB/privproto.py" hello sudo -n "$BINDIR/sluice" --privileged 2>/dev/null | head -n 1)
uid_hex=$(printf '%08x' "$UID_U")
if [ "${hello:0:18}" = 0000000e4000000003 ] && [ "${hello:26:8}" = "$uid_hex" ] &&
	[ "${hello:34:2}" = 01 ]; then
	pass sudo_entry_point_allowed
else
	fail sudo_entry_point_allowed "HELLO from sudo -n sluice --privileged: '$hello' (want uid $uid_hex, confined)"
fi
# The caller is whoever made the socket, as the kernel says: a channel that
# is not a socket names no one, and the part refuses to start.
out=$(asU "$PY" "$TB/privproto.py" pipe sudo -n "$BINDIR/sluice" --privileged 2>"$TB/pipe.err")
if [ "$out" = "$(printf '\nexit 1')" ] && grep -q "caller is unknown" "$TB/pipe.err"; then
	pass part_refuses_unknown_caller
else
	fail part_refuses_unknown_caller "got '$(echo "$out" | tr '\n' '|')': $(tr '\n' '|' <"$TB/pipe.err")"
fi
# Nor does a socket connected to someone else's listener: SO_PEERCRED would
# name the listener's owner (root here), not the user.
"$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
import os; os.chmod(sys.argv[1], 0o777)
conns = []
end = time.time() + 30
s.settimeout(1)
while time.time() < end:
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass' "$TB/rootlisten.sock" &
LISTENER=$!
TB_PIDS="$TB_PIDS $LISTENER"
for ((i = 0; i < 50; i++)); do [ -S "$TB/rootlisten.sock" ] && break; sleep 0.1; done
out=$(asU "$PY" "$TB/privproto.py" named "$TB/rootlisten.sock" sudo -n "$BINDIR/sluice" --privileged 2>"$TB/named.err")
if [ "$out" = "$(printf '\nexit 1')" ] && grep -q "caller is unknown: it is a named socket" "$TB/named.err"; then
	pass part_refuses_named_socket
else
	fail part_refuses_named_socket "got '$(echo "$out" | tr '\n' '|')': $(tr '\n' '|' <"$TB/named.err")"
fi
kill "$LISTENER" 2>/dev/null
refused=""
for args in "-V" "--privileged -V" "--privileged --privileged" "-e id -r x 192.0.2.0/24" \
	"-r sshhost 198.51.100.0/24" "--privileged --all-users" "--all-users --privileged" ""; do
	# shellcheck disable=SC2086
	if asU sudo -n "$BINDIR/sluice" $args >/dev/null 2>&1; then refused="$refused|allowed: $args"; fi
done
asU sudo -n /bin/sh -c true >/dev/null 2>&1 && refused="$refused|allowed: /bin/sh"
if [ -z "$refused" ]; then pass sudo_other_arguments_refused; else
	fail sudo_other_arguments_refused "${refused#|}"
fi

# --- the root part refuses bad requests and changes nothing -----------------
# Requests, each answered in order: UPDATE and HOSTS before any INSTALL, an
# unknown type, a cut INSTALL, then one too long to read (skipped, not read).
got=$(asU "$PY" "$TB/privproto.py" bad sudo -n "$BINDIR/sluice" --privileged 2>"$TB/privproto.err")
want="2:-2 3:-2 9:-22 1:-22 0:-90
exit 0"
if [ "$got" = "$want" ] && ! nft_table_present && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ]; then
	pass root_part_refuses_bad_requests
else
	fail root_part_refuses_bad_requests "replies '$(echo "$got" | tr '\n' '|')', want '$(echo "$want" | tr '\n' '|')'; table $(nft_table_count); $(tail -n 3 "$TB/privproto.err" | tr '\n' '|')"
fi

# --- the tunnel, started by the user ----------------------------------------
# usluice_start ARGS: sluice as the user in C, in the background; SLUICE_PID is sluice itself.
usluice_start() {
	SLUICE_N=$((SLUICE_N + 1))
	SLUICE_LOG=$TB/sluice.$SLUICE_N.log
	ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups \
		env -i $UENV "$BINDIR/sluice" "$@" </dev/null >"$SLUICE_LOG" 2>&1 &
	SLUICE_PID=$!
	TB_PIDS="$TB_PIDS $SLUICE_PID"
}
added() { grep -F "$LAN_NAME" "$HOSTS_C"; }
root_sluices() { ps -eo pid=,uid=,rss=,args= | awk -v b="$BINDIR/sluice" '$2 == 0 && $4 == b'; }
others_gone() { [ -z "$(root_sluices)" ] && ! pgrep -u "$U" -f "$BINDIR/sluice" >/dev/null; }
poll() { # poll SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt "$end" ] || return 1
		sleep 0.2
	done
}

# usluice_refused NAME WHAT ARGS...: sluice as the user must refuse ARGS
# before any login, with one line that names WHAT, exit non-zero, and leave
# no table or root process behind.
usluice_refused() {
	local name=$1 what=$2 out rc
	shift 2
	out=$(ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups \
		env -i $UENV timeout 30 "$BINDIR/sluice" -q "$@" </dev/null 2>&1)
	rc=$?
	if [ $rc != 0 ] && [ $rc != 124 ] && [ "$(echo "$out" | wc -l)" = 1 ] &&
		echo "$out" | grep -qF -- "$what" && ! nft_table_present && [ -z "$(root_sluices)" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc, table $(nft_table_count): $(echo "$out" | tr '\n' '|')"
	fi
}
USETPRIV="setpriv --reuid=$UID_U --regid=$GID_U --init-groups"
# shellcheck disable=SC2086
asUcurl() { inC $USETPRIV curl "$@"; }
# Another local user, for "not someone else's": nobody, as every Debian has.
asNobody() { inC setpriv --reuid=65534 --regid=65534 --clear-groups curl "$@"; }

TB_CURL_AS=$USETPRIV
usluice_start -r sshhost -v 198.51.100.0/24
if sluice_wait_ready "http://$L4/"; then pass user_start; else
	fail user_start "$SLUICE_WHY"
	tb_finish
fi
got=$(asUcurl -sS --max-time 30 "http://$L4/big.bin" | sha256sum | cut -d' ' -f1)
if [ "$got" = "$BIG_SHA" ]; then pass user_download_sha256; else fail user_download_sha256 "got $got"; fi
# The user's own connection goes through; root's and nobody's, to the same
# address at the same moment, are not captured (S does not forward, so
# uncaptured they time out). Gated on the user's succeeding just before.
if asUcurl -sf --max-time 5 -o /dev/null "http://$L4/"; then
	if inC curl -sf --connect-timeout 3 --max-time 4 -o /dev/null "http://$L4/"; then
		fail root_not_captured "root's curl to $L4 went through the user's tunnel"
	else
		pass root_not_captured
	fi
	if asNobody -sf --connect-timeout 3 --max-time 4 -o /dev/null "http://$L4/"; then
		fail other_user_not_captured "nobody's curl to $L4 went through the user's tunnel"
	else
		pass other_user_not_captured
	fi
	if inC nft list chain inet "$(sluice_table)" output | grep -q "meta skuid != $UID_U return"; then
		pass rules_confined_to_uid
	else
		fail rules_confined_to_uid "$(inC nft list chain inet "$(sluice_table)" output | head -n 6 | tr '\n' '|')"
	fi
else
	for c in root_not_captured other_user_not_captured rules_confined_to_uid; do
		fail $c "the user's own curl failed first"
	done
fi
# Root's own tunnel beside the user's, to another network: both carry
# traffic, each in its own table, and neither's start disturbs the other.
U_PID=$SLUICE_PID U_LOG=$SLUICE_LOG
TB_CURL_AS="" sluice_start -r sshhost 203.0.113.0/24
R_PID=$SLUICE_PID
if TB_CURL_AS="" sluice_wait_ready "http://$X4/" && [ "$(nft_table_count)" = 2 ] &&
	asUcurl -sf --max-time 5 -o /dev/null "http://$L4/" &&
	inC curl -sf --max-time 5 -o /dev/null "http://$X4/"; then
	pass root_and_user_side_by_side
else
	fail root_and_user_side_by_side "${SLUICE_WHY:-$(nft_table_count) tables}"
fi
SLUICE_PID=$R_PID
sluice_stop TERM 5
SLUICE_PID=$U_PID SLUICE_LOG=$U_LOG

if grep -q "authenticated by agent" "$SLUICE_LOG"; then pass user_auth_by_agent; else
	fail user_auth_by_agent "$(grep -i 'authenticat' "$SLUICE_LOG" | tr '\n' '|')"
fi
# The SSH connection to S belongs to sluice, and sluice runs as the user.
owner=$(ps -o uid= -p "$SLUICE_PID" | tr -d ' ')
conn=$(inC ss -tnpH state established "dst $S4:22" | grep -o "pid=$SLUICE_PID,")
if [ "$owner" = "$UID_U" ] && [ -n "$conn" ]; then pass ssh_side_runs_as_user; else
	fail ssh_side_runs_as_user "sluice uid '$owner' (want $UID_U), its SSH connection '$conn'"
fi
roots=$(root_sluices)
n_root=$(echo "$roots" | grep -c .)
rss=$(echo "$roots" | awk '{ print $3 }')
caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$(echo "$roots" | awk '{ print $1 }' | head -n 1)/status" 2>/dev/null)
if [ "$n_root" = 1 ] && echo "$roots" | grep -q -- ' --privileged$' && [ "${rss:-99999}" -lt 16384 ] &&
	[ "$caps" = 0000000000001000 ]; then
	pass one_small_root_process
else
	fail one_small_root_process "root sluice processes: $(echo "$roots" | tr '\n' '|'); CapEff '$caps' (want CAP_NET_ADMIN alone)"
fi
echo "# the root part: $roots (RSS in KiB)"
sluice_stop TERM 5
if [ "$SLUICE_RC" = 0 ] && ! nft_table_present && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ] &&
	poll 5 others_gone; then
	pass user_sigterm_nothing_left
else
	fail user_sigterm_nothing_left "exit $SLUICE_RC, table $(nft_table_count), hosts line '$(added)', root: $(root_sluices | tr '\n' '|')"
fi

# What the default line does not grant: refused before the login, one line each.
usluice_refused refuses_router_mode "router mode" -l 0.0.0.0:12399 -r sshhost 198.51.100.0/24
usluice_refused refuses_user_root "another user's connections" --user root \
	-r sshhost 198.51.100.0/24
usluice_refused refuses_other_users_dns "another user's connections" --dns --user nobody \
	-r sshhost 198.51.100.0/24
usluice_refused refuses_foreign_nameserver "not in /etc/resolv.conf" --dns --ns-hosts "$X4" \
	-r sshhost 198.51.100.0/24
usluice_refused all_users_needs_its_line "--sudoers-user USER --all-users" --all-users \
	-r sshhost 198.51.100.0/24
usluice_refused refuses_hosts_lines "-H: writing /etc/hosts" -H -r sshhost 198.51.100.0/24

# -H writes what every user's lookups read: the admin's --all-users line
# grants it. The cases below that watch host lines run under both lines.
printf '%s\n%s\n' "$line" "$line_all" >"$SUDOERS.tmp" && chmod 440 "$SUDOERS.tmp" &&
	mv "$SUDOERS.tmp" "$SUDOERS"
usluice_start --all-users -r sshhost -H 198.51.100.0/24
if sluice_wait_ready "http://$L4/" && poll 20 added >/dev/null; then pass user_hosts_line; else
	fail user_hosts_line "no $LAN_NAME line in C's hosts in 20 s: ${SLUICE_WHY:-}"
fi
sluice_stop TERM 5

# SIGKILL of the user's process: the root part sees its channel close.
usluice_start --all-users -r sshhost -H 198.51.100.0/24
if sluice_wait_ready "http://$L4/" && poll 20 added >/dev/null; then
	sluice_stop KILL 2
	gone() { ! nft_table_present && [ -z "$(added)" ] && [ -z "$(root_sluices)" ]; }
	if poll 5 gone && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ]; then
		pass user_sigkill_root_part_cleans
	else
		fail user_sigkill_root_part_cleans "5 s after SIGKILL: table $(nft_table_count), line '$(added)', root: $(root_sluices | tr '\n' '|')"
	fi
else
	fail user_sigkill_root_part_cleans "not ready with its hosts line: ${SLUICE_WHY:-no line}"
	sluice_stop KILL 2
fi

# Temporaries of a rewrite, in C's hosts directory and where `ip netns exec`
# makes the rewrite put them (the real /etc, beside the bind-mounted file).
tmps() { ls -A "/etc/netns/$NS_C" /etc 2>/dev/null | grep '^\.hosts\.sluice' | sort; }
new_tmps() { comm -13 <(echo "$TMPS_BEFORE") <(tmps) | tr '\n' ' '; }
# The user's sluice is gone, and so is everything its root part held.
# (proc_alive "" would read /proc//stat, which is /proc/stat.)
all_gone() {
	! nft_table_present && [ -z "$(added)" ] && [ -z "$(root_sluices)" ] &&
		{ [ -z "$SLUICE_PID" ] || ! proc_alive "$SLUICE_PID"; }
}

# What a part that died outright (or is stuck) left behind must not spoil
# the cases after, nor outlive the test.
case_clean() {
	local f
	kill -KILL $(root_sluices | awk '{ print $1 }') 2>/dev/null
	inC nft delete table inet sluice 2>/dev/null
	cp "$TB/hosts.pristine" "$HOSTS_C"
	for f in $(new_tmps); do rm -f "/etc/$f" "/etc/netns/$NS_C/$f"; done
}

# Signals sudo relays from the user (its sudo runs as the user's own
# process): the root part must stop the normal way and remove everything.
for sig in USR1 USR2; do
	TMPS_BEFORE=$(tmps)
	usluice_start --all-users -r sshhost -H 198.51.100.0/24
	if ! sluice_wait_ready "http://$L4/" || ! poll 20 added >/dev/null; then
		fail "root_part_sig${sig}_cleans" "not ready with its hosts line: ${SLUICE_WHY:-no line}"
		sluice_stop KILL 2
		continue
	fi
	part=$(root_sluices | awk '{ print $1 }' | head -n 1)
	sudo_pid=$(ps -o ppid= -p "$part" | tr -d ' ')
	# The user signals its own sudo; where that is not allowed, root does it for it.
	by=user
	asU kill "-$sig" "$sudo_pid" 2>/dev/null || { by=root && kill "-$sig" "$sudo_pid"; }
	if poll 5 all_gone && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ] && [ -z "$(new_tmps)" ]; then
		pass "root_part_sig${sig}_cleans"
	else
		fail "root_part_sig${sig}_cleans" "5 s after SIG$sig (sent by $by to sudo $sudo_pid): table $(nft_table_count), line '$(added)', root: $(root_sluices | tr '\n' '|'), temporaries '$(new_tmps)'"
	fi
	sluice_stop KILL 2
	case_clean
done

# A file size limit passes through sudo (the hard one; sudo lifts a soft
# one by itself): under `ulimit -f 1` the rewrite of a hosts file bigger
# than the limit must neither kill the part nor leave a temporary. Where
# root cannot raise a hard limit (no CAP_SYS_RESOURCE, as in some
# containers) the part must refuse to start instead, leaving nothing. The
# user's own log goes through a pipe, which the limit spares.
for lim in -f; do
	TMPS_BEFORE=$(tmps)
	{ cat "$TB/hosts.pristine" && for ((i = 0; i < 100; i++)); do
		echo "# padding line $i, so a rewrite writes past a 1 KiB limit"
	done; } >"$HOSTS_C"
	cp "$HOSTS_C" "$TB/hosts.padded"
	PAD_SHA=$(sha256sum <"$HOSTS_C")
	SLUICE_N=$((SLUICE_N + 1))
	SLUICE_LOG=$TB/sluice.$SLUICE_N.log
	rm -f "$TB/log.fifo" && mkfifo "$TB/log.fifo"
	cat <"$TB/log.fifo" >"$SLUICE_LOG" &
	TB_PIDS="$TB_PIDS $!"
	ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups env -i $UENV \
		sh -c 'ulimit '"$lim"' 1 && exec "$0" "$@"' "$BINDIR/sluice" --all-users -r sshhost -H 198.51.100.0/24 \
		</dev/null >"$TB/log.fifo" 2>&1 &
	SLUICE_PID=$!
	TB_PIDS="$TB_PIDS $SLUICE_PID"
	name="root_part_ulimit${lim}_1"
	if sluice_wait_ready "http://$L4/" && poll 20 added >/dev/null; then
		sluice_stop TERM 5
		if [ "$SLUICE_RC" = 0 ] && poll 5 all_gone && [ "$(sha256sum <"$HOSTS_C")" = "$PAD_SHA" ] &&
			[ -z "$(new_tmps)" ]; then
			pass "$name"
		else
			fail "$name" "exit $SLUICE_RC, table $(nft_table_count), line '$(added)', temporaries '$(new_tmps)', hosts changed: '$(diff "$TB/hosts.padded" "$HOSTS_C" | head -n 4 | tr '\n' '|')': $(sluice_log_tail 3)"
		fi
	elif grep -q "too low to run with" "$SLUICE_LOG" &&
		! capsh --has-b=cap_sys_resource 2>/dev/null && poll 5 all_gone && [ -z "$(new_tmps)" ]; then
		# Without CAP_SYS_RESOURCE (some containers) root cannot raise a hard limit: it must refuse.
		pass "$name"
		echo "# $name: no CAP_SYS_RESOURCE here; the part refused to start, as it must"
	else
		fail "$name" "not ready with its hosts line: ${SLUICE_WHY:-no line}; root: $(root_sluices | tr '\n' '|'), temporaries '$(new_tmps)', table $(nft_table_count), line '$(added)', sluice alive $(proc_alive "$SLUICE_PID" && echo yes)"
	fi
	sluice_stop KILL 2
	case_clean
done

# A user who never reads the replies: the part must not sit in a write with
# SIGTERM waiting. INSTALL and one HOSTS line, then requests until the
# socket takes no more; SIGTERM must still clean up within 5 s.
cat >"$TB/noread.py" <<'EOF'
import os, socket, struct, subprocess, sys, time
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[1:], stdin=b, stdout=b)
b.close()
def msg(body): return struct.pack(">I", len(body)) + body
def recv_all(n):
    out = b""
    while len(out) < n:
        got = a.recv(n - len(out))
        if not got:
            raise SystemExit("channel closed")
        out += got
    return out
def read_msg(): return recv_all(struct.unpack(">I", recv_all(4))[0])
def status(rep): return struct.unpack(">i", rep[2:6])[0]
assert read_msg()[0] == 0x40
net = bytes([4, 24]) + socket.inet_aton("198.51.100.0") + bytes(12) + struct.pack(">HH", 0, 65535)
# The default line captures the caller's own sockets only: --user for itself (flag 2).
uid = int(os.environ["NR_UID"])
a.sendall(msg(b"\x01" + struct.pack(">HHBIIHHH", 12399, 0, 2, uid, 0, 1, 0, 0) + net +
              bytes([6]) + b"noread"))
st_install = status(read_msg())
name = b"noread.example.test"
a.sendall(msg(b"\x03" + struct.pack(">H", 1) + bytes([4]) + socket.inet_aton("198.51.100.9") +
              bytes(12) + bytes([len(name)]) + name))
print("installed", st_install, status(read_msg()), flush=True)
a.setblocking(False)
bad, sent, end = msg(b"\x09") * 512, 0, time.time() + 30
while time.time() < end:
    try:
        sent += a.send(bad)
    except BlockingIOError:
        time.sleep(0.5)  # the part may still be catching up: full only when it stays so
        try:
            sent += a.send(bad)
        except BlockingIOError:
            break
print("flooded", sent, flush=True)
time.sleep(600)
EOF
TMPS_BEFORE=$(tmps)
ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups env -i $UENV \
	NR_UID="$UID_U" "$PY" "$TB/noread.py" sudo -n "$BINDIR/sluice" --privileged --all-users </dev/null >"$TB/noread.out" 2>"$TB/noread.err" &
NR_PID=$!
TB_PIDS="$TB_PIDS $NR_PID"
nr_line() { grep -F noread.example.test "$HOSTS_C"; }
nr_gone() { ! nft_table_present && [ -z "$(nr_line)" ] && [ -z "$(root_sluices)" ]; }
if poll 40 grep -q '^flooded' "$TB/noread.out" && grep -q '^installed 0 0$' "$TB/noread.out" &&
	nft_table_present && [ -n "$(nr_line)" ]; then
	kill -TERM $(root_sluices | awk '{ print $1 }')
	if poll 5 nr_gone && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ] && [ -z "$(new_tmps)" ]; then
		pass root_part_unread_replies_sigterm_cleans
	else
		fail root_part_unread_replies_sigterm_cleans "5 s after SIGTERM: table $(nft_table_count), line '$(nr_line)', root: $(root_sluices | tr '\n' '|')"
	fi
else
	fail root_part_unread_replies_sigterm_cleans "not set up: $(tr '\n' '|' <"$TB/noread.out"); $(tail -n 2 "$TB/noread.err" | tr '\n' '|')"
fi
kill -KILL "$NR_PID" 2>/dev/null
wait "$NR_PID" 2>/dev/null
tb_forget "$NR_PID"
case_clean

# The root part killed on its own: the rules are gone, so the user's sluice
# must not go on as if it still captured anything.
usluice_start -r sshhost 198.51.100.0/24
if sluice_wait_ready "http://$L4/"; then
	kill -TERM $(root_sluices | awk '{ print $1 }')
	for ((i = 0; i < 50; i++)); do proc_alive "$SLUICE_PID" || break; sleep 0.1; done
	sluice_stop TERM 1
	if [ "$SLUICE_RC" = 1 ] && ! nft_table_present && grep -q "the privileged part went away" "$SLUICE_LOG"; then
		pass root_part_killed_stops_user_part
	else
		fail root_part_killed_stops_user_part "exit $SLUICE_RC, table $(nft_table_count): $(sluice_log_tail 2)"
	fi
else
	fail root_part_killed_stops_user_part "not ready: $SLUICE_WHY"
	sluice_stop KILL 2
fi

# The admin's --all-users line: the same user, with --all-users, captures
# root's connection too, as a root sluice would.
echo "$line_all" >"$SUDOERS.tmp" && chmod 440 "$SUDOERS.tmp" && mv "$SUDOERS.tmp" "$SUDOERS"
usluice_start --all-users -r sshhost 198.51.100.0/24
if sluice_wait_ready "http://$L4/"; then
	got=$(inC curl -sS --max-time 30 "http://$L4/big.bin" | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$BIG_SHA" ] && ! inC nft list chain inet "$(sluice_table)" output | grep -q skuid; then
		pass all_users_captures_root
	else
		fail all_users_captures_root "root's download: $got; $(inC nft list chain inet "$(sluice_table)" output | grep skuid)"
	fi
else
	fail all_users_captures_root "not ready: $SLUICE_WHY"
fi
sluice_stop TERM 5

# On a terminal, with a sudoers line that wants the password: sudo asks for
# it there, before anything of SSH happens, and the tunnel comes up.
echo "$U ALL=(root) $BINDIR/sluice --privileged" >"$SUDOERS.tmp" && chmod 440 "$SUDOERS.tmp" &&
	mv "$SUDOERS.tmp" "$SUDOERS"
cat >"$TB/ptydrive.py" <<'EOF'
import os, pty, select, sys, time
pw = os.environ.pop("PTY_PASSWORD").encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, sent, end = b"", False, time.time() + 40
while time.time() < end and b"ready: " not in out:
    if not select.select([fd], [], [], 0.5)[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and b"password for" in out:
        os.write(fd, pw + b"\n")
        sent = True
sys.stdout.buffer.write(out)
sys.stdout.flush()
time.sleep(1)
os.kill(pid, 15)
os.waitpid(pid, 0)
EOF
out=$(ip netns exec "$NS_C" setpriv --reuid="$UID_U" --regid="$GID_U" --init-groups \
	env -i $UENV PTY_PASSWORD="$UPW" "$PY" "$TB/ptydrive.py" "$BINDIR/sluice" -r sshhost 198.51.100.0/24 2>&1 |
	tr -d '\r')
line_of() { echo "$out" | grep -n -m 1 -e "$1" | cut -d: -f1; }
l_pw=$(line_of '^\[sluice\] password for')
l_res=$(line_of '^sluice: resolving')
l_ready=$(line_of '^sluice: ready: ')
if [ -n "$l_pw" ] && [ -n "$l_res" ] && [ -n "$l_ready" ] && [ "$l_pw" -lt "$l_res" ] &&
	[ "$l_res" -lt "$l_ready" ]; then
	pass sudo_password_on_tty_first
else
	fail sudo_password_on_tty_first "$(echo "$out" | head -n 8 | tr '\n' '|')"
fi
for ((i = 0; i < 50; i++)); do [ -z "$(root_sluices)" ] && ! nft_table_present && break; sleep 0.1; done
if [ -z "$(root_sluices)" ] && ! nft_table_present; then pass sudo_password_run_clean; else
	fail sudo_password_run_clean "root: $(root_sluices | tr '\n' '|'), table $(nft_table_count)"
fi

tb_finish
