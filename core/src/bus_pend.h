/* bus_pend.h: the bus's table of accepted publishes still owed an outcome
 * (core-private, used by bus.c only).
 *
 * Tokens are handed out in increasing order and most outcomes come back in
 * roughly that order, so the table is a ring indexed by token: the slot of a
 * token is token & (cap - 1), the ring covers the tokens from the oldest
 * still owed to the newest, and an insert or a lookup touches one slot next
 * to the previous one (cache-friendly: a hashed table with 200,000 owed
 * outcomes missed the cache on every publish, the bus's main cost in
 * bench_transport_zmq). A straggler (an old token whose outcome is late while
 * many newer ones completed) would stretch the ring without bound; once the
 * ring is more than half empty, the oldest owed tokens move to a small hash
 * table instead, so memory stays proportional to what is owed.
 *
 * Loop thread only. A slot pointer returned by find/oldest is valid until
 * the next add or remove.
 */
#ifndef EVC_BUS_PEND_H
#define EVC_BUS_PEND_H

#include <stddef.h>
#include <stdint.h>

#include "evc/bus.h"

typedef struct bus_pend_slot {
    uint64_t token; /* 0 = empty */
    evc_bus_outcome_cb cb;
    void *arg;    /* borrowed from the publisher, handed back to cb */
    int status;   /* 0 = waiting; else an outcome held back (bus.c) */
    char *detail; /* owned copy for a held-back outcome, may be NULL */
} bus_pend_slot;

typedef struct bus_pend {
    bus_pend_slot *ring; /* power-of-two capacity, owned */
    size_t ring_cap;
    uint64_t head;       /* oldest token the ring may hold; the ring holds none below */
    uint64_t last;       /* newest token handed out (0: none yet) */
    bus_pend_slot *over; /* stragglers below head: open addressing, owned */
    size_t over_cap, over_count;
    size_t count;        /* owed in ring and overflow together */
} bus_pend;

/* Prepares an empty table with room for a first burst; EVC_OK or
 * EVC_ENOMEM. A zeroed bus_pend is valid for bus_pend_free. */
int bus_pend_init(bus_pend *p);

/* Records a new owed outcome under the next token, returned in *token.
 * EVC_OK, or EVC_ENOMEM with nothing recorded. */
int bus_pend_add(bus_pend *p, evc_bus_outcome_cb cb, void *arg, uint64_t *token);

/* The slot of `token`, or NULL when it is not owed (never given, or done). */
bus_pend_slot *bus_pend_find(bus_pend *p, uint64_t token);

/* Forgets the slot (its detail must already be freed or taken). */
void bus_pend_remove(bus_pend *p, bus_pend_slot *s);

/* Some owed slot (the oldest straggler, else the oldest in the ring) or NULL
 * when nothing is owed. */
bus_pend_slot *bus_pend_oldest(bus_pend *p);

/* Frees the tables and every detail still held. */
void bus_pend_free(bus_pend *p);

#endif
