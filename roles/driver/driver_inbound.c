/* driver_inbound.c: central-events as the driver reads them -- keep only its
 * own messages and CENTRAL's heartbeat (F11), drop duplicates (at-least-once
 * buses redeliver), decode strictly, hand each to the FSM. A malformed
 * message is counted and logged, never fatal. */
#include <jansson.h>
#include <string.h>

#include "driver_app.h"
#include "evc/log.h"

static int drop(driver_app *a, const evc_envelope *env, const char *why)
{
    a->malformed++;
    /* Log the first ones and then one in a hundred: garbage must not flood
     * the log either. */
    if (a->malformed <= 10 || a->malformed % 100 == 0)
        evc_log(EVC_LOG_WARN, "driver", &(evc_log_ids){.driver = a->driver_id},
                "dropped %s message (%llu so far): %s", env && env->type ? env->type : "a",
                (unsigned long long)a->malformed, why);
    return EVC_OK;
}

static const char *str_or(const evc_envelope *env, const char *key, const char *dflt)
{
    const char *s = evc_msg_str(env, key);
    return s ? s : dflt;
}

static void on_cps(driver_app *a, uint64_t now, const evc_envelope *env)
{
    json_t *root = evc_envelope_payload_json(env);
    json_t *arr = root ? json_object_get(root, "cps") : NULL;
    if (!json_is_array(arr)) {
        drop(a, env, "driver.cps without a 'cps' list");
        return;
    }
    size_t n = json_array_size(arr), k = 0;
    driver_cp *cps = calloc(n ? n : 1, sizeof *cps);
    if (!cps)
        return;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        const char *id = json_string_value(json_object_get(o, "cp_id"));
        if (!id)
            continue;
        json_t *price = json_object_get(o, "price_cents_per_kwh");
        cps[k].cp_id = id;
        cps[k].location = json_string_value(json_object_get(o, "location"));
        cps[k].state = json_string_value(json_object_get(o, "state"));
        cps[k].price_cents_per_kwh = json_is_integer(price) ? json_integer_value(price) : 0;
        k++;
    }
    driver_fsm_cps(a->fsm, now, cps, k);
    free(cps);
}

static void on_ticket(driver_app *a, uint64_t now, const evc_envelope *env)
{
    driver_ticket t = {0};
    const char *cp = evc_msg_str(env, "cp_id");
    const char *sid = str_or(env, "session_id", env->correlation_id);
    if (!cp || !sid || !*sid || evc_msg_int(env, "wh", &t.wh) != 0 ||
        evc_msg_int(env, "cents", &t.cents) != 0) {
        drop(a, env, "supply.ticket without cp_id, session_id, wh or cents");
        return;
    }
    snprintf(t.cp_id, sizeof t.cp_id, "%s", cp);
    snprintf(t.session_id, sizeof t.session_id, "%s", sid);
    snprintf(t.reason, sizeof t.reason, "%s", str_or(env, "reason", ""));
    evc_msg_int(env, "price_cents_per_kwh", &t.price_cents_per_kwh);
    if (evc_msg_int(env, "started_at", &t.started_at) != 0)
        t.started_at = -1;
    if (evc_msg_int(env, "ended_at", &t.ended_at) != 0)
        t.ended_at = -1;
    if (evc_msg_int(env, "duration_s", &t.duration_s) != 0)
        t.duration_s = t.ended_at >= t.started_at && t.started_at >= 0
                           ? (t.ended_at - t.started_at) / 1000
                           : 0;
    t.has_balance = evc_msg_int(env, "balance_cents", &t.balance_cents) == 0;
    driver_fsm_ticket(a->fsm, now, &t);
    driver_web_on_ticket(a, &t);
}

static void dispatch(driver_app *a, const evc_message *msg, const evc_envelope *env)
{
    uint64_t now = evc_loop_now_ms(a->loop);
    const char *type = env->type;
    if (strcmp(type, "central.heartbeat") == 0) {
        int64_t started = 0;
        evc_msg_int(env, "started_at", &started);
        driver_fsm_heartbeat(a->fsm, now, started);
        return;
    }
    if (strcmp(msg->key, a->driver_id) != 0)
        return; /* keyed "central" but not a heartbeat: not for drivers */
    const char *who = evc_msg_str(env, "driver_id");
    if (who && strcmp(who, a->driver_id) != 0) {
        drop(a, env, "payload driver_id is another driver's");
        return;
    }
    const char *cp = evc_msg_str(env, "cp_id");
    const char *sid = str_or(env, "session_id", env->correlation_id);
    if (strcmp(type, "driver.auth_reply") == 0) {
        bool ok;
        int64_t bal;
        if (driver_web_login_reply(a, env))
            return; /* the page's login, not the app's */
        if (evc_msg_bool(env, "ok", &ok) != 0) {
            drop(a, env, "driver.auth_reply without a boolean 'ok'");
            return;
        }
        if (env->correlation_id && a->hello_corr[0] &&
            strcmp(env->correlation_id, a->hello_corr) != 0) {
            /* Another app of this driver asked: its answer, not ours. */
            evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
                    "driver.auth_reply for another app's hello: ignored");
            return;
        }
        /* A good login starts sealing with its session key before the FSM
         * sends anything more. */
        if (ok && !driver_login_accepted(a)) {
            evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
                    "driver.auth_reply ok without a login of ours: ignored");
            return;
        }
        bool has_bal = evc_msg_int(env, "balance_cents", &bal) == 0;
        driver_fsm_auth_reply(a->fsm, now, ok, evc_msg_str(env, "reason"),
                              has_bal ? &bal : NULL);
    } else if (strcmp(type, "driver.challenge") == 0) {
        if (driver_web_login_challenge(a, env))
            return;
        if (!env->correlation_id || strcmp(env->correlation_id, a->hello_corr) == 0)
            driver_login_on_challenge(a, env);
    } else if (strcmp(type, "driver.cps") == 0) {
        on_cps(a, now, env);
        driver_web_on_cps(a, env);
    } else if (strcmp(type, "supply.update") == 0) {
        const char *step = evc_msg_str(env, "step");
        if (!step || !sid) {
            drop(a, env, "supply.update without step or session_id");
            return;
        }
        driver_fsm_update(a->fsm, now, cp, sid, step, evc_msg_str(env, "reason"),
                          evc_msg_str(env, "text"));
        driver_web_on_update(a, cp, sid, step, evc_msg_str(env, "reason"),
                             evc_msg_str(env, "text"));
    } else if (strcmp(type, "supply.telemetry") == 0) {
        int64_t w = 0, wh, cents;
        evc_msg_int(env, "w", &w);
        if (!sid || evc_msg_int(env, "wh", &wh) != 0 || evc_msg_int(env, "cents", &cents) != 0) {
            drop(a, env, "supply.telemetry without session_id, wh or cents");
            return;
        }
        driver_fsm_telemetry(a->fsm, now, cp, sid, w, wh, cents);
        driver_web_on_telemetry(a, cp, sid, w, wh, cents);
    } else if (strcmp(type, "supply.ticket") == 0) {
        on_ticket(a, now, env);
    } else if (strcmp(type, "driver.history") == 0) {
        if (!driver_history_answer(a, env))
            evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
                    "driver.history for another app of this driver: ignored");
    } else {
        evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
                "ignored message type %s", type);
    }
}

int driver_inbound(void *arg, const evc_message *msg)
{
    driver_app *a = arg;
    /* F11: only messages keyed with our id, plus CENTRAL's own. */
    if (strcmp(msg->key, a->driver_id) != 0 && strcmp(msg->key, "central") != 0)
        return EVC_OK;
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(msg->payload, msg->payload_len, NULL, &env, &err) != EVC_OK)
        return drop(a, NULL, err.msg);
    if (evc_msg_dedup_first(a->dedup, env->id))
        dispatch(a, msg, env);
    evc_envelope_free(env);
    return EVC_OK;
}
