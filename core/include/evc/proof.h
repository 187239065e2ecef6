/* evc/proof.h: proving knowledge of a password or CP secret without sending
 * it, and the keyed MACs built on that proof.
 *
 * The verifier (Central) keeps only the argon2id string of a secret
 * ("$argon2id$v=19$m=M,t=T,p=1$SALT$HASH", see evc/password.h). Its HASH part
 * is the 32-byte "proof key": the prover, knowing the secret, recomputes it
 * from the public parameters (salt, cost) with evc_proof_derive; both sides
 * then MAC fresh nonces with it (evc_proof_mac). The secret never crosses a
 * wire; an eavesdropper learns only salt, nonces and a MAC (an offline
 * guessing attack still costs one argon2id per guess, as for a stolen hash).
 * Holding the stored string is enough to prove: the database is the root of
 * trust (docs/SECURITY.md).
 *
 * CP secrets drawn by Central (64+ hex digits, 256 bits) need no slow hash:
 * they are stored as "$evc-cpk$v=1$<salt hex>$<key hex>" where key =
 * HMAC-SHA256(secret, "evc-cp-key-v1\0" || salt), and their wire params
 * say so with opslimit = memlimit = 0 ("<salt>:0:0"). A prover refuses such
 * "fast" params for a secret that is not strong (evc_proof_secret_strong):
 * a typed secret keeps argon2id even if a hostile verifier asks otherwise.
 *
 * Threads: any. evc_proof_derive is slow (argon2id) unless the params are
 * fast: argon2id never on an event loop; fast params cost one HMAC.
 */
#ifndef EVC_PROOF_H
#define EVC_PROOF_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/password.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_PROOF_KEY_BYTES 32
#define EVC_PROOF_SALT_BYTES 16
#define EVC_PROOF_NONCE_BYTES 16
/* Hex text of a key or MAC (64 chars) with its NUL. */
#define EVC_PROOF_HEX_SIZE (2 * EVC_PROOF_KEY_BYTES + 1)

/* The public half of a stored argon2id string: what a prover needs to
 * recompute the proof key. */
typedef struct evc_proof_params {
    uint8_t salt[EVC_PROOF_SALT_BYTES];
    uint64_t opslimit; /* argon2 passes (t) */
    uint64_t memlimit; /* bytes (m KiB * 1024) */
} evc_proof_params;

/* Prefix of the fast verifier of strong CP secrets. */
#define EVC_PROOF_FAST_PREFIX "$evc-cpk$v=1$"

/* Splits a stored "$argon2id$..." or "$evc-cpk$v=1$..." string into its
 * params (fast: opslimit = memlimit = 0) and, when key is non-NULL, its
 * 32-byte proof key. EVC_EINVAL for anything else (other algorithm, p != 1,
 * other salt or hash length, bad base64 or hex). */
EVC_API int evc_proof_split(const char *stored_hash, evc_proof_params *params,
                            uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err);

/* Recomputes the proof key from the secret (NUL-terminated) and params:
 * argon2id, the same as the HASH part evc_password_hash stored. Refuses
 * params beyond the MODERATE cost (a hostile verifier must not make a prover
 * allocate gigabytes): EVC_EINVAL. EVC_ENOMEM when memory is short. Slow.
 * Fast params (evc_proof_params_fast): one HMAC, and EVC_EINVAL when the
 * secret is not strong (anti-downgrade: a guessable secret's key must not be
 * one fast hash away from an eavesdropped MAC). */
EVC_API int evc_proof_derive(const char *secret, const evc_proof_params *params,
                             uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err);

/* True for params of the fast verifier (opslimit = memlimit = 0). */
EVC_API bool evc_proof_params_fast(const evc_proof_params *p);

/* True when `secret` may use the fast verifier: at least 64 hex digits and
 * nothing else, with at least 10 distinct digits (a random one has them all
 * but with negligible odds; "000...0" typed by hand does not). */
EVC_API bool evc_proof_secret_strong(const char *secret);

/* Stores a strong secret: "$evc-cpk$v=1$<salt hex>$<key hex>" with a fresh
 * salt into out (EVC_PASSWORD_HASH_MAX bytes). EVC_EINVAL for a secret that
 * is not strong. Fast (one HMAC): fine on a loop. */
EVC_API int evc_proof_fast_hash(const char *secret, char out[EVC_PASSWORD_HASH_MAX], evc_error *err);

/* What to store for a CP secret: the fast string when the secret is strong,
 * else evc_password_hash(secret, cost) (slow: never on a loop then). */
EVC_API int evc_proof_cp_hash(const char *secret, evc_password_cost cost,
                              char out[EVC_PASSWORD_HASH_MAX], evc_error *err);

/* Params for an id that has no stored secret: deterministic in (server_key,
 * id) so repeated challenges for the same unknown id look like a real one
 * (no enumeration of ids by their salts). */
EVC_API void evc_proof_params_fake(const uint8_t server_key[EVC_PROOF_KEY_BYTES], const char *id,
                                   evc_password_cost cost, evc_proof_params *out);

/* Text form on the wire: "<salt hex>:<opslimit>:<memlimit>". parse refuses
 * anything else (EVC_EINVAL naming the text). */
EVC_API void evc_proof_params_format(const evc_proof_params *p, char *out, size_t cap);
EVC_API int evc_proof_params_parse(const char *text, evc_proof_params *out, evc_error *err);

/* HMAC-SHA256 under `key` of `label` and the `n` strings of `parts`, each
 * length-prefixed so that no two different lists give the same input. */
EVC_API void evc_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                           const char *const *parts, size_t n, uint8_t out[EVC_PROOF_KEY_BYTES]);

/* The MAC of a challenge-response between two parties on a link, as hex:
 * evc_proof_mac(key, label, {id, hex(nonce_a), hex(nonce_b)}). One
 * definition for both ends (Central and the monitor, monitor and engine). */
EVC_API void evc_proof_nonce_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                                 const char *id, const uint8_t nonce_a[EVC_PROOF_NONCE_BYTES],
                                 const uint8_t nonce_b[EVC_PROOF_NONCE_BYTES],
                                 char out_hex[EVC_PROOF_HEX_SIZE]);

/* Constant-time comparison of two 32-byte values. */
EVC_API bool evc_proof_equal(const uint8_t a[EVC_PROOF_KEY_BYTES], const uint8_t b[EVC_PROOF_KEY_BYTES]);

/* `len` random bytes (libsodium). */
EVC_API void evc_proof_random(uint8_t *buf, size_t len);

/* Lower-case hex of `len` bytes into out (2*len+1 bytes). */
EVC_API void evc_hex_encode(const uint8_t *bytes, size_t len, char *out);
/* Decodes exactly `len` bytes from hex text of exactly 2*len chars; false
 * otherwise. */
EVC_API bool evc_hex_decode(const char *text, uint8_t *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
