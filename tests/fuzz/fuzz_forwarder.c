/* fuzz_forwarder: libFuzzer harness for the parsers of DNS configuration
 * text (netunits_parse_forwarder: dnsmasq's and unbound's upstream
 * servers; netunits_parse_resolv: resolv.conf), fed the same bytes into
 * one net_dns, as collect_dns does. Promises checked with abort(): no more
 * servers or domains than the caps, every server of a family the renderer
 * knows and never a loopback one, every domain NUL-terminated, the
 * resolv-file path either "" or absolute and NUL-terminated inside its
 * buffer, and the resolv.conf rendering bounded.
 * tests/fuzz/run.sh links only the common sources, so the agent modules
 * under test are included here directly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/handoff/netlink.c"
#include "../../agent/handoff/netunits.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net_dns d;
	char rf[64], txt[4096];
	struct nk_err e = { "" };
	size_t i, len;

	memset(&d, 0, sizeof(d));
	memset(rf, 'x', sizeof(rf));
	netunits_parse_forwarder(data, size, &d, rf, sizeof(rf));
	if (memchr(rf, '\0', sizeof(rf)) == NULL || (rf[0] != '\0' && rf[0] != '/'))
		abort();
	netunits_parse_resolv(data, size, &d);
	if (d.nservers > NETUNITS_DNS_MAX || d.ndomains > NETUNITS_DOMAINS_MAX)
		abort();
	for (i = 0; i < d.nservers; i++) {
		if (d.family[i] != AF_INET && d.family[i] != AF_INET6)
			abort();
		if (d.family[i] == AF_INET && d.addr[i][0] == 127)
			abort();
	}
	for (i = 0; i < d.ndomains; i++)
		if (memchr(d.domains[i], '\0', sizeof(d.domains[i])) == NULL)
			abort();
	if (netunits_render_resolv(&d, txt, sizeof(txt), &len, &e) == 0 && len >= sizeof(txt))
		abort();
	return 0;
}
