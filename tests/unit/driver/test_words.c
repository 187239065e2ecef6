/* test_words.c: what people read on the driver's screen (issue 9 items 2, 6
 * and 12): every reason in plain words, CP states as SPEC section 3 names
 * them, counts of usable CPs, plurals. */
#include <criterion/criterion.h>
#include <string.h>

#include "driver_format.h"
#include "driver_fsm.h"
#include "fake_ops.h"

#define S1 "0f8fad5b-d9cb-469f-a165-70867728950e"

/* Every reason code of docs/PROTOCOL.md (denials, ends of a supply, the
 * engine's refusals) has plain words. */
Test(words, every_reason_code_has_plain_words)
{
    static const char *const codes[] = {
        "unknown_driver", "not_authenticated", "unknown_cp",  "cp_busy",     "cp_stopped",
        "cp_broken",      "cp_disconnected",   "driver_busy", "balance_too_low",
        "cp_refused",     "cp_no_answer",      "unplugged",   "fault",       "stopped",
        "monitor_lost",   "engine_restart",    "not_plugged", "cancelled",   "no_cp_id",
        "no_monitor",     "engine_ko",         "busy",        "reset",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *w = driver_reason_text(codes[i]);
        cr_expect_not_null(w, "no words for %s", codes[i]);
        if (w)
            cr_expect(strchr(w, '_') == NULL, "'%s' for %s is not plain words", w, codes[i]);
    }
}

/* Central sends text = the code when it has no sentence (the operator saw
 * "engine_restart (engine_restart)"): the driver's own words replace it. */
Test(words, a_text_equal_to_the_code_is_replaced_by_words)
{
    char b[512];
    cr_expect_str_eq(driver_fmt_step("interrupted", "CP_001", "engine_restart", "engine_restart",
                                     b, sizeof b),
                     "Interrupted at CP_001: engine_restart (the charging point restarted)");
    cr_expect_str_eq(driver_fmt_step("ended", "CP_001", "engine_restart", NULL, b, sizeof b),
                     "Ended at CP_001: engine_restart (the charging point restarted)");
    /* Central's own sentence, when it says more, is kept. */
    cr_expect_str_eq(driver_fmt_step("denied", "CP_001", "cp_refused",
                                     "the charging point restarted before the plug-in", b,
                                     sizeof b),
                     "Denied at CP_001: cp_refused (the charging point restarted before the "
                     "plug-in)");
    /* An unknown code with no text: the code alone, never twice. */
    cr_expect_str_eq(driver_fmt_step("ended", "CP_001", "solar_flare", "solar_flare", b,
                                     sizeof b),
                     "Ended at CP_001: solar_flare");
}

Test(words, ticket_reason_in_plain_words)
{
    char b[512];
    driver_ticket t = {.cp_id = "CP_001", .session_id = S1, .reason = "engine_restart",
                       .wh = 10, .cents = 1, .price_cents_per_kwh = 30, .started_at = 0,
                       .ended_at = 1000, .duration_s = 1};
    driver_fmt_ticket(&t, b, sizeof b);
    cr_expect(strstr(b, "reason engine_restart (the charging point restarted),"), "%s", b);
}

Test(words, cp_states_as_spec_names_them)
{
    cr_expect_str_eq(driver_cp_state_text("STOPPED"), "Out of Order");
    cr_expect_str_eq(driver_cp_state_text("BROKEN"), "Broken (fault)");
    cr_expect_str_eq(driver_cp_state_text("ACTIVATED"), "Available");
    cr_expect_str_eq(driver_cp_state_text("DISCONNECTED"), "Disconnected");
    cr_expect_str_eq(driver_cp_state_text("SUPPLYING"), "Supplying");
    cr_expect_null(driver_cp_state_text("WHATEVER"));
}

static void authenticate(driver_fsm *m, fake *f)
{
    driver_fsm_heartbeat(m, 0, 1000);
    cr_assert_eq(fake_count(f, DRIVER_SEND_HELLO), 1);
    int64_t bal = 15000;
    driver_fsm_auth_reply(m, 0, true, NULL, &bal);
}

/* `list`: the count is of CPs a request can go to now; each state reads as
 * SPEC section 3 says. */
Test(words, list_counts_only_usable_cps)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, false);
    driver_fsm_start(m, 0);
    authenticate(m, &f);
    driver_fsm_cmd_list(m, 0);
    driver_cp list[] = {
        {.cp_id = "CP_001", .state = "ACTIVATED", .price_cents_per_kwh = 30},
        {.cp_id = "CP_002", .state = "STOPPED", .price_cents_per_kwh = 30},
        {.cp_id = "CP_003", .state = "BROKEN", .price_cents_per_kwh = 30},
        {.cp_id = "CP_004", .state = "DISCONNECTED", .price_cents_per_kwh = 30},
        {.cp_id = "CP_005", .state = "SUPPLYING", .price_cents_per_kwh = 30},
    };
    driver_fsm_cps(m, 0, list, 5);
    cr_expect_geq(fake_line(&f, "CPs you can use now: 1 (5 CPs listed)"), 0);
    cr_expect_geq(fake_line(&f, "CP_002     Out of Order"), 0);
    cr_expect_geq(fake_line(&f, "CP_003     Broken (fault)"), 0);
    cr_expect_geq(fake_line(&f, "CP_004     Disconnected"), 0);
    cr_expect_eq(fake_lines_with(&f, "STOPPED"), 0);
    driver_fsm_free(m);
}

Test(words, history_says_ticket_or_tickets)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, false);
    driver_fsm_start(m, 0);
    authenticate(m, &f);
    driver_fsm_cmd_history(m);
    cr_expect_geq(fake_line(&f, "History: 0 tickets, balance EUR 150.00"), 0);
    driver_ticket t = {.cp_id = "CP_001", .session_id = S1, .reason = "unplugged", .wh = 10,
                       .cents = 1, .price_cents_per_kwh = 30};
    driver_fsm_ticket(m, 0, &t);
    driver_fsm_cmd_history(m);
    cr_expect_geq(fake_line(&f, "History: 1 ticket,"), 0);
    cr_expect_eq(fake_lines_with(&f, "1 tickets"), 0);
    driver_fsm_free(m);
}

Test(words, auth_failure_in_plain_words)
{
    fake f;
    driver_fsm *m = fake_fsm(&f, NULL, false);
    driver_fsm_start(m, 0);
    driver_fsm_heartbeat(m, 0, 1000);
    driver_fsm_auth_reply(m, 0, false, "not_authenticated", NULL);
    cr_expect_geq(
        fake_line(&f, "Authentication failed for driver1: not_authenticated (wrong or missing "
                      "password)"),
        0);
    driver_fsm_free(m);
}
