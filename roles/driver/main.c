/* EV_Driver: the driver's app. */
#include <stdlib.h>

#include "evc/app.h"
#include "evc/log.h"

static const evc_cfg_field DRIVER_SCHEMA[] = {
    {.key = "id", .type = EVC_CFG_STRING, .help = "driver (client) id (second argument)"},
    {.key = "services_file", .type = EVC_CFG_STRING,
     .help = "file of CP ids to request in turn (third argument)"},
    {0},
};

static const evc_role_positional DRIVER_POSITIONALS[] = {
    {.name = "bus_endpoint", .config_path = "transport.endpoint", .required = true,
     .help = "event bus host:port"},
    {.name = "driver_id", .config_path = "driver.id", .required = true,
     .help = "your driver id, e.g. driver1"},
    {.name = "services_file", .config_path = "driver.services_file", .required = false,
     .help = "one CP id per line, requested in turn"},
    {0},
};

static int driver_start(void *state, evc_error *err)
{
    evc_app *app = state;
    const char *id = evc_cfg_get_str(evc_app_section(app), "id", "");
    evc_log(EVC_LOG_INFO, "driver", &(evc_log_ids){.driver = id},
            "bus ready; supply requests are not implemented yet (issue 6)");
    return EVC_OK;
}

static int driver_create(evc_app *app, void **state, evc_error *err)
{
    *state = app; /* no state of its own yet */
    return EVC_OK;
}

static const evc_role DRIVER_ROLE = {
    .program = "EV_Driver",
    .name = "driver",
    .summary = "EVCharging driver app: requests supplies, follows them live, shows tickets.",
    .positionals = DRIVER_POSITIONALS,
    .schema = DRIVER_SCHEMA,
    .instance_key = "driver.id",
    .needs_transport = true,
    .create = driver_create,
    .start = driver_start,
};

int main(int argc, char **argv) { return evc_app_main(&DRIVER_ROLE, argc, argv); }
