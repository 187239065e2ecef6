/* Kafka one-hop latency through the plugin: a ping published by instance A
 * is answered by instance B (its handler publishes the pong), A times the
 * round trip; one hop is half of it. Both instances run on one loop in this
 * thread, as two programs' buses would each run on theirs. Rows: producer
 * linger.ms (librdkafka's default 5, and the values below it) with the
 * mock's fetch.wait.max.ms of the tests (5), then linger.ms 5 with
 * fetch.wait.max.ms 100 to show what the mock-only setting is for. Each
 * round trip starts only when the previous one ended (a request/answer
 * workload, the case linger.ms hurts: there is nothing to batch).
 *
 * Prints medians and p99 per row and their ratio to the first row; fails
 * only if a message is lost or a deadline passes, never on a time. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "evc/config.h"
#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#define L_TRIPS 200
#define L_WARM 20

static double l_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int l_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct l_side {
    struct l_pair *pair;
    evc_host_api *host;
    evc_cfg *cfg;
    evc_transport *t;
    int is_b;
} l_side;

typedef struct l_pair {
    const evc_transport_ops *ops;
    evc_loop *loop;
    l_side a, b;
    char ping[64], pong[64];
    uint64_t pongs, tokens;
} l_pair;

static int l_dispatch(void *arg, const evc_message *m)
{
    l_side *s = arg;
    l_pair *p = s->pair;
    if (!s->is_b) {
        p->pongs++;
        return EVC_OK;
    }
    evc_error err;
    evc_message r = {.topic = p->pong, .key = m->key, .payload = m->payload,
                     .payload_len = m->payload_len, .partition = -1, .offset = -1};
    return p->ops->publish(s->t, &r, ++p->tokens, &err);
}

static void l_outcome(void *arg, uint64_t token, evc_outcome_status st, const char *d) {}

static bool l_pong_seen(void *arg)
{
    l_pair *p = arg;
    return p->pongs > 0;
}

static void l_side_open(l_pair *p, l_side *s, int is_b, const char *boot, const char *linger,
                        const char *fetch_wait, const char *group)
{
    evc_error err = {0};
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "producer_properties:\n  linger.ms: \"%s\"\n"
             "consumer_properties:\n  fetch.wait.max.ms: \"%s\"\n",
             linger, fetch_wait);
    s->pair = p;
    s->is_b = is_b;
    evc_host_sink sink = {.arg = s, .outcome = l_outcome, .dispatch = l_dispatch};
    cr_assert_eq(evc_host_new(p->loop, "kafka", &sink, &s->host, &err), EVC_OK);
    cr_assert_eq(evc_cfg_load_string("<bench>", yaml, strlen(yaml), &s->cfg, &err), EVC_OK,
                 "%s", err.msg);
    evc_transport_params prm = {.struct_size = sizeof prm, .endpoint = boot,
                                .client_id = is_b ? "lat-b" : "lat-a", .group_id = group,
                                .config = evc_cfg_root(s->cfg)};
    cr_assert_eq(p->ops->create(s->host, &prm, &s->t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(p->ops->subscribe(s->t, is_b ? p->ping : p->pong, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(p->ops->start(s->t, &err), EVC_OK, "%s", err.msg);
}

static void l_side_close(l_pair *p, l_side *s)
{
    p->ops->destroy(s->t);
    evc_host_free(s->host);
    evc_cfg_free(s->cfg);
}

/* One round trip in ms; asserts it completes within 10 s. */
static double l_trip(l_pair *p)
{
    evc_error err;
    evc_message m = {.topic = p->ping, .key = "CP_001", .payload = "{\"type\":\"ping\"}",
                     .payload_len = 15, .partition = -1, .offset = -1};
    p->pongs = 0;
    double t0 = l_now_ms();
    cr_assert_eq(p->ops->publish(p->a.t, &m, ++p->tokens, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_run_until(p->loop, l_pong_seen, p, 10000), EVC_OK,
                 "no answer within 10 s");
    return l_now_ms() - t0;
}

Test(bench, kafka_hop_latency)
{
    /* The 100 ms row takes fewer trips: each costs ~0.2 s there. */
    static const struct { const char *linger, *fetch; int trips; } rows[] = {
        {"5", "5", L_TRIPS}, {"1", "5", L_TRIPS}, {"0", "5", L_TRIPS}, {"5", "100", L_TRIPS / 4}};
    enum { NROWS = sizeof rows / sizeof rows[0] };
    conformance_peer *peer;
    char boot[512];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    void *dl = dlopen(EVC_TEST_BINARY_DIR "/plugins/evc_transport_kafka.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(dl, "%s", dlerror());
    evc_plugin_query_fn q = (evc_plugin_query_fn)dlsym(dl, EVC_PLUGIN_ENTRY_NAME);
    double med[NROWS], p99[NROWS];
    for (int r = 0; r < NROWS; r++) {
        l_pair p = {.ops = q(EVC_ABI_MAJOR, EVC_ABI_MINOR)->ops};
        evc_error err = {0};
        char ga[64], gb[64];
        snprintf(p.ping, sizeof p.ping, "lat-ping-%d-%d", r, (int)getpid());
        snprintf(p.pong, sizeof p.pong, "lat-pong-%d-%d", r, (int)getpid());
        snprintf(ga, sizeof ga, "lat-a-%d-%d", r, (int)getpid());
        snprintf(gb, sizeof gb, "lat-b-%d-%d", r, (int)getpid());
        cr_assert_eq(evc_loop_new(&p.loop, &err), EVC_OK);
        l_side_open(&p, &p.a, 0, boot, rows[r].linger, rows[r].fetch, ga);
        l_side_open(&p, &p.b, 1, boot, rows[r].linger, rows[r].fetch, gb);
        for (int i = 0; i < L_WARM; i++) /* groups joined, connections up */
            l_trip(&p);
        double v[L_TRIPS];
        int n = rows[r].trips;
        for (int i = 0; i < n; i++)
            v[i] = l_trip(&p) / 2.0;
        qsort(v, (size_t)n, sizeof v[0], l_cmp);
        med[r] = v[n / 2];
        p99[r] = v[n * 99 / 100];
        l_side_close(&p, &p.a);
        l_side_close(&p, &p.b);
        evc_loop_free(p.loop);
    }
    fprintf(stderr, "kafka one-hop latency through the plugin (mock cluster, %d request/answer "
                    "round trips per row, %d in the last; half of each):\n",
            L_TRIPS, L_TRIPS / 4);
    for (int r = 0; r < NROWS; r++)
        fprintf(stderr,
                "  linger.ms %-2s fetch.wait.max.ms %-4s median %6.2f ms  p99 %6.2f ms  "
                "(median %.2fx the first row)\n",
                rows[r].linger, rows[r].fetch, med[r], p99[r], med[r] / med[0]);
    dlclose(dl);
    evc_conformance_transport_fixture.peer_stop(peer);
}
