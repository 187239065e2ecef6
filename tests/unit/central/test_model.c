/* test_model.c: Central's pure rules -- state derivation, request checks,
 * operator commands, panel lines. */
#include <criterion/criterion.h>
#include <string.h>

#include "central_model.h"

static central_cp_facts healthy(void)
{
    return (central_cp_facts){.heard = true, .last_hb_ms = 10000, .health = CENTRAL_HEALTH_OK};
}

Test(state, never_heard_is_disconnected_whatever_else)
{
    central_cp_facts f = healthy();
    f.heard = false;
    f.stopped = true;
    f.has_supply = true;
    cr_assert_eq(central_derive_state(&f, 10000, 3000), CENTRAL_CP_DISCONNECTED);
}

Test(state, heartbeat_timeout_boundary)
{
    central_cp_facts f = healthy();
    cr_assert_eq(central_derive_state(&f, 13000, 3000), CENTRAL_CP_ACTIVATED, "exactly 3 s: alive");
    cr_assert_eq(central_derive_state(&f, 13001, 3000), CENTRAL_CP_DISCONNECTED);
    f.health = CENTRAL_HEALTH_KO;
    cr_assert_eq(central_derive_state(&f, 13001, 3000), CENTRAL_CP_DISCONNECTED,
                 "no heartbeat beats an engine fault");
}

Test(state, precedence_broken_stopped_supplying_activated)
{
    central_cp_facts f = healthy();
    f.stopped = true;
    f.has_supply = true;
    f.health = CENTRAL_HEALTH_UNREACHABLE;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_BROKEN);
    f.health = CENTRAL_HEALTH_KO;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_BROKEN);
    f.health = CENTRAL_HEALTH_OK;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_STOPPED);
    f.stopped = false;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_SUPPLYING);
    f.has_supply = false;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_ACTIVATED);
}

Test(state, names_colours_and_health)
{
    cr_assert_str_eq(central_cp_state_name(CENTRAL_CP_STOPPED), "STOPPED");
    /* Background blocks (48;5;N), never only a coloured text; five colours. */
    const char *seen[5];
    for (int st = CENTRAL_CP_DISCONNECTED; st <= CENTRAL_CP_ACTIVATED; st++) {
        seen[st] = central_cp_state_color((central_cp_state)st);
        cr_assert(strstr(seen[st], ";48;5;"), "state %d: %s", st, seen[st] + 1);
        for (int o = CENTRAL_CP_DISCONNECTED; o < st; o++)
            cr_assert_str_neq(seen[st], seen[o], "states %d and %d", st, o);
    }
    cr_assert(strstr(central_cp_state_color(CENTRAL_CP_STOPPED), "48;5;208m"), "orange");
    cr_assert(strstr(central_cp_state_color(CENTRAL_CP_BROKEN), "48;5;160m"), "red");
    central_health h;
    cr_assert_eq(central_health_parse("UNREACHABLE", &h), 0);
    cr_assert_eq(h, CENTRAL_HEALTH_UNREACHABLE);
    cr_assert_eq(central_health_parse("ok", &h), -1, "case matters on the wire");
    cr_assert_eq(central_health_parse(NULL, &h), -1);
}

static central_request_facts good_request(void)
{
    return (central_request_facts){
        .driver_known = true, .check_authentication = true, .driver_authenticated = true,
        .cp_known = true, .cp_state = CENTRAL_CP_ACTIVATED, .balance_cents = 500,
        .min_balance_cents = 500};
}

Test(checks, a_good_request_passes_at_exactly_the_minimum_balance)
{
    central_request_facts f = good_request();
    cr_assert_null(central_check_request(&f));
}

Test(checks, each_reason_and_their_order)
{
    /* Everything wrong at once, then fixed one by one: the reasons come in
     * the documented order. */
    central_request_facts f = {.check_authentication = true, .cp_state = CENTRAL_CP_DISCONNECTED,
                               .driver_busy = true, .balance_cents = 499,
                               .min_balance_cents = 500};
    const char *expect[] = {"unknown_driver", "not_authenticated", "unknown_cp",
                            "cp_disconnected", "cp_broken", "cp_stopped", "cp_busy",
                            "driver_busy", "balance_too_low", NULL};
    for (int i = 0; expect[i]; i++) {
        const char *r = central_check_request(&f);
        cr_assert_not_null(r, "step %d", i);
        cr_assert_str_eq(r, expect[i]);
        cr_assert_neq(strcmp(central_reason_text(r), ""), 0);
        switch (i) {
        case 0: f.driver_known = true; break;
        case 1: f.driver_authenticated = true; break;
        case 2: f.cp_known = true; f.cp_state = CENTRAL_CP_DISCONNECTED; break;
        case 3: f.cp_state = CENTRAL_CP_BROKEN; break;
        case 4: f.cp_state = CENTRAL_CP_STOPPED; break;
        case 5: f.cp_state = CENTRAL_CP_SUPPLYING; break;
        case 6: f.cp_state = CENTRAL_CP_ACTIVATED; break;
        case 7: f.driver_busy = false; break;
        case 8: f.balance_cents = 500; break;
        }
    }
    cr_assert_null(central_check_request(&f));
}

Test(checks, a_request_at_the_cp_menu_needs_no_password)
{
    central_request_facts f = good_request();
    f.driver_authenticated = false;
    cr_assert_str_eq(central_check_request(&f), "not_authenticated");
    f.check_authentication = false;
    cr_assert_null(central_check_request(&f));
    f.driver_known = false;
    cr_assert_str_eq(central_check_request(&f), "unknown_driver");
}

Test(ids, valid_and_invalid)
{
    cr_assert(evc_id_valid("CP_001"));
    cr_assert(evc_id_valid("a.b-c_9"));
    cr_assert_not(evc_id_valid(""));
    cr_assert_not(evc_id_valid(NULL));
    cr_assert_not(evc_id_valid("CP 001"));
    cr_assert_not(evc_id_valid("CP#1"));
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    cr_assert_not(evc_id_valid(long_id));
    long_id[64] = '\0';
    cr_assert(evc_id_valid(long_id));
}

Test(commands, every_command)
{
    central_cmd c;
    central_cmd_parse("stop CP_001", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_STOP);
    cr_assert_not(c.all);
    cr_assert_str_eq(c.target, "CP_001");
    central_cmd_parse("  RESUME   all \r\n", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_RESUME);
    cr_assert(c.all);
    central_cmd_parse("stop all", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_STOP);
    cr_assert(c.all);
    central_cmd_parse("resume CP_002", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_RESUME);
    cr_assert_str_eq(c.target, "CP_002");
    central_cmd_parse("reset CP_003", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_RESET);
    cr_assert_str_eq(c.target, "CP_003");
    cr_assert_not(c.hard, "Soft by default");
    central_cmd_parse(" Reset CP_003 HARD ", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_RESET);
    cr_assert(c.hard);
    central_cmd_parse("reset CP_003 soft", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_RESET);
    cr_assert_not(c.hard);
    central_cmd_parse("list", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_LIST);
    central_cmd_parse("help", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_HELP);
    central_cmd_parse("quit", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_QUIT);
    central_cmd_parse("   ", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_EMPTY);
    central_cmd_parse(NULL, &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_EMPTY);
}

Test(commands, errors_say_what_is_wrong)
{
    central_cmd c;
    central_cmd_parse("stop", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "usage: stop"), "%s", c.error);
    central_cmd_parse("stop CP_001 CP_002", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    central_cmd_parse("stop CP#1", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "not a CP id"), "%s", c.error);
    central_cmd_parse("list now", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "takes no argument"), "%s", c.error);
    central_cmd_parse("reset", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "usage: reset"), "%s", c.error);
    central_cmd_parse("reset all", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR, "one CP at a time");
    central_cmd_parse("reset CP_001 warm", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR, "only soft or hard");
    central_cmd_parse("reset CP_001 hard now", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    central_cmd_parse("reset CP#1", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "not a CP id"), "%s", c.error);
    central_cmd_parse("reboot", &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    cr_assert(strstr(c.error, "unknown command: reboot"), "%s", c.error);
    char garbage[400];
    memset(garbage, 'x', sizeof garbage - 1);
    garbage[sizeof garbage - 1] = '\0';
    central_cmd_parse(garbage, &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR);
    memcpy(garbage, "stop ", 5);
    central_cmd_parse(garbage, &c);
    cr_assert_eq(c.kind, CENTRAL_CMD_ERROR, "an overlong id is not truncated into a valid one");
}

Test(panel, plain_lines)
{
    char line[512];
    central_panel_cp cp = {.id = "CP_001", .location = "Alicante - Plaza de los Luceros",
                           .price_cents_per_kwh = 35, .state = CENTRAL_CP_ACTIVATED};
    central_panel_line(line, sizeof line, &cp, false);
    cr_assert_str_eq(line, "CP_001    Alicante - Plaza de los Luceros   0.35 EUR/kWh  ACTIVATED");
    cp.state = CENTRAL_CP_SUPPLYING;
    cp.supplying = true;
    cp.w = 7449;
    cp.wh = 1000;
    cp.cents = 123;
    cp.driver_id = "driver1";
    central_panel_line(line, sizeof line, &cp, false);
    cr_assert_str_eq(line, "CP_001    Alicante - Plaza de los Luceros   0.35 EUR/kWh  SUPPLYING"
                           "     7.4 kW  1.23 EUR  driver1");
    cp.state = CENTRAL_CP_BROKEN; /* a fault: no live figures */
    cp.location = "A location much longer than the thirty-two columns";
    cp.price_cents_per_kwh = 140;
    central_panel_line(line, sizeof line, &cp, false);
    cr_assert_str_eq(line, "CP_001    A location much longer than the   1.40 EUR/kWh  BROKEN");
    cr_assert_null(strchr(line, '\x1b'), "plain mode has no escape codes");
}

Test(panel, colour_wraps_the_state)
{
    char line[512];
    central_panel_cp cp = {.id = "CP_003", .location = "x", .price_cents_per_kwh = 40,
                           .state = CENTRAL_CP_BROKEN};
    central_panel_line(line, sizeof line, &cp, true);
    cr_assert(strstr(line, "\x1b[1;97;48;5;160m BROKEN       \x1b[0m"), "%s", line);
    cp.state = CENTRAL_CP_STOPPED;
    central_panel_line(line, sizeof line, &cp, true);
    cr_assert(strstr(line, "48;5;208m Out of Order \x1b[0m"), "the words in the block: %s", line);
}

Test(panel, small_buffer_is_terminated)
{
    char line[10];
    central_panel_cp cp = {.id = "CP_001", .location = "x", .state = CENTRAL_CP_ACTIVATED};
    size_t n = central_panel_line(line, sizeof line, &cp, false);
    cr_assert_lt(n, sizeof line);
    cr_assert_eq(strlen(line), n);
}

Test(panel, euros)
{
    char b[32];
    central_fmt_eur(b, sizeof b, 0);
    cr_assert_str_eq(b, "0.00");
    central_fmt_eur(b, sizeof b, 15000);
    cr_assert_str_eq(b, "150.00");
    central_fmt_eur(b, sizeof b, -5);
    cr_assert_str_eq(b, "-0.05");
}

/* Issue 9 item 6: STOPPED reads "Out of Order" (SPEC section 3); a BROKEN CP
 * is broken, not out of order. */
Test(panel, stopped_reads_out_of_order)
{
    char line[512];
    central_panel_cp cp = {.id = "CP_002", .location = "x", .price_cents_per_kwh = 40,
                           .state = CENTRAL_CP_STOPPED};
    central_panel_line(line, sizeof line, &cp, false);
    cr_assert(strstr(line, "Out of Order"), "%s", line);
    cr_assert_str_eq(central_cp_state_name(CENTRAL_CP_STOPPED), "STOPPED", "the wire name stays");
}

Test(checks, a_broken_cp_is_not_called_out_of_order)
{
    const char *t = central_reason_text("cp_broken");
    cr_assert(strstr(t, "broken"), "%s", t);
    cr_assert_null(strstr(t, "out of order"), "%s", t);
}

/* Issue 9 item 4: an authorised CP waiting for the plug says so. */
Test(panel, an_authorised_supply_waits_for_the_plug)
{
    char line[512];
    central_panel_cp cp = {.id = "CP_001", .location = "x", .price_cents_per_kwh = 35,
                           .state = CENTRAL_CP_SUPPLYING, .waiting_for_plug = true,
                           .driver_id = "driver1"};
    central_panel_line(line, sizeof line, &cp, false);
    cr_assert_str_eq(line, "CP_001    x                                 0.35 EUR/kWh  SUPPLYING"
                           "     waiting for plug  driver1");
}

Test(state, a_reported_fault_is_broken_until_the_heartbeats_decide)
{
    central_cp_facts f = healthy();
    f.fault_reported = true;
    cr_assert_eq(central_derive_state(&f, 10500, 3000), CENTRAL_CP_BROKEN);
}
