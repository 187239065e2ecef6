/* EV_OCPP_GW: the OCPP 1.6J gateway. Role table, config, the WebSocket
 * server (the core's web bridge: channel "/ocpp/ *" with subprotocol
 * ocpp1.6) and the life of each charger's gw_cp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/addr.h"
#include "evc/ids.h"
#include "evc/log.h"
#include "gw.h"

#define TICK_MS 1000

static const evc_cfg_field GW_SCHEMA[] = {
    {.key = "host", .type = EVC_CFG_STRING, .default_text = "0.0.0.0",
     .help = "address the OCPP WebSocket server listens on (chargers connect to "
             "ws://host:port/ocpp/<CP_ID>)"},
    {.key = "port", .type = EVC_CFG_INT, .min = 0, .max = 65535, .default_text = "8180",
     .help = "the OCPP WebSocket port (--port; 0 = chosen by the system, logged)"},
    {.key = "central", .type = EVC_CFG_STRING, .default_text = "127.0.0.1:7001",
     .help = "Central's monitor port, host:port (first argument; a name, an IPv4 address or "
             "[IPv6]:port): each charger gets "
             "a monitor link there, as EV_CP_M"},
    {.key = "call_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 600000,
     .default_text = "30000",
     .help = "a CALL to a charger (RemoteStartTransaction, ...) without an answer this long "
             "has failed"},
    {.key = "heartbeat_interval_s", .type = EVC_CFG_INT, .min = 1, .max = 86400,
     .default_text = "60",
     .help = "Heartbeat interval given to chargers in BootNotification.conf (Central's "
             "view of the charger's health comes from the WebSocket, not from it)"},
    {.key = "state_file", .type = EVC_CFG_STRING, .default_text = "ocpp-gateway-state.json",
     .help = "transactions in progress and supply.ended reports Central has not "
             "acknowledged, written at each start, end and acknowledgement and read at start, "
             "so that a StopTransaction after a reconnect or a gateway restart, or answered just "
             "before a crash, is billed once; \"\" = not persisted (a restart forgets them)"},
    {.key = "max_pending", .type = EVC_CFG_INT, .min = 1, .max = 100000, .default_text = "64",
     .help = "connections whose password Central has not yet accepted, at most (each costs a "
             "key derivation); more upgrades are refused until some are decided"},
    {.key = "tls_cert", .type = EVC_CFG_STRING, .default_text = "",
     .help = "PEM certificate (chain) file: with tls_key the port speaks only wss:// (OCPP "
             "security profile 2: TLS plus the Basic password); empty = plain ws://"},
    {.key = "tls_key", .type = EVC_CFG_STRING, .default_text = "",
     .help = "PEM private key file of tls_cert"},
    {.key = "tls_client_ca", .type = EVC_CFG_STRING, .default_text = "",
     .help = "PEM file of the CA certificate(s) that sign the chargers' client certificates "
             "(OCPP security profile 3; needs tls_cert/tls_key): every charger must present a "
             "certificate it signed whose subject CommonName is the CP id of its URL, and the "
             "CP's secret comes from secrets_dir (a Basic password is ignored); empty = "
             "profiles 1/2"},
    {.key = "secrets_dir", .type = EVC_CFG_STRING, .default_text = "",
     .help = "with tls_client_ca: directory (mode 0700) of the CPs' secrets, one file "
             "<CP_ID>.secret (mode 0600, the secret on its first line) per charger, read when "
             "it connects; the gateway proves the CP to Central with it"},
    {.key = "connectors", .type = EVC_CFG_INT, .min = 1, .max = GW_CONN_MAX, .default_text = "1",
     .help = "connectors per charger that are CPs of their own: connector 1 is the charger's CP "
             "<CP_ID>, connector n (2..this) the CP <CP_ID>.<n>, registered at Central with the "
             "charger's secret, appearing when the charger first reports it; each runs its own "
             "supply. 1 = a charger is one CP whatever its connectors (one transaction at a time, "
             "any Faulted connector makes it BROKEN). Lowered below a connector with a transaction "
             "in state_file: that connector's CP is served until the transaction's end is billed, "
             "then no more"},
    {.key = "open_registration", .type = EVC_CFG_BOOL, .default_text = "false",
     .help = "a charger unknown to Central (or known without a secret) is registered with its "
             "password when Central runs with central.registration: open (trust on first use: "
             "whoever connects first with an id owns it; the password itself never crosses to "
             "Central, only its argon2id string); false = chargers must be registered at Central "
             "first"},
    {.key = "price_cents_per_kwh", .type = EVC_CFG_INT, .min = 0, .max = 100000,
     .default_text = "35",
     .help = "price sent in AUTH (Central keeps the price it has for a known CP)"},
    {0},
};

static const evc_role_positional GW_POSITIONALS[] = {
    {.name = "central_host:port", .config_path = "ocpp_gateway.central",
     .help = "where Central listens for monitors"},
    {0},
};

static const evc_role_option GW_OPTIONS[] = {
    {.name = "port", .has_arg = true, .arg_name = "N", .config_path = "ocpp_gateway.port",
     .help = "the OCPP WebSocket port"},
    {0},
};

gw_cp *gw_cp_find(gw *g, const char *id)
{
    for (gw_cp *cp = g->cps; cp; cp = cp->next)
        if (!cp->closing && !cp->challenger && strcmp(cp->id, id) == 0)
            return cp;
    return NULL;
}

void gw_cp_free(gw_cp *cp)
{
    gw *g = cp->g;
    for (gw_cp **pp = &g->cps; *pp; pp = &(*pp)->next)
        if (*pp == cp) {
            *pp = cp->next;
            break;
        }
    if (cp->parent && cp->parent->conns[cp->conn] == cp)
        cp->parent->conns[cp->conn] = NULL;
    gw_ocpp_drop_calls(cp);
    evc_frame_decoder_free(cp->dec);
    gw_bus_adopt(cp); /* unacknowledged ends go on without the charger */
    evc_sealer_free(cp->sealer);
    explicit_bzero(cp, sizeof *cp);
    free(cp);
}

/* The charger's WebSocket went (or is replaced): its CP leaves Central's
 * view through the heartbeat timeout (DISCONNECTED). A supply in progress is
 * not ended here: it is parked (gw_state.c) and the charger's
 * StopTransaction after a reconnect ends it; its unacknowledged ends stay in
 * the gateway's outbox (g->ends), not in the gw_cp. */
static void cp_detach(gw_cp *cp)
{
    gw *g = cp->g; /* gw_link_close may free cp */
    if (cp->ws)
        evc_web_client_set_user(cp->ws, NULL);
    cp->ws = NULL;
    gw_ocpp_drop_calls(cp);
    gw_conn_detach_all(cp); /* its connectors' CPs go with it */
    gw_state_park(cp);
    gw_link_close(cp);
    gw_state_save(g);
}

static void throttle_key(char *buf, size_t cap, const char *id, const char *peer)
{
    snprintf(buf, cap, "%s@%s", id, peer);
}

void gw_cp_denied(gw_cp *cp)
{
    char key[GW_ID_MAX + 72];
    uint64_t now = evc_loop_now_ms(cp->g->loop);
    throttle_key(key, sizeof key, cp->id, cp->peer);
    evc_web_throttle_fail(cp->g->denied, key, now);
    evc_web_throttle_fail(cp->g->denied_peer, cp->peer, now);
}

void gw_cp_accepted(gw_cp *cp)
{
    char key[GW_ID_MAX + 72];
    throttle_key(key, sizeof key, cp->id, cp->peer);
    evc_web_throttle_ok(cp->g->denied, key);
}

void gw_cp_take_over(gw_cp *cp)
{
    if (!cp->challenger)
        return;
    gw_cp *old = gw_cp_find(cp->g, cp->id);
    cp->challenger = false;
    if (old) {
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = cp->id},
                "new connection from %s accepted: it replaces the one from %s", cp->peer,
                old->peer);
        if (old->ws)
            evc_web_ws_close(old->ws, 1000, "replaced by a new connection");
        cp_detach(old);
    }
    gw_state_restore(cp);
}

static size_t pending_count(const gw *g)
{
    size_t n = 0;
    for (const gw_cp *cp = g->cps; cp; cp = cp->next)
        n += !cp->closing && !cp->parent && cp->mon != GW_MON_OK;
    return n;
}

/* Profile 3: the certificate the TLS handshake verified names the CP of the
 * path, and the operator gave the gateway that CP's secret. */
static bool guard_cert(gw *g, const evc_web_request *req)
{
    const char *id = req->params[0];
    if (strcmp(req->tls_peer_cn, id) != 0) {
        evc_log(EVC_LOG_WARN, GW_LOG, NULL, "connection to %s from %s refused: its "
                                            "certificate names \"%s\", not that CP",
                req->path, req->peer, req->tls_peer_cn);
        return false;
    }
    char secret[256];
    evc_error err;
    int rc = gw_secret_read(g, id, secret, sizeof secret, &err);
    explicit_bzero(secret, sizeof secret);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_ERROR, GW_LOG, &(evc_log_ids){.cp = id},
                "connection from %s refused: %s", req->peer, err.msg);
    return rc == EVC_OK;
}

/* Security profile 1: Basic auth, user = the CP id of the path; profile 3:
 * the client certificate (guard_cert). The secret is checked by Central
 * (the monitor link's proof), not here. What each try
 * costs (a key derivation) is bounded: per CP id and peer, per peer, and the
 * tries in flight (max_pending). */
static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    (void)res;
    gw *g = arg;
    char user[GW_ID_MAX], pw[256];
    uint64_t now = evc_loop_now_ms(g->loop);
    char key[GW_ID_MAX + 72];
    if (req->nparams == 1) {
        throttle_key(key, sizeof key, req->params[0], req->peer);
        if (evc_web_throttle_wait(g->denied, key, now) > 0 ||
            evc_web_throttle_wait(g->denied_peer, req->peer, now) > 0) {
            EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = req->params[0]},
                            "connection from %s refused: too many denied passwords, wait",
                            req->peer);
            return false;
        }
    }
    if (pending_count(g) >= (size_t)g->max_pending) {
        EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, NULL,
                        "connection to %s from %s refused: %lld connections already wait for "
                        "Central's answer (ocpp_gateway.max_pending)",
                        req->path, req->peer, (long long)g->max_pending);
        return false;
    }
    if (*g->tls_client_ca)
        return req->nparams == 1 && evc_id_valid(req->params[0]) && guard_cert(g, req);
    bool ok = req->nparams == 1 && evc_id_valid(req->params[0]) &&
              evc_web_basic_auth(req->authorization, user, sizeof user, pw, sizeof pw) &&
              strcmp(user, req->params[0]) == 0 && pw[0];
    explicit_bzero(pw, sizeof pw);
    if (!ok)
        evc_log(EVC_LOG_WARN, GW_LOG, NULL, "connection to %s from %s refused: no Basic auth "
                                            "naming that CP",
                req->path, req->peer);
    return ok;
}

static void on_open(evc_web *web, evc_web_client *c, void *arg)
{
    (void)web;
    gw *g = arg;
    const char *id = evc_web_client_param(c, 0);
    char user[GW_ID_MAX];
    gw_cp *cp = calloc(1, sizeof *cp);
    if (!cp) {
        evc_web_ws_close(c, 1011, "out of memory");
        return;
    }
    evc_error err = {0};
    /* Profile 3: the guard checked the name and saw the file a moment ago
     * (checked again: the file may have gone). */
    bool ok = *g->tls_client_ca
                  ? strcmp(evc_web_client_tls_cn(c), id) == 0 &&
                        gw_secret_read(g, id, cp->secret, sizeof cp->secret, &err) == EVC_OK
                  : evc_web_basic_auth(evc_web_client_authorization(c), user, sizeof user,
                                       cp->secret, sizeof cp->secret);
    if (!ok) {
        if (*g->tls_client_ca)
            evc_log(EVC_LOG_ERROR, GW_LOG, &(evc_log_ids){.cp = id}, "%s",
                    err.msg[0] ? err.msg : "its certificate does not name this CP");
        explicit_bzero(cp, sizeof *cp);
        free(cp);
        evc_web_ws_close(c, 1011, "no secret for this CP");
        return;
    }
    /* A reconnect replaces the connection the charger lost, once Central
     * accepts the password (gw_cp_take_over): not on the id alone. */
    gw_cp *had = gw_cp_find(g, id);
    if (had && had->parent) {
        evc_log(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = id},
                "connection from %s refused: %s is a connector of charger %s",
                evc_web_client_peer(c), id, had->parent->id);
        explicit_bzero(cp, sizeof *cp);
        free(cp);
        evc_web_ws_close(c, 1008, "this CP id is a connector of another charger");
        return;
    }
    cp->challenger = had != NULL;
    cp->conn = 1;
    cp->g = g;
    snprintf(cp->id, sizeof cp->id, "%s", id);
    snprintf(cp->peer, sizeof cp->peer, "%s", evc_web_client_peer(c));
    cp->ws = c;
    cp->next = g->cps;
    g->cps = cp;
    evc_web_client_set_user(c, cp);
    evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = id}, "charger connected from %s%s",
            cp->peer, cp->challenger ? " (a connection for this CP is open: this one replaces "
                                       "it once Central accepts its password)" : "");
    if (!cp->challenger)
        gw_state_restore(cp);
    gw_link_start(cp);
}

static void on_msg(evc_web *web, evc_web_client *c, const char *data, size_t len, void *arg)
{
    (void)web;
    (void)arg;
    gw_cp *cp = evc_web_client_user(c);
    if (cp)
        gw_ocpp_on_message(cp, data, len);
}

static void on_close(evc_web *web, evc_web_client *c, void *arg)
{
    (void)web;
    (void)arg;
    gw_cp *cp = evc_web_client_user(c);
    if (!cp)
        return;
    evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = cp->id}, "charger disconnected");
    cp_detach(cp);
}

static void on_tick(evc_timer *t, void *arg)
{
    (void)t;
    gw *g = arg;
    uint64_t now = evc_loop_now_ms(g->loop);
    gw_conn_reap(g);
    gw_bus_resend_orphans(g, now);
    for (gw_cp *cp = g->cps; cp; cp = cp->next) {
        if (cp->closing)
            continue;
        gw_ocpp_tick(cp, now);
        gw_bus_resend(cp, now, false);
        if (!cp->tcp_open)
            gw_link_start(cp); /* Central went away and back */
        else
            gw_link_heartbeat(cp);
    }
}

static int gw_create(evc_app *app, void **state, evc_error *err)
{
    gw *g = calloc(1, sizeof *g);
    if (!g)
        return evc_error_set(err, EVC_ENOMEM, "ocpp_gateway: out of memory");
    const evc_cfg_node *sec = evc_app_section(app);
    g->app = app;
    g->loop = evc_app_loop(app);
    g->uv = evc_loop_native(g->loop);
    snprintf(g->host, sizeof g->host, "%s", evc_cfg_schema_str(sec, GW_SCHEMA, "host"));
    g->port = (uint16_t)evc_cfg_schema_int(sec, GW_SCHEMA, "port");
    g->call_timeout_ms = evc_cfg_schema_int(sec, GW_SCHEMA, "call_timeout_ms");
    g->heartbeat_interval_s = evc_cfg_schema_int(sec, GW_SCHEMA, "heartbeat_interval_s");
    g->price_cents = evc_cfg_schema_int(sec, GW_SCHEMA, "price_cents_per_kwh");
    g->tls_cert = evc_cfg_schema_str(sec, GW_SCHEMA, "tls_cert");
    g->tls_key = evc_cfg_schema_str(sec, GW_SCHEMA, "tls_key");
    g->tls_client_ca = evc_cfg_schema_str(sec, GW_SCHEMA, "tls_client_ca");
    g->secrets_dir = evc_cfg_schema_str(sec, GW_SCHEMA, "secrets_dir");
    g->max_pending = evc_cfg_schema_int(sec, GW_SCHEMA, "max_pending");
    g->connectors = evc_cfg_schema_int(sec, GW_SCHEMA, "connectors");
    g->open_registration = evc_cfg_schema_bool(sec, GW_SCHEMA, "open_registration");
    /* per CP id and peer: 3 denials, then 1 s doubling up to a minute */
    g->denied = evc_web_throttle_new(1024, 3, 1000, 60000);
    /* one peer, any ids: 10 denials, then the same doubling wait */
    g->denied_peer = evc_web_throttle_new(1024, 10, 1000, 60000);
    if (!g->denied || !g->denied_peer) {
        evc_web_throttle_free(g->denied);
        evc_web_throttle_free(g->denied_peer);
        free(g);
        return evc_error_set(err, EVC_ENOMEM, "ocpp_gateway: out of memory");
    }
    evc_addr central;
    const evc_cfg_node *cn = evc_cfg_get(sec, "central");
    int rc = cn ? evc_addr_from_cfg(cn, "central", 0, &central, err)
                : evc_addr_parse(evc_cfg_schema_str(sec, GW_SCHEMA, "central"), 0, &central, err);
    if (rc == EVC_OK) {
        snprintf(g->central_host, sizeof g->central_host, "%s", central.host);
        g->central_port = central.port;
    }
    if (rc == EVC_OK && *g->tls_client_ca)
        rc = gw_secret_check_dir(g, err);
    if (rc == EVC_OK) {
        rc = gw_schema_load(g, err);
    }
    if (rc != EVC_OK) {
        gw_schema_free(g);
        evc_web_throttle_free(g->denied);
        evc_web_throttle_free(g->denied_peer);
        free(g);
        return rc;
    }
    /* Transaction ids unique across restarts: the clock, and past the
     * ones in the state file. */
    g->next_tx = (int64_t)(evc_wall_ms() / 1000u) % 1000000000;
    snprintf(g->state_file, sizeof g->state_file, "%s",
             evc_cfg_schema_str(sec, GW_SCHEMA, "state_file"));
    rc = gw_state_load(g, err);
    if (rc != EVC_OK) {
        gw_state_free(g);
        gw_schema_free(g);
        evc_web_throttle_free(g->denied);
        evc_web_throttle_free(g->denied_peer);
        free(g);
        return rc;
    }
    *state = g;
    return EVC_OK;
}

static int gw_start(void *state, evc_error *err)
{
    gw *g = state;
    int rc = gw_bus_start(g, err);
    if (rc != EVC_OK)
        return rc;
    static const char *const subprotocols[] = {"ocpp1.6", NULL};
    evc_web_opts o = {.struct_size = sizeof o, .host = g->host, .port = g->port,
                      .ws_subprotocols = subprotocols, .tls_cert = g->tls_cert,
                      .tls_key = g->tls_key, .tls_client_ca = g->tls_client_ca};
    rc = evc_web_start(g->loop, &o, &g->web, err);
    if (rc != EVC_OK)
        return rc;
    evc_web_set_guard(g->web, guard, g);
    evc_web_ws_channel_opts co = {.struct_size = sizeof co, .path = "/ocpp/*",
                                  .subprotocol = "ocpp1.6", .on_open = on_open,
                                  .on_message = on_msg, .on_close = on_close, .arg = g};
    rc = evc_web_ws_channel_ex(g->web, &co, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(g->loop, TICK_MS, TICK_MS, on_tick, g, &g->tick, err);
    if (rc != EVC_OK)
        return rc;
    evc_log(EVC_LOG_INFO, GW_LOG, NULL,
            "OCPP 1.6J at %s://%s:%u/ocpp/<CP_ID>%s, Central %s:%u", *g->tls_cert ? "wss" : "ws",
            g->host, evc_web_port(g->web),
            *g->tls_client_ca ? " (client certificates, security profile 3)" : "",
            g->central_host, g->central_port);
    /* Scripts and tests read the port from this line (port 0). */
    printf("EV_OCPP_GW listening on port %u\n", evc_web_port(g->web));
    fflush(stdout);
    return EVC_OK;
}

static bool no_cps(void *arg) { return ((gw *)arg)->cps == NULL; }

static void gw_stop(void *state)
{
    gw *g = state;
    evc_timer_close(g->tick);
    g->tick = NULL;
    /* Closes every charger: on_close detaches each CP and closes its link. */
    evc_web_stop(g->web);
    g->web = NULL;
    /* from the head each time: closing a charger also frees its connectors' CPs */
    for (;;) {
        gw_cp *cp = g->cps;
        while (cp && cp->closing)
            cp = cp->next;
        if (!cp)
            break;
        if (!cp->parent)
            gw_conn_detach_all(cp);
        gw_link_close(cp);
    }
    /* The links' close callbacks free the CPs: wait for them (bounded). */
    evc_loop_run_until(g->loop, no_cps, g, 2000);
}

static void gw_destroy(void *state)
{
    gw *g = state;
    /* Links still closing are freed by their close callbacks, which the
     * app's loop runs before it ends; those left are freed here. */
    while (g->cps) {
        gw_cp *cp = g->cps;
        g->cps = cp->next;
        evc_frame_decoder_free(cp->dec);
        evc_sealer_free(cp->sealer);
            free(cp);
    }
    gw_schema_free(g);
    gw_bus_orphans_free(g, NULL);
    gw_state_free(g);
    evc_web_throttle_free(g->denied);
    evc_web_throttle_free(g->denied_peer);
    gw_bus_stop();
    free(g);
}

static const evc_role GW_ROLE = {
    .program = "EV_OCPP_GW",
    .name = "ocpp_gateway",
    .summary = "EVCharging OCPP 1.6J gateway: each charger connected at "
               "ws://host:port/ocpp/<CP_ID>\nis a CP at Central, as an EV_CP_E/EV_CP_M pair.",
    .positionals = GW_POSITIONALS,
    .options = GW_OPTIONS,
    .schema = GW_SCHEMA,
    .needs_transport = true,
    .create = gw_create,
    .start = gw_start,
    .stop = gw_stop,
    .destroy = gw_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&GW_ROLE, argc, argv); }
