/* test_hold.c: a loop hold (the process stopped, a long stall) must not turn
 * into false DISCONNECTED transitions (issue 14): after the hold the tick
 * runs before the heartbeats buffered meanwhile are read, as libuv runs
 * timers before I/O. Monitors get one heartbeat period to speak; one that
 * stays silent is DISCONNECTED after it; one that had timed out before the
 * hold stays DISCONNECTED. A real SQLite store and loop, no network. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "central_int.h"
#include "fixture.h"

typedef struct hx {
    fx_store f;
    central c;
    int ticks_after;        /* ticks since the hold */
    bool held;
    uint64_t resumed_ms;    /* the first tick after the hold */
    uint64_t cp2_gone_ms;   /* CP_002 (silent after the hold) DISCONNECTED */
    int false_disconnects;  /* CP_001 (speaking) seen DISCONNECTED */
    int cp3_back;           /* CP_003 (timed out before) seen anything else */
} hx;

static void heartbeat(hx *x, const char *id)
{
    central_cp *cp = central_cp_find(&x->c, id);
    cr_assert_not_null(cp);
    cp->heard = true;
    cp->last_hb_ms = evc_loop_now_ms(x->c.loop);
    cp->health = CENTRAL_HEALTH_OK;
    central_cp_refresh(&x->c, cp, "test heartbeat");
}

static central_cp_state state_of(hx *x, const char *id)
{
    return central_cp_find(&x->c, id)->state;
}

/* central.c's tick, then what the monitors' sockets hold. */
static void on_tick(evc_timer *t, void *arg)
{
    (void)t;
    hx *x = arg;
    uint64_t now = evc_loop_now_ms(x->c.loop);
    central_cps_refresh_due(&x->c);
    if (central_cp_find(&x->c, "CP_001")->heard &&
        state_of(x, "CP_001") == CENTRAL_CP_DISCONNECTED)
        x->false_disconnects++;
    if (x->held) {
        if (x->ticks_after++ == 0)
            x->resumed_ms = now;
        if (state_of(x, "CP_003") != CENTRAL_CP_DISCONNECTED)
            x->cp3_back++;
        if (!x->cp2_gone_ms && state_of(x, "CP_002") == CENTRAL_CP_DISCONNECTED)
            x->cp2_gone_ms = now;
    }
    heartbeat(x, "CP_001"); /* its monitor keeps speaking */
    if (!x->held)
        heartbeat(x, "CP_002"); /* this one falls silent with the hold */
}

static void on_hold(evc_timer *t, void *arg)
{
    (void)t;
    hx *x = arg;
    /* The hold itself: the loop thread does not run for 1.5 s (longer than
     * the heartbeat timeout), as under SIGSTOP. */
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 500000000};
    nanosleep(&ts, NULL);
    x->held = true;
}

static bool cp2_gone(void *arg) { return ((hx *)arg)->cp2_gone_ms != 0; }

Test(hold, no_false_disconnect_after_a_loop_hold)
{
    static hx x;
    memset(&x, 0, sizeof x);
    fx_store_open(&x.f);
    central *c = &x.c;
    c->loop = x.f.loop;
    c->store = x.f.store;
    c->tty = true;
    c->heartbeat_timeout_ms = 1000;
    c->heartbeat_interval_ms = 1000;
    evc_error err = {0};
    cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
    heartbeat(&x, "CP_003"); /* once: timed out well before the hold */
    evc_timer *tick = NULL, *hold = NULL;
    cr_assert_eq(evc_loop_timer(c->loop, 250, 250, on_tick, &x, &tick, &err), EVC_OK);
    cr_assert_eq(evc_loop_timer(c->loop, 1600, 0, on_hold, &x, &hold, &err), EVC_OK);
    cr_assert_eq(evc_loop_run_until(c->loop, cp2_gone, &x, 10000), EVC_OK,
                 "the silent CP_002 was never DISCONNECTED");
    cr_assert_eq(x.false_disconnects, 0, "CP_001 was DISCONNECTED though its monitor spoke");
    cr_assert_eq(x.cp3_back, 0, "CP_003, timed out before the hold, came back");
    cr_assert_geq(x.cp2_gone_ms - x.resumed_ms, 900,
                  "CP_002 DISCONNECTED %llu ms after the hold: before its heartbeat period",
                  (unsigned long long)(x.cp2_gone_ms - x.resumed_ms));
    evc_timer_close(tick);
    evc_timer_close(hold);
    central_tables_free(c);
    fx_store_close(&x.f);
}
