#!/bin/bash
# test_cmdconf: -e 'ssh -F cfg' with a host alias that only cfg knows, and
# sluice's own -F a config that does not. sluice asks the command itself
# (`ssh -F cfg -G alias`) where it goes, so the server's address comes from
# cfg's HostName: logged, excluded in the tunnel's nft table, and no lookup
# of the alias holds up start-up. C's resolver is an address nothing
# answers on, so a lookup of the alias would fail, and slowly.
TB_SUITE=cmdconf
cmdconf_etc() {
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' 192.0.2.53 >"/etc/netns/$NS_C/resolv.conf" &&
		chmod 644 "/etc/netns/$NS_C/resolv.conf"
}
TB_ETC_HOOK=cmdconf_etc
. "$(dirname "$0")/lib.sh"
need_sluice
tb_up
ALIAS=accwan
{
	printf 'Host %s\n\tHostName %s\n\tIdentityFile %s\n' $ALIAS "$S4" "$TB/id_ed25519"
	tb_ssh_defaults "$TB/known_hosts"
} >"$TB/cfg_e"

# 0/0: the tunnel's own connection to S is inside what it routes.
t0=$(now_ms)
SLUICE_CFG=/dev/null sluice_start -v -r $ALIAS -e "ssh -F $TB/cfg_e" 0/0
if sluice_wait_ready "http://$L4/"; then
	echo "# ready in $(($(now_ms) - t0)) ms"
	pass e_alias_ready
else
	fail e_alias_ready "$SLUICE_WHY"
fi
if grep -q "^sluice: -e: the command's own configuration sends $ALIAS to $S4 port 22$" "$SLUICE_LOG" &&
	grep -q "^sluice: -e: the SSH server's address $S4 port 22 is excluded$" "$SLUICE_LOG"; then
	pass e_server_from_command_config
else
	fail e_server_from_command_config "$(grep -e '-e:' -e resolv "$SLUICE_LOG" | tr '\n' '|')"
fi
if ! grep -Eq "(does|did) not resolve" "$SLUICE_LOG"; then
	pass e_alias_not_looked_up
else
	fail e_alias_not_looked_up "$(grep -E "not resolve" "$SLUICE_LOG" | tr '\n' '|')"
fi
table=$(sluice_table)
if [ -n "$table" ] && inC nft list table inet "$table" | grep -qF "$S4"; then
	pass e_server_excluded_in_table
else
	fail e_server_excluded_in_table "table '$table': $(inC nft list table inet "$table" 2>&1 | tr '\n' ' ' | head -c 600)"
fi
sluice_stop TERM 5
tb_finish
