/* test_schema.c: a schema shaped like the real ones (a required section with
 * a nested map, a free-form property map, enums, bounded numbers). */
#include "test_schema.h"

#include <stdio.h>
#include <string.h>

static const char *const PLUGINS[] = {"zmq", "kafka", NULL};
static const char *const LEVELS[] = {"error", "warn", "info", "debug", "trace", NULL};

static const evc_cfg_field ZMQ[] = {
    {.key = "sndhwm", .type = EVC_CFG_INT, .min = 0, .max = 1000000},
    {.key = "linger", .type = EVC_CFG_INT},
    {0},
};

static const evc_cfg_field TRANSPORT[] = {
    {.key = "plugin", .type = EVC_CFG_ENUM, .required = true, .enum_values = PLUGINS},
    {.key = "endpoint", .type = EVC_CFG_STRING, .required = true},
    {.key = "port", .type = EVC_CFG_INT, .min = 1, .max = 65535},
    {.key = "zmq", .type = EVC_CFG_MAP, .children = ZMQ},
    {.key = "properties", .type = EVC_CFG_STRMAP},
    {0},
};

static const evc_cfg_field LOG[] = {
    {.key = "level", .type = EVC_CFG_ENUM, .enum_values = LEVELS},
    {.key = "json", .type = EVC_CFG_BOOL},
    {0},
};

const evc_cfg_field test_root_schema[] = {
    {.key = "cp_id", .type = EVC_CFG_STRING, .required = true},
    {.key = "name", .type = EVC_CFG_STRING},
    {.key = "enabled", .type = EVC_CFG_BOOL},
    {.key = "retries", .type = EVC_CFG_INT},
    {.key = "ratio", .type = EVC_CFG_DOUBLE, .dmin = 0.0, .dmax = 1.0},
    {.key = "timeout_s", .type = EVC_CFG_DOUBLE},
    {.key = "brokers", .type = EVC_CFG_STRLIST},
    {.key = "extra", .type = EVC_CFG_ANY},
    {.key = "log", .type = EVC_CFG_MAP, .children = LOG},
    {.key = "transport", .type = EVC_CFG_MAP, .required = true, .children = TRANSPORT},
    {0},
};

void problems_collect(void *arg, const char *msg)
{
    problems *p = arg;
    p->calls++;
    int n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s\n", msg);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof p->text ? p->len + (size_t)n : sizeof p->text - 1;
}
