/* test_trust_scale.c: Central's cache of CP bus keys holds a whole city
 * (issue 14). A miss is a store read and an HMAC on the loop; the old fixed
 * table of 8,192 evicted past 8,192 CPs, so at 10,000 every message missed.
 * Here 9,000 CPs (more than the old bound) each seal one message, then the
 * first CP's key is still the cached one: its secret changed in the store
 * behind Central's back and its old key is still taken, until Central is told
 * to forget it (as it is at the monitor's next AUTH). */
#include "supply_sx.h"

#define SCALE_N 9000
#define SCALE_BATCH 1000 /* under the loopback bus's queue bound */

typedef struct ok_at_least {
    sx *x;
    uint64_t target;
} ok_at_least;

static uint64_t verdicts(sx *x, evc_seal_verdict v)
{
    uint64_t n[EVC_SEAL_NVERDICTS];
    central_trust_counts(&x->c, n);
    return n[v];
}

static bool oks_reached(void *arg)
{
    ok_at_least *w = arg;
    return verdicts(w->x, EVC_SEAL_OK) >= w->target;
}

/* The bus key an engine derives from the stored string's proof key. */
static void bus_key_of(const char *stored, const char *cp, uint8_t out[32])
{
    uint8_t k[32];
    evc_error err = {0};
    cr_assert_eq(evc_proof_split(stored, NULL, k, &err), EVC_OK, "%s", err.msg);
    const char *parts[] = {cp};
    evc_proof_mac(k, "evc-bus-cp-v1", parts, 1, out);
}

/* A sealer of `cp` with its own incarnation: its ep is its creation time in
 * ms, so the wall clock must have moved past the previous sealer's (else
 * the same ep and seq would be a replay). */
static bool ms_passed(void *arg) { return evc_wall_ms() > *(uint64_t *)arg; }

static evc_sealer *sealer(sx *x, const char *cp, const uint8_t key[32])
{
    static uint64_t last_ms;
    cr_assert_eq(evc_loop_run_until(x->f.loop, ms_passed, &last_ms, 1000), EVC_OK);
    last_ms = evc_wall_ms();
    evc_sealer *s = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_sealer_new(cp, EVC_SEAL_HMAC_SHA256, key, &s, &err), EVC_OK, "%s", err.msg);
    return s;
}

/* One message of `cp` sealed by `s`: an unknown type that Central verifies
 * and then ignores. */
static void send_sealed(sx *x, const char *cp, evc_sealer *s)
{
    char p[96];
    snprintf(p, sizeof p, "{\"cp_id\":\"%s\"}", cp);
    send_as(x, "cp-events", cp, "cp.scale_probe", NULL, p, s);
}

static void await_oks(sx *x, uint64_t target)
{
    ok_at_least w = {x, target};
    cr_assert_eq(evc_loop_run_until(x->f.loop, oks_reached, &w, 60000), EVC_OK,
                 "%llu of %llu sealed messages verified (bad signature %llu, unknown key %llu)",
                 (unsigned long long)verdicts(x, EVC_SEAL_OK), (unsigned long long)target,
                 (unsigned long long)verdicts(x, EVC_SEAL_BAD_SIGNATURE),
                 (unsigned long long)verdicts(x, EVC_SEAL_UNKNOWN_KEY));
}

Test(trust_scale, the_key_cache_holds_every_cp_of_a_city, .timeout = 240)
{
    sx *x = calloc(1, sizeof *x);
    cr_assert_not_null(x);
    /* sx_open with SCALE_N more CPs in the store before Central loads. */
    memset(x, 0, sizeof *x);
    fx_store_open(&x->f);
    static char stored[SCALE_N][EVC_PASSWORD_HASH_MAX];
    evc_error err = {0};
    cr_assert_eq(evc_store_begin(x->f.store, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < SCALE_N; i++) {
        evc_charging_point row = {.price_cents_per_kwh = 30, .admin_state = EVC_CP_IN_SERVICE};
        snprintf(row.id, sizeof row.id, "K_%05d", i);
        uint8_t b[32];
        char secret[65];
        evc_proof_random(b, sizeof b);
        evc_hex_encode(b, sizeof b, secret);
        cr_assert_eq(evc_proof_fast_hash(secret, stored[i], &err), EVC_OK, "%s", err.msg);
        snprintf(row.secret_hash, sizeof row.secret_hash, "%s", stored[i]);
        cr_assert_eq(evc_store_cp_insert(x->f.store, &row, &err), EVC_OK, "%s", err.msg);
    }
    cr_assert_eq(evc_store_commit(x->f.store, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", NULL, &x->tp, NULL, &err),
                 EVC_OK, "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = "x", .client_id = "central",
                              .group_id = "central"};
    cr_assert_eq(evc_bus_open(x->f.loop, x->tp, &p, &x->bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(x->bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_open(x->f.loop, x->tp, &p, &x->peer, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(x->peer, "central-events", capture, x, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(x->peer, &err), EVC_OK, "%s", err.msg);
    sx_central_start(x);

    uint64_t base = verdicts(x, EVC_SEAL_OK);
    uint8_t key[32];
    char id[16];
    for (int i = 0; i < SCALE_N; i++) {
        snprintf(id, sizeof id, "K_%05d", i);
        bus_key_of(stored[i], id, key);
        evc_sealer *s = NULL;
        cr_assert_eq(evc_sealer_new(id, EVC_SEAL_HMAC_SHA256, key, &s, &err), EVC_OK);
        send_sealed(x, id, s);
        evc_sealer_free(s);
        if ((i + 1) % SCALE_BATCH == 0)
            await_oks(x, base + (uint64_t)i + 1);
    }
    await_oks(x, base + SCALE_N);
    cr_assert_eq(verdicts(x, EVC_SEAL_BAD_SIGNATURE), 0);
    cr_assert_eq(verdicts(x, EVC_SEAL_UNKNOWN_KEY), 0);

    /* K_00000 gets a new secret in the store only. Its old key still
     * verifies: 8,999 CPs later it is still in the cache. */
    char fresh_secret[65], fresh[EVC_PASSWORD_HASH_MAX];
    uint8_t b[32], old_key[32], new_key[32];
    evc_proof_random(b, sizeof b);
    evc_hex_encode(b, sizeof b, fresh_secret);
    cr_assert_eq(evc_proof_fast_hash(fresh_secret, fresh, &err), EVC_OK);
    cr_assert_eq(evc_store_cp_set_secret(x->f.store, "K_00000", fresh, &err), EVC_OK, "%s",
                 err.msg);
    bus_key_of(stored[0], "K_00000", old_key);
    bus_key_of(fresh, "K_00000", new_key);
    evc_sealer *old_s = sealer(x, "K_00000", old_key);
    send_sealed(x, "K_00000", old_s);
    await_oks(x, base + SCALE_N + 1);

    /* Told to forget it, Central reads the store again: the old key is
     * refused, the new one heard. */
    central_trust_forget_cp(&x->c, "K_00000");
    send_sealed(x, "K_00000", old_s);
    evc_sealer *new_s = sealer(x, "K_00000", new_key);
    send_sealed(x, "K_00000", new_s);
    await_oks(x, base + SCALE_N + 2);
    cr_assert_eq(verdicts(x, EVC_SEAL_BAD_SIGNATURE), 1, "the old key after the rotation");
    evc_sealer_free(old_s);
    evc_sealer_free(new_s);
    sx_close(x);
    free(x);
}
