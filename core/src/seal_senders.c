/* seal_senders.c: the verifier's memory of proven senders (seal_internal.h). */
#include "seal_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define CAP_INIT 64
#define WIDE_WORDS (EVC_SEAL_WINDOW / 64)
#define WIDE_BYTES (WIDE_WORDS * sizeof(uint64_t))
#define MORE_BYTES ((EVC_SEAL_EPOCHS - 1) * sizeof(seal_window))
#define EXPIRE_PER_CALL 8 /* bounded work per new sender; each record expires once */

/* ---- the table ------------------------------------------------------------- */

static uint32_t hash_kid(const seal_senders *t, const char *kid)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)kid, strlen(kid), t->hkey);
    uint32_t x;
    memcpy(&x, h, sizeof x);
    return x;
}

bool seal_senders_init(seal_senders *t, size_t max, int64_t forget_after_ms)
{
    memset(t, 0, sizeof *t);
    t->max = max == 0 || max > EVC_SEAL_SENDERS_MAX ? EVC_SEAL_SENDERS_MAX : max;
    while (t->max & (t->max - 1)) /* buckets are masked: powers of two */
        t->max &= t->max - 1;
    t->cap = t->max < CAP_INIT ? t->max : CAP_INIT;
    t->rec = malloc(t->cap * sizeof *t->rec);
    t->heads = malloc(t->cap * sizeof *t->heads);
    if (!t->rec || !t->heads) {
        free(t->rec);
        free(t->heads);
        return false;
    }
    memset(t->heads, 0xff, t->cap * sizeof *t->heads);
    t->free_head = t->newest = t->oldest = NIL;
    t->forget_after_ms = forget_after_ms;
    randombytes_buf(t->hkey, sizeof t->hkey);
    return true;
}

static void window_clear(seal_senders *t, seal_window *w)
{
    if (w->wide) {
        free(w->wide);
        t->extra_bytes -= WIDE_BYTES;
    }
    memset(w, 0, sizeof *w);
}

static void sender_clear(seal_senders *t, seal_sender *s)
{
    window_clear(t, &s->win);
    if (s->more) {
        for (int i = 0; i < EVC_SEAL_EPOCHS - 1; i++)
            window_clear(t, &s->more[i]);
        free(s->more);
        t->extra_bytes -= MORE_BYTES;
    }
    memset(s, 0, sizeof *s);
}

void seal_senders_free(seal_senders *t)
{
    if (!t->rec)
        return;
    for (size_t i = 0; i < t->used; i++)
        if (t->rec[i].kid[0])
            sender_clear(t, &t->rec[i]);
    free(t->rec);
    free(t->heads);
    memset(t, 0, sizeof *t);
}

size_t seal_senders_bytes(const seal_senders *t)
{
    return t->used * sizeof *t->rec + t->cap * sizeof *t->heads + t->extra_bytes;
}

static void lru_unlink(seal_senders *t, uint32_t i)
{
    seal_sender *s = &t->rec[i];
    if (s->older != NIL)
        t->rec[s->older].newer = s->newer;
    else
        t->oldest = s->newer;
    if (s->newer != NIL)
        t->rec[s->newer].older = s->older;
    else
        t->newest = s->older;
}

static void lru_push_newest(seal_senders *t, uint32_t i)
{
    seal_sender *s = &t->rec[i];
    s->older = t->newest;
    s->newer = NIL;
    if (t->newest != NIL)
        t->rec[t->newest].newer = i;
    else
        t->oldest = i;
    t->newest = i;
}

void seal_senders_touch(seal_senders *t, seal_sender *s)
{
    uint32_t i = (uint32_t)(s - t->rec);
    if (t->newest == i)
        return;
    lru_unlink(t, i);
    lru_push_newest(t, i);
}

static void remove_rec(seal_senders *t, uint32_t i)
{
    seal_sender *s = &t->rec[i];
    uint32_t *p = &t->heads[s->hash & (t->cap - 1)];
    while (*p != i)
        p = &t->rec[*p].next;
    *p = s->next;
    lru_unlink(t, i);
    sender_clear(t, s);
    s->next = t->free_head;
    t->free_head = i;
    t->n--;
}

/* Doubles the records and rebuilds the buckets; called when every record
 * is in use. The new records are not touched (not resident) until handed
 * out. false: at the bound or out of memory (the caller evicts). */
static bool grow(seal_senders *t)
{
    size_t ncap = t->cap * 2;
    if (ncap > t->max || ncap > NIL)
        return false;
    seal_sender *r = realloc(t->rec, ncap * sizeof *r);
    if (!r)
        return false;
    t->rec = r;
    uint32_t *h = realloc(t->heads, ncap * sizeof *h);
    if (!h)
        return false; /* rec is bigger but cap unchanged: still consistent */
    t->heads = h;
    memset(h, 0xff, ncap * sizeof *h);
    for (size_t i = 0; i < t->used; i++) {
        if (!r[i].kid[0])
            continue;
        uint32_t *b = &h[r[i].hash & (ncap - 1)];
        r[i].next = *b;
        *b = (uint32_t)i;
    }
    t->cap = ncap;
    return true;
}

seal_sender *seal_senders_get(seal_senders *t, const char *kid, bool create, int64_t now_ms)
{
    uint32_t h = hash_kid(t, kid);
    for (uint32_t i = t->heads[h & (t->cap - 1)]; i != NIL; i = t->rec[i].next)
        if (t->rec[i].hash == h && strcmp(t->rec[i].kid, kid) == 0)
            return &t->rec[i];
    if (!create)
        return NULL;
    /* Silent longer than max_age + max_skew: every message it had accepted
     * is stale now, so forgetting it lets no replay through. */
    for (int k = 0; k < EXPIRE_PER_CALL && t->oldest != NIL &&
                    t->rec[t->oldest].last_ms + t->forget_after_ms < now_ms;
         k++) {
        remove_rec(t, t->oldest);
        t->expired++;
    }
    if (t->free_head == NIL && t->used == t->cap && (t->n >= t->max || !grow(t))) {
        remove_rec(t, t->oldest); /* at the bound: the least recently heard */
        t->evicted++;
    }
    uint32_t i;
    if (t->free_head != NIL)
        t->free_head = t->rec[i = t->free_head].next;
    else
        i = (uint32_t)t->used++;
    seal_sender *s = &t->rec[i];
    memset(s, 0, sizeof *s);
    snprintf(s->kid, sizeof s->kid, "%s", kid);
    s->hash = h;
    s->last_ms = now_ms;
    uint32_t *b = &t->heads[h & (t->cap - 1)];
    s->next = *b;
    *b = i;
    lru_push_newest(t, i);
    t->n++;
    return s;
}

/* ---- replay windows ---------------------------------------------------------- */

static bool wide_get(const seal_window *w, uint64_t seq)
{
    uint64_t i = seq % EVC_SEAL_WINDOW;
    return (w->wide[i / 64] >> (i % 64)) & 1u;
}

static void wide_set(seal_window *w, uint64_t seq, bool on)
{
    uint64_t i = seq % EVC_SEAL_WINDOW, m = (uint64_t)1 << (i % 64);
    w->wide[i / 64] = on ? w->wide[i / 64] | m : w->wide[i / 64] & ~m;
}

/* Compact form, for seq <= top within the window. */
static bool compact_seen(const seal_window *w, uint64_t seq)
{
    uint64_t back = w->top - seq;
    return back < 64 ? (w->recent >> back) & 1u : seq >= w->floor;
}

static bool window_seen(const seal_window *w, uint64_t seq)
{
    return w->wide ? wide_get(w, seq) : compact_seen(w, seq);
}

/* To the full map, same answers; false: out of memory. */
static bool widen(seal_senders *t, seal_window *w)
{
    uint64_t *m = calloc(WIDE_WORDS, sizeof *m);
    if (!m)
        return false;
    seal_window c = *w;
    w->wide = m;
    for (uint64_t back = 0; back < EVC_SEAL_WINDOW && back < c.top; back++)
        if (compact_seen(&c, c.top - back))
            wide_set(w, c.top - back, true);
    t->extra_bytes += WIDE_BYTES;
    return true;
}

/* Back to the compact form when the accepted seqs below the 64 latest are
 * one run reaching down from top - 64 (the holes have left the window). */
static void narrow(seal_senders *t, seal_window *w)
{
    uint64_t recent = 0, floor = w->top >= 64 ? w->top - 63 : 1;
    for (uint64_t back = 0; back < 64 && back < w->top; back++)
        recent |= (uint64_t)wide_get(w, w->top - back) << back;
    bool run = true;
    for (uint64_t back = 64; back < EVC_SEAL_WINDOW && back < w->top; back++) {
        bool on = wide_get(w, w->top - back);
        if (on && !run)
            return; /* a hole under accepted seqs */
        if (on)
            floor = w->top - back;
        else
            run = false;
    }
    free(w->wide);
    t->extra_bytes -= WIDE_BYTES;
    w->wide = NULL;
    w->recent = recent;
    w->floor = floor;
}

/* Moves a compact window's top up to seq: the seqs leaving the 64 latest
 * join the run below them. false: they would leave a hole under accepted
 * seqs still in the window (the caller widens first). */
static bool compact_advance(seal_window *w, uint64_t seq)
{
    uint64_t floor = w->floor, lo = w->top >= 64 ? w->top - 63 : 1;
    /* x leaves the latest 64: the run [floor, x - 1] becomes [floor, x] when
     * x was accepted; else the run must be empty or out of the window. */
    for (uint64_t x = lo; x <= w->top && x + 64 <= seq; x++) {
        if (compact_seen(w, x))
            continue;
        if (floor != x && x - 1 + EVC_SEAL_WINDOW > seq)
            return false;
        floor = x + 1;
    }
    if (seq > w->top + 64) { /* never heard: w->top + 1 .. seq - 64 */
        if (floor != w->top + 1 && w->top + EVC_SEAL_WINDOW > seq)
            return false;
        floor = seq - 63;
    }
    uint64_t d = seq - w->top;
    w->recent = (d >= 64 ? 0 : w->recent << d) | 1u;
    w->floor = floor;
    w->top = seq;
    return true;
}

static bool window_advance(seal_senders *t, seal_window *w, uint64_t seq)
{
    if (!w->wide && compact_advance(w, seq))
        return true;
    if (!w->wide && !widen(t, w))
        return false; /* no memory: refused (availability, never a replay let in) */
    uint64_t d = seq - w->top;
    if (d >= EVC_SEAL_WINDOW)
        memset(w->wide, 0, WIDE_BYTES);
    else
        for (uint64_t q = w->top + 1; q <= seq; q++)
            wide_set(w, q, false);
    bool crossed = seq / EVC_SEAL_WINDOW != w->top / EVC_SEAL_WINDOW;
    w->top = seq;
    wide_set(w, seq, true);
    if (crossed) /* once per WINDOW seqs: O(1) a message */
        narrow(t, w);
    return true;
}

/* Marks seq <= top, within the window, not yet seen. */
static bool window_mark_late(seal_senders *t, seal_window *w, uint64_t seq)
{
    uint64_t back = w->top - seq;
    if (w->wide)
        wide_set(w, seq, true);
    else if (back < 64)
        w->recent |= (uint64_t)1 << back;
    else if (seq + 1 == w->floor)
        w->floor = seq;
    else if (widen(t, w))
        wide_set(w, seq, true);
    else
        return false;
    return true;
}

static seal_window *window_of(seal_sender *s, uint64_t ep)
{
    if (s->win.ep == ep)
        return &s->win;
    for (int i = 0; s->more && i < EVC_SEAL_EPOCHS - 1; i++)
        if (s->more[i].ep == ep)
            return &s->more[i];
    return NULL;
}

/* The window for a new incarnation: a free one, else the oldest's when ep
 * is newer than it. NULL: ep is older than every incarnation remembered,
 * whose messages can no longer be told from replays. */
static seal_window *window_new(seal_senders *t, seal_sender *s, uint64_t ep)
{
    if (s->win.ep == 0)
        return &s->win;
    if (!s->more && (s->more = calloc(EVC_SEAL_EPOCHS - 1, sizeof *s->more)) != NULL)
        t->extra_bytes += MORE_BYTES;
    seal_window *oldest = &s->win;
    for (int i = 0; s->more && i < EVC_SEAL_EPOCHS - 1; i++) {
        if (s->more[i].ep == 0)
            return &s->more[i];
        if (s->more[i].ep < oldest->ep)
            oldest = &s->more[i];
    }
    if (ep < oldest->ep)
        return NULL;
    window_clear(t, oldest);
    return oldest;
}

bool seal_sender_accept(seal_senders *t, seal_sender *s, uint64_t ep, uint64_t seq)
{
    if (ep == 0 || seq == 0)
        return false;
    seal_window *w = window_of(s, ep);
    if (!w) {
        if (!(w = window_new(t, s, ep)))
            return false;
        w->ep = ep;
        w->top = seq;
        w->recent = 1;
        w->floor = seq >= 64 ? seq - 63 : 1; /* nothing below the latest 64 yet */
        return true;
    }
    if (seq > w->top)
        return window_advance(t, w, seq);
    if (w->top - seq >= EVC_SEAL_WINDOW || window_seen(w, seq))
        return false;
    return window_mark_late(t, w, seq);
}

void seal_sender_unmark(seal_senders *t, seal_sender *s, uint64_t ep, uint64_t seq)
{
    seal_window *w = ep ? window_of(s, ep) : NULL;
    if (!w || seq > w->top || w->top - seq >= EVC_SEAL_WINDOW || !window_seen(w, seq))
        return;
    uint64_t back = w->top - seq;
    if (w->wide)
        wide_set(w, seq, false);
    else if (back < 64)
        w->recent &= ~((uint64_t)1 << back);
    else if (seq == w->floor)
        w->floor = seq + 1;
    else if (widen(t, w))
        wide_set(w, seq, false);
    /* else no memory: it stays marked and a redelivery is refused as a
     * replay (a lost message, never a replay let in) */
}
