/* lock: one boot at a time. An flock on a file that also names the
 * holder's pid, so a second run can say who holds it. */
#ifndef NK_LOCK_H
#define NK_LOCK_H

#include "err.h"

#define LOCK_DEFAULT_PATH "/run/nixos-kexec.lock"

/* Takes the lock at path (NIXOS_KEXEC_LOCK overrides the default when
 * path is NULL). NK_E_LOCKED with the holder's pid when taken. */
int lock_take(const char *path, int *fd_out, struct nk_err *e);
/* Releases it; the file stays (see lock.c). */
void lock_release(const char *path, int fd);
/* The path lock_take(NULL) uses. */
const char *lock_path(void);

#endif
