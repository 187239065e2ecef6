/* ckt_keys.c: subscriptions by key (evc_bus_subscribe_keys), group
 * "transport_keys" of evc-conformance, with the same fixture as ckt_checks.c.
 *
 * What a user checks: a subscriber for key A does not receive key B; the
 * broadcast key reaches every subscriber; a subscriber without keys gets
 * everything, as before. And where the messages were filtered: a plugin with
 * the subscribe_keys op (ZeroMQ) must filter upstream -- nothing of another
 * key reaches the process (stats.received counts only what the handlers
 * got); a plugin without it (Kafka: a consumer reads whole partitions) hands
 * everything over and the bus drops foreign keys (evc_bus_foreign).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"
#include "ck.h"

#define fx (ck.transport)

#define DEADLINE_MS 45000 /* Kafka groups take seconds to form */
#define ROUNDS 50
/* One topic per check: against a shared peer (--endpoint) the checks run in
 * one cluster, and Kafka consumers of new groups read from the earliest. */
static const char *TOPIC = "conf-keys";

static struct {
    evc_loop *loop;
    evc_plugin *plugin;
    conformance_peer *peer;
    char endpoint[512];
    char section[128]; /* "transport.<plugin>" */
    evc_cfg *cfgs[8];
    size_t ncfgs;
    unsigned seq;
} W;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void world_init(void)
{
    memset(&W, 0, sizeof W);
    evc_error err = {0};
    ck_assert_eq(evc_loop_new(&W.loop, &err), EVC_OK, "%s", err.msg);
    evc_plugin_search search = {.cli_dir = ck.plugin_dir};
    ck_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, ck.plugin, &search, &W.plugin, NULL,
                                 &err),
                 EVC_OK, "loading %s: %s", ck.plugin, err.msg);
    snprintf(W.section, sizeof W.section, "transport.%s", ck.plugin);
    ck_assert_eq(fx->peer_start(&W.peer, 1, W.endpoint, sizeof W.endpoint), 0,
                 "fixture could not start the %s peer", fx->plugin);
}

static void world_fini(void)
{
    fx->peer_stop(W.peer);
    for (size_t i = 0; i < W.ncfgs; i++)
        evc_cfg_free(W.cfgs[i]);
    evc_plugin_unload(W.plugin);
    evc_loop_free(W.loop);
}


/* A bus on a fresh instance and consumer group, with the fixture's default
 * section (transport.<plugin>). */
static evc_bus *open_bus(void)
{
    char yaml[4096];
    size_t n = (size_t)snprintf(yaml, sizeof yaml, "transport:\n  plugin: %s\n  endpoint: \"%s\"\n",
                                ck.plugin, W.endpoint);
    const char *s = fx->plugin_yaml("default");
    if (s == NULL)
        ck_skip("the fixture has no default settings for the plugin's section");
    if (s && *s) {
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "  %s:\n", ck.plugin);
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    %.*s\n", (int)len, s);
            s += len + (nl ? 1 : 0);
        }
    }
    ck_assert_lt(n, sizeof yaml);
    evc_error err = {0};
    evc_cfg *cfg = NULL;
    ck_assert_eq(evc_cfg_load_string("keys.yaml", yaml, strlen(yaml), &cfg, &err), EVC_OK, "%s",
                 err.msg);
    W.cfgs[W.ncfgs++] = cfg;
    char client[64], group[96];
    snprintf(client, sizeof client, "conf-keys-%d", (int)getpid());
    snprintf(group, sizeof group, "conf-keys-%d-%u-%" PRIu64, (int)getpid(), ++W.seq, mono_ms());
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = W.endpoint,
        .client_id = client,
        .group_id = group,
        .config = evc_cfg_path(evc_cfg_root(cfg), W.section),
    };
    evc_bus *bus = NULL;
    ck_assert_eq(evc_bus_open(W.loop, W.plugin, &params, &bus, &err), EVC_OK, "%s", err.msg);
    return bus;
}

/* ---- receivers ----------------------------------------------------------- */

static const char *const KEYS[] = {"A", "B", "C", "central"};
enum { KA, KB, KC, KCENTRAL, NKEYS };

typedef struct rx {
    unsigned data[NKEYS]; /* data messages per key */
    unsigned warm, end;   /* warm-up probes and end markers seen */
    unsigned other;       /* anything unexpected */
} rx;

static int on_msg(void *arg, const evc_message *m)
{
    rx *r = arg;
    if (m->payload_len == 4 && memcmp(m->payload, "warm", 4) == 0) {
        r->warm++;
        return EVC_OK;
    }
    if (m->payload_len == 3 && memcmp(m->payload, "end", 3) == 0) {
        r->end++;
        return EVC_OK;
    }
    for (int k = 0; k < NKEYS; k++) {
        if (strcmp(m->key, KEYS[k]) == 0 && m->payload_len == 4 &&
            memcmp(m->payload, "data", 4) == 0) {
            r->data[k]++;
            return EVC_OK;
        }
    }
    r->other++;
    return EVC_OK;
}

static void pub(evc_bus *bus, const char *key, const char *text)
{
    evc_error err = {0};
    ck_assert_eq(evc_bus_publish(bus, TOPIC, key, text, strlen(text), NULL, NULL, &err), EVC_OK,
                 "%s", err.msg);
}

typedef struct want {
    rx **r;
    size_t n;
    unsigned warm, end;
    unsigned data_of[3]; /* per receiver: data messages expected at least */
} want;

static bool reached(void *arg)
{
    const want *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        const rx *r = w->r[i];
        unsigned d = r->data[KA] + r->data[KB] + r->data[KC] + r->data[KCENTRAL];
        if (r->warm < w->warm || r->end < w->end || d < w->data_of[i])
            return false;
    }
    return true;
}

static bool upstream_filtering(void)
{
    const evc_transport_ops *ops = evc_plugin_descriptor_of(W.plugin)->ops;
    return EVC_HAS_FIELD(ops, subscribe_keys);
}

static uint64_t received(evc_bus *b)
{
    evc_transport_stats s = {.struct_size = sizeof s};
    evc_bus_stats(b, &s);
    return s.received;
}

static void a_key_subscriber_gets_its_keys_and_the_broadcast_only(void)
{
    evc_bus *tx = open_bus(), *ba = open_bus(), *bb = open_bus(), *ball = open_bus();
    rx ra = {0}, rb = {0}, rall = {0};
    const char *const ka[] = {"A", "central"}, *const kb[] = {"B", "central"};
    evc_error err = {0};
    ck_assert_eq(evc_bus_subscribe_keys(ba, TOPIC, ka, 2, on_msg, &ra, &err), EVC_OK, "%s",
                 err.msg);
    ck_assert_eq(evc_bus_subscribe_keys(bb, TOPIC, kb, 2, on_msg, &rb, &err), EVC_OK, "%s",
                 err.msg);
    ck_assert_eq(evc_bus_subscribe(ball, TOPIC, on_msg, &rall, &err), EVC_OK, "%s", err.msg);
    evc_bus *all[] = {tx, ba, bb, ball};
    for (int i = 0; i < 4; i++)
        ck_assert_eq(evc_bus_start(all[i], &err), EVC_OK, "%s", err.msg);

    /* Subscriptions take effect asynchronously: probe on the broadcast key
     * until every receiver has one (a receiver's keys are asked together, so
     * its own key is in place too). */
    rx *rs[] = {&ra, &rb, &rall};
    want w = {.r = rs, .n = 3, .warm = 1};
    uint64_t deadline = mono_ms() + DEADLINE_MS;
    while (!reached(&w)) {
        ck_assert_lt(mono_ms(), deadline, "warm-up: probes came back to %u/%u/%u receivers",
                     ra.warm, rb.warm, rall.warm);
        pub(tx, "central", "warm");
        evc_loop_run_until(W.loop, reached, &w, 50);
    }
    uint64_t rx0[] = {received(ba), received(bb), received(ball)};
    uint64_t f0[] = {evc_bus_foreign(ba), evc_bus_foreign(bb), evc_bus_foreign(ball)};
    unsigned warm[] = {ra.warm, rb.warm, rall.warm};

    for (int i = 0; i < ROUNDS; i++)
        for (int k = 0; k < NKEYS; k++)
            pub(tx, KEYS[k], "data");
    pub(tx, "central", "end");
    want done = {.r = rs, .n = 3, .end = 1, .data_of = {2 * ROUNDS, 2 * ROUNDS, 4 * ROUNDS}};
    ck_assert_eq(evc_loop_run_until(W.loop, reached, &done, DEADLINE_MS), EVC_OK,
                 "not everything arrived: A %u+%u, B %u+%u, all %u+%u+%u+%u", ra.data[KA],
                 ra.data[KCENTRAL], rb.data[KB], rb.data[KCENTRAL], rall.data[KA],
                 rall.data[KB], rall.data[KC], rall.data[KCENTRAL]);
    /* Late stragglers of the warm-up may still come; anything foreign too. */
    evc_loop_run_until(W.loop, reached, &(want){.r = rs, .n = 3, .end = 99}, 300);

    ck_assert_eq(ra.data[KA], ROUNDS);
    ck_assert_eq(ra.data[KCENTRAL], ROUNDS, "the broadcast key missed subscriber A");
    ck_assert_eq(ra.data[KB] + ra.data[KC], 0, "subscriber A got %u of B and %u of C",
                 ra.data[KB], ra.data[KC]);
    ck_assert_eq(rb.data[KB], ROUNDS);
    ck_assert_eq(rb.data[KCENTRAL], ROUNDS, "the broadcast key missed subscriber B");
    ck_assert_eq(rb.data[KA] + rb.data[KC], 0, "subscriber B got %u of A and %u of C",
                 rb.data[KA], rb.data[KC]);
    for (int k = 0; k < NKEYS; k++)
        ck_assert_eq(rall.data[k], ROUNDS, "the subscriber without keys got %u of key %s",
                     rall.data[k], KEYS[k]);
    ck_assert_eq(ra.other + rb.other + rall.other, 0);

    /* Where the filtering happened. */
    evc_bus *rb_[] = {ba, bb, ball};
    rx *rr[] = {&ra, &rb, &rall};
    for (int i = 0; i < 3; i++) {
        uint64_t got = rr[i]->data[KA] + rr[i]->data[KB] + rr[i]->data[KC] +
                       rr[i]->data[KCENTRAL] + rr[i]->end + (rr[i]->warm - warm[i]);
        uint64_t crossed = received(rb_[i]) - rx0[i];
        uint64_t dropped = evc_bus_foreign(rb_[i]) - f0[i];
        ck_assert_eq(crossed, got + dropped, "receiver %d: %" PRIu64 " received, %" PRIu64
                     " handled, %" PRIu64 " dropped by key", i, crossed, got, dropped);
        if (i == 2 || upstream_filtering())
            ck_assert_eq(dropped, 0, "receiver %d: %" PRIu64 " foreign messages reached the "
                         "process (the transport filters upstream)", i, dropped);
        else
            ck_assert_eq(dropped, 2 * ROUNDS, "receiver %d: the bus dropped %" PRIu64
                         " foreign messages, expected %d", i, dropped, 2 * ROUNDS);
    }
    for (int i = 0; i < 4; i++)
        evc_bus_close(all[i]);
}

static int count(void *arg, const evc_message *m)
{
    if (m->payload_len == 4 && memcmp(m->payload, "data", 4) == 0)
        (*(unsigned *)arg)++;
    return EVC_OK;
}

static bool got_one(void *arg) { return *(unsigned *)arg > 0; }

static void a_handler_without_keys_widens_the_subscription(void)
{
    TOPIC = "conf-keys-wide";
    evc_bus *tx = open_bus(), *b = open_bus();
    rx r = {0};
    unsigned wide = 0;
    const char *const ka[] = {"A"};
    evc_error err = {0};
    ck_assert_eq(evc_bus_subscribe_keys(b, TOPIC, ka, 1, on_msg, &r, &err), EVC_OK, "%s",
                 err.msg);
    ck_assert_eq(evc_bus_start(tx, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_bus_start(b, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_bus_subscribe(b, TOPIC, count, &wide, &err), EVC_OK, "%s", err.msg);
    uint64_t deadline = mono_ms() + DEADLINE_MS;
    while (wide == 0) {
        ck_assert_lt(mono_ms(), deadline, "key B never reached the handler without keys");
        pub(tx, "B", "data");
        evc_loop_run_until(W.loop, got_one, &wide, 50);
    }
    ck_assert_eq(r.data[KB], 0, "the handler for key A got key B");
    evc_bus_close(tx);
    evc_bus_close(b);
}

#define T(fn, text) {"transport_keys." #fn, text, world_init, fn, world_fini, 180}
static const ck_check checks[] = {
    T(a_key_subscriber_gets_its_keys_and_the_broadcast_only,
      "a subscriber by key gets its keys and the broadcast key only, filtered upstream if the "
      "plugin has subscribe_keys; one without keys gets all"),
    T(a_handler_without_keys_widens_the_subscription,
      "adding a handler without keys on a started bus widens the subscription to every key"),
};
const ck_group ck_transport_keys_checks = {checks, sizeof checks / sizeof checks[0]};
