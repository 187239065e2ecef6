/* memq_plugin.c: an in-process transport built out of tree from the
 * installed SDK only. publish() copies the message and, on the next loop
 * turn, hands it to this instance's own subscribers and reports ACKED: the
 * smallest transport that keeps the contract of evc/transport.h (never
 * blocks, exactly one outcome per accepted token, back-pressure as
 * EVC_EAGAIN). Useful as a starting point and as a broker-less bus in tests.
 */
/* strdup is POSIX: ask for it, since -std=c11 alone hides it. */
#define _POSIX_C_SOURCE 200809L

#include <evc/host.h>
#include <evc/plugin.h>
#include <evc/transport.h>

#include <stdlib.h>
#include <string.h>

/* One accepted message waiting for its loop turn; owned by the instance. */
typedef struct memq_item {
    struct memq_item *next;
    struct evc_transport *t;
    uint64_t token;
    char *topic, *key; /* owned copies */
    void *payload;     /* owned copy */
    size_t len;
} memq_item;

struct evc_transport {
    const evc_host_api *host; /* borrowed for the instance's life */
    int64_t max_queue;
    int64_t queued;
    char **topics; /* owned copies of the subscribed topics */
    size_t ntopics;
    int started;
    evc_transport_stats stats;
};

static const evc_cfg_field memq_schema[] = {
    {.key = "max_queue", .type = EVC_CFG_INT, .default_text = "1024", .min = 1, .max = 1000000,
     .help = "messages accepted but not yet delivered before publish answers EVC_EAGAIN"},
    {.key = NULL},
};

static void memq_item_free(memq_item *it)
{
    free(it->topic);
    free(it->key);
    free(it->payload);
    free(it);
}

static int memq_subscribed(const evc_transport *t, const char *topic)
{
    for (size_t i = 0; i < t->ntopics; i++)
        if (strcmp(t->topics[i], topic) == 0)
            return 1;
    return 0;
}

static int memq_create(const evc_host_api *host, const evc_transport_params *params,
                       evc_transport **out, evc_error *err)
{
    *out = NULL;
    /* Fields past the host's struct_size are absent: config NULL = defaults.
     * The core has already validated the section against memq_schema. */
    const evc_cfg_node *cfg = EVC_HAS_FIELD(params, config) ? params->config : NULL;
    evc_transport *t = calloc(1, sizeof *t);
    if (!t)
        return evc_error_set(err, EVC_ENOMEM, "transport memq: out of memory");
    t->host = host;
    /* The default is the one memq_schema declares (and documents). */
    t->max_queue = evc_cfg_schema_int(cfg, memq_schema, "max_queue");
    t->stats.struct_size = sizeof t->stats;
    *out = t;
    return EVC_OK;
}

static int memq_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    if (memq_subscribed(t, topic))
        return EVC_OK;
    char **grown = realloc(t->topics, (t->ntopics + 1) * sizeof *grown);
    if (!grown || !(grown[t->ntopics] = strdup(topic))) {
        if (grown)
            t->topics = grown;
        return evc_error_set(err, EVC_ENOMEM, "transport memq: out of memory subscribing to '%s'",
                             topic);
    }
    t->topics = grown;
    t->ntopics++;
    return EVC_OK;
}

static int memq_start(evc_transport *t, evc_error *err)
{
    t->started = 1;
    t->stats.joined = 1; /* delivers as soon as it is started */
    return EVC_OK;
}

/* The loop turn after publish: deliver to our own subscribers, then ACK. */
static void memq_deliver(void *arg)
{
    memq_item *it = arg;
    evc_transport *t = it->t;
    const evc_host_api *h = t->host;
    if (t->started && memq_subscribed(t, it->topic)) {
        evc_message m = {.topic = it->topic, .key = it->key, .payload = it->payload,
                         .payload_len = it->len, .partition = -1, .offset = -1};
        t->stats.received++;
        h->dispatch(h->host, &m);
    }
    h->deliver_outcome(h->host, it->token, EVC_OUTCOME_ACKED, NULL);
    t->stats.acked++;
    t->queued--;
    memq_item_free(it);
}

static int memq_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err)
{
    if (!t->started)
        return evc_error_set(err, EVC_ESTATE, "transport memq: publish before start");
    if (t->queued >= t->max_queue) {
        t->stats.backpressured++;
        return evc_error_set(err, EVC_EAGAIN, "transport memq: %lld messages queued (max_queue)",
                             (long long)t->queued);
    }
    memq_item *it = calloc(1, sizeof *it);
    if (!it || !(it->topic = strdup(msg->topic)) || !(it->key = strdup(msg->key ? msg->key : "")) ||
        !(it->payload = malloc(msg->payload_len ? msg->payload_len : 1))) {
        if (it)
            memq_item_free(it);
        return evc_error_set(err, EVC_ENOMEM, "transport memq: out of memory publishing on '%s'",
                             msg->topic);
    }
    memcpy(it->payload, msg->payload, msg->payload_len);
    it->len = msg->payload_len;
    it->t = t;
    it->token = token;
    if (t->host->post(t->host->host, memq_deliver, it) != EVC_OK) {
        memq_item_free(it);
        return evc_error_set(err, EVC_ESTATE, "transport memq: the host loop refused the post");
    }
    t->queued++;
    t->stats.published++;
    return EVC_OK;
}

static bool memq_drained(void *arg) { return ((evc_transport *)arg)->queued == 0; }

static int memq_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err)
{
    if (t->host->run_until(t->host->host, memq_drained, t, timeout_ms) != EVC_OK || t->queued)
        return evc_error_set(err, EVC_ETIMEDOUT, "transport memq: %lld messages still queued",
                             (long long)t->queued);
    return EVC_OK;
}

static void memq_stop(evc_transport *t)
{
    /* Posted items still run and report ACKED; only delivery stops. */
    t->started = 0;
}

static void memq_destroy(evc_transport *t)
{
    if (!t)
        return;
    memq_stop(t);
    memq_flush(t, 1000, NULL);
    for (size_t i = 0; i < t->ntopics; i++)
        free(t->topics[i]);
    free(t->topics);
    free(t);
}

static void memq_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    /* Write only what the host's struct covers: an older host passes less. */
    evc_transport_guarantees g = {.struct_size = out->struct_size,
                                  .delivery = EVC_DELIVERY_AT_MOST_ONCE,
                                  .per_key_order = true};
    memcpy(out, &g, out->struct_size < sizeof g ? out->struct_size : sizeof g);
}

static void memq_stats(evc_transport *t, evc_transport_stats *out)
{
    evc_transport_stats s = t->stats;
    s.struct_size = out->struct_size;
    memcpy(out, &s, out->struct_size < sizeof s ? out->struct_size : sizeof s);
}

static const evc_transport_ops memq_ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = memq_create, .subscribe = memq_subscribe, .start = memq_start,
    .publish = memq_publish, .flush = memq_flush, .stop = memq_stop,
    .destroy = memq_destroy, .guarantees = memq_guarantees, .stats = memq_stats,
};

static const evc_plugin_descriptor memq_descriptor = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = 1, /* the oldest host it needs: 1.1 added evc_transport_stats.joined */
    .struct_size = sizeof(evc_plugin_descriptor),
    .kind = EVC_PLUGIN_TRANSPORT,
    .name = "memq",
    .version = "1.0.0",
    .description = "in-process queue: delivers to its own subscribers (SDK example)",
    .config_schema = memq_schema,
    .ops = &memq_ops,
};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t host_major,
                                                                uint16_t host_minor);
EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t host_major,
                                                                uint16_t host_minor)
{
    return host_major == EVC_ABI_MAJOR ? &memq_descriptor : NULL;
}
