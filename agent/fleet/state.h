/* state: what a machine remembers between runs (--state-dir DIR, default
 * /var/lib/nixos-kexec for boot): the highest bundle version it verified,
 * so that a later run refuses an older one without --min-version, and the
 * last run's result as JSON, for an operator or a playbook to read.
 *
 *   DIR/version            "20261124001\n", written atomically, and only
 *                          after every byte of that bundle was verified
 *   DIR/last-result.json   one JSON object (see fleet.h)
 */
#ifndef NK_STATE_H
#define NK_STATE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STATE_DEFAULT_DIR "/var/lib/nixos-kexec"
#define STATE_VERSION_FILE "version"
#define STATE_RESULT_FILE "last-result.json"
#define STATE_VERSION_MAX_BYTES 32   /* 20 digits and a LF, with room */
#define STATE_RESULT_MAX_BYTES 8192
#define STATE_DIR_MODE 0700

struct state {
	char dir[PATH_MAX];
	char version_path[PATH_MAX];
	char result_path[PATH_MAX];
	int open;          /* state_open succeeded */
	int dir_unusable;  /* state_open failed making or opening the directory */
	int write_errno;   /* the directory is there but cannot be written (its
	                    * errno): the floor is read, not raised */
	int have_floor;    /* a version file was there */
	uint64_t floor;    /* its version */
};

/* Parses a version file: decimal digits (no sign, no leading zero but
 * "0", at most UINT64_MAX) and one LF. Pure. */
int state_parse_version(const uint8_t *buf, size_t len, uint64_t *out, struct nk_err *e);

/* Opens dir (making it, mode STATE_DIR_MODE, when missing: its parent
 * must exist) and reads the floor. A directory that cannot be made or is
 * not one is NK_E_IO with s->dir_unusable set. One that is there but
 * cannot be written opens with s->write_errno set: the caller decides
 * (state_record and state_write_result then write nothing). A version file that cannot
 * be read or parsed is an error too (NK_E_IO, naming it): the floor cannot
 * be enforced, and a run must not go on as if there were none. */
int state_open(struct state *s, const char *dir, struct nk_err *e);

/* NK_E_VERSION, naming the state file, when version is below the floor. */
int state_check(const struct state *s, uint64_t version, struct nk_err *e);

/* Raises the floor to version (never lowers it), atomically. Holds an
 * flock on the directory while it re-reads and writes, so concurrent runs
 * sharing a directory keep the highest. */
int state_record(struct state *s, uint64_t version, struct nk_err *e);

/* Writes the last result (json, len bytes) atomically. */
int state_write_result(const struct state *s, const char *json, size_t len, struct nk_err *e);

#endif
