/* minisig: minisign keys and signatures. The byte layouts follow
 * minisign's src/minisign.h (PubkeyStruct, SigStruct, SeckeyStruct):
 *   public key  "Ed" | key id (8) | ed25519 pk (32)
 *   signature   "ED" or "Ed" | key id (8) | ed25519 sig (64)
 *   secret key  "Ed" | kdf "Sc" or 0,0 | "B2" | salt (32) | opslimit (8 LE)
 *               | memlimit (8 LE) | key id (8) | sk (64) | chk (32)
 * where key id | sk | chk is XORed with scrypt(password) when the kdf is
 * "Sc", and chk = BLAKE2b-256("Ed" | key id | sk). */
#include "minisig.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "b64.h"

#define UNTRUSTED_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define SIG_UNTRUSTED_COMMENT "signature from nixos-kexec secret key"

#define PK_STRUCT_BYTES 42
#define SIG_STRUCT_BYTES 74
#define SK_STRUCT_BYTES 158
#define SK_OFF_KDF 2
#define SK_OFF_CHKALG 4
#define SK_OFF_SALT 6
#define SK_OFF_OPS 38
#define SK_OFF_MEM 46
#define SK_OFF_KEYNUM 54 /* key id | sk | chk: the encrypted part */
#define SK_OFF_SK 62
#define SK_OFF_CHK 126
#define SK_KEYNUM_BYTES 104
#define SALT_BYTES 32
#define CHK_BYTES 32
/* Scratch for decoding one base64 line: larger than any struct so a
 * wrong-sized key decodes far enough to say what it is. */
#define DECODE_MAX_BYTES 192
#define B64_LINE_MAX_BYTES 256

struct line {
	const uint8_t *p;
	size_t n;
};

static void
le64_store(uint8_t *p, uint64_t x)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(x >> (8 * i));
}

static uint64_t
le64_load(const uint8_t *p)
{
	uint64_t x = 0;
	int i;

	for (i = 7; i >= 0; i--)
		x = (x << 8) | p[i];
	return x;
}

void
minisig_keyid_hex(const uint8_t keyid[MINISIG_KEYID_BYTES],
    char out[MINISIG_KEYID_HEX_BYTES + 1])
{
	snprintf(out, MINISIG_KEYID_HEX_BYTES + 1, "%016" PRIX64, le64_load(keyid));
}

void
minisig_pubkey_b64(const struct minisig_pubkey *pk, char out[MINISIG_PUBKEY_B64_BYTES + 1])
{
	uint8_t raw[PK_STRUCT_BYTES];

	memcpy(raw, "Ed", 2);
	memcpy(raw + 2, pk->keyid, MINISIG_KEYID_BYTES);
	memcpy(raw + 10, pk->pk, 32);
	b64_encode(raw, sizeof(raw), out, MINISIG_PUBKEY_B64_BYTES + 1);
}

/* The checks every file shares: not empty, under the cap, no NUL, no CR. */
static int
check_text(const uint8_t *buf, size_t len, const char *what, int code, struct nk_err *e)
{
	if (len == 0)
		return nk_fail(e, code, "%s is empty", what);
	if (len > MINISIG_FILE_MAX_BYTES)
		return nk_fail(e, code, "%s is %zu bytes, more than the %d allowed", what, len,
		    MINISIG_FILE_MAX_BYTES);
	if (memchr(buf, '\0', len) != NULL)
		return nk_fail(e, code, "%s contains a NUL byte", what);
	if (memchr(buf, '\r', len) != NULL)
		return nk_fail(e, code, "%s contains a CR: minisign files use LF line endings "
		    "(convert it with dos2unix)", what);
	return 0;
}

/* Splits buf into LF-terminated lines (the last LF may be missing).
 * Returns the number of lines, or max + 1 when there are more. */
static size_t
split_lines(const uint8_t *buf, size_t len, struct line *lines, size_t max)
{
	const uint8_t *nl;
	size_t pos = 0, n = 0;

	while (pos < len) {
		if (n == max)
			return max + 1;
		nl = memchr(buf + pos, '\n', len - pos);
		lines[n].p = buf + pos;
		lines[n].n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		pos += lines[n].n + (nl != NULL ? 1 : 0);
		n++;
	}
	return n;
}

/* A comment line: the exact prefix, then at most MINISIG_COMMENT_MAX_BYTES. */
static int
comment_line(const struct line *l, const char *prefix, const char *what, int code,
    struct nk_err *e)
{
	size_t plen = strlen(prefix);

	if (l->n < plen || memcmp(l->p, prefix, plen) != 0)
		return nk_fail(e, code, "%s: a line should start with \"%s\"", what, prefix);
	if (l->n - plen > MINISIG_COMMENT_MAX_BYTES)
		return nk_fail(e, code, "%s: comment is %zu bytes, more than the %d allowed", what,
		    l->n - plen, MINISIG_COMMENT_MAX_BYTES);
	return 0;
}

/* Decodes one base64 line into out (DECODE_MAX_BYTES). */
static int
decode_line(const struct line *l, uint8_t *out, size_t *outlen)
{
	if (l->n == 0 || l->n > B64_LINE_MAX_BYTES)
		return -1;
	return b64_decode((const char *)l->p, l->n, out, DECODE_MAX_BYTES, outlen);
}

int
minisig_pubkey_parse(const uint8_t *buf, size_t len, struct minisig_pubkey *out,
    struct nk_err *e)
{
	static const char what[] = "public key";
	uint8_t raw[DECODE_MAX_BYTES];
	struct line lines[2];
	const struct line *key;
	size_t n, rawlen;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_text(buf, len, what, NK_E_KEYFILE, e)) != 0)
		return rc;
	if (len >= strlen(UNTRUSTED_PREFIX) &&
	    memcmp(buf, UNTRUSTED_PREFIX, strlen(UNTRUSTED_PREFIX)) == 0) {
		n = split_lines(buf, len, lines, 2);
		if (n < 2)
			return nk_fail(e, NK_E_KEYFILE, "public key file has a comment but no key line");
		if (n > 2)
			return nk_fail(e, NK_E_KEYFILE, "public key file has more than two lines");
		if ((rc = comment_line(&lines[0], UNTRUSTED_PREFIX, what, NK_E_KEYFILE, e)) != 0)
			return rc;
		key = &lines[1];
	} else {
		if (split_lines(buf, len, lines, 1) != 1)
			return nk_fail(e, NK_E_KEYFILE, "a bare public key is one line of base64 "
			    "(a key file starts with \"" UNTRUSTED_PREFIX "\")");
		key = &lines[0];
	}
	if (decode_line(key, raw, &rawlen) != 0)
		return nk_fail(e, NK_E_KEYFILE, "public key is not valid base64 (a minisign public "
		    "key is %d characters starting with RW)", MINISIG_PUBKEY_B64_BYTES);
	if (rawlen == SK_STRUCT_BYTES) {
		sodium_memzero(raw, sizeof(raw));
		return nk_fail(e, NK_E_KEYFILE, "this is a secret key, not a public key; "
		    "give the public key (.pub) instead, and keep the secret key secret");
	}
	if (rawlen != PK_STRUCT_BYTES)
		return nk_fail(e, NK_E_KEYFILE, "public key decodes to %zu bytes, not %d", rawlen,
		    PK_STRUCT_BYTES);
	if (memcmp(raw, "Ed", 2) != 0)
		return nk_fail(e, NK_E_KEYFILE, "public key algorithm is not Ed25519 (\"Ed\")");
	memcpy(out->keyid, raw + 2, MINISIG_KEYID_BYTES);
	memcpy(out->pk, raw + 10, sizeof(out->pk));
	return 0;
}

int
minisig_sig_parse(const uint8_t *buf, size_t len, struct minisig_sig *out, struct nk_err *e)
{
	static const char what[] = "signature file";
	uint8_t raw[DECODE_MAX_BYTES];
	struct line lines[4];
	size_t n, rawlen, tlen;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_text(buf, len, what, NK_E_SIGFMT, e)) != 0)
		return rc;
	n = split_lines(buf, len, lines, 4);
	if (n > 4)
		return nk_fail(e, NK_E_SIGFMT, "signature file has more than 4 lines");
	if (n < 4)
		return nk_fail(e, NK_E_SIGFMT, "signature file has %zu lines, not 4 (untrusted "
		    "comment, signature, trusted comment, global signature)", n);
	if ((rc = comment_line(&lines[0], UNTRUSTED_PREFIX, what, NK_E_SIGFMT, e)) != 0)
		return rc;
	if (decode_line(&lines[1], raw, &rawlen) != 0 || rawlen != SIG_STRUCT_BYTES)
		return nk_fail(e, NK_E_SIGFMT, "signature file: line 2 is not a base64 signature");
	if (memcmp(raw, "ED", 2) != 0 && memcmp(raw, "Ed", 2) != 0)
		return nk_fail(e, NK_E_SIGFMT, "signature algorithm is neither ED nor Ed");
	memcpy(out->alg, raw, 2);
	memcpy(out->keyid, raw + 2, MINISIG_KEYID_BYTES);
	memcpy(out->sig, raw + 10, sizeof(out->sig));
	if ((rc = comment_line(&lines[2], TRUSTED_PREFIX, what, NK_E_SIGFMT, e)) != 0)
		goto fail;
	tlen = lines[2].n - strlen(TRUSTED_PREFIX);
	memcpy(out->trusted_comment, lines[2].p + strlen(TRUSTED_PREFIX), tlen);
	out->trusted_comment[tlen] = '\0';
	out->trusted_comment_len = tlen;
	if (decode_line(&lines[3], raw, &rawlen) != 0 || rawlen != sizeof(out->global_sig)) {
		rc = nk_fail(e, NK_E_SIGFMT, "signature file: line 4 is not a base64 global "
		    "signature");
		goto fail;
	}
	memcpy(out->global_sig, raw, sizeof(out->global_sig));
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

static void
keyid_list(const struct minisig_pubkey *keys, size_t nkeys, char *out, size_t cap)
{
	char hex[MINISIG_KEYID_HEX_BYTES + 1];
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < nkeys; i++) {
		minisig_keyid_hex(keys[i].keyid, hex);
		n = snprintf(out + used, cap - used, "%s%s", i > 0 ? ", " : "", hex);
		if (n < 0 || (size_t)n >= cap - used) {
			snprintf(out + used, cap - used, ", ...");
			return;
		}
		used += (size_t)n;
	}
}

int
minisig_verify(const struct minisig_pubkey *keys, size_t nkeys, const struct minisig_sig *sig,
    const uint8_t *msg, size_t msglen, int allow_legacy, struct nk_err *e)
{
	uint8_t digest[crypto_generichash_BYTES_MAX];
	uint8_t signed_comment[64 + MINISIG_COMMENT_MAX_BYTES];
	char hex[MINISIG_KEYID_HEX_BYTES + 1], trusted[320];
	const struct minisig_pubkey *key = NULL;
	const uint8_t *m = msg;
	size_t i, mlen = msglen;
	int matched = 0;

	if (sodium_init() < 0)
		return nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
	if (memcmp(sig->alg, "ED", 2) == 0) {
		crypto_generichash(digest, sizeof(digest), msg, msglen, NULL, 0);
		m = digest;
		mlen = sizeof(digest);
	} else if (memcmp(sig->alg, "Ed", 2) == 0) {
		if (!allow_legacy)
			return nk_fail(e, NK_E_LEGACY, "legacy Ed signature (not prehashed); pass "
			    "--allow-legacy to accept it, or re-sign with minisign 0.11 or later");
	} else {
		return nk_fail(e, NK_E_SIGFMT, "unknown signature algorithm");
	}
	if (sig->trusted_comment_len > MINISIG_COMMENT_MAX_BYTES)
		return nk_fail(e, NK_E_SIGFMT, "trusted comment is too long");
	minisig_keyid_hex(sig->keyid, hex);
	/* Key ids are random 64-bit numbers, yet two trusted keys could
	 * share one; any of them that verifies will do. */
	for (i = 0; i < nkeys && key == NULL; i++) {
		if (memcmp(keys[i].keyid, sig->keyid, MINISIG_KEYID_BYTES) != 0)
			continue;
		matched = 1;
		if (crypto_sign_verify_detached(sig->sig, m, mlen, keys[i].pk) == 0)
			key = &keys[i];
	}
	if (!matched) {
		if (nkeys == 0)
			return nk_fail(e, NK_E_KEYID, "signed by key id %s, and no key is trusted; "
			    "give one with -P KEY or -p FILE", hex);
		keyid_list(keys, nkeys, trusted, sizeof(trusted));
		return nk_fail(e, NK_E_KEYID, "signed by key id %s, which is not a trusted key "
		    "(trusted: %s)", hex, trusted);
	}
	if (key == NULL)
		return nk_fail(e, NK_E_SIG, "signature does not verify with key %s: the signed "
		    "file was changed, or the signature was not made by this key", hex);
	memcpy(signed_comment, sig->sig, 64);
	memcpy(signed_comment + 64, sig->trusted_comment, sig->trusted_comment_len);
	if (crypto_sign_verify_detached(sig->global_sig, signed_comment,
	    64 + sig->trusted_comment_len, key->pk) != 0)
		return nk_fail(e, NK_E_GLOBALSIG, "the trusted comment's signature does not "
		    "verify with key %s: the trusted comment was changed", hex);
	return 0;
}

static void
seckey_chk(const uint8_t *sks, uint8_t chk[CHK_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CHK_BYTES);
	crypto_generichash_update(&st, sks, 2);
	crypto_generichash_update(&st, sks + SK_OFF_KEYNUM, MINISIG_KEYID_BYTES);
	crypto_generichash_update(&st, sks + SK_OFF_SK, 64);
	crypto_generichash_final(&st, chk, CHK_BYTES);
	sodium_memzero(&st, sizeof(st));
}

static void
xor_buf(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] ^= src[i];
}

int
minisig_seckey_parse(const uint8_t *buf, size_t len, minisig_password_fn get_password,
    void *ctx, struct minisig_seckey *out, struct nk_err *e)
{
	static const char what[] = "secret key file";
	uint8_t raw[DECODE_MAX_BYTES], stream[SK_KEYNUM_BYTES], chk[CHK_BYTES];
	uint8_t pk2[32], sk2[64];
	char pw[MINISIG_PASSWORD_MAX_BYTES];
	struct line lines[2];
	uint64_t ops, mem;
	size_t n, rawlen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(pw, 0, sizeof(pw));
	if ((rc = check_text(buf, len, what, NK_E_KEYFILE, e)) != 0)
		goto out;
	if (sodium_init() < 0) {
		rc = nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
		goto out;
	}
	n = split_lines(buf, len, lines, 2);
	if (n != 2) {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key file should have 2 lines (comment, key)");
		goto out;
	}
	if ((rc = comment_line(&lines[0], UNTRUSTED_PREFIX, what, NK_E_KEYFILE, e)) != 0)
		goto out;
	if (decode_line(&lines[1], raw, &rawlen) != 0) {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key file: line 2 is not valid base64");
		goto out;
	}
	if (rawlen == PK_STRUCT_BYTES) {
		rc = nk_fail(e, NK_E_KEYFILE, "this is a public key; signing needs the secret key "
		    "file that keygen wrote next to it");
		goto out;
	}
	if (rawlen != SK_STRUCT_BYTES) {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key decodes to %zu bytes, not %d", rawlen,
		    SK_STRUCT_BYTES);
		goto out;
	}
	if (memcmp(raw, "Ed", 2) != 0 || memcmp(raw + SK_OFF_CHKALG, "B2", 2) != 0) {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key: unsupported signature or checksum "
		    "algorithm (want Ed and B2)");
		goto out;
	}
	if (memcmp(raw + SK_OFF_KDF, "Sc", 2) == 0) {
		ops = le64_load(raw + SK_OFF_OPS);
		mem = le64_load(raw + SK_OFF_MEM);
		if (mem > MINISIG_KDF_MEMLIMIT_MAX_BYTES || mem > SIZE_MAX ||
		    ops > crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MAX) {
			rc = nk_fail(e, NK_E_KEYFILE, "secret key asks for scrypt limits beyond any "
			    "minisign writes (ops %" PRIu64 ", memory %" PRIu64 " bytes)", ops, mem);
			goto out;
		}
		if (get_password == NULL || get_password(pw, sizeof(pw), ctx) != 0) {
			rc = nk_fail(e, NK_E_PASSWORD, "the secret key is encrypted and no password "
			    "was read");
			goto out;
		}
		pw[sizeof(pw) - 1] = '\0';
		if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), pw, strlen(pw),
		    raw + SK_OFF_SALT, ops, (size_t)mem) != 0) {
			rc = nk_fail(e, NK_E_NOMEM, "decrypting the secret key needs %" PRIu64
			    " MiB of memory, which is not available", mem >> 20);
			goto out;
		}
		xor_buf(raw + SK_OFF_KEYNUM, stream, sizeof(stream));
		seckey_chk(raw, chk);
		if (sodium_memcmp(chk, raw + SK_OFF_CHK, CHK_BYTES) != 0) {
			rc = nk_fail(e, NK_E_PASSWORD, "wrong password for this secret key");
			goto out;
		}
	} else if (raw[SK_OFF_KDF] == 0 && raw[SK_OFF_KDF + 1] == 0) {
		/* minisign -G -W leaves the checksum zero; a nonzero one
		 * (ours) must match. */
		seckey_chk(raw, chk);
		if (!sodium_is_zero(raw + SK_OFF_CHK, CHK_BYTES) &&
		    sodium_memcmp(chk, raw + SK_OFF_CHK, CHK_BYTES) != 0) {
			rc = nk_fail(e, NK_E_KEYFILE, "secret key checksum does not match: the file "
			    "is damaged");
			goto out;
		}
	} else {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key: unsupported key derivation function "
		    "(want Sc, or none)");
		goto out;
	}
	/* The public half must follow from the seed: catches damage that a
	 * zero checksum cannot. */
	crypto_sign_seed_keypair(pk2, sk2, raw + SK_OFF_SK);
	if (sodium_memcmp(sk2, raw + SK_OFF_SK, sizeof(sk2)) != 0) {
		rc = nk_fail(e, NK_E_KEYFILE, "secret key is inconsistent (its public half does "
		    "not match): the file is damaged");
		goto out;
	}
	memcpy(out->keyid, raw + SK_OFF_KEYNUM, MINISIG_KEYID_BYTES);
	memcpy(out->sk, raw + SK_OFF_SK, sizeof(out->sk));
	rc = 0;
out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(stream, sizeof(stream));
	sodium_memzero(chk, sizeof(chk));
	sodium_memzero(pk2, sizeof(pk2));
	sodium_memzero(sk2, sizeof(sk2));
	sodium_memzero(pw, sizeof(pw));
	if (rc != 0)
		sodium_memzero(out, sizeof(*out));
	return rc;
}

void
minisig_seckey_pubkey(const struct minisig_seckey *sk, struct minisig_pubkey *out)
{
	memcpy(out->keyid, sk->keyid, MINISIG_KEYID_BYTES);
	memcpy(out->pk, sk->sk + 32, sizeof(out->pk));
}

void
minisig_seckey_wipe(struct minisig_seckey *sk)
{
	sodium_memzero(sk, sizeof(*sk));
}

static int
comment_ok(const char *s, size_t *len)
{
	*len = strnlen(s, MINISIG_COMMENT_MAX_BYTES + 1);
	return *len <= MINISIG_COMMENT_MAX_BYTES && strpbrk(s, "\r\n") == NULL;
}

int
minisig_sign(const struct minisig_seckey *sk, const uint8_t *msg, size_t msglen,
    const char *trusted_comment, char *out, size_t cap, size_t *outlen, struct nk_err *e)
{
	uint8_t sigs[SIG_STRUCT_BYTES], global[64], digest[crypto_generichash_BYTES_MAX];
	uint8_t signed_comment[64 + MINISIG_COMMENT_MAX_BYTES];
	char sig_b64[sodium_base64_ENCODED_LEN(SIG_STRUCT_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char global_b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	struct minisig_sig check;
	struct minisig_pubkey pk;
	size_t tlen;
	int n, rc;

	if (!comment_ok(trusted_comment, &tlen))
		return nk_fail(e, NK_E_USAGE, "the trusted comment must be one line of at most "
		    "%d bytes", MINISIG_COMMENT_MAX_BYTES);
	if (sodium_init() < 0)
		return nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
	crypto_generichash(digest, sizeof(digest), msg, msglen, NULL, 0);
	memcpy(sigs, "ED", 2);
	memcpy(sigs + 2, sk->keyid, MINISIG_KEYID_BYTES);
	crypto_sign_detached(sigs + 10, NULL, digest, sizeof(digest), sk->sk);
	memcpy(signed_comment, sigs + 10, 64);
	memcpy(signed_comment + 64, trusted_comment, tlen);
	crypto_sign_detached(global, NULL, signed_comment, 64 + tlen, sk->sk);
	b64_encode(sigs, sizeof(sigs), sig_b64, sizeof(sig_b64));
	b64_encode(global, sizeof(global), global_b64, sizeof(global_b64));
	n = snprintf(out, cap, UNTRUSTED_PREFIX SIG_UNTRUSTED_COMMENT "\n%s\n"
	    TRUSTED_PREFIX "%s\n%s\n", sig_b64, trusted_comment, global_b64);
	if (n < 0 || (size_t)n >= cap)
		return nk_fail(e, NK_E_INTERNAL, "signature buffer too small (%zu bytes)", cap);
	/* Read back what a verifier will read: a damaged key or a fault
	 * must not produce a signature file that fails later, elsewhere. */
	minisig_seckey_pubkey(sk, &pk);
	if ((rc = minisig_sig_parse((const uint8_t *)out, (size_t)n, &check, e)) != 0 ||
	    (rc = minisig_verify(&pk, 1, &check, msg, msglen, 0, e)) != 0) {
		nk_err_prefix(e, "the new signature does not verify");
		return NK_E_INTERNAL;
	}
	*outlen = (size_t)n;
	return 0;
}

int
minisig_default_comment(const char *file, time_t now, char *out, size_t cap,
    struct nk_err *e)
{
	const char *base = strrchr(file, '/');
	size_t len;
	int n;

	base = base != NULL ? base + 1 : file;
	n = snprintf(out, cap, "timestamp:%lld\tfile:%s\thashed", (long long)now, base);
	if (n < 0 || (size_t)n >= cap || !comment_ok(out, &len))
		return nk_fail(e, NK_E_USAGE, "%s: file name does not fit a trusted comment", base);
	return 0;
}

void
minisig_keyfiles_wipe(struct minisig_keyfiles *kf)
{
	sodium_memzero(kf, sizeof(*kf));
}

int
minisig_keygen(const char *password, struct minisig_keyfiles *out, struct nk_err *e)
{
	return minisig_keygen_kdf(password, MINISIG_KDF_OPSLIMIT_DEFAULT,
	    MINISIG_KDF_MEMLIMIT_DEFAULT, out, e);
}

int
minisig_keygen_kdf(const char *password, uint64_t opslimit, uint64_t memlimit,
    struct minisig_keyfiles *out, struct nk_err *e)
{
	uint8_t sks[SK_STRUCT_BYTES], stream[SK_KEYNUM_BYTES];
	char sec_b64[sodium_base64_ENCODED_LEN(SK_STRUCT_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	int n, rc;

	memset(out, 0, sizeof(*out));
	memset(sks, 0, sizeof(sks));
	memset(stream, 0, sizeof(stream));
	if (sodium_init() < 0) {
		rc = nk_fail(e, NK_E_INTERNAL, "libsodium failed to initialise");
		goto out;
	}
	if (memlimit > SIZE_MAX || memlimit > MINISIG_KDF_MEMLIMIT_MAX_BYTES) {
		rc = nk_fail(e, NK_E_USAGE, "scrypt memory limit too large");
		goto out;
	}
	memcpy(sks, "Ed", 2);
	memcpy(sks + SK_OFF_KDF, password != NULL ? "Sc" : "\0\0", 2);
	memcpy(sks + SK_OFF_CHKALG, "B2", 2);
	randombytes_buf(sks + SK_OFF_KEYNUM, MINISIG_KEYID_BYTES);
	crypto_sign_keypair(out->pk.pk, sks + SK_OFF_SK);
	memcpy(out->pk.keyid, sks + SK_OFF_KEYNUM, MINISIG_KEYID_BYTES);
	/* minisign -W leaves chk zero; we fill it in either way, which
	 * minisign ignores for unencrypted keys and we check. */
	seckey_chk(sks, sks + SK_OFF_CHK);
	if (password != NULL) {
		randombytes_buf(sks + SK_OFF_SALT, SALT_BYTES);
		/* As minisign's encrypt_key(): halve the limits while the
		 * memory is not there, down to scrypt's minimum. */
		while (crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), password,
		    strlen(password), sks + SK_OFF_SALT, opslimit, (size_t)memlimit) != 0) {
			opslimit /= 2;
			memlimit /= 2;
			if (opslimit < crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN ||
			    memlimit < crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN) {
				rc = nk_fail(e, NK_E_NOMEM, "not enough memory to encrypt the secret key");
				goto out;
			}
		}
		le64_store(sks + SK_OFF_OPS, opslimit);
		le64_store(sks + SK_OFF_MEM, memlimit);
		xor_buf(sks + SK_OFF_KEYNUM, stream, sizeof(stream));
	}
	minisig_keyid_hex(out->pk.keyid, out->keyid_hex);
	minisig_pubkey_b64(&out->pk, out->pub_b64);
	n = snprintf(out->pub, sizeof(out->pub), UNTRUSTED_PREFIX "minisign public key %s\n%s\n",
	    out->keyid_hex, out->pub_b64);
	out->pub_len = (size_t)n;
	b64_encode(sks, sizeof(sks), sec_b64, sizeof(sec_b64));
	n = snprintf(out->sec, sizeof(out->sec), UNTRUSTED_PREFIX "%s\n%s\n",
	    password != NULL ? "nixos-kexec encrypted secret key" :
	    "nixos-kexec secret key, not encrypted", sec_b64);
	out->sec_len = (size_t)n;
	rc = 0;
out:
	sodium_memzero(sks, sizeof(sks));
	sodium_memzero(stream, sizeof(stream));
	sodium_memzero(sec_b64, sizeof(sec_b64));
	if (rc != 0)
		minisig_keyfiles_wipe(out);
	return rc;
}
