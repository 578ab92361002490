#!/bin/bash
# test_errors: sluice refuses to run when it should, says why in one line
# starting "sluice: ", exits non-zero, and leaves no table and no process in C.
TB_SUITE=errors
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up

# refused NAME PATTERN ARGS...: sluice ARGS exits non-zero within 20 s, every
# stderr line starts "sluice: ", one of them matches PATTERN (grep -Ei), and
# C is left as it was.
refused() {
	local name=$1 pat=$2 left
	shift 2
	sluice_run "$@"
	left=$(ip netns pids "$NS_C")
	if [ "$SLUICE_RC" = 0 ] || [ "$SLUICE_RC" = 124 ]; then
		fail "$name" "exit status $SLUICE_RC, want an error"
	elif [ -z "$SLUICE_ERR" ] || echo "$SLUICE_ERR" | grep -qv '^sluice: '; then
		fail "$name" "stderr lines must start 'sluice: ': $(echo "$SLUICE_ERR" | tr '\n' '|')"
	elif ! echo "$SLUICE_ERR" | grep -Eqi -- "$pat"; then
		fail "$name" "message does not match /$pat/: $(echo "$SLUICE_ERR" | tr '\n' '|')"
	elif [ "$(nft_table_count)" != 0 ]; then
		fail "$name" "a sluice table is in C: $(inC nft list tables | tr '\n' '|')"
	elif [ -n "$left" ]; then
		fail "$name" "processes left in C: $(ps -o args= -p "$(echo $left | tr ' ' ,)" | tr '\n' '|')"
	else
		pass "$name"
	fi
}

refused bad_subnet '10\.0\.0\.0/33' -r sshhost 10.0.0.0/33
n=$(echo "$SLUICE_ERR" | wc -l)
if [ "$n" = 1 ]; then pass bad_subnet_one_line; else fail bad_subnet_one_line "$n lines on stderr"; fi

refused bad_exclude '198\.51\.100\.300' -r sshhost -x 198.51.100.300/32 198.51.100.0/24
refused bad_port '70000' -r sshhost 198.51.100.0/24:70000
refused no_remote '-r|remote|host' 198.51.100.0/24

# The ssh host presents a key other than the one on file: OpenSSH's "REMOTE
# HOST IDENTIFICATION HAS CHANGED" case. The message names the key it got.
refused hostkey_changed 'host ?key.*SHA256:|SHA256:.*host ?key' \
	-r sshhost --known-hosts "$TB/known_hosts_changed" 198.51.100.0/24
if echo "$SLUICE_ERR" | grep -qF "$HOSTKEY_FP"; then pass hostkey_changed_names_fingerprint; else
	fail hostkey_changed_names_fingerprint "no $HOSTKEY_FP in: $(echo "$SLUICE_ERR" | tr '\n' '|')"
fi

refused hostkey_unknown 'host ?key|SHA256:|known' \
	-r sshhost --known-hosts "$TB/known_hosts_empty" 198.51.100.0/24

# The same through the config file's UserKnownHostsFile rather than --known-hosts.
sed "s|UserKnownHostsFile .*|UserKnownHostsFile $TB/known_hosts_changed|" "$TB/ssh_config" \
	>"$TB/ssh_config_changed"
SLUICE_CFG=$TB/ssh_config_changed refused hostkey_changed_via_config 'host ?key|SHA256:' \
	-r sshhost 198.51.100.0/24

refused auth_failed 'auth|denied|permission|key' -r wrongkey 198.51.100.0/24

t0=$(now_ms)
refused unreachable_host '192\.0\.2\.99|connect|unreachable|timed out|timeout' -r deadhost 198.51.100.0/24
dt=$(($(now_ms) - t0))
if [ $dt -lt 10000 ]; then pass unreachable_host_fast; else
	fail unreachable_host_fast "took $dt ms with ConnectTimeout 2"
fi

# Without root (CAP_NET_ADMIN) sluice says so before it logs in anywhere.
cp "$SLUICE" "$TB/sluice-nonroot" && chmod 755 "$TB/sluice-nonroot"
out=$(timeout -k 2 20 ip netns exec "$NS_C" setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all --bounding-set=-all "$TB/sluice-nonroot" -F "$TB/ssh_config" -r sshhost \
	198.51.100.0/24 2>&1 </dev/null)
rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && echo "$out" | grep -Eqi '^sluice: .*(root|CAP_NET_ADMIN)' &&
	[ "$(echo "$out" | wc -l)" = 1 ] && [ "$(nft_table_count)" = 0 ]; then
	pass not_root
else
	fail not_root "exit $rc: $(echo "$out" | tr '\n' '|')"
fi

# Nothing of the above touched S beyond a login attempt: the user has no processes there.
left=$(login_procs_in_s)
if [ -z "$left" ]; then pass no_remote_leftovers; else
	fail no_remote_leftovers "running in S: $(echo "$left" | tr '\n' '|')"
fi

tb_finish
