/* handoff: collects what the new system inherits, packs it, or dumps it.
 * Every file is read under o->root (so tests run against a fixture tree)
 * with a size cap; what is missing or refused becomes a note. */
#include "handoff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <sodium.h>

#include "b64.h"
#include "cpio.h"
#include "fileio.h"
#include "json.h"
#include "lines.h"
#include "linkdns.h"
#include "netunits.h"
#include "sshdconf.h"
#include "sshkey.h"
#include "url.h"

#define HANDOFF_DIRS_MAX 8
#define HANDOFF_USER_MAX_BYTES 32
#define HANDOFF_BOOTJSON_MAX_BYTES 16384
#define HANDOFF_MACHINE_ID_HEX 32

/* --- notes and files ----------------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
note(struct handoff *h, const char *fmt, ...)
{
	va_list ap;

	if (h->nnotes >= HANDOFF_NOTES_MAX) {
		h->notes_over++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(h->notes[h->nnotes++], HANDOFF_NOTE_MAX_BYTES, fmt, ap);
	va_end(ap);
}

static int
add_file(struct handoff *h, const char *path, uint32_t mode, const void *data, size_t len,
    int secret, struct nk_err *e)
{
	struct handoff_file *f;

	if (h->nfiles >= HANDOFF_FILES_MAX)
		return nk_fail(e, NK_E_SIZE, "handoff: more than %d files", HANDOFF_FILES_MAX);
	if (len > CPIO_FILE_MAX_BYTES)
		return nk_fail(e, NK_E_SIZE, "handoff: %s: %zu bytes, more than the %d allowed",
		    path, len, CPIO_FILE_MAX_BYTES);
	f = &h->files[h->nfiles];
	if ((size_t)snprintf(f->path, sizeof(f->path), "%s", path) >= sizeof(f->path))
		return nk_fail(e, NK_E_INTERNAL, "handoff: path '%s' too long", path);
	if ((f->data = malloc(len + 1)) == NULL)
		return nk_fail(e, NK_E_NOMEM, "handoff: out of memory");
	if (len > 0)
		memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->mode = mode;
	f->secret = secret;
	h->nfiles++;
	return 0;
}

static void
wipe_free(uint8_t *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}

void
handoff_free(struct handoff *h)
{
	size_t i;

	for (i = 0; i < h->nfiles; i++) {
		if (h->files[i].secret)
			wipe_free(h->files[i].data, h->files[i].len);
		else
			free(h->files[i].data);
		h->files[i].data = NULL;
	}
	h->nfiles = 0;
}

/* --- reading under root ---------------------------------------------------- */

/* root + path, following symlinks as the new root would see them
 * (absolute targets re-rooted), at most HANDOFF_SYMLINK_HOPS. */
static int
read_rooted(const char *root, const char *path, size_t max, uint8_t **buf, size_t *len,
    struct nk_err *e)
{
	char cur[PATH_MAX], full[PATH_MAX], target[PATH_MAX];
	const char *slash;
	struct stat st;
	ssize_t n;
	int hop;

	if ((size_t)snprintf(cur, sizeof(cur), "%s", path) >= sizeof(cur))
		return nk_fail(e, NK_E_IO, "%s: path too long", path);
	for (hop = 0; hop <= HANDOFF_SYMLINK_HOPS; hop++) {
		if ((size_t)snprintf(full, sizeof(full), "%s%s", root, cur) >= sizeof(full))
			return nk_fail(e, NK_E_IO, "%s: path too long", cur);
		if (lstat(full, &st) != 0)
			return nk_fail(e, errno == ENOENT ? NK_E_MISSING : NK_E_IO, "%s: %s", full,
			    strerror(errno));
		if (!S_ISLNK(st.st_mode))
			return fileio_read_capped(full, max, buf, len, e);
		if ((n = readlink(full, target, sizeof(target) - 1)) < 0)
			return nk_fail(e, NK_E_IO, "%s: %s", full, strerror(errno));
		target[n] = '\0';
		if (target[0] == '/') {
			snprintf(cur, sizeof(cur), "%s", target);
			continue;
		}
		slash = strrchr(cur, '/');
		if ((size_t)snprintf(full, sizeof(full), "%.*s/%s",
		    (int)(slash != NULL ? slash - cur : 0), cur, target) >= sizeof(cur))
			return nk_fail(e, NK_E_IO, "%s: link target too long", cur);
		memcpy(cur, full, sizeof(cur));
	}
	return nk_fail(e, NK_E_IO, "%s%s: more than %d symbolic links", root, path,
	    HANDOFF_SYMLINK_HOPS);
}

/* --- SSH keys ------------------------------------------------------------- */

const char *
handoff_invoking_user(void)
{
	const char *u = getenv("SUDO_USER");

	if (u == NULL || u[0] == '\0')
		u = getenv("DOAS_USER");
	return u != NULL && u[0] != '\0' ? u : NULL;
}

struct keyset {
	char *line[HANDOFF_KEYS_MAX];
	size_t n;
	size_t over;
};

static void
keyset_free(struct keyset *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->line[i]);
	k->n = 0;
}

/* Adds a parsed "type base64 [comment]" unless the same type and base64
 * are already there (the first comment wins). */
static int
keyset_add(struct keyset *k, const char *key, struct nk_err *e)
{
	const char *sp = strchr(key, ' ');
	size_t cmp = strcspn(sp + 1, " ") + (size_t)(sp + 1 - key), i;

	for (i = 0; i < k->n; i++)
		if (strncmp(k->line[i], key, cmp) == 0 &&
		    (k->line[i][cmp] == '\0' || k->line[i][cmp] == ' '))
			return 0;
	if (k->n >= HANDOFF_KEYS_MAX) {
		k->over++;
		return 0;
	}
	if ((k->line[k->n] = strdup(key)) == NULL)
		return nk_fail(e, NK_E_NOMEM, "out of memory");
	k->n++;
	return 0;
}

/* Every line of an authorized_keys text. strict (the operator's own
 * --ssh-key-file): a bad line is an error; else it is skipped and noted. */
static int
keyset_add_text(struct handoff *h, struct keyset *k, const char *origin, const uint8_t *buf,
    size_t len, int strict, size_t *added, struct nk_err *e)
{
	static char key[SSHKEY_LINE_MAX_BYTES + 1];
	struct lines l;
	const char *p;
	struct nk_err le = { "" }, first = { "" };
	size_t n, lineno = 0, bad = 0, before = k->n;
	int rc;

	if (memchr(buf, '\0', len) != NULL) {
		if (strict)
			return nk_fail(e, NK_E_USAGE, "%s: a NUL byte: not an authorized_keys file",
			    origin);
		note(h, "ssh: %s: not a text file; skipped", origin);
		return 0;
	}
	lines_init(&l, buf, len, len);
	while (lines_next(&l, &p, &n)) {
		lineno++;
		rc = sshkey_parse(p, n, key, sizeof(key), &le);
		if (rc == 1 && (rc = keyset_add(k, key, e)) != 0)
			return rc;
		if (rc < 0) {
			if (strict)
				return nk_fail(e, rc, "%s line %zu: %s", origin, lineno, le.msg);
			if (bad++ == 0)
				snprintf(first.msg, sizeof(first.msg), "line %zu: %s", lineno, le.msg);
		}
	}
	if (bad > 0)
		note(h, "ssh: %s: %zu line%s skipped (%s)", origin, bad, bad > 1 ? "s" : "",
		    first.msg);
	if (added != NULL)
		*added = k->n - before;
	return 0;
}

/* A system file: missing is fine, anything else is a note. */
static int
keyset_add_file(struct handoff *h, struct keyset *k, const char *root, const char *path,
    struct nk_err *e)
{
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	rc = read_rooted(root, path, HANDOFF_KEYFILE_MAX_BYTES, &buf, &len, &re);
	if (rc == NK_E_MISSING)
		return 0;
	if (rc != 0) {
		note(h, "ssh: %s", re.msg);
		return 0;
	}
	rc = keyset_add_text(h, k, path, buf, len, 0, NULL, e);
	free(buf);
	return rc;
}

static int
user_ok(const char *u)
{
	size_t i;

	if (u[0] == '\0' || u[0] == '-' || strlen(u) > HANDOFF_USER_MAX_BYTES)
		return 0;
	for (i = 0; u[i]; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
		    (u[i] >= '0' && u[i] <= '9') || u[i] == '_' || u[i] == '-' || u[i] == '.'))
			return 0;
	return 1;
}

/* glibc's getpwnam asks NSS (LDAP, sssd, systemd-homed); musl's, in the
 * static build, reads /etc/passwd and nothing else. */
#ifdef __GLIBC__
#define HANDOFF_PASSWD_ONLY 0
#else
#define HANDOFF_PASSWD_ONLY 1
#endif

/* The home directory from root's /etc/passwd; for the live system, NSS
 * (getpwnam) when the file does not know the user (LDAP, sssd). */
static int
home_of(const char *root, const char *user, char *home, size_t cap)
{
	struct nk_err re;
	struct passwd *pw;
	struct lines l;
	uint8_t *buf = NULL;
	const char *p, *end, *f;
	size_t len, ul = strlen(user), n, field;
	int found = 0;

	if (read_rooted(root, "/etc/passwd", HANDOFF_PASSWD_MAX_BYTES, &buf, &len, &re) == 0) {
		lines_init(&l, buf, len, len);
		while (!found && lines_next(&l, &p, &n)) {
			end = p + n;
			if (n <= ul || memcmp(p, user, ul) != 0 || p[ul] != ':')
				continue;
			/* name:passwd:uid:gid:gecos:home:shell */
			for (f = p, field = 0; f < end && field < 5; f++)
				if (*f == ':')
					field++;
			for (n = 0; f + n < end && f[n] != ':'; n++)
				;
			if (field == 5 && n > 0 && f[0] == '/' && n < cap) {
				memcpy(home, f, n);
				home[n] = '\0';
				found = 1;
			}
		}
		free(buf);
	}
	if (!found && root[0] == '\0' && (pw = getpwnam(user)) != NULL &&
	    pw->pw_dir != NULL && pw->pw_dir[0] == '/' && strlen(pw->pw_dir) < cap) {
		snprintf(home, cap, "%s", pw->pw_dir);
		found = 1;
	}
	return found ? 0 : -1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of root + dir (no dot files), at most max. */
static size_t
list_dir(const char *root, const char *dir, char **names, size_t max, size_t *over)
{
	char full[PATH_MAX];
	struct dirent *d;
	DIR *dh;
	size_t n = 0;

	*over = 0;
	snprintf(full, sizeof(full), "%s%s", root, dir);
	if ((dh = opendir(full)) == NULL)
		return 0;
	while ((d = readdir(dh)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (n >= max) {
			(*over)++;
			continue;
		}
		if ((names[n] = strdup(d->d_name)) != NULL)
			n++;
	}
	closedir(dh);
	qsort(names, n, sizeof(names[0]), name_cmp);
	return n;
}

static int
collect_keys(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	struct keyset k = { { NULL }, 0, 0 };
	char home[PATH_MAX], path[PATH_MAX + 32];
	char what[64], *text = NULL;
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t i, len, total, added;
	int rc = 0;

	if ((rc = keyset_add_file(h, &k, o->root, "/root/.ssh/authorized_keys", e)) != 0)
		goto out;
	if (o->sudo_user != NULL && strcmp(o->sudo_user, "root") != 0) {
		if (!user_ok(o->sudo_user))
			note(h, "ssh: invoking user name '%.32s' refused; their keys are not carried",
			    o->sudo_user);
		else if (home_of(o->root, o->sudo_user, home, sizeof(home)) != 0)
			note(h, "ssh: no home directory for %s in %s/etc/passwd%s; their keys "
			    "stay behind (give them with --ssh-key-file)", o->sudo_user, o->root,
			    o->passwd_only ? " (this static build has no NSS: users of LDAP, "
			    "sssd or systemd-homed are not found)" : o->root[0] == '\0' ?
			    " or NSS" : "");
		else {
			snprintf(path, sizeof(path), "%s/.ssh/authorized_keys", home);
			if ((rc = keyset_add_file(h, &k, o->root, path, e)) != 0)
				goto out;
		}
	}
	/* Only root's and the invoking user's files there: every key carried
	 * logs in as root on the new system, and other users' keys must not. */
	if ((rc = keyset_add_file(h, &k, o->root, "/etc/ssh/authorized_keys.d/root", e)) != 0)
		goto out;
	if (o->sudo_user != NULL && strcmp(o->sudo_user, "root") != 0 && user_ok(o->sudo_user)) {
		snprintf(path, sizeof(path), "/etc/ssh/authorized_keys.d/%s", o->sudo_user);
		if ((rc = keyset_add_file(h, &k, o->root, path, e)) != 0)
			goto out;
	}
	for (i = 0; i < o->nssh_keys; i++) {
		snprintf(what, sizeof(what), "--ssh-key #%zu", i + 1);
		if ((rc = keyset_add_text(h, &k, what, (const uint8_t *)o->ssh_keys[i],
		    strlen(o->ssh_keys[i]), 1, &added, e)) != 0)
			goto out;
	}
	for (i = 0; i < o->nssh_key_files; i++) {
		if ((rc = read_rooted("", o->ssh_key_files[i], HANDOFF_KEYFILE_MAX_BYTES, &buf,
		    &len, &re)) != 0) {
			rc = nk_fail(e, NK_E_USAGE, "--ssh-key-file: %s", re.msg);
			goto out;
		}
		rc = keyset_add_text(h, &k, o->ssh_key_files[i], buf, len, 1, NULL, e);
		free(buf);
		buf = NULL;
		if (rc != 0)
			goto out;
	}
	if (k.over > 0)
		note(h, "ssh: more than %d distinct keys; %zu left out", HANDOFF_KEYS_MAX, k.over);
	h->nkeys = k.n;
	if (k.n == 0) {
		note(h, "ssh: no authorized key found or given: only keys in the new system's "
		    "own configuration will work (use --ssh-key)");
		goto out;
	}
	for (i = 0, total = 0; i < k.n; i++)
		total += strlen(k.line[i]) + 1;
	if ((text = malloc(total + 1)) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0, len = 0; i < k.n; i++)
		len += (size_t)sprintf(text + len, "%s\n", k.line[i]);
	rc = add_file(h, "ssh/authorized_keys", 0600, text, len, 0, e);
out:
	free(text);
	keyset_free(&k);
	return rc;
}

/* ssh_host_<alg>_key and its .pub, <alg> lowercase letters and digits. */
static int
host_key_name(const char *n, int *is_pub)
{
	size_t i = 9, len = strlen(n);

	if (strncmp(n, "ssh_host_", 9) != 0)
		return 0;
	*is_pub = len > 4 && strcmp(n + len - 4, ".pub") == 0;
	if (*is_pub)
		len -= 4;
	if (len < 9 + 1 + 4 || strncmp(n + len - 4, "_key", 4) != 0)
		return 0;
	for (; i < len - 4; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9')))
			return 0;
	return 1;
}

static int
collect_host_keys(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	static char pubkey[SSHKEY_LINE_MAX_BYTES + 1];
	char *names[HANDOFF_KEYDIR_FILES_MAX], full[PATH_MAX], path[HANDOFF_PATH_MAX_BYTES];
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t i, n, over, len, carried = 0;
	int rc = 0, is_pub;

	n = list_dir(o->root, "/etc/ssh", names, HANDOFF_KEYDIR_FILES_MAX, &over);
	for (i = 0; i < n; i++) {
		if (rc != 0 || !host_key_name(names[i], &is_pub))
			goto next;
		if (carried >= HANDOFF_HOSTKEYS_MAX) {
			note(h, "ssh: more than %d host key files; %s left out", HANDOFF_HOSTKEYS_MAX,
			    names[i]);
			goto next;
		}
		snprintf(full, sizeof(full), "%s/etc/ssh/%s", o->root, names[i]);
		/* O_NOFOLLOW: a private key is taken only from a regular file. */
		if (fileio_read_capped(full, HANDOFF_HOSTKEY_MAX_BYTES, &buf, &len, &re) != 0) {
			note(h, "ssh: host key %s", re.msg);
			goto next;
		}
		if (is_pub ? sshkey_parse((const char *)buf, strcspn((const char *)buf, "\n"),
		    pubkey, sizeof(pubkey), &re) != 1 :
		    (len < 11 || memcmp(buf, "-----BEGIN ", 11) != 0)) {
			note(h, "ssh: /etc/ssh/%s is not a%s key; left out", names[i],
			    is_pub ? " public" : " private");
			goto next;
		}
		snprintf(path, sizeof(path), "ssh/%s", names[i]);
		rc = add_file(h, path, is_pub ? 0644 : 0600, buf, len, !is_pub, e);
		carried++;
next:
		if (buf != NULL)
			wipe_free(buf, len);
		buf = NULL;
		free(names[i]);
	}
	if (rc == 0 && carried == 0)
		note(h, "ssh: no host key in /etc/ssh: clients will see a new host key");
	return rc;
}

/* --- identity and DNS ------------------------------------------------------ */

static int
hostname_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= HANDOFF_NAME_MAX_BYTES || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

static int
collect_identity(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	char name[HANDOFF_NAME_MAX_BYTES + 1], line[HANDOFF_NAME_MAX_BYTES + 2];
	_Static_assert(HANDOFF_NAME_MAX_BYTES + 2 > HANDOFF_MACHINE_ID_HEX + 1, "line holds a machine-id");
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len, n = 0, i;
	int rc;

	name[0] = '\0';
	if (read_rooted(o->root, "/etc/hostname", HANDOFF_SMALL_MAX_BYTES, &buf, &len, &re) == 0) {
		const char *s = (const char *)buf;

		for (i = 0; i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'); i++)
			;
		for (n = 0; i + n < len && s[i + n] != '\n' && s[i + n] != ' ' &&
		    s[i + n] != '\t' && s[i + n] != '\r'; n++)
			;
		if (hostname_ok(s + i, n)) {
			memcpy(name, s + i, n);
			name[n] = '\0';
		} else if (n > 0) {
			note(h, "hostname: /etc/hostname holds no valid host name; left out");
		}
		free(buf);
		buf = NULL;
	}
	if (name[0] == '\0' && o->root[0] == '\0' && gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (!hostname_ok(name, strlen(name)) || strcmp(name, "localhost") == 0)
			name[0] = '\0';
	}
	if (name[0] != '\0') {
		n = (size_t)snprintf(line, sizeof(line), "%s\n", name);
		if ((rc = add_file(h, "hostname", 0644, line, n, 0, e)) != 0)
			return rc;
	} else {
		note(h, "hostname: none found; the new system keeps its own");
	}
	if (read_rooted(o->root, "/etc/machine-id", HANDOFF_SMALL_MAX_BYTES, &buf, &len, &re) != 0) {
		note(h, "machine-id: %s; the new system makes its own", re.msg);
		return 0;
	}
	for (i = 0; i < HANDOFF_MACHINE_ID_HEX && i < len; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
			break;
	if (i != HANDOFF_MACHINE_ID_HEX || !(len == i || (len == i + 1 && buf[i] == '\n')) ||
	    strspn((const char *)buf, "0") >= HANDOFF_MACHINE_ID_HEX) {
		note(h, "machine-id: /etc/machine-id is not 32 hex digits; left out");
		free(buf);
		return 0;
	}
	memcpy(line, buf, HANDOFF_MACHINE_ID_HEX);
	line[HANDOFF_MACHINE_ID_HEX] = '\n';
	free(buf);
	return add_file(h, "machine-id", 0444, line, HANDOFF_MACHINE_ID_HEX + 1, 0, e);
}

/* The ports sshd listens on: /etc/ssh/sshd_config.d/[*].conf (Debian's and
 * Fedora's sshd_config includes them first) and /etc/ssh/sshd_config, each
 * up to its first Match block. From the files, not `sshd -T`: the agent
 * runs no program of the old system's. Nothing when it is only 22. */
static int
collect_sshd_ports(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	char *names[HANDOFF_KEYDIR_FILES_MAX], path[PATH_MAX], text[512];
	struct sshd_ports p;
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t i, n, over, len, nfiles = 0;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	n = list_dir(o->root, "/etc/ssh/sshd_config.d", names, HANDOFF_KEYDIR_FILES_MAX, &over);
	for (i = 0; i <= n; i++) {
		if (i < n) {
			len = strlen(names[i]);
			if (len < 5 || strcmp(names[i] + len - 5, ".conf") != 0) {
				free(names[i]);
				continue;
			}
			snprintf(path, sizeof(path), "/etc/ssh/sshd_config.d/%s", names[i]);
			free(names[i]);
		} else {
			snprintf(path, sizeof(path), "/etc/ssh/sshd_config");
		}
		if (read_rooted(o->root, path, SSHDCONF_MAX_BYTES, &buf, &len, &re) != 0)
			continue;
		p.match = 0;
		sshdconf_parse(buf, len, &p);
		free(buf);
		buf = NULL;
		nfiles++;
	}
	if (nfiles == 0)
		return 0; /* no sshd configuration: nothing to say */
	if (p.over > 0)
		note(h, "ssh: sshd listens on more than %d ports; the rest left out", SSHDCONF_PORTS_MAX);
	if (p.listen > 0)
		note(h, "ssh: sshd's ListenAddress lines are carried as their ports only, on every "
		    "address: the address may not exist in the new system");
	if (sshdconf_render(&p, text, sizeof(text), &len) != 0)
		return nk_fail(e, NK_E_USAGE, "sshd ports do not fit in %zu bytes", sizeof(text));
	if (len == 0)
		return 0; /* port 22 only */
	if ((rc = add_file(h, "ssh/sshd_config.d/nixos-kexec.conf", 0644, text, len, 0, e)) != 0)
		return rc;
	text[0] = '\0';
	for (i = 0; i < p.nports; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%u", i ? ", " : "",
		    (unsigned)p.port[i]);
	note(h, "ssh: the new system's sshd also listens on port%s %s, as this one does",
	    p.nports > 1 ? "s" : "", text);
	return 0;
}

/* resolv.conf names only a local forwarder (dnsmasq, unbound, as hosting
 * panels set up): the new system gets none, so its upstream servers,
 * where its configuration names them, are carried instead. */
static void
collect_forwarder(const struct handoff_opts *o, struct handoff *h, struct net_dns *dns)
{
	static const char *const conf[] = { "/etc/dnsmasq.conf", "/etc/unbound/unbound.conf" };
	char rf[NETUNITS_DOMAIN_MAX_BYTES];
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len, i, before;

	for (i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
		if (read_rooted(o->root, conf[i], NETUNITS_RESOLV_MAX_BYTES, &buf, &len, &re) != 0)
			continue;
		before = dns->nservers;
		netunits_parse_forwarder(buf, len, dns, rf, sizeof(rf));
		free(buf);
		buf = NULL;
		if (rf[0] != '\0' &&
		    read_rooted(o->root, rf, NETUNITS_RESOLV_MAX_BYTES, &buf, &len, &re) == 0) {
			netunits_parse_resolv(buf, len, dns);
			free(buf);
			buf = NULL;
		}
		if (dns->nservers > before)
			note(h, "dns: resolv.conf names a local forwarder; %zu upstream server%s "
			    "from %s%s%s carried instead", dns->nservers - before,
			    dns->nservers - before > 1 ? "s" : "", conf[i], rf[0] ? " and " : "", rf);
	}
}

/* Each link's own servers and search domains, from networkd's and
 * resolved's state files (resolved's holds what was set over D-Bus:
 * NetworkManager's, a VPN client's, Tailscale's). Returns how many
 * servers they name. */
static size_t
collect_link_dns(const struct handoff_opts *o, const struct net_state *s, struct net_dns *per)
{
	static const char *const dirs[] = { "/run/systemd/netif/links",
		"/run/systemd/resolve/netif" };
	char path[64];
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t i, k, len, total = 0;

	for (i = 0; i < s->nlinks && i < NET_LINKS_MAX; i++) {
		for (k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
			snprintf(path, sizeof(path), "%s/%d", dirs[k], s->links[i].index);
			if (read_rooted(o->root, path, LINKDNS_STATE_MAX_BYTES, &buf, &len, &re) != 0)
				continue;
			linkdns_parse_state(buf, len, &per[i]);
			free(buf);
			buf = NULL;
		}
		total += per[i].nservers;
	}
	return total;
}

/* resolv.conf names only a local resolver and nothing upstream was found:
 * NetworkManager's copy with the servers it learnt, where it runs. */
static void
collect_nm(const struct handoff_opts *o, struct handoff *h, struct net_dns *dns)
{
	static const char nm[] = "/run/NetworkManager/no-stub-resolv.conf";
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len, before = dns->nservers;

	if (read_rooted(o->root, nm, NETUNITS_RESOLV_MAX_BYTES, &buf, &len, &re) != 0)
		return;
	netunits_parse_resolv(buf, len, dns);
	free(buf);
	if (dns->nservers > before)
		note(h, "dns: resolv.conf names a local resolver; %zu server%s from %s (what "
		    "NetworkManager learnt) carried instead", dns->nservers - before,
		    dns->nservers - before > 1 ? "s" : "", nm);
}

/* What linkdns_split left out, one note per link and reason. */
static void
note_dns_drops(struct handoff *h, const struct net_state *s, const struct linkdns_split *sp)
{
	char list[HANDOFF_NOTE_MAX_BYTES / 2], a[INET6_ADDRSTRLEN];
	size_t i, j, n;
	int done[LINKDNS_DROPS_MAX] = { 0 };

	for (i = 0; i < sp->ndrops; i++) {
		if (done[i])
			continue;
		list[0] = '\0';
		for (j = i, n = 0; j < sp->ndrops; j++) {
			if (sp->drop[j].link != sp->drop[i].link ||
			    sp->drop[j].routed != sp->drop[i].routed)
				continue;
			done[j] = 1;
			if (inet_ntop(sp->drop[j].family, sp->drop[j].addr, a, sizeof(a)) == NULL)
				continue;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			    n++ ? " " : "", a);
		}
		if (sp->drop[i].routed)
			note(h, "dns: %s left out: reached only through %s, which is not carried",
			    list, s->links[sp->drop[i].link].name);
		else
			note(h, "dns: %s is not carried; its server%s %s left out",
			    s->links[sp->drop[i].link].name, n > 1 ? "s" : "", list);
	}
	if (sp->drops_over > 0)
		note(h, "dns: %zu more servers of links that are not carried left out",
		    sp->drops_over);
	if (sp->domains_dropped > 0)
		note(h, "dns: %zu search domain%s of links that are not carried left out",
		    sp->domains_dropped, sp->domains_dropped > 1 ? "s" : "");
}

/* The DNS the machine uses: per link where networkd's or resolved's state
 * names it; globally from resolv.conf, and where that names only a local
 * resolver, from what it forwards to (resolved's upstream file,
 * NetworkManager's, dnsmasq's or unbound's configuration). Then split by
 * link (linkdns_split): servers of links that are not carried are left
 * out, and said so. */
static void
collect_dns(const struct handoff_opts *o, struct handoff *h, const struct net_state *s,
    struct net_dns *dns, struct net_dns *per)
{
	static const char upstream[] = "/run/systemd/resolve/resolv.conf";
	struct linkdns_split sp;
	struct net_dns up;
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len, i, nper, carried = 0;

	memset(dns, 0, sizeof(*dns));
	memset(per, 0, NET_LINKS_MAX * sizeof(*per));
	nper = collect_link_dns(o, s, per);
	if (read_rooted(o->root, "/etc/resolv.conf", NETUNITS_RESOLV_MAX_BYTES, &buf, &len,
	    &re) != 0) {
		note(h, "dns: %s; no DNS servers carried from it", re.msg);
	} else {
		netunits_parse_resolv(buf, len, dns);
		free(buf);
		buf = NULL;
	}
	if (dns->stub) {
		memset(&up, 0, sizeof(up));
		if (read_rooted(o->root, upstream, NETUNITS_RESOLV_MAX_BYTES, &buf, &len, &re) != 0) {
			note(h, "dns: resolv.conf names systemd-resolved's stub, and %s%s", re.msg,
			    nper > 0 ? "; the links' own state names servers" : "");
		} else {
			netunits_parse_resolv(buf, len, &up);
			free(buf);
			netunits_merge_dns(dns, &up);
			if (up.ndomains > 0) {
				memcpy(dns->domains, up.domains, sizeof(dns->domains));
				dns->ndomains = up.ndomains;
			}
			dns->local += up.local;
			dns->over += up.over;
		}
	}
	if (dns->nservers == 0 && nper == 0 && (dns->stub || dns->local > 0))
		collect_nm(o, h, dns);
	if (dns->nservers == 0 && nper == 0 && dns->local > 0)
		collect_forwarder(o, h, dns);
	if (dns->local > 0)
		note(h, "dns: %zu nameserver%s on loopback or link-local left out (a local "
		    "resolver does not come along)", dns->local, dns->local > 1 ? "s" : "");
	if (dns->over > 0)
		note(h, "dns: more than %d nameservers or %d search domains; the rest left out",
		    NETUNITS_DNS_MAX, NETUNITS_DOMAINS_MAX);
	linkdns_split(s, dns, per, &sp);
	note_dns_drops(h, s, &sp);
	for (i = 0; i < s->nlinks && i < NET_LINKS_MAX; i++) {
		if (per[i].nservers == 0)
			continue;
		carried += per[i].nservers;
		note(h, "dns: %s: %zu server%s of its own (networkd's or resolved's state) in its "
		    "unit", s->links[i].name, per[i].nservers, per[i].nservers > 1 ? "s" : "");
	}
	if (dns->nservers == 0 && carried == 0)
		note(h, "dns: no usable nameserver; the new system relies on DHCP or its own "
		    "configuration");
}

/* The units, and resolv.conf with every server carried: the global ones
 * and the carried links' own (without resolved, nothing reads DNS=). */
static int
collect_network(const struct net_state *s, struct handoff *h, const struct net_dns *dns,
    const struct net_dns *per, struct nk_err *e)
{
	char *text = NULL, name[NETUNITS_NAME_MAX_BYTES], path[HANDOFF_PATH_MAX_BYTES];
	struct net_dns all;
	const char *why;
	size_t i, len;
	int rc = 0;

	if ((text = malloc(NETUNITS_UNIT_MAX_BYTES)) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < s->nlinks; i++) {
		if ((why = netunits_skip_reason(s, i)) != NULL) {
			if (strcmp(why, "loopback") != 0)
				note(h, "network: %s%s%s%s: no unit: %s", s->links[i].name,
				    s->links[i].kind[0] ? " (" : "", s->links[i].kind,
				    s->links[i].kind[0] ? ")" : "", why);
			continue;
		}
		/* A bond, bridge or VLAN: its .netdev first. */
		if ((rc = netunits_render_netdev(s, i, text, NETUNITS_UNIT_MAX_BYTES, &len, e)) != 0)
			goto out;
		if (len > 0) {
			if ((rc = netunits_netdev_name(s, i, name, sizeof(name), e)) != 0)
				goto out;
			snprintf(path, sizeof(path), "network/%s", name);
			if ((rc = add_file(h, path, 0644, text, len, 0, e)) != 0)
				goto out;
		}
		if ((rc = netunits_name(s, i, name, sizeof(name), e)) != 0 ||
		    (rc = netunits_render(s, i, dns, i < NET_LINKS_MAX ? &per[i] : NULL, text,
		    NETUNITS_UNIT_MAX_BYTES, &len, e)) != 0)
			goto out;
		snprintf(path, sizeof(path), "network/%s", name);
		if ((rc = add_file(h, path, 0644, text, len, 0, e)) != 0)
			goto out;
		h->nunits++;
		if ((why = netunits_caveat(s, i)) != NULL)
			note(h, "network: %s: %s", s->links[i].name, why);
	}
	if (s->links_over + s->addrs_over + s->routes_over > 0)
		note(h, "network: more than %d interfaces, %d addresses or %d routes; %zu left out",
		    NET_LINKS_MAX, NET_ADDRS_MAX, NET_ROUTES_MAX,
		    s->links_over + s->addrs_over + s->routes_over);
	if (s->routes_multipath > 0)
		note(h, "network: %zu multipath route%s left out", s->routes_multipath,
		    s->routes_multipath > 1 ? "s" : "");
	if (h->nunits == 0)
		note(h, "network: no interface to carry; the new system configures its own");
	all = *dns;
	for (i = 0; i < s->nlinks && i < NET_LINKS_MAX; i++)
		netunits_merge_dns(&all, &per[i]);
	if (all.nservers > 0 || all.ndomains > 0) {
		if ((rc = netunits_render_resolv(&all, text, NETUNITS_UNIT_MAX_BYTES, &len, e)) != 0)
			goto out;
		rc = add_file(h, "resolv.conf", 0644, text, len, 0, e);
	}
out:
	free(text);
	return rc;
}

/* --- boot.json ----------------------------------------------------------- */

/* boot.json's ",\"store\":{...}" for a bundle with a store (else ""): the
 * verified manifest's store line, the mode, and where stage 1 finds it in
 * initrd mode (file names are [A-Za-z0-9._-]: no escaping). */
static void
bootjson_store(const struct handoff_opts *o, char *out, size_t cap)
{
	char hex[SHA256_HEX_BYTES];

	out[0] = '\0';
	if (o->store == NULL || o->store_mode == NULL)
		return;
	sha256_hex(o->store->sha256, hex);
	snprintf(out, cap, ",\"store\":{\"name\":\"%s\",\"size\":%" PRIu64 ",\"sha256\":\"%s\","
	    "\"mode\":\"%s\",\"path\":%s}", o->store->file, o->store->size, hex,
	    o->store_mode, strcmp(o->store_mode, "initrd") == 0 ? "\"/" HANDOFF_STORE_PATH "\"" :
	    "null");
}

/* boot.json's "sources" array: source first, then the other sources in
 * order, each once, https URLs only (a directory or another scheme cannot
 * be fetched from stage 1), credentials redacted (the requests of the old
 * system kept them; stage 1 skips a redacted one). At most
 * HANDOFF_SOURCES_MAX. -1 when it does not fit in cap. */
static int
bootjson_sources(const struct handoff_opts *o, char *out, size_t cap)
{
	const char *list[HANDOFF_SOURCES_MAX + 1];
	char red[URL_MAX_BYTES + 1], esc[2 * URL_MAX_BYTES + 3];
	struct nk_err ign;
	size_t i, j, n = 0, len = 0;

	if (o->source != NULL)
		list[n++] = o->source;
	for (i = 0; i < o->nsources && o->sources != NULL && n < HANDOFF_SOURCES_MAX; i++) {
		for (j = 0; j < n && strcmp(list[j], o->sources[i]) != 0; j++)
			;
		if (j == n)
			list[n++] = o->sources[i];
	}
	if (cap < 3)
		return -1;
	out[len++] = '[';
	for (i = 0; i < n; i++) {
		if (url_https_check(list[i], &ign) != 0)
			continue;
		url_redact(list[i], red, sizeof(red));
		if (json_str(esc, sizeof(esc), red) >= sizeof(esc) ||
		    len + strlen(esc) + 3 > cap)
			return -1;
		len += (size_t)snprintf(out + len, cap - len, "%s%s", out[len - 1] == '[' ? "" : ",",
		    esc);
	}
	out[len++] = ']';
	out[len] = '\0';
	return 0;
}

/* bundle-keys: the trusted public keys, for a stage 1 that fetches the
 * store (public: nothing to wipe). */
static int
collect_bundle_keys(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	char text[HANDOFF_BUNDLE_KEYS_MAX * (MINISIG_PUBKEY_B64_BYTES + 2)];
	size_t i, n = 0;

	if (o->store == NULL || o->store_mode == NULL || strcmp(o->store_mode, "stage1") != 0 ||
	    o->nkeys == 0)
		return 0;
	for (i = 0; i < o->nkeys && i < HANDOFF_BUNDLE_KEYS_MAX; i++) {
		minisig_pubkey_b64(&o->keys[i], text + n);
		n += strlen(text + n);
		text[n++] = '\n';
	}
	return add_file(h, "bundle-keys", 0644, text, n, 0, e);
}

/* boot.json: what was booted, from where, the run's nonce, and for the
 * new system's scripts (nix/handoff/): where to report, the safety net's
 * delay, and the source's host and port (to test its own network). */
static int
collect_bootjson(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	char js[HANDOFF_BOOTJSON_MAX_BYTES], name[HANDOFF_BOOTJSON_MAX_BYTES / 8];
	char bundle[HANDOFF_BOOTJSON_MAX_BYTES / 8 + 64];
	char source[HANDOFF_BOOTJSON_MAX_BYTES / 4], report[HANDOFF_BOOTJSON_MAX_BYTES / 4];
	char host[URL_HOST_MAX_BYTES + 1], hostj[2 * URL_HOST_MAX_BYTES + 3], port[8], iso[32];
	char src[HANDOFF_BOOTJSON_MAX_BYTES / 4];
	char sources[HANDOFF_SOURCES_MAX * (URL_MAX_BYTES + 3) + 3];
	char store[MANIFEST_FILE_MAX_BYTES + SHA256_HEX_BYTES + 160];
	unsigned p;
	struct tm tm;
	time_t t = (time_t)h->time;
	size_t n;

	/* The source without credentials (the new system posts boot.json on);
	 * the report URL as given: the new system reports with it. */
	if (o->source != NULL)
		url_redact(o->source, src, sizeof(src));
	if (json_str(name, sizeof(name), o->bundle_name) >= sizeof(name) ||
	    json_str(source, sizeof(source), o->source ? src : NULL) >= sizeof(source) ||
	    json_str(report, sizeof(report), o->report) >= sizeof(report) ||
	    bootjson_sources(o, sources, sizeof(sources)) != 0)
		return nk_fail(e, NK_E_USAGE, "handoff: bundle name, sources or report URL too "
		    "long for boot.json");
	if (gmtime_r(&t, &tm) == NULL || strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(iso, sizeof(iso), "unknown");
	if (o->bundle_name != NULL)
		snprintf(bundle, sizeof(bundle), "{\"name\":%s,\"version\":%" PRIu64 "}", name,
		    o->bundle_version);
	else
		snprintf(bundle, sizeof(bundle), "null");
	if (o->source != NULL && url_host_port(o->source, host, sizeof(host), &p) == 0) {
		json_str(hostj, sizeof(hostj), host);
		snprintf(port, sizeof(port), "%u", p);
	} else {
		snprintf(hostj, sizeof(hostj), "null");
		snprintf(port, sizeof(port), "null");
	}
	bootjson_store(o, store, sizeof(store));
	n = (size_t)snprintf(js, sizeof(js), "{\"format\":1,\"bundle\":%s,\"nonce\":\"%s\","
	    "\"time\":%" PRIu64 ",\"time_utc\":\"%s\",\"source\":%s,\"sources\":%s,"
	    "\"source_host\":%s,"
	    "\"source_port\":%s,\"report\":%s,\"revert_after\":%" PRIu64 "%s}\n",
	    bundle, h->nonce, h->time, iso, source, sources, hostj, port, report, o->revert_after,
	    store);
	if (n >= sizeof(js))
		return nk_fail(e, NK_E_INTERNAL, "handoff: boot.json over %zu bytes", sizeof(js));
	return add_file(h, "boot.json", 0644, js, n, 0, e);
}

/* The CA the agent reported with, so the new system's reports (up,
 * revert) trust the collector as the agent did. */
static int
collect_report_ca(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (o->report == NULL || o->report_cacert == NULL)
		return 0;
	if ((rc = fileio_read_public(o->report_cacert, HANDOFF_CA_MAX_BYTES, &buf, &len, e)) != 0)
		return nk_fail(e, NK_E_IO, "handoff: report-ca.pem: %s", e->msg);
	rc = add_file(h, "report-ca.pem", 0644, buf, len, 0, e);
	free(buf);
	return rc;
}

/* The caller's nonce when it is one (so that the agent's reports and the
 * new system's carry the same), else a fresh one. */
static void
set_nonce(const struct handoff_opts *o, struct handoff *h)
{
	uint8_t nonce[HANDOFF_NONCE_BYTES];

	if (o->nonce != NULL && strlen(o->nonce) == 2 * HANDOFF_NONCE_BYTES &&
	    strspn(o->nonce, "0123456789abcdef") == 2 * HANDOFF_NONCE_BYTES) {
		memcpy(h->nonce, o->nonce, sizeof(h->nonce));
		return;
	}
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(h->nonce, sizeof(h->nonce), nonce, sizeof(nonce));
}

int
handoff_collect(const struct handoff_opts *o, struct handoff *h, struct nk_err *e)
{
	const struct net_state *s = o->net;
	struct net_state *own = NULL;
	struct net_dns *dns = NULL, *per = NULL;
	int rc;

	memset(h, 0, sizeof(*h));
	if (o->root == NULL)
		return nk_fail(e, NK_E_INTERNAL, "handoff: no root");
	if (o->nssh_keys > HANDOFF_CLI_KEYS_MAX || o->nssh_key_files > HANDOFF_CLI_KEYS_MAX)
		return nk_fail(e, NK_E_USAGE, "at most %d --ssh-key and %d --ssh-key-file",
		    HANDOFF_CLI_KEYS_MAX, HANDOFF_CLI_KEYS_MAX);
	if (sodium_init() < 0)
		return nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
	set_nonce(o, h);
	h->time = o->now != 0 ? o->now : (uint64_t)time(NULL);
	if ((dns = malloc(sizeof(*dns))) == NULL ||
	    (per = calloc(NET_LINKS_MAX, sizeof(*per))) == NULL) {
		rc = nk_fail(e, NK_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = collect_bootjson(o, h, e)) != 0 ||
	    (rc = collect_bundle_keys(o, h, e)) != 0 ||
	    (rc = collect_report_ca(o, h, e)) != 0 ||
	    (rc = collect_identity(o, h, e)) != 0)
		goto out;
	if (s == NULL) {
		if ((own = malloc(sizeof(*own))) == NULL) {
			rc = nk_fail(e, NK_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = netlink_dump(own, e)) != 0)
			goto out;
		s = own;
	}
	collect_dns(o, h, s, dns, per);
	if ((rc = collect_network(s, h, dns, per, e)) != 0 ||
	    (rc = collect_keys(o, h, e)) != 0)
		goto out;
	if (!o->no_host_keys && (rc = collect_host_keys(o, h, e)) != 0)
		goto out;
	rc = collect_sshd_ports(o, h, e);
out:
	free(own);
	free(per);
	free(dns);
	return rc;
}

/* --- archive and dump ---------------------------------------------------- */

/* The subdirectory "ssh" holds private keys: 0700; the rest 0755. */
static uint32_t
dir_mode(const char *rel)
{
	return strcmp(rel, "ssh") == 0 ? 0700 : 0755;
}

/* The distinct parent directories of h's files, parents first. */
static size_t
subdirs(const struct handoff *h, char dirs[][HANDOFF_PATH_MAX_BYTES], size_t max)
{
	size_t i, j, n = 0, k;
	const char *slash;

	for (i = 0; i < h->nfiles; i++) {
		for (slash = strchr(h->files[i].path, '/'); slash != NULL;
		    slash = strchr(slash + 1, '/')) {
			k = (size_t)(slash - h->files[i].path);
			for (j = 0; j < n; j++)
				if (strlen(dirs[j]) == k && memcmp(dirs[j], h->files[i].path, k) == 0)
					break;
			if (j < n || n >= max)
				continue;
			memcpy(dirs[n], h->files[i].path, k);
			dirs[n++][k] = '\0';
		}
	}
	return n;
}

void
handoff_archive_free(uint8_t *gz, size_t len)
{
	cpio_gz_free(gz, len);
}

int
handoff_archive(const struct handoff *h, uint8_t **gz, size_t *len, struct nk_err *e)
{
	char dirs[HANDOFF_DIRS_MAX][HANDOFF_PATH_MAX_BYTES];
	char name[CPIO_NAME_MAX_BYTES + 1];
	struct cpio c;
	size_t i, n;
	int rc;

	*gz = NULL;
	*len = 0;
	cpio_init(&c, (uint32_t)h->time);
	if ((rc = cpio_add_dir(&c, "nixos-kexec", 0755, e)) != 0 ||
	    (rc = cpio_add_dir(&c, HANDOFF_DIR, 0755, e)) != 0)
		goto out;
	n = subdirs(h, dirs, HANDOFF_DIRS_MAX);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), HANDOFF_DIR "/%s", dirs[i]);
		if ((rc = cpio_add_dir(&c, name, dir_mode(dirs[i]), e)) != 0)
			goto out;
	}
	for (i = 0; i < h->nfiles; i++) {
		snprintf(name, sizeof(name), HANDOFF_DIR "/%s", h->files[i].path);
		if ((rc = cpio_add_file(&c, name, h->files[i].mode, h->files[i].data,
		    h->files[i].len, e)) != 0)
			goto out;
	}
	if ((rc = cpio_finish(&c, e)) != 0)
		goto out;
	rc = cpio_gzip(c.buf, c.len, gz, len, e);
out:
	cpio_free(&c);
	return rc;
}

int
handoff_dump(const struct handoff *h, const char *dir, struct nk_err *e)
{
	char dirs[HANDOFF_DIRS_MAX][HANDOFF_PATH_MAX_BYTES], path[PATH_MAX];
	struct fileio_outdir od;
	size_t i, n;
	int rc;

	/* The temporary directory is 0700: private host keys go in. */
	if ((rc = fileio_outdir_begin(&od, dir, e)) != 0)
		return rc;
	n = subdirs(h, dirs, HANDOFF_DIRS_MAX);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", od.tmp, dirs[i]);
		if (mkdir(path, dir_mode(dirs[i])) != 0 || chmod(path, dir_mode(dirs[i])) != 0) {
			rc = nk_fail(e, NK_E_IO, "%s: %s", path, strerror(errno));
			goto fail;
		}
	}
	for (i = 0; i < h->nfiles; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", od.tmp, h->files[i].path) >=
		    sizeof(path)) {
			rc = nk_fail(e, NK_E_IO, "%s: path too long", od.tmp);
			goto fail;
		}
		if ((rc = fileio_write_atomic(path, h->files[i].data, h->files[i].len,
		    h->files[i].mode & 0777, e)) != 0)
			goto fail;
	}
	if ((rc = fileio_outdir_commit(&od, e)) != 0)
		goto fail;
	return 0;
fail:
	fileio_outdir_abort(&od);
	return rc;
}

/* --- the command-line options both commands share ------------------------ */

int
handoff_cli_ssh_key(struct handoff_cli *c, const char *arg, struct nk_err *e)
{
	static char key[SSHKEY_LINE_MAX_BYTES + 1];
	struct nk_err ke = { "" };
	int rc;

	if (c->nssh_keys >= HANDOFF_CLI_KEYS_MAX)
		return nk_fail(e, NK_E_USAGE, "at most %d --ssh-key", HANDOFF_CLI_KEYS_MAX);
	if (strchr(arg, '\n') != NULL)
		return nk_fail(e, NK_E_USAGE, "--ssh-key takes one key (use --ssh-key-file for "
		    "several)");
	rc = sshkey_parse(arg, strlen(arg), key, sizeof(key), &ke);
	if (rc == 0)
		return nk_fail(e, NK_E_USAGE, "--ssh-key: empty or a comment");
	if (rc < 0)
		return nk_fail(e, NK_E_USAGE, "--ssh-key: %s", ke.msg);
	c->ssh_keys[c->nssh_keys++] = arg;
	return 0;
}

int
handoff_cli_ssh_key_file(struct handoff_cli *c, const char *arg, struct nk_err *e)
{
	struct handoff *scratch;
	struct keyset k = { { NULL }, 0, 0 };
	struct nk_err re = { "" };
	uint8_t *buf = NULL;
	size_t len, added = 0;
	int rc;

	if (c->nssh_key_files >= HANDOFF_CLI_KEYS_MAX)
		return nk_fail(e, NK_E_USAGE, "at most %d --ssh-key-file", HANDOFF_CLI_KEYS_MAX);
	if (read_rooted("", arg, HANDOFF_KEYFILE_MAX_BYTES, &buf, &len, &re) != 0)
		return nk_fail(e, NK_E_USAGE, "--ssh-key-file: %s", re.msg);
	if ((scratch = calloc(1, sizeof(*scratch))) == NULL) {
		free(buf);
		return nk_fail(e, NK_E_NOMEM, "out of memory");
	}
	rc = keyset_add_text(scratch, &k, arg, buf, len, 1, &added, e);
	if (rc == 0 && added == 0)
		rc = nk_fail(e, NK_E_USAGE, "--ssh-key-file: no key in %s", arg);
	else if (rc != 0)
		nk_err_prefix(e, "--ssh-key-file");
	keyset_free(&k);
	free(scratch);
	free(buf);
	if (rc == 0)
		c->ssh_key_files[c->nssh_key_files++] = arg;
	return rc;
}

void
handoff_cli_to_opts(const struct handoff_cli *c, struct handoff_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->root = "";
	o->ssh_keys = c->ssh_keys;
	o->nssh_keys = c->nssh_keys;
	o->ssh_key_files = c->ssh_key_files;
	o->nssh_key_files = c->nssh_key_files;
	o->no_host_keys = c->no_host_keys;
	o->sudo_user = handoff_invoking_user();
	o->passwd_only = HANDOFF_PASSWD_ONLY;
}
