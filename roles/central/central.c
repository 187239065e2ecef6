/* central.c: EV_Central's configuration, state and life cycle. The CP side
 * is central_links.c and central_cps.c, the supply side central_supply.c and
 * central_session.c, the terminal central_panel.c, HTTP central_http.c. */
#include "central.h"
#include "central_trust.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "central_admin.h"
#include "central_int.h"
#include "evc/fd_limit.h"
#include "evc/ids.h"
#include "evc/link.h"
#include "evc/log.h"
#include "initdb.h"

static const char *const PASSWORD_COSTS[] = {"interactive", "moderate", "min", NULL};
static const char *const REGISTRATION[] = {"open", "closed", NULL};
static const char *const PANEL[] = {"auto", "tty", "plain", NULL};

const evc_cfg_field central_schema[] = {
    {.key = "listen_port", .type = EVC_CFG_INT, .min = 1, .max = 65535,
     .help = "TCP port where CP monitors connect (first argument)"},
    {.key = "password_cost", .type = EVC_CFG_ENUM, .enum_values = PASSWORD_COSTS,
     .default_text = "interactive",
     .help = "argon2id cost of new password and secret hashes (min: tests only)"},
    {.key = "signing_key_file", .type = EVC_CFG_STRING,
     .default_text = "<security.central_key_file without .pub>",
     .help = "Central's secret Ed25519 key (hex, mode 600), created with its .pub half at the "
             "first start: it seals everything Central publishes (docs/SECURITY.md)"},
    {.key = "registration", .type = EVC_CFG_ENUM, .enum_values = REGISTRATION,
     .default_text = "closed",
     .help = "open: an unknown CP that authenticates is registered with its secret; "
             "closed: unknown CPs are denied"},
    {.key = "heartbeat_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 3600000,
     .default_text = "3000",
     .help = "a CP without a monitor heartbeat for this long is DISCONNECTED"},
    {.key = "heartbeat_interval_ms", .type = EVC_CFG_INT, .min = 100, .max = 60000,
     .default_text = "1000", .help = "period of central.heartbeat on the bus"},
    {.key = "authorise_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 600000,
     .default_text = "5000",
     .help = "a CP that does not answer cp.authorise within this is denied cp_no_answer"},
    {.key = "clock_skew_ms", .type = EVC_CFG_INT, .min = 0, .max = 60000,
     .default_text = "1000",
     .help = "largest difference between Central's and an engine's clocks: a cp.authorise "
             "expires this long before authorise_timeout_ms (must be smaller)"},
    {.key = "min_balance_cents", .type = EVC_CFG_INT, .min = 0, .max = 100000000,
     .default_text = "500", .help = "a driver below this balance is denied balance_too_low"},
    {.key = "balance_floor_cents", .type = EVC_CFG_INT, .min = -100000000, .max = 100000000,
     .default_text = "0",
     .help = "a supply is cancelled (balance_floor) before its cost takes the driver's "
             "balance below this; at most min_balance_cents"},
    {.key = "max_power_w", .type = EVC_CFG_INT, .min = 1000, .max = 10000000,
     .default_text = "350000",
     .help = "most power any CP delivers: a supply.ended with more Wh than this over the time "
             "since the request (plus energy_tolerance_pct) is refused, not billed"},
    {.key = "energy_tolerance_pct", .type = EVC_CFG_INT, .min = 0, .max = 1000,
     .default_text = "10", .help = "margin over max_power_w x elapsed time before energy is refused"},
    {.key = "http_port", .type = EVC_CFG_INT, .min = 0, .max = 65535, .default_text = "8002",
     .help = "HTTP port of the JSON API (0 = any free port)"},
    {.key = "http_host", .type = EVC_CFG_STRING, .default_text = "",
     .help = "address the HTTP server listens on (empty = all interfaces)"},
    {.key = "http_session_ttl_s", .type = EVC_CFG_INT, .min = 60, .max = 604800,
     .default_text = "3600",
     .help = "HTTP API login sessions end this long after the login (absolute, not extended "
             "by use; a restart of Central ends them all)"},
    {.key = "http_tls_cert", .type = EVC_CFG_STRING, .default_text = "",
     .help = "PEM certificate (chain) file: with http_tls_key the HTTP port speaks only HTTPS "
             "(empty = plain HTTP)"},
    {.key = "http_tls_key", .type = EVC_CFG_STRING, .default_text = "",
     .help = "PEM private key file of http_tls_cert"},
    {.key = "listen_host", .type = EVC_CFG_STRING, .default_text = "",
     .help = "IP address the CP monitor port (listen_port) listens on (empty = all "
             "interfaces)"},
    {.key = "telemetry_log_interval_ms", .type = EVC_CFG_INT, .min = 0, .max = 3600000,
     .default_text = "5000",
     .help = "plain (non-TTY) output: print each supply's kW, kWh and EUR this often "
             "(0 = never; the live panel shows them always); at most 100 lines, then one "
             "summary line"},
    {.key = "create_if_missing", .type = EVC_CFG_BOOL, .default_text = "false",
     .help = "true: a database file that does not exist is created (empty: no CPs, no "
             "users); false: it is an error naming the path (--init-db always creates)"},
    {.key = "monitor_max_links", .type = EVC_CFG_INT, .min = 0, .max = 1000000,
     .default_text = "0",
     .help = "monitor connections at most; more are closed at once with a log line; 0: "
             "the CPs in the database at start plus 512 (new CPs register over a link)"},
    {.key = "monitor_out_queue_max_bytes", .type = EVC_CFG_INT, .min = 4096,
     .max = 1073741824, .default_text = "1048576",
     .help = "replies queued to a monitor that does not read them at most; beyond, Central "
             "stops reading from it"},
    {.key = "monitor_slow_reader_ms", .type = EVC_CFG_INT, .min = 100, .max = 3600000,
     .default_text = "10000",
     .help = "a monitor over monitor_out_queue_max_bytes for this long is disconnected"},
    {.key = "panel", .type = EVC_CFG_ENUM, .enum_values = PANEL, .default_text = "auto",
     .help = "terminal output: auto (live panel when stdout is a TTY), tty, or plain lines"},
    {0},
};

/* A key of Central's section, or the default central_schema declares. */
static int64_t cfg_int(const evc_cfg_node *sec, const char *key)
{
    return evc_cfg_schema_int(sec, central_schema, key);
}

static const char *cfg_str(const evc_cfg_node *sec, const char *key)
{
    return evc_cfg_schema_str(sec, central_schema, key);
}

/* Parses an optional non-negative integer option; -1 when absent. */
static int option_int(evc_app *app, const char *name, int64_t *out)
{
    const char *v = evc_app_option(app, name);
    *out = -1;
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || !*v || *end || n < 0) {
        fprintf(stderr, "EV_Central: --%s must be a non-negative integer, got '%s'\n", name, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int add_cp_command(evc_app *app, const char *db, evc_password_cost cost)
{
    central_cp_spec spec = {.id = evc_app_option(app, "add-cp"),
                            .location = evc_app_option(app, "location")};
    if (option_int(app, "price-cents", &spec.price_cents_per_kwh) != 0 ||
        option_int(app, "max-w", &spec.max_w) != 0)
        return EVC_EXIT_USAGE;
    const char *file = evc_app_option(app, "secret-file");
    if (!file) {
        fprintf(stderr, "EV_Central: --add-cp needs --secret-file PATH (the CP's secret)\n");
        return EVC_EXIT_USAGE;
    }
    char secret[256];
    evc_error err = {0};
    if (evc_read_secret_file("--secret-file", file, secret, sizeof secret, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: %s\n", err.msg);
        return EVC_EXIT_USAGE;
    }
    spec.secret = secret;
    bool created = false;
    int rc = central_add_cp(evc_app_store(app), &spec, cost, &created, &err);
    explicit_bzero(secret, sizeof secret);
    if (rc != EVC_OK) {
        fprintf(stderr, "EV_Central: database %s: %s\n", db, err.msg);
        return rc == EVC_EINVAL ? EVC_EXIT_USAGE : EVC_EXIT_FAILURE;
    }
    printf("EV_Central: database %s: CP %s %s\n", db, spec.id, created ? "registered" : "updated");
    return EVC_EXIT_OK;
}

/* The program's one database, as the app resolved it: set once, before the
 * store opens, by central_database_path (a process has one Central). */
static struct {
    bool noted, missing, empty;
    char path[1024];
    mode_t mode; /* of an empty file, to give it back as it was */
} db_before_open;

void central_database_path(evc_app *app, char *buf, size_t cap)
{
    const char *db = evc_app_store_database(app);
    snprintf(buf, cap, "%s", db);
    snprintf(db_before_open.path, sizeof db_before_open.path, "%s", db);
    db_before_open.noted = true;
    db_before_open.missing = access(db, F_OK) != 0 && errno == ENOENT;
    /* An empty file is a valid SQLite database without our tables: the store
     * would give it the schema and Central would start with no users. */
    struct stat st;
    db_before_open.empty = stat(db, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0;
    db_before_open.mode = db_before_open.empty ? st.st_mode & 07777 : 0;
}

/* Removes the database and its side files: the store created or filled
 * them a moment ago. The open store then writes only to unlinked files. */
static void remove_db_files(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s%s", db_before_open.path, suffixes[i]);
        unlink(p);
    }
}

/* A mistyped path must not start Central on an empty database: the store
 * has just created the file (SQLite creates on open), so it is removed
 * again -- it did not exist a moment ago and holds nothing but the schema. */
static int refuse_missing_db(evc_app *app, bool init)
{
    if (!db_before_open.noted || !(db_before_open.missing || db_before_open.empty) || init ||
        evc_cfg_schema_bool(evc_app_section(app), central_schema, "create_if_missing"))
        return -1;
    remove_db_files();
    if (db_before_open.empty) {
        /* Given back empty, as found: a second start is refused the same way. */
        int fd = open(db_before_open.path, O_WRONLY | O_CREAT | O_EXCL, db_before_open.mode);
        if (fd >= 0) {
            /* The umask may have narrowed the mode; best effort, the
             * refusal below is what matters. */
            (void)fchmod(fd, db_before_open.mode);
            close(fd);
        }
        fprintf(stderr,
                "EV_Central: database %s is an empty file, without EVCharging's tables (check "
                "the path; create them with EV_Central --init-db [--seed] --db %s)\n",
                db_before_open.path, db_before_open.path);
        return EVC_EXIT_CONFIG;
    }
    fprintf(stderr,
            "EV_Central: database %s does not exist (check the path; create it with "
            "EV_Central --init-db [--seed] --db %s, or set central.create_if_missing: true)\n",
            db_before_open.path, db_before_open.path);
    return EVC_EXIT_CONFIG;
}

int central_command(evc_app *app)
{
    bool init = evc_app_option(app, "init-db") != NULL;
    int refused = refuse_missing_db(app, init);
    if (refused >= 0)
        return refused;
    bool add = evc_app_option(app, "add-cp") != NULL;
    if (!init && (evc_app_option(app, "seed") || evc_app_option(app, "force"))) {
        fprintf(stderr, "EV_Central: --seed and --force only go with --init-db\n");
        return EVC_EXIT_USAGE;
    }
    if (init && add) {
        fprintf(stderr, "EV_Central: --init-db and --add-cp are separate commands\n");
        return EVC_EXIT_USAGE;
    }
    if (!init && !add)
        return -1;
    evc_password_cost cost = EVC_PASSWORD_COST_INTERACTIVE;
    evc_error err = {0};
    const char *cost_name = cfg_str(evc_app_section(app), "password_cost");
    if (evc_password_cost_parse(cost_name, &cost, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: %s\n", err.msg);
        return EVC_EXIT_CONFIG;
    }
    const char *db = evc_app_store_database(app);
    if (add)
        return add_cp_command(app, db, cost);
    bool seed = evc_app_option(app, "seed") != NULL;
    bool force = evc_app_option(app, "force") != NULL;
    if (central_init_db_cost(evc_app_store(app), seed, force, cost, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: database %s: %s\n", db, err.msg);
        return EVC_EXIT_FAILURE;
    }
    printf("EV_Central: database %s initialised%s%s\n", db, seed ? " with the seed data" : "",
           force ? " (previous data wiped)" : "");
    /* The signing key too, so that CPs and drivers can be given its public
     * half before Central first runs. */
    char key[4096];
    uint8_t sk[64];
    bool created = false;
    central_trust_key_path(app, key, sizeof key);
    if (evc_app_signing_key(key, sk, &created, &err) != EVC_OK) {
        fprintf(stderr, "EV_Central: %s\n", err.msg);
        return EVC_EXIT_CONFIG;
    }
    explicit_bzero(sk, sizeof sk);
    printf("EV_Central: signing key %s%s; its public half %s.pub goes to every CP and driver "
           "host\n", key, created ? " created" : " kept", key);
    return EVC_EXIT_OK;
}

int central_create(evc_app *app, void **state, evc_error *err)
{
    central *c = calloc(1, sizeof *c);
    if (!c)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    const evc_cfg_node *sec = evc_app_section(app);
    c->app = app;
    c->loop = evc_app_loop(app);
    c->bus = evc_app_bus(app);
    c->store = evc_app_store(app);
    c->listen_port = (int)cfg_int(sec, "listen_port");
    c->registration_open = strcmp(cfg_str(sec, "registration"), "open") == 0;
    c->heartbeat_timeout_ms = (uint64_t)cfg_int(sec, "heartbeat_timeout_ms");
    c->heartbeat_interval_ms = (uint64_t)cfg_int(sec, "heartbeat_interval_ms");
    c->authorise_timeout_ms = (uint64_t)cfg_int(sec, "authorise_timeout_ms");
    c->telemetry_log_ms = (uint64_t)cfg_int(sec, "telemetry_log_interval_ms");
    c->clock_skew_ms = (uint64_t)cfg_int(sec, "clock_skew_ms");
    c->min_balance_cents = cfg_int(sec, "min_balance_cents");
    c->balance_floor_cents = cfg_int(sec, "balance_floor_cents");
    c->max_power_w = cfg_int(sec, "max_power_w");
    c->energy_tolerance_pct = cfg_int(sec, "energy_tolerance_pct");
    c->http_port = (int)cfg_int(sec, "http_port");
    c->http_host = cfg_str(sec, "http_host");
    c->monitor_max_links = (size_t)cfg_int(sec, "monitor_max_links");
    c->monitor_out_queue_max = (size_t)cfg_int(sec, "monitor_out_queue_max_bytes");
    c->monitor_slow_reader_ms = (uint64_t)cfg_int(sec, "monitor_slow_reader_ms");
    const char *panel = cfg_str(sec, "panel");
    c->tty = strcmp(panel, "tty") == 0 || (strcmp(panel, "auto") == 0 && isatty(STDOUT_FILENO));
    c->t_driver = evc_app_topic(app, EVC_TOPIC_DRIVER_EVENTS);
    c->t_cp = evc_app_topic(app, EVC_TOPIC_CP_EVENTS);
    c->t_central = evc_app_topic(app, EVC_TOPIC_CENTRAL_EVENTS);
    int rc = evc_password_cost_parse(cfg_str(sec, "password_cost"), &c->password_cost, err);
    /* An engine accepts a cp.authorise until it expires; Central must still
     * hold the request open then, whatever the clocks' difference. */
    if (rc == EVC_OK && c->clock_skew_ms >= c->authorise_timeout_ms)
        rc = evc_error_set(err, EVC_ECONFIG,
                           "central: clock_skew_ms (%llu) must be smaller than "
                           "authorise_timeout_ms (%llu)",
                           (unsigned long long)c->clock_skew_ms,
                           (unsigned long long)c->authorise_timeout_ms);
    /* A floor above the minimum to start would admit drivers only to cancel
     * their supply at its first telemetry. */
    if (rc == EVC_OK && c->balance_floor_cents > c->min_balance_cents)
        rc = evc_error_set(err, EVC_ECONFIG,
                           "central: balance_floor_cents (%lld) must not be above "
                           "min_balance_cents (%lld)",
                           (long long)c->balance_floor_cents, (long long)c->min_balance_cents);
    if (rc == EVC_OK && !(c->dedup = evc_msg_dedup_new(4096)))
        rc = evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    if (rc != EVC_OK) {
        central_destroy(c);
        return rc;
    }
    *state = c;
    return EVC_OK;
}

/* Every 250 ms: heartbeat timeouts are seen within a quarter second of the
 * configured value; the panel is redrawn every fourth tick. */
static void on_tick(evc_timer *t, void *arg)
{
    central *c = arg;
    central_cps_refresh_due(c);
    central_supply_tick(c);
    central_cps_flush_event(c);
    central_panel_telemetry(c);
    if (++c->ticks % 4 == 0)
        central_panel_tick(c);
}

/* One monitor link per CP in the database, plus room for CPs that register
 * over a link, and the open-files limit to hold them (docs/OPERATIONS.md
 * "Connection caps"). A hard limit too low is not fatal: the link server
 * lowers its cap to what fits and the WARN says which limit to raise. */
static void central_size_links(central *c)
{
    if (c->monitor_max_links == 0)
        c->monitor_max_links = c->ncps + CENTRAL_LINKS_SPARE;
    size_t need = c->monitor_max_links + EVC_LINK_FD_RESERVE;
    unsigned got = 0;
    evc_error e = {0};
    if (evc_fd_limit_raise(need > UINT_MAX ? UINT_MAX : (unsigned)need, &got, &e) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "%zu CPs in the database, %zu monitor links: %s",
                c->ncps, c->monitor_max_links, e.msg);
}

int central_start(void *state, evc_error *err)
{
    central *c = state;
    c->started_at = (int64_t)evc_wall_ms();
    if (c->password_cost == EVC_PASSWORD_COST_MIN)
        evc_log(EVC_LOG_WARN, "central", NULL, "password_cost is min: for tests only");
    int rc = central_cps_load(c, err);
    if (rc == EVC_OK)
        central_size_links(c);
    if (rc == EVC_OK)
        rc = central_supply_start(c, err);
    if (rc == EVC_OK)
        rc = central_links_start(c, err);
    if (rc == EVC_OK)
        rc = central_http_start(c, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(c->loop, 250, 250, on_tick, c, &c->tick, err);
    if (rc == EVC_OK)
        rc = central_panel_start(c, err);
    if (rc != EVC_OK)
        central_stop(c); /* the app calls stop only after a good start */
    return rc;
}

void central_stop(void *state)
{
    central *c = state;
    evc_timer_close(c->tick);
    evc_timer_close(c->hb_timer);
    c->tick = c->hb_timer = NULL;
    central_cps_flush_event(c);
    central_links_stop(c);
    central_http_stop(c);
    central_panel_stop(c);
}

void central_destroy(void *state)
{
    central *c = state;
    if (!c)
        return;
    evc_msg_dedup_free(c->dedup);
    central_trust_free(c);
    central_relay_free(c);
    central_tables_free(c);
    free(c);
}
