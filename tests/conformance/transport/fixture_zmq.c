/* fixture_zmq.c: the ZeroMQ transport's peer for the conformance suite -- an
 * XSUB/XPUB proxy in threads of this test process, on loopback ports the OS
 * chose: XSUB on P and XPUB on P+1, the layout the plugin derives from
 * transport.endpoint "127.0.0.1:P". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "zmqt_proxy.h"

/* fixture_zmq_curve.c includes this file with FIXTURE_ZMQ_CURVE 1: the same
 * suite, with the proxy a CURVE server and every client a CURVE client. */
#ifndef FIXTURE_ZMQ_CURVE
#define FIXTURE_ZMQ_CURVE 0
#endif

struct conformance_peer {
    zmqt_proxy *proxy;
    int port;
};

/* The proxy's key pair, made once per check process (evc-conformance runs each check
 * in a process of its own); the public key goes into every client's YAML. */
static char curve_public[41], curve_secret[41];

static const char *zmq_fixture_secret(void)
{
    if (!FIXTURE_ZMQ_CURVE)
        return NULL;
    if (curve_public[0] == '\0') {
        /* '$' would be taken for a variable by the config loader. */
        do {
            if (zmq_curve_keypair(curve_public, curve_secret) != 0) {
                fprintf(stderr, "fixture_zmq: zmq_curve_keypair: %s\n",
                        zmq_strerror(zmq_errno()));
                return NULL;
            }
        } while (strchr(curve_public, '$') != NULL);
    }
    return curve_secret;
}

/* Unbounded: the suite's subscriber shares one thread with its publisher, so
 * the proxy must hold a whole burst; loss is shown with the "lossy" variant. */
#define FIXTURE_PROXY_HWM 0

static int zmq_fixture_bind(struct conformance_peer *p, int port, char *err, size_t cap)
{
    char xsub[64], xpub[64];
    snprintf(xsub, sizeof xsub, "tcp://127.0.0.1:%d", port);
    snprintf(xpub, sizeof xpub, "tcp://127.0.0.1:%d", port + 1);
    return zmqt_proxy_start_curve(NULL, xsub, xpub, FIXTURE_PROXY_HWM, zmq_fixture_secret(),
                                  &p->proxy, err, cap);
}

static int zmq_peer_start(conformance_peer **out, int brokers, char *endpoint, size_t cap)
{
    struct conformance_peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    char err[512] = "";
    /* Let the OS pick P for XSUB, then try P+1 for XPUB; another process may
     * hold P+1, so retry with a new P a few times. */
    for (int attempt = 0; attempt < 50; attempt++) {
        zmqt_proxy *probe = NULL;
        if (zmqt_proxy_start(NULL, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &probe, err,
                             sizeof err) != 0)
            break;
        const char *ep = zmqt_proxy_xsub(probe);
        int port = atoi(strrchr(ep, ':') + 1);
        zmqt_proxy_stop(probe);
        if (port <= 0 || port >= 65535)
            continue;
        if (zmq_fixture_bind(p, port, err, sizeof err) == 0) {
            p->port = port;
            snprintf(endpoint, cap, "127.0.0.1:%d", port);
            *out = p;
            return 0;
        }
    }
    fprintf(stderr, "fixture_zmq: cannot start a proxy: %s\n", err);
    free(p);
    return -1;
}

static int zmq_peer_restart(conformance_peer *p)
{
    zmqt_proxy_stop(p->proxy); /* linger 0: queued messages die as in a crash */
    p->proxy = NULL;
    char err[512] = "";
    /* The listening sockets use SO_REUSEADDR; a retry covers the short window
     * in which the old sockets are still being torn down. */
    for (int attempt = 0; attempt < 100; attempt++) {
        if (zmq_fixture_bind(p, p->port, err, sizeof err) == 0)
            return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "fixture_zmq: cannot restart the proxy on port %d: %s\n", p->port, err);
    return -1;
}

static void zmq_peer_stop(conformance_peer *p)
{
    if (p == NULL)
        return;
    zmqt_proxy_stop(p->proxy);
    free(p);
}

static const char *zmq_plugin_yaml_plain(const char *variant)
{
    /* Fast reconnection and a short linger keep the suite quick. */
    if (strcmp(variant, "burst") == 0)
        return "sndhwm: 0\nrcvhwm: 0\nreconnect_ivl_ms: 20\nreconnect_ivl_max_ms: 200\n"
               "linger_ms: 200\n";
    if (strcmp(variant, "backpressure") == 0)
        return "sndhwm: 1\nrcvhwm: 0\nreconnect_ivl_ms: 20\nreconnect_ivl_max_ms: 200\n"
               "linger_ms: 0\n";
    if (strcmp(variant, "lossy") == 0)
        return "sndhwm: 1\non_hwm: drop\nrcvhwm: 0\nreconnect_ivl_ms: 20\n"
               "reconnect_ivl_max_ms: 200\nlinger_ms: 0\n";
    return "reconnect_ivl_ms: 20\nreconnect_ivl_max_ms: 200\nlinger_ms: 200\n";
}

static const char *zmq_plugin_yaml(const char *variant)
{
    const char *plain = zmq_plugin_yaml_plain(variant);
    if (!FIXTURE_ZMQ_CURVE)
        return plain;
    static char yaml[1024];
    zmq_fixture_secret();
    snprintf(yaml, sizeof yaml, "%scurve:\n  server_public_key: \"%s\"\n", plain,
             curve_public);
    return yaml;
}

const conformance_fixture evc_conformance_transport_fixture = {
    .plugin = "zmq",
    .peer_start = zmq_peer_start,
    .peer_restart = zmq_peer_restart,
    .broker_set_up = NULL,
    .peer_stop = zmq_peer_stop,
    .plugin_yaml = zmq_plugin_yaml,
};
