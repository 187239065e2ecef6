/* zmqt_proxy.c: XSUB/XPUB forwarder in a thread of its own (see zmqt_proxy.h). */
#include "zmqt_proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZMQT_EP_MAX 256
/* Z85 length of a CURVE key. Checked here with libzmq alone (not through
 * zmqt_curve.c) so that every program linking this file needs nothing more. */
#define ZMQT_PROXY_Z85_LEN 40

struct zmqt_proxy {
    void *ctx;
    int own_ctx;
    void *xsub, *xpub;
    void *ctl_main;  /* our end of the control pair */
    void *ctl_proxy; /* the end zmq_proxy_steerable reads */
    pthread_t thread;
    int thread_started;
    char xsub_ep[ZMQT_EP_MAX];
    char xpub_ep[ZMQT_EP_MAX];
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

static void *zmqt_proxy_run(void *arg)
{
    zmqt_proxy *p = arg;
    /* Returns 0 on TERMINATE, -1 when the context is terminated under it;
     * either way the thread's job is done. */
    (void)zmq_proxy_steerable(p->xsub, p->xpub, NULL, p->ctl_proxy);
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
    free(p);
}
