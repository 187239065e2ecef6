/* bench_central: EV_Central's work per message with many CPs against few,
 * as ratios of the time per operation at SMALL and at BIG CPs, measured in
 * the same run (median of RUNS). Work that grows with the number of CPs (a
 * linear search) gives a ratio near BIG / SMALL = 20; the hash indexes and
 * the deadline heap keep it near 1 (measured 1.0-3.2: 20,000 CPs of ~450
 * bytes miss the caches that 1,000 fit in, more so on a busy machine, and
 * the heap is log n). Asserts only that the ratio is far from linear
 * (< 8, linear being 20); the numbers go to stderr. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "central_int.h"
#include "central_session.h"
#include "fixture.h"

#define RUNS 5
#define SMALL 1000
#define BIG 20000
#define OPS 200000
#define LINEAR_BOUND 8.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return v[n / 2];
}

static volatile size_t sink;

typedef struct bx {
    fx_store f;
    central c;
    size_t n;
    char (*ids)[32];
    uint32_t *order; /* OPS random CP indexes */
} bx;

/* A Central with n CPs (not in the store: the table only) and, with
 * supplies, one open supply of its own driver on each. */
static void bx_open(bx *x, size_t n, bool supplies)
{
    memset(x, 0, sizeof *x);
    fx_store_open(&x->f);
    central *c = &x->c;
    c->loop = x->f.loop;
    c->store = x->f.store;
    c->tty = true; /* no plain lines */
    c->heartbeat_timeout_ms = 3000;
    x->n = n;
    x->ids = calloc(n, sizeof *x->ids);
    x->order = malloc(OPS * sizeof *x->order);
    cr_assert(x->ids && x->order);
    for (size_t i = 0; i < n; i++) {
        evc_charging_point row = {.price_cents_per_kwh = 35};
        snprintf(x->ids[i], sizeof x->ids[i], "CP_%06zu", i);
        snprintf(row.id, sizeof row.id, "%s", x->ids[i]);
        cr_assert_not_null(central_cp_add(c, &row));
        if (supplies) {
            central_supply s = {.phase = CENTRAL_SUPPLY_SUPPLYING};
            snprintf(s.id, sizeof s.id, "s-%06zu", i);
            snprintf(s.driver_id, sizeof s.driver_id, "d%06zu", i);
            snprintf(s.cp_id, sizeof s.cp_id, "%s", x->ids[i]);
            cr_assert_not_null(central_supply_add(c, &s));
        }
    }
    uint64_t r = 88172645463325252ull;
    for (size_t k = 0; k < OPS; k++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        x->order[k] = (uint32_t)(r % n);
    }
}

static void bx_close(bx *x)
{
    central_tables_free(&x->c);
    free(x->ids);
    free(x->order);
    fx_store_close(&x->f);
}

typedef double (*bench_fn)(bx *x);

/* Seconds per op of fn at SMALL and BIG, median of RUNS each. */
static double ratio_of(const char *what, bench_fn fn, bool supplies)
{
    double t[2][RUNS];
    size_t sizes[2] = {SMALL, BIG};
    for (int s = 0; s < 2; s++) {
        bx *x = calloc(1, sizeof *x);
        bx_open(x, sizes[s], supplies);
        fn(x); /* warm-up: first heartbeats change states, caches fill */
        for (int r = 0; r < RUNS; r++)
            t[s][r] = fn(x);
        bx_close(x);
        free(x);
    }
    double small = median(t[0], RUNS), big = median(t[1], RUNS);
    fprintf(stderr, "bench_central: %-28s %7.1f ns/op at %5d CPs  %7.1f ns/op at %5d CPs  "
            "ratio %.2f\n", what, small * 1e9, SMALL, big * 1e9, BIG, big / small);
    return big / small;
}

static double cp_find(bx *x)
{
    double t0 = now_s();
    for (size_t k = 0; k < OPS; k++)
        sink += (size_t)central_cp_find(&x->c, x->ids[x->order[k]]);
    return (now_s() - t0) / OPS;
}

Test(bench, cp_find)
{
    cr_assert_lt(ratio_of("central_cp_find", cp_find, false), LINEAR_BOUND);
}

/* On each HB: the CP by id, its state re-derived (its supply looked at)
 * and its deadline moved to the latest (the heap's worst case: each due is
 * later than every other, as when heartbeats come in turn). */
static double heartbeat(bx *x)
{
    double t0 = now_s();
    for (size_t k = 0; k < OPS; k++) {
        central_cp *cp = central_cp_find(&x->c, x->ids[x->order[k]]);
        cp->heard = true;
        cp->last_hb_ms = evc_loop_now_ms(x->c.loop);
        x->c.heartbeat_timeout_ms++;
        central_cp_refresh(&x->c, cp, "heartbeat");
    }
    x->c.ntouched = 0; /* the dashboard's scan would take them */
    for (size_t i = 0; i < x->n; i++)
        x->c.cps[i].touched = false;
    return (now_s() - t0) / OPS;
}

Test(bench, heartbeat)
{
    cr_assert_lt(ratio_of("heartbeat (find+refresh)", heartbeat, true), LINEAR_BOUND);
}

/* The 250 ms tick with every CP heard and nothing due: it must not look at
 * every CP. Per tick. */
static double tick(bx *x)
{
    for (size_t i = 0; i < x->n; i++) {
        central_cp *cp = &x->c.cps[i];
        cp->heard = true;
        cp->last_hb_ms = evc_loop_now_ms(x->c.loop);
        central_cp_refresh(&x->c, cp, "heartbeat");
    }
    enum { TICKS = 20000 };
    double t0 = now_s();
    for (int k = 0; k < TICKS; k++) {
        central_cps_refresh_due(&x->c);
        central_supply_tick(&x->c);
    }
    return (now_s() - t0) / TICKS;
}

Test(bench, tick)
{
    cr_assert_lt(ratio_of("tick, nothing due", tick, true), LINEAR_BOUND);
}

/* Telemetry's lookups: the supply by session, the driver's supply, the
 * CP's supply. */
static double supply_find(bx *x)
{
    char sid[32], drv[32];
    double t0 = now_s();
    for (size_t k = 0; k < OPS; k++) {
        snprintf(sid, sizeof sid, "s-%06u", x->order[k]);
        snprintf(drv, sizeof drv, "d%06u", x->order[k]);
        central_supply *s = central_supply_find(&x->c, sid);
        uint32_t slot = 0;
        sink += central_index_find(&x->c.driver_ix, drv, &slot) ? slot : 0;
        sink += (size_t)central_cp_supply(&x->c, central_cp_find(&x->c, s->cp_id));
    }
    return (now_s() - t0) / OPS;
}

Test(bench, supply_find)
{
    cr_assert_lt(ratio_of("supply by session/driver/CP", supply_find, true), LINEAR_BOUND);
}

/* Start-up: central_cps_load of 2,500 against 50,000 CPs in the database,
 * per CP (the routes of the HTTP API are not in it: no web here). */
static double load_per_cp(size_t n, double *total)
{
    fx_store f;
    fx_store_open(&f);
    evc_error err = {0};
    cr_assert_eq(evc_store_begin(f.store, &err), EVC_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        evc_charging_point row = {.price_cents_per_kwh = 35};
        snprintf(row.id, sizeof row.id, "L_%06zu", i);
        snprintf(row.location, sizeof row.location, "Street %zu", i);
        cr_assert_eq(evc_store_cp_insert(f.store, &row, &err), EVC_OK, "%s", err.msg);
    }
    cr_assert_eq(evc_store_commit(f.store, &err), EVC_OK, "%s", err.msg);
    double t[3];
    for (int r = 0; r < 3; r++) {
        central *c = calloc(1, sizeof *c);
        c->loop = f.loop;
        c->store = f.store;
        c->tty = true;
        double t0 = now_s();
        cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
        t[r] = now_s() - t0;
        cr_assert_geq(c->ncps, n);
        central_tables_free(c);
        free(c);
    }
    fx_store_close(&f);
    *total = median(t, 3);
    return *total / (double)n;
}

Test(bench, load)
{
    double small_total, big_total;
    double small = load_per_cp(2500, &small_total), big = load_per_cp(50000, &big_total);
    fprintf(stderr, "bench_central: %-28s %7.1f us/CP at  2500 CPs  %7.1f us/CP at 50000 CPs  "
            "ratio %.2f  (%.3f s for 50,000)\n", "central_cps_load", small * 1e6, big * 1e6,
            big / small, big_total);
    cr_assert_lt(big / small, LINEAR_BOUND);
}
