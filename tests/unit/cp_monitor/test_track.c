/* test_track.c: the dashboard's rings (monitor_track.h): PINGs matched to
 * PONGs, timeouts and a down link as "no answer", consecutive failures,
 * bounds, alerts newest first, and the CP state the monitor can tell. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "evc/error.h"
#include "monitor_track.h"

static monitor_track t;

static void setup(void) { cr_assert_eq(monitor_track_init(&t), EVC_OK); }
static void teardown(void) { monitor_track_free(&t); }

TestSuite(track, .init = setup, .fini = teardown);

Test(track, a_pong_is_matched_by_seq_with_its_round_trip)
{
    monitor_track_ping(&t, 1, 1000, 5000);
    cr_assert(monitor_track_pong(&t, 1, true, 5250));
    const monitor_check *c = monitor_track_last_check(&t);
    cr_assert_eq(c->ts, 1000);
    cr_assert_eq(c->result, MONITOR_CHECK_OK);
    cr_assert_eq(c->rtt_us, 250);
    cr_assert_not(monitor_track_pong(&t, 1, true, 6000), "a second PONG counts nothing");
    cr_assert_eq(t.checks_n, 1);
}

Test(track, skipped_and_late_pings_are_no_answer)
{
    monitor_track_ping(&t, 1, 1000, 0);
    monitor_track_ping(&t, 2, 2000, 1000000);
    monitor_track_ping(&t, 3, 3000, 2000000);
    /* the PONG of 3: 1 and 2 got none (a link is in order) */
    cr_assert(monitor_track_pong(&t, 3, false, 2000100));
    cr_assert_eq(t.checks_n, 3);
    cr_assert_eq(monitor_track_check_at(&t, 0)->result, MONITOR_CHECK_NONE);
    cr_assert_eq(monitor_track_check_at(&t, 0)->rtt_us, -1);
    cr_assert_eq(monitor_track_check_at(&t, 1)->ts, 2000);
    cr_assert_eq(monitor_track_check_at(&t, 2)->result, MONITOR_CHECK_KO);
    cr_assert_eq(t.consecutive_failures, 3);
    cr_assert_not(monitor_track_pong(&t, 1, true, 3000000), "late: already no answer");
    /* timeouts */
    monitor_track_ping(&t, 4, 4000, 3000000);
    cr_assert_eq(monitor_track_expire(&t, 3500000, 2000000), 0);
    cr_assert_eq(monitor_track_expire(&t, 5000000, 2000000), 1);
    cr_assert_eq(monitor_track_last_check(&t)->result, MONITOR_CHECK_NONE);
    cr_assert_eq(t.consecutive_failures, 4);
    monitor_track_ping(&t, 5, 5000, 6000000);
    cr_assert(monitor_track_pong(&t, 5, true, 6000100));
    cr_assert_eq(t.consecutive_failures, 0, "an OK ends the run");
    cr_assert_eq(t.failures_total, 4);
    cr_assert_eq(t.checks_total, 5);
}

Test(track, a_down_link_is_one_no_answer_per_check)
{
    monitor_track_ping(&t, 1, 1000, 0);
    monitor_track_unreachable(&t, 2000);
    cr_assert_eq(t.checks_n, 2, "the PING in flight and the check that could not be made");
    monitor_track_unreachable(&t, 3000);
    cr_assert_eq(t.checks_n, 3);
    cr_assert_eq(monitor_track_last_check(&t)->ts, 3000);
    cr_assert_eq(t.consecutive_failures, 3);
}

Test(track, the_rings_are_bounded)
{
    for (uint64_t i = 0; i < MONITOR_TRACK_CHECKS + 10; i++) {
        monitor_track_ping(&t, i, (int64_t)i, i);
        monitor_track_pong(&t, i, true, i + 1);
        monitor_track_usage(&t, (int64_t)i, 100, (int64_t)i);
    }
    cr_assert_eq(t.checks_n, MONITOR_TRACK_CHECKS);
    cr_assert_eq(monitor_track_check_at(&t, 0)->ts, 10, "the oldest went first");
    cr_assert_eq(monitor_track_last_check(&t)->ts, MONITOR_TRACK_CHECKS + 9);
    cr_assert_null(monitor_track_check_at(&t, MONITOR_TRACK_CHECKS));
    cr_assert_eq(t.usage_n, MONITOR_TRACK_USAGE);
    cr_assert_eq(t.usage_total, MONITOR_TRACK_CHECKS + 10);
    cr_assert_eq(monitor_track_usage_at(&t, 0)->wh, 10);
    /* PINGs never answered: the FIFO stays bounded, the oldest counted */
    for (uint64_t i = 0; i < 3 * MONITOR_TRACK_INFLIGHT; i++)
        monitor_track_ping(&t, 100000 + i, 1, 1);
    cr_assert_eq(t.inflight_n, MONITOR_TRACK_INFLIGHT);
    cr_assert_eq(t.consecutive_failures, 2 * MONITOR_TRACK_INFLIGHT);
}

Test(track, alerts_newest_first_bounded_and_clean)
{
    for (int i = 0; i < MONITOR_TRACK_ALERTS + 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "alert %d", i);
        monitor_track_alert(&t, i, "fault", "engine", text);
    }
    cr_assert_eq(t.alerts_n, MONITOR_TRACK_ALERTS);
    cr_assert_str_eq(monitor_track_alert_at(&t, 0)->text, "alert 104");
    cr_assert_str_eq(monitor_track_alert_at(&t, MONITOR_TRACK_ALERTS - 1)->text, "alert 5");
    cr_assert_null(monitor_track_alert_at(&t, MONITOR_TRACK_ALERTS));
    char long_text[400];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    long_text[3] = '\n';
    long_text[4] = (char)0xc3;
    monitor_track_alert(&t, 1, "refused", "central", long_text);
    const monitor_alert_rec *a = monitor_track_alert_at(&t, 0);
    cr_assert_eq(strlen(a->text), MONITOR_TRACK_TEXT - 1, "truncated");
    cr_assert_eq(a->text[3], '?', "control bytes replaced");
    cr_assert_eq(a->text[4], '?', "non-ASCII replaced (the page's JSON must be UTF-8)");
}

static monitor_cp_state st(bool accepted, monitor_health h, bool stopped, bool supplying)
{
    monitor_cp_facts f = {accepted, h, stopped, supplying};
    const char *why = NULL;
    monitor_cp_state s = monitor_cp_state_of(&f, &why);
    cr_assert(why && *why);
    return s;
}

Test(track, the_cp_state_follows_centrals_precedence)
{
    cr_assert_eq(st(false, MONITOR_KO, true, true), MONITOR_CP_DISCONNECTED);
    cr_assert_eq(st(true, MONITOR_KO, true, true), MONITOR_CP_BROKEN);
    cr_assert_eq(st(true, MONITOR_UNREACHABLE, false, false), MONITOR_CP_BROKEN);
    cr_assert_eq(st(true, MONITOR_UNKNOWN, false, false), MONITOR_CP_DISCONNECTED);
    cr_assert_eq(st(true, MONITOR_OK, true, true), MONITOR_CP_STOPPED);
    cr_assert_eq(st(true, MONITOR_OK, false, true), MONITOR_CP_SUPPLYING);
    cr_assert_eq(st(true, MONITOR_OK, false, false), MONITOR_CP_ACTIVATED);
    cr_assert_str_eq(monitor_cp_state_wire(MONITOR_CP_STOPPED), "STOPPED");
}
