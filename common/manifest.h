/* manifest: bundle manifest formats 1 and 2 (DESIGN.md), strict parse and
 * write. Format 2 is format 1 plus the `store` artifact (the Nix store
 * squashfs, fetched after the kernel in a lean bundle).
 * Pure: no I/O, no allocation; every copy bounded by its destination. */
#ifndef NK_MANIFEST_H
#define NK_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sha256.h"

#define MANIFEST_MAGIC "nixos-kexec-manifest 1"   /* kernel and initrd */
#define MANIFEST_MAGIC_2 "nixos-kexec-manifest 2" /* and a store */
#define MANIFEST_FORMAT_MAX 2
#define MANIFEST_MAX_BYTES (64 * 1024)
#define MANIFEST_LINE_MAX_BYTES 4200       /* "cmdline " + 4096, with room */
#define MANIFEST_CMDLINE_MAX_BYTES 4096
#define MANIFEST_NAME_MAX_BYTES 128        /* bundle name */
#define MANIFEST_FILE_MAX_BYTES 128        /* artifact file name */
#define MANIFEST_ARCH_MAX_BYTES 32
#define MANIFEST_ARTIFACT_MAX_BYTES (16ULL << 30) /* 16 GiB per artifact */
/* manifest_write never produces more than this (the longest valid text is
 * under 5 KiB), so a buffer this size always suffices. */
#define MANIFEST_WRITE_MAX_BYTES 8192

struct manifest_artifact {
	char file[MANIFEST_FILE_MAX_BYTES + 1];
	uint64_t size;
	uint8_t sha256[SHA256_BYTES];
};

struct manifest {
	char name[MANIFEST_NAME_MAX_BYTES + 1];
	uint64_t version;
	char arch[MANIFEST_ARCH_MAX_BYTES + 1];
	uint64_t issued;  /* Unix seconds */
	uint64_t expires; /* Unix seconds */
	struct manifest_artifact kernel;
	struct manifest_artifact initrd;
	unsigned format;                /* 1, or 2 exactly when has_store */
	int has_store;
	struct manifest_artifact store; /* the Nix store squashfs (format 2) */
	char cmdline[MANIFEST_CMDLINE_MAX_BYTES + 1];
};

/* Parses a format 1 or 2 manifest (2: `store` required; 1: refused).
 * Every key exactly once; unknown or repeated keys,
 * CR, NUL, over-long lines, bad numbers and bad names are errors. Stricter
 * than DESIGN.md's "UTF-8": only printable ASCII and LF, and the last line
 * must end in LF (manifest.c's header lists every rule). Any refusal is
 * NK_E_MANIFEST with the line and key in e, and leaves *out zeroed. */
int manifest_parse(const uint8_t *buf, size_t len, struct manifest *out, struct nk_err *e);

/* Writes m in canonical form (format 2 when m->has_store, else 1;
 * m->format is ignored) into buf (not NUL-terminated); refuses any
 * manifest the parser would reject (NK_E_MANIFEST), or a cap too small for
 * the text (NK_E_SIZE; MANIFEST_WRITE_MAX_BYTES always suffices). */
int manifest_write(const struct manifest *m, char *buf, size_t cap, size_t *outlen,
    struct nk_err *e);

/* 1 when s[0..len) is a valid artifact file name: [A-Za-z0-9][A-Za-z0-9._-]*,
 * at most MANIFEST_FILE_MAX_BYTES, never "." or "..", and never "manifest"
 * or "manifest.minisig" (the bundle's own files). */
int manifest_file_name_ok(const char *s, size_t len);

/* The manifest's number syntax, for callers (the CLI) that take the same
 * values: unsigned decimal, no sign, no leading zero except "0", fits in
 * 64 bits. 0 on success, -1 otherwise. */
int manifest_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
