/* sshdconf: the ports the old system's sshd listens on, from its
 * configuration text (sshd_config and the files it includes), so that the
 * new system's sshd listens there too: a fleet whose security groups allow
 * only port 2222 must still reach the machine. Pure: no I/O, no
 * allocation. */
#ifndef NK_SSHDCONF_H
#define NK_SSHDCONF_H

#include <stddef.h>
#include <stdint.h>

#define SSHDCONF_PORTS_MAX 8               /* ports carried */
#define SSHDCONF_MAX_BYTES (256 * 1024)    /* one configuration file */
#define SSHDCONF_LINE_MAX_BYTES 1024       /* longer lines are ignored */

struct sshd_ports {
	uint16_t port[SSHDCONF_PORTS_MAX];     /* in the order first seen */
	size_t nports;
	size_t listen;   /* ListenAddress lines with an address of their own */
	size_t over;     /* ports beyond the cap, left out */
	int match;       /* a Match block was reached: the rest is conditional */
};

/* Adds the ports of one file's text to out: every "Port N" (keywords are
 * case-insensitive, separated from their value by spaces or "=", as sshd
 * reads them) and the port of every "ListenAddress ADDR:PORT" or
 * "[ADDR]:PORT" (the address itself is counted in listen, not kept: it
 * may not exist in the new system). Stops at the first Match line (Port
 * and ListenAddress are not allowed after it) and sets match; a file read
 * after that adds nothing. Ports out of 1..65535 are ignored. */
void sshdconf_parse(const uint8_t *buf, size_t len, struct sshd_ports *out);

/* The sshd_config fragment for the new system: one "Port N" line per port
 * but 22 (the new system's sshd listens there already; a second Port 22
 * would only fail to bind), after a comment. 0, or -1 when it does not fit
 * in cap; *len is 0 when no port but 22 is left. */
int sshdconf_render(const struct sshd_ports *p, char *out, size_t cap, size_t *len);

#endif
