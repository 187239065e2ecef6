/* monitor_config.c: cp_monitor's section: its schema (the keys, their
 * bounds, defaults and help, as --help-config and docs/CONFIG.md show them)
 * and the reading of the tunables with those defaults, written once. */
#include <stdio.h>

#include "monitor.h"

const evc_cfg_field monitor_schema[] = {
    {.key = "engine", .type = EVC_CFG_STRING, .help = "engine host:port (first argument)"},
    {.key = "central", .type = EVC_CFG_STRING, .help = "Central host:port (second argument)"},
    {.key = "cp_id", .type = EVC_CFG_STRING, .help = "this CP's id (third argument)"},
    {.key = "location", .type = EVC_CFG_STRING, .default_text = "Unknown location",
     .help = "location sent in AUTH (registers an unknown CP under Central's open policy)"},
    {.key = "price_cents_per_kwh", .type = EVC_CFG_INT, .min = 0, .max = 100000,
     .default_text = "35", .help = "price sent in AUTH, integer cents per kWh (--price-cents)"},
    {.key = "secret", .type = EVC_CFG_STRING, .default_text = "secret-<cp_id>",
     .help = "the CP's secret, proved to Central and to the engine without being sent "
             "(--secret-file wins; the default is the demo seed's: production sets its own)"},
    {.key = "health_interval_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "1000", .help = "PING the engine this often"},
    {.key = "health_timeout_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "2000", .help = "no PONG this long after a PING: engine UNREACHABLE"},
    {.key = "engine_grace_ms", .type = EVC_CFG_INT, .min = 0, .max = 600000,
     .default_text = "5000",
     .help = "at start, an engine that does not accept the connection yet is not reported "
             "UNREACHABLE (BROKEN at Central) before this; the CP stays DISCONNECTED meanwhile"},
    {.key = "heartbeat_interval_ms", .type = EVC_CFG_INT, .min = 50, .max = 600000,
     .default_text = "1000", .help = "HB to Central this often (and at once on a change)"},
    {.key = "backoff_min_ms", .type = EVC_CFG_INT, .min = 10, .max = 600000,
     .default_text = "250", .help = "first reconnection delay to Central or the engine"},
    {.key = "backoff_max_ms", .type = EVC_CFG_INT, .min = 10, .max = 600000,
     .default_text = "2000", .help = "reconnection delay cap (doubles up to it)"},
    {.key = "deny_retry_min_ms", .type = EVC_CFG_INT, .min = 10, .max = 3600000,
     .default_text = "2000", .help = "first re-AUTH delay after AUTH_DENIED"},
    {.key = "deny_retry_max_ms", .type = EVC_CFG_INT, .min = 10, .max = 3600000,
     .default_text = "30000", .help = "re-AUTH delay cap after repeated denials"},
    {.key = "web_port", .type = EVC_CFG_INT, .min = 0, .max = 65535, .default_text = "8003",
     .help = "the monitor dashboard's HTTP port (--web-port; 0 turns the page off; one port "
             "per monitor on a host: 8003, 8004, ...); a port in use stops the start"},
    {.key = "web_host", .type = EVC_CFG_STRING, .default_text = "127.0.0.1",
     .help = "address the dashboard listens on (read-only page without a login: keep it on "
             "127.0.0.1 unless the network is the technicians'; docs/WEB.md)"},
    {0},
};

void monitor_cfg_read(monitor_cfg *c, const evc_cfg_node *sec)
{
    const evc_cfg_field *s = monitor_schema;
    snprintf(c->location, sizeof c->location, "%s", evc_cfg_schema_str(sec, s, "location"));
    c->price_cents_per_kwh = evc_cfg_schema_int(sec, s, "price_cents_per_kwh");
    c->health_interval_ms = evc_cfg_schema_int(sec, s, "health_interval_ms");
    c->health_timeout_ms = evc_cfg_schema_int(sec, s, "health_timeout_ms");
    c->heartbeat_interval_ms = evc_cfg_schema_int(sec, s, "heartbeat_interval_ms");
    c->engine_grace_ms = evc_cfg_schema_int(sec, s, "engine_grace_ms");
    c->backoff_min_ms = evc_cfg_schema_int(sec, s, "backoff_min_ms");
    c->backoff_max_ms = evc_cfg_schema_int(sec, s, "backoff_max_ms");
    c->deny_retry_min_ms = evc_cfg_schema_int(sec, s, "deny_retry_min_ms");
    c->deny_retry_max_ms = evc_cfg_schema_int(sec, s, "deny_retry_max_ms");
    c->web_port = (uint16_t)evc_cfg_schema_int(sec, s, "web_port");
    snprintf(c->web_host, sizeof c->web_host, "%s", evc_cfg_schema_str(sec, s, "web_host"));
    /* The program turns the page on unless web_port is 0 (main.c); a
     * monitor built by a test serves none unless it asks. */
    c->web = false;
}

void monitor_cfg_defaults(monitor_cfg *c) { monitor_cfg_read(c, NULL); }
