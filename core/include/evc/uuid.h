/* evc/uuid.h: random (version 4) UUIDs for message and correlation ids.
 *
 * Text form: 36 characters, lowercase hex, 8-4-4-4-12
 * ("0f8fad5b-d9cb-469f-a165-70867728950e"), held in a 37-byte buffer with
 * its NUL. Randomness comes from libsodium's randombytes_buf (the OS CSPRNG),
 * read 4 KB at a time into a pool per thread: one getrandom call per 256
 * ids instead of one per id (issue 14). Bytes handed out are wiped from the
 * pool, and a forked child refills its pool before its first id, so no two
 * processes share pool bytes.
 */
#ifndef EVC_UUID_H
#define EVC_UUID_H

#include "evc/api.h"

#include <stdbool.h>

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_UUID_STR_LEN 36
#define EVC_UUID_STR_SIZE 37   /* with the NUL */

/* Writes a new random UUIDv4 (version nibble 4, RFC 4122 variant 10xx) into
 * out, NUL-terminated. Initialises libsodium once per process (thread-safe).
 * Errors: EVC_EIO when libsodium cannot initialise (out is then ""). Thread:
 * any. */
EVC_API int evc_uuid_generate(char out[EVC_UUID_STR_SIZE], evc_error *err);

/* True when s is exactly 36 characters of lowercase hex with hyphens at
 * offsets 8, 13, 18 and 23 (any version and variant; uppercase is refused
 * so that one id has one spelling, which idempotent consumers rely on).
 * NULL gives false. */
EVC_API bool evc_uuid_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif
