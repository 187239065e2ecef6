/* evc/transport.h: what a transport plugin implements (Kafka, ZeroMQ, ...).
 *
 * A transport moves opaque payloads on named topics, each message with a key
 * (CP id or driver id) that fixes its order relative to messages of the same
 * key. Publishing never blocks: it accepts the message (its real outcome comes
 * later, exactly once, through evc_host_api.deliver_outcome) or returns
 * EVC_EAGAIN (back-pressure, nothing accepted). Inbound messages are handed to
 * evc_host_api.dispatch on the loop thread; a non-zero return asks for
 * redelivery where the transport can redeliver (at-least-once transports).
 *
 * Every op is called on the loop thread. Every struct starts with struct_size
 * and only grows at its end; an op that is NULL, or lies beyond the plugin's
 * struct_size, is "not supported".
 */
#ifndef EVC_TRANSPORT_H
#define EVC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/config.h"
#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_transport evc_transport; /* the plugin's instance, opaque to the core */
struct evc_host_api;

/* A message, inbound or outbound. All pointers are borrowed for the duration
 * of the call that receives the struct; copy what you keep. */
typedef struct evc_message {
    const char *topic;       /* NUL-terminated, non-empty */
    const char *key;         /* NUL-terminated; "" when unkeyed */
    const void *payload;
    size_t payload_len;
    /* Inbound only (0 / -1 on publish): where the transport found it. */
    int32_t partition;       /* -1 when the transport has no partitions */
    int64_t offset;          /* -1 when the transport has no offsets */
} evc_message;

typedef enum evc_outcome_status {
    EVC_OUTCOME_ACKED = 1,            /* the bus confirmed it durably (per its guarantees) */
    EVC_OUTCOME_SENT_UNCONFIRMED = 2, /* handed to the network; no confirmation exists */
    EVC_OUTCOME_NOT_SENT = 3,         /* definitely not delivered (error, timeout, shutdown) */
} evc_outcome_status;

typedef enum evc_delivery {
    EVC_DELIVERY_AT_MOST_ONCE = 1,
    EVC_DELIVERY_AT_LEAST_ONCE = 2,
} evc_delivery;

/* What a configured instance really guarantees. */
typedef struct evc_transport_guarantees {
    uint32_t struct_size;
    evc_delivery delivery;
    bool per_key_order;   /* messages with one key arrive in publish order */
    bool durable;         /* accepted+acked messages survive a bus restart */
    bool replay;          /* a restarted consumer resumes from its committed position */
    bool redelivery;      /* a failed handler gets the message again */
} evc_transport_guarantees;

/* Counters since create; cheap to read. */
typedef struct evc_transport_stats {
    uint32_t struct_size;
    uint64_t published;     /* accepted by publish */
    uint64_t backpressured; /* publish calls answered EVC_EAGAIN */
    uint64_t acked, unconfirmed, not_sent; /* outcomes delivered */
    uint64_t received;      /* dispatched to the host */
    uint64_t lost;          /* gaps detected by the transport (at-most-once loss made visible) */
    uint64_t redelivered;
    /* Times the subscriptions became live, i.e. able to deliver: Kafka's
     * partition assignments to this member (a group join takes seconds);
     * 1 from start for a transport that delivers as soon as it is started.
     * A later field: a plugin whose copy stops before it cannot tell, and
     * evc_bus_live then says true. */
    uint64_t joined;
} evc_transport_stats;

/* Parameters the core hands to create. Borrowed during create only. */
typedef struct evc_transport_params {
    uint32_t struct_size;
    const char *endpoint;        /* "host:port" or a plugin-specific address */
    const char *client_id;       /* stable id of this process's role instance */
    const char *group_id;        /* consumer group for at-least-once transports */
    const evc_cfg_node *config;  /* the plugin's own section (transport.<name>), may be NULL */
} evc_transport_params;

typedef struct evc_transport_ops {
    uint32_t struct_size;
    /* Builds an instance; validates config (errors name file:line:column).
     * Must not start threads that deliver anything yet. On failure *out is
     * left NULL and everything allocated is freed. `host` is borrowed for the
     * instance's whole life. */
    int (*create)(const struct evc_host_api *host, const evc_transport_params *params,
                  evc_transport **out, evc_error *err);
    /* Declares interest in a topic; before or after start. */
    int (*subscribe)(evc_transport *t, const char *topic, evc_error *err);
    /* Connects, joins the loop (watch fds), begins delivering. */
    int (*start)(evc_transport *t, evc_error *err);
    /* EVC_OK: accepted, exactly one outcome with `token` will follow.
     * EVC_EAGAIN: back-pressure, no outcome will follow. Other: refused (bad
     * args, stopped), no outcome will follow. */
    int (*publish)(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err);
    /* Waits (running the host's loop as needed, never sleeping blindly) until
     * every accepted message has its outcome or timeout_ms passes:
     * EVC_OK or EVC_ETIMEDOUT. */
    int (*flush)(evc_transport *t, uint64_t timeout_ms, evc_error *err);
    /* Stops delivering; pending publishes get their outcome (NOT_SENT at
     * worst). Idempotent. */
    void (*stop)(evc_transport *t);
    /* Frees the instance; calls stop first if needed. NULL is a no-op. */
    void (*destroy)(evc_transport *t);
    void (*guarantees)(evc_transport *t, evc_transport_guarantees *out);
    void (*stats)(evc_transport *t, evc_transport_stats *out);
    /* ABI 1.2, optional. Declares interest in the messages of `topic` whose
     * key is one of keys[0..n-1] (n >= 1; each NUL-terminated, 0..255 bytes;
     * the array and strings are borrowed for the call). Before or after
     * start; called again for more keys of the same topic, never for a key
     * it already has. A transport that can filter upstream (at the broker or
     * proxy) delivers only those keys, so a process with one CP's engine
     * receives its own messages and not every CP's; it may deliver other
     * keys too (the core filters again, before any seal check). A later
     * subscribe of the same topic widens to every key. When absent the core
     * subscribes to the whole topic and filters locally. */
    int (*subscribe_keys)(evc_transport *t, const char *topic, const char *const *keys,
                          size_t n, evc_error *err);
} evc_transport_ops;

#ifdef __cplusplus
}
#endif
#endif
