/* test_cps.c: issue 5's scenarios -- charging points register with Central
 * and their state follows their processes (SPEC section 3, F1, F9, F10, F13,
 * R30, R31). Built once per transport (H_BUS). States are read from
 * Central's GET /api/cps; waits are conditions with deadlines. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Slack for a state change on top of the configured timeout: one heartbeat
 * interval (1 s) plus scheduling on two busy cores. */
#define H_SLACK_MS 2500
#define H_UP_MS 15000 /* a fresh CP: engine and monitor start, AUTH, HELLO, HB */

static h_env *env;

static void setup_open(void)
{
    env = h_env_new(NULL);
    h_start_central(env);
}

static void setup_closed(void)
{
    h_opts o = h_default_opts();
    o.policy = "closed";
    env = h_env_new(&o);
    h_start_central(env);
}

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

static void wait_state(const char *cp, const char *state, int ms)
{
    char now[64];
    H_ASSERT(env, h_wait_cp_state(env, cp, state, ms), "%s: expected %s within %d ms, got '%s'",
             cp, state, ms, h_cp_state(env, cp, now, sizeof now));
}

/* Asserts the CP keeps `state` during the whole window (sampled). */
static void hold_state(const char *cp, const char *state, int ms)
{
    int64_t end = h_now_ms() + ms;
    char now[64];
    while (h_now_ms() < end) {
        h_cp_state(env, cp, now, sizeof now);
        H_ASSERT(env, strcmp(now, state) == 0, "%s: left %s for '%s'", cp, state, now);
        H_ASSERT(env, h_wait_cp_state(env, cp, "__never__", 100) == false, "unreachable");
    }
}

static bool http_up(h_env *e, void *arg)
{
    (void)arg;
    return h_http_status(e->http_port, "/api/cps") == 200;
}

static void wait_central_up(void)
{
    H_ASSERT(env, h_wait_until(http_up, env, NULL, 15000),
             "Central's GET /api/cps did not answer 200 within 15 s");
}

static void setup_slow_hb(void)
{
    h_opts o = h_default_opts();
    o.heartbeat_timeout_ms = 20000;
    env = h_env_new(&o);
    h_start_central(env);
}

TestSuite(cps, .init = setup_open, .fini = teardown);
TestSuite(cps_slow_hb, .init = setup_slow_hb, .fini = teardown);
TestSuite(cps_nodb, .fini = teardown);
TestSuite(cps_closed, .init = setup_closed, .fini = teardown);

/* F1: every known CP starts DISCONNECTED; a seeded CP that authenticates
 * becomes ACTIVATED; under `open` an unknown CP is registered. */
Test(cps, registers_and_becomes_activated)
{
    wait_central_up();
    wait_state("CP_001", "DISCONNECTED", 1000);
    wait_state("CP_002", "DISCONNECTED", 1000);
    h_proc *engine, *monitor;
    h_start_cp(env, "CP_001", &engine, &monitor, NULL);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    H_ASSERT(env, h_wait_output(monitor, "Accepted by CENTRAL", 1, 2000),
             "the monitor did not print \"Accepted by CENTRAL\"");
    /* /api/cps carries what the panel shows: id, location, price, state. */
    json_t *root = NULL;
    json_t *cp = h_api_cp(env, "CP_001", &root);
    char loc[256];
    h_db_text(env, "select location from charging_points where id='CP_001'", loc, sizeof loc);
    int64_t price =
        h_db_int(env, "select price_cents_per_kwh from charging_points where id='CP_001'", -1);
    H_ASSERT(env, cp && json_is_string(json_object_get(cp, "location")) &&
                      strcmp(json_string_value(json_object_get(cp, "location")), loc) == 0,
             "/api/cps: CP_001's location is not the database's '%s'", loc);
    H_ASSERT(env, json_integer_value(json_object_get(cp, "price_cents_per_kwh")) == price,
             "/api/cps: CP_001's price is not the database's %lld", (long long)price);
    json_decref(root);

    /* `open`: a CP Central has never seen is registered with what it says. */
    int port = h_free_port();
    h_start_engine_secret(env, "CP_NEW", port, "a-new-secret");
    h_start_monitor(env, "CP_NEW", port, "a-new-secret");
    wait_state("CP_NEW", "ACTIVATED", H_UP_MS);
    H_ASSERT(env, h_db_int(env, "select count(*) from charging_points where id='CP_NEW'", 0) == 1,
             "CP_NEW was not stored in charging_points");
    wait_state("CP_002", "DISCONNECTED", 100);
    H_FINISH(env);
}

/* `closed`: unknown CPs are denied, and so is a known CP with a wrong
 * secret; neither appears as available. */
Test(cps_closed, unknown_cp_and_bad_secret_are_denied)
{
    wait_central_up();
    int port = h_free_port();
    h_start_engine(env, "CP_GHOST", port);
    h_proc *ghost = h_start_monitor(env, "CP_GHOST", port, "whatever");
    int port2 = h_free_port();
    h_start_engine(env, "CP_002", port2);
    h_proc *bad = h_start_monitor(env, "CP_002", port2, "not-the-secret");
    H_ASSERT(env, h_wait_output(ghost, "Denied by CENTRAL", 1, H_UP_MS),
             "the unknown CP's monitor did not print \"Denied by CENTRAL\"");
    H_ASSERT(env, h_wait_output(bad, "Denied by CENTRAL", 1, H_UP_MS),
             "the monitor with a wrong secret did not print \"Denied by CENTRAL\"");
    char st[64];
    h_cp_state(env, "CP_GHOST", st, sizeof st);
    H_ASSERT(env, strcmp(st, "") == 0 || strcmp(st, "DISCONNECTED") == 0,
             "the denied unknown CP shows as '%s'", st);
    H_ASSERT(env, h_db_int(env, "select count(*) from charging_points where id='CP_GHOST'", 0) == 0,
             "closed policy registered CP_GHOST anyway");
    wait_state("CP_002", "DISCONNECTED", 100);
    /* And a good CP is still accepted. */
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    H_FINISH(env);
}

/* F9, F10: the engine's KO toggle (no terminal: H_ENGINE_TOGGLE) makes the
 * CP BROKEN; toggling back returns it to ACTIVATED. */
Test(cps, engine_ko_broken_then_ok_activated)
{
    h_proc *engine;
    h_start_cp(env, "CP_001", &engine, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    h_signal(engine, SIGUSR1);
    wait_state("CP_001", "BROKEN", env->opts.health_timeout_ms + H_SLACK_MS);
    h_signal(engine, SIGUSR1);
    wait_state("CP_001", "ACTIVATED", env->opts.health_timeout_ms + H_SLACK_MS);
    H_ASSERT(env, h_alive(engine), "the engine died");
    H_FINISH(env);
}

/* R30 and issue 9 item 5: a killed monitor's TCP link closes, and Central
 * says so and shows the CP DISCONNECTED at once -- long before the heartbeat
 * timeout (made 20 s here so that the two cannot be confused); a restarted
 * monitor brings the CP back (R35). */
Test(cps_slow_hb, monitor_killed_disconnected_at_once)
{
    h_proc *monitor;
    int port;
    h_start_cp(env, "CP_001", NULL, &monitor, &port);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    h_kill(monitor);
    wait_state("CP_001", "DISCONNECTED", 5000);
    H_ASSERT(env, h_wait_output(env->central, "CP CP_001: monitor link from", 1, 2000),
             "Central did not say that CP_001's monitor link closed");
    h_start_monitor(env, "CP_001", port, "secret-CP_001");
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    H_FINISH(env);
}

/* R31: engine dead -> its monitor reports it -> BROKEN; a restarted engine
 * returns the CP to ACTIVATED. */
Test(cps, engine_killed_broken)
{
    h_proc *engine;
    int port;
    h_start_cp(env, "CP_001", &engine, NULL, &port);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    h_kill(engine);
    wait_state("CP_001", "BROKEN", env->opts.health_timeout_ms + H_SLACK_MS);
    h_start_engine(env, "CP_001", port);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    H_FINISH(env);
}

/* F13 from Central's terminal: stop/resume one CP and all CPs; a BROKEN CP
 * stays BROKEN through both. */
Test(cps, stop_and_resume_one_and_all)
{
    h_proc *engine3;
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    h_start_cp(env, "CP_002", NULL, NULL, NULL);
    h_start_cp(env, "CP_003", &engine3, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
    wait_state("CP_002", "ACTIVATED", H_UP_MS);
    wait_state("CP_003", "ACTIVATED", H_UP_MS);

    h_send_line(env->central, "stop CP_001");
    wait_state("CP_001", "STOPPED", 3000);
    wait_state("CP_002", "ACTIVATED", 100);
    H_ASSERT(env,
             h_db_int(env, "select count(*) from charging_points where id='CP_001' and "
                           "admin_state='stopped'", 0) == 1,
             "CP_001's admin_state is not 'stopped' in the database");
    h_send_line(env->central, "resume CP_001");
    wait_state("CP_001", "ACTIVATED", 3000);

    h_signal(engine3, SIGUSR1); /* CP_003 KO */
    wait_state("CP_003", "BROKEN", env->opts.health_timeout_ms + H_SLACK_MS);
    h_send_line(env->central, "stop all");
    wait_state("CP_001", "STOPPED", 3000);
    wait_state("CP_002", "STOPPED", 3000);
    wait_state("CP_003", "BROKEN", 100);
    h_send_line(env->central, "resume all");
    wait_state("CP_001", "ACTIVATED", 3000);
    wait_state("CP_002", "ACTIVATED", 3000);
    wait_state("CP_003", "BROKEN", 100);
    h_signal(engine3, SIGUSR1); /* back OK: in service again */
    wait_state("CP_003", "ACTIVATED", env->opts.health_timeout_ms + H_SLACK_MS);
    H_FINISH(env);
}

/* Garbage on every TCP port (Central's monitor port, the engine's port,
 * Central's HTTP port) leaves every server serving: the CP stays ACTIVATED
 * (heartbeats still flow), HTTP answers, a new CP can still register, and
 * no process died. */
Test(cps, garbage_on_every_port_leaves_servers_serving)
{
    h_proc *engine, *monitor;
    int port;
    h_start_cp(env, "CP_001", &engine, &monitor, &port);
    wait_state("CP_001", "ACTIVATED", H_UP_MS);

    int ports[] = {env->central_port, port, env->http_port};
    const char *names[] = {"Central's monitor port", "the engine's port", "Central's HTTP port"};
    for (int i = 0; i < 3; i++) {
        h_garbage_burst(ports[i], 12, 256 * 1024);
        H_ASSERT(env, h_alive(env->central), "Central died after garbage on %s", names[i]);
        H_ASSERT(env, h_alive(engine), "the engine died after garbage on %s", names[i]);
        H_ASSERT(env, h_alive(monitor), "the monitor died after garbage on %s", names[i]);
        H_ASSERT(env, h_http_status(env->http_port, "/api/health") == 200,
                 "GET /api/health did not answer 200 after garbage on %s", names[i]);
        wait_state("CP_001", "ACTIVATED", 100);
    }
    /* Still ACTIVATED over a heartbeat timeout: the real link was not
     * disturbed. */
    hold_state("CP_001", "ACTIVATED", env->opts.heartbeat_timeout_ms + 500);
    h_start_cp(env, "CP_002", NULL, NULL, NULL);
    wait_state("CP_002", "ACTIVATED", H_UP_MS);
    wait_state("CP_001", "ACTIVATED", 100);
    H_FINISH(env);
}

static bool central_exited(h_env *e, void *arg)
{
    (void)arg;
    return !h_alive(e->central);
}

/* Issue 9 item 7: a mistyped database path is an error naming the path, not
 * a Central with 0 CPs on a new empty database. */
Test(cps_nodb, a_missing_database_is_an_error_naming_its_path)
{
    env = h_env_new(NULL);
    char typo[PATH_MAX];
    snprintf(typo, sizeof typo, "%s/typo.db", env->dir);
    snprintf(env->db, sizeof env->db, "%s", typo);
    h_start_central(env);
    H_ASSERT(env, h_wait_until(central_exited, env, NULL, 15000),
             "Central kept running on a database that does not exist");
    int code = h_stop(env->central, 1000);
    H_ASSERT(env, code != 0, "Central exited 0 on a missing database");
    char needle[PATH_MAX + 32];
    snprintf(needle, sizeof needle, "%s does not exist", typo);
    H_ASSERT(env, h_count(env->central, needle) == 1, "Central did not say \"%s\"", needle);
    H_ASSERT(env, access(typo, F_OK) != 0, "%s was created", typo);
    H_FINISH(env);
}

/* Issue 14: a generated secret (64 hex digits) is stored by the fast
 * verifier, and the real monitor and engine prove it with one HMAC each: the
 * monitor is ACTIVATED and the engine seals with the bus key it derived from
 * the fast params (Central refuses none of its messages). */
Test(cps, a_generated_secret_uses_the_fast_verifier_end_to_end)
{
    const char *secret = "3f9c1a7e5b2d4c6a8e0f1b3d5c7a9e2f4b6d8c0a1e3f5b7d9c2a4e6f8b0d1c3e";
    int port = h_free_port();
    h_proc *engine = h_start_engine_secret(env, "CP_FAST", port, secret);
    h_start_monitor(env, "CP_FAST", port, secret);
    wait_state("CP_FAST", "ACTIVATED", H_UP_MS);
    H_ASSERT(env, h_db_int(env, "select count(*) from charging_points where id='CP_FAST'"
                                " and secret_hash like '$evc-cpk$v=1$%'", 0) == 1,
             "CP_FAST's secret is not stored by the fast verifier");
    H_ASSERT(env, h_wait_output(engine, "bus key ready", 1, H_UP_MS),
             "the engine never derived its bus key from the fast params");
    H_ASSERT(env, h_count(env->central, "bad_signature") == 0,
             "Central refused a message sealed with the fast-derived bus key");
    H_FINISH(env);
}
