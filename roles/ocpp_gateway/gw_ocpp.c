/* gw_ocpp.c: OCPP-J 1.6 on one charger's WebSocket (OCPP-J 1.6 section 4).
 *
 * Frames: [2,id,action,payload] CALL, [3,id,payload] CALLRESULT,
 * [4,id,code,description,details] CALLERROR. Every payload, in and out, is
 * checked against the official schema (gw_schema.c) before anything acts on
 * it. One outstanding CALL per direction: the charger's are answered before
 * this returns (nothing here waits), ours wait in a small queue behind the
 * outstanding one, which times out after ocpp_gateway.call_timeout_ms.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/ids.h"
#include "evc/log.h"
#include "gw.h"

#define LOGC(who, lvl, ...) evc_log((lvl), GW_LOG, &(evc_log_ids){.cp = (who)->id}, __VA_ARGS__)

static void send_json(gw_cp *cp, json_t *frame)
{
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    evc_web_client *ws = gw_charger(cp)->ws; /* a connector's CP speaks on its charger's */
    if (text && ws)
        evc_web_ws_send(ws, text, strlen(text));
    free(text);
}

static void send_error(gw_cp *cp, const char *id, const char *code, const char *desc)
{
    LOGC(cp, EVC_LOG_INFO, "CALLERROR %s to message %s: %s", code, id, desc);
    send_json(cp, json_pack("[i,s,s,s,{}]", 4, id, code, desc));
}

static void send_result(gw_cp *cp, const char *id, const char *action, json_t *payload)
{
    char why[256];
    /* Our own answers go through the schema too: a bug here must not reach
     * a charger as a malformed result. */
    const char *code = gw_schema_check(cp->g, action, false, payload, why, sizeof why);
    if (code) {
        json_decref(payload);
        send_error(cp, id, "InternalError", why);
        return;
    }
    send_json(cp, json_pack("[i,s,o]", 3, id, payload));
}

static void now_iso(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the charger's calls ------------------------------------------------- */

static json_t *on_boot(gw_cp *cp, const json_t *p)
{
    char now[32];
    now_iso(now);
    /* Accepted only once Central accepted the CP (AUTH_OK): until then the
     * charger is told Pending and asks again after `interval`. */
    const char *status = cp->mon == GW_MON_OK ? "Accepted"
                         : cp->mon == GW_MON_DENIED ? "Rejected" : "Pending";
    json_int_t interval = cp->mon == GW_MON_OK ? cp->g->heartbeat_interval_s : 1;
    if (cp->mon == GW_MON_OK && !cp->booted) {
        cp->booted = true;
        LOGC(cp, EVC_LOG_INFO, "BootNotification accepted (%s %s)",
             json_string_value(json_object_get(p, "chargePointVendor")),
             json_string_value(json_object_get(p, "chargePointModel")));
    }
    return json_pack("{s:s,s:s,s:I}", "status", status, "currentTime", now, "interval",
                     interval);
}

/* connectorId 0 (the whole charger) with connectors as CPs: every
 * connector's health follows it */
static void charger_status(gw_cp *ch, const char *status, bool faulted)
{
    if (faulted == ch->faulted0)
        return;
    ch->faulted0 = faulted;
    LOGC(ch, EVC_LOG_INFO, "StatusNotification %s of the charger (connector 0): every "
                           "connector's health %s",
         status, faulted ? "KO" : "its own");
    gw_link_heartbeat(ch);
    for (int n = 2; n <= GW_CONN_MAX; n++)
        if (ch->conns[n])
            gw_link_heartbeat(ch->conns[n]);
}

static json_t *on_status(gw_cp *ch, const json_t *p)
{
    const char *status = json_string_value(json_object_get(p, "status"));
    bool faulted = strcmp(status, "Faulted") == 0;
    int conn = (int)json_integer_value(json_object_get(p, "connectorId"));
    if (ch->g->connectors > 1 && conn == 0) {
        charger_status(ch, status, faulted);
        return json_object();
    }
    /* connectors: 1 -- any connector is the charger's one CP */
    gw_cp *cp = gw_conn_get(ch, conn, true);
    if (!cp)
        return json_object(); /* not served (logged): nothing at Central to tell */
    if (faulted != cp->faulted) {
        cp->faulted = faulted;
        LOGC(cp, EVC_LOG_INFO, "StatusNotification %s: health %s", status, faulted ? "KO" : "OK");
        gw_link_heartbeat(cp); /* Central learns at once, as from EV_CP_M */
    }
    /* Before the answer: a ChangeAvailability it calls for reaches the
     * charger ahead of this StatusNotification.conf. */
    gw_avail_status(cp, status);
    return json_object();
}

static json_t *id_tag_info(const char *status)
{
    return json_pack("{s:s}", "status", status);
}

/* A connector's CP waits for Central's answer to an Authorize or a start of
 * the charger (one at a time: the charger has one CALL outstanding). */
static bool auth_waiting(gw_cp *ch)
{
    if (ch->auth_id[0])
        return true;
    for (int n = 2; n <= GW_CONN_MAX; n++)
        if (ch->conns[n] && ch->conns[n]->auth_id[0])
            return true;
    return false;
}

/* Authorize names no connector: the one whose supply is that driver's,
 * else the first free one (the request goes out from its CP), else the
 * charger's own CP (busy or blocked: answered so). */
static gw_cp *authorize_target(gw_cp *ch, const char *tag)
{
    gw_cp *all[GW_CONN_MAX + 1] = {ch};
    size_t k = 1;
    for (int n = 2; n <= GW_CONN_MAX; n++)
        if (ch->conns[n])
            all[k++] = ch->conns[n];
    for (size_t i = 0; i < k; i++)
        if (all[i]->sup != GW_SUP_NONE && strcmp(all[i]->driver, tag) == 0)
            return all[i];
    for (size_t i = 0; i < k; i++)
        if (all[i]->sup == GW_SUP_NONE && !all[i]->inoperative && !gw_cp_faulted(all[i]) &&
            all[i]->mon == GW_MON_OK && !all[i]->stranded)
            return all[i];
    return ch;
}

/* idTag = driver id (docs/OCPP.md). For the driver of a supply Central
 * authorised (a RemoteStartTransaction), Accepted at once. Otherwise the
 * charger's own request: a supply.request at the connector's CP (authorize_target), answered when Central's
 * cp.authorise for that driver arrives (Central's checks: balance, busy...),
 * Invalid when none comes in time. NULL = answered later. */
static json_t *on_authorize(gw_cp *ch, const char *id, const json_t *p)
{
    const char *tag = json_string_value(json_object_get(p, "idTag"));
    if (!evc_id_valid(tag))
        return json_pack("{s:o}", "idTagInfo", id_tag_info("Invalid"));
    gw_cp *cp = authorize_target(ch, tag);
    if (cp->sup != GW_SUP_NONE)
        return json_pack("{s:o}", "idTagInfo",
                         id_tag_info(strcmp(tag, cp->driver) == 0 ? "Accepted" : "ConcurrentTx"));
    if (auth_waiting(ch) || cp->inoperative || gw_cp_faulted(cp))
        return json_pack("{s:o}", "idTagInfo", id_tag_info("Blocked"));
    snprintf(cp->auth_id, sizeof cp->auth_id, "%s", id);
    snprintf(cp->auth_driver, sizeof cp->auth_driver, "%s", tag);
    cp->auth_deadline_ms = evc_loop_now_ms(cp->g->loop) + (uint64_t)cp->g->call_timeout_ms;
    gw_bus_request(cp, tag);
    return NULL;
}

/* The supply Central authorised for the driver of cp->driver starts: a
 * transaction id, supply.started, the state file. */
static json_int_t start_supply(gw_cp *cp, int64_t meter_start)
{
    json_int_t tx = ++cp->g->next_tx;
    cp->tx_id = tx;
    cp->meter_start = meter_start;
    cp->last_wh = 0;
    cp->sup = GW_SUP_SUPPLYING;
    gw_bus_started(cp);
    gw_state_save(cp->g);
    return tx;
}

void gw_ocpp_authorize_done(gw_cp *cp, const char *status)
{
    if (!cp->auth_id[0])
        return;
    bool start = cp->auth_start;
    LOGC(cp, EVC_LOG_INFO, "%s %s: %s", start ? "StartTransaction" : "Authorize",
         cp->auth_driver, status);
    if (start) {
        bool ok = strcmp(status, "Accepted") == 0 && cp->sup == GW_SUP_AUTHORISED;
        json_int_t tx = ok ? start_supply(cp, cp->auth_meter_start) : ++cp->g->next_tx;
        send_result(cp, cp->auth_id, "StartTransaction",
                    json_pack("{s:I,s:o}", "transactionId", tx, "idTagInfo",
                              id_tag_info(ok ? "Accepted" : status)));
    } else {
        send_result(cp, cp->auth_id, "Authorize",
                    json_pack("{s:o}", "idTagInfo", id_tag_info(status)));
    }
    cp->auth_id[0] = '\0';
    cp->auth_start = false;
}

/* A driver authorised at another connector than the one the charger
 * starts on (an Authorize names no connector): that authorisation ends (0
 * Wh, cancelled) and this start asks Central at this connector. */
static void drop_elsewhere(gw_cp *ch, gw_cp *cp, const char *tag)
{
    for (int n = 1; n <= GW_CONN_MAX; n++) {
        gw_cp *o = n == 1 ? ch : ch->conns[n];
        if (!o || o == cp || o->sup == GW_SUP_SUPPLYING || o->sup == GW_SUP_NONE ||
            strcmp(o->driver, tag) != 0)
            continue;
        LOGC(o, EVC_LOG_INFO, "%s started on connector %d instead: this authorisation ends", tag,
             cp->conn);
        gw_bus_ended(o, 0, "cancelled");
    }
}

static json_t *on_start(gw_cp *ch, const char *id, const json_t *p)
{
    const char *tag = json_string_value(json_object_get(p, "idTag"));
    int64_t meter = json_integer_value(json_object_get(p, "meterStart"));
    gw_cp *cp = gw_conn_get(ch, (int)json_integer_value(json_object_get(p, "connectorId")), true);
    if (!cp || (cp != ch && cp->mon != GW_MON_OK)) {
        /* not served, or Central has not accepted its CP (yet) */
        LOGC(ch, EVC_LOG_WARN, "StartTransaction on connector %" JSON_INTEGER_FORMAT
                               " refused: its CP is not accepted by Central",
             json_integer_value(json_object_get(p, "connectorId")));
        return json_pack("{s:I,s:o}", "transactionId", ++ch->g->next_tx, "idTagInfo",
                         id_tag_info("Blocked"));
    }
    if (ch->g->connectors > 1 && cp->sup == GW_SUP_NONE)
        drop_elsewhere(ch, cp, tag);
    if (cp->sup == GW_SUP_AUTHORISED && strcmp(tag, cp->driver) == 0) {
        json_int_t tx = start_supply(cp, meter);
        return json_pack("{s:I,s:o}", "transactionId", tx, "idTagInfo", id_tag_info("Accepted"));
    }
    if (cp->sup == GW_SUP_SUPPLYING && strcmp(tag, cp->driver) == 0 && meter == cp->meter_start) {
        /* The same start again: its answer was lost with the connection and
         * the charger repeats it (OCPP 1.6 queues transaction messages). A
         * new id would be Invalid to it and orphan the transaction we bill. */
        LOGC(cp, EVC_LOG_INFO, "StartTransaction repeated: transaction %" PRId64 " again",
             cp->tx_id);
        return json_pack("{s:I,s:o}", "transactionId", (json_int_t)cp->tx_id, "idTagInfo",
                         id_tag_info("Accepted"));
    }
    if (cp->sup == GW_SUP_NONE && evc_id_valid(tag) && !cp->inoperative && !gw_cp_faulted(cp) &&
        !auth_waiting(ch)) {
        /* A start nobody authorised through the gateway (the charger started
         * offline, or from its local list): the idTag is the driver, as for
         * Authorize -- a supply.request at this CP, answered when Central's
         * cp.authorise for that driver arrives (Central's checks), Invalid
         * when none comes within call_timeout_ms. */
        LOGC(cp, EVC_LOG_INFO, "StartTransaction for %s without an authorisation here: asking "
                               "Central",
             tag);
        snprintf(cp->auth_id, sizeof cp->auth_id, "%s", id);
        snprintf(cp->auth_driver, sizeof cp->auth_driver, "%s", tag);
        cp->auth_deadline_ms = evc_loop_now_ms(cp->g->loop) + (uint64_t)cp->g->call_timeout_ms;
        cp->auth_start = true;
        cp->auth_meter_start = meter;
        gw_bus_request(cp, tag);
        return NULL;
    }
    const char *status = cp->sup != GW_SUP_NONE && strcmp(tag, cp->driver) != 0 ? "ConcurrentTx"
                         : cp->inoperative || gw_cp_faulted(cp)               ? "Blocked"
                                                                               : "Invalid";
    LOGC(cp, EVC_LOG_WARN, "StartTransaction for %s refused: %s", tag, status);
    return json_pack("{s:I,s:o}", "transactionId", ++cp->g->next_tx, "idTagInfo",
                     id_tag_info(status));
}

/* Energy (Wh, from the register) and power (W) of a MeterValues sample, -1
 * when absent. The measurand defaults to Energy.Active.Import.Register and
 * the unit to Wh (OCPP 1.6 SampledValue). */
static void read_sample(const json_t *mv, int64_t *wh, int64_t *w)
{
    size_t i, j;
    json_t *v, *s;
    json_array_foreach(mv, i, v) {
        json_array_foreach(json_object_get(v, "sampledValue"), j, s) {
            const char *m = json_string_value(json_object_get(s, "measurand"));
            const char *u = json_string_value(json_object_get(s, "unit"));
            const char *val = json_string_value(json_object_get(s, "value"));
            char *end = NULL;
            double x = strtod(val, &end);
            if (end == val || *end)
                continue;
            bool kilo = u && u[0] == 'k';
            if (!m || strcmp(m, "Energy.Active.Import.Register") == 0)
                *wh = (int64_t)(kilo ? x * 1000.0 : x);
            else if (strcmp(m, "Power.Active.Import") == 0)
                *w = (int64_t)(kilo ? x * 1000.0 : x);
        }
    }
}

static json_t *on_meter(gw_cp *ch, const json_t *p)
{
    json_int_t tx = json_integer_value(json_object_get(p, "transactionId"));
    int64_t reg = -1, w = -1;
    read_sample(json_object_get(p, "meterValue"), &reg, &w);
    gw_cp *cp = gw_conn_by_tx(ch, tx); /* the connector whose transaction it is */
    if (cp && reg >= cp->meter_start) {
        cp->last_wh = reg - cp->meter_start;
        gw_bus_telemetry(cp, cp->last_wh, w < 0 ? 0 : w);
    }
    return json_object();
}

static const char *our_reason(gw_cp *cp, const char *ocpp)
{
    if (!ocpp || strcmp(ocpp, "Local") == 0 || strcmp(ocpp, "EVDisconnected") == 0)
        return "unplugged";
    if (strcmp(ocpp, "Remote") == 0)
        return cp->end_reason[0] ? cp->end_reason : "cancelled";
    if (strcmp(ocpp, "EmergencyStop") == 0 || strcmp(ocpp, "PowerLoss") == 0)
        return "fault";
    if (strcmp(ocpp, "SoftReset") == 0 || strcmp(ocpp, "HardReset") == 0)
        return "reset"; /* Central's reset (or the charger's own reboot) */
    if (strcmp(ocpp, "DeAuthorized") == 0)
        return "cancelled";
    return "unplugged";
}

static json_t *on_stop(gw_cp *ch, const json_t *p)
{
    json_int_t tx = json_integer_value(json_object_get(p, "transactionId"));
    int64_t stop = json_integer_value(json_object_get(p, "meterStop"));
    gw_cp *cp = gw_conn_by_tx(ch, tx);
    if (cp) {
        /* meterStop is the register the spec bills from; some chargers send 0
         * (below meterStart) there and the real register only in
         * transactionData, whose last energy sample then counts; failing
         * both, the last MeterValues reading. */
        int64_t reg = -1, w = -1;
        read_sample(json_object_get(p, "transactionData"), &reg, &w);
        int64_t wh = stop >= cp->meter_start  ? stop - cp->meter_start
                     : reg >= cp->meter_start ? reg - cp->meter_start
                                              : cp->last_wh;
        gw_bus_ended(cp, wh, our_reason(cp, json_string_value(json_object_get(p, "reason"))));
    } else {
        LOGC(ch, EVC_LOG_WARN, "StopTransaction of unknown transaction %" JSON_INTEGER_FORMAT,
             tx);
    }
    return json_pack("{s:o}", "idTagInfo", id_tag_info("Accepted"));
}

static json_t *dispatch(gw_cp *cp, const char *id, const char *action, const json_t *p,
                        const char **code)
{
    if (strcmp(action, "BootNotification") == 0)
        return on_boot(cp, p);
    if (strcmp(action, "Heartbeat") == 0) {
        char now[32];
        now_iso(now);
        return json_pack("{s:s}", "currentTime", now);
    }
    if (strcmp(action, "StatusNotification") == 0)
        return on_status(cp, p);
    if (strcmp(action, "Authorize") == 0)
        return on_authorize(cp, id, p);
    if (strcmp(action, "StartTransaction") == 0)
        return on_start(cp, id, p);
    if (strcmp(action, "MeterValues") == 0)
        return on_meter(cp, p);
    if (strcmp(action, "StopTransaction") == 0)
        return on_stop(cp, p);
    if (strcmp(action, "DataTransfer") == 0)
        return json_pack("{s:s}", "status", "UnknownVendorId");
    *code = "NotSupported";
    return NULL;
}

static void on_call(gw_cp *cp, const char *id, const json_t *frame)
{
    const char *action = json_string_value(json_array_get(frame, 2));
    const json_t *payload = json_array_get(frame, 3);
    if (json_array_size(frame) != 4 || !action) {
        send_error(cp, id, "FormationViolation", "a CALL is [2, id, action, payload]");
        return;
    }
    char why[256];
    const char *code = gw_schema_check(cp->g, action, true, payload, why, sizeof why);
    if (code) {
        send_error(cp, id, code, why);
        return;
    }
    if (!cp->booted && strcmp(action, "BootNotification") != 0) {
        /* OCPP 1.6 section 4.2: nothing before an accepted BootNotification. */
        send_error(cp, id, "SecurityError", "BootNotification not accepted yet");
        return;
    }
    code = NULL;
    json_t *res = dispatch(cp, id, action, payload, &code);
    if (!res && !code)
        return; /* answered later (Authorize or StartTransaction waiting for Central) */
    if (!res) {
        snprintf(why, sizeof why, "%s is not supported by this gateway", action);
        send_error(cp, id, code, why);
        return;
    }
    send_result(cp, id, action, res);
}

/* ---- our calls ------------------------------------------------------------ */

static void call_clear(gw_call *c)
{
    free(c->text);
    memset(c, 0, sizeof *c);
}

static void pump(gw_cp *cp)
{
    if (cp->out.kind != GW_CALL_NONE || cp->qlen == 0 || !cp->ws)
        return;
    cp->out = cp->q[cp->qhead];
    memset(&cp->q[cp->qhead], 0, sizeof cp->q[0]);
    cp->qhead = (cp->qhead + 1) % GW_CALLQ;
    cp->qlen--;
    /* the id is the text's second element: kept to match the answer */
    json_t *f = json_loads(cp->out.text, 0, NULL);
    snprintf(cp->out_id, sizeof cp->out_id, "%s", json_string_value(json_array_get(f, 1)));
    json_decref(f);
    cp->out_deadline_ms = evc_loop_now_ms(cp->g->loop) + (uint64_t)cp->g->call_timeout_ms;
    evc_web_ws_send(cp->ws, cp->out.text, strlen(cp->out.text));
}

int gw_ocpp_call(gw_cp *conn, gw_call_kind kind, const char *action, json_t *payload,
                 const char *session)
{
    gw_cp *cp = gw_charger(conn); /* the charger's queue; the result goes to conn */
    char why[256];
    const char *code = gw_schema_check(cp->g, action, true, payload, why, sizeof why);
    if (code || cp->qlen == GW_CALLQ || !cp->ws) {
        LOGC(cp, EVC_LOG_WARN, "%s not sent: %s", action,
             code ? why : cp->ws ? "too many calls waiting" : "charger not connected");
        json_decref(payload);
        return code ? EVC_EINVAL : EVC_EAGAIN;
    }
    char id[GW_MSGID_MAX];
    snprintf(id, sizeof id, "gw-%u", ++cp->next_msg);
    gw_call *c = &cp->q[(cp->qhead + cp->qlen) % GW_CALLQ];
    c->kind = kind;
    c->conn = conn->conn;
    snprintf(c->action, sizeof c->action, "%s", action);
    snprintf(c->session, sizeof c->session, "%s", session ? session : "");
    json_t *frame = json_pack("[i,s,s,o]", 2, id, action, payload); /* steals payload */
    c->text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    json_decref(frame);
    if (!c->text)
        return EVC_ENOMEM;
    cp->qlen++;
    pump(cp);
    return EVC_OK;
}

/* The outstanding call ended: accepted is its result's status (false for a
 * CALLERROR, a timeout or a result that failed its schema); status the
 * result's status field (NULL for the others). */
static void call_done(gw_cp *cp, bool accepted, const char *why, const char *status)
{
    gw_call c = cp->out;
    memset(&cp->out, 0, sizeof cp->out);
    cp->out_id[0] = '\0';
    gw_cp *conn = gw_conn_find(cp, c.conn); /* NULL: its CP went meanwhile */
    bool scheduled = status && strcmp(status, "Scheduled") == 0;
    LOGC(conn ? conn : cp, accepted || scheduled ? EVC_LOG_INFO : EVC_LOG_WARN, "%s %s%s%s",
         c.action, accepted ? "accepted" : scheduled ? "answered" : "refused", why ? ": " : "",
         why ? why : "");
    if (c.kind == GW_CALL_REMOTE_START && conn)
        gw_bus_remote_start_result(conn, c.session, accepted, why ? why : "charger refused");
    if (c.kind == GW_CALL_AVAILABILITY && conn)
        gw_avail_answer(conn, status, accepted);
    free(c.text);
    pump(cp);
}

static void on_answer(gw_cp *cp, const char *id, const json_t *frame, bool error)
{
    if (cp->out.kind == GW_CALL_NONE || strcmp(id, cp->out_id) != 0) {
        LOGC(cp, EVC_LOG_WARN, "answer to unknown message %s dropped", id);
        return;
    }
    if (error) {
        char why[200];
        const char *ecode = json_string_value(json_array_get(frame, 2));
        const char *edesc = json_string_value(json_array_get(frame, 3));
        snprintf(why, sizeof why, "CALLERROR %s %s", ecode ? ecode : "?", edesc ? edesc : "");
        call_done(cp, false, why, NULL);
        return;
    }
    const json_t *p = json_array_get(frame, 2);
    char why[256];
    const char *code = gw_schema_check(cp->g, cp->out.action, false, p, why, sizeof why);
    if (code) {
        call_done(cp, false, why, NULL);
        return;
    }
    const char *status = json_string_value(json_object_get(p, "status"));
    call_done(cp, status && strcmp(status, "Accepted") == 0, status, status);
}

void gw_ocpp_tick(gw_cp *cp, uint64_t now_ms)
{
    if (cp->auth_id[0] && now_ms >= cp->auth_deadline_ms)
        gw_ocpp_authorize_done(cp, "Invalid"); /* Central denied (the driver was told why) */
    if (cp->out.kind != GW_CALL_NONE && now_ms >= cp->out_deadline_ms)
        call_done(cp, false, "no answer in time", NULL);
}

void gw_ocpp_drop_calls(gw_cp *cp)
{
    if (cp->out.kind != GW_CALL_NONE)
        call_done(cp, false, "charger disconnected", NULL);
    while (cp->qlen) {
        call_clear(&cp->q[cp->qhead]);
        cp->qhead = (cp->qhead + 1) % GW_CALLQ;
        cp->qlen--;
    }
}

/* ---- frames ----------------------------------------------------------------- */

void gw_ocpp_on_message(gw_cp *cp, const char *data, size_t len)
{
    json_error_t je;
    json_t *f = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!f) {
        /* No id can be read: "-1", as OCPP-J implementations answer. */
        send_error(cp, "-1", "FormationViolation", "not JSON");
        return;
    }
    const char *id = json_string_value(json_array_get(f, 1));
    json_int_t type = json_is_integer(json_array_get(f, 0)) ? json_integer_value(json_array_get(f, 0))
                                                           : 0;
    if (!json_is_array(f) || !id || strlen(id) >= GW_MSGID_MAX) {
        send_error(cp, id && strlen(id) < GW_MSGID_MAX ? id : "-1", "FormationViolation",
                   "a message is [type, id (a string of at most 36), ...]");
    } else if (type == 2) {
        on_call(cp, id, f);
    } else if (type == 3 && json_array_size(f) == 3) {
        on_answer(cp, id, f, false);
    } else if (type == 4 && json_array_size(f) == 5) {
        on_answer(cp, id, f, true);
    } else {
        send_error(cp, id, "ProtocolError", "unknown message type or wrong number of elements");
    }
    json_decref(f);
}
