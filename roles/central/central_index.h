/* central_index.h: a small string-keyed hash index (open addressing, linear
 * probing) from an id to a slot number of one of Central's tables: CP by
 * id, open supply by session id, open supply by driver. The index does not
 * copy the keys: it keeps each entry's hash and slot, and reads a slot's
 * key back through key_of when it must compare, so the tables may move
 * (realloc) freely. Duplicate keys are allowed (a driver with two open
 * supplies after a restore): find returns one of them, remove and rename
 * name the exact (key, slot) entry. Loop thread only; O(1) on average. */
#ifndef CENTRAL_INDEX_H
#define CENTRAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The key of slot `slot`, borrowed from the table the index serves. */
typedef const char *(*central_index_key_fn)(const void *ctx, uint32_t slot);

typedef struct central_index {
    central_index_key_fn key_of;
    const void *ctx;              /* borrowed: the table's owner */
    uint32_t *hashes;             /* owned, cap entries */
    uint32_t *slots;              /* owned, cap entries; CENTRAL_INDEX_EMPTY = free */
    size_t cap, n;                /* cap a power of two (or 0); n <= cap / 2 */
} central_index;

#define CENTRAL_INDEX_EMPTY UINT32_MAX

/* An empty index (no memory until the first add). */
void central_index_init(central_index *ix, central_index_key_fn key_of, const void *ctx);
void central_index_free(central_index *ix);
/* Forgets every entry, keeps the memory. */
void central_index_clear(central_index *ix);
/* Adds (key, slot); key must be slot's key already. EVC_OK or EVC_ENOMEM. */
int central_index_add(central_index *ix, const char *key, uint32_t slot);
/* A slot whose key is `key`; false when none (or key NULL). */
bool central_index_find(const central_index *ix, const char *key, uint32_t *slot);
/* Every slot whose key is `key`, up to max of them into out; returns how
 * many there are (may be more than max). */
size_t central_index_find_all(const central_index *ix, const char *key, uint32_t *out,
                              size_t max);
/* Removes the entry (key, slot); false when it is not there. */
bool central_index_remove(central_index *ix, const char *key, uint32_t slot);
/* The entry (key, from) now names slot `to` (a table moved an element). */
bool central_index_rename(central_index *ix, const char *key, uint32_t from, uint32_t to);
/* The hash the index uses (exposed for the tests' collision cases). */
uint32_t central_index_hash(const char *key);

#endif
