/* test_sshdconf: the ports of the old system's sshd, from its
 * configuration text (agent/handoff/sshdconf.c). Inputs are written by
 * hand after sshd_config(5): keywords case-insensitive, "=" allowed, Port
 * repeatable, ListenAddress with or without a port, Match ending the part
 * that applies everywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sshdconf.h"

static struct sshd_ports P;

static void
parse(const char *text)
{
	memset(&P, 0, sizeof(P));
	sshdconf_parse((const uint8_t *)text, strlen(text), &P);
}

static void
t_port_2222(void **st)
{
	char out[256];
	size_t len;

	(void)st;
	parse("# Debian\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 2222\nPermitRootLogin no\n");
	assert_int_equal(P.nports, 1);
	assert_int_equal(P.port[0], 2222);
	assert_int_equal(sshdconf_render(&P, out, sizeof(out), &len), 0);
	assert_string_equal(out, "# nixos-kexec handoff: the ports sshd listened on before kexec\n"
	    "Port 2222\n");
	assert_int_equal(len, strlen(out));
}

static void
t_forms(void **st)
{
	(void)st;
	parse("port=2200\n  PORT   2201  # a comment\n\tPort\t22\nport 2200\n"
	    "ListenAddress 192.0.2.10:2202\nListenAddress [2001:db8::10]:2203\n"
	    "listenaddress 2001:db8::11\nListenAddress 0.0.0.0\n");
	assert_int_equal(P.nports, 5); /* 2200 once */
	assert_int_equal(P.port[0], 2200);
	assert_int_equal(P.port[1], 2201);
	assert_int_equal(P.port[2], 22);
	assert_int_equal(P.port[3], 2202);
	assert_int_equal(P.port[4], 2203);
	assert_int_equal(P.listen, 4);
}

static void
t_refused_values(void **st)
{
	(void)st;
	parse("Port 0\nPort 65536\nPort 99999\nPort -1\nPort 22x\nPort\nPorts 2222\n"
	    "#Port 2222\nListenAddress 192.0.2.1:\nListenAddress [2001:db8::1]\n"
	    "ListenAddress [2001:db8::1]:x\n");
	assert_int_equal(P.nports, 0);
	assert_int_equal(P.listen, 3);
}

static void
t_match_ends_it(void **st)
{
	(void)st;
	parse("Port 2222\nMatch User backup\n  Port 2223\nPort 2224\n");
	assert_int_equal(P.nports, 1);
	assert_int_equal(P.match, 1);
}

static void
t_only_22_renders_nothing(void **st)
{
	char out[256] = "x";
	size_t len = 9;

	(void)st;
	parse("Port 22\n");
	assert_int_equal(sshdconf_render(&P, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	parse("");
	assert_int_equal(sshdconf_render(&P, out, sizeof(out), &len), 0);
	assert_int_equal(len, 0);
}

static void
t_caps(void **st)
{
	char text[512] = "", line[32], out[64];
	size_t len;
	int i;

	(void)st;
	for (i = 0; i < SSHDCONF_PORTS_MAX + 2; i++) {
		snprintf(line, sizeof(line), "Port %d\n", 2000 + i);
		strcat(text, line);
	}
	parse(text);
	assert_int_equal(P.nports, SSHDCONF_PORTS_MAX);
	assert_int_equal(P.over, 2);
	/* too small an output: refused, not cut */
	assert_int_equal(sshdconf_render(&P, out, sizeof(out), &len), -1);
	assert_int_equal(len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_port_2222), cmocka_unit_test(t_forms),
		cmocka_unit_test(t_refused_values), cmocka_unit_test(t_match_ends_it),
		cmocka_unit_test(t_only_22_renders_nothing), cmocka_unit_test(t_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
