/* minisig: minisign-compatible public keys, secret keys and signatures
 * (https://jedisct1.github.io/minisign/), on libsodium.
 *
 * The parsers are pure (no I/O, no allocation, bounded copies) and
 * strict: LF line endings, exact prefixes, exact base64 lengths, no NUL
 * or CR. The signer writes prehashed "ED" signatures as minisign 0.11
 * does by default; the verifier accepts legacy "Ed" only when asked.
 * Secret material lives in caller-owned structs that the caller wipes
 * with minisig_seckey_wipe() / minisig_keyfiles_wipe(). */
#ifndef NK_MINISIG_H
#define NK_MINISIG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* Any key or signature file we read or write is at most this long. */
#define MINISIG_FILE_MAX_BYTES 4096
/* A comment's text (after "untrusted comment: " / "trusted comment: ").
 * minisign itself allows up to 8173 trusted bytes; nothing in a bundle's
 * signature needs more than this, since all meaning lives in the manifest. */
#define MINISIG_COMMENT_MAX_BYTES 1024
/* Longest password we read, like minisign's PASSWORDMAXBYTES (incl. NUL). */
#define MINISIG_PASSWORD_MAX_BYTES 1024
#define MINISIG_KEYID_BYTES 8
#define MINISIG_KEYID_HEX_BYTES 16       /* "%016" PRIX64, as minisign prints */
#define MINISIG_PUBKEY_B64_BYTES 56      /* base64 of "Ed" || key id || pk */
/* scrypt limits minisign 0.11 uses for encrypted secret keys (1 GiB). */
#define MINISIG_KDF_OPSLIMIT_DEFAULT 33554432ULL   /* ..._OPSLIMIT_SENSITIVE */
#define MINISIG_KDF_MEMLIMIT_DEFAULT 1073741824ULL /* ..._MEMLIMIT_SENSITIVE */
/* A secret key asking for more than this is refused before any work. */
#define MINISIG_KDF_MEMLIMIT_MAX_BYTES (4ULL << 30)

struct minisig_pubkey {
	uint8_t keyid[MINISIG_KEYID_BYTES];
	uint8_t pk[32];
};

struct minisig_sig {
	uint8_t alg[2];                  /* "ED" prehashed, "Ed" legacy */
	uint8_t keyid[MINISIG_KEYID_BYTES];
	uint8_t sig[64];
	char trusted_comment[MINISIG_COMMENT_MAX_BYTES + 1]; /* NUL-terminated */
	size_t trusted_comment_len;
	uint8_t global_sig[64];          /* over sig || trusted_comment */
};

/* A decrypted secret key. Secret: wipe with minisig_seckey_wipe(). */
struct minisig_seckey {
	uint8_t keyid[MINISIG_KEYID_BYTES];
	uint8_t sk[64];                  /* ed25519: seed || public key */
};

/* What minisig_keygen() makes. pub/sec are complete file contents,
 * NUL-terminated; pub_b64 is the -P string. sec is secret even when
 * encrypted (an offline guessing target): wipe with minisig_keyfiles_wipe(). */
struct minisig_keyfiles {
	struct minisig_pubkey pk;
	char keyid_hex[MINISIG_KEYID_HEX_BYTES + 1];
	char pub_b64[MINISIG_PUBKEY_B64_BYTES + 1];
	char pub[MINISIG_FILE_MAX_BYTES];
	size_t pub_len;
	char sec[MINISIG_FILE_MAX_BYTES];
	size_t sec_len;
};

/* Reads a password into pw (NUL-terminated, at most cap - 1 bytes);
 * returns 0, or nonzero when none could be read. */
typedef int (*minisig_password_fn)(char *pw, size_t cap, void *ctx);

/* Parses a public key: either a whole minisign public key file
 * ("untrusted comment: ..." line, then the key line, optional final LF)
 * or the bare base64 string that minisign -P takes. NK_E_KEYFILE. */
int minisig_pubkey_parse(const uint8_t *buf, size_t len, struct minisig_pubkey *out,
    struct nk_err *e);

/* Parses a signature file: exactly "untrusted comment: ", the base64
 * signature, "trusted comment: ", the base64 global signature, one a
 * line (the final LF may be missing). Only "ED" and "Ed" are accepted
 * here; whether "Ed" is acceptable is minisig_verify's call. NK_E_SIGFMT. */
int minisig_sig_parse(const uint8_t *buf, size_t len, struct minisig_sig *out,
    struct nk_err *e);

/* Verifies sig over msg against the trusted keys, in minisign's order:
 * algorithm (legacy "Ed" only with allow_legacy: NK_E_LEGACY), key id
 * among keys (NK_E_KEYID), signature (NK_E_SIG), global signature over
 * the trusted comment (NK_E_GLOBALSIG). Several keys may share the set
 * (rotation); the one whose key id matches is used. */
int minisig_verify(const struct minisig_pubkey *keys, size_t nkeys,
    const struct minisig_sig *sig, const uint8_t *msg, size_t msglen, int allow_legacy,
    struct nk_err *e);

/* Parses and, when it is encrypted, decrypts a minisign secret key file.
 * get_password is called only for an encrypted key ("Sc" KDF); a wrong
 * password is NK_E_PASSWORD (found by the key's BLAKE2b checksum). Keys
 * written by minisign -W (no KDF, zero checksum) are accepted. The
 * decrypted key is checked against its own public half. NK_E_KEYFILE
 * otherwise; *out is wiped on failure. */
int minisig_seckey_parse(const uint8_t *buf, size_t len, minisig_password_fn get_password,
    void *ctx, struct minisig_seckey *out, struct nk_err *e);

/* The public key of a secret key. */
void minisig_seckey_pubkey(const struct minisig_seckey *sk, struct minisig_pubkey *out);

/* Wipes a secret key. */
void minisig_seckey_wipe(struct minisig_seckey *sk);

/* Signs msg like minisign -S: prehashed "ED" (Ed25519 over BLAKE2b-512
 * of msg), untrusted comment "signature from nixos-kexec secret key",
 * the given trusted comment (one line, at most MINISIG_COMMENT_MAX_BYTES;
 * NK_E_USAGE otherwise). Writes the whole file into out (NUL-terminated,
 * MINISIG_FILE_MAX_BYTES is always enough), then checks it with the key's
 * public half before returning. */
int minisig_sign(const struct minisig_seckey *sk, const uint8_t *msg, size_t msglen,
    const char *trusted_comment, char *out, size_t cap, size_t *outlen, struct nk_err *e);

/* minisign's default trusted comment for a prehashed signature:
 * "timestamp:<now>\tfile:<basename of file>\thashed". */
int minisig_default_comment(const char *file, time_t now, char *out, size_t cap,
    struct nk_err *e);

/* Makes a key pair. password NULL: an unencrypted secret key, like
 * minisign -G -W. Otherwise the key is encrypted with scrypt at
 * minisign's limits (1 GiB), halved while memory is short as minisign does. */
int minisig_keygen(const char *password, struct minisig_keyfiles *out, struct nk_err *e);

/* minisig_keygen with explicit scrypt limits (tests, small machines);
 * minisign reads any limits from the file. */
int minisig_keygen_kdf(const char *password, uint64_t opslimit, uint64_t memlimit,
    struct minisig_keyfiles *out, struct nk_err *e);

/* Wipes what minisig_keygen made. */
void minisig_keyfiles_wipe(struct minisig_keyfiles *kf);

/* Formats a key id the way minisign prints it (16 uppercase hex digits of
 * the little-endian number) into out[MINISIG_KEYID_HEX_BYTES + 1]. */
void minisig_keyid_hex(const uint8_t keyid[MINISIG_KEYID_BYTES],
    char out[MINISIG_KEYID_HEX_BYTES + 1]);

/* The bare base64 form of a public key (what -P takes) into
 * out[MINISIG_PUBKEY_B64_BYTES + 1]. */
void minisig_pubkey_b64(const struct minisig_pubkey *pk,
    char out[MINISIG_PUBKEY_B64_BYTES + 1]);

#endif
