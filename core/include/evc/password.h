/* evc/password.h: password and CP-secret hashing (argon2id via libsodium).
 *
 * Hashes are self-describing strings "$argon2id$v=19$m=...,t=...,p=1$salt$hash"
 * (at most EVC_PASSWORD_HASH_MAX bytes with the NUL), each with its own random
 * salt: never a bare hash. Only Central verifies; nothing here logs a password.
 *
 * Cost: EVC_PASSWORD_COST_INTERACTIVE (libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE:
 * 64 MiB, 2 passes, about 120 ms per hash on the 2-core test machine) is the
 * production default. MODERATE (256 MiB, 3 passes, about 0.8 s) is stronger.
 * MIN (8 KiB, 1 pass, about 0.1 ms) is for tests only: it must be chosen
 * explicitly (config `password_cost: min`) and is logged as such by the role.
 *
 * Threads: any thread (libsodium is initialised once, thread-safely).
 */
#ifndef EVC_PASSWORD_H
#define EVC_PASSWORD_H

#include "evc/api.h"

#include <stdbool.h>

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_PASSWORD_HASH_MAX 128 /* == crypto_pwhash_STRBYTES */

typedef enum evc_password_cost {
    EVC_PASSWORD_COST_INTERACTIVE = 0, /* default */
    EVC_PASSWORD_COST_MODERATE = 1,
    EVC_PASSWORD_COST_MIN = 2,         /* tests only */
} evc_password_cost;

/* Parses "interactive|moderate|min" (case-sensitive); 0 or EVC_ECONFIG with
 * a message listing the valid names. */
EVC_API int evc_password_cost_parse(const char *name, evc_password_cost *out, evc_error *err);
EVC_API const char *evc_password_cost_name(evc_password_cost cost);

/* Hashes `password` (NUL-terminated, may be empty) into out (caller's buffer
 * of EVC_PASSWORD_HASH_MAX bytes). EVC_ENOMEM when the memory limit cannot be
 * allocated, EVC_EIO when libsodium cannot initialise. */
EVC_API int evc_password_hash(const char *password, evc_password_cost cost,
                              char out[EVC_PASSWORD_HASH_MAX], evc_error *err);

/* True when `password` matches `hash`. False for a wrong password and for a
 * malformed or non-argon2id hash (never an error, never a crash). */
EVC_API bool evc_password_verify(const char *hash, const char *password);

/* True when `hash` was made with other parameters than `cost` (re-hash it at
 * the next successful login), or is not an argon2id string. */
EVC_API bool evc_password_needs_rehash(const char *hash, evc_password_cost cost);

#ifdef __cplusplus
}
#endif
#endif
