/* supply_sx.h: the supply fixture of Central's unit tests: a Central on a
 * real loopback bus and a real SQLite store, with helpers that speak for
 * drivers and CPs and wait (with a deadline) for what Central publishes.
 * Shared by test_supply.c and test_money.c; static inline, so each test
 * file uses what it needs. */
#ifndef SUPPLY_SX_H
#define SUPPLY_SX_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_int.h"
#include "central_session.h"
#include "central_trust.h"
#include "evc/plugin.h"
#include "evc/proof.h"
#include "evc/seal.h"
#include "fixture.h"

/* The test speaks for CPs and drivers on its own bus, sealing each message
 * with the sender's key as the real programs do. */
typedef struct sx_sealer {
    char who[EVC_STORE_ID_MAX]; /* CP or driver id */
    evc_sealer *s;
} sx_sealer;

typedef struct out_msg {
    char type[48], key[64], corr[64], step[32], reason[48], sid[64];
    char params[128], server_nonce[40]; /* driver.challenge */
    int64_t cents, wh, expires_at;
    bool ok;
    char payload[4096]; /* driver.history only: its payload as JSON */
} out_msg;

typedef struct sx {
    fx_store f;
    evc_plugin *tp;
    evc_bus *bus;  /* Central's */
    evc_bus *peer; /* the test's: CPs and drivers */
    evc_timer *tick;
    central c;
    out_msg out[512];
    int nout;
    sx_sealer sealers[16];
    int nsealers;
    char dir[512]; /* of the signing key */
} sx;

static inline void cp_str(char *dst, size_t cap, const evc_envelope *e, const char *k)
{
    const char *v = evc_msg_str(e, k);
    snprintf(dst, cap, "%s", v ? v : "");
}

static inline int capture(void *arg, const evc_message *m)
{
    sx *x = arg;
    evc_envelope *e = NULL;
    cr_assert_eq(evc_envelope_decode(m->payload, m->payload_len, NULL, &e, NULL), EVC_OK);
    cr_assert_lt(x->nout, 512);
    out_msg *o = &x->out[x->nout++];
    memset(o, 0, sizeof *o);
    snprintf(o->type, sizeof o->type, "%s", e->type);
    snprintf(o->key, sizeof o->key, "%s", m->key);
    snprintf(o->corr, sizeof o->corr, "%s", e->correlation_id ? e->correlation_id : "");
    cp_str(o->step, sizeof o->step, e, "step");
    cp_str(o->reason, sizeof o->reason, e, "reason");
    cp_str(o->sid, sizeof o->sid, e, "session_id");
    cp_str(o->params, sizeof o->params, e, "params");
    cp_str(o->server_nonce, sizeof o->server_nonce, e, "server_nonce");
    evc_msg_int(e, "cents", &o->cents);
    evc_msg_int(e, "wh", &o->wh);
    evc_msg_int(e, "expires_at", &o->expires_at);
    evc_msg_bool(e, "ok", &o->ok);
    if (strcmp(e->type, "driver.history") == 0)
        snprintf(o->payload, sizeof o->payload, "%s", e->payload);
    evc_envelope_free(e);
    return EVC_OK;
}

static inline void on_tick(evc_timer *t, void *arg) { central_supply_tick(arg); }

static inline void sx_central_start(sx *x);

static inline void sx_open(sx *x)
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
    cr_assert_eq(evc_bus_open(x->f.loop, x->tp, &p, &x->peer, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(x->peer, "central-events", capture, x, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(x->peer, &err), EVC_OK, "%s", err.msg);
    sx_central_start(x);
}

/* Central's state on x->bus (open, started) and x->f: set up and started. */
static inline void sx_central_start(sx *x)
{
    evc_error err = {0};
    central *c = &x->c;
    c->loop = x->f.loop;
    c->bus = x->bus;
    c->store = x->f.store;
    c->heartbeat_timeout_ms = 60000;
    c->heartbeat_interval_ms = 1000;
    /* Long enough that no answer sent at once can miss it on a loaded
     * machine; the no-answer test shortens it for its own request. */
    c->authorise_timeout_ms = 5000;
    c->min_balance_cents = 500;
    c->password_cost = EVC_PASSWORD_COST_MIN;
    c->t_driver = "driver-events";
    c->t_cp = "cp-events";
    c->t_central = "central-events";
    c->dedup = evc_msg_dedup_new(1024);
    c->started_at = (int64_t)evc_wall_ms();
    cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
    snprintf(x->dir, sizeof x->dir, "%s/central.key", x->f.dir);
    c->signing_key_path = x->dir; /* in the store's temporary folder */
    cr_assert_eq(central_supply_start(c, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_timer(c->loop, 50, 50, on_tick, c, &x->tick, &err), EVC_OK);
}

static inline void sx_close(sx *x)
{
    evc_timer_close(x->tick);
    evc_timer_close(x->c.hb_timer);
    evc_bus_close(x->bus);
    evc_bus_close(x->peer);
    for (int i = 0; i < x->nsealers; i++)
        evc_sealer_free(x->sealers[i].s);
    central_trust_free(&x->c);
    evc_msg_dedup_free(x->c.dedup);
    central_tables_free(&x->c);
    fx_store_close(&x->f);
    evc_plugin_unload(x->tp);
}

/* The monitor of `id` says its engine is `h` now. */
static inline void heartbeat(sx *x, const char *id, central_health h)
{
    central_cp *cp = central_cp_find(&x->c, id);
    cr_assert_not_null(cp);
    cp->heard = true;
    cp->last_hb_ms = evc_loop_now_ms(x->c.loop);
    cp->health = h;
    central_cp_refresh(&x->c, cp, "test heartbeat");
}

static inline evc_sealer *sealer_of(sx *x, const char *who)
{
    for (int i = 0; i < x->nsealers; i++)
        if (strcmp(x->sealers[i].who, who) == 0)
            return x->sealers[i].s;
    return NULL;
}

static inline void add_sealer(sx *x, const char *who, const char *kid, const uint8_t key[32])
{
    evc_sealer *s = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, key, &s, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < x->nsealers; i++) {
        if (strcmp(x->sealers[i].who, who) == 0) {
            evc_sealer_free(x->sealers[i].s);
            x->sealers[i].s = s;
            return;
        }
    }
    cr_assert_lt(x->nsealers, 16);
    snprintf(x->sealers[x->nsealers].who, sizeof x->sealers[0].who, "%s", who);
    x->sealers[x->nsealers++].s = s;
}

/* The key an engine derives from its secret; the test reads the stored
 * hash instead (the same proof key, evc/proof.h). */
static inline evc_sealer *cp_sealer(sx *x, const char *cp)
{
    evc_sealer *s = sealer_of(x, cp);
    if (s)
        return s;
    evc_charging_point row;
    uint8_t k[32], bus_key[32];
    if (evc_store_cp_get(x->f.store, cp, &row, NULL) != EVC_OK ||
        evc_proof_split(row.secret_hash, NULL, k, NULL) != EVC_OK)
        memset(k, 7, sizeof k); /* an unknown CP: any key, Central has none */
    const char *parts[] = {cp};
    evc_proof_mac(k, "evc-bus-cp-v1", parts, 1, bus_key);
    add_sealer(x, cp, cp, bus_key);
    return sealer_of(x, cp);
}

/* Publishes on the test's bus as `key` (a CP on cp-events, a driver on
 * driver-events): sealed with its key when it has one, else unsealed. */
static inline void send_as(sx *x, const char *topic, const char *key, const char *type,
                           const char *corr, const char *payload, evc_sealer *s)
{
    evc_error err = {0};
    evc_envelope env = {.type = type, .correlation_id = corr, .source = key, .payload = payload};
    char id[EVC_UUID_STR_SIZE], *bytes = NULL, *sealed = NULL;
    size_t len = 0, slen = 0;
    cr_assert_eq(evc_envelope_stamp(&env, id, &err), EVC_OK);
    cr_assert_eq(evc_envelope_encode(&env, &bytes, &len, &err), EVC_OK, "%s", err.msg);
    if (s)
        cr_assert_eq(evc_seal(s, topic, bytes, len, (int64_t)evc_wall_ms(), &sealed, &slen, &err),
                     EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_publish(x->peer, topic, key, sealed ? sealed : bytes,
                                 sealed ? slen : len, NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
    free(bytes);
    free(sealed);
}

static inline void send(sx *x, const char *topic, const char *key, const char *type,
                        const char *corr, const char *payload)
{
    bool cp = strcmp(topic, "cp-events") == 0;
    send_as(x, topic, key, type, corr, payload, cp ? cp_sealer(x, key) : sealer_of(x, key));
}

typedef struct want {
    sx *x;
    const char *type, *step;
    int from;
    int found;
    const char *corr; /* NULL: any correlation id */
} want;

static inline bool has(void *arg)
{
    want *w = arg;
    for (int i = w->from; i < w->x->nout; i++)
        if (strcmp(w->x->out[i].type, w->type) == 0 &&
            (!w->step || strcmp(w->x->out[i].step, w->step) == 0) &&
            (!w->corr || strcmp(w->x->out[i].corr, w->corr) == 0)) {
            w->found = i;
            return true;
        }
    return false;
}

/* Waits (5 s deadline) for a message of `type` (and step) published after
 * index `from`; returns it. */
static inline out_msg *await(sx *x, int from, const char *type, const char *step)
{
    want w = {x, type, step, from, -1, NULL};
    cr_assert_eq(evc_loop_run_until(x->f.loop, has, &w, 5000), EVC_OK, "no %s %s", type,
                 step ? step : "");
    return &x->out[w.found];
}

/* As await, for the supply `corr` only: other supplies' updates (another
 * deadline expiring meanwhile) do not answer for this one. */
static inline out_msg *await_corr(sx *x, int from, const char *type, const char *step, const char *corr)
{
    want w = {x, type, step, from, -1, corr};
    cr_assert_eq(evc_loop_run_until(x->f.loop, has, &w, 5000), EVC_OK, "no %s %s for %s", type,
                 step ? step : "", corr);
    return &x->out[w.found];
}

static inline int count(sx *x, int from, const char *type)
{
    int n = 0;
    for (int i = from; i < x->nout; i++)
        n += strcmp(x->out[i].type, type) == 0;
    return n;
}

static inline void settle(sx *x)
{
    /* Lets every message in flight arrive: a round trip behind them. */
    int from = x->nout;
    send_as(x, "cp-events", "probe", "cp.key_request", NULL, "{\"cp_id\":\"probe\"}", NULL);
    await(x, from, "cp.key_params", NULL);
}

/* A driver app's login (central_trust.h): hello, challenge, proof, reply;
 * on success the driver's messages are sealed with the session key. */
static inline void hello(sx *x, const char *driver, const char *password, bool ok)
{
    int from = x->nout;
    uint8_t nb[EVC_PROOF_NONCE_BYTES];
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1], p[400];
    evc_proof_random(nb, sizeof nb);
    evc_hex_encode(nb, sizeof nb, nonce);
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"nonce\":\"%s\"}", driver, nonce);
    char corr[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    send_as(x, "driver-events", driver, "driver.hello", corr, p, NULL);
    out_msg *ch = await(x, from, "driver.challenge", NULL);
    cr_assert_str_eq(ch->corr, corr);
    evc_proof_params params;
    cr_assert_eq(evc_proof_params_parse(ch->params, &params, NULL), EVC_OK, "%s", ch->params);
    uint8_t key[32], proof[32], session[32];
    cr_assert_eq(evc_proof_derive(password, &params, key, NULL), EVC_OK);
    const char *parts[] = {driver, nonce, ch->server_nonce};
    evc_proof_mac(key, "evc-driver-login-v1", parts, 3, proof);
    evc_proof_mac(key, "evc-driver-session-v1", parts, 3, session);
    char hex[EVC_PROOF_HEX_SIZE];
    evc_hex_encode(proof, sizeof proof, hex);
    snprintf(p, sizeof p,
             "{\"driver_id\":\"%s\",\"nonce\":\"%s\",\"server_nonce\":\"%s\","
             "\"proof\":\"%s\"}",
             driver, nonce, ch->server_nonce, hex);
    from = x->nout;
    send_as(x, "driver-events", driver, "driver.login", corr, p, NULL);
    out_msg *o = await(x, from, "driver.auth_reply", NULL);
    cr_assert_eq(o->ok, ok, "login %s", driver);
    cr_assert_str_eq(o->key, driver);
    /* Echoed: another app of the same driver must not take it as its own. */
    cr_assert_str_eq(o->corr, corr, "the reply does not carry the hello's correlation id");
    if (ok) {
        char kid[EVC_SEAL_KID_MAX + 32];
        snprintf(kid, sizeof kid, "%s/%.16s", driver, nonce);
        add_sealer(x, driver, kid, session);
    }
}

/* Requests a supply and returns the step it ended at (denied reason or
 * "authorising"). */
static inline const char *request(sx *x, const char *driver, const char *cp, char corr[EVC_UUID_STR_SIZE])
{
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    int from = x->nout;
    char p[200];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"cp_id\":\"%s\"}", driver, cp);
    send(x, "driver-events", driver, "supply.request", corr, p);
    await(x, from, "supply.update", "checking");
    want d = {x, "supply.update", "denied", from, -1, corr},
         a = {x, "cp.authorise", NULL, from, -1, corr};
    for (int i = 0; i < 500 && !has(&d) && !has(&a); i++)
        evc_loop_run_until(x->f.loop, has, &a, 10);
    /* cp.authorise first: a denial after it (a short deadline on a slow
     * machine) is the next step, not the answer to the checks. */
    if (!has(&a)) {
        cr_assert(has(&d), "neither denied nor cp.authorise");
        return x->out[d.found].reason;
    }
    cr_assert_str_eq(x->out[a.found].key, cp);
    cr_assert_str_eq(x->out[a.found].sid, corr);
    return "authorising";
}

static inline void cp_says(sx *x, const char *cp, const char *type, const char *corr, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));
static inline void cp_says(sx *x, const char *cp, const char *type, const char *corr, const char *fmt,
                    ...)
{
    char p[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    send(x, "cp-events", cp, type, corr, p);
}

static inline int64_t balance(sx *x, const char *driver)
{
    evc_user u;
    cr_assert_eq(evc_store_user_get(x->f.store, driver, &u, NULL), EVC_OK);
    return u.balance_cents;
}

#endif
