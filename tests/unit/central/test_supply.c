/* test_supply.c: Central's supply side through a real bus (the loopback test
 * transport) and a real SQLite store: requests and their denial reasons,
 * the authorisation round trip, telemetry relay, billing once, tickets and
 * the driver's sync, a fault during a supply. Fixture: supply_sx.h. */
#include "supply_sx.h"

/* Whether Central's own lines (panel, plain output) said `needle`. */
static bool said(sx *x, const char *needle)
{
    for (size_t i = 0; i < x->c.nevents; i++)
        if (strstr(x->c.events[i].text, needle))
            return true;
    return false;
}

Test(supply, a_supply_end_to_end_is_billed_once)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    /* F4: every step shown on Central too, not only to the driver. */
    char line[160];
    snprintf(line, sizeof line, "Supply %s driver1 @ CP_001: request received", corr);
    cr_assert(said(x, line), "Central did not say: %s", line);
    snprintf(line, sizeof line, "Supply %s driver1 @ CP_001: checking the request", corr);
    cr_assert(said(x, line), "Central did not say: %s", line);
    int from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", corr);
    await(x, from, "supply.update", "plug_in");
    cr_assert_eq(central_cp_find(&x->c, "CP_001")->state, CENTRAL_CP_SUPPLYING);
    cp_says(x, "CP_001", "supply.started", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
            "\"started_at\":1000}", corr);
    await(x, from, "supply.update", "supplying");
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"w\":7400,"
            "\"wh\":1000,\"cents\":35}", corr);
    out_msg *t = await(x, from, "supply.telemetry", NULL);
    cr_assert_str_eq(t->key, "driver1", "relayed to the driver only");
    cr_assert_eq(t->wh, 1000);
    char *json = central_json_cp(&x->c, central_cp_find(&x->c, "CP_001"));
    cr_assert(strstr(json, "\"driver_id\":\"driver1\""), "%s", json);
    cr_assert(strstr(json, "\"w\":7400"), "%s", json);
    free(json);
    from = x->nout;
    for (int i = 0; i < 3; i++) /* the engine's outbox re-sends */
        cp_says(x, "CP_001", "supply.ended", corr,
                "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
                "\"wh\":2000,\"started_at\":1000,\"ended_at\":61000,\"reason\":\"unplugged\"}",
                corr);
    out_msg *tk = await(x, from, "supply.ticket", NULL);
    cr_assert_eq(tk->cents, 70, "2000 Wh at 35 c/kWh");
    cr_assert_str_eq(tk->corr, corr);
    settle(x);
    cr_assert_eq(count(x, from, "supply.end_ack"), 3, "every report acknowledged");
    /* An outbox re-sends the very same envelope (same message id): still
     * acknowledged, still billed once. */
    char pl[300];
    snprintf(pl, sizeof pl,
             "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
             "\"wh\":2000,\"started_at\":1000,\"ended_at\":61000,\"reason\":\"unplugged\"}",
             corr);
    char eid[EVC_UUID_STR_SIZE], *bytes = NULL;
    size_t blen = 0;
    evc_envelope env = {.type = "supply.ended", .correlation_id = corr, .source = "CP_001",
                        .payload = pl};
    cr_assert_eq(evc_envelope_stamp(&env, eid, NULL), EVC_OK);
    cr_assert_eq(evc_envelope_encode(&env, &bytes, &blen, NULL), EVC_OK);
    for (int i = 0; i < 2; i++) { /* each re-send has its own seal, as the engine's */
        char *sealed = NULL;
        size_t slen = 0;
        cr_assert_eq(evc_seal(cp_sealer(x, "CP_001"), "cp-events", bytes, blen,
                              (int64_t)evc_wall_ms(), &sealed, &slen, NULL), EVC_OK);
        cr_assert_eq(evc_bus_publish(x->peer, "cp-events", "CP_001", sealed, slen, NULL, NULL,
                                     NULL), EVC_OK);
        free(sealed);
    }
    free(bytes);
    settle(x);
    cr_assert_eq(count(x, from, "supply.end_ack"), 5, "the same envelope twice: acked twice");
    cr_assert_eq(count(x, from, "supply.ticket"), 1, "one ticket");
    cr_assert_eq(balance(x, "driver1"), 15000 - 70);
    cr_assert_eq(central_cp_find(&x->c, "CP_001")->state, CENTRAL_CP_ACTIVATED);
    json = central_json_sessions(&x->c);
    cr_assert(strstr(json, "\"state\":\"ended\""), "%s", json);
    cr_assert(strstr(json, "\"end_reason\":\"unplugged\""), "%s", json);
    free(json);

    /* The driver restarts: its sync shows the ticket until it acks it. */
    from = x->nout;
    send(x, "driver-events", "driver1", "driver.sync", NULL, "{\"driver_id\":\"driver1\"}");
    await(x, from, "supply.ticket", NULL);
    char ack[200];
    snprintf(ack, sizeof ack, "{\"driver_id\":\"driver1\",\"session_id\":\"%s\"}", corr);
    send(x, "driver-events", "driver1", "supply.ticket_ack", NULL, ack);
    settle(x);
    from = x->nout;
    send(x, "driver-events", "driver1", "driver.sync", NULL, "{\"driver_id\":\"driver1\"}");
    settle(x);
    cr_assert_eq(count(x, from, "supply.ticket"), 0);
    sx_close(x);
    free(x);
}

Test(supply, every_denial_reason_reaches_the_driver)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    char corr[EVC_UUID_STR_SIZE], busy[EVC_UUID_STR_SIZE];
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_003", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_004", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_005", CENTRAL_HEALTH_OK);
    heartbeat(x, "CP_006", CENTRAL_HEALTH_KO);
    /* An unknown driver can only be named at a CP's menu (no login). */
    int from = x->nout;
    cp_says(x, "CP_001", "supply.request", NULL, "{\"cp_id\":\"CP_001\",\"driver_id\":\"nobody\"}");
    cr_assert_str_eq(await(x, from, "supply.update", "denied")->reason, "unknown_driver");
    /* A driver's request not sealed by a login session of that driver is
     * dropped before any check: no answer (nobody proven to tell), counted. */
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t before[EVC_SEAL_NVERDICTS], after[EVC_SEAL_NVERDICTS];
        central_trust_counts(&x->c, before);
        from = x->nout;
        send(x, "driver-events", "driver1", "supply.request", NULL,
             "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\"}");
        settle(x);
        cr_assert_eq(count(x, from, "supply.update"), 0);
        central_trust_counts(&x->c, after);
        cr_assert_eq(after[EVC_SEAL_UNSIGNED], before[EVC_SEAL_UNSIGNED] + 1);
        if (attempt == 0)
            hello(x, "driver1", "wrong", false); /* a failed login gives no session */
    }
    hello(x, "driver1", "pass123", true);
    hello(x, "driver2", "pass456", true);
    cr_assert_str_eq(request(x, "driver1", "CP_999", corr), "unknown_cp");
    cr_assert_str_eq(request(x, "driver1", "CP_002", corr), "cp_disconnected");
    cr_assert_str_eq(request(x, "driver1", "CP_006", corr), "cp_broken");
    from = x->nout;
    cr_assert_eq(central_cp_admin(&x->c, "CP_003", true), 1);
    out_msg *cmd = await(x, from, "cp.command", NULL);
    cr_assert_str_eq(cmd->key, "CP_003");
    cr_assert_str_eq(request(x, "driver1", "CP_003", corr), "cp_stopped");
    cr_assert_str_eq(request(x, "driver1", "CP_001", busy), "authorising");
    /* Accepted, so no authorisation deadline can end it while the busy
     * checks below run, however slow the machine. */
    from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", busy,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", busy);
    await_corr(x, from, "supply.update", "plug_in", busy);
    cr_assert_str_eq(request(x, "driver2", "CP_001", corr), "cp_busy");
    cr_assert_str_eq(request(x, "driver1", "CP_004", corr), "driver_busy");
    cr_assert_eq(evc_store_user_add_balance(x->f.store, "driver2", -19600, NULL, NULL), EVC_OK);
    cr_assert_str_eq(request(x, "driver2", "CP_004", corr), "balance_too_low");
    cr_assert_eq(evc_store_user_add_balance(x->f.store, "driver2", 19600, NULL, NULL), EVC_OK);
    /* The engine refuses; then one that never answers. */
    cr_assert_str_eq(request(x, "driver2", "CP_004", corr), "authorising");
    from = x->nout;
    cp_says(x, "CP_004", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_004\",\"session_id\":\"%s\",\"accepted\":false,\"reason\":\"busy\"}",
            corr);
    out_msg *d = await_corr(x, from, "supply.update", "denied", corr);
    cr_assert_str_eq(d->reason, "cp_refused");
    x->c.authorise_timeout_ms = 300;
    cr_assert_str_eq(request(x, "driver2", "CP_005", corr), "authorising");
    from = x->nout;
    /* Central stores the denial before it tells the driver (a crash between
     * the two leaves a denied session the driver can still be told of, never
     * a driver told "denied" of a session that might still start). */
    d = await_corr(x, from, "supply.update", "denied", corr);
    cr_assert_str_eq(d->reason, "cp_no_answer");
    evc_session s;
    cr_assert_eq(evc_store_session_get(x->f.store, corr, &s, NULL), EVC_OK);
    cr_assert_eq(s.state, EVC_SESSION_DENIED);
    /* The CP's own menu: no password needed, Central picks the id. */
    from = x->nout;
    send(x, "cp-events", "CP_005", "supply.request", NULL,
         "{\"cp_id\":\"CP_005\",\"driver_id\":\"driver2\"}");
    out_msg *a = await(x, from, "cp.authorise", NULL);
    cr_assert(evc_uuid_valid(a->sid));
    /* Garbage on the bus is dropped and counted (by the bus's seal check). */
    uint64_t before[EVC_SEAL_NVERDICTS], after[EVC_SEAL_NVERDICTS];
    central_trust_counts(&x->c, before);
    cr_assert_eq(evc_bus_publish(x->peer, "cp-events", "CP_001", "{not json", 9, NULL, NULL,
                                 NULL), EVC_OK);
    settle(x);
    central_trust_counts(&x->c, after);
    cr_assert_eq(after[EVC_SEAL_MALFORMED], before[EVC_SEAL_MALFORMED] + 1);
    sx_close(x);
    free(x);
}

Test(supply, a_fault_interrupts_at_once_and_the_end_report_bills)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_002", CENTRAL_HEALTH_OK);
    hello(x, "driver2", "pass456", true);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver2", "CP_002", corr), "authorising");
    /* The reply was lost: supply.started alone moves the session on. */
    int from = x->nout;
    cp_says(x, "CP_002", "supply.started", corr,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"%s\",\"driver_id\":\"driver2\","
            "\"started_at\":5000}", corr);
    await(x, from, "supply.update", "supplying");
    from = x->nout;
    heartbeat(x, "CP_002", CENTRAL_HEALTH_KO);
    out_msg *i = await(x, from, "supply.update", "interrupted");
    cr_assert_str_eq(i->reason, "fault");
    cr_assert_eq(central_cp_find(&x->c, "CP_002")->state, CENTRAL_CP_BROKEN);
    heartbeat(x, "CP_002", CENTRAL_HEALTH_UNREACHABLE);
    settle(x);
    cr_assert_eq(count(x, from, "supply.update"), 1, "told once");
    from = x->nout;
    cp_says(x, "CP_002", "supply.ended", corr,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"%s\",\"driver_id\":\"driver2\",\"wh\":333,"
            "\"started_at\":5000,\"ended_at\":9000,\"reason\":\"fault\"}", corr);
    out_msg *tk = await(x, from, "supply.ticket", NULL);
    cr_assert_eq(tk->cents, evc_bill_cents(333, 30));
    cr_assert_str_eq(tk->reason, "fault");
    cr_assert_eq(balance(x, "driver2"), 20000 - evc_bill_cents(333, 30));
    cr_assert_eq(central_cp_find(&x->c, "CP_002")->state, CENTRAL_CP_BROKEN);
    sx_close(x);
    free(x);
}

Test(supply, sessions_open_at_a_restart_are_billed_when_their_end_arrives)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    /* What a previous Central left: one supply running on CP_007. */
    const char *sid = "2f8fad5b-d9cb-469f-a165-70867728950e";
    fx_session(&x->f, sid, "driver1", "CP_007", EVC_SESSION_SUPPLYING);
    evc_error err = {0};
    cr_assert_eq(central_session_restore(&x->c, &err), EVC_OK, "%s", err.msg);
    cr_assert_not_null(central_supply_find(&x->c, sid));
    heartbeat(x, "CP_007", CENTRAL_HEALTH_OK);
    cr_assert_eq(central_cp_find(&x->c, "CP_007")->state, CENTRAL_CP_SUPPLYING);
    int from = x->nout;
    cp_says(x, "CP_007", "supply.ended", sid,
            "{\"cp_id\":\"CP_007\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":4000,"
            "\"started_at\":1000,\"ended_at\":2000,\"reason\":\"unplugged\"}", sid);
    out_msg *tk = await(x, from, "supply.ticket", NULL);
    cr_assert_eq(tk->cents, evc_bill_cents(4000, 29));
    await(x, from, "supply.end_ack", NULL);
    cr_assert_eq(central_cp_find(&x->c, "CP_007")->state, CENTRAL_CP_ACTIVATED);
    cr_assert_null(central_supply_find(&x->c, sid));
    sx_close(x);
    free(x);
}

Test(supply, operator_stop_during_a_supply)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    int from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", corr);
    await(x, from, "supply.update", "plug_in");
    from = x->nout;
    cr_assert_eq(central_cp_admin(&x->c, NULL, true), 10, "stop all");
    await(x, from, "cp.command", NULL);
    out_msg *i = await(x, from, "supply.update", "interrupted");
    cr_assert_str_eq(i->reason, "stopped");
    cr_assert_eq(central_cp_find(&x->c, "CP_001")->state, CENTRAL_CP_STOPPED);
    evc_charging_point row;
    cr_assert_eq(evc_store_cp_get(x->f.store, "CP_001", &row, NULL), EVC_OK);
    cr_assert_eq(row.admin_state, EVC_CP_STOPPED, "persisted");
    cp_says(x, "CP_001", "supply.ended", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":0,"
            "\"started_at\":0,\"ended_at\":2000,\"reason\":\"stopped\"}", corr);
    out_msg *tk = await(x, from, "supply.ticket", NULL);
    cr_assert_str_eq(tk->reason, "stopped");
    cr_assert_eq(central_cp_admin(&x->c, NULL, false), 10, "resume all");
    cr_assert_eq(central_cp_find(&x->c, "CP_001")->state, CENTRAL_CP_ACTIVATED);
    sx_close(x);
    free(x);
}

/* Issue 10: an engine's authorisation that Central gave up on (a late
 * delivery or a late reply), and energy reported for a session Central does
 * not hold open. Nothing is lost: the CP is told to stop, what it delivered
 * is billed to the session's driver once, and the driver is told. */
Test(supply, late_activity_is_cancelled_and_its_energy_billed_once)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    x->c.authorise_timeout_ms = 300;
    x->c.clock_skew_ms = 100;
    char corr[EVC_UUID_STR_SIZE];
    int64_t before = (int64_t)evc_wall_ms();
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising");
    /* The authorisation carries its expiry, before Central's own deadline. */
    want a = {x, "cp.authorise", NULL, 0, -1, corr};
    cr_assert(has(&a));
    int64_t exp = x->out[a.found].expires_at;
    cr_assert(exp >= before + 200 && exp <= (int64_t)evc_wall_ms() + 200,
              "expires_at %lld: request time + timeout - skew", (long long)exp);
    int from = x->nout;
    await_corr(x, from, "supply.update", "denied", corr);

    /* The engine's acceptance arrives after the denial: it is told to
     * cancel, at its own key. */
    from = x->nout;
    cp_says(x, "CP_001", "cp.authorise_reply", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", corr);
    out_msg *cancel = await_corr(x, from, "cp.cancel", NULL, corr);
    cr_assert_str_eq(cancel->key, "CP_001");
    cr_assert_str_eq(cancel->sid, corr);
    cr_assert_str_eq(cancel->reason, "not_authorised");
    /* It had already plugged: telemetry is answered with a cancel too. */
    from = x->nout;
    cp_says(x, "CP_001", "supply.telemetry", corr,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"w\":7400,"
            "\"wh\":20,\"cents\":1}", corr);
    await_corr(x, from, "cp.cancel", NULL, corr);
    cr_assert_eq(count(x, from, "supply.telemetry"), 0, "not relayed to the driver");

    /* A report of that session by another CP is neither billed nor acked. */
    from = x->nout;
    cp_says(x, "CP_002", "supply.ended", corr,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":900,"
            "\"started_at\":1000,\"ended_at\":2000,\"reason\":\"unplugged\"}", corr);
    settle(x);
    cr_assert_eq(count(x, from, "supply.end_ack"), 0);
    cr_assert_eq(count(x, from, "supply.ticket"), 0);
    cr_assert_eq(balance(x, "driver1"), 15000);

    /* The true CP's report: billed once, the driver gets the ticket, the
     * operator an alarm (event, counter). */
    from = x->nout;
    for (int i = 0; i < 2; i++)
        cp_says(x, "CP_001", "supply.ended", corr,
                "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
                "\"wh\":40,\"started_at\":1000,\"ended_at\":3000,\"reason\":\"cancelled\"}",
                corr);
    out_msg *tk = await_corr(x, from, "supply.ticket", NULL, corr);
    cr_assert_str_eq(tk->key, "driver1");
    cr_assert_eq(tk->wh, 40);
    cr_assert_eq(tk->cents, evc_bill_cents(40, 35));
    settle(x);
    cr_assert_eq(count(x, from, "supply.end_ack"), 2);
    cr_assert_eq(count(x, from, "supply.ticket"), 1, "billed once");
    cr_assert_eq(balance(x, "driver1"), 15000 - evc_bill_cents(40, 35));
    cr_assert_eq(x->c.billed_late, 1);
    char *health = central_json_health(&x->c);
    cr_assert(strstr(health, "\"supplies_billed_late\":1"), "%s", health);
    free(health);

    /* A denied request cancelled before any energy flowed: acked, no
     * ticket, no alarm. */
    x->c.authorise_timeout_ms = 300;
    char corr2[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr2), "authorising");
    from = x->nout;
    await_corr(x, from, "supply.update", "denied", corr2);
    cp_says(x, "CP_001", "supply.ended", corr2,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":0,"
            "\"started_at\":0,\"ended_at\":3000,\"reason\":\"cancelled\"}", corr2);
    await_corr(x, from, "supply.end_ack", NULL, corr2);
    cr_assert_eq(count(x, from, "supply.ticket"), 0);

    /* Energy for a session Central never heard of: an alarm, counted. */
    from = x->nout;
    const char *ghost = "9f8fad5b-d9cb-469f-a165-70867728950e";
    cp_says(x, "CP_001", "supply.ended", ghost,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\",\"wh\":70,"
            "\"started_at\":1000,\"ended_at\":3000,\"reason\":\"unplugged\"}", ghost);
    await_corr(x, from, "supply.end_ack", NULL, ghost);
    cr_assert_eq(x->c.unbillable, 1);
    health = central_json_health(&x->c);
    cr_assert(strstr(health, "\"energy_unbillable\":1"), "%s", health);
    free(health);
    sx_close(x);
    free(x);
}
