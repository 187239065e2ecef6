/* EV_CP_M: the charging point's health monitor. Role table, config, options
 * and life cycle; the links are in monitor_central.c and monitor_engine.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/ids.h"
#include "evc/log.h"
#include "monitor.h"

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
    const char *id = evc_cfg_schema_str(sec, monitor_schema, "cp_id");
    if (!id)
        id = checking ? "CP_CHECK" : "";
    if (rc == EVC_OK && !evc_id_valid(id))
        rc = evc_error_set(err, EVC_ECONFIG,
                           "cp_monitor: CP id '%.80s' is not 1 to 64 of A-Z a-z 0-9 _ . -", id);
    if (rc == EVC_OK) {
        snprintf(c->cp_id, sizeof c->cp_id, "%s", id);
        monitor_cfg_read(c, sec);
        c->web = c->web_port != 0;
        const char *file = evc_app_option(app, "secret-file");
        const char *secret = evc_cfg_schema_str(sec, monitor_schema, "secret");
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
    .schema = monitor_schema,
    .instance_key = "cp_monitor.cp_id",
    .create = monitor_create,
    .start = monitor_start,
    .stop = monitor_stop,
    .destroy = monitor_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&MONITOR_ROLE, argc, argv); }
