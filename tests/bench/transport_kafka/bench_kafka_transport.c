/* Kafka transport benchmark: 200-byte keyed messages produced and consumed
 * through the plugin (loop + host + plugin, offsets stored after each
 * handled message) versus the same traffic with raw librdkafka on the same
 * in-process mock cluster, with the same producer/consumer settings and the
 * same offset handling. Prints messages/s of each (median of 9 runs, the
 * order alternating) and the ratio (median of the ratios of back-to-back
 * pairs, which cancels most of the noise of a shared machine). Fails only if
 * a run loses messages or times out. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "evc/config.h"
#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#define B_N 50000    /* per run: 10 MB, well under the mock's ~5 MB per partition x 4 */
#define B_RUNS 9
#define B_SIZE 200
#define B_KEYS 64

/* The same settings on both sides (the plugin's defaults spelled out). */
static const char b_pprops[][2][32] = {
    {"acks", "all"}, {"enable.idempotence", "true"}, {"linger.ms", "1"}};
static const char b_cprops[][2][32] = {
    {"fetch.wait.max.ms", "5"}, {"auto.commit.interval.ms", "1000"}};
#define B_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static double b_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling (application/loop) thread: what the plugin layer
 * adds is spent here, and this figure barely moves with the load that other
 * processes put on the machine. */
static double b_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double b_last_cpu_us; /* app-thread CPU per message of the last run */

static int b_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char b_payload[B_SIZE];
static char b_keys[B_KEYS][16];

/* ---- through the plugin ------------------------------------------------ */

typedef struct b_plugin {
    evc_loop *loop;
    evc_host_api *host;
    evc_cfg *cfg;
    void *dl;
    const evc_transport_ops *ops;
    evc_transport *t;
    uint64_t received, outcomes, acked;
    uint64_t want_r, want_o; /* targets of the current wait */
} b_plugin;

static int b_dispatch(void *arg, const evc_message *m)
{
    ((b_plugin *)arg)->received++;
    return EVC_OK;
}

static void b_outcome(void *arg, uint64_t token, evc_outcome_status st, const char *d)
{
    b_plugin *b = arg;
    b->outcomes++;
    b->acked += st == EVC_OUTCOME_ACKED;
}

static bool b_plugin_done(void *arg)
{
    b_plugin *b = arg;
    return b->received >= b->want_r && b->outcomes >= b->want_o;
}

static bool b_plugin_progress(void *arg)
{
    b_plugin *b = arg;
    return b->outcomes > b->want_o; /* want_o: the count seen before waiting */
}

static void b_plugin_open(b_plugin *b, const char *boot, const char *topic, const char *group)
{
    evc_error err = {0};
    char yaml[1024];
    int len = snprintf(yaml, sizeof yaml, "producer_properties:\n");
    for (size_t i = 0; i < B_COUNT(b_pprops); i++)
        len += snprintf(yaml + len, sizeof yaml - (size_t)len, "  %s: \"%s\"\n",
                        b_pprops[i][0], b_pprops[i][1]);
    len += snprintf(yaml + len, sizeof yaml - (size_t)len, "consumer_properties:\n");
    for (size_t i = 0; i < B_COUNT(b_cprops); i++)
        len += snprintf(yaml + len, sizeof yaml - (size_t)len, "  %s: \"%s\"\n",
                        b_cprops[i][0], b_cprops[i][1]);
    b->dl = dlopen(EVC_TEST_BINARY_DIR "/plugins/evc_transport_kafka.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(b->dl, "%s", dlerror());
    evc_plugin_query_fn q = (evc_plugin_query_fn)dlsym(b->dl, EVC_PLUGIN_ENTRY_NAME);
    b->ops = q(EVC_ABI_MAJOR, EVC_ABI_MINOR)->ops;
    cr_assert_eq(evc_loop_new(&b->loop, &err), EVC_OK);
    evc_host_sink sink = {.arg = b, .outcome = b_outcome, .dispatch = b_dispatch};
    cr_assert_eq(evc_host_new(b->loop, "kafka", &sink, &b->host, &err), EVC_OK);
    cr_assert_eq(evc_cfg_load_string("<bench>", yaml, strlen(yaml), &b->cfg, &err), EVC_OK,
                 "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = boot, .client_id = "bench",
                              .group_id = group, .config = evc_cfg_root(b->cfg)};
    cr_assert_eq(b->ops->create(b->host, &p, &b->t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(b->ops->subscribe(b->t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(b->ops->start(b->t, &err), EVC_OK, "%s", err.msg);
}

static double b_plugin_run(b_plugin *b, const char *topic, uint64_t n)
{
    evc_error err;
    uint64_t base_r = b->received, base_o = b->outcomes;
    evc_message m = {.topic = topic, .payload = b_payload, .payload_len = B_SIZE,
                     .partition = -1, .offset = -1};
    double t0 = b_now(), c0 = b_cpu();
    for (uint64_t i = 0; i < n;) {
        m.key = b_keys[i % B_KEYS];
        int rc = b->ops->publish(b->t, &m, base_o + i + 1, &err);
        if (rc == EVC_OK) {
            i++;
        } else {
            cr_assert_eq(rc, EVC_EAGAIN, "%s", err.msg);
            b->want_o = b->outcomes; /* run the loop until some outcome frees room */
            evc_loop_run_until(b->loop, b_plugin_progress, b, 100);
        }
    }
    uint64_t want_r = base_r + n, want_o = base_o + n;
    b->want_r = want_r;
    b->want_o = want_o;
    cr_assert_eq(evc_loop_run_until(b->loop, b_plugin_done, b, 20000), EVC_OK,
                 "plugin: received %llu/%llu outcomes %llu/%llu",
                 (unsigned long long)b->received, (unsigned long long)want_r,
                 (unsigned long long)b->outcomes, (unsigned long long)want_o);
    b_last_cpu_us = (b_cpu() - c0) * 1e6 / (double)n;
    return (double)n / (b_now() - t0);
}

/* ---- raw librdkafka ---------------------------------------------------- */

typedef struct b_raw {
    rd_kafka_t *p, *c;
    uint64_t drs, acked, received;
} b_raw;

static void b_raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    b_raw *r = opaque;
    r->drs++;
    r->acked += m->err == 0;
}

static rd_kafka_conf_t *b_raw_conf(const char *boot, b_raw *r, bool producer)
{
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", boot, es, sizeof es);
    for (size_t i = 0; producer && i < B_COUNT(b_pprops); i++)
        rd_kafka_conf_set(c, b_pprops[i][0], b_pprops[i][1], es, sizeof es);
    for (size_t i = 0; !producer && i < B_COUNT(b_cprops); i++)
        rd_kafka_conf_set(c, b_cprops[i][0], b_cprops[i][1], es, sizeof es);
    rd_kafka_conf_set(c, "log_level", "3", es, sizeof es);
    rd_kafka_conf_set_opaque(c, r);
    return c;
}

static void b_raw_open(b_raw *r, const char *boot, const char *topic, const char *group)
{
    char es[256];
    rd_kafka_conf_t *pc = b_raw_conf(boot, r, true);
    rd_kafka_conf_set_dr_msg_cb(pc, b_raw_dr);
    r->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, es, sizeof es);
    cr_assert_not_null(r->p, "%s", es);
    rd_kafka_conf_t *cc = b_raw_conf(boot, r, false);
    rd_kafka_conf_set(cc, "group.id", group, es, sizeof es);
    rd_kafka_conf_set(cc, "enable.auto.offset.store", "false", es, sizeof es);
    rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", es, sizeof es);
    r->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, es, sizeof es);
    cr_assert_not_null(r->c, "%s", es);
    rd_kafka_poll_set_consumer(r->c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(r->c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
}

static void b_raw_consume(b_raw *r, int timeout_ms)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(r->c, timeout_ms)) != NULL) {
        if (!m->err) {
            r->received++;
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        rd_kafka_message_destroy(m);
        timeout_ms = 0;
    }
}

static double b_raw_run(b_raw *r, const char *topic, uint64_t n)
{
    uint64_t want_r = r->received + n, want_d = r->drs + n;
    double t0 = b_now(), deadline = t0 + 20, c0 = b_cpu();
    for (uint64_t i = 0; i < n;) {
        const char *key = b_keys[i % B_KEYS];
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(b_payload, B_SIZE), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
        if (e == 0) {
            i++;
        } else {
            cr_assert_eq(e, RD_KAFKA_RESP_ERR__QUEUE_FULL, "%s", rd_kafka_err2str(e));
            rd_kafka_poll(r->p, 1);
            b_raw_consume(r, 0);
        }
    }
    while ((r->received < want_r || r->drs < want_d) && b_now() < deadline) {
        rd_kafka_poll(r->p, 0);
        b_raw_consume(r, r->received < want_r ? 10 : 0);
        if (r->received >= want_r && r->drs < want_d)
            rd_kafka_poll(r->p, 10);
    }
    cr_assert(r->received >= want_r && r->drs >= want_d, "raw: received %llu/%llu drs %llu/%llu",
              (unsigned long long)r->received, (unsigned long long)want_r,
              (unsigned long long)r->drs, (unsigned long long)want_d);
    b_last_cpu_us = (b_cpu() - c0) * 1e6 / (double)n;
    return (double)n / (b_now() - t0);
}

static void b_raw_close(b_raw *r)
{
    rd_kafka_flush(r->p, 5000);
    rd_kafka_consumer_close(r->c);
    rd_kafka_destroy(r->c);
    rd_kafka_destroy(r->p);
}

Test(bench, kafka_plugin_vs_raw_librdkafka)
{
    memset(b_payload, 'x', sizeof b_payload);
    for (int i = 0; i < B_KEYS; i++)
        snprintf(b_keys[i], sizeof b_keys[i], "cp-%d", i);
    conformance_peer *peer;
    char boot[512], tp[64], tr[64], gp[64], gr[64];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    snprintf(tp, sizeof tp, "bench-plugin-%d", (int)getpid());
    snprintf(tr, sizeof tr, "bench-raw-%d", (int)getpid());
    snprintf(gp, sizeof gp, "bench-gp-%d", (int)getpid());
    snprintf(gr, sizeof gr, "bench-gr-%d", (int)getpid());

    b_plugin b = {0};
    b_raw r = {0};
    b_plugin_open(&b, boot, tp, gp);
    b_raw_open(&r, boot, tr, gr);
    /* Warm-up: both groups joined (about 3 s on the mock) and connections up. */
    b_plugin_run(&b, tp, 1000);
    b_raw_run(&r, tr, 1000);

    double vp[B_RUNS], vr[B_RUNS], ratio[B_RUNS], cp[B_RUNS], cr[B_RUNS];
    for (int i = 0; i < B_RUNS; i++) {
        if (i % 2) {
            vr[i] = b_raw_run(&r, tr, B_N);
            cr[i] = b_last_cpu_us;
            vp[i] = b_plugin_run(&b, tp, B_N);
            cp[i] = b_last_cpu_us;
        } else {
            vp[i] = b_plugin_run(&b, tp, B_N);
            cp[i] = b_last_cpu_us;
            vr[i] = b_raw_run(&r, tr, B_N);
            cr[i] = b_last_cpu_us;
        }
        ratio[i] = vp[i] / vr[i];
    }
    qsort(ratio, B_RUNS, sizeof ratio[0], b_cmp);
    qsort(cp, B_RUNS, sizeof cp[0], b_cmp);
    qsort(cr, B_RUNS, sizeof cr[0], b_cmp);
    qsort(vp, B_RUNS, sizeof vp[0], b_cmp);
    qsort(vr, B_RUNS, sizeof vr[0], b_cmp);
    double mp = vp[B_RUNS / 2], mr = vr[B_RUNS / 2], mratio = ratio[B_RUNS / 2];
    fprintf(stderr,
            "kafka bench (%d x %d-byte keyed messages produced+consumed, mock cluster, median "
            "of %d):\n"
            "  raw librdkafka  %10.0f msg/s\n"
            "  evc plugin      %10.0f msg/s\n"
            "  plugin/raw      %10.3f  (median of pair ratios; cost %.1f%%)\n"
            "  app-thread CPU per message: raw %.2f us, plugin %.2f us (median)\n",
            B_N, B_SIZE, B_RUNS, mr, mp, mratio, (1.0 - mratio) * 100.0, cr[B_RUNS / 2],
            cp[B_RUNS / 2]);
    cr_log_info("kafka: raw %.0f msg/s, plugin %.0f msg/s, ratio %.3f", mr, mp, mratio);
    cr_expect_eq(b.acked, b.outcomes, "plugin: not every message acked");
    cr_expect_eq(r.acked, r.drs, "raw: not every message acked");

    b.ops->destroy(b.t);
    evc_host_free(b.host);
    evc_loop_free(b.loop);
    evc_cfg_free(b.cfg);
    dlclose(b.dl);
    b_raw_close(&r);
    evc_conformance_transport_fixture.peer_stop(peer);
}
