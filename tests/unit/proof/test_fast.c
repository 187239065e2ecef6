/* The fast verifier of strong CP secrets ("$evc-cpk$v=1$", evc/proof.h):
 * the prover recomputes the stored key with one HMAC, a typed secret never
 * gets it (anti-downgrade), and argon2id strings keep working beside it. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "evc/proof.h"

/* What Central draws: 32 random bytes as 64 hex digits. */
static void strong_secret(char out[65])
{
    uint8_t b[32];
    evc_proof_random(b, sizeof b);
    evc_hex_encode(b, sizeof b, out);
}

Test(proof_fast, a_generated_secret_is_stored_fast_and_proves)
{
    char secret[65], stored[EVC_PASSWORD_HASH_MAX], text[128];
    strong_secret(secret);
    evc_error err = {0};
    cr_assert(evc_proof_secret_strong(secret));
    cr_assert_eq(evc_proof_cp_hash(secret, EVC_PASSWORD_COST_INTERACTIVE, stored, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_eq(strncmp(stored, "$evc-cpk$v=1$", 13), 0, "%s", stored);
    cr_assert_eq(strlen(stored), 13 + 32 + 1 + 64, "%s", stored);

    evc_proof_params p, q;
    uint8_t held[EVC_PROOF_KEY_BYTES], mine[EVC_PROOF_KEY_BYTES];
    cr_assert_eq(evc_proof_split(stored, &p, held, &err), EVC_OK, "%s", err.msg);
    cr_assert(evc_proof_params_fast(&p));
    evc_proof_params_format(&p, text, sizeof text);
    cr_assert(strstr(text, ":0:0") && strlen(text) == 32 + 4, "%s", text);
    cr_assert_eq(evc_proof_params_parse(text, &q, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_proof_derive(secret, &q, mine, &err), EVC_OK, "%s", err.msg);
    cr_assert(evc_proof_equal(held, mine));

    /* The key is HMAC-SHA256(secret, "evc-cp-key-v1\0" || salt): documented
     * in docs/SECURITY.md, recomputed here independently. */
    uint8_t msg[14 + EVC_PROOF_SALT_BYTES], ref[EVC_PROOF_KEY_BYTES];
    memcpy(msg, "evc-cp-key-v1", 14);
    memcpy(msg + 14, q.salt, EVC_PROOF_SALT_BYTES);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, 64);
    crypto_auth_hmacsha256_update(&st, msg, sizeof msg);
    crypto_auth_hmacsha256_final(&st, ref);
    cr_assert(evc_proof_equal(held, ref));

    /* Another secret, even one digit off, proves nothing. */
    secret[0] = secret[0] == 'a' ? 'b' : 'a';
    cr_assert_eq(evc_proof_derive(secret, &q, mine, &err), EVC_OK);
    cr_assert_not(evc_proof_equal(held, mine));
}

Test(proof_fast, two_registrations_of_one_secret_differ_by_salt)
{
    char secret[65], a[EVC_PASSWORD_HASH_MAX], b[EVC_PASSWORD_HASH_MAX];
    strong_secret(secret);
    evc_error err = {0};
    cr_assert_eq(evc_proof_fast_hash(secret, a, &err), EVC_OK);
    cr_assert_eq(evc_proof_fast_hash(secret, b, &err), EVC_OK);
    cr_assert_str_neq(a, b);
}

Test(proof_fast, typed_secrets_are_not_strong_and_keep_argon2id)
{
    const char *weak[] = {"", "secret-CP_001", "pass123",
                          /* 63 hex digits */
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
                          /* 64 digits but not hex */
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
                          /* 64 hex digits typed by hand: too few distinct digits */
                          "0000000000000000000000000000000000000000000000000000000000000000",
                          "abababababababababababababababababababababababababababababababab"};
    for (size_t i = 0; i < sizeof weak / sizeof *weak; i++) {
        cr_assert_not(evc_proof_secret_strong(weak[i]), "'%s'", weak[i]);
        char out[EVC_PASSWORD_HASH_MAX];
        evc_error err = {0};
        cr_assert_eq(evc_proof_fast_hash(weak[i], out, &err), EVC_EINVAL, "'%s'", weak[i]);
        cr_assert_eq(evc_proof_cp_hash(weak[i], EVC_PASSWORD_COST_MIN, out, &err), EVC_OK);
        cr_assert_eq(strncmp(out, "$argon2id$", 10), 0, "'%s' -> %s", weak[i], out);
    }
    cr_assert_not(evc_proof_secret_strong(NULL));
    /* Longer random hex (a 512-bit secret) is strong too. */
    char longer[129];
    strong_secret(longer);
    strong_secret(longer + 64);
    cr_assert(evc_proof_secret_strong(longer));
}

/* A hostile or confused verifier announcing fast params for a typed secret
 * would turn an eavesdropped MAC into a cheap offline guess: the prover
 * refuses, and says so. */
Test(proof_fast, a_prover_refuses_fast_params_for_a_typed_secret)
{
    evc_proof_params p;
    evc_error err = {0};
    cr_assert_eq(evc_proof_params_parse("00112233445566778899aabbccddeeff:0:0", &p, &err), EVC_OK);
    cr_assert(evc_proof_params_fast(&p));
    uint8_t key[EVC_PROOF_KEY_BYTES];
    cr_assert_eq(evc_proof_derive("secret-CP_001", &p, key, &err), EVC_EINVAL);
    cr_assert(strstr(err.msg, "refused"), "%s", err.msg);
    /* Half fast is neither: zero passes with memory is outside argon2's range. */
    cr_assert_eq(evc_proof_params_parse("00112233445566778899aabbccddeeff:0:8192", &p, &err),
                 EVC_OK);
    cr_assert_not(evc_proof_params_fast(&p));
    char strong[65];
    strong_secret(strong);
    cr_assert_eq(evc_proof_derive(strong, &p, key, &err), EVC_EINVAL);
}

Test(proof_fast, old_argon2id_strings_still_prove_beside_fast_ones)
{
    char stored[EVC_PASSWORD_HASH_MAX], secret[65];
    strong_secret(secret);
    evc_error err = {0};
    /* A generated secret registered before the fast verifier existed. */
    cr_assert_eq(evc_password_hash(secret, EVC_PASSWORD_COST_MIN, stored, &err), EVC_OK);
    evc_proof_params p;
    uint8_t held[EVC_PROOF_KEY_BYTES], mine[EVC_PROOF_KEY_BYTES];
    cr_assert_eq(evc_proof_split(stored, &p, held, &err), EVC_OK, "%s", err.msg);
    cr_assert_not(evc_proof_params_fast(&p));
    cr_assert_eq(evc_proof_derive(secret, &p, mine, &err), EVC_OK, "%s", err.msg);
    cr_assert(evc_proof_equal(held, mine));
}

Test(proof_fast, split_refuses_damaged_fast_strings)
{
    const char *bad[] = {
        "$evc-cpk$v=1$",
        "$evc-cpk$v=1$00112233445566778899aabbccddeeff",
        "$evc-cpk$v=1$00112233445566778899aabbccddeeff$0011",
        "$evc-cpk$v=1$00112233445566778899aabbccddeefg$"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "$evc-cpk$v=1$00112233445566778899aabbccddeeff:"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "$evc-cpk$v=2$00112233445566778899aabbccddeeff$"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        evc_proof_params p;
        evc_error err = {0};
        cr_assert_eq(evc_proof_split(bad[i], &p, NULL, &err), EVC_EINVAL, "%s", bad[i]);
    }
}
