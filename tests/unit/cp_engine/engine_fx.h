/* engine_fx.h: the fixture of the engine's flow tests (test_engine.c,
 * test_engine_link.c): a real engine (engine_core.c and the files it drives)
 * on the loopback test bus and a temporary SQLite store, with a fake monitor
 * on its TCP port proving the CP's secret, and the test playing Central on
 * the bus. Static definitions: each test file includes it once. */
#ifndef ENGINE_FX_H
#define ENGINE_FX_H
/* Each test file uses part of the fixture. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <criterion/criterion.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "evc/proof.h"
#include "evc/plugin.h"

#define SID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SID2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"

typedef struct seen {
    char type[32], sid[64], reason[32], health[8], admin[16];
    int64_t wh, w, cents, started_at;
    bool accepted;
} seen;

static struct {
    evc_loop *loop;
    evc_plugin *store_plugin, *bus_plugin;
    evc_store *store;
    evc_bus *bus;
    engine *e;
    char dir[256];
    /* bus traffic from the engine */
    seen msgs[256];
    int n;
    /* fake monitor */
    evc_link_client *mon;
    evc_link *mon_link;
    evc_timer *pinger;
    bool pinging, hello_ok;
    char pong[8];
    char pong_f[8][64]; /* the last PONG's fields (the supply figures: engine_link.h) */
    size_t pong_n;
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES];
    char key_params[128]; /* of FX_SECRET's stored hash, as Central sends them */
    evc_bus *cbus;        /* the test's, as Central */
} T;

#define FX_SECRET "s3cret-CP_001"

static int on_cp_event(void *arg, const evc_message *m)
{
    (void)arg;
    evc_envelope *env = NULL;
    cr_assert_eq(evc_envelope_decode(m->payload, m->payload_len, NULL, &env, NULL), EVC_OK);
    cr_assert_str_eq(m->key, "CP_001", "engines key their messages with the CP id");
    cr_assert_str_eq(env->source, "CP_001");
    if (strcmp(env->type, "cp.key_request") == 0) {
        /* Central's part: the public params of the CP secret's stored hash. */
        char p[256];
        snprintf(p, sizeof p, "{\"cp_id\":\"CP_001\",\"params\":\"%s\"}", T.key_params);
        cr_assert_eq(evc_msg_publish(T.cbus, "central-events", "CP_001", "cp.key_params",
                                     "central", NULL, p, NULL, NULL, NULL, NULL),
                     EVC_OK);
        evc_envelope_free(env);
        return EVC_OK;
    }
    static const char sealed_by_cp[] = "\"seal\":{\"kid\":\"CP_001\"";
    cr_assert(memmem(m->payload, m->payload_len, sealed_by_cp, sizeof sealed_by_cp - 1),
              "%s is sealed with the CP's key", env->type);
    if (T.n < 256) {
        seen *s = &T.msgs[T.n++];
        memset(s, 0, sizeof *s);
        const char *v;
        snprintf(s->type, sizeof s->type, "%s", env->type);
        snprintf(s->sid, sizeof s->sid, "%s", (v = evc_msg_str(env, "session_id")) ? v : "");
        snprintf(s->reason, sizeof s->reason, "%s", (v = evc_msg_str(env, "reason")) ? v : "");
        snprintf(s->health, sizeof s->health, "%s", (v = evc_msg_str(env, "health")) ? v : "");
        snprintf(s->admin, sizeof s->admin, "%s", (v = evc_msg_str(env, "admin_state")) ? v : "");
        evc_msg_int(env, "wh", &s->wh);
        evc_msg_int(env, "w", &s->w);
        evc_msg_int(env, "cents", &s->cents);
        evc_msg_int(env, "started_at", &s->started_at);
        evc_msg_bool(env, "accepted", &s->accepted);
        if (s->sid[0] && evc_uuid_valid(s->sid))
            cr_assert_str_eq(env->correlation_id, s->sid, "%s carries its supply's id", s->type);
    }
    evc_envelope_free(env);
    return EVC_OK;
}

static int count(const char *type)
{
    int k = 0;
    for (int i = 0; i < T.n; i++)
        k += strcmp(T.msgs[i].type, type) == 0;
    return k;
}

static const seen *last(const char *type)
{
    for (int i = T.n - 1; i >= 0; i--)
        if (strcmp(T.msgs[i].type, type) == 0)
            return &T.msgs[i];
    return NULL;
}

typedef struct want {
    const char *type;
    int n;
} want;

static bool have(void *arg)
{
    want *w = arg;
    return count(w->type) >= w->n;
}

static void wait_for(const char *type, int n)
{
    want w = {type, n};
    cr_assert_eq(evc_loop_run_until(T.loop, have, &w, 5000), EVC_OK,
                 "waited for %d x %s, got %d", n, type, count(type));
}

static void central(const char *type, const char *key, const char *corr, const char *payload)
{
    evc_error err = {0};
    cr_assert_eq(evc_msg_publish(T.cbus, "central-events", key, type, "central", corr, payload,
                                 NULL, NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
}

static void heartbeat(void) { central("central.heartbeat", "central", NULL, "{\"seq\":1}"); }

/* A cp.authorise as Central sends it, expiring `ttl_ms` from now (Central's
 * clock is this machine's). */
static void authorise_ttl(const char *sid, int64_t ttl_ms)
{
    char p[320];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
             "\"price_cents_per_kwh\":35,\"expires_at\":%lld}",
             sid, (long long)((int64_t)evc_wall_ms() + ttl_ms));
    central("cp.authorise", "CP_001", sid, p);
}

static void authorise(const char *sid) { authorise_ttl(sid, 4000); }

/* ---- fake monitor ----------------------------------------------------------- */

/* The monitor's MACs of the M2 exchange (the same as monitor_proof_mac). */
static void fx_link_mac(const char *secret, const char *label, const uint8_t *nonce_m,
                        const char *nonce_e_hex, char out[EVC_PROOF_HEX_SIZE])
{
    static const uint8_t zero[EVC_PROOF_KEY_BYTES];
    uint8_t lk[EVC_PROOF_KEY_BYTES], mac[EVC_PROOF_KEY_BYTES];
    const char *kp[] = {"CP_001", secret};
    evc_proof_mac(zero, "evc-link-v1", kp, 2, lk);
    char nm[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_hex_encode(nonce_m, EVC_PROOF_NONCE_BYTES, nm);
    const char *parts[] = {"CP_001", nm, nonce_e_hex};
    evc_proof_mac(lk, label, parts, 3, mac);
    evc_hex_encode(mac, sizeof mac, out);
}

static void mon_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)arg;
    if (strcmp(ev->opcode, "HELLO_CHALLENGE") == 0 && ev->nfields == 3) {
        char expect[EVC_PROOF_HEX_SIZE];
        fx_link_mac(FX_SECRET, "evc-link-engine-v1", T.nonce_m, ev->fields[1].data, expect);
        cr_assert_str_eq(ev->fields[2].data, expect, "the engine proves the secret");
        fx_link_mac(FX_SECRET, "evc-link-monitor-v1", T.nonce_m, ev->fields[1].data, expect);
        evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR(expect)};
        evc_link_send(l, "HELLO_PROOF", f, 2, NULL);
    } else if (strcmp(ev->opcode, "HELLO_OK") == 0) {
        T.hello_ok = true;
    } else if (strcmp(ev->opcode, "PONG") == 0 && ev->nfields >= 2) {
        snprintf(T.pong, sizeof T.pong, "%s", ev->fields[1].data);
        T.pong_n = ev->nfields;
        for (size_t i = 0; i < 8; i++)
            snprintf(T.pong_f[i], sizeof T.pong_f[i], "%s", i < ev->nfields ? ev->fields[i].data : "");
    }
}

/* HELLO cp_id, nonce_m on `l`, with a fresh nonce kept in T.nonce_m. */
static void fx_hello(evc_link *l, const char *cp_id)
{
    char nm[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_proof_random(T.nonce_m, sizeof T.nonce_m);
    evc_hex_encode(T.nonce_m, sizeof T.nonce_m, nm);
    evc_frame_field f[] = {EVC_FRAME_STR(cp_id), EVC_FRAME_STR(nm)};
    evc_link_send(l, "HELLO", f, 2, NULL);
}

static void mon_open(evc_link *l, void *arg)
{
    (void)arg;
    T.mon_link = l;
    fx_hello(l, "CP_001");
}

static void mon_close(evc_link *l, const char *reason, void *arg)
{
    (void)l;
    (void)reason;
    (void)arg;
    T.mon_link = NULL;
}

static void mon_ping(evc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    if (T.pinging && T.mon_link) {
        evc_frame_field f[] = {EVC_FRAME_STR("7")};
        evc_link_send(T.mon_link, "PING", f, 1, NULL);
    }
}

static bool monitor_ready(void *arg)
{
    (void)arg;
    return T.hello_ok && T.e->monitor_present && T.pong[0];
}

/* ---- fixture ------------------------------------------------------------- */

static void start_engine(void (*tune)(engine_cfg *))
{
    evc_error err = {0};
    engine *e = calloc(1, sizeof *e);
    engine_cfg_defaults(&e->cfg);
    snprintf(e->cfg.listen.host, sizeof e->cfg.listen.host, "127.0.0.1");
    e->cfg.listen.port = 0;
    e->cfg.telemetry_interval_ms = 100;
    e->cfg.power_seed = 1;
    snprintf(e->cfg.cp_id, sizeof e->cfg.cp_id, "CP_001");
    snprintf(e->cfg.secret, sizeof e->cfg.secret, FX_SECRET);
    if (tune)
        tune(&e->cfg);
    engine_power_init(&e->power, e->cfg.power_w, e->cfg.power_variation_pct, 1);
    e->loop = T.loop;
    e->bus = T.bus;
    e->store = T.store;
    e->topic_cp = "cp-events";
    e->topic_central = "central-events";
    T.e = e;
    cr_assert_eq(engine_core_start(e, &err), EVC_OK, "%s", err.msg);
    evc_link_handlers h = {.on_open = mon_open, .on_frame = mon_frame, .on_close = mon_close};
    cr_assert_eq(evc_link_connect(T.loop, "127.0.0.1", evc_link_server_port(e->server), NULL, &h,
                                  NULL, &T.mon, &err),
                 EVC_OK, "%s", err.msg);
    T.pinging = true;
    cr_assert_eq(evc_loop_timer(T.loop, 0, 100, mon_ping, NULL, &T.pinger, &err), EVC_OK);
    cr_assert_eq(evc_loop_run_until(T.loop, monitor_ready, NULL, 5000), EVC_OK,
                 "the monitor's HELLO and PING are answered");
    cr_assert_str_eq(e->cp_id, "CP_001");
    wait_for("cp.hello", 1);
}

static void setup(void)
{
    memset(&T, 0, sizeof T);
    signal(SIGPIPE, SIG_IGN); /* as evc_app_main does: a peer may close mid-write */
    evc_error err = {0};
    char pdir[600];
    snprintf(pdir, sizeof pdir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = pdir};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", &search, &T.store_plugin, NULL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", &search, &T.bus_plugin, NULL,
                                 &err),
                 EVC_OK, "%s", err.msg);
    const char *tmp = getenv("TMPDIR");
    snprintf(T.dir, sizeof T.dir, "%s/evc-cpe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(T.dir));
    char db[300];
    snprintf(db, sizeof db, "%s/engine.db", T.dir);
    cr_assert_eq(evc_loop_new(&T.loop, &err), EVC_OK);
    evc_store_params sp = {.struct_size = sizeof sp, .database = db};
    cr_assert_eq(evc_store_open(T.loop, T.store_plugin, &sp, &T.store, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(evc_store_start(T.store, &err), EVC_OK, "%s", err.msg);
    evc_transport_params tp = {.struct_size = sizeof tp, .endpoint = "x", .client_id = "t",
                               .group_id = "t"};
    cr_assert_eq(evc_bus_open(T.loop, T.bus_plugin, &tp, &T.bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(T.bus, &err), EVC_OK, "%s", err.msg);
    /* The test plays Central on a bus of its own (the engine seals what
     * goes through its bus). */
    cr_assert_eq(evc_bus_open(T.loop, T.bus_plugin, &tp, &T.cbus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(T.cbus, "cp-events", on_cp_event, NULL, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(T.cbus, &err), EVC_OK, "%s", err.msg);
    char stored[EVC_PASSWORD_HASH_MAX];
    evc_proof_params kp;
    cr_assert_eq(evc_password_hash(FX_SECRET, EVC_PASSWORD_COST_MIN, stored, &err), EVC_OK);
    cr_assert_eq(evc_proof_split(stored, &kp, NULL, &err), EVC_OK);
    evc_proof_params_format(&kp, T.key_params, sizeof T.key_params);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    evc_timer_close(T.pinger);
    evc_link_client_close(T.mon);
    if (T.e)
        engine_core_stop(T.e);
    evc_bus_close(T.bus);
    evc_bus_close(T.cbus);
    engine_core_free(T.e);
    evc_store_close(T.store);
    evc_loop_free(T.loop);
    evc_plugin_unload(T.bus_plugin);
    evc_plugin_unload(T.store_plugin);
    nftw(T.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}


static int64_t outbox_pending(void)
{
    int64_t n = -1;
    cr_assert_eq(engine_outbox_pending(T.store, &n, NULL), EVC_OK);
    return n;
}

static bool outbox_empty(void *arg)
{
    (void)arg;
    return outbox_pending() == 0;
}

static void supply_until_telemetry(int ticks)
{
    authorise(SID);
    wait_for("cp.authorise_reply", 1);
    cr_assert(last("cp.authorise_reply")->accepted, "refused: %s",
              last("cp.authorise_reply")->reason);
    cr_assert_eq(T.e->phase, ENGINE_AUTHORISED);
    engine_supply_plug(T.e, true);
    wait_for("supply.started", 1);
    cr_assert_gt(last("supply.started")->started_at, 0);
    wait_for("supply.telemetry", ticks);
}

#endif
