/* test_fsm.c: the driver's request FSM on a fake clock, without a bus. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fake_ops.h"

#define S1 "00000000-0000-4000-8000-000000000001"
#define S2 "00000000-0000-4000-8000-000000000002"
#define ADOPTED "11111111-2222-4333-8444-555555555555"

/* Moves the clock forward in 200 ms ticks; CENTRAL beats every second when
 * `central` is true. */
static void advance(driver_fsm *m, uint64_t *now, uint64_t ms, bool central)
{
    uint64_t end = *now + ms;
    while (*now < end) {
        *now += 200;
        if (*now > end)
            *now = end;
        if (central && *now % 1000 == 0)
            driver_fsm_heartbeat(m, *now, 1000);
        driver_fsm_tick(m, *now);
    }
}

static void authenticate(driver_fsm *m, uint64_t *now, fake *f)
{
    driver_fsm_heartbeat(m, *now, 1000);
    cr_assert_eq(fake_count(f, DRIVER_SEND_HELLO), 1, "hello once CENTRAL is alive");
    int64_t bal = 15000;
    driver_fsm_auth_reply(m, *now, true, NULL, &bal);
}

static void cps(driver_fsm *m, uint64_t now, const char *a, const char *b)
{
    driver_cp list[2] = {{.cp_id = a, .state = "ACTIVATED", .price_cents_per_kwh = 30},
                         {.cp_id = b, .state = "ACTIVATED", .price_cents_per_kwh = 30}};
    driver_fsm_cps(m, now, list, b ? 2 : 1);
}

static driver_ticket ticket(const char *cp, const char *session, int64_t wh, int64_t cents)
{
    driver_ticket t = {.wh = wh, .cents = cents, .price_cents_per_kwh = 30,
                       .started_at = 1000, .ended_at = 61000, .duration_s = 60,
                       .balance_cents = 15000 - cents, .has_balance = 1};
    snprintf(t.cp_id, sizeof t.cp_id, "%s", cp);
    snprintf(t.session_id, sizeof t.session_id, "%s", session);
    snprintf(t.reason, sizeof t.reason, "unplugged");
    return t;
}

Test(fsm, services_file_happy_path_with_wait_and_summary)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, "CP_001\nCP_002\n", true);
    uint64_t now = 1000;
    driver_fsm_start(m, now);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 0, "no hello before CENTRAL is seen");
    authenticate(m, &now, &f);
    cr_expect_geq(fake_line(&f, "Authenticated as driver1 (balance EUR 150.00)"), 0);
    int64_t other = 1;
    driver_fsm_auth_reply(m, now, true, NULL, &other);
    cr_expect_eq(fake_lines_with(&f, "Authenticated as"), 1, "an extra reply is not news");
    cr_expect_eq(fake_count(&f, DRIVER_SEND_SYNC), 1);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_LIST), 1);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 0, "waits for the list of CPs");
    cps(m, now, "CP_001", "CP_002");
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    cr_expect_str_eq(fake_last(&f, DRIVER_SEND_REQUEST)->cp, "CP_001");
    cr_expect_str_eq(fake_last(&f, DRIVER_SEND_REQUEST)->session, S1);
    cr_expect_geq(fake_line(&f, "Sent request for CP_001 (session " S1 ")"), 0);

    const char *steps[] = {"received", "checking", "authorised", "plug_in", "supplying"};
    for (size_t i = 0; i < 5; i++)
        driver_fsm_update(m, now, "CP_001", S1, steps[i], NULL, NULL);
    cr_expect_geq(fake_line(&f, "Plug in your vehicle at CP_001"), 0);
    advance(m, &now, 30000, true); /* a long supply: no timeout once answered */
    driver_fsm_telemetry(m, now, "CP_001", S1, 7400, 1234, 37);
    cr_expect_geq(fake_line(&f, "Supplying at CP_001: 7.40 kW, 1.234 kWh, EUR 0.37"), 0);
    driver_fsm_update(m, now, "CP_001", S1, "ended", "unplugged", NULL);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_ENDING);
    driver_ticket t = ticket("CP_001", S1, 1234, 37);
    driver_fsm_ticket(m, now, &t);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_ACK), 1);
    cr_expect_str_eq(fake_last(&f, DRIVER_SEND_ACK)->session, S1);
    cr_expect_geq(fake_line(&f, "Ticket CP_001: 1.234 kWh, EUR 0.37"), 0);
    cr_expect_geq(fake_line(&f, "Next request in 4000 ms (1 left)"), 0);

    advance(m, &now, 3800, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1, "F12: still waiting at 3.8 s");
    advance(m, &now, 200, true);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 2, "next request at 4 s");
    cr_expect_str_eq(fake_last(&f, DRIVER_SEND_REQUEST)->cp, "CP_002");

    driver_fsm_update(m, now, "CP_002", S2, "denied", "cp_busy", "CP_002 is supplying");
    cr_expect_geq(fake_line(&f, "Denied at CP_002: cp_busy (CP_002 is supplying)"), 0);
    cr_expect_eq(f.done_calls, 0, "no wait after the last one, but the summary comes first");
    advance(m, &now, 200, true);
    cr_expect_geq(fake_line(&f, "Summary: 1 ok, 1 denied, 0 failed, 1.234 kWh, EUR 0.37"), 0);
    cr_expect_eq(f.done_calls, 1);
    cr_expect_eq(f.done_code, 0);
    driver_fsm_free(m);
}

Test(fsm, central_away_is_reported_once_and_requests_wait)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    advance(m, &now, 2800, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 0);
    advance(m, &now, 200, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 1, "after 3 s");
    driver_fsm_cmd_request(m, now, "CP_001");
    cr_expect_geq(fake_line(&f, "Waiting for CENTRAL before requesting CP_001"), 0);
    advance(m, &now, 60000, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 1, "once, not every second");
    cr_expect_eq(f.nsent, 0, "nothing sent while CENTRAL is away (no flooding)");
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_QUEUED, "the request waits");

    driver_fsm_heartbeat(m, now, 5000);
    cr_expect_geq(fake_line(&f, "CENTRAL is back"), 0);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 1);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 0, "not before the auth reply");
    int64_t bal = 100;
    driver_fsm_auth_reply(m, now, true, NULL, &bal);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_SYNC), 1, "R32: sync after authenticating");
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    driver_fsm_free(m);
}

/* Issue 9 item 8 on Kafka: the bus's own group join (about 3 s on the mock
 * cluster) is not CENTRAL's silence. While the bus joins, the driver waits
 * four timeouts; once it delivers, one timeout from then. */
Test(fsm, central_silence_counts_from_when_the_bus_delivers)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_bus_joining(m);
    driver_fsm_start(m, now);
    advance(m, &now, 3500, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 0, "the bus is joining");
    driver_fsm_bus_live(m, now);
    advance(m, &now, 2900, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 0,
                 "3 s from when the bus delivers, not from the start");
    advance(m, &now, 200, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 1);
    driver_fsm_free(m);

    /* A bus that never delivers: CENTRAL is unreachable all the same. */
    fake g;
    m = fake_fsm(&g, NULL, true);
    now = 0;
    driver_fsm_bus_joining(m);
    driver_fsm_start(m, now);
    advance(m, &now, 11800, false);
    cr_expect_eq(fake_lines_with(&g, "Unable to connect to CENTRAL"), 0);
    advance(m, &now, 400, false);
    cr_expect_eq(fake_lines_with(&g, "Unable to connect to CENTRAL"), 1, "after 4 x 3 s");
    driver_fsm_free(m);
}

/* Central's login queue was full (issue 11 finding 6): `busy` says nothing
 * about the password; the driver asks again a second later. */
Test(fsm, a_busy_login_is_tried_again)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    advance(m, &now, 1000, true);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_HELLO), 1);
    driver_fsm_auth_reply(m, now, false, "busy", NULL);
    cr_expect_eq(fake_lines_with(&f, "Authentication failed"), 0);
    cr_expect_eq(fake_lines_with(&f, "CENTRAL is busy checking logins"), 1);
    advance(m, &now, 1200, true);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_HELLO), 2, "asked again");
    int64_t bal = 100;
    driver_fsm_auth_reply(m, now, true, NULL, &bal);
    cr_expect_eq(fake_lines_with(&f, "Authenticated as"), 1);
    driver_fsm_free(m);
}

Test(fsm, central_lost_and_back_authenticates_and_syncs_again)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    advance(m, &now, 5000, true);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect"), 0);
    advance(m, &now, 3000, false);
    cr_expect_eq(fake_lines_with(&f, "Unable to connect to CENTRAL"), 1);
    cr_expect_not(driver_fsm_central_alive(m));
    advance(m, &now, 1000, true);
    cr_expect_eq(fake_lines_with(&f, "CENTRAL is back"), 1);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 2);
    driver_fsm_auth_reply(m, now, true, NULL, NULL);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_SYNC), 2);
    driver_fsm_free(m);
}

Test(fsm, central_restart_without_a_gap_is_seen_by_started_at)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_heartbeat(m, now + 500, 1000);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 1);
    driver_fsm_heartbeat(m, now + 1000, 2000);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 2, "a new CENTRAL forgot our hello");
    driver_fsm_free(m);
}

Test(fsm, no_answer_fails_the_request_and_the_file_moves_on)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, "CP_001\nCP_002\n", false);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    cps(m, now, "CP_001", "CP_002");
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    advance(m, &now, 9800, true);
    cr_expect_eq(fake_lines_with(&f, "request failed"), 0);
    advance(m, &now, 200, true);
    cr_expect_geq(
        fake_line(&f, "No answer from CENTRAL for CP_001 within 10000 ms; request failed"), 0);
    advance(m, &now, 4000, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 2);
    driver_fsm_update(m, now, "CP_002", S2, "denied", "cp_stopped", NULL);
    advance(m, &now, 200, true);
    cr_expect_geq(fake_line(&f, "Summary: 0 ok, 1 denied, 1 failed, 0.000 kWh, EUR 0.00"), 0);
    cr_expect_eq(f.done_calls, 0, "exit_when_done false: stays");
    cr_expect_not(driver_fsm_run_active(m));

    /* The failed one's ticket arrives late: shown, acknowledged, counted. */
    driver_ticket t = ticket("CP_001", S1, 2000, 60);
    driver_fsm_ticket(m, now, &t);
    unsigned ok, denied, failed;
    int64_t wh, cents;
    driver_fsm_totals(m, &ok, &denied, &failed, &wh, &cents);
    cr_expect_eq(ok, 1);
    cr_expect_eq(failed, 0);
    cr_expect_eq(cents, 60);
    driver_fsm_free(m);
}

Test(fsm, deadline_pauses_while_central_is_away)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP_003");
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    advance(m, &now, 2000, true);
    advance(m, &now, 30000, false); /* CENTRAL dies 2 s after the request */
    cr_expect_eq(fake_lines_with(&f, "request failed"), 0);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_SENT);
    advance(m, &now, 1000, true);
    driver_fsm_auth_reply(m, now, true, NULL, NULL);
    advance(m, &now, 8000, true);
    cr_expect_eq(fake_lines_with(&f, "request failed"), 0, "the clock restarted on return");
    advance(m, &now, 2000, true);
    cr_expect_eq(fake_lines_with(&f, "request failed"), 1);
    driver_fsm_free(m);
}

Test(fsm, tickets_are_shown_once_and_acknowledged_every_time)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_fsm_update(m, now, "CP_001", S1, "supplying", NULL, NULL);
    driver_ticket t = ticket("CP_001", S1, 500, 15);
    driver_fsm_ticket(m, now, &t);
    driver_fsm_ticket(m, now, &t);
    driver_fsm_ticket(m, now, &t);
    cr_expect_eq(fake_lines_with(&f, "Ticket CP_001"), 1);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_ACK), 3);
    driver_fsm_cmd_history(m);
    cr_expect_geq(fake_line(&f, "History: 1 ticket, balance EUR 149.85"), 0);
    cr_expect_eq(fake_lines_with(&f, "Ticket CP_001"), 2, "history shows it again");
    driver_fsm_free(m);
}

Test(fsm, a_supply_found_by_sync_is_followed_before_the_file_starts)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, "CP_001\n", true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    /* CENTRAL's answer to driver.sync: the supply that runs since before we
     * (re)started (R32), before the list of CPs. */
    driver_fsm_update(m, now, "CP_003", ADOPTED, "supplying", NULL, NULL);
    cps(m, now, "CP_001", "CP_003");
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 0, "busy with the adopted supply");
    cr_expect_str_eq(driver_fsm_session(m), ADOPTED);
    driver_fsm_telemetry(m, now, "CP_003", ADOPTED, 11000, 3000, 90);
    driver_ticket t = ticket("CP_003", ADOPTED, 3000, 90);
    driver_fsm_ticket(m, now, &t);
    cr_expect_geq(fake_line(&f, "Ticket CP_003: 3.000 kWh, EUR 0.90"), 0);
    advance(m, &now, 4000, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    driver_fsm_update(m, now, "CP_001", S1, "denied", "balance_too_low", NULL);
    advance(m, &now, 200, true);
    cr_expect_geq(fake_line(&f, "Summary: 0 ok, 1 denied, 0 failed"), 0,
                  "the adopted supply is not one of this run's requests");
    driver_fsm_free(m);
}

Test(fsm, unknown_ids_of_the_file_are_skipped_with_their_line)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, "CP_999\nbad id\nCP_001\n", true);
    cr_expect_geq(fake_line(&f, "svc.txt:2: invalid CP id 'bad id'"), 0);
    cr_expect_geq(fake_line(&f, "Services file svc.txt: 2 CP ids to request"), 0);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    cps(m, now, "CP_001", NULL);
    cr_expect_geq(
        fake_line(&f, "svc.txt:1: unknown CP id 'CP_999' (not listed by CENTRAL); skipped"), 0);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1, "no wait after a skipped id");
    cr_expect_str_eq(fake_last(&f, DRIVER_SEND_REQUEST)->cp, "CP_001");
    driver_fsm_free(m);
}

Test(fsm, without_a_list_of_cps_the_file_starts_after_a_timeout)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, "CP_999\n", true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    advance(m, &now, 9800, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 0);
    advance(m, &now, 200, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1, "unknown to us: CENTRAL decides");
    driver_fsm_update(m, now, "CP_999", S1, "denied", "unknown_cp", NULL);
    cr_expect_geq(fake_line(&f, "Denied at CP_999: unknown_cp"), 0);
    driver_fsm_free(m);
}

Test(fsm, refused_authentication_still_sends_requests_so_the_reason_shows)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    driver_fsm_heartbeat(m, now, 1000);
    driver_fsm_auth_reply(m, now, false, "not_authenticated", NULL);
    cr_expect_geq(fake_line(&f, "Authentication failed for driver1: not_authenticated"), 0);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_SYNC), 0);
    driver_fsm_cmd_request(m, now, "CP_001");
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    driver_fsm_update(m, now, "CP_001", S1, "denied", "not_authenticated", "wrong password");
    cr_expect_geq(fake_line(&f, "Denied at CP_001: not_authenticated (wrong password)"), 0);
    driver_fsm_free(m);
}

Test(fsm, unanswered_hello_is_retried_and_a_waiting_request_fails)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    driver_fsm_heartbeat(m, now, 1000);
    driver_fsm_cmd_request(m, now, "CP_001");
    advance(m, &now, 9800, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 1);
    advance(m, &now, 200, true);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_HELLO), 2, "one retry per timeout, no flood");
    cr_expect_geq(fake_line(&f, "No answer from CENTRAL for CP_001"), 0);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 0);
    driver_fsm_free(m);
}

Test(fsm, back_pressure_keeps_the_request_queued)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    f.fail_sends = 1;
    driver_fsm_cmd_request(m, now, "CP_001");
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_QUEUED);
    advance(m, &now, 200, true);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_SENT);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    driver_fsm_free(m);
}

Test(fsm, commands_refuse_what_cannot_be_done)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP 1");
    cr_expect_geq(fake_line(&f, "Invalid CP id 'CP 1'"), 0);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_fsm_cmd_request(m, now, "CP_002");
    cr_expect_geq(fake_line(&f, "A request is already in progress at CP_001 (sent)"), 0);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1);
    driver_fsm_cmd_status(m, now);
    cr_expect_geq(fake_line(&f, "Status: driver driver1, CENTRAL connected, authenticated yes, "
                                "balance EUR 150.00, request CP_001 sent, services none"),
                  0);
    driver_fsm_cmd_list(m, now);
    cr_expect_eq(fake_count(&f, DRIVER_SEND_LIST), 2);
    driver_cp list[1] = {{.cp_id = "CP_001", .location = "Madrid", .state = "ACTIVATED",
                          .price_cents_per_kwh = 35}};
    driver_fsm_cps(m, now, list, 1);
    cr_expect_geq(fake_line(&f, "CPs you can use now: 1 (1 CP listed)"), 0);
    cr_expect_geq(fake_line(&f, "  CP_001     Available      EUR 0.35/kWh  Madrid"), 0);
    driver_fsm_free(m);
}

Test(fsm, an_interruption_waits_for_its_ticket_then_gives_up)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_fsm_update(m, now, "CP_001", S1, "supplying", NULL, NULL);
    driver_fsm_update(m, now, "CP_001", S1, "interrupted", "fault", "engine KO");
    cr_expect_geq(fake_line(&f, "Interrupted at CP_001: fault (engine KO)"), 0);
    advance(m, &now, 10000, true);
    cr_expect_geq(fake_line(&f, "No ticket from CENTRAL for CP_001 within 10000 ms; it will be "
                                "shown when CENTRAL sends it"),
                  0);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_IDLE);
    driver_fsm_free(m);
}

Test(fsm, a_request_given_up_is_followed_if_central_answers_late)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP_001");
    advance(m, &now, 10000, true);
    cr_assert_eq(fake_lines_with(&f, "request failed"), 1);
    driver_fsm_update(m, now, "CP_001", S1, "authorised", NULL, NULL);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_ACTIVE);
    cr_expect_str_eq(driver_fsm_session(m), S1);
    driver_fsm_update(m, now, "CP_001", S1, "denied", "cp_refused", "engine busy");
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_IDLE);
    unsigned ok, denied, failed;
    int64_t wh, cents;
    driver_fsm_totals(m, &ok, &denied, &failed, &wh, &cents);
    cr_expect_eq(denied, 1);
    cr_expect_eq(failed, 0);
    /* A repeat of an old step for a finished session is shown, not followed. */
    driver_fsm_update(m, now, "CP_001", S1, "supplying", NULL, NULL);
    cr_expect_eq(driver_fsm_state(m), DRIVER_REQ_IDLE);
    driver_fsm_free(m);
}

Test(fsm, absurd_ticket_amounts_saturate_the_totals)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, true);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_ticket t = ticket("CP_001", S1, INT64_MAX, INT64_MAX);
    driver_fsm_ticket(m, now, &t);
    advance(m, &now, 4000, true);
    driver_fsm_cmd_request(m, now, "CP_001");
    t = ticket("CP_001", S2, INT64_MAX, INT64_MAX);
    driver_fsm_ticket(m, now, &t);
    unsigned ok, denied, failed;
    int64_t wh, cents;
    driver_fsm_totals(m, &ok, &denied, &failed, &wh, &cents);
    cr_expect_eq(ok, 2);
    cr_expect_eq(wh, INT64_MAX);
    cr_expect_eq(cents, INT64_MAX);
    driver_fsm_free(m);
}

Test(fsm, an_unknown_id_denied_by_central_is_reported_at_its_line)
{
    fake f;
    memset(&f, 0, sizeof f);
    driver_fsm_config cfg = {.driver_id = "driver1", .central_timeout_ms = 3000,
                             .request_timeout_ms = 10000, .wait_between_ms = 4000,
                             .exit_when_done = true, .skip_unknown_cps = false};
    driver_fsm_ops ops = fake_ops(&f);
    driver_fsm *m = driver_fsm_new(&cfg, &ops);
    driver_services s;
    const char *text = "# x\nCP_999\n";
    cr_assert_eq(driver_services_parse("svc.txt", text, strlen(text), &s, NULL), EVC_OK);
    driver_fsm_set_services(m, &s);
    driver_services_free(&s);
    uint64_t now = 0;
    driver_fsm_start(m, now);
    authenticate(m, &now, &f);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_REQUEST), 1, "no wait for the list when not skipping");
    driver_fsm_update(m, now, "CP_999", S1, "denied", "unknown_cp", NULL);
    cr_expect_geq(fake_line(&f, "svc.txt:2: unknown CP id 'CP_999' (CENTRAL: unknown_cp)"), 0);
    driver_fsm_free(m);
}
