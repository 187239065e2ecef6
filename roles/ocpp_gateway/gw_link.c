/* gw_link.c: a charger's monitor link to Central (docs/PROTOCOL.md M1), on
 * the SDK's CP session (evc/cplink.h, as tools/evc_loadgen does): AUTH,
 * CHALLENGE PROVE answered with the proof key K derived from the charger's
 * Basic password (argon2id on libuv's pool, one HMAC for fast params),
 * AUTH_OK checked for Central's MAC, then an HB every tick (main.c, one
 * second) with health OK, or KO while the charger reports Faulted. Closing
 * the session when the charger's WebSocket closes stops the HBs: Central
 * shows the CP DISCONNECTED after its heartbeat timeout. REGISTER (open
 * registration, Central's CHALLENGE REGISTER for an unknown CP) is answered
 * only with ocpp_gateway.open_registration: the argon2id string of the
 * charger's Basic password (made on the thread pool by the session), trust
 * on first use as for EV_CP_M; otherwise a charger must be known to Central
 * (docs/OCPP.md) and the session refuses it.
 */
#include <stdio.h>
#include <string.h>

#include "evc/log.h"
#include "gw.h"

#define LOGC(cp, lvl, ...) evc_log((lvl), GW_LOG, &(evc_log_ids){.cp = (cp)->id}, __VA_ARGS__)

static void on_event(evc_cplink *c, const evc_cplink_info *in, void *arg)
{
    (void)c;
    gw_cp *cp = arg;
    switch (in->event) {
    case EVC_CPLINK_EV_CONNECTED:
        cp->mon = GW_MON_AUTH;
        break;
    case EVC_CPLINK_EV_ACCEPTED:
        evc_cplink_proof_key(cp->link, cp->key); /* gw_bus.c derives the bus key from K */
        cp->mon = GW_MON_OK;
        gw_cp_accepted(cp);
        gw_cp_take_over(cp); /* a second connection for its id: now it is the charger's */
        cp->inoperative = in->admin_stopped;
        LOGC(cp, EVC_LOG_INFO, "accepted by Central");
        /* The session sends the first HB right after this returns: Central
         * derives ACTIVATED from it. */
        gw_bus_on_accepted(cp);
        gw_conn_revive(cp); /* connector CPs with a transaction or an end waiting */
        gw_avail_accepted(cp);
        break;
    case EVC_CPLINK_EV_DENIED:
        cp->mon = GW_MON_DENIED;
        if (!in->by_central)
            break; /* logged by the session; it tries again after its backoff */
        if (cp->parent) {
            /* The charger's password is right (its own CP was accepted):
             * the connector's CP is not registered with it. The charger and
             * its other connectors go on; the session asks again. */
            EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = cp->id},
                            "connector %d denied by Central (%s): register %s with the "
                            "charger's secret (EV_Central --add-cp %s --secret-file ...)",
                            cp->conn, in->text, cp->id, cp->id);
            break;
        }
        gw_cp_denied(cp);
        /* A wrong password: the charger is told (BootNotification Rejected)
         * and disconnected, as a refused Basic auth would be. This frees cp
         * (and closes the session): nothing after it. */
        if (cp->ws)
            evc_web_ws_close(cp->ws, 1008, "CP not accepted by Central");
        break;
    case EVC_CPLINK_EV_LOST:
        LOGC(cp, EVC_LOG_WARN, "link to Central lost: %s", in->text);
        cp->mon = GW_MON_CONNECTING; /* the session reconnects */
        break;
    case EVC_CPLINK_EV_CONNECT_FAILED:
        EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = cp->id}, "%s", in->text);
        cp->mon = GW_MON_CONNECTING;
        break;
    }
}

static const char *health(evc_cplink *c, void *arg)
{
    (void)c;
    return gw_cp_faulted(arg) ? "KO" : "OK";
}

void gw_link_heartbeat(gw_cp *cp)
{
    if (cp->mon != GW_MON_OK || !cp->link)
        return;
    evc_error err = {0};
    if (evc_cplink_heartbeat(cp->link, &err) != EVC_OK)
        LOGC(cp, EVC_LOG_DEBUG, "%s", err.msg);
}

void gw_link_start(gw_cp *cp)
{
    gw *g = cp->g;
    if (cp->link || cp->closing)
        return;
    char location[] = "OCPP charger";
    evc_cplink_opts o = {.struct_size = sizeof o,
                         .cp_id = cp->id,
                         .location = location,
                         .price_cents_per_kwh = g->price_cents,
                         .secret = cp->secret,
                         /* Central's registration: open, and ours (gw_link.c's
                          * header): the password becomes the CP's stored string */
                         .allow_register = g->open_registration && cp->secret[0],
                         .heartbeat_ms = 0}; /* the tick sends them (main.c) */
    evc_cplink_handlers h = {.on_event = on_event, .health = health};
    evc_error err = {0};
    if (evc_cplink_start(g->loop, g->central_host, g->central_port, &o, &h, cp, &cp->link, &err) !=
        EVC_OK) {
        LOGC(cp, EVC_LOG_ERROR, "%s", err.msg);
        return;
    }
    cp->tcp_open = true;
    cp->mon = GW_MON_CONNECTING;
}

void gw_link_close(gw_cp *cp)
{
    cp->closing = true;
    evc_cplink_close(cp->link); /* no callback after this */
    cp->link = NULL;
    cp->tcp_open = false;
    gw_cp_free(cp);
}
