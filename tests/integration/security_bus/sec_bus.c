/* sec_bus.c: the attack suite's publisher, raw bus reader and Central's
 * counters (sec_bus.h). The publisher is h_buspub.c's, kept open across
 * messages: a flood needs one connection, not one per message. */
#include "sec_bus.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/proc.h"
#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/proof.h"
#include "evc/seal.h"
#include "evc/uuid.h"

#define SB_MAX_SEALERS 4

struct sb_pub {
    h_env *env;
    evc_cfg *cfg;
    evc_plugin *tp;
    evc_loop *loop;
    evc_bus *bus;
    evc_sealer *sealers[SB_MAX_SEALERS]; /* one per CP posed as, owned */
    size_t nsealers;
};

int64_t sb_wall_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sb_uuid(char out[37])
{
    evc_error err = {0};
    cr_assert_eq(evc_uuid_generate(out, &err), EVC_OK, "uuid: %s", err.msg);
}

const char *sb_envelope(char *buf, size_t cap, const char *type, const char *corr,
                        const char *source, const char *payload)
{
    char id[37], c[48];
    sb_uuid(id);
    if (corr)
        snprintf(c, sizeof c, "\"%s\"", corr);
    else
        snprintf(c, sizeof c, "null");
    int n = snprintf(buf, cap,
                     "{\"type\":\"%s\",\"id\":\"%s\",\"correlation_id\":%s,\"ts\":%lld,"
                     "\"source\":\"%s\",\"payload\":%s}",
                     type, id, c, (long long)sb_wall_ms(), source, payload);
    cr_assert(n > 0 && (size_t)n < cap, "envelope %s too long", type);
    return buf;
}

sb_pub *sb_pub_open(h_env *env)
{
    sb_pub *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->env = env;
    evc_error err = {0};
    char cfgpath[PATH_MAX + 16], pdir[PATH_MAX], section[32];
    snprintf(cfgpath, sizeof cfgpath, "%s/central.yaml", env->dir);
    cr_assert_eq(evc_cfg_load_file(cfgpath, &p->cfg, &err), EVC_OK, "%s", err.msg);
    const char *plugin = env->bus_kind == H_ZMQ ? "zmq" : "kafka";
    snprintf(section, sizeof section, "transport.%s", plugin);
    snprintf(pdir, sizeof pdir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = pdir};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, plugin, &search, &p->tp, NULL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_new(&p->loop, &err), EVC_OK, "%s", err.msg);
    evc_transport_params tp = {.struct_size = sizeof tp, .endpoint = env->bus,
                               .client_id = "sb-attacker", .group_id = "sb-attacker",
                               .config = evc_cfg_path(evc_cfg_root(p->cfg), section)};
    cr_assert_eq(evc_bus_open(p->loop, p->tp, &tp, &p->bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(p->bus, &err), EVC_OK, "%s", err.msg);
    return p;
}

void sb_pub_close(sb_pub *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsealers; i++)
        evc_sealer_free(p->sealers[i]);
    evc_bus_close(p->bus);
    evc_loop_free(p->loop);
    evc_plugin_unload(p->tp);
    evc_cfg_free(p->cfg);
    free(p);
}

/* The bus key of `cp` as its engine derives it from the secret: the stored
 * argon2id string holds the same proof key (evc/proof.h). */
static evc_sealer *sealer_of(sb_pub *p, const char *cp)
{
    for (size_t i = 0; i < p->nsealers; i++)
        if (strcmp(evc_sealer_kid(p->sealers[i]), cp) == 0)
            return p->sealers[i];
    cr_assert_lt(p->nsealers, SB_MAX_SEALERS);
    char sql[256], hash[256];
    snprintf(sql, sizeof sql, "SELECT secret_hash FROM charging_points WHERE id = '%s'", cp);
    cr_assert(h_db_text(p->env, sql, hash, sizeof hash)[0], "no CP %s in the database", cp);
    uint8_t k[32], bus_key[32];
    evc_error err = {0};
    cr_assert_eq(evc_proof_split(hash, NULL, k, &err), EVC_OK, "%s: %s", cp, err.msg);
    const char *parts[] = {cp};
    evc_proof_mac(k, "evc-bus-cp-v1", parts, 1, bus_key);
    evc_sealer *s = NULL;
    cr_assert_eq(evc_sealer_new(cp, EVC_SEAL_HMAC_SHA256, bus_key, &s, &err), EVC_OK, "%s",
                 err.msg);
    p->sealers[p->nsealers++] = s;
    return s;
}

static bool sb_never(void *arg)
{
    (void)arg;
    return false;
}

bool sb_pub_send(sb_pub *p, const char *as_cp, const char *topic, const char *key,
                 const char *bytes)
{
    evc_error err = {0};
    char *sealed = NULL;
    size_t len = strlen(bytes);
    if (as_cp)
        cr_assert_eq(evc_seal(sealer_of(p, as_cp), topic, bytes, len, sb_wall_ms(), &sealed,
                              &len, &err),
                     EVC_OK, "%s", err.msg);
    int rc = evc_bus_publish(p->bus, topic, key, sealed ? sealed : bytes, len, NULL, NULL, &err);
    free(sealed);
    if (rc == EVC_OK)
        return true;
    /* A full queue: let the transport drain before the next one. */
    evc_loop_run_until(p->loop, sb_never, NULL, 1);
    return false;
}

void sb_pub_flush(sb_pub *p, int timeout_ms)
{
    evc_error err = {0};
    if (evc_bus_flush(p->bus, (uint64_t)timeout_ms, &err) != EVC_OK)
        fprintf(stderr, "sec_bus: flush: %s\n", err.msg);
}

void sb_pub_pump(sb_pub *p, int ms)
{
    evc_loop_run_until(p->loop, sb_never, NULL, (uint64_t)ms);
}

typedef struct sb_wait {
    h_env *env;
    bool (*cond)(h_env *env, void *arg);
    void *arg;
} sb_wait;

static bool sb_wait_done(void *arg)
{
    sb_wait *w = arg;
    return w->cond(w->env, w->arg);
}

bool sb_pub_until(sb_pub *p, const sb_msg *msgs, size_t n, bool (*until)(h_env *env, void *arg),
                  void *arg, int timeout_ms)
{
    sb_wait w = {p->env, until, arg};
    int64_t deadline = h_now_ms() + timeout_ms;
    while (h_now_ms() < deadline) {
        for (size_t i = 0; i < n; i++)
            sb_pub_send(p, msgs[i].as_cp, msgs[i].topic, msgs[i].key, msgs[i].bytes);
        sb_pub_flush(p, 10000);
        evc_loop_run_until(p->loop, sb_wait_done, &w, 250);
        if (sb_wait_done(&w))
            return true;
    }
    return false;
}

/* ---- raw bus ---------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    cr_assert_not_null(buf);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static char *kcat_topic(h_env *env, const char *topic)
{
    char *argv[] = {"/usr/bin/kcat", "-C", "-b", env->bus, "-t", (char *)topic, "-e", "-u", "-q",
                    "-f", "%t\t%k\t%s\n", NULL};
    proc_result r;
    cr_assert_eq(proc_run(argv, NULL, 30000, &r), 0, "kcat: %s", r.err);
    cr_assert_eq(r.exit_code, 0, "kcat -t %s: exit %d: %s", topic, r.exit_code, r.err);
    char *out = r.out;
    r.out = NULL;
    proc_result_free(&r);
    return out ? out : strdup("");
}

char *sb_raw_bus(h_env *env, const char *topic)
{
    if (env->bus_kind == H_ZMQ) {
        char *all = slurp(env->tap_file);
        if (!topic)
            return all;
        /* Keep the lines of `topic` only. */
        size_t tl = strlen(topic), o = 0;
        char *out = malloc(strlen(all) + 1);
        cr_assert_not_null(out);
        for (char *s = all, *nl; *s; s = nl + 1) {
            nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) : strlen(s);
            if (len > tl && strncmp(s, topic, tl) == 0 && s[tl] == '\t') {
                memcpy(out + o, s, len);
                o += len;
                out[o++] = '\n';
            }
            if (!nl)
                break;
        }
        out[o] = '\0';
        free(all);
        return out;
    }
    if (topic)
        return kcat_topic(env, topic);
    /* Every topic of the cluster but Kafka's own (consumer offsets). */
    char *argv[] = {"/usr/bin/kcat", "-L", "-b", env->bus, NULL};
    proc_result r;
    cr_assert_eq(proc_run(argv, NULL, 30000, &r), 0, "kcat -L: %s", r.err);
    size_t cap = 1, len = 0;
    char *all = calloc(1, cap);
    for (char *s = r.out; s && (s = strstr(s, "topic \"")) != NULL;) {
        s += 7;
        char *q = strchr(s, '"');
        if (!q)
            break;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(q - s), s);
        s = q;
        if (strncmp(name, "__", 2) == 0)
            continue;
        char *t = kcat_topic(env, name);
        size_t tl = strlen(t);
        all = realloc(all, cap + tl);
        cr_assert_not_null(all);
        memcpy(all + len, t, tl + 1);
        len += tl;
        cap += tl;
        free(t);
    }
    proc_result_free(&r);
    return all;
}

const char *sb_raw_find(h_env *env, const char *topic, const char *const needles[], char *buf,
                        size_t cap)
{
    char *all = sb_raw_bus(env, topic);
    const char *found = NULL;
    for (char *s = all, *nl; *s; s = nl + 1) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        bool all_in = true;
        for (size_t i = 0; needles[i] && all_in; i++)
            all_in = strstr(s, needles[i]) != NULL;
        /* The envelope is the last tab-separated field. */
        const char *bytes = strrchr(s, '\t');
        if (all_in && bytes && strlen(bytes + 1) < cap) {
            snprintf(buf, cap, "%s", bytes + 1);
            found = buf;
            break;
        }
        if (!nl)
            break;
    }
    free(all);
    return found;
}

/* ---- counters ---------------------------------------------------------------- */

static json_t *health(h_env *env)
{
    json_t *h = h_http_get_json(env->http_port, "/api/health");
    H_ASSERT(env, h != NULL, "GET /api/health failed");
    return h;
}

int64_t sb_health(h_env *env, const char *name)
{
    json_t *h = health(env);
    json_t *v = json_object_get(h, name);
    H_ASSERT(env, json_is_integer(v), "/api/health has no integer %s", name);
    int64_t n = json_integer_value(v);
    json_decref(h);
    return n;
}

int64_t sb_refused(h_env *env, const char *reason)
{
    json_t *h = health(env);
    json_t *v = json_object_get(json_object_get(h, "bus_refused"), reason);
    H_ASSERT(env, json_is_integer(v), "/api/health has no bus_refused.%s", reason);
    int64_t n = json_integer_value(v);
    json_decref(h);
    return n;
}

int64_t sb_refused_all(h_env *env)
{
    json_t *h = health(env);
    json_t *r = json_object_get(h, "bus_refused");
    H_ASSERT(env, json_is_object(r), "/api/health has no bus_refused");
    int64_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) n += json_integer_value(v);
    json_decref(h);
    return n;
}

/* ---- timing ------------------------------------------------------------------ */

int64_t sb_heartbeat_max_gap(h_env *env, int64_t from_ms, int64_t to_ms, int *count)
{
    json_t *msgs = h_bus_messages(env, "central-events");
    int64_t prev = from_ms, gap = 0;
    *count = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (strcmp(h_jstr(m, "type"), "central.heartbeat") != 0)
            continue;
        int64_t ts = json_integer_value(json_object_get(m, "ts"));
        if (ts < from_ms || ts > to_ms)
            continue;
        (*count)++;
        if (ts - prev > gap)
            gap = ts - prev;
        prev = ts;
    }
    if (to_ms - prev > gap)
        gap = to_ms - prev;
    json_decref(msgs);
    return gap;
}

static bool heartbeat_after(h_env *env, void *arg)
{
    int64_t after = *(int64_t *)arg;
    json_t *msgs = h_bus_messages(env, "central-events");
    bool found = false;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (strcmp(h_jstr(m, "type"), "central.heartbeat") == 0 &&
            json_integer_value(json_object_get(m, "ts")) > after)
            found = true;
    }
    json_decref(msgs);
    return found;
}

bool sb_wait_heartbeat_after(h_env *env, int64_t after_ms, int timeout_ms)
{
    return h_wait_until(heartbeat_after, env, &after_ms, timeout_ms);
}

int sb_lines(const h_proc *p)
{
    int n = 0;
    for (int e = 0; e < 2; e++) {
        char *s = h_read_output(p, e == 1);
        for (char *c = s; c && *c; c++)
            n += *c == '\n';
        free(s);
    }
    return n;
}
