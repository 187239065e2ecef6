/* test_bus_pend.c: the bus's table of owed outcomes (core/src/bus_pend.c)
 * against a plain model: in-order completion, out-of-order completion, and
 * stragglers that outlive many newer tokens (they move to the overflow table
 * and stay findable), with memory proportional to what is owed. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bus_pend.h"

#define MAXTOK 200000

static unsigned char owed[MAXTOK + 1]; /* the model: 1 = owed */

static void check_all(bus_pend *p, uint64_t upto)
{
    size_t n = 0;
    for (uint64_t t = 1; t <= upto; t++) {
        bus_pend_slot *s = bus_pend_find(p, t);
        if (owed[t]) {
            cr_assert_not_null(s, "token %llu owed but not found", (unsigned long long)t);
            cr_assert_eq(s->token, t);
            cr_assert_eq(s->arg, (void *)(uintptr_t)t, "token %llu: wrong slot",
                         (unsigned long long)t);
            n++;
        } else {
            cr_assert_null(s, "token %llu done but still found", (unsigned long long)t);
        }
    }
    cr_assert_eq(p->count, n);
    cr_assert_null(bus_pend_find(p, 0));
    cr_assert_null(bus_pend_find(p, upto + 1));
}

static uint64_t add(bus_pend *p)
{
    uint64_t t = 0;
    cr_assert_eq(bus_pend_add(p, NULL, (void *)(uintptr_t)(p->last + 1), &t), EVC_OK);
    cr_assert_eq(t, p->last);
    owed[t] = 1;
    return t;
}

static void done(bus_pend *p, uint64_t t)
{
    bus_pend_slot *s = bus_pend_find(p, t);
    cr_assert_not_null(s);
    bus_pend_remove(p, s);
    owed[t] = 0;
}

Test(bus_pend, in_order_burst)
{
    bus_pend p;
    memset(owed, 0, sizeof owed);
    cr_assert_eq(bus_pend_init(&p), EVC_OK);
    for (int i = 0; i < 100000; i++)
        add(&p);
    check_all(&p, p.last);
    for (uint64_t t = 1; t <= 100000; t++)
        done(&p, t);
    check_all(&p, p.last);
    cr_assert_null(bus_pend_oldest(&p));
    cr_assert_eq(p.over_count, 0, "in-order traffic never needs the overflow table");
    bus_pend_free(&p);
}

Test(bus_pend, random_order)
{
    bus_pend p;
    memset(owed, 0, sizeof owed);
    cr_assert_eq(bus_pend_init(&p), EVC_OK);
    srand(7);
    uint64_t live[4096];
    size_t nlive = 0;
    for (int i = 0; i < 150000; i++) {
        if (nlive < 4096 && (nlive == 0 || rand() % 3 != 0)) {
            live[nlive++] = add(&p);
        } else {
            size_t k = (size_t)rand() % nlive;
            done(&p, live[k]);
            live[k] = live[--nlive];
        }
        if (i % 25000 == 0)
            check_all(&p, p.last);
    }
    check_all(&p, p.last);
    /* Never more than a few times the owed count, whatever the order. */
    cr_assert_leq(p.ring_cap, 4 * 4096 + 64);
    while (bus_pend_oldest(&p))
        bus_pend_remove(&p, bus_pend_oldest(&p));
    cr_assert_eq(p.count, 0);
    bus_pend_free(&p);
}

Test(bus_pend, stragglers_move_aside_and_memory_stays_bounded)
{
    bus_pend p;
    memset(owed, 0, sizeof owed);
    cr_assert_eq(bus_pend_init(&p), EVC_OK);
    uint64_t s1 = add(&p), s2 = add(&p);
    /* 190,000 publishes complete in order around two that never do. */
    for (int i = 0; i < 190000; i++) {
        uint64_t t = add(&p);
        if (i >= 10)
            done(&p, t - 10);
    }
    cr_assert_gt(p.over_count, 0, "the stragglers moved to the overflow table");
    cr_assert_leq(p.ring_cap, 256, "ring sized by what is owed (12), not by the span");
    check_all(&p, p.last);
    done(&p, s2);
    done(&p, s1);
    cr_assert_eq(p.over_count, 0);
    check_all(&p, p.last);
    bus_pend_free(&p);
}

Test(bus_pend, details_freed)
{
    bus_pend p;
    memset(owed, 0, sizeof owed);
    cr_assert_eq(bus_pend_init(&p), EVC_OK);
    uint64_t t = add(&p);
    bus_pend_find(&p, t)->detail = strdup("kept until free"); /* leak check under ASan */
    for (int i = 0; i < 1000; i++)
        done(&p, add(&p));
    bus_pend_find(&p, t)->detail[0] = 'K'; /* still there after moving aside */
    bus_pend_free(&p);
}
