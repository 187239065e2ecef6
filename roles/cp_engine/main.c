/* EV_CP_E: the charging point's engine (the charger itself). */
#include <stdlib.h>

#include "evc/addr.h"
#include "evc/app.h"
#include "evc/log.h"

static const evc_cfg_field ENGINE_SCHEMA[] = {
    {.key = "listen", .type = EVC_CFG_STRING,
     .help = "host:port where this engine's monitor connects (second argument)"},
    {0},
};

static const evc_role_positional ENGINE_POSITIONALS[] = {
    {.name = "bus_endpoint", .config_path = "transport.endpoint", .required = true,
     .help = "event bus host:port"},
    {.name = "listen_host:port", .config_path = "cp_engine.listen", .required = true,
     .help = "where the monitor reaches this engine"},
    {0},
};

typedef struct engine {
    evc_addr listen;
} engine;

static int engine_create(evc_app *app, void **state, evc_error *err)
{
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return evc_error_set(err, EVC_ENOMEM, "cp_engine: out of memory");
    const evc_cfg_node *listen = evc_cfg_get(evc_app_section(app), "listen");
    if (listen && evc_addr_from_cfg(listen, "listen", 0, &e->listen, err) != EVC_OK) {
        free(e);
        return err->code;
    }
    *state = e;
    return EVC_OK;
}

static int engine_start(void *state, evc_error *err)
{
    engine *e = state;
    evc_log(EVC_LOG_INFO, "cp_engine", NULL,
            "bus ready; the monitor link on %s:%u is not served yet (issue 5)", e->listen.host,
            e->listen.port);
    return EVC_OK;
}

static void engine_destroy(void *state) { free(state); }

static const evc_role ENGINE_ROLE = {
    .program = "EV_CP_E",
    .name = "cp_engine",
    .summary = "EVCharging charging-point engine: supplies energy, reports telemetry.",
    .positionals = ENGINE_POSITIONALS,
    .schema = ENGINE_SCHEMA,
    .instance_key = "cp_engine.listen",
    .needs_transport = true,
    .create = engine_create,
    .start = engine_start,
    .destroy = engine_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&ENGINE_ROLE, argc, argv); }
