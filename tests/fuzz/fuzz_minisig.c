/* fuzz_minisig: libFuzzer harness for the minisign parsers. Every input
 * goes to the signature parser, the public key parser and the secret key
 * parser (whose password callback refuses, so no scrypt runs); a parsed
 * signature is then verified over the input against a fixed key, to
 * drive minisig_verify's paths too.
 * Built by make fuzz with clang -fsanitize=fuzzer,address, linking common. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "minisig.h"

/* The public key of tests/unit/test_minisig.c's vector "a" (minisign -G -W). */
static const char fixed_key[] = "RWQ3byjL8itYkDwszh3SYagx7PVlgAu4y72yjk6ywC0EcSgsI+8dgkti";

static int
no_password(char *pw, size_t cap, void *ctx)
{
	(void)pw;
	(void)cap;
	(void)ctx;
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct minisig_pubkey fixed;
	static int ready;
	struct minisig_pubkey keys[2];
	struct minisig_seckey sk;
	struct minisig_sig sig;
	struct nk_err e;

	if (!ready) {
		if (minisig_pubkey_parse((const uint8_t *)fixed_key, strlen(fixed_key), &fixed,
		    &e) != 0)
			__builtin_trap();
		ready = 1;
	}
	keys[0] = fixed;
	if (minisig_pubkey_parse(data, size, &keys[1], &e) != 0)
		keys[1] = fixed;
	if (minisig_sig_parse(data, size, &sig, &e) == 0) {
		if (sig.trusted_comment_len > MINISIG_COMMENT_MAX_BYTES ||
		    sig.trusted_comment[sig.trusted_comment_len] != '\0')
			__builtin_trap();
		/* Pretend the signature names a trusted key, so the
		 * signature checks run rather than the key id check alone. */
		memcpy(keys[0].keyid, sig.keyid, sizeof(sig.keyid));
		(void)minisig_verify(keys, 2, &sig, data, size, size & 1, &e);
	}
	if (minisig_seckey_parse(data, size, no_password, NULL, &sk, &e) == 0)
		minisig_seckey_wipe(&sk);
	return 0;
}
