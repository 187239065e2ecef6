/* evc/envelope.h: the JSON envelope of every bus message.
 *
 *     {"type": str, "id": uuid, "correlation_id": uuid|null, "ts": int,
 *      "source": str, "payload": object}
 *
 * ts is integer milliseconds since the Unix epoch, UTC. id is unique per
 * message (consumers deduplicate by it); correlation_id is one per supply
 * and carried by every message of that supply, null outside supplies.
 * docs/PROTOCOL.md, "Bus envelope", is the reference. Decoding is strict:
 * unknown top-level fields, duplicate keys, wrong types and bad UUIDs are
 * refused with a message naming the field. One more member, "seal" (an
 * object: evc/seal.h), may end a message read off the bus; decode skips it.
 *
 * jansson stays inside libevc_core; the only trace of it here is the
 * optional evc_envelope_payload_json() accessor for callers that use it.
 */
#ifndef EVC_ENVELOPE_H
#define EVC_ENVELOPE_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/uuid.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_ENVELOPE_DEFAULT_MAX_BYTES (1024u * 1024u)

typedef struct evc_envelope {
    const char *type;            /* non-empty, e.g. "supply.request" */
    const char *id;              /* UUID (evc_uuid_valid) */
    const char *correlation_id;  /* UUID, or NULL for JSON null */
    int64_t ts_ms;               /* ms since epoch, UTC, >= 0 */
    const char *source;          /* non-empty sender id, e.g. "central", "CP_001" */
    const char *payload;         /* JSON text of an object; NULL encodes as {} */
} evc_envelope;

typedef struct evc_envelope_limits {
    size_t max_bytes;  /* largest accepted input; 0 = EVC_ENVELOPE_DEFAULT_MAX_BYTES */
} evc_envelope_limits;

/* Fills env->id with a fresh UUIDv4 written into id_buf (which must outlive
 * env's use) and env->ts_ms with the current UTC time in ms; other fields
 * untouched. Errors: EVC_EIO (no randomness). Thread: any. */
EVC_API int evc_envelope_stamp(evc_envelope *env, char id_buf[EVC_UUID_STR_SIZE], evc_error *err);

/* Serialises env (all strings borrowed for the call) to compact JSON with
 * the keys in the order above. *out is malloc'd and NUL-terminated (the
 * NUL not counted in *out_len); caller frees it with free(). The payload
 * text is parsed and re-serialised, so it must be one JSON object.
 * Errors: EVC_EINVAL with a message naming the field (empty type/source,
 * bad id/correlation_id, negative ts, payload not a JSON object: with its
 * line/column, strings not UTF-8), EVC_ENOMEM. Thread: any. */
EVC_API int evc_envelope_encode(const evc_envelope *env, char **out, size_t *out_len, evc_error *err);

/* Strictly parses `len` bytes of `data` (borrowed for the call; need not be
 * NUL-terminated). On success *out is a new envelope whose strings (payload
 * as compact JSON text) live with it until evc_envelope_free(*out).
 * limits: NULL for defaults. Errors: EVC_ETOOBIG (input over max_bytes),
 * EVC_EPROTO (not JSON with line/column, not an object, unknown field,
 * missing field, wrong type, empty type/source, bad UUID, negative ts),
 * EVC_ENOMEM. *out is NULL on error. Thread: any. */
EVC_API int evc_envelope_decode(const void *data, size_t len, const evc_envelope_limits *limits,
                                evc_envelope **out, evc_error *err);

/* Frees a decoded envelope; NULL-safe. Never call it on a caller-built one. */
EVC_API void evc_envelope_free(evc_envelope *env);

/* The decoded payload as a jansson object (json_t *), borrowed until
 * evc_envelope_free: lets a caller that links jansson read it without
 * parsing the text again. Only valid on envelopes from evc_envelope_decode. */
struct json_t;
EVC_API struct json_t *evc_envelope_payload_json(const evc_envelope *env);

/* ---- Payload builder: JSON object text without hand-written escaping --- */

/* Usage:  evc_payload *p = evc_payload_new();
 *         evc_payload_str(p, "cp_id", cp); evc_payload_real(p, "kw", 7.4);
 *         char *text = evc_payload_finish(p, &err);   // caller frees text
 * Adders never fail loudly: the first error (NULL builder, key or value not
 * UTF-8, duplicate key, non-finite number, invalid raw JSON, no memory) is
 * kept and reported by evc_payload_finish, which then returns NULL. Each
 * adder also returns that status (EVC_OK or the sticky error). Keys and
 * values are copied; nothing is borrowed past the call. A builder is used by
 * one thread at a time; separate builders are independent. */
typedef struct evc_payload evc_payload;

EVC_API evc_payload *evc_payload_new(void);   /* NULL on out of memory */
EVC_API int evc_payload_str(evc_payload *p, const char *key, const char *value);  /* NULL value -> null */
EVC_API int evc_payload_int(evc_payload *p, const char *key, int64_t value);
EVC_API int evc_payload_real(evc_payload *p, const char *key, double value);
EVC_API int evc_payload_bool(evc_payload *p, const char *key, bool value);
EVC_API int evc_payload_null(evc_payload *p, const char *key);
/* Inserts any JSON value given as text (e.g. a nested object or an array). */
EVC_API int evc_payload_raw(evc_payload *p, const char *key, const char *json_text);

/* Compact JSON text of the object; malloc'd, caller frees with free().
 * Consumes p in every case (do not use or free it afterwards). Returns NULL
 * with err set on the builder's sticky error. */
EVC_API char *evc_payload_finish(evc_payload *p, evc_error *err);

/* Discards a builder without producing text; NULL-safe. */
EVC_API void evc_payload_free(evc_payload *p);

#ifdef __cplusplus
}
#endif
#endif
