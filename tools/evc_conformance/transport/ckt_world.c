/* ckt_world.c: see ckt.h. The transport checks of evc-conformance (group
 * "transport", ckt_checks.c) run in this world.
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

#include "ckt.h"
#include "evc/host.h"

/* ---- per-test world ---------------------------------------------------- */

ckt_world W;

uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void world_init(void)
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

void world_fini(void)
{
    fx->peer_stop(W.peer);
    for (size_t i = 0; i < W.ncfgs; i++)
        evc_cfg_free(W.cfgs[i]);
    evc_plugin_unload(W.plugin);
    evc_loop_free(W.loop);
}


/* ---- config ------------------------------------------------------------ */


/* Builds the YAML a deployment would write:
 *   transport:
 *     plugin: <p>
 *     endpoint: "<ep>"
 *     <p>:
 *       <the fixture's section for `variant`, then `extra`>
 * and returns the line number the first line of `extra` lands on. */
unsigned build_yaml(const char *variant, const char *extra, char *out, size_t cap)
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
int open_bus_extra(const char *variant, const char *extra, evc_bus **out, evc_error *err)
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

evc_bus *open_bus(const char *variant)
{
    evc_error err = {0};
    evc_bus *bus = NULL;
    int rc = open_bus_extra(variant, NULL, &bus, &err);
    ck_assert_eq(rc, EVC_OK, "evc_bus_open (variant %s): %s", variant, err.msg);
    return bus;
}

evc_transport_guarantees guarantees_of(evc_bus *bus)
{
    evc_transport_guarantees g = {.struct_size = sizeof g};
    evc_bus_guarantees(bus, &g);
    return g;
}

evc_transport_stats stats_of(evc_bus *bus)
{
    evc_transport_stats s = {.struct_size = sizeof s};
    evc_bus_stats(bus, &s);
    return s;
}

/* ---- traffic: what is sent and what came back --------------------------- */


ckt_tx TX;

ckt_rx RX;

void traffic_reset(const char *topic)
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

void on_outcome(void *arg, evc_outcome_status status, const char *detail)
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

void mark_seen(uint64_t index)
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

int on_message(void *arg, const evc_message *m)
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
int publish_sized(evc_bus *bus, uint32_t kind, uint32_t keyno, const void *body,
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

int publish(evc_bus *bus, uint32_t kind, uint32_t keyno)
{
    return publish_sized(bus, kind, keyno, NULL, 200);
}

/* ---- waiting ------------------------------------------------------------ */

bool cond_never(void *arg) { return false; }
bool cond_total_ge(void *arg) { return RX.total >= *(const uint64_t *)arg; }
bool cond_data_ge(void *arg) { return RX.data >= *(const uint64_t *)arg; }
bool cond_distinct_ge(void *arg) { return RX.distinct >= *(const uint64_t *)arg; }
bool cond_max_index_ge(void *arg) { return RX.max_index >= *(const int64_t *)arg; }
bool cond_probe(void *arg) { return RX.probes > 0; }

void run_for(uint64_t ms) { evc_loop_run_until(W.loop, cond_never, NULL, ms); }

bool wait_for(evc_cond_fn cond, void *arg, uint64_t ms)
{
    return evc_loop_run_until(W.loop, cond, arg, ms) == EVC_OK;
}

void subscribe_start(evc_bus *bus, const char *topic)
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
void warmup(evc_bus *bus)
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
void assert_outcomes_exact(void)
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

bool cond_outcomes_done(void *arg)
{
    return TX.acked + TX.unconfirmed + TX.not_sent >= TX.accepted;
}

/* Publishes `n` data messages round-robin over `keys` keys, riding out
 * back-pressure by letting the loop run. */
void publish_data(evc_bus *bus, uint64_t n, uint32_t keys, size_t size)
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
