#!/bin/bash
# test_capture: the privileged part's datagram capture (PRIV_TUN), driven
# by capture.py as the user's side would drive it, in the testbed's client
# namespace. The part must hand over a TUN device (MTU 65535, up) with ip
# rules, a routing table and marking chains; UDP and ping to the routed
# networks must come out of the device, and only those; what is written
# into it must reach local sockets only from routed, not excluded,
# sources, also with strict rp_filter. Closing the channel and the device
# takes everything away, even a device its holder made persistent; after
# a SIGKILL of both sides the device goes with its descriptors, the ip
# rule stays, and the next part sweeps it. With --user, a kernel socket's
# datagrams are never captured.
TB_SUITE=capture
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up

DRV="$E2E_DIR/capture.py"
rules_of() { # MARK: how many ip rules (v4 and v6) name it, as ours do
	{ inC ip -4 rule show; inC ip -6 rule show; } 2>/dev/null |
		grep -cE "^$((0x1450)):[[:space:]]+from all fwmark $(printf '0x%x' "$1") lookup $(($1))"
}
iif_rules_of() { # PID: how many "iif sluicePID lookup main" rules (v4 and v6) there are
	{ inC ip -4 rule show; inC ip -6 rule show; } 2>/dev/null |
		grep -cE "^$((0x144f)):[[:space:]]+from all iif sluice$1( \[detached\])? lookup main"
}
dev_gone() { ! inC ip link show "$1" >/dev/null 2>&1; }
state_wait() { # until the driver wrote DIR/state
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$1/state" ] && return 0
		sleep 0.1
	done
	return 1
}
# The driver's RESULT lines, as ours.
results() {
	local name rest
	while read -r tag name rest; do
		[ "$tag" = RESULT ] || continue
		if [ "$rest" = ok ]; then pass "$name"; else fail "$name" "$rest"; fi
	done <"$1"
}

# --- one tunnel, all the way --------------------------------------------------
D1=$TB/run1
mkdir -p "$D1"
inC "$PY" "$DRV" "$SLUICE" "$D1" full >"$D1/out" 2>"$D1/err" &
DRV1=$!
TB_PIDS="$TB_PIDS $DRV1"
if ! state_wait "$D1"; then
	fail tun_handed_over "no device: $(tail -n 3 "$D1/err" "$D1"/part.*.log | tr '\n' ' ')"
	tb_finish
fi
read -r PART DEV <"$D1/state"
MARK=$((0x51000000 | PART))
[ "$DEV" = "sluice$PART" ] && pass tun_handed_over || fail tun_handed_over "device '$DEV', part $PART"

link=$(inC ip -o link show "$DEV" 2>/dev/null)
if echo "$link" | grep -q "mtu 65535" && echo "$link" | grep -q "<[^>]*,UP[,>]"; then
	pass tun_mtu_up
else
	fail tun_mtu_up "ip link: $link"
fi
if [ "$(inC cat /proc/sys/net/ipv4/conf/"$DEV"/src_valid_mark)" = 1 ] &&
	[ "$(inC cat /proc/sys/net/ipv6/conf/"$DEV"/addr_gen_mode)" = 1 ] &&
	[ -z "$(inC ip -6 addr show dev "$DEV" 2>/dev/null | grep inet6)" ]; then
	pass tun_settings
else
	fail tun_settings "src_valid_mark, addr_gen_mode or an IPv6 address: $(inC ip -6 addr show dev "$DEV" | tr '\n' ' ')"
fi
n=$(rules_of "$MARK")
[ "$n" = 2 ] && pass ip_rules_v4_v6 || fail ip_rules_v4_v6 "$n rules for fwmark $MARK: $(inC ip rule show | tr '\n' ';')"
r4=$(inC ip -4 route show table "$MARK" 2>/dev/null)
r6=$(inC ip -6 route show table "$MARK" 2>/dev/null)
if echo "$r4" | grep -q "^default dev $DEV" && echo "$r6" | grep -q "^default dev $DEV"; then
	pass table_default_routes
else
	fail table_default_routes "table $MARK: '$r4' / '$r6'"
fi
tbl=$(inC nft list table inet "sluice-$PART" 2>/dev/null)
if echo "$tbl" | grep -q "chain mark_out" && echo "$tbl" | grep -q "type route hook output priority mangle" &&
	echo "$tbl" | grep -q "chain mark_dst" && echo "$tbl" | grep -q "chain tun_in" &&
	echo "$tbl" | grep -q "chain tun_src" && ! echo "$tbl" | grep -q "chain mark_pre"; then
	pass nft_chains
else
	fail nft_chains "$(echo "$tbl" | grep chain | tr '\n' ';')"
fi

touch "$D1/go.capture"
# Strict reverse-path filtering everywhere: the mark must carry the replies through.
inC sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
touch "$D1/go.inject"
for ((i = 0; i < 150; i++)); do
	[ "$(grep -c '^RESULT' "$D1/out")" -ge 11 ] && break
	sleep 0.1
done
results "$D1/out"
[ "$(grep -c '^RESULT' "$D1/out")" = 11 ] && pass driver_ran_every_check ||
	fail driver_ran_every_check "$(grep -c '^RESULT' "$D1/out") of 11: $(tail -n 4 "$D1/err" | tr '\n' ' ')"

touch "$D1/go.close"
gone=0
for ((i = 0; i < 50; i++)); do
	if dev_gone "$DEV" && [ "$(rules_of "$MARK")" = 0 ] &&
		! inC nft list table inet "sluice-$PART" >/dev/null 2>&1; then
		gone=1
		break
	fi
	sleep 0.1
done
[ "$gone" = 1 ] && pass close_removes_everything ||
	fail close_removes_everything "after 5 s: device $(dev_gone "$DEV" && echo gone || echo left), $(rules_of "$MARK") rules, table $(inC nft list table inet "sluice-$PART" >/dev/null 2>&1 && echo left || echo gone)"
{ wait "$DRV1"; } 2>/dev/null
grep -q '^EXIT 0' "$D1/out" && pass part_exits_clean || fail part_exits_clean "$(grep EXIT "$D1/out") $(tail -n 2 "$D1"/part.full.log | tr '\n' ' ')"

# --- --user: the kernel's own datagrams are not captured -------------------------
# A packet of a kernel socket (VXLAN here; NFS, WireGuard alike) has no
# owner to read: with --user it must match no capturing rule.
D4=$TB/run4
mkdir -p "$D4"
inC timeout 60 "$PY" "$DRV" "$SLUICE" "$D4" owner >"$D4/out" 2>"$D4/err"
results "$D4/out"
[ "$(grep -c '^RESULT' "$D4/out")" = 3 ] && grep -q '^EXIT 0' "$D4/out" && pass owner_driver_ran ||
	fail owner_driver_ran "$(grep -c '^RESULT' "$D4/out") of 3, $(grep EXIT "$D4/out"): $(tail -n 3 "$D4/err" | tr '\n' ' ')"

# --- SIGKILL of both sides, and the sweep ---------------------------------------
D2=$TB/run2
mkdir -p "$D2"
inC "$PY" "$DRV" "$SLUICE" "$D2" hold >"$D2/out" 2>"$D2/err" &
DRV2=$!
# Killed below on purpose: no job notice for it.
disown "$DRV2"
if state_wait "$D2"; then
	read -r PART2 DEV2 <"$D2/state"
	MARK2=$((0x51000000 | PART2))
	before=$(rules_of "$MARK2")
	pid_in_ns "$PART2" "$NS_C" && kill -KILL "$PART2"
	kill -KILL "$DRV2" 2>/dev/null
	# ip netns exec runs the driver as a child: kill what is left of it too.
	for p in $(inC pgrep -f "capture.py $SLUICE $D2" 2>/dev/null); do
		pid_in_ns "$p" "$NS_C" && kill -KILL "$p"
	done
	for ((i = 0; i < 50; i++)); do
		dev_gone "$DEV2" && break
		sleep 0.1
	done
	stay=$(rules_of "$MARK2")
	iif_stay=$(iif_rules_of "$PART2")
	if [ "$before" = 2 ] && dev_gone "$DEV2" && [ "$stay" = 2 ] && [ "$iif_stay" = 2 ] &&
		! inC nft list table inet "sluice-$PART2" >/dev/null 2>&1; then
		pass sigkill_device_goes_rule_stays
	else
		fail sigkill_device_goes_rule_stays "rules before $before, after $stay; device $(dev_gone "$DEV2" && echo gone || echo left)"
	fi
	D3=$TB/run3
	mkdir -p "$D3"
	inC "$PY" "$DRV" "$SLUICE" "$D3" start >"$D3/out" 2>"$D3/err"
	after=$(($(rules_of "$MARK2") + $(iif_rules_of "$PART2")))
	[ "$after" = 0 ] && pass next_part_sweeps_rules ||
		fail next_part_sweeps_rules "$after rules of the killed part $PART2 left: $(tail -n 3 "$D3"/part.start.log | tr '\n' ' ')"
	grep -q "removed 4 ip rules" "$D3"/part.start.log && pass sweep_logged ||
		fail sweep_logged "$(tr '\n' ' ' <"$D3"/part.start.log)"
else
	fail sigkill_device_goes_rule_stays "no device: $(tail -n 3 "$D2/err" | tr '\n' ' ')"
fi
# Nothing of ours may outlive the namespace's processes: a rule of a killed
# run would (the namespace goes with tb_down, and with it anything left).
left=$({ inC ip -4 rule show; inC ip -6 rule show; } | grep -c "fwmark 0x51")
[ "$left" = 0 ] && pass no_rules_left || fail no_rules_left "$left ip rules with our marks"
tb_finish
