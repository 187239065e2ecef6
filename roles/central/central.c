/* central.c: EV_Central's state and life cycle. The CP side (issue 5) and the
 * supply side (issue 6) plug in here. */
#include "central.h"

#include <stdio.h>
#include <stdlib.h>

#include "evc/log.h"
#include "initdb.h"

static const char *const PASSWORD_COSTS[] = {"interactive", "moderate", "min", NULL};

const evc_cfg_field central_schema[] = {
    {.key = "listen_port", .type = EVC_CFG_INT, .min = 1, .max = 65535,
     .help = "TCP port where CP monitors connect (first argument)"},
    {.key = "password_cost", .type = EVC_CFG_ENUM, .enum_values = PASSWORD_COSTS,
     .default_text = "interactive",
     .help = "argon2id cost of new password and secret hashes (min: tests only)"},
    {0},
};

typedef struct central {
    evc_app *app;
    int listen_port;
} central;

int central_command(evc_app *app)
{
    if (!evc_app_option(app, "init-db")) {
        if (evc_app_option(app, "seed") || evc_app_option(app, "force")) {
            fprintf(stderr, "EV_Central: --seed and --force only go with --init-db\n");
            return EVC_EXIT_USAGE;
        }
        return -1;
    }
    evc_password_cost cost = EVC_PASSWORD_COST_INTERACTIVE;
    evc_error err = {0};
    const char *cost_name = evc_cfg_get_str(evc_app_section(app), "password_cost", "interactive");
    if (evc_password_cost_parse(cost_name, &cost, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: %s\n", err.msg);
        return EVC_EXIT_CONFIG;
    }
    bool seed = evc_app_option(app, "seed") != NULL;
    bool force = evc_app_option(app, "force") != NULL;
    const char *db = evc_cfg_get_str(evc_cfg_get(evc_app_config_root(app), "store"), "database",
                                     "evcharging.db");
    if (central_init_db_cost(evc_app_store(app), seed, force, cost, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: database %s: %s\n", db, err.msg);
        return EVC_EXIT_FAILURE;
    }
    printf("EV_Central: database %s initialised%s%s\n", db, seed ? " with the seed data" : "",
           force ? " (previous data wiped)" : "");
    return EVC_EXIT_OK;
}

int central_create(evc_app *app, void **state, evc_error *err)
{
    central *c = calloc(1, sizeof *c);
    if (!c)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    c->app = app;
    c->listen_port = (int)evc_cfg_get_int(evc_app_section(app), "listen_port", 0);
    *state = c;
    return EVC_OK;
}

int central_start(void *state, evc_error *err)
{
    central *c = state;
    evc_log(EVC_LOG_INFO, "central", NULL,
            "bus and database ready; CP links on port %d are not served yet (issue 5)",
            c->listen_port);
    return EVC_OK;
}

void central_stop(void *state) { (void)state; }
void central_destroy(void *state) { free(state); }
