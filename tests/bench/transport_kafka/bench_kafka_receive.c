/* Kafka receive path benchmark: the CPU that the application (loop) thread
 * spends per received message, through the plugin (loop wake-up + librdkafka
 * queue + plugin + host dispatch + offset store) and through raw librdkafka
 * consuming the same messages with the same offset handling:
 *
 *   raw-1    rd_kafka_consumer_poll() one message at a time (what the plugin
 *            did before issue 14), offset stored after each message;
 *   raw-batch rd_kafka_consume_batch_queue() up to 256 at a time.
 *
 * EVC_BENCH_KAFKA_BASELINE=<path of another evc_transport_kafka.so> (for
 * example one built from an older commit) adds that build as a fourth reader
 * in the same runs and prints the ratio of the two plugin builds.
 *
 * One topic is filled once per run by a raw producer; three consumer groups
 * (plugin, raw-1, raw-batch) each read all of it, one after the other, the
 * order rotating between runs. Only the consuming thread's CPU time is
 * measured (CLOCK_THREAD_CPUTIME_ID): librdkafka's fetcher threads and the
 * mock cluster run elsewhere, so the figure hardly moves with the machine's
 * load. Prints medians and the medians of per-run ratios; fails only on a
 * lost message or a timeout, never on a time. */
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

#define R_N 20000 /* per run: 4 MB over 4 partitions, under the mock's ~5 MB each */
#define R_RUNS 9
#define R_SIZE 200
#define R_KEYS 64
#define R_BATCH 256

static double r_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int r_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double r_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], r_cmp);
    return v[n / 2];
}

/* ---- the plugin --------------------------------------------------------- */

typedef struct r_plugin {
    evc_loop *loop;
    evc_host_api *host;
    evc_cfg *cfg;
    void *dl;
    const evc_transport_ops *ops;
    evc_transport *t;
    uint64_t received, want;
} r_plugin;

static int r_dispatch(void *arg, const evc_message *m)
{
    ((r_plugin *)arg)->received++;
    return EVC_OK;
}

static void r_outcome(void *arg, uint64_t token, evc_outcome_status st, const char *d) {}

static bool r_plugin_done(void *arg)
{
    r_plugin *p = arg;
    return p->received >= p->want;
}

static void r_plugin_open(r_plugin *p, const char *so, const char *boot, const char *topic,
                          const char *group)
{
    evc_error err = {0};
    static const char yaml[] = "consumer_properties:\n"
                               "  fetch.wait.max.ms: \"5\"\n"
                               "  auto.commit.interval.ms: \"1000\"\n";
    p->dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(p->dl, "%s", dlerror());
    evc_plugin_query_fn q = (evc_plugin_query_fn)dlsym(p->dl, EVC_PLUGIN_ENTRY_NAME);
    p->ops = q(EVC_ABI_MAJOR, EVC_ABI_MINOR)->ops;
    cr_assert_eq(evc_loop_new(&p->loop, &err), EVC_OK);
    evc_host_sink sink = {.arg = p, .outcome = r_outcome, .dispatch = r_dispatch};
    cr_assert_eq(evc_host_new(p->loop, "kafka", &sink, &p->host, &err), EVC_OK);
    cr_assert_eq(evc_cfg_load_string("<bench>", yaml, strlen(yaml), &p->cfg, &err), EVC_OK,
                 "%s", err.msg);
    evc_transport_params prm = {.struct_size = sizeof prm, .endpoint = boot,
                                .client_id = "bench-rx", .group_id = group,
                                .config = evc_cfg_root(p->cfg)};
    cr_assert_eq(p->ops->create(p->host, &prm, &p->t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(p->ops->subscribe(p->t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(p->ops->start(p->t, &err), EVC_OK, "%s", err.msg);
}

/* App-thread CPU per message (us) to receive the next n messages. */
static double r_plugin_take(r_plugin *p, uint64_t n)
{
    p->want = p->received + n;
    double c0 = r_cpu();
    cr_assert_eq(evc_loop_run_until(p->loop, r_plugin_done, p, 30000), EVC_OK,
                 "plugin: received %llu/%llu", (unsigned long long)p->received,
                 (unsigned long long)p->want);
    return (r_cpu() - c0) * 1e6 / (double)n;
}

static void r_plugin_close(r_plugin *p)
{
    p->ops->destroy(p->t);
    evc_host_free(p->host);
    evc_loop_free(p->loop);
    evc_cfg_free(p->cfg);
    dlclose(p->dl);
}

/* ---- raw librdkafka ----------------------------------------------------- */

static rd_kafka_t *r_raw_consumer(const char *boot, const char *topic, const char *group)
{
    char es[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", boot, es, sizeof es);
    rd_kafka_conf_set(c, "fetch.wait.max.ms", "5", es, sizeof es);
    rd_kafka_conf_set(c, "auto.commit.interval.ms", "1000", es, sizeof es);
    rd_kafka_conf_set(c, "group.id", group, es, sizeof es);
    rd_kafka_conf_set(c, "enable.auto.offset.store", "false", es, sizeof es);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", es, sizeof es);
    rd_kafka_conf_set(c, "log_level", "3", es, sizeof es);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, es, sizeof es);
    cr_assert_not_null(rk, "%s", es);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static double r_raw1_take(rd_kafka_t *rk, uint64_t n)
{
    uint64_t got = 0;
    double c0 = r_cpu();
    time_t deadline = time(NULL) + 30;
    while (got < n && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 10);
        if (!m)
            continue;
        if (!m->err) {
            got++;
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq(got, n, "raw-1: received %llu/%llu", (unsigned long long)got,
                 (unsigned long long)n);
    return (r_cpu() - c0) * 1e6 / (double)n;
}

static double r_rawb_take(rd_kafka_t *rk, rd_kafka_queue_t *q, uint64_t n)
{
    rd_kafka_message_t *v[R_BATCH];
    uint64_t got = 0;
    double c0 = r_cpu();
    time_t deadline = time(NULL) + 30;
    while (got < n && time(NULL) < deadline) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 10, v, R_BATCH);
        for (ssize_t i = 0; i < k; i++) {
            if (!v[i]->err) {
                got++;
                rd_kafka_offset_store(v[i]->rkt, v[i]->partition, v[i]->offset);
            }
            rd_kafka_message_destroy(v[i]);
        }
    }
    cr_assert_eq(got, n, "raw-batch: received %llu/%llu", (unsigned long long)got,
                 (unsigned long long)n);
    return (r_cpu() - c0) * 1e6 / (double)n;
}

static void r_produce(rd_kafka_t *p, const char *topic, uint64_t n)
{
    static char payload[R_SIZE];
    memset(payload, 'x', sizeof payload);
    for (uint64_t i = 0; i < n;) {
        char key[16];
        snprintf(key, sizeof key, "cp-%d", (int)(i % R_KEYS));
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(payload, R_SIZE), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e == 0)
            i++;
        else
            rd_kafka_poll(p, 10); /* queue full: let deliveries free room */
    }
    cr_assert_eq(rd_kafka_flush(p, 20000), 0, "producer did not flush");
}

Test(bench, kafka_receive_path_per_message)
{
    conformance_peer *peer;
    char boot[512], topic[64], g[4][64], es[256];
    const char *base_so = getenv("EVC_BENCH_KAFKA_BASELINE");
    if (base_so && !*base_so)
        base_so = NULL;
    int readers = base_so ? 4 : 3;
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    snprintf(topic, sizeof topic, "bench-rx-%d", (int)getpid());
    for (int i = 0; i < 4; i++)
        snprintf(g[i], sizeof g[i], "bench-rx-g%d-%d", i, (int)getpid());

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", boot, es, sizeof es);
    rd_kafka_conf_set(pc, "linger.ms", "5", es, sizeof es);
    rd_kafka_conf_set(pc, "log_level", "3", es, sizeof es);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, es, sizeof es);
    cr_assert_not_null(prod, "%s", es);

    r_plugin p = {0}, pb = {0};
    r_plugin_open(&p, EVC_TEST_BINARY_DIR "/plugins/evc_transport_kafka.so", boot, topic, g[0]);
    if (base_so)
        r_plugin_open(&pb, base_so, boot, topic, g[3]);
    rd_kafka_t *raw1 = r_raw_consumer(boot, topic, g[1]);
    rd_kafka_t *rawb = r_raw_consumer(boot, topic, g[2]);
    rd_kafka_queue_t *qb = rd_kafka_queue_get_consumer(rawb);

    /* Warm-up: the three groups joined (about 3 s each on the mock). */
    r_produce(prod, topic, 1000);
    r_plugin_take(&p, 1000);
    r_raw1_take(raw1, 1000);
    r_rawb_take(rawb, qb, 1000);
    if (base_so)
        r_plugin_take(&pb, 1000);

    double vp[R_RUNS], v1[R_RUNS], vb[R_RUNS], q1[R_RUNS], qb_[R_RUNS];
    double vo[R_RUNS] = {0}, qo[R_RUNS] = {0};
    for (int run = 0; run < R_RUNS; run++) {
        r_produce(prod, topic, R_N);
        for (int k = 0; k < readers; k++) {
            switch ((run + k) % readers) {
            case 0: vp[run] = r_plugin_take(&p, R_N); break;
            case 1: v1[run] = r_raw1_take(raw1, R_N); break;
            case 2: vb[run] = r_rawb_take(rawb, qb, R_N); break;
            default: vo[run] = r_plugin_take(&pb, R_N); break;
            }
        }
        q1[run] = vp[run] / v1[run];
        qb_[run] = vp[run] / vb[run];
        qo[run] = base_so ? vp[run] / vo[run] : 0;
    }
    double mq1 = r_median(q1, R_RUNS), mqb = r_median(qb_, R_RUNS);
    fprintf(stderr,
            "kafka receive path (%d x %d-byte keyed messages per run, mock cluster, median of "
            "%d), consuming-thread CPU per message:\n"
            "  raw librdkafka, one at a time  %6.3f us\n"
            "  raw librdkafka, batch of %d   %6.3f us\n"
            "  evc plugin (loop+host+plugin)  %6.3f us\n"
            "  plugin / raw one-at-a-time     %6.3f  (median of per-run ratios)\n"
            "  plugin / raw batch             %6.3f\n",
            R_N, R_SIZE, R_RUNS, r_median(v1, R_RUNS), R_BATCH, r_median(vb, R_RUNS),
            r_median(vp, R_RUNS), mq1, mqb);
    if (base_so)
        fprintf(stderr,
                "  baseline plugin (%s)  %6.3f us\n"
                "  plugin / baseline plugin       %6.3f  (median of per-run ratios)\n",
                base_so, r_median(vo, R_RUNS), r_median(qo, R_RUNS));
    cr_log_info("kafka receive: plugin/raw-1 %.3f plugin/raw-batch %.3f", mq1, mqb);

    rd_kafka_queue_destroy(qb);
    rd_kafka_consumer_close(raw1);
    rd_kafka_consumer_close(rawb);
    rd_kafka_destroy(raw1);
    rd_kafka_destroy(rawb);
    r_plugin_close(&p);
    if (base_so)
        r_plugin_close(&pb);
    rd_kafka_destroy(prod);
    evc_conformance_transport_fixture.peer_stop(peer);
}
