/* zmqt_seq.h: sequence counters keyed by bytes (a topic on the publishing
 * side; publisher id + topic on the subscribing side). Open addressing,
 * grows by doubling; keys are copied. Loop thread only. */
#ifndef ZMQT_SEQ_H
#define ZMQT_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zmqt_seq_slot {
    uint64_t hash;
    uint64_t value;
    size_t klen;
    unsigned char *key; /* owned; NULL = empty slot */
} zmqt_seq_slot;

typedef struct zmqt_seqmap {
    zmqt_seq_slot *slots;
    size_t cap;   /* power of two or 0 */
    size_t count;
} zmqt_seqmap;

/* Returns the value slot for key (created with value 0 and *created = true
 * when absent) or NULL when out of memory. The pointer is valid until the
 * next call that may create an entry. */
uint64_t *zmqt_seqmap_get(zmqt_seqmap *m, const void *key, size_t klen, bool *created);
size_t zmqt_seqmap_count(const zmqt_seqmap *m);
/* Forgets every entry (memory of the table kept). */
void zmqt_seqmap_clear(zmqt_seqmap *m);
void zmqt_seqmap_free(zmqt_seqmap *m);

#endif
