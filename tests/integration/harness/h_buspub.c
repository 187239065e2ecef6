/* h_buspub.c: publishes raw bytes on a scenario's bus from the test process,
 * through the project's own transport plugin with the scenario's transport
 * settings: a message replayed exactly as a bus that redelivers would hand
 * it over again (same envelope, same id), on ZeroMQ as on Kafka. Compiled
 * only by the suites that use it (it links evc_core). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/proof.h"
#include "evc/seal.h"
#include "harness.h"

static int64_t h_wall_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct replay_wait {
    h_env *env;
    bool (*cond)(h_env *env, void *arg);
    void *arg;
} replay_wait;

static bool replay_done(void *arg)
{
    replay_wait *w = arg;
    return w->cond(w->env, w->arg);
}

/* The bus key of `cp` as its engine derives it from the secret; the test
 * reads the stored hash, which holds the same proof key (evc/proof.h). */
static evc_sealer *cp_sealer(h_env *env, const char *cp)
{
    char sql[256], hash[256];
    snprintf(sql, sizeof sql, "SELECT secret_hash FROM charging_points WHERE id = '%s'", cp);
    cr_assert_not_null(h_db_text(env, sql, hash, sizeof hash), "no CP %s in the database", cp);
    uint8_t k[32], bus_key[32];
    evc_error err = {0};
    cr_assert_eq(evc_proof_split(hash, NULL, k, &err), EVC_OK, "%s: %s", cp, err.msg);
    const char *parts[] = {cp};
    evc_proof_mac(k, "evc-bus-cp-v1", parts, 1, bus_key);
    evc_sealer *s = NULL;
    cr_assert_eq(evc_sealer_new(cp, EVC_SEAL_HMAC_SHA256, bus_key, &s, &err), EVC_OK, "%s",
                 err.msg);
    return s;
}

bool h_bus_publish(h_env *env, const char *topic, const char *key, const char *bytes, size_t len,
                   bool (*until)(h_env *env, void *arg), void *arg, int timeout_ms)
{
    return h_bus_publish_as(env, NULL, topic, key, bytes, len, until, arg, timeout_ms);
}

bool h_bus_publish_as(h_env *env, const char *as_cp, const char *topic, const char *key,
                      const char *bytes, size_t len, bool (*until)(h_env *env, void *arg),
                      void *arg, int timeout_ms)
{
    evc_error err = {0};
    char cfgpath[PATH_MAX + 16], pdir[PATH_MAX];
    /* Central's config holds the scenario's transport section. */
    snprintf(cfgpath, sizeof cfgpath, "%s/central.yaml", env->dir);
    evc_cfg *cfg = NULL;
    cr_assert_eq(evc_cfg_load_file(cfgpath, &cfg, &err), EVC_OK, "%s", err.msg);
    const char *plugin = env->bus_kind == H_ZMQ ? "zmq" : "kafka";
    char section[32];
    snprintf(section, sizeof section, "transport.%s", plugin);
    snprintf(pdir, sizeof pdir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = pdir};
    evc_plugin *tp = NULL;
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, plugin, &search, &tp, NULL, &err), EVC_OK,
                 "%s", err.msg);
    evc_loop *loop = NULL;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = env->bus,
                              .client_id = "h-replay", .group_id = "h-replay",
                              .config = evc_cfg_path(evc_cfg_root(cfg), section)};
    evc_bus *bus = NULL;
    cr_assert_eq(evc_bus_open(loop, tp, &p, &bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    /* A ZeroMQ publisher that just connected drops what it publishes until
     * the proxy's subscriptions reach it: publish again until the effect is
     * seen. Copies are the same envelope (same id), as a redelivery is. */
    replay_wait w = {env, until, arg};
    evc_sealer *sealer = as_cp ? cp_sealer(env, as_cp) : NULL;
    int64_t deadline = h_now_ms() + timeout_ms;
    bool done = false;
    while (!done && h_now_ms() < deadline) {
        char *sealed = NULL;
        size_t slen = 0;
        if (sealer)
            cr_assert_eq(evc_seal(sealer, topic, bytes, len, h_wall_ms(), &sealed, &slen, &err),
                         EVC_OK, "%s", err.msg);
        cr_assert_eq(evc_bus_publish(bus, topic, key, sealed ? sealed : bytes,
                                     sealed ? slen : len, NULL, NULL, &err),
                     EVC_OK, "%s", err.msg);
        free(sealed);
        cr_assert_eq(evc_bus_flush(bus, 10000, &err), EVC_OK, "replay on %s: %s", topic,
                     err.msg);
        evc_loop_run_until(loop, replay_done, &w, 250);
        done = replay_done(&w);
    }
    evc_sealer_free(sealer);
    evc_bus_close(bus);
    evc_loop_free(loop);
    evc_plugin_unload(tp);
    evc_cfg_free(cfg);
    return done;
}
