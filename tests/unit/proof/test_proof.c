/* Proof keys: the prover recomputes from the secret exactly what the
 * verifier holds, and nothing else does. */
#include <criterion/criterion.h>
#include <string.h>

#include "evc/proof.h"

Test(proof, derive_recomputes_the_stored_hash_part)
{
    char stored[EVC_PASSWORD_HASH_MAX];
    evc_error err = {0};
    cr_assert_eq(evc_password_hash("pass123", EVC_PASSWORD_COST_MIN, stored, &err), EVC_OK);
    evc_proof_params p;
    uint8_t held[EVC_PROOF_KEY_BYTES], mine[EVC_PROOF_KEY_BYTES], wrong[EVC_PROOF_KEY_BYTES];
    cr_assert_eq(evc_proof_split(stored, &p, held, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_proof_derive("pass123", &p, mine, &err), EVC_OK, "%s", err.msg);
    cr_assert(evc_proof_equal(held, mine));
    cr_assert_eq(evc_proof_derive("pass124", &p, wrong, &err), EVC_OK);
    cr_assert_not(evc_proof_equal(held, wrong));
}

Test(proof, params_survive_their_wire_text)
{
    char stored[EVC_PASSWORD_HASH_MAX], text[128];
    evc_error err = {0};
    evc_password_hash("x", EVC_PASSWORD_COST_MIN, stored, &err);
    evc_proof_params p, q;
    cr_assert_eq(evc_proof_split(stored, &p, NULL, &err), EVC_OK);
    evc_proof_params_format(&p, text, sizeof text);
    cr_assert_eq(evc_proof_params_parse(text, &q, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(memcmp(&p, &q, sizeof p), 0);
    const char *bad[] = {"", "zz:1:2", "00112233445566778899aabbccddeeff:1", "00112233445566778899aabbccddeeff:1:2x",
                         "0011:1:2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(evc_proof_params_parse(bad[i], &q, &err), EVC_EINVAL, "%s", bad[i]);
}

Test(proof, split_refuses_what_is_not_argon2id)
{
    evc_proof_params p;
    evc_error err = {0};
    const char *bad[] = {"", "secret", "$argon2i$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
                         /* p = 2 */
                         "$argon2id$v=19$m=8,t=1,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(evc_proof_split(bad[i], &p, NULL, &err), EVC_EINVAL, "%s", bad[i]);
}

Test(proof, derive_refuses_a_hostile_cost)
{
    evc_proof_params p = {.opslimit = 3, .memlimit = (uint64_t)8 << 30};
    uint8_t k[EVC_PROOF_KEY_BYTES];
    evc_error err = {0};
    cr_assert_eq(evc_proof_derive("x", &p, k, &err), EVC_EINVAL);
    cr_assert(strstr(err.msg, "outside"), "%s", err.msg);
}

Test(proof, mac_separates_labels_and_part_boundaries)
{
    uint8_t key[EVC_PROOF_KEY_BYTES] = {1}, a[32], b[32], c[32];
    const char *ab[] = {"ab", "c"}, *a_bc[] = {"a", "bc"};
    evc_proof_mac(key, "L", ab, 2, a);
    evc_proof_mac(key, "L", a_bc, 2, b);
    evc_proof_mac(key, "M", ab, 2, c);
    cr_assert_not(evc_proof_equal(a, b));
    cr_assert_not(evc_proof_equal(a, c));
}

Test(proof, fake_params_are_stable_per_id)
{
    uint8_t key[EVC_PROOF_KEY_BYTES] = {7};
    evc_proof_params x, y, z;
    evc_proof_params_fake(key, "ghost", EVC_PASSWORD_COST_MIN, &x);
    evc_proof_params_fake(key, "ghost", EVC_PASSWORD_COST_MIN, &y);
    evc_proof_params_fake(key, "ghost2", EVC_PASSWORD_COST_MIN, &z);
    cr_assert_eq(memcmp(&x, &y, sizeof x), 0);
    cr_assert_neq(memcmp(x.salt, z.salt, sizeof x.salt), 0);
}

Test(proof, hex_round_trip_and_refusals)
{
    uint8_t in[4] = {0, 0xab, 0x10, 0xff}, out[4];
    char text[9];
    evc_hex_encode(in, 4, text);
    cr_assert_str_eq(text, "00ab10ff");
    cr_assert(evc_hex_decode(text, out, 4));
    cr_assert_eq(memcmp(in, out, 4), 0);
    cr_assert_not(evc_hex_decode("00ab10f", out, 4));
    cr_assert_not(evc_hex_decode("00ab10fg", out, 4));
}
