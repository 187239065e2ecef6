/* zmqt_plugin.c: the ZeroMQ transport plugin's descriptor and ops table.
 * Lifecycle here; sockets in zmqt_io.c; config in zmqt_config.c. */
#include <stdlib.h>
#include <string.h>

#include "evc/plugin.h"
#include "zmqt_internal.h"

static int zmqt_create(const evc_host_api *host, const evc_transport_params *params,
                       evc_transport **out, evc_error *err)
{
    *out = NULL;
    if (host == NULL || params == NULL)
        return evc_error_set(err, EVC_EINVAL, "zmq: create: NULL host or params");
    evc_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        return evc_error_set(err, EVC_ENOMEM, "zmq: create: out of memory");
    int rc = zmqt_config_parse(params->config, params->endpoint, params->client_id, &t->cfg, err);
    if (rc != EVC_OK) {
        free(t);
        return rc;
    }
    t->host = host;
    t->state = ZMQT_CREATED;
    t->stats.struct_size = sizeof t->stats;
    *out = t;
    return EVC_OK;
}

static int zmqt_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    return zmqt_io_subscribe(t, topic, err);
}

static int zmqt_subscribe_keys(evc_transport *t, const char *topic, const char *const *keys,
                               size_t n, evc_error *err)
{
    return zmqt_io_subscribe_keys(t, topic, keys, n, err);
}

static int zmqt_start(evc_transport *t, evc_error *err) { return zmqt_io_start(t, err); }

static int zmqt_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err)
{
    return zmqt_io_publish(t, msg, token, err);
}

/* Every accepted message's outcome (SENT_UNCONFIRMED) is known when publish
 * returns; flush hands over the ones still waiting for the next loop
 * iteration. PUB/SUB has no acknowledgement to wait for, so flush never needs
 * the deadline; how long queued bytes may still leave is linger_ms, on stop. */
static int zmqt_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err)
{
    zmqt_io_deliver_outcomes(t);
    return EVC_OK;
}

static void zmqt_stop(evc_transport *t)
{
    if (t != NULL)
        zmqt_io_stop(t);
}

static void zmqt_destroy(evc_transport *t)
{
    if (t == NULL)
        return;
    zmqt_io_stop(t);
    zmqt_config_wipe(&t->cfg);
    zmqt_sub_free(t);
    free(t->pending);
    zmqt_seqmap_free(&t->pub_seq);
    zmqt_seqmap_free(&t->sub_seq);
    free(t);
}

/* Copies `have` into the caller's struct, only as far as the caller's
 * struct_size reaches (an older host passes a shorter struct). */
static void zmqt_fill(void *out, const void *have, size_t have_size)
{
    uint32_t theirs;
    memcpy(&theirs, out, sizeof theirs);
    size_t n = theirs < have_size ? theirs : have_size;
    if (n > sizeof theirs)
        memcpy((char *)out + sizeof theirs, (const char *)have + sizeof theirs,
               n - sizeof theirs);
}

static void zmqt_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    evc_transport_guarantees g = {
        .struct_size = sizeof *out,
        .delivery = EVC_DELIVERY_AT_MOST_ONCE,
        /* One publisher's messages go down one FIFO path (PUB pipe, proxy,
         * SUB pipe): they arrive in publish order, gaps possible. */
        .per_key_order = true,
        .durable = false,
        .replay = false,
        .redelivery = false,
    };
    zmqt_fill(out, &g, sizeof g);
}

static void zmqt_stats(evc_transport *t, evc_transport_stats *out)
{
    zmqt_fill(out, &t->stats, sizeof t->stats);
}

static const evc_transport_ops zmqt_ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = zmqt_create,
    .subscribe = zmqt_subscribe,
    .start = zmqt_start,
    .publish = zmqt_publish,
    .flush = zmqt_flush,
    .stop = zmqt_stop,
    .destroy = zmqt_destroy,
    .guarantees = zmqt_guarantees,
    .stats = zmqt_stats,
    .subscribe_keys = zmqt_subscribe_keys,
};

static const evc_plugin_descriptor zmqt_descriptor = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = 2, /* the oldest host it needs: 1.2 added the subscribe_keys op */
    .struct_size = sizeof(evc_plugin_descriptor),
    .kind = EVC_PLUGIN_TRANSPORT,
    .name = "zmq",
    .version = "1.1.0", /* framing v2: the key in frame 0, subscriptions by key */
    .description = "ZeroMQ PUB/SUB through an XSUB/XPUB proxy; at-most-once, gaps counted, "
                   "subscriptions by key filtered at the proxy",
    .config_schema = zmqt_schema,
    .ops = &zmqt_ops,
};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor);

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor)
{
    /* The loader compares the descriptor's abi_minor with its own. */
    if (host_abi_major != EVC_ABI_MAJOR)
        return NULL;
    return &zmqt_descriptor;
}
