/* test_money.c: the domain checks money needs (issue 11), through a real
 * bus and store (supply_sx.h): reports only from the session's CP, energy
 * bounded by power and time, the balance floor, and a failed login that
 * leaves an earlier one alone. */
#include "central_billing.h"
#include "supply_sx.h"

/* driver1 at CP_001 (35 c/kWh), authorised and supplying. */
static void running(sx *x, char corr[EVC_UUID_STR_SIZE])
{
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_002", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    int from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", corr);
    await_corr(x, from, "supply.update", "plug_in", corr);
    cp_says(x, "CP_001", "supply.started", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"started_at\":1000}", corr);
    await_corr(x, from, "supply.update", "supplying", corr);
}

static void ended(sx *x, const char *cp, const char *corr, int64_t wh, const char *reason)
{
    cp_says(x, cp, "supply.ended", corr,
            "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":%lld,"
            "\"started_at\":1000,\"ended_at\":2000,\"reason\":\"%s\"}",
            cp, corr, (long long)wh, reason);
}

Test(money, the_bound_covers_a_real_cp_and_not_a_forgery)
{
    /* 300 kW (the chaos test's engines, +5 % variation) for 3 s: 263 Wh. */
    cr_assert_geq(central_energy_bound_wh(350000, 10, 3000), 263);
    cr_assert_lt(central_energy_bound_wh(350000, 10, 60000), 1000000, "1000 kWh in a minute");
    cr_assert_eq(central_energy_bound_wh(350000, 10, -5), 1 + CENTRAL_ENERGY_SLACK_WH);
    cr_assert_eq(central_energy_bound_wh(10000000, 1000, INT64_MAX / 2), INT64_MAX);
    cr_assert_eq(central_energy_bound_wh(0, 10, 1000), INT64_MAX, "0: no bound");
    /* 150.00 EUR, floor 0: 14994 cents spent plus 3 s at 300 kW (250 Wh,
     * 9 cents at 35 c/kWh) reaches it; at 7.4 kW (6 Wh, 0 cents) not yet. */
    cr_assert(central_floor_reached(15000, 0, 14994, 300000, 35));
    cr_assert_not(central_floor_reached(15000, 0, 14994, 7400, 35));
    cr_assert_not(central_floor_reached(15000, -5000, 15000, 7400, 35), "floor below 0");
}

Test(money, reports_of_another_cp_change_nothing)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_002", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    int from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", corr);
    await_corr(x, from, "supply.update", "plug_in", corr);
    /* CP_002 claims CP_001's session started, draws, ended. */
    from = x->nout;
    cp_says(x, "CP_002", "supply.started", corr,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"started_at\":1000}", corr);
    cp_says(x, "CP_002", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"w\":7400,"
            "\"wh\":5,\"cents\":1}", corr);
    ended(x, "CP_002", corr, 5, "unplugged");
    settle(x);
    cr_assert_eq(count(x, from, "supply.update"), 0, "the driver is told nothing");
    cr_assert_eq(count(x, from, "supply.telemetry"), 0);
    cr_assert_eq(count(x, from, "supply.ticket"), 0);
    cr_assert_eq(count(x, from, "supply.end_ack"), 0);
    for (int i = from; i < x->nout; i++)
        if (strcmp(x->out[i].type, "cp.cancel") == 0)
            cr_assert_str_eq(x->out[i].key, "CP_002", "the true CP is never cancelled");
    central_supply *s = central_supply_find(&x->c, corr);
    cr_assert_not_null(s);
    cr_assert_eq(s->phase, CENTRAL_SUPPLY_AUTHORISED, "not started by another CP");
    cr_assert_eq(balance(x, "driver1"), 15000);
    sx_close(x);
    free(x);
}

/* Issue 11 finding 1: a forged supply.ended with 1,000,000 Wh for a running
 * session charged 40000 cents. */
Test(money, a_report_over_the_energy_bound_is_not_billed)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    x->c.max_power_w = 350000;
    x->c.energy_tolerance_pct = 10;
    char corr[EVC_UUID_STR_SIZE];
    running(x, corr);
    int from = x->nout;
    ended(x, "CP_001", corr, 1000000, "unplugged");
    settle(x);
    cr_assert_eq(count(x, from, "supply.ticket"), 0);
    cr_assert_eq(count(x, from, "supply.end_ack"), 0, "not acknowledged: it may come again");
    cr_assert_eq(balance(x, "driver1"), 15000);
    cr_assert_eq(x->c.energy_refused, 1);
    char *health = central_json_health(&x->c);
    cr_assert(strstr(health, "\"energy_refused\":1"), "%s", health);
    free(health);
    cr_assert_not_null(central_supply_find(&x->c, corr), "still open for the true report");
    /* The CP's true report bills. */
    from = x->nout;
    ended(x, "CP_001", corr, 8, "unplugged");
    out_msg *tk = await_corr(x, from, "supply.ticket", NULL, corr);
    cr_assert_eq(tk->wh, 8);
    cr_assert_eq(balance(x, "driver1"), 15000 - evc_bill_cents(8, 35));
    sx_close(x);
    free(x);
}

/* Finding 4: forged telemetry ("1000 kW, EUR 99999.99") was shown as genuine. */
Test(money, telemetry_over_the_bound_is_not_shown)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    x->c.max_power_w = 350000;
    x->c.energy_tolerance_pct = 10;
    char corr[EVC_UUID_STR_SIZE];
    running(x, corr);
    int from = x->nout;
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"w\":1000000,\"wh\":5,\"cents\":9999999}", corr);
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"w\":7400,\"wh\":1000000,\"cents\":9999999}", corr);
    settle(x);
    cr_assert_eq(count(x, from, "supply.telemetry"), 0, "neither relayed to the driver");
    cr_assert_eq(x->c.telemetry_refused, 2);
    /* A plausible figure with a wrong amount: shown at Central's price. */
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"w\":7400,\"wh\":9,\"cents\":9999999}", corr);
    out_msg *t = await_corr(x, from, "supply.telemetry", NULL, corr);
    cr_assert_eq(t->cents, evc_bill_cents(9, 35));
    char *json = central_json_cp(&x->c, central_cp_find(&x->c, "CP_001"));
    cr_assert_null(strstr(json, "\"cents\":9999999"), "%s", json);
    cr_assert_null(strstr(json, "\"w\":1000000"), "%s", json);
    free(json);
    sx_close(x);
    free(x);
}

Test(money, the_balance_floor_stops_a_supply_and_what_it_delivered_is_billed)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    x->c.balance_floor_cents = 0; /* energies of hours in a test: no power bound here */
    char corr[EVC_UUID_STR_SIZE];
    running(x, corr);
    int from = x->nout;
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"w\":300000,\"wh\":420000,\"cents\":14700}", corr);
    await_corr(x, from, "supply.telemetry", NULL, corr);
    cr_assert_eq(count(x, from, "cp.cancel"), 0, "14700 + 9 cents < 15000");
    /* 14994 cents, and 3 s more at 300 kW cost 9: stop now. */
    for (int i = 0; i < 2; i++)
        cp_says(x, "CP_001", "supply.telemetry", corr,
                "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
                "\"w\":300000,\"wh\":%d,\"cents\":0}", corr, 428400 + i);
    out_msg *cancel = await_corr(x, from, "cp.cancel", NULL, corr);
    cr_assert_str_eq(cancel->key, "CP_001");
    cr_assert_str_eq(cancel->reason, "balance_floor");
    out_msg *u = await_corr(x, from, "supply.update", "interrupted", corr);
    cr_assert_str_eq(u->reason, "balance_floor");
    settle(x);
    cr_assert_eq(count(x, from, "cp.cancel"), 2, "repeated while it runs");
    cr_assert_eq(count(x, from, "supply.update"), 1, "the driver is told once");
    /* The engine ends it `cancelled` with what it delivered: all billed, the
     * ticket says why, the balance is not below the floor. */
    from = x->nout;
    ended(x, "CP_001", corr, 428420, "cancelled");
    out_msg *tk = await_corr(x, from, "supply.ticket", NULL, corr);
    cr_assert_eq(tk->wh, 428420);
    cr_assert_str_eq(tk->reason, "balance_floor");
    cr_assert_geq(balance(x, "driver1"), 0);
    cr_assert_eq(balance(x, "driver1"), 15000 - evc_bill_cents(428420, 35));
    char *health = central_json_health(&x->c);
    cr_assert(strstr(health, "\"balance_floor_stops\":1"), "%s", health);
    free(health);
    sx_close(x);
    free(x);
}

/* Finding 4: one forged bad driver.hello logged a real driver out. */
Test(money, a_failed_hello_keeps_an_earlier_login)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    hello(x, "driver1", "forged", false);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    sx_close(x);
    free(x);
}
