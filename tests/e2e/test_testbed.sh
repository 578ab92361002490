#!/bin/bash
# test_testbed: the testbed itself, without sluice: plain OpenSSH logs in as
# the namespace-only user, the lan answers from S but not from C (S does not
# forward), and C has its own /etc/hosts. When these fail, the sluice cases
# cannot mean anything.
TB_SUITE=testbed
. "$(dirname "$0")/lib.sh"
tb_up

out=$(inC ssh -F "$TB/ssh_config" sshhost id -u 2>&1)
if [ "$out" = "$LOGIN_UID" ]; then pass ssh_login_v4; else fail ssh_login_v4 "ssh id -u gave: $out"; fi

out=$(inC ssh -F "$TB/ssh_config" sshhost6 id -un 2>&1)
if [ "$out" = sluicet ]; then pass ssh_login_v6; else fail ssh_login_v6 "ssh id -un gave: $out"; fi

out=$(inC ssh -F "$TB/ssh_config" -o UserKnownHostsFile="$TB/known_hosts_ecdsa" sshhost true 2>&1)
if [ $? = 0 ]; then pass ssh_ecdsa_hostkey; else fail ssh_ecdsa_hostkey "$out"; fi

out=$(inC ssh -F "$TB/ssh_config" -o UserKnownHostsFile="$TB/known_hosts_rsa" \
	-o HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256 sshhost true 2>&1)
if [ $? = 0 ]; then pass ssh_rsa_hostkey; else fail ssh_rsa_hostkey "$out"; fi

out=$(inC ssh -F "$TB/ssh_config" -o UserKnownHostsFile="$TB/known_hosts_changed" sshhost true 2>&1)
if [ $? != 0 ] && [[ "$out" == *"$HOSTKEY_FP"* ]]; then
	pass ssh_changed_hostkey_refused
else
	fail ssh_changed_hostkey_refused "ssh did not refuse the changed key: $out"
fi

out=$(inC ssh -F "$TB/ssh_config" wrongkey true 2>&1)
if [ $? != 0 ] && [[ "$out" == *"Permission denied"* ]]; then pass ssh_wrong_key_refused; else
	fail ssh_wrong_key_refused "$out"
fi

# No way through S for plain packets, v4 or v6: every connect times out.
pids=""
for url in "http://$L4/" "http://[$L6]/" "http://$X4/" "http://$L4:9000/"; do
	inC curl -sg --connect-timeout 2 --max-time 3 -o /dev/null "$url" &
	pids="$pids $!:$url"
done
rc=0
for p in $pids; do
	wait "${p%%:*}"
	r=$?
	[ $r = 28 ] || { rc=1 && fail_reason="curl ${p#*:} from C exited $r, want 28 (timeout)"; }
done
if [ $rc = 0 ]; then pass no_forwarding_in_s; else fail no_forwarding_in_s "$fail_reason"; fi

rc=0
for url in "http://$L4/" "http://[$L6]/" "http://$X4/"; do
	got=$(inS curl -sg --max-time 5 "$url")
	[ "$got" = "$INDEX_MARK" ] || { rc=1 && fail_reason="curl $url from S gave '$got'"; }
done
if [ $rc = 0 ]; then pass lan_http_from_s; else fail lan_http_from_s "$fail_reason"; fi

got=$(inS "$PY" "$E2E_DIR/netsvc.py" halfclose $L4 9000 1000000) &&
	got6=$(inS "$PY" "$E2E_DIR/netsvc.py" halfclose $L6 9000 1000000)
if [ $? = 0 ]; then pass lan_sha_from_s; else fail lan_sha_from_s "$got $got6"; fi

got=$(inS "$PY" "$E2E_DIR/netsvc.py" parallel $L4 9001 200)
if [ $? = 0 ]; then pass lan_echo_parallel_from_s; else fail lan_echo_parallel_from_s "$got"; fi

want=$(sha256sum /etc/hosts)
got=$(inC sha256sum /etc/hosts)
if [ "$got" = "$want" ] && [ -f "/etc/netns/$NS_C/hosts" ] &&
	inC sh -c "echo '192.0.2.77 e2e-probe' >> /etc/hosts" &&
	! grep -q e2e-probe /etc/hosts && grep -q e2e-probe "/etc/netns/$NS_C/hosts"; then
	pass private_etc_hosts_in_c
else
	fail private_etc_hosts_in_c "C does not see its own copy of /etc/hosts"
fi

if [ "$(inS sysctl -n net.ipv4.ip_forward)" = 0 ] &&
	[ "$(inS sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] &&
	! grep -q sluicet /etc/passwd; then
	pass isolation
else
	fail isolation "forwarding on in S, or sluicet leaked into the real /etc/passwd"
fi

tb_finish
