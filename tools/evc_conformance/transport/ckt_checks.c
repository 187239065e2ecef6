/* ckt_checks.c: the contract every transport plugin meets (group
 * "transport" of evc-conformance).
 *
 * Written against the SDK only: the plugin is loaded with evc_plugin_load and
 * driven through evc_bus and evc_loop, its config assembled as YAML. The
 * plugin's peer (proxy, broker, mock cluster) comes from the fixture
 * (ck.transport): one given with --fixture starts a peer per check on ports
 * the OS chose; without one, every check uses the --endpoint the user gave.
 * Where transports legitimately differ, a check asks the instance for its
 * guarantees and checks what those promise.
 *
 * The runner forks a process per check: each starts from a clean slate.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ck.h"
#include "evc/bus.h"
#include "evc/config.h"
#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#define fx (ck.transport)

/* Deadlines are generous because Kafka consumer groups take seconds to form;
 * a healthy run meets them with a wide margin. */
#define WARMUP_DEADLINE_MS 30000
#define DELIVERY_DEADLINE_MS 45000

/* ---- per-test world ---------------------------------------------------- */

static struct {
    evc_loop *loop;
    evc_plugin *plugin;
    conformance_peer *peer;
    char endpoint[512];
    char section[128]; /* "transport.<plugin>" */
    evc_cfg *cfgs[8];
    size_t ncfgs;
    unsigned group_seq;
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
    ck_assert_eq(evc_loop_new(&W.loop, &err), EVC_OK, "evc_loop_new: %s", err.msg);
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_plugin_search search = {.cli_dir = ck.plugin_dir};
    ck_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, ck.plugin, &search, &W.plugin, &why,
                                 &err),
                 EVC_OK, "loading transport plugin %s: %s", ck.plugin, err.msg);
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


/* ---- config ------------------------------------------------------------ */

#define CONF_FILE "conformance.yaml"

/* Builds the YAML a deployment would write:
 *   transport:
 *     plugin: <p>
 *     endpoint: "<ep>"
 *     <p>:
 *       <the fixture's section for `variant`, then `extra`>
 * and returns the line number the first line of `extra` lands on. */
static unsigned build_yaml(const char *variant, const char *extra, char *out, size_t cap)
{
    const char *section = fx->plugin_yaml(variant);
    if (section == NULL)
        ck_skip("the fixture has no settings for variant \"%s\" of the plugin's section",
                variant);
    size_t n = (size_t)snprintf(out, cap, "transport:\n  plugin: %s\n  endpoint: \"%s\"\n",
                                ck.plugin, W.endpoint);
    unsigned line = 4;
    const char *parts[2] = {section, extra};
    bool header = false;
    for (int p = 0; p < 2; p++) {
        const char *s = parts[p];
        while (s != NULL && *s != '\0') {
            if (!header) {
                n += (size_t)snprintf(out + n, cap - n, "  %s:\n", ck.plugin);
                header = true;
                line = 5;
            }
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            n += (size_t)snprintf(out + n, cap - n, "    %.*s\n", (int)len, s);
            ck_assert_lt(n, cap, "YAML too long");
            if (p == 0)
                line++;
            s += len + (nl ? 1 : 0);
        }
    }
    return header ? line : 5;
}

/* Opens a bus on a fresh instance. Returns the status; *out NULL on failure. */
static int open_bus_extra(const char *variant, const char *extra, evc_bus **out, evc_error *err)
{
    char yaml[8192];
    build_yaml(variant, extra, yaml, sizeof yaml);
    evc_cfg *cfg = NULL;
    ck_assert_eq(evc_cfg_load_string(CONF_FILE, yaml, strlen(yaml), &cfg, err), EVC_OK,
                 "test YAML does not parse: %s\n%s", err->msg, yaml);
    ck_assert_lt(W.ncfgs, sizeof W.cfgs / sizeof W.cfgs[0]);
    W.cfgs[W.ncfgs++] = cfg; /* the instance may keep borrowing it */
    char client[64], group[96];
    snprintf(client, sizeof client, "conformance-%d", (int)getpid());
    snprintf(group, sizeof group, "conformance-%d-%u-%" PRIu64, (int)getpid(), ++W.group_seq,
             mono_ms());
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = W.endpoint,
        .client_id = client,
        .group_id = group,
        .config = evc_cfg_path(evc_cfg_root(cfg), W.section),
    };
    *out = NULL;
    return evc_bus_open(W.loop, W.plugin, &params, out, err);
}

static evc_bus *open_bus(const char *variant)
{
    evc_error err = {0};
    evc_bus *bus = NULL;
    int rc = open_bus_extra(variant, NULL, &bus, &err);
    ck_assert_eq(rc, EVC_OK, "evc_bus_open (variant %s): %s", variant, err.msg);
    return bus;
}

static evc_transport_guarantees guarantees_of(evc_bus *bus)
{
    evc_transport_guarantees g = {.struct_size = sizeof g};
    evc_bus_guarantees(bus, &g);
    return g;
}

static evc_transport_stats stats_of(evc_bus *bus)
{
    evc_transport_stats s = {.struct_size = sizeof s};
    evc_bus_stats(bus, &s);
    return s;
}

/* ---- traffic: what is sent and what came back --------------------------- */

enum { KIND_WARMUP = 1, KIND_DATA = 2, KIND_PROBE = 3 };
#define TMSG_MAGIC 0x45564354u /* "EVCT" */
#define MAX_KEYS 8

typedef struct tmsg {
    uint32_t magic;
    uint32_t kind;
    uint64_t index;  /* position among accepted publishes on the test topic */
    uint32_t keyno;
    uint32_t pad;
    uint64_t keyseq; /* position among accepted publishes of this key */
} tmsg;

/* One entry per publish attempt: was it accepted, how many outcomes came. */
typedef struct attempt {
    uint8_t accepted;
    uint8_t outcomes;
} attempt;

static struct {
    const char *topic;
    uint64_t next_index;
    uint64_t keyseq[MAX_KEYS];
    attempt *att;
    size_t natt, capatt;
    uint64_t accepted, refused;
    uint64_t data_accepted; /* accepted KIND_DATA publishes */
    uint64_t acked, unconfirmed, not_sent;
} TX;

static struct {
    uint64_t total;             /* every message on the test topic */
    uint64_t warmups, data, probes;
    int64_t first_index;        /* index of the first message received, -1 */
    int64_t max_index;
    uint8_t *seen;              /* data indices seen (distinct count below) */
    size_t capseen;
    uint64_t distinct, dupes;
    int64_t key_max[MAX_KEYS];
    uint64_t order_errors;
    uint64_t foreign;           /* messages on another topic reaching the handler */
    uint64_t malformed;
    const void *expect_payload; /* the 1 MiB test compares whole payloads */
    size_t expect_len;
    uint64_t payload_matches;
    char last_key[64];
    int32_t last_partition;
    int64_t last_offset;
    int fail_first_n;           /* redelivery test: fail this many first sights */
} RX;

static void traffic_reset(const char *topic)
{
    free(TX.att);
    free(RX.seen);
    memset(&TX, 0, sizeof TX);
    memset(&RX, 0, sizeof RX);
    TX.topic = topic;
    RX.first_index = -1;
    RX.max_index = -1;
    for (int k = 0; k < MAX_KEYS; k++)
        RX.key_max[k] = -1;
}

static void on_outcome(void *arg, evc_outcome_status status, const char *detail)
{
    size_t i = (size_t)(uintptr_t)arg;
    ck_assert_lt(i, TX.natt, "outcome for an unknown publish");
    TX.att[i].outcomes++;
    if (status == EVC_OUTCOME_ACKED)
        TX.acked++;
    else if (status == EVC_OUTCOME_SENT_UNCONFIRMED)
        TX.unconfirmed++;
    else if (status == EVC_OUTCOME_NOT_SENT)
        TX.not_sent++;
    else
        ck_assert_fail("outcome with an unknown status %d", (int)status);
}

static void mark_seen(uint64_t index)
{
    if (index >= RX.capseen) {
        size_t ncap = RX.capseen ? RX.capseen : 1024;
        while (ncap <= index)
            ncap *= 2;
        RX.seen = realloc(RX.seen, ncap);
        ck_assert_not_null(RX.seen);
        memset(RX.seen + RX.capseen, 0, ncap - RX.capseen);
        RX.capseen = ncap;
    }
    if (RX.seen[index]) {
        RX.dupes++;
    } else {
        RX.seen[index] = 1;
        RX.distinct++;
    }
}

static int on_message(void *arg, const evc_message *m)
{
    if (strcmp(m->topic, TX.topic) != 0) {
        RX.foreign++;
        return EVC_OK;
    }
    tmsg h;
    if (m->payload_len < sizeof h) {
        RX.malformed++;
        return EVC_OK;
    }
    memcpy(&h, m->payload, sizeof h);
    if (h.magic != TMSG_MAGIC) {
        RX.malformed++;
        return EVC_OK;
    }
    if (RX.fail_first_n > 0 && h.kind == KIND_DATA && !(h.index < RX.capseen && RX.seen[h.index])) {
        /* First sight of this message: refuse it once, expect it again. */
        RX.fail_first_n--;
        mark_seen(h.index);
        RX.distinct--; /* counted when it comes back */
        RX.seen[h.index] = 2;
        return EVC_EIO;
    }
    RX.total++;
    if (RX.first_index < 0)
        RX.first_index = (int64_t)h.index;
    if ((int64_t)h.index > RX.max_index)
        RX.max_index = (int64_t)h.index;
    if (h.kind == KIND_WARMUP) {
        RX.warmups++;
    } else if (h.kind == KIND_PROBE) {
        RX.probes++;
    } else if (h.kind == KIND_DATA) {
        RX.data++;
        /* Only data: other kinds may use other keys, hence other partitions,
         * and arrive in any order relative to the data. */
        snprintf(RX.last_key, sizeof RX.last_key, "%s", m->key);
        RX.last_partition = m->partition;
        RX.last_offset = m->offset;
        if (h.index < RX.capseen && RX.seen[h.index] == 2) {
            RX.seen[h.index] = 1; /* the redelivery of a refused message */
            RX.distinct++;
        } else {
            mark_seen(h.index);
        }
        if (h.keyno < MAX_KEYS) {
            int64_t ks = (int64_t)h.keyseq;
            if (ks > RX.key_max[h.keyno]) {
                if (ks != RX.key_max[h.keyno] + 1 && RX.key_max[h.keyno] >= 0)
                    RX.order_errors++; /* skipped ahead: reordered (or lost) */
                RX.key_max[h.keyno] = ks;
            }
        }
        if (RX.expect_payload != NULL && m->payload_len == RX.expect_len &&
            memcmp(m->payload, RX.expect_payload, RX.expect_len) == 0)
            RX.payload_matches++;
    }
    return EVC_OK;
}

/* Publishes one test message on TX.topic; returns the bus status. Anything
 * but EVC_OK and EVC_EAGAIN fails the test. */
static int publish_sized(evc_bus *bus, uint32_t kind, uint32_t keyno, const void *body,
                         size_t size)
{
    static unsigned char buf[4096];
    const void *payload = body;
    tmsg h = {.magic = TMSG_MAGIC, .kind = kind, .index = TX.next_index, .keyno = keyno,
              .keyseq = TX.keyseq[keyno % MAX_KEYS]};
    if (body == NULL) {
        ck_assert_leq(size, sizeof buf);
        if (size < sizeof h)
            size = sizeof h;
        memset(buf, 'x', size);
        memcpy(buf, &h, sizeof h);
        payload = buf;
    } else {
        memcpy((void *)body, &h, sizeof h); /* caller's buffer carries the header */
    }
    if (TX.natt == TX.capatt) {
        TX.capatt = TX.capatt ? TX.capatt * 2 : 4096;
        TX.att = realloc(TX.att, TX.capatt * sizeof *TX.att);
        ck_assert_not_null(TX.att);
    }
    size_t a = TX.natt++;
    TX.att[a] = (attempt){0, 0};
    char key[32];
    snprintf(key, sizeof key, "CP_%03u", keyno);
    evc_error err = {0};
    int rc = evc_bus_publish(bus, TX.topic, key, payload, size, on_outcome, (void *)(uintptr_t)a,
                             &err);
    if (rc == EVC_OK) {
        TX.att[a].accepted = 1;
        TX.accepted++;
        TX.next_index++;
        if (kind == KIND_DATA) {
            TX.keyseq[keyno % MAX_KEYS]++;
            TX.data_accepted++;
        }
    } else if (rc == EVC_EAGAIN) {
        TX.refused++;
        ck_assert(err.msg[0] != '\0', "EVC_EAGAIN without a message");
    } else {
        ck_assert_fail("publish on %s: %s (%s)", TX.topic, evc_status_name(rc), err.msg);
    }
    return rc;
}

static int publish(evc_bus *bus, uint32_t kind, uint32_t keyno)
{
    return publish_sized(bus, kind, keyno, NULL, 200);
}

/* ---- waiting ------------------------------------------------------------ */

static bool cond_never(void *arg) { return false; }
static bool cond_total_ge(void *arg) { return RX.total >= *(const uint64_t *)arg; }
static bool cond_data_ge(void *arg) { return RX.data >= *(const uint64_t *)arg; }
static bool cond_distinct_ge(void *arg) { return RX.distinct >= *(const uint64_t *)arg; }
static bool cond_max_index_ge(void *arg) { return RX.max_index >= *(const int64_t *)arg; }
static bool cond_probe(void *arg) { return RX.probes > 0; }

static void run_for(uint64_t ms) { evc_loop_run_until(W.loop, cond_never, NULL, ms); }

static bool wait_for(evc_cond_fn cond, void *arg, uint64_t ms)
{
    return evc_loop_run_until(W.loop, cond, arg, ms) == EVC_OK;
}

static void subscribe_start(evc_bus *bus, const char *topic)
{
    evc_error err = {0};
    traffic_reset(topic);
    ck_assert_eq(evc_bus_subscribe(bus, topic, on_message, NULL, &err), EVC_OK,
                 "subscribe %s: %s", topic, err.msg);
    ck_assert_eq(evc_bus_start(bus, &err), EVC_OK, "start: %s", err.msg);
}

/* Subscriptions take effect asynchronously (ZeroMQ's slow joiner, Kafka's
 * group join): publish probes until one comes back, so that what the test
 * publishes next has somewhere to go. */
static void warmup(evc_bus *bus)
{
    uint64_t deadline = mono_ms() + WARMUP_DEADLINE_MS;
    uint64_t one = 1;
    while (RX.total == 0) {
        ck_assert_lt(mono_ms(), deadline, "no message came back within %d ms on %s",
                     WARMUP_DEADLINE_MS, TX.topic);
        publish(bus, KIND_WARMUP, 0);
        wait_for(cond_total_ge, &one, 50);
    }
}

/* Every accepted publish has exactly one outcome, every refused one none. */
static void assert_outcomes_exact(void)
{
    for (size_t i = 0; i < TX.natt; i++) {
        if (TX.att[i].accepted)
            ck_assert_eq(TX.att[i].outcomes, 1, "publish #%zu: %u outcomes, expected exactly 1",
                         i, TX.att[i].outcomes);
        else
            ck_assert_eq(TX.att[i].outcomes, 0,
                         "publish #%zu was refused yet got %u outcome(s)", i,
                         TX.att[i].outcomes);
    }
}

static bool cond_outcomes_done(void *arg)
{
    return TX.acked + TX.unconfirmed + TX.not_sent >= TX.accepted;
}

/* Publishes `n` data messages round-robin over `keys` keys, riding out
 * back-pressure by letting the loop run. */
static void publish_data(evc_bus *bus, uint64_t n, uint32_t keys, size_t size)
{
    uint64_t deadline = mono_ms() + DELIVERY_DEADLINE_MS;
    for (uint64_t i = 0; i < n;) {
        if (publish_sized(bus, KIND_DATA, (uint32_t)(i % keys), NULL, size) == EVC_OK) {
            i++;
        } else {
            ck_assert_lt(mono_ms(), deadline, "publish stayed back-pressured for %d ms",
                         DELIVERY_DEADLINE_MS);
            run_for(1);
        }
    }
}

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
      "flush returns when every outcome is in; with the peer down it gives up with "
      "EVC_ETIMEDOUT at its deadline"),
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
