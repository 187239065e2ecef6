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
 * Threads: any. evc_proof_derive is slow (argon2id): never on an event loop.
 */
#ifndef EVC_PROOF_H
#define EVC_PROOF_H

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

/* Splits a stored "$argon2id$..." string into its params and, when key is
 * non-NULL, its 32-byte proof key. EVC_EINVAL for anything else (other
 * algorithm, p != 1, other salt or hash length, bad base64). */
int evc_proof_split(const char *stored_hash, evc_proof_params *params,
                    uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err);

/* Recomputes the proof key from the secret (NUL-terminated) and params:
 * argon2id, the same as the HASH part evc_password_hash stored. Refuses
 * params beyond the MODERATE cost (a hostile verifier must not make a prover
 * allocate gigabytes): EVC_EINVAL. EVC_ENOMEM when memory is short. Slow. */
int evc_proof_derive(const char *secret, const evc_proof_params *params,
                     uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err);

/* Params for an id that has no stored secret: deterministic in (server_key,
 * id) so repeated challenges for the same unknown id look like a real one
 * (no enumeration of ids by their salts). */
void evc_proof_params_fake(const uint8_t server_key[EVC_PROOF_KEY_BYTES], const char *id,
                           evc_password_cost cost, evc_proof_params *out);

/* Text form on the wire: "<salt hex>:<opslimit>:<memlimit>". parse refuses
 * anything else (EVC_EINVAL naming the text). */
void evc_proof_params_format(const evc_proof_params *p, char *out, size_t cap);
int evc_proof_params_parse(const char *text, evc_proof_params *out, evc_error *err);

/* HMAC-SHA256 under `key` of `label` and the `n` strings of `parts`, each
 * length-prefixed so that no two different lists give the same input. */
void evc_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                   const char *const *parts, size_t n, uint8_t out[EVC_PROOF_KEY_BYTES]);

/* The MAC of a challenge-response between two parties on a link, as hex:
 * evc_proof_mac(key, label, {id, hex(nonce_a), hex(nonce_b)}). One
 * definition for both ends (Central and the monitor, monitor and engine). */
void evc_proof_nonce_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                         const char *id, const uint8_t nonce_a[EVC_PROOF_NONCE_BYTES],
                         const uint8_t nonce_b[EVC_PROOF_NONCE_BYTES],
                         char out_hex[EVC_PROOF_HEX_SIZE]);

/* Constant-time comparison of two 32-byte values. */
bool evc_proof_equal(const uint8_t a[EVC_PROOF_KEY_BYTES], const uint8_t b[EVC_PROOF_KEY_BYTES]);

/* `len` random bytes (libsodium). */
void evc_proof_random(uint8_t *buf, size_t len);

/* Lower-case hex of `len` bytes into out (2*len+1 bytes). */
void evc_hex_encode(const uint8_t *bytes, size_t len, char *out);
/* Decodes exactly `len` bytes from hex text of exactly 2*len chars; false
 * otherwise. */
bool evc_hex_decode(const char *text, uint8_t *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
