/* test_supply.c: issue 6's scenarios -- supplies end to end (F3-F13):
 * unattended runs billed to the cent, every denial reason, a fault and a stop
 * during a supply, and one correlation id per supply on the bus. Built once
 * per transport (H_BUS). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "evc/uuid.h"
#include "harness.h"
#include "supply_checks.h"

#define UP_MS 20000 /* CPs registered, engines and drivers on the bus (Kafka: group joins) */

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(supply, .fini = teardown);

static void wait_state(const char *cp, const char *state, int ms)
{
    h_expect_cp_state(env, cp, state, ms);
}

static void wait_exit(h_proc *p, int ms)
{
    int64_t end = h_now_ms() + ms;
    while (h_alive(p) && h_now_ms() < end)
        h_wait_output(p, "\x01never\x01", 1, 100);
    H_ASSERT(env, !h_alive(p), "%s still running after %d ms", p->name, ms);
}

static void expect_output(h_proc *p, const char *needle, int ms)
{
    h_expect_output(env, p, needle, ms);
}

/* The newest session of a driver at a CP (its correlation id). */
static const char *session_of(const char *driver, const char *cp, char *buf, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "select id from sessions where driver_id='%s' and cp_id='%s' "
             "order by requested_ms desc limit 1",
             driver, cp);
    return h_db_text(env, sql, buf, cap);
}

/* Two drivers, three unattended CPs, ten services each: every supply ends
 * with a ticket and the database agrees to the cent with the engines. */
Test(supply, unattended_two_drivers_three_cps_ten_services_each)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 150;
    o.unplug_after_ms = 1300;
    o.wait_between_ms = 150;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    h_start_cp(env, "CP_002", NULL, NULL, NULL);
    h_start_cp(env, "CP_003", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    wait_state("CP_002", "ACTIVATED", UP_MS);
    wait_state("CP_003", "ACTIVATED", UP_MS);

    /* Disjoint CPs, so that no request meets a busy CP: every one of the 20
     * must become a supply. */
    static const char *const s1[] = {"CP_001", "CP_002", "CP_001", "CP_002", "CP_001", "CP_002",
                                     "CP_001", "CP_002", "CP_001", "CP_002", NULL};
    static const char *const s2[] = {"CP_003", "CP_003", "CP_003", "CP_003", "CP_003", "CP_003",
                                     "CP_003", "CP_003", "CP_003", "CP_003", NULL};
    char f1[PATH_MAX], f2[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "services1.txt", s1, f1, sizeof f1));
    h_proc *d2 = h_start_driver(env, "driver2", "pass456",
                                sc_write_services(env, "services2.txt", s2, f2, sizeof f2));
    int64_t t0 = h_now_ms();
    wait_exit(d1, 120000);
    wait_exit(d2, 120000 - (int)(h_now_ms() - t0));
    H_ASSERT(env, h_stop(d1, 100) == 0 && h_stop(d2, 100) == 0, "a driver exited with an error");
    expect_output(d1, "Summary: 10 ok, 0 denied, 0 failed", 100);
    expect_output(d2, "Summary: 10 ok, 0 denied, 0 failed", 100);
    H_ASSERT(env, h_count(d1, "Ticket CP_") == 10 && h_count(d2, "Ticket CP_") == 10,
             "tickets printed: driver1 %d, driver2 %d (want 10 each)", h_count(d1, "Ticket CP_"),
             h_count(d2, "Ticket CP_"));
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets where energy_wh <= 0", -1) == 0,
             "a supply billed no energy");
    sc_check_billing(env, 20);

    char sid[80];
    session_of("driver2", "CP_003", sid, sizeof sid);
    sc_check_one_correlation(env, sid);
    H_FINISH(env);
}

typedef struct denial_want {
    const char *sid, *reason;
} denial_want;

/* h_wait_until condition: Central told the driver (supply.update on
 * central-events) that session `sid` (NULL: any) is denied for `reason`. */
static bool denial_on_bus(h_env *e, void *arg)
{
    denial_want *w = arg;
    json_t *msgs = h_bus_messages(e, "central-events");
    size_t i;
    json_t *m;
    bool found = false;
    json_array_foreach(msgs, i, m)
    {
        json_t *pl = json_object_get(m, "payload");
        if (strcmp(h_jstr(m, "type"), "supply.update") == 0 &&
            (!w->sid || strcmp(h_jstr(pl, "session_id"), w->sid) == 0) &&
            strcmp(h_jstr(pl, "step"), "denied") == 0 &&
            strcmp(h_jstr(pl, "reason"), w->reason) == 0)
            found = true;
    }
    json_decref(msgs);
    return found;
}

static int64_t wall_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every denial reason of F4 reaches the driver. */
Test(supply, every_denial_reason_reaches_the_driver)
{
    h_opts o = h_default_opts();
    env = h_env_new(&o);
    h_start_central(env);
    h_proc *e3;
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    h_start_cp(env, "CP_002", NULL, NULL, NULL);
    h_start_cp(env, "CP_003", &e3, NULL, NULL);
    /* CP_005 plugs in by itself and supplies for a long time: busy. */
    env->opts.unattended = true;
    env->opts.plug_after_ms = 100;
    env->opts.unplug_after_ms = 120000;
    h_start_cp(env, "CP_005", NULL, NULL, NULL);
    env->opts.unattended = false;
    wait_state("CP_001", "ACTIVATED", UP_MS);
    wait_state("CP_002", "ACTIVATED", UP_MS);
    wait_state("CP_003", "ACTIVATED", UP_MS);
    wait_state("CP_005", "ACTIVATED", UP_MS);
    h_send_line(env->central, "stop CP_002");
    wait_state("CP_002", "STOPPED", 5000);
    h_signal(e3, SIGUSR1);
    wait_state("CP_003", "BROKEN", 5000);
    /* CP_004 is never started: DISCONNECTED. */

    static const char *const busy[] = {"CP_005", NULL};
    char f[PATH_MAX];
    h_proc *d2 = h_start_driver(env, "driver2", "pass456",
                                sc_write_services(env, "busy.txt", busy, f, sizeof f));
    wait_state("CP_005", "SUPPLYING", UP_MS);
    expect_output(d2, "Supplying at CP_005", 5000);

    static const char *const one[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    sc_write_services(env, "one.txt", one, f1, sizeof f1);
    h_proc *ghost = h_start_driver(env, "nobody", "whatever", f1);
    h_proc *wrong = h_start_driver(env, "driver1", "not-pass123", f1);
    h_proc *again = h_start_driver(env, "driver2", "pass456", f1); /* a second app of driver2 */
    static const char *const bad[] = {"CP_999", "CP_002", "CP_003", "CP_004", "CP_005", NULL};
    char f2[PATH_MAX];
    h_proc *d1 = NULL;

    expect_output(ghost, "unknown_driver", UP_MS);
    expect_output(wrong, "not_authenticated", UP_MS);
    /* A second app of a driver who is supplying shows that supply (R32: what
     * an app finds at login it follows before its own file). */
    expect_output(again, "Supplying at CP_005", UP_MS);
    /* driver_busy: a request for driver2 (supplying) at another CP's menu,
     * written on the bus directly (sealed with CP_001's key) so that no
     * program's own state decides whether it is sent. A driver app's own
     * requests are sealed with its login session: nobody else can send one. */
    char busy_sid[EVC_UUID_STR_SIZE], busy_env[600];
    cr_assert_eq(evc_uuid_generate(busy_sid, NULL), EVC_OK);
    char eid[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_uuid_generate(eid, NULL), EVC_OK);
    snprintf(busy_env, sizeof busy_env,
             "{\"type\":\"supply.request\",\"id\":\"%s\",\"correlation_id\":null,"
             "\"ts\":%lld,\"source\":\"CP_001\",\"payload\":{\"driver_id\":\"driver2\","
             "\"cp_id\":\"CP_001\"}}",
             eid, (long long)wall_ms_now());
    denial_want dw = {NULL, "driver_busy"};
    H_ASSERT(env, h_bus_publish_as(env, "CP_001", "cp-events", "CP_001", busy_env,
                                   strlen(busy_env), denial_on_bus, &dw, UP_MS),
             "no supply.update denied driver_busy to driver2 for %s", busy_sid);
    /* The wrong password's app is gone (or given up): the right one now. */
    d1 = h_start_driver(env, "driver1", "pass123",
                        sc_write_services(env, "bad.txt", bad, f2, sizeof f2));
    expect_output(d1, "Denied at CP_999: unknown_cp", UP_MS);
    expect_output(d1, "Denied at CP_002: cp_stopped", UP_MS);
    expect_output(d1, "Denied at CP_003: cp_broken", UP_MS);
    expect_output(d1, "Denied at CP_004: cp_disconnected", UP_MS);
    expect_output(d1, "Denied at CP_005: cp_busy", UP_MS);
    expect_output(d1, "Summary: 0 ok, 5 denied", 5000);
    wait_state("CP_005", "SUPPLYING", 100);
    H_FINISH(env);
}

Test(supply, balance_too_low_reaches_the_driver)
{
    h_opts o = h_default_opts();
    o.min_balance_cents = 100000000; /* EUR 1,000,000: nobody has that much */
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const one[] = {"CP_001", NULL};
    char f[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "one.txt", one, f, sizeof f));
    expect_output(d1, "Denied at CP_001: balance_too_low", UP_MS);
    wait_state("CP_001", "ACTIVATED", 100);
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 0, "a denial was billed");
    H_FINISH(env);
}

/* F9 and F13: a fault and a stop during a supply end it at once, with the
 * right reason for the driver, the session and the ticket. */
Test(supply, fault_and_stop_during_a_supply_end_it_with_the_reason)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 120000;
    env = h_env_new(&o);
    h_start_central(env);
    h_proc *e1;
    h_start_cp(env, "CP_001", &e1, NULL, NULL);
    h_start_cp(env, "CP_002", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    wait_state("CP_002", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL}, *const s2[] = {"CP_002", NULL};
    char f1[PATH_MAX], f2[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    h_proc *d2 = h_start_driver(env, "driver2", "pass456",
                                sc_write_services(env, "s2.txt", s2, f2, sizeof f2));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    wait_state("CP_002", "SUPPLYING", UP_MS);
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_001", 10000), "CP_001 supplied nothing");
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_002", 10000), "CP_002 supplied nothing");
    /* F7: the live data of a supply on /api/cps and /api/sessions. */
    char sid1[80];
    session_of("driver1", "CP_001", sid1, sizeof sid1);
    json_t *root = NULL;
    json_t *cp = h_api_cp(env, "CP_001", &root);
    H_ASSERT(env, cp && json_integer_value(json_object_get(cp, "w")) > 0 &&
                      strcmp(h_jstr(cp, "driver_id"), "driver1") == 0 &&
                      strcmp(h_jstr(cp, "correlation_id"), sid1) == 0,
             "/api/cps does not show CP_001's live supply (w > 0, driver1, %s)", sid1);
    json_decref(root);
    json_t *sessions = h_api_sessions(env, &root);
    bool listed = false;
    size_t i;
    json_t *ss;
    json_array_foreach(sessions, i, ss)
    {
        if (strcmp(h_jstr(ss, "id"), sid1) == 0 && strcmp(h_jstr(ss, "state"), "supplying") == 0)
            listed = true;
    }
    H_ASSERT(env, listed, "/api/sessions does not list %s as supplying", sid1);
    json_decref(root);

    h_signal(e1, SIGUSR1); /* engine KO: fault */
    h_send_line(env->central, "stop CP_002");
    wait_state("CP_001", "BROKEN", 5000);
    wait_state("CP_002", "STOPPED", 5000);
    expect_output(d1, "Ticket CP_001", 10000);
    expect_output(d2, "Ticket CP_002", 10000);
    expect_output(d1, "reason fault", 100);
    expect_output(d2, "reason stopped", 100);
    char sid[80], reason[80];
    char sql[256];
    snprintf(sql, sizeof sql, "select end_reason from sessions where id='%s'",
             session_of("driver1", "CP_001", sid, sizeof sid));
    H_ASSERT(env, strstr(h_db_text(env, sql, reason, sizeof reason), "fault") != NULL,
             "driver1's session ended with reason '%s', expected fault", reason);
    snprintf(sql, sizeof sql, "select end_reason from sessions where id='%s'",
             session_of("driver2", "CP_002", sid, sizeof sid));
    H_ASSERT(env, strstr(h_db_text(env, sql, reason, sizeof reason), "stop") != NULL,
             "driver2's session ended with reason '%s', expected stopped", reason);
    wait_exit(d1, 10000);
    wait_exit(d2, 10000);
    sc_check_billing(env, 2);

    /* Both come back to service. */
    h_signal(e1, SIGUSR1);
    h_send_line(env->central, "resume CP_002");
    wait_state("CP_001", "ACTIVATED", 5000);
    wait_state("CP_002", "ACTIVATED", 5000);
    H_FINISH(env);
}

/* R31 during a supply: the engine is SIGKILLed; the CP goes BROKEN; the
 * restarted engine reports the interrupted supply from its journal and
 * Central bills exactly that, once. */
Test(supply, engine_killed_during_a_supply_is_billed_once_after_restart)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 120000;
    env = h_env_new(&o);
    h_start_central(env);
    h_proc *e1;
    int port;
    h_start_cp(env, "CP_001", &e1, NULL, &port);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_001", 10000), "CP_001 supplied nothing");
    expect_output(d1, "Supplying at CP_001:", 5000);

    h_kill(e1);
    wait_state("CP_001", "BROKEN", env->opts.health_timeout_ms + 2500);
    /* Back with the same journal (same config, same database file). */
    env->opts.unattended = false;
    h_start_engine(env, "CP_001", port);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    expect_output(d1, "Ticket CP_001", UP_MS);
    wait_exit(d1, 10000);
    char sid[80], reason[80], sql[256];
    snprintf(sql, sizeof sql, "select end_reason from sessions where id='%s'",
             session_of("driver1", "CP_001", sid, sizeof sid));
    H_ASSERT(env, strcmp(h_db_text(env, sql, reason, sizeof reason), "") != 0,
             "the interrupted session has no end reason");
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets where energy_wh > 0", 0) == 1,
             "the energy supplied before the crash was not billed");
    sc_check_billing(env, 1);
    H_FINISH(env);
}

/* R30 during a supply: the monitor is SIGKILLed; Central marks the CP
 * DISCONNECTED, the engine ends the supply (monitor_lost) and it is billed. */
Test(supply, monitor_killed_during_a_supply_ends_it)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 120000;
    env = h_env_new(&o);
    h_start_central(env);
    h_proc *m1;
    h_start_cp(env, "CP_001", NULL, &m1, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_001", 10000), "CP_001 supplied nothing");

    h_kill(m1);
    wait_state("CP_001", "DISCONNECTED", env->opts.heartbeat_timeout_ms + 2500);
    expect_output(d1, "Ticket CP_001", UP_MS);
    expect_output(d1, "reason monitor_lost", 100);
    wait_exit(d1, 10000);
    sc_check_billing(env, 1);
    H_FINISH(env);
}

/* R33: Central is SIGKILLed during a supply; the CP finishes it meanwhile
 * (its report waits in the engine's outbox); the restarted Central bills it
 * exactly once and the driver gets the ticket. */
Test(supply, central_killed_during_a_supply_bills_it_once_when_back)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 3000;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    /* Telemetry reached Central: it knows the supply started. */
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_001", 10000), "CP_001 supplied nothing");
    h_proc *engine = h_proc_find(env, "CP_001-engine");
    h_kill(env->central);
    /* The engine ends the supply (unplug) while Central is away. */
    expect_output(engine, "unplugged", 10000);
    h_start_central(env);
    expect_output(d1, "Ticket CP_001", 30000);
    wait_exit(d1, 10000);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    sc_check_billing(env, 1);
    H_FINISH(env);
}

static bool session_authorised(h_env *e, void *arg)
{
    json_t *root = NULL;
    json_t *cp = h_api_cp(e, arg, &root);
    const char *st = cp ? json_string_value(json_object_get(cp, "session_state")) : NULL;
    bool ok = st && strcmp(st, "authorised") == 0;
    json_decref(root);
    return ok;
}

/* Central dies once CP_001's supply is authorised, before the plug; the
 * whole supply (plug, telemetry, unplug) happens while it is away and its end
 * waits in the engine's outbox. Back, Central must bill it once, not deny it.
 * `o` sets the bus details of the variant; `ticket_ms` bounds the wait for
 * the driver's ticket after the restart. */
static void central_down_across_the_plug(h_opts o, int ticket_ms)
{
    o.unattended = true;
    o.plug_after_ms = 1500;
    o.unplug_after_ms = 2000;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    H_ASSERT(env, h_wait_until(session_authorised, env, "CP_001", UP_MS),
             "CP_001's supply was never authorised");
    h_proc *engine = h_proc_find(env, "CP_001-engine");
    h_kill(env->central);
    expect_output(engine, "unplugged", 15000);
    h_start_central(env);
    expect_output(d1, "Ticket CP_001", ticket_ms);
    wait_exit(d1, 10000);
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets where energy_wh > 0", 0) == 1,
             "the supply made while Central was away was not billed");
    sc_check_billing(env, 1);
    H_FINISH(env);
}

/* R33, the other window: Central dies after authorising, before the plug. */
Test(supply, central_killed_before_the_plug_bills_the_supply_once_when_back)
{
    central_down_across_the_plug(h_default_opts(), 30000);
}

#ifdef H_BUS_KAFKA
static int count_acks(h_env *e, const char *sid)
{
    json_t *msgs = h_bus_messages(e, "central-events");
    int n = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (strcmp(h_jstr(m, "type"), "supply.end_ack") == 0 &&
            strcmp(h_jstr(json_object_get(m, "payload"), "session_id"), sid) == 0)
            n++;
    }
    json_decref(msgs);
    return n;
}

typedef struct ack_want {
    const char *sid;
    int n;
} ack_want;

static bool acks_reach(h_env *e, void *arg)
{
    ack_want *w = arg;
    return count_acks(e, w->sid) >= w->n;
}

/* Bus messages the seal check refused as replays or forgeries so far
 * (/api/health bus_refused). */
static int64_t seal_refused(h_env *e)
{
    json_t *h = h_http_get_json(e->http_port, "/api/health");
    json_t *r = json_object_get(h, "bus_refused");
    int64_t n = json_integer_value(json_object_get(r, "replay")) +
                json_integer_value(json_object_get(r, "bad_signature"));
    json_decref(h);
    return n;
}

static bool replay_refused(h_env *e, void *arg)
{
    return seal_refused(e) > *(int64_t *)arg;
}

/* Idempotent billing (issue 6): the captured end report written again to
 * cp-events with kcat (an independent client) is refused as a replay; a late
 * copy as the engine's outbox re-sends it (the same envelope, sealed again
 * with the CP's key) is acknowledged again and changes nothing. */
Test(supply, late_repeated_end_report_is_acknowledged_and_not_billed_twice)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 1200;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_exit(d1, 60000);
    expect_output(d1, "Ticket CP_001", 100);
    char sid[80];
    session_of("driver1", "CP_001", sid, sizeof sid);
    ack_want one = {sid, 1};
    H_ASSERT(env, h_wait_until(acks_reach, env, &one, 10000), "no supply.end_ack for %s", sid);
    int64_t balance = h_db_int(env, "select balance_cents from users where id='driver1'", -1);

    json_t *msgs = h_bus_messages(env, "cp-events");
    json_t *ended = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (strcmp(h_jstr(m, "type"), "supply.ended") == 0 &&
            strcmp(h_jstr(json_object_get(m, "payload"), "session_id"), sid) == 0)
            ended = m;
    }
    H_ASSERT(env, ended != NULL, "no supply.ended for %s on cp-events", sid);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/late-ended.json", env->dir);
    H_ASSERT(env, json_dump_file(ended, path, JSON_COMPACT) == 0, "cannot write %s", path);
    int64_t refused_before = seal_refused(env);
    char *argv[] = {"/usr/bin/kcat", "-P", "-b", env->bus, "-t", "cp-events", "-k", "CP_001",
                    path, NULL};
    h_proc *kcat = h_spawn(env, "kcat-produce", argv, NULL);
    wait_exit(kcat, 15000);
    H_ASSERT(env, h_wait_until(replay_refused, env, &refused_before, 15000),
             "the replayed supply.ended was not refused (/api/health bus_refused)");

    json_object_del(ended, "seal");
    char *bytes = json_dumps(ended, JSON_COMPACT);
    json_decref(msgs);
    ack_want two = {sid, 2};
    H_ASSERT(env, h_bus_publish_as(env, "CP_001", "cp-events", "CP_001", bytes, strlen(bytes),
                                   acks_reach, &two, 15000),
             "the late supply.ended for %s was not acknowledged again", sid);
    free(bytes);
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 1,
             "the late end report was billed again");
    H_ASSERT(env, h_db_int(env, "select balance_cents from users where id='driver1'", -1) == balance,
             "driver1's balance changed after a late end report");
    sc_check_billing(env, 1);
    H_FINISH(env);
}
#endif

/* R32: the driver's app dies during a supply; the supply goes on; the app,
 * started again, shows the ticket of the supply that ended while it was
 * away. */
Test(supply, driver_killed_during_a_supply_sees_its_ticket_when_back)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 2500;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    expect_output(d1, "Supplying at CP_001", 10000);
    h_kill(d1);
    h_proc *engine = h_proc_find(env, "CP_001-engine");
    expect_output(engine, "unplugged", 15000);
    wait_state("CP_001", "ACTIVATED", 10000);
    /* Back, interactive (no services file). */
    h_proc *again = h_start_driver(env, "driver1", "pass123", NULL);
    expect_output(again, "Ticket CP_001", UP_MS);
    sc_check_billing(env, 1);
    H_FINISH(env);
}

#ifdef H_BUS_KAFKA
/* R33 on Kafka when Central dies before committing its offsets (the
 * default commit interval is 5 s): back, it reads again what it had already
 * handled, the engine's cp.hello from before the supply included, then the
 * supply made while it was away. That old "idle" hello must not deny the
 * supply: it is billed once. */
Test(supply, central_killed_with_uncommitted_offsets_bills_the_supply_once)
{
    h_opts o = h_default_opts();
    o.kafka_commit_interval_ms = 600000;
    central_down_across_the_plug(o, 40000);
}
#endif
