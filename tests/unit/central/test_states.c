/* test_states.c: what Central shows for a CP while things happen to its
 * supply (issue 9, item 4 and 6), and what its plain output writes (item 10):
 * no state that flashes or lies, "Out of Order" for STOPPED, "waiting for
 * plug" for an authorised CP, each event written once, live telemetry in
 * plain mode. A real SQLite store and the loopback bus, no processes. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "central_int.h"
#include "central_session.h"
#include "evc/log.h"
#include "evc/plugin.h"
#include "fixture.h"

typedef struct tx {
    fx_store f;
    evc_plugin *tp;
    evc_bus *bus;
    central c;
} tx;

static void tx_open(tx *x)
{
    memset(x, 0, sizeof *x);
    fx_store_open(&x->f);
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", NULL, &x->tp, NULL, &err),
                 EVC_OK, "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = "x", .client_id = "central",
                              .group_id = "central"};
    cr_assert_eq(evc_bus_open(x->f.loop, x->tp, &p, &x->bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(x->bus, &err), EVC_OK, "%s", err.msg);
    central *c = &x->c;
    c->loop = x->f.loop;
    c->bus = x->bus;
    c->store = x->f.store;
    c->tty = true; /* tests of the plain output say so */
    c->heartbeat_timeout_ms = 3000;
    c->t_driver = "driver-events";
    c->t_cp = "cp-events";
    c->t_central = "central-events";
    cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
}

static void tx_close(tx *x)
{
    evc_bus_close(x->bus);
    central_tables_free(&x->c);
    fx_store_close(&x->f);
    evc_plugin_unload(x->tp);
}

/* The monitor of `id` says its engine is `h` now. */
static void heartbeat(tx *x, const char *id, central_health h)
{
    central_cp *cp = central_cp_find(&x->c, id);
    cr_assert_not_null(cp);
    cp->heard = true;
    cp->last_hb_ms = evc_loop_now_ms(x->c.loop);
    cp->health = h;
    if (h != CENTRAL_HEALTH_OK)
        cp->fault_until_ms = 0; /* as central_links.c's on_hb */
    central_cp_refresh(&x->c, cp, "test heartbeat");
}

static central_cp_state state_of(tx *x, const char *id)
{
    return central_cp_find(&x->c, id)->state;
}

static central_supply *add_supply(tx *x, const char *id, const char *cp,
                                  central_supply_phase phase)
{
    central_supply s = {.phase = phase, .price_cents_per_kwh = 35};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.driver_id, sizeof s.driver_id, "driver1");
    snprintf(s.cp_id, sizeof s.cp_id, "%s", cp);
    central_supply *out = central_supply_add(&x->c, &s);
    cr_assert_not_null(out);
    central_cp_refresh(&x->c, central_cp_find(&x->c, cp), "test supply");
    return out;
}

Test(states, a_fault_during_a_supply_goes_straight_to_broken)
{
    tx x;
    tx_open(&x);
    heartbeat(&x, "CP_001", CENTRAL_HEALTH_OK);
    central_supply *s = add_supply(&x, "11111111-1111-4111-8111-111111111111", "CP_001",
                                   CENTRAL_SUPPLY_SUPPLYING);
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_SUPPLYING);
    /* The engine's supply.ended (reason fault) comes before the monitor's KO. */
    central_supply_close(&x.c, s, CENTRAL_SUPPLY_ENDED, "fault");
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_BROKEN, "got %s, not BROKEN at once",
                 central_cp_state_name(state_of(&x, "CP_001")));
    heartbeat(&x, "CP_001", CENTRAL_HEALTH_OK); /* sent before the monitor's next PING */
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_BROKEN, "no ACTIVATED flash");
    heartbeat(&x, "CP_001", CENTRAL_HEALTH_KO);
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_BROKEN);
    heartbeat(&x, "CP_001", CENTRAL_HEALTH_OK); /* repaired */
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_ACTIVATED);
    tx_close(&x);
}

Test(states, a_supply_ended_for_another_reason_frees_the_cp_at_once)
{
    tx x;
    tx_open(&x);
    heartbeat(&x, "CP_001", CENTRAL_HEALTH_OK);
    central_supply *s = add_supply(&x, "22222222-2222-4222-8222-222222222222", "CP_001",
                                   CENTRAL_SUPPLY_SUPPLYING);
    central_supply_close(&x.c, s, CENTRAL_SUPPLY_ENDED, "unplugged");
    cr_assert_eq(state_of(&x, "CP_001"), CENTRAL_CP_ACTIVATED);
    tx_close(&x);
}

Test(states, an_interrupted_supply_does_not_come_back_as_supplying)
{
    tx x;
    tx_open(&x);
    heartbeat(&x, "CP_002", CENTRAL_HEALTH_OK);
    add_supply(&x, "33333333-3333-4333-8333-333333333333", "CP_002", CENTRAL_SUPPLY_SUPPLYING);
    heartbeat(&x, "CP_002", CENTRAL_HEALTH_UNREACHABLE); /* engine killed */
    cr_assert_eq(state_of(&x, "CP_002"), CENTRAL_CP_BROKEN);
    /* Restarted: healthy again, its supply.ended (engine_restart) still on
     * its way; the supply is over for the driver already. */
    heartbeat(&x, "CP_002", CENTRAL_HEALTH_OK);
    cr_assert_eq(state_of(&x, "CP_002"), CENTRAL_CP_ACTIVATED, "got %s",
                 central_cp_state_name(state_of(&x, "CP_002")));
    tx_close(&x);
}

Test(states, an_authorised_cp_shows_it_waits_for_the_plug)
{
    tx x;
    tx_open(&x);
    heartbeat(&x, "CP_003", CENTRAL_HEALTH_OK);
    central_supply *s = add_supply(&x, "44444444-4444-4444-8444-444444444444", "CP_003",
                                   CENTRAL_SUPPLY_AUTHORISED);
    cr_assert_eq(state_of(&x, "CP_003"), CENTRAL_CP_SUPPLYING);
    char *json = central_json_cp(&x.c, central_cp_find(&x.c, "CP_003"));
    cr_assert_not_null(json);
    const char *at = strstr(json, "\"id\":\"CP_003\"");
    cr_assert_not_null(at, "%s", json);
    const char *end = strstr(at, "}");
    const char *detail = strstr(at, "\"state_detail\":\"waiting for plug\"");
    cr_assert(detail && detail < end, "no waiting for plug in %s", at);
    free(json);
    s->phase = CENTRAL_SUPPLY_SUPPLYING; /* plugged in */
    json = central_json_cp(&x.c, central_cp_find(&x.c, "CP_003"));
    cr_assert_null(strstr(json, "waiting for plug"), "%s", json);
    free(json);
    tx_close(&x);
}

Test(states, stopped_reads_out_of_order_on_the_api)
{
    tx x;
    tx_open(&x);
    heartbeat(&x, "CP_004", CENTRAL_HEALTH_OK);
    cr_assert_eq(central_cp_admin(&x.c, "CP_004", true), 1);
    cr_assert_eq(state_of(&x, "CP_004"), CENTRAL_CP_STOPPED);
    char *json = central_json_cp(&x.c, central_cp_find(&x.c, "CP_004"));
    const char *at = strstr(json, "\"id\":\"CP_004\"");
    cr_assert_not_null(at);
    const char *text = strstr(at, "\"state_text\":\"Out of Order\"");
    cr_assert(text && text < strstr(at, "}"), "%s", at);
    free(json);
    tx_close(&x);
}

/* ---- plain output ------------------------------------------------------ */

/* stdout and stderr both into one file, as `>central.log 2>&1` does. */
typedef struct capture {
    char path[320];
    int saved_out, saved_err;
} capture;

static void capture_start(capture *k, tx *x)
{
    snprintf(k->path, sizeof k->path, "%s/out.log", x->f.dir);
    int fd = open(k->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    cr_assert_geq(fd, 0);
    fflush(stdout);
    fflush(stderr);
    k->saved_out = dup(1);
    k->saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
}

/* Restores the streams; returns the text written (caller frees). */
static char *capture_end(capture *k)
{
    fflush(stdout);
    fflush(stderr);
    dup2(k->saved_out, 1);
    dup2(k->saved_err, 2);
    close(k->saved_out);
    close(k->saved_err);
    FILE *f = fopen(k->path, "r");
    cr_assert_not_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(plain, each_event_is_written_once)
{
    tx x;
    tx_open(&x);
    x.c.tty = false;
    evc_log_set_level(EVC_LOG_INFO);
    capture k;
    capture_start(&k, &x);
    heartbeat(&x, "CP_005", CENTRAL_HEALTH_OK); /* a state change: event + line */
    central_event(&x.c, "cp.auth", NULL, "CP_005", NULL, "monitor authenticated from %s",
                  "10.9.8.7:1234"); /* an event nobody says in words */
    central_cps_flush_event(&x.c);  /* central.c's tick */
    char *out = capture_end(&k);
    cr_assert_eq(occurrences(out, "DISCONNECTED -> ACTIVATED"), 1, "%s", out);
    cr_assert_eq(occurrences(out, "10.9.8.7:1234"), 1, "%s", out);
    free(out);
    tx_close(&x);
}

Test(plain, live_telemetry_at_the_configured_interval)
{
    tx x;
    tx_open(&x);
    x.c.tty = false;
    x.c.telemetry_log_ms = 60000;
    heartbeat(&x, "CP_006", CENTRAL_HEALTH_OK);
    central_supply *s = add_supply(&x, "55555555-5555-4555-8555-555555555555", "CP_006",
                                   CENTRAL_SUPPLY_SUPPLYING);
    s->w = 7400;
    s->wh = 1234;
    s->cents = 43;
    capture k;
    capture_start(&k, &x);
    central_panel_telemetry(&x.c);
    central_panel_telemetry(&x.c); /* within the interval: nothing more */
    char *out = capture_end(&k);
    cr_assert_eq(occurrences(out, "CP_006: 7.4 kW, 1.234 kWh, 0.43 EUR"), 1, "%s", out);
    free(out);
    x.c.telemetry_log_ms = 0; /* never */
    x.c.telemetry_logged_ms = 0;
    capture_start(&k, &x);
    central_panel_telemetry(&x.c);
    out = capture_end(&k);
    cr_assert_null(strstr(out, "kWh"), "%s", out);
    free(out);
    tx_close(&x);
}
