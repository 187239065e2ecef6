/* good: a minimal, working in-memory loopback transport.
 *
 * publish() queues a copy of the message and arms a zero-delay host timer;
 * when the timer fires (on the loop thread, after publish has returned) each
 * queued message is handed to host->dispatch if this instance subscribed to
 * its topic, then its outcome is reported ACKED through deliver_outcome.
 * Every started instance of the process hears what any instance publishes
 * (like processes on one bus), so a test can give each party its own bus.
 * Nothing leaves the process: it is the smallest honest transport, for tests
 * that need a plugin which loads and moves messages. Built twice: as
 * tests/loader-corpus/good/evc_transport_zmq.so (name "zmq", the corpus
 * case) and as plugins/evc_transport_loopback.so (name "loopback").
 *
 * Guarantees: at-most-once, per-key order (one FIFO), not durable, no replay.
 * Back-pressure: more than LOOPBACK_MAX_QUEUED undelivered messages makes
 * publish return EVC_EAGAIN. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/error.h"
#include "evc/host.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#ifndef GOOD_NAME
#define GOOD_NAME "zmq"
#endif

#define LOOPBACK_MAX_QUEUED 10000

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

typedef struct loop_msg {
    struct loop_msg *next;
    uint64_t token;
    size_t payload_len;
    char *topic, *key; /* point into the same allocation as the struct */
    unsigned char payload[];
} loop_msg;

struct evc_transport {
    const evc_host_api *host; /* borrowed for the instance's life */
    char **topics;            /* owned, ntopics strdup'd strings */
    size_t ntopics;
    loop_msg *head, *tail;    /* owned queue of undelivered messages */
    size_t queued;
    evc_timer *timer;         /* armed while the queue is non-empty */
    bool started, stopped;
    evc_transport_stats stats;
    struct evc_transport *next_instance; /* the process's instances */
};

static evc_transport *instances; /* every live instance (one loop thread) */

static bool loopback_subscribed(const evc_transport *t, const char *topic)
{
    for (size_t i = 0; i < t->ntopics; i++)
        if (strcmp(t->topics[i], topic) == 0)
            return true;
    return false;
}

static int loopback_create(const evc_host_api *host, const evc_transport_params *params,
                           evc_transport **out, evc_error *err)
{
    *out = NULL;
    if (host == NULL || host->timer_start == NULL || host->deliver_outcome == NULL)
        return evc_error_set(err, EVC_EINVAL,
                             "loopback: the host table lacks timer_start or deliver_outcome");
    evc_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        return evc_error_set(err, EVC_ENOMEM, "loopback: out of memory");
    t->host = host;
    t->stats.struct_size = sizeof t->stats;
    t->next_instance = instances;
    instances = t;
    *out = t;
    return EVC_OK;
}

static int loopback_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    if (topic == NULL || topic[0] == '\0')
        return evc_error_set(err, EVC_EINVAL, "loopback: subscribe needs a non-empty topic");
    if (loopback_subscribed(t, topic))
        return EVC_OK;
    char **grown = realloc(t->topics, (t->ntopics + 1) * sizeof *grown);
    if (grown == NULL)
        return evc_error_set(err, EVC_ENOMEM, "loopback: out of memory");
    t->topics = grown;
    if ((t->topics[t->ntopics] = strdup(topic)) == NULL)
        return evc_error_set(err, EVC_ENOMEM, "loopback: out of memory");
    t->ntopics++;
    return EVC_OK;
}

static int loopback_start(evc_transport *t, evc_error *err)
{
    if (t->stopped)
        return evc_error_set(err, EVC_ESTATE, "loopback: start after stop");
    t->started = true;
    t->stats.joined = 1; /* delivers from start */
    return EVC_OK;
}

static void loopback_deliver(evc_timer *timer, void *arg)
{
    evc_transport *t = arg;
    /* One-shot: release it now; a handler that publishes arms a new one. */
    t->host->timer_stop(timer);
    t->timer = NULL;
    /* Detach the batch first: dispatch may publish (and queue) re-entrantly. */
    loop_msg *m = t->head;
    t->head = t->tail = NULL;
    while (m != NULL) {
        loop_msg *next = m->next;
        t->queued--;
        for (evc_transport *r = instances; r != NULL; r = r->next_instance) {
            if (!r->started || r->stopped || !loopback_subscribed(r, m->topic))
                continue;
            evc_message in = {.topic = m->topic, .key = m->key, .payload = m->payload,
                              .payload_len = m->payload_len, .partition = -1, .offset = -1};
            r->stats.received++;
            if (r->host->dispatch)
                (void)r->host->dispatch(r->host->host, &in); /* at-most-once: no redelivery */
        }
        t->stats.acked++;
        t->host->deliver_outcome(t->host->host, m->token, EVC_OUTCOME_ACKED, NULL);
        free(m);
        m = next;
        if (t->stopped) { /* a handler stopped us: the rest was not delivered */
            while (m != NULL) {
                next = m->next;
                t->queued--;
                t->stats.not_sent++;
                t->host->deliver_outcome(t->host->host, m->token, EVC_OUTCOME_NOT_SENT,
                                         "loopback: stopped before delivery");
                free(m);
                m = next;
            }
        }
    }
}

static int loopback_publish(evc_transport *t, const evc_message *msg, uint64_t token,
                            evc_error *err)
{
    if (!t->started || t->stopped)
        return evc_error_set(err, EVC_ESTATE, "loopback: publish while %s",
                             t->stopped ? "stopped" : "not started");
    if (msg == NULL || msg->topic == NULL || msg->topic[0] == '\0' ||
        (msg->payload == NULL && msg->payload_len > 0))
        return evc_error_set(err, EVC_EINVAL, "loopback: publish needs a topic and a payload");
    if (t->queued >= LOOPBACK_MAX_QUEUED) {
        t->stats.backpressured++;
        return EVC_EAGAIN;
    }
    const char *key = msg->key ? msg->key : "";
    size_t tlen = strlen(msg->topic) + 1, klen = strlen(key) + 1;
    loop_msg *m = malloc(sizeof *m + msg->payload_len + tlen + klen);
    if (m == NULL)
        return evc_error_set(err, EVC_ENOMEM, "loopback: out of memory");
    m->next = NULL;
    m->token = token;
    m->payload_len = msg->payload_len;
    if (msg->payload_len)
        memcpy(m->payload, msg->payload, msg->payload_len);
    m->topic = (char *)m->payload + msg->payload_len;
    memcpy(m->topic, msg->topic, tlen);
    m->key = m->topic + tlen;
    memcpy(m->key, key, klen);
    if (t->timer == NULL) {
        int rc = t->host->timer_start(t->host->host, 0, 0, loopback_deliver, t, &t->timer, err);
        if (rc != EVC_OK) {
            free(m);
            t->timer = NULL;
            return rc;
        }
    }
    if (t->tail)
        t->tail->next = m;
    else
        t->head = m;
    t->tail = m;
    t->queued++;
    t->stats.published++;
    return EVC_OK;
}

static bool loopback_drained(void *arg) { return ((evc_transport *)arg)->queued == 0; }

static int loopback_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err)
{
    if (t->queued == 0)
        return EVC_OK;
    if (t->host->run_until == NULL ||
        t->host->run_until(t->host->host, loopback_drained, t, timeout_ms) != EVC_OK)
        return evc_error_set(err, EVC_ETIMEDOUT,
                             "loopback: %zu message(s) still queued after %llu ms", t->queued,
                             (unsigned long long)timeout_ms);
    return EVC_OK;
}

static void loopback_stop(evc_transport *t)
{
    if (t->stopped)
        return;
    t->stopped = true;
    if (t->timer) {
        t->host->timer_stop(t->timer);
        t->timer = NULL;
    }
    for (loop_msg *m = t->head, *next; m != NULL; m = next) {
        next = m->next;
        t->queued--;
        t->stats.not_sent++;
        t->host->deliver_outcome(t->host->host, m->token, EVC_OUTCOME_NOT_SENT,
                                 "loopback: stopped before delivery");
        free(m);
    }
    t->head = t->tail = NULL;
}

static void loopback_destroy(evc_transport *t)
{
    if (t == NULL)
        return;
    loopback_stop(t);
    for (evc_transport **p = &instances; *p != NULL; p = &(*p)->next_instance) {
        if (*p == t) {
            *p = t->next_instance;
            break;
        }
    }
    for (size_t i = 0; i < t->ntopics; i++)
        free(t->topics[i]);
    free(t->topics);
    free(t);
}

/* Writes only the part of `src` that the caller's struct_size has room for:
 * an older host passes a shorter struct. */
static void copy_sized(void *out, const void *src, size_t full)
{
    uint32_t have;
    memcpy(&have, out, sizeof have);
    size_t n = have < full ? have : full;
    if (n > sizeof have)
        memcpy((char *)out + sizeof have, (const char *)src + sizeof have, n - sizeof have);
}

static void loopback_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    evc_transport_guarantees g = {.struct_size = sizeof g,
                                  .delivery = EVC_DELIVERY_AT_MOST_ONCE,
                                  .per_key_order = true};
    copy_sized(out, &g, sizeof g);
}

static void loopback_stats(evc_transport *t, evc_transport_stats *out)
{
    copy_sized(out, &t->stats, sizeof t->stats);
}

static const evc_transport_ops loopback_ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = loopback_create,
    .subscribe = loopback_subscribe,
    .start = loopback_start,
    .publish = loopback_publish,
    .flush = loopback_flush,
    .stop = loopback_stop,
    .destroy = loopback_destroy,
    .guarantees = loopback_guarantees,
    .stats = loopback_stats,
};

static const evc_plugin_descriptor loopback_descriptor = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = EVC_ABI_MINOR,
    .struct_size = sizeof(evc_plugin_descriptor),
    .kind = EVC_PLUGIN_TRANSPORT,
    .name = GOOD_NAME,
    .version = "1.0.0",
    .description = "in-memory loopback transport (tests)",
    .config_schema = NULL,
    .ops = &loopback_ops,
};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    if (major != EVC_ABI_MAJOR)
        return NULL;
    return &loopback_descriptor;
}
