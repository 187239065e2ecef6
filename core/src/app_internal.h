/* app_internal.h: pieces of evc_app_main shared between its files. */
#ifndef EVC_APP_INTERNAL_H
#define EVC_APP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "evc/app.h"
#include "evc/config.h"
#include "evc/plugin.h"

#define APP_MAX_ROLE_OPTIONS 32
#define APP_MAX_POSITIONALS 8

/* What the command line said. Strings are borrowed from argv. */
typedef struct app_cli {
    const char *config_path;
    const char *log_level;
    const char *log_format;
    const char *plugin_dir;
    bool check_config;
    bool help;
    bool version;
    bool help_config;
    const char *positional[APP_MAX_POSITIONALS];
    size_t positional_count;
    /* Role options: value ("" for flags) or NULL when absent, by index into
     * role->options. */
    const char *role_value[APP_MAX_ROLE_OPTIONS];
    bool one_shot; /* a one-shot command option was given: no role, no transport */
} app_cli;

/* Parses argv. Returns EVC_EXIT_OK, or EVC_EXIT_USAGE after printing one line
 * naming the problem and a hint to --help. */
int app_cli_parse(const evc_role *role, int argc, char **argv, app_cli *cli);
void app_cli_print_help(const evc_role *role, FILE *out);
void app_cli_print_version(const evc_role *role, FILE *out);

/* Checks that every required positional was given or is set in the config;
 * prints a usage line and returns EVC_EXIT_USAGE otherwise. */
int app_cli_check_required(const evc_role *role, const app_cli *cli, const evc_cfg *cfg);

/* Applies positional arguments and role options that map to config keys. */
int app_cli_apply(const evc_role *role, const app_cli *cli, evc_cfg *cfg, evc_error *err);

/* From now on SIGINT/SIGTERM end the process at once (one line on stderr
 * naming `program`, then the signal's default action): called at the first
 * signal and when teardown starts. Idempotent. app_signal.c. */
void app_signal_arm_exit_now(const char *program);

/* Validates the core's keys and the role's section; prints every problem to
 * stderr and returns their number. */
/* The core's config schemas (app_config.c): the single place of their
 * defaults, read with evc_cfg_schema_* wherever a key is used. */
extern const evc_cfg_field *const app_log_schema;      /* log.* */
extern const evc_cfg_field *const app_topics_schema;   /* topics.* */
extern const evc_cfg_field *const app_security_schema; /* security.* */
extern const evc_cfg_field *const app_transport_schema; /* transport.* (core keys) */
extern const evc_cfg_field *const app_store_schema;    /* store.* (core keys) */

size_t app_validate_core(const evc_role *role, const evc_cfg_node *root);

/* Validates the section `where` ("transport"/"store") now that its plugin is
 * known: core keys, the plugin's own sub-section against its schema, and the
 * sub-sections of the plugins shipped with the product (tolerated, so that
 * switching plugin is one changed line). Prints problems; returns count. */
size_t app_validate_plugin_section(const char *where, const evc_cfg_node *section,
                                   const evc_plugin_descriptor *desc);

/* Prints every config key the program reads (core, its plugins' sections,
 * its role's section) as Markdown tables: the source of docs/CONFIG.md. */
void app_print_config_doc(FILE *out, const evc_role *role, const evc_plugin_descriptor *transport,
                          const evc_plugin_descriptor *store);

/* Prints a problem line to stderr (evc_cfg_problem_fn). */
void app_print_problem(void *count, const char *msg);

#endif
