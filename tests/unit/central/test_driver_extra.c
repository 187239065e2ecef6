/* test_driver_extra.c: what the driver dashboard asks of Central
 * (central_driver_extra.c, docs/PROTOCOL.md M3.3): a request for any free
 * CP, the driver's stop, the paged history. Real loopback bus, real SQLite
 * store: fixture supply_sx.h. */
#include <jansson.h>

#include "supply_sx.h"

/* The engine of `cp` is on the bus (a sealed message of it). */
static void engine_up(sx *x, const char *cp)
{
    char p[200];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"busy_session_id\":null,\"health\":\"OK\","
             "\"admin_state\":\"IN_SERVICE\"}", cp);
    send(x, "cp-events", cp, "cp.hello", NULL, p);
    settle(x);
}

/* supply.request at "*": the key of the cp.authorise that follows, or the
 * denial reason. */
static const char *request_any(sx *x, const char *driver, char corr[EVC_UUID_STR_SIZE],
                               char *cp_out, size_t cap)
{
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    int from = x->nout;
    char p[200];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"cp_id\":\"*\",\"session_id\":\"%s\"}",
             driver, corr);
    send(x, "driver-events", driver, "supply.request", corr, p);
    await_corr(x, from, "supply.update", "checking", corr);
    settle(x);
    for (int i = from; i < x->nout; i++) {
        out_msg *o = &x->out[i];
        if (strcmp(o->corr, corr) != 0)
            continue;
        if (strcmp(o->type, "cp.authorise") == 0) {
            snprintf(cp_out, cap, "%s", o->key);
            return "authorising";
        }
        if (strcmp(o->type, "supply.update") == 0 && strcmp(o->step, "denied") == 0)
            return o->reason;
    }
    cr_assert_fail("neither cp.authorise nor a denial");
    return NULL;
}

Test(driver_extra, any_free_cp_is_the_cheapest_activated_one_whose_engine_is_on_the_bus)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    /* Prices (seed): CP_001 35, CP_002 30, CP_003 40 cents/kWh. CP_002 is the
     * cheapest but its engine has not spoken yet: not free. */
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_002", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_003", CENTRAL_HEALTH_OK);
    engine_up(x, "CP_001");
    engine_up(x, "CP_003");
    hello(x, "driver1", "pass123", true);
    hello(x, "driver2", "pass456", true);
    char c1[EVC_UUID_STR_SIZE], c2[EVC_UUID_STR_SIZE], c3[EVC_UUID_STR_SIZE], cp[64] = "";
    cr_assert_str_eq(request_any(x, "driver1", c1, cp, sizeof cp), "authorising");
    cr_assert_str_eq(cp, "CP_001", "the cheapest free CP with its engine on the bus");
    /* Every step names the CP picked. */
    for (int i = 0; i < x->nout; i++)
        if (strcmp(x->out[i].type, "supply.update") == 0 && strcmp(x->out[i].corr, c1) == 0)
            cr_assert_str_eq(x->out[i].key, "driver1");
    cr_assert_eq(central_supply_find(&x->c, c1) != NULL, true);
    cr_assert_str_eq(central_supply_find(&x->c, c1)->cp_id, "CP_001");

    /* CP_001 waits for its engine's reply: busy. CP_003 is the next. */
    cr_assert_str_eq(request_any(x, "driver2", c2, cp, sizeof cp), "authorising");
    cr_assert_str_eq(cp, "CP_003");
    /* Nothing free any more (CP_002's engine is silent): denied in words. */
    cr_assert_str_eq(request_any(x, "driver1", c3, cp, sizeof cp), "no_free_cp");

    /* CP_001 refuses: free again; CP_002's engine speaks: the cheapest. */
    int from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", c1,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":false,\"reason\":\"busy\"}",
            c1);
    await_corr(x, from, "supply.update", "denied", c1);
    engine_up(x, "CP_002");
    cr_assert_str_eq(request_any(x, "driver1", c3, cp, sizeof cp), "authorising");
    cr_assert_str_eq(cp, "CP_002", "30 cents/kWh, its engine on the bus now");
    sx_close(x);
    free(x);
}

Test(driver_extra, no_free_cp_is_denied_in_words)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_KO); /* broken */
    engine_up(x, "CP_001");
    hello(x, "driver1", "pass123", true);
    char c[EVC_UUID_STR_SIZE], cp[64];
    cr_assert_str_eq(request_any(x, "driver1", c, cp, sizeof cp), "no_free_cp");
    cr_assert_eq(x->c.nopen, 0u, "nothing opened");
    int n = 0;
    for (int i = 0; i < x->nout; i++)
        n += strcmp(x->out[i].type, "cp.authorise") == 0;
    cr_assert_eq(n, 0);
    cr_assert_str_eq(central_reason_text("no_free_cp"), "no free charging point");
    sx_close(x);
    free(x);
}

static void start_supply(sx *x, const char *driver, const char *cp, char corr[EVC_UUID_STR_SIZE],
                         bool plugged)
{
    cr_assert_str_eq(request(x, driver, cp, corr), "authorising");
    int from = x->nout;
    cp_says(x, cp, "cp.authorise_reply", corr,
            "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", cp,
            corr);
    await_corr(x, from, "supply.update", "plug_in", corr);
    if (!plugged)
        return;
    cp_says(x, cp, "supply.started", corr,
            "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"driver_id\":\"%s\",\"started_at\":1000}",
            cp, corr, driver);
    await_corr(x, from, "supply.update", "supplying", corr);
}

static void stop(sx *x, const char *driver, const char *sid)
{
    char p[200];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"cp_id\":\"CP_001\",\"session_id\":\"%s\"}",
             driver, sid);
    send(x, "driver-events", driver, "supply.stop", sid, p);
}

Test(driver_extra, the_drivers_stop_cancels_bills_like_an_unplug_and_refuses_others)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    hello(x, "driver2", "pass456", true);
    char corr[EVC_UUID_STR_SIZE];
    start_supply(x, "driver1", "CP_001", corr, true);

    /* Another driver's stop: unknown to it, nothing sent to the CP. */
    int from = x->nout;
    stop(x, "driver2", corr);
    out_msg *r = await(x, from, "supply.update", "stop_refused");
    cr_assert_str_eq(r->key, "driver2");
    cr_assert_str_eq(r->reason, "unknown_session");
    settle(x);
    cr_assert_eq(count(x, from, "cp.cancel"), 0);

    /* The driver's own stop: cp.cancel driver_stop, "stopping" once. */
    from = x->nout;
    stop(x, "driver1", corr);
    out_msg *cc = await_corr(x, from, "cp.cancel", NULL, corr);
    cr_assert_str_eq(cc->reason, "driver_stop");
    cr_assert_str_eq(cc->key, "CP_001");
    await_corr(x, from, "supply.update", "stopping", corr);
    stop(x, "driver1", corr); /* pressed twice: the cancel again, no second "stopping" */
    settle(x);
    cr_assert_eq(count(x, from, "cp.cancel"), 2);
    int stopping = 0;
    for (int i = from; i < x->nout; i++)
        stopping += strcmp(x->out[i].step, "stopping") == 0;
    cr_assert_eq(stopping, 1);

    /* An engine without driver_stop ends it `cancelled`: the ticket still
     * says who stopped it; billed like an unplug (the energy so far). */
    from = x->nout;
    cp_says(x, "CP_001", "supply.ended", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"wh\":1000,\"started_at\":1000,\"ended_at\":31000,\"reason\":\"cancelled\"}",
            corr);
    out_msg *tk = await_corr(x, from, "supply.ticket", NULL, corr);
    cr_assert_eq(tk->cents, 35, "1000 Wh at 35 c/kWh");
    out_msg *end = await_corr(x, from, "supply.update", "ended", corr);
    cr_assert_str_eq(end->reason, "driver_stop");
    evc_ticket t;
    cr_assert_eq(evc_store_ticket_get(x->f.store, corr, &t, NULL), EVC_OK);
    cr_assert_str_eq(t.end_reason, "driver_stop");
    cr_assert_eq(balance(x, "driver1"), 15000 - 35);

    /* Ended: refused in words, nothing changes. */
    from = x->nout;
    stop(x, "driver1", corr);
    r = await(x, from, "supply.update", "stop_refused");
    cr_assert_str_eq(r->reason, "session_ended");
    settle(x);
    cr_assert_eq(count(x, from, "cp.cancel"), 0);
    cr_assert_eq(balance(x, "driver1"), 15000 - 35);
    sx_close(x);
    free(x);
}

Test(driver_extra, a_stop_before_the_plug_ends_with_zero_wh_and_a_ticket)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    char corr[EVC_UUID_STR_SIZE];
    start_supply(x, "driver1", "CP_001", corr, false);
    int from = x->nout;
    stop(x, "driver1", corr);
    await_corr(x, from, "cp.cancel", NULL, corr);
    cp_says(x, "CP_001", "supply.ended", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"wh\":0,\"started_at\":0,\"ended_at\":2000,\"reason\":\"driver_stop\"}",
            corr);
    out_msg *tk = await_corr(x, from, "supply.ticket", NULL, corr);
    cr_assert_eq(tk->wh, 0);
    cr_assert_eq(tk->cents, 0);
    cr_assert_eq(balance(x, "driver1"), 15000);
    cr_assert_eq(central_cp_find(&x->c, "CP_001")->state, CENTRAL_CP_ACTIVATED);
    sx_close(x);
    free(x);
}

static void bill(sx *x, const char *id, int64_t ended_ms, int64_t wh)
{
    fx_session(&x->f, id, "driver1", "CP_001", EVC_SESSION_SUPPLYING);
    cr_assert_eq(evc_store_session_end_and_bill(x->f.store, id, ended_ms, wh, "unplugged", NULL,
                                                NULL, NULL),
                 EVC_OK);
}

/* driver.history for driver1 from (before, before_sid), limit: its answer. */
static json_t *history(sx *x, int64_t before, const char *bsid, int limit)
{
    char corr[EVC_UUID_STR_SIZE], p[300];
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    snprintf(p, sizeof p,
             "{\"driver_id\":\"driver1\",\"before\":%lld,%s%s%s\"limit\":%d}",
             (long long)before, bsid ? "\"before_session_id\":\"" : "", bsid ? bsid : "",
             bsid ? "\"," : "", limit);
    int from = x->nout;
    send(x, "driver-events", "driver1", "driver.history", corr, p);
    out_msg *o = await_corr(x, from, "driver.history", NULL, corr);
    cr_assert_str_eq(o->key, "driver1");
    json_t *j = json_loads(o->payload, 0, NULL);
    cr_assert_not_null(j, "%s", o->payload);
    return j;
}

static const char *sid_at(json_t *j, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(j, "tickets"), i),
                                             "session_id"));
}

Test(driver_extra, history_pages_newest_first_from_the_database)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    hello(x, "driver1", "pass123", true);
    /* Five tickets; two end in the same millisecond (the page's edge falls
     * between them: before_session_id keeps either from being lost). */
    static const char *ids[] = {
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004",
        "00000000-0000-4000-8000-000000000005"};
    bill(x, ids[0], 1000000, 100);
    bill(x, ids[1], 2000000, 200);
    bill(x, ids[2], 3000000, 300);
    bill(x, ids[3], 3000000, 400);
    bill(x, ids[4], 5000000, 500);

    json_t *j = history(x, 0, NULL, 2);
    cr_assert_eq(json_array_size(json_object_get(j, "tickets")), 2u);
    cr_assert(json_is_true(json_object_get(j, "more")));
    cr_assert_str_eq(sid_at(j, 0), ids[4]);
    cr_assert_str_eq(sid_at(j, 1), ids[3], "same ended_at: the greater session id first");
    json_t *t0 = json_array_get(json_object_get(j, "tickets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(t0, "wh")), 500);
    cr_assert_eq(json_integer_value(json_object_get(t0, "cents")), 18, "500 Wh at 35");
    cr_assert_str_eq(json_string_value(json_object_get(t0, "reason")), "unplugged");
    cr_assert_str_eq(json_string_value(json_object_get(t0, "cp_id")), "CP_001");
    cr_assert_eq(json_integer_value(json_object_get(t0, "ended_at")), 5000000);
    json_decref(j);

    j = history(x, 3000000, ids[3], 2); /* after the last one shown */
    cr_assert_eq(json_array_size(json_object_get(j, "tickets")), 2u);
    cr_assert_str_eq(sid_at(j, 0), ids[2]);
    cr_assert_str_eq(sid_at(j, 1), ids[1]);
    cr_assert(json_is_true(json_object_get(j, "more")));
    json_decref(j);

    j = history(x, 2000000, ids[1], 2);
    cr_assert_eq(json_array_size(json_object_get(j, "tickets")), 1u);
    cr_assert_str_eq(sid_at(j, 0), ids[0]);
    cr_assert(json_is_false(json_object_get(j, "more")), "the end");
    json_decref(j);

    j = history(x, 0, NULL, 500); /* the limit is capped at 50 */
    cr_assert_eq(json_array_size(json_object_get(j, "tickets")), 5u);
    json_decref(j);
    j = history(x, 0, NULL, 0); /* and at least 1 */
    cr_assert_eq(json_array_size(json_object_get(j, "tickets")), 1u);
    json_decref(j);
    sx_close(x);
    free(x);
}
