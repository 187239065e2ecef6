/* h_env.c: a scenario's world -- temp dir, bus (ZeroMQ proxy or Kafka mock
 * cluster), per-process YAML configs, the seeded database, and the starters
 * of the four programs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/proc.h"
#include "harness.h"

h_opts h_default_opts(void)
{
    return (h_opts){
        .heartbeat_timeout_ms = 2000,
        .central_timeout_ms = 3000,
        .health_timeout_ms = 600,
        .monitor_timeout_ms = 1500,
        .authorise_timeout_ms = 3000,
        .plug_after_ms = 200,
        .unplug_after_ms = 1200,
        .supply_w = 11000,
        .wait_between_ms = 200,
        .unattended = false,
        .policy = "open",
        .min_balance_cents = 100,
        .kafka_commit_interval_ms = 200,
    };
}

/* ---- bus ---------------------------------------------------------------- */

static bool h_file_has_line(h_env *env, void *arg)
{
    (void)env;
    FILE *f = fopen(arg, "r");
    if (!f)
        return false;
    char line[256];
    bool ok = fgets(line, sizeof line, f) != NULL && strchr(line, '\n') != NULL;
    fclose(f);
    return ok;
}

static bool h_proxy_ready(h_env *env, void *arg)
{
    (void)arg;
    int port = atoi(strrchr(env->bus, ':') + 1);
    return h_port_open(port) && h_port_open(port + 1);
}

static void h_start_bus(h_env *env)
{
    if (env->bus_kind == H_ZMQ) {
        /* The proxy binds PORT (XSUB) and PORT+1 (XPUB); a port taken in the
         * meantime by someone else makes it exit 1: try again. */
        for (int attempt = 0; attempt < 5; attempt++) {
            int port = h_free_port_pair();
            snprintf(env->bus, sizeof env->bus, "127.0.0.1:%d", port);
            char *argv[] = {(char *)proc_bin("evc-zmq-proxy"), "--hwm", "0", env->bus, NULL};
            env->bus_proc = h_spawn(env, "bus", argv, NULL);
            if (h_wait_until(h_proxy_ready, env, NULL, 5000)) {
                char xpub[300];
                snprintf(xpub, sizeof xpub, "tcp://127.0.0.1:%d", port + 1);
                snprintf(env->tap_file, sizeof env->tap_file, "%s/bus.tap", env->dir);
                char tap[PATH_MAX];
                snprintf(tap, sizeof tap, "%s/tests/evc-it-bustap", EVC_TEST_BINARY_DIR);
                char *targv[] = {tap, xpub, env->tap_file, NULL};
                env->tap = h_spawn(env, "bustap", targv, NULL);
                if (!h_wait_output(env->tap, "listening", 1, 5000)) {
                    h_env_dump(env);
                    cr_assert_fail("evc-it-bustap did not start");
                }
                return;
            }
            h_kill(env->bus_proc);
        }
        h_env_dump(env);
        cr_assert_fail("evc-zmq-proxy did not start");
    }
    char boot[PATH_MAX + 16];
    snprintf(boot, sizeof boot, "%s/kafka.bootstrap", env->dir);
    char *argv[] = {(char *)proc_bin("evc-kafka-mock"), "--bootstrap-file", boot, NULL};
    env->bus_proc = h_spawn(env, "bus", argv, NULL);
    if (!h_wait_until(h_file_has_line, env, boot, 10000)) {
        h_env_dump(env);
        cr_assert_fail("evc-kafka-mock wrote no bootstrap address in 10 s");
    }
    FILE *f = fopen(boot, "r");
    cr_assert(f && fgets(env->bus, sizeof env->bus, f));
    fclose(f);
    env->bus[strcspn(env->bus, "\r\n")] = '\0';
}

/* ---- configs -------------------------------------------------------------- */

/* Writes <dir>/<name>.yaml: the shared sections plus `role_yaml` (already
 * indented section text, may be NULL). client_id is the process's name so
 * that every process is its own consumer group on Kafka. Returns the path
 * in a static buffer of the caller's choosing. */
static void h_write_config(h_env *env, const char *name, const char *role_yaml, char *path,
                           size_t cap)
{
    snprintf(path, cap, "%s/%s.yaml", env->dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f,
            "# written by the integration harness\n"
            "log:\n  level: debug\n"
            "transport:\n  plugin: %s\n  endpoint: \"%s\"\n  client_id: \"%s\"\n",
            env->bus_kind == H_ZMQ ? "zmq" : "kafka", env->bus, name);
    if (env->bus_kind == H_KAFKA)
        fprintf(f, "  kafka:\n"
                   "    properties:\n"
                   "      log_level: \"4\"\n"
                   "    consumer_properties:\n"
                   "      fetch.wait.max.ms: \"5\"\n"
                   "      session.timeout.ms: \"6000\"\n"
                   "      heartbeat.interval.ms: \"500\"\n"
                   "      auto.commit.interval.ms: \"%d\"\n"
                   "    producer_properties:\n"
                   "      linger.ms: \"1\"\n"
                   "    retry_delay_ms: 50\n",
                env->opts.kafka_commit_interval_ms);
    else
        fprintf(f, "  zmq:\n    linger_ms: 200\n");
    fprintf(f, "store:\n  plugin: sqlite\n  database: \"%s\"\n", env->db);
    if (role_yaml)
        fputs(role_yaml, f);
    fclose(f);
}

static void h_central_yaml(h_env *env, char *buf, size_t cap)
{
    const h_opts *o = &env->opts;
    snprintf(buf, cap,
             "central:\n"
             "  listen_port: %d\n"
             "  http_port: %d\n"
             "  http_host: 127.0.0.1\n"
             "  password_cost: min\n"
             "  registration: %s\n"
             "  panel: plain\n"
             "  heartbeat_timeout_ms: %d\n"
             "  authorise_timeout_ms: %d\n"
             "  min_balance_cents: %lld\n",
             env->central_port, env->http_port, o->policy, o->heartbeat_timeout_ms,
             o->authorise_timeout_ms, (long long)o->min_balance_cents);
}

h_env *h_env_new_on(h_bus_kind bus, const h_opts *opts)
{
    h_env *env = calloc(1, sizeof *env);
    cr_assert(env != NULL);
    env->bus_kind = bus;
    env->opts = opts ? *opts : h_default_opts();
    const char *tmp = getenv("TMPDIR");
    snprintf(env->dir, sizeof env->dir, "%s/evc-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(env->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(env->db, sizeof env->db, "%s/central.db", env->dir);
    env->central_port = h_free_port();
    env->http_port = h_free_port();
    h_start_bus(env);

    /* A fresh seeded database (cheap password hashes: tests only). */
    char yaml[2048], path[PATH_MAX + 64];
    h_central_yaml(env, yaml, sizeof yaml);
    h_write_config(env, "central", yaml, path, sizeof path);
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", path, "--init-db", "--seed",
                    "--force", NULL};
    proc_result r;
    int rc = proc_run(argv, NULL, 60000, &r);
    if (rc != 0 || r.exit_code != 0) {
        fprintf(stderr, "EV_Central --init-db: exit %d\n%s%s", r.exit_code, r.out, r.err);
        proc_result_free(&r);
        cr_assert_fail("cannot initialise the database %s", env->db);
    }
    proc_result_free(&r);
    return env;
}

/* ---- the four programs ------------------------------------------------------ */

h_proc *h_start_central(h_env *env)
{
    char yaml[2048], path[PATH_MAX + 64], port[16];
    h_central_yaml(env, yaml, sizeof yaml);
    h_write_config(env, "central", yaml, path, sizeof path);
    snprintf(port, sizeof port, "%d", env->central_port);
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", path, port, env->bus, env->db,
                    NULL};
    env->central = h_spawn(env, "central", argv, NULL);
    return env->central;
}

h_proc *h_start_engine(h_env *env, const char *cp_id, int engine_port)
{
    return h_start_engine_secret(env, cp_id, engine_port, NULL);
}

h_proc *h_start_engine_secret(h_env *env, const char *cp_id, int engine_port,
                              const char *secret)
{
    const h_opts *o = &env->opts;
    char name[64], yaml[2048], path[PATH_MAX + 64], listen[64];
    snprintf(name, sizeof name, "%s-engine", cp_id);
    snprintf(yaml, sizeof yaml,
             "cp_engine:\n"
             "  database: \"%s/%s.db\"\n"
             "  secret: \"%s\"\n"
             "  central_timeout_ms: %d\n"
             "  monitor_timeout_ms: %d\n"
             "  outbox_retry_ms: 1000\n"
             "  power_variation_pct: 5\n"
             "  unattended:\n"
             "    enabled: %s\n"
             "    plug_after_ms: %d\n"
             "    unplug_after_ms: %d\n"
             "  power_w: %d\n",
             env->dir, name, secret ? secret : "", o->central_timeout_ms,
             o->monitor_timeout_ms, o->unattended ? "true" : "false", o->plug_after_ms,
             o->unplug_after_ms, o->supply_w);
    h_write_config(env, name, yaml, path, sizeof path);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", engine_port);
    /* The engine's own id (third argument) and, by default, the seeded
     * secret "secret-<cp_id>": it accepts only a monitor proving that. */
    char *argv[] = {(char *)proc_bin("EV_CP_E"), "--config", path, env->bus, listen,
                    (char *)cp_id, NULL};
    return h_spawn(env, name, argv, NULL);
}

h_proc *h_start_monitor(h_env *env, const char *cp_id, int engine_port, const char *secret)
{
    const h_opts *o = &env->opts;
    char name[64], yaml[2048], path[PATH_MAX + 64], engine[64], central[64];
    snprintf(name, sizeof name, "%s-monitor", cp_id);
    snprintf(yaml, sizeof yaml,
             "cp_monitor:\n"
             "  secret: \"%s\"\n"
             "  health_interval_ms: 300\n"
             "  health_timeout_ms: %d\n"
             "  heartbeat_interval_ms: 300\n"
             "  backoff_min_ms: 100\n"
             "  backoff_max_ms: 500\n"
             "  deny_retry_min_ms: 500\n"
             "  deny_retry_max_ms: 2000\n"
             "  web_port: 0\n", /* no dashboard: 8003 would collide between CPs */
             secret ? secret : "", o->health_timeout_ms);
    h_write_config(env, name, yaml, path, sizeof path);
    snprintf(engine, sizeof engine, "127.0.0.1:%d", engine_port);
    snprintf(central, sizeof central, "127.0.0.1:%d", env->central_port);
    char *argv[] = {(char *)proc_bin("EV_CP_M"), "--config", path, engine, central,
                    (char *)cp_id, NULL};
    return h_spawn(env, name, argv, NULL);
}

void h_start_cp(h_env *env, const char *cp_id, h_proc **engine, h_proc **monitor,
                int *engine_port)
{
    int port = h_free_port();
    char secret[96];
    snprintf(secret, sizeof secret, "secret-%s", cp_id);
    h_proc *e = h_start_engine(env, cp_id, port);
    h_proc *m = h_start_monitor(env, cp_id, port, secret);
    if (engine)
        *engine = e;
    if (monitor)
        *monitor = m;
    if (engine_port)
        *engine_port = port;
}

h_proc *h_start_driver(h_env *env, const char *driver_id, const char *password,
                       const char *services_file)
{
    const h_opts *o = &env->opts;
    char yaml[1024], path[PATH_MAX + 64], pw[256], name[64];
    /* A second app of the same driver running at the same time gets its own
     * name, hence its own client id (its own consumer group on Kafka); a
     * restarted one keeps the name and resumes its group. */
    snprintf(name, sizeof name, "%s", driver_id);
    for (int n = 2;; n++) {
        h_proc *same = h_proc_find(env, name);
        if (!same || !h_alive(same))
            break;
        snprintf(name, sizeof name, "%s.%d", driver_id, n);
    }
    snprintf(yaml, sizeof yaml,
             "driver:\n"
             "  central_timeout_ms: %d\n"
             "  wait_between_ms: %d\n"
             "  request_timeout_ms: 20000\n"
             "  exit_when_done: true\n"
             "  skip_unknown_cps: false\n"
             "  colour: never\n"
             "  web_port: 0\n", /* no page: several drivers, a demo on 8001 */
             o->central_timeout_ms, o->wait_between_ms);
    h_write_config(env, name, yaml, path, sizeof path);
    snprintf(pw, sizeof pw, "EVC_DRIVER_PASSWORD=%s", password ? password : "");
    char *envv[] = {pw, NULL};
    char *argv[] = {(char *)proc_bin("EV_Driver"), "--config", path, env->bus, (char *)driver_id,
                    (char *)services_file, NULL};
    return h_spawn(env, name, argv, password ? envv : NULL);
}

/* ---- what crossed the bus ------------------------------------------------- */

static void h_add_envelope(json_t *arr, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    if (json_is_object(j))
        json_array_append_new(arr, j);
    else
        json_decref(j);
}

json_t *h_bus_messages(h_env *env, const char *topic)
{
    json_t *arr = json_array();
    if (env->bus_kind == H_ZMQ) {
        FILE *f = fopen(env->tap_file, "r");
        if (!f)
            return arr;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        size_t tl = strlen(topic);
        while ((n = getline(&line, &cap, f)) > 0) {
            if ((size_t)n > tl && strncmp(line, topic, tl) == 0 && line[tl] == '\t')
                h_add_envelope(arr, line + tl + 1, (size_t)n - tl - 1);
        }
        free(line);
        fclose(f);
        return arr;
    }
    char *argv[] = {"/usr/bin/kcat", "-C", "-b", env->bus, "-t", (char *)topic, "-e", "-u", "-q",
                    "-f", "%s\n", NULL};
    proc_result r;
    if (proc_run(argv, NULL, 30000, &r) != 0 || r.exit_code != 0)
        fprintf(stderr, "harness: kcat -t %s: exit %d: %s\n", topic, r.exit_code, r.err);
    for (char *s = r.out, *nl; s && *s; s = nl + 1) {
        nl = strchr(s, '\n');
        if (!nl) {
            h_add_envelope(arr, s, strlen(s));
            break;
        }
        h_add_envelope(arr, s, (size_t)(nl - s));
    }
    proc_result_free(&r);
    return arr;
}
