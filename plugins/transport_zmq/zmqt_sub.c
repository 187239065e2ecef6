/* zmqt_sub.c: what one ZeroMQ transport instance subscribes to.
 *
 * ZeroMQ filters on the first frame by prefix, and frame 0 is
 * "topic\0key\0" (zmqt_io.c). So:
 *   every key of a topic   prefix "topic"          (bare: also takes framing
 *                          v1 messages, whose frame 0 is the topic alone, so
 *                          that an older publisher is reported, not ignored)
 *   one key of a topic     prefix "topic\0key\0"   (exact: the NULs end both)
 * The subscriptions travel upstream: the proxy's XPUB keeps them and sends a
 * subscriber only the messages matching one of its prefixes, so an engine
 * subscribed to its own CP id and "central" gets those, not every CP's.
 *
 * A bare prefix also matches longer topics ("cp" takes "cp-events"), hence
 * the exact topic check on receive (zmqt_subscribed); the bus filters keys
 * again, so a key of a topic subscribed only by key that slips through a bare
 * prefix of another topic costs a lookup, nothing more.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zmqt_internal.h"

bool zmqt_subscribed(const evc_transport *t, const void *topic, size_t len)
{
    for (size_t i = 0; i < t->ntopics; i++)
        if (t->topic_lens[i] == len && memcmp(t->topics[i], topic, len) == 0)
            return true;
    return false;
}

static bool has_prefix(const evc_transport *t, const void *p, size_t len)
{
    for (size_t i = 0; i < t->nprefixes; i++)
        if (t->prefix_lens[i] == len && memcmp(t->prefixes[i], p, len) == 0)
            return true;
    return false;
}

static int grow(void **a, void **b, size_t *cap, size_t n, size_t ea, size_t eb)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *na = realloc(*a, ncap * ea);
    if (na == NULL)
        return -1;
    *a = na;
    void *nb = realloc(*b, ncap * eb);
    if (nb == NULL)
        return -1;
    *b = nb;
    *cap = ncap;
    return 0;
}

static int add_topic(evc_transport *t, const char *topic, evc_error *err)
{
    size_t len = strlen(topic);
    if (zmqt_subscribed(t, topic, len))
        return EVC_OK;
    char *copy = strdup(topic);
    if (copy == NULL || grow((void **)&t->topics, (void **)&t->topic_lens, &t->cap_topics,
                             t->ntopics, sizeof *t->topics, sizeof *t->topic_lens) != 0) {
        free(copy);
        return evc_error_set(err, EVC_ENOMEM, "zmq: subscribe to %s: out of memory", topic);
    }
    t->topic_lens[t->ntopics] = len;
    t->topics[t->ntopics++] = copy;
    return EVC_OK;
}

/* Records `p` and, when running, subscribes the socket to it now. Keys are
 * not checked for repeats (the core asks for each key once, and one bus of a
 * load generator may hold thousands: a linear check would be quadratic); a
 * repeat costs a duplicate ZeroMQ subscription, nothing else. */
static int add_prefix(evc_transport *t, const char *topic, const void *p, size_t len,
                      bool check_repeat, evc_error *err)
{
    if (check_repeat && has_prefix(t, p, len))
        return EVC_OK;
    char *copy = malloc(len ? len : 1);
    if (copy == NULL || grow((void **)&t->prefixes, (void **)&t->prefix_lens, &t->cap_prefixes,
                             t->nprefixes, sizeof *t->prefixes, sizeof *t->prefix_lens) != 0) {
        free(copy);
        return evc_error_set(err, EVC_ENOMEM, "zmq: subscribe to %s: out of memory", topic);
    }
    memcpy(copy, p, len);
    if (t->state == ZMQT_RUNNING) {
        if (zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, p, len) != 0) {
            free(copy);
            return evc_error_set(err, EVC_EIO, "zmq: subscribe to %s at %s: %s", topic,
                                 t->cfg.sub_endpoint, zmq_strerror(zmq_errno()));
        }
        /* setsockopt processes the socket's commands and can eat an edge. */
        zmqt_io_rearm(t);
    }
    t->prefix_lens[t->nprefixes] = len;
    t->prefixes[t->nprefixes++] = copy;
    return EVC_OK;
}

static int check_topic(evc_transport *t, const char *topic, evc_error *err)
{
    if (topic == NULL || *topic == '\0' || strlen(topic) > ZMQT_TOPIC_MAX)
        return evc_error_set(err, EVC_EINVAL, "zmq: subscribe: topic must have 1..%d bytes",
                             ZMQT_TOPIC_MAX);
    if (t->state == ZMQT_STOPPED)
        return evc_error_set(err, EVC_ESTATE, "zmq: subscribe to %s after stop", topic);
    return EVC_OK;
}

int zmqt_io_subscribe(evc_transport *t, const char *topic, evc_error *err)
{
    int rc = check_topic(t, topic, err);
    if (rc == EVC_OK)
        rc = add_prefix(t, topic, topic, strlen(topic), true, err);
    if (rc == EVC_OK)
        rc = add_topic(t, topic, err);
    return rc;
}

int zmqt_io_subscribe_keys(evc_transport *t, const char *topic, const char *const *keys,
                           size_t n, evc_error *err)
{
    int rc = check_topic(t, topic, err);
    if (rc != EVC_OK)
        return rc;
    if (keys == NULL || n == 0)
        return evc_error_set(err, EVC_EINVAL, "zmq: subscribe to %s by key: no keys", topic);
    for (size_t i = 0; i < n; i++)
        if (keys[i] == NULL || strlen(keys[i]) > ZMQT_KEY_MAX)
            return evc_error_set(err, EVC_EINVAL,
                                 "zmq: subscribe to %s by key: key %zu is %s (at most %d bytes)",
                                 topic, i, keys[i] ? "too long" : "NULL", ZMQT_KEY_MAX);
    size_t tlen = strlen(topic);
    unsigned char p[ZMQT_F0_MAX];
    memcpy(p, topic, tlen);
    p[tlen] = '\0';
    for (size_t i = 0; i < n && rc == EVC_OK; i++) {
        size_t klen = strlen(keys[i]);
        memcpy(p + tlen + 1, keys[i], klen);
        p[tlen + 1 + klen] = '\0';
        rc = add_prefix(t, topic, p, tlen + klen + 2, false, err);
    }
    if (rc == EVC_OK)
        rc = add_topic(t, topic, err);
    return rc;
}

int zmqt_sub_apply(evc_transport *t)
{
    for (size_t i = 0; i < t->nprefixes; i++)
        if (zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, t->prefixes[i], t->prefix_lens[i]) != 0)
            return -1;
    return 0;
}

void zmqt_sub_free(evc_transport *t)
{
    for (size_t i = 0; i < t->ntopics; i++)
        free(t->topics[i]);
    free(t->topics);
    free(t->topic_lens);
    for (size_t i = 0; i < t->nprefixes; i++)
        free(t->prefixes[i]);
    free(t->prefixes);
    free(t->prefix_lens);
    t->topics = NULL;
    t->prefixes = NULL;
    t->ntopics = t->nprefixes = 0;
}
