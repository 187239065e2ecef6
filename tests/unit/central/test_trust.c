/* test_trust.c: who Central listens to on the bus (central_trust.h): logins
 * by proof, single-use challenges, sessions that survive a restart, CPs that
 * can speak only as themselves. Fixture: supply_sx.h. */
#include "supply_sx.h"

/* A login whose proof is made with `password` against a challenge the test
 * asks for; returns the reply's reason ("" when ok). */
static const char *login_with(sx *x, const char *driver, const char *password, bool replay_twice)
{
    static char reason[48];
    int from = x->nout;
    char nonce[] = "00112233445566778899aabbccddeeff", p[400], corr[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"nonce\":\"%s\"}", driver, nonce);
    send_as(x, "driver-events", driver, "driver.hello", corr, p, NULL);
    out_msg *ch = await(x, from, "driver.challenge", NULL);
    evc_proof_params params;
    cr_assert_eq(evc_proof_params_parse(ch->params, &params, NULL), EVC_OK);
    uint8_t key[32], proof[32];
    cr_assert_eq(evc_proof_derive(password, &params, key, NULL), EVC_OK);
    const char *parts[] = {driver, nonce, ch->server_nonce};
    evc_proof_mac(key, "evc-driver-login-v1", parts, 3, proof);
    char hex[EVC_PROOF_HEX_SIZE];
    evc_hex_encode(proof, 32, hex);
    snprintf(p, sizeof p,
             "{\"driver_id\":\"%s\",\"nonce\":\"%s\",\"server_nonce\":\"%s\",\"proof\":\"%s\"}",
             driver, nonce, ch->server_nonce, hex);
    for (int i = 0; i < (replay_twice ? 2 : 1); i++) {
        from = x->nout;
        send_as(x, "driver-events", driver, "driver.login", corr, p, NULL);
        out_msg *r = await(x, from, "driver.auth_reply", NULL);
        snprintf(reason, sizeof reason, "%s", r->ok ? "" : r->reason);
    }
    return reason;
}

Test(trust, a_proof_logs_in_once_and_a_replayed_one_is_refused)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    cr_assert_str_eq(login_with(x, "driver1", "pass123", false), "");
    /* The same login message again (captured off the bus): its challenge
     * was used up. */
    cr_assert_str_eq(login_with(x, "driver1", "pass123", true), "not_authenticated");
    cr_assert_str_eq(login_with(x, "driver1", "pass124", false), "not_authenticated");
    cr_assert_str_eq(login_with(x, "ghost", "pass123", false), "unknown_driver");
    sx_close(x);
    free(x);
}

Test(trust, an_unknown_driver_gets_a_challenge_like_a_known_one)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    char params[2][128];
    const char *who[] = {"ghost", "ghost"};
    for (int i = 0; i < 2; i++) {
        int from = x->nout;
        char p[200];
        snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"nonce\":\"0011223344556677889900aabbccddee\"}",
                 who[i]);
        send_as(x, "driver-events", who[i], "driver.hello", NULL, p, NULL);
        snprintf(params[i], sizeof params[i], "%s",
                 await(x, from, "driver.challenge", NULL)->params);
    }
    cr_assert_str_eq(params[0], params[1], "the same fake salt each time: no tell");
    evc_proof_params a;
    cr_assert_eq(evc_proof_params_parse(params[0], &a, NULL), EVC_OK);
    sx_close(x);
    free(x);
}

Test(trust, a_session_outlives_a_restart_of_central)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    hello(x, "driver1", "pass123", true);
    /* Central stops and starts again on the same database and key. */
    evc_timer_close(x->tick);
    evc_timer_close(x->c.hb_timer);
    central_trust_free(&x->c);
    evc_bus_close(x->bus);
    evc_msg_dedup_free(x->c.dedup);
    central_tables_free(&x->c);
    memset(&x->c, 0, sizeof x->c);
    evc_error err = {0};
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = "x", .client_id = "central",
                              .group_id = "central"};
    cr_assert_eq(evc_bus_open(x->f.loop, x->tp, &p, &x->bus, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(x->bus, &err), EVC_OK);
    sx_central_start(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_str_eq(request(x, "driver1", "CP_001", corr), "authorising",
                     "the app's session key still works");
    sx_close(x);
    free(x);
}

Test(trust, a_cp_key_speaks_only_for_its_cp)
{
    sx *x = calloc(1, sizeof *x);
    sx_open(x);
    heartbeat(x, "CP_001", CENTRAL_HEALTH_OK);
    /* CP_002's real key, a message naming CP_001: dropped unanswered. */
    uint64_t dropped = x->c.dropped;
    int from = x->nout;
    send_as(x, "cp-events", "CP_002", "supply.request", NULL,
            "{\"cp_id\":\"CP_001\",\"driver_id\":\"driver1\"}", cp_sealer(x, "CP_002"));
    settle(x);
    cr_assert_eq(count(x, from, "supply.update"), 0);
    cr_assert_eq(x->c.dropped, dropped + 1);
    /* Sealed by CP_001: heard. */
    send(x, "cp-events", "CP_001", "supply.request", NULL,
         "{\"cp_id\":\"CP_001\",\"driver_id\":\"driver1\"}");
    await(x, from, "cp.authorise", NULL);
    sx_close(x);
    free(x);
}
