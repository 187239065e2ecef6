/* central_index.c: see central_index.h. */
#include "central_index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "evc/error.h"

/* A per-process seed: CP and driver ids come from outside (registration,
 * logins), and a fixed hash would let someone pick ids that all collide. */
static uint64_t seed(void)
{
    static uint64_t s;
    static bool done;
    if (!done) {
        if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
            s = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&s;
        done = true;
    }
    return s;
}

uint32_t central_index_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed(); /* FNV-1a, then a 64-bit finaliser */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

void central_index_init(central_index *ix, central_index_key_fn key_of, const void *ctx)
{
    memset(ix, 0, sizeof *ix);
    ix->key_of = key_of;
    ix->ctx = ctx;
}

void central_index_free(central_index *ix)
{
    free(ix->hashes);
    free(ix->slots);
    ix->hashes = ix->slots = NULL;
    ix->cap = ix->n = 0;
}

void central_index_clear(central_index *ix)
{
    if (ix->slots)
        memset(ix->slots, 0xff, ix->cap * sizeof *ix->slots);
    ix->n = 0;
}

static void put(uint32_t *hashes, uint32_t *slots, size_t cap, uint32_t h, uint32_t slot)
{
    size_t i = h & (cap - 1);
    while (slots[i] != CENTRAL_INDEX_EMPTY)
        i = (i + 1) & (cap - 1);
    hashes[i] = h;
    slots[i] = slot;
}

static int grow(central_index *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    uint32_t *hashes = malloc(cap * sizeof *hashes), *slots = malloc(cap * sizeof *slots);
    if (!hashes || !slots || cap > (size_t)UINT32_MAX) {
        free(hashes);
        free(slots);
        return EVC_ENOMEM;
    }
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i] != CENTRAL_INDEX_EMPTY)
            put(hashes, slots, cap, ix->hashes[i], ix->slots[i]);
    free(ix->hashes);
    free(ix->slots);
    ix->hashes = hashes;
    ix->slots = slots;
    ix->cap = cap;
    return EVC_OK;
}

int central_index_add(central_index *ix, const char *key, uint32_t slot)
{
    if (!key || slot == CENTRAL_INDEX_EMPTY)
        return EVC_EINVAL;
    if ((ix->n + 1) * 2 > ix->cap && grow(ix) != EVC_OK)
        return EVC_ENOMEM;
    put(ix->hashes, ix->slots, ix->cap, central_index_hash(key), slot);
    ix->n++;
    return EVC_OK;
}

/* The position of (key, slot) -- any slot when want is EMPTY -- or cap. */
static size_t locate(const central_index *ix, const char *key, uint32_t want)
{
    if (!key || ix->n == 0)
        return ix->cap;
    uint32_t h = central_index_hash(key);
    for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        uint32_t s = ix->slots[i];
        if (s == CENTRAL_INDEX_EMPTY)
            return ix->cap;
        if (ix->hashes[i] == h && (want == CENTRAL_INDEX_EMPTY || s == want) &&
            strcmp(ix->key_of(ix->ctx, s), key) == 0)
            return i;
    }
}

bool central_index_find(const central_index *ix, const char *key, uint32_t *slot)
{
    size_t i = locate(ix, key, CENTRAL_INDEX_EMPTY);
    if (i == ix->cap)
        return false;
    if (slot)
        *slot = ix->slots[i];
    return true;
}

size_t central_index_find_all(const central_index *ix, const char *key, uint32_t *out,
                              size_t max)
{
    if (!key || ix->n == 0)
        return 0;
    uint32_t h = central_index_hash(key);
    size_t n = 0;
    for (size_t i = h & (ix->cap - 1); ix->slots[i] != CENTRAL_INDEX_EMPTY;
         i = (i + 1) & (ix->cap - 1)) {
        if (ix->hashes[i] == h && strcmp(ix->key_of(ix->ctx, ix->slots[i]), key) == 0) {
            if (n < max)
                out[n] = ix->slots[i];
            n++;
        }
    }
    return n;
}

bool central_index_remove(central_index *ix, const char *key, uint32_t slot)
{
    size_t i = locate(ix, key, slot);
    if (i == ix->cap)
        return false;
    /* Backward shift: no tombstones, so probes stay short however many
     * supplies come and go. */
    size_t mask = ix->cap - 1, j = i;
    for (;;) {
        ix->slots[i] = CENTRAL_INDEX_EMPTY;
        for (;;) {
            j = (j + 1) & mask;
            if (ix->slots[j] == CENTRAL_INDEX_EMPTY) {
                ix->n--;
                return true;
            }
            size_t home = ix->hashes[j] & mask;
            /* j's entry may move to the hole at i unless its home lies
             * cyclically in (i, j]. */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        ix->hashes[i] = ix->hashes[j];
        ix->slots[i] = ix->slots[j];
        i = j;
    }
}

bool central_index_rename(central_index *ix, const char *key, uint32_t from, uint32_t to)
{
    size_t i = locate(ix, key, from);
    if (i == ix->cap)
        return false;
    ix->slots[i] = to;
    return true;
}
