/* zmqt_seq.c: byte-keyed counters for the publisher sequence numbers. */
#include "zmqt_seq.h"

#include <stdlib.h>
#include <string.h>

static uint64_t zmqt_seq_hash(const unsigned char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: short keys, no adversary that matters */
    for (size_t i = 0; i < n; i++) {
        h ^= k[i];
        h *= 1099511628211ull;
    }
    return h;
}

static zmqt_seq_slot *zmqt_seq_find(zmqt_seq_slot *slots, size_t cap, uint64_t h,
                                    const unsigned char *k, size_t n)
{
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        zmqt_seq_slot *s = &slots[i];
        if (s->key == NULL || (s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0))
            return s;
        i = (i + 1) & (cap - 1);
    }
}

static int zmqt_seq_grow(zmqt_seqmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    zmqt_seq_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        zmqt_seq_slot *o = &m->slots[i];
        if (o->key != NULL)
            *zmqt_seq_find(ns, ncap, o->hash, o->key, o->klen) = *o;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

uint64_t *zmqt_seqmap_get(zmqt_seqmap *m, const void *key, size_t klen, bool *created)
{
    *created = false;
    /* Keep the load under 1/2 so that probes stay short. */
    if ((m->count + 1) * 2 > m->cap && zmqt_seq_grow(m) != 0)
        return NULL;
    uint64_t h = zmqt_seq_hash(key, klen);
    zmqt_seq_slot *s = zmqt_seq_find(m->slots, m->cap, h, key, klen);
    if (s->key == NULL) {
        s->key = malloc(klen ? klen : 1);
        if (s->key == NULL)
            return NULL;
        memcpy(s->key, key, klen);
        s->klen = klen;
        s->hash = h;
        s->value = 0;
        m->count++;
        *created = true;
    }
    return &s->value;
}

size_t zmqt_seqmap_count(const zmqt_seqmap *m) { return m->count; }

void zmqt_seqmap_clear(zmqt_seqmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = 0;
}

void zmqt_seqmap_free(zmqt_seqmap *m)
{
    zmqt_seqmap_clear(m);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}
