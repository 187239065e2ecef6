/* kafka_plugin.c: the Kafka transport's descriptor and lifecycle ops.
 * Producer details are in kafka_producer.c, the consumer group member in
 * kafka_consumer.c, topic creation in kafka_topics.c, the config section in
 * kafka_config.c. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/plugin.h"
#include "kafka_internal.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor);

static void kafka_stop(evc_transport *t);

/* Abandoned instances: reachable from here so that they are not leaks but
 * kept on purpose (see kafka_abandon). Only the loop thread touches it. */
static evc_transport *kafka_abandoned;

void kafka_abandon(evc_transport *t)
{
    /* The plugin's code must outlive its unloading: librdkafka's threads may
     * still call kafka_log_cb (which then returns at once). */
    Dl_info info;
    if (dladdr((void *)kafka_log_cb, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    /* From here librdkafka's callbacks return at once; one already past its
     * check may still log through the host, which the app frees only at the
     * end of its teardown. */
    t->abandoned = true;
    kafka_io_detach(t, &t->cio);
    kafka_io_detach(t, &t->pio);
    t->next_abandoned = kafka_abandoned;
    kafka_abandoned = t;
}

static void kafka_destroy(evc_transport *t)
{
    if (!t)
        return;
    kafka_stop(t);
    if (t->abandoned)
        return; /* kept for the process's life: kafka_abandon */
    kafka_io_detach(t, &t->cio);
    kafka_io_detach(t, &t->pio);
    kafka_assign_free(t); /* before the consumer its watcher reads */
    kafka_consumer_destroy(t);
    if (t->producer)
        rd_kafka_destroy(t->producer);
    if (t->pconf)
        rd_kafka_conf_destroy(t->pconf);
    if (t->cconf)
        rd_kafka_conf_destroy(t->cconf);
    for (size_t i = 0; i < t->n_subs; i++)
        free(t->subs[i]);
    free(t->subs);
    free(t->pos);
    kafka_settings_free(&t->set);
    free(t->endpoint);
    free(t->client_id);
    free(t);
}

/* librdkafka checks combinations of properties (idempotence with acks, ...)
 * only in rd_kafka_new: build and drop a handle of each kind so that such a
 * mistake is a create-time config error. The trial handle has no bootstrap
 * servers, so it contacts nobody. */
static void kafka_trial_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* The trial's notices ("no bootstrap.servers") are about the trial. */
}

static int kafka_trial(evc_transport *t, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                       const evc_transport_params *p, evc_error *err)
{
    char es[512];
    rd_kafka_conf_t *dup = rd_kafka_conf_dup(conf);
    rd_kafka_conf_set(dup, "bootstrap.servers", "", es, sizeof es);
    rd_kafka_conf_set_log_cb(dup, kafka_trial_log);
    rd_kafka_t *rk = rd_kafka_new(type, dup, es, sizeof es);
    if (rk) {
        rd_kafka_destroy(rk);
        return EVC_OK;
    }
    rd_kafka_conf_destroy(dup);
    const evc_cfg_node *c = p->config;
    if (c) {
        evc_cfg_pos pos = evc_cfg_node_pos(c);
        return evc_error_set(err, EVC_ECONFIG, "%s:%u:%u: transport.kafka: %s: %s", pos.file,
                             pos.line, pos.column,
                             type == RD_KAFKA_PRODUCER ? "producer" : "consumer", es);
    }
    return evc_error_set(err, EVC_ECONFIG, "transport.kafka: %s: %s",
                         type == RD_KAFKA_PRODUCER ? "producer" : "consumer", es);
}

static int kafka_create(const evc_host_api *host, const evc_transport_params *p,
                        evc_transport **out, evc_error *err)
{
    if (!out)
        return evc_error_set(err, EVC_EINVAL, "transport.kafka: create needs an out pointer");
    *out = NULL;
    if (!host || !p)
        return evc_error_set(err, EVC_EINVAL, "transport.kafka: create needs a host and params");
    if (!p->endpoint || !*p->endpoint)
        return evc_error_set(err, EVC_ECONFIG,
                             "transport.kafka: no endpoint (the bootstrap servers, for example "
                             "127.0.0.1:9092)");
    evc_transport *t = calloc(1, sizeof *t);
    if (!t)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    t->host = host;
    kafka_io_init(&t->pio);
    kafka_io_init(&t->cio);
    t->endpoint = strdup(p->endpoint);
    t->client_id = p->client_id ? strdup(p->client_id) : NULL;
    int rc = EVC_OK;
    if (!t->endpoint || (p->client_id && !t->client_id))
        rc = evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    if (rc == EVC_OK)
        rc = kafka_assign_init(t, err);
    if (rc == EVC_OK)
        rc = kafka_settings_load(t, p, err);
    if (rc == EVC_OK)
        rc = kafka_confs_build(t, p, err);
    if (rc == EVC_OK)
        rc = kafka_trial(t, RD_KAFKA_PRODUCER, t->pconf, p, err);
    if (rc == EVC_OK)
        rc = kafka_trial(t, RD_KAFKA_CONSUMER, t->cconf, p, err);
    if (rc != EVC_OK) {
        kafka_destroy(t);
        return rc;
    }
    *out = t;
    return EVC_OK;
}

static int kafka_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    if (!topic || !*topic)
        return evc_error_set(err, EVC_EINVAL, "transport.kafka: subscribe needs a topic");
    if (t->stopped)
        return evc_error_set(err, EVC_ESTATE, "transport.kafka: subscribe to %s: stopped", topic);
    for (size_t i = 0; i < t->n_subs; i++)
        if (strcmp(t->subs[i], topic) == 0)
            return EVC_OK;
    if (t->n_subs == t->cap_subs) {
        size_t cap = t->cap_subs ? t->cap_subs * 2 : 8;
        char **s = realloc(t->subs, cap * sizeof *s);
        if (!s)
            return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
        t->subs = s;
        t->cap_subs = cap;
    }
    if (!(t->subs[t->n_subs] = strdup(topic)))
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    t->n_subs++;
    if (!t->started)
        return EVC_OK;
    char *one[1] = {t->subs[t->n_subs - 1]};
    int rc = kafka_topics_ensure(t, one, 1, err);
    if (rc == EVC_OK)
        rc = kafka_consumer_open(t, err);
    if (rc == EVC_OK)
        rc = kafka_consumer_resubscribe_soon(t, err);
    if (rc != EVC_OK)
        free(t->subs[--t->n_subs]);
    return rc;
}

static int kafka_start(evc_transport *t, evc_error *err)
{
    if (t->stopped)
        return evc_error_set(err, EVC_ESTATE, "transport.kafka: start after stop");
    if (t->started)
        return EVC_OK;
    /* A start that failed half-way may be retried: keep what was built. */
    int rc = t->producer ? EVC_OK : kafka_producer_start(t, err);
    if (rc != EVC_OK)
        return rc;
    size_t n = t->n_subs + t->set.n_topic_names;
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < t->n_subs; i++)
        names[k++] = t->subs[i];
    for (size_t i = 0; i < t->set.n_topic_names; i++) {
        bool dup = false;
        for (size_t j = 0; j < t->n_subs && !dup; j++)
            dup = strcmp(t->subs[j], t->set.topic_names[i]) == 0;
        if (!dup)
            names[k++] = t->set.topic_names[i];
    }
    rc = kafka_topics_ensure(t, names, k, err);
    free(names);
    if (rc == EVC_OK)
        rc = kafka_consumer_start(t, err);
    if (rc == EVC_OK)
        t->started = true;
    return rc;
}

/* Bounded by close_timeout_ms whether the brokers are up, slow or gone:
 * past it the plugin closes without them and says so in one line (an
 * operator stopping a program must not wait on a broker that may never
 * answer). */
static void kafka_stop(evc_transport *t)
{
    if (!t || t->stopped)
        return;
    t->stopped = true;
    uint64_t start = kafka_now_ms();
    uint64_t deadline = start + t->set.close_timeout_ms;
    bool left = kafka_consumer_stop(t, deadline);
    uint64_t purged = kafka_producer_stop(t, deadline);
    if (left && purged == 0)
        return;
    char what[256];
    int n = 0;
    if (!left)
        n = snprintf(what, sizeof what,
                     "the consumer group %s was not left (its uncommitted messages come again "
                     "to the next member)",
                     t->set.group_id ? t->set.group_id : "?");
    if (purged)
        snprintf(what + n, sizeof what - (size_t)n, "%s%llu publishes purged unconfirmed",
                 n ? "; " : "", (unsigned long long)purged);
    t->host->log(t->host->host, EVC_LOG_WARN, NULL,
                 "closing without the brokers %s after %llu ms (close_timeout_ms %llu): %s",
                 t->endpoint, (unsigned long long)(kafka_now_ms() - start),
                 (unsigned long long)t->set.close_timeout_ms, what);
    /* Destroying a consumer whose close is under way waits for that close
     * (its requests time out only after socket.timeout.ms); the process is
     * ending, so its threads end with it. */
    if (!left)
        kafka_abandon(t);
}

static void kafka_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    evc_transport_guarantees g = {
        .struct_size = sizeof g,
        /* Consumer side: offsets stored after the handler. Producer side:
         * with acks=0 nothing is confirmed, so a message may vanish. */
        .delivery = t->acks_zero ? EVC_DELIVERY_AT_MOST_ONCE : EVC_DELIVERY_AT_LEAST_ONCE,
        .per_key_order = t->ordered,
        .durable = t->acks_all,
        .replay = true,
        .redelivery = true,
    };
    size_t n = out->struct_size && out->struct_size < sizeof g ? out->struct_size : sizeof g;
    memcpy(out, &g, n);
    out->struct_size = (uint32_t)n;
}

static void kafka_stats(evc_transport *t, evc_transport_stats *out)
{
    size_t n = out->struct_size && out->struct_size < sizeof t->stats ? out->struct_size
                                                                       : sizeof t->stats;
    memcpy(out, &t->stats, n);
    out->struct_size = (uint32_t)n;
}

static const evc_transport_ops kafka_ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = kafka_create,
    .subscribe = kafka_subscribe,
    .start = kafka_start,
    .publish = kafka_publish,
    .flush = kafka_flush,
    .stop = kafka_stop,
    .destroy = kafka_destroy,
    .guarantees = kafka_guarantees,
    .stats = kafka_stats,
};

static const evc_plugin_descriptor kafka_descriptor = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = 1, /* the oldest host it needs: 1.1 added evc_transport_stats.joined */
    .struct_size = sizeof(evc_plugin_descriptor),
    .kind = EVC_PLUGIN_TRANSPORT,
    .name = "kafka",
    .version = "1.0.0",
    .description = "Apache Kafka through librdkafka: at-least-once, per-key order, replay",
    .config_schema = kafka_schema,
    .ops = &kafka_ops,
};

const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major, uint16_t host_abi_minor)
{
    /* A host of any minor >= ours accepts us; the loader checks the minor. */
    (void)host_abi_minor;
    if (host_abi_major != EVC_ABI_MAJOR)
        return NULL;
    return &kafka_descriptor;
}
