/* test_dash.c: what the admin dashboard's feed starts from (central_dash_load.c)
 * against a real SQLite store: the tail of a long event log, the billed totals
 * of all time and of today, the newest tickets first. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "central_dash.h"
#include "fixture.h"

static void append_event(fx_store *f, int i)
{
    char mid[64], detail[160];
    snprintf(mid, sizeof mid, "msg-%05d", i);
    snprintf(detail, sizeof detail, "{\"cp_id\":\"CP_%03d\",\"driver_id\":null,\"text\":\"event %d\"}",
             i % 7, i);
    evc_event e = {.message_id = mid, .type = i % 2 ? "cp.state" : "supply.billed",
                   .source = "central", .detail_json = detail, .ts_ms = 1000 + i};
    evc_error err = {0};
    cr_assert_eq(evc_store_event_append(f->store, &e, 0, NULL, &err), EVC_OK, "%s", err.msg);
}

Test(dash, loads_the_newest_events_of_a_long_log_in_order)
{
    fx_store f;
    fx_store_open(&f);
    central c = {.store = f.store, .loop = f.loop};
    static central_dash d;
    memset(&d, 0, sizeof d);
    d.c = &c;
    evc_error err = {0};
    /* Empty log: nothing, no error. */
    cr_assert_eq(central_dash_load_events(&d, &err), EVC_OK, "%s", err.msg);
    cr_expect_eq(d.nev, 0);
    cr_assert_eq(evc_store_begin(f.store, &err), EVC_OK);
    for (int i = 1; i <= 517; i++)
        append_event(&f, i);
    cr_assert_eq(evc_store_commit(f.store, &err), EVC_OK);
    cr_assert_eq(central_dash_load_events(&d, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(d.nev, CENTRAL_DASH_EVENTS);
    /* Oldest first from ev_next (the ring is full): events 318..517. */
    for (size_t k = 0; k < d.nev; k++) {
        const central_dash_rec *r = &d.events[(d.ev_next + k) % CENTRAL_DASH_EVENTS];
        int i = 318 + (int)k;
        char want[32];
        snprintf(want, sizeof want, "event %d", i);
        cr_expect_str_eq(r->text, want);
        cr_expect_eq(r->ts, 1000 + i);
        snprintf(want, sizeof want, "CP_%03d", i % 7);
        cr_expect_str_eq(r->cp, want);
        cr_expect_str_eq(r->driver, "");
    }
    fx_store_close(&f);
}

static void bill(fx_store *f, const char *sid, const char *driver, int64_t ended, int64_t wh)
{
    fx_session(f, sid, driver, "CP_001", EVC_SESSION_SUPPLYING);
    evc_error err = {0};
    cr_assert_eq(evc_store_session_end_and_bill(f->store, sid, ended, wh, "unplugged", NULL, NULL,
                                                &err), EVC_OK, "%s", err.msg);
}

Test(dash, totals_of_all_time_and_today_and_newest_tickets_first)
{
    fx_store f;
    fx_store_open(&f);
    evc_charging_point cp;
    cr_assert_eq(evc_store_cp_get(f.store, "CP_001", &cp, NULL), EVC_OK);
    int64_t price = cp.price_cents_per_kwh;
    int64_t now = (int64_t)evc_wall_ms();
    int64_t today = central_dash_day_start(now);
    cr_assert(today <= now && now - today < 86400000 + 3600000);
    /* Two tickets yesterday, 23 today (more than the 20 kept). */
    char sid[64];
    bill(&f, "y-1", "driver1", today - 3600000, 1000);
    bill(&f, "y-2", "driver2", today - 60000, 2000);
    int64_t today_wh = 0, today_cents = 0;
    for (int i = 0; i < 23; i++) {
        snprintf(sid, sizeof sid, "t-%02d", i);
        bill(&f, sid, i % 2 ? "driver1" : "driver2", today + 1000 + i, 100 + i);
        today_wh += 100 + i;
        today_cents += evc_bill_cents(100 + i, price);
    }
    central c = {.store = f.store, .loop = f.loop};
    static central_dash d;
    memset(&d, 0, sizeof d);
    d.c = &c;
    d.today_start_ms = today;
    evc_error err = {0};
    cr_assert_eq(central_dash_load_tickets(&d, &err), EVC_OK, "%s", err.msg);
    cr_expect_eq(d.tickets_total, 25);
    cr_expect_eq(d.energy_today_wh, today_wh);
    cr_expect_eq(d.revenue_today_cents, today_cents);
    cr_expect_eq(d.energy_total_wh, today_wh + 3000);
    cr_expect_eq(d.revenue_total_cents,
                 today_cents + evc_bill_cents(1000, price) + evc_bill_cents(2000, price));
    cr_expect_geq(d.drivers, 2);
    cr_assert_eq(d.ntickets, CENTRAL_DASH_TICKETS);
    for (size_t i = 0; i < d.ntickets; i++) {
        snprintf(sid, sizeof sid, "t-%02d", 22 - (int)i);
        cr_expect_str_eq(d.tickets[i].session_id, sid, "ticket %zu", i);
    }
    /* A live ticket older than the 20th is not kept; a newer one goes first. */
    evc_ticket old = d.tickets[0];
    snprintf(old.session_id, sizeof old.session_id, "older");
    old.ended_ms = today - 1;
    central_dash_keep_ticket(&d, &old);
    cr_expect_str_eq(d.tickets[CENTRAL_DASH_TICKETS - 1].session_id, "t-03");
    evc_ticket newer = old;
    snprintf(newer.session_id, sizeof newer.session_id, "newest");
    newer.ended_ms = now + 5000;
    central_dash_keep_ticket(&d, &newer);
    cr_expect_str_eq(d.tickets[0].session_id, "newest");
    cr_expect_str_eq(d.tickets[1].session_id, "t-22");
    cr_expect_str_eq(d.tickets[CENTRAL_DASH_TICKETS - 1].session_id, "t-04");
    fx_store_close(&f);
}
