/* bus_pend.c: the ring of owed outcomes with its straggler table (see
 * bus_pend.h for why a ring). */
#include "bus_pend.h"

#include <stdbool.h>
#include <stdlib.h>

#define RING_MIN_CAP 64u
#define OVER_MIN_CAP 16u

/* ---- stragglers: open addressing, linear probing ------------------------ */

/* Fibonacci hashing: stragglers are sparse tokens, spread them out. */
static size_t over_home(uint64_t token, size_t cap)
{
    return (size_t)((token * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static void over_place(bus_pend_slot *slots, size_t cap, const bus_pend_slot *s)
{
    size_t i = over_home(s->token, cap);
    while (slots[i].token != 0)
        i = (i + 1) & (cap - 1);
    slots[i] = *s;
}

static int over_put(bus_pend *p, const bus_pend_slot *s)
{
    if ((p->over_count + 1) * 2 > p->over_cap) {
        size_t ncap = p->over_cap ? p->over_cap * 2 : OVER_MIN_CAP;
        bus_pend_slot *n = calloc(ncap, sizeof *n);
        if (!n)
            return EVC_ENOMEM;
        for (size_t i = 0; i < p->over_cap; i++)
            if (p->over[i].token != 0)
                over_place(n, ncap, &p->over[i]);
        free(p->over);
        p->over = n;
        p->over_cap = ncap;
    }
    over_place(p->over, p->over_cap, s);
    p->over_count++;
    return EVC_OK;
}

static bus_pend_slot *over_find(bus_pend *p, uint64_t token)
{
    if (p->over_count == 0)
        return NULL;
    for (size_t i = over_home(token, p->over_cap);; i = (i + 1) & (p->over_cap - 1)) {
        if (p->over[i].token == token)
            return &p->over[i];
        if (p->over[i].token == 0)
            return NULL;
    }
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void over_remove(bus_pend *p, bus_pend_slot *s)
{
    size_t mask = p->over_cap - 1;
    size_t i = (size_t)(s - p->over);
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (p->over[j].token == 0)
            break;
        size_t home = over_home(p->over[j].token, p->over_cap);
        /* move j back into the hole at i unless its home lies in (i, j] */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            p->over[i] = p->over[j];
            i = j;
        }
    }
    p->over[i] = (bus_pend_slot){0};
    p->over_count--;
}

/* ---- the ring ------------------------------------------------------------- */

static bus_pend_slot *ring_at(const bus_pend *p, uint64_t token)
{
    return &p->ring[(size_t)token & (p->ring_cap - 1)];
}

/* Keeps the invariant: head is owed, or head == last + 1 (ring empty). */
static void ring_skip_done(bus_pend *p)
{
    while (p->head <= p->last && ring_at(p, p->head)->token != p->head)
        p->head++;
}

static int ring_grow(bus_pend *p, size_t ncap)
{
    bus_pend_slot *n = calloc(ncap, sizeof *n);
    if (!n)
        return EVC_ENOMEM;
    for (uint64_t t = p->head; t <= p->last; t++) {
        bus_pend_slot *s = ring_at(p, t);
        if (s->token == t)
            n[(size_t)t & (ncap - 1)] = *s;
    }
    free(p->ring);
    p->ring = n;
    p->ring_cap = ncap;
    return EVC_OK;
}

/* Makes room for token `t` = last + 1: the ring must span head..t. */
static int ring_room(bus_pend *p, uint64_t t)
{
    if (t - p->head < p->ring_cap)
        return EVC_OK;
    size_t in_ring = p->count - p->over_count;
    if (in_ring * 2 >= p->ring_cap) {
        size_t ncap = p->ring_cap * 2;
        while (t - p->head >= ncap)
            ncap *= 2;
        return ring_grow(p, ncap);
    }
    /* Mostly holes: the oldest owed tokens are stragglers. */
    while (t - p->head >= p->ring_cap) {
        bus_pend_slot *s = ring_at(p, p->head);
        if (s->token == p->head) {
            if (over_put(p, s) != EVC_OK)
                return EVC_ENOMEM;
            *s = (bus_pend_slot){0};
        }
        p->head++;
    }
    ring_skip_done(p);
    return EVC_OK;
}

/* ---- API ----------------------------------------------------------------- */

int bus_pend_init(bus_pend *p)
{
    *p = (bus_pend){.head = 1};
    p->ring = calloc(RING_MIN_CAP, sizeof *p->ring);
    if (!p->ring)
        return EVC_ENOMEM;
    p->ring_cap = RING_MIN_CAP;
    return EVC_OK;
}

int bus_pend_add(bus_pend *p, evc_bus_outcome_cb cb, void *arg, uint64_t *token)
{
    uint64_t t = p->last + 1;
    if (!p->ring || ring_room(p, t) != EVC_OK)
        return EVC_ENOMEM;
    *ring_at(p, t) = (bus_pend_slot){.token = t, .cb = cb, .arg = arg};
    p->last = t;
    p->count++;
    *token = t;
    return EVC_OK;
}

bus_pend_slot *bus_pend_find(bus_pend *p, uint64_t token)
{
    if (token == 0 || token > p->last || !p->ring)
        return NULL;
    if (token < p->head)
        return over_find(p, token);
    bus_pend_slot *s = ring_at(p, token);
    return s->token == token ? s : NULL;
}

void bus_pend_remove(bus_pend *p, bus_pend_slot *s)
{
    p->count--;
    if (p->ring && s >= p->ring && s < p->ring + p->ring_cap) {
        uint64_t t = s->token;
        *s = (bus_pend_slot){0};
        if (t == p->head)
            ring_skip_done(p);
        return;
    }
    over_remove(p, s);
}

bus_pend_slot *bus_pend_oldest(bus_pend *p)
{
    if (p->over_count > 0) {
        for (size_t i = 0; i < p->over_cap; i++)
            if (p->over[i].token != 0)
                return &p->over[i];
    }
    if (p->ring && p->head <= p->last)
        return ring_at(p, p->head);
    return NULL;
}

void bus_pend_free(bus_pend *p)
{
    for (size_t i = 0; p->ring && i < p->ring_cap; i++)
        free(p->ring[i].detail);
    for (size_t i = 0; i < p->over_cap; i++)
        free(p->over[i].detail);
    free(p->ring);
    free(p->over);
    *p = (bus_pend){0};
}
