/* app.c: evc_app_main, the life of every program: options, config, plugins,
 * role, loop, orderly shutdown. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app_internal.h"
#include "evc/fd_limit.h"
#include "evc/log.h"
#include "evc/store.h"

/* How long shutdown waits for the bus to report outcomes of what was sent. */
#define APP_FLUSH_TIMEOUT_MS 3000

struct evc_app {
    const evc_role *role;
    app_cli cli;
    evc_cfg *cfg;
    evc_loop *loop;
    evc_plugin *transport_plugin;
    evc_plugin *store_plugin;
    evc_bus *bus;
    evc_store *store;
    void *role_state;
    bool role_started;
    int exit_code;
    char client_id[256];
    char group_id[300];
};

evc_loop *evc_app_loop(evc_app *app) { return app->loop; }
evc_bus *evc_app_bus(evc_app *app) { return app->bus; }
struct evc_store *evc_app_store(evc_app *app) { return app->store; }
const evc_cfg_node *evc_app_config_root(evc_app *app) { return evc_cfg_root(app->cfg); }
bool evc_app_checking(evc_app *app) { return app->cli.check_config; }

const char *evc_app_store_database(evc_app *app)
{
    return evc_cfg_schema_str(evc_cfg_get(evc_cfg_root(app->cfg), "store"), app_store_schema,
                              "database");
}

const char *evc_app_transport_name(evc_app *app)
{
    return evc_cfg_schema_str(evc_cfg_get(evc_cfg_root(app->cfg), "transport"),
                              app_transport_schema, "plugin");
}

const evc_cfg_node *evc_app_section(evc_app *app)
{
    return evc_cfg_get(evc_cfg_root(app->cfg), app->role->name);
}

const char *evc_app_option(evc_app *app, const char *name)
{
    for (size_t i = 0; app->role->options && app->role->options[i].name; i++)
        if (strcmp(app->role->options[i].name, name) == 0)
            return app->cli.role_value[i];
    return NULL;
}

const char *evc_app_topic(evc_app *app, evc_topic topic)
{
    static const char *const KEYS[] = {"driver_events", "cp_events", "central_events"};
    if ((int)topic < 0 || topic > EVC_TOPIC_CENTRAL_EVENTS)
        return "";
    const evc_cfg_node *t = evc_cfg_get(evc_cfg_root(app->cfg), "topics");
    return evc_cfg_schema_str(t, app_topics_schema, KEYS[topic]);
}

void evc_app_quit(evc_app *app, int exit_code)
{
    app->exit_code = exit_code;
    evc_loop_stop(app->loop);
}

static void on_signal(int signum, void *arg)
{
    evc_app *app = arg;
    /* Armed before the line: whoever reads it (an operator, a test) may
     * signal again at once and must meet the exit-now handler. */
    app_signal_arm_exit_now(app->role->program);
    evc_log(EVC_LOG_INFO, app->role->name, NULL,
            "%s received, shutting down (SIGINT or SIGTERM again: exit at once)",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    evc_app_quit(app, EVC_EXIT_OK);
}

static int load_config(evc_app *app)
{
    evc_error err = {0};
    int rc = app->cli.config_path ? evc_cfg_load_file(app->cli.config_path, &app->cfg, &err)
                                  : evc_cfg_new_empty(&app->cfg, &err);
    if (rc == EVC_OK)
        rc = app_cli_apply(app->role, &app->cli, app->cfg, &err);
    if (rc != EVC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return EVC_EXIT_CONFIG;
    }
    return EVC_EXIT_OK;
}

static int apply_logging(evc_app *app)
{
    const evc_cfg_node *root = evc_cfg_root(app->cfg);
    const char *level = app->cli.log_level ? app->cli.log_level
                                           : evc_cfg_schema_str(evc_cfg_path(root, "log"), app_log_schema, "level");
    evc_log_level lv;
    if (evc_log_level_parse(level, &lv) != 0) {
        fprintf(stderr, "%s: --log-level must be one of error, warn, info, debug, trace; got '%s'\n",
                app->role->program, level);
        return EVC_EXIT_USAGE;
    }
    evc_log_set_level(lv);
    const char *fmt = app->cli.log_format ? app->cli.log_format
                                          : evc_cfg_schema_str(evc_cfg_path(root, "log"), app_log_schema, "format");
    if (strcmp(fmt, "text") != 0 && strcmp(fmt, "json") != 0) {
        fprintf(stderr, "%s: --log-format must be text or json; got '%s'\n", app->role->program, fmt);
        return EVC_EXIT_USAGE;
    }
    evc_log_set_format(strcmp(fmt, "json") == 0 ? EVC_LOG_JSON : EVC_LOG_TEXT);
    return EVC_EXIT_OK;
}

/* Raises the soft limit of open files to the hard one: a server's caps
 * (links, HTTP connections) are sized in thousands, and the usual soft
 * default of 1024 would hit EMFILE long before them (the link server clamps
 * its cap to what remains, see evc/link.h). A role that knows how many it
 * needs (Central: its CPs) calls evc_fd_limit_raise again with that number
 * for a clear error. Failure is not fatal here: the caps shrink. */
static void raise_fd_limit(const evc_app *app)
{
    struct rlimit before;
    if (getrlimit(RLIMIT_NOFILE, &before) != 0)
        before.rlim_cur = before.rlim_max = 0;
    unsigned got = 0;
    evc_error err = {0};
    if (evc_fd_limit_raise(0, &got, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, app->role->name, NULL, "%s", err.msg);
        return;
    }
    evc_log(EVC_LOG_DEBUG, app->role->name, NULL,
            "open files: soft limit %u (was %llu, hard limit %llu)", got,
            (unsigned long long)before.rlim_cur, (unsigned long long)before.rlim_max);
}

/* Loads the plugin named at `<where>.plugin` and validates the section. */
static int load_plugin(evc_app *app, evc_plugin_kind kind, const char *where, const char *dflt,
                       evc_plugin **out)
{
    const evc_cfg_node *root = evc_cfg_root(app->cfg);
    const evc_cfg_node *section = evc_cfg_get(root, where);
    const char *name = evc_cfg_get_str(section, "plugin", dflt);
    evc_plugin_search search = {
        .cli_dir = app->cli.plugin_dir,
        .config_dir = evc_cfg_get_str(root, "plugin_dir", NULL),
    };
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    if (evc_plugin_load(kind, name, &search, out, &why, &err) != EVC_OK) {
        fprintf(stderr, "%s: %s\n", app->role->program, err.msg);
        return evc_plugin_refusal_exit_code(why);
    }
    if (app_validate_plugin_section(where, section, evc_plugin_descriptor_of(*out)) > 0)
        return EVC_EXIT_CONFIG;
    return EVC_EXIT_OK;
}

static void derive_ids(evc_app *app)
{
    const evc_cfg_node *root = evc_cfg_root(app->cfg);
    const evc_cfg_node *t = evc_cfg_get(root, "transport");
    const char *inst = NULL;
    for (const char *k = app->role->instance_key; k && *k && !inst;) {
        const char *bar = strchr(k, '|');
        size_t len = bar ? (size_t)(bar - k) : strlen(k);
        char key[128];
        if (len < sizeof key) {
            memcpy(key, k, len);
            key[len] = '\0';
            inst = evc_cfg_scalar(evc_cfg_path(root, key));
            if (inst && !*inst)
                inst = NULL;
        }
        k = bar ? bar + 1 : NULL;
    }
    const char *cid = evc_cfg_get_str(t, "client_id", NULL);
    if (cid)
        snprintf(app->client_id, sizeof app->client_id, "%s", cid);
    else if (inst)
        snprintf(app->client_id, sizeof app->client_id, "%s-%s", app->role->name, inst);
    else
        snprintf(app->client_id, sizeof app->client_id, "%s", app->role->name);
    const char *gid = evc_cfg_get_str(t, "group_id", NULL);
    snprintf(app->group_id, sizeof app->group_id, "%s%s", gid ? "" : "evc-",
             gid ? gid : app->client_id);
}

/* Exit code for a create/start failure of a plugin instance: a config
 * problem found by the plugin is a config error, anything else a refusal. */
static int instance_failure(evc_app *app, const char *what, evc_plugin_refusal why,
                            const evc_error *err)
{
    fprintf(stderr, "%s: %s: %s\n", app->role->program, what, err->msg);
    return err->code == EVC_ECONFIG ? EVC_EXIT_CONFIG : evc_plugin_refusal_exit_code(why);
}

static int create_instances(evc_app *app)
{
    const evc_cfg_node *root = evc_cfg_root(app->cfg);
    evc_error err = {0};
    if (app->store_plugin) {
        const evc_cfg_node *s = evc_cfg_get(root, "store");
        char dflt[1024];
        const char *database = evc_cfg_schema_str(s, app_store_schema, "database");
        if (app->role->database_key) {
            const char *own = evc_cfg_scalar(evc_cfg_path(root, app->role->database_key));
            if (own) {
                database = own;
            } else if (app->role->default_database) {
                app->role->default_database(app, dflt, sizeof dflt);
                database = dflt;
            }
        }
        evc_store_params p = {
            .struct_size = sizeof p,
            .database = database,
            .config = evc_cfg_get(s, evc_plugin_descriptor_of(app->store_plugin)->name),
        };
        if (evc_store_open(app->loop, app->store_plugin, &p, &app->store, &err) != EVC_OK)
            return instance_failure(app, "store", EVC_REFUSE_CREATE, &err);
    }
    if (app->transport_plugin) {
        const evc_cfg_node *t = evc_cfg_get(root, "transport");
        derive_ids(app);
        evc_transport_params p = {
            .struct_size = sizeof p,
            .endpoint = evc_cfg_schema_str(t, app_transport_schema, "endpoint"),
            .client_id = app->client_id,
            .group_id = app->group_id,
            .config = evc_cfg_get(t, evc_plugin_descriptor_of(app->transport_plugin)->name),
        };
        if (evc_bus_open(app->loop, app->transport_plugin, &p, &app->bus, &err) != EVC_OK)
            return instance_failure(app, "transport", EVC_REFUSE_CREATE, &err);
    }
    return EVC_EXIT_OK;
}

static int run(evc_app *app)
{
    evc_error err = {0};
    if (app->store && !app->cli.check_config &&
        evc_store_start(app->store, &err) != EVC_OK)
        return instance_failure(app, "store", EVC_REFUSE_START, &err);
    if (!app->cli.check_config && app->role->command) {
        int code = app->role->command(app);
        if (code >= 0)
            return code;
    }
    if (app->cli.one_shot) {
        fprintf(stderr, "%s: a one-shot option was given but the role ran no command\n",
                app->role->program);
        return EVC_EXIT_FAILURE;
    }
    if (app->role->create && app->role->create(app, &app->role_state, &err) != EVC_OK) {
        fprintf(stderr, "%s: %s\n", app->role->program, err.msg);
        return err.code == EVC_ECONFIG ? EVC_EXIT_CONFIG : EVC_EXIT_FAILURE;
    }
    if (app->cli.check_config) {
        if (app->cli.config_path)
            printf("%s: configuration OK (%s)\n", app->role->program, app->cli.config_path);
        else
            printf("%s: configuration OK (built-in defaults)\n", app->role->program);
        /* What names this process on the bus: two processes of one role that
         * print the same here (on any hosts) share a Kafka consumer group. */
        if (app->bus)
            printf("%s: on the bus as %s (consumer group %s)\n", app->role->program,
                   app->client_id, app->group_id);
        return EVC_EXIT_OK;
    }
    if (app->bus && evc_bus_start(app->bus, &err) != EVC_OK)
        return instance_failure(app, "transport", EVC_REFUSE_START, &err);
    if (evc_loop_on_signal(app->loop, SIGINT, on_signal, app, &err) != EVC_OK ||
        evc_loop_on_signal(app->loop, SIGTERM, on_signal, app, &err) != EVC_OK) {
        fprintf(stderr, "%s: %s\n", app->role->program, err.msg);
        return EVC_EXIT_FAILURE;
    }
    if (app->role->start && app->role->start(app->role_state, &err) != EVC_OK) {
        fprintf(stderr, "%s: %s\n", app->role->program, err.msg);
        return err.code == EVC_ECONFIG ? EVC_EXIT_CONFIG : EVC_EXIT_FAILURE;
    }
    app->role_started = true;
    app->exit_code = EVC_EXIT_OK;
    evc_loop_run(app->loop);
    return app->exit_code;
}

static void teardown(evc_app *app)
{
    /* A shutdown the role asked for may block as well (a transport closing):
     * a Ctrl-C from here on ends the program at once. */
    if (app->role_started)
        app_signal_arm_exit_now(app->role->program);
    if (app->role_started && app->role->stop)
        app->role->stop(app->role_state);
    /* Again: what the role stopped (a web server's libuv handles) may have
     * put the signals' disposition back, and the bus close below can block. */
    if (app->role_started)
        app_signal_arm_exit_now(app->role->program);
    if (app->bus) {
        evc_error err = {0};
        if (!app->cli.check_config && evc_bus_flush(app->bus, APP_FLUSH_TIMEOUT_MS, &err) != EVC_OK)
            evc_log(EVC_LOG_WARN, app->role->name, NULL, "bus flush: %s", err.msg);
        evc_bus_close(app->bus);
    }
    if (app->role_state && app->role->destroy)
        app->role->destroy(app->role_state);
    evc_store_close(app->store);
    evc_loop_free(app->loop);
    /* Closing the loop's last signal watchers put SIGINT/SIGTERM back to
     * their default action (libuv): a signal in the last moments of the exit
     * still gets its line. */
    if (app->role_started)
        app_signal_arm_exit_now(app->role->program);
    evc_plugin_unload(app->transport_plugin);
    evc_plugin_unload(app->store_plugin);
    evc_cfg_free(app->cfg);
}

int evc_app_main(const evc_role *role, int argc, char **argv)
{
    evc_app app = {.role = role};
    int code = app_cli_parse(role, argc, argv, &app.cli);
    if (code != EVC_EXIT_OK)
        return code;
    if (app.cli.help) {
        app_cli_print_help(role, stdout);
        return EVC_EXIT_OK;
    }
    if (app.cli.version) {
        app_cli_print_version(role, stdout);
        return EVC_EXIT_OK;
    }
    /* A driver or CP must not die because a peer closed a socket mid-write. */
    signal(SIGPIPE, SIG_IGN);

    code = load_config(&app);
    if (code == EVC_EXIT_OK)
        code = app_cli_check_required(role, &app.cli, app.cfg);
    if (code == EVC_EXIT_OK && app_validate_core(role, evc_cfg_root(app.cfg)) > 0)
        code = EVC_EXIT_CONFIG;
    if (code == EVC_EXIT_OK)
        code = apply_logging(&app);
    if (code == EVC_EXIT_OK)
        raise_fd_limit(&app);
    evc_error err = {0};
    if (code == EVC_EXIT_OK && evc_loop_new(&app.loop, &err) != EVC_OK) {
        fprintf(stderr, "%s: %s\n", role->program, err.msg);
        code = EVC_EXIT_FAILURE;
    }
    if (code == EVC_EXIT_OK && role->needs_store)
        code = load_plugin(&app, EVC_PLUGIN_STORE, "store",
                           evc_cfg_schema_str(NULL, app_store_schema, "plugin"), &app.store_plugin);
    if (code == EVC_EXIT_OK && role->needs_transport && !app.cli.one_shot)
        code = load_plugin(&app, EVC_PLUGIN_TRANSPORT, "transport",
                           evc_cfg_schema_str(NULL, app_transport_schema, "plugin"),
                           &app.transport_plugin);
    if (code == EVC_EXIT_OK && app.cli.help_config) {
        app_print_config_doc(stdout, role,
                             app.transport_plugin ? evc_plugin_descriptor_of(app.transport_plugin) : NULL,
                             app.store_plugin ? evc_plugin_descriptor_of(app.store_plugin) : NULL);
        teardown(&app);
        return EVC_EXIT_OK;
    }
    if (code == EVC_EXIT_OK)
        code = create_instances(&app);
    if (code == EVC_EXIT_OK)
        code = run(&app);
    teardown(&app);
    return code;
}
