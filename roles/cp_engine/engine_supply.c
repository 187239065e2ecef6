/* engine_supply.c: one supply from authorisation to its end (F5-F9, R30,
 * R31, R33): authorise, plug, telemetry every second with the energy in
 * integer Wh, the journal at every tick, the end report through the outbox,
 * and the unattended mode. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "evc/log.h"

static evc_log_ids supply_ids(const engine *e)
{
    return (evc_log_ids){.cp = e->cp_id, .driver = e->j.driver_id, .correlation = e->j.session_id};
}

static const char *corr_of(const char *session_id)
{
    return evc_uuid_valid(session_id) ? session_id : NULL;
}

static void journal_or_log(engine *e)
{
    e->j.recorded_at = (int64_t)evc_wall_ms();
    evc_error err = {0};
    if (engine_journal_save(e->store, &e->j, &err) != EVC_OK) {
        evc_log_ids ids = supply_ids(e);
        evc_log(EVC_LOG_ERROR, "cp_engine", &ids, "journal: %s", err.msg);
    }
}

static void prune_ended(engine *e)
{
    evc_error err = {0};
    if (engine_ended_prune(e->store, (int64_t)evc_wall_ms(), NULL, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "forgetting old ended sessions: %s", err.msg);
}

void engine_supply_recover(engine *e)
{
    prune_ended(e);
    engine_journal j;
    bool found = false;
    evc_error err = {0};
    int rc = engine_journal_recover(e->store, e->topic_cp, (int64_t)evc_wall_ms(), &j, &found,
                                    &err);
    if (rc != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "cp_engine", NULL, "journal recovery: %s", err.msg);
        engine_say(e, ENGINE_RED, "Journal recovery failed: %s", err.msg);
        return;
    }
    if (!found)
        return;
    evc_log(EVC_LOG_WARN, "cp_engine",
            &(evc_log_ids){.cp = j.cp_id, .driver = j.driver_id, .correlation = j.session_id},
            "interrupted supply recovered from the journal: %" PRId64 " Wh", j.wh);
    engine_say(e, ENGINE_YELLOW,
               "Recovered interrupted supply: session %s driver %s %" PRId64
               " Wh (reported as engine_restart)",
               j.session_id, j.driver_id, j.wh);
}

static void reply_authorise(engine *e, const char *sid, bool accepted, const char *reason)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", e->cp_id);
    evc_payload_str(p, "session_id", sid);
    evc_payload_bool(p, "accepted", accepted);
    evc_payload_str(p, "reason", reason);
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    if (text)
        engine_publish(e, "cp.authorise_reply", corr_of(sid), text);
    free(text);
}

void engine_supply_authorise(engine *e, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id");
    const char *driver = evc_msg_str(env, "driver_id");
    int64_t price = -1;
    if (!sid || !evc_id_valid(sid) || !driver || !evc_id_valid(driver) ||
        evc_msg_int(env, "price_cents_per_kwh", &price) != 0 || price < 0) {
        e->dropped++;
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "cp.authorise without a valid session_id, driver_id or price: dropped");
        return;
    }
    evc_log_ids ids = {.cp = e->cp_id, .driver = driver, .correlation = sid};
    int64_t expires_at = 0, now = (int64_t)evc_wall_ms();
    if (evc_msg_int(env, "expires_at", &expires_at) != 0 || expires_at <= 0) {
        e->dropped++;
        evc_log(EVC_LOG_WARN, "cp_engine", &ids, "cp.authorise without expires_at: dropped");
        return;
    }
    if (e->phase != ENGINE_IDLE && strcmp(e->j.session_id, sid) == 0) {
        reply_authorise(e, sid, true, NULL); /* a repeat: same answer */
        return;
    }
    if (now > expires_at) {
        /* Central holds a request open only until this moment (its clock;
         * see PROTOCOL.md on clocks): past it, Central has denied or is about
         * to deny, and energy supplied now would belong to no open supply. */
        evc_log(EVC_LOG_WARN, "cp_engine", &ids,
                "cp.authorise expired %lld ms ago (a late delivery): refused",
                (long long)(now - expires_at));
        reply_authorise(e, sid, false, "expired");
        return;
    }
    bool ended = false;
    evc_error err = {0};
    if (engine_session_ended(e->store, sid, &ended, &err) != EVC_OK || ended) {
        /* Delivered again after it ended here (an at-least-once bus replays
         * it after a restart): a session is supplied once, never twice. */
        if (!ended)
            evc_log(EVC_LOG_ERROR, "cp_engine", &ids, "ended sessions: %s", err.msg);
        else
            evc_log(EVC_LOG_WARN, "cp_engine", &ids,
                    "cp.authorise for a session that already ended here: refused");
        reply_authorise(e, sid, false, ended ? "session_ended" : "store_error");
        return;
    }
    engine_gate g = engine_gate_now(e);
    const char *why = engine_authorise_refusal(&g);
    if (why) {
        evc_log(EVC_LOG_INFO, "cp_engine", &ids, "authorisation refused: %s", why);
        engine_say(e, ENGINE_YELLOW, "Refused authorisation: session %s driver %s: %s", sid,
                   driver, why);
        reply_authorise(e, sid, false, why);
        return;
    }
    memset(&e->j, 0, sizeof e->j);
    snprintf(e->j.cp_id, sizeof e->j.cp_id, "%s", e->cp_id);
    snprintf(e->j.session_id, sizeof e->j.session_id, "%s", sid);
    snprintf(e->j.driver_id, sizeof e->j.driver_id, "%s", driver);
    e->j.price_cents_per_kwh = price;
    e->j.authorised_at = now;
    e->j.expires_at = expires_at;
    e->phase = ENGINE_AUTHORISED;
    e->authorised_mono = evc_loop_now_ms(e->loop);
    engine_energy_reset(&e->energy);
    journal_or_log(e);
    reply_authorise(e, sid, true, NULL);
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "authorised at %" PRId64 " c/kWh", price);
    engine_say(e, ENGINE_GREEN,
               "Authorised: session %s driver %s price %" PRId64 " c/kWh -- plug in now", sid,
               driver, price);
}

static void publish_telemetry(engine *e)
{
    int64_t cents = engine_cents(e->energy.wh, e->j.price_cents_per_kwh);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", e->cp_id);
    evc_payload_str(p, "session_id", e->j.session_id);
    evc_payload_str(p, "driver_id", e->j.driver_id);
    evc_payload_int(p, "w", e->w);
    evc_payload_int(p, "wh", e->energy.wh);
    evc_payload_int(p, "cents", cents);
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    if (text)
        engine_publish(e, "supply.telemetry", corr_of(e->j.session_id), text);
    free(text);
    engine_say(e, ENGINE_GREEN,
               "Supplying: %" PRId64 " W, %" PRId64 " Wh, %" PRId64 " cents (driver %s)", e->w,
               e->energy.wh, cents, e->j.driver_id);
}

/* Accounts the energy since the last tick at the power of that interval. */
static void meter(engine *e, uint64_t now)
{
    engine_energy_add(&e->energy, e->w, (int64_t)(now - e->last_tick_mono));
    e->last_tick_mono = now;
    e->j.wh = e->energy.wh;
}

static void on_telemetry(evc_timer *t, void *arg)
{
    (void)t;
    engine *e = arg;
    if (e->phase != ENGINE_SUPPLYING)
        return;
    meter(e, evc_loop_now_ms(e->loop));
    /* Journal first: a crash between the two must never bill less than the
     * driver was already shown. */
    journal_or_log(e);
    publish_telemetry(e);
    e->w = engine_power_next(&e->power);
}

void engine_supply_plug(engine *e, bool from_menu)
{
    if (e->phase != ENGINE_AUTHORISED) {
        if (from_menu)
            engine_say(e, NULL, "Nothing to plug: no authorised supply (request one first)");
        return;
    }
    uint64_t now = evc_loop_now_ms(e->loop);
    e->phase = ENGINE_SUPPLYING;
    e->j.started_at = (int64_t)evc_wall_ms();
    e->plugged_mono = e->last_tick_mono = now;
    engine_energy_reset(&e->energy);
    e->w = engine_power_next(&e->power);
    journal_or_log(e);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", e->cp_id);
    evc_payload_str(p, "session_id", e->j.session_id);
    evc_payload_str(p, "driver_id", e->j.driver_id);
    evc_payload_int(p, "started_at", e->j.started_at);
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    if (text)
        engine_publish(e, "supply.started", corr_of(e->j.session_id), text);
    free(text);
    uint64_t every = (uint64_t)e->cfg.telemetry_interval_ms;
    if (evc_loop_timer(e->loop, every, every, on_telemetry, e, &e->telemetry, &err) != EVC_OK)
        evc_log(EVC_LOG_ERROR, "cp_engine", NULL, "telemetry timer: %s", err.msg);
    evc_log_ids ids = supply_ids(e);
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "plugged in: supplying");
    engine_say(e, ENGINE_GREEN, "Supply started: session %s driver %s", e->j.session_id,
               e->j.driver_id);
}

void engine_supply_unplug(engine *e, bool from_menu)
{
    if (e->phase != ENGINE_SUPPLYING) {
        if (from_menu)
            engine_say(e, NULL, "Nothing to unplug: no supply in progress");
        return;
    }
    engine_supply_end(e, "unplugged");
}

/* The journal could not be turned into an outbox entry: send the report
 * once anyway, so that a store failure does not also lose the bill. */
static void publish_unqueued(engine *e, int64_t ended_at, const char *reason)
{
    char *env = NULL;
    size_t len = 0;
    evc_error err = {0};
    if (engine_ended_envelope(&e->j, ended_at, reason, &env, &len, &err) == EVC_OK)
        evc_bus_publish(e->bus, e->topic_cp, e->cp_id, env, len, NULL, NULL, &err);
    free(env);
}

void engine_supply_end(engine *e, const char *reason)
{
    if (e->phase == ENGINE_IDLE)
        return;
    evc_log_ids ids = supply_ids(e);
    if (e->phase == ENGINE_SUPPLYING) {
        meter(e, evc_loop_now_ms(e->loop));
        /* One last telemetry so that what was shown equals what is billed;
         * journalled first, like every tick. */
        journal_or_log(e);
        publish_telemetry(e);
        evc_timer_close(e->telemetry);
        e->telemetry = NULL;
    }
    int64_t ended_at = (int64_t)evc_wall_ms();
    evc_error err = {0};
    prune_ended(e);
    if (engine_journal_finish(e->store, &e->j, ended_at, reason, e->topic_cp, &err) != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "cp_engine", &ids, "outbox: %s; sending the end report once",
                err.msg);
        publish_unqueued(e, ended_at, reason);
    } else {
        engine_outbox_kick(e, false);
    }
    int64_t cents = engine_cents(e->j.wh, e->j.price_cents_per_kwh);
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "supply ended (%s): %" PRId64 " Wh", reason,
            e->j.wh);
    engine_say(e, strcmp(reason, "unplugged") == 0 ? ENGINE_GREEN : ENGINE_YELLOW,
               "Supply ended: session %s reason %s %" PRId64 " Wh %" PRId64 " cents",
               e->j.session_id, reason, e->j.wh, cents);
    e->phase = ENGINE_IDLE;
    engine_energy_reset(&e->energy);
    e->w = 0;
}

void engine_supply_command(engine *e, const char *command)
{
    bool stop = strcmp(command, "stop") == 0;
    if (stop != e->stopped) {
        e->stopped = stop;
        evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id}, "%s by CENTRAL",
                stop ? "stopped" : "resumed");
        engine_say(e, stop ? ENGINE_YELLOW : ENGINE_GREEN, "%s by CENTRAL",
                   stop ? "Stopped" : "Resumed");
    }
    if (stop && e->phase != ENGINE_IDLE)
        engine_supply_end(e, "stopped");
    engine_send_status(e);
}

void engine_supply_reset(engine *e, const char *type)
{
    evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id}, "%s reset by CENTRAL",
            type);
    engine_say(e, ENGINE_YELLOW, "%s reset by CENTRAL", type);
    if (e->phase != ENGINE_IDLE)
        engine_supply_end(e, "reset");
    engine_send_status(e);
}

void engine_supply_cancel(engine *e, const char *session_id, const char *reason)
{
    evc_log_ids ids = {.cp = e->cp_id, .correlation = session_id};
    if (e->phase == ENGINE_IDLE || strcmp(e->j.session_id, session_id) != 0) {
        evc_log(EVC_LOG_INFO, "cp_engine", &ids, "cp.cancel for a session not in progress here");
        return;
    }
    /* The driver's own stop (supply.stop, relayed by CENTRAL) ends the supply
     * under that reason, so that its ticket says who stopped it; every other
     * cancel is CENTRAL's decision. */
    bool by_driver = strcmp(reason, "driver_stop") == 0;
    evc_log(EVC_LOG_WARN, "cp_engine", &ids, "cancelled by CENTRAL: %s", reason);
    if (by_driver)
        engine_say(e, ENGINE_YELLOW, "Stopped by the driver: session %s", session_id);
    else
        engine_say(e, ENGINE_YELLOW, "Cancelled by CENTRAL (%s): session %s", reason, session_id);
    engine_supply_end(e, by_driver ? "driver_stop" : "cancelled");
}

void engine_supply_end_ack(engine *e, const char *session_id)
{
    bool found = false;
    evc_error err = {0};
    evc_log_ids ids = {.cp = e->cp_id, .correlation = session_id};
    if (engine_outbox_ack(e->store, session_id, &found, &err) != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "cp_engine", &ids, "outbox ack: %s", err.msg);
        return;
    }
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "supply.end_ack%s", found ? "" : " (repeat)");
    if (found)
        engine_say(e, NULL, "Acknowledged by CENTRAL: session %s", session_id);
}

void engine_supply_tick(engine *e, uint64_t now)
{
    const engine_cfg *c = &e->cfg;
    if (e->phase == ENGINE_AUTHORISED) {
        uint64_t waited = now - e->authorised_mono;
        if (waited >= (uint64_t)c->plug_timeout_ms)
            engine_supply_end(e, "not_plugged");
        else if (c->unattended && waited >= (uint64_t)c->plug_after_ms)
            engine_supply_plug(e, false);
    } else if (e->phase == ENGINE_SUPPLYING && c->unattended) {
        bool by_time = c->unplug_after_ms > 0 && now - e->plugged_mono >= (uint64_t)c->unplug_after_ms;
        bool by_energy = c->target_wh > 0 && e->energy.wh >= c->target_wh;
        if (by_time || by_energy)
            engine_supply_unplug(e, false);
    }
}

void engine_supply_shutdown(engine *e)
{
    if (e->phase != ENGINE_IDLE)
        engine_supply_end(e, "engine_restart");
    evc_timer_close(e->telemetry);
    e->telemetry = NULL;
}
