/* bench_transport_zmq.c: what the ZeroMQ transport plugin costs.
 *
 * In one run, through one XSUB/XPUB proxy (in a thread of this process):
 *   raw     libzmq by hand: PUB sends [topic][key][payload], SUB receives
 *   ops     the same 200-byte messages through the zmq plugin's ops table on
 *           a bare host (the plugin alone: sequence numbers, exact topic
 *           filtering, outcome delivery, loop integration)
 *   bus     the same through evc_bus (what roles use: adds the core's token
 *           table and topic handlers)
 * Both are single-threaded on the application side the same way: publish the
 * whole batch, then receive it (so 200,000 outcomes are owed at once: the
 * facade's token table must stay in cache). The facade's own cost is the
 * evc_bus / ops ratio (target: within 10 %). Each is measured 5 times, alternating, and the
 * medians compared. Prints the figures; fails only if messages go missing.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "zmqt_proxy.h"

#define N_MSGS 200000
#define PAYLOAD 200
#define RUNS 5
/* Three topics, none a prefix of another (SUB matches prefixes), so each
 * subscriber gets only its own traffic. */
#define TOPIC "bench-bus"
#define RAW_TOPIC "bench-raw"
#define OPS_TOPIC "bench-ops"
#define KEY "CP_001"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- raw libzmq ----------------------------------------------------------- */

typedef struct raw {
    void *ctx, *pub, *sub;
} raw;

static void raw_send(raw *r, const unsigned char *payload)
{
    zmq_send(r->pub, RAW_TOPIC, strlen(RAW_TOPIC), ZMQ_SNDMORE);
    zmq_send(r->pub, KEY, strlen(KEY), ZMQ_SNDMORE);
    zmq_send(r->pub, payload, PAYLOAD, 0);
}

/* Receives one whole message, blocking up to the socket's ZMQ_RCVTIMEO;
 * false on timeout. */
static bool raw_recv(raw *r)
{
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, r->sub, 0) < 0) {
            zmq_msg_close(&m);
            return false;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return true;
}

static void raw_timeout(raw *r, int ms) { zmq_setsockopt(r->sub, ZMQ_RCVTIMEO, &ms, sizeof ms); }

static void raw_open(raw *r, const char *xsub, const char *xpub)
{
    int zero = 0;
    r->ctx = zmq_ctx_new();
    r->pub = zmq_socket(r->ctx, ZMQ_PUB);
    r->sub = zmq_socket(r->ctx, ZMQ_SUB);
    zmq_setsockopt(r->pub, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(r->sub, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, RAW_TOPIC, strlen(RAW_TOPIC));
    cr_assert_eq(zmq_connect(r->sub, xpub), 0);
    cr_assert_eq(zmq_connect(r->pub, xsub), 0);
    unsigned char p[PAYLOAD] = {0};
    double deadline = now_s() + 10;
    raw_timeout(r, 20);
    for (;;) { /* slow joiner: until one comes back */
        cr_assert_lt(now_s(), deadline, "raw warm-up failed");
        raw_send(r, p);
        if (raw_recv(r))
            break;
    }
    raw_timeout(r, 50);
    while (raw_recv(r))
        ;
    raw_timeout(r, 10000);
}

static double raw_run(raw *r)
{
    unsigned char p[PAYLOAD];
    memset(p, 'r', sizeof p);
    double t0 = now_s();
    for (int i = 0; i < N_MSGS; i++)
        raw_send(r, p);
    for (int i = 0; i < N_MSGS; i++)
        cr_assert(raw_recv(r), "raw: %d of %d received", i, N_MSGS);
    return N_MSGS / (now_s() - t0);
}

static void raw_close(raw *r)
{
    int zero = 0;
    zmq_setsockopt(r->pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(r->pub);
    zmq_close(r->sub);
    zmq_ctx_term(r->ctx);
}

/* ---- through the plugin ---------------------------------------------------- */

static uint64_t received;

static int on_msg(void *arg, const evc_message *m)
{
    received++;
    return EVC_OK;
}

static bool got(void *arg) { return received >= *(uint64_t *)arg; }

/* The plugin alone: ops table on a host whose sink only counts. */
static uint64_t ops_outcomes;

static void ops_outcome(void *arg, uint64_t token, evc_outcome_status s, const char *d)
{
    ops_outcomes++;
}

static int ops_dispatch(void *arg, const evc_message *m)
{
    received++;
    return EVC_OK;
}

static double ops_run(evc_loop *loop, const evc_transport_ops *ops, evc_transport *t)
{
    unsigned char p[PAYLOAD];
    memset(p, 'o', sizeof p);
    evc_message m = {.topic = OPS_TOPIC, .key = KEY, .payload = p, .payload_len = sizeof p,
                     .partition = -1, .offset = -1};
    evc_error err = {0};
    uint64_t want = received + N_MSGS;
    static uint64_t token;
    double t0 = now_s();
    for (int i = 0; i < N_MSGS; i++)
        cr_assert_eq(ops->publish(t, &m, ++token, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_run_until(loop, got, &want, 10000), EVC_OK,
                 "ops: %" PRIu64 " of %d received", received - (want - N_MSGS), N_MSGS);
    return N_MSGS / (now_s() - t0);
}

static double plugin_run(evc_loop *loop, evc_bus *bus)
{
    unsigned char p[PAYLOAD];
    memset(p, 'p', sizeof p);
    evc_error err = {0};
    uint64_t want = received + N_MSGS;
    double t0 = now_s();
    for (int i = 0; i < N_MSGS; i++)
        cr_assert_eq(evc_bus_publish(bus, TOPIC, KEY, p, sizeof p, NULL, NULL, &err), EVC_OK,
                     "%s", err.msg);
    cr_assert_eq(evc_loop_run_until(loop, got, &want, 10000), EVC_OK,
                 "plugin: %" PRIu64 " of %d received", received - (want - N_MSGS), N_MSGS);
    return N_MSGS / (now_s() - t0);
}

Test(bench, transport_zmq_vs_raw)
{
    zmqt_proxy *proxy = NULL;
    char perr[512];
    cr_assert_eq(zmqt_proxy_start(NULL, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &proxy,
                                  perr, sizeof perr),
                 0, "%s", perr);

    evc_error err = {0};
    evc_loop *loop = NULL;
    evc_plugin *plugin = NULL;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", NULL, &plugin, NULL, &err), EVC_OK,
                 "%s", err.msg);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "transport:\n  plugin: zmq\n  zmq:\n    pub_endpoint: \"%s\"\n"
             "    sub_endpoint: \"%s\"\n    sndhwm: 0\n    rcvhwm: 0\n",
             zmqt_proxy_xsub(proxy), zmqt_proxy_xpub(proxy));
    evc_cfg *cfg = NULL;
    cr_assert_eq(evc_cfg_load_string("bench.yaml", yaml, strlen(yaml), &cfg, &err), EVC_OK, "%s",
                 err.msg);
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = NULL,
        .client_id = "bench",
        .group_id = "bench",
        .config = evc_cfg_path(evc_cfg_root(cfg), "transport.zmq"),
    };
    evc_bus *bus = NULL;
    cr_assert_eq(evc_bus_open(loop, plugin, &params, &bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(bus, TOPIC, on_msg, NULL, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    unsigned char p[PAYLOAD] = {0};
    uint64_t one = 1;
    double deadline = now_s() + 10;
    while (received == 0) {
        cr_assert_lt(now_s(), deadline, "plugin warm-up failed");
        cr_assert_eq(evc_bus_publish(bus, TOPIC, KEY, p, sizeof p, NULL, NULL, &err), EVC_OK);
        evc_loop_run_until(loop, got, &one, 20);
    }

    /* The same plugin, second instance, driven through its ops table. */
    const evc_transport_ops *ops = evc_plugin_descriptor_of(plugin)->ops;
    evc_host_sink sink = {.outcome = ops_outcome, .dispatch = ops_dispatch};
    evc_host_api *host = NULL;
    evc_transport *t = NULL;
    cr_assert_eq(evc_host_new(loop, "zmq", &sink, &host, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->create(host, &params, &t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->subscribe(t, OPS_TOPIC, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->start(t, &err), EVC_OK, "%s", err.msg);
    evc_message wm = {.topic = OPS_TOPIC, .key = KEY, .payload = p, .payload_len = sizeof p,
                      .partition = -1, .offset = -1};
    received = 0;
    deadline = now_s() + 10;
    for (uint64_t tok = 1ull << 40; received == 0; tok++) {
        cr_assert_lt(now_s(), deadline, "ops warm-up failed");
        cr_assert_eq(ops->publish(t, &wm, tok, &err), EVC_OK);
        evc_loop_run_until(loop, got, &one, 20);
    }

    raw r;
    raw_open(&r, zmqt_proxy_xsub(proxy), zmqt_proxy_xpub(proxy));

    double vraw[RUNS], vops[RUNS], vbus[RUNS];
    for (int i = 0; i < RUNS; i++) {
        /* Rotate the order so that warm caches favour none of them. */
        for (int k = 0; k < 3; k++) {
            switch ((i + k) % 3) {
            case 0: vraw[i] = raw_run(&r); break;
            case 1: vops[i] = ops_run(loop, ops, t); break;
            default: vbus[i] = plugin_run(loop, bus); break;
            }
        }
    }
    evc_transport_stats st = {.struct_size = sizeof st}, st2 = {.struct_size = sizeof st2};
    evc_bus_stats(bus, &st);
    ops->stats(t, &st2);
    /* The machine is shared: besides the ratio of the medians, the median of
     * the per-round ratios (the three measured back to back) is less sensitive
     * to load that comes and goes between rounds. */
    double rops[RUNS], rbus[RUNS], rfac[RUNS];
    for (int i = 0; i < RUNS; i++) {
        rops[i] = vops[i] / vraw[i];
        rbus[i] = vbus[i] / vraw[i];
        rfac[i] = vbus[i] / vops[i];
    }
    double mr = median(vraw, RUNS), mo = median(vops, RUNS), mb = median(vbus, RUNS);
    double qo = median(rops, RUNS), qb = median(rbus, RUNS), qf = median(rfac, RUNS);
    fprintf(stderr,
            "bench transport_zmq: %d x %d-byte messages, PUB -> XSUB/XPUB proxy -> SUB, "
            "median of %d runs each\n"
            "  raw libzmq           : %10.0f msg/s\n"
            "  zmq plugin (ops)     : %10.0f msg/s  ratio %.3f (per round %.3f)  plugin cost "
            "%5.1f%% (target < 10%%)%s\n"
            "  zmq plugin (evc_bus) : %10.0f msg/s  ratio %.3f (per round %.3f)  plugin+bus "
            "cost %5.1f%%\n"
            "  bus facade alone     : evc_bus / ops ratio %.3f (per round %.3f)  facade cost "
            "%5.1f%% (target < 10%%)%s\n",
            N_MSGS, PAYLOAD, RUNS, mr, mo, mo / mr, qo, (1.0 - qo) * 100.0,
            qo < 0.9 ? "  ABOVE TARGET" : "", mb, mb / mr, qb, (1.0 - qb) * 100.0, mb / mo, qf,
            (1.0 - qf) * 100.0, qf < 0.9 ? "  ABOVE TARGET" : "");
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st2.lost, 0);
    cr_assert_eq(ops_outcomes, st2.published, "ops: one outcome per publish");
    ops->destroy(t);
    evc_host_free(host);

    raw_close(&r);
    evc_bus_close(bus);
    evc_cfg_free(cfg);
    evc_plugin_unload(plugin);
    evc_loop_free(loop);
    zmqt_proxy_stop(proxy);
}
