/* kafka_config.c: the transport.kafka section -- its schema, the settings the
 * plugin reads itself, and the librdkafka configurations built from it. Every
 * problem is a config error naming file:line:column of the offending value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_internal.h"

static const char *const kafka_reset_values[] = {"earliest", "latest", NULL};
static const char *const kafka_assignment_values[] = {"direct", "group", NULL};

static const evc_cfg_field kafka_topics_schema[] = {
    {.key = "create", .type = EVC_CFG_BOOL, .default_text = "true",
     .help = "create missing topics at start with the Admin API; false: check they exist"},
    {.key = "partitions", .type = EVC_CFG_INT, .default_text = "4",
     .help = "partitions of a topic the plugin creates", .min = 1, .max = 100000},
    {.key = "replication_factor", .type = EVC_CFG_INT, .default_text = "1",
     .help = "replication factor of a topic the plugin creates (3 on a production cluster)",
     .min = 1, .max = 1000},
    {.key = "names", .type = EVC_CFG_STRLIST,
     .help = "topics to create/check at start besides the subscribed ones (published-only topics)"},
    {.key = NULL},
};

const evc_cfg_field kafka_schema[] = {
    {.key = "properties", .type = EVC_CFG_STRMAP,
     .help = "librdkafka properties for producer and consumer (e.g. security.protocol, ssl.*, "
             "sasl.*; checked at start: see docs/TRANSPORTS.md); sasl.password_file and "
             "ssl.key.password_file (mode 0600) keep passwords out of the YAML; a consumer-only "
             "property such as fetch.wait.max.ms goes in consumer_properties"},
    {.key = "producer_properties", .type = EVC_CFG_STRMAP,
     .help = "librdkafka properties for the producer only (override `properties`); the "
             "plugin's defaults: acks=all, enable.idempotence=true, linger.ms=1"},
    {.key = "consumer_properties", .type = EVC_CFG_STRMAP,
     .help = "librdkafka properties for the consumer only (override `properties`)"},
    {.key = "group_id", .type = EVC_CFG_STRING,
     .help = "consumer group; overrides transport.group_id (keep it stable per role instance)"},
    {.key = "assignment", .type = EVC_CFG_ENUM, .default_text = "direct",
     .help = "direct: this process reads every partition of its topics itself, at the offsets "
             "committed under group_id (no group join: a restarted process reads on at once); "
             "group: the consumer group protocol shares partitions between the processes of "
             "one group_id (only for several processes per group)",
     .enum_values = kafka_assignment_values},
    {.key = "partition_check_ms", .type = EVC_CFG_INT, .default_text = "30000",
     .help = "assignment direct: how often partitions added to a topic are looked for (a "
             "thread asks the brokers; new ones are read from their committed offset)",
     .min = 100, .max = 3600000},
    {.key = "auto_offset_reset", .type = EVC_CFG_ENUM, .default_text = "earliest",
     .help = "where a group without a committed offset starts", .enum_values = kafka_reset_values},
    {.key = "topics", .type = EVC_CFG_MAP, .help = "topic creation/checking at start",
     .children = kafka_topics_schema},
    {.key = "flush_timeout_ms", .type = EVC_CFG_INT, .default_text = "5000",
     .help = "how long stop waits for outstanding deliveries (within close_timeout_ms)",
     .min = 0, .max = 3600000},
    {.key = "close_timeout_ms", .type = EVC_CFG_INT, .default_text = "5000",
     .help = "bound of the transport's stop (leaving the group, flushing); past it the "
             "program closes without the brokers and logs one line",
     .min = 0, .max = 3600000},
    {.key = "admin_timeout_ms", .type = EVC_CFG_INT, .default_text = "10000",
     .help = "deadline of the topic creation/check at start", .min = 1, .max = 600000},
    {.key = "retry_delay_ms", .type = EVC_CFG_INT, .default_text = "500",
     .help = "pause of a partition before redelivering a message whose handler failed",
     .min = 0, .max = 3600000},
    {.key = "poll_budget", .type = EVC_CFG_INT, .default_text = "1000",
     .help = "events served per wake-up before yielding to the loop (messages are taken "
             "256 at a time within it)",
     .min = 1, .max = 10000000},
    {.key = NULL},
};

/* Properties the plugin owns: changing them would break its guarantees. */
static const char *const kafka_managed[] = {"enable.auto.offset.store", "group.id", NULL};

typedef struct kafka_problems {
    char *buf;
    size_t cap, len;
    size_t n;
} kafka_problems;

static void kafka_problem(void *arg, const char *msg)
{
    kafka_problems *p = arg;
    int w = snprintf(p->buf + p->len, p->cap - p->len, "%s%s", p->n ? "; " : "", msg);
    p->n++;
    if (w > 0)
        p->len += (size_t)w < p->cap - p->len ? (size_t)w : p->cap - p->len - 1;
}

static char *kafka_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void kafka_settings_free(kafka_settings *s)
{
    free(s->group_id);
    free(s->auto_offset_reset);
    for (size_t i = 0; i < s->n_topic_names; i++)
        free(s->topic_names[i]);
    free(s->topic_names);
    memset(s, 0, sizeof *s);
}

int kafka_settings_load(evc_transport *t, const evc_transport_params *p, evc_error *err)
{
    kafka_settings *s = &t->set;
    const evc_cfg_node *c = p->config;
    char msgs[EVC_ERROR_MSG_MAX];
    kafka_problems pr = {msgs, sizeof msgs, 0, 0};
    msgs[0] = '\0';
    if (c && evc_cfg_validate(c, kafka_schema, "transport.kafka", kafka_problem, &pr) > 0)
        return evc_error_set(err, EVC_ECONFIG, "%s", msgs);

    const evc_cfg_node *topics = c ? evc_cfg_get(c, "topics") : NULL;
    const char *group = c ? evc_cfg_get_str(c, "group_id", NULL) : NULL;
    if (!group || !*group)
        group = p->group_id;
    s->group_id = kafka_strdup(group && *group ? group : NULL);
    /* Defaults come from the schemas above, where they are documented; a
     * NULL map reads as empty. */
    const evc_cfg_field *ts = kafka_topics_schema, *ks = kafka_schema;
    s->auto_offset_reset = kafka_strdup(evc_cfg_schema_str(c, ks, "auto_offset_reset"));
    s->topics_create = evc_cfg_schema_bool(topics, ts, "create");
    s->partitions = (int32_t)evc_cfg_schema_int(topics, ts, "partitions");
    s->replication_factor = (int32_t)evc_cfg_schema_int(topics, ts, "replication_factor");
    s->flush_timeout_ms = (uint64_t)evc_cfg_schema_int(c, ks, "flush_timeout_ms");
    s->close_timeout_ms = (uint64_t)evc_cfg_schema_int(c, ks, "close_timeout_ms");
    s->admin_timeout_ms = (uint64_t)evc_cfg_schema_int(c, ks, "admin_timeout_ms");
    s->retry_delay_ms = (uint64_t)evc_cfg_schema_int(c, ks, "retry_delay_ms");
    s->poll_budget = (uint32_t)evc_cfg_schema_int(c, ks, "poll_budget");
    const char *assignment = evc_cfg_schema_str(c, ks, "assignment");
    s->direct = !assignment || strcmp(assignment, "direct") == 0;
    s->partition_check_ms = (uint64_t)evc_cfg_schema_int(c, ks, "partition_check_ms");
    if (!s->auto_offset_reset)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");

    const evc_cfg_node *names = topics ? evc_cfg_get(topics, "names") : NULL;
    size_t n = names ? evc_cfg_count(names) : 0;
    if (n) {
        s->topic_names = calloc(n, sizeof *s->topic_names);
        if (!s->topic_names)
            return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
        for (size_t i = 0; i < n; i++) {
            const evc_cfg_node *nn = evc_cfg_at(names, i, NULL);
            const char *v = evc_cfg_scalar(nn);
            if (!v || !*v) {
                evc_cfg_pos pos = evc_cfg_node_pos(nn);
                return evc_error_set(err, EVC_ECONFIG,
                                     "%s:%u:%u: transport.kafka.topics.names: empty topic name",
                                     pos.file, pos.line, pos.column);
            }
            if (!(s->topic_names[i] = strdup(v)))
                return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
            s->n_topic_names = i + 1;
        }
    }
    return EVC_OK;
}

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, evc_error *err)
{
    char es[512];
    if (rd_kafka_conf_set(conf, name, value, es, sizeof es) != RD_KAFKA_CONF_OK)
        return evc_error_set(err, EVC_ECONFIG, "transport.kafka: librdkafka property %s=%s: %s",
                             name, value, es);
    return EVC_OK;
}

/* Applies one string map of properties; errors name the value's position. */
static int kafka_apply_map(evc_transport *t, rd_kafka_conf_t *conf, const evc_cfg_node *c,
                           const char *key, evc_error *err)
{
    const evc_cfg_node *map = c ? evc_cfg_get(c, key) : NULL;
    size_t n = map ? evc_cfg_count(map) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const evc_cfg_node *v = evc_cfg_at(map, i, &name);
        evc_cfg_pos pos = evc_cfg_node_pos(v);
        const char *val = evc_cfg_scalar(v);
        char es[512];
        if (!name || !val)
            return evc_error_set(err, EVC_ECONFIG,
                                 "%s:%u:%u: transport.kafka.%s: values must be scalars",
                                 pos.file, pos.line, pos.column, key);
        for (size_t m = 0; kafka_managed[m]; m++)
            if (strcmp(name, kafka_managed[m]) == 0)
                return evc_error_set(
                    err, EVC_ECONFIG,
                    "%s:%u:%u: transport.kafka.%s.%s is managed by the plugin (offsets are "
                    "stored only after the handler succeeded; the group is "
                    "transport.kafka.group_id)",
                    pos.file, pos.line, pos.column, key, name);
        bool handled = false;
        int rc = kafka_security_property(t, conf, key, name, val, pos, &handled, err);
        if (rc != EVC_OK)
            return rc;
        if (handled)
            continue;
        rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, name, val, es, sizeof es);
        if (r != RD_KAFKA_CONF_OK)
            return evc_error_set(err, EVC_ECONFIG, "%s:%u:%u: transport.kafka.%s.%s: %s",
                                 pos.file, pos.line, pos.column, key, name, es);
    }
    return EVC_OK;
}

static bool kafka_conf_is(rd_kafka_conf_t *conf, const char *name, const char *a, const char *b)
{
    char v[64];
    size_t sz = sizeof v;
    if (rd_kafka_conf_get(conf, name, v, &sz) != RD_KAFKA_CONF_OK)
        return false;
    return strcmp(v, a) == 0 || (b && strcmp(v, b) == 0);
}

int kafka_confs_build(evc_transport *t, const evc_transport_params *p, evc_error *err)
{
    const evc_cfg_node *c = p->config;
    int rc;
    t->pconf = rd_kafka_conf_new();
    t->cconf = rd_kafka_conf_new();
    if (!t->pconf || !t->cconf)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");

    rd_kafka_conf_t *both[2] = {t->pconf, t->cconf};
    for (int i = 0; i < 2; i++) {
        rd_kafka_conf_set_opaque(both[i], t);
        rd_kafka_conf_set_log_cb(both[i], kafka_log_cb);
        rd_kafka_conf_set_error_cb(both[i], kafka_error_cb);
        if ((rc = kafka_set(both[i], "bootstrap.servers", t->endpoint, err)) != EVC_OK)
            return rc;
        if (t->client_id && *t->client_id &&
            (rc = kafka_set(both[i], "client.id", t->client_id, err)) != EVC_OK)
            return rc;
    }
    /* Producer defaults for at-least-once with per-key order; the user's
     * properties below may change them, and guarantees() then says so. */
    if ((rc = kafka_set(t->pconf, "acks", "all", err)) != EVC_OK ||
        (rc = kafka_set(t->pconf, "enable.idempotence", "true", err)) != EVC_OK)
        return rc;
    /* librdkafka's 5 ms linger is added to every hop of a request/answer
     * exchange (driver -> Central -> engine -> ...), where there is nothing
     * to batch; under load batches still form while requests are in flight.
     * Measured: bench_kafka_latency, docs/TRANSPORTS.md "Latency". */
    if ((rc = kafka_set(t->pconf, "linger.ms", "1", err)) != EVC_OK)
        return rc;
    rd_kafka_conf_set_dr_msg_cb(t->pconf, kafka_dr_cb);

    if ((rc = kafka_set(t->cconf, "enable.auto.offset.store", "false", err)) != EVC_OK ||
        (rc = kafka_set(t->cconf, "auto.offset.reset", t->set.auto_offset_reset, err)) !=
            EVC_OK)
        return rc;
    if (t->set.group_id && (rc = kafka_set(t->cconf, "group.id", t->set.group_id, err)) != EVC_OK)
        return rc;

    if ((rc = kafka_apply_map(t, t->pconf, c, "properties", err)) != EVC_OK ||
        (rc = kafka_apply_map(t, t->cconf, c, "properties", err)) != EVC_OK ||
        (rc = kafka_apply_map(t, t->pconf, c, "producer_properties", err)) != EVC_OK ||
        (rc = kafka_apply_map(t, t->cconf, c, "consumer_properties", err)) != EVC_OK ||
        (rc = kafka_security_check(t, c, err)) != EVC_OK)
        return rc;

    t->acks_zero = kafka_conf_is(t->pconf, "acks", "0", NULL);
    t->acks_all = kafka_conf_is(t->pconf, "acks", "all", "-1");
    t->idempotent = kafka_conf_is(t->pconf, "enable.idempotence", "true", NULL);
    /* Without idempotence a retried batch can overtake the next one unless
     * only one request is in flight. */
    t->ordered = t->idempotent ||
                 kafka_conf_is(t->pconf, "max.in.flight.requests.per.connection", "1", NULL);
    t->stats.struct_size = sizeof t->stats;
    return EVC_OK;
}
