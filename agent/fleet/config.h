/* config: the agent's configuration file (--config FILE, default
 * /etc/nixos-kexec/config), so that every machine of a fleet runs with
 * the same settings and a short command line. Parsed like the manifest:
 * pure, bounded, strict. The parser knows the syntax only; which names
 * are options, and what their values mean, is decided by the one option
 * handler the command line goes through too (agent/cli/opts.c).
 *
 *   # a comment (only as a whole line)
 *   source https://boot.example.org/nixos/
 *   key-file /etc/nixos-kexec/fleet.pub
 *   mirror https://mirror.example.net/nixos/
 *   json
 *
 * One option a line: its long name without dashes, blanks, the value (the
 * rest of the line; blanks around it are dropped); a flag stands alone.
 * UTF-8 text with LF line ends; a CR, a NUL, any other control byte,
 * malformed UTF-8, an over-long line or file is an error naming the line.
 */
#ifndef NK_CONFIG_H
#define NK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CONFIG_DEFAULT_PATH "/etc/nixos-kexec/config"
#define CONFIG_PATH_ENV "NIXOS_KEXEC_CONFIG"  /* overrides the default path */
#define CONFIG_MAX_BYTES (64 * 1024)
#define CONFIG_LINE_MAX_BYTES 4096            /* a line, its LF excluded */
#define CONFIG_ENTRIES_MAX 128
#define CONFIG_NAME_MAX_BYTES 32

struct config_entry {
	unsigned line;      /* 1-based */
	const char *name;   /* points into text */
	const char *value;  /* points into text; NULL: the name stands alone */
};

struct config {
	struct config_entry entries[CONFIG_ENTRIES_MAX];
	size_t n;
	unsigned bad_line;  /* after a failure: the line at fault (0: none) */
	/* Names and values, NUL-terminated. Each line's name and value are
	 * shorter than the line, so len + 1 bytes always suffice. */
	char text[CONFIG_MAX_BYTES + 1];
};

/* Parses buf into out (caller-owned; its pointers point into out itself,
 * so out must not be copied). On failure out holds no entries and
 * e->msg starts with "line N: ". Pure: no I/O, no allocation. */
int config_parse(const uint8_t *buf, size_t len, struct config *out, struct nk_err *e);

/* Whether s is a well-formed option name: [a-z0-9][a-z0-9-]*, at most
 * CONFIG_NAME_MAX_BYTES. */
int config_name_ok(const char *s, size_t len);

#endif
