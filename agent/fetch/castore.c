/* castore: find the CA store on whatever distribution the agent runs. */
#include "castore.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file read through symlinks: the stores are symlinks on most systems
 * (ca-trust, NixOS's /etc); what matters is that the target is a regular
 * file root can read. */
static int
readable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    access(path, R_OK) == 0;
}

/* A directory with at least one OpenSSL hash link (8 hex digits, ".0"). */
static int
hashed_dir(const char *path)
{
	struct dirent *d;
	unsigned n = 0;
	size_t i;
	int found = 0;
	DIR *dir;

	if ((dir = opendir(path)) == NULL)
		return 0;
	while (!found && n++ < CASTORE_DIR_SCAN_MAX && (d = readdir(dir)) != NULL) {
		if (strlen(d->d_name) != 10 || strcmp(d->d_name + 8, ".0") != 0)
			continue;
		for (i = 0; i < 8 && strchr("0123456789abcdef", d->d_name[i]); i++)
			;
		found = i == 8;
	}
	closedir(dir);
	return found;
}

static int
from_env(struct castore *out, struct nk_err *e)
{
	const char *f = getenv("SSL_CERT_FILE"), *d = getenv("SSL_CERT_DIR");

	if (f != NULL && *f != '\0') {
		if (!readable_file(f))
			return nk_fail(e, NK_E_TLS, "SSL_CERT_FILE=%s: not a readable CA "
			    "bundle; fix or unset it, or pass --cacert FILE", f);
		snprintf(out->file, sizeof(out->file), "%s", f);
		out->from = "SSL_CERT_FILE";
	}
	if (d != NULL && *d != '\0') {
		/* OpenSSL takes a colon-separated list; libcurl one directory. */
		if (strchr(d, ':') != NULL || access(d, R_OK | X_OK) != 0)
			return nk_fail(e, NK_E_TLS, "SSL_CERT_DIR=%s: not one readable "
			    "directory; fix or unset it, or pass --cacert FILE", d);
		snprintf(out->dir, sizeof(out->dir), "%s", d);
		out->from = out->file[0] ? "SSL_CERT_FILE and SSL_CERT_DIR" : "SSL_CERT_DIR";
	}
	return 0;
}

int
castore_find(const char *root, const char *cacert, struct castore *out, struct nk_err *e)
{
	const char *files[] = CASTORE_FILES, *dirs[] = CASTORE_DIRS;
	char tried[1024] = "", p[PATH_MAX];
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cacert != NULL) {
		snprintf(out->file, sizeof(out->file), "%s", cacert);
		out->from = "--cacert";
		return 0;
	}
	if ((rc = from_env(out, e)) != 0 || out->from != NULL)
		return rc;
	for (i = 0; files[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s%s", root, files[i]);
		if (readable_file(p)) {
			snprintf(out->file, sizeof(out->file), "%s", p);
			out->from = "well-known bundle file";
			return 0;
		}
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s",
		    tried[0] ? ", " : "", files[i]);
	}
	for (i = 0; dirs[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
		if (hashed_dir(p)) {
			snprintf(out->dir, sizeof(out->dir), "%s", p);
			out->from = "hashed directory";
			return 0;
		}
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), ", %s/", dirs[i]);
	}
	return nk_fail(e, NK_E_TLS, "no CA certificates found to check the server with "
	    "(tried %s; SSL_CERT_FILE and SSL_CERT_DIR unset): install the distribution's "
	    "ca-certificates package, or pass --cacert FILE", tried);
}
