/* engine_bus.c: the engine on the bus (docs/PROTOCOL.md section M3).
 * In: central-events keyed with this CP's id or `central`. Out: cp-events
 * keyed with this CP's id. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "evc/log.h"

int engine_publish(engine *e, const char *type, const char *corr, const char *payload)
{
    evc_error err = {0};
    if (!e->keyed) {
        /* Central would refuse it unsealed; what matters waits in the
         * journal's outbox until the key is there. */
        evc_log(EVC_LOG_DEBUG, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "%s not sent: no bus key yet", type);
        return EVC_EAGAIN;
    }
    int rc = evc_msg_publish(e->bus, e->topic_cp, e->cp_id, type, e->cp_id, corr, payload, NULL,
                             NULL, NULL, &err);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id, .correlation = corr},
                "publish %s on %s: %s", type, e->topic_cp, err.msg);
    return rc;
}

/* Publishes a payload built by the caller (consumed here). */
static void publish_built(engine *e, const char *type, const char *corr, evc_payload *p)
{
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    if (!text) {
        evc_log(EVC_LOG_ERROR, "cp_engine", NULL, "%s: %s", type, err.msg);
        return;
    }
    engine_publish(e, type, corr, text);
    free(text);
}

static void add_state(engine *e, evc_payload *p)
{
    evc_payload_str(p, "cp_id", e->cp_id);
    evc_payload_str(p, "busy_session_id", e->phase != ENGINE_IDLE ? e->j.session_id : NULL);
    evc_payload_str(p, "health", e->ko ? "KO" : "OK");
    evc_payload_str(p, "admin_state", e->stopped ? "STOPPED" : "IN_SERVICE");
}

void engine_send_hello(engine *e)
{
    if (!e->keyed) {
        engine_keys_request(e); /* the hello follows the key */
        return;
    }
    if (!e->cp_id[0])
        return;
    /* The outbox goes first. Everything is keyed by the CP id, so Central
     * reads it in this order: a supply that ended while Central was away is
     * billed before the hello reports the engine idle, which would otherwise
     * deny the session Central still holds as authorised (PROTOCOL.md M6). */
    engine_outbox_kick(e, true);
    evc_payload *p = evc_payload_new();
    add_state(e, p);
    publish_built(e, "cp.hello", NULL, p);
}

void engine_send_status(engine *e)
{
    if (!e->cp_id[0])
        return;
    evc_payload *p = evc_payload_new();
    add_state(e, p);
    publish_built(e, "cp.status", NULL, p);
}

void engine_send_request(engine *e, const char *driver_id)
{
    engine_gate g = engine_gate_now(e);
    const char *why = engine_request_refusal(&g);
    if (why) {
        engine_say(e, ENGINE_YELLOW, "Request refused: %s", engine_refusal_text(why));
        return;
    }
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", e->cp_id);
    evc_payload_str(p, "driver_id", driver_id);
    publish_built(e, "supply.request", NULL, p);
    evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id, .driver = driver_id},
            "supply requested at the menu");
    engine_say(e, NULL, "Request sent: driver %s at %s", driver_id, e->cp_id);
}

static int send_outboxed(void *arg, const char *topic, const char *key, const evc_envelope *env)
{
    engine *e = arg;
    evc_error err = {0};
    if (!e->keyed)
        return EVC_EAGAIN; /* stays in the outbox */
    int rc = evc_msg_publish(e->bus, topic, key, env->type, env->source, env->correlation_id,
                             env->payload, NULL, NULL, NULL, &err);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine",
                &(evc_log_ids){.cp = key, .correlation = env->correlation_id},
                "re-send %s: %s", env->type, err.msg);
    else
        evc_log(EVC_LOG_DEBUG, "cp_engine",
                &(evc_log_ids){.cp = key, .correlation = env->correlation_id}, "sent %s",
                env->type);
    return rc;
}

void engine_outbox_kick(engine *e, bool all)
{
    evc_error err = {0};
    unsigned sent = 0;
    if (engine_outbox_flush(e->store, (int64_t)evc_wall_ms(), e->cfg.outbox_retry_ms, all,
                            send_outboxed, e, &sent, &err) != EVC_OK)
        evc_log(EVC_LOG_ERROR, "cp_engine", &(evc_log_ids){.cp = e->cp_id}, "outbox: %s",
                err.msg);
}

static void central_seen(engine *e)
{
    e->last_central_ms = evc_loop_now_ms(e->loop);
    if (e->central_alive)
        return;
    e->central_alive = true;
    evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id}, "CENTRAL reachable");
    if (e->central_down_shown)
        engine_say(e, ENGINE_GREEN, "CENTRAL is back");
    e->central_down_shown = false;
    engine_send_hello(e);
}

void engine_bus_check(engine *e, uint64_t now)
{
    uint64_t limit = (uint64_t)e->cfg.central_timeout_ms;
    if (e->central_alive && now - e->last_central_ms >= limit) {
        e->central_alive = false;
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "no central.heartbeat for %" PRIu64 " ms", limit);
    }
    /* Central's silence counts from when the bus delivers (a Kafka group
     * join takes seconds); a bus that never does is given four timeouts. */
    if (!e->bus_live_ms && evc_bus_live(e->bus))
        e->bus_live_ms = now;
    uint64_t since = e->bus_live_ms ? e->bus_live_ms : e->started_ms;
    uint64_t wait = e->bus_live_ms ? limit : 4 * limit;
    if (!e->central_alive && !e->central_down_shown && now - since >= wait) {
        e->central_down_shown = true;
        engine_say(e, ENGINE_RED, "Unable to connect to CENTRAL");
    }
}

static void on_command(engine *e, const evc_envelope *env)
{
    const char *cmd = evc_msg_str(env, "command");
    if (cmd && strcmp(cmd, "reset") == 0) {
        const char *type = evc_msg_str(env, "type");
        engine_supply_reset(e, type && strcmp(type, "Hard") == 0 ? "Hard" : "Soft");
        return;
    }
    if (!cmd || (strcmp(cmd, "stop") != 0 && strcmp(cmd, "resume") != 0)) {
        e->dropped++;
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "cp.command without a known command: dropped");
        return;
    }
    engine_supply_command(e, cmd);
}

static int on_central_event(void *arg, const evc_message *m)
{
    engine *e = arg;
    if (e->stopping)
        return EVC_OK;
    if (!e->keyed && strcmp(m->key, e->cfg.cp_id) == 0 && m->payload_len > 0) {
        evc_envelope *kp = NULL;
        evc_error kerr = {0};
        if (evc_envelope_decode(m->payload, m->payload_len, NULL, &kp, &kerr) == EVC_OK &&
            strcmp(kp->type, "cp.key_params") == 0) {
            const char *cp = evc_msg_str(kp, "cp_id");
            if (cp && strcmp(cp, e->cfg.cp_id) == 0)
                engine_keys_on_params(e, kp);
        }
        evc_envelope_free(kp);
    }
    /* Only our own messages and Central's broadcast (F11). */
    if (strcmp(m->key, "central") != 0 && (!e->cp_id[0] || strcmp(m->key, e->cp_id) != 0))
        return EVC_OK;
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK) {
        e->dropped++;
        evc_log(EVC_LOG_WARN, "cp_engine", NULL, "malformed message on %s (key %s): %s", m->topic,
                m->key, err.msg);
        return EVC_OK;
    }
    if (!evc_msg_dedup_first(e->dedup, env->id)) {
        evc_envelope_free(env);
        return EVC_OK;
    }
    central_seen(e);
    if (!e->keyed && strcmp(env->type, "central.heartbeat") != 0) {
        /* Without a key no answer could reach Central: acting on an
         * authorisation now would supply energy nobody can bill. Central's
         * own deadline answers the driver. */
        engine_keys_request(e);
        evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "%s ignored: no bus key yet", env->type);
        evc_envelope_free(env);
        return EVC_OK;
    }
    if (!e->keyed)
        engine_keys_request(e);
    const char *cp = evc_msg_str(env, "cp_id");
    bool mine = cp && strcmp(cp, e->cp_id) == 0;
    if (strcmp(env->type, "central.heartbeat") == 0) {
        /* A Central restarted faster than central_timeout_ms is noticed by
         * its new started_at: it gets our hello and outbox like after an
         * outage. */
        int64_t started = 0;
        if (evc_msg_int(env, "started_at", &started) == 0) {
            if (e->central_started_at && started != e->central_started_at) {
                evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                        "CENTRAL restarted");
                engine_send_hello(e);
            }
            e->central_started_at = started;
        }
    } else if (strcmp(env->type, "cp.authorise") == 0 && mine) {
        engine_supply_authorise(e, env);
    } else if (strcmp(env->type, "cp.command") == 0 && mine) {
        on_command(e, env);
    } else if (strcmp(env->type, "cp.cancel") == 0 && mine) {
        const char *sid = evc_msg_str(env, "session_id"), *why = evc_msg_str(env, "reason");
        if (sid && evc_uuid_valid(sid))
            engine_supply_cancel(e, sid, why && evc_id_valid(why) ? why : "not_authorised");
    } else if (strcmp(env->type, "supply.end_ack") == 0 && mine) {
        const char *sid = evc_msg_str(env, "session_id");
        if (sid)
            engine_supply_end_ack(e, sid);
    } else if (strcmp(env->type, "cp.key_params") == 0) {
        /* handled above while keyless; a repeat after is harmless */
    } else if (strncmp(env->type, "cp.", 3) == 0 || strncmp(env->type, "supply.end", 10) == 0) {
        e->dropped++;
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "%s for cp_id %s: dropped", env->type, cp ? cp : "(none)");
    }
    evc_envelope_free(env);
    return EVC_OK;
}

int engine_bus_start(engine *e, evc_error *err)
{
    /* Our CP's messages and Central's broadcast (key "central", the
     * heartbeat) only: the transport filters the rest upstream (ZeroMQ: at
     * the proxy), so an engine's load does not grow with the number of CPs.
     * on_central_event still checks the key (F11). */
    if (e->cfg.cp_id[0]) {
        const char *const keys[] = {e->cfg.cp_id, "central"};
        return evc_bus_subscribe_keys(e->bus, e->topic_central, keys, 2, on_central_event, e,
                                      err);
    }
    return evc_bus_subscribe(e->bus, e->topic_central, on_central_event, e, err);
}
