#!/bin/bash
# test_names: what sluice learns from the remote. -N routes S's networks
# (v4 and v6, a network added later too) but not the one C sits on, nor
# one C joins later (and takes it again once C leaves it), and
# refuses what S routes too widely (128.0.0.0/1, ::/1, a /8 around
# 169.254/16) and says why, once; -H copies names S knows (its /etc/hosts, a
# forward-confirmed PTR of an address it has talked to, --seed-hosts) into
# C's /etc/hosts, but never a PTR name that does not resolve back, one for
# an address outside the routed networks, a name C's own lines use, or
# this machine's own name (which S's list carries), and
# leaves that file byte for byte as it was on exit, also after a SIGKILL and
# a later run, and when it cannot be written at exit says so in one line
# and exits non-zero; --dns answers C's
# lookups (UDP and TCP, A and AAAA) from S's resolver, or from --to-ns,
# for C's nameservers or those of --ns-hosts, and survives a local flood of
# large datagrams at the captured nameserver during a checksummed download.
#
# The lan runs two dnsmasq that never forward: 198.51.100.2:53 (S's
# resolv.conf) and 203.0.113.2:5353 (other answers, for --to-ns). C's
# resolv.conf names 192.0.2.53, where nothing answers: without sluice every
# lookup of a lan name fails within a second.
TB_SUITE=names
TB_ETC_HOOK=tb_names_etc
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
tb_names_dns

HOSTS_C=/etc/netns/$NS_C/hosts
NEW6=2001:db8:3 # a network S gets only while sluice runs
LAN_NET=198.51.100.0/24

# --- helpers -------------------------------------------------------------------

# addr4 NAME / addr6 NAME: the first address C's resolver (glibc: files, then
# DNS) gives for NAME, "" when none.
addr4() { inC getent ahostsv4 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }'; }
addr6() { inC getent ahostsv6 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }'; }

# dig_c ARGS...: dig +short in C, one try of 2 s (errors come out on stdout).
dig_c() { inC dig +short +time=2 +tries=1 "$@" 2>&1; }

# is NAME GOT WANT WHAT: PASS when GOT is WANT.
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "$4 gave '$(echo "$2" | tr '\n' '|')', want $3"; fi
}

get_is() {
	local out
	out=$(inC curl -sSg --max-time 5 "$2" 2>&1)
	is "$1" "$out" "$INDEX_MARK" "curl $2"
}

# poll SECONDS CMD...: until CMD succeeds, every 0.5 s; gives up early when
# sluice (if one runs) has exited.
poll() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ $SECONDS -lt "$end" ] || return 1
		[ -z "$SLUICE_PID" ] || proc_alive "$SLUICE_PID" || return 1
		sleep 0.5
	done
}

# stop NAME: SIGTERM, sluice exits 0 and its table is gone.
stop() {
	sluice_stop TERM 5
	if [ "$SLUICE_RC" != 0 ]; then
		fail "$1" "exit status $SLUICE_RC after SIGTERM: $(sluice_log_tail)"
	elif nft_table_present; then
		fail "$1" "table inet $(sluice_table) still in C"
	else
		pass "$1"
	fi
}

# peer_seen NAME FAMILY ADDR: a TCP listener on S's ADDR:9999 tells the
# peer address it sees; C's own address means the connection went straight
# over the link, S's own that sluice took it through the tunnel.
peer_seen() {
	local fam=$2 addr=$3 want=$4 got
	inS socat -T5 "TCP$fam-LISTEN:9999,bind=$addr,reuseaddr" SYSTEM:'echo $SOCAT_PEERADDR' \
		</dev/null >/dev/null 2>&1 &
	TB_PIDS="$TB_PIDS $!"
	if ! wait_port "$NS_S" 9999 30; then
		fail "$1" "socat did not listen in S"
		return
	fi
	got=$(inC socat -T5 -u "TCP$fam:$addr:9999" - 2>&1)
	# socat writes IPv6 peers in brackets, every group in full.
	got=$("$PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1].strip("[]")))' \
		"$got" 2>/dev/null || echo "$got")
	is "$1" "$got" "$want" "connection from C to $addr:9999, peer seen by S"
}

# An address C can only reach through the tunnel: curl times out (28).
unreachable_rc() { inC curl -sg --connect-timeout 2 --max-time 3 -o /dev/null "$1"; }

# --- the testbed, without sluice -----------------------------------------------

got=$(inS dig +short +time=2 +tries=1 @$L4 $DNS_NAME A)
got="$got $(inS dig +short +time=2 +tries=1 +tcp @$L6 $DNS_NAME AAAA)"
got="$got $(inS dig +short +time=2 +tries=1 -p $ALT_PORT @$ALT_NS $DNS_NAME A)"
got="$got $(inS dig +short +time=2 +tries=1 +tcp -p $ALT_PORT @$ALT_NS $DNS_NAME AAAA)"
is testbed_dnsmasq "$got" "$DNS_A $DNS_AAAA $ALT_A $ALT_AAAA" "dig from S (lan v4, v6+tcp, alt, alt+tcp)"

# S's own resolver files: resolv.conf names the lan's dnsmasq, hosts has lanhost.
got="$(inS getent ahostsv4 $DNS_NAME | awk 'NR == 1 { print $1 }')"
got="$got $(inS getent ahostsv4 $LAN_NAME | awk 'NR == 1 { print $1 }')"
got="$got $(inS getent ahostsv4 ${LAN_NAME%%.*} | awk 'NR == 1 { print $1 }')"
got="$got $(inS getent hosts $X4 | awk '{ print $2 }')"
is testbed_resolver_in_s "$got" "$DNS_A $L4 $L4 $PTR_NAME" "getent in S ($DNS_NAME, $LAN_NAME, lanhost, $X4)"

# dnsmasq knows no upstream: other names are refused at once, nothing is forwarded.
got=$(inS dig +time=2 +tries=1 @$L4 example.com A 2>&1 | grep -o 'status: [A-Z]*')
if [ "$got" = "status: REFUSED" ] && ! grep -qi forwarded "$TB"/dnsmasq-*.log; then
	pass testbed_dnsmasq_no_upstream
else
	fail testbed_dnsmasq_no_upstream "dig example.com from S: '$got'; $(grep -i forwarded "$TB"/dnsmasq-*.log | head -n 1)"
fi

# C: the same lookups fail fast, UDP (glibc and dig) and TCP, v4 and v6.
t0=$SECONDS
got="$(addr4 $DNS_NAME)$(inC getent hosts $DNS_NAME)"
got="$got$(inC dig +short +time=1 +tries=1 @$NS4 $DNS_NAME A 2>/dev/null | grep -v '^;')"
got="$got$(inC dig +short +time=1 +tries=1 +tcp @$NS4 $DNS_NAME A 2>/dev/null | grep -v '^;')"
if [ -z "$got" ] && [ $((SECONDS - t0)) -le 8 ]; then
	pass testbed_c_cannot_resolve
else
	fail testbed_c_cannot_resolve "C resolved '$got' in $((SECONDS - t0)) s without sluice"
fi

# C's own line for a name S knows too (the user's line must win), and a lan
# address with a lying PTR record for S to talk to.
echo "198.51.100.9 $USER_NAME" >>"$HOSTS_C" || tb_die "cannot add to C's /etc/hosts"
# This machine's name, on S's list (tb_names_etc): checked where it is a
# name both ends take (a name's characters, not all digits, and none that
# means the looker's own machine: localhost, .localhost, _gateway...).
# C's file does not name it (as where nss-myhostname answers for it), so
# that only the rule keeps S's line for it out: the name leaves its lines,
# their other names stay, and a line left with its address alone goes.
SELF=$(hostname | tr A-Z a-z)
if [[ $SELF =~ ^[a-z0-9_-]+(\.[a-z0-9_-]+)*$ ]] && [[ ! ${SELF##*.} =~ ^[0-9]+$ ]] &&
	[[ ! $SELF =~ ^localhost([46.]|$) ]] && [[ ! $SELF =~ (^|\.)localhost$ ]] &&
	[ "$SELF" != _gateway ] && [ "$SELF" != _outbound ]; then
	REFUSED_SELF="not taking $SELF for $L4: this machine's own name"
	re=${SELF//./\\.}
	sed -i -e "s/\([[:space:]]\)$re\([[:space:]]\|\$\)/\1\2/Ig" \
		-e '/^[[:space:]]*[^[:space:]#][^[:space:]]*[[:space:]]*$/d' "$HOSTS_C" ||
		tb_die "cannot take this machine's name out of C's /etc/hosts"
else
	REFUSED_SELF=""
	echo "# this machine's name '$SELF' is no name -H takes: hosts_own_machine_refused not checked"
fi
ip -n "$NS_L" addr add $SPOOF4/24 dev tos || tb_die "cannot add $SPOOF4 to L"
# C's /etc/hosts as it must be again after every sluice run.
cp -p "$HOSTS_C" "$TB/hosts.pristine" || tb_die "cannot copy C's /etc/hosts"
PRISTINE_SHA=$(sha256sum <"$HOSTS_C")
PRISTINE_SIZE=$(stat -c %s "$HOSTS_C")
# What a leftover temp file of sluice's in the real /etc would look like.
etc_names() { ls -A /etc | grep -Ei '^\.|hosts|sluice'; }
ETC_BEFORE=$(etc_names)

# -N's later network: C routes it to S, which neither has it yet nor forwards.
ip -n "$NS_C" -6 route add $NEW6::/64 via $S6 || tb_die "cannot route $NEW6::/64 in C"
# Without a route there S would answer C with an ICMPv6 "no route" (curl: 7,
# just what a tunnelled connection refused on the remote looks like). S
# drops such packets from C instead, so an untunnelled connect times out.
inS nft -f - <<EOF || tb_die "cannot add the drop rule in S"
table inet e2e_names {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		iifname "toc" ip6 daddr $NEW6::/64 drop
	}
}
EOF
# And one S loses for now: 203.0.113.0/24 (L keeps its address there).
ip -n "$NS_S" addr del 203.0.113.1/24 dev tol || tb_die "cannot remove 203.0.113.1 from S"
# Routes no tunnel should take from S, though S has them: half of IPv4 (as
# OpenVPN's def1 sets), half of IPv6, and a /8 around link-local (the cloud
# metadata address); next to them an ordinary v6 network via L, which must
# be taken. Only S's routing table has them: nothing is sent there.
WIDE_ROUTES="128.0.0.0/1 [::]/1 169.0.0.0/8"
ip -n "$NS_S" route add 128.0.0.0/1 via $L4 || tb_die "cannot add 128.0.0.0/1 in S"
ip -n "$NS_S" route add 169.0.0.0/8 via $L4 || tb_die "cannot add 169.0.0.0/8 in S"
ip -n "$NS_S" -6 route add ::/1 via $L6 || tb_die "cannot add ::/1 in S"
ip -n "$NS_S" -6 route add 2001:db8:5::/64 via $L6 || tb_die "cannot add 2001:db8:5::/64 in S"

# --- -N ------------------------------------------------------------------------

if sluice_start_case nets_start http://$L4/ -r sshhost -N -v; then
	get_is nets_http_v4 http://$L4/
	get_is nets_http_v6 "http://[$L6]/"

	# A line saying it leaves C's own networks alone.
	if grep -E '192\.0\.2\.0/24' "$SLUICE_LOG" | grep -Eqi 'not|skip'; then
		pass nets_skip_direct_logged
	else
		fail nets_skip_direct_logged "no line about skipping 192.0.2.0/24 in the log: $(sluice_log_tail 8)"
	fi
	if grep -E '2001:db8:1::\]?/64' "$SLUICE_LOG" | grep -Eqi 'not|skip'; then
		pass nets_skip_direct_logged_v6
	else
		fail nets_skip_direct_logged_v6 "no line about skipping 2001:db8:1::/64 in the log: $(sluice_log_tail 8)"
	fi
	# C's own link stays C's: S sees C's address, not its own.
	peer_seen nets_direct_untouched 4 $S4 $C4
	peer_seen nets_direct_untouched_v6 6 "[$S6]" 2001:db8:1::1

	# The wide routes: each refused with its reason, none in C's rules; the
	# ordinary one next to them is in.
	rules=$(inC nft list table inet "$(sluice_table)" 2>&1)
	if echo "$rules" | grep -q '2001:db8:5::/64'; then pass nets_ordinary_route_taken; else
		fail nets_ordinary_route_taken "2001:db8:5::/64 not in C's rules: $(echo "$rules" | grep -i elements | tr '\n' ' ')"
	fi
	for r in $WIDE_ROUTES; do
		case $r in
		169.*) why="it covers link-local" ;;
		\[*) why="wider than /7" ;;
		*) why="wider than /8" ;;
		esac
		name=nets_wide_refused_$(echo "$r" | tr -c '0-9a-z\n' _)
		if ! grep -qF -- "not routing $r: $why" "$SLUICE_LOG"; then
			fail "$name" "no 'not routing $r: $why' in the log: $(grep 'not routing' "$SLUICE_LOG" | tr '\n' '|')"
		elif echo "$rules" | grep -qF -- "$(echo "$r" | tr -d '[]')"; then
			fail "$name" "$r is in C's rules"
		else
			pass "$name"
		fi
	done

	sleep 5
	if proc_alive "$SLUICE_PID"; then get_is nets_session_survives http://$L4/; else
		fail nets_session_survives "sluice exited: $(sluice_log_tail)"
	fi

	# Not S's networks (yet): sluice leaves them alone and S drops the packets.
	unreachable_rc http://$X4/ &
	p4=$!
	unreachable_rc "http://[$NEW6::2]/"
	r6=$?
	wait $p4
	r4=$?
	if [ $r4 = 28 ] && [ $r6 = 28 ]; then pass nets_absent_unrouted; else
		fail nets_absent_unrouted "curl exited $r4 ($X4), $r6 ($NEW6::2), want 28 (timeout)"
	fi

	# S gets them: 203.0.113.0/24 back, and a brand-new v6 network to L.
	ip -n "$NS_S" addr add 203.0.113.1/24 dev tol
	ip -n "$NS_S" addr add $NEW6::1/64 dev tol nodad
	ip -n "$NS_L" addr add $NEW6::2/64 dev tos nodad
	t0=$SECONDS
	both_reachable() {
		[ "$(inC curl -sg --connect-timeout 1 --max-time 2 http://$X4/)" = "$INDEX_MARK" ] &&
			[ "$(inC curl -sg --connect-timeout 1 --max-time 2 "http://[$NEW6::2]/")" = "$INDEX_MARK" ]
	}
	if poll 40 both_reachable; then pass nets_added_later; else
		fail nets_added_later "$X4 or [$NEW6::2] not reachable within 40 s: $(sluice_log_tail)"
	fi
	echo "# new networks reachable after $((SECONDS - t0)) s"
	# S's routes changed since the first list: each refusal is still told once.
	updates=$(grep -c -- '-N: routing ' "$SLUICE_LOG")
	told=$(grep -cF -- 'not routing 128.0.0.0/1:' "$SLUICE_LOG")
	if [ "$updates" -ge 2 ] && [ "$told" = 1 ]; then pass nets_refusal_told_once; else
		fail nets_refusal_told_once "$updates route updates, 128.0.0.0/1 refused in $told lines (want >= 2, 1)"
	fi
	# C joins a network S routes (2001:db8:5::/64, taken above), as a laptop
	# joins a LAN: it is C's own now and leaves the rules, with the line
	# that says why; once C leaves it, the route is taken again. Nothing is
	# sent there. (A veth pair with both ends in C: this kernel has no dummy.)
	net5_in_rules() { inC nft list table inet "$(sluice_table)" 2>/dev/null | grep -q '2001:db8:5::/64'; }
	net5_not_in_rules() { ! net5_in_rules; }
	if ! net5_in_rules; then
		fail nets_joined_network_left_out "2001:db8:5::/64 was not in C's rules to begin with"
	elif ip -n "$NS_C" link add sl5 type veth peer name sl5b && ip -n "$NS_C" link set sl5b up &&
		ip -n "$NS_C" link set sl5 up && ip -n "$NS_C" addr add 2001:db8:5::99/64 dev sl5 nodad; then
		left_out=no
		if poll 20 net5_not_in_rules && grep -qF 'not routing [2001:db8:5::]/64: this machine is attached to [2001:db8:5::]/64' "$SLUICE_LOG"; then
			pass nets_joined_network_left_out
			left_out=yes
		else
			fail nets_joined_network_left_out "still routed 20 s after C joined it: $(grep -e '-N' "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
		fi
		ip -n "$NS_C" link del sl5
		# (only a route that left can come back)
		if [ "$left_out" = no ]; then
			echo "# nets_left_network_taken_again: not checked, the route never left"
		elif poll 20 net5_in_rules; then pass nets_left_network_taken_again; else
			fail nets_left_network_taken_again "not routed 20 s after C left it: $(grep -e '-N' "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
		fi
	else
		fail nets_joined_network_left_out "cannot give C an address in 2001:db8:5::/64"
		ip -n "$NS_C" link del sl5 2>/dev/null
	fi
	stop nets_stop
else
	ip -n "$NS_S" addr add 203.0.113.1/24 dev tol
	ip -n "$NS_S" addr add $NEW6::1/64 dev tol nodad
	ip -n "$NS_L" addr add $NEW6::2/64 dev tos nodad
fi

# --disable-ipv6: -N takes S's IPv4 networks only, and says why for the others.
if sluice_start_case nets_no_v6_start http://$L4/ -r sshhost -N --disable-ipv6 -v; then
	get_is nets_no_v6_http_v4 http://$L4/
	r6=0
	unreachable_rc "http://[$L6]/" || r6=$?
	if [ "$r6" = 28 ] && grep -qF 'not routing [2001:db8:2::]/64: IPv6 is disabled' "$SLUICE_LOG"; then
		pass nets_no_v6_not_routed
	else
		fail nets_no_v6_not_routed "curl [$L6] exited $r6 (want 28); log: $(grep 'not routing' "$SLUICE_LOG" | tr '\n' '|')"
	fi
	stop nets_no_v6_stop
fi

# --- -H ------------------------------------------------------------------------

# Our lines come after C's own, which stay as they were.
added() { tail -c +$((PRISTINE_SIZE + 1)) "$HOSTS_C"; }
prefix_kept() { cmp -s -n "$PRISTINE_SIZE" "$HOSTS_C" "$TB/hosts.pristine"; }
# "ADDRESS NAME" for each name on our lines.
added_pairs() { added | sed 's/#.*//' | awk '{ for (i = 2; i <= NF; i++) print $1, $i }'; }

# S talks to the PTR-named addresses, which puts them in S's neighbour table.
s_talks_to_x4() {
	inS curl -s --max-time 2 -o /dev/null http://$X4/
	inS curl -s --max-time 2 -o /dev/null http://$SPOOF4/
}
H_NETS="$LAN_NET 203.0.113.0/24"

# The names every -H run must bring; with SEEDED=1 also the --seed-hosts one.
all_names() {
	[ "$(addr4 $LAN_NAME)" = $L4 ] && [ "$(addr4 ${LAN_NAME%%.*})" = $L4 ] &&
		[ "$(addr4 $PTR_NAME)" = $X4 ] && { [ "$SEEDED" = 0 ] || [ "$(addr4 $DNS_NAME)" = $DNS_A ]; }
}
# While waiting, S keeps talking to X4 now and then.
all_names_poked() {
	all_names && return 0
	((++POKES % 6 == 0)) && s_talks_to_x4
	return 1
}
POKES=0

s_talks_to_x4
SEEDED=1
# The log lines that show the refusals happened (so their absence from the
# file is not merely names that never arrived).
REFUSED_SPOOF="not reporting $SPOOF_NAME for $SPOOF4: the name does not resolve back"
REFUSED_OUT="not taking $OUT_NAME for $C4: the address is not inside the routed"
REFUSED_USER="not taking $USER_NAME for $L4: the name is already in"
REFUSED_OWN="not taking sshhost for $L4: the name the tunnel reaches its server by"
refusals_logged() {
	grep -qF "$REFUSED_SPOOF" "$SLUICE_LOG" && grep -qF "$REFUSED_OUT" "$SLUICE_LOG" &&
		grep -qF "$REFUSED_USER" "$SLUICE_LOG" && grep -qF "$REFUSED_OWN" "$SLUICE_LOG" &&
		{ [ -z "$REFUSED_SELF" ] || grep -qiF "$REFUSED_SELF" "$SLUICE_LOG"; }
}
all_names_refused_poked() { all_names_poked && refusals_logged; }

if sluice_start_case hosts_start http://$L4/ -r sshhost -H --seed-hosts $DNS_NAME -v $H_NETS; then
	t0=$SECONDS
	poll 40 all_names_refused_poked
	echo "# names in C's /etc/hosts after $((SECONDS - t0)) s"
	is hosts_etc_hosts_name "$(addr4 $LAN_NAME)" $L4 "getent ahostsv4 $LAN_NAME in C"
	is hosts_etc_hosts_short "$(addr4 ${LAN_NAME%%.*})" $L4 "getent ahostsv4 ${LAN_NAME%%.*} in C"
	is hosts_ptr_only "$(addr4 $PTR_NAME)" $X4 "getent ahostsv4 $PTR_NAME in C"
	is hosts_seed "$(addr4 $DNS_NAME)" $DNS_A "getent ahostsv4 $DNS_NAME in C"
	if prefix_kept; then pass hosts_own_lines_kept; else
		fail hosts_own_lines_kept "C's own lines changed: $(head -c 200 "$HOSTS_C" | tr '\n' '|')"
	fi
	got=$(added_pairs | awk '$1 ~ /^127\./ || $1 == "::1" || $2 == "localhost"' | tr '\n' '|')
	if [ -z "$got" ]; then pass hosts_no_loopback; else fail hosts_no_loopback "added: $got"; fi
	# refused CASE NAME LOGGED_LINE: NAME is on none of our lines, and the log
	# shows it was seen and refused.
	refused() {
		if ! grep -qF -- "$3" "$SLUICE_LOG"; then
			fail "$1" "no '$3' in the log (was it ever seen?): $(grep -- '-H' "$SLUICE_LOG" | tail -n 3 | tr '\n' '|')"
		elif added_pairs | awk -v n="$2" '$2 == n { f = 1 } END { exit !f }'; then
			fail "$1" "$2 is in C's /etc/hosts: $(added | grep -F "$2" | tr '\n' '|')"
		else
			pass "$1"
		fi
	}
	refused hosts_ptr_not_confirmed $SPOOF_NAME "$REFUSED_SPOOF"
	refused hosts_outside_routed $OUT_NAME "$REFUSED_OUT"
	refused hosts_users_name_wins $USER_NAME "$REFUSED_USER"
	refused hosts_servers_name_refused sshhost "$REFUSED_OWN"
	[ -n "$REFUSED_SELF" ] && refused hosts_own_machine_refused "$SELF" "$REFUSED_SELF"
	is hosts_users_line_kept "$(addr4 $USER_NAME)" 198.51.100.9 "getent ahostsv4 $USER_NAME in C"
	echo "# sluice's lines: $(added | tr '\n' '|')"
	stop hosts_stop
	if [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ]; then pass hosts_restored; else
		fail hosts_restored "C's /etc/hosts differs after SIGTERM: $(diff "$TB/hosts.pristine" "$HOSTS_C" | tr '\n' '|')"
	fi
fi

# SIGKILL of sluice: its privileged part sees the channel close and removes
# the lines itself, then exits.
SEEDED=0
if sluice_start_case hosts_userkill_start http://$L4/ -r sshhost -H -v $H_NETS; then
	poll 30 all_names_poked
	priv=$(pgrep -P "$SLUICE_PID" -f -- --privileged)
	if [ -n "$(added_pairs)" ] && [ -n "$priv" ]; then
		sluice_stop KILL 2
		gone() { [ -z "$(added_pairs)" ] && ! proc_alive "$priv" && ! nft_table_present; }
		if poll 5 gone && [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ]; then
			pass hosts_userkill_removed
		else
			fail hosts_userkill_removed "5 s after SIGKILL: lines '$(added | tr '\n' '|')', privileged part $(proc_alive "$priv" && echo alive || echo gone), table $(nft_table_count)"
		fi
	else
		fail hosts_userkill_removed "no names, or no privileged part, within 30 s: $(sluice_log_tail)"
		sluice_stop KILL 2
	fi
fi

# Both parts SIGKILLed leave the lines; the next run must neither repeat nor keep them.
if sluice_start_case hosts_kill_start http://$L4/ -r sshhost -H -v $H_NETS; then
	poll 30 all_names_poked
	priv=$(pgrep -P "$SLUICE_PID" -f -- --privileged)
	if [ -n "$(added_pairs)" ] && [ -n "$priv" ]; then
		kill -KILL "$priv"
		sluice_stop KILL 2
		stale=$(added_pairs | sort)
		mtime=$(stat -c %y "$HOSTS_C")
		if [ -n "$stale" ]; then pass hosts_kill_leaves_lines; else
			fail hosts_kill_leaves_lines "no lines left after SIGKILL of both parts (nothing to recover from)"
		fi
		# The next run's first write (restore or rewrite) changes the file;
		# one that finds nothing to change may leave it, so this only waits.
		rewritten() { [ "$(stat -c %y "$HOSTS_C")" != "$mtime" ] && [ "$(addr4 $LAN_NAME)" = $L4 ]; }
		if sluice_start_case hosts_after_kill_start http://$L4/ -r sshhost -H -v $H_NETS; then
			poll 20 rewritten || echo "# C's /etc/hosts not rewritten within 20 s of the restart"
			poll 30 all_names_poked
			sleep 1
			dups=$(added_pairs | sort | uniq -d | tr '\n' '|')
			if [ -z "$dups" ] && prefix_kept && all_names; then pass hosts_after_kill_no_dups; else
				fail hosts_after_kill_no_dups "dups: '$dups'; lines: $(added | tr '\n' '|')"
			fi
			stop hosts_after_kill_stop
			if [ "$(sha256sum <"$HOSTS_C")" = "$PRISTINE_SHA" ]; then pass hosts_restored_after_kill; else
				fail hosts_restored_after_kill "C's /etc/hosts differs: $(diff "$TB/hosts.pristine" "$HOSTS_C" | tr '\n' '|')"
			fi
		fi
	else
		fail hosts_kill_leaves_lines "no names, or no privileged part, within 30 s: $(sluice_log_tail)"
		sluice_stop KILL 2
	fi
fi
# /etc/hosts cannot be written when sluice stops (made read-only in its
# mount namespace, as an immutable file or a read-only /etc would be): one
# line says so, the rules still go, and the exit status is not 0.
if sluice_start_case hosts_unwritable_start http://$L4/ -r sshhost -H $H_NETS; then
	poll 30 all_names_poked
	if [ -n "$(added_pairs)" ] && nsenter -t "$SLUICE_PID" -m mount -o remount,bind,ro /etc/hosts; then
		sluice_stop TERM 5
		errs=$(grep -Ev "$PROGRESS_RE|^sluice: stopping on signal" "$SLUICE_LOG")
		if [ "$SLUICE_RC" != 0 ] && [ "$SLUICE_RC" != timeout ] && [ "$(echo "$errs" | grep -c .)" = 1 ] &&
			echo "$errs" | grep -q "/etc/hosts.*Read-only file system" && ! nft_table_present; then
			pass hosts_unwritable_told_once
		else
			fail hosts_unwritable_told_once "exit $SLUICE_RC, table $(nft_table_count): $(echo "$errs" | tr '\n' '|')"
		fi
	else
		fail hosts_unwritable_told_once "no names within 30 s, or no read-only /etc/hosts: $(sluice_log_tail)"
		sluice_stop KILL 2
	fi
	# Its lines stay in the file: put it back for the checks below.
	cp "$TB/hosts.pristine" "$HOSTS_C"
fi
# Whatever ran above, the real /etc got no leftovers (temp files of a rename).
got=$(comm -13 <(echo "$ETC_BEFORE") <(etc_names) | tr '\n' ' ')
if [ -z "$got" ]; then pass hosts_no_litter_in_etc; else fail hosts_no_litter_in_etc "new in /etc: $got"; fi
# Nothing of -H is left to answer for C: the names are gone again.
is hosts_gone_after_runs "$(addr4 $LAN_NAME)" "" "getent ahostsv4 $LAN_NAME in C"

# --- --dns ---------------------------------------------------------------------

# dns_checks PREFIX NS A AAAA: the lookups C makes of NS come back as A / AAAA.
dns_checks() {
	local p=$1 ns=$2 a=$3 aaaa=$4
	is "${p}_udp_dig" "$(dig_c @"$ns" $DNS_NAME A)" "$a" "dig @$ns $DNS_NAME A"
	is "${p}_tcp_a" "$(dig_c +tcp @"$ns" $DNS_NAME A)" "$a" "dig +tcp @$ns $DNS_NAME A"
	is "${p}_tcp_aaaa" "$(dig_c +tcp @"$ns" $DNS_NAME AAAA)" "$aaaa" "dig +tcp @$ns $DNS_NAME AAAA"
}

if sluice_start_case dns_start http://$L4/ -r sshhost --dns -v $LAN_NET; then
	# glibc: resolv.conf's nameserver over UDP; A and AAAA go out together.
	is dns_glibc_a "$(addr4 $DNS_NAME)" $DNS_A "getent ahostsv4 $DNS_NAME in C"
	is dns_glibc_aaaa "$(addr6 $DNS_NAME)" $DNS_AAAA "getent ahostsv6 $DNS_NAME in C"
	is dns_glibc_hosts "$(inC getent hosts $DNS_NAME | awk '{ print $1 }')" $DNS_AAAA "getent hosts $DNS_NAME in C"
	dns_checks dns $NS4 $DNS_A $DNS_AAAA

	# A local flood at the captured nameserver while a checksummed download
	# runs: oversized datagrams (dropped at once), 4000-byte ones (over DNS's
	# budget), then many small ones, which fill whatever room is left. C's
	# uplink is slowed to 5 Mbit/s meanwhile, as a real one can be, so
	# queries arrive faster than the tunnel drains them: before DNS had a
	# budget they filled the control queue and the next WINDOW frame of the
	# download ended the session ("the SSH channel is not draining"). The
	# tunnel stays up, the download is intact, and DNS answers again once
	# the flood is over.
	FLOOD_SHA=$(tb_make_file flood.bin $((32 << 20))) || tb_die "cannot write flood.bin"
	ip netns exec "$NS_C" tc qdisc add dev tos root tbf rate 5mbit burst 32kbit latency 400ms ||
		tb_die "cannot shape C's uplink"
	inC curl -sS --max-time 60 http://$L4/flood.bin 2>&1 | sha256sum | cut -d' ' -f1 >"$TB/flood.got" &
	dl=$!
	TB_PIDS="$TB_PIDS $dl"
	sent=$(inC "$PY" - $NS4 <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent, end = 0, time.monotonic() + 8
for size, count in ((60000, 300), (4000, 2000), (40, 40000)):
    msg = bytes(12) + b"x" * (size - 12)
    for _ in range(count):
        if time.monotonic() > end:
            break
        try:
            s.sendto(msg, (sys.argv[1], 53))
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
print(sent)
PYEOF
)
	wait $dl
	tb_forget $dl
	ip netns exec "$NS_C" tc qdisc del dev tos root
	got=$(cat "$TB/flood.got")
	if ! proc_alive "$SLUICE_PID"; then
		fail dns_flood_survived "sluice died under the flood: $(sluice_log_tail)"
	elif [ "${sent:-0}" -lt 10000 ]; then
		fail dns_flood_survived "only ${sent:-0} datagrams sent: no flood to survive"
	elif [ "$got" != "$FLOOD_SHA" ]; then
		fail dns_flood_survived "download sha256 $got, want $FLOOD_SHA"
	else
		pass dns_flood_survived
	fi
	echo "# flood: $sent datagrams; $(grep -- '--dns: dropped' "$SLUICE_LOG" | tail -n 1)"
	dns_again() { [ "$(dig_c @$NS4 $DNS_NAME A)" = $DNS_A ]; }
	if poll 20 dns_again; then pass dns_after_flood; else
		fail dns_after_flood "dig @$NS4 $DNS_NAME: '$(dig_c @$NS4 $DNS_NAME A | tr '\n' '|')'"
	fi
	# The drops are counted in the log (at most every 10 s, so after the wait above).
	counted() { grep -q -- '--dns: dropped' "$SLUICE_LOG"; }
	if poll 12 counted; then pass dns_flood_counted; else
		fail dns_flood_counted "no '--dns: dropped' line in the log: $(sluice_log_tail)"
	fi
	stop dns_stop
	got=$(inC dig +short +time=1 +tries=1 @$NS4 $DNS_NAME A 2>/dev/null | grep -v '^;')
	is dns_released "$got" "" "dig @$NS4 after sluice stopped"
fi

if sluice_start_case dns_to_ns_start http://$L4/ -r sshhost --dns --to-ns $L4 -v $LAN_NET; then
	is dns_to_ns_glibc_a "$(addr4 $DNS_NAME)" $DNS_A "getent ahostsv4 $DNS_NAME in C"
	dns_checks dns_to_ns $NS4 $DNS_A $DNS_AAAA
	stop dns_to_ns_stop
fi

if sluice_start_case dns_ns_hosts_start http://$L4/ -r sshhost --dns --ns-hosts $NS4 --to-ns $L4 -v $LAN_NET; then
	is dns_ns_hosts_glibc_a "$(addr4 $DNS_NAME)" $DNS_A "getent ahostsv4 $DNS_NAME in C"
	dns_checks dns_ns_hosts $NS4 $DNS_A $DNS_AAAA
	stop dns_ns_hosts_stop
fi

# Other nameservers (one IPv6) instead of resolv.conf's, and a resolver on
# another port whose answers differ from S's own.
if sluice_start_case dns_alt_start http://$L4/ -r sshhost --dns --ns-hosts 192.0.2.54,2001:db8:1::53 \
	--to-ns $ALT_NS:$ALT_PORT -v $LAN_NET; then
	dns_checks dns_alt 192.0.2.54 $ALT_A $ALT_AAAA
	dns_checks dns_alt_v6ns 2001:db8:1::53 $ALT_A $ALT_AAAA
	got=$(inC dig +short +time=1 +tries=1 @$NS4 $DNS_NAME A 2>/dev/null | grep -v '^;')
	is dns_alt_resolv_conf_not_taken "$got" "" "dig @$NS4 (not in --ns-hosts)"
	stop dns_alt_stop
fi

# A nameserver with an interface, as NetworkManager writes a link-local one
# from a router advertisement ("fe80::1%wlan0"); glibc takes the scope on
# any address, and a documentation one stands in for fe80:: here. It is
# captured like the others; before, --dns did not see it at all.
cp "/etc/netns/$NS_C/resolv.conf" "$TB/resolv.c.saved"
printf 'nameserver 2001:db8:1::53%%tos\noptions timeout:1 attempts:2\n' >"/etc/netns/$NS_C/resolv.conf"
if sluice_start_case dns_scoped_start http://$L4/ -r sshhost --dns -v $LAN_NET; then
	is dns_scoped_glibc_a "$(addr4 $DNS_NAME)" $DNS_A "getent ahostsv4 $DNS_NAME in C (nameserver 2001:db8:1::53%tos)"
	stop dns_scoped_stop
fi
cp "$TB/resolv.c.saved" "/etc/netns/$NS_C/resolv.conf"

tb_finish
