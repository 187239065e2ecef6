/* evc/msg.h: bus messages as roles use them -- an envelope published on a
 * topic, payload fields read back, duplicates recognised by message id.
 *
 * Threads: loop thread (like evc_bus). Payload readers work on envelopes
 * returned by evc_envelope_decode and borrow from them.
 */
#ifndef EVC_MSG_H
#define EVC_MSG_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/bus.h"
#include "evc/envelope.h"
#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stamps (new id, current time) and encodes an envelope of `type` from
 * `source` with `correlation_id` (NULL outside supplies) and `payload` (JSON
 * object text, NULL = {}), then publishes it on `topic` with `key`. All
 * strings are borrowed for the call. When `id_out` is non-NULL the message id
 * is copied there. Returns evc_bus_publish's status (EVC_EAGAIN:
 * back-pressure, nothing sent) or the encoder's error. */
EVC_API int evc_msg_publish(evc_bus *bus, const char *topic, const char *key, const char *type,
                            const char *source, const char *correlation_id, const char *payload,
                            evc_bus_outcome_cb cb, void *cb_arg, char id_out[EVC_UUID_STR_SIZE],
                            evc_error *err);

/* evc_msg_publish sealed by `sealer` (borrowed; NULL: the bus's own), see
 * evc_bus_publish_with. */
EVC_API int evc_msg_publish_with(evc_bus *bus, evc_sealer *sealer, const char *topic,
                                 const char *key, const char *type, const char *source,
                                 const char *correlation_id, const char *payload,
                                 evc_bus_outcome_cb cb, void *cb_arg,
                                 char id_out[EVC_UUID_STR_SIZE], evc_error *err);

/* Payload readers. NULL / -1 when the field is absent or of another type.
 * evc_msg_str's result is borrowed until evc_envelope_free. */
EVC_API const char *evc_msg_str(const evc_envelope *env, const char *key);
EVC_API int evc_msg_int(const evc_envelope *env, const char *key, int64_t *out);
EVC_API int evc_msg_bool(const evc_envelope *env, const char *key, bool *out);
/* The JSON text of a field (object, array, any value): malloc'd, caller
 * frees; NULL when absent. */
EVC_API char *evc_msg_json(const evc_envelope *env, const char *key);

/* Remembers the last `capacity` message ids seen, to make a consumer
 * idempotent against redelivery (at-least-once transports). */
typedef struct evc_msg_dedup evc_msg_dedup;
EVC_API evc_msg_dedup *evc_msg_dedup_new(size_t capacity); /* NULL on out of memory */
EVC_API void evc_msg_dedup_free(evc_msg_dedup *d);
/* True when `id` was not seen before (and remembers it); false for a
 * repeat. */
EVC_API bool evc_msg_dedup_first(evc_msg_dedup *d, const char *id);

#ifdef __cplusplus
}
#endif
#endif
