/* test_energy.c: the engine's integer metering -- energy without drift,
 * cents, the power's seeded variation. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "engine_energy.h"
#include "evc/store.h"

Test(energy, one_hour_of_one_second_ticks_is_exact)
{
    engine_energy e;
    engine_energy_reset(&e);
    for (int i = 0; i < 3600; i++)
        engine_energy_add(&e, 7400, 1000);
    cr_assert_eq(e.wh, 7400, "an hour at 7400 W is 7400 Wh, got %lld", (long long)e.wh);
    cr_assert_eq(e.rem_wms, 0);
}

Test(energy, irregular_ticks_do_not_drift)
{
    /* The same hour cut at random points: timer jitter must not cost or
     * create energy. */
    srand(42);
    for (int round = 0; round < 20; round++) {
        engine_energy e;
        engine_energy_reset(&e);
        int64_t left = 3600000;
        int ticks = 0;
        while (left > 0) {
            int64_t ms = 900 + rand() % 300;
            if (ms > left)
                ms = left;
            engine_energy_add(&e, 11000, ms);
            left -= ms;
            ticks++;
        }
        cr_assert_gt(ticks, 3000);
        cr_assert_eq(e.wh, 11000, "round %d: %lld Wh", round, (long long)e.wh);
    }
}

Test(energy, varying_power_matches_the_exact_sum)
{
    engine_energy e;
    engine_energy_reset(&e);
    engine_power p;
    engine_power_init(&p, 7400, 5, 12345);
    __int128 wms = 0;
    for (int i = 0; i < 3600; i++) {
        int64_t w = engine_power_next(&p);
        int64_t ms = 950 + i % 101;
        engine_energy_add(&e, w, ms);
        wms += (__int128)w * ms;
        cr_assert_eq(e.wh, (int64_t)(wms / ENGINE_WMS_PER_WH), "tick %d", i);
    }
    cr_assert_eq(e.rem_wms, (int64_t)(wms % ENGINE_WMS_PER_WH));
}

Test(energy, tiny_ticks_accumulate)
{
    engine_energy e;
    engine_energy_reset(&e);
    for (int i = 0; i < 3600; i++)
        engine_energy_add(&e, 1, 1000); /* 1 W for an hour, second by second */
    cr_assert_eq(e.wh, 1);
    engine_energy_add(&e, -5, 1000);
    engine_energy_add(&e, 5, -1000);
    cr_assert_eq(e.wh, 1, "negative power or time adds nothing");
}

Test(energy, a_long_gap_does_not_overflow)
{
    engine_energy e;
    engine_energy_reset(&e);
    engine_energy_add(&e, 1000000, INT64_C(86400000) * 30); /* 1 MW for 30 days */
    cr_assert_eq(e.wh, INT64_C(1000000) * 24 * 30);
}

Test(cents, rounds_half_up_in_integers)
{
    cr_assert_eq(engine_cents(0, 35), 0);
    cr_assert_eq(engine_cents(1000, 35), 35);
    cr_assert_eq(engine_cents(7400, 35), 259);
    cr_assert_eq(engine_cents(1, 500), 1, "0.5 cent rounds up");
    cr_assert_eq(engine_cents(1, 499), 0);
    cr_assert_eq(engine_cents(3, 500), 2, "1.5 cents rounds up");
    cr_assert_eq(engine_cents(-1, 35), -1);
    cr_assert_eq(engine_cents(1, -35), -1);
    cr_assert_eq(engine_cents(INT64_MAX / 10, 1000), -1, "overflow is refused, not wrapped");
}

Test(cents, agrees_with_the_billing_helper)
{
    /* What the engine shows must be what Central bills. */
    for (int64_t wh = 0; wh < 20000; wh += 7)
        for (int64_t price = 0; price < 120; price += 13)
            cr_assert_eq(engine_cents(wh, price), evc_bill_cents(wh, price), "%lld Wh at %lld",
                         (long long)wh, (long long)price);
}

Test(power, stays_within_the_variation_and_is_reproducible)
{
    engine_power a, b;
    engine_power_init(&a, 7400, 5, 99);
    engine_power_init(&b, 7400, 5, 99);
    int64_t lo = INT64_MAX, hi = 0, sum = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t w = engine_power_next(&a);
        cr_assert_eq(w, engine_power_next(&b), "same seed, same sequence");
        cr_assert(w >= 7030 && w <= 7770, "%lld W outside 7400 +- 5%%", (long long)w);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
        sum += w;
    }
    cr_assert_lt(lo, 7100, "the variation is used");
    cr_assert_gt(hi, 7700);
    cr_assert(sum / 10000 > 7350 && sum / 10000 < 7450, "mean %lld", (long long)(sum / 10000));
    engine_power c;
    engine_power_init(&c, 7400, 5, 100);
    bool differs = false;
    engine_power_init(&a, 7400, 5, 99);
    for (int i = 0; i < 10; i++)
        differs |= engine_power_next(&a) != engine_power_next(&c);
    cr_assert(differs, "another seed, another sequence");
}

Test(power, no_variation_is_constant)
{
    engine_power p;
    engine_power_init(&p, 3700, 0, 1);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(engine_power_next(&p), 3700);
}
