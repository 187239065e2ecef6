/* Kafka-only behaviour that the shared conformance suite does not cover:
 * redelivery after a failed handler, config errors with positions,
 * guarantees, and outcomes when the cluster is unreachable at stop. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "kt_harness.h"

static const char *kt_yaml(void)
{
    return evc_conformance_transport_fixture.plugin_yaml("default");
}

typedef struct kt_fail_once {
    const char *payload;
    int failures;
} kt_fail_once;

static int kt_fail_first(kt_node *n, const evc_message *m)
{
    kt_fail_once *f = n->user;
    if (f->failures == 0 && m->payload_len == strlen(f->payload) &&
        memcmp(m->payload, f->payload, m->payload_len) == 0) {
        f->failures++;
        return EVC_EIO;
    }
    return EVC_OK;
}

Test(kafka, redelivery_after_handler_failure)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96], buf[32];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "redeliver");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, kt_yaml(), 100, &err), EVC_OK, "%s", err.msg);
    kt_fail_once f = {"m3", 0};
    n.handler = kt_fail_first;
    n.user = &f;
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "m%d", i);
        cr_assert_eq(kt_publish(&n, topic, "cp-1", buf, (uint64_t)i + 1, &err), EVC_OK, "%s",
                     err.msg);
    }
    cr_assert(kt_wait_msgs(&n, 10, 30000), "handled %zu of 10", n.n_msgs);
    cr_assert_eq(f.failures, 1);
    /* Every message handled once, in publish order (one key, one partition):
     * the failed m3 came back before m4..m9 were handled. */
    for (int i = 0; i < 10; i++) {
        snprintf(buf, sizeof buf, "m%d", i);
        cr_expect_str_eq(n.msgs[i].payload, buf);
        cr_expect_str_eq(n.msgs[i].key, "cp-1");
    }
    evc_transport_stats st = {.struct_size = sizeof st};
    n.ops->stats(n.t, &st);
    cr_expect_eq(st.redelivered, 1);
    cr_expect_geq(st.received, 11);
    cr_expect_eq(kt_outcomes(&n), 10);
    cr_expect_eq(n.outcome[EVC_OUTCOME_ACKED], 10);
    cr_expect_eq(n.dup_outcomes + n.bad_tokens, 0);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

/* Every 100th message fails twice before it succeeds. */
static int kt_fail_hundredths(kt_node *n, const evc_message *m)
{
    uint8_t *fails = n->user;
    char buf[16];
    size_t len = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    memcpy(buf, m->payload, len);
    buf[len] = '\0';
    int seq = atoi(buf + 1);
    if (seq % 100 == 0 && fails[seq / 100] < 2) {
        fails[seq / 100]++;
        return EVC_EIO;
    }
    return EVC_OK;
}

/* Many failures while the partitions have prefetched messages behind the
 * failed ones: each message is handled exactly once, each key in order. */
Test(kafka, redelivery_keeps_per_key_order_under_load)
{
    enum { N = 2000, KEYS = 8 };
    conformance_peer *peer;
    char boot[512], topic[96], group[96], buf[32], key[16];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "redeliver-load");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, kt_yaml(), N, &err), EVC_OK, "%s", err.msg);
    uint8_t fails[N / 100] = {0};
    n.handler = kt_fail_hundredths;
    n.user = fails;
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "n%d", i);
        snprintf(key, sizeof key, "cp-%d", i % KEYS);
        cr_assert_eq(kt_publish(&n, topic, key, buf, (uint64_t)i + 1, &err), EVC_OK, "%s",
                     err.msg);
    }
    cr_assert(kt_wait_msgs(&n, N, 30000), "handled %zu of %d", n.n_msgs, N);
    kt_wait_msgs(&n, N + 1, 300); /* anything extra would be a duplicate */
    cr_expect_eq(n.n_msgs, N, "handled %zu, expected each of %d once", n.n_msgs, N);
    int last[KEYS];
    for (int k = 0; k < KEYS; k++)
        last[k] = -1;
    for (size_t i = 0; i < n.n_msgs; i++) {
        int seq = atoi(n.msgs[i].payload + 1);
        int k = seq % KEYS;
        cr_expect_gt(seq, last[k], "key cp-%d: n%d after n%d", k, seq, last[k]);
        last[k] = seq;
    }
    evc_transport_stats st = {.struct_size = sizeof st};
    n.ops->stats(n.t, &st);
    cr_expect_eq(st.redelivered, 2 * (N / 100));
    cr_expect_eq(st.lost, 0);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

static void kt_expect_config_error(const char *yaml, const char *needle1, const char *needle2)
{
    kt_node n;
    evc_error err = {0};
    int rc = kt_open(&n, "127.0.0.1:1", "g", yaml, 1, &err);
    cr_expect_eq(rc, EVC_ECONFIG, "rc %d (%s) for:\n%s", rc, err.msg, yaml);
    cr_expect_null(n.t);
    cr_expect(strstr(err.msg, needle1) != NULL, "'%s' not in '%s'", needle1, err.msg);
    if (needle2)
        cr_expect(strstr(err.msg, needle2) != NULL, "'%s' not in '%s'", needle2, err.msg);
    kt_close(&n);
}

Test(kafka, config_errors_name_file_line_column)
{
    /* Unknown librdkafka property, positioned at its value. */
    kt_expect_config_error("properties:\n  fetch.wait.max.ms: \"5\"\n  no.such.prop: \"1\"\n",
                           "<test>:3:17", "no.such.prop");
    /* Invalid value of a known property. */
    kt_expect_config_error("producer_properties:\n  acks: \"maybe\"\n", "<test>:2:9", "acks");
    /* A property the plugin manages. */
    kt_expect_config_error("consumer_properties:\n  enable.auto.offset.store: \"true\"\n",
                           "<test>:2:29", "managed by the plugin");
    /* A combination librdkafka refuses only when building a handle. */
    kt_expect_config_error("producer_properties:\n  acks: \"1\"\n", "transport.kafka",
                           "producer");
    /* The plugin's own keys are validated against its schema. */
    kt_expect_config_error("poll_budget: 0\n", "<test>:1:14", "poll_budget");
    kt_expect_config_error("topics:\n  create: maybe\n", "<test>:2:11", "create");
}

Test(kafka, missing_endpoint_is_a_config_error)
{
    kt_node n;
    evc_error err = {0};
    cr_expect_eq(kt_open(&n, "", "g", "", 1, &err), EVC_ECONFIG);
    cr_expect(strstr(err.msg, "endpoint") != NULL, "%s", err.msg);
    kt_close(&n);
}

Test(kafka, guarantees_follow_the_producer_settings)
{
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, "127.0.0.1:1", "g", "", 1, &err), EVC_OK, "%s", err.msg);
    evc_transport_guarantees g = {.struct_size = sizeof g};
    n.ops->guarantees(n.t, &g);
    cr_expect_eq(g.delivery, EVC_DELIVERY_AT_LEAST_ONCE);
    cr_expect(g.per_key_order && g.durable && g.replay && g.redelivery);
    kt_close(&n);

    cr_assert_eq(kt_open(&n, "127.0.0.1:1", "g",
                         "producer_properties:\n  acks: \"0\"\n  enable.idempotence: \"false\"\n"
                         "  max.in.flight.requests.per.connection: \"5\"\n",
                         1, &err),
                 EVC_OK, "%s", err.msg);
    n.ops->guarantees(n.t, &g);
    cr_expect_eq(g.delivery, EVC_DELIVERY_AT_MOST_ONCE);
    cr_expect(!g.per_key_order && !g.durable);
    kt_close(&n);
}

Test(kafka, missing_topic_with_create_false_fails_start)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "absent");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, "topics:\n  create: false\n", 1, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_expect_eq(n.ops->start(n.t, &err), EVC_ENOTFOUND, "%s", err.msg);
    cr_expect(strstr(err.msg, topic) != NULL, "%s", err.msg);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

/* The mock cluster has no controller, so the plugin falls back to broker
 * auto-creation there (partitions: the broker's default); against a real
 * cluster the Admin API path applies topics.partitions. */
Test(kafka, listed_topics_are_created_at_start)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "made");
    kt_unique(group, sizeof group, "g");
    char yaml[256];
    snprintf(yaml, sizeof yaml, "topics:\n  partitions: 3\n  names: [%s]\n", topic);
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, yaml, 1, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    kt_close(&n);
    /* A second instance that may not create finds it. */
    cr_assert_eq(kt_open(&n, boot, group, "topics:\n  create: false\n", 1, &err), EVC_OK);
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK);
    cr_expect_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

Test(kafka, stop_gives_every_pending_publish_one_outcome)
{
    conformance_peer *peer;
    char boot[512], topic[96];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "unreachable");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, NULL, "flush_timeout_ms: 300\n", 50, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_conformance_transport_fixture.broker_set_up(peer, 1, false), 0);
    for (uint64_t i = 1; i <= 50; i++)
        cr_assert_eq(kt_publish(&n, topic, "k", "x", i, &err), EVC_OK, "%s", err.msg);
    cr_expect_eq(n.ops->flush(n.t, 100, &err), EVC_ETIMEDOUT);
    n.ops->stop(n.t);
    n.ops->stop(n.t); /* idempotent */
    cr_expect_eq(kt_outcomes(&n), 50);
    cr_expect_eq(n.outcome[EVC_OUTCOME_ACKED], 0);
    cr_expect_eq(n.dup_outcomes + n.bad_tokens, 0);
    evc_transport_stats st = {.struct_size = sizeof st};
    n.ops->stats(n.t, &st);
    cr_expect_eq(st.published, 50);
    cr_expect_eq(st.not_sent + st.unconfirmed, 50);
    cr_expect_eq(n.ops->publish(n.t, &(evc_message){.topic = topic, .key = "", .payload = "x",
                                                    .payload_len = 1},
                                51, &err),
                 EVC_ESTATE);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

/* assignment: direct with its partition watcher asking every 100 ms: a topic
 * subscribed while running is read (its partitions assigned from the loop
 * while the watcher's list is replaced under it), and stop joins the thread.
 * Under the sanitizers this is the watcher's race test. */
Test(kafka, a_topic_subscribed_while_running_is_read_with_the_watcher_busy)
{
    conformance_peer *peer;
    char boot[512], t1[96], t2[96], group[96];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(t1, sizeof t1, "first");
    kt_unique(t2, sizeof t2, "second");
    kt_unique(group, sizeof group, "g");
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%spartition_check_ms: 100\n", kt_yaml());
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, yaml, 10, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->subscribe(n.t, t1, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_publish(&n, t1, "k", "one", 1, &err), EVC_OK, "%s", err.msg);
    cr_assert(kt_wait_msgs(&n, 1, 10000), "nothing read from %s", t1);
    cr_assert_eq(n.ops->subscribe(n.t, t2, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_publish(&n, t2, "k", "two", 2, &err), EVC_OK, "%s", err.msg);
    cr_assert(kt_wait_msgs(&n, 2, 10000), "nothing read from %s, subscribed while running", t2);
    /* Several watcher rounds, then more traffic on both. */
    kt_wait_msgs(&n, 3, 500);
    cr_assert_eq(kt_publish(&n, t1, "k", "three", 3, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_publish(&n, t2, "k", "four", 4, &err), EVC_OK, "%s", err.msg);
    cr_assert(kt_wait_msgs(&n, 4, 10000), "%zu of 4 read", n.n_msgs);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}
