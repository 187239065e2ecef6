/* seal_internal.h: the verifier's memory of proven senders (seal_senders.c).
 *
 * One record per kid: its replay windows (one per incarnation heard, up to
 * EVC_SEAL_EPOCHS) and its rate bucket, in a hash table that grows by
 * doubling up to a bound. Records are forgotten when they can no longer
 * matter (silent for longer than max_age + max_skew: every message they
 * accepted is stale by then) and, at the bound only, least recently heard
 * first (docs/SECURITY.md, "Replays").
 *
 * A replay window is compact while its sender's sequence has no holes (the
 * normal case: one topic, in order): the 64 latest seqs as bits, and below
 * them "every seq from floor up was accepted, none below". It answers
 * exactly as the full 1024-bit map would; the full map is allocated when a
 * hole appears (a lost or out-of-order message) and dropped again once the
 * holes have left the window. Records move when the table grows: never keep
 * a seal_sender pointer across a call that may create one.
 */
#ifndef EVC_SEAL_INTERNAL_H
#define EVC_SEAL_INTERNAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/seal.h"

/* A sealed message whose kid is a relay to a driver (EVC_SEAL_RELAY_PREFIX):
 * the bus drops one it holds no key for as another's message, quietly. */
bool seal_is_relay(const void *data, size_t len);

typedef struct seal_window {
    uint64_t ep;     /* incarnation; 0 = free */
    uint64_t top;    /* highest seq accepted */
    uint64_t recent; /* compact: bit i = seq top - i accepted (i < 64) */
    uint64_t floor;  /* compact: seqs in [floor, top - 64] accepted, none below */
    uint64_t *wide;  /* NULL = compact; else EVC_SEAL_WINDOW bits by seq % WINDOW, owned */
} seal_window;

typedef struct seal_sender {
    char kid[EVC_SEAL_KID_MAX]; /* "" = free record */
    seal_window win;            /* its first incarnation */
    /* Several incarnations at once: a sender restarted while its previous
     * self's messages are still on their way (a Kafka backlog), or whose
     * clock went back across the restart, is heard for both. */
    seal_window *more;          /* EVC_SEAL_EPOCHS - 1 more, owned; NULL until a 2nd is heard */
    double tokens;              /* rate bucket */
    int64_t last_ms;            /* last accepted message (or rate check): expiry, refill */
    uint32_t hash, next;        /* bucket chain (or free list) */
    uint32_t older, newer;      /* recency list */
} seal_sender;

typedef struct seal_senders {
    seal_sender *rec; /* cap records, owned; [0, used) handed out, the rest untouched */
    uint32_t *heads;  /* cap buckets (a power of two), owned */
    size_t cap, used, n, max;
    uint32_t free_head, newest, oldest;
    int64_t forget_after_ms; /* max_age + max_skew */
    size_t extra_bytes;      /* more and wide maps */
    uint64_t expired, evicted;
    unsigned char hkey[crypto_shorthash_KEYBYTES]; /* random: kids cannot be picked to collide */
} seal_senders;

/* max: 1..EVC_SEAL_SENDERS_MAX (0 = that). false: out of memory. */
bool seal_senders_init(seal_senders *t, size_t max, int64_t forget_after_ms);
void seal_senders_free(seal_senders *t);

/* kid's record; when absent and `create`, a new one (tokens 0, last_ms
 * now_ms), after forgetting expired records and, at the bound, the least
 * recently heard. NULL only when absent and !create. */
seal_sender *seal_senders_get(seal_senders *t, const char *kid, bool create, int64_t now_ms);

/* Marks s as the most recently heard. */
void seal_senders_touch(seal_senders *t, seal_sender *s);

/* Replay check and mark of (ep, seq); false = replay (or an incarnation
 * older than the EVC_SEAL_EPOCHS remembered, or no memory for a hole). */
bool seal_sender_accept(seal_senders *t, seal_sender *s, uint64_t ep, uint64_t seq);

/* Forgets that (ep, seq) was accepted. */
void seal_sender_unmark(seal_senders *t, seal_sender *s, uint64_t ep, uint64_t seq);

/* Heap bytes in use (records handed out, buckets, extra incarnations,
 * full maps); the records' allocation beyond them is address space only. */
size_t seal_senders_bytes(const seal_senders *t);

#endif
