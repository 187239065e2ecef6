/* test_zmq_curve.c: issue 11 "no secret in clear on any wire" on the ZeroMQ
 * bus. The real evc-zmq-proxy program runs with a CURVE key made by its own
 * --curve-keygen; clients are the zmq plugin (as every role uses it) and raw
 * libzmq sockets playing the attacker. Each refusal is observed, not slept
 * on: a socket monitor reports the failed handshake, and a CURVE client's
 * messages published afterwards are seen to arrive while the attacker's do
 * not. The control tests run the same attackers against a plain proxy and
 * show they would succeed there (what the suite catches without CURVE). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "sec_wire.h"

static evc_loop *loop;
static evc_plugin *plugin;
static evc_cfg *cfgs[16];
static size_t ncfgs;
static void *zctx;
static char dir[64];
/* Raw sockets and proxies still open when an assertion ends a test: fini
 * closes them, or zmq_ctx_term would wait for them forever. */
static void *socks[16];
static size_t nsocks;
static sec_proxy proxies[4]; /* static: fini reads them after the test's frame is gone */
static size_t nproxies;

static void *track(void *s)
{
    cr_assert_lt(nsocks, sizeof socks / sizeof socks[0]);
    return socks[nsocks++] = s;
}

static void init(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", NULL, &plugin, NULL, &err), EVC_OK,
                 "%s", err.msg);
    zctx = zmq_ctx_new();
    snprintf(dir, sizeof dir, "/tmp/evc-sec-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void fini(void)
{
    for (size_t i = 0; i < nsocks; i++) {
        int zero = 0;
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(socks[i]);
    }
    for (size_t i = 0; i < nproxies; i++)
        if (proxies[i].pid > 0) {
            kill(proxies[i].pid, SIGKILL);
            waitpid(proxies[i].pid, NULL, 0);
        }
    for (size_t i = 0; i < ncfgs; i++)
        evc_cfg_free(cfgs[i]);
    evc_plugin_unload(plugin);
    evc_loop_free(loop);
    zmq_ctx_term(zctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(zmq_curve, .init = init, .fini = fini);

/* ---- buses through the plugin ---- */

/* `server_pub` NULL: a plain client. `extra`: more lines of transport.zmq. */
static evc_bus *open_bus(const char *endpoint, const char *server_pub, const char *extra)
{
    char yaml[2048];
    int n = snprintf(yaml, sizeof yaml,
                     "transport:\n  plugin: zmq\n  endpoint: \"%s\"\n  zmq:\n"
                     "    linger_ms: 0\n    reconnect_ivl_ms: 20\n    reconnect_ivl_max_ms: 100\n",
                     endpoint);
    if (server_pub != NULL)
        n += snprintf(yaml + n, sizeof yaml - (size_t)n,
                      "    curve:\n      server_public_key: \"%s\"\n", server_pub);
    if (extra != NULL)
        snprintf(yaml + n, sizeof yaml - (size_t)n, "%s", extra);
    evc_error err = {0};
    evc_cfg *cfg = NULL;
    cr_assert_eq(evc_cfg_load_string("sec.yaml", yaml, strlen(yaml), &cfg, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_lt(ncfgs, sizeof cfgs / sizeof cfgs[0]);
    cfgs[ncfgs++] = cfg;
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = endpoint,
        .client_id = "sec",
        .group_id = "sec",
        .config = evc_cfg_path(evc_cfg_root(cfg), "transport.zmq"),
    };
    evc_bus *bus = NULL;
    cr_assert_eq(evc_bus_open(loop, plugin, &params, &bus, &err), EVC_OK, "%s", err.msg);
    return bus;
}

typedef struct inbox {
    unsigned n, genuine, forged;
} inbox;

static int on_msg(void *arg, const evc_message *m)
{
    inbox *in = arg;
    in->n++;
    if (memmem(m->payload, m->payload_len, "genuine", 7) != NULL)
        in->genuine++;
    if (memmem(m->payload, m->payload_len, "forged", 6) != NULL)
        in->forged++;
    return EVC_OK;
}

typedef struct want {
    inbox *in;
    unsigned n;
} want;

static bool enough(void *arg)
{
    want *w = arg;
    return w->in->genuine >= w->n;
}

/* Publishes "genuine <i>" from `from` every 20 ms until `in` has `more`
 * more genuine messages than now (deadline 10 s). */
static void genuine_traffic(evc_bus *from, const char *topic, inbox *in, unsigned more)
{
    want w = {in, in->genuine + more};
    evc_error err = {0};
    for (int i = 0; i < 500 && !enough(&w); i++) {
        char text[64];
        snprintf(text, sizeof text, "genuine %d password pass456", i);
        cr_assert_eq(evc_bus_publish(from, topic, "k", text, strlen(text), NULL, NULL, &err),
                     EVC_OK, "%s", err.msg);
        evc_loop_run_until(loop, enough, &w, 20);
    }
    cr_assert(enough(&w), "CURVE clients did not talk through the proxy on %s (%u of %u)",
              topic, in->genuine, w.n);
}

/* ---- raw attacker sockets ---- */

static void *raw_socket(int type, const char *endpoint, const char *wrong_server_key)
{
    void *s = zmq_socket(zctx, type);
    int zero = 0, ivl = 20;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (wrong_server_key != NULL) {
        char pub[41], sec[41];
        cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, wrong_server_key, 41);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 41);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 41);
    }
    cr_assert_eq(zmq_connect(s, endpoint), 0);
    return track(s);
}

/* A message in the plugin's own wire format (zmqt_io.c, framing v2): topic
 * NUL key NUL, header (version 2, 16-byte publisher id, sequence), payload. */
static void raw_forge(void *pub, const char *topic, unsigned seq, const char *payload)
{
    unsigned char hdr[1 + 16 + 8] = {2};
    memset(hdr + 1, 0xAB, 16);
    hdr[1 + 16 + 7] = (unsigned char)seq;
    char f0[128];
    size_t tlen = strlen(topic);
    memcpy(f0, topic, tlen);
    memcpy(f0 + tlen, "\0k\0", 3);
    zmq_send(pub, f0, tlen + 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(pub, hdr, sizeof hdr, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(pub, payload, strlen(payload), ZMQ_DONTWAIT);
}

static unsigned raw_drain(void *sub)
{
    unsigned n = 0;
    char buf[512];
    while (zmq_recv(sub, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        n++;
    return n;
}

static sec_proxy *plain_proxy(void)
{
    cr_assert_lt(nproxies, sizeof proxies / sizeof proxies[0]);
    sec_proxy *p = &proxies[nproxies++];
    sec_proxy_start(p, NULL, NULL);
    return p;
}

static sec_proxy *curve_proxy(void)
{
    cr_assert_lt(nproxies, sizeof proxies / sizeof proxies[0]);
    sec_proxy *p = &proxies[nproxies++];
    char key[128], pub[41];
    snprintf(key, sizeof key, "%s/proxy.secret", dir);
    sec_keygen(key, pub);
    sec_proxy_start(p, key, pub);
    return p;
}

static void xpub_ep(const sec_proxy *p, char *ep) { sprintf(ep, "tcp://127.0.0.1:%d", p->port + 1); }
static void xsub_ep(const sec_proxy *p, char *ep) { sprintf(ep, "tcp://127.0.0.1:%d", p->port); }

/* The attacker's handshake fails (seen twice: a first attempt and a retry),
 * never succeeds. */
static void expect_refused(void *mon, const char *who)
{
    int seen = 0;
    for (int i = 0; i < 2; i++)
        cr_assert(sec_wait_event(mon, SEC_HANDSHAKE_FAILED | ZMQ_EVENT_DISCONNECTED, 10000,
                                 &seen),
                  "%s: no failed handshake reported (events 0x%x)", who, seen);
    cr_assert_eq(seen & ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, "%s: handshake succeeded", who);
}

/* ---- the scenarios ---- */

Test(zmq_curve, plain_subscriber_receives_nothing)
{
    sec_proxy *p = curve_proxy();
    evc_bus *tx = open_bus(p->endpoint, p->pub, NULL), *rx = open_bus(p->endpoint, p->pub, NULL);
    inbox in = {0};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(rx, "driver-events", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(rx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);

    char ep[64];
    xpub_ep(p, ep);
    void *spy = raw_socket(ZMQ_SUB, ep, NULL);
    void *mon = track(sec_monitor(zctx, spy));
    genuine_traffic(tx, "driver-events", &in, 10);
    expect_refused(mon, "plain SUB");
    genuine_traffic(tx, "driver-events", &in, 10); /* while it keeps retrying */
    cr_assert_eq(raw_drain(spy), 0, "a plain subscriber received bus traffic");
    evc_bus_close(tx);
    evc_bus_close(rx);
    sec_proxy_stop(p);
}

Test(zmq_curve, plain_publisher_is_not_delivered)
{
    sec_proxy *p = curve_proxy();
    evc_bus *tx = open_bus(p->endpoint, p->pub, NULL), *rx = open_bus(p->endpoint, p->pub, NULL);
    inbox in = {0};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(rx, "cp-events", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(rx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);
    genuine_traffic(tx, "cp-events", &in, 5); /* the subscription is in place */

    char ep[64];
    xsub_ep(p, ep);
    void *forger = raw_socket(ZMQ_PUB, ep, NULL);
    void *mon = track(sec_monitor(zctx, forger));
    for (unsigned i = 0; i < 50; i++)
        raw_forge(forger, "cp-events", i + 1, "forged supply.ended wh 1000000");
    expect_refused(mon, "plain PUB");
    for (unsigned i = 50; i < 100; i++)
        raw_forge(forger, "cp-events", i + 1, "forged supply.ended wh 1000000");
    genuine_traffic(tx, "cp-events", &in, 10);
    cr_assert_eq(in.forged, 0, "a plain publisher's message was delivered");
    evc_bus_close(tx);
    evc_bus_close(rx);
    sec_proxy_stop(p);
}

Test(zmq_curve, wrong_server_key_gets_nothing_and_delivers_nothing)
{
    sec_proxy *p = curve_proxy();
    char other_key[128], wrong[41];
    snprintf(other_key, sizeof other_key, "%s/other.secret", dir);
    sec_keygen(other_key, wrong);

    evc_bus *tx = open_bus(p->endpoint, p->pub, NULL), *rx = open_bus(p->endpoint, p->pub, NULL);
    evc_bus *bad = open_bus(p->endpoint, wrong, NULL);
    inbox in = {0}, at_bad = {0};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(rx, "cp-commands", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(bad, "cp-commands", on_msg, &at_bad, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(rx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(bad, &err), EVC_OK, "%s", err.msg);

    /* A raw socket with the same wrong key shows the handshakes failing. */
    char ep[64];
    xpub_ep(p, ep);
    void *probe = raw_socket(ZMQ_SUB, ep, wrong);
    void *mon = track(sec_monitor(zctx, probe));
    for (int i = 0; i < 20; i++) {
        const char *f = "forged cp.command stop";
        cr_assert_eq(evc_bus_publish(bad, "cp-commands", "k", f, strlen(f), NULL, NULL, &err),
                     EVC_OK, "%s", err.msg);
    }
    genuine_traffic(tx, "cp-commands", &in, 10);
    expect_refused(mon, "CURVE SUB with a wrong server key");
    genuine_traffic(tx, "cp-commands", &in, 10);
    cr_assert_eq(at_bad.n, 0, "a client with the wrong server key received %u messages",
                 at_bad.n);
    cr_assert_eq(in.forged, 0, "a client with the wrong server key was delivered");
    cr_assert_eq(raw_drain(probe), 0);
    evc_bus_close(bad);
    evc_bus_close(tx);
    evc_bus_close(rx);
    sec_proxy_stop(p);
}

/* Both directions of both connections of one client go through a recording
 * relay; the client publishes a password to itself until it gets it back. */
static void wire_capture(bool curve, bool *saw_secret, size_t *bytes)
{
    sec_proxy *p = curve ? curve_proxy() : plain_proxy();
    char up[64], down[64], extra[256];
    sec_relay *r_up = sec_relay_start(p->port, up);
    sec_relay *r_down = sec_relay_start(p->port + 1, down);
    snprintf(extra, sizeof extra, "    pub_endpoint: \"%s\"\n    sub_endpoint: \"%s\"\n", up,
             down);
    evc_bus *bus = open_bus(p->endpoint, curve ? p->pub : NULL, extra);
    inbox in = {0};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(bus, "driver-events", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    genuine_traffic(bus, "driver-events", &in, 5);
    evc_bus_close(bus);
    /* genuine_traffic's payloads carry "password pass456". */
    *saw_secret = sec_relay_saw(r_up, "pass456") || sec_relay_saw(r_down, "pass456") ||
                  sec_relay_saw(r_up, "driver-events");
    *bytes = sec_relay_bytes(r_up) + sec_relay_bytes(r_down);
    sec_relay_stop(r_up);
    sec_relay_stop(r_down);
    sec_proxy_stop(p);
}

Test(zmq_curve, wire_carries_no_plaintext)
{
    bool saw = true;
    size_t bytes = 0;
    wire_capture(true, &saw, &bytes);
    cr_assert_gt(bytes, 1000, "the relay saw only %zu bytes", bytes);
    cr_assert(!saw, "the password or topic crossed the wire in clear under CURVE");
}

/* ---- controls: the same attackers against a plain proxy succeed ---- */

Test(zmq_curve, control_plain_proxy_leaks_to_every_attacker)
{
    bool saw = false;
    size_t bytes = 0;
    wire_capture(false, &saw, &bytes);
    cr_assert(saw, "the relay did not see the plaintext of a plain bus (%zu bytes)", bytes);

    sec_proxy *p = plain_proxy();
    evc_bus *tx = open_bus(p->endpoint, NULL, NULL), *rx = open_bus(p->endpoint, NULL, NULL);
    inbox in = {0};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(rx, "cp-events", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(rx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);
    char sub_ep[64], pub_ep[64];
    xpub_ep(p, sub_ep);
    xsub_ep(p, pub_ep);
    void *spy = raw_socket(ZMQ_SUB, sub_ep, NULL), *forger = raw_socket(ZMQ_PUB, pub_ep, NULL);
    void *mon_spy = track(sec_monitor(zctx, spy));
    void *mon_forger = track(sec_monitor(zctx, forger));
    int seen = 0;
    cr_assert(sec_wait_event(mon_spy, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000, &seen));
    cr_assert(sec_wait_event(mon_forger, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10000, &seen));
    /* The subscription reaches the proxy asynchronously: forge until one
     * arrives (each round also sends genuine traffic for the spy). */
    for (unsigned i = 0; i < 200 && in.forged == 0; i++) {
        raw_forge(forger, "cp-events", i + 1, "forged supply.ended wh 1000000");
        genuine_traffic(tx, "cp-events", &in, 1);
    }
    cr_assert_gt(in.forged, 0, "a plain proxy did not deliver the forged message");
    cr_assert_gt(raw_drain(spy), 0, "a plain proxy did not leak to the spy");
    evc_bus_close(tx);
    evc_bus_close(rx);
    sec_proxy_stop(p);
}
