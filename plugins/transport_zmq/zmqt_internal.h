/* zmqt_internal.h: the ZeroMQ transport instance, shared by the plugin's
 * files (zmqt_plugin.c: descriptor and lifecycle; zmqt_config.c: config;
 * zmqt_io.c: sockets, publish, receive). Not part of any API. */
#ifndef ZMQT_INTERNAL_H
#define ZMQT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/config.h"
#include "evc/error.h"
#include "evc/host.h"
#include "evc/transport.h"
#include "zmqt_curve.h"
#include "zmqt_proxy.h"
#include "zmqt_seq.h"

#define ZMQT_ENDPOINT_MAX 256
#define ZMQT_TOPIC_MAX 255 /* bytes, without the NUL */
#define ZMQT_KEY_MAX 255
#define ZMQT_ID_LEN 16
/* Frame 0: topic, NUL, key, NUL -- what ZeroMQ's prefix subscriptions see.
 * Frame 1: version byte, publisher id, big-endian sequence number (see
 * zmqt_io.c for the whole wire format and its versions). */
#define ZMQT_F0_MAX (ZMQT_TOPIC_MAX + 1 + ZMQT_KEY_MAX + 1)
#define ZMQT_HDR_VERSION 2
#define ZMQT_HDR_VERSION_V1 1 /* topic alone in frame 0, key in frame 1 */
#define ZMQT_HDR_LEN (1 + ZMQT_ID_LEN + 8)
/* A subscriber forgets publishers beyond this many (publisher, topic, key);
 * a publisher its counters beyond this many (topic, key);
 * the next message of each is then a first contact (no gap counted). */
#define ZMQT_SEQ_MAX_ENTRIES 65536

typedef enum zmqt_proxy_mode { ZMQT_PROXY_NONE = 0, ZMQT_PROXY_EMBEDDED = 1 } zmqt_proxy_mode;
typedef enum zmqt_on_hwm { ZMQT_ON_HWM_EAGAIN = 0, ZMQT_ON_HWM_DROP = 1 } zmqt_on_hwm;

typedef struct zmqt_config {
    char pub_endpoint[ZMQT_ENDPOINT_MAX]; /* the proxy's XSUB: our PUB connects */
    char sub_endpoint[ZMQT_ENDPOINT_MAX]; /* the proxy's XPUB: our SUB connects */
    zmqt_proxy_mode proxy;
    int sndhwm, rcvhwm, proxy_hwm;        /* messages; 0 = unbounded */
    zmqt_on_hwm on_hwm;
    int reconnect_ivl_ms, reconnect_ivl_max_ms;
    int linger_ms;
    int drain_batch;                      /* messages per wake-up before yielding */
    int drain_max_us;                     /* ... or this long, whichever first */
    /* CURVE (transport.zmq.curve): on when curve.server_public_key is set.
     * Secrets live only here and are wiped by zmqt_config_wipe. */
    bool curve;
    char curve_server_public[ZMQT_Z85_LEN + 1];
    char curve_server_secret[ZMQT_Z85_LEN + 1]; /* "" unless this process runs the proxy */
    char curve_public[ZMQT_Z85_LEN + 1];        /* this client's pair */
    char curve_secret[ZMQT_Z85_LEN + 1];
    bool curve_generated;                       /* the pair was made for this process */
} zmqt_config;

typedef enum zmqt_state { ZMQT_CREATED = 0, ZMQT_RUNNING, ZMQT_STOPPED } zmqt_state;

struct evc_transport {
    const evc_host_api *host; /* borrowed for the instance's life */
    zmqt_config cfg;
    zmqt_state state;

    void *ctx, *pub, *sub;    /* ZeroMQ, loop thread only */
    zmqt_proxy *proxy;        /* owned; embedded mode only */
    evc_watch *watch;         /* the SUB socket's ZMQ_FD */
    evc_timer *drain_timer;   /* continuation of a drain that used its budget */
    evc_timer *outcome_timer; /* delivers the outcomes of this iteration's publishes */
    bool in_drain;

    char **topics;            /* topics delivered (every key or some), owned copies */
    size_t *topic_lens;
    size_t ntopics, cap_topics;
    /* Every ZeroMQ subscription prefix asked for ("topic" for every key,
     * "topic\0key\0" for one key), replayed on the SUB socket at start. */
    char **prefixes;          /* owned; bytes, may contain NULs */
    size_t *prefix_lens;
    size_t nprefixes, cap_prefixes;

    /* Tokens of accepted publishes whose outcome is not delivered yet, FIFO
     * from pending_head. */
    uint64_t *pending;
    size_t npending, pending_head, cap_pending;

    unsigned char pub_id[ZMQT_ID_LEN]; /* random per instance */
    zmqt_seqmap pub_seq;               /* frame 0 (topic, key) -> last sequence number sent */
    zmqt_seqmap sub_seq;               /* publisher id + frame 0 -> last seen */
    /* Traffic comes in runs of one topic and key from one publisher: the
     * last slot of each map is kept, valid until that map next creates an
     * entry (which only the function using the cache does, re-filling it). */
    uint64_t *pub_cache;
    size_t pub_cache_len;
    unsigned char pub_cache_f0[ZMQT_F0_MAX];
    uint64_t *sub_cache;
    size_t sub_cache_len;
    unsigned char sub_cache_key[ZMQT_ID_LEN + ZMQT_F0_MAX];

    evc_transport_stats stats;

    /* Warnings about gaps and garbage are limited to a few per second. */
    uint64_t warn_window_ms;
    unsigned warn_count;
    uint64_t warn_suppressed;
};

#define ZMQT_LOG(t, lvl, ...) (t)->host->log((t)->host->host, (lvl), NULL, __VA_ARGS__)

/* zmqt_config.c */
extern const evc_cfg_field zmqt_schema[];
/* Validates `section` (may be NULL) and fills cfg from it and from the
 * transport endpoint. EVC_ECONFIG with file:line:column messages. */
int zmqt_config_parse(const evc_cfg_node *section, const char *endpoint, const char *client_id,
                      zmqt_config *cfg, evc_error *err);
/* Wipes the secret keys held in cfg (destroy). */
void zmqt_config_wipe(zmqt_config *cfg);

/* zmqt_io.c */
int zmqt_io_start(evc_transport *t, evc_error *err);
void zmqt_io_stop(evc_transport *t);
int zmqt_io_subscribe(evc_transport *t, const char *topic, evc_error *err);
int zmqt_io_subscribe_keys(evc_transport *t, const char *topic, const char *const *keys,
                           size_t n, evc_error *err);
int zmqt_io_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err);
/* Delivers every pending outcome now (SENT_UNCONFIRMED). */
void zmqt_io_deliver_outcomes(evc_transport *t);
/* Schedules a drain: after a setsockopt that may have eaten the SUB edge. */
void zmqt_io_rearm(evc_transport *t);

/* zmqt_sub.c */
/* Whether `topic` (len bytes, no NUL) is delivered, for every key or some. */
bool zmqt_subscribed(const evc_transport *t, const void *topic, size_t len);
/* Subscribes the new SUB socket to every prefix asked before start; -1 on a
 * ZeroMQ error (zmq_errno). */
int zmqt_sub_apply(evc_transport *t);
void zmqt_sub_free(evc_transport *t);

#endif
