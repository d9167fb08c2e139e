/* sshkey: parse one authorized_keys line as sshd does, keeping only
 * "type base64[ comment]". */
#ifndef NK_SSHKEY_H
#define NK_SSHKEY_H

#include <stddef.h>

#include "err.h"

#define SSHKEY_LINE_MAX_BYTES 16384 /* one authorized_keys line (OpenSSH's cap) */
#define SSHKEY_BLOB_MAX_BYTES 12288 /* a decoded public key */

/* One authorized_keys line (not NUL-terminated; len bytes). Options in
 * front of the key (command="...", from=..., no-pty) are parsed as sshd
 * does, quotes and \" included, and dropped; what remains is checked (a
 * known type, base64 that decodes to a blob of that type) and written to
 * out as "type base64[ comment]". Returns 1 for a key, 0 for a blank or
 * comment line, NK_E_USAGE with the reason in e for anything else
 * (including cert-authority lines, whose meaning would change). */
int sshkey_parse(const char *line, size_t len, char *out, size_t cap, struct nk_err *e);

#endif
