/* fake_transport.c: see fake_transport.h. */
#include "fake_transport.h"

#include <stdio.h>
#include <string.h>

fake_state FAKE;

struct evc_transport {
    int unused;
};
static struct evc_transport the_instance;

static int f_create(const struct evc_host_api *host, const evc_transport_params *params,
                    evc_transport **out, evc_error *err)
{
    *out = NULL;
    if (FAKE.create_rc != EVC_OK)
        return evc_error_set(err, FAKE.create_rc, "fake.yaml:3:5: endpoint '%s' is not valid",
                             params->endpoint ? params->endpoint : "");
    FAKE.host = host;
    FAKE.created = true;
    *out = &the_instance;
    return EVC_OK;
}

static int f_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    if (FAKE.subscribe_rc != EVC_OK)
        return evc_error_set(err, FAKE.subscribe_rc, "fake: topic '%s' refused", topic);
    if (FAKE.nsubscribed < 8)
        snprintf(FAKE.subscribed[FAKE.nsubscribed++], 32, "%s", topic);
    return EVC_OK;
}

static int f_subscribe_keys(evc_transport *t, const char *topic, const char *const *keys,
                            size_t n, evc_error *err)
{
    if (FAKE.subscribe_rc != EVC_OK)
        return evc_error_set(err, FAKE.subscribe_rc, "fake: keys of '%s' refused", topic);
    if (FAKE.nsubscribed_keys < 8) {
        char *o = FAKE.subscribed_keys[FAKE.nsubscribed_keys++];
        size_t cap = sizeof FAKE.subscribed_keys[0];
        int w = snprintf(o, cap, "%s:", topic);
        for (size_t i = 0; i < n && w > 0 && (size_t)w < cap; i++)
            w += snprintf(o + w, cap - (size_t)w, "%s%s", i ? "," : "", keys[i]);
    }
    return EVC_OK;
}

static int f_start(evc_transport *t, evc_error *err)
{
    FAKE.started = true;
    return EVC_OK;
}

static int f_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err)
{
    if (FAKE.publish_rc != EVC_OK)
        return evc_error_set(err, FAKE.publish_rc, "fake: queue full for topic '%s'", msg->topic);
    if (FAKE.npub == FAKE_MAX_PUB)
        return evc_error_set(err, EVC_EAGAIN, "fake: record full");
    fake_pub *p = &FAKE.pub[FAKE.npub++];
    p->token = token;
    snprintf(p->topic, sizeof p->topic, "%s", msg->topic);
    snprintf(p->key, sizeof p->key, "%s", msg->key);
    p->len = msg->payload_len;
    snprintf(p->body, sizeof p->body, "%.*s", (int)msg->payload_len, (const char *)msg->payload);
    if (FAKE.outcome_inside_publish) {
        p->done = true;
        FAKE.host->deliver_outcome(FAKE.host->host, token,
                                   (evc_outcome_status)FAKE.outcome_inside_publish, "inside");
    }
    return EVC_OK;
}

static void settle_all(evc_outcome_status status, const char *detail)
{
    for (size_t i = 0; i < FAKE.npub; i++)
        if (!FAKE.pub[i].done)
            fake_outcome(i, status, detail);
}

static int f_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err)
{
    settle_all(EVC_OUTCOME_ACKED, NULL);
    return EVC_OK;
}

static void f_stop(evc_transport *t)
{
    if (FAKE.stopped)
        return;
    FAKE.stopped = true;
    if (!FAKE.stop_forgets)
        settle_all(EVC_OUTCOME_NOT_SENT, "stopped");
}

static void f_destroy(evc_transport *t)
{
    f_stop(t);
    FAKE.destroyed = true;
}

static void f_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    out->delivery = EVC_DELIVERY_AT_LEAST_ONCE;
    out->per_key_order = true;
}

static void f_stats(evc_transport *t, evc_transport_stats *out) { out->published = FAKE.npub; }

evc_transport_ops fake_ops(void)
{
    return (evc_transport_ops){
        .struct_size = sizeof(evc_transport_ops),
        .create = f_create,
        .subscribe = f_subscribe,
        .start = f_start,
        .publish = f_publish,
        .flush = FAKE.has_flush ? f_flush : NULL,
        .stop = f_stop,
        .destroy = f_destroy,
        .guarantees = f_guarantees,
        .stats = f_stats,
        .subscribe_keys = FAKE.has_subscribe_keys ? f_subscribe_keys : NULL,
    };
}

void fake_outcome(size_t i, evc_outcome_status status, const char *detail)
{
    FAKE.pub[i].done = true;
    fake_outcome_token(FAKE.pub[i].token, status, detail);
}

void fake_outcome_token(uint64_t token, evc_outcome_status status, const char *detail)
{
    FAKE.host->deliver_outcome(FAKE.host->host, token, status, detail);
}

int fake_dispatch(const char *topic, const char *payload)
{
    return fake_dispatch_key(topic, "CP1", payload);
}

int fake_dispatch_key(const char *topic, const char *key, const char *payload)
{
    evc_message m = {.topic = topic, .key = key, .payload = payload,
                     .payload_len = strlen(payload), .partition = -1, .offset = -1};
    return FAKE.host->dispatch(FAKE.host->host, &m);
}
