/* test_driver_extra.c: what the driver dashboard asks over the bus (issue
 * 13, docs/PROTOCOL.md M3.3), with the real programs: `request *` gets the
 * cheapest free CP, `stop` ends the supply billed like an unplug (reason
 * driver_stop), no free CP is denied in words, and `history` reads the
 * tickets from Central's database, also after the driver app restarted.
 * Built once per transport (H_BUS). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define UP_MS 20000 /* CPs registered, engines and drivers on the bus (Kafka: group joins) */

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(driver_extra, .fini = teardown);

static bool engine_on_bus(h_env *e, void *cp_id)
{
    json_t *root = NULL;
    json_t *cp = h_api_cp(e, cp_id, &root);
    bool on = cp && json_is_true(json_object_get(cp, "engine_on_bus"));
    json_decref(root);
    return on;
}

static void cp_ready(const char *cp)
{
    h_expect_cp_state(env, cp, "ACTIVATED", UP_MS);
    H_ASSERT(env, h_wait_until(engine_on_bus, env, (void *)cp, UP_MS),
             "%s: its engine never spoke on the bus", cp);
}

Test(driver_extra, any_free_cp_stop_no_free_cp_and_history_across_a_restart)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 200;
    o.unplug_after_ms = 600000; /* supplies until stopped */
    env = h_env_new(&o);
    h_proc *central = h_start_central(env);
    h_start_cp(env, "CP_001", NULL, NULL, NULL); /* 35 cents/kWh (seed) */
    h_start_cp(env, "CP_002", NULL, NULL, NULL); /* 30 cents/kWh: the cheapest */
    cp_ready("CP_001");
    cp_ready("CP_002");
    h_proc *d1 = h_start_driver(env, "driver1", "pass123", NULL);
    h_expect_output(env, d1, "Authenticated as driver1", UP_MS);

    /* Any free CP: the cheapest one, named in every step after the pick. */
    h_send_line(d1, "request *");
    h_expect_output(env, d1, "Sent request for any free CP", 5000);
    h_expect_output(env, d1, "Authorised at CP_002", 15000);
    h_expect_output(env, d1, "Supplying at CP_002: ", 15000);
    H_ASSERT(env, h_wait_output(d1, "Supplying at CP_002: ", 3, 15000),
             "no telemetry at CP_002");

    /* The driver's stop: billed like an unplug, the ticket says why. */
    h_send_line(d1, "stop");
    h_expect_output(env, d1, "Asked CENTRAL to stop the supply at CP_002", 5000);
    h_expect_output(env, d1, "Stopping the supply at CP_002 at your request", 15000);
    h_expect_output(env, d1, "Ended at CP_002: driver_stop", 15000);
    h_expect_output(env, d1, "reason driver_stop (stopped by the driver)", 15000);
    H_ASSERT(env,
             h_db_int(env, "select count(*) from tickets where driver_id='driver1' and "
                           "cp_id='CP_002' and end_reason='driver_stop' and energy_wh > 0 and "
                           "amount_cents = (energy_wh * price_cents_per_kwh + 500) / 1000", -1) == 1,
             "the stopped supply is not billed as its energy");
    h_expect_cp_state(env, "CP_002", "ACTIVATED", 10000);
    h_send_line(d1, "stop"); /* nothing to stop any more */
    h_expect_output(env, d1, "No supply in progress to stop", 5000);

    /* No free CP: CP_001 supplies driver2, CP_002 is stopped by the
     * operator. */
    h_proc *d2 = h_start_driver(env, "driver2", "pass456", NULL);
    h_expect_output(env, d2, "Authenticated as driver2", UP_MS);
    h_send_line(d2, "request CP_001");
    h_expect_output(env, d2, "Supplying at CP_001: ", 15000);
    h_send_line(central, "stop CP_002");
    h_expect_cp_state(env, "CP_002", "STOPPED", 10000);
    h_send_line(d1, "request any");
    h_expect_output(env, d1, "Denied at any free CP: no_free_cp (no free charging point)",
                    15000);
    h_send_line(d2, "stop");
    h_expect_output(env, d2, "Ended at CP_001: driver_stop", 15000);
    h_expect_output(env, d2, "Ticket CP_001:", 15000);

    /* History from the database, also from a new run of the app. */
    h_send_line(d1, "history");
    h_expect_output(env, d1, "History from CENTRAL: 1 ticket", 10000);
    H_ASSERT(env, h_stop(d1, 5000) == 0, "driver1 did not stop cleanly");
    d1 = h_start_driver(env, "driver1", "pass123", NULL);
    h_expect_output(env, d1, "Authenticated as driver1", UP_MS);
    h_send_line(d1, "history");
    h_expect_output(env, d1, "History: 0 tickets", 5000);
    h_expect_output(env, d1, "History from CENTRAL: 1 ticket", 10000);
    h_expect_output(env, d1, "Ticket CP_002:", 5000);
    H_FINISH(env);
}
