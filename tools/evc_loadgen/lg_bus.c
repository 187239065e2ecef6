/* lg_bus.c: the simulated engines and drivers on the bus (docs/PROTOCOL.md
 * M3). One evc_bus for the whole process; every engine and driver session
 * seals with its own sealer (evc_seal), so Central sees N proven senders.
 * Central's messages are read without checking its signature: a generator
 * trusts its Central, and Ed25519 checks of 20,000 messages a second would
 * be the generator's whole CPU. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "evc/envelope.h"
#include "evc/log.h"
#include "evc/msg.h"
#include "lg.h"

#define KEY_RETRY_MS 2000
/* Central takes unsealed messages (key requests, logins) at 200/s, burst
 * 400, in all (PROTOCOL.md, the seal): above that it refuses them, and
 * refused retries are load of their own. The generator's engines ask below
 * that rate, as a fleet starting over minutes would. */
#define KEY_RATE_PER_S 150.0
#define KEY_BURST 150.0
#define DRIVER_RETRY_MS 3000

/* Envelopes are written by hand: every string here is an id, a UUID or a
 * number we made (no escaping needed), and evc_envelope_encode would parse
 * and re-serialise each payload (twice the generator's cost at 20,000/s). */
int lg_publish(lg *g, const char *topic, const char *key, evc_sealer *s, const char *type,
               const char *source, const char *corr, const char *payload)
{
    char id[EVC_UUID_STR_SIZE], env[1024], cbuf[48];
    evc_error err = {0};
    if (evc_uuid_generate(id, &err) != EVC_OK)
        return EVC_EIO;
    if (corr)
        snprintf(cbuf, sizeof cbuf, "\"%s\"", corr);
    int n = snprintf(env, sizeof env,
                     "{\"type\":\"%s\",\"id\":\"%s\",\"correlation_id\":%s,\"ts\":%" PRIu64
                     ",\"source\":\"%s\",\"payload\":%s}",
                     type, id, corr ? cbuf : "null", evc_wall_ms(), source, payload);
    if (n < 0 || (size_t)n >= sizeof env)
        return EVC_EINVAL;
    char *sealed = NULL;
    size_t slen = (size_t)n;
    if (s && evc_seal(s, topic, env, (size_t)n, (int64_t)evc_wall_ms(), &sealed, &slen, &err) !=
                 EVC_OK) {
        g->c.publish_fail++;
        return err.code;
    }
    int rc = evc_bus_publish(g->bus, topic, key, sealed ? sealed : env, slen, NULL, NULL, &err);
    free(sealed);
    if (rc != EVC_OK)
        g->c.publish_fail++;
    else if (g->phase_no == 2)
        g->msgs_to_central++;
    return rc;
}

/* ---- engines -------------------------------------------------------------- */

static void engine_publish(lg_cp *cp, const char *type, const char *corr, const char *payload)
{
    lg_publish(cp->lg, cp->lg->t_cp, cp->id, cp->sealer, type, cp->id, corr, payload);
}

static void key_request(lg_cp *cp, uint64_t now_ms)
{
    char p[128];
    snprintf(p, sizeof p, "{\"cp_id\":\"%s\"}", cp->id);
    cp->key_req_ms = now_ms;
    /* Unsealed, as the engine's: Central answers with the params. */
    lg_publish(cp->lg, cp->lg->t_cp, cp->id, NULL, "cp.key_request", cp->id, NULL, p);
}

static void send_hello(lg_cp *cp)
{
    char p[256];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"busy_session_id\":null,\"health\":\"OK\","
             "\"admin_state\":\"IN_SERVICE\"}",
             cp->id);
    engine_publish(cp, "cp.hello", NULL, p);
    cp->hello_sent = true;
    cp->lg->c.hello++;
}

void lg_engine_on_accepted(lg_cp *cp)
{
    lg_engine_tick(cp, evc_loop_now_ms(cp->lg->loop)); /* asks for the key when allowed */
}

static void send_menu_request(lg_cp *cp, uint64_t now_ms)
{
    char p[160];
    snprintf(p, sizeof p, "{\"cp_id\":\"%s\",\"driver_id\":\"%s\"}", cp->id, cp->driver);
    cp->sup = LG_SUP_REQUESTED;
    cp->request_ms = now_ms;
    cp->request_us = lg_now_us();
    cp->lg->c.menu_requests++;
    engine_publish(cp, "supply.request", NULL, p);
}

static void send_telemetry(lg_cp *cp)
{
    lg *g = cp->lg;
    /* 7400 W for one second: 2.06 Wh; whole Wh, strictly increasing so that
     * the relay is matched to its send by Wh. */
    cp->wh += 2;
    int64_t cents = (cp->wh * 35 + 500) / 1000;
    char p[320];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"driver_id\":\"%s\",\"w\":%d,\"wh\":%" PRId64
             ",\"cents\":%" PRId64 "}",
             cp->id, cp->session, cp->driver, LG_POWER_W, cp->wh, cents);
    unsigned slot = cp->tele_next++ % LG_TELE_RING;
    if (cp->tele_us[slot])
        g->c.tele_lost++; /* LG_TELE_RING seconds without its relay: lost */
    cp->tele_us[slot] = lg_now_us();
    cp->tele_wh[slot] = cp->wh;
    g->c.tele_sent++;
    engine_publish(cp, "supply.telemetry", cp->session, p);
}

void lg_engine_tick(lg_cp *cp, uint64_t now_ms)
{
    lg *g = cp->lg;
    if (cp->mon != LG_MON_OK)
        return;
    if (!cp->keyed) {
        if (g->key_refill_ms != now_ms) {
            g->key_tokens += (double)(now_ms - g->key_refill_ms) * KEY_RATE_PER_S / 1000.0;
            if (g->key_tokens > KEY_BURST)
                g->key_tokens = KEY_BURST;
            g->key_refill_ms = now_ms;
        }
        if ((!cp->key_req_ms || now_ms - cp->key_req_ms >= KEY_RETRY_MS) && g->key_tokens >= 1) {
            g->key_tokens -= 1;
            key_request(cp, now_ms);
        }
        return;
    }
    /* Supplies start once the CP has been ACTIVATED a while (a few HBs) and
     * only in the ramp and warm-up: the steady phase measures a steady load. */
    if (cp->wants_supply && cp->sup == LG_SUP_NONE && g->phase_no <= 1 &&
        now_ms - cp->ok_ms >= 2000)
        send_menu_request(cp, now_ms);
    else if (cp->wants_supply && cp->sup == LG_SUP_REQUESTED && now_ms - cp->request_ms > 10000)
        cp->sup = LG_SUP_NONE; /* denied or lost: ask again */
    if (cp->sup == LG_SUP_SUPPLYING)
        send_telemetry(cp);
}

static void on_authorise(lg *g, lg_cp *cp, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id");
    const char *driver = evc_msg_str(env, "driver_id");
    if (!sid || !driver || !evc_uuid_valid(sid))
        return;
    uint64_t rx_us = lg_now_us();
    g->c.authorise_recv++;
    if (!cp->is_loop_cp && cp->sup == LG_SUP_REQUESTED && g->phase_no >= 1)
        lg_samples_add(&g->menu_auth, lg_now_us() - cp->request_us);
    snprintf(cp->session, sizeof cp->session, "%s", sid);
    if (cp->is_loop_cp)
        snprintf(cp->driver, sizeof cp->driver, "%s", driver);
    char p[256];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"accepted\":true,\"reason\":null}", cp->id,
             sid);
    engine_publish(cp, "cp.authorise_reply", sid, p);
    cp->sup = LG_SUP_AUTHORISED;
    if (cp->is_loop_cp) {
        cp->auth_rx_us = rx_us;
        cp->reply_tx_us = lg_now_us();
        return; /* the looping driver stops it (supply.stop -> cp.cancel) */
    }
    /* Plugged at once: supply.started, then telemetry every tick. */
    cp->started_at = (int64_t)evc_wall_ms();
    cp->wh = 0;
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"driver_id\":\"%s\",\"started_at\":%" PRId64
             "}",
             cp->id, sid, cp->driver, cp->started_at);
    engine_publish(cp, "supply.started", sid, p);
    cp->sup = LG_SUP_SUPPLYING;
    g->c.supplies_started++;
}

static void on_cancel(lg *g, lg_cp *cp, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id");
    const char *reason = evc_msg_str(env, "reason");
    if (!sid || strcmp(sid, cp->session) != 0 || cp->sup == LG_SUP_NONE)
        return;
    int64_t now = (int64_t)evc_wall_ms();
    char p[400];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"%s\",\"session_id\":\"%s\",\"driver_id\":\"%s\",\"wh\":0,"
             "\"started_at\":0,\"ended_at\":%" PRId64 ",\"reason\":\"%s\"}",
             cp->id, sid, cp->driver, now,
             reason && strcmp(reason, "driver_stop") == 0 ? "driver_stop" : "cancelled");
    engine_publish(cp, "supply.ended", sid, p);
    cp->sup = LG_SUP_NONE;
}

static void on_cp_message(lg *g, lg_cp *cp, const evc_envelope *env)
{
    if (strcmp(env->type, "cp.key_params") == 0) {
        /* The bus key is HMAC("evc-bus-cp-v1", id) under K, known already. */
        if (!cp->keyed) {
            cp->keyed = true;
            g->c.keyed++;
            send_hello(cp);
        }
    } else if (strcmp(env->type, "cp.authorise") == 0) {
        on_authorise(g, cp, env);
    } else if (strcmp(env->type, "cp.cancel") == 0) {
        on_cancel(g, cp, env);
    }
}

/* ---- drivers ---------------------------------------------------------------- */

static lg_driver *driver_of(lg *g, const char *id)
{
    if (strncmp(id, "lgm", 3) != 0)
        return NULL;
    char *end = NULL;
    unsigned long i = strtoul(id + 3, &end, 10);
    if (*end || i < 1 || i > g->ndrivers)
        return NULL;
    return &g->drivers[i - 1];
}

static void driver_hello(lg *g, lg_driver *d, uint64_t now_ms)
{
    uint8_t nonce[EVC_PROOF_NONCE_BYTES];
    evc_proof_random(nonce, sizeof nonce);
    evc_hex_encode(nonce, sizeof nonce, d->nonce);
    evc_uuid_generate(d->hello_corr, NULL);
    char p[160];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"nonce\":\"%s\"}", d->id, d->nonce);
    d->st = LG_DRV_HELLO;
    d->state_ms = now_ms;
    lg_publish(g, g->t_drv, d->id, NULL, "driver.hello", d->id, d->hello_corr, p);
}

static void driver_request(lg *g, lg_driver *d, uint64_t now_ms)
{
    evc_uuid_generate(d->corr, NULL);
    char p[200];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"cp_id\":\"%s\",\"session_id\":\"%s\"}", d->id,
             d->cp, d->corr);
    d->st = LG_DRV_WAIT_AUTH;
    d->state_ms = now_ms;
    d->req_us = lg_now_us();
    d->requests++;
    g->c.drv_requests++;
    lg_publish(g, g->t_drv, d->id, d->sealer, "supply.request", d->id, d->corr, p);
}

static void driver_stop(lg *g, lg_driver *d)
{
    char p[200];
    snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"session_id\":\"%s\",\"cp_id\":\"%s\"}", d->id,
             d->corr, d->cp);
    lg_publish(g, g->t_drv, d->id, d->sealer, "supply.stop", d->id, d->corr, p);
}

void lg_driver_tick(lg *g, lg_driver *d, uint64_t now_ms)
{
    switch (d->st) {
    case LG_DRV_HELLO:
    case LG_DRV_LOGIN:
        if (!d->state_ms || now_ms - d->state_ms > DRIVER_RETRY_MS)
            driver_hello(g, d, now_ms);
        break;
    case LG_DRV_READY:
        /* Not before Central ACKed its CP's heartbeat: the request would
         * race the CP's first HB and be denied cp_disconnected (the looping
         * drivers' CPs connect last in the ramp). */
        if (now_ms >= d->next_ms && g->phase_no >= 1 && g->phase_no <= 2 &&
            g->cps[g->ncps + (size_t)(d - g->drivers)].hb_acked)
            driver_request(g, d, now_ms);
        break;
    case LG_DRV_WAIT_AUTH:
    case LG_DRV_WAIT_TICKET:
        if (now_ms - d->state_ms > 15000) { /* lost somewhere: start over */
            d->st = LG_DRV_READY;
            d->next_ms = now_ms;
        }
        break;
    }
}

static void on_challenge(lg *g, lg_driver *d, const evc_envelope *env)
{
    const char *sn = evc_msg_str(env, "server_nonce"), *params = evc_msg_str(env, "params");
    if (d->st != LG_DRV_HELLO || !env->correlation_id || strcmp(env->correlation_id, d->hello_corr) ||
        !sn || !params)
        return;
    evc_proof_params pp;
    uint8_t k[EVC_PROOF_KEY_BYTES], proof[EVC_PROOF_KEY_BYTES], session[EVC_PROOF_KEY_BYTES];
    evc_error err = {0};
    /* argon2id at the provisioned `min` cost (about 0.1 ms), once per
     * looping driver at start: small enough for the loop. */
    if (evc_proof_params_parse(params, &pp, &err) != EVC_OK ||
        evc_proof_derive(d->password, &pp, k, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "loadgen", NULL, "driver %s: %s", d->id, err.msg);
        return;
    }
    const char *parts[] = {d->id, d->nonce, sn};
    evc_proof_mac(k, "evc-driver-login-v1", parts, 3, proof);
    evc_proof_mac(k, "evc-driver-session-v1", parts, 3, session);
    char hex[EVC_PROOF_HEX_SIZE], kid[EVC_SEAL_KID_MAX];
    evc_hex_encode(proof, sizeof proof, hex);
    snprintf(kid, sizeof kid, "%s/%.16s", d->id, d->nonce);
    evc_sealer_free(d->sealer);
    d->sealer = NULL;
    if (evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, session, &d->sealer, &err) != EVC_OK)
        return;
    char p[400];
    snprintf(p, sizeof p,
             "{\"driver_id\":\"%s\",\"nonce\":\"%s\",\"server_nonce\":\"%s\",\"proof\":\"%s\"}",
             d->id, d->nonce, sn, hex);
    d->st = LG_DRV_LOGIN;
    lg_publish(g, g->t_drv, d->id, NULL, "driver.login", d->id, d->hello_corr, p);
}

/* The whole request -> authorised, and its legs when its CP's engine saw
 * this request's cp.authorise (the engine's stamps fall inside it). */
static void add_legs(lg *g, lg_driver *d, uint64_t now_us)
{
    lg_samples_add(&g->drv_auth, now_us - d->req_us);
    const lg_cp *cp = &g->cps[g->ncps + (size_t)(d - g->drivers)];
    if (cp->auth_rx_us < d->req_us || cp->reply_tx_us < cp->auth_rx_us || cp->reply_tx_us > now_us)
        return;
    lg_samples_add(&g->leg_to_engine, cp->auth_rx_us - d->req_us);
    lg_samples_add(&g->leg_engine, cp->reply_tx_us - cp->auth_rx_us);
    lg_samples_add(&g->leg_to_driver, now_us - cp->reply_tx_us);
}

static void on_driver_message(lg *g, lg_driver *d, const evc_envelope *env)
{
    uint64_t now = evc_loop_now_ms(g->loop);
    if (strcmp(env->type, "driver.challenge") == 0) {
        on_challenge(g, d, env);
    } else if (strcmp(env->type, "driver.auth_reply") == 0) {
        bool ok = false;
        if (d->st == LG_DRV_LOGIN && env->correlation_id &&
            strcmp(env->correlation_id, d->hello_corr) == 0 &&
            evc_msg_bool(env, "ok", &ok) == 0 && ok) {
            d->st = LG_DRV_READY;
            d->next_ms = now;
        }
    } else if (strcmp(env->type, "supply.update") == 0) {
        const char *step = evc_msg_str(env, "step"), *sid = evc_msg_str(env, "session_id");
        if (!step || !sid || strcmp(sid, d->corr) != 0)
            return;
        if (strcmp(step, "authorised") == 0 && d->st == LG_DRV_WAIT_AUTH) {
            if (g->phase_no == 2)
                add_legs(g, d, lg_now_us());
            d->authorised++;
            g->c.drv_authorised++;
            d->st = LG_DRV_WAIT_TICKET;
            d->state_ms = now;
            driver_stop(g, d);
        } else if (strcmp(step, "denied") == 0 && d->st == LG_DRV_WAIT_AUTH) {
            const char *why = evc_msg_str(env, "reason");
            snprintf(g->last_denial, sizeof g->last_denial, "%s", why ? why : "?");
            d->denied++;
            g->c.drv_denied++;
            d->st = LG_DRV_READY;
            d->next_ms = now + 1000;
        }
    } else if (strcmp(env->type, "supply.ticket") == 0) {
        const char *sid = evc_msg_str(env, "session_id");
        if (!sid)
            return;
        char p[200];
        snprintf(p, sizeof p, "{\"driver_id\":\"%s\",\"session_id\":\"%s\",\"cp_id\":\"%s\"}",
                 d->id, sid, d->cp);
        lg_publish(g, g->t_drv, d->id, d->sealer, "supply.ticket_ack", d->id, sid, p);
        if (strcmp(sid, d->corr) == 0 && d->st == LG_DRV_WAIT_TICKET) {
            d->tickets++;
            g->c.drv_tickets++;
            d->st = LG_DRV_READY;
            d->next_ms = now + g->driver_pause_ms;
        }
    }
}

/* ---- central-events ---------------------------------------------------------- */

static void on_relayed_telemetry(lg *g, const evc_envelope *env)
{
    const char *cp_id = evc_msg_str(env, "cp_id");
    int64_t wh = -1;
    long i = cp_id ? lg_cp_index(g, cp_id) : -1;
    if (i < 0 || evc_msg_int(env, "wh", &wh) != 0)
        return;
    lg_cp *cp = &g->cps[i];
    for (unsigned k = 0; k < LG_TELE_RING; k++) {
        if (cp->tele_us[k] && cp->tele_wh[k] == wh) {
            if (g->phase_no == 2)
                lg_samples_add(&g->tele_state, lg_now_us() - cp->tele_us[k]);
            cp->tele_us[k] = 0;
            g->c.tele_relayed++;
            return;
        }
    }
}

static int on_central(void *arg, const evc_message *m)
{
    lg *g = arg;
    g->c.bus_in++;
    /* Central's heartbeat concerns nobody here: skipped before parsing. */
    if (m->payload_len > 32 && memcmp(m->payload, "{\"type\":\"central.heartbeat\"", 27) == 0) {
        lg_restart_on_central_heartbeat(g, m); /* --restart: its started_at */
        return EVC_OK;
    }
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK) {
        g->c.bus_bad++;
        return EVC_OK;
    }
    if (strcmp(env->type, "supply.telemetry") == 0) {
        on_relayed_telemetry(g, env);
    } else if (strncmp(m->key, "LG", 2) == 0) {
        long i = lg_cp_index(g, m->key);
        if (i >= 0)
            on_cp_message(g, &g->cps[i], env);
    } else if (strncmp(m->key, "lgm", 3) == 0) {
        lg_driver *d = driver_of(g, m->key);
        if (d)
            on_driver_message(g, d, env);
    } else if (strcmp(env->type, "supply.update") == 0) {
        const char *step = evc_msg_str(env, "step");
        if (step && strcmp(step, "interrupted") == 0)
            g->c.interrupted++;
        else if (step && strcmp(step, "denied") == 0) {
            const char *why = evc_msg_str(env, "reason");
            snprintf(g->last_denial, sizeof g->last_denial, "%s", why ? why : "?");
            g->c.supply_denied++;
        }
    }
    evc_envelope_free(env);
    return EVC_OK;
}

int lg_bus_start(lg *g, evc_error *err)
{
    g->bus = evc_app_bus(g->app);
    g->t_cp = evc_app_topic(g->app, EVC_TOPIC_CP_EVENTS);
    g->t_drv = evc_app_topic(g->app, EVC_TOPIC_DRIVER_EVENTS);
    g->t_central = evc_app_topic(g->app, EVC_TOPIC_CENTRAL_EVENTS);
    return evc_bus_subscribe(g->bus, g->t_central, on_central, g, err);
}
