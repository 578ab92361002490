/*
 * fwcheck: drives the firewall module by hand, for the integration check
 * that needs root and a throw-away network namespace (not a unit test: it
 * is not named test_*.c). It reads one command per line on stdin and
 * answers "ok" or "err N: message" per line:
 *
 *   install|update [-p PORT] [-P] [-i SUBNET]... [-x SUBNET]... [-d NS]... [-D PORT]
 *   remove
 *   owner HEX     table flag to ask for first (default 0x2, NFT_TABLE_F_OWNER);
 *                 an unknown bit such as 0x80000000 makes the kernel refuse
 *                 it and exercises the fallback to an unowned table
 *   owned         answers "ok owned" or "ok unowned"
 *   close         fw_close, then exit
 *
 * SUBNET is what subnet_parse takes: A.B.C.D[/W][:LO[-HI]] or [IPV6][/W][:LO[-HI]].
 * NS is a nameserver address (-d, repeatable) for DNS capture; -D PORT is
 * where its UDP queries go (default 0, which install refuses when -d is given).
 *
 * Build:  cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -o build/fwcheck tests/unit/fwcheck.c \
 *             firewall/fw.c firewall/nft_batch.c firewall/nft_rule.c firewall/nft_set.c \
 *             common/subnet.c -lnftnl -lmnl
 * Use:    N=fwtest$$; ip netns add $N; trap 'ip netns del $N' EXIT
 *         coproc ip netns exec $N build/fwcheck
 *         echo 'install -p 12300 -i 198.51.100.0/24 -x 198.51.100.9:22' >&${COPROC[1]}
 *         read -r line <&${COPROC[0]}; ip netns exec $N nft list ruleset
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../firewall/fw.h"
#include "../../firewall/nft_internal.h"

#define MAX_SUBNETS 4096	      /* OPTS_MAX_SUBNETS */
#define MAX_DNS	    (NFT_DNS_MAX + 1) /* one more than allowed, to see it refused */

/* One SUBNET argument; a hostname could expand to several, which we refuse for simplicity. */
static int parse_subnet(const char *arg, struct subnet *sn)
{
	return subnet_parse(arg, sn, 1) == 1 ? 0 : -EINVAL;
}

static struct subnet inc[MAX_SUBNETS], exc[MAX_SUBNETS], dns[MAX_DNS];

static int parse_spec(char *args, struct fw_spec *spec)
{
	char *tok, *save = NULL;

	memset(spec, 0, sizeof(*spec));
	spec->redirect_port = 12300;
	spec->include = inc;
	spec->exclude = exc;
	spec->dns = dns;
	for (tok = strtok_r(args, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *val = NULL;

		if (strcmp(tok, "-P") == 0) {
			spec->prerouting = true;
			continue;
		}
		if (strcmp(tok, "-p") && strcmp(tok, "-i") && strcmp(tok, "-x") &&
		    strcmp(tok, "-d") && strcmp(tok, "-D"))
			return -EINVAL;
		val = strtok_r(NULL, " \t", &save);
		if (!val)
			return -EINVAL;
		if (tok[1] == 'p') {
			spec->redirect_port = (uint16_t)strtoul(val, NULL, 10);
		} else if (tok[1] == 'D') {
			spec->dns_port = (uint16_t)strtoul(val, NULL, 10);
		} else if (tok[1] == 'd') {
			if (spec->n_dns == MAX_DNS || parse_subnet(val, &dns[spec->n_dns]) < 0)
				return -EINVAL;
			spec->n_dns++;
		} else if (tok[1] == 'i') {
			if (spec->n_include == MAX_SUBNETS ||
			    parse_subnet(val, &inc[spec->n_include]) < 0)
				return -EINVAL;
			spec->n_include++;
		} else {
			if (spec->n_exclude == MAX_SUBNETS ||
			    parse_subnet(val, &exc[spec->n_exclude]) < 0)
				return -EINVAL;
			spec->n_exclude++;
		}
	}
	return 0;
}

static void answer(int ret)
{
	if (ret == 0)
		printf("ok\n");
	else
		printf("err %d: %s\n", ret, fw_strerror(ret));
	fflush(stdout);
}

int main(void)
{
	static char line[1 << 18];
	struct fw_spec spec;
	struct fw *fw;
	int ret;

	ret = fw_open(&fw, FW_TABLE_NAME);
	if (ret < 0) {
		answer(ret);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *cmd, *args;

		line[strcspn(line, "\n")] = '\0';
		cmd = line;
		args = line + strcspn(line, " ");
		if (*args)
			*args++ = '\0';
		if (strcmp(cmd, "install") == 0 || strcmp(cmd, "update") == 0) {
			ret = parse_spec(args, &spec);
			if (ret == 0)
				ret = cmd[0] == 'i' ? fw_install(fw, &spec) : fw_update(fw, &spec);
			answer(ret);
		} else if (strcmp(cmd, "remove") == 0) {
			answer(fw_remove(fw));
		} else if (strcmp(cmd, "owner") == 0) {
			fw_set_owner_flag(fw, (uint32_t)strtoul(args, NULL, 16));
			answer(0);
		} else if (strcmp(cmd, "owned") == 0) {
			printf("ok %s\n", fw_is_owned(fw) ? "owned" : "unowned");
			fflush(stdout);
		} else if (strcmp(cmd, "close") == 0) {
			break;
		} else {
			answer(-EINVAL);
		}
	}
	fw_close(fw);
	printf("closed\n");
	return 0;
}
