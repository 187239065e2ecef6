/* EV_Driver: the driver's app. `EV_Driver <bus_endpoint> <driver_id> [services_file]`
 *
 * This file: the role table, the `driver:` config section, and the life
 * cycle (create: read config, the services file and the password, before
 * the bus starts; start: the app on the bus). The logic is in driver_fsm.c, the bus in
 * driver_inbound.c / driver_app.c, stdin in driver_term.c. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver_app.h"
#include "driver_password.h"
#include "evc/app.h"
#include "evc/log.h"

static const evc_cfg_field DRIVER_SCHEMA[] = {
    {.key = "id", .type = EVC_CFG_STRING, .help = "driver (client) id (second argument)"},
    {.key = "services_file", .type = EVC_CFG_STRING,
     .help = "file of CP ids to request in turn (third argument)"},
    {.key = "password_file", .type = EVC_CFG_STRING,
     .help = "file whose first line is the password (--password-file)"},
    {.key = "password", .type = EVC_CFG_STRING,
     .help = "password in clear (prefer password_file or EVC_DRIVER_PASSWORD)"},
    {.key = "central_timeout_ms", .type = EVC_CFG_INT, .default_text = "3000",
     .help = "no central.heartbeat for this long: 'Unable to connect to CENTRAL'", .min = 100,
     .max = 3600000},
    {.key = "request_timeout_ms", .type = EVC_CFG_INT, .default_text = "10000",
     .help = "a request with no answer (or an ended supply with no ticket) for this long fails",
     .min = 100, .max = 3600000},
    {.key = "wait_between_ms", .type = EVC_CFG_INT, .default_text = "4000",
     .help = "pause after each supply of the services file ends, before the next (F12)",
     .min = 0, .max = 3600000},
    {.key = "exit_when_done", .type = EVC_CFG_BOOL, .default_text = "true",
     .help = "exit 0 after the services file's summary (false: stay interactive)"},
    {.key = "skip_unknown_cps", .type = EVC_CFG_BOOL, .default_text = "false",
     .help = "skip services-file ids missing from CENTRAL's driver.cps list (only safe when "
             "that list holds every CP, whatever its state)"},
    {.key = "web_port", .type = EVC_CFG_INT, .default_text = "8001",
     .help = "port of the driver's web page (--web-port; 0: no page); a second driver on the "
             "same host needs another port",
     .min = 0, .max = 65535},
    {.key = "web_host", .type = EVC_CFG_STRING, .default_text = "127.0.0.1",
     .help = "address the web page listens on (a personal app: loopback by default)"},
    {.key = "web_session_ttl_s", .type = EVC_CFG_INT, .default_text = "28800",
     .help = "a page login lasts this long (absolute, not extended by use)", .min = 60,
     .max = 2592000},
    {.key = "colour", .type = EVC_CFG_ENUM, .default_text = "auto",
     .enum_values = (const char *const[]){"auto", "always", "never", NULL},
     .help = "ANSI colours on stdout: auto = when stdout is a terminal"},
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

static const evc_role_option DRIVER_OPTIONS[] = {
    {.name = "password-file", .has_arg = true, .arg_name = "PATH",
     .config_path = "driver.password_file",
     .help = "read the password from the first line of PATH (keep it chmod 600)"},
    {.name = "web-port", .has_arg = true, .arg_name = "N", .config_path = "driver.web_port",
     .help = "port of the driver's web page (driver.web_port, default 8001; 0: no page)"},
    {0},
};

typedef struct driver_role {
    evc_app *app;
    driver_app_params params;
    driver_services services;
    bool has_services;
    char password[DRIVER_PASSWORD_MAX]; /* from create to start; wiped after */
    char web_dir[4096];                 /* the page's files; "" = none */
    driver_app *run;
} driver_role;

/* --log-level on the command line (main scans argv: the app skeleton does
 * not tell roles which options it parsed). */
static bool driver_log_level_given;

/* The driver's screen is its stdout, and people often leave stderr on the
 * same terminal: without --log-level or log.level, only warnings and errors
 * are logged (the other programs log at info). */
static void driver_default_log_level(evc_app *app)
{
    const evc_cfg_node *log = evc_cfg_get(evc_app_config_root(app), "log");
    if (!driver_log_level_given && !evc_cfg_get(log, "level") &&
        evc_log_get_level() > EVC_LOG_WARN)
        evc_log_set_level(EVC_LOG_WARN);
}

/* Resolves the password (prompting on the terminal if it comes to that)
 * before anything starts: a slow typist must not find the bus, CENTRAL's
 * liveness timer or a queue of messages running behind the prompt. */
static int driver_get_password(driver_role *r, evc_error *err)
{
    const evc_cfg_node *sec = evc_app_section(r->app);
    const char *id = r->params.fsm.driver_id;
    driver_password_sources src = {
        .file = evc_cfg_schema_str(sec, DRIVER_SCHEMA, "password_file"),
        .env = getenv("EVC_DRIVER_PASSWORD"),
        .config = evc_cfg_schema_str(sec, DRIVER_SCHEMA, "password"),
        .stdin_is_tty = r->params.in_is_tty,
        .driver_id = id,
    };
    char warn[512];
    driver_password_origin origin;
    int rc = driver_password_resolve(&src, r->password, sizeof r->password, &origin, warn,
                                     sizeof warn, err);
    if (rc != EVC_OK) {
        /* A source to fix is a config error (exit 3); an interrupted
         * prompt is not. */
        if (rc != EVC_ESTATE)
            err->code = rc = EVC_ECONFIG;
        return rc;
    }
    evc_log_ids ids = {.driver = id};
    if (*warn)
        evc_log(EVC_LOG_WARN, "driver", &ids, "%s", warn);
    if (origin == DRIVER_PW_NONE)
        evc_log(EVC_LOG_WARN, "driver", &ids,
                "no password given (--password-file, EVC_DRIVER_PASSWORD, driver.password, or "
                "a terminal to prompt on): CENTRAL will refuse the authentication");
    else
        evc_log(EVC_LOG_INFO, "driver", &ids, "password from %s",
                driver_password_origin_name(origin));
    return EVC_OK;
}

static void role_quit(void *arg, int code) { evc_app_quit(arg, code); }

static int driver_create(evc_app *app, void **state, evc_error *err)
{
    const evc_cfg_node *sec = evc_app_section(app);
    const char *id = evc_cfg_get_str(sec, "id", "");
    /* --check-config of a shared file runs without the positional id: a
     * missing id is only an error when the driver is to run. */
    if (!evc_id_valid(id) && (*id || !evc_app_checking(app)))
        return evc_error_set(err, EVC_ECONFIG,
                             "driver id '%.64s' is invalid (letters, digits, '_', '.', '-', "
                             "1 to 64)",
                             id);
    driver_role *r = calloc(1, sizeof *r);
    if (!r)
        return evc_error_set(err, EVC_ENOMEM, "driver: out of memory");
    r->app = app;
    const char *file = evc_cfg_get_str(sec, "services_file", "");
    if (*file) {
        int rc = driver_services_load(file, &r->services, err);
        if (rc != EVC_OK) {
            free(r);
            /* A services file that cannot be read is a configuration error
             * (exit 3), reported by --check-config too. */
            if (rc != EVC_ENOMEM)
                err->code = rc = EVC_ECONFIG;
            return rc;
        }
        r->has_services = true;
    }
    const char *colour = evc_cfg_schema_str(sec, DRIVER_SCHEMA, "colour");
    driver_app_params *p = &r->params;
    p->loop = evc_app_loop(app);
    p->bus = evc_app_bus(app);
    p->app = app;
    p->topic_in = evc_app_topic(app, EVC_TOPIC_CENTRAL_EVENTS);
    p->topic_out = evc_app_topic(app, EVC_TOPIC_DRIVER_EVENTS);
    p->fsm = (driver_fsm_config){
        .driver_id = id,
        .central_timeout_ms =
            (uint64_t)evc_cfg_schema_int(sec, DRIVER_SCHEMA, "central_timeout_ms"),
        .request_timeout_ms =
            (uint64_t)evc_cfg_schema_int(sec, DRIVER_SCHEMA, "request_timeout_ms"),
        .wait_between_ms = (uint64_t)evc_cfg_schema_int(sec, DRIVER_SCHEMA, "wait_between_ms"),
        .exit_when_done = evc_cfg_schema_bool(sec, DRIVER_SCHEMA, "exit_when_done"),
        .skip_unknown_cps = evc_cfg_schema_bool(sec, DRIVER_SCHEMA, "skip_unknown_cps"),
    };
    p->out = stdout;
    p->colour = strcmp(colour, "always") == 0 ||
                (strcmp(colour, "auto") == 0 && isatty(STDOUT_FILENO));
    p->in_fd = STDIN_FILENO;
    p->in_is_tty = isatty(STDIN_FILENO);
    p->services = r->has_services ? &r->services : NULL;
    p->quit = role_quit;
    p->quit_arg = app;
    p->web = (driver_web_params){
        .host = evc_cfg_schema_str(sec, DRIVER_SCHEMA, "web_host"),
        .port = (int)evc_cfg_schema_int(sec, DRIVER_SCHEMA, "web_port"),
        .session_ttl_s = (uint64_t)evc_cfg_schema_int(sec, DRIVER_SCHEMA, "web_session_ttl_s"),
    };
    if (p->web.port > 0 && !evc_app_checking(app)) {
        /* The page's files: a missing default folder costs the page only
         * (the API still serves); a wrong web.static_dir is an error. */
        bool explicit_dir = false;
        evc_error why = {0};
        if (evc_app_web_dir(app, "driver", r->web_dir, sizeof r->web_dir, &explicit_dir, &why) !=
            EVC_OK) {
            r->web_dir[0] = '\0';
            if (explicit_dir) {
                driver_services_free(&r->services);
                free(r);
                return evc_error_set(err, EVC_ECONFIG, "%s", why.msg);
            }
            evc_log(EVC_LOG_WARN, "driver", &(evc_log_ids){.driver = id},
                    "%s: the web page serves the API only", why.msg);
        }
        p->web.static_dir = r->web_dir;
    }
    driver_default_log_level(app);
    if (!evc_app_checking(app)) {
        int rc = driver_get_password(r, err);
        if (rc != EVC_OK) {
            driver_services_free(&r->services);
            free(r);
            return rc;
        }
    }
    *state = r;
    return EVC_OK;
}

static int driver_start(void *state, evc_error *err)
{
    driver_role *r = state;
    /* Only CENTRAL's sealed messages are heard (docs/SECURITY.md). */
    int rc = evc_app_trust_central(r->app, err);
    if (rc != EVC_OK)
        return rc;
    r->params.password = r->password;
    rc = driver_app_new(&r->params, &r->run, err);
    explicit_bzero(r->password, sizeof r->password); /* the app has its copy */
    r->params.password = NULL;
    if (rc == EVC_OK)
        rc = driver_app_start(r->run, err);
    return rc;
}

static void driver_stop(void *state)
{
    driver_role *r = state;
    driver_app_stop(r->run);
}

static void driver_destroy(void *state)
{
    driver_role *r = state;
    driver_app_free(r->run);
    driver_services_free(&r->services);
    explicit_bzero(r->password, sizeof r->password);
    free(r);
}

static const evc_role DRIVER_ROLE = {
    .program = "EV_Driver",
    .name = "driver",
    .summary = "EVCharging driver app: requests supplies, follows them live, shows tickets.",
    .positionals = DRIVER_POSITIONALS,
    .options = DRIVER_OPTIONS,
    .schema = DRIVER_SCHEMA,
    .instance_key = "driver.id",
    .needs_transport = true,
    .create = driver_create,
    .start = driver_start,
    .stop = driver_stop,
    .destroy = driver_destroy,
};

int main(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        /* getopt_long takes any unambiguous prefix, "--log-l" at least, and
         * "--log-level=X" as well as "--log-level X". */
        size_t len = strcspn(argv[i], "=");
        if (len >= 7 && len <= 11 && strncmp(argv[i], "--log-level", len) == 0)
            driver_log_level_given = true;
    }
    return evc_app_main(&DRIVER_ROLE, argc, argv);
}
