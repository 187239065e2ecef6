/* EV_CP_M: the charging point's health monitor. */
#include <stdlib.h>

#include "evc/addr.h"
#include "evc/app.h"
#include "evc/log.h"

static const evc_cfg_field MONITOR_SCHEMA[] = {
    {.key = "engine", .type = EVC_CFG_STRING, .help = "engine host:port (first argument)"},
    {.key = "central", .type = EVC_CFG_STRING, .help = "Central host:port (second argument)"},
    {.key = "cp_id", .type = EVC_CFG_STRING, .help = "this CP's id (third argument)"},
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

typedef struct monitor {
    evc_addr engine, central;
    const char *cp_id; /* borrowed from the config */
} monitor;

static int monitor_create(evc_app *app, void **state, evc_error *err)
{
    monitor *m = calloc(1, sizeof *m);
    if (!m)
        return evc_error_set(err, EVC_ENOMEM, "cp_monitor: out of memory");
    const evc_cfg_node *sec = evc_app_section(app);
    const evc_cfg_node *engine = evc_cfg_get(sec, "engine");
    const evc_cfg_node *central = evc_cfg_get(sec, "central");
    if ((engine && evc_addr_from_cfg(engine, "engine", 0, &m->engine, err) != EVC_OK) ||
        (central && evc_addr_from_cfg(central, "central", 0, &m->central, err) != EVC_OK)) {
        free(m);
        return err->code;
    }
    m->cp_id = evc_cfg_get_str(sec, "cp_id", "");
    *state = m;
    return EVC_OK;
}

static int monitor_start(void *state, evc_error *err)
{
    monitor *m = state;
    evc_log(EVC_LOG_INFO, "cp_monitor", &(evc_log_ids){.cp = m->cp_id},
            "engine %s:%u, Central %s:%u; links are not served yet (issue 5)", m->engine.host,
            m->engine.port, m->central.host, m->central.port);
    return EVC_OK;
}

static void monitor_destroy(void *state) { free(state); }

static const evc_role MONITOR_ROLE = {
    .program = "EV_CP_M",
    .name = "cp_monitor",
    .summary = "EVCharging charging-point monitor: authenticates its CP with Central and\n"
               "checks its engine's health every second.",
    .positionals = MONITOR_POSITIONALS,
    .schema = MONITOR_SCHEMA,
    .instance_key = "cp_monitor.cp_id",
    .create = monitor_create,
    .start = monitor_start,
    .destroy = monitor_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&MONITOR_ROLE, argc, argv); }
