/* ckt_checks.c: the contract every transport plugin meets (group
 * "transport" of evc-conformance), in the world of ckt.h.
 *
 * Where transports legitimately differ, a check asks the instance for its
 * guarantees and checks what those promise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckt.h"
#include "evc/host.h"

/* ======================================================================== */
/* lifecycle                                                               */
/* ======================================================================== */

typedef struct sink_counts {
    uint64_t outcomes, messages;
} sink_counts;

static void sink_outcome(void *arg, uint64_t token, evc_outcome_status s, const char *d)
{
    ((sink_counts *)arg)->outcomes++;
}

static int sink_dispatch(void *arg, const evc_message *m)
{
    ((sink_counts *)arg)->messages++;
    return EVC_OK;
}

/* The ops table directly, as the core uses it: the bus hides stop. */
static void lifecycle_ops(void)
{
    const evc_plugin_descriptor *d = evc_plugin_descriptor_of(W.plugin);
    ck_assert_eq(d->kind, EVC_PLUGIN_TRANSPORT);
    ck_assert_str_eq(d->name, ck.plugin);
    const evc_transport_ops *ops = d->ops;
    ck_assert(ops->create && ops->start && ops->publish && ops->stop && ops->destroy &&
              ops->subscribe && ops->flush && ops->guarantees && ops->stats,
              "a mandatory op is missing");

    sink_counts counts = {0};
    evc_host_sink sink = {.arg = &counts, .outcome = sink_outcome, .dispatch = sink_dispatch};
    evc_host_api *host = NULL;
    evc_error err = {0};
    ck_assert_eq(evc_host_new(W.loop, ck.plugin, &sink, &host, &err), EVC_OK,
                 "%s", err.msg);

    char yaml[4096];
    build_yaml("default", "no_such_key_for_conformance: 1", yaml, sizeof yaml);
    evc_cfg *bad = NULL;
    ck_assert_eq(evc_cfg_load_string(CONF_FILE, yaml, strlen(yaml), &bad, &err), EVC_OK, "%s",
                 err.msg);
    build_yaml("default", NULL, yaml, sizeof yaml);
    evc_cfg *good = NULL;
    ck_assert_eq(evc_cfg_load_string(CONF_FILE, yaml, strlen(yaml), &good, &err), EVC_OK, "%s",
                 err.msg);
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = W.endpoint,
        .client_id = "conformance-ops",
        .group_id = "conformance-ops",
    };

    /* create failing: nothing is returned, destroy(NULL) is harmless */
    params.config = evc_cfg_path(evc_cfg_root(bad), W.section);
    evc_transport *t = (evc_transport *)&counts; /* must be overwritten with NULL */
    ck_assert_eq(ops->create(host, &params, &t, &err), EVC_ECONFIG, "bad config accepted");
    ck_assert_null(t, "failed create left an instance behind");
    ops->destroy(NULL);

    /* create, destroy without start */
    params.config = evc_cfg_path(evc_cfg_root(good), W.section);
    ck_assert_eq(ops->create(host, &params, &t, &err), EVC_OK, "%s", err.msg);
    ops->destroy(t);

    /* create, start, stop, stop again, destroy */
    ck_assert_eq(ops->create(host, &params, &t, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(ops->subscribe(t, "conf-ops", &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(ops->start(t, &err), EVC_OK, "%s", err.msg);
    run_for(20);
    ops->stop(t);
    ops->stop(t);
    evc_message m = {.topic = "conf-ops", .key = "k", .payload = "x", .payload_len = 1,
                     .partition = -1, .offset = -1};
    int rc = ops->publish(t, &m, 1, &err);
    ck_assert_neq(rc, EVC_OK, "publish accepted after stop");
    ck_assert_neq(rc, EVC_EAGAIN, "publish after stop is a refusal, not back-pressure");
    ops->destroy(t);

    /* create, start, destroy (destroy stops) */
    ck_assert_eq(ops->create(host, &params, &t, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(ops->start(t, &err), EVC_OK, "%s", err.msg);
    ops->destroy(t);
    run_for(20); /* nothing may fire for a destroyed instance */
    ck_assert_eq(counts.outcomes, 0);

    evc_host_free(host);
    evc_cfg_free(bad);
    evc_cfg_free(good);
}

static void lifecycle_bus_open_close(void)
{
    /* bad config: open fails, returns no bus, closing NULL is harmless */
    evc_bus *bus = (evc_bus *)&W;
    evc_error err = {0};
    ck_assert_eq(open_bus_extra("default", "no_such_key_for_conformance: 1", &bus, &err),
                 EVC_ECONFIG);
    ck_assert_null(bus);
    evc_bus_close(NULL);
    /* then a good one on the same plugin works */
    bus = open_bus("default");
    subscribe_start(bus, "conf-life");
    warmup(bus);
    evc_bus_close(bus);
    /* and a second instance after the first is gone */
    bus = open_bus("default");
    subscribe_start(bus, "conf-life");
    warmup(bus);
    evc_bus_close(bus);
}

static void config_error_names_file_line_column(void)
{
    char yaml[4096];
    unsigned line = build_yaml("default", "no_such_key_for_conformance: 1", yaml, sizeof yaml);
    evc_bus *bus = NULL;
    evc_error err = {0};
    ck_assert_eq(open_bus_extra("default", "no_such_key_for_conformance: 1", &bus, &err),
                 EVC_ECONFIG);
    char where[64];
    snprintf(where, sizeof where, CONF_FILE ":%u:", line);
    ck_assert(strstr(err.msg, where) != NULL, "error does not name %s: \"%s\"", where, err.msg);
    ck_assert(strstr(err.msg, "no_such_key_for_conformance") != NULL,
              "error does not name the key: \"%s\"", err.msg);
}

/* ======================================================================== */
/* traffic                                                                 */
/* ======================================================================== */

static void round_trip(void)
{
    evc_bus *bus = open_bus("default");
    subscribe_start(bus, "conf-rt");
    warmup(bus);
    evc_transport_guarantees g = guarantees_of(bus);

    /* A topic that merely starts with the subscribed one must not leak in. */
    const char *subscribed = TX.topic;
    TX.topic = "conf-rt-longer";
    publish(bus, KIND_DATA, 9);
    TX.topic = subscribed;
    uint64_t before = RX.data;
    ck_assert_eq(publish(bus, KIND_DATA, 1), EVC_OK);
    uint64_t want = before + 1;
    ck_assert(wait_for(cond_data_ge, &want, DELIVERY_DEADLINE_MS), "message did not come back");
    ck_assert_eq(RX.data, 1, "%" PRIu64 " data messages for 1 published", RX.data);
    ck_assert_str_eq(RX.last_key, "CP_001");
    /* Its subscription delivered: the transport must say it is live (the
     * programs judge a silent peer only from then on). */
    ck_assert(evc_bus_live(bus), "messages arrive but stats.joined is 0");
    ck_assert_eq(RX.malformed, 0);
    run_for(200);
    ck_assert_eq(RX.foreign, 0, "a message of another topic reached the handler");
    ck_assert(wait_for(cond_outcomes_done, NULL, DELIVERY_DEADLINE_MS), "outcomes missing");
    assert_outcomes_exact();
    /* what an outcome says must match what the transport claims */
    if (g.delivery == EVC_DELIVERY_AT_LEAST_ONCE)
        ck_assert_eq(TX.acked, TX.accepted, "at-least-once transport left publishes unacked");
    else
        ck_assert_eq(TX.not_sent, 0);
    evc_transport_stats s = stats_of(bus);
    ck_assert_eq(s.received, RX.total + RX.foreign,
                 "stats.received %" PRIu64 " but %" PRIu64 " dispatched", s.received,
                 RX.total + RX.foreign);
    ck_assert_geq(s.published, TX.accepted);
    evc_bus_close(bus);
}

static void burst_100k_all_received(void)
{
    const uint64_t n = 100000;
    evc_bus *bus = open_bus("burst");
    subscribe_start(bus, "conf-burst");
    warmup(bus);
    uint64_t base = RX.distinct;
    publish_data(bus, n, MAX_KEYS, 200); /* from many CPs, as on a real bus */
    uint64_t want = base + n;
    bool all = wait_for(cond_distinct_ge, &want, DELIVERY_DEADLINE_MS);
    evc_transport_stats s = stats_of(bus);
    ck_assert(all, "burst: %" PRIu64 " of %" PRIu64 " received (stats.lost %" PRIu64 ")",
              RX.distinct, n, s.lost);
    ck_assert_eq(s.lost, 0, "stats.lost = %" PRIu64 " in a burst that lost nothing", s.lost);
    evc_error err = {0};
    ck_assert_eq(evc_bus_flush(bus, 10000, &err), EVC_OK, "flush: %s", err.msg);
    assert_outcomes_exact();
    evc_bus_close(bus);
}

/* What a transport says about loss is true. At-most-once transports may
 * lose, but never silently: under settings that do drop, every message
 * published after the subscriber's first contact is either received or
 * counted in stats.lost. At-least-once transports lose nothing under the
 * same flood and count nothing lost. */
static void loss_matches_the_guarantee(void)
{
    evc_bus *probe = open_bus("default");
    evc_transport_guarantees g = guarantees_of(probe);
    evc_bus_close(probe);
    const uint64_t n = 50000;
    if (g.delivery != EVC_DELIVERY_AT_MOST_ONCE) {
        evc_bus *bus = open_bus("burst");
        subscribe_start(bus, "conf-lossy");
        warmup(bus);
        uint64_t want = RX.distinct + n;
        publish_data(bus, n, MAX_KEYS, 200);
        ck_assert(wait_for(cond_distinct_ge, &want, DELIVERY_DEADLINE_MS),
                  "an at-least-once transport lost messages: %" PRIu64 " of %" PRIu64,
                  RX.distinct, want);
        ck_assert_eq(stats_of(bus).lost, 0);
        evc_bus_close(bus);
        return;
    }
    evc_bus *bus = open_bus("lossy");
    subscribe_start(bus, "conf-lossy");
    warmup(bus);
    publish_data(bus, n, 1, 200);
    /* Loss at the tail is invisible until a later message arrives: probe. */
    uint64_t deadline = mono_ms() + DELIVERY_DEADLINE_MS;
    while (RX.probes == 0) {
        ck_assert_lt(mono_ms(), deadline, "no probe came through after the flood");
        publish(bus, KIND_PROBE, 0);
        wait_for(cond_probe, NULL, 20);
    }
    evc_transport_stats s = stats_of(bus);
    uint64_t span = (uint64_t)(RX.max_index - RX.first_index) + 1;
    ck_assert_gt(s.lost, 0, "a 50,000-message flood through sndhwm 1 lost nothing?");
    ck_assert_eq(RX.total + s.lost, span,
                 "received %" PRIu64 " + lost %" PRIu64 " != %" PRIu64
                 " messages published from the first received to the last",
                 RX.total, s.lost, span);
    evc_bus_close(bus);
}

static void per_key_order(void)
{
    const uint64_t n = 20000;
    const uint32_t keys = 4;
    evc_bus *bus = open_bus("burst");
    subscribe_start(bus, "conf-order");
    warmup(bus);
    evc_transport_guarantees g = guarantees_of(bus);
    ck_assert(g.per_key_order, "every transport of this product keeps per-key order");
    uint64_t base = RX.distinct;
    publish_data(bus, n, keys, 200);
    uint64_t want = base + n;
    ck_assert(wait_for(cond_distinct_ge, &want, DELIVERY_DEADLINE_MS),
              "%" PRIu64 " of %" PRIu64 " received", RX.distinct - base, n);
    ck_assert_eq(RX.order_errors, 0, "%" PRIu64 " messages arrived out of their key's order",
                 RX.order_errors);
    for (uint32_t k = 0; k < keys; k++)
        ck_assert_eq(RX.key_max[k], (int64_t)(n / keys) - 1,
                     "key %u ended at %" PRId64, k, RX.key_max[k]);
    if (g.delivery == EVC_DELIVERY_AT_MOST_ONCE)
        ck_assert_eq(RX.dupes, 0, "an at-most-once transport duplicated messages");
    evc_bus_close(bus);
}

static void payload_1mib(void)
{
    const size_t len = 1024 * 1024;
    unsigned char *big = malloc(len);
    ck_assert_not_null(big);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    evc_bus *bus = open_bus("default");
    subscribe_start(bus, "conf-big");
    warmup(bus);
    uint64_t base = RX.data;
    ck_assert_eq(publish_sized(bus, KIND_DATA, 0, big, len), EVC_OK);
    RX.expect_payload = big;
    RX.expect_len = len;
    uint64_t want = base + 1;
    ck_assert(wait_for(cond_data_ge, &want, DELIVERY_DEADLINE_MS), "1 MiB message lost");
    ck_assert_eq(RX.payload_matches, 1, "1 MiB payload arrived altered");
    evc_bus_close(bus);
    free(big);
}

static void backpressure_eagain_without_blocking(void)
{
    evc_bus *bus = open_bus("backpressure");
    subscribe_start(bus, "conf-bp");
    warmup(bus);
    /* Flood without letting the loop run: the queue must fill and publish must
     * say so, fast, instead of blocking or accepting without bound. */
    uint64_t worst = 0, start = mono_ms();
    bool refused = false;
    for (int i = 0; i < 2000000 && !refused && mono_ms() - start < 20000; i++) {
        uint64_t t0 = mono_ms();
        refused = publish(bus, KIND_DATA, 0) == EVC_EAGAIN;
        uint64_t dt = mono_ms() - t0;
        if (dt > worst)
            worst = dt;
    }
    ck_assert(refused, "publish never pushed back (%" PRIu64 " accepted)", TX.accepted);
    ck_assert_lt(worst, 200, "a publish call blocked for %" PRIu64 " ms", worst);
    evc_transport_stats s = stats_of(bus);
    ck_assert_geq(s.backpressured, 1, "stats.backpressured not counted");
    /* Back-pressure is temporary: with the loop running publish succeeds again. */
    uint64_t deadline = mono_ms() + DELIVERY_DEADLINE_MS;
    while (publish(bus, KIND_DATA, 0) != EVC_OK) {
        ck_assert_lt(mono_ms(), deadline, "publish stayed refused");
        run_for(5);
    }
    ck_assert(wait_for(cond_outcomes_done, NULL, DELIVERY_DEADLINE_MS), "outcomes missing");
    run_for(100);
    assert_outcomes_exact();
    evc_bus_close(bus);
}

static void flush_with_deadline(void)
{
    evc_bus *bus = open_bus("default");
    subscribe_start(bus, "conf-flush");
    warmup(bus);
    publish_data(bus, 1000, 2, 200);
    evc_error err = {0};
    uint64_t t0 = mono_ms();
    ck_assert_eq(evc_bus_flush(bus, 20000, &err), EVC_OK, "flush: %s", err.msg);
    ck_assert_lt(mono_ms() - t0, 20000);
    ck_assert_eq(evc_bus_pending(bus), 0, "flush returned OK with outcomes pending");
    assert_outcomes_exact();

    if (fx->broker_set_up != NULL) {
        /* With the bus unreachable, flush must give up at its deadline. */
        ck_assert_eq(fx->broker_set_up(W.peer, 1, false), 0);
        publish_data(bus, 10, 1, 200);
        t0 = mono_ms();
        int rc = evc_bus_flush(bus, 500, &err);
        uint64_t took = mono_ms() - t0;
        ck_assert_eq(rc, EVC_ETIMEDOUT, "flush with the bus down: %s", evc_status_name(rc));
        ck_assert_geq(took, 400, "flush gave up after %" PRIu64 " ms of 500", took);
        ck_assert_lt(took, 5000, "flush overran its 500 ms deadline: %" PRIu64 " ms", took);
        ck_assert_eq(fx->broker_set_up(W.peer, 1, true), 0);
        ck_assert_eq(evc_bus_flush(bus, DELIVERY_DEADLINE_MS, &err), EVC_OK, "%s", err.msg);
        assert_outcomes_exact();
    }
    evc_bus_close(bus);
}

/* Closing with publishes in flight still gives each exactly one outcome. */
static void one_outcome_per_publish_across_close(void)
{
    evc_bus *bus = open_bus("burst");
    subscribe_start(bus, "conf-close");
    warmup(bus);
    for (int i = 0; i < 20000; i++)
        publish(bus, KIND_DATA, (uint32_t)(i % 3)); /* refusals allowed, counted */
    evc_bus_close(bus);
    assert_outcomes_exact();
    run_for(100); /* nothing may arrive late for a closed bus */
    assert_outcomes_exact();
    ck_assert_eq(TX.acked + TX.unconfirmed + TX.not_sent, TX.accepted);
}

static void peer_restart_traffic_resumes(void)
{
    if (fx->peer_restart == NULL)
        ck_skip("needs a fixture that can restart the peer (--fixture); an --endpoint alone "
                "cannot be restarted by the tool");
    evc_bus *bus = open_bus("default");
    subscribe_start(bus, "conf-restart");
    warmup(bus);
    evc_transport_guarantees g = guarantees_of(bus);
    publish_data(bus, 50, 2, 200);
    uint64_t want = 50;
    ck_assert(wait_for(cond_data_ge, &want, DELIVERY_DEADLINE_MS), "traffic before restart");

    ck_assert_eq(fx->peer_restart(W.peer), 0, "fixture could not restart the peer");
    int64_t after = (int64_t)TX.next_index; /* first index published after the restart */
    uint64_t deadline = mono_ms() + DELIVERY_DEADLINE_MS;
    while (RX.max_index < after) {
        ck_assert_lt(mono_ms(), deadline, "traffic did not resume within %d ms of the restart",
                     DELIVERY_DEADLINE_MS);
        publish(bus, KIND_DATA, 0);
        wait_for(cond_max_index_ge, &after, 20);
    }
    evc_transport_stats s = stats_of(bus);
    if (g.delivery == EVC_DELIVERY_AT_MOST_ONCE) {
        /* Whatever was lost across the restart was counted. */
        uint64_t span = (uint64_t)(RX.max_index - RX.first_index) + 1;
        ck_assert_eq(RX.total + s.lost, span,
                     "received %" PRIu64 " + lost %" PRIu64 " != %" PRIu64 " published",
                     RX.total, s.lost, span);
    } else {
        /* At-least-once: every accepted data message arrives, restart or not. */
        uint64_t all = TX.data_accepted;
        ck_assert(wait_for(cond_distinct_ge, &all, DELIVERY_DEADLINE_MS),
                  "%" PRIu64 " of %" PRIu64 " accepted messages arrived after the restart",
                  RX.distinct, all);
    }
    ck_assert(wait_for(cond_outcomes_done, NULL, DELIVERY_DEADLINE_MS), "outcomes missing");
    assert_outcomes_exact();
    evc_bus_close(bus);
}

/* Redelivery is what the transport says it is: one that promises it gives a
 * handler that failed the same message again; one that does not never
 * does (a later message arrives, the failed one does not come back). */
static void redelivery_matches_the_guarantee(void)
{
    evc_bus *bus = open_bus("default");
    bool promised = guarantees_of(bus).redelivery;
    subscribe_start(bus, "conf-redeliver");
    warmup(bus);
    RX.fail_first_n = 1;
    ck_assert_eq(publish(bus, KIND_DATA, 0), EVC_OK);
    uint64_t one = 1;
    if (promised) {
        ck_assert(wait_for(cond_distinct_ge, &one, DELIVERY_DEADLINE_MS),
                  "the message refused by its handler was not delivered again");
        ck_assert_eq(RX.fail_first_n, 0, "the handler never saw the message the first time");
    } else {
        uint64_t deadline = mono_ms() + DELIVERY_DEADLINE_MS;
        while (RX.probes == 0) {
            ck_assert_lt(mono_ms(), deadline, "no probe came through");
            publish(bus, KIND_PROBE, 0);
            wait_for(cond_probe, NULL, 20);
        }
        ck_assert_eq(RX.fail_first_n, 0, "the handler never saw the message");
        ck_assert_eq(RX.distinct, 0, "a transport that claims no redelivery redelivered");
    }
    evc_bus_close(bus);
}

#define T(fn, timeout, text) {"transport." #fn, text, world_init, fn, world_fini, timeout}
static const ck_check checks[] = {
    T(lifecycle_ops, 120,
      "ops in every order the core uses: a failed create leaves nothing, stop twice is "
      "harmless, publish after stop is refused, nothing fires after destroy"),
    T(lifecycle_bus_open_close, 120,
      "a bus that fails to open returns none; instances open, work and close one after another"),
    T(config_error_names_file_line_column, 60,
      "an unknown key in the plugin's section is refused with EVC_ECONFIG naming file:line: "
      "and the key"),
    T(round_trip, 120,
      "a message comes back once, with its key, to its topic only; joined, outcomes and "
      "stats agree"),
    T(burst_100k_all_received, 240,
      "a burst of 100,000 messages over 8 keys arrives whole, stats.lost 0, one outcome each"),
    T(loss_matches_the_guarantee, 240,
      "loss is never silent: at-most-once counts each lost message in stats.lost, "
      "at-least-once loses none"),
    T(per_key_order, 240, "messages of one key arrive in the order they were published"),
    T(payload_1mib, 120, "a 1 MiB payload arrives byte for byte"),
    T(backpressure_eagain_without_blocking, 180,
      "a full queue makes publish return EVC_EAGAIN at once (< 200 ms), counted, and it clears"),
    T(flush_with_deadline, 180,
      "flush returns when every outcome is in; with the peer down (if the fixture can) it "
      "gives up with EVC_ETIMEDOUT at its deadline"),
    T(one_outcome_per_publish_across_close, 120,
      "closing with publishes in flight still gives each exactly one outcome, none later"),
    T(peer_restart_traffic_resumes, 180,
      "traffic resumes after the peer restarts; losses are counted (at-most-once) or "
      "redelivered (at-least-once)"),
    T(redelivery_matches_the_guarantee, 120,
      "a message whose handler failed comes again if and only if the guarantees promise "
      "redelivery"),
};
const ck_group ck_transport_checks = {checks, sizeof checks / sizeof checks[0]};
