/* test_money.c: issue 11 finding 1 over each bus (H_BUS): a forged
 * supply.ended with 1,000,000 Wh for a running session, under the session's
 * own CP id, used to charge the driver 40000 cents and turn the true report
 * into "already billed". Central now refuses a report over the energy bound
 * (max power x time since the request): the driver is billed what the
 * engine really delivered, once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/uuid.h"
#include "harness.h"
#include "supply_checks.h"

#define UP_MS 20000 /* CPs registered, engines and drivers on the bus (Kafka: group joins) */
#define FORGED_WH 1000000

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(money, .fini = teardown);

static void wait_state(const char *cp, const char *state, int ms)
{
    h_expect_cp_state(env, cp, state, ms);
}

/* The last message of `type` about session `sid` on `topic` (a new
 * reference, or NULL); *n counts them, *genuine those whose wh is not the
 * forged figure. */
static json_t *find_msgs(const char *topic, const char *type, const char *sid, int *n,
                         int *genuine)
{
    json_t *msgs = h_bus_messages(env, topic), *last = NULL;
    size_t i;
    json_t *m;
    *n = *genuine = 0;
    json_array_foreach(msgs, i, m)
    {
        json_t *pl = json_object_get(m, "payload");
        if (strcmp(h_jstr(m, "type"), type) == 0 && strcmp(h_jstr(pl, "session_id"), sid) == 0) {
            (*n)++;
            if (json_integer_value(json_object_get(pl, "wh")) != FORGED_WH) {
                (*genuine)++;
                json_decref(last);
                last = json_incref(m);
            }
        }
    }
    json_decref(msgs);
    return last;
}

static int64_t health_counter(h_env *e, const char *name)
{
    json_t *h = h_http_get_json(e->http_port, "/api/health");
    H_ASSERT(e, h != NULL, "GET /api/health failed");
    H_ASSERT(e, json_object_get(h, name) != NULL, "/api/health has no %s", name);
    int64_t v = json_integer_value(json_object_get(h, name));
    json_decref(h);
    return v;
}

static bool refused(h_env *e, void *arg)
{
    (void)arg;
    return health_counter(e, "energy_refused") > 0;
}

/* /api/health's bus_refused.<reason>: messages the seal check dropped. */
static int64_t seal_refusals(h_env *e, const char *reason)
{
    json_t *h = h_http_get_json(e->http_port, "/api/health");
    H_ASSERT(e, h != NULL, "GET /api/health failed");
    json_t *v = json_object_get(json_object_get(h, "bus_refused"), reason);
    H_ASSERT(e, json_is_integer(v), "/api/health has no bus_refused.%s", reason);
    int64_t n = json_integer_value(v);
    json_decref(h);
    return n;
}

static bool unsealed_refused(h_env *e, void *arg)
{
    (void)arg;
    return seal_refusals(e, "unsigned") > 0;
}

Test(money, a_forged_end_of_a_million_wh_bills_nothing_and_the_true_report_bills)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = 8000; /* the forgery lands while the supply runs */
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    int64_t before = h_db_int(env, "select balance_cents from users where id='driver1'", -1);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    H_ASSERT(env, h_wait_until(h_cp_has_energy, env, "CP_001", 10000), "CP_001 supplied nothing");
    char sid[80];
    H_ASSERT(env, h_db_text(env, "select id from sessions where cp_id='CP_001'", sid, sizeof sid)[0],
             "no session in the database");

    /* The forgery: the session's own CP id, source and correlation id, as
     * anyone on the bus can write them; then the same sealed with CP_001's
     * own key, as a compromised CP host could. */
    char id[EVC_UUID_STR_SIZE], bytes[1024];
    H_ASSERT(env, evc_uuid_generate(id, NULL) == EVC_OK, "uuid");
    int64_t now = h_db_int(env, "select cast(strftime('%s','now') as integer) * 1000", 0);
    snprintf(bytes, sizeof bytes,
             "{\"type\":\"supply.ended\",\"id\":\"%s\",\"correlation_id\":\"%s\",\"ts\":%lld,"
             "\"source\":\"CP_001\",\"payload\":{\"cp_id\":\"CP_001\",\"session_id\":\"%s\","
             "\"driver_id\":\"driver1\",\"wh\":%d,\"started_at\":%lld,\"ended_at\":%lld,"
             "\"reason\":\"unplugged\"}}",
             id, sid, (long long)now, sid, FORGED_WH, (long long)now - 1000, (long long)now);
    H_ASSERT(env, h_bus_publish(env, "cp-events", "CP_001", bytes, strlen(bytes),
                                unsealed_refused, NULL, 30000),
             "Central never refused the unsealed report (/api/health bus_refused.unsigned)");
    H_ASSERT(env, h_bus_publish_as(env, "CP_001", "cp-events", "CP_001", bytes, strlen(bytes),
                                   refused, NULL, 30000),
             "Central never counted the forged report as refused (/api/health energy_refused)");
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 0,
             "the forged report was billed");

    /* The engine's true report, when the vehicle unplugs, bills. */
    H_ASSERT(env, h_wait_output(d1, "Ticket CP_001", 1, UP_MS), "driver1 never got its ticket");
    int n = 0, genuine = 0;
    json_t *end = find_msgs("cp-events", "supply.ended", sid, &n, &genuine);
    H_ASSERT(env, end != NULL && genuine >= 1, "no genuine supply.ended for %s", sid);
    int64_t true_wh = json_integer_value(json_object_get(json_object_get(end, "payload"), "wh"));
    json_decref(end);
    int64_t billed = h_db_int(env, "select energy_wh from tickets", -1);
    H_ASSERT(env, billed == true_wh, "billed %lld Wh, the engine reported %lld Wh",
             (long long)billed, (long long)true_wh);
    H_ASSERT(env, billed < 1000, "billed %lld Wh for a few seconds at 11 kW", (long long)billed);
    int64_t cents = h_db_int(env, "select amount_cents from tickets", -1);
    int64_t after = h_db_int(env, "select balance_cents from users where id='driver1'", -1);
    H_ASSERT(env, after == before - cents, "balance %lld, expected %lld - %lld",
             (long long)after, (long long)before, (long long)cents);
    H_ASSERT(env, h_count(d1, "1000000 Wh") == 0 && h_count(d1, "1000.000 kWh") == 0,
             "the driver was shown the forged energy");
    H_ASSERT(env, health_counter(env, "energy_unbillable") == 0,
             "the true report was taken for a second report");
    /* (sc_check_billing would take the forgery on the bus for a second
     * report of the engine: the checks above are the ones that apply.) */
    H_ASSERT(env, h_db_int(env, "select count(*) from tickets", -1) == 1, "billed twice");
    H_ASSERT(env, h_db_int(env, "select count(*) from sessions where state != 'ended'", -1) == 0,
             "a session left open");
    H_FINISH(env);
}
