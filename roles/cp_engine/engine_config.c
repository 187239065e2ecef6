/* engine_config.c: cp_engine's section: its schema (the keys, their
 * bounds, defaults and help, as --help-config and docs/CONFIG.md show them)
 * and the reading of the tunables with those defaults, written once. */
#include <stdint.h>

#include "engine.h"

static const evc_cfg_field unattended_schema[] = {
    {.key = "enabled", .type = EVC_CFG_BOOL, .default_text = "false",
     .help = "plug and unplug by itself (demo and tests)"},
    {.key = "plug_after_ms", .type = EVC_CFG_INT, .min = 0, .max = 86400000,
     .default_text = "2000", .help = "plug in this long after an authorisation"},
    {.key = "unplug_after_ms", .type = EVC_CFG_INT, .min = 0, .max = 86400000,
     .default_text = "10000", .help = "unplug this long after the plug (0: only at target_wh)"},
    {.key = "target_wh", .type = EVC_CFG_INT, .min = 0, .max = 100000000, .default_text = "0",
     .help = "unplug once this much energy was supplied (0: no target)"},
    {0},
};

const evc_cfg_field engine_schema[] = {
    {.key = "listen", .type = EVC_CFG_STRING,
     .help = "host:port where this engine's monitor connects (second argument)"},
    {.key = "cp_id", .type = EVC_CFG_STRING,
     .help = "this CP's id, e.g. CP_001 (third argument); required: the engine never takes "
             "its id from a monitor"},
    {.key = "secret", .type = EVC_CFG_STRING, .default_text = "secret-<cp_id>",
     .help = "the CP's secret, the same as its monitor's: the monitor link is accepted only "
             "from a peer proving it (--secret-file wins; the default is the demo seed's: "
             "production sets its own)"},
    {.key = "database", .type = EVC_CFG_STRING, .default_text = "cp-engine-<listen port>.db",
     .help = "the engine's own SQLite file (journal and outbox)"},
    {.key = "monitor_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 600000,
     .default_text = "3000", .help = "no PING this long: the monitor is lost (R30)"},
    {.key = "central_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 600000,
     .default_text = "3000", .help = "no central.heartbeat this long: CENTRAL is unreachable"},
    {.key = "plug_timeout_ms", .type = EVC_CFG_INT, .min = 100, .max = 86400000,
     .default_text = "60000", .help = "an authorisation not followed by a plug expires"},
    {.key = "telemetry_interval_ms", .type = EVC_CFG_INT, .min = 100, .max = 60000,
     .default_text = "1000", .help = "supply.telemetry period while supplying (F7)"},
    {.key = "outbox_retry_ms", .type = EVC_CFG_INT, .min = 100, .max = 3600000,
     .default_text = "5000", .help = "re-send an unacknowledged supply.ended this often"},
    {.key = "power_w", .type = EVC_CFG_INT, .min = 1, .max = 1000000, .default_text = "7400",
     .help = "supply power in watts"},
    {.key = "power_variation_pct", .type = EVC_CFG_INT, .min = 0, .max = 50,
     .default_text = "5", .help = "power varies uniformly by +- this percentage each tick"},
    {.key = "power_seed", .type = EVC_CFG_INT, .min = 0, .max = INT64_MAX, .default_text = "0",
     .help = "seed of the power variation (0: from the clock)"},
    {.key = "unattended", .type = EVC_CFG_MAP, .children = unattended_schema,
     .help = "unattended mode (demo and tests)"},
    {0},
};

void engine_cfg_read(engine_cfg *c, const evc_cfg_node *sec)
{
    const evc_cfg_field *s = engine_schema;
    c->monitor_timeout_ms = evc_cfg_schema_int(sec, s, "monitor_timeout_ms");
    c->central_timeout_ms = evc_cfg_schema_int(sec, s, "central_timeout_ms");
    c->plug_timeout_ms = evc_cfg_schema_int(sec, s, "plug_timeout_ms");
    c->telemetry_interval_ms = evc_cfg_schema_int(sec, s, "telemetry_interval_ms");
    c->outbox_retry_ms = evc_cfg_schema_int(sec, s, "outbox_retry_ms");
    c->power_w = evc_cfg_schema_int(sec, s, "power_w");
    c->power_variation_pct = evc_cfg_schema_int(sec, s, "power_variation_pct");
    c->power_seed = evc_cfg_schema_int(sec, s, "power_seed");
    const evc_cfg_node *u = evc_cfg_get(sec, "unattended");
    c->unattended = evc_cfg_schema_bool(u, unattended_schema, "enabled");
    c->plug_after_ms = evc_cfg_schema_int(u, unattended_schema, "plug_after_ms");
    c->unplug_after_ms = evc_cfg_schema_int(u, unattended_schema, "unplug_after_ms");
    c->target_wh = evc_cfg_schema_int(u, unattended_schema, "target_wh");
}

void engine_cfg_defaults(engine_cfg *c) { engine_cfg_read(c, NULL); }
