/* test_driver_bus.c: the driver app on a real bus (the loopback transport)
 * against a scripted CENTRAL: envelopes, keys (F11), duplicates, garbage,
 * the ticket acknowledgement, stdin commands, the exit when done. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver_app.h"
#include "evc/msg.h"
#include "evc/plugin.h"
#include "evc/proof.h"

typedef struct central {
    evc_loop *loop;
    evc_bus *bus;
    evc_timer *beat;
    int hellos, syncs, lists, requests, acks, quits, quit_code;
    bool password_ok;
    bool plain_password_seen; /* a message carried the password itself */
    char server_nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    int stale_logins;         /* driver.login answering the test's stale challenge */
    evc_proof_params params;  /* of the stored hash of "pass123" */
    uint8_t key[EVC_PROOF_KEY_BYTES];
    char session[40];
    bool garbage_sent;
} central;

static void pub(central *c, const char *key, const char *type, const char *corr,
                const char *payload)
{
    evc_error err = {0};
    cr_assert_eq(evc_msg_publish(c->bus, "central-events", key, type, "central", corr, payload,
                                 NULL, NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
}

static void on_beat(evc_timer *t, void *arg)
{
    central *c = arg;
    pub(c, "central", "central.heartbeat", NULL, "{\"seq\":1,\"started_at\":1000}");
    if (!c->garbage_sent) {
        c->garbage_sent = true;
        evc_error err = {0};
        /* Not JSON, keyed to our driver: dropped and counted. */
        evc_bus_publish(c->bus, "central-events", "driver1", "{{{", 3, NULL, NULL, &err);
        /* Well-formed envelopes with bad payloads: each dropped and counted. */
        pub(c, "driver1", "supply.update", NULL, "{\"driver_id\":\"driver1\"}");
        pub(c, "driver1", "supply.ticket", NULL,
            "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\",\"session_id\":\"x\","
            "\"wh\":\"lots\",\"cents\":1}");
        pub(c, "driver1", "driver.auth_reply", NULL, "{\"driver_id\":\"driver1\",\"ok\":\"yes\"}");
        pub(c, "driver1", "driver.cps", NULL, "{\"driver_id\":\"driver1\",\"cps\":7}");
        pub(c, "driver1", "supply.telemetry", NULL, "{\"driver_id\":\"driver1\",\"wh\":[1]}");
        pub(c, "driver1", "supply.update", NULL,
            "{\"driver_id\":\"driver2\",\"step\":\"denied\",\"session_id\":\"y\"}");
        /* Another driver's ticket: never shown here (F11). */
        pub(c, "driver2", "supply.ticket", NULL,
            "{\"driver_id\":\"driver2\",\"cp_id\":\"CP_009\",\"session_id\":"
            "\"99999999-9999-4999-8999-999999999999\",\"wh\":1,\"cents\":1}");
    }
}

static void supply(central *c, const char *sid)
{
    char p[512];
    const char *steps[] = {"received", "checking", "authorised", "plug_in", "supplying"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p,
                 "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\",\"session_id\":\"%s\","
                 "\"step\":\"%s\",\"reason\":null,\"text\":null}",
                 sid, steps[i]);
        pub(c, "driver1", "supply.update", sid, p);
    }
    snprintf(p, sizeof p,
             "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"w\":7400,"
             "\"wh\":1234,\"cents\":37}",
             sid);
    pub(c, "driver1", "supply.telemetry", sid, p);
    snprintf(p, sizeof p,
             "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\",\"session_id\":\"%s\","
             "\"step\":\"ended\",\"reason\":\"unplugged\",\"text\":\"\"}",
             sid);
    pub(c, "driver1", "supply.update", sid, p);
    snprintf(p, sizeof p,
             "{\"driver_id\":\"driver1\",\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"wh\":1234,"
             "\"cents\":37,\"price_cents_per_kwh\":30,\"started_at\":1764154800000,"
             "\"ended_at\":1764154883000,\"duration_s\":83,\"reason\":\"unplugged\","
             "\"balance_cents\":14963}",
             sid);
    /* Twice, as a re-send after driver.sync would: shown once, acked twice. */
    pub(c, "driver1", "supply.ticket", sid, p);
    pub(c, "driver1", "supply.ticket", sid, p);
}

static int on_driver_events(void *arg, const evc_message *m)
{
    central *c = arg;
    cr_assert_str_eq(m->key, "driver1", "drivers key their messages with their id");
    evc_envelope *env = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_str_eq(env->source, "driver1");
    cr_assert_str_eq(evc_msg_str(env, "driver_id"), "driver1");
    if (memmem(m->payload, m->payload_len, "pass123", 7))
        c->plain_password_seen = true;
    if (strcmp(env->type, "driver.hello") == 0) {
        c->hellos++;
        /* Each hello has its own correlation id; Central's answers echo it. */
        cr_assert(evc_uuid_valid(env->correlation_id), "driver.hello without a correlation id");
        const char *nonce = evc_msg_str(env, "nonce");
        cr_assert(nonce && strlen(nonce) == 32, "driver.hello without a nonce");
        uint8_t sn[EVC_PROOF_NONCE_BYTES];
        evc_proof_random(sn, sizeof sn);
        evc_hex_encode(sn, sizeof sn, c->server_nonce);
        char params[128], p[512];
        evc_proof_params_format(&c->params, params, sizeof params);
        snprintf(p, sizeof p,
                 "{\"driver_id\":\"driver1\",\"nonce\":\"%s\",\"server_nonce\":\"%s\","
                 "\"params\":\"%s\"}",
                 nonce, c->server_nonce, params);
        pub(c, "driver1", "driver.challenge", env->correlation_id, p);
    } else if (strcmp(env->type, "driver.login") == 0) {
        const char *nonce = evc_msg_str(env, "nonce"), *proof = evc_msg_str(env, "proof");
        const char *sn = evc_msg_str(env, "server_nonce");
        if (sn && strcmp(sn, "00112233445566778899aabbccddeeff") == 0)
            c->stale_logins++;
        const char *parts[] = {"driver1", nonce, c->server_nonce};
        uint8_t want[32], got[32];
        evc_proof_mac(c->key, "evc-driver-login-v1", parts, 3, want);
        c->password_ok = proof && evc_hex_decode(proof, got, 32) && evc_proof_equal(want, got);
        /* First the answer to another app of driver1 (a wrong password):
         * not this app's, so not shown and not taken as its own. */
        pub(c, "driver1", "driver.auth_reply", "5d2c7f3e-8a41-4d5b-9c6e-1f0a2b3c4d5e",
            "{\"driver_id\":\"driver1\",\"ok\":false,\"reason\":\"not_authenticated\","
            "\"balance_cents\":0}");
        pub(c, "driver1", "driver.auth_reply", env->correlation_id,
            c->password_ok ? "{\"driver_id\":\"driver1\",\"ok\":true,\"reason\":null,"
                             "\"balance_cents\":15000}"
                           : "{\"driver_id\":\"driver1\",\"ok\":false,\"reason\":"
                             "\"not_authenticated\",\"balance_cents\":0}");
    } else if (strcmp(env->type, "driver.sync") == 0) {
        c->syncs++;
    } else if (strcmp(env->type, "driver.list_cps") == 0) {
        c->lists++;
        pub(c, "driver1", "driver.cps", NULL,
            "{\"driver_id\":\"driver1\",\"cps\":[{\"cp_id\":\"CP_001\",\"location\":\"Madrid\","
            "\"price_cents_per_kwh\":30,\"state\":\"ACTIVATED\"}]}");
    } else if (strcmp(env->type, "supply.request") == 0) {
        c->requests++;
        cr_assert_str_eq(evc_msg_str(env, "cp_id"), "CP_001");
        cr_assert(evc_uuid_valid(env->correlation_id));
        cr_assert_str_eq(evc_msg_str(env, "session_id"), env->correlation_id);
        snprintf(c->session, sizeof c->session, "%s", env->correlation_id);
        supply(c, env->correlation_id);
    } else if (strcmp(env->type, "supply.ticket_ack") == 0) {
        c->acks++;
        cr_assert_str_eq(evc_msg_str(env, "session_id"), c->session);
        cr_assert_str_eq(env->correlation_id, c->session);
    }
    evc_envelope_free(env);
    return EVC_OK;
}

static void on_quit(void *arg, int code)
{
    central *c = arg;
    c->quits++;
    c->quit_code = code;
}

typedef struct rig {
    central c;
    evc_plugin *plugin;
    driver_app *app;
    FILE *out;
    char *outbuf;
    size_t outlen;
    driver_services services;
} rig;

static void rig_up(rig *r, const char *services, int in_fd)
{
    memset(r, 0, sizeof *r);
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&r->c.loop, &err), EVC_OK);
    char stored[EVC_PASSWORD_HASH_MAX];
    cr_assert_eq(evc_password_hash("pass123", EVC_PASSWORD_COST_MIN, stored, &err), EVC_OK);
    cr_assert_eq(evc_proof_split(stored, &r->c.params, r->c.key, &err), EVC_OK);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", NULL, &r->plugin, NULL, &err),
                 EVC_OK, "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = "x", .client_id = "t",
                              .group_id = "t"};
    cr_assert_eq(evc_bus_open(r->c.loop, r->plugin, &p, &r->c.bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(r->c.bus, "driver-events", on_driver_events, &r->c, &err),
                 EVC_OK);
    cr_assert_not_null(r->out = open_memstream(&r->outbuf, &r->outlen));
    if (services)
        cr_assert_eq(driver_services_parse("svc", services, strlen(services), &r->services, &err),
                     EVC_OK);
    driver_app_params dp = {
        .loop = r->c.loop, .bus = r->c.bus, .topic_in = "central-events",
        .topic_out = "driver-events",
        .fsm = {.driver_id = "driver1", .central_timeout_ms = 3000, .request_timeout_ms = 5000,
                .wait_between_ms = 0, .exit_when_done = true, .skip_unknown_cps = true},
        .password = "pass123", .out = r->out, .in_fd = in_fd,
        .services = services ? &r->services : NULL, .quit = on_quit, .quit_arg = &r->c};
    cr_assert_eq(driver_app_new(&dp, &r->app, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(r->c.bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(driver_app_start(r->app, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_timer(r->c.loop, 50, 100, on_beat, &r->c, &r->c.beat, &err), EVC_OK);
}

static void rig_down(rig *r)
{
    driver_app_stop(r->app);
    evc_timer_close(r->c.beat);
    evc_bus_close(r->c.bus);
    driver_app_free(r->app);
    evc_loop_free(r->c.loop);
    evc_plugin_unload(r->plugin);
    driver_services_free(&r->services);
    fclose(r->out);
    free(r->outbuf);
}

static bool quitted(void *arg) { return ((central *)arg)->quits > 0; }
static bool acked(void *arg) { return ((central *)arg)->acks >= 2; }

Test(driver_bus, services_file_runs_to_its_summary_and_exit)
{
    rig r;
    rig_up(&r, "CP_001\n", -1);
    cr_assert_eq(evc_loop_run_until(r.c.loop, quitted, &r.c, 10000), EVC_OK);
    /* The acknowledgements are on the bus by then; the loopback delivers
     * them to CENTRAL on a later loop turn (a timer armed from a timer
     * waits for the poll). */
    (void)evc_loop_run_until(r.c.loop, acked, &r.c, 2000);
    fflush(r.out);
    const char *o = r.outbuf;
    cr_expect(r.c.password_ok, "CENTRAL got a proof of the password");
    cr_expect_not(r.c.plain_password_seen, "the password itself never went on the bus");
    cr_expect_eq(r.c.syncs, 1);
    cr_expect_eq(r.c.requests, 1);
    cr_expect_eq(r.c.acks, 2, "every copy of the ticket is acknowledged");
    cr_expect_eq(r.c.quit_code, 0);
    const char *expect[] = {
        "Services file svc: 1 CP ids to request\n",
        "Authenticated as driver1 (balance EUR 150.00)\n",
        "Sent request for CP_001 (session ",
        "Request for CP_001 received by CENTRAL\n",
        "CENTRAL is checking the request for CP_001\n",
        "Authorised at CP_001\n",
        "Plug in your vehicle at CP_001\n",
        "Supplying at CP_001\n",
        "Supplying at CP_001: 7.40 kW, 1.234 kWh, EUR 0.37\n",
        "Ended at CP_001: unplugged (vehicle unplugged)\n",
        ("Ticket CP_001: 1.234 kWh, EUR 0.37 at EUR 0.30/kWh, start 2025-11-26T11:00:00Z, end "
         "2025-11-26T11:01:23Z, duration 0:01:23, reason unplugged (vehicle unplugged), balance EUR 149.63, session "),
        "Summary: 1 ok, 0 denied, 0 failed, 1.234 kWh, EUR 0.37\n",
    };
    const char *at = o;
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        const char *hit = strstr(at, expect[i]);
        cr_expect_not_null(hit, "missing (in order) '%s' in:\n%s", expect[i], o);
        if (hit)
            at = hit;
    }
    cr_expect_null(strstr(strstr(o, "Ticket CP_001") + 1, "Ticket CP_001"),
                   "the ticket is shown once");
    cr_expect_null(strstr(o, "CP_009"), "another driver's messages are not shown");
    cr_expect_null(strstr(o, "pass123"), "the password is never printed");
    cr_expect_null(strstr(o, "Authentication failed"), "another app's answer was taken as ours");
    cr_expect_eq(driver_app_malformed(r.app), 7, "each bad message counted once");
    rig_down(&r);
}

Test(driver_bus, commands_from_stdin)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    const char *cmds = "help\nfrobnicate\nrequest CP_001\n";
    cr_assert_eq(write(fds[1], cmds, strlen(cmds)), (ssize_t)strlen(cmds));
    rig r;
    rig_up(&r, NULL, fds[0]);
    cr_assert_eq(evc_loop_run_until(r.c.loop, acked, &r.c, 10000), EVC_OK);
    const char *more = "history\nstatus\nquit\n";
    cr_assert_eq(write(fds[1], more, strlen(more)), (ssize_t)strlen(more));
    close(fds[1]);
    cr_assert_eq(evc_loop_run_until(r.c.loop, quitted, &r.c, 10000), EVC_OK);
    fflush(r.out);
    const char *o = r.outbuf;
    cr_expect(strstr(o, "  request CP_ID   request a supply at CP_ID\n"), "%s", o);
    cr_expect(strstr(o, "Unknown command 'frobnicate'; type help\n"), "%s", o);
    cr_expect(strstr(o, "Waiting for CENTRAL before requesting CP_001\n"), "%s", o);
    cr_expect(strstr(o, "History: 1 ticket, balance EUR 149.63\n"), "%s", o);
    cr_expect(strstr(o, "Status: driver driver1, CENTRAL connected, authenticated yes, balance "
                        "EUR 149.63, request none, services none\n"),
              "%s", o);
    cr_expect_eq(r.c.quit_code, 0);
    rig_down(&r);
    close(fds[0]);
}

static bool proof_done(void *arg)
{
    return evc_loop_work_pending(((rig *)arg)->c.loop) == 0;
}

static bool authenticated(void *arg) { return ((rig *)arg)->c.password_ok; }

/* Found by the Kafka demo on a loaded machine: the first hello's challenge
 * came just before the app's hello timeout; the app sent a new hello (new
 * nonce) while the first proof was being computed, then sent that proof
 * with the new nonce, which Central refused ("without a live challenge"),
 * and ignored the second challenge as already being answered. A new hello
 * now drops the proof in progress. */
Test(driver_bus, a_proof_computed_for_an_earlier_hello_is_dropped)
{
    rig r;
    rig_up(&r, NULL, -1);
    char params[128], p[400];
    evc_proof_params_format(&r.c.params, params, sizeof params);
    snprintf(p, sizeof p,
             "{\"type\":\"driver.challenge\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f81\","
             "\"correlation_id\":null,\"ts\":1,\"source\":\"central\",\"payload\":{"
             "\"driver_id\":\"driver1\",\"nonce\":\"%s\",\"server_nonce\":"
             "\"00112233445566778899aabbccddeeff\",\"params\":\"%s\"}}",
             "0123456789abcdef0123456789abcdef", params);
    snprintf(r.app->login_nonce, sizeof r.app->login_nonce, "0123456789abcdef0123456789abcdef");
    evc_envelope *first = NULL;
    cr_assert_eq(evc_envelope_decode(p, strlen(p), NULL, &first, NULL), EVC_OK);
    driver_login_on_challenge(r.app, first); /* the proof starts on the pool */
    cr_assert_not_null(r.app->login_job);
    driver_login_new_nonce(r.app);            /* what a new driver.hello does */
    cr_assert_eq(evc_loop_run_until(r.c.loop, proof_done, &r, 5000), EVC_OK);
    /* The app's own hello and login (the rig's Central answers them) come
     * after: by then the stale proof would have been sent. */
    cr_assert_eq(evc_loop_run_until(r.c.loop, authenticated, &r, 5000), EVC_OK);
    cr_assert_eq(r.c.stale_logins, 0, "a proof for an earlier hello's challenge went out");
    evc_envelope_free(first);
    rig_down(&r);
}
