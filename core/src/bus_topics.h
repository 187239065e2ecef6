/* bus_topics.h: the bus's subscriptions -- topics, their handlers, and for
 * handlers that take only some keys, which keys (core-private, bus.c only).
 *
 * A topic keeps its handlers in the order added. Handlers that take every
 * key are listed in `all`; for keyed handlers a hash map from key to the
 * handlers that take it, so a message costs one lookup whatever the number of
 * keys (a load generator may subscribe thousands on one bus). What the
 * transport was asked is recorded too (`wide`, and `subscribed` per key), so
 * each key is asked for once and a topic's subscription only widens.
 *
 * Loop thread only.
 */
#ifndef EVC_BUS_TOPICS_H
#define EVC_BUS_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/bus.h"

typedef struct bus_handler {
    evc_bus_handler fn;
    void *arg; /* borrowed from the subscriber */
} bus_handler;

typedef struct bus_keyent {
    char *key;       /* owned; NULL = empty slot */
    uint64_t hash;
    bool subscribed; /* the transport was asked for this key */
    size_t *hidx;    /* indexes of the handlers taking this key, ascending; owned */
    size_t n, cap;
} bus_keyent;

typedef struct bus_topic {
    char *name; /* owned */
    bus_handler *handlers;
    size_t n, cap;
    size_t *all; /* indexes of the handlers taking every key, ascending; owned */
    size_t nall, all_cap;
    bool wide;   /* the transport was asked for every key of the topic */
    bus_keyent *keys; /* open addressing, power-of-two kcap; owned */
    size_t kcap, kcount;
} bus_topic;

typedef struct bus_topics {
    bus_topic *v; /* few topics: a linear scan beats hashing */
    size_t n, cap;
    uint64_t gen; /* changes at every handler added: dispatch re-reads its pointers */
} bus_topics;

/* Index of `name` or SIZE_MAX. */
size_t bus_topics_find(const bus_topics *ts, const char *name);

/* Adds a handler of `topic` taking keys[0..n-1], or every key when n == 0,
 * asking the transport (ops/t, borrowed) for what it does not deliver yet:
 * subscribe_keys for new keys when the op exists, else subscribe for the
 * whole topic. Errors as evc_bus_subscribe(_keys); on error no handler is
 * added (the transport may have been asked, which only widens delivery). */
int bus_topics_add(bus_topics *ts, const char *topic, const char *const *keys, size_t n,
                   evc_bus_handler fn, void *arg, const evc_transport_ops *ops,
                   evc_transport *t, evc_error *err);

/* Whether some handler of topic `ti` takes `key`: false means the message
 * can be dropped before anything else is spent on it. */
bool bus_topics_wants(const bus_topics *ts, size_t ti, const char *key);

/* Calls the handlers of topic `ti` that take msg->key, in the order added;
 * the first that fails stops the chain and its status is returned. Handlers
 * may subscribe meanwhile. */
int bus_topics_call(bus_topics *ts, size_t ti, const evc_message *msg);

void bus_topics_free(bus_topics *ts);

#endif
