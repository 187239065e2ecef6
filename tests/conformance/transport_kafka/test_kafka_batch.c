/* The consumer takes messages from librdkafka in batches (issue 14). What a
 * batch must not change: a handler that runs the loop (a flush, as the bus
 * does) while later messages of its batch wait, combined with handler
 * failures that pause and rewind partitions, still sees every message
 * exactly once and each key in order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "kt_harness.h"

typedef struct kt_nest {
    uint8_t *fails;  /* failures so far of every 100th message */
    char side[96];   /* topic the handler publishes to before flushing */
    uint64_t token;  /* next token for those publishes */
    unsigned nested; /* flushes that ran the loop from inside a handler */
} kt_nest;

static int kt_seq(const evc_message *m)
{
    char buf[16];
    size_t len = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    memcpy(buf, m->payload, len);
    buf[len] = '\0';
    return atoi(buf + 1);
}

/* Every 100th message fails twice; every 37th publishes and flushes (runs
 * the loop, where the consumer's pipe and retry timers fire) before it
 * succeeds. */
static int kt_nesting_handler(kt_node *n, const evc_message *m)
{
    kt_nest *s = n->user;
    int seq = kt_seq(m);
    if (seq % 100 == 0 && s->fails[seq / 100] < 2) {
        s->fails[seq / 100]++;
        return EVC_EIO;
    }
    if (seq % 37 == 0) {
        evc_error err;
        evc_message side = {.topic = s->side, .key = "side", .payload = "x", .payload_len = 1,
                            .partition = -1, .offset = -1};
        if (n->ops->publish(n->t, &side, ++s->token, &err) == EVC_OK &&
            n->ops->flush(n->t, 5000, &err) == EVC_OK)
            s->nested++;
    }
    return EVC_OK;
}

Test(kafka, batch_with_nested_loop_and_failures_keeps_once_and_order)
{
    enum { N = 3000, KEYS = 8 };
    conformance_peer *peer;
    char boot[512], topic[96], group[96], buf[32], key[16];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "batch-nest");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    static uint8_t fails[N / 100];
    kt_nest s = {.fails = fails, .token = N};
    kt_unique(s.side, sizeof s.side, "batch-side");
    /* Tokens: 1..N for the stream, N+1.. for the handler's side publishes. */
    cr_assert_eq(kt_open(&n, boot, group, evc_conformance_transport_fixture.plugin_yaml("default"),
                         2 * N, &err),
                 EVC_OK, "%s", err.msg);
    n.handler = kt_nesting_handler;
    n.user = &s;
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    /* Published before the loop runs: the consumer finds them queued and
     * takes them in batches. */
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "n%d", i);
        snprintf(key, sizeof key, "cp-%d", i % KEYS);
        cr_assert_eq(kt_publish(&n, topic, key, buf, (uint64_t)i + 1, &err), EVC_OK, "%s",
                     err.msg);
    }
    cr_assert(kt_wait_msgs(&n, N, 60000), "handled %zu of %d", n.n_msgs, N);
    kt_wait_msgs(&n, N + 1, 300); /* anything extra would be a duplicate */
    cr_expect_eq(n.n_msgs, N, "handled %zu, expected each of %d once", n.n_msgs, N);
    cr_expect_gt(s.nested, 0, "no handler ran the loop");
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
