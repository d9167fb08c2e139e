/* test_handoff: authorized_keys filtering (options parsed as sshd does and
 * dropped, comments kept, blank and comment lines skipped, duplicates
 * merged, junk refused) and the whole collection against a fixture root
 * (root's and the sudo user's keys, authorized_keys.d through a
 * re-rooted symlink, host keys, hostname, machine-id, resolv.conf ->
 * systemd-resolved stub -> upstream file), then the archive and the dump.
 * Key blobs are made here: a length-prefixed type name and random-looking
 * bytes, base64'd, which is all the parser checks. */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/stat.h>
#include <linux/if_addr.h>
#include <zlib.h>

#include "nktest.h"
#include "b64.h"
#include "cpio.h"
#include "fileio.h"
#include "handoff.h"

#define NOW 1795527343u

/* "type base64" of a blob naming type, with seed making it distinct. */
static const char *
mkkey(const char *type, int seed)
{
	static char out[4][2048];
	static int slot;
	uint8_t blob[128];
	size_t tl = strlen(type), n = 0, i;
	char *o = out[slot++ % 4];

	blob[n++] = 0; blob[n++] = 0; blob[n++] = 0; blob[n++] = (uint8_t)tl;
	memcpy(blob + n, type, tl);
	n += tl;
	blob[n++] = 0; blob[n++] = 0; blob[n++] = 0; blob[n++] = 32;
	for (i = 0; i < 32; i++)
		blob[n++] = (uint8_t)(seed * 31 + (int)i * 7);
	strcpy(o, type);
	strcat(o, " ");
	assert_int_equal(b64_encode(blob, n, o + strlen(o), sizeof(out[0]) - strlen(o)), 0);
	return o;
}

static int
kp(const char *line, char *out, size_t cap, struct nk_err *e)
{
	return sshkey_parse(line, strlen(line), out, cap, e);
}

static void
key_is(const char *line, const char *want)
{
	char out[SSHKEY_LINE_MAX_BYTES + 1];
	struct nk_err e = { "" };
	int rc = kp(line, out, sizeof(out), &e);

	if (rc != 1)
		fail_msg("refused '%s': %s", line, e.msg);
	assert_string_equal(out, want);
}

static void
key_refused(const char *line, const char *why)
{
	char out[SSHKEY_LINE_MAX_BYTES + 1];
	struct nk_err e = { "" };

	assert_int_equal(kp(line, out, sizeof(out), &e), NK_E_USAGE);
	if (strstr(e.msg, why) == NULL)
		fail_msg("'%s' does not mention '%s'", e.msg, why);
}

static void
t_key_plain(void **st)
{
	char line[2200];
	const char *k = mkkey("ssh-ed25519", 1);

	(void)st;
	key_is(k, k);
	snprintf(line, sizeof(line), "%s alice@laptop (work)", k);
	key_is(line, line);
	snprintf(line, sizeof(line), "  \t%s\talice  \r", k);
	key_is(line, strcat(strcpy((char[2200]){ 0 }, k), " alice"));
	key_is(mkkey("ecdsa-sha2-nistp256", 2), mkkey("ecdsa-sha2-nistp256", 2));
	key_is(mkkey("sk-ssh-ed25519@openssh.com", 3), mkkey("sk-ssh-ed25519@openssh.com", 3));
}

/* What Ubuntu and Debian cloud images put in front of root's key. */
static void
t_key_cloud_forced_command(void **st)
{
	char line[2600], want[2200];
	const char *k = mkkey("ssh-rsa", 4);

	(void)st;
	snprintf(line, sizeof(line), "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,"
	    "command=\"echo 'Please login as the user \\\"ubuntu\\\" rather than the user "
	    "\\\"root\\\".';echo;sleep 10;exit 142\" %s ubuntu@cloud", k);
	snprintf(want, sizeof(want), "%s ubuntu@cloud", k);
	key_is(line, want);
}

static void
t_key_options_quoted_commas_spaces(void **st)
{
	char line[2600], want[2200];
	const char *k = mkkey("ssh-ed25519", 5);

	(void)st;
	snprintf(want, sizeof(want), "%s c", k);
	snprintf(line, sizeof(line), "from=\"192.0.2.1,198.51.100.0/24\",command=\"a b, c\" %s c", k);
	key_is(line, want);
	snprintf(line, sizeof(line), "environment=\"X=ssh-ed25519 x\",no-pty\t%s c", k);
	key_is(line, want);
	snprintf(line, sizeof(line), "command=\"echo \\\"hi, there\\\" ssh-rsa\" %s c", k);
	key_is(line, want);
	snprintf(line, sizeof(line), "restrict %s c", k);
	key_is(line, want);
	/* \" outside quotes does not open one (sshd skips both characters). */
	snprintf(line, sizeof(line), "x=\\\"y %s c", k);
	key_is(line, want);
}

static void
t_key_blank_and_comments(void **st)
{
	char out[64];
	struct nk_err e = { "" };

	(void)st;
	assert_int_equal(kp("", out, sizeof(out), &e), 0);
	assert_int_equal(kp("   \t ", out, sizeof(out), &e), 0);
	assert_int_equal(kp("# ssh-ed25519 AAAA", out, sizeof(out), &e), 0);
	assert_int_equal(kp("   # indented comment", out, sizeof(out), &e), 0);
	assert_int_equal(kp("\r", out, sizeof(out), &e), 0);
}

static void
t_key_junk_refused(void **st)
{
	char line[2600];
	const char *ed = mkkey("ssh-ed25519", 6), *rsa = mkkey("ssh-rsa", 7);

	(void)st;
	key_refused("hello world", "not a key type");
	key_refused("ssh-ed25519", "without its base64");
	key_refused("ssh-ed25519   ", "without its base64");
	key_refused("ssh-ed25519 not*base64!", "not base64");
	key_refused("ssh-ed25519 AAAA", "not base64 of a ssh-ed25519");
	snprintf(line, sizeof(line), "ssh-ed25519 %s", strchr(rsa, ' ') + 1); /* type mismatch */
	key_refused(line, "not base64 of a ssh-ed25519");
	snprintf(line, sizeof(line), "command=\"unterminated %s", ed);
	key_refused(line, "unterminated quote");
	key_refused("no-pty,no-agent-forwarding", "options but no key");
	key_refused("no-pty ssh-foo AAAA", "not a key type");
	snprintf(line, sizeof(line), "cert-authority,principals=\"root\" %s ca", ed);
	key_refused(line, "cert-authority");
	snprintf(line, sizeof(line), "no-pty,CERT-AUTHORITY %s ca", ed);
	key_refused(line, "cert-authority");
	snprintf(line, sizeof(line), "%s bad\x01comment", ed);
	key_refused(line, "control character");
	snprintf(line, sizeof(line), "%s a\nb", ed);
	key_refused(line, "control character");
}

static void
t_key_cert_authority_inside_quotes_is_not_one(void **st)
{
	char line[2600], want[2200];
	const char *ed = mkkey("ssh-ed25519", 8);

	(void)st;
	snprintf(line, sizeof(line), "command=\"cert-authority\" %s x", ed);
	snprintf(want, sizeof(want), "%s x", ed);
	key_is(line, want);
}

static void
t_key_overlong(void **st)
{
	char *line = malloc(SSHKEY_LINE_MAX_BYTES + 2);
	char out[64];
	struct nk_err e = { "" };

	(void)st;
	assert_non_null(line);
	memset(line, 'a', SSHKEY_LINE_MAX_BYTES + 1);
	line[SSHKEY_LINE_MAX_BYTES + 1] = '\0';
	assert_int_equal(kp(line, out, sizeof(out), &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "longer"));
	/* A valid key into a too-small output buffer. */
	assert_int_equal(kp(mkkey("ssh-ed25519", 9), out, sizeof(out), &e), NK_E_USAGE);
	free(line);
}

/* --- the CLI helpers ------------------------------------------------------ */

static void
t_cli_keys(void **st)
{
	struct handoff_cli c;
	struct nk_err e = { "" };
	char dir[256], path[300], text[2400];
	int i;

	(void)st;
	memset(&c, 0, sizeof(c));
	assert_int_equal(handoff_cli_ssh_key(&c, mkkey("ssh-ed25519", 10), &e), 0);
	assert_int_equal(handoff_cli_ssh_key(&c, "ssh-ed25519 junk", &e), NK_E_USAGE);
	assert_int_equal(handoff_cli_ssh_key(&c, "# nothing", &e), NK_E_USAGE);
	assert_int_equal(handoff_cli_ssh_key(&c, "", &e), NK_E_USAGE);
	snprintf(text, sizeof(text), "%s\n%s", mkkey("ssh-ed25519", 11), mkkey("ssh-rsa", 12));
	assert_int_equal(handoff_cli_ssh_key(&c, text, &e), NK_E_USAGE);
	assert_int_equal(c.nssh_keys, 1);
	for (i = 1; i < HANDOFF_CLI_KEYS_MAX; i++)
		assert_int_equal(handoff_cli_ssh_key(&c, mkkey("ssh-ed25519", 10), &e), 0);
	assert_int_equal(handoff_cli_ssh_key(&c, mkkey("ssh-ed25519", 10), &e), NK_E_USAGE);

	nkt_tmpdir(dir);
	snprintf(text, sizeof(text), "# mine\n\n%s me\n", mkkey("ssh-ed25519", 13));
	nkt_write(dir, "good.pub", text, strlen(text));
	snprintf(path, sizeof(path), "%s/good.pub", dir);
	assert_int_equal(handoff_cli_ssh_key_file(&c, path, &e), 0);
	snprintf(text, sizeof(text), "%s me\nthis is not a key\n", mkkey("ssh-ed25519", 13));
	nkt_write(dir, "bad.pub", text, strlen(text));
	snprintf(path, sizeof(path), "%s/bad.pub", dir);
	assert_int_equal(handoff_cli_ssh_key_file(&c, path, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "line 2"));
	nkt_write(dir, "empty.pub", "# only a comment\n", 17);
	snprintf(path, sizeof(path), "%s/empty.pub", dir);
	assert_int_equal(handoff_cli_ssh_key_file(&c, path, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "no key"));
	snprintf(path, sizeof(path), "%s/missing.pub", dir);
	assert_int_equal(handoff_cli_ssh_key_file(&c, path, &e), NK_E_USAGE);
	assert_int_equal(handoff_cli_ssh_key_file(&c, dir, &e), NK_E_USAGE); /* a directory */
	assert_int_equal(c.nssh_key_files, 1);
	nkt_rmtree(dir);
}

/* --- a fixture root ------------------------------------------------------- */

static char R[256];

static void
mkparents(const char *path)
{
	char p[512], *s;

	snprintf(p, sizeof(p), "%s", path);
	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) != 0)
			assert_int_equal(errno, EEXIST);
		*s = '/';
	}
}

static void
put_file(const char *rel, const char *text, mode_t mode)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", R, rel);
	mkparents(p);
	assert_non_null(f = fopen(p, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void
put_link(const char *rel, const char *target)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", R, rel);
	mkparents(p);
	assert_int_equal(symlink(target, p), 0);
}

static char root_keys[4096], k_root[2200], k_cloud[2200], k_alice[2200], k_bob[2200];
static char k_nix[2200];

static int
fixture(void **st)
{
	char t[4400];

	(void)st;
	nkt_tmpdir(R);
	strcpy(k_root, mkkey("ssh-ed25519", 20));
	strcpy(k_cloud, mkkey("ssh-rsa", 21));
	strcpy(k_alice, mkkey("ecdsa-sha2-nistp256", 22));
	strcpy(k_bob, mkkey("ssh-ed25519", 23));
	strcpy(k_nix, mkkey("ssh-ed25519", 24));
	snprintf(root_keys, sizeof(root_keys),
	    "# root's keys\n"
	    "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please "
	    "login as the user \\\"debian\\\" rather than the user \\\"root\\\".';echo;sleep 10\" "
	    "%s cloud-key\n"
	    "\n"
	    "%s root@admin\n"
	    "garbage line here\n"
	    "%s duplicate with another comment\n", k_cloud, k_root, k_root);
	put_file("/root/.ssh/authorized_keys", root_keys, 0600);
	snprintf(t, sizeof(t), "%s alice\n", k_alice);
	put_file("/etc/static/ssh/authorized_keys.d/alice", t, 0644);
	/* NixOS's layout: /etc/ssh/authorized_keys.d/alice -> /etc/static/... */
	put_link("/etc/ssh/authorized_keys.d/alice", "/etc/static/ssh/authorized_keys.d/alice");
	put_file("/etc/ssh/authorized_keys.d/.hidden", "ssh-ed25519 junk\n", 0644);
	/* Another user's key: it must not become a root key on the new system. */
	snprintf(t, sizeof(t), "%s carol\n", mkkey("ssh-ed25519", 40));
	put_file("/etc/ssh/authorized_keys.d/carol", t, 0644);
	snprintf(t, sizeof(t), "%s nixos-root\n", k_nix);
	put_file("/etc/ssh/authorized_keys.d/root", t, 0444);
	put_file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
	    "bobby:x:1001:1001::/home/bobby:/bin/sh\n"
	    "bob:x:1000:1000:Bob,,,:/home/bob:/bin/bash\n", 0644);
	snprintf(t, sizeof(t), "%s bob@desk\n%s bob's copy of alice\n", k_bob, k_alice);
	put_file("/home/bob/.ssh/authorized_keys", t, 0600);
	put_file("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n"
	    "c2VjcmV0\n-----END OPENSSH PRIVATE KEY-----\n", 0600);
	snprintf(t, sizeof(t), "%s root@oldhost\n", mkkey("ssh-ed25519", 30));
	put_file("/etc/ssh/ssh_host_ed25519_key.pub", t, 0644);
	put_file("/etc/ssh/ssh_host_rsa_key", "-----BEGIN RSA PRIVATE KEY-----\nx\n"
	    "-----END RSA PRIVATE KEY-----\n", 0600);
	snprintf(t, sizeof(t), "%s root@oldhost\n", mkkey("ssh-rsa", 31));
	put_file("/etc/ssh/ssh_host_rsa_key.pub", t, 0644);
	put_file("/etc/ssh/ssh_host_dsa_key", "not a key at all\n", 0600);
	put_file("/etc/ssh/ssh_host_key", "-----BEGIN SSH1-----\n", 0600); /* protocol 1 */
	put_file("/etc/ssh/sshd_config", "PermitRootLogin yes\n", 0644);
	put_file("/tmp/elsewhere_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
	put_link("/etc/ssh/ssh_host_ecdsa_key", "/tmp/elsewhere_key");
	put_file("/etc/hostname", "web-1\n", 0644);
	put_file("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0444);
	put_file("/run/systemd/resolve/stub-resolv.conf",
	    "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
	    "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch stub.example\n", 0644);
	put_link("/etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
	put_file("/run/systemd/resolve/resolv.conf",
	    "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n", 0644);
	return 0;
}

static int
unfixture(void **st)
{
	(void)st;
	nkt_rmtree(R);
	return 0;
}

static struct net_state NS;

static void
net_fixture(void)
{
	struct net_link *l;
	struct net_addr *a;
	struct net_route *r;

	memset(&NS, 0, sizeof(NS));
	l = &NS.links[NS.nlinks++];
	l->index = 1;
	strcpy(l->name, "lo");
	l->flags = IFF_LOOPBACK | IFF_UP;
	l->type = ARPHRD_LOOPBACK;
	l = &NS.links[NS.nlinks++];
	l->index = 2;
	strcpy(l->name, "eth0");
	memcpy(l->mac, "\x52\x54\x00\x12\x34\x56", 6);
	l->mac_len = 6;
	l->mtu = 1500;
	l->type = ARPHRD_ETHER;
	l->flags = IFF_UP;
	l = &NS.links[NS.nlinks++];
	l->index = 3;
	strcpy(l->name, "docker0");
	memcpy(l->mac, "\x02\x42\x00\x00\x00\x01", 6);
	l->mac_len = 6;
	l->type = ARPHRD_ETHER;
	l->flags = IFF_UP; /* and nothing configured on it */
	a = &NS.addrs[NS.naddrs++];
	a->ifindex = 2;
	a->family = AF_INET;
	inet_pton(AF_INET, "192.0.2.10", a->addr);
	a->prefixlen = 24;
	a->flags = IFA_F_PERMANENT;
	a->valid_lft = a->preferred_lft = 0xffffffffu;
	r = &NS.routes[NS.nroutes++];
	r->family = AF_INET;
	r->oif = 2;
	r->gw_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", r->gw);
	r->protocol = NET_RTPROT_BOOT;
	NS.routes_multipath = 1;
}

static void
opts_fixture(struct handoff_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->root = R;
	o->sudo_user = "bob";
	o->bundle_name = "nixos-25.11-x86_64";
	o->bundle_version = 20261124001u;
	o->source = "https://example.org/nixos/\"x\"";
	o->now = NOW;
	net_fixture();
	o->net = &NS;
}

static const struct handoff_file *
file(const struct handoff *h, const char *path)
{
	for (size_t i = 0; i < h->nfiles; i++)
		if (strcmp(h->files[i].path, path) == 0)
			return &h->files[i];
	return NULL;
}

static int
noted(const struct handoff *h, const char *what)
{
	for (size_t i = 0; i < h->nnotes; i++)
		if (strstr(h->notes[i], what) != NULL)
			return 1;
	return 0;
}

static void
t_collect_fixture(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const struct handoff_file *f;
	const char *cli[1];
	char want[8192], json[512];

	(void)st;
	opts_fixture(&o);
	cli[0] = mkkey("ssh-ed25519", 40);
	o.ssh_keys = cli;
	o.nssh_keys = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_int_equal(strlen(h.nonce), 32);
	assert_int_equal(strspn(h.nonce, "0123456789abcdef"), 32);

	assert_non_null(f = file(&h, "boot.json"));
	snprintf(json, sizeof(json), "{\"format\":1,\"bundle\":{\"name\":\"nixos-25.11-x86_64\","
	    "\"version\":20261124001},\"nonce\":\"%s\",\"time\":%u,"
	    "\"time_utc\":\"2026-11-24T13:35:43Z\",\"source\":\"https://example.org/nixos/\\\"x\\\"\","
	    "\"sources\":[],\"source_host\":\"example.org\",\"source_port\":443,\"report\":null,"
	    "\"revert_after\":0}\n", h.nonce, NOW);
	assert_string_equal((const char *)f->data, json);
	assert_int_equal(f->mode, 0644);

	assert_non_null(f = file(&h, "hostname"));
	assert_string_equal((const char *)f->data, "web-1\n");
	assert_non_null(f = file(&h, "machine-id"));
	assert_string_equal((const char *)f->data, "0123456789abcdef0123456789abcdef\n");

	/* Keys: root's (cloud prefix stripped, duplicate merged, junk noted),
	 * bob's, authorized_keys.d/root (alice's and carol's files there are
	 * not read: only root's and the sudo user's), then the CLI. */
	assert_non_null(f = file(&h, "ssh/authorized_keys"));
	snprintf(want, sizeof(want), "%s cloud-key\n%s root@admin\n%s bob@desk\n"
	    "%s bob's copy of alice\n%s nixos-root\n%s\n",
	    k_cloud, k_root, k_bob, k_alice, k_nix, cli[0]);
	assert_string_equal((const char *)f->data, want);
	assert_int_equal(f->mode, 0600);
	assert_int_equal(h.nkeys, 6);
	assert_true(noted(&h, "/root/.ssh/authorized_keys: 1 line skipped (line 5:"));

	assert_non_null(f = file(&h, "ssh/ssh_host_ed25519_key"));
	assert_int_equal(f->mode, 0600);
	assert_int_equal(f->secret, 1);
	assert_non_null(f = file(&h, "ssh/ssh_host_ed25519_key.pub"));
	assert_int_equal(f->mode, 0644);
	assert_int_equal(f->secret, 0);
	assert_non_null(file(&h, "ssh/ssh_host_rsa_key"));
	assert_non_null(file(&h, "ssh/ssh_host_rsa_key.pub"));
	assert_null(file(&h, "ssh/ssh_host_dsa_key"));   /* not a key */
	assert_true(noted(&h, "ssh_host_dsa_key is not a private key"));
	assert_null(file(&h, "ssh/ssh_host_key"));       /* not ssh_host_<alg>_key */
	assert_null(file(&h, "ssh/ssh_host_ecdsa_key")); /* a symlink */
	assert_true(noted(&h, "ssh_host_ecdsa_key"));
	assert_null(file(&h, "ssh/sshd_config"));

	/* DNS: resolv.conf -> stub -> resolved's upstream servers. */
	assert_non_null(f = file(&h, "resolv.conf"));
	assert_string_equal((const char *)f->data,
	    "# nixos-kexec handoff: DNS as it was before kexec\n"
	    "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n");
	assert_non_null(f = file(&h, "network/eth0.network"));
	assert_string_equal((const char *)f->data,
	    "# nixos-kexec handoff: eth0 (index 2) as it was before kexec\n"
	    "[Match]\nMACAddress=52:54:00:12:34:56\n"
	    "\n[Network]\nAddress=192.0.2.10/24\n"
	    "DNS=192.0.2.53\nDNS=2001:db8::53\nDomains=example.org\n"
	    "\n[Route]\nGateway=192.0.2.1\n");
	assert_int_equal(h.nunits, 1);
	assert_true(noted(&h, "docker0: no unit: nothing configured"));
	assert_false(noted(&h, "lo:"));
	assert_true(noted(&h, "1 multipath route left out"));
	handoff_free(&h);
	assert_int_equal(h.nfiles, 0);
}

static void
t_collect_no_host_keys(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };

	(void)st;
	opts_fixture(&o);
	o.no_host_keys = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	for (size_t i = 0; i < h.nfiles; i++)
		assert_null(strstr(h.files[i].path, "ssh_host"));
	assert_non_null(file(&h, "ssh/authorized_keys"));
	handoff_free(&h);
}

/* An empty root of its own (R points there while put_file fills it), no
 * network, no user: o collects from it alone. */
static void
bare_root(char *empty, char *save, struct handoff_opts *o)
{
	nkt_tmpdir(empty);
	snprintf(save, 256, "%s", R);
	snprintf(R, sizeof(R), "%s", empty);
	memset(o, 0, sizeof(*o));
	o->root = empty;
	o->sudo_user = "nobody-here";
	o->now = NOW;
	memset(&NS, 0, sizeof(NS));
	o->net = &NS;
}

static void
bare_root_end(char *empty, const char *save)
{
	snprintf(R, sizeof(R), "%s", save);
	nkt_rmtree(empty);
}

static void
t_collect_empty_root(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	char empty[256], save[256];

	(void)st;
	bare_root(empty, save, &o);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_int_equal(h.nfiles, 1); /* boot.json alone */
	assert_non_null(strstr((const char *)h.files[0].data, "\"bundle\":null"));
	assert_non_null(strstr((const char *)h.files[0].data, "\"source\":null"));
	assert_true(noted(&h, "no authorized key"));
	assert_true(noted(&h, "no host key"));
	assert_true(noted(&h, "hostname: none found"));
	assert_true(noted(&h, "machine-id"));
	assert_true(noted(&h, "no DNS servers carried"));
	assert_true(noted(&h, "no interface to carry"));
	assert_true(noted(&h, "no home directory for nobody-here"));
	handoff_free(&h);
	bare_root_end(empty, save);
}

/* Collects from a bare root holding files (path, text pairs, NULL-ended)
 * and checks the handed-over resolv.conf and one note. */
static void
dns_case(const char *const *files, const char *want, const char *note)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const struct handoff_file *f;
	char empty[256], save[256];
	size_t i;

	bare_root(empty, save, &o);
	for (i = 0; files[i] != NULL; i += 2)
		put_file(files[i], files[i + 1], 0644);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(f = file(&h, "resolv.conf"));
	assert_string_equal((const char *)f->data, want);
	assert_true(noted(&h, note));
	handoff_free(&h);
	bare_root_end(empty, save);
}

/* resolv.conf names only 127.0.0.1 (dnsmasq): its upstreams, from its
 * server= lines and its resolv-file, go to the new system instead. */
static void
t_collect_local_forwarder(void **st)
{
	static const char *const files[] = {
		"/etc/resolv.conf", "nameserver 127.0.0.1\nsearch example.org\n",
		"/etc/dnsmasq.conf", "server=192.0.2.53\nresolv-file=/run/dnsmasq/resolv.conf\n",
		"/run/dnsmasq/resolv.conf", "nameserver 2001:db8::53\n",
		NULL,
	};

	(void)st;
	dns_case(files, "# nixos-kexec handoff: DNS as it was before kexec\n"
	    "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n",
	    "dns: resolv.conf names a local forwarder; 2 upstream servers from "
	    "/etc/dnsmasq.conf and /run/dnsmasq/resolv.conf carried instead");
}

/* NetworkManager with its dnsmasq plugin: resolv.conf names 127.0.0.1,
 * and NetworkManager's no-stub-resolv.conf the servers it learnt; those
 * go (dnsmasq's own configuration is not read then). */
static void
t_collect_networkmanager_no_stub(void **st)
{
	static const char *const files[] = {
		"/etc/resolv.conf", "# Generated by NetworkManager\nnameserver 127.0.0.1\n",
		"/run/NetworkManager/no-stub-resolv.conf", "# Generated by NetworkManager\n"
		    "search example.org\nnameserver 192.0.2.53\nnameserver 127.0.0.1\n",
		"/etc/dnsmasq.conf", "server=198.51.100.53\n",
		NULL,
	};

	(void)st;
	dns_case(files, "# nixos-kexec handoff: DNS as it was before kexec\n"
	    "nameserver 192.0.2.53\nsearch example.org\n",
	    "dns: resolv.conf names a local resolver; 1 server from "
	    "/run/NetworkManager/no-stub-resolv.conf (what NetworkManager learnt) carried instead");
}

/* sshd on 2222 (and 2200 from an included file; a .txt there is not
 * read, nor what follows Match): the new system's sshd listens there too. */
static void
t_collect_sshd_ports(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const struct handoff_file *f;
	char empty[256], save[256];

	(void)st;
	bare_root(empty, save, &o);
	put_file("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPort 2222\n"
	    "ListenAddress 192.0.2.10\nMatch Address 192.0.2.0/24\n  Port 2299\n", 0644);
	put_file("/etc/ssh/sshd_config.d/10-ports.conf", "Port 2200\n", 0644);
	put_file("/etc/ssh/sshd_config.d/notes.txt", "Port 2298\n", 0644);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(f = file(&h, "ssh/sshd_config.d/nixos-kexec.conf"));
	assert_string_equal((const char *)f->data,
	    "# nixos-kexec handoff: the ports sshd listened on before kexec\nPort 2200\nPort 2222\n");
	assert_int_equal(f->mode, 0644);
	assert_true(noted(&h, "ssh: the new system's sshd also listens on ports 2200, 2222"));
	assert_true(noted(&h, "ListenAddress lines are carried as their ports only"));
	handoff_free(&h);
	/* Port 22 only: nothing carried. */
	put_file("/etc/ssh/sshd_config", "Port 22\n", 0644);
	put_file("/etc/ssh/sshd_config.d/10-ports.conf", "\n", 0644);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_null(file(&h, "ssh/sshd_config.d/nixos-kexec.conf"));
	handoff_free(&h);
	bare_root_end(empty, save);
}

/* A user found nowhere: the note says where the agent looked, so an
 * LDAP/sssd user knows why their keys stayed behind. */
static void
t_user_not_found_says_where(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	char empty[256];

	(void)st;
	nkt_tmpdir(empty);
	memset(&o, 0, sizeof(o));
	o.root = empty;
	o.sudo_user = "ldap-user";
	o.now = NOW;
	memset(&NS, 0, sizeof(NS));
	o.net = &NS;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_true(noted(&h, "no home directory for ldap-user"));
	assert_true(noted(&h, "/etc/passwd"));
	assert_true(noted(&h, "--ssh-key-file"));
	assert_false(noted(&h, "NSS"));
	handoff_free(&h);
	/* The static (musl) build has no NSS: /etc/passwd is all it reads. */
	o.passwd_only = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_true(noted(&h, "no home directory for ldap-user"));
	assert_true(noted(&h, "no NSS"));
	assert_true(noted(&h, "LDAP"));
	handoff_free(&h);
	nkt_rmtree(empty);
}

static void
t_cli_opts_passwd_only_matches_libc(void **st)
{
	struct handoff_cli c;
	struct handoff_opts o;

	(void)st;
	memset(&c, 0, sizeof(c));
	handoff_cli_to_opts(&c, &o);
#ifdef __GLIBC__
	assert_int_equal(o.passwd_only, 0); /* getpwnam goes through NSS */
#else
	assert_int_equal(o.passwd_only, 1);
#endif
}

static void
t_collect_bad_identity_and_user(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };

	(void)st;
	opts_fixture(&o);
	put_file("/etc/hostname", "-bad name!\n", 0644);
	put_file("/etc/machine-id", "uninitialized\n", 0444);
	o.sudo_user = "../../etc";
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_null(file(&h, "hostname"));
	assert_null(file(&h, "machine-id"));
	assert_true(noted(&h, "no valid host name"));
	assert_true(noted(&h, "not 32 hex digits"));
	assert_true(noted(&h, "refused"));
	handoff_free(&h);
	put_file("/etc/machine-id", "00000000000000000000000000000000\n", 0444);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_null(file(&h, "machine-id"));
	handoff_free(&h);
}

static void
t_collect_bad_cli_key_fails(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const char *cli[1] = { "ssh-ed25519 AAAAnotakey" };
	const char *files[1] = { "/nonexistent/keys.pub" };

	(void)st;
	opts_fixture(&o);
	o.ssh_keys = cli;
	o.nssh_keys = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "--ssh-key #1"));
	handoff_free(&h);
	o.nssh_keys = 0;
	o.ssh_key_files = files;
	o.nssh_key_files = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "--ssh-key-file"));
	handoff_free(&h);
}

static void
t_collect_resolv_without_upstream(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	char p[512];

	(void)st;
	opts_fixture(&o);
	snprintf(p, sizeof(p), "%s/run/systemd/resolve/resolv.conf", R);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_true(noted(&h, "stub"));
	assert_true(noted(&h, "no usable nameserver"));
	/* The stub's search list is still worth carrying. */
	assert_non_null(file(&h, "resolv.conf"));
	assert_non_null(strstr((const char *)file(&h, "resolv.conf")->data, "search stub.example"));
	handoff_free(&h);
}

static void
t_nonce_fresh_each_time(void **st)
{
	static struct handoff a, b;
	struct handoff_opts o;
	struct nk_err e = { "" };

	(void)st;
	opts_fixture(&o);
	assert_int_equal(handoff_collect(&o, &a, &e), 0);
	assert_int_equal(handoff_collect(&o, &b, &e), 0);
	assert_string_not_equal(a.nonce, b.nonce);
	handoff_free(&a);
	handoff_free(&b);
}

/* Issue 22: a lean bundle's store goes into boot.json with the verified
 * manifest's size and sha256 (stage 1 checks the store against them), the
 * mode, and in initrd mode where it is; without a store, no field. */
static void
t_store_field(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const struct handoff_file *f;
	struct manifest_artifact a = { "nix-store.squashfs", 419430400, { 0xba, 0x78 } };
	struct minisig_pubkey key = { { 1, 2, 3, 4, 5, 6, 7, 8 }, { 9 } };
	char b64[MINISIG_PUBKEY_B64_BYTES + 1];

	(void)st;
	opts_fixture(&o);
	o.store = &a;
	o.store_mode = "stage1";
	o.keys = &key;
	o.nkeys = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	/* stage 1 verifies the manifest again with the keys boot trusted */
	assert_non_null(f = file(&h, "bundle-keys"));
	minisig_pubkey_b64(&key, b64);
	assert_int_equal(f->len, strlen(b64) + 1);
	assert_memory_equal(f->data, b64, strlen(b64));
	assert_non_null(f = file(&h, "boot.json"));
	assert_non_null(strstr((const char *)f->data, ",\"store\":{\"name\":\"nix-store.squashfs\","
	    "\"size\":419430400,\"sha256\":\"ba78000000000000000000000000000000000000000000000000"
	    "000000000000\",\"mode\":\"stage1\",\"path\":null}}\n"));
	handoff_free(&h);
	o.store_mode = "initrd";
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(f = file(&h, "boot.json"));
	assert_non_null(strstr((const char *)f->data, "\"mode\":\"initrd\","
	    "\"path\":\"/nixos-kexec/nix-store.squashfs\"}}\n"));
	assert_null(file(&h, "bundle-keys")); /* initrd mode: stage 1 fetches nothing */
	handoff_free(&h);
	o.store = NULL;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(f = file(&h, "boot.json"));
	assert_null(strstr((const char *)f->data, "store"));
	handoff_free(&h);
}

/* Issue 22: boot.json's "sources" lists where stage 1 may fetch the store:
 * the source that served the manifest first, then the others in order,
 * each once, https only (a directory is left out), credentials redacted;
 * at most HANDOFF_SOURCES_MAX. */
static void
t_sources_field(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const char *src[] = { "https://fleet:s3cr3t@a.example/b/", "/srv/bundle/",
		"https://m2.example:8443/b/", "https://m3.example/b/?X-Amz-Signature=abc#f" };
	const char *many[HANDOFF_SOURCES_MAX + 3];
	char urls[HANDOFF_SOURCES_MAX + 3][64];
	const char *js;
	size_t i;

	(void)st;
	opts_fixture(&o);
	o.source = src[2]; /* the mirror that served the manifest */
	o.sources = src;
	o.nsources = 4;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	js = (const char *)file(&h, "boot.json")->data;
	assert_non_null(strstr(js, "\"sources\":[\"https://m2.example:8443/b/\","
	    "\"https://***@a.example/b/\",\"https://m3.example/b/?***\"],"));
	assert_null(strstr(js, "s3cr3t"));
	assert_null(strstr(js, "abc"));
	handoff_free(&h);
	for (i = 0; i < HANDOFF_SOURCES_MAX + 3; i++) {
		snprintf(urls[i], sizeof(urls[i]), "https://m%zu.example/", i);
		many[i] = urls[i];
	}
	o.source = many[0];
	o.sources = many;
	o.nsources = HANDOFF_SOURCES_MAX + 3;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	js = (const char *)file(&h, "boot.json")->data;
	assert_non_null(strstr(js, "\"https://m8.example/\"],"));
	assert_null(strstr(js, "m9.example"));
	handoff_free(&h);
	/* none: an empty list */
	opts_fixture(&o);
	o.source = NULL;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(strstr((const char *)file(&h, "boot.json")->data,
	    "\"source\":null,\"sources\":[],"));
	handoff_free(&h);
}

/* Issue 12: the run's nonce is the boot nonce; boot.json carries the
 * report URL, the safety net's delay and the source's host and port; the
 * CA the agent reported with goes along as report-ca.pem. */
static void
t_fleet_fields(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	const struct handoff_file *f;
	char ca[512];

	(void)st;
	opts_fixture(&o);
	snprintf(ca, sizeof(ca), "%s/etc/hostname", R); /* any readable file */
	o.source = "https://fleet:s3cr3t@10.0.2.100:8443/nixos/";
	o.nonce = "00112233445566778899aabbccddeeff";
	o.report = "https://collect.example/r?a=1";
	o.report_cacert = ca;
	o.revert_after = 600;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_string_equal(h.nonce, "00112233445566778899aabbccddeeff");
	assert_non_null(f = file(&h, "boot.json"));
	assert_non_null(strstr((const char *)f->data, "\"nonce\":\"00112233445566778899aabbccddeeff\""));
	/* Issue 19.2: the source without its credentials */
	assert_null(strstr((const char *)f->data, "s3cr3t"));
	assert_non_null(strstr((const char *)f->data, "\"source\":\"https://***@10.0.2.100:8443/nixos/\","
	    "\"sources\":[\"https://***@10.0.2.100:8443/nixos/\"],\"source_host\":\"10.0.2.100\",\"source_port\":8443,"
	    "\"report\":\"https://collect.example/r?a=1\",\"revert_after\":600}\n"));
	assert_non_null(f = file(&h, "report-ca.pem"));
	assert_string_equal((const char *)f->data, "web-1\n");
	handoff_free(&h);
	/* a local source has no host; no report, no CA; a malformed nonce is
	 * replaced by a fresh one */
	opts_fixture(&o);
	o.source = "/srv/bundle/";
	o.nonce = "not-a-nonce";
	o.report_cacert = ca;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_int_equal(strspn(h.nonce, "0123456789abcdef"), 32);
	assert_non_null(strstr((const char *)file(&h, "boot.json")->data, "\"source_host\":null,"
	    "\"source_port\":null,\"report\":null,\"revert_after\":0}"));
	assert_null(file(&h, "report-ca.pem"));
	handoff_free(&h);
	/* a CA that cannot be read is an error: the new system could not
	 * report either */
	opts_fixture(&o);
	o.report = "https://collect.example/r";
	o.report_cacert = "/nonexistent/ca.pem";
	assert_int_equal(handoff_collect(&o, &h, &e), NK_E_IO);
	assert_non_null(strstr(e.msg, "report-ca.pem"));
	handoff_free(&h);
}

/* Inflates gz and returns the cpio entries' names and modes as text. */
static void
list_archive(const uint8_t *gz, size_t gzlen, char *out, size_t cap)
{
	static uint8_t raw[1 << 20];
	z_stream zs;
	size_t off = 0, len, n = 0, namesize, fsize;
	char hex[9];

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)gz;
	zs.avail_in = (uInt)gzlen;
	zs.next_out = raw;
	zs.avail_out = sizeof(raw);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	len = zs.total_out;
	inflateEnd(&zs);
	out[0] = '\0';
	for (;;) {
		assert_int_equal(off % 4, 0);
		assert_true(off + 110 < len);
		assert_memory_equal(raw + off, "070701", 6);
		memcpy(hex, raw + off + 94, 8);
		hex[8] = '\0';
		namesize = strtoul(hex, NULL, 16);
		memcpy(hex, raw + off + 54, 8);
		fsize = strtoul(hex, NULL, 16);
		memcpy(hex, raw + off + 14, 8);
		if (strcmp((char *)raw + off + 110, CPIO_TRAILER) == 0)
			break;
		n += (size_t)snprintf(out + n, cap - n, "%s %s\n", hex + 2, (char *)raw + off + 110);
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		off = (off + fsize + 3) & ~(size_t)3;
	}
}

static void
t_archive(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	uint8_t *gz = NULL;
	size_t len = 0;
	char list[4096];

	(void)st;
	opts_fixture(&o);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_int_equal(handoff_archive(&h, &gz, &len, &e), 0);
	assert_true(len > 20 && gz[0] == 0x1f && gz[1] == 0x8b);
	list_archive(gz, len, list, sizeof(list));
	assert_string_equal(list,
	    "0041ED nixos-kexec\n"
	    "0041ED nixos-kexec/handoff\n"
	    "0041ED nixos-kexec/handoff/network\n"
	    "0041C0 nixos-kexec/handoff/ssh\n"
	    "0081A4 nixos-kexec/handoff/boot.json\n"
	    "0081A4 nixos-kexec/handoff/hostname\n"
	    "008124 nixos-kexec/handoff/machine-id\n"
	    "0081A4 nixos-kexec/handoff/network/eth0.network\n"
	    "0081A4 nixos-kexec/handoff/resolv.conf\n"
	    "008180 nixos-kexec/handoff/ssh/authorized_keys\n"
	    "008180 nixos-kexec/handoff/ssh/ssh_host_ed25519_key\n"
	    "0081A4 nixos-kexec/handoff/ssh/ssh_host_ed25519_key.pub\n"
	    "008180 nixos-kexec/handoff/ssh/ssh_host_rsa_key\n"
	    "0081A4 nixos-kexec/handoff/ssh/ssh_host_rsa_key.pub\n");
	handoff_archive_free(gz, len);
	handoff_free(&h);
}

static mode_t
mode_of(const char *dir, const char *rel)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, &sb), 0);
	return sb.st_mode & 07777;
}

static size_t
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
t_dump(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };
	char base[256], dir[300], p[400];
	uint8_t *buf;
	size_t len;

	(void)st;
	opts_fixture(&o);
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	nkt_tmpdir(base);
	snprintf(dir, sizeof(dir), "%s/out", base);
	assert_int_equal(handoff_dump(&h, dir, &e), 0);
	assert_int_equal(mode_of(dir, "."), 0700);
	assert_int_equal(mode_of(dir, "ssh"), 0700);
	assert_int_equal(mode_of(dir, "network"), 0755);
	assert_int_equal(mode_of(dir, "ssh/ssh_host_ed25519_key"), 0600);
	assert_int_equal(mode_of(dir, "ssh/ssh_host_ed25519_key.pub"), 0644);
	assert_int_equal(mode_of(dir, "machine-id"), 0444);
	snprintf(p, sizeof(p), "%s/network/eth0.network", dir);
	assert_int_equal(fileio_read_capped(p, 65536, &buf, &len, &e), 0);
	assert_int_equal(len, file(&h, "network/eth0.network")->len);
	free(buf);
	assert_int_equal(entries(base), 1); /* no .partial left beside it */

	/* Not empty: refused, untouched. */
	assert_int_equal(handoff_dump(&h, dir, &e), NK_E_USAGE);
	assert_non_null(strstr(e.msg, "not empty"));
	assert_int_equal(entries(base), 1);
	/* An existing empty directory is fine, with or without a slash. */
	snprintf(dir, sizeof(dir), "%s/empty", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	strcat(dir, "//");
	assert_int_equal(handoff_dump(&h, dir, &e), 0);
	dir[strlen(dir) - 2] = '\0';
	assert_int_equal(handoff_dump(&h, "/", &e), NK_E_USAGE);
	assert_int_equal(handoff_dump(&h, "", &e), NK_E_USAGE);
	assert_int_equal(mode_of(dir, "ssh/authorized_keys"), 0600);
	/* A file in the way: refused. */
	snprintf(dir, sizeof(dir), "%s/out/boot.json", base);
	assert_int_equal(handoff_dump(&h, dir, &e), NK_E_USAGE);
	/* A missing parent: nothing made. */
	snprintf(dir, sizeof(dir), "%s/no/such", base);
	assert_int_equal(handoff_dump(&h, dir, &e), NK_E_IO);
	assert_int_equal(entries(base), 2);
	handoff_free(&h);
	nkt_rmtree(base);
}

/* A failure after some files were written leaves nothing behind. */
static void
t_dump_all_or_nothing(void **st)
{
	static struct handoff h;
	struct nk_err e = { "" };
	char base[256], dir[300];

	(void)st;
	memset(&h, 0, sizeof(h));
	/* "a" is both a directory (for "a/b") and a file: the second write fails. */
	strcpy(h.files[0].path, "a/b");
	strcpy(h.files[1].path, "first");
	strcpy(h.files[2].path, "a");
	for (int i = 0; i < 3; i++) {
		h.files[i].data = (uint8_t *)strdup("x");
		h.files[i].len = 1;
		h.files[i].mode = 0644;
	}
	h.nfiles = 3;
	nkt_tmpdir(base);
	snprintf(dir, sizeof(dir), "%s/out", base);
	assert_int_equal(handoff_dump(&h, dir, &e), NK_E_IO);
	assert_int_equal(entries(base), 0);
	handoff_free(&h);
	nkt_rmtree(base);
}

/* The live system (root ""): whatever this machine has, it must not fail. */
static void
t_collect_live(void **st)
{
	static struct handoff h;
	struct handoff_opts o;
	struct nk_err e = { "" };

	(void)st;
	memset(&o, 0, sizeof(o));
	o.root = "";
	o.no_host_keys = 1;
	assert_int_equal(handoff_collect(&o, &h, &e), 0);
	assert_non_null(file(&h, "boot.json"));
	handoff_free(&h);
}

#define TF(f) cmocka_unit_test_setup_teardown(f, fixture, unfixture)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_key_plain),
		cmocka_unit_test(t_key_cloud_forced_command),
		cmocka_unit_test(t_key_options_quoted_commas_spaces),
		cmocka_unit_test(t_key_blank_and_comments),
		cmocka_unit_test(t_key_junk_refused),
		cmocka_unit_test(t_key_cert_authority_inside_quotes_is_not_one),
		cmocka_unit_test(t_key_overlong),
		cmocka_unit_test(t_cli_keys),
		TF(t_collect_fixture),
		TF(t_collect_no_host_keys),
		cmocka_unit_test(t_collect_empty_root),
		cmocka_unit_test(t_collect_local_forwarder),
		cmocka_unit_test(t_collect_networkmanager_no_stub),
		cmocka_unit_test(t_collect_sshd_ports),
		TF(t_collect_bad_identity_and_user),
		TF(t_user_not_found_says_where),
		TF(t_cli_opts_passwd_only_matches_libc),
		TF(t_collect_bad_cli_key_fails),
		TF(t_collect_resolv_without_upstream),
		TF(t_nonce_fresh_each_time),
		TF(t_fleet_fields),
		TF(t_store_field),
		TF(t_sources_field),
		TF(t_archive),
		TF(t_dump),
		cmocka_unit_test(t_dump_all_or_nothing),
		cmocka_unit_test(t_collect_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
