#!/bin/bash
# test_hostkeys: the server's host key as OpenSSH judges it. A server on
# another port whose key is on file for the bare host is accepted without
# writing anything; a changed key names its file and line and the
# ssh-keygen -R that removes it; -o StrictHostKeyChecking=accept-new adds a
# new key; on a terminal sluice asks as ssh does; a revoked key is refused, a
# wildcard line judged as ssh judges it, and /dev/null holds no key. Also
# the passphrase tries.
TB_SUITE=hostkeys
. "$(dirname "$0")/lib.sh"
need_sluice
# The same sshd, host keys and all, also on port 2222.
TB_SSHD_EXTRA="ListenAddress $S4:2222"
tb_up
wait_port "$NS_S" 2222 || tb_die "sshd does not listen on 2222"
NET=198.51.100.0/24
ED=$(cut -d' ' -f1,2 "$TB/ssh_host_ed25519_key.pub")
OTHER=$(cut -d' ' -f1,2 "$TB/other_host_key.pub")

# one_line_error NAME PATTERN: the last sluice_run failed with exactly one
# error line (besides the progress lines) matching PATTERN (grep -E).
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

# with_known FILE: a copy of the test config that keeps its host keys in FILE.
with_known() {
	sed "s|UserKnownHostsFile .*|UserKnownHostsFile $1|" "$TB/ssh_config" >"$1.config"
	SLUICE_CFG=$1.config
}

# --- port 2222, the key on file for port 22 only ------------------------------
cp "$TB/known_hosts" "$TB/kh_port"
with_known "$TB/kh_port"
before=$(sha256sum <"$TB/kh_port")
if sluice_start_case port_key_without_port http://$L4/ -r sshhost:2222 $NET; then
	if grep -q "on $S4 port 2222" "$TB/sshd.log"; then pass port_2222_was_used; else
		fail port_2222_was_used "sshd logged no connection on port 2222"
	fi
	sluice_stop TERM 5
fi
if [ "$(sha256sum <"$TB/kh_port")" = "$before" ]; then pass port_nothing_written; else
	fail port_nothing_written "known_hosts changed: $(tr '\n' '|' <"$TB/kh_port")"
fi

# A key on file for [host]:2222 that differs is a changed key, as in ssh,
# whatever the bare host's entry says.
printf '[%s]:2222 %s\n' $S4 "$OTHER" >>"$TB/kh_port"
sluice_run -r sshhost:2222 $NET
one_line_error port_changed_key_refused "CHANGED.*at $TB/kh_port:3; .*ssh-keygen -R '\[$S4\]:2222' -f '$TB/kh_port'\$"

# --- a changed key: its file and line, and the command that removes it ------------
cp "$TB/known_hosts_changed" "$TB/kh_changed"
printf '%s %s\n' 198.51.100.9 "$ED" | cat - "$TB/kh_changed" >"$TB/kh_changed.tmp"
mv "$TB/kh_changed.tmp" "$TB/kh_changed"
sluice_run -r sshhost --known-hosts "$TB/kh_changed" $NET
one_line_error changed_names_file_line "CHANGED \(ssh-ed25519 SHA256:[^)]*\).* at $TB/kh_changed:2; "
cmd=$(echo "$SLUICE_ERR" | grep -o "ssh-keygen -R .*")
if [ "$cmd" = "ssh-keygen -R '$S4' -f '$TB/kh_changed'" ] && eval "$cmd" >/dev/null 2>&1 &&
	! grep -q "^$S4 " "$TB/kh_changed" && grep -q "^198.51.100.9 " "$TB/kh_changed"; then
	pass changed_keygen_command_works
else
	fail changed_keygen_command_works "command '$cmd'; file now: $(tr '\n' '|' <"$TB/kh_changed")"
fi

# The bare host's key differing is no reason to accept, nor a changed key.
printf '%s %s\n' $S4 "$OTHER" >"$TB/kh_port_other"
with_known "$TB/kh_port_other"
sluice_run -r sshhost:2222 $NET
one_line_error port_bare_other_key_unknown "unknown host key for \[$S4\]:2222"
SLUICE_CFG=

# --- -o, as ssh takes it ---------------------------------------------------------
# accept-new on the command line wins over the config's "yes": the key is
# added to the config's known_hosts, and the next run finds it there.
: >"$TB/kh_new"
with_known "$TB/kh_new"
if sluice_start_case o_accept_new http://$L4/ -r sshhost -o StrictHostKeyChecking=accept-new $NET; then
	sluice_stop TERM 5
fi
if grep -qF "$S4 $ED" "$TB/kh_new"; then pass o_accept_new_added; else
	fail o_accept_new_added "not in known_hosts: $(tr '\n' '|' <"$TB/kh_new")"
fi
SLUICE_CFG=
# HashKnownHosts yes (Debian's own ssh_config says so): the line added names
# no host, ssh-keygen -F finds it under the host's name (on port 2222, as
# [addr]:2222), and the next run with the strict default accepts the key.
for hk_port in 22 2222; do
	hk=$TB/kh_hashed_$hk_port
	: >"$hk"
	with_known "$hk"
	sed -i '1i HashKnownHosts yes' "$hk.config"
	hk_name=$S4
	[ "$hk_port" = 22 ] || hk_name="[$S4]:$hk_port"
	if sluice_start_case hashed_added_$hk_port http://$L4/ -r "sshhost:$hk_port" \
		-o StrictHostKeyChecking=accept-new $NET; then
		sluice_stop TERM 5
		if grep -q '^|1|' "$hk" && ! grep -qF "$S4" "$hk" && ssh-keygen -F "$hk_name" -f "$hk" | grep -qF "${ED#* }"; then
			pass hashed_line_$hk_port
		else
			fail hashed_line_$hk_port "$(tr '\n' '|' <"$hk")"
		fi
		if sluice_start_case hashed_known_$hk_port http://$L4/ -r "sshhost:$hk_port" $NET; then
			sluice_stop TERM 5
		fi
	fi
done
SLUICE_CFG=
# Port and ConnectTimeout from -o; the key on file for the bare host serves 2222.
if sluice_start_case o_port http://$L4/ -r sshhost -o 'ConnectTimeout 3' -o Port=2222 $NET; then
	if grep -q "connecting to $S4 port 2222" "$SLUICE_LOG"; then pass o_port_used; else
		fail o_port_used "$(sluice_log_tail 5)"
	fi
	sluice_stop TERM 5
fi
# UserKnownHostsFile from -o, and it wins over the config's.
with_known "$TB/known_hosts"
sluice_run -r sshhost -o "UserKnownHostsFile=$TB/known_hosts_changed" $NET
one_line_error o_known_hosts_file "CHANGED"
SLUICE_CFG=
sluice_run -r sshhost -o StrictHostKeyChecknig=no $NET
one_line_error o_misspelled_refused "ssh -G rejected it: .*[Bb]ad configuration option: stricthostkeychecknig"
sluice_run -r sshhost -o StrictHostKeyChecking $NET
one_line_error o_no_value_refused "-o .*KEY=VALUE"

# --- what libssh2 cannot judge: @revoked lines, host patterns, /dev/null --------
# A revoked key is refused even where it is also on file, and even with
# StrictHostKeyChecking no, as ssh refuses it.
{ cat "$TB/known_hosts"; printf '@revoked * %s\n' "$ED"; } >"$TB/kh_revoked"
sluice_run -r sshhost --known-hosts "$TB/kh_revoked" -o StrictHostKeyChecking=no $NET
one_line_error revoked_refused "host key for $S4 \(ssh-ed25519 SHA256:[^)]*\) is REVOKED by $TB/kh_revoked:$(wc -l <"$TB/kh_revoked");"
# A wildcard line with another key is a changed key, not a new one that
# accept-new would take and save.
printf '192.0.2.*,!192.0.2.9 %s\n' "$OTHER" >"$TB/kh_wild"
before=$(sha256sum <"$TB/kh_wild")
sluice_run -r sshhost --known-hosts "$TB/kh_wild" -o StrictHostKeyChecking=accept-new $NET
one_line_error wildcard_other_key_changed "CHANGED .*line for a host pattern at $TB/kh_wild:1\$"
if [ "$(sha256sum <"$TB/kh_wild")" = "$before" ]; then pass wildcard_changed_not_saved; else
	fail wildcard_changed_not_saved "known_hosts changed: $(tr '\n' '|' <"$TB/kh_wild")"
fi
# ... and with the server's own key it is a known key, under the strict default.
printf '# one pattern\n192.0.2.*,!192.0.2.9 %s\n' "$ED" >"$TB/kh_wild_ok"
if sluice_start_case wildcard_same_key_known http://$L4/ -r sshhost --known-hosts "$TB/kh_wild_ok" $NET; then
	sluice_stop TERM 5
fi
# HostKeyAlias files the key under another name; GlobalKnownHostsFile names
# the system-wide files. Both as ssh takes them, under the strict default.
printf 'gw-alias %s\n' "$ED" >"$TB/kh_alias"
if sluice_start_case hostkeyalias_known http://$L4/ -r sshhost --known-hosts "$TB/kh_alias" \
	-o HostKeyAlias=gw-alias $NET; then
	sluice_stop TERM 5
fi
# Off port 22 the alias is still the name as written, and another key on
# file for it is a changed key (not a new one accept-new would save).
printf 'gw-alias %s\n' "$OTHER" >"$TB/kh_alias_other"
sluice_run -r sshhost:2222 --known-hosts "$TB/kh_alias_other" -o HostKeyAlias=gw-alias \
	-o StrictHostKeyChecking=accept-new $NET
one_line_error hostkeyalias_port_changed "host key for gw-alias has CHANGED"
: >"$TB/kh_user_empty"
printf '%s %s\n' $S4 "$ED" >"$TB/kh_global"
if sluice_start_case globalknownhostsfile_read http://$L4/ -r sshhost \
	-o "UserKnownHostsFile=$TB/kh_user_empty" -o "GlobalKnownHostsFile=$TB/kh_global" \
	-o StrictHostKeyChecking=yes $NET; then
	sluice_stop TERM 5
fi
# UserKnownHostsFile /dev/null with StrictHostKeyChecking no (lab machines):
# the key is taken for the session, nothing refused, nothing said about saving.
SLUICE_CFG=
if sluice_start_case devnull_known_hosts http://$L4/ -r sshhost -o UserKnownHostsFile=/dev/null \
	-o StrictHostKeyChecking=no $NET; then
	if grep -Eiq "could not save|refusing|added the host key" "$SLUICE_LOG"; then
		fail devnull_nothing_said "$(grep -Ei "could not save|refusing|added the host key" "$SLUICE_LOG" | head -n 2 | tr '\n' '|')"
	else
		pass devnull_nothing_said
	fi
	sluice_stop TERM 5
fi

# --- -i: a file that is not there is named --------------------------------------
: >"$TB/sshd.log"
sluice_run -r sshhost -i "$TB/no_such_key" $NET
one_line_error i_missing_named "-i $TB/no_such_key: no such file"
if ! grep -q "Connection from" "$TB/sshd.log"; then pass i_missing_before_connecting; else
	fail i_missing_before_connecting "sshd saw a connection"
fi

# --- many keys: the right one sixth, under sshd's MaxAuthTries (6) ---------------
# sshd forgives only a first "none": with this many keys sluice asks the
# server's methods before any key, so the sixth still gets its try.
many=()
for k in 1 2 3 4; do
	ssh-keygen -q -t ed25519 -N '' -C "sluice-e2e" -f "$TB/id_many$k" </dev/null >/dev/null
	many+=(-i "$TB/id_many$k")
done
if sluice_start_case many_keys_sixth_taken http://$L4/ -r sshhost "${many[@]}" -i "$TB/id_wrong" $NET; then
	sluice_stop TERM 5
fi

# --- IdentitiesOnly and IdentityAgent, as ssh takes them -----------------------------
# An agent full of other keys: with IdentitiesOnly yes only the config's
# IdentityFile is offered, or sshd's MaxAuthTries (6) would end it first.
command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null || tb_die "ssh-agent not installed"
for k in 5 6; do
	ssh-keygen -q -t ed25519 -N '' -C "sluice-e2e-other" -f "$TB/id_many$k" </dev/null >/dev/null
done
agent_up() { # agent_up SOCK KEY...: an ssh-agent in C holding KEYs
	local sock=$1 i
	shift
	inC ssh-agent -D -a "$sock" >/dev/null 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	for ((i = 0; i < 50; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
	SSH_AUTH_SOCK=$sock inC ssh-add -q "$@" 2>/dev/null
}
agent_up "$TB/agent_full.sock" "$TB"/id_many[1-6] || tb_die "ssh-add failed"
agent_up "$TB/agent_right.sock" "$TB/id_ed25519" || tb_die "ssh-add failed"
export SSH_AUTH_SOCK=$TB/agent_full.sock
if sluice_start_case identitiesonly_skips_agent http://$L4/ -r sshhost -v -o IdentitiesOnly=yes $NET; then
	if grep -q "authenticated by $TB/id_ed25519" "$SLUICE_LOG"; then pass identitiesonly_file_key; else
		fail identitiesonly_file_key "$(grep "authenticated by" "$SLUICE_LOG" | tail -n 1)"
	fi
	sluice_stop TERM 5
fi
# With no .pub beside the identity file, its own public part (openssh-key-v1
# keeps it in the clear) says which agent key it is, as for ssh: the file
# is encrypted and nothing can ask for its passphrase, so only the agent's
# key can log in.
cp "$TB/id_ed25519" "$TB/id_nopub" && ssh-keygen -q -p -N 'no one types this' -f "$TB/id_nopub" >/dev/null ||
	tb_die "cannot make id_nopub"
sed "s|IdentityFile .*|IdentityFile $TB/id_nopub|" "$TB/ssh_config" >"$TB/cfg_nopub"
export SSH_AUTH_SOCK=$TB/agent_right.sock
if SLUICE_CFG=$TB/cfg_nopub sluice_start_case identitiesonly_no_pub http://$L4/ -r sshhost -v \
	-o IdentitiesOnly=yes $NET; then
	if grep -q "authenticated by agent key" "$SLUICE_LOG"; then pass identitiesonly_no_pub_agent_key; else
		fail identitiesonly_no_pub_agent_key "$(grep "authenticated by" "$SLUICE_LOG" | tail -n 1)"
	fi
	sluice_stop TERM 5
fi
unset SSH_AUTH_SOCK
# IdentityAgent names the agent; "none" turns SSH_AUTH_SOCK's off.
unset SSH_AUTH_SOCK
if sluice_start_case identityagent_used http://$L4/ -r sshhost -v -o "IdentityAgent=$TB/agent_right.sock" $NET; then
	if grep -q "authenticated by agent key" "$SLUICE_LOG"; then pass identityagent_key_taken; else
		fail identityagent_key_taken "$(grep "authenticated by" "$SLUICE_LOG" | tail -n 1)"
	fi
	sluice_stop TERM 5
fi
export SSH_AUTH_SOCK=$TB/agent_right.sock
if sluice_start_case identityagent_none http://$L4/ -r sshhost -v -o IdentityAgent=none $NET; then
	if grep -q "authenticated by $TB/id_ed25519" "$SLUICE_LOG"; then pass identityagent_none_no_agent; else
		fail identityagent_none_no_agent "$(grep "authenticated by" "$SLUICE_LOG" | tail -n 1)"
	fi
	sluice_stop TERM 5
fi
unset SSH_AUTH_SOCK

# --- on a terminal: ssh's question, and the passphrase tries ------------------------
# ptydrive.py PATTERN ANSWERS CMD...: run CMD on a new pty; each time PATTERN
# (a regex) appears again, type the next of the |-separated ANSWERS. Stops at
# "ready: " (then SIGTERM) or when CMD ends; prints what the pty showed and
# "EXIT status".
cat >"$TB/ptydrive.py" <<'PY'
import os, pty, re, select, signal, sys, time
pat, answers = re.compile(sys.argv[1].encode()), sys.argv[2].split("|")
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
out, seen, end = b"", 0, time.time() + 30
# PTY_UNTIL: after "ready: ", go on reading until this regex shows too.
until = re.compile(os.environ.get("PTY_UNTIL", "").encode())
while time.time() < end:
    if b"ready: " in out and until.search(out):
        break
    if not select.select([fd], [], [], 0.3)[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    n = len(pat.findall(out))
    while seen < n:
        if seen < len(answers):
            time.sleep(0.2)
            os.write(fd, answers[seen].encode() + b"\n")
        seen += 1
if b"ready: " in out:
    os.kill(pid, signal.SIGTERM)
_, st = os.waitpid(pid, 0)
sys.stdout.buffer.write(out.replace(b"\r", b""))
print("EXIT %d" % (os.waitstatus_to_exitcode(st)))
PY
# on_pty PATTERN ANSWERS ARGS...: sluice ARGS (with the test config) on a pty; PTY_OUT gets it all.
on_pty() {
	local pat=$1 answers=$2
	shift 2
	PTY_OUT=$(timeout -k 2 60 ip netns exec "$NS_C" "$PY" "$TB/ptydrive.py" "$pat" "$answers" \
		"$SLUICE" -F "${SLUICE_CFG:-$TB/ssh_config}" "$@" 2>&1)
}
ASK="-o StrictHostKeyChecking=ask -o BatchMode=no"
QUESTION='continue connecting \(yes/no/\[fingerprint\]\)\? '

: >"$TB/kh_ask"
with_known "$TB/kh_ask"
on_pty "$QUESTION" "no" -r sshhost $ASK $NET
if echo "$PTY_OUT" | grep -q "The authenticity of host '$S4 ($S4)' can't be established" &&
	echo "$PTY_OUT" | grep -qF "ssh-ed25519 key fingerprint is $HOSTKEY_FP." &&
	echo "$PTY_OUT" | grep -q "^sluice: host key for $S4 (ssh-ed25519 SHA256:.*) not accepted$" &&
	echo "$PTY_OUT" | grep -q "^EXIT [1-9]" && [ ! -s "$TB/kh_ask" ]; then
	pass pty_question_no_refuses
else
	fail pty_question_no_refuses "$(echo "$PTY_OUT" | tail -n 6 | tr '\n' '|'); file: $(cat "$TB/kh_ask")"
fi

on_pty "$QUESTION|Please type" "maybe|yes" -r sshhost $ASK $NET
if echo "$PTY_OUT" | grep -q "Please type 'yes', 'no' or the fingerprint" &&
	echo "$PTY_OUT" | grep -q "ready: " && grep -qF "$S4 $ED" "$TB/kh_ask"; then
	pass pty_question_yes_adds
else
	fail pty_question_yes_adds "$(echo "$PTY_OUT" | tail -n 6 | tr '\n' '|'); file: $(cat "$TB/kh_ask")"
fi

: >"$TB/kh_ask"
on_pty "$QUESTION" "$HOSTKEY_FP" -r sshhost $ASK $NET
if echo "$PTY_OUT" | grep -q "ready: " && grep -qF "$S4 $ED" "$TB/kh_ask"; then
	pass pty_question_fingerprint_adds
else
	fail pty_question_fingerprint_adds "$(echo "$PTY_OUT" | tail -n 6 | tr '\n' '|')"
fi

# A key accepted on the terminal that cannot be saved (known_hosts is a
# symlink, never appended through): a further lane, which cannot ask,
# knows it all the same.
ln -sfn "$TB/kh_nowhere" "$TB/kh_link"
with_known "$TB/kh_link"
PTY_UNTIL="lane 1 to [^ ]* is open after|opening lane 1 to [^ ]* failed" on_pty "$QUESTION" "yes" \
	-r sshhost $ASK --lanes 2 -v $NET
if echo "$PTY_OUT" | grep -q "could not save it" && echo "$PTY_OUT" | grep -q "lane 1 to $S4 is open after"; then
	pass pty_accepted_unsaved_key_known_to_lanes
else
	fail pty_accepted_unsaved_key_known_to_lanes "$(echo "$PTY_OUT" | grep -e "lane 1" -e "save" | tail -n 3 | tr '\n' '|')"
fi

# Off a terminal, "ask" is "yes": refused in one line, nothing asked.
: >"$TB/kh_ask"
sluice_run -r sshhost $ASK $NET
one_line_error no_tty_refuses "unknown host key for $S4 .*run sluice on a terminal"
SLUICE_CFG=

# A key with a passphrase: ssh asks three times; so does sluice. "wrongkey"
# has only an unauthorized key of its own to fall back on.
ssh-keygen -q -t ed25519 -N 'right pass' -C sluice-e2e -f "$TB/id_pass" </dev/null >/dev/null ||
	tb_die "ssh-keygen failed"
cat "$TB/id_pass.pub" >>"$TB/authorized_keys"
PASSQ="Enter passphrase for key '$TB/id_pass': "
on_pty "$PASSQ" "wrong one|wrong two|right pass" -r wrongkey -i "$TB/id_pass" $NET
n=$(echo "$PTY_OUT" | grep -c "Enter passphrase for key")
if [ "$n" = 3 ] && echo "$PTY_OUT" | grep -q "authenticated by $TB/id_pass" &&
	echo "$PTY_OUT" | grep -q "ready: "; then
	pass pty_passphrase_third_try
else
	fail pty_passphrase_third_try "$n prompts: $(echo "$PTY_OUT" | tail -n 6 | tr '\n' '|')"
fi
on_pty "$PASSQ" "wrong one|wrong two|wrong three|never typed" -r wrongkey -i "$TB/id_pass" $NET
n=$(echo "$PTY_OUT" | grep -c "Enter passphrase for key")
err=$(echo "$PTY_OUT" | grep -Ev "$PROGRESS_RE|Enter passphrase|^EXIT |^$")
if [ "$n" = 3 ] && echo "$PTY_OUT" | grep -q "^EXIT [1-9]" && [ "$(echo "$err" | grep -c .)" = 1 ] &&
	echo "$err" | grep -q "^sluice: authentication failed .*$TB/id_pass (wrong passphrase, 3 tries)"; then
	pass pty_passphrase_three_wrong
else
	fail pty_passphrase_three_wrong "$n prompts: $(echo "$PTY_OUT" | tail -n 6 | tr '\n' '|')"
fi

tb_finish
