/* app_config.c: the core's own config keys and the validation of the
 * transport/store sections once their plugin is known. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_internal.h"

static const char *const LOG_LEVELS[] = {"error", "warn", "info", "debug", "trace", NULL};
static const char *const LOG_FORMATS[] = {"text", "json", NULL};

static const evc_cfg_field LOG_SCHEMA[] = {
    {.key = "level", .type = EVC_CFG_ENUM, .enum_values = LOG_LEVELS, .default_text = "info",
     .help = "lowest level written"},
    {.key = "format", .type = EVC_CFG_ENUM, .enum_values = LOG_FORMATS, .default_text = "text",
     .help = "text lines or JSON lines"},
    {0},
};

static const evc_cfg_field TOPICS_SCHEMA[] = {
    {.key = "driver_events", .type = EVC_CFG_STRING, .default_text = "driver-events",
     .help = "drivers publish, Central consumes"},
    {.key = "cp_events", .type = EVC_CFG_STRING, .default_text = "cp-events",
     .help = "CP engines publish, Central consumes"},
    {.key = "central_events", .type = EVC_CFG_STRING, .default_text = "central-events",
     .help = "Central publishes, engines and drivers consume"},
    {0},
};

static const evc_cfg_field SECURITY_SCHEMA[] = {
    {.key = "central_key_file", .type = EVC_CFG_STRING,
     .default_text = "<store.database>.central-key.pub",
     .help = "Central's public signing key (hex, written by EV_Central next to its secret "
             "key): every program checks Central's bus messages with it (docs/SECURITY.md)"},
    {.key = "max_age_ms", .type = EVC_CFG_INT, .min = 1000, .max = 86400000,
     .default_text = "900000",
     .help = "a bus message sealed longer ago than this is refused (stale)"},
    {.key = "max_skew_ms", .type = EVC_CFG_INT, .min = 0, .max = 3600000, .default_text = "30000",
     .help = "how far ahead of this host's clock a seal may be"},
    {0},
};

static const evc_cfg_field WEB_SCHEMA[] = {
    {.key = "static_dir", .type = EVC_CFG_STRING,
     .default_text = "<dir of the program>/../share/evc/web",
     .help = "the dashboards' files, one folder per program (central/, driver/, monitor/): "
             "the build tree's share/evc/web or an install's <prefix>/share/evc/web "
             "(docs/WEB.md)"},
    {0},
};

/* The sections a plugin-hosting map may hold besides its own keys: the
 * sections of the plugins shipped with the product, so that switching plugin
 * is one changed line and the other plugin's settings may stay in the file. */
static const char *const SHIPPED_TRANSPORTS[] = {"zmq", "kafka", NULL};
static const char *const SHIPPED_STORES[] = {"sqlite", NULL};

/* Core keys of `transport` and `store`, without the plugin sections. */
static const evc_cfg_field TRANSPORT_CORE[] = {
    {.key = "plugin", .type = EVC_CFG_STRING, .default_text = "zmq",
     .help = "transport plugin name (file evc_transport_<name>.so) or a path"},
    {.key = "endpoint", .type = EVC_CFG_STRING, .default_text = "127.0.0.1:5555",
     .help = "bus address: host:port of the ZeroMQ proxy or Kafka bootstrap servers"},
    {.key = "client_id", .type = EVC_CFG_STRING, .default_text = "<role>-<instance>",
     .help = "stable id of this process on the bus"},
    {.key = "group_id", .type = EVC_CFG_STRING, .default_text = "evc-<client_id>",
     .help = "consumer group (at-least-once transports)"},
};
static const evc_cfg_field STORE_CORE[] = {
    {.key = "plugin", .type = EVC_CFG_STRING, .default_text = "sqlite",
     .help = "store plugin name (file evc_store_<name>.so) or a path"},
    {.key = "database", .type = EVC_CFG_STRING, .default_text = "evcharging.db",
     .help = "database: a file path for SQLite, a connection string for others"},
};

/* The core's top level. Role sections other than the running role's are
 * accepted as they are: each is validated by its own program. */
/* The schemas whose defaults the programs read (app.c, app_keys.c) with
 * evc_cfg_schema_*: each default is written once, above. */
const evc_cfg_field *const app_log_schema = LOG_SCHEMA;
const evc_cfg_field *const app_topics_schema = TOPICS_SCHEMA;
const evc_cfg_field *const app_security_schema = SECURITY_SCHEMA;
const evc_cfg_field *const app_transport_schema = TRANSPORT_CORE;
const evc_cfg_field *const app_store_schema = STORE_CORE;

static const evc_cfg_field ROOT_SCHEMA_BASE[] = {
    {.key = "log", .type = EVC_CFG_MAP, .children = LOG_SCHEMA, .help = "logging"},
    {.key = "plugin_dir", .type = EVC_CFG_STRING, .help = "extra plugin search directory"},
    {.key = "topics", .type = EVC_CFG_MAP, .children = TOPICS_SCHEMA, .help = "bus topic names"},
    {.key = "security", .type = EVC_CFG_MAP, .children = SECURITY_SCHEMA,
     .help = "bus message seals"},
    {.key = "transport", .type = EVC_CFG_ANY, .help = "event bus (see docs/TRANSPORTS.md)"},
    {.key = "store", .type = EVC_CFG_ANY, .help = "database (see docs/DATABASE.md)"},
    {.key = "web", .type = EVC_CFG_MAP, .children = WEB_SCHEMA, .help = "dashboards"},
    {.key = "central", .type = EVC_CFG_ANY, .help = "EV_Central"},
    {.key = "cp_engine", .type = EVC_CFG_ANY, .help = "EV_CP_E"},
    {.key = "cp_monitor", .type = EVC_CFG_ANY, .help = "EV_CP_M"},
    {.key = "driver", .type = EVC_CFG_ANY, .help = "EV_Driver"},
    {.key = "ocpp_gateway", .type = EVC_CFG_ANY, .help = "EV_OCPP_GW"},
};
#define ROOT_COUNT (sizeof ROOT_SCHEMA_BASE / sizeof ROOT_SCHEMA_BASE[0])

void app_print_problem(void *count, const char *msg)
{
    fprintf(stderr, "%s\n", msg);
    if (count)
        (*(size_t *)count)++;
}

size_t app_validate_core(const evc_role *role, const evc_cfg_node *root)
{
    /* The running role's section gets the role's schema; the others stay ANY. */
    evc_cfg_field schema[ROOT_COUNT + 1];
    memcpy(schema, ROOT_SCHEMA_BASE, sizeof ROOT_SCHEMA_BASE);
    memset(&schema[ROOT_COUNT], 0, sizeof schema[0]);
    for (size_t i = 0; i < ROOT_COUNT; i++) {
        if (role->schema && strcmp(schema[i].key, role->name) == 0) {
            schema[i].type = EVC_CFG_MAP;
            schema[i].children = role->schema;
        }
    }
    return evc_cfg_validate(root, schema, "", app_print_problem, NULL);
}

size_t app_validate_plugin_section(const char *where, const evc_cfg_node *section,
                                   const evc_plugin_descriptor *desc)
{
    bool is_transport = strcmp(where, "transport") == 0;
    const evc_cfg_field *core = is_transport ? TRANSPORT_CORE : STORE_CORE;
    size_t ncore = is_transport ? sizeof TRANSPORT_CORE / sizeof TRANSPORT_CORE[0]
                                : sizeof STORE_CORE / sizeof STORE_CORE[0];
    const char *const *shipped = is_transport ? SHIPPED_TRANSPORTS : SHIPPED_STORES;
    size_t nshipped = 0;
    while (shipped[nshipped])
        nshipped++;

    size_t cap = ncore + nshipped + 2;
    evc_cfg_field *schema = calloc(cap, sizeof *schema);
    if (!schema) {
        fprintf(stderr, "%s: out of memory validating the config\n", where);
        return 1;
    }
    size_t n = 0;
    memcpy(schema, core, ncore * sizeof *core);
    n = ncore;
    bool own_listed = false;
    for (size_t i = 0; i < nshipped; i++) {
        schema[n] = (evc_cfg_field){.key = shipped[i], .type = EVC_CFG_ANY,
                                    .help = "settings of that plugin"};
        if (desc && strcmp(shipped[i], desc->name) == 0) {
            own_listed = true;
            if (desc->config_schema) {
                schema[n].type = EVC_CFG_MAP;
                schema[n].children = desc->config_schema;
            }
        }
        n++;
    }
    if (desc && !own_listed) {
        schema[n++] = (evc_cfg_field){.key = desc->name,
                                      .type = desc->config_schema ? EVC_CFG_MAP : EVC_CFG_ANY,
                                      .children = desc->config_schema,
                                      .help = "settings of this plugin"};
    }
    size_t problems = 0;
    evc_cfg_validate(section, schema, where, app_print_problem, &problems);
    free(schema);
    return problems;
}

/* ---- the schemas as documentation (--help-config) ---------------------- */

static void type_text(const evc_cfg_field *f, char *buf, size_t cap)
{
    switch (f->type) {
    case EVC_CFG_STRING: snprintf(buf, cap, "string"); break;
    case EVC_CFG_INT:
        if (f->min < f->max)
            snprintf(buf, cap, "integer %lld..%lld", (long long)f->min, (long long)f->max);
        else
            snprintf(buf, cap, "integer");
        break;
    case EVC_CFG_BOOL: snprintf(buf, cap, "boolean"); break;
    case EVC_CFG_DOUBLE: snprintf(buf, cap, "number"); break;
    case EVC_CFG_ENUM: {
        size_t n = (size_t)snprintf(buf, cap, "one of");
        for (size_t i = 0; f->enum_values && f->enum_values[i] && n < cap; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s `%s`", i ? "," : "", f->enum_values[i]);
        break;
    }
    case EVC_CFG_MAP: snprintf(buf, cap, "map"); break;
    case EVC_CFG_STRMAP: snprintf(buf, cap, "map of strings"); break;
    case EVC_CFG_STRLIST: snprintf(buf, cap, "list of strings"); break;
    case EVC_CFG_ANY: snprintf(buf, cap, "any"); break;
    }
}

/* One row per key, nested maps flattened to dotted keys. */
static void print_rows(FILE *out, const char *prefix, const evc_cfg_field *fields, size_t n)
{
    for (size_t i = 0; i < n && fields[i].key; i++) {
        const evc_cfg_field *f = &fields[i];
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", f->key);
        if (f->type == EVC_CFG_MAP && f->children) {
            print_rows(out, key, f->children, SIZE_MAX);
            continue;
        }
        char type[512];
        type_text(f, type, sizeof type);
        char dflt[256] = "";
        if (f->default_text)
            snprintf(dflt, sizeof dflt, *f->default_text ? "`%s`" : "(empty)", f->default_text);
        fprintf(out, "| `%s` | %s%s | %s | %s |\n", key, type, f->required ? ", required" : "",
                dflt, f->help ? f->help : "");
    }
}

static void print_table(FILE *out, const char *title, const char *prefix,
                        const evc_cfg_field *fields, size_t n)
{
    fprintf(out, "### %s\n\n| Key | Type | Default | Meaning |\n|---|---|---|---|\n", title);
    print_rows(out, prefix, fields, n);
    fprintf(out, "\n");
}

void app_print_config_doc(FILE *out, const evc_role *role, const evc_plugin_descriptor *transport,
                          const evc_plugin_descriptor *store)
{
    /* The core's own keys: the root's maps and scalars, not the sections
     * documented below or by other programs. */
    evc_cfg_field core[ROOT_COUNT + 1];
    size_t n = 0;
    for (size_t i = 0; i < ROOT_COUNT; i++)
        if (ROOT_SCHEMA_BASE[i].type != EVC_CFG_ANY)
            core[n++] = ROOT_SCHEMA_BASE[i];
    print_table(out, "Core (every program)", "", core, n);
    char title[256];
    if (transport) {
        print_table(out, "`transport` (programs on the bus)", "transport", TRANSPORT_CORE,
                    sizeof TRANSPORT_CORE / sizeof TRANSPORT_CORE[0]);
        if (transport->config_schema) {
            snprintf(title, sizeof title, "`transport.%s` (plugin %s)", transport->name,
                     transport->name);
            char prefix[128];
            snprintf(prefix, sizeof prefix, "transport.%s", transport->name);
            print_table(out, title, prefix, transport->config_schema, SIZE_MAX);
        }
    }
    if (store) {
        print_table(out, "`store` (programs with a database)", "store", STORE_CORE,
                    sizeof STORE_CORE / sizeof STORE_CORE[0]);
        if (store->config_schema) {
            snprintf(title, sizeof title, "`store.%s` (plugin %s)", store->name, store->name);
            char prefix[128];
            snprintf(prefix, sizeof prefix, "store.%s", store->name);
            print_table(out, title, prefix, store->config_schema, SIZE_MAX);
        }
    }
    if (role->schema) {
        snprintf(title, sizeof title, "`%s` (%s)", role->name, role->program);
        print_table(out, title, role->name, role->schema, SIZE_MAX);
    }
}
