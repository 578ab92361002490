/*
 * The client's handling of ROUTES, HOST and DNS_REPLY frames from the
 * helper: judged routes, held names, the names then rendered into a hosts
 * file, and replies matched to pending queries (whose sockets are closed).
 */
#include <sys/socket.h>

#include "../../client/services/autohosts.h"
#include "../../client/services/autonets.h"
#include "../../client/capture/dns.h"
#include "fuzz.h"

static struct subnet sn(int family, uint8_t a0, uint8_t prefix)
{
	struct subnet s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	s.addr[0] = a0;
	s.prefix = prefix;
	s.port_hi = 65535;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_proxy dns;
	struct subnet local[2] = {sn(AF_INET, 192, 24), sn(AF_INET6, 0x20, 16)};
	struct subnet expl[1] = {sn(AF_INET, 198, 8)}, *inc = NULL;
	struct autonets nets;
	struct autohosts hosts;
	struct wire_frame f;
	size_t off = 0, n_inc = 0, i;

	memset(&nets, 0, sizeof(nets));
	memset(&hosts, 0, sizeof(hosts));
	memset(&dns, 0, sizeof(dns));
	dns.s4.io.fd = dns.s6.io.fd = -1;
	for (i = 1; i < 8; i++) {
		dns.pending[i].id = (uint32_t)i;
		dns.pending[i].sock = &dns.s4;
		dns.pending[i].len = 40;
		dns.inflight++;
		dns.inflight_bytes += 40;
	}
	while (off < size) {
		int r = wire_parse(data + off, size - off, &f);
		const char *why;

		if (r <= 0)
			break;
		off += (size_t)r;
		if (f.type == WIRE_ROUTES && autonets_take(&nets, &f) == 0) {
			free(inc);
			inc = NULL;
			autonets_build(&nets, 1, local, 2, expl, 1, data[0] & 1, &inc, &n_inc, NULL,
				       NULL);
			autohosts_routes_changed(&hosts);
		} else if (f.type == WIRE_HOST) {
			autohosts_add(&hosts, &f.u.host, &why);
		} else if (f.type == WIRE_DNS_REPLY) {
			dns_answer(&dns, f.stream, f.payload, f.len);
		}
	}
	if (hosts.n) {
		struct autohosts_routes r = {inc ? inc : expl, NULL, inc ? n_inc : 1, 0};
		struct hosts_entry *e = calloc(hosts.n, sizeof(*e));
		char *out = NULL;
		size_t out_len, n = 0;

		for (i = 0; e && i < hosts.n; i++) {
			if (!autohosts_carried(&r, hosts.c[i].family, hosts.c[i].addr,
					       hosts.c[i].seeded))
				continue;
			snprintf(e[n].name, sizeof(e[n].name), "%s", hosts.c[i].name);
			snprintf(e[n].addr, sizeof(e[n].addr), "%u.%u.%u.%u", hosts.c[i].addr[0],
				 hosts.c[i].addr[1], hosts.c[i].addr[2], hosts.c[i].addr[3]);
			n++;
		}
		if (e && hosts_render("127.0.0.1 localhost\n", 20, e, n, &out, &out_len) == 0)
			free(out);
		free(e);
	}
	free(inc);
	autonets_free(&nets);
	autohosts_finish(&hosts);
	return 0;
}
