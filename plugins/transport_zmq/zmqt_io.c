/* zmqt_io.c: the sockets of one ZeroMQ transport instance.
 *
 * Wire format (framing v2), one ZeroMQ multipart message per evc_message:
 *   frame 0  topic (1..255 bytes, no NUL), NUL, key (0..255 bytes, no NUL),
 *            NUL -- first, because ZeroMQ filters on it by prefix: "topic"
 *            takes every key, "topic\0key\0" one key (zmqt_sub.c), and the
 *            proxy applies that filter for each subscriber
 *   frame 1  header: version (2), publisher id (16 random bytes per
 *            instance), sequence number (uint64 big-endian, per publisher,
 *            topic and key, from 1)
 *   frame 2  payload
 * Three frames, as a hand-written [topic][key][payload] would use: the proxy
 * forwards frame by frame, so a fourth frame costs throughput (measured).
 * The sequence number lets a subscriber see every gap (messages ZeroMQ dropped
 * or lost while a peer was away) and count it in stats.lost; it counts per
 * key because a subscriber by key sees only its keys' messages.
 *
 * Framing v1 (before key subscriptions) had the topic alone in frame 0 and
 * the key after the header in frame 1 (version 1). The two do not mix on one
 * proxy: a v1 subscriber logs v2 messages as "unknown header", and a v2
 * subscriber of a whole topic logs v1 ones as framing v1 naming the
 * publisher (rate-limited); both drop them. Subscribers by key never see v1
 * traffic (its frame 0 has no key to match). Upgrade every process of a bus
 * together (docs/TRANSPORTS.md).
 *
 * Threads: everything here runs on the loop thread (ZeroMQ sockets are not
 * thread-safe); the only other threads are libzmq's own and the embedded
 * proxy's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

#include "zmqt_internal.h"

/* ---- rate-limited warnings ------------------------------------------- */

#define ZMQT_WARN_PER_SECOND 5

static bool zmqt_warn_allowed(evc_transport *t)
{
    uint64_t now = t->host->now_ms(t->host->host);
    if (now - t->warn_window_ms >= 1000) {
        if (t->warn_suppressed > 0)
            ZMQT_LOG(t, EVC_LOG_WARN, "%llu more warning(s) suppressed in the last second",
                     (unsigned long long)t->warn_suppressed);
        t->warn_window_ms = now;
        t->warn_count = 0;
        t->warn_suppressed = 0;
    }
    if (t->warn_count < ZMQT_WARN_PER_SECOND) {
        t->warn_count++;
        return true;
    }
    t->warn_suppressed++;
    return false;
}

/* ---- outcomes --------------------------------------------------------- */

void zmqt_io_deliver_outcomes(evc_transport *t)
{
    /* Reentrant: a callback may publish (appending) or stop (which delivers
     * the rest through this same loop); both keep pending_head consistent. */
    while (t->pending_head < t->npending) {
        uint64_t token = t->pending[t->pending_head++];
        t->stats.unconfirmed++;
        t->host->deliver_outcome(t->host->host, token, EVC_OUTCOME_SENT_UNCONFIRMED, NULL);
    }
    t->pending_head = 0;
    t->npending = 0;
}

static void zmqt_on_outcome_timer(evc_timer *tm, void *arg)
{
    evc_transport *t = arg;
    t->host->timer_stop(tm);
    t->outcome_timer = NULL;
    zmqt_io_deliver_outcomes(t);
}

/* Outcomes go out on the next loop iteration, never inside publish: a caller
 * may hold locks or be half-way through its own bookkeeping. */
static void zmqt_arm_outcomes(evc_transport *t)
{
    if (t->outcome_timer != NULL)
        return;
    evc_error e = {0};
    if (t->host->timer_start(t->host->host, 0, 0, zmqt_on_outcome_timer, t, &t->outcome_timer,
                             &e) != EVC_OK) {
        /* Still delivered by the next publish's timer, flush or stop. */
        t->outcome_timer = NULL;
        ZMQT_LOG(t, EVC_LOG_ERROR, "cannot schedule outcome delivery: %s", e.msg);
    }
}

/* ---- receiving -------------------------------------------------------- */

static uint64_t zmqt_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void zmqt_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Counts the gap between the last sequence number seen from this publisher on
 * this topic and key (frame 0, f0len bytes) and `seq`. The first message of
 * a (publisher, topic, key) is a first contact: what came before it was
 * published before we were there. */
static void zmqt_track_seq(evc_transport *t, const unsigned char *id, const char *topic,
                           const char *key, const void *f0, size_t f0len, uint64_t seq)
{
    size_t klen = ZMQT_ID_LEN + f0len;
    uint64_t *last = NULL;
    bool created = false;
    if (t->sub_cache != NULL && t->sub_cache_len == klen &&
        memcmp(t->sub_cache_key, id, ZMQT_ID_LEN) == 0 &&
        memcmp(t->sub_cache_key + ZMQT_ID_LEN, f0, f0len) == 0) {
        last = t->sub_cache;
    } else {
        unsigned char *k = t->sub_cache_key;
        memcpy(k, id, ZMQT_ID_LEN);
        memcpy(k + ZMQT_ID_LEN, f0, f0len);
        if (zmqt_seqmap_count(&t->sub_seq) >= ZMQT_SEQ_MAX_ENTRIES)
            zmqt_seqmap_clear(&t->sub_seq);
        last = zmqt_seqmap_get(&t->sub_seq, k, klen, &created);
        t->sub_cache = last;
        t->sub_cache_len = klen;
        if (last == NULL)
            return; /* out of memory: gap detection for this pair resumes later */
    }
    if (!created && seq > *last + 1) {
        uint64_t gap = seq - *last - 1;
        t->stats.lost += gap;
        if (zmqt_warn_allowed(t))
            ZMQT_LOG(t, EVC_LOG_WARN,
                     "lost %llu message(s) on topic %s key '%s' from publisher "
                     "%02x%02x%02x%02x (sequence %llu..%llu never arrived; at-most-once "
                     "transport)",
                     (unsigned long long)gap, topic, key, id[0], id[1], id[2], id[3],
                     (unsigned long long)(*last + 1), (unsigned long long)(seq - 1));
    }
    *last = seq;
}

static void zmqt_garbage(evc_transport *t, const char *why)
{
    if (zmqt_warn_allowed(t))
        ZMQT_LOG(t, EVC_LOG_WARN, "dropped a malformed message from %s: %s",
                 t->cfg.sub_endpoint, why);
}

/* A publisher on framing v1 (an EVCharging before key subscriptions): said
 * clearly, with the publisher, since its messages can never be delivered. */
static void zmqt_old_framing(evc_transport *t, const unsigned char *hdr, const void *f0,
                             size_t f0len)
{
    if (zmqt_warn_allowed(t))
        ZMQT_LOG(t, EVC_LOG_WARN,
                 "dropped a message on '%.*s' from publisher %02x%02x%02x%02x in framing v1 "
                 "(an EVCharging older than key subscriptions; this one speaks v2): upgrade "
                 "every process on the bus at %s together",
                 (int)(f0len < 64 ? f0len : 64), (const char *)f0, hdr[1], hdr[2], hdr[3],
                 hdr[4], t->cfg.sub_endpoint);
}

/* Checks a whole message (3 frames) and hands it to the host. Frame 0 is
 * "topic\0key\0": both are C strings in place, nothing is copied. */
static void zmqt_accept(evc_transport *t, zmq_msg_t *f)
{
    size_t f0len = zmq_msg_size(&f[0]), hlen = zmq_msg_size(&f[1]);
    const char *f0 = zmq_msg_data(&f[0]);
    const unsigned char *hdr = zmq_msg_data(&f[1]);
    if (hlen >= ZMQT_HDR_LEN && hdr[0] == ZMQT_HDR_VERSION_V1) {
        zmqt_old_framing(t, hdr, f0, f0len);
        return;
    }
    if (hlen < ZMQT_HDR_LEN || hdr[0] != ZMQT_HDR_VERSION) {
        zmqt_garbage(t, "unknown header (another publisher format on this proxy?)");
        return;
    }
    const char *nul = f0len > 0 ? memchr(f0, '\0', f0len) : NULL;
    size_t tlen = nul ? (size_t)(nul - f0) : 0;
    const char *key = f0 + tlen + 1;
    size_t klen = nul && f0len > tlen + 1 ? f0len - tlen - 2 : 0;
    if (nul == NULL || tlen == 0 || tlen > ZMQT_TOPIC_MAX || f0len < tlen + 2 ||
        klen > ZMQT_KEY_MAX || f0[f0len - 1] != '\0' || memchr(key, '\0', klen) != NULL) {
        zmqt_garbage(t, "frame 0 is not topic NUL key NUL within bounds");
        return;
    }
    /* A bare prefix also lets longer topics through ("cp" takes "cp-events"). */
    if (!zmqt_subscribed(t, f0, tlen))
        return;
    zmqt_track_seq(t, hdr + 1, f0, key, f0, f0len, zmqt_be64(hdr + 1 + ZMQT_ID_LEN));
    evc_message msg = {
        .topic = f0,
        .key = key,
        .payload = zmq_msg_data(&f[2]),
        .payload_len = zmq_msg_size(&f[2]),
        .partition = -1,
        .offset = -1,
    };
    t->stats.received++;
    /* Nothing to redeliver from: a failed handler is logged only. */
    int hr = t->host->dispatch(t->host->host, &msg);
    if (hr != EVC_OK)
        ZMQT_LOG(t, EVC_LOG_DEBUG,
                 "handler failed (%s) on topic %s; at-most-once: not redelivered",
                 evc_status_name(hr), f0);
}

/* Receives one multipart message (already known to be there) and dispatches
 * it. Returns 0, or -1 when nothing was there (EAGAIN) or the socket failed. */
static int zmqt_recv_one(evc_transport *t)
{
    enum { NF = 3 };
    zmq_msg_t f[NF];
    size_t nf = 0;
    bool more = true, extra = false;
    int rc = 0;
    while (more) {
        zmq_msg_t scratch; /* frames beyond NF are read and discarded */
        zmq_msg_t *m = nf < NF ? &f[nf] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, t->sub, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (nf == 0) {
                if (e != EAGAIN && e != EINTR)
                    ZMQT_LOG(t, EVC_LOG_ERROR, "receive from %s: %s", t->cfg.sub_endpoint,
                             zmq_strerror(e));
                return -1;
            }
            /* ZeroMQ delivers multipart messages atomically: cannot happen. */
            ZMQT_LOG(t, EVC_LOG_ERROR, "receive from %s: message cut short: %s",
                     t->cfg.sub_endpoint, zmq_strerror(e));
            rc = -1;
            break;
        }
        more = zmq_msg_more(m);
        if (nf < NF) {
            nf++;
        } else {
            zmq_msg_close(m);
            extra = true;
        }
    }
    if (rc == 0) {
        if (nf != NF || extra)
            zmqt_garbage(t, "expected 3 frames (topic and key, header, payload)");
        else
            zmqt_accept(t, f);
    }
    for (size_t i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
    return rc;
}

static void zmqt_arm_drain(evc_transport *t);

static uint64_t zmqt_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Messages handled between two looks at the clock (a clock read costs
 * about as much as a small message; every message would be too often). */
#define ZMQT_DRAIN_CLOCK_EVERY 16

/* ZMQ_FD is edge-triggered: read until ZMQ_EVENTS says nothing is left, or
 * until the budget (drain_batch messages or drain_max_us) is spent -- then a
 * zero-delay timer continues, so a flood cannot starve the loop's other work.
 * The time bound matters where messages are dear: at 10,000 CPs supplying, a
 * batch of 1,024 took Central tens of ms while monitor heartbeats waited for
 * their ACKs behind it (docs/PERFORMANCE.md). */
static void zmqt_drain(evc_transport *t)
{
    if (t->state != ZMQT_RUNNING || t->in_drain)
        return;
    t->in_drain = true;
    int budget = t->cfg.drain_batch;
    uint64_t deadline = zmqt_mono_us() + (uint64_t)t->cfg.drain_max_us;
    int handled = 0;
    while (t->state == ZMQT_RUNNING) {
        if (budget <= 0 ||
            (++handled % ZMQT_DRAIN_CLOCK_EVERY == 0 && zmqt_mono_us() >= deadline)) {
            zmqt_arm_drain(t);
            break;
        }
        if (zmqt_recv_one(t) == 0) {
            budget--;
            continue;
        }
        /* recv said EAGAIN; ZMQ_EVENTS is the documented way to re-arm the
         * edge and catches a message that arrived meanwhile. */
        uint32_t ev = 0;
        size_t len = sizeof ev;
        if (t->state != ZMQT_RUNNING || zmq_getsockopt(t->sub, ZMQ_EVENTS, &ev, &len) != 0 ||
            !(ev & ZMQ_POLLIN))
            break;
    }
    t->in_drain = false;
}

static void zmqt_on_drain_timer(evc_timer *tm, void *arg)
{
    evc_transport *t = arg;
    t->host->timer_stop(tm);
    t->drain_timer = NULL;
    zmqt_drain(t);
}

static void zmqt_arm_drain(evc_transport *t)
{
    if (t->drain_timer != NULL || t->state != ZMQT_RUNNING)
        return;
    evc_error e = {0};
    if (t->host->timer_start(t->host->host, 0, 0, zmqt_on_drain_timer, t, &t->drain_timer,
                             &e) != EVC_OK) {
        t->drain_timer = NULL;
        ZMQT_LOG(t, EVC_LOG_ERROR, "cannot schedule a drain (inbound may stall): %s", e.msg);
    }
}

static void zmqt_on_readable(evc_watch *w, int fd, unsigned events, void *arg)
{
    zmqt_drain(arg);
}

/* ---- lifecycle -------------------------------------------------------- */

static void zmqt_close_socket(void **s, int linger)
{
    if (*s == NULL)
        return;
    zmq_setsockopt(*s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(*s);
    *s = NULL;
}

static void zmqt_teardown(evc_transport *t, int pub_linger)
{
    if (t->watch != NULL) {
        t->host->unwatch_fd(t->watch); /* before the fd's owner (SUB) goes */
        t->watch = NULL;
    }
    if (t->drain_timer != NULL) {
        t->host->timer_stop(t->drain_timer);
        t->drain_timer = NULL;
    }
    zmqt_close_socket(&t->sub, 0);
    zmqt_close_socket(&t->pub, pub_linger);
    /* Waits up to linger_ms for the PUB queue to reach the proxy; the proxy
     * has a context of its own so that it is still there to take it. */
    if (t->ctx != NULL) {
        zmq_ctx_term(t->ctx);
        t->ctx = NULL;
    }
    zmqt_proxy_stop(t->proxy);
    t->proxy = NULL;
}

static int zmqt_zerr(evc_transport *t, evc_error *err, const char *what, const char *endpoint)
{
    int e = zmq_errno();
    int rc = evc_error_set(err, EVC_EIO, "zmq: %s %s: %s", what, endpoint, zmq_strerror(e));
    zmqt_teardown(t, 0);
    return rc;
}

static void zmqt_setopt(void *s, int opt, int v) { zmq_setsockopt(s, opt, &v, sizeof v); }

/* Makes `s` a CURVE client of the proxy; before connect, since ZeroMQ picks
 * the mechanism of a connection when it is made. A peer that is not the
 * holder of the server key fails the handshake: nothing is exchanged. */
static int zmqt_curve_client(const zmqt_config *c, void *s)
{
    if (!c->curve)
        return 0;
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->curve_server_public, ZMQT_Z85_LEN + 1) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->curve_public, ZMQT_Z85_LEN + 1) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->curve_secret, ZMQT_Z85_LEN + 1) != 0)
        return -1;
    return 0;
}

int zmqt_io_start(evc_transport *t, evc_error *err)
{
    if (t->state == ZMQT_RUNNING)
        return EVC_OK;
    if (t->state == ZMQT_STOPPED)
        return evc_error_set(err, EVC_ESTATE, "zmq: start after stop (create a new instance)");
    const zmqt_config *c = &t->cfg;
    if (getrandom(t->pub_id, sizeof t->pub_id, 0) != (ssize_t)sizeof t->pub_id) {
        /* Uniqueness only has to hold among live publishers of one proxy. */
        uint64_t a = t->host->wall_ms(t->host->host) ^ ((uint64_t)(uintptr_t)t << 16);
        memcpy(t->pub_id, &a, sizeof a);
        a ^= t->host->now_ms(t->host->host) * 0x9e3779b97f4a7c15ull;
        memcpy(t->pub_id + 8, &a, sizeof a);
    }
    const char *pub_ep = c->pub_endpoint, *sub_ep = c->sub_endpoint;
    if (c->proxy == ZMQT_PROXY_EMBEDDED) {
        char buf[512];
        if (zmqt_proxy_start_curve(NULL, c->pub_endpoint, c->sub_endpoint, c->proxy_hwm,
                                   c->curve ? c->curve_server_secret : NULL, &t->proxy, buf,
                                   sizeof buf) != 0)
            return evc_error_set(err, EVC_EIO, "%s (transport.zmq.proxy: embedded)", buf);
        /* Connect where it really bound ("*" ports resolved). */
        pub_ep = zmqt_proxy_xsub(t->proxy);
        sub_ep = zmqt_proxy_xpub(t->proxy);
    }
    t->ctx = zmq_ctx_new();
    if (t->ctx == NULL)
        return zmqt_zerr(t, err, "cannot create a context for", pub_ep);

    t->sub = zmq_socket(t->ctx, ZMQ_SUB);
    if (t->sub == NULL)
        return zmqt_zerr(t, err, "cannot create the SUB socket for", sub_ep);
    zmqt_setopt(t->sub, ZMQ_RCVHWM, c->rcvhwm);
    zmqt_setopt(t->sub, ZMQ_RECONNECT_IVL, c->reconnect_ivl_ms);
    zmqt_setopt(t->sub, ZMQ_RECONNECT_IVL_MAX, c->reconnect_ivl_max_ms);
    zmqt_setopt(t->sub, ZMQ_LINGER, 0);
    if (zmqt_curve_client(c, t->sub) != 0)
        return zmqt_zerr(t, err, "cannot set the CURVE keys of the SUB socket for", sub_ep);
    if (zmqt_sub_apply(t) != 0)
        return zmqt_zerr(t, err, "cannot subscribe at", sub_ep);
    if (zmq_connect(t->sub, sub_ep) != 0)
        return zmqt_zerr(t, err, "cannot connect the SUB socket to the proxy's XPUB at", sub_ep);

    t->pub = zmq_socket(t->ctx, ZMQ_PUB);
    if (t->pub == NULL)
        return zmqt_zerr(t, err, "cannot create the PUB socket for", pub_ep);
    zmqt_setopt(t->pub, ZMQ_SNDHWM, c->sndhwm);
    /* Without NODROP a PUB at its HWM drops silently and reports success. */
    zmqt_setopt(t->pub, ZMQ_XPUB_NODROP, c->on_hwm == ZMQT_ON_HWM_EAGAIN);
    zmqt_setopt(t->pub, ZMQ_RECONNECT_IVL, c->reconnect_ivl_ms);
    zmqt_setopt(t->pub, ZMQ_RECONNECT_IVL_MAX, c->reconnect_ivl_max_ms);
    zmqt_setopt(t->pub, ZMQ_LINGER, c->linger_ms);
    if (zmqt_curve_client(c, t->pub) != 0)
        return zmqt_zerr(t, err, "cannot set the CURVE keys of the PUB socket for", pub_ep);
    if (zmq_connect(t->pub, pub_ep) != 0)
        return zmqt_zerr(t, err, "cannot connect the PUB socket to the proxy's XSUB at", pub_ep);

    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(t->sub, ZMQ_FD, &fd, &len) != 0)
        return zmqt_zerr(t, err, "cannot get ZMQ_FD of the SUB socket for", sub_ep);
    if (t->host->watch_fd(t->host->host, fd, EVC_WATCH_READ, zmqt_on_readable, t, &t->watch,
                          err) != EVC_OK) {
        t->watch = NULL;
        zmqt_teardown(t, 0);
        evc_error_prefix(err, "zmq: watching the SUB socket of %s", sub_ep);
        return err != NULL ? err->code : EVC_EIO;
    }
    t->state = ZMQT_RUNNING;
    /* libzmq holds its own copies of the keys now, and an instance never
     * starts twice: the secrets need not stay in this struct. */
    zmqt_config_wipe(&t->cfg);
    /* Nothing to join: the SUB socket delivers once connected (the proxy is
     * local or one hop away; its slow joiner is milliseconds). */
    t->stats.joined = 1;
    /* An edge may already have fired before the watch existed. */
    zmqt_arm_drain(t);
    ZMQT_LOG(t, EVC_LOG_INFO, "publishing to %s, subscribed at %s%s%s", pub_ep, sub_ep,
             t->proxy != NULL ? " (proxy embedded in this process)" : "",
             c->curve ? (c->curve_generated ? ", CURVE-encrypted (key pair made for this process)"
                                            : ", CURVE-encrypted (configured key pair)")
                      : "");
    return EVC_OK;
}

void zmqt_io_stop(evc_transport *t)
{
    if (t->state == ZMQT_STOPPED)
        return;
    bool was_running = t->state == ZMQT_RUNNING;
    t->state = ZMQT_STOPPED; /* first: anything a callback calls now is refused */
    if (t->outcome_timer != NULL) {
        t->host->timer_stop(t->outcome_timer);
        t->outcome_timer = NULL;
    }
    /* Every accepted message was handed to ZeroMQ in publish, so its outcome
     * is already known; linger decides how long ZeroMQ may still send it. */
    zmqt_io_deliver_outcomes(t);
    zmqt_teardown(t, t->cfg.linger_ms);
    if (was_running)
        ZMQT_LOG(t, EVC_LOG_DEBUG, "stopped (%llu published, %llu received, %llu lost)",
                 (unsigned long long)t->stats.published, (unsigned long long)t->stats.received,
                 (unsigned long long)t->stats.lost);
}

void zmqt_io_rearm(evc_transport *t) { zmqt_arm_drain(t); }

/* ---- publishing ------------------------------------------------------- */

int zmqt_io_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err)
{
    if (t->state != ZMQT_RUNNING)
        return evc_error_set(err, EVC_ESTATE, "zmq: publish while %s",
                             t->state == ZMQT_CREATED ? "not started" : "stopped");
    if (msg == NULL || msg->topic == NULL || msg->topic[0] == '\0')
        return evc_error_set(err, EVC_EINVAL, "zmq: publish: empty topic");
    size_t tlen = strlen(msg->topic);
    const char *key = msg->key != NULL ? msg->key : "";
    size_t klen = strlen(key);
    if (tlen > ZMQT_TOPIC_MAX || klen > ZMQT_KEY_MAX)
        return evc_error_set(err, EVC_EINVAL,
                             "zmq: publish on %.64s: topic and key are limited to %d bytes",
                             msg->topic, ZMQT_TOPIC_MAX);
    if (msg->payload == NULL && msg->payload_len > 0)
        return evc_error_set(err, EVC_EINVAL, "zmq: publish on %s: NULL payload", msg->topic);
    /* Reserve the outcome slot first: once ZeroMQ has the message there is no
     * taking it back. */
    if (t->npending == t->cap_pending) {
        size_t ncap = t->cap_pending ? t->cap_pending * 2 : 256;
        uint64_t *np = realloc(t->pending, ncap * sizeof *np);
        if (np == NULL)
            return evc_error_set(err, EVC_ENOMEM, "zmq: publish on %s: out of memory",
                                 msg->topic);
        t->pending = np;
        t->cap_pending = ncap;
    }
    unsigned char f0[ZMQT_F0_MAX];
    size_t f0len = tlen + klen + 2;
    memcpy(f0, msg->topic, tlen);
    f0[tlen] = '\0';
    memcpy(f0 + tlen + 1, key, klen);
    f0[f0len - 1] = '\0';
    uint64_t *seq = t->pub_cache;
    if (seq == NULL || t->pub_cache_len != f0len || memcmp(t->pub_cache_f0, f0, f0len) != 0) {
        bool created = false;
        if (zmqt_seqmap_count(&t->pub_seq) >= ZMQT_SEQ_MAX_ENTRIES)
            zmqt_seqmap_clear(&t->pub_seq); /* subscribers see a restart from 1, not a gap */
        seq = zmqt_seqmap_get(&t->pub_seq, f0, f0len, &created);
        t->pub_cache = seq;
        if (seq == NULL)
            return evc_error_set(err, EVC_ENOMEM, "zmq: publish on %s: out of memory",
                                 msg->topic);
        memcpy(t->pub_cache_f0, f0, f0len);
        t->pub_cache_len = f0len;
    }

    unsigned char hdr[ZMQT_HDR_LEN];
    hdr[0] = ZMQT_HDR_VERSION;
    memcpy(hdr + 1, t->pub_id, ZMQT_ID_LEN);
    zmqt_put_be64(hdr + 1 + ZMQT_ID_LEN, *seq + 1);

    /* The HWM is counted in whole messages and checked on the first frame:
     * EAGAIN can only come there, so a refused message leaves nothing half
     * sent. */
    if (zmq_send(t->pub, f0, f0len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        if (e == EAGAIN) {
            t->stats.backpressured++;
            return evc_error_set(err, EVC_EAGAIN,
                                 "zmq: send queue towards %s full (sndhwm %d); try later",
                                 t->cfg.pub_endpoint, t->cfg.sndhwm);
        }
        return evc_error_set(err, EVC_EIO, "zmq: publish on %s to %s: %s", msg->topic,
                             t->cfg.pub_endpoint, zmq_strerror(e));
    }
    if (zmq_send(t->pub, hdr, ZMQT_HDR_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(t->pub, msg->payload_len ? msg->payload : "", msg->payload_len,
                 ZMQ_DONTWAIT) < 0) {
        /* Only a dying socket gets here; the partial message dies with it. */
        return evc_error_set(err, EVC_EIO, "zmq: publish on %s to %s: %s (message cut short)",
                             msg->topic, t->cfg.pub_endpoint, zmq_strerror(zmq_errno()));
    }
    (*seq)++;
    t->stats.published++;
    t->pending[t->npending++] = token;
    zmqt_arm_outcomes(t);
    return EVC_OK;
}
