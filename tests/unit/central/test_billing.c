/* test_billing.c: ending and billing a session exactly once against a real
 * SQLite store; unacknowledged tickets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "central_billing.h"
#include "fixture.h"

#define SID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SID2 "1f8fad5b-d9cb-469f-a165-70867728950e"

static int64_t balance(fx_store *f, const char *id)
{
    evc_user u;
    cr_assert_eq(evc_store_user_get(f->store, id, &u, NULL), EVC_OK);
    return u.balance_cents;
}

typedef struct seen {
    int n;
    char ids[4][64];
} seen;

static void seen_cb(void *arg, const evc_ticket *t)
{
    seen *s = arg;
    if (s->n < 4)
        snprintf(s->ids[s->n], sizeof s->ids[0], "%s", t->session_id);
    s->n++;
}

Test(billing, bills_once_whatever_the_repeats)
{
    fx_store f;
    fx_store_open(&f);
    fx_session(&f, SID, "driver1", "CP_001", EVC_SESSION_SUPPLYING);
    int64_t before = balance(&f, "driver1");
    evc_ticket t;
    bool already = true;
    evc_error err = {0};
    cr_assert_eq(central_bill(f.store, SID, 0, 1501, "unplugged", &t, &already, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_not(already);
    /* CP_001 costs 35 c/kWh: 1501 Wh -> (1501*35 + 500)/1000 = 53 cents. */
    cr_assert_eq(t.amount_cents, 53);
    cr_assert_eq(t.amount_cents, evc_bill_cents(1501, 35));
    cr_assert_eq(t.energy_wh, 1501);
    cr_assert_str_eq(t.driver_id, "driver1");
    cr_assert_str_eq(t.end_reason, "unplugged");
    cr_assert_eq(balance(&f, "driver1"), before - 53);

    for (int i = 0; i < 3; i++) {
        evc_ticket t2;
        /* A late report with other figures changes nothing. */
        cr_assert_eq(central_bill(f.store, SID, 0, 9999, "fault", &t2, &already, &err), EVC_OK,
                     "%s", err.msg);
        cr_assert(already);
        cr_assert_eq(t2.amount_cents, 53);
        cr_assert_str_eq(t2.end_reason, "unplugged");
    }
    cr_assert_eq(balance(&f, "driver1"), before - 53);
    evc_session s;
    cr_assert_eq(evc_store_session_get(f.store, SID, &s, NULL), EVC_OK);
    cr_assert_eq(s.state, EVC_SESSION_ENDED);
    cr_assert_eq(s.amount_cents, 53);
    fx_store_close(&f);
}

Test(billing, an_authorised_session_that_never_started_bills_its_energy)
{
    fx_store f;
    fx_store_open(&f);
    fx_session(&f, SID, "driver2", "CP_003", EVC_SESSION_AUTHORISED);
    evc_ticket t;
    bool already;
    cr_assert_eq(central_bill(f.store, SID, 0, 0, "not_plugged", &t, &already, NULL), EVC_OK);
    cr_assert_eq(t.amount_cents, 0);
    cr_assert_eq(balance(&f, "driver2"), 20000);
    fx_store_close(&f);
}

Test(billing, refusals_change_nothing)
{
    fx_store f;
    fx_store_open(&f);
    evc_ticket t;
    bool already;
    evc_error err = {0};
    cr_assert_eq(central_bill(f.store, SID, 0, 10, "unplugged", &t, &already, &err),
                 EVC_ENOTFOUND);
    fx_session(&f, SID, "driver1", "CP_001", EVC_SESSION_REQUESTED);
    cr_assert_eq(central_bill(f.store, SID, 0, 10, "unplugged", &t, &already, &err),
                 EVC_ECONFLICT, "a session never authorised is not billed");
    fx_session(&f, SID2, "driver1", "CP_002", EVC_SESSION_SUPPLYING);
    cr_assert_eq(central_bill(f.store, SID2, 0, -1, "unplugged", &t, &already, &err), EVC_EINVAL);
    cr_assert(strstr(err.msg, SID2), "%s", err.msg);
    cr_assert_eq(balance(&f, "driver1"), 15000);
    seen s = {0};
    cr_assert_eq(central_unacked_tickets(f.store, "driver1", seen_cb, &s, NULL), EVC_OK);
    cr_assert_eq(s.n, 0);
    /* The store is usable afterwards: no transaction left open. */
    cr_assert_eq(central_bill(f.store, SID2, 0, 1000, "unplugged", &t, &already, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_eq(t.amount_cents, 30);
    fx_store_close(&f);
}

Test(billing, tickets_stay_unacknowledged_until_the_driver_acks)
{
    fx_store f;
    fx_store_open(&f);
    fx_session(&f, SID, "driver1", "CP_001", EVC_SESSION_SUPPLYING);
    fx_session(&f, SID2, "driver2", "CP_002", EVC_SESSION_SUPPLYING);
    evc_ticket t;
    bool already;
    cr_assert_eq(central_bill(f.store, SID, 0, 100, "unplugged", &t, &already, NULL), EVC_OK);
    cr_assert_eq(central_bill(f.store, SID2, 0, 100, "fault", &t, &already, NULL), EVC_OK);
    seen s = {0};
    cr_assert_eq(central_unacked_tickets(f.store, "driver1", seen_cb, &s, NULL), EVC_OK);
    cr_assert_eq(s.n, 1, "only driver1's ticket");
    cr_assert_str_eq(s.ids[0], SID);
    cr_assert_eq(central_ticket_acked(f.store, SID, NULL), EVC_OK);
    cr_assert_eq(central_ticket_acked(f.store, SID, NULL), EVC_OK, "acking twice is fine");
    s.n = 0;
    cr_assert_eq(central_unacked_tickets(f.store, "driver1", seen_cb, &s, NULL), EVC_OK);
    cr_assert_eq(s.n, 0);
    /* A repeated end report does not make the ticket unacknowledged again. */
    cr_assert_eq(central_bill(f.store, SID, 0, 100, "unplugged", &t, &already, NULL), EVC_OK);
    cr_assert(already);
    cr_assert_eq(central_unacked_tickets(f.store, "driver1", seen_cb, &s, NULL), EVC_OK);
    cr_assert_eq(s.n, 0);
    s.n = 0;
    cr_assert_eq(central_unacked_tickets(f.store, "driver2", seen_cb, &s, NULL), EVC_OK);
    cr_assert_eq(s.n, 1);
    fx_store_close(&f);
}
