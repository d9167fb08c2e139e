/* sshdconf: the ports of the old system's sshd (sshdconf.h). */
#include "sshdconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lines.h"

/* A decimal port 1..65535 of exactly n bytes, else 0. */
static unsigned
port_of(const char *s, size_t n)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : 0;
}

static void
add_port(struct sshd_ports *out, unsigned port)
{
	size_t i;

	if (port == 0)
		return;
	for (i = 0; i < out->nports; i++)
		if (out->port[i] == port)
			return;
	if (out->nports >= SSHDCONF_PORTS_MAX) {
		out->over++;
		return;
	}
	out->port[out->nports++] = (uint16_t)port;
}

/* The port of a ListenAddress value: "[v6]:P", "v4:P", or none. */
static void
listen_value(const char *v, size_t n, struct sshd_ports *out)
{
	const char *colon;
	size_t k;

	if (n > 0 && v[0] == '[') {
		for (k = 1; k < n && v[k] != ']'; k++)
			;
		if (k + 1 < n && v[k + 1] == ':')
			add_port(out, port_of(v + k + 2, n - k - 2));
		out->listen++;
		return;
	}
	colon = memchr(v, ':', n);
	/* One colon: v4 (or a name) and a port; more: a bare IPv6 address. */
	if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon - v) - 1) == NULL)
		add_port(out, port_of(colon + 1, n - (size_t)(colon - v) - 1));
	if (n > 0)
		out->listen++;
}

static void
parse_line(const char *line, size_t n, struct sshd_ports *out)
{
	size_t i = 0, ks, kn, vs, vn;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= n || line[i] == '#')
		return;
	ks = i;
	while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '=')
		i++;
	kn = i - ks;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < n && line[i] == '=')
		i++;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	vs = i;
	while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '#')
		i++;
	vn = i - vs;
	if (kn == 5 && strncasecmp(line + ks, "match", 5) == 0)
		out->match = 1;
	else if (kn == 4 && strncasecmp(line + ks, "port", 4) == 0)
		add_port(out, port_of(line + vs, vn));
	else if (kn == 13 && strncasecmp(line + ks, "listenaddress", 13) == 0)
		listen_value(line + vs, vn, out);
}

void
sshdconf_parse(const uint8_t *buf, size_t len, struct sshd_ports *out)
{
	struct lines l;
	const char *p;
	size_t n;

	lines_init(&l, buf, len, SSHDCONF_MAX_BYTES);
	while (!out->match && lines_next(&l, &p, &n))
		if (lines_readable(p, n, SSHDCONF_LINE_MAX_BYTES))
			parse_line(p, n, out);
}

int
sshdconf_render(const struct sshd_ports *p, char *out, size_t cap, size_t *len)
{
	size_t i, n;
	int k;

	*len = 0;
	if (cap > 0)
		out[0] = '\0';
	for (i = 0; i < p->nports && p->port[i] == 22; i++)
		;
	if (i == p->nports)
		return 0;
	k = snprintf(out, cap, "# nixos-kexec handoff: the ports sshd listened on before kexec\n");
	if (k < 0 || (size_t)k >= cap)
		return -1;
	n = (size_t)k;
	for (i = 0; i < p->nports; i++) {
		if (p->port[i] == 22)
			continue;
		k = snprintf(out + n, cap - n, "Port %u\n", (unsigned)p->port[i]);
		if (k < 0 || (size_t)k >= cap - n)
			return -1;
		n += (size_t)k;
	}
	*len = n;
	return 0;
}
