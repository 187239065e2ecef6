/* test_fsm_extra.c: the FSM's commands for the driver dashboard (issue 13):
 * a request for any free CP, the driver's stop, a login proved by the web
 * page. Fake clock, fake bus (fake_ops.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_ops.h"

#define S1 "00000000-0000-4000-8000-000000000001"
#define OTHER "99999999-2222-4333-8444-555555555555"

static driver_fsm *ready(fake *f, uint64_t now)
{
    driver_fsm *m = fake_fsm(f, NULL, false);
    driver_fsm_start(m, now);
    driver_fsm_heartbeat(m, now, 1000);
    int64_t bal = 15000;
    driver_fsm_auth_reply(m, now, true, NULL, &bal);
    return m;
}

Test(fsm_extra, any_free_cp_is_sent_as_star_and_learns_the_cp_central_picked)
{
    fake f;
    uint64_t now = 1000;
    driver_fsm *m = ready(&f, now);
    cr_assert_eq(driver_fsm_cmd_request(m, now, "any"), DRIVER_CMD_OK);
    const fake_sent *s = fake_last(&f, DRIVER_SEND_REQUEST);
    cr_assert_not_null(s);
    cr_assert_str_eq(s->cp, "*");
    cr_assert_geq(fake_line(&f, "Sent request for any free CP (session " S1 ")"), 0);
    driver_fsm_update(m, now, "*", S1, "received", NULL, "request received");
    cr_assert_geq(fake_line(&f, "Request for any free CP received by CENTRAL"), 0);
    cr_assert_str_eq(driver_fsm_cp(m), "*");
    driver_fsm_update(m, now, "CP_002", S1, "authorised", NULL, "supply authorised");
    cr_assert_str_eq(driver_fsm_cp(m), "CP_002", "the CP CENTRAL picked");
    cr_assert_geq(fake_line(&f, "Authorised at CP_002"), 0);
    /* A request already in progress names the CP. */
    cr_assert_eq(driver_fsm_cmd_request(m, now, "*"), DRIVER_CMD_BUSY);
    cr_assert_geq(fake_line(&f, "A request is already in progress at CP_002"), 0);
    driver_fsm_free(m);
}

Test(fsm_extra, no_free_cp_is_a_denial_in_words)
{
    fake f;
    uint64_t now = 1000;
    driver_fsm *m = ready(&f, now);
    cr_assert_eq(driver_fsm_cmd_request(m, now, "*"), DRIVER_CMD_OK);
    driver_fsm_update(m, now, "*", S1, "denied", "no_free_cp", "no free charging point");
    cr_assert_geq(fake_line(&f, "Denied at any free CP: no_free_cp (no free charging point)"), 0);
    cr_assert_eq(driver_fsm_state(m), DRIVER_REQ_IDLE);
    driver_fsm_free(m);
}

Test(fsm_extra, stop_sends_supply_stop_only_for_a_supply_in_progress)
{
    fake f;
    uint64_t now = 1000;
    driver_fsm *m = ready(&f, now);
    cr_assert_eq(driver_fsm_cmd_stop(m, now), DRIVER_CMD_NONE);
    cr_assert_geq(fake_line(&f, "No supply in progress to stop"), 0);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_fsm_update(m, now, "CP_001", S1, "supplying", NULL, "supplying");
    cr_assert_eq(driver_fsm_cmd_stop(m, now), DRIVER_CMD_OK);
    const fake_sent *s = fake_last(&f, DRIVER_SEND_STOP);
    cr_assert_not_null(s);
    cr_assert_str_eq(s->session, S1);
    cr_assert_str_eq(s->cp, "CP_001");
    driver_fsm_update(m, now, "CP_001", S1, "stopping", "driver_stop", "stopping");
    cr_assert_geq(fake_line(&f, "Stopping the supply at CP_001 at your request"), 0);
    cr_assert_eq(driver_fsm_state(m), DRIVER_REQ_ACTIVE);
    driver_fsm_update(m, now, "CP_001", S1, "ended", "driver_stop", "stopped by the driver");
    cr_assert_geq(fake_line(&f, "Ended at CP_001: driver_stop (stopped by the driver)"), 0);
    cr_assert_eq(driver_fsm_cmd_stop(m, now), DRIVER_CMD_NONE, "ended: waits for the ticket");
    cr_assert_eq(fake_count(&f, DRIVER_SEND_STOP), 1);
    /* CENTRAL away: nothing sent. */
    driver_fsm_free(m);
    m = ready(&f, now);
    driver_fsm_cmd_request(m, now, "CP_001");
    driver_fsm_update(m, now, "CP_001", S1, "supplying", NULL, "supplying");
    driver_fsm_tick(m, now + 5000);
    cr_assert_eq(driver_fsm_cmd_stop(m, now + 5000), DRIVER_CMD_AWAY);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_STOP), 0);
    driver_fsm_free(m);
}

Test(fsm_extra, a_stop_refusal_is_shown_and_never_followed_as_a_supply)
{
    fake f;
    uint64_t now = 1000;
    driver_fsm *m = ready(&f, now);
    driver_fsm_update(m, now, "", OTHER, "stop_refused", "unknown_session",
                      "no supply of yours has that session id");
    cr_assert_geq(fake_line(&f, "Stop refused by CENTRAL: unknown_session (no supply of yours "
                                "has that session id)"),
                  0);
    cr_assert_eq(driver_fsm_state(m), DRIVER_REQ_IDLE, "not adopted");
    driver_fsm_free(m);
}

Test(fsm_extra, a_login_proved_by_the_page_authenticates_and_syncs)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, false);
    uint64_t now = 1000;
    driver_fsm_start(m, now);
    driver_fsm_heartbeat(m, now, 1000);
    driver_fsm_auth_reply(m, now, false, "not_authenticated", NULL);
    cr_assert_eq(driver_fsm_auth(m, NULL), -1);
    int64_t bal = 1234;
    driver_fsm_login_ok(m, now, &bal);
    cr_assert_eq(driver_fsm_auth(m, NULL), 1);
    int64_t got = 0;
    cr_assert(driver_fsm_balance(m, &got));
    cr_assert_eq(got, 1234);
    cr_assert_eq(fake_count(&f, DRIVER_SEND_SYNC), 1);
    cr_assert_geq(fake_line(&f, "Authenticated as driver1 (balance EUR 12.34)"), 0);
    driver_fsm_free(m);
}
