/* stage: artifacts in RAM. Bytes go into a memfd as they arrive; after
 * verification the memfd is sealed and reopened read-only through
 * /proc/self/fd, so the bytes that were hashed are the bytes the kernel
 * reads. */
#ifndef NK_STAGE_H
#define NK_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct stage_file {
	int fd;        /* writable file while filling, -1 when none */
	int ro_fd;     /* read-only descriptor after stage_seal, else -1 */
	uint64_t len;  /* bytes written so far */
	int memfd;     /* a sealable memfd; else an unnamed O_TMPFILE file */
	const char *dir; /* where the O_TMPFILE file lives, for messages */
	uint64_t want;   /* bytes expected in all (0: unknown), for messages */
};

/* Makes an empty staging file. dir NULL: a memfd named name
 * (MFD_CLOEXEC|MFD_ALLOW_SEALING), what boot hands to the kernel. dir
 * set: an unnamed O_TMPFILE file in dir (fetch -o: verified bytes are then
 * linked into place, never copied); a filesystem without O_TMPFILE gets
 * a memfd instead. */
int stage_open(struct stage_file *s, const char *name, const char *dir, struct nk_err *e);
/* Gives a staged O_TMPFILE file the name path (after fsync). A memfd
 * cannot be linked: its bytes are copied to a new file at path. */
int stage_link(const struct stage_file *s, const char *path, struct nk_err *e);
/* Appends len bytes at the current end. A full disk is the output
 * filesystem's (NK_E_IO, naming its mount point and free space); a full
 * memfd is RAM (NK_E_NOMEM, with MemAvailable). */
int stage_append(struct stage_file *s, const void *buf, size_t len, struct nk_err *e);
/* Writes len bytes at offset off (a parallel download's chunks arrive
 * out of order); s->len becomes the highest end written. Failures as
 * stage_append's. */
int stage_write_at(struct stage_file *s, const void *buf, size_t len, uint64_t off,
    struct nk_err *e);
/* Appends the first len bytes of the file behind fd (read with pread
 * from offset 0; its position is untouched). Failures as stage_append's,
 * or NK_E_IO when fd ends early or cannot be read. */
int stage_append_fd(struct stage_file *s, int fd, uint64_t len, struct nk_err *e);
/* Discards every byte (for a server that ignored a Range request). */
int stage_reset(struct stage_file *s, struct nk_err *e);
/* Seals a memfd against write, grow, shrink and further sealing, then
 * reopens it read-only and closes the writable descriptor. An O_TMPFILE
 * file (fetch -o, boot --stage disk) cannot be sealed; it is written back
 * (so its page cache is clean and the kernel may reclaim it while it
 * copies the bytes at load) and reopened read-only the same. */
int stage_seal(struct stage_file *s, struct nk_err *e);
/* The descriptor to read from: ro_fd once sealed, else fd. */
int stage_fd(const struct stage_file *s);
/* Where boot stages on disk by default, in order of preference. */
#define STAGE_DISK_DIRS { "/var/tmp", "/var/lib", "/tmp", "/", NULL }

/* The first of the NULL-terminated dirs on a local disk filesystem (not
 * tmpfs or ramfs, whose pages are RAM; not NFS, SMB, 9p, FUSE or another
 * network or user-space filesystem) with need bytes free and O_TMPFILE
 * support, into out. NK_E_IO when none qualifies; why says, per
 * directory, what ruled it out. */
int stage_disk_dir(const char *const *dirs, uint64_t need, char *out, size_t cap, char *why,
    size_t why_cap, struct nk_err *e);
/* Closes everything; the RAM is freed with the last reference. */
void stage_close(struct stage_file *s);

#endif
