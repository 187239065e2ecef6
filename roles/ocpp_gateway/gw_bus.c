/* gw_bus.c: each charger's engine on the bus (docs/PROTOCOL.md M3), as
 * EV_CP_E speaks it: sealed with the CP's bus key, HMAC "evc-bus-cp-v1" of
 * the CP id under the proof key K that the monitor link derived (the same
 * stored string at Central, so no cp.key_request round trip is needed).
 * Central's messages arrive verified (evc_app_trust_central) and are routed
 * by key to the CP they name:
 *   cp.authorise  -> RemoteStartTransaction; its result is cp.authorise_reply
 *   cp.cancel     -> RemoteStopTransaction (or, before the start, the end)
 *   cp.command    -> ChangeAvailability Inoperative (stop) / Operative (resume),
 *                    Reset Soft/Hard (reset)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/envelope.h"
#include "evc/ids.h"
#include "evc/log.h"
#include "evc/msg.h"
#include "gw.h"

#define LOGC(cp, lvl, ...) evc_log((lvl), GW_LOG, &(evc_log_ids){.cp = (cp)->id}, __VA_ARGS__)

static evc_msg_dedup *dedup; /* one per process: Central's envelope ids */

/* Publishes as the CP cp_id, sealed by its bus sealer s (may be NULL: not
 * published, EVC_ESTATE). Takes payload. */
static int publish_as(gw *g, evc_sealer *s, const char *cp_id, const char *type,
                      const char *corr, json_t *payload)
{
    char *ptext = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    if (!ptext || !s) {
        free(ptext);
        return EVC_ESTATE;
    }
    char id[EVC_UUID_STR_SIZE];
    evc_uuid_generate(id, NULL);
    json_t *env = json_pack("{s:s,s:s,s:s?,s:I,s:s}", "type", type, "id", id, "correlation_id",
                            corr, "ts", (json_int_t)evc_wall_ms(), "source", cp_id);
    json_object_set_new(env, "payload", json_loads(ptext, 0, NULL));
    free(ptext);
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    char *sealed = NULL;
    size_t slen = 0;
    evc_error err = {0};
    int rc = text ? evc_seal(s, g->t_cp, text, strlen(text), (int64_t)evc_wall_ms(), &sealed,
                             &slen, &err)
                  : EVC_ENOMEM;
    free(text);
    if (rc == EVC_OK)
        rc = evc_bus_publish(g->bus, g->t_cp, cp_id, sealed, slen, NULL, NULL, &err);
    free(sealed);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = cp_id}, "%s not published: %s", type,
                err.msg);
    return rc;
}

int gw_bus_publish(gw_cp *cp, const char *type, const char *corr, json_t *payload)
{
    return publish_as(cp->g, cp->sealer, cp->id, type, corr, payload);
}

void gw_bus_on_accepted(gw_cp *cp)
{
    uint8_t bus_key[32];
    const char *parts[] = {cp->id};
    evc_proof_mac(cp->key, "evc-bus-cp-v1", parts, 1, bus_key);
    evc_sealer_free(cp->sealer);
    cp->sealer = NULL;
    gw_bus_orphans_free(cp->g, cp->id); /* its own sealer sends its ends from now on */
    evc_error err = {0};
    int rc = evc_sealer_new(cp->id, EVC_SEAL_HMAC_SHA256, bus_key, &cp->sealer, &err);
    explicit_bzero(bus_key, sizeof bus_key);
    if (rc != EVC_OK) {
        LOGC(cp, EVC_LOG_ERROR, "bus key: %s", err.msg);
        return;
    }
    /* The outbox first, then the hello (as EV_CP_E): ends kept while the
     * charger was away, or from before a restart of the gateway or of
     * Central, reach Central now. */
    gw_bus_resend(cp, evc_loop_now_ms(cp->g->loop), true);
    gw_bus_publish(cp, "cp.hello", NULL,
                   json_pack("{s:s,s:s?,s:s,s:s}", "cp_id", cp->id, "busy_session_id",
                             cp->sup != GW_SUP_NONE ? cp->session : NULL, "health",
                             gw_cp_faulted(cp) ? "KO" : "OK", "admin_state",
                             cp->inoperative ? "STOPPED" : "IN_SERVICE"));
}

static void authorise_reply(gw_cp *cp, const char *sid, bool accepted, const char *reason)
{
    gw_bus_publish(cp, "cp.authorise_reply", sid,
                   json_pack("{s:s,s:s,s:b,s:s?}", "cp_id", cp->id, "session_id", sid,
                             "accepted", accepted, "reason", accepted ? NULL : reason));
}

void gw_bus_remote_start_result(gw_cp *cp, const char *session, bool accepted, const char *why)
{
    if (cp->sup != GW_SUP_STARTING || strcmp(session, cp->session) != 0)
        return; /* cancelled meanwhile */
    cp->sup = accepted ? GW_SUP_AUTHORISED : GW_SUP_NONE;
    authorise_reply(cp, session, accepted, why);
}

void gw_bus_request(gw_cp *cp, const char *driver)
{
    gw_bus_publish(cp, "supply.request", NULL,
                   json_pack("{s:s,s:s}", "cp_id", cp->id, "driver_id", driver));
}

void gw_bus_started(gw_cp *cp)
{
    cp->started_at = (int64_t)evc_wall_ms();
    gw_bus_publish(cp, "supply.started", cp->session,
                   json_pack("{s:s,s:s,s:s,s:I}", "cp_id", cp->id, "session_id", cp->session,
                             "driver_id", cp->driver, "started_at", (json_int_t)cp->started_at));
}

void gw_bus_telemetry(gw_cp *cp, int64_t wh, int64_t w)
{
    int64_t cents = (wh * cp->price + 500) / 1000;
    gw_bus_publish(cp, "supply.telemetry", cp->session,
                   json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "cp_id", cp->id, "session_id",
                             cp->session, "driver_id", cp->driver, "w", (json_int_t)w, "wh",
                             (json_int_t)wh, "cents", (json_int_t)cents));
}

void gw_bus_ended(gw_cp *cp, int64_t wh, const char *reason)
{
    int64_t now = (int64_t)evc_wall_ms();
    json_t *p = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "cp_id", cp->id, "session_id",
                          cp->session, "driver_id", cp->driver, "wh", (json_int_t)wh,
                          "started_at", (json_int_t)(cp->started_at ? cp->started_at : now),
                          "ended_at", (json_int_t)now, "reason", reason);
    /* Into the outbox and the state file (one write: the transaction goes,
     * its end comes) before anything else: the charger hears
     * StopTransaction.conf after this returns and never repeats it, so from
     * then on the file is the only copy of the bill until Central's
     * supply.end_ack. */
    gw *g = cp->g;
    gw_end *e = gw_state_end_add(g, cp->id, cp->conn, cp->session, json_dumps(p, JSON_COMPACT));
    if (!e)
        LOGC(cp, EVC_LOG_ERROR, "out of memory: supply.ended of %s sent once, not kept",
             cp->session);
    cp->sup = GW_SUP_NONE;
    cp->end_reason[0] = '\0';
    gw_state_save(g);
    if (e) {
        uint64_t now_ms = evc_loop_now_ms(g->loop);
        e->sent_ms = now_ms ? now_ms : 1;
    }
    gw_bus_publish(cp, "supply.ended", e ? e->session : cp->session, p);
}

/* Sends the ends of cp_id due (all, or last sent GW_END_RESEND_MS ago) with s. */
static void resend_ends(gw *g, evc_sealer *s, const char *cp_id, uint64_t now_ms, bool all)
{
    if (!s)
        return; /* no bus key: Central would drop it unsealed */
    const evc_log_ids ids = {.cp = cp_id};
    for (gw_end *e = g->ends; e; e = e->next) {
        if (strcmp(e->cp_id, cp_id) != 0 ||
            (!all && e->sent_ms && now_ms - e->sent_ms < GW_END_RESEND_MS))
            continue;
        if (e->sent_ms)
            evc_log(EVC_LOG_INFO, GW_LOG, &ids,
                    "supply.ended of %s not acknowledged yet: sent again", e->session);
        else
            evc_log(EVC_LOG_INFO, GW_LOG, &ids,
                    "supply.ended of %s kept from before a restart: sent", e->session);
        e->sent_ms = now_ms ? now_ms : 1;
        publish_as(g, s, cp_id, "supply.ended", e->session, json_loads(e->payload, 0, NULL));
    }
}

void gw_bus_resend(gw_cp *cp, uint64_t now_ms, bool all)
{
    resend_ends(cp->g, cp->sealer, cp->id, now_ms, all);
}

static bool end_pending(const gw *g, const char *cp_id);

void gw_bus_adopt(gw_cp *cp)
{
    gw *g = cp->g;
    gw_cp *live = gw_cp_find(g, cp->id);
    if (!cp->sealer || (live && live != cp) || !end_pending(g, cp->id))
        return;
    gw_orphan *o = calloc(1, sizeof *o);
    if (!o)
        return; /* its ends wait for the charger, as after a restart */
    snprintf(o->cp_id, sizeof o->cp_id, "%s", cp->id);
    o->sealer = cp->sealer;
    cp->sealer = NULL;
    o->next = g->orphans;
    g->orphans = o;
    LOGC(cp, EVC_LOG_INFO, "charger gone with a supply.ended unacknowledged: sent on without it");
}

void gw_bus_resend_orphans(gw *g, uint64_t now_ms)
{
    for (gw_orphan **pp = &g->orphans; *pp;) {
        gw_orphan *o = *pp;
        if (!end_pending(g, o->cp_id)) { /* all acknowledged */
            *pp = o->next;
            evc_sealer_free(o->sealer);
            free(o);
            continue;
        }
        resend_ends(g, o->sealer, o->cp_id, now_ms, false);
        pp = &o->next;
    }
}

void gw_bus_orphans_free(gw *g, const char *cp_id)
{
    for (gw_orphan **pp = &g->orphans; *pp;) {
        gw_orphan *o = *pp;
        if (cp_id && strcmp(o->cp_id, cp_id) != 0) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        evc_sealer_free(o->sealer);
        free(o);
    }
}

static void on_authorise(gw_cp *cp, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id"), *driver = evc_msg_str(env, "driver_id");
    int64_t price = 0, expires = 0;
    if (!sid || !evc_uuid_valid(sid) || !driver || !evc_id_valid(driver) ||
        evc_msg_int(env, "expires_at", &expires) != 0)
        return; /* as EV_CP_E: one without expires_at is dropped unanswered */
    evc_msg_int(env, "price_cents_per_kwh", &price);
    const char *why = cp->stranded ? "connector not served (above ocpp_gateway.connectors)"
                      : cp->sup != GW_SUP_NONE ? "busy"
                      : gw_cp_faulted(cp)      ? "broken"
                      : cp->inoperative        ? "stopped"
                      : !gw_charger(cp)->booted || !gw_charger(cp)->ws ? "charger not connected"
                      : expires < (int64_t)evc_wall_ms() ? "authorisation expired"
                      : strlen(driver) > 20              ? "driver id longer than an idTag (20)"
                                                         : NULL;
    if (cp->auth_id[0] && !cp->stranded && strcmp(driver, cp->auth_driver) == 0 &&
        cp->sup == GW_SUP_NONE && !(expires < (int64_t)evc_wall_ms())) {
        /* The charger's own request: it starts the transaction itself. */
        snprintf(cp->session, sizeof cp->session, "%s", sid);
        snprintf(cp->driver, sizeof cp->driver, "%s", driver);
        cp->price = price;
        cp->sup = GW_SUP_AUTHORISED;
        authorise_reply(cp, sid, true, NULL);
        gw_ocpp_authorize_done(cp, "Accepted");
        return;
    }
    if (why) {
        authorise_reply(cp, sid, false, why);
        return;
    }
    snprintf(cp->session, sizeof cp->session, "%s", sid);
    snprintf(cp->driver, sizeof cp->driver, "%s", driver);
    cp->price = price;
    cp->sup = GW_SUP_STARTING;
    /* The charger's answer is the authorise's: accepted when it accepts. */
    /* With connectors as CPs the charger is told which one; a charger that
     * is one CP picks its own (as before). */
    json_t *req = cp->g->connectors > 1
                      ? json_pack("{s:i,s:s}", "connectorId", cp->conn, "idTag", driver)
                      : json_pack("{s:s}", "idTag", driver);
    if (gw_ocpp_call(cp, GW_CALL_REMOTE_START, "RemoteStartTransaction", req, sid) != EVC_OK) {
        cp->sup = GW_SUP_NONE;
        authorise_reply(cp, sid, false, "charger busy");
    }
}

static void on_cancel(gw_cp *cp, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id"), *why = evc_msg_str(env, "reason");
    if (!sid || cp->sup == GW_SUP_NONE || strcmp(sid, cp->session) != 0)
        return;
    bool driver = why && strcmp(why, "driver_stop") == 0;
    if (cp->sup == GW_SUP_SUPPLYING) {
        snprintf(cp->end_reason, sizeof cp->end_reason, "%s", driver ? "driver_stop"
                                                                     : "cancelled");
        gw_ocpp_call(cp, GW_CALL_REMOTE_STOP, "RemoteStopTransaction",
                     json_pack("{s:I}", "transactionId", (json_int_t)cp->tx_id), NULL);
    } else {
        /* not started at the charger: ended here, 0 Wh */
        gw_bus_ended(cp, 0, driver ? "driver_stop" : "cancelled");
    }
}

static void publish_status(gw_cp *cp)
{
    gw_bus_publish(cp, "cp.status", NULL,
                   json_pack("{s:s,s:s,s:s,s:s?}", "cp_id", cp->id, "health",
                             gw_cp_faulted(cp) ? "KO" : "OK", "admin_state",
                             cp->inoperative ? "STOPPED" : "IN_SERVICE", "busy_session_id",
                             cp->sup != GW_SUP_NONE ? cp->session : NULL));
}

/* A connector's supply and the charger's reset: one the charger has not
 * started yet ends here (0 Wh), one in progress is ended by the charger. */
static void reset_supply(gw_cp *c)
{
    if (c->sup == GW_SUP_STARTING || c->sup == GW_SUP_AUTHORISED)
        gw_bus_ended(c, 0, "reset");
    else if (c->sup == GW_SUP_SUPPLYING)
        snprintf(c->end_reason, sizeof c->end_reason, "reset");
}

/* Central's reset: Reset of the same type to the charger, which ends its
 * transaction itself (StopTransaction reason SoftReset/HardReset, billed
 * `reset` as any end) and reboots: it boots again on a new connection. A
 * supply the charger has not started yet ends here (0 Wh): the charger
 * forgets the authorisation when it reboots. OCPP 1.6 resets a whole
 * charger: a reset of one connector's CP resets every connector (each
 * supply ends as above). */
static void on_reset(gw_cp *cp, const evc_envelope *env)
{
    const char *type = evc_msg_str(env, "type");
    type = type && strcmp(type, "Hard") == 0 ? "Hard" : "Soft";
    gw_cp *ch = gw_charger(cp);
    LOGC(cp, EVC_LOG_WARN, "%s reset by Central%s", type,
         cp->g->connectors > 1 ? " (the whole charger: every connector)" : "");
    reset_supply(ch);
    for (int n = 2; n <= GW_CONN_MAX; n++)
        if (ch->conns[n])
            reset_supply(ch->conns[n]);
    gw_ocpp_call(cp, GW_CALL_RESET, "Reset", json_pack("{s:s}", "type", type), NULL);
    publish_status(cp);
}

static void on_command(gw_cp *cp, const evc_envelope *env)
{
    const char *cmd = evc_msg_str(env, "command");
    if (cmd && strcmp(cmd, "reset") == 0) {
        on_reset(cp, env);
        return;
    }
    if (!cmd || (strcmp(cmd, "stop") != 0 && strcmp(cmd, "resume") != 0))
        return;
    bool stop = strcmp(cmd, "stop") == 0;
    /* Central repeats its order when a cp.hello or cp.status of ours said
     * otherwise (over Kafka one written before the order can be read after
     * it): a charger already in line with it, or with that ChangeAvailability
     * still on its way, is not asked again. */
    if (stop == cp->inoperative && cp->sup != GW_SUP_SUPPLYING &&
        (cp->avail_pending > 0 || (!cp->avail_check && gw_avail_in_line(cp, stop)))) {
        publish_status(cp);
        return;
    }
    cp->inoperative = stop;
    cp->avail_check = false; /* this command's answer decides (gw_avail.c) */
    if (stop && cp->sup == GW_SUP_SUPPLYING) {
        snprintf(cp->end_reason, sizeof cp->end_reason, "stopped");
        gw_ocpp_call(cp, GW_CALL_REMOTE_STOP, "RemoteStopTransaction",
                     json_pack("{s:I}", "transactionId", (json_int_t)cp->tx_id), NULL);
    }
    gw_bus_availability(cp);
    publish_status(cp);
}

void gw_bus_availability(gw_cp *cp)
{
    /* A connector's CP names its connector (also one of a charger whose
     * connectors were lowered since: gw_conn.c); a charger that is one CP
     * is made available or not as a whole. */
    int conn = cp->conn > 1 || cp->g->connectors > 1 ? cp->conn : 0;
    if (gw_ocpp_call(cp, GW_CALL_AVAILABILITY, "ChangeAvailability",
                     json_pack("{s:i,s:s}", "connectorId", conn, "type",
                               cp->inoperative ? "Inoperative" : "Operative"),
                     NULL) == EVC_OK)
        cp->avail_pending++;
}

/* True when the outbox holds an end of cp_id (a CP that may be away). */
static bool end_pending(const gw *g, const char *cp_id)
{
    for (const gw_end *e = g->ends; e; e = e->next)
        if (strcmp(e->cp_id, cp_id) == 0)
            return true;
    return false;
}

/* supply.end_ack for a CP whose charger is not connected (it went right
 * after its StopTransaction, or has not come back since a restart): the
 * end leaves the outbox all the same, so it is not sent again. */
static void ack_away(gw *g, const evc_message *m)
{
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK)
        return;
    const char *cpid = evc_msg_str(env, "cp_id"), *sid = evc_msg_str(env, "session_id");
    if (strcmp(env->type, "supply.end_ack") == 0 && cpid && strcmp(cpid, m->key) == 0 && sid &&
        gw_state_end_ack(g, cpid, sid))
        gw_state_save(g);
    evc_envelope_free(env);
}

static int on_central(void *arg, const evc_message *m)
{
    gw *g = arg;
    gw_cp *cp = m->key[0] ? gw_cp_find(g, m->key) : NULL;
    if (!cp || !cp->sealer || cp->closing) {
        /* not one of our chargers, or not keyed yet; Central's messages are
         * verified by the bus whoever they name (evc_app_trust_central) */
        if (m->key[0] && end_pending(g, m->key))
            ack_away(g, m);
        return EVC_OK;
    }
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK) {
        LOGC(cp, EVC_LOG_WARN, "malformed message: %s", err.msg);
        return EVC_OK;
    }
    const char *cpid = evc_msg_str(env, "cp_id");
    if (evc_msg_dedup_first(dedup, env->id) && cpid && strcmp(cpid, cp->id) == 0) {
        if (strcmp(env->type, "cp.authorise") == 0)
            on_authorise(cp, env);
        else if (strcmp(env->type, "cp.cancel") == 0)
            on_cancel(cp, env);
        else if (strcmp(env->type, "cp.command") == 0)
            on_command(cp, env);
        else if (strcmp(env->type, "supply.end_ack") == 0) {
            const char *sid = evc_msg_str(env, "session_id");
            if (sid && gw_state_end_ack(cp->g, cp->id, sid))
                gw_state_save(cp->g);
        }
    }
    evc_envelope_free(env);
    return EVC_OK;
}

int gw_bus_start(gw *g, evc_error *err)
{
    g->bus = evc_app_bus(g->app);
    g->t_cp = evc_app_topic(g->app, EVC_TOPIC_CP_EVENTS);
    g->t_central = evc_app_topic(g->app, EVC_TOPIC_CENTRAL_EVENTS);
    if (!dedup && !(dedup = evc_msg_dedup_new(4096)))
        return evc_error_set(err, EVC_ENOMEM, "ocpp_gateway: out of memory");
    /* Only Central's sealed messages are heard, as by EV_CP_E. */
    int rc = evc_app_trust_central(g->app, err);
    if (rc != EVC_OK)
        return rc;
    return evc_bus_subscribe(g->bus, g->t_central, on_central, g, err);
}

void gw_bus_stop(void)
{
    evc_msg_dedup_free(dedup);
    dedup = NULL;
}
