/* handoff: what keeps the machine reachable after kexec, collected from
 * the running system (network by rtnetlink, DNS, SSH keys, host keys,
 * hostname, machine-id) plus boot.json, and packed as a gzip'd newc cpio
 * archive under nixos-kexec/handoff/ for the kernel to unpack over the
 * new initrd, or written to a directory (handoff --dump). Library code:
 * it never prints; what it left out is in h->notes for the caller. */
#ifndef NK_HANDOFF_H
#define NK_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "manifest.h"
#include "minisig.h"
#include "netlink.h"
#include "sshkey.h"

#define HANDOFF_DIR "nixos-kexec/handoff"   /* in the archive; no leading slash */
#define HANDOFF_FILES_MAX 160             /* a .network and a .netdev per interface, and the rest */
#define HANDOFF_PATH_MAX_BYTES 96           /* a file's path under HANDOFF_DIR */
#define HANDOFF_KEYS_MAX 64                 /* authorized keys carried */
#define HANDOFF_BUNDLE_KEYS_MAX 8           /* trusted bundle keys carried (bundle-keys) */
#define HANDOFF_KEYFILE_MAX_BYTES (1024 * 1024)
#define HANDOFF_KEYDIR_FILES_MAX 64         /* directory entries read from /etc/ssh */
#define HANDOFF_HOSTKEYS_MAX 16             /* ssh_host_* files carried */
#define HANDOFF_HOSTKEY_MAX_BYTES (16 * 1024)
#define HANDOFF_SMALL_MAX_BYTES 4096        /* hostname, machine-id */
#define HANDOFF_PASSWD_MAX_BYTES (4 * 1024 * 1024)
#define HANDOFF_SYMLINK_HOPS 8              /* resolv.conf -> stub-resolv.conf -> ... */
#define HANDOFF_CLI_KEYS_MAX 16             /* --ssh-key and --ssh-key-file, each */
#define HANDOFF_NOTES_MAX 32
#define HANDOFF_NOTE_MAX_BYTES 256
#define HANDOFF_NONCE_BYTES 16              /* printed as 32 hex digits */
#define HANDOFF_NAME_MAX_BYTES 64           /* hostname (HOST_NAME_MAX) */
#define HANDOFF_CA_MAX_BYTES (1024 * 1024)  /* report-ca.pem */
#define HANDOFF_SOURCES_MAX 9               /* boot.json's "sources": SOURCE and 8 mirrors */

struct handoff_file {
	char path[HANDOFF_PATH_MAX_BYTES]; /* relative: "ssh/authorized_keys" */
	uint32_t mode;                     /* permission bits */
	uint8_t *data;
	size_t len;
	int secret;                        /* a private key: wiped when freed */
};

struct handoff {
	struct handoff_file files[HANDOFF_FILES_MAX];
	size_t nfiles;
	char nonce[2 * HANDOFF_NONCE_BYTES + 1];
	uint64_t time;                     /* Unix seconds, in boot.json */
	size_t nkeys;                      /* authorized keys carried */
	size_t nunits;                     /* network units */
	char notes[HANDOFF_NOTES_MAX][HANDOFF_NOTE_MAX_BYTES];
	size_t nnotes;
	size_t notes_over;
};

/* Where boot --store initrd puts the store in the new system's initramfs. */
#define HANDOFF_STORE_PATH "nixos-kexec/nix-store.squashfs"

struct handoff_opts {
	const char *root;                  /* "" or a fixture prefix for /etc, /root, /run */
	const char *const *ssh_keys;       /* --ssh-key lines */
	size_t nssh_keys;
	const char *const *ssh_key_files;  /* --ssh-key-file paths (not under root) */
	size_t nssh_key_files;
	const char *sudo_user;             /* whose keys also go (handoff_invoking_user()) */
	int passwd_only;                   /* no NSS in this C library (musl: the static
					    * build): users come from /etc/passwd alone */
	int no_host_keys;
	const char *bundle_name;           /* NULL: unknown (handoff --dump) */
	uint64_t bundle_version;
	const char *source;                /* the URL or directory that served the bundle */
	/* Every source of the run (SOURCE, then the mirrors; NULL: none):
	 * boot.json's "sources" lists the https ones, source first, the others
	 * in this order, credentials redacted, for stage 1 to fetch the store
	 * from any of them. */
	const char *const *sources;
	size_t nsources;
	const char *nonce;                 /* the run's nonce (32 hex digits); NULL: fresh */
	const char *report;                /* --report URL for the new system, NULL: none */
	const char *report_cacert;         /* --cacert, carried as report-ca.pem; NULL: none */
	uint64_t revert_after;             /* --revert-after seconds, 0: no safety net */
	/* A format 2 bundle's store (NULL: none): where the new system's
	 * stage 1 finds it, "initrd" (appended to the initrd at
	 * HANDOFF_STORE_PATH) or "stage1" (to be fetched from source), and
	 * the size and sha256 from the verified manifest it must match. */
	const struct manifest_artifact *store;
	const char *store_mode;
	/* The keys boot trusted (-P/-p), carried as bundle-keys (one base64
	 * public key a line) in stage1 mode: stage 1 verifies the manifest
	 * again before it fetches the store. */
	const struct minisig_pubkey *keys;
	size_t nkeys;
	uint64_t now;                      /* 0: the clock */
	const struct net_state *net;       /* NULL: read with netlink_dump() */
};

/* The handoff options on the command line, shared by `boot` and
 * `handoff` (argv strings are kept, not copied). */
struct handoff_cli {
	const char *ssh_keys[HANDOFF_CLI_KEYS_MAX];
	size_t nssh_keys;
	const char *ssh_key_files[HANDOFF_CLI_KEYS_MAX];
	size_t nssh_key_files;
	int no_host_keys;
	int no_handoff;                    /* boot --no-handoff */
};

#define HANDOFF_OPTIONS_HELP \
    "  --ssh-key KEY        also authorize KEY (\"ssh-ed25519 AAAA... comment\") in\n" \
    "                       the new system; repeatable\n" \
    "  --ssh-key-file FILE  also authorize every key in FILE; repeatable\n" \
    "  --no-host-keys       do not carry /etc/ssh/ssh_host_*_key (clients will\n" \
    "                       then see a new host key)\n"

/* --ssh-key: the line must parse as a key (checked now, before any
 * download). */
int handoff_cli_ssh_key(struct handoff_cli *c, const char *arg, struct nk_err *e);
/* --ssh-key-file: read and checked now, read again by handoff_collect. */
int handoff_cli_ssh_key_file(struct handoff_cli *c, const char *arg, struct nk_err *e);
/* Fills o for the live system (root "", invoking user, c's keys and
 * flags); the caller adds the bundle fields. */
void handoff_cli_to_opts(const struct handoff_cli *c, struct handoff_opts *o);

/* SUDO_USER, else DOAS_USER, else NULL. */
const char *handoff_invoking_user(void);


/* Collects everything into h (caller-owned, zeroed here; free with
 * handoff_free even on failure). Missing sources (no host keys, no
 * resolv.conf) are notes, not errors; an unreadable netlink, a bad
 * --ssh-key or --ssh-key-file is an error. */
int handoff_collect(const struct handoff_opts *o, struct handoff *h, struct nk_err *e);

/* The gzip-compressed newc archive of h: directories first, then files
 * with their modes, all under HANDOFF_DIR/. Free *gz with
 * handoff_archive_free (it may hold private host keys). */
int handoff_archive(const struct handoff *h, uint8_t **gz, size_t *len, struct nk_err *e);

void handoff_archive_free(uint8_t *gz, size_t len);

/* Writes h's files into dir (which must not exist, or be empty; it ends
 * up mode 0700), all or nothing: a sibling temporary directory is
 * renamed into place. */
int handoff_dump(const struct handoff *h, const char *dir, struct nk_err *e);

/* Wipes secrets and frees the file contents. */
void handoff_free(struct handoff *h);

#endif
