/* fixture_kafka.c: the conformance suite's peer for the Kafka transport --
 * librdkafka's mock cluster running inside the test process (its own
 * threads), on loopback, on ports chosen by the OS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"

struct conformance_peer {
    rd_kafka_t *rk; /* throwaway handle the mock cluster lives in */
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

static void kafka_fixture_stop(conformance_peer *peer)
{
    if (!peer)
        return;
    if (peer->mc)
        rd_kafka_mock_cluster_destroy(peer->mc);
    if (peer->rk)
        rd_kafka_destroy(peer->rk);
    free(peer);
}

static int kafka_fixture_start(conformance_peer **out, int brokers, char *endpoint, size_t cap)
{
    char es[512];
    *out = NULL;
    conformance_peer *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->brokers = brokers < 1 ? 1 : brokers;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The mock's notices (connections coming and going) are noise here. */
    rd_kafka_conf_set(conf, "log_level", "4", es, sizeof es);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!p->rk) {
        fprintf(stderr, "fixture_kafka: %s\n", es);
        rd_kafka_conf_destroy(conf);
        free(p);
        return -1;
    }
    p->mc = rd_kafka_mock_cluster_new(p->rk, p->brokers);
    if (!p->mc) {
        fprintf(stderr, "fixture_kafka: cannot start a mock cluster of %d brokers\n", p->brokers);
        kafka_fixture_stop(p);
        return -1;
    }
    /* The mock keeps only about 5 MB per partition and drops the oldest
     * messages beyond that, read or not. The suite's floods (100,000 and
     * 50,000 messages of 200 bytes, about 28 and 14 MB, published faster
     * than a loaded machine consumes them) are spread over many keys, and
     * these topics get enough partitions that no partition holds more than
     * one key's share (3.5 MB): the test then measures the transport, not
     * the mock's retention. A real broker's retention is configured by the
     * operator. */
    static const char *const floods[] = {"conf-burst", "conf-lossy"};
    for (size_t i = 0; i < sizeof floods / sizeof *floods; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(p->mc, floods[i], 64, 1);
        if (e) {
            fprintf(stderr, "fixture_kafka: create topic %s: %s\n", floods[i],
                    rd_kafka_err2str(e));
            kafka_fixture_stop(p);
            return -1;
        }
    }
    const char *boot = rd_kafka_mock_cluster_bootstraps(p->mc);
    if ((size_t)snprintf(endpoint, cap, "%s", boot) >= cap) {
        fprintf(stderr, "fixture_kafka: endpoint buffer too small for %s\n", boot);
        kafka_fixture_stop(p);
        return -1;
    }
    *out = p;
    return 0;
}

static int kafka_fixture_broker_set_up(conformance_peer *peer, int id, bool up)
{
    rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(peer->mc, id)
                               : rd_kafka_mock_broker_set_down(peer->mc, id);
    if (e) {
        fprintf(stderr, "fixture_kafka: broker %d %s: %s\n", id, up ? "up" : "down",
                rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Every broker down (connections closed, new ones refused), then up again
 * at the same addresses; the data stays. */
static int kafka_fixture_restart(conformance_peer *peer)
{
    for (int id = 1; id <= peer->brokers; id++)
        if (kafka_fixture_broker_set_up(peer, id, false) != 0)
            return -1;
    for (int id = 1; id <= peer->brokers; id++)
        if (kafka_fixture_broker_set_up(peer, id, true) != 0)
            return -1;
    return 0;
}

/* Tuned for tests: short fetch waits (an empty fetch otherwise waits 500 ms),
 * fast reconnects, a short session for groups whose member died, frequent
 * commits, and room for the suite's 1 MiB payload. SESSION is the consumer
 * group's session.timeout.ms (assignment: group only). */
#define KAFKA_FIXTURE_PROPS(SESSION)                                                           \
    "properties:\n"                                                                            \
    "  message.max.bytes: \"4194304\"\n"                                                       \
    "  reconnect.backoff.ms: \"20\"\n"                                                         \
    "  reconnect.backoff.max.ms: \"500\"\n"                                                    \
    "consumer_properties:\n"                                                                   \
    "  fetch.wait.max.ms: \"5\"\n"                                                             \
    "  session.timeout.ms: \"" SESSION "\"\n"                                                  \
    "  heartbeat.interval.ms: \"500\"\n"                                                       \
    "  auto.commit.interval.ms: \"200\"\n"                                                     \
    "  fetch.max.bytes: \"8388608\"\n"                                                         \
    "retry_delay_ms: 50\n"                                                                     \
    "flush_timeout_ms: 3000\n"
#define KAFKA_FIXTURE_COMMON KAFKA_FIXTURE_PROPS("6000")

static const char *kafka_fixture_yaml(const char *variant)
{
    if (variant && strcmp(variant, "burst") == 0)
        return KAFKA_FIXTURE_COMMON "producer_properties:\n"
                                    "  linger.ms: \"5\"\n"
                                    "  queue.buffering.max.messages: \"1000000\"\n"
                                    "  queue.buffering.max.kbytes: \"1048576\"\n";
    if (variant && strcmp(variant, "backpressure") == 0)
        return KAFKA_FIXTURE_COMMON "producer_properties:\n"
                                    "  queue.buffering.max.messages: \"10\"\n";
    /* Kafka-only variants (tests/conformance/transport_kafka). */
    if (variant && strcmp(variant, "group") == 0)
        return KAFKA_FIXTURE_COMMON "assignment: group\n";
    if (variant && strcmp(variant, "default_session") == 0)
        return KAFKA_FIXTURE_PROPS("45000");
    return KAFKA_FIXTURE_COMMON;
}

const conformance_fixture evc_conformance_transport_fixture = {
    .plugin = "kafka",
    .peer_start = kafka_fixture_start,
    .peer_restart = kafka_fixture_restart,
    .broker_set_up = kafka_fixture_broker_set_up,
    .peer_stop = kafka_fixture_stop,
    .plugin_yaml = kafka_fixture_yaml,
};
