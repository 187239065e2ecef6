/* bench_fanout_zmq.c: what subscriptions by key save at the ZeroMQ proxy.
 *
 * N subscribers (default 1,000; EVC_BENCH_FANOUT_N), each an evc_bus on the
 * zmq plugin as an engine has, all through one XSUB/XPUB proxy in a thread
 * of this process. One publisher sends one message to each subscriber's key:
 *   keyed   each subscriber subscribed to its own key (evc_bus_subscribe_keys,
 *           as engines and drivers do now): the proxy sends each message to
 *           its one subscriber -- N messages, N deliveries, 1 per subscriber
 *   keyless each subscriber subscribed to the whole topic (as before): every
 *           message goes to every subscriber, which drops those of other
 *           keys -- N deliveries per message (measured on 100 messages)
 * Prints deliveries and the process's CPU time (proxy, subscribers,
 * publisher) per message published; fails if a keyed subscriber gets
 * anything but its one message (never on times: the machine is shared).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "zmqt_proxy.h"

#define KEYED "fan-keyed"
#define KEYLESS "fan-all"

typedef struct sub {
    evc_bus *bus;
    char key[32];
    unsigned data_keyed, data_keyless, warm_keyed, warm_keyless;
} sub;

static sub *S;
static size_t N;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int on_msg(void *arg, const evc_message *m)
{
    sub *s = arg;
    bool keyed = strcmp(m->topic, KEYED) == 0;
    bool warm = m->payload_len == 4 && memcmp(m->payload, "warm", 4) == 0;
    if (warm)
        keyed ? s->warm_keyed++ : s->warm_keyless++;
    else if (strcmp(m->key, s->key) == 0) /* what an engine keeps (F11) */
        keyed ? s->data_keyed++ : s->data_keyless++;
    return EVC_OK;
}

typedef struct goal {
    bool keyed, warm;
} goal;

static bool all_have(void *arg)
{
    const goal *g = arg;
    for (size_t i = 0; i < N; i++) {
        unsigned v = g->keyed ? (g->warm ? S[i].warm_keyed : S[i].data_keyed)
                              : (g->warm ? S[i].warm_keyless : S[i].data_keyless);
        if (v == 0)
            return false;
    }
    return true;
}

static uint64_t received(evc_bus *b)
{
    evc_transport_stats st = {.struct_size = sizeof st};
    evc_bus_stats(b, &st);
    return st.received;
}

static void pub(evc_bus *b, const char *topic, const char *key, const char *text)
{
    evc_error err = {0};
    cr_assert_eq(evc_bus_publish(b, topic, key, text, strlen(text), NULL, NULL, &err), EVC_OK,
                 "%s", err.msg);
}

/* Probes on `topic` until every subscriber has one. */
static void warm_up(evc_loop *loop, evc_bus *tx, const char *topic, bool keyed)
{
    goal g = {keyed, true};
    double deadline = now_s() + 60;
    while (!all_have(&g)) {
        cr_assert_lt(now_s(), deadline, "warm-up of %s did not reach every subscriber", topic);
        pub(tx, topic, "warm", "warm");
        evc_loop_run_until(loop, all_have, &g, 100);
    }
    evc_loop_run_until(loop, all_have, &(goal){keyed, false}, 200); /* late probes */
}

typedef struct phase {
    size_t msgs;
    double wall, cpu;
    uint64_t deliveries, min, max;
} phase;

typedef struct arrival {
    const uint64_t *before;
    uint64_t want; /* per subscriber */
    size_t done;   /* subscribers 0..done-1 have it all: checked once */
} arrival;

static bool all_arrived(void *arg)
{
    arrival *a = arg;
    while (a->done < N && received(S[a->done].bus) - a->before[a->done] >= a->want)
        a->done++;
    return a->done == N;
}

/* Publishes one message to each of the keys of subscribers 0..msgs-1 and
 * waits until every subscriber has what its subscription brings: its one
 * message (keyed, msgs = N), or all `msgs` (keyless). */
static phase run_phase(evc_loop *loop, evc_bus *tx, const char *topic, bool keyed, size_t msgs)
{
    uint64_t *before = calloc(N, sizeof *before);
    cr_assert_not_null(before);
    for (size_t i = 0; i < N; i++)
        before[i] = received(S[i].bus);
    double t0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < msgs; i++)
        pub(tx, topic, S[i].key, "data");
    arrival a = {before, keyed ? 1 : msgs, 0};
    cr_assert_eq(evc_loop_run_until(loop, all_arrived, &a, 120000), EVC_OK,
                 "%s: %zu of %zu subscribers got what they subscribed to", topic, a.done, N);
    phase p = {.msgs = msgs, .wall = now_s() - t0, .cpu = cpu_s() - c0, .min = UINT64_MAX};
    /* Anything more would come now. */
    evc_loop_run_until(loop, all_have, &(goal){true, true}, 100);
    for (size_t i = 0; i < N; i++) {
        uint64_t d = received(S[i].bus) - before[i];
        p.deliveries += d;
        p.min = d < p.min ? d : p.min;
        p.max = d > p.max ? d : p.max;
    }
    free(before);
    return p;
}

static void print_phase(const char *name, const phase *p)
{
    fprintf(stderr,
            "  %-34s: %5zu msgs, deliveries %8" PRIu64 " (per subscriber %" PRIu64 "..%" PRIu64
            ", per message %6.1f)  wall %7.3f s  cpu %7.3f s (%7.1f us per message)\n",
            name, p->msgs, p->deliveries, p->min, p->max,
            (double)p->deliveries / (double)p->msgs, p->wall, p->cpu,
            p->cpu * 1e6 / (double)p->msgs);
}

Test(bench, fanout_keyed_vs_keyless)
{
    const char *env = getenv("EVC_BENCH_FANOUT_N");
    N = env && atoi(env) > 1 ? (size_t)atoi(env) : 1000;
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
             "    sub_endpoint: \"%s\"\n    sndhwm: 0\n    rcvhwm: 0\n    linger_ms: 0\n",
             zmqt_proxy_xsub(proxy), zmqt_proxy_xpub(proxy));
    evc_cfg *cfg = NULL;
    cr_assert_eq(evc_cfg_load_string("fanout.yaml", yaml, strlen(yaml), &cfg, &err), EVC_OK,
                 "%s", err.msg);
    evc_transport_params params = {
        .struct_size = sizeof params,
        .client_id = "fanout",
        .group_id = "fanout",
        .config = evc_cfg_path(evc_cfg_root(cfg), "transport.zmq"),
    };
    evc_bus *tx = NULL;
    cr_assert_eq(evc_bus_open(loop, plugin, &params, &tx, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);
    S = calloc(N, sizeof *S);
    cr_assert_not_null(S);
    double t_open = now_s();
    for (size_t i = 0; i < N; i++) {
        sub *s = &S[i];
        snprintf(s->key, sizeof s->key, "CP_%05zu", i);
        const char *const keys[] = {s->key, "warm"};
        cr_assert_eq(evc_bus_open(loop, plugin, &params, &s->bus, &err), EVC_OK,
                     "subscriber %zu: %s", i, err.msg);
        cr_assert_eq(evc_bus_subscribe_keys(s->bus, KEYED, keys, 2, on_msg, s, &err), EVC_OK);
        cr_assert_eq(evc_bus_subscribe(s->bus, KEYLESS, on_msg, s, &err), EVC_OK);
        cr_assert_eq(evc_bus_start(s->bus, &err), EVC_OK, "subscriber %zu: %s", i, err.msg);
    }
    warm_up(loop, tx, KEYED, true);
    warm_up(loop, tx, KEYLESS, false);
    double t_ready = now_s();

    phase k = run_phase(loop, tx, KEYED, true, N);
    /* Every message reaches every subscriber: fewer messages keep the run
     * short; the comparison is per message published. */
    phase a = run_phase(loop, tx, KEYLESS, false, N < 100 ? N : 100);
    fprintf(stderr,
            "bench fanout_zmq: %zu subscribers (one evc_bus each, zmq plugin), one proxy, one "
            "message per subscriber key; ready in %.1f s\n",
            N, t_ready - t_open);
    print_phase("keyed (subscribe_keys {own key})", &k);
    print_phase("keyless (whole topic, as before)", &a);
    double ck = k.cpu / (double)k.msgs, ca = a.cpu / (double)a.msgs;
    fprintf(stderr, "  per message published, keyless / keyed: deliveries x%.0f, cpu x%.1f\n",
            ((double)a.deliveries / (double)a.msgs) / ((double)k.deliveries / (double)k.msgs),
            ck > 0 ? ca / ck : 0.0);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(S[i].data_keyed, 1, "subscriber %zu got %u of its own keyed messages", i,
                     S[i].data_keyed);
    cr_assert_eq(k.min, 1, "a keyed subscriber received nothing");
    cr_assert_eq(k.max, 1, "a keyed subscriber received %" PRIu64 " messages for 1", k.max);
    for (size_t i = 0; i < N; i++)
        evc_bus_close(S[i].bus);
    free(S);
    evc_bus_close(tx);
    evc_cfg_free(cfg);
    evc_plugin_unload(plugin);
    evc_loop_free(loop);
    zmqt_proxy_stop(proxy);
}
