/* evc/app.h: the program skeleton every role's main() uses.
 *
 * evc_app_main parses the common options (--config, --check-config,
 * --log-level, --log-format, --plugin-dir, --help, --version) and the role's
 * own options, loads the YAML config (or an empty one), applies positional
 * arguments as overrides of config keys, validates the whole config (core
 * keys, the role's section, the chosen plugins' sections), loads and creates
 * the transport and store plugins the role needs, then either stops there
 * (--check-config: exit 0, or every problem printed and exit 3) or starts
 * everything and runs the loop until SIGINT/SIGTERM or evc_app_quit.
 * Once shutdown has begun (the first SIGINT/SIGTERM, or the teardown after
 * evc_app_quit), a SIGINT or SIGTERM ends the process at once: one line on
 * stderr, then the signal's default action (exit status 128+signal), so that
 * a shutdown blocked outside the loop never holds an operator's second
 * Ctrl-C.
 *
 * Exit codes: 0 success; 1 runtime failure; 2 bad command line; 3 invalid
 * config; 21..31 plugin refused (20 + evc_plugin_refusal, see evc/plugin.h).
 */
#ifndef EVC_APP_H
#define EVC_APP_H

#include "evc/api.h"

#include <stdbool.h>
#include <stdint.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/error.h"
#include "evc/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

enum evc_exit_code {
    EVC_EXIT_OK = 0,
    EVC_EXIT_FAILURE = 1,
    EVC_EXIT_USAGE = 2,
    EVC_EXIT_CONFIG = 3,
    /* 21..31: plugin refusals, evc_plugin_refusal_exit_code() */
};

typedef struct evc_app evc_app;
struct evc_store; /* evc/store.h */

/* A positional argument of the program: its value overrides `config_path`
 * (dotted, e.g. "transport.endpoint"). */
typedef struct evc_role_positional {
    const char *name;        /* as shown in usage: "bus_endpoint" */
    const char *config_path; /* key it overrides */
    bool required;
    const char *help;
} evc_role_positional;

/* A role-specific --option. With config_path set, its value overrides that
 * key (a flag without argument sets it to "true"); without, the role reads it
 * back with evc_app_option. */
typedef struct evc_role_option {
    const char *name;        /* long name without dashes: "init-db" */
    bool has_arg;
    const char *arg_name;    /* for help: "PATH" */
    const char *config_path; /* may be NULL */
    const char *help;
    /* A one-shot command (--init-db): when given, the positional arguments
     * are not required, since the program does not run its role. */
    bool one_shot;
} evc_role_option;

typedef struct evc_role {
    const char *program;     /* "EV_Central" */
    const char *name;        /* "central": config section and log component */
    const char *summary;     /* one line for --help */
    const evc_role_positional *positionals; /* terminated by name == NULL; may be NULL */
    const evc_role_option *options;         /* terminated by name == NULL; may be NULL */
    const evc_cfg_field *schema;            /* the role's section; may be NULL */
    bool needs_transport;
    bool needs_store;
    /* Roles with a store of their own (the engine's journal) name the config
     * key of its database here ("cp_engine.database"); it replaces
     * store.database. When that key is absent, default_database (optional)
     * writes the path to use into buf (cap bytes); without it the app falls
     * back to store.database. */
    const char *database_key;
    void (*default_database)(evc_app *app, char *buf, size_t cap);
    /* Dotted config key whose value names this instance ("driver.id"); the
     * transport's client_id and group_id default to "<name>-<value>" so that a
     * restarted instance resumes where it left off. Alternatives separated by
     * '|' ("cp_engine.cp_id|cp_engine.listen"): the first key that has a
     * value. NULL (or none has one): "<name>". The value must tell instances
     * on different hosts apart too: over Kafka two instances with one group
     * id split the partitions between them and each misses the other's. */
    const char *instance_key;
    /* Optional one-shot commands (such as --init-db): runs after the plugins
     * are created and the store is started, before the transport starts and
     * never under --check-config. Return an exit code >= 0 to end the program
     * there; return -1 to go on. */
    int (*command)(evc_app *app);
    /* Builds the role's state once plugins exist (nothing started yet). Also
     * run by --check-config, so it must not act on the world. */
    int (*create)(evc_app *app, void **state, evc_error *err);
    /* Starts acting: subscriptions, listeners, timers. */
    int (*start)(void *state, evc_error *err);
    /* Graceful stop, on the loop thread, before plugins stop. */
    void (*stop)(void *state);
    void (*destroy)(void *state);
} evc_role;

/* Runs the program; returns the process exit code (see above). */
EVC_API int evc_app_main(const evc_role *role, int argc, char **argv);

/* Accessors for role code; all borrowed for the app's life. */
EVC_API evc_loop *evc_app_loop(evc_app *app);
EVC_API evc_bus *evc_app_bus(evc_app *app);              /* NULL if the role needs none */
EVC_API struct evc_store *evc_app_store(evc_app *app);   /* NULL if the role needs none */
EVC_API const evc_cfg_node *evc_app_config_root(evc_app *app);
EVC_API const evc_cfg_node *evc_app_section(evc_app *app); /* the role's section, NULL if absent */
/* Value of a role option without config_path: its argument, "" for a given
 * flag, NULL when absent. */
EVC_API const char *evc_app_option(evc_app *app, const char *name);
EVC_API bool evc_app_checking(evc_app *app); /* true under --check-config */
/* store.database as configured, else the default the core's store schema
 * declares: the path a role names in messages about "the database" (a role
 * with evc_role.database_key may open another; see default_database).
 * Borrowed from the config tree or static data. */
EVC_API const char *evc_app_store_database(evc_app *app);
/* transport.plugin as configured, else the core's default ("zmq"): the
 * name of the bus's transport, for reports. Borrowed like the above. */
EVC_API const char *evc_app_transport_name(evc_app *app);

/* ---- dashboards (docs/WEB.md) ------------------------------------------ */

/* The folder of `dashboard`'s static files ("central", "driver", "monitor"):
 * <web.static_dir>/<dashboard>, where web.static_dir defaults to
 * <dir of the running program>/../share/evc/web (bin/ -> share/ in the
 * build tree and in an install). Written into buf (always, also on error).
 * EVC_OK when it is a directory; EVC_ENOTFOUND naming the path when not
 * (*explicit tells whether web.static_dir was set: a missing default is the
 * caller's to excuse, a wrong setting is a configuration error). */
EVC_API int evc_app_web_dir(evc_app *app, const char *dashboard, char *buf, size_t cap,
                            bool *explicit_dir, evc_error *err);

/* ---- keys of the bus seals (evc/seal.h, docs/SECURITY.md) ----------------- */

/* The path of Central's public key file: security.central_key_file, else
 * "<store.database>.central-key.pub". Written into buf. */
EVC_API void evc_app_central_key_path(evc_app *app, char *buf, size_t cap);

/* Reads Central's public key (one line of 64 hex chars) from that path.
 * EVC_ECONFIG naming the path and what is wrong (missing: "start EV_Central
 * once, or copy its .pub file here"). */
EVC_API int evc_app_central_public_key(evc_app *app, uint8_t pk[32], evc_error *err);

/* Central only: loads its secret key from `path` (128 hex chars, the file
 * must not be readable by group or others), or when the file does not exist
 * creates a new key pair there (mode 0600) and its public half at
 * "<path>.pub" (0644). *created tells which. EVC_ECONFIG naming the path. */
EVC_API int evc_app_signing_key(const char *path, uint8_t sk[64], bool *created, evc_error *err);

/* CPs and drivers: from now on the app's bus delivers only messages sealed
 * by Central's key (evc_app_central_public_key), within the security
 * windows. Errors of evc_app_central_public_key; EVC_ESTATE without a bus. */
EVC_API int evc_app_trust_central(evc_app *app, evc_error *err);

/* Drivers, after evc_app_trust_central: also accept Central's relays to this
 * driver (kid "central:<driver_id>", HMAC under the relay key derived from
 * the driver's proof key K, evc_seal_relay_key; docs/PROTOCOL.md "The
 * seal"). Call once Central accepted the driver's proof (K is right then);
 * again after a new login replaces the key. Copies what it needs. EVC_EINVAL
 * for an id that cannot make a relay kid (Central then signs with Ed25519,
 * which is still accepted). */
EVC_API int evc_app_trust_relay(evc_app *app, const char *driver_id,
                                const uint8_t proof_key[32], evc_error *err);

/* security.max_age_ms / max_skew_ms into a policy (other fields untouched). */
EVC_API void evc_app_seal_windows(evc_app *app, int64_t *max_age_ms, int64_t *max_skew_ms);

/* The bus topics of the product, from the config's `topics` section. */
typedef enum evc_topic {
    EVC_TOPIC_DRIVER_EVENTS = 0,  /* topics.driver_events, default "driver-events" */
    EVC_TOPIC_CP_EVENTS = 1,      /* topics.cp_events, default "cp-events" */
    EVC_TOPIC_CENTRAL_EVENTS = 2, /* topics.central_events, default "central-events" */
} evc_topic;
/* Topic name; borrowed for the app's life. */
EVC_API const char *evc_app_topic(evc_app *app, evc_topic topic);

/* Ends evc_app_main's loop gracefully with `exit_code`. Loop thread. */
EVC_API void evc_app_quit(evc_app *app, int exit_code);

#ifdef __cplusplus
}
#endif
#endif
