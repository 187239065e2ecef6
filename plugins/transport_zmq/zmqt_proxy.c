/* zmqt_proxy.c: XSUB/XPUB forwarder in a thread of its own (see zmqt_proxy.h).
 *
 * Not zmq_proxy: that one passes every subscription up to the publishers
 * unchanged, and with subscriptions by key ("topic\0key\0", one or two per
 * engine and driver) every publisher would be sent, and would match every
 * message against, every subscriber's keys -- the N^2 moved from messages
 * to subscriptions. This loop passes up only the topic of each
 * subscription ("topic", counted, so the last unsubscribe of a topic passes
 * too), so publishers filter by topic as before, and leaves the filtering by
 * key to the XPUB socket here: each subscriber is sent only the messages of
 * its prefixes, once each.
 */
#include "zmqt_proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZMQT_EP_MAX 256
/* Messages forwarded per wake-up before the other sockets get a turn (as
 * zmq_proxy's burst). */
#define ZMQT_PROXY_BURST 1000
/* Topics whose subscriptions are passed up as the topic alone; beyond this
 * many (a peer subscribing to junk), prefixes pass up unchanged: still
 * exact, only the publishers' filter is finer. */
#define ZMQT_PROXY_TOPICS 1024

typedef struct zmqt_proxy_topic {
    unsigned char *name; /* owned; the subscription prefix up to its first NUL */
    size_t len;
    size_t refs; /* distinct XPUB prefixes of this topic subscribed */
} zmqt_proxy_topic;
/* Z85 length of a CURVE key. Checked here with libzmq alone (not through
 * zmqt_curve.c) so that every program linking this file needs nothing more. */
#define ZMQT_PROXY_Z85_LEN 40

struct zmqt_proxy {
    void *ctx;
    int own_ctx;
    void *xsub, *xpub;
    void *ctl_main;  /* our end of the control pair */
    void *ctl_proxy; /* the end the forwarding thread reads */
    pthread_t thread;
    int thread_started;
    char xsub_ep[ZMQT_EP_MAX];
    char xpub_ep[ZMQT_EP_MAX];
    zmqt_proxy_topic topics[ZMQT_PROXY_TOPICS]; /* proxy thread only */
    size_t ntopics;
};

static void zmqt_proxy_errf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void zmqt_proxy_errf(char *buf, size_t cap, const char *fmt, ...)
{
    if (buf == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* Moves up to a burst of whole messages from `from` to `to`; returns how
 * many. */
static int zmqt_proxy_forward(void *from, void *to)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = 0;
    for (; n < ZMQT_PROXY_BURST; n++) {
        if (zmq_msg_recv(&m, from, ZMQ_DONTWAIT) < 0)
            break;
        for (;;) {
            int more = zmq_msg_more(&m);
            /* XPUB never blocks: a subscriber at its HWM loses the message. */
            if (zmq_msg_send(&m, to, more ? ZMQ_SNDMORE : 0) < 0) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
            }
            if (!more)
                break;
            /* The rest of a multipart message is there already (atomic). */
            if (zmq_msg_recv(&m, from, 0) < 0)
                break;
        }
    }
    zmq_msg_close(&m);
    return n;
}

static zmqt_proxy_topic *zmqt_proxy_topic_of(zmqt_proxy *p, const unsigned char *name,
                                             size_t len, int create)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (p->topics[i].len == len && memcmp(p->topics[i].name, name, len) == 0)
            return &p->topics[i];
    if (!create || p->ntopics == ZMQT_PROXY_TOPICS)
        return NULL;
    unsigned char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, name, len);
    p->topics[p->ntopics] = (zmqt_proxy_topic){.name = copy, .len = len};
    return &p->topics[p->ntopics++];
}

static void zmqt_proxy_send_sub(void *xsub, int on, const unsigned char *prefix, size_t len)
{
    zmq_msg_t m;
    if (zmq_msg_init_size(&m, len + 1) != 0)
        return;
    unsigned char *d = zmq_msg_data(&m);
    d[0] = (unsigned char)on;
    memcpy(d + 1, prefix, len);
    if (zmq_msg_send(&m, xsub, 0) < 0)
        zmq_msg_close(&m);
}

/* One (un)subscription from a subscriber, as XPUB reports it: first of its
 * prefix, or last. Passed up as its topic (the prefix up to its first NUL). */
static void zmqt_proxy_subscription(zmqt_proxy *p, const unsigned char *d, size_t size)
{
    if (size == 0 || d[0] > 1)
        return; /* not a subscription message */
    int on = d[0];
    const unsigned char *prefix = d + 1;
    size_t len = size - 1;
    const unsigned char *nul = memchr(prefix, '\0', len);
    size_t tlen = nul != NULL ? (size_t)(nul - prefix) : len;
    zmqt_proxy_topic *tp = zmqt_proxy_topic_of(p, prefix, tlen, on);
    if (tp == NULL) { /* table full, or an unsubscribe of an untracked topic */
        zmqt_proxy_send_sub(p->xsub, on, prefix, len);
        return;
    }
    if (on) {
        if (tp->refs++ == 0)
            zmqt_proxy_send_sub(p->xsub, 1, tp->name, tp->len);
    } else if (tp->refs > 0 && --tp->refs == 0) {
        zmqt_proxy_send_sub(p->xsub, 0, tp->name, tp->len);
    }
}

static int zmqt_proxy_subscriptions(zmqt_proxy *p)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = 0;
    for (; n < ZMQT_PROXY_BURST; n++) {
        if (zmq_msg_recv(&m, p->xpub, ZMQ_DONTWAIT) < 0)
            break;
        zmqt_proxy_subscription(p, zmq_msg_data(&m), zmq_msg_size(&m));
    }
    zmq_msg_close(&m);
    return n;
}

static void *zmqt_proxy_run(void *arg)
{
    zmqt_proxy *p = arg;
    zmq_pollitem_t items[] = {
        {p->ctl_proxy, 0, ZMQ_POLLIN, 0},
        {p->xpub, 0, ZMQ_POLLIN, 0},
        {p->xsub, 0, ZMQ_POLLIN, 0},
    };
    for (;;) {
        char cmd[16];
        int n = zmq_recv(p->ctl_proxy, cmd, sizeof cmd, ZMQ_DONTWAIT);
        if (n == 9 && memcmp(cmd, "TERMINATE", 9) == 0)
            break;
        /* Subscriptions first: a new subscriber's interest is passed up
         * before the next burst of messages. Polled only when both sides
         * are idle: under load a poll per burst cost ~15 % of throughput. */
        int worked = zmqt_proxy_subscriptions(p) + zmqt_proxy_forward(p->xsub, p->xpub);
        if (worked > 0)
            continue;
        if (zmq_poll(items, 3, -1) < 0 && zmq_errno() != EINTR)
            break; /* ETERM: the context is going away */
    }
    return NULL;
}

static void zmqt_proxy_close_all(zmqt_proxy *p)
{
    void **socks[] = {&p->xsub, &p->xpub, &p->ctl_main, &p->ctl_proxy};
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++) {
        if (*socks[i] != NULL) {
            int zero = 0;
            zmq_setsockopt(*socks[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    }
    if (p->own_ctx && p->ctx != NULL)
        zmq_ctx_term(p->ctx);
    p->ctx = NULL;
}

static int zmqt_proxy_bind(void *sock, const char *endpoint, const char *role, char *resolved,
                           char *errbuf, size_t errcap)
{
    if (zmq_bind(sock, endpoint) != 0) {
        int e = zmq_errno();
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: cannot bind %s on %s: %s%s", role, endpoint,
                        zmq_strerror(e),
                        e == EADDRINUSE ? " (another proxy or program already listens there)"
                                        : "");
        return -1;
    }
    size_t len = ZMQT_EP_MAX;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, resolved, &len) != 0)
        snprintf(resolved, ZMQT_EP_MAX, "%s", endpoint);
    return 0;
}

int zmqt_proxy_start(void *ctx, const char *xsub_endpoint, const char *xpub_endpoint, int hwm,
                     zmqt_proxy **out, char *errbuf, size_t errcap)
{
    return zmqt_proxy_start_curve(ctx, xsub_endpoint, xpub_endpoint, hwm, NULL, out, errbuf,
                                  errcap);
}

/* Makes `sock` a CURVE server; must happen before bind (ZeroMQ applies the
 * mechanism to connections accepted afterwards). */
static int zmqt_proxy_curve(void *sock, const char *secret, char *errbuf, size_t errcap)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, ZMQT_PROXY_Z85_LEN + 1) != 0) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: cannot enable CURVE: %s",
                        zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int zmqt_proxy_start_curve(void *ctx, const char *xsub_endpoint, const char *xpub_endpoint,
                           int hwm, const char *curve_secret_z85, zmqt_proxy **out,
                           char *errbuf, size_t errcap)
{
    *out = NULL;
    if (curve_secret_z85 != NULL && !zmq_has("curve")) {
        zmqt_proxy_errf(errbuf, errcap,
                        "zmq proxy: CURVE asked for but this libzmq has none (zmq_has(\"curve\") "
                        "is false)");
        return -1;
    }
    unsigned char raw[32];
    if (curve_secret_z85 != NULL && (strlen(curve_secret_z85) != ZMQT_PROXY_Z85_LEN ||
                                     zmq_z85_decode(raw, curve_secret_z85) == NULL)) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: the CURVE secret key is not a %d-character "
                        "Z85 key", ZMQT_PROXY_Z85_LEN);
        return -1;
    }
    for (volatile unsigned char *v = raw; v < raw + sizeof raw; v++)
        *v = 0; /* the decoded secret; volatile so the wipe is kept */
    zmqt_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: out of memory");
        return -1;
    }
    p->ctx = ctx;
    if (p->ctx == NULL) {
        p->ctx = zmq_ctx_new();
        p->own_ctx = 1;
        if (p->ctx == NULL) {
            zmqt_proxy_errf(errbuf, errcap, "zmq proxy: zmq_ctx_new: %s",
                            zmq_strerror(zmq_errno()));
            free(p);
            return -1;
        }
    }
    p->xsub = zmq_socket(p->ctx, ZMQ_XSUB);
    p->xpub = zmq_socket(p->ctx, ZMQ_XPUB);
    p->ctl_main = zmq_socket(p->ctx, ZMQ_PAIR);
    p->ctl_proxy = zmq_socket(p->ctx, ZMQ_PAIR);
    if (p->xsub == NULL || p->xpub == NULL || p->ctl_main == NULL || p->ctl_proxy == NULL) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: zmq_socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    zmq_setsockopt(p->xsub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->xsub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->xpub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->xpub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (curve_secret_z85 != NULL && (zmqt_proxy_curve(p->xsub, curve_secret_z85, errbuf,
                                                      errcap) != 0 ||
                                     zmqt_proxy_curve(p->xpub, curve_secret_z85, errbuf,
                                                      errcap) != 0))
        goto fail;
    if (zmqt_proxy_bind(p->xsub, xsub_endpoint, "XSUB (publishers' side)", p->xsub_ep, errbuf,
                        errcap) != 0 ||
        zmqt_proxy_bind(p->xpub, xpub_endpoint, "XPUB (subscribers' side)", p->xpub_ep, errbuf,
                        errcap) != 0)
        goto fail;

    /* The control pair's name only has to be unique within the context. */
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://zmqt-proxy-ctl-%p", (void *)p);
    if (zmq_bind(p->ctl_proxy, ctl) != 0 || zmq_connect(p->ctl_main, ctl) != 0) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: control socket %s: %s", ctl,
                        zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* Thread creation is the full memory barrier ZeroMQ requires to hand the
     * sockets over to another thread. */
    if (pthread_create(&p->thread, NULL, zmqt_proxy_run, p) != 0) {
        zmqt_proxy_errf(errbuf, errcap, "zmq proxy: cannot start its thread: %s",
                        strerror(errno));
        goto fail;
    }
    p->thread_started = 1;
    *out = p;
    return 0;

fail:
    zmqt_proxy_close_all(p);
    free(p);
    return -1;
}

const char *zmqt_proxy_xsub(const zmqt_proxy *p) { return p->xsub_ep; }
const char *zmqt_proxy_xpub(const zmqt_proxy *p) { return p->xpub_ep; }

void zmqt_proxy_stop(zmqt_proxy *p)
{
    if (p == NULL)
        return;
    if (p->thread_started) {
        /* A PAIR send blocks only until the inproc pipe takes it; the proxy
         * thread reads it on its next poll. */
        zmq_send(p->ctl_main, "TERMINATE", 9, 0);
        pthread_join(p->thread, NULL);
    }
    zmqt_proxy_close_all(p);
    for (size_t i = 0; i < p->ntopics; i++)
        free(p->topics[i].name);
    free(p);
}
