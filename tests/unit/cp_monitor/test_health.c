/* test_health.c: the monitor's view of its engine -- OK / KO / UNREACHABLE
 * from PONGs, silence and a lost link, reported only on a change. */
#include <criterion/criterion.h>

#include "monitor_health.h"

Test(health, starts_unknown_and_reports_unreachable)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    cr_assert_eq(sm.health, MONITOR_UNKNOWN);
    cr_assert_str_eq(monitor_health_wire(sm.health), "UNREACHABLE");
    cr_assert_not(monitor_health_tick(&sm, 100000), "nothing sent, nothing overdue");
}

Test(health, pongs_set_ok_and_ko_and_only_changes_count)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_ping_sent(&sm, 0);
    cr_assert(monitor_health_pong(&sm, "OK"));
    cr_assert_str_eq(monitor_health_wire(sm.health), "OK");
    for (int i = 1; i < 10; i++) {
        monitor_health_ping_sent(&sm, (uint64_t)i * 1000);
        cr_assert_not(monitor_health_pong(&sm, "OK"), "a steady OK is not a change");
        cr_assert_not(monitor_health_tick(&sm, (uint64_t)i * 1000 + 500));
    }
    monitor_health_ping_sent(&sm, 10000);
    cr_assert(monitor_health_pong(&sm, "KO"));
    cr_assert_str_eq(monitor_health_wire(sm.health), "KO");
    cr_assert_not(monitor_health_pong(&sm, "KO"));
    cr_assert(monitor_health_pong(&sm, "OK"));
    cr_assert(monitor_health_pong(&sm, "bogus"), "an unknown health is not OK");
    cr_assert_eq(sm.health, MONITOR_KO);
    cr_assert(monitor_health_pong(&sm, "OK"));
    cr_assert(monitor_health_pong(&sm, NULL));
    cr_assert_eq(sm.health, MONITOR_KO);
}

Test(health, silence_past_the_timeout_is_unreachable_once)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_ping_sent(&sm, 1000);
    cr_assert(monitor_health_pong(&sm, "OK"));
    monitor_health_ping_sent(&sm, 2000);  /* unanswered ... */
    monitor_health_ping_sent(&sm, 3000);  /* ... and again: the oldest one counts */
    cr_assert_not(monitor_health_tick(&sm, 3999));
    cr_assert(monitor_health_tick(&sm, 4000), "2000 ms after the oldest unanswered PING");
    cr_assert_str_eq(monitor_health_wire(sm.health), "UNREACHABLE");
    monitor_health_ping_sent(&sm, 5000);
    cr_assert_not(monitor_health_tick(&sm, 9000), "reported once, not at every tick");
    cr_assert(monitor_health_pong(&sm, "OK"), "recovery is a change");
    cr_assert_not(monitor_health_tick(&sm, 20000), "answered: nothing overdue");
}

Test(health, a_lost_link_is_unreachable_at_once)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_ping_sent(&sm, 0);
    cr_assert(monitor_health_pong(&sm, "KO"));
    monitor_health_ping_sent(&sm, 1000);
    cr_assert(monitor_health_link_down(&sm, 1000));
    cr_assert_eq(sm.health, MONITOR_UNREACHABLE);
    cr_assert_not(monitor_health_link_down(&sm, 1000), "each failed reconnection is not a change");
    cr_assert_not(monitor_health_tick(&sm, 100000), "the pending PING died with the link");
    /* Reconnected: the HELLO is the first probe. */
    monitor_health_ping_sent(&sm, 200000);
    cr_assert(monitor_health_pong(&sm, "OK"));
}

Test(health, never_answered_at_all_becomes_unreachable)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 1500);
    monitor_health_ping_sent(&sm, 0); /* the HELLO of a hung engine */
    cr_assert_not(monitor_health_tick(&sm, 1499));
    cr_assert(monitor_health_tick(&sm, 1500));
    cr_assert_eq(sm.health, MONITOR_UNREACHABLE);
}

/* Issue 9 item 4: engine and monitor start together; the engine does not
 * listen yet. That is no fault before the grace period ends. */
Test(health, an_engine_not_reached_yet_is_no_fault_during_the_grace)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_set_grace(&sm, 5000);
    cr_assert_not(monitor_health_link_down(&sm, 100), "connection refused at start");
    cr_assert_eq(sm.health, MONITOR_UNKNOWN);
    cr_assert_not(monitor_health_tick(&sm, 4999));
    monitor_health_link_up(&sm);
    monitor_health_ping_sent(&sm, 4000); /* the HELLO */
    cr_assert(monitor_health_pong(&sm, "OK"));
    cr_assert_not(monitor_health_tick(&sm, 9000));
    cr_assert(monitor_health_link_down(&sm, 9100), "once measured, a lost link is news");
}

Test(health, an_engine_never_reached_is_unreachable_when_the_grace_ends)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_set_grace(&sm, 5000);
    cr_assert_not(monitor_health_link_down(&sm, 0));
    cr_assert_not(monitor_health_link_down(&sm, 2500), "each retry is not a change");
    cr_assert_not(monitor_health_tick(&sm, 4999));
    cr_assert(monitor_health_tick(&sm, 5000));
    cr_assert_eq(sm.health, MONITOR_UNREACHABLE);
    cr_assert_not(monitor_health_tick(&sm, 6000), "reported once");
}

Test(health, a_connected_engine_is_not_held_by_the_grace)
{
    monitor_health_sm sm;
    monitor_health_init(&sm, 2000);
    monitor_health_set_grace(&sm, 5000);
    monitor_health_link_down(&sm, 0);
    monitor_health_link_up(&sm);       /* reached, not answering the HELLO yet */
    cr_assert_not(monitor_health_tick(&sm, 6000), "up and nothing asked: no verdict");
}
