/* EV_CP_M: the charging point's health monitor. Role table, config, options
 * and life cycle; the links are in monitor_central.c and monitor_engine.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/ids.h"
#include "evc/log.h"
#include "monitor.h"

static const evc_cfg_field MONITOR_SCHEMA[] = {
    {.key = "engine", .type = EVC_CFG_STRING, .help = "engine host:port (first argument)"},
    {.key = "central", .type = EVC_CFG_STRING, .help = "Central host:port (second argument)"},
    {.key = "cp_id", .type = EVC_CFG_STRING, .help = "this CP's id (third argument)"},
    {.key = "location", .type = EVC_CFG_STRING, .default_text = "Unknown location",
     .help = "location sent in AUTH (registers an unknown CP under Central's open policy)"},
    {.key = "price_cents_per_kwh", .type = EVC_CFG_INT, .min = 0, .max = 100000,
     .default_text = "35", .help = "price sent in AUTH, integer cents per kWh (--price-cents)"},
    {.key = "secret", .type = EVC_CFG_STRING, .default_text = "secret-<cp_id>",
     .help = "the CP's secret, proved to Central and to the engine without being sent "
             "(--secret-file wins; the default is the demo seed's: production sets its own)"},
    {.key = "health_interval_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "1000", .help = "PING the engine this often"},
    {.key = "health_timeout_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "2000", .help = "no PONG this long after a PING: engine UNREACHABLE"},
    {.key = "engine_grace_ms", .type = EVC_CFG_INT, .min = 0, .max = 600000,
     .default_text = "5000",
     .help = "at start, an engine that does not accept the connection yet is not reported "
             "UNREACHABLE (BROKEN at Central) before this; the CP stays DISCONNECTED meanwhile"},
    {.key = "heartbeat_interval_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "1000", .help = "HB to Central this often (and at once on a change)"},
    {.key = "backoff_min_ms", .type = EVC_CFG_INT, .min = 10, .max = 600000,
     .default_text = "250", .help = "first reconnection delay to Central or the engine"},
    {.key = "backoff_max_ms", .type = EVC_CFG_INT, .min = 10, .max = 600000,
     .default_text = "2000", .help = "reconnection delay cap (doubles up to it)"},
    {.key = "deny_retry_min_ms", .type = EVC_CFG_INT, .min = 10, .max = 3600000,
     .default_text = "2000", .help = "first re-AUTH delay after AUTH_DENIED"},
    {.key = "deny_retry_max_ms", .type = EVC_CFG_INT, .min = 10, .max = 3600000,
     .default_text = "30000", .help = "re-AUTH delay cap after repeated denials"},
    {.key = "web_port", .type = EVC_CFG_INT, .min = 0, .max = 65535, .default_text = "8003",
     .help = "the monitor dashboard's HTTP port (--web-port; 0 turns the page off; one port "
             "per monitor on a host: 8003, 8004, ...); a port in use stops the start"},
    {.key = "web_host", .type = EVC_CFG_STRING, .default_text = "127.0.0.1",
     .help = "address the dashboard listens on (read-only page without a login: keep it on "
             "127.0.0.1 unless the network is the technicians'; docs/WEB.md)"},
    {0},
};

static const evc_role_positional MONITOR_POSITIONALS[] = {
    {.name = "engine_host:port", .config_path = "cp_monitor.engine", .required = true,
     .help = "where this CP's engine listens"},
    {.name = "central_host:port", .config_path = "cp_monitor.central", .required = true,
     .help = "where Central listens for monitors"},
    {.name = "cp_id", .config_path = "cp_monitor.cp_id", .required = true,
     .help = "this charging point's id, e.g. CP_001"},
    {0},
};

static const evc_role_option MONITOR_OPTIONS[] = {
    {.name = "location", .has_arg = true, .arg_name = "TEXT",
     .config_path = "cp_monitor.location", .help = "the CP's location (registration)"},
    {.name = "price-cents", .has_arg = true, .arg_name = "N",
     .config_path = "cp_monitor.price_cents_per_kwh",
     .help = "the CP's price in integer cents per kWh (registration)"},
    {.name = "secret-file", .has_arg = true, .arg_name = "PATH",
     .help = "file whose first line is the CP's secret"},
    {.name = "web-port", .has_arg = true, .arg_name = "N", .config_path = "cp_monitor.web_port",
     .help = "the dashboard's port (0: no page)"},
    {0},
};

static int monitor_create(evc_app *app, void **state, evc_error *err)
{
    monitor *m = calloc(1, sizeof *m);
    if (!m)
        return evc_error_set(err, EVC_ENOMEM, "cp_monitor: out of memory");
    const evc_cfg_node *sec = evc_app_section(app);
    monitor_cfg *c = &m->cfg;
    const evc_cfg_node *engine = evc_cfg_get(sec, "engine");
    const evc_cfg_node *central = evc_cfg_get(sec, "central");
    int rc = EVC_OK;
    /* The three arguments are absent only under --check-config. */
    bool checking = evc_app_checking(app);
    if ((!engine || !central) && !checking)
        rc = evc_error_set(err, EVC_ECONFIG, "cp_monitor: engine and central addresses needed");
    if (rc == EVC_OK && engine)
        rc = evc_addr_from_cfg(engine, "engine", 0, &c->engine, err);
    if (rc == EVC_OK && central)
        rc = evc_addr_from_cfg(central, "central", 0, &c->central, err);
    const char *id = evc_cfg_get_str(sec, "cp_id", checking ? "CP_CHECK" : "");
    if (rc == EVC_OK && !evc_id_valid(id))
        rc = evc_error_set(err, EVC_ECONFIG,
                           "cp_monitor: CP id '%.80s' is not 1 to 64 of A-Z a-z 0-9 _ . -", id);
    if (rc == EVC_OK) {
        snprintf(c->cp_id, sizeof c->cp_id, "%s", id);
        snprintf(c->location, sizeof c->location, "%s",
                 evc_cfg_get_str(sec, "location", "Unknown location"));
        monitor_cfg_defaults(c);
        c->price_cents_per_kwh = evc_cfg_get_int(sec, "price_cents_per_kwh", c->price_cents_per_kwh);
        c->health_interval_ms = evc_cfg_get_int(sec, "health_interval_ms", c->health_interval_ms);
        c->health_timeout_ms = evc_cfg_get_int(sec, "health_timeout_ms", c->health_timeout_ms);
        c->heartbeat_interval_ms =
            evc_cfg_get_int(sec, "heartbeat_interval_ms", c->heartbeat_interval_ms);
        c->engine_grace_ms = evc_cfg_get_int(sec, "engine_grace_ms", c->engine_grace_ms);
        c->backoff_min_ms = evc_cfg_get_int(sec, "backoff_min_ms", c->backoff_min_ms);
        c->backoff_max_ms = evc_cfg_get_int(sec, "backoff_max_ms", c->backoff_max_ms);
        c->deny_retry_min_ms = evc_cfg_get_int(sec, "deny_retry_min_ms", c->deny_retry_min_ms);
        c->deny_retry_max_ms = evc_cfg_get_int(sec, "deny_retry_max_ms", c->deny_retry_max_ms);
        int64_t port = evc_cfg_get_int(sec, "web_port", c->web_port);
        c->web = port != 0;
        c->web_port = (uint16_t)port;
        const char *web_host = evc_cfg_get_str(sec, "web_host", NULL);
        if (web_host)
            snprintf(c->web_host, sizeof c->web_host, "%s", web_host);
        const char *file = evc_app_option(app, "secret-file");
        const char *secret = evc_cfg_get_str(sec, "secret", NULL);
        if (file)
            rc = evc_read_secret_file("--secret-file", file, c->secret, sizeof c->secret, err);
        else if (secret && *secret)
            snprintf(c->secret, sizeof c->secret, "%s", secret);
        else
            snprintf(c->secret, sizeof c->secret, "secret-%s", c->cp_id);
    }
    if (rc != EVC_OK) {
        free(m);
        return rc;
    }
    m->app = app;
    m->loop = evc_app_loop(app);
    m->tty = isatty(STDOUT_FILENO) == 1;
    *state = m;
    return EVC_OK;
}

static int monitor_start(void *state, evc_error *err)
{
    monitor *m = state;
    int rc = monitor_core_start(m, err);
    if (rc != EVC_OK)
        return rc;
    evc_log(EVC_LOG_INFO, "cp_monitor", &(evc_log_ids){.cp = m->cfg.cp_id},
            "engine %s:%u, Central %s:%u", m->cfg.engine.host, m->cfg.engine.port,
            m->cfg.central.host, m->cfg.central.port);
    monitor_say(m, NULL, "EV_CP_M %s: engine %s:%u, CENTRAL %s:%u", m->cfg.cp_id,
                m->cfg.engine.host, (unsigned)m->cfg.engine.port, m->cfg.central.host,
                (unsigned)m->cfg.central.port);
    return EVC_OK;
}

static void monitor_stop(void *state) { monitor_core_stop(state); }

static void monitor_destroy(void *state) { free(state); }

static const evc_role MONITOR_ROLE = {
    .program = "EV_CP_M",
    .name = "cp_monitor",
    .summary = "EVCharging charging-point monitor: authenticates its CP with Central and\n"
               "checks its engine's health every second; serves its dashboard (port 8003).",
    .positionals = MONITOR_POSITIONALS,
    .options = MONITOR_OPTIONS,
    .schema = MONITOR_SCHEMA,
    .instance_key = "cp_monitor.cp_id",
    .create = monitor_create,
    .start = monitor_start,
    .stop = monitor_stop,
    .destroy = monitor_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&MONITOR_ROLE, argc, argv); }
