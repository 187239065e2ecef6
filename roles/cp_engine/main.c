/* EV_CP_E: the charging point's engine (the charger itself). Role table,
 * config, life cycle, the stdin menu (keys: engine_term.c) and the KO/OK
 * signal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "engine_term.h"
#include "evc/ids.h"
#include "evc/log.h"

static const evc_role_option ENGINE_OPTIONS[] = {
    {.name = "secret-file", .has_arg = true, .arg_name = "PATH",
     .help = "file whose first line is the CP's secret"},
    {.name = "database", .has_arg = true, .arg_name = "PATH",
     .config_path = "cp_engine.database",
     .help = "the engine's own SQLite file (default cp-engine-<listen port>.db)"},
    {0},
};

static const evc_role_positional ENGINE_POSITIONALS[] = {
    {.name = "bus_endpoint", .config_path = "transport.endpoint", .required = true,
     .help = "event bus host:port"},
    {.name = "listen_host:port", .config_path = "cp_engine.listen", .required = true,
     .help = "where the monitor reaches this engine"},
    {.name = "cp_id", .config_path = "cp_engine.cp_id", .required = false,
     .help = "this charging point's id, e.g. CP_001 (or cp_engine.cp_id)"},
    {0},
};

/* ---- stdin menu ----------------------------------------------------------- */

static void on_line(void *arg, const char *line)
{
    engine *e = arg;
    if (!line) {
        engine_say(e, NULL, "Line too long: ignored (type help)");
        return;
    }
    engine_cmd c;
    engine_cmd_parse(line, &c);
    switch (c.kind) {
    case ENGINE_CMD_EMPTY:
        break;
    case ENGINE_CMD_BAD:
        engine_say(e, NULL, "%s", c.error);
        break;
    case ENGINE_CMD_REQUEST:
        engine_send_request(e, c.arg);
        break;
    case ENGINE_CMD_PLUG:
        engine_supply_plug(e, true);
        break;
    case ENGINE_CMD_UNPLUG:
        engine_supply_unplug(e, true);
        break;
    case ENGINE_CMD_TOGGLE:
        engine_toggle_ko(e);
        break;
    case ENGINE_CMD_STATUS:
        engine_print_status(e);
        break;
    case ENGINE_CMD_HELP:
        fputs(engine_menu_help(), stdout);
        fflush(stdout);
        break;
    }
}

/* The keyboard: one per process (engine_term.h). */
static engine_term engine_keys;

static void on_key_toggle(void *arg) { engine_toggle_ko(arg); }

static void on_key_echo(void *arg, const char *s, size_t n)
{
    (void)arg;
    /* Typed characters go back to the terminal they came from, not to a
     * stdout that may be a log file. */
    ssize_t w = write(STDIN_FILENO, s, n);
    (void)w;
}

static void stdin_close(engine *e)
{
    engine_term_close(&engine_keys);
    if (!e->stdin_watch)
        return;
    evc_watch_close(e->stdin_watch);
    e->stdin_watch = NULL;
    /* libuv made fd 0 non-blocking; give the terminal back as it was. */
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    if (fl >= 0)
        fcntl(STDIN_FILENO, F_SETFL, fl & ~O_NONBLOCK);
}

static void on_stdin(evc_watch *w, int fd, unsigned events, void *arg)
{
    (void)w;
    (void)events;
    engine *e = arg;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
        engine_term_feed(&engine_keys, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        /* EOF (stdin from /dev/null or a closed pipe): stop reading, keep
         * running. */
        evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "stdin closed; the menu is off");
        stdin_close(e);
    }
}

static void on_sigusr1(int signum, void *arg)
{
    (void)signum;
    engine_toggle_ko(arg);
}

static void on_sigcont(int signum, void *arg)
{
    (void)signum;
    (void)arg;
    engine_term_resume(&engine_keys); /* back from Ctrl-Z: keys again */
}

/* ---- life cycle ------------------------------------------------------------ */

static void engine_default_database(evc_app *app, char *buf, size_t cap)
{
    const char *listen = evc_cfg_scalar(evc_cfg_path(evc_app_config_root(app), "cp_engine.listen"));
    evc_addr a;
    if (listen && evc_addr_parse(listen, 1, &a, NULL) == EVC_OK)
        snprintf(buf, cap, "cp-engine-%u.db", (unsigned)a.port);
    else
        snprintf(buf, cap, "cp-engine.db");
}

static int engine_create(evc_app *app, void **state, evc_error *err)
{
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return evc_error_set(err, EVC_ENOMEM, "cp_engine: out of memory");
    const evc_cfg_node *sec = evc_app_section(app);
    const evc_cfg_node *listen = evc_cfg_get(sec, "listen");
    /* Absent only under --check-config (the argument is required to run). */
    if (!listen && !evc_app_checking(app)) {
        free(e);
        return evc_error_set(err, EVC_ECONFIG, "cp_engine.listen: missing (second argument)");
    }
    if (listen && evc_addr_from_cfg(listen, "listen", 0, &e->cfg.listen, err) != EVC_OK) {
        free(e);
        return err->code;
    }
    engine_cfg *c = &e->cfg;
    /* The id is the engine's own (issue 11 finding 5): a monitor proves it
     * knows this CP's secret, it never names another id. */
    const char *id = evc_cfg_schema_str(sec, engine_schema, "cp_id");
    if (!id)
        id = evc_app_checking(app) ? "CP_CHECK" : "";
    int rc = EVC_OK;
    if (!*id)
        rc = evc_error_set(err, EVC_ECONFIG, "cp_engine.cp_id: missing (third argument)");
    else if (!evc_id_valid(id))
        rc = evc_error_set(err, EVC_ECONFIG,
                           "cp_engine.cp_id: '%.80s' is not 1 to 64 of A-Z a-z 0-9 _ . -", id);
    const char *file = evc_app_option(app, "secret-file");
    const char *secret = evc_cfg_schema_str(sec, engine_schema, "secret");
    if (rc == EVC_OK) {
        snprintf(c->cp_id, sizeof c->cp_id, "%s", id);
        if (file)
            rc = evc_read_secret_file("--secret-file", file, c->secret, sizeof c->secret, err);
        else if (secret && *secret)
            snprintf(c->secret, sizeof c->secret, "%s", secret);
        else
            snprintf(c->secret, sizeof c->secret, "secret-%s", id);
    }
    if (rc != EVC_OK) {
        free(e);
        return rc;
    }
    engine_cfg_read(c, sec);
    e->app = app;
    e->loop = evc_app_loop(app);
    e->bus = evc_app_bus(app);
    e->store = evc_app_store(app);
    e->topic_cp = evc_app_topic(app, EVC_TOPIC_CP_EVENTS);
    e->topic_central = evc_app_topic(app, EVC_TOPIC_CENTRAL_EVENTS);
    e->tty = isatty(STDOUT_FILENO) == 1;
    uint64_t seed = c->power_seed ? (uint64_t)c->power_seed
                                  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    engine_power_init(&e->power, c->power_w, c->power_variation_pct, seed);
    *state = e;
    return EVC_OK;
}

static int engine_start(void *state, evc_error *err)
{
    engine *e = state;
    /* Only Central's sealed messages are heard (docs/SECURITY.md). */
    int rc = evc_app_trust_central(e->app, err);
    if (rc == EVC_OK)
        rc = engine_core_start(e, err);
    if (rc == EVC_OK)
        rc = evc_loop_on_signal(e->loop, SIGUSR1, on_sigusr1, e, err);
    if (rc != EVC_OK)
        return rc;
    evc_error werr = {0};
    if (evc_loop_watch_fd(e->loop, STDIN_FILENO, EVC_WATCH_READ, on_stdin, e, &e->stdin_watch,
                          &werr) != EVC_OK) {
        /* /dev/null and regular files cannot be watched: no menu then. */
        evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "no menu on stdin: %s", werr.msg);
        e->stdin_watch = NULL;
    }
    bool keys = false;
    if (e->stdin_watch) {
        engine_term_ops ops = {.line = on_line, .toggle = on_key_toggle, .echo = on_key_echo,
                               .arg = e};
        keys = engine_term_open(&engine_keys, STDIN_FILENO, &ops);
        if (keys && evc_loop_on_signal(e->loop, SIGCONT, on_sigcont, e, &werr) != EVC_OK)
            evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "SIGCONT: %s", werr.msg);
    }
    engine_say(e, NULL, "EV_CP_E ready: waiting for the monitor on %s:%u (%s)",
               e->cfg.listen.host[0] ? e->cfg.listen.host : "*",
               (unsigned)evc_link_server_port(e->server),
               keys ? "press k for KO/OK, or type help and Enter" : "type help");
    return EVC_OK;
}

static void engine_stop(void *state)
{
    engine *e = state;
    stdin_close(e);
    engine_core_stop(e);
}

static void engine_destroy(void *state)
{
    engine_core_free(state);
}

static const evc_role ENGINE_ROLE = {
    .program = "EV_CP_E",
    .name = "cp_engine",
    .summary = "EVCharging charging-point engine: supplies energy, reports telemetry.",
    .positionals = ENGINE_POSITIONALS,
    .options = ENGINE_OPTIONS,
    .schema = engine_schema,
    /* The CP id names the engine on the bus (its Kafka group): the listen
     * address is the same on every CP host that runs one CP (127.0.0.1:7101),
     * so it names one only when no id is configured (learnt from the monitor). */
    .instance_key = "cp_engine.cp_id|cp_engine.listen",
    .needs_transport = true,
    .needs_store = true,
    .database_key = "cp_engine.database",
    .default_database = engine_default_database,
    .create = engine_create,
    .start = engine_start,
    .stop = engine_stop,
    .destroy = engine_destroy,
};

int main(int argc, char **argv) { return evc_app_main(&ENGINE_ROLE, argc, argv); }
