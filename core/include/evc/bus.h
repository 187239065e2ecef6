/* evc/bus.h: the event bus as roles see it -- a loaded transport plugin
 * instance bound to the process's loop. Roles publish and subscribe here and
 * never learn which transport runs underneath.
 *
 * Threads: loop thread only. Ownership: an evc_bus borrows its loop and its
 * plugin (both must outlive it).
 */
#ifndef EVC_BUS_H
#define EVC_BUS_H

#include "evc/api.h"

#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_bus evc_bus;

/* Called for each inbound message of a subscribed topic; `msg` is borrowed for
 * the call. Return EVC_OK when handled; anything else asks the transport to
 * redeliver (honoured only by transports whose guarantees say redelivery). */
typedef int (*evc_bus_handler)(void *arg, const evc_message *msg);

/* The outcome of one accepted publish, called exactly once on the loop
 * thread. `detail` (may be NULL) is borrowed for the call. */
typedef void (*evc_bus_outcome_cb)(void *arg, evc_outcome_status status, const char *detail);

/* Creates a transport instance from a loaded plugin of kind
 * EVC_PLUGIN_TRANSPORT. The plugin's create op validates params->config.
 * On failure returns the create op's status with its message. */
EVC_API int evc_bus_open(evc_loop *loop, evc_plugin *transport, const evc_transport_params *params,
                         evc_bus **out, evc_error *err);

/* Adds a handler for `topic`; several handlers may share a topic, called in
 * the order added. The first handler that fails stops the chain and makes the
 * message count as not handled. Before or after start. */
EVC_API int evc_bus_subscribe(evc_bus *bus, const char *topic, evc_bus_handler handler, void *arg,
                              evc_error *err);

/* As evc_bus_subscribe, but `handler` gets only the messages of `topic`
 * whose key is one of keys[0..n-1] (n >= 1; each NUL-terminated, at most
 * EVC_BUS_KEY_MAX bytes, "" allowed for unkeyed messages; the array and the
 * strings are borrowed for the call, the bus keeps copies). An engine
 * subscribes {its cp_id, "central"} to central-events, a driver {its
 * driver_id, "central"}: each receives its own messages and Central's
 * broadcasts, not every CP's.
 *
 * Where the transport can filter upstream (ZeroMQ: at the proxy) messages of
 * other keys never reach this process; otherwise (Kafka: a consumer reads
 * whole partitions) the bus drops them before any seal check, so they cost a
 * key comparison. Handlers of the same topic without keys still get every
 * message; handlers are called in the order added, each only for its keys.
 * The topic's subscription at the transport only ever widens (no
 * unsubscribe). EVC_EINVAL for bad arguments (naming the key), otherwise
 * evc_bus_subscribe's errors. Before or after start. */
#define EVC_BUS_KEY_MAX 255
EVC_API int evc_bus_subscribe_keys(evc_bus *bus, const char *topic, const char *const *keys, size_t n,
                                   evc_bus_handler handler, void *arg, evc_error *err);

EVC_API int evc_bus_start(evc_bus *bus, evc_error *err);

/* Publishes `payload` (copied as needed by the transport) on `topic` with
 * `key`. EVC_OK: accepted; `cb` (may be NULL) gets the outcome later, exactly
 * once. EVC_EAGAIN: back-pressure, nothing accepted, `cb` never called. */
EVC_API int evc_bus_publish(evc_bus *bus, const char *topic, const char *key, const void *payload,
                            size_t payload_len, evc_bus_outcome_cb cb, void *cb_arg, evc_error *err);

/* evc_bus_publish, sealed by `sealer` (borrowed for the call) instead of the
 * bus's own sealer (evc_bus_seal_with); NULL: the bus's own, exactly as
 * evc_bus_publish. Central seals what it relays to one driver with that
 * driver's relay key (evc_seal_relay_key, docs/PROTOCOL.md "The seal"). */
typedef struct evc_sealer evc_sealer;
EVC_API int evc_bus_publish_with(evc_bus *bus, evc_sealer *sealer, const char *topic,
                                 const char *key, const void *payload, size_t payload_len,
                                 evc_bus_outcome_cb cb, void *cb_arg, evc_error *err);

/* Waits up to timeout_ms for every accepted publish to get its outcome. */
EVC_API int evc_bus_flush(evc_bus *bus, uint64_t timeout_ms, evc_error *err);

EVC_API void evc_bus_guarantees(evc_bus *bus, evc_transport_guarantees *out);
EVC_API void evc_bus_stats(evc_bus *bus, evc_transport_stats *out);
/* Whether the bus's subscriptions deliver yet (stats.joined > 0): a program
 * that expects to hear from a peer judges the peer's silence only from then
 * on, not while its Kafka group is still being joined. True for a transport
 * too old to tell; on Kafka, false until a subscription got its partitions
 * (never for a bus that subscribes to nothing). False for NULL. */
EVC_API bool evc_bus_live(evc_bus *bus);
/* Messages the bus dropped because no handler takes their key (delivered by
 * a transport that cannot filter by key, or by a prefix it could not tell
 * apart). 0 for NULL. */
EVC_API uint64_t evc_bus_foreign(const evc_bus *bus);
/* Number of accepted publishes whose outcome has not arrived yet. */
EVC_API size_t evc_bus_pending(const evc_bus *bus);

/* Stops and destroys the transport instance; outcomes still pending are
 * reported as EVC_OUTCOME_NOT_SENT by the transport's stop. NULL is a no-op. */
EVC_API void evc_bus_close(evc_bus *bus);

#ifdef __cplusplus
}
#endif
#endif
