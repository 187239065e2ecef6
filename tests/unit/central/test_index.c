/* test_index.c: the hash index and the deadline heap Central's tables use
 * (central_index.c, central_deadline.c), and that the tables keep them in
 * step when supplies open and close in any order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_deadline.h"
#include "central_index.h"
#include "central_int.h"
#include "central_session.h"
#include "fixture.h"

typedef struct keys {
    char k[4096][16];
} keys;

static const char *key_of(const void *ctx, uint32_t slot) { return ((const keys *)ctx)->k[slot]; }

Test(index, finds_every_key_after_adds_and_removes)
{
    static keys t;
    central_index ix;
    central_index_init(&ix, key_of, &t);
    for (uint32_t i = 0; i < 4096; i++) {
        snprintf(t.k[i], sizeof t.k[i], "CP_%05u", i);
        cr_assert_eq(central_index_add(&ix, t.k[i], i), EVC_OK);
    }
    for (uint32_t i = 0; i < 4096; i += 2)
        cr_assert(central_index_remove(&ix, t.k[i], i));
    for (uint32_t i = 0; i < 4096; i++) {
        uint32_t got = 0;
        bool found = central_index_find(&ix, t.k[i], &got);
        cr_assert_eq(found, i % 2 == 1, "%s", t.k[i]);
        if (found)
            cr_assert_eq(got, i);
    }
    cr_assert_not(central_index_find(&ix, "CP_99999", NULL));
    cr_assert_not(central_index_find(&ix, NULL, NULL));
    central_index_free(&ix);
}

Test(index, duplicates_are_removed_and_renamed_one_by_one)
{
    static keys t;
    central_index ix;
    central_index_init(&ix, key_of, &t);
    snprintf(t.k[0], 16, "driver1");
    snprintf(t.k[1], 16, "driver1");
    snprintf(t.k[2], 16, "driver2");
    for (uint32_t i = 0; i < 3; i++)
        central_index_add(&ix, t.k[i], i);
    cr_assert(central_index_remove(&ix, "driver1", 0));
    cr_assert_not(central_index_remove(&ix, "driver1", 0), "gone already");
    uint32_t got;
    cr_assert(central_index_find(&ix, "driver1", &got));
    cr_assert_eq(got, 1u, "the other supply of driver1");
    /* The table moves slot 2 to slot 0. */
    memcpy(t.k[0], t.k[2], 16);
    cr_assert(central_index_rename(&ix, "driver2", 2, 0));
    cr_assert(central_index_find(&ix, "driver2", &got));
    cr_assert_eq(got, 0u);
    central_index_free(&ix);
}

Test(deadline, pops_in_order_of_due_after_moves_and_clears)
{
    central_deadlines d = {0};
    for (uint32_t r = 0; r < 1000; r++)
        cr_assert_eq(central_deadline_set(&d, r, 10000 - (uint64_t)r * 7 % 1000), EVC_OK);
    central_deadline_set(&d, 5, 1);     /* earlier */
    central_deadline_set(&d, 6, 20000); /* later */
    central_deadline_clear(&d, 7);
    central_deadline_clear(&d, 999);
    central_deadline_move(&d, 998, 999);
    uint64_t due;
    cr_assert(central_deadline_get(&d, 999, &due));
    cr_assert_not(central_deadline_get(&d, 998, NULL));
    uint64_t last = 0;
    uint32_t ref, n = 0;
    cr_assert_not(central_deadline_pop_due(&d, 0, &ref), "nothing due at 0");
    while (central_deadline_pop_due(&d, 15000, &ref)) {
        uint64_t at = ref == 5 ? 1 : 10000 - (uint64_t)(ref == 999 ? 998 : ref) * 7 % 1000;
        cr_assert_geq(at, last, "ref %u out of order", ref);
        last = at;
        n++;
    }
    cr_assert_eq(n, 997u, "all but 6 (later), 7 and 998 (gone)");
    cr_assert(central_deadline_pop_due(&d, 20000, &ref));
    cr_assert_eq(ref, 6u);
    central_deadlines_free(&d);
}

/* Supplies opened and closed in a scrambled order: every open one is found
 * by session, by driver and from its CP; closed ones nowhere. */
Test(index, the_tables_stay_consistent_as_supplies_come_and_go)
{
    static central c;
    fx_store f;
    fx_store_open(&f);
    memset(&c, 0, sizeof c);
    c.loop = f.loop;
    c.store = f.store;
    c.heartbeat_timeout_ms = 3000;
    c.tty = true; /* no plain-mode lines */
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        evc_charging_point row = {0};
        snprintf(row.id, sizeof row.id, "CP_%04d", i);
        cr_assert_not_null(central_cp_add(&c, &row));
    }
    cr_assert_eq(c.by_state[CENTRAL_CP_DISCONNECTED], (size_t)N);
    bool open[N] = {0};
    for (int round = 0; round < 3 * N; round++) {
        int i = (round * 37) % N;
        char sid[64], drv[32], cp[32];
        snprintf(sid, sizeof sid, "s-%04d", i);
        snprintf(drv, sizeof drv, "driver%d", i % 50);
        snprintf(cp, sizeof cp, "CP_%04d", i);
        if (!open[i]) {
            central_supply s = {.phase = CENTRAL_SUPPLY_AUTHORISED};
            snprintf(s.id, sizeof s.id, "%s", sid);
            snprintf(s.driver_id, sizeof s.driver_id, "%s", drv);
            snprintf(s.cp_id, sizeof s.cp_id, "%s", cp);
            cr_assert_not_null(central_supply_add(&c, &s));
        } else {
            central_supply_close(&c, central_supply_find(&c, sid), CENTRAL_SUPPLY_ENDED, "x");
        }
        open[i] = !open[i];
        size_t nopen = 0;
        for (int k = 0; k < N; k++) {
            char id[64], cpid[32];
            snprintf(id, sizeof id, "s-%04d", k);
            snprintf(cpid, sizeof cpid, "CP_%04d", k);
            central_supply *got = central_supply_find(&c, id);
            central_cp *cpk = central_cp_find(&c, cpid);
            cr_assert_not_null(cpk);
            cr_assert_eq(got != NULL, open[k], "%s", id);
            cr_assert_eq(central_cp_supply(&c, cpk), got, "%s's supply", cpid);
            if (got)
                cr_assert_str_eq(got->id, id);
            nopen += open[k];
        }
        cr_assert_eq(c.nopen, nopen);
    }
    central_tables_free(&c);
    fx_store_close(&f);
}
