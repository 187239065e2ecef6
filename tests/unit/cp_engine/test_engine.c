/* test_engine.c: a real engine (engine_fx.h) on the loopback test bus with a
 * fake monitor and the test playing Central: authorise, plug, telemetry,
 * unplug, end report kept until acknowledged, and every way a supply ends. */
#include "engine_fx.h"

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 30);

/* ---- tests ------------------------------------------------------------------ */

Test(engine, a_supply_from_authorisation_to_acknowledged_end)
{
    start_engine(NULL);
    heartbeat();
    supply_until_telemetry(5);
    const seen *t = last("supply.telemetry");
    cr_assert(t->w >= 7030 && t->w <= 7770, "%lld W", (long long)t->w);
    cr_assert_eq(t->cents, (t->wh * 35 + 500) / 1000);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->reason, "unplugged");
    cr_assert_str_eq(end->sid, SID);
    cr_assert_eq(end->wh, last("supply.telemetry")->wh,
                 "the last telemetry shows what is billed");
    cr_assert_gt(end->wh, 0);
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    cr_assert_eq(outbox_pending(), 1, "kept until Central acknowledges");
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
    /* A repeated authorisation of another session works again. */
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert(last("cp.authorise_reply")->accepted);
}

Test(engine, refusals_follow_the_decision_table)
{
    start_engine(NULL);
    engine_toggle_ko(T.e);
    wait_for("cp.status", 1);
    cr_assert_str_eq(last("cp.status")->health, "KO");
    authorise(SID);
    wait_for("cp.authorise_reply", 1);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "engine_ko");
    engine_toggle_ko(T.e);
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"stop\"}");
    wait_for("cp.status", 3);
    cr_assert_str_eq(last("cp.status")->admin, "STOPPED");
    authorise(SID);
    wait_for("cp.authorise_reply", 2);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "stopped");
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"resume\"}");
    wait_for("cp.status", 4);
    cr_assert_str_eq(last("cp.status")->admin, "IN_SERVICE");
    authorise(SID);
    wait_for("cp.authorise_reply", 3);
    cr_assert(last("cp.authorise_reply")->accepted);
    authorise(SID2);
    wait_for("cp.authorise_reply", 4);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "busy");
    /* Someone else's and malformed messages change nothing. */
    central("cp.authorise", "CP_002", SID2,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"" SID2 "\",\"driver_id\":\"d\","
            "\"price_cents_per_kwh\":1}");
    central("cp.authorise", "CP_001", NULL, "{\"cp_id\":\"CP_001\"}");
    evc_bus_publish(T.cbus, "central-events", "CP_001", "not json", 8, NULL, NULL, NULL);
    authorise(SID2); /* in order behind them on the loopback bus */
    wait_for("cp.authorise_reply", 5);
    cr_assert_eq(count("cp.authorise_reply"), 5, "nothing answered the others");
    cr_assert_str_eq(last("cp.authorise_reply")->sid, SID2);
    cr_assert_str_eq(T.e->j.session_id, SID);
    cr_assert_geq(T.e->dropped, 2, "malformed messages are counted");
}

static bool pong_again(void *arg)
{
    (void)arg;
    return T.pong[0] != '\0';
}

Test(engine, garbage_on_the_monitor_port_leaves_the_monitor_served)
{
    start_engine(NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(evc_link_server_port(T.e->server)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char junk[8192];
    srand(11);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(rand() % 256);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    T.pong[0] = '\0';
    cr_assert_eq(evc_loop_run_until(T.loop, pong_again, NULL, 5000), EVC_OK);
    cr_assert(T.e->monitor_present);
}

static bool pong_is_ko(void *arg)
{
    (void)arg;
    return strcmp(T.pong, "KO") == 0;
}

Test(engine, a_fault_during_a_supply_ends_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    engine_toggle_ko(T.e);
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "fault");
    cr_assert_eq(evc_loop_run_until(T.loop, pong_is_ko, NULL, 5000), EVC_OK,
                 "the monitor hears KO at its next PING");
}

Test(engine, central_stop_during_a_supply_ends_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"stop\"}");
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "stopped");
}

#define RESET_HARD "{\"cp_id\":\"CP_001\",\"command\":\"reset\",\"type\":\"Hard\"}"
#define RESET_SOFT "{\"cp_id\":\"CP_001\",\"command\":\"reset\",\"type\":\"Soft\"}"

Test(engine, central_reset_during_a_supply_ends_it_once_and_leaves_the_engine_ready)
{
    start_engine(NULL);
    heartbeat();
    supply_until_telemetry(5); /* enough for a Wh at the default power */
    int status_before = count("cp.status");
    central("cp.command", "CP_001", NULL, RESET_HARD);
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->reason, "reset");
    cr_assert_str_eq(end->sid, SID);
    cr_assert_gt(end->wh, 0);
    cr_assert_eq(end->wh, last("supply.telemetry")->wh, "what was shown is what is billed");
    wait_for("cp.status", status_before + 1);
    cr_assert_str_eq(last("cp.status")->admin, "IN_SERVICE", "a reset is not a stop");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    cr_assert_eq(outbox_pending(), 1, "billed through the outbox, until acknowledged");
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
    /* Idle and ready: the next authorisation is accepted. */
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert(last("cp.authorise_reply")->accepted, "refused: %s",
              last("cp.authorise_reply")->reason);
    cr_assert_eq(count("supply.ended"), 1, "ended once");
}

Test(engine, central_reset_when_idle_or_stopped_changes_nothing_else)
{
    start_engine(NULL);
    central("cp.command", "CP_001", NULL, RESET_SOFT);
    wait_for("cp.status", 1);
    cr_assert_str_eq(last("cp.status")->admin, "IN_SERVICE");
    /* An authorisation waiting for the plug ends too (0 Wh, never plugged). */
    authorise(SID);
    wait_for("cp.authorise_reply", 1);
    cr_assert(last("cp.authorise_reply")->accepted);
    central("cp.command", "CP_001", NULL, RESET_SOFT);
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "reset");
    cr_assert_eq(last("supply.ended")->wh, 0);
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    /* A stopped CP stays stopped through a reset. */
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"stop\"}");
    int n = count("cp.status");
    central("cp.command", "CP_001", NULL, RESET_HARD);
    wait_for("cp.status", n + 1);
    cr_assert_str_eq(last("cp.status")->admin, "STOPPED");
    cr_assert_eq(count("supply.ended"), 1);
}

static void short_monitor_timeout(engine_cfg *c) { c->monitor_timeout_ms = 400; }

Test(engine, a_lost_monitor_ends_the_supply_and_blocks_new_ones)
{
    start_engine(short_monitor_timeout);
    supply_until_telemetry(1);
    T.pinging = false; /* the monitor hangs */
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "monitor_lost");
    cr_assert_not(T.e->monitor_present);
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "no_monitor");
}

static void short_plug_timeout(engine_cfg *c) { c->plug_timeout_ms = 300; }

Test(engine, an_authorisation_expires_without_a_plug)
{
    start_engine(short_plug_timeout);
    authorise(SID);
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->reason, "not_plugged");
    cr_assert_eq(end->wh, 0);
    cr_assert_eq(end->started_at, 0, "never plugged: started_at 0");
}

static void unattended(engine_cfg *c)
{
    c->unattended = true;
    c->plug_after_ms = 100;
    c->unplug_after_ms = 0;
    c->target_wh = 2;
    c->power_w = 20000; /* 2 Wh in 360 ms */
}

Test(engine, unattended_mode_plugs_and_unplugs_at_the_target)
{
    start_engine(unattended);
    authorise(SID);
    wait_for("supply.ended", 1);
    cr_assert_eq(count("supply.started"), 1);
    cr_assert_str_eq(last("supply.ended")->reason, "unplugged");
    cr_assert_geq(last("supply.ended")->wh, 2);
}

static void fast_retry(engine_cfg *c)
{
    c->outbox_retry_ms = 200;
    c->central_timeout_ms = 300;
}

Test(engine, end_reports_are_resent_until_acknowledged)
{
    start_engine(fast_retry);
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 3); /* Central is silent: re-sent on the timer */
    /* Central comes back: everything at once, then the ack stops it. */
    int before = count("supply.ended");
    heartbeat();
    wait_for("supply.ended", before + 1);
    wait_for("cp.hello", 2);
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
}

Test(engine, a_quick_central_restart_gets_the_outbox_again)
{
    start_engine(NULL); /* outbox_retry_ms 5000: only the restart re-sends */
    central("central.heartbeat", "central", NULL, "{\"seq\":1,\"started_at\":1000}");
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    central("central.heartbeat", "central", NULL, "{\"seq\":2,\"started_at\":1000}");
    central("central.heartbeat", "central", NULL, "{\"seq\":1,\"started_at\":2000}");
    wait_for("supply.ended", 2);
    cr_assert_eq(count("supply.ended"), 2, "the same Central's heartbeats re-send nothing");
    cr_assert_geq(count("cp.hello"), 2);
}

Test(engine, menu_requests_need_central)
{
    start_engine(fast_retry);
    engine_send_request(T.e, "driver1");
    cr_assert_eq(count("supply.request"), 0, "refused: Unable to connect to CENTRAL");
    heartbeat();
    wait_for("cp.hello", 2);
    engine_send_request(T.e, "driver1");
    wait_for("supply.request", 1);
}

Test(engine, a_graceful_stop_reports_the_supply_in_progress)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    engine_core_stop(T.e);
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "engine_restart");
    cr_assert_eq(outbox_pending(), 1, "re-sent at the next start until acknowledged");
    engine_core_free(T.e);
    T.e = NULL;
}

/* Issue 10, evidence 1: Kafka hands the engine a cp.authorise again after
 * the supply it started has ended (and been reported). The engine remembers
 * the session as ended and never supplies it twice. */
Test(engine, an_authorisation_delivered_again_after_its_end_is_refused)
{
    start_engine(NULL);
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    authorise(SID); /* the same session, redelivered */
    wait_for("cp.authorise_reply", 2);
    const seen *r = last("cp.authorise_reply");
    cr_assert_str_eq(r->sid, SID);
    cr_assert_not(r->accepted, "a session that ended here was accepted again");
    cr_assert_str_eq(r->reason, "session_ended");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    /* Even after Central acknowledged the report (the outbox no longer
     * knows the session). */
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
    authorise(SID);
    wait_for("cp.authorise_reply", 3);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
}

/* Issue 10, evidence 2: an authorisation that reaches the engine after the
 * deadline Central set (a Kafka group rejoin took 9 s) is refused, so no
 * energy flows under a session Central has denied. */
Test(engine, an_authorisation_past_its_expiry_is_refused)
{
    start_engine(NULL);
    authorise_ttl(SID, -1); /* expired a millisecond ago on Central's clock */
    wait_for("cp.authorise_reply", 1);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "expired");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    /* One without any expiry is not Central's: dropped, unanswered. */
    central("cp.authorise", "CP_001", SID2,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID2 "\",\"driver_id\":\"driver1\","
            "\"price_cents_per_kwh\":35}");
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert_eq(count("cp.authorise_reply"), 2, "the one without expires_at is not answered");
    cr_assert(last("cp.authorise_reply")->accepted);
}

/* Central says it does not hold the session open: the supply ends at once
 * and its energy is reported (to be billed), like any other end. */
Test(engine, a_cancel_from_central_ends_the_supply_and_reports_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    central("cp.cancel", "CP_001", SID2,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID2 "\",\"reason\":\"not_authorised\"}");
    central("cp.cancel", "CP_001", SID,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\",\"reason\":\"not_authorised\"}");
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->sid, SID, "only the session named is cancelled");
    cr_assert_str_eq(end->reason, "cancelled");
    cr_assert_eq(end->wh, last("supply.telemetry")->wh, "its energy so far is reported");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    cr_assert_eq(outbox_pending(), 1, "reported until Central acknowledges");
}
