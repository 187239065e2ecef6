/* EV_Central: the control centre. This file is the program's entry: the role
 * table for the core's program skeleton. */
#include <stdlib.h>

#include "central.h"
#include "evc/app.h"

static const evc_role_positional CENTRAL_POSITIONALS[] = {
    {.name = "listen_port", .config_path = "central.listen_port", .required = true,
     .help = "TCP port where CP monitors connect"},
    {.name = "bus_endpoint", .config_path = "transport.endpoint", .required = true,
     .help = "event bus host:port"},
    {.name = "db", .config_path = "store.database", .required = false,
     .help = "database path (SQLite file)"},
    {0},
};

static const evc_role_option CENTRAL_OPTIONS[] = {
    {.name = "db", .has_arg = true, .arg_name = "PATH", .config_path = "store.database",
     .help = "database path (same as the third argument)"},
    {.name = "init-db", .one_shot = true, .help = "create the database's schema, then exit (with --seed: add the "
                                "seed users and CPs)"},
    {.name = "seed", .help = "with --init-db: insert the seed data (docs/DATABASE.md)"},
    {.name = "force", .help = "with --init-db: wipe a database that already holds data"},
    {.name = "add-cp", .has_arg = true, .arg_name = "CP_ID", .one_shot = true,
     .help = "register (or update) a charging point, then exit; with --secret-file, "
             "--price-cents, --location, --max-w"},
    {.name = "secret-file", .has_arg = true, .arg_name = "PATH",
     .help = "with --add-cp: file whose first line is the CP's secret"},
    {.name = "price-cents", .has_arg = true, .arg_name = "N",
     .help = "with --add-cp: price in integer cents per kWh"},
    {.name = "location", .has_arg = true, .arg_name = "TEXT", .help = "with --add-cp: location"},
    {.name = "max-w", .has_arg = true, .arg_name = "W", .help = "with --add-cp: maximum power, watts"},
    {0},
};

static const evc_role CENTRAL_ROLE = {
    .program = "EV_Central",
    .name = "central",
    .summary = "EVCharging control centre: registers and supervises charging points,\n"
               "authorises supplies, bills them, serves the admin panel.",
    .positionals = CENTRAL_POSITIONALS,
    .options = CENTRAL_OPTIONS,
    .schema = central_schema,
    .needs_transport = true,
    .needs_store = true,
    /* Not a config key (the schema has none such, so it is never set): it
     * makes the app ask central_database_path for the path, which notes
     * whether the database exists before the store opens (and creates) it. */
    .database_key = "central.database_path",
    .default_database = central_database_path,
    .command = central_command,
    .create = central_create,
    .start = central_start,
    .stop = central_stop,
    .destroy = central_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&CENTRAL_ROLE, argc, argv); }
