/* test_late.c: issue 10's scenarios -- authorisations that reach an engine
 * late, over each bus (H_BUS): one delivered again after the engine crashed
 * and restarted (its supply already reported and billed), and one delivered
 * after Central gave up on it. Neither may start a supply; nothing may be
 * supplied without being billed. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "supply_checks.h"

#define UP_MS 20000 /* CPs registered, engines and drivers on the bus (Kafka: group joins) */

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(late, .fini = teardown);

static void wait_state(const char *cp, const char *state, int ms)
{
    h_expect_cp_state(env, cp, state, ms);
}

static void expect_output(h_proc *p, const char *needle, int ms)
{
    h_expect_output(env, p, needle, ms);
}

/* Messages of `type` about session `sid` on `topic` (a new reference, or
 * NULL when none); *n counts them. */
static json_t *find_msgs(const char *topic, const char *type, const char *sid, int *n)
{
    json_t *msgs = h_bus_messages(env, topic), *last = NULL;
    size_t i;
    json_t *m;
    *n = 0;
    json_array_foreach(msgs, i, m)
    {
        if (strcmp(h_jstr(m, "type"), type) == 0 &&
            strcmp(h_jstr(json_object_get(m, "payload"), "session_id"), sid) == 0) {
            (*n)++;
            last = m;
        }
    }
    if (last)
        json_incref(last);
    json_decref(msgs);
    return last;
}

static bool engine_refused_it(h_env *e, void *arg)
{
    (void)e;
    return h_count(arg, "already ended here: refused") > 0;
}

typedef struct reply_wait {
    const char *sid;
    int want;
} reply_wait;

/* h_wait_until condition: `want` cp.authorise_reply of the session are on
 * the bus (the engine logs its decision just before it publishes it). */
static bool reply_on_bus(h_env *e, void *arg)
{
    (void)e;
    reply_wait *w = arg;
    int n = 0;
    json_decref(find_msgs("cp-events", "cp.authorise_reply", w->sid, &n));
    return n >= w->want;
}

static int64_t health_counter(const char *name)
{
    json_t *h = h_http_get_json(env->http_port, "/api/health");
    H_ASSERT(env, h != NULL, "GET /api/health failed");
    int64_t v = json_integer_value(json_object_get(h, name));
    H_ASSERT(env, json_object_get(h, name) != NULL, "/api/health has no %s", name);
    json_decref(h);
    return v;
}

/* Evidence 1 of the issue: the engine is killed during a supply, restarted,
 * reports the supply (engine_restart) and Central bills it. Then the bus
 * hands it the original cp.authorise again (as Kafka does from an
 * uncommitted offset): the engine refuses it (session_ended) and supplies
 * nothing more. Before the fix it accepted, plugged in (unattended) and
 * supplied energy nobody billed. */
Test(late, an_authorisation_delivered_again_after_an_engine_restart_starts_nothing)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 120000;
    /* Long enough that the replay comes before the authorisation's expiry:
     * this scenario is about the engine's memory of ended sessions. */
    o.authorise_timeout_ms = 60000;
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
    char sid[80];
    H_ASSERT(env, h_db_text(env, "select id from sessions where cp_id='CP_001'", sid, sizeof sid)[0],
             "no session in the database");
    int n = 0;
    json_t *auth = find_msgs("central-events", "cp.authorise", sid, &n);
    H_ASSERT(env, auth != NULL, "no cp.authorise for %s on central-events", sid);

    h_kill(e1);
    wait_state("CP_001", "BROKEN", env->opts.health_timeout_ms + 2500);
    h_proc *e2 = h_start_engine(env, "CP_001", port); /* same database: the journal */
    wait_state("CP_001", "ACTIVATED", UP_MS);
    expect_output(d1, "Ticket CP_001", UP_MS);
    int64_t billed = h_db_int(env, "select energy_wh from tickets", -1);
    H_ASSERT(env, billed > 0, "the energy before the crash was not billed");

    char *bytes = json_dumps(auth, JSON_COMPACT);
    json_decref(auth);
    H_ASSERT(env, h_bus_publish(env, "central-events", "CP_001", bytes, strlen(bytes),
                                engine_refused_it, e2, 30000),
             "the engine never refused the replayed cp.authorise of %s", sid);
    free(bytes);
    reply_wait rw = {sid, 2}; /* the original acceptance, then the answer to the replay */
    H_ASSERT(env, h_wait_until(reply_on_bus, env, &rw, 15000),
             "no cp.authorise_reply to the replay of %s", sid);
    json_t *reply = find_msgs("cp-events", "cp.authorise_reply", sid, &n);
    H_ASSERT(env, reply != NULL, "no cp.authorise_reply for %s", sid);
    json_t *pl = json_object_get(reply, "payload");
    H_ASSERT(env, !json_is_true(json_object_get(pl, "accepted")),
             "the engine accepted the authorisation of a session it already ended");
    H_ASSERT(env, strcmp(h_jstr(pl, "reason"), "session_ended") == 0, "reason %s",
             h_jstr(pl, "reason"));
    json_decref(reply);
    /* The refusal was the engine's last word on it: the unattended engine
     * would have plugged in 100 ms after accepting. */
    json_decref(find_msgs("cp-events", "supply.started", sid, &n));
    H_ASSERT(env, n == 1, "%d supply.started for %s: supplied twice", n, sid);
    wait_state("CP_001", "ACTIVATED", 1000);
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 1, "billed twice");
    H_ASSERT(env, health_counter("energy_unbillable") == 0, "energy reported unbillable");
    sc_check_billing(env, 1);
    H_FINISH(env);
}

/* Evidence 2 of the issue: the engine's delivery is late (here: the engine
 * is frozen with SIGSTOP; on Kafka its group membership also lapses, so it
 * rejoins as after a restart). Central denies the request cp_no_answer and
 * tells the driver; when the authorisation finally reaches the engine it is
 * past its expiry: refused, nothing supplied, nothing to bill. Before the
 * fix the engine accepted it (9 s old < its 30 s age limit) and supplied
 * energy Central could not bill. */
Test(late, an_authorisation_delivered_after_central_gave_up_starts_nothing)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 1500;
    /* The frozen engine must not look broken or lose its monitor: the CP
     * stays ACTIVATED, so the request passes Central's checks. */
    o.health_timeout_ms = 60000;
    o.monitor_timeout_ms = 60000;
    env = h_env_new(&o);
    h_start_central(env);
    h_proc *e1;
    h_start_cp(env, "CP_001", &e1, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    h_signal(e1, SIGSTOP);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    expect_output(d1, "cp_no_answer", UP_MS + env->opts.authorise_timeout_ms);
    char sid[80];
    H_ASSERT(env, h_db_text(env, "select id from sessions where cp_id='CP_001' and "
                                 "state='denied'", sid, sizeof sid)[0],
             "no denied session in the database");
    h_signal(e1, SIGCONT);
    expect_output(e1, "(a late delivery): refused", 30000);
    reply_wait rw = {sid, 1};
    H_ASSERT(env, h_wait_until(reply_on_bus, env, &rw, 15000), "no cp.authorise_reply for %s",
             sid);
    int n = 0;
    json_t *reply = find_msgs("cp-events", "cp.authorise_reply", sid, &n);
    H_ASSERT(env, reply != NULL, "no cp.authorise_reply for %s", sid);
    json_t *pl = json_object_get(reply, "payload");
    H_ASSERT(env, !json_is_true(json_object_get(pl, "accepted")),
             "the engine accepted an authorisation Central had given up on");
    H_ASSERT(env, strcmp(h_jstr(pl, "reason"), "expired") == 0, "reason %s", h_jstr(pl, "reason"));
    json_decref(reply);
    json_decref(find_msgs("cp-events", "supply.started", sid, &n));
    H_ASSERT(env, n == 0, "the late authorisation started a supply");
    wait_state("CP_001", "ACTIVATED", 1000);
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 0, "a ticket for nothing");
    H_ASSERT(env, health_counter("energy_unbillable") == 0, "energy reported unbillable");
    H_ASSERT(env, health_counter("supplies_billed_late") == 0, "a supply slipped through");
    H_FINISH(env);
}
