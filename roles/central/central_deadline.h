/* central_deadline.h: an indexed min-heap of deadlines, one at most per
 * reference (a slot number of one of Central's tables): the next moment a
 * CP's state may change by itself (heartbeat timeout, end of a reported
 * fault), the authorise deadline of a supply. Setting, moving and clearing
 * a deadline is O(log n); the periodic tick looks only at the ones due, not
 * at every CP. Loop thread only. */
#ifndef CENTRAL_DEADLINE_H
#define CENTRAL_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct central_deadline_ent {
    uint64_t due;  /* monotonic ms */
    uint32_t ref;
} central_deadline_ent;

typedef struct central_deadlines {
    central_deadline_ent *heap; /* owned; n entries, min at 0 */
    size_t n, cap;
    uint32_t *pos;              /* owned; pos[ref] = heap index + 1, 0 = none */
    size_t npos;
} central_deadlines;

void central_deadlines_free(central_deadlines *d);
/* ref's deadline is `due` now (added or moved). EVC_OK or EVC_ENOMEM. */
int central_deadline_set(central_deadlines *d, uint32_t ref, uint64_t due);
/* ref has no deadline any more (nothing when it had none). */
void central_deadline_clear(central_deadlines *d, uint32_t ref);
/* Ref `from` is called `to` from now on (its table moved it); `to` must
 * have no deadline. */
void central_deadline_move(central_deadlines *d, uint32_t from, uint32_t to);
/* The earliest deadline <= now, removed from the heap; false when none. */
bool central_deadline_pop_due(central_deadlines *d, uint64_t now, uint32_t *ref);
/* ref's deadline, if it has one. */
bool central_deadline_get(const central_deadlines *d, uint32_t ref, uint64_t *due);

#endif
