/* central_deadline.c: see central_deadline.h. */
#include "central_deadline.h"

#include <stdlib.h>
#include <string.h>

#include "evc/error.h"

void central_deadlines_free(central_deadlines *d)
{
    free(d->heap);
    free(d->pos);
    memset(d, 0, sizeof *d);
}

static void place(central_deadlines *d, size_t i, central_deadline_ent e)
{
    d->heap[i] = e;
    d->pos[e.ref] = (uint32_t)i + 1;
}

static void up(central_deadlines *d, size_t i)
{
    central_deadline_ent e = d->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (d->heap[p].due <= e.due)
            break;
        place(d, i, d->heap[p]);
        i = p;
    }
    place(d, i, e);
}

static void down(central_deadlines *d, size_t i)
{
    central_deadline_ent e = d->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        uint64_t best = e.due;
        if (l < d->n && d->heap[l].due < best)
            m = l, best = d->heap[l].due;
        if (l + 1 < d->n && d->heap[l + 1].due < best)
            m = l + 1;
        if (m == i)
            break;
        place(d, i, d->heap[m]);
        i = m;
    }
    place(d, i, e);
}

static int reserve_ref(central_deadlines *d, uint32_t ref)
{
    if (ref < d->npos)
        return EVC_OK;
    size_t n = d->npos ? d->npos : 64;
    while (n <= ref)
        n *= 2;
    uint32_t *p = realloc(d->pos, n * sizeof *p);
    if (!p)
        return EVC_ENOMEM;
    memset(p + d->npos, 0, (n - d->npos) * sizeof *p);
    d->pos = p;
    d->npos = n;
    return EVC_OK;
}

int central_deadline_set(central_deadlines *d, uint32_t ref, uint64_t due)
{
    if (reserve_ref(d, ref) != EVC_OK)
        return EVC_ENOMEM;
    if (d->pos[ref]) {
        size_t i = d->pos[ref] - 1;
        uint64_t old = d->heap[i].due;
        d->heap[i].due = due;
        if (due < old)
            up(d, i);
        else if (due > old)
            down(d, i);
        return EVC_OK;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        central_deadline_ent *h = realloc(d->heap, cap * sizeof *h);
        if (!h)
            return EVC_ENOMEM;
        d->heap = h;
        d->cap = cap;
    }
    place(d, d->n++, (central_deadline_ent){.due = due, .ref = ref});
    up(d, d->n - 1);
    return EVC_OK;
}

static void remove_at(central_deadlines *d, size_t i)
{
    d->pos[d->heap[i].ref] = 0;
    if (--d->n == i)
        return;
    uint64_t old = d->heap[i].due;
    place(d, i, d->heap[d->n]);
    if (d->heap[i].due < old)
        up(d, i);
    else
        down(d, i);
}

void central_deadline_clear(central_deadlines *d, uint32_t ref)
{
    if (ref < d->npos && d->pos[ref])
        remove_at(d, d->pos[ref] - 1);
}

void central_deadline_move(central_deadlines *d, uint32_t from, uint32_t to)
{
    if (from == to || from >= d->npos || !d->pos[from])
        return;
    if (reserve_ref(d, to) != EVC_OK) {
        /* Without room to name it, the deadline is dropped: its owner's
         * tick treats a missing deadline as none due (a supply's authorise
         * deadline: the CP's reply or supply.ended still closes it). */
        central_deadline_clear(d, from);
        return;
    }
    central_deadline_clear(d, to);
    size_t i = d->pos[from] - 1;
    d->pos[from] = 0;
    d->heap[i].ref = to;
    d->pos[to] = (uint32_t)i + 1;
}

bool central_deadline_pop_due(central_deadlines *d, uint64_t now, uint32_t *ref)
{
    if (d->n == 0 || d->heap[0].due > now)
        return false;
    *ref = d->heap[0].ref;
    remove_at(d, 0);
    return true;
}

bool central_deadline_get(const central_deadlines *d, uint32_t ref, uint64_t *due)
{
    if (ref >= d->npos || !d->pos[ref])
        return false;
    if (due)
        *due = d->heap[d->pos[ref] - 1].due;
    return true;
}
